// Cast (ONNX 6, 9, 13, 19, 21, 23, 24, 25) between every pair of IR dtypes, with onnxruntime's
// results on x86-64 (test/dtypes.test.ts checks them against onnxruntime-node):
//   - to float32 / float64 / float16 / bfloat16: the source value rounded once to nearest,
//     ties to even (int64/uint64 beyond 2^53 too: bigintToNumberOdd); float16/bfloat16 sources
//     are decoded exactly; float → float16 overflows to ±Inf.
//   - float → integer: truncation toward zero. NaN, ±Inf and values out of range give what x86's
//     truncating conversions (cvttss2si / cvttsd2si) give: int32 and int64 the "integer
//     indefinite" value INT32_MIN / INT64_MIN; int8, uint8, int16, uint16 the low bits of the
//     int32 conversion (300.7 → int8 44, 70000.5 → int16 4464, NaN → 0); uint64 the compilers'
//     unsigned sequence x ≥ 2^63 ? cvtt64(x − 2^63) ^ 2^63 : cvtt64(x), so NaN → 2^63,
//     +Inf → 0, −Inf → 2^63, −1 → 2^64 − 1; uint32 from float32/float64 the same sequence with
//     2^31 and cvtt32 (NaN → 2^31, +Inf → 0, 1e10 → 0, −1 → 2^32 − 1: numpy, and onnxruntime's
//     vectorized loop), from float16/bfloat16 the low 32 bits of cvtt64 (NaN, ±Inf → 0:
//     onnxruntime and numpy). onnxruntime's float32 → uint32 loop gives the cvtt64 low bits to
//     the last (n mod 4) elements of a tensor instead, out of range only: we follow its
//     vectorized body and numpy, which agree.
//   - integer → integer: two's-complement wrap (the low bits).
//   - anything → bool: value ≠ 0 (NaN → true, −0 → false); bool → numbers: 0 / 1.
// `saturate` (opset 19) and `round_mode` (opset 24) apply to float8 targets only, which the IR
// does not have: Cast to FLOAT8*, INT4/UINT4, INT2/UINT2, FLOAT4E2M1, STRING... is unsupported_op
// naming the type.

import type { Attrs, KernelContext, RefKernel, ShapeFn, Tensor, TensorData, TensorDType } from '../types.js';
import { dtypeFromOnnx, dtypeName as onnxTypeName, SUPPORTED_TYPES_TEXT } from '../dtypes.js';
import { bfloat16ToNumber, bigintToNumberOdd, float16ToNumber, numberToBfloat16, numberToFloat16 } from '../float16.js';
import { AttrReader, allocData, infoOf, opUnsupported, requireInput } from './util.js';

const INT32_MIN = -2147483648;
const INT64_MIN = -(2n ** 63n);
const TWO31 = 2 ** 31;
const TWO63 = 2 ** 63;

/** x86 cvttss2si/cvttsd2si, 32-bit: truncation, INT32_MIN for NaN and out of range. */
function cvtt32(x: number): number {
  return x > -2147483649 && x < 2147483648 ? Math.trunc(x) : INT32_MIN; // false for NaN
}

/** x86 cvttss2si/cvttsd2si, 64-bit: truncation, INT64_MIN for NaN and out of range. */
function cvtt64(x: number): bigint {
  return x >= -TWO63 && x < TWO63 ? BigInt(Math.trunc(x)) : INT64_MIN;
}

/**
 * A float value (NaN and ±Inf included) stored into an integer dtype as onnxruntime on x86-64
 * does (header); `half` for float16/bfloat16 sources (uint32 differs).
 */
export function floatToInteger(x: number, to: TensorDType, half = false): number | bigint {
  switch (to) {
    case 'int64':
      return cvtt64(x);
    case 'uint64':
      return BigInt.asUintN(64, x >= TWO63 ? cvtt64(x - TWO63) ^ INT64_MIN : cvtt64(x));
    case 'uint32':
      if (half) return Number(BigInt.asUintN(32, cvtt64(x)));
      return (x >= TWO31 ? cvtt32(x - TWO31) ^ INT32_MIN : cvtt32(x)) >>> 0;
    default:
      return cvtt32(x); // int32; int16/uint16/int8/uint8 keep the low bits on store
  }
}

const FLOATS: readonly TensorDType[] = ['float32', 'float64', 'float16', 'bfloat16'];
const isBig = (d: TensorDType): boolean => d === 'int64' || d === 'uint64';

/** Element reader of a tensor: float16/bfloat16 decoded, everything else as stored (number or bigint). */
function reader(x: Tensor): (i: number) => number | bigint {
  const d = x.data as unknown as ArrayLike<number | bigint>;
  if (x.dtype === 'float16') return (i) => float16ToNumber(d[i] as number);
  if (x.dtype === 'bfloat16') return (i) => bfloat16ToNumber(d[i] as number);
  return (i) => d[i]!;
}

/** A bigint or number value as a float (rounded once by the caller's format: see bigintToNumberOdd). */
const toFloatNumber = (v: number | bigint): number => (typeof v === 'bigint' ? bigintToNumberOdd(v) : v);

/** Cast of a tensor to `to` (header). The output is a fresh tensor, also when the dtype is unchanged. */
export function castTensor(x: Tensor, to: TensorDType): Tensor {
  const n = x.data.length;
  if (x.dtype === to) return { dtype: to, dims: [...x.dims], data: x.data.slice() as TensorData };
  const out = allocData(to, n);
  const o = out as unknown as { [i: number]: number | bigint };
  const get = reader(x);
  const fromFloat = FLOATS.includes(x.dtype);
  const half = x.dtype === 'float16' || x.dtype === 'bfloat16';
  switch (to) {
    case 'bool':
      for (let i = 0; i < n; i++) {
        const v = get(i);
        o[i] = v === 0 || v === 0n ? 0 : 1; // NaN !== 0: true; -0 === 0: false
      }
      break;
    case 'float32':
      for (let i = 0; i < n; i++) o[i] = toFloatNumber(get(i)); // the Float32Array store rounds (once, after round to odd)
      break;
    case 'float64':
      for (let i = 0; i < n; i++) {
        const v = get(i);
        o[i] = typeof v === 'bigint' ? Number(v) : v; // Number(bigint) rounds once to nearest even
      }
      break;
    case 'float16':
      for (let i = 0; i < n; i++) o[i] = numberToFloat16(toFloatNumber(get(i)));
      break;
    case 'bfloat16':
      for (let i = 0; i < n; i++) o[i] = numberToBfloat16(toFloatNumber(get(i)));
      break;
    default:
      // integer targets: the typed-array store wraps numbers to 8/16/32 bits and bigints to 64 bits
      for (let i = 0; i < n; i++) {
        const v = get(i);
        if (fromFloat) o[i] = floatToInteger(v as number, to, half);
        else if (isBig(to)) o[i] = typeof v === 'bigint' ? v : BigInt(v);
        else o[i] = typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : v;
      }
  }
  return { dtype: to, dims: [...x.dims], data: out };
}

function castTarget(attrs: Attrs, ctx: KernelContext): TensorDType {
  const code = new AttrReader('Cast', attrs, ctx).requiredInt('to');
  const dt = dtypeFromOnnx(code);
  if (!dt) throw opUnsupported('Cast', ctx, `cast to ${onnxTypeName(code)} (${code}): Sparrow has ${SUPPORTED_TYPES_TEXT}`);
  return dt;
}

export const cast: RefKernel = (inputs, attrs, ctx) => [castTensor(requireInput(inputs, 0, 'Cast', ctx, 'input'), castTarget(attrs, ctx))];

export const castShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const x = infoOf(inputs, 0, 'Cast', ctx);
  return [{ dtype: castTarget(attrs, ctx), dims: x.dims ? [...x.dims] : null }];
};
