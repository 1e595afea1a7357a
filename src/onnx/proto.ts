// Decoding ONNX ModelProto bytes with onnx-proto (protobufjs underneath), plus the
// small helpers every reader of the decoded messages needs (int64 fields, attributes).
// Plain TS: runs in Node, browsers and Workers.

import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { SparrowError } from '../errors.js';

export type { onnx };
// The field helpers need no protobuf runtime (src/onnx/fields.ts); re-exported for the readers.
export { int64ToBigInt, int64ToNumber, getAttribute, getIntAttribute } from './fields.js';

// onnx-proto is CommonJS (`module.exports = { onnx }`): Node's ESM loader only exposes it
// as the default export, so the runtime namespace comes from there. It is read on first use,
// not when this module is imported: the bundled package (scripts/bundle.mjs) loads onnx-proto
// and protobufjs only once a model is decoded or encoded.
let runtime: typeof onnx | undefined;
const rt = (): typeof onnx => (runtime ??= onnxProto.onnx);

/** The onnx-proto runtime namespace (message classes such as `onnxRuntime.TensorProto`), resolved on first use. */
export const onnxRuntime: typeof onnx = new Proxy({} as typeof onnx, { get: (_t, k) => Reflect.get(rt(), k) as unknown });

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
    model = rt().ModelProto.decode(bytes);
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
