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

/** The activation of one value (float64 math; NaN passes through the clamp as the kernels' pmax/pmin do not: ONNX keeps NaN). */
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
