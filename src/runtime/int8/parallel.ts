// Elementwise int8 steps (the activation tables, the squeeze-excite Mul) split over the thread
// pool of a threads build: the conv layers have threadSplit (conv.ts); these passes over a flat
// tensor split into contiguous ranges, one call each, every output byte computed as on one thread.
import type { ThreadCall, ThreadPool } from '../../wasm/threads.js';
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
