// CRC-32 (IEEE/zlib) against the check value, a bitwise reference and Node's zlib.crc32.
import { describe, it, expect } from 'vitest';
import * as zlib from 'node:zlib';
import { crc32 } from '../src/format/crc32.js';

/** xorshift32: deterministic random bytes. */
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
function randomBytes(next: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = next() & 0xff;
  return b;
}

/** The textbook bit-at-a-time CRC: an oracle independent of the tables. */
function crcBitwise(b: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (0xedb88320 ^ (c >>> 1)) >>> 0 : c >>> 1;
  }
  return ~c >>> 0;
}

const zlibCrc = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('crc32', () => {
  it('has the standard check value and edge values', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(new Uint8Array(0), 0x12345678)).toBe(0x12345678);
    expect(crc32(ascii('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    expect(crc32(new Uint8Array(32).fill(0xff))).toBe(crcBitwise(new Uint8Array(32).fill(0xff)));
  });

  it('returns an unsigned u32', () => {
    const next = rng(7);
    let sawHigh = false;
    for (let i = 0; i < 200; i++) {
      const c = crc32(randomBytes(next, i));
      expect(Number.isInteger(c) && c >= 0 && c <= 0xffffffff).toBe(true);
      sawHigh ||= c >= 0x80000000;
    }
    expect(sawHigh).toBe(true);
  });

  it('matches the bitwise reference on lengths 0..300 (every slice-by-8 tail)', () => {
    const next = rng(1);
    for (let n = 0; n <= 300; n++) {
      const b = randomBytes(next, n);
      expect(crc32(b)).toBe(crcBitwise(b));
    }
  });

  it.skipIf(typeof zlibCrc !== 'function')('matches zlib.crc32 on random lengths 0..5000', () => {
    const next = rng(2);
    for (let t = 0; t < 300; t++) {
      const b = randomBytes(next, next() % 5001);
      expect(crc32(b)).toBe(zlibCrc!(b));
    }
    const big = randomBytes(next, 1 << 20);
    expect(crc32(big)).toBe(zlibCrc!(big));
  });

  it('split updates equal one shot (seed = previous crc), also with a zlib seed', () => {
    const next = rng(3);
    for (let t = 0; t < 300; t++) {
      const b = randomBytes(next, next() % 5001);
      const cut = b.length === 0 ? 0 : next() % (b.length + 1);
      const whole = crc32(b);
      expect(crc32(b.subarray(cut), crc32(b.subarray(0, cut)))).toBe(whole);
      if (typeof zlibCrc === 'function') expect(crc32(b.subarray(cut), zlibCrc(b.subarray(0, cut)))).toBe(whole);
    }
    // many small pieces
    const b = randomBytes(next, 1000);
    let c = 0;
    for (let i = 0; i < b.length; i += 13) c = crc32(b.subarray(i, i + 13), c);
    expect(c).toBe(crc32(b));
  });

  it('works on unaligned views of a larger buffer', () => {
    const next = rng(4);
    const buf = randomBytes(next, 4096);
    for (let off = 0; off < 16; off++) {
      const view = buf.subarray(off, off + 1000 + off);
      expect(crc32(view)).toBe(crcBitwise(view.slice()));
    }
  });
});
