// Resize (ONNX opsets 10, 11, 13, 18, 19) and Upsample (7: scales attribute, 9: scales input)
// reference kernels and shape functions, following onnx/reference/ops/op_resize.py:
//
//  * Output size. From `sizes` (int64) as given, or with keep_aspect_ratio_policy (18+)
//    not_larger / not_smaller: one scale = min / max of sizes[i] / in[d] over the resized axes,
//    out = round_half_up(scale * in). From `scales` (float32): out = floor(scale * in), the
//    product taken in float32 as onnxruntime and ONNX shape inference do (roi does not change
//    the output size in either, whatever the spec's formula says).
//  * Every resized axis is processed on its own (separable filters), in the order of the axes
//    attribute (else 0, 1, ...), with float64 intermediates. An axis whose scale is 1 (isclose), size unchanged and roi the whole
//    axis is copied as is. Per output coordinate x along an axis of input length L:
//      x_original from coordinate_transformation_mode (half_pixel, half_pixel_symmetric,
//      pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn, tf_crop_and_resize;
//      opset 10 and Upsample: asymmetric), where "output_width" is scale * L as a real number
//      when scales (or a keep_aspect_ratio_policy) give the scale (as in the ONNX reference:
//      align_corners with a fractional scale * L uses it, not the integer output length), the
//      output length with plain sizes; pytorch_half_pixel maps a length-1 output to 0 (the spec
//      and onnxruntime; the ONNX reference says -0.5);
//      i0 = floor(x_original), or x_original - 1 when it is an integer; ratio = x_original - i0
//      in (0, 1]; taps i0 + start .. i0 + start + n - 1, clamped into [0, L - 1] (edge padding);
//      weights: linear [1 - ratio, ratio]; cubic (start -1) Keys' cubic with a = cubic_coeff_a;
//      antialias (18+, linear/cubic): the filter stretched by 1 / min(scale, 1), weights
//      normalized to sum 1; exclude_outside: weights of taps outside [0, L) set to 0, then the
//      weights renormalized.
//      tf_crop_and_resize: x_original outside [0, L - 1] gives extrapolation_value.
//  * nearest: the one tap chosen by nearest_mode (round_prefer_floor, round_prefer_ceil, floor,
//    ceil; x_original an integer picks itself), clamped into [0, L - 1]; opset 10 and Upsample
//    use onnxruntime's rule ("simple": ceil when the axis is downsampled, else floor).
//
// NaN/Inf: linear and cubic outputs are the weighted sums of the ONNX reference over all n taps,
// so a NaN or Inf under a tap of weight 0 still poisons the output (0 * Inf = NaN), as there.
// nearest copies the chosen element: the reference computes nearest as the same dot product
// with weights [1, 0] (a NaN/Inf beside the chosen pixel leaks into it); Sparrow, like
// onnxruntime, does not. Integer tensors: linear/cubic results rounded half to even and
// saturated (the reference's saturate_cast); nearest copies exactly (int64 too).
//
// Opset differences: 10 (X, scales; nearest/linear; asymmetric); 11 (roi, scales, sizes inputs,
// cubic, coordinate_transformation_mode, nearest_mode, cubic_coeff_a, exclude_outside,
// extrapolation_value; scales required but may be empty); 13 (roi and scales optional;
// tf_half_pixel_for_nn dropped from the spec: accepted still, as onnxruntime does); 18
// (antialias, axes, keep_aspect_ratio_policy); 19 (half_pixel_symmetric: accepted at any opset
// >= 11, as onnxruntime does). Upsample-7/9: nearest or linear, scales >= 1, asymmetric.
//
// Where onnxruntime 1.30 departs from this (test/ops.resize.test.ts names each case): it returns
// X unchanged when the output shape equals the input shape whatever the scales; its antialias
// copies an axis whose length stays; it copies an axis of scale 1 under tf_crop_and_resize
// whatever the roi; its float32 coordinates can round to the other pixel at a nearest-mode tie;
// it reads negative axes wrongly with keep_aspect_ratio_policy.

import type { Attrs, KernelContext, RefKernel, ShapeFn, Tensor, TensorData, TensorDType, ValueInfo } from '../types.js';
import { elementCount } from '../types.js';
import {
  AttrReader,
  allocData,
  infoOf,
  normAxis,
  opError,
  opUnsupported,
  requireDtype,
  requireInput,
  stridesOf,
  toIntList,
} from './util.js';

export type Mode = 'nearest' | 'linear' | 'cubic';
export type CoordMode =
  | 'half_pixel'
  | 'half_pixel_symmetric'
  | 'pytorch_half_pixel'
  | 'align_corners'
  | 'asymmetric'
  | 'tf_half_pixel_for_nn'
  | 'tf_crop_and_resize';
export type NearestMode = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil' | 'simple';
export type AspectPolicy = 'stretch' | 'not_larger' | 'not_smaller';

/** The ONNX schema a kernel implements: Upsample 7 / 9, Resize 10 / 11 / 13 / 18 / 19. */
export type ResizeVersion = 7 | 9 | 10 | 11 | 13 | 18 | 19;

const COORD_MODES: readonly CoordMode[] = [
  'half_pixel',
  'half_pixel_symmetric',
  'pytorch_half_pixel',
  'align_corners',
  'asymmetric',
  'tf_half_pixel_for_nn',
  'tf_crop_and_resize',
];

export interface ResizeAttrs {
  mode: Mode;
  coord: CoordMode;
  nearest: NearestMode;
  cubicA: number;
  excludeOutside: boolean;
  extrapolation: number;
  antialias: boolean;
  /** the axes attribute (18+), as written (may be negative) */
  axes: number[] | undefined;
  policy: AspectPolicy;
}

export function readResizeAttrs(op: string, version: ResizeVersion, attrs: Attrs, ctx: KernelContext): ResizeAttrs {
  const r = new AttrReader(op, attrs, ctx);
  const modern = version >= 11;
  const mode = r.stringIn<Mode>('mode', 'nearest', modern ? ['nearest', 'linear', 'cubic'] : ['nearest', 'linear']);
  const a: ResizeAttrs = {
    mode,
    coord: modern ? r.stringIn<CoordMode>('coordinate_transformation_mode', 'half_pixel', COORD_MODES) : 'asymmetric',
    nearest: modern
      ? r.stringIn<NearestMode>('nearest_mode', 'round_prefer_floor', ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'])
      : 'simple',
    cubicA: modern ? r.float('cubic_coeff_a', -0.75) : -0.75,
    excludeOutside: modern ? r.intIn('exclude_outside', 0, [0, 1]) === 1 : false,
    extrapolation: modern ? r.float('extrapolation_value', 0) : 0,
    antialias: version >= 18 ? r.intIn('antialias', 0, [0, 1]) === 1 : false,
    axes: version >= 18 ? r.ints('axes') : undefined,
    policy:
      version >= 18 ? r.stringIn<AspectPolicy>('keep_aspect_ratio_policy', 'stretch', ['stretch', 'not_larger', 'not_smaller']) : 'stretch',
  };
  if (a.antialias && mode === 'nearest') throw opError(op, ctx, 'antialias=1 applies to the linear and cubic modes only, not nearest');
  return a;
}

// ---------------------------------------------------------------------------------------------
// Output geometry

/** One axis of a resize: sizes, the scale of the coordinate transform, and the roi (normalized). */
export interface ResizeAxis {
  inSize: number;
  outSize: number;
  scale: number;
  /** the real-valued output length: outSize from sizes, scale * inSize from scales or a policy */
  width: number;
  roiStart: number;
  roiEnd: number;
}

/**
 * The per-axis plan of a Resize/Upsample from the input dims (-1 = unknown, then outSize -1 too)
 * and the scales / sizes / roi values. Exactly one of `scales` and `sizes` is given.
 */
export function planResize(
  op: string,
  ctx: KernelContext,
  a: ResizeAttrs,
  dims: readonly number[],
  scales: readonly number[] | undefined,
  sizes: readonly number[] | undefined,
  roi: readonly number[] | undefined,
  upsample: boolean,
): ResizeAxis[] {
  const rank = dims.length;
  const axes = a.axes ? a.axes.map((ax) => normAxis(ax, rank, op, ctx, 'axes value')) : dims.map((_, i) => i);
  if (new Set(axes).size !== axes.length) throw opError(op, ctx, `axes [${a.axes!.join(', ')}] repeat an axis`);
  const plan: ResizeAxis[] = dims.map((d) => ({ inSize: d, outSize: d, scale: 1, width: d, roiStart: 0, roiEnd: 1 }));
  const what = a.axes ? `the ${axes.length} axes` : `rank ${rank}`;
  if (sizes) {
    if (sizes.length !== axes.length) throw opError(op, ctx, `sizes has ${sizes.length} values, expected ${axes.length} (${what})`);
    if (sizes.some((s) => s < 0)) throw opError(op, ctx, `sizes [${sizes.join(', ')}] has a negative value`);
    if (a.policy === 'stretch') {
      axes.forEach((d, i) => {
        const inSize = dims[d]!,
          out = sizes[i]!;
        if (inSize === 0 && out !== 0) throw opError(op, ctx, `axis ${d} has length 0 and cannot be resized to ${out}`);
        plan[d] = { inSize, outSize: out, scale: inSize > 0 ? out / inSize : inSize === 0 ? 1 : -1, width: out, roiStart: 0, roiEnd: 1 };
      });
    } else {
      // one scale for every resized axis: the smallest (not_larger) or largest (not_smaller) ratio
      let scale = a.policy === 'not_larger' ? Infinity : -Infinity;
      let known = true;
      axes.forEach((d, i) => {
        const inSize = dims[d]!;
        if (inSize < 0) known = false;
        else if (inSize === 0) throw opError(op, ctx, `axis ${d} has length 0: keep_aspect_ratio_policy needs a positive length`);
        else scale = a.policy === 'not_larger' ? Math.min(scale, sizes[i]! / inSize) : Math.max(scale, sizes[i]! / inSize);
      });
      for (const d of axes) {
        const inSize = dims[d]!;
        plan[d] = known
          ? { inSize, outSize: Math.floor(scale * inSize + 0.5), scale, width: scale * inSize, roiStart: 0, roiEnd: 1 }
          : { inSize, outSize: -1, scale: -1, width: -1, roiStart: 0, roiEnd: 1 };
      }
    }
  } else if (scales) {
    if (scales.length !== axes.length) throw opError(op, ctx, `scales has ${scales.length} values, expected ${axes.length} (${what})`);
    axes.forEach((d, i) => {
      const s = scales[i]!;
      if (!(s > 0) || !Number.isFinite(s)) throw opError(op, ctx, `scales [${scales.join(', ')}] must be finite and greater than 0`);
      if (upsample && s < 1) throw opError(op, ctx, `Upsample scales [${scales.join(', ')}] must be >= 1`);
      const inSize = dims[d]!;
      // float32 product, as onnxruntime and ONNX shape inference compute it
      plan[d] = {
        inSize,
        outSize: inSize < 0 ? -1 : Math.floor(Math.fround(s * inSize)),
        scale: s,
        width: s * inSize,
        roiStart: 0,
        roiEnd: 1,
      };
    });
  } else {
    throw opError(op, ctx, 'one of scales and sizes must be given (a non-empty tensor)');
  }
  if (a.coord === 'tf_crop_and_resize') {
    if (!roi) throw opError(op, ctx, 'coordinate_transformation_mode tf_crop_and_resize needs the roi input');
    if (roi.length !== 2 * axes.length) throw opError(op, ctx, `roi has ${roi.length} values, expected ${2 * axes.length} (${what})`);
    axes.forEach((d, i) => {
      plan[d]!.roiStart = roi[i]!;
      plan[d]!.roiEnd = roi[axes.length + i]!;
    });
  }
  return plan;
}

/** Python's math.isclose(a, b) with its default rel_tol 1e-9, abs_tol 0. */
const isClose = (a: number, b: number) => a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));

export function isIdentity(p: ResizeAxis, coord: CoordMode): boolean {
  return (
    isClose(p.scale, 1) && p.outSize === p.inSize && (coord !== 'tf_crop_and_resize' || (isClose(p.roiStart, 0) && isClose(p.roiEnd, 1)))
  );
}

// ---------------------------------------------------------------------------------------------
// Coordinates and filter taps

/** x_original of output coordinate x along axis p (float64). */
export function originalCoordinate(coord: CoordMode, x: number, p: ResizeAxis): number {
  const L = p.inSize,
    s = p.scale,
    width = p.width;
  switch (coord) {
    case 'half_pixel':
      return (x + 0.5) / s - 0.5;
    case 'half_pixel_symmetric': {
      const adjustment = p.outSize / width;
      const offset = (L / 2) * (1 - adjustment);
      return offset + (x + 0.5) / s - 0.5;
    }
    case 'pytorch_half_pixel':
      // the spec and onnxruntime say 0 for a length-1 output (the ONNX reference uses -0.5)
      return width === 1 ? 0 : (x + 0.5) / s - 0.5;
    case 'align_corners':
      return width === 1 ? 0 : (x * (L - 1)) / (width - 1);
    case 'asymmetric':
      return x / s;
    case 'tf_half_pixel_for_nn':
      return (x + 0.5) / s;
    case 'tf_crop_and_resize': {
      const span = p.roiEnd - p.roiStart;
      const x0 = width === 1 ? (span * (L - 1)) / 2 : (x * span * (L - 1)) / (width - 1);
      return x0 + p.roiStart * (L - 1);
    }
  }
}

/** The source index nearest_mode picks for x_original (before clamping). */
export function nearestTap(x: number, mode: NearestMode, downsample: boolean): number {
  if (mode === 'simple') return downsample ? Math.ceil(x) : Math.floor(x); // x >= 0 (asymmetric)
  if (Number.isInteger(x)) return x;
  const f = Math.floor(x),
    r = x - f;
  switch (mode) {
    case 'round_prefer_floor':
      return r <= 0.5 ? f : f + 1;
    case 'round_prefer_ceil':
      return r < 0.5 ? f : f + 1;
    case 'floor':
      return f;
    case 'ceil':
      return f + 1;
  }
}

/** Keys' cubic convolution kernel with parameter a at distance x. */
function cubicKernel(x: number, a: number): number {
  x = Math.abs(x);
  const x2 = x * x,
    x3 = x2 * x;
  if (x <= 1) return (a + 2) * x3 - (a + 3) * x2 + 1;
  if (x < 2) return a * x3 - 5 * a * x2 + 8 * a * x - 4 * a;
  return 0;
}

/** Tap offsets (from i0) and weights of the linear/cubic filter at `ratio` in (0, 1]. */
function filterTaps(a: ResizeAttrs, ratio: number, scale: number): { start: number; w: number[] } {
  if (a.mode === 'linear') {
    if (!a.antialias) return { start: 0, w: [1 - ratio, ratio] };
    const s = Math.min(scale, 1);
    const start = Math.floor(-1 / s) + 1,
      n = 2 - 2 * start;
    const w = Array.from({ length: n }, (_, k) => Math.min(1, Math.max(0, 1 - Math.abs((start + k - ratio) * s))));
    const sum = w.reduce((x, y) => x + y, 0);
    return { start, w: w.map((v) => v / sum) };
  }
  const A = a.cubicA;
  if (!a.antialias) {
    const r1 = ratio + 1,
      q = 1 - ratio,
      q1 = q + 1;
    return {
      start: -1,
      w: [
        ((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A,
        ((A + 2) * ratio - (A + 3)) * ratio * ratio + 1,
        ((A + 2) * q - (A + 3)) * q * q + 1,
        ((A * q1 - 5 * A) * q1 + 8 * A) * q1 - 4 * A,
      ],
    };
  }
  const s = Math.min(scale, 1);
  const start = Math.floor(-2 / s) + 1,
    n = 2 - 2 * start;
  const w = Array.from({ length: n }, (_, k) => cubicKernel(s * (start + k - ratio), A));
  const sum = w.reduce((x, y) => x + y, 0);
  return { start, w: w.map((v) => v / sum) };
}

/** Linear/cubic taps of every output coordinate along one axis: n per output, flat. */
export interface AxisTaps {
  n: number;
  /** clamped source index [out * n + k] */
  idx: Int32Array;
  weight: Float64Array;
  /** 1 where tf_crop_and_resize extrapolates */
  extrapolate: Uint8Array;
}

export function axisTaps(a: ResizeAttrs, p: ResizeAxis): AxisTaps {
  const L = p.inSize;
  let n = 0;
  let idx = new Int32Array(0),
    weight = new Float64Array(0);
  const extrapolate = new Uint8Array(p.outSize);
  for (let x = 0; x < p.outSize; x++) {
    const xo = originalCoordinate(a.coord, x, p);
    const f = Math.floor(xo);
    const i0 = xo === f ? f - 1 : f; // prefer the pixel on the left: ratio in (0, 1]
    const { start, w } = filterTaps(a, xo - i0, p.scale);
    if (x === 0) {
      n = w.length;
      idx = new Int32Array(p.outSize * n);
      weight = new Float64Array(p.outSize * n);
    }
    if (a.excludeOutside) {
      let sum = 0;
      for (let k = 0; k < n; k++) {
        const t = i0 + start + k;
        if (t < 0 || t >= L) w[k] = 0;
        sum += w[k]!;
      }
      if (sum !== 0) for (let k = 0; k < n; k++) w[k]! /= sum;
    }
    for (let k = 0; k < n; k++) {
      idx[x * n + k] = Math.min(L - 1, Math.max(0, i0 + start + k));
      weight[x * n + k] = w[k]!;
    }
    if (a.coord === 'tf_crop_and_resize' && (xo < 0 || xo > L - 1)) extrapolate[x] = 1;
  }
  return { n, idx, weight, extrapolate };
}

// ---------------------------------------------------------------------------------------------
// Kernels

const INT_RANGE: Readonly<Partial<Record<TensorDType, [number, number]>>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int32: [-2147483648, 2147483647],
};

function roundHalfEven(v: number): number {
  const f = Math.floor(v),
    d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** A float64 result as a tensor of `dtype`: float32 rounded, integers rounded half to even and saturated. */
function fromFloat64(dtype: TensorDType, dims: number[], v: Float64Array): Tensor {
  const data = allocData(dtype, v.length);
  if (dtype === 'float32') (data as Float32Array).set(v);
  else if (dtype === 'int64') {
    const out = data as BigInt64Array;
    for (let i = 0; i < v.length; i++) {
      const r = roundHalfEven(v[i]!);
      out[i] = r >= 2 ** 63 ? 2n ** 63n - 1n : r < -(2 ** 63) ? -(2n ** 63n) : BigInt(r);
    }
  } else {
    const [lo, hi] = INT_RANGE[dtype]!;
    const out = data as Int32Array | Int8Array | Uint8Array;
    for (let i = 0; i < v.length; i++) out[i] = Math.min(hi, Math.max(lo, roundHalfEven(v[i]!)));
  }
  return { dtype, dims, data };
}

function toFloat64(t: Tensor): Float64Array {
  if (t.dtype === 'int64') return Float64Array.from(t.data as BigInt64Array, (b) => Number(b));
  return Float64Array.from(t.data as ArrayLike<number>);
}

/** Linear / cubic: one separable pass per resized axis over a float64 copy of X. */
function resampleSeparable(X: Tensor, plan: ResizeAxis[], order: readonly number[], a: ResizeAttrs): Tensor {
  let cur = toFloat64(X);
  const dims = [...X.dims];
  for (const axis of order) {
    const p = plan[axis]!;
    if (isIdentity(p, a.coord)) continue;
    const outer = elementCount(dims.slice(0, axis)),
      inner = elementCount(dims.slice(axis + 1));
    const L = p.inSize,
      O = p.outSize;
    const taps = axisTaps(a, p);
    const next = new Float64Array(outer * O * inner);
    // next[o, x, i] = sum_k weight[x, k] * cur[o, idx[x, k], i]   (cur [outer, L, inner] -> next [outer, O, inner])
    for (let o = 0; o < outer; o++) {
      for (let x = 0; x < O; x++) {
        const dst = (o * O + x) * inner;
        if (taps.extrapolate[x]) {
          next.fill(a.extrapolation, dst, dst + inner);
          continue;
        }
        for (let k = 0; k < taps.n; k++) {
          const w = taps.weight[x * taps.n + k]!;
          const src = (o * L + taps.idx[x * taps.n + k]!) * inner;
          for (let i = 0; i < inner; i++) next[dst + i]! += w * cur[src + i]!;
        }
      }
    }
    cur = next;
    dims[axis] = O;
  }
  return fromFloat64(X.dtype, dims, cur);
}

const EXTRAPOLATE = -1,
  ZERO = -2;

/** The extrapolation value in X's dtype (the reference's saturate_cast). */
function fillValue(dtype: TensorDType, v: number): number | bigint {
  if (dtype === 'float32') return Math.fround(v);
  if (dtype === 'bool') return v !== 0 ? 1 : 0;
  if (dtype === 'int64') {
    const r = roundHalfEven(v);
    return r >= 2 ** 63 ? 2n ** 63n - 1n : r < -(2 ** 63) ? -(2n ** 63n) : BigInt(r);
  }
  const [lo, hi] = INT_RANGE[dtype]!;
  return Math.min(hi, Math.max(lo, roundHalfEven(v)));
}

/**
 * Nearest: per axis, the source index of every output coordinate (or EXTRAPOLATE / ZERO:
 * tf_crop_and_resize outside the roi, exclude_outside dropping the chosen tap); then one gather.
 * Where several axes are special, the last one decides (the reference's axis-by-axis passes).
 */
function resampleNearest(X: Tensor, plan: ResizeAxis[], order: readonly number[], a: ResizeAttrs): Tensor {
  const rank = X.dims.length;
  const maps = plan.map((p) => {
    const m = new Int32Array(p.outSize);
    if (isIdentity(p, a.coord)) {
      for (let x = 0; x < p.outSize; x++) m[x] = x;
      return m;
    }
    const L = p.inSize;
    for (let x = 0; x < p.outSize; x++) {
      const xo = originalCoordinate(a.coord, x, p);
      if (a.coord === 'tf_crop_and_resize' && (xo < 0 || xo > L - 1)) {
        m[x] = EXTRAPOLATE;
        continue;
      }
      const t = nearestTap(xo, a.nearest, p.scale < 1);
      m[x] = a.excludeOutside && (t < 0 || t >= L) ? ZERO : Math.min(L - 1, Math.max(0, t));
    }
    return m;
  });
  const outDims = plan.map((p) => p.outSize);
  const n = elementCount(outDims);
  const inStrides = stridesOf(X.dims);
  const src = X.data as ArrayLike<number | bigint>;
  const out = allocData(X.dtype, n) as unknown as { [i: number]: number | bigint };
  const extra = fillValue(X.dtype, a.extrapolation);
  const zero = X.dtype === 'int64' ? 0n : 0;
  const c = new Array<number>(rank).fill(0);
  for (let j = 0; j < n; j++) {
    let off = 0,
      special = 0;
    for (const d of order) {
      const s = maps[d]![c[d]!]!;
      if (s < 0) special = s;
      else off += s * inStrides[d]!;
    }
    out[j] = special === EXTRAPOLATE ? extra : special === ZERO ? zero : src[off]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++c[d]! < outDims[d]!) break;
      c[d] = 0;
    }
  }
  return { dtype: X.dtype, dims: outDims, data: out as unknown as TensorData };
}

function resample(op: string, ctx: KernelContext, X: Tensor, plan: ResizeAxis[], a: ResizeAttrs): Tensor {
  // axes are processed in the order of the axes attribute (the reference permutes them so), else 0..rank-1
  const order = a.axes ? a.axes.map((ax) => normAxis(ax, X.dims.length, op, ctx, 'axes value')) : X.dims.map((_, i) => i);
  for (let d = 0; d < X.dims.length; d++) if (!order.includes(d)) order.unshift(d); // not resized: identity
  if (a.mode === 'nearest') return resampleNearest(X, plan, order, a);
  if (X.dtype === 'bool') throw opUnsupported(op, ctx, `${a.mode} interpolation of a bool tensor`);
  return resampleSeparable(X, plan, order, a);
}

/** A float list from an optional input; an empty tensor counts as absent. */
export function floatsOf(t: Tensor | undefined, what: string, op: string, ctx: KernelContext): number[] | undefined {
  if (!t || t.data.length === 0) return undefined;
  requireDtype(t, ['float32'], what, op, ctx);
  return Array.from(t.data as Float32Array);
}

export function sizesOf(t: Tensor | undefined, op: string, ctx: KernelContext): number[] | undefined {
  if (!t || t.data.length === 0) return undefined;
  requireDtype(t, ['int64'], 'sizes', op, ctx);
  return toIntList(t, 'sizes', op, ctx);
}

/** Input positions of roi / scales / sizes in a schema version (-1 = none). */
export function inputSlots(version: ResizeVersion): { roi: number; scales: number; sizes: number } {
  if (version === 7) return { roi: -1, scales: -1, sizes: -1 };
  if (version <= 10) return { roi: -1, scales: 1, sizes: -1 };
  return { roi: 1, scales: 2, sizes: 3 };
}

/** Resize (10, 11, 13, 18, 19) or Upsample (7, 9): Y [out dims] from X [in dims]. */
export function resize(version: ResizeVersion): RefKernel {
  const op = version < 10 ? 'Upsample' : 'Resize';
  return (inputs, attrs, ctx) => {
    const X = requireInput(inputs, 0, op, ctx, 'X');
    const a = readResizeAttrs(op, version, attrs, ctx);
    const slot = inputSlots(version);
    let scales: number[] | undefined;
    if (version === 7) {
      scales = new AttrReader(op, attrs, ctx).floats('scales');
      if (!scales) throw opError(op, ctx, "attribute 'scales' is required");
    } else {
      if (version <= 10) requireInput(inputs, slot.scales, op, ctx, 'scales');
      scales = floatsOf(inputs[slot.scales], 'scales', op, ctx);
    }
    const sizes = slot.sizes > 0 ? sizesOf(inputs[slot.sizes], op, ctx) : undefined;
    if (scales && sizes) throw opError(op, ctx, 'scales and sizes are both given: only one of them may be non-empty');
    const roi = slot.roi > 0 ? floatsOf(inputs[slot.roi], 'roi', op, ctx) : undefined;
    const plan = planResize(op, ctx, a, X.dims, scales, sizes, roi, version < 10);
    return [resample(op, ctx, X, plan, a)];
  };
}

/** Shape function of resize(version): exact dims when scales / sizes are constants and X's dims known. */
export function resizeShape(version: ResizeVersion): ShapeFn {
  const op = version < 10 ? 'Upsample' : 'Resize';
  return (inputs, attrs, constants, ctx) => {
    const X = infoOf(inputs, 0, op, ctx);
    if (!X.dims) return [{ dtype: X.dtype, dims: null }];
    const a = readResizeAttrs(op, version, attrs, ctx);
    const slot = inputSlots(version);
    const unknown = (): ValueInfo[] => {
      // which axes change is unknown without the values: only those outside `axes` keep their length
      if (!a.axes) return [{ dtype: X.dtype, dims: X.dims!.map(() => -1) }];
      const axes = a.axes.map((ax) => normAxis(ax, X.dims!.length, op, ctx, 'axes value'));
      return [{ dtype: X.dtype, dims: X.dims!.map((d, i) => (axes.includes(i) ? -1 : d)) }];
    };
    let scales: number[] | undefined, sizes: number[] | undefined;
    if (version === 7) scales = new AttrReader(op, attrs, ctx).floats('scales');
    else {
      const sc = inputs[slot.scales] ? constants[slot.scales] : undefined;
      const sz = slot.sizes > 0 && inputs[slot.sizes] ? constants[slot.sizes] : undefined;
      if ((inputs[slot.scales] && !sc) || (slot.sizes > 0 && inputs[slot.sizes] && !sz)) {
        // a non-constant input: fine only when the other one is a constant non-empty tensor
        if (!(sc && sc.data.length > 0) && !(sz && sz.data.length > 0)) return unknown();
      }
      scales = floatsOf(sc, 'scales', op, ctx);
      sizes = sizesOf(sz, op, ctx);
      if (scales && sizes) throw opError(op, ctx, 'scales and sizes are both given: only one of them may be non-empty');
    }
    let roi: number[] | undefined;
    if (a.coord === 'tf_crop_and_resize' && slot.roi > 0) {
      if (inputs[slot.roi] && !constants[slot.roi]) roi = new Array<number>(2 * (a.axes ? a.axes.length : X.dims.length)).fill(0);
      else roi = floatsOf(constants[slot.roi], 'roi', op, ctx);
    }
    const plan = planResize(op, ctx, a, X.dims, scales, sizes, roi, version < 10);
    return [{ dtype: X.dtype, dims: plan.map((p) => p.outSize) }];
  };
}
