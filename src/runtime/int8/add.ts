// int8 residual Add of two same-shape activations (and a following Relu as its clamp): the
// single-multiplier form (qs8_vadd) or, for extreme scale ratios, TFLite's (qs8_add); with the
// engine's 'onnx' requantization, in float32 as DequantizeLinear → Add (→ Relu) → QuantizeLinear
// (qs8_vadd_f32: the model's own arithmetic, onnxruntime's bits).
import type { Node } from '../../ir/graph.js';
import { elementCount } from '../../ops/types.js';
import {
  ADD_PARAMS_BYTES,
  addParams,
  vaddParams,
  VADD_PARAMS_BYTES,
  writeAddParams,
  writeVaddF32Params,
  writeVaddParams,
  type AddParams,
  type VaddF32Params,
  type VaddParams,
} from '../../kernels/int8.js';
import { qs8AddRef, qs8VaddF32Ref, qs8VaddRef } from '../../kernels/int8_ref.js';
import type { QParams } from '../plan_builder.js';
import { clampI8, type Int8Lower } from './lower.js';

export function lowerAdd(n: Node, L: Int8Lower): string | true {
  const [a, b] = n.inputs as [string, string];
  let y = n.outputs[0]!;
  if (!L.form.has(a) || !L.form.has(b)) return 'an input is not a float activation';
  const d = L.dims(y);
  const same = (v: string): boolean => L.dims(v).length === d.length && L.dims(v).every((x, i) => x === d[i]);
  if (!same(a) || !same(b)) return 'broadcasting Add';
  // a following Relu, when it is the only reader of the sum, becomes the output clamp
  let relu: Node | undefined;
  const users = L.users.get(y) ?? [];
  if (users.length === 1 && users[0]!.op === 'Relu' && users[0]!.domain === '' && !L.g.outputs.includes(y)) relu = users[0]!;
  // 'onnx': a sum the model quantizes is rounded before its Relu (no fusion across it), unless
  // the Relu's output has the same parameters (then the clamp at the zero point is the same bits)
  if (relu && L.E.requant === 'onnx' && L.rangeQp(y)) {
    const a = L.rangeQp(y)!,
      b = L.rangeQp(relu.outputs[0]!);
    if (!b || a.scale !== b.scale || a.zp !== b.zp) relu = undefined;
  }
  const out = relu ? relu.outputs[0]! : y;
  const yqp = L.rangeQp(out);
  if (!yqp) return 'no static range for the output';
  const ai = L.need(a, 'i8'),
    bi = L.need(b, 'i8');
  if (!ai || !bi) return 'an input has no static range';
  const pa = L.qp.get(ai)!,
    pb = L.qp.get(bi)!;
  if (L.E.requant === 'onnx') return lowerAddF32(n, L, relu, y, out, ai, bi, { pa, pb, yqp });
  // the single-multiplier form (qs8_vadd: i32 only, ~4x faster) unless an input scale is
  // over 2^21 × the output's; then the TFLite form (qs8_add)
  let pv: VaddParams | undefined, p: AddParams | undefined;
  try {
    pv = vaddParams(pa.scale, pa.zp, pb.scale, pb.zp, yqp.scale, yqp.zp, !!relu);
  } catch {
    try {
      p = addParams(pa.scale, pa.zp, pb.scale, pb.zp, yqp.scale, yqp.zp, !!relu);
    } catch (e) {
      return `add parameters: ${(e as Error).message}`;
    }
  }
  if (relu) {
    L.skip.add(relu);
    y = out;
  }
  L.define(y, 'i8', yqp);
  const len = elementCount(d);
  const WM = L.w,
    ex = L.ex;
  const pp = L.mem.alloc(ADD_PARAMS_BYTES);
  if (pv) writeVaddParams(WM, pv, pp);
  else writeAddParams(WM, p!, pp);
  L.step(relu ? `${n.name}+${relu.name}` : n, {
    reads: [ai, bi],
    writes: [y],
    build: (bd) => {
      const ap = bd.ptr(ai),
        bp = bd.ptr(bi),
        yp = bd.ptr(y);
      if (L.scalar) {
        return pv
          ? () => WM.i8(yp, len).set(qs8VaddRef(WM.i8(ap, len), WM.i8(bp, len), pv))
          : () => WM.i8(yp, len).set(qs8AddRef(WM.i8(ap, len), WM.i8(bp, len), p!));
      }
      return pv
        ? () => {
            ex.qs8_vadd__wasmsimd(len, ap, bp, pp, yp);
          }
        : () => {
            ex.qs8_add__wasmsimd(len, ap, bp, pp, yp);
          };
    },
  });
  return true;
}

/** The Add (+ Relu) in float32 (qs8_vadd_f32), for the 'onnx' requantization. */
function lowerAddF32(
  n: Node,
  L: Int8Lower,
  relu: Node | undefined,
  y: string,
  out: string,
  ai: string,
  bi: string,
  q: { pa: QParams; pb: QParams; yqp: QParams },
): true {
  const { pa, pb, yqp } = q;
  const p: VaddF32Params = {
    za: pa.zp,
    zb: pb.zp,
    zy: yqp.zp,
    sa: pa.scale,
    sb: pb.scale,
    sy: yqp.scale,
    lo: relu ? clampI8(yqp.zp) : -128,
    hi: 127,
  };
  if (relu) {
    L.skip.add(relu);
    y = out;
  }
  L.define(y, 'i8', yqp);
  const len = elementCount(L.dims(y));
  const WM = L.w,
    ex = L.ex;
  const pp = L.mem.alloc(VADD_PARAMS_BYTES);
  writeVaddF32Params(WM, p, pp);
  L.step(relu ? `${n.name}+${relu.name}` : n, {
    reads: [ai, bi],
    writes: [y],
    build: (bd) => {
      const ap = bd.ptr(ai),
        bp = bd.ptr(bi),
        yp = bd.ptr(y);
      if (L.scalar) return () => WM.i8(yp, len).set(qs8VaddF32Ref(WM.i8(ap, len), WM.i8(bp, len), p));
      return () => {
        ex.qs8_vadd_f32__wasmsimd(len, ap, bp, pp, yp);
      };
    },
  });
  return true;
}
