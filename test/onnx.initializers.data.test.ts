// The ONNX initializer readers (src/onnx/initializers.ts) on the real models of ../shared/data
// (or $SPARROW_DATA): mnist-8's typed fields, the ResNets' raw_data weights and their shapes, and
// every proper prefix of mnist-8.onnx rejected. Synthetic cases: test/onnx.initializers.test.ts.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { decodeModel } from '../src/onnx/proto.js';
import { listInitializers, weightTensors } from '../src/onnx/initializers.js';
import { SparrowError } from '../src/errors.js';
import { dataPath, haveData } from './helpers/data.js';

const MODELS = dataPath('models');
const HAVE_MODELS = haveData(
  'the real-model initializer tests',
  'models/mnist-8.onnx',
  'models/resnet20-cifar10.onnx',
  'models/resnet32-cifar10.onnx',
);
const load = (f: string) => decodeModel(new Uint8Array(readFileSync(`${MODELS}/${f}`)));
const product = (d: number[]) => d.reduce((a, b) => a * b, 1);

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a SparrowError').toBeInstanceOf(SparrowError);
  expect((thrown as SparrowError).code).toBe(code);
}

// ResNet CIFAR-10 (option A, BN folded): conv1, then 3 stages of n basic blocks (2 convs each), then Gemm.
function resnetConvShapes(n: number): number[][] {
  const shapes: number[][] = [[16, 3, 3, 3]];
  let cin = 16;
  for (const cout of [16, 32, 64]) {
    for (let b = 0; b < n; b++) {
      shapes.push([cout, cin, 3, 3], [cout, cout, 3, 3]);
      cin = cout;
    }
  }
  return shapes;
}

describe.runIf(HAVE_MODELS)('real models (../shared/data/models)', () => {
  it('mnist-8: Conv 8x1x5x5, Conv 16x8x5x5, MatMul 256x10 (through a constant Reshape of 16x4x4x10)', () => {
    const m = load('mnist-8.onnx');
    const ws = weightTensors(m);
    expect(ws.map((w) => [w.op, w.name, w.dims, w.storedDims])).toEqual([
      ['Conv', 'Parameter5', [8, 1, 5, 5], [8, 1, 5, 5]],
      ['Conv', 'Parameter87', [16, 8, 5, 5], [16, 8, 5, 5]],
      ['MatMul', 'Parameter193', [256, 10], [16, 4, 4, 10]],
    ]);
    expect(ws[2]!.input).toBe('Parameter193_reshape1');
    expect(ws[2]!.node).toBe('Times212');
    expect(ws.every((w) => w.transB === undefined)).toBe(true);
    expect(ws.reduce((a, w) => a + w.data.length, 0)).toBe(5960);

    // mnist-8 stores its initializers in the typed fields (float_data / int64_data), not raw_data.
    const all = listInitializers(m);
    expect(all.length).toBe(8);
    expect(all.every((t) => t.source === 'initializer')).toBe(true);
    expect(all.filter((t) => t.dtype === 'float32').reduce((a, t) => a + t.data.length, 0)).toBe(5994); // "6k params"
    const shape = all.find((t) => t.name === 'Parameter193_reshape1_shape')!;
    expect(shape.dtype).toBe('int64');
    expect(Array.from(shape.data as BigInt64Array)).toEqual([256n, 10n]);
  });

  for (const [file, blocks, weightCount, weightParams, floatParams, initCount] of [
    ['resnet20-cifar10.onnx', 3, 20, 268_336, 269_036, 60],
    ['resnet32-cifar10.onnx', 5, 32, 461_872, 463_020, 84],
  ] as const) {
    it(`${file}: ${weightCount - 1} Conv + 1 Gemm (transB) weights, ${weightParams} weight params`, () => {
      const m = load(file);
      const ws = weightTensors(m);
      expect(ws.length).toBe(weightCount);
      expect(ws.slice(0, -1).every((w) => w.op === 'Conv')).toBe(true);
      expect(ws.slice(0, -1).map((w) => w.dims)).toEqual(resnetConvShapes(blocks));
      const gemm = ws.at(-1)!;
      expect([gemm.op, gemm.name, gemm.dims, gemm.transB]).toEqual(['Gemm', 'linear.weight', [10, 64], true]);
      expect(ws[0]!.dims).toEqual([16, 3, 3, 3]);
      for (const w of ws) {
        expect(w.data).toBeInstanceOf(Float32Array);
        expect(w.data.length).toBe(product(w.dims));
        expect(w.dims).toEqual(w.storedDims);
        expect(w.data.byteOffset % 4).toBe(0);
        expect(w.data.every(Number.isFinite)).toBe(true);
      }
      expect(ws.reduce((a, w) => a + w.data.length, 0)).toBe(weightParams);

      // All initializers are raw_data here: 18 int64 (Pad / Slice parameters) and float32 weights + biases.
      const all = listInitializers(m);
      expect(all.length).toBe(initCount);
      expect(all.filter((t) => t.dtype === 'int64').length).toBe(18);
      expect(all.filter((t) => t.dtype === 'float32').reduce((a, t) => a + t.data.length, 0)).toBe(floatParams);
      const ints = all.filter((t) => t.dtype === 'int64').flatMap((t) => Array.from(t.data as BigInt64Array));
      expect(ints).toContain(9223372036854775807n); // Slice "to the end": INT64_MAX survives raw_data decoding
    });
  }

  it('every proper prefix of mnist-8.onnx is rejected as invalid_model', () => {
    const bytes = new Uint8Array(readFileSync(`${MODELS}/mnist-8.onnx`));
    for (let n = 0; n < bytes.length; n += n > bytes.length - 200 ? 1 : 53) {
      expectCode(() => decodeModel(bytes.subarray(0, n)), 'invalid_model');
    }
    expect(() => decodeModel(bytes)).not.toThrow();
  });
});
