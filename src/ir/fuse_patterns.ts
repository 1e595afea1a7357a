// Elementwise chains transformer exporters emit, each fused into one node (float32 engine):
//
//   LayerNorm   ReduceMean(x) → Sub(x, ·) = d → Pow(d, 2) → ReduceMean → Add(·, ε) → Sqrt → Div(d, ·)
//               [→ Mul(·, w)] [→ Add(·, b)]                       → sparrow.LayerNormOps(x, w, b)
//   RMSNorm     Pow(x, 2) | Mul(x, x) → ReduceMean → Add(·, ε) → Sqrt = s →
//               Div(1, s) | Reciprocal(s) → Mul(x, ·)  (mode 0)  or  Div(x, s)  (mode 1)
//               [→ Mul(·, w)]                                     → sparrow.RMSNormOps(x, w)
//   Gelu        0.5·x·(1 + Erf(x / √2)) (x / √2 or x · (1/√2); the three products in any order
//               and association)                                  → Gelu(x)
//               0.5·x·(1 + Tanh(√(2/π)·(x + 0.044715·x³))) (x³ = Pow(x, 3) | x·x·x)
//                                                                 → Gelu(x, approximate = tanh)
//
// Checks are strict: every constant is a float32 scalar equal to the expected value (Pow's 2,
// ε any finite ≥ 0), the reductions are over the last axis only (ReduceMean axes [-1] or
// [rank-1], keepdims 1), w and b are constants along the last axis, every intermediate value has
// exactly the one reader the pattern names and is no graph output, shapes are static. The fused
// nodes' reference kernels run the matched nodes (fuse_util.ts capturedDef); Gelu is the ONNX op
// (its opset-20 definition). The float32 kernels (assembly/f32ops/tnorm.ts) compute the chains'
// operations in their order, so the norms give the unfused engine's bits; the Gelu kernel
// computes x·(1/√2) where the chain may divide by √2 (a difference of ≤ 1 ulp in erf's argument).
import { resolveOp } from '../ops/registry.js';
import { normAxes } from '../ops/ref/util.js';
import { toIntList } from '../ops/ref/util.js';
import type { Graph, Node } from './graph.js';
import {
  capturedDef,
  indexOf,
  isF32,
  makeNode,
  onlyReader,
  otherIsConst,
  otherOperand,
  producer,
  replaceNodes,
  scalarConst,
  soleReader,
  staticDims,
  type GraphIndex,
} from './fuse_util.js';

export const FUSED = 'sparrow';

export interface PatternReport {
  layerNorms: number;
  rmsNorms: number;
  gelus: number;
}

/** Fuses every LayerNorm, RMSNorm and Gelu chain in place (see the header). */
export function fusePatterns(g: Graph, ix: GraphIndex = indexOf(g)): PatternReport {
  const rep: PatternReport = { layerNorms: 0, rmsNorms: 0, gelus: 0 };
  // one index for every pass, kept current by replaceNodes
  const pass = (ops: readonly string[], fuse: (g: Graph, ix: GraphIndex, n: Node) => boolean): number => {
    let count = 0;
    for (const n of [...g.nodes]) {
      if (n.domain !== '' || !ops.includes(n.op) || !ix.prod.has(n.outputs[0] ?? '')) continue;
      if (ix.prod.get(n.outputs[0]!) !== n) continue; // removed by an earlier rewrite
      if (fuse(g, ix, n)) count++;
    }
    return count;
  };
  rep.layerNorms = pass(['ReduceMean'], fuseLayerNorm);
  rep.rmsNorms = pass(['Pow', 'Mul'], fuseRmsNorm);
  rep.gelus = pass(['Erf', 'Tanh'], fuseGelu);
  return rep;
}

// ---------------------------------------------------------------------------------------------

/** A ReduceMean over the last axis only, keepdims 1, of a statically shaped float32 value. */
function lastAxisMean(g: Graph, n: Node): boolean {
  if (n.domain !== '' || n.op !== 'ReduceMean' || !isF32(g, n.inputs[0])) return false;
  const d = staticDims(g, n.inputs[0]);
  if (!d || d.length === 0) return false;
  const keep = n.attrs['keepdims'];
  if (keep !== undefined && keep !== 1) return false;
  let axes: number[] | undefined;
  const ctx = { opset: n.opset, node: n.name };
  if (n.opset >= 18) {
    const t = n.inputs[1] ? g.values.get(n.inputs[1])?.const : undefined;
    if (!t) return false;
    axes = toIntList(t, 'axes', n.op, ctx);
    if (n.attrs['noop_with_empty_axes'] === 1 && axes.length === 0) return false;
  } else {
    const a = n.attrs['axes'];
    axes = Array.isArray(a) ? (a as number[]) : undefined;
  }
  if (!axes) return d.length === 1; // all axes: the last one only when rank 1
  try {
    const ax = normAxes(axes, d.length, n.op, ctx);
    return ax.length === 1 && ax[0] === d.length - 1;
  } catch {
    return false;
  }
}

/** A float32 constant whose values vary along the last axis only (length C): its C values. */
function lastAxisConst(g: Graph, name: string | undefined, C: number, rank: number): Float32Array | undefined {
  const t = name ? g.values.get(name)?.const : undefined;
  if (!t || t.dtype !== 'float32' || t.dims.length > rank) return undefined;
  const d = t.dims;
  if (d.slice(0, -1).some((v) => v !== 1)) return undefined;
  const last = d.length ? d[d.length - 1]! : 1;
  if (last !== C && last !== 1) return undefined;
  const src = t.data as Float32Array;
  return Float32Array.from({ length: C }, (_, i) => src[last === 1 ? 0 : i]!);
}

/** `y` = Mul(x, w) / Mul(w, x) with w a last-axis constant, x read by it alone: [node, w values]. */
function trailingMul(g: Graph, ix: GraphIndex, x: string, C: number, rank: number): [Node, Float32Array] | undefined {
  const m = onlyReader(g, ix, x, 'Mul');
  if (!m) return undefined;
  const w = lastAxisConst(g, otherOperand(m, x), C, rank);
  const y = m.outputs[0];
  if (!w || !y || !sameShape(g, y, x)) return undefined;
  return [m, w];
}

function trailingAdd(g: Graph, ix: GraphIndex, x: string, C: number, rank: number): [Node, Float32Array] | undefined {
  const a = onlyReader(g, ix, x, 'Add');
  if (!a) return undefined;
  const b = lastAxisConst(g, otherOperand(a, x), C, rank);
  const y = a.outputs[0];
  if (!b || !y || !sameShape(g, y, x)) return undefined;
  return [a, b];
}

function sameShape(g: Graph, a: string, b: string): boolean {
  const da = staticDims(g, a),
    db = staticDims(g, b);
  return !!da && !!db && da.length === db.length && da.every((v, i) => v === db[i]);
}

/** ε of Add(v, ε) / Add(ε, v): a finite, non-negative float32 scalar constant. */
function epsOf(g: Graph, add: Node, v: string): number | undefined {
  const e = scalarConst(g, otherOperand(add, v));
  return e !== undefined && Number.isFinite(e) && e >= 0 ? e : undefined;
}

function addConstant(g: Graph, base: string, data: Float32Array): string {
  let name = base;
  for (let i = 1; g.values.has(name); i++) name = `${base}_${i}`;
  g.values.set(name, { name, info: { dtype: 'float32', dims: [data.length] }, const: { dtype: 'float32', dims: [data.length], data } });
  return name;
}

function fuseLayerNorm(g: Graph, ix: GraphIndex, r1: Node): boolean {
  if (!lastAxisMean(g, r1)) return false;
  const x = r1.inputs[0]!,
    m = r1.outputs[0]!;
  const xd = staticDims(g, x)!;
  const C = xd[xd.length - 1]!,
    rank = xd.length;
  const sub = onlyReader(g, ix, m, 'Sub');
  if (!sub || sub.inputs[0] !== x || sub.inputs[1] !== m) return false;
  const d = sub.outputs[0]!;
  if (g.outputs.includes(d) || !sameShape(g, d, x)) return false;
  const dr = ix.readers.get(d) ?? [];
  if (dr.length !== 2) return false;
  const pow = dr.find((n) => n.domain === '' && n.op === 'Pow' && n.inputs[0] === d && otherIsConst(g, n, d, 2, false));
  const div = dr.find((n) => n.domain === '' && n.op === 'Div' && n.inputs[0] === d);
  if (!pow || !div || pow === div) return false;
  const r2 = onlyReader(g, ix, pow.outputs[0]!, 'ReduceMean');
  if (!r2 || !lastAxisMean(g, r2)) return false;
  const add = onlyReader(g, ix, r2.outputs[0]!, 'Add');
  if (!add) return false;
  const eps = epsOf(g, add, r2.outputs[0]!);
  if (eps === undefined) return false;
  const sq = onlyReader(g, ix, add.outputs[0]!, 'Sqrt');
  if (!sq || !soleReader(g, ix, sq.outputs[0]!, div) || div.inputs[1] !== sq.outputs[0]) return false;
  const nodes = [r1, sub, pow, r2, add, sq, div];
  let y = div.outputs[0]!;
  let w: Float32Array | undefined, b: Float32Array | undefined;
  const tm = trailingMul(g, ix, y, C, rank);
  if (tm) {
    nodes.push(tm[0]);
    w = tm[1];
    y = tm[0].outputs[0]!;
  }
  const ta = trailingAdd(g, ix, y, C, rank);
  if (ta) {
    nodes.push(ta[0]);
    b = ta[1];
    y = ta[0].outputs[0]!;
  }
  const inputs = [x, w ? addConstant(g, `${r1.name}_ln_w`, w) : '', b ? addConstant(g, `${r1.name}_ln_b`, b) : ''];
  const info = g.values.get(y)!.info;
  const def = capturedDef(g, 'LayerNormOps', FUSED, nodes, [x], [y], [info]);
  replaceNodes(g, nodes, makeNode(`${r1.name}_layernorm`, 'LayerNormOps', FUSED, 1, inputs, [y], { epsilon: eps }, def), ix);
  return true;
}

function fuseRmsNorm(g: Graph, ix: GraphIndex, sqr: Node): boolean {
  const x = sqr.inputs[0]!;
  if (!isF32(g, x)) return false;
  if (sqr.op === 'Pow' ? !otherIsConst(g, sqr, x, 2, false) || sqr.inputs[0] !== x : sqr.inputs[1] !== x) return false;
  const xd = staticDims(g, x);
  if (!xd || xd.length === 0 || !sameShape(g, sqr.outputs[0]!, x)) return false;
  const C = xd[xd.length - 1]!,
    rank = xd.length;
  const r = onlyReader(g, ix, sqr.outputs[0]!, 'ReduceMean');
  if (!r || !lastAxisMean(g, r)) return false;
  const add = onlyReader(g, ix, r.outputs[0]!, 'Add');
  if (!add) return false;
  const eps = epsOf(g, add, r.outputs[0]!);
  if (eps === undefined) return false;
  const sq = onlyReader(g, ix, add.outputs[0]!, 'Sqrt');
  if (!sq) return false;
  const s = sq.outputs[0]!;
  const nodes = [sqr, r, add, sq];
  let mode: number;
  let y: string;
  const sr = ix.readers.get(s) ?? [];
  if (g.outputs.includes(s) || sr.length !== 1) return false;
  const next = sr[0]!;
  if (next.domain === '' && next.op === 'Div' && next.inputs[0] === x && next.inputs[1] === s) {
    mode = 1;
    nodes.push(next);
    y = next.outputs[0]!;
  } else {
    let inv: Node | undefined;
    if (next.domain === '' && next.op === 'Reciprocal') inv = next;
    else if (next.domain === '' && next.op === 'Div' && next.inputs[1] === s && scalarConst(g, next.inputs[0]) === 1) inv = next;
    if (!inv) return false;
    const mul = onlyReader(g, ix, inv.outputs[0]!, 'Mul');
    if (!mul || otherOperand(mul, inv.outputs[0]!) !== x) return false;
    mode = 0;
    nodes.push(inv, mul);
    y = mul.outputs[0]!;
  }
  if (!sameShape(g, y, x)) return false;
  let w: Float32Array | undefined;
  const tm = trailingMul(g, ix, y, C, rank);
  if (tm) {
    nodes.push(tm[0]);
    w = tm[1];
    y = tm[0].outputs[0]!;
  }
  const info = g.values.get(y)!.info;
  const def = capturedDef(g, 'RMSNormOps', FUSED, nodes, [x], [y], [info]);
  const inputs = [x, w ? addConstant(g, `${sqr.name}_rms_w`, w) : ''];
  replaceNodes(g, nodes, makeNode(`${sqr.name}_rmsnorm`, 'RMSNormOps', FUSED, 1, inputs, [y], { epsilon: eps, mode }, def), ix);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Gelu

const SQRT2 = Math.SQRT2,
  SQRT1_2 = Math.SQRT1_2,
  TANH_C = Math.sqrt(2 / Math.PI),
  CUBIC = 0.044715;

/**
 * The end of 0.5·x·a (a = the 1 + erf / 1 + tanh value, read once) in any order: Mul(Mul(x, a), 0.5),
 * Mul(Mul(x, 0.5), a), Mul(x, Mul(a, 0.5)) (each Mul commutative): the nodes and the output.
 */
function halfXTimes(g: Graph, ix: GraphIndex, x: string, a: string): { nodes: Node[]; y: string } | undefined {
  const ma = onlyReader(g, ix, a, 'Mul');
  if (!ma) return undefined;
  const other = otherOperand(ma, a)!;
  const out = ma.outputs[0]!;
  if (other === x) {
    // (x·a)·0.5
    const mh = onlyReader(g, ix, out, 'Mul');
    if (mh && otherIsConst(g, mh, out, 0.5, true)) return { nodes: [ma, mh], y: mh.outputs[0]! };
    return undefined;
  }
  if (scalarConst(g, other) === 0.5) {
    // x·(a·0.5)
    const mx = onlyReader(g, ix, out, 'Mul');
    if (mx && otherOperand(mx, out) === x) return { nodes: [ma, mx], y: mx.outputs[0]! };
    return undefined;
  }
  // (x·0.5)·a
  const mh = ix.prod.get(other);
  if (!mh || mh.domain !== '' || mh.op !== 'Mul' || !otherIsConst(g, mh, x, 0.5, true) || !soleReader(g, ix, other, ma)) return undefined;
  return { nodes: [mh, ma], y: out };
}

/** The x of Div(x, √2) / Mul(x, 1/√2) producing `u` (read by `erf` alone). */
function erfArgument(g: Graph, ix: GraphIndex, u: string, erf: Node): [Node, string] | undefined {
  const p = producer(ix, u, 'Div', 'Mul');
  if (!p || !soleReader(g, ix, u, erf)) return undefined;
  const [a, b] = p.inputs;
  if (p.op === 'Div') return a && scalarConst(g, b) === Math.fround(SQRT2) ? [p, a] : undefined;
  if (a && scalarConst(g, b) === Math.fround(SQRT1_2)) return [p, a];
  if (b && scalarConst(g, a) === Math.fround(SQRT1_2)) return [p, b];
  return undefined;
}

/** The x of √(2/π)·(x + 0.044715·x³) producing `v` (read by `tanh` alone), and its nodes. */
function tanhArgument(g: Graph, ix: GraphIndex, v: string, tanh: Node): [Node[], string] | undefined {
  const m1 = producer(ix, v, 'Mul');
  if (!m1 || !soleReader(g, ix, v, tanh)) return undefined;
  const [a, b] = m1.inputs;
  const inner = scalarConst(g, b) === Math.fround(TANH_C) ? a : scalarConst(g, a) === Math.fround(TANH_C) ? b : undefined;
  const add = producer(ix, inner, 'Add');
  if (!inner || !add || !soleReader(g, ix, inner, m1)) return undefined;
  for (const [x, c] of [
    [add.inputs[0], add.inputs[1]],
    [add.inputs[1], add.inputs[0]],
  ] as const) {
    if (!x || !c) continue;
    const mc = producer(ix, c, 'Mul');
    if (!mc || !soleReader(g, ix, c, add)) continue;
    const [p, q] = mc.inputs;
    const cube = scalarConst(g, q) === Math.fround(CUBIC) ? p : scalarConst(g, p) === Math.fround(CUBIC) ? q : undefined;
    if (!cube || !soleReader(g, ix, cube, mc)) continue;
    const cn = cubeOf(g, ix, cube, x);
    if (cn) return [[...cn, mc, add, m1], x];
  }
  return undefined;
}

/** The nodes computing x³ into `c`: Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x). */
function cubeOf(g: Graph, ix: GraphIndex, c: string, x: string): Node[] | undefined {
  const p = producer(ix, c, 'Pow', 'Mul');
  if (!p) return undefined;
  if (p.op === 'Pow') return p.inputs[0] === x && otherIsConst(g, p, x, 3, false) ? [p] : undefined;
  const sq = otherOperand(p, x);
  if (!sq || sq === x) return undefined;
  const s = producer(ix, sq, 'Mul');
  if (!s || s.inputs[0] !== x || s.inputs[1] !== x || !soleReader(g, ix, sq, p)) return undefined;
  return [s, p];
}

function fuseGelu(g: Graph, ix: GraphIndex, f: Node): boolean {
  const arg = f.inputs[0];
  if (!arg || !isF32(g, arg)) return false;
  let pre: Node[];
  let x: string;
  if (f.op === 'Erf') {
    const e = erfArgument(g, ix, arg, f);
    if (!e) return false;
    pre = [e[0]];
    x = e[1];
  } else {
    const t = tanhArgument(g, ix, arg, f);
    if (!t) return false;
    pre = t[0];
    x = t[1];
  }
  const xd = staticDims(g, x);
  if (!xd || !isF32(g, x)) return false;
  const add = onlyReader(g, ix, f.outputs[0]!, 'Add');
  if (!add || !otherIsConst(g, add, f.outputs[0]!, 1, true)) return false;
  const end = halfXTimes(g, ix, x, add.outputs[0]!);
  if (!end || !sameShape(g, end.y, x)) return false;
  const nodes = [...pre, f, add, ...end.nodes];
  const approximate = f.op === 'Tanh' ? 'tanh' : 'none';
  const opset = Math.max(20, g.opsets[''] ?? 20);
  const def = resolveOp('Gelu', '', opset, f.name);
  replaceNodes(g, nodes, makeNode(`${f.name}_gelu`, 'Gelu', '', opset, [x], [end.y], { approximate }, def), ix);
  return true;
}
