// scripts/make-qdq.mjs, the QDQ model maker (onnxruntime's static quantizer, QDQ format), and
// QDQ models through Sparrow's reference engine against onnxruntime-node:
//  - the graph it writes has onnxruntime's QDQ node units (checked node by node on a small model
//    with Conv→Relu, a residual Add, MatMul and Gemm), with its parameter formulas;
//  - the QDQ model's outputs through onnxruntime (which fuses the units into QLinearConv, QGemm…)
//    and through Sparrow's reference engine (which runs DequantizeLinear → float op → QuantizeLinear)
//    agree to one quantization step, and both stay near the float model;
//  - ResNet-20 on CIFAR-10 (../shared/data): test/qdq.data.test.ts.
import { describe, expect, it } from 'vitest';
import { buildModel } from '../src/onnx/build.js';
import { onnxRuntime, type onnx } from '../src/onnx/proto.js';
import type { Tensor } from '../src/ops/types.js';
import { createOrtEngine, type InferenceEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import { importOnnx } from '../src/onnx/import.js';
import { extractQdq } from '../src/ir/qdq.js';
import { compressQdqGraph } from '../src/compress/compress.js';
import { loadSparrowModel } from '../src/runtime/sparrow_model.js';
import { decodeInt8Ref } from '../src/codec/int8.js';
import { lcg } from './helpers/tensors.js';
import '../src/ops/ref/index.js';
// @ts-expect-error: plain ESM scripts without declarations
import { cifar10Feeds, computeScaleZp, makeQdq, quantizeWeight } from '../scripts/make-qdq.mjs';

const fr = Math.fround;

interface QdqResult {
  bytes: Uint8Array;
  report: {
    quantizedActivations: Record<string, { scale: number; zeroPoint: number; min: number; max: number }>;
    removedActivations: string[];
  };
}
type Feed = Record<string, { dims: number[]; data: Float32Array }>;

async function run(engine: InferenceEngine | Session, x: Tensor): Promise<Float32Array> {
  const out = await engine.run({ [engine.inputNames[0]!]: x });
  return out[engine.outputNames[0]!]!.data as Float32Array;
}

const f32 = (dims: number[], rnd: () => number, s = 1): Tensor => ({
  dtype: 'float32',
  dims,
  data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rnd() - 0.5) * 2 * s),
});

describe('make-qdq: parameters as onnxruntime computes them', () => {
  it('activation scale / zero point (uint8, int8), ranges widened to 0, tiny ranges', () => {
    // (max − min) / 255 in float64 from a float32 difference, stored as float32; zp = round(qmin − min / scale)
    const u = computeScaleZp(fr(-1.5), fr(3.25), 0, 255, false);
    expect(u.scale).toBe(fr(fr(3.25 + 1.5) / 255));
    expect(u.zeroPoint).toBe(Math.round(1.5 / (fr(3.25 + 1.5) / 255)));
    const s = computeScaleZp(fr(0.5), fr(2), -128, 127, false); // widened to [0, 2]
    expect(s.scale).toBe(fr(2 / 255));
    expect(s.zeroPoint).toBe(-128);
    expect(computeScaleZp(0, 1e-39, 0, 255, false)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(computeScaleZp(-2, 1, -127, 127, true)).toEqual({ scale: fr(4 / 254), zeroPoint: 0 });
  });

  it('weights: int8 symmetric per output channel, [-127, 127], scale max|w|/127', () => {
    const w = Float32Array.of(1, -2, 0.5, 0.25, 0, 0, 0, 0, -3, 3, 1.5, 0.1);
    const { q, scales } = quantizeWeight(w, [3, 4], 0);
    expect(Array.from(scales)).toEqual([fr(4 / 254), 1, fr(6 / 254)]);
    expect(Array.from(q)).toEqual([
      64,
      -127,
      32,
      16,
      0,
      0,
      0,
      0,
      -127,
      127,
      Math.round(fr(1.5 / fr(6 / 254))),
      Math.round(fr(0.1 / fr(6 / 254))),
    ]);
  });
});

describe('make-qdq on a small model: node units, and Sparrow = onnxruntime on the QDQ model', () => {
  // x [1,3,8,8] → Conv(4, 3x3, pad 1) → Relu → Conv(4, 3x3, pad 1) → Add(Relu out) → Relu
  //   → Reshape [1, 256] → MatMul W[256, 16] → Gemm(W2 [10, 16], transB, bias) → y [1, 10]
  const rnd = lcg(7);
  const init = (dims: number[], s: number): Tensor => f32(dims, rnd, s);
  const float = buildModel({
    nodes: [
      { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
      { op: 'Conv', inputs: ['r1', 'w2', 'b2'], outputs: ['c2'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Add', inputs: ['c2', 'r1'], outputs: ['s'] },
      { op: 'Relu', inputs: ['s'], outputs: ['r2'] },
      { op: 'Reshape', inputs: ['r2', 'shape'], outputs: ['f'] },
      { op: 'MatMul', inputs: ['f', 'w3'], outputs: ['m'] },
      { op: 'Gemm', inputs: ['m', 'w4', 'b4'], outputs: ['y'], attrs: { transB: 1 } },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 10] }],
    initializers: {
      w1: init([4, 3, 3, 3], 0.5),
      b1: init([4], 0.2),
      w2: init([4, 4, 3, 3], 0.3),
      b2: init([4], 0.2),
      shape: { dtype: 'int64', dims: [2], data: BigInt64Array.of(1n, 256n) },
      w3: init([256, 16], 0.1),
      w4: init([10, 16], 0.4),
      b4: init([10], 0.1),
    },
    opsets: { '': 13 },
  });
  const calib: Feed[] = Array.from({ length: 16 }, () => ({
    x: { dims: [1, 3, 8, 8], data: f32([1, 3, 8, 8], rnd).data as Float32Array },
  }));

  it('writes onnxruntime QDQ node units: Q→DQ on activations, DQ(int8 per channel) weights, DQ(int32) biases, Relu after Conv folded', async () => {
    const { bytes, report } = (await makeQdq(float, calib)) as QdqResult;
    const g = onnxRuntime.ModelProto.decode(bytes).graph!;
    const nodes = g.node!.map((n) => ({ ...n, input: n.input!, output: n.output!, attribute: n.attribute! }));
    const producer = new Map(nodes.flatMap((n) => n.output.map((o) => [o, n] as const)));
    const init = new Map(g.initializer!.map((t) => [t.name!, t]));
    const dqOf = (t: string) => {
      const n = producer.get(t)!;
      expect(n.opType, `${t} comes from a DequantizeLinear`).toBe('DequantizeLinear');
      return n;
    };
    // every Conv / MatMul / Gemm: DequantizeLinear on each input; its output goes to a QuantizeLinear
    for (const n of nodes.filter((x) => ['Conv', 'MatMul', 'Gemm'].includes(x.opType!))) {
      for (const [k, t] of n.input.entries()) {
        const dq = dqOf(t);
        const q = producer.get(dq.input[0]!);
        if (q)
          expect(q.opType).toBe('QuantizeLinear'); // activation: Q → DQ
        else {
          const stored = init.get(dq.input[0]!)!; // weight / bias: stored quantized, DQ only
          expect(stored.dataType).toBe(k === 2 ? 6 : 3); // int32 bias, int8 weight
          const axis = dq.attribute.find((a) => a.name === 'axis');
          expect(Number(axis?.i ?? -1)).toBe(n.opType === 'MatMul' ? 1 : 0);
          const zp = init.get(dq.input[2]!)!;
          expect(Array.from(zp.rawData!).every((b) => b === 0)).toBe(true);
        }
      }
      const consumers = nodes.filter((x) => x.input.includes(n.output[0]!));
      expect(consumers.map((c) => c.opType)).toEqual(['QuantizeLinear']);
    }
    // Relu after the first Conv folded into it (the Conv writes r1); the one after Add kept
    expect(report.removedActivations).toEqual(['Relu Relu_1']);
    expect(nodes.filter((n) => n.opType === 'Relu').map((n) => n.input[0])).toEqual(['s']);
    expect(producer.get('r1')!.opType).toBe('Conv');
    expect(report.quantizedActivations.r1!.zeroPoint).toBe(0); // ReLU range starts at 0
    // the residual Add reads the DequantizeLinear of r1, like the second Conv
    const add = nodes.find((n) => n.opType === 'Add')!;
    expect(add.input).toEqual(['c2_DequantizeLinear_Output', 'r1_DequantizeLinear_Output']);
    // the graph output keeps its name on the last DequantizeLinear
    expect(producer.get('y')!.opType).toBe('DequantizeLinear');
    expect(producer.get('y_QuantizeLinear_Input')!.opType).toBe('Gemm');
    // bias scale = fround(x_scale · w_scale[c]), bias = round(b / scale)
    const b4 = init.get('b4_quantized_scale')!,
      w4 = init.get('w4_scale')!,
      xs = report.quantizedActivations.m!.scale;
    const floats = (t: onnx.ITensorProto) => new Float32Array(Uint8Array.from(t.rawData!).buffer);
    expect(Array.from(floats(b4))).toEqual(Array.from(floats(w4), (s) => fr(xs * s)));
  });

  it('onnxruntime and Sparrow reference agree on the QDQ model (≤ 1 output step), both near the float model', async () => {
    const { bytes, report } = (await makeQdq(float, calib)) as QdqResult;
    const ort = await createOrtEngine('ort-node', bytes);
    const ortFloat = await createOrtEngine('ort-node', float);
    const ref = await Session.fromOnnx(bytes, { engine: 'reference' });
    const step = report.quantizedActivations.y!.scale;
    const range = report.quantizedActivations.y!.max - report.quantizedActivations.y!.min;
    for (let i = 0; i < 8; i++) {
      const x = f32([1, 3, 8, 8], rnd);
      const [a, b, c] = [await run(ort, x), await run(ref, x), await run(ortFloat, x)];
      for (let k = 0; k < 10; k++) {
        expect(Math.abs(a[k]! - b[k]!), `output ${k}`).toBeLessThanOrEqual(step * 1.0001);
        expect(Math.abs(a[k]! - c[k]!)).toBeLessThan(0.1 * range);
      }
    }
    await ort.dispose();
    await ortFloat.dispose();
  });
});

describe("QDQ models in sparrow-int8 (src/ir/qdq.ts): the int8 kernels with the model's own parameters", () => {
  const rnd = lcg(4242);
  const init = (dims: number[], s: number): Tensor => f32(dims, rnd, s);
  const float = buildModel({
    nodes: [
      { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
      { op: 'Conv', inputs: ['r1', 'w2', 'b2'], outputs: ['c2'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c2'], outputs: ['r2'] },
      { op: 'Flatten', inputs: ['r2'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'w3', 'b3'], outputs: ['y'], attrs: { transB: 1 } },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 10] }],
    initializers: {
      w1: init([6, 3, 3, 3], 0.5),
      b1: init([6], 0.2),
      w2: init([4, 6, 3, 3], 0.3),
      b2: init([4], 0.2),
      w3: init([10, 256], 0.1),
      b3: init([10], 0.1),
    },
  });
  const calib = Array.from({ length: 16 }, () => ({ x: f32([1, 3, 8, 8], rnd) }));

  it('every layer runs int8 with the QDQ weights; the same bits as onnxruntime (QLinearConv / QGemm requantization); SIMD = scalar bit for bit', async () => {
    for (const activations of ['uint8', 'int8'] as const) {
      const { bytes, report } = (await makeQdq(float, calib, { activations })) as QdqResult;
      const ort = await createOrtEngine('ort-node', bytes);
      const s = await Session.fromOnnx(bytes, { engine: 'sparrow-int8' });
      const scalar = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', kernels: 'scalar' });
      const r = s.report!.int8!;
      expect(r.mode).toBe('static');
      // the last Gemm's output is quantized and dequantized as the model says (requant 'onnx')
      expect(r.layers.map((l) => l.io)).toEqual(['i8', 'i8', 'i8']);
      expect(s.report!.fallbackOps).toEqual([]);
      const step = report.quantizedActivations.y!.scale;
      for (let i = 0; i < 6; i++) {
        const x = f32([1, 3, 8, 8], rnd);
        const [a, b, c] = [await run(ort, x), await run(s, x), await run(scalar, x)];
        expect(Array.from(c), activations).toEqual(Array.from(b));
        expect(Array.from(b), activations).toEqual(Array.from(a));
        expect(step).toBeGreaterThan(0);
      }
      await ort.dispose();
    }
  });

  it('sparrow compress keeps the QDQ int8 weights and parameters: the .sparrow runs bit for bit as the QDQ model in sparrow-int8', async () => {
    const { bytes } = (await makeQdq(float, calib)) as QdqResult;
    const graph = importOnnx(bytes);
    const qdq = extractQdq(graph);
    const { bytes: file } = await compressQdqGraph(graph, qdq, {});
    const model = loadSparrowModel(file, { codedInt8: true });
    expect(model.activationRanges!.size).toBeGreaterThan(0);
    expect(model.compression?.['source']).toBe('qdq');
    // the stored int8 weights are the QDQ model's initializers, byte for byte
    const proto = onnxRuntime.ModelProto.decode(bytes);
    for (const [name, c] of model.coded) {
      const base = name.replace(/_DequantizeLinear_Output$/, '');
      const init = proto.graph!.initializer!.find((t) => t.name === `${base}_quantized`)!;
      expect(init, name).toBeDefined();
      const q = decodeInt8Ref(c.codec, c.payload, init.rawData!.length);
      expect(Array.from(q), name).toEqual(Array.from(new Int8Array(init.rawData!.buffer, init.rawData!.byteOffset, init.rawData!.length)));
    }
    const a = await Session.fromOnnx(bytes, { engine: 'sparrow-int8' });
    const b = await Session.fromSparrow(file, { engine: 'sparrow-int8' });
    for (let i = 0; i < 4; i++) {
      const x = f32([1, 3, 8, 8], rnd);
      expect(Array.from(await run(b, x))).toEqual(Array.from(await run(a, x)));
    }
    await expect(compressQdqGraph(importOnnx(bytes), extractQdq(importOnnx(bytes)), { sparsity: 0.5 })).rejects.toThrow(
      /already quantized.*--sparsity/,
    );
  });

  it('a model without QDQ still runs dynamic; the float engines keep the fake quantization', async () => {
    const plain = await Session.fromOnnx(float, { engine: 'sparrow-int8' });
    expect(plain.report!.int8!.mode).toBe('dynamic');
    const { bytes } = (await makeQdq(float, calib)) as QdqResult;
    const f = await Session.fromOnnx(bytes, { engine: 'sparrow-f32' });
    const ref = await Session.fromOnnx(bytes, { engine: 'reference' });
    const x = f32([1, 3, 8, 8], rnd);
    expect(Array.from(await run(f, x))).toEqual(Array.from(await run(ref, x)).map((v) => expect.closeTo(v, 5)));
    expect(f.graph.nodes.some((n) => n.op === 'QuantizeLinear')).toBe(true);
  });
});
