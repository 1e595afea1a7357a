// int8 data movement (Slice, Pad, Transpose, Gather, Expand) as one gather by a table of source
// offsets (qs8_remap), the table computed at plan time by the node's reference kernel.
import { elementCount, type Attrs, type Tensor } from '../../ops/types.js';
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
  const fill = clampI8(qp.zp + Math.round(padValue / qp.scale));
  L.define(y, 'i8', qp);
  const WM = L.w;
  const tp = L.mem.putBytes(tab);
  const remap = (L.ex as unknown as { qs8_remap__wasm(n: number, tab: number, x: number, y: number, fill: number): number })
    .qs8_remap__wasm;
  L.step(n, {
    reads: [x],
    writes: [y],
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y);
      if (L.scalar) {
        return () => {
          const src = WM.i8(xp, nIn),
            dst = WM.i8(yp, nOut);
          for (let i = 0; i < nOut; i++) {
            const t = tab[i]!;
            dst[i] = t < 0 ? fill : src[t]!;
          }
        };
      }
      return () => {
        remap(nOut, tp, xp, yp, fill);
      };
    },
  });
  return true;
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
