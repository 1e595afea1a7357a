// The WASM decoders (release -O3 noAssert, and the debug build with asserts) against the
// TS reference decoders, bit for bit, on named edge cases and property-generated tensors.
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import {
  CODEC_HUFFMAN,
  CODEC_RAW,
  CODEC_RLE_HUFFMAN,
  CODEC_RLE_ROWS,
  CODEC_RANS,
  decodeCsrRef,
  decodeInt8Ref,
  encodeInt8,
  encodeRleRows,
  type Int8CodecId,
} from '../src/codec/int8.js';
import { encodeBlock } from '../src/codec/huffman.js';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { SparrowError } from '../src/errors.js';
import { lcg, sampleTensors } from './helpers/tensors.js';

const ALL: Int8CodecId[] = [CODEC_RAW, CODEC_HUFFMAN, CODEC_RLE_HUFFMAN, CODEC_RLE_ROWS, CODEC_RANS];

function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

for (const variant of ['release', 'debug'] as const) {
  describe(`WASM decoders (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });

    /** decodeCsr with int8 values (sparse FC) and int16 ones (the sparse conv layout) = decodeCsrRef. */
    const expectCsrLikeRef = (codec: number, payload: Uint8Array, rows: number, cols: number, tag: string): void => {
      const ref = decodeCsrRef(codec, payload, rows, cols);
      for (const vb of [1, 2] as const) {
        const csr = w.decodeCsr(codec, payload, rows, cols, vb);
        expect(same(csr.rowPtr, ref.rowPtr), `rowPtr ${tag} valBytes ${vb}`).toBe(true);
        expect(same(csr.col, ref.col), `col ${tag} valBytes ${vb}`).toBe(true);
        expect(same(csr.val, ref.val), `val ${tag} valBytes ${vb}`).toBe(true);
      }
    };

    for (const [name, data] of sampleTensors()) {
      it(`decodes ${name} (n=${data.length}) like the reference, dense and CSR`, () => {
        for (const c of ALL) {
          const e = encodeInt8(data, { codecs: [c] });
          const got = w.decodeInt8(e.codec, e.payload, data.length);
          expect(same(got, data), `codec ${c}`).toBe(true);
          for (const rows of [1, 3, 8]) {
            if (data.length === 0 || data.length % rows !== 0) continue;
            const cols = data.length / rows;
            if (cols > 65536) continue;
            // codec 3 with its own row length equal to the CSR's (the direct path) or not (fallback)
            const ee = c === CODEC_RLE_ROWS || c === CODEC_RANS ? encodeInt8(data, { codecs: [c], cols }) : e;
            expect(same(w.decodeInt8(ee.codec, ee.payload, data.length), data), `codec ${c} cols ${cols}`).toBe(true);
            expectCsrLikeRef(ee.codec, ee.payload, rows, cols, `codec ${c} rows ${rows}`);
          }
        }
      });
    }

    it('property: random tensors (n 0..6000, any sparsity, 1 or 4 streams) decode bit-exactly', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 6000 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.integer({ min: 1, max: 127 }),
          fc.integer(),
          (n, sparsity, spread, seed) => {
            const rnd = lcg(seed);
            const data = new Int8Array(n);
            for (let i = 0; i < n; i++) data[i] = rnd() < sparsity ? 0 : Math.round((rnd() - 0.5) * 2 * spread);
            for (const c of ALL) {
              const e = encodeInt8(data, { codecs: [c] });
              expect(same(w.decodeInt8(e.codec, e.payload, n), data)).toBe(true);
            }
            const rows = [1, 2, 5, 7].find((r) => n % r === 0 && n / r <= 65536) ?? 1;
            if (n > 0) {
              for (const e of [
                encodeInt8(data, { codecs: [CODEC_RLE_HUFFMAN] }),
                encodeInt8(data, { codecs: [CODEC_RLE_ROWS], cols: n / rows }),
                encodeInt8(data, { codecs: [CODEC_RANS], cols: n / rows }),
              ]) {
                expect(same(w.decodeInt8(e.codec, e.payload, n), data)).toBe(true);
                const ref = { ...decodeCsrRef(e.codec, e.payload, rows, n / rows) };
                expect(w.decodeCsr(e.codec, e.payload, rows, n / rows)).toEqual(ref);
                expect(w.decodeCsr(e.codec, e.payload, rows, n / rows, 2)).toEqual(ref);
              }
            }
          },
        ),
        { numRuns: 200 },
      );
      // five codecs per tensor (codec 4's encoder tries two sign geometries): give a loaded machine time
    }, 240_000);

    // decodeCsr walks the runs 8 values at a time while they stay in one row and one by one
    // where a row ends among them: every row length 1..20 and the ResNet ones, every run
    // length pattern, escapes (runs ≥ 255), codec 3's row bases at the int8 extremes
    it('CSR walk: 8-value groups at every column offset, row ends inside groups, escapes', () => {
      const rnd = lcg(1234);
      const check = (data: Int8Array, rows: number, cols: number, what: string): void => {
        for (const e of [encodeInt8(data, { codecs: [CODEC_RLE_HUFFMAN] }), encodeRleRows(data, cols)])
          expectCsrLikeRef(e.codec, e.payload, rows, cols, `${what} rows ${rows} cols ${cols} codec ${e.codec}`);
      };
      for (const cols of [...Array.from({ length: 20 }, (_, i) => i + 1), 27, 64, 144, 576]) {
        const rows = Math.max(1, Math.min(12, Math.floor(4000 / cols)));
        for (const density of [1, 0.9, 0.5, 0.15, 0.02]) {
          const data = new Int8Array(rows * cols);
          for (let i = 0; i < data.length; i++) {
            if (rnd() >= density) continue;
            // big magnitudes in some rows (codec 3 bases near 127), ±128/127 at the edges
            const big = Math.floor(i / cols) % 3 === 1;
            const m = big ? 100 + Math.floor(rnd() * 28) : 1 + Math.floor(rnd() * 40);
            data[i] = rnd() < 0.5 ? -m : Math.min(m, 127);
          }
          check(data, rows, cols, `density ${density}`);
        }
      }
      // one long run (escapes) inside a row and across rows, then dense values
      const cols = 600;
      const data = new Int8Array(3 * cols);
      for (let i = 0; i < data.length; i++) data[i] = i < 700 || (i > 1000 && i < 1300) ? 0 : ((i * 13) % 9) - 4;
      check(data, 3, cols, 'escapes');
    });

    it('CSR walk: codec 3 rejects a row base that pushes a value outside int8, grouped or not', () => {
      // row 0 holds 16 values (a full group), row 1 one value; base bytes follow the two varints
      const cols = 20;
      const data = new Int8Array(2 * cols);
      for (let c = 0; c < 16; c++) data[c] = c % 2 ? -120 : 120;
      data[cols + 5] = 120;
      const e = encodeRleRows(data, cols);
      expect(e.codec).toBe(CODEC_RLE_ROWS);
      expect(() => w.decodeCsr(e.codec, e.payload, 2, cols)).not.toThrow();
      // payload: varint cols (20: 1 byte), varint nnz (17: 1 byte), then 2 base bytes
      expect([e.payload[0], e.payload[1], e.payload[2], e.payload[3]]).toEqual([cols, 17, 119, 119]);
      for (const row of [0, 1]) {
        const bad = e.payload.slice();
        bad[2 + row] = 127; // |value| = magnitude + 127 > 128
        expect(() => decodeCsrRef(e.codec, bad, 2, cols), `ref row ${row}`).toThrow();
        for (const vb of [1, 2] as const)
          expect(() => w.decodeCsr(e.codec, bad, 2, cols, vb), `row ${row} valBytes ${vb}`).toThrow(SparrowError);
      }
    });

    it('decodes blocks forced to 4 streams with tiny counts (empty streams)', () => {
      for (let n = 0; n < 40; n++) {
        const data = Int8Array.from({ length: n }, (_, i) => ((i * 37) % 11) - 5);
        const sym = Uint8Array.from(data, (v) => ((v << 1) ^ (v >> 7)) & 0xff);
        if (new Set(sym).size < 2) continue;
        const block = encodeBlock(sym, { streams: 4 }).bytes;
        const got = w.decodeInt8(CODEC_HUFFMAN, block, n);
        expect(same(got, decodeInt8Ref(CODEC_HUFFMAN, block, n)), `n=${n}`).toBe(true);
        expect(same(got, data), `n=${n}`).toBe(true);
      }
    });

    it('rejects wrong sizes, unknown codecs and truncation with SparrowError', () => {
      const data = Int8Array.from({ length: 3000 }, (_, i) => ((i * 7919) % 61) - 30);
      for (const c of ALL) {
        const e = encodeInt8(data, { codecs: [c] });
        expect(() => w.decodeInt8(c, e.payload, 2999)).toThrow(SparrowError);
        for (const cut of [0, 1, 5, e.payload.length >> 1, e.payload.length - 1]) {
          expect(() => w.decodeInt8(c, e.payload.subarray(0, cut), 3000)).toThrow(SparrowError);
        }
      }
      expect(() => w.decodeInt8(7, new Uint8Array(10), 10)).toThrow(/unknown codec/);
      expect(() => w.decodeCsr(CODEC_RAW, new Uint8Array(70000 * 2), 2, 70000)).toThrow(/CSR/);
    });
  });
}
