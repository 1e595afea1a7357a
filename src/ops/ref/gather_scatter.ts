// Index-driven data movement: GatherElements, GatherND, ScatterElements (and the deprecated
// Scatter-9), ScatterND. Every dtype; indices int32/int64 (GatherND/ScatterND: int64, as the
// spec). Negative indices count from the end; an index outside [-s, s-1] is a bad model
// (SparrowError('invalid_model') naming the node), checked before any element is read.
// Kernels never alias their inputs: outputs own fresh arrays.

import type { Attrs, KernelContext, RefKernel, ShapeFn, Tensor, TensorData } from '../types.js';
import { elementCount } from '../types.js';
import { allocOutput, elems, normIndex, offsetsOf, readIndices, readReduction, reducer } from './elements.js';
import {
  AttrReader,
  allocData,
  infoOf,
  normAxis,
  opError,
  requireDtype,
  requireInput,
  sameDims,
  sameInfo,
  stridesOf,
  toIntList,
} from './util.js';

const dimsStr = (d: readonly number[]): string => `[${d.join(', ')}]`;

// ---------------------------------------------------------------------------------------------
// GatherElements / ScatterElements / Scatter: one index per element along `axis`

/**
 * Flat offsets into `data` of every element of `indices` (shape = indices.dims): the element's
 * own coordinates, with the coordinate along `axis` replaced by its index value.
 * Indices must have data's rank and, off the axis, dims no larger than data's (onnxruntime's
 * rule; the ONNX reference asks for equal dims, a special case).
 */
function elementOffsets(data: Tensor, indices: Tensor, axis: number, op: string, ctx: KernelContext): Float64Array {
  const r = data.dims.length;
  if (r < 1) throw opError(op, ctx, 'data must have rank >= 1');
  if (indices.dims.length !== r)
    throw opError(op, ctx, `indices ${dimsStr(indices.dims)} must have the rank of data ${dimsStr(data.dims)}`);
  for (let d = 0; d < r; d++) {
    if (d !== axis && indices.dims[d]! > data.dims[d]!) {
      throw opError(op, ctx, `indices ${dimsStr(indices.dims)} exceed data ${dimsStr(data.dims)} on axis ${d}`);
    }
  }
  const strides = stridesOf(data.dims);
  const idx = readIndices(indices, data.dims[axis]!, 'indices', op, ctx);
  const skip = strides.map((s, d) => (d === axis ? 0 : s));
  const base = offsetsOf(indices.dims, skip);
  for (let i = 0; i < base.length; i++) base[i]! += idx[i]! * strides[axis]!;
  return base;
}

function axisOf(op: string, attrs: Attrs, rank: number, ctx: KernelContext): number {
  return normAxis(new AttrReader(op, attrs, ctx).int('axis', 0), rank, op, ctx);
}

export const gatherElements: RefKernel = (inputs, attrs, ctx) => {
  const op = 'GatherElements';
  const data = requireInput(inputs, 0, op, ctx, 'data'),
    indices = requireInput(inputs, 1, op, ctx, 'indices');
  if (data.dims.length < 1) throw opError(op, ctx, 'data must have rank >= 1');
  const off = elementOffsets(data, indices, axisOf(op, attrs, data.dims.length, ctx), op, ctx);
  const out = allocData(data.dtype, off.length);
  const src = elems(data.data),
    dst = elems(out);
  for (let i = 0; i < off.length; i++) dst[i] = src[off[i]!]!;
  return [{ dtype: data.dtype, dims: [...indices.dims], data: out }];
};

export const gatherElementsShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'GatherElements';
  const data = infoOf(inputs, 0, op, ctx),
    indices = infoOf(inputs, 1, op, ctx);
  if (data.dims) axisOf(op, attrs, data.dims.length, ctx);
  return [{ dtype: data.dtype, dims: indices.dims ? [...indices.dims] : null }];
};

/** ScatterElements (opset 11+, reduction from 16) and the deprecated Scatter-9 (no reduction). */
export function scatterElements(op: 'ScatterElements' | 'Scatter'): RefKernel {
  return (inputs, attrs, ctx) => {
    const data = requireInput(inputs, 0, op, ctx, 'data'),
      indices = requireInput(inputs, 1, op, ctx, 'indices'),
      updates = requireInput(inputs, 2, op, ctx, 'updates');
    if (data.dims.length < 1) throw opError(op, ctx, 'data must have rank >= 1');
    if (updates.dtype !== data.dtype) throw opError(op, ctx, `updates have dtype ${updates.dtype}, data ${data.dtype}`);
    if (!sameDims(updates.dims, indices.dims)) {
      throw opError(op, ctx, `updates ${dimsStr(updates.dims)} and indices ${dimsStr(indices.dims)} differ in shape`);
    }
    const reduction = op === 'Scatter' ? 'none' : readReduction(new AttrReader(op, attrs, ctx).string('reduction', 'none'), op, ctx);
    const off = elementOffsets(data, indices, axisOf(op, attrs, data.dims.length, ctx), op, ctx);
    const out = data.data.slice() as TensorData;
    const dst = elems(out),
      upd = elems(updates.data);
    const f = reducer(reduction, data.dtype);
    // in index order: with duplicate indices the last update wins (reduction 'none')
    for (let i = 0; i < off.length; i++) dst[off[i]!] = f(dst[off[i]!]!, upd[i]!);
    return [{ dtype: data.dtype, dims: [...data.dims], data: out }];
  };
}

/** Shape of the Scatter family: the data's. */
export function scatterShape(op: string): ShapeFn {
  return (inputs, _a, _c, ctx) => [sameInfo(infoOf(inputs, 0, op, ctx))];
}

// ---------------------------------------------------------------------------------------------
// GatherND / ScatterND: index tuples addressing slices

interface NDPlan {
  /** data offset of the slice of each index tuple */
  offsets: Float64Array;
  /** elements per slice (product of the data dims after the indexed ones) */
  slice: number;
}

/**
 * Offsets of the slices that the index tuples of `indices` ([..., k], int64) address in `data`;
 * the first `b` (batch) dims of data and indices are walked together.
 */
function ndOffsets(data: Tensor, indices: Tensor, b: number, op: string, ctx: KernelContext): NDPlan {
  const r = data.dims.length,
    q = indices.dims.length;
  requireDtype(indices, ['int64'], 'indices', op, ctx);
  if (r < 1 || q < 1) throw opError(op, ctx, `data ${dimsStr(data.dims)} and indices ${dimsStr(indices.dims)} must have rank >= 1`);
  const k = indices.dims[q - 1]!;
  if (k > r - b) throw opError(op, ctx, `index tuples of length ${k} exceed data rank ${r}${b ? ` minus ${b} batch dims` : ''}`);
  const strides = stridesOf(data.dims);
  const slice = elementCount(data.dims.slice(b + k));
  const batches = elementCount(indices.dims.slice(0, b)),
    perBatch = elementCount(indices.dims.slice(b, q - 1));
  const batchStride = elementCount(data.dims.slice(b));
  const idx = toIntList(indices, 'indices', op, ctx);
  const offsets = new Float64Array(batches * perBatch);
  for (let t = 0; t < offsets.length; t++) {
    let off = Math.floor(t / perBatch) * batchStride;
    for (let j = 0; j < k; j++) {
      const axis = b + j;
      off += normIndex(idx[t * k + j]!, data.dims[axis]!, `indices (axis ${axis})`, op, ctx) * strides[axis]!;
    }
    offsets[t] = off;
  }
  return { offsets, slice };
}

function batchDimsOf(attrs: Attrs, ctx: KernelContext): number {
  // batch_dims arrives in GatherND-12
  return ctx.opset >= 12 ? new AttrReader('GatherND', attrs, ctx).int('batch_dims', 0) : 0;
}

function checkBatchDims(data: readonly number[], indices: readonly number[], b: number, ctx: KernelContext): void {
  if (b < 0 || b >= Math.min(data.length, indices.length)) {
    throw opError('GatherND', ctx, `batch_dims ${b} must be in [0, min(rank(data), rank(indices)) - 1]`);
  }
  for (let i = 0; i < b; i++) {
    if (data[i]! >= 0 && indices[i]! >= 0 && data[i] !== indices[i]) {
      throw opError('GatherND', ctx, `batch dim ${i} differs: data ${dimsStr(data)}, indices ${dimsStr(indices)}`);
    }
  }
}

/** indices.shape[:-1] ++ data.shape[b + k:] */
function gatherNDDims(data: readonly number[], indices: readonly number[], b: number): number[] {
  const k = indices[indices.length - 1]!;
  return [...indices.slice(0, -1), ...data.slice(b + k)];
}

export const gatherND: RefKernel = (inputs, attrs, ctx) => {
  const op = 'GatherND';
  const data = requireInput(inputs, 0, op, ctx, 'data'),
    indices = requireInput(inputs, 1, op, ctx, 'indices');
  const b = batchDimsOf(attrs, ctx);
  checkBatchDims(data.dims, indices.dims, b, ctx);
  const { offsets, slice } = ndOffsets(data, indices, b, op, ctx);
  const out = allocOutput(data.dtype, offsets.length * slice, op, ctx);
  const src = elems(data.data),
    dst = elems(out);
  for (let t = 0; t < offsets.length; t++) {
    for (let e = 0; e < slice; e++) dst[t * slice + e] = src[offsets[t]! + e]!;
  }
  return [{ dtype: data.dtype, dims: gatherNDDims(data.dims, indices.dims, b), data: out }];
};

export const gatherNDShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'GatherND';
  const data = infoOf(inputs, 0, op, ctx),
    indices = infoOf(inputs, 1, op, ctx);
  if (!data.dims || !indices.dims || indices.dims.length === 0 || indices.dims[indices.dims.length - 1]! < 0) {
    return [{ dtype: data.dtype, dims: null }];
  }
  const b = batchDimsOf(attrs, ctx);
  checkBatchDims(data.dims, indices.dims, b, ctx);
  const k = indices.dims[indices.dims.length - 1]!;
  if (k > data.dims.length - b) throw opError(op, ctx, `index tuples of length ${k} exceed data rank ${data.dims.length}`);
  return [{ dtype: data.dtype, dims: gatherNDDims(data.dims, indices.dims, b) }];
};

export const scatterND: RefKernel = (inputs, attrs, ctx) => {
  const op = 'ScatterND';
  const data = requireInput(inputs, 0, op, ctx, 'data'),
    indices = requireInput(inputs, 1, op, ctx, 'indices'),
    updates = requireInput(inputs, 2, op, ctx, 'updates');
  if (updates.dtype !== data.dtype) throw opError(op, ctx, `updates have dtype ${updates.dtype}, data ${data.dtype}`);
  const reduction = readReduction(new AttrReader(op, attrs, ctx).string('reduction', 'none'), op, ctx);
  const { offsets, slice } = ndOffsets(data, indices, 0, op, ctx); // checks ranks, tuple length and every index
  const want = gatherNDDims(data.dims, indices.dims, 0); // indices.shape[:-1] ++ data.shape[k:]
  if (!sameDims(updates.dims, want)) {
    throw opError(
      op,
      ctx,
      `updates ${dimsStr(updates.dims)} must have shape ${dimsStr(want)} (indices ${dimsStr(indices.dims)}, data ${dimsStr(data.dims)})`,
    );
  }
  const out = data.data.slice() as TensorData;
  const dst = elems(out),
    upd = elems(updates.data);
  const f = reducer(reduction, data.dtype);
  for (let t = 0; t < offsets.length; t++) {
    for (let e = 0; e < slice; e++) {
      const o = offsets[t]! + e;
      dst[o] = f(dst[o]!, upd[t * slice + e]!);
    }
  }
  return [{ dtype: data.dtype, dims: [...data.dims], data: out }];
};
