// `sparrow check <model.onnx|model.sparrow>`: what a model needs and where each of its ops runs,
// before anything is run on real data. Lists every op type (with nodes in subgraphs) with its
// opset, node count and first node; whether the op registry has it; and, when the whole model
// imports, how each WASM engine runs it: in a WASM kernel, in its reference kernel (a fallback
// step, with the reason), or — sparrow-int8 without static activation ranges — in float between
// the quantized layers. Engines compile one plan with the model's static input shapes (symbolic
// dims taken as 1, or as given by --shape).
import { SparrowError, isSparrowError } from '../errors.js';
import { hasOp } from '../ops/registry.js';
import type { Tensor, TensorDType } from '../ops/types.js';
import { decodeModel, int64ToNumber, type onnx } from '../onnx/proto.js';
import { MAGIC } from '../format/container.js';
import { Session, type EngineName, type FallbackOp } from '../runtime/session.js';
import { allocData } from '../ops/ref/util.js';

export type EngineRun = 'wasm' | 'reference' | 'mixed' | 'float' | 'folded' | 'unsupported';

export interface CheckOp {
  op: string;
  domain: string;
  opset: number;
  count: number;
  /** the first node of this op type */
  node: string;
  /** the op registry has a definition at this opset */
  supported: boolean;
  /** how each WASM engine runs the op's nodes (absent when the model does not import) */
  engines?: Partial<Record<EngineName, EngineRun>>;
}

export interface CheckReport {
  model: string;
  format: 'onnx' | 'sparrow';
  opsets: Record<string, number>;
  inputs: Array<{ name: string; dtype: TensorDType; dims: number[] | null }>;
  nodes: number;
  ops: CheckOp[];
  /** op types the registry lacks */
  unsupported: number;
  /** the import error when the model does not import (unsupported ops, bad model) */
  error?: { code: string; message: string };
  /** nodes each engine runs outside its WASM kernels, with the reason */
  fallbacks: Partial<Record<EngineName, FallbackOp[]>>;
}

const normDomain = (d: string | null | undefined): string => (!d || d === 'ai.onnx' ? '' : d);

/** Every node of a graph and of its subgraphs (If/Loop/Scan bodies). */
function* allNodes(g: onnx.IGraphProto | null | undefined): Generator<onnx.INodeProto> {
  for (const n of g?.node ?? []) {
    yield n;
    for (const a of n.attribute ?? []) {
      if (a.g) yield* allNodes(a.g);
      for (const sg of a.graphs ?? []) yield* allNodes(sg);
    }
  }
}

/** The op types of an ONNX model with their opset, count and first node. */
export function modelOps(model: onnx.IModelProto): { opsets: Record<string, number>; ops: CheckOp[]; nodes: number } {
  const opsets: Record<string, number> = {};
  for (const o of model.opsetImport ?? []) opsets[normDomain(o.domain)] = int64ToNumber(o.version ?? 0, 'opset version');
  const ops: CheckOp[] = [];
  let nodes = 0;
  let k = 0;
  for (const n of allNodes(model.graph)) {
    nodes++;
    const op = n.opType ?? '',
      domain = normDomain(n.domain),
      opset = opsets[domain] ?? 0;
    const name = n.name || `${op}#${k}`;
    k++;
    const e = ops.find((x) => x.op === op && x.domain === domain);
    if (e) e.count++;
    else ops.push({ op, domain, opset, count: 1, node: name, supported: op === 'Constant' || hasOp(op, domain, opset) });
  }
  return { opsets, ops, nodes };
}

/**
 * How each engine runs each op type: compiles the model in `engines` with the input shapes
 * `shapes` (name → dims) and reads the sessions' reports.
 */
async function engineRuns(
  bytes: Uint8Array,
  isSparrow: boolean,
  ops: CheckOp[],
  shapes: Record<string, number[]>,
  engines: EngineName[],
  report: CheckReport,
): Promise<void> {
  for (const engine of engines) {
    const s = isSparrow ? await Session.fromSparrow(bytes, { engine }) : await Session.fromOnnx(bytes, { engine });
    const feeds: Record<string, Tensor> = {};
    for (const name of s.inputNames) {
      const info = s.inputInfo[name]!;
      const dims = shapes[name] ?? info.dims?.map((d) => (d < 0 ? 1 : d));
      if (!dims)
        throw new SparrowError('invalid_argument', `input '${name}' has no static rank: give its shape with --shape ${name}=d0,d1,...`);
      feeds[name] = {
        dtype: info.dtype,
        dims,
        data: allocData(
          info.dtype,
          dims.reduce((a, b) => a * b, 1),
        ),
      };
    }
    // the steps of the compiled plan name the nodes that survived specialization and fusion
    const steps = await s.profile(feeds, 1);
    const planned = new Set(steps.flatMap((st) => st.node.split('+')));
    const fb = s.report?.fallbackOps ?? [];
    report.fallbacks[engine] = fb;
    const floatOps = new Set(s.report?.int8?.floatOps ?? []);
    const graphNodes = s.graph.nodes;
    const onReference = fb.some((f) => f.node === '*');
    for (const o of ops) {
      if (!o.supported) {
        (o.engines ??= {})[engine] = 'unsupported';
        continue;
      }
      const names = graphNodes
        .filter((n) => n.op === o.op && n.domain === o.domain)
        .map((n) => n.name)
        .filter((n) => onReference || planned.has(n));
      const fell = names.filter((n) => fb.some((f) => f.node === n || f.node === '*'));
      const flt = names.filter((n) => floatOps.has(n));
      let run: EngineRun = 'wasm';
      if (onReference) run = 'reference';
      else if (names.length === 0) run = 'folded';
      else if (names.length > 0 && fell.length === names.length) run = 'reference';
      else if (fell.length > 0) run = 'mixed';
      else if (names.length > 0 && flt.length === names.length) run = 'float';
      (o.engines ??= {})[engine] = run;
    }
  }
}

export async function checkModel(
  file: string,
  bytes: Uint8Array,
  opts: { shapes?: Record<string, number[]>; engines?: EngineName[] } = {},
): Promise<CheckReport> {
  const isSparrow = bytes.length >= MAGIC.length && MAGIC.every((b, i) => bytes[i] === b);
  const engines = opts.engines ?? ['sparrow-f32', 'sparrow-int8'];
  let report: CheckReport;
  if (isSparrow) {
    const s = await Session.fromSparrow(bytes, { engine: 'reference' });
    const g = s.graph;
    const ops: CheckOp[] = [];
    for (const n of g.nodes) {
      const e = ops.find((x) => x.op === n.op && x.domain === n.domain);
      if (e) e.count++;
      else ops.push({ op: n.op, domain: n.domain, opset: n.opset, count: 1, node: n.name, supported: true });
    }
    report = {
      model: file,
      format: 'sparrow',
      opsets: { ...g.opsets },
      inputs: g.inputs.map((n) => ({ name: n, ...s.inputInfo[n]! })),
      nodes: g.nodes.length,
      ops,
      unsupported: 0,
      fallbacks: {},
    };
  } else {
    const model = decodeModel(bytes);
    const { opsets, ops, nodes } = modelOps(model);
    const init = new Set((model.graph?.initializer ?? []).map((t) => t.name ?? ''));
    report = {
      model: file,
      format: 'onnx',
      opsets,
      inputs: (model.graph?.input ?? [])
        .filter((vi) => !init.has(vi.name ?? ''))
        .map((vi) => ({
          name: vi.name ?? '',
          dtype: 'float32' as TensorDType,
          dims: vi.type?.tensorType?.shape?.dim?.map((d) => (d.dimValue != null ? int64ToNumber(d.dimValue, 'dim') : -1)) ?? null,
        })),
      nodes,
      ops,
      unsupported: ops.filter((o) => !o.supported).length,
      fallbacks: {},
    };
    try {
      const s = await Session.fromOnnx(bytes, { engine: 'reference' });
      report.inputs = s.inputNames.map((n) => ({ name: n, ...s.inputInfo[n]! }));
    } catch (e) {
      if (!isSparrowError(e)) throw e;
      report.error = { code: e.code, message: e.message };
      return report;
    }
  }
  await engineRuns(bytes, isSparrow, report.ops, opts.shapes ?? {}, engines, report);
  return report;
}

const RUN_TEXT: Record<EngineRun, string> = {
  wasm: 'WASM',
  reference: 'reference kernel',
  mixed: 'WASM + reference',
  float: 'float (between int8 layers)',
  folded: 'folded or fused',
  unsupported: '-',
};

export function formatCheck(r: CheckReport): string {
  const engines = Object.keys(r.fallbacks) as EngineName[];
  const rows: string[][] = [
    ['op', 'opset', 'nodes', 'first node', 'registry', ...engines],
    ...r.ops.map((o) => [
      o.domain ? `${o.domain}.${o.op}` : o.op,
      String(o.opset),
      String(o.count),
      o.node,
      o.supported ? 'yes' : 'NO',
      ...engines.map((e) => (o.engines?.[e] ? RUN_TEXT[o.engines[e]!] : '')),
    ]),
  ];
  const w = rows[0]!.map((_, j) => Math.max(...rows.map((row) => row[j]!.length)));
  const lines = [
    `${r.model}: ${r.format}, ${r.nodes} nodes, ${r.ops.length} op types, opsets ${Object.entries(r.opsets)
      .map(([d, v]) => `${d || 'ai.onnx'} ${v}`)
      .join(', ')}`,
    `inputs: ${r.inputs.map((i) => `${i.name} ${i.dtype}[${i.dims ? i.dims.map((d) => (d < 0 ? '?' : d)).join(',') : '?'}]`).join(', ')}`,
    '',
    ...rows.map((row) =>
      row
        .map((c, j) => c.padEnd(w[j]!))
        .join('  ')
        .trimEnd(),
    ),
  ];
  if (r.error) lines.push('', `does not import: ${r.error.code}: ${r.error.message}`);
  for (const e of engines) {
    const fb = r.fallbacks[e] ?? [];
    if (fb.length)
      lines.push('', `${e}: ${fb.length} node(s) on reference kernels:`, ...fb.map((f) => `  ${f.node} (${f.op}): ${f.reason}`));
  }
  return lines.join('\n');
}
