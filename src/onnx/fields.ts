// Helpers for the fields of decoded ONNX messages (int64 values, attributes). Types only from
// onnx-proto: code that merely converts decoded messages (src/onnx/attributes.ts, which
// src/ops/ref/util.ts re-exports, and src/onnx/initializers.ts) imports these from here, so that
// it does not load onnx-proto and protobufjs into bundles that never decode ONNX (the Worker, the
// browser entry).
import type { onnx } from 'onnx-proto';
import { SparrowError } from '../errors.js';

export type { onnx };

/** A protobufjs Long, structurally (the `long` package is present in Node; absent elsewhere). */
interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

function isLongLike(v: unknown): v is LongLike {
  return typeof v === 'object' && v !== null && typeof (v as LongLike).low === 'number' && typeof (v as LongLike).high === 'number';
}

/**
 * Converts a protobuf int64 value (a number, a Long, or a decimal string) to a bigint.
 * Throws SparrowError('invalid_model') for anything else (e.g. a non-integer number).
 */
export function int64ToBigInt(v: unknown, what = 'int64 value'): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new SparrowError('invalid_model', `${what} is not an integer: ${v}`);
    return BigInt(v);
  }
  if (isLongLike(v)) {
    const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
    return v.unsigned ? bits : BigInt.asIntN(64, bits);
  }
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  throw new SparrowError('invalid_model', `${what} is not an int64: ${String(v)}`);
}

/** Like int64ToBigInt but as a number; throws SparrowError('invalid_model') outside the safe-integer range. */
export function int64ToNumber(v: unknown, what = 'int64 value'): number {
  const b = int64ToBigInt(v, what);
  if (b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new SparrowError('invalid_model', `${what} ${b} does not fit in a safe integer`);
  }
  return Number(b);
}

/** The attribute named `name` of a node, or undefined. */
export function getAttribute(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  for (const a of node.attribute ?? []) if (a.name === name) return a;
  return undefined;
}

/** An INT attribute as a number, or `fallback` when absent. */
export function getIntAttribute(node: onnx.INodeProto, name: string, fallback: number): number {
  const a = getAttribute(node, name);
  if (a === undefined || a.i === undefined || a.i === null) return fallback;
  return int64ToNumber(a.i, `attribute ${name} of node ${node.name || node.opType || '?'}`);
}
