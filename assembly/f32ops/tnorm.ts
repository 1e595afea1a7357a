// The normalizations transformer exporters emit as chains of elementwise ops, each fused
// (src/ir/fuse_patterns.ts) into one kernel that computes exactly what the chain computes on
// the engine's own kernels (ReduceMean = f32_mean's row sum, then float32 +, −, ×, ÷, sqrt
// element by element): the fused graph gives the unfused sparrow-f32 graph's bits. Rows of n
// floats (the last axis), `outer` rows. References: src/kernels/f32_tfm_ref.ts (bit for bit).
//
//   layernorm_ops  ReduceMean → Sub → Pow 2 → ReduceMean → Add ε → Sqrt → Div [→ Mul w] [→ Add b]
//     mean = f32(Σx / n); d = x − mean; v = f32(Σd² / n); s = sqrt(v + ε); y = d / s · w + b
//   rmsnorm_ops    Pow 2 → ReduceMean → Add ε → Sqrt → (Div 1 / s → Mul x | Div x / s) [→ Mul w]
//     q = f32(Σx² / n); s = sqrt(q + ε); y = x · (1 / s) (mode 0) or x / s (mode 1); · w
// Σ is f32_mean's order: two 4-lane float32 accumulators over blocks of 8, the tail in float64,
// then the lanes combined in float64. w, b: n floats, or 0 for none.

import { loadN, storeN } from './vec';

/** Σ (x − m)² over n floats at p in the order of norm.ts rowSum (m = 0: Σ x²). */
@inline function rowSumSq(p: usize, n: usize, m: f32): f64 {
  const vm = f32x4.splat(m);
  let v0 = f32x4.splat(0), v1 = v0;
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) {
    const d0 = f32x4.sub(v128.load(p + (i << 2)), vm), d1 = f32x4.sub(v128.load(p + (i << 2), 16), vm);
    v0 = f32x4.add(v0, f32x4.mul(d0, d0));
    v1 = f32x4.add(v1, f32x4.mul(d1, d1));
  }
  let s: f64 = 0;
  for (; i < n; i++) {
    const d: f32 = load<f32>(p + (i << 2)) - m;
    s += <f64>(d * d);
  }
  const v = f32x4.add(v0, v1);
  return s + (<f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1)) + (<f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3));
}

/** Σ x over n floats at p (norm.ts rowSum). */
@inline function rowSum(p: usize, n: usize): f64 {
  let v0 = f32x4.splat(0), v1 = v0;
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) { v0 = f32x4.add(v0, v128.load(p + (i << 2))); v1 = f32x4.add(v1, v128.load(p + (i << 2), 16)); }
  let s: f64 = 0;
  for (; i < n; i++) s += <f64>load<f32>(p + (i << 2));
  const v = f32x4.add(v0, v1);
  return s + (<f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1)) + (<f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3));
}

/** The decomposed LayerNorm (header) over `outer` rows of n floats; y = x allowed. */
export function f32_layernorm_ops__wasmsimd(x: usize, w: usize, b: usize, y: usize, outer: i32, n: i32, eps: f32): void {
  const len = <usize>n, rowB = len << 2;
  for (let o = 0; o < outer; o++) {
    const mean = <f32>(rowSum(x, len) / <f64>n);
    const v = <f32>(rowSumSq(x, len, mean) / <f64>n);
    const s = Mathf.sqrt(v + eps);
    const vm = f32x4.splat(mean), vs = f32x4.splat(s);
    let i: usize = 0;
    for (; i < len; i += 4) {
      const k = len - i < 4 ? len - i : 4;
      let r = f32x4.div(f32x4.sub(loadN(x + (i << 2), k), vm), vs);
      if (w) r = f32x4.mul(r, loadN(w + (i << 2), k));
      if (b) r = f32x4.add(r, loadN(b + (i << 2), k));
      storeN(y + (i << 2), r, k);
    }
    x += rowB; y += rowB;
  }
}

/** The decomposed RMSNorm (header) over `outer` rows of n floats; mode 0: x·(1/s), 1: x/s; y = x allowed. */
export function f32_rmsnorm_ops__wasmsimd(x: usize, w: usize, y: usize, outer: i32, n: i32, eps: f32, mode: i32): void {
  const len = <usize>n, rowB = len << 2;
  for (let o = 0; o < outer; o++) {
    const q = <f32>(rowSumSq(x, len, 0) / <f64>n);
    const s = Mathf.sqrt(q + eps);
    const vr = f32x4.splat(mode == 0 ? <f32>1 / s : s);
    let i: usize = 0;
    for (; i < len; i += 4) {
      const k = len - i < 4 ? len - i : 4;
      let r = mode == 0 ? f32x4.mul(loadN(x + (i << 2), k), vr) : f32x4.div(loadN(x + (i << 2), k), vr);
      if (w) r = f32x4.mul(r, loadN(w + (i << 2), k));
      storeN(y + (i << 2), r, k);
    }
    x += rowB; y += rowB;
  }
}
