// src/runtime/sampling.ts against hand-computed distributions: softmax(logits / T), the top-k cut,
// the top-p (nucleus) cut as Hugging Face's TopPLogitsWarper makes it (the smallest most-likely
// set whose probability reaches p, on the top-k distribution), greedy = the first largest logit
// (run.c's sample_argmax); seeded draws reproducible; properties of the support on random logits.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sampler, argmaxLogits, checkSampling, drawFrom, tokenDistribution, type SamplingOptions } from '../src/runtime/sampling.js';
import { SparrowError } from '../src/errors.js';

// probabilities 0.1, 0.2, 0.3, 0.4 at T = 1
const LOGITS = [Math.log(1), Math.log(2), Math.log(3), Math.log(4)];

function dist(o: SamplingOptions, logits: number[] = LOGITS): Array<[number, number]> {
  const d = tokenDistribution(logits, o);
  return Array.from(d.ids, (id, i) => [id, d.probs[i]!]);
}

function expectDist(got: Array<[number, number]>, want: Array<[number, number]>): void {
  expect(got.map((x) => x[0])).toEqual(want.map((x) => x[0]));
  got.forEach(([, p], i) => expect(p).toBeCloseTo(want[i]![1], 12));
}

function expectInvalid(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SparrowError);
    expect((e as SparrowError).code).toBe('invalid_argument');
    return;
  }
  throw new Error('expected an invalid_argument error');
}

describe('token distribution (hand-computed)', () => {
  it('softmax at T = 1 and T = 0.5, most likely first', () => {
    expectDist(dist({ temperature: 1 }), [
      [3, 0.4],
      [2, 0.3],
      [1, 0.2],
      [0, 0.1],
    ]);
    // T = 0.5 squares the weights: 1, 4, 9, 16 over 30
    expectDist(dist({ temperature: 0.5 }), [
      [3, 16 / 30],
      [2, 9 / 30],
      [1, 4 / 30],
      [0, 1 / 30],
    ]);
    // T = 2: square roots
    const s = 1 + Math.SQRT2 + Math.sqrt(3) + 2;
    expectDist(dist({ temperature: 2 }), [
      [3, 2 / s],
      [2, Math.sqrt(3) / s],
      [1, Math.SQRT2 / s],
      [0, 1 / s],
    ]);
  });

  it('top-k keeps the k most likely, renormalised', () => {
    expectDist(dist({ topK: 2 }), [
      [3, 4 / 7],
      [2, 3 / 7],
    ]);
    expectDist(dist({ topK: 1 }), [[3, 1]]);
    expect(dist({ topK: 0 })).toHaveLength(4); // 0 = all
    expect(dist({ topK: 99 })).toHaveLength(4);
  });

  it('top-p keeps the smallest most-likely set reaching p', () => {
    expectDist(dist({ topP: 0.35 }), [[3, 1]]); // 0.4 >= 0.35
    expectDist(dist({ topP: 0.65 }), [
      [3, 4 / 7],
      [2, 3 / 7],
    ]); // 0.4 < 0.65 <= 0.7
    expectDist(dist({ topP: 0.75 }), [
      [3, 4 / 9],
      [2, 3 / 9],
      [1, 2 / 9],
    ]);
    expect(dist({ topP: 1 })).toHaveLength(4);
  });

  it('top-p applies to the top-k distribution', () => {
    // top-3: 4/9, 3/9, 2/9; p = 0.5: 4/9 < 0.5 <= 7/9
    expectDist(dist({ topK: 3, topP: 0.5 }), [
      [3, 4 / 7],
      [2, 3 / 7],
    ]);
    // over all four tokens p = 0.45 would keep two (0.4 < 0.45); over the top 3 (4/9 = 0.444 < 0.45) too;
    // p = 0.44 keeps one in the top-3 distribution (4/9 >= 0.44)
    expectDist(dist({ topK: 3, topP: 0.44 }), [[3, 1]]);
  });

  it('ties keep the lower id first; NaN logits get no mass; greedy is the first largest', () => {
    expect(dist({}, [1, 1, 0]).map((x) => x[0])).toEqual([0, 1, 2]);
    expect(argmaxLogits([1, 3, 3, 2])).toBe(1);
    expect(argmaxLogits([NaN, 1, 2])).toBe(2);
    expect(argmaxLogits([0, 1, 9, 9], 1, 2)).toBe(1); // within a row at an offset
    const d = dist({}, [NaN, 0, 0]);
    expect(d.find((x) => x[0] === 0)![1]).toBe(0);
    expect(new Sampler({ temperature: 0 }).next([0.5, 2, 2, -1])).toBe(1);
  });

  it('orders by logit where probabilities round equal (fast-check case)', () => {
    // exp(-1.4e-45 / 0.1) = 1 in float64: both weights 1, yet token 1 is the more likely
    expect(dist({ temperature: 0.1, topP: 0.01 }, [-1.401298464324817e-45, 0]).map((x) => x[0])).toEqual([1]);
  });

  it('refuses bad options and logits without a finite maximum', () => {
    for (const o of [
      { temperature: -1 },
      { temperature: NaN },
      { temperature: Infinity },
      { topK: 1.5 },
      { topK: -1 },
      { topP: 0 },
      { topP: 1.5 },
      { topP: NaN },
    ])
      expectInvalid(() => checkSampling(o));
    expectInvalid(() => tokenDistribution([-Infinity, -Infinity], {}));
    expectInvalid(() => tokenDistribution([1, 2], { temperature: 0 }));
    expectInvalid(() => new Sampler({ seed: 1.5 }));
  });
});

describe('draws', () => {
  it('inverse CDF, most likely first', () => {
    const d = tokenDistribution(LOGITS);
    expect(drawFrom(d, 0)).toBe(3);
    expect(drawFrom(d, 0.39)).toBe(3);
    expect(drawFrom(d, 0.41)).toBe(2);
    expect(drawFrom(d, 0.71)).toBe(1);
    expect(drawFrom(d, 0.9999999)).toBe(0);
  });

  it('a seed reproduces the draws; another seed gives others', () => {
    const logits = Array.from({ length: 50 }, (_, i) => Math.sin(i) * 3);
    const run = (seed: number): number[] => {
      const s = new Sampler({ temperature: 0.9, topK: 20, topP: 0.95, seed });
      return Array.from({ length: 300 }, () => s.next(logits));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(8)).not.toEqual(run(7));
  });

  it('top-k draws stay in the support with the right frequencies', () => {
    const s = new Sampler({ topK: 2, seed: 3 });
    const n = 20000;
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const t = s.next(LOGITS);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([2, 3]);
    // 4/7 with a standard deviation of sqrt(p (1 - p) / n) = 0.0035
    expect(Math.abs(counts.get(3)! / n - 4 / 7)).toBeLessThan(0.015);
  });
});

describe('properties on random logits (fast-check)', () => {
  it('the support is the most likely tokens, minimal for top-p, probabilities in ratio exp(Δ / T)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -20, max: 20, noNaN: true }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 45 }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.double({ min: 0.1, max: 3, noNaN: true }),
        (logits, topK, topP, temperature) => {
          const d = tokenDistribution(logits, { topK, topP, temperature });
          const n = d.ids.length;
          expect(n).toBeGreaterThanOrEqual(1);
          if (topK > 0) expect(n).toBeLessThanOrEqual(topK);
          const kept = new Set(d.ids);
          const minKept = Math.min(...Array.from(d.ids, (i) => logits[i]!));
          for (let i = 0; i < logits.length; i++) if (!kept.has(i)) expect(logits[i]!).toBeLessThanOrEqual(minKept);
          let sum = 0;
          for (let i = 0; i < n; i++) sum += d.probs[i]!;
          expect(sum).toBeCloseTo(1, 12);
          for (let i = 1; i < n; i++) {
            const want = Math.exp((logits[d.ids[i]!]! - logits[d.ids[0]!]!) / temperature);
            expect(d.probs[i]! / d.probs[0]!).toBeCloseTo(want, 9);
          }
          // minimal: without its last token the set's mass (within the top-k distribution) is below p
          const K = topK > 0 ? Math.min(topK, logits.length) : logits.length;
          const sorted = logits
            .map((l, i) => [l, i] as const)
            .sort((a, b) => b[0] - a[0] || a[1] - b[1])
            .slice(0, K);
          const w = sorted.map(([l]) => Math.exp((l - sorted[0]![0]) / temperature));
          const total = w.reduce((a, b) => a + b, 0);
          const before = w.slice(0, n - 1).reduce((a, b) => a + b, 0) / total;
          if (topP < 1) expect(before).toBeLessThan(topP + 1e-12);
        },
      ),
      { numRuns: 300 },
    );
  });
});
