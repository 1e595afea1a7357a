// Data-dependent selection: NonZero, Compress, Unique, plus ReverseSequence. Every dtype.
// The output sizes of NonZero / Compress / Unique depend on the values, so their shape
// functions report -1 there (the engines then run the graph on the reference executor).
// Kernels never alias their inputs: outputs own fresh arrays.

import type { Attrs, KernelContext, RefKernel, ShapeFn, Tensor } from '../types.js';
import { elementCount } from '../types.js';
import { compareElems, elems } from './elements.js';
import {
  AttrReader,
  allocData,
  infoOf,
  int64Tensor,
  normAxis,
  opError,
  productOrUnknown,
  requireDtype,
  requireInput,
  stridesOf,
  toIntList,
} from './util.js';

// ---------------------------------------------------------------------------------------------
// NonZero

/**
 * NonZero(X) → int64 [rank, n]: the coordinates of the elements != 0 in row-major order (NaN is
 * non-zero, -0 is zero). A scalar gives [1, n] with coordinate 0, as onnxruntime (and numpy's
 * old 0-d behaviour) do; the spec leaves it open (onnx/onnx#2428).
 */
export const nonZero: RefKernel = (inputs, _attrs, ctx) => {
  const x = requireInput(inputs, 0, 'NonZero', ctx, 'X');
  const src = elems(x.data);
  const hits: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (v !== 0 && v !== 0n) hits.push(i);
  }
  const rank = x.dims.length;
  const n = hits.length;
  if (rank === 0) return [{ dtype: 'int64', dims: [1, n], data: new BigInt64Array(n) }];
  const strides = stridesOf(x.dims);
  const out = new BigInt64Array(rank * n);
  hits.forEach((flat, j) => {
    let rem = flat;
    for (let d = 0; d < rank; d++) {
      const c = Math.floor(rem / strides[d]!);
      rem -= c * strides[d]!;
      out[d * n + j] = BigInt(c); // row d of the [rank, n] output
    }
  });
  return [{ dtype: 'int64', dims: [rank, n], data: out }];
};

export const nonZeroShape: ShapeFn = (inputs, _a, _c, ctx) => {
  const x = infoOf(inputs, 0, 'NonZero', ctx);
  return [{ dtype: 'int64', dims: [x.dims ? Math.max(1, x.dims.length) : -1, -1] }];
};

// ---------------------------------------------------------------------------------------------
// Compress

/**
 * The positions the condition keeps among `len`. A condition shorter than `len` drops the rest
 * (spec); one longer than `len` has its extra entries ignored (onnxruntime; numpy raises when
 * one of them is true).
 */
function keptPositions(cond: Tensor, len: number): number[] {
  const c = cond.data as Uint8Array;
  const kept: number[] = [];
  for (let i = 0; i < Math.min(len, c.length); i++) if (c[i]) kept.push(i);
  return kept;
}

function compressArgs(op: string, attrs: Attrs, ctx: KernelContext): number | undefined {
  const r = new AttrReader(op, attrs, ctx);
  return r.has('axis') ? r.int('axis', 0) : undefined;
}

export const compress: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Compress';
  const x = requireInput(inputs, 0, op, ctx, 'input'),
    cond = requireInput(inputs, 1, op, ctx, 'condition');
  requireDtype(cond, ['bool'], 'condition', op, ctx);
  if (cond.dims.length !== 1) throw opError(op, ctx, `condition must be 1-D, has shape [${cond.dims.join(', ')}]`);
  const axisAttr = compressArgs(op, attrs, ctx);
  const src = elems(x.data);
  if (axisAttr === undefined) {
    // flattened input
    const kept = keptPositions(cond, src.length);
    const out = allocData(x.dtype, kept.length);
    const dst = elems(out);
    kept.forEach((p, j) => (dst[j] = src[p]!));
    return [{ dtype: x.dtype, dims: [kept.length], data: out }];
  }
  const axis = normAxis(axisAttr, x.dims.length, op, ctx);
  const len = x.dims[axis]!;
  const outer = elementCount(x.dims.slice(0, axis)),
    inner = elementCount(x.dims.slice(axis + 1));
  const kept = keptPositions(cond, len);
  const dims = [...x.dims];
  dims[axis] = kept.length;
  const out = allocData(x.dtype, outer * kept.length * inner);
  const dst = elems(out);
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (const p of kept) {
      const s0 = (o * len + p) * inner;
      for (let e = 0; e < inner; e++) dst[k++] = src[s0 + e]!;
    }
  }
  return [{ dtype: x.dtype, dims, data: out }];
};

export const compressShape: ShapeFn = (inputs, attrs, constants, ctx) => {
  const op = 'Compress';
  const x = infoOf(inputs, 0, op, ctx);
  const axisAttr = compressArgs(op, attrs, ctx);
  const cond = constants[1];
  if (axisAttr === undefined) {
    const n = x.dims ? productOrUnknown(x.dims) : -1;
    return [{ dtype: x.dtype, dims: [cond && n >= 0 ? keptPositions(cond, n).length : -1] }];
  }
  if (!x.dims) return [{ dtype: x.dtype, dims: null }];
  const axis = normAxis(axisAttr, x.dims.length, op, ctx);
  const dims = [...x.dims];
  dims[axis] = cond && x.dims[axis]! >= 0 ? keptPositions(cond, x.dims[axis]!).length : -1;
  return [{ dtype: x.dtype, dims }];
};

// ---------------------------------------------------------------------------------------------
// Unique

/**
 * Unique(X) → Y, indices, inverse_indices, counts (numpy.unique). Without `axis` over the
 * flattened elements, with `axis` over the slices along it (compared lexicographically).
 * sorted=1: ascending (numpy's order: NaN last, all NaNs one value, -0 == +0); sorted=0: in
 * order of first occurrence. Y holds the first occurrence of each value.
 */
export const unique: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Unique';
  const x = requireInput(inputs, 0, op, ctx, 'X');
  const r = new AttrReader(op, attrs, ctx);
  const sorted = r.intIn('sorted', 1, [0, 1]) === 1;
  const axis = r.has('axis') ? normAxis(r.int('axis', 0), x.dims.length, op, ctx) : undefined;
  const src = elems(x.data);
  // items: elements (no axis) or slices along `axis`, each slice `outer` runs of `inner` elements
  const m = axis === undefined ? src.length : x.dims[axis]!;
  const outer = axis === undefined ? 1 : elementCount(x.dims.slice(0, axis)),
    inner = axis === undefined ? 1 : elementCount(x.dims.slice(axis + 1));
  const at = (item: number, o: number, e: number): number | bigint => src[(o * m + item) * inner + e]!;
  const cmp = (a: number, b: number): number => {
    for (let o = 0; o < outer; o++) {
      for (let e = 0; e < inner; e++) {
        const c = compareElems(at(a, o, e), at(b, o, e));
        if (c !== 0) return c;
      }
    }
    return 0;
  };
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => cmp(a, b) || a - b);
  // groups of equal items; the first member of a group in `order` is its first occurrence
  const firsts: number[] = [];
  const groupOf = new Array<number>(m);
  order.forEach((item, j) => {
    if (j === 0 || cmp(order[j - 1]!, item) !== 0) firsts.push(item);
    groupOf[item] = firsts.length - 1;
  });
  // output order of the groups: sorted, or by first occurrence
  const outOrder = firsts.map((_, g) => g);
  if (!sorted) outOrder.sort((g, h) => firsts[g]! - firsts[h]!);
  const rank = new Array<number>(firsts.length);
  outOrder.forEach((g, j) => (rank[g] = j));
  const counts = new Array<number>(firsts.length).fill(0);
  for (let i = 0; i < m; i++) counts[rank[groupOf[i]!]!]!++;

  const g = firsts.length;
  const yDims = axis === undefined ? [g] : x.dims.map((d, i) => (i === axis ? g : d));
  const y = allocData(x.dtype, outer * g * inner);
  const dst = elems(y);
  for (let o = 0; o < outer; o++) {
    outOrder.forEach((grp, j) => {
      for (let e = 0; e < inner; e++) dst[(o * g + j) * inner + e] = at(firsts[grp]!, o, e);
    });
  }
  return [
    { dtype: x.dtype, dims: yDims, data: y },
    int64Tensor(outOrder.map((grp) => firsts[grp]!)),
    int64Tensor(Array.from({ length: m }, (_, i) => rank[groupOf[i]!]!)),
    int64Tensor(counts),
  ];
};

export const uniqueShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'Unique';
  const x = infoOf(inputs, 0, op, ctx);
  const r = new AttrReader(op, attrs, ctx);
  r.intIn('sorted', 1, [0, 1]);
  let y: number[] | null = [-1];
  let m = x.dims ? productOrUnknown(x.dims) : -1;
  if (r.has('axis')) {
    if (x.dims) {
      const axis = normAxis(r.int('axis', 0), x.dims.length, op, ctx);
      y = x.dims.map((d, i) => (i === axis ? -1 : d));
      m = x.dims[axis]!;
    } else {
      y = null;
    }
  }
  return [
    { dtype: x.dtype, dims: y },
    { dtype: 'int64', dims: [-1] },
    { dtype: 'int64', dims: [m] },
    { dtype: 'int64', dims: [-1] },
  ];
};

// ---------------------------------------------------------------------------------------------
// ReverseSequence

function seqAxes(attrs: Attrs, ctx: KernelContext): [batch: number, time: number] {
  const r = new AttrReader('ReverseSequence', attrs, ctx);
  const batch = r.intIn('batch_axis', 1, [0, 1]),
    time = r.intIn('time_axis', 0, [0, 1]);
  if (batch === time) throw opError('ReverseSequence', ctx, `batch_axis and time_axis are both ${batch}`);
  return [batch, time];
}

/**
 * ReverseSequence(input [.., ..], sequence_lens int64 [batch]): for each batch entry b, the first
 * sequence_lens[b] steps along the time axis are reversed, the rest copied. Lengths must lie in
 * [0, time steps].
 */
export const reverseSequence: RefKernel = (inputs, attrs, ctx) => {
  const op = 'ReverseSequence';
  const x = requireInput(inputs, 0, op, ctx, 'input'),
    s = requireInput(inputs, 1, op, ctx, 'sequence_lens');
  const [ba, ta] = seqAxes(attrs, ctx);
  if (x.dims.length < 2) throw opError(op, ctx, `input must have rank >= 2, has [${x.dims.join(', ')}]`);
  requireDtype(s, ['int64'], 'sequence_lens', op, ctx);
  const batch = x.dims[ba]!,
    steps = x.dims[ta]!;
  if (s.dims.length !== 1 || s.dims[0] !== batch) {
    throw opError(op, ctx, `sequence_lens [${s.dims.join(', ')}] must be [${batch}] (input [${x.dims.join(', ')}], batch_axis ${ba})`);
  }
  const lens = toIntList(s, 'sequence_lens', op, ctx);
  for (const l of lens) if (!(l >= 0 && l <= steps)) throw opError(op, ctx, `sequence length ${l} is outside [0, ${steps}]`);
  const strides = stridesOf(x.dims);
  const inner = elementCount(x.dims.slice(2));
  const out = allocData(x.dtype, x.data.length);
  const src = elems(x.data),
    dst = elems(out);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < steps; t++) {
      const from = t < lens[b]! ? lens[b]! - 1 - t : t;
      const d0 = b * strides[ba]! + t * strides[ta]!,
        s0 = b * strides[ba]! + from * strides[ta]!;
      for (let e = 0; e < inner; e++) dst[d0 + e] = src[s0 + e]!;
    }
  }
  return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
};

export const reverseSequenceShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  seqAxes(attrs, ctx);
  const x = infoOf(inputs, 0, 'ReverseSequence', ctx);
  return [{ dtype: x.dtype, dims: x.dims ? [...x.dims] : null }];
};
