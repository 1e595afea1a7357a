// More normalizations (float32, statistics in float64): InstanceNormalization (6, 22),
// GroupNormalization (18: scale/bias per group; 21: per channel), LpNormalization (1, 22),
// MeanVarianceNormalization (9, 13), LRN (1, 13). Variances are population variances
// (divided by the count), computed as the mean of squared deviations.

import type { KernelContext, RefKernel, ShapeFn, Tensor } from '../types.js';
import { elementCount } from '../types.js';
import { AttrReader, infoOf, normAxes, normAxis, opError, requireDtype, requireInput, sameInfo } from './util.js';

/** Every output has X's info (the shape function of all ops here). */
export function normShape(op: string): ShapeFn {
  return (inputs, _a, _c, ctx) => [sameInfo(infoOf(inputs, 0, op, ctx))];
}

function vectorInput(inputs: ReadonlyArray<Tensor | undefined>, i: number, name: string, len: number, op: string, ctx: KernelContext) {
  const t = requireInput(inputs, i, op, ctx, name);
  requireDtype(t, ['float32'], name, op, ctx);
  if (t.dims.length !== 1 || t.dims[0] !== len) throw opError(op, ctx, `${name} must have shape [${len}], got [${t.dims.join(', ')}]`);
  return t.data as Float32Array;
}

/**
 * Normalizes x[base + j] for j < count in place into y: (x - mean) / sqrt(var + eps), then
 * * scale + bias taken per element through `affine(j)` = [scale, bias].
 */
function normalizeBlock(
  x: Float32Array,
  y: Float32Array,
  base: number,
  count: number,
  eps: number,
  affine: (j: number) => readonly [number, number],
): void {
  let s = 0;
  for (let j = 0; j < count; j++) s += x[base + j]!;
  const mean = s / count;
  let q = 0;
  for (let j = 0; j < count; j++) {
    const d = x[base + j]! - mean;
    q += d * d;
  }
  const inv = 1 / Math.sqrt(q / count + eps);
  for (let j = 0; j < count; j++) {
    const [sc, b] = affine(j);
    y[base + j] = sc * ((x[base + j]! - mean) * inv) + b;
  }
}

/** InstanceNormalization: x [N, C, D...], scale [C], B [C]; statistics per (n, c) over D... */
export const instanceNorm: RefKernel = (inputs, attrs, ctx) => {
  const op = 'InstanceNormalization';
  const X = requireInput(inputs, 0, op, ctx, 'input');
  requireDtype(X, ['float32'], 'input', op, ctx);
  if (X.dims.length < 2) throw opError(op, ctx, `input must have rank >= 2 ([N, C, ...]), got [${X.dims.join(', ')}]`);
  const eps = new AttrReader(op, attrs, ctx).float('epsilon', 1e-5);
  const [N, C] = [X.dims[0]!, X.dims[1]!];
  const S = elementCount(X.dims.slice(2));
  const scale = vectorInput(inputs, 1, 'scale', C, op, ctx),
    bias = vectorInput(inputs, 2, 'B', C, op, ctx);
  const x = X.data as Float32Array;
  const y = new Float32Array(x.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const ab = [scale[c]!, bias[c]!] as const;
      normalizeBlock(x, y, (n * C + c) * S, S, eps, () => ab);
    }
  }
  return [{ dtype: 'float32', dims: [...X.dims], data: y }];
};

/**
 * GroupNormalization: x [N, C, D...] split into num_groups groups of C/G channels; statistics per
 * (n, group) over its channels and D...; scale and bias per group (version 18) or per channel (21).
 * stash_type (21) selects the precision of the statistics: Sparrow's are float64 either way.
 */
export function groupNorm(version: 18 | 21): RefKernel {
  const op = 'GroupNormalization';
  return (inputs, attrs, ctx) => {
    const X = requireInput(inputs, 0, op, ctx, 'X');
    requireDtype(X, ['float32'], 'X', op, ctx);
    if (X.dims.length < 2) throw opError(op, ctx, `X must have rank >= 2 ([N, C, ...]), got [${X.dims.join(', ')}]`);
    const r = new AttrReader(op, attrs, ctx);
    const eps = r.float('epsilon', 1e-5);
    const G = r.requiredInt('num_groups');
    if (version >= 21) r.intIn('stash_type', 1, [1, 11, 10, 16]); // float, double, float16, bfloat16
    const [N, C] = [X.dims[0]!, X.dims[1]!];
    if (G < 1 || C % G !== 0) throw opError(op, ctx, `num_groups ${G} does not divide the ${C} channels`);
    const perGroup = version === 18;
    const scale = vectorInput(inputs, 1, 'scale', perGroup ? G : C, op, ctx),
      bias = vectorInput(inputs, 2, 'bias', perGroup ? G : C, op, ctx);
    const S = elementCount(X.dims.slice(2)),
      Cg = C / G;
    const x = X.data as Float32Array;
    const y = new Float32Array(x.length);
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < G; g++) {
        const ab = [scale[g]!, bias[g]!] as const;
        // the block of group g: channels g*Cg .. g*Cg+Cg-1, contiguous in [N, C, S]
        normalizeBlock(x, y, (n * C + g * Cg) * S, Cg * S, eps, (j) => {
          if (perGroup) return ab;
          const c = g * Cg + Math.floor(j / Math.max(S, 1));
          return [scale[c]!, bias[c]!];
        });
      }
    }
    return [{ dtype: 'float32', dims: [...X.dims], data: y }];
  };
}

/**
 * LpNormalization: y = x / ||x||_p along `axis` (default -1), p in {1, 2}; y = 0 where the norm is
 * 0. The norm is of |x| (the ONNX reference forgets the abs for p = 1; the spec and onnxruntime
 * take it).
 */
export const lpNorm: RefKernel = (inputs, attrs, ctx) => {
  const op = 'LpNormalization';
  const X = requireInput(inputs, 0, op, ctx, 'input');
  requireDtype(X, ['float32'], 'input', op, ctx);
  const r = new AttrReader(op, attrs, ctx);
  const p = r.intIn('p', 2, [1, 2]);
  const rank = X.dims.length;
  if (rank === 0) throw opError(op, ctx, 'input must have rank >= 1');
  const axis = normAxis(r.int('axis', -1), rank, op, ctx);
  const outer = elementCount(X.dims.slice(0, axis)),
    len = X.dims[axis]!,
    inner = elementCount(X.dims.slice(axis + 1));
  const x = X.data as Float32Array;
  const y = new Float32Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let s = 0;
      for (let k = 0; k < len; k++) {
        const v = x[base + k * inner]!;
        s += p === 1 ? Math.abs(v) : v * v;
      }
      const norm = p === 1 ? s : Math.sqrt(s);
      for (let k = 0; k < len; k++) y[base + k * inner] = norm === 0 ? 0 : x[base + k * inner]! / norm;
    }
  }
  return [{ dtype: 'float32', dims: [...X.dims], data: y }];
};

/**
 * MeanVarianceNormalization: y = (x - E[x]) / (sqrt(Var[x]) + 1e-9), the expectations over
 * `axes` (default [0, 2, 3]), as the ONNX function body (which takes Var = E[x²] - E[x]²; the
 * mean of squared deviations here is the same number without the cancellation).
 */
export const meanVarianceNorm: RefKernel = (inputs, attrs, ctx) => {
  const op = 'MeanVarianceNormalization';
  const X = requireInput(inputs, 0, op, ctx, 'X');
  requireDtype(X, ['float32'], 'X', op, ctx);
  const rank = X.dims.length;
  const axes = normAxes(new AttrReader(op, attrs, ctx).ints('axes', [0, 2, 3]), rank, op, ctx);
  // statistics slot of every element: its index with the reduced axes dropped
  const keptDims = X.dims.map((d, i) => (axes.includes(i) ? 1 : d));
  const nSlots = elementCount(keptDims);
  const count = nSlots > 0 ? elementCount(X.dims) / nSlots : 0;
  const slot = new Int32Array(elementCount(X.dims));
  {
    const c = new Array<number>(rank).fill(0);
    const keptStrides = keptDims.map((_, i) => elementCount(keptDims.slice(i + 1)));
    for (let j = 0; j < slot.length; j++) {
      let s = 0;
      for (let d = 0; d < rank; d++) if (!axes.includes(d)) s += c[d]! * keptStrides[d]!;
      slot[j] = s;
      for (let d = rank - 1; d >= 0; d--) {
        if (++c[d]! < X.dims[d]!) break;
        c[d] = 0;
      }
    }
  }
  const x = X.data as Float32Array;
  const sum = new Float64Array(nSlots),
    sq = new Float64Array(nSlots);
  for (let j = 0; j < x.length; j++) sum[slot[j]!]! += x[j]!;
  const mean = sum.map((s) => s / count);
  for (let j = 0; j < x.length; j++) {
    const d = x[j]! - mean[slot[j]!]!;
    sq[slot[j]!]! += d * d;
  }
  const y = new Float32Array(x.length);
  for (let j = 0; j < x.length; j++) {
    const k = slot[j]!;
    y[j] = (x[j]! - mean[k]!) / (Math.sqrt(sq[k]! / count) + 1e-9);
  }
  return [{ dtype: 'float32', dims: [...X.dims], data: y }];
};

/**
 * LRN: y[n, c, d...] = x[n, c, d...] / (bias + alpha / size * sum_{c'} x[n, c', d...]²)^beta over
 * c' in [c - floor((size-1)/2), c + ceil((size-1)/2)] ∩ [0, C). (The ONNX reference loops over
 * the batch instead of the channels there; its tests have N = C.)
 */
export const lrn: RefKernel = (inputs, attrs, ctx) => {
  const op = 'LRN';
  const X = requireInput(inputs, 0, op, ctx, 'X');
  requireDtype(X, ['float32'], 'X', op, ctx);
  if (X.dims.length < 2) throw opError(op, ctx, `X must have rank >= 2 ([N, C, ...]), got [${X.dims.join(', ')}]`);
  const r = new AttrReader(op, attrs, ctx);
  const size = r.requiredInt('size');
  if (size < 1) throw opError(op, ctx, `size ${size} must be >= 1`);
  const alpha = r.float('alpha', 1e-4),
    beta = r.float('beta', 0.75),
    bias = r.float('bias', 1);
  const [N, C] = [X.dims[0]!, X.dims[1]!];
  const S = elementCount(X.dims.slice(2));
  const lo = Math.floor((size - 1) / 2),
    hi = Math.ceil((size - 1) / 2);
  const x = X.data as Float32Array;
  const y = new Float32Array(x.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const c0 = Math.max(0, c - lo),
        c1 = Math.min(C - 1, c + hi);
      for (let s = 0; s < S; s++) {
        let sq = 0;
        for (let k = c0; k <= c1; k++) {
          const v = x[(n * C + k) * S + s]!;
          sq += v * v;
        }
        const j = (n * C + c) * S + s;
        y[j] = x[j]! / Math.pow(bias + (alpha / size) * sq, beta);
      }
    }
  }
  return [{ dtype: 'float32', dims: [...X.dims], data: y }];
};
