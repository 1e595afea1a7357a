// Round-trip property tests of the TS encoders against the TS reference decoders,
// plus the coding-efficiency facts the format promises (docs/format.md).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  CODEC_HUFFMAN,
  CODEC_RAW,
  CODEC_RLE_HUFFMAN,
  CODEC_RLE_ROWS,
  CODEC_RANS,
  DEFAULT_INT8_CODECS,
  decodeCsrRef,
  decodeInt8Ref,
  denseToCsrRef,
  encodeHuffman,
  encodeInt8,
  encodeRleHuffman,
  encodeRaw,
  unzigzag,
  zigzag,
  type Int8CodecId,
} from '../src/codec/int8.js';
import {
  canonicalCodes,
  codeLengths,
  decodeBlockRef,
  encodeBlock,
  histogram,
  MAX_CODE_LENGTH,
  shannonBytes,
} from '../src/codec/huffman.js';
import { SparrowError } from '../src/errors.js';
import { lcg, sampleTensors } from './helpers/tensors.js';

const ALL: Int8CodecId[] = [CODEC_RAW, CODEC_HUFFMAN, CODEC_RLE_HUFFMAN, CODEC_RLE_ROWS, CODEC_RANS];

describe('zigzag', () => {
  it('is a bijection int8 <-> byte with the documented order', () => {
    const seen = new Set<number>();
    for (let v = -128; v < 128; v++) {
      const s = zigzag(v);
      expect(unzigzag(s)).toBe(v);
      seen.add(s);
    }
    expect(seen.size).toBe(256);
    expect([0, -1, 1, -2, 2, 127, -128].map(zigzag)).toEqual([0, 1, 2, 3, 4, 254, 255]);
  });
});

describe('package-merge code lengths', () => {
  it('respects the limit, is complete, and matches unlimited Huffman cost when the limit does not bind', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 1000 }), { minLength: 2, maxLength: 256 }), (f) => {
        if (f.filter((x) => x > 0).length < 2) return;
        const L = codeLengths(f);
        let kraft = 0;
        for (let s = 0; s < f.length; s++) {
          if (f[s]! > 0) {
            expect(L[s]).toBeGreaterThan(0);
            expect(L[s]).toBeLessThanOrEqual(MAX_CODE_LENGTH);
            kraft += 2 ** -L[s]!;
          } else expect(L[s]).toBe(0);
        }
        expect(kraft).toBeCloseTo(1, 12);
        // never worse than Shannon + 1 bit/symbol when the limit is not binding (n·H ≤ cost < n·(H+1))
        const n = f.reduce((a, b) => a + b, 0);
        const cost = f.reduce((a, c, s) => a + c * L[s]!, 0);
        expect(cost).toBeGreaterThanOrEqual(shannonBytes(f) * 8 - 1e-6);
        if (Math.max(...f) / n < 0.999 && f.filter((x) => x > 0).length <= 128 && Math.min(...f.filter((x) => x > 0)) / n > 2 ** -10) {
          expect(cost).toBeLessThan(shannonBytes(f) * 8 + n + 1e-6);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('limits lengths of a Fibonacci (worst-case depth) distribution to 11 bits', () => {
    const f = [1, 1];
    while (f.length < 30) f.push(f[f.length - 1]! + f[f.length - 2]!);
    const L = codeLengths(f);
    expect(Math.max(...L)).toBe(MAX_CODE_LENGTH);
    const codes = canonicalCodes(L);
    // prefix-free: no code is a prefix of another
    for (let a = 0; a < f.length; a++)
      for (let b = 0; b < f.length; b++) {
        if (a === b || L[a]! > L[b]!) continue;
        expect(codes[b]! >>> (L[b]! - L[a]!), `code ${a} is a prefix of code ${b}`).not.toBe(codes[a]!);
      }
  });
});

describe('Huffman block', () => {
  it('round-trips 1- and 4-stream blocks of any symbols', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.constantFrom<1 | 4>(1, 4), (sym, S) => {
        const b = encodeBlock(sym, { streams: S });
        const d = decodeBlockRef(b.bytes, 0, b.bytes.length, sym.length);
        expect(d.pos).toBe(b.bytes.length);
        expect(Buffer.from(d.symbols).equals(Buffer.from(sym))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
  it('rejects a count above the caller bound', () => {
    const b = encodeBlock(new Uint8Array([1, 2, 3, 1]));
    expect(() => decodeBlockRef(b.bytes, 0, b.bytes.length, 3)).toThrow(SparrowError);
  });
});

describe('int8 codecs', () => {
  const cases = sampleTensors();
  for (const [name, data] of cases) {
    it(`round-trips ${name} (n=${data.length}) with every codec and dense->CSR`, () => {
      for (const c of ALL) {
        const e = encodeInt8(data, { codecs: [c] });
        expect(e.codec).toBe(c);
        const d = decodeInt8Ref(e.codec, e.payload, data.length);
        expect(Buffer.from(d.buffer).equals(Buffer.from(data.buffer, data.byteOffset, data.length))).toBe(true);
      }
      // default: the smallest Huffman-family payload (rANS only when asked); with ALL: the smallest of all
      const best = encodeInt8(data);
      expect(best.codec).not.toBe(CODEC_RANS);
      for (const c of DEFAULT_INT8_CODECS)
        expect(best.payload.length).toBeLessThanOrEqual(encodeInt8(data, { codecs: [c] }).payload.length);
      const bestAll = encodeInt8(data, { codecs: ALL });
      for (const c of ALL) expect(bestAll.payload.length).toBeLessThanOrEqual(encodeInt8(data, { codecs: [c] }).payload.length);
      if (data.length % 8 === 0 && data.length > 0) {
        const csr = decodeCsrRef(best.codec, best.payload, 8, data.length / 8);
        const ref = denseToCsrRef(data, 8, data.length / 8);
        expect(csr).toEqual(ref);
      }
    });
  }

  it('property: random sparse tensors round-trip through every codec', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(), (n, sparsity, seed) => {
        let s = seed >>> 0;
        const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
        const data = new Int8Array(n);
        for (let i = 0; i < n; i++) data[i] = rnd() < sparsity ? 0 : Math.round((rnd() - 0.5) * 60) || 1;
        for (const c of ALL) {
          const e = encodeInt8(data, { codecs: [c] });
          const d = decodeInt8Ref(e.codec, e.payload, n);
          expect(Array.from(d)).toEqual(Array.from(data));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('codes Gaussian-like int8 weights within 1% of the Shannon bound (Huffman)', () => {
    const data = gaussianInt8(200_000, 30, 7);
    const e = encodeHuffman(data);
    expect(e.payload.length).toBeLessThan(e.entropyBytes * 1.01 + 200);
    expect(e.payload.length).toBeLessThan(data.length * 0.95);
  });

  it('RLE beats dense Huffman on 90%-sparse weights and stays near the bound', () => {
    // unstructured (magnitude-like) sparsity: Bernoulli mask, so runs are geometric
    const data = gaussianInt8(100_000, 30, 3);
    const rnd = lcg(99);
    for (let i = 0; i < data.length; i++) if (rnd() < 0.9) data[i] = 0;
    const r = encodeRleHuffman(data),
      h = encodeHuffman(data),
      raw = encodeRaw(data);
    expect(r.payload.length).toBeLessThan(h.payload.length);
    expect(r.payload.length).toBeLessThan(raw.payload.length / 4);
    expect(r.payload.length).toBeLessThan(r.entropyBytes * 1.03 + 200);
    expect([CODEC_RLE_HUFFMAN, CODEC_RLE_ROWS, CODEC_RANS]).toContain(encodeInt8(data).codec);
  });

  it('entropyBytes is the n·H/8 of the coded streams', () => {
    const data = Int8Array.from([0, 0, 1, -1, 0, 2, 0, 0]);
    const h = encodeHuffman(data);
    const sym = Uint8Array.from(Array.from(data, zigzag));
    expect(h.entropyBytes).toBeCloseTo(shannonBytes(histogram(sym)), 12);
    expect(h.entropyBytes).toBeCloseTo((4 * Math.log2(8 / 4) + 2 * Math.log2(8 / 1) + Math.log2(8 / 1) * 1 + 0) / 8 + 0 * 1, 0);
  });

  it('rejects inconsistent payloads with SparrowError', () => {
    const data = gaussianInt8(500, 20, 1);
    const h = encodeHuffman(data);
    expect(() => decodeInt8Ref(CODEC_HUFFMAN, h.payload, 499)).toThrow(SparrowError);
    expect(() => decodeInt8Ref(CODEC_HUFFMAN, h.payload.subarray(0, h.payload.length - 1), 500)).toThrow(SparrowError);
    expect(() => decodeInt8Ref(CODEC_RAW, new Uint8Array(3), 4)).toThrow(SparrowError);
    expect(() => decodeInt8Ref(9, new Uint8Array(3), 3)).toThrow(/codec 9/);
  });
});

export function gaussianInt8(n: number, sigma: number, seed: number): Int8Array {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const g = Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
    out[i] = Math.max(-127, Math.min(127, Math.round(g * sigma)));
  }
  return out;
}
