// The shared vocabulary of the graph IR, the op registry and the kernels (reference TS and
// WASM). Tensors are dense, row-major (C order); `dims` may hold -1 only during static shape
// inference for a symbolic dimension (e.g. the batch), never at run time.
//
// Data types (TensorDType → the typed array of `data`; ONNX TensorProto.DataType in brackets):
//   float32  Float32Array     [FLOAT 1]     the one float type kernels compute in
//   float64  Float64Array     [DOUBLE 11]   \
//   float16  Uint16Array      [FLOAT16 10]   > edge types: IEEE binary16 / bfloat16 as bit
//   bfloat16 Uint16Array      [BFLOAT16 16] /  patterns (as onnxruntime's float16 tensors)
//   int64    BigInt64Array    [INT64 7]     uint64 BigUint64Array [UINT64 13]
//   int32    Int32Array       [INT32 6]     uint32 Uint32Array    [UINT32 12]
//   int16    Int16Array       [INT16 5]     uint16 Uint16Array    [UINT16 4]
//   int8     Int8Array        [INT8 3]      uint8  Uint8Array     [UINT8 2]
//   bool     Uint8Array (0/1) [BOOL 9]
// Strings, complex, float8, int4/uint4, int2/uint2 and float4 are not IR dtypes: the importer
// refuses them naming the type (src/ops/dtypes.ts).
//
// "Computed in float32, converted at the edges": float64, float16 and bfloat16 exist at the
// edges of a graph only. The importer (src/onnx/import.ts → src/ir/float_edges.ts) turns their
// constants (initializers, Constant nodes, tensor attributes such as ConstantOfShape's value)
// into float32 constants (float16/bfloat16 exactly; float64 rounded to nearest even), puts a
// Cast(to=FLOAT) behind every graph input of these types and a Cast(to=FLOAT16/BFLOAT16/DOUBLE)
// in front of every graph output declared with one, and makes a Cast(to=FLOAT16/BFLOAT16)
// inside the graph a Cast to that type and back (the float32 value rounded to the 16-bit type,
// value-exact), a Cast(to=DOUBLE) inside the graph a Cast(to=FLOAT). So the only kernel that
// reads or writes an edge type is Cast (src/ops/ref/shape_ops.ts castTensor; conversions with
// round-to-nearest-even in src/ops/float16.ts), every engine (reference, sparrow-f32,
// sparrow-int8) gets the conversions as ordinary nodes, and a session's inputInfo/outputInfo
// still report the model's declared dtypes: a float16 input takes a float16 tensor (Uint16Array
// bits). Arithmetic of a float64 model is therefore float32 arithmetic (relative error ~6e-8
// instead of ~1e-16), and a float16 model's intermediate values are not rounded to float16
// between ops (results differ from a float16 runtime by about a float16 ulp, usually less).
//
// The integer types are real IR dtypes: kernels whose ONNX type lists allow them accept them.
// 64-bit integers are bigint elements (BigInt64Array / BigUint64Array), exact over the whole
// range; everything else holds JS numbers.

export type TensorDType =
  'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'uint64' | 'int32' | 'uint32' | 'int16' | 'uint16' | 'int8' | 'uint8' | 'bool';

export type TensorData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

/** The dtypes that exist only at a graph's edges (see the header): kernels other than Cast never see them. */
export const EDGE_DTYPES: readonly TensorDType[] = ['float64', 'float16', 'bfloat16'];

/** True for float64, float16 and bfloat16 (the header's edge types). */
export function isEdgeDtype(d: TensorDType): boolean {
  return d === 'float64' || d === 'float16' || d === 'bfloat16';
}

/** The typed-array constructor of each dtype (float16/bfloat16: bit patterns in a Uint16Array). */
export const ARRAY_OF: Readonly<Record<TensorDType, { new (n: number): TensorData; readonly name: string }>> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/** bool tensors use Uint8Array (0/1); int64/uint64 tensors use BigInt64Array/BigUint64Array; float16/bfloat16 the bits in a Uint16Array. */
export interface Tensor {
  dtype: TensorDType;
  dims: number[];
  data: TensorData;
}

/**
 * A node attribute value as decoded from ONNX (ints are plain numbers; int64 attrs fit in 2^53).
 * A GRAPH attribute (If's branches, Loop's and Scan's body) is an IrGraph: see isGraphAttr.
 */
export type AttrValue = number | string | number[] | string[] | Tensor | IrGraph;

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

// ---------------------------------------------------------------------------------------------
// The graph IR's data. src/ir/graph.ts re-exports these as Value, Node and Graph, beside the
// functions that work on them; they are declared here, one layer down, because a node attribute
// may hold a subgraph (AttrValue) and the control-flow kernels (src/ops/ref/control_flow.ts) run
// subgraphs without importing the IR.

export interface IrValue {
  name: string;
  /** dtype and dims (-1 = symbolic/unknown; null = unknown rank). Exact for constants. */
  info: ValueInfo;
  /** set for constants (initializers, Constant nodes, folded values) */
  const?: Tensor;
}

export interface IrNode {
  /** unique within its graph (unnamed ONNX nodes get `${op}#${index}`) */
  name: string;
  op: string;
  /** '' for ai.onnx */
  domain: string;
  /** opset version of `domain` in this model */
  opset: number;
  /**
   * value names; '' = omitted optional input. A node with subgraph attributes lists after its
   * ONNX inputs its implicit inputs: the outer values its subgraphs read (implicitInputCount).
   */
  inputs: string[];
  /** value names; '' = omitted optional output */
  outputs: string[];
  attrs: Attrs;
  def: OpDef;
}

export interface IrGraph {
  name: string;
  /** opset version per domain ('' = ai.onnx) */
  opsets: Record<string, number>;
  /** graph inputs (non-constant), in model order; a subgraph's formal inputs */
  inputs: string[];
  /** graph outputs, in model order */
  outputs: string[];
  /**
   * Subgraphs only (absent or empty for a model's graph): the names, in this graph, of the values
   * of enclosing scopes it reads (lexical scoping), bound in order to the implicit inputs of the
   * node holding the graph. Each has a non-constant entry in `values`.
   */
  outer?: string[];
  /** topologically sorted */
  nodes: IrNode[];
  values: Map<string, IrValue>;
}

/** True when an attribute value is a subgraph (a GRAPH attribute). */
export function isGraphAttr(v: AttrValue | undefined): v is IrGraph {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'nodes' in v;
}

/**
 * The subgraph attributes of a node sorted by attribute name: the order in which their `outer`
 * values follow the node's ONNX inputs as implicit inputs (If: else_branch, then then_branch).
 */
export function graphAttrs(attrs: Attrs): Array<[name: string, graph: IrGraph]> {
  const out: Array<[string, IrGraph]> = [];
  for (const k of Object.keys(attrs).sort()) {
    const v = attrs[k];
    if (isGraphAttr(v)) out.push([k, v]);
  }
  return out;
}

/** The number of implicit inputs a node with these attributes has (0 without subgraphs). */
export function implicitInputCount(attrs: Attrs): number {
  let n = 0;
  for (const [, g] of graphAttrs(attrs)) n += g.outer?.length ?? 0;
  return n;
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}
