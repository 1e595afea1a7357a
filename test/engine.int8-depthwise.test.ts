// The int8 depthwise kernel on a whole static model (test/fixtures/int8/depthwise.static.sparrow,
// made by test/fixtures/int8/make.mjs: a MobileNet-style chain with depthwise 3x3 and 5x5 at
// strides 1 and 2 on the pair path, a channel multiplier, a row-and-column dilated one on the
// general path, HardSwish and SiLU as tables), in Node:
//   - every depthwise conv runs on qs8_dwconv2d with int8 in and out, no float op;
//   - SIMD = the scalar TS references, bit for bit, and within 2 % of the output range of
//     sparrow-f32 on the same file (its dequantized weights in float32);
//   - depthwise.static.expected.json holds the bits Node gives now: the oracle of the Chromium
//     (test/browser.relaxed.test.ts) and workerd (test/workers/relaxed.workers.test.ts) checks.
//     `SPARROW_UPDATE_EXPECTED=1` rewrites it.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import '../src/ops/ref/index.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import { DEPTHWISE_DIMS, depthwiseImages, outputBits } from './helpers/relaxed_fixture.js';

const FIX = new URL('./fixtures/int8/', import.meta.url);
const FILE = new Uint8Array(readFileSync(new URL('depthwise.static.sparrow', FIX)));
const EXPECTED = new URL('depthwise.static.expected.json', FIX);

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});
const I8 = (o: SessionOptions = {}): SessionOptions => ({ ...o, engine: 'sparrow-int8', wasmModule });

describe('sparrow-int8: depthwise convs on a whole static model', () => {
  const feeds = (s: Session) => ({ [s.inputNames[0]!]: { dtype: 'float32' as const, dims: DEPTHWISE_DIMS, data: depthwiseImages() } });

  it('6 depthwise convs on qs8_dwconv2d (int8 in and out); SIMD = scalar bit for bit; within 2 % of sparrow-f32', async () => {
    const simd = await Session.fromSparrow(FILE, I8());
    const scalar = await Session.fromSparrow(FILE, I8({ kernels: 'scalar' }));
    const f32 = await Session.fromSparrow(FILE, { engine: 'sparrow-f32', wasmModule });
    const layers = simd.report!.int8!.layers;
    expect(layers.filter((l) => l.kernel === 'qs8_dwconv2d__wasmsimd' && l.io === 'i8')).toHaveLength(6);
    expect(simd.report!.int8!.floatOps).toEqual([]);
    const out = simd.outputNames[0]!;
    const a = (await simd.run(feeds(simd)))[out]!,
      b = (await scalar.run(feeds(scalar)))[out]!,
      want = (await f32.run(feeds(f32)))[out]!;
    expect(a.dims).toEqual([2, 10]);
    expect(outputBits(a.data as Float32Array)).toEqual(outputBits(b.data as Float32Array));
    const w = want.data as Float32Array,
      g = a.data as Float32Array;
    const range = Math.max(...w) - Math.min(...w);
    let worst = 0;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!));
    expect(range).toBeGreaterThan(0);
    expect(worst).toBeLessThan(0.02 * range);
    expect(worst).toBeGreaterThan(0); // int8, not float
  });

  it('depthwise.static.expected.json holds the bits Node gives now (the oracle of the workerd and Chromium tests)', async () => {
    const s = await Session.fromSparrow(FILE, I8());
    const y = (await s.run(feeds(s)))[s.outputNames[0]!]!;
    const got = { output: s.outputNames[0]!, dims: y.dims, bits: outputBits(y.data as Float32Array) };
    if (process.env['SPARROW_UPDATE_EXPECTED'] === '1') writeFileSync(EXPECTED, JSON.stringify(got) + '\n');
    expect(JSON.parse(readFileSync(EXPECTED, 'utf8'))).toEqual(got);
  });
});
