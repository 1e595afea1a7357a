// Weight sharing (src/compress/kmeans.ts): the exact 1-D k-means against a brute force over every
// contiguous clustering, and shareInt8Levels keeping zeros and signs within 2^bits levels.
import { describe, expect, it } from 'vitest';
import { kmeans1dExact, shareInt8Levels, distinct } from '../src/compress/kmeans.js';
import { lcg } from './helpers/tensors.js';

describe('weight sharing (kmeans.ts)', () => {
  it('kmeans1dExact finds the optimal contiguous clustering (checked by brute force)', () => {
    const rnd = lcg(5);
    const cost = (xs: number[], ws: number[], starts: number[]): number => {
      let c = 0;
      starts.forEach((a, k) => {
        const b = k + 1 < starts.length ? starts[k + 1]! : xs.length;
        let w = 0,
          s = 0;
        for (let i = a; i < b; i++) {
          w += ws[i]!;
          s += ws[i]! * xs[i]!;
        }
        for (let i = a; i < b; i++) c += ws[i]! * (xs[i]! - s / w) ** 2;
      });
      return c;
    };
    for (let trial = 0; trial < 30; trial++) {
      const n = 3 + Math.floor(rnd() * 7),
        k = 1 + Math.floor(rnd() * 4);
      const xs = [...new Set(Array.from({ length: n }, () => Math.floor(rnd() * 60) - 30))].sort((a, b) => a - b);
      const ws = xs.map(() => 1 + Math.floor(rnd() * 20));
      const got = cost(xs, ws, kmeans1dExact(xs, ws, k));
      let best = Infinity;
      const m = xs.length;
      for (let mask = 0; mask < 1 << (m - 1); mask++) {
        // every set of cut points
        const starts = [0];
        for (let i = 1; i < m; i++) if (mask & (1 << (i - 1))) starts.push(i);
        if (starts.length <= k) best = Math.min(best, cost(xs, ws, starts));
      }
      expect(got).toBeCloseTo(best, 6);
    }
  });

  it('keeps zeros and signs, at most 2^bits levels, deterministic', () => {
    const rnd = lcg(11);
    const q = Int8Array.from({ length: 5000 }, () =>
      rnd() < 0.5 ? 0 : Math.max(-127, Math.min(127, Math.round((rnd() + rnd() + rnd() - 1.5) * 90))),
    );
    for (const bits of [3, 4, 5, 6]) {
      const a = shareInt8Levels(q, bits),
        b = shareInt8Levels(q, bits);
      expect(Array.from(a.q)).toEqual(Array.from(b.q));
      expect(a.levels.length).toBeLessThanOrEqual(2 ** bits);
      expect(a.levels).toContain(0);
      expect(a.levels).toEqual(distinct(a.q));
      for (let i = 0; i < q.length; i++) {
        if ((q[i] === 0) !== (a.q[i] === 0) || Math.sign(q[i]!) !== Math.sign(a.q[i]!))
          throw new Error(`bits ${bits}, [${i}]: ${q[i]} → ${a.q[i]}`);
      }
    }
    expect(shareInt8Levels(q, 3).sse).toBeGreaterThan(shareInt8Levels(q, 5).sse);
  });

  it('leaves a tensor with few enough values unchanged', () => {
    const q = Int8Array.from([0, 3, -3, 7, 0, 7, 100, -100]);
    expect(Array.from(shareInt8Levels(q, 3).q)).toEqual(Array.from(q));
    expect(shareInt8Levels(q, 3).sse).toBe(0);
  });
});
