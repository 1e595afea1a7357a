// Dense int8 conv on k-QUADS of int8 (the "c4" kernel), built for the relaxed-SIMD dot product
// i32x4.relaxed_dot_i8x16_i7x16_add_s and exact by construction.
//
// One build flag picks the dot product (ASC_FEATURE_RELAXED_SIMD, set by asc's
// `--enable relaxed-simd`, asconfig.json target "relaxed" → build/sparrow.relaxed.wasm):
//   relaxed build  dot4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x, w, acc)  (16 MACs, one instruction)
//   plain build    dot4 = the same sums from plain SIMD (extmul + pairwise adds): slower, exact,
//                  so Node (never relaxed: V8 11 / Node 20) runs and tests the same kernel.
// Everything else (packing, im2col, epilogue) is the same code in both builds.
//
// Why it is exact. relaxed_dot(a, b) is implementation-defined only when b has its top bit
// set (x86 pmaddubsw reads b as unsigned, Arm sdot as signed) or when an intermediate i16 pair
// sum saturates. The kernel passes the WEIGHTS as b, stored as w' = w + 64 ∈ [0, 127] (the
// layer's int8 weights must lie in [−64, 63]: qs8_conv2d_pack_w_c4 checks every one), and the
// activations, raw int8, as a: a pair sum is at most 2·128·127 = 32512 < 2^15. So every engine
// computes the same integers:
//   Σ_k w'·x = Σ_k w·x + 64·Σ_k x
//   acc[c, m] = Σ_k w[c,k]·(x[k,m] − zx) = Σ_k w'·x − 64·colsum[m] − zx·Σ_k w[c,k]
// (padding taps hold zx, the real zero, so they add w·(zx − zx) = 0; the K tail of the last
// quad holds x = 0 and w' = 0). colsum[m] = Σ_k x[k,m] comes from the same dot with w' = 1.
// The accumulator then equals the c2 kernel's (gemm.ts) exactly, and the shared output stage
// (common.ts storeRow8) gives bit-identical outputs.
//
// Packed weights (qs8_conv2d_pack_w_c4): sw i32[M] (Σ_k w[c,k] per output channel, 16-aligned)
// then per group, blocks of 4 output channels; block b holds KQ = ceil(K/4) quads of 16 bytes,
// quad j = [w'(4b, 4j..4j+3), w'(4b+1, 4j..4j+3), w'(4b+2, ..), w'(4b+3, ..)] as u8 (0 past
// the group's channels and past K).
// Xcol panels: 8 pixels per panel, KQ quads of 32 bytes; quad j = pixel l's x(4j..4j+3) at
// bytes 4l..4l+3 (int8 as stored, not minus zx).

import {
  E_ARG, Q_ZX, align16, gi, geomOk, quantOk, loadGeom, storeRow8, outBytes,
  C, H, W, M, KH, KW, OH, OW, PT, PL, SH, SW, DH, DW, HP, WP, GROUPS,
} from './common';

/** Status of qs8_conv2d_pack_w_c4 when a weight lies outside [−64, 63] (the layer cannot run exactly). */
export const E_RANGE: i32 = -6;

const CHUNK_BYTES: usize = 32 << 10;

/** acc + Σ of the 4 products of x's and w's bytes per i32 lane (w's bytes in [0, 127]). */
@inline function dot4(x: v128, w: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.relaxed_dot_i8x16_i7x16_add_s(x, w, acc);
  } else {
    const lo = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(x, w));
    const hi = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(x, w));
    return i32x4.add(acc, i32x4.add(v128.shuffle<i32>(lo, hi, 0, 2, 4, 6), v128.shuffle<i32>(lo, hi, 1, 3, 5, 7)));
  }
}

/** 1 when this build's c4 kernel uses the relaxed instruction, else 0. */
export function qs8_relaxed_build(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}

// ---- weights ------------------------------------------------------------------------------

/** Bytes qs8_conv2d_pack_w_c4 writes for M output channels, K per group, `groups` groups. */
export function qs8_conv2d_packed_w_c4_bytes(M: i32, K: i32, groups: i32): i32 {
  if (M < 1 || K < 1 || groups < 1 || M % groups != 0) return E_ARG;
  const Ng = M / groups;
  return <i32>align16(<usize>M << 2) + groups * ((Ng + 3) >> 2) * ((K + 3) >> 2) * 16;
}

/**
 * Packs w (M, K) int8 (ONNX Conv (M, C/g, KH, KW)) into the c4 layout above. Returns 0, E_ARG,
 * or E_RANGE when a weight is outside [−64, 63] (dst then holds garbage: use the c2 kernel).
 */
export function qs8_conv2d_pack_w_c4(M: i32, K: i32, groups: i32, w: usize, dst: usize): i32 {
  if (qs8_conv2d_packed_w_c4_bytes(M, K, groups) < 0) return E_ARG;
  const Mc = <usize>M, Ng = <usize>(M / groups), kc = <usize>K, kq = (kc + 3) >> 2;
  // range check and channel sums
  const v64 = i8x16.splat(64);
  let bad = i8x16.splat(0);
  for (let c: usize = 0; c < Mc; c++) {
    const row = w + c * kc;
    let s: i32 = 0, k: usize = 0;
    for (; k + 16 <= kc; k += 16) {
      const v = v128.load(row + k);
      // v + 64 wraps to negative exactly when v ∉ [−64, 63]
      bad = v128.or(bad, i8x16.add(v, v64));
      const p = i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v));
      s += i32x4.extract_lane(p, 0) + i32x4.extract_lane(p, 1) + i32x4.extract_lane(p, 2) + i32x4.extract_lane(p, 3);
    }
    for (; k < kc; k++) {
      const v = <i32>load<i8>(row + k);
      if (v < -64 || v > 63) return E_RANGE;
      s += v;
    }
    store<i32>(dst + (c << 2), s);
  }
  if (i8x16.bitmask(bad) != 0) return E_RANGE;
  let d = dst + align16(Mc << 2);
  for (let grp: usize = 0; grp < <usize>groups; grp++) {
    for (let n0: usize = 0; n0 < Ng; n0 += 4) {
      for (let j: usize = 0; j < kq; j++) {
        for (let r: usize = 0; r < 4; r++) {
          const n = n0 + r;
          const row = w + (grp * Ng + n) * kc;
          for (let i: usize = 0; i < 4; i++) {
            const k = (j << 2) + i;
            store<u8>(d + i, n < Ng && k < kc ? <u8>(<i32>load<i8>(row + k) + 64) : 0);
          }
          d += 4;
        }
      }
    }
  }
  return 0;
}

// ---- input: int8 planes padded with zx, quad panels ----------------------------------------

/** bytes per row of the int8 planes (≥ WP + 32: the fast paths read 16 bytes at stride 2) */
let RB: usize = 0;

function loadGeom8(g: usize): void {
  loadGeom(g);
  RB = (WP + 32 + 15) & ~(<usize>15);
}

@inline function planes8Bytes(): usize {
  return align16(C * HP * RB + 64);
}

/** x (C,H,W) int8 as planes (C, HP, RB) at dst, zx in the padding (the real zero), + 64 bytes. */
function padPlanes8(x: usize, zx: i32, dst: usize): void {
  const vz = i8x16.splat(<i8>zx);
  let src = x, d = dst;
  for (let c: usize = 0; c < C; c++) {
    for (let hp: usize = 0; hp < HP; hp++) {
      for (let o: usize = 0; o < RB; o += 16) v128.store(d + o, vz);
      if (hp >= PT && hp < PT + H) {
        memory.copy(d + PL, src, W);
        src += W;
      }
      d += RB;
    }
  }
  for (let o: usize = 0; o < 64; o += 16) v128.store(d + o, vz);
}

/** Byte offsets of the K taps (c, kh, kw) of one group in the int8 planes, at kofs (K i32). */
function tapOffsets8(Cg: usize, kofs: usize): void {
  let kp = kofs;
  for (let c: usize = 0; c < Cg; c++) for (let i: usize = 0; i < KH; i++) for (let j: usize = 0; j < KW; j++) {
    store<i32>(kp, <i32>(c * HP * RB + i * DH * RB + j * DW));
    kp += 4;
  }
}

/** Bytes 0..7 of a and b interleaved then the i16 pairs of two such: 8 pixels × 4 taps as 2 vectors at dst. */
@inline function storeQuad(dst: usize, r0: v128, r1: v128, r2: v128, r3: v128): void {
  const t01 = v128.shuffle<i8>(r0, r1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const t23 = v128.shuffle<i8>(r2, r3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  v128.store(dst, v128.shuffle<i16>(t01, t23, 0, 8, 1, 9, 2, 10, 3, 11));
  v128.store(dst, v128.shuffle<i16>(t01, t23, 4, 12, 5, 13, 6, 14, 7, 15), 16);
}

/** 8 bytes at stride 2 from p (in the low half). */
@inline function load8b2(p: usize): v128 {
  const v = v128.load(p);
  return v128.shuffle<i8>(v, v, 0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
}

/**
 * Writes `np` quad panels (pixels n0 .. n0 + 8·np − 1, N in all) of the group whose first
 * plane is xg at dst (np·KQ·32 bytes).
 */
function im2colQuads(xg: usize, kofs: usize, K: usize, N: usize, n0: usize, np: usize, dst0: usize): void {
  const kq = (K + 3) >> 2, full = K >> 2;
  const zero = i8x16.splat(0);
  for (let q: usize = 0; q < np; q++) {
    let dst = dst0 + q * (kq << 5);
    const n = n0 + (q << 3);
    const oh = n / OW, ow = n - oh * OW;
    if (n + 8 <= N && ow + 8 <= OW && SW <= 2) {
      const base = xg + oh * SH * RB + ow * SW;
      let kp = kofs;
      if (SW == 1) {
        for (let j: usize = 0; j < full; j++) {
          storeQuad(dst, v128.load(base + <usize>load<i32>(kp)), v128.load(base + <usize>load<i32>(kp, 4)),
            v128.load(base + <usize>load<i32>(kp, 8)), v128.load(base + <usize>load<i32>(kp, 12)));
          dst += 32; kp += 16;
        }
        if (full < kq) {
          const t = K & 3;
          const r0 = v128.load(base + <usize>load<i32>(kp));
          const r1 = t > 1 ? v128.load(base + <usize>load<i32>(kp, 4)) : zero;
          const r2 = t > 2 ? v128.load(base + <usize>load<i32>(kp, 8)) : zero;
          storeQuad(dst, r0, r1, r2, zero);
        }
      } else {
        for (let j: usize = 0; j < full; j++) {
          storeQuad(dst, load8b2(base + <usize>load<i32>(kp)), load8b2(base + <usize>load<i32>(kp, 4)),
            load8b2(base + <usize>load<i32>(kp, 8)), load8b2(base + <usize>load<i32>(kp, 12)));
          dst += 32; kp += 16;
        }
        if (full < kq) {
          const t = K & 3;
          const r0 = load8b2(base + <usize>load<i32>(kp));
          const r1 = t > 1 ? load8b2(base + <usize>load<i32>(kp, 4)) : zero;
          const r2 = t > 2 ? load8b2(base + <usize>load<i32>(kp, 8)) : zero;
          storeQuad(dst, r0, r1, r2, zero);
        }
      }
    } else {
      // general: one byte offset per pixel (pixels wrapping a row, the last panel, strides > 2);
      // lanes past N repeat the panel's first pixel (computed, never stored)
      let r = oh, s = ow;
      for (let l: usize = 0; l < 8; l++) {
        const off = n + l < N ? r * SH * RB + s * SW : oh * SH * RB + ow * SW;
        for (let k: usize = 0; k < (kq << 2); k++) {
          const b = dst + ((k >> 2) << 5) + (l << 2) + (k & 3);
          store<i8>(b, k < K ? load<i8>(xg + <usize>load<i32>(kofs + (k << 2)) + off) : 0);
        }
        if (++s == OW) { s = 0; r++; }
      }
    }
  }
}

// ---- the 4x8c4 tile -----------------------------------------------------------------------

/**
 * Channels c0 .. c0 + nr − 1 (nr ≤ 4) of one panel xp (kq quads) against the channel block wb,
 * corrected by cs0/cs1 (64·colsum of pixels 0..3 / 4..7) and zx·Σw, then the output stage.
 */
@inline function tile4x8c4(kq: usize, wb: usize, xp: usize, cs0: v128, cs1: v128, sw: usize, zx: i32, c0: usize, nr: usize, nc: usize,
  q: usize, qp: usize, N: usize, yrow: usize, ldyB: usize): void {
  let a00 = i32x4.splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  let px = xp, pw = wb;
  const end = xp + (kq << 5);
  while (px != end) {
    const x0 = v128.load(px), x1 = v128.load(px, 16);
    const w0 = v128.load32_splat(pw), w1 = v128.load32_splat(pw, 4), w2 = v128.load32_splat(pw, 8), w3 = v128.load32_splat(pw, 12);
    a00 = dot4(x0, w0, a00); a01 = dot4(x1, w0, a01);
    a10 = dot4(x0, w1, a10); a11 = dot4(x1, w1, a11);
    a20 = dot4(x0, w2, a20); a21 = dot4(x1, w2, a21);
    a30 = dot4(x0, w3, a30); a31 = dot4(x1, w3, a31);
    px += 32; pw += 16;
  }
  let z = i32x4.splat(zx * load<i32>(sw + (c0 << 2)));
  storeRow8(i32x4.sub(a00, i32x4.add(cs0, z)), i32x4.sub(a01, i32x4.add(cs1, z)), c0, q, qp, N, yrow + c0 * ldyB, nc);
  if (nr > 1) {
    z = i32x4.splat(zx * load<i32>(sw + ((c0 + 1) << 2)));
    storeRow8(i32x4.sub(a10, i32x4.add(cs0, z)), i32x4.sub(a11, i32x4.add(cs1, z)), c0 + 1, q, qp, N, yrow + (c0 + 1) * ldyB, nc);
  }
  if (nr > 2) {
    z = i32x4.splat(zx * load<i32>(sw + ((c0 + 2) << 2)));
    storeRow8(i32x4.sub(a20, i32x4.add(cs0, z)), i32x4.sub(a21, i32x4.add(cs1, z)), c0 + 2, q, qp, N, yrow + (c0 + 2) * ldyB, nc);
  }
  if (nr > 3) {
    z = i32x4.splat(zx * load<i32>(sw + ((c0 + 3) << 2)));
    storeRow8(i32x4.sub(a30, i32x4.add(cs0, z)), i32x4.sub(a31, i32x4.add(cs1, z)), c0 + 3, q, qp, N, yrow + (c0 + 3) * ldyB, nc);
  }
}

/** Panels per Xcol chunk (≥ 1, ≤ all panels). */
function chunkPanelsC4(K: usize, Mpix: usize): usize {
  const panelB = ((K + 3) >> 2) << 5;
  let p = CHUNK_BYTES / panelB;
  const all = (Mpix + 7) >> 3;
  if (p > all) p = all;
  return p < 1 ? 1 : p;
}

/** Scratch bytes of qs8_conv2d_4x8c4 (int8 planes, tap offsets, one Xcol chunk); -5 on bad geometry. */
export function qs8_conv2d_c4_work_bytes(g: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  loadGeom8(g);
  const K = C / GROUPS * KH * KW;
  return <i32>(planes8Bytes() + align16(K << 2) + chunkPanelsC4(K, OH * OW) * (((K + 3) >> 2) << 5));
}

/**
 * Conv of one image, output channels [n0, n1) of every group (the whole conv: 0, M/groups;
 * a thread takes a slice): x (C,H,W) int8, wp = qs8_conv2d_pack_w_c4 of the ONNX weights
 * (M, C/g, KH, KW), qp per-channel parameters (M), y (M, OH, OW) of the mode's type, work ≥
 * qs8_conv2d_c4_work_bytes(g). n0 must be a multiple of 4.
 */
export function qs8_conv2d_4x8c4_range__wasmrelaxed(g: usize, q: usize, x: usize, wp: usize, qp: usize, y: usize, work: usize, n0: i32, n1: i32): i32 {
  if (!geomOk(g)) return E_ARG;
  return qs8_conv2d_4x8c4_part__wasmrelaxed(g, q, x, wp, qp, y, work, n0, n1, 0, gi(g, 6) * gi(g, 7));
}

/**
 * Output channels [n0, n1) of every group at output pixels [p0, p1) (row-major over OH·OW) of
 * one image: the split of a thread pool (src/wasm/threads.ts; each thread its own `work`). p0
 * must be a multiple of 8, p1 a multiple of 8 or OH·OW; n0 a multiple of 4. The pixels a call
 * writes are computed exactly as the whole conv computes them (the same panels of 8).
 */
export function qs8_conv2d_4x8c4_part__wasmrelaxed(g: usize, q: usize, x: usize, wp: usize, qp: usize, y: usize, work: usize, n0: i32, n1: i32, p0: i32, p1: i32): i32 {
  if (!geomOk(g) || !quantOk(q)) return E_ARG;
  loadGeom8(g);
  const Cg = C / GROUPS, Ng = M / GROUPS, K = Cg * KH * KW, kq = (K + 3) >> 2, Mpix = OH * OW;
  if (n0 < 0 || (n0 & 3) != 0 || <usize>n1 > Ng || n0 >= n1) return E_ARG;
  if (p0 < 0 || (p0 & 7) != 0 || <usize>p1 > Mpix || p0 >= p1 || ((p1 & 7) != 0 && <usize>p1 != Mpix)) return E_ARG;
  const eB = outBytes(q), ldyB = Mpix * eB, zx = gi(q, Q_ZX);
  const planes = work, kofs = work + planes8Bytes(), xcol = kofs + align16(K << 2);
  padPlanes8(x, zx, planes);
  tapOffsets8(Cg, kofs);
  const P = chunkPanelsC4(K, Mpix);
  const blockB = kq << 4, panelB = kq << 5;
  const groupW = ((Ng + 3) >> 2) * blockB;
  const sw = wp, w0 = wp + align16(M << 2);
  const ones = i8x16.splat(1), v0 = i32x4.splat(0);
  for (let grp: usize = 0; grp < GROUPS; grp++) {
    const xg = planes + grp * Cg * HP * RB;
    const wg = w0 + grp * groupW;
    for (let m0: usize = <usize>p0; m0 < <usize>p1; m0 += P << 3) {
      const np = min<usize>(P, (<usize>p1 - m0 + 7) >> 3);
      im2colQuads(xg, kofs, K, Mpix, m0, np, xcol);
      let xp = xcol;
      for (let p: usize = 0; p < np; p++) {
        const m = m0 + (p << 3);
        const nc = min<usize>(8, <usize>p1 - m);
        // 64·colsum of the panel's pixels
        let s0 = v0, s1 = v0;
        for (let o: usize = 0; o < panelB; o += 32) { s0 = dot4(v128.load(xp + o), ones, s0); s1 = dot4(v128.load(xp + o, 16), ones, s1); }
        s0 = i32x4.shl(s0, 6); s1 = i32x4.shl(s1, 6);
        const yrow = y + m * eB;
        let wb = wg + (<usize>n0 >> 2) * blockB;
        for (let n: usize = <usize>n0; n < <usize>n1; n += 4) {
          tile4x8c4(kq, wb, xp, s0, s1, sw, zx, grp * Ng + n, min<usize>(4, <usize>n1 - n), nc, q, qp, M, yrow, ldyB);
          wb += blockB;
        }
        xp += panelB;
      }
    }
  }
  return 0;
}

/** The whole conv of one image (qs8_conv2d_4x8c4_range over every channel). */
export function qs8_conv2d_4x8c4__wasmrelaxed(g: usize, q: usize, x: usize, wp: usize, qp: usize, y: usize, work: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  return qs8_conv2d_4x8c4_range__wasmrelaxed(g, q, x, wp, qp, y, work, 0, gi(g, 3) / gi(g, 16));
}
