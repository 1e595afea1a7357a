// compress --metadata (src/compress/names.ts, container version 2): short value names and
// deflated metadata shrink the file and change nothing else. Oracle: the 'plain' file of the
// same model (same int8 weights), run on the reference and sparrow-f32 engines; shortFloat32
// against Math.fround.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import '../src/ops/ref/index.js';
import { buildModel, type BuildValue } from '../src/onnx/build.js';
import { compressOnnx, metadataModeOf } from '../src/compress/compress.js';
import { compactValueNames, shortFloat32 } from '../src/compress/names.js';
import { readContainer } from '../src/format/container.js';
import { importOnnx } from '../src/onnx/import.js';
import { Session } from '../src/runtime/session.js';
import { SparrowError } from '../src/errors.js';
import type { Tensor } from '../src/ops/types.js';
import { lcg } from './helpers/tensors.js';

const v = (name: string, dims: (number | string)[]): BuildValue => ({ name, dtype: 'float32', dims });
function randn(dims: number[], seed: number): Tensor {
  const r = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => r() + r() + r() - 1.5) };
}
const onnx = buildModel({
  opsets: { '': 13 },
  inputs: [v('x', ['N', 4, 6, 6])],
  outputs: [v('y', ['N', 8, 6, 6])],
  initializers: {
    'onnx::Conv_long_weight_name': randn([8, 4, 3, 3], 1),
    'onnx::Conv_long_bias_name': randn([8], 2),
    'layer2.conv.weight': randn([8, 8, 3, 3], 3),
  },
  nodes: [
    {
      op: 'Conv',
      inputs: ['x', 'onnx::Conv_long_weight_name', 'onnx::Conv_long_bias_name'],
      outputs: ['/layer1/conv/Conv_output_0'],
      attrs: { pads: [1, 1, 1, 1] },
    },
    { op: 'Relu', inputs: ['/layer1/conv/Conv_output_0'], outputs: ['/layer1/Relu_output_0'] },
    {
      op: 'Conv',
      inputs: ['/layer1/Relu_output_0', 'layer2.conv.weight'],
      outputs: ['/layer2/conv/Conv_output_0'],
      attrs: { pads: [1, 1, 1, 1] },
    },
    { op: 'Add', inputs: ['/layer2/conv/Conv_output_0', '/layer1/Relu_output_0'], outputs: ['y'] },
  ],
});

describe('--metadata plain | short | deflate', () => {
  it('same outputs, smaller files; short names but the inputs and outputs; version 2 only when deflated', async () => {
    const files = {
      plain: (await compressOnnx(onnx, { sparsity: 0.5 })).bytes,
      short: (await compressOnnx(onnx, { sparsity: 0.5, metadata: 'short' })).bytes,
      deflate: (await compressOnnx(onnx, { sparsity: 0.5, metadata: 'deflate' })).bytes,
    };
    expect(files.short.length).toBeLessThan(files.plain.length);
    expect(files.deflate.length).toBeLessThan(files.short.length);
    expect(readContainer(files.plain).header.versionMajor).toBe(1);
    expect(readContainer(files.short).header.versionMajor).toBe(1);
    expect(readContainer(files.deflate).header.versionMajor).toBe(2);
    const names = readContainer(files.short).header.meta.tensors.map((t) => t.name);
    expect(names.every((n) => n.length <= 8)).toBe(true); // "<base36>.scale" at most
    expect(JSON.stringify(readContainer(files.plain).header.meta)).toContain('onnx::Conv_long_weight_name');
    const x = randn([2, 4, 6, 6], 9);
    for (const engine of ['reference', 'sparrow-f32'] as const) {
      const want = (await (await Session.create(files.plain, { engine })).run({ x }))['y']!;
      for (const k of ['short', 'deflate'] as const) {
        const s = await Session.create(files[k], { engine });
        expect(Array.from((await s.run({ x }))['y']!.data as Float32Array), `${k} ${engine}`).toEqual(
          Array.from(want.data as Float32Array),
        );
      }
    }
  });

  it('the default is deflate with a size target, plain without; unknown modes are refused', () => {
    expect(metadataModeOf({})).toBe('plain');
    expect(metadataModeOf({ targetBytes: 1000 })).toBe('deflate');
    expect(metadataModeOf({ targetBytes: 1000, metadata: 'short' })).toBe('short');
    expect(() => metadataModeOf({ metadata: 'zip' as never })).toThrow(SparrowError);
  });
});

describe('compactValueNames', () => {
  it('renames every value but the inputs and outputs, injectively; the graph computes the same', async () => {
    const g = importOnnx(onnx);
    const { graph: c, renamed } = compactValueNames(g);
    expect(c.inputs).toEqual(['x']);
    expect(c.outputs).toEqual(['y']);
    expect(new Set(renamed.values()).size).toBe(renamed.size);
    expect([...renamed.values()].some((n) => n === 'x' || n === 'y')).toBe(false);
    for (const [k] of c.values) expect(k === 'x' || k === 'y' || k.length <= 2).toBe(true);
    expect(g.values.has('/layer1/Relu_output_0')).toBe(true); // the input graph is not modified
    const x = randn([1, 4, 6, 6], 4);
    const a = (await Session.fromGraph(g, { engine: 'reference' }).run({ x }))['y']!;
    const b = (await Session.fromGraph(c, { engine: 'reference' }).run({ x }))['y']!;
    expect(Array.from(b.data as Float32Array)).toEqual(Array.from(a.data as Float32Array));
  });
});

describe('shortFloat32', () => {
  it('reads back as the same float32, with the fewest digits (property)', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (f) => {
        const s = shortFloat32(f);
        expect(Math.fround(s)).toBe(Math.fround(f));
        const digits = Number(s).toExponential().split('e')[0]!.replace(/[-.]/g, '').length;
        expect(digits).toBeLessThanOrEqual(9);
        if (digits > 1 && f !== 0) expect(Math.fround(Number(Math.fround(f).toPrecision(digits - 1)))).not.toBe(Math.fround(f));
      }),
      { numRuns: 2000 },
    );
  });

  it('named cases: 5.990866184234619 (a float32 as JSON) → 5.990866; 0; ±Infinity unchanged', () => {
    expect(shortFloat32(5.990866184234619)).toBe(5.990866);
    expect(shortFloat32(0)).toBe(0);
    expect(shortFloat32(Infinity)).toBe(Infinity);
    expect(shortFloat32(-2.7182817459106445)).toBe(-2.7182817);
  });
});
