// The new IR dtypes against onnxruntime-node (1.30, x86-64): Cast between every pair of the
// dtypes ORT's JS API has (float32, float64, float16, int8..uint64, bool; every float16 bit
// pattern as a source, NaN / ±Inf / out-of-range / midpoint values for the others), through a
// whole Session (so float16/float64 inputs and outputs go through the importer's edge Casts);
// and the integer kernels over int16/uint16/uint32/uint64 (arithmetic with wrap-around and
// truncating division, comparisons, Max/Min, Clip, data movement) on random tensors
// (fast-check). bfloat16, which ORT's JS API lacks, is checked against the bit rounding of
// float32 patterns.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { buildModel, type BuildNode } from '../src/onnx/build.js';
import { createOrtEngine, type InferenceEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import { ARRAY_OF, type Tensor, type TensorDType } from '../src/ops/types.js';
import { float16ToNumber } from '../src/ops/float16.js';
import { castTensor } from '../src/ops/ref/cast.js';
import { OpCase, broadcastShapes, compareWithOrt, EXACT, tensorOf } from './helpers/ort-op.js';
import '../src/ops/ref/index.js';

const ORT_DTYPES: TensorDType[] = [
  'float32',
  'float64',
  'float16',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
];

const FLOAT_SPECIALS = [
  NaN,
  Infinity,
  -Infinity,
  0,
  -0,
  1,
  -1,
  0.5,
  -0.9,
  1.5,
  -2.5,
  0.1,
  1 / 3,
  300.7,
  -300.7,
  65504,
  65519.99,
  65520,
  70000.5,
  -70000.5,
  2 ** -24,
  2 ** -25,
  3 * 2 ** -26,
  1e-8,
  1e-40,
  1e-310,
  2 ** 31 - 0.5,
  2 ** 31,
  -(2 ** 31) - 1,
  3e9,
  -3e9,
  2 ** 32,
  4294967295,
  4294967296.5,
  1e10,
  -1e10,
  2 ** 53 + 2,
  9.3e18,
  -9.3e18,
  2 ** 63,
  -(2 ** 63),
  2 ** 64,
  1.8e19,
  3.4e38,
  1e39,
  1e300,
  -1e300,
];

/** Source values of `dtype` for the Cast sweep. */
function sources(dtype: TensorDType): Tensor {
  const n = (data: Tensor['data']): Tensor => ({ dtype, dims: [data.length], data });
  switch (dtype) {
    // 48 elements: onnxruntime's float → uint32 loop converts the last (n mod 4) elements out of
    // range differently from its vectorized body (and numpy), see src/ops/ref/cast.ts
    case 'float32':
      return n(Float32Array.from([...FLOAT_SPECIALS, 2]));
    case 'float64':
      return n(Float64Array.from([...FLOAT_SPECIALS, 2]));
    case 'float16':
      return n(Uint16Array.from({ length: 65536 }, (_, i) => i)); // every pattern
    case 'bool':
      return n(Uint8Array.of(0, 1, 1, 0));
    case 'int64':
    case 'uint64': {
      const v = [0n, 1n, -1n, 127n, 128n, 255n, 256n, 32767n, 32768n, 65535n, 65536n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n];
      v.push(
        2n ** 53n + 1n,
        2n ** 60n + 2n ** 36n + 1n,
        2n ** 63n - 1n,
        -(2n ** 63n),
        2n ** 63n,
        2n ** 64n - 1n,
        16777217n,
        65520n,
        65519n,
      );
      v.push(-(2n ** 60n + 2n ** 36n + 1n), 123456789012345678n);
      const a = new ARRAY_OF[dtype](v.length) as BigInt64Array;
      v.forEach((x, i) => (a[i] = x)); // the store wraps into the type
      return n(a);
    }
    default: {
      const v = [
        0, 1, -1, 127, 128, -128, 255, 256, 32767, 32768, -32768, 65535, 65536, 2147483647, -2147483648, 4294967295, 16777217, 65519, 65520,
        2049,
      ];
      const a = new ARRAY_OF[dtype](v.length) as Int32Array;
      v.forEach((x, i) => (a[i] = x));
      return n(a);
    }
  }
}

const castModel = (from: TensorDType, to: TensorDType, opset = 21): Uint8Array =>
  buildModel({
    nodes: [{ op: 'Cast', inputs: ['x'], outputs: ['y'], attrs: { to: castCode(to) } }],
    inputs: [{ name: 'x', dtype: from, dims: ['N'] }],
    outputs: [{ name: 'y', dtype: to, dims: ['N'] }],
    opsets: { '': opset },
  });

const CODES: Record<string, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  bfloat16: 16,
};
const castCode = (d: TensorDType): number => CODES[d]!;

/** First element where a and b differ (NaN equals NaN whatever its bits), or null. */
function firstDiff(x: Tensor, a: Tensor, b: Tensor): string | null {
  if (a.dtype !== b.dtype || a.data.length !== b.data.length) return `${a.dtype}[${a.data.length}] vs ${b.dtype}[${b.data.length}]`;
  for (let i = 0; i < a.data.length; i++) {
    const p = a.data[i]!,
      q = b.data[i]!;
    if (p === q) continue;
    if (a.dtype === 'float16' && Number.isNaN(float16ToNumber(p as number)) && Number.isNaN(float16ToNumber(q as number))) continue;
    if (typeof p === 'number' && typeof q === 'number' && Number.isNaN(p) && Number.isNaN(q)) continue;
    return `element ${i} (source ${String(x.data[i])}): sparrow ${String(p)}, ort ${String(q)}`;
  }
  return null;
}

describe('Cast vs onnxruntime-node, every pair of dtypes', () => {
  const engines: InferenceEngine[] = [];
  afterAll(async () => {
    for (const e of engines) await e.dispose();
  });
  for (const from of ORT_DTYPES) {
    it(`from ${from} to every dtype`, async () => {
      const x = sources(from);
      const bad: string[] = [];
      for (const to of ORT_DTYPES) {
        const bytes = castModel(from, to);
        const ort = await createOrtEngine('ort-node', bytes);
        engines.push(ort);
        const want = (await ort.run({ x }))['y']!;
        const session = await Session.fromOnnx(bytes);
        expect(session.inputInfo['x']!.dtype).toBe(from);
        expect(session.outputInfo['y']!.dtype).toBe(to);
        const got = (await session.run({ x }))['y']!;
        const d = firstDiff(x, got, want);
        if (d) bad.push(`${from} -> ${to}: ${d}`);
        // the kernel alone agrees too (no importer in between)
        const k = firstDiff(x, castTensor(x, to), want);
        if (k) bad.push(`kernel ${from} -> ${to}: ${k}`);
      }
      expect(bad).toEqual([]);
    });
  }

  it('bfloat16: from float32 as the bit rounding of the float32 pattern, back exactly; NaN 0x7FC0', async () => {
    const f = Float32Array.from(FLOAT_SPECIALS);
    const bits = new Uint32Array(f.buffer);
    const to = castTensor({ dtype: 'float32', dims: [f.length], data: f }, 'bfloat16').data as Uint16Array;
    for (let i = 0; i < f.length; i++) {
      const b = bits[i]!;
      const want = Number.isNaN(f[i]!) ? 0x7fc0 : ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
      expect(to[i], String(f[i])).toBe(want);
    }
    const back = castTensor({ dtype: 'bfloat16', dims: [to.length], data: to }, 'float32').data as Float32Array;
    for (let i = 0; i < f.length; i++) expect(new Uint32Array(back.buffer)[i]).toBe(to[i]! * 65536);
    // a model with a bfloat16 input and output, through the importer
    const s = await Session.fromOnnx(castModel('bfloat16', 'float32'));
    const y = (await s.run({ x: { dtype: 'bfloat16', dims: [3], data: Uint16Array.of(0x3f80, 0xc020, 0x7f80) } }))['y']!;
    expect(Array.from(y.data as Float32Array)).toEqual([1, -2.5, Infinity]);
  });
});

// ---------------------------------------------------------------------------------------------
// Integer kernels

/** Integer values of the new dtypes, biased to the ends of their ranges. */
function intValue(dtype: TensorDType): fc.Arbitrary<number | bigint> {
  switch (dtype) {
    case 'uint64':
      return fc.oneof(
        fc.bigInt({ min: 0n, max: 20n }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.constantFrom(0n, 2n ** 64n - 1n, 2n ** 63n, 2n ** 53n + 1n),
      );
    case 'int64':
      return fc.oneof(fc.bigInt({ min: -20n, max: 20n }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
    case 'uint32':
      return fc.oneof(fc.integer({ min: 0, max: 20 }), fc.nat({ max: 4294967295 }), fc.constantFrom(0, 4294967295, 2147483648));
    case 'int16':
      return fc.oneof(fc.integer({ min: -20, max: 20 }), fc.integer({ min: -32768, max: 32767 }), fc.constantFrom(-32768, 32767));
    case 'uint16':
      return fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 65535 }), fc.constantFrom(0, 65535));
    default:
      throw new Error(dtype);
  }
}

const NEW_INTS: TensorDType[] = ['int16', 'uint16', 'uint32', 'uint64'];

describe('integer kernels over int16 / uint16 / uint32 / uint64 vs onnxruntime-node', () => {
  const open: OpCase[] = [];
  afterAll(async () => {
    for (const c of open) await c.dispose();
  });
  const prop = async (op: string, opset: number, dtype: TensorDType, n: number, outDtype: TensorDType, nonzero = false): Promise<void> => {
    const oc = await OpCase.create({ op, opset, inputs: Array<TensorDType>(n).fill(dtype), outputs: [outDtype] });
    open.push(oc);
    const value = nonzero ? intValue(dtype).filter((v) => v !== 0 && v !== 0n) : intValue(dtype);
    const inputs = broadcastShapes(n, 3, 4).chain((ss) => fc.tuple(...ss.map((s) => tensorOf(dtype, s, value))));
    await fc.assert(
      fc.asyncProperty(inputs, async (xs) => {
        expect(await compareWithOrt(oc, xs, EXACT)).toBeNull();
      }),
      { numRuns: 30 },
    );
  };
  for (const dtype of NEW_INTS) {
    it(`${dtype}: Add, Sub, Mul wrap; Div truncates toward zero`, async () => {
      for (const op of ['Add', 'Sub', 'Mul']) await prop(op, 14, dtype, 2, dtype);
      await prop('Div', 14, dtype, 2, dtype, true);
    });
    it(`${dtype}: Equal, Less, Greater, LessOrEqual, GreaterOrEqual`, async () => {
      await prop('Equal', 19, dtype, 2, 'bool');
      for (const op of ['Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']) await prop(op, 16, dtype, 2, 'bool');
    });
    // onnxruntime has no Max/Min kernels for int16/uint16 (the ONNX fixtures test_max_int16... cover them)
    it.runIf(dtype === 'uint32' || dtype === 'uint64')(`${dtype}: Max, Min (3 inputs)`, async () => {
      await prop('Max', 13, dtype, 3, dtype);
      await prop('Min', 13, dtype, 3, dtype);
    });
  }

  it('Mod (fmod=0) over int16/uint32/uint64, Abs and Neg over int16; Relu int16 (no onnxruntime kernel) as max(x, 0)', async () => {
    await prop('Mod', 13, 'int16', 2, 'int16', true);
    await prop('Mod', 13, 'uint32', 2, 'uint32', true);
    await prop('Mod', 13, 'uint64', 2, 'uint64', true);
    const relu = await Session.fromOnnx(
      buildModel({
        nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
        inputs: [{ name: 'x', dtype: 'int16', dims: [4] }],
        outputs: [{ name: 'y', dtype: 'int16', dims: [4] }],
        opsets: { '': 14 },
      }),
    );
    const r = await relu.run({ x: { dtype: 'int16', dims: [4], data: Int16Array.of(-32768, -1, 0, 32767) } });
    expect(Array.from(r['y']!.data as Int16Array)).toEqual([0, 0, 0, 32767]);
    for (const op of ['Abs', 'Neg']) {
      const oc = await OpCase.create({ op, opset: 14, inputs: ['int16'], outputs: ['int16'] });
      open.push(oc);
      await fc.assert(
        fc.asyncProperty(
          broadcastShapes(1).chain((ss) => tensorOf('int16', ss[0]!, intValue('int16'))),
          async (x) => {
            expect(await compareWithOrt(oc, [x], EXACT)).toBeNull();
          },
        ),
        { numRuns: 30 },
      );
    }
  });

  it('data movement keeps every bit: Concat, Gather, Transpose, Reshape, Slice, Pad, Expand, Tile over the four dtypes', async () => {
    for (const dtype of NEW_INTS) {
      // onnxruntime has no Pad kernel for int16/uint16 (test/ops.load.test.ts checks Pad over every
      // dtype against an element-by-element walk): Tile to [1, 8] there; no Where for any of the four
      // (checked below against a plain loop)
      const full = dtype === 'uint32' || dtype === 'uint64';
      const nodes: BuildNode[] = [
        { op: 'Concat', inputs: ['a', 'b'], outputs: ['c'], attrs: { axis: 0 } },
        { op: 'Gather', inputs: ['c', 'idx'], outputs: ['g'], attrs: { axis: 1 } },
        { op: 'Transpose', inputs: ['g'], outputs: ['t'], attrs: { perm: [1, 0] } },
        { op: 'Reshape', inputs: ['t', 'shape'], outputs: ['r'] },
        { op: 'Slice', inputs: ['r', 'starts', 'ends'], outputs: ['s'] },
        full ? { op: 'Pad', inputs: ['s', 'pads', 'padv'], outputs: ['p'] } : { op: 'Tile', inputs: ['s', 'reps'], outputs: ['p'] },
        { op: 'Expand', inputs: ['p', 'eshape'], outputs: ['e'] },
        { op: 'Identity', inputs: ['e'], outputs: ['w'] },
        { op: 'Tile', inputs: ['w', 'reps'], outputs: ['y'] },
      ];
      const model = buildModel({
        nodes,
        inputs: [
          { name: 'a', dtype, dims: [2, 3] },
          { name: 'b', dtype, dims: [1, 3] },
          ...(full ? [{ name: 'padv', dtype, dims: [] }] : []),
        ],
        outputs: [{ name: 'y', dtype, dims: null }],
        initializers: {
          idx: { dtype: 'int64', dims: [4], data: BigInt64Array.of(2n, 0n, -1n, 1n) },
          shape: { dtype: 'int64', dims: [2], data: BigInt64Array.of(2n, 6n) },
          starts: { dtype: 'int64', dims: [2], data: BigInt64Array.of(0n, 1n) },
          ends: { dtype: 'int64', dims: [2], data: BigInt64Array.of(1n, 5n) },
          pads: { dtype: 'int64', dims: [4], data: BigInt64Array.of(0n, 2n, 0n, 2n) },
          eshape: { dtype: 'int64', dims: [2], data: BigInt64Array.of(2n, 1n) },
          reps: { dtype: 'int64', dims: [2], data: BigInt64Array.of(1n, 2n) },
        },
        opsets: { '': 18 },
      });
      const ort = await createOrtEngine('ort-node', model);
      const ref = await Session.fromOnnx(model);
      const f32 = await Session.fromOnnx(model, { engine: 'sparrow-f32' });
      await fc.assert(
        fc.asyncProperty(
          tensorOf(dtype, [2, 3], intValue(dtype)),
          tensorOf(dtype, [1, 3], intValue(dtype)),
          tensorOf(dtype, [], intValue(dtype)),
          async (a, b, padv) => {
            const feeds: Record<string, Tensor> = full ? { a, b, padv } : { a, b };
            const want = (await ort.run(feeds))['y']!;
            for (const s of [ref, f32]) {
              const got = (await s.run(feeds))['y']!;
              expect(got.dtype).toBe(dtype);
              expect(got.dims).toEqual(want.dims);
              expect(Array.from(got.data as ArrayLike<number | bigint>)).toEqual(Array.from(want.data as ArrayLike<number | bigint>));
            }
          },
        ),
        { numRuns: 15 },
      );
      await ort.dispose();
    }
  });

  it('Where over the four dtypes (no onnxruntime kernel) equals a plain broadcast loop', async () => {
    for (const dtype of NEW_INTS) {
      const s = await Session.fromOnnx(
        buildModel({
          nodes: [{ op: 'Where', inputs: ['c', 'x', 'y'], outputs: ['z'] }],
          inputs: [
            { name: 'c', dtype: 'bool', dims: [2, 1] },
            { name: 'x', dtype, dims: [1, 3] },
            { name: 'y', dtype, dims: [2, 3] },
          ],
          outputs: [{ name: 'z', dtype, dims: [2, 3] }],
          opsets: { '': 16 },
        }),
      );
      await fc.assert(
        fc.asyncProperty(
          tensorOf('bool', [2, 1], fc.integer({ min: 0, max: 1 })),
          tensorOf(dtype, [1, 3], intValue(dtype)),
          tensorOf(dtype, [2, 3], intValue(dtype)),
          async (c, x, y) => {
            const z = (await s.run({ c, x, y }))['z']!;
            const want = Array.from({ length: 6 }, (_, i) => (c.data[Math.floor(i / 3)] ? x.data[i % 3] : y.data[i]));
            expect(z.dtype).toBe(dtype);
            expect(Array.from(z.data as ArrayLike<number | bigint>)).toEqual(want);
          },
        ),
        { numRuns: 20 },
      );
    }
  });

  it('named cases: uint64 beyond 2^53 stays exact; uint32 products wrap exactly (Math.imul); Div by zero is an error', async () => {
    const s = await Session.fromOnnx(
      buildModel({
        nodes: [
          { op: 'Add', inputs: ['a', 'b'], outputs: ['sum'] },
          { op: 'Mul', inputs: ['c', 'c'], outputs: ['sq'] },
          { op: 'Div', inputs: ['a', 'b'], outputs: ['q'] },
        ],
        inputs: [
          { name: 'a', dtype: 'uint64', dims: [2] },
          { name: 'b', dtype: 'uint64', dims: [2] },
          { name: 'c', dtype: 'uint32', dims: [1] },
        ],
        outputs: [
          { name: 'sum', dtype: 'uint64', dims: [2] },
          { name: 'sq', dtype: 'uint32', dims: [1] },
          { name: 'q', dtype: 'uint64', dims: [2] },
        ],
      }),
    );
    const r = await s.run({
      a: { dtype: 'uint64', dims: [2], data: BigUint64Array.of(2n ** 53n + 1n, 2n ** 64n - 1n) },
      b: { dtype: 'uint64', dims: [2], data: BigUint64Array.of(2n, 2n) },
      c: { dtype: 'uint32', dims: [1], data: Uint32Array.of(4294967295) },
    });
    expect(Array.from(r['sum']!.data as BigUint64Array)).toEqual([2n ** 53n + 3n, 1n]);
    expect(Array.from(r['q']!.data as BigUint64Array)).toEqual([2n ** 52n, 2n ** 63n - 1n]);
    expect(Array.from(r['sq']!.data as Uint32Array)).toEqual([1]); // (2^32 - 1)^2 mod 2^32
    await expect(
      s.run({
        a: { dtype: 'uint64', dims: [2], data: BigUint64Array.of(1n, 1n) },
        b: { dtype: 'uint64', dims: [2], data: BigUint64Array.of(1n, 0n) },
        c: { dtype: 'uint32', dims: [1], data: Uint32Array.of(1) },
      }),
    ).rejects.toThrow(/division by zero/);
  });
});
