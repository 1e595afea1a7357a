// Plain TS references of the float32 compute core (assembly/f32/): the truth the WASM kernels
// are tested against. Direct loops, float64 accumulation, no tricks. Row-major everywhere.

/** Fused activation: none, ReLU, or a clamp to [min, max] (ReLU6, Clip). */
export type Act = 'none' | 'relu' | { min: number; max: number };

/** [lo, hi] of an activation (±Infinity when unbounded). */
export function actBounds(act: Act): [number, number] {
  if (act === 'none') return [-Infinity, Infinity];
  if (act === 'relu') return [0, Infinity];
  return [act.min, act.max];
}

export function applyAct(v: number, act: Act): number {
  if (act === 'none') return v;
  const [lo, hi] = actBounds(act);
  return Math.min(hi, Math.max(lo, v));
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
