// float32 data movement, each one remap kernel (assembly/f32ops/move.ts): Transpose, Slice, Pad,
// Concat, Split, Gather (constant indices), Expand.
import { elementCount } from '../../ops/types.js';
import { sliceAxes } from '../../ops/ref/shape_ops.js';
import { normAxes, normAxis, stridesOf, toIntList } from '../../ops/ref/util.js';
import type { Node } from '../../ir/graph.js';
import { REMAP_RANK, remapDesc, remapKernel, multiRemap, type RemapAxis } from './descriptors.js';
import { ctxOf, dtypeReason, F32_BYTES, reader, unaryIo, type F32Lower, type Lowered, type Lowering } from './lower.js';

function lowerTranspose(n: Node, L: F32Lower): Lowered | string {
  const io = unaryIo(n, L);
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
  const io = unaryIo(n, L);
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
      if (L.kind(cvName) !== 'arena' || elementCount(L.dims(cvName)) !== 1) return 'constant_value is not a float32 scalar';
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
  for (const p of parts) if (!L.f32(p)) return `input is ${L.info(p).dtype}`;
  if (!L.f32(n.outputs[0])) return 'output is not float32';
  const y = n.outputs[0]!,
    yd = L.dims(y);
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
    if (d !== 'empty') calls.push({ desc: d, x: p, y, srcOff: 0, dstOff: offset * inner * F32_BYTES });
    offset += len;
  }
  return multiRemap(calls, L);
}

function lowerSplit(n: Node, L: F32Lower): Lowered | string {
  const why = dtypeReason(n, L, [0], n.outputs.length);
  if (why) return why;
  const x = n.inputs[0]!,
    xd = L.dims(x);
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
    if (d !== 'empty') calls.push({ desc: d, x, y: o, srcOff: start * inner * F32_BYTES, dstOff: 0 });
    start += s;
  }
  return multiRemap(calls, L);
}

function lowerGather(n: Node, L: F32Lower): Lowered | string {
  const io = unaryIo(n, L);
  if (typeof io === 'string') return io;
  const { x, y } = io;
  const idx = L.constOf(n.inputs[1]);
  if (!idx) return 'indices are not a constant';
  const xd = L.dims(x);
  const axis = normAxis(reader(n).int('axis', 0), xd.length, n.op, ctxOf(n));
  const len = xd[axis]!,
    outer = elementCount(xd.slice(0, axis)),
    inner = elementCount(xd.slice(axis + 1));
  const list = toIntList(idx, 'indices', n.op, ctxOf(n));
  if (list.some((i) => i < -len || i >= len)) return 'an index is out of range';
  const table = Int32Array.from(list, (i) => (i < 0 ? i + len : i) * inner);
  return remapKernel(L, x, y, [
    { n: outer, dst: list.length * inner, src: len * inner, off: 0 },
    { n: list.length, dst: inner, table },
    { n: inner, dst: 1, src: 1, off: 0 },
  ]);
}

function lowerExpand(n: Node, L: F32Lower): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  if (!L.constOf(n.inputs[1])) return 'shape is not a constant';
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
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
