// A graph with int8 weights and activation ranges (a `.sparrow` model) written back as a standard
// QDQ ONNX model (the form onnxruntime's quantization tools write and every ONNX runtime runs):
//
//   int8 weight W (per output channel):   W_quantized (int8 initializer), W_scale (float32 [C]),
//                                         W_zero_point (int8 [C] zeros)
//                                         → DequantizeLinear(axis) → W, read by the layer as before
//   activation x with a stored range:     x → QuantizeLinear(x_scale, x_zero_point) → x_quantized
//                                         → DequantizeLinear → x_dequantized, read by x's consumers
//                                         (a graph output keeps the float x)
//   everything else:                      the nodes, attributes and constants as they are
//
// The activation parameters are sparrow-int8's own (src/quant/int8.ts int8QuantParams: int8
// asymmetric per tensor from [min, max]), so onnxruntime's QDQ fusion computes what sparrow-int8
// computes, up to rounding. Written with src/onnx/build.ts (onnx-proto).
import { SparrowError } from '../errors.js';
import { isGraphAttr, type AttrValue, type Tensor } from '../ops/types.js';
import type { Graph } from '../ir/graph.js';
import { int8QuantParams } from '../quant/int8.js';
import { buildModelProto, type BuildAttr, type BuildNode, type BuildValue } from './build.js';
import { onnxRuntime } from './proto.js';

export interface ExportWeight {
  /** int8 values, row-major, shape `dims` */
  q: Int8Array;
  dims: number[];
  /** float32 [dims[axis]] */
  scales: Float32Array;
  axis: number;
}

export interface QdqExportInput {
  graph: Graph;
  /** value name → its int8 weight (the graph holds q·scale) */
  weights: ReadonlyMap<string, ExportWeight>;
  /** value name → [min, max] (static activation ranges); null: weights only (dynamic activations) */
  ranges: ReadonlyMap<string, readonly [number, number]> | null;
  producer?: string;
}

export interface QdqExportReport {
  bytes: Uint8Array;
  /** int8 weights written with DequantizeLinear */
  weights: number;
  /** activations with a QuantizeLinear/DequantizeLinear pair */
  activations: number;
  opset: number;
}

/**
 * ONNX attributes whose values are floats (the graph IR keeps numbers without the INT/FLOAT
 * distinction): these are written as FLOAT / FLOATS, every other number as INT / INTS.
 */
const FLOAT_ATTRS = new Set([
  'alpha',
  'beta',
  'gamma',
  'epsilon',
  'bias',
  'lambd',
  'ratio',
  'momentum',
  'spatial_scale',
  'value_float',
  'value_floats',
  'scale',
  'scales',
  'extrapolation_value',
  'cubic_coeff_a',
  'min',
  'max',
  'mean',
  'low',
  'high',
  'seed',
  'threshold',
]);

function attrOf(node: string, name: string, v: AttrValue): BuildAttr {
  if (isGraphAttr(v))
    throw new SparrowError('unsupported_op', `node '${node}': attribute '${name}' holds a subgraph, which the ONNX export does not write`);
  if (FLOAT_ATTRS.has(name)) {
    if (typeof v === 'number') return { float: v };
    if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return { floats: v as number[] };
  }
  return v as BuildAttr;
}

/** Layers whose following Relu/Clip sparrow-int8 fuses (src/runtime/engine_int8.ts). */
const FUSES_ACTIVATION = new Set(['Conv', 'Add', 'Gemm', 'MatMul']);

/** IR version for an ai.onnx opset (the ONNX versioning table). */
function irVersionFor(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 9) return 4;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

const f32 = (dims: number[], v: ArrayLike<number>): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
const i8 = (dims: number[], v: ArrayLike<number>): Tensor => ({ dtype: 'int8', dims, data: Int8Array.from(v) });

/** The QDQ ONNX model of `input` (ModelProto bytes). */
export function exportQdqOnnx(input: QdqExportInput): QdqExportReport {
  const { graph, weights } = input;
  const ranges = input.ranges ?? new Map<string, readonly [number, number]>();
  const opset = graph.opsets[''] ?? 0;
  for (const [domain, v] of Object.entries(graph.opsets))
    if (domain !== '' && domain !== 'ai.onnx' && graph.nodes.some((n) => n.domain === domain))
      throw new SparrowError('unsupported_op', `the ONNX export writes ai.onnx nodes only; the graph uses domain '${domain}' (opset ${v})`);
  if (weights.size + ranges.size > 0 && opset < 13)
    throw new SparrowError(
      'unsupported_op',
      `the QDQ export needs ai.onnx opset >= 13 (per-channel DequantizeLinear); the model is opset ${opset}`,
    );
  const used = new Set<string>(graph.values.keys());
  const fresh = (base: string): string => {
    let n = base;
    while (used.has(n)) n += "'";
    used.add(n);
    return n;
  };
  const initializers: Record<string, Tensor> = {};
  const nodes: BuildNode[] = [];
  const referenced = new Set<string>([...graph.outputs, ...graph.nodes.flatMap((n) => n.inputs)]);

  // constants: int8 weights behind DequantizeLinear, the rest as initializers
  let nWeights = 0;
  for (const [name, v] of graph.values) {
    if (!v.const || !referenced.has(name)) continue;
    const w = weights.get(name);
    if (!w) {
      initializers[name] = v.const;
      continue;
    }
    const C = w.dims[w.axis]!;
    const qn = fresh(`${name}_quantized`),
      sn = fresh(`${name}_scale`),
      zn = fresh(`${name}_zero_point`);
    initializers[qn] = { dtype: 'int8', dims: [...w.dims], data: w.q };
    initializers[sn] = f32([C], w.scales);
    initializers[zn] = i8([C], new Int8Array(C));
    nodes.push({
      op: 'DequantizeLinear',
      inputs: [qn, sn, zn],
      outputs: [name],
      name: fresh(`${name}_DequantizeLinear`),
      attrs: { axis: w.axis },
    });
    nWeights++;
  }

  // activations with ranges: x → Q → DQ, consumers read the DQ output
  const rename = new Map<string, string>();
  const qdq = (x: string): BuildNode[] => {
    const r = ranges.get(x)!;
    const p = int8QuantParams({ min: r[0], max: r[1] });
    const sn = fresh(`${x}_scale`),
      zn = fresh(`${x}_zero_point`),
      qn = fresh(`${x}_quantized`),
      dn = fresh(`${x}_dequantized`);
    initializers[sn] = f32([], [p.scale]);
    initializers[zn] = i8([], [p.zeroPoint]);
    rename.set(x, dn);
    return [
      { op: 'QuantizeLinear', inputs: [x, sn, zn], outputs: [qn], name: fresh(`${x}_QuantizeLinear`) },
      { op: 'DequantizeLinear', inputs: [qn, sn, zn], outputs: [dn], name: fresh(`${x}_DequantizeLinear`) },
    ];
  };
  const quantizable = (x: string): boolean => {
    const v = graph.values.get(x);
    return !!v && !v.const && v.info.dtype === 'float32' && ranges.has(x);
  };
  // a layer followed by Relu/Clip runs fused in sparrow-int8 (the activation is the
  // requantization's clamp): its pre-activation value is never quantized, so it gets no pair
  // (onnxruntime then removes the Relu before the next QuantizeLinear and fuses the layer too)
  const readers = new Map<string, string[]>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) readers.set(i, [...(readers.get(i) ?? []), n.op]);
  const fusedAway = new Set<string>();
  for (const n of graph.nodes) {
    if (!FUSES_ACTIVATION.has(n.op) || n.outputs.length !== 1) continue;
    const r = readers.get(n.outputs[0]!) ?? [];
    if (r.length > 0 && r.every((op) => op === 'Relu' || op === 'Clip') && !graph.outputs.includes(n.outputs[0]!))
      fusedAway.add(n.outputs[0]!);
  }
  for (const x of graph.inputs) if (quantizable(x)) nodes.push(...qdq(x));
  for (const n of graph.nodes) {
    if (n.domain !== '' && n.domain !== 'ai.onnx')
      throw new SparrowError(
        'unsupported_op',
        `node '${n.name}' (${n.domain}.${n.op}) is not an ai.onnx op; the ONNX export writes standard ops only`,
      );
    const attrs: Record<string, BuildAttr> = {};
    for (const [k, v] of Object.entries(n.attrs)) attrs[k] = attrOf(n.name, k, v);
    nodes.push({
      op: n.op,
      name: n.name,
      inputs: n.inputs.map((i) => rename.get(i) ?? i),
      outputs: [...n.outputs],
      ...(Object.keys(attrs).length ? { attrs } : {}),
    });
    for (const o of n.outputs) if (o && quantizable(o) && readers.has(o) && !fusedAway.has(o)) nodes.push(...qdq(o));
  }

  const valueOf = (name: string): BuildValue => {
    const info = graph.values.get(name)!.info;
    return { name, dtype: info.dtype, dims: info.dims ? info.dims.map((d, i) => (d >= 0 ? d : i === 0 ? 'N' : `d${i}`)) : null };
  };
  const proto = buildModelProto({
    nodes,
    inputs: graph.inputs.map(valueOf),
    outputs: graph.outputs.map(valueOf),
    initializers,
    opsets: { ...graph.opsets, '': Math.max(opset, weights.size + ranges.size > 0 ? 13 : opset) },
    irVersion: irVersionFor(opset),
  });
  proto.producerName = input.producer ?? 'sparrow';
  if (proto.graph) proto.graph.name = graph.name || 'sparrow';
  return {
    bytes: onnxRuntime.ModelProto.encode(proto).finish(),
    weights: nWeights,
    activations: rename.size,
    opset,
  };
}
