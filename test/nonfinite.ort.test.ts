// NaN, ±Inf and denormals through every op the sparrow-f32 engine lowers, compared with
// onnxruntime-node (the oracle) on one-node (or one-pattern) models built with buildModel:
//   - 'mixed' inputs: NaN, +Inf, −Inf, denormals, ±0 sprinkled among normal values (the last
//     part of each tensor stays clean, so rows/channels without specials are checked too);
//   - 'inf' inputs: the same without NaN; 'denormal' inputs: denormals (and ±0) among normals.
// Rule checked (sparrow-f32, and the reference engine): NaN exactly where onnxruntime has NaN,
// ±Inf exactly where it has ±Inf, finite values within the case's tolerance (0 for the exact ops:
// movement, Relu/Clip/MaxPool, + − ×). WASM arithmetic is IEEE 754: no flush of denormals to zero
// (inputs or results), so denormals come out as onnxruntime's (no FTZ/DAZ by default).
// Each case also asserts that its nodes ran in WASM (no fallback), except the ops the f32 engine
// does not lower (Max, Min, GlobalMaxPool: reference kernels), which must agree all the same.
// sparrow-int8 has its own rules (docs/engine.md "NaN and Inf"): test/nonfinite.int8.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, type BuildNode } from '../src/onnx/build.js';
import { createOrtEngine, type InferenceEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';
import { uniformTensor as rand } from './helpers/tensors.js';
import { census, feedOf, nanMask, nonFiniteDiff, type Kind, type NanRule, type Tol } from './helpers/nonfinite.js';
import { F32_KERNEL_OPS } from '../src/runtime/f32/index.js';
import '../src/ops/ref/index.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const f32c = (dims: number[], v: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
const i64c = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v.map(BigInt)) });

interface Case {
  label: string;
  /** graph inputs (float32, fed with special tensors) */
  x: Record<string, number[]>;
  /** output name → dims, dtype (float32 unless given) */
  y: Record<string, { dims: number[]; dtype?: 'float32' | 'bool' | 'int32' }>;
  nodes: BuildNode[];
  consts?: Record<string, Tensor>;
  opset?: number;
  /** tolerance on finite values: |a − b| ≤ atol + rtol·|b|; 'exact' = equal */
  tol?: Tol;
  /** ops that run on their reference kernel in sparrow-f32 (no WASM kernel) */
  fallback?: string[];
  /** the input kinds to run (default all three) */
  kinds?: Kind[];
  /** where onnxruntime does not propagate NaN as IEEE arithmetic does (helpers/nonfinite.ts NanRule; measured, see the cases) */
  nanRule?: NanRule;
  /** the op saturates ±Inf (sigmoid / tanh gates): its outputs may all be finite */
  saturating?: boolean;
}

const EXACT = 'exact' as const;
const TRANS = { atol: 2e-6, rtol: 2e-6 };
const ACC = { atol: 2e-5, rtol: 1e-5 };

const un = (op: string, attrs: BuildNode['attrs'] = {}, tol: Case['tol'] = TRANS, opset = 13): Case => ({
  label: op,
  x: { x: [3, 4, 5] },
  y: { y: { dims: [3, 4, 5] } },
  nodes: [{ op, inputs: ['x'], outputs: ['y'], attrs }],
  tol,
  opset,
});
const bin = (op: string, bDims: number[], tol: Case['tol'] = EXACT): Case => ({
  label: `${op} [3,4,5] ⊕ [${bDims}]`,
  x: { a: [3, 4, 5], b: bDims },
  y: { y: { dims: [3, 4, 5] } },
  nodes: [{ op, inputs: ['a', 'b'], outputs: ['y'] }],
  tol,
});

const CASES: Case[] = [
  bin('Add', [3, 4, 5]),
  bin('Add', [4, 1]),
  bin('Sub', [5]),
  bin('Mul', [3, 4, 5]),
  bin('Div', [4, 1], { atol: 0, rtol: 1e-7 }),
  bin('Pow', [3, 4, 5], { atol: 1e-6, rtol: 1e-6 }),
  ...[2, 3, -1, 0.5, 1.7].map((e): Case => ({
    label: `Pow x^${e}`,
    x: { x: [3, 4, 5] },
    y: { y: { dims: [3, 4, 5] } },
    nodes: [{ op: 'Pow', inputs: ['x', 'e'], outputs: ['y'] }],
    consts: { e: f32c([], [e]) },
    tol: { atol: 1e-6, rtol: 1e-6 },
  })),
  un('Relu', {}, EXACT),
  un('LeakyRelu', { alpha: 0.1 }, EXACT),
  {
    ...un('Clip', {}, EXACT),
    label: 'Clip [−0.5, 1] (inputs)',
    nodes: [{ op: 'Clip', inputs: ['x', 'lo', 'hi'], outputs: ['y'] }],
    consts: { lo: f32c([], [-0.5]), hi: f32c([], [1]) },
  },
  {
    ...un('Clip', {}, EXACT),
    label: 'Clip min only',
    nodes: [{ op: 'Clip', inputs: ['x', 'lo'], outputs: ['y'] }],
    consts: { lo: f32c([], [0]) },
  },
  { ...un('Clip', { min: { float: -1 }, max: { float: 0.5 } }, EXACT, 10), label: 'Clip-10 attributes' },
  un('Sigmoid'),
  un('Tanh'),
  un('HardSigmoid', { alpha: 0.3, beta: 0.4 }),
  un('HardSwish', {}, TRANS, 14),
  un('Exp', {}, { atol: 1e-6, rtol: 2e-7 }),
  un('Sqrt', {}, EXACT),
  un('Erf', {}, { atol: 1e-6, rtol: 1e-6 }),
  un('Gelu', {}, { atol: 1e-6, rtol: 1e-6 }, 20),
  un('Gelu', { approximate: 'tanh' }, { atol: 1e-6, rtol: 1e-6 }, 20),
  un('Neg', {}, EXACT),
  un('Sin', {}, { atol: 1e-6, rtol: 1e-6 }),
  un('Cos', {}, { atol: 1e-6, rtol: 1e-6 }),
  {
    label: 'Conv 3x3 pad 1 + bias',
    x: { x: [1, 3, 7, 8] },
    y: { y: { dims: [1, 4, 7, 8] } },
    nodes: [{ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { pads: [1, 1, 1, 1] } }],
    consts: { w: rand([4, 3, 3, 3], 1), b: rand([4], 2) },
    tol: ACC,
  },
  {
    label: 'Conv 3x3 stride 2 + Relu (fused clamp)',
    x: { x: [2, 3, 9, 9] },
    y: { y: { dims: [2, 8, 5, 5] } },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
      { op: 'Relu', inputs: ['c'], outputs: ['y'] },
    ],
    consts: { w: rand([8, 3, 3, 3], 3), b: rand([8], 4) },
    tol: ACC,
  },
  {
    label: 'Conv 1x1 + Clip(0, 6) (fused clamp)',
    x: { x: [1, 5, 6, 6] },
    y: { y: { dims: [1, 7, 6, 6] } },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'] },
      { op: 'Clip', inputs: ['c', 'lo', 'hi'], outputs: ['y'] },
    ],
    consts: { w: rand([7, 5, 1, 1], 5), lo: f32c([], [0]), hi: f32c([], [6]) },
    tol: ACC,
  },
  {
    label: 'depthwise Conv 3x3 + Relu (fused clamp)',
    x: { x: [1, 6, 8, 9] },
    y: { y: { dims: [1, 6, 8, 9] } },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1], group: 6 } },
      { op: 'Relu', inputs: ['c'], outputs: ['y'] },
    ],
    consts: { w: rand([6, 1, 3, 3], 6), b: rand([6], 7) },
    tol: ACC,
  },
  {
    label: 'depthwise Conv 3x3 stride 2 + Sigmoid (fused post activation)',
    x: { x: [1, 4, 9, 9] },
    y: { y: { dims: [1, 4, 5, 5] } },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1], group: 4, strides: [2, 2] } },
      { op: 'Sigmoid', inputs: ['c'], outputs: ['y'] },
    ],
    consts: { w: rand([4, 1, 3, 3], 8) },
    tol: ACC,
  },
  {
    label: 'Gemm transB + Relu (fused clamp)',
    x: { x: [5, 12] },
    y: { y: { dims: [5, 9] } },
    nodes: [
      { op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { transB: 1 } },
      { op: 'Relu', inputs: ['c'], outputs: ['y'] },
    ],
    consts: { w: rand([9, 12], 9), b: rand([9], 10) },
    tol: ACC,
  },
  {
    label: 'MatMul + Add (bias) + Tanh',
    x: { x: [2, 3, 10] },
    y: { y: { dims: [2, 3, 6] } },
    nodes: [
      { op: 'MatMul', inputs: ['x', 'w'], outputs: ['m'] },
      { op: 'Add', inputs: ['m', 'b'], outputs: ['a'] },
      { op: 'Tanh', inputs: ['a'], outputs: ['y'] },
    ],
    consts: { w: rand([10, 6], 11), b: rand([6], 12) },
    tol: ACC,
  },
  {
    label: 'MatMul of two activations (0 · ±Inf = NaN)',
    x: { a: [2, 4, 7], b: [2, 7, 5] },
    y: { y: { dims: [2, 4, 5] } },
    nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }],
    tol: ACC,
  },
  {
    label: 'ConvTranspose stride 2 + Relu',
    x: { x: [1, 3, 5, 5] },
    y: { y: { dims: [1, 4, 10, 10] } },
    nodes: [
      {
        op: 'ConvTranspose',
        inputs: ['x', 'w', 'b'],
        outputs: ['c'],
        attrs: { strides: [2, 2], pads: [0, 0, 1, 1], kernel_shape: [3, 3] },
      },
      { op: 'Relu', inputs: ['c'], outputs: ['y'] },
    ],
    consts: { w: rand([3, 4, 3, 3], 13), b: rand([4], 14) },
    tol: ACC,
  },
  {
    label: 'MaxPool 3x3 stride 2 pad 1',
    x: { x: [1, 3, 9, 9] },
    y: { y: { dims: [1, 3, 5, 5] } },
    nodes: [{ op: 'MaxPool', inputs: ['x'], outputs: ['y'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } }],
    tol: EXACT,
    nanRule: 'propagate', // onnxruntime's MaxPool drops or keeps a NaN depending on its place and the row width
  },
  {
    label: 'MaxPool 2x2',
    x: { x: [2, 3, 8, 8] },
    y: { y: { dims: [2, 3, 4, 4] } },
    nodes: [{ op: 'MaxPool', inputs: ['x'], outputs: ['y'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } }],
    tol: EXACT,
    nanRule: 'propagate', // onnxruntime's MaxPool drops or keeps a NaN depending on its place and the row width
  },
  {
    label: 'AveragePool 3x3 pad 1 (count_include_pad 0)',
    x: { x: [1, 3, 8, 8] },
    y: { y: { dims: [1, 3, 8, 8] } },
    nodes: [{ op: 'AveragePool', inputs: ['x'], outputs: ['y'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } }],
    tol: TRANS,
  },
  {
    label: 'AveragePool 2x2 stride 2 (count_include_pad 1)',
    x: { x: [1, 3, 8, 8] },
    y: { y: { dims: [1, 3, 4, 4] } },
    nodes: [{ op: 'AveragePool', inputs: ['x'], outputs: ['y'], attrs: { kernel_shape: [2, 2], strides: [2, 2], count_include_pad: 1 } }],
    tol: TRANS,
  },
  {
    label: 'GlobalAveragePool',
    x: { x: [2, 5, 4, 4] },
    y: { y: { dims: [2, 5, 1, 1] } },
    nodes: [{ op: 'GlobalAveragePool', inputs: ['x'], outputs: ['y'] }],
    tol: TRANS,
  },
  {
    label: 'GlobalMaxPool (reference kernel)',
    x: { x: [2, 5, 4, 4] },
    y: { y: { dims: [2, 5, 1, 1] } },
    nodes: [{ op: 'GlobalMaxPool', inputs: ['x'], outputs: ['y'] }],
    tol: EXACT,
    fallback: ['GlobalMaxPool'],
    nanRule: 'propagate', // as MaxPool: onnxruntime keeps a NaN only when it is last in the window
  },
  {
    label: 'Max, Min of two inputs (reference kernels)',
    x: { a: [3, 4, 5], b: [4, 5] },
    y: { y: { dims: [3, 4, 5] }, z: { dims: [3, 4, 5] } },
    nodes: [
      { op: 'Max', inputs: ['a', 'b'], outputs: ['y'] },
      { op: 'Min', inputs: ['a', 'b'], outputs: ['z'] },
    ],
    tol: EXACT,
    fallback: ['Max', 'Min'],
  },
  {
    label: 'Softmax axis −1',
    x: { x: [6, 11] },
    y: { y: { dims: [6, 11] } },
    nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'] }],
    tol: TRANS,
  },
  {
    label: 'Softmax axis 1 of 3',
    x: { x: [2, 7, 3] },
    y: { y: { dims: [2, 7, 3] } },
    nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: 1 } }],
    tol: TRANS,
  },
  {
    label: 'LogSoftmax',
    x: { x: [6, 11] },
    y: { y: { dims: [6, 11] } },
    nodes: [{ op: 'LogSoftmax', inputs: ['x'], outputs: ['y'] }],
    tol: { atol: 1e-5, rtol: 1e-6 },
  },
  {
    label: 'BatchNormalization',
    x: { x: [2, 3, 4, 5] },
    y: { y: { dims: [2, 3, 4, 5] } },
    nodes: [{ op: 'BatchNormalization', inputs: ['x', 's', 'b', 'm', 'v'], outputs: ['y'] }],
    consts: { s: rand([3], 15), b: rand([3], 16), m: rand([3], 17), v: rand([3], 18, 0.5, 2) },
    tol: TRANS,
  },
  {
    label: 'LayerNormalization axis −1',
    x: { x: [2, 6, 10] },
    y: { y: { dims: [2, 6, 10] } },
    nodes: [{ op: 'LayerNormalization', inputs: ['x', 's', 'b'], outputs: ['y'] }],
    consts: { s: rand([10], 19), b: rand([10], 20) },
    tol: { atol: 1e-5, rtol: 1e-5 },
    opset: 17,
  },
  {
    label: 'LayerNorm pattern (ReduceMean, Sub, Pow, Sqrt, Div, Mul, Add: sparrow.LayerNormOps)',
    x: { x: [2, 5, 12] },
    y: { y: { dims: [2, 5, 12] } },
    nodes: [
      { op: 'ReduceMean', inputs: ['x'], outputs: ['m'], attrs: { axes: [-1] } },
      { op: 'Sub', inputs: ['x', 'm'], outputs: ['d'] },
      { op: 'Pow', inputs: ['d', 'two'], outputs: ['d2'] },
      { op: 'ReduceMean', inputs: ['d2'], outputs: ['v'], attrs: { axes: [-1] } },
      { op: 'Add', inputs: ['v', 'eps'], outputs: ['ve'] },
      { op: 'Sqrt', inputs: ['ve'], outputs: ['sd'] },
      { op: 'Div', inputs: ['d', 'sd'], outputs: ['n'] },
      { op: 'Mul', inputs: ['n', 'g'], outputs: ['ng'] },
      { op: 'Add', inputs: ['ng', 'b'], outputs: ['y'] },
    ],
    consts: { two: f32c([], [2]), eps: f32c([], [1e-5]), g: rand([12], 21), b: rand([12], 22) },
    tol: { atol: 1e-5, rtol: 1e-5 },
  },
  {
    label: 'RMSNormalization',
    x: { x: [2, 5, 12] },
    y: { y: { dims: [2, 5, 12] } },
    nodes: [{ op: 'RMSNormalization', inputs: ['x', 's'], outputs: ['y'] }],
    consts: { s: rand([12], 23) },
    tol: { atol: 1e-5, rtol: 1e-5 },
    opset: 23,
  },
  {
    label: 'ReduceMean axes [1]',
    x: { x: [3, 5, 4] },
    y: { y: { dims: [3, 1, 4] } },
    nodes: [{ op: 'ReduceMean', inputs: ['x'], outputs: ['y'], attrs: { axes: [1] } }],
    tol: TRANS,
  },
  {
    label: 'Transpose, Slice, Pad, Concat, Split, Gather, Expand, Tile',
    x: { x: [2, 3, 4, 5] },
    y: {
      t: { dims: [2, 5, 3, 4] },
      s: { dims: [2, 3, 2, 5] },
      p: { dims: [2, 3, 6, 7] },
      c: { dims: [2, 6, 4, 5] },
      s1: { dims: [2, 1, 4, 5] },
      s2: { dims: [2, 2, 4, 5] },
      g: { dims: [2, 3, 2, 5] },
      e: { dims: [2, 2, 3, 4, 5] },
      ti: { dims: [2, 3, 8, 5] },
    },
    nodes: [
      { op: 'Transpose', inputs: ['x'], outputs: ['t'], attrs: { perm: [0, 3, 1, 2] } },
      { op: 'Slice', inputs: ['x', 'ss', 'se', 'sa'], outputs: ['s'] },
      { op: 'Pad', inputs: ['x', 'pp'], outputs: ['p'] },
      { op: 'Concat', inputs: ['x', 'x'], outputs: ['c'], attrs: { axis: 1 } },
      { op: 'Split', inputs: ['x', 'sp'], outputs: ['s1', 's2'], attrs: { axis: 1 } },
      { op: 'Gather', inputs: ['x', 'gi'], outputs: ['g'], attrs: { axis: 2 } },
      { op: 'Expand', inputs: ['x', 'es'], outputs: ['e'] },
      { op: 'Tile', inputs: ['x', 'tr'], outputs: ['ti'] },
    ],
    consts: {
      ss: i64c([1]),
      se: i64c([3]),
      sa: i64c([2]),
      pp: i64c([0, 0, 1, 1, 0, 0, 1, 1]),
      sp: i64c([1, 2]),
      gi: i64c([3, 0]),
      es: i64c([2, 1, 1, 1, 1]),
      tr: i64c([1, 1, 2, 1]),
    },
    tol: EXACT,
  },
  {
    label: 'DepthToSpace, SpaceToDepth',
    x: { x: [1, 8, 4, 6] },
    y: { d: { dims: [1, 2, 8, 12] }, s: { dims: [1, 32, 2, 3] } },
    nodes: [
      { op: 'DepthToSpace', inputs: ['x'], outputs: ['d'], attrs: { blocksize: 2 } },
      { op: 'SpaceToDepth', inputs: ['x'], outputs: ['s'], attrs: { blocksize: 2 } },
    ],
    tol: EXACT,
  },
  {
    label: 'Resize nearest ×2, linear ×2 (half_pixel)',
    x: { x: [1, 2, 5, 6] },
    y: { n: { dims: [1, 2, 10, 12] }, l: { dims: [1, 2, 10, 12] } },
    nodes: [
      { op: 'Resize', inputs: ['x', '', 'sc'], outputs: ['n'], attrs: { mode: 'nearest' } },
      { op: 'Resize', inputs: ['x', '', 'sc'], outputs: ['l'], attrs: { mode: 'linear' } },
    ],
    consts: { sc: f32c([4], [1, 1, 2, 2]) },
    tol: TRANS,
    nanRule: 'zero-weight', // onnxruntime: 0 · ±Inf of a border neighbour of weight 0 is NaN; Sparrow skips it
  },
  {
    label: 'Upsample-9 nearest',
    x: { x: [1, 2, 3, 4] },
    y: { y: { dims: [1, 2, 6, 8] } },
    nodes: [{ op: 'Upsample', inputs: ['x', 'sc'], outputs: ['y'] }],
    consts: { sc: f32c([4], [1, 1, 2, 2]) },
    tol: EXACT,
    opset: 9,
  },
  {
    label: 'Greater, Where, Cast (comparisons with NaN are false)',
    x: { a: [3, 4, 5], b: [3, 4, 5] },
    y: {
      w: { dims: [3, 4, 5] },
      e: { dims: [3, 4, 5], dtype: 'bool' },
      l: { dims: [3, 4, 5], dtype: 'bool' },
      c: { dims: [3, 4, 5], dtype: 'int32' },
    },
    nodes: [
      { op: 'Cast', inputs: ['a'], outputs: ['c'], attrs: { to: 6 } },
      { op: 'Greater', inputs: ['a', 'b'], outputs: ['gt'] },
      { op: 'Where', inputs: ['gt', 'a', 'b'], outputs: ['w'] },
      { op: 'Equal', inputs: ['a', 'b'], outputs: ['e'] },
      { op: 'LessOrEqual', inputs: ['a', 'b'], outputs: ['l'] },
    ],
    tol: EXACT,
  },
  {
    label: 'RNN (Tanh)',
    x: { x: [5, 2, 6] },
    y: { y: { dims: [5, 1, 2, 5] } },
    nodes: [{ op: 'RNN', inputs: ['x', 'w', 'r', 'b'], outputs: ['y'], attrs: { hidden_size: 5 } }],
    consts: { w: rand([1, 5, 6], 24), r: rand([1, 5, 5], 25), b: rand([1, 10], 26) },
    tol: { atol: 1e-5, rtol: 1e-5 },
  },
  {
    label: 'GRU',
    x: { x: [5, 2, 6] },
    y: { y: { dims: [5, 1, 2, 5] } },
    nodes: [{ op: 'GRU', inputs: ['x', 'w', 'r', 'b'], outputs: ['y'], attrs: { hidden_size: 5, linear_before_reset: 1 } }],
    consts: { w: rand([1, 15, 6], 27), r: rand([1, 15, 5], 28), b: rand([1, 30], 29) },
    tol: { atol: 1e-5, rtol: 1e-5 },
    // onnxruntime's GRU / LSTM gates clamp their input with max/min that drop NaN, and the NaN
    // replaced by a bound then changes every later state: the NaN input runs on the reference only
    kinds: ['inf', 'denormal'],
    saturating: true,
  },
  {
    label: 'LSTM',
    x: { x: [5, 2, 6] },
    y: { y: { dims: [5, 1, 2, 5] } },
    nodes: [{ op: 'LSTM', inputs: ['x', 'w', 'r', 'b'], outputs: ['y'], attrs: { hidden_size: 5 } }],
    consts: { w: rand([1, 20, 6], 30), r: rand([1, 20, 5], 31), b: rand([1, 40], 32) },
    tol: { atol: 1e-5, rtol: 1e-5 },
    kinds: ['inf', 'denormal'], // as GRU
    saturating: true,
  },
];

function modelOf(c: Case): Uint8Array {
  return buildModel({
    nodes: c.nodes.map((n, i) => ({ name: `n${i}_${n.op}`, ...n })),
    inputs: Object.entries(c.x).map(([name, dims]) => ({ name, dtype: 'float32' as const, dims })),
    outputs: Object.entries(c.y).map(([name, o]) => ({ name, dtype: o.dtype ?? 'float32', dims: o.dims })),
    initializers: c.consts ?? {},
    opsets: { '': c.opset ?? 13 },
  });
}

function feedsOf(c: Case, kind: Kind, seed = 1): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(c.x).map(([name, dims], i) => [name, feedOf(dims, seed + 7 * i, kind)]));
}

describe('NaN / ±Inf / denormals: sparrow-f32 and reference against onnxruntime-node, one op at a time', () => {
  const orts: InferenceEngine[] = [];
  afterAll(async () => {
    for (const e of orts) await e.dispose();
  });

  it('the cases cover every op sparrow-f32 lowers', () => {
    const covered = new Set(CASES.flatMap((c) => c.nodes.map((n) => n.op)));
    // And / Or / Xor / Not: bool only (no float data to carry NaN)
    const missing = F32_KERNEL_OPS.filter((op) => !covered.has(op) && !['And', 'Or', 'Xor', 'Not', 'Less', 'GreaterOrEqual'].includes(op));
    expect(missing).toEqual([]);
  });

  for (const c of CASES) {
    it(c.label, async () => {
      const bytes = modelOf(c);
      const ort = await createOrtEngine('ort-node', bytes);
      orts.push(ort);
      const f32 = await Session.fromOnnx(bytes, { engine: 'sparrow-f32', wasmModule });
      const ref = await Session.fromOnnx(bytes, { engine: 'reference' });
      const seen = { nan: 0, inf: 0, denormal: 0 };
      for (const kind of c.kinds ?? (['mixed', 'inf', 'denormal'] as Kind[])) {
        const feeds = feedsOf(c, kind);
        const want = await ort.run(feeds);
        const got = await f32.run(feeds);
        const gotRef = await ref.run(feeds);
        for (const o of Object.keys(c.y)) {
          const k = census(want[o]!);
          seen.nan += k.nan;
          seen.inf += k.inf;
          seen.denormal += k.denormal;
          expect(nonFiniteDiff(got[o]!, want[o]!, c.tol ?? ACC, c.nanRule), `sparrow-f32 ${kind} ${o}`).toBeNull();
          expect(nonFiniteDiff(gotRef[o]!, want[o]!, c.tol ?? ACC, c.nanRule), `reference ${kind} ${o}`).toBeNull();
          // where a rule departs from onnxruntime, sparrow-f32 and the reference still agree on every NaN
          if (c.nanRule) expect(nanMask(got[o]!), `sparrow-f32 vs reference NaN positions ${kind} ${o}`).toEqual(nanMask(gotRef[o]!));
        }
      }
      const fell = f32.report!.fallbackOps.map((f) => f.op);
      expect(fell.sort(), 'ops that ran on reference kernels').toEqual([...(c.fallback ?? [])].sort());
      // the oracle's outputs carried NaN (or the op maps NaN to a bool) so the case checks something
      if (!c.saturating) expect(seen.nan + seen.inf, 'non-finite outputs seen').toBeGreaterThan(0);
    });
  }
});
