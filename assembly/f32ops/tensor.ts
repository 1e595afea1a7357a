// Kernels on tensors of any dtype for the sparrow-f32 engine, which keeps integer and bool
// values in its arena as their typed arrays store them (int64 as 8-byte integers, bool as one
// byte 0/1): the small integer and mask chains of transformer graphs (indices, attention masks,
// position ids) run here instead of on the TS reference kernels. References: the ONNX reference
// kernels (src/ops/ref: cast.ts, binary.ts, select.ts, shape_ops.ts), which the engine tests
// compare with exactly, and src/kernels/f32_tfm_ref.ts for the row gather.
//
// Element types (the `t` arguments; src/kernels/f32_tfm.ts ELEM_TYPE):
//   0 float32   1 int64   2 int32   3 uint8 / bool (0/1)   4 int8
// Broadcast descriptors are those of binary.ts (19 words: rank, 6 dims, 6 A strides, 6 B
// strides; strides in elements) and, for Where, a 25-word one with a third stride row
// (rank, dims, cond strides, X strides, Y strides). The output is dense row-major.

const T_F32: i32 = 0, T_I64: i32 = 1, T_I32: i32 = 2, T_U8: i32 = 3, T_I8: i32 = 4;
const MAX_RANK: i32 = 6;
const CNT = memory.data(4 * 8);

@inline function elemShift(t: i32): usize {
  return t == T_I64 ? 3 : t == T_U8 || t == T_I8 ? 0 : 2;
}

@inline function dimAt(d: usize, k: i32): i32 { return load<i32>(d + ((<usize>(1 + k)) << 2)); }
@inline function strideAt(d: usize, row: i32, k: i32): i32 { return load<i32>(d + ((<usize>(1 + row * MAX_RANK + k)) << 2)); }

// ---- comparisons and logic ------------------------------------------------------------------

const EQ: i32 = 0, LT: i32 = 1, LE: i32 = 2, GT: i32 = 3, GE: i32 = 4, AND: i32 = 5, OR: i32 = 6, XOR: i32 = 7;

@inline function cmpF(op: i32, a: f32, b: f32): bool {
  if (op == EQ) return a == b;
  if (op == LT) return a < b;
  if (op == LE) return a <= b;
  if (op == GT) return a > b;
  return a >= b;
}

@inline function cmpI(op: i32, a: i64, b: i64): bool {
  if (op == EQ) return a == b;
  if (op == LT) return a < b;
  if (op == LE) return a <= b;
  if (op == GT) return a > b;
  if (op == GE) return a >= b;
  if (op == AND) return (a != 0) & (b != 0);
  if (op == OR) return (a != 0) | (b != 0);
  return (a != 0) != (b != 0);
}

@inline function loadI(t: i32, p: usize): i64 {
  if (t == T_I64) return load<i64>(p);
  if (t == T_I32) return <i64>load<i32>(p);
  if (t == T_I8) return <i64>load<i8>(p);
  return <i64>load<u8>(p);
}

/**
 * y[i] = a[i] op b[i] as bool (one byte 0/1), numpy broadcasting (descriptor d, strides in
 * elements of t): op 0 Equal, 1 Less, 2 LessOrEqual, 3 Greater, 4 GreaterOrEqual (t any type),
 * 5 And, 6 Or, 7 Xor (bool operands). NaN compares false (Equal(NaN, NaN) = 0).
 */
export function x_compare_bcast__wasm(op: i32, t: i32, d: usize, a: usize, b: usize, y: usize): void {
  const r = load<i32>(d);
  const sh = elemShift(t);
  const L = dimAt(d, r - 1);
  const sa = <usize>strideAt(d, 1, r - 1) << sh, sb = <usize>strideAt(d, 2, r - 1) << sh;
  let outer: i32 = 1;
  for (let k = 0; k < r - 1; k++) { outer *= dimAt(d, k); store<i32>(CNT + (<usize>k << 2), 0); }
  let ia: isize = 0, ib: isize = 0;
  for (let o = 0; o < outer; o++) {
    let pa = a + (<usize>ia << sh), pb = b + (<usize>ib << sh);
    if (t == T_F32) {
      for (let i = 0; i < L; i++) { store<u8>(y, <u8>cmpF(op, load<f32>(pa), load<f32>(pb))); pa += sa; pb += sb; y++; }
    } else {
      for (let i = 0; i < L; i++) { store<u8>(y, <u8>cmpI(op, loadI(t, pa), loadI(t, pb))); pa += sa; pb += sb; y++; }
    }
    for (let k = r - 2; k >= 0; k--) {
      const pc = CNT + (<usize>k << 2);
      const c = load<i32>(pc) + 1;
      const ak = strideAt(d, 1, k), bk = strideAt(d, 2, k);
      ia += ak; ib += bk;
      if (c < dimAt(d, k)) { store<i32>(pc, c); break; }
      ia -= <isize>ak * c; ib -= <isize>bk * c;
      store<i32>(pc, 0);
    }
  }
}

/** y = !x over n bools (bytes 0/1). */
export function x_not__wasm(x: usize, y: usize, n: usize): void {
  for (let i: usize = 0; i < n; i++) store<u8>(y + i, load<u8>(x + i) == 0 ? 1 : 0);
}

// ---- Where ----------------------------------------------------------------------------------

/**
 * y = cond ? x : z with numpy broadcasting over the three (25-word descriptor d: rank, dims,
 * cond / x / z strides in elements); cond bool bytes, x / z / y elements of 2^esh bytes
 * (esh 0..3), copied bit for bit.
 */
export function x_where_bcast__wasm(d: usize, c: usize, x: usize, z: usize, y: usize, esh: i32): void {
  const r = load<i32>(d);
  const sh = <usize>esh;
  const L = dimAt(d, r - 1);
  const sc = <usize>strideAt(d, 1, r - 1), sx = <usize>strideAt(d, 2, r - 1) << sh, sz = <usize>strideAt(d, 3, r - 1) << sh;
  let outer: i32 = 1;
  for (let k = 0; k < r - 1; k++) { outer *= dimAt(d, k); store<i32>(CNT + (<usize>k << 2), 0); }
  let ic: isize = 0, ix: isize = 0, iz: isize = 0;
  const eb: usize = <usize>1 << sh;
  for (let o = 0; o < outer; o++) {
    let pc = c + <usize>ic, px = x + (<usize>ix << sh), pz = z + (<usize>iz << sh);
    if (sh == 2) {
      for (let i = 0; i < L; i++) { store<u32>(y, load<u8>(pc) ? load<u32>(px) : load<u32>(pz)); pc += sc; px += sx; pz += sz; y += 4; }
    } else if (sh == 3) {
      for (let i = 0; i < L; i++) { store<u64>(y, load<u8>(pc) ? load<u64>(px) : load<u64>(pz)); pc += sc; px += sx; pz += sz; y += 8; }
    } else if (sh == 1) {
      for (let i = 0; i < L; i++) { store<u16>(y, load<u8>(pc) ? load<u16>(px) : load<u16>(pz)); pc += sc; px += sx; pz += sz; y += 2; }
    } else {
      for (let i = 0; i < L; i++) { store<u8>(y, load<u8>(pc) ? load<u8>(px) : load<u8>(pz)); pc += sc; px += sx; pz += sz; y += eb; }
    }
    for (let k = r - 2; k >= 0; k--) {
      const p = CNT + (<usize>k << 2);
      const cnt = load<i32>(p) + 1;
      const ck = strideAt(d, 1, k), xk = strideAt(d, 2, k), zk = strideAt(d, 3, k);
      ic += ck; ix += xk; iz += zk;
      if (cnt < dimAt(d, k)) { store<i32>(p, cnt); break; }
      ic -= <isize>ck * cnt; ix -= <isize>xk * cnt; iz -= <isize>zk * cnt;
      store<i32>(p, 0);
    }
  }
}

// ---- Cast -----------------------------------------------------------------------------------

const INT64_MIN: i64 = -9223372036854775808;

/** x86 cvttss2si, 64-bit (as src/ops/ref/cast.ts): truncation, INT64_MIN for NaN and out of range. */
@inline function cvtt64(x: f32): i64 {
  return <f64>x >= -9223372036854775808.0 && <f64>x < 9223372036854775808.0 ? <i64>x : INT64_MIN;
}

/** x86 cvttss2si, 32-bit: truncation, INT32_MIN for NaN and out of range. */
@inline function cvtt32(x: f32): i32 {
  return <f64>x > -2147483649.0 && <f64>x < 2147483648.0 ? <i32>x : -2147483648;
}

/**
 * y = Cast(x) over n elements, from type `from` to type `to` (0 float32, 1 int64, 2 int32,
 * 3 uint8 or bool, 4 int8; `toBool` ≠ 0: the target is bool, value ≠ 0), with the reference's
 * results (src/ops/ref/cast.ts): integers to float32 rounded once to nearest even; float32 to
 * integers truncated toward zero, NaN / out of range as x86's conversions (int64: INT64_MIN;
 * int32: INT32_MIN; int8 / uint8: the low bits of the int32 conversion); integers to narrower
 * integers wrap. Returns 0, or −5 for a pair it does not convert.
 */
export function x_cast__wasm(x: usize, y: usize, n: usize, from: i32, to: i32, toBool: i32): i32 {
  const si = elemShift(from), so = elemShift(to);
  if (toBool) {
    for (let i: usize = 0; i < n; i++) {
      const p = x + (i << si);
      const v: bool = from == T_F32 ? load<f32>(p) != 0 : loadI(from, p) != 0; // NaN ≠ 0: true
      store<u8>(y + i, <u8>v);
    }
    return 0;
  }
  for (let i: usize = 0; i < n; i++) {
    const p = x + (i << si), q = y + (i << so);
    if (from == T_F32) {
      const v = load<f32>(p);
      if (to == T_F32) store<f32>(q, v);
      else if (to == T_I64) store<i64>(q, cvtt64(v));
      else if (to == T_I32) store<i32>(q, cvtt32(v));
      else store<u8>(q, <u8>cvtt32(v));
    } else {
      const v = loadI(from, p);
      if (to == T_F32) store<f32>(q, <f32>v); // f32.convert_i64_s: one rounding to nearest even
      else if (to == T_I64) store<i64>(q, v);
      else if (to == T_I32) store<i32>(q, <i32>v);
      else store<u8>(q, <u8>v);
    }
  }
  return 0;
}

// ---- float32 unary: Neg, Sin, Cos -----------------------------------------------------------

/** y = −x over n floats (the sign bit flipped, NaN included). In place allowed. */
export function f32_neg__wasmsimd(x: usize, y: usize, n: usize): void {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (i << 2), f32x4.neg(v128.load(x + (i << 2))));
  for (; i < n; i++) store<f32>(y + (i << 2), -load<f32>(x + (i << 2)));
}

/** y = sin(x) (fn 0) or cos(x) (fn 1) over n floats: the float64 function of the float32 value, rounded once. */
export function f32_sincos__wasm(x: usize, y: usize, n: usize, fn: i32): void {
  if (fn == 0) for (let i: usize = 0; i < n; i++) store<f32>(y + (i << 2), <f32>Math.sin(<f64>load<f32>(x + (i << 2))));
  else for (let i: usize = 0; i < n; i++) store<f32>(y + (i << 2), <f32>Math.cos(<f64>load<f32>(x + (i << 2))));
}

// ---- gathers and copies ---------------------------------------------------------------------

/**
 * Gather of rows with indices computed at run time: y[o, j, :] = x[o, idx[j], :] for o < outer,
 * j < nIdx, rows of rowBytes bytes, x of `len` rows per outer block; indices int64 (idx64 ≠ 0)
 * or int32, negative ones counted from the end (ONNX). Returns −1 when every index is in
 * [−len, len), else the position j of the first one outside it (nothing is written then).
 */
export function x_gather_rows__wasm(x: usize, outer: i32, len: i32, rowBytes: usize, idx: usize, nIdx: i32, idx64: i32, y: usize): i32 {
  for (let j = 0; j < nIdx; j++) {
    const v: i64 = idx64 ? load<i64>(idx + (<usize>j << 3)) : <i64>load<i32>(idx + (<usize>j << 2));
    if (v < -<i64>len || v >= <i64>len) return j;
  }
  const blockB = <usize>len * rowBytes;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < nIdx; j++) {
      let v: i64 = idx64 ? load<i64>(idx + (<usize>j << 3)) : <i64>load<i32>(idx + (<usize>j << 2));
      if (v < 0) v += <i64>len;
      memory.copy(y, x + <usize>v * rowBytes, rowBytes);
      y += rowBytes;
    }
    x += blockB;
  }
  return -1;
}

/**
 * The remap of move.ts (same descriptor: per-axis tables of source offsets in elements, −1 =
 * fill) for elements of 2^esh bytes (esh 0..3), any dtype: Transpose, Slice, Expand, Concat,
 * Split, Gather with constant indices, Pad with a zero fill, on integer and bool tensors.
 */
export function x_remap__wasm(d: usize, src: usize, dst: usize, esh: i32): void {
  const r = load<i32>(d);
  const sh = <usize>esh, eb: usize = <usize>1 << sh;
  const contiguous = load<i32>(d, 4) != 0;
  const last = 2 + 3 * (r - 1);
  const n = load<i32>(d + (<usize>last << 2)), ds = <isize>load<i32>(d + (<usize>(last + 1) << 2));
  const tab = <usize>load<i32>(d + (<usize>(last + 2) << 2));
  let outer = 1;
  for (let k = 0; k < r - 1; k++) { outer *= load<i32>(d + (<usize>(2 + 3 * k) << 2)); store<i32>(CNT + (<usize>k << 2), 0); }
  if (n == 0 || outer == 0) return;
  for (let o = 0; o < outer; o++) {
    let so: isize = 0, doff: isize = 0;
    let isFill = false;
    for (let k = 0; k < r - 1; k++) {
      const i = load<i32>(CNT + (<usize>k << 2));
      const t = load<i32>(<usize>load<i32>(d + (<usize>(2 + 3 * k + 2) << 2)) + (<usize>i << 2));
      if (t < 0) isFill = true;
      so += t;
      doff += <isize>i * <isize>load<i32>(d + (<usize>(2 + 3 * k + 1) << 2));
    }
    let py = dst + (<usize>doff << sh);
    const step = <usize>ds << sh;
    if (isFill) {
      for (let i = 0; i < n; i++) { memory.fill(py, 0, eb); py += step; }
    } else if (contiguous) {
      memory.copy(py, src + (<usize>(so + <isize>load<i32>(tab)) << sh), <usize>n << sh);
    } else {
      const px = src + (<usize>so << sh);
      for (let i = 0; i < n; i++) {
        const t = load<i32>(tab + (<usize>i << 2));
        if (t < 0) memory.fill(py, 0, eb);
        else if (sh == 3) store<u64>(py, load<u64>(px + (<usize>t << 3)));
        else if (sh == 2) store<u32>(py, load<u32>(px + (<usize>t << 2)));
        else if (sh == 1) store<u16>(py, load<u16>(px + (<usize>t << 1)));
        else store<u8>(py, load<u8>(px + <usize>t));
        py += step;
      }
    }
    for (let k = r - 2; k >= 0; k--) {
      const p = CNT + (<usize>k << 2);
      const i = load<i32>(p) + 1;
      if (i < load<i32>(d + (<usize>(2 + 3 * k) << 2))) { store<i32>(p, i); break; }
      store<i32>(p, 0);
    }
  }
}
