// Broadcasting binary and variadic reference kernels (src/ops/ref/binary.ts) against
// onnxruntime-node on random tensors (fast-check): multidirectional broadcasting (rank 0, empty
// dims, 1 to 3 inputs), NaN / ±Inf / -0, integer wrap-around, every IR dtype of each version's
// type list. Plus the opset-7 same-shape rule, PRelu's unidirectional broadcast, Mod's sign rules
// and errors, which onnxruntime reports as well but not in a comparable way.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import type { BuildAttr } from '../src/onnx/build.js';
import {
  OpCase,
  EXACT,
  broadcastShapes,
  compareWithOrt,
  intValue,
  runRef,
  shape,
  tensorOf,
  valueOf,
  type Tolerance,
} from './helpers/ort-op.js';

const NUM: TensorDType[] = ['float32', 'int64', 'int32', 'int8', 'uint8'];
const open: OpCase[] = [];
afterAll(async () => {
  for (const c of open) await c.dispose();
});

async function property(
  spec: { op: string; opset: number; inputs: TensorDType[]; outputs: TensorDType[]; attrs?: Record<string, BuildAttr> },
  inputs: fc.Arbitrary<Tensor[]>,
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

/** `n` tensors of `dtype` whose shapes broadcast together (or are all equal). */
function broadcastInputs(n: number, dtype: TensorDType, same = false, value = valueOf(dtype)): fc.Arbitrary<Tensor[]> {
  const shapes = same ? shape().map((s) => Array.from({ length: n }, () => s)) : broadcastShapes(n);
  return shapes.chain((ss) => fc.tuple(...ss.map((s) => tensorOf(dtype, s, value))));
}

describe('variadic Max / Min / Sum / Mean vs onnxruntime-node', () => {
  const cases: Array<[string, number, TensorDType[]]> = [
    ['Max', 7, ['float32']],
    ['Max', 8, ['float32']],
    ['Max', 13, NUM],
    ['Min', 7, ['float32']],
    ['Min', 8, ['float32']],
    ['Min', 13, NUM],
    ['Sum', 7, ['float32']],
    ['Sum', 13, ['float32']],
    ['Mean', 7, ['float32']],
    ['Mean', 13, ['float32']],
  ];
  for (const [op, opset, dtypes] of cases) {
    for (const dtype of dtypes) {
      for (const n of [1, 2, 3]) {
        it(`${op}-${opset} ${dtype}, ${n} input(s)${opset === 7 ? ', same shapes' : ''}`, async () => {
          // float sums of 3 inputs: both round after each addition, but ORT's Mean divides a float32 sum too
          const tol = dtype === 'float32' && (op === 'Sum' || op === 'Mean') ? { rtol: 1e-6, atol: 0 } : EXACT;
          await property(
            { op, opset, inputs: Array<TensorDType>(n).fill(dtype), outputs: [dtype] },
            broadcastInputs(n, dtype, opset === 7),
            tol,
          );
        });
      }
    }
  }
});

describe('comparisons and logic vs onnxruntime-node', () => {
  const cases: Array<[string, number, TensorDType[]]> = [
    ['Greater', 7, ['float32']],
    ['Greater', 9, NUM],
    ['Greater', 13, NUM],
    ['Less', 7, ['float32']],
    ['Less', 9, NUM],
    ['Less', 13, NUM],
    ['GreaterOrEqual', 12, NUM],
    ['GreaterOrEqual', 16, NUM],
    ['LessOrEqual', 12, NUM],
    ['LessOrEqual', 16, NUM],
    ['And', 7, ['bool']],
    ['Or', 7, ['bool']],
    ['Xor', 7, ['bool']],
  ];
  for (const [op, opset, dtypes] of cases) {
    for (const dtype of dtypes) {
      it(`${op}-${opset} ${dtype}`, async () => {
        const out: TensorDType = ['And', 'Or', 'Xor'].includes(op) ? 'bool' : 'bool';
        await property({ op, opset, inputs: [dtype, dtype], outputs: [out] }, broadcastInputs(2, dtype));
      });
    }
  }
});

describe('Mod / BitShift / PRelu vs onnxruntime-node', () => {
  /** Divisors: never 0 (both throw, which would hide the other elements) nor -1 (INT_MIN % -1 traps in onnxruntime). */
  const divisor = (d: TensorDType, lim = (v: fc.Arbitrary<number | bigint>) => v): fc.Arbitrary<number | bigint> =>
    lim(intValue(d))
      .filter((v) => v !== 0 && v !== 0n)
      .map((v) => (v === -1 ? -2 : v === -1n ? -2n : v));
  /** int64 fmod=1: onnxruntime computes std::fmod in double, inexact beyond 2^53; Sparrow (and numpy) are exact. */
  const within53 = (v: fc.Arbitrary<number | bigint>): fc.Arbitrary<number | bigint> =>
    v.map((x) => (typeof x === 'bigint' ? BigInt.asIntN(53, x) : x));
  for (const opset of [10, 13]) {
    for (const dtype of ['int64', 'int32', 'int8', 'uint8'] as TensorDType[]) {
      for (const fmod of [0, 1]) {
        it(`Mod-${opset} ${dtype} fmod=${fmod}`, async () => {
          const lim = dtype === 'int64' && fmod === 1 ? within53 : (v: fc.Arbitrary<number | bigint>) => v;
          const inputs = broadcastShapes(2).chain(([a, b]) =>
            fc.tuple(tensorOf(dtype, a!, lim(intValue(dtype))), tensorOf(dtype, b!, divisor(dtype, lim))),
          );
          await property({ op: 'Mod', opset, inputs: [dtype, dtype], outputs: [dtype], attrs: { fmod } }, inputs);
        });
      }
    }
    it(`Mod-${opset} float32 fmod=1 (C fmod: NaN for x % 0 and ±Inf % y)`, async () => {
      await property(
        { op: 'Mod', opset, inputs: ['float32', 'float32'], outputs: ['float32'], attrs: { fmod: 1 } },
        broadcastInputs(2, 'float32'),
      );
    });
  }

  for (const direction of ['LEFT', 'RIGHT']) {
    it(`BitShift-11 uint8 ${direction} (shifts of 8 or more give 0)`, async () => {
      const inputs = broadcastShapes(2).chain(([a, b]) =>
        fc.tuple(tensorOf('uint8', a!), tensorOf('uint8', b!, fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 255 })))),
      );
      await property({ op: 'BitShift', opset: 11, inputs: ['uint8', 'uint8'], outputs: ['uint8'], attrs: { direction } }, inputs);
    });
  }

  // onnxruntime implements PRelu for float only (int32/int64 of PRelu-9: unit cases below)
  const preluCases: Array<[number, TensorDType[]]> = [
    [7, ['float32']],
    [9, ['float32']],
    [16, ['float32']],
  ];
  for (const [opset, dtypes] of preluCases) {
    for (const dtype of dtypes) {
      it(`PRelu-${opset} ${dtype}: slope broadcast to X`, async () => {
        // slope: X's shape with leading dims dropped and some dims 1 (unidirectional)
        const inputs = shape().chain((x) =>
          fc
            .tuple(fc.integer({ min: 0, max: x.length }), fc.array(fc.boolean(), { minLength: x.length, maxLength: x.length }))
            .chain(([drop, ones]) => fc.tuple(tensorOf(dtype, x), tensorOf(dtype, x.map((d, i) => (ones[i] ? 1 : d)).slice(drop)))),
        );
        await property({ op: 'PRelu', opset, inputs: [dtype, dtype], outputs: [dtype] }, inputs);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------

const f32 = (dims: number[], v: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
const i32 = (dims: number[], v: number[]): Tensor => ({ dtype: 'int32', dims, data: Int32Array.from(v) });
function ref(op: string, opset: number, xs: Tensor[], attrs: Record<string, BuildAttr> = {}): Tensor | string {
  const r = runRef({ op, opset, inputs: xs.map((x) => x.dtype), outputs: [], attrs }, xs);
  return r.ok ? r.outs[0]! : r.error;
}
const vals = (t: Tensor | string): Array<number | bigint> => {
  if (typeof t === 'string') throw new Error(t);
  return Array.from(t.data as ArrayLike<number | bigint>);
};

describe('binary ops: exact values and errors', () => {
  it('Max/Min propagate NaN from either side (numpy.maximum), fold left to right', () => {
    const a = f32([4], [NaN, 1, -Infinity, 2]),
      b = f32([4], [1, NaN, 3, 2]),
      c = f32([1], [2.5]);
    expect(vals(ref('Max', 13, [a, b, c]))).toEqual([NaN, NaN, 3, 2.5]);
    expect(vals(ref('Min', 13, [a, b, c]))).toEqual([NaN, NaN, -Infinity, 2]);
    expect(vals(ref('Mean', 13, [f32([1], [1]), f32([1], [2]), f32([1], [4])]))).toEqual([Math.fround(7 / 3)]);
  });

  it('opset 7 Max/Min/Sum/Mean do not broadcast; 8 does', () => {
    expect(ref('Sum', 7, [f32([2], [1, 2]), f32([1], [1])])).toMatch(/does not broadcast/);
    expect(vals(ref('Sum', 8, [f32([2], [1, 2]), f32([1], [1])]))).toEqual([2, 3]);
    expect(ref('Max', 11, [i32([1], [1]), i32([1], [2])])).toMatch(/Max-11 accepts float32/);
    expect(vals(ref('Max', 12, [i32([1], [1]), i32([1], [2])]))).toEqual([2]);
  });

  it('Mod: sign of the divisor (fmod=0) or of the dividend (fmod=1); float needs fmod=1; integer x % 0 throws', () => {
    const a = i32([4], [5, -5, 5, -5]),
      b = i32([4], [3, 3, -3, -3]);
    expect(vals(ref('Mod', 13, [a, b]))).toEqual([2, 1, -1, -2]);
    expect(vals(ref('Mod', 13, [a, b], { fmod: 1 }))).toEqual([2, -2, 2, -2]);
    const big: Tensor = { dtype: 'int64', dims: [2], data: BigInt64Array.of(-(2n ** 63n), 7n) };
    const by: Tensor = { dtype: 'int64', dims: [2], data: BigInt64Array.of(-1n, -2n) };
    expect(vals(ref('Mod', 13, [big, by]))).toEqual([0n, -1n]);
    // exact int64 fmod (onnxruntime: 0, std::fmod in double)
    const odd: Tensor = { dtype: 'int64', dims: [1], data: BigInt64Array.of(2n ** 63n - 1n) };
    expect(vals(ref('Mod', 13, [odd, { dtype: 'int64', dims: [1], data: BigInt64Array.of(2n) }], { fmod: 1 }))).toEqual([1n]);
    expect(ref('Mod', 13, [f32([1], [1]), f32([1], [2])])).toMatch(/fmod must be 1/);
    expect(ref('Mod', 13, [i32([2], [1, 2]), i32([1], [0])])).toMatch(/modulo by zero/);
  });

  it('PRelu: slope must broadcast to X, not the other way', () => {
    expect(ref('PRelu', 9, [f32([3], [-1, 0, 2]), f32([2, 3], [1, 1, 1, 1, 1, 1])])).toMatch(/does not broadcast to X/);
    expect(vals(ref('PRelu', 9, [i32([3], [-3, 0, 3]), i32([1], [2])]))).toEqual([-6, 0, 3]);
    const wrap = ref('PRelu', 16, [i32([2], [-(2 ** 30), -5]), i32([2], [4, 3])]);
    expect(vals(wrap)).toEqual([0, -15]); // -2^32 wraps to 0 in int32
    const i64: Tensor = { dtype: 'int64', dims: [2], data: BigInt64Array.of(-(2n ** 62n), 7n) };
    expect(vals(ref('PRelu', 16, [i64, { dtype: 'int64', dims: [], data: BigInt64Array.of(3n) }]))).toEqual([
      -(3n * 2n ** 62n) + 2n ** 64n,
      7n,
    ]);
    expect(ref('PRelu', 8, [i32([1], [-3]), i32([1], [2])])).toMatch(/PRelu-8 accepts float32/);
  });

  it('comparisons: NaN is unordered; int64 compares exactly beyond 2^53', () => {
    const a: Tensor = { dtype: 'int64', dims: [1], data: BigInt64Array.of(2n ** 60n + 1n) };
    const b: Tensor = { dtype: 'int64', dims: [1], data: BigInt64Array.of(2n ** 60n) };
    expect(vals(ref('Greater', 13, [a, b]))).toEqual([1]);
    expect(vals(ref('LessOrEqual', 16, [f32([2], [NaN, 1]), f32([2], [NaN, 1])]))).toEqual([0, 1]);
    expect(ref('Less', 8, [i32([1], [1]), i32([1], [2])])).toMatch(/Less-8 accepts float32/);
    expect(ref('Greater', 13, [i32([1], [1]), f32([1], [2])])).toMatch(/different dtypes/);
  });

  it('BitShift needs a direction', () => {
    const u: Tensor = { dtype: 'uint8', dims: [1], data: Uint8Array.of(1) };
    expect(ref('BitShift', 11, [u, u])).toMatch(/direction/);
  });
});
