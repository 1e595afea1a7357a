// sparrow-int8 in dynamic mode (an ONNX model: weights quantized at load, activations per run):
//  - each image of a batch (each row of an FC) is quantized with its own range: a sample's result
//    is the same bits alone or next to a sample of a hundred times its range;
//  - the tail of the network stays float32 (layersToOutput: the most weight layers after a node
//    on a path to an output, so identity skips do not pull a residual stream into the head;
//    floatHead, default 3, capped at a quarter of the weight layers): those layers give what
//    sparrow-f32 gives, and the whole model is closer to onnxruntime-node than with floatHead 0;
//  - the float ops between layers run on the f32 WASM kernels (no reference fallback).
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, f32, type BuildNode } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { Session } from '../src/runtime/session.js';
import { layersToOutput } from '../src/runtime/int8/lower.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';
import { mulberry32 } from '../src/util/rng.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const rnd = mulberry32(17);
const W = (dims: number[], s: number) =>
  f32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rnd() * 2 - 1) * s),
  );

/**
 * x [N, 4, 8, 8] → `depth` × (Conv 3x3 8 ch + Relu) with an identity skip around every second conv
 * → GlobalAveragePool → Flatten → Gemm (6 classes) → Sigmoid·logits (a float op between layers).
 */
function model(depth: number): Uint8Array {
  const nodes: BuildNode[] = [];
  const inits: Record<string, Tensor> = {};
  let x = 'x',
    c = 4;
  for (let i = 0; i < depth; i++) {
    inits[`w${i}`] = W([8, c, 3, 3], 1 / Math.sqrt(9 * c));
    inits[`b${i}`] = W([8], 0.1);
    nodes.push({ op: 'Conv', inputs: [x, `w${i}`, `b${i}`], outputs: [`c${i}`], attrs: { pads: [1, 1, 1, 1] }, name: `conv${i}` });
    nodes.push({ op: 'Relu', inputs: [`c${i}`], outputs: [`r${i}`] });
    if (i % 2 === 1) {
      nodes.push({ op: 'Add', inputs: [`r${i}`, x], outputs: [`s${i}`] });
      x = `s${i}`;
    } else x = `r${i}`;
    c = 8;
  }
  inits['wf'] = W([6, 8], 0.5);
  inits['bf'] = W([6], 0.1);
  nodes.push(
    { op: 'GlobalAveragePool', inputs: [x], outputs: ['p'] },
    { op: 'Flatten', inputs: ['p'], outputs: ['f'] },
    { op: 'Gemm', inputs: ['f', 'wf', 'bf'], outputs: ['z'], attrs: { transB: 1 }, name: 'fc' },
    { op: 'Sigmoid', inputs: ['z'], outputs: ['g'] },
    { op: 'Mul', inputs: ['z', 'g'], outputs: ['y'] },
  );
  return buildModel({
    nodes,
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 4, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 6] }],
    initializers: inits,
  });
}

const input = (n: number, seed: number, scale = 1): Tensor => {
  const r = mulberry32(seed);
  return f32(
    [n, 4, 8, 8],
    Array.from({ length: n * 256 }, () => (r() * 2 - 1) * scale),
  );
};

const maxAbsDiff = (a: Tensor, b: Tensor): number => {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs((a.data[i] as number) - (b.data[i] as number)));
  return m;
};

describe('sparrow-int8 dynamic mode', () => {
  it('layersToOutput counts the most weight layers to an output, through skips', () => {
    const g = importOnnx(model(4));
    const d = layersToOutput(g);
    const by = (name: string) => d.get(g.nodes.find((n) => n.name === name)!);
    // conv3 → (add) → pool → fc: 1; conv0 → conv1 → … → fc: 4, though its skip reaches conv2 directly
    expect([by('conv0'), by('conv1'), by('conv2'), by('conv3'), by('fc')]).toEqual([4, 3, 2, 1, 0]);
  });

  it('each image of a batch is quantized with its own range: a sample gives the same bits alone and in a batch', async () => {
    const s = await Session.fromOnnx(model(4), { engine: 'sparrow-int8', wasmModule, floatHead: 0 });
    expect(s.report!.int8!.layers.length).toBe(5); // every layer quantized
    const a = input(1, 1),
      big = input(1, 2, 100);
    const both: Tensor = f32([2, 4, 8, 8], [...(big.data as Float32Array), ...(a.data as Float32Array)]);
    const alone = (await s.run({ x: a }))['y']!;
    const inBatch = (await s.run({ x: both }))['y']!;
    expect(Array.from((inBatch.data as Float32Array).slice(6))).toEqual(Array.from(alone.data as Float32Array));
  });

  it('the float head: the tail runs in float32, closer to onnxruntime-node than all-int8; floatHead 0 quantizes all', async () => {
    const bytes = model(12); // 13 weight layers: head min(3, floor(13 / 4)) = 3
    const head = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule });
    const none = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule, floatHead: 0 });
    const f = await Session.fromOnnx(bytes, { engine: 'sparrow-f32', wasmModule });
    const ort = await createOrtEngine('ort-node', bytes);
    try {
      const x = input(4, 9);
      await head.run({ x });
      await none.run({ x });
      expect(none.report!.int8!.layers.length).toBe(13);
      expect(head.report!.int8!.layers.map((l) => l.node)).not.toContain('fc');
      expect(head.report!.int8!.floatOps).toEqual(expect.arrayContaining(['fc', 'conv11', 'conv10']));
      expect(head.report!.int8!.layers.length).toBe(10);
      expect(head.report!.fallbackOps).toEqual([]); // Sigmoid, Mul, the pool, the float head: WASM kernels
      let dHead = 0,
        dNone = 0;
      for (let k = 0; k < 5; k++) {
        const xs = { x: input(2, 100 + k) };
        const want = (await ort.run(xs))['y']!;
        dHead = Math.max(dHead, maxAbsDiff((await head.run(xs))['y']!, want));
        dNone = Math.max(dNone, maxAbsDiff((await none.run(xs))['y']!, want));
        // float32 engine: within 1e-5 of ORT (a check of the oracle itself)
        expect(maxAbsDiff((await f.run(xs))['y']!, want)).toBeLessThan(1e-4);
      }
      expect(dHead).toBeLessThan(dNone);
    } finally {
      await ort.dispose();
    }
  });

  it('quantizeLayer picks the quantized layers instead of the head rule; the others give the float bits', async () => {
    const bytes = model(12);
    const one = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule, quantizeLayer: (n) => n === 'fc' });
    const none = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule, quantizeLayer: () => false });
    const f = await Session.fromOnnx(bytes, { engine: 'sparrow-f32', wasmModule });
    const x = input(1, 5);
    const a = (await one.run({ x }))['y']!;
    expect(one.report!.int8!.layers.map((l) => l.node)).toEqual(['fc']);
    expect(maxAbsDiff(a, (await f.run({ x }))['y']!)).toBeGreaterThan(0);
    expect(Array.from((await none.run({ x }))['y']!.data as Float32Array)).toEqual(
      Array.from((await f.run({ x }))['y']!.data as Float32Array),
    );
    expect(none.report!.int8!.layers).toEqual([]);
  });

  it('a small model is not all head: a quarter of its weight layers stay float, at least its output layer', async () => {
    const s = await Session.fromOnnx(model(2), { engine: 'sparrow-int8', wasmModule }); // 3 layers: head 1
    await s.run({ x: input(1, 3) });
    expect(s.report!.int8!.layers.map((l) => l.node)).toEqual(['conv0', 'conv1']);
    const one = buildModel({
      nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], name: 'c' }],
      inputs: [{ name: 'x', dtype: 'float32', dims: [1, 4, 8, 8] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: null }],
      initializers: { w: W([2, 4, 3, 3], 0.3) },
    });
    const s1 = await Session.fromOnnx(one, { engine: 'sparrow-int8', wasmModule }); // 1 layer: head 0
    await s1.run({ x: input(1, 3) });
    expect(s1.report!.int8!.layers.map((l) => l.node)).toEqual(['c']);
  });

  it('rejects a bad floatHead', async () => {
    await expect(Session.fromOnnx(model(2), { engine: 'sparrow-int8', wasmModule, floatHead: -1 })).rejects.toThrow(
      /floatHead must be a non-negative integer/,
    );
  });
});

describe('sparrow-int8: 1-D convolutions run as 2-D ones of height 1', () => {
  // x [N, 4, 50] → Conv1d 4→8 k5 s2 p2 → Relu → depthwise Conv1d k3 d2 p2 → Conv1d 8→6 k1 (groups 2)
  const bytes = buildModel({
    nodes: [
      { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['a'], attrs: { strides: [2], pads: [2, 2] }, name: 'c1' },
      { op: 'Relu', inputs: ['a'], outputs: ['ar'] },
      { op: 'Conv', inputs: ['ar', 'w2', 'b2'], outputs: ['b'], attrs: { group: 8, dilations: [2], pads: [2, 2] }, name: 'dw' },
      { op: 'Conv', inputs: ['b', 'w3'], outputs: ['y'], attrs: { group: 2 }, name: 'pw' },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 4, 50] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: null }],
    initializers: { w1: W([8, 4, 5], 0.3), b1: W([8], 0.1), w2: W([8, 1, 3], 0.5), b2: W([8], 0.1), w3: W([6, 4, 1], 0.5) },
  });
  it('the 1-D convs quantized but the depthwise one (float32 in dynamic mode); SIMD = scalar bit for bit; within 2 % of onnxruntime-node', async () => {
    const simd = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule, floatHead: 0 });
    const scalar = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule, floatHead: 0, kernels: 'scalar' });
    const ort = await createOrtEngine('ort-node', bytes);
    try {
      const r = mulberry32(4);
      const x = f32(
        [2, 4, 50],
        Array.from({ length: 400 }, () => r() * 2 - 1),
      );
      const a = (await simd.run({ x }))['y']!,
        b = (await scalar.run({ x }))['y']!,
        want = (await ort.run({ x }))['y']!;
      expect(simd.report!.int8!.layers.map((l) => [l.node, l.io])).toEqual([
        ['c1', 'dyn'],
        ['pw', 'dyn'],
      ]);
      // dynamic mode runs a depthwise conv in float32 (and this dilated one would take the general path)
      expect(simd.report!.int8!.floatOps).toContain('dw');
      expect(simd.report!.fallbackOps).toEqual([]);
      expect(a.dims).toEqual(want.dims);
      expect(Array.from(a.data as Float32Array)).toEqual(Array.from(b.data as Float32Array));
      const range = Math.max(...Array.from(want.data as Float32Array, Math.abs));
      expect(maxAbsDiff(a, want)).toBeLessThan(0.02 * range);
      expect(maxAbsDiff(a, want)).toBeGreaterThan(0); // quantized, not float
    } finally {
      await ort.dispose();
    }
  });
});

describe('sparrow-int8 dynamic: activations other than clamps fuse into the layers', () => {
  // Conv + HardSwish → Conv + x·Sigmoid(x) (SiLU) → GlobalAveragePool → Gemm + Tanh
  const bytes = buildModel({
    nodes: [
      { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] }, name: 'c1' },
      { op: 'HardSwish', inputs: ['a'], outputs: ['ah'] },
      { op: 'Conv', inputs: ['ah', 'w2', 'b2'], outputs: ['b'], name: 'c2' },
      { op: 'Sigmoid', inputs: ['b'], outputs: ['bs'] },
      { op: 'Mul', inputs: ['b', 'bs'], outputs: ['bm'] },
      { op: 'GlobalAveragePool', inputs: ['bm'], outputs: ['p'] },
      { op: 'Flatten', inputs: ['p'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'wf', 'bf'], outputs: ['z'], attrs: { transB: 1 }, name: 'fc' },
      { op: 'Tanh', inputs: ['z'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 4, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 6] }],
    opsets: { '': 14 },
    initializers: {
      w1: W([8, 4, 3, 3], 0.4),
      b1: W([8], 0.2),
      w2: W([8, 8, 1, 1], 0.6),
      b2: W([8], 0.2),
      wf: W([6, 8], 1),
      bf: W([6], 0.1),
    },
  });
  it('no float op is left between the layers; SIMD = scalar; close to onnxruntime-node', async () => {
    const simd = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule, floatHead: 0 });
    const scalar = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule, floatHead: 0, kernels: 'scalar' });
    const ort = await createOrtEngine('ort-node', bytes);
    try {
      const x = input(1, 21);
      const a = (await simd.run({ x }))['y']!,
        want = (await ort.run({ x }))['y']!;
      expect(simd.report!.int8!.layers.map((l) => l.node)).toEqual(['c1', 'c2', 'fc']);
      expect(simd.report!.int8!.floatOps.filter((o) => !/pool|flatten/i.test(o))).toEqual([]);
      expect(Array.from(a.data as Float32Array)).toEqual(Array.from((await scalar.run({ x }))['y']!.data as Float32Array));
      expect(maxAbsDiff(a, want)).toBeLessThan(0.02);
    } finally {
      await ort.dispose();
    }
  });
});
