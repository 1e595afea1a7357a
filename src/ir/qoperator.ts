// A model quantized in onnxruntime's "QOperator" form rewritten into the QDQ form that
// src/ir/qdq.ts (extractQdq) reads, so that the int8 engine runs it on its int8 kernels with the
// model's own parameters. Run it only for the int8 engine's graph (and `sparrow compress`): the
// float engines run the operators themselves (src/ops/ref/quant.ts).
//
//   QLinearConv(x, xs, xz, w, ws, wz, ys, yz, B)      2-D convolution, x 4-D
//     → QuantizeLinear(Conv(DequantizeLinear(x, xs, xz), DequantizeLinear(w', ws, 0, axis 0),
//                           DequantizeLinear(B, fround(xs·ws[c]), 0, axis 0)), ys, yz)
//   QLinearMatMul(a, as, az, b, bs, bz, ys, yz)        a 2-D activation, b 2-D constant
//     → QuantizeLinear(MatMul(DequantizeLinear(a, as, az), DequantizeLinear(b', bs, 0, axis 1)), ys, yz)
//   direct 8-bit ops between them (MaxPool, Reshape, Flatten, Transpose, Squeeze, Unsqueeze,
//   Identity) on a tensor a QuantizeLinear wrote with scalar (s, z)
//     → QuantizeLinear(op(DequantizeLinear(t, s, z)), s, z)   (exact: they move or compare values)
//   dynamic quantization (onnxruntime's quantize_dynamic):
//     DynamicQuantizeLinear(x) → (q, s, z); ConvInteger(q, w, z, wz) or MatMulInteger(q, w, z, wz)
//       → Cast(to float) → Mul(·, Mul(s, ws))
//     → Conv(x, DequantizeLinear(w', ws, 0)) / MatMul(x, DequantizeLinear(w', ws, 0)), whose input
//       the int8 engine quantizes per run (its dynamic mode, with DynamicQuantizeLinear's
//       parameters when its requantization is 'onnx').
// Weights: int8 with zero point 0 as they are; uint8 with zero point 128 (every channel) as the
// int8 w' = w − 128 with zero point 0 (the same real values); other zero points are not the int8
// kernels' symmetric weights, and such a node stays as it is. The int32 bias keeps its values:
// its DequantizeLinear folds to the float bias fround(B·fround(xs·ws[c])), from which the
// engine's int32 bias round(b / fround(xs·ws[c])) is B again (for |B| < 2^23).
// What the rewrite needs is constant: weights, scales, zero points (scalar for activations), the
// bias; a node with anything else (or a shape the int8 kernels do not take) stays as it is and
// runs its reference kernel: correct, only not on the int8 kernels.
// onnxruntime's com.microsoft operators (QLinearAdd, QGemm, QLinearGlobalAveragePool...) are not
// imported by Sparrow (no reference kernels), so they never reach this pass.
import type { Tensor, TensorDType } from '../ops/types.js';
import { resolveOp } from '../ops/registry.js';
import { consumers, producers, topoSort, type Graph, type Node } from './graph.js';

export interface QOperatorReport {
  /** QLinearConv / QLinearMatMul nodes rewritten */
  qlinear: number;
  /** ConvInteger / MatMulInteger (+ Cast + Mul) groups rewritten */
  integer: number;
  /** direct 8-bit ops (MaxPool, Reshape...) put between DequantizeLinear and QuantizeLinear */
  direct: number;
  /** QOperator nodes left as they are, with the reason */
  kept: Array<{ node: string; op: string; reason: string }>;
}

const DIRECT_OPS = new Set(['MaxPool', 'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity']);
const fr = Math.fround;

const isOp = (n: Node, op: string): boolean => n.domain === '' && n.op === op;

/** Rewrites `g` in place (see the header). */
export function lowerQOperator(g: Graph): QOperatorReport {
  const report: QOperatorReport = { qlinear: 0, integer: 0, direct: 0, kept: [] };
  if (!g.nodes.some((n) => n.domain === '' && QOP_NODES.has(n.op))) return report;
  const ctx = new Rewriter(g);
  const out: Node[] = [];
  const removed = new Set<Node>();
  for (const n of g.nodes) {
    if (removed.has(n)) continue;
    let r: Node[] | string | undefined;
    if (isOp(n, 'QLinearConv')) r = ctx.qlinearConv(n);
    else if (isOp(n, 'QLinearMatMul')) r = ctx.qlinearMatMul(n);
    else if (n.domain === '' && DIRECT_OPS.has(n.op)) r = ctx.direct(n);
    else if (isOp(n, 'ConvInteger') || isOp(n, 'MatMulInteger')) r = ctx.integer(n, removed);
    if (Array.isArray(r)) {
      out.push(...r);
      if (isOp(n, 'QLinearConv') || isOp(n, 'QLinearMatMul')) report.qlinear++;
      else if (DIRECT_OPS.has(n.op)) report.direct++;
      else report.integer++;
    } else {
      if (typeof r === 'string') report.kept.push({ node: n.name, op: n.op, reason: r });
      out.push(n);
    }
  }
  g.nodes = out.filter((n) => !removed.has(n));
  ctx.dropDead();
  topoSort(g);
  return report;
}

const QOP_NODES = new Set(['QLinearConv', 'QLinearMatMul', 'ConvInteger', 'MatMulInteger']);

class Rewriter {
  readonly #names: Set<string>;
  readonly #users: Map<string, Node[]>;
  readonly #producer: Map<string, Node>;
  /** DequantizeLinear outputs made, by `${x}|${s}|${z}` */
  readonly #dq = new Map<string, string>();
  /** values the rewrite stopped reading (candidates for removal) */
  readonly #orphans = new Set<string>();
  readonly #qOpset: number;

  constructor(readonly g: Graph) {
    this.#names = new Set([...g.values.keys(), ...g.nodes.map((n) => n.name)]);
    this.#users = consumers(g);
    this.#producer = producers(g);
    // per-axis DequantizeLinear needs opset 13
    this.#qOpset = Math.max(13, g.opsets[''] ?? 13);
  }

  #fresh(base: string): string {
    let name = base;
    for (let i = 1; this.#names.has(name); i++) name = `${base}_${i}`;
    this.#names.add(name);
    return name;
  }

  #const(base: string, t: Tensor): string {
    const name = this.#fresh(base);
    this.g.values.set(name, { name, info: { dtype: t.dtype, dims: [...t.dims] }, const: t });
    return name;
  }

  #value(base: string, dtype: TensorDType, like: string): string {
    const name = this.#fresh(base);
    const dims = this.g.values.get(like)?.info.dims;
    this.g.values.set(name, { name, info: { dtype, dims: dims ? [...dims] : null } });
    return name;
  }

  /** A node named `base` (made unique), or exactly `keep` (the name of the node it replaces). */
  #node(op: string, inputs: string[], outputs: string[], attrs: Record<string, unknown>, opset: number, base: string, keep?: string): Node {
    const name = keep ?? this.#fresh(base);
    return { name, op, domain: '', opset, inputs, outputs, attrs: attrs as Node['attrs'], def: resolveOp(op, '', opset, name) };
  }

  #constOf(name: string | undefined): Tensor | undefined {
    return name ? this.g.values.get(name)?.const : undefined;
  }

  /** A scalar float32 scale > 0, or undefined. */
  #scale(name: string | undefined): number | undefined {
    const t = this.#constOf(name);
    if (!t || t.dtype !== 'float32' || t.data.length !== 1) return undefined;
    const v = (t.data as Float32Array)[0]!;
    return v > 0 && Number.isFinite(v) ? v : undefined;
  }

  /** A scalar uint8/int8 zero point (absent: uint8 0), or undefined. */
  #zeroPoint(name: string | undefined): { dtype: 'uint8' | 'int8'; v: number } | undefined {
    if (!name) return { dtype: 'uint8', v: 0 };
    const t = this.#constOf(name);
    if (!t || (t.dtype !== 'uint8' && t.dtype !== 'int8') || t.data.length !== 1) return undefined;
    return { dtype: t.dtype, v: Number(t.data[0]) };
  }

  /** DequantizeLinear(x, s, z) → a float32 value (one per (x, s, z)). */
  #dequantize(x: string, s: string, z: string, nodes: Node[]): string {
    const key = `${x}|${s}|${z}`;
    const have = this.#dq.get(key);
    if (have) return have;
    const y = this.#value(`${x}_DequantizeLinear_Output`, 'float32', x);
    nodes.push(this.#node('DequantizeLinear', z ? [x, s, z] : [x, s], [y], {}, this.#qOpset, `${x}_DequantizeLinear`));
    this.#dq.set(key, y);
    return y;
  }

  /**
   * A constant int8/uint8 weight w with zero point wz (scalar or one per channel along `axis`) and
   * float32 scales ws (scalar or `channels` values) → DequantizeLinear(w', ws, 0) of the int8 w',
   * or the reason it cannot be.
   */
  #weight(w: string, ws: string, wz: string, axis: number, nodes: Node[]): string {
    const W = this.#constOf(w),
      S = this.#constOf(ws),
      Z = wz ? this.#constOf(wz) : undefined;
    if (!W || (W.dtype !== 'int8' && W.dtype !== 'uint8')) return 'reason: the weight is not an int8/uint8 constant';
    const C = W.dims[axis]!;
    if (!S || S.dtype !== 'float32' || (S.data.length !== 1 && S.data.length !== C))
      return 'reason: weight scales are not a float32 constant (scalar or per channel)';
    if ((S.data as Float32Array).some((v) => !(v > 0) || !Number.isFinite(v))) return 'reason: a weight scale is not positive and finite';
    if (wz && !Z) return 'reason: the weight zero point is not a constant';
    if (Z && (Z.dtype !== W.dtype || (Z.data.length !== 1 && Z.data.length !== C)))
      return 'reason: weight zero points do not match the weight';
    const zs = Z ? Array.from(Z.data as ArrayLike<number>, Number) : [0];
    const want = W.dtype === 'uint8' ? 128 : 0;
    if (zs.some((v) => v !== want))
      return `reason: weight zero point ${zs.find((v) => v !== want)} (the int8 kernels take symmetric weights: int8 with 0, uint8 with 128)`;
    const q = W.dtype === 'int8' ? w : this.#const(`${w}_int8`, shifted(W));
    const perChannel = S.data.length !== 1;
    const zero = this.#const(`${w}_zero_point`, {
      dtype: 'int8',
      dims: perChannel ? [C] : [],
      data: new Int8Array(perChannel ? C : 1),
    });
    const y = this.#value(`${w}_DequantizeLinear_Output`, 'float32', w);
    this.g.values.get(y)!.info.dims = [...W.dims];
    nodes.push(this.#node('DequantizeLinear', [q, ws, zero], [y], perChannel ? { axis } : {}, this.#qOpset, `${w}_DequantizeLinear`));
    if (wz) this.#orphans.add(wz);
    if (q !== w) this.#orphans.add(w);
    return y;
  }

  /** The activation operands' parameters: scalar constant scales and zero points. */
  #actParams(pairs: Array<[string | undefined, string | undefined]>): string | undefined {
    for (const [s, z] of pairs) {
      if (this.#scale(s) === undefined) return `the scale ${s ?? ''} is not a positive scalar float32 constant`;
      if (!this.#zeroPoint(z)) return `the zero point ${z ?? ''} is not a scalar uint8/int8 constant`;
    }
    return undefined;
  }

  #rank(name: string): number {
    return this.g.values.get(name)?.info.dims?.length ?? -1;
  }

  qlinearConv(n: Node): Node[] | string {
    const [x, xs, xz, w, ws, wz, ys, yz, B] = n.inputs;
    const y = n.outputs[0]!;
    if (!x || !xs || !w || !ws || !ys) return 'missing inputs';
    const bad = this.#actParams([
      [xs, xz],
      [ys, yz],
    ]);
    if (bad) return bad;
    if (this.#rank(x) !== 4) return 'not a 2-D convolution (the int8 kernels are 2-D)';
    const W = this.#constOf(w);
    if (!W || W.dims.length !== 4) return 'the weight is not a 4-D constant';
    const M = W.dims[0]!;
    const b = B ? this.#constOf(B) : undefined;
    if (B && (!b || b.dtype !== 'int32' || b.data.length !== M)) return 'the bias is not an int32 constant of one value per output channel';
    const nodes: Node[] = [];
    const wf = this.#weight(w, ws, wz ?? '', 0, nodes);
    if (wf.startsWith('reason: ')) return wf.slice(8);
    let bf = '';
    if (B) {
      const sx = this.#scale(xs)!,
        sw = this.#constOf(ws)!.data as Float32Array;
      const scale = Float32Array.from({ length: M }, (_, c) => fr(sx * sw[sw.length === 1 ? 0 : c]!));
      const bs = this.#const(`${B}_scale`, { dtype: 'float32', dims: [M], data: scale });
      const bz = this.#const(`${B}_zero_point`, { dtype: 'int32', dims: [M], data: new Int32Array(M) });
      bf = this.#value(`${B}_DequantizeLinear_Output`, 'float32', B);
      nodes.push(this.#node('DequantizeLinear', [B, bs, bz], [bf], { axis: 0 }, this.#qOpset, `${B}_DequantizeLinear`));
    }
    const xf = this.#dequantize(x, xs, xz ?? '', nodes);
    const yf = this.#value(`${y}_QuantizeLinear_Input`, 'float32', y);
    const attrs: Record<string, unknown> = {};
    for (const k of ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides']) if (k in n.attrs) attrs[k] = n.attrs[k];
    nodes.push(this.#node('Conv', bf ? [xf, wf, bf] : [xf, wf], [yf], attrs, n.opset, n.name, n.name));
    const q = this.#node('QuantizeLinear', yz ? [yf, ys, yz] : [yf, ys], [y], {}, this.#qOpset, `${y}_QuantizeLinear`);
    nodes.push(q);
    this.#producer.set(y, q); // a direct 8-bit op reading y finds its parameters
    return nodes;
  }

  qlinearMatMul(n: Node): Node[] | string {
    const [a, as, az, b, bs, bz, ys, yz] = n.inputs;
    const y = n.outputs[0]!;
    if (!a || !as || !b || !bs || !ys) return 'missing inputs';
    if (this.#constOf(a)) return 'A is a constant (the int8 layers read an activation times a constant B)';
    const B = this.#constOf(b);
    if (!B) return 'B is not a constant';
    if (this.#rank(a) !== 2 || B.dims.length !== 2) return 'A and B are not 2-D (the int8 FC kernels are 2-D)';
    const bad = this.#actParams([
      [as, az],
      [ys, yz],
    ]);
    if (bad) return bad;
    const nodes: Node[] = [];
    const bf = this.#weight(b, bs, bz ?? '', 1, nodes);
    if (bf.startsWith('reason: ')) return bf.slice(8);
    const af = this.#dequantize(a, as, az ?? '', nodes);
    const yf = this.#value(`${y}_QuantizeLinear_Input`, 'float32', y);
    nodes.push(this.#node('MatMul', [af, bf], [yf], {}, n.opset, n.name, n.name));
    const q = this.#node('QuantizeLinear', yz ? [yf, ys, yz] : [yf, ys], [y], {}, this.#qOpset, `${y}_QuantizeLinear`);
    nodes.push(q);
    this.#producer.set(y, q); // a direct 8-bit op reading y finds its parameters
    return nodes;
  }

  /** A direct 8-bit op on a tensor a QuantizeLinear with scalar constant parameters wrote; undefined: not one. */
  direct(n: Node): Node[] | undefined {
    const t = n.inputs[0],
      u = n.outputs[0];
    if (!t || !u || n.outputs.filter((o) => o).length !== 1) return undefined;
    const q = this.#producer.get(t);
    if (!q || !isOp(q, 'QuantizeLinear') || q.outputs[0] !== t) return undefined;
    const [, s, z] = q.inputs;
    if (this.#scale(s) === undefined || !this.#zeroPoint(z) || this.g.outputs.includes(u)) return undefined;
    const td = this.g.values.get(t)?.info.dtype;
    if ((td !== 'uint8' && td !== 'int8') || this.g.values.get(u)?.info.dtype !== td) return undefined;
    const nodes: Node[] = [];
    const tf = this.#dequantize(t, s!, z ?? '', nodes);
    const uf = this.#value(`${u}_QuantizeLinear_Input`, 'float32', u);
    nodes.push({ ...n, inputs: [tf, ...n.inputs.slice(1)], outputs: [uf] });
    const qn = this.#node('QuantizeLinear', z ? [uf, s!, z] : [uf, s!], [u], {}, this.#qOpset, `${u}_QuantizeLinear`);
    nodes.push(qn);
    this.#producer.set(u, qn);
    return nodes;
  }

  /**
   * ConvInteger / MatMulInteger reading DynamicQuantizeLinear(x) and read by Cast(to float) →
   * Mul(·, Mul(s, ws)) (onnxruntime's quantize_dynamic) → Conv / MatMul(x, DequantizeLinear(w', ws))
   * writing the Mul's output; the Cast and the Mul go (`removed`). undefined: not that pattern.
   */
  integer(n: Node, removed: Set<Node>): Node[] | string | undefined {
    const conv = n.op === 'ConvInteger';
    const [q, w, z, wz] = n.inputs;
    const out = n.outputs[0]!;
    const dql = q ? this.#producer.get(q) : undefined;
    if (!q || !w || !dql || !isOp(dql, 'DynamicQuantizeLinear') || dql.outputs[0] !== q) return 'its input is not DynamicQuantizeLinear';
    const [x] = dql.inputs;
    const [, s, dz] = dql.outputs;
    if (!x || !z || z !== dz) return "its zero point is not the DynamicQuantizeLinear's";
    if (this.#rank(x) !== (conv ? 4 : 2)) return conv ? 'not a 2-D convolution' : 'A is not 2-D (the int8 FC kernels are 2-D)';
    const one = (v: string): Node | undefined => {
      const u = this.#users.get(v) ?? [];
      return u.length === 1 && !this.g.outputs.includes(v) ? u[0] : undefined;
    };
    const cast = one(out);
    if (!cast || !isOp(cast, 'Cast') || cast.attrs['to'] !== 1) return 'its output is not Cast to float';
    const mul = one(cast.outputs[0]!);
    if (!mul || !isOp(mul, 'Mul')) return 'the Cast is not read by a Mul';
    const scaleIn = mul.inputs[0] === cast.outputs[0] ? mul.inputs[1] : mul.inputs[0];
    const sm = scaleIn ? this.#producer.get(scaleIn) : undefined;
    if (!sm || !isOp(sm, 'Mul') || !sm.inputs.includes(s!)) return 'the scale is not Mul(x scale, weight scale)';
    const wsName = sm.inputs[0] === s ? sm.inputs[1] : sm.inputs[0];
    const WS = this.#constOf(wsName);
    const W = this.#constOf(w);
    if (!WS || WS.dtype !== 'float32' || !W) return 'the weight or its scale is not a constant';
    const axis = conv ? 0 : 1;
    const C = W.dims[axis]!;
    // the scale broadcasts over the output (N, C, H, W) / (M, C): one value, or C along the channel axis
    const outRank = conv ? 4 : 2,
      chan = 1;
    const off = outRank - WS.dims.length;
    const along = WS.data.length === 1 || (off >= 0 && WS.dims.every((d, i) => (i + off === chan ? d === C : d === 1)));
    if (!along) return 'the weight scale is not per tensor or per output channel';
    const nodes: Node[] = [];
    const wsVec = this.#const(`${w}_scale`, {
      dtype: 'float32',
      dims: WS.data.length === 1 ? [] : [C],
      data: Float32Array.from(WS.data as Float32Array),
    });
    const wf = this.#weight(w, wsVec, wz ?? '', axis, nodes);
    if (wf.startsWith('reason: ')) {
      this.g.values.delete(wsVec);
      return wf.slice(8);
    }
    const attrs: Record<string, unknown> = {};
    if (conv)
      for (const k of ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides']) if (k in n.attrs) attrs[k] = n.attrs[k];
    const y = mul.outputs[0]!;
    nodes.push(this.#node(conv ? 'Conv' : 'MatMul', [x, wf], [y], attrs, n.opset, n.name, n.name));
    removed.add(cast);
    removed.add(mul);
    for (const v of [q, z, scaleIn!]) this.#orphans.add(v);
    return nodes;
  }

  /**
   * Removes what the rewrite left unread: Mul and DynamicQuantizeLinear nodes writing only unread
   * values it orphaned (the scale products, the dynamic quantization), and orphaned constants.
   */
  dropDead(): void {
    const g = this.g;
    for (;;) {
      const read = new Set<string>(g.outputs);
      for (const n of g.nodes) for (const i of n.inputs) if (i) read.add(i);
      const dead = g.nodes.filter(
        (n) =>
          (isOp(n, 'Mul') || isOp(n, 'DynamicQuantizeLinear')) &&
          n.outputs.some((o) => o && this.#orphans.has(o)) &&
          n.outputs.every((o) => !o || !read.has(o)),
      );
      for (const n of dead) {
        for (const o of n.outputs) if (o) g.values.delete(o);
        for (const i of n.inputs) if (i) this.#orphans.add(i);
      }
      g.nodes = g.nodes.filter((n) => !dead.includes(n));
      if (dead.length === 0) break;
    }
    const read = new Set<string>(g.outputs);
    for (const n of g.nodes) for (const i of n.inputs) if (i) read.add(i);
    for (const v of this.#orphans) if (!read.has(v) && g.values.get(v)?.const) g.values.delete(v);
  }
}

/** uint8 weights with zero point 128 as int8 (q − 128). */
function shifted(W: Tensor): Tensor {
  const src = W.data as Uint8Array;
  const q = new Int8Array(src.length);
  for (let i = 0; i < src.length; i++) q[i] = src[i]! - 128;
  return { dtype: 'int8', dims: [...W.dims], data: q };
}
