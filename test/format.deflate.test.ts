// Raw DEFLATE of the metadata block (src/format/deflate.ts) and the version-2 container that uses
// it (docs/format.md "Version 2"). Oracle: Node's zlib in both directions (our inflate reads
// zlib's streams of every level and strategy; zlib inflates our streams), plus hostile streams
// and files (every single-bit flip of a version-2 file is detected).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import zlib from 'node:zlib';
import { deflateRaw, inflateRaw, limitedLengths } from '../src/format/deflate.js';
import {
  Codec,
  DType,
  FLAG_META_DEFLATE,
  VERSION_MAJOR,
  VERSION_MAJOR_DEFLATE,
  deflateMetadata,
  readContainer,
  writeContainer,
} from '../src/format/container.js';
import { crc32 } from '../src/format/crc32.js';
import { SparrowError, type SparrowErrorCode } from '../src/errors.js';

const codeOf = (fn: () => unknown): SparrowErrorCode | 'none' => {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof SparrowError)) throw e;
    return e.code;
  }
  return 'none';
};
const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** bytes with repeats (LZ77 matches) from a small alphabet, as fast-check input */
const compressible = fc
  .record({ alpha: fc.integer({ min: 1, max: 256 }), seed: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3000 }) })
  .map(({ alpha, seed }) => {
    const x = new Uint8Array(seed.length);
    for (let i = 0; i < x.length; i++) x[i] = seed[i]! % 3 === 0 && i > 8 ? x[i - 1 - (seed[i]! % 8)]! : seed[i]! % alpha;
    return x;
  });

describe('inflateRaw reads zlib', () => {
  it('every level and strategy (property)', () => {
    fc.assert(
      fc.property(compressible, (x) => {
        for (const o of [
          { level: 0 },
          { level: 1 },
          { level: 6 },
          { level: 9 },
          { strategy: zlib.constants.Z_FIXED },
          { strategy: zlib.constants.Z_HUFFMAN_ONLY },
          { strategy: zlib.constants.Z_RLE },
        ]) {
          expect(inflateRaw(zlib.deflateRawSync(x, o), 1 << 20)).toEqual(x);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('a 100 KB text (several blocks, long distances)', () => {
    const words = 'sparrow conv relu add slice pad onnx int8 scale bias range 0.123 9.87 [16,3,3,3]'.split(' ');
    let s = '',
      k = 7;
    while (s.length < 100_000) {
      k = (k * 1103515245 + 12345) >>> 0;
      s += words[k % words.length] + (k & 64 ? ',' : ' ') + String(k % 1000);
    }
    const x = new TextEncoder().encode(s);
    expect(inflateRaw(zlib.deflateRawSync(x, { level: 9 }), 1 << 20)).toEqual(x);
  });
});

describe('deflateRaw is read by zlib', () => {
  it('round trips (property), never longer than stored blocks', () => {
    fc.assert(
      fc.property(compressible, (x) => {
        const d = deflateRaw(x);
        expect(new Uint8Array(zlib.inflateRawSync(d))).toEqual(x);
        expect(inflateRaw(d, x.length)).toEqual(x);
        expect(d.length).toBeLessThanOrEqual(x.length + 5 * Math.max(1, Math.ceil(x.length / 65535)));
      }),
      { numRuns: 100 },
    );
  });

  it('edge inputs: empty, one byte, one repeated byte, 70 000 random bytes (stored blocks)', () => {
    let k = 1;
    const rnd = Uint8Array.from({ length: 70_000 }, () => ((k = (k * 1103515245 + 12345) >>> 0), k >>> 24));
    for (const x of [new Uint8Array(0), Uint8Array.of(42), new Uint8Array(1000).fill(7), rnd]) {
      const d = deflateRaw(x);
      expect(new Uint8Array(zlib.inflateRawSync(d))).toEqual(x);
      expect(inflateRaw(d, 1 << 20)).toEqual(x);
    }
  });

  it('compresses JSON metadata about as well as zlib -9 (within 15 %)', () => {
    const meta = JSON.stringify({
      tensors: Array.from({ length: 60 }, (_, i) => ({ name: i.toString(36), shape: [16, 16, 3, 3], dtype: 'int8', section: i })),
      activationRanges: Object.fromEntries(Array.from({ length: 57 }, (_, i) => [i.toString(36), [0, Math.fround(1 + i / 7)]])),
    });
    const x = new TextEncoder().encode(meta);
    const ours = deflateRaw(x).length,
      z = zlib.deflateRawSync(x, { level: 9 }).length;
    expect(ours).toBeLessThan(z * 1.15);
    expect(ours).toBeLessThan(x.length / 3);
  });

  it('limitedLengths: a prefix code within the limit, optimal without one (Huffman cost)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 2, maxLength: 286 }),
        fc.integer({ min: 9, max: 15 }),
        (f, lim) => {
          const used = f.filter((x) => x > 0).length;
          if (used > 2 ** lim) return;
          const l = limitedLengths(f, lim);
          let kraft = 0;
          f.forEach((x, s) => {
            expect(l[s]! > 0).toBe(x > 0 || false);
            expect(l[s]!).toBeLessThanOrEqual(lim);
            if (l[s]) kraft += 2 ** -l[s]!;
          });
          if (used >= 2) expect(kraft).toBeCloseTo(1, 12);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('inflateRaw refuses hostile streams', () => {
  const x = new TextEncoder().encode('{"tensors":[{"name":"a","shape":[2,2]}],"graph":null,"graph2":null,"graph3":null}'.repeat(20));
  const d = deflateRaw(x);

  it('truncations, trailing bytes, an output limit', () => {
    for (let k = 0; k < d.length; k++) expect(codeOf(() => inflateRaw(d.subarray(0, k), 1 << 20))).toBe('corrupt_metadata');
    expect(codeOf(() => inflateRaw(Uint8Array.of(...d, 0), 1 << 20))).toBe('corrupt_metadata');
    expect(codeOf(() => inflateRaw(d, x.length - 1))).toBe('too_large');
    expect(inflateRaw(d, x.length)).toEqual(x);
    // a stream that claims 1 GB by repeating one byte stops at the limit
    const bomb = zlib.deflateRawSync(new Uint8Array(50_000_000));
    expect(codeOf(() => inflateRaw(bomb, 1 << 20))).toBe('too_large');
  });

  it('reserved block type, bad stored length, a distance before the start', () => {
    expect(codeOf(() => inflateRaw(Uint8Array.of(0b111), 100))).toBe('corrupt_metadata'); // BFINAL, BTYPE 11
    expect(codeOf(() => inflateRaw(Uint8Array.of(1, 3, 0, 0, 0, 1, 2, 3), 100))).toBe('corrupt_metadata'); // NLEN ≠ ~LEN
    // fixed block: length code 257 (len 3, 7 bits 0000001) then distance code 0 (1): nothing to copy yet
    // bits LSB first: 1 (final), 10 (fixed, LSB first → 1 then 0), code 0000001 MSB first, dist 00000
    const bits = [1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
    const b = new Uint8Array(2);
    bits.forEach((v, i) => (b[i >> 3]! |= v << (i & 7)));
    expect(codeOf(() => inflateRaw(b, 100))).toBe('corrupt_metadata');
  });

  it('random bytes: a SparrowError or a result, never a hang or another error (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        const c = codeOf(() => inflateRaw(b, 1 << 16));
        expect(['none', 'corrupt_metadata', 'too_large']).toContain(c);
        if (c === 'none') expect(new Uint8Array(zlib.inflateRawSync(b))).toEqual(inflateRaw(b, 1 << 16));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('version-2 container: deflated metadata', () => {
  const payloadA = Uint8Array.from({ length: 40 }, (_, i) => (i * 37) & 0xff);
  const payloadB = Uint8Array.from({ length: 24 }, (_, i) => (i * 11) & 0xff);
  const meta = {
    producer: 'test',
    tensors: [
      { name: 'a', shape: [10], dtype: 'float32' as const, section: 0 },
      { name: 'b', shape: [24], dtype: 'int8' as const, section: 1 },
    ],
    graph: null,
    preprocessing: null,
    note: 'x'.repeat(300),
  };
  const sections = [
    { codec: Codec.Raw, dtype: DType.Float32, payload: payloadA, decodedBytes: 40 },
    { codec: Codec.Raw, dtype: DType.Int8, payload: payloadB, decodedBytes: 24 },
  ];
  const v1 = writeContainer(meta, sections);
  const v2 = deflateMetadata(v1);

  it('round trips: same metadata and payloads, version 2 with flag 1, smaller', () => {
    expect(dv(v1).getUint16(8, true)).toBe(VERSION_MAJOR);
    expect(dv(v2).getUint16(8, true)).toBe(VERSION_MAJOR_DEFLATE);
    expect(dv(v2).getUint32(12, true)).toBe(FLAG_META_DEFLATE);
    expect(v2.length).toBeLessThan(v1.length - 250);
    const r1 = readContainer(v1),
      r2 = readContainer(v2);
    expect(r2.header.meta).toEqual(r1.header.meta);
    expect(r2.header.flags).toBe(FLAG_META_DEFLATE);
    expect(r2.payload(0)).toEqual(payloadA);
    expect(r2.payload(1)).toEqual(payloadB);
    // the stored metadata is what zlib inflates to the JSON
    const stored = v2.subarray(r2.header.metaOffset, r2.header.metaOffset + r2.header.metaBytes);
    expect(JSON.parse(zlib.inflateRawSync(stored).toString())).toEqual(r1.header.meta);
    expect(deflateMetadata(v2)).toEqual(v2); // idempotent
  });

  it('every single-bit flip of a version-2 file is detected', () => {
    for (let i = 0; i < v2.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const c = v2.slice();
        c[i]! ^= 1 << bit;
        expect(codeOf(() => readContainer(c))).not.toBe('none');
      }
    }
  });

  /** header fields changed and the header CRC re-signed */
  const resigned = (b: Uint8Array, fn: (v: DataView) => void): Uint8Array => {
    const c = b.slice();
    fn(dv(c));
    dv(c).setUint32(60, crc32(c.subarray(0, 60)), true);
    return c;
  };

  it('flags: none in version 1, only bit 0 in version 2', () => {
    expect(codeOf(() => readContainer(resigned(v1, (v) => v.setUint32(12, 1, true))))).toBe('corrupt_header');
    expect(codeOf(() => readContainer(resigned(v2, (v) => v.setUint32(12, 3, true))))).toBe('corrupt_header');
    expect(codeOf(() => readContainer(resigned(v2, (v) => v.setUint32(12, 0x80000001, true))))).toBe('corrupt_header');
    // version 2 without the flag: the deflated bytes are read as JSON and refused
    expect(codeOf(() => readContainer(resigned(v2, (v) => v.setUint32(12, 0, true))))).toBe('corrupt_metadata');
    // a version-1 file relabelled version 2 with the flag: its JSON is not a deflate stream
    expect(codeOf(() => readContainer(resigned(v1, (v) => (v.setUint16(8, 2, true), v.setUint32(12, 1, true)))))).toBe('corrupt_metadata');
  });

  /** a zero-section version-2 file whose metadata block is `stored` (flag 1), laid out by hand */
  const handMade = (stored: Uint8Array): Uint8Array => {
    const data = (64 + stored.length + 15) & ~15;
    const c = new Uint8Array(data);
    c.set([0x89, 0x53, 0x50, 0x52, 0x57, 0x0d, 0x0a, 0x1a]);
    const v = dv(c);
    v.setUint16(8, 2, true);
    v.setUint32(12, 1, true);
    v.setUint32(16, 64, true);
    v.setUint32(24, 64, true);
    v.setUint32(28, 64, true);
    v.setUint32(32, stored.length, true);
    v.setUint32(36, crc32(stored), true);
    v.setUint32(40, data, true);
    v.setUint32(44, data, true);
    v.setUint32(48, crc32(new Uint8Array(0)), true);
    c.set(stored, 64);
    v.setUint32(60, crc32(c.subarray(0, 60)), true);
    return c;
  };

  it('hand-made files: valid deflated JSON is read; a valid stream of bad JSON or bad UTF-8, or a bad stream, is corrupt_metadata', () => {
    const ok = handMade(deflateRaw(new TextEncoder().encode('{"producer":"x","tensors":[],"graph":null,"preprocessing":null}')));
    expect(readContainer(ok).header.meta.producer).toBe('x');
    expect(codeOf(() => readContainer(handMade(deflateRaw(new TextEncoder().encode('{"tensors": [')))))).toBe('corrupt_metadata');
    expect(codeOf(() => readContainer(handMade(deflateRaw(Uint8Array.of(0x7b, 0xff, 0x7d)))))).toBe('corrupt_metadata');
    expect(codeOf(() => readContainer(handMade(Uint8Array.of(0xff, 0xff, 0xff))))).toBe('corrupt_metadata');
    // a zlib stream too: readers do not depend on our writer
    const z = zlib.deflateRawSync(Buffer.from('{"producer":"z","tensors":[],"graph":null,"preprocessing":null}'), { level: 9 });
    expect(readContainer(handMade(new Uint8Array(z))).header.meta.producer).toBe('z');
  });
});
