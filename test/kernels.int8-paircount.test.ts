// qs8_csr_pair_count (assembly/int8/sparse.ts): the non-empty aligned k-pairs of a CSR, counted
// in WASM where the decoder wrote it (the engine's pair density at lowering), against the TS
// reference csrPairCount (src/kernels/int8_ref.ts) on CSRs made by csrFromDense: named edge
// cases and a fast-check property; and on a CSR decoded from a coded stream by decodeCsr.
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { csrFromDense, csrPairCount } from '../src/kernels/int8_ref.js';
import { encodeInt8 } from '../src/codec/int8.js';

let w: SparrowWasm;
beforeAll(async () => {
  w = await loadWasmNode();
});

/** the WASM count of the CSR of dense (rows, cols), placed in linear memory */
function wasmCount(dense: Int8Array, rows: number, cols: number): number {
  const csr = csrFromDense(dense, rows, cols);
  const m = w.mark();
  try {
    const rp = w.alloc((rows + 1) * 4),
      cp = w.alloc(csr.col.length * 2 + 16);
    new Uint32Array(w.memory.buffer, rp, rows + 1).set(csr.rowPtr);
    new Uint16Array(w.memory.buffer, cp, csr.col.length).set(csr.col);
    return w.exports.qs8_csr_pair_count(rows, rp, cp);
  } finally {
    w.release(m);
  }
}

const refCount = (dense: Int8Array, rows: number, cols: number): number => {
  const csr = csrFromDense(dense, rows, cols);
  return csrPairCount(csr.rowPtr, csr.col, rows);
};

describe('qs8_csr_pair_count = csrPairCount', () => {
  it('named cases: empty, full, one of a pair, both of a pair, odd K (last pair half), empty rows', () => {
    const cases: Array<[number[], number, number, number]> = [
      [[0, 0, 0, 0], 1, 4, 0],
      [[1, 1, 1, 1], 1, 4, 2],
      [[0, 1, 0, 0], 1, 4, 1],
      [[1, 1, 0, 0], 1, 4, 1],
      [[1, 0, 0, 1], 1, 4, 2],
      [[0, 0, 0, 0, 5], 1, 5, 1],
      [[0, 1, 1, 0, 5], 1, 5, 3],
      [[0, 0, 0, 1, 1, 0, 0, 0, 0], 3, 3, 1],
      [[-128, 0, 127, 0, 0, 0, 0, 0, 1], 3, 3, 3],
    ];
    for (const [d, rows, cols, E] of cases) {
      const dense = Int8Array.from(d);
      expect(refCount(dense, rows, cols)).toBe(E);
      expect(wasmCount(dense, rows, cols)).toBe(E);
    }
  });

  it('property (fast-check): random shapes and densities', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer(),
        (rows, cols, d, seed) => {
          let s = seed >>> 0;
          const r = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
          const dense = Int8Array.from({ length: rows * cols }, () => (r() < d ? 1 + Math.floor(r() * 127) : 0));
          expect(wasmCount(dense, rows, cols)).toBe(refCount(dense, rows, cols));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('in place on the CSR the WASM decoder writes from each codec (as the engine counts at lowering)', () => {
    const rows = 64,
      cols = 576;
    let s = 11;
    const r = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    for (const d of [0.05, 0.3, 0.7])
      for (const codec of [0, 1, 2, 3, 4, 5] as const) {
        const dense = Int8Array.from({ length: rows * cols }, () => (r() < d ? Math.round(r() * 250 - 125) || 1 : 0));
        const enc = encodeInt8(dense, { codecs: [codec], cols, dims: [rows, cols / 9, 3, 3] });
        expect(enc.codec).toBe(codec);
        const nnz = dense.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0);
        const m = w.mark();
        try {
          const n = rows * cols;
          const src = w.put(enc.payload);
          const work = w.alloc(w.workBytes(n));
          const dn = w.alloc(n + 16);
          const rp = w.alloc((rows + 1) * 4),
            cp = w.alloc(nnz * 2 + 16),
            vp = w.alloc(nnz + 16);
          expect(w.exports.decodeCsr(codec, src, enc.payload.length, rows, cols, rp, cp, vp, nnz, work, dn, 1)).toBe(nnz);
          expect(w.exports.qs8_csr_pair_count(rows, rp, cp)).toBe(refCount(dense, rows, cols));
        } finally {
          w.release(m);
        }
      }
  });
});
