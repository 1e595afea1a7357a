// Graph IR helpers: topological sort (stable, cycles rejected), consumers/producers,
// dead-node elimination, cloning.
import { describe, it, expect } from 'vitest';
import { SparrowError } from '../src/errors.js';
import type { OpDef, Tensor } from '../src/ops/types.js';
import {
  cloneGraph,
  consumers,
  eliminateDeadNodes,
  freshName,
  opCounts,
  producers,
  topoSort,
  type Graph,
  type Node,
  type Value,
} from '../src/ir/graph.js';

// An unregistered pass-through op: the graph helpers never look at defs.
const DEF: OpDef = {
  op: 'T',
  domain: 'test',
  sinceVersion: 1,
  untilVersion: 1,
  ref: (inputs) => [inputs[0]!],
  shape: (inputs) => [inputs[0]!],
};

const node = (name: string, inputs: string[], outputs: string[]): Node => ({
  name,
  op: 'T',
  domain: 'test',
  opset: 1,
  inputs,
  outputs,
  attrs: {},
  def: DEF,
});

function graph(nodes: Node[], opts: { inputs?: string[]; outputs: string[]; consts?: string[] }): Graph {
  const values = new Map<string, Value>();
  const inputs = opts.inputs ?? ['x'];
  for (const i of inputs) values.set(i, { name: i, info: { dtype: 'float32', dims: [1] } });
  for (const c of opts.consts ?? []) {
    const t: Tensor = { dtype: 'float32', dims: [1], data: Float32Array.of(1) };
    values.set(c, { name: c, info: { dtype: 'float32', dims: [1] }, const: t });
  }
  for (const n of nodes) for (const o of n.outputs) if (o) values.set(o, { name: o, info: { dtype: 'float32', dims: [1] } });
  return { name: 'g', opsets: { test: 1 }, inputs, outputs: opts.outputs, nodes, values };
}

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

describe('topoSort', () => {
  it('keeps an already sorted list unchanged', () => {
    const ns = [node('a', ['x'], ['a']), node('b', ['x'], ['b']), node('c', ['a', 'b'], ['c'])];
    const g = graph(ns, { outputs: ['c'] });
    topoSort(g);
    expect(g.nodes.map((n) => n.name)).toEqual(['a', 'b', 'c']);
  });

  it('moves producers before their readers, otherwise keeping the order', () => {
    const ns = [node('c', ['a', 'b'], ['c']), node('d', ['x'], ['d']), node('b', ['a'], ['b']), node('a', ['x', 'w'], ['a'])];
    const g = graph(ns, { outputs: ['c', 'd'], consts: ['w'] });
    topoSort(g);
    expect(g.nodes.map((n) => n.name)).toEqual(['a', 'b', 'c', 'd']);
    const pos = new Map(g.nodes.map((n, i) => [n.name, i]));
    for (const n of g.nodes) for (const i of n.inputs) if (pos.has(i)) expect(pos.get(i)!).toBeLessThan(pos.get(n.name)!);
  });

  it('handles a long chain without recursion limits', () => {
    const N = 20_000;
    const ns: Node[] = [];
    for (let i = N - 1; i >= 0; i--) ns.push(node(`n${i}`, [i === 0 ? 'x' : `v${i - 1}`], [`v${i}`])); // reversed
    const g = graph(ns, { outputs: [`v${N - 1}`] });
    topoSort(g);
    expect(g.nodes[0]!.name).toBe('n0');
    expect(g.nodes[N - 1]!.name).toBe(`n${N - 1}`);
  });

  it('rejects cycles with invalid_model', () => {
    const ns = [node('a', ['x', 'c'], ['a']), node('b', ['a'], ['b']), node('c', ['b'], ['c'])];
    expectCode(() => topoSort(graph(ns, { outputs: ['c'] })), 'invalid_model', /cycle/);
    expectCode(() => topoSort(graph([node('self', ['s'], ['s'])], { outputs: ['s'] })), 'invalid_model', /cycle/);
  });

  it('rejects reads of undefined values and values produced twice', () => {
    expectCode(() => topoSort(graph([node('a', ['nope'], ['a'])], { outputs: ['a'] })), 'invalid_model', /'nope'/);
    expectCode(
      () => topoSort(graph([node('a', ['x'], ['v']), node('b', ['x'], ['v'])], { outputs: ['v'] })),
      'invalid_model',
      /produced by two nodes/,
    );
    expectCode(() => topoSort(graph([node('a', ['x'], ['x'])], { outputs: ['x'] })), 'invalid_model', /already a graph input/);
  });

  it('accepts omitted optional inputs', () => {
    const g = graph([node('a', ['x', '', 'w'], ['a', ''])], { outputs: ['a'], consts: ['w'] });
    expect(topoSort(g).nodes.length).toBe(1);
  });
});

describe('consumers / producers / dead nodes', () => {
  it('maps values to readers and producers', () => {
    const ns = [node('a', ['x'], ['a']), node('b', ['a', 'a'], ['b']), node('c', ['a', 'x'], ['c'])];
    const g = graph(ns, { outputs: ['b', 'c'] });
    const cons = consumers(g);
    expect(cons.get('a')!.map((n) => n.name)).toEqual(['b', 'c']); // b listed once although it reads a twice
    expect(cons.get('x')!.map((n) => n.name)).toEqual(['a', 'c']);
    expect(cons.has('c')).toBe(false);
    const prod = producers(g);
    expect(prod.get('b')!.name).toBe('b');
    expect(prod.has('x')).toBe(false);
  });

  it('removes nodes that do not reach an output, and the values only they used', () => {
    const ns = [
      node('a', ['x'], ['a']),
      node('dead1', ['a', 'w_dead'], ['d1']),
      node('dead2', ['d1'], ['d2']),
      node('b', ['a', 'w'], ['b', 'b_extra']), // multi-output node kept whole
    ];
    const g = graph(ns, { outputs: ['b'], consts: ['w', 'w_dead'], inputs: ['x', 'unused_input'] });
    expect(eliminateDeadNodes(g)).toBe(2);
    expect(g.nodes.map((n) => n.name)).toEqual(['a', 'b']);
    expect([...g.values.keys()].sort()).toEqual(['a', 'b', 'b_extra', 'unused_input', 'w', 'x']);
    expect(eliminateDeadNodes(g)).toBe(0);
  });

  it('clones structure without sharing lists, sharing tensors', () => {
    const g = graph([node('a', ['x', 'w'], ['a'])], { outputs: ['a'], consts: ['w'] });
    const c = cloneGraph(g);
    c.nodes[0]!.inputs[1] = 'x';
    c.values.get('a')!.info.dims![0] = 7;
    c.outputs.push('x');
    expect(g.nodes[0]!.inputs).toEqual(['x', 'w']);
    expect(g.values.get('a')!.info.dims).toEqual([1]);
    expect(g.outputs).toEqual(['a']);
    expect(c.values.get('w')!.const).toBe(g.values.get('w')!.const);
  });

  it('freshName and opCounts', () => {
    const g = graph([node('a', ['x'], ['a']), node('b', ['a'], ['a_1'])], { outputs: ['a_1'] });
    expect(freshName(g, 'new')).toBe('new');
    expect(freshName(g, 'a')).toBe('a_2');
    expect(opCounts(g)).toEqual({ 'test.T': 2 });
  });
});
