// The int8 quantization scheme of Sparrow, stated once. Every layer above uses it: `sparrow
// compress` (src/compress/) to store weights and activation ranges, the int8 engine
// (src/runtime/) to derive its integer parameters at load, the kernel references
// (src/kernels/int8_ref.ts) and the WASM kernels (assembly/int8/) to compute.
//
// Weights: int8 symmetric per output channel. For a weight w of shape dims and a channel axis a,
// view w as (outer, C, inner) with outer = prod(dims[0..a)), C = dims[a], inner = prod(dims(a..]),
// so element (o, c, i) lives at flat index (o*C + c)*inner + i. Per channel c:
//   scale_c = max_{o,i} |w[o,c,i]| / 127          (float32; channelScale)
//   q[o,c,i] = clamp(roundHalfEven(w[o,c,i] / scale_c), -127, 127)   (never -128)
//   dequant  = q * scale_c
// An all-zero channel gets scale 1 (q all 0). Zeros (pruned weights) quantize to exactly 0.
//
// Activations: int8 asymmetric per tensor (TFLite / ONNX QuantizeLinear): a range [min, max] is
// widened to contain 0, scale = fround((max - min) / 255), zero point z = round(-128 - min/scale)
// in [-128, 127], so real 0 is exactly q = z:
//   q = clamp(roundHalfEven(x / scale) + z, -128, 127),   x = (q - z) * scale.
//
// Biases: int32, q_b[c] = roundHalfEven(b[c] / (s_x * s_w[c])) with the bias scale
// fround(s_x * s_w[c]) (s_x the input activation's scale).
//
// Requantization: an int32 accumulator acc (bias added) goes to the output activation by the
// real multiplier s_x * s_w[c] / s_y, held as a Q31 multiplier M0 in [2^30, 2^31) and a shift
// (quantizeMultiplier): y = clamp(z_y + MultiplyByQuantizedMultiplier(acc, M0, -shift), lo, hi),
// integer only (TFLite's arithmetic; references in src/kernels/int8_ref.ts), so results are the
// same bits on every platform. (sparrow-int8 requantizes with float32 multipliers by default,
// QLinearConv's arithmetic, as deterministic in WASM and cheaper there: Int8EngineOptions
// requantMultiplier; this form is its 'q31'.)
//
// ONNX linear quantization (QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul,
// DynamicQuantizeLinear: src/ops/ref/quant.ts) in onnxruntime's float32 arithmetic, so the
// reference kernels give onnxruntime's bits (its CPU EP on x86-64, MLAS; the ONNX reference
// implementation computes some of these products in float64 and differs at rare ties):
//   quantize     q = saturate(roundHalfEven(fround(x / scale)) + zp), NaN → the type's minimum
//                (MLAS clamps with MAXPS/MINPS before rounding: a NaN becomes the lower bound)
//   dequantize   x = fround(fround(q − zp) · scale)
//   requantize   y = saturate(roundHalfEven(fround(fround(acc) · m)) + zp_y) for an int32
//                accumulator acc, with the multiplier m = fround(fround(s_a · s_b) / s_y)
//                (float32 products: the accumulator is rounded to float32 first, |acc| > 2^24)
//   dynamic      uint8 range [min(0, min x), max(0, max x)], scale = fround((max − min) / 255)
//                (1 when max = min), zp = roundHalfEven(clamp(0 − min / scale, 0, 255))
//
// Plain TS, reference first; rounding is half to even everywhere (numpy.rint, ONNX).

import { SparrowError } from '../errors.js';
import type { SparrowWasm } from '../wasm/gateway.js';

export interface QuantizedInt8 {
  /** Same shape and layout as the input weights. */
  q: Int8Array;
  /** One scale per channel: length dims[axis]. */
  scales: Float32Array;
}

export const INT8_QMAX = 127;

/**
 * The per-channel (output-channel) axis for a weight consumed by `op`:
 * Conv (Cout,Cin,kh,kw) -> 0; Gemm transB=1 (N,K) -> 0; Gemm transB=0 (K,N) -> 1;
 * MatMul (..., K, N) -> last axis.
 */
export function channelAxisFor(op: 'Conv' | 'Gemm' | 'MatMul', dims: readonly number[], transB?: boolean): number {
  switch (op) {
    case 'Conv':
      return 0;
    case 'Gemm':
      return transB ? 0 : 1;
    case 'MatMul':
      return dims.length - 1;
  }
}

/**
 * Rounds to the nearest integer, ties to even (banker's rounding), like numpy.rint and ONNX
 * QuantizeLinear; -0.5 < x < 0 gives -0 (as numpy does). NaN stays NaN.
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

interface Layout {
  outer: number;
  channels: number;
  inner: number;
}

function layout(length: number, dims: readonly number[], axis: number): Layout {
  if (!Array.isArray(dims) || dims.length === 0) {
    throw new SparrowError('invalid_argument', 'per-channel quantization needs a tensor of rank >= 1');
  }
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new SparrowError('invalid_argument', `invalid dimension ${d} in [${dims.join(', ')}]`);
    n *= d;
  }
  if (n !== length) {
    throw new SparrowError('invalid_argument', `shape [${dims.join(', ')}] holds ${n} elements but the data has ${length}`);
  }
  if (!Number.isInteger(axis) || axis < 0 || axis >= dims.length) {
    throw new SparrowError('invalid_argument', `axis ${axis} is out of range for shape [${dims.join(', ')}]`);
  }
  let outer = 1;
  for (let k = 0; k < axis; k++) outer *= dims[k]!;
  let inner = 1;
  for (let k = axis + 1; k < dims.length; k++) inner *= dims[k]!;
  return { outer, channels: dims[axis]!, inner };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** The next float32 above a non-negative float32 x. */
function nextFloat32Up(x: number): number {
  f32[0] = x;
  u32[0] = u32[0]! + 1;
  return f32[0];
}
/** The next float32 below a positive float32 x. */
function nextFloat32Down(x: number): number {
  f32[0] = x;
  u32[0] = u32[0]! - 1;
  return f32[0];
}

/**
 * The float32 scale for a channel whose largest magnitude is `maxAbs`: fround(maxAbs / 127),
 * or 1 for an all-zero channel. When maxAbs is so small that maxAbs/127 is a subnormal float32,
 * the rounded scale can be too small for maxAbs to be reached without clamping; it is then
 * nudged up until maxAbs / scale <= 127.5, so the |error| <= scale/2 bound holds everywhere
 * (such channels may then use less than the full [-127, 127] range). At the other end, for
 * maxAbs near the float32 maximum, the scale is nudged down until 127 * scale is finite in
 * float32, so dequantization never overflows to Infinity.
 */
export function channelScale(maxAbs: number, qmax = INT8_QMAX): number {
  if (maxAbs === 0) return 1;
  let s = Math.fround(maxAbs / qmax);
  if (s === 0) s = nextFloat32Up(0); // underflow: smallest positive subnormal
  while (maxAbs / s > qmax + 0.5) s = nextFloat32Up(s);
  while (!Number.isFinite(Math.fround(qmax * s))) s = nextFloat32Down(s);
  return s;
}

/**
 * Symmetric per-channel int8 quantization along `axis` (see the file header).
 * w: (outer, C, inner) flattened in C order, shape `dims`. Throws SparrowError('invalid_argument')
 * for a shape/length mismatch, a bad axis, or a non-finite weight.
 */
export function quantizePerChannelInt8(w: Float32Array, dims: number[], axis: number, qmax = INT8_QMAX): QuantizedInt8 {
  const { outer, channels, inner } = layout(w.length, dims, axis);

  // Pass 1: max |w| per channel. maxAbs: (C)
  const maxAbs = new Float64Array(channels);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        const v = w[base + i]!;
        if (!Number.isFinite(v)) {
          throw new SparrowError('invalid_argument', `weight at flat index ${base + i} is not finite (${v})`);
        }
        const a = Math.abs(v);
        if (a > maxAbs[c]!) maxAbs[c] = a;
      }
    }
  }

  // Scales: (C)
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) scales[c] = channelScale(maxAbs[c]!, qmax);

  // Pass 2: q = clamp(roundHalfEven(w / scale_c), -127, 127). q: same shape as w
  const q = new Int8Array(w.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = scales[c]!;
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        let r = roundHalfEven(w[base + i]! / s);
        if (r > qmax) r = qmax;
        else if (r < -qmax) r = -qmax;
        q[base + i] = r; // -0 stores as 0
      }
    }
  }
  return { q, scales };
}

/**
 * quantizePerChannelInt8 with its two passes in WASM (f32_absmax_channels__wasmsimd,
 * qs8_quantize_channels_f32__wasmsimd, in `w`'s scratch, released before returning): the same
 * q, scales and errors (the scales between the passes are channelScale here; the quotient is
 * rounded in float64 in both), plus the count of nonzero q. The reference runs in JS at ~13 ns a
 * weight on a cold load (EfficientNet-B0's 5.3 M: ~70 ms, docs/engine.md).
 */
export function quantizePerChannelInt8Wasm(
  w: SparrowWasm,
  data: Float32Array,
  dims: number[],
  axis: number,
  qmax = INT8_QMAX,
): QuantizedInt8 & { nnz: number } {
  const { outer, channels, inner } = layout(data.length, dims, axis);
  const n = data.length;
  const m = w.mark();
  try {
    const xp = w.alloc(4 * n),
      sp = w.alloc(4 * channels),
      qp = w.alloc(n);
    const ex = w.exports;
    w.f32(xp, n).set(data);
    // x (outer, C, inner) f32 → max |x| per channel (C) f32 at sp
    const bad = ex.f32_absmax_channels__wasmsimd(outer, channels, inner, xp, sp);
    if (bad >= 0) throw new SparrowError('invalid_argument', `weight at flat index ${bad} is not finite (${data[bad]})`);
    if (bad !== -1) throw new SparrowError('internal', `f32_absmax_channels__wasmsimd failed (status ${bad})`);
    const sv = w.f32(sp, channels);
    const scales = new Float32Array(channels);
    for (let c = 0; c < channels; c++) scales[c] = channelScale(sv[c]!, qmax);
    sv.set(scales);
    // q (outer, C, inner) int8 at qp
    const nnz = ex.qs8_quantize_channels_f32__wasmsimd(outer, channels, inner, xp, sp, qmax, qp);
    if (nnz < 0) throw new SparrowError('internal', `qs8_quantize_channels_f32__wasmsimd failed (status ${nnz})`);
    return { q: w.i8(qp, n).slice(), scales, nnz };
  } finally {
    w.release(m);
  }
}

/** w' = q * scale_c along `axis`; q: shape dims, scales: (dims[axis]). Returns float32 of shape dims. */
export function dequantize(q: Int8Array, scales: Float32Array, dims: number[], axis: number): Float32Array {
  const { outer, channels, inner } = layout(q.length, dims, axis);
  if (scales.length !== channels) {
    throw new SparrowError(
      'invalid_argument',
      `expected ${channels} scales for axis ${axis} of [${dims.join(', ')}], got ${scales.length}`,
    );
  }
  const out = new Float32Array(q.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = scales[c]!;
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) out[base + i] = q[base + i]! * s;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// int8 asymmetric quantization parameters

export interface Int8QuantParams {
  /** float32, finite, > 0 */
  scale: number;
  /** integer in −128..127; real 0 ↔ q = zeroPoint exactly */
  zeroPoint: number;
}

/**
 * Asymmetric int8 parameters of a range (TFLite's rule): the range is widened to contain 0,
 * scale = (rmax − rmin) / 255 (as float32), zeroPoint = round(−128 − rmin / scale) clamped to
 * −128..127. An empty range ([0, 0]) gives scale 1, zeroPoint 0.
 */
export function int8QuantParams(range: { min: number; max: number }): Int8QuantParams {
  const { min, max } = range;
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max)
    throw new SparrowError('invalid_argument', `a range needs finite min ≤ max, got [${min}, ${max}]`);
  const rmin = Math.min(min, 0),
    rmax = Math.max(max, 0);
  if (rmax - rmin === 0) return { scale: 1, zeroPoint: 0 };
  let scale = Math.fround((rmax - rmin) / 255);
  if (!(scale > 0) || !Number.isFinite(scale)) scale = scale > 0 ? 3.4028234663852886e38 : 1.401298464324817e-45; // float32 extremes
  const zp = Math.round(-128 - rmin / scale);
  return { scale, zeroPoint: Math.max(-128, Math.min(127, zp)) + 0 };
}

/** q = clamp(roundHalfEven(x / scale) + zeroPoint, −128, 127). */
export function quantizeInt8(x: number, p: Int8QuantParams): number {
  const q = roundHalfEven(x / p.scale) + p.zeroPoint;
  return q < -128 ? -128 : q > 127 ? 127 : q;
}

/** (q − zeroPoint) · scale */
export function dequantizeInt8(q: number, p: Int8QuantParams): number {
  return (q - p.zeroPoint) * p.scale;
}

// ---------------------------------------------------------------------------------------------
// int32 biases

/** Per-channel bias scales fround(sx · sw[c]) (sw a number: per-tensor). */
export function biasScales(inputScale: number, weightScales: ArrayLike<number> | number, channels?: number): Float32Array {
  const C = typeof weightScales === 'number' ? (channels ?? 1) : weightScales.length;
  if (!(Number.isFinite(inputScale) && inputScale > 0))
    throw new SparrowError('invalid_argument', `input scale must be finite and positive, got ${inputScale}`);
  const out = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const sw = typeof weightScales === 'number' ? weightScales : weightScales[c]!;
    if (!(Number.isFinite(sw) && sw > 0))
      throw new SparrowError('invalid_argument', `weight scale ${c} must be finite and positive, got ${sw}`);
    out[c] = Math.fround(inputScale * sw);
    if (!(out[c]! > 0)) throw new SparrowError('invalid_argument', `bias scale ${c} = ${inputScale}·${sw} underflows float32`);
  }
  return out;
}

export interface Int32Bias {
  q: Int32Array;
  /** fround(sx · sw[c]) per channel */
  scales: Float32Array;
  /** channels whose value was clamped to the int32 range (only with onSaturate 'clamp') */
  saturated: number[];
}

const I32_MAX = 2147483647,
  I32_MIN = -2147483648;

/**
 * int32 bias q[c] = roundHalfEven(b[c] / (sx · sw[c])) for a layer with input scale sx and
 * weight scales sw (per output channel, or one number). A value outside the int32 range throws
 * SparrowError('invalid_argument') naming the channel, unless `onSaturate` is 'clamp'.
 */
export function quantizeBiasInt32(
  bias: ArrayLike<number>,
  inputScale: number,
  weightScales: ArrayLike<number> | number,
  opts: { onSaturate?: 'throw' | 'clamp' } = {},
): Int32Bias {
  if (typeof weightScales !== 'number' && weightScales.length !== bias.length) {
    throw new SparrowError('invalid_argument', `bias has ${bias.length} channels, the weight ${weightScales.length} scales`);
  }
  const scales = biasScales(inputScale, weightScales, bias.length);
  const q = new Int32Array(bias.length);
  const saturated: number[] = [];
  for (let c = 0; c < bias.length; c++) {
    const b = bias[c]!;
    if (!Number.isFinite(b)) throw new SparrowError('invalid_argument', `bias ${c} is ${b}`);
    const v = roundHalfEven(b / scales[c]!);
    if (v > I32_MAX || v < I32_MIN) {
      if (opts.onSaturate !== 'clamp') {
        throw new SparrowError(
          'invalid_argument',
          `bias ${c} = ${b} is ${v} steps of ${scales[c]} (input scale ${inputScale} × weight scale): outside int32`,
        );
      }
      saturated.push(c);
      q[c] = v > 0 ? I32_MAX : I32_MIN;
    } else q[c] = v;
  }
  return { q, scales, saturated };
}

// ---------------------------------------------------------------------------------------------
// requantization multipliers

const P31 = 2 ** 31;

/**
 * TFLite QuantizeMultiplier for a real multiplier ≥ 0: real ≈ M0 · 2^−31 · 2^−shift with
 * M0 ∈ [2^30, 2^31) (or 0). shift > 0 = right shift (real < 0.5), shift < 0 = left shift.
 * Multipliers below 2^−32 give (0, 0) (TFLite). Throws for negative/non-finite or ≥ 2^31.
 */
export function quantizeMultiplier(real: number): { multiplier: number; shift: number } {
  if (!(real >= 0) || !Number.isFinite(real)) throw new RangeError(`quantizeMultiplier: ${real} is not a finite non-negative number`);
  if (real < 2 ** -40) return { multiplier: 0, shift: 0 };
  let exp = Math.ceil(Math.log2(real));
  let frac = real / 2 ** exp;
  while (frac >= 1) {
    frac /= 2;
    exp++;
  }
  while (frac < 0.5) {
    frac *= 2;
    exp--;
  }
  let q = Math.round(frac * P31);
  if (q === P31) {
    q /= 2;
    exp++;
  }
  if (exp < -31) return { multiplier: 0, shift: 0 };
  if (exp > 31) throw new RangeError(`quantizeMultiplier: ${real} is too large`);
  return { multiplier: q, shift: -exp };
}

// ---------------------------------------------------------------------------------------------
// ONNX linear quantization, as onnxruntime computes it (see the file header)

/**
 * saturate(roundHalfEven(v) + zeroPoint) into [lo, hi] for a scaled value v (x / scale, or an
 * accumulator times its multiplier): ±Infinity saturate, NaN gives lo (onnxruntime on x86-64).
 */
export function saturateRound(v: number, zeroPoint: number, lo: number, hi: number): number {
  if (Number.isNaN(v)) return lo;
  const q = roundHalfEven(v) + zeroPoint;
  return q < lo ? lo : q > hi ? hi : q + 0; // + 0: no -0
}

/** ONNX QuantizeLinear of one value: saturate(roundHalfEven(fround(x / scale)) + zeroPoint) into [lo, hi]. */
export function quantizeLinear(x: number, scale: number, zeroPoint: number, lo: number, hi: number): number {
  return saturateRound(Math.fround(x / scale), zeroPoint, lo, hi);
}

/** ONNX DequantizeLinear of one value: fround(fround(q − zeroPoint) · scale). */
export function dequantizeLinear(q: number, zeroPoint: number, scale: number): number {
  return Math.fround(Math.fround(q - zeroPoint) * scale);
}

/** The requantization multiplier of QLinearConv / QLinearMatMul: fround(fround(sa · sb) / sy). */
export function requantMultiplier(sa: number, sb: number, sy: number): number {
  return Math.fround(Math.fround(sa * sb) / sy);
}

/** An int32 accumulator to the output type: saturate(roundHalfEven(fround(fround(acc) · multiplier)) + zeroPoint). */
export function requantize(acc: number, multiplier: number, zeroPoint: number, lo: number, hi: number): number {
  return saturateRound(Math.fround(Math.fround(acc) * multiplier), zeroPoint, lo, hi);
}

/**
 * ONNX DynamicQuantizeLinear's uint8 parameters for data whose smallest and largest values are
 * min and max (float32; NaN-free): the range widened to contain 0, scale = fround((max − min) /
 * 255) (1 for an empty range), zeroPoint = roundHalfEven(clamp(0 − min / scale, 0, 255)) with
 * onnxruntime's std::min/std::max order (a NaN there, from an infinite range, gives 255).
 */
export function dynamicQuantParamsUint8(min: number, max: number): { scale: number; zeroPoint: number } {
  const lo = min < 0 ? min : 0,
    hi = max > 0 ? max : 0;
  const scale = hi === lo ? 1 : Math.fround(Math.fround(hi - lo) / 255);
  const initial = Math.fround(0 - Math.fround(lo / scale));
  const upper = initial < 255 ? initial : 255; // std::min(255.f, initial): NaN → 255
  const clamped = 0 < upper ? upper : 0; // std::max(0.f, upper)
  return { scale, zeroPoint: roundHalfEven(clamped) + 0 };
}
