// QOperator models (QLinearConv, QLinearMatMul; ConvInteger / MatMulInteger after
// DynamicQuantizeLinear) in sparrow-int8 (src/ir/qoperator.ts → src/ir/qdq.ts → the int8 kernels
// with the 'qlinear' output stage), against onnxruntime-node on the same model:
//  - static: small models x → QuantizeLinear → QLinear op → DequantizeLinear, over per-tensor and
//    per-channel weights, uint8 and int8 activations, uint8 weights (zero point 128), with and
//    without bias, strides / pads / dilations / groups / depthwise, and QLinearMatMul 2-D: the
//    same bits as onnxruntime, the QLinear node lowered to an int8 kernel (no fallback), SIMD =
//    scalar references;
//  - what the rewrite leaves (a weight zero point the symmetric int8 kernels cannot take) runs its
//    reference kernel and still gives onnxruntime's bits;
//  - dynamic: ConvInteger / MatMulInteger (scripts/make-qoperator.mjs --dynamic, onnxruntime's
//    quantize_dynamic form) on the int8 kernels' dynamic mode: the same bits as onnxruntime;
//  - scripts/make-qoperator.mjs: the QDQ model of make-qdq turned into QLinearConv / QLinearMatMul;
//  - sparrow compress on a QOperator model keeps its int8 weights (the .sparrow runs bit for bit).
// ResNet-20 on CIFAR-10: test/qoperator.data.test.ts.
import { describe, expect, it } from 'vitest';
import { buildModel, type BuildNode } from '../src/onnx/build.js';
import { onnxRuntime } from '../src/onnx/proto.js';
import type { Tensor } from '../src/ops/types.js';
import { createOrtEngine, type InferenceEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import { importOnnx } from '../src/onnx/import.js';
import { lowerQOperator } from '../src/ir/qoperator.js';
import { compressOnnx } from '../src/compress/compress.js';
import { loadSparrowModel } from '../src/runtime/sparrow_model.js';
import { decodeInt8Ref } from '../src/codec/int8.js';
import { lcg } from './helpers/tensors.js';
import '../src/ops/ref/index.js';
// @ts-expect-error: plain ESM scripts without declarations
import { makeQdq } from '../scripts/make-qdq.mjs';
// @ts-expect-error: plain ESM scripts without declarations
import { makeDynamic, makeQOperator } from '../scripts/make-qoperator.mjs';

const fr = Math.fround;

async function run(e: InferenceEngine | Session, x: Tensor): Promise<Float32Array> {
  const out = await e.run({ [e.inputNames[0]!]: x });
  return out[e.outputNames[0]!]!.data as Float32Array;
}

const f32 = (dims: number[], rnd: () => number, s = 1): Tensor => ({
  dtype: 'float32',
  dims,
  data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rnd() - 0.5) * 2 * s),
});

type Act = 'uint8' | 'int8';
const scalar = (dtype: Act | 'float32', v: number): Tensor =>
  dtype === 'float32'
    ? { dtype, dims: [], data: Float32Array.of(v) }
    : { dtype, dims: [], data: dtype === 'uint8' ? Uint8Array.of(v) : Int8Array.of(v) };

interface ConvCase {
  name: string;
  act: Act;
  /** weights: int8 (zero point 0) or uint8 (zero point 128) */
  wtype: 'int8' | 'uint8';
  perChannel: boolean;
  bias: boolean;
  C: number;
  H: number;
  W: number;
  M: number;
  k: [number, number];
  attrs: Record<string, number | number[]>;
}

const CONV_CASES: ConvCase[] = [
  {
    name: 'per-tensor uint8, bias, 3x3 pad 1',
    act: 'uint8',
    wtype: 'int8',
    perChannel: false,
    bias: true,
    C: 3,
    H: 8,
    W: 9,
    M: 5,
    k: [3, 3],
    attrs: { pads: [1, 1, 1, 1] },
  },
  {
    name: 'per-channel uint8, no bias, stride 2, uneven pads',
    act: 'uint8',
    wtype: 'int8',
    perChannel: true,
    bias: false,
    C: 4,
    H: 9,
    W: 7,
    M: 6,
    k: [3, 3],
    attrs: { pads: [0, 1, 1, 0], strides: [2, 2] },
  },
  {
    name: 'per-channel int8 activations, bias, groups 2',
    act: 'int8',
    wtype: 'int8',
    perChannel: true,
    bias: true,
    C: 4,
    H: 6,
    W: 6,
    M: 6,
    k: [3, 3],
    attrs: { pads: [1, 1, 1, 1], group: 2 },
  },
  {
    name: 'depthwise uint8, per-channel, bias, stride 2',
    act: 'uint8',
    wtype: 'int8',
    perChannel: true,
    bias: true,
    C: 8,
    H: 10,
    W: 10,
    M: 8,
    k: [3, 3],
    attrs: { pads: [1, 1, 1, 1], group: 8, strides: [2, 2] },
  },
  {
    name: 'uint8 weights (zero point 128), per-tensor, dilations 2',
    act: 'uint8',
    wtype: 'uint8',
    perChannel: false,
    bias: true,
    C: 3,
    H: 9,
    W: 9,
    M: 4,
    k: [3, 3],
    attrs: { dilations: [2, 2], pads: [2, 2, 2, 2] },
  },
  {
    name: '1x1, int8 activations, per-tensor, no bias, many channels',
    act: 'int8',
    wtype: 'int8',
    perChannel: false,
    bias: false,
    C: 32,
    H: 5,
    W: 5,
    M: 40,
    k: [1, 1],
    attrs: {},
  },
  {
    name: '5x3 kernel, auto_pad SAME_UPPER',
    act: 'uint8',
    wtype: 'int8',
    perChannel: true,
    bias: true,
    C: 2,
    H: 7,
    W: 6,
    M: 3,
    k: [5, 3],
    attrs: {},
  },
];

/** x (float) → QuantizeLinear → QLinearConv → DequantizeLinear → y, with parameters that use the output range. */
function qconvModel(c: ConvCase, rnd: () => number, wzOverride?: number): { bytes: Uint8Array; dims: number[] } {
  const { C, M, k } = c;
  const group = (c.attrs['group'] as number | undefined) ?? 1;
  const K = (C / group) * k[0] * k[1];
  const n = M * K;
  const w =
    c.wtype === 'int8'
      ? Int8Array.from({ length: n }, () => Math.floor(rnd() * 256) - 128)
      : Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
  const ws = Float32Array.from({ length: c.perChannel ? M : 1 }, () => fr(0.002 + rnd() * 0.01));
  const wzv = wzOverride ?? (c.wtype === 'uint8' ? 128 : 0);
  const wz: Tensor =
    c.wtype === 'int8'
      ? { dtype: 'int8', dims: c.perChannel ? [M] : [], data: new Int8Array(ws.length).fill(wzv) }
      : { dtype: 'uint8', dims: c.perChannel ? [M] : [], data: new Uint8Array(ws.length).fill(wzv) };
  const xs = fr(2 / 255),
    xz = c.act === 'uint8' ? 128 : 0;
  // output scale: ~3 standard deviations of the real output over 127 steps (some saturation)
  const wsMean = ws.reduce((a, b) => a + b, 0) / ws.length;
  const ys = fr((3 * Math.sqrt(K) * 74 * 74 * xs * wsMean) / 127),
    yz = c.act === 'uint8' ? 120 : -5;
  const B = Int32Array.from({ length: M }, () => Math.round((rnd() - 0.5) * 40000));
  const inits: Record<string, Tensor> = {
    xs: scalar('float32', xs),
    xz: scalar(c.act, xz),
    w: { dtype: c.wtype, dims: [M, C / group, k[0], k[1]], data: w },
    ws: { dtype: 'float32', dims: c.perChannel ? [M] : [], data: ws },
    wz,
    ys: scalar('float32', ys),
    yz: scalar(c.act, yz),
  };
  if (c.bias) inits['B'] = { dtype: 'int32', dims: [M], data: B };
  const attrs = { ...c.attrs, kernel_shape: k, ...(c.name.includes('SAME_UPPER') ? { auto_pad: 'SAME_UPPER' } : {}) };
  const nodes: BuildNode[] = [
    { op: 'QuantizeLinear', inputs: ['x', 'xs', 'xz'], outputs: ['xq'] },
    {
      op: 'QLinearConv',
      name: 'qconv',
      inputs: ['xq', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz', ...(c.bias ? ['B'] : [])],
      outputs: ['yq'],
      attrs,
    },
    { op: 'DequantizeLinear', inputs: ['yq', 'ys', 'yz'], outputs: ['y'] },
  ];
  const dims = [1, C, c.H, c.W];
  const bytes = buildModel({
    nodes,
    inputs: [{ name: 'x', dtype: 'float32', dims }],
    outputs: [{ name: 'y', dtype: 'float32', dims: null }],
    initializers: inits,
    opsets: { '': 13 },
  });
  return { bytes, dims };
}

/** Runs `bytes` in onnxruntime, sparrow-int8 (SIMD and scalar); returns the int8 session. */
async function sameBitsAsOrt(bytes: Uint8Array, dims: number[], rnd: () => number, runs = 4, scale = 1.2): Promise<Session> {
  const ort = await createOrtEngine('ort-node', bytes);
  const s = await Session.fromOnnx(bytes, { engine: 'sparrow-int8' });
  const sc = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', kernels: 'scalar' });
  for (let i = 0; i < runs; i++) {
    const x = f32(dims, rnd, scale); // a little beyond the input range: saturation too
    const [a, b, c] = [await run(ort, x), await run(s, x), await run(sc, x)];
    expect(Array.from(c), 'scalar = SIMD').toEqual(Array.from(b));
    expect(Array.from(b), 'sparrow-int8 = onnxruntime').toEqual(Array.from(a));
  }
  await ort.dispose();
  return s;
}

describe('QLinearConv in sparrow-int8: the int8 kernels, onnxruntime bit for bit', () => {
  for (const c of CONV_CASES) {
    it(c.name, async () => {
      const rnd = lcg(c.name.length * 7919 + c.C);
      const { bytes, dims } = qconvModel(c, rnd);
      const s = await sameBitsAsOrt(bytes, dims, rnd);
      const r = s.report!.int8!;
      expect(r.mode).toBe('static');
      expect(r.layers.map((l) => [l.node, l.op, l.io])).toEqual([['qconv', 'Conv', 'i8']]);
      expect(s.report!.fallbackOps).toEqual([]);
    });
  }

  it('uint8 graph input and output (no QuantizeLinear / DequantizeLinear pairs): the layer int8, onnxruntime bit for bit', async () => {
    const rnd = lcg(4711);
    const c = CONV_CASES[1]!;
    const { bytes: withQdq } = qconvModel(c, rnd);
    // the same QLinearConv, read and written as uint8 by the graph itself
    const proto = onnxRuntime.ModelProto.decode(withQdq);
    const g = proto.graph!;
    g.node = g.node!.filter((n) => n.opType === 'QLinearConv');
    g.input = [{ name: 'xq', type: { tensorType: { elemType: 2, shape: { dim: [1, c.C, c.H, c.W].map((d) => ({ dimValue: d })) } } } }];
    g.output = [{ name: 'yq', type: { tensorType: { elemType: 2 } } }];
    const bytes = onnxRuntime.ModelProto.encode(proto).finish();
    const ort = await createOrtEngine('ort-node', bytes);
    const s = await Session.fromOnnx(bytes, { engine: 'sparrow-int8' });
    for (let i = 0; i < 4; i++) {
      const x: Tensor = {
        dtype: 'uint8',
        dims: [1, c.C, c.H, c.W],
        data: Uint8Array.from({ length: c.C * c.H * c.W }, () => Math.floor(rnd() * 256)),
      };
      const [a, b] = [await ort.run({ xq: x }), await s.run({ xq: x })];
      expect(Array.from(b['yq']!.data as Uint8Array)).toEqual(Array.from(a['yq']!.data as Uint8Array));
    }
    await ort.dispose();
    expect(s.report!.int8!.layers.map((l) => [l.node, l.io])).toEqual([['qconv', 'i8']]);
    // the DequantizeLinear of the input and the QuantizeLinear of the output run in float, losslessly
    expect(s.report!.fallbackOps.map((f) => f.op).sort()).toEqual(['DequantizeLinear', 'QuantizeLinear']);
  });

  it('a weight zero point the symmetric kernels cannot take: the QLinearConv stays (reference kernel), onnxruntime bit for bit', async () => {
    const rnd = lcg(99);
    const c = CONV_CASES[0]!;
    const { bytes, dims } = qconvModel(c, rnd, 3);
    const g = importOnnx(bytes);
    const rep = lowerQOperator(g);
    expect(rep.qlinear).toBe(0);
    expect(rep.kept).toEqual([{ node: 'qconv', op: 'QLinearConv', reason: expect.stringMatching(/weight zero point 3/) }]);
    const s = await sameBitsAsOrt(bytes, dims, rnd, 2);
    // the QLinearConv runs its reference kernel between the int8 input and output
    expect(s.report!.int8!.layers).toEqual([]);
    expect(s.report!.fallbackOps.map((f) => [f.node, f.op])).toContainEqual(['qconv', 'QLinearConv']);
  });
});

describe('QLinearMatMul (2-D) in sparrow-int8', () => {
  for (const [act, perColumn] of [
    ['uint8', true],
    ['int8', false],
    ['uint8', false],
  ] as const) {
    it(`${act} activations, ${perColumn ? 'per-column' : 'per-tensor'} int8 weights: the int8 FC kernel, onnxruntime bit for bit`, async () => {
      const rnd = lcg(act.length * 31 + (perColumn ? 1 : 0));
      const [M, K, N] = [3, 40, 13];
      const bs = Float32Array.from({ length: perColumn ? N : 1 }, () => fr(0.003 + rnd() * 0.01));
      const as = fr(2 / 255);
      const ys = fr((3 * Math.sqrt(K) * 74 * 74 * as * 0.008) / 127);
      const bytes = buildModel({
        nodes: [
          { op: 'QuantizeLinear', inputs: ['a', 'as', 'az'], outputs: ['aq'] },
          { op: 'QLinearMatMul', name: 'qmm', inputs: ['aq', 'as', 'az', 'b', 'bs', 'bz', 'ys', 'yz'], outputs: ['yq'] },
          { op: 'DequantizeLinear', inputs: ['yq', 'ys', 'yz'], outputs: ['y'] },
        ],
        inputs: [{ name: 'a', dtype: 'float32', dims: [M, K] }],
        outputs: [{ name: 'y', dtype: 'float32', dims: null }],
        initializers: {
          as: scalar('float32', as),
          az: scalar(act, act === 'uint8' ? 131 : 2),
          b: { dtype: 'int8', dims: [K, N], data: Int8Array.from({ length: K * N }, () => Math.floor(rnd() * 256) - 128) },
          bs: { dtype: 'float32', dims: perColumn ? [N] : [], data: bs },
          bz: { dtype: 'int8', dims: perColumn ? [N] : [], data: new Int8Array(bs.length) },
          ys: scalar('float32', ys),
          yz: scalar(act, act === 'uint8' ? 125 : -3),
        },
        opsets: { '': 13 },
      });
      const s = await sameBitsAsOrt(bytes, [M, K], rnd, 6);
      expect(s.report!.int8!.layers.map((l) => [l.node, l.op, l.io])).toEqual([['qmm', 'MatMul', 'i8']]);
      expect(s.report!.fallbackOps).toEqual([]);
    });
  }
});

describe('direct 8-bit ops between QLinear operators (onnxruntime QOperator models: MaxPool, Flatten on uint8)', () => {
  it('QLinearConv → MaxPool → Flatten → QLinearMatMul on uint8 tensors: all int8 steps, onnxruntime bit for bit', async () => {
    const rnd = lcg(31337);
    const [C, M, N] = [3, 8, 10];
    const xs = fr(2 / 255),
      ys = fr(0.05),
      zs = fr(0.04);
    const bytes = buildModel({
      nodes: [
        { op: 'QuantizeLinear', inputs: ['x', 'xs', 'xz'], outputs: ['xq'] },
        {
          op: 'QLinearConv',
          name: 'qconv',
          inputs: ['xq', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz', 'B'],
          outputs: ['cq'],
          attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
        },
        { op: 'MaxPool', name: 'pool', inputs: ['cq'], outputs: ['pq'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
        { op: 'Flatten', name: 'flat', inputs: ['pq'], outputs: ['fq'] },
        { op: 'QLinearMatMul', name: 'qmm', inputs: ['fq', 'ys', 'yz', 'w2', 'ws2', 'wz2', 'zs', 'zz'], outputs: ['oq'] },
        { op: 'DequantizeLinear', inputs: ['oq', 'zs', 'zz'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: [1, C, 8, 8] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: null }],
      initializers: {
        xs: scalar('float32', xs),
        xz: scalar('uint8', 128),
        w: { dtype: 'int8', dims: [M, C, 3, 3], data: Int8Array.from({ length: M * C * 9 }, () => Math.floor(rnd() * 256) - 128) },
        ws: { dtype: 'float32', dims: [M], data: Float32Array.from({ length: M }, () => fr(0.001 + rnd() * 0.002)) },
        wz: { dtype: 'int8', dims: [M], data: new Int8Array(M) },
        ys: scalar('float32', ys),
        yz: scalar('uint8', 100),
        B: { dtype: 'int32', dims: [M], data: Int32Array.from({ length: M }, () => Math.round((rnd() - 0.5) * 20000)) },
        w2: { dtype: 'int8', dims: [M * 16, N], data: Int8Array.from({ length: M * 16 * N }, () => Math.floor(rnd() * 256) - 128) },
        ws2: scalar('float32', fr(0.004)),
        wz2: scalar('int8', 0),
        zs: scalar('float32', zs),
        zz: scalar('uint8', 128),
      },
      opsets: { '': 13 },
    });
    const g = importOnnx(bytes);
    const rep = lowerQOperator(g);
    expect([rep.qlinear, rep.direct, rep.kept.length]).toEqual([2, 2, 0]);
    const s = await sameBitsAsOrt(bytes, [1, C, 8, 8], rnd, 6);
    expect(s.report!.int8!.layers.map((l) => [l.node, l.io])).toEqual([
      ['qconv', 'i8'],
      ['qmm', 'i8'],
    ]);
    expect(s.report!.fallbackOps).toEqual([]); // MaxPool int8, Flatten an alias
  });
});

describe("requant 'onnx': nothing fuses across a value the model quantizes, but for a Relu with the same parameters", () => {
  // x → Q → DQ → Conv(DQ(w), DQ(b)) → Q(s1, z1) → DQ → Relu → Q(s2, z2) → DQ → y
  for (const same of [true, false]) {
    it(
      same
        ? 'Relu quantized as its input: fused as the clamp at the zero point'
        : 'Relu quantized otherwise: a float step between the two roundings',
      async () => {
        const rnd = lcg(same ? 5 : 6);
        const [C, M] = [3, 4];
        const s1 = fr(0.03),
          z1 = 110;
        const [s2, z2] = same ? [s1, z1] : [fr(0.02), 0];
        const bytes = buildModel({
          nodes: [
            { op: 'QuantizeLinear', inputs: ['x', 'xs', 'xz'], outputs: ['xq'] },
            { op: 'DequantizeLinear', inputs: ['xq', 'xs', 'xz'], outputs: ['xd'] },
            { op: 'DequantizeLinear', inputs: ['wq', 'ws', 'wz'], outputs: ['wd'], attrs: { axis: 0 } },
            { op: 'DequantizeLinear', inputs: ['bq', 'bs', 'bz'], outputs: ['bd'], attrs: { axis: 0 } },
            { op: 'Conv', name: 'conv', inputs: ['xd', 'wd', 'bd'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
            { op: 'QuantizeLinear', inputs: ['c', 's1', 'z1'], outputs: ['cq'] },
            { op: 'DequantizeLinear', inputs: ['cq', 's1', 'z1'], outputs: ['cd'] },
            { op: 'Relu', name: 'relu', inputs: ['cd'], outputs: ['r'] },
            { op: 'QuantizeLinear', inputs: ['r', 's2', 'z2'], outputs: ['rq'] },
            { op: 'DequantizeLinear', inputs: ['rq', 's2', 'z2'], outputs: ['y'] },
          ],
          inputs: [{ name: 'x', dtype: 'float32', dims: [1, C, 6, 6] }],
          outputs: [{ name: 'y', dtype: 'float32', dims: null }],
          initializers: {
            xs: scalar('float32', fr(2 / 255)),
            xz: scalar('uint8', 128),
            wq: { dtype: 'int8', dims: [M, C, 3, 3], data: Int8Array.from({ length: M * C * 9 }, () => Math.floor(rnd() * 255) - 127) },
            ws: { dtype: 'float32', dims: [M], data: Float32Array.from({ length: M }, () => fr(0.002 + rnd() * 0.002)) },
            wz: { dtype: 'int8', dims: [M], data: new Int8Array(M) },
            bq: { dtype: 'int32', dims: [M], data: Int32Array.from({ length: M }, () => Math.round((rnd() - 0.5) * 4000)) },
            bs: { dtype: 'float32', dims: [M], data: new Float32Array(M).fill(fr(1e-5)) },
            bz: { dtype: 'int32', dims: [M], data: new Int32Array(M) },
            s1: scalar('float32', s1),
            z1: scalar('uint8', z1),
            s2: scalar('float32', s2),
            z2: scalar('uint8', z2),
          },
          opsets: { '': 13 },
        });
        const ort = await createOrtEngine('ort-node', bytes);
        const s = await Session.fromOnnx(bytes, { engine: 'sparrow-int8' });
        for (let i = 0; i < 4; i++) {
          const x = f32([1, C, 6, 6], rnd);
          expect(Array.from(await run(s, x))).toEqual(Array.from(await run(ort, x)));
        }
        await ort.dispose();
        expect(s.report!.int8!.layers.map((l) => [l.op, l.io])).toEqual([[same ? 'FusedConv' : 'Conv', 'i8']]);
        expect(s.report!.fallbackOps.map((f) => f.op)).toEqual(same ? [] : ['Relu']);
      },
    );
  }
});

describe('dynamic quantization (DynamicQuantizeLinear → ConvInteger / MatMulInteger) on the int8 dynamic mode', () => {
  // x [1,3,8,8] → Conv(6, 3x3, pad 1, bias) → Relu → Conv(4, 3x3, stride 2, bias) → Flatten [1, 64] → MatMul [64, 10]
  const rnd = lcg(2024);
  const float = buildModel({
    nodes: [
      { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
      { op: 'Conv', inputs: ['r1', 'w2', 'b2'], outputs: ['c2'], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
      { op: 'Flatten', inputs: ['c2'], outputs: ['f'] },
      { op: 'MatMul', inputs: ['f', 'w3'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 10] }],
    initializers: {
      w1: f32([6, 3, 3, 3], rnd, 0.5),
      b1: f32([6], rnd, 0.2),
      w2: f32([4, 6, 3, 3], rnd, 0.3),
      b2: f32([4], rnd, 0.2),
      w3: f32([64, 10], rnd, 0.2),
    },
    opsets: { '': 13 },
  });

  it('make-qoperator --dynamic writes onnxruntime quantize_dynamic node groups', () => {
    const { bytes, report } = makeDynamic(float) as { bytes: Uint8Array; report: Record<string, unknown> };
    expect(report).toEqual({ convInteger: 2, matMulInteger: 1, left: [] });
    const ops = onnxRuntime.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType);
    expect(ops.filter((o) => o === 'DynamicQuantizeLinear').length).toBe(3);
    expect(ops).not.toContain('Conv');
    expect(ops).not.toContain('MatMul');
  });

  it('every ConvInteger / MatMulInteger runs on the int8 kernels (dynamic), the same bits as onnxruntime', async () => {
    const { bytes } = makeDynamic(float) as { bytes: Uint8Array };
    const s = await sameBitsAsOrt(bytes, [1, 3, 8, 8], rnd, 6, 1);
    const r = s.report!.int8!;
    expect(r.mode).toBe('dynamic');
    expect(
      r.layers.map((l) => [l.op, l.io]),
      JSON.stringify(r.layers),
    ).toEqual([
      ['FusedConv', 'dyn'], // bias Add and Relu fused
      ['Conv', 'dyn'], // bias Add fused
      ['MatMul', 'dyn'],
    ]);
    expect(r.floatOps).toEqual([]);
    expect(s.report!.fallbackOps).toEqual([]);
    const left = s.graph.nodes.map((n) => n.op);
    for (const op of ['ConvInteger', 'MatMulInteger', 'DynamicQuantizeLinear', 'Cast', 'Mul']) expect(left).not.toContain(op);
  });

  it('sparrow compress keeps the dynamic model int8 weights; the .sparrow runs dynamic with the same bits', async () => {
    const { bytes } = makeDynamic(float) as { bytes: Uint8Array };
    const { bytes: file } = await compressOnnx(bytes);
    const model = loadSparrowModel(file, { codedInt8: true });
    expect(model.compression?.['source']).toBe('qoperator');
    expect(model.compression?.['activations']).toBe('dynamic');
    const a = await Session.fromSparrow(file, { engine: 'sparrow-int8' });
    expect(a.report!.int8!.mode).toBe('dynamic');
    const ort = await createOrtEngine('ort-node', bytes);
    for (let i = 0; i < 4; i++) {
      const x = f32([1, 3, 8, 8], rnd);
      expect(Array.from(await run(a, x))).toEqual(Array.from(await run(ort, x)));
    }
    await ort.dispose();
  });
});

describe('make-qoperator (QDQ → QOperator) and sparrow compress on a QOperator model', () => {
  // x [1,3,8,8] → Conv(6) → Relu → Conv(4) → Relu → Flatten → Gemm(W [10, 256], transB, bias) → y
  const rnd = lcg(77);
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
      w1: f32([6, 3, 3, 3], rnd, 0.5),
      b1: f32([6], rnd, 0.2),
      w2: f32([4, 6, 3, 3], rnd, 0.3),
      b2: f32([4], rnd, 0.2),
      w3: f32([10, 256], rnd, 0.1),
      b3: f32([10], rnd, 0.1),
    },
  });
  const calib = Array.from({ length: 16 }, () => ({ x: f32([1, 3, 8, 8], rnd) }));

  it('QLinearConv / QLinearMatMul with the QDQ parameters; every layer on the int8 kernels, onnxruntime bit for bit', async () => {
    for (const activations of ['uint8', 'int8'] as const) {
      const { bytes: qdq } = (await makeQdq(float, calib, { activations })) as { bytes: Uint8Array };
      const { bytes, report } = makeQOperator(qdq) as { bytes: Uint8Array; report: Record<string, unknown> };
      expect(report).toEqual({ qlinearConv: 2, qlinearMatMul: 0, gemmAsMatMul: 1, left: [] });
      const ops = onnxRuntime.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType);
      expect(ops.filter((o) => o === 'QLinearConv').length).toBe(2);
      expect(ops).not.toContain('Conv');
      const s = await sameBitsAsOrt(bytes, [1, 3, 8, 8], rnd, 4, 1);
      expect(s.report!.int8!.layers.map((l) => [l.op, l.io])).toEqual([
        ['Conv', 'i8'],
        ['Conv', 'i8'],
        ['MatMul', 'i8'],
      ]);
      // only the Gemm's bias Add (float, after the QLinearMatMul's DequantizeLinear) is not an int8 kernel
      expect(s.report!.fallbackOps.map((f) => f.op)).toEqual(['Add']);
    }
  });

  it('sparrow compress keeps the QOperator int8 weights; the .sparrow runs bit for bit as the model in sparrow-int8', async () => {
    const { bytes: qdq } = (await makeQdq(float, calib)) as { bytes: Uint8Array };
    const { bytes } = makeQOperator(qdq) as { bytes: Uint8Array };
    const { bytes: file } = await compressOnnx(bytes);
    const model = loadSparrowModel(file, { codedInt8: true });
    expect(model.compression?.['source']).toBe('qoperator');
    expect(model.activationRanges!.size).toBeGreaterThan(0);
    // the stored weights are the model's int8 initializers, byte for byte
    const proto = onnxRuntime.ModelProto.decode(bytes);
    const int8Inits = proto.graph!.initializer!.filter((t) => t.dataType === 3 && t.dims!.length > 1);
    expect(model.coded.size).toBe(int8Inits.length);
    for (const t of int8Inits) {
      const c = [...model.coded.entries()].find(([k]) => k.startsWith(t.name!));
      expect(c, t.name!).toBeDefined();
      const q = decodeInt8Ref(c![1].codec, c![1].payload, t.rawData!.length);
      const want = new Int8Array(t.rawData!.buffer, t.rawData!.byteOffset, t.rawData!.length);
      expect(Array.from(q), t.name!).toEqual(Array.from(want));
    }
    const a = await Session.fromOnnx(bytes, { engine: 'sparrow-int8' });
    const b = await Session.fromSparrow(file, { engine: 'sparrow-int8' });
    const ort = await createOrtEngine('ort-node', bytes);
    for (let i = 0; i < 4; i++) {
      const x = f32([1, 3, 8, 8], rnd);
      const y = Array.from(await run(b, x));
      expect(y).toEqual(Array.from(await run(a, x)));
      expect(y).toEqual(Array.from(await run(ort, x)));
    }
    await ort.dispose();
  });
});
