// Element-level helpers for the indexing, selection and contraction kernels (gather_scatter.ts,
// select.ts, topk.ts, nms.ts, einsum.ts). They work on any TensorData through plain element
// access (number or bigint elements), so a dtype added later (float16, double, int16...) only
// needs its typed array in allocData and its name in the dtype predicates below.

import { SparrowError } from '../../errors.js';
import type { KernelContext, Tensor, TensorData, TensorDType } from '../types.js';
import { allocData, opError, toIntList } from './util.js';

/** Element access that works for every TensorData (number or bigint elements). */
export type Elems = { [i: number]: number | bigint; readonly length: number };
export const elems = (d: TensorData): Elems => d as unknown as Elems;

/**
 * The most elements one output may hold (2^30: 4 GiB of float32). Sizes computed from shape
 * inputs or products of input sizes (Expand, Einsum, Gather...) can be astronomically large in
 * a hostile model; past this the kernel refuses before allocating (and before a loop that
 * would touch gigabytes).
 */
export const MAX_OUTPUT_ELEMENTS = 2 ** 30;

/** SparrowError('too_large') naming the op and node. */
export function opTooLarge(op: string, ctx: KernelContext, what: string): SparrowError {
  return new SparrowError('too_large', `${op} node "${ctx.node}": ${what}, over the limit of ${MAX_OUTPUT_ELEMENTS} elements`, {
    op,
    node: ctx.node,
    opset: ctx.opset,
  });
}

/** Throws opTooLarge unless `n` elements fit under MAX_OUTPUT_ELEMENTS. */
export function checkOutputSize(n: number, op: string, ctx: KernelContext): void {
  if (!(n <= MAX_OUTPUT_ELEMENTS)) throw opTooLarge(op, ctx, `an output of ${n} elements`);
}

/** allocData for an output of `n` elements, refused past MAX_OUTPUT_ELEMENTS (SparrowError('too_large')). */
export function allocOutput(dtype: TensorDType, n: number, op: string, ctx: KernelContext): TensorData {
  checkOutputSize(n, op, ctx);
  return allocData(dtype, n);
}

/** Floating-point dtypes (float32 now; float16 / double / bfloat16 when they arrive). */
export function isFloatDtype(dtype: TensorDType): boolean {
  const d = dtype as string;
  return d === 'float32' || d === 'float16' || d === 'float64' || d === 'double' || d === 'bfloat16';
}

/** Numeric dtypes: everything but bool (and string, which Sparrow has no dtype for). */
export function isNumericDtype(dtype: TensorDType): boolean {
  const d = dtype as string;
  return d !== 'bool' && d !== 'string';
}

/**
 * Total order of numpy's sort for one dtype: NaN after everything (NaN == NaN), -0 == +0.
 * Both arguments are numbers or both are bigints (elements of one tensor).
 */
export function compareElems(a: number | bigint, b: number | bigint): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0; // +0 === -0
  const an = a !== a,
    bn = b !== b; // NaN is the only value unequal to itself
  return an === bn ? 0 : an ? 1 : -1;
}

/** The elements of an int32/int64 index tensor, each checked against [-size, size-1] and made non-negative. */
export function readIndices(
  t: Tensor,
  size: number,
  what: string,
  op: string,
  ctx: KernelContext,
  allowed: readonly TensorDType[] = ['int64', 'int32'],
): number[] {
  if (!allowed.includes(t.dtype)) throw opError(op, ctx, `${what} has dtype ${t.dtype}; expected ${allowed.join(' or ')}`);
  const idx = toIntList(t, what, op, ctx);
  for (let i = 0; i < idx.length; i++) idx[i] = normIndex(idx[i]!, size, what, op, ctx);
  return idx;
}

/** One index checked against [-size, size-1], made non-negative; SparrowError('invalid_model') naming the node otherwise. */
export function normIndex(v: number, size: number, what: string, op: string, ctx: KernelContext): number {
  if (!(v >= -size && v < size)) throw opError(op, ctx, `${what} value ${v} is out of range [${-size}, ${size - 1}]`);
  return v < 0 ? v + size : v;
}

export type Reduction = 'none' | 'add' | 'mul' | 'max' | 'min';

/**
 * The element update of Scatter* with a reduction: f(current, update). Integer add/mul wrap
 * (two's complement, as C++ and numpy): sums are exact in doubles and wrap when stored; 32-bit
 * products go through Math.imul; bigint stores wrap to 64 bits. bool follows numpy (add = or,
 * mul = and, max = or, min = and). max/min propagate NaN (numpy's maximum/minimum).
 */
export function reducer(reduction: Reduction, dtype: TensorDType): (a: number | bigint, b: number | bigint) => number | bigint {
  const float = isFloatDtype(dtype);
  const bool = dtype === 'bool';
  switch (reduction) {
    case 'none':
      return (_a, b) => b;
    case 'add':
      if (bool) return (a, b) => (a || b ? 1 : 0);
      return (a, b) => (a as number) + (b as number);
    case 'mul':
      if (bool) return (a, b) => (a && b ? 1 : 0);
      if (float) return (a, b) => (a as number) * (b as number);
      return (a, b) => (typeof a === 'bigint' ? a * (b as bigint) : Math.imul(a, b as number));
    case 'max':
      return (a, b) => (a !== a || b !== b ? NaN : a >= b ? a : b);
    case 'min':
      return (a, b) => (a !== a || b !== b ? NaN : a <= b ? a : b);
  }
}

/**
 * For every position of a tensor of shape `dims` in row-major order, sum_d coord[d] * strides[d]
 * (strides of another tensor, possibly 0 for a dimension that is skipped or broadcast).
 */
export function offsetsOf(dims: readonly number[], strides: readonly number[]): Float64Array {
  const rank = dims.length;
  let n = 1;
  for (const d of dims) n *= d;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const c = new Array<number>(rank).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    out[i] = off;
    for (let d = rank - 1; d >= 0; d--) {
      off += strides[d]!;
      if (++c[d]! < dims[d]!) break;
      off -= strides[d]! * dims[d]!;
      c[d] = 0;
    }
  }
  return out;
}

/** The `reduction` attribute of ScatterND / ScatterElements at this opset (absent before 16: 'none'). */
export function readReduction(value: string | undefined, op: string, ctx: KernelContext): Reduction {
  const allowed: Reduction[] = ctx.opset >= 18 ? ['none', 'add', 'mul', 'max', 'min'] : ctx.opset >= 16 ? ['none', 'add', 'mul'] : ['none'];
  const r = (value ?? 'none') as Reduction;
  if (!allowed.includes(r)) {
    throw opError(op, ctx, `reduction "${r}" is not defined at opset ${ctx.opset} (allowed: ${allowed.join(', ')})`);
  }
  return r;
}
