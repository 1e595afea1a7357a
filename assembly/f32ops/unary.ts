// float32 elementwise unary ops, SIMD: Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid,
// HardSwish, Exp, Sqrt, Erf, Gelu (erf and tanh forms), Pow with a scalar exponent. The
// reference is src/ops/ref/elementwise.ts. x (n), y (n) float32; y = x (in place) is allowed.
// NaN stays NaN everywhere (Relu and Clip included, as the reference).

import { erf4, exp4, loadN, sigmoid4, silu4, storeN, tanh4 } from './vec';

const RELU: i32 = 0, LEAKY: i32 = 1, CLIP: i32 = 2, SIGMOID: i32 = 3, TANH: i32 = 4, HSIG: i32 = 5, HSWISH: i32 = 6;
const EXP: i32 = 7, SQRT: i32 = 8, ERF: i32 = 9, GELU: i32 = 10, GELU_TANH: i32 = 11, SQUARE: i32 = 12, CUBE: i32 = 13;
const RECIP: i32 = 14, POW_HALF: i32 = 15, SILU: i32 = 16;

@inline function f(op: i32, x: v128, p0: v128, p1: v128): v128 {
  if (op == RELU) return f32x4.max(x, f32x4.splat(0));
  if (op == LEAKY) return v128.bitselect(x, f32x4.mul(x, p0), f32x4.ge(x, f32x4.splat(0)));
  if (op == CLIP) return f32x4.min(f32x4.max(x, p0), p1);
  if (op == SIGMOID) return sigmoid4(x);
  if (op == SILU) return silu4(x);
  if (op == TANH) return tanh4(x);
  if (op == HSIG) return f32x4.max(f32x4.splat(0), f32x4.min(f32x4.splat(1), f32x4.add(f32x4.mul(x, p0), p1)));
  if (op == HSWISH) {
    // pmin/pmax, not min/max (whose NaN and signed-zero rules cost V8 ~7 instructions each on
    // x64: the pass ran 2.6x slower), with the same bits: t is NaN only when x is, and x·(any)
    // is then NaN; t is never −0 (x/6 + 0.5 = 0 only as +0); x = ±Inf as before (Inf·1, −Inf·0 = NaN)
    const t = f32x4.add(f32x4.div(x, f32x4.splat(6)), f32x4.splat(0.5));
    return f32x4.mul(x, f32x4.pmax(f32x4.splat(0), f32x4.pmin(f32x4.splat(1), t)));
  }
  if (op == EXP) return exp4(x);
  if (op == SQRT) return f32x4.sqrt(x);
  if (op == ERF) return erf4(x);
  if (op == GELU) {
    const e = erf4(f32x4.mul(x, f32x4.splat(0.7071067811865476)));
    return f32x4.mul(f32x4.mul(f32x4.splat(0.5), x), f32x4.add(f32x4.splat(1), e));
  }
  if (op == GELU_TANH) {
    const x3 = f32x4.mul(f32x4.mul(x, x), x);
    const u = f32x4.mul(f32x4.splat(0.7978845608028654), f32x4.add(x, f32x4.mul(f32x4.splat(0.044715), x3)));
    return f32x4.mul(f32x4.mul(f32x4.splat(0.5), x), f32x4.add(f32x4.splat(1), tanh4(u)));
  }
  if (op == SQUARE) return f32x4.mul(x, x);
  if (op == CUBE) return f32x4.mul(f32x4.mul(x, x), x);
  if (op == POW_HALF) {
    // pow(x, 0.5): sqrt, except pow(−0, 0.5) = +0 and pow(−∞, 0.5) = +∞
    const r = f32x4.add(f32x4.sqrt(x), f32x4.splat(0));
    return v128.bitselect(f32x4.splat(Infinity), r, f32x4.eq(x, f32x4.splat(-Infinity)));
  }
  return f32x4.div(f32x4.splat(1), x); // RECIP
}

@inline function map(op: i32, x: usize, y: usize, n: usize, a: f32, b: f32): void {
  const p0 = f32x4.splat(a), p1 = f32x4.splat(b);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) { v128.store(y, f(op, v128.load(x), p0, p1)); x += 16; y += 16; }
  if (i < n) storeN(y, f(op, loadN(x, n - i), p0, p1), n - i);
}

export function f32_relu__wasmsimd(x: usize, y: usize, n: usize): void { map(RELU, x, y, n, 0, 0); }
/** x ≥ 0 ? x : alpha·x */
export function f32_leakyrelu__wasmsimd(x: usize, y: usize, n: usize, alpha: f32): void { map(LEAKY, x, y, n, alpha, 0); }
/** min(max(x, lo), hi) (lo > hi gives hi, as ONNX) */
export function f32_clip__wasmsimd(x: usize, y: usize, n: usize, lo: f32, hi: f32): void { map(CLIP, x, y, n, lo, hi); }
export function f32_sigmoid__wasmsimd(x: usize, y: usize, n: usize): void { map(SIGMOID, x, y, n, 0, 0); }
export function f32_tanh__wasmsimd(x: usize, y: usize, n: usize): void { map(TANH, x, y, n, 0, 0); }
/** max(0, min(1, alpha·x + beta)) */
export function f32_hardsigmoid__wasmsimd(x: usize, y: usize, n: usize, alpha: f32, beta: f32): void { map(HSIG, x, y, n, alpha, beta); }
export function f32_hardswish__wasmsimd(x: usize, y: usize, n: usize): void { map(HSWISH, x, y, n, 0, 0); }
export function f32_exp__wasmsimd(x: usize, y: usize, n: usize): void { map(EXP, x, y, n, 0, 0); }
export function f32_sqrt__wasmsimd(x: usize, y: usize, n: usize): void { map(SQRT, x, y, n, 0, 0); }
export function f32_erf__wasmsimd(x: usize, y: usize, n: usize): void { map(ERF, x, y, n, 0, 0); }
/** 0.5·x·(1 + erf(x/√2)); tanhForm ≠ 0: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715x³))) */
export function f32_gelu__wasmsimd(x: usize, y: usize, n: usize, tanhForm: i32): void {
  if (tanhForm) map(GELU_TANH, x, y, n, 0, 0);
  else map(GELU, x, y, n, 0, 0);
}

/** x ^ e for a scalar exponent: SIMD for e ∈ {1, 2, 3, −1, 0.5}, Mathf.pow otherwise. */
export function f32_pow_scalar__wasmsimd(x: usize, y: usize, n: usize, e: f32): void {
  if (e == 2) { map(SQUARE, x, y, n, 0, 0); return; }
  if (e == 3) { map(CUBE, x, y, n, 0, 0); return; }
  if (e == -1) { map(RECIP, x, y, n, 0, 0); return; }
  if (e == 0.5) { map(POW_HALF, x, y, n, 0, 0); return; }
  if (e == 1) { if (x != y) memory.copy(y, x, n << 2); return; }
  for (let i: usize = 0; i < n; i++) store<f32>(y + (i << 2), Mathf.pow(load<f32>(x + (i << 2)), e));
}

// ---- fused activations ---------------------------------------------------------------------
// The activation a Conv / Gemm / MatMul kernel applies to what it writes (the `act` word of the
// conv geometry, the `act` argument of the GEMMs): 1 (a clamp to [lo, hi], Relu and Clip) runs
// inside the tiles; the others run over each block right after the tiles store it, while it is
// in L1, with the same vector functions as the standalone kernels (so a fused activation is bit
// for bit the unfused one). HardSigmoid takes alpha = lo, beta = hi.
export const ACT_NONE: i32 = 0, ACT_CLAMP: i32 = 1, ACT_SIGMOID: i32 = 2, ACT_SILU: i32 = 3, ACT_HARDSWISH: i32 = 4;
export const ACT_HARDSIGMOID: i32 = 5, ACT_TANH: i32 = 6, ACT_GELU: i32 = 7, ACT_GELU_TANH: i32 = 8;

/**
 * The post activation `act` (≥ 2) over n floats at y, in place: a call of the standalone kernel
 * (each its own small WASM function: with the seven loops inlined into one function, V8 ran the
 * SiLU loop ~1.45x slower than f32_silu__wasmsimd itself, measured on 401k floats).
 */
export function applyAct(act: i32, y: usize, n: usize, a: f32, b: f32): void {
  switch (act) {
    case ACT_SIGMOID: f32_sigmoid__wasmsimd(y, y, n); break;
    case ACT_SILU: f32_silu__wasmsimd(y, y, n); break;
    case ACT_HARDSWISH: f32_hardswish__wasmsimd(y, y, n); break;
    case ACT_HARDSIGMOID: f32_hardsigmoid__wasmsimd(y, y, n, a, b); break;
    case ACT_TANH: f32_tanh__wasmsimd(y, y, n); break;
    case ACT_GELU: f32_gelu__wasmsimd(y, y, n, 0); break;
    case ACT_GELU_TANH: f32_gelu__wasmsimd(y, y, n, 1); break;
    default: break;
  }
}

/**
 * The post activation `act` (≥ 2) of 4 lanes in registers, the same vector function applyAct
 * maps over memory (bit for bit): the int8 kernels' float32 output stage (assembly/int8/common.ts
 * storeRow8, Q_ACT) applies it per 8 outputs before the store. p0, p1: HardSigmoid's alpha, beta.
 */
@inline export function actV(act: i32, x: v128, p0: v128, p1: v128): v128 {
  switch (act) {
    case ACT_SIGMOID: return f(SIGMOID, x, p0, p1);
    case ACT_SILU: return f(SILU, x, p0, p1);
    case ACT_HARDSWISH: return f(HSWISH, x, p0, p1);
    case ACT_HARDSIGMOID: return f(HSIG, x, p0, p1);
    case ACT_TANH: return f(TANH, x, p0, p1);
    case ACT_GELU: return f(GELU, x, p0, p1);
    case ACT_GELU_TANH: return f(GELU_TANH, x, p0, p1);
    default: return x;
  }
}

/** applyAct over `rows` rows of `cols` floats, row stride ldcB bytes. */
export function applyActRows(act: i32, c: usize, ldcB: usize, rows: usize, cols: usize, a: f32, b: f32): void {
  for (let r: usize = 0; r < rows; r++) applyAct(act, c + r * ldcB, cols, a, b);
}

/** x·sigmoid(x) (SiLU / Swish). */
export function f32_silu__wasmsimd(x: usize, y: usize, n: usize): void { map(SILU, x, y, n, 0, 0); }

