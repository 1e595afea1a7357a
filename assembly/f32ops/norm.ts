// float32 normalizations and reductions over an [outer, len, inner] view of a dense tensor:
// Softmax / LogSoftmax (reduce over len; inner = 1 is the last-axis fast path), mean over len
// (ReduceMean, GlobalAveragePool), LayerNormalization (rows of `inner`), and the per-channel
// affine y = x·s[c] + t[c] (inference BatchNormalization, s and t folded by the planner).
// The references are in src/ops/ref/norm.ts (float64 sums); here sums are float32 SIMD
// partial sums combined in float64.

import { exp4, hmax, loadN, storeN } from './vec';

/**
 * Softmax (log = 0) or LogSoftmax (log ≠ 0) of one row of n floats at x into y (y = x allowed):
 * the inner = 1 path of f32_softmax__wasmsimd, shared with the fused attention kernel
 * (assembly/f32/attention.ts) so that both give the same bits.
 */
@inline export function softmaxRow(x: usize, y: usize, n: usize, log: i32): void {
  // max
  let vm = f32x4.splat(-Infinity);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) vm = f32x4.max(vm, v128.load(x + (i << 2)));
  let m = hmax(vm);
  for (; i < n; i++) m = max(m, load<f32>(x + (i << 2)));
  const vmax = f32x4.splat(m);
  // exp(x − max) (stored unless log) and its sum
  let acc: f64 = 0;
  let vs = f32x4.splat(0);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const e = exp4(f32x4.sub(v128.load(x + (i << 2)), vmax));
    if (!log) v128.store(y + (i << 2), e);
    vs = f32x4.add(vs, e);
  }
  if (i < n) {
    const e = exp4(f32x4.sub(loadN(x + (i << 2), n - i), vmax));
    const part = n - i;
    let t: f32 = f32x4.extract_lane(e, 0);
    if (part > 1) t += f32x4.extract_lane(e, 1);
    if (part > 2) t += f32x4.extract_lane(e, 2);
    acc += <f64>t;
    if (!log) storeN(y + (i << 2), e, part);
  }
  acc += <f64>f32x4.extract_lane(vs, 0) + <f64>f32x4.extract_lane(vs, 1) + <f64>f32x4.extract_lane(vs, 2) + <f64>f32x4.extract_lane(vs, 3);
  if (log) {
    // (x − max) − log(sum): x − max first, exact when x is near max (large inputs keep their digits)
    const lg = f32x4.splat(<f32>Math.log(acc));
    i = 0;
    for (; i + 4 <= n; i += 4) v128.store(y + (i << 2), f32x4.sub(f32x4.sub(v128.load(x + (i << 2)), vmax), lg));
    if (i < n) storeN(y + (i << 2), f32x4.sub(f32x4.sub(loadN(x + (i << 2), n - i), vmax), lg), n - i);
  } else {
    const inv = f32x4.splat(<f32>(1.0 / acc));
    i = 0;
    for (; i + 4 <= n; i += 4) v128.store(y + (i << 2), f32x4.mul(v128.load(y + (i << 2)), inv));
    if (i < n) storeN(y + (i << 2), f32x4.mul(loadN(y + (i << 2), n - i), inv), n - i);
  }
}

/** Softmax (log = 0) or LogSoftmax (log ≠ 0) of x over the middle axis of [outer, len, inner]. */
export function f32_softmax__wasmsimd(x: usize, y: usize, outer: i32, len: i32, inner: i32, log: i32): void {
  const n = <usize>len;
  if (inner == 1) {
    const rowB = n << 2;
    for (let o = 0; o < outer; o++) {
      softmaxRow(x, y, n, log);
      x += rowB; y += rowB;
    }
    return;
  }
  // strided: 4 inner positions per vector, the reduction runs over len rows of stride inner
  const I = <usize>inner, strideB = I << 2, blockB = n * strideB;
  for (let o = 0; o < outer; o++) {
    for (let j: usize = 0; j < I; j += 4) {
      const w = I - j < 4 ? I - j : 4;
      const px = x + (j << 2), py = y + (j << 2);
      let vm = f32x4.splat(-Infinity);
      for (let k: usize = 0; k < n; k++) vm = f32x4.max(vm, loadN(px + k * strideB, w));
      let vs = f32x4.splat(0);
      for (let k: usize = 0; k < n; k++) {
        const e = exp4(f32x4.sub(loadN(px + k * strideB, w), vm));
        vs = f32x4.add(vs, e);
        if (!log) storeN(py + k * strideB, e, w);
      }
      if (log) {
        // (x − max) − log(sum), the log lane by lane
        let lg = vs;
        lg = f32x4.replace_lane(lg, 0, Mathf.log(f32x4.extract_lane(vs, 0)));
        lg = f32x4.replace_lane(lg, 1, Mathf.log(f32x4.extract_lane(vs, 1)));
        lg = f32x4.replace_lane(lg, 2, Mathf.log(f32x4.extract_lane(vs, 2)));
        lg = f32x4.replace_lane(lg, 3, Mathf.log(f32x4.extract_lane(vs, 3)));
        for (let k: usize = 0; k < n; k++) storeN(py + k * strideB, f32x4.sub(f32x4.sub(loadN(px + k * strideB, w), vm), lg), w);
      } else {
        const inv = f32x4.div(f32x4.splat(1), vs);
        for (let k: usize = 0; k < n; k++) storeN(py + k * strideB, f32x4.mul(loadN(py + k * strideB, w), inv), w);
      }
    }
    x += blockB; y += blockB;
  }
}

/** Sum of n floats at p, float32 SIMD partial sums combined in float64. */
@inline export function rowSum(p: usize, n: usize): f64 {
  let v0 = f32x4.splat(0), v1 = v0;
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) { v0 = f32x4.add(v0, v128.load(p + (i << 2))); v1 = f32x4.add(v1, v128.load(p + (i << 2), 16)); }
  let s: f64 = 0;
  for (; i < n; i++) s += <f64>load<f32>(p + (i << 2));
  const v = f32x4.add(v0, v1);
  return s + (<f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1)) + (<f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3));
}

/** y[o, i] = mean over k of x[o, k, i] (ReduceMean of one axis block; GlobalAveragePool: inner = 1). */
export function f32_mean__wasmsimd(x: usize, y: usize, outer: i32, len: i32, inner: i32): void {
  const n = <usize>len;
  if (inner == 1) {
    for (let o = 0; o < outer; o++) {
      store<f32>(y, <f32>(rowSum(x, n) / <f64>len));
      x += n << 2; y += 4;
    }
    return;
  }
  const I = <usize>inner, strideB = I << 2;
  const inv = f32x4.splat(<f32>(1.0 / <f64>len));
  for (let o = 0; o < outer; o++) {
    for (let j: usize = 0; j < I; j += 4) {
      const w = I - j < 4 ? I - j : 4;
      let vs = f32x4.splat(0);
      for (let k: usize = 0; k < n; k++) vs = f32x4.add(vs, loadN(x + (j << 2) + k * strideB, w));
      storeN(y + (j << 2), f32x4.mul(vs, inv), w);
    }
    x += n * strideB; y += strideB;
  }
}

/**
 * LayerNormalization over rows of `inner`: y = (x − mean)·invStd·scale[i] + bias[i] (bias 0 =
 * none); mean / invStd (outer floats each) are written when their pointers are not 0.
 */
export function f32_layernorm__wasmsimd(x: usize, scale: usize, bias: usize, y: usize, meanOut: usize, invStdOut: usize,
  outer: i32, inner: i32, eps: f32): void {
  const n = <usize>inner, rowB = n << 2;
  for (let o = 0; o < outer; o++) {
    const mean = rowSum(x, n) / <f64>inner;
    const vmean = f32x4.splat(<f32>mean);
    // variance: two passes, like the reference
    let q0 = f32x4.splat(0);
    let i: usize = 0;
    for (; i + 4 <= n; i += 4) { const d = f32x4.sub(v128.load(x + (i << 2)), vmean); q0 = f32x4.add(q0, f32x4.mul(d, d)); }
    let q: f64 = <f64>f32x4.extract_lane(q0, 0) + <f64>f32x4.extract_lane(q0, 1) + <f64>f32x4.extract_lane(q0, 2) + <f64>f32x4.extract_lane(q0, 3);
    for (; i < n; i++) { const d = <f64>load<f32>(x + (i << 2)) - mean; q += d * d; }
    const invStd = 1.0 / Math.sqrt(q / <f64>inner + <f64>eps);
    const vinv = f32x4.splat(<f32>invStd);
    i = 0;
    for (; i + 4 <= n; i += 4) {
      let v = f32x4.mul(f32x4.mul(f32x4.sub(v128.load(x + (i << 2)), vmean), vinv), v128.load(scale + (i << 2)));
      if (bias) v = f32x4.add(v, v128.load(bias + (i << 2)));
      v128.store(y + (i << 2), v);
    }
    if (i < n) {
      const w = n - i;
      let v = f32x4.mul(f32x4.mul(f32x4.sub(loadN(x + (i << 2), w), vmean), vinv), loadN(scale + (i << 2), w));
      if (bias) v = f32x4.add(v, loadN(bias + (i << 2), w));
      storeN(y + (i << 2), v, w);
    }
    if (meanOut) store<f32>(meanOut + (<usize>o << 2), <f32>mean);
    if (invStdOut) store<f32>(invStdOut + (<usize>o << 2), <f32>invStd);
    x += rowB; y += rowB;
  }
}

/** y[o, c, i] = x[o, c, i]·s[c] + t[c] over [outer, C, inner] (inference BatchNormalization). */
export function f32_channel_affine__wasmsimd(x: usize, s: usize, t: usize, y: usize, outer: i32, C: i32, inner: i32): void {
  const n = <usize>inner, rowB = n << 2;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const vs = v128.load32_splat(s + (<usize>c << 2)), vt = v128.load32_splat(t + (<usize>c << 2));
      let i: usize = 0;
      for (; i + 4 <= n; i += 4) v128.store(y + (i << 2), f32x4.add(f32x4.mul(v128.load(x + (i << 2)), vs), vt));
      if (i < n) storeN(y + (i << 2), f32x4.add(f32x4.mul(loadN(x + (i << 2), n - i), vs), vt), n - i);
      x += rowB; y += rowB;
    }
  }
}
