// fuseGraph's reader/writer index (src/ir/fuse.ts): built once per call and kept up to date
// across fusions, it must decide exactly as a scan of all nodes per candidate did.
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { fuseGraph, fusedActivation } from '../src/ir/fuse.js';
import { opCounts, type Graph, type Node } from '../src/ir/graph.js';
import { inferShapes } from '../src/ir/passes.js';
import { resolveOp } from '../src/ops/registry.js';
import type { Tensor } from '../src/ops/types.js';
import { lcg } from './helpers/tensors.js';

function rand(dims: number[], seed: number): Tensor {
  const r = lcg(seed);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1) };
}

/** A graph from node specs (opset 13); constants from `consts`, every other value a node output. */
function graphOf(
  nodes: Array<{ op: string; inputs: string[]; outputs: string[] }>,
  consts: Record<string, Tensor>,
  outputs: string[],
): Graph {
  const values: Graph['values'] = new Map();
  values.set('x', { name: 'x', info: { dtype: 'float32', dims: [1, 2, 3, 3] } });
  for (const [name, t] of Object.entries(consts)) values.set(name, { name, info: { dtype: t.dtype, dims: [...t.dims] }, const: t });
  const list: Node[] = nodes.map((n, k) => {
    for (const o of n.outputs) if (o && !values.has(o)) values.set(o, { name: o, info: { dtype: 'float32', dims: null } });
    const name = `n${k}`;
    return { name, op: n.op, domain: '', opset: 13, inputs: n.inputs, outputs: n.outputs, attrs: {}, def: resolveOp(n.op, '', 13, name) };
  });
  return inferShapes({ name: 'g', opsets: { '': 13 }, inputs: ['x'], outputs, nodes: list, values });
}

const W = () => rand([2, 2, 1, 1], 1);
const summary = (g: Graph) => g.nodes.map((n) => `${n.op}(${n.inputs.join(',')})->${n.outputs.join(',')}`);

describe('fuseGraph index', () => {
  it('follows a producer through successive fusions: Conv + Add + Relu, then the next Conv + Add + Clip', () => {
    const g = graphOf(
      [
        { op: 'Conv', inputs: ['x', 'W1'], outputs: ['c1'] },
        { op: 'Add', inputs: ['c1', 'b1'], outputs: ['a1'] },
        { op: 'Relu', inputs: ['a1'], outputs: ['r1'] },
        { op: 'Conv', inputs: ['r1', 'W2', 'B2'], outputs: ['c2'] },
        { op: 'Add', inputs: ['b2', 'c2'], outputs: ['a2'] },
        { op: 'Clip', inputs: ['a2', 'lo', 'hi'], outputs: ['y'] },
      ],
      { W1: W(), b1: rand([2, 1, 1], 2), W2: W(), B2: rand([2], 3), b2: rand([1, 2, 1, 1], 4), lo: rand([], 5), hi: rand([], 6) },
      ['y'],
    );
    expect(fuseGraph(g)).toEqual({ biases: 2, activations: 2 });
    expect(opCounts(g)).toEqual({ 'sparrow.FusedConv': 2 });
    expect(g.nodes[0]!.outputs).toEqual(['r1']);
    expect(g.nodes[1]!.inputs[0]).toBe('r1');
    expect(g.nodes[1]!.outputs).toEqual(['y']);
    expect(fusedActivation(g.nodes[0]!)).toEqual({ min: 0, max: Infinity });
  });

  it('keeps a producer whose output has a second reader, is a graph output, or comes with a second output', () => {
    const shared = graphOf(
      [
        { op: 'Conv', inputs: ['x', 'W1'], outputs: ['c1'] },
        { op: 'Relu', inputs: ['c1'], outputs: ['r1'] },
        { op: 'Relu', inputs: ['c1'], outputs: ['r2'] },
        { op: 'Add', inputs: ['r1', 'r2'], outputs: ['y'] },
      ],
      { W1: W() },
      ['y'],
    );
    expect(fuseGraph(shared)).toEqual({ biases: 0, activations: 0 });

    const output = graphOf(
      [
        { op: 'Conv', inputs: ['x', 'W1'], outputs: ['c1'] },
        { op: 'Relu', inputs: ['c1'], outputs: ['y'] },
      ],
      { W1: W() },
      ['y', 'c1'],
    );
    expect(fuseGraph(output)).toEqual({ biases: 0, activations: 0 });

    // an omitted second output does not count, a named one does
    for (const [second, fused] of [
      ['', 1],
      ['extra', 0],
    ] as const) {
      const g = graphOf(
        [
          { op: 'Conv', inputs: ['x', 'W1'], outputs: ['c1'] },
          { op: 'Relu', inputs: ['c1'], outputs: ['y'] },
        ],
        { W1: W() },
        ['y'],
      );
      g.nodes[0]!.outputs.push(second);
      if (second) g.values.set(second, { name: second, info: { dtype: 'float32', dims: null } });
      expect(fuseGraph(g).activations).toBe(fused);
    }
  });

  it('a node fused twice keeps its index entries right: the bias, then one activation, not a second', () => {
    const g = graphOf(
      [
        { op: 'Conv', inputs: ['x', 'W1'], outputs: ['c1'] },
        { op: 'Add', inputs: ['c1', 'b1'], outputs: ['a1'] },
        { op: 'Relu', inputs: ['a1'], outputs: ['r1'] },
        { op: 'Relu', inputs: ['r1'], outputs: ['y'] },
      ],
      { W1: W(), b1: rand([2, 1, 1], 2) },
      ['y'],
    );
    // the second Relu reads the fused node's output, which already has an activation
    expect(fuseGraph(g)).toEqual({ biases: 1, activations: 1 });
    expect(summary(g)).toEqual([`FusedConv(x,W1,${g.nodes[0]!.inputs[2]})->r1`, 'Relu(r1)->y']);
  });

  it('with a value written twice (not SSA), the first writer in node order is the producer, as a scan finds it', () => {
    const g = graphOf(
      [
        { op: 'Conv', inputs: ['x', 'W1'], outputs: ['c1'] },
        { op: 'Conv', inputs: ['x', 'W2'], outputs: ['c1'] },
        { op: 'Relu', inputs: ['c1'], outputs: ['y'] },
      ],
      { W1: W(), W2: rand([2, 2, 1, 1], 7) },
      ['y'],
    );
    expect(fuseGraph(g)).toEqual({ biases: 0, activations: 1 });
    expect(summary(g)).toEqual(['FusedConv(x,W1)->y', 'Conv(x,W2)->c1']);
  });
});
