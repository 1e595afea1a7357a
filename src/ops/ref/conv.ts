// Conv reference kernel (1-D, 2-D, 3-D, ... any kernel size, strides, pads, auto_pad,
// dilations, groups incl. depthwise, optional bias) and the sliding-window geometry shared with
// the pooling ops. Conv is im2col + matrix product per (batch, group): the column matrix holds
// the input patch under every output position (zeros in the padding), so the inner loop is the
// same float64-accumulating i-k-j product as MatMul. planConv (geometry) and convInto (the
// loops) also run the integer convolutions of quant.ts (ConvInteger, QLinearConv).

import type { Attrs, KernelContext, RefKernel, ShapeFn, ValueInfo } from '../types.js';
import { elementCount } from '../types.js';
import { AttrReader, infoOf, opError, requireDtype, requireInput, stridesOf } from './util.js';
import { finiteRows } from './matmul.js';

export type AutoPad = 'NOTSET' | 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';

export interface WindowAttrs {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** explicit pads [x1_begin, x2_begin, ..., x1_end, x2_end, ...] (NOTSET only) */
  pads: number[];
  autoPad: AutoPad;
  ceilMode: boolean;
}

export interface WindowGeometry {
  /** output spatial dims (-1 where the input dim is unknown) */
  out: number[];
  padBegin: number[];
  padEnd: number[];
}

/** Reads kernel_shape / strides / dilations / pads / auto_pad (+ ceil_mode when `pool`) with ONNX defaults. */
export function readWindowAttrs(
  op: string,
  r: AttrReader,
  nSpatial: number,
  kernelFromWeights: number[] | undefined,
  pool: boolean,
): WindowAttrs {
  const kernel = r.ints('kernel_shape') ?? kernelFromWeights;
  if (!kernel) throw opError(op, r.ctx, 'attribute kernel_shape is required');
  const check = (name: string, v: number[], len: number, min: number): number[] => {
    if (v.length !== len)
      throw opError(op, r.ctx, `attribute ${name} has ${v.length} values, expected ${len} for ${nSpatial} spatial dims`);
    if (v.some((x) => x < min)) throw opError(op, r.ctx, `attribute ${name} [${v.join(', ')}] has a value below ${min}`);
    return v;
  };
  check('kernel_shape', kernel, nSpatial, 1);
  const strides = check('strides', r.ints('strides', new Array(nSpatial).fill(1)), nSpatial, 1);
  const dilations = check('dilations', r.ints('dilations', new Array(nSpatial).fill(1)), nSpatial, 1);
  const autoPad = r.stringIn<AutoPad>('auto_pad', 'NOTSET', ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID']);
  const pads = r.ints('pads', new Array(2 * nSpatial).fill(0));
  check('pads', pads, 2 * nSpatial, 0);
  const ceilMode = pool ? r.intIn('ceil_mode', 0, [0, 1]) === 1 : false;
  return { kernel, strides, dilations, pads, autoPad, ceilMode };
}

/** Output size and effective padding of a sliding window over `inSpatial` (ONNX Conv/Pool rules). */
export function windowGeometry(inSpatial: readonly number[], w: WindowAttrs): WindowGeometry {
  const n = inSpatial.length;
  const out: number[] = [],
    padBegin: number[] = [],
    padEnd: number[] = [];
  for (let i = 0; i < n; i++) {
    const size = inSpatial[i]!,
      k = w.kernel[i]!,
      s = w.strides[i]!,
      d = w.dilations[i]!;
    const span = (k - 1) * d + 1; // extent of the dilated kernel
    if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') {
      if (size < 0) {
        out.push(-1);
        padBegin.push(0);
        padEnd.push(0);
        continue;
      }
      const o = Math.ceil(size / s);
      const total = Math.max(0, (o - 1) * s + span - size);
      const small = Math.floor(total / 2);
      const pb = w.autoPad === 'SAME_UPPER' ? small : total - small;
      out.push(o);
      padBegin.push(pb);
      padEnd.push(total - pb);
      continue;
    }
    const pb = w.autoPad === 'VALID' ? 0 : w.pads[i]!;
    const pe = w.autoPad === 'VALID' ? 0 : w.pads[i + n]!;
    padBegin.push(pb);
    padEnd.push(pe);
    if (size < 0) {
      out.push(-1);
      continue;
    }
    const room = size + pb + pe - span;
    if (room < 0) {
      out.push(0);
      continue;
    }
    let o: number;
    if (w.ceilMode) {
      o = Math.ceil(room / s) + 1;
      // the last window must start inside the input or its leading padding
      if ((o - 1) * s >= size + pb) o--;
    } else {
      o = Math.floor(room / s) + 1;
    }
    out.push(o);
  }
  return { out, padBegin, padEnd };
}

/**
 * For one spatial dim: input coordinate under kernel tap `k` at output position `o`, or -1 in
 * the padding. Returned as a flat table [k * outSize + o].
 */
export function tapTable(size: number, outSize: number, k: number, s: number, d: number, pb: number): Int32Array {
  const t = new Int32Array(k * outSize);
  for (let kk = 0; kk < k; kk++) {
    for (let o = 0; o < outSize; o++) {
      const x = o * s - pb + kk * d;
      t[kk * outSize + o] = x >= 0 && x < size ? x : -1;
    }
  }
  return t;
}

/**
 * Where every kernel tap reads for every output position of a convolution window:
 * offsetOf[kp·P + p] = flat spatial input offset under tap kp at output p, or −1 (padding).
 * P = output positions, KK = kernel taps. Shared by the Conv kernel and calibration (im2col rows).
 */
export function convTapOffsets(
  inSp: readonly number[],
  win: WindowAttrs,
): { geo: ReturnType<typeof windowGeometry>; P: number; KK: number; offsetOf: Int32Array } {
  const nSp = inSp.length;
  const geo = windowGeometry(inSp, win);
  const outSp = geo.out;
  const P = elementCount(outSp),
    KK = elementCount(win.kernel);
  // per-dim tap tables, and the multi-index (per dim) of every output position and every tap
  const taps = inSp.map((size, i) => tapTable(size, outSp[i]!, win.kernel[i]!, win.strides[i]!, win.dilations[i]!, geo.padBegin[i]!));
  const inStrides = stridesOf(inSp);
  const outIdx = multiIndices(outSp),
    tapIdx = multiIndices(win.kernel);
  const offsetOf = new Int32Array(KK * P);
  for (let kp = 0; kp < KK; kp++) {
    for (let p = 0; p < P; p++) {
      let off = 0;
      for (let d = 0; d < nSp; d++) {
        const x = taps[d]![tapIdx[kp * nSp + d]! * outSp[d]! + outIdx[p * nSp + d]!]!;
        if (x < 0) {
          off = -1;
          break;
        }
        off += x * inStrides[d]!;
      }
      offsetOf[kp * P + p] = off;
    }
  }
  return { geo, P, KK, offsetOf };
}

/** The validated geometry of one convolution (shared by Conv, ConvInteger and QLinearConv). */
export interface ConvPlan {
  N: number;
  /** input channels */
  C: number;
  /** output channels (feature maps) */
  M: number;
  /** input channels per group (W's second dim) */
  Cg: number;
  group: number;
  /** input spatial dims, elementCount = inSize */
  inSp: number[];
  inSize: number;
  /** output spatial dims, elementCount = P */
  outSp: number[];
  P: number;
  /** kernel taps */
  KK: number;
  /** convTapOffsets' table [KK, P] */
  offsetOf: Int32Array;
}

/**
 * Checks X [N, C, D1..Dn] and W [M, C/group, k1..kn] against the attributes (group, kernel_shape,
 * strides, pads, auto_pad, dilations) and returns the geometry; errors name `op` and the node.
 */
export function planConv(op: string, xDims: readonly number[], wDims: readonly number[], r: AttrReader): ConvPlan {
  const ctx = r.ctx;
  if (xDims.length < 3) throw opError(op, ctx, `X must have rank >= 3 ([N, C, spatial...]), got [${xDims.join(', ')}]`);
  if (wDims.length !== xDims.length) throw opError(op, ctx, `W [${wDims.join(', ')}] and X [${xDims.join(', ')}] ranks differ`);
  const group = r.int('group', 1);
  const [N, C] = [xDims[0]!, xDims[1]!];
  const M = wDims[0]!,
    Cg = wDims[1]!;
  const inSp = xDims.slice(2),
    nSp = inSp.length;
  const win = readWindowAttrs(op, r, nSp, wDims.slice(2), false);
  if (win.kernel.some((k, i) => k !== wDims[2 + i])) {
    throw opError(op, ctx, `kernel_shape [${win.kernel.join(', ')}] differs from W's spatial dims [${wDims.slice(2).join(', ')}]`);
  }
  if (group < 1 || C % group !== 0 || M % group !== 0 || C / group !== Cg) {
    throw opError(op, ctx, `group ${group} does not fit X channels ${C}, W [${wDims.join(', ')}]`);
  }
  const { geo, P, KK, offsetOf } = convTapOffsets(inSp, win);
  return { N, C, M, Cg, group, inSp, inSize: elementCount(inSp), outSp: geo.out, P, KK, offsetOf };
}

/**
 * out[N, M, P] = bias[m] + Σ W[m, r] · im2col(x)[r, p] per (batch, group), float64 accumulation,
 * zeros in the padding. Integer operands (zero-point-shifted int8, exact in float32) give exact
 * sums; an Int32Array `out` stores them modulo 2^32, a Float32Array rounds them once.
 */
export function convInto(
  x: Float32Array,
  w: Float32Array,
  bias: ArrayLike<number> | undefined,
  out: Float32Array | Int32Array,
  plan: ConvPlan,
): void {
  const { N, C, M, Cg, group, inSize, P, KK, offsetOf } = plan;
  const Mg = M / group;
  const R = Cg * KK; // rows of the im2col matrix
  // Output positions are processed in tiles so the im2col matrix stays about 4 MB at most.
  const T = Math.max(1, Math.min(P, Math.floor((1 << 20) / Math.max(R, 1))));
  const cols = new Float32Array(R * T); // im2col matrix [R, T] of one tile
  const acc = new Float64Array(T);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < group; g++) {
      for (let p0 = 0; p0 < P; p0 += T) {
        const t = Math.min(T, P - p0);
        // im2col for the input channels of this group, positions p0 .. p0+t-1
        for (let c = 0; c < Cg; c++) {
          const base = (n * C + g * Cg + c) * inSize;
          for (let kp = 0; kp < KK; kp++) {
            const row = (c * KK + kp) * T,
              offRow = kp * P + p0;
            for (let p = 0; p < t; p++) {
              const off = offsetOf[offRow + p]!;
              cols[row + p] = off < 0 ? 0 : x[base + off]!;
            }
          }
        }
        // Y[m, p] = B[m] + sum_r W[m, r] * cols[r, p] (a zero weight is skipped only against a
        // finite row of cols: 0 · ±Inf and 0 · NaN are NaN)
        const finite = finiteRows(cols, 0, R, T);
        for (let mg = 0; mg < Mg; mg++) {
          const m = g * Mg + mg;
          acc.fill(bias ? bias[m]! : 0, 0, t);
          const wRow = m * R;
          for (let r = 0; r < R; r++) {
            const wv = w[wRow + r]!;
            if (wv === 0 && finite[r]) continue;
            const cRow = r * T;
            for (let p = 0; p < t; p++) acc[p]! += wv * cols[cRow + p]!;
          }
          const o = (n * M + m) * P + p0;
          for (let p = 0; p < t; p++) out[o + p] = acc[p]!;
        }
      }
    }
  }
}

/**
 * Conv: X [N, C, D1..Dn], W [M, C/group, k1..kn], optional B [M] -> Y [N, M, O1..On].
 */
export const conv: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Conv';
  const X = requireInput(inputs, 0, op, ctx, 'X'),
    W = requireInput(inputs, 1, op, ctx, 'W');
  const B = inputs[2];
  requireDtype(X, ['float32'], 'X', op, ctx);
  requireDtype(W, ['float32'], 'W', op, ctx);
  const plan = planConv(op, X.dims, W.dims, new AttrReader(op, attrs, ctx));
  const M = plan.M;
  if (B) {
    requireDtype(B, ['float32'], 'B', op, ctx);
    if (B.dims.length !== 1 || B.dims[0] !== M) throw opError(op, ctx, `B must have shape [${M}], got [${B.dims.join(', ')}]`);
  }
  const out = new Float32Array(plan.N * M * plan.P);
  convInto(X.data as Float32Array, W.data as Float32Array, B?.data as Float32Array | undefined, out, plan);
  return [{ dtype: 'float32', dims: [plan.N, M, ...plan.outSp], data: out }];
};

/** For every position of a row-major grid `dims`, its multi-index: flat [pos * rank + d]. */
export function multiIndices(dims: readonly number[]): Int32Array {
  const rank = dims.length,
    n = elementCount(dims);
  const out = new Int32Array(n * rank);
  const c = new Array<number>(rank).fill(0);
  for (let p = 0; p < n; p++) {
    for (let d = 0; d < rank; d++) out[p * rank + d] = c[d]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++c[d]! < dims[d]!) break;
      c[d] = 0;
    }
  }
  return out;
}

export const convShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'Conv';
  const X = infoOf(inputs, 0, op, ctx),
    W = infoOf(inputs, 1, op, ctx);
  return [{ dtype: X.dtype, dims: convOutputDims(op, X, W, attrs, ctx) }];
};

/** Static output dims [N, M, O1..On] of a convolution of X by W (null where unknown). */
export function convOutputDims(op: string, X: ValueInfo, W: ValueInfo, attrs: Attrs, ctx: KernelContext): number[] | null {
  if (!X.dims) return null;
  const nSp = X.dims.length - 2;
  if (nSp < 1) throw opError(op, ctx, `X must have rank >= 3, got [${X.dims.join(', ')}]`);
  const r = new AttrReader(op, attrs, ctx);
  const wk = W.dims && W.dims.length === nSp + 2 && W.dims.slice(2).every((d) => d >= 0) ? W.dims.slice(2) : undefined;
  if (!r.has('kernel_shape') && !wk) return null;
  const win = readWindowAttrs(op, r, nSp, wk, false);
  const M = W.dims ? W.dims[0]! : -1;
  return [X.dims[0]!, M, ...windowGeometry(X.dims.slice(2), win).out];
}
