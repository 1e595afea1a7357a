// int8 data movement (Slice, Pad, Transpose, Gather, Expand) as one gather by a table of source
// offsets (qs8_remap), the table computed at plan time by the node's reference kernel. A chain
// of them (a ResNet's option-A shortcut: Slice, Slice, Pad) runs as one gather: a move whose
// input is only read by it, and made by an earlier move, composes that move's table into its own
// and the earlier step is dropped.
import { elementCount, type Attrs, type Tensor } from '../../ops/types.js';
import type { StepSpec } from '../plan_builder.js';
import type { Node } from '../../ir/graph.js';
import { clampI8, ctxOf, type Int8Lower } from './lower.js';

/**
 * Pure data movement on int8 (Slice, Pad, Transpose, Gather, Expand): the output keeps the
 * input's parameters; the kernel is a gather by a table of source offsets, computed at plan
 * time by running the node's reference kernel on the element indices (+1, so that a constant
 * pad of 0 marks the filled elements).
 */
export function lowerMove(n: Node, L: Int8Lower): string | true {
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  if (L.form.get(x) !== 'i8' || !L.isF32Act(y)) return 'the input is not int8';
  for (let i = 1; i < n.inputs.length; i++) if (n.inputs[i] && !L.constOf(n.inputs[i])) return `input ${i} is not a constant`;
  const xd = L.dims(x),
    nIn = elementCount(xd),
    nOut = elementCount(L.dims(y));
  if (nIn >= 2 ** 24) return 'too many elements for an index table';
  const qp = L.qp.get(x)!;
  let attrs = n.attrs as Attrs;
  const ins: Array<Tensor | undefined> = n.inputs.map((i) => (i ? L.constOf(i) : undefined));
  let padValue = 0;
  if (n.op === 'Pad') {
    if (n.opset < 11) {
      padValue = typeof attrs['value'] === 'number' ? attrs['value'] : 0;
      attrs = { ...attrs, value: 0 };
    } else if (ins[2]) {
      const c = ins[2];
      if (c.dtype !== 'float32' || c.data.length !== 1) return 'pad value is not a float32 scalar';
      padValue = (c.data as Float32Array)[0]!;
      ins[2] = { dtype: 'int32', dims: [...c.dims], data: new Int32Array(1) };
    }
  }
  // the kernel moves int32 element indices (+1): its output is the gather table
  const idx = indicesFrom1(nIn);
  ins[0] = { dtype: 'int32', dims: [...xd], data: idx };
  const res = n.def.ref(ins, attrs, ctxOf(n))[0];
  if (!res || res.dtype !== 'int32' || res.data.length !== nOut) return 'the reference kernel disagrees with the inferred shape';
  const tab = res.data.buffer === idx.buffer ? Int32Array.from(res.data as Int32Array) : (res.data as Int32Array);
  subtractOne(tab);
  let fill = clampI8(qp.zp + Math.round(padValue / qp.scale));
  // an earlier move made x for this node alone: gather from its source through both tables (one
  // fill value: at most one of them fills, or both with the same value)
  let src = x,
    nSrc = nIn,
    fills = hasFill(tab);
  const prev = moves.get(L)?.get(x);
  if (
    prev &&
    (L.users.get(x) ?? []).length === 1 &&
    !L.g.outputs.includes(x) &&
    (!prev.fills || !fills || prev.fill === fill) &&
    L.P.steps.includes(prev.step)
  ) {
    composeTables(tab, prev.tab);
    L.P.steps.splice(L.P.steps.indexOf(prev.step), 1);
    src = prev.src;
    nSrc = prev.nSrc;
    if (prev.fills) fill = prev.fill;
    fills ||= prev.fills;
  }
  L.define(y, 'i8', qp);
  const WM = L.w;
  const tp = L.mem.putBytes(tab);
  const remap = (L.ex as unknown as { qs8_remap__wasm(n: number, tab: number, x: number, y: number, fill: number): number })
    .qs8_remap__wasm;
  L.step(n, {
    reads: [src],
    writes: [y],
    build: (b) => {
      const xp = b.ptr(src),
        yp = b.ptr(y);
      if (L.scalar) {
        return () => {
          const from = WM.i8(xp, nSrc),
            dst = WM.i8(yp, nOut);
          for (let i = 0; i < nOut; i++) {
            const t = tab[i]!;
            dst[i] = t < 0 ? fill : from[t]!;
          }
        };
      }
      return () => {
        remap(nOut, tp, xp, yp, fill);
      };
    },
  });
  let m = moves.get(L);
  if (!m) moves.set(L, (m = new Map()));
  m.set(y, { src, nSrc, tab, fill, fills, step: L.P.steps[L.P.steps.length - 1]! });
  return true;
}

/** A move step's gather: y[i] = src[tab[i]], or fill where tab[i] < 0 (`fills`: some i). */
interface MoveRec {
  src: string;
  nSrc: number;
  tab: Int32Array;
  fill: number;
  fills: boolean;
  step: StepSpec;
}

/** The move steps of each lowering, by the value they write. */
const moves = new WeakMap<Int8Lower, Map<string, MoveRec>>();

/** tab[i] = first[tab[i]] where tab[i] ≥ 0 (−1 stays −1): the gather through `first`, then through tab. */
function composeTables(tab: Int32Array, first: Int32Array): void {
  for (let i = 0; i < tab.length; i++) {
    const t = tab[i]!;
    if (t >= 0) tab[i] = first[t]!;
  }
}

/** Some entry of tab is a fill (< 0). */
function hasFill(tab: Int32Array): boolean {
  for (let i = 0; i < tab.length; i++) if (tab[i]! < 0) return true;
  return false;
}

// The two element loops of lowerMove live in small functions of their own: on a ResNet's shortcut
// (16,384 elements) a loop inside lowerMove made V8 optimize all of lowerMove, with what it
// inlines, on a background thread during the load (~20-28 ms of TurboFan compile, measured with
// --trace-opt), which on a 2-core machine preempted the load's own thread while it decoded
// weights. These compile in well under 1 ms.

/** [1, 2, ..., n] (int32) */
function indicesFrom1(n: number): Int32Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i + 1;
  return idx;
}

/** t[i] -= 1 for every i */
function subtractOne(t: Int32Array): void {
  for (let i = 0; i < t.length; i++) t[i]! -= 1;
}
