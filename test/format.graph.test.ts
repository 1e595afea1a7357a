// The graph inside a .sparrow file (docs/format.md "Graph metadata", src/format/graph.ts,
// schema 2): ONNX → optimized Graph → container → Graph gives the same graph and bit-identical
// outputs (float32 constants stored raw) on mnist-8 and ResNet-20; quantized weights come back
// as q·scale with the stored int8 kept; the compact JSON stays small (ResNet-20: graph < 3.5 KB,
// was 13.5 KB in schema 1); hostile graph JSON is rejected with SparrowError (corrupt_metadata,
// unsupported_op, unsupported_version), never a crash.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SparrowError, type SparrowErrorCode } from '../src/errors.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import type { Graph } from '../src/ir/graph.js';
import type { Tensor } from '../src/ops/types.js';
import { Session } from '../src/runtime/session.js';
import { readContainer, writeContainer, type SectionInput, type SparrowMeta } from '../src/format/container.js';
import {
  constantLayout,
  constantOrder,
  graphToJson,
  readGraphContainer,
  writeGraphContainer,
  GRAPH_SCHEMA,
  fitsInt7,
  densePairCount,
  type GraphJson,
  type QuantizedWeight,
} from '../src/format/graph.js';
import { writeSparrowModel } from '../src/runtime/sparrow_model.js';
import { cloneGraph } from '../src/ir/graph.js';
import { csrFromDense, csrPairCount } from '../src/kernels/int8_ref.js';
import fc from 'fast-check';

/** csrPairCount's arguments for q viewed as (rows, K) row-major. */
function csrOf(q: Int8Array, rows: number): [Uint32Array, Uint16Array, number] {
  const c = csrFromDense(q, rows, q.length / rows);
  return [c.rowPtr, c.col, rows];
}
import { packOnnxWeights } from '../src/compress/pack.js';
import { dequantize, quantizePerChannelInt8 } from '../src/quant/int8.js';
import { weightLayers } from '../src/compress/compress.js';
import { lcg } from './helpers/tensors.js';
import '../src/ops/ref/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODELS = { mnist: join(ROOT, 'examples/models/mnist-8.onnx'), resnet: join(ROOT, 'examples/models/resnet20-cifar10.onnx') };

function optimized(path: string): Graph {
  const g = importOnnx(new Uint8Array(readFileSync(path)));
  optimize(g);
  return g;
}

function randomInput(g: Graph, batch: number, seed: number): Tensor {
  const dims = g.values.get(g.inputs[0]!)!.info.dims!.map((d) => (d < 0 ? batch : d));
  const rnd = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => rnd() * 2 - 1) };
}

function bits(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function errorOf(fn: () => unknown): SparrowError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof SparrowError)) throw new Error(`expected a SparrowError, got ${(e as Error)?.stack ?? String(e)}`);
    return e;
  }
  throw new Error('expected a SparrowError, nothing was thrown');
}

describe.each([
  ['mnist-8', MODELS.mnist, 1],
  ['ResNet-20', MODELS.resnet, 3],
] as const)('graph round trip: %s', (_, path, batch) => {
  const g = optimized(path);
  const bytes = writeGraphContainer(g);
  const back = readGraphContainer(bytes);

  it('stores the optimized graph and its constants in first-use order', () => {
    expect(back.meta.graph).toMatchObject({ schema: GRAPH_SCHEMA });
    expect(graphToJson(back.graph)).toEqual(graphToJson(g));
    const { inline, sections } = constantLayout(g);
    expect([...inline, ...sections].sort()).toEqual(constantOrder(g).sort());
    // constants stored as sections keep their names; tensor entries carry no `value` (it is the name)
    expect(back.meta.tensors.map((t) => t.name)).toEqual(sections);
    expect(back.meta.tensors.map((t) => t.section)).toEqual(sections.map((_, i) => i));
    expect(back.meta.tensors.every((t) => t.value === undefined)).toBe(true);
    for (const name of sections) {
      const a = g.values.get(name)!.const!,
        b = back.graph.values.get(name)!.const!;
      expect(b.dtype, name).toBe(a.dtype);
      expect(b.dims, name).toEqual(a.dims);
      expect(Buffer.from(bits(b)).equals(Buffer.from(bits(a))), name).toBe(true);
    }
    // inline constants: small integer tensors and float32 scalars, data in the JSON
    for (const name of inline) {
      const t = g.values.get(name)!.const!;
      expect(t.dtype === 'float32' ? t.data.length <= 1 : t.data.length <= 64, name).toBe(true);
    }
    // graph inputs and outputs keep their names; internal values are generated (%k), nodes #k
    expect(back.graph.inputs).toEqual(g.inputs);
    expect(back.graph.outputs).toEqual(g.outputs);
    back.graph.nodes.forEach((n, k) => {
      expect(n.name).toBe(`#${k}`);
      for (const o of n.outputs) if (!g.outputs.includes(o)) expect(o).toMatch(/^%\d+$/);
    });
    // BatchNorm is folded: no BN node, and the optimizer finds nothing left to do
    expect(back.graph.nodes.some((n) => n.op === 'BatchNormalization')).toBe(false);
    expect(back.int8.size).toBe(0);
  });

  it('writes no default attributes, node opsets, names or output dims', () => {
    const j = back.meta.graph as GraphJson;
    for (const n of j.nodes) {
      expect(
        Object.keys(n).every((k) => ['op', 'in', 'out', 'attrs'].includes(k)),
        JSON.stringify(n),
      ).toBe(true);
      for (const k of ['group', 'dilations', 'transA', 'alpha', 'beta', 'ceil_mode', 'count_include_pad'])
        expect(n.attrs?.[k], k).toBeUndefined();
    }
    expect(j.outputs.every((o) => typeof o === 'string')).toBe(true);
  });

  it.each(['reference', 'sparrow-f32'] as const)('gives bit-identical outputs (%s)', async (engine) => {
    const x = randomInput(g, batch, 7);
    const input = g.inputs[0]!,
      output = g.outputs[0]!;
    const want = (await Session.fromGraph(g, { engine }).run({ [input]: x }))[output]!;
    const fromGraph = (await Session.fromGraph(back.graph, { engine }).run({ [input]: x }))[output]!;
    const fromFile = await Session.fromSparrow(bytes, { engine });
    expect(fromFile.engine).toBe(engine);
    const got = (await fromFile.run({ [input]: x }))[output]!;
    expect(fromGraph.dims).toEqual(want.dims);
    expect(Buffer.from(bits(fromGraph)).equals(Buffer.from(bits(want)))).toBe(true);
    expect(Buffer.from(bits(got)).equals(Buffer.from(bits(want)))).toBe(true);
  });
});

describe('quantized weights', () => {
  const g = optimized(MODELS.mnist);
  const quantized = new Map<string, QuantizedWeight>();
  for (const L of weightLayers(g)) {
    const w = g.values.get(L.value)!.const!.data as Float32Array;
    const { q, scales } = quantizePerChannelInt8(w, L.dims, L.axis);
    quantized.set(L.value, { q, scales, axis: L.axis });
  }
  const bytes = writeGraphContainer(g, { quantized });
  const back = readGraphContainer(bytes);

  it('quant.i7 says whether every value lies in [−64, 63] (the relaxed-SIMD kernel): false for 8-bit, true for 7-bit weights', () => {
    expect([...quantized.values()].map((qw) => fitsInt7(qw.q))).toContain(false);
    const q7 = new Map<string, QuantizedWeight>();
    for (const [name, qw] of quantized) {
      const w = g.values.get(name)!.const!;
      const r = quantizePerChannelInt8(w.data as Float32Array, [...w.dims], qw.axis, 63);
      q7.set(name, { q: r.q, scales: r.scales, axis: qw.axis });
      expect(fitsInt7(r.q)).toBe(true);
    }
    const meta = readGraphContainer(writeGraphContainer(g, { quantized: q7 })).meta;
    for (const name of q7.keys()) expect(meta.tensors.find((t) => t.name === name)!.quant).toMatchObject({ i7: true });
    expect(fitsInt7(Int8Array.of(-64, 63, 0))).toBe(true);
    expect(fitsInt7(Int8Array.of(-65))).toBe(false);
    expect(fitsInt7(Int8Array.of(64))).toBe(false);
  });

  it('quant.pairs (axis 0) = csrPairCount of the weight as (dims[0], K); readers refuse a bad count, take a missing one', async () => {
    const names = [...quantized.keys()].filter((n) => quantized.get(n)!.axis === 0);
    expect(names.length).toBeGreaterThan(0);
    // named cases: odd K (the last column pairs alone), empty rows, one column
    expect(densePairCount(Int8Array.of(0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 3)).toBe(1); // one pair, two empty rows
    expect(densePairCount(Int8Array.of(1, 0, 0, 0, 0, 1, 0, 0, 7), 1)).toBe(3); // odd K: the last column pairs alone
    expect(densePairCount(Int8Array.of(1, 0, 3), 3)).toBe(2);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 9 }), fc.integer(), (rows, K, seed) => {
        let r = seed >>> 0;
        const q = Int8Array.from({ length: rows * K }, () =>
          (r = (Math.imul(r, 1103515245) + 12345) >>> 0) >>> 29 < 5 ? 0 : (r >>> 24) - 128,
        );
        return densePairCount(q, rows) === csrPairCount(...csrOf(q, rows));
      }),
    );
    const { header, payload } = readContainer(bytes);
    const rewrite = (pairs: unknown): Uint8Array => {
      const meta = structuredClone(header.meta) as { tensors: Array<{ name: string; quant?: Record<string, unknown> }> };
      const t = meta.tensors.find((x) => x.name === names[0])!;
      if (pairs === undefined) delete t.quant!.pairs;
      else t.quant!.pairs = pairs;
      const sections = header.sections.map((s, i) => ({
        codec: s.codec,
        dtype: s.dtype,
        decodedBytes: s.decodedBytes,
        payload: payload(i),
      }));
      return writeContainer(meta as SparrowMeta, sections);
    };
    const w = quantized.get(names[0]!)!;
    const rows = g.values.get(names[0]!)!.const!.dims[0]!,
      K = w.q.length / rows;
    expect(readGraphContainer(rewrite(undefined), { codedInt8: true }).coded.get(names[0]!)!.pairs).toBeUndefined();
    expect(readGraphContainer(rewrite(7), { codedInt8: true }).coded.get(names[0]!)!.pairs).toBe(7);
    for (const bad of [-1, 1.5, '3', null, rows * Math.ceil(K / 2) + 1])
      expect(() => readGraphContainer(rewrite(bad))).toThrow(expect.objectContaining({ code: 'corrupt_metadata' }) as Error);
  });

  it('stores int8 + quant + a float32 scale tensor right after it', () => {
    expect(quantized.size).toBe(3);
    for (const [name, qw] of quantized) {
      const i = back.meta.tensors.findIndex((t) => t.name === name);
      const t = back.meta.tensors[i]!,
        s = back.meta.tensors[i + 1]!;
      expect(t.dtype).toBe('int8');
      const rows = t.shape[0]!;
      expect(t.quant).toEqual({
        axis: qw.axis,
        scale: `${name}.scale`,
        i7: fitsInt7(qw.q),
        ...(qw.axis === 0 ? { pairs: csrPairCount(...csrOf(qw.q, rows)) } : {}),
      });
      expect(s).toMatchObject({ name: `${name}.scale`, dtype: 'float32', shape: [qw.scales.length] });
      expect(s.value).toBeUndefined();
    }
  });

  it('reads back q·scale as the float32 constant and keeps the stored int8', () => {
    for (const [name, qw] of quantized) {
      const st = back.int8.get(name)!;
      expect(Array.from(st.q)).toEqual(Array.from(qw.q));
      expect(Array.from(st.scales)).toEqual(Array.from(qw.scales));
      const c = back.graph.values.get(name)!.const!;
      expect(c.dtype).toBe('float32');
      expect(Array.from(c.data as Float32Array)).toEqual(Array.from(dequantize(qw.q, qw.scales, c.dims, qw.axis)));
    }
  });

  it('runs close to the float graph', async () => {
    const x = randomInput(g, 1, 3);
    const a = (await Session.fromGraph(g).run({ Input3: x })).Plus214_Output_0!.data as Float32Array;
    const b = (await (await Session.fromSparrow(bytes, { engine: 'reference' })).run({ Input3: x })).Plus214_Output_0!.data as Float32Array;
    const scale = Math.max(...Array.from(a, Math.abs));
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(0.05 * scale);
  });
});

describe('compact metadata (ResNet-20, int8 weights as sparrow compress writes them)', () => {
  const g = optimized(MODELS.resnet);
  const quantized = new Map<string, QuantizedWeight>();
  for (const L of weightLayers(g)) {
    const { q, scales } = quantizePerChannelInt8(g.values.get(L.value)!.const!.data as Float32Array, L.dims, L.axis);
    quantized.set(L.value, { q, scales, axis: L.axis });
  }
  const bytes = writeGraphContainer(g, { quantized });
  const { header } = readContainer(bytes);
  const metaBytes = header.metaBytes;

  it('graph JSON < 3.5 KB (schema 1: 13.5 KB), whole metadata < 9.5 KB (schema 1: 23.6 KB)', () => {
    const graphBytes = JSON.stringify(header.meta.graph).length;
    console.info(
      `ResNet-20 metadata: graph ${graphBytes} B, tensor table ${JSON.stringify(header.meta.tensors).length} B, total ${metaBytes} B of ${bytes.length} B`,
    );
    expect(quantized.size).toBe(20);
    expect(graphBytes).toBeLessThan(3500);
    expect(metaBytes).toBeLessThan(9500);
    expect(header.meta.tensors).toHaveLength(60); // 20 int8 weights + 20 scales + 20 biases; Slice/Pad parameters are inline
  });

  it('runs bit-identically to the graph with the dequantized weights substituted', async () => {
    const back = readGraphContainer(bytes);
    const g2 = cloneGraph(g);
    for (const [name, qw] of quantized) {
      const v = g2.values.get(name)!;
      const dims = v.const!.dims;
      g2.values.set(name, { ...v, const: { dtype: 'float32', dims, data: dequantize(qw.q, qw.scales, dims, qw.axis) } });
    }
    expect(back.int8.size).toBe(20);
    const x = randomInput(g, 2, 11);
    for (const engine of ['reference', 'sparrow-f32'] as const) {
      const want = (await Session.fromGraph(g2, { engine }).run({ input: x })).logits!;
      const got = (await (await Session.fromSparrow(bytes, { engine })).run({ input: x })).logits!;
      expect(got.dims).toEqual(want.dims);
      expect(Buffer.from(bits(got)).equals(Buffer.from(bits(want))), engine).toBe(true);
    }
  });

  it('keeps the names it is asked to keep (writeSparrowModel: the keys of activationRanges)', () => {
    const relu = g.nodes.find((n) => n.op === 'Relu')!.outputs[0]!;
    const file = writeSparrowModel(g, { quantized, meta: { activationRanges: { input: 2.6, [relu]: 4 } } });
    const back = readGraphContainer(file);
    expect(back.graph.values.has(relu)).toBe(true);
    expect(back.graph.nodes.find((n) => n.outputs.includes(relu))?.op).toBe('Relu');
    const named = writeGraphContainer(g, { quantized, keepNames: [relu], nodeNames: true });
    const b2 = readGraphContainer(named);
    expect(b2.graph.nodes.map((n) => n.name)).toEqual(g.nodes.map((n) => n.name));
    expect(b2.graph.values.has(relu)).toBe(true);
  });
});

describe('hostile graph metadata', () => {
  const g = optimized(MODELS.mnist);
  const good = writeGraphContainer(g, {
    quantized: new Map(
      weightLayers(g).map((L) => {
        const { q, scales } = quantizePerChannelInt8(g.values.get(L.value)!.const!.data as Float32Array, L.dims, L.axis);
        return [L.value, { q, scales, axis: L.axis }] as const;
      }),
    ),
  });
  const { header, payload } = readContainer(good);
  const sections: SectionInput[] = header.sections.map((s, i) => ({
    codec: s.codec,
    dtype: s.dtype,
    payload: payload(i),
    decodedBytes: s.decodedBytes,
  }));
  const baseMeta = JSON.stringify(header.meta);

  /** The file with its metadata changed by `edit` (sections as they were). */
  function withMeta(edit: (m: SparrowMeta & { graph: any }) => void): Uint8Array {
    const m = JSON.parse(baseMeta) as SparrowMeta & { graph: any };
    edit(m);
    return writeContainer(m, sections);
  }
  const codeOf = (edit: (m: SparrowMeta & { graph: any }) => void): SparrowErrorCode =>
    errorOf(() => readGraphContainer(withMeta(edit))).code;
  const node = (m: { graph: any }, op: string): any => m.graph.nodes.find((n: any) => n.op === op);

  it('accepts the unmodified file', () => {
    expect(() => readGraphContainer(withMeta(() => {}))).not.toThrow();
  });

  it.each<[string, (m: SparrowMeta & { graph: any }) => void]>([
    [
      'no graph (weights-only container)',
      (m) => {
        m.graph = null;
      },
    ],
    [
      'graph is an array',
      (m) => {
        m.graph = [];
      },
    ],
    [
      'schema missing',
      (m) => {
        delete m.graph.schema;
      },
    ],
    [
      'nodes not an array',
      (m) => {
        m.graph.nodes = {};
      },
    ],
    [
      'consts not an array',
      (m) => {
        m.graph.consts = {};
      },
    ],
    [
      'no outputs',
      (m) => {
        m.graph.outputs = [];
      },
    ],
    [
      'a node reads an unknown value name',
      (m) => {
        node(m, 'Relu').in[0] = 'nowhere';
      },
    ],
    [
      'a node reads a value index past the end',
      (m) => {
        node(m, 'Relu').in[0] = 1e6;
      },
    ],
    [
      'a node reads a negative value index',
      (m) => {
        node(m, 'Relu').in[0] = -1;
      },
    ],
    [
      'a node reads a fractional value index',
      (m) => {
        node(m, 'Relu').in[0] = 1.5;
      },
    ],
    [
      'a node reads its own output',
      (m) => {
        const k = m.graph.nodes.indexOf(node(m, 'Relu'));
        node(m, 'Relu').in[0] = 8 + k;
      },
    ],
    [
      "a node reads a later node's output",
      (m) => {
        m.graph.nodes.reverse();
      },
    ],
    [
      'in is not an array',
      (m) => {
        node(m, 'Relu').in = 9;
      },
    ],
    [
      'out is not an array',
      (m) => {
        node(m, 'Relu').out = 'x';
      },
    ],
    [
      'out holds a number',
      (m) => {
        node(m, 'Relu').out = [3];
      },
    ],
    [
      'a node output collides with a constant',
      (m) => {
        node(m, 'Relu').out = ['Parameter6'];
      },
    ],
    [
      'a node output collides with the graph input',
      (m) => {
        node(m, 'Relu').out = ['Input3'];
      },
    ],
    [
      'two node outputs with one name',
      (m) => {
        m.graph.nodes[0].out = ['x'];
        m.graph.nodes[1].out = ['x'];
      },
    ],
    [
      'duplicate node names',
      (m) => {
        m.graph.nodes[0].name = 'a';
        m.graph.nodes[1].name = 'a';
      },
    ],
    [
      'empty node name',
      (m) => {
        m.graph.nodes[0].name = '';
      },
    ],
    [
      'node domain has no opset',
      (m) => {
        m.graph.nodes[0].domain = 'com.example';
      },
    ],
    [
      'domain not a string',
      (m) => {
        m.graph.nodes[0].domain = 1;
      },
    ],
    [
      'opsets entry is not a positive integer',
      (m) => {
        m.graph.opsets[''] = 0;
      },
    ],
    [
      'graph output is not produced',
      (m) => {
        m.graph.outputs[0] = 'ghost';
      },
    ],
    [
      'graph output is a number',
      (m) => {
        m.graph.outputs[0] = 3;
      },
    ],
    [
      'declared output shape disagrees',
      (m) => {
        m.graph.outputs[0] = { name: 'Plus214_Output_0', dtype: 'float32', dims: [1, 11] };
      },
    ],
    [
      'declared output dtype disagrees',
      (m) => {
        m.graph.outputs[0] = { name: 'Plus214_Output_0', dtype: 'int64', dims: [1, 10] };
      },
    ],
    [
      'input dtype unknown',
      (m) => {
        m.graph.inputs[0].dtype = 'complex64';
      },
    ],
    [
      'input dims not integers',
      (m) => {
        m.graph.inputs[0].dims = [1, 1, 28.5, 28];
      },
    ],
    [
      'input shape makes the graph inconsistent',
      (m) => {
        m.graph.inputs[0].dims = [1, 3, 28, 28];
      },
    ],
    [
      'weight shape transposed (same bytes)',
      (m) => {
        const t = m.tensors.find((x) => x.name === 'Parameter193_reshape1')!;
        t.shape = [10, 256];
        t.quant = { axis: 0, scale: 'Parameter193_reshape1.scale' };
      },
    ],
    [
      'inline constant with the wrong element count',
      (m) => {
        m.graph.consts[0].data = [1];
      },
    ],
    [
      'inline constant with an unknown dtype',
      (m) => {
        m.graph.consts[0].dtype = 'float64';
      },
    ],
    [
      'inline constant value out of range',
      (m) => {
        m.graph.consts[0] = { dtype: 'int8', dims: [2], data: [1, 300] };
      },
    ],
    [
      'inline constant named like the input',
      (m) => {
        m.graph.consts[0].name = 'Input3';
      },
    ],
    [
      'inline constant with an empty name',
      (m) => {
        m.graph.consts[0].name = '';
      },
    ],
    [
      'inline shape constant changed (reshape to the wrong size)',
      (m) => {
        m.graph.consts[0].data = [1, 255];
      },
    ],
    [
      'attribute of an unknown kind',
      (m) => {
        node(m, 'Conv').attrs.group = { what: 1 };
      },
    ],
    [
      'attribute value kills the shape function',
      (m) => {
        node(m, 'Conv').attrs.kernel_shape = 'five';
      },
    ],
    [
      '__proto__ attribute',
      (m) => {
        node(m, 'Conv').attrs = JSON.parse('{"__proto__": 1}');
      },
    ],
    [
      'attrs not an object',
      (m) => {
        node(m, 'Relu').attrs = [1];
      },
    ],
    [
      'inline tensor attribute with the wrong element count',
      (m) => {
        node(m, 'Relu').attrs = { t: { tensor: { dtype: 'float32', dims: [2], data: [1] } } };
      },
    ],
    [
      'quant scale names no tensor',
      (m) => {
        (m.tensors[0]!.quant as any).scale = 'missing';
      },
    ],
    [
      'quant scale names the tensor itself',
      (m) => {
        (m.tensors[0]!.quant as any).scale = m.tensors[0]!.name;
      },
    ],
    [
      'two weights share a scale tensor',
      (m) => {
        (m.tensors[3]!.quant as any).scale = (m.tensors[0]!.quant as any).scale;
      },
    ],
    [
      'quant axis out of range',
      (m) => {
        (m.tensors[0]!.quant as any).axis = 4;
      },
    ],
    [
      'quant scheme unknown',
      (m) => {
        (m.tensors[0]!.quant as any).scheme = 'asymmetric';
      },
    ],
    [
      'quant on a float32 tensor',
      (m) => {
        m.tensors.find((t) => t.name === 'Parameter6')!.quant = { axis: 0, scale: 'Parameter88' };
      },
    ],
    [
      'scale tensor is also a value',
      (m) => {
        m.tensors[1]!.value = 'scale_as_value';
      },
    ],
    [
      'value name empty',
      (m) => {
        m.tensors[0]!.value = '';
      },
    ],
    [
      'value not a string',
      (m) => {
        m.tensors[2]!.value = 7;
      },
    ],
    [
      'two tensors claim one value',
      (m) => {
        m.tensors[2]!.value = m.tensors[0]!.name;
      },
    ],
    [
      'unknown valueDtype',
      (m) => {
        m.tensors[2]!.valueDtype = 'float64';
      },
    ],
    [
      'a constant dropped from the graph (value: null)',
      (m) => {
        m.tensors[2]!.value = null;
      },
    ],
  ])('%s → corrupt_metadata', (_, edit) => {
    expect(codeOf(edit)).toBe('corrupt_metadata');
  });

  it('a zero scale → corrupt_metadata', () => {
    const m = JSON.parse(baseMeta) as SparrowMeta;
    const i = m.tensors.findIndex((t) => t.name.endsWith('.scale'));
    const secs = sections.map((s, k) => (k === i ? { ...s, payload: new Uint8Array(s.payload.length) } : s));
    expect(errorOf(() => readGraphContainer(writeContainer(m, secs))).code).toBe('corrupt_metadata');
  });

  it('an unknown op → unsupported_op naming op, opset and node', () => {
    const k = (JSON.parse(baseMeta).graph as GraphJson).nodes.findIndex((n) => n.op === 'Relu');
    const e = errorOf(() =>
      readGraphContainer(
        withMeta((m) => {
          node(m, 'Relu').op = 'FancyRelu';
        }),
      ),
    );
    expect(e.code).toBe('unsupported_op');
    expect(e.message).toMatch(new RegExp(`FancyRelu.*opset 8.*#${k}`));
    expect(e.details).toMatchObject({ op: 'FancyRelu', opset: 8, node: `#${k}` });
    // a named node is named in the error
    const e2 = errorOf(() =>
      readGraphContainer(
        withMeta((m) => {
          Object.assign(node(m, 'Relu'), { op: 'FancyRelu', name: 'ReLU32' });
        }),
      ),
    );
    expect(e2.details).toMatchObject({ node: 'ReLU32' });
  });

  it('an op in an unknown domain → unsupported_op', () => {
    expect(
      codeOf((m) => {
        m.graph.opsets['com.example'] = 1;
        node(m, 'Relu').domain = 'com.example';
      }),
    ).toBe('unsupported_op');
  });

  it('schema 1 (the development format) and unknown schemas → unsupported_version', () => {
    expect(
      codeOf((m) => {
        m.graph.schema = 1;
      }),
    ).toBe('unsupported_version');
    expect(
      errorOf(() =>
        readGraphContainer(
          withMeta((m) => {
            m.graph.schema = 1;
          }),
        ),
      ).message,
    ).toMatch(/compress the model again/);
    expect(
      codeOf((m) => {
        m.graph.schema = 3;
      }),
    ).toBe('unsupported_version');
  });

  it('accepts names instead of indices, explicit names and declared outputs', () => {
    const back = readGraphContainer(
      withMeta((m) => {
        node(m, 'Conv').in = ['Input3', 'Parameter5'];
        node(m, 'Relu').name = 'ReLU32';
        node(m, 'Relu').out = ['relu_out'];
        m.graph.outputs = [{ name: 'Plus214_Output_0', dtype: 'float32', dims: [1, 10] }];
        m.tensors.find((t) => t.name === 'Parameter6')!.value = 'bias6';
      }),
    );
    expect(back.graph.nodes.find((n) => n.op === 'Relu')).toMatchObject({ name: 'ReLU32', outputs: ['relu_out'] });
    expect(back.graph.values.get('bias6')?.const?.dims).toEqual([8, 1, 1]);
    expect(back.graph.nodes.find((n) => n.op === 'Add')!.inputs[1]).toBe('bias6');
  });

  it('generated names never collide with explicit ones', () => {
    const back = readGraphContainer(
      withMeta((m) => {
        const k = m.graph.nodes.indexOf(node(m, 'Relu'));
        m.graph.nodes[0].out = [`%${8 + k}`]; // the name the Relu's output would get
        m.graph.nodes[0].name = '#1';
      }),
    );
    const names = [...back.graph.values.keys()];
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((n) => n.endsWith("'")).length).toBe(1);
    expect(back.graph.nodes[1]!.name).toBe("#1'");
  });

  it('Session.fromSparrow of a weights-only container → corrupt_metadata', async () => {
    const weightsOnly = packOnnxWeights(new Uint8Array(readFileSync(MODELS.mnist)), 0.5);
    await expect(Session.fromSparrow(weightsOnly)).rejects.toMatchObject({ code: 'corrupt_metadata' });
  });

  it('random damage to the graph JSON: a SparrowError or a working graph, never a crash', async () => {
    const rnd = lcg(2024);
    const junk = [
      null,
      0,
      -1,
      1.5,
      3,
      7,
      1e300,
      '',
      'x',
      'Input3',
      'Parameter6',
      [],
      [1],
      ['a'],
      [null],
      {},
      { float: 'NaN' },
      { tensor: {} },
      true,
    ];
    const leaves = (x: any, path: Array<string | number>, out: Array<Array<string | number>>): void => {
      out.push(path);
      if (x && typeof x === 'object') for (const k of Object.keys(x)) leaves(x[k], [...path, Array.isArray(x) ? Number(k) : k], out);
    };
    const all: Array<Array<string | number>> = [];
    leaves(JSON.parse(baseMeta).graph, [], all);
    let rejected = 0;
    for (let it = 0; it < 300; it++) {
      const path = all[Math.floor(rnd() * all.length)]!;
      const value = junk[Math.floor(rnd() * junk.length)];
      let bytes: Uint8Array;
      try {
        bytes = withMeta((m) => {
          if (path.length === 0) {
            m.graph = value;
            return;
          }
          let o: any = m.graph;
          for (const k of path.slice(0, -1)) o = o[k];
          o[path[path.length - 1]!] = value;
        });
      } catch (e) {
        expect(e).toBeInstanceOf(SparrowError); // the writer refused (never happens for graph fields)
        continue;
      }
      try {
        const back = readGraphContainer(bytes);
        const input = back.graph.inputs[0]!;
        const info = back.graph.values.get(input)!.info;
        const dims = (info.dims ?? [1, 1, 28, 28]).map((d) => (d < 0 ? 1 : d));
        if (info.dtype === 'float32' && dims.reduce((a, b) => a * b, 1) <= 1 << 16) {
          await Session.fromGraph(back.graph).run({
            [input]: { dtype: 'float32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) },
          });
        }
      } catch (e) {
        if (!(e instanceof SparrowError)) throw new Error(`path ${JSON.stringify(path)} = ${JSON.stringify(value)}: ${(e as Error).stack}`);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(150);
  });
});
