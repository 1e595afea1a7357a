// WASM threads (src/wasm/threads.ts) in Node: build/sparrow.threads.wasm on a shared memory, its
// helpers in worker_threads (the browser uses Web Workers: test/browser.threads.test.ts). The
// oracle is the one-thread engine on the plain build: int8 is exact, so a conv layer split over
// threads (whole images, or the c4 kernel's output pixels) must give the same bits.
//   - ResNet-20 (7-bit weights), c4 kernel (relaxed: true, the plain build's exact sums): batch
//     1 and 3 split by pixels, batch 2 and 4 by images; 2 and 3 threads;
//   - the c2 / Winograd kernels (relaxed: false): c2 convs split by pixels like c4, Winograd by
//     panels of 8 output tiles (qs8_wino2x2_3x3_part) or by images;
//   - the Winograd split on its own over edge shapes (odd tile counts, fewer panels than
//     threads, the fused and the int32-row output paths, pads), 2 and 3 threads, batch 1..3,
//     against the direct conv qs8Conv2dRef;
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
import { cifarImages, lcg } from './helpers/tensors.js';
import { CONV_GEOMETRY_BYTES, convGeometry, writeConvGeometry } from '../src/kernels/f32.js';
import {
  placeConvWeights,
  planQs8Conv,
  putChannelParams,
  qs8ConvKernel,
  setQuantAddDelta,
  vaddParams,
  winogradEligible,
  type Qs8Out,
} from '../src/kernels/int8.js';
import { qs8Conv2dRef, qs8VaddRef, type VaddParams } from '../src/kernels/int8_ref.js';
import { quantizeMultiplier } from '../src/quant/int8.js';
import { threadSplit } from '../src/runtime/int8/conv.js';
import { loadWasmNode } from '../src/wasm/node.js';
import { buildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { compressGraph } from '../src/compress/compress.js';
import { PARALLEL_MIN, splitRange } from '../src/runtime/int8/parallel.js';
import { uniformTensor } from './helpers/tensors.js';

const S7 = new Uint8Array(readFileSync(new URL('./fixtures/int8/resnet20.static7.sparrow', import.meta.url)));
/** the kernels whose output pixels split over threads (the rest split by images only; ResNet-20 has ≥ 4 super-panels of 16 pixels per layer) */
const PIXEL_KERNELS = [
  'qs8_conv2d_4x8c4__wasmrelaxed',
  'qs8_conv2d_4x8c2__wasmsimd',
  'qs8_spconv2d_16x1__wasmsimd',
  'qs8_spconv2d_16x1c2__wasmsimd',
];
/** split by panels of 8 output tiles (2x2) */
const WINO_KERNEL = 'qs8_wino2x2_3x3__wasmsimd';
/** split by panels of 8 output tiles (4x4) */
const WINO4_KERNEL = 'qs8_wino4x4_3x3__wasmsimd';
const THREADS_WASM = new URL('../build/sparrow.threads.wasm', import.meta.url);

const spawnNode: SpawnHelper = () => {
  const w = new Worker(HELPER_SOURCE_NODE, { eval: true });
  const ready = new Promise<void>((res, rej) => {
    w.once('message', (m) => (m === 'ready' ? res() : rej(new Error(String(m)))));
    w.once('error', rej);
  });
  return { postMessage: (m) => w.postMessage(m), ready, terminate: () => void w.terminate() };
};

/**
 * A conv output stage with random parameters for M channels: f32 (scale, bias) or int8
 * (requantization multipliers 2^(e0 − 6·u), biases; `int8` adds zero points, clamps, a fused Add).
 */
function randomQs8Out(
  mode: 'int8' | 'f32',
  M: number,
  rnd: () => number,
  zx: number,
  e0: number,
  int8: { zy: number; lo: number; add?: VaddParams },
): Qs8Out {
  if (mode === 'f32')
    return {
      mode,
      zx,
      lo: -Infinity,
      hi: Infinity,
      scale: Float32Array.from({ length: M }, () => 2 ** (rnd() * 10 - 18)),
      bias: Float32Array.from({ length: M }, () => rnd() - 0.5),
    };
  const m = Array.from({ length: M }, () => quantizeMultiplier(2 ** (e0 - rnd() * 6)));
  return {
    mode,
    zx,
    zy: int8.zy,
    lo: int8.lo,
    hi: 127,
    bias: Int32Array.from({ length: M }, () => Math.floor(rnd() * 10000) - 5000),
    multiplier: Int32Array.from(m, (v) => v.multiplier),
    shift: Int32Array.from(m, (v) => v.shift),
    ...(int8.add ? { add: int8.add } : {}),
  };
}

/** Image i of a conv output at py (ys elements each): int8, or the f32 bits as int32. */
function outputImage(w: SparrowWasm, mode: 'int8' | 'f32', py: number, ys: number, i: number): Int8Array | Int32Array {
  return mode === 'f32'
    ? new Int32Array(w.memory.buffer.slice(py + i * ys * 4, py + (i + 1) * ys * 4))
    : new Int8Array(w.memory.buffer.slice(py + i * ys, py + (i + 1) * ys));
}

let plain: WebAssembly.Module;
let threaded: WebAssembly.Module;
/**
 * Runs a split conv once on a poisoned output (py8), checking the pool calls it made (`calls`)
 * and each image's outputs (outputImage) against `wants`; what differs goes to `bad`.
 */
function runChecked(
  w: SparrowWasm,
  run: () => void,
  o: { py: number; ys: number; mode: 'int8' | 'f32'; calls: number; wants: ArrayLike<number>[]; label: string },
  bad: string[],
): void {
  const pool = w.pool!;
  py8(w, o.py, o.wants.length * o.ys * (o.mode === 'f32' ? 4 : 1));
  const before = pool.stats.calls;
  run();
  if (pool.stats.calls - before !== o.calls) bad.push(`${o.label}: ${pool.stats.calls - before} calls, want ${o.calls}`);
  o.wants.forEach((want, i) => {
    const got = outputImage(w, o.mode, o.py, o.ys, i);
    const k = got.findIndex((v, j) => v !== want[j]);
    if (k >= 0) bad.push(`${o.label} ${o.mode} image ${i}: [${k}] ${got[k]} vs ${want[k]}`);
  });
}

/** Poisons an output buffer before a re-run (bytes 0x5a), so a call that writes nothing shows. */
function py8(w: SparrowWasm, at: number, bytes: number): void {
  new Uint8Array(w.memory.buffer, at, bytes).fill(0x5a);
}

/**
 * Re-runs `once` (it checks its own calls and outputs) back to back until a helper has claimed a
 * call, for at most `ms`. A helper sleeps 2 ms (SPIN_MS) after its last job; woken for a single
 * job on a loaded machine it can find every call taken. Back to back, it is spinning.
 */
function untilHelperClaims(pool: ThreadPool, once: () => void, ms = 5000): void {
  const t0 = performance.now();
  while (pool.stats.helperCalls === 0 && performance.now() - t0 < ms) once();
}

const pools: ThreadPool[] = [];
beforeAll(async () => {
  plain = await compileNodeModule();
  threaded = await WebAssembly.compile(readFileSync(THREADS_WASM));
});
afterAll(() => {
  for (const p of pools) p.dispose();
});

const images = cifarImages;
const bits = (t: Tensor): number[] =>
  Array.from(new Int32Array((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, t.data.length));

/** A session on the threads build with `n` threads (its pool: w().pool), of `model` (default: the 7-bit ResNet-20 file). */
async function threadedSession(
  n: number,
  o: SessionOptions,
  spawn: SpawnHelper = spawnNode,
  model: { bytes: Uint8Array; onnx?: boolean } = { bytes: S7 },
): Promise<{ s: Session; w: () => SparrowWasm }> {
  let wasm: SparrowWasm | undefined;
  const opts: SessionOptions = {
    ...o,
    engine: 'sparrow-int8',
    wasmModule: threaded,
    instantiate: async (m) => {
      wasm = await instantiateThreaded(m, n, spawn);
      pools.push(wasm.pool!);
      return wasm;
    },
  };
  const s = model.onnx ? await Session.fromOnnx(model.bytes, opts) : await Session.fromSparrow(model.bytes, opts);
  return { s, w: () => wasm! };
}

/**
 * The calls threadSplit makes for a batch of B images on n threads when a conv's image splits
 * into `parts` ranges: images one call each, except the last n (B ≥ n; all of them for B < n),
 * which go in `parts` calls each (the layer's last calls are short: the join waits for a part).
 */
function splitCalls(B: number, n: number, parts: number): number {
  if (parts === 1) return B;
  const whole = B >= n ? B - n : 0;
  return whole + (B - whole) * parts;
}

describe('threads: numThreads > 1 gives the one-thread bits', () => {
  for (const relaxed of [true, false])
    it(`ResNet-20 7-bit, ${relaxed ? 'c4 kernel (pixels / images)' : 'c2 (pixels / images) + Winograd (tiles / images) kernels'}, 2 and 3 threads`, async () => {
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
          // (F(2x2) splits by panels of 8 output tiles: at 8x8, 2; F(4x4) by panel × 4-channel
          // block: at least 4 units in every conv of ResNet-20)
          const parts = (l: (typeof convs)[number], i: number): number =>
            l.kernel === WINO_KERNEL
              ? i >= 14
                ? Math.min(n, 2)
                : n
              : l.kernel === WINO4_KERNEL || PIXEL_KERNELS.includes(l.kernel)
                ? n
                : 1;
          const calls = convs.reduce((a, l, i) => a + splitCalls(b, n, parts(l, i)), 0);
          expect(stats.calls - before, `${n} threads, batch ${b}: calls`).toBe(calls);
        }
        // the helpers ran some of them (they claim calls as they come: how many depends on the machine)
        expect(t.w().pool!.stats.helperCalls).toBeGreaterThan(0);
      }
    });

  // dynamic mode (the ONNX model, its inputs quantized per image per run): each image's convs in
  // parts after its own quantization (the c2 kernel by pixels; the 1x1 FC of the head is the
  // fused dynamic FC, not split)
  it('dynamic mode, ResNet-20 ONNX: 2 and 3 threads give the one-thread bits, batch 1..3, every image in parts', async () => {
    const onnx = new Uint8Array(readFileSync(new URL('../examples/models/resnet20-cifar10.onnx', import.meta.url)));
    const one = await Session.fromOnnx(onnx, { engine: 'sparrow-int8', wasmModule: plain, winograd: false });
    for (const n of [2, 3]) {
      const { s, w } = await threadedSession(n, { winograd: false }, spawnNode, { bytes: onnx, onnx: true });
      const convs = s.report!.int8!.layers.filter((l) => l.kernel === 'qs8_conv2d_4x8c2__wasmsimd' && l.io === 'dyn');
      expect(convs.length).toBeGreaterThanOrEqual(15); // 19 convs, the float head excepted
      for (const b of [1, 3]) {
        const x = images(b, 60 + b);
        const name = one.inputNames[0]!;
        const stats = w().pool!.stats;
        const before = stats.calls;
        expect(bits((await s.run({ [name]: x }))[s.outputNames[0]!]!), `${n} threads, batch ${b}`).toEqual(
          bits((await one.run({ [name]: x }))[one.outputNames[0]!]!),
        );
        // every image of every such conv in n parts (each image is its own quantization block)
        expect(stats.calls - before, `${n} threads, batch ${b}: calls`).toBe(convs.length * b * n);
      }
      expect(w().pool!.stats.helperCalls).toBeGreaterThan(0);
    }
  });

  // dynamic mode's float32 work over [2, 16, 48, 48] (36,864 floats per image, over
  // PARALLEL_MIN): each image's min/max and quantization, and the SiLU pass after a conv, in
  // ranges over the pool, the float32 depthwise conv by channels (f32_dwconv_part); the
  // one-thread bits, NaN included (a NaN image gives NaN outputs)
  it('dynamic mode: the per-run quantization, the float32 activation pass and depthwise conv split = one thread, bit for bit, NaN too', async () => {
    const X = [2, 16, 48, 48];
    const W1 = uniformTensor([16, 16, 1, 1], 3, -0.5, 0.5),
      W2 = uniformTensor([8, 16, 1, 1], 4, -0.5, 0.5);
    const WD = uniformTensor([16, 1, 3, 3], 5, -0.5, 0.5);
    const onnx = buildModel({
      nodes: [
        { op: 'Conv', inputs: ['x', 'w1'], outputs: ['a'], name: 'c1' },
        { op: 'Sigmoid', inputs: ['a'], outputs: ['s'] },
        { op: 'Mul', inputs: ['a', 's'], outputs: ['h'] },
        { op: 'Conv', inputs: ['h', 'wd'], outputs: ['d'], name: 'dw', attrs: { group: 16, pads: [1, 1, 1, 1] } },
        { op: 'Conv', inputs: ['d', 'w2'], outputs: ['y'], name: 'c2' },
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: X }],
      outputs: [{ name: 'y', dtype: 'float32', dims: null }],
      initializers: { w1: W1, wd: WD, w2: W2 },
      opsets: { '': 13 },
    });
    const one = await Session.fromOnnx(onnx, { engine: 'sparrow-int8', wasmModule: plain, floatHead: 0 });
    const x = uniformTensor(X, 11, -3, 3);
    const xn = { ...x, data: Float32Array.from(x.data as Float32Array) };
    (xn.data as Float32Array)[40000] = NaN; // in the second image
    for (const n of [2, 3]) {
      const { s, w } = await threadedSession(n, { floatHead: 0 }, spawnNode, { bytes: onnx, onnx: true });
      expect(s.report!.int8!.layers.map((l) => l.io)).toEqual(['dyn', 'dyn']);
      for (const input of [x, xn]) {
        const stats = w().pool!.stats;
        const before = stats.jobs;
        const got = bits((await s.run({ x: input }))['y']!);
        expect(got).toEqual(bits((await one.run({ x: input }))['y']!));
        // per image: c1's min/max, its quantization, its n parts, the SiLU pass (4 jobs); the
        // depthwise conv (float32 in dynamic mode) by channels (1); c2's min/max, its
        // quantization, its n parts (3)
        expect(stats.jobs - before, `${n} threads`).toBe(2 * 8);
      }
    }
  });

  it('a helper that never runs: the calling thread claims every call (no hang, same bits), then runs alone (starved window)', async () => {
    const idle: SpawnHelper = () => ({ postMessage: () => undefined, ready: Promise.resolve(), terminate: () => undefined });
    const { s, w } = await threadedSession(2, { relaxed: true }, idle);
    const one = await Session.fromSparrow(S7, { engine: 'sparrow-int8', wasmModule: plain, relaxed: true });
    const name = one.inputNames[0]!,
      out = one.outputNames[0]!;
    for (let r = 0; r < 12; r++) {
      const x = images(1, 90 + r);
      expect(bits((await s.run({ [name]: x }))[out]!)).toEqual(bits((await one.run({ [name]: x }))[out]!));
    }
    const st = w().pool!.stats;
    expect(st.helperCalls).toBe(0);
    // 19 jobs of 2 calls per run: windows of 64 jobs, the first two not checked (cold start); the
    // third finds the helper's share 0, and the 36 jobs left run alone
    expect(st.starved).toBe(1);
    expect(st.soloJobs).toBe(12 * 19 - 3 * 64);
  });

  it('a helper that starts late: the pool goes solo (PARK: the helper sleeps), then wakes it and it runs calls, same bits', async () => {
    // the helper gets its start message only when the test says so (ready resolves at once)
    let release = (): void => undefined;
    const late: SpawnHelper = () => {
      const h = spawnNode();
      let msg: unknown;
      release = () => h.postMessage(msg);
      return { postMessage: (m) => void (msg = m), ready: Promise.resolve(), terminate: h.terminate };
    };
    const { s, w } = await threadedSession(2, { relaxed: true }, late);
    const one = await Session.fromSparrow(S7, { engine: 'sparrow-int8', wasmModule: plain, relaxed: true });
    const name = one.inputNames[0]!,
      out = one.outputNames[0]!;
    const st = w().pool!.stats;
    const check = async (r: number): Promise<void> => {
      const x = images(1, 200 + r);
      expect(bits((await s.run({ [name]: x }))[out]!)).toEqual(bits((await one.run({ [name]: x }))[out]!));
    };
    // 19 jobs of 2 calls a run: the third window of 64 jobs (run 11) is starved, 128 solo jobs follow
    for (let r = 0; r < 11; r++) await check(r);
    expect(st.helperCalls).toBe(0);
    expect(st.starved).toBe(1);
    release();
    await new Promise((r) => setTimeout(r, 50)); // the helper starts, finds PARK set and sleeps
    for (let r = 11; r < 60; r++) await check(r);
    // after the solo jobs the pool wakes the helper (PARK cleared, notify) and it claims calls
    expect(st.soloJobs).toBeGreaterThanOrEqual(128);
    expect(st.helperCalls).toBeGreaterThan(0);
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

// The Winograd kernel split by panels of 8 output tiles (qs8_wino2x2_3x3_part, threadSplit):
// each image in min(T, panels) calls, each thread padding the input in its own workspace and
// transforming its own panels. Oracle: the direct conv qs8Conv2dRef, bit for bit, per image.
describe('threads: the Winograd kernel split by output tiles', () => {
  interface WCase {
    C: number;
    H: number;
    W: number;
    M: number;
    pads: [number, number, number, number];
  }
  // tiles = ceil(OH/2)·ceil(OW/2), panels of 8; TW % 4 == 0 stores from the tiles (fused), else
  // through the int32 rows: both; odd tile counts, one panel (fewer than the threads), two
  // panels with 3 threads, a panel boundary inside a tile row, odd Cin, M off the 4-block, pads
  const WCASES: WCase[] = [
    { C: 3, H: 3, W: 3, M: 2, pads: [0, 0, 0, 0] }, // 1 output, 1 tile, 1 panel
    { C: 5, H: 5, W: 5, M: 5, pads: [1, 1, 1, 1] }, // 9 tiles (TW 3): 2 panels, the last of 1 tile
    { C: 4, H: 7, W: 9, M: 4, pads: [1, 1, 1, 1] }, // 4x5 = 20 tiles: 3 panels, rows split mid-row
    { C: 7, H: 8, W: 8, M: 6, pads: [1, 1, 1, 1] }, // TW 4 (fused): 16 tiles = 2 panels
    { C: 8, H: 16, W: 16, M: 9, pads: [1, 1, 1, 1] }, // TW 8 (fused): 8 panels
    { C: 3, H: 9, W: 10, M: 7, pads: [0, 2, 1, 0] }, // asymmetric pads
    { C: 2, H: 37, W: 2, M: 3, pads: [1, 2, 2, 1] }, // tall: TW 2, 19·2 = 38 tiles, 5 panels
    { C: 6, H: 11, W: 13, M: 5, pads: [2, 2, 2, 2] }, // 7x8 tiles = 56 = 7 panels (odd)
    { C: 16, H: 32, W: 32, M: 16, pads: [1, 1, 1, 1] }, // a ResNet layer: 32 panels
  ];
  const wino = qs8ConvKernel('qs8_wino2x2_3x3__wasmsimd');
  for (const n of [2, 3])
    it(`${n} threads: every image's outputs = qs8Conv2dRef (int8 and f32 output modes), batch 1..3`, async () => {
      const w = await instantiateThreaded(threaded, n, spawnNode);
      const pool = w.pool!;
      pools.push(pool);
      const rnd = lcg(70 + n);
      const bad: string[] = [];
      for (const [ci, cs] of WCASES.entries())
        for (const B of [1, 2, 3]) {
          const mode = (ci + B) % 2 ? 'int8' : 'f32';
          const attrs = { pads: cs.pads, strides: [1, 1] as [number, number], dilations: [1, 1] as [number, number], groups: 1 };
          const geo = convGeometry([cs.C, cs.H, cs.W], [cs.M, cs.C, 3, 3], attrs);
          expect(winogradEligible(geo)).toBe(true);
          const zx = [-128, 127, 3][ci % 3]!;
          const wt = Int8Array.from({ length: cs.M * cs.C * 9 }, () => Math.floor(rnd() * 256) - 128);
          const xs = cs.C * cs.H * cs.W,
            ys = cs.M * geo.OH * geo.OW;
          const x = Int8Array.from({ length: B * xs }, () => Math.floor(rnd() * 256) - 128);
          const out = randomQs8Out(mode, cs.M, rnd, zx, -8, { zy: 5, lo: ci % 2 ? 5 : -128 });
          const mark = w.mark();
          try {
            const plan = planQs8Conv(w, geo, out, wino);
            const wp = placeConvWeights(w, 'wino', wt, cs.M, cs.C * 9, 1);
            const qp = putChannelParams(w, out);
            const px = w.putBytes(x);
            const eB = mode === 'f32' ? 4 : 1;
            const py = w.alloc(B * ys * eB);
            const split = threadSplit(pool, wino, geo, B, plan.workBytes);
            const work = w.alloc(split.workBytes);
            const run = split.runner((src, i) => [plan.g, plan.q, src + i * xs, wp, qp, py + i * ys * eB, work], work);
            // a call per image when the batch divides over the threads, else min(n, panels) per image
            const panels = Math.ceil((Math.ceil(geo.OH / 2) * Math.ceil(geo.OW / 2)) / 8);
            const calls = splitCalls(B, n, Math.min(n, panels));
            const wants = Array.from({ length: B }, (_, i) => {
              const want = qs8Conv2dRef(x.subarray(i * xs, (i + 1) * xs), [cs.C, cs.H, cs.W], wt, [cs.M, cs.C, 3, 3], attrs, out).data;
              return want instanceof Float32Array ? new Int32Array(want.buffer, want.byteOffset, want.length) : want;
            });
            const once = (): void =>
              runChecked(w, () => run(px), { py, ys, mode, calls, wants, label: `${JSON.stringify(cs)} B=${B}` }, bad);
            once();
            if (ci === WCASES.length - 1 && B === 1) untilHelperClaims(pool, once);
          } finally {
            w.release(mark);
          }
        }
      expect(bad.slice(0, 5)).toEqual([]);
      expect(pool.stats.helperCalls).toBeGreaterThan(0);
    });

  it('qs8_wino2x2_3x3_part refuses panel ranges outside [0, panels) (status -5)', async () => {
    const w = await loadWasmNode('release');
    const geo = convGeometry([4, 7, 9], [4, 4, 3, 3], { pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], groups: 1 });
    const out: Qs8Out = { mode: 'int32', zx: 0, bias: new Int32Array(4) };
    const mark = w.mark();
    try {
      const plan = planQs8Conv(w, geo, out, wino);
      const wp = placeConvWeights(w, 'wino', new Int8Array(4 * 4 * 9), 4, 36, 1);
      const qp = putChannelParams(w, out);
      const px = w.alloc(4 * 7 * 9),
        py = w.alloc(4 * 7 * 9 * 4),
        work = w.alloc(plan.workBytes);
      expect(w.exports.qs8_wino_panels(plan.g)).toBe(3);
      const part = (n0: number, n1: number): number =>
        w.exports.qs8_wino2x2_3x3_part__wasmsimd(plan.g, plan.q, px, wp, qp, py, work, n0, n1);
      for (const [n0, n1] of [
        [-1, 1],
        [1, 1],
        [2, 1],
        [0, 4],
        [3, 4],
      ] as const)
        expect(part(n0, n1), `[${n0}, ${n1})`).toBe(-5);
      expect(part(0, 3)).toBe(0);
      expect(part(2, 3)).toBe(0);
    } finally {
      w.release(mark);
    }
  });
});

// The depthwise kernel split by input channels (qs8_dwconv2d_part, threadSplit): each image in
// min(T, C) calls, each thread building its channels' planes in its own workspace. Oracle: the
// direct conv qs8Conv2dRef, bit for bit, per image. The pair path (3x3 / 5x5, strides 1 and 2),
// a multiplier, the general path (dilation 2), fewer channels than threads.
describe('threads: the depthwise kernel split by input channels', () => {
  const DCASES: Array<{ C: number; H: number; W: number; mult: number; k: number; s: number; d: number }> = [
    { C: 1, H: 9, W: 9, mult: 1, k: 3, s: 1, d: 1 }, // one channel: fewer than the threads
    { C: 5, H: 12, W: 11, mult: 1, k: 3, s: 2, d: 1 },
    { C: 7, H: 14, W: 14, mult: 1, k: 5, s: 1, d: 1 },
    { C: 6, H: 13, W: 17, mult: 2, k: 5, s: 2, d: 1 },
    { C: 9, H: 10, W: 10, mult: 1, k: 3, s: 1, d: 2 }, // the general path
  ];
  const dwk = qs8ConvKernel('qs8_dwconv2d__wasmsimd');
  for (const n of [2, 3])
    it(`${n} threads: every image's outputs = qs8Conv2dRef (int8 and f32 output modes), batch 1..3`, async () => {
      const w = await instantiateThreaded(threaded, n, spawnNode);
      const pool = w.pool!;
      pools.push(pool);
      const rnd = lcg(90 + n);
      const bad: string[] = [];
      for (const [ci, cs] of DCASES.entries())
        for (const B of [1, 2, 3]) {
          const mode = (ci + B) % 2 ? 'int8' : 'f32';
          const M = cs.C * cs.mult,
            p = (cs.k >> 1) * cs.d;
          const attrs = {
            pads: [p, p, p, p] as [number, number, number, number],
            strides: [cs.s, cs.s] as [number, number],
            dilations: [cs.d, cs.d] as [number, number],
            groups: cs.C,
          };
          const geo = convGeometry([cs.C, cs.H, cs.W], [M, 1, cs.k, cs.k], attrs);
          const zx = [-128, 127, 3][ci % 3]!;
          const wt = Int8Array.from({ length: M * cs.k * cs.k }, () => Math.floor(rnd() * 256) - 128);
          const xs = cs.C * cs.H * cs.W,
            ys = M * geo.OH * geo.OW;
          const x = Int8Array.from({ length: B * xs }, () => Math.floor(rnd() * 256) - 128);
          const out = randomQs8Out(mode, M, rnd, zx, -8, { zy: 5, lo: ci % 2 ? 5 : -128 });
          const mark = w.mark();
          try {
            const plan = planQs8Conv(w, geo, out, dwk);
            const wp = placeConvWeights(w, 'raw', wt, M, cs.k * cs.k, cs.C);
            const qp = putChannelParams(w, out);
            const px = w.putBytes(x);
            const eB = mode === 'f32' ? 4 : 1;
            const py = w.alloc(B * ys * eB);
            const split = threadSplit(pool, dwk, geo, B, plan.workBytes);
            const work = w.alloc(split.workBytes);
            const run = split.runner((src, i) => [plan.g, plan.q, src + i * xs, wp, qp, py + i * ys * eB, work], work);
            const calls = splitCalls(B, n, Math.min(n, cs.C));
            const wants = Array.from({ length: B }, (_, i) => {
              const want = qs8Conv2dRef(x.subarray(i * xs, (i + 1) * xs), [cs.C, cs.H, cs.W], wt, [M, 1, cs.k, cs.k], attrs, out).data;
              return want instanceof Float32Array ? new Int32Array(want.buffer, want.byteOffset, want.length) : want;
            });
            const once = (): void =>
              runChecked(w, () => run(px), { py, ys, mode, calls, wants, label: `${JSON.stringify(cs)} B=${B}` }, bad);
            once();
            if (ci === DCASES.length - 2 && B === 1) untilHelperClaims(pool, once);
          } finally {
            w.release(mark);
          }
        }
      expect(bad.slice(0, 5)).toEqual([]);
      expect(pool.stats.helperCalls).toBeGreaterThan(0);
    });

  it('qs8_dwconv2d_part refuses channel ranges outside [0, C] (status -5); the parts of [0, C) write what the whole call writes', async () => {
    const w = await loadWasmNode('release');
    const C = 4;
    const attrs = {
      pads: [1, 1, 1, 1] as [number, number, number, number],
      strides: [1, 1] as [number, number],
      dilations: [1, 1] as [number, number],
      groups: C,
    };
    const geo = convGeometry([C, 7, 9], [C, 1, 3, 3], attrs);
    const out: Qs8Out = { mode: 'int32', zx: 2, bias: Int32Array.from({ length: C }, (_, i) => i * 7 - 3) };
    const rnd = lcg(5);
    const wt = Int8Array.from({ length: C * 9 }, () => Math.floor(rnd() * 256) - 128);
    const x = Int8Array.from({ length: C * 63 }, () => Math.floor(rnd() * 256) - 128);
    const mark = w.mark();
    try {
      const plan = planQs8Conv(w, geo, out, dwk);
      const wp = placeConvWeights(w, 'raw', wt, C, 9, C);
      const qp = putChannelParams(w, out);
      const px = w.putBytes(x),
        py = w.alloc(C * 63 * 4),
        work = w.alloc(plan.workBytes);
      const part = (c0: number, c1: number): number => w.exports.qs8_dwconv2d_part__wasmsimd(plan.g, plan.q, px, wp, qp, py, work, c0, c1);
      for (const [c0, c1] of [
        [-1, 1],
        [2, 1],
        [0, 5],
        [5, 5],
      ] as const)
        expect(part(c0, c1), `[${c0}, ${c1})`).toBe(-5);
      const y = () => new Int32Array(w.memory.buffer, py, C * 63);
      const want = qs8Conv2dRef(x, [C, 7, 9], wt, [C, 1, 3, 3], attrs, out).data as Int32Array;
      // a part writes its channels only
      y().fill(0x5a5a5a5a);
      expect(part(1, 3)).toBe(0);
      expect(Array.from(y().subarray(63, 3 * 63))).toEqual(Array.from(want.subarray(63, 3 * 63)));
      expect([...y().subarray(0, 63), ...y().subarray(3 * 63)].every((v) => v === 0x5a5a5a5a)).toBe(true);
      y().fill(0x5a5a5a5a);
      for (const [c0, c1] of [
        [0, 1],
        [1, 1],
        [1, 3],
        [3, 4],
      ] as const)
        expect(part(c0, c1)).toBe(0);
      expect(Array.from(y())).toEqual(Array.from(want));
    } finally {
      w.release(mark);
    }
  });
});

// The elementwise int8 passes (an activation table, the squeeze-excite Mul) split into ranges
// over the pool (src/runtime/int8/parallel.ts): a static model of SiLU (one table) and a channel
// scale Mul on [2, 16, 48, 48] (36,864 per image: over PARALLEL_MIN), whose only threaded steps
// are those two; every thread count gives the one-thread bits, and each run is 2 jobs of n calls.
describe('threads: the elementwise int8 passes split by ranges', () => {
  const X = [2, 16, 48, 48],
    G = [2, 16, 1, 1];
  const MODEL = buildModel({
    nodes: [
      { op: 'Sigmoid', inputs: ['x'], outputs: ['s'] },
      { op: 'Mul', inputs: ['x', 's'], outputs: ['a'] },
      { op: 'Mul', inputs: ['a', 'g'], outputs: ['y'] },
    ],
    inputs: [
      { name: 'x', dtype: 'float32', dims: X },
      { name: 'g', dtype: 'float32', dims: G },
    ],
    outputs: [{ name: 'y', dtype: 'float32', dims: X }],
    opsets: { '': 13 },
  });

  it('splitRange: contiguous, covering, aligned interior bounds, no empty range', () => {
    for (const [n, parts, align] of [
      [100, 2, 32],
      [31, 3, 32],
      [1000, 3, 1],
      [7, 8, 1],
      [0, 2, 1],
      [65, 2, 32],
    ] as const) {
      const r = splitRange(n, parts, align);
      let at = 0;
      for (const [i0, i1] of r) {
        expect(i0).toBe(at);
        expect(i1).toBeGreaterThan(i0);
        if (i1 !== n) expect(i1 % align).toBe(0);
        at = i1;
      }
      expect(at).toBe(n);
      expect(r.length).toBeLessThanOrEqual(parts);
    }
  });

  it('SiLU table and channel-scale Mul on 2 and 3 threads = one thread, bit for bit; the passes ran as parallel jobs', async () => {
    expect(X.reduce((a, b) => a * b, 1)).toBeGreaterThan(PARALLEL_MIN);
    const g = importOnnx(MODEL);
    optimize(g);
    const calib = [1, 2, 3].map((k) => ({ x: uniformTensor(X, k, -5, 5), g: uniformTensor(G, 10 + k, 0, 1) }));
    const file = (await compressGraph(g, { sparsity: 0, activations: 'static', calib: { batches: calib, spec: 'test' } })).bytes;
    const feeds = { x: uniformTensor(X, 7, -5, 5), g: uniformTensor(G, 8, 0, 1) };
    const one = await Session.fromSparrow(file, { engine: 'sparrow-int8', wasmModule: plain });
    expect(one.report!.int8!.floatOps).toEqual([]);
    const want = bits((await one.run(feeds))['y']!);
    for (const n of [2, 3]) {
      const { s, w } = await threadedSession(n, {}, spawnNode, { bytes: file });
      const stats = w().pool!.stats;
      const before = { jobs: stats.jobs, calls: stats.calls };
      expect(bits((await s.run(feeds))['y']!)).toEqual(want);
      expect(stats.jobs - before.jobs).toBe(2);
      expect(stats.calls - before.calls).toBe(2 * n);
    }
  });
});

describe('threads: the float32 depthwise kernel split by input channels', () => {
  it('f32_dwconv_part refuses channel ranges outside [0, C] (status -5); a part writes only its channels; the parts of [0, C) = the whole call', async () => {
    const w = await loadWasmNode('release');
    const C = 5,
      mult = 2,
      M = C * mult;
    const geo = convGeometry(
      [C, 11, 13],
      [M, 1, 5, 5],
      { pads: [2, 2, 2, 2], strides: [2, 2], dilations: [1, 1], groups: C },
      { fn: 'silu' },
    );
    const rnd = lcg(17);
    const xv = Float32Array.from({ length: C * 11 * 13 }, () => rnd() * 4 - 2),
      wv = Float32Array.from({ length: M * 25 }, () => rnd() - 0.5),
      bv = Float32Array.from({ length: M }, () => rnd() - 0.5);
    const ys = geo.OH * geo.OW;
    const mark = w.mark();
    try {
      const g = w.alloc(CONV_GEOMETRY_BYTES);
      writeConvGeometry(w, geo, g);
      const px = w.alloc(xv.length * 4),
        pw = w.alloc(wv.length * 4),
        pb = w.alloc(bv.length * 4),
        py = w.alloc(M * ys * 4),
        work = w.alloc(w.exports.f32_dwconv_work_bytes(g));
      w.f32(px, xv.length).set(xv);
      w.f32(pw, wv.length).set(wv);
      w.f32(pb, bv.length).set(bv);
      const y = () => new Int32Array(w.memory.buffer, py, M * ys);
      expect(w.exports.f32_dwconv__wasmsimd(g, px, pw, pb, py, work)).toBe(0);
      const want = y().slice();
      const part = (c0: number, c1: number): number => w.exports.f32_dwconv_part__wasmsimd(g, px, pw, pb, py, work, c0, c1);
      for (const [c0, c1] of [
        [-1, 1],
        [3, 2],
        [0, 6],
        [6, 6],
      ] as const)
        expect(part(c0, c1), `[${c0}, ${c1})`).toBe(-5);
      y().fill(0x5a5a5a5a);
      expect(part(1, 3)).toBe(0);
      // input channels 1, 2 = output channels 2..5
      expect(Array.from(y().subarray(2 * ys, 6 * ys))).toEqual(Array.from(want.subarray(2 * ys, 6 * ys)));
      expect([...y().subarray(0, 2 * ys), ...y().subarray(6 * ys)].every((v) => v === 0x5a5a5a5a)).toBe(true);
      y().fill(0x5a5a5a5a);
      for (const [c0, c1] of [
        [0, 2],
        [2, 2],
        [2, 5],
      ] as const)
        expect(part(c0, c1)).toBe(0);
      expect(Array.from(y())).toEqual(Array.from(want));
    } finally {
      w.release(mark);
    }
  });
});

// FC layers (Gemm / MatMul) split by rows of X (tokens, samples) over the pool: the fused
// dynamic kernel (qs8_dynfc_f32, when X is finite) and the static one (qs8_fc_1x4c8); a single
// row (dynamic) by columns
describe('threads: FC layers split by rows', () => {
  const X = [16, 256];
  const MODEL = buildModel({
    nodes: [
      { op: 'Gemm', inputs: ['x', 'w1', 'b1'], outputs: ['a'], attrs: { transB: 1 }, name: 'fc1' },
      { op: 'Relu', inputs: ['a'], outputs: ['r'] },
      { op: 'Gemm', inputs: ['r', 'w2', 'b2'], outputs: ['y'], attrs: { transB: 1 }, name: 'fc2' },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: X }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [16, 128] }],
    initializers: {
      w1: uniformTensor([512, 256], 1, -0.1, 0.1),
      b1: uniformTensor([512], 2, -0.1, 0.1),
      w2: uniformTensor([128, 512], 3, -0.1, 0.1),
      b2: uniformTensor([128], 4, -0.1, 0.1),
    },
  });
  const threadedOf = async (bytes: Uint8Array, n: number, sparrow: boolean) => {
    const { s, w } = await threadedSession(n, { floatHead: 0 }, spawnNode, { bytes, onnx: !sparrow });
    return { s, stats: () => w().pool!.stats };
  };

  it('one row (a decoder token), dynamic and static: the columns split, each part with its own scales; 2 and 3 threads = one thread', async () => {
    const one1 = buildModel({
      nodes: [
        { op: 'Gemm', inputs: ['x', 'w1', 'b1'], outputs: ['a'], attrs: { transB: 1 }, name: 'fc1' },
        { op: 'Gemm', inputs: ['a', 'w2', 'b2'], outputs: ['y'], attrs: { transB: 1 }, name: 'fc2' },
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: [1, 512] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [1, 260] }],
      initializers: {
        w1: uniformTensor([1030, 512], 5, -0.1, 0.1), // 1030 columns: a last part not a multiple of 4
        b1: uniformTensor([1030], 6, -0.1, 0.1),
        w2: uniformTensor([260, 1030], 7, -0.1, 0.1),
        b2: uniformTensor([260], 8, -0.1, 0.1),
      },
    });
    const g = importOnnx(one1);
    optimize(g);
    const calib = [1, 2, 3].map((k) => uniformTensor([1, 512], 30 + k, -2, 2));
    const file = (await compressGraph(g, { sparsity: 0, activations: 'static', calib: { batches: calib, spec: 'test' } })).bytes;
    const x = uniformTensor([1, 512], 12, -2, 2);
    for (const sparrow of [false, true]) {
      const o: SessionOptions = { engine: 'sparrow-int8', floatHead: 0, wasmModule: plain };
      const ref = sparrow ? await Session.fromSparrow(file, o) : await Session.fromOnnx(one1, o);
      expect(ref.report!.int8!.layers.map((l) => l.kernel)).toEqual(
        sparrow ? ['qs8_fc_1x4c8__wasmsimd', 'qs8_fc_1x4c8__wasmsimd'] : ['qs8_dynfc_f32__wasmsimd', 'qs8_dynfc_f32__wasmsimd'],
      );
      const want = bits((await ref.run({ x }))['y']!);
      for (const n of [2, 3]) {
        const t = await threadedOf(sparrow ? file : one1, n, sparrow);
        const before = { jobs: t.stats().jobs, calls: t.stats().calls };
        expect(bits((await t.s.run({ x }))['y']!), `${sparrow ? 'static' : 'dynamic'}, ${n} threads`).toEqual(want);
        expect(t.stats().jobs - before.jobs).toBe(2);
        expect(t.stats().calls - before.calls).toBe(2 * n);
      }
    }
  });

  it('dynamic (the fused kernel) and static: 2 and 3 threads = one thread, one job per FC; a NaN row: the one-thread path', async () => {
    const g = importOnnx(MODEL);
    optimize(g);
    const calib = [1, 2, 3].map((k) => uniformTensor(X, 20 + k, -2, 2));
    const file = (await compressGraph(g, { sparsity: 0, activations: 'static', calib: { batches: calib, spec: 'test' } })).bytes;
    const x = uniformTensor(X, 9, -2, 2);
    const xn = { ...x, data: Float32Array.from(x.data as Float32Array) };
    (xn.data as Float32Array)[5 * 256 + 7] = NaN;
    for (const sparrow of [false, true]) {
      const bytes = sparrow ? file : MODEL;
      const o: SessionOptions = { engine: 'sparrow-int8', floatHead: 0, wasmModule: plain };
      const one = sparrow ? await Session.fromSparrow(bytes, o) : await Session.fromOnnx(bytes, o);
      const kernel = sparrow ? 'qs8_fc_1x4c8__wasmsimd' : 'qs8_dynfc_f32__wasmsimd';
      expect(one.report!.int8!.layers.map((l) => l.kernel)).toEqual([kernel, kernel]);
      for (const n of [2, 3]) {
        const t = await threadedOf(bytes, n, sparrow);
        for (const input of sparrow ? [x] : [x, xn]) {
          const before = { jobs: t.stats().jobs, calls: t.stats().calls };
          expect(bits((await t.s.run({ x: input }))['y']!), `${sparrow ? 'static' : 'dynamic'}, ${n} threads`).toEqual(
            bits((await one.run({ x: input }))['y']!),
          );
          // a NaN in X: both FCs (the second reads the first's NaN row) take the one-thread path
          const jobs = input === xn ? 0 : 2;
          expect(t.stats().jobs - before.jobs).toBe(jobs);
          expect(t.stats().calls - before.calls).toBe(jobs * n);
        }
      }
    }
  });
});

describe('threads: the arbitrary-pair sparse conv split by output pixels', () => {
  // pixels = OH·OW in super-panels of 16: one super-panel (fewer than the threads), a partial
  // last one, strides, 1x1, groups, a ResNet stage-1 layer at 30 % density
  const SCASES: Array<{ C: number; H: number; W: number; M: number; k: number; s: number; p: number; g: number; d: number }> = [
    { C: 3, H: 4, W: 4, M: 5, k: 3, s: 1, p: 1, g: 1, d: 0.5 }, // 16 pixels: 1 super-panel
    { C: 8, H: 7, W: 9, M: 6, k: 3, s: 1, p: 1, g: 1, d: 0.3 }, // 63 pixels: 4, the last of 15
    { C: 12, H: 11, W: 11, M: 9, k: 3, s: 2, p: 1, g: 1, d: 0.3 }, // stride 2: 36 pixels
    { C: 16, H: 5, W: 13, M: 7, k: 1, s: 1, p: 0, g: 1, d: 0.2 }, // 1x1
    { C: 8, H: 9, W: 9, M: 8, k: 3, s: 1, p: 1, g: 2, d: 0.4 }, // groups
    { C: 16, H: 32, W: 32, M: 16, k: 3, s: 1, p: 1, g: 1, d: 0.3 }, // 64 super-panels
  ];
  const sparse = qs8ConvKernel('qs8_spconv2d_16x1__wasmsimd');
  for (const [n, kernel] of [
    [2, sparse],
    [3, sparse],
    [2, qs8ConvKernel('qs8_spconv2d_16x1c2__wasmsimd')],
    [3, qs8ConvKernel('qs8_spconv2d_16x1c2__wasmsimd')],
  ] as const)
    it(`${kernel.name}, ${n} threads: every image's outputs = qs8Conv2dRef (int8 with a fused Add, f32), batch 1..3`, async () => {
      const w = await instantiateThreaded(threaded, n, spawnNode);
      const pool = w.pool!;
      pools.push(pool);
      const rnd = lcg(90 + n);
      const bad: string[] = [];
      for (const [ci, cs] of SCASES.entries())
        for (const B of [1, 2, 3]) {
          const mode = (ci + B) % 2 ? 'int8' : 'f32';
          const attrs = {
            pads: [cs.p, cs.p, cs.p, cs.p] as [number, number, number, number],
            strides: [cs.s, cs.s] as [number, number],
            dilations: [1, 1] as [number, number],
            groups: cs.g,
          };
          const Kc = (cs.C / cs.g) * cs.k * cs.k;
          const wDims = [cs.M, cs.C / cs.g, cs.k, cs.k];
          const geo = convGeometry([cs.C, cs.H, cs.W], wDims, attrs);
          const wt = Int8Array.from({ length: cs.M * Kc }, () => (rnd() < cs.d ? Math.floor(rnd() * 255) - 127 : 0));
          const xs = cs.C * cs.H * cs.W,
            ys = cs.M * geo.OH * geo.OW;
          const x = Int8Array.from({ length: B * xs }, () => Math.floor(rnd() * 256) - 128);
          const other = Int8Array.from({ length: B * ys }, () => Math.floor(rnd() * 256) - 128);
          const out = randomQs8Out(mode, cs.M, rnd, mode === 'f32' ? 3 : -7, -7, {
            zy: 4,
            lo: -128,
            add: vaddParams(2 ** -5, 4, 2 ** -6, -3, 2 ** -5, 1, ci % 2 === 0),
          });
          const mark = w.mark();
          try {
            const plan = planQs8Conv(w, geo, out, kernel);
            const wp = placeConvWeights(w, kernel.weights === 'pairs' ? 'pairs' : 'csr16', wt, cs.M, Kc, cs.g);
            const qp = putChannelParams(w, out);
            const px = w.putBytes(x),
              po = w.putBytes(other);
            const eB = mode === 'f32' ? 4 : 1;
            const py = w.alloc(B * ys * eB);
            if (mode === 'int8') setQuantAddDelta(w, plan.q, po - py);
            const split = threadSplit(pool, kernel, geo, B, plan.workBytes);
            const work = w.alloc(split.workBytes);
            const run = split.runner((src, i) => [plan.g, plan.q, src + i * xs, wp, qp, py + i * ys * eB, work], work);
            const supers = Math.ceil((geo.OH * geo.OW) / 16);
            const calls = splitCalls(B, n, Math.min(n, supers));
            const wants = Array.from({ length: B }, (_, i) => {
              const conv = qs8Conv2dRef(
                x.subarray(i * xs, (i + 1) * xs),
                [cs.C, cs.H, cs.W],
                wt,
                wDims,
                attrs,
                out.mode === 'int8' ? { ...out, add: undefined } : out,
              ).data;
              return out.mode === 'int8' && out.add
                ? qs8VaddRef(conv as Int8Array, other.subarray(i * ys, (i + 1) * ys), out.add)
                : new Int32Array((conv as Float32Array).buffer, (conv as Float32Array).byteOffset, conv.length);
            });
            const once = (): void =>
              runChecked(w, () => run(px), { py, ys, mode, calls, wants, label: `${JSON.stringify(cs)} B=${B}` }, bad);
            once();
            if (ci === SCASES.length - 1 && B === 1) untilHelperClaims(pool, once);
          } finally {
            w.release(mark);
          }
        }
      expect(bad.slice(0, 5)).toEqual([]);
      expect(pool.stats.helperCalls).toBeGreaterThan(0);
    });

  it('qs8_spconv2d_16x1_part and qs8_spconv2d_16x1c2_part refuse pixel ranges off the super-panels or outside [0, OH·OW) (status -5)', async () => {
    const w = await loadWasmNode('release');
    const geo = convGeometry([4, 7, 9], [4, 4, 3, 3], { pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], groups: 1 });
    const out: Qs8Out = { mode: 'int32', zx: 0, bias: new Int32Array(4) };
    const mark = w.mark();
    try {
      const plan = planQs8Conv(w, geo, out, sparse);
      const wp = placeConvWeights(w, 'csr16', new Int8Array(4 * 36).fill(1), 4, 36, 1);
      const qp = putChannelParams(w, out);
      const px = w.alloc(4 * 7 * 9),
        py = w.alloc(4 * 7 * 9 * 4),
        work = w.alloc(plan.workBytes);
      const part = (p0: number, p1: number): number =>
        w.exports.qs8_spconv2d_16x1_part__wasmsimd(plan.g, plan.q, px, wp, qp, py, work, p0, p1);
      const plan2 = planQs8Conv(w, geo, out, qs8ConvKernel('qs8_spconv2d_16x1c2__wasmsimd'));
      const wp2 = placeConvWeights(w, 'pairs', new Int8Array(4 * 36).fill(1), 4, 36, 1);
      const work2 = w.alloc(plan2.workBytes);
      const part2 = (p0: number, p1: number): number =>
        w.exports.qs8_spconv2d_16x1c2_part__wasmsimd(plan2.g, plan2.q, px, wp2, qp, py, work2, p0, p1);
      // 63 pixels
      for (const f of [part, part2]) {
        for (const [p0, p1] of [
          [-16, 16],
          [8, 32],
          [0, 24],
          [16, 16],
          [32, 16],
          [0, 64],
          [48, 80],
          [0, -1],
        ] as const)
          expect(f(p0, p1), `[${p0}, ${p1})`).toBe(-5);
        expect(f(0, 63)).toBe(0);
        expect(f(16, 48)).toBe(0);
        expect(f(48, 63)).toBe(0);
      }
    } finally {
      w.release(mark);
    }
  });
});
