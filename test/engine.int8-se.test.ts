// sparrow-int8, dynamic mode, squeeze-excite blocks (MobileNetV3 / EfficientNet): the 1x1 convs
// over the pooled 1x1 image run on the fused dynamic FC kernel (qs8_dynfc_f32__wasmsimd, one
// call) instead of the conv kernel's 4x8 tiles; the arithmetic is the conv path's: the SIMD
// engine equals the 'scalar' engine (whose convs run qs8Conv2dRef, the conv reference) bit for
// bit, per image of a batch with different ranges, with a NaN image, and stays as close to
// onnxruntime-node as int8 allows. A 1x1 conv over a larger image keeps the conv kernel.
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, f32, type BuildNode } from '../src/onnx/build.js';
import { Session } from '../src/runtime/session.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';
import { mulberry32 } from '../src/util/rng.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const rnd = mulberry32(29);
const W = (dims: number[], s: number) =>
  f32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rnd() * 2 - 1) * s),
  );

/**
 * x [N, 8, 6, 6] → Conv 3x3 (8 ch) + HardSwish → SE: GlobalAveragePool → Conv 1x1 8→4 + Relu
 * (fc1) → Conv 1x1 4→8 + HardSigmoid (fc2) → Mul → Conv 1x1 8→5 over 6x6 (proj) → y [N, 5, 6, 6].
 */
function seModel(): Uint8Array {
  const nodes: BuildNode[] = [
    { op: 'Conv', inputs: ['x', 'w0', 'b0'], outputs: ['c0'], attrs: { pads: [1, 1, 1, 1] }, name: 'conv0' },
    { op: 'HardSwish', inputs: ['c0'], outputs: ['h0'] },
    { op: 'GlobalAveragePool', inputs: ['h0'], outputs: ['p'] },
    { op: 'Conv', inputs: ['p', 'w1', 'b1'], outputs: ['c1'], name: 'fc1' },
    { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
    { op: 'Conv', inputs: ['r1', 'w2', 'b2'], outputs: ['c2'], name: 'fc2' },
    { op: 'HardSigmoid', inputs: ['c2'], outputs: ['g'], attrs: { alpha: 1 / 6, beta: 0.5 } },
    { op: 'Mul', inputs: ['h0', 'g'], outputs: ['m'] },
    { op: 'Conv', inputs: ['m', 'w3', 'b3'], outputs: ['y'], name: 'proj' },
  ];
  return buildModel({
    nodes,
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 8, 6, 6] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 5, 6, 6] }],
    opsets: { '': 14 }, // HardSwish
    initializers: {
      w0: W([8, 8, 3, 3], 0.3),
      b0: W([8], 0.1),
      w1: W([4, 8, 1, 1], 0.6),
      b1: W([4], 0.2),
      w2: W([8, 4, 1, 1], 0.8),
      b2: W([8], 0.3),
      w3: W([5, 8, 1, 1], 0.5),
      b3: W([5], 0.1),
    },
  });
}

const input = (n: number, seed: number, scales: number[]): Tensor => {
  const r = mulberry32(seed);
  const per = 8 * 36;
  return f32(
    [n, 8, 6, 6],
    Array.from({ length: n * per }, (_, i) => (r() * 2 - 1) * scales[Math.floor(i / per) % scales.length]!),
  );
};

/** First index where a and b differ as float32 bits (NaN = NaN); -1 when none. */
function firstDiff(a: Tensor, b: Tensor): number {
  const x = a.data as Float32Array,
    y = b.data as Float32Array;
  const xi = new Int32Array(x.buffer, x.byteOffset, x.length),
    yi = new Int32Array(y.buffer, y.byteOffset, y.length);
  for (let i = 0; i < x.length; i++) if (xi[i] !== yi[i] && !(Number.isNaN(x[i]) && Number.isNaN(y[i]))) return i;
  return x.length === y.length ? -1 : 0;
}

describe('sparrow-int8 dynamic: squeeze-excite FCs on the fused FC kernel', () => {
  it('fc1/fc2 (1x1 over 1x1) take qs8_dynfc_f32, the 1x1 over 6x6 and the 3x3 a conv kernel', async () => {
    const s = await Session.fromOnnx(seModel(), { engine: 'sparrow-int8', wasmModule, floatHead: 0 });
    try {
      await s.run({ x: input(1, 1, [1]) });
      const kernels = Object.fromEntries(s.report!.int8!.layers.map((l) => [l.node, l.kernel]));
      expect(kernels).toEqual({
        conv0: 'qs8_wino2x2_3x3__wasmsimd',
        fc1: 'qs8_dynfc_f32__wasmsimd',
        fc2: 'qs8_dynfc_f32__wasmsimd',
        proj: 'qs8_conv2d_4x8c2__wasmsimd',
      });
      expect(s.report!.fallbackOps).toEqual([]);
    } finally {
      await s.dispose();
    }
  });

  it('equals the scalar engine (the conv reference path) bit for bit: batches of different ranges, a NaN image', async () => {
    const bytes = seModel();
    const simd = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule, floatHead: 0 });
    const scalar = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule, floatHead: 0, kernels: 'scalar' });
    try {
      const nan = input(3, 7, [1, 50, 0.01]);
      (nan.data as Float32Array)[8 * 36 + 17] = NaN; // image 1
      for (const x of [input(1, 3, [1]), input(4, 5, [1, 100, 0.001, 7]), nan]) {
        const a = (await simd.run({ x })).y!,
          b = (await scalar.run({ x })).y!;
        expect(a.dims).toEqual(b.dims);
        const i = firstDiff(a, b);
        expect(i, i < 0 ? '' : `[${i}] simd ${a.data[i]} scalar ${b.data[i]}`).toBe(-1);
      }
      // the NaN image's output is NaN, the others are finite
      const y = (await simd.run({ x: nan })).y!.data as Float32Array;
      const per = 5 * 36;
      expect(Array.from(y.subarray(per, 2 * per)).every(Number.isNaN)).toBe(true);
      expect(Array.from(y.subarray(0, per)).every(Number.isFinite)).toBe(true);
      expect(Array.from(y.subarray(2 * per)).every(Number.isFinite)).toBe(true);
      expect(scalar.report!.int8!.layers.map((l) => l.kernel)).not.toContain('qs8_dynfc_f32__wasmsimd');
    } finally {
      await simd.dispose();
      await scalar.dispose();
    }
  });

  it('stays close to onnxruntime-node (max |Δ| ≤ 3 % of the output range)', async () => {
    const bytes = seModel();
    const s = await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule, floatHead: 0 });
    const ort = await createOrtEngine('ort-node', bytes);
    try {
      const x = input(2, 11, [1, 3]);
      const a = (await s.run({ x })).y!.data as Float32Array;
      const b = (await ort.run({ x })).y!.data as Float32Array;
      let d = 0,
        r = 0;
      for (let i = 0; i < b.length; i++) {
        d = Math.max(d, Math.abs(a[i]! - b[i]!));
        r = Math.max(r, Math.abs(b[i]!));
      }
      expect(r).toBeGreaterThan(0.1);
      expect(d).toBeLessThanOrEqual(0.03 * r);
    } finally {
      await s.dispose();
      await ort.dispose();
    }
  });
});
