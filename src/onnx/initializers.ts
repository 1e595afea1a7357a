// ONNX TensorProto -> typed arrays, the list of constant tensors of a model, and the
// weight tensors of its Conv / Gemm / MatMul nodes. Plain TS (browser / Worker safe).

import { SparrowError } from '../errors.js';
import { ARRAY_OF, type TensorDType, type TensorData as IrTensorData } from '../ops/types.js';
import { dtypeFromOnnx, dtypeName, SUPPORTED_TYPES_TEXT } from '../ops/dtypes.js';
import { bfloat16ArrayToFloat32, float16ArrayToFloat32 } from '../ops/float16.js';
import { getIntAttribute, int64ToBigInt, int64ToNumber, type onnx } from './fields.js';

/** The dtypes a TensorProto decodes to: every IR dtype but bool (src/onnx/attributes.ts reads bool tensors). */
export type TensorDtype = Exclude<TensorDType, 'bool'>;
export type TensorData = IrTensorData;

export interface OnnxTensor {
  name: string;
  dims: number[];
  dtype: TensorDtype;
  data: TensorData;
}

export interface ListedTensor extends OnnxTensor {
  /** 'initializer' for graph.initializer, 'constant' for the output of a Constant node. */
  source: 'initializer' | 'constant';
}

export type WeightOp = 'Conv' | 'Gemm' | 'MatMul';

export interface WeightTensor {
  /** Name of the stored tensor (initializer, or Constant node output) that holds the data. */
  name: string;
  /** Shape as the op consumes it: Conv (Cout,Cin/group,kh,kw); Gemm (N,K) if transB else (K,N); MatMul (K,N). */
  dims: number[];
  /** Shape as stored in the model; differs from `dims` only when the op reads it through a constant Reshape (mnist-8). */
  storedDims: number[];
  data: Float32Array;
  op: WeightOp;
  /** Gemm only: the transB attribute. */
  transB?: boolean;
  /** Name of the consuming node (or `${op}#${index}` when unnamed). */
  node: string;
  /** The tensor name the node reads as input 1 (== name unless reached through Reshape/Identity). */
  input: string;
}

const BYTES_PER_ELEMENT: Readonly<Record<TensorDtype, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  uint64: 8,
  int32: 4,
  uint32: 4,
  int16: 2,
  uint16: 2,
  int8: 1,
  uint8: 1,
};

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function allocate(dtype: TensorDtype, n: number): TensorData {
  return new ARRAY_OF[dtype](n);
}

/** Copies little-endian bytes into a fresh (hence aligned) typed array of `n` elements. */
function fromLittleEndian(dtype: TensorDtype, bytes: Uint8Array, n: number): TensorData {
  const out = allocate(dtype, n);
  const dst = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  dst.set(bytes.subarray(0, out.byteLength)); // byte copy: works whatever bytes.byteOffset is
  const size = BYTES_PER_ELEMENT[dtype];
  if (!HOST_IS_LITTLE_ENDIAN && size > 1) {
    for (let i = 0; i < dst.length; i += size) dst.subarray(i, i + size).reverse();
  }
  return out;
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/**
 * An int64 field value as a bigint, saturated to the int64 range. Without the `long` package
 * (typical in browser bundles) protobufjs hands back int64s as approximate numbers, so
 * INT64_MAX arrives as 2^63: saturating keeps it INT64_MAX instead of wrapping to INT64_MIN.
 */
function toInt64(v: unknown, what: string): bigint {
  const b = int64ToBigInt(v, what);
  return b > INT64_MAX ? INT64_MAX : b < INT64_MIN ? INT64_MIN : b;
}

function dimsOf(t: onnx.ITensorProto, name: string): number[] {
  const dims: number[] = [];
  for (const d of t.dims ?? []) {
    const v = int64ToNumber(d, `dimension of tensor '${name}'`);
    if (v < 0) throw new SparrowError('invalid_model', `tensor '${name}' has a negative dimension ${v}`);
    dims.push(v);
  }
  return dims;
}

function elementCount(dims: number[], name: string): number {
  let n = 1;
  for (const d of dims) n *= d;
  if (!Number.isSafeInteger(n)) {
    throw new SparrowError('invalid_model', `tensor '${name}' shape [${dims.join(', ')}] is too large`);
  }
  return n;
}

/** The integer range of the dtypes stored in int32_data (float16/bfloat16: their 16 bits). */
const INT32_FIELD_RANGE: Readonly<Partial<Record<TensorDtype, [number, number]>>> = {
  int32: [-2147483648, 2147483647],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int8: [-128, 127],
  uint8: [0, 255],
  float16: [0, 65535],
  bfloat16: [0, 65535],
};

/**
 * Decodes one TensorProto. Reads raw_data (little-endian) when non-empty, else the typed
 * field for the data type: float_data (FLOAT), double_data (DOUBLE), int64_data (INT64),
 * uint64_data (UINT32, UINT64), int32_data (INT32, INT16, UINT16, INT8, UINT8, and the bit
 * patterns of FLOAT16 / BFLOAT16). float16/bfloat16 stay bit patterns (Uint16Array) here: the
 * importer turns them into float32 constants (src/ir/float_edges.ts).
 * Throws SparrowError('invalid_model') when the element count differs from product(dims) or
 * a value is out of range for its type; SparrowError('unsupported_op') for BOOL (read by
 * src/onnx/attributes.ts), STRING, complex, float8, int4/uint4, int2/uint2, float4, and for
 * external data.
 * @internal (onnx-proto types stay out of the published .d.ts)
 */
export function tensorFromProto(t: onnx.ITensorProto): OnnxTensor {
  const name = t.name ?? '';
  const code = t.dataType ?? 0;
  const d = dtypeFromOnnx(code);
  if (d === undefined || d === 'bool') {
    throw new SparrowError(
      'unsupported_op',
      `tensor '${name}' has data type ${dtypeName(code)} (${code}); Sparrow reads ${SUPPORTED_TYPES_TEXT}`,
    );
  }
  const dtype: TensorDtype = d;
  if (t.dataLocation === 1 /* EXTERNAL */ || (t.externalData?.length ?? 0) > 0) {
    throw new SparrowError('unsupported_op', `tensor '${name}' stores its data externally, which Sparrow does not read`);
  }
  if (t.segment) {
    throw new SparrowError('unsupported_op', `tensor '${name}' is a segment of a larger tensor, which Sparrow does not read`);
  }
  const dims = dimsOf(t, name);
  const n = elementCount(dims, name);
  const size = BYTES_PER_ELEMENT[dtype];
  const mismatch = (got: number, field: string): SparrowError =>
    new SparrowError(
      'invalid_model',
      `tensor '${name}' (${dtype}, dims [${dims.join(', ')}]) should hold ${n} elements but ${field} holds ${got}`,
    );

  const raw = t.rawData;
  if (raw && raw.length > 0) {
    if (raw.length % size !== 0 || raw.length / size !== n) {
      throw mismatch(raw.length / size, `raw_data (${raw.length} bytes)`);
    }
    return { name, dims, dtype, data: fromLittleEndian(dtype, raw, n) };
  }

  switch (dtype) {
    case 'float32': {
      const src = t.floatData ?? [];
      if (src.length !== n) throw mismatch(src.length, 'float_data');
      return { name, dims, dtype, data: Float32Array.from(src) };
    }
    case 'float64': {
      const src = t.doubleData ?? [];
      if (src.length !== n) throw mismatch(src.length, 'double_data');
      return { name, dims, dtype, data: Float64Array.from(src) };
    }
    case 'int64': {
      const src = t.int64Data ?? [];
      if (src.length !== n) throw mismatch(src.length, 'int64_data');
      const data = new BigInt64Array(n);
      for (let i = 0; i < n; i++) data[i] = toInt64(src[i], `int64_data[${i}] of '${name}'`);
      return { name, dims, dtype, data };
    }
    case 'uint64':
    case 'uint32': {
      const src = t.uint64Data ?? [];
      if (src.length !== n) throw mismatch(src.length, 'uint64_data');
      const max = dtype === 'uint64' ? 2n ** 64n - 1n : 2n ** 32n - 1n;
      const data = allocate(dtype, n) as BigUint64Array | Uint32Array;
      for (let i = 0; i < n; i++) {
        // protobufjs hands back uint64 as a Long (unsigned) or a number; a signed reading wraps
        let v = int64ToBigInt(src[i], `uint64_data[${i}] of '${name}'`);
        if (v < 0n) v = BigInt.asUintN(64, v);
        if (v > max) throw new SparrowError('invalid_model', `uint64_data[${i}] of ${dtype} tensor '${name}' is out of range: ${v}`);
        data[i] = (dtype === 'uint64' ? v : Number(v)) as never;
      }
      return { name, dims, dtype, data };
    }
    default: {
      // int32, int16, uint16, int8, uint8, and the bit patterns of float16 / bfloat16
      const src = t.int32Data ?? [];
      if (src.length !== n) throw mismatch(src.length, 'int32_data');
      const [lo, hi] = INT32_FIELD_RANGE[dtype]!;
      const data = allocate(dtype, n) as Int32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;
      for (let i = 0; i < n; i++) {
        const v = src[i]!;
        if (!Number.isInteger(v) || v < lo || v > hi) {
          throw new SparrowError('invalid_model', `int32_data[${i}] of ${dtype} tensor '${name}' is out of range: ${v}`);
        }
        data[i] = v;
      }
      return { name, dims, dtype, data };
    }
  }
}

/** A decoded tensor's values as float32 when it is float32, float16, bfloat16 or float64 (weights of a float16 model); else undefined. */
function asFloat32(t: OnnxTensor): Float32Array | undefined {
  switch (t.dtype) {
    case 'float32':
      return t.data as Float32Array;
    case 'float16':
      return float16ArrayToFloat32(t.data as Uint16Array);
    case 'bfloat16':
      return bfloat16ArrayToFloat32(t.data as Uint16Array);
    case 'float64':
      return Float32Array.from(t.data as Float64Array);
    default:
      return undefined;
  }
}

/** Tensors held by a Constant node (attribute `value`, or the numeric `value_*` forms), named after its output. */
function constantNodeTensor(node: onnx.INodeProto): OnnxTensor {
  const out = node.output?.[0] ?? '';
  const attrs = node.attribute ?? [];
  if (attrs.length !== 1) {
    throw new SparrowError('invalid_model', `Constant node '${node.name || out}' must have exactly one attribute, has ${attrs.length}`);
  }
  const a = attrs[0]!;
  switch (a.name) {
    case 'value': {
      if (!a.t) throw new SparrowError('invalid_model', `Constant node '${node.name || out}' has no tensor in 'value'`);
      return { ...tensorFromProto(a.t), name: out };
    }
    case 'value_float':
      return { name: out, dims: [], dtype: 'float32', data: Float32Array.of(a.f ?? 0) };
    case 'value_floats': {
      const v = a.floats ?? [];
      return { name: out, dims: [v.length], dtype: 'float32', data: Float32Array.from(v) };
    }
    case 'value_int':
      return { name: out, dims: [], dtype: 'int64', data: BigInt64Array.of(toInt64(a.i ?? 0, `value_int of '${out}'`)) };
    case 'value_ints': {
      const v = a.ints ?? [];
      return { name: out, dims: [v.length], dtype: 'int64', data: BigInt64Array.from(v, (x) => toInt64(x, `value_ints of '${out}'`)) };
    }
    default:
      throw new SparrowError(
        'unsupported_op',
        `Constant node '${node.name || out}' uses attribute '${a.name}', which Sparrow does not read`,
      );
  }
}

function isDefaultDomain(node: onnx.INodeProto): boolean {
  const d = node.domain ?? '';
  return d === '' || d === 'ai.onnx';
}

function isConstantNode(node: onnx.INodeProto): boolean {
  return node.opType === 'Constant' && isDefaultDomain(node);
}

/**
 * All graph initializers (in file order) followed by the tensors of Constant nodes (in node
 * order). Top-level graph only: subgraphs of If/Loop/Scan are not searched.
 * @internal (onnx-proto types stay out of the published .d.ts)
 */
export function listInitializers(model: onnx.IModelProto): ListedTensor[] {
  const graph = model.graph;
  if (!graph) throw new SparrowError('invalid_model', 'ONNX model has no graph');
  const out: ListedTensor[] = [];
  for (const t of graph.initializer ?? []) out.push({ ...tensorFromProto(t), source: 'initializer' });
  for (const node of graph.node ?? []) {
    if (isConstantNode(node)) out.push({ ...constantNodeTensor(node), source: 'constant' });
  }
  return out;
}

const MAX_FOLLOW = 16; // Reshape/Identity hops followed when tracing a weight to its stored tensor

/**
 * The float weight tensors read as input 1 of Conv, Gemm and MatMul nodes, in node order, as
 * float32 (float16/bfloat16 exactly, float64 rounded: the values the importer gives them).
 * A weight reached through Identity or a Reshape with a constant shape (mnist-8's MatMul reads
 * Reshape(Parameter193 [16,4,4,10], [256,10])) is reported with the consumed `dims` and the
 * stored tensor's `name` / `storedDims`; the data is the same (C-order reshape). Inputs that
 * are not constants, or not floats, are skipped; a tensor used by several nodes is listed once
 * (first use). Only the tensors actually needed are decoded.
 * @internal (onnx-proto types stay out of the published .d.ts)
 */
export function weightTensors(model: onnx.IModelProto): WeightTensor[] {
  const graph = model.graph;
  if (!graph) throw new SparrowError('invalid_model', 'ONNX model has no graph');
  const nodes = graph.node ?? [];

  const initializers = new Map<string, onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) initializers.set(t.name ?? '', t);
  const producers = new Map<string, onnx.INodeProto>();
  for (const node of nodes) for (const o of node.output ?? []) if (o) producers.set(o, node);

  const cache = new Map<string, OnnxTensor>();
  const storedTensor = (name: string): OnnxTensor | undefined => {
    let t = cache.get(name);
    if (t) return t;
    const init = initializers.get(name);
    if (init) t = { ...tensorFromProto(init), name };
    else {
      const p = producers.get(name);
      if (p && isConstantNode(p)) t = constantNodeTensor(p);
    }
    if (t) cache.set(name, t);
    return t;
  };

  // Follows Identity / Reshape(constant shape) back to a stored tensor; returns its name and the consumed dims.
  const resolve = (name: string, depth: number): { stored: OnnxTensor; dims: number[] } | undefined => {
    const direct = storedTensor(name);
    if (direct) return { stored: direct, dims: direct.dims };
    if (depth >= MAX_FOLLOW) return undefined;
    const p = producers.get(name);
    if (!p || !isDefaultDomain(p)) return undefined;
    if (p.opType === 'Identity') return resolve(p.input?.[0] ?? '', depth + 1);
    if (p.opType === 'Reshape') {
      const src = resolve(p.input?.[0] ?? '', depth + 1);
      const shapeTensor = storedTensor(p.input?.[1] ?? '');
      if (!src || !shapeTensor || shapeTensor.dtype !== 'int64') return undefined;
      const allowZero = getIntAttribute(p, 'allowzero', 0) === 1;
      return { stored: src.stored, dims: reshapeDims(src.dims, shapeTensor.data as BigInt64Array, allowZero, p.name ?? '') };
    }
    return undefined;
  };

  const out: WeightTensor[] = [];
  const seen = new Set<string>();
  nodes.forEach((node, index) => {
    const op = node.opType;
    if (op !== 'Conv' && op !== 'Gemm' && op !== 'MatMul') return;
    if (!isDefaultDomain(node)) return;
    const input = node.input?.[1];
    if (!input) return;
    const r = resolve(input, 0);
    const data = r ? asFloat32(r.stored) : undefined;
    if (!r || !data || seen.has(r.stored.name)) return;
    seen.add(r.stored.name);
    const w: WeightTensor = {
      name: r.stored.name,
      dims: r.dims,
      storedDims: r.stored.dims,
      data,
      op,
      node: node.name || `${op}#${index}`,
      input,
    };
    if (op === 'Gemm') {
      w.transB = getIntAttribute(node, 'transB', 0) !== 0; // transA does not affect B's layout
    }
    out.push(w);
  });
  return out;
}

/** ONNX Reshape shape inference: 0 copies the input dim (unless allowzero), one -1 is inferred. */
function reshapeDims(inDims: number[], shape: BigInt64Array, allowZero: boolean, nodeName: string): number[] {
  const total = inDims.reduce((a, b) => a * b, 1);
  const dims: number[] = [];
  let inferAt = -1;
  for (let i = 0; i < shape.length; i++) {
    const s = Number(shape[i]!);
    if (s === -1) {
      if (inferAt >= 0) throw new SparrowError('invalid_model', `Reshape '${nodeName}' has more than one -1 in its shape`);
      inferAt = i;
      dims.push(1);
    } else if (s === 0 && !allowZero) {
      if (i >= inDims.length) throw new SparrowError('invalid_model', `Reshape '${nodeName}' copies dimension ${i}, which its input lacks`);
      dims.push(inDims[i]!);
    } else if (s >= 0 && Number.isSafeInteger(s)) {
      dims.push(s);
    } else {
      throw new SparrowError('invalid_model', `Reshape '${nodeName}' has an invalid shape entry ${shape[i]}`);
    }
  }
  const known = dims.reduce((a, b) => a * b, 1);
  if (inferAt >= 0) {
    if (known === 0 || total % known !== 0) {
      throw new SparrowError('invalid_model', `Reshape '${nodeName}' cannot infer -1 from [${inDims.join(', ')}] to [${shape.join(', ')}]`);
    }
    dims[inferAt] = total / known;
  } else if (known !== total) {
    throw new SparrowError('invalid_model', `Reshape '${nodeName}' maps ${total} elements to shape [${dims.join(', ')}]`);
  }
  return dims;
}
