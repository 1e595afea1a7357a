// The model graph inside a `.sparrow` file (docs/format.md "Graph metadata", schema 2): the
// optimized Graph IR (src/ir/graph.ts) as compact JSON in metadata.graph. Values are referred
// to by index (graph inputs, inline constants, section constants, node outputs, in that order);
// only graph inputs/outputs, section constants and the names a caller keeps are written, other
// values and nodes get generated names (%k, #k) on reading; attributes equal to their ONNX
// default are left out. Small integer constants and float32 scalars are inline (`consts`); the
// others are sections in first-use (execution) order, named by their tensor entry. A weight
// quantized to int8 carries `quant: { axis, scale }` pointing at a float32 tensor of
// per-channel scales, stored right after it. A subgraph attribute (If/Loop/Scan) is stored as
// `{ graph: SubgraphJson }`: its own scope of named values, constants inline, its outer values
// bound to the node's trailing (implicit) inputs. Readers trust nothing: every reference, dtype,
// shape, attribute and op is checked, and shapes are inferred again (and compared with declared
// outputs); anything inconsistent is SparrowError('corrupt_metadata'), an op the registry lacks
// is SparrowError('unsupported_op') naming op, opset and node. Plain TS (browser/Worker safe).
import { floatsOfHalves, fromHalf, halvesOf } from './half.js';
import { SparrowError } from '../errors.js';
import { packTensors, type PackTensor } from './pack.js';
import { decodeInt8Ref, type Int8CodecId } from '../codec/int8.js';
import type { Int8Decode } from '../wasm/decode.js';
import { dequantize } from '../quant/int8.js';
import { resolveOp } from '../ops/registry.js';
import {
  elementCount,
  isGraphAttr,
  type AttrValue,
  type Attrs,
  type Tensor,
  type TensorDType,
  type TensorData,
  type ValueInfo,
} from '../ops/types.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import { inferShapes } from '../ir/passes.js';
import { DType, readContainer, type ReadOptions, type SparrowMeta, type TensorMeta } from './container.js';

/** Version of the graph JSON schema (metadata.graph.schema). Schema 1 (long names, verbose nodes) is no longer read. */
export const GRAPH_SCHEMA = 2;

const GRAPH_DTYPES: readonly TensorDType[] = ['float32', 'int64', 'int32', 'int8', 'uint8', 'bool'];
/** dtypes of graph values (inputs, outputs): every IR dtype (a float16 model keeps its float16 input, src/ops/types.ts) */
const VALUE_DTYPES: readonly TensorDType[] = [...GRAPH_DTYPES, 'float64', 'float16', 'bfloat16', 'uint64', 'uint32', 'int16', 'uint16'];

export interface GraphValueJson {
  name: string;
  dtype: TensorDType;
  dims: number[] | null;
}

/** An attribute value in JSON: numbers, strings, arrays of either, or tagged objects. */
export type AttrJson =
  number | string | Array<number | string | { float: string }> | { float: string } | { tensor: InlineTensorJson } | { graph: SubgraphJson };

/**
 * A subgraph attribute (If's branches, Loop's and Scan's body). Every value is referred to by
 * name (one scope per subgraph: its inputs, its outer values, its constants, its node outputs);
 * its constants are all inline. The node holding it lists, after its ONNX inputs, one implicit
 * input per outer value (subgraphs in attribute-name order), bound in order to `outer`.
 */
export interface SubgraphJson {
  /** absent: '' */
  name?: string;
  /** formal inputs (their types come from the node holding the subgraph) */
  inputs: string[];
  /** absent: none */
  outer?: string[];
  /** absent: none; each named */
  consts?: InlineConstJson[];
  /** topologically sorted; `in` / `out` are names */
  nodes: GraphNodeJson[];
  outputs: string[];
}

/** A small tensor written inline: int64 as numbers when safe integers, else decimal strings; non-finite floats as strings. */
export interface InlineTensorJson {
  dtype: TensorDType;
  dims: number[];
  data: Array<number | string>;
}

/** A small constant written in the graph JSON (not a section); unnamed ones get a generated name. */
export interface InlineConstJson extends InlineTensorJson {
  name?: string;
}

/**
 * A value reference: an integer is a value index (graph inputs, then `consts`, then the tensor
 * constants in section order, then node outputs in node order); a string is a value name;
 * `""` is an omitted optional input.
 */
export type ValueRefJson = number | string;

export interface GraphNodeJson {
  op: string;
  /** absent: generated `#<node index>` */
  name?: string;
  /** absent or '' for ai.onnx; the node's opset is opsets[domain] */
  domain?: string;
  /** absent: no inputs */
  in?: ValueRefJson[];
  /** absent: one unnamed output; entries: a name, null (unnamed) or '' (omitted) */
  out?: Array<string | null>;
  /** absent: none; attributes equal to their ONNX default are not written */
  attrs?: Record<string, AttrJson>;
}

export interface GraphJson {
  schema: number;
  /** absent: '' */
  name?: string;
  /** opset per domain ('' = ai.onnx) */
  opsets: Record<string, number>;
  inputs: GraphValueJson[];
  /** value names (or { name, dtype, dims }, checked against shape inference) */
  outputs: Array<string | GraphValueJson>;
  /** small constants written inline (absent: none) */
  consts?: InlineConstJson[];
  /** topologically sorted: every input is a graph input, a constant or an earlier node's output */
  nodes: GraphNodeJson[];
}

export interface QuantJson {
  scheme?: 'symmetric';
  axis: number;
  scale: string;
  /**
   * whether every stored int8 value lies in [−64, 63] (written since issue 17, absent in older
   * files): such a layer may run on the relaxed-SIMD kernel exactly (assembly/int8/relaxed.ts)
   */
  i7?: boolean;
  /**
   * axis-0 weights, viewed as (dims[0], K) row-major: the number of non-empty aligned column
   * pairs (2j, 2j + 1) over all rows (written since issue 17, absent in older files and for other
   * axes): what the int8 engine's pair-block sparse kernel costs, known without decoding
   */
  pairs?: number;
}

/**
 * Non-empty aligned column pairs (2j, 2j + 1) of q viewed as (rows, K) row-major, summed over the
 * rows: csrPairCount (src/kernels/int8_ref.ts) of the same matrix, from the dense values.
 */
export function densePairCount(q: Int8Array, rows: number): number {
  const K = q.length / rows;
  let E = 0;
  for (let r = 0; r < rows; r++) for (let j = 0; j < K; j += 2) if (q[r * K + j] !== 0 || (j + 1 < K && q[r * K + j + 1] !== 0)) E++;
  return E;
}

/** True when every value of q lies in [−64, 63] (the exact domain of the relaxed-SIMD dot product's weights). */
export function fitsInt7(q: Int8Array): boolean {
  for (let i = 0; i < q.length; i++) if (q[i]! < -64 || q[i]! > 63) return false;
  return true;
}

/** An int8 weight replacing a float32 constant: q · scales[c] along `axis` gives the weight. */
export interface QuantizedWeight {
  q: Int8Array;
  /** float32, length dims[axis] */
  scales: Float32Array;
  axis: number;
}

/** How the graph is written (graphToJson, graphTensors, writeGraphContainer). */
export interface GraphJsonOptions {
  /** float32 weights replaced by int8 + per-channel scales (never inline) */
  quantized?: ReadonlyMap<string, QuantizedWeight>;
  /**
   * Value names to keep. Graph inputs, graph outputs and constants stored as sections always keep
   * theirs; every other value (node outputs, inline constants) is written unnamed (a reader
   * names it `%<index>`) unless listed here. Metadata that names values (activation ranges, ...)
   * must list them here.
   */
  keepNames?: Iterable<string>;
  /** write node names (default false: a reader names node k `#k`) */
  nodeNames?: boolean;
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
  if (t.dtype === 'int64') {
    for (const v of t.data as BigInt64Array) data.push(v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v.toString());
  } else if (t.dtype === 'float32') {
    for (const v of t.data as Float32Array) data.push(Number.isFinite(v) && !Object.is(v, -0) ? v : Object.is(v, -0) ? '-0' : String(v));
  } else for (const v of t.data as Int32Array | Int8Array | Uint8Array) data.push(v);
  return { dtype: t.dtype, dims: [...t.dims], data };
}

function attrJson(v: AttrValue, nodeNames: boolean): AttrJson {
  if (typeof v === 'number') return numberJson(v);
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return (v as Array<number | string>).map((x) => (typeof x === 'number' ? numberJson(x) : x));
  if (isGraphAttr(v)) return { graph: subgraphJson(v, nodeNames) };
  return { tensor: inlineTensor(v) };
}

/** The attributes of a node as written (ONNX defaults left out). */
function attrsJson(node: Node, nodeNames: boolean): Record<string, AttrJson> | undefined {
  const attrs = Object.entries(node.attrs).filter(([k, a]) => !isDefaultAttr(node.op, node.domain, k, a));
  return attrs.length ? Object.fromEntries(attrs.map(([k, a]) => [k, attrJson(a, nodeNames)])) : undefined;
}

/** A subgraph as JSON (SubgraphJson): names throughout, constants inline. */
function subgraphJson(g: Graph, nodeNames: boolean): SubgraphJson {
  const consts: InlineConstJson[] = [];
  for (const [name, v] of g.values) if (v.const) consts.push({ name, ...inlineTensor(v.const) });
  const nodes = g.nodes.map((node): GraphNodeJson => {
    const attrs = attrsJson(node, nodeNames);
    return {
      op: node.op,
      ...(nodeNames ? { name: node.name } : {}),
      ...(node.domain ? { domain: node.domain } : {}),
      ...(node.inputs.length ? { in: [...node.inputs] } : {}),
      out: [...node.outputs],
      ...(attrs ? { attrs } : {}),
    };
  });
  return {
    ...(g.name ? { name: g.name } : {}),
    inputs: [...g.inputs],
    ...(g.outer?.length ? { outer: [...g.outer] } : {}),
    ...(consts.length ? { consts } : {}),
    nodes,
    outputs: [...g.outputs],
  };
}

/** ONNX defaults of the attributes that are left out when equal ('ones'/'zeros': an int list of all 1 / all 0). */
const ATTR_DEFAULTS: Record<string, Record<string, number | string>> = {
  Conv: { auto_pad: 'NOTSET', group: 1, dilations: 'ones', strides: 'ones', pads: 'zeros' },
  ConvTranspose: { auto_pad: 'NOTSET', group: 1, dilations: 'ones', strides: 'ones', pads: 'zeros', output_padding: 'zeros' },
  MaxPool: { auto_pad: 'NOTSET', ceil_mode: 0, dilations: 'ones', strides: 'ones', pads: 'zeros', storage_order: 0 },
  AveragePool: { auto_pad: 'NOTSET', ceil_mode: 0, count_include_pad: 0, dilations: 'ones', strides: 'ones', pads: 'zeros' },
  Gemm: { alpha: 1, beta: 1, transA: 0, transB: 0 },
  Flatten: { axis: 1 },
  Pad: { mode: 'constant' },
};

function isDefaultAttr(op: string, domain: string, key: string, v: AttrValue): boolean {
  const d = domain === '' ? ATTR_DEFAULTS[op]?.[key] : undefined;
  if (d === undefined) return false;
  if (d === 'ones' || d === 'zeros') return Array.isArray(v) && v.every((x) => x === (d === 'ones' ? 1 : 0));
  return v === d;
}

/** Whether a constant is written inline in the graph JSON: integer/bool tensors of ≤ 64 elements, float32 scalars. */
function isInlineConst(t: Tensor): boolean {
  const n = t.data.length;
  return t.dtype === 'float32' ? n <= 1 : n <= 64;
}

/** The graph's constants split into those written inline and those stored as sections (both in first-use order). */
export function constantLayout(
  graph: Graph,
  quantized: ReadonlyMap<string, unknown> = new Map(),
): { inline: string[]; sections: string[] } {
  const inline: string[] = [],
    sections: string[] = [];
  for (const n of constantOrder(graph)) (!quantized.has(n) && isInlineConst(graph.values.get(n)!.const!) ? inline : sections).push(n);
  return { inline, sections };
}

/** The graph as JSON (constants stored as sections are not in it: see graphTensors). */
export function graphToJson(graph: Graph, opts: GraphJsonOptions = {}): GraphJson {
  const info = (n: string): Value => {
    const v = graph.values.get(n);
    if (!v) throw new SparrowError('invalid_argument', `graph has no value named '${n}'`);
    return v;
  };
  const keep = new Set([...(opts.keepNames ?? []), ...graph.outputs]);
  const { inline, sections } = constantLayout(graph, opts.quantized);
  const index = new Map<string, number>();
  let count = 0;
  const define = (n: string): void => {
    index.set(n, count++);
  };
  graph.inputs.forEach(define);
  // inline constants; unnamed ones with equal dtype, dims and data are written once
  const consts: InlineConstJson[] = [];
  const same = new Map<string, number>();
  for (const n of inline) {
    const t = inlineTensor(info(n).const!);
    if (keep.has(n)) {
      define(n);
      consts.push({ name: n, ...t });
      continue;
    }
    const key = JSON.stringify(t);
    const k = same.get(key);
    if (k !== undefined) {
      index.set(n, k);
      continue;
    }
    same.set(key, count);
    define(n);
    consts.push(t);
  }
  sections.forEach(define);
  const nodes = graph.nodes.map((node): GraphNodeJson => {
    const ins = node.inputs.map((i) => {
      if (!i) return '';
      const k = index.get(i);
      if (k === undefined) throw new SparrowError('invalid_argument', `node '${node.name}' reads '${i}', which is not defined before it`);
      return k;
    });
    const outs = node.outputs.map((o) => {
      if (!o) return '';
      if (index.has(o)) throw new SparrowError('invalid_argument', `value '${o}' is defined twice`);
      define(o);
      return keep.has(o) ? o : null;
    });
    const attrs = attrsJson(node, opts.nodeNames === true);
    return {
      op: node.op,
      ...(opts.nodeNames ? { name: node.name } : {}),
      ...(node.domain ? { domain: node.domain } : {}),
      ...(ins.length ? { in: ins } : {}),
      ...(outs.length === 1 && outs[0] === null ? {} : { out: outs }),
      ...(attrs ? { attrs } : {}),
    };
  });
  for (const o of graph.outputs) info(o);
  return {
    schema: GRAPH_SCHEMA,
    ...(graph.name ? { name: graph.name } : {}),
    opsets: { ...graph.opsets },
    inputs: graph.inputs.map((n) => {
      const v = info(n);
      return { name: n, dtype: v.info.dtype, dims: v.info.dims ? [...v.info.dims] : null };
    }),
    outputs: [...graph.outputs],
    ...(consts.length ? { consts } : {}),
    nodes,
  };
}

/** Constant value names in first-use order: node inputs in node order, then constants that are only graph outputs. */
export function constantOrder(graph: Graph): string[] {
  const seen = new Set<string>();
  const order: string[] = [];
  const visit = (n: string): void => {
    if (n && !seen.has(n) && graph.values.get(n)?.const) {
      seen.add(n);
      order.push(n);
    }
  };
  for (const node of graph.nodes) for (const i of node.inputs) visit(i);
  for (const o of graph.outputs) visit(o);
  return order;
}

/**
 * The graph's constants stored as sections (all but the inline ones, see constantLayout), as
 * container tensors in first-use order, each named by its value: raw (float32/int64/int32/
 * int8/uint8; bool as uint8 with `valueDtype: 'bool'`), or, for the values in `quantized`,
 * the int8 weight with its `quant` followed by its float32 scales (`<value>.scale`, made unique).
 */
export function graphTensors(
  graph: Graph,
  quantized: ReadonlyMap<string, QuantizedWeight> = new Map(),
  opts: { halfFloats?: boolean } = {},
): PackTensor[] {
  // halfFloats: float32 constants and scales as binary16 (uint16 + valueDtype 'float16') when
  // every value stays finite (scales: positive normal halves; a near-dead channel's scale below 2^-14 keeps its tensor float32:
  // as subnormal halves, ResNet-20 measured 79.98 % vs 80.23 %) — half the bytes of biases and scales
  const half = (x: Float32Array, positive: boolean): Uint16Array | undefined => {
    if (!opts.halfFloats) return undefined;
    const h = halvesOf(x);
    for (let i = 0; i < x.length; i++) {
      const y = fromHalf(h[i]!);
      if (Number.isFinite(x[i]!) !== Number.isFinite(y) || (positive && !(y >= 2 ** -14))) return undefined;
    }
    return h;
  };
  const order = constantLayout(graph, quantized).sections;
  const used = new Set<string>(graph.values.keys());
  const out: PackTensor[] = [];
  for (const name of order) {
    const t = graph.values.get(name)!.const!;
    const qw = quantized.get(name);
    if (qw) {
      if (t.dtype !== 'float32')
        throw new SparrowError('invalid_argument', `constant '${name}' is ${t.dtype}; only float32 weights are quantized`);
      if (!Number.isInteger(qw.axis) || qw.axis < 0 || qw.axis >= t.dims.length)
        throw new SparrowError('invalid_argument', `constant '${name}': quantization axis ${qw.axis} is out of range for [${t.dims}]`);
      if (qw.q.length !== t.data.length || qw.scales.length !== t.dims[qw.axis]) {
        throw new SparrowError('invalid_argument', `constant '${name}': the quantized weight does not match its shape [${t.dims}]`);
      }
      let scale = `${name}.scale`;
      for (let k = 1; used.has(scale); k++) scale = `${name}.scale_${k}`;
      used.add(scale);
      const quant: QuantJson = {
        axis: qw.axis,
        scale,
        i7: fitsInt7(qw.q),
        ...(qw.axis === 0 && t.dims.length > 0 && t.dims[0]! > 0 ? { pairs: densePairCount(qw.q, t.dims[0]!) } : {}),
      };
      out.push({ name, shape: [...t.dims], data: qw.q, extra: { quant } });
      const hs = half(qw.scales, true);
      out.push(
        hs
          ? { name: scale, shape: [qw.scales.length], data: hs, extra: { valueDtype: 'float16' } }
          : { name: scale, shape: [qw.scales.length], data: qw.scales },
      );
      continue;
    }
    switch (t.dtype) {
      case 'bool':
        out.push({ name, shape: [...t.dims], data: t.data as Uint8Array, extra: { valueDtype: 'bool' } });
        break;
      case 'float32': {
        const h = half(t.data as Float32Array, false);
        out.push(
          h
            ? { name, shape: [...t.dims], data: h, extra: { valueDtype: 'float16' } }
            : { name, shape: [...t.dims], data: t.data as Float32Array },
        );
        break;
      }
      case 'int64':
      case 'int32':
      case 'int8':
      case 'uint8':
        out.push({ name, shape: [...t.dims], data: t.data as PackTensor['data'] });
        break;
      default:
        throw new SparrowError('unsupported_op', `constant '${name}' is ${t.dtype}, which .sparrow files do not store`);
    }
  }
  return out;
}

export interface WriteGraphOptions extends GraphJsonOptions {
  /** further top-level metadata fields (preprocessing, compression, ...) */
  meta?: Partial<SparrowMeta>;
  /** int8 codecs allowed (default: the Huffman family; include 4 for rANS) */
  int8Codecs?: readonly Int8CodecId[];
  /** float32 constants and int8 scales stored as float16 where they stay finite (graphTensors) */
  halfFloats?: boolean;
}

/** A complete `.sparrow` file of a graph: graph JSON, constants as sections (int8 ones entropy-coded). */
export function writeGraphContainer(graph: Graph, opts: WriteGraphOptions = {}): Uint8Array {
  const tensors = graphTensors(graph, opts.quantized, opts.halfFloats ? { halfFloats: true } : {});
  return packTensors(tensors, { ...opts.meta, graph: graphToJson(graph, opts) }, opts.int8Codecs ? { int8Codecs: opts.int8Codecs } : {})
    .bytes;
}

// ---------------------------------------------------------------------------------------------
// reading

const corrupt = (msg: string): SparrowError => new SparrowError('corrupt_metadata', `graph metadata: ${msg}`);
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const show = (x: unknown): string => {
  const s = JSON.stringify(x) ?? String(x);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
};
const isName = (x: unknown): x is string => typeof x === 'string' && x.length > 0;

/** The decoded data of a section: the typed array of its container dtype. */
export type SectionData = Int8Array | Uint8Array | Int32Array | Float32Array | BigInt64Array | Uint16Array;

/** An int8 weight as stored, for engines that compute in int8 (the graph gets its float32 dequantization). */
export interface StoredInt8 extends QuantizedWeight {
  dims: number[];
  scaleName: string;
}

/**
 * A quantized int8 weight left coded (readGraphContainer with `codedInt8`): the int8 engine
 * decodes the payload in WASM straight into its kernel layouts. The graph's float32 constant of
 * such a weight is lazy: its `data` decodes (TS reference) and dequantizes on first access.
 */
export interface CodedInt8 {
  /** container codec id (0 raw, 1 huffman, 2 rle-huffman, 3 rle-rows) */
  codec: number;
  /** the stored payload (CRC checked; a view into the file) */
  payload: Uint8Array;
  dims: number[];
  axis: number;
  scales: Float32Array;
  scaleName: string;
  /** the file's quant.i7: true = every value in [−64, 63]; undefined = not recorded (older files) */
  i7?: boolean;
  /** the file's quant.pairs (axis 0: non-empty aligned column pairs, densePairCount); undefined = not recorded */
  pairs?: number;
}

export interface DecodedGraph {
  graph: Graph;
  /** value name → its stored int8 weight and scales (the graph holds q·scale in float32) */
  int8: Map<string, StoredInt8>;
  /** value name → its coded int8 weight (only with the `coded` hook of graphFromMeta) */
  coded: Map<string, CodedInt8>;
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
  if (!VALUE_DTYPES.includes(x.dtype as TensorDType))
    throw corrupt(`${w}: dtype ${show(x.dtype)} is not one of ${VALUE_DTYPES.join(', ')}`);
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

const I64_MAX = 2n ** 63n - 1n,
  I64_MIN = -(2n ** 63n);

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
      return {
        dtype,
        dims,
        data: Float32Array.from(data, (v, i) => {
          if (typeof v === 'number') return v;
          if (v === '-0') return -0;
          if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return Number(v);
          throw bad(i);
        }),
      };
    case 'int64':
      return {
        dtype,
        dims,
        data: BigInt64Array.from(data, (v, i) => {
          if (typeof v !== 'string' && typeof v !== 'number') throw bad(i);
          if (typeof v === 'number' && !Number.isSafeInteger(v)) throw bad(i);
          if (typeof v === 'string' && !/^-?\d{1,19}$/.test(v)) throw bad(i);
          const b = BigInt(v);
          if (b > I64_MAX || b < I64_MIN) throw bad(i);
          return b;
        }),
      };
    default: {
      const [lo, hi, Arr] =
        dtype === 'int32'
          ? ([-(2 ** 31), 2 ** 31 - 1, Int32Array] as const)
          : dtype === 'int8'
            ? ([-128, 127, Int8Array] as const)
            : dtype === 'uint8'
              ? ([0, 255, Uint8Array] as const)
              : ([0, 1, Uint8Array] as const);
      const arr = new Arr(n);
      data.forEach((v, i) => {
        if (!Number.isInteger(v) || (v as number) < lo || (v as number) > hi) throw bad(i);
        arr[i] = v as number;
      });
      return { dtype, dims, data: arr };
    }
  }
}

/** Reads a subgraph attribute (`{ graph: ... }`) in the scope of a graph with these opsets. */
type SubgraphReader = (x: unknown, what: string) => Graph;

function parseAttr(x: unknown, what: string, subgraph: SubgraphReader): AttrValue {
  if (typeof x === 'number') return x;
  if (typeof x === 'string') return x;
  if (Array.isArray(x)) {
    if (x.every((e) => typeof e === 'string')) return x as string[];
    return x.map((e, i) => (typeof e === 'number' ? e : parseFloatTag(e, `${what}[${i}]`)));
  }
  if (isObj(x) && 'tensor' in x && Object.keys(x).length === 1) return parseInlineTensor(x.tensor, what);
  if (isObj(x) && 'graph' in x && Object.keys(x).length === 1) return subgraph(x.graph, what);
  return parseFloatTag(x, what);
}

function parseAttrs(x: unknown, what: string, subgraph: SubgraphReader): Attrs {
  if (!isObj(x)) throw corrupt(`${what}: attrs must be an object, got ${show(x)}`);
  const out: Record<string, AttrValue> = {};
  for (const [k, v] of Object.entries(x)) {
    if (!k || k === '__proto__') throw corrupt(`${what}: attribute name ${show(k)} is not allowed`);
    out[k] = parseAttr(v, `${what} attribute '${k}'`, subgraph);
  }
  return out;
}

/** How deep subgraphs may nest in a file (If inside Loop inside ...): a bound for hostile metadata. */
const MAX_SUBGRAPH_DEPTH = 32;

/**
 * A subgraph from its JSON (SubgraphJson): names checked (non-empty, unique in its scope,
 * defined before use), constants parsed, ops resolved at the graph's opsets, nested subgraphs
 * read recursively. Shapes are inferred later by the holding node's shape function.
 */
function parseSubgraph(x: unknown, what: string, opsets: Record<string, number>, depth: number): Graph {
  if (depth > MAX_SUBGRAPH_DEPTH) throw corrupt(`${what}: subgraphs nest deeper than ${MAX_SUBGRAPH_DEPTH}`);
  if (!isObj(x)) throw corrupt(`${what}: a subgraph must be an object, got ${show(x)}`);
  const w = `${what} (subgraph)`;
  if (x.name !== undefined && typeof x.name !== 'string') throw corrupt(`${w}: name must be a string`);
  const values = new Map<string, Value>();
  const define = (name: unknown, v: Omit<Value, 'name'>, kind: string): string => {
    if (!isName(name)) throw corrupt(`${w}: ${kind} name must be a non-empty string, got ${show(name)}`);
    if (name === '__proto__') throw corrupt(`${w}: ${kind} name ${show(name)} is not allowed`);
    if (values.has(name)) throw corrupt(`${w}: ${kind} '${name}' is defined twice (value names must be unique)`);
    values.set(name, { name, ...v });
    return name;
  };
  const placeholder = (): ValueInfo => ({ dtype: 'float32', dims: null });
  const inputs = parseNames(x.inputs, `${w} inputs`).map((n) => define(n, { info: placeholder() }, 'input'));
  const outer = (x.outer === undefined ? [] : parseNames(x.outer, `${w} outer`)).map((n) =>
    define(n, { info: placeholder() }, 'outer value'),
  );
  if (x.consts !== undefined && !Array.isArray(x.consts)) throw corrupt(`${w}: consts must be an array`);
  ((x.consts as unknown[] | undefined) ?? []).forEach((c, k) => {
    if (!isObj(c)) throw corrupt(`${w} consts[${k}] must be an object`);
    const { name, ...rest } = c;
    const t = parseInlineTensor(rest, `${w} consts[${k}]`);
    define(name, { info: { dtype: t.dtype, dims: [...t.dims] }, const: t }, 'constant');
  });
  if (!Array.isArray(x.nodes)) throw corrupt(`${w}: nodes must be an array`);
  const nodes: Node[] = [];
  const nodeNames = new Set<string>();
  x.nodes.forEach((n: unknown, k) => {
    if (!isObj(n)) throw corrupt(`${w} nodes[${k}] must be an object, got ${show(n)}`);
    if (n.name !== undefined && !isName(n.name)) throw corrupt(`${w} nodes[${k}]: name must be a non-empty string`);
    let name = (n.name as string | undefined) ?? `#${k}`;
    while (nodeNames.has(name)) name += "'";
    nodeNames.add(name);
    const nw = `${w} node '${name}'`;
    if (!isName(n.op)) throw corrupt(`${nw}: op must be a non-empty string, got ${show(n.op)}`);
    const domain = n.domain ?? '';
    if (typeof domain !== 'string' || !Object.hasOwn(opsets, domain)) throw corrupt(`${nw}: domain ${show(n.domain)} has no opset`);
    const ins = n.in === undefined ? [] : parseNames(n.in, `${nw} in`);
    for (const i of ins) if (i && !values.has(i)) throw corrupt(`${nw} (${n.op}) reads '${i}', which is not defined before it`);
    const outs = parseNames(n.out ?? [], `${nw} out`);
    const attrs = parseAttrs(n.attrs ?? {}, nw, (g, gw) => parseSubgraph(g, gw, opsets, depth + 1));
    const def = resolveOp(n.op, domain, opsets[domain]!, name);
    for (const o of outs) if (o) define(o, { info: placeholder() }, `output of node '${name}'`);
    nodes.push({ name, op: n.op, domain, opset: opsets[domain]!, inputs: ins, outputs: outs, attrs, def });
  });
  const outputs = parseNames(x.outputs, `${w} outputs`);
  for (const o of outputs) if (!values.has(o)) throw corrupt(`${w}: output '${o}' is not defined`);
  const g: Graph = { name: (x.name as string | undefined) ?? '', opsets: { ...opsets }, inputs, outputs, nodes, values };
  g.outer = outer;
  return g;
}

function parseNames(x: unknown, what: string): string[] {
  if (!Array.isArray(x) || x.some((s) => typeof s !== 'string')) throw corrupt(`${what} must be an array of strings, got ${show(x)}`);
  return x as string[];
}

/** The typed array of a section as a graph tensor's data (bool kept as Uint8Array). */
function asTensorData(d: SectionData, dtype: TensorDType, what: string): TensorData {
  const ok =
    (dtype === 'float32' && d instanceof Float32Array) ||
    (dtype === 'int64' && d instanceof BigInt64Array) ||
    (dtype === 'int32' && d instanceof Int32Array) ||
    (dtype === 'int8' && d instanceof Int8Array) ||
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
 * constants q·scale (per channel along quant.axis); `int8` keeps what was stored. Unnamed
 * values are named `%<value index>` and unnamed nodes `#<node index>` (with `'` appended
 * while such a name is taken).
 */
export function graphFromMeta(
  meta: SparrowMeta,
  section: (i: number) => SectionData,
  coded?: (i: number) => { codec: number; payload: Uint8Array } | undefined,
  decodeInt8: Int8Decode = decodeInt8Ref,
): DecodedGraph {
  const gj = meta.graph;
  if (gj === null || gj === undefined) throw corrupt('the file holds no graph (metadata.graph is absent: a weights-only container)');
  if (!isObj(gj)) throw corrupt(`must be an object, got ${show(gj)}`);
  if (!Number.isInteger(gj.schema)) throw corrupt(`schema must be an integer, got ${show(gj.schema)}`);
  if (gj.schema !== GRAPH_SCHEMA) {
    const old = gj.schema === 1 ? ' (schema 1 was a development format: compress the model again)' : '';
    throw new SparrowError(
      'unsupported_version',
      `graph metadata schema ${String(gj.schema)} is not supported (this reader knows schema ${GRAPH_SCHEMA})${old}`,
    );
  }
  if (gj.name !== undefined && typeof gj.name !== 'string') throw corrupt(`name must be a string, got ${show(gj.name)}`);
  if (!isObj(gj.opsets)) throw corrupt(`opsets must be an object, got ${show(gj.opsets)}`);
  const opsets: Record<string, number> = {};
  for (const [d, v] of Object.entries(gj.opsets)) {
    if (d === '__proto__' || !Number.isSafeInteger(v) || (v as number) < 1)
      throw corrupt(`opsets[${show(d)}] is ${show(v)}, must be a positive integer`);
    opsets[d] = v as number;
  }
  if (!Array.isArray(gj.inputs)) throw corrupt(`inputs must be an array, got ${show(gj.inputs)}`);
  if (!Array.isArray(gj.outputs) || gj.outputs.length === 0) throw corrupt(`outputs must be a non-empty array, got ${show(gj.outputs)}`);
  if (!Array.isArray(gj.nodes)) throw corrupt(`nodes must be an array, got ${show(gj.nodes)}`);
  if (gj.consts !== undefined && !Array.isArray(gj.consts)) throw corrupt(`consts must be an array, got ${show(gj.consts)}`);
  const constsJson: unknown[] = gj.consts ?? [];

  // every explicit name, so that generated names (%k) never collide with one
  const explicit = new Set<string>();
  for (const x of gj.inputs as unknown[]) if (isObj(x) && typeof x.name === 'string') explicit.add(x.name);
  for (const x of gj.outputs as unknown[]) explicit.add(typeof x === 'string' ? x : isObj(x) && typeof x.name === 'string' ? x.name : '');
  for (const x of constsJson) if (isObj(x) && typeof x.name === 'string') explicit.add(x.name);
  for (const t of meta.tensors) explicit.add(typeof t.value === 'string' ? t.value : t.name);
  for (const x of gj.nodes as unknown[])
    if (isObj(x) && Array.isArray(x.out)) for (const o of x.out) if (typeof o === 'string') explicit.add(o);
  const fresh = (prefix: string, k: number, taken: ReadonlySet<string>): string => {
    let n = `${prefix}${k}`;
    while (taken.has(n)) n += "'";
    return n;
  };

  const values = new Map<string, Value>();
  const byIndex: string[] = [];
  const define = (name: string, v: Value, what: string): void => {
    if (values.has(name)) throw corrupt(`${what} '${name}' is defined twice (value names must be unique)`);
    values.set(name, v);
    byIndex.push(name);
  };

  // 1. graph inputs
  const inputs: string[] = [];
  gj.inputs.forEach((x: unknown, k) => {
    const v = parseValueInfo(x, `inputs[${k}]`);
    define(v.name, { name: v.name, info: { dtype: v.dtype, dims: v.dims } }, 'graph input');
    inputs.push(v.name);
  });

  // 2. inline constants
  constsJson.forEach((x, k) => {
    const what = `consts[${k}]`;
    if (!isObj(x)) throw corrupt(`${what} must be an object, got ${show(x)}`);
    if (x.name !== undefined && !isName(x.name)) throw corrupt(`${what}: name must be a non-empty string, got ${show(x.name)}`);
    const { name: _, ...rest } = x;
    const t = parseInlineTensor(rest, what);
    const name = (x.name as string | undefined) ?? fresh('%', byIndex.length, explicit);
    define(name, { name, info: { dtype: t.dtype, dims: [...t.dims] }, const: t }, 'constant');
  });

  // values that a node reads or the graph outputs (by index or by name): a section constant that
  // is neither is never decoded, and is dropped from the graph once the nodes are read
  const usedIndex = new Set<number>(),
    usedName = new Set<string>(outputNamesOf(gj.outputs));
  for (const x of gj.nodes as unknown[]) {
    if (!isObj(x) || !Array.isArray(x.in)) continue;
    for (const r of x.in as unknown[]) {
      if (typeof r === 'number') usedIndex.add(r);
      else if (typeof r === 'string') usedName.add(r);
    }
  }
  const unused: string[] = [];

  // 3. constants stored as sections: every tensor entry but the quantization scales and `value: null`
  const byName = new Map<string, { t: TensorMeta; i: number }>();
  meta.tensors.forEach((t, i) => byName.set(t.name, { t, i }));
  const scaleOf = new Map<number, { t: TensorMeta; i: number }>();
  const scaleNames = new Set<string>();
  meta.tensors.forEach((t, i) => {
    if (t.quant === undefined) return;
    const q = t.quant as Record<string, unknown>;
    if (!isObj(q) || (q.scheme !== undefined && q.scheme !== 'symmetric'))
      throw corrupt(`tensor '${t.name}': quant must be { axis, scale } (scheme 'symmetric'), got ${show(t.quant)}`);
    const s = isName(q.scale) ? byName.get(q.scale) : undefined;
    if (!s) throw corrupt(`tensor '${t.name}': quant.scale ${show(q.scale)} names no tensor`);
    if (s.i === i || scaleNames.has(s.t.name)) throw corrupt(`tensor '${t.name}': scale tensor '${s.t.name}' is not its own`);
    scaleNames.add(s.t.name);
    scaleOf.set(i, s);
  });
  const int8 = new Map<string, StoredInt8>();
  const codedMap = new Map<string, CodedInt8>();
  meta.tensors.forEach((t, i) => {
    if (scaleNames.has(t.name)) {
      if (t.value !== undefined || t.quant !== undefined) throw corrupt(`scale tensor '${t.name}' is also a graph value`);
      if (t.valueDtype !== undefined && !(t.valueDtype === 'float16' && t.dtype === 'uint16'))
        throw corrupt(`scale tensor '${t.name}': valueDtype ${show(t.valueDtype)} (${t.dtype}) is not float16 stored as uint16`);
      return;
    }
    if (t.value === null) return; // not part of the graph
    if (t.value !== undefined && !isName(t.value))
      throw corrupt(`tensor '${t.name}': value must be a non-empty string or null, got ${show(t.value)}`);
    const value = (t.value as string | undefined) ?? t.name;
    const what = `constant '${value}' (tensor '${t.name}')`;
    if (!usedIndex.has(byIndex.length) && !usedName.has(value)) {
      // keeps its index (later references count it), holds no data
      define(value, { name: value, info: { dtype: 'float32', dims: [...t.shape] } }, 'constant');
      unused.push(value);
      return;
    }
    const s = scaleOf.get(i);
    const raw = s && t.dtype === 'int8' ? coded?.(i) : undefined;
    const data = raw ? new Int8Array(0) : section(i);
    if (s) {
      const axis = (t.quant as Record<string, unknown>).axis;
      if (t.dtype !== 'int8') throw corrupt(`${what}: a quantized tensor must be int8, is ${t.dtype}`);
      if (!Number.isInteger(axis) || (axis as number) < 0 || (axis as number) >= t.shape.length)
        throw corrupt(`${what}: quant.axis ${show(axis)} is out of range for shape [${t.shape}]`);
      const C = t.shape[axis as number]!;
      const halfScales = s.t.valueDtype === 'float16';
      if ((s.t.dtype !== 'float32' && !halfScales) || s.t.shape.length !== 1 || s.t.shape[0] !== C) {
        throw corrupt(`${what}: scale tensor '${s.t.name}' is ${s.t.dtype} [${s.t.shape}], expected float32 (or float16) [${C}]`);
      }
      const scales = halfScales ? floatsOfHalves(section(s.i) as Uint16Array) : (section(s.i) as Float32Array);
      for (let c = 0; c < C; c++) {
        if (!(Number.isFinite(scales[c]!) && scales[c]! > 0))
          throw corrupt(`${what}: scale ${c} is ${scales[c]}, must be finite and positive`);
      }
      const dims = [...t.shape];
      const pairs = (t.quant as Record<string, unknown>).pairs;
      if (pairs !== undefined) {
        const rows = dims[0] ?? 0,
          maxPairs = rows > 0 ? rows * Math.ceil(elementCount(dims) / rows / 2) : 0;
        if (axis !== 0 || !Number.isSafeInteger(pairs) || (pairs as number) < 0 || (pairs as number) > maxPairs)
          throw corrupt(`${what}: quant.pairs ${show(pairs)} must be an integer in [0, ${maxPairs}] on an axis-0 weight`);
      }
      if (raw) {
        const i7 = (t.quant as Record<string, unknown>).i7;
        if (i7 !== undefined && typeof i7 !== 'boolean') throw corrupt(`${what}: quant.i7 must be a boolean, got ${show(i7)}`);
        codedMap.set(value, {
          codec: raw.codec,
          payload: raw.payload,
          dims,
          axis: axis as number,
          scales,
          scaleName: s.t.name,
          ...(i7 !== undefined ? { i7 } : {}),
          ...(pairs !== undefined ? { pairs: pairs as number } : {}),
        });
        define(
          value,
          { name: value, info: { dtype: 'float32', dims }, const: lazyDequantized(raw, dims, scales, axis as number, decodeInt8) },
          'constant',
        );
        return;
      }
      const qd = data as Int8Array;
      int8.set(value, { q: qd, scales, axis: axis as number, dims, scaleName: s.t.name });
      define(
        value,
        {
          name: value,
          info: { dtype: 'float32', dims },
          const: { dtype: 'float32', dims, data: dequantize(qd, scales, dims, axis as number) },
        },
        'constant',
      );
      return;
    }
    let dtype: TensorDType;
    let values = data;
    if (t.valueDtype === 'float16') {
      if (t.dtype !== 'uint16') throw corrupt(`${what}: a float16 constant is stored as uint16, not ${t.dtype}`);
      dtype = 'float32';
      values = floatsOfHalves(data as Uint16Array);
    } else if (t.valueDtype === 'bool') {
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
    define(
      value,
      { name: value, info: { dtype, dims: [...dims] }, const: { dtype, dims, data: asTensorData(values, dtype, what) } },
      'constant',
    );
  });

  // 4. nodes
  const nodes: Node[] = [];
  const nodeNames = new Set<string>();
  const explicitNodeNames = new Set<string>();
  for (const x of gj.nodes as unknown[]) if (isObj(x) && typeof x.name === 'string') explicitNodeNames.add(x.name);
  gj.nodes.forEach((x: unknown, k) => {
    if (!isObj(x)) throw corrupt(`nodes[${k}] must be an object, got ${show(x)}`);
    if (x.name !== undefined && !isName(x.name)) throw corrupt(`nodes[${k}]: name must be a non-empty string, got ${show(x.name)}`);
    const name = (x.name as string | undefined) ?? fresh('#', k, explicitNodeNames);
    const w = `node '${name}'`;
    if (nodeNames.has(name)) throw corrupt(`${w}: node names must be unique`);
    nodeNames.add(name);
    if (!isName(x.op)) throw corrupt(`${w}: op must be a non-empty string, got ${show(x.op)}`);
    const domain = x.domain ?? '';
    if (typeof domain !== 'string') throw corrupt(`${w}: domain must be a string, got ${show(x.domain)}`);
    if (!Object.hasOwn(opsets, domain)) throw corrupt(`${w}: domain '${domain}' has no opset in the graph's opsets ${show(opsets)}`);
    const opset = opsets[domain]!;
    const refs = x.in === undefined ? [] : x.in;
    if (!Array.isArray(refs)) throw corrupt(`${w}: in must be an array, got ${show(x.in)}`);
    const nodeInputs = refs.map((r: unknown) => {
      if (r === '') return '';
      if (typeof r === 'string') {
        if (!values.has(r)) throw corrupt(`${w} (${x.op}) reads '${r}', which no graph input, constant or earlier node provides`);
        return r;
      }
      if (!Number.isSafeInteger(r) || (r as number) < 0 || (r as number) >= byIndex.length) {
        throw corrupt(
          `${w} (${x.op}) reads value ${show(r)}, which no graph input, constant or earlier node provides (${byIndex.length} defined so far)`,
        );
      }
      return byIndex[r as number]!;
    });
    const outs = x.out === undefined ? [null] : x.out;
    if (!Array.isArray(outs) || outs.some((o) => o !== null && typeof o !== 'string'))
      throw corrupt(`${w}: out must be an array of names, '' or null, got ${show(x.out)}`);
    const attrs = parseAttrs(x.attrs ?? {}, w, (g, gw) => parseSubgraph(g, gw, opsets, 1));
    const def = resolveOp(x.op, domain, opset, name); // unsupported_op names op, opset and node
    const outputs = outs.map((o: string | null) => {
      if (o === '') return '';
      const n = o ?? fresh('%', byIndex.length, explicit);
      define(n, { name: n, info: { dtype: 'float32', dims: null } }, `${w} output`);
      return n;
    });
    nodes.push({ name, op: x.op, domain, opset, inputs: nodeInputs, outputs, attrs, def });
  });

  // 5. graph outputs: names, or { name, dtype, dims } checked against shape inference
  const declared = gj.outputs.map((x: unknown, k) => (typeof x === 'string' ? x : parseValueInfo(x, `outputs[${k}]`)));
  const outputNames = declared.map((o) => (typeof o === 'string' ? o : o.name));
  for (const o of outputNames) if (!values.has(o)) throw corrupt(`graph output ${show(o)} is not produced by any node, input or constant`);

  for (const u of unused) values.delete(u);
  const graph: Graph = { name: (gj.name as string | undefined) ?? '', opsets, inputs, outputs: outputNames, nodes, values };
  try {
    inferShapes(graph);
  } catch (e) {
    if (e instanceof SparrowError && (e.code === 'invalid_model' || e.code === 'internal' || e.code === 'invalid_argument')) {
      throw corrupt(`shapes are inconsistent: ${e.message}`);
    }
    throw e;
  }
  checkLayerShapes(graph);
  for (const o of declared) {
    if (typeof o === 'string') continue;
    const got = values.get(o.name)!.info;
    if (!compatible(got, o)) {
      throw corrupt(`graph output '${o.name}' is declared ${fmt(o)} but the graph computes ${fmt(got)}`);
    }
  }
  return { graph, int8, coded: codedMap };
}

/** The names graph JSON `outputs` gives (strings or { name }), skipping malformed entries (checked later). */
function outputNamesOf(outputs: unknown[]): string[] {
  return outputs.flatMap((x) => (typeof x === 'string' ? [x] : isObj(x) && typeof x.name === 'string' ? [x.name] : []));
}

/**
 * A float32 constant q·scale whose data is decoded (by `decode`: the runtime's WASM decoder, or
 * the TS reference) and dequantized on first access; the getter then replaces itself with the
 * data (so `isPendingData` tells whether a tensor's data exists yet without making it).
 */
function lazyDequantized(
  raw: { codec: number; payload: Uint8Array },
  dims: number[],
  scales: Float32Array,
  axis: number,
  decode: Int8Decode,
): Tensor {
  const n = elementCount(dims);
  const t = { dtype: 'float32', dims } as Tensor;
  Object.defineProperty(t, 'data', {
    enumerable: true,
    configurable: true,
    get: () => {
      const data = dequantize(decode(raw.codec, raw.payload, n), scales, dims, axis);
      Object.defineProperty(t, 'data', { value: data, enumerable: true, configurable: true, writable: true });
      return data;
    },
  });
  return t;
}

/** Whether a constant's data is still to be made on first access (a lazy int8 weight not read yet). */
export function isPendingData(t: Tensor): boolean {
  return typeof Object.getOwnPropertyDescriptor(t, 'data')?.get === 'function';
}

/**
 * What the shape functions leave unchecked for the weight layers: Conv's input channels against
 * its weight (C = Cin/group · group) and bias ([M]); Gemm's inner dimensions and bias length.
 */
function checkLayerShapes(graph: Graph): void {
  const dims = (n: string | undefined): number[] | null => (n ? (graph.values.get(n)?.info.dims ?? null) : null);
  const known = (d: number | undefined): d is number => d !== undefined && d >= 0;
  for (const n of graph.nodes) {
    if (n.domain !== '') continue;
    const X = dims(n.inputs[0]),
      W = dims(n.inputs[1]),
      B = dims(n.inputs[2]);
    if (n.op === 'Conv' && X && W) {
      const group = typeof n.attrs['group'] === 'number' ? n.attrs['group'] : 1;
      if (W.length !== X.length) throw corrupt(`node '${n.name}' (Conv): weight [${W}] and input [${X}] differ in rank`);
      if (known(X[1]) && known(W[1]) && X[1] !== W[1] * group) {
        throw corrupt(`node '${n.name}' (Conv): input has ${X[1]} channels, weight [${W}] with group ${group} expects ${W[1] * group}`);
      }
      if (B && known(W[0]) && (B.length !== 1 || (known(B[0]) && B[0] !== W[0])))
        throw corrupt(`node '${n.name}' (Conv): bias [${B}] must be [${W[0]}]`);
    }
    if (n.op === 'Gemm' && X && W && X.length === 2 && W.length === 2) {
      const K = n.attrs['transA'] === 1 ? X[0] : X[1],
        K2 = n.attrs['transB'] === 1 ? W[1] : W[0];
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

/**
 * Section i of a container as its typed array (int8 sections decoded by `decodeInt8`, default the
 * TS reference; raw ones copied, hence aligned).
 */
export function sectionData(
  dtype: DType,
  codec: number,
  payload: Uint8Array,
  decodedBytes: number,
  decodeInt8: Int8Decode = decodeInt8Ref,
): SectionData {
  if (dtype === DType.Int8) return decodeInt8(codec, payload, decodedBytes);
  // a copy (Uint8Array.prototype.slice: Node's Buffer#slice would return a view into its pool)
  const buf = Uint8Array.prototype.slice.call(payload).buffer;
  switch (dtype) {
    case DType.Uint8:
      return new Uint8Array(buf);
    case DType.Int32:
      return new Int32Array(buf);
    case DType.Float32:
      return new Float32Array(buf);
    case DType.Int64:
      return new BigInt64Array(buf);
    case DType.Uint16:
      return new Uint16Array(buf);
    default:
      throw new SparrowError('corrupt_header', `unknown dtype byte ${String(dtype)}`);
  }
}

/**
 * Reads a `.sparrow` file with a graph: every CRC and stream is checked, the sections decoded,
 * the graph validated and rebuilt (quantized weights dequantized to float32).
 */
export function readGraphContainer(
  bytes: Uint8Array,
  opts: ReadOptions & { codedInt8?: boolean; decodeInt8?: Int8Decode } = {},
): DecodedGraph & { meta: SparrowMeta } {
  const { header, payload } = readContainer(bytes, opts);
  const cache = new Map<number, SectionData>();
  const section = (i: number): SectionData => {
    let d = cache.get(i);
    if (!d) {
      const s = header.sections[i]!;
      d = sectionData(s.dtype, s.codec, payload(i), s.decodedBytes, opts.decodeInt8);
      cache.set(i, d);
    }
    return d;
  };
  const coded = opts.codedInt8 ? (i: number) => ({ codec: header.sections[i]!.codec, payload: payload(i) }) : undefined;
  return { ...graphFromMeta(header.meta, section, coded, opts.decodeInt8), meta: header.meta };
}
