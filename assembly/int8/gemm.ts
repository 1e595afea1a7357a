// Dense int8 conv / GEMM / FC kernels for WASM SIMD128 (plain SIMD, no relaxed SIMD).
// Plain TS references: qs8Conv2dRef / qs8GemmRef / qs8FcRef in src/kernels/int8_ref.ts.
// Quantization, quant block q and per-channel parameters qp: see common.ts.
//
//   qs8_conv2d_4x8c2__wasmsimd  any conv (groups, kernel, stride, dilation, pads; 1x1 included):
//       per group C(N = Cout/g, M = OH·OW) = W(N, K) × Xcol(K, M). The input is widened once to
//       int16 planes of x − zx (padding 0), chunks of Xcol are written as pair-interleaved
//       8-pixel panels (common.ts), and a 4x8 register tile (4 channels × 8 pixels, 8 i32x4
//       accumulators) runs over K two at a time: per k-pair 2 panel loads, 4 load32_splat of
//       weight pairs, 8 i32x4.dot_i16x8_s (64 MACs). Output stage fused (common.ts).
//   qs8_gemm_4x8c2__wasmsimd    the same tile on an already packed Xcol (qs8_pack_x_c2): the
//       GEMM alone (benchmarks; MatMul of two activations).
//   qs8_fc_1x4c8__wasmsimd      FC / Gemm / MatMul with few rows (batch 1: M = 1): Y(M, N) =
//       X(M, K)·Wᵀ, W (N, K) int8 as stored (ONNX Gemm transB=1 / a Linear weight), vectorized
//       over K (8 k per i16x8; 4 output channels share each x load), scalar output stage.
//
// Packed weights of the c2 kernels (qs8_conv2d_pack_w): per group, blocks of 4 output
// channels; block b holds KP = ceil(K/2) pairs of 16 bytes, pair j =
//   [W(4b, 2j), W(4b, 2j+1), W(4b+1, 2j), W(4b+1, 2j+1), ..., W(4b+3, 2j+1)]  as int16
// (zero for channels ≥ N and for k = K when K is odd). qs8_conv2d_packed_w_bytes(M, K, groups)
// bytes. The pack is done once when the weights are placed.
//
// Status: 0, or E_ARG (-5) for an inconsistent geometry / quant block (nothing written).

import {
  E_ARG, MAGIC_F, MAGIC_BITS, G_M, G_GROUPS, Q_ZX, align16, gi, geomOk, quantOk, loadGeom, storeRow8, storeScalar, outBytes, planesBytes,
  padPlanes16Pixels, tapOffsets, im2colPanels16, packPanels1x1, C, H, W, M, KH, KW, OH, OW, HP, WP, RS, SH, SW, GROUPS,
  qAct, actRows, store4x4T,
} from './common';

/** Bytes of Xcol panels per chunk (≥ one panel). */
const CHUNK_BYTES: usize = 32 << 10;

/**
 * The 4x8c2 tile for the panels [0, np) at xp (each KP·32 bytes) and the channel block at wb
 * (KP·16 bytes), channels c0 .. c0 + nr − 1 (nr ≤ 4; rows past nr are computed, not stored),
 * output pixels m0.. (nc valid in total from m0): y + c·ldyB + m·eB.
 */
@inline function tile4x8(kp: usize, wb: usize, xp: usize, c0: usize, nr: usize, nc: usize,
  q: usize, qp: usize, N: usize, yrow: usize, ldyB: usize, eB: usize, withAct: bool = true): void {
  let a00 = i32x4.splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  let px = xp, pw = wb;
  const end = xp + (kp << 5);
  while (px != end) {
    const x0 = v128.load(px), x1 = v128.load(px, 16);
    const w0 = v128.load32_splat(pw), w1 = v128.load32_splat(pw, 4), w2 = v128.load32_splat(pw, 8), w3 = v128.load32_splat(pw, 12);
    a00 = i32x4.add(a00, i32x4.dot_i16x8_s(x0, w0));
    a01 = i32x4.add(a01, i32x4.dot_i16x8_s(x1, w0));
    a10 = i32x4.add(a10, i32x4.dot_i16x8_s(x0, w1));
    a11 = i32x4.add(a11, i32x4.dot_i16x8_s(x1, w1));
    a20 = i32x4.add(a20, i32x4.dot_i16x8_s(x0, w2));
    a21 = i32x4.add(a21, i32x4.dot_i16x8_s(x1, w2));
    a30 = i32x4.add(a30, i32x4.dot_i16x8_s(x0, w3));
    a31 = i32x4.add(a31, i32x4.dot_i16x8_s(x1, w3));
    px += 32; pw += 16;
  }
  storeRow8(a00, a01, c0, q, qp, N, yrow + c0 * ldyB, nc, withAct);
  if (nr > 1) storeRow8(a10, a11, c0 + 1, q, qp, N, yrow + (c0 + 1) * ldyB, nc, withAct);
  if (nr > 2) storeRow8(a20, a21, c0 + 2, q, qp, N, yrow + (c0 + 2) * ldyB, nc, withAct);
  if (nr > 3) storeRow8(a30, a31, c0 + 3, q, qp, N, yrow + (c0 + 3) * ldyB, nc, withAct);
}

/**
 * All channel blocks of one group over `np` panels at xp whose first pixel is m0:
 * channels c0 .. c0 + Ng − 1 (global indices into qp and y), wg = the group's packed blocks.
 */
function gemmPanels(Ng: usize, kp: usize, wg: usize, xp: usize, np: usize, m0: usize, Mpix: usize, c0: usize,
  q: usize, qp: usize, N: usize, y: usize, ldyB: usize, eB: usize, withAct: bool = true): void {
  const blockB = kp << 4, panelB = kp << 5;
  for (let p: usize = 0; p < np; p++) {
    const m = m0 + (p << 3);
    const nc = min<usize>(8, Mpix - m);
    const yrow = y + m * eB;
    let wb = wg;
    for (let n: usize = 0; n < Ng; n += 4) {
      if (withAct) tile4x8(kp, wb, xp, c0 + n, min<usize>(4, Ng - n), nc, q, qp, N, yrow, ldyB, eB, true);
      else tile4x8(kp, wb, xp, c0 + n, min<usize>(4, Ng - n), nc, q, qp, N, yrow, ldyB, eB, false);
      wb += blockB;
    }
    xp += panelB;
  }
}

/** Bytes qs8_conv2d_pack_w writes for M output channels, K per group, `groups` groups. */
export function qs8_conv2d_packed_w_bytes(M: i32, K: i32, groups: i32): i32 {
  if (M < 1 || K < 1 || groups < 1 || M % groups != 0) return E_ARG;
  const Ng = M / groups;
  return groups * ((Ng + 3) >> 2) * ((K + 1) >> 1) * 16;
}

/**
 * Packs w (M, K) int8 (ONNX Conv (M, C/g, KH, KW) / Gemm Bᵀ (N, K)) into the c2 blocks above.
 * Full 4-channel blocks go 16 k (8 pairs) at a time through SIMD: the 4 rows' int8 are widened
 * to int16 and their i32 lanes (one k-pair each) transposed 4x4, so each 16-byte store is one
 * pair j of the block; tails (K mod 16, a last block of < 4 channels) take the scalar path.
 * (On ResNet-32 the scalar-only pack was most of a dense model's load: 15-20 ms at first load.)
 */
export function qs8_conv2d_pack_w(M: i32, K: i32, groups: i32, w: usize, dst: usize): i32 {
  if (qs8_conv2d_packed_w_bytes(M, K, groups) < 0) return E_ARG;
  const Ng = <usize>(M / groups), kc = <usize>K, kp = (kc + 1) >> 1;
  let d = dst;
  for (let grp: usize = 0; grp < <usize>groups; grp++) {
    for (let n0: usize = 0; n0 < Ng; n0 += 4) {
      let j: usize = 0;
      if (n0 + 4 <= Ng) {
        const r0 = w + (grp * Ng + n0) * kc, r1 = r0 + kc, r2 = r1 + kc, r3 = r2 + kc;
        for (; (j << 1) + 16 <= kc; j += 8) {
          const k = j << 1;
          const v0 = v128.load(r0 + k), v1 = v128.load(r1 + k), v2 = v128.load(r2 + k), v3 = v128.load(r3 + k);
          storePairs4(d, i16x8.extend_low_i8x16_s(v0), i16x8.extend_low_i8x16_s(v1), i16x8.extend_low_i8x16_s(v2), i16x8.extend_low_i8x16_s(v3));
          storePairs4(d + 64, i16x8.extend_high_i8x16_s(v0), i16x8.extend_high_i8x16_s(v1), i16x8.extend_high_i8x16_s(v2), i16x8.extend_high_i8x16_s(v3));
          d += 128;
        }
      }
      for (; j < kp; j++) {
        for (let r: usize = 0; r < 4; r++) {
          const n = n0 + r;
          const row = w + (grp * Ng + n) * kc;
          const k = j << 1;
          const v0: i32 = n < Ng ? load<i8>(row + k) : 0;
          const v1: i32 = n < Ng && k + 1 < kc ? load<i8>(row + k + 1) : 0;
          store<i16>(d, <i16>v0); store<i16>(d, <i16>v1, 2);
          d += 4;
        }
      }
    }
  }
  return 0;
}

/** Rows a..d hold 4 k-pairs each (i32 lanes); stores pair p of all 4 rows at d + 16·p (4x4 transpose). */
@inline function storePairs4(dst: usize, a: v128, b: v128, c: v128, e: v128): void {
  store4x4T(dst, 16, a, b, c, e);
}

/** Scratch bytes of qs8_conv2d_4x8c2__wasmsimd (padded planes, tap offsets, one Xcol chunk); -5 on bad geometry. */
export function qs8_conv2d_work_bytes(g: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  loadGeom(g);
  const K = C / GROUPS * KH * KW;
  return <i32>(planesBytes() + align16(K << 2) + chunkPanels(K, OH * OW) * (((K + 1) >> 1) << 5));
}

/** Panels per Xcol chunk (even, ≥ 2, ≤ all panels rounded up to even). */
export function chunkPanels(K: usize, Mpix: usize): usize {
  const panelB = ((K + 1) >> 1) << 5;
  let p = CHUNK_BYTES / panelB;
  const all = (Mpix + 7) >> 3;
  if (p > all) p = all;
  p = (p + 1) & ~(<usize>1);
  return p < 2 ? 2 : p;
}

/**
 * Conv of one image: x (C,H,W) int8, wp = qs8_conv2d_pack_w(M, C/g·KH·KW, groups) of the ONNX
 * weights (M, C/g, KH, KW), qp per-channel parameters (M channels), y (M, OH, OW) of the
 * mode's element type, work ≥ qs8_conv2d_work_bytes(g) bytes (16-aligned).
 */
export function qs8_conv2d_4x8c2__wasmsimd(g: usize, q: usize, x: usize, wp: usize, qp: usize, y: usize, work: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  return qs8_conv2d_4x8c2_part__wasmsimd(g, q, x, wp, qp, y, work, 0, gi(g, 6) * gi(g, 7));
}

/**
 * qs8_conv2d_4x8c2 at output pixels [p0, p1) (row-major over OH·OW) of every channel: a thread's
 * share (src/wasm/threads.ts; each thread its own `work`). p0 a multiple of 8, p1 a multiple of
 * 8 or OH·OW; the pixels are computed exactly as by the whole conv (the same panels of 8).
 */
export function qs8_conv2d_4x8c2_part__wasmsimd(g: usize, q: usize, x: usize, wp: usize, qp: usize, y: usize, work: usize, p0: i32, p1: i32): i32 {
  if (!geomOk(g) || !quantOk(q)) return E_ARG;
  loadGeom(g);
  const Cg = C / GROUPS, Ng = M / GROUPS, K = Cg * KH * KW, kp = (K + 1) >> 1, Mpix = OH * OW;
  if (p0 < 0 || (p0 & 7) != 0 || <usize>p1 > Mpix || p0 >= p1 || ((p1 & 7) != 0 && <usize>p1 != Mpix)) return E_ARG;
  const eB = outBytes(q), ldyB = Mpix * eB;
  const planes = work, kofs = work + planesBytes(), xcol = kofs + align16(K << 2);
  const zx = gi(q, Q_ZX), act = qAct(q);
  // 1x1, stride 1, no padding: X (Cg, OH·OW) of a group is the input itself; its panels are
  // packed straight from the int8 rows (no padded planes, no tap table)
  const direct = KH == 1 && KW == 1 && SH == 1 && SW == 1 && HP == H && WP == W;
  if (!direct) {
    padPlanes16Pixels(x, zx, planes, <usize>p0, <usize>p1);
    tapOffsets(Cg, kofs);
  }
  const P = chunkPanels(K, Mpix);
  const groupW = ((Ng + 3) >> 2) * (kp << 4);
  for (let grp: usize = 0; grp < GROUPS; grp++) {
    const xg = planes + (grp * Cg * HP * RS << 1);
    for (let m0: usize = <usize>p0; m0 < <usize>p1; m0 += P << 3) {
      const np = min<usize>(P, (<usize>p1 - m0 + 7) >> 3);
      if (direct) packPanels1x1(x + grp * Cg * Mpix, zx, K, Mpix, m0, np, xcol);
      else im2colPanels16(xg, kofs, K, Mpix, m0, np, xcol);
      gemmPanels(Ng, kp, wp + grp * groupW, xcol, np, m0, Mpix, grp * Ng, q, qp, M, y, ldyB, eB, false);
      // the float32 activation over the chunk just stored (in cache), not per tile: a call per
      // 8 outputs inside the tiles measured slower than the separate pass it replaces
      if (act > 1) actRows(act, q, y + grp * Ng * ldyB + (m0 << 2), Ng, ldyB, min<usize>(np << 3, Mpix - m0));
    }
  }
  return 0;
}

/** Bytes of qs8_pack_x_c2 output for a (K, M) matrix. */
export function qs8_packed_x_bytes(K: i32, M: i32): i32 {
  if (K < 1 || M < 1) return E_ARG;
  return ((M + 7) >> 3) * ((K + 1) >> 1) * 32;
}

/** Packs x (K, M) int8 row-major (row stride ldx bytes) as x − zx into the c2 panels of common.ts. */
export function qs8_pack_x_c2(K: i32, M: i32, x: usize, ldx: i32, zx: i32, dst: usize): i32 {
  if (K < 1 || M < 1 || ldx < M) return E_ARG;
  const kc = <usize>K, mc = <usize>M, kp = (kc + 1) >> 1;
  let d = dst;
  for (let m0: usize = 0; m0 < mc; m0 += 8) {
    for (let j: usize = 0; j < kp; j++) {
      for (let l: usize = 0; l < 8; l++) {
        const m = m0 + l < mc ? m0 + l : m0;
        const k = j << 1;
        store<i16>(d, <i16>(<i32>load<i8>(x + k * <usize>ldx + m) - zx));
        store<i16>(d, <i16>(k + 1 < kc ? <i32>load<i8>(x + (k + 1) * <usize>ldx + m) - zx : 0), 2);
        d += 4;
      }
    }
  }
  return 0;
}

/**
 * C(N, M) = W(N, K) × X(K, M) with the output stage: wp = qs8_conv2d_pack_w(N, K, 1), xp =
 * qs8_pack_x_c2 panels (zx already subtracted; the q block's zx is ignored), y row stride ldy
 * elements (≥ M), N channels of qp.
 */
export function qs8_gemm_4x8c2__wasmsimd(N: i32, M: i32, K: i32, wp: usize, xp: usize, q: usize, qp: usize, y: usize, ldy: i32): i32 {
  if (N < 1 || M < 1 || K < 1 || ldy < M || !quantOk(q)) return E_ARG;
  const eB = outBytes(q);
  gemmPanels(<usize>N, (<usize>K + 1) >> 1, wp, xp, (<usize>M + 7) >> 3, 0, <usize>M, 0, q, qp, <usize>N, y, <usize>ldy * eB, eB);
  return 0;
}

// ---- FC: vectorized over K -------------------------------------------------------------------

/** Scratch bytes of the FC kernels: one row of x − zx as int16, K rounded up to 8. */
export function qs8_fc_work_bytes(K: i32): i32 {
  if (K < 1) return E_ARG;
  return <i32>align16(((<usize>K + 7) & ~(<usize>7)) << 1);
}

@inline function hsum(v: v128): i32 {
  const s = i32x4.add(v, v128.shuffle<i32>(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(i32x4.add(s, v128.shuffle<i32>(s, s, 1, 0, 3, 2)), 0);
}

/** Writes x row (K int8) − zx as int16 at xs, zero up to K rounded to 8. */
export function widenRow(x: usize, K: usize, zx: i32, xs: usize): void {
  const vz = i16x8.splat(<i16>zx);
  let k: usize = 0;
  for (; k + 8 <= K; k += 8) v128.store(xs + (k << 1), i16x8.sub(v128.load8x8_s(x + k), vz));
  for (; k < K; k++) store<i16>(xs + (k << 1), <i16>(<i32>load<i8>(x + k) - zx));
  for (; k & 7; k++) store<i16>(xs + (k << 1), 0);
}

/**
 * Y(M, N) = X(M, K)·Wᵀ with the output stage per column n (qp: N channels): x (M, K) int8
 * row-major, w (N, K) int8 row-major as stored, y (M, N) row-major of the mode's type,
 * work ≥ qs8_fc_work_bytes(K). 4 channels at a time (the last block aliases its rows).
 */
export function qs8_fc_1x4c8__wasmsimd(M: i32, N: i32, K: i32, x: usize, w: usize, q: usize, qp: usize, y: usize, work: usize): i32 {
  if (M < 1 || N < 1 || K < 1 || !quantOk(q)) return E_ARG;
  const kc = <usize>K, nc = <usize>N, k8 = kc & ~(<usize>7), eB = outBytes(q), zx = gi(q, Q_ZX);
  for (let b: usize = 0; b < <usize>M; b++) {
    widenRow(x + b * kc, kc, zx, work);
    const yb = y + b * nc * eB;
    for (let n: usize = 0; n < nc; n += 4) {
      const w0 = w + n * kc;
      const w1 = n + 1 < nc ? w0 + kc : w0, w2 = n + 2 < nc ? w0 + 2 * kc : w1, w3 = n + 3 < nc ? w0 + 3 * kc : w2;
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      let k: usize = 0;
      for (; k < k8; k += 8) {
        const xv = v128.load(work + (k << 1));
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(xv, v128.load8x8_s(w0 + k)));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(xv, v128.load8x8_s(w1 + k)));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(xv, v128.load8x8_s(w2 + k)));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(xv, v128.load8x8_s(w3 + k)));
      }
      let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
      for (; k < kc; k++) {
        const xk = <i32>load<i16>(work + (k << 1));
        s0 += xk * <i32>load<i8>(w0 + k); s1 += xk * <i32>load<i8>(w1 + k);
        s2 += xk * <i32>load<i8>(w2 + k); s3 += xk * <i32>load<i8>(w3 + k);
      }
      storeScalar(s0, n, q, qp, nc, yb + n * eB);
      if (n + 1 < nc) storeScalar(s1, n + 1, q, qp, nc, yb + (n + 1) * eB);
      if (n + 2 < nc) storeScalar(s2, n + 2, q, qp, nc, yb + (n + 2) * eB);
      if (n + 3 < nc) storeScalar(s3, n + 3, q, qp, nc, yb + (n + 3) * eB);
    }
  }
  return 0;
}

// ---- dynamic FC: float32 in, float32 out, the per-row quantization fused ---------------------

/** Status of qs8_dynfc_f32__wasmsimd for a row whose range is not finite (±Inf in it). */
export const E_RANGE: i32 = -6;

/**
 * One row of x (K f32) quantized as int8QuantParams (src/quant/int8.ts) does from its range
 * [min(0, min x), max(0, max x)] (NaN ignored), written as x_q − zp in int16 at xs (zero up to K
 * rounded to 8). Returns the scale (f32), with the zero point at zpOut; a negative scale for a
 * non-finite range.
 */
function quantizeRowDyn(x: usize, K: usize, xs: usize, zpOut: usize): f32 {
  // the range: lo = a < lo ? a : lo lane-wise (pmin), as the TS loop does, NaN never taken
  let vlo = f32x4.splat(0), vhi = vlo;
  let k: usize = 0;
  for (; k + 4 <= K; k += 4) {
    const v = v128.load(x + (k << 2));
    vlo = f32x4.pmin(vlo, v);
    vhi = f32x4.pmax(vhi, v);
  }
  let lo: f32 = 0, hi: f32 = 0;
  for (let l = 0; l < 4; l++) {
    const a = f32x4.extract_lane(vlo, 0), b = f32x4.extract_lane(vhi, 0);
    if (a < lo) lo = a;
    if (b > hi) hi = b;
    vlo = v128.shuffle<f32>(vlo, vlo, 1, 2, 3, 0);
    vhi = v128.shuffle<f32>(vhi, vhi, 1, 2, 3, 0);
  }
  for (; k < K; k++) {
    const a = load<f32>(x + (k << 2));
    if (a < lo) lo = a;
    if (a > hi) hi = a;
  }
  if (!(isFinite<f32>(lo) && isFinite<f32>(hi))) return -1;
  let scale: f32 = 1, zp: i32 = 0;
  const d: f64 = <f64>hi - <f64>lo;
  if (d != 0) {
    scale = <f32>(d / 255.0);
    if (!(scale > 0)) scale = 1.401298464324817e-45; // float32's smallest, as in int8QuantParams
    // Math.round of JS: the nearest integer, halves toward +∞
    const t: f64 = -128.0 - <f64>lo / <f64>scale;
    let r: f64 = Math.ceil(t);
    if (r - 0.5 > t) r -= 1;
    zp = <i32>max<f64>(-128, min<f64>(127, r));
  }
  store<i32>(zpOut, zp);
  // x_q = clamp(nearest(x / scale) + zp, −128, 127) in float32 (qs8_quantize__wasmsimd), minus zp;
  // offset by MAGIC_F as there: the clamped sum's bits − (MAGIC_BITS + zp) are x_q − zp
  const vs = f32x4.splat(scale), vz = f32x4.splat(<f32>zp + MAGIC_F);
  const vmin = f32x4.splat(MAGIC_F - 128), vmax = f32x4.splat(MAGIC_F + 127), vm = i32x4.splat(MAGIC_BITS + zp);
  const zf = <f32>zp;
  k = 0;
  for (; k + 8 <= K; k += 8) {
    let r0 = f32x4.add(f32x4.nearest(f32x4.div(v128.load(x + (k << 2)), vs)), vz);
    let r1 = f32x4.add(f32x4.nearest(f32x4.div(v128.load(x + (k << 2), 16), vs)), vz);
    r0 = i32x4.sub(f32x4.pmin(vmax, f32x4.pmax(vmin, r0)), vm);
    r1 = i32x4.sub(f32x4.pmin(vmax, f32x4.pmax(vmin, r1)), vm);
    v128.store(xs + (k << 1), i16x8.narrow_i32x4_s(r0, r1));
  }
  for (; k < K; k++) {
    let r: f32 = nearest<f32>(load<f32>(x + (k << 2)) / scale) + zf;
    r = <f32>-128 < r ? r : <f32>-128; r = r < <f32>127 ? r : <f32>127;
    store<i16>(xs + (k << 1), <i16>(<i32>r - zp));
  }
  for (; k & 7; k++) store<i16>(xs + (k << 1), 0);
  return scale;
}

/**
 * Dynamic-range FC (MatMul / Gemm in dynamic mode), all in one call: for each row m of x (M, K)
 * float32, its own int8 parameters (s_x, z_x) from its range as int8QuantParams computes them,
 * x_q = quantize(x, s_x, z_x) as qs8_quantize__wasmsimd does, then
 *   y(m, n) = clamp(f32(Σ_k (x_q − z_x)·w(n, k)) · f32(s_x·sw[n]) + bias[n], flo, fhi)
 * (int32 accumulation; float32 rounding at each of ·, +): the arithmetic of the quantize step +
 * qs8_fc_1x4c8__wasmsimd in MODE_F32 that it replaces. w (N, K) int8 row-major; sb = sw (N f32)
 * then bias (N f32); y (M, N) f32; work ≥ qs8_fc_work_bytes(K) + 16. Plain TS reference:
 * qs8DynFcRef (src/kernels/int8_ref.ts). Status 0; E_ARG; E_RANGE for a row with ±Inf (the rows
 * before it written).
 */
export function qs8_dynfc_f32__wasmsimd(M: i32, N: i32, K: i32, x: usize, w: usize, sb: usize, flo: f32, fhi: f32, y: usize, work: usize): i32 {
  if (M < 1 || N < 1 || K < 1) return E_ARG;
  const kc = <usize>K, nc = <usize>N, k8 = kc & ~(<usize>7);
  const zpAt = work + <usize>qs8_fc_work_bytes(K);
  for (let b: usize = 0; b < <usize>M; b++) {
    const sx = quantizeRowDyn(x + b * kc * 4, kc, work, zpAt);
    if (sx < 0) return E_RANGE;
    const yb = y + b * nc * 4;
    for (let n: usize = 0; n < nc; n += 4) {
      const w0 = w + n * kc;
      const w1 = n + 1 < nc ? w0 + kc : w0, w2 = n + 2 < nc ? w0 + 2 * kc : w1, w3 = n + 3 < nc ? w0 + 3 * kc : w2;
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      let k: usize = 0;
      for (; k < k8; k += 8) {
        const xv = v128.load(work + (k << 1));
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(xv, v128.load8x8_s(w0 + k)));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(xv, v128.load8x8_s(w1 + k)));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(xv, v128.load8x8_s(w2 + k)));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(xv, v128.load8x8_s(w3 + k)));
      }
      let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
      for (; k < kc; k++) {
        const xk = <i32>load<i16>(work + (k << 1));
        s0 += xk * <i32>load<i8>(w0 + k); s1 += xk * <i32>load<i8>(w1 + k);
        s2 += xk * <i32>load<i8>(w2 + k); s3 += xk * <i32>load<i8>(w3 + k);
      }
      dynOut(s0, n, sx, sb, nc, flo, fhi, yb);
      if (n + 1 < nc) dynOut(s1, n + 1, sx, sb, nc, flo, fhi, yb);
      if (n + 2 < nc) dynOut(s2, n + 2, sx, sb, nc, flo, fhi, yb);
      if (n + 3 < nc) dynOut(s3, n + 3, sx, sb, nc, flo, fhi, yb);
    }
  }
  return 0;
}

/** Status of qs8_dynfc_f32_finite__wasmsimd when x holds a NaN or ±Inf (nothing written). */
export const E_NONFINITE: i32 = -7;

/**
 * qs8_dynfc_f32__wasmsimd for inputs the caller expects finite, in one call: one SIMD pass over
 * the M·K floats of x first (x − x is 0 for a finite x, NaN for NaN and ±Inf), E_NONFINITE and
 * nothing written when one is not finite (the caller then runs its NaN / ±Inf path, see
 * src/runtime/int8/fc.ts), else the same status and output as qs8_dynfc_f32__wasmsimd. The
 * per-token FCs of a decoder call it once each, with no check in JS.
 */
export function qs8_dynfc_f32_finite__wasmsimd(M: i32, N: i32, K: i32, x: usize, w: usize, sb: usize, flo: f32, fhi: f32, y: usize, work: usize): i32 {
  if (M < 1 || N < 1 || K < 1) return E_ARG;
  const n = <usize>M * <usize>K;
  let acc = i32x4.splat(0);
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) {
    const a = v128.load(x + (i << 2)), b = v128.load(x + (i << 2), 16);
    const da = f32x4.sub(a, a), db = f32x4.sub(b, b);
    acc = v128.or(acc, v128.or(f32x4.ne(da, da), f32x4.ne(db, db)));
  }
  for (; i + 4 <= n; i += 4) {
    const a = v128.load(x + (i << 2));
    const d = f32x4.sub(a, a);
    acc = v128.or(acc, f32x4.ne(d, d));
  }
  if (v128.any_true(acc)) return E_NONFINITE;
  for (; i < n; i++) {
    const v = load<f32>(x + (i << 2));
    const d = v - v;
    if (d != d) return E_NONFINITE;
  }
  return qs8_dynfc_f32__wasmsimd(M, N, K, x, w, sb, flo, fhi, y, work);
}

@inline function dynOut(acc: i32, c: usize, sx: f32, sb: usize, N: usize, lo: f32, hi: f32, yb: usize): void {
  let v: f32 = <f32>acc * (sx * load<f32>(sb + (c << 2)));
  v = v + load<f32>(sb + ((N + c) << 2));
  v = lo < v ? v : lo; v = v < hi ? v : hi;
  store<f32>(yb + (c << 2), v);
}
