// Tensor conversion Sparrow ⇄ ONNX Runtime for every Sparrow dtype, both ways, through real
// ORT sessions (an Identity model per dtype), plus the adapters' error paths.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../src/onnx/build.js';
import {
  createOrtEngine,
  fromOrtTensor,
  isOrtEngine,
  ortModule,
  sessionEngine,
  toOrtTensor,
  type InferenceEngine,
  type OrtEngineName,
} from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import { SparrowError } from '../src/errors.js';
import '../src/ops/ref/index.js';

// every IR dtype onnxruntime's JS API has (it has no bfloat16 tensors)
const DTYPES: TensorDType[] = [
  'float32',
  'int64',
  'int32',
  'int8',
  'uint8',
  'bool',
  'float64',
  'float16',
  'uint64',
  'uint32',
  'int16',
  'uint16',
];

function sample(dtype: TensorDType): Tensor {
  const dims = [2, 3];
  switch (dtype) {
    case 'float32':
      return { dtype, dims, data: Float32Array.from([0, -1.5, 3.25, 1e-30, -0, 65504.5]) };
    case 'int64':
      return { dtype, dims, data: BigInt64Array.from([0n, -1n, 2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n, 7n]) };
    case 'int32':
      return { dtype, dims, data: Int32Array.from([0, -1, 2 ** 31 - 1, -(2 ** 31), 5, 6]) };
    case 'int8':
      return { dtype, dims, data: Int8Array.from([0, -1, 127, -128, 5, 6]) };
    case 'uint8':
      return { dtype, dims, data: Uint8Array.from([0, 1, 255, 128, 5, 6]) };
    case 'bool':
      return { dtype, dims, data: Uint8Array.from([0, 1, 1, 0, 1, 0]) };
    case 'float64': // float32 values: Sparrow computes a float64 model in float32 (src/ops/types.ts)
      return { dtype, dims, data: Float64Array.from([0, -1.5, 3.25, Math.fround(1e-30), -0, Math.fround(1e38)]) };
    case 'float16': // bits: 0, -0, 1, 65504, -Inf, the smallest subnormal
      return { dtype, dims, data: Uint16Array.from([0, 0x8000, 0x3c00, 0x7bff, 0xfc00, 1]) };
    case 'uint64':
      return { dtype, dims, data: BigUint64Array.from([0n, 1n, 2n ** 64n - 1n, 2n ** 63n, 2n ** 53n + 1n, 7n]) };
    case 'uint32':
      return { dtype, dims, data: Uint32Array.from([0, 1, 2 ** 32 - 1, 2 ** 31, 5, 6]) };
    case 'int16':
      return { dtype, dims, data: Int16Array.from([0, -1, 32767, -32768, 5, 6]) };
    case 'uint16':
      return { dtype, dims, data: Uint16Array.from([0, 1, 65535, 32768, 5, 6]) };
    default:
      throw new Error(`no ${dtype} sample`);
  }
}

// x_<dtype> → Identity → y_<dtype>, batch dimension symbolic
const MODEL = buildModel({
  nodes: DTYPES.map((d) => ({ op: 'Identity', inputs: [`x_${d}`], outputs: [`y_${d}`] })),
  inputs: DTYPES.map((d) => ({ name: `x_${d}`, dtype: d, dims: ['N', 3] })),
  outputs: DTYPES.map((d) => ({ name: `y_${d}`, dtype: d, dims: ['N', 3] })),
});

describe.each(['ort-node', 'ort-web'] as OrtEngineName[])('%s', (name) => {
  let engine: InferenceEngine;
  beforeAll(async () => {
    engine = await createOrtEngine(name, MODEL);
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  it('reports names', () => {
    expect(isOrtEngine(name)).toBe(true);
    expect(engine.name).toBe(name);
    expect([...engine.inputNames].sort()).toEqual(DTYPES.map((d) => `x_${d}`).sort());
    expect([...engine.outputNames].sort()).toEqual(DTYPES.map((d) => `y_${d}`).sort());
  });

  it('round-trips every dtype exactly through a session', async () => {
    const feeds = Object.fromEntries(DTYPES.map((d) => [`x_${d}`, sample(d)]));
    const out = await engine.run(feeds);
    for (const d of DTYPES) {
      const y = out[`y_${d}`]!;
      expect(y.dtype, d).toBe(d);
      expect(y.dims).toEqual([2, 3]);
      expect(y.data.constructor).toBe(sample(d).data.constructor);
      expect(Array.from(y.data as ArrayLike<number | bigint>)).toEqual(Array.from(sample(d).data as ArrayLike<number | bigint>));
    }
  });

  it('converts tensors both ways without a session', async () => {
    const ort = await ortModule(name);
    for (const d of DTYPES) {
      const t = sample(d);
      const o = toOrtTensor(ort, t);
      expect(o.type).toBe(d);
      expect([...o.dims]).toEqual(t.dims);
      const back = fromOrtTensor(o);
      expect(back).toEqual(t);
    }
    expect(() => toOrtTensor(ort, { dtype: 'float32', dims: [2], data: new Int8Array(2) })).toThrow(SparrowError);
    expect(() => toOrtTensor(ort, { dtype: 'int8', dims: [3], data: new Int8Array(2) })).toThrow(/3 elements/);
    expect(() => fromOrtTensor(new ort.Tensor('string', ['a', 'b'], [2]))).toThrow(/string/);
  });

  it('turns bad feeds and bad models into SparrowErrors', async () => {
    const feeds = Object.fromEntries(DTYPES.map((d) => [`x_${d}`, sample(d)]));
    await expect(engine.run({ ...feeds, extra: sample('int8') })).rejects.toThrow(/unknown input 'extra'/);
    const { x_int8: _, ...missing } = feeds;
    await expect(engine.run(missing)).rejects.toThrow(/missing input 'x_int8'/);
    await expect(engine.run({ ...feeds, x_int8: sample('uint8') })).rejects.toBeInstanceOf(SparrowError);
    await expect(createOrtEngine(name, new Uint8Array([1, 2, 3]))).rejects.toMatchObject({ code: 'invalid_model' });
  });
});

it('the Session adapter satisfies the same interface with the same results', async () => {
  const e = sessionEngine('sparrow-ref', await Session.fromOnnx(MODEL, { engine: 'reference' }));
  expect(e.name).toBe('sparrow-ref');
  const feeds = Object.fromEntries(DTYPES.map((d) => [`x_${d}`, sample(d)]));
  const out = await e.run(feeds);
  for (const d of DTYPES) expect(out[`y_${d}`]).toEqual(sample(d));
  expect(e.memoryBytes?.()).toBeUndefined();
  await e.dispose();
});
