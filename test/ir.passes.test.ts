// Graph passes on small hand-built ONNX models: shape inference, input shapes, constant
// folding (incl. Shape of statically shaped tensors and Shape→Gather→Unsqueeze→Concat→Reshape
// chains), Identity/Dropout removal, BatchNormalization folding into Conv/Gemm, the optimize
// pipeline and the Session API. Every rewrite is checked by running the graph before and after.
import { describe, it, expect } from 'vitest';
import '../src/ops/ref/index.js';
import { SparrowError } from '../src/errors.js';
import type { Tensor } from '../src/ops/types.js';
import { importOnnx } from '../src/onnx/import.js';
import { cloneGraph, opCounts, type Graph } from '../src/ir/graph.js';
import { buildModel, f32, i64, type BuildModel, type BuildNode, type BuildValue } from '../src/onnx/build.js';
import {
  eliminateDeadNodes,
  foldBatchNorm,
  foldConstants,
  inferShapes,
  optimize,
  removeIdentities,
  setInputShapes,
} from '../src/ir/passes.js';
import { runReference } from '../src/runtime/reference.js';
import { Session } from '../src/runtime/session.js';
import { lcg } from './helpers/tensors.js';

function expectCode(fn: () => unknown, code: string, re?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a SparrowError').toBeInstanceOf(SparrowError);
  expect((thrown as SparrowError).code).toBe(code);
  if (re) expect((thrown as SparrowError).message).toMatch(re);
}

const rnd = lcg(2024);
const randn = (dims: number[], scale = 1): Tensor =>
  f32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rnd() * 2 - 1) * scale),
  );
const positive = (n: number): Tensor =>
  f32(
    [n],
    Array.from({ length: n }, () => 0.5 + rnd()),
  );
const v = (name: string, dims: BuildValue['dims'], dtype: Tensor['dtype'] = 'float32'): BuildValue => ({ name, dtype, dims });
const load = (m: Omit<BuildModel, 'opsets'> & { opsets?: BuildModel['opsets'] }): Graph =>
  importOnnx(buildModel({ opsets: { '': 13 }, ...m }));

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.dims).toEqual(b.dims);
  expect(a.dtype).toBe(b.dtype);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(Number(a.data[i]) - Number(b.data[i])));
  return m;
}

/** Runs `g` and a copy transformed by `pass` on the same feeds; returns the copy and the max abs difference. */
function beforeAfter(g: Graph, feeds: Record<string, Tensor>, pass: (g: Graph) => unknown): { after: Graph; diff: number } {
  const after = cloneGraph(g);
  pass(after);
  const a = runReference(g, feeds),
    b = runReference(after, feeds);
  let diff = 0;
  for (const o of g.outputs) diff = Math.max(diff, maxAbsDiff(a[o]!, b[o]!));
  return { after, diff };
}

describe('inferShapes / setInputShapes', () => {
  const model = {
    inputs: [v('x', ['N', 3, 8, 8])],
    outputs: [v('y', ['N', 4, 8, 8])],
    initializers: { w: randn([4, 3, 3, 3]), b: randn([4]) },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c'], outputs: ['y'] },
    ],
  };

  it('infers dtypes and dims through the graph, symbolic batch stays -1', () => {
    const g = load(model);
    expect(g.values.get('c')!.info).toEqual({ dtype: 'float32', dims: [-1, 4, 8, 8] });
    expect(g.values.get('y')!.info).toEqual({ dtype: 'float32', dims: [-1, 4, 8, 8] });
    // idempotent
    inferShapes(g);
    expect(g.values.get('y')!.info.dims).toEqual([-1, 4, 8, 8]);
  });

  it('setInputShapes fixes symbolic dims and re-infers; mismatches are invalid_argument', () => {
    const g = load(model);
    setInputShapes(g, { x: [2, 3, 8, 8] });
    expect(g.values.get('y')!.info.dims).toEqual([2, 4, 8, 8]);
    setInputShapes(g, { x: [-1, 3, 8, 8] }); // -1 keeps what is known
    expect(g.values.get('x')!.info.dims).toEqual([2, 3, 8, 8]);
    expectCode(() => setInputShapes(load(model), { x: [1, 4, 8, 8] }), 'invalid_argument', /declared float32 \[\?,3,8,8\]/);
    expectCode(() => setInputShapes(load(model), { x: [1, 3, 8] }), 'invalid_argument');
    expectCode(() => setInputShapes(load(model), { nope: [1] }), 'invalid_argument', /'x'/);
  });
});

describe('foldConstants', () => {
  it('runs nodes whose inputs are all constants at load time', () => {
    const g = load({
      inputs: [v('x', [2])],
      outputs: [v('y', [2])],
      initializers: { a: f32([2], [1, 2]), b: f32([2], [10, 20]) },
      nodes: [
        { op: 'Add', inputs: ['a', 'b'], outputs: ['ab'] },
        { op: 'Relu', inputs: ['ab'], outputs: ['r'] },
        { op: 'Mul', inputs: ['x', 'r'], outputs: ['y'] },
      ],
    });
    const { after, diff } = beforeAfter(g, { x: f32([2], [3, -1]) }, (h) => {
      expect(foldConstants(h)).toBe(2);
      eliminateDeadNodes(h);
    });
    expect(diff).toBe(0);
    expect(after.nodes.map((n) => n.op)).toEqual(['Mul']);
    expect(Array.from(after.values.get('r')!.const!.data as Float32Array)).toEqual([11, 22]);
    expect(after.values.has('ab')).toBe(false); // dead constants go with eliminateDeadNodes
    expect(after.values.has('a')).toBe(false);
  });

  it('folds Shape of a statically shaped (non-constant) tensor, not of a symbolic one', () => {
    const m = {
      inputs: [v('x', ['N', 3, 4])],
      outputs: [v('s', [3], 'int64'), v('y', ['N', 3, 4])],
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['y'] },
        { op: 'Shape', inputs: ['y'], outputs: ['s'] },
      ],
    };
    const sym = load(m);
    expect(foldConstants(sym)).toBe(0);
    expect(opCounts(sym)).toEqual({ Relu: 1, Shape: 1 });
    const g = load(m);
    setInputShapes(g, { x: [2, 3, 4] });
    expect(foldConstants(g)).toBe(1);
    expect(opCounts(g)).toEqual({ Relu: 1 });
    expect(Array.from(g.values.get('s')!.const!.data as BigInt64Array)).toEqual([2n, 3n, 4n]);
    const out = runReference(g, { x: randn([2, 3, 4]) });
    expect(Array.from(out['s']!.data as BigInt64Array)).toEqual([2n, 3n, 4n]);
  });

  it('Shape start/end (opset 15) fold', () => {
    const g = load({
      opsets: { '': 15 },
      inputs: [v('x', [2, 3, 4, 5])],
      outputs: [v('s', [2], 'int64')],
      nodes: [{ op: 'Shape', inputs: ['x'], outputs: ['s'], attrs: { start: 1, end: -1 } }],
    });
    const ref = runReference(cloneGraph(g), { x: randn([2, 3, 4, 5]) })['s']!;
    expect(foldConstants(g)).toBe(1);
    expect(g.values.get('s')!.const).toEqual(ref);
    expect(Array.from(ref.data as BigInt64Array)).toEqual([3n, 4n]);
  });

  // The Llama-export pattern: reshape x [B, T, 8] to [B, T, 2, 4] with the shape built at run time.
  const chain = (): Omit<BuildModel, 'opsets'> => ({
    inputs: [v('x', ['B', 'T', 8])],
    outputs: [v('y', ['B', 'T', 2, 4])],
    initializers: { i0: i64([], [0]), i1: i64([], [1]), ax: i64([1], [0]), tail: i64([2], [2, 4]) },
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['sh'] },
      { op: 'Gather', inputs: ['sh', 'i0'], outputs: ['b'], attrs: { axis: 0 } },
      { op: 'Gather', inputs: ['sh', 'i1'], outputs: ['t'], attrs: { axis: 0 } },
      { op: 'Unsqueeze', inputs: ['b', 'ax'], outputs: ['b1'] },
      { op: 'Unsqueeze', inputs: ['t', 'ax'], outputs: ['t1'] },
      { op: 'Concat', inputs: ['b1', 't1', 'tail'], outputs: ['shape'], attrs: { axis: 0 } },
      { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] },
    ],
  });

  it('folds a Shape→Gather→Unsqueeze→Concat→Reshape chain once the input shape is static', () => {
    const g = load(chain());
    const yd = g.values.get('y')!.info.dims;
    expect(yd === null || yd.length === 4).toBe(true); // symbolic: at best the rank is known
    const sym = cloneGraph(g);
    foldConstants(sym);
    eliminateDeadNodes(sym);
    expect(opCounts(sym)['Shape']).toBe(1); // symbolic: nothing to fold

    const x = randn([1, 5, 8]);
    const { after, diff } = beforeAfter(g, { x }, (h) => {
      setInputShapes(h, { x: [1, 5, 8] });
      expect(foldConstants(h)).toBe(6);
      eliminateDeadNodes(h);
    });
    expect(diff).toBe(0);
    expect(opCounts(after)).toEqual({ Reshape: 1 });
    expect(Array.from(after.values.get('shape')!.const!.data as BigInt64Array)).toEqual([1n, 5n, 2n, 4n]);
    expect(after.values.get('y')!.info.dims).toEqual([1, 5, 2, 4]);
  });

  it('does not fold outputs much larger than their inputs (maxNewElements)', () => {
    const g = load({
      inputs: [v('x', [1])],
      outputs: [v('y', [300, 400])],
      initializers: { a: randn([300, 1]), b: randn([1, 400]) },
      nodes: [
        { op: 'Add', inputs: ['a', 'b'], outputs: ['ab'] },
        { op: 'Add', inputs: ['ab', 'x'], outputs: ['y'] },
      ],
    });
    expect(foldConstants(cloneGraph(g), { maxNewElements: 1000 })).toBe(0);
    expect(foldConstants(cloneGraph(g))).toBe(1); // 120k elements ≤ the default 1M
    expect(foldConstants(cloneGraph(g), { skipOps: ['Add'] })).toBe(0);
  });
});

describe('removeIdentities', () => {
  it('rewires readers of Identity and inference Dropout (opset 13: ratio input, mask unused)', () => {
    const g = load({
      inputs: [v('x', [2, 3])],
      outputs: [v('y', [2, 3])],
      initializers: { ratio: f32([], [0.5]) },
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'] },
        { op: 'Identity', inputs: ['r'], outputs: ['i1'] },
        { op: 'Dropout', inputs: ['i1', 'ratio'], outputs: ['d', 'mask'] },
        { op: 'Identity', inputs: ['d'], outputs: ['i2'] },
        { op: 'Add', inputs: ['i2', 'i1'], outputs: ['y'] },
      ],
    });
    const { after, diff } = beforeAfter(g, { x: randn([2, 3]) }, (h) => expect(removeIdentities(h)).toBe(3));
    expect(diff).toBe(0);
    expect(opCounts(after)).toEqual({ Relu: 1, Add: 1 });
    expect(after.nodes[1]!.inputs).toEqual(['r', 'r']);
    for (const gone of ['i1', 'd', 'mask', 'i2']) expect(after.values.has(gone)).toBe(false);
  });

  it('removes Casts to the dtype the input already has, keeps real conversions', () => {
    const g = load({
      inputs: [v('x', [3])],
      outputs: [v('y', [3]), v('n', [3], 'int64')],
      nodes: [
        { op: 'Cast', inputs: ['x'], outputs: ['c'], attrs: { to: 1 } },
        { op: 'Relu', inputs: ['c'], outputs: ['y'] },
        { op: 'Cast', inputs: ['y'], outputs: ['n'], attrs: { to: 7 } },
      ],
    });
    const { after, diff } = beforeAfter(g, { x: f32([3], [-1.5, 0.5, 2.5]) }, (h) => expect(removeIdentities(h)).toBe(1));
    expect(diff).toBe(0);
    expect(after.nodes.map((n) => `${n.op}:${n.inputs.join(',')}`)).toEqual(['Relu:x', 'Cast:y']);
  });

  it('an Identity writing a graph output makes its producer write that output', () => {
    const g = load({
      inputs: [v('x', [4])],
      outputs: [v('y', [4]), v('z', [4])],
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'] },
        { op: 'Identity', inputs: ['r'], outputs: ['y'] },
        { op: 'Add', inputs: ['r', 'r'], outputs: ['z'] },
      ],
    });
    const { after, diff } = beforeAfter(g, { x: randn([4]) }, (h) => expect(removeIdentities(h)).toBe(1));
    expect(diff).toBe(0);
    expect(after.nodes.map((n) => `${n.op}:${n.inputs.join(',')}->${n.outputs.join(',')}`)).toEqual(['Relu:x->y', 'Add:y,y->z']);
    expect(after.outputs).toEqual(['y', 'z']);
  });

  it('keeps Identity input→output and Dropout whose mask is used; constant Identity outputs become constants', () => {
    const g = load({
      opsets: { '': 13 },
      inputs: [v('x', [4])],
      outputs: [v('y', [4]), v('m', [4], 'bool'), v('k', [2])],
      initializers: { c: f32([2], [7, 8]) },
      nodes: [
        { op: 'Identity', inputs: ['x'], outputs: ['y'] },
        { op: 'Dropout', inputs: ['x'], outputs: ['d', 'm'] },
        { op: 'Identity', inputs: ['c'], outputs: ['k'] },
      ],
    });
    const { after, diff } = beforeAfter(g, { x: randn([4]) }, (h) => expect(removeIdentities(h)).toBe(1));
    expect(diff).toBe(0);
    expect(opCounts(after)).toEqual({ Identity: 1, Dropout: 1 });
    expect(after.values.get('k')!.const).toBe(g.values.get('c')!.const);
  });
});

describe('foldBatchNorm', () => {
  const bnParams = (c: number) => ({ gamma: positive(c), beta: randn([c]), mean: randn([c], 0.5), var: positive(c) });
  const bnNode = (x: string, y: string): BuildNode => ({
    op: 'BatchNormalization',
    inputs: [x, 'gamma', 'beta', 'mean', 'var'],
    outputs: [y],
    attrs: { epsilon: 1e-3 },
  });

  for (const [label, withBias, group] of [
    ['with bias', true, 1],
    ['without bias', false, 1],
    ['grouped', true, 2],
  ] as const) {
    it(`folds into the preceding Conv (${label})`, () => {
      const cin = 4,
        cout = 6;
      const g = load({
        inputs: [v('x', ['N', cin, 5, 5])],
        outputs: [v('y', ['N', cout, 5, 5])],
        initializers: { w: randn([cout, cin / group, 3, 3]), ...(withBias ? { b: randn([cout]) } : {}), ...bnParams(cout) },
        nodes: [
          { op: 'Conv', inputs: withBias ? ['x', 'w', 'b'] : ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1], group } },
          bnNode('c', 'bn'),
          { op: 'Relu', inputs: ['bn'], outputs: ['y'] },
        ],
      });
      const { after, diff } = beforeAfter(g, { x: randn([2, cin, 5, 5]) }, (h) => {
        expect(foldBatchNorm(h)).toBe(1);
        eliminateDeadNodes(h);
      });
      expect(diff).toBeLessThan(1e-5);
      expect(opCounts(after)).toEqual({ Conv: 1, Relu: 1 });
      const conv = after.nodes[0]!;
      expect(conv.outputs).toEqual(['bn']);
      expect(conv.inputs.length).toBe(3);
      expect(after.values.get(conv.inputs[1]!)!.const!.dims).toEqual([cout, cin / group, 3, 3]);
      expect(after.values.has('c')).toBe(false);
      expect(g.values.get('w')!.const!.data).not.toBe(after.values.get(conv.inputs[1]!)!.const!.data); // original weights untouched
    });
  }

  for (const transB of [0, 1]) {
    for (const withC of [true, false]) {
      it(`folds into a preceding Gemm (transB ${transB}, ${withC ? 'with' : 'without'} C)`, () => {
        const K = 5,
          N = 3;
        const g = load({
          inputs: [v('x', ['M', K])],
          outputs: [v('y', ['M', N])],
          initializers: { w: randn(transB ? [N, K] : [K, N]), ...(withC ? { cc: randn([N]) } : {}), ...bnParams(N) },
          nodes: [
            { op: 'Gemm', inputs: withC ? ['x', 'w', 'cc'] : ['x', 'w'], outputs: ['m'], attrs: { transB, alpha: 0.5, beta: 2 } },
            bnNode('m', 'y'),
          ],
        });
        const { after, diff } = beforeAfter(g, { x: randn([4, K]) }, (h) => {
          expect(foldBatchNorm(h)).toBe(1);
          eliminateDeadNodes(h);
        });
        expect(diff).toBeLessThan(1e-5);
        expect(opCounts(after)).toEqual({ Gemm: 1 });
        expect(after.nodes[0]!.outputs).toEqual(['y']);
        expect(after.nodes[0]!.attrs['beta']).toBe(1);
      });
    }
  }

  it('does not fold when the Conv output has another reader, or the BN parameters are not constant', () => {
    const shared = load({
      inputs: [v('x', [1, 2, 3, 3])],
      outputs: [v('y', [1, 2, 3, 3]), v('z', [1, 2, 3, 3])],
      initializers: { w: randn([2, 2, 1, 1]), ...bnParams(2) },
      nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['c'] }, bnNode('c', 'y'), { op: 'Relu', inputs: ['c'], outputs: ['z'] }],
    });
    expect(foldBatchNorm(shared)).toBe(0);
    const convOut = load({
      inputs: [v('x', [1, 2, 3, 3])],
      outputs: [v('y', [1, 2, 3, 3]), v('c', [1, 2, 3, 3])],
      initializers: { w: randn([2, 2, 1, 1]), ...bnParams(2) },
      nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['c'] }, bnNode('c', 'y')],
    });
    expect(foldBatchNorm(convOut)).toBe(0);
    const p = bnParams(2);
    const dynamic = load({
      inputs: [v('x', [1, 2, 3, 3]), v('gamma', [2])],
      outputs: [v('y', [1, 2, 3, 3])],
      initializers: { w: randn([2, 2, 1, 1]), beta: p.beta, mean: p.mean, var: p.var },
      nodes: [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['c'] }, bnNode('c', 'y')],
    });
    expect(foldBatchNorm(dynamic)).toBe(0);
    const afterRelu = load({
      inputs: [v('x', [1, 2, 3, 3])],
      outputs: [v('y', [1, 2, 3, 3])],
      initializers: bnParams(2),
      nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['r'] }, bnNode('r', 'y')],
    });
    expect(foldBatchNorm(afterRelu)).toBe(0);
  });

  it('weights shared by two Convs: each fold makes its own constants', () => {
    const g = load({
      inputs: [v('x', [1, 2, 4, 4])],
      outputs: [v('y', [1, 2, 4, 4]), v('z', [1, 2, 4, 4])],
      initializers: { w: randn([2, 2, 3, 3]), ...bnParams(2) },
      nodes: [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c1'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c2'], attrs: { pads: [1, 1, 1, 1] } },
        bnNode('c1', 'y'),
        { op: 'Relu', inputs: ['c2'], outputs: ['z'] },
      ],
    });
    const { after, diff } = beforeAfter(g, { x: randn([1, 2, 4, 4]) }, (h) => expect(foldBatchNorm(h)).toBe(1));
    expect(diff).toBeLessThan(1e-5);
    expect(after.nodes.filter((n) => n.op === 'Conv').map((n) => n.inputs[1])).toEqual(['w_bnfold', 'w']);
  });
});

describe('optimize and Session', () => {
  const bytes = buildModel({
    opsets: { '': 13 },
    inputs: [v('x', ['N', 3, 6, 6])],
    outputs: [v('y', ['N', 4 * 6 * 6])],
    initializers: {
      w: randn([4, 3, 3, 3]),
      gamma: positive(4),
      beta: randn([4]),
      mean: randn([4]),
      var: positive(4),
      two: f32([], [2]),
      half: f32([], [0.5]),
    },
    nodes: [
      { op: 'Identity', inputs: ['x'], outputs: ['xi'] },
      { op: 'Conv', inputs: ['xi', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'BatchNormalization', inputs: ['c', 'gamma', 'beta', 'mean', 'var'], outputs: ['bn'] },
      { op: 'Mul', inputs: ['two', 'half'], outputs: ['one'] },
      { op: 'Mul', inputs: ['bn', 'one'], outputs: ['s'] },
      { op: 'Relu', inputs: ['s'], outputs: ['r'] },
      { op: 'Dropout', inputs: ['r'], outputs: ['d'] },
      { op: 'Shape', inputs: ['d'], outputs: ['sh'] }, // folds once x is static (its output is unused)
      { op: 'Relu', inputs: ['d'], outputs: ['unused'] }, // dead
      { op: 'Flatten', inputs: ['d'], outputs: ['y'] },
    ],
  });
  const model = (): Uint8Array => bytes;

  it('optimize runs the passes and reports what they did', () => {
    const g = importOnnx(model());
    const x = randn([1, 3, 6, 6]);
    const { after, diff } = beforeAfter(g, { x }, (h) => {
      const r = optimize(h, { inputShapes: { x: [1, 3, 6, 6] } });
      expect(r).toMatchObject({
        nodesBefore: 10,
        identitiesRemoved: 2,
        constantsFolded: 2,
        batchNormsFolded: 1,
        deadNodesRemoved: 1,
        nodesAfter: 4,
      });
      expect(r.opsAfter).toEqual({ Conv: 1, Mul: 1, Relu: 1, Flatten: 1 });
    });
    expect(diff).toBeLessThan(1e-5);
    expect(after.values.get('y')!.info).toEqual({ dtype: 'float32', dims: [1, 144] });
  });

  it('Session: names, infos, run, engine option, invalid feeds', async () => {
    const s = await Session.fromOnnx(model());
    expect(s.engine).toBe('sparrow-f32'); // the documented default for a model without activation ranges
    expect(s.inputNames).toEqual(['x']);
    expect(s.outputNames).toEqual(['y']);
    expect(s.inputInfo).toEqual({ x: { dtype: 'float32', dims: [-1, 3, 6, 6] } });
    expect(s.outputInfo).toEqual({ y: { dtype: 'float32', dims: [-1, 144] } });
    const x = randn([2, 3, 6, 6]);
    const out = await s.run({ x });
    const plain = runReference(importOnnx(model()), { x });
    expect(maxAbsDiff(out['y']!, plain['y']!)).toBeLessThan(1e-5);
    expect(s.report!.batchNormsFolded).toBe(1);

    const fixed = await Session.fromOnnx(model(), { inputShapes: { x: [2, 3, 6, 6] } });
    expect(fixed.inputInfo['x']!.dims).toEqual([2, 3, 6, 6]);
    expect(opCounts(fixed.graph)['Shape']).toBeUndefined();
    await expect(fixed.run({ x: randn([1, 3, 6, 6]) })).rejects.toMatchObject({ code: 'invalid_argument' });
    const raw = await Session.fromOnnx(model(), { optimize: false });
    expect(raw.graph.nodes.length).toBe(10);
    await expect(Session.fromOnnx(model(), { engine: 'wasm' as 'reference' })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(s.run({ y: x })).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});
