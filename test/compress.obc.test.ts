// Exact greedy OBS on WASM (src/compress/obc.ts, assembly/obc.ts) against its plain TS
// reference obsPruneExact (src/compress/obs.ts).
//
// What is asserted:
//  - on random problems (correlated inputs X, H = 2 XᵀX, random W; K not a multiple of the
//    SIMD width included; dead input columns included; N:M patterns included) the WASM weights
//    and mask equal the reference's exactly (same float64 operations in the same order);
//  - the mask has exactly round(s·K) ones per row (more where dead columns exceed that), the
//    weights are 0 exactly where the mask is 1;
//  - the kept weights are the least-squares optimum for the mask (w_F + H_FF⁻¹ H_FM w_M with
//    the damped H, from a naive solver), to 1e-6 relative;
//  - both the release and the debug build (bounds-checked) give the same result;
//  - per-row counts and the saliency trace: equal between WASM and reference; obcLayerCounts
//    against brute force (every split of the total over 3 rows) on the running-max losses;
//  - obcLayerPrune (OBC's layer mask, counts spread over rows) removes exactly round(s·K)·rows
//    weights, WASM equal to the reference, and its reconstruction error is never above the
//    same-count-per-row exact OBS on the problems tried.
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { obcLayerCounts, obsPruneExact, obsPruneExactDetailed, reconstructionError } from '../src/compress/obs.js';
import { obcLayerPrune, obsPruneExactWasm } from '../src/compress/obc.js';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';

function gaussian(seed: number): () => number {
  let a = seed >>> 0;
  const u = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u() + 1e-300)) * Math.cos(2 * Math.PI * u());
}

/** rows × K weights and H = 2 XᵀX (K, K) of n AR(1) samples (ρ = 0.8); `dead` columns of X are 0. */
function problem(seed: number, rows: number, K: number, dead: number[] = []): { W: Float32Array; H: Float64Array } {
  const g = gaussian(seed);
  const n = 3 * K + 5;
  const X = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    let prev = g();
    for (let j = 0; j < K; j++) {
      prev = 0.8 * prev + 0.6 * g();
      X[i * K + j] = dead.includes(j) ? 0 : prev;
    }
  }
  const H = new Float64Array(K * K);
  for (let a = 0; a < K; a++)
    for (let b = 0; b < K; b++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += X[i * K + a]! * X[i * K + b]!;
      H[a * K + b] = 2 * s;
    }
  const W = Float32Array.from({ length: rows * K }, () => g());
  return { W, H };
}

/** Naive dense solve (Gaussian elimination, partial pivoting). A: (n, n) */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((r, i) => [...r, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / M[c]![c]!;
      for (let j = c; j <= n; j++) M[r]![j]! -= f * M[c]![j]!;
    }
  }
  return M.map((r, i) => r[n]! / r[i]!);
}

let release: SparrowWasm, debug: SparrowWasm;
beforeAll(async () => {
  release = await loadWasmNode();
  debug = await loadWasmNode('debug');
});

describe('obsPruneExactWasm vs obsPruneExact', () => {
  it('equal weights and masks on random problems (odd K, dead columns, sparsities 0..0.95)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 23 }),
        fc.constantFrom(0, 0.1, 0.5, 0.7, 0.95),
        fc.boolean(),
        (seed, rows, K, s, withDead) => {
          const dead = withDead && K > 2 ? [1, K - 1] : [];
          const { W, H } = problem(seed, rows, K, dead);
          const ref = obsPruneExactDetailed(W, H, s);
          const got = obsPruneExactWasm(release, W, H, s);
          expect(Array.from(got.mask)).toEqual(Array.from(ref.mask));
          expect(Array.from(got.W)).toEqual(Array.from(ref.W));
          const k = Math.round(s * K);
          for (let r = 0; r < rows; r++) {
            let z = 0;
            for (let j = 0; j < K; j++) {
              if (got.mask[r * K + j]) {
                z++;
                expect(got.W[r * K + j]).toBe(0);
              }
            }
            expect(z).toBeGreaterThanOrEqual(k);
            expect(z).toBeLessThanOrEqual(k + dead.length);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('N:M patterns: equal to the reference, n zeros in every group', () => {
    for (const [n, m] of [
      [2, 4],
      [1, 2],
      [3, 8],
    ] as const) {
      const K = 4 * m;
      const { W, H } = problem(7 + m, 3, K);
      const ref = obsPruneExactDetailed(W, H, n / m, { pattern: { n, m } });
      const got = obsPruneExactWasm(release, W, H, n / m, { pattern: { n, m } });
      expect(Array.from(got.W)).toEqual(Array.from(ref.W));
      for (let r = 0; r < 3; r++)
        for (let g = 0; g < K; g += m) {
          let z = 0;
          for (let j = g; j < g + m; j++) z += got.mask[r * K + j]!;
          expect(z).toBe(n);
        }
    }
  });

  it('kept weights are the least-squares optimum for the mask (damped H)', () => {
    const K = 37,
      rows = 4,
      damp = 0.01;
    const { W, H } = problem(42, rows, K);
    const got = obsPruneExactWasm(release, W, H, 0.6, { damp });
    let mean = 0;
    for (let i = 0; i < K; i++) mean += H[i * K + i]!;
    const lam = (damp * mean) / K;
    for (let r = 0; r < rows; r++) {
      const F: number[] = [],
        M: number[] = [];
      for (let j = 0; j < K; j++) (got.mask[r * K + j] ? M : F).push(j);
      const A = F.map((a) => F.map((c) => H[a * K + c]! + (a === c ? lam : 0)));
      const b = F.map((a) => M.reduce((t, mm) => t + (H[a * K + mm]! + (a === mm ? lam : 0)) * W[r * K + mm]!, 0));
      const x = solve(A, b);
      F.forEach((j, i) => {
        const want = W[r * K + j]! + x[i]!;
        expect(Math.abs(got.W[r * K + j]! - want)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(want)));
      });
    }
  });

  it('the debug build (bounds-checked) agrees with the release build', () => {
    const { W, H } = problem(3, 6, 75, [10]);
    const a = obsPruneExactWasm(release, W, H, 0.7);
    const b = obsPruneExactWasm(debug, W, H, 0.7);
    expect(Array.from(b.W)).toEqual(Array.from(a.W));
    expect(Array.from(a.W)).toEqual(Array.from(obsPruneExact(W, H, 0.7)));
  });

  it('per-row counts and the trace: WASM equals the reference', () => {
    const { W, H } = problem(11, 5, 29, [3]);
    const rowCounts = Int32Array.from([0, 5, 29, 12, 17]);
    const t1 = new Float64Array(5 * 29),
      t2 = new Float64Array(5 * 29);
    const ref = obsPruneExactDetailed(W, H, 0.5, { rowCounts, trace: t1 });
    const got = obsPruneExactWasm(release, W, H, 0.5, { rowCounts, trace: t2 });
    expect(Array.from(got.W)).toEqual(Array.from(ref.W));
    expect(Array.from(t2)).toEqual(Array.from(t1));
    for (let r = 0; r < 5; r++) {
      let z = 0;
      for (let j = 0; j < 29; j++) z += got.mask[r * 29 + j]!;
      expect(z).toBe(Math.max(rowCounts[r]!, 1)); // the dead column 3 always counts
    }
  });
});

describe('OBC layer masks', () => {
  it('obcLayerCounts: the split of the total over the rows with the least summed running-max loss (brute force)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 12, maxLength: 12 }),
        fc.integer({ min: 0, max: 12 }),
        (vals, total) => {
          const rows = 3,
            K = 4;
          const trace = Float64Array.from(vals);
          const counts = obcLayerCounts(trace, rows, K, K, total);
          const cum = (r: number, k: number): number => {
            let run = 0,
              s = 0;
            for (let i = 0; i < k; i++) {
              run = Math.max(run, trace[r * K + i]!);
              s += run;
            }
            return s;
          };
          let best = Infinity;
          for (let a = 0; a <= K; a++)
            for (let b = 0; b <= K; b++) {
              const c = total - a - b;
              if (c < 0 || c > K) continue;
              best = Math.min(best, cum(0, a) + cum(1, b) + cum(2, c));
            }
          expect(counts.reduce((x, y) => x + y, 0)).toBe(total);
          expect(cum(0, counts[0]!) + cum(1, counts[1]!) + cum(2, counts[2]!)).toBeCloseTo(best, 9);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('obcLayerPrune: exact total, WASM equals the reference, error ≤ same count per row', () => {
    for (const seed of [1, 2, 3, 4]) {
      const rows = 8,
        K = 40;
      const { W, H } = problem(seed, rows, K);
      for (const s of [0.5, 0.7]) {
        const a = obcLayerPrune(release, W, H, s);
        const b = obcLayerPrune(undefined, W, H, s);
        expect(Array.from(a.W)).toEqual(Array.from(b.W));
        expect(a.mask.reduce((x, y) => x + y, 0)).toBe(Math.round(s * K) * rows);
        const uniform = obsPruneExact(W, H, s);
        expect(reconstructionError(W, a.W, H)).toBeLessThanOrEqual(reconstructionError(W, uniform, H) * (1 + 1e-9));
      }
    }
  });
});
