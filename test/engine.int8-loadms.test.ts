// sparrow-int8: the per-layer decode + pack time (report.int8.layers[i].loadMs) against the
// engine's own total (report.int8.weightsMs, measured around all of it): every layer that runs
// from a placed weight layout has one, they add up to no more than the total, a later plan
// (another batch size) reports the layouts it reuses, and scalar kernels (nothing placed) have none.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import '../src/ops/ref/index.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';

const S8 = new Uint8Array(readFileSync(new URL('./fixtures/int8/resnet20.static.sparrow', import.meta.url)));

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});
const I8 = (o: SessionOptions = {}): SessionOptions => ({ ...o, engine: 'sparrow-int8', wasmModule });

const zeros = (n: number): Tensor => ({ dtype: 'float32', dims: [n, 3, 32, 32], data: new Float32Array(n * 3072) });

describe('sparrow-int8: per-layer decode + pack time', () => {
  it('every weight layer has loadMs; their sum is at most weightsMs; a later plan keeps them', async () => {
    const s = await Session.fromSparrow(S8, I8());
    const r = s.report!.int8!;
    // ResNet-20: 19 convs + the FC, all from placed layouts
    expect(r.layers.length).toBe(20);
    for (const l of r.layers) {
      expect(l.loadMs, l.node).toBeTypeOf('number');
      expect(l.loadMs!, l.node).toBeGreaterThanOrEqual(0);
    }
    const sum = r.layers.reduce((a, l) => a + l.loadMs!, 0);
    // each loadMs is rounded to 0.001 ms
    expect(sum).toBeLessThanOrEqual(r.weightsMs + 0.0005 * r.layers.length);
    const first = new Map(r.layers.map((l) => [l.node, l.loadMs]));
    // batch 3: a new plan, the same layouts (nothing decoded again): the same figures
    const weightsBefore = r.weightsMs;
    await s.run({ [s.inputNames[0]!]: zeros(3) });
    const r3 = s.report!.int8!;
    expect(r3.weightsMs).toBe(weightsBefore);
    expect(r3.layers.length).toBe(20);
    for (const l of r3.layers) expect(l.loadMs, l.node).toBe(first.get(l.node));
  });

  it('scalar kernels place no layouts: no loadMs', async () => {
    const s = await Session.fromSparrow(S8, I8({ kernels: 'scalar' }));
    const r = s.report!.int8!;
    expect(r.layers.length).toBe(20);
    for (const l of r.layers) expect(l.loadMs, l.node).toBeUndefined();
  });
});
