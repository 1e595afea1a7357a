// `sparrow compress`: ONNX model → one `.sparrow` file. The model is imported and optimized
// (BatchNorm folded, shape chains folded), then every Conv/Gemm/MatMul weight is pruned
// (pruneLayer: magnitude per layer; 'hessian' is the hook for src/compress/obs.ts), quantized to
// int8 symmetric per output channel (quantize.ts) and optionally reduced to 2^B shared levels
// (kmeans.ts). The graph, the int8 weights with their float32 scales, every other constant
// (raw; biases stay float32 for now), the preprocessing and a record of what was done go into
// the container (src/format/graph.ts), int8 tensors entropy-coded by the codecs of pack.ts.
// The float weights are not stored.
import { SparrowError } from '../errors.js';
import { collectLayerInputs, findWeightLayers, weightFromRowsK, weightRowsK, type LayerInputs, type WeightLayer as CalibLayer } from './calib.js';
import { hessianPrune } from './obs.js';
import { cloneGraph, consumers, type Graph, type Node } from '../ir/graph.js';
import { optimize } from '../ir/passes.js';
import { importOnnx } from '../onnx/import.js';
import type { WeightOp } from '../onnx/initializers.js';
import type { Attrs, Tensor } from '../ops/types.js';
import type { QuantizedWeight } from '../format/graph.js';
import { Session, type EngineName } from '../runtime/session.js';
import { writeSparrowModel, type CompressionRecord, type Preprocessing } from '../runtime/sparrow_model.js';
import { shareInt8Levels, distinct } from './kmeans.js';
import { magnitudePrune } from './prune.js';
import { channelAxisFor, quantizePerChannelInt8 } from './quantize.js';

export type PruneMethod = 'magnitude' | 'hessian';
export const PRUNE_METHODS: readonly PruneMethod[] = ['magnitude', 'hessian'];
export type ActivationMode = 'dynamic' | 'static';

/** Defaults of `sparrow compress`. */
export const COMPRESS_DEFAULTS = { sparsity: 0.5, prune: 'magnitude' as PruneMethod, weightBits: 8, activations: 'dynamic' as ActivationMode, calibN: 128 };

/** A prunable weight of the optimized graph: input 1 of a Conv, Gemm or MatMul node, a float32 constant. */
export interface WeightLayer {
  /** the constant's value name */
  value: string;
  /** the (first) node reading it */
  node: Node;
  op: WeightOp;
  /** shape as the op consumes it */
  dims: number[];
  /** output-channel axis (per-channel quantization) */
  axis: number;
  transB?: boolean;
}

/** What pruneLayer may use besides the weights. */
export interface PruneContext {
  /** fraction of this layer's weights to remove, [0, 1) */
  sparsity: number;
  /** the constant's value name */
  value: string;
  node: string;
  op: WeightOp;
  attrs: Attrs;
  /** output-channel axis */
  axis: number;
  transB?: boolean;
  /**
   * The layer's input activations (input 0 of its node) on the calibration set, one tensor
   * per calibration batch, computed by the float model; absent without calibration data.
   */
  inputs?: () => Promise<Tensor[]>;
  /** for 'hessian': the layer as calib.ts sees it and its Hessians */
  hessian?: { layer: CalibLayer; stats: LayerInputs; graph: Graph };
}

/** Whether pruneLayer implements `method` yet ('hessian' arrives with src/compress/obs.ts). */
export function pruneMethodAvailable(method: PruneMethod): boolean {
  return method === 'magnitude' || method === 'hessian';
}

/**
 * Prunes one layer's float32 weights `w` of shape `dims` (as the op consumes them) and returns
 * new weights with the pruned ones +0. 'magnitude': the round(sparsity·n) smallest |w| of the
 * layer (prune.ts). 'hessian': Optimal Brain Surgeon on calibration activations, provided by
 * src/compress/obs.ts (not wired in yet).
 */
export async function pruneLayer(method: PruneMethod, w: Float32Array, dims: number[], ctx: PruneContext): Promise<Float32Array> {
  if (ctx.sparsity === 0) return Float32Array.from(w);
  switch (method) {
    case 'magnitude':
      return magnitudePrune(w, ctx.sparsity);
    case 'hessian': {
      // layer-wise OBS with error compensation (src/compress/obs.ts) on H = 2XᵀX of this
      // layer's calibration inputs (src/compress/calib.ts); weights as (rows, K) and back
      if (!ctx.hessian) throw new SparrowError('invalid_argument', '--prune hessian needs calibration data (--calib)');
      const { layer, stats, graph } = ctx.hessian;
      const rowsK = hessianPrune(weightRowsK(graph, layer), stats, ctx.sparsity, 'obs');
      return weightFromRowsK(layer, rowsK).data as Float32Array;
    }
    default:
      throw new SparrowError('invalid_argument', `unknown pruning method '${String(method)}' (${PRUNE_METHODS.join(', ')})`);
  }
}

/**
 * The prunable weights of an optimized graph, in node order: float32 constants read as input 1
 * of Conv (rank ≥ 3), Gemm (rank 2) and MatMul (rank ≥ 2) nodes of the ai.onnx domain. A
 * constant also read elsewhere (another op, another axis, a graph output) is left alone.
 */
export function weightLayers(graph: Graph): WeightLayer[] {
  const users = consumers(graph);
  const out: WeightLayer[] = [];
  const seen = new Set<string>();
  const asWeight = (n: Node, value: string): Omit<WeightLayer, 'node'> | undefined => {
    if (n.domain !== '' || (n.op !== 'Conv' && n.op !== 'Gemm' && n.op !== 'MatMul')) return undefined;
    if (n.inputs[1] !== value || n.inputs.indexOf(value) !== 1 || n.inputs.lastIndexOf(value) !== 1) return undefined;
    const t = graph.values.get(value)?.const;
    if (!t || t.dtype !== 'float32') return undefined;
    const op = n.op as WeightOp;
    const rank = t.dims.length;
    if ((op === 'Conv' && rank < 3) || (op === 'Gemm' && rank !== 2) || (op === 'MatMul' && rank < 2)) return undefined;
    const transB = op === 'Gemm' ? n.attrs['transB'] === 1 : undefined;
    return { value, op, dims: [...t.dims], axis: channelAxisFor(op, t.dims, transB), ...(transB !== undefined ? { transB } : {}) };
  };
  for (const n of graph.nodes) {
    const value = n.inputs[1];
    if (!value || seen.has(value)) continue;
    const w = asWeight(n, value);
    if (!w) continue;
    seen.add(value);
    if (graph.outputs.includes(value)) continue;
    const all = (users.get(value) ?? []).map((u) => asWeight(u, value));
    if (all.some((x) => !x || x.axis !== w.axis)) continue;
    out.push({ ...w, node: n });
  }
  return out;
}

export interface CompressOptions {
  /** per-layer sparsity in [0, 1) (default 0.5) */
  sparsity?: number;
  /** default 'magnitude' */
  prune?: PruneMethod;
  /** 3..8 (default 8): at most 2^B distinct int8 levels per weight tensor */
  weightBits?: number;
  /** 'dynamic' (default): activation scales at run time; 'static': ranges measured on the calibration set are stored */
  activations?: ActivationMode;
  /** calibration batches for the model's first input (already preprocessed), and where they came from */
  calib?: { batches: Tensor[]; spec: string };
  /** stored preprocessing (the input name is filled in); null/absent: none */
  preprocessing?: Omit<Preprocessing, 'input' | 'layout'> | null;
  /** engine for calibration runs (default 'sparrow-f32') */
  engine?: EngineName;
  /** called before each layer (done = layers finished) and once at the end (done = total) */
  onProgress?: (done: number, total: number, layer: string) => void;
}

export interface LayerReport {
  value: string;
  node: string;
  op: WeightOp;
  shape: number[];
  /** nonzero int8 weights / weights */
  density: number;
  /** distinct int8 values */
  levels: number;
}

export interface CompressResult {
  bytes: Uint8Array;
  layers: LayerReport[];
  /** the optimized float graph the weights came from */
  graph: Graph;
}

/** Checks the options and fills in the defaults (SparrowError('invalid_argument') when unusable). */
export function resolveCompressOptions(o: CompressOptions): Required<Pick<CompressOptions, 'sparsity' | 'prune' | 'weightBits' | 'activations'>> {
  const sparsity = o.sparsity ?? COMPRESS_DEFAULTS.sparsity;
  if (typeof sparsity !== 'number' || !(sparsity >= 0 && sparsity < 1)) throw new SparrowError('invalid_argument', `sparsity must be in [0, 1), got ${String(sparsity)}`);
  const prune = o.prune ?? COMPRESS_DEFAULTS.prune;
  if (!PRUNE_METHODS.includes(prune)) throw new SparrowError('invalid_argument', `pruning method must be ${PRUNE_METHODS.join(' or ')}, got ${String(prune)}`);
  const weightBits = o.weightBits ?? COMPRESS_DEFAULTS.weightBits;
  if (!Number.isInteger(weightBits) || weightBits < 3 || weightBits > 8) throw new SparrowError('invalid_argument', `weight bits must be an integer in 3..8, got ${String(weightBits)}`);
  const activations = o.activations ?? COMPRESS_DEFAULTS.activations;
  if (activations !== 'dynamic' && activations !== 'static') throw new SparrowError('invalid_argument', `activations must be dynamic or static, got ${String(activations)}`);
  if (prune === 'hessian' && !o.calib) throw new SparrowError('invalid_argument', 'hessian pruning needs calibration data (--calib)');
  if (activations === 'static' && !o.calib) throw new SparrowError('invalid_argument', 'static activation ranges need calibration data (--calib)');
  return { sparsity, prune, weightBits, activations };
}

/** Runs the float graph on the batches and returns the values `names` per batch (graph inputs are the feeds themselves). */
export async function collectValues(graph: Graph, names: readonly string[], batches: readonly Tensor[], engine: EngineName = 'sparrow-f32'): Promise<Map<string, Tensor[]>> {
  const out = new Map<string, Tensor[]>(names.map((n) => [n, []]));
  const input = graph.inputs[0];
  if (!input) throw new SparrowError('invalid_argument', 'the model has no input to calibrate');
  if (graph.inputs.length !== 1) throw new SparrowError('invalid_argument', `calibration feeds one input; the model has ${graph.inputs.length}`);
  const inner = names.filter((n) => !graph.inputs.includes(n));
  let session: Session | undefined;
  if (inner.length) {
    const g = cloneGraph(graph);
    g.outputs = [...inner];
    session = Session.fromGraph(g, { engine });
  }
  for (const x of batches) {
    if (names.includes(input)) out.get(input)!.push(x);
    if (!session) continue;
    const y = await session.run({ [input]: x });
    for (const n of inner) out.get(n)!.push(y[n]!);
  }
  return out;
}

/** Largest |x| of each value over all batches. */
async function activationRanges(graph: Graph, names: readonly string[], batches: readonly Tensor[], engine: EngineName): Promise<Record<string, number>> {
  const vals = await collectValues(graph, names, batches, engine);
  const ranges: Record<string, number> = {};
  for (const [n, ts] of vals) {
    let m = 0;
    for (const t of ts) for (const v of t.data as Float32Array) { const a = Math.abs(v); if (a > m) m = a; }
    ranges[n] = Math.fround(m);
  }
  return ranges;
}

/** Compresses an optimized float graph (not modified) into a `.sparrow` file. */
export async function compressGraph(graph: Graph, opts: CompressOptions = {}): Promise<CompressResult> {
  const o = resolveCompressOptions(opts);
  const engine = opts.engine ?? 'sparrow-f32';
  const layers = weightLayers(graph);
  const quantized = new Map<string, QuantizedWeight>();
  const reports: LayerReport[] = [];
  const calib = opts.calib;
  const inputsCache = new Map<string, Promise<Tensor[]>>();
  const layerInputs = (name: string): Promise<Tensor[]> => {
    let p = inputsCache.get(name);
    if (!p) {
      p = collectValues(graph, [name], calib!.batches, engine).then((m) => m.get(name)!);
      inputsCache.set(name, p);
    }
    return p;
  };
  // hessian: H = 2XᵀX of every weight layer's inputs, one streaming pass over the calibration set
  const calibLayers = o.prune === 'hessian' ? new Map(findWeightLayers(graph).map((l) => [l.node, l])) : null;
  const hessians = calibLayers && calib ? collectLayerInputs(graph, calib.batches, [...calibLayers.values()]) : null;
  for (let i = 0; i < layers.length; i++) {
    const L = layers[i]!;
    opts.onProgress?.(i, layers.length, L.value);
    const cl = calibLayers?.get(L.node.name);
    const hs = hessians?.get(L.node.name);
    const w = graph.values.get(L.value)!.const!.data as Float32Array;
    const input0 = L.node.inputs[0] ?? '';
    const ctx: PruneContext = {
      sparsity: o.sparsity, value: L.value, node: L.node.name, op: L.op, attrs: L.node.attrs, axis: L.axis,
      ...(L.transB !== undefined ? { transB: L.transB } : {}),
      ...(calib && input0 ? { inputs: () => layerInputs(input0) } : {}),
      ...(cl && hs ? { hessian: { layer: cl, stats: hs, graph } } : {}),
    };
    if (o.prune === 'hessian' && !(cl && hs) && o.sparsity > 0) {
      throw new SparrowError('invalid_argument', `--prune hessian: no calibration Hessian for layer ${L.node.name} (a shared or non-constant weight)`);
    }
    const pruned = await pruneLayer(o.prune, w, L.dims, ctx);
    const { q: q8, scales } = quantizePerChannelInt8(pruned, L.dims, L.axis);
    const q = o.weightBits < 8 ? shareInt8Levels(q8, o.weightBits).q : q8;
    quantized.set(L.value, { q, scales, axis: L.axis });
    let nz = 0;
    for (let k = 0; k < q.length; k++) if (q[k] !== 0) nz++;
    reports.push({ value: L.value, node: L.node.name, op: L.op, shape: L.dims, density: q.length ? nz / q.length : 1, levels: distinct(q).length });
  }
  opts.onProgress?.(layers.length, layers.length, '');

  const compression: CompressionRecord = { prune: o.prune, sparsity: o.sparsity, weightBits: o.weightBits, activations: o.activations, bias: 'float32' };
  if (calib) compression.calib = { spec: calib.spec, n: calib.batches.reduce((a, t) => a + (t.dims[0] ?? 1), 0) };
  const meta: Record<string, unknown> = {};
  if (o.activations === 'static') {
    const names = [...new Set(layers.map((L) => L.node.inputs[0] ?? '').filter(Boolean))];
    meta['activationRanges'] = await activationRanges(graph, names, calib!.batches, engine);
  }
  const input = graph.inputs[0];
  const preprocessing: Preprocessing | null = opts.preprocessing && input
    ? { input, layout: 'NCHW', scale: opts.preprocessing.scale, ...(opts.preprocessing.mean ? { mean: opts.preprocessing.mean } : {}), ...(opts.preprocessing.std ? { std: opts.preprocessing.std } : {}) }
    : null;
  const bytes = writeSparrowModel(graph, { quantized, preprocessing, compression, meta });
  return { bytes, layers: reports, graph };
}

/** ONNX bytes → optimized graph → `.sparrow` bytes. */
export async function compressOnnx(onnx: Uint8Array, opts: CompressOptions = {}): Promise<CompressResult> {
  resolveCompressOptions(opts); // fail before the work
  const graph = importOnnx(onnx);
  optimize(graph);
  return compressGraph(graph, opts);
}
