// Static activation calibration for int8 inference.
//
//   calibrateActivations(graph, batches, method, opts) → Map<value name, { min, max }>
//
// runs the float graph with the reference executor (src/runtime/reference.ts, through its
// beforeNode hook: every value is observed once per batch, at its first reader; graph outputs
// and unread values from the results) over the calibration batches and returns a clipping
// range for every float32 activation: the graph inputs and every node output that is not a
// constant. Memory is bounded: each value keeps its exact min/max and one streaming histogram
// (ActivationHistogram: `bins` bins over [−R, R], R a power of two that doubles, merging bin
// pairs exactly, whenever a value falls outside), whatever the number of batches.
//
// Methods (CalibrationMethod):
//   'minmax'      the observed [min, max];
//   'percentile'  the two tails cut at `percentile` (default 99.99): max = the smallest bin edge
//                 with at least percentile % of the values at or below it, min likewise from the
//                 other side, both clamped to the observed range (100 gives minmax exactly);
//                 monotone in the percentile;
//   'mse'         the range minimising histogramQuantMse — the squared error of int8 asymmetric
//                 quantization (int8QuantParams of the range) of the bin centres, weighted by
//                 their counts (the MSE calibrator of TensorRT's pytorch-quantization / ORT's
//                 histogram calibrators, asymmetric): a search over [α·min, α·max] followed by
//                 coordinate descent on each end over the bin edges; the observed range is a
//                 candidate, so the choice is never worse than minmax on this objective.
//
// The quantization parameters of a range (int8QuantParams), the int32 biases and the rest of
// the scheme live in src/quant/int8.ts.
//
// compress.ts stores these ranges as metadata.activationRanges {value: [min, max]} (--activations
// static); plain TS.
import { SparrowError } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import type { Tensor } from '../ops/types.js';
import { runReference, type ReferenceOptions } from '../runtime/reference.js';
import { int8QuantParams, roundHalfEven } from '../quant/int8.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'mse';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'mse'];

/** A clipping range of real values, min ≤ max. */
export interface ActivationRange {
  min: number;
  max: number;
}

export interface CalibrateOptions {
  /** 'percentile': the percentile of each tail kept, in (0, 100] (default 99.99) */
  percentile?: number;
  /** histogram bins per value, a multiple of 4, ≥ 16 (default 2048) */
  bins?: number;
  /** only these values (default: every float32 activation) */
  values?: readonly string[];
  /** replacement kernels for the forward passes (e.g. WASM convolutions, src/compress/accel.ts) */
  kernel?: ReferenceOptions['kernel'];
}

export const CALIBRATE_DEFAULTS = { percentile: 99.99, bins: 2048 };

// ---------------------------------------------------------------------------------------------
// the streaming histogram

/**
 * Counts of values in `bins` equal bins over [−R, R] (R a power of two, doubled as needed, so
 * earlier counts are merged exactly), plus the exact min, max and count. Non-finite values are
 * an error (a float model whose activations overflow cannot be calibrated).
 */
export class ActivationHistogram {
  readonly bins: number;
  readonly counts: Float64Array;
  /** half-width of the histogram's range; 0 until a nonzero value is seen */
  radius = 0;
  min = Infinity;
  max = -Infinity;
  count = 0;
  /** values equal to 0 seen while radius was 0 */
  private zeros = 0;

  constructor(bins = CALIBRATE_DEFAULTS.bins) {
    if (!Number.isInteger(bins) || bins < 16 || bins % 4 !== 0)
      throw new SparrowError('invalid_argument', `histogram bins must be a multiple of 4, at least 16, got ${bins}`);
    this.bins = bins;
    this.counts = new Float64Array(bins);
  }

  /** bin width */
  get width(): number {
    return (2 * this.radius) / this.bins;
  }

  /** lower edge of bin i */
  edge(i: number): number {
    return -this.radius + i * this.width;
  }

  /** Makes the radius the smallest power of two ≥ a (never shrinking), merging bin pairs as it doubles. */
  private grow(a: number): void {
    if (this.radius === 0) {
      let r = 2 ** Math.ceil(Math.log2(a));
      while (r < a) r *= 2;
      this.radius = r;
      if (this.zeros) {
        this.counts[this.bins / 2]! += this.zeros;
        this.zeros = 0;
      }
      return;
    }
    const B = this.bins,
      c = this.counts;
    while (this.radius < a) {
      // new bin B/4 + i = old bins 2i, 2i+1 (the old range is the middle half of the new one)
      const merged = new Float64Array(B);
      for (let i = 0; i < B / 2; i++) merged[B / 4 + i] = c[2 * i]! + c[2 * i + 1]!;
      c.set(merged);
      this.radius *= 2;
    }
  }

  /** Adds values (any numeric array). */
  add(data: ArrayLike<number>): void {
    let lo = Infinity,
      hi = -Infinity,
      nan = false;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (v !== v) nan = true;
    }
    if (data.length === 0) return;
    if (nan || !Number.isFinite(lo) || !Number.isFinite(hi))
      throw new SparrowError('invalid_argument', 'calibration met a non-finite activation (NaN or ±Infinity)');
    if (lo < this.min) this.min = lo;
    if (hi > this.max) this.max = hi;
    this.count += data.length;
    const a = Math.max(-lo, hi);
    if (a === 0 && this.radius === 0) {
      this.zeros += data.length;
      return;
    }
    if (a > this.radius) this.grow(a);
    const B = this.bins,
      R = this.radius,
      k = B / (2 * R),
      c = this.counts;
    for (let i = 0; i < data.length; i++) {
      let b = Math.floor((data[i]! + R) * k);
      if (b >= B) b = B - 1;
      else if (b < 0) b = 0;
      c[b]++;
    }
  }

  /** The histogram as bin centres with counts (empty bins included). */
  centres(): Float64Array {
    const out = new Float64Array(this.bins);
    const w = this.width;
    for (let i = 0; i < this.bins; i++) out[i] = -this.radius + (i + 0.5) * w;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// choosing a range from a histogram

/**
 * The int8 asymmetric quantization error of the histogram for a clipping range: Σ counts[i] ·
 * (x̂(c_i) − c_i)² / Σ counts, c_i the bin centres, x̂ quantize-then-dequantize with
 * int8QuantParams(range) (values beyond the range are clipped to it).
 */
export function histogramQuantMse(h: ActivationHistogram, range: ActivationRange, centres = h.centres()): number {
  if (h.count === 0) return 0;
  const p = int8QuantParams(range);
  const c = h.counts,
    inv = 1 / p.scale;
  let e = 0,
    n = 0;
  for (let i = 0; i < c.length; i++) {
    const k = c[i]!;
    if (k === 0) continue;
    const x = centres[i]!;
    let q = roundHalfEven(x * inv) + p.zeroPoint;
    q = q < -128 ? -128 : q > 127 ? 127 : q;
    const d = (q - p.zeroPoint) * p.scale - x;
    e += k * d * d;
    n += k;
  }
  return e / n;
}

/** The observed range ([0, 0] when nothing was seen). */
function observed(h: ActivationHistogram): ActivationRange {
  return h.count ? { min: h.min, max: h.max } : { min: 0, max: 0 };
}

/** Both tails cut at `percentile` % (see the file comment). */
export function percentileRange(h: ActivationHistogram, percentile: number): ActivationRange {
  if (!(percentile > 0 && percentile <= 100))
    throw new SparrowError('invalid_argument', `percentile must be in (0, 100], got ${percentile}`);
  const obs = observed(h);
  if (percentile === 100 || h.count === 0 || h.radius === 0) return obs;
  const need = (percentile / 100) * h.count;
  const c = h.counts,
    B = h.bins;
  let acc = 0,
    hi = obs.max;
  for (let i = 0; i < B; i++) {
    acc += c[i]!;
    if (acc >= need) {
      hi = Math.min(obs.max, h.edge(i + 1));
      break;
    }
  }
  acc = 0;
  let lo = obs.min;
  for (let i = B - 1; i >= 0; i--) {
    acc += c[i]!;
    if (acc >= need) {
      lo = Math.max(obs.min, h.edge(i));
      break;
    }
  }
  if (lo > hi) lo = hi = (lo + hi) / 2; // only when a single bin holds both tails
  return { min: lo, max: hi };
}

/** The range minimising histogramQuantMse (see the file comment). */
export function mseRange(h: ActivationHistogram): ActivationRange {
  const obs = observed(h);
  if (h.count === 0 || h.radius === 0 || obs.min === obs.max) return obs;
  const centres = h.centres();
  const cost = (r: ActivationRange): number => histogramQuantMse(h, r, centres);
  let best = obs,
    bestCost = cost(obs);
  const consider = (r: ActivationRange): void => {
    if (!(r.min <= r.max)) return;
    const e = cost(r);
    if (e < bestCost) {
      best = r;
      bestCost = e;
    }
  };
  // 1. shrink both ends together
  for (let k = 1; k <= 128; k++) {
    const a = 1 - k / 130;
    consider({ min: obs.min * a, max: obs.max * a });
  }
  // 2. coordinate descent over bin edges inside the observed range (up to 256 candidates per end)
  const B = h.bins;
  const step = Math.max(1, Math.floor(B / 256));
  const his: number[] = [],
    los: number[] = [];
  for (let i = 0; i <= B; i += step) {
    const e = h.edge(i);
    if (e > 0 && e < obs.max) his.push(e);
    if (e < 0 && e > obs.min) los.push(e);
  }
  his.push(obs.max);
  los.push(obs.min);
  for (let sweep = 0; sweep < 3; sweep++) {
    const before = bestCost;
    if (obs.max > 0) {
      const lo = best.min;
      for (const e of his) consider({ min: lo, max: e });
    }
    if (obs.min < 0) {
      const hi = best.max;
      for (const e of los) consider({ min: e, max: hi });
    }
    if (bestCost >= before) break;
  }
  return best;
}

/** The range of one histogram by `method`. */
export function chooseRange(
  h: ActivationHistogram,
  method: CalibrationMethod,
  opts: Pick<CalibrateOptions, 'percentile'> = {},
): ActivationRange {
  switch (method) {
    case 'minmax':
      return observed(h);
    case 'percentile':
      return percentileRange(h, opts.percentile ?? CALIBRATE_DEFAULTS.percentile);
    case 'mse':
      return mseRange(h);
    default:
      throw new SparrowError('invalid_argument', `calibration method must be ${CALIBRATION_METHODS.join(', ')}, got ${String(method)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// running the graph

/** The float32 activations of a graph: graph inputs, then non-constant node outputs in node order. */
export function activationValues(graph: Graph): string[] {
  const out: string[] = [];
  const isF32 = (n: string): boolean => {
    const v = graph.values.get(n);
    return !!v && !v.const && v.info.dtype === 'float32';
  };
  for (const i of graph.inputs) if (isF32(i)) out.push(i);
  for (const n of graph.nodes) for (const o of n.outputs) if (o && isF32(o)) out.push(o);
  return out;
}

/**
 * Runs the float graph (reference kernels) on every batch and returns, for every float32
 * activation (or `opts.values`), its calibrated range by `method`. A batch is a tensor for the
 * graph's only input, or the feeds by input name.
 */
export async function calibrateActivations(
  graph: Graph,
  batches: ReadonlyArray<Tensor | Record<string, Tensor>>,
  method: CalibrationMethod,
  opts: CalibrateOptions = {},
): Promise<Map<string, ActivationRange>> {
  if (!CALIBRATION_METHODS.includes(method))
    throw new SparrowError('invalid_argument', `calibration method must be ${CALIBRATION_METHODS.join(', ')}, got ${String(method)}`);
  if (opts.percentile !== undefined && !(opts.percentile > 0 && opts.percentile <= 100))
    throw new SparrowError('invalid_argument', `percentile must be in (0, 100], got ${opts.percentile}`);
  if (batches.length === 0) throw new SparrowError('invalid_argument', 'calibration needs at least one batch');
  const all = activationValues(graph);
  const wanted = opts.values ? [...opts.values] : all;
  for (const v of wanted)
    if (!all.includes(v)) throw new SparrowError('invalid_argument', `'${v}' is not a float32 activation of the graph`);
  const hists = new Map(wanted.map((v) => [v, new ActivationHistogram(opts.bins ?? CALIBRATE_DEFAULTS.bins)]));

  // graph outputs and values no node reads come back as outputs; the rest are seen at their first reader
  const read = new Set<string>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) read.add(i);
  const extra = wanted.filter((v) => !read.has(v) && !graph.outputs.includes(v));
  const g: Graph = extra.length ? { ...graph, outputs: [...graph.outputs, ...extra] } : graph;

  for (const b of batches) {
    const feeds = isTensor(b) ? singleFeed(graph, b) : b;
    const seen = new Set<string>();
    const observe = (name: string, t: Tensor | undefined): void => {
      const h = hists.get(name);
      if (!h || !t || seen.has(name)) return;
      seen.add(name);
      h.add(t.data as Float32Array);
    };
    const outs = runReference(g, feeds, {
      checkShapes: false,
      beforeNode: (node, inputs) => node.inputs.forEach((n, k) => observe(n, inputs[k])),
      ...(opts.kernel ? { kernel: opts.kernel } : {}),
    });
    for (const i of graph.inputs) observe(i, feeds[i]);
    for (const [n, t] of Object.entries(outs)) observe(n, t);
    await Promise.resolve(); // let other work run between batches
  }
  const out = new Map<string, ActivationRange>();
  for (const [v, h] of hists) out.set(v, chooseRange(h, method, opts));
  return out;
}

function isTensor(x: Tensor | Record<string, Tensor>): x is Tensor {
  return typeof (x as Tensor).dtype === 'string' && ArrayBuffer.isView((x as Tensor).data);
}

function singleFeed(graph: Graph, t: Tensor): Record<string, Tensor> {
  if (graph.inputs.length !== 1)
    throw new SparrowError(
      'invalid_argument',
      `a batch given as one tensor needs a one-input graph; this one has ${graph.inputs.length} inputs (give feeds by name)`,
    );
  return { [graph.inputs[0]!]: t };
}
