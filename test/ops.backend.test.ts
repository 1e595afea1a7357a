// The ONNX backend conformance tests (onnx/onnx's node tests, in ../shared/data/onnx-node-tests
// or $SPARROW_DATA/onnx-node-tests) run against the reference kernels of src/ops/ref: every
// test whose graph is one node of a registered op runs its kernel and shape function on each
// test_data_set and compares with the expected outputs (float32 at rtol 1e-4 / atol 1e-5,
// everything else exactly). Tests that cannot run are skipped with a reason; the ones that run
// and fail must be exactly those listed in src/ops/ref/expected-failures.json.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeModel, onnxRuntime, type onnx } from '../src/onnx/proto.js';
import { hasOp, registeredOps, resolveOp } from '../src/ops/registry.js';
import { MAX_OPSET } from '../src/ops/ref/index.js';
import { attrsFromNode, dtypeFromOnnx, dtypeName as onnxTypeName, tensorFromOnnx } from '../src/onnx/attributes.js';
import { isEdgeDtype, type KernelContext, type Tensor, type ValueInfo } from '../src/ops/types.js';
import { castTensor } from '../src/ops/ref/cast.js';
import expectedFailuresJson from '../src/ops/ref/expected-failures.json' with { type: 'json' };

const DIR = join(process.env.SPARROW_DATA ?? resolve(process.cwd(), '../shared/data'), 'onnx-node-tests');
const HAVE = existsSync(DIR);
if (!HAVE) console.warn(`!!! ${DIR} is absent: the ONNX backend conformance tests of src/ops/ref are SKIPPED !!!`);

const RTOL = 1e-4;
const ATOL = 1e-5;
const EXPECTED_FAILURES: Record<string, string> = expectedFailuresJson;

/**
 * Ops whose ONNX versions after MAX_OPSET (22: bfloat16; 23-25: float4/float8/int4/int2 types,
 * Cast's round_mode for float8e8m0) only add data types Sparrow has no dtype for. A test of such
 * an op at a newer opset runs against the opset-MAX_OPSET definition and is reported as such.
 */
const TYPE_ONLY_AFTER_MAX = new Set([
  'Conv',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'HardSigmoid',
  'HardSwish',
  'Dropout',
  'Cast',
  'Constant',
  'ConstantOfShape',
  'Flatten',
  'Identity',
  'Pad',
  'Reshape',
  'Shape',
  'Squeeze',
  'Transpose',
  'Unsqueeze',
]);

interface Case {
  name: string;
  dir: string;
  model: onnx.ModelProto;
  node: onnx.INodeProto;
  opset: number;
  /** opset the kernel is resolved at (== opset unless the test is newer than MAX_OPSET) */
  runOpset: number;
}

type Outcome = { status: 'pass'; note?: string } | { status: 'fail'; reason: string } | { status: 'skip'; reason: string };

function readTensorProto(file: string): onnx.TensorProto {
  return onnxRuntime.TensorProto.decode(readFileSync(file));
}

function modelOpset(model: onnx.ModelProto): number {
  const imp = model.opsetImport.find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  return Number(imp?.version ?? 0);
}

/** Collects the single-node cases, or the reason a folder is skipped. */
function collect(): { cases: Case[]; skipped: Map<string, string> } {
  const cases: Case[] = [];
  const skipped = new Map<string, string>();
  if (!HAVE) return { cases, skipped };
  const names = readdirSync(DIR)
    .filter((n) => n.startsWith('test_') && existsSync(join(DIR, n, 'model.onnx')))
    .sort();
  for (const name of names) {
    const dir = join(DIR, name);
    const model = decodeModel(new Uint8Array(readFileSync(join(dir, 'model.onnx'))));
    const nodes = model.graph!.node ?? [];
    if (nodes.length !== 1) {
      skipped.set(name, `graph has ${nodes.length} nodes (${[...new Set(nodes.map((n) => n.opType))].join(', ')}), not a single op`);
      continue;
    }
    const node = nodes[0]!;
    const op = node.opType ?? '';
    const opset = modelOpset(model);
    if ((node.domain ?? '') !== '' || !registeredOps().some((d) => d.op === op)) {
      skipped.set(name, `op ${node.domain ? `${node.domain}.` : ''}${op} is not implemented`);
      continue;
    }
    let runOpset = opset;
    if (opset > MAX_OPSET) {
      if (!TYPE_ONLY_AFTER_MAX.has(op)) {
        skipped.set(name, `opset ${opset} > ${MAX_OPSET}`);
        continue;
      }
      runOpset = MAX_OPSET;
    }
    if (!hasOp(op, '', runOpset)) {
      skipped.set(name, `${op} is not registered at opset ${runOpset}`);
      continue;
    }
    const vis = [...(model.graph!.input ?? []), ...(model.graph!.output ?? [])];
    const nonTensor = vis.find((v) => !v.type?.tensorType);
    if (nonTensor) {
      skipped.set(name, `value '${nonTensor.name}' is not a tensor (sequence/optional)`);
      continue;
    }
    const badType = vis.map((v) => v.type!.tensorType!.elemType ?? 0).find((c) => dtypeFromOnnx(c) === undefined);
    if (badType !== undefined) {
      skipped.set(name, `data type ${onnxTypeName(badType)} is not a Sparrow dtype`);
      continue;
    }
    // float64/float16/bfloat16 reach no kernel but Cast: the importer converts them at the graph's
    // edges (src/ir/float_edges.ts), which test/conformance.test.ts runs through whole models
    const edgeType = [
      ...vis.map((v) => v.type!.tensorType!.elemType ?? 0),
      ...(model.graph!.initializer ?? []).map((t) => t.dataType ?? 0),
    ].find((c) => isEdgeDtype(dtypeFromOnnx(c) ?? 'float32'));
    if (edgeType !== undefined && op !== 'Cast' && op !== 'CastLike') {
      skipped.set(
        name,
        `data type ${onnxTypeName(edgeType)} runs through the importer's float32 edge conversion (test/conformance.test.ts)`,
      );
      continue;
    }
    cases.push({ name, dir, model, node, opset, runOpset });
  }
  return { cases, skipped };
}

/** float16/bfloat16 bits as float32 values; other tensors as they are. */
const values = (t: Tensor): Tensor => (t.dtype === 'float16' || t.dtype === 'bfloat16' ? castTensor(t, 'float32') : t);

function close(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= ATOL + RTOL * Math.abs(b);
}

/** Null when equal, else a short description of the first difference. */
function compare(got: Tensor, want: Tensor): string | null {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype}, expected ${want.dtype}`;
  if (got.dims.length !== want.dims.length || got.dims.some((d, i) => d !== want.dims[i])) {
    return `dims [${got.dims.join(', ')}], expected [${want.dims.join(', ')}]`;
  }
  if (got.data.length !== want.data.length) return `${got.data.length} elements, expected ${want.data.length}`;
  let bad = 0,
    first = -1;
  const isFloat = ['float32', 'float64', 'float16', 'bfloat16'].includes(want.dtype);
  const gv = values(got).data,
    wv = values(want).data;
  for (let i = 0; i < want.data.length; i++) {
    const g = gv[i]!,
      w = wv[i]!;
    const ok = isFloat ? close(g as number, w as number) : g === w;
    if (!ok) {
      bad++;
      if (first < 0) first = i;
    }
  }
  return bad
    ? `${bad}/${want.data.length} elements differ, first [${first}]: ${String(got.data[first])} vs ${String(want.data[first])}`
    : null;
}

/** Each shape-function output is either unknown (null / -1 entries) or equal to the actual dims. */
function consistent(info: ValueInfo | undefined, actual: Tensor): boolean {
  if (!info || info.dtype !== actual.dtype) return false;
  if (info.dims === null) return true;
  return info.dims.length === actual.dims.length && info.dims.every((d, i) => d === -1 || d === actual.dims[i]);
}

function runCase(c: Case): Outcome {
  const g = c.model.graph!;
  const graphInputs = (g.input ?? []).map((v) => v.name ?? '');
  const graphOutputs = (g.output ?? []).map((v) => v.name ?? '');
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const op = c.node.opType ?? '';
  const ctx: KernelContext = { opset: c.runOpset, node: c.node.name || c.name };
  const def = resolveOp(op, '', c.runOpset, ctx.node);
  const attrs = attrsFromNode(c.node);
  const sets = readdirSync(c.dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort();
  if (sets.length === 0) return { status: 'skip', reason: 'no test_data_set' };
  for (const set of sets) {
    const sd = join(c.dir, set);
    const inputs: Array<Tensor | undefined> = (c.node.input ?? []).map((name) => {
      if (!name) return undefined;
      const k = graphInputs.indexOf(name);
      if (k >= 0) return tensorFromOnnx(readTensorProto(join(sd, `input_${k}.pb`)));
      const init = inits.get(name);
      if (init) return tensorFromOnnx(init);
      throw new Error(`input '${name}' is neither a graph input nor an initializer`);
    });
    let outs: Tensor[];
    try {
      outs = def.ref(inputs, attrs, ctx);
    } catch (e) {
      return { status: 'fail', reason: `${set}: kernel threw ${(e as Error).message}` };
    }
    const nodeOutputs = c.node.output ?? [];
    // shape functions: exact with every input known; consistent with no constants and with a symbolic dim 0
    const infos = inputs.map((t) => (t ? { dtype: t.dtype, dims: [...t.dims] } : undefined));
    let exact: ValueInfo[], blind: ValueInfo[], symbolic: ValueInfo[];
    try {
      exact = def.shape(infos, attrs, inputs, ctx);
      blind = def.shape(infos, attrs, [], ctx);
      const sym = infos.map((v, i) => (v && i === 0 && v.dims.length > 0 ? { dtype: v.dtype, dims: [-1, ...v.dims.slice(1)] } : v));
      symbolic = def.shape(
        sym,
        attrs,
        inputs.map((t, i) => (i === 0 ? undefined : t)),
        ctx,
      );
    } catch (e) {
      return { status: 'fail', reason: `${set}: shape function threw ${(e as Error).message}` };
    }
    for (let j = 0; j < nodeOutputs.length; j++) {
      const name = nodeOutputs[j]!;
      if (!name) continue;
      const k = graphOutputs.indexOf(name);
      if (k < 0) continue;
      const want = tensorFromOnnx(readTensorProto(join(sd, `output_${k}.pb`)));
      const got = outs[j];
      if (!got) return { status: 'fail', reason: `${set}: output ${j} ('${name}') not produced` };
      const diff = compare(got, want);
      if (diff) return { status: 'fail', reason: `${set}: output ${j} ('${name}'): ${diff}` };
      const e = exact[j];
      if (!e || e.dtype !== want.dtype || !e.dims || e.dims.length !== want.dims.length || e.dims.some((d, i) => d !== want.dims[i])) {
        return {
          status: 'fail',
          reason: `${set}: shape function gives ${e ? `${e.dtype}[${e.dims?.join(', ') ?? '?'}]` : 'nothing'} for output ${j}, actual ${want.dtype}[${want.dims.join(', ')}]`,
        };
      }
      if (!consistent(blind[j], want))
        return {
          status: 'fail',
          reason: `${set}: shape function without constants is inconsistent for output ${j}: ${JSON.stringify(blind[j])}`,
        };
      if (!consistent(symbolic[j], want))
        return {
          status: 'fail',
          reason: `${set}: shape function with a symbolic dim is inconsistent for output ${j}: ${JSON.stringify(symbolic[j])}`,
        };
    }
  }
  return c.runOpset !== c.opset ? { status: 'pass', note: `opset ${c.opset} run as ${c.runOpset}` } : { status: 'pass' };
}

const { cases, skipped } = collect();
const results = new Map<string, Outcome>();

describe.runIf(HAVE)('ONNX backend node tests on the reference kernels', () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = runCase(c);
      results.set(c.name, r);
      if (c.name in EXPECTED_FAILURES) {
        expect(r.status, `${c.name} is listed in expected-failures.json but did not fail`).toBe('fail');
      } else {
        expect(r.status === 'fail' ? r.reason : 'pass').toBe('pass');
      }
    });
  }

  it('expected-failures.json lists exactly the failing tests', () => {
    const failing = [...results]
      .filter(([, r]) => r.status === 'fail')
      .map(([n]) => n)
      .sort();
    expect(failing).toEqual(Object.keys(EXPECTED_FAILURES).sort());
  });

  afterAll(() => {
    const passed = [...results].filter(([, r]) => r.status === 'pass');
    const asMax = passed.filter(([, r]) => r.status === 'pass' && r.note);
    const failed = [...results].filter(([, r]) => r.status === 'fail') as Array<[string, { status: 'fail'; reason: string }]>;
    const byReason = new Map<string, string[]>();
    for (const [n, why] of skipped) {
      const key = why.replace(/\d+ nodes \(.*\)/, 'several nodes').replace(/value '.*'/, 'a value');
      byReason.set(key, [...(byReason.get(key) ?? []), n]);
    }
    const lines = [
      `ONNX backend node tests (${DIR}): ${passed.length} passed (${asMax.length} of them at opset > ${MAX_OPSET}, run against the opset-${MAX_OPSET} definition), ` +
        `${failed.length} failed (${failed.filter(([n]) => n in EXPECTED_FAILURES).length} expected), ${skipped.size} skipped`,
      ...failed.map(([n, r]) => `  ${n in EXPECTED_FAILURES ? 'expected failure' : 'FAIL'} ${n}: ${r.reason}`),
      '  skipped:',
      ...[...byReason]
        .sort((a, b) => b[1].length - a[1].length)
        .map(([why, ns]) => `    ${ns.length}: ${why}${ns.length <= 4 ? ` (${ns.join(', ')})` : ''}`),
    ];
    console.log(lines.join('\n'));
  });
});
