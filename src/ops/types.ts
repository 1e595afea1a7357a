// The shared vocabulary of the graph IR, the op registry and the kernels (reference TS and
// WASM). Tensors are dense, row-major (C order); `dims` may hold -1 only during static shape
// inference for a symbolic dimension (e.g. the batch), never at run time.

export type TensorDType = 'float32' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

export type TensorData = Float32Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

/** bool tensors use Uint8Array (0/1). int64 tensors use BigInt64Array. */
export interface Tensor {
  dtype: TensorDType;
  dims: number[];
  data: TensorData;
}

/** A node attribute value as decoded from ONNX (ints are plain numbers; int64 attrs fit in 2^53). */
export type AttrValue = number | string | number[] | string[] | Tensor;

export type Attrs = Readonly<Record<string, AttrValue>>;

/**
 * A reference kernel: plain TS, no allocation tricks, readable first. Missing optional
 * inputs are `undefined`. Returns the node's outputs in order. Throws SparrowError
 * ('invalid_model') on inputs that violate the op's spec (shapes that do not broadcast...).
 */
export type RefKernel = (inputs: ReadonlyArray<Tensor | undefined>, attrs: Attrs, ctx: KernelContext) => Tensor[];

export interface KernelContext {
  /** opset version of the node's domain ("" = ai.onnx) in this model */
  opset: number;
  /** node name for messages */
  node: string;
}

/** Static shape/dtype of a value during shape inference: dims entries -1 = unknown/symbolic. */
export interface ValueInfo {
  dtype: TensorDType;
  dims: number[] | null; // null = unknown rank
}

/**
 * Shape function: output infos from input infos (+ constant input values where known, needed
 * by Reshape/Slice/Pad/...). Returns null where it cannot tell.
 */
export type ShapeFn = (
  inputs: ReadonlyArray<ValueInfo | undefined>,
  attrs: Attrs,
  constants: ReadonlyArray<Tensor | undefined>,
  ctx: KernelContext,
) => ValueInfo[];

export interface OpDef {
  /** ONNX op type, e.g. "Conv" */
  op: string;
  /** domain, "" for ai.onnx */
  domain: string;
  /** inclusive opset range this definition implements */
  sinceVersion: number;
  untilVersion: number;
  ref: RefKernel;
  shape: ShapeFn;
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}
