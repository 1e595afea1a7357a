// The engines' plan cache (src/runtime/engine.ts + plan_cache.ts) on a model with a symbolic
// batch: many batch sizes keep at most `maxPlans` plans, evicted plans give their memory back
// (a second pass over the same sizes does not grow linear memory), and every answer still equals
// the reference executor's.
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel } from '../src/onnx/build.js';
import { Session, type EngineName } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';
import { lcg } from './helpers/tensors.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const rnd = lcg(7);
const W = Float32Array.from({ length: 8 * 3 * 3 * 3 }, () => rnd() - 0.5);
const B = Float32Array.from({ length: 8 }, () => rnd() - 0.5);
const MODEL = buildModel({
  nodes: [
    { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Relu', inputs: ['c'], outputs: ['r'] },
    { op: 'GlobalAveragePool', inputs: ['r'], outputs: ['g'] },
    { op: 'Flatten', inputs: ['g'], outputs: ['y'] },
  ],
  inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3, 12, 12] }],
  outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 8] }],
  initializers: {
    w: { dtype: 'float32', dims: [8, 3, 3, 3], data: W },
    b: { dtype: 'float32', dims: [8], data: B },
  },
});

const feed = (n: number): Record<string, Tensor> => ({
  x: { dtype: 'float32', dims: [n, 3, 12, 12], data: Float32Array.from({ length: n * 3 * 144 }, () => rnd() * 2 - 1) },
});

describe.each(['sparrow-f32', 'sparrow-int8'] as EngineName[])('%s plan cache', (engine) => {
  it('at most maxPlans plans over 12 batch sizes, memory reused, answers unchanged', async () => {
    const s = await Session.fromOnnx(MODEL, { engine, wasmModule, planCache: { maxPlans: 3 } });
    const ref = await Session.fromOnnx(MODEL);
    const sizes = Array.from({ length: 12 }, (_, i) => i + 1);
    const feeds = sizes.map(feed);
    const want = await Promise.all(feeds.map((f) => ref.run(f)));
    const check = async () => {
      for (let k = 0; k < sizes.length; k++) {
        const got = (await s.run(feeds[k]!))['y']!.data as Float32Array;
        const exp = want[k]!['y']!.data as Float32Array;
        // int8 (dynamic) is within quantization error; f32 within float rounding
        const tol = engine === 'sparrow-int8' ? 0.05 : 1e-5;
        for (let i = 0; i < exp.length; i++) expect(Math.abs(got[i]! - exp[i]!)).toBeLessThanOrEqual(tol);
        expect(s.memoryStats()!.plans).toBeLessThanOrEqual(3);
      }
    };
    await check();
    const first = s.memoryStats()!;
    expect(first.evictions).toBeGreaterThanOrEqual(9);
    await check();
    await check();
    const after = s.memoryStats()!;
    expect(after.evictions).toBeGreaterThan(first.evictions);
    expect(after.wasmBytes).toBe(first.wasmBytes); // evicted plans' memory is reused
    expect(after.plans).toBe(3);
  });

  it('maxBytes bounds what the plans hold together', async () => {
    const s = await Session.fromOnnx(MODEL, { engine, wasmModule, planCache: { maxBytes: 200_000 } });
    for (const n of [16, 1, 8, 2, 16, 4]) {
      await s.run(feed(n));
      const st = s.memoryStats()!;
      // the plan just compiled always stays; with it, the others fit the bound
      expect(st.plans === 1 || st.planBytes <= 200_000).toBe(true);
    }
  });
});
