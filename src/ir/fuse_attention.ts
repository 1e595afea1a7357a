// Scaled dot-product attention as exporters emit it, fused into one node (float32 engine):
//
//   [Q / c | Q · c] → MatMul(Q, Kᵀ) = S → [S · c | S / c] → [Add(·, M) | Where(M, ·, f) | Where(M, f, ·)]
//   → Softmax(last axis) = P → MatMul(P, V) = O [→ Transpose / Reshape ...]
//                                 → sparrow.Attention(q base, k base, v base, M)
//
// The operands are traced back through the data movement that produced them (views.ts): Q, K
// and V become row views of the values before the Slice / Split / Reshape / Transpose / Expand
// chains (the QKV projection's output, the KV cache), Kᵀ read transposed; the result is written
// through the Transposes and Reshapes after O when they are a bijection whose rows stay
// contiguous. Per batch (the broadcast batch dims of the scores), the node's attributes give
// the element offset of each operand's first row and the row strides (the kernel's descriptor,
// assembly/f32/attention.ts). Strict checks: scale c and fill f float32 scalar constants; M
// broadcasts to S without enlarging it (float32 for Add, bool for Where); Softmax over the last
// axis; every intermediate (Q / c, S, the scaled and masked S, P, O and the absorbed outputs)
// read by the next node of the pattern alone and no graph output; shapes static; the head
// dimension of Q and K equal, V's rows Tk. The node's reference kernel runs the matched nodes.
import { broadcastIndex } from '../ops/ref/util.js';
import { elementCount } from '../ops/types.js';
import type { Graph, Node } from './graph.js';
import {
  capturedDef,
  indexOf,
  isF32,
  makeNode,
  onlyReader,
  otherOperand,
  producer,
  replaceNodes,
  scalarConst,
  soleReader,
  staticDims,
  type GraphIndex,
} from './fuse_util.js';
import { producerIndex, rowView, traceForward, traceRowView, type MoveStep, type ProducerIndex, type TraceMemo } from './views.js';

export const FUSED = 'sparrow';

/** Fuses every attention block (see the header); returns how many. */
export function fuseAttention(g: Graph, ix: GraphIndex = indexOf(g)): number {
  let count = 0;
  // ix is kept current by replaceNodes; the producer index (with output positions) and the
  // traces of repeated movement chains (one per layer) are rebuilt / memoized per rewrite
  const ctx: FuseCtx = { prod: producerIndex(g), traces: new Map() };
  for (const n of [...g.nodes]) {
    if (n.domain !== '' || n.op !== 'Softmax' || ix.prod.get(n.outputs[0] ?? '') !== n) continue;
    if (fuseOne(g, ix, ctx, n)) {
      count++;
      ctx.prod = producerIndex(g);
    }
  }
  return count;
}

/** Softmax over the last axis of a statically shaped float32 tensor of rank ≥ 2. */
function lastAxisSoftmax(g: Graph, sm: Node): boolean {
  const d = staticDims(g, sm.inputs[0]);
  if (!d || d.length < 2 || !isF32(g, sm.inputs[0])) return false;
  const a = sm.attrs['axis'];
  const axis = typeof a === 'number' ? a : sm.opset < 13 ? 1 : -1;
  return axis === -1 || axis === d.length - 1;
}

/** Row strides of a mask of dims `md` broadcast to scores [...batch, Tq, Tk]: per-batch offsets, row and column strides. */
function maskView(md: readonly number[], sd: readonly number[]): { offsets: number[]; ldm: number; mcs: number } | undefined {
  const R = sd.length;
  if (md.length > R) return undefined;
  const pad = [...new Array<number>(R - md.length).fill(1), ...md];
  if (pad.some((v, i) => v !== 1 && v !== sd[i])) return undefined;
  const strides = new Array<number>(R);
  let s = 1;
  for (let i = R - 1; i >= 0; i--) {
    strides[i] = pad[i] === 1 ? 0 : s;
    s *= pad[i]!;
  }
  const batch = sd.slice(0, -2);
  const offsets: number[] = [];
  const idx = new Array<number>(batch.length).fill(0);
  for (let t = 0; t < elementCount(batch); t++) {
    offsets.push(idx.reduce((a, v, i) => a + v * strides[i]!, 0));
    for (let k = batch.length - 1; k >= 0; k--) {
      if (++idx[k]! < batch[k]!) break;
      idx[k] = 0;
    }
  }
  return { offsets, ldm: strides[R - 2]!, mcs: strides[R - 1]! };
}

function sameDims(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  return !!a && !!b && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** x and c of Mul(x, c), Mul(c, x) or Div(x, c) with c a float32 scalar constant and x not one. */
function scaled(g: Graph, n: Node): { x: string; c: number } | undefined {
  const [a, b] = n.inputs;
  if (!a || !b) return undefined;
  const ca = scalarConst(g, a),
    cb = scalarConst(g, b);
  if (cb !== undefined && ca === undefined) return { x: a, c: cb };
  if (n.op === 'Mul' && ca !== undefined && cb === undefined) return { x: b, c: ca };
  return undefined;
}

/** `x` (read by `reader` alone) is MatMul's output, or a scalar Mul / Div of one read by it alone. */
function leadsToScores(g: Graph, ix: GraphIndex, x: string | undefined, reader: Node): boolean {
  if (!x || !soleReader(g, ix, x, reader)) return false;
  if (producer(ix, x, 'MatMul')) return true;
  const p = producer(ix, x, 'Mul', 'Div');
  const sc = p ? scaled(g, p) : undefined;
  return !!p && !!sc && !!producer(ix, sc.x, 'MatMul') && soleReader(g, ix, sc.x, p);
}

/** Offsets of an operand's batches spread over the scores' batch dims (numpy broadcasting of MatMul). */
function spread(offsets: number[], opDims: readonly number[], batch: readonly number[]): number[] {
  const ob = opDims.slice(0, -2);
  const pad = [...new Array<number>(Math.max(0, batch.length - ob.length)).fill(1), ...ob];
  const map = broadcastIndex(pad, batch);
  return Array.from({ length: elementCount(batch) }, (_, t) => offsets[map ? map[t]! : t]!);
}

interface FuseCtx {
  prod: ProducerIndex;
  traces: TraceMemo;
}

function fuseOne(g: Graph, ix: GraphIndex, fc: FuseCtx, sm: Node): boolean {
  if (!lastAxisSoftmax(g, sm)) return false;
  const nodes: Node[] = [sm];
  // P → MatMul(P, V)
  const P = sm.outputs[0]!;
  const mm2 = onlyReader(g, ix, P, 'MatMul');
  if (!mm2 || mm2.inputs[0] !== P) return false;
  const V = mm2.inputs[1]!,
    O = mm2.outputs[0]!;
  // back from the softmax input: mask, scale, S = MatMul(Q, Kᵀ)
  let cur = sm.inputs[0]!;
  let maskMode = 0,
    mask = '',
    fill = 0;
  const back = (ops: string[]): Node | undefined => {
    const p = producer(ix, cur, ...ops);
    const reader = nodes[nodes.length - 1]!;
    return p && soleReader(g, ix, cur, reader) ? p : undefined;
  };
  let p = back(['Add', 'Where']);
  if (p && p.op === 'Where') {
    const [c, a, b] = p.inputs;
    const sa = scalarConst(g, a),
      sb = scalarConst(g, b);
    if (c && g.values.get(c)?.info.dtype === 'bool' && sb !== undefined && sa === undefined && a) {
      maskMode = 2;
      fill = sb;
      mask = c;
      nodes.push(p);
      cur = a;
    } else if (c && g.values.get(c)?.info.dtype === 'bool' && sa !== undefined && sb === undefined && b) {
      maskMode = 3;
      fill = sa;
      mask = c;
      nodes.push(p);
      cur = b;
    } else return false;
  } else if (p && p.op === 'Add') {
    // the scores side leads to MatMul(Q, Kᵀ), directly or through one scalar Mul / Div; the other is the mask
    const [a, b] = p.inputs;
    const s = leadsToScores(g, ix, a, p) ? a : leadsToScores(g, ix, b, p) ? b : undefined;
    const m = s === a ? b : a;
    if (!s || !m || m === s || !isF32(g, m)) return false;
    maskMode = 1;
    mask = m;
    nodes.push(p);
    cur = s;
  }
  let scaleMode = 0,
    scale = 1;
  p = back(['Mul', 'Div']);
  if (p) {
    const sc = scaled(g, p);
    if (!sc) return false;
    scaleMode = p.op === 'Mul' ? 1 : 2;
    scale = sc.c;
    nodes.push(p);
    cur = sc.x;
  }
  const mm1 = back(['MatMul']);
  if (!mm1) return false;
  nodes.push(mm1);
  let Q = mm1.inputs[0]!;
  const KT = mm1.inputs[1]!;
  // Q / c or Q · c before the product
  let qMode = 0,
    qScale = 1;
  const qp = producer(ix, Q, 'Mul', 'Div');
  const qs = qp && soleReader(g, ix, Q, mm1) ? scaled(g, qp) : undefined;
  if (qp && qs) {
    qMode = qp.op === 'Mul' ? 1 : 2;
    qScale = qs.c;
    nodes.push(qp);
    Q = qs.x;
  }
  if (!sameDims(staticDims(g, sm.inputs[0]), staticDims(g, mm1.outputs[0]))) return false;
  // shapes
  const qd = staticDims(g, Q),
    kd = staticDims(g, KT),
    vd = staticDims(g, V),
    sd = staticDims(g, mm1.outputs[0]),
    od = staticDims(g, O);
  if (!qd || !kd || !vd || !sd || !od) return false;
  if (qd.length < 2 || kd.length < 2 || vd.length < 2 || ![Q, KT, V].every((x) => isF32(g, x))) return false;
  const Tq = qd[qd.length - 2]!,
    hd = qd[qd.length - 1]!,
    Tk = kd[kd.length - 1]!,
    hv = vd[vd.length - 1]!;
  if (kd[kd.length - 2] !== hd || vd[vd.length - 2] !== Tk || Tk < 1 || hv < 1) return false;
  const batch = sd.slice(0, -2);
  if (od.length !== sd.length || od.slice(0, -2).some((v, i) => v !== batch[i]) || od[od.length - 2] !== Tq || od[od.length - 1] !== hv)
    return false;
  // the mask
  let mv: { offsets: number[]; ldm: number; mcs: number } | undefined;
  if (maskMode) {
    const md = staticDims(g, mask);
    if (!md) return false;
    mv = maskView(md, sd);
    if (!mv || (maskMode === 1 && !isF32(g, mask))) return false;
  }
  // operand views
  const qv = traceRowView(g, fc.prod, Q, false, fc.traces),
    kv = traceRowView(g, fc.prod, KT, true, fc.traces),
    vv = traceRowView(g, fc.prod, V, false, fc.traces);
  if (!qv || !kv || !vv) return false;
  // the output, through the movement after it when its rows stay contiguous
  let out = O,
    oOffsets: number[] | undefined,
    ldo = hv;
  const outSteps: MoveStep[] = [];
  for (const f of traceForward(g, ix.readers, O, fc.traces)) {
    const v = rowView(f.pos, od, false);
    if (v) {
      out = f.end;
      oOffsets = v.offsets;
      ldo = v.ld;
      outSteps.push(...f.steps);
      break;
    }
  }
  if (!oOffsets) oOffsets = Array.from({ length: elementCount(batch) }, (_, t) => t * Tq * hv);
  nodes.push(mm2, ...outSteps.map((s) => s.node));
  // the matched subgraph, from the views' bases on, for the reference kernel
  const sub = [...new Set([...qv.steps, ...kv.steps, ...vv.steps].map((s) => s.node))];
  const pos = (n: Node): number => g.nodes.indexOf(n);
  const captured = [...new Set([...sub, ...nodes])].sort((a, b) => pos(a) - pos(b));
  const inputs = [qv.base, kv.base, vv.base, mask];
  const info = g.values.get(out)!.info;
  const def = capturedDef(g, 'Attention', FUSED, captured, inputs, [out], [info]);
  const attrs = {
    Tq,
    Tk,
    hd,
    hv,
    nb: elementCount(batch),
    q_off: spread(qv.offsets, qd, batch),
    k_off: spread(kv.offsets, kd, batch),
    v_off: spread(vv.offsets, vd, batch),
    o_off: oOffsets,
    m_off: mv ? mv.offsets : [],
    ldq: qv.ld,
    ldk: kv.ld,
    ldv: vv.ld,
    ldo,
    ldm: mv ? mv.ldm : 0,
    mcs: mv ? mv.mcs : 0,
    mask_mode: maskMode,
    fill,
    scale_mode: scaleMode,
    scale,
    q_scale_mode: qMode,
    q_scale: qScale,
  };
  replaceNodes(g, nodes, makeNode(`${mm2.name}_attention`, 'Attention', FUSED, 1, inputs, [out], attrs, def), ix);
  return true;
}
