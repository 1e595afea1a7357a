// A QDQ model (onnxruntime's static quantizer in QDQ format, PyTorch's exports: QuantizeLinear /
// DequantizeLinear pairs around the layers) read as what it means for an int8 engine:
//
//   weights      DequantizeLinear(W int8 const, scale const, zero point 0) feeding the weight input
//                of Conv / Gemm / MatMul → the float constant it computes, plus W and its scales
//                per output channel (symmetric int8: the engine's weight scheme, src/quant/int8.ts),
//                so the engine runs exactly those int8 weights instead of quantizing again;
//   activations  x → QuantizeLinear(s, z) → DequantizeLinear(s, z) → readers: the pair goes (its
//                readers read x) and x gets the static range whose int8 parameters
//                (int8QuantParams) are exactly (s, z); a uint8 zero point z is the int8 one z − 128
//                (q_i8 = q_u8 − 128 holds for every x);
//   biases       DequantizeLinear(b int32 const, s_x·s_w) stays: constant folding makes it the float
//                bias, from which the engine's int32 bias round(b / (s_x·s_w)) is the original one.
// The rewrite removes the fake quantization of the float graph, which is what an int8 engine does
// by storing activations as int8 with those parameters: run it only for the int8 engine's graph.
// Pairs whose parameters are not scalar constants, per-axis activation quantization, weights with
// a nonzero zero point or a scale along another axis are left as they are (they run as float ops).
// A lone QuantizeLinear / DequantizeLinear (no pair: a uint8 graph input or output) stays, and the
// float value on its side gets its range (the grid of its (s, z): stored as int8 losslessly).
import type { Tensor } from '../ops/types.js';
import { consumers, type Graph, type Node } from './graph.js';

export interface QdqInt8 {
  /** float32 weight constants (by value name) → their int8 values (layout of the constant) and scales along `axis` */
  weights: Map<string, { q: Int8Array; scales: Float32Array; axis: number }>;
  /** activation value → [min, max] whose int8QuantParams are the pair's (scale, zero point) */
  ranges: Map<string, [number, number]>;
}

const isDefault = (n: Node, op: string): boolean => n.domain === '' && n.op === op;

/** A scalar constant (or a 1-element tensor). */
function scalarOf(g: Graph, name: string | undefined): { t: Tensor; v: number } | undefined {
  const t = name ? g.values.get(name)?.const : undefined;
  if (!t || t.data.length !== 1) return undefined;
  return { t, v: Number(t.data[0]) };
}

/** The output-channel axis of a layer's weight input (input 1), or -1 when `n` is not a layer reading it there. */
function weightAxis(n: Node, name: string, rank: number): number {
  if (n.inputs[1] !== name || n.inputs[0] === name) return -1;
  if (isDefault(n, 'Conv')) return 0;
  if (isDefault(n, 'Gemm')) return n.attrs['transB'] === 1 ? 0 : 1;
  if (isDefault(n, 'MatMul')) return rank - 1;
  return -1;
}

/** Rewrites `g` in place (see the header); returns the int8 weights and activation ranges found. */
export function extractQdq(g: Graph): QdqInt8 {
  const out: QdqInt8 = { weights: new Map(), ranges: new Map() };
  let users = consumers(g);
  const drop = new Set<Node>();

  // weights
  for (const dq of g.nodes) {
    if (!isDefault(dq, 'DequantizeLinear')) continue;
    const [xN, sN, zN] = dq.inputs;
    const y = dq.outputs[0];
    const W = xN ? g.values.get(xN)?.const : undefined;
    const S = sN ? g.values.get(sN)?.const : undefined;
    if (!y || !W || W.dtype !== 'int8' || !S || S.dtype !== 'float32' || g.outputs.includes(y)) continue;
    const Z = zN ? g.values.get(zN)?.const : undefined;
    if (zN && (!Z || Array.from(Z.data as ArrayLike<number>).some((v) => Number(v) !== 0))) continue;
    const readers = users.get(y) ?? [];
    const axes = readers.map((n) => weightAxis(n, y, W.dims.length));
    if (readers.length === 0 || axes.some((a) => a < 0 || a !== axes[0])) continue;
    const axis = axes[0]!,
      C = W.dims[axis]!;
    const dqAxis = typeof dq.attrs['axis'] === 'number' ? (dq.attrs['axis'] < 0 ? dq.attrs['axis'] + W.dims.length : dq.attrs['axis']) : 1;
    const s = S.data as Float32Array;
    if (s.length !== 1 && (S.dims.length !== 1 || s.length !== C || dqAxis !== axis)) continue;
    if (typeof dq.attrs['block_size'] === 'number' && dq.attrs['block_size'] !== 0) continue;
    const scales = s.length === 1 ? new Float32Array(C).fill(s[0]!) : Float32Array.from(s);
    if (scales.some((v) => !(v > 0) || !Number.isFinite(v))) continue;
    // the float weight DequantizeLinear computes: fround(q · s[c]) (zero point 0)
    const q = W.data as Int8Array;
    const wf = new Float32Array(q.length);
    const inner = W.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < q.length; i++) wf[i] = Math.fround(q[i]! * scales[Math.floor(i / inner) % C]!);
    const v = g.values.get(y)!;
    v.const = { dtype: 'float32', dims: [...W.dims], data: wf };
    v.info = { dtype: 'float32', dims: [...W.dims] };
    out.weights.set(y, { q: Int8Array.from(q), scales, axis });
    drop.add(dq);
  }
  g.nodes = g.nodes.filter((n) => !drop.has(n));
  drop.clear();
  users = consumers(g);

  // activation pairs
  const rename = new Map<string, string>();
  for (const qn of g.nodes) {
    if (!isDefault(qn, 'QuantizeLinear') || drop.has(qn)) continue;
    const [x, sN, zN] = qn.inputs;
    const qOut = qn.outputs[0];
    if (!x || !qOut || g.values.get(x)?.const || g.outputs.includes(qOut)) continue;
    const s = scalarOf(g, sN),
      z = zN ? scalarOf(g, zN) : { t: { dtype: 'uint8' } as Tensor, v: 0 };
    if (!s || !z || s.t.dtype !== 'float32' || !(s.v > 0) || !Number.isFinite(s.v)) continue;
    if (z.t.dtype !== 'uint8' && z.t.dtype !== 'int8') continue;
    const dqs = users.get(qOut) ?? [];
    const same = (n: Node): boolean => {
      if (!isDefault(n, 'DequantizeLinear') || n.inputs[0] !== qOut) return false;
      const s2 = scalarOf(g, n.inputs[1]),
        z2 = n.inputs[2] ? scalarOf(g, n.inputs[2]) : { t: { dtype: 'uint8' } as Tensor, v: 0 };
      return !!s2 && !!z2 && s2.v === s.v && z2.v === z.v && z2.t.dtype === z.t.dtype;
    };
    if (dqs.length === 0 || !dqs.every(same)) continue;
    const zi8 = z.t.dtype === 'uint8' ? z.v - 128 : z.v;
    out.ranges.set(x, [(-128 - zi8) * s.v, (127 - zi8) * s.v]);
    for (const dq of dqs) {
      rename.set(dq.outputs[0]!, x);
      drop.add(dq);
    }
    drop.add(qn);
  }
  // a lone QuantizeLinear (the only reader of its float input) or DequantizeLinear of a
  // non-constant, with scalar constant parameters (a QOperator model's uint8 graph inputs and
  // outputs): the value it quantizes, or the one it dequantizes, takes the grid of (s, z) exactly,
  // so it is stored as int8 with them; the node stays (it runs in float, losslessly)
  const rangeOf = (n: Node): [number, number] | undefined => {
    const s = scalarOf(g, n.inputs[1]),
      z = n.inputs[2] ? scalarOf(g, n.inputs[2]) : { t: { dtype: 'uint8' } as Tensor, v: 0 };
    if (!s || !z || s.t.dtype !== 'float32' || !(s.v > 0) || !Number.isFinite(s.v)) return undefined;
    if (z.t.dtype !== 'uint8' && z.t.dtype !== 'int8') return undefined;
    const zi8 = z.t.dtype === 'uint8' ? z.v - 128 : z.v;
    return [(-128 - zi8) * s.v, (127 - zi8) * s.v];
  };
  for (const n of g.nodes) {
    if (drop.has(n)) continue;
    if (isDefault(n, 'QuantizeLinear')) {
      const x = n.inputs[0];
      if (!x || rename.has(x) || out.ranges.has(x) || g.outputs.includes(x) || g.values.get(x)?.const) continue;
      const readers = users.get(x) ?? [];
      if (readers.length !== 1 || readers[0] !== n || g.values.get(x)?.info.dtype !== 'float32') continue;
      const r = rangeOf(n);
      if (r) out.ranges.set(x, r);
    } else if (isDefault(n, 'DequantizeLinear')) {
      const [q] = n.inputs,
        y = n.outputs[0];
      if (!q || !y || out.ranges.has(y) || g.values.get(q)?.const || g.values.get(y)?.info.dtype !== 'float32') continue;
      const r = rangeOf(n);
      if (r) out.ranges.set(y, r);
    }
  }
  if (drop.size === 0) return out;
  g.nodes = g.nodes.filter((n) => !drop.has(n));
  const resolve = (v: string): string => {
    let r = v;
    while (rename.has(r)) r = rename.get(r)!;
    return r;
  };
  for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i ? resolve(i) : i));
  // a DequantizeLinear output that is a graph output keeps its name: its source is renamed to it
  g.outputs.forEach((o, k) => {
    const src = resolve(o);
    if (src === o) return;
    const producer = g.nodes.find((n) => n.outputs.includes(src));
    if (!producer || g.inputs.includes(src) || g.outputs.includes(src)) {
      g.outputs[k] = src; // a graph input read through a pair straight to an output: nothing to rename
      return;
    }
    producer.outputs = producer.outputs.map((p) => (p === src ? o : p));
    for (const n of g.nodes) n.inputs = n.inputs.map((i) => (i === src ? o : i));
    const r = out.ranges.get(src);
    if (r) {
      out.ranges.delete(src);
      out.ranges.set(o, r);
    }
    g.values.set(o, { ...g.values.get(src)!, name: o });
    g.values.delete(src);
  });
  for (const [from] of rename) if (!g.outputs.includes(from)) g.values.delete(from);
  for (const n of drop) for (const o of n.outputs) if (o && !g.outputs.includes(o) && !rename.has(o)) g.values.delete(o);
  return out;
}
