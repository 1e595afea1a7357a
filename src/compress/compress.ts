// `sparrow compress`: ONNX model → one `.sparrow` file. The model is imported and optimized
// (BatchNorm folded, shape chains folded), then every Conv/Gemm/MatMul weight is compressed:
// - 'magnitude': pruned per layer by |w| (prune.ts), int8 per output channel (quantize.ts),
//   optionally ≤ 2^B shared levels (kmeans.ts); no data needed;
// - 'hessian': sequential calibration (calib.ts, WASM-accelerated by accel.ts), OBS pruning with
//   error compensation and GPTQ-style quantization of the kept weights (gptq.ts), empirical bias
//   correction; with a size target the per-layer steps come from allocate.ts.
// The first and the last weight layer stay dense and 8-bit unless denseEnds is false. Static
// activation ranges (activations.ts) are measured on the compressed network. The graph, the
// int8 weights with their float32 scales, every other constant (biases float32: the int8 engine
// derives int32 biases at load from the activation scales), the preprocessing and a record of
// what was done go into the container (src/format/graph.ts). The float weights are not stored.
import { SparrowError } from '../errors.js';
import {
  collectLayerInputs,
  findWeightLayers,
  pruneSequentially,
  weightFromRowsK,
  weightRowsK,
  withPrunedWeights,
  type LayerInputs,
  type WeightLayer as CalibLayer,
} from './calib.js';
import { wasmCalibAccel } from './accel.js';
import { obsQuantize } from './gptq.js';
import { DEFAULT_ALPHAS, allocate, measureSensitivity, meanKl, type Candidate, type SensitivityTable } from './allocate.js';
import { encodeInt8, type Int8CodecId } from '../codec/int8.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import { hessianPrune } from './obs.js';
import { cloneGraph, consumers, type Graph, type Node } from '../ir/graph.js';
import { optimize } from '../ir/passes.js';
import { importOnnx } from '../onnx/import.js';
import { extractQdq, type QdqInt8 } from '../ir/qdq.js';
import { lowerQOperator } from '../ir/qoperator.js';
import type { WeightOp } from '../onnx/initializers.js';
import type { Attrs, Tensor } from '../ops/types.js';
import type { QuantizedWeight } from '../format/graph.js';
import { Session, type EngineName } from '../runtime/session.js';
import {
  DEFAULT_MAX_BATCH,
  MAX_MAX_BATCH,
  writeSparrowModel,
  type CompressionRecord,
  type Preprocessing,
  type WriteModelOptions,
} from '../runtime/sparrow_model.js';
import { deflateMetadata } from '../format/container.js';
import { floatsOfHalves, halvesOf } from '../format/half.js';
import { shareInt8Levels, distinct } from './kmeans.js';
import { globalMagnitudePrune, magnitudePrune, magnitudePrunePairs } from './prune.js';
import { obcLayerPrune } from './obc.js';
import { pruneChannels, type ChannelPruneReport, type ChannelScope } from './channels.js';
import { finetune, type FinetuneOptions, type FinetuneReport } from './finetune.js';
import { fixedMasksOf, prunedFloatGraph, zeroMask } from './sparse_finetune.js';
import { channelAxisFor, dequantize, quantizePerChannelInt8 } from '../quant/int8.js';
import { activationValues, calibrateActivations, type CalibrationMethod } from './activations.js';
import { compactValueNames, shortFloat32 } from './names.js';
import { isGraphAttr } from '../ops/types.js';

export type PruneMethod = 'magnitude' | 'hessian' | 'obs' | 'channels';
export const PRUNE_METHODS: readonly PruneMethod[] = ['magnitude', 'hessian', 'obs', 'channels'];
/** The methods that run the sequential calibrated path (OBS compensation, GPTQ, bias correction). */
const CALIBRATED: readonly PruneMethod[] = ['hessian', 'obs', 'channels'];
/** magnitude: one threshold per layer ('layer', default) or over all layers together ('global') */
export type PruneScope = 'layer' | 'global';
export type ActivationMode = 'dynamic' | 'static';
export type MetadataMode = 'plain' | 'short' | 'deflate';
export const METADATA_MODES: readonly MetadataMode[] = ['plain', 'short', 'deflate'];

/** Defaults of `sparrow compress`. */
export const COMPRESS_DEFAULTS = {
  sparsity: 0.5,
  prune: 'magnitude' as PruneMethod,
  weightBits: 8,
  activations: 'dynamic' as ActivationMode,
  calibN: 128,
};

/** Default sparsity of a transformer (isTransformerGraph): 0, see docs/compression.md (stories260K: 50 % magnitude raised CE by 180 %). */
export const TRANSFORMER_DEFAULT_SPARSITY = 0;

/**
 * A transformer for compress's defaults: weight layers that are MatMul / Gemm with a constant
 * weight, or embedding tables (a float32 constant read by Gather), and no convolution.
 */
export function isTransformerGraph(g: Graph): boolean {
  let linear = false;
  for (const n of g.nodes) {
    if (/Conv/.test(n.op)) return false;
    const w = n.inputs[1] ? g.values.get(n.inputs[1])?.const : undefined;
    const t = n.inputs[0] ? g.values.get(n.inputs[0])?.const : undefined;
    if (/^(Fused)?(MatMul|Gemm)$/.test(n.op) && w?.dtype === 'float32') linear = true;
    if (n.op === 'Gather' && t?.dtype === 'float32' && t.dims.length === 2) linear = true;
  }
  return linear;
}

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
  /** 'pairs': aligned 1x2 blocks along each output channel's K (default 'unstructured') */
  pattern?: SparsityPatternOption;
}

/** Magnitude pruning in pairs along K of a weight of `dims` with output channels on `axis` (0, or 1 of a 2-D (K, N)). */
function magnitudePairsOf(w: Float32Array, dims: number[], axis: number, sparsity: number): Float32Array {
  if (axis === 0) return magnitudePrunePairs(w, dims[0]!, w.length / dims[0]!, sparsity);
  if (axis === 1 && dims.length === 2) return magnitudePrunePairs(w, dims[1]!, dims[0]!, sparsity, 1, dims[1]!);
  return magnitudePrune(w, sparsity);
}

/** Whether pruneLayer implements `method` (magnitude and hessian; obs and channels work on the whole graph). */
export function pruneMethodAvailable(method: PruneMethod): boolean {
  return method === 'magnitude' || method === 'hessian';
}

/**
 * Prunes one layer's float32 weights `w` of shape `dims` (as the op consumes them) and returns
 * new weights with the pruned ones +0. 'magnitude': the round(sparsity·n) smallest |w| of the
 * layer (prune.ts). 'hessian': Optimal Brain Surgeon on calibration activations, provided by
 * src/compress/obs.ts (compressGraph's hessian path uses the sequential joint version instead).
 */
export async function pruneLayer(method: PruneMethod, w: Float32Array, dims: number[], ctx: PruneContext): Promise<Float32Array> {
  if (ctx.sparsity === 0) return Float32Array.from(w);
  switch (method) {
    case 'magnitude':
      return ctx.pattern === 'pairs' ? magnitudePairsOf(w, dims, ctx.axis, ctx.sparsity) : magnitudePrune(w, ctx.sparsity);
    case 'hessian': {
      // layer-wise OBS with error compensation (src/compress/obs.ts) on H = 2XᵀX of this
      // layer's calibration inputs (src/compress/calib.ts); weights as (rows, K) and back
      if (!ctx.hessian) throw new SparrowError('invalid_argument', '--prune hessian needs calibration data (--calib)');
      const { layer, stats, graph } = ctx.hessian;
      const rowsK = hessianPrune(
        weightRowsK(graph, layer),
        stats,
        ctx.sparsity,
        'obs',
        ctx.pattern === 'pairs' ? { pattern: 'pairs' } : {},
      );
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

/**
 * Embedding tables of an optimized graph: float32 rank-2 constants [V, D] read only as input 0
 * of Gather nodes (ai.onnx) along axis 0 (each index picks a row), never a graph output. They
 * are quantized int8 per row (axis 0), so a row dequantizes with its own scale.
 */
export function embeddingTables(graph: Graph): string[] {
  const users = consumers(graph);
  const out: string[] = [];
  for (const [name, v] of graph.values) {
    const t = v.const;
    if (!t || t.dtype !== 'float32' || t.dims.length !== 2 || graph.outputs.includes(name)) continue;
    const us = users.get(name) ?? [];
    const isRowGather = (n: Node): boolean =>
      n.domain === '' &&
      n.op === 'Gather' &&
      n.inputs[0] === name &&
      n.inputs.lastIndexOf(name) === 0 &&
      (Number(n.attrs['axis'] ?? 0) === 0 || Number(n.attrs['axis']) === -2);
    if (us.length > 0 && us.every(isRowGather)) out.push(name);
  }
  return out;
}

/** The int8 codec choice of `opts` for writeSparrowModel (absent: its default). */
function codecsOf(opts: { int8Codecs?: readonly Int8CodecId[] }): { int8Codecs?: readonly Int8CodecId[] } {
  return opts.int8Codecs ? { int8Codecs: opts.int8Codecs } : {};
}

export interface CompressOptions {
  /** per-layer sparsity in [0, 1) (default 0.5) */
  sparsity?: number;
  /**
   * int8 codecs the file may use (default: the Huffman family, codecs 0–3); include 4
   * (CODEC_RANS) for rANS: 0.2–3 % smaller, but its decoder is slower than inflate (docs/compression.md)
   */
  int8Codecs?: readonly Int8CodecId[];
  /**
   * default 'magnitude'; 'obs': exact greedy OBS masks (OBC, WASM when `wasm` is given) then
   * the hessian path's quantization; 'channels': whole output channels removed (channels.ts),
   * `sparsity` then being the fraction of each prunable layer's channels, the smaller graph
   * then quantized by the hessian path without further pruning
   */
  prune?: PruneMethod;
  /**
   * magnitude: 'layer' (default) or 'global' (one |w| threshold over all pruned layers);
   * channels: 'global' = channelScope 'flops' (the removals spread over the layers by cost)
   */
  scope?: PruneScope;
  /** channels only: how many channels each layer gives up (channels.ts; default 'uniform') */
  channelScope?: ChannelScope;
  /**
   * channels only: kept counts are multiples of this (ChannelPruneOptions.multiple; default 1).
   * 4 matches the int8 kernels' blocks of output channels.
   */
  channelMultiple?: number;
  /**
   * fine-tune the pruned float graph by distillation from the original (finetune.ts) on the
   * calibration images before it is quantized; `epochs` passes. Needs `calib`. magnitude /
   * hessian / obs: the masks are chosen first in float (sparse_finetune.ts) and kept fixed
   * through the fine-tuning (keepZeros) and the quantization
   */
  finetune?: Omit<FinetuneOptions, 'wasm' | 'onEpoch'>;
  /**
   * 'unstructured' (default) = any weight pruned alone; 'pairs' (hessian, magnitude per layer) =
   * pruned in aligned 1x2 blocks along each output channel's K (k = 2j, 2j+1 both kept or both
   * zeroed), what the int8 pair-block sparse conv kernel runs fastest. obs, channels and
   * --scope global are unstructured only.
   */
  sparsityPattern?: SparsityPatternOption;
  /** 3..8 (default 8): at most 2^B distinct int8 levels per weight tensor */
  weightBits?: number;
  /** 'static' (the default with `calib`): ranges measured on the calibration set are stored; 'dynamic' (the default without): activation scales at run time */
  activations?: ActivationMode;
  /** calibration batches for the model's first input (already preprocessed), and where they came from */
  calib?: { batches: CalibBatch[]; spec: string };
  /** stored preprocessing (the input name is filled in); null/absent: none */
  preprocessing?: Omit<Preprocessing, 'input' | 'layout'> | null;
  /** engine for calibration runs (default 'sparrow-f32') */
  engine?: EngineName;
  /**
   * Keep the first and the last weight layer dense and 8-bit (default true): they hold few
   * weights (ResNet-20: 432 and 640 of 270k) and the most sensitive ones.
   */
  denseEnds?: boolean;
  /**
   * hessian: a size target for the whole file, in bytes. Each layer's quantization step is
   * then allocated by measured sensitivity (allocate.ts) instead of the uniform --sparsity /
   * --weight-bits (which then only cap the levels: |q| ≤ 2^(B−1) − 1).
   */
  targetBytes?: number;
  /** static activations: how ranges are chosen from the calibration histograms (default 'minmax', measured below) */
  activationCalibration?: CalibrationMethod;
  /** hessian: empirical bias correction against the float network (default true) */
  biasCorrection?: boolean;
  /**
   * hessian/obs/channels: float targets (calib.ts SequentialOptions.floatTargets, default true):
   * each layer is compressed towards the float network's output on the compressed network's
   * inputs, not towards its own float weights on those inputs
   */
  floatTargets?: boolean;
  /**
   * How the metadata is stored. 'plain' (the default without a size target): the graph's names,
   * ranges as float64 JSON numbers, a version-1 file. 'short': every value but the graph's
   * inputs and outputs renamed to a short base-36 name and ranges stored with the fewest digits
   * of their float32 (names.ts), still version 1 (ResNet-20: 15.4 → 10.3 KB of metadata).
   * 'deflate' (the default with targetBytes): 'short', and the metadata block deflated
   * (docs/format.md, version 2; ResNet-20: 2.3 KB). Graphs with subgraphs keep their names.
   */
  metadata?: MetadataMode;
  /**
   * 'float16' (the default with targetBytes): biases and the int8 weights' per-channel scales
   * stored as binary16 (uint16 sections, valueDtype 'float16', docs/format.md) where they stay
   * finite, rounded so before the activation ranges are measured; ResNet-20: 2.8 KB less.
   * 'float32': as before (the default without a size target).
   */
  floats?: 'float32' | 'float16';
  /** a WASM instance to accelerate calibration (Gram matrices, convolutions); default: plain TS */
  wasm?: SparrowWasm;
  /** called before each layer (done = layers finished) and once at the end (done = total) */
  onProgress?: (done: number, total: number, layer: string) => void;
  /** called after each fine-tuning epoch with its mean loss */
  onFinetune?: (epoch: number, epochs: number, loss: number) => void;
  /**
   * the largest batch the model is meant to serve, stored as metadata.maxBatch (default
   * DEFAULT_MAX_BATCH, 32): the Worker refuses larger batches and sizes its memory for this one
   */
  maxBatch?: number;
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
  /** kept dense (not pruned) and 8-bit by the rule of denseEnds; absent for the other paths */
  dense?: boolean;
}

export interface CompressResult {
  bytes: Uint8Array;
  layers: LayerReport[];
  /** the optimized float graph the weights came from */
  graph: Graph;
}

/** Checks the options and fills in the defaults (SparrowError('invalid_argument') when unusable). */
export type SparsityPatternOption = 'pairs' | 'unstructured';
export const SPARSITY_PATTERNS: readonly SparsityPatternOption[] = ['pairs', 'unstructured'];

/**
 * The pattern a run prunes with: opts.sparsityPattern (checked), else 'unstructured'. ('pairs' is
 * not the default: on ResNet-20 / CIFAR-10 at 50 % it cost 3 points of top-1 with hessian
 * pruning, docs/compression.md.)
 */
export function sparsityPatternOf(o: CompressOptions): SparsityPatternOption {
  const prune = o.prune ?? COMPRESS_DEFAULTS.prune;
  const pairsOk = prune === 'hessian' || (prune === 'magnitude' && (o.scope ?? 'layer') === 'layer');
  const p = o.sparsityPattern;
  if (p === undefined) return 'unstructured';
  if (!SPARSITY_PATTERNS.includes(p))
    throw new SparrowError('invalid_argument', `the sparsity pattern must be ${SPARSITY_PATTERNS.join(' or ')}, got ${String(p)}`);
  if (p === 'pairs' && !pairsOk)
    throw new SparrowError(
      'invalid_argument',
      `--sparsity-pattern pairs is for --prune hessian or magnitude (per layer), not ${prune}${prune === 'magnitude' ? ' --scope global' : ''}`,
    );
  return p;
}

export function resolveCompressOptions(
  o: CompressOptions,
): Required<Pick<CompressOptions, 'sparsity' | 'prune' | 'weightBits' | 'activations'>> {
  const sparsity = o.sparsity ?? COMPRESS_DEFAULTS.sparsity;
  if (typeof sparsity !== 'number' || !(sparsity >= 0 && sparsity < 1))
    throw new SparrowError('invalid_argument', `sparsity must be in [0, 1), got ${String(sparsity)}`);
  const prune = o.prune ?? COMPRESS_DEFAULTS.prune;
  if (!PRUNE_METHODS.includes(prune))
    throw new SparrowError('invalid_argument', `pruning method must be ${PRUNE_METHODS.join(' or ')}, got ${String(prune)}`);
  const weightBits = o.weightBits ?? COMPRESS_DEFAULTS.weightBits;
  if (!Number.isInteger(weightBits) || weightBits < 3 || weightBits > 8)
    throw new SparrowError('invalid_argument', `weight bits must be an integer in 3..8, got ${String(weightBits)}`);
  // with calibration data the ranges are measured and stored unless asked otherwise (as the CLI)
  const activations = o.activations ?? (o.calib ? 'static' : COMPRESS_DEFAULTS.activations);
  if (activations !== 'dynamic' && activations !== 'static')
    throw new SparrowError('invalid_argument', `activations must be dynamic or static, got ${String(activations)}`);
  if (o.targetBytes !== undefined && !CALIBRATED.includes(prune))
    throw new SparrowError('invalid_argument', 'a size target (--target-size) needs --prune hessian, obs or channels');
  const scope = o.scope ?? 'layer';
  if (scope !== 'layer' && scope !== 'global')
    throw new SparrowError('invalid_argument', `the pruning scope must be layer or global, got ${String(scope)}`);
  if (scope === 'global' && prune !== 'magnitude' && prune !== 'channels')
    throw new SparrowError('invalid_argument', `--scope global is for --prune magnitude or channels, not ${prune}`);
  if (o.channelMultiple !== undefined) {
    if (prune !== 'channels') throw new SparrowError('invalid_argument', `--channel-multiple is for --prune channels, not ${prune}`);
    if (!(Number.isInteger(o.channelMultiple) && o.channelMultiple >= 1 && o.channelMultiple <= 1024))
      throw new SparrowError('invalid_argument', `--channel-multiple must be an integer in 1..1024, got ${String(o.channelMultiple)}`);
  }
  if (o.finetune !== undefined) {
    if (!Number.isInteger(o.finetune.epochs) || o.finetune.epochs < 1)
      throw new SparrowError('invalid_argument', `--finetune needs a positive integer of epochs, got ${String(o.finetune.epochs)}`);
    if (o.finetune.lr !== undefined && !(o.finetune.lr > 0 && Number.isFinite(o.finetune.lr)))
      throw new SparrowError('invalid_argument', `the fine-tuning learning rate must be a positive number, got ${String(o.finetune.lr)}`);
    const mix = o.finetune.mix;
    if (mix !== undefined && mix !== 'none' && mix !== 'mixup' && mix !== 'cutmix')
      throw new SparrowError('invalid_argument', `--finetune-mix must be none, mixup or cutmix, got ${String(mix)}`);
    const warm = o.finetune.warmupEpochs;
    if (warm !== undefined && !(warm >= 0 && warm <= o.finetune.epochs))
      throw new SparrowError('invalid_argument', `--finetune-warmup must be in [0, epochs], got ${String(warm)}`);
    const ema = o.finetune.ema;
    if (ema !== undefined && !(ema >= 0 && ema < 1))
      throw new SparrowError('invalid_argument', `--finetune-ema must be in [0, 1), got ${String(ema)}`);
    if (!o.calib) throw new SparrowError('invalid_argument', `--finetune needs calibration images (--calib), also with --prune ${prune}`);
  }
  if (o.targetBytes !== undefined && !(Number.isFinite(o.targetBytes) && o.targetBytes > 0))
    throw new SparrowError('invalid_argument', `the size target must be a positive number of bytes, got ${String(o.targetBytes)}`);
  if (CALIBRATED.includes(prune) && !o.calib)
    throw new SparrowError('invalid_argument', `${prune} pruning needs calibration data (--calib)`);
  if (activations === 'static' && !o.calib)
    throw new SparrowError('invalid_argument', 'static activation ranges need calibration data (--calib)');
  maxBatchOf(o);
  sparsityPatternOf(o);
  metadataModeOf(o);
  return { sparsity, prune, weightBits, activations };
}

/** metadata.maxBatch of a compressed model: opts.maxBatch (checked) or DEFAULT_MAX_BATCH. */
function maxBatchOf(o: CompressOptions): number {
  const b = o.maxBatch ?? DEFAULT_MAX_BATCH;
  if (!Number.isSafeInteger(b) || b < 1 || b > MAX_MAX_BATCH)
    throw new SparrowError('invalid_argument', `the max batch must be an integer in 1..${MAX_MAX_BATCH}, got ${String(o.maxBatch)}`);
  return b;
}

/**
 * One calibration batch: a tensor for the model's only input (images), or feeds by input name
 * (a text model's token window with its mask, positions and empty past: text_calib.ts).
 */
export type CalibBatch = Tensor | Record<string, Tensor>;

function isTensorBatch(b: CalibBatch): b is Tensor {
  return typeof (b as Tensor).dtype === 'string' && Array.isArray((b as Tensor).dims);
}

/** The image batches of an option that needs them (channel pruning, size targets): feeds by name are refused. */
function tensorBatches(batches: readonly CalibBatch[], what: string): Tensor[] {
  if (!batches.every(isTensorBatch))
    throw new SparrowError('invalid_argument', `${what} needs calibration data for a single-input model (not text:)`);
  return batches as Tensor[];
}

/** Runs the float graph on the batches and returns the values `names` per batch (graph inputs are the feeds themselves). */
export async function collectValues(
  graph: Graph,
  names: readonly string[],
  batches: readonly CalibBatch[],
  engine: EngineName = 'sparrow-f32',
): Promise<Map<string, Tensor[]>> {
  const out = new Map<string, Tensor[]>(names.map((n) => [n, []]));
  const input = graph.inputs[0];
  if (!input) throw new SparrowError('invalid_argument', 'the model has no input to calibrate');
  if (graph.inputs.length !== 1 && batches.some(isTensorBatch))
    throw new SparrowError('invalid_argument', `calibration feeds one input; the model has ${graph.inputs.length}`);
  const inner = names.filter((n) => !graph.inputs.includes(n));
  let session: Session | undefined;
  if (inner.length) {
    const g = cloneGraph(graph);
    g.outputs = [...inner];
    session = Session.fromGraph(g, { engine });
  }
  for (const b of batches) {
    const feeds = isTensorBatch(b) ? { [input]: b } : b;
    for (const n of graph.inputs) if (names.includes(n) && feeds[n]) out.get(n)!.push(feeds[n]);
    if (!session) continue;
    const y = await session.run(feeds);
    for (const n of inner) out.get(n)!.push(y[n]!);
  }
  return out;
}

function layerReport(L: WeightLayer, q: Int8Array): LayerReport {
  let nz = 0;
  for (let k = 0; k < q.length; k++) if (q[k] !== 0) nz++;
  return { value: L.value, node: L.node.name, op: L.op, shape: L.dims, density: q.length ? nz / q.length : 1, levels: distinct(q).length };
}

/** Compresses an optimized float graph (not modified) into a `.sparrow` file. */
export async function compressGraph(graph: Graph, opts: CompressOptions = {}): Promise<CompressResult> {
  const o = resolveCompressOptions(opts);
  const engine = opts.engine ?? 'sparrow-f32';
  // channels: the graph itself shrinks first (whole output channels out, the next layer
  // compensated); the smaller graph then goes through the hessian path without more pruning
  let channelRecord: ChannelPruneReport | undefined;
  let finetuneRecord: FinetuneReport | undefined;
  const original = graph;
  if (o.prune === 'channels' && o.sparsity > 0) {
    const r = pruneChannels(graph, tensorBatches(opts.calib!.batches, '--prune channels'), o.sparsity, {
      ...(opts.wasm ? { accel: wasmCalibAccel(opts.wasm) } : {}),
      scope: opts.channelScope ?? (opts.scope === 'global' ? 'flops' : 'uniform'),
      ...(opts.channelMultiple !== undefined ? { multiple: opts.channelMultiple } : {}),
    });
    graph = r.graph;
    channelRecord = r.report;
  }
  const floatTargets = opts.floatTargets ?? envFlag('SPARROW_FLOAT_TARGETS', true);
  const pattern = sparsityPatternOf(opts);
  // unstructured (magnitude, hessian, obs) + fine-tuning: the masks are decided first on the float
  // network (sparse_finetune.ts; magnitude directly), the masked float graph is fine-tuned with
  // its zeros kept, and the quantizing pass below then keeps exactly those zeros (fixedMaskNodes)
  let fixedMaskNodes: Set<string> | undefined;
  if (opts.finetune && o.prune !== 'channels') {
    const ls = weightLayers(graph);
    const endsPre = denseEndsOf(ls, opts.denseEnds ?? true);
    const sp = (node: string): number => (endsPre.has(node) ? 0 : o.sparsity);
    graph =
      o.prune === 'magnitude'
        ? await magnitudePrunedGraph(graph, ls, sp, opts.scope ?? 'layer', o.sparsity, pattern)
        : prunedFloatGraph(graph, tensorBatches(opts.calib!.batches, '--finetune'), {
            method: o.prune,
            sparsityOf: sp,
            pattern,
            nodes: ls.map((L) => L.node.name),
            floatTargets,
            biasCorrection: opts.biasCorrection ?? true,
            ...(opts.wasm ? { wasm: opts.wasm } : {}),
          });
    fixedMaskNodes = new Set(ls.filter((L) => sp(L.node.name) > 0).map((L) => L.node.name));
  }
  if (opts.finetune && (o.prune !== 'channels' || o.sparsity > 0)) {
    // distillation from the network before pruning, on the calibration images, augmented as
    // the CIFAR training set (padding = black pixels once preprocessed)
    const pre = opts.preprocessing;
    const padValue = pre?.mean ? pre.mean.map((m, c) => -m / (pre.std?.[c] ?? 1)) : undefined;
    const f = await finetune(graph, original, tensorBatches(opts.calib!.batches, '--finetune'), {
      ...(padValue ? { padValue } : {}),
      ...opts.finetune,
      // the pruned weights (exact zeros) stay pruned
      ...(fixedMaskNodes ? { keepZeros: true } : {}),
      ...(opts.wasm ? { wasm: opts.wasm } : {}),
      onEpoch: (e, n, loss) => opts.onFinetune?.(e, n, loss),
    });
    graph = f.graph;
    finetuneRecord = f.report;
  }
  const metaMode = metadataModeOf(opts);
  const compact = metaMode !== 'plain' && !graph.nodes.some((n) => Object.values(n.attrs).some(isGraphAttr));
  if (compact) graph = compactValueNames(graph).graph;
  const halfFloats = (opts.floats ?? (opts.targetBytes !== undefined ? 'float16' : 'float32')) === 'float16';
  const writeModel = (g: Graph, w: WriteModelOptions): Uint8Array => {
    const b = writeSparrowModel(g, halfFloats ? { ...w, halfFloats } : w);
    return metaMode === 'deflate' ? deflateMetadata(b) : b;
  };
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
  const denseEnds = opts.denseEnds ?? true;
  const ends = denseEndsOf(layers, denseEnds);
  const sparsityOf = (node: string): number => (ends.has(node) || o.prune === 'channels' ? 0 : o.sparsity);
  // after fine-tuning: each pruned layer's mask (rows, K; 1 = pruned) = its zeros, forced below
  const fixedMasks = fixedMaskNodes ? fixedMasksOf(graph, fixedMaskNodes) : undefined;
  // the dense ends keep 8 bits; 7 with --weight-bits 7, so that every layer fits the relaxed-SIMD kernel's [−64, 63]
  const bitsOf = (node: string): number => (ends.has(node) ? (o.weightBits === 7 ? 7 : 8) : o.weightBits);
  let outGraph = graph;
  let allocation: Map<string, Candidate> | undefined;
  const record = (alloc: Map<string, Candidate> | undefined): CompressionRecord => {
    const compression: CompressionRecord = {
      prune: o.prune,
      sparsity: o.sparsity,
      weightBits: o.weightBits,
      activations: o.activations,
      bias: halfFloats ? 'float16' : 'float32',
    };
    if (o.sparsity > 0 && o.prune !== 'channels') compression['pattern'] = pattern;
    if (calib)
      compression.calib = { spec: calib.spec, n: calib.batches.reduce((a, t) => a + (isTensorBatch(t) ? (t.dims[0] ?? 1) : 1), 0) };
    if (o.prune === 'hessian' || o.prune === 'obs' || o.prune === 'channels') {
      compression['method'] =
        o.prune === 'obs' ? 'obc-exact-mask+gptq-sequential' : o.prune === 'channels' ? 'channels+gptq-sequential' : 'obs-joint-sequential';
      compression['biasCorrection'] = opts.biasCorrection ?? true;
      compression['floatTargets'] = floatTargets;
    }
    if (o.prune === 'magnitude') compression['scope'] = opts.scope ?? 'layer';
    if (channelRecord) compression['channels'] = channelRecord;
    if (finetuneRecord) compression['finetune'] = { ...finetuneRecord, loss: finetuneRecord.loss.map((l) => Number(l.toPrecision(4))) };
    if (fixedMasks) compression['masks'] = 'fixed-before-finetune';
    compression['denseEnds'] = denseEnds;
    if (compact) compression['names'] = 'short';
    if (metaMode === 'deflate') compression['metadata'] = 'deflate';
    if (alloc) {
      compression['targetBytes'] = opts.targetBytes;
      // α of each layer's step (× rms of its kept weights), in layer order
      compression['stepAlphas'] = layers.map((L) => {
        const c = alloc.get(L.node.name);
        return c && typeof c.step === 'object' ? c.step.rms : null;
      });
    }
    return compression;
  };
  if (o.prune === 'hessian' || o.prune === 'obs' || o.prune === 'channels') {
    // Sequential: each layer's Hessian comes from the inputs produced by the already
    // compressed layers before it; the layer is pruned and quantized jointly with OBS error
    // compensation (gptq.ts), then its bias corrected against the float network.
    const calibLayers = new Map(findWeightLayers(graph).map((l) => [l.node, l]));
    for (const L of layers) {
      if (!calibLayers.has(L.node.name))
        throw new SparrowError(
          'invalid_argument',
          `--prune hessian: no calibration Hessian for layer ${L.node.name} (a shared or non-constant weight)`,
        );
    }
    const byNode = new Map(layers.map((L, i) => [L.node.name, i]));
    const accel = opts.wasm ? wasmCalibAccel(opts.wasm) : undefined;
    const maxqOf = (node: string): number => 2 ** (bitsOf(node) - 1) - 1;
    const uniform = (node: string): Candidate => ({ step: 'mse', maxq: maxqOf(node), sparsity: sparsityOf(node) });
    // obs: exact greedy OBS (OBC) chooses each layer's mask; the quantizer below then keeps it.
    // With a size target the masks come from the float network's Hessians (once, shared by the
    // allocation and every attempt); otherwise from the sequential Hessians.
    const obsMask = (W: Float32Array, H: Float64Array, sparsity: number): Uint8Array => obcLayerPrune(opts.wasm, W, H, sparsity).mask;
    const sized =
      opts.targetBytes !== undefined
        ? await prepareSizeTarget(
            graph,
            layers,
            calibLayers,
            tensorBatches(calib!.batches, 'a size target (--target-size)'),
            o.weightBits,
            accel,
            opts,
            {
              ...(o.activations === 'static' ? placeholderRanges(graph, compact) : {}),
              maxBatch: maxBatchOf(opts),
            },
            fixedMasks
              ? (node, W) => (fixedMaskNodes!.has(node) ? zeroMask(W) : new Uint8Array(W.length))
              : o.prune === 'obs'
                ? (node, W, H) => obsMask(W, H, sparsityOf(node))
                : undefined,
            writeModel,
          )
        : undefined;
    const preprocessingOf = preprocessingFor(graph, opts);
    // bytes the static activation ranges will add to the metadata (JSON, ~2 float literals each)
    // the static activation ranges stored later, as placeholders of the longest JSON numbers
    // (their value names are kept in the graph JSON too), so size checks see their bytes
    const rangeMeta = { ...(o.activations === 'static' ? placeholderRanges(graph, compact) : {}), maxBatch: maxBatchOf(opts) };
    // aim a little under: the sequential pass codes slightly differently from the estimates
    let lastSize = 0;
    let slack = Math.ceil(0.004 * (opts.targetBytes ?? 0));
    let best:
      { outGraph: Graph; allocation: typeof allocation; quantized: Map<string, QuantizedWeight>; reports: LayerReport[] } | undefined;
    for (let attempt = 0; ; attempt++) {
      let candidateOf = uniform;
      if (sized) {
        let a: ReturnType<typeof allocate>;
        try {
          a = allocate(sized.table, opts.targetBytes! - sized.fixed - slack);
        } catch (e) {
          if (attempt === 0 || !(e instanceof SparrowError)) throw e;
          throw new SparrowError(
            'invalid_argument',
            `the size target ${opts.targetBytes} bytes is not reachable: the coarsest steps give ${lastSize} bytes`,
          );
        }
        const chosen = new Map(a.choices.map((c) => [c.node, c.candidate]));
        candidateOf = (node) => chosen.get(node)!;
        allocation = chosen;
      }
      const results = new Map<string, { q: Int8Array; step: Float32Array }>();
      const seq = pruneSequentially(
        graph,
        calib!.batches,
        (W, st) => {
          const i = byNode.get(st.node);
          if (i !== undefined) opts.onProgress?.(i, layers.length, layers[i]!.value);
          const G = st.groupH.length,
            rpg = st.rows / G,
            K = st.K;
          const q = new Int8Array(W.length),
            step = new Float32Array(st.rows),
            out = new Float32Array(W.length);
          const c = candidateOf(st.node);
          const preMask = sized?.masks?.get(st.node) ?? fixedMasks?.get(st.node);
          for (let g = 0; g < G; g++) {
            const Wg = W.slice(g * rpg * K, (g + 1) * rpg * K);
            let mask = preMask?.subarray(g * rpg * K, (g + 1) * rpg * K);
            if (!mask && o.prune === 'obs' && sparsityOf(st.node) > 0) mask = obsMask(Wg, st.groupH[g]!, sparsityOf(st.node));
            const r = obsQuantize(Wg, st.groupH[g]!, {
              sparsity: mask ? 0 : c.sparsity,
              ...(pattern === 'pairs' ? { pattern } : {}),
              maxq: c.maxq,
              step: c.step,
              ...(mask ? { mask } : {}),
            });
            q.set(r.q, g * rpg * K);
            step.set(r.step, g * rpg);
            out.set(r.W, g * rpg * K);
          }
          results.set(st.node, { q, step });
          return out;
        },
        [...calibLayers.values()].filter((l) => byNode.has(l.node)),
        {
          ...(accel ? { accel } : {}),
          biasCorrection: opts.biasCorrection ?? true,
          floatTargets,
        },
      );
      outGraph = withPrunedWeights(graph, seq);
      quantized.clear();
      reports.length = 0;
      for (const L of layers) {
        const cl = calibLayers.get(L.node.name)!;
        const r = results.get(L.node.name)!;
        // (rows, K) → the stored layout; per-row steps are the per-channel scales
        const q = cl.layout === 'rowsK' ? r.q : Int8Array.from(weightFromRowsK(cl, Float32Array.from(r.q)).data as Float32Array);
        quantized.set(L.value, { q, scales: r.step, axis: L.axis });
        reports.push({ ...layerReport(L, q), dense: ends.has(L.node.name) });
      }
      if (!sized || attempt >= 3) break;
      // the sequential pass codes a little differently from the per-layer estimates: re-aim
      const size = writeModel(outGraph, {
        ...codecsOf(opts),
        quantized,
        preprocessing: preprocessingOf,
        compression: record(allocation),
        meta: rangeMeta,
      }).length;
      if (process.env['SPARROW_DEBUG']) process.stderr.write(`size target: attempt ${attempt}, ${size} bytes (slack ${slack})\n`);
      lastSize = size;
      const target = opts.targetBytes!;
      if (size > target && best) {
        // the second try at using an undershoot overshot: keep the first
        ({ outGraph, allocation } = best);
        quantized.clear();
        for (const [k, q] of best.quantized) quantized.set(k, q);
        reports.splice(0, reports.length, ...best.reports);
        break;
      }
      if (size <= target) {
        // well under (the estimates were pessimistic): one more pass with the bytes left
        if (attempt > 0 || best || target - size <= Math.ceil(0.003 * target)) break;
        best = { outGraph, allocation, quantized: new Map(quantized), reports: [...reports] };
        slack -= target - size - Math.ceil(0.001 * target);
        continue;
      }
      slack += size - target + Math.ceil(0.002 * target);
    }
  } else {
    // global magnitude: one threshold over every pruned layer (the dense ends excluded), as
    // torch.nn.utils.prune.global_unstructured with L1Unstructured
    const global = new Map<string, Float32Array>();
    if (o.prune === 'magnitude' && (opts.scope ?? 'layer') === 'global' && o.sparsity > 0 && !fixedMasks) {
      const pruned = layers.filter((L) => !ends.has(L.node.name));
      const out = globalMagnitudePrune(
        pruned.map((L) => graph.values.get(L.value)!.const!.data as Float32Array),
        o.sparsity,
      );
      pruned.forEach((L, i) => global.set(L.value, out[i]!));
    }
    for (let i = 0; i < layers.length; i++) {
      const L = layers[i]!;
      opts.onProgress?.(i, layers.length, L.value);
      const w = graph.values.get(L.value)!.const!.data as Float32Array;
      const input0 = L.node.inputs[0] ?? '';
      const ctx: PruneContext = {
        ...pruneContext(L, sparsityOf(L.node.name), pattern),
        ...(calib && input0 ? { inputs: () => layerInputs(input0) } : {}),
      };
      // after fine-tuning the graph is already pruned (its zeros quantize to 0, shareInt8Levels keeps 0)
      const pruned =
        global.get(L.value) ?? (global.size > 0 || fixedMasks ? Float32Array.from(w) : await pruneLayer(o.prune, w, L.dims, ctx));
      const bits = bitsOf(L.node.name);
      // 7 bits: the uniform grid [−63, 63] (127 levels), which the relaxed-SIMD kernel runs
      // exactly (quant.i7); fewer bits: 2^B levels shared out of the int8 grid
      const { q: q8, scales } = quantizePerChannelInt8(pruned, L.dims, L.axis, bits === 7 ? 63 : 127);
      const q = bits < 8 && bits !== 7 ? shareInt8Levels(q8, bits).q : q8;
      quantized.set(L.value, { q, scales, axis: L.axis });
      reports.push({ ...layerReport(L, q), dense: ends.has(L.node.name) });
    }
  }
  opts.onProgress?.(layers.length, layers.length, '');
  // float16 biases and scales: the network the ranges are measured on is the one stored
  if (halfFloats) outGraph = roundedToHalf(outGraph, quantized);
  // embedding tables (Gather of rows from a float32 [V, D] constant): int8 per row, no pruning
  const embeddings = embeddingTables(outGraph).filter((v) => !quantized.has(v));
  for (const v of embeddings) {
    const t = outGraph.values.get(v)!.const!;
    quantized.set(v, { ...quantizePerChannelInt8(t.data as Float32Array, [...t.dims], 0), axis: 0 });
  }

  const compression = record(allocation);
  if (embeddings.length) compression['embeddings'] = 'int8-per-row';
  const meta: Record<string, unknown> = { maxBatch: maxBatchOf(opts) };
  if (o.activations === 'static') {
    // ranges of every float activation of the *compressed* network (weights as stored, biases
    // corrected), so the int8 engine's scales match what it will see
    const deq = cloneGraph(outGraph);
    for (const L of layers) {
      const qw = quantized.get(L.value)!;
      const v = deq.values.get(L.value)!;
      v.const = { dtype: 'float32', dims: [...L.dims], data: dequantize(qw.q, qw.scales, L.dims, qw.axis) };
    }
    // default 'minmax', measured (sparrow eval, 9000 images at --offset 1000, hessian 70 %,
    // --calib-n 256; sparrow-int8 top-1 minus sparrow-f32 top-1 on the same file):
    //   minmax: mnist-8 +0.01, ResNet-20 −0.15, ResNet-32 −0.02 points
    //   mse:    mnist-8 +0.01, ResNet-20 −0.20, ResNet-32 −0.33
    //   percentile (99.99): mnist-8 +0.02, ResNet-20 −0.88, ResNet-32 −1.06
    const method = opts.activationCalibration ?? 'minmax';
    const kernel = opts.wasm ? wasmCalibAccel(opts.wasm).kernel : undefined;
    const ranges = await calibrateActivations(deq, calib!.batches, method, kernel ? { kernel } : {});
    meta['activationRanges'] = Object.fromEntries(
      [...ranges].map(([k, r]) => [k, compact ? [shortFloat32(r.min), shortFloat32(r.max)] : [r.min, r.max]]),
    );
    compression['activationCalibration'] = method;
  }
  const preprocessing = preprocessingFor(graph, opts);
  const bytes = writeModel(outGraph, { ...codecsOf(opts), quantized, preprocessing, compression, meta });
  return { bytes, layers: reports, graph };
}

/** The first and the last weight layer (by node name), kept dense and 8-bit when `denseEnds`. */
function denseEndsOf(layers: readonly WeightLayer[], denseEnds: boolean): Set<string> {
  return new Set(denseEnds && layers.length > 1 ? [layers[0]!.node.name, layers[layers.length - 1]!.node.name] : []);
}

/** What pruneLayer needs to know of layer L (without calibration inputs). */
function pruneContext(L: WeightLayer, sparsity: number, pattern: SparsityPatternOption): PruneContext {
  return {
    sparsity,
    value: L.value,
    node: L.node.name,
    op: L.op,
    attrs: L.node.attrs,
    axis: L.axis,
    pattern,
    ...(L.transB !== undefined ? { transB: L.transB } : {}),
  };
}

/**
 * A copy of `graph` whose weight layers are magnitude-pruned in float (pruned weights +0), as the
 * magnitude path of compressGraph prunes them: per layer (optionally in pairs) or one global
 * threshold over the layers with sparsityOf > 0.
 */
async function magnitudePrunedGraph(
  graph: Graph,
  layers: readonly WeightLayer[],
  sparsityOf: (node: string) => number,
  scope: PruneScope,
  sparsity: number,
  pattern: SparsityPatternOption,
): Promise<Graph> {
  const g = cloneGraph(graph);
  const pruned = layers.filter((L) => sparsityOf(L.node.name) > 0);
  const w = (L: WeightLayer): Float32Array => graph.values.get(L.value)!.const!.data as Float32Array;
  const outs =
    scope === 'global'
      ? globalMagnitudePrune(pruned.map(w), sparsity)
      : await Promise.all(pruned.map((L) => pruneLayer('magnitude', w(L), L.dims, pruneContext(L, sparsityOf(L.node.name), pattern))));
  pruned.forEach((L, i) => {
    const v = g.values.get(L.value)!;
    const d = Float32Array.from(outs[i]!, (x) => (x === 0 ? 0 : x)); // +0 (keepZeros and the masks test === 0)
    g.values.set(L.value, { ...v, const: { dtype: 'float32', dims: [...v.const!.dims], data: d } });
  });
  return g;
}

/**
 * The graph with its float32 constants other than the quantized weights rounded to float16 (where
 * every value stays finite, as graphTensors stores them), and `quantized`'s scales rounded in place
 * (where all stay positive normal halves).
 */
function roundedToHalf(graph: Graph, quantized: Map<string, QuantizedWeight>): Graph {
  const round = (x: Float32Array, positive: boolean): Float32Array | undefined => {
    const y = floatsOfHalves(halvesOf(x));
    for (let i = 0; i < x.length; i++)
      if (Number.isFinite(x[i]!) !== Number.isFinite(y[i]!) || (positive && !(y[i]! >= 2 ** -14))) return undefined;
    return y;
  };
  for (const [k, qw] of quantized) {
    const s = round(qw.scales, true);
    if (s) quantized.set(k, { ...qw, scales: s });
  }
  const g = cloneGraph(graph);
  for (const [name, v] of g.values) {
    if (!v.const || v.const.dtype !== 'float32' || quantized.has(name) || v.const.data.length < 2) continue;
    const y = round(v.const.data as Float32Array, false);
    if (y) v.const = { dtype: 'float32', dims: [...v.const.dims], data: y };
  }
  return g;
}

/** opts.metadata (checked), else 'deflate' with a size target and 'plain' without. */
export function metadataModeOf(o: CompressOptions): MetadataMode {
  const m = o.metadata ?? (o.targetBytes !== undefined ? 'deflate' : 'plain');
  if (!METADATA_MODES.includes(m))
    throw new SparrowError('invalid_argument', `the metadata mode must be ${METADATA_MODES.join(', ')}, got ${String(m)}`);
  return m;
}

/**
 * ONNX bytes → optimized graph → `.sparrow` bytes. A model already quantized in QDQ form keeps
 * its int8 weights and its activation parameters (compressQdqGraph).
 */
export async function compressOnnx(onnx: Uint8Array, opts: CompressOptions = {}): Promise<CompressResult> {
  resolveCompressOptions(opts); // fail before the work
  const graph = importOnnx(onnx);
  // QOperator form (QLinearConv, ConvInteger...) first rewritten into QDQ form (src/ir/qoperator.ts)
  const qop = lowerQOperator(graph);
  const fromQop = qop.qlinear + qop.integer > 0;
  if (fromQop || graph.nodes.some((n) => n.domain === '' && (n.op === 'QuantizeLinear' || n.op === 'DequantizeLinear'))) {
    const qdq = extractQdq(graph);
    if (qdq.weights.size > 0) return compressQdqGraph(graph, qdq, opts, fromQop ? 'qoperator' : 'qdq');
  }
  optimize(graph);
  return compressGraph(graph, opts);
}

/**
 * A QDQ model (src/ir/qdq.ts already applied to `graph`; a QOperator model first rewritten by
 * src/ir/qoperator.ts, `source` 'qoperator'): its int8 weights are stored as they are
 * (entropy-coded, no pruning or quantizing again; weights it left float are quantized per channel),
 * and its activation pairs become the stored static ranges, whose int8 parameters are the pairs'
 * own. Options that would change the weights (sparsity, pruning, weight bits, a size target) or
 * measure ranges again (calibration) are refused: the model was quantized by its tool.
 */
export async function compressQdqGraph(
  graph: Graph,
  qdq: QdqInt8,
  opts: CompressOptions,
  source: 'qdq' | 'qoperator' = 'qdq',
): Promise<CompressResult> {
  const refused = (
    [
      ['--sparsity', opts.sparsity !== undefined && opts.sparsity !== 0],
      ['--prune', opts.prune !== undefined],
      ['--weight-bits', opts.weightBits !== undefined && opts.weightBits !== 8],
      ['--target-size', opts.targetBytes !== undefined],
      ['--calib', opts.calib !== undefined],
    ] as const
  ).filter(([, on]) => on);
  if (refused.length > 0) {
    throw new SparrowError(
      'invalid_argument',
      `the model is already quantized (QDQ: ${qdq.weights.size} int8 weights, ${qdq.ranges.size} activation pairs): ` +
        `compress keeps its weights and parameters, so ${refused.map(([f]) => f).join(', ')} cannot apply`,
    );
  }
  optimize(graph);
  const quantized = new Map<string, QuantizedWeight>();
  const reports: LayerReport[] = [];
  const layers = weightLayers(graph);
  for (const L of layers) {
    const w = qdq.weights.get(L.value);
    if (w && w.axis === L.axis) quantized.set(L.value, { q: w.q, scales: w.scales, axis: w.axis });
    else {
      const { q, scales } = quantizePerChannelInt8(graph.values.get(L.value)!.const!.data as Float32Array, L.dims, L.axis);
      quantized.set(L.value, { q, scales, axis: L.axis });
    }
    reports.push(layerReport(L, quantized.get(L.value)!.q));
  }
  const ranges = [...qdq.ranges].filter(([k]) => graph.values.has(k) && !graph.values.get(k)!.const);
  const activations = opts.activations ?? (ranges.length > 0 ? 'static' : 'dynamic');
  const compression: CompressionRecord = { prune: 'none', sparsity: 0, weightBits: 8, activations, bias: 'float32' };
  // the source's requantization is the engine's for this file (sparrow-int8 'onnx')
  compression['source'] = source;
  const meta: Record<string, unknown> = { maxBatch: maxBatchOf(opts) };
  if (activations === 'static') meta['activationRanges'] = Object.fromEntries(ranges);
  const bytes = writeSparrowModel(graph, { ...codecsOf(opts), quantized, preprocessing: preprocessingFor(graph, opts), compression, meta });
  return { bytes, layers: reports, graph };
}

/**
 * Per-layer steps for a file of at most `target` bytes (allocate.ts): H of every layer from the
 * float network, candidates α·rms steps (levels capped by weight bits), sensitivities measured
 * as the KL divergence of the outputs on up to 64 calibration images. The bytes outside the
 * weight streams (graph, biases, scales) are measured by writing the model with empty weights.
 */
async function prepareSizeTarget(
  graph: Graph,
  layers: WeightLayer[],
  calibLayers: Map<string, CalibLayer>,
  batches: readonly Tensor[],
  weightBits: number,
  accel: ReturnType<typeof wasmCalibAccel> | undefined,
  opts: CompressOptions,
  meta?: Record<string, unknown>,
  maskOf?: (node: string, W: Float32Array, H: Float64Array) => Uint8Array,
  writeModel: (g: Graph, w: WriteModelOptions) => Uint8Array = writeSparrowModel,
): Promise<{ table: SensitivityTable; fixed: number; masks?: Map<string, Uint8Array> }> {
  const maxq = 2 ** (weightBits - 1) - 1;
  const stats = collectLayerInputs(graph, batches, [...calibLayers.values()], accel ? { accel } : {});
  // fixed masks (obs): chosen once per layer on the float network's H, per group
  const masks = maskOf ? new Map<string, Uint8Array>() : undefined;
  if (masks && maskOf) {
    for (const L of layers) {
      const cl = calibLayers.get(L.node.name)!;
      const st = stats.get(L.node.name)!;
      const W = weightRowsK(graph, cl);
      const G = st.groupH.length,
        rpg = cl.rows / G,
        K = cl.K;
      const m = new Uint8Array(W.length);
      for (let g = 0; g < G; g++) m.set(maskOf(L.node.name, W.slice(g * rpg * K, (g + 1) * rpg * K), st.groupH[g]!), g * rpg * K);
      masks.set(L.node.name, m);
    }
  }
  // fixed cost: the file with all-zero weights, minus those weights' own coded bytes
  const zeros = new Map<string, QuantizedWeight>();
  let zeroCoded = 0;
  for (const L of layers) {
    const q = new Int8Array(elementCountOf(L.dims));
    const rows = L.dims[L.axis]!;
    zeros.set(L.value, { q, scales: new Float32Array(rows).fill(1), axis: L.axis });
    zeroCoded +=
      encodeInt8(q, { cols: q.length / rows, ...(opts.int8Codecs ? { codecs: opts.int8Codecs } : {}) }).payload.length + 4 * rows;
  }
  const fixed =
    writeModel(graph, {
      ...codecsOf(opts),
      quantized: zeros,
      preprocessing: preprocessingFor(graph, opts),
      ...(meta ? { meta } : {}),
    }).length - zeroCoded;
  // sensitivity images and the float outputs
  const input = graph.inputs[0]!;
  const sens: Tensor[] = [];
  let n = 0;
  for (const b of batches) {
    if (n >= 64) break;
    sens.push(b);
    n += b.dims[0] ?? 1;
  }
  const floatOut: Float32Array[] = [];
  const fs = Session.fromGraph(graph, { engine: 'sparrow-f32' });
  const outName = graph.outputs[0]!;
  for (const b of sens) floatOut.push((await fs.run({ [input]: b }))[outName]!.data as Float32Array);
  const classes = graph.values.get(outName)?.info.dims?.slice(-1)[0] ?? 1;
  const lossWith = async (node: string, W: Float32Array): Promise<number> => {
    const s = Session.fromGraph(withPrunedWeights(graph, new Map([[node, W]])), { engine: 'sparrow-f32' });
    let sum = 0;
    for (let i = 0; i < sens.length; i++) {
      const y = (await s.run({ [input]: sens[i]! }))[outName]!.data as Float32Array;
      sum += meanKl(floatOut[i]!, y, classes > 0 ? classes : y.length) * (sens[i]!.dims[0] ?? 1);
    }
    return sum / n;
  };
  const allocLayers = layers.map((L) => {
    const cl = calibLayers.get(L.node.name)!;
    const st = stats.get(L.node.name)!;
    const mask = masks?.get(L.node.name);
    return {
      node: L.node.name,
      W: weightRowsK(graph, cl),
      groupH: st.groupH,
      K: cl.K,
      ...(mask ? { mask } : {}),
      ...(cl.layout === 'rowsK' ? { dims: L.dims } : {}),
    };
  });
  const candidates: Candidate[] = DEFAULT_ALPHAS.map((a) => ({ step: { rms: a }, maxq, sparsity: 0 }));
  const table = await measureSensitivity(
    allocLayers,
    candidates,
    { step: { rms: 1 }, maxq, sparsity: 0 },
    lossWith,
    (i, total, node) => opts.onProgress?.(i, 2 * total, `sensitivity ${node}`),
    opts.int8Codecs,
  );
  return { table, fixed, ...(masks ? { masks } : {}) };
}

function preprocessingFor(graph: Graph, opts: CompressOptions): Preprocessing | null {
  const input = graph.inputs[0];
  return opts.preprocessing && input
    ? {
        input,
        layout: 'NCHW',
        scale: opts.preprocessing.scale,
        ...(opts.preprocessing.mean ? { mean: opts.preprocessing.mean } : {}),
        ...(opts.preprocessing.std ? { std: opts.preprocessing.std } : {}),
      }
    : null;
}

/**
 * meta.activationRanges for every float activation, with typical float32-as-JSON numbers (conservative: real minima are often 0);
 * `short`: as shortFloat32 prints them (at most 9 digits)
 */
function placeholderRanges(graph: Graph, short = false): Record<string, unknown> {
  if (!short)
    return { activationRanges: Object.fromEntries(activationValues(graph).map((v) => [v, [-2.7182817459106445, 2.7182817459106445]])) };
  // 8 pseudo-random digits each, so that a deflated block is not smaller than with the real ranges
  let seed = 12345;
  const r = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return 1 + (seed % 89999999) / 1e7;
  };
  return { activationRanges: Object.fromEntries(activationValues(graph).map((v) => [v, [-r(), r()]])) };
}

/** An A/B switch from the environment for measurements (SPARROW_FLOAT_TARGETS=0); `dflt` where there is no process. */
function envFlag(name: string, dflt: boolean): boolean {
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  return v === undefined || v === '' ? dflt : v !== '0';
}

function elementCountOf(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
