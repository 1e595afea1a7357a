// float32 pooling: MaxPool, AveragePool (assembly/f32ops/pool.ts), GlobalAveragePool.
import { elementCount } from '../../ops/types.js';
import { readWindowAttrs, windowGeometry } from '../../ops/ref/conv.js';
import type { Node } from '../../ir/graph.js';
import { dtypeReason, outputUsed, reader, xyKernel, unaryIo, type F32Lower, type Lowered, type Lowering } from './lower.js';

function lowerPool(n: Node, L: F32Lower): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  if (n.op === 'MaxPool' && outputUsed(L.g, n, 1)) return 'the Indices output is used';
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const xd = L.dims(x),
    yd = L.dims(y);
  const nSp = xd.length - 2;
  if (nSp !== 1 && nSp !== 2) return `${nSp}-D pooling (the kernels are 1-D/2-D)`;
  const r = reader(n);
  const win = readWindowAttrs(n.op, r, nSp, undefined, true);
  const geo = windowGeometry(xd.slice(2), win);
  const incl = n.op === 'AveragePool' ? r.intIn('count_include_pad', 0, [0, 1]) : 0;
  const two = <T>(v: T[], one: T): [T, T] => (nSp === 2 ? [v[0]!, v[1]!] : [one, v[0]!]);
  const [H, W] = two(xd.slice(2), 1),
    [OH, OW] = two(yd.slice(2), 1),
    [KH, KW] = two(win.kernel, 1);
  const [sh, sw] = two(win.strides, 1),
    [dh, dw] = two(win.dilations, 1);
  const [pt, pl] = two(geo.padBegin, 0),
    [pb, pr] = two(geo.padEnd, 0);
  const g = L.putI32(Int32Array.from([xd[0]! * xd[1]!, H, W, OH, OW, KH, KW, sh, sw, dh, dw, pt, pl, pb, pr, incl]));
  const ex = L.ex;
  const fn = n.op === 'MaxPool' ? ex.f32_maxpool2d__wasm : ex.f32_avgpool2d__wasm;
  return xyKernel(x, y, (xp, yp) => fn(g, xp, yp));
}

function lowerGlobalAveragePool(n: Node, L: F32Lower): Lowered | string {
  const io = unaryIo(n, L);
  if (typeof io === 'string') return io;
  const { x, y } = io;
  const xd = L.dims(x);
  if (xd.length < 3) return 'rank < 3';
  const NC = xd[0]! * xd[1]!,
    S = elementCount(xd.slice(2));
  const ex = L.ex;
  return xyKernel(x, y, (xp, yp) => ex.f32_mean__wasmsimd(xp, yp, NC, S, 1));
}

export const POOL: Record<string, Lowering> = { MaxPool: lowerPool, AveragePool: lowerPool, GlobalAveragePool: lowerGlobalAveragePool };
