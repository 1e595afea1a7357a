// sparrow-int8 with the k-quad conv kernel (QS8_CONV_C4, assembly/int8/relaxed.ts) on whole
// models, in Node's plain build (the relaxed build's instruction runs in Chromium and workerd:
// test/browser.relaxed.test.ts, test/workers/relaxed.workers.test.ts):
//   - ResNet-20 compressed with --weight-bits 7 (test/fixtures/int8/resnet20.static7.sparrow):
//     every dense conv is marked quant.i7 and runs on c4 with `relaxed: true, winograd4: false`;
//     with `relaxed: true` alone the 3x3 stride-1 convs with Cin ≥ 16 run on F(4x4) instead
//     (wino4Cost < C4_RELAXED_COST) and the others on c4; the outputs of both equal those of the
//     plain kernels (`relaxed: false`) and of the scalar TS references bit for bit;
//   - a file without quant.i7 (an older file): the fit is scanned at load, same kernels;
//   - 8-bit weights (resnet20.static.sparrow) never take c4; a file that marks them i7 anyway
//     fails at load with corrupt_stream instead of computing garbage;
//   - the plain build never picks c4 by itself (Node: relaxedSimdSupported() is false).
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import '../src/ops/ref/index.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import { readContainer, writeContainer } from '../src/format/container.js';
import { QS8_CONV_C4 } from '../src/kernels/int8.js';
import { RELAXED_PROBE, relaxedSimdSupported } from '../src/wasm/features.js';
import type { Tensor } from '../src/ops/types.js';
import { cifarImages } from './helpers/tensors.js';
import { RELAXED_BATCH, outputBits, relaxedImages } from './helpers/relaxed_fixture.js';

const FIX = new URL('./fixtures/int8/', import.meta.url);
const S7 = new Uint8Array(readFileSync(new URL('resnet20.static7.sparrow', FIX)));
const S8 = new Uint8Array(readFileSync(new URL('resnet20.static.sparrow', FIX)));
const EXPECTED = new URL('resnet20.static7.expected.json', FIX);

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

/** The file with every quantized tensor's quant.i7 replaced by `i7` (undefined: removed). */
function withI7(file: Uint8Array, i7: boolean | undefined): Uint8Array {
  const { header, payload } = readContainer(file);
  const meta = structuredClone(header.meta) as { tensors: Array<{ quant?: Record<string, unknown> }> };
  let n = 0;
  for (const t of meta.tensors) {
    if (!t.quant) continue;
    n++;
    if (i7 === undefined) delete t.quant.i7;
    else t.quant.i7 = i7;
  }
  expect(n).toBeGreaterThan(10);
  const sections = header.sections.map((s, i) => ({ codec: s.codec, dtype: s.dtype, decodedBytes: s.decodedBytes, payload: payload(i) }));
  return writeContainer(meta as typeof header.meta, sections);
}

const c4Layers = (s: Session): string[] => s.report!.int8!.layers.filter((l) => l.kernel === QS8_CONV_C4.name).map((l) => l.node);

describe('sparrow-int8: the relaxed-SIMD conv kernel on whole models (plain build)', () => {
  it('Node never selects the relaxed build; the probe module needs the relaxed dot product', () => {
    expect(relaxedSimdSupported()).toBe(false);
    expect(RELAXED_PROBE.length).toBe(82);
  });

  it('--weight-bits 7: every conv is marked i7; c4 outputs = F(4x4) + c4 outputs = plain outputs = scalar references, bit for bit (batch 1 and 3)', async () => {
    const { header } = readContainer(S7);
    const quant = header.meta.tensors.flatMap((t) => (t.quant ? [t.quant as Record<string, unknown>] : []));
    expect(quant.length).toBeGreaterThan(10);
    expect(quant.every((q) => q.i7 === true)).toBe(true);

    const relaxed = await Session.fromSparrow(S7, I8({ relaxed: true, winograd4: false }));
    const mixed = await Session.fromSparrow(S7, I8({ relaxed: true }));
    const plain = await Session.fromSparrow(S7, I8({ relaxed: false }));
    const auto = await Session.fromSparrow(S7, I8());
    const scalar = await Session.fromSparrow(S7, I8({ kernels: 'scalar' }));
    const convs = relaxed.report!.int8!.layers.filter((l) => l.op === 'Conv' || l.op.endsWith('FusedConv'));
    expect(convs.length).toBeGreaterThanOrEqual(19);
    expect(c4Layers(relaxed)).toEqual(convs.map((l) => l.node));
    expect(c4Layers(plain)).toEqual([]);
    expect(c4Layers(auto)).toEqual([]); // the plain build does not pick it by itself
    // relaxed alone: F(4x4) on the 16 3x3 stride-1 convs (Cin 16..64), c4 on the first conv (Cin 3)
    // and the two stride-2 ones
    const wino4 = mixed.report!.int8!.layers.filter((l) => l.kernel === 'qs8_wino4x4_3x3__wasmsimd').map((l) => l.node);
    expect(wino4.length).toBe(16);
    expect(c4Layers(mixed).length).toBe(3);
    expect([...c4Layers(mixed), ...wino4].sort()).toEqual(convs.map((l) => l.node).sort());
    const input = relaxed.inputNames[0]!;
    for (const [n, seed] of [
      [1, 1],
      [3, 2],
    ] as const) {
      const x = images(n, seed);
      const a = (await relaxed.run({ [input]: x }))[relaxed.outputNames[0]!]!;
      const b = (await plain.run({ [input]: x }))[plain.outputNames[0]!]!;
      const c = (await scalar.run({ [input]: x }))[scalar.outputNames[0]!]!;
      const d = (await mixed.run({ [input]: x }))[mixed.outputNames[0]!]!;
      expect(Array.from(bits(a))).toEqual(Array.from(bits(b)));
      expect(Array.from(bits(a))).toEqual(Array.from(bits(c)));
      expect(Array.from(bits(d))).toEqual(Array.from(bits(c)));
    }
  }, 120_000);

  it('resnet20.static7.expected.json holds the bits Node gives now (the oracle of the workerd and Chromium tests)', async () => {
    const s = await Session.fromSparrow(S7, I8());
    const y = (await s.run({ [s.inputNames[0]!]: { dtype: 'float32', dims: [RELAXED_BATCH, 3, 32, 32], data: relaxedImages() } }))[
      s.outputNames[0]!
    ]!;
    const got = { output: s.outputNames[0]!, dims: y.dims, bits: outputBits(y.data as Float32Array) };
    if (process.env['SPARROW_UPDATE_EXPECTED'] === '1') writeFileSync(EXPECTED, JSON.stringify(got) + '\n');
    expect(JSON.parse(readFileSync(EXPECTED, 'utf8'))).toEqual(got);
  });

  it('a file without quant.i7 (older files): the fit is scanned at load, same kernels and outputs', async () => {
    const old = withI7(S7, undefined);
    const s = await Session.fromSparrow(old, I8({ relaxed: true, winograd4: false }));
    const ref = await Session.fromSparrow(S7, I8({ relaxed: true, winograd4: false }));
    expect(c4Layers(s)).toEqual(c4Layers(ref));
    expect(c4Layers(s).length).toBeGreaterThanOrEqual(19);
    const x = images(1, 9);
    const input = s.inputNames[0]!;
    expect(Array.from(bits((await s.run({ [input]: x }))[s.outputNames[0]!]!))).toEqual(
      Array.from(bits((await ref.run({ [input]: x }))[ref.outputNames[0]!]!)),
    );
  }, 120_000);

  it('8-bit weights never take c4 (scanned: older fixture); marking them i7 fails the load with corrupt_stream', async () => {
    const s = await Session.fromSparrow(S8, I8({ relaxed: true }));
    // the first conv and a few others may happen to fit; the others must not take c4
    expect(c4Layers(s).length).toBeLessThan(s.report!.int8!.layers.length);
    const lying = withI7(S8, true);
    await expect(Session.fromSparrow(lying, I8({ relaxed: true }))).rejects.toMatchObject({ code: 'corrupt_stream' });
    // without the relaxed kernel the flag is never used
    const ok = await Session.fromSparrow(lying, I8({ relaxed: false }));
    expect(c4Layers(ok)).toEqual([]);
  }, 120_000);
});
