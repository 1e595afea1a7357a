// float32 elementwise binary ops with numpy broadcasting: Add, Sub, Mul, Div (SIMD) and Pow
// (scalar Mathf.pow). The reference is src/ops/ref/elementwise.ts (float64 math rounded once;
// for + − × ÷ that is exactly IEEE float32, which these kernels compute).
//
// Broadcast descriptor at `d` (i32 words, written once by the planner, src/runtime/engine_f32.ts):
//   0 rank r (1..6)   1..6 out dims (only r used)   7..12 A strides   13..18 B strides
// Strides are in elements, 0 along broadcast dims. The planner collapses dims first (merges
// neighbours that are contiguous in the output and in both inputs, drops size-1 dims), so the
// common cases are one row: same shape (r = 1, strides 1/1), scalar (r = 1, strides 1/0),
// per-channel NCHW + C11 (r = 3 [N, C, HW], B strides [0, 1, 0]). The innermost dim runs as a
// SIMD row: vector⊕vector, vector⊕splat or splat⊕vector. The output is dense row-major.
// In place (y = a or y = b with the same shape as y) is allowed.

import { loadN, storeN } from './vec';

const ADD: i32 = 0, SUB: i32 = 1, MUL: i32 = 2, DIV: i32 = 3, POW: i32 = 4;
const MAX_RANK: i32 = 6;
const CNT = memory.data(4 * 8);

@inline function vop(op: i32, x: v128, y: v128): v128 {
  if (op == ADD) return f32x4.add(x, y);
  if (op == SUB) return f32x4.sub(x, y);
  if (op == MUL) return f32x4.mul(x, y);
  return f32x4.div(x, y);
}

@inline function sop(op: i32, x: f32, y: f32): f32 {
  if (op == ADD) return x + y;
  if (op == SUB) return x - y;
  if (op == MUL) return x * y;
  if (op == DIV) return x / y;
  return Mathf.pow(x, y);
}

/** One row of n outputs; sa/sb: inner strides (1 or 0) of A and B. */
@inline function row(op: i32, a: usize, b: usize, y: usize, n: usize, sa: i32, sb: i32): void {
  if (op == POW) {
    const da: usize = sa ? 4 : 0, db: usize = sb ? 4 : 0;
    for (let i: usize = 0; i < n; i++) { store<f32>(y, sop(op, load<f32>(a), load<f32>(b))); a += da; b += db; y += 4; }
    return;
  }
  let i: usize = 0;
  if (sa && sb) {
    for (; i + 8 <= n; i += 8) {
      const r0 = vop(op, v128.load(a), v128.load(b)), r1 = vop(op, v128.load(a, 16), v128.load(b, 16));
      v128.store(y, r0); v128.store(y, r1, 16);
      a += 32; b += 32; y += 32;
    }
    for (; i + 4 <= n; i += 4) { v128.store(y, vop(op, v128.load(a), v128.load(b))); a += 16; b += 16; y += 16; }
    if (i < n) storeN(y, vop(op, loadN(a, n - i), loadN(b, n - i)), n - i);
  } else if (sa) {
    const vb = v128.load32_splat(b);
    for (; i + 8 <= n; i += 8) {
      const r0 = vop(op, v128.load(a), vb), r1 = vop(op, v128.load(a, 16), vb);
      v128.store(y, r0); v128.store(y, r1, 16);
      a += 32; y += 32;
    }
    for (; i + 4 <= n; i += 4) { v128.store(y, vop(op, v128.load(a), vb)); a += 16; y += 16; }
    if (i < n) storeN(y, vop(op, loadN(a, n - i), vb), n - i);
  } else if (sb) {
    const va = v128.load32_splat(a);
    for (; i + 8 <= n; i += 8) {
      const r0 = vop(op, va, v128.load(b)), r1 = vop(op, va, v128.load(b, 16));
      v128.store(y, r0); v128.store(y, r1, 16);
      b += 32; y += 32;
    }
    for (; i + 4 <= n; i += 4) { v128.store(y, vop(op, va, v128.load(b))); b += 16; y += 16; }
    if (i < n) storeN(y, vop(op, va, loadN(b, n - i)), n - i);
  } else {
    const v = sop(op, load<f32>(a), load<f32>(b));
    for (; i < n; i++) { store<f32>(y, v); y += 4; }
  }
}

@inline function dimAt(d: usize, k: i32): i32 { return load<i32>(d + ((<usize>(1 + k)) << 2)); }
@inline function saAt(d: usize, k: i32): i32 { return load<i32>(d + ((<usize>(1 + MAX_RANK + k)) << 2)); }
@inline function sbAt(d: usize, k: i32): i32 { return load<i32>(d + ((<usize>(1 + 2 * MAX_RANK + k)) << 2)); }

@inline function broadcast(op: i32, d: usize, a: usize, b: usize, y: usize): void {
  const r = load<i32>(d);
  const L = <usize>dimAt(d, r - 1);
  const sa = saAt(d, r - 1), sb = sbAt(d, r - 1);
  let outer: i32 = 1;
  for (let k = 0; k < r - 1; k++) { outer *= dimAt(d, k); store<i32>(CNT + (<usize>k << 2), 0); }
  let ia: isize = 0, ib: isize = 0;
  const rowB = L << 2;
  for (let o = 0; o < outer; o++) {
    row(op, a + (<usize>ia << 2), b + (<usize>ib << 2), y, L, sa, sb);
    y += rowB;
    for (let k = r - 2; k >= 0; k--) {
      const pc = CNT + (<usize>k << 2);
      const c = load<i32>(pc) + 1;
      const ak = saAt(d, k), bk = sbAt(d, k);
      ia += ak; ib += bk;
      if (c < dimAt(d, k)) { store<i32>(pc, c); break; }
      ia -= <isize>ak * c; ib -= <isize>bk * c;
      store<i32>(pc, 0);
    }
  }
}

/** y = a + b (broadcast descriptor d). */
export function f32_add_bcast__wasmsimd(d: usize, a: usize, b: usize, y: usize): void { broadcast(ADD, d, a, b, y); }
/** y = a − b (broadcast descriptor d). */
export function f32_sub_bcast__wasmsimd(d: usize, a: usize, b: usize, y: usize): void { broadcast(SUB, d, a, b, y); }
/** y = a · b (broadcast descriptor d). */
export function f32_mul_bcast__wasmsimd(d: usize, a: usize, b: usize, y: usize): void { broadcast(MUL, d, a, b, y); }
/** y = a / b (broadcast descriptor d). */
export function f32_div_bcast__wasmsimd(d: usize, a: usize, b: usize, y: usize): void { broadcast(DIV, d, a, b, y); }
/** y = a ^ b (broadcast descriptor d), Mathf.pow per element. */
export function f32_pow_bcast__scalar(d: usize, a: usize, b: usize, y: usize): void { broadcast(POW, d, a, b, y); }
