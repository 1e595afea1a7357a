// Size, CastLike, Range, Trilu, OneHot (src/ops/ref/misc.ts) against onnxruntime-node on random
// inputs (fast-check), every IR dtype each accepts; Range and Celu have no ONNX node tests below
// opset 27/28 (Sparrow stops at 25), so these are their oracle. Plus constant folding through the
// graph passes (a constant Range and the Size of a static shape become constants; shape
// inference with symbolic dims) and the error cases.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import { buildModel, f32, i64, type BuildAttr } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { foldConstants, inferShapes } from '../src/ir/passes.js';
import { opCounts, valueOf } from '../src/ir/graph.js';
import { Session } from '../src/runtime/session.js';
import { OpCase, EXACT, compareWithOrt, runRef, shape, tensorOf, valueOf as valueArb, type Tolerance } from './helpers/ort-op.js';

const ALL: TensorDType[] = ['float32', 'int64', 'int32', 'int8', 'uint8', 'bool'];
const open: OpCase[] = [];
afterAll(async () => {
  for (const c of open) await c.dispose();
});

async function property(
  spec: { op: string; opset: number; inputs: Array<TensorDType | ''>; outputs: TensorDType[]; attrs?: Record<string, BuildAttr> },
  inputs: fc.Arbitrary<Array<Tensor | undefined>>,
  tol: Tolerance = EXACT,
  numRuns = 40,
): Promise<void> {
  const oc = await OpCase.create(spec);
  open.push(oc);
  await fc.assert(
    fc.asyncProperty(inputs, async (xs) => {
      expect(await compareWithOrt(oc, xs, tol)).toBeNull();
    }),
    { numRuns },
  );
}

/** A rank-0 tensor of a number dtype (float32, int64, int32). */
function scalarT(dtype: TensorDType, v: number): Tensor {
  if (dtype === 'int64') return { dtype, dims: [], data: BigInt64Array.of(BigInt(v)) };
  if (dtype === 'int32') return { dtype, dims: [], data: Int32Array.of(v) };
  return { dtype: 'float32', dims: [], data: Float32Array.of(v) };
}

describe('Size / CastLike / Trilu vs onnxruntime-node', () => {
  for (const opset of [7, 13, 21]) {
    for (const dtype of ALL) {
      it(`Size-${opset} ${dtype}`, async () => {
        await property(
          { op: 'Size', opset, inputs: [dtype], outputs: ['int64'] },
          shape(5, 5)
            .chain((s) => tensorOf(dtype, s))
            .map((x) => [x]),
          EXACT,
          15,
        );
      });
    }
  }

  for (const from of ALL) {
    for (const to of ALL) {
      it(`CastLike-15 ${from} -> ${to}`, async () => {
        // float -> integer: in range of the target (out of range is UB in C++; Sparrow follows
        // numpy on x86, see castTensor)
        const v =
          from === 'float32' && to !== 'float32' && to !== 'bool'
            ? fc
                .oneof(fc.integer({ min: -100, max: 100 }), fc.float({ min: -100, max: 100, noNaN: true }))
                .map((x) => (to === 'uint8' ? Math.abs(x) : x))
            : valueArb(from);
        const inputs = shape().chain((s) => fc.tuple(tensorOf(from, s, v), tensorOf(to, [0])));
        await property({ op: 'CastLike', opset: 15, inputs: [from, to], outputs: [to] }, inputs, EXACT, 25);
      });
    }
  }

  // onnxruntime implements Trilu for float32, int64, int32 and bool
  for (const dtype of ['float32', 'int64', 'int32', 'bool'] as TensorDType[]) {
    for (const upper of [0, 1]) {
      it(`Trilu-14 ${dtype} upper=${upper}`, async () => {
        const inputs = fc
          .array(fc.integer({ min: 0, max: 5 }), { minLength: 2, maxLength: 4 })
          .chain((s) => fc.tuple(tensorOf(dtype, s), fc.integer({ min: -7, max: 7 })))
          .map(([x, k]) => [x, i64([], [k])]);
        await property({ op: 'Trilu', opset: 14, inputs: [dtype, 'int64'], outputs: [dtype], attrs: { upper } }, inputs, EXACT, 30);
      });
    }
  }
});

describe('Range / OneHot vs onnxruntime-node', () => {
  it('Range-11 int32 and int64 (exact)', async () => {
    for (const dtype of ['int32', 'int64'] as const) {
      const inputs = fc
        .tuple(fc.integer({ min: -50, max: 50 }), fc.integer({ min: -50, max: 50 }), fc.integer({ min: -7, max: 7 }))
        .map(([s, l, d]) => [scalarT(dtype, s), scalarT(dtype, l), scalarT(dtype, d)]);
      await property({ op: 'Range', opset: 11, inputs: [dtype, dtype, dtype], outputs: [dtype] }, inputs, EXACT, 40);
    }
  });

  it('Range-11 float32 (onnxruntime adds delta repeatedly: a few ulps apart)', async () => {
    const q = (lo: number, hi: number): fc.Arbitrary<number> => fc.integer({ min: lo * 4, max: hi * 4 }).map((k) => k / 4);
    // quarter steps keep (limit - start) / delta exact in float32 and float64, so both count alike
    const inputs = fc
      .tuple(
        q(-20, 20),
        q(-20, 20),
        q(-3, 3).filter((d) => d !== 0),
      )
      .map(([s, l, d]) => [f32([], [s]), f32([], [l]), f32([], [d])]);
    await property(
      { op: 'Range', opset: 11, inputs: ['float32', 'float32', 'float32'], outputs: ['float32'] },
      inputs,
      { rtol: 1e-6, atol: 1e-6 },
      40,
    );
  });

  // [opset, axis, indices, depth, values]: the type combinations onnxruntime implements
  const oneHotCases: Array<[number, number, TensorDType, TensorDType, TensorDType]> = [
    [9, -1, 'int64', 'int64', 'float32'],
    [11, -1, 'int64', 'int64', 'int64'],
    [11, 0, 'int32', 'float32', 'float32'],
    [11, 1, 'float32', 'int64', 'int64'],
    [11, -2, 'int64', 'float32', 'int32'],
    [11, 1, 'int64', 'int32', 'float32'],
  ];
  for (const [opset, axis, idxType, depthType, valType] of oneHotCases) {
    it(`OneHot-${opset} axis=${axis} indices ${idxType}, depth ${depthType}, values ${valType}`, async () => {
      const depthMax = 5;
      // onnxruntime wraps negative indices at opset 9 as well; OneHot-9 says they are out of range (unit case)
      const lo = opset >= 11 ? -depthMax - 2 : 0;
      const idxVal = fc.integer({ min: lo, max: depthMax + 2 }).map((v) => (idxType === 'int64' ? BigInt(v) : v));
      // indices of rank >= 1 (onnxruntime refuses rank 0)
      const inputs = fc
        .array(fc.integer({ min: 1, max: 4 }), { minLength: Math.max(1, -axis - 1, axis), maxLength: 3 })
        .chain((s) =>
          fc.tuple(tensorOf(idxType, s, idxVal), fc.integer({ min: 1, max: depthMax }), tensorOf(valType, [2], valueArb(valType))),
        )
        .map(([idx, depth, vals]) => [idx, scalarT(depthType, depth), vals]);
      await property(
        { op: 'OneHot', opset, inputs: [idxType, depthType, valType], outputs: [valType], attrs: { axis } },
        inputs,
        EXACT,
        30,
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------

function ref(op: string, opset: number, xs: Array<Tensor | undefined>, attrs: Record<string, BuildAttr> = {}): Tensor | string {
  const r = runRef({ op, opset, inputs: xs.map((x) => x?.dtype ?? ''), outputs: [], attrs }, xs);
  return r.ok ? r.outs[0]! : r.error;
}
const vals = (t: Tensor | string): Array<number | bigint> => {
  if (typeof t === 'string') throw new Error(t);
  return Array.from(t.data as ArrayLike<number | bigint>);
};

describe('misc ops: exact values and errors', () => {
  it('Range: numpy.arange values (start + i * delta in float64), empty and invalid ranges', () => {
    const r = ref('Range', 11, [f32([], [1e7]), f32([], [1e7 + 10]), f32([], [0.3])]) as Tensor;
    expect(r.dims).toEqual([34]);
    // float32(1e7 + i * 0.3): onnxruntime gives 1e7 throughout (it adds 0.3 to 1e7 in float32)
    expect(vals(r).slice(0, 6)).toEqual([1e7, 1e7, 1e7 + 1, 1e7 + 1, 1e7 + 1, 1e7 + 2]);
    expect(vals(ref('Range', 11, [i64([], [10]), i64([], [4]), i64([], [-3])]))).toEqual([10n, 7n]);
    expect((ref('Range', 11, [i64([], [3]), i64([], [3]), i64([], [1])]) as Tensor).dims).toEqual([0]);
    expect((ref('Range', 11, [i64([], [5]), i64([], [3]), i64([], [1])]) as Tensor).dims).toEqual([0]);
    expect(ref('Range', 11, [i64([], [0]), i64([], [3]), i64([], [0])])).toMatch(/delta is 0/);
    expect(ref('Range', 11, [f32([], [0]), f32([], [Infinity]), f32([], [1])])).toMatch(/finite range/);
    expect(ref('Range', 11, [f32([], [0]), i64([], [3]), f32([], [1])])).toMatch(/limit has dtype int64/);
    const big = (v: bigint): Tensor => ({ dtype: 'int64', dims: [], data: BigInt64Array.of(v) });
    expect(vals(ref('Range', 11, [big(2n ** 62n), big(2n ** 62n + 3n), big(2n)]))).toEqual([2n ** 62n, 2n ** 62n + 2n]);
  });

  it('OneHot: opset 9 treats negative indices as out of range, 11 counts them from the end; float indices are truncated', () => {
    const idx = i64([3], [1, -1, 7]);
    const v = f32([2], [0, 5]);
    expect(vals(ref('OneHot', 9, [idx, i64([], [3]), v]))).toEqual([0, 5, 0, 0, 0, 0, 0, 0, 0]);
    expect(vals(ref('OneHot', 11, [idx, i64([], [3]), v]))).toEqual([0, 5, 0, 0, 0, 5, 0, 0, 0]);
    expect(vals(ref('OneHot', 11, [f32([2], [1.7, -1.5]), f32([1], [3.9]), v]))).toEqual([0, 5, 0, 0, 0, 5]); // the spec's int64 cast
    expect(ref('OneHot', 11, [idx, i64([], [3]), f32([3], [0, 1, 2])])).toMatch(/2 elements/);
    expect(ref('OneHot', 11, [idx, i64([], [-1]), v])).toMatch(/depth -1/);
    const axis0 = ref('OneHot', 11, [i64([2], [0, 2]), i64([], [3]), v], { axis: 0 }) as Tensor;
    expect([axis0.dims, vals(axis0)]).toEqual([
      [3, 2],
      [5, 0, 0, 0, 0, 5],
    ]);
  });

  it('Trilu: rank >= 2, k from -inf to +inf, every dtype', () => {
    const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(vals(ref('Trilu', 14, [x]))).toEqual([1, 2, 3, 0, 5, 6]);
    expect(vals(ref('Trilu', 14, [x, i64([], [-1])], { upper: 0 }))).toEqual([0, 0, 0, 4, 0, 0]);
    expect(vals(ref('Trilu', 14, [x, i64([], [9])], { upper: 0 }))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ref('Trilu', 14, [f32([3], [1, 2, 3])])).toMatch(/rank >= 2/);
  });

  it('CastLike takes its target dtype from input 1 (data unused, may be empty)', () => {
    const y = ref('CastLike', 15, [f32([3], [1.9, -1.9, NaN]), { dtype: 'int32', dims: [0], data: new Int32Array(0) }]) as Tensor;
    expect([y.dtype, vals(y)]).toEqual(['int32', [1, -1, -2147483648]]);
    expect(vals(ref('Size', 13, [f32([2, 0, 3], [])]))).toEqual([0n]);
  });
});

describe('constant folding and shape inference', () => {
  it('a constant Range folds; Size of a static shape folds; OneHot with constant depth has a static shape', () => {
    const model = buildModel({
      nodes: [
        { op: 'Range', inputs: ['s', 'l', 'd'], outputs: ['r'] },
        { op: 'Size', inputs: ['x'], outputs: ['n'] },
        { op: 'CastLike', inputs: ['n', 'x'], outputs: ['nf'] },
        { op: 'Add', inputs: ['r', 'nf'], outputs: ['y'] },
        { op: 'OneHot', inputs: ['idx', 'depth', 'vals'], outputs: ['oh'] },
      ],
      inputs: [
        { name: 'x', dtype: 'float32', dims: [2, 3] },
        { name: 'idx', dtype: 'int64', dims: ['N'] },
      ],
      outputs: [
        { name: 'y', dtype: 'float32', dims: null },
        { name: 'oh', dtype: 'float32', dims: null },
      ],
      initializers: { s: f32([], [0]), l: f32([], [2]), d: f32([], [0.5]), depth: i64([], [4]), vals: f32([2], [0, 1]) },
      opsets: { '': 15 },
    });
    const g = importOnnx(model);
    inferShapes(g);
    expect(valueOf(g, 'r').info).toEqual({ dtype: 'float32', dims: [4] });
    expect(valueOf(g, 'oh').info).toEqual({ dtype: 'float32', dims: [-1, 4] });
    const folded = foldConstants(g);
    expect(folded).toBe(4); // Range, Size, CastLike, Add
    expect(opCounts(g)).toEqual({ OneHot: 1 });
    expect(vals(valueOf(g, 'y').const!)).toEqual([6, 6.5, 7, 7.5]);
  });

  it('a reduction with symbolic dims and unknown axes keeps what it can', () => {
    const model = buildModel({
      nodes: [
        { op: 'ReduceSum', inputs: ['x', 'axes'], outputs: ['s'], attrs: { keepdims: 1 } },
        { op: 'ReduceMax', inputs: ['x', 'k'], outputs: ['m'], attrs: { keepdims: 0 } },
        { op: 'ArgMax', inputs: ['x'], outputs: ['a'], attrs: { axis: -1, keepdims: 0 } },
      ],
      inputs: [
        { name: 'x', dtype: 'float32', dims: ['N', 3, 4] },
        { name: 'axes', dtype: 'int64', dims: [1] },
      ],
      outputs: [
        { name: 's', dtype: 'float32', dims: null },
        { name: 'm', dtype: 'float32', dims: null },
        { name: 'a', dtype: 'int64', dims: null },
      ],
      initializers: { k: i64([1], [1]) },
      opsets: { '': 18 },
    });
    const g = importOnnx(model);
    inferShapes(g);
    expect(valueOf(g, 's').info).toEqual({ dtype: 'float32', dims: [-1, -1, -1] });
    expect(valueOf(g, 'm').info).toEqual({ dtype: 'float32', dims: [-1, 4] });
    expect(valueOf(g, 'a').info).toEqual({ dtype: 'int64', dims: [-1, 3] });
  });

  it('sparrow-f32 runs the new ops through their reference kernels (Less -> Where with a ReduceMax)', async () => {
    const model = buildModel({
      nodes: [
        { op: 'ReduceMax', inputs: ['x'], outputs: ['mx'], attrs: { axes: [1], keepdims: 1 } },
        { op: 'Less', inputs: ['x', 'mx'], outputs: ['lt'] },
        { op: 'Not', inputs: ['lt'], outputs: ['ge'] },
        { op: 'Cast', inputs: ['ge'], outputs: ['y'], attrs: { to: 1 } },
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: [2, 3] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [2, 3] }],
      opsets: { '': 13 },
    });
    for (const engine of ['reference', 'sparrow-f32'] as const) {
      const s = await Session.fromOnnx(model, { engine });
      const out = await s.run({ x: f32([2, 3], [1, 5, 2, 7, 7, -1]) });
      expect(vals(out['y']!), engine).toEqual([0, 1, 0, 1, 1, 0]);
    }
  });
});
