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
