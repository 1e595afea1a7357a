// The model graph inside a `.sparrow` file (docs/format.md "Graph metadata"): the optimized
// Graph IR (src/ir/graph.ts) as JSON in metadata.graph, its constants as sections in first-use
// (execution) order. Each constant's tensor entry names its value (`value`); a weight quantized
// to int8 carries `quant: { scheme: 'symmetric', axis, scale }` pointing at a float32 tensor of
// per-channel scales, stored right after it. Readers trust nothing: every name, dtype, shape,
// attribute and op is checked, and shapes are inferred again and compared with the declared
// outputs; anything inconsistent is SparrowError('corrupt_metadata'), an op the registry lacks
// is SparrowError('unsupported_op') naming op, opset and node. Plain TS (browser/Worker safe).
import { SparrowError } from '../errors.js';
import type { PackTensor } from '../compress/pack.js';
import { packTensors } from '../compress/pack.js';
import { decodeInt8Ref } from '../codec/int8.js';
import { dequantize } from '../compress/quantize.js';
import { resolveOp } from '../ops/registry.js';
import { elementCount, type AttrValue, type Attrs, type Tensor, type TensorDType, type TensorData, type ValueInfo } from '../ops/types.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import { inferShapes } from '../ir/passes.js';
import { DType, readContainer, type ReadOptions, type SparrowMeta, type TensorMeta } from './container.js';

/** Version of the graph JSON schema (metadata.graph.schema). */
export const GRAPH_SCHEMA = 1;

const GRAPH_DTYPES: readonly TensorDType[] = ['float32', 'int64', 'int32', 'int8', 'uint8', 'bool'];

export interface GraphValueJson { name: string; dtype: TensorDType; dims: number[] | null }

/** An attribute value in JSON: numbers, strings, arrays of either, or tagged objects. */
export type AttrJson =
  | number | string | Array<number | string | { float: string }>
  | { float: string }
  | { tensor: InlineTensorJson };

/** A small tensor written inline (attribute tensors): int64 as decimal strings, non-finite floats as strings. */
export interface InlineTensorJson { dtype: TensorDType; dims: number[]; data: Array<number | string> }

export interface GraphNodeJson {
  name: string;
  op: string;
  /** '' for ai.onnx */
  domain: string;
  opset: number;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrJson>;
}

export interface GraphJson {
  schema: number;
  name: string;
  /** opset per domain ('' = ai.onnx) */
  opsets: Record<string, number>;
  inputs: GraphValueJson[];
  outputs: GraphValueJson[];
  /** topologically sorted: every input is a graph input, a constant or an earlier node's output */
  nodes: GraphNodeJson[];
}

export interface QuantJson { scheme: 'symmetric'; axis: number; scale: string }

/** An int8 weight replacing a float32 constant: q · scales[c] along `axis` gives the weight. */
export interface QuantizedWeight {
  q: Int8Array;
  /** float32, length dims[axis] */
  scales: Float32Array;
  axis: number;
}

// ---------------------------------------------------------------------------------------------
// writing

/** -0, NaN and ±Infinity as JSON-safe tags; other numbers as they are. */
function numberJson(x: number): number | { float: string } {
  if (Number.isFinite(x) && !Object.is(x, -0)) return x;
  return { float: Object.is(x, -0) ? '-0' : String(x) };
}

function inlineTensor(t: Tensor): InlineTensorJson {
  const data: Array<number | string> = [];
  if (t.dtype === 'int64') for (const v of t.data as BigInt64Array) data.push(v.toString());
  else if (t.dtype === 'float32') {
    for (const v of t.data as Float32Array) data.push(Number.isFinite(v) && !Object.is(v, -0) ? v : Object.is(v, -0) ? '-0' : String(v));
  } else for (const v of t.data as Int32Array | Int8Array | Uint8Array) data.push(v);
  return { dtype: t.dtype, dims: [...t.dims], data };
}

function attrJson(v: AttrValue): AttrJson {
  if (typeof v === 'number') return numberJson(v);
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return (v as Array<number | string>).map((x) => (typeof x === 'number' ? numberJson(x) : x));
  return { tensor: inlineTensor(v) };
}

function valueJson(v: Value): GraphValueJson {
  return { name: v.name, dtype: v.info.dtype, dims: v.info.dims ? [...v.info.dims] : null };
}

/** The graph as JSON (constants are not in it: they are sections, see graphTensors). */
export function graphToJson(graph: Graph): GraphJson {
  const info = (n: string): Value => {
    const v = graph.values.get(n);
    if (!v) throw new SparrowError('invalid_argument', `graph has no value named '${n}'`);
    return v;
  };
  return {
    schema: GRAPH_SCHEMA,
    name: graph.name,
    opsets: { ...graph.opsets },
    inputs: graph.inputs.map((n) => valueJson(info(n))),
    outputs: graph.outputs.map((n) => valueJson(info(n))),
    nodes: graph.nodes.map((n) => ({
      name: n.name, op: n.op, domain: n.domain, opset: n.opset, inputs: [...n.inputs], outputs: [...n.outputs],
      attrs: Object.fromEntries(Object.entries(n.attrs).map(([k, a]) => [k, attrJson(a)])),
    })),
  };
}

/** Constant value names in first-use order: node inputs in node order, then constants that are only graph outputs. */
export function constantOrder(graph: Graph): string[] {
  const seen = new Set<string>();
  const order: string[] = [];
  const visit = (n: string): void => {
    if (n && !seen.has(n) && graph.values.get(n)?.const) { seen.add(n); order.push(n); }
  };
  for (const node of graph.nodes) for (const i of node.inputs) visit(i);
  for (const o of graph.outputs) visit(o);
  return order;
}

/**
 * The graph's constants as container tensors in first-use order: raw (float32/int64/int32/
 * int8/uint8; bool as uint8 with `valueDtype: 'bool'`), or, for the values in `quantized`,
 * the int8 weight with its `quant` followed by its float32 scales (`<value>.scale`, made unique).
 */
export function graphTensors(graph: Graph, quantized: ReadonlyMap<string, QuantizedWeight> = new Map()): PackTensor[] {
  const order = constantOrder(graph);
  const used = new Set<string>(graph.values.keys());
  const out: PackTensor[] = [];
  for (const name of order) {
    const t = graph.values.get(name)!.const!;
    const qw = quantized.get(name);
    if (qw) {
      if (t.dtype !== 'float32') throw new SparrowError('invalid_argument', `constant '${name}' is ${t.dtype}; only float32 weights are quantized`);
      if (!Number.isInteger(qw.axis) || qw.axis < 0 || qw.axis >= t.dims.length) throw new SparrowError('invalid_argument', `constant '${name}': quantization axis ${qw.axis} is out of range for [${t.dims}]`);
      if (qw.q.length !== t.data.length || qw.scales.length !== t.dims[qw.axis]) {
        throw new SparrowError('invalid_argument', `constant '${name}': the quantized weight does not match its shape [${t.dims}]`);
      }
      let scale = `${name}.scale`;
      for (let k = 1; used.has(scale); k++) scale = `${name}.scale_${k}`;
      used.add(scale);
      const quant: QuantJson = { scheme: 'symmetric', axis: qw.axis, scale };
      out.push({ name, shape: [...t.dims], data: qw.q, extra: { value: name, quant } });
      out.push({ name: scale, shape: [qw.scales.length], data: qw.scales });
      continue;
    }
    switch (t.dtype) {
      case 'bool': out.push({ name, shape: [...t.dims], data: t.data as Uint8Array, extra: { value: name, valueDtype: 'bool' } }); break;
      default: out.push({ name, shape: [...t.dims], data: t.data, extra: { value: name } });
    }
  }
  return out;
}

export interface WriteGraphOptions {
  /** float32 weights replaced by int8 + per-channel scales */
  quantized?: ReadonlyMap<string, QuantizedWeight>;
  /** further top-level metadata fields (preprocessing, compression, ...) */
  meta?: Partial<SparrowMeta>;
}

/** A complete `.sparrow` file of a graph: graph JSON, constants as sections (int8 ones entropy-coded). */
export function writeGraphContainer(graph: Graph, opts: WriteGraphOptions = {}): Uint8Array {
  const tensors = graphTensors(graph, opts.quantized);
  return packTensors(tensors, { ...opts.meta, graph: graphToJson(graph) }).bytes;
}

// ---------------------------------------------------------------------------------------------
// reading

const corrupt = (msg: string): SparrowError => new SparrowError('corrupt_metadata', `graph metadata: ${msg}`);
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const show = (x: unknown): string => { const s = JSON.stringify(x) ?? String(x); return s.length > 60 ? s.slice(0, 57) + '...' : s; };
const isName = (x: unknown): x is string => typeof x === 'string' && x.length > 0;

/** The decoded data of a section: the typed array of its container dtype. */
export type SectionData = Int8Array | Uint8Array | Int32Array | Float32Array | BigInt64Array | Uint16Array;

/** An int8 weight as stored, for engines that compute in int8 (the graph gets its float32 dequantization). */
export interface StoredInt8 extends QuantizedWeight { dims: number[]; scaleName: string }

export interface DecodedGraph {
  graph: Graph;
  /** value name → its stored int8 weight and scales (the graph holds q·scale in float32) */
  int8: Map<string, StoredInt8>;
}

function parseDims(x: unknown, what: string, allowSymbolic: boolean): number[] {
  if (!Array.isArray(x)) throw corrupt(`${what}: dims must be an array, got ${show(x)}`);
  x.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || (d as number) < (allowSymbolic ? -1 : 0)) throw corrupt(`${what}: dims[${i}] is ${show(d)}`);
  });
  return x as number[];
}

function parseValueInfo(x: unknown, what: string): GraphValueJson {
  if (!isObj(x)) throw corrupt(`${what} must be an object, got ${show(x)}`);
  if (!isName(x.name)) throw corrupt(`${what}: name must be a non-empty string, got ${show(x.name)}`);
  const w = `${what} '${x.name}'`;
  if (!GRAPH_DTYPES.includes(x.dtype as TensorDType)) throw corrupt(`${w}: dtype ${show(x.dtype)} is not one of ${GRAPH_DTYPES.join(', ')}`);
  const dims = x.dims === null ? null : parseDims(x.dims, w, true);
  return { name: x.name, dtype: x.dtype as TensorDType, dims };
}

function parseFloatTag(x: unknown, what: string): number {
  if (isObj(x) && typeof x.float === 'string' && Object.keys(x).length === 1) {
    const s = x.float;
    if (s === '-0') return -0;
    if (s === 'NaN') return NaN;
    if (s === 'Infinity') return Infinity;
    if (s === '-Infinity') return -Infinity;
  }
  throw corrupt(`${what}: ${show(x)} is not a number`);
}

function parseInlineTensor(x: unknown, what: string): Tensor {
  if (!isObj(x)) throw corrupt(`${what}: tensor must be an object`);
  const dtype = x.dtype as TensorDType;
  if (!GRAPH_DTYPES.includes(dtype)) throw corrupt(`${what}: tensor dtype ${show(x.dtype)} is unknown`);
  const dims = parseDims(x.dims, what, false);
  const n = elementCount(dims);
  if (!Array.isArray(x.data) || x.data.length !== n) throw corrupt(`${what}: tensor of dims [${dims}] needs ${n} data values`);
  const data = x.data as unknown[];
  const bad = (i: number): SparrowError => corrupt(`${what}: tensor data[${i}] = ${show(data[i])} is not a ${dtype}`);
  switch (dtype) {
    case 'float32':
      return { dtype, dims, data: Float32Array.from(data, (v, i) => {
        if (typeof v === 'number') return v;
        if (v === '-0') return -0;
        if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return Number(v);
        throw bad(i);
      }) };
    case 'int64':
      return { dtype, dims, data: BigInt64Array.from(data, (v, i) => {
        if (typeof v !== 'string' && typeof v !== 'number') throw bad(i);
        if (typeof v === 'number' && !Number.isSafeInteger(v)) throw bad(i);
        if (typeof v === 'string' && !/^-?\d{1,19}$/.test(v)) throw bad(i);
        const b = BigInt(v);
        if (b > 2n ** 63n - 1n || b < -(2n ** 63n)) throw bad(i);
        return b;
      }) };
    default: {
      const [lo, hi, Arr] = dtype === 'int32' ? [-(2 ** 31), 2 ** 31 - 1, Int32Array] as const
        : dtype === 'int8' ? [-128, 127, Int8Array] as const
        : dtype === 'uint8' ? [0, 255, Uint8Array] as const : [0, 1, Uint8Array] as const;
      const arr = new Arr(n);
      data.forEach((v, i) => {
        if (!Number.isInteger(v) || (v as number) < lo || (v as number) > hi) throw bad(i);
        arr[i] = v as number;
      });
      return { dtype, dims, data: arr };
    }
  }
}

function parseAttr(x: unknown, what: string): AttrValue {
  if (typeof x === 'number') return x;
  if (typeof x === 'string') return x;
  if (Array.isArray(x)) {
    if (x.every((e) => typeof e === 'string')) return x as string[];
    return x.map((e, i) => (typeof e === 'number' ? e : parseFloatTag(e, `${what}[${i}]`)));
  }
  if (isObj(x) && 'tensor' in x && Object.keys(x).length === 1) return parseInlineTensor(x.tensor, what);
  return parseFloatTag(x, what);
}

function parseAttrs(x: unknown, what: string): Attrs {
  if (!isObj(x)) throw corrupt(`${what}: attrs must be an object, got ${show(x)}`);
  const out: Record<string, AttrValue> = {};
  for (const [k, v] of Object.entries(x)) {
    if (!k || k === '__proto__') throw corrupt(`${what}: attribute name ${show(k)} is not allowed`);
    out[k] = parseAttr(v, `${what} attribute '${k}'`);
  }
  return out;
}

function parseNames(x: unknown, what: string): string[] {
  if (!Array.isArray(x) || x.some((s) => typeof s !== 'string')) throw corrupt(`${what} must be an array of strings, got ${show(x)}`);
  return x as string[];
}

/** The typed array of a section as a graph tensor's data (bool kept as Uint8Array). */
function asTensorData(d: SectionData, dtype: TensorDType, what: string): TensorData {
  const ok = (dtype === 'float32' && d instanceof Float32Array) || (dtype === 'int64' && d instanceof BigInt64Array) ||
    (dtype === 'int32' && d instanceof Int32Array) || (dtype === 'int8' && d instanceof Int8Array) ||
    ((dtype === 'uint8' || dtype === 'bool') && d instanceof Uint8Array);
  if (!ok) throw corrupt(`${what}: stored data does not fit dtype ${dtype}`);
  if (dtype === 'bool') {
    for (let i = 0; i < d.length; i++) if (d[i]! > 1) throw corrupt(`${what}: bool value ${d[i]} at ${i} is not 0 or 1`);
  }
  return d as TensorData;
}

/**
 * Rebuilds the Graph from a container's metadata and its decoded sections (`section(i)` is
 * the data of section i, in its container dtype). Quantized int8 weights become float32
 * constants q·scale (per channel along quant.axis); `int8` keeps what was stored.
 */
export function graphFromMeta(meta: SparrowMeta, section: (i: number) => SectionData): DecodedGraph {
  const gj = meta.graph;
  if (gj === null || gj === undefined) throw corrupt('the file holds no graph (metadata.graph is absent: a weights-only container)');
  if (!isObj(gj)) throw corrupt(`must be an object, got ${show(gj)}`);
  if (!Number.isInteger(gj.schema)) throw corrupt(`schema must be an integer, got ${show(gj.schema)}`);
  if (gj.schema !== GRAPH_SCHEMA) throw new SparrowError('unsupported_version', `graph metadata schema ${String(gj.schema)} is not supported (this reader knows schema ${GRAPH_SCHEMA})`);
  if (typeof gj.name !== 'string') throw corrupt(`name must be a string, got ${show(gj.name)}`);
  if (!isObj(gj.opsets)) throw corrupt(`opsets must be an object, got ${show(gj.opsets)}`);
  const opsets: Record<string, number> = {};
  for (const [d, v] of Object.entries(gj.opsets)) {
    if (d === '__proto__' || !Number.isSafeInteger(v) || (v as number) < 1) throw corrupt(`opsets[${show(d)}] is ${show(v)}, must be a positive integer`);
    opsets[d] = v as number;
  }
  if (!Array.isArray(gj.inputs)) throw corrupt(`inputs must be an array, got ${show(gj.inputs)}`);
  if (!Array.isArray(gj.outputs) || gj.outputs.length === 0) throw corrupt(`outputs must be a non-empty array, got ${show(gj.outputs)}`);
  if (!Array.isArray(gj.nodes)) throw corrupt(`nodes must be an array, got ${show(gj.nodes)}`);

  const values = new Map<string, Value>();
  const define = (name: string, v: Value, what: string): void => {
    if (values.has(name)) throw corrupt(`${what} '${name}' is defined twice (value names must be unique)`);
    values.set(name, v);
  };

  // constants: the tensor entries that name a value
  const byName = new Map<string, { t: TensorMeta; i: number }>();
  meta.tensors.forEach((t, i) => byName.set(t.name, { t, i }));
  const scaleNames = new Set<string>();
  const int8 = new Map<string, StoredInt8>();
  meta.tensors.forEach((t, i) => {
    if (t.value === undefined) return;
    if (!isName(t.value)) throw corrupt(`tensor '${t.name}': value must be a non-empty string, got ${show(t.value)}`);
    const what = `constant '${t.value}' (tensor '${t.name}')`;
    const data = section(i);
    if (t.quant !== undefined) {
      const q = t.quant as Record<string, unknown>;
      if (!isObj(q) || q.scheme !== 'symmetric') throw corrupt(`${what}: quant must be { scheme: 'symmetric', axis, scale }, got ${show(t.quant)}`);
      if (t.dtype !== 'int8') throw corrupt(`${what}: a quantized tensor must be int8, is ${t.dtype}`);
      const axis = q.axis;
      if (!Number.isInteger(axis) || (axis as number) < 0 || (axis as number) >= t.shape.length) throw corrupt(`${what}: quant.axis ${show(axis)} is out of range for shape [${t.shape}]`);
      const s = isName(q.scale) ? byName.get(q.scale) : undefined;
      if (!s) throw corrupt(`${what}: quant.scale ${show(q.scale)} names no tensor`);
      if (s.t.value !== undefined) throw corrupt(`${what}: its scale tensor '${s.t.name}' is also a graph value`);
      const C = t.shape[axis as number]!;
      if (s.t.dtype !== 'float32' || s.t.shape.length !== 1 || s.t.shape[0] !== C) {
        throw corrupt(`${what}: scale tensor '${s.t.name}' is ${s.t.dtype} [${s.t.shape}], expected float32 [${C}]`);
      }
      const scales = section(s.i) as Float32Array;
      for (let c = 0; c < C; c++) {
        if (!(Number.isFinite(scales[c]!) && scales[c]! > 0)) throw corrupt(`${what}: scale ${c} is ${scales[c]}, must be finite and positive`);
      }
      scaleNames.add(s.t.name);
      const qd = data as Int8Array;
      const dims = [...t.shape];
      int8.set(t.value, { q: qd, scales, axis: axis as number, dims, scaleName: s.t.name });
      define(t.value, { name: t.value, info: { dtype: 'float32', dims }, const: { dtype: 'float32', dims, data: dequantize(qd, scales, dims, axis as number) } }, 'constant');
      return;
    }
    let dtype: TensorDType;
    if (t.valueDtype === 'bool') {
      if (t.dtype !== 'uint8') throw corrupt(`${what}: a bool constant is stored as uint8, not ${t.dtype}`);
      dtype = 'bool';
    } else if (t.valueDtype !== undefined) {
      throw corrupt(`${what}: valueDtype ${show(t.valueDtype)} is unknown`);
    } else if (GRAPH_DTYPES.includes(t.dtype as TensorDType)) {
      dtype = t.dtype as TensorDType;
    } else {
      throw corrupt(`${what}: dtype ${t.dtype} is not a graph dtype`);
    }
    const dims = [...t.shape];
    define(t.value, { name: t.value, info: { dtype, dims: [...dims] }, const: { dtype, dims, data: asTensorData(data, dtype, what) } }, 'constant');
  });

  const inputs: string[] = [];
  gj.inputs.forEach((x: unknown, k) => {
    const v = parseValueInfo(x, `inputs[${k}]`);
    define(v.name, { name: v.name, info: { dtype: v.dtype, dims: v.dims } }, 'graph input');
    inputs.push(v.name);
  });

  const nodes: Node[] = [];
  const nodeNames = new Set<string>();
  gj.nodes.forEach((x: unknown, k) => {
    if (!isObj(x)) throw corrupt(`nodes[${k}] must be an object, got ${show(x)}`);
    if (!isName(x.name)) throw corrupt(`nodes[${k}]: name must be a non-empty string, got ${show(x.name)}`);
    const name = x.name;
    const w = `node '${name}'`;
    if (nodeNames.has(name)) throw corrupt(`${w}: node names must be unique`);
    nodeNames.add(name);
    if (!isName(x.op)) throw corrupt(`${w}: op must be a non-empty string, got ${show(x.op)}`);
    if (typeof x.domain !== 'string') throw corrupt(`${w}: domain must be a string, got ${show(x.domain)}`);
    if (!Number.isSafeInteger(x.opset) || (x.opset as number) < 1) throw corrupt(`${w}: opset must be a positive integer, got ${show(x.opset)}`);
    if (!Object.hasOwn(opsets, x.domain) || opsets[x.domain] !== x.opset) {
      throw corrupt(`${w}: opset ${String(x.opset)} of domain '${x.domain}' disagrees with the graph's opsets ${show(opsets)}`);
    }
    const nodeInputs = parseNames(x.inputs, `${w} inputs`);
    const outputs = parseNames(x.outputs, `${w} outputs`);
    const attrs = parseAttrs(x.attrs ?? {}, w);
    const def = resolveOp(x.op, x.domain, x.opset as number, name); // unsupported_op names op, opset and node
    for (const i of nodeInputs) {
      if (i && !values.has(i)) throw corrupt(`${w} (${x.op}) reads '${i}', which no graph input, constant or earlier node provides`);
    }
    for (const o of outputs) if (o) define(o, { name: o, info: { dtype: 'float32', dims: null } }, `${w} output`);
    nodes.push({ name, op: x.op, domain: x.domain, opset: x.opset as number, inputs: nodeInputs, outputs, attrs, def });
  });

  const declaredOutputs = gj.outputs.map((x: unknown, k) => parseValueInfo(x, `outputs[${k}]`));
  for (const o of declaredOutputs) if (!values.has(o.name)) throw corrupt(`graph output '${o.name}' is not produced by any node, input or constant`);

  const graph: Graph = { name: gj.name, opsets, inputs, outputs: declaredOutputs.map((o) => o.name), nodes, values };
  try {
    inferShapes(graph);
  } catch (e) {
    if (e instanceof SparrowError && (e.code === 'invalid_model' || e.code === 'internal' || e.code === 'invalid_argument')) {
      throw corrupt(`shapes are inconsistent: ${e.message}`);
    }
    throw e;
  }
  checkLayerShapes(graph);
  for (const o of declaredOutputs) {
    const got = values.get(o.name)!.info;
    if (!compatible(got, o)) {
      throw corrupt(`graph output '${o.name}' is declared ${fmt(o)} but the graph computes ${fmt(got)}`);
    }
  }
  return { graph, int8 };
}

/**
 * What the shape functions leave unchecked for the weight layers: Conv's input channels against
 * its weight (C = Cin/group · group) and bias ([M]); Gemm's inner dimensions and bias length.
 */
function checkLayerShapes(graph: Graph): void {
  const dims = (n: string | undefined): number[] | null => (n ? graph.values.get(n)?.info.dims ?? null : null);
  const known = (d: number | undefined): d is number => d !== undefined && d >= 0;
  for (const n of graph.nodes) {
    if (n.domain !== '') continue;
    const X = dims(n.inputs[0]), W = dims(n.inputs[1]), B = dims(n.inputs[2]);
    if (n.op === 'Conv' && X && W) {
      const group = typeof n.attrs['group'] === 'number' ? n.attrs['group'] : 1;
      if (W.length !== X.length) throw corrupt(`node '${n.name}' (Conv): weight [${W}] and input [${X}] differ in rank`);
      if (known(X[1]) && known(W[1]) && X[1] !== W[1] * group) {
        throw corrupt(`node '${n.name}' (Conv): input has ${X[1]} channels, weight [${W}] with group ${group} expects ${W[1] * group}`);
      }
      if (B && known(W[0]) && (B.length !== 1 || (known(B[0]) && B[0] !== W[0]))) throw corrupt(`node '${n.name}' (Conv): bias [${B}] must be [${W[0]}]`);
    }
    if (n.op === 'Gemm' && X && W && X.length === 2 && W.length === 2) {
      const K = n.attrs['transA'] === 1 ? X[0] : X[1], K2 = n.attrs['transB'] === 1 ? W[1] : W[0];
      if (known(K) && known(K2) && K !== K2) throw corrupt(`node '${n.name}' (Gemm): inner dimensions ${K} and ${K2} differ`);
    }
  }
}

const fmt = (i: { dtype: string; dims: number[] | null }): string => `${i.dtype} ${i.dims ? `[${i.dims.join(',')}]` : '[unknown rank]'}`;

function compatible(got: ValueInfo, want: { dtype: TensorDType; dims: number[] | null }): boolean {
  if (got.dtype !== want.dtype) return false;
  if (!got.dims || !want.dims) return true;
  return got.dims.length === want.dims.length && got.dims.every((d, i) => d < 0 || want.dims![i]! < 0 || d === want.dims![i]);
}

/** Section i of a container as its typed array (int8 sections decoded; raw ones copied, hence aligned). */
export function sectionData(dtype: DType, codec: number, payload: Uint8Array, decodedBytes: number): SectionData {
  if (dtype === DType.Int8) return decodeInt8Ref(codec, payload, decodedBytes);
  const buf = payload.slice().buffer;
  switch (dtype) {
    case DType.Uint8: return new Uint8Array(buf);
    case DType.Int32: return new Int32Array(buf);
    case DType.Float32: return new Float32Array(buf);
    case DType.Int64: return new BigInt64Array(buf);
    case DType.Uint16: return new Uint16Array(buf);
    default: throw new SparrowError('corrupt_header', `unknown dtype byte ${String(dtype)}`);
  }
}

/**
 * Reads a `.sparrow` file with a graph: every CRC and stream is checked, the sections decoded,
 * the graph validated and rebuilt (quantized weights dequantized to float32).
 */
export function readGraphContainer(bytes: Uint8Array, opts: ReadOptions = {}): DecodedGraph & { meta: SparrowMeta } {
  const { header, payload } = readContainer(bytes, opts);
  const cache = new Map<number, SectionData>();
  const section = (i: number): SectionData => {
    let d = cache.get(i);
    if (!d) {
      const s = header.sections[i]!;
      d = sectionData(s.dtype, s.codec, payload(i), s.decodedBytes);
      cache.set(i, d);
    }
    return d;
  };
  return { ...graphFromMeta(header.meta, section), meta: header.meta };
}
