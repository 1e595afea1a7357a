// `sparrow export` (src/onnx/export.ts, src/cli/export.ts): a `.sparrow` model back to a standard
// QDQ ONNX model. Oracles: onnxruntime-node running the exported file against Sparrow's engines
// on the same file (sparrow-f32 for the weights-only export: the same float weights q·scale;
// sparrow-int8 for the QDQ export: the same activation parameters), and the original ONNX model in
// onnxruntime for a float graph.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { sparrowToQdqOnnx } from '../src/cli/export.js';
import { exportQdqOnnx } from '../src/onnx/export.js';
import { decodeModel, type onnx } from '../src/onnx/proto.js';
import { tensorFromProto } from '../src/onnx/initializers.js';
import { importOnnx } from '../src/onnx/import.js';
import { buildModel, f32 } from '../src/onnx/build.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import { loadSparrowModel, preprocessPixels, writeSparrowModel } from '../src/runtime/sparrow_model.js';
import { int8QuantParams } from '../src/quant/int8.js';
import { argmaxRow } from '../src/io/datasets.js';
import { parseNpy } from '../src/io/npy.js';
import { isSparrowError } from '../src/errors.js';
import type { Tensor } from '../src/ops/types.js';

const fixture = (f: string): Uint8Array => new Uint8Array(readFileSync(new URL(`./fixtures/int8/${f}`, import.meta.url)));
const RESNET = fixture('resnet20.static.sparrow');
const pixels = parseNpy(new Uint8Array(readFileSync(new URL('../examples/calib/cifar10-test-0-63.npy', import.meta.url))));

/** The first `n` CIFAR-10 images preprocessed as the model stores it. */
function images(n: number): Tensor {
  const all = { dtype: 'uint8', dims: pixels.shape, data: pixels.data } as Tensor;
  const x = preprocessPixels(all, loadSparrowModel(RESNET).preprocessing!);
  return { dtype: 'float32', dims: [n, 3, 32, 32], data: (x.data as Float32Array).slice(0, n * 3072) };
}

const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('sparrow export', () => {
  it('QDQ ONNX: int8 weights behind per-channel DequantizeLinear, Q/DQ pairs with sparrow-int8 parameters', () => {
    const m = loadSparrowModel(RESNET);
    const r = sparrowToQdqOnnx(RESNET);
    const model = decodeModel(r.bytes);
    type N = { opType: string; input: string[]; output: string[]; attribute: Array<{ name: string; i?: unknown }> };
    const g = model.graph as unknown as { initializer: onnx.ITensorProto[]; node: N[] };
    const inits = new Map(g.initializer.map((t) => [t.name, tensorFromProto(t)]));
    const dq = g.node.filter((n) => n.opType === 'DequantizeLinear' && inits.get(n.input[0]!)?.dtype === 'int8');
    expect(dq.length).toBe(m.int8.size);
    expect(r.weights).toBe(m.int8.size);
    for (const n of dq) {
      const w = m.int8.get(n.output[0]!)!;
      expect(inits.get(n.input[0]!)!.data).toEqual(w.q);
      expect(inits.get(n.input[1]!)!.data).toEqual(w.scales);
      expect(Number(n.attribute.find((a) => a.name === 'axis')?.i)).toBe(w.axis);
    }
    const q = g.node.filter((n) => n.opType === 'QuantizeLinear');
    expect(q.length).toBe(r.activations);
    expect(q.length).toBeGreaterThan(20);
    for (const n of q) {
      const p = int8QuantParams({ min: m.activationRanges!.get(n.input[0]!)![0], max: m.activationRanges!.get(n.input[0]!)![1] });
      expect((inits.get(n.input[1]!)!.data as Float32Array)[0]).toBe(p.scale);
      expect((inits.get(n.input[2]!)!.data as Int8Array)[0]).toBe(p.zeroPoint);
    }
    expect(Number(model.opsetImport.find((o) => !o.domain)?.version)).toBe(13);
    // a Conv/Add whose output only a Relu reads runs fused in sparrow-int8: no pair in between
    const producer = new Map(m.graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n.op] as const)));
    const readers = (v: string): string[] => m.graph.nodes.filter((n) => n.inputs.includes(v)).map((n) => n.op);
    const fused = q.filter(
      (n) => ['Conv', 'Add'].includes(producer.get(n.input[0]!) ?? '') && readers(n.input[0]!).every((op) => op === 'Relu'),
    );
    expect(fused.map((n) => n.input[0])).toEqual([]);
    expect(g.node.filter((n) => n.opType === 'Relu').length).toBeGreaterThan(10);
  });

  it('onnxruntime runs the QDQ export with the top-1 of sparrow-int8 on 64 CIFAR-10 images', async () => {
    const x = images(64);
    const ort = await createOrtEngine('ort-node', sparrowToQdqOnnx(RESNET).bytes);
    const s = await Session.fromSparrow(RESNET, { engine: 'sparrow-int8' });
    const a = (await ort.run({ input: x }))['logits']!;
    const b = (await s.run({ input: x }))['logits']!;
    let agree = 0;
    for (let i = 0; i < 64; i++) if (argmaxRow(a, i) === argmaxRow(b, i)) agree++;
    expect(agree).toBeGreaterThanOrEqual(62);
    // a few quantization steps of the logits apart, not a different model
    expect(maxDiff(a.data as Float32Array, b.data as Float32Array)).toBeLessThan(0.15 * maxAbs(b.data as Float32Array));
    await ort.dispose();
  });

  it('without activation ranges the export is the float graph of q·scale: onnxruntime = sparrow-f32', async () => {
    const m = loadSparrowModel(RESNET);
    const r = exportQdqOnnx({ graph: m.graph, weights: m.int8, ranges: null });
    expect(r.activations).toBe(0);
    const x = images(8);
    const ort = await createOrtEngine('ort-node', r.bytes);
    const s = await Session.fromSparrow(RESNET, { engine: 'sparrow-f32' });
    const a = (await ort.run({ input: x }))['logits']!.data as Float32Array;
    const b = (await s.run({ input: x }))['logits']!.data as Float32Array;
    expect(maxDiff(a, b)).toBeLessThan(1e-4 * maxAbs(b));
    await ort.dispose();
  });

  it('float attributes stay FLOAT (Gemm alpha 2, LeakyRelu alpha 1): onnxruntime gives the original outputs', async () => {
    const onnx = buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [2, 3] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [2, 2] }],
      initializers: { w: f32([3, 2], [1, -2, 3, 0.5, -1, 2]), c: f32([2], [0.25, -0.5]) },
      nodes: [
        { op: 'Gemm', inputs: ['x', 'w', 'c'], outputs: ['g'], attrs: { alpha: { float: 2 }, beta: { float: 1 } } },
        { op: 'LeakyRelu', inputs: ['g'], outputs: ['y'], attrs: { alpha: { float: 1 } } },
      ],
    });
    const sparrow = writeSparrowModel(importOnnx(onnx));
    const m = loadSparrowModel(sparrow);
    const out = exportQdqOnnx({ graph: m.graph, weights: m.int8, ranges: null });
    const x = { x: f32([2, 3], [1, 2, 3, -4, 5, -6]) };
    const a = await createOrtEngine('ort-node', onnx);
    const b = await createOrtEngine('ort-node', out.bytes);
    expect((await b.run(x))['y']!.data).toEqual((await a.run(x))['y']!.data);
    await a.dispose();
    await b.dispose();
  });

  it('refuses what it cannot write: an opset below 13 with int8 weights, a non-.sparrow file', () => {
    const code = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return isSparrowError(e) ? e.code : String(e);
      }
      return 'no error';
    };
    expect(code(() => sparrowToQdqOnnx(fixture('mnist-8.static.sparrow')))).toBe('unsupported_op');
    expect(code(() => sparrowToQdqOnnx(new Uint8Array(100)))).toBe('invalid_argument');
  });
});
