// Load-path speed-ups of src/format that must not change a bit: crc32 (native zlib.crc32 where
// the runtime has it, the slice-by-8 table otherwise) and the section CRC messages built only on
// a mismatch.
import { describe, it, expect } from 'vitest';
import { crc32, crc32Table } from '../src/format/crc32.js';
import { Codec, DType, readContainer, writeContainer } from '../src/format/container.js';
import { SparrowError } from '../src/errors.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}
const randomBytes = (next: () => number, n: number): Uint8Array => Uint8Array.from({ length: n }, () => next() & 0xff);

/** Bit-at-a-time CRC-32: an oracle independent of both tables and zlib. */
function crcBitwise(b: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (0xedb88320 ^ (c >>> 1)) >>> 0 : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32 (load path)', () => {
  it('crc32 and the table version agree with the bitwise oracle on random inputs, seeds and unaligned views', () => {
    const next = rng(2024);
    for (let t = 0; t < 400; t++) {
      const n = t < 100 ? t : next() % 5000;
      const buf = randomBytes(next, n + 16);
      const off = next() % 16;
      const b = buf.subarray(off, off + n);
      const seed = t % 3 === 0 ? 0 : next();
      const want = crcBitwise(b, seed);
      expect(crc32Table(b, seed)).toBe(want);
      expect(crc32(b, seed)).toBe(want);
    }
  });

  it('seeds that are not u32 (negative, fractional, above 2^32) behave as in the table version', () => {
    const b = randomBytes(rng(5), 300);
    for (const seed of [-1, -0x12345678, 2 ** 32, 2 ** 32 + 5, 1.5, -0.5, 0x7fffffff, 0xffffffff]) {
      expect(crc32(b, seed)).toBe(crc32Table(b, seed));
    }
  });

  it('chains like zlib: crc32(b, crc32(a)) = crc32(a ++ b); a Node Buffer works as well', () => {
    const next = rng(9);
    const a = randomBytes(next, 1234),
      b = randomBytes(next, 777);
    const ab = new Uint8Array(a.length + b.length);
    ab.set(a);
    ab.set(b, a.length);
    expect(crc32(b, crc32(a))).toBe(crc32(ab));
    expect(crc32(Buffer.from(ab))).toBe(crcBitwise(ab));
  });

  it('a corrupted section still names the section and both CRCs', () => {
    const payload = Uint8Array.from({ length: 40 }, (_, i) => i);
    const file = writeContainer({ tensors: [{ name: 'w', shape: [10], dtype: 'float32', section: 0 }] }, [
      { codec: Codec.Raw, dtype: DType.Float32, payload, decodedBytes: 40 },
    ]);
    const { header } = readContainer(file);
    const bad = file.slice();
    bad[header.sections[0]!.offset + 3]! ^= 0x10;
    let err: unknown;
    try {
      readContainer(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SparrowError);
    expect((err as SparrowError).code).toBe('checksum_mismatch');
    const stored = header.sections[0]!.crc32.toString(16).padStart(8, '0');
    const computed = crc32(bad.subarray(header.sections[0]!.offset, header.sections[0]!.offset + 40))
      .toString(16)
      .padStart(8, '0');
    expect((err as SparrowError).message).toBe(`section 0 ("w") CRC-32 mismatch: stored 0x${stored}, computed 0x${computed}`);
  });
});
