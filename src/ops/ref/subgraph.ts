// Running and shape-inferring subgraphs (If's branches, Loop's and Scan's body) next to the
// kernels that need them: a small interpreter of an IrGraph with the reference kernels, the same
// way src/runtime/reference.ts runs a model's graph, so that the control-flow ops are ordinary
// RefKernels (the reference executor and the WASM engines' fallback steps call them like any
// other) without importing the runtime.
//
// A node holding subgraphs lists, after its ONNX inputs, one implicit input per outer value of
// each subgraph, subgraphs taken in attribute-name order (types.ts graphAttrs): splitInputs
// separates them again.

import { SparrowError } from '../../errors.js';
import { graphAttrs, implicitInputCount, type Attrs, type IrGraph, type KernelContext, type Tensor, type ValueInfo } from '../types.js';
import { opError } from './util.js';

/** A control-flow node's inputs: its ONNX inputs, and per subgraph what is bound to the subgraph's outer values. */
export interface SplitInputs<T> {
  formal: T[];
  outer: Map<IrGraph, T[]>;
}

/** Splits a node's inputs (tensors or infos) into its ONNX inputs and the implicit inputs of each subgraph. */
export function splitInputs<T>(inputs: ReadonlyArray<T>, attrs: Attrs, op: string, ctx: KernelContext): SplitInputs<T> {
  const n = implicitInputCount(attrs);
  if (n > inputs.length)
    throw opError(op, ctx, `the node has ${inputs.length} inputs, fewer than the ${n} outer values its subgraphs read`);
  const formal = inputs.slice(0, inputs.length - n);
  const outer = new Map<IrGraph, T[]>();
  let k = inputs.length - n;
  for (const [, g] of graphAttrs(attrs)) {
    const m = g.outer?.length ?? 0;
    outer.set(g, inputs.slice(k, k + m));
    k += m;
  }
  return { formal, outer };
}

const copyTensor = (t: Tensor): Tensor => ({ dtype: t.dtype, dims: [...t.dims], data: t.data.slice() as Tensor['data'] });

/** Runs a subgraph once per call (see graphRunner). */
export type GraphRunner = (formal: ReadonlyArray<Tensor | undefined>, outer: ReadonlyArray<Tensor | undefined>) => Tensor[];

/**
 * A runner of subgraph `g`: each call runs it on its formal inputs and its outer values (tensors
 * in the order of g.inputs and g.outer) with the reference kernels of its nodes and returns its
 * outputs, never sharing a buffer with an input or a constant (a kernel may return a view:
 * Reshape, Identity). Intermediates are dropped after their last reader. What does not change
 * between calls (last readers, constant buffers) is worked out once: a Loop or Scan makes one
 * runner per run of the node, the graph must not change meanwhile. `where` prefixes node names in
 * messages (e.g. `loop/body`).
 */
export function graphRunner(g: IrGraph, where: string): GraphRunner {
  const outerNames = g.outer ?? [];
  const lastUse = new Map<string, number>();
  g.nodes.forEach((n, k) => {
    for (const i of n.inputs) if (i) lastUse.set(i, k);
  });
  const keep = new Set([...g.outputs, ...g.inputs, ...outerNames]);
  // per node: the values to drop after it
  const drop = g.nodes.map((n, k) => [...new Set(n.inputs)].filter((i) => i && lastUse.get(i) === k && !keep.has(i)));
  const constBuffers = new Set<ArrayBufferLike>();
  for (const v of g.values.values()) if (v.const) constBuffers.add(v.const.data.buffer);
  const ctxs: KernelContext[] = g.nodes.map((n) => ({ opset: n.opset, node: `${where}/${n.name}` }));

  return (formal, outer) => {
    if (formal.length !== g.inputs.length || outer.length !== outerNames.length) {
      throw new SparrowError(
        'invalid_model',
        `${where}: the subgraph has ${g.inputs.length} inputs and ${outerNames.length} outer values, was given ${formal.length} and ${outer.length}`,
      );
    }
    const env = new Map<string, Tensor>();
    const bind = (name: string, t: Tensor | undefined, what: string): void => {
      if (!t) throw new SparrowError('invalid_model', `${where}: ${what} '${name}' has no value`);
      env.set(name, t);
    };
    g.inputs.forEach((name, i) => bind(name, formal[i], 'input'));
    outerNames.forEach((name, i) => bind(name, outer[i], 'outer value'));
    const read = (name: string): Tensor => {
      const t = env.get(name) ?? g.values.get(name)?.const;
      if (!t) throw new SparrowError('invalid_model', `${where}: value '${name}' is read before it is computed`);
      return t;
    };
    g.nodes.forEach((node, k) => {
      const ins = node.inputs.map((i) => (i ? read(i) : undefined));
      const ctx = ctxs[k]!;
      let outs: Tensor[];
      try {
        outs = node.def.ref(ins, node.attrs, ctx);
      } catch (e) {
        if (e instanceof SparrowError) throw e;
        throw new SparrowError(
          'internal',
          `kernel of ${node.op} failed at node '${ctx.node}': ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      node.outputs.forEach((o, j) => {
        if (!o) return;
        const t = outs[j];
        if (!t)
          throw new SparrowError(
            'internal',
            `kernel of ${node.op} returned ${outs.length} output(s) at node '${ctx.node}', which has output #${j}`,
          );
        env.set(o, t);
      });
      for (const i of drop[k]!) env.delete(i);
    });
    const foreign = (b: ArrayBufferLike): boolean =>
      constBuffers.has(b) || formal.some((t) => t?.data.buffer === b) || outer.some((t) => t?.data.buffer === b);
    return g.outputs.map((o) => {
      const t = read(o);
      return foreign(t.data.buffer) ? copyTensor(t) : t;
    });
  };
}

/** Runs subgraph `g` once (graphRunner). */
export function runGraph(
  g: IrGraph,
  formal: ReadonlyArray<Tensor | undefined>,
  outer: ReadonlyArray<Tensor | undefined>,
  where: string,
): Tensor[] {
  return graphRunner(g, where)(formal, outer);
}

/**
 * Static shape inference of subgraph `g` given the infos of its formal inputs and outer values
 * (and the constant values of outer values, where known): sets, in place, the infos of its
 * inputs, outer values, constants and node outputs (as src/ir/passes.ts inferShapes does for a
 * model's graph; nested subgraphs are inferred by their nodes' shape functions) and returns the
 * infos of its outputs.
 */
export function inferGraph(
  g: IrGraph,
  formal: ReadonlyArray<ValueInfo>,
  outer: ReadonlyArray<ValueInfo | undefined>,
  outerConsts: ReadonlyArray<Tensor | undefined>,
  where: string,
): ValueInfo[] {
  const outerNames = g.outer ?? [];
  if (formal.length !== g.inputs.length) {
    throw new SparrowError('invalid_model', `${where}: the subgraph has ${g.inputs.length} inputs, the node gives it ${formal.length}`);
  }
  const copy = (i: ValueInfo): ValueInfo => ({ dtype: i.dtype, dims: i.dims ? [...i.dims] : null });
  const value = (name: string) => {
    const v = g.values.get(name);
    if (!v) throw new SparrowError('invalid_model', `${where}: the subgraph has no value '${name}'`);
    return v;
  };
  g.inputs.forEach((name, i) => (value(name).info = copy(formal[i]!)));
  const consts = new Map<string, Tensor>();
  outerNames.forEach((name, i) => {
    const info = outer[i];
    if (info) value(name).info = copy(info);
    const t = outerConsts[i];
    if (t) consts.set(name, t);
  });
  for (const v of g.values.values()) if (v.const) v.info = { dtype: v.const.dtype, dims: [...v.const.dims] };
  for (const node of g.nodes) {
    const infos = node.inputs.map((i) => (i ? value(i).info : undefined));
    const cs = node.inputs.map((i) => (i ? (g.values.get(i)?.const ?? consts.get(i)) : undefined));
    const ctx: KernelContext = { opset: node.opset, node: `${where}/${node.name}` };
    let out: ValueInfo[];
    try {
      out = node.def.shape(infos, node.attrs, cs, ctx);
    } catch (e) {
      if (e instanceof SparrowError) throw e;
      throw new SparrowError(
        'internal',
        `shape function of ${node.op} failed at node '${ctx.node}': ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    node.outputs.forEach((o, j) => {
      if (!o) return;
      const info = out[j];
      if (!info)
        throw new SparrowError(
          'internal',
          `shape function of ${node.op} returned ${out.length} output(s), node '${ctx.node}' has output #${j}`,
        );
      value(o).info = copy(info);
    });
  }
  return g.outputs.map((o) => copy(value(o).info));
}

/** The constant tensor a subgraph output is, when it is one (else undefined). */
export function constOutput(g: IrGraph, k: number): Tensor | undefined {
  const name = g.outputs[k];
  return name ? g.values.get(name)?.const : undefined;
}
