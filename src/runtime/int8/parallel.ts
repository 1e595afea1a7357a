// Elementwise int8 steps (the activation tables, the squeeze-excite Mul; in dynamic mode the
// float32 activation passes after a conv and the per-run quantization) split over the thread
// pool of a threads build: the conv layers have threadSplit (conv.ts); these passes over a flat
// tensor split into contiguous ranges, one call each, every output computed as on one thread.
import type { ThreadCall, ThreadFn, ThreadPool } from '../../wasm/threads.js';
import type { WasmExports } from '../../wasm/gateway.js';
import { actKernel } from '../f32/lower.js';
import type { Int8Lower } from './lower.js';

/** Elements below which a pass runs on the calling thread alone (a parallel job's join costs microseconds). */
export const PARALLEL_MIN = 32768;

/** [i0, i1) ranges splitting [0, n) into `parts` evenly, interior bounds multiples of `align`. */
export function splitRange(n: number, parts: number, align: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let prev = 0;
  for (let t = 1; t <= parts; t++) {
    const b = t === parts ? n : Math.min(n, Math.round((t * n) / parts / align) * align);
    if (b > prev) out.push([prev, b]);
    prev = Math.max(prev, b);
  }
  return out;
}

/**
 * The pool to split an elementwise pass of `n` elements over, and the job memory for `calls`
 * calls (allocated once at plan time), or undefined: the scalar references, a build without
 * helpers, or a pass too short to be worth a job.
 */
export function parallelPass(L: Int8Lower, n: number, calls: number): { pool: ThreadPool; job: number } | undefined {
  const pool = L.scalar ? undefined : L.w.pool;
  if (!pool || pool.size < 2 || n < PARALLEL_MIN) return undefined;
  return { pool, job: L.mem.alloc(pool.jobBytes(calls)) };
}

/** Runs `calls` on the pool (no per-thread workspace). */
export function runParallel(p: { pool: ThreadPool; job: number }, calls: readonly ThreadCall[]): void {
  p.pool.run(calls, p.job, { arg: 0, stride: 0 });
}

/** The standalone float32 activation kernels by act code (src/runtime/f32/lower.ts actKernel), as thread calls. */
const ACT_FN: Record<number, ThreadFn> = {
  1: 'f32_clip__wasmsimd',
  2: 'f32_sigmoid__wasmsimd',
  3: 'f32_silu__wasmsimd',
  4: 'f32_hardswish__wasmsimd',
  5: 'f32_hardsigmoid__wasmsimd',
  6: 'f32_tanh__wasmsimd',
  7: 'f32_gelu__wasmsimd',
  8: 'f32_gelu__wasmsimd',
};

/**
 * actKernel (activation `act` ≥ 1 over n floats at yp, in place), with passes of PARALLEL_MIN
 * floats or more split into ranges over the pool when there is one (elementwise: the same bits).
 */
export function parallelActKernel(L: Int8Lower, ex: WasmExports, act: number, p0: number, p1: number): (yp: number, n: number) => void {
  const one = actKernel(ex, act, p0, p1);
  const pool = L.scalar ? undefined : L.w.pool;
  if (!pool || pool.size < 2) return one;
  const par = { pool, job: L.mem.alloc(pool.jobBytes(pool.size)) };
  const fn = ACT_FN[act]!;
  const extra = act === 1 || act === 5 ? [p0, p1] : act >= 7 ? [act === 8 ? 1 : 0] : [];
  return (yp, n) => {
    if (n < PARALLEL_MIN) return one(yp, n);
    runParallel(
      par,
      splitRange(n, pool.size, 4).map(([i0, i1]) => ({ fn, args: [yp + i0 * 4, yp + i0 * 4, i1 - i0, ...extra] })),
    );
  };
}
