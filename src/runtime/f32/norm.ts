// float32 normalizations and reductions: Softmax / LogSoftmax, BatchNormalization,
// LayerNormalization, ReduceMean (assembly/f32ops/norm.ts).
import { elementCount } from '../../ops/types.js';
import { broadcastIndex, normAxes, normAxis } from '../../ops/ref/util.js';
import type { Node } from '../../ir/graph.js';
import { ctxOf, dtypeReason, reader, sameDims, xyKernel, xyStep, unaryIo, type F32Lower, type Lowered, type Lowering } from './lower.js';

function lowerSoftmax(n: Node, L: F32Lower): Lowered | string {
  const io = unaryIo(n, L);
  if (typeof io === 'string') return io;
  const { x, y } = io;
  const d = L.dims(x),
    rank = d.length;
  const r = reader(n);
  let outer = 1,
    len = 1,
    inner = 1;
  if (rank > 0) {
    if (n.opset < 13) {
      const axis = normAxis(r.int('axis', 1), rank, n.op, ctxOf(n));
      outer = elementCount(d.slice(0, axis));
      len = elementCount(d.slice(axis));
    } else {
      const axis = normAxis(r.int('axis', -1), rank, n.op, ctxOf(n));
      outer = elementCount(d.slice(0, axis));
      len = d[axis]!;
      inner = elementCount(d.slice(axis + 1));
    }
  }
  const log = n.op === 'LogSoftmax' ? 1 : 0;
  const ex = L.ex;
  return xyKernel(x, y, (xp, yp) => ex.f32_softmax__wasmsimd(xp, yp, outer, len, inner, log), true);
}

function lowerBatchNorm(n: Node, L: F32Lower): Lowered | string {
  const why = dtypeReason(n, L, [0, 1, 2, 3, 4]);
  if (why) return why;
  const r = reader(n);
  if (n.opset < 9 && r.intIn('spatial', 1, [0, 1]) === 0) return 'spatial = 0';
  if (n.opset >= 14 && r.intIn('training_mode', 0, [0, 1]) === 1) return 'training mode';
  if (n.outputs.slice(1).some((o) => o)) return 'running statistics outputs';
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const d = L.dims(x);
  if (d.length < 2) return 'rank < 2';
  const C = d[1]!;
  const pnames = n.inputs.slice(1, 5);
  if (pnames.length !== 4 || pnames.some((p) => !p || elementCount(L.dims(p)) !== C)) return 'parameter sizes differ from C';
  const eps = r.float('epsilon', 1e-5);
  const E = L,
    ex = L.ex;
  const outer = d[0]!,
    inner = elementCount(d.slice(2));
  const consts = pnames.map((p) => L.constOf(p));
  if (consts.every((t) => t)) {
    // constant parameters: y = x·s + t with s, t folded once (float64, rounded once)
    const [sc, bi, mean, vr] = consts.map((t) => t!.data as Float32Array) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const s = new Float32Array(C),
      t = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      const k = sc[c]! / Math.sqrt(vr[c]! + eps);
      s[c] = k;
      t[c] = bi[c]! - mean[c]! * k;
    }
    const sp = E.putF32(s),
      tp = E.putF32(t);
    return xyKernel(x, y, (xp, yp) => ex.f32_channel_affine__wasmsimd(xp, sp, tp, yp, outer, C, inner), true);
  }
  // fed parameters: s and t recomputed before each run of the step (C values, in JS)
  const sp = E.putF32(new Float32Array(C)),
    tp = E.putF32(new Float32Array(C));
  return xyStep(
    x,
    y,
    (xp, yp, b) => {
      const [ps, pb, pm, pv] = pnames.map((p) => b.ptr(p!) >> 2) as [number, number, number, number];
      const s0 = sp >> 2,
        t0 = tp >> 2;
      return () => {
        const F = E.heapF32;
        for (let c = 0; c < C; c++) {
          const k = F[ps + c]! / Math.sqrt(F[pv + c]! + eps);
          F[s0 + c] = k;
          F[t0 + c] = F[pb + c]! - F[pm + c]! * k;
        }
        ex.f32_channel_affine__wasmsimd(xp, sp, tp, yp, outer, C, inner);
      };
    },
    true,
  );
}

function lowerLayerNorm(n: Node, L: F32Lower): Lowered | string {
  const why = dtypeReason(n, L, [0, 1, 2], 3);
  if (why) return why;
  const r = reader(n);
  const eps = r.float('epsilon', 1e-5);
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const d = L.dims(x);
  const axis = normAxis(r.int('axis', -1), d.length, n.op, ctxOf(n));
  const outer = elementCount(d.slice(0, axis)),
    innerDims = d.slice(axis),
    inner = elementCount(innerDims);
  const E = L;
  /** A per-row vector (inner floats) for Scale / B: constants broadcast over the normalized dims only. */
  const rowVec = (name: string | undefined, what: string): number | string => {
    if (!name) return 0;
    const t = L.constOf(name);
    if (!t) {
      // fed: usable in place when it holds exactly one row (its dims are the normalized dims, after leading 1s)
      const td = L.dims(name);
      const lead = td.length - innerDims.length;
      if (lead >= 0 && td.slice(0, lead).every((v) => v === 1) && sameDims(td.slice(lead), innerDims)) return -1;
      return `${what} is fed and broadcasts within the normalized axes`;
    }
    const td = t.dims;
    const off = d.length - td.length;
    if (td.some((v, i) => i + off < axis && v !== 1)) return `${what} varies outside the normalized axes`;
    const tail = td.slice(Math.max(0, axis - off));
    const map = broadcastIndex(tail, innerDims);
    const src = t.data as Float32Array;
    return E.putF32(Float32Array.from({ length: inner }, (_, i) => src[map ? map[i]! : i]!));
  };
  const sc = rowVec(n.inputs[1], 'Scale'),
    bi = rowVec(n.inputs[2], 'B');
  if (typeof sc === 'string') return sc;
  if (typeof bi === 'string') return bi;
  const [meanName, invName] = [n.outputs[1] ?? '', n.outputs[2] ?? ''];
  const ex = L.ex;
  return {
    kind: 'kernel',
    inPlace: [0],
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y),
        mp = meanName ? b.ptr(meanName) : 0,
        ip = invName ? b.ptr(invName) : 0;
      const sp = sc === -1 ? b.ptr(n.inputs[1]!) : sc,
        bp = bi === -1 ? b.ptr(n.inputs[2]!) : bi;
      return () => ex.f32_layernorm__wasmsimd(xp, sp, bp, yp, mp, ip, outer, inner, eps);
    },
  };
}

function lowerReduceMean(n: Node, L: F32Lower): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  const r = reader(n);
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const d = L.dims(x);
  let axes: number[] | undefined;
  if (n.opset >= 18) axes = L.ints(n, 1, 'axes');
  else axes = r.ints('axes');
  if (!axes || axes.length === 0) {
    if (n.opset >= 18 && r.int('noop_with_empty_axes', 0) === 1) return { kind: 'alias' };
    axes = d.map((_, i) => i);
  }
  const ax = normAxes(axes, d.length, n.op, ctxOf(n));
  // the reduced axes (ignoring size-1 axes) must be one contiguous block
  const big = d.map((v, i) => ({ v, i })).filter((e) => e.v !== 1);
  const red = big.filter((e) => ax.includes(e.i));
  if (red.length === 0) return { kind: 'alias' };
  const firstPos = big.indexOf(red[0]!),
    lastPos = big.indexOf(red[red.length - 1]!);
  if (lastPos - firstPos + 1 !== red.length) return 'the reduced axes are not contiguous';
  const outer = elementCount(big.slice(0, firstPos).map((e) => e.v));
  const len = elementCount(red.map((e) => e.v));
  const inner = elementCount(big.slice(lastPos + 1).map((e) => e.v));
  const ex = L.ex;
  return xyKernel(x, y, (xp, yp) => ex.f32_mean__wasmsimd(xp, yp, outer, len, inner));
}

export const NORM: Record<string, Lowering> = {
  Softmax: lowerSoftmax,
  LogSoftmax: lowerSoftmax,
  BatchNormalization: lowerBatchNorm,
  LayerNormalization: lowerLayerNorm,
  ReduceMean: lowerReduceMean,
};
