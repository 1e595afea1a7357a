// Reductions and scans (src/ops/ref/reduce.ts) against onnxruntime-node on random tensors
// (fast-check): the ten Reduce* ops with random axes (negative, empty, all), keepdims and
// noop_with_empty_axes, in the attribute form (opset 13, ReduceSum 11) and the input form (18,
// ReduceSum 13); ArgMax/ArgMin with select_last_index; Hardmax both forms; CumSum exclusive /
// reverse. Plus the empty-set identities and the NaN cases where Sparrow follows ONNX's numpy
// reference instead of onnxruntime.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import type { BuildAttr } from '../src/onnx/build.js';
import {
  OpCase,
  EXACT,
  ULPS,
  compareWithOrt,
  f32Value,
  intValue,
  runRef,
  shape,
  tensorOf,
  valueOf,
  type Tolerance,
} from './helpers/ort-op.js';

const open: OpCase[] = [];
afterAll(async () => {
  for (const c of open) await c.dispose();
});

async function property(
  spec: { op: string; opset: number; inputs: Array<TensorDType | ''>; outputs: TensorDType[]; attrs?: Record<string, BuildAttr> },
  inputs: fc.Arbitrary<Array<Tensor | undefined>>,
  tol: Tolerance,
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

const i64 = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v, BigInt) });

/**
 * Distinct axes of a rank-r tensor, each possibly negative (not for empty tensors: onnxruntime
 * then returns the input unchanged, a bug; the node tests and the unit cases below cover them);
 * may be empty.
 */
const axesOf = (dims: number[]): fc.Arbitrary<number[]> => {
  const r = dims.length;
  const neg = !dims.includes(0);
  return fc
    .subarray(
      Array.from({ length: r }, (_, i) => i),
      { minLength: 0 },
    )
    .chain((axes) => fc.tuple(...axes.map((a) => (neg ? fc.constantFrom(a, a - r) : fc.constant(a)))))
    .map((a) => a as number[]);
};

type Kind = 'Sum' | 'Prod' | 'Max' | 'Min' | 'Mean' | 'L1' | 'L2' | 'LogSum' | 'LogSumExp' | 'SumSquare';
const KINDS: Kind[] = ['Sum', 'Prod', 'Max', 'Min', 'Mean', 'L1', 'L2', 'LogSum', 'LogSumExp', 'SumSquare'];

/**
 * Values per (kind, dtype) where the engines agree by construction: onnxruntime's ReduceMax/Min
 * skip NaN (numpy and Sparrow propagate it: named case below); integer Prod/L1/L2/SumSquare/LogSum*
 * overflow differently in each implementation (they are kept small); ReduceMean of an empty set
 * is 0 in onnxruntime, NaN (0/0) in numpy and Sparrow (no zero dims for Mean).
 */
function values(kind: Kind, dtype: TensorDType): fc.Arbitrary<number | bigint> {
  if (dtype === 'float32') {
    if (kind === 'Max' || kind === 'Min') return f32Value().filter((v) => !Number.isNaN(v));
    // LogSumExp of a row with NaN and +Inf: NaN (numpy, Sparrow), +Inf (onnxruntime); below -80
    // onnxruntime's float32 exp goes subnormal and loses digits
    if (kind === 'LogSumExp') return f32Value().filter((v) => !Number.isNaN(v) && !(v < -80 && v > -Infinity));
    // LogSum: the log of a float64 sum (Sparrow) vs a float32 one magnifies cancellation (1 + 1e-16 - 1):
    // half-integers and the special values
    if (kind === 'LogSum')
      return fc.oneof(
        fc.integer({ min: -8, max: 8 }).map((k) => k / 2),
        fc.constantFrom(NaN, Infinity, -Infinity, -0),
      );
    // products: no tiny factors (0 * Inf or Inf depending on the order of the products)
    if (kind === 'Prod')
      return fc.oneof(
        fc.float({ min: -2, max: 2, noNaN: true }).filter((v) => Math.abs(v) >= 0.25),
        fc.constantFrom(NaN, Infinity, -0, 0),
      );
    // sums: Sparrow accumulates in float64, onnxruntime in float32 (a partial sum beyond 3.4e38 is
    // ±Inf there): values up to 1e30
    return f32Value().filter((v) => !(Math.abs(v) > 1e30 && Number.isFinite(v)));
  }
  if (kind === 'Max' || kind === 'Min') return intValue(dtype);
  // onnxruntime's integer ReduceSum does not wrap like the dtype either (int32: a float64 sum cast back)
  if (kind === 'Sum' && dtype === 'int32') return fc.integer({ min: -(2 ** 22), max: 2 ** 22 });
  if (kind === 'Sum' && dtype === 'int64') return fc.bigInt({ min: -(2n ** 44n), max: 2n ** 44n }); // int64: a float64 sum, exact below 2^53
  // onnxruntime's integer ReduceProd does not wrap like the dtype (numpy and Sparrow do: unit case below)
  if (kind === 'Prod') return fc.integer({ min: dtype === 'uint8' ? 0 : -1, max: 1 }).map((v) => (dtype === 'int64' ? BigInt(v) : v));
  return dtype === 'int64' ? fc.bigInt({ min: -1000n, max: 1000n }) : fc.integer({ min: dtype === 'uint8' ? 0 : -100, max: 100 });
}

/** The float tolerance of a kind: sums in float64 (Sparrow) vs float32 (onnxruntime). */
function tolOf(kind: Kind, dtype: TensorDType): Tolerance {
  if (dtype !== 'float32' || kind === 'Max' || kind === 'Min') return EXACT;
  return { rtol: 1e-4, atol: 1e-3 };
}

function dtypesOf(kind: Kind, opset: number): TensorDType[] {
  // onnxruntime implements Reduce* for float32/int32/int64 (Max/Min also int8/uint8, bool from 20)
  if (kind === 'Max' || kind === 'Min')
    return opset >= 20 ? ['float32', 'int64', 'int32', 'int8', 'uint8', 'bool'] : ['float32', 'int64', 'int32', 'int8', 'uint8'];
  // integer ReduceLogSumExp: onnxruntime truncates log(sum(exp(x - max))) before adding max (-1 for
  // log-sum-exp(-29, -1, -2) = -0.69); Sparrow truncates the exact value (0): unit case below
  if (kind === 'LogSumExp') return ['float32'];
  return ['float32', 'int64', 'int32'];
}

/** No empty tensors: ReduceMean (onnxruntime: 0, numpy: NaN) and bool Max/Min (onnxruntime and numpy refuse an empty bool set; Sparrow gives false/true). */
const noZero = (s: number[]): number[] => s.map((d) => d || 1);

describe('Reduce* with axes as input vs onnxruntime-node', () => {
  for (const kind of KINDS) {
    const opset = kind === 'Sum' ? 13 : 18;
    for (const o of kind === 'Max' || kind === 'Min' ? [opset, 20] : [opset]) {
      for (const dtype of dtypesOf(kind, o)) {
        for (const keepdims of [0, 1]) {
          for (const noop of [0, 1]) {
            it(`Reduce${kind}-${o} ${dtype} keepdims=${keepdims} noop_with_empty_axes=${noop}`, async () => {
              const inputs = shape()
                .map((s) => (kind === 'Mean' || dtype === 'bool' ? noZero(s) : s))
                .chain((s) => fc.tuple(tensorOf(dtype, s, values(kind, dtype)), axesOf(s)))
                .map(([x, axes]) => [x, i64(axes)]);
              await property(
                {
                  op: `Reduce${kind}`,
                  opset: o,
                  inputs: [dtype, 'int64'],
                  outputs: [dtype],
                  attrs: { keepdims, noop_with_empty_axes: noop },
                },
                inputs,
                tolOf(kind, dtype),
                25,
              );
            });
          }
        }
      }
    }
  }
});

describe('Reduce* with the axes attribute vs onnxruntime-node', () => {
  const configs: Array<Record<string, BuildAttr>> = [
    {},
    { axes: [0] },
    { axes: [-1], keepdims: 0 },
    { axes: [0, 2], keepdims: 1 },
    { axes: [2, -3], keepdims: 0 },
  ];
  for (const kind of KINDS) {
    const opset = kind === 'Sum' ? 11 : 13;
    for (const dtype of (kind === 'LogSumExp' ? ['float32'] : ['float32', 'int32']) as TensorDType[]) {
      for (const attrs of configs) {
        it(`Reduce${kind}-${opset} ${dtype} ${JSON.stringify(attrs)}`, async () => {
          // zero dims only with non-negative axes (onnxruntime returns an empty input unchanged otherwise)
          const neg = (attrs.axes as number[] | undefined)?.some((a) => a < 0) ?? false;
          const rank3 = fc.array(fc.integer({ min: kind === 'Mean' || neg ? 1 : 0, max: 4 }), { minLength: 3, maxLength: 3 });
          const inputs = rank3.chain((s) => tensorOf(dtype, s, values(kind, dtype))).map((x) => [x]);
          await property({ op: `Reduce${kind}`, opset, inputs: [dtype], outputs: [dtype], attrs }, inputs, tolOf(kind, dtype), 20);
        });
      }
    }
  }
});

describe('ArgMax / ArgMin / Hardmax / CumSum vs onnxruntime-node', () => {
  for (const op of ['ArgMax', 'ArgMin']) {
    for (const opset of [11, 13]) {
      for (const dtype of ['float32', 'int64', 'int32', 'int8', 'uint8'] as TensorDType[]) {
        for (const axis of [0, -1, 1]) {
          for (const last of opset >= 12 ? [0, 1] : [0]) {
            const attrs: Record<string, BuildAttr> = {
              axis,
              keepdims: axis === 1 ? 0 : 1,
              ...(opset >= 12 ? { select_last_index: last } : {}),
            };
            it(`${op}-${opset} ${dtype} ${JSON.stringify(attrs)}`, async () => {
              const minRank = axis === 1 ? 2 : 1;
              // ties are common with small values. No NaN: numpy (and Sparrow) treat NaN as the extremum;
              // onnxruntime does on some paths only (the unit cases below hold the NaN semantics)
              const v =
                dtype === 'float32'
                  ? fc.oneof(
                      fc.integer({ min: -3, max: 3 }),
                      f32Value().filter((x) => !Number.isNaN(x)),
                    )
                  : fc.oneof(
                      fc.integer({ min: -3, max: 3 }).map((x) => (dtype === 'int64' ? BigInt(x) : dtype === 'uint8' ? x + 3 : x)),
                      valueOf(dtype),
                    );
              const dims = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: minRank, maxLength: 4 });
              const inputs = dims.chain((s) => tensorOf(dtype, s, v)).map((x) => [x]);
              await property({ op, opset, inputs: [dtype], outputs: ['int64'], attrs }, inputs, EXACT, 30);
            });
          }
        }
      }
    }
  }

  for (const [opset, axis] of [
    [11, 1],
    [11, 0],
    [13, -1],
    [13, 0],
  ] as const) {
    it(`Hardmax-${opset} axis=${axis}`, async () => {
      const dims = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }).filter((s) => s.length > axis);
      const v = fc.oneof(
        fc.integer({ min: -2, max: 2 }),
        f32Value().filter((x) => !Number.isNaN(x)),
      );
      const inputs = dims.chain((s) => tensorOf('float32', s, v)).map((x) => [x]);
      await property({ op: 'Hardmax', opset, inputs: ['float32'], outputs: ['float32'], attrs: { axis } }, inputs, EXACT, 30);
    });
  }

  for (const opset of [11, 14]) {
    for (const dtype of ['float32', 'int64', 'int32'] as TensorDType[]) {
      for (const [exclusive, reverse] of [
        [0, 0],
        [1, 0],
        [0, 1],
        [1, 1],
      ]) {
        it(`CumSum-${opset} ${dtype} exclusive=${exclusive} reverse=${reverse}`, async () => {
          const inputs = shape()
            .filter((s) => s.length > 0)
            .chain((s) => fc.tuple(tensorOf(dtype, s), fc.integer({ min: -s.length, max: s.length - 1 })))
            .map(([x, axis]): Array<Tensor | undefined> => [x, { dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(axis)) }]);
          await property(
            { op: 'CumSum', opset, inputs: [dtype, 'int64'], outputs: [dtype], attrs: { exclusive, reverse } },
            inputs,
            dtype === 'float32' ? ULPS : EXACT,
            30,
          );
        });
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------

const f32 = (dims: number[], v: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
function ref(op: string, opset: number, xs: Array<Tensor | undefined>, attrs: Record<string, BuildAttr> = {}): Tensor {
  const r = runRef({ op, opset, inputs: xs.map((x) => x?.dtype ?? ''), outputs: [], attrs }, xs);
  if (!r.ok) throw new Error(r.error);
  return r.outs[0]!;
}
function refError(op: string, opset: number, xs: Array<Tensor | undefined>, attrs: Record<string, BuildAttr> = {}): string {
  const r = runRef({ op, opset, inputs: xs.map((x) => x?.dtype ?? ''), outputs: [], attrs }, xs);
  return r.ok ? 'no error' : r.error;
}
const vals = (t: Tensor): Array<number | bigint> => Array.from(t.data as ArrayLike<number | bigint>);

describe('reductions: exact values and errors', () => {
  it('empty-set reductions give the identities of onnx reference (ReduceMean: NaN)', () => {
    const empty = f32([2, 0, 3], []);
    const want: Record<Kind, number> = {
      Sum: 0,
      Prod: 1,
      Max: -Infinity,
      Min: Infinity,
      Mean: NaN,
      L1: 0,
      L2: 0,
      LogSum: -Infinity,
      LogSumExp: -Infinity,
      SumSquare: 0,
    };
    for (const kind of KINDS) {
      const y = ref(`Reduce${kind}`, 18, [empty, i64([1])]);
      expect(y.dims, kind).toEqual([2, 1, 3]);
      expect(vals(y), kind).toEqual(Array(6).fill(want[kind]));
    }
    const ei: Tensor = { dtype: 'int32', dims: [0], data: new Int32Array(0) };
    expect(vals(ref('ReduceMax', 18, [ei], { keepdims: 0 }))).toEqual([-2147483648]);
    expect(vals(ref('ReduceMin', 13, [{ dtype: 'int8', dims: [0], data: new Int8Array(0) }], { keepdims: 0 }))).toEqual([127]);
    expect(vals(ref('ReduceMin', 20, [{ dtype: 'bool', dims: [0], data: new Uint8Array(0) }], { keepdims: 0 }))).toEqual([1]);
    // non-reduced axis of size 0: an empty output
    expect(ref('ReduceSum', 13, [f32([2, 0, 4], []), i64([2])]).dims).toEqual([2, 0, 1]);
  });

  it('float32 squares and products overflow / underflow as in float32 (numpy, onnxruntime)', () => {
    expect(vals(ref('ReduceL2', 13, [f32([2], [2e19, 0])], { keepdims: 0 }))).toEqual([Infinity]);
    expect(vals(ref('ReduceProd', 13, [f32([3], [1e-30, 1e-30, -Infinity])], { keepdims: 0 }))).toEqual([NaN]); // 1e-60 -> 0, 0 * -Inf
  });

  it('ReduceMax/ReduceMin propagate NaN (numpy.maximum.reduce; onnxruntime skips NaN)', () => {
    const x = f32([2, 3], [1, NaN, 3, -Infinity, 2, 0]);
    expect(vals(ref('ReduceMax', 13, [x], { axes: [1], keepdims: 0 }))).toEqual([NaN, 2]);
    expect(vals(ref('ReduceMin', 18, [x, i64([0])], { keepdims: 0 }))).toEqual([-Infinity, NaN, 0]);
  });

  it('ReduceLogSumExp: stable for large values; +Inf, all -Inf and NaN rows', () => {
    const x = f32([4, 2], [1000, 1000, Infinity, 1, -Infinity, -Infinity, NaN, 1]);
    expect(vals(ref('ReduceLogSumExp', 18, [x, i64([1])], { keepdims: 0 }))).toEqual([
      Math.fround(1000 + Math.log(2)),
      Infinity,
      -Infinity,
      NaN,
    ]);
  });

  it('noop_with_empty_axes reduces over the empty set (the elementwise steps stay); empty axes otherwise reduce all', () => {
    const x = f32([2, 2], [1, 2, 3, 4]);
    const noop = ref('ReduceSum', 13, [x, i64([])], { noop_with_empty_axes: 1, keepdims: 0 });
    expect([noop.dims, vals(noop)]).toEqual([
      [2, 2],
      [1, 2, 3, 4],
    ]);
    const neg = f32([4], [-2, 3, 1e20, NaN]);
    expect(vals(ref('ReduceSumSquare', 18, [neg, undefined], { noop_with_empty_axes: 1 }))).toEqual([4, 9, Infinity, NaN]);
    expect(vals(ref('ReduceL1', 18, [neg, i64([])], { noop_with_empty_axes: 1 }))).toEqual([2, 3, 1e20, NaN].map(Math.fround));
    expect(vals(ref('ReduceLogSum', 18, [neg, i64([])], { noop_with_empty_axes: 1 }))).toEqual([
      NaN,
      Math.fround(Math.log(3)),
      Math.fround(Math.log(1e20)),
      NaN,
    ]);
    const all = ref('ReduceProd', 18, [x, undefined], { keepdims: 0 });
    expect([all.dims, vals(all)]).toEqual([[], [24]]);
    const attrAll = ref('ReduceL1', 13, [x], { axes: [] });
    expect([attrAll.dims, vals(attrAll)]).toEqual([[1, 1], [10]]);
  });

  it('integer sums and products wrap; integer Mean truncates toward zero', () => {
    const x: Tensor = { dtype: 'int32', dims: [3], data: Int32Array.of(2147483647, 1, 0) };
    expect(vals(ref('ReduceSum', 13, [x], { keepdims: 0 }))).toEqual([-2147483648]);
    const p: Tensor = { dtype: 'int32', dims: [2], data: Int32Array.of(65536, 65537) };
    expect(vals(ref('ReduceProd', 13, [p], { keepdims: 0 }))).toEqual([65536]);
    const m: Tensor = { dtype: 'int64', dims: [3], data: BigInt64Array.of(-3n, -4n, -1n) };
    expect(vals(ref('ReduceMean', 18, [m], { keepdims: 0 }))).toEqual([-2n]);
    // exact modular sums (onnxruntime: -2147483648, a float64 sum cast back)
    const s: Tensor = { dtype: 'int32', dims: [6], data: Int32Array.of(-(2 ** 31), -(2 ** 31), -(2 ** 31), -(2 ** 31), -(2 ** 31), -1) };
    expect(vals(ref('ReduceSum', 13, [s], { keepdims: 0 }))).toEqual([2147483647]);
    // integer log-sum-exp: trunc(log(e^-29 + e^-1 + e^-2)) = trunc(-0.687) = 0 (onnxruntime: -1)
    const l: Tensor = { dtype: 'int32', dims: [3], data: Int32Array.of(-29, -1, -2) };
    expect(vals(ref('ReduceLogSumExp', 18, [l], { keepdims: 0 }))).toEqual([0]);
    expect(vals(ref('ReduceL2', 18, [{ dtype: 'int32', dims: [3], data: Int32Array.of(3, 4, 1) }], { keepdims: 0 }))).toEqual([5]);
  });

  it('axes: duplicates, out-of-range axes, and axes in the wrong form (attribute vs input) are invalid', () => {
    const x = f32([2, 2], [1, 2, 3, 4]);
    expect(refError('ReduceSum', 13, [x, i64([1, -1])])).toMatch(/duplicate/);
    expect(refError('ReduceMax', 18, [x, i64([2])])).toMatch(/out of range/);
    expect(refError('ReduceL2', 18, [x], { axes: [0] })).toMatch(/axes is an input of ReduceL2-18/);
    expect(refError('ReduceL2', 17, [x, i64([0])])).toMatch(/ReduceL2-17 takes axes as an attribute/);
    expect(refError('ReduceSum', 12, [x, i64([0])])).toMatch(/ReduceSum-12 takes axes as an attribute/);
    expect(refError('ReduceSum', 11, [{ dtype: 'int8', dims: [1], data: Int8Array.of(1) }])).toMatch(/ReduceSum-11 accepts/);
    expect(refError('ReduceMax', 11, [{ dtype: 'int8', dims: [1], data: Int8Array.of(1) }])).toMatch(/ReduceMax-11 accepts/);
    expect(vals(ref('ReduceMax', 12, [{ dtype: 'int8', dims: [2], data: Int8Array.of(-1, 5) }], { keepdims: 0 }))).toEqual([5]);
  });

  it('ArgMax/ArgMin: NaN counts as the extremum (numpy); select_last_index picks the last NaN as onnx reference does', () => {
    const x = f32([5], [1, NaN, 3, NaN, 3]);
    expect(vals(ref('ArgMax', 13, [x]))).toEqual([1n]);
    expect(vals(ref('ArgMin', 13, [x]))).toEqual([1n]);
    expect(vals(ref('ArgMax', 13, [x], { select_last_index: 1 }))).toEqual([3n]); // onnxruntime: 4
    const ties = f32([4], [3, 1, 3, 1]);
    expect(vals(ref('ArgMax', 12, [ties], { select_last_index: 1 }))).toEqual([2n]);
    expect(vals(ref('ArgMin', 12, [ties], { select_last_index: 1 }))).toEqual([3n]);
    expect(vals(ref('ArgMax', 11, [ties], { select_last_index: 1 }))).toEqual([0n]); // not an ArgMax-11 attribute
    expect(refError('ArgMax', 13, [f32([2, 0], [])], { axis: 1 })).toMatch(/empty/);
  });

  it('Hardmax: 2-D coercion before 13, one axis from 13; NaN is the maximum', () => {
    const x = f32([2, 2], [1, 4, 3, 2]);
    expect(vals(ref('Hardmax', 11, [x], { axis: 0 }))).toEqual([0, 1, 0, 0]); // one row of 4
    expect(vals(ref('Hardmax', 13, [x], { axis: 0 }))).toEqual([0, 1, 1, 0]); // per column
    expect(vals(ref('Hardmax', 13, [f32([3], [1, NaN, 5])]))).toEqual([0, 1, 0]);
  });

  it('CumSum: int32 axis, exclusive + reverse, 1-element axis tensor', () => {
    const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    const ax: Tensor = { dtype: 'int32', dims: [], data: Int32Array.of(-1) };
    expect(vals(ref('CumSum', 14, [x, ax], { exclusive: 1, reverse: 1 }))).toEqual([5, 3, 0, 11, 6, 0]);
    expect(vals(ref('CumSum', 11, [x, i64([0])]))).toEqual([1, 2, 3, 5, 7, 9]);
    expect(refError('CumSum', 14, [{ dtype: 'int8', dims: [1], data: Int8Array.of(1) }, ax])).toMatch(/CumSum-14 accepts/);
  });
});
