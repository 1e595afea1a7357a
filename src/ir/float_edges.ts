// "Computed in float32, converted at the edges" (src/ops/types.ts): the import-time rewrite
// that keeps float64, float16 and bfloat16 out of every kernel but Cast.
//
//   constants     a float64/float16/bfloat16 constant becomes a float32 constant (float16 and
//                 bfloat16 exactly, float64 rounded to nearest even); so does a tensor attribute
//                 (ConstantOfShape's value); a `dtype` attribute naming one of these types
//                 (EyeLike, RandomNormal..., DequantizeLinear's output_dtype) names FLOAT instead.
//   graph inputs  x: float16 [N,3]  →  Cast(x, to=FLOAT) → x_float32, read by every node that
//                 read x except Cast nodes, which read x itself (Cast converts any pair exactly,
//                 and reading x directly keeps float64 → float16 a single rounding).
//   inner Casts   Cast(a, to=FLOAT16) → b  keeps writing float16 b; b's readers get
//                 Cast(b, to=FLOAT) → b_float32, as for a graph input: together the float32
//                 value rounded to float16 (value-exact emulation of the float16 type).
//                 Cast(a, to=DOUBLE) → b becomes Cast(a, to=FLOAT) (float32 arithmetic), unless
//                 b is a graph output.
//   graph outputs y declared float16 and computed in float32: the producer writes y_float32,
//                 Cast(y_float32, to=FLOAT16) → y.
//   CastLike      (after shape inference, roundCastLikes) CastLike(x, t) where t holds values of
//                 a float16/bfloat16 tensor of the model (t's "origin", followed from the
//                 constants, inputs and Casts through every node whose float32 output takes the
//                 type of its first float input) becomes Cast(x, to=FLOAT16) → Cast(to=FLOAT).
//
// Graph inputs and outputs keep their declared dtypes (Session.inputInfo / outputInfo).
import { SparrowError } from '../errors.js';
import { hasOp, resolveOp } from '../ops/registry.js';
import { isEdgeDtype, isGraphAttr, type AttrValue, type Tensor, type TensorDType } from '../ops/types.js';
import { onnxDtypeCode, dtypeFromOnnx } from '../ops/dtypes.js';
import { bfloat16ArrayToFloat32, float16ArrayToFloat32 } from '../ops/float16.js';
import { freshName, topoSort, type Graph, type Node } from './graph.js';

const FLOAT_CODE = 1;

/** Ops with an attribute naming their (float) output type: op → attribute. */
const DTYPE_ATTRS: Readonly<Record<string, string>> = {
  EyeLike: 'dtype',
  RandomNormal: 'dtype',
  RandomUniform: 'dtype',
  RandomNormalLike: 'dtype',
  RandomUniformLike: 'dtype',
  Bernoulli: 'dtype',
  DequantizeLinear: 'output_dtype',
};

/** A float64/float16/bfloat16 tensor as the float32 tensor of its values (float64 rounded once). */
export function edgeTensorToFloat32(t: Tensor): Tensor {
  let data: Float32Array;
  switch (t.dtype) {
    case 'float16':
      data = float16ArrayToFloat32(t.data as Uint16Array);
      break;
    case 'bfloat16':
      data = bfloat16ArrayToFloat32(t.data as Uint16Array);
      break;
    case 'float64':
      data = Float32Array.from(t.data as Float64Array);
      break;
    default:
      return t;
  }
  return { dtype: 'float32', dims: [...t.dims], data };
}

/** What lowerFloatEdges leaves for roundCastLikes: the model dtype of values the graph now holds as float32. */
export interface FloatEdges {
  origin: Map<string, TensorDType>;
  /** number of Cast nodes added at inputs, outputs and behind inner float16/bfloat16 Casts */
  castsAdded: number;
}

function isTensor(a: AttrValue): a is Tensor {
  return typeof a === 'object' && !Array.isArray(a) && !isGraphAttr(a);
}

/** Cast(from, to=code) → to, named uniquely, at the model's ai.onnx opset (21 when Cast is not registered there). */
function makeCast(graph: Graph, names: Set<string>, from: string, to: string, code: number): Node {
  let name = `${to}/Cast`;
  for (let i = 1; names.has(name); i++) name = `${to}/Cast_${i}`;
  names.add(name);
  const model = graph.opsets[''];
  const opset = model !== undefined && hasOp('Cast', '', model) ? model : 21;
  return {
    name,
    op: 'Cast',
    domain: '',
    opset,
    inputs: [from],
    outputs: [to],
    attrs: { to: code },
    def: resolveOp('Cast', '', opset, name),
  };
}

/**
 * The structural part of the rewrite (header), before shape inference: constants, attributes,
 * Casts at the graph inputs, behind inner float16/bfloat16 Casts and in front of the graph
 * outputs of `declared` (graph output → its declared dtype); subgraphs of If/Loop/Scan too.
 * Nodes are sorted again. In place.
 */
export function lowerFloatEdges(graph: Graph, declared: ReadonlyMap<string, TensorDType>): FloatEdges {
  return lowerGraph(graph, declared, false);
}

/**
 * lowerFloatEdges for a graph or (`sub`) a subgraph of If/Loop/Scan. A subgraph has no edges of
 * its own: the values its node passes in and takes out are float32 in the lowered graph around
 * it, so its float16/bfloat16/float64 formal inputs become float32 values and its outputs are
 * read through a Cast(to=FLOAT) where they would be float16/bfloat16/float64 (a Cast to DOUBLE
 * becomes a Cast to FLOAT there); constants, attributes and inner Casts are lowered as in the
 * model's graph. (roundCastLikes does not look into subgraphs.)
 */
function lowerGraph(graph: Graph, declared: ReadonlyMap<string, TensorDType>, sub: boolean): FloatEdges {
  const origin = new Map<string, TensorDType>();
  const names = new Set(graph.nodes.map((n) => n.name));
  let castsAdded = 0;

  // constants
  for (const v of graph.values.values()) {
    if (v.const && isEdgeDtype(v.const.dtype)) {
      origin.set(v.name, v.const.dtype);
      v.const = edgeTensorToFloat32(v.const);
      v.info = { dtype: 'float32', dims: [...v.const.dims] };
    }
  }

  // graph inputs: edge-typed values (a subgraph's formal inputs are float32 values already)
  const sources: Array<[string, TensorDType]> = [];
  for (const i of graph.inputs) {
    const v = graph.values.get(i)!;
    if (!isEdgeDtype(v.info.dtype)) continue;
    if (sub) {
      origin.set(i, v.info.dtype);
      v.info = { dtype: 'float32', dims: v.info.dims ? [...v.info.dims] : null };
    } else sources.push([i, v.info.dtype]);
  }

  // attributes (subgraphs lowered in turn); Casts to an edge type
  for (const node of graph.nodes) {
    for (const a of Object.values(node.attrs)) if (isGraphAttr(a)) castsAdded += lowerGraph(a, new Map(), true).castsAdded;
    if (node.domain !== '') continue;
    let attrs: Record<string, AttrValue> | undefined;
    for (const [k, a] of Object.entries(node.attrs)) {
      if (isTensor(a) && isEdgeDtype(a.dtype)) {
        attrs ??= { ...node.attrs };
        attrs[k] = edgeTensorToFloat32(a);
        if (node.outputs[0]) origin.set(node.outputs[0], a.dtype);
      }
    }
    const attrName = DTYPE_ATTRS[node.op];
    const dt = attrName ? node.attrs[attrName] : undefined;
    if (attrName && typeof dt === 'number' && isEdgeDtype(dtypeFromOnnx(dt) ?? 'float32')) {
      attrs ??= { ...node.attrs };
      attrs[attrName] = FLOAT_CODE;
      if (node.outputs[0]) origin.set(node.outputs[0], dtypeFromOnnx(dt)!);
    }
    if (attrs) node.attrs = attrs;
    if (node.op === 'Cast' && typeof node.attrs['to'] === 'number') {
      const to = dtypeFromOnnx(node.attrs['to']);
      const y = node.outputs[0];
      if (!y || !to || !isEdgeDtype(to)) continue;
      if (to === 'float64' && (sub || !graph.outputs.includes(y))) {
        node.attrs = { ...node.attrs, to: FLOAT_CODE };
        origin.set(y, 'float64');
      } else {
        sources.push([y, to]);
      }
    }
  }

  // the readers of an edge-typed value (but Cast nodes) read its float32 conversion; so does
  // the node around a subgraph that outputs one
  const added: Node[] = [];
  for (const [s, d] of sources) {
    const readers = graph.nodes.filter((n) => n.inputs.includes(s) && !(n.op === 'Cast' && n.domain === ''));
    const isOut = sub && graph.outputs.includes(s);
    if (readers.length === 0 && !isOut) continue;
    const s32 = freshName(graph, `${s}_float32`);
    graph.values.set(s32, { name: s32, info: { dtype: 'float32', dims: null } });
    added.push(makeCast(graph, names, s, s32, FLOAT_CODE));
    for (const n of readers) n.inputs = n.inputs.map((i) => (i === s ? s32 : i));
    if (isOut) graph.outputs = graph.outputs.map((o) => (o === s ? s32 : o));
    origin.set(s32, d);
  }

  // graph outputs declared with an edge type and computed in float32
  const sourceType = new Map(sources);
  for (const [y, d] of declared) {
    if (!isEdgeDtype(d) || sourceType.get(y) === d || !graph.outputs.includes(y)) continue;
    if (graph.inputs.includes(y)) continue; // a graph input of another type: the importer's output check reports it
    const y32 = freshName(graph, `${y}_float32`);
    const v = graph.values.get(y)!;
    graph.values.set(y32, { ...v, name: y32 });
    graph.values.set(y, { name: y, info: { dtype: d, dims: v.info.dims ? [...v.info.dims] : null } });
    for (const n of graph.nodes) {
      n.outputs = n.outputs.map((o) => (o === y ? y32 : o));
      n.inputs = n.inputs.map((i) => (i === y ? y32 : i));
    }
    for (const n of added) n.inputs = n.inputs.map((i) => (i === y ? y32 : i));
    if (!origin.has(y32)) origin.set(y32, d);
    if (origin.has(y)) origin.delete(y);
    added.push(makeCast(graph, names, y32, y, onnxDtypeCode(d)));
  }
  castsAdded += added.length;
  graph.nodes.push(...added);
  topoSort(graph);
  return { origin, castsAdded };
}

/**
 * After shape inference: a CastLike whose target holds the values of a float16/bfloat16 tensor
 * of the model becomes Cast(to=that type) → Cast(to=FLOAT) (header). Returns the number rewritten.
 */
export function roundCastLikes(graph: Graph, edges: FloatEdges): number {
  const { origin } = edges;
  const names = new Set(graph.nodes.map((n) => n.name));
  const out: Node[] = [];
  let rewritten = 0;
  for (const node of graph.nodes) {
    const isStd = node.domain === '';
    if (isStd && node.op === 'Cast') {
      out.push(node);
      continue;
    }
    const f32 = (name: string): boolean => !!name && graph.values.get(name)?.info.dtype === 'float32';
    if (isStd && node.op === 'CastLike') {
      const t = origin.get(node.inputs[1] ?? '');
      const y = node.outputs[0];
      if (y && t) origin.set(y, t);
      if (y && (t === 'float16' || t === 'bfloat16') && f32(y)) {
        const mid = freshName(graph, `${y}_${t}`);
        const x = graph.values.get(node.inputs[0] ?? '');
        if (!x) throw new SparrowError('invalid_model', `CastLike node '${node.name}' has no input`);
        graph.values.set(mid, { name: mid, info: { dtype: t, dims: x.info.dims ? [...x.info.dims] : null } });
        const a = makeCast(graph, names, node.inputs[0]!, mid, onnxDtypeCode(t));
        const b = makeCast(graph, names, mid, y, FLOAT_CODE);
        out.push(a, b);
        edges.castsAdded += 2;
        rewritten++;
        continue;
      }
      out.push(node);
      continue;
    }
    const from = node.inputs.find((i) => f32(i) && origin.has(i));
    if (from) for (const o of node.outputs) if (f32(o) && !origin.has(o)) origin.set(o, origin.get(from)!);
    out.push(node);
  }
  graph.nodes = out;
  return rewritten;
}
