// Reductions and scans along axes:
//   ReduceSum, ReduceProd, ReduceMax, ReduceMin, ReduceMean, ReduceL1, ReduceL2, ReduceLogSum,
//   ReduceLogSumExp, ReduceSumSquare: `axes` attribute before opset 18 (ReduceSum: 13), input
//   from then on, with noop_with_empty_axes; keepdims.
//   ArgMax, ArgMin (keepdims; select_last_index from opset 12), Hardmax, CumSum.
// data [d0, .., dr-1] -> reduced [di or 1 (keepdims) for each axis i] (axes dropped without
// keepdims). An empty reduction (a reduced axis of size 0) gives the identity of the op, as
// onnx's reference: Sum/L1/L2/SumSquare 0, Prod 1, Max -Inf (the dtype's minimum for integers),
// Min +Inf (maximum), LogSum/LogSumExp -Inf, Mean NaN (0/0); bool Max/Min (opset 20) false/true
// (onnx's reference and onnxruntime refuse an empty bool set; onnxruntime's empty Mean is 0).
// NaN: ReduceMax/ReduceMin propagate it (numpy.maximum.reduce; onnxruntime skips it), and so
// does ReduceLogSumExp (onnxruntime: +Inf when the row also has +Inf).
// noop_with_empty_axes=1 with no axes reduces over the empty set: each element alone, so the
// elementwise steps remain (ReduceL1 = Abs, ReduceSumSquare = square, ReduceLogSum = Log).
// Float sums are accumulated in float64 (squares and products rounded to the element type);
// integer sums/products wrap like the dtype; integer L2/LogSum/LogSumExp/Mean are computed in
// float64 and truncated (Mean: integer division).

import type { KernelContext, RefKernel, ShapeFn, Tensor, TensorDType } from '../types.js';
import { elementCount } from '../types.js';
import {
  AttrReader,
  allocData,
  broadcastIndex,
  infoOf,
  normAxes,
  normAxis,
  opError,
  requireInput,
  sameInfo,
  scalarOf,
  toIntList,
} from './util.js';
import { anyArr, dtypeRange, isBigData, isFloatDtype, mulWrap, onnxTypes, requireType, storeFloat } from './numeric.js';

export type ReduceKind = 'Sum' | 'Prod' | 'Max' | 'Min' | 'Mean' | 'L1' | 'L2' | 'LogSum' | 'LogSumExp' | 'SumSquare';

// ONNX type lists of the reductions
/** Every Reduce* op, opsets 1-17 (bfloat16 from 13 is not an IR dtype). */
export const REDUCE_TYPES = onnxTypes('uint32, uint64, int32, int64, float16, float, double, bfloat16');
/** ReduceMax/ReduceMin from 12: + uint8, int8; from 20: + bool. */
export const REDUCE_MINMAX_12 = onnxTypes('uint32, uint64, int32, int64, float16, float, double, bfloat16, uint8, int8');
export const REDUCE_MINMAX_20 = onnxTypes('uint32, uint64, int32, int64, float16, float, double, bfloat16, uint8, int8, bool');

// ---------------------------------------------------------------------------------------------
// Axes

/**
 * The reduced axes (sorted). `fromInput` = the axes come from input 1 (ReduceSum-13, the others
 * from 18); otherwise from the `axes` attribute. No axes = every axis, except with
 * noop_with_empty_axes=1 (input form): then the empty set, so the reduction is the identity but
 * the elementwise steps still apply (ReduceSumSquare squares, ReduceLogSum takes the log).
 */
export function reduceAxes(
  op: string,
  rank: number,
  r: AttrReader,
  axesInput: Tensor | undefined,
  ctx: KernelContext,
  fromInput: boolean,
): number[] {
  let axes: number[] | undefined;
  if (fromInput) {
    if (r.has('axes')) throw opError(op, ctx, `axes is an input of ${op}-${ctx.opset}, not an attribute`);
    if (axesInput) axes = toIntList(axesInput, 'axes', op, ctx);
  } else {
    if (axesInput) throw opError(op, ctx, `${op}-${ctx.opset} takes axes as an attribute, not as input 1`);
    axes = r.ints('axes');
  }
  if (!axes || axes.length === 0) {
    if (fromInput && r.intIn('noop_with_empty_axes', 0, [0, 1]) === 1) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  return normAxes(axes, rank, op, ctx).sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// Reduce*

/** Reduces `x` over `axes` (kept as size-1 dims in `keptDims`). */
function reduceData(kind: ReduceKind, x: Tensor, axes: number[], keptDims: number[]): Tensor {
  const outN = elementCount(keptDims);
  const n = x.data.length;
  const count = axes.reduce((p, a) => p * x.dims[a]!, 1); // elements per output slot
  const slot = broadcastIndex(keptDims, x.dims); // input element -> output slot (null = identity)
  const at = (i: number): number => (slot ? slot[i]! : i);
  const out = allocData(x.dtype, outN);

  if (isBigData(x.data)) {
    const src = x.data,
      o = out as BigInt64Array;
    const [lo, hi] = dtypeRange(x.dtype) as [bigint, bigint];
    if (kind === 'Max' || kind === 'Min') {
      o.fill(kind === 'Max' ? lo : hi);
      for (let i = 0; i < n; i++) {
        const j = at(i),
          v = src[i]!;
        if (kind === 'Max' ? v > o[j]! : v < o[j]!) o[j] = v;
      }
      return { dtype: x.dtype, dims: keptDims, data: out };
    }
    if (kind === 'Sum' || kind === 'Prod' || kind === 'L1' || kind === 'SumSquare' || kind === 'Mean') {
      const acc = new Array<bigint>(outN).fill(kind === 'Prod' ? 1n : 0n);
      for (let i = 0; i < n; i++) {
        const j = at(i),
          v = src[i]!;
        if (kind === 'Prod') acc[j] = BigInt.asIntN(64, acc[j]! * v);
        else acc[j] = BigInt.asIntN(64, acc[j]! + (kind === 'L1' ? (v < 0n ? -v : v) : kind === 'SumSquare' ? v * v : v));
      }
      for (let j = 0; j < outN; j++) {
        if (kind !== 'Mean') o[j] = acc[j]!;
        else if (count === 0) storeFloat(o, j, NaN);
        else o[j] = acc[j]! / BigInt(count); // truncating, like C integer division
      }
      return { dtype: x.dtype, dims: keptDims, data: out };
    }
    // L2, LogSum, LogSumExp: in float64
    const f = new Float64Array(n);
    for (let i = 0; i < n; i++) f[i] = Number(src[i]!);
    return floatFinish(kind, f, at, outN, count, out, x.dtype, keptDims);
  }

  const src = x.data as Float32Array; // any array of number elements
  if (kind === 'Max' || kind === 'Min') {
    const o = out as Float32Array;
    const [lo, hi] = dtypeRange(x.dtype) as [number, number];
    o.fill(kind === 'Max' ? lo : hi);
    for (let i = 0; i < n; i++) {
      const j = at(i),
        v = src[i]!;
      // numpy.maximum.reduce: NaN wins and stays (onnxruntime skips NaN here; onnx's reference does not)
      if ((kind === 'Max' ? v > o[j]! : v < o[j]!) || v !== v) o[j] = v;
    }
    return { dtype: x.dtype, dims: keptDims, data: out };
  }
  if (!isFloatDtype(x.dtype) && (kind === 'Sum' || kind === 'Prod' || kind === 'L1' || kind === 'SumSquare')) {
    // integers: accumulate in the output array itself, so every step wraps like the dtype
    const o = out as Int32Array,
      mul = mulWrap(out);
    if (kind === 'Prod') o.fill(1);
    for (let i = 0; i < n; i++) {
      const j = at(i),
        v = src[i]!;
      if (kind === 'Prod') o[j] = mul(o[j]!, v);
      else o[j] = o[j]! + (kind === 'L1' ? Math.abs(v) : kind === 'SumSquare' ? mul(v, v) : v);
    }
    return { dtype: x.dtype, dims: keptDims, data: out };
  }
  return floatFinish(kind, src, at, outN, count, out, x.dtype, keptDims);
}

/** Rounding to the float element type of `out` (identity for integer outputs, computed in float64). */
function roundTo(dtype: TensorDType): (v: number) => number {
  if (!isFloatDtype(dtype)) return (v) => v;
  const one = allocData(dtype, 1) as Float32Array;
  return (v) => {
    one[0] = v;
    return one[0]!;
  };
}

/** The float64 reductions (every kind for floats; Mean/L2/LogSum/LogSumExp for integers). */
function floatFinish(
  kind: ReduceKind,
  src: ArrayLike<number>,
  at: (i: number) => number,
  outN: number,
  count: number,
  out: ReturnType<typeof allocData>,
  dtype: TensorDType,
  keptDims: number[],
): Tensor {
  const n = src.length;
  const acc = new Float64Array(outN);
  if (kind === 'LogSumExp') {
    // log(sum(exp(x))) = m + log(sum(exp(x - m))), m = the slot's max; NaN -> NaN, any +Inf ->
    // +Inf, all -Inf (or empty) -> -Inf
    const m = new Float64Array(outN).fill(-Infinity);
    for (let i = 0; i < n; i++) {
      const j = at(i),
        v = src[i]!;
      if (v > m[j]! || v !== v) m[j] = v;
    }
    for (let i = 0; i < n; i++) {
      const j = at(i);
      if (Number.isFinite(m[j]!)) acc[j]! += Math.exp(src[i]! - m[j]!);
    }
    for (let j = 0; j < outN; j++) storeFloat(out, j, Number.isFinite(m[j]!) ? m[j]! + Math.log(acc[j]!) : m[j]!);
    return { dtype, dims: keptDims, data: out };
  }
  // Squares and running products are rounded to the element type (float32: they overflow to
  // Inf beyond 1.8e19 and underflow to 0 as in numpy and onnxruntime); sums stay in float64.
  const round = roundTo(dtype);
  if (kind === 'Prod') acc.fill(1);
  for (let i = 0; i < n; i++) {
    const j = at(i),
      v = src[i]!;
    if (kind === 'Prod') acc[j] = round(acc[j]! * v);
    else acc[j]! += kind === 'L1' ? Math.abs(v) : kind === 'L2' || kind === 'SumSquare' ? round(v * v) : v;
  }
  for (let j = 0; j < outN; j++) {
    const s = acc[j]!;
    storeFloat(out, j, kind === 'L2' ? Math.sqrt(s) : kind === 'LogSum' ? Math.log(s) : kind === 'Mean' ? s / count : s);
  }
  return { dtype, dims: keptDims, data: out };
}

/**
 * Reduce<kind>. `fromInput`: axes come from input 1 and noop_with_empty_axes applies (ReduceSum
 * from opset 13, the others from 18). `types`: the ONNX type list of that version.
 */
export function reduce(kind: ReduceKind, fromInput: boolean, types: readonly TensorDType[]): RefKernel {
  const op = `Reduce${kind}`;
  return (inputs, attrs, ctx) => {
    const x = requireInput(inputs, 0, op, ctx, 'data');
    requireType(x, types, 'data', op, ctx);
    const r = new AttrReader(op, attrs, ctx);
    const keep = r.intIn('keepdims', 1, [0, 1]) === 1;
    const axes = reduceAxes(op, x.dims.length, r, inputs[1], ctx, fromInput);
    const keptDims = x.dims.map((d, i) => (axes.includes(i) ? 1 : d));
    const y = reduceData(kind, x, axes, keptDims);
    return [{ ...y, dims: keep ? keptDims : x.dims.filter((_, i) => !axes.includes(i)) }];
  };
}

export function reduceShape(kind: ReduceKind, fromInput: boolean): ShapeFn {
  const op = `Reduce${kind}`;
  return (inputs, attrs, constants, ctx) => {
    const x = infoOf(inputs, 0, op, ctx);
    const r = new AttrReader(op, attrs, ctx);
    const keep = r.intIn('keepdims', 1, [0, 1]) === 1;
    if (fromInput && inputs[1] && !constants[1]) {
      // axes not known: with keepdims the rank stays, without it nothing is known
      return [{ dtype: x.dtype, dims: keep && x.dims ? x.dims.map(() => -1) : null }];
    }
    if (!x.dims) return [{ dtype: x.dtype, dims: null }];
    const axes = reduceAxes(op, x.dims.length, r, constants[1], ctx, fromInput);
    const dims = keep ? x.dims.map((d, i) => (axes.includes(i) ? 1 : d)) : x.dims.filter((_, i) => !axes.includes(i));
    return [{ dtype: x.dtype, dims }];
  };
}

// ---------------------------------------------------------------------------------------------
// ArgMax / ArgMin / Hardmax

export const ARG_TYPES = onnxTypes('uint8, uint16, uint32, uint64, int8, int16, int32, int64, float16, float, double, bfloat16');

/**
 * Index of the max (min) of x[base + k*inner], k < len, as numpy.argmax/argmin: the first
 * extremum, or the last one with `last`; NaN counts as the extremum of both (the first NaN, or
 * the last NaN with `last`, as onnx's reference which flips the axis; onnxruntime differs with
 * select_last_index).
 */
function argIndex(src: ArrayLike<number | bigint>, base: number, len: number, inner: number, isMax: boolean, last: boolean): number {
  let best = src[base]!,
    idx = 0;
  for (let k = 1; k < len; k++) {
    const v = src[base + k * inner]!;
    if (best !== best) {
      if (last && v !== v) idx = k; // best is NaN: only a later NaN can replace it
      continue;
    }
    if (v !== v || (isMax ? v > best : v < best) || (last && v === best)) {
      best = v;
      idx = k;
    }
  }
  return idx;
}

/** ArgMax/ArgMin: int64 indices along `axis`; `v12` reads select_last_index (opset 12+). */
export function argReduce(op: 'ArgMax' | 'ArgMin', v12: boolean): RefKernel {
  return (inputs, attrs, ctx) => {
    const x = requireInput(inputs, 0, op, ctx, 'data');
    requireType(x, ARG_TYPES, 'data', op, ctx);
    const r = new AttrReader(op, attrs, ctx);
    const rank = x.dims.length;
    const axis = normAxis(r.int('axis', 0), rank, op, ctx);
    const keep = r.intIn('keepdims', 1, [0, 1]) === 1;
    const last = v12 && r.intIn('select_last_index', 0, [0, 1]) === 1;
    const outer = elementCount(x.dims.slice(0, axis)),
      len = x.dims[axis]!,
      inner = elementCount(x.dims.slice(axis + 1));
    const out = new BigInt64Array(outer * inner);
    if (len === 0 && out.length > 0) throw opError(op, ctx, `axis ${axis} of data [${x.dims.join(', ')}] is empty`);
    const src = anyArr(x.data);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) out[o * inner + i] = BigInt(argIndex(src, o * len * inner + i, len, inner, op === 'ArgMax', last));
    }
    const dims = keep ? x.dims.map((d, i) => (i === axis ? 1 : d)) : x.dims.filter((_, i) => i !== axis);
    return [{ dtype: 'int64', dims, data: out }];
  };
}

export function argReduceShape(op: 'ArgMax' | 'ArgMin'): ShapeFn {
  return (inputs, attrs, _c, ctx) => {
    const x = infoOf(inputs, 0, op, ctx);
    if (!x.dims) return [{ dtype: 'int64', dims: null }];
    const r = new AttrReader(op, attrs, ctx);
    const axis = normAxis(r.int('axis', 0), x.dims.length, op, ctx);
    const keep = r.intIn('keepdims', 1, [0, 1]) === 1;
    return [{ dtype: 'int64', dims: keep ? x.dims.map((d, i) => (i === axis ? 1 : d)) : x.dims.filter((_, i) => i !== axis) }];
  };
}

/**
 * Hardmax: 1 at the first maximum (numpy.argmax: a NaN counts as the maximum) of each row, 0
 * elsewhere. Opset < 13: the input is coerced to 2-D at `axis` (default 1) and rows span
 * everything from `axis` on; 13+: rows along the one axis `axis` (default -1).
 */
export const hardmax: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Hardmax';
  const x = requireInput(inputs, 0, op, ctx, 'input');
  requireType(x, onnxTypes('float16, float, double, bfloat16'), 'input', op, ctx);
  const r = new AttrReader(op, attrs, ctx);
  const rank = x.dims.length;
  let outer: number, len: number, inner: number;
  if (ctx.opset < 13) {
    const axis = normAxis(r.int('axis', 1), Math.max(rank, 1), op, ctx);
    outer = elementCount(x.dims.slice(0, axis));
    len = elementCount(x.dims.slice(axis));
    inner = 1;
  } else {
    const axis = normAxis(r.int('axis', -1), Math.max(rank, 1), op, ctx);
    outer = elementCount(x.dims.slice(0, axis));
    len = rank === 0 ? 1 : x.dims[axis]!;
    inner = elementCount(x.dims.slice(axis + 1));
  }
  const out = allocData(x.dtype, x.data.length) as Float32Array;
  const src = x.data as Float32Array;
  if (len > 0) {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * len * inner + i;
        out[base + argIndex(src, base, len, inner, true, false) * inner] = 1;
      }
    }
  }
  return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
};

// ---------------------------------------------------------------------------------------------
// CumSum

/**
 * CumSum-11/14: running sums along `axis` (input 1, a scalar int32/int64); exclusive = start
 * from 0 (shifted by one), reverse = from the end. Each step rounds/wraps to the dtype (as
 * numpy.cumsum and onnxruntime accumulate in the element type).
 */
export const cumSum: RefKernel = (inputs, attrs, ctx) => {
  const op = 'CumSum';
  const x = requireInput(inputs, 0, op, ctx, 'x');
  requireType(x, onnxTypes('uint32, uint64, int32, int64, float16, float, double, bfloat16'), 'x', op, ctx);
  const a = requireInput(inputs, 1, op, ctx, 'axis');
  requireType(a, onnxTypes('int32, int64'), 'axis', op, ctx);
  const r = new AttrReader(op, attrs, ctx);
  const exclusive = r.intIn('exclusive', 0, [0, 1]) === 1;
  const reverse = r.intIn('reverse', 0, [0, 1]) === 1;
  const rank = x.dims.length;
  const axis = normAxis(scalarOf(a, 'axis', op, ctx), Math.max(rank, 1), op, ctx);
  const outer = elementCount(x.dims.slice(0, axis)),
    len = rank === 0 ? 1 : x.dims[axis]!,
    inner = elementCount(x.dims.slice(axis + 1));
  const out = allocData(x.dtype, x.data.length);
  const src = anyArr(x.data),
    dst = anyArr(out);
  const big = isBigData(out);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let prev = -1; // flat index of the previous output (-1: none yet)
      let prevIn = -1; // flat index of the previous input (exclusive)
      for (let s = 0; s < len; s++) {
        const k = reverse ? len - 1 - s : s;
        const j = base + k * inner;
        const add = exclusive ? prevIn : j; // the input element this step adds
        if (prev < 0) dst[j] = add < 0 ? (big ? 0n : 0) : src[add]!;
        else if (big) dst[j] = (dst[prev] as bigint) + (add < 0 ? 0n : (src[add] as bigint));
        else dst[j] = (dst[prev] as number) + (add < 0 ? 0 : (src[add] as number));
        prev = j;
        prevIn = j;
      }
    }
  }
  return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
};

export const sameShapeOf =
  (op: string): ShapeFn =>
  (inputs, _a, _c, ctx) => [sameInfo(infoOf(inputs, 0, op, ctx))];
