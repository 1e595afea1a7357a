// WASM threads: helper instances of the module on the main instance's shared memory, driven
// through a control block in that memory (browsers: Web Workers, the page's main thread spins;
// tests in Node: worker_threads). The builds build/sparrow.threads.wasm and
// build/sparrow.relaxed.threads.wasm (asconfig.json targets threads, relaxed-threads: asc
// --sharedMemory --importMemory) import a shared `env.memory`.
//
// What runs where. The main thread owns the memory layout: it instantiates first, runs the
// start function (the CRC tables), places weights, compiles plans; a helper only calls the
// kernels of THREAD_FNS on pointers the main thread wrote into a job, with its own workspace.
// A helper never runs the start function and never allocates (the module's only active data
// segments are constant tables, rewritten with the same bytes when a helper instantiates).
//
// Protocol (one control block of i32 words at `ctl`, shared by all helpers): a job is a list of
// kernel calls; every thread, the calling one included, claims calls one at a time until none is
// left (so a helper that starts late, or is descheduled, leaves its share to the others instead
// of stalling the layer), runs each with its own workspace, and counts it finished.
//   word 0  SEQ      job number (the main thread bumps it; helpers spin on it, then sleep on it)
//   word 1  CLAIM    (seq & 0xfffff) << 12 | next call index: claimed by compareExchange, so a
//                    helper still holding an older job's number can never claim a newer job's call
//   word 2  DONE     calls finished
//   word 3  STATUS   smallest status a call returned (< 0: refused; ERR_THROW: threw)
//   word 4  SLEEP    helpers in Atomics.wait (the main thread notifies only then)
//   word 5  PARK     1 while the main thread runs jobs alone (starved helpers): an idle helper
//                    sleeps at once instead of spinning SPIN_MS for a job that will not come
//   word 8, 9        the job pointer of even / odd job numbers
// A job: f64 [ncalls, workArg, workStride, then per call: fn, nargs, CALL_ARGS args]; thread t
// adds t·workStride to argument workArg (its workspace). A helper spins on SEQ (Atomics.load)
// for up to SPIN_MS after its last job, then sleeps in Atomics.wait; the layers of one run are
// tens of microseconds apart, so within a run it spins. SEQ −1 tells the helpers to exit.
import { SparrowError } from '../errors.js';
import { SparrowWasm } from './gateway.js';

/** The kernels a helper may call (a job names them by index). */
export const THREAD_FNS = [
  'qs8_conv2d_4x8c4_part__wasmrelaxed',
  'qs8_conv2d_4x8c2_part__wasmsimd',
  'qs8_conv2d_4x8c4__wasmrelaxed',
  'qs8_conv2d_4x8c2__wasmsimd',
  'qs8_wino2x2_3x3__wasmsimd',
  'qs8_spconv2d_16x1__wasmsimd',
  'qs8_spconv2d_16x1c2__wasmsimd',
  'qs8_dwconv2d__wasmsimd',
  'qs8_wino2x2_3x3_part__wasmsimd',
  'qs8_spconv2d_16x1_part__wasmsimd',
  'qs8_spconv2d_16x1c2_part__wasmsimd',
  'qs8_wino4x4_3x3__wasmsimd',
  'qs8_wino4x4_3x3_part__wasmsimd',
  'qs8_dwconv2d_part__wasmsimd',
  'qs8_lut__wasmsimd',
  'qs8_mul_rows_f32__wasmsimd',
  'qs8_minmax_f32__wasmsimd',
  'qs8_quantize__wasmsimd',
  'f32_clip__wasmsimd',
  'f32_sigmoid__wasmsimd',
  'f32_silu__wasmsimd',
  'f32_hardswish__wasmsimd',
  'f32_hardsigmoid__wasmsimd',
  'f32_tanh__wasmsimd',
  'f32_gelu__wasmsimd',
  'f32_dwconv_part__wasmsimd',
  'qs8_fc_1x4c8__wasmsimd',
  'qs8_dynfc_f32__wasmsimd',
] as const;
export type ThreadFn = (typeof THREAD_FNS)[number];

/** One kernel call of a job. */
export interface ThreadCall {
  fn: ThreadFn;
  args: readonly number[];
}

/**
 * Runs the calls of a job over its threads (the calling one too); `size` counts the calling
 * thread. Synchronous: returns when every call has finished.
 */
export interface ThreadPool {
  readonly size: number;
  /** jobs run, their calls, and the calls helpers ran (the rest ran on the calling thread) */
  /**
   * jobs run, their calls, the calls helpers ran (the rest ran on the calling thread), joins that
   * stalled (a helper's call outlasted STALL_COUNT_MS and twice the caller's share), windows of
   * WINDOW_JOBS jobs where the helpers ran less than STARVED_SHARE of their share of the calls
   * (they did not get the cores), jobs run on the calling thread alone after those, and the ms
   * the calling thread waited at joins for calls a helper had claimed (the join cost: a helper
   * that starts late or runs slower than the caller)
   */
  readonly stats: { jobs: number; calls: number; helperCalls: number; stalls: number; starved: number; soloJobs: number; waitMs: number };
  /** bytes of a job of `calls` calls (jobs live in memory the caller owns: a plan's scratch) */
  jobBytes(calls: number): number;
  /**
   * Writes the job at `at` (8-aligned, jobBytes) and runs its calls, each on whichever thread
   * claims it first; thread t adds t·work.stride to argument work.arg (its own workspace).
   * Throws SparrowError('internal') when a call returned a status < 0 or threw.
   */
  run(calls: readonly ThreadCall[], at: number, work: { arg: number; stride: number }): void;
  /** stops the helpers (the pool cannot run afterwards) */
  dispose(): void;
}

/** What a helper thread looks like from here (a Web Worker, or a worker_threads Worker). */
export interface HelperPort {
  postMessage(msg: unknown): void;
  /** resolves on the helper's first message (it is ready), rejects on its error */
  ready: Promise<void>;
  terminate(): void;
}

/** Starts one helper running HELPER_SOURCE's `sparrowHelper` (the environment's wrapper). */
export type SpawnHelper = () => HelperPort;

const CTL_WORDS = 16;
/** arguments of a call, at most */
const CALL_ARGS = 11;
const ERR_THROW = -1000;
/** how long an idle helper spins before it sleeps (ms) */
export const SPIN_MS = 2;
/** how long the main thread waits for a helper before it gives up (ms): a dead helper must not hang a run */
const STALL_MS = 20_000;
/** a join that waited longer than this (ms) and than twice the caller's own share stalled (counted) */
export const STALL_COUNT_MS = 1;
/** jobs (of at least `size` calls) over which the helpers' share of the calls is checked */
export const WINDOW_JOBS = 64;
/** windows not checked at first (the cold start) */
export const WARM_WINDOWS = 2;
/** a window whose helpers ran less than this fraction of their fair share of the calls is starved ... */
export const STARVED_SHARE = 0.1;
/** ... and the next SOLO_JOBS jobs run on the calling thread alone */
export const SOLO_JOBS = 128;

/** Does this module import its memory (the threads builds)? */
export function importsMemory(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(module).some((i) => i.kind === 'memory');
}

/** A shared memory for a threads build (pages: initial; the builds declare a maximum of 65536). */
export function sharedMemory(initial = 16): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial, maximum: 65536, shared: true });
}

/** True where a threads build can run: SharedArrayBuffer and Atomics exist (browsers: cross-origin isolated). */
export function threadsAvailable(): boolean {
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return false;
  return g.crossOriginIsolated !== false;
}

/**
 * The helper's code: `sparrowHelper(data, ready)` instantiates the module on the shared memory
 * (no start function) and serves jobs until seq −1. Self-contained (it is sent as source text).
 */
export function sparrowHelper(
  data: { module: WebAssembly.Module; memory: WebAssembly.Memory; ctl: number; index: number; fns: string[]; spinMs: number },
  ready: () => void,
): void {
  const inst = new WebAssembly.Instance(data.module, {
    env: {
      memory: data.memory,
      abort() {
        throw new Error('WASM abort');
      },
    },
  });
  const ex = inst.exports as Record<string, (...a: number[]) => number>;
  const fns = data.fns.map((n) => ex[n]!);
  const base = data.ctl >> 2;
  const tid = data.index + 1;
  let i32 = new Int32Array(data.memory.buffer);
  let f64 = new Float64Array(data.memory.buffer);
  // one argument array per argument count, reused (no allocation per call)
  const argv: number[][] = [];
  ready();
  let last = Atomics.load(i32, base);
  for (;;) {
    let s = Atomics.load(i32, base);
    if (s === last) {
      const t0 = performance.now();
      let n = 0;
      while ((s = Atomics.load(i32, base)) === last) {
        if ((++n & 1023) === 0 && (Atomics.load(i32, base + 5) !== 0 || performance.now() - t0 > data.spinMs)) {
          Atomics.add(i32, base + 4, 1);
          Atomics.wait(i32, base, last);
          Atomics.sub(i32, base + 4, 1);
        }
      }
    }
    if (s === -1) return;
    last = s;
    const tag = (s & 0xfffff) << 12;
    for (;;) {
      const v = Atomics.load(i32, base + 1);
      if ((v & ~0xfff) !== tag) break; // a newer job, or the last call claimed
      const job = Atomics.load(i32, base + 8 + (s & 1)) >>> 0;
      const k = v & 0xfff;
      const h = job >>> 3;
      // a call is 2 + CALL_ARGS (11) f64
      if ((h + 3 + (k + 1) * 13) * 8 > f64.byteLength) {
        i32 = new Int32Array(data.memory.buffer); // memory grew since
        f64 = new Float64Array(data.memory.buffer);
      }
      if (k >= f64[h]!) break;
      if (Atomics.compareExchange(i32, base + 1, v, v + 1) !== v) continue;
      let status = 0;
      try {
        const p = h + 3 + k * 13;
        const na = f64[p + 1]!;
        const args = (argv[na] ??= new Array<number>(na).fill(0));
        for (let a = 0; a < na; a++) args[a] = f64[p + 2 + a]!;
        args[f64[h + 1]!] += tid * f64[h + 2]!;
        status = fns[f64[p]!]!.apply(null, args);
      } catch {
        status = -1000;
      }
      if (status < 0) Atomics.store(i32, base + 3, status);
      Atomics.add(i32, base + 2, 1);
    }
  }
}

/** The helper's source for a Web Worker (module or classic): the first message starts it. */
export const HELPER_SOURCE_WEB = `const sparrowHelper = ${sparrowHelper.toString()};
self.onmessage = (e) => { self.onmessage = null; try { sparrowHelper(e.data, () => self.postMessage('ready')); } catch (err) { self.postMessage('error: ' + err); } };`;

/** The helper's source for a Node worker_threads Worker ({ eval: true }). */
export const HELPER_SOURCE_NODE = `const { parentPort } = require('node:worker_threads');
const sparrowHelper = ${sparrowHelper.toString()};
parentPort.once('message', (d) => { try { sparrowHelper(d, () => parentPort.postMessage('ready')); } catch (err) { parentPort.postMessage('error: ' + err); } });`;

class WasmThreadPool implements ThreadPool {
  readonly size: number;
  readonly stats = { jobs: 0, calls: 0, helperCalls: 0, stalls: 0, starved: 0, soloJobs: 0, waitMs: 0 };
  /** the current window: jobs of at least `size` calls, their calls, the helpers' calls */
  #win = { jobs: 0, calls: 0, helper: 0 };
  /** windows completed */
  #windows = 0;
  /** jobs left to run on this thread alone (after a starved window) */
  #solo = 0;
  /** PARK is set (the helpers were told to sleep) */
  #parked = false;
  #seq = 0;
  #dead = false;
  readonly #helpers: HelperPort[];
  readonly #ctl: number;
  readonly #memory: WebAssembly.Memory;
  readonly #ex: Record<string, (...a: number[]) => number>;
  readonly #fn = new Map<string, number>(THREAD_FNS.map((n, i) => [n, i]));

  constructor(w: SparrowWasm, ctl: number, helpers: HelperPort[]) {
    this.#memory = w.memory;
    this.#ex = w.exports as unknown as Record<string, (...a: number[]) => number>;
    this.#ctl = ctl;
    this.#helpers = helpers;
    this.size = helpers.length + 1;
  }

  jobBytes(calls: number): number {
    return (3 + calls * (2 + CALL_ARGS)) * 8;
  }

  run(calls: readonly ThreadCall[], at: number, work: { arg: number; stride: number }): void {
    if (this.#dead) throw new SparrowError('internal', 'the thread pool was disposed');
    const n = calls.length;
    if (n > 0xfff) throw new SparrowError('internal', `a job of ${n} calls (at most 4095)`);
    if (at & 7) throw new SparrowError('internal', `job pointer ${at} is not 8-aligned`);
    for (const c of calls) if (c.args.length > CALL_ARGS) throw new SparrowError('internal', `${c.fn}: more than ${CALL_ARGS} arguments`);
    if (this.#solo > 0) {
      // the helpers were starved (more threads want the cores than there are): this thread alone
      // for a while (the job is not even written), then the helpers again
      this.#solo--;
      this.stats.jobs++;
      this.stats.calls += n;
      this.stats.soloJobs++;
      for (const c of calls) {
        const st = this.#ex[c.fn]!(...c.args);
        if (st < 0) throw new SparrowError('internal', `${c.fn} returned status ${st}`);
      }
      return;
    }
    const buf = this.#memory.buffer;
    const i32 = new Int32Array(buf);
    const f = new Float64Array(buf, at, this.jobBytes(n) / 8);
    f[0] = n;
    f[1] = work.arg;
    f[2] = work.stride;
    for (let k = 0; k < n; k++) {
      const c = calls[k]!;
      const p = 3 + k * (2 + CALL_ARGS);
      f[p] = this.#fn.get(c.fn)!;
      f[p + 1] = c.args.length;
      for (let a = 0; a < c.args.length; a++) f[p + 2 + a] = c.args[a]!;
    }
    const b = this.#ctl >> 2;
    if (this.#parked) {
      Atomics.store(i32, b + 5, 0);
      this.#parked = false;
    }
    const t0 = performance.now();
    const seq = (this.#seq = (this.#seq + 1) & 0x3fffffff);
    const tag = (seq & 0xfffff) << 12;
    Atomics.store(i32, b + 8 + (seq & 1), at);
    Atomics.store(i32, b + 2, 0);
    Atomics.store(i32, b + 3, 0);
    Atomics.store(i32, b + 1, tag);
    Atomics.store(i32, b, seq);
    if (Atomics.load(i32, b + 4) > 0) Atomics.notify(i32, b);
    // this thread claims calls too (thread 0: its workspace is the base one)
    let error: unknown;
    let mine = 0;
    for (;;) {
      const v = Atomics.load(i32, b + 1);
      const k = v & 0xfff;
      if (k >= n) break;
      if (Atomics.compareExchange(i32, b + 1, v, v + 1) !== v) continue;
      const c = calls[k]!;
      mine++;
      try {
        const st = this.#ex[c.fn]!(...c.args);
        if (st < 0) error ??= new SparrowError('internal', `${c.fn} returned status ${st}`);
      } catch (e) {
        error ??= e;
      }
      Atomics.add(i32, b + 2, 1);
    }
    // join: the helpers' claimed calls write into memory the caller owns
    if (Atomics.load(i32, b + 2) !== n) {
      const t1 = performance.now();
      let spins = 0;
      while (Atomics.load(i32, b + 2) !== n) {
        if ((++spins & 0xffff) === 0 && performance.now() - t1 > STALL_MS) {
          this.#dead = true;
          throw new SparrowError('internal', `a WASM helper thread did not finish its call within ${STALL_MS} ms`);
        }
      }
      // counted only: under load a single stall is common, and the windows below decide
      const wait = performance.now() - t1;
      this.stats.waitMs += wait;
      if (wait > STALL_COUNT_MS && wait > 2 * (t1 - t0)) this.stats.stalls++;
    }
    this.stats.jobs++;
    this.stats.calls += n;
    this.stats.helperCalls += n - mine;
    if (n >= this.size && this.#solo === 0) {
      // helpers that barely get to claim calls are not running beside this thread (the cores are
      // taken): their spinning only takes CPU from it, so this thread runs alone for a while
      const w = this.#win;
      w.jobs++;
      w.calls += n;
      w.helper += n - mine;
      if (w.jobs >= WINDOW_JOBS) {
        // the first windows are the cold start (code still tiering up, compile threads busy)
        if (++this.#windows > WARM_WINDOWS && w.helper < (STARVED_SHARE * w.calls * (this.size - 1)) / this.size) {
          this.stats.starved++;
          this.#solo = SOLO_JOBS;
          // the helpers stop spinning (they would take the cores from this thread) until then
          Atomics.store(i32, b + 5, 1);
          this.#parked = true;
        }
        this.#win = { jobs: 0, calls: 0, helper: 0 };
      }
    }
    if (error !== undefined) throw error;
    const st = Atomics.load(i32, b + 3);
    if (st < 0)
      throw new SparrowError('internal', `WASM helper thread: ${st === ERR_THROW ? 'a kernel threw' : `a kernel returned status ${st}`}`);
  }

  dispose(): void {
    if (this.#dead) return;
    this.#dead = true;
    const i32 = new Int32Array(this.#memory.buffer);
    const b = this.#ctl >> 2;
    Atomics.store(i32, b, -1);
    Atomics.notify(i32, b);
    for (const w of this.#helpers) w.terminate();
  }
}

/**
 * Instantiates a threads build (a module importing a shared memory) on a new shared memory with
 * `numThreads − 1` helpers from `spawn`, and returns the main instance with its pool
 * (`w.pool`). The main instance's start function runs after every helper has instantiated.
 */
export async function instantiateThreaded(module: WebAssembly.Module, numThreads: number, spawn: SpawnHelper): Promise<SparrowWasm> {
  if (!importsMemory(module))
    throw new SparrowError('invalid_argument', 'numThreads > 1 needs a threads build of the WASM module (sparrow.threads.wasm)');
  if (!Number.isInteger(numThreads) || numThreads < 1 || numThreads > 64)
    throw new SparrowError('invalid_argument', `numThreads must be an integer in [1, 64], got ${numThreads}`);
  const memory = sharedMemory();
  const w = await SparrowWasm.instantiate(module, { memory, start: false });
  const ctl = w.alloc(CTL_WORDS * 4);
  new Int32Array(memory.buffer, ctl, CTL_WORDS).fill(0);
  const helpers: HelperPort[] = [];
  try {
    for (let i = 0; i < numThreads - 1; i++) {
      const h = spawn();
      helpers.push(h);
      h.postMessage({ module, memory, ctl, index: i, fns: [...THREAD_FNS], spinMs: SPIN_MS });
    }
    await Promise.all(helpers.map((h) => h.ready));
  } catch (e) {
    for (const h of helpers) h.terminate();
    throw e instanceof SparrowError
      ? e
      : new SparrowError('internal', `cannot start a WASM helper thread: ${(e as Error).message ?? String(e)}`);
  }
  w.start();
  if (numThreads > 1) w.pool = new WasmThreadPool(w, ctl, helpers);
  return w;
}
