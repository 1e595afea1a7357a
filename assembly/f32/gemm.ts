// float32 GEMM microkernels for WASM SIMD128 (no FMA, no relaxed SIMD), XNNPACK style:
// f32_gemm_<MR>x<NR>__wasmsimd, B pre-packed in column panels, A broadcast.
// The plain TS reference is gemmRef in src/kernels/f32_ref.ts; the tests sweep every kernel
// here against it (src/kernels/f32.ts lists them as data). The tiles (ukernel_<MR>x8 and the
// indirect ukernel_<MR>x8_ind), the row loops over them (gemmRows, igemmRows) and
// f32_gemm_<MR>x8__wasmsimd are unrolled, one line per accumulator, from one template:
// gen/gemm_mrx8.ts.in, expanded by scripts/gen-kernels.mjs into gen/gemm_mrx8.ts. Edit the
// template, not the generated file.
//
// Computes  C(M,N) = act(A(M,K) · B(K,N) + bias)
//   A    row-major, row stride lda (elements, ≥ K)
//   B    packed by f32_pack_b:
//        PANELS of 8 columns; panel p holds columns 8p..8p+7 as K rows of 8 floats:
//          Bp[p·8K + k·8 + j] = B[k][8p + j]   (zero for 8p + j ≥ N)
//        ceil(N/8) panels = ceil(N/8)·8·K floats, 16-byte aligned.
//   C    row-major, row stride ldc (elements, ≥ N); only the M×N entries are written
//   bias biasMode 0: none; 1 (BIAS_ROW): bias[m], M floats (conv: per output channel);
//        2 (BIAS_COL): bias[n], N floats (Gemm's C / MatMul+Add)
//   act  0: none; 1: clamp to [lo, hi] (ReLU = clamp(0, +Inf), ReLU6 = clamp(0, 6)). The clamp
//        is pmin(pmax(acc, lo), hi) (one x86 maxps/minps each), the accumulator FIRST: pmax(a, b)
//        is a < b ? b : a, so a NaN sum stays NaN (ONNX Relu / Clip keep NaN; pmax(lo, acc)
//        would give lo).
// K = 0 gives C = act(bias). Pointers 16-byte aligned are fastest but not required.
// Sums run in k order from the bias, one rounding per mul and per add (no FMA).
//
// Tiles: a microkernel computes an MR×8 block per panel, MR rows × 2 f32x4 accumulators, for
// all panels of its nc columns (A's MR rows stay in L1, B streams). Per k it loads 2 vectors of
// B, broadcasts MR values of A and does 2·MR mul + 2·MR add. Rows below MR (M % MR) run the
// same tile with aliased row pointers (computed and stored twice, XNNPACK's trick); the
// column tail (N % 8) computes the zero-padded panel and stores only the valid lanes.
// The *_ind tiles are the same with B read indirectly (conv without im2col, see igemmRows).
//
// Measured on V8 (Node 20, x64, 16 xmm registers): 4x8 runs at ~85% of the measured mul+add
// peak. K is NOT unrolled: TurboFan schedules all loads of an unrolled body first and spills
// accumulators (-30%); for the same reason 5x8/6x8 tiles spill and run at half speed; the
// XNNPACK x86 "splat" form (4 k of A per load, shuffles) measured ~15% slower here and was
// removed.

import { gemmRows } from './gen/gemm_mrx8';
import { applyActRows, ACT_CLAMP } from '../f32ops/unary';
export { igemmRows, f32_gemm_1x8__wasmsimd, f32_gemm_2x8__wasmsimd, f32_gemm_4x8__wasmsimd } from './gen/gemm_mrx8';

/**
 * The engine's GEMM: C(M,N) = act(A·Bp + bias) with 4x8 tiles and exact 3/2/1-row tails; a
 * single row (M = 1: a batch-1 Gemm / MatMul / Linear, the GEMV of classifier heads and of token
 * decoding) runs the 1x32 tile. Sizes/strides in elements.
 */
export function f32_gemm__wasmsimd(M: i32, N: i32, K: i32, a: usize, lda: i32, bp: usize, c: usize, ldc: i32,
  bias: usize, biasMode: i32, act: i32, lo: f32, hi: f32): void {
  if (M <= 0 || N <= 0) return;
  if (M == 1) {
    gemv1x32(<usize>N, <usize>K, a, bp, c, bias, biasMode, act, lo, hi);
    return;
  }
  gemmRows(<usize>M, <usize>N, <usize>K, a, <usize>lda << 2, bp, c, <usize>ldc << 2, bias, biasMode, act, lo, hi);
}

/** C(1,N) = act(A(1,K)·Bp + bias), every row with the 1x32 tile (tests, benchmarks). Sizes/strides in elements. */
export function f32_gemm_1x32__wasmsimd(M: i32, N: i32, K: i32, a: usize, lda: i32, bp: usize, c: usize, ldc: i32,
  bias: usize, biasMode: i32, act: i32, lo: f32, hi: f32): void {
  if (M <= 0 || N <= 0) return;
  const ldaB = <usize>lda << 2, ldcB = <usize>ldc << 2;
  for (let m: usize = 0; m < <usize>M; m++)
    gemv1x32(<usize>N, <usize>K, a + m * ldaB, bp, c + m * ldcB, biasMode == 1 ? bias + (m << 2) : bias, biasMode, act, lo, hi);
}

// ---- one row: the 1x32 tile ----------------------------------------------------------------
//
// The 1x8 tile keeps 2 accumulators, each updated every k: a batch-1 GEMM runs at the latency of
// f32x4.add (one k per ~4 cycles), not at the loads' pace. The 1x32 tile runs 4 panels at once
// (8 accumulators, 4 independent load streams of 32 bytes per k) over the same packed B; each
// output is still summed in k order from its bias, one rounding per mul and per add, so C is bit
// for bit the 1x8 tile's (and gemmRef's). Panels past the last multiple of 4 use the 1x8 tile.

/** Row a (K floats) times packed B (N columns), bias per biasMode (1: bias[0] for the row; 2: bias[n]), into c (N floats). */
function gemv1x32(N: usize, K: usize, a: usize, bp: usize, c: usize, bias: usize, biasMode: i32, act: i32, lo: f32, hi: f32): void {
  const clamp = act == ACT_CLAMP;
  const vmin = f32x4.splat(lo), vmax = f32x4.splat(hi);
  const panelB = K << 5; // bytes of one 8-column panel
  let n0: usize = 0, w = bp;
  for (; n0 + 32 <= N; n0 += 32) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    if (biasMode == 1) {
      a0 = v128.load32_splat(bias); a1 = a0; a2 = a0; a3 = a0; a4 = a0; a5 = a0; a6 = a0; a7 = a0;
    } else if (biasMode == 2) {
      const cb = bias + (n0 << 2);
      a0 = v128.load(cb); a1 = v128.load(cb, 16); a2 = v128.load(cb, 32); a3 = v128.load(cb, 48);
      a4 = v128.load(cb, 64); a5 = v128.load(cb, 80); a6 = v128.load(cb, 96); a7 = v128.load(cb, 112);
    }
    let p = a, w0 = w, w1 = w + panelB, w2 = w1 + panelB, w3 = w2 + panelB;
    const pend = a + (K << 2);
    while (p != pend) {
      const x = v128.load32_splat(p);
      a0 = f32x4.add(a0, f32x4.mul(x, v128.load(w0))); a1 = f32x4.add(a1, f32x4.mul(x, v128.load(w0, 16)));
      a2 = f32x4.add(a2, f32x4.mul(x, v128.load(w1))); a3 = f32x4.add(a3, f32x4.mul(x, v128.load(w1, 16)));
      a4 = f32x4.add(a4, f32x4.mul(x, v128.load(w2))); a5 = f32x4.add(a5, f32x4.mul(x, v128.load(w2, 16)));
      a6 = f32x4.add(a6, f32x4.mul(x, v128.load(w3))); a7 = f32x4.add(a7, f32x4.mul(x, v128.load(w3, 16)));
      p += 4; w0 += 32; w1 += 32; w2 += 32; w3 += 32;
    }
    if (clamp) {
      a0 = f32x4.pmin(f32x4.pmax(a0, vmin), vmax); a1 = f32x4.pmin(f32x4.pmax(a1, vmin), vmax);
      a2 = f32x4.pmin(f32x4.pmax(a2, vmin), vmax); a3 = f32x4.pmin(f32x4.pmax(a3, vmin), vmax);
      a4 = f32x4.pmin(f32x4.pmax(a4, vmin), vmax); a5 = f32x4.pmin(f32x4.pmax(a5, vmin), vmax);
      a6 = f32x4.pmin(f32x4.pmax(a6, vmin), vmax); a7 = f32x4.pmin(f32x4.pmax(a7, vmin), vmax);
    }
    const cc = c + (n0 << 2);
    v128.store(cc, a0); v128.store(cc, a1, 16); v128.store(cc, a2, 32); v128.store(cc, a3, 48);
    v128.store(cc, a4, 64); v128.store(cc, a5, 80); v128.store(cc, a6, 96); v128.store(cc, a7, 112);
    w += panelB << 2;
  }
  if (n0 < N) {
    // the last 1..3 panels (N % 32 columns) with the 1x8 tile, bias of those columns
    gemmRows(1, N - n0, K, a, K << 2, w, c + (n0 << 2), N << 2, biasMode == 2 ? bias + (n0 << 2) : bias, biasMode, clamp ? act : 0, lo, hi);
  }
  if (act > ACT_CLAMP) applyActRows(act, c, N << 2, 1, N, lo, hi);
}

/**
 * Packs B into the panel layout above. B(K,N) at b, row stride ldb (elements); with transB ≠ 0,
 * b holds Bᵀ (N,K) row-major instead (row stride ldb), as ONNX Gemm transB=1 / a Linear weight.
 * bp receives f32_packed_b_size(K, N) floats.
 */
export function f32_pack_b(K: i32, N: i32, b: usize, ldb: i32, transB: i32, bp: usize): void {
  const kc = <usize>K, ldbB = <usize>ldb << 2;
  let dst = bp;
  for (let n0: usize = 0; n0 < <usize>N; n0 += 8) {
    const nr = min<usize>(8, <usize>N - n0);
    if (transB == 0) {
      let src = b + (n0 << 2);
      if (nr == 8) {
        for (let k: usize = 0; k < kc; k++) {
          v128.store(dst, v128.load(src)); v128.store(dst, v128.load(src, 16), 16);
          src += ldbB; dst += 32;
        }
      } else {
        for (let k: usize = 0; k < kc; k++) {
          for (let j: usize = 0; j < 8; j++) store<f32>(dst + (j << 2), j < nr ? load<f32>(src + (j << 2)) : 0);
          src += ldbB; dst += 32;
        }
      }
    } else {
      const src = b + n0 * ldbB;
      for (let k: usize = 0; k < kc; k++) {
        for (let j: usize = 0; j < 8; j++) store<f32>(dst + (j << 2), j < nr ? load<f32>(src + j * ldbB + (k << 2)) : 0);
        dst += 32;
      }
    }
  }
}

/** Floats f32_pack_b writes for a K×N matrix. */
export function f32_packed_b_size(K: i32, N: i32): i32 {
  return ((N + 7) >> 3) * 8 * K;
}
