// int8 Mul of an activation by a channel scale (static ranges): [N, C, ...] × [N or 1, C, 1, ...],
// the squeeze-excite gate of MobileNetV3 / EfficientNet (x · Sigmoid(FC(GlobalAveragePool(x)))),
// in float32 as DequantizeLinear → Mul → QuantizeLinear (qs8_mul_rows_f32: the float path's bits),
// one row of the activation per channel. The self-gated Mul x · f(x) is lut.ts's; any other Mul
// (same shapes, other broadcasts) runs in float32.
import type { Node } from '../../ir/graph.js';
import { elementCount } from '../../ops/types.js';
import { VADD_PARAMS_BYTES, writeVaddF32Params } from '../../kernels/int8.js';
import { qs8MulRowsRef } from '../../kernels/int8_ref.js';
import type { Int8Lower } from './lower.js';
import { parallelPass, runParallel, splitRange } from './parallel.js';

/** A channel-scale Mul's operands: `a` the activation (M rows of K), `b` one value per row r at r mod bMod. */
export interface ChannelScale {
  a: string;
  b: string;
  M: number;
  K: number;
  bMod: number;
}

/** The channel-scale form of Mul n, or why it is not one. */
export function channelScale(n: Node, L: Pick<Int8Lower, 'dims' | 'g'>): ChannelScale | string {
  if (n.op !== 'Mul' || n.domain !== '' || n.inputs.length !== 2) return 'not a Mul of two inputs';
  const y = n.outputs[0]!;
  const yd = L.dims(y);
  if (yd.length < 3) return 'rank below 3';
  for (const [k, a] of n.inputs.entries()) {
    const b = n.inputs[1 - k]!;
    if (!a || !b || L.g.values.get(b)?.const || L.g.values.get(a)?.const) continue;
    const ad = L.dims(a),
      bd = L.dims(b);
    if (ad.length !== yd.length || !ad.every((d, i) => d === yd[i]) || bd.length !== yd.length) continue;
    const [N, C] = yd as [number, number];
    if ((bd[0] !== 1 && bd[0] !== N) || bd[1] !== C || bd.slice(2).some((d) => d !== 1)) continue;
    if (yd.slice(2).every((d) => d === 1)) continue; // both one value per channel: no scale to share
    return { a, b, M: N * C, K: elementCount(yd.slice(2)), bMod: bd[0] === 1 ? C : N * C };
  }
  return 'not a channel scale ([N, C, ...] × [N or 1, C, 1, ...])';
}

export function lowerMul(n: Node, L: Int8Lower): string | true {
  // requant 'onnx' (a QDQ model): onnxruntime fuses such a Mul into QLinearMul, whose rounding
  // differs from the unfused chain; keep the model's float Mul there
  if (L.E.requant === 'onnx') return "a Mul under requant 'onnx' (the model's own float op)";
  const cs = channelScale(n, L);
  if (typeof cs === 'string') return cs;
  const y = n.outputs[0]!;
  const yqp = L.rangeQp(y);
  if (!yqp) return 'no static range for the output';
  if (!L.form.has(cs.a) || !L.form.has(cs.b)) return 'an input is not a float activation';
  const ai = L.need(cs.a, 'i8'),
    bi = L.need(cs.b, 'i8');
  if (!ai || !bi) return 'an input has no static range';
  const pa = L.qp.get(ai)!,
    pb = L.qp.get(bi)!;
  const p = { za: pa.zp, zb: pb.zp, zy: yqp.zp, sa: pa.scale, sb: pb.scale, sy: yqp.scale, lo: -128, hi: 127 };
  const out = L.int8Out(n, y, yqp);
  const { M, K, bMod } = cs;
  const WM = L.w,
    ex = L.ex;
  const pp = L.mem.alloc(VADD_PARAMS_BYTES);
  // a threads build: ranges of rows over the pool's threads, each starting on its own scale
  // (bMod = M: b + r0) or on whole images (rows a multiple of bMod: b as it is)
  const T = L.w.pool?.size ?? 1;
  const ranges = bMod === M ? splitRange(M, T, 1) : M % bMod === 0 ? splitRange(M / bMod, T, 1).map(([a, b]) => [a * bMod, b * bMod]) : [];
  const par = ranges.length > 1 ? parallelPass(L, M * K, ranges.length) : undefined;
  writeVaddF32Params(WM, p, pp);
  L.step(n, {
    reads: [ai, bi],
    writes: [out.yi],
    build: (bd) => {
      const ap = bd.ptr(ai),
        bp = bd.ptr(bi),
        yp = bd.ptr(out.yi);
      if (L.scalar) return () => WM.i8(yp, M * K).set(qs8MulRowsRef(WM.i8(ap, M * K), WM.i8(bp, bMod), M, K, p));
      if (par) {
        const calls = ranges.map(([r0, r1]) => ({
          fn: 'qs8_mul_rows_f32__wasmsimd' as const,
          args: [r1! - r0!, K, ap + r0! * K, bMod === M ? bp + r0! : bp, bMod === M ? r1! - r0! : bMod, pp, yp + r0! * K],
        }));
        return () => runParallel(par, calls);
      }
      return () => {
        ex.qs8_mul_rows_f32__wasmsimd(M, K, ap, bp, bMod, pp, yp);
      };
    },
  });
  out.done();
  return true;
}
