// Plain TS references of the float32 compute core (assembly/f32/): the truth the WASM kernels
// are tested against. Direct loops, float64 accumulation, no tricks. Row-major everywhere.

/**
 * Fused activation: none, ReLU, a clamp to [min, max] (ReLU6, Clip), or one of the functions the
 * kernels apply to each block right after computing it (assembly/f32ops/unary.ts ACT_*).
 */
export type Act =
  | 'none'
  | 'relu'
  | { min: number; max: number }
  | { fn: 'sigmoid' | 'silu' | 'hardswish' | 'tanh' | 'gelu' | 'gelu_tanh' }
  | { fn: 'hardsigmoid'; alpha: number; beta: number };

/** The kernels' act code (assembly/f32ops/unary.ts ACT_*) and its two parameters. */
export const ACT_CODE = { none: 0, clamp: 1, sigmoid: 2, silu: 3, hardswish: 4, hardsigmoid: 5, tanh: 6, gelu: 7, gelu_tanh: 8 } as const;

/** [code, p0, p1] of an activation: clamp bounds (±Infinity when unbounded), HardSigmoid's alpha and beta. */
export function actCode(act: Act): [number, number, number] {
  if (act === 'none') return [ACT_CODE.none, -Infinity, Infinity];
  if (act === 'relu') return [ACT_CODE.clamp, 0, Infinity];
  if ('min' in act) return [ACT_CODE.clamp, act.min, act.max];
  if (act.fn === 'hardsigmoid') return [ACT_CODE.hardsigmoid, act.alpha, act.beta];
  return [ACT_CODE[act.fn], -Infinity, Infinity];
}

/** [lo, hi] of a clamp activation (±Infinity when unbounded or not a clamp). */
export function actBounds(act: Act): [number, number] {
  const [code, lo, hi] = actCode(act);
  return code === ACT_CODE.clamp ? [lo, hi] : [-Infinity, Infinity];
}

const erf = (x: number): number => {
  // Abramowitz-Stegun 7.1.26 is too coarse for a reference: use the series / continued fraction
  const t = Math.abs(x);
  if (t < 2.5) {
    let sum = x,
      term = x;
    for (let n = 1; n < 60; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction (Lentz) for |x| ≥ 2.5
  let f = t,
    c = t,
    d = 0;
  for (let n = 1; n < 200; n++) {
    const a = n / 2;
    d = t + a * d;
    d = 1 / d;
    c = t + a / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-t * t) / (f * Math.sqrt(Math.PI));
  return Math.sign(x) * (1 - erfc);
};

/** The activation of one value (float64 math; NaN passes through the clamp, as in the kernels' pmin(pmax(acc, lo), hi): ONNX keeps NaN). */
export function applyAct(v: number, act: Act): number {
  if (act === 'none') return v;
  const [code, lo, hi] = actCode(act);
  const sig = (x: number): number => 1 / (1 + Math.exp(-x));
  switch (code) {
    case ACT_CODE.clamp:
      return Math.min(hi, Math.max(lo, v));
    case ACT_CODE.sigmoid:
      return sig(v);
    case ACT_CODE.silu:
      return v * sig(v);
    case ACT_CODE.hardswish:
      return v * Math.max(0, Math.min(1, v / 6 + 0.5));
    case ACT_CODE.hardsigmoid:
      return Math.max(0, Math.min(1, lo * v + hi));
    case ACT_CODE.tanh:
      return Math.tanh(v);
    case ACT_CODE.gelu:
      return 0.5 * v * (1 + erf(v / Math.SQRT2));
    default:
      return 0.5 * v * (1 + Math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
  }
}

export interface GemmRefOptions {
  /** per-row (M values) or per-column (N values) bias */
  bias?: Float32Array;
  biasPer?: 'row' | 'col';
  act?: Act;
}

/**
 * C(M,N) = act(A(M,K)·B(K,N) + bias), A and B row-major. Writes and returns C (allocated when
 * not given). Accumulates in float64, rounds once to float32.
 */
export function gemmRef(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  B: Float32Array,
  C?: Float32Array,
  opts: GemmRefOptions = {},
): Float32Array {
  const out = C ?? new Float32Array(M * N);
  const act = opts.act ?? 'none';
  const acc = new Float64Array(N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      acc[n] = !opts.bias ? 0 : (opts.biasPer ?? 'row') === 'row' ? opts.bias[m]! : opts.bias[n]!;
    }
    for (let k = 0; k < K; k++) {
      const a = A[m * K + k]!;
      const row = k * N;
      for (let n = 0; n < N; n++) acc[n] += a * B[row + n]!;
    }
    for (let n = 0; n < N; n++) out[m * N + n] = applyAct(acc[n]!, act);
  }
  return out;
}

/** 2-D conv attributes (ONNX Conv with explicit pads). */
export interface Conv2dAttrs {
  /** [top, left, bottom, right] (ONNX order: x1_begin, x2_begin, x1_end, x2_end) */
  pads: [number, number, number, number];
  strides: [number, number];
  dilations: [number, number];
  groups: number;
}

export const CONV_DEFAULTS: Conv2dAttrs = { pads: [0, 0, 0, 0], strides: [1, 1], dilations: [1, 1], groups: 1 };

/** Output size along one axis, or ≤ 0 when the (dilated) window does not fit. */
export function convOutSize(size: number, kernel: number, padBegin: number, padEnd: number, stride: number, dilation: number): number {
  const room = size + padBegin + padEnd - ((kernel - 1) * dilation + 1);
  return room < 0 ? 0 : Math.floor(room / stride) + 1;
}

/**
 * 2-D convolution, direct loops: x (N, C, H, W), w (M, C/groups, KH, KW), bias (M) or none →
 * y (N, M, OH, OW), then `act`. float64 sums.
 */
export function conv2dRef(
  x: Float32Array,
  xDims: readonly number[],
  w: Float32Array,
  wDims: readonly number[],
  bias: Float32Array | undefined,
  attrs: Conv2dAttrs = CONV_DEFAULTS,
  act: Act = 'none',
): { data: Float32Array; dims: number[] } {
  const [B, C, H, W] = xDims as [number, number, number, number];
  const [M, Cg, KH, KW] = wDims as [number, number, number, number];
  const G = attrs.groups;
  if (C !== Cg * G || M % G !== 0) throw new Error(`conv2dRef: channels ${C} / weight ${wDims.join('x')} / groups ${G} disagree`);
  const [pt, pl, pb, pr] = attrs.pads;
  const [sh, sw] = attrs.strides;
  const [dh, dw] = attrs.dilations;
  const OH = convOutSize(H, KH, pt, pb, sh, dh),
    OW = convOutSize(W, KW, pl, pr, sw, dw);
  const Mg = M / G;
  const y = new Float32Array(B * M * OH * OW);
  for (let b = 0; b < B; b++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let s = bias ? bias[m]! : 0;
          for (let cg = 0; cg < Cg; cg++) {
            const c = g * Cg + cg;
            for (let i = 0; i < KH; i++) {
              const ih = oh * sh - pt + i * dh;
              if (ih < 0 || ih >= H) continue;
              for (let j = 0; j < KW; j++) {
                const iw = ow * sw - pl + j * dw;
                if (iw < 0 || iw >= W) continue;
                s += x[((b * C + c) * H + ih) * W + iw]! * w[((m * Cg + cg) * KH + i) * KW + j]!;
              }
            }
          }
          y[((b * M + m) * OH + oh) * OW + ow] = applyAct(s, act);
        }
      }
    }
  }
  return { data: y, dims: [B, M, OH, OW] };
}

/**
 * Depthwise conv (groups = C, output channel m reads input channel ⌊m / multiplier⌋) exactly as
 * f32_dwconv__wasmsimd computes it, bit for bit: each output is a float32 sum that starts at the
 * bias (+0 without one) and adds round(x·w) over the taps in (kh, kw) order, a tap in the padding
 * adding round(0·w); then the clamp as the kernel's pmin(pmax(acc, lo), hi) (NaN kept), or
 * `post` for any other activation (pass the kernel's float32 function, e.g. actF32Ref).
 * x (C, H, W), w (M, 1, KH, KW) → y (M, OH, OW).
 */
export function dwconv2dF32Ref(
  x: Float32Array,
  xDims: readonly number[],
  w: Float32Array,
  wDims: readonly number[],
  bias: Float32Array | undefined,
  attrs: Conv2dAttrs,
  act: Act = 'none',
  post?: (v: number) => number,
): { data: Float32Array; dims: number[] } {
  const f = Math.fround;
  const [C, H, W] = xDims.slice(-3) as [number, number, number];
  const [M, Cg, KH, KW] = wDims as [number, number, number, number];
  if (Cg !== 1 || attrs.groups !== C || M % C !== 0)
    throw new Error(`dwconv2dF32Ref: not depthwise (${C} channels, weight ${wDims.join('x')}, groups ${attrs.groups})`);
  const [pt, pl, pb, pr] = attrs.pads;
  const [sh, sw] = attrs.strides;
  const [dh, dw] = attrs.dilations;
  const OH = convOutSize(H, KH, pt, pb, sh, dh),
    OW = convOutSize(W, KW, pl, pr, sw, dw);
  const [code, lo, hi] = actCode(act);
  const mult = M / C;
  const y = new Float32Array(M * OH * OW);
  for (let m = 0; m < M; m++) {
    const c = Math.floor(m / mult);
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        let s = bias ? bias[m]! : 0;
        for (let i = 0; i < KH; i++)
          for (let j = 0; j < KW; j++) {
            const ih = oh * sh - pt + i * dh,
              iw = ow * sw - pl + j * dw;
            const xv = ih >= 0 && ih < H && iw >= 0 && iw < W ? x[(c * H + ih) * W + iw]! : 0;
            s = f(s + f(xv * w[(m * KH + i) * KW + j]!));
          }
        if (code === ACT_CODE.clamp) {
          s = s < lo ? lo : s; // pmax(acc, lo)
          s = hi < s ? hi : s; // pmin(·, hi)
        } else if (code !== ACT_CODE.none) {
          if (!post) throw new Error('dwconv2dF32Ref: pass the float32 function of a non-clamp activation as post');
          s = post(s);
        }
        y[(m * OH + oh) * OW + ow] = s;
      }
  }
  return { data: y, dims: [1, M, OH, OW] };
}

// ---- ConvTranspose (assembly/f32/deconv.ts) ---------------------------------------------------

/**
 * One group of a 2-D ConvTranspose as the kernel sees it: x (C, H, W) → y (M, OH, OW), weights
 * (C, M, KH, KW), begin pads only (the end is wherever OH / OW stop), fused clamp `act`.
 */
export interface Deconv2dGeometry {
  C: number;
  H: number;
  W: number;
  M: number;
  KH: number;
  KW: number;
  OH: number;
  OW: number;
  /** [top, left] begin pads */
  pads: [number, number];
  strides: [number, number];
  dilations: [number, number];
  act: Act;
}

const f32 = Math.fround;

/**
 * col2im, float32, in the kernel's order: for input pixels p in [p0, p1) (row-major), output
 * channel m, tap (kh, kw): y[m][oh][ow] += cols[(p - p0)·N + (m·KH + kh)·KW + kw] where
 * oh = ih·sh − padTop + kh·dh, ow = iw·sw − padLeft + kw·dw lie inside the output
 * (N = M·KH·KW). Each add rounded to float32; y updated in place.
 */
export function col2imRef(geo: Deconv2dGeometry, cols: Float32Array, p0: number, p1: number, y: Float32Array): void {
  const { W, M, KH, KW, OH, OW } = geo;
  const [pt, pl] = geo.pads,
    [sh, sw] = geo.strides,
    [dh, dw] = geo.dilations;
  const N = M * KH * KW;
  for (let p = p0; p < p1; p++) {
    const ih = Math.floor(p / W),
      iw = p % W;
    const row = (p - p0) * N;
    for (let m = 0; m < M; m++)
      for (let kh = 0; kh < KH; kh++) {
        const oh = ih * sh - pt + kh * dh;
        if (oh < 0 || oh >= OH) continue;
        for (let kw = 0; kw < KW; kw++) {
          const ow = iw * sw - pl + kw * dw;
          if (ow < 0 || ow >= OW) continue;
          const o = (m * OH + oh) * OW + ow;
          y[o] = f32(y[o]! + cols[row + (m * KH + kh) * KW + kw]!);
        }
      }
  }
}

/**
 * One group of a ConvTranspose exactly as f32_deconv2d__wasmsimd computes it (bit for bit):
 * cols[p][n] = Σ_c x[c][p]·w[c][n] summed from 0 in c order in float32 (the GEMM), y = bias,
 * col2imRef over all pixels, then the clamp (NaN stays NaN). x (C,H,W), w (C, M, KH, KW).
 */
export function deconv2dRef(geo: Deconv2dGeometry, x: Float32Array, w: Float32Array, bias?: Float32Array): Float32Array {
  const { C, H, W, M, KH, KW, OH, OW } = geo;
  const P = H * W,
    N = M * KH * KW,
    Q = OH * OW;
  const cols = new Float32Array(P * N);
  for (let p = 0; p < P; p++)
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let c = 0; c < C; c++) acc = f32(acc + f32(x[c * P + p]! * w[c * N + n]!));
      cols[p * N + n] = acc;
    }
  const y = new Float32Array(M * Q);
  if (bias) for (let m = 0; m < M; m++) y.fill(bias[m]!, m * Q, (m + 1) * Q);
  col2imRef(geo, cols, 0, P, y);
  if (geo.act !== 'none') {
    const [lo, hi] = actBounds(geo.act).map(f32) as [number, number];
    for (let i = 0; i < y.length; i++) y[i] = Math.min(Math.max(y[i]!, lo), hi);
  }
  return y;
}

// ---- separable resampling (assembly/f32ops/resample.ts) ---------------------------------------

/**
 * The taps of one resampled axis: n per output (n = 0: the axis is copied), source indices
 * idx[o·n + k] (clamped into the input) and float32 weights weight[o·n + k]; idx[o·n] = -1 marks
 * an output that takes the extrapolation value (tf_crop_and_resize).
 */
export interface ResampleAxis {
  n: number;
  idx: Int32Array;
  weight: Float32Array;
}

/** A resampling of the last two axes: planes × (H, W) → planes × (OH, OW). */
export interface Resample2d {
  planes: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  /** taps along H (source rows) */
  rows: ResampleAxis;
  /** taps along W (source columns) */
  cols: ResampleAxis;
  extrapolation: number;
}

/**
 * f32_resample2d__wasmsimd's arithmetic (bit for bit): per source row, h[ox] = Σ_k wx·x (from the
 * first product, k in order, float32), then y[oy][ox] = Σ_k wy·h[row_k][ox]; an output marked -1
 * along either axis is the extrapolation value.
 */
export function resample2dRef(r: Resample2d, x: Float32Array): Float32Array {
  const { planes, H, W, OH, OW, rows, cols } = r;
  const extra = f32(r.extrapolation);
  const y = new Float32Array(planes * OH * OW);
  const hrow = (src: number): Float32Array => {
    if (cols.n === 0) return x.slice(src, src + W);
    const h = new Float32Array(OW);
    const n = cols.n;
    for (let o = 0; o < OW; o++) {
      if (cols.idx[o * n]! < 0) {
        h[o] = extra;
        continue;
      }
      let acc = f32(cols.weight[o * n]! * x[src + cols.idx[o * n]!]!);
      for (let k = 1; k < n; k++) acc = f32(acc + f32(cols.weight[o * n + k]! * x[src + cols.idx[o * n + k]!]!));
      h[o] = acc;
    }
    return h;
  };
  for (let pl = 0; pl < planes; pl++) {
    const xin = pl * H * W,
      yout = pl * OH * OW;
    if (rows.n === 0) {
      for (let oy = 0; oy < OH; oy++) y.set(hrow(xin + oy * W), yout + oy * OW);
      continue;
    }
    const h = new Map<number, Float32Array>();
    const hOf = (row: number): Float32Array => {
      let v = h.get(row);
      if (!v) h.set(row, (v = hrow(xin + row * W)));
      return v;
    };
    const n = rows.n;
    for (let oy = 0; oy < OH; oy++) {
      const dst = yout + oy * OW;
      if (rows.idx[oy * n]! < 0) {
        y.fill(extra, dst, dst + OW);
        continue;
      }
      const taps = Array.from({ length: n }, (_, k) => hOf(rows.idx[oy * n + k]!));
      for (let o = 0; o < OW; o++) {
        let acc = f32(rows.weight[oy * n]! * taps[0]![o]!);
        for (let k = 1; k < n; k++) acc = f32(acc + f32(rows.weight[oy * n + k]! * taps[k]![o]!));
        y[dst + o] = cols.n > 0 && cols.idx[o * cols.n]! < 0 ? extra : acc;
      }
    }
  }
  return y;
}

// ---- recurrent layers (assembly/f32/rnn.ts) ----------------------------------------------------

export type RecurrentKind = 'RNN' | 'GRU' | 'LSTM';

/** The activation functions of the recurrent kernels, by code (the index here). */
export const RECURRENT_ACTIVATIONS = [
  'Sigmoid',
  'Tanh',
  'Relu',
  'Affine',
  'LeakyRelu',
  'ThresholdedRelu',
  'ScaledTanh',
  'HardSigmoid',
  'Elu',
  'Softsign',
  'Softplus',
] as const;

/** One activation function of a recurrent kernel: its code (RECURRENT_ACTIVATIONS index), alpha and beta. */
export interface RecurrentAct {
  code: number;
  alpha: number;
  beta: number;
}

/** The function of an activation (float64, the formulas of src/ops/ref/rnn.ts). */
export function recurrentActRef(a: RecurrentAct): (x: number) => number {
  const { alpha: al, beta: be } = a;
  switch (RECURRENT_ACTIVATIONS[a.code]) {
    case 'Sigmoid':
      return (x) => 1 / (1 + Math.exp(-x));
    case 'Tanh':
      return Math.tanh;
    case 'Relu':
      return (x) => (x > 0 ? x : 0);
    case 'Affine':
      return (x) => al * x + be;
    case 'LeakyRelu':
      return (x) => (x >= 0 ? x : al * x);
    case 'ThresholdedRelu':
      return (x) => (x > al ? x : 0);
    case 'ScaledTanh':
      return (x) => al * Math.tanh(be * x);
    case 'HardSigmoid':
      return (x) => Math.min(1, Math.max(0, al * x + be));
    case 'Elu':
      return (x) => (x >= 0 ? x : al * (Math.exp(x) - 1));
    case 'Softsign':
      return (x) => x / (1 + Math.abs(x));
    case 'Softplus':
      return (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    default:
      throw new Error(`recurrentActRef: unknown activation code ${a.code}`);
  }
}

/** One direction of a recurrent layer as the kernels of assembly/f32/rnn.ts see it (G gates, GH = G·H). */
export interface RecurrentSeqArgs {
  kind: RecurrentKind;
  /** steps, batch, hidden size */
  S: number;
  B: number;
  H: number;
  reverse: boolean;
  /** the input projection with its bias, [S, B, GH] (gate order RNN i, GRU z r h, LSTM i o f c) */
  xw: Float32Array;
  /** R of the direction, [GH, H] */
  r: Float32Array;
  /** sequence_lens [B] (absent: S each) */
  lens?: Int32Array | undefined;
  /** initial states [B, H] (absent: zeros) */
  h0?: Float32Array | undefined;
  c0?: Float32Array | undefined;
  /** LSTM peepholes P_i, P_o, P_f [3H] */
  peep?: Float32Array | undefined;
  /** GRU with linear_before_reset: Rb_h [H] (absent: zero) */
  rbh?: Float32Array | undefined;
  inputForget?: boolean;
  linearBeforeReset?: boolean;
  /** clip (absent or 0: none) */
  clip?: number | undefined;
  /** f (RNN), f g (GRU), f g h (LSTM) */
  acts: RecurrentAct[];
}

export interface RecurrentSeqResult {
  /** [S, B, H], zero at steps t ≥ lens[b] */
  y: Float32Array;
  /** final states [B, H] (zero for lens[b] = 0) */
  yh: Float32Array;
  yc: Float32Array;
}

/**
 * One direction of RNN / GRU / LSTM over the sequence from its input projection: the reference
 * of f32_{rnn,gru,lstm}_seq__wasmsimd. Dot products in float64 from XW; pre-activations and
 * states stored as float32 (as src/ops/ref/rnn.ts).
 */
export function recurrentSeqRef(a: RecurrentSeqArgs): RecurrentSeqResult {
  const { kind, S, B, H } = a;
  const G = kind === 'RNN' ? 1 : kind === 'GRU' ? 3 : 4;
  const GH = G * H;
  const [f, g, hAct] = a.acts.map(recurrentActRef) as [(x: number) => number, (x: number) => number, (x: number) => number];
  const clipV = a.clip ?? 0;
  const clip = clipV > 0 ? (v: number) => Math.min(clipV, Math.max(-clipV, v)) : (v: number) => v;
  const fr = Math.fround;
  const y = new Float32Array(S * B * H),
    yh = new Float32Array(B * H),
    yc = new Float32Array(B * H);
  const h = new Float32Array(H),
    c = new Float32Array(H),
    pre = new Float32Array(GH),
    z = new Float32Array(H),
    rg = new Float32Array(H),
    rh = new Float32Array(H);
  const rdot = (v: Float32Array, q: number): number => {
    let s = 0;
    for (let m = 0; m < H; m++) s += v[m]! * a.r[q * H + m]!;
    return s;
  };
  for (let b = 0; b < B; b++) {
    const len = Math.min(Math.max(a.lens ? a.lens[b]! : S, 0), S);
    for (let j = 0; j < H; j++) {
      h[j] = a.h0 ? a.h0[b * H + j]! : 0;
      c[j] = a.c0 ? a.c0[b * H + j]! : 0;
    }
    for (let k = 0; k < len; k++) {
      const t = a.reverse ? len - 1 - k : k;
      const xo = (t * B + b) * GH;
      // every gate but GRU's h: XW + h·Rᵀ
      const nFull = kind === 'GRU' ? 2 * H : GH;
      for (let q = 0; q < nFull; q++) pre[q] = a.xw[xo + q]! + rdot(h, q);
      if (kind === 'RNN') {
        for (let j = 0; j < H; j++) h[j] = f(clip(pre[j]!));
      } else if (kind === 'GRU') {
        for (let j = 0; j < H; j++) {
          z[j] = f(clip(pre[j]!));
          rg[j] = f(clip(pre[H + j]!));
          rh[j] = rg[j]! * h[j]!;
        }
        // every h̃ pre-activation (from the old state) before the state changes
        for (let j = 0; j < H; j++) {
          const q = 2 * H + j;
          pre[q] = a.linearBeforeReset ? a.xw[xo + q]! + fr(rg[j]! * ((a.rbh ? a.rbh[j]! : 0) + rdot(h, q))) : a.xw[xo + q]! + rdot(rh, q);
        }
        for (let j = 0; j < H; j++) {
          const hh = fr(g(clip(pre[2 * H + j]!)));
          h[j] = (1 - z[j]!) * hh + z[j]! * h[j]!;
        }
      } else {
        const P = a.peep;
        for (let j = 0; j < H; j++) {
          const cPrev = c[j]!;
          const ig = fr(f(clip(fr(pre[j]! + (P ? P[j]! * cPrev : 0)))));
          const fg = fr(a.inputForget ? 1 - ig : f(clip(fr(pre[2 * H + j]! + (P ? P[2 * H + j]! * cPrev : 0)))));
          const cc = fr(g(clip(pre[3 * H + j]!)));
          c[j] = fg * cPrev + ig * cc;
          const og = fr(f(clip(fr(pre[H + j]! + (P ? P[H + j]! * c[j]! : 0)))));
          h[j] = og * fr(hAct(c[j]!));
        }
      }
      y.set(h, (t * B + b) * H);
    }
    if (len > 0) {
      yh.set(h, b * H);
      yc.set(c, b * H);
    }
  }
  return { y, yh, yc };
}
