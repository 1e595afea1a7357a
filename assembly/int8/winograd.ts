// Exact integer Winograd F(2x2, 3x3) int8 conv for WASM SIMD128 (plain SIMD, no relaxed SIMD):
// 3x3, stride 1, dilation 1, groups 1, any pads. Plain TS reference: qs8Wino2x2Ref in
// src/kernels/int8_wino_ref.ts (equal to qs8Conv2dRef, the direct conv).
//
// Transforms (Lavin & Gray, F(2,3)) with the 1/2 of G scaled out so everything is integer:
//   Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]]   G' = 2G = [[2,0,0],[1,1,1],[1,−1,1],[0,0,2]]
//   Aᵀ = [[1,1,1,0],[0,1,−1,−1]]
//   U' = G' g G'ᵀ = 4U (per (cout, cin): 4x4 int16; |U'| ≤ 9·128 = 1152)
//   V  = Bᵀ d B of a 4x4 input tile d of x − zx (|d| ≤ 255; two ±1 terms per row and column:
//        |V| ≤ 4·255 = 1020, int16)
//   M  = Σ_cin U' ⊙ V (16 GEMMs (Cout × Cin)·(Cin × tiles), int32 via i32x4.dot_i16x8_s on cin pairs)
//   Y' = Aᵀ M A = 4·Y, Y = Y' >> 2 = the 2x2 outputs of the direct conv's accumulator.
// Exactness: every step after the int16 transforms is an int32 add / multiply, exact modulo 2^32
// (wrapping), so Y' mod 2^32 equals 4·Y mod 2^32, and Y' = 4·Y exactly when |4·Y| < 2^31. The
// direct accumulator is bounded by |Y| ≤ Cin·9·128·255 = 293760·Cin, so Cin ≤ WINO_MAX_CIN = 1827
// keeps 4·Y in int32 (1827·293760·4 < 2^31 − 1); then Y equals the direct conv's int32 acc
// (which cannot wrap either) and the shared output stage (common.ts storeRow8) gives the same
// bits. Larger Cin: status E_ARG (the caller runs the direct kernel). Tiles reaching past the
// output (odd OH / OW: the last tile is partial) read padding or neighbouring rows of the
// int16 planes (bounded values, so no int16 wrap) and their extra outputs are never stored.
//
// Packed weights (qs8_wino_pack_w, once at load; caller-owned): per block b of 4 output
// channels, per position p = 4i + j of the 4x4 U', KP = ceil(Cin/2) cin pairs of 16 bytes:
//   pair k = [U'(4b, 2k)[p], U'(4b, 2k+1)[p], U'(4b+1, 2k)[p], ..., U'(4b+3, 2k+1)[p]]  int16
// (zero past Cout and for cin = Cin when Cin is odd): ceil(Cout/4)·16·KP·16 bytes.
// Tiles: T = TH·TW, TH = ceil(OH/2), TW = ceil(OW/2), tile t = ty·TW + tx, raster order, in
// panels of 8 tiles (the last may be partial: lanes past T compute garbage, never stored).
//
// Status: 0, or E_ARG (-5) for a geometry this kernel does not run / an inconsistent one or a
// bad quant block (nothing written).

import {
  E_ARG, Q_ZX, align16, gi, geomOk, quantOk, loadGeom, storeRow8, storeRowQ8, q8Layer, q8Channel, q8Mode, outBytes, planesBytes, padPlanes16,
  G_KH, G_KW, G_SH, G_SW, G_DH, G_DW, G_GROUPS, G_C,
  C, M, OH, OW, HP, RS,
} from './common';

/** Largest Cin for which Y' = 4·Y cannot leave int32 (see the header). */
export const WINO_MAX_CIN: i32 = 1827;

/** True when the geometry is one this kernel runs (3x3, stride 1, dilation 1, groups 1, Cin ≤ 1827). */
function winoGeomOk(g: usize): bool {
  if (!geomOk(g)) return false;
  return gi(g, G_KH) == 3 && gi(g, G_KW) == 3 && gi(g, G_SH) == 1 && gi(g, G_SW) == 1
    && gi(g, G_DH) == 1 && gi(g, G_DW) == 1 && gi(g, G_GROUPS) == 1 && gi(g, G_C) <= WINO_MAX_CIN;
}

// ---- weights ------------------------------------------------------------------------------

/** Bytes qs8_wino_pack_w writes for M output channels, K = Cin·9, groups 1; E_ARG otherwise. */
export function qs8_wino_packed_w_bytes(M: i32, K: i32, groups: i32): i32 {
  if (M < 1 || K < 9 || K % 9 != 0 || groups != 1 || K / 9 > WINO_MAX_CIN) return E_ARG;
  return ((M + 3) >> 2) * 16 * ((K / 9 + 1) >> 1) * 16;
}

/** Row (a, b, e) of T = G' g times G'ᵀ: positions j = 0..3 (2a, a + b + e, a − b + e, 2e), ps bytes apart. */
@inline function packRow(at: usize, ps: usize, a: i32, b: i32, e: i32): void {
  store<i16>(at, <i16>(2 * a));
  store<i16>(at + ps, <i16>(a + b + e));
  store<i16>(at + 2 * ps, <i16>(a - b + e));
  store<i16>(at + 3 * ps, <i16>(2 * e));
}

/** U' of one (cout m, cin c) (scalar): the 16 int16 at blk + p·ps + (c >> 1)·16 + ((m & 3)·2 + (c & 1))·2. */
@inline function packOne(w: usize, Cin: usize, blk: usize, ps: usize, m: usize, c: usize): void {
  const g = w + (m * Cin + c) * 9;
  const g00 = <i32>load<i8>(g), g01 = <i32>load<i8>(g, 1), g02 = <i32>load<i8>(g, 2);
  const g10 = <i32>load<i8>(g, 3), g11 = <i32>load<i8>(g, 4), g12 = <i32>load<i8>(g, 5);
  const g20 = <i32>load<i8>(g, 6), g21 = <i32>load<i8>(g, 7), g22 = <i32>load<i8>(g, 8);
  const at = blk + (c >> 1) * 16 + ((((m & 3) << 1) + (c & 1)) << 1);
  // rows of T = G' g: (2g0·), (g0· + g1· + g2·), (g0· − g1· + g2·), (2g2·); each row → 4 positions
  packRow(at, ps, 2 * g00, 2 * g01, 2 * g02);
  packRow(at + 4 * ps, ps, g00 + g10 + g20, g01 + g11 + g21, g02 + g12 + g22);
  packRow(at + 8 * ps, ps, g00 - g10 + g20, g01 - g11 + g21, g02 - g12 + g22);
  packRow(at + 12 * ps, ps, 2 * g20, 2 * g21, 2 * g22);
}

/** Row (a, b, e) of T (vectors of the 8 lanes) times G'ᵀ: positions (2a, a + b + e, a − b + e, 2e), ps bytes apart. */
@inline function packRowV(at: usize, ps: usize, a: v128, b: v128, e: v128): void {
  const ae = i16x8.add(a, e);
  v128.store(at, i16x8.add(a, a));
  v128.store(at + ps, i16x8.add(ae, b));
  v128.store(at + 2 * ps, i16x8.sub(ae, b));
  v128.store(at + 3 * ps, i16x8.add(e, e));
}

/**
 * U' of a full block of 4 couts × one full cin pair (SIMD): the 8 lanes (m & 3)·2 + (c & 1) of
 * one 16-byte pair vector per position, written at at + p·ps. g points at (cout 4b, cin 2k);
 * each cout's two kernels are 18 consecutive bytes (cin 2k: bytes 0..8, 2k + 1: 9..17), rs
 * bytes apart (Cin·9). Reads exactly those bytes (the second load of each ends at byte 17).
 */
@inline function packBlockPair(g: usize, rs: usize, at: usize, ps: usize): void {
  const x0 = v128.load(g), x1 = v128.load(g + rs), x2 = v128.load(g + 2 * rs), x3 = v128.load(g + 3 * rs);
  const y0 = v128.load(g, 2), y1 = v128.load(g + rs, 2), y2 = v128.load(g + 2 * rs, 2), y3 = v128.load(g + 3 * rs, 2);
  // positions 0..3 of the kernels (ij) for couts (0, 1) and (2, 3): per ij [c0 of m, c1 of m, c0 of m+1, c1 of m+1]
  const a01 = v128.shuffle<i8>(x0, x1, 0, 9, 16, 25, 1, 10, 17, 26, 2, 11, 18, 27, 3, 12, 19, 28);
  const a23 = v128.shuffle<i8>(x2, x3, 0, 9, 16, 25, 1, 10, 17, 26, 2, 11, 18, 27, 3, 12, 19, 28);
  // ij 4..6 the same way, then ij 7, 8 of cin 2k: [m: 7, 8, m+1: 7, 8]
  const b01 = v128.shuffle<i8>(x0, x1, 4, 13, 20, 29, 5, 14, 21, 30, 6, 15, 22, 31, 7, 8, 23, 24);
  const b23 = v128.shuffle<i8>(x2, x3, 4, 13, 20, 29, 5, 14, 21, 30, 6, 15, 22, 31, 7, 8, 23, 24);
  // ij 7, 8 of cin 2k + 1 (bytes 16, 17 = y[14], y[15]): [m: 7, 8, m+1: 7, 8, m+2: 7, 8, m+3: 7, 8]
  const c01 = v128.shuffle<i8>(y0, y1, 14, 15, 30, 31, 14, 15, 30, 31, 14, 15, 30, 31, 14, 15, 30, 31);
  const c23 = v128.shuffle<i8>(y2, y3, 14, 15, 30, 31, 14, 15, 30, 31, 14, 15, 30, 31, 14, 15, 30, 31);
  const e7 = v128.shuffle<i8>(c01, c23, 0, 1, 2, 3, 16, 17, 18, 19, 0, 1, 2, 3, 16, 17, 18, 19);
  const d7 = v128.shuffle<i8>(b01, b23, 12, 13, 14, 15, 28, 29, 30, 31, 12, 13, 14, 15, 28, 29, 30, 31);
  // the 9 kernel positions as int16 vectors, lanes [m c0, m c1, m+1 c0, m+1 c1, ..., m+3 c1]
  const g00 = i16x8.extend_low_i8x16_s(v128.shuffle<i8>(a01, a23, 0, 1, 2, 3, 16, 17, 18, 19, 0, 1, 2, 3, 16, 17, 18, 19));
  const g01 = i16x8.extend_low_i8x16_s(v128.shuffle<i8>(a01, a23, 4, 5, 6, 7, 20, 21, 22, 23, 4, 5, 6, 7, 20, 21, 22, 23));
  const g02 = i16x8.extend_low_i8x16_s(v128.shuffle<i8>(a01, a23, 8, 9, 10, 11, 24, 25, 26, 27, 8, 9, 10, 11, 24, 25, 26, 27));
  const g10 = i16x8.extend_low_i8x16_s(v128.shuffle<i8>(a01, a23, 12, 13, 14, 15, 28, 29, 30, 31, 12, 13, 14, 15, 28, 29, 30, 31));
  const g11 = i16x8.extend_low_i8x16_s(v128.shuffle<i8>(b01, b23, 0, 1, 2, 3, 16, 17, 18, 19, 0, 1, 2, 3, 16, 17, 18, 19));
  const g12 = i16x8.extend_low_i8x16_s(v128.shuffle<i8>(b01, b23, 4, 5, 6, 7, 20, 21, 22, 23, 4, 5, 6, 7, 20, 21, 22, 23));
  const g20 = i16x8.extend_low_i8x16_s(v128.shuffle<i8>(b01, b23, 8, 9, 10, 11, 24, 25, 26, 27, 8, 9, 10, 11, 24, 25, 26, 27));
  // d7 = [m 7c0, m 8c0, m+1 7c0, m+1 8c0, ...], e7 = the same of c1
  const g21 = i16x8.extend_low_i8x16_s(v128.shuffle<i8>(d7, e7, 0, 16, 2, 18, 4, 20, 6, 22, 0, 16, 2, 18, 4, 20, 6, 22));
  const g22 = i16x8.extend_low_i8x16_s(v128.shuffle<i8>(d7, e7, 1, 17, 3, 19, 5, 21, 7, 23, 1, 17, 3, 19, 5, 21, 7, 23));
  // rows of T = G' g, as packOne
  const s0 = i16x8.add(g00, g20), s1 = i16x8.add(g01, g21), s2 = i16x8.add(g02, g22);
  packRowV(at, ps, i16x8.add(g00, g00), i16x8.add(g01, g01), i16x8.add(g02, g02));
  packRowV(at + 4 * ps, ps, i16x8.add(s0, g10), i16x8.add(s1, g11), i16x8.add(s2, g12));
  packRowV(at + 8 * ps, ps, i16x8.sub(s0, g10), i16x8.sub(s1, g11), i16x8.sub(s2, g12));
  packRowV(at + 12 * ps, ps, i16x8.add(g20, g20), i16x8.add(g21, g21), i16x8.add(g22, g22));
}

/**
 * Packs w (M, Cin, 3, 3) int8 (K = Cin·9) as U' = G' g G'ᵀ int16 in the layout of the header
 * at dst (qs8_wino_packed_w_bytes bytes). Runs once per layer at load, part of a cold start's
 * decode + pack: full blocks of 4 couts × full cin pairs in SIMD (one pair vector per position,
 * packBlockPair), the rest (couts past the last full block, the last cin of an odd Cin) scalar
 * (packOne); both write the same values (integer, exact).
 */
export function qs8_wino_pack_w(M: i32, K: i32, groups: i32, w: usize, dst: usize): i32 {
  const bytes = qs8_wino_packed_w_bytes(M, K, groups);
  if (bytes < 0) return E_ARG;
  memory.fill(dst, 0, <usize>bytes);
  const Cin = <usize>(K / 9), Mc = <usize>M, kp = (Cin + 1) >> 1;
  const ps = kp << 4; // bytes between positions p and p + 1 of one block
  const blkB: usize = kp << 8; // bytes of one block of 4 couts (16 positions × kp pairs × 16)
  const mFull = Mc & ~(<usize>3), cFull = Cin & ~(<usize>1);
  for (let m: usize = 0; m < mFull; m += 4) {
    const blk = dst + (m >> 2) * blkB;
    for (let c: usize = 0; c < cFull; c += 2) packBlockPair(w + (m * Cin + c) * 9, Cin * 9, blk + (c >> 1) * 16, ps);
    if (cFull < Cin) for (let r: usize = 0; r < 4; r++) packOne(w, Cin, blk, ps, m + r, cFull);
  }
  for (let m = mFull; m < Mc; m++) {
    const blk = dst + (m >> 2) * blkB;
    for (let c: usize = 0; c < Cin; c++) packOne(w, Cin, blk, ps, m, c);
  }
  return 0;
}

// ---- workspace ------------------------------------------------------------------------------

// decoded by winoLayout (after loadGeom)
let TH: usize = 0, TW: usize = 0, T: usize = 0, NP: usize = 0, KP: usize = 0;
let OFF_V: usize = 0, OFF_D: usize = 0, OFF_VT: usize = 0, OFF_M: usize = 0, OFF_ACC: usize = 0, TOTAL: usize = 0;

function winoLayout(): void {
  TH = (OH + 1) >> 1; TW = (OW + 1) >> 1; T = TH * TW; NP = (T + 7) >> 3; KP = (C + 1) >> 1;
  // planes (C, HP, RS) int16 of x − zx, + 64 zero bytes (padPlanes16), + 2 zero rows: an odd
  // OH's last tile row reads one row past HP of the last channel
  const planes = planesBytes() + align16(RS << 2);
  OFF_V = planes;                              // V of one panel: (16 positions, KP pairs, 8 tiles × 2 cin) int16
  OFF_D = OFF_V + 16 * KP * 32;                // d of one channel: (4, 4) × 8 tiles int16
  OFF_VT = OFF_D + 256;                        // V of two channels: (2, 16) × 8 tiles int16
  OFF_M = OFF_VT + 512;                        // M of one 4x8 block: (16 positions, 4 cout, 8 tiles) int32
  OFF_ACC = OFF_M + 16 * 128;                  // Y (Cout, 2 parities, NP·8 tiles, 2 columns) int32,
  // only when TW % 4 != 0 (else the output stage runs on the tiles: fused), + slack: the output
  // pass reads 8 past a row end
  TOTAL = OFF_ACC + ((TW & 3) == 0 ? 0 : M * NP * 8 * 16 + 64);
}

/** Scratch bytes of qs8_wino2x2_3x3__wasmsimd for the geometry at g; E_ARG when it does not apply. */
export function qs8_wino_work_bytes(g: usize): i32 {
  if (!winoGeomOk(g)) return E_ARG;
  loadGeom(g);
  winoLayout();
  return <i32>TOTAL;
}

// ---- input transform ------------------------------------------------------------------------

/** The 16 d vectors (r, s) (lanes = the 8 tiles at the byte offsets offs) of channel plane cp at db (16 × 16 bytes, index 4r + s). */
function gatherD(cp: usize, offs: usize, db: usize): void {
  const rowB = RS << 1;
  for (let l: usize = 0; l < 8; l++) {
    const p = cp + <usize>load<i32>(offs + (l << 2));
    for (let r: usize = 0; r < 4; r++) {
      const d = db + (r << 6) + (l << 1), pr = p + r * rowB;
      store<i16>(d, load<i16>(pr)); store<i16>(d + 16, load<i16>(pr, 2));
      store<i16>(d + 32, load<i16>(pr, 4)); store<i16>(d + 48, load<i16>(pr, 6));
    }
  }
}

/** V = Bᵀ d B of the 16 d vectors at db, written at vt (16 vectors, index 4i + j). */
@inline function transformD(db: usize, vt: usize): void {
  // rows: e_r = d_r · B (per row r: e0 = d0 − d2, e1 = d1 + d2, e2 = d2 − d1, e3 = d1 − d3)
  for (let r: usize = 0; r < 4; r++) {
    const s = db + (r << 6);
    const d0 = v128.load(s), d1 = v128.load(s, 16), d2 = v128.load(s, 32), d3 = v128.load(s, 48);
    v128.store(s, i16x8.sub(d0, d2));
    v128.store(s, i16x8.add(d1, d2), 16);
    v128.store(s, i16x8.sub(d2, d1), 32);
    v128.store(s, i16x8.sub(d1, d3), 48);
  }
  // columns: V_i = Bᵀ rows of e (V0 = e0 − e2, V1 = e1 + e2, V2 = e2 − e1, V3 = e1 − e3)
  for (let j: usize = 0; j < 4; j++) {
    const s = db + (j << 4);
    const e0 = v128.load(s), e1 = v128.load(s, 64), e2 = v128.load(s, 128), e3 = v128.load(s, 192);
    const o = vt + (j << 4);
    v128.store(o, i16x8.sub(e0, e2));
    v128.store(o, i16x8.add(e1, e2), 64);
    v128.store(o, i16x8.sub(e2, e1), 128);
    v128.store(o, i16x8.sub(e1, e3), 192);
  }
}

/**
 * Byte offset in a plane of the first tile of the half panel t .. t + 3 when those 4 tiles lie
 * in one tile row (or all past T: then `dflt`, their lanes are never stored); -1 otherwise.
 */
@inline function halfOffset(t: usize, dflt: isize): isize {
  if (t >= T) return dflt;
  const ty = t / TW, tx = t - ty * TW;
  if (tx + 4 > TW || t + 4 > T) return -1;
  return <isize>((ty * 2 * RS + tx * 2) << 1);
}

/**
 * V of the channel pair (c, c + 1) for the two half panels at byte offsets o0, o1 of the
 * planes pc (channel c) and pc + planeB (channel c + 1, or zeros when has1 is false), written
 * interleaved (the GEMM's pair layout) at vo + p·KP·32 for the 16 positions p. The pair
 * interleave is a lane permutation, so it is done on d (one shuffle with the stride-2 pick)
 * and the transforms run on the interleaved vectors.
 */
@inline function inputPairFast(pc: usize, planeB: usize, has1: bool, o0: usize, o1: usize, vo: usize): void {
  const rowB = RS << 1, posB = KP << 5;
  const zero = i16x8.splat(0);
  for (let h: usize = 0; h < 2; h++) {
    const p0 = pc + (h == 0 ? o0 : o1), p1 = p0 + planeB;
    const dst = vo + (h << 4);
    // e_r = d_r · B for the 4 rows r of the tiles (4 tiles × 2 channels per vector)
    let l0 = v128.load(p0), l2 = v128.load(p0, 4);
    let m0 = has1 ? v128.load(p1) : zero, m2 = has1 ? v128.load(p1, 4) : zero;
    let d0 = v128.shuffle<i16>(l0, m0, 0, 8, 2, 10, 4, 12, 6, 14), d1 = v128.shuffle<i16>(l0, m0, 1, 9, 3, 11, 5, 13, 7, 15);
    let d2 = v128.shuffle<i16>(l2, m2, 0, 8, 2, 10, 4, 12, 6, 14), d3 = v128.shuffle<i16>(l2, m2, 1, 9, 3, 11, 5, 13, 7, 15);
    const e00 = i16x8.sub(d0, d2), e01 = i16x8.add(d1, d2), e02 = i16x8.sub(d2, d1), e03 = i16x8.sub(d1, d3);
    l0 = v128.load(p0 + rowB); l2 = v128.load(p0 + rowB, 4);
    m0 = has1 ? v128.load(p1 + rowB) : zero; m2 = has1 ? v128.load(p1 + rowB, 4) : zero;
    d0 = v128.shuffle<i16>(l0, m0, 0, 8, 2, 10, 4, 12, 6, 14); d1 = v128.shuffle<i16>(l0, m0, 1, 9, 3, 11, 5, 13, 7, 15);
    d2 = v128.shuffle<i16>(l2, m2, 0, 8, 2, 10, 4, 12, 6, 14); d3 = v128.shuffle<i16>(l2, m2, 1, 9, 3, 11, 5, 13, 7, 15);
    const e10 = i16x8.sub(d0, d2), e11 = i16x8.add(d1, d2), e12 = i16x8.sub(d2, d1), e13 = i16x8.sub(d1, d3);
    l0 = v128.load(p0 + 2 * rowB); l2 = v128.load(p0 + 2 * rowB, 4);
    m0 = has1 ? v128.load(p1 + 2 * rowB) : zero; m2 = has1 ? v128.load(p1 + 2 * rowB, 4) : zero;
    d0 = v128.shuffle<i16>(l0, m0, 0, 8, 2, 10, 4, 12, 6, 14); d1 = v128.shuffle<i16>(l0, m0, 1, 9, 3, 11, 5, 13, 7, 15);
    d2 = v128.shuffle<i16>(l2, m2, 0, 8, 2, 10, 4, 12, 6, 14); d3 = v128.shuffle<i16>(l2, m2, 1, 9, 3, 11, 5, 13, 7, 15);
    const e20 = i16x8.sub(d0, d2), e21 = i16x8.add(d1, d2), e22 = i16x8.sub(d2, d1), e23 = i16x8.sub(d1, d3);
    // V rows 0 and 2 need e0, e1, e2 only; row 1 too; row 3 = e1 − e3
    v128.store(dst, i16x8.sub(e00, e20));
    v128.store(dst + posB, i16x8.sub(e01, e21));
    v128.store(dst + 2 * posB, i16x8.sub(e02, e22));
    v128.store(dst + 3 * posB, i16x8.sub(e03, e23));
    v128.store(dst + 4 * posB, i16x8.add(e10, e20));
    v128.store(dst + 5 * posB, i16x8.add(e11, e21));
    v128.store(dst + 6 * posB, i16x8.add(e12, e22));
    v128.store(dst + 7 * posB, i16x8.add(e13, e23));
    v128.store(dst + 8 * posB, i16x8.sub(e20, e10));
    v128.store(dst + 9 * posB, i16x8.sub(e21, e11));
    v128.store(dst + 10 * posB, i16x8.sub(e22, e12));
    v128.store(dst + 11 * posB, i16x8.sub(e23, e13));
    l0 = v128.load(p0 + 3 * rowB); l2 = v128.load(p0 + 3 * rowB, 4);
    m0 = has1 ? v128.load(p1 + 3 * rowB) : zero; m2 = has1 ? v128.load(p1 + 3 * rowB, 4) : zero;
    d0 = v128.shuffle<i16>(l0, m0, 0, 8, 2, 10, 4, 12, 6, 14); d1 = v128.shuffle<i16>(l0, m0, 1, 9, 3, 11, 5, 13, 7, 15);
    d2 = v128.shuffle<i16>(l2, m2, 0, 8, 2, 10, 4, 12, 6, 14); d3 = v128.shuffle<i16>(l2, m2, 1, 9, 3, 11, 5, 13, 7, 15);
    v128.store(dst + 12 * posB, i16x8.sub(e10, i16x8.sub(d0, d2)));
    v128.store(dst + 13 * posB, i16x8.sub(e11, i16x8.add(d1, d2)));
    v128.store(dst + 14 * posB, i16x8.sub(e12, i16x8.sub(d2, d1)));
    v128.store(dst + 15 * posB, i16x8.sub(e13, i16x8.sub(d1, d3)));
  }
}

/** V of the panel of tiles t0..t0+7 for all channels at OFF_V (layout: the header, KP pairs). */
function inputPanel(planes: usize, work: usize, t0: usize): void {
  const planeB = (HP * RS) << 1;
  const h0 = halfOffset(t0, 0);
  const h1 = h0 >= 0 ? halfOffset(t0 + 4, h0) : -1;
  if (h1 >= 0) {
    let vo = work + OFF_V;
    for (let k: usize = 0; k < KP; k++) {
      const c = k << 1;
      inputPairFast(planes + c * planeB, planeB, c + 1 < C, <usize>h0, <usize>h1, vo);
      vo += 32;
    }
    return;
  }
  // general: a byte offset per tile (tiles wrapping a row, the partial last panel)
  const offs = work + OFF_M; // 8 byte offsets (the M block is free here)
  for (let l: usize = 0; l < 8; l++) {
    const t = t0 + l < T ? t0 + l : t0;
    const y = t / TW, x = t - y * TW;
    store<i32>(offs + (l << 2), <i32>((y * 2 * RS + x * 2) << 1));
  }
  const db = work + OFF_D, vt0 = work + OFF_VT, vt1 = vt0 + 256;
  const zero = i16x8.splat(0);
  let vo = work + OFF_V;
  for (let k: usize = 0; k < KP; k++) {
    const c = k << 1;
    gatherD(planes + c * planeB, offs, db);
    transformD(db, vt0);
    if (c + 1 < C) {
      gatherD(planes + (c + 1) * planeB, offs, db);
      transformD(db, vt1);
    } else {
      for (let p: usize = 0; p < 16; p++) v128.store(vt1 + (p << 4), zero);
    }
    // interleave the two channels: pair k of position p at OFF_V + (p·KP + k)·32
    for (let p: usize = 0; p < 16; p++) {
      const a = v128.load(vt0 + (p << 4)), b = v128.load(vt1 + (p << 4));
      const d = vo + p * KP * 32;
      v128.store(d, v128.shuffle<i16>(a, b, 0, 8, 1, 9, 2, 10, 3, 11));
      v128.store(d, v128.shuffle<i16>(a, b, 4, 12, 5, 13, 6, 14, 7, 15), 16);
    }
    vo += 32;
  }
}

// ---- GEMM + output transform ----------------------------------------------------------------

/**
 * One position's 4x8 tile: kp pairs of V at px (32 bytes each: 8 tiles × 2 cin) and of U' at pw
 * (16 bytes: 4 couts × 2 cin); 8 i32x4 at mb (couts 0..3 × tiles 0..3, 4..7). Also F(4x4, 3x3)'s
 * GEMM (wino4.ts).
 */
@inline export function tileP(px: usize, pw: usize, mb: usize, kp: usize): void {
  let a00 = i32x4.splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  const end = px + (kp << 5);
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
  v128.store(mb, a00); v128.store(mb, a01, 16); v128.store(mb, a10, 32); v128.store(mb, a11, 48);
  v128.store(mb, a20, 64); v128.store(mb, a21, 80); v128.store(mb, a30, 96); v128.store(mb, a31, 112);
}

/**
 * Y' = Aᵀ M A of 4 tiles (one i32x4 per position at mb + 128·p), Y = Y' >> 2. fused: the
 * output stage of channel c straight to y (even output row at dst, the odd one at dst + rowB
 * when odd; nc outputs each); else the int32 rows at e (even: the tiles' Y00, Y01 interleaved)
 * and o (odd).
 */
@inline function outputTransform4(mb: usize, fused: bool, e: usize, o: usize,
  c: usize, q: usize, qp: usize, dst: usize, rowB: usize, nc: usize, odd: bool): void {
  const m0 = v128.load(mb), m1 = v128.load(mb, 128), m2 = v128.load(mb, 256), m3 = v128.load(mb, 384);
  const m4 = v128.load(mb, 512), m5 = v128.load(mb, 640), m6 = v128.load(mb, 768), m7 = v128.load(mb, 896);
  const m8 = v128.load(mb, 1024), m9 = v128.load(mb, 1152), m10 = v128.load(mb, 1280), m11 = v128.load(mb, 1408);
  const m12 = v128.load(mb, 1536), m13 = v128.load(mb, 1664), m14 = v128.load(mb, 1792), m15 = v128.load(mb, 1920);
  // t0j = M0j + M1j + M2j, t1j = M1j − M2j − M3j
  const t00 = i32x4.add(i32x4.add(m0, m4), m8), t01 = i32x4.add(i32x4.add(m1, m5), m9);
  const t02 = i32x4.add(i32x4.add(m2, m6), m10), t03 = i32x4.add(i32x4.add(m3, m7), m11);
  const t10 = i32x4.sub(i32x4.sub(m4, m8), m12), t11 = i32x4.sub(i32x4.sub(m5, m9), m13);
  const t12 = i32x4.sub(i32x4.sub(m6, m10), m14), t13 = i32x4.sub(i32x4.sub(m7, m11), m15);
  const y00 = i32x4.shr_s(i32x4.add(i32x4.add(t00, t01), t02), 2);
  const y01 = i32x4.shr_s(i32x4.sub(i32x4.sub(t01, t02), t03), 2);
  const y10 = i32x4.shr_s(i32x4.add(i32x4.add(t10, t11), t12), 2);
  const y11 = i32x4.shr_s(i32x4.sub(i32x4.sub(t11, t12), t13), 2);
  const r0 = v128.shuffle<i32>(y00, y01, 0, 4, 1, 5), r1 = v128.shuffle<i32>(y00, y01, 2, 6, 3, 7);
  const s0 = v128.shuffle<i32>(y10, y11, 0, 4, 1, 5), s1 = v128.shuffle<i32>(y10, y11, 2, 6, 3, 7);
  if (fused) {
    storeRow8(r0, r1, c, q, qp, M, dst, nc);
    if (odd) storeRow8(s0, s1, c, q, qp, M, dst + rowB, nc);
  } else {
    v128.store(e, r0); v128.store(e, r1, 16);
    v128.store(o, s0); v128.store(o, s1, 16);
  }
}

/**
 * Conv of one image: x (C,H,W) int8, wp = qs8_wino_pack_w(M, C·9, 1) of the ONNX weights
 * (M, C, 3, 3), qp per-channel parameters (M channels), y (M, OH, OW) of the mode's element
 * type, work ≥ qs8_wino_work_bytes(g) bytes (16-aligned).
 */
export function qs8_wino2x2_3x3__wasmsimd(g: usize, q: usize, x: usize, wp: usize, qp: usize, y: usize, work: usize): i32 {
  if (!winoGeomOk(g)) return E_ARG;
  loadGeom(g);
  winoLayout();
  return qs8_wino2x2_3x3_part__wasmsimd(g, q, x, wp, qp, y, work, 0, <i32>NP);
}

/** Panels of 8 output tiles of the geometry at g (the unit of qs8_wino2x2_3x3_part); E_ARG when the kernel does not apply. */
export function qs8_wino_panels(g: usize): i32 {
  if (!winoGeomOk(g)) return E_ARG;
  loadGeom(g);
  winoLayout();
  return <i32>NP;
}

/**
 * qs8_wino2x2_3x3 over the panels [n0, n1) of 8 output tiles (tile t = ty·TW + tx, raster
 * order; qs8_wino_panels): the outputs of those tiles in every channel, a thread's share
 * (src/wasm/threads.ts; each thread its own `work`, in which it pads the whole input and
 * transforms its own panels). Each output is computed exactly as by the whole conv (the same
 * panels, the same sums), so any split gives the same bits. 0 ≤ n0 < n1 ≤ NP, else E_ARG.
 */
export function qs8_wino2x2_3x3_part__wasmsimd(g: usize, q: usize, x: usize, wp: usize, qp: usize, y: usize, work: usize, n0: i32, n1: i32): i32 {
  if (!winoGeomOk(g) || !quantOk(q)) return E_ARG;
  loadGeom(g);
  winoLayout();
  if (n0 < 0 || n0 >= n1 || <usize>n1 > NP) return E_ARG;
  const planes = work;
  padPlanes16(x, gi(q, Q_ZX), planes);
  // the 2 zero rows past the 64 zero bytes padPlanes16 wrote after the planes
  memory.fill(planes + ((C * HP * RS) << 1) + 64, 0, RS << 2);
  const Tp = NP << 3;
  const accC = Tp << 4; // bytes of one channel's Y: 2 parities × Tp tiles × 2 columns × 4
  const accO = Tp << 3; // the odd rows after the even ones
  const blkW = (KP << 8);
  const mb = work + OFF_M, acc = work + OFF_ACC, vb = work + OFF_V;
  // TW a multiple of 4: every half panel lies in one tile row, and the output stage runs on
  // the transformed tiles directly; else the int32 Y rows are collected first (acc)
  const fused = (TW & 3) == 0;
  const eB = outBytes(q);
  // fused int8 output (MODE_Q8 / MODE_QF): the output stage's constants splatted once (q8Layer), the
  // channel's once per channel and panel (q8Channel); each half panel's Y rows go through the
  // (now free) input-transform scratch at OFF_D
  const q8 = fused && q8Mode(q);
  if (q8) q8Layer(q);
  const ys = work + OFF_D;
  for (let pn: usize = <usize>n0; pn < <usize>n1; pn++) {
    const t0 = pn << 3;
    inputPanel(planes, work, t0);
    let wb = wp;
    for (let c0: usize = 0; c0 < M; c0 += 4) {
      for (let p: usize = 0; p < 16; p++) tileP(vb + p * KP * 32, wb + p * KP * 16, mb + (p << 7), KP);
      const nr = min<usize>(4, M - c0);
      for (let r: usize = 0; r < nr; r++) {
        const c = c0 + r;
        if (q8) {
          q8Channel(qp, M, c);
          for (let h: usize = 0; h < 2; h++) {
            const t = t0 + (h << 2);
            if (t >= T) break;
            const ty = t / TW, ox = (t - ty * TW) << 1, oy = ty << 1;
            const dst = y + (c * OH + oy) * OW + ox;
            const nc = min<usize>(8, OW - ox);
            outputTransform4(mb + (r << 5) + (h << 4), false, ys, ys + 32, c, q, qp, 0, 0, 0, false);
            storeRowQ8(v128.load(ys), v128.load(ys, 16), dst, nc);
            if (oy + 1 < OH) storeRowQ8(v128.load(ys, 32), v128.load(ys, 48), dst + OW, nc);
          }
        } else if (fused) {
          // each half panel (4 tiles) lies in one tile row: 8 outputs of 2 output rows
          for (let h: usize = 0; h < 2; h++) {
            const t = t0 + (h << 2);
            if (t >= T) break;
            const ty = t / TW, ox = (t - ty * TW) << 1, oy = ty << 1;
            const dst = y + ((c * OH + oy) * OW + ox) * eB;
            outputTransform4(mb + (r << 5) + (h << 4), true, 0, 0, c, q, qp, dst, OW * eB, min<usize>(8, OW - ox), oy + 1 < OH);
          }
        } else {
          const e = acc + c * accC + (t0 << 3);
          outputTransform4(mb + (r << 5), false, e, e + accO, c, q, qp, 0, 0, 0, false);
          outputTransform4(mb + (r << 5) + 16, false, e + 32, e + accO + 32, c, q, qp, 0, 0, 0, false);
        }
      }
      wb += blkW;
    }
  }
  if (fused) return 0;
  // output stage over the tiles [ta, tb) of the panels, row by row: output row oh of channel c
  // is Y row (oh & 1) of tile row oh >> 1, 2·TW int32 per tile row, consecutive; in tile row ty
  // the tiles [max(ta, ty·TW), min(tb, ty·TW + TW)) are this call's: output columns 2·tx ..
  const rowY = TW << 3;
  const ta = (<usize>n0) << 3, tb = min<usize>(T, (<usize>n1) << 3);
  const ty0 = ta / TW, ty1 = (tb - 1) / TW;
  for (let c: usize = 0; c < M; c++) {
    const yc = acc + c * accC;
    const yb = y + c * OH * OW * eB;
    for (let ty = ty0; ty <= ty1; ty++) {
      const r0 = ty * TW;
      const ox0 = (max<usize>(ta, r0) - r0) << 1, ox1 = min<usize>(OW, (min<usize>(tb, r0 + TW) - r0) << 1);
      for (let oh = ty << 1; oh < min<usize>(OH, (ty << 1) + 2); oh++) {
        const src = yc + ((oh & 1) != 0 ? accO : 0) + ty * rowY;
        const dst = yb + oh * OW * eB;
        for (let ow = ox0; ow < ox1; ow += 8) {
          storeRow8(v128.load(src + (ow << 2)), v128.load(src + (ow << 2), 16), c, q, qp, M, dst + ow * eB, min<usize>(8, ox1 - ow));
        }
      }
    }
  }
  return 0;
}
