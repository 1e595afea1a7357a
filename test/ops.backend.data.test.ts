// The ONNX backend node tests (onnx/onnx's test data in ../shared/data/onnx-node-tests or
// $SPARROW_DATA/onnx-node-tests, listed in its INDEX.json), run once per engine:
//  - reference (src/ops/ref through a Session): every test passes, is unsupported or fails, and
//    the failing ones are exactly those in src/ops/ref/expected-failures.json (a listed test that
//    passes fails here: take it off the list). A single-node test of a registered op also fails
//    when it is unsupported, or when the op's shape function disagrees with the expected outputs
//    (exact with every input known; consistent with no constants, and with a symbolic dim 0).
//    A test whose ops are all in the float32 engine's list (OPS) may be unsupported only for a
//    data type or training mode.
//  - sparrow-f32: the same status as the reference on every test (it passes exactly what the
//    reference passes).
//  - sparrow-int8 where it applies: the same status as the reference on every test it runs in
//    float. These tests feed weights as graph inputs, so the engine lowers no layer to its int8
//    kernels and falls back; a test where it does lower one runs quantized arithmetic, and is
//    only checked for output names, dtypes and shapes.
// Outputs compare as `sparrow conformance` does (src/bench/conformance.ts compareTensors: float32
// at rtol 1e-4 / atol 1e-5, everything else exactly).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTensors } from '../src/bench/conformance.js';
import { isSparrowError } from '../src/errors.js';
import { decodeModel, onnxRuntime, type onnx } from '../src/onnx/proto.js';
import { hasOp, registeredOps, resolveOp } from '../src/ops/registry.js';
import { MAX_OPSET } from '../src/ops/ref/index.js';
import { attrsFromNode, dtypeFromOnnx, dtypeName as onnxTypeName, tensorFromOnnx } from '../src/onnx/attributes.js';
import { isEdgeDtype, type KernelContext, type Tensor, type ValueInfo } from '../src/ops/types.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import expectedFailuresJson from '../src/ops/ref/expected-failures.json' with { type: 'json' };
import { dataPath, haveData } from './helpers/data.js';

const DIR = dataPath('onnx-node-tests');
const HAVE = haveData('the ONNX backend node tests', 'onnx-node-tests/INDEX.json');

const EXPECTED_FAILURES: Record<string, string> = expectedFailuresJson;

/**
 * Ops whose ONNX versions after MAX_OPSET (22: bfloat16; 23-25: float4/float8/int4/int2 types,
 * Cast's round_mode for float8e8m0) only add data types Sparrow has no dtype for. A test of such
 * an op at a newer opset has its shape function checked against the opset-MAX_OPSET definition.
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

/** The op list of the float32 engine issue, plus what the graphs around them use. */
const OPS = new Set([
  'Conv',
  'Gemm',
  'MatMul',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Relu',
  'LeakyRelu',
  'Clip',
  'Sigmoid',
  'Tanh',
  'HardSigmoid',
  'HardSwish',
  'Exp',
  'Sqrt',
  'Pow',
  'Erf',
  'Gelu',
  'Softmax',
  'LogSoftmax',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'BatchNormalization',
  'Flatten',
  'Reshape',
  'Transpose',
  'Concat',
  'Split',
  'Slice',
  'Pad',
  'Squeeze',
  'Unsqueeze',
  'Gather',
  'Shape',
  'Cast',
  'ReduceMean',
  'LayerNormalization',
  'Identity',
  'Dropout',
  'Constant',
]);
/** The reasons a test of OPS may be unsupported. */
const UNSUPPORTED_OK = /data type|float16|double|training|Sparrow has|not a tensor/i;

const ENGINES = ['reference', 'sparrow-f32', 'sparrow-int8'] as const;
type Engine = (typeof ENGINES)[number];
type Status = 'passed' | 'failed' | 'unsupported';

interface Run {
  status: Status;
  reason: string;
  /** sparrow-f32 / sparrow-int8: nodes run by the float fallback */
  fallbacks: number;
  /** sparrow-int8: layers lowered to the int8 kernels */
  int8Layers: number;
}

interface DataSet {
  name: string;
  inputs: Array<{ name: string; tensor: Tensor }>;
  outputs: Array<{ name: string; tensor: Tensor }>;
}

/** A single-node test of a registered op: its shape function is checked. */
interface ShapeCase {
  model: onnx.ModelProto;
  node: onnx.INodeProto;
  /** opset the op is resolved at (the model's, or MAX_OPSET for TYPE_ONLY_AFTER_MAX ops) */
  runOpset: number;
}

function readPb(path: string): { name: string; tensor: Tensor } {
  const proto = onnxRuntime.TensorProto.decode(readFileSync(path));
  return { name: proto.name ?? '', tensor: tensorFromOnnx(proto, path) };
}

function numbered(dir: string, prefix: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((x, y) => Number(x.slice(prefix.length, -3)) - Number(y.slice(prefix.length, -3)));
}

/** The test_data_set_* folders, or the error reading one (a data type Sparrow has no dtype for). */
function dataSets(dir: string): DataSet[] | Error {
  try {
    return readSets(dir);
  } catch (e) {
    return e as Error;
  }
}

function readSets(dir: string): DataSet[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith('test_data_set_') && statSync(join(dir, f)).isDirectory())
    .sort()
    .map((name) => {
      const sd = join(dir, name);
      return {
        name,
        inputs: numbered(sd, 'input_').map((f) => readPb(join(sd, f))),
        outputs: numbered(sd, 'output_').map((f) => readPb(join(sd, f))),
      };
    });
}

function modelOpset(model: onnx.ModelProto): number {
  const imp = model.opsetImport.find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  return Number(imp?.version ?? 0);
}

/** The single-node case of a test, or why its shape function is not checked. */
function shapeCase(model: onnx.ModelProto): ShapeCase | string {
  const nodes = model.graph!.node ?? [];
  if (nodes.length !== 1) return `graph has several nodes`;
  const node = nodes[0]!;
  const op = node.opType ?? '';
  const opset = modelOpset(model);
  if ((node.domain ?? '') !== '' || !registeredOps().some((d) => d.op === op))
    return `op ${node.domain ? `${node.domain}.` : ''}${op} is not implemented`;
  let runOpset = opset;
  if (opset > MAX_OPSET) {
    if (!TYPE_ONLY_AFTER_MAX.has(op)) return `opset ${opset} > ${MAX_OPSET}`;
    runOpset = MAX_OPSET;
  }
  if (!hasOp(op, '', runOpset)) return `${op} is not registered at opset ${runOpset}`;
  const vis = [...(model.graph!.input ?? []), ...(model.graph!.output ?? [])];
  if (vis.some((v) => !v.type?.tensorType)) return `a value is not a tensor (sequence/optional)`;
  const badType = vis.map((v) => v.type!.tensorType!.elemType ?? 0).find((c) => dtypeFromOnnx(c) === undefined);
  if (badType !== undefined) return `data type ${onnxTypeName(badType)} is not a Sparrow dtype`;
  // float64/float16/bfloat16 reach no kernel but Cast: the importer converts them at the graph's
  // edges (src/ir/float_edges.ts), so only Cast's shape function sees them
  const edgeType = [
    ...vis.map((v) => v.type!.tensorType!.elemType ?? 0),
    ...(model.graph!.initializer ?? []).map((t) => t.dataType ?? 0),
  ].find((c) => isEdgeDtype(dtypeFromOnnx(c) ?? 'float32'));
  if (edgeType !== undefined && op !== 'Cast' && op !== 'CastLike')
    return `data type ${onnxTypeName(edgeType)} runs through the importer's edge conversion`;
  return { model, node, runOpset };
}

/** Each shape-function output is either unknown (null / -1 entries) or equal to the actual dims. */
function consistent(info: ValueInfo | undefined, actual: Tensor): boolean {
  if (!info || info.dtype !== actual.dtype) return false;
  if (info.dims === null) return true;
  return info.dims.length === actual.dims.length && info.dims.every((d, i) => d === -1 || d === actual.dims[i]);
}

/** Null when the op's shape function agrees with every data set's expected outputs. */
function shapeProblem(c: ShapeCase, sets: DataSet[], name: string): string | null {
  const g = c.model.graph!;
  const graphInputs = (g.input ?? []).map((v) => v.name ?? '');
  const graphOutputs = (g.output ?? []).map((v) => v.name ?? '');
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const ctx: KernelContext = { opset: c.runOpset, node: c.node.name || name };
  const def = resolveOp(c.node.opType ?? '', '', c.runOpset, ctx.node);
  const attrs = attrsFromNode(c.node);
  for (const set of sets) {
    const inputs: Array<Tensor | undefined> = (c.node.input ?? []).map((n) => {
      if (!n) return undefined;
      const k = graphInputs.indexOf(n);
      if (k >= 0) return set.inputs[k]?.tensor;
      const init = inits.get(n);
      return init ? tensorFromOnnx(init) : undefined;
    });
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
      return `${set.name}: shape function threw ${(e as Error).message}`;
    }
    const nodeOutputs = c.node.output ?? [];
    for (let j = 0; j < nodeOutputs.length; j++) {
      const k = nodeOutputs[j] ? graphOutputs.indexOf(nodeOutputs[j]!) : -1;
      const want = set.outputs[k]?.tensor;
      if (!want) continue;
      const e = exact[j];
      if (!e || e.dtype !== want.dtype || !e.dims || e.dims.length !== want.dims.length || e.dims.some((d, i) => d !== want.dims[i]))
        return `${set.name}: shape function gives ${e ? `${e.dtype}[${e.dims?.join(', ') ?? '?'}]` : 'nothing'} for output ${j}, actual ${want.dtype}[${want.dims.join(', ')}]`;
      if (!consistent(blind[j], want))
        return `${set.name}: shape function without constants is inconsistent for output ${j}: ${JSON.stringify(blind[j])}`;
      if (!consistent(symbolic[j], want))
        return `${set.name}: shape function with a symbolic dim is inconsistent for output ${j}: ${JSON.stringify(symbolic[j])}`;
    }
  }
  return null;
}

/** One test through one engine: `sparrow conformance`'s runConformanceTest, with the session's report. */
async function runTest(bytes: Uint8Array, sets: DataSet[] | Error, opts: SessionOptions): Promise<Run> {
  const run = (status: Status, reason = '', s?: Session): Run => ({
    status,
    reason,
    fallbacks: s?.report?.fallbackOps.length ?? 0,
    int8Layers: s?.report?.int8?.layers.length ?? 0,
  });
  let session: Session;
  try {
    session = await Session.fromOnnx(bytes, opts);
  } catch (e) {
    if (isSparrowError(e) && e.code === 'unsupported_op') return run('unsupported', e.message);
    return run('failed', `load: ${(e as Error).message}`);
  }
  if (sets instanceof Error)
    return isSparrowError(sets) && sets.code === 'unsupported_op'
      ? run('unsupported', sets.message, session)
      : run('failed', sets.message, session);
  if (sets.length === 0) return run('failed', 'no test_data_set_* folder', session);
  const quantized = (session.report?.int8?.layers.length ?? 0) > 0;
  for (const set of sets) {
    try {
      const feeds: Record<string, Tensor> = {};
      set.inputs.forEach((t, i) => {
        const name = session.inputNames.includes(t.name) ? t.name : session.inputNames[i];
        if (name !== undefined) feeds[name] = t.tensor;
      });
      const outs = await session.run(feeds);
      for (let i = 0; i < set.outputs.length; i++) {
        const want = set.outputs[i]!;
        const name = session.outputNames.includes(want.name) ? want.name : session.outputNames[i]!;
        const got = outs[name];
        if (!got) return run('failed', `${set.name}: output ${name} missing`, session);
        const diff = quantized
          ? got.dtype !== want.tensor.dtype || got.dims.join() !== want.tensor.dims.join()
            ? `${got.dtype}[${got.dims.join()}], expected ${want.tensor.dtype}[${want.tensor.dims.join()}]`
            : null
          : compareTensors(got, want.tensor);
        if (diff) return run('failed', `${set.name}: output ${name}: ${diff}`, session);
      }
    } catch (e) {
      if (isSparrowError(e) && e.code === 'unsupported_op') return run('unsupported', e.message, session);
      return run('failed', `${set.name}: ${(e as Error).message}`, session);
    }
  }
  return run('passed', '', session);
}

const index: Record<string, { graph_ops: string[] }> = HAVE ? JSON.parse(readFileSync(join(DIR, 'INDEX.json'), 'utf8')) : {};
const names = HAVE
  ? readdirSync(DIR)
      .filter((n) => n.startsWith('test_') && existsSync(join(DIR, n, 'model.onnx')))
      .sort()
  : [];
const results = new Map<string, Record<Engine, Run> & { failing: string | null; shape: 'checked' | string }>();

describe.runIf(HAVE)('ONNX backend node tests: reference, sparrow-f32, sparrow-int8', () => {
  let options: Record<Engine, SessionOptions>;
  beforeAll(async () => {
    const wasmModule = await compileNodeModule();
    options = {
      reference: { engine: 'reference' },
      'sparrow-f32': { engine: 'sparrow-f32', wasmModule },
      'sparrow-int8': { engine: 'sparrow-int8', wasmModule },
    };
  });

  for (const name of names) {
    it(name, async () => {
      const dir = join(DIR, name);
      const bytes = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
      const sets = dataSets(dir);
      const runs = {} as Record<Engine, Run>;
      for (const e of ENGINES) runs[e] = await runTest(bytes, sets, options[e]);
      const ref = runs.reference;
      const c = shapeCase(decodeModel(bytes));
      const shape = typeof c === 'string' || sets instanceof Error ? null : shapeProblem(c, sets, name);
      // reference: failing = failed, unsupported although a registered single op, or a wrong shape function
      const failing =
        ref.status === 'failed' ? ref.reason : typeof c !== 'string' && ref.status === 'unsupported' ? `unsupported: ${ref.reason}` : shape;
      results.set(name, { ...runs, failing, shape: typeof c === 'string' ? c : 'checked' });
      if (name in EXPECTED_FAILURES) expect(failing, `${name} is listed in expected-failures.json but passes`).not.toBeNull();
      else expect(failing ?? 'pass', 'reference').toBe('pass');
      const ops = index[name]?.graph_ops ?? [];
      if (ref.status === 'unsupported' && ops.every((op) => OPS.has(op)) && !(name in EXPECTED_FAILURES))
        expect(ref.reason, 'a test of the float32 engine ops may be unsupported only for a data type or training mode').toMatch(
          UNSUPPORTED_OK,
        );
      // sparrow-f32 passes, fails and refuses exactly what the reference does
      const f32 = runs['sparrow-f32'];
      expect(f32.status, `sparrow-f32: ${f32.reason || 'passed'}; reference: ${ref.reason || 'passed'}`).toBe(ref.status);
      // sparrow-int8 runs these graphs in float (where it lowers a layer: it produces the outputs)
      const i8 = runs['sparrow-int8'];
      if (i8.int8Layers === 0)
        expect(i8.status, `sparrow-int8: ${i8.reason || 'passed'}; reference: ${ref.reason || 'passed'}`).toBe(ref.status);
      else expect(i8.status === 'failed' ? i8.reason : 'ran', 'sparrow-int8 with int8 kernels').toBe('ran');
    });
  }

  it('covers every test of INDEX.json; the listed expected failures are exactly the failing tests', () => {
    expect(names.length).toBe(Object.keys(index).length);
    expect(results.size).toBe(names.length);
    const failing = [...results]
      .filter(([, r]) => r.failing !== null)
      .map(([n]) => n)
      .sort();
    expect(failing).toEqual(Object.keys(EXPECTED_FAILURES).sort());
    for (const e of ENGINES) expect([...results.values()].filter((r) => r[e].status === 'passed').length, e).toBeGreaterThanOrEqual(250);
  });

  afterAll(() => {
    const all = [...results];
    const count = (e: Engine, s: Status): number => all.filter(([, r]) => r[e].status === s).length;
    const f32InWasm = all.filter(([, r]) => r['sparrow-f32'].status === 'passed' && r['sparrow-f32'].fallbacks === 0).length;
    const int8Lowered = all.filter(([, r]) => r['sparrow-int8'].int8Layers > 0).length;
    const byReason = new Map<string, number>();
    for (const [, r] of all) if (r.shape !== 'checked') byReason.set(r.shape, (byReason.get(r.shape) ?? 0) + 1);
    const lines = [
      `ONNX backend node tests (${DIR}), ${all.length} tests:`,
      ...ENGINES.map(
        (e) =>
          `  ${e}: ${count(e, 'passed')} passed, ${count(e, 'failed')} failed, ${count(e, 'unsupported')} unsupported` +
          (e === 'sparrow-f32'
            ? ` (${f32InWasm} passed entirely in WASM)`
            : e === 'sparrow-int8'
              ? ` (${int8Lowered} with int8 kernels)`
              : ''),
      ),
      ...all
        .filter(([, r]) => r.failing !== null)
        .map(([n, r]) => `  ${n in EXPECTED_FAILURES ? 'expected failure' : 'FAIL'} ${n}: ${r.failing}`),
      `  shape functions checked on ${all.filter(([, r]) => r.shape === 'checked').length} single-node tests; not checked:`,
      ...[...byReason].sort((a, b) => b[1] - a[1]).map(([why, n]) => `    ${n}: ${why}`),
    ];
    console.log(lines.join('\n'));
  });
});
