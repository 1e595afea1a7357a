// The sparrow-f32 engine (src/runtime/engine_f32.ts) against the reference engine:
//   (a) every WASM op kernel vs its TS reference over random shapes, broadcasts and attribute
//       sweeps (one-node models; rtol 1e-4 / atol 1e-5; the failing case's shapes are printed),
//       asserting the node really ran in WASM (no fallback);
// The ONNX backend tests through sparrow-f32 are in test/ops.backend.data.test.ts, the real
// models (mnist-8, ResNet-20/32 against onnxruntime-node) in test/engine.f32.data.test.ts.
import { describe, expect, it, beforeAll } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, type BuildAttr, type BuildModel, type BuildNode } from '../src/onnx/build.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { importOnnx } from '../src/onnx/import.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import { uniformTensor as rand } from './helpers/tensors.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const F32 = (o: SessionOptions = {}): SessionOptions => ({ ...o, engine: 'sparrow-f32', wasmModule });

// ---------------------------------------------------------------------------------------------
// helpers

const RTOL = 1e-4,
  ATOL = 1e-5;

const i64 = (v: number[], dims = [v.length]): Tensor => ({ dtype: 'int64', dims, data: BigInt64Array.from(v, BigInt) });
const f32c = (v: number[], dims = [v.length]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
const fmt = (t: Tensor) => `${t.dtype}[${t.dims.join(',')}]`;

interface Case {
  label: string;
  op: string;
  /** data inputs fed at run time ('' = omitted optional input) */
  inputs: Array<Tensor | string>;
  /** constant inputs (initializers) appended after / between: name → tensor; `order` says where */
  consts?: Record<string, Tensor>;
  /** input names in node order; default: x0, x1, ... for `inputs`, then the consts in order */
  order?: string[];
  attrs?: Record<string, BuildAttr>;
  opset?: number;
  nOut?: number;
  /** extra nodes after the op (fusion tests): they read 'y0' and write 'z' */
  extra?: BuildNode[];
  /** the fallback list may be non-empty */
  allowFallback?: boolean;
}

function caseModel(c: Case): { model: BuildModel; feeds: Record<string, Tensor> } {
  const feeds: Record<string, Tensor> = {};
  const dataNames: string[] = [];
  c.inputs.forEach((t, i) => {
    if (typeof t === 'string') {
      dataNames.push(t);
      return;
    }
    feeds[`x${i}`] = t;
    dataNames.push(`x${i}`);
  });
  const names = c.order ?? [...dataNames, ...Object.keys(c.consts ?? {})];
  const outs = Array.from({ length: c.nOut ?? 1 }, (_, j) => `y${j}`);
  const nodes: BuildNode[] = [{ op: c.op, inputs: names, outputs: outs, attrs: c.attrs ?? {} }, ...(c.extra ?? [])];
  const finalOuts = c.extra ? ['z'] : outs;
  return {
    model: {
      nodes,
      inputs: Object.entries(feeds).map(([name, t]) => ({ name, dtype: t.dtype, dims: t.dims })),
      outputs: finalOuts.map((name) => ({ name, dtype: 'float32' as TensorDType, dims: null })),
      initializers: c.consts ?? {},
      opsets: { '': c.opset ?? 17 },
    },
    feeds,
  };
}

function mismatch(got: Tensor, want: Tensor): string | null {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype} vs ${want.dtype}`;
  if (got.dims.join() !== want.dims.join()) return `dims [${got.dims}] vs [${want.dims}]`;
  const a = got.data as Float32Array,
    b = want.data as Float32Array;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!,
      y = b[i]!;
    if (Number.isNaN(y) ? !Number.isNaN(x) : !(Math.abs(x - y) <= ATOL + RTOL * Math.abs(y)) && x !== y) {
      return `element ${i}: ${x} vs reference ${y} (|Δ| ${Math.abs(x - y).toExponential(2)})`;
    }
  }
  return null;
}

/** Runs one case on both engines; returns a failure message (with the shapes) or null. */
async function runCase(c: Case): Promise<string | null> {
  const { model, feeds } = caseModel(c);
  const bytes = buildModel(model);
  const where = `${c.op} ${c.label}: inputs ${Object.values(feeds).map(fmt).join(', ')}${
    c.consts
      ? `; consts ${Object.entries(c.consts)
          .map(([k, t]) => `${k}=${fmt(t)}`)
          .join(', ')}`
      : ''
  } attrs ${JSON.stringify(c.attrs ?? {})}`;
  const ref = await Session.fromOnnx(bytes);
  const want = await ref.run(feeds);
  let f: Session;
  try {
    f = await Session.fromOnnx(bytes, F32());
  } catch (e) {
    return `${where}: load failed: ${(e as Error).message}`;
  }
  const got = await f.run(feeds);
  if (!c.allowFallback && f.report!.fallbackOps.length) return `${where}: fell back: ${JSON.stringify(f.report!.fallbackOps)}`;
  for (const [k, w] of Object.entries(want)) {
    const g = got[k];
    if (!g) return `${where}: output ${k} missing`;
    const m = mismatch(g, w);
    if (m) return `${where}: output ${k} ${fmt(w)}: ${m}`;
  }
  // a second run gives the same (no state kept between runs)
  const again = await f.run(feeds);
  for (const [k, w] of Object.entries(got)) {
    if (mismatch(again[k]!, w)) return `${where}: second run differs`;
  }
  return null;
}

async function expectCases(cases: Case[]): Promise<void> {
  const failures: string[] = [];
  for (const c of cases) {
    const m = await runCase(c);
    if (m) failures.push(m);
  }
  expect(failures, failures.slice(0, 8).join('\n')).toEqual([]);
}

// ---------------------------------------------------------------------------------------------
// (a) op kernels vs reference

describe('sparrow-f32 op kernels vs the TS references', () => {
  const SHAPE_PAIRS: Array<[number[], number[]]> = [
    [
      [2, 3, 4, 5],
      [2, 3, 4, 5],
    ],
    [[7], [7]],
    [[13], []],
    [[], [6]],
    [[3, 5], [1]],
    [
      [2, 3, 4, 5],
      [3, 1, 1],
    ],
    [
      [2, 3, 4, 5],
      [1, 3, 1, 1],
    ],
    [[4, 5], [5]],
    [
      [3, 1, 5],
      [1, 4, 1],
    ],
    [
      [1, 9],
      [6, 1],
    ],
    [
      [2, 1, 3, 1, 5],
      [1, 4, 1, 6, 1],
    ],
    [[1], [2, 3, 7]],
    [
      [2, 1, 2, 1, 2, 1, 3],
      [1, 2, 1, 2, 1, 2, 1],
    ],
    [
      [5, 1, 1, 7],
      [5, 3, 2, 7],
    ],
    [[33], [33]],
  ];

  it('Add/Sub/Mul/Div with numpy broadcasting (inputs and constants, both sides)', async () => {
    const cases: Case[] = [];
    let seed = 1;
    for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
      for (const [a, b] of SHAPE_PAIRS) {
        const A = rand(a, seed++),
          B = rand(b, seed++, op === 'Div' ? 0.5 : -1, op === 'Div' ? 2 : 1);
        const deep = Math.max(a.length, b.length) > 6;
        cases.push({ label: 'both fed', op, inputs: [A, B], allowFallback: deep });
        cases.push({ label: 'B constant', op, inputs: [A], consts: { B }, allowFallback: deep });
        cases.push({ label: 'A constant', op, inputs: [B], consts: { A }, order: ['A', 'x0'], allowFallback: deep });
      }
    }
    await expectCases(cases);
  });

  it('Pow: tensor exponents with broadcasting, scalar exponents (fast paths and general)', async () => {
    const cases: Case[] = [];
    let seed = 100;
    for (const [a, b] of SHAPE_PAIRS.slice(0, 10)) {
      cases.push({ label: 'tensor exponent', op: 'Pow', inputs: [rand(a, seed++, 0.1, 3), rand(b, seed++, -2, 2)] });
    }
    for (const e of [2, 3, 0.5, -1, 1, 0, 1.7, -2.5]) {
      cases.push({ label: `exponent ${e}`, op: 'Pow', inputs: [rand([3, 11], seed++, 0.05, 4)], consts: { E: f32c([e], []) } });
    }
    cases.push({ label: 'negative base, integer exponent', op: 'Pow', inputs: [rand([17], seed++, -3, 3)], consts: { E: f32c([3], []) } });
    cases.push({
      label: 'negative base, exponent 2 (general)',
      op: 'Pow',
      inputs: [rand([9], seed++, -3, 3)],
      consts: { E: f32c([4], [1]) },
    });
    await expectCases(cases);
  });

  it('unary activations over shapes with tails and attribute sweeps', async () => {
    const cases: Case[] = [];
    let seed = 200;
    const shapes = [[1], [7], [3, 5, 9], [2, 33], [4, 64]];
    const plain = ['Relu', 'Sigmoid', 'Tanh', 'HardSwish', 'Exp', 'Erf'];
    for (const op of plain) for (const s of shapes) cases.push({ label: `[${s}]`, op, inputs: [rand(s, seed++, -8, 8)] });
    for (const s of shapes) cases.push({ label: `[${s}]`, op: 'Sqrt', inputs: [rand(s, seed++, 0, 50)] });
    for (const s of shapes) cases.push({ label: 'wide range', op: 'Exp', inputs: [rand(s, seed++, -80, 80)] });
    for (const s of shapes) cases.push({ label: 'tiny', op: 'Tanh', inputs: [rand(s, seed++, -1e-3, 1e-3)] });
    for (const s of shapes) cases.push({ label: 'tiny', op: 'Erf', inputs: [rand(s, seed++, -1e-3, 1e-3)] });
    for (const alpha of [0.01, 0.3, 2])
      cases.push({ label: `alpha ${alpha}`, op: 'LeakyRelu', inputs: [rand([5, 7], seed++, -4, 4)], attrs: { alpha: { float: alpha } } });
    for (const [alpha, beta] of [
      [0.2, 0.5],
      [0.5, 0.1],
      [1 / 6, 0.5],
    ]) {
      cases.push({
        label: `alpha ${alpha} beta ${beta}`,
        op: 'HardSigmoid',
        inputs: [rand([3, 13], seed++, -6, 6)],
        attrs: { alpha: { float: alpha! }, beta: { float: beta! } },
      });
    }
    for (const approximate of ['none', 'tanh']) {
      for (const s of shapes)
        cases.push({ label: approximate, op: 'Gelu', inputs: [rand(s, seed++, -6, 6)], attrs: { approximate }, opset: 20 });
    }
    // Clip: opset 11+ bounds as inputs (both, min only, max only, none, min > max), opset 6 attributes
    const X = () => rand([6, 7], seed++, -3, 3);
    cases.push({ label: 'min and max', op: 'Clip', inputs: [X()], consts: { lo: f32c([-0.5], []), hi: f32c([1.25], []) }, opset: 13 });
    cases.push({ label: 'min only', op: 'Clip', inputs: [X()], consts: { lo: f32c([0.1], []) }, opset: 13 });
    cases.push({ label: 'max only', op: 'Clip', inputs: [X(), ''], consts: { hi: f32c([0.2], []) }, order: ['x0', '', 'hi'], opset: 13 });
    cases.push({ label: 'no bounds', op: 'Clip', inputs: [X()], opset: 13 });
    cases.push({ label: 'min > max', op: 'Clip', inputs: [X()], consts: { lo: f32c([1], []), hi: f32c([-1], []) }, opset: 13 });
    cases.push({ label: 'opset 6 attributes', op: 'Clip', inputs: [X()], attrs: { min: { float: -1 }, max: { float: 0.5 } }, opset: 7 });
    cases.push({ label: 'fed bounds', op: 'Clip', inputs: [X(), f32c([-0.25], []), f32c([0.75], [])], opset: 13 });
    cases.push({
      label: 'fed max, constant min',
      op: 'Clip',
      inputs: [X(), f32c([0.5], [])],
      consts: { lo: f32c([-2], []) },
      order: ['x0', 'lo', 'x1'],
      opset: 13,
    });
    await expectCases(cases);
  });

  it('Conv: kernels, strides, pads, dilations, groups, depthwise, 1-D, auto_pad, bias', async () => {
    const cases: Case[] = [];
    let seed = 300;
    const conv = (label: string, x: number[], w: number[], attrs: Record<string, BuildAttr> = {}, bias = true): void => {
      const consts: Record<string, Tensor> = { W: rand(w, seed++, -0.5, 0.5) };
      if (bias) consts['B'] = rand([w[0]!], seed++);
      cases.push({ label, op: 'Conv', inputs: [rand(x, seed++)], consts, attrs });
    };
    conv('3x3 pad 1', [1, 3, 8, 8], [4, 3, 3, 3], { pads: [1, 1, 1, 1] });
    conv('3x3 stride 2 pad 1', [2, 5, 9, 11], [6, 5, 3, 3], { pads: [1, 1, 1, 1], strides: [2, 2] });
    conv('1x1 no bias', [1, 16, 7, 7], [8, 16, 1, 1], {}, false);
    conv('5x3 asymmetric pads', [1, 2, 10, 9], [3, 2, 5, 3], { pads: [2, 0, 1, 1] });
    conv('dilation 2', [1, 3, 12, 12], [5, 3, 3, 3], { dilations: [2, 2], pads: [2, 2, 2, 2] });
    conv('groups 2', [1, 4, 6, 6], [6, 2, 3, 3], { group: 2, pads: [1, 1, 1, 1] });
    conv('depthwise', [1, 8, 9, 9], [8, 1, 3, 3], { group: 8, pads: [1, 1, 1, 1] });
    conv('depthwise stride 2', [2, 6, 10, 10], [6, 1, 3, 3], { group: 6, pads: [1, 1, 1, 1], strides: [2, 2] });
    conv('depthwise multiplier 2', [1, 4, 7, 7], [8, 1, 3, 3], { group: 4 });
    conv('stride 3', [1, 2, 13, 13], [3, 2, 3, 3], { strides: [3, 3] });
    conv('1-D', [2, 3, 20], [4, 3, 5], { pads: [2, 2] });
    conv('1-D stride 2 dilation 2', [1, 2, 17], [3, 2, 3], { strides: [2], dilations: [2] });
    conv('SAME_UPPER', [1, 3, 7, 8], [4, 3, 3, 3], { auto_pad: 'SAME_UPPER', strides: [2, 2] });
    conv('SAME_LOWER', [1, 3, 7, 8], [4, 3, 4, 4], { auto_pad: 'SAME_LOWER' });
    conv('VALID', [1, 3, 7, 8], [4, 3, 3, 2], { auto_pad: 'VALID' });
    conv('kernel_shape attribute', [1, 1, 5, 5], [1, 1, 2, 2], { kernel_shape: [2, 2] });
    cases.push({
      label: 'fed weights and bias',
      op: 'Conv',
      inputs: [rand([2, 3, 6, 7], seed++), rand([4, 3, 3, 3], seed++), rand([4], seed++)],
      attrs: { pads: [1, 0, 1, 2] },
    });
    cases.push({
      label: 'fed depthwise weights',
      op: 'Conv',
      inputs: [rand([1, 4, 6, 6], seed++), rand([4, 1, 3, 3], seed++)],
      attrs: { group: 4 },
    });
    await expectCases(cases);
  });

  it('Gemm: transA/transB, alpha/beta, every C broadcast, constant and fed operands', async () => {
    const cases: Case[] = [];
    let seed = 400;
    const M = 5,
      K = 7,
      N = 9;
    for (const transA of [0, 1]) {
      for (const transB of [0, 1]) {
        const A = rand(transA ? [K, M] : [M, K], seed++),
          B = rand(transB ? [N, K] : [K, N], seed++);
        const attrs = { transA, transB, alpha: { float: 0.75 }, beta: { float: 1.5 } };
        for (const cd of [[N], [1, N], [M, 1], [M, N], [], [1]]) {
          cases.push({ label: `C [${cd}] const`, op: 'Gemm', inputs: [A], consts: { B, C: rand(cd, seed++) }, attrs });
        }
        cases.push({ label: 'no C', op: 'Gemm', inputs: [A], consts: { B }, attrs: { transA, transB } });
        cases.push({ label: 'A constant', op: 'Gemm', inputs: [B], consts: { A, C: rand([N], seed++) }, order: ['A', 'x0', 'C'], attrs });
        cases.push({ label: 'B fed, C fed', op: 'Gemm', inputs: [A, B, rand([M, N], seed++)], attrs: { transA, transB } });
      }
    }
    cases.push({
      label: 'M = 1 (FC layer)',
      op: 'Gemm',
      inputs: [rand([1, 64], seed++)],
      consts: { B: rand([10, 64], seed++), C: rand([10], seed++) },
      attrs: { transB: 1 },
    });
    cases.push({
      label: 'all fed, alpha and beta',
      op: 'Gemm',
      inputs: [rand([M, K], seed++), rand([N, K], seed++), rand([1, N], seed++)],
      attrs: { transB: 1, alpha: { float: 0.5 }, beta: { float: -2 } },
    });
    cases.push({
      label: 'all fed, C [M,1], beta',
      op: 'Gemm',
      inputs: [rand([K, M], seed++), rand([K, N], seed++), rand([M, 1], seed++)],
      attrs: { transA: 1, beta: { float: 0.25 } },
    });
    cases.push({
      label: 'beta 0',
      op: 'Gemm',
      inputs: [rand([3, 4], seed++)],
      consts: { B: rand([4, 2], seed++), C: rand([3, 2], seed++) },
      attrs: { beta: { float: 0 } },
    });
    await expectCases(cases);
  });

  it('MatMul: 2-D, batched, broadcast batches, 1-D operands, constant and fed B', async () => {
    const cases: Case[] = [];
    let seed = 500;
    const pairs: Array<[number[], number[]]> = [
      [
        [5, 7],
        [7, 9],
      ],
      [
        [2, 3, 5, 7],
        [7, 4],
      ],
      [
        [3, 5, 7],
        [3, 7, 6],
      ],
      [
        [2, 1, 4, 6],
        [3, 6, 5],
      ],
      [[7], [7, 3]],
      [[4, 7], [7]],
      [[7], [7]],
      [
        [1, 16],
        [16, 10],
      ],
      [
        [6, 8],
        [2, 8, 3],
      ],
    ];
    for (const [a, b] of pairs) {
      cases.push({ label: 'B constant', op: 'MatMul', inputs: [rand(a, seed++)], consts: { B: rand(b, seed++) } });
      cases.push({ label: 'B fed', op: 'MatMul', inputs: [rand(a, seed++), rand(b, seed++)] });
    }
    await expectCases(cases);
  });

  it('MaxPool / AveragePool: kernels, strides, pads, dilations, ceil_mode, count_include_pad, 1-D, auto_pad', async () => {
    const cases: Case[] = [];
    let seed = 600;
    const variants: Array<[string, number[], Record<string, BuildAttr>]> = [
      ['2x2 stride 2', [1, 3, 8, 8], { kernel_shape: [2, 2], strides: [2, 2] }],
      ['3x3 stride 1 pad 1', [2, 2, 7, 9], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }],
      ['3x3 stride 2 ceil', [1, 2, 10, 10], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }],
      ['3x3 stride 2 pad 1 ceil', [1, 2, 10, 11], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }],
      ['asymmetric pads', [1, 1, 6, 7], { kernel_shape: [3, 2], pads: [0, 1, 2, 0] }],
      ['dilations', [1, 2, 9, 9], { kernel_shape: [2, 2], dilations: [2, 2] }],
      ['1-D', [2, 3, 15], { kernel_shape: [3], strides: [2], pads: [1, 1] }],
      ['SAME_UPPER', [1, 2, 7, 7], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' }],
      ['SAME_LOWER', [1, 2, 6, 7], { kernel_shape: [2, 3], auto_pad: 'SAME_LOWER' }],
      ['big pad', [1, 1, 4, 4], { kernel_shape: [3, 3], pads: [2, 2, 2, 2] }],
    ];
    for (const [label, x, attrs] of variants) {
      cases.push({ label, op: 'MaxPool', inputs: [rand(x, seed++)], attrs, opset: 12 });
      cases.push({ label, op: 'AveragePool', inputs: [rand(x, seed++)], attrs, opset: 19 });
      cases.push({
        label: `${label} count_include_pad`,
        op: 'AveragePool',
        inputs: [rand(x, seed++)],
        attrs: { ...attrs, count_include_pad: 1 },
        opset: 19,
      });
    }
    for (const x of [
      [1, 3, 8, 8],
      [2, 5, 7, 3],
      [1, 4, 9],
    ])
      cases.push({ label: `[${x}]`, op: 'GlobalAveragePool', inputs: [rand(x, seed++)] });
    await expectCases(cases);
  });

  it('Softmax / LogSoftmax: every axis, opset 11 coercion and opset 13', async () => {
    const cases: Case[] = [];
    let seed = 700;
    for (const op of ['Softmax', 'LogSoftmax']) {
      for (const x of [[3, 10], [2, 3, 7], [4, 1, 9], [1, 1000], [5]]) {
        for (let axis = -1; axis < x.length; axis++) {
          cases.push({ label: `axis ${axis} opset 13`, op, inputs: [rand(x, seed++, -10, 10)], attrs: { axis }, opset: 13 });
          cases.push({ label: `axis ${axis} opset 11`, op, inputs: [rand(x, seed++, -10, 10)], attrs: { axis }, opset: 11 });
        }
      }
    }
    await expectCases(cases);
  });

  it('BatchNormalization, LayerNormalization, ReduceMean', async () => {
    const cases: Case[] = [];
    let seed = 800;
    for (const x of [
      [2, 3, 4, 5],
      [3, 4],
      [1, 6, 7],
    ]) {
      const C = x[1]!;
      cases.push({
        label: `[${x}]`,
        op: 'BatchNormalization',
        inputs: [rand(x, seed++)],
        opset: 15,
        attrs: { epsilon: { float: 1e-3 } },
        consts: { s: rand([C], seed++), b: rand([C], seed++), m: rand([C], seed++), v: rand([C], seed++, 0.5, 2) },
      });
    }
    cases.push({
      label: 'fed parameters',
      op: 'BatchNormalization',
      inputs: [rand([2, 3, 4, 5], seed++), rand([3], seed++), rand([3], seed++), rand([3], seed++), rand([3], seed++, 0.5, 2)],
      opset: 15,
    });
    cases.push({
      label: 'fed Scale and B',
      op: 'LayerNormalization',
      inputs: [rand([2, 3, 8], seed++), rand([3, 8], seed++), rand([3, 8], seed++)],
      attrs: { axis: 1 },
      opset: 17,
    });
    for (const [x, axis, sd] of [
      [[2, 3, 8], -1, [8]],
      [[2, 3, 8], 1, [3, 8]],
      [[4, 7], -1, [7]],
      [[2, 3, 5], -1, [1]],
      [[2, 2, 3, 4], 2, [1, 4]],
    ] as const) {
      cases.push({
        label: `axis ${axis} scale [${sd}]`,
        op: 'LayerNormalization',
        inputs: [rand([...x], seed++)],
        attrs: { axis, epsilon: { float: 1e-5 } },
        opset: 17,
        consts: { S: rand([...sd], seed++), B: rand([...sd], seed++) },
      });
      cases.push({
        label: `axis ${axis} no bias, mean/invstd outputs`,
        op: 'LayerNormalization',
        inputs: [rand([...x], seed++)],
        attrs: { axis },
        opset: 17,
        consts: { S: rand([...sd], seed++) },
        nOut: 3,
      });
    }
    const X = [2, 3, 4, 5];
    for (const axes of [[1], [2, 3], [-1], [0], [1, 2, 3], [0, 1]]) {
      for (const keepdims of [0, 1]) {
        cases.push({
          label: `axes ${axes} keepdims ${keepdims}`,
          op: 'ReduceMean',
          inputs: [rand(X, seed++)],
          attrs: { axes, keepdims },
          opset: 13,
        });
        cases.push({
          label: `opset 18 axes ${axes} keepdims ${keepdims}`,
          op: 'ReduceMean',
          inputs: [rand(X, seed++)],
          consts: { axes: i64(axes) },
          attrs: { keepdims },
          opset: 18,
        });
      }
    }
    cases.push({ label: 'all axes', op: 'ReduceMean', inputs: [rand([3, 1, 7], seed++)], opset: 13 });
    cases.push({
      label: 'size-1 axes between',
      op: 'ReduceMean',
      inputs: [rand([3, 1, 7, 2], seed++)],
      attrs: { axes: [0, 2] },
      opset: 13,
    });
    cases.push({
      label: 'non-contiguous axes',
      op: 'ReduceMean',
      inputs: [rand(X, seed++)],
      attrs: { axes: [0, 2] },
      opset: 13,
      allowFallback: true,
    });
    await expectCases(cases);
  });

  it('Transpose, Concat, Split, Slice (steps), Pad (constant/edge/reflect/wrap), Gather, Expand', async () => {
    const cases: Case[] = [];
    let seed = 900;
    const X = () => rand([2, 3, 4, 5], seed++);
    for (const perm of [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [0, 2, 3, 1],
      [1, 0, 2, 3],
      [0, 1, 3, 2],
      [2, 0, 3, 1],
    ]) {
      cases.push({ label: `perm ${perm}`, op: 'Transpose', inputs: [X()], attrs: { perm } });
    }
    cases.push({ label: 'default perm', op: 'Transpose', inputs: [rand([3, 7], seed++)] });
    for (const axis of [0, 1, 2, -1]) {
      const d = (k: number) => {
        const s = [2, 3, 4];
        s[(axis + 3) % 3] = k;
        return s;
      };
      cases.push({
        label: `axis ${axis}`,
        op: 'Concat',
        inputs: [rand(d(1), seed++), rand(d(3), seed++), rand(d(2), seed++)],
        attrs: { axis },
      });
      cases.push({
        label: `axis ${axis} with a constant`,
        op: 'Concat',
        inputs: [rand(d(2), seed++)],
        consts: { c: rand(d(3), seed++) },
        attrs: { axis },
      });
    }
    for (const [axis, split] of [
      [0, [1, 1]],
      [1, [1, 2]],
      [2, [1, 1, 2]],
      [3, [5]],
      [-1, [2, 3]],
    ] as const) {
      cases.push({
        label: `axis ${axis} split ${split}`,
        op: 'Split',
        inputs: [X()],
        consts: { s: i64([...split]) },
        attrs: { axis },
        nOut: split.length,
        opset: 13,
      });
    }
    cases.push({
      label: 'num_outputs 3 uneven',
      op: 'Split',
      inputs: [rand([2, 7], seed++)],
      attrs: { axis: 1, num_outputs: 3 },
      nOut: 3,
      opset: 18,
    });
    const slices: Array<[number[], number[], number[] | undefined, number[] | undefined]> = [
      [[0, 1], [2, 3], [0, 1], undefined],
      [[1], [-1], [3], undefined],
      [
        [0, 0],
        [4, 5],
        [2, 3],
        [2, 2],
      ],
      [[-1], [-100], [3], [-1]],
      [
        [3, 2],
        [0, 0],
        [2, 3],
        [-2, -1],
      ],
      [[0], [100], [1], [2]],
      [[1, 1, 1, 1], [2, 3, 4, 5], undefined, undefined],
      [[2], [2], [2], undefined],
    ];
    for (const [starts, ends, axes, steps] of slices) {
      const consts: Record<string, Tensor> = { st: i64(starts), en: i64(ends) };
      const order = ['x0', 'st', 'en'];
      if (axes) {
        consts['ax'] = i64(axes);
        order.push('ax');
      }
      if (steps) {
        if (!axes) {
          consts['ax'] = i64(starts.map((_, i) => i));
          order.push('ax');
        }
        consts['sp'] = i64(steps);
        order.push('sp');
      }
      cases.push({
        label: `starts ${starts} ends ${ends} axes ${axes} steps ${steps}`,
        op: 'Slice',
        inputs: [X()],
        consts,
        order,
        opset: 13,
      });
    }
    cases.push({
      label: 'opset 9 attributes',
      op: 'Slice',
      inputs: [X()],
      attrs: { starts: [1, 0], ends: [3, 2], axes: [1, 3] },
      opset: 9,
    });
    for (const mode of ['constant', 'edge', 'reflect', 'wrap']) {
      for (const pads of [
        [0, 1, 2, 1, 0, 2, 1, 3],
        [1, 0, 0, 0, 0, 1, 0, 0],
        [0, 0, 1, 2, 0, 0, 2, 1],
        [0, -1, 1, 0, 0, 0, 1, -2],
      ]) {
        const consts: Record<string, Tensor> = { p: i64(pads) };
        if (mode === 'constant') consts['v'] = f32c([0.5], []);
        cases.push({ label: `${mode} pads ${pads}`, op: 'Pad', inputs: [X()], consts, attrs: { mode }, opset: 19 });
      }
    }
    cases.push({
      label: 'fed constant_value',
      op: 'Pad',
      inputs: [X(), f32c([2.5], [])],
      consts: { p: i64([0, 1, 0, 0, 1, 0, 2, 1]) },
      order: ['x0', 'p', 'x1'],
      opset: 13,
    });
    cases.push({
      label: 'axes (opset 18)',
      op: 'Pad',
      inputs: [X()],
      consts: { p: i64([1, 2, 0, 1]), v: f32c([-1], []), ax: i64([1, 3]) },
      order: ['x0', 'p', 'v', 'ax'],
      opset: 18,
    });
    cases.push({
      label: 'opset 2 attributes reflect',
      op: 'Pad',
      inputs: [rand([3, 4], seed++)],
      attrs: { pads: [1, 2, 1, 2], mode: 'reflect' },
      opset: 7,
    });
    for (const [axis, idx, idims] of [
      [0, [1, 0, 1], [3]],
      [1, [2, -1], [2]],
      [
        2,
        [
          [0, 3],
          [1, 1],
        ].flat(),
        [2, 2],
      ],
      [3, [4], []],
      [-1, [0, 2, 4], [3]],
    ] as const) {
      cases.push({
        label: `axis ${axis} indices ${idx}`,
        op: 'Gather',
        inputs: [X()],
        consts: { i: i64([...idx], [...idims]) },
        attrs: { axis },
      });
    }
    for (const [x, shape] of [
      [
        [3, 1],
        [2, 3, 4],
      ],
      [
        [1, 4],
        [3, 1],
      ],
      [[5], [2, 5]],
      [
        [2, 1, 3],
        [2, 4, 3],
      ],
    ] as const) {
      cases.push({ label: `[${x}] to [${shape}]`, op: 'Expand', inputs: [rand([...x], seed++)], consts: { s: i64([...shape]) } });
    }
    await expectCases(cases);
  });

  it('fusion: Conv/Gemm/MatMul + bias Add + Relu/Clip run fused and match the unfused reference', async () => {
    let seed = 1000;
    const cases: Case[] = [
      {
        label: 'Conv → Add(bias [C,1,1]) → Relu',
        op: 'Conv',
        inputs: [rand([1, 3, 6, 6], seed++)],
        consts: { W: rand([4, 3, 3, 3], seed++), cb: rand([4, 1, 1], seed++) },
        order: ['x0', 'W'],
        attrs: { pads: [1, 1, 1, 1] },
        extra: [
          { op: 'Add', inputs: ['y0', 'cb'], outputs: ['t'] },
          { op: 'Relu', inputs: ['t'], outputs: ['z'] },
        ],
      },
      {
        label: 'Conv(B) → Clip(0, 6)',
        op: 'Conv',
        inputs: [rand([1, 2, 5, 5], seed++, -4, 4)],
        consts: { W: rand([3, 2, 1, 1], seed++, -3, 3), B: rand([3], seed++), lo: f32c([0], []), hi: f32c([6], []) },
        order: ['x0', 'W', 'B'],
        extra: [{ op: 'Clip', inputs: ['y0', 'lo', 'hi'], outputs: ['z'] }],
      },
      {
        label: 'MatMul 2-D → Add([N]) → Relu (becomes Gemm)',
        op: 'MatMul',
        inputs: [rand([3, 8], seed++)],
        consts: { B: rand([8, 5], seed++), c: rand([5], seed++) },
        order: ['x0', 'B'],
        extra: [
          { op: 'Add', inputs: ['c', 'y0'], outputs: ['t'] },
          { op: 'Relu', inputs: ['t'], outputs: ['z'] },
        ],
      },
      {
        label: 'MatMul 3-D → Add([1,N]) → Clip',
        op: 'MatMul',
        inputs: [rand([2, 3, 8], seed++)],
        consts: { B: rand([8, 5], seed++), c: rand([1, 5], seed++), lo: f32c([-0.2], []), hi: f32c([0.3], []) },
        order: ['x0', 'B'],
        extra: [
          { op: 'Add', inputs: ['y0', 'c'], outputs: ['t'] },
          { op: 'Clip', inputs: ['t', 'lo', 'hi'], outputs: ['z'] },
        ],
      },
      {
        label: 'Gemm(C) → Add → Relu',
        op: 'Gemm',
        inputs: [rand([4, 6], seed++)],
        consts: { B: rand([5, 6], seed++), C: rand([5], seed++), c: rand([5], seed++) },
        order: ['x0', 'B', 'C'],
        attrs: { transB: 1, beta: { float: 0.5 } },
        extra: [
          { op: 'Add', inputs: ['y0', 'c'], outputs: ['t'] },
          { op: 'Relu', inputs: ['t'], outputs: ['z'] },
        ],
      },
    ];
    await expectCases(cases);
    // the fusions happened
    const { model } = caseModel(cases[0]!);
    const s = await Session.fromOnnx(buildModel(model), F32());
    expect(s.report!.fused).toEqual({ biases: 1, activations: 1 });
  });

  it('fusion: Sigmoid, SiLU (x·Sigmoid(x)), HardSwish (op and x·HardSigmoid(x)), HardSigmoid, Tanh, Gelu fold into Conv/Gemm/MatMul', async () => {
    let seed = 2000;
    const conv = (label: string, extra: NonNullable<Case['extra']>, opset = 13): Case => ({
      label,
      op: 'Conv',
      opset,
      inputs: [rand([1, 3, 7, 6], seed++, -3, 3)],
      consts: { W: rand([5, 3, 3, 3], seed++), B: rand([5], seed++) },
      order: ['x0', 'W', 'B'],
      attrs: { pads: [1, 1, 1, 1] },
      extra,
    });
    const cases: Case[] = [
      conv('Conv → Sigmoid', [{ op: 'Sigmoid', inputs: ['y0'], outputs: ['z'] }]),
      conv('Conv → SiLU', [
        { op: 'Sigmoid', inputs: ['y0'], outputs: ['s'] },
        { op: 'Mul', inputs: ['y0', 's'], outputs: ['z'] },
      ]),
      conv('Conv → x·HardSigmoid(x) (HardSwish before opset 14)', [
        { op: 'HardSigmoid', inputs: ['y0'], outputs: ['s'], attrs: { alpha: { float: 1 / 6 }, beta: { float: 0.5 } } },
        { op: 'Mul', inputs: ['s', 'y0'], outputs: ['z'] },
      ]),
      conv('Conv → HardSwish', [{ op: 'HardSwish', inputs: ['y0'], outputs: ['z'] }], 14),
      conv('Conv → HardSigmoid(0.3, 0.4)', [
        { op: 'HardSigmoid', inputs: ['y0'], outputs: ['z'], attrs: { alpha: { float: 0.3 }, beta: { float: 0.4 } } },
      ]),
      {
        label: 'depthwise Conv → SiLU',
        op: 'Conv',
        inputs: [rand([1, 4, 9, 9], seed++, -3, 3)],
        consts: { W: rand([4, 1, 3, 3], seed++) },
        order: ['x0', 'W'],
        attrs: { group: 4, strides: [2, 2] },
        extra: [
          { op: 'Sigmoid', inputs: ['y0'], outputs: ['s'] },
          { op: 'Mul', inputs: ['s', 'y0'], outputs: ['z'] },
        ],
      },
      {
        label: 'Gemm → Tanh',
        op: 'Gemm',
        inputs: [rand([5, 7], seed++)],
        consts: { B: rand([7, 6], seed++), C: rand([6], seed++) },
        order: ['x0', 'B', 'C'],
        extra: [{ op: 'Tanh', inputs: ['y0'], outputs: ['z'] }],
      },
      {
        label: 'MatMul 3-D → Gelu (tanh form)',
        op: 'MatMul',
        opset: 20,
        inputs: [rand([2, 3, 8], seed++, -2, 2)],
        consts: { B: rand([8, 9], seed++) },
        order: ['x0', 'B'],
        extra: [{ op: 'Gelu', inputs: ['y0'], outputs: ['z'], attrs: { approximate: 'tanh' } }],
      },
    ];
    await expectCases(cases);
    for (const c of cases) {
      const { model } = caseModel(c);
      const s = await Session.fromOnnx(buildModel(model), F32());
      expect(s.report!.fused!.activations, c.label).toBe(1);
      expect(s.report!.fallbackOps, c.label).toEqual([]);
    }
    // not fused: a Sigmoid whose input has another reader, or a gate with other parameters
    const notFused: Case[] = [
      conv('Conv → Sigmoid, and y0 also an output of Mul with itself', [
        { op: 'Sigmoid', inputs: ['y0'], outputs: ['s'] },
        { op: 'Mul', inputs: ['y0', 'y0'], outputs: ['q'] },
        { op: 'Add', inputs: ['s', 'q'], outputs: ['z'] },
      ]),
    ];
    await expectCases(notFused);
    const s = await Session.fromOnnx(buildModel(caseModel(notFused[0]!).model), F32());
    expect(s.report!.fused!.activations).toBe(0);
  });

  it('int64 / bool tensors live in the arena: Cast, Equal, Where run in WASM; ops without a kernel fall back, listed in the report', async () => {
    // Equal / Where / Cast on int64 and bool run in WASM; Mod (int64) and ArgMax (float → int64) on
    // their reference kernels, reading and writing int64 values in the arena
    const model: BuildModel = {
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'] },
        { op: 'Equal', inputs: ['k', 'k2'], outputs: ['eq'] },
        { op: 'Where', inputs: ['eq', 'r', 'zero'], outputs: ['w'] },
        { op: 'Mod', inputs: ['k', 'three'], outputs: ['km'] },
        { op: 'Cast', inputs: ['km'], outputs: ['kf'], attrs: { to: 1 } },
        { op: 'Add', inputs: ['w', 'kf'], outputs: ['y'] },
        { op: 'ArgMax', inputs: ['y'], outputs: ['am'], attrs: { axis: 1 } },
        { op: 'Reshape', inputs: ['am', 'flat'], outputs: ['amf'] },
      ],
      inputs: [
        { name: 'x', dtype: 'float32', dims: [2, 3] },
        { name: 'k', dtype: 'int64', dims: [2, 3] },
      ],
      outputs: [
        { name: 'y', dtype: 'float32', dims: [2, 3] },
        { name: 'amf', dtype: 'int64', dims: [2] },
        { name: 'eq', dtype: 'bool', dims: [2, 3] },
      ],
      initializers: { k2: i64([1], []), zero: f32c([0], []), three: i64([3], []), flat: i64([2]) },
    };
    const bytes = buildModel(model);
    const feeds = { x: rand([2, 3], 5), k: i64([0, 1, 2, 1, -7, 3], [2, 3]) };
    const ref = await (await Session.fromOnnx(bytes)).run(feeds);
    const s = await Session.fromOnnx(bytes, F32());
    for (let run = 0; run < 2; run++) {
      const got = await s.run(feeds);
      expect(mismatch(got['y']!, ref['y']!)).toBeNull();
      expect(got['amf']).toEqual(ref['amf']);
      expect(got['eq']).toEqual(ref['eq']);
    }
    expect(s.report!.fallbackOps.map((f) => f.op).sort()).toEqual(['ArgMax', 'Mod']);
    for (const f of s.report!.fallbackOps) expect(f.reason.length, f.node).toBeGreaterThan(0);
  });

  it('Node: compiles build/sparrow.wasm itself when no module is given; fromGraph compiles at the first run', async () => {
    const model: BuildModel = {
      nodes: [{ op: 'Tanh', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', dtype: 'float32', dims: [2, 9] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [2, 9] }],
    };
    const x = rand([2, 9], 77, -3, 3);
    const want = (await (await Session.fromOnnx(buildModel(model))).run({ x }))['y']!;
    const a = await Session.fromOnnx(buildModel(model), { engine: 'sparrow-f32' });
    expect(a.memoryStats()!.plans).toBe(1); // static shapes: compiled at load
    expect(mismatch((await a.run({ x }))['y']!, want)).toBeNull();
    const b = Session.fromGraph(importOnnx(buildModel(model)), { engine: 'sparrow-f32' });
    expect(b.memoryStats()!.plans).toBe(0);
    expect(mismatch((await b.run({ x }))['y']!, want)).toBeNull();
    expect(b.memoryBytes()).toBeGreaterThan(0);
  });

  it('symbolic input dims: one plan per input shape, cached', async () => {
    const model: BuildModel = {
      nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attrs: { axis: -1 } }],
      inputs: [{ name: 'x', dtype: 'float32', dims: ['n', 5] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['n', 5] }],
    };
    const s = await Session.fromOnnx(buildModel(model), F32());
    const ref = await Session.fromOnnx(buildModel(model));
    expect(s.memoryStats()!.plans).toBe(0);
    for (const n of [1, 3, 1, 7, 3]) {
      const x = rand([n, 5], n);
      expect(mismatch((await s.run({ x }))['y']!, (await ref.run({ x }))['y']!)).toBeNull();
    }
    expect(s.memoryStats()!.plans).toBe(3);
  });
});
