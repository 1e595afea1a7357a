// rANS (codec 4) is opt-in: compressOnnx (as `sparrow compress` without --codec) stores the
// Huffman codecs only; with int8Codecs including CODEC_RANS (`--codec rans`) the weight sections
// may be rANS-coded, the file is smaller, and it loads and runs to the same outputs as the
// default file (the same int8 weights: the Huffman-coded file is the oracle).
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, type BuildValue } from '../src/onnx/build.js';
import { compressOnnx } from '../src/compress/compress.js';
import { ALL_INT8_CODECS, CODEC_RANS, CODEC_RANS_LANES, CODEC_RANS_RUNS, RANS_INT8_CODECS } from '../src/codec/int8.js';
import { DType, readContainer } from '../src/format/container.js';
import { Session } from '../src/runtime/session.js';
import type { Tensor } from '../src/ops/types.js';
import { lcg } from './helpers/tensors.js';

const v = (name: string, dims: (number | string)[]): BuildValue => ({ name, dtype: 'float32', dims });
function randn(dims: number[], seed: number): Tensor {
  const r = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  // a sum of uniforms: bell-shaped weights, as trained ones
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => r() + r() + r() - 1.5) };
}
/** Smooth 3×3 kernels (correlated neighbours, as trained convs have): where rANS's contexts pay. */
function kernels(O: number, I: number, seed: number): Tensor {
  const r = lcg(seed);
  const data = new Float32Array(O * I * 9);
  for (let k = 0; k < O * I; k++) {
    const a = r() * 2 - 1,
      bx = (r() - 0.5) * 0.6,
      by = (r() - 0.5) * 0.6;
    for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) data[k * 9 + y * 3 + x] = a + bx * (x - 1) + by * (y - 1) + (r() - 0.5) * 0.3;
  }
  return { dtype: 'float32', dims: [O, I, 3, 3], data };
}
const onnx = buildModel({
  opsets: { '': 13 },
  inputs: [v('x', ['N', 16, 6, 6])],
  outputs: [v('y', ['N', 32, 6, 6])],
  initializers: { w: kernels(32, 16, 1), b: randn([32], 2) },
  nodes: [
    { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Relu', inputs: ['c'], outputs: ['y'] },
  ],
});

function int8Codecs(bytes: Uint8Array): number[] {
  return readContainer(bytes)
    .header.sections.filter((s) => s.dtype === DType.Int8)
    .map((s) => s.codec);
}

describe('rANS is opt-in', () => {
  it('default: Huffman codecs only; int8Codecs with rANS: rANS sections, a smaller file, the same outputs', async () => {
    const plain = await compressOnnx(onnx, { sparsity: 0 });
    const rans = await compressOnnx(onnx, { sparsity: 0, int8Codecs: ALL_INT8_CODECS });
    expect(int8Codecs(plain.bytes).length).toBeGreaterThan(0);
    expect(int8Codecs(plain.bytes)).not.toContain(CODEC_RANS);
    // the smallest per tensor: codec 6 (rans-runs) since it exists, codec 4 before it
    expect(int8Codecs(rans.bytes).some((c) => c === CODEC_RANS || c === CODEC_RANS_RUNS)).toBe(true);
    expect(rans.bytes.length).toBeLessThan(plain.bytes.length);
    const x = randn([1, 16, 6, 6], 9);
    for (const engine of ['sparrow-f32', 'reference'] as const) {
      const a = (await (await Session.create(plain.bytes, { engine })).run({ x }))['y']!;
      const b = (await (await Session.create(rans.bytes, { engine })).run({ x }))['y']!;
      expect(Array.from(b.data as Float32Array), engine).toEqual(Array.from(a.data as Float32Array));
    }
  });
});

describe('--codec rans: codec 5 (rans-lanes)', () => {
  it('RANS_INT8_CODECS stores codec 5 sections, a smaller file than the default, the same outputs', async () => {
    const plain = await compressOnnx(onnx, { sparsity: 0 });
    const lanes = await compressOnnx(onnx, { sparsity: 0, int8Codecs: RANS_INT8_CODECS });
    expect(int8Codecs(lanes.bytes)).toContain(CODEC_RANS_LANES);
    expect(int8Codecs(lanes.bytes)).not.toContain(CODEC_RANS);
    expect(lanes.bytes.length).toBeLessThan(plain.bytes.length);
    const x = randn([1, 16, 6, 6], 9);
    for (const engine of ['sparrow-f32', 'sparrow-int8', 'reference'] as const) {
      const a = (await (await Session.create(plain.bytes, { engine })).run({ x }))['y']!;
      const b = (await (await Session.create(lanes.bytes, { engine })).run({ x }))['y']!;
      expect(Array.from(b.data as Float32Array), engine).toEqual(Array.from(a.data as Float32Array));
    }
  });
});
