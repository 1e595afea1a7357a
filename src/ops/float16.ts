// IEEE binary16 (float16) and bfloat16 bit patterns <-> JS numbers, the conversions of the
// IR's edge types (src/ops/types.ts). Exact: decoding gives the pattern's value (every float16
// and bfloat16 value is a float32 value); encoding rounds any JS number (float64, so float32
// values too) once, to nearest with ties to even, straight from float64 (no double rounding
// through float32). Overflow gives ±Inf, subnormals are produced and read, ±0 keep their sign,
// NaN becomes the canonical quiet NaN (0x7E00 / 0x7FC0; JS numbers do not carry NaN payloads
// or signs reliably). bigint → float goes through `bigintToNumberOdd` (round to odd), so that
// int64/uint64 → float32/float16/bfloat16 rounds once too.
//
// Layouts: float16 = sign 1 | exponent 5 (bias 15) | mantissa 10;
//          bfloat16 = sign 1 | exponent 8 (bias 127) | mantissa 7 (the top half of a float32).

/** The biased float64 exponent field of a finite number (0 for ±0 and subnormals), read from its bits. */
const scratch = new DataView(new ArrayBuffer(8));
function float64ExponentField(a: number): number {
  scratch.setFloat64(0, a); // big-endian: byte 0 holds the sign and the top 7 exponent bits
  return (scratch.getUint16(0) >> 4) & 0x7ff;
}

/** q rounded to an integer, ties to even (q >= 0). */
function roundHalfEven(q: number): number {
  const f = Math.floor(q);
  const d = q - f; // exact: q < 2^53 with a fractional part
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The bits of the binary format with `expBits` exponent and `mantBits` mantissa bits (IEEE
 * layout, bias 2^(expBits-1) - 1) nearest to `x`, ties to even; NaN → `nan`.
 */
function encodeFloat(x: number, expBits: number, mantBits: number, nan: number): number {
  const signBit = 1 << (expBits + mantBits);
  if (Number.isNaN(x)) return nan;
  const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
  const a = Math.abs(x);
  const bias = (1 << (expBits - 1)) - 1;
  const expMax = (1 << expBits) - 1; // all ones: Inf / NaN
  const inf = sign | (expMax << mantBits);
  if (a === Infinity) return inf;
  const minNormalExp = 1 - bias; // exponent of the smallest normal number
  const e = float64ExponentField(a) - 1023; // floor(log2(a)) for normal doubles
  if (e < minNormalExp) {
    // subnormal (or zero): a multiple of 2^(minNormalExp - mantBits); r == 2^mantBits is the
    // smallest normal number, whose bits are exactly r
    const r = roundHalfEven(a * 2 ** (mantBits - minNormalExp));
    return sign | r;
  }
  let r = roundHalfEven((a * 2 ** -e - 1) * 2 ** mantBits); // mantissa, exact products and difference
  let ex = e;
  if (r === 1 << mantBits) {
    r = 0;
    ex++;
  }
  if (ex + bias >= expMax) return inf;
  return sign | ((ex + bias) << mantBits) | r;
}

/** The value of bits in the format with `expBits` / `mantBits` (exact in float64). */
function decodeFloat(bits: number, expBits: number, mantBits: number): number {
  const bias = (1 << (expBits - 1)) - 1;
  const expMax = (1 << expBits) - 1;
  const mantMask = (1 << mantBits) - 1;
  const s = bits >> (expBits + mantBits) ? -1 : 1;
  const ex = (bits >> mantBits) & expMax;
  const m = bits & mantMask;
  if (ex === expMax) return m ? NaN : s * Infinity;
  if (ex === 0) return s * m * 2 ** (1 - bias - mantBits); // subnormal or ±0
  return s * (1 + m * 2 ** -mantBits) * 2 ** (ex - bias);
}

/** The value of a float16 bit pattern (0..65535). */
export function float16ToNumber(bits: number): number {
  return decodeFloat(bits & 0xffff, 5, 10);
}

/** The float16 bit pattern nearest to `x` (round to nearest, ties to even; overflow → ±Inf; NaN → 0x7E00). */
export function numberToFloat16(x: number): number {
  return encodeFloat(x, 5, 10, 0x7e00);
}

/** The value of a bfloat16 bit pattern (0..65535). */
export function bfloat16ToNumber(bits: number): number {
  return decodeFloat(bits & 0xffff, 8, 7);
}

/** The bfloat16 bit pattern nearest to `x` (round to nearest, ties to even; overflow → ±Inf; NaN → 0x7FC0). */
export function numberToBfloat16(x: number): number {
  return encodeFloat(x, 8, 7, 0x7fc0);
}

/** float16 bits → float32 values. */
export function float16ArrayToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16ToNumber(bits[i]!);
  return out;
}

/** Numbers (float32 or float64 values) → float16 bits, each rounded once. */
export function toFloat16Array(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToFloat16(values[i]!);
  return out;
}

/** bfloat16 bits → float32 values. */
export function bfloat16ArrayToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bfloat16ToNumber(bits[i]!);
  return out;
}

/** Numbers (float32 or float64 values) → bfloat16 bits, each rounded once. */
export function toBfloat16Array(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToBfloat16(values[i]!);
  return out;
}

/**
 * A bigint as a number rounded to odd at 53 bits: |v| < 2^53 exactly; beyond, the 53 leading
 * bits with the last one set when any dropped bit is. Rounding that number again to a format of
 * at most 51 mantissa bits (float32, float16, bfloat16) gives the correctly rounded value of v
 * (round to odd keeps double rounding exact); Number(v) would round twice.
 */
export function bigintToNumberOdd(v: bigint): number {
  const neg = v < 0n;
  let a = neg ? -v : v;
  if (a < 2n ** 53n) return Number(v);
  const drop = BigInt(a.toString(2).length - 53);
  const kept = a >> drop;
  a = (kept | (kept << drop !== a ? 1n : 0n)) << drop; // sticky bit: odd when inexact
  return neg ? -Number(a) : Number(a); // 53 significant bits: Number() is exact
}
