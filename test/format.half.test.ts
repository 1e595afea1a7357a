// float16 biases and scales (src/format/half.ts; uint16 sections with valueDtype 'float16',
// docs/format.md). Oracles: the definition of round-to-nearest-even (every half checked against
// its neighbours), exhaustive half → float → half round trips, and the float32 file of the same
// model (its biases and scales rounded to half must be what the float16 file holds).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import '../src/ops/ref/index.js';
import { fromHalf, toHalf } from '../src/format/half.js';
import { buildModel, type BuildValue } from '../src/onnx/build.js';
import { compressOnnx } from '../src/compress/compress.js';
import { readContainer, writeContainer, DType, Codec, type SectionInput, type TensorMeta } from '../src/format/container.js';
import { loadSparrowModel } from '../src/runtime/sparrow_model.js';
import { Session } from '../src/runtime/session.js';
import { SparrowError } from '../src/errors.js';
import type { Tensor } from '../src/ops/types.js';
import { lcg } from './helpers/tensors.js';

describe('toHalf / fromHalf', () => {
  it('every half reads back to itself (NaNs stay NaN)', () => {
    for (let h = 0; h < 65536; h++) {
      const x = fromHalf(h);
      if (Number.isNaN(x)) expect(Number.isNaN(fromHalf(toHalf(x)))).toBe(true);
      else expect(toHalf(x)).toBe(h);
    }
  });

  it('rounds to the nearest half, ties to even (property against the neighbours)', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, min: -70000, max: 70000 }), (x) => {
        const h = toHalf(x);
        const y = fromHalf(h);
        if (Math.abs(x) >= 65520) {
          expect(Math.abs(y)).toBe(Infinity); // beyond max + half an ulp
          return;
        }
        if (Object.is(x, -0)) {
          expect(h).toBe(0x8000);
          return;
        }
        // neighbours along the magnitude
        const mag = h & 0x7fff;
        expect(Math.sign(y) === Math.sign(x) || y === 0).toBe(true);
        for (const m of [mag - 1, mag + 1]) {
          if (m < 0 || m >= 0x7c00) continue;
          const z = fromHalf((h & 0x8000) | m);
          const d = Math.abs(x - y),
            dz = Math.abs(x - z);
          expect(d).toBeLessThanOrEqual(dz);
          if (d === dz) expect(mag & 1).toBe(0);
        }
      }),
      { numRuns: 20000 },
    );
  });

  it('named cases: 1, 65504, 65520 → Infinity, 2^-24, 2^-25 → 0, 3·2^-25 → 2^-23, 1 + 2^-11 → 1 (tie to even)', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(65520)).toBe(0x7c00);
    expect(toHalf(2 ** -24)).toBe(1);
    expect(toHalf(2 ** -25)).toBe(0);
    expect(toHalf(3 * 2 ** -25)).toBe(2);
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toHalf(-Infinity)).toBe(0xfc00);
  });
});

const v = (name: string, dims: (number | string)[]): BuildValue => ({ name, dtype: 'float32', dims });
function randn(dims: number[], seed: number): Tensor {
  const r = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => r() + r() + r() - 1.5) };
}
const onnx = buildModel({
  opsets: { '': 13 },
  inputs: [v('x', ['N', 4, 5, 5])],
  outputs: [v('y', ['N', 8, 5, 5])],
  initializers: { w: randn([8, 4, 3, 3], 1), b: randn([8], 2), w2: randn([8, 8, 1, 1], 3), b2: randn([8], 4) },
  nodes: [
    { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Relu', inputs: ['c'], outputs: ['r'] },
    { op: 'Conv', inputs: ['r', 'w2', 'b2'], outputs: ['y'] },
  ],
});

describe('compress --floats float16', () => {
  it('stores biases and scales as halves of the float32 file’s values: smaller, same int8 weights, close outputs', async () => {
    const f32 = (await compressOnnx(onnx, { sparsity: 0.5 })).bytes;
    const f16 = (await compressOnnx(onnx, { sparsity: 0.5, floats: 'float16' })).bytes;
    // 32 floats (2 biases, 2 scale vectors) stored in half the bytes (the file itself may not shrink: valueDtype costs JSON)
    const floatBytes = (b: Uint8Array): number =>
      readContainer(b)
        .header.sections.filter((s) => s.dtype === DType.Float32 || s.dtype === DType.Uint16)
        .reduce((a, s) => a + s.storedBytes, 0);
    expect(floatBytes(f32)).toBe(128);
    expect(floatBytes(f16)).toBe(64);
    const a = loadSparrowModel(f32),
      b = loadSparrowModel(f16);
    const uint16 = readContainer(f16).header.meta.tensors.filter((t) => t.dtype === 'uint16');
    expect(uint16.length).toBe(4);
    expect(uint16.every((t) => t['valueDtype'] === 'float16')).toBe(true);
    for (const [name, qa] of a.int8) {
      const qb = b.int8.get(name)!;
      expect(Array.from(qb.q)).toEqual(Array.from(qa.q));
      expect(Array.from(qb.scales)).toEqual(Array.from(qa.scales).map((s) => fromHalf(toHalf(s))));
    }
    for (const name of ['b', 'b2']) {
      const ba = a.graph.values.get(name)!.const!.data as Float32Array;
      const bb = b.graph.values.get(name)!.const!.data as Float32Array;
      expect(Array.from(bb)).toEqual(Array.from(ba).map((s) => fromHalf(toHalf(s))));
    }
    const x = randn([1, 4, 5, 5], 8);
    const ya = (await (await Session.create(f32, { engine: 'reference' })).run({ x }))['y']!.data as Float32Array;
    const yb = (await (await Session.create(f16, { engine: 'reference' })).run({ x }))['y']!.data as Float32Array;
    let err = 0,
      mag = 0;
    for (let i = 0; i < ya.length; i++) {
      err = Math.max(err, Math.abs(ya[i]! - yb[i]!));
      mag = Math.max(mag, Math.abs(ya[i]!));
    }
    expect(err).toBeLessThan(mag * 2e-3);
    expect(err).toBeGreaterThan(0);
  });
});

describe('hostile float16 metadata', () => {
  const codeOf = (b: Uint8Array): string => {
    try {
      loadSparrowModel(b);
      return 'none';
    } catch (e) {
      if (!(e instanceof SparrowError)) throw e;
      return e.code;
    }
  };
  /** the float16 file with tensor entries changed and scale/bias payloads replaced */
  const f16 = compressOnnx(onnx, { sparsity: 0.5, floats: 'float16' }).then((r) => r.bytes);
  const rewrite = async (fn: (t: TensorMeta[], s: SectionInput[]) => void): Promise<Uint8Array> => {
    const { header, payload } = readContainer(await f16);
    const tensors = header.meta.tensors.map((t) => ({ ...t }));
    const sections = header.sections.map((s, i) => ({
      codec: s.codec,
      dtype: s.dtype,
      payload: payload(i).slice(),
      decodedBytes: s.decodedBytes,
    }));
    fn(tensors, sections);
    return writeContainer({ ...header.meta, tensors }, sections);
  };
  const scaleIndex = (t: TensorMeta[]): number => t.findIndex((x) => x.name.endsWith('.scale'));

  it('reads the untouched file', async () => {
    expect(codeOf(await f16)).toBe('none');
  });

  it('a scale half that is 0, negative, Infinity or NaN is corrupt_metadata', async () => {
    for (const h of [0x0000, 0xbc00, 0x7c00, 0x7e00]) {
      const b = await rewrite((t, s) => {
        const i = scaleIndex(t);
        new DataView(s[i]!.payload.buffer, s[i]!.payload.byteOffset).setUint16(0, h, true);
      });
      expect(codeOf(b)).toBe('corrupt_metadata');
    }
  });

  it('valueDtype float16 on a non-uint16 tensor, or an unknown valueDtype on a scale, is corrupt_metadata', async () => {
    const bias = await rewrite((t, s) => {
      const i = t.findIndex((x) => x.name === 'b');
      t[i] = { ...t[i]!, dtype: 'int8', shape: [16] };
      s[i] = { codec: Codec.Raw, dtype: DType.Int8, payload: s[i]!.payload, decodedBytes: 16 };
    });
    expect(codeOf(bias)).toBe('corrupt_metadata');
    const scale = await rewrite((t) => {
      t[scaleIndex(t)]!['valueDtype'] = 'bfloat16';
    });
    expect(codeOf(scale)).toBe('corrupt_metadata');
    const noType = await rewrite((t) => {
      delete t[scaleIndex(t)]!['valueDtype'];
    });
    expect(codeOf(noType)).toBe('corrupt_metadata'); // uint16 scales without valueDtype
  });
});
