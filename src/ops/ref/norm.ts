// Normalizations: BatchNormalization (inference; training_mode of opset 14+), LayerNormalization
// (Y, Mean, InvStdDev), RMSNormalization (23), Softmax / LogSoftmax (2-D coercion before opset 13, one axis from 13),
// GlobalAveragePool. (ReduceMean is in reduce.ts with the other reductions.)
// Sums and variances are accumulated in float64.

import type { KernelContext, RefKernel, ShapeFn, Tensor, ValueInfo } from '../types.js';
import { elementCount } from '../types.js';
import {
  AttrReader,
  broadcastDims,
  broadcastIndex,
  infoOf,
  normAxis,
  opError,
  opUnsupported,
  requireDtype,
  requireInput,
  sameDims,
  sameInfo,
} from './util.js';

// ---------------------------------------------------------------------------------------------
// BatchNormalization

function bnParams(op: string, inputs: ReadonlyArray<Tensor | undefined>, ctx: KernelContext, perChannel: number): Float32Array[] {
  const names = ['scale', 'B', 'input_mean', 'input_var'];
  return names.map((name, i) => {
    const t = requireInput(inputs, i + 1, op, ctx, name);
    requireDtype(t, ['float32'], name, op, ctx);
    if (t.data.length !== perChannel) throw opError(op, ctx, `${name} has ${t.data.length} elements, expected ${perChannel}`);
    return t.data as Float32Array;
  });
}

/**
 * BatchNormalization. `version` is the schema: 7 (spatial attribute: spatial=0 means the
 * parameters are per element of [C, D1, ...]), 9 (inference only), 14 (training_mode: batch
 * statistics, and running_mean / running_var outputs).
 */
export function batchNorm(version: 7 | 9 | 14): RefKernel {
  return (inputs, attrs, ctx) => {
    const op = 'BatchNormalization';
    const r = new AttrReader(op, attrs, ctx);
    const eps = r.float('epsilon', 1e-5);
    const X = requireInput(inputs, 0, op, ctx, 'X');
    requireDtype(X, ['float32'], 'X', op, ctx);
    if (X.dims.length < 2) throw opError(op, ctx, `X must have rank >= 2, got [${X.dims.join(', ')}]`);
    const [N, C] = [X.dims[0]!, X.dims[1]!];
    const S = elementCount(X.dims.slice(2));
    const spatial = version === 7 ? r.intIn('spatial', 1, [0, 1]) === 1 : true;
    const training = version === 14 ? r.intIn('training_mode', 0, [0, 1]) === 1 : false;
    const perChannel = spatial ? C : C * S;
    const [scale, bias, inMean, inVar] = bnParams(op, inputs, ctx, perChannel) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const x = X.data as Float32Array;
    const y = new Float32Array(x.length);

    if (training) {
      const momentum = r.float('momentum', 0.9);
      const mean = new Float64Array(C),
        vr = new Float64Array(C);
      const count = N * S;
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) s += x[(n * C + c) * S + i]!;
        const m = s / count;
        let q = 0;
        for (let n = 0; n < N; n++)
          for (let i = 0; i < S; i++) {
            const d = x[(n * C + c) * S + i]! - m;
            q += d * d;
          }
        mean[c] = m;
        vr[c] = q / count; // population variance, as the ONNX reference
      }
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < C; c++) {
          const k = scale[c]! / Math.sqrt(vr[c]! + eps);
          for (let i = 0; i < S; i++) {
            const j = (n * C + c) * S + i;
            y[j] = (x[j]! - mean[c]!) * k + bias[c]!;
          }
        }
      }
      const runMean = new Float32Array(C),
        runVar = new Float32Array(C);
      for (let c = 0; c < C; c++) {
        runMean[c] = inMean[c]! * momentum + mean[c]! * (1 - momentum);
        runVar[c] = inVar[c]! * momentum + vr[c]! * (1 - momentum);
      }
      return [
        { dtype: 'float32', dims: [...X.dims], data: y },
        { dtype: 'float32', dims: [C], data: runMean },
        { dtype: 'float32', dims: [C], data: runVar },
      ];
    }

    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        for (let i = 0; i < S; i++) {
          const p = spatial ? c : c * S + i;
          const j = (n * C + c) * S + i;
          y[j] = ((x[j]! - inMean[p]!) / Math.sqrt(inVar[p]! + eps)) * scale[p]! + bias[p]!;
        }
      }
    }
    return [{ dtype: 'float32', dims: [...X.dims], data: y }];
  };
}

export const batchNormShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const X = infoOf(inputs, 0, 'BatchNormalization', ctx);
  const C = X.dims && X.dims.length >= 2 ? X.dims[1]! : -1;
  const out: ValueInfo[] = [sameInfo(X)];
  if (ctx.opset >= 14 && attrs.training_mode === 1) out.push({ dtype: X.dtype, dims: [C] }, { dtype: X.dtype, dims: [C] });
  return out;
};

// ---------------------------------------------------------------------------------------------
// LayerNormalization (opset 17)

export const layerNorm: RefKernel = (inputs, attrs, ctx) => {
  const op = 'LayerNormalization';
  const r = new AttrReader(op, attrs, ctx);
  const eps = r.float('epsilon', 1e-5);
  const X = requireInput(inputs, 0, op, ctx, 'X'),
    Sc = requireInput(inputs, 1, op, ctx, 'Scale');
  const Bt = inputs[2];
  requireDtype(X, ['float32'], 'X', op, ctx);
  requireDtype(Sc, ['float32'], 'Scale', op, ctx);
  if (Bt) requireDtype(Bt, ['float32'], 'B', op, ctx);
  const rank = X.dims.length;
  const axis = normAxis(r.int('axis', -1), rank, op, ctx);
  const outer = elementCount(X.dims.slice(0, axis)),
    inner = elementCount(X.dims.slice(axis));
  for (const [t, name] of [
    [Sc, 'Scale'],
    [Bt, 'B'],
  ] as const) {
    if (t && !sameDims(broadcastDims([t.dims, X.dims], op, ctx), X.dims)) {
      throw opError(op, ctx, `${name} [${t.dims.join(', ')}] does not broadcast to X [${X.dims.join(', ')}]`);
    }
  }
  const iS = broadcastIndex(Sc.dims, X.dims),
    iB = Bt ? broadcastIndex(Bt.dims, X.dims) : null;
  const x = X.data as Float32Array,
    sc = Sc.data as Float32Array,
    b = Bt?.data as Float32Array | undefined;
  const y = new Float32Array(x.length);
  const meanOut = new Float32Array(outer),
    invStdOut = new Float32Array(outer);
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    let s = 0;
    for (let i = 0; i < inner; i++) s += x[base + i]!;
    const mean = s / inner;
    let q = 0;
    for (let i = 0; i < inner; i++) {
      const d = x[base + i]! - mean;
      q += d * d;
    }
    const invStd = 1 / Math.sqrt(q / inner + eps);
    for (let i = 0; i < inner; i++) {
      const j = base + i;
      let v = (x[j]! - mean) * invStd * sc[iS ? iS[j]! : j]!;
      if (b) v += b[iB ? iB[j]! : j]!;
      y[j] = v;
    }
    meanOut[o] = mean;
    invStdOut[o] = invStd;
  }
  const statDims = X.dims.map((d, i) => (i < axis ? d : 1));
  return [
    { dtype: 'float32', dims: [...X.dims], data: y },
    { dtype: 'float32', dims: statDims, data: meanOut },
    { dtype: 'float32', dims: [...statDims], data: invStdOut },
  ];
};

export const layerNormShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'LayerNormalization';
  const X = infoOf(inputs, 0, op, ctx);
  if (!X.dims) return [sameInfo(X), { dtype: 'float32', dims: null }, { dtype: 'float32', dims: null }];
  const axis = normAxis(new AttrReader(op, attrs, ctx).int('axis', -1), X.dims.length, op, ctx);
  const statDims = X.dims.map((d, i) => (i < axis ? d : 1));
  return [sameInfo(X), { dtype: 'float32', dims: statDims }, { dtype: 'float32', dims: [...statDims] }];
};

// ---------------------------------------------------------------------------------------------
// RMSNormalization (opset 23): the ONNX function body, float32 (stash_type 1):
//   Y = X / Sqrt(ReduceMean(X·X, axes = [axis, rank)) + ε) · Scale
// each op rounded to float32 as the unfused graph's kernels round it (the mean summed in float64).

export const rmsNorm: RefKernel = (inputs, attrs, ctx) => {
  const op = 'RMSNormalization';
  const r = new AttrReader(op, attrs, ctx);
  const eps = Math.fround(r.float('epsilon', 1e-5));
  if (r.int('stash_type', 1) !== 1) throw opUnsupported(op, ctx, `stash_type ${r.int('stash_type', 1)} (only 1, float32)`);
  const X = requireInput(inputs, 0, op, ctx, 'X'),
    Sc = requireInput(inputs, 1, op, ctx, 'scale');
  requireDtype(X, ['float32'], 'X', op, ctx);
  requireDtype(Sc, ['float32'], 'scale', op, ctx);
  const rank = X.dims.length;
  const axis = normAxis(r.int('axis', -1), rank, op, ctx);
  const outer = elementCount(X.dims.slice(0, axis)),
    inner = elementCount(X.dims.slice(axis));
  if (!sameDims(broadcastDims([Sc.dims, X.dims], op, ctx), X.dims)) {
    throw opError(op, ctx, `scale [${Sc.dims.join(', ')}] does not broadcast to X [${X.dims.join(', ')}]`);
  }
  const iS = broadcastIndex(Sc.dims, X.dims);
  const x = X.data as Float32Array,
    sc = Sc.data as Float32Array;
  const y = new Float32Array(x.length);
  const f = Math.fround;
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    let q = 0;
    for (let i = 0; i < inner; i++) q += f(x[base + i]! * x[base + i]!);
    const s = f(Math.sqrt(f(f(q / inner) + eps)));
    for (let i = 0; i < inner; i++) y[base + i] = f(f(x[base + i]! / s) * sc[iS ? iS[base + i]! : base + i]!);
  }
  return [{ dtype: 'float32', dims: [...X.dims], data: y }];
};

export const rmsNormShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const X = infoOf(inputs, 0, 'RMSNormalization', ctx);
  if (X.dims) normAxis(new AttrReader('RMSNormalization', attrs, ctx).int('axis', -1), X.dims.length, 'RMSNormalization', ctx);
  return [sameInfo(X)];
};

// ---------------------------------------------------------------------------------------------
// Softmax / LogSoftmax

/**
 * Softmax over the middle axis of a [outer, len, inner] view. Opset < 13: the input is coerced
 * to 2-D at `axis` (default 1) and normalized over everything from `axis` on; opset >= 13: over
 * the one axis `axis` (default -1).
 */
function softmaxKernel(op: 'Softmax' | 'LogSoftmax'): RefKernel {
  return (inputs, attrs, ctx) => {
    const X = requireInput(inputs, 0, op, ctx, 'input');
    requireDtype(X, ['float32'], 'input', op, ctx);
    const rank = X.dims.length;
    const legacy = ctx.opset < 13;
    const r = new AttrReader(op, attrs, ctx);
    let outer: number, len: number, inner: number;
    if (rank === 0) {
      outer = 1;
      len = 1;
      inner = 1;
    } else if (legacy) {
      const axis = normAxis(r.int('axis', 1), rank, op, ctx);
      outer = elementCount(X.dims.slice(0, axis));
      len = elementCount(X.dims.slice(axis));
      inner = 1;
    } else {
      const axis = normAxis(r.int('axis', -1), rank, op, ctx);
      outer = elementCount(X.dims.slice(0, axis));
      len = X.dims[axis]!;
      inner = elementCount(X.dims.slice(axis + 1));
    }
    const x = X.data as Float32Array;
    const y = new Float32Array(x.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * len * inner + i;
        let max = -Infinity;
        for (let k = 0; k < len; k++) max = Math.max(max, x[base + k * inner]!);
        let sum = 0;
        for (let k = 0; k < len; k++) sum += Math.exp(x[base + k * inner]! - max);
        if (op === 'Softmax') {
          for (let k = 0; k < len; k++) y[base + k * inner] = Math.exp(x[base + k * inner]! - max) / sum;
        } else {
          const logSum = Math.log(sum);
          for (let k = 0; k < len; k++) y[base + k * inner] = x[base + k * inner]! - max - logSum;
        }
      }
    }
    return [{ dtype: 'float32', dims: [...X.dims], data: y }];
  };
}

export const softmax = softmaxKernel('Softmax');
export const logSoftmax = softmaxKernel('LogSoftmax');

// ---------------------------------------------------------------------------------------------
// GlobalAveragePool

export const globalAveragePool: RefKernel = (inputs, _attrs, ctx) => {
  const op = 'GlobalAveragePool';
  const X = requireInput(inputs, 0, op, ctx, 'X');
  requireDtype(X, ['float32'], 'X', op, ctx);
  if (X.dims.length < 3) throw opError(op, ctx, `X must have rank >= 3, got [${X.dims.join(', ')}]`);
  const NC = X.dims[0]! * X.dims[1]!,
    S = elementCount(X.dims.slice(2));
  const x = X.data as Float32Array;
  const y = new Float32Array(NC);
  for (let j = 0; j < NC; j++) {
    let s = 0;
    for (let i = 0; i < S; i++) s += x[j * S + i]!;
    y[j] = s / S;
  }
  return [{ dtype: 'float32', dims: [X.dims[0]!, X.dims[1]!, ...X.dims.slice(2).map(() => 1)], data: y }];
};

export const globalAveragePoolShape: ShapeFn = (inputs, _a, _c, ctx) => {
  const X = infoOf(inputs, 0, 'GlobalAveragePool', ctx);
  return [{ dtype: X.dtype, dims: X.dims ? X.dims.map((d, i) => (i < 2 ? d : 1)) : null }];
};
