// sparrow-int8 with the exact Winograd conv kernels (F(2x2, 3x3): qs8_wino2x2_3x3__wasmsimd;
// F(4x4, 3x3): qs8_wino4x4_3x3__wasmsimd) on a whole model: ResNet-20 static int8
// (test/fixtures/int8/resnet20.static.sparrow). The default session runs every dense 3x3
// stride-1 conv with Cin ≥ WINO_MIN_CIN on Winograd: F(4x4) where the output is a multiple of
// 4 x 8 and the weights keep it exact (all 16 of them), else F(2x2);
// `winograd4: false` runs them all on F(2x2), `winograd: false` none; the outputs of all three and
// of the scalar TS references are equal bit for bit (batch 1 and 3). Relaxed (c4) sessions keep
// the c4 kernel.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import '../src/ops/ref/index.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';
import { cifarImages } from './helpers/tensors.js';
import { buildModel, f32 } from '../src/onnx/build.js';
import { mulberry32 } from '../src/util/rng.js';
import { WINO4_BOUND } from '../src/kernels/int8.js';

const WINO = 'qs8_wino2x2_3x3__wasmsimd';
const WINO4 = 'qs8_wino4x4_3x3__wasmsimd';
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
  it('default: the 3x3 stride-1 convs run on Winograd (the first, 3 → 16, on F(4x4) only); outputs = winograd: false = scalar references, bit for bit', async () => {
    const on = await Session.fromSparrow(S8, I8());
    const off = await Session.fromSparrow(S8, I8({ winograd: false }));
    const only2 = await Session.fromSparrow(S8, I8({ winograd4: false }));
    const scalar = await Session.fromSparrow(S8, I8({ kernels: 'scalar' }));
    const count = (s: Session, k: string): number => s.report!.int8!.layers.filter((l) => l.kernel === k).length;
    // ResNet-20: 19 3x3 convs, 2 of them stride 2 and the first one 3 → 16 channels; the 17 stride-1
    // ones on F(4x4) (8-bit weights, Cin ≤ 64: within its bound whatever the data), and without
    // F(4x4) the 16 with Cin ≥ 8 on F(2x2) (wino4FewChannels: F(4x4) alone takes 3 to 7 channels)
    expect(count(on, WINO4)).toBe(17);
    expect(count(on, WINO)).toBe(0);
    expect(count(only2, WINO)).toBe(16);
    expect(count(only2, WINO4)).toBe(0);
    expect(count(off, WINO) + count(off, WINO4)).toBe(0);
    for (const n of [1, 3]) {
      const x = images(n, 40 + n);
      const feeds = { [on.inputNames[0]!]: x };
      const a = bits((await on.run(feeds))[on.outputNames[0]!]!);
      const b = bits((await off.run(feeds))[off.outputNames[0]!]!);
      const c = bits((await scalar.run(feeds))[scalar.outputNames[0]!]!);
      const d = bits((await only2.run(feeds))[only2.outputNames[0]!]!);
      expect(a.length).toBe(10 * n);
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(Array.from(a)).toEqual(Array.from(d));
      expect(Array.from(a)).toEqual(Array.from(c));
    }
  });

  it('relaxed: true keeps the c4 kernel for 7-bit weights (the fixture has none: Winograd stays)', async () => {
    const s = await Session.fromSparrow(S8, I8({ relaxed: true }));
    expect(s.report!.int8!.layers.filter((l) => l.kernel === WINO || l.kernel === WINO4).length).toBe(17);
  });

  // One dense conv, dynamic mode (an ONNX model: each image has its own zero point, so the engine
  // assumes max|x − zx| = 255): weights quantized per channel to int8 reach |w| = 127 in every
  // channel, so max Σ|w| is set by how flat the channel is. A flat 128→16 kernel (Σ|w| ≈ 1152·120)
  // leaves F(4x4)'s bound (2^25 − 1 at 255: Σ|w| ≤ 131,586, about Cin 115 of flat weights) and
  // must stay on F(2x2); a peaked one (one large tap per channel, the
  // rest small) is within it and takes F(4x4). Both give the scalar references' bits.
  for (const [flat, kernel] of [
    [true, WINO],
    [false, WINO4],
  ] as const)
    it(`dynamic mode, 128→16 16x16, ${flat ? 'flat weights (max Σ|w|·255 past the bound): F(2x2)' : 'one large tap per channel (within the bound): F(4x4)'}`, async () => {
      const C = 128,
        M = 16,
        H = 16,
        K = C * 9;
      const r = mulberry32(flat ? 3 : 4);
      const w = Array.from({ length: M * K }, (_, i) =>
        flat ? (r() < 0.5 ? -1 : 1) * (0.9 + 0.1 * r()) : i % K === 0 ? 1 : (r() - 0.5) * 0.02,
      );
      const bytes = buildModel({
        nodes: [{ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, name: 'conv' }],
        inputs: [{ name: 'x', dtype: 'float32', dims: ['N', C, H, H] }],
        outputs: [{ name: 'y', dtype: 'float32', dims: ['N', M, H, H] }],
        opsets: { '': 13 },
        initializers: {
          w: f32([M, C, 3, 3], w),
          b: f32(
            [M],
            Array.from({ length: M }, () => r() - 0.5),
          ),
        },
      });
      const o = (x: SessionOptions): SessionOptions => I8({ floatHead: 0, ...x });
      const s = await Session.fromOnnx(bytes, o({}));
      const ref = await Session.fromOnnx(bytes, o({ kernels: 'scalar' }));
      // the int8 weights' max Σ|w| against the bound at max|x − zx| = 255
      const sums = [];
      const q = w.map((v, i) => v / Math.max(...w.slice(Math.floor(i / K) * K, Math.floor(i / K) * K + K).map(Math.abs)));
      for (let m = 0; m < M; m++) sums.push(q.slice(m * K, (m + 1) * K).reduce((a, v) => a + Math.abs(Math.round(v * 127)), 0));
      expect(Math.max(...sums) * 255 > WINO4_BOUND).toBe(flat);
      expect(s.report!.int8!.layers.find((l) => l.node === 'conv')!.kernel).toBe(kernel);
      const rx = mulberry32(9);
      const x = {
        dtype: 'float32' as const,
        dims: [2, C, H, H],
        data: Float32Array.from({ length: 2 * C * H * H }, () => (rx() - 0.5) * 4),
      };
      expect(Array.from(bits((await s.run({ x })).y!))).toEqual(Array.from(bits((await ref.run({ x })).y!)));
    });
});
