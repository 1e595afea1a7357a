// Decoding ONNX ModelProto bytes with onnx-proto (protobufjs underneath), plus the
// small helpers every reader of the decoded messages needs (int64 fields, attributes).
// Plain TS: runs in Node, browsers and Workers.

import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { SparrowError } from '../errors.js';

export type { onnx };

// onnx-proto is CommonJS (`module.exports = { onnx }`): Node's ESM loader only exposes it
// as the default export, so the runtime namespace comes from there.
const runtime: typeof onnx = onnxProto.onnx;

/** The onnx-proto runtime namespace (message classes such as `onnxRuntime.TensorProto`). */
export const onnxRuntime = runtime;

/**
 * Decodes an ONNX model. Any failure (malformed protobuf, truncated bytes, missing graph
 * or opset_import) throws SparrowError('invalid_model').
 */
export function decodeModel(bytes: Uint8Array): onnx.ModelProto {
  if (!(bytes instanceof Uint8Array)) {
    throw new SparrowError('invalid_model', 'ONNX model bytes must be a Uint8Array');
  }
  if (bytes.length === 0) {
    throw new SparrowError('invalid_model', 'ONNX model is empty (0 bytes)');
  }
  let model: onnx.ModelProto;
  try {
    model = runtime.ModelProto.decode(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new SparrowError('invalid_model', `not a readable ONNX model (protobuf decode failed: ${why})`);
  }
  // protobufjs happily decodes many byte strings (including prefixes of a real model that
  // stop at a field boundary) into a message with missing fields: require the essentials.
  if (!model.graph) {
    throw new SparrowError('invalid_model', 'ONNX model has no graph (truncated or not an ONNX file?)');
  }
  if (model.opsetImport.length === 0) {
    throw new SparrowError('invalid_model', 'ONNX model has no opset_import (truncated or not an ONNX file?)');
  }
  return model;
}

/** A protobufjs Long, structurally (the `long` package is present in Node; absent elsewhere). */
interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

function isLongLike(v: unknown): v is LongLike {
  return typeof v === 'object' && v !== null &&
    typeof (v as LongLike).low === 'number' && typeof (v as LongLike).high === 'number';
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
