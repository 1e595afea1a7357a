// Descriptors the float32 kernels read from linear memory: the broadcast descriptor of the
// binary elementwise kernels (assembly/f32ops/binary.ts) and the remap descriptor of the data
// movement kernel (assembly/f32ops/move.ts: Transpose, Slice, Pad, Concat, Split, Gather, Expand).
import { stridesOf } from '../../ops/ref/util.js';
import type { F32Lower, Lowered } from './lower.js';
import { dtypeBytes } from '../plan_builder.js';

const BCAST_RANK = 6;

/** The 19-word broadcast descriptor of out = a ⊕ b, or undefined when it needs more than 6 dims. */
export function bcastDesc(out: readonly number[], a: readonly number[], b: readonly number[]): Int32Array | undefined {
  const R = out.length;
  const strides = (d: readonly number[]): number[] => {
    const s = stridesOf(d);
    const off = R - d.length;
    return out.map((_, k) => (k < off || d[k - off] === 1 ? 0 : s[k - off]!));
  };
  const sa = strides(a),
    sb = strides(b);
  const axes: Array<{ n: number; a: number; b: number }> = [];
  for (let k = 0; k < R; k++) {
    if (out[k] === 1) continue;
    const cur = { n: out[k]!, a: sa[k]!, b: sb[k]! };
    const prev = axes[axes.length - 1];
    if (prev && prev.a === cur.a * cur.n && prev.b === cur.b * cur.n) {
      prev.n *= cur.n;
      prev.a = cur.a;
      prev.b = cur.b;
    } else {
      axes.push(cur);
    }
  }
  if (axes.length === 0) axes.push({ n: 1, a: 0, b: 0 });
  if (axes.length > BCAST_RANK) return undefined;
  const d = new Int32Array(1 + 3 * BCAST_RANK);
  d[0] = axes.length;
  axes.forEach((x, k) => {
    d[1 + k] = x.n;
    d[1 + BCAST_RANK + k] = x.a;
    d[1 + 2 * BCAST_RANK + k] = x.b;
  });
  return d;
}

// ---- remap descriptor (assembly/f32ops/move.ts) -------------------------------------------------

export const REMAP_RANK = 8;

/** One output axis of a remap: affine (source stride + start offset) or a table (absolute offsets, -1 = fill). */
export type RemapAxis = { n: number; dst: number; src: number; off: number } | { n: number; dst: number; table: Int32Array };

/** The remap descriptor's pointer (constant region), or undefined when it needs more than 8 axes. 'empty' when nothing is written. */
export function remapDesc(L: F32Lower, axes: RemapAxis[]): number | 'empty' | undefined {
  if (axes.some((x) => x.n === 0)) return 'empty';
  let base = 0;
  const kept: RemapAxis[] = [];
  for (const x of axes) {
    if ('src' in x && x.n === 1) {
      base += x.off;
      continue;
    }
    const prev = kept[kept.length - 1];
    if (prev && 'src' in prev && 'src' in x && prev.src === x.src * x.n && prev.dst === x.dst * x.n) {
      kept[kept.length - 1] = { n: prev.n * x.n, dst: x.dst, src: x.src, off: prev.off + x.off };
    } else {
      kept.push({ ...x });
    }
  }
  if (kept.length === 0) kept.push({ n: 1, dst: 1, src: 1, off: 0 });
  if (kept.length > REMAP_RANK) return undefined;
  const last = kept[kept.length - 1]!;
  const contiguous = 'src' in last && last.src === 1 && last.dst === 1;
  const d = new Int32Array(2 + 3 * kept.length);
  d[0] = kept.length;
  d[1] = contiguous ? 1 : 0;
  kept.forEach((x, k) => {
    let t: Int32Array;
    if ('src' in x) t = Int32Array.from({ length: x.n }, (_, i) => x.off + i * x.src);
    else t = x.table.slice();
    if (k === 0 && base) for (let i = 0; i < t.length; i++) if (t[i]! >= 0) t[i] = t[i]! + base;
    d[2 + 3 * k] = x.n;
    d[3 + 3 * k] = x.dst;
    d[4 + 3 * k] = L.putI32(t);
  });
  return L.putI32(d);
}

/**
 * A kernel step copying value `x` (from byte offset srcOff) into value `y` (at byte offset
 * dstOff) through remap axes: float32 values with f32_remap (fill = `fill`), other dtypes with
 * x_remap (their element size; fill 0).
 */
export function remapKernel(L: F32Lower, x: string, y: string, axes: RemapAxis[], fill = 0, srcOff = 0, dstOff = 0): Lowered | string {
  const d = remapDesc(L, axes);
  if (d === undefined) return `needs more than ${REMAP_RANK} axes after collapsing`;
  if (d === 'empty') return { kind: 'noop' };
  const ex = L.ex;
  const f32 = L.f32(y),
    esh = Math.log2(dtypeBytes(L.info(y).dtype));
  return {
    kind: 'kernel',
    build: (b) => {
      const xp = b.ptr(x) + srcOff,
        yp = b.ptr(y) + dstOff;
      return f32 ? () => ex.f32_remap__wasm(d, xp, yp, fill) : () => ex.x_remap__wasm(d, xp, yp, esh);
    },
  };
}

/** Several remap kernels as one step (Concat, Split); elements of 2^esh bytes (float32: esh 2, f32_remap). */
export function multiRemap(
  parts: Array<{ desc: number; x: string; y: string; srcOff: number; dstOff: number }>,
  L: F32Lower,
  esh = 2,
  f32 = true,
): Lowered {
  const ex = L.ex;
  return {
    kind: 'kernel',
    build: (b) => {
      const calls = parts.map((p) => [p.desc, b.ptr(p.x) + p.srcOff, b.ptr(p.y) + p.dstOff] as const);
      return f32
        ? () => {
            for (const [d, s, t] of calls) ex.f32_remap__wasm(d, s, t, 0);
          }
        : () => {
            for (const [d, s, t] of calls) ex.x_remap__wasm(d, s, t, esh);
          };
    },
  };
}

/**
 * The broadcast descriptor of out = f(x0, x1, ..., x_{k-1}) for k operands: rank r (≤ 6), the
 * 6 output dims, then 6 strides (elements, 0 along broadcast dims) per operand; 1 + 6·(k+1)
 * words, dims merged where every operand stays contiguous (as bcastDesc). k = 2 is bcastDesc's
 * layout, k = 3 Where's (assembly/f32ops/tensor.ts). Undefined when more than 6 dims remain.
 */
export function bcastDescN(out: readonly number[], operands: ReadonlyArray<readonly number[]>): Int32Array | undefined {
  const R = out.length;
  const strides = operands.map((d) => {
    const s = stridesOf(d);
    const off = R - d.length;
    return out.map((_, k) => (k < off || d[k - off] === 1 ? 0 : s[k - off]!));
  });
  const axes: Array<{ n: number; s: number[] }> = [];
  for (let k = 0; k < R; k++) {
    if (out[k] === 1) continue;
    const cur = { n: out[k]!, s: strides.map((st) => st[k]!) };
    const prev = axes[axes.length - 1];
    if (prev && prev.s.every((ps, i) => ps === cur.s[i]! * cur.n)) {
      prev.n *= cur.n;
      prev.s = cur.s;
    } else {
      axes.push(cur);
    }
  }
  if (axes.length === 0) axes.push({ n: 1, s: operands.map(() => 0) });
  if (axes.length > BCAST_RANK) return undefined;
  const d = new Int32Array(1 + BCAST_RANK * (operands.length + 1));
  d[0] = axes.length;
  axes.forEach((x, k) => {
    d[1 + k] = x.n;
    x.s.forEach((s, i) => (d[1 + BCAST_RANK * (i + 1) + k] = s));
  });
  return d;
}
