// Exact integer Winograd F(4x4, 3x3) int8 conv for WASM SIMD128 (plain SIMD): 3x3, stride 1,
// dilation 1, groups 1, any pads, OH a multiple of 4 and OW of 8 (panels of 8 tiles are 4 pairs
// of horizontally adjacent tiles), and weights within the bound below. Plain TS reference: qs8Wino4x4Ref
// in src/kernels/int8_wino_ref.ts (equal to qs8Conv2dRef, the direct conv).
//
// Transforms (Lavin & Gray, F(4,3); points 0, ±1, ±2, ∞) kept integer:
//   Bᵀ = [[4,0,−5,0,1,0],[0,−4,−4,1,1,0],[0,4,−4,−1,1,0],[0,−2,−1,2,1,0],[0,2,−1,−2,1,0],[0,4,0,−5,0,1]]
//   G's rows scaled by s = [24, 24, 24, 24, 24, 1] are integer: G* = [[6,0,0],[−4,−4,−4],[−4,4,−4],
//   [1,2,4],[1,−2,4],[0,0,1]], so U* = G* g G*ᵀ has U*ᵢⱼ = sᵢ sⱼ Uᵢⱼ, |U*| ≤ 12·12·128 = 18432
//   (row sums of |G*| 6, 12, 12, 7, 7, 1)
//   V = Bᵀ d B of a 6x6 tile d of x itself, zx in the padding (|d| ≤ 128, row sums of |Bᵀ| ≤ 10:
//   |V| ≤ 12800, int16)
//   M* = Σ_cin U* ⊙ V: 36 GEMMs on cin pairs (i32x4.dot_i16x8_s: a pair sum ≤ 2·18432·12800 < 2^31),
//   then M*(1, 1) −= 576·zx·Σ_k w[c, k] (wrapping): with d = (x − zx) + zx, that takes the zx
//   part out of every output, since column 1 of A*ᵀ is all ones (A*ᵀ e₁ e₁ᵀ A* = the 4x4 ones)
//   576·Y = A*ᵀ M* A* with A* = A's rows scaled by r = 24/s = [1, 1, 1, 1, 1, 24]:
//   A*ᵀ = [[1,1,1,1,1,0],[0,1,−1,2,−2,0],[0,1,1,4,4,0],[0,1,−1,8,−8,24]] (adds and shifts: the
//   factors 6, 4, 4 of rows 0..2 are in the packed weights, not in the output transform)
//   Y = ((576·Y) · 0x38E38E39) >> 6 (0x38E38E39 is the inverse of 9 modulo 2^32)
// Exactness: everything after the int16 transforms is int32 add / multiply, exact modulo 2^32, so
// the output transform gives 576·Y modulo 2^32, and times 9⁻¹ 64·Y modulo 2^32. That is 64·Y
// itself, and the shift gives Y exactly, when |64·Y| < 2^31 (576·Y itself may wrap: only its
// residue is used). |Y| ≤ max_c Σ_k |w[c,k]| · max|x − zx|, so the kernel runs when that product
// is at most WINO4_BOUND = 2^25 − 1 (the packed weights carry max_c Σ|w|; max|x − zx| =
// max(127 − zx, zx + 128)): any 8-bit weights up to Cin = 114 (Σ|w| ≤ 9·128·Cin, |x − zx| ≤ 255),
// more where the weights are smaller; E_RANGE (−6) otherwise, nothing written. (Dividing by 576
// before the inverse, ((576·Y) >> 6) · 9⁻¹, would need |576·Y| < 2^31: a bound 9× smaller.) Y equals the direct conv's int32 accumulator, and the shared output stage
// (storeRow8 / storeRowQ8) gives the same bits.
//
// Packed weights (qs8_wino4_pack_w, once at load; caller-owned): a 16-byte header (i32 max_c
// Σ_k |w[c,k]|, 12 zero bytes), Σ_k w[c, k] per output channel (i32, padded to 16 bytes: wHead),
// then per block b of 4 output channels, per position p = 6i + j of
// the 6x6 U*, KP = ceil(Cin/2) cin pairs of 16 bytes:
//   pair k = [U*(4b, 2k)[p], U*(4b, 2k+1)[p], U*(4b+1, 2k)[p], ..., U*(4b+3, 2k+1)[p]]  int16
// (zero past Cout and for cin = Cin when Cin is odd).
// Input: per channel 4 column-phase planes (HP, U4) int8 of the padded input (x, zx in the
// padding: half the bytes of x − zx in int16, and no subtraction), made straight from x for a
// left pad of 1 and W % 8 == 0 (phasePlanesDirect), else from a padded row (phasePlanes); phase
// m column u = padded column 4u + m, so that d(r, s) of 4 horizontally adjacent tiles is one
// widening 8-byte load (of a pair of tiles, two 16-bit loads and a widening). Tiles:
// TH = OH/4, TW = OW/4 (even), tile t = ty·TW + tx, raster order, panels of 8 = 4 pairs (2t, 2t + 1)
// (a pair never straddles two tile rows). The GEMM's lanes take a panel as two halves of 2 pairs;
// a half whose pairs are one run of 4 tiles (TW a multiple of 4) loads and stores them at once.
// Pairs past T (the last panel) repeat the panel's first pair: computed, never stored.
//
// Status: 0; E_ARG (-5) for a geometry this kernel does not run or bad arguments; E_RANGE (-6)
// when the weights and zx leave the bound (nothing written).

import {
  E_ARG, Q_ZX, gi, geomOk, quantOk, loadGeom, storeRow8, storeRowQ8, storeRowQF8, q8Float, q8Layer, q8Channel, q8Mode, outBytes, store4x4T,
  G_KH, G_KW, G_SH, G_SW, G_DH, G_DW, G_GROUPS,
  C, H, W, M, OH, OW, HP, PT, PL,
} from './common';
import { E_RANGE } from './relaxed';
import { tileP } from './winograd';

/** Largest max_c Σ|w| · max|x − zx| for which 64·Y stays in int32: 2^25 − 1 (see the header). */
export const WINO4_BOUND: i64 = 33554431;

/** True when the geometry is one this kernel runs (3x3, stride 1, dilation 1, groups 1, OH % 4 == 0, OW % 8 == 0). */
function wino4GeomOk(g: usize): bool {
  if (!geomOk(g)) return false;
  if (gi(g, G_KH) != 3 || gi(g, G_KW) != 3 || gi(g, G_SH) != 1 || gi(g, G_SW) != 1) return false;
  if (gi(g, G_DH) != 1 || gi(g, G_DW) != 1 || gi(g, G_GROUPS) != 1) return false;
  loadGeom(g);
  return OH >= 4 && OW >= 8 && (OH & 3) == 0 && (OW & 7) == 0;
}

// ---- weights ------------------------------------------------------------------------------

/** Bytes qs8_wino4_pack_w writes for M output channels, K = Cin·9, groups 1; E_ARG otherwise. */
export function qs8_wino4_packed_w_bytes(M_: i32, K: i32, groups: i32): i32 {
  if (M_ < 1 || K < 9 || K % 9 != 0 || groups != 1 || K / 9 > 1 << 20) return E_ARG;
  return <i32>wHead(<usize>M_) + ((M_ + 3) >> 2) * 36 * ((K / 9 + 1) >> 1) * 16;
}

/** Bytes before the U* blocks: the 16-byte header, then Σ_k w[c, k] (i32) per output channel, 16-aligned. */
@inline function wHead(Mc: usize): usize {
  return 16 + (((Mc << 2) + 15) & ~(<usize>15));
}

/**
 * Packs w (M, Cin, 3, 3) int8 into the layout above at dst (qs8_wino4_packed_w_bytes). Returns
 * max_c Σ|w[c, ·]| (≥ 0, also in the header), or E_ARG. SIMD over the 8 kernels of one 16-byte
 * pair slot (4 output channels × 2 input channels, the slot's lane order): their 9 taps
 * transposed into 9 vectors (taps 0..7 by an 8x8 int16 transpose of unpacks, tap 8 by lanes),
 * then U* = G* g G*ᵀ on int16 lanes (|U*| ≤ 18,432, every intermediate within int16), one store
 * per position; absent kernels (past M or Cin) are zero lanes. Every byte is written.
 */
export function qs8_wino4_pack_w(M_: i32, K: i32, groups: i32, w: usize, dst: usize): i32 {
  const bytes = qs8_wino4_packed_w_bytes(M_, K, groups);
  if (bytes < 0) return E_ARG;
  const Cin = <usize>(K / 9), Mc = <usize>M_, kp = (Cin + 1) >> 1, kc = <usize>K;
  const posB = kp << 4, blkB = posB * 36;
  // max_c Σ_k |w[c, k]|, and Σ_k w[c, k] per channel (the zero-point correction)
  let maxSum: i32 = 0;
  const head = wHead(Mc);
  for (let i: usize = 16; i < head; i += 4) store<i32>(dst + i, 0);
  for (let m: usize = 0; m < Mc; m++) {
    const row = w + m * kc;
    let acc = i32x4.splat(0), sacc = acc, k: usize = 0;
    for (; k + 16 <= kc; k += 16) {
      const v = v128.load(row + k);
      acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(i8x16.abs(v))));
      sacc = i32x4.add(sacc, i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v)));
    }
    let sum = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
    let ssum = i32x4.extract_lane(sacc, 0) + i32x4.extract_lane(sacc, 1) + i32x4.extract_lane(sacc, 2) + i32x4.extract_lane(sacc, 3);
    for (; k < kc; k++) { const v = <i32>load<i8>(row + k); sum += abs<i32>(v); ssum += v; }
    if (sum > maxSum) maxSum = sum;
    store<i32>(dst + 16 + (m << 2), ssum);
  }
  store<i32>(dst, maxSum);
  store<i32>(dst, 0, 4); store<u64>(dst, 0, 8);
  for (let b: usize = 0; b < (Mc + 3) >> 2; b++) {
    const blk = dst + head + b * blkB;
    for (let k: usize = 0; k < kp; k++) {
      // lane 2r + h: output channel 4b + r, input channel 2k + h
      const m0 = b << 2, c0 = k << 1;
      const v0 = taps8(w, Mc, Cin, m0, c0), v1 = taps8(w, Mc, Cin, m0, c0 + 1);
      const v2 = taps8(w, Mc, Cin, m0 + 1, c0), v3 = taps8(w, Mc, Cin, m0 + 1, c0 + 1);
      const v4 = taps8(w, Mc, Cin, m0 + 2, c0), v5 = taps8(w, Mc, Cin, m0 + 2, c0 + 1);
      const v6 = taps8(w, Mc, Cin, m0 + 3, c0), v7 = taps8(w, Mc, Cin, m0 + 3, c0 + 1);
      const lo = tap8(w, Mc, Cin, m0, c0) | (tap8(w, Mc, Cin, m0, c0 + 1) << 16) |
        (tap8(w, Mc, Cin, m0 + 1, c0) << 32) | (tap8(w, Mc, Cin, m0 + 1, c0 + 1) << 48);
      const hi = tap8(w, Mc, Cin, m0 + 2, c0) | (tap8(w, Mc, Cin, m0 + 2, c0 + 1) << 16) |
        (tap8(w, Mc, Cin, m0 + 3, c0) << 32) | (tap8(w, Mc, Cin, m0 + 3, c0 + 1) << 48);
      const t8 = i64x2.replace_lane(i64x2.splat(<i64>lo), 1, <i64>hi);
      // 8x8 transpose: t_j lane l = tap j of kernel l
      const a0 = v128.shuffle<i16>(v0, v1, 0, 8, 1, 9, 2, 10, 3, 11), a1 = v128.shuffle<i16>(v0, v1, 4, 12, 5, 13, 6, 14, 7, 15);
      const a2 = v128.shuffle<i16>(v2, v3, 0, 8, 1, 9, 2, 10, 3, 11), a3 = v128.shuffle<i16>(v2, v3, 4, 12, 5, 13, 6, 14, 7, 15);
      const a4 = v128.shuffle<i16>(v4, v5, 0, 8, 1, 9, 2, 10, 3, 11), a5 = v128.shuffle<i16>(v4, v5, 4, 12, 5, 13, 6, 14, 7, 15);
      const a6 = v128.shuffle<i16>(v6, v7, 0, 8, 1, 9, 2, 10, 3, 11), a7 = v128.shuffle<i16>(v6, v7, 4, 12, 5, 13, 6, 14, 7, 15);
      const b0 = v128.shuffle<i32>(a0, a2, 0, 4, 1, 5), b1 = v128.shuffle<i32>(a0, a2, 2, 6, 3, 7);
      const b2 = v128.shuffle<i32>(a1, a3, 0, 4, 1, 5), b3 = v128.shuffle<i32>(a1, a3, 2, 6, 3, 7);
      const b4 = v128.shuffle<i32>(a4, a6, 0, 4, 1, 5), b5 = v128.shuffle<i32>(a4, a6, 2, 6, 3, 7);
      const b6 = v128.shuffle<i32>(a5, a7, 0, 4, 1, 5), b7 = v128.shuffle<i32>(a5, a7, 2, 6, 3, 7);
      const t0 = v128.shuffle<i64>(b0, b4, 0, 2), t1 = v128.shuffle<i64>(b0, b4, 1, 3);
      const t2 = v128.shuffle<i64>(b1, b5, 0, 2), t3 = v128.shuffle<i64>(b1, b5, 1, 3);
      const t4 = v128.shuffle<i64>(b2, b6, 0, 2), t5 = v128.shuffle<i64>(b2, b6, 1, 3);
      const t6 = v128.shuffle<i64>(b3, b7, 0, 2), t7 = v128.shuffle<i64>(b3, b7, 1, 3);
      // T = G* g by columns s (g row-major: g[r][s] = t_{3r+s}), then each row of T times G*ᵀ
      const at = blk + (k << 4);
      packRowV(at, posB, g0(t0), g0(t1), g0(t2));
      packRowV(at + 6 * posB, posB, g1(t0, t3, t6), g1(t1, t4, t7), g1(t2, t5, t8));
      packRowV(at + 12 * posB, posB, g2(t0, t3, t6), g2(t1, t4, t7), g2(t2, t5, t8));
      packRowV(at + 18 * posB, posB, g3(t0, t3, t6), g3(t1, t4, t7), g3(t2, t5, t8));
      packRowV(at + 24 * posB, posB, g4(t0, t3, t6), g4(t1, t4, t7), g4(t2, t5, t8));
      packRowV(at + 30 * posB, posB, t6, t7, t8);
    }
  }
  return maxSum;
}

/** Taps 0..7 of kernel (m, c) of w (M, Cin, 3, 3) as int16 lanes; 0 past M or Cin. */
@inline function taps8(w: usize, Mc: usize, Cin: usize, m: usize, c: usize): v128 {
  return m < Mc && c < Cin ? i16x8.extend_low_i8x16_s(v128.load64_zero(w + (m * Cin + c) * 9)) : i16x8.splat(0);
}
/** Tap 8 of kernel (m, c) as the low 16 bits of a u64; 0 past M or Cin. */
@inline function tap8(w: usize, Mc: usize, Cin: usize, m: usize, c: usize): u64 {
  return m < Mc && c < Cin ? <u64><u16><i16>load<i8>(w + (m * Cin + c) * 9, 8) : 0;
}

// G* rows on int16 lanes: [6,0,0] [−4,−4,−4] [−4,4,−4] [1,2,4] [1,−2,4] ([0,0,1] is the third)
@inline function g0(a: v128): v128 {
  return i16x8.add(i16x8.shl(a, 2), i16x8.shl(a, 1));
}
@inline function g1(a: v128, b: v128, c: v128): v128 {
  return i16x8.shl(i16x8.neg(i16x8.add(i16x8.add(a, b), c)), 2);
}
@inline function g2(a: v128, b: v128, c: v128): v128 {
  return i16x8.shl(i16x8.sub(b, i16x8.add(a, c)), 2);
}
@inline function g3(a: v128, b: v128, c: v128): v128 {
  return i16x8.add(i16x8.add(a, i16x8.shl(b, 1)), i16x8.shl(c, 2));
}
@inline function g4(a: v128, b: v128, c: v128): v128 {
  return i16x8.add(i16x8.sub(a, i16x8.shl(b, 1)), i16x8.shl(c, 2));
}

/** Row (t0, t1, t2) of T = G* g times G*ᵀ, 8 kernels in the lanes: the 6 positions j at `at`, ps bytes apart. */
@inline function packRowV(at: usize, ps: usize, t0: v128, t1: v128, t2: v128): void {
  v128.store(at, g0(t0));
  v128.store(at + ps, g1(t0, t1, t2));
  v128.store(at + 2 * ps, g2(t0, t1, t2));
  v128.store(at + 3 * ps, g3(t0, t1, t2));
  v128.store(at + 4 * ps, g4(t0, t1, t2));
  v128.store(at + 5 * ps, t2);
}

// ---- workspace ------------------------------------------------------------------------------

// decoded by layout4 (after loadGeom)
let TH: usize = 0, TW: usize = 0, T: usize = 0, NP: usize = 0, KP: usize = 0, U4: usize = 0;
let OFF_P: usize = 0, OFF_V: usize = 0, OFF_Z: usize = 0, OFF_M: usize = 0, OFF_M2: usize = 0, OFF_R: usize = 0, OFF_PO: usize = 0, TOTAL: usize = 0;

function layout4(): void {
  TH = OH >> 2; TW = OW >> 2; T = TH * TW; NP = (T + 7) >> 3; KP = (C + 1) >> 1;
  U4 = (TW + 2 + 7) & ~(<usize>7);
  // a padded int8 row (phasePlanes' scratch), then the int8 phase planes (C, 4, HP, U4) and 16
  // bytes of slack (dPair's 8-byte loads read past a row), V of one panel
  // (36 positions, KP pairs, 8 tiles × 2 cin), the column-pass scratch, M of one 4x8 block and a
  // second (one-half panels take two blocks of 4 channels at once), the panel's pair offsets
  OFF_P = ((U4 << 2) + 32 + 15) & ~(<usize>15);
  OFF_V = OFF_P + ((C * 4 * HP * U4 + 16 + 15) & ~(<usize>15));
  OFF_Z = OFF_V + 36 * KP * 32;
  OFF_M = OFF_Z + 36 * 16;
  OFF_M2 = OFF_M + 36 * 128; // a second M block (tileP4h8's second 4 channels)
  OFF_R = OFF_M2 + 36 * 128; // outputHalf's column pass (4 rows of 6 i32x4)
  OFF_PO = OFF_R + 384; // 4 pair offsets in a phase plane, then 4 in y (elements), 8-byte slots
  TOTAL = OFF_PO + 64;
}

/** Scratch bytes of qs8_wino4x4_3x3__wasmsimd for the geometry at g; E_ARG when it does not apply. */
export function qs8_wino4_work_bytes(g: usize): i32 {
  if (!wino4GeomOk(g)) return E_ARG;
  layout4();
  return <i32>TOTAL;
}

/**
 * Work units of the geometry at g, the part kernel's: panels of 8 output tiles (4x4 each) times
 * blocks of 4 output channels, panel-major (unit u = panel u / MB, channel block u % MB, MB =
 * ceil(M / 4)); E_ARG when the kernel does not apply.
 */
export function qs8_wino4_units(g: usize): i32 {
  if (!wino4GeomOk(g)) return E_ARG;
  layout4();
  return <i32>(NP * ((M + 3) >> 2));
}

// ---- input ----------------------------------------------------------------------------------

/** Even bytes of a then of b (16 bytes; bytes as 16-bit lanes masked / shifted, then narrowed: no shuffle). */
@inline function evenBytes(a: v128, b: v128, lo8: v128): v128 {
  return i8x16.narrow_i16x8_u(v128.and(a, lo8), v128.and(b, lo8));
}
/** Odd bytes of a then of b. */
@inline function oddBytes(a: v128, b: v128): v128 {
  return i8x16.narrow_i16x8_u(i16x8.shr_u(a, 8), i16x8.shr_u(b, 8));
}

/**
 * The phase planes (C, 4, HP, U4) int8 at dst, rows [hp0, hp1), any pads: phase m column u =
 * padded column 4u + m of x (zx in the padding). Per row, the padded row is written to the
 * scratch at `row` (4·U4 + 32 bytes), then split by column residue mod 4 as in phasePlanesDirect.
 */
function phasePlanes(x: usize, zx: i32, row: usize, dst: usize, hp0: usize, hp1: usize): void {
  const lo8 = i16x8.splat(0xff);
  const phaseB = HP * U4, rowEnd = (U4 << 2) + 32;
  let d = dst;
  for (let c: usize = 0; c < C; c++) {
    for (let hp = hp0; hp < hp1; hp++) {
      memory.fill(row, <u8>zx, rowEnd);
      if (hp >= PT && hp < PT + H) memory.copy(row + PL, x + (c * H + hp - PT) * W, min<usize>(W, rowEnd - PL));
      const o = d + hp * U4;
      for (let u: usize = 0; u < U4; u += 8) {
        const a = v128.load(row + (u << 2)), b = v128.load(row + (u << 2), 16);
        const e = evenBytes(a, b, lo8), od = oddBytes(a, b);
        const r01 = evenBytes(e, od, lo8), r23 = oddBytes(e, od); // columns ≡ 0 then ≡ 1; ≡ 2 then ≡ 3
        const q = o + u;
        v128.store64_lane(q, r01, 0); v128.store64_lane(q + phaseB, r01, 1);
        v128.store64_lane(q + 2 * phaseB, r23, 0); v128.store64_lane(q + 3 * phaseB, r23, 1);
      }
    }
    d += phaseB << 2;
  }
}

/** 16 bytes of the row at src from column s (W % 8 == 0): x bytes below W, zx from W on. */
@inline function xrow16(src: usize, s: usize, vzx: v128): v128 {
  if (s + 16 <= W) return v128.load(src + s);
  return s + 8 <= W ? v128.load64_lane(src + s, vzx, 0) : vzx;
}

/**
 * phasePlanes straight from x (C, H, W) int8, rows [hp0, hp1), for PL == 1 and W % 8 == 0 (the
 * "same" 3x3 convs): padded column 4u + m of phase m is x column 4u + m − 1 (zx outside the row
 * and in the padded rows), written for every u < U4. Per 8 columns u of the 4 phases (32 x
 * bytes): the x columns by residue mod 4 through two rounds of even / odd byte narrowing (x
 * columns ≡ 0, 1, 2 mod 4 are phases 1, 2, 3; ≡ 3 is phase 0 one column u later: a 64-bit lane
 * shifted by one byte, the previous block's last byte in front); no byte shuffles (V8 builds a
 * general two-input shuffle from two table lookups and their masks).
 */
function phasePlanesDirect(x: usize, zx: i32, dst: usize, hp0: usize, hp1: usize): void {
  const vzx = i8x16.splat(<i8>zx), lo8 = i16x8.splat(0xff);
  const phaseB = HP * U4;
  let d = dst;
  for (let c: usize = 0; c < C; c++) {
    for (let hp = hp0; hp < hp1; hp++) {
      const o = d + hp * U4;
      if (hp < PT || hp >= PT + H) {
        for (let u: usize = 0; u < U4; u += 8) {
          const q = o + u;
          v128.store64_lane(q, vzx, 0); v128.store64_lane(q + phaseB, vzx, 0);
          v128.store64_lane(q + 2 * phaseB, vzx, 0); v128.store64_lane(q + 3 * phaseB, vzx, 0);
        }
        continue;
      }
      const src = x + (c * H + hp - PT) * W;
      // x columns 32b .. 32b + 31 for u = 8b .. 8b + 7; phase 0 takes the columns ≡ 3 one u
      // later (the top byte of the previous block's: column 32b − 1, zx for b = 0)
      let prev = vzx;
      for (let u: usize = 0, s: usize = 0; u < U4; u += 8, s += 32) {
        const a = xrow16(src, s, vzx), b = xrow16(src, s + 16, vzx);
        const e = evenBytes(a, b, lo8), od = oddBytes(a, b);
        const r01 = evenBytes(e, od, lo8); // columns ≡ 0 (8 bytes), then ≡ 1
        const r23 = oddBytes(e, od); //        columns ≡ 2, then ≡ 3 (lane 1)
        const q = o + u;
        v128.store64_lane(q, v128.or(i64x2.shl(r23, 8), i64x2.shr_u(prev, 56)), 1);
        v128.store64_lane(q + phaseB, r01, 0);
        v128.store64_lane(q + 2 * phaseB, r01, 1);
        v128.store64_lane(q + 3 * phaseB, r23, 0);
        prev = r23;
      }
    }
    d += phaseB << 2;
  }
}

/** 4·d0 − 5·d2 + d4 (rows 0 and 5 of Bᵀ, shifted). */
@inline function bt0(d0: v128, d2: v128, d4: v128): v128 {
  return i16x8.add(i16x8.sub(i16x8.shl(d0, 2), i16x8.add(i16x8.shl(d2, 2), d2)), d4);
}

/** d(r, s) of 4 tiles of channels c (at col) and c + 1 (at col + chanB, or 0), pairs interleaved, int16. */
@inline function dPair(col: usize, chanB: usize, has1: bool): v128 {
  // 8 bytes widened (one pmovsxbw from memory); lanes 4..7 are not used
  const a = v128.load8x8_s(col);
  const b = has1 ? v128.load8x8_s(col + chanB) : i16x8.splat(0);
  return v128.shuffle<i16>(a, b, 0, 8, 1, 9, 2, 10, 3, 11);
}

/** dPair for two tile pairs apart: tiles 0, 1 at col, tiles 2, 3 at col + gap. */
@inline function dPair2(col: usize, gap: usize, chanB: usize, has1: bool): v128 {
  const z = i16x8.splat(0);
  const a = i16x8.extend_low_i8x16_s(v128.load16_lane(col + gap, v128.load16_lane(col, z, 0), 1));
  const b = has1 ? i16x8.extend_low_i8x16_s(v128.load16_lane(col + chanB + gap, v128.load16_lane(col + chanB, z, 0), 1)) : z;
  return v128.shuffle<i16>(a, b, 0, 8, 1, 9, 2, 10, 3, 11);
}

/** d(r, s) of the 4 tiles of a half: one run of 4 tiles (gap 2 bytes) or two pairs `gap` bytes apart. */
@inline function dHalf(col: usize, gap: usize, chanB: usize, has1: bool): v128 {
  return gap == 2 ? dPair(col, chanB, has1) : dPair2(col, gap, chanB, has1);
}

/** Z = Bᵀ d of a half (tiles at base; gap: see dHalf), column s of d from phase s & 3 at offset s >> 2, into z (6 rows of 6 vectors). */
@inline function inputColumns(base: usize, gap: usize, chanB: usize, rowB: usize, phaseB: usize, has1: bool, z: usize): void {
  for (let s: usize = 0; s < 6; s++) {
    const col = base + (s & 3) * phaseB + (s >> 2);
    const d0 = dHalf(col, gap, chanB, has1), d1 = dHalf(col + rowB, gap, chanB, has1), d2 = dHalf(col + 2 * rowB, gap, chanB, has1);
    const d3 = dHalf(col + 3 * rowB, gap, chanB, has1), d4 = dHalf(col + 4 * rowB, gap, chanB, has1), d5 = dHalf(col + 5 * rowB, gap, chanB, has1);
    const t1 = i16x8.add(d1, d2), t2 = i16x8.add(d3, d4), t3 = i16x8.sub(d1, d2), t4 = i16x8.sub(d4, d3);
    const t5 = i16x8.sub(d4, d2), t6 = i16x8.shl(i16x8.sub(d3, d1), 1);
    const zs = z + (s << 4);
    v128.store(zs, bt0(d0, d2, d4));
    v128.store(zs, i16x8.sub(t2, i16x8.shl(t1, 2)), 96);
    v128.store(zs, i16x8.add(t4, i16x8.shl(t3, 2)), 192);
    v128.store(zs, i16x8.add(t5, t6), 288);
    v128.store(zs, i16x8.sub(t5, t6), 384);
    v128.store(zs, bt0(d1, d3, d5), 480);
  }
}

/**
 * V of the channel pair (c, c + 1) (phase planes at pl; has1: c + 1 < C) for the panel's two
 * halves (the tile element offsets of its 4 pairs in a phase plane: o[0..3] at po, 8 bytes
 * each), written in the GEMM's pair layout at vo + p·KP·32 + h·16 for the 36 positions p (the
 * first `halves`, 1 or 2); z: scratch of 36 vectors.
 */
function inputPair(pl: usize, has1: bool, po: usize, vo: usize, z: usize, halves: usize): void {
  const phaseB = HP * U4, chanB = phaseB << 2, rowB = U4, posB = KP << 5;
  for (let h: usize = 0; h < halves; h++) {
    const oA = load<usize>(po + (h << 4)), oB = load<usize>(po + (h << 4) + 8);
    const base = pl + oA, gap = oB - oA; // gap 2: one run of 4 tiles
    // columns: Z = Bᵀ d (the loads specialised on the gap outside the loop)
    if (gap == 2) inputColumns(base, 2, chanB, rowB, phaseB, has1, z);
    else inputColumns(base, gap, chanB, rowB, phaseB, has1, z);
    // rows: V = Z B, row i of Z at z + 96·i
    const dst = vo + (h << 4);
    for (let i: usize = 0; i < 6; i++) {
      const zr = z + i * 96;
      const d0 = v128.load(zr), d1 = v128.load(zr, 16), d2 = v128.load(zr, 32), d3 = v128.load(zr, 48), d4 = v128.load(zr, 64), d5 = v128.load(zr, 80);
      const t1 = i16x8.add(d1, d2), t2 = i16x8.add(d3, d4), t3 = i16x8.sub(d1, d2), t4 = i16x8.sub(d4, d3);
      const t5 = i16x8.sub(d4, d2), t6 = i16x8.shl(i16x8.sub(d3, d1), 1);
      const o = dst + 6 * i * posB;
      v128.store(o, bt0(d0, d2, d4));
      v128.store(o + posB, i16x8.sub(t2, i16x8.shl(t1, 2)));
      v128.store(o + 2 * posB, i16x8.add(t4, i16x8.shl(t3, 2)));
      v128.store(o + 3 * posB, i16x8.add(t5, t6));
      v128.store(o + 4 * posB, i16x8.sub(t5, t6));
      v128.store(o + 5 * posB, bt0(d1, d3, d5));
    }
  }
}

// ---- GEMM + output transform ----------------------------------------------------------------

/**
 * tileP for a panel of one half (4 tiles): kp pairs of V at px (32 bytes apart, the first 16
 * read) and of U* at pw (16 bytes: 4 couts × 2 cin); 4 i32x4 at mb, 32 bytes apart (tileP's
 * places of couts 0..3 × tiles 0..3). Small images (8x8: 4 tiles) would waste half of tileP.
 */
@inline function tileP4h(px: usize, pw: usize, mb: usize, kp: usize): void {
  let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  const end = px + (kp << 5);
  while (px != end) {
    const x0 = v128.load(px);
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(x0, v128.load32_splat(pw)));
    a1 = i32x4.add(a1, i32x4.dot_i16x8_s(x0, v128.load32_splat(pw, 4)));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(x0, v128.load32_splat(pw, 8)));
    a3 = i32x4.add(a3, i32x4.dot_i16x8_s(x0, v128.load32_splat(pw, 12)));
    px += 32; pw += 16;
  }
  v128.store(mb, a0); v128.store(mb, a1, 32); v128.store(mb, a2, 64); v128.store(mb, a3, 96);
}

/**
 * tileP4h for two blocks of 4 output channels at once (U* of the second at pw + wB; M of the first
 * at mb, of the second at mb2, tileP4h's layout). The roles turned: each tile's cin pair is
 * splatted and the U* vectors (lanes = channels) are the other operand, 8 accumulators of (tile,
 * block) with the channels in the lanes, transposed at the end. 4 splats and 2 loads per 8 dot
 * products (tileP4h: 5 loads per 4), and within V8's 15 vector registers (splatting U* for 8
 * channels made it keep 17 values live and spill).
 */
@inline function tileP4h8(px: usize, pw: usize, wB: usize, mb: usize, mb2: usize, kp: usize): void {
  let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  const end = px + (kp << 5);
  while (px != end) {
    const s0 = v128.load32_splat(px), s1 = v128.load32_splat(px, 4), s2 = v128.load32_splat(px, 8), s3 = v128.load32_splat(px, 12);
    const u = v128.load(pw), v = v128.load(pw + wB);
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(s0, u));
    a1 = i32x4.add(a1, i32x4.dot_i16x8_s(s1, u));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(s2, u));
    a3 = i32x4.add(a3, i32x4.dot_i16x8_s(s3, u));
    b0 = i32x4.add(b0, i32x4.dot_i16x8_s(s0, v));
    b1 = i32x4.add(b1, i32x4.dot_i16x8_s(s1, v));
    b2 = i32x4.add(b2, i32x4.dot_i16x8_s(s2, v));
    b3 = i32x4.add(b3, i32x4.dot_i16x8_s(s3, v));
    px += 32; pw += 16;
  }
  // rows = tiles, lanes = channels → channel c's 4 tiles at mb + 32·c
  store4x4T(mb, 32, a0, a1, a2, a3);
  store4x4T(mb2, 32, b0, b1, b2, b3);
}

/** m0 + a + c: row 0 of A*ᵀ with a = m1 + m2, c = m3 + m4. */
@inline function ao0(m0: v128, a: v128, c: v128): v128 {
  return i32x4.add(i32x4.add(m0, a), c);
}
/** b + 8·e + 24·m5: row 3 of A*ᵀ with b = m1 − m2, e = m3 − m4. */
@inline function ao3(b: v128, e: v128, m5: v128): v128 {
  return i32x4.add(i32x4.add(b, i32x4.shl(e, 3)), i32x4.add(i32x4.shl(m5, 4), i32x4.shl(m5, 3)));
}

/**
 * Output row k of 4 tiles from (A*ᵀ M*)[k][0..5] (lanes = tiles): Y = A* applied along j, /576,
 * transposed to 2 × 8 consecutive outputs (tiles 0, 1 at dst; tiles 2, 3 at dstB, stored when
 * st1), through the output stage (qf: storeRowQF8, the float32-multiplier stage; q8: storeRowQ8
 * on the constants of q8Layer / q8Channel; else storeRow8 for channel c). Inlined where qf is
 * true (rowOutQF's callers), a call (rowOut) for the other output stages.
 */
@inline function rowOutAny(m0: v128, m1: v128, m2: v128, m3: v128, m4: v128, m5: v128, qf: bool, q8: bool, c: usize, q: usize, qp: usize, dst: usize, dstB: usize, st1: bool): void {
  const inv9 = i32x4.splat(0x38E38E39);
  const a = i32x4.add(m1, m2), b = i32x4.sub(m1, m2), cc = i32x4.add(m3, m4), e = i32x4.sub(m3, m4);
  const y0 = i32x4.shr_s(i32x4.mul(ao0(m0, a, cc), inv9), 6);
  const y1 = i32x4.shr_s(i32x4.mul(i32x4.add(b, i32x4.shl(e, 1)), inv9), 6);
  const y2 = i32x4.shr_s(i32x4.mul(i32x4.add(a, i32x4.shl(cc, 2)), inv9), 6);
  const y3 = i32x4.shr_s(i32x4.mul(ao3(b, e, m5), inv9), 6);
  // lanes = tiles → per tile [y0, y1, y2, y3]: outputs 4t .. 4t + 3 of the row
  const t01l = v128.shuffle<i32>(y0, y1, 0, 4, 1, 5), t01h = v128.shuffle<i32>(y0, y1, 2, 6, 3, 7);
  const t23l = v128.shuffle<i32>(y2, y3, 0, 4, 1, 5), t23h = v128.shuffle<i32>(y2, y3, 2, 6, 3, 7);
  const v0 = v128.shuffle<i32>(t01l, t23l, 0, 1, 4, 5), v1 = v128.shuffle<i32>(t01l, t23l, 2, 3, 6, 7);
  const v2 = v128.shuffle<i32>(t01h, t23h, 0, 1, 4, 5), v3 = v128.shuffle<i32>(t01h, t23h, 2, 3, 6, 7);
  if (qf) {
    storeRowQF8(v0, v1, dst);
    if (st1) storeRowQF8(v2, v3, dstB);
  } else if (q8) {
    storeRowQ8(v0, v1, dst, 8);
    if (st1) storeRowQ8(v2, v3, dstB, 8);
  } else {
    storeRow8(v0, v1, c, q, qp, M, dst, 8);
    if (st1) storeRow8(v2, v3, c, q, qp, M, dstB, 8);
  }
}

/** rowOutAny for the output stages other than float32 multipliers: one call per row. */
function rowOut(m0: v128, m1: v128, m2: v128, m3: v128, m4: v128, m5: v128, q8: bool, c: usize, q: usize, qp: usize, dst: usize, dstB: usize, st1: bool): void {
  rowOutAny(m0, m1, m2, m3, m4, m5, false, q8, c, q, qp, dst, dstB, st1);
}

/** rowOutAny for the float32-multiplier output stage (q8Float()), inlined into outputHalf: no call per row. */
@inline function rowOutQF(m0: v128, m1: v128, m2: v128, m3: v128, m4: v128, m5: v128, dst: usize, dstB: usize, st1: bool): void {
  rowOutAny(m0, m1, m2, m3, m4, m5, true, true, 0, 0, 0, dst, dstB, st1);
}

/**
 * Column j of A*ᵀ M* (the 6 positions (i, j) at mb + 768·i) into rb: (A*ᵀ M*)[k][j] at rb + 96·k.
 * Through memory on purpose: V8's scheduler moves every load of a block to its top, so the 36
 * loads of the whole column pass in registers kept 24 results live and spilled most of them.
 */
@inline function colOut(mb: usize, rb: usize, k1: v128 = i32x4.splat(0), withK: bool = false): void {
  const m0 = v128.load(mb), m1 = withK ? i32x4.add(v128.load(mb, 768), k1) : v128.load(mb, 768), m2 = v128.load(mb, 1536), m3 = v128.load(mb, 2304), m4 = v128.load(mb, 3072), m5 = v128.load(mb, 3840);
  const a = i32x4.add(m1, m2), b = i32x4.sub(m1, m2), cc = i32x4.add(m3, m4), e = i32x4.sub(m3, m4);
  v128.store(rb, ao0(m0, a, cc));
  v128.store(rb, i32x4.add(b, i32x4.shl(e, 1)), 96);
  v128.store(rb, i32x4.add(a, i32x4.shl(cc, 2)), 192);
  v128.store(rb, ao3(b, e, m5), 288);
}

/**
 * The 4x4 outputs of the 4 tiles of a half (two pairs) of channel c: M* at mb (36 i32x4,
 * position p at mb + 128·p); the first pair's output rows from dst, the second's from dstB
 * (stored when st1), OW·eB bytes apart; rb: 384 bytes of scratch (A*ᵀ M*, 4 rows of 6). k: the
 * zero-point correction −576·zx·Σ_k w[c, k] (wrapping), added to M*(1, 1): column 1 of A*ᵀ is
 * all ones, so it adds −zx·Σw to each of the 16 outputs (the phase planes hold x, not x − zx).
 */
function outputHalf(mb: usize, rb: usize, k: i32, q8: bool, c: usize, q: usize, qp: usize, dst: usize, dstB: usize, st1: bool, eB: usize): void {
  // A*ᵀ along i for each column j, then A* along j row by row (rowOutAny)
  colOut(mb, rb); colOut(mb + 128, rb + 16, i32x4.splat(k), true); colOut(mb + 256, rb + 32);
  colOut(mb + 384, rb + 48); colOut(mb + 512, rb + 64); colOut(mb + 640, rb + 80);
  const rowB = OW * eB;
  if (q8 && q8Float()) {
    for (let k: usize = 0; k < 4; k++) {
      const r = rb + k * 96, o = k * rowB;
      rowOutQF(v128.load(r), v128.load(r, 16), v128.load(r, 32), v128.load(r, 48), v128.load(r, 64), v128.load(r, 80), dst + o, dstB + o, st1);
    }
    return;
  }
  for (let k: usize = 0; k < 4; k++) {
    const r = rb + k * 96, o = k * rowB;
    rowOut(v128.load(r), v128.load(r, 16), v128.load(r, 32), v128.load(r, 48), v128.load(r, 64), v128.load(r, 80), q8, c, q, qp, dst + o, dstB + o, st1);
  }
}

/**
 * Conv of one image: x (C,H,W) int8, wp = qs8_wino4_pack_w(M, C·9, 1) of the ONNX weights
 * (M, C, 3, 3), qp per-channel parameters (M channels), y (M, OH, OW) of the mode's element
 * type, work ≥ qs8_wino4_work_bytes(g) bytes (16-aligned).
 */
export function qs8_wino4x4_3x3__wasmsimd(g: usize, q: usize, x: usize, wp: usize, qp: usize, y: usize, work: usize): i32 {
  if (!wino4GeomOk(g)) return E_ARG;
  layout4();
  return qs8_wino4x4_3x3_part__wasmsimd(g, q, x, wp, qp, y, work, 0, <i32>(NP * ((M + 3) >> 2)));
}

/**
 * qs8_wino4x4_3x3 over the units [n0, n1) of qs8_wino4_units (a panel of 8 output tiles × a block
 * of 4 output channels): the outputs of those tiles in those channels, a thread's share (each
 * thread its own `work`, in which it pads the whole input; a panel split between two threads has
 * its input transform done by both). Each output is computed exactly as by the whole conv, so
 * any split gives the same bits. 0 ≤ n0 < n1 ≤ units, else E_ARG.
 */
export function qs8_wino4x4_3x3_part__wasmsimd(g: usize, q: usize, x: usize, wp: usize, qp: usize, y: usize, work: usize, n0: i32, n1: i32): i32 {
  if (!wino4GeomOk(g) || !quantOk(q)) return E_ARG;
  layout4();
  const MB = (M + 3) >> 2;
  if (n0 < 0 || n0 >= n1 || <usize>n1 > NP * MB) return E_ARG;
  const zx = gi(q, Q_ZX);
  const xmax: i64 = <i64>max(127 - zx, zx + 128);
  if (<i64>load<i32>(wp) * xmax > WINO4_BOUND) return E_RANGE;
  const u0 = <usize>n0, u1 = <usize>n1;
  const planes = work, phases = work + OFF_P;
  // only the padded rows the part's tiles read: tile rows ty0..ty1 read rows 4·ty0 .. 4·ty1 + 5
  const tLast = min<usize>(T, (u1 - 1) / MB * 8 + 8) - 1;
  const hp0 = (u0 / MB * 8 / TW) << 2, hp1 = ((tLast / TW) << 2) + 6;
  if (PL == 1 && (W & 7) == 0) phasePlanesDirect(x, zx, phases, hp0, hp1);
  else phasePlanes(x, zx, planes, phases, hp0, hp1);
  const eB = outBytes(q);
  const q8 = q8Mode(q);
  if (q8) q8Layer(q);
  const chanB = (HP * U4) << 2; // the 4 phase planes of one channel
  const vb = work + OFF_V, mb = work + OFF_M, mb2 = work + OFF_M2, z = work + OFF_Z, rb = work + OFF_R;
  const blkW = KP * 576; // 36 positions × KP pairs × 16 bytes
  const w0 = wp + wHead(M), sums = wp + 16;
  const kz = -576 * zx; // · Σ_k w[c, k]: the correction of M*(1, 1) (outputHalf)
  const po = work + OFF_PO; // the panel's 4 pair offsets in a phase plane (usize), then in y (elements)
  for (let pn: usize = u0 / MB; pn * MB < u1; pn++) {
    const b0 = max<usize>(u0, pn * MB) - pn * MB, b1 = min<usize>(u1, (pn + 1) * MB) - pn * MB; // channel blocks
    const t0 = pn << 3;
    // the 4 pairs of tiles; the pairs past T (T is even) repeat pair 0, computed and never stored
    const np = min<usize>(4, (T - t0) >> 1);
    for (let j: usize = 0; j < 4; j++) {
      const t = j < np ? t0 + (j << 1) : t0;
      const ty = t / TW, tx = t - ty * TW;
      store<usize>(po + (j << 3), (ty << 2) * U4 + tx);
      store<usize>(po + 32 + (j << 3), (ty << 2) * OW + (tx << 2));
    }
    // a panel of 1 or 2 pairs (4 tiles: the whole of an 8x8 output) is one half: half the work
    const halves: usize = np > 2 ? 2 : 1;
    for (let k: usize = 0; k < KP; k++) inputPair(phases + (k << 1) * chanB, (k << 1) + 1 < C, po, vb + (k << 5), z, halves);
    const y0 = load<usize>(po, 32), y1 = load<usize>(po, 40), y2 = load<usize>(po, 48), y3 = load<usize>(po, 56);
    let wb = w0 + b0 * blkW;
    for (let c0: usize = b0 << 2; c0 < (b1 << 2); ) {
      // one-half panels: two channel blocks per pass of V when the part has them
      const two = halves == 1 && c0 + 4 < (b1 << 2);
      if (halves == 2) for (let p: usize = 0; p < 36; p++) tileP(vb + p * KP * 32, wb + p * KP * 16, mb + (p << 7), KP);
      else if (two) for (let p: usize = 0; p < 36; p++) tileP4h8(vb + p * KP * 32, wb + p * KP * 16, blkW, mb + (p << 7), mb2 + (p << 7), KP);
      else for (let p: usize = 0; p < 36; p++) tileP4h(vb + p * KP * 32, wb + p * KP * 16, mb + (p << 7), KP);
      const nr = min<usize>(two ? 8 : 4, M - c0);
      for (let r: usize = 0; r < nr; r++) {
        const c = c0 + r, yc = y + c * OH * OW * eB;
        const mr = (r < 4 ? mb : mb2) + ((r & 3) << 5);
        if (q8) q8Channel(qp, M, c);
        const kc = kz * load<i32>(sums + (c << 2));
        outputHalf(mr, rb, kc, q8, c, q, qp, yc + y0 * eB, yc + y1 * eB, np > 1, eB);
        if (np > 2) outputHalf(mr + 16, rb, kc, q8, c, q, qp, yc + y2 * eB, yc + y3 * eB, np > 3, eB);
      }
      const nb: usize = two ? 2 : 1;
      wb += nb * blkW;
      c0 += nb << 2;
    }
  }
  return 0;
}
