// The graph IR: a small, explicit, SSA-style dataflow graph. Every value (graph input,
// constant, node output) lives in `values` under its unique name; nodes refer to values by
// name ('' = an omitted optional input). `nodes` is kept topologically sorted: passes that
// reorder or add nodes call `topoSort`. Constant tensors are shared, never mutated: a pass
// that changes a weight makes a new constant value. A node attribute may hold a subgraph (If,
// Loop, Scan): a Graph of its own scope whose `outer` values are read from enclosing scopes and
// bound to the node's implicit inputs (listed after its ONNX inputs; src/ir/subgraph.ts).
import { SparrowError } from '../errors.js';
import type { IrGraph, IrNode, IrValue, Tensor, ValueInfo } from '../ops/types.js';
import { isGraphAttr, type AttrValue } from '../ops/types.js';

/** The name of a Value in `Graph.values`. */
export type ValueRef = string;

/** A value: graph input, constant or node output (src/ops/types.ts IrValue). */
export type Value = IrValue;
/** A node (src/ops/types.ts IrNode): inputs, outputs, attributes (subgraphs included), op definition. */
export type Node = IrNode;
/**
 * A graph (src/ops/types.ts IrGraph): a model's graph, or a subgraph held by a node attribute
 * (If/Loop/Scan), which has its own inputs, outputs and values and reads the values of enclosing
 * scopes through `outer` (bound to the node's implicit inputs, see src/ir/subgraph.ts).
 */
export type Graph = IrGraph;

/** The value named `name`, or SparrowError('internal') when the graph lacks it. */
export function valueOf(graph: Graph, name: string): Value {
  const v = graph.values.get(name);
  if (!v) throw new SparrowError('internal', `graph has no value named '${name}'`);
  return v;
}

/** The constant tensor of `name`, or undefined when it is not a constant ('' → undefined). */
export function constOf(graph: Graph, name: string): Tensor | undefined {
  return name ? graph.values.get(name)?.const : undefined;
}

/** value name → the node producing it (graph inputs and constants have none). */
export function producers(graph: Graph): Map<string, Node> {
  const m = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) m.set(o, n);
  return m;
}

/** value name → the nodes reading it, in node order (a node reading a value twice is listed once). */
export function consumers(graph: Graph): Map<string, Node[]> {
  const m = new Map<string, Node[]>();
  for (const n of graph.nodes) {
    for (const i of new Set(n.inputs)) {
      if (!i) continue;
      const list = m.get(i);
      if (list) list.push(n);
      else m.set(i, [n]);
    }
  }
  return m;
}

/**
 * Sorts `graph.nodes` topologically in place, keeping the original order wherever the
 * dependencies allow (an already sorted list is unchanged). Throws SparrowError('invalid_model')
 * on a cycle, on a value produced twice, and on an input no node, graph input or constant provides.
 */
export function topoSort(graph: Graph): Graph {
  const nodes = graph.nodes;
  const provided = new Set([...graph.inputs, ...(graph.outer ?? [])]); // graph inputs and outer-scope values
  const producerIndex = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.outputs) {
      if (!o) continue;
      if (producerIndex.has(o)) {
        throw new SparrowError(
          'invalid_model',
          `value '${o}' is produced by two nodes ('${nodes[producerIndex.get(o)!]!.name}' and '${n.name}')`,
        );
      }
      const v = graph.values.get(o);
      if (v?.const || provided.has(o)) {
        throw new SparrowError(
          'invalid_model',
          `node '${n.name}' writes '${o}', which is already a graph input${graph.outer?.length ? ', an outer-scope value' : ''} or a constant`,
        );
      }
      producerIndex.set(o, i);
    }
  });
  for (const n of nodes) {
    for (const i of n.inputs) {
      if (i && !producerIndex.has(i) && !graph.values.get(i)?.const && !provided.has(i)) {
        throw new SparrowError(
          'invalid_model',
          `node '${n.name}' (${n.op}) reads '${i}', which no node, graph input or initializer provides`,
        );
      }
    }
  }
  // Iterative DFS, producers first, roots in original order: post-order = a stable topological order.
  const state = new Uint8Array(nodes.length); // 0 new, 1 on the stack, 2 done
  const order: Node[] = [];
  for (let root = 0; root < nodes.length; root++) {
    if (state[root] !== 0) continue;
    const stack: Array<[number, number]> = [[root, 0]]; // [node index, next input position]
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const [ni, pos] = top;
      const n = nodes[ni]!;
      if (pos < n.inputs.length) {
        top[1] = pos + 1;
        const name = n.inputs[pos]!;
        const pi = name ? producerIndex.get(name) : undefined;
        if (pi === undefined) continue;
        if (state[pi] === 1) {
          throw new SparrowError(
            'invalid_model',
            `the graph has a cycle through node '${nodes[pi]!.name}' (${nodes[pi]!.op}) and value '${name}'`,
          );
        }
        if (state[pi] === 0) {
          state[pi] = 1;
          stack.push([pi, 0]);
        }
      } else {
        state[ni] = 2;
        order.push(n);
        stack.pop();
      }
    }
  }
  graph.nodes = order;
  return graph;
}

/**
 * Removes, in place, the nodes none of whose outputs reach a graph output, then the values
 * nothing uses any more (graph inputs and a subgraph's outer values always stay). A node's
 * implicit inputs (the outer values its subgraphs read) are inputs like the others, so a value
 * read only inside a subgraph stays live. Returns the number of nodes removed.
 */
export function eliminateDeadNodes(graph: Graph): number {
  const before = graph.nodes.length;
  const live = new Set<string>(graph.outputs);
  const kept: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i]!;
    if (n.outputs.some((o) => o && live.has(o))) {
      kept.push(n);
      for (const x of n.inputs) if (x) live.add(x);
    }
  }
  kept.reverse();
  graph.nodes = kept;
  for (const x of graph.inputs) live.add(x);
  for (const x of graph.outer ?? []) live.add(x);
  for (const n of kept) for (const o of n.outputs) if (o) live.add(o);
  for (const name of [...graph.values.keys()]) if (!live.has(name)) graph.values.delete(name);
  return before - kept.length;
}

/**
 * A copy of the graph structure (nodes, values, lists, subgraphs included) that passes can
 * change without touching the original. Tensors and defs are shared (constants are never mutated).
 */
export function cloneGraph(graph: Graph): Graph {
  const values = new Map<string, Value>();
  for (const [k, v] of graph.values) {
    const c: Value = { name: v.name, info: { dtype: v.info.dtype, dims: v.info.dims ? [...v.info.dims] : null } };
    if (v.const) c.const = v.const;
    values.set(k, c);
  }
  const copy: Graph = {
    name: graph.name,
    opsets: { ...graph.opsets },
    inputs: [...graph.inputs],
    outputs: [...graph.outputs],
    nodes: graph.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: cloneAttrs(n.attrs) })),
    values,
  };
  if (graph.outer) copy.outer = [...graph.outer];
  return copy;
}

/** The same attributes, subgraphs cloned (other values shared: they are never mutated). */
function cloneAttrs(attrs: Node['attrs']): Node['attrs'] {
  let out: Record<string, AttrValue> | undefined;
  for (const [k, v] of Object.entries(attrs)) {
    if (!isGraphAttr(v)) continue;
    out ??= { ...attrs };
    out[k] = cloneGraph(v);
  }
  return out ?? attrs;
}

/** A fresh value name starting with `base` that the graph does not use yet. */
export function freshName(graph: Graph, base: string): string {
  if (!graph.values.has(base)) return base;
  for (let i = 1; ; i++) {
    const name = `${base}_${i}`;
    if (!graph.values.has(name)) return name;
  }
}

/** Node count per op type, e.g. { Conv: 19, Relu: 19 } (for reports and tests). */
export function opCounts(graph: Graph): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of graph.nodes) {
    const k = n.domain ? `${n.domain}.${n.op}` : n.op;
    c[k] = (c[k] ?? 0) + 1;
  }
  return c;
}

/** `dtype [d0,d1,...]` with -1 shown as '?' (messages). */
export function formatInfo(info: ValueInfo): string {
  return `${info.dtype} ${info.dims ? `[${info.dims.map((d) => (d < 0 ? '?' : String(d))).join(',')}]` : '[unknown rank]'}`;
}
