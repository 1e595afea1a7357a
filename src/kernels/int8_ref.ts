// Plain TS references of the int8 compute core (assembly/int8/): the truth the WASM kernels are
// tested against bit for bit. Direct loops, exact integer arithmetic (int32 wrap where the
// kernels wrap), float32 rounding (Math.fround) after every float op of the float epilogues.
//
// The quantization scheme is stated in src/quant/int8.ts. In the kernels' terms:
//   W (N = Cout, K) int8 row-major, K = Cin/g·KH·KW in (cin, kh, kw) order (ONNX Conv); X NCHW int8.
//   accumulator acc[c, m] = Σ_k W[c, k]·(X[k, m] − z_x); padding taps read z_x (real zero).
//   output      int8:  y = clamp(z_y + mulQ(acc + bias[c], M0[c], shift[c]), lo, hi)
//               f32:   y = clamp(f32(acc)·scale[c] + bias[c]) with scale[c] = s_x·s_w[c]
//               int32: y = acc + bias[c]
//               qlinear (ONNX QLinearConv / QLinearMatMul as onnxruntime computes them):
//                      y = clamp(z_y + roundHalfEven(fround(fround(acc + bias[c])·m[c])), lo, hi),
//                      m[c] = fround(fround(s_x·s_w[c]) / s_y)
//   Fused ReLU/Clip = lo/hi; f32 mode may apply one more activation after the clamp (act:
//   Sigmoid, SiLU, HardSwish, HardSigmoid, as float32 ops: ./int8_act_ref.ts).
// mulQ = TFLite's MultiplyByQuantizedMultiplier with exponent = −shift: shift > 0 is a right
// shift (the usual multipliers < 1), shift < 0 a left shift of the input (wrapping, as TFLite).

import { convOutSize, type Conv2dAttrs } from './f32_ref.js';
import { int8QuantParams, quantizeMultiplier, roundHalfEven } from '../quant/int8.js';
import { actF32Ref, type Int8FusedAct } from './int8_act_ref.js';

export type { Int8FusedAct } from './int8_act_ref.js';

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const P31 = 2 ** 31;
const P30 = 2 ** 30;

/**
 * TFLite SaturatingRoundingDoublingHighMul(a, b) for int32 a, b: (a·b + nudge) / 2^31
 * truncated toward zero, nudge = 2^30 (a·b ≥ 0) or 1 − 2^30; INT32_MAX when a = b = INT32_MIN.
 * Exact in doubles: a·b is split as t·2^16 + u (both exact), t as th·2^15 + tl.
 */
export function srdhmRef(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const bh = Math.floor(b / 65536),
    bl = b - bh * 65536;
  const t = a * bh,
    u = a * bl; // a·b = t·2^16 + u
  const neg = (a < 0 && b > 0) || (a > 0 && b < 0);
  const nudge = neg ? 1 - P30 : P30;
  const th = Math.floor(t / 32768),
    tl = t - th * 32768; // t = th·2^15 + tl
  const r = tl * 65536 + u + nudge; // a·b + nudge = th·2^31 + r
  const q = th + (neg ? Math.ceil(r / P31) : Math.floor(r / P31));
  return q | 0;
}

/** TFLite RoundingDivideByPOT(x, e), e ∈ [0, 31]: x / 2^e to nearest, ties away from zero. */
export function rdbpotRef(x: number, e: number): number {
  const mask = ((1 << e) - 1) | 0;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return ((x >> e) + (remainder > threshold ? 1 : 0)) | 0;
}

/** MultiplyByQuantizedMultiplier(x, M0, exponent = −shift) (see the header). */
export function mulQRef(x: number, m: number, shift: number): number {
  const ls = shift < 0 ? -shift : 0,
    rs = shift > 0 ? shift : 0;
  return rdbpotRef(srdhmRef((x << ls) | 0, m), rs);
}

/** int8 requantization of one int32 accumulator (bias already added). */
export function requantizeRef(acc: number, m: number, shift: number, zy: number, lo: number, hi: number): number {
  const v = (zy + mulQRef(acc, m, shift)) | 0;
  return Math.min(hi, Math.max(lo, v));
}

/** Output stage of the int8 GEMM/conv kernels (per output channel c). */
export type Qs8Out =
  | {
      mode: 'int8';
      zx: number;
      zy: number;
      lo: number;
      hi: number;
      bias: Int32Array;
      multiplier: Int32Array;
      shift: Int32Array;
      /**
       * a residual Add fused into the output stage (quant block word 8, assembly/int8/common.ts):
       * each output, computed as above, goes through qs8_vadd with the element of the same
       * position in another tensor (a = the output, b = the other; `params` as for qs8_vadd);
       * the WASM kernels find the other tensor `delta` bytes from the output (setQuantAddDelta);
       * the references here compute the layer alone (qs8VaddRef after them is the oracle)
       */
      add?: VaddParams;
    }
  | { mode: 'f32'; zx: number; scale: Float32Array; bias: Float32Array; lo: number; hi: number; act?: Int8FusedAct }
  | { mode: 'int32'; zx: number; bias: Int32Array }
  | {
      mode: 'qlinear';
      zx: number;
      zy: number;
      lo: number;
      hi: number;
      bias: Int32Array;
      multiplier: Float32Array;
      /** the residual Add of the output stage, as for 'int8' (the WASM kernels only; qs8VaddRef after the reference is the oracle) */
      add?: VaddParams;
    };

export type Qs8Data = Int8Array | Float32Array | Int32Array;

export function allocOut(out: Qs8Out, n: number): Qs8Data {
  return out.mode === 'int8' || out.mode === 'qlinear' ? new Int8Array(n) : out.mode === 'f32' ? new Float32Array(n) : new Int32Array(n);
}

/** The output value of accumulator acc (Σ W·(x − zx), int32) for channel c. */
export function outputStageRef(acc: number, c: number, out: Qs8Out): number {
  if (out.mode === 'int8') {
    return requantizeRef((acc + out.bias[c]!) | 0, out.multiplier[c]!, out.shift[c]!, out.zy, out.lo, out.hi);
  }
  if (out.mode === 'qlinear') {
    const v = out.zy + roundHalfEven(Math.fround(Math.fround((acc + out.bias[c]!) | 0) * out.multiplier[c]!));
    return Math.min(out.hi, Math.max(out.lo, v)) + 0;
  }
  if (out.mode === 'f32') {
    let v = Math.fround(Math.fround(Math.fround(acc) * out.scale[c]!) + out.bias[c]!);
    const lo = Math.fround(out.lo),
      hi = Math.fround(out.hi);
    v = lo < v ? v : lo; // pmax(lo, v)
    v = v < hi ? v : hi; // pmin(hi, v)
    return out.act ? actF32Ref(v, out.act) : v;
  }
  return (acc + out.bias[c]!) | 0;
}

/**
 * int8 conv of one image: x (C,H,W) int8, w (M, C/g·KH·KW) int8 (ONNX (M, C/g, KH, KW)),
 * → y (M, OH, OW) of out's type. Padding taps contribute W·(zx − zx) = 0.
 */
export function qs8Conv2dRef(
  x: Int8Array,
  xDims: readonly number[],
  w: Int8Array,
  wDims: readonly number[],
  attrs: Conv2dAttrs,
  out: Qs8Out,
): { data: Qs8Data; dims: number[] } {
  const [C, H, W] = xDims.slice(-3) as [number, number, number];
  const [M, Cg, KH, KW] = wDims as [number, number, number, number];
  const G = attrs.groups;
  if (C !== Cg * G || M % G !== 0) throw new Error(`qs8Conv2dRef: channels ${C} / weight ${wDims.join('x')} / groups ${G} disagree`);
  const [pt, pl, pb, pr] = attrs.pads;
  const [sh, sw] = attrs.strides;
  const [dh, dw] = attrs.dilations;
  const OH = convOutSize(H, KH, pt, pb, sh, dh),
    OW = convOutSize(W, KW, pl, pr, sw, dw);
  const Mg = M / G;
  const y = allocOut(out, M * OH * OW);
  for (let m = 0; m < M; m++) {
    const g = Math.floor(m / Mg);
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let acc = 0;
        for (let cg = 0; cg < Cg; cg++) {
          const c = g * Cg + cg;
          for (let i = 0; i < KH; i++) {
            const ih = oh * sh - pt + i * dh;
            if (ih < 0 || ih >= H) continue;
            for (let j = 0; j < KW; j++) {
              const iw = ow * sw - pl + j * dw;
              if (iw < 0 || iw >= W) continue;
              acc = (acc + w[((m * Cg + cg) * KH + i) * KW + j]! * (x[(c * H + ih) * W + iw]! - out.zx)) | 0;
            }
          }
        }
        y[(m * OH + oh) * OW + ow] = outputStageRef(acc, m, out);
      }
    }
  }
  return { data: y, dims: [M, OH, OW] };
}

/** C(N, M) = W(N, K) × X(K, M) (X int8 row-major, zx subtracted) with the output stage per row n. */
export function qs8GemmRef(N: number, M: number, K: number, w: Int8Array, x: Int8Array, out: Qs8Out): Qs8Data {
  const y = allocOut(out, N * M);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc = (acc + w[n * K + k]! * (x[k * M + m]! - out.zx)) | 0;
      y[n * M + m] = outputStageRef(acc, n, out);
    }
  }
  return y;
}

/** FC: Y(M, N) = X(M, K)·Wᵀ, W (N, K), output stage per column n. */
export function qs8FcRef(M: number, N: number, K: number, x: Int8Array, w: Int8Array, out: Qs8Out): Qs8Data {
  const y = allocOut(out, M * N);
  for (let b = 0; b < M; b++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc = (acc + w[n * K + k]! * (x[b * K + k]! - out.zx)) | 0;
      y[b * N + n] = outputStageRef(acc, n, out);
    }
  }
  return y;
}

/**
 * Dynamic-range FC (qs8_dynfc_f32__wasmsimd): each row of x (M, K) float32 quantized with its own
 * parameters int8QuantParams([min(0, min row), max(0, max row)]) (NaN ignored; a row with ±Inf
 * throws, as int8QuantParams does), then y(m, n) = clamp(fround(fround(f32(acc)·fround(s_x·sw[n]))
 * + bias[n]), lo, hi) with acc = Σ_k (x_q − z_x)·w(n, k) in int32. w (N, K) int8 row-major.
 */
export function qs8DynFcRef(
  M: number,
  N: number,
  K: number,
  x: Float32Array,
  w: Int8Array,
  sw: Float32Array,
  bias: Float32Array,
  lo = -Infinity,
  hi = Infinity,
): Float32Array {
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    const row = x.subarray(m * K, (m + 1) * K);
    let min = 0,
      max = 0;
    for (const a of row) {
      if (a < min) min = a;
      if (a > max) max = a;
    }
    const p = int8QuantParams({ min, max });
    const q = quantizeRef(row, p.scale, p.zeroPoint);
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc = (acc + (q[k]! - p.zeroPoint) * w[n * K + k]!) | 0;
      let v = Math.fround(Math.fround(acc) * Math.fround(p.scale * sw[n]!));
      v = Math.fround(v + bias[n]!);
      v = lo < v ? v : Math.fround(lo);
      y[m * N + n] = v < hi ? v : Math.fround(hi);
    }
  }
  return y;
}

export interface Csr {
  rows: number;
  cols: number;
  rowPtr: Uint32Array;
  col: Uint16Array;
  val: Int8Array;
}

/** CSR of a dense (rows, cols) int8 matrix, columns ascending (the layout decodeCsr emits). */
export function csrFromDense(w: Int8Array, rows: number, cols: number): Csr {
  const rowPtr = new Uint32Array(rows + 1);
  const col: number[] = [],
    val: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++)
      if (w[r * cols + c] !== 0) {
        col.push(c);
        val.push(w[r * cols + c]!);
      }
    rowPtr[r + 1] = col.length;
  }
  return { rows, cols, rowPtr, col: Uint16Array.from(col), val: Int8Array.from(val) };
}

export function csrToDense(csr: Csr): Int8Array {
  const d = new Int8Array(csr.rows * csr.cols);
  for (let r = 0; r < csr.rows; r++) for (let i = csr.rowPtr[r]!; i < csr.rowPtr[r + 1]!; i++) d[r * csr.cols + csr.col[i]!] = csr.val[i]!;
  return d;
}

/**
 * The non-empty aligned k-pairs of a CSR (rows, K): per row, each j with W(r, 2j) or W(r, 2j+1)
 * nonzero, ascending, as (w0, w1) = (W(r, 2j), W(r, 2j+1)) (a missing half is 0). ent (rows+1):
 * first pair of row r; j (E), w (2E). What qs8_spconv_pack_pairs makes at load for the
 * pair-block kernels (assembly/int8/sparse.ts; it stores j·64 as the byte offset).
 */
export interface PairBlocks {
  ent: Uint32Array;
  j: Uint32Array;
  w: Int16Array;
}

/** csr → its non-empty aligned k-pairs (PairBlocks); columns must ascend within a row. */
export function csrToPairBlocks(csr: Csr): PairBlocks {
  const ent = new Uint32Array(csr.rows + 1);
  const js: number[] = [],
    ws: number[] = [];
  for (let r = 0; r < csr.rows; r++) {
    ent[r] = js.length;
    for (let i = csr.rowPtr[r]!; i < csr.rowPtr[r + 1]!; i++) {
      const k = csr.col[i]!,
        j = k >> 1;
      if (js.length > ent[r]! && js[js.length - 1] === j) ws[ws.length - 1] = csr.val[i]!;
      else {
        js.push(j);
        ws.push(k & 1 ? 0 : csr.val[i]!, k & 1 ? csr.val[i]! : 0);
      }
    }
  }
  ent[csr.rows] = js.length;
  return { ent, j: Uint32Array.from(js), w: Int16Array.from(ws) };
}

/** Non-empty aligned k-pairs of a CSR (the E of csrToPairBlocks), without building them. */
export function csrPairCount(rowPtr: ArrayLike<number>, col: ArrayLike<number>, rows: number): number {
  let E = 0;
  for (let r = 0; r < rows; r++) {
    let last = -1;
    for (let i = rowPtr[r]!; i < rowPtr[r + 1]!; i++) {
      const j = col[i]! >> 1;
      if (j !== last) {
        E++;
        last = j;
      }
    }
  }
  return E;
}

// ---- residual Add --------------------------------------------------------------------------

/** Parameters of the int8 Add (TFLite): the 12-word block of assembly/int8/ops.ts. */
export interface AddParams {
  za: number;
  zb: number;
  zy: number;
  ma: number;
  sa: number;
  mb: number;
  sb: number;
  my: number;
  sy: number;
  lo: number;
  hi: number;
  leftShift: number;
}

/**
 * TFLite's int8 Add parameters for inputs (scale, zero point) a, b and output y:
 * twice_max = 2·max(s_a, s_b), input multipliers s/twice_max, output twice_max/(2^20·s_y),
 * each QuantizeMultiplier'd (right shifts ≥ 0). relu: lo = max(−128, zy).
 */
export function addParams(sa: number, za: number, sb: number, zb: number, sy: number, zy: number, relu = false, leftShift = 20): AddParams {
  const twiceMax = 2 * Math.max(sa, sb);
  const qa = quantizeMultiplier(sa / twiceMax),
    qb = quantizeMultiplier(sb / twiceMax);
  const qy = quantizeMultiplier(twiceMax / (2 ** leftShift * sy));
  if (qy.shift < 0) throw new RangeError(`addParams: output multiplier ${twiceMax / (2 ** leftShift * sy)} ≥ 1`);
  return {
    za,
    zb,
    zy,
    ma: qa.multiplier,
    sa: qa.shift,
    mb: qb.multiplier,
    sb: qb.shift,
    my: qy.multiplier,
    sy: qy.shift,
    lo: relu ? Math.max(-128, zy) : -128,
    hi: 127,
    leftShift,
  };
}

export function qs8AddRef(a: Int8Array, b: Int8Array, p: AddParams): Int8Array {
  const y = new Int8Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const va = mulQRef((a[i]! - p.za) << p.leftShift, p.ma, p.sa);
    const vb = mulQRef((b[i]! - p.zb) << p.leftShift, p.mb, p.sb);
    y[i] = requantizeRef((va + vb) | 0, p.my, p.sy, p.zy, p.lo, p.hi);
  }
  return y;
}

/** The single-multiplier Add of qs8_vadd__wasmsimd: y = clamp(zy + ((a−za)·A + (b−zb)·B + 2^(S−1)) >> S, lo, hi). */
export interface VaddParams {
  za: number;
  zb: number;
  zy: number;
  A: number;
  B: number;
  S: number;
  lo: number;
  hi: number;
}

/**
 * A = round(sa/sy · 2^S), B = round(sb/sy · 2^S) with the largest S ≤ 23 keeping A, B < 2^22
 * (so every intermediate fits i32). Throws RangeError when an input scale exceeds 2^21 · sy
 * (no S ≥ 1 fits; the engine then uses the TFLite-form qs8_add).
 */
export function vaddParams(sa: number, za: number, sb: number, zb: number, sy: number, zy: number, relu = false): VaddParams {
  const r = Math.max(sa, sb) / sy;
  if (!(r > 0 && Number.isFinite(r))) throw new RangeError(`vaddParams: bad scales ${sa}, ${sb}, ${sy}`);
  let S = 23;
  while (S >= 1 && Math.round(r * 2 ** S) >= 2 ** 22) S--;
  if (S < 1) throw new RangeError(`vaddParams: input/output scale ratio ${r} too large`);
  return {
    za,
    zb,
    zy,
    A: Math.round((sa / sy) * 2 ** S),
    B: Math.round((sb / sy) * 2 ** S),
    S,
    lo: relu ? Math.max(-128, zy) : -128,
    hi: 127,
  };
}

export function qs8VaddRef(a: Int8Array, b: Int8Array, p: VaddParams): Int8Array {
  const y = new Int8Array(a.length);
  const half = 2 ** (p.S - 1);
  for (let i = 0; i < a.length; i++) {
    const acc = (a[i]! - p.za) * p.A + (b[i]! - p.zb) * p.B; // |acc| < 2^31: exact in doubles and i32
    const v = p.zy + Math.floor((acc + half) / 2 ** p.S);
    y[i] = Math.min(p.hi, Math.max(p.lo, v));
  }
  return y;
}

/** The float32 Add of qs8_vadd_f32 (ONNX DequantizeLinear → Add (→ Relu) → QuantizeLinear). */
export interface VaddF32Params {
  za: number;
  zb: number;
  zy: number;
  /** float32 scales */
  sa: number;
  sb: number;
  sy: number;
  /** int8 clamp (a Relu: lo = zy) */
  lo: number;
  hi: number;
}

/**
 * y = clamp(zy + roundHalfEven(fround(fround(fround((a − za)·sa) + fround((b − zb)·sb)) / sy)), lo, hi):
 * onnxruntime's DequantizeLinear, Add, (Relu,) QuantizeLinear, element by element.
 */
export function qs8VaddF32Ref(a: Int8Array, b: Int8Array, p: VaddF32Params): Int8Array {
  const y = new Int8Array(a.length);
  const sa = Math.fround(p.sa),
    sb = Math.fround(p.sb),
    sy = Math.fround(p.sy);
  for (let i = 0; i < a.length; i++) {
    const s = Math.fround(Math.fround((a[i]! - p.za) * sa) + Math.fround((b[i]! - p.zb) * sb));
    const v = p.zy + roundHalfEven(Math.fround(s / sy));
    y[i] = Math.min(p.hi, Math.max(p.lo, v));
  }
  return y;
}

// ---- pooling, quantize / dequantize -------------------------------------------------------

/** Global average pool: x (C, HW) → y (C) int8; (m, shift) = quantizeMultiplier(s_x / (s_y·HW)). */
export function qs8GlobalAvgPoolRef(
  x: Int8Array,
  C: number,
  HW: number,
  zx: number,
  m: number,
  shift: number,
  zy: number,
  lo = -128,
  hi = 127,
): Int8Array {
  const y = new Int8Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let i = 0; i < HW; i++) s += x[c * HW + i]! - zx;
    y[c] = requantizeRef(s, m, shift, zy, lo, hi);
  }
  return y;
}

/** Max pool of one image x (C,H,W) int8 (padding taps ignored; an all-padding window gives −128). */
export function qs8MaxPoolRef(
  x: Int8Array,
  C: number,
  H: number,
  W: number,
  KH: number,
  KW: number,
  attrs: Pick<Conv2dAttrs, 'pads' | 'strides' | 'dilations'>,
): { data: Int8Array; dims: number[] } {
  const [pt, pl, pb, pr] = attrs.pads;
  const [sh, sw] = attrs.strides;
  const [dh, dw] = attrs.dilations;
  const OH = convOutSize(H, KH, pt, pb, sh, dh),
    OW = convOutSize(W, KW, pl, pr, sw, dw);
  const y = new Int8Array(C * OH * OW);
  for (let c = 0; c < C; c++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        let m = -128;
        for (let i = 0; i < KH; i++) {
          const ih = oh * sh - pt + i * dh;
          if (ih < 0 || ih >= H) continue;
          for (let j = 0; j < KW; j++) {
            const iw = ow * sw - pl + j * dw;
            if (iw >= 0 && iw < W) m = Math.max(m, x[(c * H + ih) * W + iw]!);
          }
        }
        y[(c * OH + oh) * OW + ow] = m;
      }
  return { data: y, dims: [C, OH, OW] };
}

/**
 * The range dynamic quantization takes of x: [min(0, min x), max(0, max x)], NaN ignored
 * (qs8_minmax_f32__wasmsimd).
 */
export function minMaxRef(x: Float32Array): [number, number] {
  let lo = 0,
    hi = 0;
  for (let i = 0; i < x.length; i++) {
    const a = x[i]!;
    if (a < lo) lo = a;
    if (a > hi) hi = a;
  }
  return [lo, hi];
}

/**
 * QuantizeLinear: q = saturate(roundHalfEven(x / scale) + zp), each op in float32:
 * fround(x / scale), round half to even, fround(+ zp), clamp to [−128, 127]; NaN gives −128.
 */
export function quantizeRef(x: Float32Array, scale: number, zp: number): Int8Array {
  const y = new Int8Array(x.length);
  const s = Math.fround(scale);
  for (let i = 0; i < x.length; i++) {
    let r = Math.fround(roundHalfEven(Math.fround(x[i]! / s)) + zp);
    r = -128 < r ? r : -128;
    r = r < 127 ? r : 127;
    y[i] = r;
  }
  return y;
}

/** DequantizeLinear: y = fround((q − zp)·scale). */
export function dequantizeRef(q: Int8Array, scale: number, zp: number): Float32Array {
  const y = new Float32Array(q.length);
  const s = Math.fround(scale);
  for (let i = 0; i < q.length; i++) y[i] = Math.fround((q[i]! - zp) * s);
  return y;
}

/**
 * Reference of qs8_mul_rows_f32: row r of a (M, K) times b[r mod b.length], as DequantizeLinear
 * → Mul (float32) → QuantizeLinear.
 */
export function qs8MulRowsRef(
  a: Int8Array,
  b: Int8Array,
  M: number,
  K: number,
  p: { za: number; zb: number; zy: number; sa: number; sb: number; sy: number },
): Int8Array {
  const x = dequantizeRef(a, p.sa, p.za),
    g = dequantizeRef(b, p.sb, p.zb);
  const v = new Float32Array(M * K);
  for (let r = 0; r < M; r++) for (let k = 0; k < K; k++) v[r * K + k] = Math.fround(x[r * K + k]! * g[r % g.length]!);
  return quantizeRef(v, p.sy, p.zy);
}
