// The sparrow-int8 engine (src/runtime/engine_int8.ts):
//   (a) whole models (mnist-8, ResNet-20 with static activation ranges: the committed fixtures of
//       test/fixtures/int8/, `npm run fixtures:int8`) give bit-identical outputs through the WASM
//       SIMD kernels and their scalar TS references, on real images from examples/calib/;
//   (b) every lowered op on small synthetic graphs: SIMD = scalar references bit for bit, no
//       fallback, close to the float engine on the same (dequantized) weights; one Conv checked
//       against a hand-written int8 pipeline (quantize → qs8Conv2dRef → float output stage);
//       dense and sparse conv kernels agree exactly;
//   (c) accuracy on real data: test/engine.int8.data.test.ts;
//   (d) dynamic mode (a file without ranges, and an ONNX model): runs, close to float.
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, f32, type BuildNode } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { compressGraph } from '../src/compress/compress.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import { loadSparrowModel } from '../src/runtime/sparrow_model.js';
import { argmaxRow, imageBatch } from '../src/io/datasets.js';
import { int8QuantParams, quantizeBiasInt32 } from '../src/quant/int8.js';
import { qs8Conv2dRef, quantizeRef } from '../src/kernels/int8_ref.js';
import type { Tensor } from '../src/ops/types.js';
import { readFileSync } from 'node:fs';
import { lcg, uniformTensor as rand } from './helpers/tensors.js';
import { bundledImages, type BundledSet } from './helpers/bundled.js';
import { SparrowError } from '../src/errors.js';
import { readContainer, writeContainer } from '../src/format/container.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const I8 = (o: SessionOptions = {}): SessionOptions => ({ ...o, engine: 'sparrow-int8', wasmModule });

function sameBits(a: Record<string, Tensor>, b: Record<string, Tensor>): string | null {
  for (const [k, t] of Object.entries(a)) {
    const u = b[k]!;
    if (t.dims.join() !== u.dims.join()) return `${k}: dims differ`;
    for (let i = 0; i < t.data.length; i++) if (!Object.is(t.data[i], u.data[i])) return `${k}[${i}]: ${t.data[i]} vs ${u.data[i]}`;
  }
  return null;
}
function maxAbs(a: Tensor, b: Tensor): number {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs((a.data[i] as number) - (b.data[i] as number)));
  return m;
}
function range(t: Tensor): number {
  let lo = Infinity,
    hi = -Infinity;
  for (const v of t.data as Float32Array) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return hi - lo;
}

/** A .sparrow file with static ranges of an ONNX model, compressed here (magnitude pruning). */
async function staticFile(
  onnx: Uint8Array,
  batches: Tensor[],
  o: {
    sparsity?: number;
    activations?: 'static' | 'dynamic';
    denseEnds?: boolean;
    pre?: { mean?: number[]; std?: number[] };
    pattern?: 'pairs' | 'unstructured';
  } = {},
): Promise<Uint8Array> {
  const g = importOnnx(onnx);
  optimize(g);
  const r = await compressGraph(g, {
    sparsity: o.sparsity ?? 0.7,
    activations: o.activations ?? 'static',
    calib: { batches, spec: 'test' },
    ...(o.denseEnds !== undefined ? { denseEnds: o.denseEnds } : {}),
    ...(o.pre ? { preprocessing: { scale: 1 / 255, ...o.pre } } : {}),
    ...(o.pattern ? { sparsityPattern: o.pattern } : {}),
  });
  return r.bytes;
}

// ---------------------------------------------------------------------------------------------
// (b) synthetic graphs, one lowered op (or a short chain) each

interface Synth {
  label: string;
  x: number[];
  nodes: BuildNode[];
  consts: Record<string, Tensor>;
  kernels?: RegExp;
}

const W = (dims: number[], seed: number) => rand(dims, seed, -0.5, 0.5);
const SYNTH: Synth[] = [
  {
    label: 'Conv 3x3 pad 1 + Relu',
    x: [1, 3, 9, 11],
    consts: { w: W([8, 3, 3, 3], 1), b: W([8], 2) },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c'], outputs: ['y'] },
    ],
  },
  {
    label: 'Conv stride 2 → Conv (int8 → int8 requantization)',
    x: [1, 4, 10, 10],
    consts: { w: W([8, 4, 3, 3], 3), b: W([8], 4), w2: W([6, 8, 1, 1], 5) },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } },
      { op: 'Conv', inputs: ['c', 'w2'], outputs: ['y'] },
    ],
  },
  {
    label: 'depthwise Conv + Clip',
    x: [1, 6, 8, 8],
    consts: { w: W([6, 1, 3, 3], 6), b: W([6], 7), lo: f32([], [0]), hi: f32([], [0.5]) },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { group: 6, pads: [1, 1, 1, 1] } },
      { op: 'Clip', inputs: ['c', 'lo', 'hi'], outputs: ['d'] },
      { op: 'Conv', inputs: ['d', 'w2'], outputs: ['y'] },
    ],
    kernels: /dwconv/,
  },
  {
    label: 'MaxPool, GlobalAveragePool, Flatten, Gemm',
    x: [1, 4, 8, 8],
    consts: { w: W([8, 4, 3, 3], 8), g: W([5, 8], 9), gb: W([5], 10) },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'MaxPool', inputs: ['c'], outputs: ['p'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
      { op: 'GlobalAveragePool', inputs: ['p'], outputs: ['a'] },
      { op: 'Flatten', inputs: ['a'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'g', 'gb'], outputs: ['y'], attrs: { transB: 1 } },
    ],
  },
  {
    label: 'residual Add + Relu, Slice, Pad, AveragePool (global), MatMul + Add',
    x: [1, 4, 8, 8],
    consts: { w: W([4, 4, 3, 3], 11), w2: W([8, 4, 3, 3], 12), m: W([8, 3], 13), mb: W([3], 14) },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Add', inputs: ['c', 'x'], outputs: ['s'] },
      { op: 'Relu', inputs: ['s'], outputs: ['r'] },
      { op: 'Slice', inputs: ['r', 'st', 'en', 'ax', 'sp'], outputs: ['sl'] },
      { op: 'Pad', inputs: ['sl', 'pads'], outputs: ['pd'] },
      { op: 'Conv', inputs: ['r', 'w2'], outputs: ['c2'], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } },
      { op: 'Add', inputs: ['c2', 'pd'], outputs: ['s2'] },
      { op: 'AveragePool', inputs: ['s2'], outputs: ['ap'], attrs: { kernel_shape: [4, 4] } },
      { op: 'Flatten', inputs: ['ap'], outputs: ['f'] },
      { op: 'MatMul', inputs: ['f', 'm'], outputs: ['mm'] },
      { op: 'Add', inputs: ['mm', 'mb'], outputs: ['y'] },
    ],
  },
  {
    // MobileNetV3 as exported at opset 13: HardSwish as x·HardSigmoid(x), a squeeze-excite gate
    // (GlobalAveragePool → 1x1 convs → HardSigmoid → Mul): ops without int8 kernels between int8
    // layers read float32 outputs (outForm) and run on the float32 kernels, not as fallbacks
    label: 'Conv → HardSigmoid·Mul (HardSwish) → depthwise → squeeze-excite Mul → Conv',
    x: [1, 4, 9, 9],
    consts: {
      w: W([8, 4, 1, 1], 40),
      b: W([8], 41),
      wd: W([8, 1, 3, 3], 42),
      bd: W([8], 43),
      w1: W([4, 8, 1, 1], 44),
      w2: W([8, 4, 1, 1], 45),
      b2: W([8], 46),
      w3: W([5, 8, 1, 1], 47),
    },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'] },
      { op: 'HardSigmoid', inputs: ['c'], outputs: ['hc'], attrs: { alpha: 1 / 6, beta: 0.5 } },
      { op: 'Mul', inputs: ['c', 'hc'], outputs: ['h'] },
      { op: 'Conv', inputs: ['h', 'wd', 'bd'], outputs: ['d'], attrs: { group: 8, pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['d'], outputs: ['dr'] },
      { op: 'GlobalAveragePool', inputs: ['dr'], outputs: ['p'] },
      { op: 'Conv', inputs: ['p', 'w1'], outputs: ['s1'] },
      { op: 'Relu', inputs: ['s1'], outputs: ['r1'] },
      { op: 'Conv', inputs: ['r1', 'w2', 'b2'], outputs: ['s2'] },
      { op: 'HardSigmoid', inputs: ['s2'], outputs: ['g'], attrs: { alpha: 1 / 6, beta: 0.5 } },
      { op: 'Mul', inputs: ['dr', 'g'], outputs: ['m'] },
      { op: 'Conv', inputs: ['m', 'w3'], outputs: ['y'] },
    ],
    kernels: /dwconv/,
  },
];
SYNTH[2]!.consts['w2'] = W([4, 6, 1, 1], 15);
Object.assign(SYNTH[4]!.consts, {
  st: { dtype: 'int64', dims: [2], data: BigInt64Array.of(0n, 0n) },
  en: { dtype: 'int64', dims: [2], data: BigInt64Array.of(8n, 8n) },
  ax: { dtype: 'int64', dims: [2], data: BigInt64Array.of(2n, 3n) },
  sp: { dtype: 'int64', dims: [2], data: BigInt64Array.of(2n, 2n) },
  pads: { dtype: 'int64', dims: [8], data: BigInt64Array.of(0n, 2n, 0n, 0n, 0n, 2n, 0n, 0n) },
} satisfies Record<string, Tensor>);

function synthOnnx(s: Synth): Uint8Array {
  return buildModel({
    nodes: s.nodes,
    inputs: [{ name: 'x', dtype: 'float32', dims: s.x }],
    outputs: [{ name: 'y', dtype: 'float32', dims: null }],
    initializers: s.consts,
    opsets: { '': 17 },
  });
}

describe('sparrow-int8: lowered ops on synthetic graphs (static ranges)', () => {
  for (const s of SYNTH) {
    it(s.label, async () => {
      const calib = [0, 1, 2, 3].map((k) => rand(s.x, 100 + k));
      const file = await staticFile(synthOnnx(s), calib, { sparsity: 0.6, denseEnds: false });
      const simd = await Session.fromSparrow(file, I8());
      const scalar = await Session.fromSparrow(file, I8({ kernels: 'scalar' }));
      const dense = await Session.fromSparrow(file, I8({ sparseDensity: 0 }));
      const sparse = await Session.fromSparrow(file, I8({ sparseDensity: 1 }));
      const fl = await Session.fromSparrow(file, { engine: 'sparrow-f32', wasmModule });
      for (const seed of [100, 200]) {
        const feeds = { x: rand(s.x, seed) };
        const a = await simd.run(feeds);
        expect(sameBits(a, await scalar.run(feeds)), 'SIMD vs scalar references').toBeNull();
        expect(sameBits(a, await dense.run(feeds)), 'dense vs default kernels').toBeNull();
        expect(sameBits(a, await sparse.run(feeds)), 'sparse vs default kernels').toBeNull();
        const want = (await fl.run(feeds))['y']!;
        expect(maxAbs(a['y']!, want), 'close to float').toBeLessThan(0.08 * range(want) + 1e-3);
      }
      expect(simd.report!.fallbackOps).toEqual([]);
      expect(simd.report!.int8!.mode).toBe('static');
      if (s.kernels) expect(simd.report!.int8!.layers.map((l) => l.kernel).join()).toMatch(s.kernels);
      expect(sparse.report!.int8!.layers.some((l) => /spconv/.test(l.kernel))).toBe(true);
    });
  }

  it('pair-pruned convs (--sparsity-pattern pairs) run on the pair-block kernel, bit-identical to the scalar references and to the other kernels', async () => {
    // odd K (5·3·3 = 45), stride 2, groups 2, a 1x1 conv; pixels not a multiple of 16
    const x = [1, 5, 11, 13];
    const onnx = buildModel({
      nodes: [
        { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['c'], outputs: ['r'] },
        { op: 'Conv', inputs: ['r', 'w2', 'b2'], outputs: ['d'], attrs: { pads: [1, 1, 1, 1], strides: [2, 2], group: 2 } },
        { op: 'Conv', inputs: ['d', 'w3'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: x }],
      outputs: [{ name: 'y', dtype: 'float32', dims: null }],
      initializers: { w: W([12, 5, 3, 3], 31), b: W([12], 32), w2: W([12, 6, 3, 3], 33), b2: W([12], 34), w3: W([7, 12, 1, 1], 35) },
      opsets: { '': 17 },
    });
    const calib = [0, 1, 2].map((k) => rand(x, 400 + k));
    const file = await staticFile(onnx, calib, { sparsity: 0.5, denseEnds: false, pattern: 'pairs' });
    const simd = await Session.fromSparrow(file, I8());
    const scalar = await Session.fromSparrow(file, I8({ kernels: 'scalar' }));
    const nz = await Session.fromSparrow(file, I8({ sparseDensity: 1 }));
    const dense = await Session.fromSparrow(file, I8({ sparseDensity: 0 }));
    const kernels = simd.report!.int8!.layers.map((l) => l.kernel);
    expect(kernels.filter((k) => k === 'qs8_spconv2d_16x1c2__wasmsimd').length, kernels.join()).toBeGreaterThanOrEqual(2);
    expect(dense.report!.int8!.layers.every((l) => !/spconv/.test(l.kernel))).toBe(true);
    for (const seed of [1, 2, 3]) {
      const feeds = { x: rand(x, 500 + seed) };
      const a = await simd.run(feeds);
      expect(sameBits(a, await scalar.run(feeds)), 'pair-block SIMD vs scalar references').toBeNull();
      expect(sameBits(a, await dense.run(feeds)), 'vs the dense kernel').toBeNull();
      expect(sameBits(a, await nz.run(feeds)), 'vs the kernels at sparseDensity 1').toBeNull();
    }
  });

  it('Conv → float output equals a hand-written int8 pipeline (quantize, qs8Conv2dRef, f32 output stage)', async () => {
    const s = SYNTH[0]!;
    const file = await staticFile(
      synthOnnx(s),
      [0, 1, 2].map((k) => rand(s.x, 300 + k)),
      { sparsity: 0.5, denseEnds: false },
    );
    const model = loadSparrowModel(file);
    const sess = await Session.fromSparrow(file, I8());
    const x = rand(s.x, 7);
    const got = (await sess.run({ x }))['y']!;
    // by hand: the input's static parameters, the stored int8 weight, the stored float bias
    const r = model.activationRanges!.get('x')!;
    const p = int8QuantParams({ min: r[0], max: r[1] });
    const q = model.int8.get('w')!;
    const bias = model.graph.values.get('b')!.const!.data as Float32Array;
    const xq = quantizeRef(x.data as Float32Array, p.scale, p.zeroPoint);
    const scale = Float32Array.from(q.scales, (sw) => Math.fround(p.scale * sw));
    const want = qs8Conv2dRef(
      xq,
      [3, 9, 11],
      q.q,
      q.dims,
      { pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], groups: 1 },
      { mode: 'f32', zx: p.zeroPoint, scale, bias, lo: 0, hi: Infinity },
    );
    expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
    // and the int32 bias of the int8 output stage is round(b / (s_x·s_w))
    expect(quantizeBiasInt32(bias, p.scale, q.scales).q.length).toBe(8);
  });
});

// ---------------------------------------------------------------------------------------------
// (a) whole models

/** test/fixtures/int8/make.mjs: magnitude 50 %, static ranges calibrated on records 0..127, preprocessing stored */
const MODELS: Array<{ name: string; file: string; images: BundledSet }> = [
  { name: 'mnist-8', file: 'test/fixtures/int8/mnist-8.static.sparrow', images: 'mnist-t10k-9000-9015' },
  { name: 'ResNet-20', file: 'test/fixtures/int8/resnet20.static.sparrow', images: 'cifar10-test-0-63' },
];

for (const m of MODELS) {
  describe(`sparrow-int8 on ${m.name} (static ranges)`, () => {
    it('(a) SIMD kernels and scalar references give bit-identical outputs', async () => {
      const file = new Uint8Array(readFileSync(m.file));
      const simd = await Session.fromSparrow(file, I8());
      const scalar = await Session.fromSparrow(file, I8({ kernels: 'scalar' }));
      const pre = simd.preprocessing!;
      expect(pre.scale).toBe(1 / 255);
      const set = bundledImages(m.images);
      for (let i = 0; i < 3; i++) {
        const feeds = {
          [simd.inputNames[0]!]: imageBatch(set, set.n - 1 - i, 1, {
            ...(pre.mean ? { mean: pre.mean } : {}),
            ...(pre.std ? { std: pre.std } : {}),
          }),
        };
        const a = await simd.run(feeds);
        expect(sameBits(a, await scalar.run(feeds))).toBeNull();
      }
      expect(simd.report!.fallbackOps).toEqual([]);
      const layers = simd.report!.int8!.layers;
      expect(layers.length).toBeGreaterThan(0);
      expect(layers.every((l) => l.io !== 'dyn')).toBe(true);
      expect(simd.report!.loadMs).toBeGreaterThan(0);
    }, 300_000);

    it('(b) both requantizations, float32 multipliers (default) and Q31: SIMD = scalar references, bit for bit; they differ in a few outputs', async () => {
      const file = new Uint8Array(readFileSync(m.file));
      const set = bundledImages(m.images);
      const outs: Record<string, Int32Array> = {};
      for (const rm of ['float32', 'q31'] as const) {
        const simd = await Session.fromSparrow(file, I8({ requantMultiplier: rm }));
        const scalar = await Session.fromSparrow(file, I8({ requantMultiplier: rm, kernels: 'scalar' }));
        const pre = simd.preprocessing!;
        const bits: number[] = [];
        for (let i = 0; i < 4; i++) {
          const feeds = {
            [simd.inputNames[0]!]: imageBatch(set, i, 1, {
              ...(pre.mean ? { mean: pre.mean } : {}),
              ...(pre.std ? { std: pre.std } : {}),
            }),
          };
          const a = await simd.run(feeds);
          expect(sameBits(a, await scalar.run(feeds)), rm).toBeNull();
          const y = a[simd.outputNames[0]!]!.data as Float32Array;
          bits.push(...new Int32Array(y.buffer, y.byteOffset, y.length));
        }
        outs[rm] = Int32Array.from(bits);
      }
      // the two output stages round some int8 activations differently: the logits move
      expect(Array.from(outs['float32']!)).not.toEqual(Array.from(outs['q31']!));
    }, 300_000);
  });
}

// ---------------------------------------------------------------------------------------------
// (d) dynamic mode

describe('sparrow-int8: dynamic mode', () => {
  it('a .sparrow file without ranges: per-inference input quantization, float between layers, close to float', async () => {
    const s = SYNTH[4]!;
    const file = await staticFile(synthOnnx(s), [rand(s.x, 1)], { sparsity: 0.5, activations: 'dynamic', denseEnds: false });
    const i8 = await Session.fromSparrow(file, I8());
    const sc = await Session.fromSparrow(file, I8({ kernels: 'scalar' }));
    const fl = await Session.fromSparrow(file, { engine: 'sparrow-f32', wasmModule });
    expect(i8.report!.int8!.mode).toBe('dynamic');
    const feeds = { x: rand(s.x, 9) };
    const a = (await i8.run(feeds))['y']!,
      want = (await fl.run(feeds))['y']!;
    expect(maxAbs(a, want)).toBeLessThan(0.05 * range(want) + 1e-3);
    expect(i8.report!.int8!.layers.every((l) => l.io === 'dyn')).toBe(true);
    expect(i8.report!.int8!.floatOps.length).toBeGreaterThan(0);
    // deterministic: same bits twice, and through the scalar references
    expect(sameBits({ y: a }, await i8.run(feeds))).toBeNull();
    expect(sameBits({ y: a }, await sc.run(feeds))).toBeNull();
  });

  it('an ONNX model: weights quantized per channel at load (mnist-8), close to the float engine', async () => {
    const onnx = new Uint8Array(readFileSync('examples/models/mnist-8.onnx'));
    const i8 = await Session.fromOnnx(onnx, I8());
    const fl = await Session.fromOnnx(onnx, { engine: 'sparrow-f32', wasmModule });
    const x = imageBatch(bundledImages('mnist-t10k-9000-9015'), 0, 1);
    const a = (await i8.run({ [i8.inputNames[0]!]: x }))[i8.outputNames[0]!]!;
    const want = (await fl.run({ [fl.inputNames[0]!]: x }))[fl.outputNames[0]!]!;
    expect(i8.report!.int8!.mode).toBe('dynamic');
    expect(maxAbs(a, want)).toBeLessThan(0.05 * range(want));
    expect(argmaxRow(a, 0)).toBe(argmaxRow(want, 0));
  });
});

// ---------------------------------------------------------------------------------------------
// hostile coded weights: streams damaged after compression, CRCs made valid again (so the
// damage reaches the WASM decoders of the load path)

describe('sparrow-int8: damaged weight streams with valid CRCs', () => {
  it('load + run give a SparrowError or a working session, never a crash', async () => {
    const s = SYNTH[1]!;
    const file = await staticFile(
      synthOnnx(s),
      [0, 1, 2].map((k) => rand(s.x, 200 + k)),
      { sparsity: 0.6, denseEnds: false },
    );
    const { header, payload } = readContainer(file);
    const coded = header.sections.map((x, i) => i).filter((i) => header.sections[i]!.dtype === 0);
    expect(coded.length).toBeGreaterThan(0);
    const r = lcg(77);
    let errors = 0,
      ok = 0;
    for (let t = 0; t < 60; t++) {
      const sections = header.sections.map((x, i) => ({
        codec: x.codec,
        dtype: x.dtype,
        decodedBytes: x.decodedBytes,
        payload: payload(i).slice(),
      }));
      const victim = sections[coded[t % coded.length]!]!;
      const flips = 1 + Math.floor(r() * 4);
      for (let k = 0; k < flips && victim.payload.length; k++)
        victim.payload[Math.floor(r() * victim.payload.length)]! ^= 1 << Math.floor(r() * 8);
      if (t % 7 === 6) victim.payload = victim.payload.subarray(0, Math.floor(victim.payload.length / 2));
      let bytes: Uint8Array;
      try {
        bytes = writeContainer(header.meta, sections);
      } catch (e) {
        expect(e).toBeInstanceOf(SparrowError);
        continue;
      }
      try {
        const sess = await Session.fromSparrow(bytes, I8());
        await sess.run({ x: rand(s.x, t) });
        ok++;
      } catch (e) {
        if (!(e instanceof SparrowError)) throw e;
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(0); // the damage does reach the decoders
    expect(errors + ok).toBeGreaterThan(30);
  }, 120_000);
});
