// Sparse int8 conv / FC for pruned layers (weights in CSR per output channel), WASM SIMD128.
// Plain TS references: qs8Conv2dRef / qs8FcRef on the densified CSR (src/kernels/int8_ref.ts).
// Quantization, quant block q and per-channel parameters qp: see common.ts.
//
//   qs8_spconv2d_16x1__wasmsimd  pairs of nonzeros over plain X rows, straight from the
//       decoder's CSR: see the section at the end of this file (1.5-1.9x the dense kernel at
//       70 % sparsity). (An XNNPACK-style spmm over the non-empty k-PAIRS of the dense kernel's
//       pair-interleaved im2col, qs8_spconv2d_16x1c2 with its own pack step, ran ~1.3x the dense
//       kernel at 70 % sparsity, slower than this one, and was removed; so was a 32-pixel
//       variant of it.)
//   qs8_spfc_1x1__scalar  FC Y(M, N) = X(M, K)·Wᵀ straight from the CSR (batch 1: a gather per
//       nonzero, nothing to vectorize over), 2 accumulators per row.
//
// CSR (what decodeCsr in assembly/codec.ts emits) of the (M, K) weight matrix, K = C/g·KH·KW:
//   rowPtr (M+1) u32, col (nnz) u16 ascending within a row, val (nnz) i8 (the FC kernel) or
//   i16 (the conv kernel: the layout at the end of this file).
// Status: 0, or E_ARG (-5): inconsistent geometry / quant block / CSR.

import {
  E_ARG, Q_ZX, align16, gi, geomOk, quantOk, loadGeom, storeRow8, storeRow16Q8, q8Layer, q8Mode, storeScalar, outBytes, planesBytes,
  padPlanes16Pixels, tapOffsets, im2colPanels16, load8s2, C, M, KH, KW, OH, OW, HP, RS, GROUPS, SH, SW,
} from './common';
import { widenRow } from './gemm';

const CHUNK_BYTES: usize = 32 << 10;

/** Panels per Xcol chunk: a multiple of 4, ≥ 4. */
function spChunkPanels(K: usize, Mpix: usize): usize {
  const panelB = ((K + 1) >> 1) << 5;
  let p = CHUNK_BYTES / panelB;
  const all = (Mpix + 7) >> 3;
  if (p > all) p = all;
  p = (p + 3) & ~(<usize>3);
  return p < 4 ? 4 : p;
}

/**
 * Y(M, N) = X(M, K)·Wᵀ from the raw CSR of W (N, K) (rowPtr (N+1) u32, col u16, val i8; not
 * validated beyond rowPtr[N] = nnz and col < K), x (M, K) int8, y (M, N), work ≥ qs8_fc_work_bytes(K).
 */
export function qs8_spfc_1x1__scalar(M: i32, N: i32, K: i32, x: usize, rowPtr: usize, col: usize, val: usize, nnz: i32,
  q: usize, qp: usize, y: usize, work: usize): i32 {
  if (M < 1 || N < 1 || K < 1 || nnz < 0 || !quantOk(q)) return E_ARG;
  if (load<u32>(rowPtr) != 0 || load<u32>(rowPtr + (<usize>N << 2)) != <u32>nnz) return E_ARG;
  for (let i: i32 = 0; i < nnz; i++) if (<i32>load<u16>(col + (<usize>i << 1)) >= K) return E_ARG;
  for (let n: usize = 0; n < <usize>N; n++) if (load<u32>(rowPtr + (n << 2)) > load<u32>(rowPtr + ((n + 1) << 2))) return E_ARG;
  const kc = <usize>K, nc = <usize>N, eB = outBytes(q), zx = gi(q, Q_ZX);
  for (let b: usize = 0; b < <usize>M; b++) {
    widenRow(x + b * kc, kc, zx, work);
    const yb = y + b * nc * eB;
    let a = <usize>load<u32>(rowPtr);
    for (let n: usize = 0; n < nc; n++) {
      const e = <usize>load<u32>(rowPtr + ((n + 1) << 2));
      let s0: i32 = 0, s1: i32 = 0;
      for (; a + 2 <= e; a += 2) {
        s0 += <i32>load<i8>(val + a) * <i32>load<i16>(work + (<usize>load<u16>(col + (a << 1)) << 1));
        s1 += <i32>load<i8>(val + a + 1) * <i32>load<i16>(work + (<usize>load<u16>(col + (a << 1), 2) << 1));
      }
      if (a < e) { s0 += <i32>load<i8>(val + a) * <i32>load<i16>(work + (<usize>load<u16>(col + (a << 1)) << 1)); a++; }
      storeScalar(s0 + s1, n, q, qp, nc, yb + n * eB);
    }
  }
  return 0;
}

// ---- nonzero pairs straight from the CSR: X rows, two arbitrary nonzeros per step ------------
//
// qs8_spconv2d_16x1__wasmsimd: a kernel over k-pair blocks spends a dot on every k-pair that
// holds one nonzero (at density 0.3, 51 % of the pairs are non-empty). This one pairs up the
// row's nonzeros themselves (k_a, k_b arbitrary): X is stored as plain rows (super-panels of 16
// pixels: row k = 16 int16 = 32 contiguous bytes, super-panel s at s·K·32), and per step the
// two rows are interleaved in registers (4 i16 shuffles) before the 4 dots.
// It reads the weights in the layout decodeCsr emits with 16-bit values (no pack step: the
// decoder writes the kernel's layout), qs8_spconv_csr_bytes(M, nnz) bytes at sp:
//   sp:                                    rowPtr (M+1) u32 (rowPtr[0] = 0, ascending)
//   col = sp + align16((M+1)·4):           col (nnz) u16, ascending within a row, < K
//   val = col + align16(nnz·2):            val (nnz) i16 (the int8 values widened)
// 4 bytes per nonzero; per pair of nonzeros one load32_splat of the two weights and one u32
// load of the two columns. The kernel trusts the layout (decodeCsr and csrFromDense emit it
// valid by construction). The 12-byte pre-packed entries it replaced ran ~2 % faster but cost
// 6 bytes per nonzero and a pack pass at load; int8 values (3 bytes per nonzero) cost ~5 %
// (an extend per pair): ResNet-20 19 convs at density 0.3, bench:kernels.

/** Bytes of the 16-bit-value CSR layout of M rows, nnz nonzeros (above). */
export function qs8_spconv_csr_bytes(M: i32, nnz: i32): i32 {
  if (M < 1 || nnz < 0) return E_ARG;
  return <i32>(align16((<usize>M + 1) << 2) + align16(<usize>nnz << 1) + align16(<usize>nnz << 1));
}

/**
 * Writes `np` 8-pixel pieces (pixels n0 .. n0 + 8·np − 1) of the group's X rows at dst as
 * super-panels of 16 pixels: piece q at dst + (q >> 1)·K·32 + (q & 1)·16, row k 32 bytes on.
 */
function im2colRows16(xg: usize, kofs: usize, K: usize, N: usize, n0: usize, np: usize, dst0: usize): void {
  for (let q: usize = 0; q < np; q++) {
    let dst = dst0 + (q >> 1) * (K << 5) + ((q & 1) << 4);
    const n = n0 + (q << 3);
    const oh = n / OW, ow = n - oh * OW;
    if (n + 8 <= N && ow + 8 <= OW && SW <= 2) {
      const base = xg + ((oh * SH * RS + ow * SW) << 1);
      const kend = kofs + (K << 2);
      if (SW == 1) {
        for (let kp = kofs; kp != kend; kp += 4) { v128.store(dst, v128.load(base + <usize>load<i32>(kp))); dst += 32; }
      } else {
        for (let kp = kofs; kp != kend; kp += 4) { v128.store(dst, load8s2(base + <usize>load<i32>(kp))); dst += 32; }
      }
    } else {
      let o0: usize = 0, o1: usize = 0, o2: usize = 0, o3: usize = 0, o4: usize = 0, o5: usize = 0, o6: usize = 0, o7: usize = 0;
      let r = oh, s = ow;
      for (let j: usize = 0; j < 8; j++) {
        const off = n + j < N ? (r * SH * RS + s * SW) << 1 : o0;
        if (j == 0) o0 = off; else if (j == 1) o1 = off; else if (j == 2) o2 = off; else if (j == 3) o3 = off;
        else if (j == 4) o4 = off; else if (j == 5) o5 = off; else if (j == 6) o6 = off; else o7 = off;
        if (++s == OW) { s = 0; r++; }
      }
      for (let k: usize = 0; k < K; k++) {
        const p = xg + <usize>load<i32>(kofs + (k << 2));
        store<i16>(dst, load<i16>(p + o0)); store<i16>(dst + 2, load<i16>(p + o1));
        store<i16>(dst + 4, load<i16>(p + o2)); store<i16>(dst + 6, load<i16>(p + o3));
        store<i16>(dst + 8, load<i16>(p + o4)); store<i16>(dst + 10, load<i16>(p + o5));
        store<i16>(dst + 12, load<i16>(p + o6)); store<i16>(dst + 14, load<i16>(p + o7));
        dst += 32;
      }
    }
  }
}

/** Scratch bytes of qs8_spconv2d_16x1__wasmsimd; -5 on bad geometry. */
export function qs8_spconv2d_nz_work_bytes(g: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  loadGeom(g);
  const K = C / GROUPS * KH * KW;
  return <i32>(planesBytes() + align16(K << 2) + spChunkPanels(K, OH * OW) * (K << 4) + 64);
}

/** A thread's pixel range [p0, p1) of a sparse conv: p0 a multiple of 16 (a super-panel), p1 one too or Mpix = OH·OW. */
@inline function pixelRangeOk(p0: i32, p1: i32, Mpix: usize): bool {
  return p0 >= 0 && (p0 & 15) == 0 && <usize>p1 <= Mpix && p0 < p1 && ((p1 & 15) == 0 || <usize>p1 == Mpix);
}

/**
 * Sparse conv of one image: x (C,H,W) int8, sp = the 16-bit-value CSR (above) of the ONNX
 * weights (M, C/g·KH·KW), qp per-channel parameters (M), y (M,OH,OW), work ≥
 * qs8_spconv2d_nz_work_bytes(g).
 */
export function qs8_spconv2d_16x1__wasmsimd(g: usize, q: usize, x: usize, sp: usize, qp: usize, y: usize, work: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  return qs8_spconv2d_16x1_part__wasmsimd(g, q, x, sp, qp, y, work, 0, gi(g, 6) * gi(g, 7));
}

/**
 * Output pixels [p0, p1) (row-major over OH·OW) of every channel of one image: the split of a
 * thread pool (src/wasm/threads.ts; each thread its own `work`). p0 must be a multiple of 16
 * (a super-panel), p1 a multiple of 16 or OH·OW. Each pixel is computed as the whole conv
 * computes it (the same super-panels, the same pairs of nonzeros in the same order).
 */
export function qs8_spconv2d_16x1_part__wasmsimd(g: usize, q: usize, x: usize, sp: usize, qp: usize, y: usize, work: usize, p0: i32, p1: i32): i32 {
  if (!geomOk(g) || !quantOk(q)) return E_ARG;
  loadGeom(g);
  const Cg = C / GROUPS, Ng = M / GROUPS, K = Cg * KH * KW, Mpix = OH * OW;
  if (!pixelRangeOk(p0, p1, Mpix)) return E_ARG;
  const pEnd = <usize>p1;
  const eB = outBytes(q), ldyB = Mpix * eB, superB = K << 5;
  // int8 output (MODE_Q8 / MODE_QF): the output stage's layer constants splatted once (storeRow16Q8)
  const q8 = q8Mode(q);
  if (q8) q8Layer(q);
  const planes = work, kofs = work + planesBytes(), xcol = kofs + align16(K << 2);
  const rowPtr = sp, nnz = <usize>load<u32>(sp + (M << 2));
  const col = sp + align16((M + 1) << 2), val = col + align16(nnz << 1); // val i16
  padPlanes16Pixels(x, gi(q, Q_ZX), planes, <usize>p0, <usize>p1);
  tapOffsets(Cg, kofs);
  const P = spChunkPanels(K, Mpix);
  for (let grp: usize = 0; grp < GROUPS; grp++) {
    const xg = planes + (grp * Cg * HP * RS << 1);
    for (let m0: usize = <usize>p0; m0 < pEnd; m0 += P << 3) {
      const np = min<usize>(P, (pEnd - m0 + 7) >> 3);
      im2colRows16(xg, kofs, K, Mpix, m0, np, xcol);
      for (let p: usize = 0; p < np; p += 2) {
        const xb = xcol + (p >> 1) * superB;
        const m = m0 + (p << 3);
        const left = pEnd - m;
        for (let n: usize = 0; n < Ng; n++) {
          const c = grp * Ng + n;
          let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
          const i0 = <usize>load<u32>(rowPtr + (c << 2)), i1 = <usize>load<u32>(rowPtr + ((c + 1) << 2));
          let pc = col + (i0 << 1), pv = val + (i0 << 1);
          const pend = val + ((i0 + ((i1 - i0) & ~(<usize>1))) << 1);
          while (pv != pend) {
            const wv = v128.load32_splat(pv);
            const kk = <usize>load<u32>(pc);
            const pa = xb + ((kk << 5) & 0x1fffe0), pb = xb + ((kk >> 11) & ~(<usize>31));
            const ra = v128.load(pa), rb = v128.load(pb), sa = v128.load(pa, 16), sb = v128.load(pb, 16);
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.shuffle<i16>(ra, rb, 0, 8, 1, 9, 2, 10, 3, 11), wv));
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.shuffle<i16>(ra, rb, 4, 12, 5, 13, 6, 14, 7, 15), wv));
            a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.shuffle<i16>(sa, sb, 0, 8, 1, 9, 2, 10, 3, 11), wv));
            a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.shuffle<i16>(sa, sb, 4, 12, 5, 13, 6, 14, 7, 15), wv));
            pv += 4; pc += 4;
          }
          if ((i1 - i0) & 1) {
            const wv = i32x4.splat(<i32>load<i16>(pv) & 0xffff);
            const pa = xb + (<usize>load<u16>(pc) << 5);
            const ra = v128.load(pa), sa = v128.load(pa, 16);
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(i32x4.extend_low_i16x8_u(ra), wv));
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(i32x4.extend_high_i16x8_u(ra), wv));
            a2 = i32x4.add(a2, i32x4.dot_i16x8_s(i32x4.extend_low_i16x8_u(sa), wv));
            a3 = i32x4.add(a3, i32x4.dot_i16x8_s(i32x4.extend_high_i16x8_u(sa), wv));
          }
          const dst = y + c * ldyB + m * eB;
          if (q8) storeRow16Q8(a0, a1, a2, a3, c, qp, M, dst, left);
          else {
            storeRow8(a0, a1, c, q, qp, M, dst, min<usize>(8, left));
            if (left > 8) storeRow8(a2, a3, c, q, qp, M, dst + (eB << 3), min<usize>(8, left - 8));
          }
        }
      }
    }
  }
  return 0;
}

// ---- k-pair blocks: qs8_spconv2d_16x1c2 ------------------------------------------------------
//
// For weights pruned in aligned 1x2 blocks along K (compress --sparsity-pattern pairs: k = 2j and
// 2j+1 of a row both kept or both zeroed) the nonzeros come in aligned k-pairs, and the dot
// product i32x4.dot_i16x8_s over pair-interleaved X (the dense kernel's panel layout) needs no
// shuffle: per non-empty pair one load32_splat of (W(n,2j), W(n,2j+1)) and, per 4 pixels, one
// load + one dot + one add. It runs ANY CSR (a pair with one nonzero stores the other as 0) but
// pays a full pair for it: fast when the pairs are full. The pair list is made at load from the
// decoded CSR (qs8_spconv_pack_pairs), so the file format is the CSR as before.
//
// X: super-panels of 16 pixels: pair j of super-panel s at s·KP·64 + j·64, the 16 pixels'
// (x(2j), x(2j+1)) int16 pairs in pixel order (KP = ceil(K/2) pairs; an odd K's last pair has 0
// for k = K). Two pairs per loop step. A 32-pixel tile (8 accumulators, 128-byte pairs) ran
// 15-45 % slower than the 16-pixel one on the ResNet-20 shapes and was dropped; the two-pair
// step runs ~10 % faster than one pair per step (/tmp bench at 50 % pairs: 32→32 16x16 39.0 vs
// 42.3 µs, 64→64 8x8 35.6 vs 40.5 µs; the dense kernel 54.7 / 53.2 µs).
// Pair-block layout ('pairs'), qs8_spconv_pairs_bytes(M, E) bytes at sp:
//   sp:                         ent (M+1) u32: first entry of row n (ent[0] = 0, ent[M] = E)
//   sp + align16((M+1)·4):      E entries of 8 bytes, row by row, ascending j:
//                               i16 W(n, 2j), i16 W(n, 2j+1), u32 j·64
// (j·64 = the pair's byte offset in a 16-pixel super-panel).

/**
 * Non-empty aligned k-pairs of a CSR (src/kernels/int8_ref.ts csrPairCount): per row, the
 * distinct col >> 1 of its ascending columns. rowPtr (M+1) u32, col u16 (as decodeCsr writes
 * them). Counted at lowering for the kernel choice (the pair density), in place in the decode
 * scratch: no copy to JS.
 */
export function qs8_csr_pair_count(M: i32, rowPtr: usize, col: usize): i32 {
  let E: i32 = 0;
  for (let n: usize = 0; n < <usize>M; n++) {
    const a = <usize>load<u32>(rowPtr + (n << 2)), b = <usize>load<u32>(rowPtr + ((n + 1) << 2));
    let last: i32 = -1;
    for (let i = a; i < b; i++) {
      const j = <i32>load<u16>(col + (i << 1)) >> 1;
      if (j != last) { E++; last = j; }
    }
  }
  return E;
}

/** Bytes of the pair-block layout of M rows with E non-empty pairs (above). */
export function qs8_spconv_pairs_bytes(M: i32, E: i32): i32 {
  if (M < 1 || E < 0) return E_ARG;
  return <i32>(align16((<usize>M + 1) << 2) + (<usize>E << 3));
}

/**
 * Packs the 16-bit-value CSR (qs8_spconv_csr_bytes layout) of W (M, K) at csr into the pair-block
 * layout at dst (room for qs8_spconv_pairs_bytes(M, E)); returns E, or E_ARG when the CSR is
 * inconsistent (rowPtr[0] ≠ 0, decreasing, columns not ascending or ≥ K). `cap`: the most
 * entries dst holds (E_ARG beyond).
 */
export function qs8_spconv_pack_pairs(M: i32, K: i32, csr: usize, dst: usize, cap: i32): i32 {
  if (M < 1 || K < 1 || cap < 0) return E_ARG;
  const Mu = <usize>M;
  if (load<u32>(csr) != 0) return E_ARG;
  const nnz = <usize>load<u32>(csr + (Mu << 2));
  const col = csr + align16((Mu + 1) << 2), val = col + align16(nnz << 1);
  const ent = dst;
  let e = dst + align16((Mu + 1) << 2);
  let E: i32 = 0;
  for (let n: usize = 0; n < Mu; n++) {
    store<u32>(ent + (n << 2), <u32>E);
    const a = <usize>load<u32>(csr + (n << 2)), b = <usize>load<u32>(csr + ((n + 1) << 2));
    if (b < a || b > nnz) return E_ARG;
    let prev: i32 = -1;
    let i = a;
    while (i < b) {
      const k = <i32>load<u16>(col + (i << 1));
      if (k <= prev || k >= K) return E_ARG;
      const j = k >> 1;
      let w0: i32 = 0, w1: i32 = 0;
      if (k & 1) w1 = load<i16>(val + (i << 1));
      else {
        w0 = load<i16>(val + (i << 1));
        if (i + 1 < b && k + 1 < K && <i32>load<u16>(col + ((i + 1) << 1)) == k + 1) {
          i++;
          w1 = load<i16>(val + (i << 1));
          prev = k + 1;
        }
      }
      if (prev < k) prev = k;
      i++;
      if (E >= cap) return E_ARG;
      store<i16>(e, <i16>w0); store<i16>(e, <i16>w1, 2); store<u32>(e, <u32>(j << 6), 4);
      e += 8; E++;
    }
  }
  store<u32>(ent + (Mu << 2), <u32>E);
  return E;
}

/** Scratch bytes of the pair-block kernels (padded planes, tap offsets, one chunk); -5 on bad geometry. */
export function qs8_spconv2d_c2_work_bytes(g: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  loadGeom(g);
  const K = C / GROUPS * KH * KW;
  return <i32>(planesBytes() + align16(K << 2) + spChunkPanels(K, OH * OW) * (((K + 1) >> 1) << 5) + 64);
}

function spmmPairs16(c0: usize, Ng: usize, ent: usize, entries: usize, xp: usize, np: usize, kpairs: usize, m0: usize,
  Mpix: usize, q: usize, qp: usize, y: usize, ldyB: usize, eB: usize): void {
  // two pairs per step (measured ~10 % faster than one)
  const superB = kpairs << 6;
  // int8 output (MODE_Q8 / MODE_QF): the output stage's layer constants splatted once (storeRow16Q8)
  const q8 = q8Mode(q);
  if (q8) q8Layer(q);
  for (let p: usize = 0; p < np; p += 2) {
    const xb = xp + (p >> 1) * superB;
    const m = m0 + (p << 3);
    const left = Mpix - m;
    for (let n: usize = 0; n < Ng; n++) {
      const c = c0 + n;
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      let e = entries + (<usize>load<u32>(ent + (c << 2)) << 3);
      const eend = entries + (<usize>load<u32>(ent + ((c + 1) << 2)) << 3);
      const e2 = e + ((eend - e) & ~(<usize>15));
      while (e != e2) {
        const wv = v128.load32_splat(e), wu = v128.load32_splat(e, 8);
        const x0 = xb + <usize>load<u32>(e, 4), x1 = xb + <usize>load<u32>(e, 12);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(x0), wv));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(x0, 16), wv));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load(x0, 32), wv));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load(x0, 48), wv));
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(x1), wu));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(x1, 16), wu));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load(x1, 32), wu));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load(x1, 48), wu));
        e += 16;
      }
      if (e != eend) {
        const wv = v128.load32_splat(e);
        const x0 = xb + <usize>load<u32>(e, 4);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(x0), wv));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(x0, 16), wv));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load(x0, 32), wv));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load(x0, 48), wv));
      }
      const dst = y + c * ldyB + m * eB;
      if (q8) storeRow16Q8(a0, a1, a2, a3, c, qp, M, dst, left);
      else {
        storeRow8(a0, a1, c, q, qp, M, dst, min<usize>(8, left));
        if (left > 8) storeRow8(a2, a3, c, q, qp, M, dst + (eB << 3), min<usize>(8, left - 8));
      }
    }
  }
}

function spconvPairs(g: usize, q: usize, x: usize, sp: usize, qp: usize, y: usize, work: usize, p0: i32, p1: i32): i32 {
  if (!geomOk(g) || !quantOk(q)) return E_ARG;
  loadGeom(g);
  const Cg = C / GROUPS, Ng = M / GROUPS, K = Cg * KH * KW, kpairs = (K + 1) >> 1, Mpix = OH * OW;
  if (!pixelRangeOk(p0, p1, Mpix)) return E_ARG;
  const pEnd = <usize>p1;
  const eB = outBytes(q), ldyB = Mpix * eB;
  const planes = work, kofs = work + planesBytes(), xcol = kofs + align16(K << 2);
  const ent = sp, entries = sp + align16((M + 1) << 2);
  padPlanes16Pixels(x, gi(q, Q_ZX), planes, <usize>p0, <usize>p1);
  tapOffsets(Cg, kofs);
  const P = spChunkPanels(K, Mpix);
  for (let grp: usize = 0; grp < GROUPS; grp++) {
    const xg = planes + (grp * Cg * HP * RS << 1);
    for (let m0: usize = <usize>p0; m0 < pEnd; m0 += P << 3) {
      const np = min<usize>(P, (pEnd - m0 + 7) >> 3);
      im2colPanels16(xg, kofs, K, Mpix, m0, np, xcol, 1);
      // pixels stored below pEnd (the rows run OH·OW apart: ldyB)
      spmmPairs16(grp * Ng, Ng, ent, entries, xcol, np, kpairs, m0, pEnd, q, qp, y, ldyB, eB);
    }
  }
  return 0;
}

/**
 * Pair-block sparse conv of one image, 16 pixels per tile: x (C,H,W) int8, sp = the pair-block
 * layout (qs8_spconv_pack_pairs) of the ONNX weights (M, C/g·KH·KW), qp per-channel parameters
 * (M), y (M,OH,OW), work ≥ qs8_spconv2d_c2_work_bytes(g).
 */
export function qs8_spconv2d_16x1c2__wasmsimd(g: usize, q: usize, x: usize, sp: usize, qp: usize, y: usize, work: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  return spconvPairs(g, q, x, sp, qp, y, work, 0, gi(g, 6) * gi(g, 7));
}

/**
 * Output pixels [p0, p1) of every channel of one image (a thread's part, as
 * qs8_spconv2d_16x1_part: p0 a multiple of 16, p1 a multiple of 16 or OH·OW).
 */
export function qs8_spconv2d_16x1c2_part__wasmsimd(g: usize, q: usize, x: usize, sp: usize, qp: usize, y: usize, work: usize, p0: i32, p1: i32): i32 {
  return spconvPairs(g, q, x, sp, qp, y, work, p0, p1);
}
