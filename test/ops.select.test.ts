// NonZero, Compress, Unique, ReverseSequence against onnxruntime-node (fast-check over shapes,
// axes, dtypes; values drawn from a few levels so zeros and duplicates are common). Dtypes ORT
// has no kernel for run in ORT through a cast that keeps the result (expectSameAsOrtVia).
// Named cases: the spec examples, NaN / -0 in NonZero and Unique, a scalar NonZero, the
// shape functions' data-dependent dims, and invalid inputs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveOp } from '../src/ops/registry.js';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import {
  assertAgainstOrt,
  expectInvalidModel,
  expectSameAsOrt,
  expectSameAsOrtVia,
  expectTensor,
  indexTensor,
  lcg,
  randomTensor,
  runKernel,
  values,
} from './helpers/op_oracle.js';

const DTYPES: TensorDType[] = ['float32', 'int64', 'int32', 'int8', 'uint8', 'bool'];
const NUM_RUNS = 60;
const f32 = (dims: number[], v: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
const i64 = (dims: number[], v: number[]): Tensor => indexTensor('int64', dims, v);
const bool = (v: number[]): Tensor => ({ dtype: 'bool', dims: [v.length], data: Uint8Array.from(v) });
const dimsArb = (minRank: number, maxRank: number, maxDim = 4) =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });

describe('NonZero', () => {
  it('matches onnxruntime (property; int8 through int32)', async () => {
    await assertAgainstOrt(
      fc.tuple(dimsArb(0, 4), fc.constantFrom(...DTYPES), fc.constantFrom(9, 13), fc.nat()),
      ([dims, dtype, opset, seed]) => {
        const x = randomTensor(dtype, dims, seed, 3); // a third zeros
        const m = { op: 'NonZero', opset, inputs: [x], outputs: ['int64' as const] };
        return dtype === 'int8' ? expectSameAsOrtVia(m, 'int8', 'int32') : expectSameAsOrt(m);
      },
      NUM_RUNS,
    );
  });

  it('NaN is non-zero, -0 is zero; a scalar gives [1, n]', () => {
    const [y] = runKernel('NonZero', 13, [f32([2, 2], [NaN, -0, 0, 3])]);
    expectTensor(y!, i64([2, 2], [0, 1, 0, 1]), 'NaN/-0');
    expectTensor(runKernel('NonZero', 13, [f32([], [5])])[0]!, i64([1, 1], [0]), 'scalar 5');
    expectTensor(runKernel('NonZero', 13, [f32([], [0])])[0]!, i64([1, 0], []), 'scalar 0');
    const shape = resolveOp('NonZero', '', 13, 'n').shape([{ dtype: 'float32', dims: [2, -1, 3] }], {}, [], { opset: 13, node: 'n' });
    expect(shape).toEqual([{ dtype: 'int64', dims: [3, -1] }]);
  });
});

describe('Compress', () => {
  it('matches onnxruntime with and without axis, short and long conditions (property)', async () => {
    await assertAgainstOrt(
      fc.record({
        dims: dimsArb(1, 4),
        axisPick: fc.option(fc.nat(), { nil: undefined }),
        negative: fc.boolean(),
        condExtra: fc.integer({ min: -3, max: 2 }),
        dtype: fc.constantFrom(...DTYPES),
        opset: fc.constantFrom(9, 11),
        seed: fc.nat(),
      }),
      (c) => {
        const x = randomTensor(c.dtype, c.dims, c.seed);
        const r = c.dims.length;
        const axis = c.axisPick === undefined ? undefined : c.axisPick % r;
        const len = axis === undefined ? x.data.length : c.dims[axis]!;
        const rnd = lcg(c.seed + 7);
        const cond = bool(Array.from({ length: Math.max(0, len + c.condExtra) }, () => (rnd() < 0.5 ? 1 : 0)));
        const attrs: Record<string, number> = axis === undefined ? {} : { axis: c.negative && c.opset >= 11 ? axis - r : axis };
        return expectSameAsOrt({ op: 'Compress', opset: c.opset, attrs, inputs: [x, cond], outputs: [x.dtype] });
      },
      NUM_RUNS,
    );
  });

  it('spec examples; a constant condition gives a static shape', () => {
    const x = f32([3, 2], [1, 2, 3, 4, 5, 6]);
    expectTensor(runKernel('Compress', 11, [x, bool([0, 1, 1])], { axis: 0 })[0]!, f32([2, 2], [3, 4, 5, 6]), 'axis 0');
    expectTensor(runKernel('Compress', 11, [x, bool([0, 1])], { axis: 1 })[0]!, f32([3, 1], [2, 4, 6]), 'axis 1');
    expectTensor(runKernel('Compress', 11, [x, bool([0, 1, 0, 0, 1])])[0]!, f32([2], [2, 5]), 'flattened');
    const def = resolveOp('Compress', '', 11, 'n');
    const ctx = { opset: 11, node: 'n' };
    expect(
      def.shape(
        [
          { dtype: 'float32', dims: [3, 2] },
          { dtype: 'bool', dims: [3] },
        ],
        { axis: -2 },
        [undefined, bool([1, 0, 1])],
        ctx,
      ),
    ).toEqual([{ dtype: 'float32', dims: [2, 2] }]);
    expect(
      def.shape(
        [
          { dtype: 'float32', dims: [3, 2] },
          { dtype: 'bool', dims: [3] },
        ],
        {},
        [],
        ctx,
      ),
    ).toEqual([{ dtype: 'float32', dims: [-1] }]);
  });

  it('rejects a non-bool or multi-dimensional condition and an out-of-range axis', () => {
    const x = f32([2, 2], [1, 2, 3, 4]);
    expectInvalidModel(() => runKernel('Compress', 11, [x, i64([2], [1, 0])], { axis: 0 }));
    expectInvalidModel(() => runKernel('Compress', 11, [x, { dtype: 'bool', dims: [1, 2], data: Uint8Array.of(1, 0) }], { axis: 0 }));
    expectInvalidModel(() => runKernel('Compress', 11, [x, bool([1])], { axis: 2 }));
  });
});

describe('Unique', () => {
  // ORT's Unique runs float, int64 and int8; int32 / uint8 / bool go through int64
  const VIA: Partial<Record<TensorDType, TensorDType>> = { int32: 'int64', uint8: 'int64', bool: 'int64' };

  it('matches onnxruntime: flattened and along an axis, sorted and in first-occurrence order (property)', async () => {
    await assertAgainstOrt(
      fc.record({
        dims: dimsArb(1, 3),
        axisPick: fc.option(fc.nat(), { nil: undefined }),
        negative: fc.boolean(),
        sorted: fc.constantFrom(0, 1, undefined),
        dtype: fc.constantFrom(...DTYPES),
        distinct: fc.integer({ min: 1, max: 6 }),
        seed: fc.nat(),
      }),
      (c) => {
        const x = randomTensor(c.dtype, c.dims, c.seed, c.distinct);
        const r = c.dims.length;
        const attrs: Record<string, number> = {};
        if (c.axisPick !== undefined) attrs.axis = c.negative ? (c.axisPick % r) - r : c.axisPick % r;
        if (c.sorted !== undefined) attrs.sorted = c.sorted;
        const m = { op: 'Unique', opset: 11, attrs, inputs: [x], outputs: [x.dtype, 'int64' as const, 'int64' as const, 'int64' as const] };
        const via = VIA[c.dtype];
        return via ? expectSameAsOrtVia(m, c.dtype, via) : expectSameAsOrt(m);
      },
      NUM_RUNS,
    );
  });

  it('spec examples 1-4', () => {
    const check = (x: Tensor, attrs: Record<string, number>, y: Tensor, idx: number[], inv: number[], counts: number[]) => {
      const [gy, gi, ginv, gc] = runKernel('Unique', 11, [x], attrs);
      expectTensor(gy!, y, 'Y');
      expect(values(gi!)).toEqual(idx);
      expect(values(ginv!)).toEqual(inv);
      expect(values(gc!)).toEqual(counts);
    };
    check(f32([6], [2, 1, 1, 3, 4, 3]), { sorted: 0 }, f32([4], [2, 1, 3, 4]), [0, 1, 3, 4], [0, 1, 1, 2, 3, 2], [1, 2, 2, 1]);
    check(f32([2, 2], [1, 3, 2, 3]), {}, f32([3], [1, 2, 3]), [0, 2, 1], [0, 2, 1, 2], [1, 1, 2]);
    check(f32([3, 3], [1, 0, 0, 1, 0, 0, 2, 3, 4]), { axis: 0 }, f32([2, 3], [1, 0, 0, 2, 3, 4]), [0, 2], [0, 0, 1], [2, 1]);
    const x4 = f32([2, 4, 2], [1, 1, 0, 1, 2, 1, 0, 1, 1, 1, 0, 1, 2, 1, 0, 1]);
    check(x4, { axis: 1 }, f32([2, 3, 2], [0, 1, 1, 1, 2, 1, 0, 1, 1, 1, 2, 1]), [1, 0, 2], [1, 0, 2, 0], [2, 1, 1]);
  });

  it("NaN sorts last and all NaNs are one value; -0 equals +0 (numpy's unique)", () => {
    const [y, idx, inv, counts] = runKernel('Unique', 11, [f32([5], [NaN, 1, NaN, 0, -0])]);
    expect(values(y!)).toEqual([0, 1, NaN]);
    expect(values(idx!)).toEqual([3, 1, 0]);
    expect(values(inv!)).toEqual([2, 1, 2, 0, 0]);
    expect(values(counts!)).toEqual([2, 1, 2]);
  });
});

describe('ReverseSequence', () => {
  it('matches onnxruntime for both axis layouts and every dtype (property)', async () => {
    await assertAgainstOrt(
      fc.record({ dims: dimsArb(2, 4), timeFirst: fc.boolean(), dtype: fc.constantFrom(...DTYPES), seed: fc.nat() }),
      (c) => {
        const [ba, ta] = c.timeFirst ? [1, 0] : [0, 1];
        const x = randomTensor(c.dtype, c.dims, c.seed, 50);
        const rnd = lcg(c.seed + 3);
        const lens = i64(
          [c.dims[ba]!],
          Array.from({ length: c.dims[ba]! }, () => Math.floor(rnd() * (c.dims[ta]! + 1))),
        );
        return expectSameAsOrt({
          op: 'ReverseSequence',
          opset: 10,
          attrs: { batch_axis: ba, time_axis: ta },
          inputs: [x, lens],
          outputs: [x.dtype],
        });
      },
      NUM_RUNS,
    );
  });

  it('rejects lengths outside [0, steps], a wrong sequence_lens shape and equal axes', () => {
    const x = f32([3, 2], [1, 2, 3, 4, 5, 6]); // time 3, batch 2
    expectTensor(runKernel('ReverseSequence', 10, [x, i64([2], [3, 2])])[0]!, f32([3, 2], [5, 4, 3, 2, 1, 6]), 'time-major');
    expectInvalidModel(() => runKernel('ReverseSequence', 10, [x, i64([2], [4, 1])]));
    expectInvalidModel(() => runKernel('ReverseSequence', 10, [x, i64([2], [-1, 1])]));
    expectInvalidModel(() => runKernel('ReverseSequence', 10, [x, i64([3], [1, 1, 1])]));
    expectInvalidModel(() => runKernel('ReverseSequence', 10, [x, i64([2], [1, 1])], { batch_axis: 0, time_axis: 0 }));
    expectInvalidModel(() => runKernel('ReverseSequence', 10, [f32([3], [1, 2, 3]), i64([3], [1, 1, 1])]));
  });
});
