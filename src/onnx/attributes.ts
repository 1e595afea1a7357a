// ONNX AttributeProto / TensorProto / TypeProto → the IR's Attrs, Tensor and ValueInfo: the one
// place that converts decoded ONNX messages into IR values (the importer, the conformance runner
// and the backend tests). The data type codes themselves are op vocabulary (Cast's `to`) and live
// in src/ops/dtypes.ts, re-exported here.
// Plain TS (browser / Worker safe), and no runtime import of onnx-proto (types only, int64 helpers
// from fields.ts): the Worker and browser bundles must stay free of protobufjs (npm run build:demo
// checks it).
import { SparrowError } from '../errors.js';
import type { AttrValue, Attrs, Tensor, TensorDType, ValueInfo } from '../ops/types.js';
import { int64ToBigInt, type onnx } from './fields.js';
import { tensorFromProto } from './initializers.js';
import { dtypeFromCode, dtypeName } from '../ops/dtypes.js';

export { dtypeFromCode, dtypeFromOnnx, dtypeName, onnxDtypeCode } from '../ops/dtypes.js';

/**
 * onnx.AttributeProto.AttributeType as plain numbers (the enum of onnx.proto; reading it from
 * onnx-proto would load protobufjs). test/onnx.dedupe.test.ts checks it against onnx-proto.
 */
export const ATTRIBUTE_TYPE = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  SPARSE_TENSOR: 11,
  TYPE_PROTO: 13,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSORS: 12,
  TYPE_PROTOS: 14,
} as const;
const AT = ATTRIBUTE_TYPE;

/**
 * A TensorProto as an IR Tensor of any IR dtype (src/ops/types.ts; float16/bfloat16 as bit
 * patterns, converted by the importer, not here). Data is always a fresh, aligned typed array.
 * Throws SparrowError('unsupported_op') for other data types (string, complex, float8, int4...)
 * and external data, SparrowError('invalid_model') for inconsistent sizes.
 */
export function tensorFromOnnx(t: onnx.ITensorProto, what = `tensor '${t.name ?? ''}'`): Tensor {
  const code = t.dataType ?? 0;
  if (code === 9) return boolTensor(t, what);
  dtypeFromCode(code, what); // reject STRING, FLOAT8E4M3FN, INT4... with the IR's list of dtypes
  const o = tensorFromProto(t);
  return { dtype: o.dtype as TensorDType, dims: o.dims, data: o.data as Tensor['data'] };
}

function boolTensor(t: onnx.ITensorProto, what: string): Tensor {
  if (t.dataLocation === 1 || (t.externalData?.length ?? 0) > 0) {
    throw new SparrowError('unsupported_op', `${what} stores its data externally, which Sparrow does not read`);
  }
  const dims = (t.dims ?? []).map((d) => {
    const v = Number(int64ToBigInt(d, `dimension of ${what}`));
    if (!Number.isSafeInteger(v) || v < 0) throw new SparrowError('invalid_model', `${what} has an invalid dimension ${v}`);
    return v;
  });
  const n = dims.reduce((a, b) => a * b, 1);
  const raw = t.rawData;
  const src: ArrayLike<number> = raw && raw.length > 0 ? raw : (t.int32Data ?? []);
  if (src.length !== n) {
    throw new SparrowError('invalid_model', `${what} (bool, dims [${dims.join(', ')}]) should hold ${n} elements but holds ${src.length}`);
  }
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = src[i] ? 1 : 0;
  return { dtype: 'bool', dims, data };
}

/**
 * A value's ValueInfo from its ONNX TypeProto: elem_type → dtype; dims from dim_value,
 * dim_param or unset → -1; no shape → dims null. Non-tensor types → SparrowError('unsupported_op').
 */
export function valueInfoFromOnnx(vi: onnx.IValueInfoProto, what: string): ValueInfo {
  const tt = vi.type?.tensorType;
  if (!tt) {
    const kind = vi.type ? (Object.keys(vi.type).find((k) => k !== 'denotation') ?? 'unknown') : 'missing';
    throw new SparrowError('unsupported_op', `${what} '${vi.name ?? ''}' is not a tensor (type: ${kind}); Sparrow runs tensor graphs only`);
  }
  const dtype = dtypeFromCode(tt.elemType ?? 0, `${what} '${vi.name ?? ''}'`);
  if (!tt.shape) return { dtype, dims: null };
  const dims = (tt.shape.dim ?? []).map((d) => {
    // Decoded messages report dim_value 0 by default: trust it only when it was on the wire
    // (an own property) and no dim_param names the dimension.
    if (d.dimParam || !Object.prototype.hasOwnProperty.call(d, 'dimValue') || d.dimValue === null || d.dimValue === undefined) return -1;
    const v = Number(int64ToBigInt(d.dimValue, `dimension of ${what} '${vi.name ?? ''}'`));
    return Number.isSafeInteger(v) && v >= 0 ? v : -1;
  });
  return { dtype, dims };
}

const MAX = Number.MAX_SAFE_INTEGER;

/** An int64 attribute value as a number, saturated to ±MAX_SAFE_INTEGER (INT64_MAX "to the end" markers stay huge). */
function attrInt(v: unknown, what: string): number {
  const b = int64ToBigInt(v, what);
  return b > BigInt(MAX) ? MAX : b < BigInt(-MAX) ? -MAX : Number(b);
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** The AttributeType of an attribute, guessing from the set field when `type` is UNDEFINED (IR v1). */
function attrType(a: onnx.IAttributeProto): number {
  if (a.type) return a.type;
  if (a.g) return AT.GRAPH;
  if (a.graphs?.length) return AT.GRAPHS;
  if (a.t) return AT.TENSOR;
  if (a.tensors?.length) return AT.TENSORS;
  if (a.sparseTensor) return AT.SPARSE_TENSOR;
  if (a.floats?.length) return AT.FLOATS;
  if (a.ints?.length) return AT.INTS;
  if (a.strings?.length) return AT.STRINGS;
  if (a.s?.length) return AT.STRING;
  if (a.f) return AT.FLOAT;
  return AT.INT;
}

/** True when the attribute carries a subgraph (If/Loop/Scan bodies). */
export function isGraphAttribute(a: onnx.IAttributeProto): boolean {
  const t = attrType(a);
  return t === AT.GRAPH || t === AT.GRAPHS;
}

/**
 * The value of attribute `a` of type `type`, for the kinds ops read: INT → number (saturated,
 * attrInt), FLOAT → number, STRING → string (UTF-8), INTS / FLOATS → number[], STRINGS →
 * string[], TENSOR → Tensor (tensorFromOnnx). undefined for the others (GRAPH(S), TENSORS,
 * SPARSE_TENSOR(S), TYPE_PROTO(S)): each caller decides whether that is an error.
 */
function attrValue(a: onnx.IAttributeProto, type: number, where: string): AttrValue | undefined {
  switch (type) {
    case AT.FLOAT:
      return a.f ?? 0;
    case AT.INT:
      return attrInt(a.i ?? 0, where);
    case AT.STRING:
      return utf8.decode(a.s ?? new Uint8Array(0));
    case AT.FLOATS:
      return [...(a.floats ?? [])];
    case AT.INTS:
      return (a.ints ?? []).map((v) => attrInt(v, where));
    case AT.STRINGS:
      return (a.strings ?? []).map((s) => utf8.decode(s));
    case AT.TENSOR:
      if (!a.t) throw new SparrowError('invalid_model', `${where} has type TENSOR but no tensor`);
      return tensorFromOnnx(a.t, where);
    default:
      return undefined;
  }
}

/**
 * A node's attributes as Attrs (the importer's): the kinds of attrValue, and GRAPH attributes
 * through `subgraph` (the importer's, which builds the IR subgraph; without it a subgraph is
 * SparrowError('unsupported_op') naming the node). Lists of subgraphs, sparse tensors, tensor
 * lists and type protos → SparrowError('unsupported_op') naming the node; an attribute without a
 * name, given twice or referring to a function attribute → SparrowError('invalid_model').
 */
export function attrsFromOnnx(
  node: onnx.INodeProto,
  nodeName: string,
  subgraph?: (g: onnx.IGraphProto, attribute: string) => AttrValue,
): Attrs {
  const out: Record<string, AttrValue> = {};
  for (const a of node.attribute ?? []) {
    const name = a.name ?? '';
    const where = `attribute '${name}' of node '${nodeName}' (${node.opType ?? '?'})`;
    if (!name) throw new SparrowError('invalid_model', `node '${nodeName}' (${node.opType ?? '?'}) has an attribute without a name`);
    if (a.refAttrName)
      throw new SparrowError('invalid_model', `${where} refers to a function attribute ('${a.refAttrName}') outside a function`);
    if (Object.prototype.hasOwnProperty.call(out, name)) throw new SparrowError('invalid_model', `${where} is given twice`);
    const t = attrType(a);
    const v = attrValue(a, t, where);
    if (v !== undefined) {
      out[name] = v;
      continue;
    }
    if (t === AT.GRAPH && subgraph) {
      if (!a.g) throw new SparrowError('invalid_model', `${where} has type GRAPH but no graph`);
      out[name] = subgraph(a.g, name);
      continue;
    }
    if (t === AT.GRAPH || t === AT.GRAPHS) {
      throw new SparrowError(
        'unsupported_op',
        `node '${nodeName}' (${node.opType ?? '?'}) has a subgraph attribute '${name}'${t === AT.GRAPHS ? ' (a list of graphs)' : ''}, which Sparrow does not read here`,
        { op: node.opType ?? '', node: nodeName, attribute: name },
      );
    }
    const kind = Object.entries(AT).find(([, k]) => k === t)?.[0] ?? String(t);
    throw new SparrowError('unsupported_op', `${where} has type ${kind}, which Sparrow does not read`);
  }
  return out;
}

/**
 * A node's attributes as Attrs, leniently (the backend tests run single kernels on ONNX node
 * tests with it): the values of attrsFromOnnx, but the attributes it rejects as a whole are left
 * out (unnamed, function references, kinds no op reads; a repeated name keeps its last value).
 * A bad value (a tensor Sparrow has no dtype for, a malformed int64) still throws.
 *
 * One addition: for Split with neither a `split` nor a `num_outputs` attribute, `num_outputs` is
 * set to the node's output count, because before opset 18 the number of equal parts is the
 * number of outputs and a kernel does not see the node's outputs (the importer does the same).
 */
export function attrsFromNode(node: onnx.INodeProto): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  const where = `node "${node.name || node.opType || '?'}"`;
  for (const a of node.attribute ?? []) {
    const name = a.name ?? '';
    if (!name || a.refAttrName) continue;
    const v = attrValue(a, attrType(a), `attribute '${name}' of ${where}`);
    if (v !== undefined) out[name] = v;
  }
  if ((node.opType ?? '') === 'Split' && (node.domain ?? '') === '' && !('split' in out) && !('num_outputs' in out)) {
    out.num_outputs = (node.output ?? []).length;
  }
  return out;
}
