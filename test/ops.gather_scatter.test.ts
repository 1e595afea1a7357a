// GatherElements, GatherND (batch_dims), ScatterElements / Scatter-9, ScatterND (reductions):
// fast-check properties against onnxruntime-node on random shapes, axes (negative too), index
// tensors (negative indices, int32 and int64) and every Sparrow dtype; named cases for the
// spec examples, duplicate indices, reductions at their opsets, and out-of-range indices (a
// SparrowError('invalid_model') naming the node, as ORT also refuses). The gather/scatter
// properties run on the reference engine and sparrow-f32. Also the older Gather, Expand, Where
// and Flatten kernels: negative axes and indices, broadcasting, bounds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BuildAttr } from '../src/onnx/build.js';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import type { EngineName } from '../src/runtime/session.js';
import {
  assertAgainstOrt,
  expectInvalidModel,
  expectSameAsOrt,
  expectTensor,
  indexTensor,
  lcg,
  randomTensor,
  runKernel,
  runOrt,
  runSparrow,
  values,
} from './helpers/op_oracle.js';

const DTYPES: TensorDType[] = ['float32', 'int64', 'int32', 'int8', 'uint8', 'bool'];
const NUM_RUNS = 100;
/** the reference engine and sparrow-f32 (where these nodes run as fallback steps on the arena) */
const BOTH: EngineName[] = ['reference', 'sparrow-f32'];
const f32 = (dims: number[], v: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
const i64 = (dims: number[], v: number[]): Tensor => indexTensor('int64', dims, v);

/** Random index values in [-size, size-1]. */
function randomIndices(dtype: 'int64' | 'int32', dims: number[], size: (pos: number) => number, seed: number): Tensor {
  const r = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return indexTensor(
    dtype,
    dims,
    Array.from({ length: n }, (_, i) => {
      const s = size(i);
      return Math.floor(r() * 2 * s) - s;
    }),
  );
}

const dimsArb = (minRank: number, maxRank: number) => fc.array(fc.integer({ min: 1, max: 4 }), { minLength: minRank, maxLength: maxRank });

// ---------------------------------------------------------------------------------------------
// GatherElements / ScatterElements

const elementsCase = fc.record({
  dims: dimsArb(1, 4),
  axisPick: fc.nat(),
  negativeAxis: fc.boolean(),
  idxShrink: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
  idxAxisLen: fc.integer({ min: 1, max: 5 }),
  dtype: fc.constantFrom(...DTYPES),
  idxType: fc.constantFrom('int64' as const, 'int32' as const),
  seed: fc.nat(),
});

interface ElementsCase {
  dims: number[];
  axisPick: number;
  negativeAxis: boolean;
  idxShrink: number[];
  idxAxisLen: number;
  dtype: TensorDType;
  idxType: 'int64' | 'int32';
  seed: number;
}

function elementsInputs(c: ElementsCase) {
  const r = c.dims.length;
  const axis = c.axisPick % r;
  const idxDims = c.dims.map((d, i) => (i === axis ? c.idxAxisLen : 1 + (c.idxShrink[i]! % d)));
  const data = randomTensor(c.dtype, c.dims, c.seed);
  const indices = randomIndices(c.idxType, idxDims, () => c.dims[axis]!, c.seed + 1);
  return { data, indices, idxDims, axisAttr: c.negativeAxis ? axis - r : axis };
}

describe('GatherElements', () => {
  it('matches onnxruntime on random shapes, axes and indices (property)', async () => {
    await assertAgainstOrt(
      fc.tuple(elementsCase, fc.constantFrom(11, 13)),
      ([c, opset]) => {
        const { data, indices, axisAttr } = elementsInputs(c);
        return expectSameAsOrt(
          { op: 'GatherElements', opset, attrs: { axis: axisAttr }, inputs: [data, indices], outputs: [data.dtype] },
          0,
          0,
          BOTH,
        );
      },
      NUM_RUNS,
    );
  });

  it('spec example, negative indices, indices smaller than data off the axis', () => {
    const data = f32([3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const [y] = runKernel('GatherElements', 13, [data, i64([2, 3], [-1, -2, 0, -3, 1, 2])], { axis: 0 });
    expect(values(y!)).toEqual([7, 5, 3, 1, 5, 9]);
    const [z] = runKernel('GatherElements', 13, [data, i64([2, 2], [2, 0, 1, 1])], { axis: 1 });
    expect(z!.dims).toEqual([2, 2]);
    expect(values(z!)).toEqual([3, 1, 5, 5]);
  });

  it('rejects out-of-range indices and mismatched ranks (invalid_model), as ORT does', async () => {
    const data = f32([2, 2], [1, 2, 3, 4]);
    for (const bad of [2, -3, 2 ** 40, -(2 ** 62)]) {
      const m = {
        op: 'GatherElements',
        opset: 13,
        attrs: { axis: 1 },
        inputs: [data, i64([2, 1], [0, bad])],
        outputs: ['float32' as const],
      };
      expect((await runOrt(m)).ok).toBe(false);
      expectInvalidModel(await runSparrow(m));
    }
    expectInvalidModel(() => runKernel('GatherElements', 13, [data, i64([2], [0, 1])]));
    expectInvalidModel(() => runKernel('GatherElements', 13, [data, i64([3, 1], [0, 1, 0])], { axis: 1 }));
    expectInvalidModel(() => runKernel('GatherElements', 13, [data, f32([2, 1], [0, 1])], { axis: 1 }));
  });
});

describe('ScatterElements / Scatter', () => {
  it('matches onnxruntime on random cases, every reduction at its opset (property)', async () => {
    const reductions = fc.constantFrom(
      ...(['none@11', 'none@13', 'none@16', 'add@16', 'mul@16', 'none@18', 'add@18', 'max@18', 'min@18'] as const),
    );
    await assertAgainstOrt(
      fc.tuple(elementsCase, reductions),
      ([c, rd]) => {
        const [reduction, opset] = [rd.split('@')[0]!, Number(rd.split('@')[1])];
        if (reduction !== 'none' && c.dtype === 'bool') c = { ...c, dtype: 'int32' }; // ORT has no bool reductions
        const { data, indices, idxDims, axisAttr } = elementsInputs(c);
        const updates = randomTensor(data.dtype, idxDims, c.seed + 2);
        const attrs: Record<string, BuildAttr> = opset >= 16 ? { axis: axisAttr, reduction } : { axis: axisAttr };
        return expectSameAsOrt(
          { op: 'ScatterElements', opset, attrs, inputs: [data, indices, updates], outputs: [data.dtype] },
          1e-6,
          0,
          BOTH,
        );
      },
      NUM_RUNS,
    );
  });

  it('Scatter-9/10 (deprecated) matches onnxruntime (property)', async () => {
    await assertAgainstOrt(
      fc.tuple(elementsCase, fc.constantFrom(9, 10)),
      ([c, opset]) => {
        const { data, indices, idxDims, axisAttr } = elementsInputs(c);
        const updates = randomTensor(data.dtype, idxDims, c.seed + 2);
        return expectSameAsOrt({
          op: 'Scatter',
          opset,
          attrs: { axis: axisAttr },
          inputs: [data, indices, updates],
          outputs: [data.dtype],
        });
      },
      20,
    );
  });

  it('duplicate indices: the last update wins without reduction; reductions fold them in order', () => {
    const data = f32([1, 5], [1, 2, 3, 4, 5]);
    const idx = i64([1, 2], [1, 1]);
    const upd = f32([1, 2], [1.1, 2.1]);
    expect(values(runKernel('ScatterElements', 13, [data, idx, upd], { axis: 1 })[0]!)).toEqual([1, 2.1, 3, 4, 5].map(Math.fround));
    expect(values(runKernel('ScatterElements', 16, [data, idx, upd], { axis: 1, reduction: 'add' })[0]!)).toEqual(
      [1, Math.fround(Math.fround(2 + Math.fround(1.1)) + Math.fround(2.1)), 3, 4, 5].map(Math.fround),
    );
    // max/min propagate NaN (numpy.maximum), like ONNX Max/Min
    const nan = f32([1, 2], [NaN, 3]);
    expect(
      values(runKernel('ScatterElements', 18, [f32([1, 2], [1, 5]), i64([1, 2], [0, 1]), nan], { axis: 1, reduction: 'max' })[0]!),
    ).toEqual([NaN, 5]);
    // int8 products wrap
    const d8: Tensor = { dtype: 'int8', dims: [2], data: Int8Array.from([100, 3]) };
    const u8: Tensor = { dtype: 'int8', dims: [1], data: Int8Array.from([3]) };
    expect(values(runKernel('ScatterElements', 16, [d8, i64([1], [0]), u8], { reduction: 'mul' })[0]!)).toEqual([44, 3]);
  });

  it('a reduction is refused before its opset (16: add/mul, 18: max/min)', () => {
    const args = [f32([2], [1, 2]), i64([1], [0]), f32([1], [5])];
    expectInvalidModel(() => runKernel('ScatterElements', 13, args, { reduction: 'add' }));
    expectInvalidModel(() => runKernel('ScatterElements', 16, args, { reduction: 'max' }));
    expectInvalidModel(() => runKernel('ScatterND', 17, [f32([2], [1, 2]), i64([1, 1], [0]), f32([1], [5])], { reduction: 'min' }));
    expect(values(runKernel('ScatterElements', 18, args, { reduction: 'max' })[0]!)).toEqual([5, 2]);
  });

  it('rejects out-of-range indices and bad shapes (invalid_model), as ORT does', async () => {
    const data = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    for (const bad of [3, -4]) {
      const m = {
        op: 'ScatterElements',
        opset: 13,
        attrs: { axis: 1 },
        inputs: [data, i64([1, 2], [0, bad]), f32([1, 2], [9, 9])],
        outputs: ['float32' as const],
      };
      expect((await runOrt(m)).ok).toBe(false);
      expectInvalidModel(await runSparrow(m));
    }
    expectInvalidModel(() => runKernel('ScatterElements', 13, [data, i64([1, 2], [0, 1]), f32([2, 1], [9, 9])], { axis: 1 }));
    expectInvalidModel(() => runKernel('ScatterElements', 13, [data, i64([3, 1], [0, 1, 1]), f32([3, 1], [9, 9, 9])], { axis: 1 }));
    expectInvalidModel(() => runKernel('Scatter', 9, [data, i64([1, 1], [0]), { dtype: 'int32', dims: [1, 1], data: Int32Array.of(1) }]));
  });
});

// ---------------------------------------------------------------------------------------------
// GatherND / ScatterND

const ndCase = fc.record({
  dims: dimsArb(1, 4),
  bPick: fc.nat(),
  kPick: fc.nat(),
  extra: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
  dtype: fc.constantFrom(...DTYPES),
  seed: fc.nat(),
});

function ndInputs(c: { dims: number[]; bPick: number; kPick: number; extra: number[]; dtype: TensorDType; seed: number }, batch: boolean) {
  const r = c.dims.length;
  const b = batch ? c.bPick % r : 0; // b < r; also b < q since q = b + extra + 1
  const k = 1 + (c.kPick % (r - b)); // 1..r-b
  const idxDims = [...c.dims.slice(0, b), ...c.extra, k];
  const data = randomTensor(c.dtype, c.dims, c.seed);
  const indices = randomIndices('int64', idxDims, (pos) => c.dims[b + (pos % k)]!, c.seed + 1);
  return { data, indices, b, k, idxDims };
}

describe('GatherND', () => {
  it('matches onnxruntime with and without batch_dims (property)', async () => {
    await assertAgainstOrt(
      fc.tuple(ndCase, fc.constantFrom(11, 12, 13)),
      ([c, opset]) => {
        const { data, indices, b } = ndInputs(c, opset >= 12);
        return expectSameAsOrt({
          op: 'GatherND',
          opset,
          attrs: opset >= 12 ? { batch_dims: b } : {},
          inputs: [data, indices],
          outputs: [data.dtype],
        });
      },
      NUM_RUNS,
    );
  });

  it('spec examples 1-5', () => {
    const d22 = i64([2, 2], [0, 1, 2, 3]);
    const d222 = i64([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7]);
    const g = (data: Tensor, idx: Tensor, b = 0) => runKernel('GatherND', 13, [data, idx], { batch_dims: b })[0]!;
    expectTensor(g(d22, i64([2, 2], [0, 0, 1, 1])), i64([2], [0, 3]), 'example 1');
    expectTensor(g(d22, i64([2, 1], [1, 0])), i64([2, 2], [2, 3, 0, 1]), 'example 2');
    expectTensor(g(d222, i64([2, 2], [0, 1, 1, 0])), i64([2, 2], [2, 3, 4, 5]), 'example 3');
    expectTensor(g(d222, i64([2, 1, 2], [0, 1, 1, 0])), i64([2, 1, 2], [2, 3, 4, 5]), 'example 4');
    expectTensor(g(d222, i64([2, 1], [1, 0]), 1), i64([2, 2], [2, 3, 4, 5]), 'example 5 (batch_dims 1)');
  });

  it('rejects out-of-range indices, long tuples and bad batch_dims', async () => {
    const data = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    for (const idx of [i64([1, 2], [0, 3]), i64([1, 2], [-3, 0]), i64([1, 3], [0, 0, 0])]) {
      const m = { op: 'GatherND', opset: 13, inputs: [data, idx], outputs: ['float32' as const] };
      expect((await runOrt(m)).ok).toBe(false);
      expectInvalidModel(await runSparrow(m));
    }
    expectInvalidModel(() => runKernel('GatherND', 13, [data, i64([2, 1], [0, 1])], { batch_dims: 2 }));
    expectInvalidModel(() => runKernel('GatherND', 13, [data, i64([3, 1], [0, 1, 0])], { batch_dims: 1 }));
    expectInvalidModel(() => runKernel('GatherND', 13, [data, indexTensor('int32', [1, 1], [0])]));
  });
});

describe('ScatterND', () => {
  it('matches onnxruntime, every reduction at its opset (property)', async () => {
    const reductions = fc.constantFrom(...(['none@11', 'none@13', 'add@16', 'mul@16', 'none@18', 'max@18', 'min@18'] as const));
    await assertAgainstOrt(
      fc.tuple(ndCase, reductions),
      ([c, rd]) => {
        const [reduction, opset] = [rd.split('@')[0]!, Number(rd.split('@')[1])];
        if (reduction !== 'none' && c.dtype === 'bool') c = { ...c, dtype: 'float32' };
        const { data, indices, k, idxDims } = ndInputs(c, false);
        const updates = randomTensor(data.dtype, [...idxDims.slice(0, -1), ...c.dims.slice(k)], c.seed + 2);
        const attrs: Record<string, BuildAttr> = opset >= 16 ? { reduction } : {};
        return expectSameAsOrt({ op: 'ScatterND', opset, attrs, inputs: [data, indices, updates], outputs: [data.dtype] }, 1e-6, 0, BOTH);
      },
      NUM_RUNS,
    );
  });

  it('spec example 1 and an int64 sum that wraps', () => {
    const data = i64([8], [1, 2, 3, 4, 5, 6, 7, 8]);
    expectTensor(
      runKernel('ScatterND', 13, [data, i64([4, 1], [4, 3, 1, 7]), i64([4], [9, 10, 11, 12])])[0]!,
      i64([8], [1, 11, 3, 10, 9, 6, 7, 12]),
      'ex 1',
    );
    const big: Tensor = { dtype: 'int64', dims: [1], data: BigInt64Array.of(2n ** 63n - 1n) };
    const [y] = runKernel('ScatterND', 16, [big, i64([1, 1], [0]), i64([1], [1])], { reduction: 'add' });
    expect((y!.data as BigInt64Array)[0]).toBe(-(2n ** 63n));
  });

  it('rejects out-of-range indices and updates of the wrong shape, as ORT does', async () => {
    const data = f32([2, 2], [1, 2, 3, 4]);
    const m = { op: 'ScatterND', opset: 13, inputs: [data, i64([1, 2], [0, -3]), f32([1], [9])], outputs: ['float32' as const] };
    expect((await runOrt(m)).ok).toBe(false);
    expectInvalidModel(await runSparrow(m));
    expectInvalidModel(() => runKernel('ScatterND', 13, [data, i64([1, 1], [0]), f32([1], [9])]));
    expectInvalidModel(() => runKernel('ScatterND', 13, [data, i64([1, 3], [0, 0, 0]), f32([1], [9])]));
  });
});

// ---------------------------------------------------------------------------------------------
// The older kernels of shape_ops.ts / elementwise.ts: negative indices and axes, bounds

describe('Gather, Expand, Where, Flatten (bounds and negative indices)', () => {
  it('Gather matches onnxruntime with negative axes and indices (property)', async () => {
    await assertAgainstOrt(
      fc.record({
        dims: dimsArb(1, 3),
        axisPick: fc.nat(),
        negative: fc.boolean(),
        idxDims: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
        dtype: fc.constantFrom(...DTYPES),
        idxType: fc.constantFrom('int64' as const, 'int32' as const),
        opset: fc.constantFrom(11, 13),
        seed: fc.nat(),
      }),
      (c) => {
        const axis = c.axisPick % c.dims.length;
        const data = randomTensor(c.dtype, c.dims, c.seed);
        const indices = randomIndices(c.idxType, c.idxDims, () => c.dims[axis]!, c.seed + 1);
        const attrs = { axis: c.negative ? axis - c.dims.length : axis };
        return expectSameAsOrt({ op: 'Gather', opset: c.opset, attrs, inputs: [data, indices], outputs: [data.dtype] }, 0, 0, BOTH);
      },
      NUM_RUNS,
    );
  });

  it('Expand matches onnxruntime for shapes that broadcast either way, 0 dims included (property)', async () => {
    await assertAgainstOrt(
      fc.record({
        dims: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
        lead: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
        ones: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        dtype: fc.constantFrom(...DTYPES),
        opset: fc.constantFrom(8, 13),
        seed: fc.nat(),
      }),
      (c) => {
        // the input has 1s where the target is larger; the target may have 1s where the input is larger
        const x = randomTensor(
          c.dtype,
          c.dims.map((d, i) => (c.ones[i] ? 1 : d)),
          c.seed,
        );
        const target = [...c.lead, ...c.dims.map((d, i) => (!c.ones[i] && c.seed % 2 === 0 ? 1 : d))];
        return expectSameAsOrt({ op: 'Expand', opset: c.opset, inputs: [x, i64([target.length], target)], outputs: [x.dtype] });
      },
      NUM_RUNS,
    );
  });

  it('Where matches onnxruntime with three-way broadcasting (property)', async () => {
    await assertAgainstOrt(
      // ORT has no bool or int8 Where kernel; Sparrow's copies elements of any dtype
      fc.record({
        dims: dimsArb(0, 3),
        cuts: fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
        dtype: fc.constantFrom<TensorDType>('float32', 'int64', 'int32', 'uint8'),
        seed: fc.nat(),
      }),
      (c) => {
        const sub = (k: number) => c.dims.slice(c.cuts[k]! % (c.dims.length + 1)).map((d, i) => (c.cuts[k + 3]! & (1 << i) ? 1 : d));
        const cond = randomTensor('bool', sub(0), c.seed);
        const x = randomTensor(c.dtype, sub(1), c.seed + 1);
        const y = randomTensor(c.dtype, sub(2), c.seed + 2);
        return expectSameAsOrt({ op: 'Where', opset: 16, inputs: [cond, x, y], outputs: [x.dtype] });
      },
      NUM_RUNS,
    );
  });

  it('Flatten matches onnxruntime for every axis in [-r, r] (property)', async () => {
    await assertAgainstOrt(
      fc.record({
        dims: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
        axisPick: fc.nat(),
        opset: fc.constantFrom(9, 11, 13),
        seed: fc.nat(),
      }),
      (c) => {
        const r = c.dims.length;
        // Flatten-9 takes axis in [0, r]; from 11 in [-r, r]
        const axis = c.opset < 11 ? c.axisPick % (r + 1) : (c.axisPick % (2 * r + 1)) - r;
        const x = randomTensor('float32', c.dims, c.seed);
        return expectSameAsOrt({ op: 'Flatten', opset: c.opset, attrs: { axis }, inputs: [x], outputs: ['float32'] });
      },
      NUM_RUNS,
    );
  });

  it('refuses out-of-range Gather indices, axes out of range, negative Expand dims (invalid_model)', async () => {
    const data = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    for (const bad of [3, -4, 2 ** 40]) {
      const m = { op: 'Gather', opset: 13, attrs: { axis: 1 }, inputs: [data, i64([1], [bad])], outputs: ['float32' as const] };
      expect((await runOrt(m)).ok).toBe(false);
      expectInvalidModel(await runSparrow(m));
    }
    expectInvalidModel(() => runKernel('Gather', 13, [data, i64([1], [0])], { axis: -3 }));
    expectInvalidModel(() => runKernel('Flatten', 13, [data], { axis: 3 }));
    expectInvalidModel(() => runKernel('Flatten', 13, [data], { axis: -3 }));
    // a negative target dim broadcast into a negative size (found by test/ops.hostile)
    const m = { op: 'Expand', opset: 13, inputs: [f32([1], [1]), i64([2], [2, -1])], outputs: ['float32' as const] };
    expect((await runOrt(m)).ok).toBe(false);
    expectInvalidModel(await runSparrow(m));
    expectInvalidModel(() => runKernel('Where', 16, [f32([1], [1]), data, data]));
    expectInvalidModel(() => runKernel('Where', 16, [{ dtype: 'bool', dims: [1], data: Uint8Array.of(1) }, data, i64([1], [1])]));
  });
});
