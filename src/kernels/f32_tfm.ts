// The transformer kernels as data (test/kernels.f32-tfm.test.ts sweeps every entry against
// src/kernels/f32_tfm_ref.ts) and TS drivers that lay their buffers out in SparrowWasm memory:
// fused attention (assembly/f32/attention.ts), the decomposed LayerNorm / RMSNorm
// (assembly/f32ops/tnorm.ts), the gather of rows by run-time indices (x_gather_rows).
import { SparrowError } from '../errors.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import type { AttentionArgs } from './f32_tfm_ref.js';

export type { AttentionArgs } from './f32_tfm_ref.js';

/** Words of the attention descriptor (layout in assembly/f32/attention.ts). */
export const ATTENTION_DESC_WORDS = 24;

/** Query rows per tile: the score tile (MT × Tk floats) within 64 KiB, 4..64 rows (a multiple of 4), at most Tq. */
export function attentionTileRows(Tq: number, Tk: number): number {
  const mt = Math.max(4, Math.min(64, Math.floor(16384 / Math.max(1, Tk)) & ~3));
  return Math.max(1, Math.min(mt, Tq));
}

/**
 * The attention descriptor's words for `a` with MT rows per tile; `putI32` places the offset
 * tables (nb i32 each) and returns their pointers.
 */
export function attentionDesc(a: AttentionArgs, MT: number, putI32: (t: ArrayLike<number>) => number): Int32Array {
  const d = new Int32Array(ATTENTION_DESC_WORDS);
  const fv = new Float32Array(d.buffer);
  d.set([a.nb, a.Tq, a.Tk, a.hd, a.hv, a.ldq, a.ldk, a.ldv, a.ldo, a.maskMode, a.ldm, a.mcs]);
  d[12] = a.scaleMode;
  fv[13] = a.scale;
  d[14] = a.qScaleMode;
  fv[15] = a.qScale;
  fv[16] = a.fill;
  [a.qOff, a.kOff, a.vOff, a.oOff, a.mOff].forEach((t, i) => (d[17 + i] = putI32(t.length ? t : [0])));
  d[22] = MT;
  return d;
}

export interface AttentionKernel {
  name: string;
  /** scratch bytes for the descriptor at d */
  workBytes(w: SparrowWasm, d: number): number;
  /** the status (0, or −5 for an inconsistent descriptor) */
  run(w: SparrowWasm, d: number, q: number, k: number, v: number, m: number, o: number, work: number): number;
}

/** Fused attention kernels (reference: attentionRef, bit for bit). */
export const F32_ATTENTION_KERNELS: readonly AttentionKernel[] = [
  {
    name: 'f32_attention__wasmsimd',
    workBytes: (w, d) => w.exports.f32_attention_work_bytes(d),
    run: (w, d, q, k, v, m, o, work) => w.exports.f32_attention__wasmsimd(d, q, k, v, m, o, work),
  },
];

/**
 * Attention through WASM (tests, benchmarks): the base arrays copied in, `o` (oLen floats,
 * prefilled with `sentinel`) copied out after the kernel; MT rows per tile (default
 * attentionTileRows). The arena is restored after.
 */
export function attentionF32(
  w: SparrowWasm,
  a: AttentionArgs,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  mask: Float32Array | Uint8Array | undefined,
  oLen: number,
  opts: { MT?: number; sentinel?: number; kernel?: AttentionKernel } = {},
): Float32Array {
  const kernel = opts.kernel ?? F32_ATTENTION_KERNELS[0]!;
  const mark = w.mark();
  try {
    const putI32 = (t: ArrayLike<number>): number => w.putBytes(Int32Array.from(t));
    const d = w.putBytes(attentionDesc(a, opts.MT ?? attentionTileRows(a.Tq, a.Tk), putI32));
    const pq = w.putF32(q),
      pk = w.putF32(k),
      pv = w.putF32(v);
    const pm = mask ? w.putBytes(mask) : 0;
    const po = w.alloc(oLen * 4 + 16);
    w.f32(po, oLen).fill(opts.sentinel ?? 0);
    const work = w.alloc(kernel.workBytes(w, d) + 16);
    const st = kernel.run(w, d, pq, pk, pv, pm, po, work);
    if (st < 0) throw new SparrowError('invalid_argument', `${kernel.name}: status ${st}`);
    return w.f32(po, oLen).slice();
  } finally {
    w.release(mark);
  }
}

// ---- decomposed norms ------------------------------------------------------------------------

export interface RowNormKernel {
  name: string;
  kind: 'layer' | 'rms';
  /** outer rows of n floats at x into y; w, b pointers or 0; mode (rms): 0 x·(1/s), 1 x/s */
  run(w: SparrowWasm, x: number, wt: number, b: number, y: number, outer: number, n: number, eps: number, mode: number): void;
}

/** The decomposed LayerNorm / RMSNorm kernels (references: layerNormOpsRef, rmsNormOpsRef, bit for bit). */
export const F32_ROW_NORM_KERNELS: readonly RowNormKernel[] = [
  {
    name: 'f32_layernorm_ops__wasmsimd',
    kind: 'layer',
    run: (w, x, wt, b, y, outer, n, eps) => w.exports.f32_layernorm_ops__wasmsimd(x, wt, b, y, outer, n, eps),
  },
  {
    name: 'f32_rmsnorm_ops__wasmsimd',
    kind: 'rms',
    run: (w, x, wt, _b, y, outer, n, eps, mode) => w.exports.f32_rmsnorm_ops__wasmsimd(x, wt, y, outer, n, eps, mode),
  },
];

/** A row norm through WASM (tests, benchmarks); the arena is restored after. */
export function rowNormF32(
  w: SparrowWasm,
  kernel: RowNormKernel,
  x: Float32Array,
  outer: number,
  n: number,
  eps: number,
  opts: { w?: Float32Array; b?: Float32Array; mode?: number } = {},
): Float32Array {
  const mark = w.mark();
  try {
    const px = w.putF32(x),
      pw = opts.w ? w.putF32(opts.w) : 0,
      pb = opts.b ? w.putF32(opts.b) : 0;
    const py = w.alloc(outer * n * 4 + 16);
    kernel.run(w, px, pw, pb, py, outer, n, eps, opts.mode ?? 0);
    return w.f32(py, outer * n).slice();
  } finally {
    w.release(mark);
  }
}

// ---- gather of rows ----------------------------------------------------------------------------

/**
 * x_gather_rows through WASM on float32 rows (tests): the rows, or the position of the first
 * index out of range (nothing written then: the output stays `sentinel`).
 */
export function gatherRowsF32(
  w: SparrowWasm,
  x: Float32Array,
  outer: number,
  len: number,
  row: number,
  idx: BigInt64Array | Int32Array,
  sentinel = -12345.5,
): { y: Float32Array; bad: number } {
  const mark = w.mark();
  try {
    const px = w.putF32(x),
      pi = w.putBytes(idx);
    const n = outer * idx.length * row;
    const py = w.alloc(n * 4 + 16);
    w.f32(py, n + 4).fill(sentinel);
    const bad = w.exports.x_gather_rows__wasm(px, outer, len, row * 4, pi, idx.length, idx instanceof BigInt64Array ? 1 : 0, py);
    return { y: w.f32(py, n + 4).slice(), bad };
  } finally {
    w.release(mark);
  }
}
