// float32 2-D transposed convolution (ONNX ConvTranspose, NCHW, one image, one group) for WASM
// SIMD128, as GEMM + col2im. The plain TS references are deconv2dRef and col2imRef in
// src/kernels/f32_ref.ts (the same operations in the same order: equal bit for bit); the op's
// reference is src/ops/ref/convtranspose.ts (its header derives the mapping).
//
// Per chunk of Pc consecutive input pixels p (row-major over (ih, iw)):
//   1. A (Pc, C) = the chunk of x (C, H·W) transposed (4x4 SIMD blocks);
//   2. cols (Pc, N) = A · Wp, N = M·KH·KW: the packed-B GEMM of gemm.ts, B = W (C, M, KH, KW)
//      viewed as (C, N) (its row-major layout already is that matrix), packed once by
//      f32_pack_b; cols[p][(m·KH + kh)·KW + kw] = Σ_c x[c][p]·W[c][m][kh][kw], summed from 0 in
//      c order, one rounding per mul and per add (no FMA);
//   3. col2im (f32_col2im__wasmsimd): y[m][oh][ow] += cols[p][(m·KH + kh)·KW + kw] for every tap
//      with oh = ih·sh − padTop + kh·dh in [0, OH) and ow = iw·sw − padLeft + kw·dw in [0, OW),
//      loops p, m, kh, kw in that order; with dw = 1 the valid kw of a (p, m, kh) are one run of
//      consecutive outputs, added 4 at a time.
// y starts as the bias (or 0) and ends with the clamp [lo, hi] when act ≠ 0 (f32x4.min/max: NaN
// stays NaN), both applied in bands of output rows while they are in cache (a row gets its bias
// before the first chunk that can reach it, its clamp after the last). So every output is bias +
// its contributions added in pixel order (ih, iw), then (kh, kw) order, each contribution a
// float32 GEMM sum: the order the references replay.
//
// Measured (release, Node 20, this 2-core VM under load ~10): the zoo decoder layers (k4 s2 p1)
// 32→16 ch 56x56 ~1.8 ms (GEMM 1.3, col2im 0.3), 16→3 ch 112x112 ~0.8 ms (GEMM 0.5, col2im
// 0.25): the GEMM runs at ~19-21 GMAC/s, col2im is one f32x4 add per (pixel, m, kh) when KW = 4.
//
// Geometry: the 20 words of the conv geometry block (../geometry.ts) with ConvTranspose meaning:
//   0 C (input channels of the group)  1 H  2 W (input)  3 M (output channels of the group)
//   4 KH  5 KW  6 OH  7 OW (output, any size ≥ 1: output_padding / output_shape included)
//   8 padTop  9 padLeft (the begin pads, ≥ 0)  10, 11 unused  12 strideH  13 strideW  14 dilH
//   15 dilW  16 groups (must be 1: callers run one group at a time)  17 act  18 lo  19 hi (f32)
// Buffers: x (C,H,W), wp = f32_pack_b(C, M·KH·KW, W), bias (M) or 0, y (M,OH,OW), work ≥
// f32_deconv2d_work_bytes(g). Returns 0, or E_ARG (-5) on an inconsistent geometry (nothing
// written).

import { gemmRows } from './gen/gemm_mrx8';
import { G_C, G_H, G_W, G_M, G_KH, G_KW, G_OH, G_OW, G_PT, G_PL, G_SH, G_SW, G_DH, G_DW, G_GROUPS, G_ACT, G_LO, G_HI, gi } from '../geometry';

const E_ARG: i32 = -5;
/** floats of A + cols per chunk (128 KiB: both stay in L2 between the GEMM and col2im) */
const CHUNK_FLOATS: usize = 32768;

function geomOk(g: usize): bool {
  const C = gi(g, G_C), H = gi(g, G_H), W = gi(g, G_W), M = gi(g, G_M), KH = gi(g, G_KH), KW = gi(g, G_KW);
  const OH = gi(g, G_OH), OW = gi(g, G_OW);
  if (C < 1 || H < 1 || W < 1 || M < 1 || KH < 1 || KW < 1 || OH < 1 || OW < 1) return false;
  if (gi(g, G_SH) < 1 || gi(g, G_SW) < 1 || gi(g, G_DH) < 1 || gi(g, G_DW) < 1) return false;
  if (gi(g, G_PT) < 0 || gi(g, G_PL) < 0 || gi(g, G_GROUPS) != 1) return false;
  const LIMIT: u64 = 1 << 28;
  const N = <u64>M * <u64>KH * <u64>KW;
  return <u64>C * <u64>H * <u64>W < LIMIT && <u64>M * <u64>OH * <u64>OW < LIMIT && N * <u64>C < LIMIT && N < (1 << 24)
    && <u64>gi(g, G_PT) < LIMIT && <u64>gi(g, G_PL) < LIMIT && <u64>gi(g, G_SH) * <u64>H < LIMIT && <u64>gi(g, G_SW) * <u64>W < LIMIT
    && <u64>gi(g, G_DH) * <u64>KH < LIMIT && <u64>gi(g, G_DW) * <u64>KW < LIMIT;
}

/** Input pixels per chunk: ≥ 4, at most H·W. */
function chunkPixels(g: usize): usize {
  const C = <usize>gi(g, G_C), N = <usize>gi(g, G_M) * <usize>gi(g, G_KH) * <usize>gi(g, G_KW);
  const P = <usize>gi(g, G_H) * <usize>gi(g, G_W);
  let pc = CHUNK_FLOATS / (C + N);
  if (pc < 4) pc = 4;
  pc &= ~(<usize>3);
  return pc < P ? pc : P;
}

@inline function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15);
}

/** Scratch bytes of f32_deconv2d__wasmsimd (A and cols of one chunk); -5 on bad geometry. */
export function f32_deconv2d_work_bytes(g: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  const pc = chunkPixels(g);
  const C = <usize>gi(g, G_C), N = <usize>gi(g, G_M) * <usize>gi(g, G_KH) * <usize>gi(g, G_KW);
  return <i32>(align16(pc * C << 2) + align16(pc * N << 2));
}

/** a (pc, C) = x[c][p0 + p] for c < C, p < pc; x rows of stride xs floats. */
function transposeChunk(x: usize, xs: usize, C: usize, pc: usize, a: usize): void {
  const xsB = xs << 2, CB = C << 2;
  let c: usize = 0;
  for (; c + 4 <= C; c += 4) {
    const r = x + c * xsB;
    let p: usize = 0;
    for (; p + 4 <= pc; p += 4) {
      const pB = p << 2;
      const r0 = v128.load(r + pB), r1 = v128.load(r + xsB + pB), r2 = v128.load(r + 2 * xsB + pB), r3 = v128.load(r + 3 * xsB + pB);
      const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
      const d = a + p * CB + (c << 2);
      v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
      v128.store(d + CB, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
      v128.store(d + 2 * CB, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
      v128.store(d + 3 * CB, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
    }
    for (; p < pc; p++) {
      const d = a + p * CB + (c << 2), s = r + (p << 2);
      store<f32>(d, load<f32>(s)); store<f32>(d, load<f32>(s + xsB), 4);
      store<f32>(d, load<f32>(s + 2 * xsB), 8); store<f32>(d, load<f32>(s + 3 * xsB), 12);
    }
  }
  for (; c < C; c++) {
    const r = x + c * xsB;
    for (let p: usize = 0; p < pc; p++) store<f32>(a + p * CB + (c << 2), load<f32>(r + (p << 2)));
  }
}

/** First k in [0, K) with base + k·d ≥ 0 (base may be negative). */
@inline function firstTap(base: isize, d: isize, K: isize): isize {
  if (base >= 0) return 0;
  const k = d == 1 ? -base : (-base + d - 1) / d;
  return k < K ? k : K;
}

/** One past the last k in [0, K) with base + k·d < O. */
@inline function endTap(base: isize, d: isize, K: isize, O: isize): isize {
  if (base >= O) return 0;
  const k = d == 1 ? O - base : (O - 1 - base) / d + 1;
  return k < K ? k : K;
}

/** dst[0..len) += src[0..len) (float32, lane by lane). */
@inline function addRun(dst: usize, src: usize, len: usize): void {
  if (len == 4) {
    v128.store(dst, f32x4.add(v128.load(dst), v128.load(src)));
    return;
  }
  let o: usize = 0;
  const end = len << 2;
  for (; o + 16 <= end; o += 16) v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  if (o + 8 <= end) {
    v128.store64_lane(dst + o, f32x4.add(v128.load64_zero(dst + o), v128.load64_zero(src + o)), 0);
    o += 8;
  }
  if (o < end) store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
}

/**
 * col2im of input pixels [p0, p1): cols holds (p1 − p0) rows of N = M·KH·KW floats; adds each
 * into y (M, OH, OW) as the file header says (geometry g; words 0, 3..9, 12..15 read). Per
 * pixel the valid taps are a box kh0..kh1 × kw0..kw1 (the output bounds); with dw = 1 the taps
 * of one (m, kh) are one run of consecutive outputs (addRun), else they are added one by one.
 */
export function f32_col2im__wasmsimd(g: usize, cols: usize, p0: i32, p1: i32, y: usize): void {
  const W = <isize>gi(g, G_W), M = <usize>gi(g, G_M), KH = <isize>gi(g, G_KH), KW = <isize>gi(g, G_KW);
  const OH = <isize>gi(g, G_OH), OW = <isize>gi(g, G_OW), pt = <isize>gi(g, G_PT), pl = <isize>gi(g, G_PL);
  const sh = <isize>gi(g, G_SH), sw = <isize>gi(g, G_SW), dh = <isize>gi(g, G_DH), dw = <isize>gi(g, G_DW);
  const N = M * <usize>(KH * KW), NB = N << 2, KWB = <usize>KW << 2, planeB = <usize>(OH * OW) << 2, rowB = <usize>OW << 2;
  const mB = <usize>KH * KWB, dhB = <usize>dh * rowB, dwB = <usize>dw << 2;
  let ih = <isize>p0 / W, iw = <isize>p0 % W;
  let row = cols;
  let ohb = ih * sh - pt;
  let kh0 = firstTap(ohb, dh, KH), kh1 = endTap(ohb, dh, KH, OH);
  for (let p = p0; p < p1; p++) {
    const owb = iw * sw - pl;
    const kw0 = firstTap(owb, dw, KW), kw1 = endTap(owb, dw, KW, OW);
    if (kh0 < kh1 && kw0 < kw1) {
      const len = <usize>(kw1 - kw0), khn = <usize>(kh1 - kh0);
      let src = row + <usize>kh0 * KWB + (<usize>kw0 << 2);
      let dst = y + <usize>(ohb + kh0 * dh) * rowB + (<usize>(owb + kw0 * dw) << 2);
      for (let m: usize = 0; m < M; m++) {
        let s = src, d = dst;
        for (let k: usize = 0; k < khn; k++) {
          if (dw == 1) addRun(d, s, len);
          else {
            let dd = d;
            for (let j: usize = 0; j < len; j++) {
              store<f32>(dd, load<f32>(dd) + load<f32>(s + (j << 2)));
              dd += dwB;
            }
          }
          s += KWB; d += dhB;
        }
        src += mB; dst += planeB;
      }
    }
    row += NB;
    if (++iw == W) {
      iw = 0; ih++;
      ohb = ih * sh - pt;
      kh0 = firstTap(ohb, dh, KH); kh1 = endTap(ohb, dh, KH, OH);
    }
  }
}

/** Rows [r0, r1) of every plane of y (M, OH, OW): set to the bias (or 0). */
function fillRows(y: usize, bias: usize, M: usize, OH: usize, OW: usize, r0: usize, r1: usize): void {
  const n = (r1 - r0) * OW;
  for (let m: usize = 0; m < M; m++) {
    const v = bias ? load<f32>(bias + (m << 2)) : <f32>0;
    const vv = f32x4.splat(v);
    const p = y + ((m * OH + r0) * OW << 2);
    let i: usize = 0;
    for (; i + 4 <= n; i += 4) v128.store(p + (i << 2), vv);
    for (; i < n; i++) store<f32>(p + (i << 2), v);
  }
}

/** Rows [r0, r1) of every plane of y clamped to [lo, hi] (NaN stays NaN). */
function clampRows(y: usize, M: usize, OH: usize, OW: usize, r0: usize, r1: usize, lo: f32, hi: f32): void {
  const n = (r1 - r0) * OW;
  const vlo = f32x4.splat(lo), vhi = f32x4.splat(hi);
  for (let m: usize = 0; m < M; m++) {
    const p = y + ((m * OH + r0) * OW << 2);
    let i: usize = 0;
    for (; i + 4 <= n; i += 4) {
      const q = p + (i << 2);
      v128.store(q, f32x4.min(f32x4.max(v128.load(q), vlo), vhi));
    }
    for (; i < n; i++) {
      const q = p + (i << 2);
      store<f32>(q, min<f32>(max<f32>(load<f32>(q), lo), hi));
    }
  }
}

/**
 * ConvTranspose of one image and one group (file header): y = act(bias + col2im(x^T · W)).
 * y is written in bands of output rows while they are in cache: before a chunk, the rows its
 * pixels can reach are set to the bias; after it, the rows no later pixel reaches are final
 * and get the clamp. Returns 0, or -5 on an inconsistent geometry.
 */
export function f32_deconv2d__wasmsimd(g: usize, x: usize, wp: usize, bias: usize, y: usize, work: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  const C = <usize>gi(g, G_C), M = <usize>gi(g, G_M), KH = <isize>gi(g, G_KH), N = M * <usize>KH * <usize>gi(g, G_KW);
  const W = <usize>gi(g, G_W), P = <usize>gi(g, G_H) * W, OH = <usize>gi(g, G_OH), OW = <usize>gi(g, G_OW);
  const sh = <isize>gi(g, G_SH), pt = <isize>gi(g, G_PT), dh = <isize>gi(g, G_DH);
  const clamp = gi(g, G_ACT) != 0;
  const lo = load<f32>(g + (<usize>G_LO << 2)), hi = load<f32>(g + (<usize>G_HI << 2));
  const pc = chunkPixels(g);
  const a = work, cols = work + align16(pc * C << 2);
  const oh = <isize>OH;
  let filled: usize = 0, done: usize = 0;
  for (let p0: usize = 0; p0 < P; p0 += pc) {
    const n = P - p0 < pc ? P - p0 : pc;
    // rows this chunk can reach: up to the last tap of its last input row
    let reach = <isize>((p0 + n - 1) / W) * sh - pt + (KH - 1) * dh + 1;
    if (reach > oh) reach = oh;
    if (reach > <isize>filled) { fillRows(y, bias, M, OH, OW, filled, <usize>reach); filled = <usize>reach; }
    transposeChunk(x + (p0 << 2), P, C, n, a);
    gemmRows(n, N, C, a, C << 2, wp, cols, N << 2, 0, 0, false, 0, 0);
    f32_col2im__wasmsimd(g, cols, <i32>p0, <i32>(p0 + n), y);
    // rows before the first one the next pixel reaches are final
    let fin = p0 + n >= P ? oh : <isize>((p0 + n) / W) * sh - pt;
    if (fin > oh) fin = oh;
    if (fin > <isize>filled) { fillRows(y, bias, M, OH, OW, filled, <usize>fin); filled = <usize>fin; }
    if (clamp && fin > <isize>done) { clampRows(y, M, OH, OW, done, <usize>fin, lo, hi); done = <usize>fin; }
  }
  return 0;
}
