// Codec 6 "rans-runs" (docs/format.md "Codec 6"): round trips through the TS reference
// (property), coding efficiency against its Shannon bound, the run symbols and escapes, and
// the WASM decoder against the reference on valid and hostile payloads.
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { analyzeInt8Payload, CODEC_RANS_LANES, CODEC_RANS_RUNS, decodeInt8Ref, encodeInt8, encodeRansRunsInt8 } from '../src/codec/int8.js';
import { decodeRansRunsDetailed, encodeRansRuns, readRunsHeader, runSymbols } from '../src/codec/rans_runs.js';
import { SparrowError } from '../src/errors.js';
import { loadWasmNode } from '../src/wasm/node.js';
import { decodeChecked } from '../src/wasm/checked.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { mutate } from '../src/bench/fuzz.js';
import { lcg } from './helpers/tensors.js';

function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A conv weight [O, I, 3, 3] with smooth kernels (correlated neighbour signs), per-row scale. */
function convWeight(O: number, I: number, seed: number, sparsity = 0, lim = 127): Int8Array {
  const rnd = lcg(seed);
  const q = new Int8Array(O * I * 9);
  for (let o = 0; o < O; o++) {
    const scale = 10 + rnd() * 50;
    for (let i = 0; i < I; i++) {
      const a = (rnd() - 0.5) * 2,
        bx = (rnd() - 0.5) * 0.6,
        by = (rnd() - 0.5) * 0.6;
      for (let y = 0; y < 3; y++)
        for (let x = 0; x < 3; x++) {
          const v = Math.round(scale * (a + bx * (x - 1) + by * (y - 1) + (rnd() - 0.5) * 0.5));
          q[((o * I + i) * 3 + y) * 3 + x] = rnd() < sparsity ? 0 : Math.max(-lim - 1, Math.min(lim, v));
        }
    }
  }
  return q;
}

const tensor = fc
  .record({
    rows: fc.integer({ min: 1, max: 20 }),
    cols: fc.integer({ min: 1, max: 40 }),
    seed: fc.nat(),
    spread: fc.integer({ min: 0, max: 128 }),
    sparsity: fc.double({ min: 0, max: 1, noNaN: true }),
    kw: fc.integer({ min: 1, max: 5 }),
    kh: fc.integer({ min: 1, max: 3 }),
  })
  .map(({ rows, cols, seed, spread, sparsity, kw, kh }) => {
    const rnd = lcg(seed);
    const q = new Int8Array(rows * cols);
    for (let i = 0; i < q.length; i++) q[i] = rnd() < sparsity ? 0 : Math.max(-128, Math.min(127, Math.round((rnd() - 0.5) * 2 * spread)));
    const karea = kw * kh;
    const g = karea <= cols && cols % karea === 0 ? { kw, karea } : { kw: cols, karea: cols };
    return { q, cols, g };
  });

describe('codec 6 (rans-runs) reference', () => {
  it('property: any int8 rows round-trip, every geometry and value table log', () => {
    fc.assert(
      fc.property(tensor, fc.constantFrom(undefined, 5, 9, 12), ({ q, cols, g }, log) => {
        const e = encodeRansRuns(q, cols, g, log === undefined ? {} : { logs: [log] });
        expect(same(decodeInt8Ref(CODEC_RANS_RUNS, e.payload, q.length), q)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('named cases: empty tensor, one row, one column, all zeros, all −128, long zero runs (escapes)', () => {
    const long = new Int8Array(3000);
    long[0] = 3;
    long[1000] = -7;
    long[2999] = 1;
    const tail = new Int8Array(1000);
    tail[5] = 9;
    for (const [q, cols] of [
      [new Int8Array(0), 1],
      [Int8Array.from([5, -3, 0, 127, -128]), 5],
      [Int8Array.from([5, -3, 0, 127, -128]), 1],
      [new Int8Array(100), 10],
      [new Int8Array(64).fill(-128), 8],
      [long, 30],
      [tail, 1000],
      [tail, 1],
    ] as const) {
      const e = encodeRansRuns(q, cols, { kw: cols, karea: cols });
      expect(same(decodeInt8Ref(CODEC_RANS_RUNS, e.payload, q.length), q)).toBe(true);
    }
  });

  it('run symbols: an escape stands for esc zeros and no value; trailing zeros end the stream', () => {
    const q = Int8Array.from([0, 0, 0, 0, 0, 0, 0, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(runSymbols(q, 3)).toEqual([3, 3, 1, 0, 3, 3, 2]);
    expect(runSymbols(q, 255)).toEqual([7, 0, 8]);
    const e = encodeRansRuns(q, q.length, { kw: q.length, karea: q.length });
    const d = decodeRansRunsDetailed(e.payload, q.length);
    expect(d.runs).toEqual(runSymbols(q, d.header.esc));
  });

  it('a 64x64x3x3 smooth conv weight is within 1 % of its Shannon bound plus tables at 0, 50 and 90 % sparsity; smaller than codec 5 once sparse', () => {
    for (const sp of [0, 0.5, 0.9]) {
      const q = convWeight(64, 64, 11, sp);
      const e = encodeRansRunsInt8(q, 576, [64, 64, 3, 3]);
      expect(e.payload.length / (e.entropyBytes + e.tableBytes), `sparsity ${sp}`).toBeLessThan(1.01);
      if (sp > 0)
        expect(e.payload.length, `sparsity ${sp}`).toBeLessThan(
          encodeInt8(q, { cols: 576, dims: [64, 64, 3, 3], codecs: [CODEC_RANS_LANES] }).payload.length,
        );
      expect(same(decodeInt8Ref(CODEC_RANS_RUNS, e.payload, q.length), q)).toBe(true);
    }
  });

  it('inspect reads the encoder figures back; contexts are those of the same row', () => {
    const q = convWeight(32, 32, 5, 0.3);
    const e = encodeRansRuns(q, 288, { kw: 3, karea: 9 });
    expect(encodeInt8(q, { cols: 288, dims: [32, 32, 3, 3], codecs: [CODEC_RANS_RUNS] }).payload.length).toBeLessThanOrEqual(
      e.payload.length,
    );
    const a = analyzeInt8Payload(CODEC_RANS_RUNS, e.payload, q.length);
    for (const s of e.streams) expect(a.streams.find((x) => x.name === s.name)!.entropyBytes).toBeCloseTo(s.entropyBytes, 6);
    expect(a.nonzero).toBe(e.nonzero);
    const d = decodeRansRunsDetailed(e.payload, q.length);
    let k = 0;
    for (let p = 0; p < q.length; p++) {
      if (q[p] === 0) continue;
      expect(d.sym[p]).toBe(Math.abs(q[p]!) - d.header.base[Math.floor(p / 288)]!);
      if (p % 288 === 0) expect(d.sumCtx[k]).toBe(0); // no left or upper neighbour in column 0
      k++;
    }
  });

  it('the header is checked: escape 0, bad value log, truncation, wrong length', () => {
    const q = convWeight(8, 4, 3, 0.2);
    const e = encodeRansRuns(q, 36, { kw: 3, karea: 9 });
    const h = readRunsHeader(e.payload, q.length);
    expect(h.tables).toHaveLength(3);
    const bad = e.payload.slice();
    bad[3] = 0; // cols (36), kw, karea: one byte each, then the escape
    expect(() => decodeInt8Ref(CODEC_RANS_RUNS, bad, q.length)).toThrow(SparrowError);
    expect(() => decodeInt8Ref(CODEC_RANS_RUNS, e.payload.subarray(0, e.payload.length - 1), q.length)).toThrow(SparrowError);
    expect(() => decodeInt8Ref(CODEC_RANS_RUNS, e.payload, q.length + 36)).toThrow(SparrowError);
  });
});

for (const variant of ['release', 'debug'] as const) {
  describe(`WASM rans-runs decoder (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });

    const check = (q: Int8Array, payload: Uint8Array, what: string) => {
      const c = decodeChecked(w, CODEC_RANS_RUNS, payload, q.length);
      expect(c.status, what).toBe(0);
      expect(c.guardsIntact).toBe(true);
      expect(same(new Int8Array(c.out.buffer, c.out.byteOffset, c.out.length), q), what).toBe(true);
    };

    it('decodes conv weights like the reference at every sparsity and value table log', () => {
      for (const [O, I] of [
        [4, 3],
        [8, 2],
        [16, 16],
        [21, 8],
        [64, 32],
      ] as const) {
        for (const sp of [0, 0.5, 0.9, 0.99, 1]) {
          const q = convWeight(O, I, O * I, sp);
          for (const log of [undefined, 5, 12]) {
            const e = encodeRansRuns(q, I * 9, { kw: 3, karea: 9 }, log === undefined ? {} : { logs: [log] });
            check(q, e.payload, `${O}x${I} sparsity ${sp} log ${log}`);
          }
        }
      }
    });

    it('magnitude 128, wide kernels (kw 300) and one-column rows', () => {
      const q = convWeight(16, 8, 4, 0.1, 127);
      for (let i = 0; i < q.length; i += 37) q[i] = -128;
      check(q, encodeRansRuns(q, 72, { kw: 3, karea: 9 }).payload, '-128');
      const wide = convWeight(16, 100, 8, 0.3).subarray(0, 16 * 600);
      check(wide, encodeRansRuns(wide, 600, { kw: 300, karea: 600 }).payload, 'kw 300');
      const col = convWeight(4, 4, 6, 0.7);
      check(col, encodeRansRuns(col, 1, { kw: 1, karea: 1 }).payload, 'cols 1');
    });

    it('property: random tensors decode like the reference', () => {
      fc.assert(
        fc.property(tensor, ({ q, cols, g }) => {
          check(q, encodeRansRuns(q, cols, g).payload, 'random');
        }),
        { numRuns: 200 },
      );
    });

    it('hostile payloads: the WASM decoder rejects exactly what the reference rejects, never writes outside', () => {
      const rnd = lcg(77);
      const r = () => Math.floor(rnd() * 2 ** 32) >>> 0;
      let accepted = 0,
        rejected = 0;
      for (let it = 0; it < 1500; it++) {
        const O = 1 + (r() % 20),
          I = 1 + (r() % 6);
        const q = convWeight(O, I, it, [0, 0.5, 0.9, 1][it % 4]!);
        const e = encodeInt8(q, { cols: I * 9, dims: [O, I, 3, 3], codecs: [CODEC_RANS_RUNS] });
        const p = it % 10 === 0 ? e.payload : mutate(r, e.payload);
        const n = it % 13 === 0 ? q.length + (r() % 5) - 2 : q.length;
        let ref: Int8Array | null = null;
        try {
          ref = decodeInt8Ref(CODEC_RANS_RUNS, p, Math.max(0, n));
        } catch (err) {
          expect(err).toBeInstanceOf(SparrowError);
        }
        const c = decodeChecked(w, CODEC_RANS_RUNS, p, Math.max(0, n));
        expect(c.guardsIntact).toBe(true);
        expect(c.status >= 0, `input ${Buffer.from(p).toString('hex')}`).toBe(ref !== null);
        if (ref) {
          accepted++;
          expect(same(new Int8Array(c.out.buffer, c.out.byteOffset, c.out.length), ref)).toBe(true);
        } else rejected++;
      }
      expect(accepted).toBeGreaterThan(100);
      expect(rejected).toBeGreaterThan(100);
    });
  });
}
