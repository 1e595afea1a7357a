// int8 pooling: GlobalAveragePool (and an AveragePool over the whole input), MaxPool.
import { elementCount } from '../../ops/types.js';
import { readWindowAttrs, windowGeometry } from '../../ops/ref/conv.js';
import type { Node } from '../../ir/graph.js';
import { CONV_GEOMETRY_BYTES, convGeometry, writeConvGeometry } from '../../kernels/f32.js';
import { qs8GlobalAvgPoolRef, qs8MaxPoolRef } from '../../kernels/int8_ref.js';
import { quantizeMultiplier } from '../../quant/int8.js';
import { reader, type Int8Lower } from './lower.js';

/** AveragePool whose window is the whole (unpadded) input: a global average pool. */
export function lowerAvgPool(n: Node, L: Int8Lower): string | true {
  const xd = L.dims(n.inputs[0]!),
    yd = L.dims(n.outputs[0]!);
  if (xd.length !== 4) return 'not 2-D';
  const r = reader(n);
  const win = readWindowAttrs('AveragePool', r, 2, undefined, true);
  const gw = windowGeometry(xd.slice(2), win);
  const global =
    win.kernel[0] === xd[2] &&
    win.kernel[1] === xd[3] &&
    [...gw.padBegin, ...gw.padEnd].every((v) => v === 0) &&
    yd[2] === 1 &&
    yd[3] === 1 &&
    win.dilations.every((d) => d === 1);
  if (!global) return 'AveragePool other than a global average (no int8 kernel)';
  return lowerGap(n, L);
}

export function lowerGap(n: Node, L: Int8Lower): string | true {
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const xd = L.dims(x);
  if (xd.length < 3) return 'rank < 3';
  const yqp = L.rangeQp(y);
  const xi = L.need(x, 'i8');
  if (!yqp || !xi) return 'no static range';
  const xp = L.qp.get(xi)!;
  const NC = xd[0]! * xd[1]!,
    HW = elementCount(xd.slice(2));
  const { multiplier: m, shift } = quantizeMultiplier(xp.scale / (yqp.scale * HW));
  L.define(y, 'i8', yqp);
  const WM = L.w,
    ex = L.ex;
  L.step(n, {
    reads: [xi],
    writes: [y],
    build: (b) => {
      const xq = b.ptr(xi),
        yp = b.ptr(y);
      if (L.scalar) return () => WM.i8(yp, NC).set(qs8GlobalAvgPoolRef(WM.i8(xq, NC * HW), NC, HW, xp.zp, m, shift, yqp.zp));
      return () => {
        ex.qs8_gavgpool__wasmsimd(NC, HW, xq, xp.zp, m, shift, yqp.zp, -128, 127, yp);
      };
    },
  });
  return true;
}

export function lowerMaxPool(n: Node, L: Int8Lower): string | true {
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  if (n.outputs[1] && ((L.users.get(n.outputs[1]) ?? []).length || L.g.outputs.includes(n.outputs[1]))) return 'the Indices output is used';
  const xd = L.dims(x),
    yd = L.dims(y);
  if (xd.length !== 4) return 'not 2-D';
  const xi = L.need(x, 'i8');
  if (!xi) return 'no static range';
  const r = reader(n);
  if (r.int('storage_order', 0) !== 0) return 'storage_order';
  const win = readWindowAttrs('MaxPool', r, 2, undefined, true);
  const gw = windowGeometry(xd.slice(2), win);
  const C = xd[0]! * xd[1]!,
    H = xd[2]!,
    W = xd[3]!;
  const [KH, KW] = win.kernel as [number, number];
  const attrs = {
    pads: [gw.padBegin[0]!, gw.padBegin[1]!, gw.padEnd[0]!, gw.padEnd[1]!] as [number, number, number, number],
    strides: [win.strides[0]!, win.strides[1]!] as [number, number],
    dilations: [win.dilations[0]!, win.dilations[1]!] as [number, number],
  };
  const geo = convGeometry([C, H, W], [C, 1, KH, KW], { ...attrs, groups: C });
  if (geo.OH !== yd[2] || geo.OW !== yd[3])
    return `pool geometry ${geo.OH}x${geo.OW} differs from the inferred ${yd[2]}x${yd[3]} (ceil_mode)`;
  // max commutes with the (monotone) quantization: the output keeps the input's parameters
  L.define(y, 'i8', L.qp.get(xi));
  const WM = L.w,
    ex = L.ex;
  const g = L.mem.alloc(CONV_GEOMETRY_BYTES);
  writeConvGeometry(WM, geo, g);
  const work = ex.qs8_maxpool2d_work_bytes(g);
  const ny = C * geo.OH * geo.OW;
  L.step(n, {
    reads: [xi],
    writes: [y],
    scratch: work + 16,
    build: (b) => {
      const xq = b.ptr(xi),
        yp = b.ptr(y),
        s = b.scratch;
      if (L.scalar) return () => WM.i8(yp, ny).set(qs8MaxPoolRef(WM.i8(xq, C * H * W), C, H, W, KH, KW, attrs).data);
      return () => {
        ex.qs8_maxpool2d__wasmsimd(g, xq, yp, s);
      };
    },
  });
  return true;
}
