// Shared pieces of the int8 kernels (assembly/int8/): conv geometry, the quantization block,
// the per-channel output stage (requantization, bit-exact with src/kernels/int8_ref.ts), the
// padded int16 input planes and the pair-interleaved im2col panels.
//
// Quantization (the scheme of src/quant/int8.ts):
//   weights     int8 symmetric per output channel (real = q·s_w[c]), pruned weights exactly 0
//   activations int8 asymmetric per tensor (real = s·(q − z)), q, z ∈ [−128, 127]
//   accumulator acc[c, m] = Σ_k W[c, k]·(X[k, m] − z_x)  (int32; padding taps read z_x, i.e. 0 here)
// The kernels subtract z_x while widening the input to int16 (padding = 0), so no −z_x·ΣW fold
// of the bias is needed: the integer result is the same (exact integer arithmetic).
//
// Quant block q (18 words, 80 bytes with padding), written by writeQuantBlock in src/kernels/int8.ts:
//   0 mode  0 = int8 out (requantized), 1 = float32 out ("dynamic"), 2 = int32 out (acc + bias),
//           3 = int8 out requantized as ONNX QLinearConv / QLinearMatMul (float multiplier)
//   1 zx    input zero point             2 zy  output zero point (modes 0, 3)
//   3 qlo   4 qhi   int8 clamp (modes 0, 3: fused ReLU/Clip in the quantized domain, else −128/127)
//   5 flo   6 fhi   float32 clamp (mode 1; −Inf/+Inf for none)
//   7 act   mode 1 only (0 in the others): a float32 activation after the clamp, per 8 outputs
//           in registers (the ACT_* codes ≥ 2 of f32ops/unary.ts: actV, bit for bit the
//           standalone f32 kernels); with act = HardSigmoid (5), words 2 and 3 hold its alpha
//           and beta as float32 (mode 1 has no zy / qlo)
//   8 add   mode 0 only (0 in the others): 1 = a residual Add fused into the output stage
//           (storeAdd8): each int8 output c, computed and clamped as above, is added to the
//           int8 element s of the same position in another tensor of the same layout, at byte
//           offset `delta` (word 9, wrapping) from the output's, in qs8_vadd's single-multiplier
//           form with words 10..17 (za zb zy A B S lo hi, as its parameter block, a = c, b = s):
//           y = clamp(zy + ((c − za)·A + (s − zb)·B + 2^(S−1)) >> S, lo, hi), the bits of the
//           conv's int8 output followed by qs8_vadd. s is read before y is written at the same
//           position, so the other tensor may be the output itself (in place).
// Per-channel parameters qp (N = output channels; arrays back to back, 4-byte elements):
//   mode 0: bias i32[N] | M0 i32[N] | shift i32[N]
//           y = clamp(zy + RoundingDivideByPOT(SRDHM((acc + bias) << ls, M0), rs), qlo, qhi)
//           with shift > 0: rs = shift, ls = 0; shift ≤ 0: ls = −shift, rs = 0 (TFLite's
//           MultiplyByQuantizedMultiplier with exponent = −shift). M0 ∈ [0, 2^31), shift ∈ [−31, 31].
//   mode 1: scale f32[N] | bias f32[N]      y = pmin(fhi, pmax(flo, f32(acc)·scale[c] + bias[c]))
//           (each op rounded to float32, no FMA, in this order)
//   mode 2: bias i32[N]                     y = acc + bias[c]   (wrapping int32)
//   mode 3: bias i32[N] | m f32[N]
//           y = zy + nearest(clamp(f32(acc + bias[c])·m[c], qlo − zy, qhi − zy))
//           (ONNX / onnxruntime: the int32 sum rounded to float32, times the float32 multiplier
//           m = fround(fround(s_x·s_w[c]) / s_y), rounded half to even, saturated; the clamp
//           bounds are integers, so clamping before or after the rounding is the same)

import {
  G_C, G_H, G_W, G_M, G_KH, G_KW, G_OH, G_OW, G_PT, G_PL, G_PB, G_PR, G_SH, G_SW, G_DH, G_DW, G_GROUPS, gi, geomShapeOk,
} from '../geometry';
import { actV, applyAct } from '../f32ops/unary';

/**
 * actV behind one call, not inlined: storeRow8 is inlined into every int8 kernel, and actV's
 * seven vector functions inlined there grew the module by 97 KB (162 → 259 KB). The call costs
 * nothing when the block has no activation (act ≤ 1 skips it).
 */
function actV4(act: i32, x: v128, p0: v128, p1: v128): v128 {
  return actV(act, x, p0, p1);
}

export const E_ARG: i32 = -5;

/**
 * 1.5·2^23 as float32 and its bits: for an integer k with |k| < 2^22, MAGIC_F + k is exact and
 * its bits are MAGIC_BITS + k (the float→int conversion of the quantizers without trunc_sat).
 */
export const MAGIC_F: f32 = 12582912.0, MAGIC_BITS: i32 = 0x4B400000;

export const Q_MODE = 0, Q_ZX = 1, Q_ZY = 2, Q_LO = 3, Q_HI = 4, Q_FLO = 5, Q_FHI = 6, Q_ACT = 7;
export const Q_ADD = 8, Q_ADD_DELTA = 9, Q_ADD_P = 10;
export const MODE_Q8: i32 = 0, MODE_F32: i32 = 1, MODE_I32: i32 = 2, MODE_QF: i32 = 3;

export { gi } from '../geometry';

@inline export function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15);
}

// ---- scalar requantization (TFLite / gemmlowp), the exact formulas of int8_ref.ts ----------

/**
 * SaturatingRoundingDoublingHighMul for b ≥ 0 (then a = b = INT32_MIN cannot occur):
 * TFLite's (ab + nudge) / 2^31 with truncation toward zero equals floor((ab + 2^30) / 2^31).
 */
@inline export function srdhm(a: i32, b: i32): i32 {
  return <i32>((<i64>a * <i64>b + (<i64>1 << 30)) >> 31);
}

/** RoundingDivideByPOT(x, e): x / 2^e rounded to nearest, ties away from zero. */
@inline export function rdbpot(x: i32, e: i32): i32 {
  const mask = (1 << e) - 1;
  const rem = x & mask;
  const thr = (mask >> 1) + <i32>(<u32>x >> 31);
  return (x >> e) + select<i32>(1, 0, rem > thr);
}

/** MultiplyByQuantizedMultiplier(x, M0, exponent = −shift): see the header. */
@inline export function mulQ(x: i32, m: i32, shift: i32): i32 {
  const ls = shift < 0 ? -shift : 0, rs = shift > 0 ? shift : 0;
  return rdbpot(srdhm(x << ls, m), rs);
}

/** One output of the output stage (any mode) for accumulator acc of channel c, stored at dst. */
export function storeScalar(acc: i32, c: usize, q: usize, qp: usize, N: usize, dst: usize): void {
  const mode = gi(q, Q_MODE);
  if (mode == MODE_Q8) {
    const a = acc + load<i32>(qp + (c << 2));
    let v = gi(q, Q_ZY) + mulQ(a, load<i32>(qp + ((N + c) << 2)), load<i32>(qp + ((2 * N + c) << 2)));
    v = max(gi(q, Q_LO), v); v = min(gi(q, Q_HI), v);
    if (gi(q, Q_ADD) != 0) v = vadd1(v, <i32>load<i8>(dst + <usize>gi(q, Q_ADD_DELTA)), q + (<usize>Q_ADD_P << 2));
    store<i8>(dst, <i8>v);
  } else if (mode == MODE_QF) {
    const zy = gi(q, Q_ZY);
    let v: f32 = <f32>(acc + load<i32>(qp + (c << 2))) * load<f32>(qp + ((N + c) << 2));
    const lo = <f32>(gi(q, Q_LO) - zy), hi = <f32>(gi(q, Q_HI) - zy);
    v = lo < v ? v : lo; v = v < hi ? v : hi;
    let r = zy + <i32>nearest<f32>(v);
    if (gi(q, Q_ADD) != 0) r = vadd1(r, <i32>load<i8>(dst + <usize>gi(q, Q_ADD_DELTA)), q + (<usize>Q_ADD_P << 2));
    store<i8>(dst, <i8>r);
  } else if (mode == MODE_F32) {
    let v: f32 = <f32>acc * load<f32>(qp + (c << 2));
    v = v + load<f32>(qp + ((N + c) << 2));
    const lo = load<f32>(q + (<usize>Q_FLO << 2)), hi = load<f32>(q + (<usize>Q_FHI << 2));
    v = lo < v ? v : lo; v = v < hi ? v : hi;
    const act = gi(q, Q_ACT);
    if (act > 1) v = f32x4.extract_lane(actV4(act, f32x4.splat(v), v128.load32_splat(q + 8), v128.load32_splat(q + 12)), 0);
    store<f32>(dst, v);
  } else {
    store<i32>(dst, acc + load<i32>(qp + (c << 2)));
  }
}

/** The float32 activation of quant block q (Q_ACT; 0 in other modes than float32). */
@inline export function qAct(q: usize): i32 {
  return gi(q, Q_MODE) == MODE_F32 ? gi(q, Q_ACT) : 0;
}

/**
 * Applies activation act (≥ 2, qAct) of quant block q in place to `rows` rows of n floats, row
 * stride rowB bytes: the same vector function as storeRow8's, over a block the kernel has just
 * stored (in cache), for kernels whose tiles store without it.
 */
export function actRows(act: i32, q: usize, y: usize, rows: usize, rowB: usize, n: usize): void {
  const p0 = load<f32>(q + 8), p1 = load<f32>(q + 12);
  for (let r: usize = 0; r < rows; r++) applyAct(act, y + r * rowB, n, p0, p1);
}

/** Bytes per output element of the block's mode. */
@inline export function outBytes(q: usize): usize {
  const mode = gi(q, Q_MODE);
  return mode == MODE_Q8 || mode == MODE_QF ? 1 : 4;
}

/** True when the quant block is usable (mode known, zero points and clamps in range). */
export function quantOk(q: usize): bool {
  const mode = gi(q, Q_MODE), zx = gi(q, Q_ZX), zy = gi(q, Q_ZY), lo = gi(q, Q_LO), hi = gi(q, Q_HI);
  if (mode < 0 || mode > 3 || zx < -128 || zx > 127) return false;
  const act = gi(q, Q_ACT);
  if (act != 0 && (mode != MODE_F32 || act < 2 || act > 8)) return false;
  if ((mode == MODE_Q8 || mode == MODE_QF) && (zy < -128 || zy > 127 || lo < -128 || hi > 127 || lo > hi)) return false;
  const add = gi(q, Q_ADD);
  return add == 0 || (add == 1 && (mode == MODE_Q8 || mode == MODE_QF) && vaddParamsOk(q + (<usize>Q_ADD_P << 2)));
}

// ---- qs8_vadd's arithmetic (ops.ts), shared with the fused residual Add ---------------------
// p: its 8-word parameter block (za zb zy A B S lo hi); a, b int8:
//   y = clamp(zy + ((a − za)·A + (b − zb)·B + 2^(S−1)) >> S, lo, hi)

/** The block is usable: zero points int8, 0 ≤ A, B < 2^22 and 1 ≤ S ≤ 23 (so |acc| + 2^(S−1) < 2^31), lo ≤ hi in int8. */
export function vaddParamsOk(p: usize): bool {
  for (let i = 0; i < 3; i++) { const z = gi(p, i); if (z < -128 || z > 127) return false; }
  const A = gi(p, 3), B = gi(p, 4), S = gi(p, 5), lo = gi(p, 6), hi = gi(p, 7);
  return A >= 0 && A < (1 << 22) && B >= 0 && B < (1 << 22) && S >= 1 && S <= 23 && lo >= -128 && hi <= 127 && lo <= hi;
}

/** One sum (the scalar form). */
@inline export function vadd1(a: i32, b: i32, p: usize): i32 {
  const S = gi(p, 5);
  const v = gi(p, 2) + (((a - gi(p, 0)) * gi(p, 3) + (b - gi(p, 1)) * gi(p, 4) + (1 << (S - 1))) >> S);
  return min(gi(p, 7), max(gi(p, 6), v));
}

/**
 * 8 sums from a0, a1 = a − za (int32 lanes 0..3, 4..7) and db = b − zb (int16 lanes 0..7), the
 * parameters splatted (vzy int16, vlo and vhi int8): the int8 sums in bytes 0..7. (Or a, b
 * themselves with the zero points in vr: 2^(S−1) − za·A − zb·B, the same int32: storeQ8Tail.) (acc >> S)
 * saturates to int16, + zy saturating, then to int8 with saturation: the clamp to [lo, hi] ⊂
 * int8 that follows gives vadd1's value.
 */
@inline export function vaddV8(a0: v128, a1: v128, db: v128, vA: v128, vB: v128, vr: v128, S: i32, vzy: v128, vlo: v128, vhi: v128): v128 {
  const s0 = i32x4.shr_s(i32x4.add(i32x4.add(i32x4.mul(a0, vA), i32x4.mul(i32x4.extend_low_i16x8_s(db), vB)), vr), S);
  const s1 = i32x4.shr_s(i32x4.add(i32x4.add(i32x4.mul(a1, vA), i32x4.mul(i32x4.extend_high_i16x8_s(db), vB)), vr), S);
  const s16 = i16x8.add_sat_s(i16x8.narrow_i32x4_s(s0, s1), vzy);
  const q = i8x16.narrow_i16x8_s(s16, s16);
  return i8x16.min_s(vhi, i8x16.max_s(vlo, q));
}

/** The 4x4 int32 transpose of rows r0..r3: lane j of every row (column j) at dst + j·stride. */
@inline export function store4x4T(dst: usize, stride: usize, r0: v128, r1: v128, r2: v128, r3: v128): void {
  const l01 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5), h01 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7);
  const l23 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5), h23 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<i64>(l01, l23, 0, 2));
  v128.store(dst + stride, v128.shuffle<i64>(l01, l23, 1, 3));
  v128.store(dst + 2 * stride, v128.shuffle<i64>(h01, h23, 0, 2));
  v128.store(dst + 3 * stride, v128.shuffle<i64>(h01, h23, 1, 3));
}

/** Stores bytes 0..nc−1 (nc 1..8) of v at dst. */
@inline export function storeBytes8(dst: usize, v: v128, nc: usize): void {
  if (nc >= 8) { v128.store64_lane(dst, v, 0); return; }
  if (nc & 4) { v128.store32_lane(dst, v, 0); v = v128.shuffle<i32>(v, v, 1, 1, 1, 1); dst += 4; }
  if (nc & 2) { v128.store16_lane(dst, v, 0); v = i32x4.shr_u(v, 16); dst += 2; }
  if (nc & 1) { v128.store8_lane(dst, v, 0); }
}

/**
 * storeRow8's MODE_QF output stage (no fused Add) with the channel's constants splatted once by
 * the caller: vb bias, vm multiplier, vlo/vhi = lo − zy, hi − zy, magic 1.5·2^23, vmz =
 * 0x4B400000 − zy. The same operations in the same order as storeRow8: the same bytes.
 */
@inline export function storeQf8(a0: v128, a1: v128, vb: v128, vm: v128, vlo: v128, vhi: v128, magic: v128, vmz: v128, dst: usize, nc: usize): void {
  let f0 = f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(a0, vb)), vm);
  let f1 = f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(a1, vb)), vm);
  f0 = f32x4.pmin(vhi, f32x4.pmax(vlo, f0)); f1 = f32x4.pmin(vhi, f32x4.pmax(vlo, f1));
  const r0 = i32x4.sub(f32x4.add(f0, magic), vmz);
  const r1 = i32x4.sub(f32x4.add(f1, magic), vmz);
  const b16 = i16x8.narrow_i32x4_s(r0, r1);
  storeBytes8(dst, i8x16.narrow_i16x8_s(b16, b16), nc);
}

/** The nc (1..8) bytes at sc in the low lanes (the fused Add's other tensor, read before any store: it may be the output itself). */
@inline function otherBytes8(sc: usize, nc: usize): v128 {
  if (nc >= 8) return v128.load64_zero(sc);
  let w: u64 = 0;
  for (let j: usize = 0; j < nc; j++) w |= <u64>load<u8>(sc + j) << (<u64>j << 3);
  return i64x2.splat(<i64>w);
}

/**
 * The fused residual Add of quant block q (word 8) on the int8 outputs r0 (pixels 0..3), r1
 * (4..7) of one channel row, clamped, as int32 lanes; stores the first nc (1..8) sums at dst.
 * Inlined into storeRow8 (a call per 8 outputs cost as much as the Add saved).
 */
@inline function storeAdd8(r0: v128, r1: v128, q: usize, dst: usize, nc: usize): void {
  const p = q + (<usize>Q_ADD_P << 2);
  const sb = otherBytes8(dst + <usize>gi(q, Q_ADD_DELTA), nc);
  // a = the outputs (int8 values already, so their i32 form is qs8_vadd's)
  const vza = i32x4.splat(gi(p, 0)), S = gi(p, 5);
  const db = i16x8.sub(i16x8.extend_low_i8x16_s(sb), i16x8.splat(<i16>gi(p, 1)));
  const v = vaddV8(i32x4.sub(r0, vza), i32x4.sub(r1, vza), db, i32x4.splat(gi(p, 3)), i32x4.splat(gi(p, 4)),
    i32x4.splat(1 << (S - 1)), S, i16x8.splat(<i16>gi(p, 2)), i8x16.splat(<i8>gi(p, 6)), i8x16.splat(<i8>gi(p, 7)));
  storeBytes8(dst, v, nc);
}

// ---- SIMD output stage ---------------------------------------------------------------------

// storeRow8's MODE_Q8 path with its constants splatted once instead of per 8 outputs: the
// layer's by q8Layer (once per kernel call), the channel's by q8Channel (once per channel and
// panel), kept in this instance's globals (each thread has its own instance) for storeRowQ8.
let Q8Z = i32x4(0, 0, 0, 0), Q8LO = Q8Z, Q8HI = Q8Z;                         // z_y, clamps
let Q8ADD = false, Q8DELTA: usize = 0, Q8S: i32 = 0;                         // the fused Add: on, other − y, shift
let Q8ZY16 = Q8Z, Q8A = Q8Z, Q8B = Q8Z, Q8R = Q8Z, Q8LO8 = Q8Z, Q8HI8 = Q8Z;
let Q8BIAS = Q8Z, Q8M = Q8Z, Q8MASK = Q8Z, Q8HALF = Q8Z, Q8LS: i32 = 0, Q8RS: i32 = 0; // the channel's
// MODE_QF (float32 multiplier): on, the clamps lo − zy and hi − zy as float32, 0x4B400000 − zy
let Q8QF = false, Q8FLO = Q8Z, Q8FHI = Q8Z, Q8VMZ = Q8Z;

/** True for the modes with an int8 output whose constants q8Layer / q8Channel splat (MODE_Q8, MODE_QF). */
@inline export function q8Mode(q: usize): bool {
  const mode = gi(q, Q_MODE);
  return mode == MODE_Q8 || mode == MODE_QF;
}

/** The layer's output-stage constants of quant block q (MODE_Q8 or MODE_QF), for storeRowQ8. */
@inline export function q8Layer(q: usize): void {
  Q8Z = i32x4.splat(gi(q, Q_ZY)); Q8LO = i32x4.splat(gi(q, Q_LO)); Q8HI = i32x4.splat(gi(q, Q_HI));
  const zy = gi(q, Q_ZY);
  Q8QF = gi(q, Q_MODE) == MODE_QF;
  Q8FLO = f32x4.splat(<f32>(gi(q, Q_LO) - zy)); Q8FHI = f32x4.splat(<f32>(gi(q, Q_HI) - zy));
  Q8VMZ = i32x4.splat(MAGIC_BITS - zy);
  Q8ADD = gi(q, Q_ADD) != 0;
  const p = q + (<usize>Q_ADD_P << 2);
  Q8DELTA = <usize>gi(q, Q_ADD_DELTA); Q8S = gi(p, 5);
  Q8ZY16 = i16x8.splat(<i16>gi(p, 2));
  Q8A = i32x4.splat(gi(p, 3)); Q8B = i32x4.splat(gi(p, 4));
  // the zero points folded into the rounding constant: (a − za)·A + (b − zb)·B + 2^(S−1) =
  // a·A + b·B + (2^(S−1) − za·A − zb·B), the same int32 modulo 2^32, and the sum itself fits
  // (vaddParamsOk), so the shift gives the same value
  Q8R = i32x4.splat(Q8ADD ? (1 << (Q8S - 1)) - gi(p, 0) * gi(p, 3) - gi(p, 1) * gi(p, 4) : 0);
  Q8LO8 = i8x16.splat(<i8>gi(p, 6)); Q8HI8 = i8x16.splat(<i8>gi(p, 7));
}

/** Channel c's constants (qp: N biases, multipliers, shifts; MODE_QF: N biases, N float32 multipliers), for storeRowQ8. */
@inline export function q8Channel(qp: usize, N: usize, c: usize): void {
  Q8BIAS = v128.load32_splat(qp + (c << 2)); Q8M = v128.load32_splat(qp + ((N + c) << 2));
  if (Q8QF) return;
  const sh = load<i32>(qp + ((2 * N + c) << 2));
  Q8LS = sh < 0 ? -sh : 0; Q8RS = sh > 0 ? sh : 0;
  const mask = (1 << Q8RS) - 1;
  Q8MASK = i32x4.splat(mask); Q8HALF = i32x4.splat(mask >> 1);
}

/**
 * storeRow8's MODE_Q8 path (requantize, clamp, the fused Add when on) on the constants of
 * q8Layer and q8Channel; the same vector functions, so the same bits. Stores nc (1..8) at dst.
 */
@inline export function storeRowQ8(a0: v128, a1: v128, dst: usize, nc: usize): void {
  let r0: v128, r1: v128;
  if (Q8QF) {
    r0 = qfV(a0); r1 = qfV(a1);
  } else {
    let x0 = i32x4.add(a0, Q8BIAS), x1 = i32x4.add(a1, Q8BIAS);
    if (Q8LS != 0) { x0 = i32x4.shl(x0, Q8LS); x1 = i32x4.shl(x1, Q8LS); }
    r0 = rdbpotV(srdhmV(x0, Q8M), Q8RS, Q8MASK, Q8HALF);
    r1 = rdbpotV(srdhmV(x1, Q8M), Q8RS, Q8MASK, Q8HALF);
    r0 = i32x4.min_s(Q8HI, i32x4.max_s(Q8LO, i32x4.add(r0, Q8Z)));
    r1 = i32x4.min_s(Q8HI, i32x4.max_s(Q8LO, i32x4.add(r1, Q8Z)));
  }
  storeQ8Tail(r0, r1, dst, nc);
}

/**
 * storeRow8's MODE_QF arithmetic on 4 lanes, on the constants of q8Layer / q8Channel: (acc +
 * bias) as float32 times the float32 multiplier, clamped to [lo − zy, hi − zy], rounded to
 * nearest-even by the 1.5·2^23 add, + zy.
 */
@inline function qfV(a: v128): v128 {
  const f = f32x4.pmin(Q8FHI, f32x4.pmax(Q8FLO, f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(a, Q8BIAS)), Q8M)));
  return i32x4.sub(f32x4.add(f, f32x4.splat(MAGIC_F)), Q8VMZ);
}

/** The int8 outputs r0, r1 (8 lanes) of storeRowQ8: the fused Add when on, then nc (1..8) bytes at dst. */
@inline function storeQ8Tail(r0: v128, r1: v128, dst: usize, nc: usize): void {
  if (Q8ADD) {
    // zero points in Q8R (q8Layer)
    const b = i16x8.extend_low_i8x16_s(otherBytes8(dst + Q8DELTA, nc));
    storeBytes8(dst, vaddV8(r0, r1, b, Q8A, Q8B, Q8R, Q8S, Q8ZY16, Q8LO8, Q8HI8), nc);
    return;
  }
  const b16 = i16x8.narrow_i32x4_s(r0, r1);
  storeBytes8(dst, i8x16.narrow_i16x8_s(b16, b16), nc);
}

/** True when q8Layer's block is MODE_QF (float32 multipliers): storeRowQF8 applies. */
@inline export function q8Float(): bool {
  return Q8QF;
}

/** storeRowQ8 for MODE_QF only (q8Float()), 8 outputs, without the Q31 path inlined: the same bits. */
@inline export function storeRowQF8(a0: v128, a1: v128, dst: usize): void {
  storeQ8Tail(qfV(a0), qfV(a1), dst, 8);
}

/** Channel c's 16 outputs (a0, a1: pixels 0..7 at dst; a2, a3: 8..15, stored when left > 8) through storeRowQ8. */
@inline export function storeRow16Q8(a0: v128, a1: v128, a2: v128, a3: v128, c: usize, qp: usize, N: usize, dst: usize, left: usize): void {
  q8Channel(qp, N, c);
  storeRowQ8(a0, a1, dst, min<usize>(8, left));
  if (left > 8) storeRowQ8(a2, a3, dst + 8, left - 8);
}

/** SRDHM of 4 lanes by the splatted non-negative multiplier vm: floor((x·m + 2^30) / 2^31). */
@inline export function srdhmV(x: v128, vm: v128): v128 {
  const r = i64x2.splat(1 << 30);
  const lo = i64x2.shl(i64x2.add(i64x2.extmul_low_i32x4_s(x, vm), r), 1);
  const hi = i64x2.shl(i64x2.add(i64x2.extmul_high_i32x4_s(x, vm), r), 1);
  return v128.shuffle<i32>(lo, hi, 1, 3, 5, 7); // high words = bits 31..62 of x·m + 2^30
}

/** RoundingDivideByPOT of 4 lanes by e (vmask = splat((1 << e) − 1), vhalf = splat(mask >> 1)). */
@inline export function rdbpotV(x: v128, e: i32, vmask: v128, vhalf: v128): v128 {
  const rem = v128.and(x, vmask);
  const thr = i32x4.sub(vhalf, i32x4.shr_s(x, 31));
  return i32x4.sub(i32x4.shr_s(x, e), i32x4.gt_s(rem, thr));
}

/**
 * Output stage of the accumulators a0 (pixels 0..3) and a1 (4..7) of channel c; stores the
 * first nc (1..8) outputs at dst (consecutive elements of the mode's size). withAct = false
 * (a constant): the caller applies the float32 activation (Q_ACT) itself (actRows).
 */
@inline export function storeRow8(a0: v128, a1: v128, c: usize, q: usize, qp: usize, N: usize, dst: usize, nc: usize, withAct: bool = true): void {
  const mode = gi(q, Q_MODE);
  if (mode == MODE_Q8) {
    const vb = v128.load32_splat(qp + (c << 2));
    const m = load<i32>(qp + ((N + c) << 2)), sh = load<i32>(qp + ((2 * N + c) << 2));
    const ls = sh < 0 ? -sh : 0, rs = sh > 0 ? sh : 0;
    const vm = i32x4.splat(m);
    const mask = (1 << rs) - 1;
    const vmask = i32x4.splat(mask), vhalf = i32x4.splat(mask >> 1);
    const vz = i32x4.splat(gi(q, Q_ZY)), vlo = i32x4.splat(gi(q, Q_LO)), vhi = i32x4.splat(gi(q, Q_HI));
    let r0 = rdbpotV(srdhmV(i32x4.shl(i32x4.add(a0, vb), ls), vm), rs, vmask, vhalf);
    let r1 = rdbpotV(srdhmV(i32x4.shl(i32x4.add(a1, vb), ls), vm), rs, vmask, vhalf);
    r0 = i32x4.min_s(vhi, i32x4.max_s(vlo, i32x4.add(r0, vz)));
    r1 = i32x4.min_s(vhi, i32x4.max_s(vlo, i32x4.add(r1, vz)));
    if (gi(q, Q_ADD) != 0) { storeAdd8(r0, r1, q, dst, nc); return; }
    const b16 = i16x8.narrow_i32x4_s(r0, r1);
    storeBytes8(dst, i8x16.narrow_i16x8_s(b16, b16), nc);
    return;
  }
  if (mode == MODE_QF) {
    const vb = v128.load32_splat(qp + (c << 2)), vm = v128.load32_splat(qp + ((N + c) << 2));
    const zy = gi(q, Q_ZY);
    const vlo = f32x4.splat(<f32>(gi(q, Q_LO) - zy)), vhi = f32x4.splat(<f32>(gi(q, Q_HI) - zy));
    let f0 = f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(a0, vb)), vm);
    let f1 = f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(a1, vb)), vm);
    f0 = f32x4.pmin(vhi, f32x4.pmax(vlo, f0)); f1 = f32x4.pmin(vhi, f32x4.pmax(vlo, f1));
    // nearest (ties to even) of the clamped |v| ≤ 255 without nearest + trunc_sat: v + 1.5·2^23
    // is in [2^23, 2^24), where floats are the integers, so the add rounds v to nearest-even and
    // the bits are 0x4B400000 + round(v); minus (0x4B400000 − zy) gives zy + round(v) (NaN was
    // clamped to lo − zy above)
    const magic = f32x4.splat(12582912.0), vmz = i32x4.splat(0x4B400000 - zy);
    const r0 = i32x4.sub(f32x4.add(f0, magic), vmz);
    const r1 = i32x4.sub(f32x4.add(f1, magic), vmz);
    if (gi(q, Q_ADD) != 0) { storeAdd8(r0, r1, q, dst, nc); return; }
    const b16 = i16x8.narrow_i32x4_s(r0, r1);
    storeBytes8(dst, i8x16.narrow_i16x8_s(b16, b16), nc);
    return;
  }
  let r0: v128, r1: v128;
  if (mode == MODE_F32) {
    const vs = v128.load32_splat(qp + (c << 2)), vb = v128.load32_splat(qp + ((N + c) << 2));
    const vlo = v128.load32_splat(q + (<usize>Q_FLO << 2)), vhi = v128.load32_splat(q + (<usize>Q_FHI << 2));
    r0 = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(a0), vs), vb);
    r1 = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(a1), vs), vb);
    r0 = f32x4.pmin(vhi, f32x4.pmax(vlo, r0));
    r1 = f32x4.pmin(vhi, f32x4.pmax(vlo, r1));
    const act = withAct ? gi(q, Q_ACT) : 0;
    if (act > 1) {
      const p0 = v128.load32_splat(q + 8), p1 = v128.load32_splat(q + 12);
      r0 = actV4(act, r0, p0, p1);
      r1 = actV4(act, r1, p0, p1);
    }
  } else {
    const vb = v128.load32_splat(qp + (c << 2));
    r0 = i32x4.add(a0, vb); r1 = i32x4.add(a1, vb);
  }
  if (nc >= 8) { v128.store(dst, r0); v128.store(dst, r1, 16); return; }
  if (nc & 4) { v128.store(dst, r0); r0 = r1; dst += 16; }
  if (nc & 2) { v128.store64_lane(dst, r0, 0); r0 = v128.shuffle<i32>(r0, r0, 2, 3, 2, 3); dst += 8; }
  if (nc & 1) { v128.store32_lane(dst, r0, 0); }
}

// ---- conv geometry: the 20-word block of assembly/geometry.ts (words 17..19 ignored) -------

export {
  G_C, G_H, G_W, G_M, G_KH, G_KW, G_OH, G_OW, G_PT, G_PL, G_PB, G_PR, G_SH, G_SW, G_DH, G_DW, G_GROUPS,
} from '../geometry';

/** True when the geometry is self-consistent (the kernels trust it for every address). */
export function geomOk(g: usize): bool {
  if (!geomShapeOk(g)) return false;
  const C = gi(g, G_C), H = gi(g, G_H), W = gi(g, G_W), M = gi(g, G_M), groups = gi(g, G_GROUPS);
  const KH = gi(g, G_KH), KW = gi(g, G_KW), sw = gi(g, G_SW);
  const pt = gi(g, G_PT), pl = gi(g, G_PL), pb = gi(g, G_PB), pr = gi(g, G_PR);
  const oh = gi(g, G_OH), ow = gi(g, G_OW);
  const LIMIT: u64 = 1 << 27;
  const hp = <u64>H + pt + pb, wp = <u64>W + pl + pr;
  return <u64>C * hp * (wp * <u64>sw + 64) < LIMIT && <u64>M * <u64>oh * <u64>ow < LIMIT
    && <u64>M * <u64>(C / groups) * <u64>KH * <u64>KW < LIMIT && <u64>(C / groups) * <u64>KH * <u64>KW < (1 << 20);
}

// decoded by loadGeom (globals: AssemblyScript functions return one value)
export let C: usize = 0, H: usize = 0, W: usize = 0, M: usize = 0, KH: usize = 0, KW: usize = 0, OH: usize = 0, OW: usize = 0;
export let PT: usize = 0, PL: usize = 0, SH: usize = 0, SW: usize = 0, DH: usize = 0, DW: usize = 0, GROUPS: usize = 0;
export let HP: usize = 0, WP: usize = 0;
/** int16 elements per row of the padded planes (≥ WP + 16: the strided fast paths read past WP) */
export let RS: usize = 0;

export function loadGeom(g: usize): void {
  C = gi(g, G_C); H = gi(g, G_H); W = gi(g, G_W); M = gi(g, G_M);
  KH = gi(g, G_KH); KW = gi(g, G_KW); OH = gi(g, G_OH); OW = gi(g, G_OW);
  PT = gi(g, G_PT); PL = gi(g, G_PL); SH = gi(g, G_SH); SW = gi(g, G_SW);
  DH = gi(g, G_DH); DW = gi(g, G_DW); GROUPS = gi(g, G_GROUPS);
  HP = H + PT + <usize>gi(g, G_PB); WP = W + PL + <usize>gi(g, G_PR);
  RS = (WP + 16 + 7) & ~(<usize>7);
}

/** Bytes of the padded int16 planes of all C channels (+ 64 bytes slack). */
@inline export function planesBytes(): usize {
  return align16((C * HP * RS << 1) + 64);
}

/**
 * Writes x (C,H,W) int8 as int16 planes (C, HP, RS) of x − zx at dst, zero in the padding and
 * in the RS − WP slack columns, then 64 zero bytes. Real zero = 0 in this representation.
 */
export function padPlanes16(x: usize, zx: i32, dst: usize): void {
  padPlanes16Rows(x, zx, dst, 0, HP);
}

/**
 * padPlanes16 for the padded rows that output pixels [p0, p1) (row-major over OH·OW) read:
 * rows oh·SH + kh·DH of their output rows oh (a thread's share of a pixel-split conv).
 */
export function padPlanes16Pixels(x: usize, zx: i32, dst: usize, p0: usize, p1: usize): void {
  const oh0 = p0 / OW, oh1 = (p1 - 1) / OW;
  padPlanes16Rows(x, zx, dst, oh0 * SH, min<usize>(HP, oh1 * SH + (KH - 1) * DH + 1));
}

/**
 * padPlanes16 for the padded rows [hp0, hp1) of every channel only (a thread's share of a conv
 * that reads no other row; the other rows keep whatever they held), then the 64 zero bytes.
 */
export function padPlanes16Rows(x: usize, zx: i32, dst: usize, hp0: usize, hp1: usize): void {
  const vz = i16x8.splat(<i16>zx);
  const zero = i16x8.splat(0);
  const rowB = RS << 1;
  for (let c: usize = 0; c < C; c++) {
    let d = dst + (c * HP + hp0) * rowB;
    for (let hp = hp0; hp < hp1; hp++) {
      // zero the whole row, then write the H×W interior
      for (let o: usize = 0; o < rowB; o += 16) v128.store(d + o, zero);
      if (hp >= PT && hp < PT + H) {
        const r = d + (PL << 1), src = x + (c * H + hp - PT) * W;
        let w: usize = 0;
        for (; w + 8 <= W; w += 8) v128.store(r + (w << 1), i16x8.sub(v128.load8x8_s(src + w), vz));
        for (; w < W; w++) store<i16>(r + (w << 1), <i16>(<i32>load<i8>(src + w) - zx));
      }
      d += rowB;
    }
  }
  const end = dst + C * HP * rowB;
  for (let o: usize = 0; o < 64; o += 16) v128.store(end + o, zero);
}

// ---- pair-interleaved im2col panels (the X operand of the c2 kernels) ----------------------
//
// Xcol (K, M) of one group, M = OH·OW pixels, K = Cg·KH·KW in (c, kh, kw) order, stored as
// PANELS of 8 pixels: panel p holds KP = ceil(K/2) k-pairs of 32 bytes; pair j is the 16 int16
//   [X(2j, 8p), X(2j+1, 8p), X(2j, 8p+1), X(2j+1, 8p+1), ..., X(2j, 8p+7), X(2j+1, 8p+7)]
// (X(K, ·) = 0 when K is odd; lanes past M repeat pixel 8p: computed, never stored).
// One i32x4.dot_i16x8_s of half a pair row with a splatted weight pair (W(c,2j), W(c,2j+1))
// gives 4 pixels × 2 MACs.

/** Byte offsets of the K taps (c, kh, kw) of one group in the padded planes, at kofs (K i32). */
export function tapOffsets(Cg: usize, kofs: usize): void {
  let kp = kofs;
  for (let c: usize = 0; c < Cg; c++) for (let i: usize = 0; i < KH; i++) for (let j: usize = 0; j < KW; j++) {
    store<i32>(kp, <i32>((c * HP * RS + i * DH * RS + j * DW) << 1));
    kp += 4;
  }
}

/** 8 int16 at stride 2 from p (two loads, even lanes). */
@inline export function load8s2(p: usize): v128 {
  return v128.shuffle<i16>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6, 8, 10, 12, 14);
}

/**
 * Writes `np` panels (pixels n0 .. n0 + 8·np − 1) of the group whose first padded plane is xg
 * at dst (np·KP·32 bytes). kofs: tapOffsets of the group, K taps. lg > 0 groups the panels into
 * super-panels of 8·2^lg pixels (the pair-block sparse kernel's tiles): panel q's pair j at
 * (q >> lg)·KP·(32 << lg) + j·(32 << lg) + (q & (2^lg − 1))·32; lg = 0 is one panel after another.
 */
export function im2colPanels16(xg: usize, kofs: usize, K: usize, N: usize, n0: usize, np: usize, dst0: usize, lg: usize = 0): void {
  const kpairs = (K + 1) >> 1, odd = (K & 1) != 0;
  const zero = i16x8.splat(0);
  const pairB: usize = 32 << lg, mask: usize = (1 << lg) - 1;
  for (let q: usize = 0; q < np; q++) {
    let dst = dst0 + (q >> lg) * kpairs * pairB + ((q & mask) << 5);
    const n = n0 + (q << 3);
    const oh = n / OW, ow = n - oh * OW;
    if (n + 8 <= N && ow + 8 <= OW && SW <= 2) {
      const base = xg + ((oh * SH * RS + ow * SW) << 1);
      let kp = kofs;
      if (SW == 1) {
        for (let j: usize = 0; j < kpairs; j++) {
          const a = v128.load(base + <usize>load<i32>(kp));
          const b = odd && j == kpairs - 1 ? zero : v128.load(base + <usize>load<i32>(kp, 4));
          v128.store(dst, v128.shuffle<i16>(a, b, 0, 8, 1, 9, 2, 10, 3, 11));
          v128.store(dst, v128.shuffle<i16>(a, b, 4, 12, 5, 13, 6, 14, 7, 15), 16);
          dst += pairB; kp += 8;
        }
      } else {
        for (let j: usize = 0; j < kpairs; j++) {
          const a = load8s2(base + <usize>load<i32>(kp));
          const b = odd && j == kpairs - 1 ? zero : load8s2(base + <usize>load<i32>(kp, 4));
          v128.store(dst, v128.shuffle<i16>(a, b, 0, 8, 1, 9, 2, 10, 3, 11));
          v128.store(dst, v128.shuffle<i16>(a, b, 4, 12, 5, 13, 6, 14, 7, 15), 16);
          dst += pairB; kp += 8;
        }
      }
    } else {
      // general: a byte offset per lane (pixels wrapping a row, the last panel, strides > 2)
      let o0: usize = 0, o1: usize = 0, o2: usize = 0, o3: usize = 0, o4: usize = 0, o5: usize = 0, o6: usize = 0, o7: usize = 0;
      let r = oh, s = ow;
      for (let j: usize = 0; j < 8; j++) {
        const off = n + j < N ? (r * SH * RS + s * SW) << 1 : o0;
        if (j == 0) o0 = off; else if (j == 1) o1 = off; else if (j == 2) o2 = off; else if (j == 3) o3 = off;
        else if (j == 4) o4 = off; else if (j == 5) o5 = off; else if (j == 6) o6 = off; else o7 = off;
        if (++s == OW) { s = 0; r++; }
      }
      for (let k: usize = 0; k < (kpairs << 1); k++) {
        // element (k, pixel l) at int16 index 2l + (k & 1) of the panel's 32 bytes of pair k >> 1
        const row = dst + (k >> 1) * pairB + ((k & 1) << 1);
        if (k >= K) {
          for (let l: usize = 0; l < 8; l++) store<i16>(row + (l << 2), 0);
          continue;
        }
        const p = xg + <usize>load<i32>(kofs + (k << 2));
        store<i16>(row, load<i16>(p + o0)); store<i16>(row + 4, load<i16>(p + o1));
        store<i16>(row + 8, load<i16>(p + o2)); store<i16>(row + 12, load<i16>(p + o3));
        store<i16>(row + 16, load<i16>(p + o4)); store<i16>(row + 20, load<i16>(p + o5));
        store<i16>(row + 24, load<i16>(p + o6)); store<i16>(row + 28, load<i16>(p + o7));
      }
    }
  }
}

/**
 * The panels of a 1x1 stride-1 unpadded conv (Xcol = X): rows k of K at xg + k·Mpix (int8),
 * `np` panels from pixel n0, each row − zx, written at dst like im2colPanels16 (the same layout;
 * lanes past Mpix repeat pixel n0 + 8q, computed, never stored).
 */
export function packPanels1x1(xg: usize, zx: i32, K: usize, Mpix: usize, n0: usize, np: usize, dst0: usize): void {
  const kpairs = K >> 1, odd = (K & 1) != 0;
  const vz = i16x8.splat(<i16>zx), zero = i16x8.splat(0);
  let dst = dst0;
  for (let q: usize = 0; q < np; q++) {
    const n = n0 + (q << 3);
    if (n + 8 <= Mpix) {
      let r = xg + n;
      const step = Mpix << 1;
      for (let j: usize = 0; j < kpairs; j++) {
        const a = i16x8.sub(v128.load8x8_s(r), vz), b = i16x8.sub(v128.load8x8_s(r + Mpix), vz);
        v128.store(dst, v128.shuffle<i16>(a, b, 0, 8, 1, 9, 2, 10, 3, 11));
        v128.store(dst, v128.shuffle<i16>(a, b, 4, 12, 5, 13, 6, 14, 7, 15), 16);
        dst += 32; r += step;
      }
      if (odd) {
        const a = i16x8.sub(v128.load8x8_s(r), vz);
        v128.store(dst, v128.shuffle<i16>(a, zero, 0, 8, 1, 9, 2, 10, 3, 11));
        v128.store(dst, v128.shuffle<i16>(a, zero, 4, 12, 5, 13, 6, 14, 7, 15), 16);
        dst += 32;
      }
    } else {
      for (let k: usize = 0; k < ((kpairs + (odd ? 1 : 0)) << 1); k++) {
        const row = dst + (k >> 1) * 32 + ((k & 1) << 1);
        for (let l: usize = 0; l < 8; l++) {
          const m = n + l < Mpix ? n + l : n;
          store<i16>(row + (l << 2), k < K ? <i16>(<i32>load<i8>(xg + k * Mpix + m) - zx) : 0);
        }
      }
      dst += (kpairs + (odd ? 1 : 0)) << 5;
    }
  }
}
