// Unit tests of the reference kernels for what the ONNX backend tests do not reach: the older
// opset forms (Clip/Pad/Slice/Squeeze/Unsqueeze/Split/ReduceMean attributes, Softmax's 2-D
// coercion, BatchNormalization spatial=0, Dropout-7's mask), Conv groups/dilations/auto_pad
// against a naive convolution, Cast's conversion rules, shape functions with symbolic dims,
// attrsFromNode, and the registered opset ranges.

import { describe, expect, it } from 'vitest';
import { SparrowError } from '../src/errors.js';
import { onnxRuntime } from '../src/onnx/proto.js';
import { resolveOp } from '../src/ops/registry.js';
import { MAX_OPSET, REF_OP_RANGES } from '../src/ops/ref/index.js';
import { erfOf } from '../src/ops/ref/elementwise.js';
import { castTensor } from '../src/ops/ref/shape_ops.js';
import { attrsFromNode } from '../src/onnx/attributes.js';
import type { AttrValue, Tensor, TensorDType, ValueInfo } from '../src/ops/types.js';
import { lcg } from './helpers/tensors.js';

const f32 = (dims: number[], values: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(values) });
const i64 = (values: number[], dims = [values.length]): Tensor => ({ dtype: 'int64', dims, data: BigInt64Array.from(values, BigInt) });
const randF32 = (dims: number[], seed: number): Tensor => {
  const r = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return f32(
    dims,
    Array.from({ length: n }, () => r() * 2 - 1),
  );
};

function run(op: string, opset: number, inputs: Array<Tensor | undefined>, attrs: Record<string, AttrValue> = {}): Tensor[] {
  return resolveOp(op, '', opset, `test_${op}`).ref(inputs, attrs, { opset, node: `test_${op}` });
}
function shapeOf(
  op: string,
  opset: number,
  inputs: Array<ValueInfo | undefined>,
  attrs: Record<string, AttrValue> = {},
  constants: Array<Tensor | undefined> = [],
): ValueInfo[] {
  return resolveOp(op, '', opset, `test_${op}`).shape(inputs, attrs, constants, { opset, node: `test_${op}` });
}
const vals = (t: Tensor): number[] => Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
function expectClose(got: Tensor, dims: number[], want: number[], tol = 1e-5): void {
  expect(got.dims).toEqual(dims);
  const g = vals(got);
  expect(g.length).toBe(want.length);
  g.forEach((v, i) =>
    expect(Math.abs(v - want[i]!), `element ${i}: ${v} vs ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]!))),
  );
}
function expectCode(fn: () => unknown, code: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SparrowError);
  expect((err as SparrowError).code).toBe(code);
}

describe('registry', () => {
  it('registers every op at its opset ranges, the latest up to MAX_OPSET', () => {
    expect(MAX_OPSET).toBe(25);
    const ops = new Set(REF_OP_RANGES.map(([op]) => op));
    for (const op of [
      'Conv',
      'Gemm',
      'MatMul',
      'Add',
      'Sub',
      'Mul',
      'Div',
      'Relu',
      'LeakyRelu',
      'Clip',
      'Sigmoid',
      'Tanh',
      'HardSigmoid',
      'HardSwish',
      'Exp',
      'Sqrt',
      'Pow',
      'Erf',
      'Gelu',
      'Softmax',
      'LogSoftmax',
      'MaxPool',
      'AveragePool',
      'GlobalAveragePool',
      'BatchNormalization',
      'Flatten',
      'Reshape',
      'Transpose',
      'Concat',
      'Split',
      'Slice',
      'Pad',
      'Squeeze',
      'Unsqueeze',
      'Gather',
      'Shape',
      'Cast',
      'ReduceMean',
      'LayerNormalization',
      'Identity',
      'Dropout',
      'Constant',
      'ConstantOfShape',
      'Equal',
      'Where',
      'Expand',
    ]) {
      expect(ops.has(op), op).toBe(true);
      expect(Math.max(...REF_OP_RANGES.filter(([o]) => o === op).map(([, , u]) => u)), op).toBe(MAX_OPSET);
    }
    // ranges of one op are contiguous
    for (const op of ops) {
      const rs = REF_OP_RANGES.filter(([o]) => o === op).sort((a, b) => a[1] - b[1]);
      for (let i = 1; i < rs.length; i++) expect(rs[i]![1], op).toBe(rs[i - 1]![2] + 1);
    }
    expect(resolveOp('Clip', '', 10, 'n')).not.toBe(resolveOp('Clip', '', 11, 'n'));
    expect(resolveOp('Gelu', '', 20, 'n').sinceVersion).toBe(20);
    expectCode(() => resolveOp('Gelu', '', 19, 'n'), 'unsupported_op');
    expectCode(() => resolveOp('Conv', '', 26, 'n'), 'unsupported_op');
    expectCode(() => resolveOp('Conv', '', 6, 'n'), 'unsupported_op');
  });
});

describe('elementwise', () => {
  it('broadcasts, wraps and truncates integers like ONNX', () => {
    expect(vals(run('Add', 14, [i64([1, 2, 3], [3, 1]), i64([10, 20])])[0]!)).toEqual([11, 21, 12, 22, 13, 23]);
    expect(run('Add', 14, [i64([1, 2, 3], [3, 1]), i64([10, 20])])[0]!.dims).toEqual([3, 2]);
    const a8: Tensor = { dtype: 'int8', dims: [3], data: Int8Array.from([100, -7, 7]) };
    const b8: Tensor = { dtype: 'int8', dims: [3], data: Int8Array.from([100, 2, -2]) };
    expect(vals(run('Add', 14, [a8, b8])[0]!)).toEqual([-56, -5, 5]);
    expect(vals(run('Div', 14, [a8, b8])[0]!)).toEqual([1, -3, -3]); // toward zero
    expect(vals(run('Div', 14, [i64([-7, 7]), i64([2, -2])])[0]!)).toEqual([-3, -3]);
    const i32 = (v: number[]): Tensor => ({ dtype: 'int32', dims: [v.length], data: Int32Array.from(v) });
    expect(vals(run('Mul', 14, [i32([65536, -3]), i32([65536, 5])])[0]!)).toEqual([0, -15]); // wraps
    expectCode(() => run('Div', 14, [i32([1]), i32([0])]), 'invalid_model');
    expectCode(() => run('Add', 14, [f32([2], [1, 2]), f32([3], [1, 2, 3])]), 'invalid_model');
    expectCode(() => run('Add', 14, [f32([1], [1]), i64([1])]), 'invalid_model');
  });

  it('Pow keeps the base dtype', () => {
    expect(vals(run('Pow', 15, [f32([3], [2, 4, -2]), i64([3, 0, 2])])[0]!)).toEqual([8, 1, 4]);
    expect(run('Pow', 15, [i64([2, 3]), f32([2], [0.5, 2])])[0]!.dtype).toBe('int64');
    expect(vals(run('Pow', 15, [i64([2, 3]), f32([2], [0.5, 2])])[0]!)).toEqual([1, 9]);
  });

  it('Clip: attributes before opset 11, inputs after, integers from 12', () => {
    const x = f32([4], [-3, -1, 1, 3]);
    expect(vals(run('Clip', 7, [x], { min: -2, max: 2 })[0]!)).toEqual([-2, -1, 1, 2]);
    expect(vals(run('Clip', 7, [x], { min: 0 })[0]!)).toEqual([0, 0, 1, 3]);
    expect(vals(run('Clip', 11, [x, f32([], [-2]), undefined])[0]!)).toEqual([-2, -1, 1, 3]);
    expect(vals(run('Clip', 13, [x, undefined, f32([], [0])])[0]!)).toEqual([-3, -1, 0, 0]);
    expect(vals(run('Clip', 13, [i64([-5, 5]), i64([-1], []), i64([1], [])])[0]!)).toEqual([-1, 1]);
  });

  it('activations match their formulas', () => {
    const x = f32([5], [-3, -0.5, 0, 0.5, 3]);
    const xs = [-3, -0.5, 0, 0.5, 3];
    expectClose(
      run('Relu', 14, [x])[0]!,
      [5],
      xs.map((v) => Math.max(0, v)),
    );
    expectClose(
      run('LeakyRelu', 16, [x], { alpha: 0.1 })[0]!,
      [5],
      xs.map((v) => (v < 0 ? 0.1 * v : v)),
    );
    expectClose(
      run('Sigmoid', 13, [x])[0]!,
      [5],
      xs.map((v) => 1 / (1 + Math.exp(-v))),
    );
    expectClose(
      run('HardSigmoid', 7, [x])[0]!,
      [5],
      xs.map((v) => Math.max(0, Math.min(1, 0.2 * v + 0.5))),
    );
    expectClose(
      run('HardSwish', 14, [x])[0]!,
      [5],
      xs.map((v) => v * Math.max(0, Math.min(1, v / 6 + 0.5))),
    );
    expectClose(
      run('Gelu', 20, [x])[0]!,
      [5],
      xs.map((v) => 0.5 * v * (1 + erfOf(v / Math.SQRT2))),
    );
    expect(vals(run('Relu', 14, [i64([-2, 2])])[0]!)).toEqual([0, 2]);
  });

  it('erf is accurate to float64 precision', () => {
    // reference values: erf(x) to 17 digits
    const ref: Array<[number, number]> = [
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [-0.3, -0.3286267594591274],
      [4.5, 0.9999999998033839],
    ];
    for (const [x, e] of ref) expect(Math.abs(erfOf(x) - e) / Math.abs(e), `erf(${x})`).toBeLessThan(1e-14);
    expect(erfOf(0)).toBe(0);
    expect(erfOf(10)).toBe(1);
    expect(erfOf(-10)).toBe(-1);
  });
});

/** Direct convolution, independent of the kernel's im2col: explicit pads only. */
function naiveConv(X: Tensor, W: Tensor, B: Tensor | undefined, strides: number[], pads: number[], dil: number[], group: number): Tensor {
  const [N, C, H, Wd] = X.dims as [number, number, number, number];
  const [M, Cg, KH, KW] = W.dims as [number, number, number, number];
  const OH = Math.floor((H + pads[0]! + pads[2]! - ((KH - 1) * dil[0]! + 1)) / strides[0]!) + 1;
  const OW = Math.floor((Wd + pads[1]! + pads[3]! - ((KW - 1) * dil[1]! + 1)) / strides[1]!) + 1;
  const x = X.data as Float32Array,
    w = W.data as Float32Array;
  const out: number[] = [];
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / (M / group));
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let s = B ? (B.data as Float32Array)[m]! : 0;
          for (let c = 0; c < Cg; c++)
            for (let kh = 0; kh < KH; kh++)
              for (let kw = 0; kw < KW; kw++) {
                const ih = oh * strides[0]! - pads[0]! + kh * dil[0]!,
                  iw = ow * strides[1]! - pads[1]! + kw * dil[1]!;
                if (ih < 0 || ih >= H || iw < 0 || iw >= Wd) continue;
                s += x[((n * C + g * Cg + c) * H + ih) * Wd + iw]! * w[((m * Cg + c) * KH + kh) * KW + kw]!;
              }
          out.push(s);
        }
    }
  return f32([N, M, OH, OW], out);
}

describe('Conv', () => {
  const cases: Array<{
    name: string;
    C: number;
    M: number;
    group: number;
    k: number[];
    strides: number[];
    pads: number[];
    dil: number[];
    bias: boolean;
  }> = [
    { name: 'plain 3x3', C: 3, M: 4, group: 1, k: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dil: [1, 1], bias: true },
    { name: 'strided asymmetric pads', C: 2, M: 3, group: 1, k: [3, 2], strides: [2, 3], pads: [0, 1, 2, 0], dil: [1, 1], bias: false },
    { name: 'groups', C: 4, M: 6, group: 2, k: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dil: [1, 1], bias: true },
    { name: 'depthwise', C: 5, M: 5, group: 5, k: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dil: [1, 1], bias: true },
    { name: 'dilated', C: 2, M: 2, group: 1, k: [3, 3], strides: [1, 1], pads: [2, 2, 2, 2], dil: [2, 2], bias: false },
    { name: '1x1', C: 8, M: 4, group: 1, k: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dil: [1, 1], bias: true },
  ];
  for (const c of cases) {
    it(`matches a direct convolution: ${c.name}`, () => {
      const X = randF32([2, c.C, 9, 8], 1),
        W = randF32([c.M, c.C / c.group, ...c.k], 2),
        B = c.bias ? randF32([c.M], 3) : undefined;
      const want = naiveConv(X, W, B, c.strides, c.pads, c.dil, c.group);
      const attrs = { kernel_shape: c.k, strides: c.strides, pads: c.pads, dilations: c.dil, group: c.group };
      const got = run('Conv', 11, [X, W, B], attrs)[0]!;
      expectClose(got, want.dims, vals(want));
      expect(
        shapeOf(
          'Conv',
          11,
          [
            { dtype: 'float32', dims: [-1, c.C, 9, 8] },
            { dtype: 'float32', dims: W.dims },
          ],
          attrs,
        )[0]!.dims,
      ).toEqual([-1, ...want.dims.slice(1)]);
    });
  }

  it('auto_pad SAME_UPPER / SAME_LOWER / VALID', () => {
    const X = randF32([1, 1, 6, 6], 4),
      W = randF32([1, 1, 2, 2], 5);
    // SAME with stride 1, kernel 2: total pad 1 per dim, at the end (UPPER) or the start (LOWER)
    const upper = run('Conv', 11, [X, W], { auto_pad: 'SAME_UPPER' })[0]!;
    expectClose(upper, [1, 1, 6, 6], vals(naiveConv(X, W, undefined, [1, 1], [0, 0, 1, 1], [1, 1], 1)));
    const lower = run('Conv', 11, [X, W], { auto_pad: 'SAME_LOWER' })[0]!;
    expectClose(lower, [1, 1, 6, 6], vals(naiveConv(X, W, undefined, [1, 1], [1, 1, 0, 0], [1, 1], 1)));
    const valid = run('Conv', 11, [X, W], { auto_pad: 'VALID', strides: [2, 2] })[0]!;
    expectClose(valid, [1, 1, 3, 3], vals(naiveConv(X, W, undefined, [2, 2], [0, 0, 0, 0], [1, 1], 1)));
  });

  it('1-D and 3-D', () => {
    const X1 = f32([1, 1, 5], [1, 2, 3, 4, 5]),
      W1 = f32([1, 1, 2], [1, -1]);
    expectClose(run('Conv', 11, [X1, W1])[0]!, [1, 1, 4], [-1, -1, -1, -1]);
    const X3 = f32([1, 1, 2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]),
      W3 = f32([1, 1, 2, 2, 2], [1, 1, 1, 1, 1, 1, 1, 1]);
    expectClose(run('Conv', 11, [X3, W3, f32([1], [0.5])])[0]!, [1, 1, 1, 1, 1], [36.5]);
  });

  it('tiles large outputs (im2col over position blocks) without changing results', () => {
    // R = 64 * 9 = 576 rows -> tiles of 1820 positions over 48 * 48 = 2304 positions
    const X = randF32([1, 64, 48, 48], 6),
      W = randF32([2, 64, 3, 3], 7);
    const got = run('Conv', 11, [X, W], { pads: [1, 1, 1, 1] })[0]!;
    const want = naiveConv(X, W, undefined, [1, 1], [1, 1, 1, 1], [1, 1], 1);
    expectClose(got, want.dims, vals(want), 1e-4);
  });

  it('rejects inconsistent groups / bias', () => {
    expectCode(() => run('Conv', 11, [randF32([1, 3, 4, 4], 1), randF32([2, 2, 3, 3], 2)], { group: 2 }), 'invalid_model');
    expectCode(() => run('Conv', 11, [randF32([1, 2, 4, 4], 1), randF32([2, 2, 3, 3], 2), randF32([3], 3)]), 'invalid_model');
  });
});

describe('pooling', () => {
  it('MaxPool Indices and AveragePool count_include_pad', () => {
    const X = f32([1, 1, 3, 3], [1, 9, 2, 3, 4, 8, 7, 5, 6]);
    const [y, ind] = run('MaxPool', 12, [X], { kernel_shape: [2, 2] });
    expect(vals(y!)).toEqual([9, 9, 7, 8]);
    expect(vals(ind!)).toEqual([1, 1, 6, 5]);
    const [, indCol] = run('MaxPool', 12, [X], { kernel_shape: [2, 2], storage_order: 1 });
    expect(vals(indCol!)).toEqual([3, 3, 2, 7]); // (h, w) -> h + w * H
    const avg = run('AveragePool', 11, [X], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] })[0]!;
    expectClose(avg, [1, 1, 2, 2], [(1 + 9 + 3 + 4) / 4, (9 + 2 + 4 + 8) / 4, (3 + 4 + 7 + 5) / 4, (4 + 8 + 5 + 6) / 4]);
    const avgInc = run('AveragePool', 11, [X], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2], count_include_pad: 1 })[0]!;
    expectClose(avgInc, [1, 1, 2, 2], [17 / 9, 23 / 9, 19 / 9, 23 / 9]);
  });

  it('GlobalAveragePool', () => {
    expectClose(run('GlobalAveragePool', 7, [f32([1, 2, 2, 1], [1, 2, 3, 5])])[0]!, [1, 2, 1, 1], [1.5, 4]);
  });
});

describe('normalization', () => {
  it('Softmax coerces to 2-D before opset 13 and uses one axis from 13', () => {
    const x = f32([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7]);
    const old = run('Softmax', 11, [x], { axis: 1 })[0]!; // over the last 4 values of each batch
    const e = [0, 1, 2, 3].map((v) => Math.exp(v - 3));
    const s = e.reduce((a, b) => a + b, 0);
    expectClose(old, [2, 2, 2], [...e.map((v) => v / s), ...e.map((v) => v / s)]);
    const neu = run('Softmax', 13, [x], { axis: 1 })[0]!; // over axis 1 only: pairs (0,2), (1,3), ...
    const p = 1 / (1 + Math.exp(2));
    expectClose(neu, [2, 2, 2], [p, p, 1 - p, 1 - p, p, p, 1 - p, 1 - p]);
    const ls = run('LogSoftmax', 7, [f32([1, 3], [1, 2, 3])])[0]!;
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    expectClose(ls, [1, 3], [1 - lse, 2 - lse, 3 - lse]);
  });

  it('BatchNormalization spatial=0 (opset 7) and inference', () => {
    const x = f32([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    expectClose(
      run('BatchNormalization', 9, [x, f32([2], [2, 3]), f32([2], [1, 0]), f32([2], [1, 2]), f32([2], [4, 1])], { epsilon: 0 })[0]!,
      [2, 2, 2],
      [1, 2, 3, 6, 5, 6, 15, 18],
    );
    const perElem = (v: number[]) => f32([2, 2], v);
    const y = run(
      'BatchNormalization',
      7,
      [x, perElem([1, 1, 1, 1]), perElem([0, 0, 0, 0]), perElem([1, 2, 3, 4]), perElem([1, 1, 1, 1])],
      { spatial: 0, epsilon: 0 },
    )[0]!;
    expectClose(y, [2, 2, 2], [0, 0, 0, 0, 4, 4, 4, 4]);
  });

  it('ReduceMean: axes attribute before 18, input from 18', () => {
    const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    expectClose(run('ReduceMean', 13, [x], { axes: [1], keepdims: 0 })[0]!, [2], [2, 5]);
    expectClose(run('ReduceMean', 13, [x])[0]!, [1, 1], [3.5]);
    expectClose(run('ReduceMean', 18, [x, i64([-2])])[0]!, [1, 3], [2.5, 3.5, 4.5]);
    expectClose(run('ReduceMean', 18, [x, i64([])], { noop_with_empty_axes: 1 })[0]!, [2, 3], [1, 2, 3, 4, 5, 6]);
    expect(
      shapeOf(
        'ReduceMean',
        18,
        [
          { dtype: 'float32', dims: [-1, 3] },
          { dtype: 'int64', dims: [1] },
        ],
        { keepdims: 0 },
        [undefined, i64([1])],
      )[0]!.dims,
    ).toEqual([-1]);
  });

  it('LayerNormalization without bias, with Mean / InvStdDev', () => {
    const [y, mean, inv] = run('LayerNormalization', 17, [f32([2, 2], [1, 3, 2, 4]), f32([2], [1, 2])], { epsilon: 0 });
    expectClose(y!, [2, 2], [-1, 2, -1, 2]);
    expectClose(mean!, [2, 1], [2, 3]);
    expectClose(inv!, [2, 1], [1, 1]);
  });
});

describe('shape ops', () => {
  it('Slice attributes (opset 1..9) and inputs (10+), Pad attributes (2..10)', () => {
    const x = f32([3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(vals(run('Slice', 9, [x], { starts: [1, -3], ends: [1000, -1], axes: [0, 1] })[0]!)).toEqual([5, 6, 9, 10]);
    expect(vals(run('Slice', 13, [x, i64([-1]), i64([-1000]), i64([1]), i64([-2])])[0]!)).toEqual([3, 1, 7, 5, 11, 9]);
    const p = run('Pad', 10, [f32([2], [1, 2])], { pads: [1, 2], mode: 'constant', value: 9 })[0]!;
    expect(vals(p)).toEqual([9, 1, 2, 9, 9]);
    expect(vals(run('Pad', 7, [f32([3], [1, 2, 3])], { pads: [2, 2], mode: 'reflect' })[0]!)).toEqual([3, 2, 1, 2, 3, 2, 1]);
    expect(vals(run('Pad', 13, [f32([3], [1, 2, 3]), i64([-1, 2]), undefined], { mode: 'edge' })[0]!)).toEqual([2, 3, 3, 3]);
    expect(vals(run('Pad', 19, [f32([3], [1, 2, 3]), i64([2, 1])], { mode: 'wrap' })[0]!)).toEqual([2, 3, 1, 2, 3, 1]);
    expectCode(() => run('Pad', 18, [f32([3], [1, 2, 3]), i64([2, 1])], { mode: 'wrap' }), 'invalid_model');
  });

  it('Squeeze / Unsqueeze: attribute (<13) and input (13+)', () => {
    const x = f32([1, 3, 1], [1, 2, 3]);
    expect(run('Squeeze', 11, [x], { axes: [-1] })[0]!.dims).toEqual([1, 3]);
    expect(run('Squeeze', 13, [x])[0]!.dims).toEqual([3]);
    expect(run('Squeeze', 13, [x, i64([0])])[0]!.dims).toEqual([3, 1]);
    expectCode(() => run('Squeeze', 13, [x, i64([1])]), 'invalid_model');
    expect(run('Unsqueeze', 7, [x], { axes: [0, 4] })[0]!.dims).toEqual([1, 1, 3, 1, 1]);
    expect(run('Unsqueeze', 13, [x, i64([-1])])[0]!.dims).toEqual([1, 3, 1, 1]);
    expect(shapeOf('Squeeze', 13, [{ dtype: 'float32', dims: [-1, 1] }])[0]!.dims).toBeNull();
    expect(
      shapeOf(
        'Unsqueeze',
        13,
        [
          { dtype: 'float32', dims: [-1, 3] },
          { dtype: 'int64', dims: [1] },
        ],
        {},
        [undefined, i64([0])],
      )[0]!.dims,
    ).toEqual([1, -1, 3]);
  });

  it('Split: attribute (<13), input (13+), num_outputs with a smaller last part (18)', () => {
    const x = f32([5], [1, 2, 3, 4, 5]);
    expect(run('Split', 11, [x], { split: [2, 3] }).map(vals)).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
    expect(run('Split', 13, [f32([4], [1, 2, 3, 4])], { num_outputs: 2 }).map(vals)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(run('Split', 13, [x, i64([4, 1])]).map(vals)).toEqual([[1, 2, 3, 4], [5]]);
    expect(run('Split', 18, [x], { num_outputs: 3 }).map(vals)).toEqual([[1, 2], [3, 4], [5]]);
    expect(shapeOf('Split', 18, [{ dtype: 'float32', dims: [2, 5] }], { axis: 1, num_outputs: 2 }).map((v) => v.dims)).toEqual([
      [2, 3],
      [2, 2],
    ]);
  });

  it('Reshape 0 / -1 / allowzero and its shape function with symbolic dims', () => {
    const x = f32(
      [2, 3, 4],
      new Array(24).fill(0).map((_, i) => i),
    );
    expect(run('Reshape', 13, [x, i64([0, -1])])[0]!.dims).toEqual([2, 12]);
    expect(run('Reshape', 14, [f32([0, 3], []), i64([3, 0])], { allowzero: 1 })[0]!.dims).toEqual([3, 0]);
    const info = (dims: number[]): ValueInfo => ({ dtype: 'float32', dims });
    expect(shapeOf('Reshape', 13, [info([-1, 3, 4]), info([2])], {}, [undefined, i64([0, -1])])[0]!.dims).toEqual([-1, -1]);
    expect(shapeOf('Reshape', 13, [info([-1, 3, 4]), info([3])], {}, [undefined, i64([0, 12, 1])])[0]!.dims).toEqual([-1, 12, 1]);
    expect(shapeOf('Reshape', 13, [info([2, 3, 4]), info([3])])[0]!.dims).toEqual([-1, -1, -1]);
    expectCode(() => run('Reshape', 13, [x, i64([5, -1])]), 'invalid_model');
  });

  it('Gather, Concat, Transpose, Flatten, Shape on ints and bools', () => {
    const b: Tensor = { dtype: 'bool', dims: [2, 2], data: Uint8Array.from([1, 0, 0, 1]) };
    expect(vals(run('Transpose', 13, [b])[0]!)).toEqual([1, 0, 0, 1]);
    expect(vals(run('Gather', 13, [i64([5, 6, 7]), i64([-1, 0], [2])])[0]!)).toEqual([7, 5]);
    expect(vals(run('Concat', 13, [i64([1], [1, 1]), i64([2, 3], [1, 2])], { axis: -1 })[0]!)).toEqual([1, 2, 3]);
    expect(run('Flatten', 13, [f32([2, 3, 4], new Array(24).fill(0))], { axis: 0 })[0]!.dims).toEqual([1, 24]);
    expect(vals(run('Shape', 13, [f32([2, 3, 4], new Array(24).fill(0))], { start: 1 })[0]!)).toEqual([2, 3, 4]); // start ignored < 15
    expect(vals(run('Shape', 15, [f32([2, 3, 4], new Array(24).fill(0))], { start: 1 })[0]!)).toEqual([3, 4]);
    expect(
      shapeOf(
        'Concat',
        13,
        [
          { dtype: 'float32', dims: [-1, 2] },
          { dtype: 'float32', dims: [3, 5] },
        ],
        { axis: 1 },
      )[0]!.dims,
    ).toEqual([3, 7]);
  });

  it('Equal, Where, Expand (for stories260K)', () => {
    const eq = run('Equal', 13, [i64([1, 2, 3]), i64([2], [1])])[0]!;
    expect(eq).toEqual({ dtype: 'bool', dims: [3], data: Uint8Array.from([0, 1, 0]) });
    const w = run('Where', 16, [eq, f32([1], [5]), f32([2, 1], [-1, -2])])[0]!;
    expect(w.dims).toEqual([2, 3]);
    expect(vals(w)).toEqual([-1, 5, -1, -2, 5, -2]);
    const e = run('Expand', 13, [f32([3, 1], [1, 2, 3]), i64([2, 1, 2])])[0]!;
    expect(e.dims).toEqual([2, 3, 2]);
    expect(vals(e)).toEqual([1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
    expect(
      shapeOf(
        'Expand',
        13,
        [
          { dtype: 'float32', dims: [-1, 1] },
          { dtype: 'int64', dims: [2] },
        ],
        {},
        [undefined, i64([1, 4])],
      )[0]!.dims,
    ).toEqual([-1, 4]);
    expectCode(() => run('Concat', 13, [i64([1]), i64([2])]), 'invalid_model'); // axis is required
  });

  it('Cast follows numpy/onnx-reference conversions', () => {
    const x = f32([8], [1.9, -1.9, 300.7, -1, NaN, 3e9, 0, 0.25]);
    const c = (to: TensorDType) => vals(castTensor(x, to));
    expect(c('int32')).toEqual([1, -1, 300, -1, -2147483648, -2147483648, 0, 0]);
    expect(c('int8')).toEqual([1, -1, 44, -1, 0, 0, 0, 0]);
    expect(c('uint8')).toEqual([1, 255, 44, 255, 0, 0, 0, 0]);
    expect(c('int64')).toEqual([1, -1, 300, -1, -(2 ** 63), 3e9, 0, 0]);
    expect(c('bool')).toEqual([1, 1, 1, 1, 1, 1, 0, 1]);
    expect(vals(castTensor(i64([2 ** 40 + 5, -1]), 'int32'))).toEqual([5, -1]);
    expect(vals(castTensor({ dtype: 'bool', dims: [2], data: Uint8Array.from([1, 0]) }, 'float32'))).toEqual([1, 0]);
    expect(run('Cast', 13, [x], { to: 7 })[0]!.dtype).toBe('int64');
    expectCode(() => run('Cast', 13, [x], { to: 17 }), 'unsupported_op'); // FLOAT8E4M3FN
    expect(() => run('Cast', 13, [x], { to: 22 })).toThrow(/INT4 \(22\)/);
  });

  it('Constant, ConstantOfShape, Identity, Dropout', () => {
    expect(run('Constant', 13, [], { value_floats: [1, 2] })[0]!).toEqual(f32([2], [1, 2]));
    expect(run('Constant', 13, [], { value_int: 7 })[0]!).toEqual(i64([7], []));
    expect(run('Constant', 13, [], { value: i64([1, 2]) })[0]!).toEqual(i64([1, 2]));
    expectCode(() => run('Constant', 13, [], { value_string: 'x' }), 'unsupported_op');
    expect(run('ConstantOfShape', 9, [i64([2, 2])])[0]!).toEqual(f32([2, 2], [0, 0, 0, 0]));
    expect(run('ConstantOfShape', 9, [i64([3])], { value: i64([4], [1]) })[0]!).toEqual(i64([4, 4, 4]));
    expect(shapeOf('ConstantOfShape', 9, [{ dtype: 'int64', dims: [2] }])[0]!).toEqual({ dtype: 'float32', dims: [-1, -1] });
    const x = f32([2], [1, 2]);
    const [y7, m7] = run('Dropout', 7, [x], { ratio: 0.3 });
    expect(y7).toEqual(x);
    expect(m7).toEqual(f32([2], [1, 1]));
    const [, m12] = run('Dropout', 13, [x, f32([], [0.5])]);
    expect(m12).toEqual({ dtype: 'bool', dims: [2], data: Uint8Array.from([1, 1]) });
    expectCode(() => run('Dropout', 13, [x, f32([], [0.5]), { dtype: 'bool', dims: [], data: Uint8Array.of(1) }]), 'unsupported_op');
    expect(run('Identity', 13, [x])[0]!.data).not.toBe(x.data);
  });
});

describe('MatMul / Gemm', () => {
  it('MatMul broadcasting and 1-D promotion', () => {
    const a = f32([2, 1, 2, 3], [1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0]);
    const b = f32([3, 1], [1, 1, 1]);
    expectClose(run('MatMul', 13, [a, b])[0]!, [2, 1, 2, 1], [6, 15, 1, 1]);
    expectClose(run('MatMul', 13, [f32([3], [1, 2, 3]), f32([3], [1, 1, 1])])[0]!, [], [6]);
    expect(
      shapeOf('MatMul', 13, [
        { dtype: 'float32', dims: [-1, 4, 3] },
        { dtype: 'float32', dims: [3, 5] },
      ])[0]!.dims,
    ).toEqual([-1, 4, 5]);
    expectCode(() => run('MatMul', 13, [f32([2, 3], [0, 0, 0, 0, 0, 0]), f32([2, 3], [0, 0, 0, 0, 0, 0])]), 'invalid_model');
  });

  it('Gemm with a row-vector C and no C', () => {
    const A = f32([2, 2], [1, 2, 3, 4]),
      B = f32([2, 2], [1, 0, 0, 1]);
    expectClose(run('Gemm', 13, [A, B, f32([2], [10, 20])], { alpha: 2, beta: 0.5 })[0]!, [2, 2], [7, 14, 11, 18]);
    expectClose(run('Gemm', 13, [A, B], { transA: 1 })[0]!, [2, 2], [1, 3, 2, 4]);
  });
});

describe('attrsFromNode', () => {
  it('converts every attribute kind Sparrow reads', () => {
    const T = onnxRuntime.AttributeProto.AttributeType;
    const node = onnxRuntime.NodeProto.decode(
      onnxRuntime.NodeProto.encode({
        opType: 'Split',
        name: 's',
        input: ['x'],
        output: ['a', 'b', 'c'],
        attribute: [
          { name: 'axis', type: T.INT, i: -1 },
          { name: 'f', type: T.FLOAT, f: 0.1 },
          { name: 'mode', type: T.STRING, s: new TextEncoder().encode('réflect') },
          { name: 'ints', type: T.INTS, ints: [1, -2, 3] },
          { name: 'floats', type: T.FLOATS, floats: [0.5, 1.5] },
          { name: 'strs', type: T.STRINGS, strings: [new TextEncoder().encode('a')] },
          { name: 't', type: T.TENSOR, t: { dataType: 9, dims: [2], int32Data: [1, 0] } },
          { name: 'g', type: T.GRAPH, g: { name: 'sub' } },
        ],
      }).finish(),
    );
    const a = attrsFromNode(node);
    expect(a.axis).toBe(-1);
    expect(a.f).toBe(Math.fround(0.1));
    expect(a.mode).toBe('réflect');
    expect(a.ints).toEqual([1, -2, 3]);
    expect(a.floats).toEqual([0.5, 1.5]);
    expect(a.strs).toEqual(['a']);
    expect(a.t).toEqual({ dtype: 'bool', dims: [2], data: Uint8Array.from([1, 0]) });
    expect('g' in a).toBe(false);
    expect(a.num_outputs).toBe(3); // Split without split / num_outputs: one part per output
  });
});
