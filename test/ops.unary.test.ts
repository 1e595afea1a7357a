// Unary elementwise reference kernels (src/ops/ref/unary_math.ts) against onnxruntime-node on
// random tensors (fast-check): NaN, ±Inf, -0, subnormals, half-integers, empty and rank-0
// tensors, every IR dtype the op's ONNX type list has, each op at its first opset and a later
// one. Plus the cases where Sparrow follows ONNX's numpy reference rather than onnxruntime, and
// the type-list / attribute errors.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import { OpCase, ULPS, EXACT, compareWithOrt, runRef, shape, tensorOf, valueOf, type Tolerance } from './helpers/ort-op.js';
import type { BuildAttr } from '../src/onnx/build.js';

interface UnaryCase {
  op: string;
  opsets: number[];
  dtypes: TensorDType[];
  attrs?: Array<Record<string, BuildAttr>>;
  out?: TensorDType;
  tol?: Tolerance;
  /** values to draw from (default: everything of the dtype, float specials included) */
  values?: (dtype: TensorDType) => fc.Arbitrary<number | bigint>;
}

const F = ['float32'] as TensorDType[];
/**
 * Elu/Selu/Celu: Sparrow computes exp(x) - 1 as expm1 in float64; onnxruntime (and onnx's numpy
 * reference) compute exp(x) - 1 in float32, which is 0 for |x| < 6e-8: an absolute difference
 * of up to alpha * 6e-8 near zero.
 */
const EXPM1: Tolerance = { rtol: 2e-6, atol: 2e-7 };
/**
 * Integer Shrink: Sparrow is exact (integer arithmetic for an integral bias); onnxruntime adds
 * the float bias in float32, so it rounds above 2^24. Values are drawn below 2^22.
 */
const SMALL_INT = (d: TensorDType): fc.Arbitrary<number | bigint> =>
  d === 'int64'
    ? fc.bigInt({ min: -(2n ** 22n), max: 2n ** 22n })
    : d === 'int32'
      ? fc.integer({ min: -(2 ** 22), max: 2 ** 22 })
      : valueOf(d);
const CASES: UnaryCase[] = [
  { op: 'Neg', opsets: [7, 13], dtypes: ['float32', 'int64', 'int32', 'int8'], tol: EXACT },
  { op: 'Abs', opsets: [7, 13], dtypes: ['float32', 'int64', 'int32', 'int8', 'uint8'], tol: EXACT },
  { op: 'Sign', opsets: [9, 13], dtypes: ['float32', 'int64', 'int32', 'int8', 'uint8'], tol: EXACT },
  { op: 'Reciprocal', opsets: [7, 13], dtypes: F, tol: EXACT },
  { op: 'Floor', opsets: [7, 13], dtypes: F, tol: EXACT },
  { op: 'Ceil', opsets: [7, 13], dtypes: F, tol: EXACT },
  { op: 'Round', opsets: [11, 22], dtypes: F, tol: EXACT },
  { op: 'Log', opsets: [7, 13], dtypes: F },
  { op: 'Sin', opsets: [7, 22], dtypes: F },
  { op: 'Cos', opsets: [7, 22], dtypes: F },
  { op: 'Tan', opsets: [7, 22], dtypes: F },
  { op: 'Asin', opsets: [7, 22], dtypes: F },
  { op: 'Acos', opsets: [7, 22], dtypes: F },
  { op: 'Atan', opsets: [7, 22], dtypes: F },
  { op: 'Sinh', opsets: [9, 22], dtypes: F },
  { op: 'Cosh', opsets: [9, 22], dtypes: F },
  { op: 'Asinh', opsets: [9, 22], dtypes: F },
  { op: 'Acosh', opsets: [9, 22], dtypes: F },
  { op: 'Atanh', opsets: [9, 22], dtypes: F },
  { op: 'IsNaN', opsets: [9, 20], dtypes: F, out: 'bool', tol: EXACT },
  {
    op: 'IsInf',
    opsets: [10, 20],
    dtypes: F,
    out: 'bool',
    tol: EXACT,
    attrs: [{}, { detect_positive: 0 }, { detect_negative: 0 }, { detect_positive: 0, detect_negative: 0 }],
  },
  { op: 'Not', opsets: [7], dtypes: ['bool'], tol: EXACT },
  { op: 'Elu', opsets: [7, 22], dtypes: F, attrs: [{}, { alpha: 0.5 }, { alpha: { float: 2 } }], tol: EXPM1 },
  { op: 'Selu', opsets: [7, 22], dtypes: F, attrs: [{}, { alpha: 1.5, gamma: 0.75 }], tol: EXPM1 },
  { op: 'Celu', opsets: [12], dtypes: F, attrs: [{}, { alpha: 0.5 }, { alpha: { float: 3 } }], tol: EXPM1 },
  { op: 'Softplus', opsets: [7, 22], dtypes: F },
  { op: 'Softsign', opsets: [7, 22], dtypes: F },
  { op: 'Mish', opsets: [18, 22], dtypes: F },
  { op: 'ThresholdedRelu', opsets: [10, 22], dtypes: F, attrs: [{}, { alpha: 0.5 }, { alpha: -1.5 }], tol: EXACT },
  {
    op: 'Shrink',
    opsets: [9],
    dtypes: ['float32', 'int64', 'int32', 'int8', 'uint8'],
    attrs: [{}, { bias: { float: 2 }, lambd: 1.5 }, { bias: -1.5, lambd: 0.25 }],
    tol: EXACT,
    values: SMALL_INT,
  },
];

const open: OpCase[] = [];
afterAll(async () => {
  for (const c of open) await c.dispose();
});

describe('unary ops vs onnxruntime-node (fast-check)', () => {
  for (const c of CASES) {
    for (const opset of c.opsets) {
      for (const dtype of c.dtypes) {
        for (const attrs of c.attrs ?? [{}]) {
          it(`${c.op}-${opset} ${dtype} ${JSON.stringify(attrs)}`, async () => {
            const oc = await OpCase.create({ op: c.op, opset, inputs: [dtype], outputs: [c.out ?? dtype], attrs });
            open.push(oc);
            const tensor = shape().chain((dims) => tensorOf(dtype, dims, c.values ? c.values(dtype) : valueOf(dtype)));
            await fc.assert(
              fc.asyncProperty(tensor, async (x) => {
                expect(await compareWithOrt(oc, [x], c.tol ?? ULPS)).toBeNull();
              }),
              { numRuns: 40 },
            );
          });
        }
      }
    }
  }
});

const f32 = (dims: number[], v: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
const vals = (t: Tensor): number[] => Array.from(t.data as Float32Array);
function ref(op: string, opset: number, x: Tensor, attrs: Record<string, BuildAttr> = {}, out?: TensorDType): Tensor {
  const r = runRef({ op, opset, inputs: [x.dtype], outputs: [out ?? x.dtype], attrs }, [x]);
  if (!r.ok) throw new Error(r.error);
  return r.outs[0]!;
}
function refError(op: string, opset: number, x: Tensor, attrs: Record<string, BuildAttr> = {}): string {
  const r = runRef({ op, opset, inputs: [x.dtype], outputs: [x.dtype], attrs }, [x]);
  return r.ok ? 'no error' : r.error;
}

describe('unary ops: exact values and errors', () => {
  it('Round is half to even and keeps the sign of zero', () => {
    const y = ref('Round', 11, f32([10], [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -0.4, 0.49999997, 8388607.5, NaN]));
    expect(vals(y).map((v) => (Object.is(v, -0) ? '-0' : v))).toEqual([0, 2, 2, '-0', -2, -2, '-0', 0, 8388608, NaN]);
  });

  it('Sign: NaN stays NaN (numpy.sign, onnxruntime), -0 -> 0, int64 extremes', () => {
    expect(vals(ref('Sign', 13, f32([4], [NaN, -0, -3, Infinity])))).toEqual([NaN, 0, -1, 1]);
    const y = ref('Sign', 13, { dtype: 'int64', dims: [3], data: BigInt64Array.of(-(2n ** 63n), 0n, 2n ** 63n - 1n) });
    expect(Array.from(y.data as BigInt64Array)).toEqual([-1n, 0n, 1n]);
  });

  it('integer Neg/Abs wrap (int8 -128 stays -128); Shrink wraps uint8 and is exact on large int32/int64', () => {
    const x: Tensor = { dtype: 'int8', dims: [3], data: Int8Array.of(-128, -1, 127) };
    expect(Array.from(ref('Neg', 13, x).data as Int8Array)).toEqual([-128, 1, -127]);
    expect(Array.from(ref('Abs', 13, x).data as Int8Array)).toEqual([-128, 1, 127]);
    const u: Tensor = { dtype: 'uint8', dims: [4], data: Uint8Array.of(0, 1, 2, 255) };
    expect(Array.from(ref('Shrink', 9, u, { bias: { float: 2 }, lambd: 0.5 }).data as Uint8Array)).toEqual([0, 255, 0, 253]);
    // onnxruntime: -536870880 (float32), 9223372036854775807 -> INT64_MIN (float32 overflow)
    const i32: Tensor = { dtype: 'int32', dims: [1], data: Int32Array.of(-536870881) };
    expect(Array.from(ref('Shrink', 9, i32).data as Int32Array)).toEqual([-536870881]);
    const i64: Tensor = { dtype: 'int64', dims: [2], data: BigInt64Array.of(2n ** 63n - 1n, -(2n ** 63n)) };
    expect(Array.from(ref('Shrink', 9, i64, { bias: { float: 2 } }).data as BigInt64Array)).toEqual([2n ** 63n - 3n, -(2n ** 63n) + 2n]);
  });

  it('Softplus and Mish do not overflow for large inputs; Softsign(±Inf) is NaN as numpy computes it', () => {
    expect(vals(ref('Softplus', 13, f32([3], [100, -100, 1000])))).toEqual([100, Math.fround(Math.exp(-100)), 1000]);
    expect(vals(ref('Mish', 18, f32([2], [100, -1e4])))).toEqual([100, -0]);
    expect(vals(ref('Softsign', 13, f32([3], [Infinity, -Infinity, 3])))).toEqual([NaN, NaN, 0.75]);
  });

  it('rejects dtypes outside the type list of the version', () => {
    const i32: Tensor = { dtype: 'int32', dims: [1], data: Int32Array.of(1) };
    const u8: Tensor = { dtype: 'uint8', dims: [1], data: Uint8Array.of(1) };
    expect(refError('Log', 13, i32)).toMatch(/accepts float32/);
    expect(refError('Neg', 13, u8)).toMatch(/Neg-13 accepts/);
    expect(refError('Celu', 12, i32)).toMatch(/accepts float32/);
    expect(refError('IsInf', 10, f32([1], [1]), { detect_positive: 2 })).toMatch(/detect_positive/);
    expect(refError('Round', 10, f32([1], [1]))).toMatch(/unsupported op Round at opset 10/);
    expect(refError('Mish', 17, f32([1], [1]))).toMatch(/unsupported op Mish at opset 17/);
  });
});
