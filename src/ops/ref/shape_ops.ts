// Data-movement and shape ops: Reshape, Transpose, Concat, Split, Slice, Pad, Squeeze,
// Unsqueeze, Gather, Shape, Flatten, Cast (./cast.ts), Constant, ConstantOfShape, Identity, Dropout.
// They work on every IR dtype the graph hands kernels (all but the edge types float64/float16/
// bfloat16, which only Cast reads: src/ops/types.ts) unless noted.
// Kernels never alias their inputs: outputs own fresh arrays.

import type { Attrs, KernelContext, RefKernel, ShapeFn, Tensor, TensorData, TensorDType, ValueInfo } from '../types.js';
import { elementCount } from '../types.js';
import { checkOutputSize } from './elements.js';
import {
  AttrReader,
  allocData,
  broadcastDims,
  broadcastDimsSymbolic,
  broadcastIndex,
  infoOf,
  int64Tensor,
  isBigIntDtype,
  normAxes,
  normAxis,
  opError,
  opUnsupported,
  productOrUnknown,
  requireDtype,
  requireInput,
  sameInfo,
  scalarOf,
  stridesOf,
  toIntList,
} from './util.js';

/** Element access that works for every TensorData (number or bigint elements). */
type AnyArray = { [i: number]: number | bigint; readonly length: number };
const anyArr = (d: TensorData): AnyArray => d as unknown as AnyArray;

function copyOf(t: Tensor, dims: number[] = t.dims): Tensor {
  return { dtype: t.dtype, dims: [...dims], data: t.data.slice() as TensorData };
}

/** dst[i] = src[map[i]] for every output element. */
function gatherElements(t: Tensor, dims: number[], map: ArrayLike<number>): Tensor {
  const out = allocData(t.dtype, map.length);
  const src = anyArr(t.data),
    dst = anyArr(out);
  for (let i = 0; i < map.length; i++) dst[i] = src[map[i]!]!;
  return { dtype: t.dtype, dims, data: out };
}

/** The constant input `i` as an int list, or undefined when absent / not known. */
function constInts(
  constants: ReadonlyArray<Tensor | undefined>,
  i: number,
  what: string,
  op: string,
  ctx: KernelContext,
): number[] | undefined {
  const t = constants[i];
  return t ? toIntList(t, what, op, ctx) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Reshape

/**
 * ONNX Reshape target dims: 0 copies the input dim (unless allowzero), one -1 is inferred.
 * Input dims may contain -1 (symbolic): the result then has -1 where it cannot be known.
 */
export function reshapeDims(
  inDims: readonly number[],
  shape: readonly number[],
  allowZero: boolean,
  op: string,
  ctx: KernelContext,
): number[] {
  const dims: number[] = [];
  let inferAt = -1;
  let unknownCopy = false;
  for (let i = 0; i < shape.length; i++) {
    const s = shape[i]!;
    if (s === -1) {
      if (inferAt >= 0) throw opError(op, ctx, `shape [${shape.join(', ')}] has more than one -1`);
      inferAt = i;
      dims.push(-1);
    } else if (s === 0 && !allowZero) {
      if (i >= inDims.length) throw opError(op, ctx, `shape entry ${i} is 0 (copy) but the input has rank ${inDims.length}`);
      dims.push(inDims[i]!);
      if (inDims[i]! < 0) unknownCopy = true;
    } else if (s >= 0) {
      dims.push(s);
    } else {
      throw opError(op, ctx, `invalid shape entry ${s}`);
    }
  }
  if (allowZero && inferAt >= 0 && shape.includes(0)) throw opError(op, ctx, 'allowzero=1 shape has both 0 and -1');
  const total = productOrUnknown(inDims);
  if (inferAt >= 0) {
    const known = productOrUnknown(dims.filter((_, i) => i !== inferAt));
    if (total < 0 || known < 0 || unknownCopy) return dims; // stays -1
    if (known === 0 || total % known !== 0) throw opError(op, ctx, `cannot reshape [${inDims.join(', ')}] to [${shape.join(', ')}]`);
    dims[inferAt] = total / known;
  } else if (total >= 0 && !unknownCopy && productOrUnknown(dims) !== total) {
    throw opError(op, ctx, `cannot reshape [${inDims.join(', ')}] (${total} elements) to [${dims.join(', ')}]`);
  }
  return dims;
}

export const reshape: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Reshape';
  const data = requireInput(inputs, 0, op, ctx, 'data'),
    shape = requireInput(inputs, 1, op, ctx, 'shape');
  requireDtype(shape, ['int64'], 'shape', op, ctx);
  const allowZero = new AttrReader(op, attrs, ctx).intIn('allowzero', 0, [0, 1]) === 1;
  return [copyOf(data, reshapeDims(data.dims, toIntList(shape, 'shape', op, ctx), allowZero, op, ctx))];
};

export const reshapeShape: ShapeFn = (inputs, attrs, constants, ctx) => {
  const op = 'Reshape';
  const data = infoOf(inputs, 0, op, ctx);
  const shape = constInts(constants, 1, 'shape', op, ctx);
  if (!shape) {
    const s = inputs[1]?.dims;
    return [{ dtype: data.dtype, dims: s && s.length === 1 && s[0]! >= 0 ? new Array(s[0]!).fill(-1) : null }];
  }
  if (!data.dims) {
    // without the input rank/dims only the explicit entries are known
    return [{ dtype: data.dtype, dims: shape.map((s) => (s > 0 || (s === 0 && attrs.allowzero === 1) ? s : -1)) }];
  }
  return [{ dtype: data.dtype, dims: reshapeDims(data.dims, shape, attrs.allowzero === 1, op, ctx) }];
};

// ---------------------------------------------------------------------------------------------
// Flatten

function flattenAxis(rank: number, attrs: Attrs, ctx: KernelContext): number {
  const axis = new AttrReader('Flatten', attrs, ctx).int('axis', 1);
  if (axis < -rank || axis > rank) throw opError('Flatten', ctx, `axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

export const flatten: RefKernel = (inputs, attrs, ctx) => {
  const x = requireInput(inputs, 0, 'Flatten', ctx, 'input');
  const axis = flattenAxis(x.dims.length, attrs, ctx);
  return [copyOf(x, [elementCount(x.dims.slice(0, axis)), elementCount(x.dims.slice(axis))])];
};

export const flattenShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const x = infoOf(inputs, 0, 'Flatten', ctx);
  if (!x.dims) return [{ dtype: x.dtype, dims: [-1, -1] }];
  const axis = flattenAxis(x.dims.length, attrs, ctx);
  return [{ dtype: x.dtype, dims: [productOrUnknown(x.dims.slice(0, axis)), productOrUnknown(x.dims.slice(axis))] }];
};

// ---------------------------------------------------------------------------------------------
// Transpose

function permOf(rank: number, attrs: Attrs, ctx: KernelContext): number[] {
  const perm = new AttrReader('Transpose', attrs, ctx).ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw opError('Transpose', ctx, `perm [${perm.join(', ')}] is not a permutation of 0..${rank - 1}`);
  }
  return perm;
}

export const transpose: RefKernel = (inputs, attrs, ctx) => {
  const x = requireInput(inputs, 0, 'Transpose', ctx, 'data');
  const rank = x.dims.length;
  const perm = permOf(rank, attrs, ctx);
  const outDims = perm.map((p) => x.dims[p]!);
  const inStrides = stridesOf(x.dims);
  const st = perm.map((p) => inStrides[p]!); // input stride of each output dim
  const n = elementCount(outDims);
  const map = new Int32Array(n);
  const c = new Array<number>(rank).fill(0);
  let idx = 0;
  for (let i = 0; i < n; i++) {
    map[i] = idx;
    for (let d = rank - 1; d >= 0; d--) {
      idx += st[d]!;
      if (++c[d]! < outDims[d]!) break;
      idx -= st[d]! * outDims[d]!;
      c[d] = 0;
    }
  }
  return [gatherElements(x, outDims, map)];
};

export const transposeShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const x = infoOf(inputs, 0, 'Transpose', ctx);
  if (!x.dims) return [{ dtype: x.dtype, dims: null }];
  const dims = x.dims;
  return [{ dtype: x.dtype, dims: permOf(dims.length, attrs, ctx).map((p) => dims[p]!) }];
};

// ---------------------------------------------------------------------------------------------
// Concat

export const concat: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Concat';
  const parts = inputs.filter((t): t is Tensor => t !== undefined);
  if (parts.length === 0) throw opError(op, ctx, 'needs at least one input');
  const first = parts[0]!;
  const rank = first.dims.length;
  const axis = normAxis(new AttrReader(op, attrs, ctx).requiredInt('axis'), rank, op, ctx);
  for (const t of parts) {
    if (t.dtype !== first.dtype) throw opError(op, ctx, `inputs have different dtypes ${first.dtype} and ${t.dtype}`);
    if (t.dims.length !== rank || t.dims.some((d, i) => i !== axis && d !== first.dims[i])) {
      throw opError(op, ctx, `input shapes [${first.dims.join(', ')}] and [${t.dims.join(', ')}] differ off axis ${axis}`);
    }
  }
  const outer = elementCount(first.dims.slice(0, axis)),
    inner = elementCount(first.dims.slice(axis + 1));
  const total = parts.reduce((a, t) => a + t.dims[axis]!, 0);
  const outDims = [...first.dims];
  outDims[axis] = total;
  const out = allocData(first.dtype, outer * total * inner);
  const dst = anyArr(out);
  let offset = 0; // position along the axis
  for (const t of parts) {
    const len = t.dims[axis]! * inner;
    const src = anyArr(t.data);
    for (let o = 0; o < outer; o++) {
      const d0 = o * total * inner + offset * inner,
        s0 = o * len;
      for (let i = 0; i < len; i++) dst[d0 + i] = src[s0 + i]!;
    }
    offset += t.dims[axis]!;
  }
  return [{ dtype: first.dtype, dims: outDims, data: out }];
};

export const concatShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'Concat';
  const parts = inputs.filter((t): t is ValueInfo => t !== undefined);
  if (parts.length === 0) throw opError(op, ctx, 'needs at least one input');
  const known = parts.find((p) => p.dims);
  if (!known?.dims) return [{ dtype: parts[0]!.dtype, dims: null }];
  const rank = known.dims.length;
  const axis = normAxis(new AttrReader(op, attrs, ctx).requiredInt('axis'), rank, op, ctx);
  const dims = new Array<number>(rank).fill(-1);
  let total = 0;
  for (const p of parts) {
    if (!p.dims) {
      total = -1;
      continue;
    }
    if (p.dims.length !== rank) throw opError(op, ctx, 'inputs have different ranks');
    p.dims.forEach((d, i) => {
      if (i !== axis && d >= 0) dims[i] = d;
    });
    if (total >= 0) total = p.dims[axis]! < 0 ? -1 : total + p.dims[axis]!;
  }
  dims[axis] = total;
  return [{ dtype: parts[0]!.dtype, dims }];
};

// ---------------------------------------------------------------------------------------------
// Split

/** The sizes of the parts along the axis. `split` from attribute (< 13) or input (>= 13); else num_outputs. */
function splitSizes(dimLen: number, split: number[] | undefined, numOutputs: number | undefined, op: string, ctx: KernelContext): number[] {
  if (split) {
    if (split.some((s) => s < 0)) throw opError(op, ctx, `split [${split.join(', ')}] has a negative size`);
    if (dimLen >= 0 && split.reduce((a, b) => a + b, 0) !== dimLen) {
      throw opError(op, ctx, `split [${split.join(', ')}] does not sum to the axis length ${dimLen}`);
    }
    return split;
  }
  if (numOutputs === undefined || numOutputs < 1) throw opError(op, ctx, 'needs a split input/attribute or num_outputs');
  if (dimLen < 0) return new Array<number>(numOutputs).fill(-1);
  // opset 18: ceil(len / n) per part, the last one smaller (earlier opsets need len % n === 0)
  const size = Math.ceil(dimLen / numOutputs);
  const sizes: number[] = [];
  for (let i = 0, left = dimLen; i < numOutputs; i++) {
    const s = Math.max(0, Math.min(size, left));
    sizes.push(s);
    left -= s;
  }
  return sizes;
}

function splitArgs(
  op: string,
  attrs: Attrs,
  ctx: KernelContext,
  splitInput: Tensor | undefined,
  fromInput: boolean,
): { axis: number; split: number[] | undefined; n: number | undefined } {
  const r = new AttrReader(op, attrs, ctx);
  const split = fromInput ? (splitInput ? toIntList(splitInput, 'split', op, ctx) : undefined) : r.ints('split');
  return {
    axis: r.int('axis', 0),
    split: split && split.length > 0 ? split : undefined,
    n: r.has('num_outputs') ? r.int('num_outputs', 0) : undefined,
  };
}

/** Split; `fromInput` = opset 13+ form (split sizes as input 1). */
export function split(fromInput: boolean): RefKernel {
  return (inputs, attrs, ctx) => {
    const op = 'Split';
    const x = requireInput(inputs, 0, op, ctx, 'input');
    const a = splitArgs(op, attrs, ctx, inputs[1], fromInput);
    const axis = normAxis(a.axis, x.dims.length, op, ctx);
    const sizes = splitSizes(x.dims[axis]!, a.split, a.n, op, ctx);
    const outer = elementCount(x.dims.slice(0, axis)),
      inner = elementCount(x.dims.slice(axis + 1));
    const len = x.dims[axis]!;
    const src = anyArr(x.data);
    const outs: Tensor[] = [];
    let start = 0;
    for (const s of sizes) {
      const dims = [...x.dims];
      dims[axis] = s;
      const data = allocData(x.dtype, outer * s * inner);
      const dst = anyArr(data);
      for (let o = 0; o < outer; o++) {
        const s0 = (o * len + start) * inner,
          d0 = o * s * inner;
        for (let i = 0; i < s * inner; i++) dst[d0 + i] = src[s0 + i]!;
      }
      outs.push({ dtype: x.dtype, dims, data });
      start += s;
    }
    return outs;
  };
}

export function splitShape(fromInput: boolean): ShapeFn {
  return (inputs, attrs, constants, ctx) => {
    const op = 'Split';
    const x = infoOf(inputs, 0, op, ctx);
    if (fromInput && inputs[1] && !constants[1]) {
      const n = inputs[1].dims?.[0];
      if (n === undefined || n < 0) return [];
      return Array.from({ length: n }, () => ({ dtype: x.dtype, dims: x.dims ? x.dims.map(() => -1) : null }));
    }
    const a = splitArgs(op, attrs, ctx, constants[1], fromInput);
    if (!x.dims) {
      const n = a.split?.length ?? a.n ?? 0;
      return Array.from({ length: n }, () => ({ dtype: x.dtype, dims: null }));
    }
    const axis = normAxis(a.axis, x.dims.length, op, ctx);
    return splitSizes(x.dims[axis]!, a.split, a.n, op, ctx).map((s) => {
      const dims = [...x.dims!];
      dims[axis] = s;
      return { dtype: x.dtype, dims };
    });
  };
}

// ---------------------------------------------------------------------------------------------
// Slice

export interface SliceAxis {
  axis: number;
  start: number;
  step: number;
  count: number;
}

/** Clamped start/step/count per sliced axis (ONNX Slice-10+ rules; Slice-1 has steps of 1). */
export function sliceAxes(
  dims: readonly number[],
  starts: number[],
  ends: number[],
  axesIn: number[] | undefined,
  steps: number[] | undefined,
  op: string,
  ctx: KernelContext,
): SliceAxis[] {
  const rank = dims.length;
  if (starts.length !== ends.length) throw opError(op, ctx, `starts (${starts.length}) and ends (${ends.length}) differ in length`);
  const axes = normAxes(axesIn ?? starts.map((_, i) => i), rank, op, ctx);
  if (axes.length !== starts.length) throw opError(op, ctx, `axes (${axes.length}) and starts (${starts.length}) differ in length`);
  if (steps && steps.length !== starts.length)
    throw opError(op, ctx, `steps (${steps.length}) and starts (${starts.length}) differ in length`);
  return axes.map((axis, i) => {
    const dim = dims[axis]!;
    const step = steps ? steps[i]! : 1;
    if (step === 0) throw opError(op, ctx, 'a step is 0');
    if (dim < 0) return { axis, start: 0, step, count: -1 };
    let start = starts[i]!,
      end = ends[i]!;
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
      start = Math.min(Math.max(start, 0), dim);
      end = Math.min(Math.max(end, 0), dim);
    } else {
      start = Math.min(Math.max(start, 0), dim - 1);
      end = Math.min(Math.max(end, -1), dim - 1);
    }
    const count = step > 0 ? Math.max(0, Math.ceil((end - start) / step)) : Math.max(0, Math.ceil((start - end) / -step));
    return { axis, start, step, count };
  });
}

function sliceTensor(x: Tensor, spec: SliceAxis[]): Tensor {
  const rank = x.dims.length;
  const start = new Array<number>(rank).fill(0),
    step = new Array<number>(rank).fill(1);
  const outDims = [...x.dims];
  for (const s of spec) {
    start[s.axis] = s.start;
    step[s.axis] = s.step;
    outDims[s.axis] = s.count;
  }
  const inStrides = stridesOf(x.dims);
  const n = elementCount(outDims);
  const out = allocData(x.dtype, n);
  const src = anyArr(x.data),
    dst = anyArr(out);
  // one output row (the last axis) at a time: its source offsets step by `inc`; the outer axes
  // advance like an odometer, `base` following the source offset of the row start
  const last = rank - 1;
  const len = rank > 0 ? outDims[last]! : 1,
    inc = rank > 0 ? step[last]! * inStrides[last]! : 0;
  const c = new Array<number>(Math.max(last, 0)).fill(0);
  let base = 0;
  for (let d = 0; d < rank; d++) base += start[d]! * inStrides[d]!;
  for (let i = 0; i < n;) {
    for (let k = 0, idx = base; k < len; k++, idx += inc) dst[i++] = src[idx]!;
    for (let d = last - 1; d >= 0; d--) {
      base += step[d]! * inStrides[d]!;
      if (++c[d]! < outDims[d]!) break;
      base -= step[d]! * inStrides[d]! * outDims[d]!;
      c[d] = 0;
    }
  }
  return { dtype: x.dtype, dims: outDims, data: out };
}

/** Slice-1..9: starts / ends / axes attributes. */
export const sliceV1: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Slice';
  const x = requireInput(inputs, 0, op, ctx, 'data');
  const r = new AttrReader(op, attrs, ctx);
  const starts = r.ints('starts'),
    ends = r.ints('ends');
  if (!starts || !ends) throw opError(op, ctx, 'attributes starts and ends are required');
  return [sliceTensor(x, sliceAxes(x.dims, starts, ends, r.ints('axes'), undefined, op, ctx))];
};

/** Slice-10+: starts, ends, optional axes and steps as inputs. */
export const sliceV10: RefKernel = (inputs, _attrs, ctx) => {
  const op = 'Slice';
  const x = requireInput(inputs, 0, op, ctx, 'data');
  const ints = (i: number, what: string): number[] | undefined => (inputs[i] ? toIntList(inputs[i]!, what, op, ctx) : undefined);
  const starts = ints(1, 'starts'),
    ends = ints(2, 'ends');
  if (!starts || !ends) throw opError(op, ctx, 'inputs starts and ends are required');
  return [sliceTensor(x, sliceAxes(x.dims, starts, ends, ints(3, 'axes'), ints(4, 'steps'), op, ctx))];
};

export function sliceShape(fromInputs: boolean): ShapeFn {
  return (inputs, attrs, constants, ctx) => {
    const op = 'Slice';
    const x = infoOf(inputs, 0, op, ctx);
    if (!x.dims) return [{ dtype: x.dtype, dims: null }];
    let starts: number[] | undefined, ends: number[] | undefined, axes: number[] | undefined, steps: number[] | undefined;
    let axesKnown = true;
    if (fromInputs) {
      starts = constInts(constants, 1, 'starts', op, ctx);
      ends = constInts(constants, 2, 'ends', op, ctx);
      axes = constInts(constants, 3, 'axes', op, ctx);
      steps = constInts(constants, 4, 'steps', op, ctx);
      if (inputs[3] && !axes) axesKnown = false;
      if (inputs[4] && !steps) {
        // unknown steps: the sliced axes are unknown
        starts = undefined;
      }
    } else {
      const r = new AttrReader(op, attrs, ctx);
      starts = r.ints('starts');
      ends = r.ints('ends');
      axes = r.ints('axes');
    }
    if (!starts || !ends || !axesKnown) {
      if (axesKnown && axes) {
        const ax = normAxes(axes, x.dims.length, op, ctx);
        return [{ dtype: x.dtype, dims: x.dims.map((d, i) => (ax.includes(i) ? -1 : d)) }];
      }
      return [{ dtype: x.dtype, dims: x.dims.map(() => -1) }];
    }
    const dims = [...x.dims];
    for (const s of sliceAxes(x.dims, starts, ends, axes, steps, op, ctx)) dims[s.axis] = s.count;
    return [{ dtype: x.dtype, dims }];
  };
}

// ---------------------------------------------------------------------------------------------
// Pad

type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

/** Pads per dim [begin..., end...] over all dims, expanding an `axes` subset (opset 18). */
function fullPads(rank: number, pads: number[], axes: number[] | undefined, op: string, ctx: KernelContext): number[] {
  const ax = axes ? normAxes(axes, rank, op, ctx) : Array.from({ length: rank }, (_, i) => i);
  if (pads.length !== 2 * ax.length) throw opError(op, ctx, `pads has ${pads.length} values, expected ${2 * ax.length}`);
  const full = new Array<number>(2 * rank).fill(0);
  ax.forEach((a, i) => {
    full[a] = pads[i]!;
    full[a + rank] = pads[i + ax.length]!;
  });
  return full;
}

/** Position p (may lie outside 0..size-1) mapped into the source axis by `mode`; -1: outside (constant mode). */
function padSource(p: number, size: number, mode: PadMode): number {
  if (p >= 0 && p < size) return p;
  if (mode === 'constant') return -1;
  if (mode === 'edge') return p < 0 ? 0 : size - 1;
  if (mode === 'wrap') return ((p % size) + size) % size;
  // reflect (mirror without repeating the edge): period 2(size-1)
  if (size === 1) return 0;
  const period = 2 * (size - 1);
  const q = ((p % period) + period) % period;
  return q >= size ? period - q : q;
}

function padTensor(x: Tensor, pads: number[], mode: PadMode, value: number | bigint, op: string, ctx: KernelContext): Tensor {
  const rank = x.dims.length;
  const outDims = x.dims.map((d, i) => d + pads[i]! + pads[i + rank]!);
  if (outDims.some((d) => d < 0)) throw opError(op, ctx, `pads [${pads.join(', ')}] crop [${x.dims.join(', ')}] below zero`);
  if (mode !== 'constant') {
    x.dims.forEach((d, i) => {
      const padded = pads[i]! > 0 || pads[i + rank]! > 0;
      if (padded && d === 0) throw opError(op, ctx, `${mode} padding of an empty axis ${i}`);
    });
  }
  const n = elementCount(outDims);
  const out = allocData(x.dtype, n);
  const dst = anyArr(out),
    src = anyArr(x.data);
  const fill: number | bigint = isBigIntDtype(x.dtype)
    ? typeof value === 'bigint'
      ? value
      : BigInt(Math.trunc(value))
    : typeof value === 'bigint'
      ? Number(value)
      : value;
  const inStrides = stridesOf(x.dims);
  // one output row (the last axis) at a time: the outer axes give the row's source offset (or
  // put the whole row outside), then each element maps its position on the last axis
  const last = rank - 1;
  const len = rank > 0 ? outDims[last]! : 1,
    size = rank > 0 ? x.dims[last]! : 1,
    before = rank > 0 ? pads[last]! : 0;
  const c = new Array<number>(Math.max(last, 0)).fill(0);
  for (let i = 0; i < n;) {
    let base = 0;
    let outside = false;
    for (let d = 0; d < last; d++) {
      const p = padSource(c[d]! - pads[d]!, x.dims[d]!, mode);
      if (p < 0) {
        outside = true;
        break;
      }
      base += p * inStrides[d]!;
    }
    if (outside) {
      for (let k = 0; k < len; k++) dst[i++] = fill;
    } else {
      for (let k = 0; k < len; k++) {
        const p = padSource(k - before, size, mode);
        dst[i++] = p < 0 ? fill : src[base + p]!; // the last axis has stride 1
      }
    }
    for (let d = last - 1; d >= 0; d--) {
      if (++c[d]! < outDims[d]!) break;
      c[d] = 0;
    }
  }
  return { dtype: x.dtype, dims: outDims, data: out };
}

/** Pad-2..10: pads and value attributes. */
export const padV2: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Pad';
  const x = requireInput(inputs, 0, op, ctx, 'data');
  const r = new AttrReader(op, attrs, ctx);
  const mode = r.stringIn<PadMode>('mode', 'constant', ['constant', 'reflect', 'edge']);
  const pads = r.ints('pads');
  if (!pads) throw opError(op, ctx, 'attribute pads is required');
  return [padTensor(x, fullPads(x.dims.length, pads, undefined, op, ctx), mode, r.float('value', 0), op, ctx)];
};

/** Pad-11+: pads (int64) and optional constant_value inputs; axes input from 18, wrap mode from 19. */
export const padV11: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Pad';
  const x = requireInput(inputs, 0, op, ctx, 'data');
  const r = new AttrReader(op, attrs, ctx);
  const modes: PadMode[] = ctx.opset >= 19 ? ['constant', 'reflect', 'edge', 'wrap'] : ['constant', 'reflect', 'edge'];
  const mode = r.stringIn<PadMode>('mode', 'constant', modes);
  const pads = toIntList(requireInput(inputs, 1, op, ctx, 'pads'), 'pads', op, ctx);
  const cv = inputs[2];
  let value: number | bigint = 0;
  if (cv && cv.data.length > 0) {
    if (cv.dtype !== x.dtype) throw opError(op, ctx, `constant_value has dtype ${cv.dtype}, data has ${x.dtype}`);
    value = isBigIntDtype(cv.dtype) ? (cv.data as BigInt64Array)[0]! : scalarOf(cv, 'constant_value', op, ctx);
  }
  const axes = ctx.opset >= 18 && inputs[3] ? toIntList(inputs[3], 'axes', op, ctx) : undefined;
  return [padTensor(x, fullPads(x.dims.length, pads, axes, op, ctx), mode, value, op, ctx)];
};

export function padShape(fromInputs: boolean): ShapeFn {
  return (inputs, attrs, constants, ctx) => {
    const op = 'Pad';
    const x = infoOf(inputs, 0, op, ctx);
    if (!x.dims) return [{ dtype: x.dtype, dims: null }];
    const pads = fromInputs ? constInts(constants, 1, 'pads', op, ctx) : new AttrReader(op, attrs, ctx).ints('pads');
    const axes = fromInputs && ctx.opset >= 18 ? constInts(constants, 3, 'axes', op, ctx) : undefined;
    if (!pads || (fromInputs && ctx.opset >= 18 && inputs[3] && !axes)) return [{ dtype: x.dtype, dims: x.dims.map(() => -1) }];
    const full = fullPads(x.dims.length, pads, axes, op, ctx);
    const rank = x.dims.length;
    return [{ dtype: x.dtype, dims: x.dims.map((d, i) => (d < 0 ? -1 : d + full[i]! + full[i + rank]!)) }];
  };
}

// ---------------------------------------------------------------------------------------------
// Squeeze / Unsqueeze

function squeezeDims(dims: readonly number[], axes: number[] | undefined, op: string, ctx: KernelContext): number[] | null {
  if (!axes || axes.length === 0) {
    if (dims.some((d) => d < 0)) return null; // which dims are 1 is unknown
    return dims.filter((d) => d !== 1);
  }
  const ax = normAxes(axes, dims.length, op, ctx);
  for (const a of ax) if (dims[a] !== 1 && dims[a]! >= 0) throw opError(op, ctx, `cannot squeeze axis ${a} of size ${dims[a]}`);
  return dims.filter((_, i) => !ax.includes(i));
}

function unsqueezeDims(dims: readonly number[], axes: number[] | undefined, op: string, ctx: KernelContext): number[] {
  if (!axes || axes.length === 0) throw opError(op, ctx, 'axes are required');
  const rank = dims.length + axes.length;
  const ax = normAxes(axes, rank, op, ctx);
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(ax.includes(i) ? 1 : dims[j++]!);
  return out;
}

/** Squeeze / Unsqueeze; `fromInput` = opset 13+ form (axes as input 1). */
export function squeeze(which: 'Squeeze' | 'Unsqueeze', fromInput: boolean): RefKernel {
  return (inputs, attrs, ctx) => {
    const x = requireInput(inputs, 0, which, ctx, 'data');
    const axes = fromInput
      ? inputs[1]
        ? toIntList(inputs[1], 'axes', which, ctx)
        : undefined
      : new AttrReader(which, attrs, ctx).ints('axes');
    const dims = which === 'Squeeze' ? squeezeDims(x.dims, axes, which, ctx)! : unsqueezeDims(x.dims, axes, which, ctx);
    return [copyOf(x, dims)];
  };
}

export function squeezeShape(which: 'Squeeze' | 'Unsqueeze', fromInput: boolean): ShapeFn {
  return (inputs, attrs, constants, ctx) => {
    const x = infoOf(inputs, 0, which, ctx);
    if (!x.dims) return [{ dtype: x.dtype, dims: null }];
    if (fromInput && inputs[1] && !constants[1]) {
      const n = inputs[1].dims?.[0];
      if (n === undefined || n < 0) return [{ dtype: x.dtype, dims: null }];
      return [{ dtype: x.dtype, dims: new Array(which === 'Squeeze' ? x.dims.length - n : x.dims.length + n).fill(-1) }];
    }
    const axes = fromInput ? constInts(constants, 1, 'axes', which, ctx) : new AttrReader(which, attrs, ctx).ints('axes');
    return [
      { dtype: x.dtype, dims: which === 'Squeeze' ? squeezeDims(x.dims, axes, which, ctx) : unsqueezeDims(x.dims, axes, which, ctx) },
    ];
  };
}

// ---------------------------------------------------------------------------------------------
// Gather

export const gather: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Gather';
  const data = requireInput(inputs, 0, op, ctx, 'data'),
    indices = requireInput(inputs, 1, op, ctx, 'indices');
  requireDtype(indices, ['int64', 'int32'], 'indices', op, ctx);
  const axis = normAxis(new AttrReader(op, attrs, ctx).int('axis', 0), data.dims.length, op, ctx);
  const len = data.dims[axis]!;
  const outer = elementCount(data.dims.slice(0, axis)),
    inner = elementCount(data.dims.slice(axis + 1));
  const idx = toIntList(indices, 'indices', op, ctx).map((i) => {
    if (i < -len || i >= len) throw opError(op, ctx, `index ${i} is out of range for axis ${axis} of size ${len}`);
    return i < 0 ? i + len : i;
  });
  const outDims = [...data.dims.slice(0, axis), ...indices.dims, ...data.dims.slice(axis + 1)];
  checkOutputSize(outer * idx.length * inner, op, ctx);
  const map = new Int32Array(outer * idx.length * inner);
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (const i of idx) {
      const base = (o * len + i) * inner;
      for (let j = 0; j < inner; j++) map[k++] = base + j;
    }
  }
  return [gatherElements(data, outDims, map)];
};

export const gatherShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'Gather';
  const data = infoOf(inputs, 0, op, ctx),
    indices = infoOf(inputs, 1, op, ctx);
  if (!data.dims || !indices.dims) return [{ dtype: data.dtype, dims: null }];
  const axis = normAxis(new AttrReader(op, attrs, ctx).int('axis', 0), data.dims.length, op, ctx);
  return [{ dtype: data.dtype, dims: [...data.dims.slice(0, axis), ...indices.dims, ...data.dims.slice(axis + 1)] }];
};

// ---------------------------------------------------------------------------------------------
// Shape

/** [start, end) of Shape-15's slice of the dims (clamped; earlier opsets take all dims). */
function shapeRange(rank: number, attrs: Attrs, ctx: KernelContext): [number, number] {
  if (ctx.opset < 15) return [0, rank];
  const r = new AttrReader('Shape', attrs, ctx);
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  return [clamp(r.int('start', 0)), clamp(r.int('end', rank))];
}

export const shape: RefKernel = (inputs, attrs, ctx) => {
  const x = requireInput(inputs, 0, 'Shape', ctx, 'data');
  const [s, e] = shapeRange(x.dims.length, attrs, ctx);
  return [int64Tensor(x.dims.slice(s, Math.max(s, e)))];
};

export const shapeShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const x = infoOf(inputs, 0, 'Shape', ctx);
  if (!x.dims) return [{ dtype: 'int64', dims: [-1] }];
  const [s, e] = shapeRange(x.dims.length, attrs, ctx);
  return [{ dtype: 'int64', dims: [Math.max(0, e - s)] }];
};

// ---------------------------------------------------------------------------------------------
// Cast: every pair of IR dtypes, in ./cast.ts

export { cast, castShape, castTensor } from './cast.js';

// ---------------------------------------------------------------------------------------------
// Constant / ConstantOfShape / Identity / Dropout

function constantValue(attrs: Attrs, ctx: KernelContext): Tensor {
  const op = 'Constant';
  const r = new AttrReader(op, attrs, ctx);
  const names = Object.keys(attrs);
  if (names.length !== 1) throw opError(op, ctx, `needs exactly one value attribute, has ${names.length ? names.join(', ') : 'none'}`);
  const t = r.tensor('value');
  if (t) return copyOf(t);
  if (r.has('value_float')) return { dtype: 'float32', dims: [], data: Float32Array.of(r.float('value_float', 0)) };
  if (r.has('value_floats')) {
    const v = r.floats('value_floats', []);
    return { dtype: 'float32', dims: [v.length], data: Float32Array.from(v) };
  }
  if (r.has('value_int')) return int64Tensor([r.int('value_int', 0)], []);
  if (r.has('value_ints')) return int64Tensor(r.ints('value_ints', []));
  throw opUnsupported(op, ctx, `attribute '${names[0]}' is not supported (Sparrow reads value, value_float(s), value_int(s))`);
}

export const constant: RefKernel = (_inputs, attrs, ctx) => [constantValue(attrs, ctx)];
export const constantShape: ShapeFn = (_i, attrs, _c, ctx) => {
  const t = constantValue(attrs, ctx);
  return [{ dtype: t.dtype, dims: [...t.dims] }];
};

function fillValue(attrs: Attrs, ctx: KernelContext): Tensor {
  const v = new AttrReader('ConstantOfShape', attrs, ctx).tensor('value');
  if (!v) return { dtype: 'float32', dims: [1], data: Float32Array.of(0) };
  if (v.data.length !== 1) throw opError('ConstantOfShape', ctx, `value must hold one element, holds ${v.data.length}`);
  return v;
}

export const constantOfShape: RefKernel = (inputs, attrs, ctx) => {
  const op = 'ConstantOfShape';
  const s = requireInput(inputs, 0, op, ctx, 'input');
  requireDtype(s, ['int64'], 'input', op, ctx);
  const dims = toIntList(s, 'input', op, ctx);
  if (dims.some((d) => d < 0)) throw opError(op, ctx, `shape [${dims.join(', ')}] has a negative dim`);
  const v = fillValue(attrs, ctx);
  const out = allocData(v.dtype, elementCount(dims));
  (out as unknown as { fill(x: number | bigint): void }).fill(v.data[0]!);
  return [{ dtype: v.dtype, dims, data: out }];
};

export const constantOfShapeShape: ShapeFn = (inputs, attrs, constants, ctx) => {
  const dtype = fillValue(attrs, ctx).dtype;
  const c = constants[0];
  if (c) return [{ dtype, dims: toIntList(c, 'input', 'ConstantOfShape', ctx) }];
  const n = inputs[0]?.dims?.[0];
  return [{ dtype, dims: n !== undefined && n >= 0 ? new Array(n).fill(-1) : null }];
};

export const identity: RefKernel = (inputs, _attrs, ctx) => [copyOf(requireInput(inputs, 0, 'Identity', ctx, 'input'))];

/**
 * Dropout in inference: output = input, mask all true (bool from opset 10, the input's dtype
 * before). Opset 12+: a true training_mode input with a non-zero ratio would drop at random,
 * which a deterministic runtime does not do: that is refused (unsupported_op).
 */
export function dropout(version: 7 | 10 | 12): RefKernel {
  return (inputs, attrs, ctx) => {
    const op = 'Dropout';
    const x = requireInput(inputs, 0, op, ctx, 'data');
    if (version === 12) {
      const ratio = inputs[1] ? scalarOf(inputs[1], 'ratio', op, ctx) : 0.5;
      const training = inputs[2] ? scalarOf(inputs[2], 'training_mode', op, ctx) !== 0 : false;
      if (training && ratio !== 0) throw opUnsupported(op, ctx, `training_mode with ratio ${ratio} is random; Sparrow runs inference only`);
    } else {
      new AttrReader(op, attrs, ctx).float('ratio', 0.5);
    }
    const maskType: TensorDType = version === 7 ? x.dtype : 'bool';
    const mask = allocData(maskType, x.data.length);
    (mask as unknown as { fill(v: number | bigint): void }).fill(maskType === 'int64' ? 1n : 1);
    return [copyOf(x), { dtype: maskType, dims: [...x.dims], data: mask }];
  };
}

export function dropoutShape(version: 7 | 10 | 12): ShapeFn {
  return (inputs, _a, _c, ctx) => {
    const x = infoOf(inputs, 0, 'Dropout', ctx);
    return [sameInfo(x), { dtype: version === 7 ? x.dtype : 'bool', dims: x.dims ? [...x.dims] : null }];
  };
}

// ---------------------------------------------------------------------------------------------
// Expand (beyond the core list: stories260K needs it)

/** Expand's shape input: dims >= 0 (a negative one would broadcast into a negative size). */
function expandTarget(shape: number[], ctx: KernelContext): number[] {
  if (shape.some((d) => d < 0)) throw opError('Expand', ctx, `shape [${shape.join(', ')}] has a negative dim`);
  return shape;
}

/** Expand(input, shape): numpy broadcast of input's dims with `shape` (a 1 in shape keeps the input dim). */
export const expand: RefKernel = (inputs, _attrs, ctx) => {
  const op = 'Expand';
  const x = requireInput(inputs, 0, op, ctx, 'input'),
    s = requireInput(inputs, 1, op, ctx, 'shape');
  requireDtype(s, ['int64'], 'shape', op, ctx);
  const dims = broadcastDims([x.dims, expandTarget(toIntList(s, 'shape', op, ctx), ctx)], op, ctx);
  checkOutputSize(elementCount(dims), op, ctx);
  const map = broadcastIndex(x.dims, dims);
  return [map ? gatherElements(x, dims, map) : copyOf(x, dims)];
};

export const expandShape: ShapeFn = (inputs, _attrs, constants, ctx) => {
  const op = 'Expand';
  const x = infoOf(inputs, 0, op, ctx);
  const shape = constInts(constants, 1, 'shape', op, ctx);
  if (!shape) {
    const n = inputs[1]?.dims?.[0];
    if (n === undefined || n < 0 || !x.dims) return [{ dtype: x.dtype, dims: null }];
    return [{ dtype: x.dtype, dims: new Array<number>(Math.max(n, x.dims.length)).fill(-1) }];
  }
  expandTarget(shape, ctx);
  if (!x.dims) return [{ dtype: x.dtype, dims: null }];
  return [{ dtype: x.dtype, dims: broadcastDimsSymbolic([x.dims, shape], op, ctx) }];
};
