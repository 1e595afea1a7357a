// Tensor-producing reference kernels: Size, CastLike, Range, Trilu, OneHot.
// Every dtype of the IR passes through Size, CastLike and Trilu; Range makes float32, int32 or
// int64 sequences; OneHot's output has the dtype of its `values`.

import type { RefKernel, ShapeFn, Tensor } from '../types.js';
import { elementCount } from '../types.js';
import { AttrReader, allocData, infoOf, normAxis, opError, requireInput, sameInfo, scalarOf } from './util.js';
import { castTensor } from './shape_ops.js';
import { anyArr, isFloatDtype, onnxTypes, requireType } from './numeric.js';

// ---------------------------------------------------------------------------------------------
// Size: data [..] -> int64 scalar, the element count

export const size: RefKernel = (inputs, _attrs, ctx) => {
  const x = requireInput(inputs, 0, 'Size', ctx, 'data');
  return [{ dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(elementCount(x.dims))) }];
};

export const sizeShape: ShapeFn = (inputs, _a, _c, ctx) => {
  infoOf(inputs, 0, 'Size', ctx);
  return [{ dtype: 'int64', dims: [] }];
};

// ---------------------------------------------------------------------------------------------
// CastLike-15: input cast to target_type's dtype, with Cast's rules (castTensor). saturate (19)
// and round_mode (24) apply to float8 targets only, which the IR does not have.

export const castLike: RefKernel = (inputs, _attrs, ctx) => {
  const x = requireInput(inputs, 0, 'CastLike', ctx, 'input');
  const like = requireInput(inputs, 1, 'CastLike', ctx, 'target_type');
  return [castTensor(x, like.dtype)];
};

export const castLikeShape: ShapeFn = (inputs, _a, _c, ctx) => {
  const x = infoOf(inputs, 0, 'CastLike', ctx),
    like = infoOf(inputs, 1, 'CastLike', ctx);
  return [{ dtype: like.dtype, dims: x.dims ? [...x.dims] : null }];
};

// ---------------------------------------------------------------------------------------------
// Range-11: start, limit, delta (scalars of one type) -> [max(ceil((limit - start) / delta), 0)]
// with output[i] = start + i * delta. Floats: count and values in float64 from the float32
// inputs, rounded once (onnx's reference, numpy.arange over Python floats; onnxruntime adds
// delta repeatedly in float32, which drifts by an ulp or more on long ranges). Integers: exact.

const RANGE_TYPES = onnxTypes('float, double, int16, int32, int64');

function rangeScalars(ts: readonly Tensor[], ctx: { opset: number; node: string }): Array<number | bigint> {
  const names = ['start', 'limit', 'delta'];
  requireType(ts[0]!, RANGE_TYPES, 'start', 'Range', ctx);
  return ts.map((t, i) => {
    if (t.dtype !== ts[0]!.dtype) throw opError('Range', ctx, `${names[i]} has dtype ${t.dtype}, start has ${ts[0]!.dtype}`);
    scalarOf(t, names[i]!, 'Range', ctx); // exactly one element
    return t.data[0]!;
  });
}

/** The element count of Range(start, limit, delta). */
function rangeCount(s: number | bigint, l: number | bigint, d: number | bigint, ctx: { opset: number; node: string }): number {
  if (d === 0 || d === 0n) throw opError('Range', ctx, 'delta is 0');
  if (typeof s === 'bigint') {
    const [sb, lb, db] = [s, l as bigint, d as bigint];
    // ceil((l - s) / d) with truncating bigint division
    const num = lb - sb;
    let q = num / db;
    if (num % db !== 0n && num < 0n === db < 0n) q += 1n;
    return q > 0n ? Number(q) : 0;
  }
  const n = Math.ceil(((l as number) - s) / (d as number));
  if (Number.isNaN(n) || n === Infinity) throw opError('Range', ctx, `start ${s}, limit ${l}, delta ${d} do not make a finite range`);
  return Math.max(n, 0);
}

/** Output elements allowed for one Range (an absurd count is a bad model, not an allocation). */
const RANGE_MAX = 2 ** 31 - 1;

export const range: RefKernel = (inputs, _attrs, ctx) => {
  const ts = [0, 1, 2].map((i) => requireInput(inputs, i, 'Range', ctx, ['start', 'limit', 'delta'][i]));
  const [s, l, d] = rangeScalars(ts, ctx) as [number | bigint, number | bigint, number | bigint];
  const n = rangeCount(s, l, d, ctx);
  if (n > RANGE_MAX) throw opError('Range', ctx, `${n} elements is too many`);
  const dtype = ts[0]!.dtype;
  const out = allocData(dtype, n);
  const o = anyArr(out);
  if (typeof s === 'bigint') for (let i = 0; i < n; i++) o[i] = s + BigInt(i) * (d as bigint);
  else for (let i = 0; i < n; i++) o[i] = s + i * (d as number);
  return [{ dtype, dims: [n], data: out }];
};

export const rangeShape: ShapeFn = (inputs, _a, constants, ctx) => {
  const start = infoOf(inputs, 0, 'Range', ctx);
  const cs = [constants[0], constants[1], constants[2]];
  if (cs.every((c) => c !== undefined)) {
    const [s, l, d] = rangeScalars(cs as Tensor[], ctx) as [number | bigint, number | bigint, number | bigint];
    return [{ dtype: start.dtype, dims: [rangeCount(s, l, d, ctx)] }];
  }
  return [{ dtype: start.dtype, dims: [-1] }];
};

// ---------------------------------------------------------------------------------------------
// Trilu-14: input [.., N, M], optional k (int64 scalar, default 0); upper=1 keeps j - i >= k,
// upper=0 keeps j - i <= k, zeroes the rest. Every dtype.

export const trilu: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Trilu';
  const x = requireInput(inputs, 0, op, ctx, 'input');
  const kt = inputs[1];
  if (kt) requireType(kt, onnxTypes('int64'), 'k', op, ctx);
  const k = kt ? scalarOf(kt, 'k', op, ctx) : 0;
  const upper = new AttrReader(op, attrs, ctx).intIn('upper', 1, [0, 1]) === 1;
  const r = x.dims.length;
  if (r < 2) throw opError(op, ctx, `input must have rank >= 2, got [${x.dims.join(', ')}]`);
  const rows = x.dims[r - 2]!,
    cols = x.dims[r - 1]!;
  const out = allocData(x.dtype, x.data.length); // zeros
  const src = anyArr(x.data),
    dst = anyArr(out);
  const mats = elementCount(x.dims.slice(0, r - 2));
  for (let m = 0; m < mats; m++) {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const keep = upper ? j - i >= k : j - i <= k;
        const p = (m * rows + i) * cols + j;
        if (keep) dst[p] = src[p]!;
      }
    }
  }
  return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
};

export const triluShape: ShapeFn = (inputs, _a, _c, ctx) => [sameInfo(infoOf(inputs, 0, 'Trilu', ctx))];

// ---------------------------------------------------------------------------------------------
// OneHot: indices [d0..dr-1], depth (one element), values [off, on] -> output [indices' dims with
// depth inserted at axis (default -1, range [-r-1, r])] of values' dtype. Non-integer indices
// and depth are truncated to int64, as the spec says (onnxruntime and onnx's reference leave a
// non-integral index unmatched). OneHot-9: indices outside [0, depth) give all off (onnxruntime
// wraps negative ones at 9 too); OneHot-11: negative indices in [-depth, -1] count from the end.

const ONEHOT_NUMERIC = onnxTypes('uint8, uint16, uint32, uint64, int8, int16, int32, int64, float16, float, double');

function oneHotDepth(t: Tensor, ctx: { opset: number; node: string }): number {
  requireType(t, ONEHOT_NUMERIC, 'depth', 'OneHot', ctx);
  const d = Math.trunc(scalarOf(t, 'depth', 'OneHot', ctx));
  if (!(d >= 0) || d > 2 ** 31 - 1) throw opError('OneHot', ctx, `depth ${d} is not a valid size`);
  return d;
}

export const oneHot: RefKernel = (inputs, attrs, ctx) => {
  const op = 'OneHot';
  const idx = requireInput(inputs, 0, op, ctx, 'indices');
  requireType(idx, ONEHOT_NUMERIC, 'indices', op, ctx);
  const depth = oneHotDepth(requireInput(inputs, 1, op, ctx, 'depth'), ctx);
  const values = requireInput(inputs, 2, op, ctx, 'values');
  if (values.data.length !== 2) throw opError(op, ctx, `values must hold 2 elements [off, on], has ${values.data.length}`);
  const r = idx.dims.length;
  const axis = normAxis(new AttrReader(op, attrs, ctx).int('axis', -1), r + 1, op, ctx);
  const dims = [...idx.dims.slice(0, axis), depth, ...idx.dims.slice(axis)];
  const inner = elementCount(idx.dims.slice(axis)); // indices after the axis
  const n = elementCount(dims);
  const out = allocData(values.dtype, n);
  const dst = anyArr(out),
    vals = anyArr(values.data);
  const off = vals[0]!,
    on = vals[1]!;
  for (let p = 0; p < n; p++) dst[p] = off;
  const src = anyArr(idx.data);
  const wrap = ctx.opset >= 11;
  const isFloat = isFloatDtype(idx.dtype);
  for (let i = 0; i < idx.data.length; i++) {
    const raw = src[i]!;
    let v = typeof raw === 'bigint' ? (raw >= -(2n ** 53n) && raw <= 2n ** 53n ? Number(raw) : NaN) : isFloat ? Math.trunc(raw) : raw;
    if (wrap && v < 0) v += depth;
    if (!(v >= 0 && v < depth)) continue; // out of range (or NaN): all off
    const o = Math.floor(i / inner),
      q = i % inner;
    dst[(o * depth + v) * inner + q] = on;
  }
  return [{ dtype: values.dtype, dims, data: out }];
};

export const oneHotShape: ShapeFn = (inputs, attrs, constants, ctx) => {
  const idx = infoOf(inputs, 0, 'OneHot', ctx),
    values = infoOf(inputs, 2, 'OneHot', ctx);
  if (!idx.dims) return [{ dtype: values.dtype, dims: null }];
  const axis = normAxis(new AttrReader('OneHot', attrs, ctx).int('axis', -1), idx.dims.length + 1, 'OneHot', ctx);
  const depth = constants[1] ? oneHotDepth(constants[1], ctx) : -1;
  return [{ dtype: values.dtype, dims: [...idx.dims.slice(0, axis), depth, ...idx.dims.slice(axis)] }];
};
