// Subgraphs in the IR (If / Loop / Scan attributes): import with lexical scoping (outer values
// become implicit node inputs, shadowing, untyped body inputs, nesting), the graph passes (a value
// read only inside a subgraph stays live; an If with a constant condition is inlined; passes run
// inside subgraphs and drop outer values no longer read; cloneGraph copies subgraphs), storage in
// a .sparrow file (round trip, corrupt subgraph metadata), the WASM engine's fallback step, and
// hostile models (unknown names, cycles through subgraphs, loops that never end). Oracles: the
// unoptimized graph in the reference engine, plain TS computations, onnxruntime-node.
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { SparrowError } from '../src/errors.js';
import { buildModel, f32, i64, type BuildGraph, type BuildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { cloneGraph, opCounts, type Graph } from '../src/ir/graph.js';
import { optimize } from '../src/ir/passes.js';
import { graphFromMeta, readGraphContainer, writeGraphContainer } from '../src/format/graph.js';
import type { SparrowMeta } from '../src/format/container.js';
import { runReference } from '../src/runtime/reference.js';
import { Session } from '../src/runtime/session.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { isGraphAttr, type Tensor } from '../src/ops/types.js';
import { loopLimits } from '../src/ops/ref/control_flow.js';

const v = (name: string, dtype: Tensor['dtype'], dims: Array<number | string> | null) => ({ name, dtype, dims });
const bool = (b: boolean): Tensor => ({ dtype: 'bool', dims: [], data: Uint8Array.of(b ? 1 : 0) });
const scalarI64 = (n: number): Tensor => ({ dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(n)) });
const values = (t: Tensor | undefined): number[] => Array.from((t?.data ?? []) as ArrayLike<number | bigint>, Number);

function expectError(fn: () => unknown, code: string, re: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a SparrowError').toBeInstanceOf(SparrowError);
  expect((err as SparrowError).code).toBe(code);
  expect((err as Error).message).toMatch(re);
}

/** Rebuilds a graph from (tampered) metadata; every constant of these models is inline, no sections. */
function readMeta(meta: SparrowMeta): void {
  graphFromMeta(meta, () => {
    throw new Error('no sections');
  });
}

const sub = (g: Graph, attr: string, node = 0): Graph => {
  const a = g.nodes[node]!.attrs[attr];
  if (!isGraphAttr(a)) throw new Error(`no graph attribute ${attr}`);
  return a;
};

/** Loop(n) over acc: if (i == 2) acc + w else acc · w — w read two scopes up; scan output acc. */
function nestedModel(): BuildModel {
  const branch = (op: string, out: string): BuildGraph => ({
    nodes: [{ op, inputs: ['acc_in', 'w'], outputs: [out] }],
    inputs: [],
    outputs: [out],
  });
  const body: BuildGraph = {
    nodes: [
      { op: 'Equal', inputs: ['i', 'two'], outputs: ['is2'] },
      {
        op: 'If',
        inputs: ['is2'],
        outputs: ['acc_out'],
        attrs: { then_branch: { graph: branch('Add', 'ta') }, else_branch: { graph: branch('Mul', 'eb') } },
      },
      { op: 'Identity', inputs: ['c_in'], outputs: ['c_out'] },
    ],
    inputs: ['i', 'c_in', 'acc_in'],
    outputs: ['c_out', 'acc_out', 'acc_out'],
    initializers: { two: i64([], [2]) },
  };
  return {
    opsets: { '': 13 },
    inputs: [v('n', 'int64', []), v('a', 'float32', [2]), v('w', 'float32', [2])],
    outputs: [v('acc', 'float32', [2]), v('accs', 'float32', null)],
    nodes: [{ op: 'Loop', inputs: ['n', '', 'a'], outputs: ['acc', 'accs'], attrs: { body: { graph: body } } }],
  };
}

/** The nested model computed in plain TS. */
function nestedPlain(n: number, a: number[], w: number[]): { acc: number[]; accs: number[][] } {
  let acc = a.map(Math.fround);
  const accs: number[][] = [];
  for (let i = 0; i < n; i++) {
    acc = acc.map((x, k) => Math.fround(i === 2 ? x + w[k]! : x * w[k]!));
    accs.push(acc);
  }
  return { acc, accs };
}

describe('import: lexical scoping of subgraphs', () => {
  it('outer values become implicit inputs, through two levels of nesting', () => {
    const g = importOnnx(buildModel(nestedModel()));
    const loop = g.nodes[0]!;
    const body = sub(g, 'body');
    expect(loop.inputs).toEqual(['n', '', 'a', 'w']); // 'w' is read by the If's branches inside the body
    expect(body.outer).toEqual(['w']);
    const iff = body.nodes.find((n) => n.op === 'If')!;
    // else_branch's outer values, then then_branch's (attribute-name order)
    expect(iff.inputs).toEqual(['is2', 'acc_in', 'w', 'acc_in', 'w']);
    for (const [n, a, w] of [
      [0, [1, 2], [3, 4]],
      [4, [0.5, -1], [2, 0.25]],
    ] as const) {
      const out = runReference(g, { n: scalarI64(n), a: f32([2], a), w: f32([2], w) });
      const want = nestedPlain(n, [...a], [...w]);
      expect(values(out.acc)).toEqual(want.acc);
      expect(out.accs!.dims).toEqual([n, 2]);
      expect(values(out.accs)).toEqual(want.accs.flat());
    }
  });

  it('a subgraph value shadows an outer value of the same name; untyped body inputs take the node’s types', () => {
    // body: x (local) = acc_in · 2; acc_out = x + y (y outer). The outer graph has its own 'x'.
    const body: BuildGraph = {
      nodes: [
        { op: 'Mul', inputs: ['acc_in', 'k2'], outputs: ['x'] },
        { op: 'Add', inputs: ['x', 'y'], outputs: ['acc_out'] },
        { op: 'Identity', inputs: ['c_in'], outputs: ['c_out'] },
      ],
      inputs: ['i', 'c_in', 'acc_in'], // no types, as in ONNX's test_range_*_expanded
      outputs: ['c_out', 'acc_out'],
      initializers: { k2: f32([], [2]) },
    };
    const g = importOnnx(
      buildModel({
        opsets: { '': 13 },
        inputs: [v('x', 'float32', [2]), v('y', 'float32', [2])],
        outputs: [v('z', 'float32', [2])],
        initializers: { n: i64([], [3]) },
        nodes: [{ op: 'Loop', inputs: ['n', '', 'x'], outputs: ['z'], attrs: { body: { graph: body } } }],
      }),
    );
    expect(sub(g, 'body').outer).toEqual(['y']);
    expect(g.values.get('z')!.info).toEqual({ dtype: 'float32', dims: [2] });
    const out = runReference(g, { x: f32([2], [1, -1]), y: f32([2], [0.5, 0.25]) });
    let x = [1, -1];
    for (let i = 0; i < 3; i++) x = x.map((e, k) => e * 2 + [0.5, 0.25][k]!);
    expect(values(out.z)).toEqual(x);
  });

  it('a subgraph reading a name no scope defines is invalid_model', () => {
    const m = nestedModel();
    const body = (m.nodes[0]!.attrs!.body as { graph: BuildGraph }).graph;
    body.nodes[0] = { op: 'Equal', inputs: ['i', 'nowhere'], outputs: ['is2'] };
    expectError(
      () => importOnnx(buildModel(m)),
      'invalid_model',
      /subgraph of node 'Loop_0' \(Loop\) reads 'nowhere', which neither the subgraph nor any enclosing graph defines/,
    );
  });

  it('unsupported ops inside subgraphs are named in the one unsupported_op error with the others', () => {
    const m = nestedModel();
    const body = (m.nodes[0]!.attrs!.body as { graph: BuildGraph }).graph;
    body.nodes.push({ op: 'Weird', inputs: ['acc_in'], outputs: ['unused'], name: 'w_in_body' });
    m.nodes.unshift({ op: 'Fancy', inputs: ['a'], outputs: ['a2'], name: 'f_top' });
    expectError(
      () => importOnnx(buildModel(m)),
      'unsupported_op',
      /^2 unsupported ops: Fancy at opset 13 \(1 node, first "f_top"\); Weird at opset 13 \(1 node, first "w_in_body"\)$/,
    );
  });

  it('cycles through subgraphs are invalid_model', () => {
    // the branch reads the If's own output
    const own: BuildModel = {
      opsets: { '': 13 },
      inputs: [v('c', 'bool', []), v('x', 'float32', [2])],
      outputs: [v('z', 'float32', [2])],
      nodes: [
        {
          op: 'If',
          inputs: ['c'],
          outputs: ['z'],
          attrs: {
            then_branch: { graph: { nodes: [{ op: 'Relu', inputs: ['z'], outputs: ['t'] }], inputs: [], outputs: ['t'] } },
            else_branch: { graph: { nodes: [], inputs: [], outputs: ['x'] } },
          },
        },
      ],
    };
    expectError(() => importOnnx(buildModel(own)), 'invalid_model', /cycle/);
    // two nodes, each reading the other's output, one of them only inside its branch
    const two: BuildModel = {
      ...own,
      nodes: [
        { op: 'Relu', inputs: ['z'], outputs: ['r'] },
        {
          op: 'If',
          inputs: ['c'],
          outputs: ['z'],
          attrs: {
            then_branch: { graph: { nodes: [{ op: 'Sigmoid', inputs: ['r'], outputs: ['t'] }], inputs: [], outputs: ['t'] } },
            else_branch: { graph: { nodes: [], inputs: [], outputs: ['x'] } },
          },
        },
      ],
    };
    expectError(() => importOnnx(buildModel(two)), 'invalid_model', /cycle/);
  });

  it('a value defined twice inside a subgraph, and sequence-typed values, are refused', () => {
    const m = nestedModel();
    const body = (m.nodes[0]!.attrs!.body as { graph: BuildGraph }).graph;
    body.nodes.push({ op: 'Identity', inputs: ['c_in'], outputs: ['is2'] });
    expectError(
      () => importOnnx(buildModel(m)),
      'invalid_model',
      /'is2'.*in subgraph node 'Loop_0' \(Loop\) attribute 'body' is defined twice/,
    );
  });
});

describe('graph passes with subgraphs', () => {
  it('a value read only inside a subgraph stays live through optimize', () => {
    const m: BuildModel = {
      opsets: { '': 13 },
      inputs: [v('c', 'bool', []), v('x', 'float32', [3])],
      outputs: [v('z', 'float32', [3])],
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'] }, // read only by then_branch
        {
          op: 'If',
          inputs: ['c'],
          outputs: ['z'],
          attrs: {
            then_branch: { graph: { nodes: [{ op: 'Sigmoid', inputs: ['r'], outputs: ['t'] }], inputs: [], outputs: ['t'] } },
            else_branch: { graph: { nodes: [{ op: 'Tanh', inputs: ['x'], outputs: ['e'] }], inputs: [], outputs: ['e'] } },
          },
        },
      ],
    };
    const g = importOnnx(buildModel(m));
    const before = runReference(g, { c: bool(true), x: f32([3], [-1, 0.5, 2]) });
    const o = cloneGraph(g);
    const report = optimize(o);
    expect(report.deadNodesRemoved).toBe(0);
    expect(opCounts(o)).toEqual({ Relu: 1, If: 1 });
    for (const c of [true, false]) {
      const feeds = { c: bool(c), x: f32([3], [-1, 0.5, 2]) };
      expect(runReference(o, feeds).z).toEqual(runReference(g, feeds).z);
    }
    expect(values(before.z)).toEqual([-1, 0.5, 2].map((x) => Math.fround(1 / (1 + Math.exp(-Math.max(x, 0))))));
  });

  it('an If with a constant condition is inlined (outputs from a branch node, an outer value, a constant), inside a Loop body too', () => {
    const m: BuildModel = {
      opsets: { '': 13 },
      inputs: [v('x', 'float32', [2])],
      outputs: [v('z', 'float32', [2]), v('same', 'float32', [2]), v('k', 'float32', [2]), v('ys', 'float32', null)],
      initializers: { yes: { dtype: 'bool', dims: [], data: Uint8Array.of(1) }, n: i64([], [2]) },
      nodes: [
        {
          op: 'If',
          inputs: ['yes'],
          outputs: ['z', 'same', 'k'],
          attrs: {
            then_branch: {
              graph: {
                nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['t'] }],
                inputs: [],
                outputs: ['t', 'x', 'kc'],
                initializers: { kc: f32([2], [7, 8]) },
              },
            },
            else_branch: { graph: { nodes: [], inputs: [], outputs: ['x', 'x', 'x'] } },
          },
        },
        {
          op: 'Loop',
          inputs: ['n', '', 'x'],
          outputs: ['y', 'ys'],
          attrs: {
            body: {
              graph: {
                nodes: [
                  { op: 'Identity', inputs: ['c_in'], outputs: ['c_out'] },
                  {
                    op: 'If',
                    inputs: ['inner_no'],
                    outputs: ['y_out'],
                    attrs: {
                      then_branch: { graph: { nodes: [{ op: 'Relu', inputs: ['y_in'], outputs: ['a'] }], inputs: [], outputs: ['a'] } },
                      else_branch: { graph: { nodes: [{ op: 'Sigmoid', inputs: ['y_in'], outputs: ['b'] }], inputs: [], outputs: ['b'] } },
                    },
                  },
                ],
                inputs: ['i', 'c_in', 'y_in'],
                outputs: ['c_out', 'y_out', 'y_out'],
                initializers: { inner_no: { dtype: 'bool', dims: [], data: Uint8Array.of(0) } },
              },
            },
          },
        },
      ],
    };
    const g = importOnnx(buildModel(m));
    const o = cloneGraph(g);
    optimize(o);
    expect(opCounts(o)).toEqual({ Relu: 1, Identity: 1, Loop: 1 }); // 'same' = x needs an Identity (graph input to graph output)
    expect(o.values.get('k')!.const).toBeDefined();
    const body = o.nodes.find((n) => n.op === 'Loop')!.attrs['body'];
    expect(isGraphAttr(body) && opCounts(body)).toEqual({ Identity: 1, Sigmoid: 1 });
    expect(opCounts(g)).toEqual({ If: 1, Loop: 1 }); // the original is untouched (cloneGraph copies subgraphs)
    const feeds = { x: f32([2], [-2, 3]) };
    const want = runReference(g, feeds);
    const got = runReference(o, feeds);
    for (const name of ['z', 'same', 'k', 'ys']) expect(got[name], name).toEqual(want[name]);
    expect(values(got.z)).toEqual([0, 3]);
    expect(values(got.k)).toEqual([7, 8]);
  });

  it('passes inside a subgraph drop the outer values it no longer reads (and the implicit inputs)', () => {
    const m: BuildModel = {
      opsets: { '': 13 },
      inputs: [v('c', 'bool', []), v('x', 'float32', [2]), v('y', 'float32', [2])],
      outputs: [v('z', 'float32', [2])],
      nodes: [
        {
          op: 'If',
          inputs: ['c'],
          outputs: ['z'],
          attrs: {
            then_branch: {
              graph: {
                nodes: [
                  { op: 'Relu', inputs: ['y'], outputs: ['dead'] }, // reads y, feeds nothing
                  { op: 'Identity', inputs: ['x'], outputs: ['t0'] },
                  { op: 'Sigmoid', inputs: ['t0'], outputs: ['t'] },
                ],
                inputs: [],
                outputs: ['t'],
              },
            },
            // an Identity from an outer value straight to the output: it stays (Identity removal treats outer values as inputs)
            else_branch: { graph: { nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['e'] }], inputs: [], outputs: ['e'] } },
          },
        },
      ],
    };
    const g = importOnnx(buildModel(m));
    expect(g.nodes[0]!.inputs).toEqual(['c', 'x', 'y', 'x']); // else_branch reads x; then_branch y, then x
    const o = cloneGraph(g);
    optimize(o);
    expect(o.nodes[0]!.inputs).toEqual(['c', 'x', 'x']);
    expect(sub(o, 'then_branch').outer).toEqual(['x']);
    expect(opCounts(sub(o, 'then_branch'))).toEqual({ Sigmoid: 1 });
    expect(opCounts(sub(o, 'else_branch'))).toEqual({ Identity: 1 });
    for (const c of [true, false]) {
      const feeds = { c: bool(c), x: f32([2], [-1, 1]), y: f32([2], [5, 6]) };
      expect(runReference(o, feeds).z).toEqual(runReference(g, feeds).z);
      if (!c) expect(values(runReference(o, feeds).z)).toEqual([-1, 1]);
    }
  });

  it('a Loop with constant inputs folds when its outputs have static shapes (trip count known), not when the trip count is data-dependent', () => {
    // body: s' = s + step, scan s'; the condition passed through (trip count M) or computed (i ≠ 7: unknown statically)
    const model = (computedCond: boolean): BuildModel => ({
      opsets: { '': 13 },
      inputs: [v('x', 'float32', [2])],
      outputs: [v('z', 'float32', [2]), v('zs', 'float32', [3, 2])],
      initializers: { n: i64([], [3]), s0: f32([2], [0, 10]) },
      nodes: [
        {
          op: 'Loop',
          inputs: ['n', '', 's0'],
          outputs: ['s', 'ss'],
          attrs: {
            body: {
              graph: {
                nodes: [
                  computedCond
                    ? { op: 'Equal', inputs: ['i', 'seven'], outputs: ['stop'] }
                    : { op: 'Identity', inputs: ['c_in'], outputs: ['c_out'] },
                  ...(computedCond ? [{ op: 'Equal', inputs: ['stop', 'no'], outputs: ['c_out'] }] : []),
                  { op: 'Add', inputs: ['s_in', 'step'], outputs: ['s_out'] },
                ],
                inputs: [v('i', 'int64', []), v('c_in', 'bool', []), v('s_in', 'float32', [2])],
                outputs: ['c_out', 's_out', 's_out'],
                initializers: { step: f32([2], [1, 0.5]), seven: i64([], [7]), no: { dtype: 'bool', dims: [], data: Uint8Array.of(0) } },
              },
            },
          },
        },
        { op: 'Add', inputs: ['x', 's'], outputs: ['z'] },
        { op: 'Identity', inputs: ['ss'], outputs: ['zs'] },
      ],
    });
    const feeds = { x: f32([2], [1, 1]) };
    const folded = importOnnx(buildModel(model(false)));
    expect(folded.values.get('ss')!.info.dims).toEqual([3, 2]); // M constant, condition passed through: 3 iterations
    optimize(folded);
    expect(opCounts(folded)).toEqual({ Add: 1 });
    expect(values(runReference(folded, feeds).z)).toEqual([4, 12.5]);
    expect(values(runReference(folded, feeds).zs)).toEqual([1, 10.5, 2, 11, 3, 11.5]);
    const g = importOnnx(buildModel(model(true)));
    expect(g.values.get('ss')!.info.dims).toEqual([-1, 2]); // the trip count is not known statically
    optimize(g);
    expect(opCounts(g)).toEqual({ Loop: 1, Add: 1 }); // not folded (the Identity went: the Loop writes zs)
    expect(values(runReference(g, feeds).z)).toEqual([4, 12.5]);
    expect(values(runReference(g, feeds).zs)).toEqual([1, 10.5, 2, 11, 3, 11.5]);
  });
});

describe('.sparrow files store subgraphs', () => {
  it('If / Loop / Scan, nested, round-trip and run the same', () => {
    const models: Array<[BuildModel, Record<string, Tensor>]> = [
      [nestedModel(), { n: scalarI64(5), a: f32([2], [1, -2]), w: f32([2], [0.5, 3]) }],
      [
        {
          opsets: { '': 13 },
          inputs: [v('s0', 'float32', [2]), v('x', 'float32', [3, 2])],
          outputs: [v('s', 'float32', [2]), v('ys', 'float32', [3, 2])],
          nodes: [
            {
              op: 'Scan',
              inputs: ['s0', 'x'],
              outputs: ['s', 'ys'],
              attrs: {
                num_scan_inputs: 1,
                scan_input_directions: [1],
                body: {
                  graph: {
                    nodes: [
                      { op: 'Add', inputs: ['s_in', 'xt'], outputs: ['s_out'] },
                      { op: 'Mul', inputs: ['s_out', 'half'], outputs: ['o'] },
                    ],
                    inputs: [v('s_in', 'float32', [2]), v('xt', 'float32', [2])],
                    outputs: ['s_out', 'o'],
                    initializers: { half: f32([], [0.5]) },
                  },
                },
              },
            },
          ],
        },
        { s0: f32([2], [1, 2]), x: f32([3, 2], [1, 2, 3, 4, 5, 6]) },
      ],
    ];
    for (const [m, feeds] of models) {
      const g = importOnnx(buildModel(m));
      const want = runReference(g, feeds);
      for (const nodeNames of [false, true]) {
        const back = readGraphContainer(writeGraphContainer(g, { nodeNames })).graph;
        const got = runReference(back, feeds);
        for (const name of g.outputs) expect(got[name], name).toEqual(want[name]);
      }
    }
  });

  it('corrupt subgraph metadata is corrupt_metadata', () => {
    const g = importOnnx(buildModel(nestedModel()));
    const bytes = writeGraphContainer(g);
    const { meta } = readGraphContainer(bytes);
    const json = JSON.stringify(meta.graph);
    const tamper = (
      f: (gj: { nodes: Array<{ in?: unknown[]; attrs?: Record<string, { graph: Record<string, unknown> }> }> }) => void,
      re: RegExp,
    ) => {
      const gj = JSON.parse(json);
      f(gj);
      let err: unknown;
      try {
        readMeta({ ...meta, graph: gj });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SparrowError);
      expect((err as SparrowError).code).toBe('corrupt_metadata');
      expect((err as Error).message).toMatch(re);
    };
    tamper((gj) => {
      const body = gj.nodes[0]!.attrs!.body!.graph;
      (body.nodes as Array<{ in?: string[] }>)[0]!.in = ['i', 'nowhere'];
    }, /reads 'nowhere', which is not defined before it/);
    tamper((gj) => {
      const body = gj.nodes[0]!.attrs!.body!.graph;
      body.outer = ['w', 'w'];
    }, /outer value 'w' is defined twice/);
    tamper((gj) => {
      gj.nodes[0]!.in = gj.nodes[0]!.in!.slice(0, 3); // the implicit input of 'w' dropped
    }, /shapes are inconsistent/);
    tamper((gj) => {
      let g2: Record<string, unknown> = gj.nodes[0]!.attrs!.body!.graph;
      for (let d = 0; d < 40; d++) {
        const inner = { inputs: [], nodes: [], outputs: [] };
        g2.nodes = [{ op: 'If', in: [], out: ['q'], attrs: { then_branch: { graph: inner }, else_branch: { graph: inner } } }];
        g2 = inner;
      }
    }, /nest deeper than 32/);
  });
});

describe('engines and hostile models', () => {
  it('sparrow-f32 runs an If (static shapes) as a fallback step, equal to onnxruntime-node', async () => {
    const m: BuildModel = {
      opsets: { '': 13 },
      inputs: [v('c', 'bool', []), v('x', 'float32', [2, 3])],
      outputs: [v('z', 'float32', [2, 3])],
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'] },
        {
          op: 'If',
          inputs: ['c'],
          outputs: ['z'],
          attrs: {
            then_branch: {
              graph: { nodes: [{ op: 'Sigmoid', inputs: ['r'], outputs: ['t'] }], inputs: [], outputs: [v('t', 'float32', [2, 3])] },
            },
            else_branch: {
              graph: { nodes: [{ op: 'Tanh', inputs: ['x'], outputs: ['e'] }], inputs: [], outputs: [v('e', 'float32', [2, 3])] },
            },
          },
        },
      ],
    };
    const bytes = buildModel(m);
    const s = await Session.fromOnnx(bytes, { engine: 'sparrow-f32' });
    const ort = await createOrtEngine('ort-node', bytes);
    for (const c of [true, false]) {
      const feeds = { c: bool(c), x: f32([2, 3], [-1, 0, 1, 2, -3, 0.5]) };
      const got = values((await s.run(feeds)).z),
        want = values((await ort.run(feeds)).z);
      got.forEach((x, i) => expect(Math.abs(x - want[i]!)).toBeLessThan(1e-6));
    }
    expect(s.report!.fallbackOps.map((f) => f.op)).toContain('If');
    await ort.dispose();
  });

  it('a Loop that can never end is refused at import; one that runs too long stops with too_large', async () => {
    const body = (condNode: BuildGraph['nodes'][number]): BuildGraph => ({
      nodes: [condNode, { op: 'Identity', inputs: ['y_in'], outputs: ['y_out'] }],
      inputs: [v('i', 'int64', []), v('c_in', 'bool', []), v('y_in', 'float32', [1])],
      outputs: ['c_out', 'y_out'],
      initializers: { neg: i64([], [-1]), no: { dtype: 'bool', dims: [], data: Uint8Array.of(0) } },
    });
    const model = (b: BuildGraph, cond: string): BuildModel => ({
      opsets: { '': 13 },
      inputs: [v('y0', 'float32', [1])],
      outputs: [v('y', 'float32', [1])],
      initializers: { t: { dtype: 'bool', dims: [], data: Uint8Array.of(1) } },
      nodes: [{ op: 'Loop', inputs: ['', cond, 'y0'], outputs: ['y'], attrs: { body: { graph: b } } }],
    });
    // no M, the condition passed through unchanged: refused
    for (const cond of ['', 't']) {
      expectError(
        () => importOnnx(buildModel(model(body({ op: 'Identity', inputs: ['c_in'], outputs: ['c_out'] }), cond))),
        'invalid_model',
        /Loop node "Loop_0": the loop never ends: it has no trip count M and its condition stays true/,
      );
    }
    // a computed condition that stays true (i ≠ -1): stopped after loopLimits.maxIterations
    const endless = model(body({ op: 'Equal', inputs: ['i', 'neg'], outputs: ['c_out'] }), '');
    (endless.nodes[0]!.attrs!.body as { graph: BuildGraph }).graph.nodes = [
      { op: 'Equal', inputs: ['i', 'neg'], outputs: ['stop'] },
      { op: 'Equal', inputs: ['stop', 'no'], outputs: ['c_out'] },
      { op: 'Identity', inputs: ['y_in'], outputs: ['y_out'] },
    ];
    const g = importOnnx(buildModel(endless));
    const saved = { ...loopLimits };
    loopLimits.maxIterations = 1000;
    try {
      expectError(
        () => runReference(g, { y0: f32([1], [1]) }),
        'too_large',
        /Loop node "Loop_0": still running after 1000 iterations \(M omitted\)/,
      );
      // the same loop with a scan output: stopped when the scan outputs outgrow loopLimits.maxScanElements
      const body2 = (endless.nodes[0]!.attrs!.body as { graph: BuildGraph }).graph;
      const scanning: BuildModel = {
        ...endless,
        outputs: [...endless.outputs, v('ys', 'float32', null)],
        nodes: [
          { ...endless.nodes[0]!, outputs: ['y', 'ys'], attrs: { body: { graph: { ...body2, outputs: ['c_out', 'y_out', 'y_out'] } } } },
        ],
      };
      loopLimits.maxScanElements = 100;
      expectError(
        () => runReference(importOnnx(buildModel(scanning)), { y0: f32([1], [1]) }),
        'too_large',
        /scan outputs hold more than 100 elements after 101 iterations/,
      );
    } finally {
      Object.assign(loopLimits, saved);
    }
  });

  it('subgraphs nested deeper than 32 levels are refused at import', () => {
    const leaf: BuildGraph = { nodes: [], inputs: [], outputs: ['x'] };
    const nest = (depth: number): BuildGraph =>
      depth === 0
        ? leaf
        : {
            nodes: [
              { op: 'If', inputs: ['c'], outputs: ['o'], attrs: { then_branch: { graph: nest(depth - 1) }, else_branch: { graph: leaf } } },
            ],
            inputs: [],
            outputs: ['o'],
          };
    const model = (depth: number): BuildModel => ({
      opsets: { '': 13 },
      inputs: [v('c', 'bool', []), v('x', 'float32', [1])],
      outputs: [v('y', 'float32', [1])],
      nodes: [
        { op: 'If', inputs: ['c'], outputs: ['y'], attrs: { then_branch: { graph: nest(depth - 1) }, else_branch: { graph: leaf } } },
      ],
    });
    const ok = importOnnx(buildModel(model(32)));
    expect(values(runReference(ok, { c: bool(true), x: f32([1], [5]) }).y)).toEqual([5]);
    expectError(() => importOnnx(buildModel(model(33))), 'invalid_model', /subgraphs nest deeper than 32 levels/);
  });
});
