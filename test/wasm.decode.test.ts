// The WASM int8 decoder of the load path (src/wasm/decode.ts: its own instance, JS copies out)
// against the TS reference decoder, and Session.fromSparrow's use of it: the float32 constants a
// `.sparrow` graph gets from its quantized weights are the same bits as the TS reference's.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ALL_INT8_CODECS, CODEC_NAMES, decodeInt8Ref, encodeInt8 } from '../src/codec/int8.js';
import { wasmInt8Decoder } from '../src/wasm/decode.js';
import { compileNodeModule } from '../src/wasm/node.js';
import { SparrowError } from '../src/errors.js';
import { Session } from '../src/runtime/session.js';
import { sampleTensors } from './helpers/tensors.js';
import '../src/ops/ref/index.js';

const sameBytes = (a: Int8Array, b: Int8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

describe('wasmInt8Decoder', () => {
  it('decodes every codec like decodeInt8Ref, one instance for tensors of any order of sizes', async () => {
    const d = wasmInt8Decoder(await compileNodeModule());
    // large before small and back: the region layout moves with each tensor's payload size
    const tensors = sampleTensors();
    for (const order of [tensors, [...tensors].reverse()]) {
      for (const [name, data] of order) {
        for (const codec of ALL_INT8_CODECS) {
          const e = encodeInt8(data, { codecs: [codec], cols: data.length > 64 ? 64 : Math.max(1, data.length) });
          const got = d.decode(codec, e.payload, data.length);
          expect(sameBytes(got, decodeInt8Ref(codec, e.payload, data.length)), `${name}, ${CODEC_NAMES[codec]}`).toBe(true);
          expect(sameBytes(got, data), `${name}, ${CODEC_NAMES[codec]} round trip`).toBe(true);
        }
      }
    }
  });

  it('property: random tensors and codecs; a released decoder instantiates again', async () => {
    const d = wasmInt8Decoder(await compileNodeModule());
    fc.assert(
      fc.property(
        fc.int8Array({ maxLength: 3000 }),
        fc.constantFrom(...ALL_INT8_CODECS),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.boolean(),
        (xs, codec, zeros, release) => {
          // a share of zeros (pruned weights: what the run codecs are for)
          const data = Int8Array.from(xs, (v, i) => (((i * 2654435761) >>> 0) / 2 ** 32 < zeros ? 0 : v));
          const e = encodeInt8(data, { codecs: [codec], cols: Math.max(1, Math.min(48, data.length)) });
          if (release) d.release();
          return sameBytes(d.decode(codec, e.payload, data.length), decodeInt8Ref(codec, e.payload, data.length));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('check() refuses exactly what decode() refuses, with the same code (the Worker admission check)', async () => {
    const d = wasmInt8Decoder(await compileNodeModule());
    const verdict = (f: () => unknown): string => {
      try {
        f();
        return 'ok';
      } catch (x) {
        return x instanceof SparrowError ? x.code : String(x);
      }
    };
    fc.assert(
      fc.property(
        fc.int8Array({ minLength: 1, maxLength: 2000 }),
        fc.constantFrom(...ALL_INT8_CODECS),
        fc.nat(),
        fc.integer({ min: -2, max: 2 }),
        (xs, codec, cut, dn) => {
          const e = encodeInt8(xs, { codecs: [codec], cols: Math.max(1, Math.min(40, xs.length)) });
          // a prefix of the stream (or all of it), for a tensor of about the right size
          const p = e.payload.subarray(0, e.payload.length - (cut % 4 === 0 ? 0 : cut % e.payload.length));
          const n = Math.max(0, xs.length + dn);
          const want = verdict(() => d.decode(codec, p, n));
          return verdict(() => d.check(codec, p, n)) === want && (want !== 'ok') === (verdict(() => decodeInt8Ref(codec, p, n)) !== 'ok');
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a stream that does not decode throws a SparrowError, as the reference does, and the decoder still works after it', async () => {
    const d = wasmInt8Decoder(await compileNodeModule());
    const data = Int8Array.from({ length: 5000 }, (_, i) => (i % 7 === 0 ? (i % 255) - 127 : 0));
    for (const codec of ALL_INT8_CODECS) {
      if (codec === 0) continue;
      const e = encodeInt8(data, { codecs: [codec], cols: 50 });
      const outcome = (f: () => Int8Array): string => {
        try {
          return `ok ${Array.from(f()).join(',')}`;
        } catch (x) {
          return x instanceof SparrowError ? x.code : String(x);
        }
      };
      // truncated: refused with the reference's code
      for (const bad of [e.payload.subarray(0, e.payload.length >> 1), e.payload.subarray(0, 3)]) {
        expect(() => decodeInt8Ref(codec, bad, data.length), CODEC_NAMES[codec]).toThrow(SparrowError);
        expect(
          outcome(() => d.decode(codec, bad, data.length)),
          CODEC_NAMES[codec],
        ).toBe(outcome(() => decodeInt8Ref(codec, bad, data.length)));
      }
      // the wrong element count: the same verdict and error code as the reference (rle-huffman
      // reads a shorter stream as ending in zeros, in both)
      for (const n of [data.length + 1, data.length - 1, data.length + 50])
        expect(
          outcome(() => d.decode(codec, e.payload, n)),
          `${CODEC_NAMES[codec]} n ${n}`,
        ).toBe(outcome(() => decodeInt8Ref(codec, e.payload, n)));
      expect(sameBytes(d.decode(codec, e.payload, data.length), data), CODEC_NAMES[codec]).toBe(true);
    }
  });
});

describe('Session.fromSparrow decodes the graph constants of quantized weights in WASM', () => {
  const file = new Uint8Array(readFileSync(new URL('./fixtures/int8/resnet20.static7.sparrow', import.meta.url)));

  it('sparrow-f32 and sparrow-int8: the same float32 constants as the reference engine (TS decoder), bit for bit', async () => {
    const ref = await Session.fromSparrow(file, { engine: 'reference' });
    const f32 = await Session.fromSparrow(file, { engine: 'sparrow-f32' });
    const i8 = await Session.fromSparrow(file, { engine: 'sparrow-int8' });
    // the reference engine has no module: the TS decoder; the WASM engines' decoder is WASM
    const [r, f, q] = [ref, f32, i8].map((s) => s.report!.weightDecode!);
    expect(r.wasm).toBe(false);
    expect(f!.wasm).toBe(true);
    expect(q!.wasm).toBe(true);
    // 20 quantized weights in this file (19 convs and the FC), all decoded for sparrow-f32 (as for
    // the reference engine); sparrow-int8 runs every layer in int8, so decodes none of them
    expect(f!.tensors).toBe(20);
    expect(f!.elements).toBe(r!.elements);
    expect(r!.tensors).toBe(20);
    expect(q!.tensors).toBe(0);
    let compared = 0;
    for (const [name, v] of ref.graph.values) {
      if (!v.const || v.const.dtype !== 'float32' || v.const.data.length < 400) continue;
      const a = new Uint32Array((v.const.data as Float32Array).slice().buffer);
      const b = new Uint32Array((f32.graph.values.get(name)!.const!.data as Float32Array).slice().buffer);
      expect(
        a.every((x, i) => x === b[i]),
        name,
      ).toBe(true);
      compared++;
    }
    expect(compared).toBe(20);
  });
});
