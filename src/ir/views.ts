// Strided views through data movement: where each element of a value lives in an earlier value
// when only Transpose / Reshape / Slice / Expand / Squeeze / Unsqueeze / Flatten / Identity /
// Split / Gather (constant indices) lie between them. Fusions use it to read an operand in place
// (a kernel walks rows of the base value with a stride) instead of materializing the moved copy:
// the attention kernel reads Q, K and V straight from the projection's output and writes its
// result straight into the layout the next projection reads (src/ir/fuse_attention.ts).
//
// How: the chain's own reference kernels run on an int32 "iota" over the base's shape (element i
// holds i), so the result holds, for every element of the value, its flat index in the base —
// no per-op stride algebra, every op and attribute case handled by the kernel that defines it.
// A row view is then checked element by element: for every batch t, row r and column c,
// index = offset[t] + r·ld + c (rows ld apart, columns contiguous).
import type { Tensor } from '../ops/types.js';
import { elementCount } from '../ops/types.js';
import type { Graph, Node } from './graph.js';

/** Ops whose outputs are elements of their first input, moved (the other inputs constants). */
const MOVEMENT = new Set(['Transpose', 'Reshape', 'Slice', 'Expand', 'Squeeze', 'Unsqueeze', 'Flatten', 'Identity', 'Split', 'Gather']);

/** Largest base (elements) a view is traced through: the int32 iota and its moved copies stay small. */
const MAX_TRACE = 1 << 24;

/** One step of a movement chain: `node` produces output `out` (index) from its data input. */
export interface MoveStep {
  node: Node;
  out: number;
}

/** Node producing each value, and its output index. */
export type ProducerIndex = Map<string, { node: Node; out: number }>;

export function producerIndex(graph: Graph): ProducerIndex {
  const m: ProducerIndex = new Map();
  for (const n of graph.nodes) n.outputs.forEach((o, j) => o && m.set(o, { node: n, out: j }));
  return m;
}

const isConst = (g: Graph, name: string | undefined): boolean => !name || !!g.values.get(name)?.const;

/** True when `n` moves elements of its input 0 (constant parameters, static shapes, no subgraph). */
export function isMovement(g: Graph, n: Node): boolean {
  if (n.domain !== '' || !MOVEMENT.has(n.op)) return false;
  const x = n.inputs[0];
  if (!x || isConst(g, x)) return false;
  return n.inputs.slice(1).every((i) => isConst(g, i));
}

/**
 * The movement chain ending at `name`, nearest step last: [steps from the farthest base on];
 * bases[i] is the value the chain steps i.. start from (bases[steps.length] = name).
 */
export function movementChain(g: Graph, prod: ProducerIndex, name: string): { steps: MoveStep[]; bases: string[] } {
  const steps: MoveStep[] = [];
  let cur = name;
  for (;;) {
    const p = prod.get(cur);
    if (!p || !isMovement(g, p.node) || g.inputs.includes(cur)) break;
    const x = p.node.inputs[0]!;
    const d = g.values.get(x)?.info.dims;
    if (!d || d.some((v) => v < 0)) break;
    steps.unshift({ node: p.node, out: p.out });
    cur = x;
  }
  const bases = [cur];
  for (const s of steps) bases.push(s.node.outputs[s.out]!);
  return { steps, bases };
}

/** Runs movement steps on `x` with their reference kernels (constant parameters from the graph). */
export function runSteps(g: Graph, steps: readonly MoveStep[], x: Tensor): Tensor {
  let t = x;
  for (const s of steps) {
    const ins = s.node.inputs.map((name, i) => (i === 0 ? t : name ? g.values.get(name)!.const : undefined));
    t = s.node.def.ref(ins, s.node.attrs, { opset: s.node.opset, node: s.node.name })[s.out]!;
  }
  return t;
}

/**
 * Traces already made, by the structure of their chain (ops, attributes, constant inputs, output
 * positions) and base dims: the layers of a transformer repeat the same chains.
 */
export type TraceMemo = Map<string, Int32Array | undefined>;

function stepKey(g: Graph, s: MoveStep): string {
  const consts = s.node.inputs.slice(1).map((i) => {
    const t = i ? g.values.get(i)?.const : undefined;
    return t ? `${t.dtype}[${t.dims}]${Array.from(t.data as ArrayLike<number | bigint>, String)}` : '';
  });
  return `${s.node.op}@${s.node.opset}:${s.out}:${JSON.stringify(s.node.attrs)}:${consts.join('|')}`;
}

/**
 * For each element of the value the steps produce from a base of `dims`: its flat index in the
 * base (undefined if not traceable); memoized in `memo` when given.
 */
export function traceIndices(g: Graph, steps: readonly MoveStep[], dims: readonly number[], memo?: TraceMemo): Int32Array | undefined {
  if (memo) {
    const key = `${dims.join(',')}#${steps.map((s) => stepKey(g, s)).join('#')}`;
    if (memo.has(key)) return memo.get(key);
    const t = traceIndices(g, steps, dims);
    memo.set(key, t);
    return t;
  }
  const n = elementCount(dims);
  if (n > MAX_TRACE) return undefined;
  const iota: Tensor = { dtype: 'int32', dims: [...dims], data: Int32Array.from({ length: n }, (_, i) => i) };
  try {
    const t = runSteps(g, steps, iota);
    return t.dtype === 'int32' ? (t.data as Int32Array) : undefined;
  } catch {
    return undefined;
  }
}

/** A row view: batch t's row r, column c at offsets[t] + r·ld + c of the base. */
export interface RowView {
  base: string;
  /** per batch (row-major over the value's batch dims) element offset of row 0, column 0 */
  offsets: number[];
  ld: number;
  /** the steps from the base to the value (absorbed by the reader) */
  steps: MoveStep[];
}

/**
 * Checks `map` (flat base index of each element of a value of dims [...batch, R, C], or with
 * `transposed` [...batch, C, R]) for a row view: element (t, r, c) at off[t] + r·ld + c.
 */
export function rowView(map: Int32Array, dims: readonly number[], transposed: boolean): { offsets: number[]; ld: number } | undefined {
  const rank = dims.length;
  if (rank < 2) return undefined;
  const [R, C] = transposed ? [dims[rank - 1]!, dims[rank - 2]!] : [dims[rank - 2]!, dims[rank - 1]!];
  const nb = elementCount(dims.slice(0, -2));
  if (R === 0 || C === 0) return undefined;
  const at = (t: number, r: number, c: number): number => map[t * R * C + (transposed ? c * R + r : r * C + c)]!;
  let ld = -1;
  const offsets: number[] = [];
  for (let t = 0; t < nb; t++) {
    const o = at(t, 0, 0);
    if (R > 1) {
      const l = at(t, 1, 0) - o;
      if (ld < 0) ld = l;
      if (l !== ld || l < 0) return undefined;
    }
    for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) if (at(t, r, c) !== o + r * Math.max(ld, 0) + c) return undefined;
    offsets.push(o);
  }
  return { offsets, ld: R > 1 ? ld : C };
}

/**
 * The farthest row view of value `name` (dims [...batch, R, C], or transposed) through its
 * movement chain, `name` itself (no steps) at the least.
 */
export function traceRowView(g: Graph, prod: ProducerIndex, name: string, transposed: boolean, memo?: TraceMemo): RowView | undefined {
  const dims = g.values.get(name)?.info.dims;
  if (!dims) return undefined;
  const { steps, bases } = movementChain(g, prod, name);
  for (let i = 0; i <= steps.length; i++) {
    const base = bases[i]!;
    const bd = g.values.get(base)!.info.dims!;
    const map = traceIndices(g, steps.slice(i), bd, memo);
    if (!map) continue;
    const v = rowView(map, dims, transposed);
    if (v) return { base, ...v, steps: steps.slice(i) };
  }
  return undefined;
}

/**
 * A value `name` (dims [...batch, R, C]) read only by a chain of movement nodes, each read only
 * by the next, ending in `end`: where each element of `name` lands in `end` (flat index), for
 * every prefix of the chain that is a bijection — the farthest first. Used to write a result
 * straight into the layout a Transpose (+ Reshape) after it would make.
 */
export function traceForward(
  g: Graph,
  readers: Map<string, Node[]>,
  name: string,
  memo?: TraceMemo,
): Array<{ end: string; steps: MoveStep[]; pos: Int32Array }> {
  const dims = g.values.get(name)?.info.dims;
  if (!dims) return [];
  const steps: MoveStep[] = [];
  let cur = name;
  for (;;) {
    if (g.outputs.includes(cur)) break;
    const rs = readers.get(cur) ?? [];
    if (rs.length !== 1) break;
    const n = rs[0]!;
    if (!isMovement(g, n) || n.inputs[0] !== cur || n.outputs.filter((o) => o).length !== 1 || n.op === 'Expand') break;
    if (n.inputs.slice(1).includes(cur)) break;
    steps.push({ node: n, out: n.outputs.findIndex((o) => o) });
    cur = n.outputs[steps[steps.length - 1]!.out]!;
  }
  const out: Array<{ end: string; steps: MoveStep[]; pos: Int32Array }> = [];
  const total = elementCount(dims);
  for (let k = steps.length; k >= 1; k--) {
    const map = traceIndices(g, steps.slice(0, k), dims, memo);
    if (!map || map.length !== total) continue;
    const pos = new Int32Array(total).fill(-1);
    let ok = true;
    for (let y = 0; y < map.length && ok; y++) {
      const s = map[y]!;
      if (pos[s] !== -1) ok = false;
      else pos[s] = y;
    }
    if (ok) out.push({ end: steps[k - 1]!.node.outputs[steps[k - 1]!.out]!, steps: steps.slice(0, k), pos });
  }
  return out;
}
