// A small float16 CNN (Conv, Relu, Add, MatMul, all in float16) made with the float16 export of
// src/onnx/float16_export.ts from a float32 one, in the three engines:
//   - against onnxruntime-node's float16 run, within float16 tolerance;
//   - bit for bit against the float32 twin (the float32 model with the float16-rounded weights,
//     fed the float16 input's values) with its output rounded to float16 once: what "computed in
//     float32, converted at the edges" promises, for each engine (sparrow-int8 against its own
//     float32 run, since it quantizes).
import { afterAll, describe, expect, it } from 'vitest';
import { buildModel, type BuildModel } from '../src/onnx/build.js';
import { toFloat16Model } from '../src/onnx/float16_export.js';
import { decodeModel, onnxRuntime } from '../src/onnx/proto.js';
import { importOnnx } from '../src/onnx/import.js';
import { createOrtEngine, type InferenceEngine } from '../src/runtime/ort.js';
import { Session, type EngineName } from '../src/runtime/session.js';
import { castTensor } from '../src/ops/ref/cast.js';
import { float16ToNumber, numberToFloat16 } from '../src/ops/float16.js';
import type { Tensor } from '../src/ops/types.js';
import '../src/ops/ref/index.js';

let seed = 7;
const rnd = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32 - 0.5;
};
const f32 = (dims: number[], scale: number, round16 = false): Tensor => {
  const n = dims.reduce((a, b) => a * b, 1);
  const v = Float32Array.from({ length: n }, () => rnd() * scale);
  if (round16) for (let i = 0; i < n; i++) v[i] = float16ToNumber(numberToFloat16(v[i]!));
  return { dtype: 'float32', dims, data: v };
};

/** x [N,3,8,8] → Conv 3→8 (3x3, pad 1) + bias → Relu → Conv 8→8 → Add (residual) → Relu → Flatten → MatMul [512,10] → Add bias → y [N,10]. */
function cnn(round16: boolean): BuildModel {
  return {
    nodes: [
      { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
      { op: 'Conv', inputs: ['r1', 'w2', 'b2'], outputs: ['c2'], attrs: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } },
      { op: 'Add', inputs: ['c2', 'r1'], outputs: ['s'] },
      { op: 'Relu', inputs: ['s'], outputs: ['r2'] },
      { op: 'Flatten', inputs: ['r2'], outputs: ['f'] },
      { op: 'MatMul', inputs: ['f', 'w3'], outputs: ['m'] },
      { op: 'Add', inputs: ['m', 'b3'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 10] }],
    initializers: {
      w1: f32([8, 3, 3, 3], 0.8, round16),
      b1: f32([8], 0.2, round16),
      w2: f32([8, 8, 3, 3], 0.4, round16),
      b2: f32([8], 0.2, round16),
      w3: f32([512, 10], 0.1, round16),
      b3: f32([10], 0.5, round16),
    },
  };
}

const ENGINES: EngineName[] = ['reference', 'sparrow-f32', 'sparrow-int8'];

describe('a float16 CNN', () => {
  seed = 7;
  const float32Model = buildModel(cnn(false));
  seed = 7;
  const twinModel = buildModel(cnn(true)); // same weights, rounded to float16 values
  const fp16Model = onnxRuntime.ModelProto.encode(toFloat16Model(decodeModel(float32Model))).finish();
  const x32 = f32([4, 3, 8, 8], 4);
  const x16 = castTensor(x32, 'float16');
  const xv = castTensor(x16, 'float32'); // the float16 input's values
  let ort: InferenceEngine;
  afterAll(async () => {
    await ort?.dispose();
  });

  it('the float16 export: float16 initializers holding the rounded weights, float16 input and output', () => {
    const p = decodeModel(fp16Model);
    expect(p.graph!.initializer!.every((t) => t.dataType === 10)).toBe(true);
    expect(p.graph!.input![0]!.type!.tensorType!.elemType).toBe(10);
    expect(p.graph!.output![0]!.type!.tensorType!.elemType).toBe(10);
    const g = importOnnx(fp16Model),
      twin = importOnnx(twinModel);
    for (const w of ['w1', 'b1', 'w2', 'b2', 'w3', 'b3']) {
      expect(g.values.get(w)!.const!.data).toEqual(twin.values.get(w)!.const!.data);
    }
  });

  it('matches onnxruntime-node float16 within float16 tolerance (reference, sparrow-f32) and is the float32 twin rounded once (every engine)', async () => {
    ort = await createOrtEngine('ort-node', fp16Model);
    const want = castTensor((await ort.run({ x: x16 }))['y']!, 'float32').data as Float32Array;
    const scale = Math.max(...Array.from(want, Math.abs));
    for (const engine of ENGINES) {
      const s = await Session.fromOnnx(fp16Model, { engine });
      expect(s.inputInfo['x']!.dtype).toBe('float16');
      const y = (await s.run({ x: x16 }))['y']!;
      expect(y.dtype).toBe('float16');
      // the twin, same engine, rounded to float16 at the end: bit for bit
      const twin = (await (await Session.fromOnnx(twinModel, { engine })).run({ x: xv }))['y']!;
      expect(Array.from(y.data as Uint16Array), engine).toEqual(Array.from(castTensor(twin, 'float16').data as Uint16Array));
      if (engine === 'sparrow-int8') continue; // int8 weights: its own tolerance (test/engine.int8.test.ts)
      // onnxruntime rounds some intermediates to float16 where we keep float32: a few float16 ulps
      const got = castTensor(y, 'float32').data as Float32Array;
      for (let i = 0; i < got.length; i++) {
        expect(Math.abs(got[i]! - want[i]!), `${engine} element ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(
          4 * 2 ** -11 * Math.abs(want[i]!) + 2 ** -11 * scale,
        );
      }
    }
  });

  it('and is close to the float32 model itself (float16 weights and input: about 1e-3 relative)', async () => {
    const y16 = castTensor((await (await Session.fromOnnx(fp16Model, { engine: 'sparrow-f32' })).run({ x: x16 }))['y']!, 'float32');
    const y32 = (await (await Session.fromOnnx(float32Model, { engine: 'sparrow-f32' })).run({ x: x32 }))['y']!;
    const a = y16.data as Float32Array,
      b = y32.data as Float32Array;
    const scale = Math.max(...Array.from(b, Math.abs));
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / scale);
    expect(worst).toBeLessThan(1e-2);
    expect(worst).toBeGreaterThan(0); // the float16 rounding is visible
  });
});
