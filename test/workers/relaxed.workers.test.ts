// Relaxed SIMD inside workerd (issue 17): the runtime validates i32x4.relaxed_dot_i8x16_i7x16_add_s
// (src/wasm/features.ts, not mistaken for Node), and sparrow-int8 on build/sparrow.relaxed.wasm
// (every dense conv of the 7-bit ResNet-20 on the relaxed kernel, assembly/int8/relaxed.ts, with
// `winograd4: false`; by default the 3x3 stride-1 convs from Cin 16 on F(4x4) and the others on
// it) gives the same Float32 bits as build/sparrow.wasm in this isolate and as Node's plain build
// (test/fixtures/int8/resnet20.static7.expected.json, kept current by engine.int8-relaxed.test.ts).
// The int8 depthwise fixture gives Node's bits on both builds too (depthwise.static.expected.json,
// kept current by engine.int8-depthwise.test.ts).
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import plainModule from '../../build/sparrow.wasm';
import relaxedModule from '../../build/sparrow.relaxed.wasm';
import { Session } from '../../src/runtime/session.js';
import '../../src/ops/ref/index.js';
import { isNodeRuntime, RELAXED_PROBE, relaxedSimdSupported } from '../../src/wasm/features.js';
import { DEPTHWISE_DIMS, RELAXED_BATCH, depthwiseImages, outputBits, relaxedImages } from '../helpers/relaxed_fixture.js';

const fromB64 = (s: unknown): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(String(s)), (c) => c.charCodeAt(0));
const MODEL = fromB64(env.TEST_RESNET7_B64);
const EXPECTED = JSON.parse(String(env.TEST_RESNET7_EXPECTED)) as { output: string; dims: number[]; bits: number[] };
const DW_MODEL = fromB64(env.TEST_DW_B64);
const DW_EXPECTED = JSON.parse(String(env.TEST_DW_EXPECTED)) as typeof EXPECTED;

describe('workerd: the relaxed build', () => {
  it('workerd has relaxed SIMD and is not taken for Node', () => {
    expect(isNodeRuntime()).toBe(false);
    expect(WebAssembly.validate(RELAXED_PROBE as Uint8Array<ArrayBuffer>)).toBe(true);
    expect(relaxedSimdSupported()).toBe(true);
  });

  it('7-bit ResNet-20: relaxed build = plain build = Node, bit for bit; every dense conv on the relaxed kernel', async () => {
    const relaxed = await Session.fromSparrow(MODEL, { engine: 'sparrow-int8', wasmModule: relaxedModule, winograd4: false });
    const mixed = await Session.fromSparrow(MODEL, { engine: 'sparrow-int8', wasmModule: relaxedModule });
    const plain = await Session.fromSparrow(MODEL, { engine: 'sparrow-int8', wasmModule: plainModule });
    const onRelaxed = (s: Session): number => s.report!.int8!.layers.filter((l) => l.kernel === 'qs8_conv2d_4x8c4__wasmrelaxed').length;
    expect(onRelaxed(relaxed)).toBeGreaterThanOrEqual(19);
    expect(onRelaxed(mixed)).toBe(3);
    expect(mixed.report!.int8!.layers.filter((l) => l.kernel === 'qs8_wino4x4_3x3__wasmsimd').length).toBe(16);
    expect(plain.report!.int8!.layers.some((l) => l.kernel.endsWith('__wasmrelaxed'))).toBe(false);
    const feeds = { [relaxed.inputNames[0]!]: { dtype: 'float32' as const, dims: [RELAXED_BATCH, 3, 32, 32], data: relaxedImages() } };
    const a = (await relaxed.run(feeds))[EXPECTED.output]!;
    const b = (await plain.run(feeds))[EXPECTED.output]!;
    const c = (await mixed.run(feeds))[EXPECTED.output]!;
    expect(a.dims).toEqual(EXPECTED.dims);
    expect(outputBits(a.data as Float32Array)).toEqual(EXPECTED.bits);
    expect(outputBits(b.data as Float32Array)).toEqual(EXPECTED.bits);
    expect(outputBits(c.data as Float32Array)).toEqual(EXPECTED.bits);
  });
  it('int8 depthwise convs (depthwise.static.sparrow): plain build = relaxed build = Node, bit for bit', async () => {
    for (const wasmModule of [plainModule, relaxedModule]) {
      const s = await Session.fromSparrow(DW_MODEL, { engine: 'sparrow-int8', wasmModule });
      expect(s.report!.int8!.layers.filter((l) => l.kernel === 'qs8_dwconv2d__wasmsimd')).toHaveLength(6);
      const y = (await s.run({ [s.inputNames[0]!]: { dtype: 'float32' as const, dims: DEPTHWISE_DIMS, data: depthwiseImages() } }))[
        DW_EXPECTED.output
      ]!;
      expect(y.dims).toEqual(DW_EXPECTED.dims);
      expect(outputBits(y.data as Float32Array)).toEqual(DW_EXPECTED.bits);
    }
  });
});
