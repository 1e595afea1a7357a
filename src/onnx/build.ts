// Builds small ONNX models (ModelProto bytes) from a compact description: hand-made graphs
// for tests and tools. Attribute types follow the JS value: integer → INT, other number →
// FLOAT, string → STRING, number[] → INTS (all integers) or FLOATS, string[] → STRINGS,
// Tensor → TENSOR; `{ floats: [...] }` forces FLOATS for integral values; `{ graph: {...} }` →
// GRAPH (a subgraph: If's branches, Loop's and Scan's body), whose nodes may read the values of
// enclosing graphs by name.
import type { Tensor, TensorDType } from '../ops/types.js';
import { onnxDtypeCode } from '../ops/dtypes.js';
import { onnxRuntime, type onnx } from './proto.js';

const CODE = (d: TensorDType): number => onnxDtypeCode(d);

export type BuildAttr = number | string | number[] | string[] | Tensor | { floats: number[] } | { float: number } | { graph: BuildGraph };

/** A subgraph (GRAPH attribute). */
export interface BuildGraph {
  name?: string;
  nodes: BuildNode[];
  /** formal inputs; a bare name has no type (ONNX allows it in subgraphs) */
  inputs: Array<BuildValue | string>;
  /** outputs; a bare name has no type */
  outputs: Array<BuildValue | string>;
  initializers?: Record<string, Tensor>;
}

export interface BuildNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, BuildAttr>;
}

export interface BuildValue {
  name: string;
  dtype: TensorDType;
  /** numbers = dim_value, strings = dim_param, null = no shape */
  dims: Array<number | string> | null;
}

export interface BuildModel {
  nodes: BuildNode[];
  inputs: BuildValue[];
  outputs: BuildValue[];
  initializers?: Record<string, Tensor>;
  /** also list the initializers as graph inputs (IR v3 style) */
  initializersAsInputs?: boolean;
  /** default { '': 13 } */
  opsets?: Record<string, number>;
  irVersion?: number;
  /** store initializers in the typed fields (float_data...) instead of raw_data */
  typedFields?: boolean;
}

/** Tensor → TensorProto (raw_data, or the typed field). */
export function tensorToProto(name: string, t: Tensor, typed = false): onnx.ITensorProto {
  const p: onnx.ITensorProto = { name, dataType: CODE(t.dtype), dims: [...t.dims] };
  if (!typed) {
    p.rawData = new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  } else if (t.dtype === 'float32') p.floatData = Array.from(t.data as Float32Array);
  else if (t.dtype === 'float64') p.doubleData = Array.from(t.data as Float64Array);
  else if (t.dtype === 'int64') p.int64Data = Array.from(t.data as BigInt64Array, (b) => Number(b));
  else if (t.dtype === 'uint64' || t.dtype === 'uint32') p.uint64Data = Array.from(t.data as ArrayLike<number | bigint>, (b) => Number(b));
  else p.int32Data = Array.from(t.data as Int32Array); // int32/16/8, uint16/8, bool; float16/bfloat16 as their bits
  return p;
}

function attrProto(name: string, v: BuildAttr): onnx.IAttributeProto {
  const AT = onnxRuntime.AttributeProto.AttributeType;
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: AT.INT, i: v } : { name, type: AT.FLOAT, f: v };
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string'))
      return { name, type: AT.STRINGS, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
    const nums = v as number[];
    return nums.every(Number.isInteger) ? { name, type: AT.INTS, ints: nums } : { name, type: AT.FLOATS, floats: nums };
  }
  if ('floats' in v) return { name, type: AT.FLOATS, floats: v.floats };
  if ('float' in v) return { name, type: AT.FLOAT, f: v.float };
  if ('graph' in v) return { name, type: AT.GRAPH, g: graphProto(v.graph, name) };
  return { name, type: AT.TENSOR, t: tensorToProto('', v) };
}

function valueInfoProto(v: BuildValue): onnx.IValueInfoProto {
  const tensorType: onnx.TypeProto.ITensor = { elemType: CODE(v.dtype) };
  if (v.dims) tensorType.shape = { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name: v.name, type: { tensorType } };
}

function nodeProto(n: BuildNode, i: number): onnx.INodeProto {
  return {
    name: n.name ?? `${n.op}_${i}`,
    opType: n.op,
    domain: n.domain ?? '',
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attrProto(k, v)),
  };
}

function graphProto(g: BuildGraph, attr: string): onnx.IGraphProto {
  const vi = (v: BuildValue | string): onnx.IValueInfoProto => (typeof v === 'string' ? { name: v } : valueInfoProto(v));
  return {
    name: g.name ?? attr,
    node: g.nodes.map(nodeProto),
    input: g.inputs.map(vi),
    output: g.outputs.map(vi),
    initializer: Object.entries(g.initializers ?? {}).map(([name, t]) => tensorToProto(name, t)),
  };
}

/** The ModelProto message of a description. */
export function buildModelProto(m: BuildModel): onnx.ModelProto {
  const inits = Object.entries(m.initializers ?? {});
  const inputs = m.inputs.map(valueInfoProto);
  if (m.initializersAsInputs) {
    for (const [name, t] of inits) inputs.push(valueInfoProto({ name, dtype: t.dtype, dims: t.dims }));
  }
  return onnxRuntime.ModelProto.create({
    irVersion: m.irVersion ?? 7,
    producerName: 'sparrow-test',
    opsetImport: Object.entries(m.opsets ?? { '': 13 }).map(([domain, version]) => ({ domain, version })),
    graph: {
      name: 'g',
      node: m.nodes.map(nodeProto),
      input: inputs,
      output: m.outputs.map(valueInfoProto),
      initializer: inits.map(([name, t]) => tensorToProto(name, t, m.typedFields)),
    },
  });
}

/** The encoded model bytes of a description. */
export function buildModel(m: BuildModel): Uint8Array {
  return onnxRuntime.ModelProto.encode(buildModelProto(m)).finish();
}

/** Convenience tensor constructors. */
export const f32 = (dims: number[], data: ArrayLike<number>): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(data) });
export const i64 = (dims: number[], data: ArrayLike<number>): Tensor => ({
  dtype: 'int64',
  dims,
  data: BigInt64Array.from(Array.from(data), (x) => BigInt(x)),
});
