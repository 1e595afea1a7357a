// Shared helpers of the reference kernels: errors that name the node, typed attribute getters
// with defaults, tensor allocation, strides, numpy broadcasting, int64 <-> number conversion,
// and (re-exported from src/onnx/attributes.ts) the ONNX -> Sparrow conversions.
// Plain TS; nothing here may load onnx-proto at run time (the Worker and browser bundles hold
// the kernels): onnx-proto types only.

import { SparrowError } from '../../errors.js';
import type { AttrValue, Attrs, IrGraph, KernelContext, Tensor, TensorData, TensorDType, ValueInfo } from '../types.js';
import { ARRAY_OF, elementCount, isGraphAttr } from '../types.js';
import { bfloat16ToNumber, float16ToNumber } from '../float16.js';

// ---------------------------------------------------------------------------------------------
// Errors

/** SparrowError('invalid_model') naming the op and node: `Conv node "conv1": ...`. */
export function opError(op: string, ctx: KernelContext, message: string): SparrowError {
  return new SparrowError('invalid_model', `${op} node "${ctx.node}": ${message}`, { op, node: ctx.node, opset: ctx.opset });
}

/** SparrowError('unsupported_op') for a valid use of an op that Sparrow does not implement. */
export function opUnsupported(op: string, ctx: KernelContext, message: string): SparrowError {
  return new SparrowError('unsupported_op', `${op} node "${ctx.node}": ${message}`, { op, node: ctx.node, opset: ctx.opset });
}

// ---------------------------------------------------------------------------------------------
// Attributes

function describe(v: AttrValue): string {
  if (typeof v === 'number') return `number ${v}`;
  if (typeof v === 'string') return `string "${v}"`;
  if (Array.isArray(v)) return `list [${v.join(', ')}]`;
  if (isGraphAttr(v)) return `graph '${v.name}'`;
  return `tensor ${v.dtype}[${v.dims.join(', ')}]`;
}

/** Typed attribute access for one node; every getter checks the type and names the node on error. */
export class AttrReader {
  constructor(
    readonly op: string,
    readonly attrs: Attrs,
    readonly ctx: KernelContext,
  ) {}

  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.attrs, name);
  }

  private bad(name: string, want: string, v: AttrValue): SparrowError {
    return opError(this.op, this.ctx, `attribute '${name}' must be ${want}, got ${describe(v)}`);
  }

  int(name: string, fallback: number): number {
    if (!this.has(name)) return fallback;
    const v = this.attrs[name]!;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw this.bad(name, 'an integer', v);
    return v;
  }

  /** A required integer attribute. */
  requiredInt(name: string): number {
    if (!this.has(name)) throw opError(this.op, this.ctx, `attribute '${name}' is required`);
    return this.int(name, 0);
  }

  float(name: string, fallback: number): number {
    if (!this.has(name)) return fallback;
    const v = this.attrs[name]!;
    if (typeof v !== 'number') throw this.bad(name, 'a number', v);
    return v;
  }

  string(name: string, fallback: string): string {
    if (!this.has(name)) return fallback;
    const v = this.attrs[name]!;
    if (typeof v !== 'string') throw this.bad(name, 'a string', v);
    return v;
  }

  ints(name: string): number[] | undefined;
  ints(name: string, fallback: number[]): number[];
  ints(name: string, fallback?: number[]): number[] | undefined {
    if (!this.has(name)) return fallback;
    const v = this.attrs[name]!;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x))) throw this.bad(name, 'a list of integers', v);
    return v as number[];
  }

  floats(name: string): number[] | undefined;
  floats(name: string, fallback: number[]): number[];
  floats(name: string, fallback?: number[]): number[] | undefined {
    if (!this.has(name)) return fallback;
    const v = this.attrs[name]!;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw this.bad(name, 'a list of numbers', v);
    return v as number[];
  }

  tensor(name: string): Tensor | undefined {
    if (!this.has(name)) return undefined;
    const v = this.attrs[name]!;
    if (typeof v !== 'object' || Array.isArray(v) || isGraphAttr(v)) throw this.bad(name, 'a tensor', v);
    return v;
  }

  /** A required subgraph (GRAPH) attribute. */
  graph(name: string): IrGraph {
    if (!this.has(name)) throw opError(this.op, this.ctx, `attribute '${name}' (a graph) is required`);
    const v = this.attrs[name]!;
    if (!isGraphAttr(v)) throw this.bad(name, 'a graph', v);
    return v;
  }

  /** An integer attribute restricted to a set of values (e.g. booleans 0/1). */
  intIn(name: string, fallback: number, allowed: readonly number[]): number {
    const v = this.int(name, fallback);
    if (!allowed.includes(v)) throw opError(this.op, this.ctx, `attribute '${name}' must be one of ${allowed.join(', ')}, got ${v}`);
    return v;
  }

  stringIn<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const v = this.string(name, fallback);
    if (!(allowed as readonly string[]).includes(v)) {
      throw opError(this.op, this.ctx, `attribute '${name}' must be one of ${allowed.join(', ')}, got "${v}"`);
    }
    return v as T;
  }
}

// ---------------------------------------------------------------------------------------------
// Tensors

/** The typed arrays of number elements kernels compute on (float16/bfloat16 bits excepted: see elementAsNumber). */
export type NumericArray = Float32Array | Float64Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

/** A fresh zeroed array of `n` elements of `dtype` (ARRAY_OF in ../types.ts). */
export function allocData(dtype: TensorDType, n: number): TensorData {
  return new ARRAY_OF[dtype](n);
}

export function makeTensor(dtype: TensorDType, dims: number[], data?: TensorData): Tensor {
  return { dtype, dims: [...dims], data: data ?? allocData(dtype, elementCount(dims)) };
}

export function scalarF32(v: number): Tensor {
  return { dtype: 'float32', dims: [], data: Float32Array.of(v) };
}

export function int64Tensor(values: readonly number[], dims: number[] = [values.length]): Tensor {
  return { dtype: 'int64', dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

/** Row-major strides of `dims`. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i]!;
  }
  return s;
}

export const isFloat = (t: Tensor): boolean => t.dtype === 'float32';
/** The integer dtypes (not bool). */
export const INTEGER_DTYPES: readonly TensorDType[] = ['int64', 'uint64', 'int32', 'uint32', 'int16', 'uint16', 'int8', 'uint8'];
export const isInteger = (d: TensorDType): boolean => INTEGER_DTYPES.includes(d);
/** int64 and uint64: bigint elements. */
export const isBigIntDtype = (d: TensorDType): boolean => d === 'int64' || d === 'uint64';

/** The elements of an integer tensor as safe integers (shapes, axes, pads, indices). */
export function toIntList(t: Tensor, what: string, op: string, ctx: KernelContext): number[] {
  if (isBigIntDtype(t.dtype)) {
    return Array.from(t.data as BigInt64Array | BigUint64Array, (b: bigint) => {
      const v = Number(b);
      if (!Number.isSafeInteger(v)) {
        // INT64_MAX / INT64_MIN are common sentinels (Slice ends): clamp them to the safe range.
        return b > 0n ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
      }
      return v;
    });
  }
  if (isInteger(t.dtype)) return Array.from(t.data as NumericArray);
  throw opError(op, ctx, `${what} must be an integer tensor, got ${t.dtype}`);
}

/** Element `i` of any tensor as a JS number (bigint -> number, bool -> 0/1, float16/bfloat16 bits -> their value). */
export function elementAsNumber(t: Tensor, i: number): number {
  const v = t.data[i]!;
  if (typeof v === 'bigint') return Number(v);
  if (t.dtype === 'float16') return float16ToNumber(v);
  if (t.dtype === 'bfloat16') return bfloat16ToNumber(v);
  return v;
}

/** The single element of a 1-element tensor as a number. */
export function scalarOf(t: Tensor, what: string, op: string, ctx: KernelContext): number {
  if (t.data.length !== 1) throw opError(op, ctx, `${what} must hold exactly one element, has ${t.data.length} ([${t.dims.join(', ')}])`);
  return elementAsNumber(t, 0);
}

/** Normalizes a possibly negative axis into [0, rank); `rank` bounds the accepted range. */
export function normAxis(axis: number, rank: number, op: string, ctx: KernelContext, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) throw opError(op, ctx, `${what} ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** Normalizes a list of axes; rejects duplicates. */
export function normAxes(axes: readonly number[], rank: number, op: string, ctx: KernelContext): number[] {
  const out = axes.map((a) => normAxis(a, rank, op, ctx));
  if (new Set(out).size !== out.length) throw opError(op, ctx, `axes [${axes.join(', ')}] contain a duplicate`);
  return out;
}

export function requireInput(
  inputs: ReadonlyArray<Tensor | undefined>,
  i: number,
  op: string,
  ctx: KernelContext,
  what = `input ${i}`,
): Tensor {
  const t = inputs[i];
  if (!t) throw opError(op, ctx, `missing required ${what}`);
  return t;
}

export function requireDtype(t: Tensor, allowed: readonly TensorDType[], what: string, op: string, ctx: KernelContext): void {
  if (!allowed.includes(t.dtype)) throw opError(op, ctx, `${what} has dtype ${t.dtype}; expected ${allowed.join(' or ')}`);
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// ---------------------------------------------------------------------------------------------
// Broadcasting

/** Numpy (multidirectional) broadcast of shapes; throws naming the node when they do not broadcast. */
export function broadcastDims(shapes: ReadonlyArray<readonly number[]>, op: string, ctx: KernelContext): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    const off = rank - s.length;
    for (let i = 0; i < s.length; i++) {
      const d = s[i]!;
      const o = out[off + i]!;
      if (d === o || d === 1) continue;
      if (o === 1) {
        out[off + i] = d;
        continue;
      }
      throw opError(op, ctx, `shapes ${shapes.map((x) => `[${x.join(', ')}]`).join(' and ')} do not broadcast`);
    }
  }
  return out;
}

/**
 * Broadcast of static shapes where -1 marks an unknown dim: unknown with 1 -> unknown, unknown
 * with n>1 -> n (the only valid value), unknown with unknown -> unknown.
 */
export function broadcastDimsSymbolic(shapes: ReadonlyArray<readonly number[]>, op: string, ctx: KernelContext): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    const off = rank - s.length;
    for (let i = 0; i < s.length; i++) {
      const d = s[i]!;
      const o = out[off + i]!;
      if (d === o || d === 1) continue;
      if (o === 1) {
        out[off + i] = d;
        continue;
      }
      if (d === -1) continue; // o is known > 1 (or -1)
      if (o === -1) {
        out[off + i] = d;
        continue;
      }
      throw opError(op, ctx, `shapes ${shapes.map((x) => `[${x.join(', ')}]`).join(' and ')} do not broadcast`);
    }
  }
  return out;
}

/**
 * For each element of an output of shape `outDims`, the flat index of the element of an input
 * of shape `inDims` that broadcasts to it (numpy rules: `inDims` is right-aligned).
 */
export function broadcastIndex(inDims: readonly number[], outDims: readonly number[]): Int32Array | null {
  if (sameDims(inDims, outDims)) return null; // identity: callers use i directly
  const rank = outDims.length;
  const n = elementCount(outDims);
  const map = new Int32Array(n);
  if (n === 0) return map;
  const inStrides = stridesOf(inDims);
  // stride 0 along dimensions where the input has size 1 (or does not exist)
  const st = new Array<number>(rank).fill(0);
  const off = rank - inDims.length;
  for (let i = 0; i < inDims.length; i++) st[off + i] = inDims[i] === 1 ? 0 : inStrides[i]!;
  const counter = new Array<number>(rank).fill(0);
  let idx = 0;
  for (let o = 0; o < n; o++) {
    map[o] = idx;
    // odometer increment
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]!++;
      idx += st[d]!;
      if (counter[d]! < outDims[d]!) break;
      idx -= st[d]! * outDims[d]!;
      counter[d] = 0;
    }
  }
  return map;
}

// ---------------------------------------------------------------------------------------------
// Shape-function helpers

/** Shape-function helper: the info of input i, or an error naming the node. */
export function infoOf(inputs: ReadonlyArray<ValueInfo | undefined>, i: number, op: string, ctx: KernelContext): ValueInfo {
  const v = inputs[i];
  if (!v) throw opError(op, ctx, `missing required input ${i}`);
  return v;
}

/** The same info with its dims copied. */
export function sameInfo(v: ValueInfo): ValueInfo {
  return { dtype: v.dtype, dims: v.dims ? [...v.dims] : null };
}

/** Product of dims, or -1 when any is unknown. */
export function productOrUnknown(dims: readonly number[]): number {
  let p = 1;
  for (const d of dims) {
    if (d < 0) return -1;
    p *= d;
  }
  return p;
}
