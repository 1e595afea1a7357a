// Codec 4 (static interleaved rANS, docs/format.md "Codec 4"): frequency tables, coding
// efficiency against the Shannon bound, the sign contexts, and the WASM decoder against the
// TS reference on valid and hostile payloads (paranoid layout: guards, input flush at the end).
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { analyzeInt8Payload, CODEC_RANS, decodeInt8Ref, encodeInt8, encodeRans } from '../src/codec/int8.js';
import { BitWriter } from '../src/codec/bitio.js';
import { buildTable, levelValue, readTable, RansDecoder, RansEncoder, tableCostBits, writeTable } from '../src/codec/rans.js';
import { decodeRansDetailed, encodeRansRows } from '../src/codec/rans_int8.js';
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

function shannonBits(counts: ArrayLike<number>): number {
  let n = 0;
  for (let s = 0; s < counts.length; s++) n += counts[s]!;
  let b = 0;
  for (let s = 0; s < counts.length; s++) if (counts[s]! > 0) b -= counts[s]! * Math.log2(counts[s]! / n);
  return b;
}

/** A conv weight [O, I, 3, 3] with smooth kernels (correlated neighbour signs), per-row scale. */
function convWeight(O: number, I: number, seed: number, sparsity = 0): Int8Array {
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
          q[((o * I + i) * 3 + y) * 3 + x] = rnd() < sparsity ? 0 : Math.max(-127, Math.min(127, v));
        }
    }
  }
  return q;
}

describe('rANS frequency tables', () => {
  it('levels: exact to 8, then 4 steps per octave, strictly increasing', () => {
    expect([1, 2, 8, 9, 10, 12, 13].map(levelValue)).toEqual([1, 2, 8, 10, 12, 16, 20]);
    for (let e = 1; e < 63; e++) expect(levelValue(e + 1)).toBeGreaterThan(levelValue(e));
  });

  it('property: a table sums to 2^log, codes every present symbol, reads back as written', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 5000 }), { minLength: 1, maxLength: 256 }), (counts) => {
        const t = buildTable(counts);
        const sum = t.freq.reduce((a, f) => a + f, 0);
        expect(sum).toBe(2 ** t.log);
        counts.forEach((c, s) => {
          if (c > 0) expect(t.freq[s]!).toBeGreaterThan(0);
        });
        const w = new BitWriter();
        writeTable(w, t);
        const bytes = w.finish();
        const r = readTable(bytes, 0, bytes.length, 255);
        expect(r.pos).toBe(bytes.length);
        expect(Array.from(r.table.freq)).toEqual(Array.from(t.freq));
      }),
      { numRuns: 300 },
    );
  });

  it('flat alphabets whose rounded frequencies overfill every log still get a table (found by the fuzzer)', () => {
    for (let n = 2; n <= 256; n++) {
      for (const extra of [0, 1, 7]) {
        const counts = Array.from({ length: n }, (_, s) => 100 + (s === 0 ? extra : 0));
        const t = buildTable(counts);
        expect(t.freq.reduce((a, f) => a + f, 0)).toBe(2 ** t.log);
        expect(Array.from(t.freq).every((f) => f > 0)).toBe(true);
      }
    }
  });

  it('named case (fuzzer): 129 near-equal counts overfill logs 12..9 at every scale factor near 1', () => {
    const counts = Array.from(
      '022221200221211220220001102112211102100212011000221202121120222001200211110102110201021200212212021020201202221102202122200121112',
      (d) => 44 + Number(d),
    );
    const t = buildTable(counts);
    expect(t.freq.reduce((a, f) => a + f, 0)).toBe(2 ** t.log);
    expect(Array.from(t.freq).every((f) => f > 0)).toBe(true);
  });

  it('coding loss of the quantized table is under 0.5 % of the Shannon bound on a skewed alphabet', () => {
    const rnd = lcg(3);
    const counts = new Float64Array(200);
    for (let i = 0; i < 200_000; i++) counts[Math.min(199, Math.floor(-Math.log(rnd()) * 12))]!++;
    const t = buildTable(counts);
    expect(tableCostBits(t, counts) / shannonBits(counts)).toBeLessThan(1.005);
  });

  it('rejects a log outside 5..12, a rest symbol over max, and frequencies that fill the range', () => {
    const ok = (() => {
      const w = new BitWriter();
      writeTable(w, buildTable([5, 3, 1]));
      return w.finish();
    })();
    expect(() => readTable(ok, 0, ok.length, 255)).not.toThrow();
    const badLog = ok.slice();
    badLog[0] = 13;
    expect(() => readTable(badLog, 0, badLog.length, 255)).toThrow(SparrowError);
    const badRest = ok.slice();
    badRest[2] = 3;
    expect(() => readTable(badRest, 0, badRest.length, 255)).toThrow(/rest/);
    // log 5 (32), two symbols at level 63 each: overfull
    const w = new BitWriter();
    w.writeByte(5);
    w.writeByte(2);
    w.writeByte(2);
    w.writeBits(0b111, 3);
    w.writeBits(63, 6);
    w.writeBits(0, 1);
    w.writeBits(0, 1);
    w.alignByte();
    const full = w.finish();
    expect(() => readTable(full, 0, full.length, 255)).toThrow(/nothing for the rest/);
    expect(() => readTable(ok, 0, 2, 255)).toThrow(SparrowError);
  });
});

describe('rANS coder', () => {
  it('property: interleaved states (1, 2, 4, 8) decode what was encoded and end at L', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 20 }), { maxLength: 3000 }), fc.constantFrom(1, 2, 4, 8), (syms, S) => {
        const counts = new Array(21).fill(0);
        for (const s of syms) counts[s]++;
        const t = buildTable(counts);
        const enc = new RansEncoder(S);
        for (const s of syms) enc.put(t.start[s]!, t.freq[s]!, t.log);
        const data = enc.finish();
        const dec = new RansDecoder(data, 0, data.length, S);
        const got = syms.map(() => dec.decode(t));
        expect(got).toEqual(syms);
        dec.finish();
      }),
      { numRuns: 100 },
    );
  });

  it('codec 4 on a 64x64x3x3 conv weight is within 1 % of its streams Shannon bound plus tables', () => {
    for (const sp of [0, 0.5, 0.9]) {
      const q = convWeight(64, 64, 11, sp);
      const e = encodeRans(q, 576, [64, 64, 3, 3]);
      expect(e.payload.length / (e.entropyBytes + e.tableBytes), `sparsity ${sp}`).toBeLessThan(1.01);
      expect(same(decodeInt8Ref(CODEC_RANS, e.payload, q.length), q)).toBe(true);
    }
  });

  it('the kernel-window sign contexts pay on smooth kernels (vs left-only contexts and order-0 signs)', () => {
    const q = convWeight(32, 32, 5, 0.5);
    const kernel = encodeRansRows(q, 288, { kw: 3, karea: 9 });
    const left = encodeRansRows(q, 288, { kw: 288, karea: 288 });
    const signs = (e: typeof kernel) => e.streams.find((s) => s.name === 'signs')!.entropyBytes;
    const nnz = kernel.nonzero;
    expect(signs(kernel)).toBeLessThan(signs(left));
    expect(signs(left)).toBeLessThan(nnz / 8); // order-0 signs cost ~1 bit each
    expect(kernel.payload.length).toBeLessThan(left.payload.length);
    expect(encodeInt8(q, { cols: 288, dims: [32, 32, 3, 3], codecs: [CODEC_RANS] }).payload).toEqual(kernel.payload);
  });

  it('the previous-magnitude context pays on smooth kernels at 0 % sparsity and round-trips', () => {
    const q = convWeight(32, 32, 7, 0);
    const g = { kw: 3, karea: 9 };
    const ctx = encodeRansRows(q, 288, g);
    const one = encodeRansRows(q, 288, g, { magContext: false });
    const mags = (e: typeof ctx) => e.streams.find((s) => s.name === 'magnitudes')!.entropyBytes;
    expect(decodeRansDetailed(ctx.payload, q.length).parsed.threshold).toBeGreaterThan(0);
    expect(decodeRansDetailed(one.payload, q.length).parsed.threshold).toBe(0);
    expect(mags(ctx)).toBeLessThan(mags(one));
    expect(ctx.payload.length).toBeLessThan(one.payload.length);
    expect(same(decodeInt8Ref(CODEC_RANS, ctx.payload, q.length), q)).toBe(true);
    // `sparrow inspect`'s analysis reads the same conditional entropy back from the payload
    const a = analyzeInt8Payload(CODEC_RANS, ctx.payload, q.length);
    expect(a.streams.find((x) => x.name === 'magnitudes')!.entropyBytes).toBeCloseTo(mags(ctx), 6);
    // a threshold over 127 is rejected (byte after S)
    const bad = ctx.payload.slice();
    const at = headerEnd(bad) + 1;
    bad[at] = 200;
    expect(() => decodeInt8Ref(CODEC_RANS, bad, q.length)).toThrow(SparrowError);
  });
});

/** Offset of the S byte: after the five header varints. */
function headerEnd(p: Uint8Array): number {
  let pos = 0;
  for (let v = 0; v < 5; v++) while (p[pos++]! & 0x80);
  return pos;
}

for (const variant of ['release', 'debug'] as const) {
  describe(`WASM rANS decoder (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });

    it('decodes conv weights (kernel geometry, 1 and 4 states) like the reference', () => {
      for (const [O, I] of [
        [4, 3],
        [16, 16],
        [64, 32],
      ] as const) {
        for (const sp of [0, 0.7, 0.99]) {
          const q = convWeight(O, I, O * I, sp);
          const e = encodeInt8(q, { cols: I * 9, dims: [O, I, 3, 3], codecs: [CODEC_RANS] });
          expect(same(w.decodeInt8(CODEC_RANS, e.payload, q.length), q), `${O}x${I} sparsity ${sp}`).toBe(true);
          const c = decodeChecked(w, CODEC_RANS, e.payload, q.length);
          expect(c.status).toBe(0);
          expect(c.guardsIntact).toBe(true);
        }
      }
    });

    it('decodes 8-state and magnitude-context streams like the reference (all decode loops)', () => {
      for (const [O, I, sp] of [
        [32, 16, 0],
        [32, 16, 0.5],
        [8, 8, 0],
        [64, 64, 0.9],
      ] as const) {
        const q = convWeight(O, I, O + I, sp);
        for (const states of [1, 2, 4, 8] as const)
          for (const magContext of [false, true]) {
            const e = encodeRansRows(q, I * 9, { kw: 3, karea: 9 }, { states, magContext });
            expect(same(decodeInt8Ref(CODEC_RANS, e.payload, q.length), q)).toBe(true);
            const c = decodeChecked(w, CODEC_RANS, e.payload, q.length);
            expect(c.status, `${O}x${I} sparsity ${sp} S ${states} context ${magContext}`).toBe(0);
            expect(c.guardsIntact).toBe(true);
            expect(same(new Int8Array(c.out.buffer, c.out.byteOffset, c.out.length), q)).toBe(true);
          }
      }
    });

    it('hostile 8-state and magnitude-context payloads: rejected exactly as the reference does', () => {
      const rnd = lcg(7);
      const r = () => Math.floor(rnd() * 2 ** 32) >>> 0;
      let accepted = 0,
        rejected = 0,
        withContext = 0;
      for (let it = 0; it < 400; it++) {
        const q = convWeight(8 + (r() % 8), 8, it, [0, 0.3][it % 2]!);
        const e = encodeRansRows(q, 72, { kw: 3, karea: 9 }, { states: ([1, 2, 4, 8] as const)[it % 4]! });
        if (decodeRansDetailed(e.payload, q.length).parsed.threshold > 0) withContext++;
        const p = it % 10 === 0 ? e.payload : mutate(r, e.payload);
        let ref: Int8Array | null = null;
        try {
          ref = decodeInt8Ref(CODEC_RANS, p, q.length);
        } catch (err) {
          expect(err).toBeInstanceOf(SparrowError);
        }
        const c = decodeChecked(w, CODEC_RANS, p, q.length);
        expect(c.guardsIntact).toBe(true);
        expect(c.status >= 0, `input ${Buffer.from(p).toString('hex')}`).toBe(ref !== null);
        if (ref) {
          accepted++;
          expect(same(new Int8Array(c.out.buffer, c.out.byteOffset, c.out.length), ref)).toBe(true);
        } else rejected++;
      }
      expect(withContext).toBeGreaterThan(100);
      expect(accepted).toBeGreaterThan(20);
      expect(rejected).toBeGreaterThan(100);
    });

    it('hostile payloads: the WASM decoder rejects exactly what the reference rejects, never writes outside', () => {
      const rnd = lcg(99);
      const r = () => Math.floor(rnd() * 2 ** 32) >>> 0;
      let accepted = 0,
        rejected = 0;
      for (let it = 0; it < 1500; it++) {
        const O = 1 + (r() % 8),
          I = 1 + (r() % 6);
        const q = convWeight(O, I, it, [0, 0.5, 0.9, 1][it % 4]!);
        const e = encodeInt8(q, { cols: I * 9, dims: [O, I, 3, 3], codecs: [CODEC_RANS] });
        const p = it % 10 === 0 ? e.payload : mutate(r, e.payload);
        const n = it % 13 === 0 ? q.length + (r() % 5) - 2 : q.length;
        let ref: Int8Array | null = null;
        try {
          ref = decodeInt8Ref(CODEC_RANS, p, Math.max(0, n));
        } catch (err) {
          expect(err).toBeInstanceOf(SparrowError);
        }
        const c = decodeChecked(w, CODEC_RANS, p, Math.max(0, n));
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
