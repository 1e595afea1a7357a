// float32 data movement, one kernel for Transpose, Slice (any steps), Pad (constant, edge,
// reflect, wrap), Concat / Split (one call per part, into / out of a sub-block), Gather with
// constant indices and Expand: every one of them writes y[i0, ..., ir-1] = x[Σ tab_k[i_k]],
// a sum of per-axis source offsets (tables precomputed by the planner, src/runtime/engine_f32.ts),
// or `fill` where any axis's table holds -1 (constant padding). The planner collapses axes
// first (neighbours that stay contiguous merge), so a plain copy is one memory.copy.
// References: src/ops/ref/shape_ops.ts.
//
// Descriptor at d (i32 words): 0 rank r (1..8); 1 inner-contiguous flag (the last axis's table
// is t0, t0+1, ... with no -1 and dst stride 1: rows are memory.copy); then per axis k at
// 2 + 3k: n_k, dst stride (elements), table pointer (n_k i32 source offsets in elements, -1 =
// fill). src and dst must not overlap.

const MAX_RANK: i32 = 8;
const IDX = memory.data(4 * 8);

@inline function w(d: usize, i: i32): i32 { return load<i32>(d + (<usize>i << 2)); }

export function f32_remap__wasm(d: usize, src: usize, dst: usize, fill: f32): void {
  const r = w(d, 0);
  const contiguous = w(d, 1) != 0;
  const last = 2 + 3 * (r - 1);
  const n = w(d, last), ds = <isize>w(d, last + 1), tab = <usize>w(d, last + 2);
  let outer = 1;
  for (let k = 0; k < r - 1; k++) { outer *= w(d, 2 + 3 * k); store<i32>(IDX + (<usize>k << 2), 0); }
  if (n == 0 || outer == 0) return;
  for (let o = 0; o < outer; o++) {
    // offsets of this row from the outer axes' tables
    let so: isize = 0, doff: isize = 0;
    let isFill = false;
    for (let k = 0; k < r - 1; k++) {
      const i = load<i32>(IDX + (<usize>k << 2));
      const t = load<i32>(<usize>w(d, 2 + 3 * k + 2) + (<usize>i << 2));
      if (t < 0) isFill = true;
      so += t;
      doff += <isize>i * <isize>w(d, 2 + 3 * k + 1);
    }
    let py = dst + (<usize>doff << 2);
    if (isFill) {
      for (let i = 0; i < n; i++) { store<f32>(py, fill); py += <usize>(ds << 2); }
    } else if (contiguous) {
      memory.copy(py, src + (<usize>(so + <isize>load<i32>(tab)) << 2), <usize>n << 2);
    } else {
      const px = src + (<usize>so << 2);
      for (let i = 0; i < n; i++) {
        const t = load<i32>(tab + (<usize>i << 2));
        store<f32>(py, t < 0 ? fill : load<f32>(px + (<usize>t << 2)));
        py += <usize>(ds << 2);
      }
    }
    // odometer
    for (let k = r - 2; k >= 0; k--) {
      const p = IDX + (<usize>k << 2);
      const i = load<i32>(p) + 1;
      if (i < w(d, 2 + 3 * k)) { store<i32>(p, i); break; }
      store<i32>(p, 0);
    }
  }
}

/** Fills n floats at y with v. */
export function f32_fill__wasm(y: usize, n: usize, v: f32): void {
  const vv = f32x4.splat(v);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (i << 2), vv);
  for (; i < n; i++) store<f32>(y + (i << 2), v);
}
