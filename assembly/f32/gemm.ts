// float32 GEMM microkernels for WASM SIMD128 (no FMA, no relaxed SIMD), XNNPACK style:
// f32_gemm_<MR>x<NR>__wasmsimd, B pre-packed in column panels, A broadcast.
// The plain TS reference is gemmRef in src/kernels/f32_ref.ts; the tests sweep every kernel
// here against it (src/kernels/f32.ts lists them as data). The bodies are unrolled by hand
// (one line per accumulator) from one template; keep the variants in step when editing.
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
//        is pmax/pmin (x86 maxps/minps): a NaN sum comes out as lo (ONNX Relu keeps NaN).
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

const BIAS_ROW: i32 = 1;
const BIAS_COL: i32 = 2;

/** n (0..4) floats at p as a vector, zero lanes after; reads nothing past p + 4n. */
@inline function loadCols(p: usize, n: usize): v128 {
  if (n >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  if (n > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}


/** 1x8 tile over nc columns (all their panels), mr ≤ 1 rows; bytes for strides. */
function ukernel_1x8(mr: usize, nc: usize, kc: usize, a: usize, lda: usize, w: usize, c: usize, ldc: usize,
  bias: usize, biasMode: i32, clamp: bool, vmin: v128, vmax: v128): void {
  const a0 = a;
  let c0 = c;
  const br0 = bias;
  let cb = bias; // BIAS_COL: bias of the current panel's columns
  while (true) {
    let v0 = f32x4.splat(0), v1 = v0;
    if (biasMode == BIAS_COL) { v0 = loadCols(cb, nc); v1 = loadCols(cb + 16, nc > 4 ? nc - 4 : 0); cb += 32; }
    let acc0x0 = v0, acc0x1 = v1;
    if (biasMode == BIAS_ROW) {
      acc0x0 = v128.load32_splat(br0); acc0x1 = acc0x0;
    }
    let p0 = a0;
    const wend = w + (kc << 5);
    while (w != wend) {
      const b0 = v128.load(w), b1 = v128.load(w, 16);
      const va0 = v128.load32_splat(p0);
      acc0x0 = f32x4.add(acc0x0, f32x4.mul(va0, b0));
      acc0x1 = f32x4.add(acc0x1, f32x4.mul(va0, b1));
      p0 += 4;
      w += 32;
    }
    if (clamp) {
      acc0x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x0)); acc0x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x1));
    }
    if (nc >= 8) {
      v128.store(c0, acc0x0); v128.store(c0, acc0x1, 16); c0 += 32;
      nc -= 8;
      if (nc == 0) return;
    } else {
      if (nc & 4) {
        v128.store(c0, acc0x0); acc0x0 = acc0x1; c0 += 16;
      }
      if (nc & 2) {
        v128.store64_lane(c0, acc0x0, 0); acc0x0 = v128.shuffle<f32>(acc0x0, acc0x0, 2, 3, 2, 3); c0 += 8;
      }
      if (nc & 1) {
        v128.store32_lane(c0, acc0x0, 0);
      }
      return;
    }
  }
}

/** 2x8 tile over nc columns (all their panels), mr ≤ 2 rows; bytes for strides. */
function ukernel_2x8(mr: usize, nc: usize, kc: usize, a: usize, lda: usize, w: usize, c: usize, ldc: usize,
  bias: usize, biasMode: i32, clamp: bool, vmin: v128, vmax: v128): void {
  const a0 = a;
  let c0 = c;
  const br0 = bias;
  let a1 = a0 + lda, c1 = c0 + ldc, br1 = br0 + 4;
  if (mr <= 1) { a1 = a0; c1 = c0; br1 = br0; }
  let cb = bias; // BIAS_COL: bias of the current panel's columns
  while (true) {
    let v0 = f32x4.splat(0), v1 = v0;
    if (biasMode == BIAS_COL) { v0 = loadCols(cb, nc); v1 = loadCols(cb + 16, nc > 4 ? nc - 4 : 0); cb += 32; }
    let acc0x0 = v0, acc0x1 = v1;
    let acc1x0 = v0, acc1x1 = v1;
    if (biasMode == BIAS_ROW) {
      acc0x0 = v128.load32_splat(br0); acc0x1 = acc0x0;
      acc1x0 = v128.load32_splat(br1); acc1x1 = acc1x0;
    }
    let p0 = a0; let p1 = a1;
    const wend = w + (kc << 5);
    while (w != wend) {
      const b0 = v128.load(w), b1 = v128.load(w, 16);
      const va0 = v128.load32_splat(p0); const va1 = v128.load32_splat(p1);
      acc0x0 = f32x4.add(acc0x0, f32x4.mul(va0, b0));
      acc0x1 = f32x4.add(acc0x1, f32x4.mul(va0, b1));
      acc1x0 = f32x4.add(acc1x0, f32x4.mul(va1, b0));
      acc1x1 = f32x4.add(acc1x1, f32x4.mul(va1, b1));
      p0 += 4; p1 += 4;
      w += 32;
    }
    if (clamp) {
      acc0x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x0)); acc0x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x1));
      acc1x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x0)); acc1x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x1));
    }
    if (nc >= 8) {
      v128.store(c0, acc0x0); v128.store(c0, acc0x1, 16); c0 += 32;
      v128.store(c1, acc1x0); v128.store(c1, acc1x1, 16); c1 += 32;
      nc -= 8;
      if (nc == 0) return;
    } else {
      if (nc & 4) {
        v128.store(c0, acc0x0); acc0x0 = acc0x1; c0 += 16;
        v128.store(c1, acc1x0); acc1x0 = acc1x1; c1 += 16;
      }
      if (nc & 2) {
        v128.store64_lane(c0, acc0x0, 0); acc0x0 = v128.shuffle<f32>(acc0x0, acc0x0, 2, 3, 2, 3); c0 += 8;
        v128.store64_lane(c1, acc1x0, 0); acc1x0 = v128.shuffle<f32>(acc1x0, acc1x0, 2, 3, 2, 3); c1 += 8;
      }
      if (nc & 1) {
        v128.store32_lane(c0, acc0x0, 0);
        v128.store32_lane(c1, acc1x0, 0);
      }
      return;
    }
  }
}

/** 3x8 tile over nc columns (all their panels), mr ≤ 3 rows; bytes for strides. */
function ukernel_3x8(mr: usize, nc: usize, kc: usize, a: usize, lda: usize, w: usize, c: usize, ldc: usize,
  bias: usize, biasMode: i32, clamp: bool, vmin: v128, vmax: v128): void {
  const a0 = a;
  let c0 = c;
  const br0 = bias;
  let a1 = a0 + lda, c1 = c0 + ldc, br1 = br0 + 4;
  if (mr <= 1) { a1 = a0; c1 = c0; br1 = br0; }
  let a2 = a1 + lda, c2 = c1 + ldc, br2 = br1 + 4;
  if (mr <= 2) { a2 = a1; c2 = c1; br2 = br1; }
  let cb = bias; // BIAS_COL: bias of the current panel's columns
  while (true) {
    let v0 = f32x4.splat(0), v1 = v0;
    if (biasMode == BIAS_COL) { v0 = loadCols(cb, nc); v1 = loadCols(cb + 16, nc > 4 ? nc - 4 : 0); cb += 32; }
    let acc0x0 = v0, acc0x1 = v1;
    let acc1x0 = v0, acc1x1 = v1;
    let acc2x0 = v0, acc2x1 = v1;
    if (biasMode == BIAS_ROW) {
      acc0x0 = v128.load32_splat(br0); acc0x1 = acc0x0;
      acc1x0 = v128.load32_splat(br1); acc1x1 = acc1x0;
      acc2x0 = v128.load32_splat(br2); acc2x1 = acc2x0;
    }
    let p0 = a0; let p1 = a1; let p2 = a2;
    const wend = w + (kc << 5);
    while (w != wend) {
      const b0 = v128.load(w), b1 = v128.load(w, 16);
      const va0 = v128.load32_splat(p0); const va1 = v128.load32_splat(p1); const va2 = v128.load32_splat(p2);
      acc0x0 = f32x4.add(acc0x0, f32x4.mul(va0, b0));
      acc0x1 = f32x4.add(acc0x1, f32x4.mul(va0, b1));
      acc1x0 = f32x4.add(acc1x0, f32x4.mul(va1, b0));
      acc1x1 = f32x4.add(acc1x1, f32x4.mul(va1, b1));
      acc2x0 = f32x4.add(acc2x0, f32x4.mul(va2, b0));
      acc2x1 = f32x4.add(acc2x1, f32x4.mul(va2, b1));
      p0 += 4; p1 += 4; p2 += 4;
      w += 32;
    }
    if (clamp) {
      acc0x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x0)); acc0x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x1));
      acc1x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x0)); acc1x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x1));
      acc2x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc2x0)); acc2x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc2x1));
    }
    if (nc >= 8) {
      v128.store(c0, acc0x0); v128.store(c0, acc0x1, 16); c0 += 32;
      v128.store(c1, acc1x0); v128.store(c1, acc1x1, 16); c1 += 32;
      v128.store(c2, acc2x0); v128.store(c2, acc2x1, 16); c2 += 32;
      nc -= 8;
      if (nc == 0) return;
    } else {
      if (nc & 4) {
        v128.store(c0, acc0x0); acc0x0 = acc0x1; c0 += 16;
        v128.store(c1, acc1x0); acc1x0 = acc1x1; c1 += 16;
        v128.store(c2, acc2x0); acc2x0 = acc2x1; c2 += 16;
      }
      if (nc & 2) {
        v128.store64_lane(c0, acc0x0, 0); acc0x0 = v128.shuffle<f32>(acc0x0, acc0x0, 2, 3, 2, 3); c0 += 8;
        v128.store64_lane(c1, acc1x0, 0); acc1x0 = v128.shuffle<f32>(acc1x0, acc1x0, 2, 3, 2, 3); c1 += 8;
        v128.store64_lane(c2, acc2x0, 0); acc2x0 = v128.shuffle<f32>(acc2x0, acc2x0, 2, 3, 2, 3); c2 += 8;
      }
      if (nc & 1) {
        v128.store32_lane(c0, acc0x0, 0);
        v128.store32_lane(c1, acc1x0, 0);
        v128.store32_lane(c2, acc2x0, 0);
      }
      return;
    }
  }
}

/** 4x8 tile over nc columns (all their panels), mr ≤ 4 rows; bytes for strides. */
function ukernel_4x8(mr: usize, nc: usize, kc: usize, a: usize, lda: usize, w: usize, c: usize, ldc: usize,
  bias: usize, biasMode: i32, clamp: bool, vmin: v128, vmax: v128): void {
  const a0 = a;
  let c0 = c;
  const br0 = bias;
  let a1 = a0 + lda, c1 = c0 + ldc, br1 = br0 + 4;
  if (mr <= 1) { a1 = a0; c1 = c0; br1 = br0; }
  let a2 = a1 + lda, c2 = c1 + ldc, br2 = br1 + 4;
  if (mr <= 2) { a2 = a1; c2 = c1; br2 = br1; }
  let a3 = a2 + lda, c3 = c2 + ldc, br3 = br2 + 4;
  if (mr <= 3) { a3 = a2; c3 = c2; br3 = br2; }
  let cb = bias; // BIAS_COL: bias of the current panel's columns
  while (true) {
    let v0 = f32x4.splat(0), v1 = v0;
    if (biasMode == BIAS_COL) { v0 = loadCols(cb, nc); v1 = loadCols(cb + 16, nc > 4 ? nc - 4 : 0); cb += 32; }
    let acc0x0 = v0, acc0x1 = v1;
    let acc1x0 = v0, acc1x1 = v1;
    let acc2x0 = v0, acc2x1 = v1;
    let acc3x0 = v0, acc3x1 = v1;
    if (biasMode == BIAS_ROW) {
      acc0x0 = v128.load32_splat(br0); acc0x1 = acc0x0;
      acc1x0 = v128.load32_splat(br1); acc1x1 = acc1x0;
      acc2x0 = v128.load32_splat(br2); acc2x1 = acc2x0;
      acc3x0 = v128.load32_splat(br3); acc3x1 = acc3x0;
    }
    let p0 = a0; let p1 = a1; let p2 = a2; let p3 = a3;
    const wend = w + (kc << 5);
    while (w != wend) {
      const b0 = v128.load(w), b1 = v128.load(w, 16);
      const va0 = v128.load32_splat(p0); const va1 = v128.load32_splat(p1); const va2 = v128.load32_splat(p2); const va3 = v128.load32_splat(p3);
      acc0x0 = f32x4.add(acc0x0, f32x4.mul(va0, b0));
      acc0x1 = f32x4.add(acc0x1, f32x4.mul(va0, b1));
      acc1x0 = f32x4.add(acc1x0, f32x4.mul(va1, b0));
      acc1x1 = f32x4.add(acc1x1, f32x4.mul(va1, b1));
      acc2x0 = f32x4.add(acc2x0, f32x4.mul(va2, b0));
      acc2x1 = f32x4.add(acc2x1, f32x4.mul(va2, b1));
      acc3x0 = f32x4.add(acc3x0, f32x4.mul(va3, b0));
      acc3x1 = f32x4.add(acc3x1, f32x4.mul(va3, b1));
      p0 += 4; p1 += 4; p2 += 4; p3 += 4;
      w += 32;
    }
    if (clamp) {
      acc0x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x0)); acc0x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x1));
      acc1x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x0)); acc1x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x1));
      acc2x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc2x0)); acc2x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc2x1));
      acc3x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc3x0)); acc3x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc3x1));
    }
    if (nc >= 8) {
      v128.store(c0, acc0x0); v128.store(c0, acc0x1, 16); c0 += 32;
      v128.store(c1, acc1x0); v128.store(c1, acc1x1, 16); c1 += 32;
      v128.store(c2, acc2x0); v128.store(c2, acc2x1, 16); c2 += 32;
      v128.store(c3, acc3x0); v128.store(c3, acc3x1, 16); c3 += 32;
      nc -= 8;
      if (nc == 0) return;
    } else {
      if (nc & 4) {
        v128.store(c0, acc0x0); acc0x0 = acc0x1; c0 += 16;
        v128.store(c1, acc1x0); acc1x0 = acc1x1; c1 += 16;
        v128.store(c2, acc2x0); acc2x0 = acc2x1; c2 += 16;
        v128.store(c3, acc3x0); acc3x0 = acc3x1; c3 += 16;
      }
      if (nc & 2) {
        v128.store64_lane(c0, acc0x0, 0); acc0x0 = v128.shuffle<f32>(acc0x0, acc0x0, 2, 3, 2, 3); c0 += 8;
        v128.store64_lane(c1, acc1x0, 0); acc1x0 = v128.shuffle<f32>(acc1x0, acc1x0, 2, 3, 2, 3); c1 += 8;
        v128.store64_lane(c2, acc2x0, 0); acc2x0 = v128.shuffle<f32>(acc2x0, acc2x0, 2, 3, 2, 3); c2 += 8;
        v128.store64_lane(c3, acc3x0, 0); acc3x0 = v128.shuffle<f32>(acc3x0, acc3x0, 2, 3, 2, 3); c3 += 8;
      }
      if (nc & 1) {
        v128.store32_lane(c0, acc0x0, 0);
        v128.store32_lane(c1, acc1x0, 0);
        v128.store32_lane(c2, acc2x0, 0);
        v128.store32_lane(c3, acc3x0, 0);
      }
      return;
    }
  }
}

/** 1x8 tile over nc columns (all their panels), mr ≤ 1 rows; bytes for strides. */
function ukernel_1x8_ind(mr: usize, nc: usize, kc: usize, a: usize, lda: usize, koff: usize, xb: usize, c: usize, ldc: usize,
  bias: usize, biasMode: i32, clamp: bool, vmin: v128, vmax: v128): void {
  const a0 = a;
  let c0 = c;
  const br0 = bias;
  let cb = bias; // BIAS_COL: bias of the current panel's columns
  while (true) {
    let v0 = f32x4.splat(0), v1 = v0;
    if (biasMode == BIAS_COL) { v0 = loadCols(cb, nc); v1 = loadCols(cb + 16, nc > 4 ? nc - 4 : 0); cb += 32; }
    let acc0x0 = v0, acc0x1 = v1;
    if (biasMode == BIAS_ROW) {
      acc0x0 = v128.load32_splat(br0); acc0x1 = acc0x0;
    }
    let p0 = a0;
    let kp = koff;
    const kend = koff + (kc << 2);
    while (kp != kend) {
      const src = xb + <usize>load<i32>(kp);
      const b0 = v128.load(src), b1 = v128.load(src, 16);
      const va0 = v128.load32_splat(p0);
      acc0x0 = f32x4.add(acc0x0, f32x4.mul(va0, b0));
      acc0x1 = f32x4.add(acc0x1, f32x4.mul(va0, b1));
      p0 += 4;
      kp += 4;
    }
    if (clamp) {
      acc0x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x0)); acc0x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x1));
    }
    if (nc >= 8) {
      v128.store(c0, acc0x0); v128.store(c0, acc0x1, 16); c0 += 32;
      nc -= 8;
      if (nc == 0) return;
      xb += 32;
    } else {
      if (nc & 4) {
        v128.store(c0, acc0x0); acc0x0 = acc0x1; c0 += 16;
      }
      if (nc & 2) {
        v128.store64_lane(c0, acc0x0, 0); acc0x0 = v128.shuffle<f32>(acc0x0, acc0x0, 2, 3, 2, 3); c0 += 8;
      }
      if (nc & 1) {
        v128.store32_lane(c0, acc0x0, 0);
      }
      return;
    }
  }
}

/** 2x8 tile over nc columns (all their panels), mr ≤ 2 rows; bytes for strides. */
function ukernel_2x8_ind(mr: usize, nc: usize, kc: usize, a: usize, lda: usize, koff: usize, xb: usize, c: usize, ldc: usize,
  bias: usize, biasMode: i32, clamp: bool, vmin: v128, vmax: v128): void {
  const a0 = a;
  let c0 = c;
  const br0 = bias;
  let a1 = a0 + lda, c1 = c0 + ldc, br1 = br0 + 4;
  if (mr <= 1) { a1 = a0; c1 = c0; br1 = br0; }
  let cb = bias; // BIAS_COL: bias of the current panel's columns
  while (true) {
    let v0 = f32x4.splat(0), v1 = v0;
    if (biasMode == BIAS_COL) { v0 = loadCols(cb, nc); v1 = loadCols(cb + 16, nc > 4 ? nc - 4 : 0); cb += 32; }
    let acc0x0 = v0, acc0x1 = v1;
    let acc1x0 = v0, acc1x1 = v1;
    if (biasMode == BIAS_ROW) {
      acc0x0 = v128.load32_splat(br0); acc0x1 = acc0x0;
      acc1x0 = v128.load32_splat(br1); acc1x1 = acc1x0;
    }
    let p0 = a0; let p1 = a1;
    let kp = koff;
    const kend = koff + (kc << 2);
    while (kp != kend) {
      const src = xb + <usize>load<i32>(kp);
      const b0 = v128.load(src), b1 = v128.load(src, 16);
      const va0 = v128.load32_splat(p0); const va1 = v128.load32_splat(p1);
      acc0x0 = f32x4.add(acc0x0, f32x4.mul(va0, b0));
      acc0x1 = f32x4.add(acc0x1, f32x4.mul(va0, b1));
      acc1x0 = f32x4.add(acc1x0, f32x4.mul(va1, b0));
      acc1x1 = f32x4.add(acc1x1, f32x4.mul(va1, b1));
      p0 += 4; p1 += 4;
      kp += 4;
    }
    if (clamp) {
      acc0x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x0)); acc0x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x1));
      acc1x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x0)); acc1x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x1));
    }
    if (nc >= 8) {
      v128.store(c0, acc0x0); v128.store(c0, acc0x1, 16); c0 += 32;
      v128.store(c1, acc1x0); v128.store(c1, acc1x1, 16); c1 += 32;
      nc -= 8;
      if (nc == 0) return;
      xb += 32;
    } else {
      if (nc & 4) {
        v128.store(c0, acc0x0); acc0x0 = acc0x1; c0 += 16;
        v128.store(c1, acc1x0); acc1x0 = acc1x1; c1 += 16;
      }
      if (nc & 2) {
        v128.store64_lane(c0, acc0x0, 0); acc0x0 = v128.shuffle<f32>(acc0x0, acc0x0, 2, 3, 2, 3); c0 += 8;
        v128.store64_lane(c1, acc1x0, 0); acc1x0 = v128.shuffle<f32>(acc1x0, acc1x0, 2, 3, 2, 3); c1 += 8;
      }
      if (nc & 1) {
        v128.store32_lane(c0, acc0x0, 0);
        v128.store32_lane(c1, acc1x0, 0);
      }
      return;
    }
  }
}

/** 3x8 tile over nc columns (all their panels), mr ≤ 3 rows; bytes for strides. */
function ukernel_3x8_ind(mr: usize, nc: usize, kc: usize, a: usize, lda: usize, koff: usize, xb: usize, c: usize, ldc: usize,
  bias: usize, biasMode: i32, clamp: bool, vmin: v128, vmax: v128): void {
  const a0 = a;
  let c0 = c;
  const br0 = bias;
  let a1 = a0 + lda, c1 = c0 + ldc, br1 = br0 + 4;
  if (mr <= 1) { a1 = a0; c1 = c0; br1 = br0; }
  let a2 = a1 + lda, c2 = c1 + ldc, br2 = br1 + 4;
  if (mr <= 2) { a2 = a1; c2 = c1; br2 = br1; }
  let cb = bias; // BIAS_COL: bias of the current panel's columns
  while (true) {
    let v0 = f32x4.splat(0), v1 = v0;
    if (biasMode == BIAS_COL) { v0 = loadCols(cb, nc); v1 = loadCols(cb + 16, nc > 4 ? nc - 4 : 0); cb += 32; }
    let acc0x0 = v0, acc0x1 = v1;
    let acc1x0 = v0, acc1x1 = v1;
    let acc2x0 = v0, acc2x1 = v1;
    if (biasMode == BIAS_ROW) {
      acc0x0 = v128.load32_splat(br0); acc0x1 = acc0x0;
      acc1x0 = v128.load32_splat(br1); acc1x1 = acc1x0;
      acc2x0 = v128.load32_splat(br2); acc2x1 = acc2x0;
    }
    let p0 = a0; let p1 = a1; let p2 = a2;
    let kp = koff;
    const kend = koff + (kc << 2);
    while (kp != kend) {
      const src = xb + <usize>load<i32>(kp);
      const b0 = v128.load(src), b1 = v128.load(src, 16);
      const va0 = v128.load32_splat(p0); const va1 = v128.load32_splat(p1); const va2 = v128.load32_splat(p2);
      acc0x0 = f32x4.add(acc0x0, f32x4.mul(va0, b0));
      acc0x1 = f32x4.add(acc0x1, f32x4.mul(va0, b1));
      acc1x0 = f32x4.add(acc1x0, f32x4.mul(va1, b0));
      acc1x1 = f32x4.add(acc1x1, f32x4.mul(va1, b1));
      acc2x0 = f32x4.add(acc2x0, f32x4.mul(va2, b0));
      acc2x1 = f32x4.add(acc2x1, f32x4.mul(va2, b1));
      p0 += 4; p1 += 4; p2 += 4;
      kp += 4;
    }
    if (clamp) {
      acc0x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x0)); acc0x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x1));
      acc1x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x0)); acc1x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x1));
      acc2x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc2x0)); acc2x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc2x1));
    }
    if (nc >= 8) {
      v128.store(c0, acc0x0); v128.store(c0, acc0x1, 16); c0 += 32;
      v128.store(c1, acc1x0); v128.store(c1, acc1x1, 16); c1 += 32;
      v128.store(c2, acc2x0); v128.store(c2, acc2x1, 16); c2 += 32;
      nc -= 8;
      if (nc == 0) return;
      xb += 32;
    } else {
      if (nc & 4) {
        v128.store(c0, acc0x0); acc0x0 = acc0x1; c0 += 16;
        v128.store(c1, acc1x0); acc1x0 = acc1x1; c1 += 16;
        v128.store(c2, acc2x0); acc2x0 = acc2x1; c2 += 16;
      }
      if (nc & 2) {
        v128.store64_lane(c0, acc0x0, 0); acc0x0 = v128.shuffle<f32>(acc0x0, acc0x0, 2, 3, 2, 3); c0 += 8;
        v128.store64_lane(c1, acc1x0, 0); acc1x0 = v128.shuffle<f32>(acc1x0, acc1x0, 2, 3, 2, 3); c1 += 8;
        v128.store64_lane(c2, acc2x0, 0); acc2x0 = v128.shuffle<f32>(acc2x0, acc2x0, 2, 3, 2, 3); c2 += 8;
      }
      if (nc & 1) {
        v128.store32_lane(c0, acc0x0, 0);
        v128.store32_lane(c1, acc1x0, 0);
        v128.store32_lane(c2, acc2x0, 0);
      }
      return;
    }
  }
}

/** 4x8 tile over nc columns (all their panels), mr ≤ 4 rows; bytes for strides. */
function ukernel_4x8_ind(mr: usize, nc: usize, kc: usize, a: usize, lda: usize, koff: usize, xb: usize, c: usize, ldc: usize,
  bias: usize, biasMode: i32, clamp: bool, vmin: v128, vmax: v128): void {
  const a0 = a;
  let c0 = c;
  const br0 = bias;
  let a1 = a0 + lda, c1 = c0 + ldc, br1 = br0 + 4;
  if (mr <= 1) { a1 = a0; c1 = c0; br1 = br0; }
  let a2 = a1 + lda, c2 = c1 + ldc, br2 = br1 + 4;
  if (mr <= 2) { a2 = a1; c2 = c1; br2 = br1; }
  let a3 = a2 + lda, c3 = c2 + ldc, br3 = br2 + 4;
  if (mr <= 3) { a3 = a2; c3 = c2; br3 = br2; }
  let cb = bias; // BIAS_COL: bias of the current panel's columns
  while (true) {
    let v0 = f32x4.splat(0), v1 = v0;
    if (biasMode == BIAS_COL) { v0 = loadCols(cb, nc); v1 = loadCols(cb + 16, nc > 4 ? nc - 4 : 0); cb += 32; }
    let acc0x0 = v0, acc0x1 = v1;
    let acc1x0 = v0, acc1x1 = v1;
    let acc2x0 = v0, acc2x1 = v1;
    let acc3x0 = v0, acc3x1 = v1;
    if (biasMode == BIAS_ROW) {
      acc0x0 = v128.load32_splat(br0); acc0x1 = acc0x0;
      acc1x0 = v128.load32_splat(br1); acc1x1 = acc1x0;
      acc2x0 = v128.load32_splat(br2); acc2x1 = acc2x0;
      acc3x0 = v128.load32_splat(br3); acc3x1 = acc3x0;
    }
    let p0 = a0; let p1 = a1; let p2 = a2; let p3 = a3;
    let kp = koff;
    const kend = koff + (kc << 2);
    while (kp != kend) {
      const src = xb + <usize>load<i32>(kp);
      const b0 = v128.load(src), b1 = v128.load(src, 16);
      const va0 = v128.load32_splat(p0); const va1 = v128.load32_splat(p1); const va2 = v128.load32_splat(p2); const va3 = v128.load32_splat(p3);
      acc0x0 = f32x4.add(acc0x0, f32x4.mul(va0, b0));
      acc0x1 = f32x4.add(acc0x1, f32x4.mul(va0, b1));
      acc1x0 = f32x4.add(acc1x0, f32x4.mul(va1, b0));
      acc1x1 = f32x4.add(acc1x1, f32x4.mul(va1, b1));
      acc2x0 = f32x4.add(acc2x0, f32x4.mul(va2, b0));
      acc2x1 = f32x4.add(acc2x1, f32x4.mul(va2, b1));
      acc3x0 = f32x4.add(acc3x0, f32x4.mul(va3, b0));
      acc3x1 = f32x4.add(acc3x1, f32x4.mul(va3, b1));
      p0 += 4; p1 += 4; p2 += 4; p3 += 4;
      kp += 4;
    }
    if (clamp) {
      acc0x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x0)); acc0x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc0x1));
      acc1x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x0)); acc1x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc1x1));
      acc2x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc2x0)); acc2x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc2x1));
      acc3x0 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc3x0)); acc3x1 = f32x4.pmin(vmax, f32x4.pmax(vmin, acc3x1));
    }
    if (nc >= 8) {
      v128.store(c0, acc0x0); v128.store(c0, acc0x1, 16); c0 += 32;
      v128.store(c1, acc1x0); v128.store(c1, acc1x1, 16); c1 += 32;
      v128.store(c2, acc2x0); v128.store(c2, acc2x1, 16); c2 += 32;
      v128.store(c3, acc3x0); v128.store(c3, acc3x1, 16); c3 += 32;
      nc -= 8;
      if (nc == 0) return;
      xb += 32;
    } else {
      if (nc & 4) {
        v128.store(c0, acc0x0); acc0x0 = acc0x1; c0 += 16;
        v128.store(c1, acc1x0); acc1x0 = acc1x1; c1 += 16;
        v128.store(c2, acc2x0); acc2x0 = acc2x1; c2 += 16;
        v128.store(c3, acc3x0); acc3x0 = acc3x1; c3 += 16;
      }
      if (nc & 2) {
        v128.store64_lane(c0, acc0x0, 0); acc0x0 = v128.shuffle<f32>(acc0x0, acc0x0, 2, 3, 2, 3); c0 += 8;
        v128.store64_lane(c1, acc1x0, 0); acc1x0 = v128.shuffle<f32>(acc1x0, acc1x0, 2, 3, 2, 3); c1 += 8;
        v128.store64_lane(c2, acc2x0, 0); acc2x0 = v128.shuffle<f32>(acc2x0, acc2x0, 2, 3, 2, 3); c2 += 8;
        v128.store64_lane(c3, acc3x0, 0); acc3x0 = v128.shuffle<f32>(acc3x0, acc3x0, 2, 3, 2, 3); c3 += 8;
      }
      if (nc & 1) {
        v128.store32_lane(c0, acc0x0, 0);
        v128.store32_lane(c1, acc1x0, 0);
        v128.store32_lane(c2, acc2x0, 0);
        v128.store32_lane(c3, acc3x0, 0);
      }
      return;
    }
  }
}

/** C(M,N) = act(A·Bp + bias), every row block with the 1x8 tile (row tail: aliased rows). */
export function f32_gemm_1x8__wasmsimd(M: i32, N: i32, K: i32, a: usize, lda: i32, bp: usize, c: usize, ldc: i32,
  bias: usize, biasMode: i32, act: i32, lo: f32, hi: f32): void {
  if (M <= 0 || N <= 0) return;
  const vmin = f32x4.splat(lo), vmax = f32x4.splat(hi);
  const ldaB = <usize>lda << 2, ldcB = <usize>ldc << 2;
  for (let m0: usize = 0; m0 < <usize>M; m0 += 1) {
    ukernel_1x8(min<usize>(1, <usize>M - m0), <usize>N, <usize>K, a + m0 * ldaB, ldaB, bp, c + m0 * ldcB, ldcB,
      biasMode == BIAS_ROW ? bias + (m0 << 2) : bias, biasMode, act != 0, vmin, vmax);
  }
}

/** C(M,N) = act(A·Bp + bias), every row block with the 2x8 tile (row tail: aliased rows). */
export function f32_gemm_2x8__wasmsimd(M: i32, N: i32, K: i32, a: usize, lda: i32, bp: usize, c: usize, ldc: i32,
  bias: usize, biasMode: i32, act: i32, lo: f32, hi: f32): void {
  if (M <= 0 || N <= 0) return;
  const vmin = f32x4.splat(lo), vmax = f32x4.splat(hi);
  const ldaB = <usize>lda << 2, ldcB = <usize>ldc << 2;
  for (let m0: usize = 0; m0 < <usize>M; m0 += 2) {
    ukernel_2x8(min<usize>(2, <usize>M - m0), <usize>N, <usize>K, a + m0 * ldaB, ldaB, bp, c + m0 * ldcB, ldcB,
      biasMode == BIAS_ROW ? bias + (m0 << 2) : bias, biasMode, act != 0, vmin, vmax);
  }
}

/** C(M,N) = act(A·Bp + bias), every row block with the 4x8 tile (row tail: aliased rows). */
export function f32_gemm_4x8__wasmsimd(M: i32, N: i32, K: i32, a: usize, lda: i32, bp: usize, c: usize, ldc: i32,
  bias: usize, biasMode: i32, act: i32, lo: f32, hi: f32): void {
  if (M <= 0 || N <= 0) return;
  const vmin = f32x4.splat(lo), vmax = f32x4.splat(hi);
  const ldaB = <usize>lda << 2, ldcB = <usize>ldc << 2;
  for (let m0: usize = 0; m0 < <usize>M; m0 += 4) {
    ukernel_4x8(min<usize>(4, <usize>M - m0), <usize>N, <usize>K, a + m0 * ldaB, ldaB, bp, c + m0 * ldcB, ldcB,
      biasMode == BIAS_ROW ? bias + (m0 << 2) : bias, biasMode, act != 0, vmin, vmax);
  }
}

/**
 * Rows [0, M) of C for the nc columns of the panels at bp: 4x8 tiles, then one 3/2/1x8 tile
 * for the M % 4 rest (no wasted rows). Strides in bytes; bias already offset to row 0 / col 0.
 */
function gemmRows(M: usize, nc: usize, kc: usize, a: usize, lda: usize, bp: usize, c: usize, ldc: usize,
  bias: usize, biasMode: i32, clamp: bool, lo: f32, hi: f32): void {
  const vmin = f32x4.splat(lo), vmax = f32x4.splat(hi);
  let m0: usize = 0;
  for (; m0 + 4 <= M; m0 += 4) {
    ukernel_4x8(4, nc, kc, a + m0 * lda, lda, bp, c + m0 * ldc, ldc, biasMode == BIAS_ROW ? bias + (m0 << 2) : bias, biasMode, clamp, vmin, vmax);
  }
  const rest = M - m0;
  if (rest == 0) return;
  const a0 = a + m0 * lda, c0 = c + m0 * ldc, b0 = biasMode == BIAS_ROW ? bias + (m0 << 2) : bias;
  if (rest == 3) ukernel_3x8(3, nc, kc, a0, lda, bp, c0, ldc, b0, biasMode, clamp, vmin, vmax);
  else if (rest == 2) ukernel_2x8(2, nc, kc, a0, lda, bp, c0, ldc, b0, biasMode, clamp, vmin, vmax);
  else ukernel_1x8(1, nc, kc, a0, lda, bp, c0, ldc, b0, biasMode, clamp, vmin, vmax);
}

/**
 * Indirect variant of gemmRows (conv without im2col): B row k of the panel starting at xb is
 * the 8 floats at xb + koff[k] (koff: kc i32 byte offsets); the next panel starts 32 bytes on.
 * Reads up to 8 floats per row even for the partial last panel (callers leave slack).
 */
export function igemmRows(M: usize, nc: usize, kc: usize, a: usize, lda: usize, koff: usize, xb: usize, c: usize, ldc: usize,
  bias: usize, biasMode: i32, clamp: bool, lo: f32, hi: f32): void {
  const vmin = f32x4.splat(lo), vmax = f32x4.splat(hi);
  let m0: usize = 0;
  for (; m0 + 4 <= M; m0 += 4) {
    ukernel_4x8_ind(4, nc, kc, a + m0 * lda, lda, koff, xb, c + m0 * ldc, ldc, biasMode == BIAS_ROW ? bias + (m0 << 2) : bias, biasMode, clamp, vmin, vmax);
  }
  const rest = M - m0;
  if (rest == 0) return;
  const a0 = a + m0 * lda, c0 = c + m0 * ldc, b0 = biasMode == BIAS_ROW ? bias + (m0 << 2) : bias;
  if (rest == 3) ukernel_3x8_ind(3, nc, kc, a0, lda, koff, xb, c0, ldc, b0, biasMode, clamp, vmin, vmax);
  else if (rest == 2) ukernel_2x8_ind(2, nc, kc, a0, lda, koff, xb, c0, ldc, b0, biasMode, clamp, vmin, vmax);
  else ukernel_1x8_ind(1, nc, kc, a0, lda, koff, xb, c0, ldc, b0, biasMode, clamp, vmin, vmax);
}

/** The engine's GEMM: C(M,N) = act(A·Bp + bias) with 4x8 tiles and exact 3/2/1-row tails. Sizes/strides in elements. */
export function f32_gemm__wasmsimd(M: i32, N: i32, K: i32, a: usize, lda: i32, bp: usize, c: usize, ldc: i32,
  bias: usize, biasMode: i32, act: i32, lo: f32, hi: f32): void {
  if (M <= 0 || N <= 0) return;
  gemmRows(<usize>M, <usize>N, <usize>K, a, <usize>lda << 2, bp, c, <usize>ldc << 2, bias, biasMode, act != 0, lo, hi);
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
