// TopK: the k largest (or smallest) elements along an axis and their int64 indices.
//   TopK-1:  k attribute, float types, largest only
//   TopK-10: k input (int64 [1])
//   TopK-11: largest / sorted attributes, every numeric type (24: bfloat16, a type Sparrow lacks)
// Order: by value, ties by the lower index first (spec). NaN ranks above every number for both
// largest and smallest (numpy's sort order, which the ONNX reference implementation sorts by,
// and PyTorch's topk): largest=1 returns NaNs first, largest=0 reaches them last.
// onnxruntime 1.30 (CPU) has no NaN order: its results with NaN depend on its selection
// algorithm (k = 1, heap or nth_element) and are not even sorted, so Sparrow follows ONNX.
// sorted=0 leaves the order open; the kernel always returns the sorted order.

import type { Attrs, KernelContext, RefKernel, ShapeFn, Tensor } from '../types.js';
import { elementCount } from '../types.js';
import { compareElems, elems, isFloatDtype, isNumericDtype } from './elements.js';
import { AttrReader, allocData, infoOf, normAxis, opError, requireInput, toIntList } from './util.js';

type Version = 1 | 10 | 11;

interface TopKArgs {
  axis: number;
  largest: boolean;
}

function topkArgs(version: Version, rank: number, attrs: Attrs, ctx: KernelContext): TopKArgs {
  const r = new AttrReader('TopK', attrs, ctx);
  const axis = normAxis(r.int('axis', -1), rank, 'TopK', ctx);
  const largest = version === 11 ? r.intIn('largest', 1, [0, 1]) === 1 : true;
  if (version === 11) r.intIn('sorted', 1, [0, 1]);
  return { axis, largest };
}

/** k from the attribute (TopK-1) or the K input: one int64 element (shape [1]; a scalar is accepted). */
function kOf(version: Version, attrs: Attrs, kInput: Tensor | undefined, ctx: KernelContext): number {
  const op = 'TopK';
  let k: number;
  if (version === 1) {
    k = new AttrReader(op, attrs, ctx).requiredInt('k');
  } else {
    if (!kInput) throw opError(op, ctx, 'missing required input K');
    if (kInput.dtype !== 'int64') throw opError(op, ctx, `K has dtype ${kInput.dtype}; expected int64`);
    if (kInput.dims.length > 1 || kInput.data.length !== 1) {
      throw opError(op, ctx, `K must be a 1-D tensor of one element, has shape [${kInput.dims.join(', ')}]`);
    }
    k = toIntList(kInput, 'K', op, ctx)[0]!;
  }
  // TopK-1's k attribute must be positive (ONNX's type inference refuses 0); K may be 0
  if (k < (version === 1 ? 1 : 0)) throw opError(op, ctx, `k ${k} is ${version === 1 ? 'not positive' : 'negative'}`);
  return k;
}

function checkDtype(version: Version, x: Tensor | { dtype: Tensor['dtype'] }, ctx: KernelContext): void {
  const ok = version === 11 ? isNumericDtype(x.dtype) : isFloatDtype(x.dtype);
  if (!ok) throw opError('TopK', ctx, `X has dtype ${x.dtype}; TopK-${version} takes ${version === 11 ? 'numeric' : 'float'} tensors`);
}

export function topk(version: Version): RefKernel {
  return (inputs, attrs, ctx) => {
    const op = 'TopK';
    const x = requireInput(inputs, 0, op, ctx, 'X');
    checkDtype(version, x, ctx);
    const { axis, largest } = topkArgs(version, x.dims.length, attrs, ctx);
    const k = kOf(version, attrs, inputs[1], ctx);
    const n = x.dims[axis]!;
    if (k > n) throw opError(op, ctx, `k ${k} exceeds the length ${n} of axis ${axis} of X [${x.dims.join(', ')}]`);
    const outer = elementCount(x.dims.slice(0, axis)),
      inner = elementCount(x.dims.slice(axis + 1));
    const dims = [...x.dims];
    dims[axis] = k;
    const values = allocData(x.dtype, outer * k * inner);
    const indices = new BigInt64Array(outer * k * inner);
    const src = elems(x.data),
      dst = elems(values);
    const sign = largest ? -1 : 1;
    const order = new Array<number>(n);
    for (let o = 0; o < outer; o++) {
      for (let e = 0; e < inner; e++) {
        const at = (i: number) => src[(o * n + i) * inner + e]!;
        for (let i = 0; i < n; i++) order[i] = i;
        order.sort((a, b) => sign * compareElems(at(a), at(b)) || a - b);
        for (let j = 0; j < k; j++) {
          const d = (o * k + j) * inner + e;
          dst[d] = at(order[j]!);
          indices[d] = BigInt(order[j]!);
        }
      }
    }
    return [
      { dtype: x.dtype, dims, data: values },
      { dtype: 'int64', dims: [...dims], data: indices },
    ];
  };
}

export function topkShape(version: Version): ShapeFn {
  return (inputs, attrs, constants, ctx) => {
    const x = infoOf(inputs, 0, 'TopK', ctx);
    checkDtype(version, x, ctx);
    if (!x.dims)
      return [
        { dtype: x.dtype, dims: null },
        { dtype: 'int64', dims: null },
      ];
    const { axis } = topkArgs(version, x.dims.length, attrs, ctx);
    const k = version === 1 || constants[1] ? kOf(version, attrs, constants[1], ctx) : -1;
    if (k >= 0 && x.dims[axis]! >= 0 && k > x.dims[axis]!) {
      throw opError('TopK', ctx, `k ${k} exceeds the length ${x.dims[axis]} of axis ${axis} of X [${x.dims.join(', ')}]`);
    }
    const dims = [...x.dims];
    dims[axis] = k;
    return [
      { dtype: x.dtype, dims },
      { dtype: 'int64', dims: [...dims] },
    ];
  };
}
