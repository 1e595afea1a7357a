// WASM threads (src/wasm/threads.ts) in Node: build/sparrow.threads.wasm on a shared memory, its
// helpers in worker_threads (the browser uses Web Workers: test/browser.threads.test.ts). The
// oracle is the one-thread engine on the plain build: int8 is exact, so a conv layer split over
// threads (whole images, or the c4 kernel's output pixels) must give the same bits.
//   - ResNet-20 (7-bit weights), c4 kernel (relaxed: true, the plain build's exact sums): batch
//     1 and 3 split by pixels, batch 2 and 4 by images; 2 and 3 threads;
//   - the c2 / Winograd kernels (relaxed: false): c2 convs split by pixels like c4, Winograd by
//     images (batch 1: one thread);
//   - the helpers really ran (jobs counted), a kernel status < 0 in a helper throws, and the
//     part kernel refuses ranges that are not panel-aligned.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import '../src/ops/ref/index.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import { HELPER_SOURCE_NODE, instantiateThreaded, type SpawnHelper, type ThreadPool } from '../src/wasm/threads.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import type { Tensor } from '../src/ops/types.js';
import { lcg } from './helpers/tensors.js';

const S7 = new Uint8Array(readFileSync(new URL('./fixtures/int8/resnet20.static7.sparrow', import.meta.url)));
/** the kernels whose output pixels split over threads (the rest split by images only) */
const PIXEL_KERNELS = ['qs8_conv2d_4x8c4__wasmrelaxed', 'qs8_conv2d_4x8c2__wasmsimd'];
const THREADS_WASM = new URL('../build/sparrow.threads.wasm', import.meta.url);

const spawnNode: SpawnHelper = () => {
  const w = new Worker(HELPER_SOURCE_NODE, { eval: true });
  const ready = new Promise<void>((res, rej) => {
    w.once('message', (m) => (m === 'ready' ? res() : rej(new Error(String(m)))));
    w.once('error', rej);
  });
  return { postMessage: (m) => w.postMessage(m), ready, terminate: () => void w.terminate() };
};

let plain: WebAssembly.Module;
let threaded: WebAssembly.Module;
const pools: ThreadPool[] = [];
beforeAll(async () => {
  plain = await compileNodeModule();
  threaded = await WebAssembly.compile(readFileSync(THREADS_WASM));
});
afterAll(() => {
  for (const p of pools) p.dispose();
});

function images(n: number, seed: number): Tensor {
  const r = lcg(seed);
  return { dtype: 'float32', dims: [n, 3, 32, 32], data: Float32Array.from({ length: n * 3072 }, () => (r() - 0.5) * 4) };
}
const bits = (t: Tensor): number[] =>
  Array.from(new Int32Array((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, t.data.length));

/** A session on the threads build with `n` threads (its pool: w().pool). */
async function threadedSession(n: number, o: SessionOptions): Promise<{ s: Session; w: () => SparrowWasm }> {
  let wasm: SparrowWasm | undefined;
  const s = await Session.fromSparrow(S7, {
    ...o,
    engine: 'sparrow-int8',
    wasmModule: threaded,
    instantiate: async (m) => {
      wasm = await instantiateThreaded(m, n, spawnNode);
      pools.push(wasm.pool!);
      return wasm;
    },
  });
  return { s, w: () => wasm! };
}

describe('threads: numThreads > 1 gives the one-thread bits', () => {
  for (const relaxed of [true, false])
    it(`ResNet-20 7-bit, ${relaxed ? 'c4 kernel (pixels / images)' : 'c2 (pixels / images) + Winograd (images) kernels'}, 2 and 3 threads`, async () => {
      const one = await Session.fromSparrow(S7, { engine: 'sparrow-int8', wasmModule: plain, relaxed });
      for (const n of [2, 3]) {
        const t = await threadedSession(n, { relaxed });
        expect(t.w().pool!.size).toBe(n);
        for (const b of [1, 2, 3, 4]) {
          const x = images(b, 40 + b);
          const name = one.inputNames[0]!;
          const want = (await one.run({ [name]: x }))[one.outputNames[0]!]!;
          const stats = t.w().pool!.stats;
          const before = stats.calls;
          const got = (await t.s.run({ [name]: x }))[one.outputNames[0]!]!;
          expect(got.dims).toEqual(want.dims);
          expect(bits(got), `${n} threads, batch ${b}`).toEqual(bits(want));
          // ResNet-20's 19 convs: a call per image, or n per image where a c4 / c2 conv splits by pixels
          const convs = t.s.report!.int8!.layers.filter((l) => l.op === 'Conv' || l.op.endsWith('FusedConv'));
          expect(convs.length).toBe(19);
          const perImage = convs.reduce((a, l) => a + (PIXEL_KERNELS.includes(l.kernel) && b % n !== 0 ? n : 1), 0);
          expect(stats.calls - before, `${n} threads, batch ${b}: calls`).toBe(b * perImage);
        }
        // the helpers ran some of them (they claim calls as they come: how many depends on the machine)
        expect(t.w().pool!.stats.helperCalls).toBeGreaterThan(0);
      }
    });

  it('a helper that never runs: the calling thread claims every call (no hang, same bits), then runs alone (starved window)', async () => {
    const idle: SpawnHelper = () => ({ postMessage: () => undefined, ready: Promise.resolve(), terminate: () => undefined });
    let wasm: SparrowWasm | undefined;
    const s = await Session.fromSparrow(S7, {
      engine: 'sparrow-int8',
      wasmModule: threaded,
      relaxed: true,
      instantiate: async (m) => (wasm = await instantiateThreaded(m, 2, idle)),
    });
    const one = await Session.fromSparrow(S7, { engine: 'sparrow-int8', wasmModule: plain, relaxed: true });
    const name = one.inputNames[0]!,
      out = one.outputNames[0]!;
    for (let r = 0; r < 12; r++) {
      const x = images(1, 90 + r);
      expect(bits((await s.run({ [name]: x }))[out]!)).toEqual(bits((await one.run({ [name]: x }))[out]!));
    }
    const st = wasm!.pool!.stats;
    expect(st.helperCalls).toBe(0);
    // 19 jobs of 2 calls per run: windows of 64 jobs, the first two not checked (cold start); the
    // third finds the helper's share 0, and the 36 jobs left run alone
    expect(st.starved).toBe(1);
    expect(st.soloJobs).toBe(12 * 19 - 3 * 64);
  });

  it('a kernel that refuses its arguments in a helper fails the run (SparrowError internal), and the pool stays usable', async () => {
    const t = await threadedSession(2, { relaxed: true });
    const w = t.w();
    const pool = w.pool!;
    const at = w.alloc(256);
    // p0 not a multiple of 8: the part kernel returns E_ARG (-5) in the helper
    const bad = { fn: 'qs8_conv2d_4x8c4_part__wasmrelaxed' as const, args: [0, 0, 0, 0, 0, 0, 0, 0, 4, 3, 9] };
    expect(() => pool.run([bad, bad, bad, bad], at, { arg: 6, stride: 0 })).toThrow(/status -5/);
    const x = images(1, 7);
    const name = t.s.inputNames[0]!;
    const one = await Session.fromSparrow(S7, { engine: 'sparrow-int8', wasmModule: plain, relaxed: true });
    expect(bits((await t.s.run({ [name]: x }))[t.s.outputNames[0]!]!)).toEqual(bits((await one.run({ [name]: x }))[one.outputNames[0]!]!));
  });
});
