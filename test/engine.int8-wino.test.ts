// sparrow-int8 with the exact Winograd F(2x2, 3x3) conv kernel (qs8_wino2x2_3x3__wasmsimd) on a
// whole model: ResNet-20 static int8 (test/fixtures/int8/resnet20.static.sparrow). The default
// session runs every dense 3x3 stride-1 conv with Cin ≥ WINO_MIN_CIN on it, `winograd: false`
// none; the outputs of both and of the scalar TS references are equal bit for bit (batch 1
// and 3). Relaxed (c4) sessions keep the c4 kernel.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import '../src/ops/ref/index.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';
import { cifarImages } from './helpers/tensors.js';

const WINO = 'qs8_wino2x2_3x3__wasmsimd';
const S8 = new Uint8Array(readFileSync(new URL('./fixtures/int8/resnet20.static.sparrow', import.meta.url)));

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});
const I8 = (o: SessionOptions = {}): SessionOptions => ({ ...o, engine: 'sparrow-int8', wasmModule });

const images = cifarImages;

function bits(t: Tensor): Int32Array {
  const d = t.data as Float32Array;
  return new Int32Array(d.buffer, d.byteOffset, d.length);
}

describe('sparrow-int8: the Winograd conv kernel on ResNet-20', () => {
  it('default: the 3x3 stride-1 convs with Cin ≥ 8 run on Winograd; outputs = winograd: false = scalar references, bit for bit', async () => {
    const on = await Session.fromSparrow(S8, I8());
    const off = await Session.fromSparrow(S8, I8({ winograd: false }));
    const scalar = await Session.fromSparrow(S8, I8({ kernels: 'scalar' }));
    const layers = on.report!.int8!.layers;
    const wino = layers.filter((l) => l.kernel === WINO).map((l) => l.node);
    // ResNet-20: 19 3x3 convs, 2 of them stride 2 and the first one 3 → 16 channels
    expect(wino.length).toBe(16);
    expect(off.report!.int8!.layers.some((l) => l.kernel === WINO)).toBe(false);
    for (const n of [1, 3]) {
      const x = images(n, 40 + n);
      const feeds = { [on.inputNames[0]!]: x };
      const a = bits((await on.run(feeds))[on.outputNames[0]!]!);
      const b = bits((await off.run(feeds))[off.outputNames[0]!]!);
      const c = bits((await scalar.run(feeds))[scalar.outputNames[0]!]!);
      expect(a.length).toBe(10 * n);
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(Array.from(a)).toEqual(Array.from(c));
    }
  });

  it('relaxed: true keeps the c4 kernel for 7-bit weights (the fixture has none: Winograd stays)', async () => {
    const s = await Session.fromSparrow(S8, I8({ relaxed: true }));
    expect(s.report!.int8!.layers.filter((l) => l.kernel === WINO).length).toBe(16);
  });
});
