// A `.sparrow` model file as the runtime sees it: the graph (src/format/graph.ts) with its
// int8 weights dequantized to float32, the preprocessing its producer stored, and the
// compression record. Plain TS (browser/Worker safe).
import { SparrowError } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import type { Tensor } from '../ops/types.js';
import type { ReadOptions, SparrowMeta } from '../format/container.js';
import type { Int8CodecId } from '../codec/int8.js';
import type { Int8Decode } from '../wasm/decode.js';
import { readGraphContainer, writeGraphContainer, type CodedInt8, type QuantizedWeight, type StoredInt8 } from '../format/graph.js';

/**
 * How raw pixels become the model's input (metadata.preprocessing): for image input `input`
 * (NCHW), x = (pixel · scale − mean[c]) / std[c]; mean/std absent = 0/1.
 */
export interface Preprocessing {
  input: string;
  layout: 'NCHW';
  /** pixel scale, 1/255 for 8-bit images */
  scale: number;
  mean?: number[];
  std?: number[];
}

/** What `sparrow compress` did (metadata.compression); informational. */
export interface CompressionRecord {
  prune: string;
  sparsity: number;
  weightBits: number;
  activations: 'dynamic' | 'static';
  /** biases as stored: float32, or float16 (WriteModelOptions.halfFloats); int32 biases come with the int8 engine */
  bias: 'float32' | 'float16';
  calib?: { spec: string; n: number };
  [extra: string]: unknown;
}

export interface SparrowModel {
  /** the optimized graph; quantized weights as float32 q·scale */
  graph: Graph;
  /** value name → the stored int8 weight and its scales */
  int8: Map<string, StoredInt8>;
  /**
   * value name → the coded int8 weight (codec, payload, dims, axis, scales), when loaded with
   * `codedInt8: true` (the sparrow-int8 engine decodes it in WASM); those weights are then
   * not in `int8`, and their float32 graph constants dequantize lazily on first access
   */
  coded: Map<string, CodedInt8>;
  /** metadata.activationRanges (value → [min, max]) when the file has static ranges, else null */
  activationRanges: Map<string, [number, number]> | null;
  preprocessing: Preprocessing | null;
  compression: CompressionRecord | null;
  /** metadata.maxBatch: the largest batch (axis 0 of a symbolic-batch input) the model is meant to serve; null when absent */
  maxBatch: number | null;
  meta: SparrowMeta;
}

/** The maxBatch `sparrow compress` stores unless told otherwise (`--max-batch`). */
export const DEFAULT_MAX_BATCH = 32;
/** Largest maxBatch a file may state. */
export const MAX_MAX_BATCH = 65536;

/** metadata.maxBatch: a positive integer (≤ MAX_MAX_BATCH) or absent (null); anything else → corrupt_metadata. */
export function parseMaxBatch(x: unknown): number | null {
  if (x === undefined || x === null) return null;
  if (!Number.isSafeInteger(x) || (x as number) < 1 || (x as number) > MAX_MAX_BATCH) {
    throw new SparrowError(
      'corrupt_metadata',
      `maxBatch must be an integer in 1..${MAX_MAX_BATCH}, got ${JSON.stringify(x)?.slice(0, 40)}`,
    );
  }
  return x as number;
}

const corrupt = (msg: string): SparrowError => new SparrowError('corrupt_metadata', `preprocessing metadata: ${msg}`);

function numbers(x: unknown, what: string, positive: boolean): number[] {
  if (!Array.isArray(x) || x.length === 0 || x.some((v) => typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0))) {
    throw corrupt(
      `${what} must be a non-empty array of finite${positive ? ' positive' : ''} numbers, got ${JSON.stringify(x)?.slice(0, 60)}`,
    );
  }
  return x as number[];
}

/** Validates metadata.preprocessing against the graph; null when absent. */
export function parsePreprocessing(x: unknown, graph: Graph): Preprocessing | null {
  if (x === null || x === undefined) return null;
  if (typeof x !== 'object' || Array.isArray(x)) throw corrupt(`must be an object or null, got ${JSON.stringify(x)?.slice(0, 60)}`);
  const p = x as Record<string, unknown>;
  if (typeof p.input !== 'string' || !graph.inputs.includes(p.input))
    throw corrupt(`input ${JSON.stringify(p.input)} is not a graph input (${graph.inputs.join(', ')})`);
  if (p.layout !== 'NCHW') throw corrupt(`layout ${JSON.stringify(p.layout)} is not supported (NCHW)`);
  if (typeof p.scale !== 'number' || !Number.isFinite(p.scale) || p.scale <= 0)
    throw corrupt(`scale must be a finite positive number, got ${JSON.stringify(p.scale)}`);
  const out: Preprocessing = { input: p.input, layout: 'NCHW', scale: p.scale };
  const info = graph.values.get(p.input)!.info;
  const channels = info.dims && info.dims.length >= 2 ? info.dims[1]! : -1;
  for (const k of ['mean', 'std'] as const) {
    if (p[k] === undefined || p[k] === null) continue;
    const v = numbers(p[k], k, k === 'std');
    if (channels >= 0 && v.length !== channels) throw corrupt(`${k} has ${v.length} values, input '${p.input}' has ${channels} channels`);
    out[k] = [...v];
  }
  if (info.dtype !== 'float32') throw corrupt(`input '${p.input}' is ${info.dtype}; preprocessing applies to float32 inputs`);
  return out;
}

/** Reads a `.sparrow` model (everything checked; see readGraphContainer). */
export function loadSparrowModel(
  bytes: Uint8Array,
  opts: ReadOptions & { codedInt8?: boolean; decodeInt8?: Int8Decode } = {},
): SparrowModel {
  const { graph, int8, coded, meta } = readGraphContainer(bytes, opts);
  const preprocessing = parsePreprocessing(meta.preprocessing, graph);
  const c = meta.compression;
  const compression = c && typeof c === 'object' && !Array.isArray(c) ? (c as CompressionRecord) : null;
  return {
    graph,
    int8,
    coded,
    activationRanges: parseActivationRanges(meta['activationRanges'], graph),
    preprocessing,
    compression,
    maxBatch: parseMaxBatch(meta['maxBatch']),
    meta,
  };
}

/**
 * metadata.activationRanges: { value: [min, max] } for values of the graph (names it does not
 * have are ignored); null when absent. Malformed entries → corrupt_metadata.
 */
export function parseActivationRanges(x: unknown, graph: Graph): Map<string, [number, number]> | null {
  if (x === null || x === undefined) return null;
  const bad = (m: string): SparrowError => new SparrowError('corrupt_metadata', `activationRanges: ${m}`);
  if (typeof x !== 'object' || Array.isArray(x)) throw bad(`must be an object, got ${JSON.stringify(x)?.slice(0, 60)}`);
  const out = new Map<string, [number, number]>();
  for (const [k, v] of Object.entries(x as Record<string, unknown>)) {
    if (
      !Array.isArray(v) ||
      v.length !== 2 ||
      v.some((e) => typeof e !== 'number' || !Number.isFinite(e)) ||
      (v[0] as number) > (v[1] as number)
    ) {
      throw bad(`'${k}' must be [min, max] (finite, min ≤ max), got ${JSON.stringify(v)?.slice(0, 60)}`);
    }
    if (graph.values.has(k)) out.set(k, [v[0] as number, v[1] as number]);
  }
  return out;
}

export interface WriteModelOptions {
  quantized?: ReadonlyMap<string, QuantizedWeight>;
  /** int8 codecs allowed (default: the Huffman family; include 4 for rANS, docs/format.md) */
  int8Codecs?: readonly Int8CodecId[];
  preprocessing?: Preprocessing | null;
  compression?: CompressionRecord;
  /** further metadata fields */
  meta?: Record<string, unknown>;
  /**
   * Names of values that metadata refers to (besides graph inputs/outputs and stored constants,
   * which always keep theirs); the keys of `meta.activationRanges` are added automatically.
   * Every other internal value is written unnamed (src/format/graph.ts).
   */
  keepNames?: Iterable<string>;
  /** float32 constants (biases) and int8 scales stored as float16 where they stay finite (docs/format.md valueDtype) */
  halfFloats?: boolean;
}

/** A `.sparrow` model file of an (optimized) graph. */
export function writeSparrowModel(graph: Graph, opts: WriteModelOptions = {}): Uint8Array {
  const ranges = opts.meta?.['activationRanges'];
  const keepNames = [
    ...(opts.keepNames ?? []),
    ...(ranges && typeof ranges === 'object' && !Array.isArray(ranges) ? Object.keys(ranges).filter((n) => graph.values.has(n)) : []),
  ];
  return writeGraphContainer(graph, {
    ...(opts.quantized ? { quantized: opts.quantized } : {}),
    ...(opts.int8Codecs ? { int8Codecs: opts.int8Codecs } : {}),
    ...(opts.halfFloats ? { halfFloats: true } : {}),
    keepNames,
    meta: {
      ...opts.meta,
      preprocessing: opts.preprocessing ?? null,
      ...(opts.compression ? { compression: opts.compression } : {}),
    },
  });
}

/**
 * The mean/std that `imageBatch` (which divides pixels by 255) needs to reproduce `pre`:
 * (p·s − m)/d = (p/255 − m/(255s)) / (d/(255s)).
 */
export function imageBatchParams(pre: Preprocessing): { mean?: number[]; std?: number[] } {
  const k = 255 * pre.scale;
  if (k === 1) return { ...(pre.mean ? { mean: pre.mean } : {}), ...(pre.std ? { std: pre.std } : {}) };
  const c = pre.mean?.length ?? pre.std?.length;
  if (c === undefined) return { std: [1 / k] }; // one channel assumed; imageBatch checks the count
  return {
    mean: Array.from({ length: c }, (_, i) => (pre.mean?.[i] ?? 0) / k),
    std: Array.from({ length: c }, (_, i) => (pre.std?.[i] ?? 1) / k),
  };
}

/** Raw uint8 pixels (NCHW) → the float32 input `pre` describes. */
export function preprocessPixels(t: Tensor, pre: Pick<Preprocessing, 'scale' | 'mean' | 'std'>): Tensor {
  if (t.dtype !== 'uint8') throw new SparrowError('invalid_argument', `preprocessing takes uint8 pixels, got ${t.dtype}`);
  if (t.dims.length < 2) throw new SparrowError('invalid_argument', `preprocessing takes NCHW pixels, got dims [${t.dims}]`);
  const C = t.dims[1]!;
  let inner = 1;
  for (let k = 2; k < t.dims.length; k++) inner *= t.dims[k]!;
  for (const [k, v] of [
    ['mean', pre.mean],
    ['std', pre.std],
  ] as const) {
    if (v && v.length !== C) throw new SparrowError('invalid_argument', `${k} has ${v.length} values, the input has ${C} channels`);
  }
  const src = t.data as Uint8Array;
  const out = new Float32Array(src.length);
  const by255 = 255 * pre.scale === 1; // as imageBatch: pixel / 255
  for (let i = 0; i < src.length; i++) {
    const c = Math.floor(i / inner) % C;
    const x = by255 ? src[i]! / 255 : src[i]! * pre.scale;
    out[i] = (x - (pre.mean?.[c] ?? 0)) / (pre.std?.[c] ?? 1);
  }
  return { dtype: 'float32', dims: [...t.dims], data: out };
}
