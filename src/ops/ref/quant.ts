// Quantization ops of the default domain: QuantizeLinear and DequantizeLinear (per tensor, per
// axis, blocked), DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv.
// What onnxruntime's quantizer emits in the default domain (QDQ pairs; QOperator format;
// dynamic quantization).
//
// Arithmetic: src/quant/int8.ts, "ONNX linear quantization": onnxruntime's float32 operations
// (x86-64), so results are its bits: quantize fround(x / scale), round half to even, add the
// zero point, saturate, NaN → the type's minimum; dequantize fround(fround(q − zp) · scale);
// QLinear* requantize fround(fround(acc) · fround(fround(s_a · s_b) / s_y)). Integer products
// are exact: operands are shifted by their zero points (exact in float32), summed in float64
// by the Conv / MatMul loops (conv.ts convInto, matmul.ts batchedMatmulInto) and stored modulo
// 2^32 (ONNX: "the accumulation may overflow if and only if in 32 bits").
//
// Quantized types: QUANT_TYPES below, one row per dtype; the QLinear*/…Integer ops take int8 and
// uint8 only (their ONNX type lists).

import {
  dequantizeLinear,
  dynamicQuantParamsUint8,
  quantizeLinear,
  requantMultiplier,
  requantize,
  saturateRound,
} from '../../quant/int8.js';
import { dtypeFromOnnx, dtypeName } from '../dtypes.js';
import type { KernelContext, RefKernel, ShapeFn, Tensor, TensorDType, ValueInfo } from '../types.js';
import { elementCount } from '../types.js';
import { convInto, convOutputDims, planConv } from './conv.js';
import { batchedMatmulInto, matmulDims } from './matmul.js';
import {
  allocData,
  AttrReader,
  broadcastIndex,
  infoOf,
  normAxis,
  opError,
  opUnsupported,
  requireDtype,
  requireInput,
  sameDims,
} from './util.js';

// ---------------------------------------------------------------------------------------------
// Quantized types

/** An integer type a quantized tensor can have: its saturation range and the opset that allows it. */
interface QuantType {
  lo: number;
  hi: number;
  /** first QuantizeLinear / DequantizeLinear version with this type */
  since: number;
}

/**
 * The integer types of QuantizeLinear's output / DequantizeLinear's input, one row each. Keyed by
 * dtype name: int16/uint16 (opset 21) take effect as soon as the IR has those dtypes. int4/uint4
 * (21), int2/uint2 (25) and the float8/float4 types are no IR dtypes (the importer refuses them).
 */
const QUANT_TYPES: Readonly<Record<string, QuantType | undefined>> = {
  int8: { lo: -128, hi: 127, since: 10 },
  uint8: { lo: 0, hi: 255, since: 10 },
  int16: { lo: -32768, hi: 32767, since: 21 },
  uint16: { lo: 0, hi: 65535, since: 21 },
};

/** The types of QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger operands. */
const EIGHT_BIT: readonly TensorDType[] = ['int8', 'uint8'];

function quantType(dtype: TensorDType, op: string, ctx: KernelContext, what: string): QuantType {
  const q = QUANT_TYPES[dtype];
  if (!q || q.since > ctx.opset) {
    const allowed = Object.entries(QUANT_TYPES)
      .filter(([, t]) => t && t.since <= ctx.opset)
      .map(([n]) => n);
    throw opError(op, ctx, `${what} has dtype ${dtype}; at opset ${ctx.opset} it must be ${allowed.join(', ')}`);
  }
  return q;
}

/** The typed array of an integer (non-64-bit) tensor, written element by element. */
type NumberArray = { [index: number]: number; readonly length: number };

function rangeOf(dtype: TensorDType): QuantType {
  return QUANT_TYPES[dtype]!;
}

/** The dtype of an ONNX type code held by an attribute; unsupported_op when the IR has none. */
function attrDtype(code: number, attr: string, op: string, ctx: KernelContext): TensorDType {
  const d = dtypeFromOnnx(code);
  if (d === undefined) throw opUnsupported(op, ctx, `${attr} ${dtypeName(code)} (${code}) is not a Sparrow dtype (opset ${ctx.opset})`);
  return d;
}

/** Scales are float32 (float16/bfloat16 scales reach kernels as float32; int32 and float8e8m0 ones are refused). */
function requireScale(t: Tensor, what: string, op: string, ctx: KernelContext): Float32Array {
  if (t.dtype !== 'float32')
    throw opUnsupported(op, ctx, `${what} has dtype ${t.dtype}; Sparrow takes float32 scales (opset ${ctx.opset})`);
  return t.data as Float32Array;
}

/** The single element of a per-tensor parameter (scalar or any one-element tensor). */
function single(t: Tensor, what: string, op: string, ctx: KernelContext): number {
  if (t.data.length !== 1) throw opError(op, ctx, `${what} must be a scalar (per tensor), got [${t.dims.join(', ')}]`);
  return t.data[0] as number;
}

function requireZeroPoint(z: Tensor, dtype: TensorDType, what: string, op: string, ctx: KernelContext): void {
  if (z.dtype !== dtype) throw opError(op, ctx, `${what} has dtype ${z.dtype}, its tensor ${dtype}`);
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear / DequantizeLinear: granularity

/**
 * Which scale / zero point each element of x uses. x is viewed as (outer, C, inner) around the
 * quantization axis (per tensor: outer = C = 1): element (o, c, i) uses parameter
 *   per tensor: 0;   per axis: c;   blocked: (o · nb + ⌊c / B⌋) · inner + i   (scale [.., nb, ..]).
 */
interface ParamLayout {
  mode: 'tensor' | 'axis' | 'blocked';
  outer: number;
  C: number;
  inner: number;
  /** block size and the number of blocks along the axis (blocked only) */
  B: number;
  nb: number;
}

/**
 * The granularity of scale S (and zero point Z, same shape) for x of shape xDims: one element →
 * per tensor; 1-D of length xDims[axis] → per axis; blocked (blockSize > 0, opset 21+) → S has
 * x's shape but ceil(D_axis / blockSize) on the axis.
 */
function paramLayout(
  op: string,
  xDims: readonly number[],
  S: Tensor,
  Z: Tensor | undefined,
  axisAttr: number,
  blockSize: number,
  ctx: KernelContext,
): ParamLayout {
  const n = elementCount(xDims);
  const sName = op === 'QuantizeLinear' ? 'y_scale' : 'x_scale';
  const zName = op === 'QuantizeLinear' ? 'y_zero_point' : 'x_zero_point';
  if (blockSize < 0) throw opError(op, ctx, `block_size must be >= 0, got ${blockSize}`);
  if (blockSize === 0) {
    if (S.data.length === 1) {
      if (Z && Z.data.length !== 1) throw opError(op, ctx, `${zName} [${Z.dims.join(', ')}] must be a scalar like ${sName}`);
      return { mode: 'tensor', outer: 1, C: 1, inner: n, B: 0, nb: 0 };
    }
    if (S.dims.length !== 1) {
      throw opError(
        op,
        ctx,
        `${sName} [${S.dims.join(', ')}] must be a scalar or a 1-D tensor (per axis)${ctx.opset >= 21 ? ', or set block_size' : ''}`,
      );
    }
    const axis = normAxis(axisAttr, xDims.length, op, ctx);
    if (S.dims[0] !== xDims[axis]) {
      throw opError(
        op,
        ctx,
        `${sName} has ${S.dims[0]} elements; per-axis quantization along axis ${axis} of [${xDims.join(', ')}] needs ${xDims[axis]}`,
      );
    }
    if (Z && !sameDims(Z.dims, S.dims))
      throw opError(op, ctx, `${zName} [${Z.dims.join(', ')}] and ${sName} [${S.dims.join(', ')}] differ`);
    return { mode: 'axis', ...around(xDims, axis), B: 0, nb: 0 };
  }
  const axis = normAxis(axisAttr, xDims.length, op, ctx);
  const want = xDims.map((d, i) => (i === axis ? Math.ceil(d / blockSize) : d));
  if (!sameDims(S.dims, want)) {
    throw opError(
      op,
      ctx,
      `blocked ${sName} must have shape [${want.join(', ')}] for x [${xDims.join(', ')}], axis ${axis}, block_size ${blockSize}; got [${S.dims.join(', ')}]`,
    );
  }
  if (Z && !sameDims(Z.dims, S.dims)) throw opError(op, ctx, `${zName} [${Z.dims.join(', ')}] and ${sName} [${S.dims.join(', ')}] differ`);
  return { mode: 'blocked', ...around(xDims, axis), B: blockSize, nb: want[axis]! };
}

function around(dims: readonly number[], axis: number): { outer: number; C: number; inner: number } {
  return { outer: elementCount(dims.slice(0, axis)), C: dims[axis]!, inner: elementCount(dims.slice(axis + 1)) };
}

/** Calls f(flat element index, parameter index) for every element of x in order. */
function forEachParam(L: ParamLayout, f: (e: number, p: number) => void): void {
  let e = 0;
  for (let o = 0; o < L.outer; o++) {
    for (let c = 0; c < L.C; c++) {
      if (L.mode === 'blocked') {
        const row = (o * L.nb + Math.floor(c / L.B)) * L.inner;
        for (let i = 0; i < L.inner; i++) f(e++, row + i);
      } else {
        const p = L.mode === 'axis' ? c : 0;
        for (let i = 0; i < L.inner; i++) f(e++, p);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear

/**
 * The output dtype: y_zero_point's type, else output_dtype (opset 21+), else uint8; both given
 * must agree.
 */
function quantizeOutType(zpDtype: TensorDType | undefined, r: AttrReader, v: number): TensorDType {
  const op = 'QuantizeLinear';
  const code = v >= 21 ? r.int('output_dtype', 0) : 0;
  if (code !== 0) {
    const d = attrDtype(code, 'output_dtype', op, r.ctx);
    if (zpDtype !== undefined && zpDtype !== d) throw opError(op, r.ctx, `output_dtype ${d} differs from y_zero_point's dtype ${zpDtype}`);
    return d;
  }
  return zpDtype ?? 'uint8';
}

/**
 * QuantizeLinear: x [..] float32 (or int32), y_scale, optional y_zero_point → y [..] of the
 * quantized type; y = saturate(round(x / y_scale) + y_zero_point) per tensor, per axis (13) or
 * per block (21). `v` is the schema version: 10 (scalars; a 1-D scale is accepted along axis 1,
 * as onnxruntime and the ONNX reference do), 13 (axis; 19 adds saturate, float8 only), 21
 * (block_size, output_dtype, 16-bit types), 23 (precision).
 */
export function quantizeLinearOp(v: 10 | 13 | 21 | 23): RefKernel {
  return (inputs, attrs, ctx) => {
    const op = 'QuantizeLinear';
    const X = requireInput(inputs, 0, op, ctx, 'x'),
      S = requireInput(inputs, 1, op, ctx, 'y_scale');
    const Z = inputs[2];
    requireDtype(X, ['float32', 'int32'], 'x', op, ctx);
    const scale = requireScale(S, 'y_scale', op, ctx);
    const r = new AttrReader(op, attrs, ctx);
    const outType = quantizeOutType(Z?.dtype, r, v);
    const { lo, hi } = quantType(outType, op, ctx, 'y');
    if (ctx.opset >= 19) r.intIn('saturate', 1, [0, 1]); // applies to float8 outputs only
    const double = v >= 23 ? divisionInDouble(r) : false;
    const L = paramLayout(op, X.dims, S, Z, v >= 13 ? r.int('axis', 1) : 1, v >= 21 ? r.int('block_size', 0) : 0, ctx);
    const x = X.data as Float32Array | Int32Array,
      zp = Z?.data as ArrayLike<number> | undefined;
    const data = allocData(outType, x.length),
      y = data as NumberArray;
    forEachParam(L, (e, p) => {
      const z = zp ? zp[p]! : 0;
      // x / scale in float32 (an int32 x rounds to float32 first), or in float64 (precision DOUBLE)
      y[e] = double ? saturateRound(x[e]! / scale[p]!, z, lo, hi) : quantizeLinear(Math.fround(x[e]!), scale[p]!, z, lo, hi);
    });
    return [{ dtype: outType, dims: [...X.dims], data }];
  };
}

/** precision (opset 23): 0 (y_scale's type, float32) or FLOAT → float32 division, DOUBLE → float64. */
function divisionInDouble(r: AttrReader): boolean {
  const p = r.int('precision', 0);
  if (p === 0 || p === 1) return false;
  if (p === 11) return true;
  if (p === 10 || p === 16)
    throw opUnsupported('QuantizeLinear', r.ctx, `precision ${dtypeName(p)} is not supported (opset ${r.ctx.opset})`);
  throw opError('QuantizeLinear', r.ctx, `precision must name a float type, got ${dtypeName(p)} (${p})`);
}

export function quantizeLinearShape(v: 10 | 13 | 21 | 23): ShapeFn {
  return (inputs, attrs, _c, ctx) => {
    const X = infoOf(inputs, 0, 'QuantizeLinear', ctx);
    const outType = quantizeOutType(inputs[2]?.dtype, new AttrReader('QuantizeLinear', attrs, ctx), v);
    return [{ dtype: outType, dims: X.dims ? [...X.dims] : null }];
  };
}

// ---------------------------------------------------------------------------------------------
// DequantizeLinear

/**
 * DequantizeLinear: x [..] of a quantized type (or int32, zero point 0), x_scale, optional
 * x_zero_point → y [..] float32 = (x − x_zero_point) · x_scale, per tensor, per axis (13) or
 * per block (21). `v`: 10, 13 (axis; 19 adds float8 inputs and float16 scales), 21 (block_size,
 * 16-bit types), 23 (output_dtype; 24 float8e8m0 scales, 25 int2: no IR dtypes).
 */
export function dequantizeLinearOp(v: 10 | 13 | 21 | 23): RefKernel {
  return (inputs, attrs, ctx) => {
    const op = 'DequantizeLinear';
    const X = requireInput(inputs, 0, op, ctx, 'x'),
      S = requireInput(inputs, 1, op, ctx, 'x_scale');
    const Z = inputs[2];
    if (X.dtype !== 'int32') quantType(X.dtype, op, ctx, 'x');
    const scale = requireScale(S, 'x_scale', op, ctx);
    if (Z) requireZeroPoint(Z, X.dtype, 'x_zero_point', op, ctx);
    const r = new AttrReader(op, attrs, ctx);
    if (v >= 23) dequantizeOutType(r);
    const L = paramLayout(op, X.dims, S, Z, v >= 13 ? r.int('axis', 1) : 1, v >= 21 ? r.int('block_size', 0) : 0, ctx);
    const x = X.data as ArrayLike<number>,
      zp = Z?.data as ArrayLike<number> | undefined;
    if (X.dtype === 'int32' && zp && Array.prototype.some.call(zp, (z: number) => z !== 0)) {
      throw opError(op, ctx, 'an int32 x has no zero point (x_zero_point must be 0)');
    }
    const y = new Float32Array(x.length);
    forEachParam(L, (e, p) => {
      y[e] = dequantizeLinear(x[e]!, zp ? zp[p]! : 0, scale[p]!);
    });
    return [{ dtype: 'float32', dims: [...X.dims], data: y }];
  };
}

/** output_dtype (opset 23): 0 (x_scale's type) or FLOAT; float16/bfloat16 outputs are not supported. */
function dequantizeOutType(r: AttrReader): TensorDType {
  const code = r.int('output_dtype', 0);
  if (code === 0 || code === 1) return 'float32';
  if (code === 10 || code === 16) {
    throw opUnsupported('DequantizeLinear', r.ctx, `output_dtype ${dtypeName(code)} is not supported (opset ${r.ctx.opset})`);
  }
  throw opError('DequantizeLinear', r.ctx, `output_dtype must be a float type, got ${dtypeName(code)} (${code})`);
}

export function dequantizeLinearShape(v: 10 | 13 | 21 | 23): ShapeFn {
  return (inputs, attrs, _c, ctx) => {
    const X = infoOf(inputs, 0, 'DequantizeLinear', ctx);
    const dtype = v >= 23 ? dequantizeOutType(new AttrReader('DequantizeLinear', attrs, ctx)) : 'float32';
    return [{ dtype, dims: X.dims ? [...X.dims] : null }];
  };
}

// ---------------------------------------------------------------------------------------------
// DynamicQuantizeLinear

/**
 * DynamicQuantizeLinear (11): x float32 → y uint8 [..], y_scale float32 [], y_zero_point uint8 []
 * with the parameters of int8.ts dynamicQuantParamsUint8 over x's range. NaNs are left out of
 * the range (what onnxruntime's vectorized min/max does, except for NaNs in its scalar tail,
 * which it propagates) and quantize to 0.
 */
export const dynamicQuantizeLinear: RefKernel = (inputs, _attrs, ctx) => {
  const op = 'DynamicQuantizeLinear';
  const X = requireInput(inputs, 0, op, ctx, 'x');
  requireDtype(X, ['float32'], 'x', op, ctx);
  const x = X.data as Float32Array;
  let min = Infinity,
    max = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const { scale, zeroPoint } = dynamicQuantParamsUint8(min, max);
  const y = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = quantizeLinear(x[i]!, scale, zeroPoint, 0, 255);
  return [
    { dtype: 'uint8', dims: [...X.dims], data: y },
    { dtype: 'float32', dims: [], data: Float32Array.of(scale) },
    { dtype: 'uint8', dims: [], data: Uint8Array.of(zeroPoint) },
  ];
};

export const dynamicQuantizeLinearShape: ShapeFn = (inputs, _a, _c, ctx) => {
  const X = infoOf(inputs, 0, 'DynamicQuantizeLinear', ctx);
  return [
    { dtype: 'uint8', dims: X.dims ? [...X.dims] : null },
    { dtype: 'float32', dims: [] },
    { dtype: 'uint8', dims: [] },
  ];
};

// ---------------------------------------------------------------------------------------------
// MatMulInteger / QLinearMatMul

/**
 * Per-row parameters of a matmul's A [..., M, K] (side 'a') or per-column ones of B [..., K, N]
 * (side 'b'): for every row (A: batch index · M + m) or column (B: batch index · N + n) of the
 * operand, the index of its parameter. Shapes: one element (per tensor); 1-D [M] / [N]; or the
 * operand's rank with [..., M, 1] / [..., 1, N] and batch dims that broadcast to the operand's.
 */
function matmulParamIndex(p: Tensor, dims: readonly number[], side: 'a' | 'b', what: string, op: string, ctx: KernelContext): Int32Array {
  const d2 = dims.length === 1 ? (side === 'a' ? [1, dims[0]!] : [dims[0]!, 1]) : [...dims];
  const batch = d2.slice(0, -2);
  const L = side === 'a' ? d2[d2.length - 2]! : d2[d2.length - 1]!; // M or N
  const rows = elementCount(batch) * L;
  const map = new Int32Array(rows);
  if (p.data.length === 1) return map;
  const perWhat = side === 'a' ? 'per row' : 'per column';
  if (p.dims.length === 1 && p.dims[0] === L) {
    for (let r = 0; r < rows; r++) map[r] = r % L;
    return map;
  }
  const pd = p.dims;
  const want = side === 'a' ? [L, 1] : [1, L];
  const pBatch = pd.slice(0, -2);
  const ok =
    dims.length >= 2 &&
    pd.length === d2.length &&
    pd[pd.length - 2] === want[0] &&
    pd[pd.length - 1] === want[1] &&
    pBatch.every((b, i) => b === 1 || b === batch[i]);
  if (!ok) {
    const shape = side === 'a' ? `[${L}] or [..., ${L}, 1]` : `[${L}] or [..., 1, ${L}]`;
    throw opError(op, ctx, `${what} [${pd.join(', ')}] must be a scalar or ${perWhat} (${shape}) for [${dims.join(', ')}]`);
  }
  const bi = broadcastIndex(pBatch, batch);
  for (let t = 0; t < elementCount(batch); t++) {
    const pt = bi ? bi[t]! : t;
    for (let l = 0; l < L; l++) map[t * L + l] = pt * L + l;
  }
  return map;
}

/** A − zp and B − zp as float32 (exact), zero points per tensor / row of A / column of B. */
function shiftedOperands(
  A: Tensor,
  B: Tensor,
  aZp: Tensor | undefined,
  bZp: Tensor | undefined,
  names: [string, string],
  op: string,
  ctx: KernelContext,
): { a: Float32Array; b: Float32Array } {
  const K = A.dims[A.dims.length - 1]!;
  const N = B.dims.length === 1 ? 1 : B.dims[B.dims.length - 1]!;
  const a = new Float32Array(A.data as ArrayLike<number>);
  if (aZp) {
    const map = matmulParamIndex(aZp, A.dims, 'a', names[0], op, ctx),
      z = aZp.data as ArrayLike<number>;
    for (let e = 0; e < a.length; e++) a[e]! -= z[map[Math.floor(e / K)]!]!;
  }
  const b = new Float32Array(B.data as ArrayLike<number>);
  if (bZp) {
    const map = matmulParamIndex(bZp, B.dims, 'b', names[1], op, ctx),
      z = bZp.data as ArrayLike<number>;
    for (let e = 0; e < b.length; e++) b[e]! -= z[map[Math.floor(e / (K * N)) * N + (e % N)]!]!;
  }
  return { a, b };
}

/**
 * MatMulInteger (10): A int8/uint8, B int8/uint8, optional a_zero_point (scalar or per row),
 * b_zero_point (scalar or per column) → Y int32 = (A − a_zp) · (B − b_zp), numpy.matmul shapes.
 */
export const matMulInteger: RefKernel = (inputs, _attrs, ctx) => {
  const op = 'MatMulInteger';
  const A = requireInput(inputs, 0, op, ctx, 'A'),
    B = requireInput(inputs, 1, op, ctx, 'B');
  requireDtype(A, EIGHT_BIT, 'A', op, ctx);
  requireDtype(B, EIGHT_BIT, 'B', op, ctx);
  const aZp = inputs[2],
    bZp = inputs[3];
  if (aZp) requireZeroPoint(aZp, A.dtype, 'a_zero_point', op, ctx);
  if (bZp) requireZeroPoint(bZp, B.dtype, 'b_zero_point', op, ctx);
  const d = matmulDims(A.dims, B.dims, op, ctx);
  const { a, b } = shiftedOperands(A, B, aZp, bZp, ['a_zero_point', 'b_zero_point'], op, ctx);
  const out = new Int32Array(elementCount(d.outDims));
  batchedMatmulInto(a, b, d, out);
  return [{ dtype: 'int32', dims: d.outDims, data: out }];
};

export const matMulIntegerShape: ShapeFn = (inputs, _a, _c, ctx) => {
  const A = infoOf(inputs, 0, 'MatMulInteger', ctx),
    B = infoOf(inputs, 1, 'MatMulInteger', ctx);
  if (!A.dims || !B.dims) return [{ dtype: 'int32', dims: null }];
  return [{ dtype: 'int32', dims: matmulDims(A.dims, B.dims, 'MatMulInteger', ctx, true).outDims }];
};

/**
 * QLinearMatMul (10, 21: float16/bfloat16 scales and float8 types, no IR dtypes): a, b int8/uint8
 * with scales and zero points per tensor, per row of a or per column of b; y_scale and
 * y_zero_point per tensor. y = saturate(round(((a − a_zp) · (b − b_zp)) · a_scale · b_scale /
 * y_scale) + y_zp) in onnxruntime's float32 steps (int8.ts requantize), y of y_zero_point's type.
 */
export const qlinearMatMul: RefKernel = (inputs, _attrs, ctx) => {
  const op = 'QLinearMatMul';
  const names = ['a', 'a_scale', 'a_zero_point', 'b', 'b_scale', 'b_zero_point', 'y_scale', 'y_zero_point'];
  const [A, As, Az, B, Bs, Bz, Ys, Yz] = names.map((n, i) => requireInput(inputs, i, op, ctx, n)) as [
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
  ];
  requireDtype(A, EIGHT_BIT, 'a', op, ctx);
  requireDtype(B, EIGHT_BIT, 'b', op, ctx);
  requireDtype(Yz, EIGHT_BIT, 'y_zero_point', op, ctx);
  requireZeroPoint(Az, A.dtype, 'a_zero_point', op, ctx);
  requireZeroPoint(Bz, B.dtype, 'b_zero_point', op, ctx);
  const as = requireScale(As, 'a_scale', op, ctx),
    bs = requireScale(Bs, 'b_scale', op, ctx);
  requireScale(Ys, 'y_scale', op, ctx);
  const ys = single(Ys, 'y_scale', op, ctx),
    yz = single(Yz, 'y_zero_point', op, ctx);
  const d = matmulDims(A.dims, B.dims, op, ctx);
  const { a, b } = shiftedOperands(A, B, Az, Bz, ['a_zero_point', 'b_zero_point'], op, ctx);
  const acc = new Int32Array(elementCount(d.outDims));
  batchedMatmulInto(a, b, d, acc);
  // multipliers per (row of a, column of b)
  const aMap = matmulParamIndex(As, A.dims, 'a', 'a_scale', op, ctx),
    bMap = matmulParamIndex(Bs, B.dims, 'b', 'b_scale', op, ctx);
  const { M, N, aBatch, bBatch, batch } = d;
  const ia = broadcastIndex(aBatch, batch),
    ib = broadcastIndex(bBatch, batch);
  const { lo, hi } = rangeOf(Yz.dtype);
  const y = allocData(Yz.dtype, acc.length) as Int8Array | Uint8Array;
  for (let t = 0; t < elementCount(batch); t++) {
    const ta = ia ? ia[t]! : t,
      tb = ib ? ib[t]! : t;
    for (let i = 0; i < M; i++) {
      const sa = as[aMap[ta * M + i]!]!;
      for (let j = 0; j < N; j++) {
        const o = (t * M + i) * N + j;
        y[o] = requantize(acc[o]!, requantMultiplier(sa, bs[bMap[tb * N + j]!]!, ys), yz, lo, hi);
      }
    }
  }
  return [{ dtype: Yz.dtype, dims: d.outDims, data: y }];
};

export const qlinearMatMulShape: ShapeFn = (inputs, _a, _c, ctx) => {
  const op = 'QLinearMatMul';
  const A = infoOf(inputs, 0, op, ctx),
    B = infoOf(inputs, 3, op, ctx),
    Yz = infoOf(inputs, 7, op, ctx);
  if (!A.dims || !B.dims) return [{ dtype: Yz.dtype, dims: null }];
  return [{ dtype: Yz.dtype, dims: matmulDims(A.dims, B.dims, op, ctx, true).outDims }];
};

// ---------------------------------------------------------------------------------------------
// ConvInteger / QLinearConv

/** x − x_zp (x_zp per tensor) as float32, exact. */
function shiftedInput(X: Tensor, Z: Tensor | undefined, what: string, op: string, ctx: KernelContext): Float32Array {
  const x = new Float32Array(X.data as ArrayLike<number>);
  if (Z) {
    const z = single(Z, what, op, ctx);
    if (z !== 0) for (let i = 0; i < x.length; i++) x[i]! -= z;
  }
  return x;
}

/** w − w_zp as float32 (exact), w_zp per tensor or per output channel [M]. */
function shiftedWeights(W: Tensor, Z: Tensor | undefined, what: string, op: string, ctx: KernelContext): Float32Array {
  const w = new Float32Array(W.data as ArrayLike<number>);
  if (Z) {
    const M = W.dims[0]!,
      per = M > 0 ? w.length / M : 0;
    const z = perChannel(Z, M, what, op, ctx);
    for (let i = 0; i < w.length; i++) w[i]! -= z[Math.floor(i / per)]!;
  }
  return w;
}

/** A per-tensor or per-output-channel parameter as M values. */
function perChannel(t: Tensor, M: number, what: string, op: string, ctx: KernelContext): ArrayLike<number> {
  const v = t.data as ArrayLike<number>;
  if (v.length === 1) return Array.from({ length: M }, () => v[0]!);
  if (t.dims.length === 1 && t.dims[0] === M) return v;
  throw opError(op, ctx, `${what} [${t.dims.join(', ')}] must be a scalar or have one value per output channel ([${M}])`);
}

/**
 * ConvInteger (10): x int8/uint8 [N, C, D1..Dn], w int8/uint8 [M, C/group, k1..kn], optional
 * x_zero_point (scalar) and w_zero_point (scalar or [M]) → y int32 = conv(x − x_zp, w − w_zp),
 * the padding being real zeros (x_zp). Conv's attributes.
 */
export const convInteger: RefKernel = (inputs, attrs, ctx) => {
  const op = 'ConvInteger';
  const X = requireInput(inputs, 0, op, ctx, 'x'),
    W = requireInput(inputs, 1, op, ctx, 'w');
  requireDtype(X, EIGHT_BIT, 'x', op, ctx);
  requireDtype(W, EIGHT_BIT, 'w', op, ctx);
  const Xz = inputs[2],
    Wz = inputs[3];
  if (Xz) requireZeroPoint(Xz, X.dtype, 'x_zero_point', op, ctx);
  if (Wz) requireZeroPoint(Wz, W.dtype, 'w_zero_point', op, ctx);
  const plan = planConv(op, X.dims, W.dims, new AttrReader(op, attrs, ctx));
  const out = new Int32Array(plan.N * plan.M * plan.P);
  const x = shiftedInput(X, Xz, 'x_zero_point', op, ctx),
    w = shiftedWeights(W, Wz, 'w_zero_point', op, ctx);
  convInto(x, w, undefined, out, plan);
  return [{ dtype: 'int32', dims: [plan.N, plan.M, ...plan.outSp], data: out }];
};

export const convIntegerShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const X = infoOf(inputs, 0, 'ConvInteger', ctx),
    W = infoOf(inputs, 1, 'ConvInteger', ctx);
  return [{ dtype: 'int32', dims: convOutputDims('ConvInteger', X, W, attrs, ctx) }];
};

/**
 * QLinearConv (10): x, w, y int8/uint8 (any combination), x_scale / x_zero_point / y_scale /
 * y_zero_point per tensor, w_scale / w_zero_point per tensor or per output channel, optional
 * bias B int32 [M] (scale x_scale · w_scale, zero point 0). acc = conv(x − x_zp, w − w_zp) + B,
 * y = saturate(round(acc · x_scale · w_scale[m] / y_scale) + y_zp) in onnxruntime's float32
 * steps (int8.ts requantize). Conv's attributes.
 */
export const qlinearConv: RefKernel = (inputs, attrs, ctx) => {
  const op = 'QLinearConv';
  const names = ['x', 'x_scale', 'x_zero_point', 'w', 'w_scale', 'w_zero_point', 'y_scale', 'y_zero_point'];
  const [X, Xs, Xz, W, Ws, Wz, Ys, Yz] = names.map((n, i) => requireInput(inputs, i, op, ctx, n)) as [
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
    Tensor,
  ];
  const Bias = inputs[8];
  requireDtype(X, EIGHT_BIT, 'x', op, ctx);
  requireDtype(W, EIGHT_BIT, 'w', op, ctx);
  requireDtype(Yz, EIGHT_BIT, 'y_zero_point', op, ctx);
  requireZeroPoint(Xz, X.dtype, 'x_zero_point', op, ctx);
  requireZeroPoint(Wz, W.dtype, 'w_zero_point', op, ctx);
  for (const [t, n] of [
    [Xs, 'x_scale'],
    [Ws, 'w_scale'],
    [Ys, 'y_scale'],
  ] as const)
    requireScale(t, n, op, ctx);
  const xs = single(Xs, 'x_scale', op, ctx),
    ys = single(Ys, 'y_scale', op, ctx),
    yz = single(Yz, 'y_zero_point', op, ctx);
  const plan = planConv(op, X.dims, W.dims, new AttrReader(op, attrs, ctx));
  const { N, M, P } = plan;
  const ws = perChannel(Ws, M, 'w_scale', op, ctx);
  if (Bias) {
    requireDtype(Bias, ['int32'], 'B', op, ctx);
    if (Bias.dims.length !== 1 || Bias.dims[0] !== M) throw opError(op, ctx, `B must have shape [${M}], got [${Bias.dims.join(', ')}]`);
  }
  const acc = new Int32Array(N * M * P);
  convInto(
    shiftedInput(X, Xz, 'x_zero_point', op, ctx),
    shiftedWeights(W, Wz, 'w_zero_point', op, ctx),
    Bias?.data as Int32Array | undefined,
    acc,
    plan,
  );
  const { lo, hi } = rangeOf(Yz.dtype);
  const y = allocData(Yz.dtype, acc.length) as Int8Array | Uint8Array;
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const mult = requantMultiplier(xs, ws[m]!, ys);
      const o = (n * M + m) * P;
      for (let p = 0; p < P; p++) y[o + p] = requantize(acc[o + p]!, mult, yz, lo, hi);
    }
  }
  return [{ dtype: Yz.dtype, dims: [N, M, ...plan.outSp], data: y }];
};

export const qlinearConvShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'QLinearConv';
  const X = infoOf(inputs, 0, op, ctx),
    W = infoOf(inputs, 3, op, ctx),
    Yz: ValueInfo = infoOf(inputs, 7, op, ctx);
  return [{ dtype: Yz.dtype, dims: convOutputDims(op, X, W, attrs, ctx) }];
};
