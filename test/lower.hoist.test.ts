// hoistAddPartners (src/runtime/int8/lower.ts): the node order that lets a conv's output stage
// run the residual Add whose other input the graph computes after the conv. Oracle: the
// expected orders written out by hand, and the invariant that every result is topological.
import { describe, expect, it } from 'vitest';
import type { Node } from '../src/ir/graph.js';
import { consumers } from '../src/ir/graph.js';
import { hoistAddPartners } from '../src/runtime/int8/lower.js';

const node = (name: string, op: string, inputs: string[], outputs: string[]): Node =>
  ({ name, op, domain: '', opset: 17, inputs, outputs, attrs: {} }) as unknown as Node;

function usersOf(nodes: Node[]): Map<string, Node[]> {
  return consumers({ nodes } as never) as Map<string, Node[]>;
}

function topological(nodes: Node[], inputs: string[]): boolean {
  const have = new Set(inputs);
  for (const n of nodes) {
    if (!n.inputs.every((i) => !i || have.has(i))) return false;
    for (const o of n.outputs) have.add(o);
  }
  return true;
}

describe('hoistAddPartners', () => {
  it('a downsampling block: the shortcut (Slice, Pad) moves before the second conv, the rest keeps its order', () => {
    const nodes = [
      node('c1', 'Conv', ['x', 'w1'], ['a']),
      node('r1', 'Relu', ['a'], ['b']),
      node('c2', 'Conv', ['b', 'w2'], ['c']),
      node('s', 'Slice', ['x'], ['d']),
      node('p', 'Pad', ['d'], ['e']),
      node('add', 'Add', ['c', 'e'], ['f']),
      node('relu', 'Relu', ['f'], ['y']),
    ];
    const got = hoistAddPartners(nodes, usersOf(nodes));
    expect(got.map((n) => n.name)).toEqual(['c1', 'r1', 's', 'p', 'c2', 'add', 'relu']);
    expect(topological(got, ['x', 'w1', 'w2'])).toBe(true);
  });

  it('no change: the other input before the conv, the conv output read twice, or the other input depending on the conv', () => {
    const before = [node('s', 'Slice', ['x'], ['d']), node('c2', 'Conv', ['x', 'w'], ['c']), node('add', 'Add', ['d', 'c'], ['f'])];
    expect(hoistAddPartners(before, usersOf(before))).toEqual(before);
    const twice = [
      node('c2', 'Conv', ['x', 'w'], ['c']),
      node('s', 'Slice', ['x'], ['d']),
      node('add', 'Add', ['c', 'd'], ['f']),
      node('m', 'Mul', ['c', 'f'], ['g']),
    ];
    expect(hoistAddPartners(twice, usersOf(twice))).toEqual(twice);
    // the other input reads the conv's output through another node: the conv has two readers
    const dep = [node('c2', 'Conv', ['x', 'w'], ['c']), node('n', 'Neg', ['c'], ['d']), node('add', 'Add', ['c', 'd'], ['f'])];
    const got = hoistAddPartners(dep, usersOf(dep));
    expect(got).toEqual(dep);
    expect(topological(got, ['x', 'w'])).toBe(true);
  });

  it('only the nodes the other input needs move; an unrelated node between stays after the conv', () => {
    const nodes = [
      node('c2', 'Conv', ['x', 'w'], ['c']),
      node('u', 'Sigmoid', ['z'], ['v']),
      node('s', 'Slice', ['x'], ['d']),
      node('add', 'Add', ['d', 'c'], ['f']),
      node('m', 'Mul', ['f', 'v'], ['y']),
    ];
    const got = hoistAddPartners(nodes, usersOf(nodes));
    expect(got.map((n) => n.name)).toEqual(['s', 'c2', 'u', 'add', 'm']);
    expect(topological(got, ['x', 'w', 'z'])).toBe(true);
  });
});
