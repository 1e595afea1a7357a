// The NaN scan of the sparrow-int8 engine's quantization boundaries (src/runtime/int8/lower.ts):
// int8 cannot hold NaN, so a float32 tensor about to be quantized is scanned first and the
// outputs that depend on it are made NaN after the run (docs/engine.md "NaN and Inf").

/** 1 when one of the n floats at x is NaN, else 0 (x ≠ x only for NaN). */
export function f32_has_nan__wasmsimd(x: usize, n: usize): i32 {
  let acc = i32x4.splat(0);
  let i: usize = 0;
  for (; i + 16 <= n; i += 16) {
    const p = x + (i << 2);
    const a = v128.load(p), b = v128.load(p, 16), c = v128.load(p, 32), d = v128.load(p, 48);
    acc = v128.or(acc, v128.or(v128.or(f32x4.ne(a, a), f32x4.ne(b, b)), v128.or(f32x4.ne(c, c), f32x4.ne(d, d))));
  }
  for (; i + 4 <= n; i += 4) { const a = v128.load(x + (i << 2)); acc = v128.or(acc, f32x4.ne(a, a)); }
  if (v128.any_true(acc)) return 1;
  for (; i < n; i++) { const v = load<f32>(x + (i << 2)); if (v != v) return 1; }
  return 0;
}
