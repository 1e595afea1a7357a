// Gemm and MatMul reference kernels. Plain triple loops in i-k-j order (rows of B are read
// contiguously) with a float64 accumulator row; the result is rounded to float32 once.

import type { KernelContext, RefKernel, ShapeFn } from '../types.js';
import { elementCount } from '../types.js';
import { AttrReader, broadcastDims, broadcastDimsSymbolic, broadcastIndex, infoOf, opError, requireDtype, requireInput } from './util.js';

/**
 * out[M,N] = A[M,K] · B[K,N] for row-major slices starting at aOff / bOff, float64 accumulation.
 * Integer operands (exact in float32, e.g. zero-point-shifted int8) give exact sums; an Int32Array
 * `out` stores them modulo 2^32 (ONNX's int32 accumulation), a Float32Array rounds them once.
 */
/**
 * finite[k] = 1 when row k of the row-major [K, N] slice at `off` holds only finite values: the
 * kernels skip a zero multiplier only against such a row (0 · ±Inf and 0 · NaN are NaN, as
 * onnxruntime computes them).
 */
export function finiteRows(b: ArrayLike<number>, off: number, K: number, N: number): Uint8Array {
  const f = new Uint8Array(K);
  for (let k = 0; k < K; k++) {
    let ok = 1;
    for (let j = off + k * N, e = j + N; j < e; j++) if (!Number.isFinite(b[j]!)) ok = 0;
    f[k] = ok;
  }
  return f;
}

export function matmulInto(
  a: Float32Array,
  aOff: number,
  b: Float32Array,
  bOff: number,
  out: Float32Array | Int32Array,
  oOff: number,
  M: number,
  K: number,
  N: number,
  acc: Float64Array,
): void {
  const finite = finiteRows(b, bOff, K, N);
  for (let i = 0; i < M; i++) {
    acc.fill(0, 0, N);
    const aRow = aOff + i * K;
    for (let k = 0; k < K; k++) {
      const aik = a[aRow + k]!;
      if (aik === 0 && finite[k]) continue;
      const bRow = bOff + k * N;
      for (let j = 0; j < N; j++) acc[j]! += aik * b[bRow + j]!;
    }
    const oRow = oOff + i * N;
    for (let j = 0; j < N; j++) out[oRow + j] = acc[j]!;
  }
}

/** Transposes a row-major [R, C] float32 matrix. */
function transpose2d(x: Float32Array, R: number, C: number): Float32Array {
  const out = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = x[r * C + c]!;
  return out;
}

/**
 * Gemm: Y = alpha * A' * B' + beta * C, A' = transA ? A^T : A (M×K), B' = transB ? B^T : B (K×N),
 * C optional (required before opset 11) and unidirectionally broadcast to [M, N].
 */
export const gemm: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Gemm';
  const r = new AttrReader(op, attrs, ctx);
  const alpha = r.float('alpha', 1),
    beta = r.float('beta', 1);
  const transA = r.intIn('transA', 0, [0, 1]) === 1,
    transB = r.intIn('transB', 0, [0, 1]) === 1;
  const A = requireInput(inputs, 0, op, ctx, 'A'),
    B = requireInput(inputs, 1, op, ctx, 'B');
  requireDtype(A, ['float32'], 'A', op, ctx);
  requireDtype(B, ['float32'], 'B', op, ctx);
  if (A.dims.length !== 2 || B.dims.length !== 2) {
    throw opError(op, ctx, `A and B must be 2-D, got [${A.dims.join(', ')}] and [${B.dims.join(', ')}]`);
  }
  const [M, K] = transA ? [A.dims[1]!, A.dims[0]!] : [A.dims[0]!, A.dims[1]!];
  const [K2, N] = transB ? [B.dims[1]!, B.dims[0]!] : [B.dims[0]!, B.dims[1]!];
  if (K !== K2) throw opError(op, ctx, `inner dimensions differ: A' is ${M}x${K}, B' is ${K2}x${N}`);
  const a = transA ? transpose2d(A.data as Float32Array, A.dims[0]!, A.dims[1]!) : (A.data as Float32Array);
  const b = transB ? transpose2d(B.data as Float32Array, B.dims[0]!, B.dims[1]!) : (B.data as Float32Array);

  const out = new Float32Array(M * N);
  const acc = new Float64Array(N);
  const C = inputs[2];
  let cIndex: Int32Array | null = null;
  let c: Float32Array | undefined;
  if (C && beta !== 0) {
    requireDtype(C, ['float32'], 'C', op, ctx);
    const bd = broadcastDims([C.dims, [M, N]], op, ctx);
    if (bd.length !== 2 || bd[0] !== M || bd[1] !== N)
      throw opError(op, ctx, `C [${C.dims.join(', ')}] does not broadcast to [${M}, ${N}]`);
    cIndex = broadcastIndex(C.dims, [M, N]);
    c = C.data as Float32Array;
  }
  const finite = finiteRows(b, 0, K, N);
  for (let i = 0; i < M; i++) {
    acc.fill(0);
    for (let k = 0; k < K; k++) {
      const aik = a[i * K + k]!;
      if (aik === 0 && finite[k]) continue;
      for (let j = 0; j < N; j++) acc[j]! += aik * b[k * N + j]!;
    }
    for (let j = 0; j < N; j++) {
      let y = alpha * acc[j]!;
      if (c) y += beta * c[cIndex ? cIndex[i * N + j]! : i * N + j]!;
      out[i * N + j] = y;
    }
  }
  return [{ dtype: 'float32', dims: [M, N], data: out }];
};

export const gemmShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'Gemm';
  const r = new AttrReader(op, attrs, ctx);
  const A = infoOf(inputs, 0, op, ctx),
    B = infoOf(inputs, 1, op, ctx);
  if (!A.dims || !B.dims) return [{ dtype: A.dtype, dims: null }];
  if (A.dims.length !== 2 || B.dims.length !== 2) throw opError(op, ctx, 'A and B must be 2-D');
  const M = r.int('transA', 0) ? A.dims[1]! : A.dims[0]!;
  const N = r.int('transB', 0) ? B.dims[0]! : B.dims[1]!;
  return [{ dtype: A.dtype, dims: [M, N] }];
};

/** MatMul with numpy semantics: 1-D operands are promoted (and the added dim removed), batch dims broadcast. */
export const matmul: RefKernel = (inputs, _attrs, ctx) => {
  const op = 'MatMul';
  const A = requireInput(inputs, 0, op, ctx, 'A'),
    B = requireInput(inputs, 1, op, ctx, 'B');
  requireDtype(A, ['float32'], 'A', op, ctx);
  requireDtype(B, ['float32'], 'B', op, ctx);
  const d = matmulDims(A.dims, B.dims, op, ctx);
  const out = new Float32Array(elementCount(d.outDims));
  batchedMatmulInto(A.data as Float32Array, B.data as Float32Array, d, out);
  return [{ dtype: 'float32', dims: d.outDims, data: out }];
};

/** out = A · B over the broadcast batch of `d` (matmulDims); out holds elementCount(d.outDims) values. */
export function batchedMatmulInto(a: Float32Array, b: Float32Array, d: MatMulDims, out: Float32Array | Int32Array): void {
  const { aBatch, bBatch, batch, M, K, N } = d;
  const acc = new Float64Array(N);
  const ia = broadcastIndex(aBatch, batch),
    ib = broadcastIndex(bBatch, batch);
  const nb = elementCount(batch);
  for (let t = 0; t < nb; t++) {
    const ta = ia ? ia[t]! : t,
      tb = ib ? ib[t]! : t;
    matmulInto(a, ta * M * K, b, tb * K * N, out, t * M * N, M, K, N, acc);
  }
}

/** The numpy matmul geometry: batch dims of A, B and their broadcast, M, K, N and the output dims. */
export interface MatMulDims {
  outDims: number[];
  aBatch: number[];
  bBatch: number[];
  batch: number[];
  M: number;
  K: number;
  N: number;
}

/** numpy.matmul shapes (1-D operands promoted); `symbolic` accepts -1 dims (shape inference). */
export function matmulDims(ad: readonly number[], bd: readonly number[], op: string, ctx: KernelContext, symbolic = false): MatMulDims {
  if (ad.length === 0 || bd.length === 0) throw opError(op, ctx, 'inputs must have rank >= 1');
  const a2 = ad.length === 1 ? [1, ad[0]!] : [...ad];
  const b2 = bd.length === 1 ? [bd[0]!, 1] : [...bd];
  const M = a2[a2.length - 2]!,
    K = a2[a2.length - 1]!;
  const K2 = b2[b2.length - 2]!,
    N = b2[b2.length - 1]!;
  if (K !== K2 && !(symbolic && (K < 0 || K2 < 0))) {
    throw opError(op, ctx, `inner dimensions differ: [${ad.join(', ')}] x [${bd.join(', ')}]`);
  }
  const aBatch = a2.slice(0, -2),
    bBatch = b2.slice(0, -2);
  const batch = (symbolic ? broadcastDimsSymbolic : broadcastDims)([aBatch, bBatch], op, ctx);
  const outDims = [...batch];
  if (ad.length > 1) outDims.push(M);
  if (bd.length > 1) outDims.push(N);
  return { outDims, aBatch, bBatch, batch, M, K, N };
}

export const matmulShape: ShapeFn = (inputs, _a, _c, ctx) => {
  const A = infoOf(inputs, 0, 'MatMul', ctx),
    B = infoOf(inputs, 1, 'MatMul', ctx);
  if (!A.dims || !B.dims) return [{ dtype: A.dtype, dims: null }];
  return [{ dtype: A.dtype, dims: matmulDims(A.dims, B.dims, 'MatMul', ctx, true).outDims }];
};
