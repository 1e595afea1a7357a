// Models made for the Worker tests (plain TS: runs inside workerd too): `.sparrow` files edited
// at the container level (rewritten with every CRC recomputed, so that only the edit is wrong),
// and a small synthetic int8 MLP with a symbolic batch. Used by test/workers/*.workers.test.ts.
import '../../src/ops/ref/index.js';
import { readContainer, writeContainer, type SectionInput, type SparrowMeta } from '../../src/format/container.js';
import { resolveOp } from '../../src/ops/registry.js';
import { inferShapes } from '../../src/ir/passes.js';
import type { Graph, Node } from '../../src/ir/graph.js';
import { dequantize, quantizePerChannelInt8 } from '../../src/quant/int8.js';
import { writeSparrowModel } from '../../src/runtime/sparrow_model.js';
import { fromHalf, toHalf } from '../../src/format/half.js';
import type { QuantizedWeight } from '../../src/format/graph.js';
import { lcg } from './tensors.js';

/** The container's metadata and sections (copies), edited by `edit`, written again with fresh CRCs. */
export function rewrite(bytes: Uint8Array, edit: (meta: SparrowMeta, sections: SectionInput[]) => void): Uint8Array<ArrayBuffer> {
  const { header, payload } = readContainer(bytes);
  const meta = JSON.parse(JSON.stringify(header.meta)) as SparrowMeta;
  const sections: SectionInput[] = header.sections.map((s, i) => ({
    codec: s.codec,
    dtype: s.dtype,
    payload: payload(i).slice(),
    decodedBytes: s.decodedBytes,
  }));
  edit(meta, sections);
  return writeContainer(meta, sections) as Uint8Array<ArrayBuffer>;
}

/**
 * The first entropy-coded (Huffman) int8 weight section half overwritten with 0xff: the CRCs are
 * right, the stream is not (its decoder reports corrupt_stream). Returns the bytes and the tensor.
 */
export function corruptWeightStream(bytes: Uint8Array): { bytes: Uint8Array<ArrayBuffer>; tensor: string } {
  let tensor = '';
  const out = rewrite(bytes, (meta, sections) => {
    const i = sections.findIndex((s, k) => s.dtype === 0 && s.codec === 1 && meta.tensors[k]!.quant !== undefined);
    if (i < 0) throw new Error('no Huffman-coded int8 weight in this model');
    tensor = meta.tensors[i]!.name;
    const p = sections[i]!.payload;
    p.fill(0xff, p.length >> 1);
  });
  return { bytes: out, tensor };
}

/** The graph's first input re-declared with `dims` (the reader infers every shape again). */
export function redeclareInput(bytes: Uint8Array, dims: number[]): Uint8Array<ArrayBuffer> {
  return rewrite(bytes, (meta) => {
    const g = meta.graph as { inputs: Array<{ dims: number[] }> };
    g.inputs[0]!.dims = dims;
  });
}

/** Metadata fields set (or removed with undefined). */
export function withMeta(bytes: Uint8Array, fields: Record<string, unknown>): Uint8Array<ArrayBuffer> {
  return rewrite(bytes, (meta) => {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) delete meta[k];
      else meta[k] = v;
    }
  });
}

/** Graph JSON as stored (only what these edits read). */
interface GraphJsonLite {
  inputs: unknown[];
  consts?: unknown[];
  nodes: Array<{ in?: Array<number | string> }>;
}

/**
 * A constant section that no node reads, appended: `n` int8 elements coded as `payload` (a
 * 5-byte rle-huffman stream of zeros decodes to any n). The graph's value references after the
 * section constants move up by one (values are referred to by index), so the graph is unchanged.
 */
export function addUnusedConstant(bytes: Uint8Array, n: number, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  return rewrite(bytes, (meta, sections) => {
    const g = meta.graph as GraphJsonLite;
    const scales = new Set(meta.tensors.flatMap((t) => (t.quant ? [(t.quant as { scale: string }).scale] : [])));
    const sectionValues = meta.tensors.filter((t) => !scales.has(t.name) && t.value !== null).length;
    const boundary = g.inputs.length + (g.consts?.length ?? 0) + sectionValues;
    for (const node of g.nodes) if (node.in) node.in = node.in.map((r) => (typeof r === 'number' && r >= boundary ? r + 1 : r));
    meta.tensors.push({ name: 'unused_bomb', shape: [n], dtype: 'int8', section: sections.length });
    sections.push({ codec: 2, dtype: 0, payload, decodedBytes: n });
  });
}

/**
 * Variant k of a model: every quantization scale of its last quantized weight multiplied by
 * (1 + (k+1)/64). A different model (other bytes, other outputs) with the same structure.
 */
export function variant(bytes: Uint8Array, k: number): Uint8Array<ArrayBuffer> {
  return rewrite(bytes, (meta, sections) => {
    const w = meta.tensors.filter((t) => t.quant !== undefined).at(-1)!;
    const scaleName = (w.quant as { scale: string }).scale;
    const i = meta.tensors.findIndex((t) => t.name === scaleName);
    const p = sections[i]!.payload;
    const m = 1 + (k + 1) / 64;
    if ((meta.tensors[i] as { valueDtype?: string }).valueDtype === 'float16') {
      // scales stored as binary16 (compress --floats float16, the default with --target-size)
      const h = new Uint16Array(p.buffer, p.byteOffset, p.byteLength / 2);
      for (let c = 0; c < h.length; c++) h[c] = toHalf(fromHalf(h[c]!) * m);
    } else {
      const f = new Float32Array(p.buffer, p.byteOffset, p.byteLength / 4);
      for (let c = 0; c < f.length; c++) f[c] = f[c]! * m;
    }
    meta['variant'] = k;
  });
}

/**
 * A synthetic two-layer int8 MLP: x [-1, K] → Gemm(W1 [H, K], b1) → Relu → Gemm(W2 [N, H], b2)
 * → y [-1, N], weights random (seeded) and quantized per output channel, static activation
 * ranges (so a row's answer does not depend on the rest of the batch).
 */
export function syntheticMlp(seed: number, K = 256, H = 1024, N = 10, maxBatch?: number): Uint8Array<ArrayBuffer> {
  const rnd = lcg(seed);
  const opset = 13;
  const values = new Map<string, Graph['values'] extends Map<string, infer V> ? V : never>();
  const quantized = new Map<string, QuantizedWeight>();
  const weight = (name: string, rows: number, cols: number, amp: number): void => {
    const w = Float32Array.from({ length: rows * cols }, () => (rnd() * 2 - 1) * amp);
    const q = quantizePerChannelInt8(w, [rows, cols], 0);
    quantized.set(name, { q: q.q, scales: q.scales, axis: 0 });
    const data = dequantize(q.q, q.scales, [rows, cols], 0);
    values.set(name, { name, info: { dtype: 'float32', dims: [rows, cols] }, const: { dtype: 'float32', dims: [rows, cols], data } });
  };
  const bias = (name: string, n: number): void => {
    const data = Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * 0.1);
    values.set(name, { name, info: { dtype: 'float32', dims: [n] }, const: { dtype: 'float32', dims: [n], data } });
  };
  values.set('x', { name: 'x', info: { dtype: 'float32', dims: [-1, K] } });
  weight('w1', H, K, 0.08);
  bias('b1', H);
  weight('w2', N, H, 0.08);
  bias('b2', N);
  for (const v of ['h', 'r', 'y']) values.set(v, { name: v, info: { dtype: 'float32', dims: null } });
  const node = (name: string, op: string, inputs: string[], outputs: string[], attrs: Node['attrs'] = {}): Node => ({
    name,
    op,
    domain: '',
    opset,
    inputs,
    outputs,
    attrs,
    def: resolveOp(op, '', opset, name),
  });
  const graph: Graph = {
    name: `mlp-${seed}`,
    opsets: { '': opset },
    inputs: ['x'],
    outputs: ['y'],
    nodes: [
      node('fc1', 'Gemm', ['x', 'w1', 'b1'], ['h'], { transB: 1 }),
      node('relu', 'Relu', ['h'], ['r']),
      node('fc2', 'Gemm', ['r', 'w2', 'b2'], ['y'], { transB: 1 }),
    ],
    values,
  };
  inferShapes(graph);
  const ranges = { x: [-1, 1], h: [-3, 3], r: [0, 3], y: [-4, 4] };
  return writeSparrowModel(graph, {
    quantized,
    meta: { activationRanges: ranges, ...(maxBatch !== undefined ? { maxBatch } : {}) },
  }) as Uint8Array<ArrayBuffer>;
}

/**
 * A synthetic int8 conv net that takes any image size: x [dims] → Conv(3→16, 3×3, pad 1) → Relu →
 * GlobalAveragePool → Flatten → Gemm(16→10) → y. Its activations grow with the declared input.
 */
export function syntheticConvNet(seed: number, inputDims: number[]): Uint8Array<ArrayBuffer> {
  const rnd = lcg(seed);
  const opset = 13;
  const values = new Map<string, Graph['values'] extends Map<string, infer V> ? V : never>();
  const quantized = new Map<string, QuantizedWeight>();
  const constant = (name: string, dims: number[], amp: number, axis?: number): void => {
    const n = dims.reduce((a, b) => a * b, 1);
    let data: Float32Array = Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * amp);
    if (axis !== undefined) {
      const q = quantizePerChannelInt8(data, dims, axis);
      quantized.set(name, { q: q.q, scales: q.scales, axis });
      data = dequantize(q.q, q.scales, dims, axis);
    }
    values.set(name, { name, info: { dtype: 'float32', dims }, const: { dtype: 'float32', dims, data } });
  };
  values.set('x', { name: 'x', info: { dtype: 'float32', dims: inputDims } });
  constant('wc', [16, 3, 3, 3], 0.3, 0);
  constant('bc', [16], 0.1);
  constant('wf', [10, 16], 0.3, 0);
  constant('bf', [10], 0.1);
  for (const v of ['c', 'r', 'g', 'f', 'y']) values.set(v, { name: v, info: { dtype: 'float32', dims: null } });
  const node = (name: string, op: string, inputs: string[], outputs: string[], attrs: Node['attrs'] = {}): Node => ({
    name,
    op,
    domain: '',
    opset,
    inputs,
    outputs,
    attrs,
    def: resolveOp(op, '', opset, name),
  });
  const graph: Graph = {
    name: `conv-${seed}`,
    opsets: { '': opset },
    inputs: ['x'],
    outputs: ['y'],
    nodes: [
      node('conv', 'Conv', ['x', 'wc', 'bc'], ['c'], { pads: [1, 1, 1, 1] }),
      node('relu', 'Relu', ['c'], ['r']),
      node('gap', 'GlobalAveragePool', ['r'], ['g']),
      node('flat', 'Flatten', ['g'], ['f']),
      node('fc', 'Gemm', ['f', 'wf', 'bf'], ['y'], { transB: 1 }),
    ],
    values,
  };
  inferShapes(graph);
  const ranges = { x: [-1, 1], c: [-3, 3], r: [0, 3], g: [0, 3], f: [0, 3], y: [-4, 4] };
  return writeSparrowModel(graph, { quantized, meta: { activationRanges: ranges } }) as Uint8Array<ArrayBuffer>;
}
