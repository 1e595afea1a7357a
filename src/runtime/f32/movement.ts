// Data movement, each one remap kernel (assembly/f32ops/move.ts for float32, x_remap of
// assembly/f32ops/tensor.ts for the other dtypes: int64 indices, bool masks...): Transpose,
// Slice, Pad (float32), Concat, Split, Gather (constant indices; indices computed at run time:
// x_gather_rows), Expand.
import { elementCount } from '../../ops/types.js';
import { sliceAxes } from '../../ops/ref/shape_ops.js';
import { normAxes, normAxis, stridesOf, toIntList } from '../../ops/ref/util.js';
import type { Node } from '../../ir/graph.js';
import { REMAP_RANK, remapDesc, remapKernel, multiRemap, type RemapAxis } from './descriptors.js';
import { ctxOf, reader, unaryIo, type F32Lower, type Lowered, type Lowering } from './lower.js';
import { dtypeBytes } from '../plan_builder.js';
import { opError } from '../../ops/ref/util.js';

/** Input 0 and output 0 of a data movement node: the same dtype, any (float32 or 'native'). */
function moveIo(n: Node, L: F32Lower): { x: string; y: string } | string {
  const x = n.inputs[0],
    y = n.outputs[0];
  if (!x || !y) return 'missing operand';
  if (L.info(x).dtype !== L.info(y).dtype) return 'input and output dtypes differ';
  if (L.kind(x) === 'const') return 'constant input';
  return { x, y };
}

function lowerTranspose(n: Node, L: F32Lower): Lowered | string {
  const io = moveIo(n, L);
  if (typeof io === 'string') return io;
  const { x, y } = io;
  const xd = L.dims(x),
    rank = xd.length;
  const perm = reader(n).ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inS = stridesOf(xd),
    outS = stridesOf(L.dims(y));
  return remapKernel(
    L,
    x,
    y,
    perm.map((p, k) => ({ n: xd[p]!, dst: outS[k]!, src: inS[p]!, off: 0 })),
  );
}

function lowerSlice(n: Node, L: F32Lower): Lowered | string {
  const io = moveIo(n, L);
  if (typeof io === 'string') return io;
  const { x, y } = io;
  const xd = L.dims(x);
  let spec;
  if (n.opset < 10) {
    const r = reader(n);
    const starts = r.ints('starts'),
      ends = r.ints('ends');
    if (!starts || !ends) return 'starts/ends missing';
    spec = sliceAxes(xd, starts, ends, r.ints('axes'), undefined, n.op, ctxOf(n));
  } else {
    const starts = L.ints(n, 1, 'starts'),
      ends = L.ints(n, 2, 'ends');
    if (!starts || !ends) return 'starts/ends missing';
    spec = sliceAxes(xd, starts, ends, L.ints(n, 3, 'axes'), L.ints(n, 4, 'steps'), n.op, ctxOf(n));
  }
  const inS = stridesOf(xd),
    yd = L.dims(y),
    outS = stridesOf(yd);
  const start = xd.map(() => 0),
    step = xd.map(() => 1);
  for (const s of spec) {
    start[s.axis] = s.start;
    step[s.axis] = s.step;
  }
  return remapKernel(
    L,
    x,
    y,
    yd.map((cnt, k) => ({ n: cnt, dst: outS[k]!, src: inS[k]! * step[k]!, off: start[k]! * inS[k]! })),
  );
}

function lowerPad(n: Node, L: F32Lower): Lowered | string {
  const io = unaryIo(n, L);
  if (typeof io === 'string') return io;
  const { x, y } = io;
  const xd = L.dims(x),
    rank = xd.length;
  const r = reader(n);
  let mode: string,
    pads: number[] | undefined,
    value = 0,
    axes: number[] | undefined,
    valueName = '';
  if (n.opset < 11) {
    mode = r.stringIn('mode', 'constant', ['constant', 'reflect', 'edge']);
    pads = r.ints('pads');
    value = r.float('value', 0);
  } else {
    mode = r.stringIn('mode', 'constant', n.opset >= 19 ? ['constant', 'reflect', 'edge', 'wrap'] : ['constant', 'reflect', 'edge']);
    pads = L.ints(n, 1, 'pads');
    const cvName = n.inputs[2] ?? '';
    const cv = cvName ? L.constOf(cvName) : undefined;
    if (cv && cv.data.length > 0) value = Number(cv.data[0]);
    else if (cvName && !cv) {
      if (L.kind(cvName) !== 'arena' || !L.f32(cvName) || elementCount(L.dims(cvName)) !== 1)
        return 'constant_value is not a float32 scalar';
      valueName = cvName;
    }
    if (n.opset >= 18) axes = L.ints(n, 3, 'axes');
  }
  if (!pads) return 'pads missing';
  const ax = axes ? normAxes(axes, rank, n.op, ctxOf(n)) : xd.map((_, i) => i);
  if (pads.length !== 2 * ax.length) return 'pads length';
  const full = new Array<number>(2 * rank).fill(0);
  ax.forEach((a, i) => {
    full[a] = pads![i]!;
    full[a + rank] = pads![i + ax.length]!;
  });
  const yd = L.dims(y),
    inS = stridesOf(xd),
    outS = stridesOf(yd);
  const axesR: RemapAxis[] = [];
  for (let k = 0; k < rank; k++) {
    const size = xd[k]!,
      pb = full[k]!,
      pe = full[k + rank]!;
    if (pb === 0 && pe === 0) {
      axesR.push({ n: size, dst: outS[k]!, src: inS[k]!, off: 0 });
      continue;
    }
    if (size === 0 && mode !== 'constant') return `${mode} padding of an empty axis`;
    const table = new Int32Array(yd[k]!);
    for (let o = 0; o < yd[k]!; o++) {
      let p = o - pb;
      if (p < 0 || p >= size) {
        if (mode === 'constant') {
          table[o] = -1;
          continue;
        }
        if (mode === 'edge') p = p < 0 ? 0 : size - 1;
        else if (mode === 'wrap') p = ((p % size) + size) % size;
        else if (size === 1) p = 0;
        else {
          const period = 2 * (size - 1);
          p = ((p % period) + period) % period;
          if (p >= size) p = period - p;
        }
      }
      table[o] = p * inS[k]!;
    }
    axesR.push({ n: yd[k]!, dst: outS[k]!, table });
  }
  if (!valueName) return remapKernel(L, x, y, axesR, value);
  const d = remapDesc(L, axesR);
  if (d === undefined) return `needs more than ${REMAP_RANK} axes after collapsing`;
  if (d === 'empty') return { kind: 'noop' };
  const ex = L.ex,
    E = L;
  return {
    kind: 'kernel',
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y),
        vp = b.ptr(valueName);
      return () => ex.f32_remap__wasm(d, xp, yp, E.f32At(vp));
    },
  };
}

function lowerConcat(n: Node, L: F32Lower): Lowered | string {
  const parts = n.inputs.filter((i) => i);
  const y = n.outputs[0]!,
    yd = L.dims(y),
    dt = L.info(y).dtype,
    eb = dtypeBytes(dt);
  for (const p of parts) if (L.info(p).dtype !== dt) return `input is ${L.info(p).dtype}`;
  for (const p of parts) if (L.kind(p) === 'const' && dt !== 'float32') return 'a constant non-float part';
  const axis = normAxis(reader(n).requiredInt('axis'), yd.length, n.op, ctxOf(n));
  const outer = elementCount(yd.slice(0, axis)),
    inner = elementCount(yd.slice(axis + 1)),
    total = yd[axis]!;
  const calls: Array<{ desc: number; x: string; y: string; srcOff: number; dstOff: number }> = [];
  let offset = 0;
  for (const p of parts) {
    const len = L.dims(p)[axis]!;
    const d = remapDesc(L, [
      { n: outer, dst: total * inner, src: len * inner, off: 0 },
      { n: len * inner, dst: 1, src: 1, off: 0 },
    ]);
    if (d === undefined) return 'remap rank';
    if (d !== 'empty') calls.push({ desc: d, x: p, y, srcOff: 0, dstOff: offset * inner * eb });
    offset += len;
  }
  return multiRemap(calls, L, Math.log2(eb), dt === 'float32');
}

function lowerSplit(n: Node, L: F32Lower): Lowered | string {
  const x = n.inputs[0]!,
    xd = L.dims(x),
    dt = L.info(x).dtype,
    eb = dtypeBytes(dt);
  if (L.kind(x) === 'const') return 'constant input';
  for (const o of n.outputs) if (o && L.info(o).dtype !== dt) return 'output dtype differs';
  if (n.opset >= 13 && n.inputs[1] && !L.constOf(n.inputs[1])) return 'split is not a constant';
  const axis = normAxis(reader(n).int('axis', 0), xd.length, n.op, ctxOf(n));
  const outer = elementCount(xd.slice(0, axis)),
    inner = elementCount(xd.slice(axis + 1)),
    len = xd[axis]!;
  const calls: Array<{ desc: number; x: string; y: string; srcOff: number; dstOff: number }> = [];
  let start = 0;
  for (const o of n.outputs) {
    if (!o) return 'an omitted output';
    const s = L.dims(o)[axis]!;
    const d = remapDesc(L, [
      { n: outer, dst: s * inner, src: len * inner, off: 0 },
      { n: s * inner, dst: 1, src: 1, off: 0 },
    ]);
    if (d === undefined) return 'remap rank';
    if (d !== 'empty') calls.push({ desc: d, x, y: o, srcOff: start * inner * eb, dstOff: 0 });
    start += s;
  }
  return multiRemap(calls, L, Math.log2(eb), dt === 'float32');
}

function lowerGather(n: Node, L: F32Lower): Lowered | string {
  const x = n.inputs[0],
    y = n.outputs[0];
  if (!x || !y || L.info(x).dtype !== L.info(y).dtype) return 'missing operand';
  const xd = L.dims(x);
  const axis = normAxis(reader(n).int('axis', 0), xd.length, n.op, ctxOf(n));
  const len = xd[axis]!,
    outer = elementCount(xd.slice(0, axis)),
    inner = elementCount(xd.slice(axis + 1));
  const idx = L.constOf(n.inputs[1]);
  if (!idx) return gatherFed(n, L, x, y, axis, outer, len, inner);
  if (L.kind(x) === 'const') return 'constant data';
  const list = toIntList(idx, 'indices', n.op, ctxOf(n));
  if (list.some((i) => i < -len || i >= len)) return 'an index is out of range';
  const table = Int32Array.from(list, (i) => (i < 0 ? i + len : i) * inner);
  return remapKernel(L, x, y, [
    { n: outer, dst: list.length * inner, src: len * inner, off: 0 },
    { n: list.length, dst: inner, table },
    { n: inner, dst: 1, src: 1, off: 0 },
  ]);
}

/**
 * Gather with indices computed at run time (token ids into an embedding table): whole rows of
 * `inner` elements copied by x_gather_rows, indices checked per run (negative ones from the end;
 * out of range: the reference kernel's error). The data may be a constant (placed once).
 */
function gatherFed(n: Node, L: F32Lower, x: string, y: string, axis: number, outer: number, len: number, inner: number): Lowered | string {
  const iName = n.inputs[1]!;
  const it = L.info(iName).dtype;
  if (it !== 'int64' && it !== 'int32') return `indices are ${it}`;
  const nIdx = elementCount(L.dims(iName));
  const dt = L.info(x).dtype;
  const rowBytes = inner * dtypeBytes(dt);
  const xc = L.constOf(x);
  const ex = L.ex,
    w = L.w,
    ctx = ctxOf(n);
  return {
    kind: 'kernel',
    build: (b) => {
      const xp = xc ? (dt === 'float32' ? L.constPtr(xc) : L.P.mem.putBytes(xc.data)) : b.ptr(x);
      const ip = b.ptr(iName),
        yp = b.ptr(y);
      const i64 = it === 'int64' ? 1 : 0;
      return () => {
        const bad = ex.x_gather_rows__wasm(xp, outer, len, rowBytes, ip, nIdx, i64, yp);
        if (bad >= 0) {
          const v = i64 ? new BigInt64Array(w.memory.buffer, ip, nIdx)[bad]! : w.i32(ip, nIdx)[bad]!;
          throw opError(n.op, ctx, `index ${v} is out of range for axis ${axis} of size ${len}`);
        }
      };
    },
  };
}

function lowerExpand(n: Node, L: F32Lower): Lowered | string {
  const io = moveIo(n, L);
  if (typeof io === 'string') return io;
  if (!L.constOf(n.inputs[1])) return 'shape is not a constant';
  const { x, y } = io;
  const xd = L.dims(x),
    yd = L.dims(y);
  const inS = stridesOf(xd),
    outS = stridesOf(yd),
    off = yd.length - xd.length;
  return remapKernel(
    L,
    x,
    y,
    yd.map((d, k) => ({ n: d, dst: outS[k]!, src: k < off || xd[k - off] === 1 ? 0 : inS[k - off]!, off: 0 })),
  );
}

export const MOVEMENT: Record<string, Lowering> = {
  Transpose: lowerTranspose,
  Slice: lowerSlice,
  Pad: lowerPad,
  Concat: lowerConcat,
  Split: lowerSplit,
  Gather: lowerGather,
  Expand: lowerExpand,
};
