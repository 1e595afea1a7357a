// Symmetric per-channel int8 quantization of float32 weights. Reference-first: plain loops.
//
// For a weight w of shape dims and a channel axis a, view w as (outer, C, inner) with
//   outer = prod(dims[0..a)), C = dims[a], inner = prod(dims(a..]),
// so element (o, c, i) lives at flat index (o*C + c)*inner + i. Per channel c:
//   scale_c = max_{o,i} |w[o,c,i]| / 127          (float32)
//   q[o,c,i] = clamp(roundHalfEven(w[o,c,i] / scale_c), -127, 127)   (never -128)
//   dequant  = q * scale_c
// An all-zero channel gets scale 1 (q all 0). Zeros always quantize to exactly 0.

import { SparrowError } from '../errors.js';

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

/** Rounds to the nearest integer, ties to even (banker's rounding), like numpy.rint. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
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
export function channelScale(maxAbs: number): number {
  if (maxAbs === 0) return 1;
  let s = Math.fround(maxAbs / INT8_QMAX);
  if (s === 0) s = nextFloat32Up(0); // underflow: smallest positive subnormal
  while (maxAbs / s > INT8_QMAX + 0.5) s = nextFloat32Up(s);
  while (!Number.isFinite(Math.fround(INT8_QMAX * s))) s = nextFloat32Down(s);
  return s;
}

/**
 * Symmetric per-channel int8 quantization along `axis` (see the file header).
 * w: (outer, C, inner) flattened in C order, shape `dims`. Throws SparrowError('invalid_argument')
 * for a shape/length mismatch, a bad axis, or a non-finite weight.
 */
export function quantizePerChannelInt8(w: Float32Array, dims: number[], axis: number): QuantizedInt8 {
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
  for (let c = 0; c < channels; c++) scales[c] = channelScale(maxAbs[c]!);

  // Pass 2: q = clamp(roundHalfEven(w / scale_c), -127, 127). q: same shape as w
  const q = new Int8Array(w.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = scales[c]!;
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        let r = roundHalfEven(w[base + i]! / s);
        if (r > INT8_QMAX) r = INT8_QMAX;
        else if (r < -INT8_QMAX) r = -INT8_QMAX;
        q[base + i] = r; // -0 stores as 0
      }
    }
  }
  return { q, scales };
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
