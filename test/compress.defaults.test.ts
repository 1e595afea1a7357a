// The documented defaults of the library (as the CLI's): compressOnnx with calibration data
// stores static activation ranges unless asked otherwise, so Session.create picks sparrow-int8
// for the file; without calibration data the file has no ranges and sparrow-f32 is the default.
// Session.fromOnnx defaults to sparrow-f32 (README "Default engine").
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, type BuildValue } from '../src/onnx/build.js';
import { compressOnnx } from '../src/compress/compress.js';
import { defaultEngine, Session } from '../src/runtime/session.js';
import { runReference } from '../src/runtime/reference.js';
import { importOnnx } from '../src/onnx/import.js';
import type { Tensor } from '../src/ops/types.js';
import { lcg } from './helpers/tensors.js';

const v = (name: string, dims: (number | string)[]): BuildValue => ({ name, dtype: 'float32', dims });
function randn(dims: number[], seed: number): Tensor {
  const r = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => r() * 2 - 1) };
}
const onnx = buildModel({
  opsets: { '': 13 },
  inputs: [v('x', ['N', 3, 8, 8])],
  outputs: [v('y', ['N', 8, 8, 8])],
  initializers: { w: randn([8, 3, 3, 3], 1), b: randn([8], 2) },
  nodes: [
    { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Relu', inputs: ['c'], outputs: ['y'] },
  ],
});
const batches = [0, 1, 2, 3].map((k) => randn([1, 3, 8, 8], 10 + k));

describe('library defaults', () => {
  it('compressOnnx with calibration data stores static ranges; Session.create then runs sparrow-int8', async () => {
    const r = await compressOnnx(onnx, { sparsity: 0, calib: { batches, spec: 'test' } });
    expect(defaultEngine(r.bytes)).toBe('sparrow-int8');
    const s = await Session.create(r.bytes);
    expect(s.engine).toBe('sparrow-int8');
    // the int8 answer is close to the float model's (ranges measured on similar inputs)
    const x = randn([1, 3, 8, 8], 99);
    const got = (await s.run({ x }))['y']!;
    const want = runReference(importOnnx(onnx), { x })['y']!;
    let err = 0,
      mag = 0;
    for (let i = 0; i < want.data.length; i++) {
      err = Math.max(err, Math.abs(Number(got.data[i]) - Number(want.data[i])));
      mag = Math.max(mag, Math.abs(Number(want.data[i])));
    }
    expect(err).toBeLessThan(0.05 * mag);
  });

  it('without calibration data: dynamic (no ranges), sparrow-f32 by default; asking for dynamic with calib is kept', async () => {
    const plain = await compressOnnx(onnx, { sparsity: 0 });
    expect(defaultEngine(plain.bytes)).toBe('sparrow-f32');
    const dyn = await compressOnnx(onnx, { sparsity: 0, activations: 'dynamic', calib: { batches, spec: 'test' } });
    expect(defaultEngine(dyn.bytes)).toBe('sparrow-f32');
  });

  it('Session.fromOnnx defaults to sparrow-f32', async () => {
    const s = await Session.fromOnnx(onnx);
    expect(s.engine).toBe('sparrow-f32');
  });
});
