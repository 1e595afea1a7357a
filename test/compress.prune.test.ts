import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { magnitudePrune, globalMagnitudeThreshold, globalMagnitudePrune, pruneCount } from '../src/compress/prune.js';
import { SparrowError } from '../src/errors.js';

/** Plain reference: sort positions by (|w|, index) and zero the first k. */
function refPrune(w: Float32Array, sparsity: number): Float32Array {
  const k = Math.round(sparsity * w.length);
  const order = Array.from(w, (_, i) => i).sort((a, b) => Math.abs(w[a]!) - Math.abs(w[b]!) || a - b);
  const out = Float32Array.from(w);
  for (let j = 0; j < k; j++) out[order[j]!] = 0;
  return out;
}

function zeros(w: Float32Array): number {
  let z = 0;
  for (const v of w) if (v === 0) z++;
  return z;
}

const weights = fc
  .array(
    fc.oneof(
      fc.float({ noNaN: true, noDefaultInfinity: true }),
      fc.integer({ min: -3, max: 3 }).map((k) => k * 0.5), // many ties and zeros
    ),
    { maxLength: 200 },
  )
  .map((a) => Float32Array.from(a));
const sparsity = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe('magnitudePrune', () => {
  it('equals the (|w|, index)-sorted reference; exact count; kept weights are the largest', () => {
    fc.assert(
      fc.property(weights, sparsity, (w, s) => {
        const before = Float32Array.from(w);
        const out = magnitudePrune(w, s);
        expect(w).toEqual(before); // input untouched
        expect(out).not.toBe(w);
        expect(Array.from(out)).toEqual(Array.from(refPrune(w, s)));

        const k = Math.round(s * w.length);
        const pruned: number[] = [];
        const kept: number[] = [];
        for (let i = 0; i < w.length; i++) {
          if (out[i] === 0 && w[i] !== 0) pruned.push(i);
          else if (out[i] !== 0) {
            kept.push(i);
            expect(out[i]).toBe(w[i]);
          }
        }
        // exactly k positions selected (already-zero weights count as the smallest)
        expect(zeros(out)).toBe(Math.max(k, zeros(w)));
        // every kept magnitude >= every pruned magnitude
        const maxPruned = Math.max(0, ...pruned.map((i) => Math.abs(w[i]!)));
        for (const i of kept) expect(Math.abs(w[i]!)).toBeGreaterThanOrEqual(maxPruned);
      }),
      { numRuns: 1000 },
    );
  });

  it('breaks ties by index: lower index pruned first', () => {
    const w = Float32Array.of(1, -1, 1, 2, -1, 0.5, 1);
    // k = round(0.5 * 7) = 4: 0.5 (idx 5), then the first three of the |1| tie: idx 0, 1, 2
    expect(Array.from(magnitudePrune(w, 0.5))).toEqual([0, 0, 0, 2, -1, 0, 1]);
    // -0 and +0 are equal magnitudes; the tie goes by index; the result stores +0
    const z = magnitudePrune(Float32Array.of(-0, 3, 0, -2), 0.5);
    expect(Array.from(z)).toEqual([0, 3, 0, -2]);
  });

  it('is deterministic', () => {
    const w = Float32Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 13) - 6);
    expect(magnitudePrune(w, 0.37)).toEqual(magnitudePrune(w, 0.37));
  });

  it('count is Math.round(sparsity * n)', () => {
    expect(pruneCount(10, 0.25)).toBe(3); // 2.5 rounds up
    expect(pruneCount(10, 0.3)).toBe(3);
    expect(pruneCount(3, 0.999)).toBe(3);
    expect(zeros(magnitudePrune(Float32Array.of(1, 2, 3), 0.999))).toBe(3);
    expect(zeros(magnitudePrune(Float32Array.of(1, 2, 3), 0))).toBe(0);
    expect(magnitudePrune(new Float32Array(0), 0.5).length).toBe(0);
  });

  it('rejects bad sparsity and non-finite weights with SparrowError invalid_argument', () => {
    for (const s of [1, -0.1, 1.5, NaN, Infinity, '0.5' as unknown as number]) {
      try {
        magnitudePrune(Float32Array.of(1, 2), s);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(SparrowError);
        expect((e as SparrowError).code).toBe('invalid_argument');
      }
    }
    expect(() => magnitudePrune(Float32Array.of(1, NaN), 0.5)).toThrowError(SparrowError);
    expect(() => globalMagnitudeThreshold([Float32Array.of(1)], 1)).toThrowError(SparrowError);
    expect(() => globalMagnitudePrune([Float32Array.of(Infinity)], 0.5)).toThrowError(SparrowError);
  });
});

describe('global magnitude pruning', () => {
  it('globalMagnitudePrune == per-layer reference on the concatenation; threshold is the k-th smallest |w|', () => {
    fc.assert(
      fc.property(fc.array(weights, { maxLength: 5 }), sparsity, (layers, s) => {
        const total = layers.reduce((a, w) => a + w.length, 0);
        const concat = new Float32Array(total);
        let p = 0;
        for (const w of layers) {
          concat.set(w, p);
          p += w.length;
        }
        const expected = refPrune(concat, s);
        const out = globalMagnitudePrune(layers, s);
        expect(out.map((w) => w.length)).toEqual(layers.map((w) => w.length));
        p = 0;
        for (const w of out) {
          expect(Array.from(w)).toEqual(Array.from(expected.subarray(p, p + w.length)));
          p += w.length;
        }

        const k = Math.round(s * total);
        const t = globalMagnitudeThreshold(layers, s);
        if (k === 0) expect(t).toBe(-Infinity);
        else {
          const mags = Array.from(concat, Math.abs).sort((a, b) => a - b);
          expect(t).toBe(mags[k - 1]);
          // pruning |w| <= t removes at least k, and |w| < t removes fewer than k
          expect(mags.filter((m) => m <= t).length).toBeGreaterThanOrEqual(k);
          expect(mags.filter((m) => m < t).length).toBeLessThan(k);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('prunes across layers, not per layer', () => {
    const a = Float32Array.of(10, 20, 30);
    const b = Float32Array.of(0.1, 0.2, 0.3);
    const [pa, pb] = globalMagnitudePrune([a, b], 0.5);
    expect(Array.from(pa!)).toEqual([10, 20, 30]);
    expect(Array.from(pb!)).toEqual([0, 0, 0]);
    expect(globalMagnitudeThreshold([a, b], 0.5)).toBe(Math.fround(0.3));
  });

  it('ties across layers go to the earlier layer first', () => {
    const [pa, pb] = globalMagnitudePrune([Float32Array.of(5, 1), Float32Array.of(1, 5)], 0.25);
    expect(Array.from(pa!)).toEqual([5, 0]);
    expect(Array.from(pb!)).toEqual([1, 5]);
  });
});
