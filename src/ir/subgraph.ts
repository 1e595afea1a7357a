// Nodes with subgraphs (If, Loop, Scan) in the graph passes. A subgraph (a Graph held by a node
// attribute) reads values of enclosing scopes through its `outer` names; the node supplies them
// as implicit inputs after its ONNX inputs, subgraphs taken in attribute-name order (ops/types.ts
// graphAttrs). Because they are ordinary node inputs, topological order, liveness, dead-node
// elimination and renaming (removeIdentities) see them like any other input; the helpers here do
// what is specific to subgraphs: list them, drop outer values a subgraph no longer reads, and
// inline the branch an If with a constant condition takes.
import { SparrowError } from '../errors.js';
import { resolveOp } from '../ops/registry.js';
import { graphAttrs, implicitInputCount, type Tensor } from '../ops/types.js';
import { freshName, type Graph, type Node, type Value } from './graph.js';

/** The node's subgraphs with their attribute names, in implicit-input order. */
export function subgraphsOf(node: Node): Array<[attr: string, graph: Graph]> {
  return graphAttrs(node.attrs);
}

/** The node's ONNX inputs (without the implicit ones). */
export function formalInputs(node: Node): string[] {
  return node.inputs.slice(0, node.inputs.length - implicitInputCount(node.attrs));
}

/** The node's implicit inputs bound to subgraph `g`'s outer values, in order. */
export function outerInputs(node: Node, g: Graph): string[] {
  let k = node.inputs.length - implicitInputCount(node.attrs);
  for (const [, sg] of subgraphsOf(node)) {
    const n = sg.outer?.length ?? 0;
    if (sg === g) return node.inputs.slice(k, k + n);
    k += n;
  }
  throw new SparrowError('internal', `node '${node.name}' does not hold that subgraph`);
}

/** Calls `fn` on every subgraph of the graph's nodes, depth first (inner subgraphs after their holder). */
export function forEachSubgraph(graph: Graph, fn: (g: Graph, holder: Node, attr: string) => void): void {
  for (const n of graph.nodes) {
    for (const [attr, g] of subgraphsOf(n)) {
      fn(g, n, attr);
      forEachSubgraph(g, fn);
    }
  }
}

/**
 * Drops the outer values the node's subgraphs no longer read (after passes inside them) and the
 * matching implicit inputs. Returns the number dropped.
 */
export function pruneOuterValues(node: Node): number {
  const formal = formalInputs(node);
  const implicit: string[] = [];
  let dropped = 0;
  for (const [, g] of subgraphsOf(node)) {
    const bound = outerInputs(node, g);
    const read = new Set<string>(g.outputs);
    for (const n of g.nodes) for (const i of n.inputs) if (i) read.add(i);
    const keep: string[] = [];
    (g.outer ?? []).forEach((name, i) => {
      if (read.has(name)) {
        keep.push(name);
        implicit.push(bound[i]!);
      } else {
        g.values.delete(name);
        dropped++;
      }
    });
    g.outer = keep;
  }
  node.inputs = [...formal, ...implicit];
  return dropped;
}

/**
 * Replaces If node `node` of `graph` by the nodes of branch `branch` (then_branch or
 * else_branch), in place: branch constants become constants of `graph`, its outer values the
 * values the If node bound to them, its other values fresh names (`<if>/<name>`); the If's
 * outputs keep their names (written by the branch node producing them, or by an Identity, or
 * constants). Returns the new nodes, in order, to be put where the If node was; the caller
 * removes the If node. Node names are made unique against `nodeNames` (updated).
 */
export function inlineBranch(graph: Graph, node: Node, branch: Graph, nodeNames: Set<string>): Node[] {
  if (branch.outputs.length < node.outputs.filter(Boolean).length) {
    throw new SparrowError('invalid_model', `If node '${node.name}': its branch has fewer outputs than the node`);
  }
  const rename = new Map<string, string>();
  const bound = outerInputs(node, branch);
  (branch.outer ?? []).forEach((o, i) => rename.set(o, bound[i]!));
  const addValue = (base: string, info: Value['info'], t?: Tensor): string => {
    const name = freshName(graph, base);
    const v: Value = { name, info: { dtype: info.dtype, dims: info.dims ? [...info.dims] : null } };
    if (t) v.const = t;
    graph.values.set(name, v);
    return name;
  };
  for (const [name, v] of branch.values) if (v.const) rename.set(name, addValue(`${node.name}/${name}`, v.info, v.const));
  const produced = new Set<string>();
  for (const bn of branch.nodes) for (const o of bn.outputs) if (o) produced.add(o);
  // a branch output made by a branch node: that node writes the If's output (first use of it)
  const identities: Array<[from: string, to: string]> = [];
  branch.outputs.forEach((o, k) => {
    const y = node.outputs[k];
    if (!y) return;
    if (produced.has(o) && !rename.has(o)) rename.set(o, y);
    else identities.push([o, y]);
  });
  for (const bn of branch.nodes) {
    for (const o of bn.outputs) if (o && !rename.has(o)) rename.set(o, addValue(`${node.name}/${o}`, branch.values.get(o)!.info));
  }
  const uniqueNodeName = (base: string): string => {
    let name = base;
    for (let i = 1; nodeNames.has(name); i++) name = `${base}_${i}`;
    nodeNames.add(name);
    return name;
  };
  const map = (n: string): string => {
    if (!n) return '';
    const m = rename.get(n);
    if (m === undefined) throw new SparrowError('internal', `If node '${node.name}': branch value '${n}' has no name outside`);
    return m;
  };
  const out: Node[] = branch.nodes.map((bn) => ({
    ...bn,
    name: uniqueNodeName(`${node.name}/${bn.name}`),
    inputs: bn.inputs.map(map),
    outputs: bn.outputs.map(map),
  }));
  for (const [from, to] of identities) {
    const src = map(from);
    const t = graph.values.get(src)?.const;
    const y = graph.values.get(to)!;
    if (t) {
      y.const = t;
      y.info = { dtype: t.dtype, dims: [...t.dims] };
      continue;
    }
    const name = uniqueNodeName(`${node.name}/Identity`);
    out.push({
      name,
      op: 'Identity',
      domain: '',
      opset: node.opset,
      inputs: [src],
      outputs: [to],
      attrs: {},
      def: resolveOp('Identity', '', node.opset, name),
    });
  }
  return out;
}
