// Lowerings of the transformer fusions (src/ir/fuse_patterns.ts, src/ir/fuse_attention.ts):
// sparrow.LayerNormOps and sparrow.RMSNormOps on assembly/f32ops/tnorm.ts, sparrow.Attention on
// assembly/f32/attention.ts (descriptor and offset tables written once per plan; work memory is
// the step's scratch).
import { SparrowError } from '../../errors.js';
import { elementCount } from '../../ops/types.js';
import type { Node } from '../../ir/graph.js';
import { ctxOf, reader, type F32Lower, type Lowered, type Lowering } from './lower.js';
import { broadcastIndex, normAxis } from '../../ops/ref/util.js';
import { attentionDesc, attentionTileRows, type AttentionArgs } from '../../kernels/f32_tfm.js';

const num = (n: Node, k: string, d = 0): number => (typeof n.attrs[k] === 'number' ? (n.attrs[k] as number) : d);
const list = (n: Node, k: string): number[] => (Array.isArray(n.attrs[k]) ? (n.attrs[k] as number[]) : []);

/** Rows of the last axis of value x: [outer, n]. */
function rows(L: F32Lower, x: string): [number, number] {
  const d = L.dims(x);
  const n = d.length ? d[d.length - 1]! : 1;
  return [n ? elementCount(d) / n : 0, n];
}

function vecPtr(L: F32Lower, name: string | undefined, n: number): number | string {
  if (!name) return 0;
  const t = L.constOf(name);
  if (!t || t.dtype !== 'float32' || t.data.length !== n) return 'a weight is not a constant of the row length';
  return L.constPtr(t);
}

function lowerLayerNormOps(n: Node, L: F32Lower): Lowered | string {
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  if (!L.f32(x) || !L.f32(y)) return 'not float32';
  const [outer, len] = rows(L, x);
  const wp = vecPtr(L, n.inputs[1], len),
    bp = vecPtr(L, n.inputs[2], len);
  if (typeof wp === 'string') return wp;
  if (typeof bp === 'string') return bp;
  const eps = num(n, 'epsilon');
  const ex = L.ex;
  return {
    kind: 'kernel',
    inPlace: [0],
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y);
      return () => ex.f32_layernorm_ops__wasmsimd(xp, wp, bp, yp, outer, len, eps);
    },
  };
}

function lowerRmsNormOps(n: Node, L: F32Lower): Lowered | string {
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  if (!L.f32(x) || !L.f32(y)) return 'not float32';
  const [outer, len] = rows(L, x);
  const wp = vecPtr(L, n.inputs[1], len);
  if (typeof wp === 'string') return wp;
  const eps = num(n, 'epsilon'),
    mode = num(n, 'mode');
  const ex = L.ex;
  return {
    kind: 'kernel',
    inPlace: [0],
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y);
      return () => ex.f32_rmsnorm_ops__wasmsimd(xp, wp, yp, outer, len, eps, mode);
    },
  };
}

function lowerAttention(n: Node, L: F32Lower): Lowered | string {
  const [q, k, v, m] = n.inputs;
  const y = n.outputs[0]!;
  if (!q || !k || !v || ![q, k, v, y].every((s) => L.f32(s))) return 'operands are not float32';
  const Tq = num(n, 'Tq'),
    Tk = num(n, 'Tk'),
    hd = num(n, 'hd'),
    hv = num(n, 'hv'),
    nb = num(n, 'nb');
  const mode = num(n, 'mask_mode');
  if (mode && !m) return 'the mask is missing';
  const tables = ['q_off', 'k_off', 'v_off', 'o_off', 'm_off'].map((key) => list(n, key));
  if (tables.slice(0, 4).some((t) => t.length !== nb) || (mode && tables[4]!.length !== nb)) {
    throw new SparrowError('internal', `attention node '${n.name}': offset tables disagree with ${nb} batches`);
  }
  const args: AttentionArgs = {
    nb,
    Tq,
    Tk,
    hd,
    hv,
    ldq: num(n, 'ldq'),
    ldk: num(n, 'ldk'),
    ldv: num(n, 'ldv'),
    ldo: num(n, 'ldo'),
    maskMode: mode,
    ldm: num(n, 'ldm'),
    mcs: num(n, 'mcs'),
    scaleMode: num(n, 'scale_mode'),
    scale: num(n, 'scale', 1),
    qScaleMode: num(n, 'q_scale_mode'),
    qScale: num(n, 'q_scale', 1),
    fill: num(n, 'fill'),
    qOff: tables[0]!,
    kOff: tables[1]!,
    vOff: tables[2]!,
    oOff: tables[3]!,
    mOff: tables[4]!,
  };
  const desc = attentionDesc(args, attentionTileRows(Tq, Tk), (t) => L.putI32(t));
  const d = L.putI32(desc);
  const ex = L.ex;
  const work = ex.f32_attention_work_bytes(d);
  const ptrOf = (name: string, b: { ptr(s: string): number }): number => {
    const c = L.constOf(name);
    if (!c) return b.ptr(name);
    return c.dtype === 'float32' ? L.constPtr(c) : L.P.mem.putBytes(c.data);
  };
  return {
    kind: 'kernel',
    scratch: work,
    build: (b) => {
      const qp = ptrOf(q, b),
        kp = ptrOf(k, b),
        vp = ptrOf(v, b),
        mp = mode ? ptrOf(m!, b) : 0,
        yp = b.ptr(y),
        wp = b.scratch;
      return () => {
        const st = ex.f32_attention__wasmsimd(d, qp, kp, vp, mp, yp, wp);
        if (st < 0) throw new SparrowError('internal', `attention node '${n.name}': inconsistent descriptor (status ${st})`);
      };
    },
  };
}

/** ONNX RMSNormalization (opset 23, stash_type 1): the rmsnorm kernel in mode 1 (X / RMS, the op's function body), then · scale. */
function lowerRmsNormalization(n: Node, L: F32Lower): Lowered | string {
  const x = n.inputs[0]!,
    sName = n.inputs[1]!,
    y = n.outputs[0]!;
  if (!L.f32(x) || !L.f32(sName) || !L.f32(y)) return 'not float32';
  const r = reader(n);
  if (r.int('stash_type', 1) !== 1) return 'stash_type is not 1';
  const eps = r.float('epsilon', 1e-5);
  const d = L.dims(x);
  const axis = normAxis(r.int('axis', -1), d.length, n.op, ctxOf(n));
  const innerDims = d.slice(axis),
    inner = elementCount(innerDims),
    outer = elementCount(d.slice(0, axis));
  // the scale as one row of `inner` floats: a constant broadcast over the normalized dims, or a fed row
  const sd = L.dims(sName);
  const off = d.length - sd.length;
  if (sd.some((v, i) => i + off < axis && v !== 1)) return 'scale varies outside the normalized axes';
  const tail = sd.slice(Math.max(0, axis - off));
  const sc = L.constOf(sName);
  let sp = -1;
  if (sc) {
    const map = broadcastIndex(tail, innerDims);
    const src = sc.data as Float32Array;
    sp = L.putF32(Float32Array.from({ length: inner }, (_, i) => src[map ? map[i]! : i]!));
  } else if (elementCount(sd) !== inner) return 'a fed scale broadcasts within the normalized axes';
  const ex = L.ex;
  return {
    kind: 'kernel',
    inPlace: [0],
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y),
        wp = sp >= 0 ? sp : b.ptr(sName);
      return () => ex.f32_rmsnorm_ops__wasmsimd(xp, wp, yp, outer, inner, eps, 1);
    },
  };
}

export const TRANSFORMER_OPS: Record<string, Lowering> = { RMSNormalization: lowerRmsNormalization };

export const TRANSFORMER: Record<string, Lowering> = {
  LayerNormOps: lowerLayerNormOps,
  RMSNormOps: lowerRmsNormOps,
  Attention: lowerAttention,
};
