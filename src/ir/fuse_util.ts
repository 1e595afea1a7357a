// What the pattern fusions (fuse_patterns.ts, fuse_attention.ts) share: who produces and who
// reads each value, strict operand checks (scalar constants of an exact value, single readers),
// and the replacement of a matched subgraph by one node whose reference kernel runs the matched
// nodes themselves — so a fused graph on the reference executor (or a fused node that falls back)
// computes exactly what the unfused graph computes.
import { SparrowError } from '../errors.js';
import type { Attrs, OpDef, Tensor, ValueInfo } from '../ops/types.js';
import type { Graph, Node } from './graph.js';

export interface GraphIndex {
  /** value → the node writing it */
  prod: Map<string, Node>;
  /** value → the nodes reading it (each once) */
  readers: Map<string, Node[]>;
}

export function indexOf(g: Graph): GraphIndex {
  const prod = new Map<string, Node>(),
    readers = new Map<string, Node[]>();
  for (const n of g.nodes) {
    for (const o of n.outputs) if (o) prod.set(o, n);
    for (const i of n.inputs) {
      if (!i) continue;
      const l = readers.get(i);
      if (!l) readers.set(i, [n]);
      else if (!l.includes(n)) l.push(n);
    }
  }
  return { prod, readers };
}

/** The default-domain node producing `name` as its only output, if its op is one of `ops`. */
export function producer(ix: GraphIndex, name: string | undefined, ...ops: string[]): Node | undefined {
  if (!name) return undefined;
  const n = ix.prod.get(name);
  if (!n || n.domain !== '' || !ops.includes(n.op)) return undefined;
  if (n.outputs.filter((o) => o).length !== 1 || n.outputs[0] !== name) return undefined;
  return n;
}

/** `name` is read by `node` only (once), and is no graph output. */
export function soleReader(g: Graph, ix: GraphIndex, name: string, node: Node): boolean {
  if (g.outputs.includes(name)) return false;
  const r = ix.readers.get(name) ?? [];
  return r.length === 1 && r[0] === node && node.inputs.filter((i) => i === name).length === 1;
}

/** The only reader of `name` (no graph output), if its op is one of `ops`. */
export function onlyReader(g: Graph, ix: GraphIndex, name: string, ...ops: string[]): Node | undefined {
  if (g.outputs.includes(name)) return undefined;
  const r = ix.readers.get(name) ?? [];
  if (r.length !== 1) return undefined;
  const n = r[0]!;
  if (n.domain !== '' || !ops.includes(n.op) || n.inputs.filter((i) => i === name).length !== 1) return undefined;
  return n;
}

/** The float32 value of a one-element float32 constant. */
export function scalarConst(g: Graph, name: string | undefined): number | undefined {
  const t = name ? g.values.get(name)?.const : undefined;
  if (!t || t.dtype !== 'float32' || t.data.length !== 1) return undefined;
  return (t.data as Float32Array)[0]!;
}

/** A binary node's operand other than `x` when that one is a scalar float32 constant equal to `value` (exactly, as float32). */
export function otherIsConst(g: Graph, n: Node, x: string, value: number, commutative: boolean): boolean {
  const [a, b] = n.inputs;
  const want = Math.fround(value);
  if (a === x && scalarConst(g, b) === want) return true;
  return commutative && b === x && scalarConst(g, a) === want;
}

/** The operand of binary `n` that is not `x` (the first when both are x). */
export function otherOperand(n: Node, x: string): string | undefined {
  const [a, b] = n.inputs;
  if (a === x) return b;
  if (b === x) return a;
  return undefined;
}

export const staticDims = (g: Graph, name: string | undefined): number[] | undefined => {
  const d = name ? g.values.get(name)?.info.dims : undefined;
  return d && d.every((v) => v >= 0) ? d : undefined;
};

export const isF32 = (g: Graph, name: string | undefined): boolean => !!name && g.values.get(name)?.info.dtype === 'float32';

/**
 * An OpDef whose reference kernel runs `nodes` (in order) on the fused node's inputs, named
 * `inputs`, and returns the values `outputs`; the other values the nodes read are the graph's
 * constants, captured now.
 */
export function capturedDef(
  g: Graph,
  op: string,
  domain: string,
  nodes: readonly Node[],
  inputs: readonly string[],
  outputs: readonly string[],
  infos: readonly ValueInfo[],
): OpDef {
  const consts = new Map<string, Tensor>();
  for (const n of nodes)
    for (const i of n.inputs) {
      const t = i ? g.values.get(i)?.const : undefined;
      if (t) consts.set(i, t);
    }
  const seq = [...nodes];
  return {
    op,
    domain,
    sinceVersion: 1,
    untilVersion: 1 << 30,
    ref: (ins) => {
      const env = new Map<string, Tensor>(consts);
      inputs.forEach((name, k) => {
        const t = ins[k];
        if (name && t) env.set(name, t);
      });
      for (const n of seq) {
        const args = n.inputs.map((i) => (i ? env.get(i) : undefined));
        const res = n.def.ref(args, n.attrs, { opset: n.opset, node: n.name });
        n.outputs.forEach((o, j) => o && res[j] && env.set(o, res[j]!));
      }
      return outputs.map((o) => {
        const t = env.get(o);
        if (!t) throw new SparrowError('internal', `fused ${op}: '${o}' was not computed`);
        return t;
      });
    },
    shape: () => infos.map((i) => ({ dtype: i.dtype, dims: i.dims ? [...i.dims] : null })),
  };
}

/**
 * Replaces `nodes` (a matched subgraph) by `fused`, placed where the last of them was; values
 * only the removed nodes read or wrote (other than the fused node's inputs and outputs) go.
 * `ix` is updated to the new graph.
 */
export function replaceNodes(g: Graph, nodes: readonly Node[], fused: Node, ix: GraphIndex): void {
  const gone = new Set(nodes);
  const at = Math.max(...nodes.map((n) => g.nodes.indexOf(n)));
  g.nodes = g.nodes.filter((n, i) => !gone.has(n) || i === at).map((n) => (gone.has(n) ? fused : n));
  // the index: the removed nodes read and write nothing any more, the fused node does
  const touched = new Set<string>();
  for (const n of nodes) {
    for (const o of n.outputs) if (o && ix.prod.get(o) === n) (ix.prod.delete(o), touched.add(o));
    for (const i of new Set(n.inputs)) {
      if (!i) continue;
      touched.add(i);
      const r = ix.readers.get(i);
      const k = r ? r.indexOf(n) : -1;
      if (k >= 0) r!.splice(k, 1);
    }
  }
  for (const o of fused.outputs) if (o) ix.prod.set(o, fused);
  for (const i of new Set(fused.inputs)) {
    if (!i) continue;
    const r = ix.readers.get(i);
    if (r) r.push(fused);
    else ix.readers.set(i, [fused]);
  }
  for (const v of touched) {
    const used = ix.prod.has(v) || (ix.readers.get(v)?.length ?? 0) > 0 || g.inputs.includes(v) || g.outputs.includes(v);
    if (!used && !g.values.get(v)?.const) g.values.delete(v);
  }
}

/** A fused node (domain 'sparrow' unless given). */
export function makeNode(
  name: string,
  op: string,
  domain: string,
  opset: number,
  inputs: string[],
  outputs: string[],
  attrs: Attrs,
  def: OpDef,
): Node {
  return { name, op, domain, opset, inputs, outputs, attrs, def };
}
