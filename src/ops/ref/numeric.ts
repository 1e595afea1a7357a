// Generic machinery of the elementwise, reduction and scan kernels (unary_math.ts, binary.ts,
// reduce.ts, misc.ts): ONNX type lists, element access over any TensorData, the value range of
// a dtype, float -> integer stores, and broadcasting maps of one or many inputs.
//
// Kernels are written over the typed array, not over a dtype name: an element is a `number`
// (Float32Array, Int32Array, Uint32Array, Int16Array, Uint16Array, Int8Array, Uint8Array) or a
// `bigint` (BigInt64Array, BigUint64Array). Number arithmetic is done in float64 and the
// typed-array store rounds (float32) or wraps (integers, two's complement), which is exactly the
// C semantics of ONNX for + - and comparisons; products of 32-bit integers use Math.imul (see
// mulWrap). A new dtype then needs an entry in ONNX_NAMES, in dtypeRange and, if its elements
// are floats, in isFloatDtype. float16, bfloat16 and double are not in ONNX_NAMES on purpose:
// the importer computes them in float32 (src/ops/types.ts), so no kernel but Cast sees them.

import type { KernelContext, Tensor, TensorData, TensorDType, ValueInfo } from '../types.js';
import { elementCount } from '../types.js';
import { allocData, broadcastDims, broadcastDimsSymbolic, broadcastIndex, opError, sameDims } from './util.js';
import { floatToInteger } from './cast.js';

// ---------------------------------------------------------------------------------------------
// Type lists

/** ONNX type names -> the IR dtypes kernels see; names absent here (float16, double, bfloat16: computed as float32; string, float8...) are dropped. */
const ONNX_NAMES: Readonly<Record<string, TensorDType>> = {
  float: 'float32',
  int64: 'int64',
  uint64: 'uint64',
  int32: 'int32',
  uint32: 'uint32',
  int16: 'int16',
  uint16: 'uint16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

/**
 * An ONNX type constraint, written as in the spec ('uint8, uint16, ..., double'), as the IR
 * dtypes it contains. Names the IR has no dtype for are dropped.
 */
export function onnxTypes(list: string): readonly TensorDType[] {
  const out: TensorDType[] = [];
  for (const name of list.split(',').map((s) => s.trim())) {
    const d = ONNX_NAMES[name];
    if (d && !out.includes(d)) out.push(d);
  }
  return out;
}

/** Float element types (NaN/Inf exist, float arithmetic). */
export function isFloatDtype(d: TensorDType): boolean {
  return d === 'float32';
}

/** The representable range of an integer or bool dtype; floats: [-Infinity, Infinity]. */
export function dtypeRange(d: TensorDType): [number, number] | [bigint, bigint] {
  switch (d) {
    case 'float32':
    case 'float64':
    case 'float16':
    case 'bfloat16':
      return [-Infinity, Infinity];
    case 'int64':
      return [-(2n ** 63n), 2n ** 63n - 1n];
    case 'uint64':
      return [0n, 2n ** 64n - 1n];
    case 'int32':
      return [-2147483648, 2147483647];
    case 'uint32':
      return [0, 4294967295];
    case 'int16':
      return [-32768, 32767];
    case 'uint16':
      return [0, 65535];
    case 'int8':
      return [-128, 127];
    case 'uint8':
      return [0, 255];
    case 'bool':
      return [0, 1];
  }
}

/** Requires `t.dtype` in the op's type list at this opset; the message cites the list. */
export function requireType(t: Tensor | ValueInfo, allowed: readonly TensorDType[], what: string, op: string, ctx: KernelContext): void {
  if (!allowed.includes(t.dtype)) {
    throw opError(op, ctx, `${what} has type ${t.dtype}; ${op}-${ctx.opset} accepts ${allowed.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Element access

/** Index access to any TensorData (number or bigint elements). */
export type AnyArray = { [i: number]: number | bigint; readonly length: number };
export const anyArr = (d: TensorData): AnyArray => d as unknown as AnyArray;

/** True for arrays of bigint elements (int64, uint64). */
export function isBigData(d: TensorData): d is BigInt64Array | BigUint64Array {
  return d instanceof BigInt64Array || d instanceof BigUint64Array;
}

/** True for arrays of float elements. */
export function isFloatData(d: TensorData): boolean {
  return d instanceof Float32Array || (d as unknown) instanceof Float64Array;
}

/** `a * b` wrapped to the integer dtype held by `d` (exact: Math.imul for 32-bit elements). */
export function mulWrap(d: TensorData): (a: number, b: number) => number {
  return d.BYTES_PER_ELEMENT === 4 && !isFloatData(d) ? Math.imul : (a, b) => a * b;
}

/**
 * Stores a float64 result into an integer array as a C cast does on x86 (and onnx's numpy
 * reference): truncation toward zero; NaN, ±Inf and out-of-range values give the "integer
 * indefinite" value (INT32_MIN, INT64_MIN), and 8/16-bit types take the low bits of the int32
 * conversion; uint32/uint64 as Cast converts them (./cast.ts). Float arrays just round.
 */
export function storeFloat(out: TensorData, j: number, v: number): void {
  if (out instanceof BigUint64Array) {
    out[j] = floatToInteger(v, 'uint64') as bigint;
  } else if (out instanceof Uint32Array) {
    out[j] = floatToInteger(v, 'uint32') as number;
  } else if (out instanceof BigInt64Array) {
    out[j] = Number.isFinite(v) && Math.abs(v) < 2 ** 63 ? BigInt(Math.trunc(v)) : -(2n ** 63n);
  } else if (isFloatData(out)) {
    out[j] = v;
  } else {
    (out as Int32Array)[j] = Number.isFinite(v) && v > -2147483649 && v < 2147483648 ? Math.trunc(v) : -2147483648;
  }
}

// ---------------------------------------------------------------------------------------------
// Broadcasting

/**
 * Output dims and, per input, the map from output element to input element (null = identity)
 * of a multidirectional (numpy) broadcast. `sameShapeOnly` is the pre-opset-8 rule of the
 * variadic ops: every input must have the same shape.
 */
export function broadcastAll(
  ts: readonly Tensor[],
  op: string,
  ctx: KernelContext,
  sameShapeOnly = false,
): { dims: number[]; n: number; maps: Array<Int32Array | null> } {
  if (sameShapeOnly) {
    const bad = ts.find((t) => !sameDims(t.dims, ts[0]!.dims));
    if (bad) {
      throw opError(op, ctx, `${op}-${ctx.opset} does not broadcast: inputs [${ts.map((t) => t.dims.join(', ')).join('] and [')}] differ`);
    }
  }
  const dims = broadcastDims(
    ts.map((t) => t.dims),
    op,
    ctx,
  );
  return { dims, n: elementCount(dims), maps: ts.map((t) => broadcastIndex(t.dims, dims)) };
}

/** Shape-function counterpart of broadcastAll over infos (-1 = symbolic, null rank = unknown). */
export function broadcastInfos(infos: readonly ValueInfo[], op: string, ctx: KernelContext, sameShapeOnly = false): number[] | null {
  if (infos.some((v) => !v.dims)) {
    if (sameShapeOnly) return infos.find((v) => v.dims)?.dims?.slice() ?? null;
    return null;
  }
  const all = infos.map((v) => v.dims!);
  if (sameShapeOnly) {
    // same rank; a symbolic dim takes the value another input knows
    const r = all[0]!.length;
    if (all.some((d) => d.length !== r)) throw opError(op, ctx, `${op}-${ctx.opset} does not broadcast: inputs have different ranks`);
    return all[0]!.map((_, i) => all.map((d) => d[i]!).find((x) => x >= 0) ?? -1);
  }
  return broadcastDimsSymbolic(all, op, ctx);
}

/** A fresh tensor of `dtype` and `dims`. */
export function emptyLike(dtype: TensorDType, dims: readonly number[]): Tensor {
  return { dtype, dims: [...dims], data: allocData(dtype, elementCount(dims)) };
}
