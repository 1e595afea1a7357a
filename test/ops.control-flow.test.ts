// If, Loop and Scan (src/ops/ref/control_flow.ts) on hand-built models (src/onnx/build.ts with
// GRAPH attributes) against onnxruntime-node, through the reference engine and sparrow-f32, on
// random inputs: If reading outer values with branches of different shapes; Loop with M and cond
// in every combination (opsets 11, 13, 16), loop-carried values that grow, scan outputs, zero
// iterations, a Range-like loop (the ONNX test_range_*_expanded body, which needs opset 27);
// Scan-9+ with several states, non-zero and negative axes, reverse directions (a fast-check sweep); Scan-8 with
// sequence_lens; a Loop whose body holds an If reading a value two scopes up.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, f32, i64, type BuildGraph, type BuildModel } from '../src/onnx/build.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Session, type EngineName } from '../src/runtime/session.js';
import type { Tensor } from '../src/ops/types.js';
import { mulberry32 } from '../src/util/rng.js';

const bool = (v: boolean): Tensor => ({ dtype: 'bool', dims: [], data: Uint8Array.of(v ? 1 : 0) });
const scalarI64 = (v: number): Tensor => ({ dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(v)) });
const rand = (dims: number[], seed: number): Tensor => {
  const r = mulberry32(seed);
  return f32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => Math.round((r() * 4 - 2) * 64) / 64),
  );
};

function sameTensor(got: Tensor, want: Tensor, what: string): void {
  expect(got.dtype, what).toBe(want.dtype);
  expect(got.dims, what).toEqual(want.dims);
  const a = Array.from(got.data as ArrayLike<number | bigint>, Number);
  const b = Array.from(want.data as ArrayLike<number | bigint>, Number);
  for (let i = 0; i < b.length; i++) {
    if (!(Math.abs(a[i]! - b[i]!) <= 1e-5 + 1e-5 * Math.abs(b[i]!))) throw new Error(`${what}: element ${i}: ${a[i]} vs ${b[i]}`);
  }
}

/** Runs the model through onnxruntime-node, the reference engine and sparrow-f32 on each feed set; all must agree. */
async function agree(
  model: BuildModel,
  feedSets: Array<Record<string, Tensor>>,
  engines: EngineName[] = ['reference', 'sparrow-f32'],
): Promise<void> {
  const bytes = buildModel(model);
  const ort = await createOrtEngine('ort-node', bytes);
  const sessions = await Promise.all(engines.map((engine) => Session.fromOnnx(bytes, { engine })));
  for (const feeds of feedSets) {
    const want = await ort.run(feeds);
    for (const [k, s] of sessions.entries()) {
      const got = await s.run(feeds);
      for (const name of Object.keys(want)) sameTensor(got[name]!, want[name]!, `${engines[k]} ${name}`);
    }
  }
  await ort.dispose();
}

const v = (name: string, dtype: Tensor['dtype'], dims: Array<number | string> | null) => ({ name, dtype, dims });

describe('If against onnxruntime-node', () => {
  it('branches read outer values and give different shapes', async () => {
    const thenBranch: BuildGraph = {
      nodes: [
        { op: 'Mul', inputs: ['x', 'y'], outputs: ['t0'] },
        { op: 'Relu', inputs: ['t0'], outputs: ['then_out'] },
      ],
      inputs: [],
      outputs: [v('then_out', 'float32', null)],
    };
    const elseBranch: BuildGraph = {
      nodes: [{ op: 'ReduceMean', inputs: ['x'], outputs: ['else_out'], attrs: { axes: [0], keepdims: 0 } }],
      inputs: [],
      outputs: [v('else_out', 'float32', null)],
    };
    const model: BuildModel = {
      opsets: { '': 13 },
      inputs: [v('c', 'bool', []), v('x', 'float32', [2, 3]), v('y', 'float32', [2, 3])],
      outputs: [v('z', 'float32', null)],
      nodes: [
        { op: 'If', inputs: ['c'], outputs: ['z'], attrs: { then_branch: { graph: thenBranch }, else_branch: { graph: elseBranch } } },
      ],
    };
    await agree(
      model,
      [true, false].map((c, k) => ({ c: bool(c), x: rand([2, 3], k + 1), y: rand([2, 3], k + 9) })),
    );
  });

  it('an If with a constant condition folds to the branch it takes', async () => {
    const branch = (op: string, out: string): BuildGraph => ({
      nodes: [{ op, inputs: ['x'], outputs: [out] }],
      inputs: [],
      outputs: [v(out, 'float32', [3])],
    });
    const model: BuildModel = {
      opsets: { '': 13 },
      inputs: [v('x', 'float32', [3])],
      outputs: [v('z', 'float32', [3])],
      initializers: { c: { dtype: 'bool', dims: [], data: Uint8Array.of(0) } },
      nodes: [
        {
          op: 'If',
          inputs: ['c'],
          outputs: ['z'],
          attrs: { then_branch: { graph: branch('Relu', 'a') }, else_branch: { graph: branch('Sigmoid', 'b') } },
        },
      ],
    };
    await agree(model, [{ x: rand([3], 5) }]);
    const s = await Session.fromOnnx(buildModel(model));
    expect(s.report!.opsAfter).toEqual({ Sigmoid: 1 });
  });
});

/** A Loop body: y' = y + x[iter] (x an outer value), cond' = (iter + 1 ≠ limit) (limit outer), scan = y'·2. */
function loopModel(opset: number, withM: boolean, withCond: boolean): BuildModel {
  const body: BuildGraph = {
    nodes: [
      { op: 'Gather', inputs: ['x', 'i'], outputs: ['xi'], attrs: { axis: 0 } },
      { op: 'Add', inputs: ['y_in', 'xi'], outputs: ['y_out'] },
      { op: 'Add', inputs: ['i', 'one'], outputs: ['next'] },
      { op: 'Equal', inputs: ['next', 'limit'], outputs: ['done'] },
      { op: 'Equal', inputs: ['done', 'no'], outputs: ['cond_out'] },
      { op: 'Mul', inputs: ['y_out', 'two'], outputs: ['scan'] },
    ],
    inputs: [v('i', 'int64', []), v('cond_in', 'bool', []), v('y_in', 'float32', [3])],
    outputs: [v('cond_out', 'bool', []), v('y_out', 'float32', [3]), v('scan', 'float32', [3])],
    initializers: { one: i64([], [1]), two: f32([], [2]), no: { dtype: 'bool', dims: [], data: Uint8Array.of(0) } },
  };
  return {
    opsets: { '': opset },
    inputs: [v('M', 'int64', []), v('c', 'bool', []), v('y0', 'float32', [3]), v('x', 'float32', [8, 3]), v('limit', 'int64', [])],
    outputs: [v('y', 'float32', [3]), v('ys', 'float32', null)],
    nodes: [{ op: 'Loop', inputs: [withM ? 'M' : '', withCond ? 'c' : '', 'y0'], outputs: ['y', 'ys'], attrs: { body: { graph: body } } }],
  };
}

describe('If whose condition comes from a shape', () => {
  it('the branch a static shape rules out may not fit it (inputShapes fold the condition): onnxruntime agrees', async () => {
    // cond = (x.shape[0] == 3); then: Reshape(x, [1, 3]) fits only 3 elements; else: Relu(x)
    const model: BuildModel = {
      opsets: { '': 13 },
      inputs: [v('x', 'float32', ['n'])],
      outputs: [v('z', 'float32', null)],
      initializers: { zero: i64([], [0]), three: i64([], [3]), to13: i64([2], [1, 3]) },
      nodes: [
        { op: 'Shape', inputs: ['x'], outputs: ['s'] },
        { op: 'Gather', inputs: ['s', 'zero'], outputs: ['n0'], attrs: { axis: 0 } },
        { op: 'Equal', inputs: ['n0', 'three'], outputs: ['c'] },
        {
          op: 'If',
          inputs: ['c'],
          outputs: ['z'],
          attrs: {
            then_branch: { graph: { nodes: [{ op: 'Reshape', inputs: ['x', 'to13'], outputs: ['r'] }], inputs: [], outputs: ['r'] } },
            else_branch: { graph: { nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['e'] }], inputs: [], outputs: ['e'] } },
          },
        },
      ],
    };
    const bytes = buildModel(model);
    const ort = await createOrtEngine('ort-node', bytes);
    for (const n of [3, 4]) {
      const feeds = { x: rand([n], n) };
      const want = await ort.run(feeds);
      for (const engine of ['reference', 'sparrow-f32'] as const) {
        for (const inputShapes of [undefined, { x: [n] }]) {
          const s = await Session.fromOnnx(bytes, { engine, ...(inputShapes ? { inputShapes } : {}) });
          sameTensor((await s.run(feeds)).z!, want.z!, `${engine} n=${n}${inputShapes ? ' (static)' : ''}`);
          if (inputShapes) expect(s.report!.opsAfter[n === 3 ? 'Reshape' : 'Relu']).toBe(1); // the If folded away
        }
      }
    }
    await ort.dispose();
  });
});

describe('Loop against onnxruntime-node', () => {
  for (const opset of [11, 13, 16]) {
    for (const [withM, withCond] of [
      [true, true],
      [true, false],
      [false, true],
      [false, false],
    ] as const) {
      it(`opset ${opset}, M ${withM ? 'given' : 'omitted'}, cond ${withCond ? 'given' : 'omitted'}`, async () => {
        const model = loopModel(opset, withM, withCond);
        // ORT needs every graph input fed, used or not
        const sets = [
          [3, true, 5],
          [0, true, 5], // zero iterations when M is given
          [6, false, 4], // no iteration when cond is given
          [8, true, 2],
          [5, true, 1],
        ].map(([M, c, limit], k) => ({
          M: scalarI64(M as number),
          c: bool(c as boolean),
          y0: rand([3], k + 1),
          x: rand([8, 3], k + 20),
          limit: scalarI64(limit as number),
        }));
        await agree(model, sets);
      });
    }
  }

  it('a loop-carried value that grows (Concat) and a Range-like loop (ONNX test_range_*_expanded body)', async () => {
    const grow: BuildGraph = {
      nodes: [
        { op: 'Identity', inputs: ['c_in'], outputs: ['c_out'] },
        { op: 'Unsqueeze', inputs: ['acc_in', 'axes'], outputs: ['u'] },
        { op: 'Concat', inputs: ['acc_in', 'step'], outputs: ['acc_out'], attrs: { axis: 0 } },
        { op: 'Cast', inputs: ['i'], outputs: ['fi'], attrs: { to: 1 } },
        { op: 'Add', inputs: ['start_in', 'delta'], outputs: ['start_out'] },
        { op: 'Identity', inputs: ['start_in'], outputs: ['range'] },
        { op: 'Mul', inputs: ['fi', 'delta'], outputs: ['fd'] },
      ],
      // onnxruntime wants typed body inputs (the Range test's untyped ones are fine for Sparrow: see test/ir.subgraph.test.ts)
      inputs: [v('i', 'int64', []), v('c_in', 'bool', []), v('acc_in', 'float32', null), v('start_in', 'float32', [])],
      outputs: ['c_out', 'acc_out', 'start_out', 'range', 'fd'],
      initializers: { axes: i64([1], [0]), step: f32([2], [1.5, -0.5]) },
    };
    const model: BuildModel = {
      opsets: { '': 13 },
      inputs: [v('n', 'int64', []), v('start', 'float32', []), v('delta', 'float32', [])],
      outputs: [v('acc', 'float32', null), v('last', 'float32', null), v('out', 'float32', null), v('fds', 'float32', null)],
      initializers: { t: { dtype: 'bool', dims: [], data: Uint8Array.of(1) }, acc0: f32([1], [0.25]) },
      nodes: [
        { op: 'Loop', inputs: ['n', 't', 'acc0', 'start'], outputs: ['acc', 'last', 'out', 'fds'], attrs: { body: { graph: grow } } },
      ],
    };
    await agree(
      model,
      [0, 1, 4, 7].map((n, k) => ({ n: scalarI64(n), start: f32([], [k - 1.5]), delta: f32([], [0.75 - k]) })),
    );
  });

  it('a Loop body holding an If that reads a value two scopes up', async () => {
    const inner = (op: string, out: string): BuildGraph => ({
      nodes: [{ op, inputs: ['acc_in', 'w'], outputs: [out] }],
      inputs: [],
      outputs: [out],
    });
    const body: BuildGraph = {
      nodes: [
        { op: 'Equal', inputs: ['i', 'two'], outputs: ['even'] },
        {
          op: 'If',
          inputs: ['even'],
          outputs: ['acc_out'],
          attrs: { then_branch: { graph: inner('Add', 'ta') }, else_branch: { graph: inner('Mul', 'eb') } },
        },
        { op: 'Identity', inputs: ['c_in'], outputs: ['c_out'] },
      ],
      inputs: [v('i', 'int64', []), v('c_in', 'bool', []), v('acc_in', 'float32', [2])],
      outputs: ['c_out', 'acc_out', 'acc_out'],
      initializers: { two: i64([], [2]) },
    };
    const model: BuildModel = {
      opsets: { '': 13 },
      inputs: [v('n', 'int64', []), v('a', 'float32', [2]), v('w', 'float32', [2])],
      outputs: [v('acc', 'float32', [2]), v('accs', 'float32', null)],
      nodes: [{ op: 'Loop', inputs: ['n', '', 'a'], outputs: ['acc', 'accs'], attrs: { body: { graph: body } } }],
    };
    await agree(
      model,
      [0, 1, 5].map((n, k) => ({ n: scalarI64(n), a: rand([2], k), w: rand([2], k + 7) })),
    );
  });
});

describe('Scan against onnxruntime-node', () => {
  it('Scan-9+ random sweeps: states, axes (negative from opset 11), directions (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          opset: fc.constantFrom(13, 16),
          L: fc.integer({ min: 1, max: 4 }), // onnxruntime fails on an empty sequence (see test/ir.subgraph.test.ts)
          inAxis: fc.integer({ min: -2, max: 1 }),
          inDir: fc.integer({ min: 0, max: 1 }),
          in2Dir: fc.integer({ min: 0, max: 1 }),
          outAxis: fc.integer({ min: -3, max: 2 }),
          outDir: fc.integer({ min: 0, max: 1 }),
          seed: fc.integer({ min: 0, max: 1e6 }),
        }),
        async ({ opset, L, inAxis, inDir, in2Dir, outAxis, outDir, seed }) => {
          const ax = inAxis < 0 ? inAxis + 2 : inAxis;
          // x: [L, 3] or [3, L]; body: s' = s + x_t, m' = m · x_t, scan = unsqueeze(s' · z_t, 1) (z a second scan input [L])
          const xDims = ax === 0 ? [L, 3] : [3, L];
          const body: BuildGraph = {
            nodes: [
              { op: 'Add', inputs: ['s_in', 'xt'], outputs: ['s_out'] },
              { op: 'Mul', inputs: ['m_in', 'xt'], outputs: ['m_out'] },
              { op: 'Mul', inputs: ['s_out', 'zt'], outputs: ['p'] },
              { op: 'Unsqueeze', inputs: ['p', 'ax1'], outputs: ['scan'] },
            ],
            inputs: [v('s_in', 'float32', [3]), v('m_in', 'float32', [3]), v('xt', 'float32', [3]), v('zt', 'float32', [])],
            outputs: [v('s_out', 'float32', [3]), v('m_out', 'float32', [3]), v('scan', 'float32', [3, 1])],
            initializers: { ax1: i64([1], [1]) },
          };
          const model: BuildModel = {
            opsets: { '': opset },
            inputs: [v('s0', 'float32', [3]), v('m0', 'float32', [3]), v('x', 'float32', xDims), v('z', 'float32', [L])],
            outputs: [v('s', 'float32', [3]), v('m', 'float32', [3]), v('ys', 'float32', null)],
            nodes: [
              {
                op: 'Scan',
                inputs: ['s0', 'm0', 'x', 'z'],
                outputs: ['s', 'm', 'ys'],
                attrs: {
                  body: { graph: body },
                  num_scan_inputs: 2,
                  scan_input_axes: [inAxis, 0],
                  scan_input_directions: [inDir, in2Dir],
                  scan_output_axes: [outAxis],
                  scan_output_directions: [outDir],
                },
              },
            ],
          };
          await agree(model, [{ s0: rand([3], seed), m0: rand([3], seed + 1), x: rand(xDims, seed + 2), z: rand([L], seed + 3) }]);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('Scan-9 and Scan-11 at their own opsets (axes attribute forms)', async () => {
    for (const opset of [9, 11]) {
      const body: BuildGraph = {
        nodes: [
          { op: 'Add', inputs: ['s_in', 'xt'], outputs: ['s_out'] },
          { op: 'Identity', inputs: ['s_out'], outputs: ['scan'] },
        ],
        inputs: [v('s_in', 'float32', [2]), v('xt', 'float32', [2])],
        outputs: [v('s_out', 'float32', [2]), v('scan', 'float32', [2])],
      };
      const model: BuildModel = {
        opsets: { '': opset },
        inputs: [v('s0', 'float32', [2]), v('x', 'float32', [2, 4])],
        outputs: [v('s', 'float32', [2]), v('ys', 'float32', [2, 4])],
        nodes: [
          {
            op: 'Scan',
            inputs: ['s0', 'x'],
            outputs: ['s', 'ys'],
            attrs: {
              body: { graph: body },
              num_scan_inputs: 1,
              scan_input_axes: [opset >= 11 ? -1 : 1],
              scan_output_axes: [1],
              scan_output_directions: [1],
            },
          },
        ],
      };
      await agree(model, [{ s0: rand([2], opset), x: rand([2, 4], opset + 1) }]);
    }
  });

  it('Scan-8: batch-major, sequence_lens shorter than the sequence, a reverse direction', async () => {
    const body: BuildGraph = {
      nodes: [
        { op: 'Add', inputs: ['s_in', 'xt'], outputs: ['s_out'] },
        { op: 'Mul', inputs: ['s_out', 'yt'], outputs: ['scan'] },
      ],
      inputs: [v('s_in', 'float32', [2]), v('xt', 'float32', [2]), v('yt', 'float32', [2])],
      outputs: [v('s_out', 'float32', [2]), v('scan', 'float32', [2])],
    };
    const model: BuildModel = {
      opsets: { '': 8 },
      irVersion: 3,
      inputs: [v('lens', 'int64', [3]), v('s0', 'float32', [3, 2]), v('x', 'float32', [3, 4, 2]), v('y', 'float32', [3, 4, 2])],
      outputs: [v('s', 'float32', [3, 2]), v('ys', 'float32', [3, 4, 2])],
      nodes: [
        {
          op: 'Scan',
          inputs: ['lens', 's0', 'x', 'y'],
          outputs: ['s', 'ys'],
          attrs: { body: { graph: body }, num_scan_inputs: 2, directions: [0, 1] },
        },
      ],
    };
    await agree(model, [
      { lens: i64([3], [4, 2, 1]), s0: rand([3, 2], 1), x: rand([3, 4, 2], 2), y: rand([3, 4, 2], 3) },
      { lens: i64([3], [4, 4, 3]), s0: rand([3, 2], 4), x: rand([3, 4, 2], 5), y: rand([3, 4, 2], 6) },
    ]);
  });
});
