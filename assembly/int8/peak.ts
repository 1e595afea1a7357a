// Measured int8 SIMD peak of this engine (for the bench): the dot + add pair of the int8 GEMM
// inner loops on 12 independent chains acc = acc + i32x4.dot_i16x8_s(acc, w), no loads; 12
// chains in flight cover the dot's latency (the dot reads its own chain, so nothing can be
// hoisted out of the loop). Measured on V8/x64 it is as fast as or faster than variants with
// add-only chains and fresh inputs (which need extra splats and run out of xmm registers).
// Two rounds per loop trip; returns a lane sum so the work cannot be optimized away.
// MACs = iters · 2 · 12 · 8.

export function qs8_peak__wasmsimd(iters: i32): i32 {
  const w = i16x8.splat(3);
  let a0 = i32x4.splat(1), a1 = i32x4.splat(2), a2 = i32x4.splat(3), a3 = i32x4.splat(4);
  let a4 = i32x4.splat(5), a5 = i32x4.splat(6), a6 = i32x4.splat(7), a7 = i32x4.splat(8);
  let a8 = i32x4.splat(9), a9 = i32x4.splat(10), a10 = i32x4.splat(11), a11 = i32x4.splat(12);
  for (let i = 0; i < iters; i++) {
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(a0, w)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(a1, w));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(a2, w)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(a3, w));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(a4, w)); a5 = i32x4.add(a5, i32x4.dot_i16x8_s(a5, w));
    a6 = i32x4.add(a6, i32x4.dot_i16x8_s(a6, w)); a7 = i32x4.add(a7, i32x4.dot_i16x8_s(a7, w));
    a8 = i32x4.add(a8, i32x4.dot_i16x8_s(a8, w)); a9 = i32x4.add(a9, i32x4.dot_i16x8_s(a9, w));
    a10 = i32x4.add(a10, i32x4.dot_i16x8_s(a10, w)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(a11, w));
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(a0, w)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(a1, w));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(a2, w)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(a3, w));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(a4, w)); a5 = i32x4.add(a5, i32x4.dot_i16x8_s(a5, w));
    a6 = i32x4.add(a6, i32x4.dot_i16x8_s(a6, w)); a7 = i32x4.add(a7, i32x4.dot_i16x8_s(a7, w));
    a8 = i32x4.add(a8, i32x4.dot_i16x8_s(a8, w)); a9 = i32x4.add(a9, i32x4.dot_i16x8_s(a9, w));
    a10 = i32x4.add(a10, i32x4.dot_i16x8_s(a10, w)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(a11, w));
  }
  const s = i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)));
  const t = i32x4.add(s, i32x4.add(i32x4.add(a8, a9), i32x4.add(a10, a11)));
  return i32x4.extract_lane(t, 0) + i32x4.extract_lane(t, 1) + i32x4.extract_lane(t, 2) + i32x4.extract_lane(t, 3);
}
