// sparrow-int8, WINO_SPARSE_TIE (src/kernels/int8.ts): a 3x3 stride-1 conv pruned to density 0.3
// (ResNet-32's 32→32 16x16 and 64→64 8x8 shapes, as in a 70 % file) runs on the arbitrary-pair
// sparse kernel, whose CSR layout is ~3x smaller than Winograd's; with sparse kernels off
// (sparseDensity 0) the same conv runs on Winograd. Oracles: the two sessions and the scalar TS
// references (kernels: 'scalar') give the same output bits, batch 1 and 2. Tiered kernels
// (Int8EngineOptions.tierUpRuns): after TIER_UP_RUNS runs the same conv runs on F(4x4), which
// beats the sparse kernel there (tier 1), with the same bits.
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, f32 } from '../src/onnx/build.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';
import { mulberry32 } from '../src/util/rng.js';
import { TIER_UP_RUNS } from '../src/runtime/engine_int8.js';
import { apply, measure } from '../src/worker/measure.js';

const NZ = 'qs8_spconv2d_16x1__wasmsimd';
const WINO = 'qs8_wino2x2_3x3__wasmsimd';
const WINO4 = 'qs8_wino4x4_3x3__wasmsimd';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

/** x [N, C, H, H] → Conv 3x3 pad 1 (M, C, 3, 3), exactly round(density·C·9) nonzeros per output channel, |w| in [0.3, 1]·s → y. */
function convModel(C: number, M: number, H: number, seed: number, density = 0.3): Uint8Array {
  const r = mulberry32(seed);
  const K = C * 9,
    keep = Math.round(density * K);
  const w = new Float32Array(M * K);
  for (let m = 0; m < M; m++) {
    const idx = Array.from({ length: K }, (_, k) => k);
    for (let i = K - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    // no nonzero quantizes to 0: |w| ≥ 0.3 of the channel's largest
    for (const k of idx.slice(0, keep)) w[m * K + k] = (r() < 0.5 ? -1 : 1) * (0.3 + 0.7 * r()) * 0.2;
  }
  return buildModel({
    nodes: [{ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, name: 'conv' }],
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', C, H, H] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', M, H, H] }],
    opsets: { '': 13 },
    initializers: {
      w: f32([M, C, 3, 3], Array.from(w)),
      b: f32(
        [M],
        Array.from({ length: M }, () => r() - 0.5),
      ),
    },
  });
}

const bits = (t: Tensor): number[] => Array.from(new Int32Array((t.data as Float32Array).slice().buffer));

describe('sparrow-int8: a sparse kernel within WINO_SPARSE_TIE of Winograd is taken', () => {
  for (const [C, M, H] of [
    [32, 32, 16],
    [64, 64, 8],
  ] as const) {
    it(`${C}→${M} ${H}x${H} at density 0.3: nz kernel (smaller layout), same bits as Winograd and the scalar references`, async () => {
      const bytes = convModel(C, M, H, C + M);
      const o = (x: SessionOptions): SessionOptions => ({ engine: 'sparrow-int8', wasmModule, floatHead: 0, ...x });
      const def = await Session.fromOnnx(bytes, o({}));
      // F(2x2, 3x3), the layout WINO_SPARSE_TIE is about (winograd4: false; F(4x4)'s is larger still)
      const wino = await Session.fromOnnx(bytes, o({ sparseDensity: 0, winograd4: false }));
      const scalar = await Session.fromOnnx(bytes, o({ kernels: 'scalar' }));
      try {
        const layer = (s: Session) => s.report!.int8!.layers.find((l) => l.node === 'conv')!;
        expect(layer(def).kernel).toBe(NZ);
        expect(layer(def).density).toBeCloseTo(0.3, 2);
        expect(layer(wino).kernel).toBe(WINO);
        // CSR, 4 bytes per nonzero (+ row pointers) against 32 bytes per (cout, cin)
        expect(def.report!.int8!.weightBytes * 2.5).toBeLessThan(wino.report!.int8!.weightBytes);
        for (const n of [1, 2]) {
          const r = mulberry32(7 + n);
          const x = f32(
            [n, C, H, H],
            Array.from({ length: n * C * H * H }, () => (r() - 0.5) * 4),
          );
          const a = (await def.run({ x })).y!,
            b = (await wino.run({ x })).y!,
            c = (await scalar.run({ x })).y!;
          expect(a.dims).toEqual([n, M, H, H]);
          expect(bits(a)).toEqual(bits(b));
          expect(bits(a)).toEqual(bits(c));
        }
      } finally {
        await def.dispose();
        await wino.dispose();
        await scalar.dispose();
      }
    });
  }
});

describe('sparrow-int8: tiered kernels (tierUpRuns)', () => {
  const o = (x: SessionOptions): SessionOptions => ({ engine: 'sparrow-int8', wasmModule, floatHead: 0, ...x });
  const layer = (s: Session) => s.report!.int8!.layers.find((l) => l.node === 'conv')!;
  const input = (C: number, H: number, seed: number): Tensor => {
    const r = mulberry32(seed);
    return f32(
      [1, C, H, H],
      Array.from({ length: C * H * H }, () => (r() - 0.5) * 4),
    );
  };

  it(`a pruned conv runs its sparse kernel for ${TIER_UP_RUNS} runs, then F(4x4); 0: F(4x4) at load; Infinity: never; the same bits throughout`, async () => {
    const [C, M, H] = [32, 32, 16];
    const bytes = convModel(C, M, H, 11);
    const def = await Session.fromOnnx(bytes, o({}));
    const now = await Session.fromOnnx(bytes, o({ tierUpRuns: 0 }));
    const never = await Session.fromOnnx(bytes, o({ tierUpRuns: Infinity }));
    const scalar = await Session.fromOnnx(bytes, o({ kernels: 'scalar' }));
    try {
      expect(layer(def).kernel).toBe(NZ);
      expect(layer(now).kernel).toBe(WINO4);
      expect(layer(never).kernel).toBe(NZ);
      const bytesAtLoad = def.report!.int8!.weightBytes;
      for (let i = 1; i <= TIER_UP_RUNS + 2; i++) {
        const x = input(C, H, 100 + i);
        const want = bits((await scalar.run({ x })).y!);
        for (const s of [def, now, never]) expect(bits((await s.run({ x })).y!)).toEqual(want);
        const up = i > TIER_UP_RUNS;
        expect(layer(def).kernel).toBe(up ? WINO4 : NZ);
        expect(def.report!.int8!.tierUp).toEqual(up ? { afterRuns: TIER_UP_RUNS, ms: expect.any(Number) } : undefined);
        expect(layer(never).kernel).toBe(NZ);
        expect(never.report!.int8!.tierUp).toBeUndefined();
      }
      // the F(4x4) layout (72 bytes per (cout, cin)) came on top of the CSR
      expect(def.report!.int8!.weightBytes).toBeGreaterThan(bytesAtLoad + 72 * M * C - 1);
      // another input signature compiled after the tier-up runs tier 1 too
      const x2 = f32([2, C, H, H], [...input(C, H, 1).data, ...input(C, H, 2).data] as number[]);
      expect(bits((await def.run({ x: x2 })).y!)).toEqual(bits((await scalar.run({ x: x2 })).y!));
      expect(layer(def).kernel).toBe(WINO4);
    } finally {
      for (const s of [def, now, never, scalar]) await s.dispose();
    }
  });

  it('tier 1 over the memory limit: tier 0 stays (tierUp.failed), the runs go on, the same bits', async () => {
    const [C, M, H] = [64, 64, 8];
    const bytes = convModel(C, M, H, 13);
    const s = await Session.fromOnnx(bytes, o({}));
    const scalar = await Session.fromOnnx(bytes, o({ kernels: 'scalar' }));
    try {
      await s.run({ x: input(C, H, 0) });
      // no growth: F(4x4)'s 295 KB layout cannot be placed
      s.setMemoryLimits({ maxMemoryBytes: s.memoryStats()!.wasmBytes });
      for (let i = 1; i <= TIER_UP_RUNS + 2; i++) {
        const x = input(C, H, i);
        expect(bits((await s.run({ x })).y!)).toEqual(bits((await scalar.run({ x })).y!));
      }
      expect(s.report!.int8!.tierUp).toEqual({ afterRuns: TIER_UP_RUNS, ms: expect.any(Number), failed: 'too_large' });
      expect(layer(s).kernel).toBe(NZ);
    } finally {
      await s.dispose();
      await scalar.dispose();
    }
  });

  it("the Worker's admission measures tier 1; a load within those figures tiers up; figures without it: tier 0 stays", async () => {
    const [C, M, H] = [64, 64, 8];
    const bytes = convModel(C, M, H, 17);
    const BUDGET = 96 << 20;
    const scalar = await Session.fromOnnx(bytes, o({ kernels: 'scalar' }));
    const check = async (s: Session, runs: number): Promise<void> => {
      for (let i = 0; i < runs; i++) {
        const x = input(C, H, 200 + i);
        expect(bits((await s.run({ x })).y!)).toEqual(bits((await scalar.run({ x })).y!));
      }
    };
    const admitted = await Session.fromOnnx(bytes, o({}));
    const fig = await measure(admitted, 'sparrow-int8', 1, BUDGET);
    expect(admitted.report!.int8!.tierUp).toEqual({ afterRuns: TIER_UP_RUNS, ms: expect.any(Number) });
    expect(admitted.report!.int8!.tierPending).toBeUndefined();
    // a later load (another isolate) within the stored figures: tier 0 at load, then tier 1 within the cap
    const again = await Session.fromOnnx(bytes, o({ maxMemoryBytes: fig.capBytes }));
    apply(again, fig);
    expect(again.report!.int8!.tierPending).toBe(true);
    await check(again, TIER_UP_RUNS + 2);
    expect(again.report!.int8!.tierUp).toEqual({ afterRuns: TIER_UP_RUNS, ms: expect.any(Number) });
    expect(layer(again).kernel).toBe(WINO4);
    expect(again.memoryBytes()!).toBeLessThanOrEqual(fig.capBytes);
    // figures measured at tier 0 (as stored before tiered kernels): no room for F(4x4), tier 0 stays
    const old = await Session.fromOnnx(bytes, o({ tierUpRuns: Infinity }));
    const oldFig = await measure(old, 'sparrow-int8', 1, BUDGET);
    expect(oldFig.capBytes).toBeLessThan(fig.capBytes);
    const later = await Session.fromOnnx(bytes, o({ maxMemoryBytes: oldFig.capBytes }));
    apply(later, oldFig);
    await check(later, TIER_UP_RUNS + 2);
    expect(later.report!.int8!.tierUp).toEqual({ afterRuns: TIER_UP_RUNS, ms: expect.any(Number), failed: 'too_large' });
    expect(layer(later).kernel).toBe(NZ);
    for (const s of [scalar, admitted, again, old, later]) await s.dispose();
  });

  it('a dense first layer (3 input channels) runs F(4x4) at load, the bits of the scalar references', async () => {
    const bytes = convModel(3, 16, 32, 23, 1);
    const s = await Session.fromOnnx(bytes, o({}));
    const scalar = await Session.fromOnnx(bytes, o({ kernels: 'scalar' }));
    try {
      expect(layer(s).kernel).toBe(WINO4);
      for (let i = 0; i < 2; i++) {
        const x = input(3, 32, 300 + i);
        expect(bits((await s.run({ x })).y!)).toEqual(bits((await scalar.run({ x })).y!));
      }
    } finally {
      await s.dispose();
      await scalar.dispose();
    }
  });

  it('a model with nothing tier 1 would change never compiles again', async () => {
    const [C, M, H] = [16, 16, 8];
    // dense: F(4x4) at load; at density 0.1 the sparse kernel beats F(4x4) too
    for (const density of [1, 0.1]) {
      const s = await Session.fromOnnx(convModel(C, M, H, 3, density), o({}));
      try {
        const k = layer(s).kernel;
        expect(k).toBe(density === 1 ? WINO4 : NZ);
        for (let i = 0; i < TIER_UP_RUNS + 3; i++) await s.run({ x: input(C, H, i) });
        expect(s.report!.int8!.tierUp).toBeUndefined();
        expect(layer(s).kernel).toBe(k);
      } finally {
        await s.dispose();
      }
    }
  });
});

// quant.pairs (docs/format.md): the compressor records each axis-0 weight's non-empty k-pairs so
// the engine's kernel choice needs no decode at load. Oracles: the same file without the field
// (counted from a CSR decode as before) gives the same kernels and bits; a count below the
// stream's makes the pair kernel look cheap and its pack then finds more pairs: corrupt_stream.
describe('sparrow-int8: quant.pairs from the file', () => {
  it('same kernels and bits as counting at load; a lying count fails the load with corrupt_stream', async () => {
    const { compressOnnx } = await import('../src/compress/compress.js');
    const { readContainer, writeContainer } = await import('../src/format/container.js');
    const { bytes: file } = await compressOnnx(convModel(32, 32, 16, 5), { sparsity: 0 });
    const { header, payload } = readContainer(file);
    const rewrite = (f: (q: Record<string, unknown>) => void): Uint8Array => {
      const meta = structuredClone(header.meta) as { tensors: Array<{ quant?: Record<string, unknown> }> };
      const qs = meta.tensors.flatMap((t) => (t.quant ? [t.quant] : []));
      expect(qs.length).toBe(1);
      qs.forEach(f);
      const sections = header.sections.map((s, i) => ({
        codec: s.codec,
        dtype: s.dtype,
        decodedBytes: s.decodedBytes,
        payload: payload(i),
      }));
      return writeContainer(meta as typeof header.meta, sections);
    };
    const recorded = header.meta.tensors.find((t) => t.quant)!.quant as Record<string, unknown>;
    expect(Number.isInteger(recorded.pairs)).toBe(true);
    const o: SessionOptions = { engine: 'sparrow-int8', wasmModule, floatHead: 0 };
    const withPairs = await Session.fromSparrow(file, o);
    const counted = await Session.fromSparrow(
      rewrite((q) => delete q.pairs),
      o,
    );
    try {
      const kernels = (s: Session) => s.report!.int8!.layers.map((l) => l.kernel);
      expect(kernels(withPairs)).toEqual(kernels(counted));
      const r = mulberry32(3);
      const x = f32(
        [1, 32, 16, 16],
        Array.from({ length: 32 * 256 }, () => (r() - 0.5) * 4),
      );
      expect(bits((await withPairs.run({ x })).y!)).toEqual(bits((await counted.run({ x })).y!));
    } finally {
      await withPairs.dispose();
      await counted.dispose();
    }
    // 0 pairs: the pair kernel looks free, and its pack meets the stream's pairs
    const lying = rewrite((q) => (q.pairs = 0));
    await expect(Session.fromSparrow(lying, o)).rejects.toMatchObject({ code: 'corrupt_stream' });
  });
});
