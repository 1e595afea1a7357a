// float32 recurrent layers (ONNX RNN, GRU, LSTM) for WASM SIMD128: one call runs one direction of
// a layer over the whole sequence and the whole batch. The engine (src/runtime/f32/recurrent.ts)
// first computes the input projection of every time step at once with the packed-B GEMM
// (assembly/f32/gemm.ts): XW = X·Wᵀ + bias, all directions in one GEMM; these kernels do the
// rest, step by step. The plain TS reference is recurrentSeqRef in src/kernels/f32_ref.ts (same
// contract, float64 sums); src/kernels/f32.ts lists the kernels and drives them.
//
//   f32_rnn_seq__wasmsimd   Hₜ = f(clip(XWₜ + Hₜ₋₁·Rᵀ))                         (gates: i)
//   f32_gru_seq__wasmsimd   z, r = f(clip(XW_{z,r} + H·R_{z,r}ᵀ))                (gates: z r h)
//                           h̃ = g(clip(XW_h + (r ⊙ H)·R_hᵀ))  or, linear_before_reset,
//                           h̃ = g(clip(XW_h + r ⊙ (H·R_hᵀ + Rb_h)));  H' = (1 − z) ⊙ h̃ + z ⊙ H
//   f32_lstm_seq__wasmsimd  i = f(clip(XW_i + H·R_iᵀ + P_i ⊙ C)), f likewise (or 1 − i with
//                           input_forget), c̃ = g(clip(XW_c + H·R_cᵀ)), C' = f ⊙ C + i ⊙ c̃,
//                           o = f(clip(XW_o + H·R_oᵀ + P_o ⊙ C')), H' = o ⊙ h(C')   (gates: i o f c)
//   f32_recurrent_work_bytes(kind, B, H)  bytes of `work` (kind 0 RNN, 1 GRU, 2 LSTM)
//
// Descriptor: 32 words at d (i32 unless noted), written by the caller (writeRecurrentDesc in
// src/kernels/f32.ts). Element strides; G gates, GH = G·H; pointers 0 = absent.
//   0 S (steps)  1 B (batch)  2 H (hidden)  3 reverse (0/1)
//   4 xw: XW row of (t, b) at xw + 4·(t·xwT + b·xwB), GH floats (bias included: Wb + Rb, but
//     only Wb for the h gate of a GRU with linear_before_reset). Readable up to 8·⌈GH/8⌉ + 8
//     floats past each row start (the rows of the engine's XW are padded).
//   5 xwT  6 xwB
//   7 rp: R of this direction packed by f32_pack_b as the GEMM B operand (K = H, N = GH): R is
//     (GH, H) row-major = Bᵀ (f32_pack_b with transB = 1)
//   8 lens: sequence_lens, B i32 (0: every entry runs S steps); clamped to [0, S]
//   9 h0  10 c0: initial states, row b at +4·b·stB, H floats (0: zeros)   11 stB
//   12 y: Y row of (t, b) at y + 4·(t·yT + b·yB), H floats (0: not written)   13 yT  14 yB
//   15 yh  16 yc: final states Y_h, Y_c (LSTM), row b at +4·b·stB (0: not written)
//   17 p: LSTM peepholes P_i, P_o, P_f (3H floats; 0: none)
//   18 rbh: GRU with linear_before_reset: Rb_h (H floats; 0: zero)
//   19 flags: bit 0 input_forget (LSTM), bit 1 linear_before_reset (GRU)
//   20 clip (f32; 0: no clip)
//   21..29 activations f, g, h: code (i32), alpha (f32), beta (f32) each (codes below)
//   30 work: ≥ f32_recurrent_work_bytes(kind, B, H) bytes, 16-byte aligned
// Batch entry b runs lens[b] steps: t = k forward, t = lens[b] − 1 − k reverse (k < lens[b]);
// Y is zero at steps t ≥ lens[b]; Y_h / Y_c are the state after the last step run, zero when
// lens[b] = 0 (onnxruntime's behaviour, as src/ops/ref/rnn.ts).
// Vector loads may read up to 12 bytes past an input row (h0, c0, p, rbh); the engine's buffers
// have that slack. Writes stay inside Y, Y_h, Y_c and work.
//
// Accumulation (no FMA; one rounding per mul and per add): each gate pre-activation is XW[t, b, q]
// (as the GEMM left it: bias first, then the products of x in input order) + h₀·R[q, 0] +
// h₁·R[q, 1] + … in hidden order, in float32 (the recurrent product over R's 8-column panels
// starts from XW). The reference sums all of it in float64 and rounds once, so a pre-activation
// differs by at most about (I + H + 3)·2⁻²⁴·Σ|terms|; the gate arithmetic adds a few roundings
// (peephole mul/add, f ⊙ C + i ⊙ c̃, (1 − z) ⊙ h̃ + z ⊙ H), and the activation functions are the
// vector forms of assembly/f32ops/vec.ts (sigmoid4, tanh4: accuracy in its header); Elu and
// Softplus are computed per lane in float64 as the reference. The state carries the error to the
// next step, damped by the gate derivatives (≤ 1/4 for sigmoid, ≤ 1 for tanh).
//
// Per step and batch row (a row past its length is skipped): the recurrent product, a GEMV over
// the packed panels of R starting from the XW row, two panels (16 columns, four accumulators) at
// a time: per hidden k one broadcast of h[k], four loads of R, four mul + four add. Then the
// gates as rows: each activation function runs over a whole gate row in one tight loop per
// function (LSTM without peepholes: f over i, o, f at once), then the elementwise state update.
// Measured on V8 (Node 20, AMD EPYC), LSTM H = 64, 49 steps, one direction: ~47 µs of GEMV and
// ~42 µs of gates (the vector exp / division of sigmoid and tanh). Tried and slower: three or
// four panels at a time (6 / 8 accumulators: +0..+55%), two panels with even / odd k in separate
// accumulators (+20%); the activations inline in one per-element gate loop (+15%); for batch > 1,
// the recurrent product of all rows through the GEMM's 4x8 row tiles (R read once per 4 rows)
// then + XW: within noise at B = 4 and 8 (the gates, per row, dominate), so rows run one by one.

import { sigmoid4, storeN, tanh4 } from '../f32ops/vec';

const RNN: i32 = 0, GRU: i32 = 1, LSTM: i32 = 2;

const D_S = 0, D_B = 1, D_H = 2, D_REV = 3, D_XW = 4, D_XWT = 5, D_XWB = 6, D_RP = 7, D_LENS = 8, D_H0 = 9, D_C0 = 10;
const D_STB = 11, D_Y = 12, D_YT = 13, D_YB = 14, D_YH = 15, D_YC = 16, D_P = 17, D_RBH = 18, D_FLAGS = 19, D_CLIP = 20;
const D_ACT = 21, D_WORK = 30;

// activation codes (src/kernels/f32.ts RECURRENT_ACTIVATIONS)
const A_SIGMOID = 0, A_TANH = 1, A_RELU = 2, A_AFFINE = 3, A_LEAKYRELU = 4, A_THRESHOLDEDRELU = 5, A_SCALEDTANH = 6;
const A_HARDSIGMOID = 7, A_ELU = 8, A_SOFTSIGN = 9, A_SOFTPLUS = 10;

@inline function di(d: usize, i: i32): i32 { return load<i32>(d + (<usize>i << 2)); }
@inline function du(d: usize, i: i32): usize { return <usize>load<i32>(d + (<usize>i << 2)); }
@inline function df(d: usize, i: i32): f32 { return load<f32>(d + (<usize>i << 2)); }

@inline function align16(n: usize): usize { return (n + 15) & ~(<usize>15); }

/** The gate count of a kind. */
@inline function gatesOf(kind: i32): usize { return kind == RNN ? 1 : kind == GRU ? 3 : 4; }

// ---- work layout -------------------------------------------------------------------------------
// hs [B·H + 4]  cs [B·H + 4] (LSTM)  pre [NP + 8]  aux [NP + 8]  rbhRow [NP + 8] (GRU: 0 but
// Rb_h at columns 2H..3H)  rh [H + 4] (GRU);  NP = 8·⌈GH/8⌉ (whole panels).

@inline function stateBytes(B: usize, H: usize): usize { return align16((B * H + 4) << 2); }
@inline function rowBytes(NP: usize): usize { return align16((NP + 8) << 2); }
@inline function hBytes(H: usize): usize { return align16((H + 4) << 2); }

/** Bytes of `work` for a layer of this kind (0 RNN, 1 GRU, 2 LSTM), batch B, hidden size H. */
export function f32_recurrent_work_bytes(kind: i32, B: i32, H: i32): i32 {
  if (kind < 0 || kind > 2 || B < 0 || H < 0) return -1;
  const b = <usize>B, h = <usize>H;
  const NP = ((gatesOf(kind) * h + 7) >> 3) << 3;
  return <i32>((stateBytes(b, h) << 1) + rowBytes(NP) * <usize>3 + hBytes(h));
}

// ---- recurrent product -------------------------------------------------------------------------

/**
 * out[c] = init[c] + Σ_k a[k]·Rp[k][c] for the columns c of panels p0 ≤ p < p1 (8 columns each,
 * whole panels written), k in order from 0 to K − 1. Rp packed by f32_pack_b (panel p at
 * w + 32·K·p, row k of it at +32·k); init and out indexed by column.
 */
function gemvPanels(a: usize, K: usize, w: usize, p0: usize, p1: usize, init: usize, out: usize): void {
  const pb = K << 5;
  const aEnd = a + (K << 2);
  let p = p0;
  for (; p + 2 <= p1; p += 2) {
    let w0 = w + p * pb;
    let w1 = w0 + pb;
    const o = p << 5;
    let c00 = v128.load(init + o), c01 = v128.load(init + o, 16), c10 = v128.load(init + o, 32), c11 = v128.load(init + o, 48);
    let pa = a;
    while (pa != aEnd) {
      const va = v128.load32_splat(pa);
      c00 = f32x4.add(c00, f32x4.mul(va, v128.load(w0)));
      c01 = f32x4.add(c01, f32x4.mul(va, v128.load(w0, 16)));
      c10 = f32x4.add(c10, f32x4.mul(va, v128.load(w1)));
      c11 = f32x4.add(c11, f32x4.mul(va, v128.load(w1, 16)));
      pa += 4; w0 += 32; w1 += 32;
    }
    v128.store(out + o, c00); v128.store(out + o, c01, 16); v128.store(out + o, c10, 32); v128.store(out + o, c11, 48);
  }
  if (p < p1) {
    let w0 = w + p * pb;
    const o = p << 5;
    let c00 = v128.load(init + o), c01 = v128.load(init + o, 16);
    let pa = a;
    while (pa != aEnd) {
      const va = v128.load32_splat(pa);
      c00 = f32x4.add(c00, f32x4.mul(va, v128.load(w0)));
      c01 = f32x4.add(c01, f32x4.mul(va, v128.load(w0, 16)));
      pa += 4; w0 += 32;
    }
    v128.store(out + o, c00); v128.store(out + o, c01, 16);
  }
}

// ---- activation functions ----------------------------------------------------------------------

/** f64 per lane (Elu, Softplus: the reference's formulas, rounded once). */
function actScalar(code: i32, x: f64, alpha: f64): f64 {
  if (code == A_ELU) return x >= 0 ? x : alpha * (Math.exp(x) - 1);
  // Softplus: log(1 + e^x) without overflow
  return max<f64>(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

function actRare(code: i32, x: v128, a: v128, b: v128): v128 {
  const zero = f32x4.splat(0);
  if (code == A_RELU) return v128.bitselect(x, zero, f32x4.gt(x, zero));
  if (code == A_AFFINE) return f32x4.add(f32x4.mul(a, x), b);
  if (code == A_LEAKYRELU) return v128.bitselect(x, f32x4.mul(a, x), f32x4.ge(x, zero));
  if (code == A_THRESHOLDEDRELU) return v128.bitselect(x, zero, f32x4.gt(x, a));
  if (code == A_SCALEDTANH) return f32x4.mul(a, tanh4(f32x4.mul(b, x)));
  if (code == A_HARDSIGMOID) return f32x4.min(f32x4.splat(1), f32x4.max(zero, f32x4.add(f32x4.mul(a, x), b)));
  if (code == A_SOFTSIGN) return f32x4.div(x, f32x4.add(f32x4.splat(1), f32x4.abs(x)));
  const al = <f64>f32x4.extract_lane(a, 0);
  let r = f32x4.splat(<f32>actScalar(code, <f64>f32x4.extract_lane(x, 0), al));
  r = f32x4.replace_lane(r, 1, <f32>actScalar(code, <f64>f32x4.extract_lane(x, 1), al));
  r = f32x4.replace_lane(r, 2, <f32>actScalar(code, <f64>f32x4.extract_lane(x, 2), al));
  r = f32x4.replace_lane(r, 3, <f32>actScalar(code, <f64>f32x4.extract_lane(x, 3), al));
  return r;
}

/** activation `code` of 4 lanes, alpha / beta splat in a / b */
@inline function act(code: i32, x: v128, a: v128, b: v128): v128 {
  if (code == A_SIGMOID) return sigmoid4(x);
  if (code == A_TANH) return tanh4(x);
  return actRare(code, x, a, b);
}

/** min(clip, max(−clip, x)) (NaN stays NaN), or x when clip is off */
@inline function clipv(on: bool, x: v128, lo: v128, hi: v128): v128 {
  return on ? f32x4.min(hi, f32x4.max(lo, x)) : x;
}

@inline function loadF(p: usize, j: usize): v128 { return v128.load(p + (j << 2)); }

@inline function actLoop(code: i32, clipOn: bool, a: v128, b: v128, lo: v128, hi: v128, x: usize, y: usize, n: usize): void {
  let j: usize = 0;
  for (; j + 4 <= n; j += 4) v128.store(y + (j << 2), act(code, clipv(clipOn, loadF(x, j), lo, hi), a, b));
  if (j < n) storeN(y + (j << 2), act(code, clipv(clipOn, loadF(x, j), lo, hi), a, b), n - j);
}

/**
 * y[j] = act(clip(x[j])) for j < n (y = x allowed); writes exactly n floats, reads whole vectors.
 * One tight loop per common function (sigmoid, tanh; with and without clip).
 */
function actRow(code: i32, a: v128, b: v128, clipOn: bool, lo: v128, hi: v128, x: usize, y: usize, n: usize): void {
  if (code == A_SIGMOID) {
    if (clipOn) actLoop(A_SIGMOID, true, a, b, lo, hi, x, y, n);
    else actLoop(A_SIGMOID, false, a, b, lo, hi, x, y, n);
  } else if (code == A_TANH) {
    if (clipOn) actLoop(A_TANH, true, a, b, lo, hi, x, y, n);
    else actLoop(A_TANH, false, a, b, lo, hi, x, y, n);
  } else {
    actLoop(code, clipOn, a, b, lo, hi, x, y, n);
  }
}

/** Copies H floats (zeros when src is 0). */
function copyRow(dst: usize, src: usize, H: usize): void {
  if (src == 0) memory.fill(dst, 0, H << 2);
  else memory.copy(dst, src, H << 2);
}

// ---- the sequence ------------------------------------------------------------------------------

@inline function recurrent(kind: i32, d: usize): void {
  const S = <i32>di(d, D_S), B = du(d, D_B), H = du(d, D_H);
  const reverse = di(d, D_REV) != 0;
  const xw = du(d, D_XW), xwT = du(d, D_XWT), xwB = du(d, D_XWB);
  const rp = du(d, D_RP), lens = du(d, D_LENS), h0 = du(d, D_H0), c0 = du(d, D_C0), stB = du(d, D_STB);
  const y = du(d, D_Y), yT = du(d, D_YT), yB = du(d, D_YB), yh = du(d, D_YH), yc = du(d, D_YC);
  const pp = du(d, D_P), rbh = du(d, D_RBH), flags = di(d, D_FLAGS);
  const clip = df(d, D_CLIP);
  const clipOn = clip > 0;
  const lo = f32x4.splat(-clip), hi = f32x4.splat(clip);
  const fc = di(d, D_ACT), fa = f32x4.splat(df(d, D_ACT + 1)), fb = f32x4.splat(df(d, D_ACT + 2));
  const gc = di(d, D_ACT + 3), ga = f32x4.splat(df(d, D_ACT + 4)), gb = f32x4.splat(df(d, D_ACT + 5));
  const hc = di(d, D_ACT + 6), ha = f32x4.splat(df(d, D_ACT + 7)), hb = f32x4.splat(df(d, D_ACT + 8));
  const inputForget = (flags & 1) != 0, lbr = (flags & 2) != 0;
  const G = gatesOf(kind), GH = G * H;
  const NP = ((GH + 7) >> 3) << 3, panels = NP >> 3;
  const H4 = H << 2;
  // work
  const hs = du(d, D_WORK);
  const cs = hs + stateBytes(B, H);
  const pre = cs + stateBytes(B, H);
  const aux = pre + rowBytes(NP);
  const rbhRow = aux + rowBytes(NP);
  const rh = rbhRow + rowBytes(NP);
  // GRU panels: z, r in [0, pzr); h in [ph0, panels)
  const pzr = ((H << 1) + 7) >> 3, ph0 = (H << 1) >> 3;
  if (kind == GRU && lbr) {
    memory.fill(rbhRow, 0, NP << 2);
    if (rbh != 0) memory.copy(rbhRow + ((2 * H) << 2), rbh, H4);
  }

  for (let b: usize = 0; b < B; b++) {
    copyRow(hs + b * H4, h0 != 0 ? h0 + ((b * stB) << 2) : 0, H);
    if (kind == LSTM) copyRow(cs + b * H4, c0 != 0 ? c0 + ((b * stB) << 2) : 0, H);
  }
  const one = f32x4.splat(1);

  for (let k: i32 = 0; k < S; k++) {
    for (let b: usize = 0; b < B; b++) {
      let len = lens != 0 ? load<i32>(lens + (b << 2)) : S;
      len = min<i32>(max<i32>(len, 0), S);
      if (k >= len) {
        // Y is zero past the entry's length
        if (y != 0) memory.fill(y + ((<usize>k * yT + b * yB) << 2), 0, H4);
        continue;
      }
      const t = <usize>(reverse ? len - 1 - k : k);
      const xrow = xw + ((t * xwT + b * xwB) << 2);
      const hrow = hs + b * H4;
      const crow = cs + b * H4;
      if (kind == RNN) {
        gemvPanels(hrow, H, rp, 0, panels, xrow, pre);
        actRow(fc, fa, fb, clipOn, lo, hi, pre, hrow, H);
      } else if (kind == GRU) {
        // pre[0, 2H) = XW + H·R_{z,r}ᵀ → z, r in place
        gemvPanels(hrow, H, rp, 0, pzr, xrow, pre);
        actRow(fc, fa, fb, clipOn, lo, hi, pre, pre, H << 1);
        // rh = the h̃ pre-activation, then h̃ in place
        if (lbr) {
          // XW_h + r ⊙ (H·R_hᵀ + Rb_h), the product in aux
          gemvPanels(hrow, H, rp, ph0, panels, rbhRow, aux);
          for (let j: usize = 0; j < H; j += 4) {
            v128.store(rh + (j << 2), f32x4.add(loadF(xrow, 2 * H + j), f32x4.mul(loadF(pre, H + j), loadF(aux, 2 * H + j))));
          }
          actRow(gc, ga, gb, clipOn, lo, hi, rh, rh, H);
        } else {
          // XW_h + (r ⊙ H)·R_hᵀ, in aux
          for (let j: usize = 0; j < H; j += 4) v128.store(rh + (j << 2), f32x4.mul(loadF(pre, H + j), loadF(hrow, j)));
          gemvPanels(rh, H, rp, ph0, panels, xrow, aux);
          actRow(gc, ga, gb, clipOn, lo, hi, aux + ((2 * H) << 2), rh, H);
        }
        for (let j: usize = 0; j < H; j += 4) {
          const z = loadF(pre, j);
          const hn = f32x4.add(f32x4.mul(f32x4.sub(one, z), loadF(rh, j)), f32x4.mul(z, loadF(hrow, j)));
          storeN(hrow + (j << 2), hn, min<usize>(4, H - j));
        }
      } else {
        // pre = XW + H·Rᵀ (gates i o f c), activated in place
        gemvPanels(hrow, H, rp, 0, panels, xrow, pre);
        if (pp != 0) {
          for (let j: usize = 0; j < H; j += 4) {
            const cp = loadF(crow, j), n = min<usize>(4, H - j);
            storeN(pre + (j << 2), f32x4.add(loadF(pre, j), f32x4.mul(loadF(pp, j), cp)), n);
            storeN(pre + ((2 * H + j) << 2), f32x4.add(loadF(pre, 2 * H + j), f32x4.mul(loadF(pp, 2 * H + j), cp)), n);
          }
        }
        const oLater = pp != 0 || inputForget;
        if (oLater) {
          actRow(fc, fa, fb, clipOn, lo, hi, pre, pre, H);
          if (!inputForget) actRow(fc, fa, fb, clipOn, lo, hi, pre + ((2 * H) << 2), pre + ((2 * H) << 2), H);
        } else {
          actRow(fc, fa, fb, clipOn, lo, hi, pre, pre, 3 * H); // i, o, f
        }
        actRow(gc, ga, gb, clipOn, lo, hi, pre + ((3 * H) << 2), pre + ((3 * H) << 2), H);
        // C' = f ⊙ C + i ⊙ c̃ (f = 1 − i with input_forget); the o pre-activation gets P_o ⊙ C'
        for (let j: usize = 0; j < H; j += 4) {
          const ig = loadF(pre, j), n = min<usize>(4, H - j);
          const fg = inputForget ? f32x4.sub(one, ig) : loadF(pre, 2 * H + j);
          const cn = f32x4.add(f32x4.mul(fg, loadF(crow, j)), f32x4.mul(ig, loadF(pre, 3 * H + j)));
          storeN(crow + (j << 2), cn, n);
          if (pp != 0) storeN(pre + ((H + j) << 2), f32x4.add(loadF(pre, H + j), f32x4.mul(loadF(pp, H + j), cn)), n);
        }
        if (oLater) actRow(fc, fa, fb, clipOn, lo, hi, pre + (H << 2), pre + (H << 2), H);
        // H' = o ⊙ h(C'), h(C') in aux
        actRow(hc, ha, hb, false, lo, hi, crow, aux, H);
        for (let j: usize = 0; j < H; j += 4) storeN(hrow + (j << 2), f32x4.mul(loadF(pre, H + j), loadF(aux, j)), min<usize>(4, H - j));
      }
      if (y != 0) memory.copy(y + ((t * yT + b * yB) << 2), hrow, H4);
    }
  }
  // final states (zero for an entry that ran no step)
  for (let b: usize = 0; b < B; b++) {
    const len = lens != 0 ? load<i32>(lens + (b << 2)) : S;
    const ran = min<i32>(len, S) > 0;
    if (yh != 0) copyRow(yh + ((b * stB) << 2), ran ? hs + b * H4 : 0, H);
    if (kind == LSTM && yc != 0) copyRow(yc + ((b * stB) << 2), ran ? cs + b * H4 : 0, H);
  }
}

export function f32_rnn_seq__wasmsimd(d: usize): void { recurrent(RNN, d); }
export function f32_gru_seq__wasmsimd(d: usize): void { recurrent(GRU, d); }
export function f32_lstm_seq__wasmsimd(d: usize): void { recurrent(LSTM, d); }
