// Hessian-based pruning (src/compress/obs.ts) and its float64 helpers (src/compress/linalg.ts).
//
// What is asserted, exactly:
//  (a) linalg: every helper against a naive reference (Gauss–Jordan inverse, Gaussian
//      elimination, triple-loop products) to 1e-9 relative.
//  (b) On random problems (X random, H = 2 XᵀX, W random):
//      - invariants: exact per-row count round(s·K), N:M groups with exactly n zeros, a fixed
//        mask honoured, inputs untouched, dead inputs zeroed;
//      - "compensated weights are the least-squares optimum for the mask": with refit (the
//        default) obsPrune's kept weights equal a direct least-squares re-fit on the mask it
//        chose, ŵ_F = w_F + H_FF⁻¹ H_FM w_M (naive solver), to 1e-6 relative, whatever the
//        block size (blocking only changes which mask is chosen). obsPruneExact (greedy OBS with
//        a full inverse downdate per removal) satisfies the same. Pure SparseGPT (refit: false)
//        is NOT the least-squares optimum for its mask: a passed column is frozen. Its exact
//        characterisation is asserted instead: for every pruned column p (in order), the kept
//        columns after p up to the next pruned column equal argmin over columns > p of the error
//        with columns ≤ p held at their final values (and, after the last pruned column, all the
//        trailing kept columns) — so given the mask the result does not depend on the block size.
//      - brute force (1 row, K ≤ 6, all masks with k zeros, each least-squares re-fitted): no
//        method beats the optimum; greedy exact OBS reaches it when k = 1 (one OBS step is exact);
//        how often greedy reaches it for larger k is logged, not asserted (greedy is not optimal).
//      - OBS vs magnitude pruning (prune.ts, layer-wise): on correlated inputs (AR(1) features,
//        ρ = 0.9, like neighbouring pixels) OBS (with refit) and exact OBS have a strictly smaller
//        reconstruction error ‖XWᵀ − XŴᵀ‖² at 50/70/90% for every seed tried; pure SparseGPT at
//        50/70% (at 90% it loses on ~4% of seeds: logged). With weakly correlated inputs
//        (ρ ≤ 0.5) and several rows, OBS's fixed per-row count can lose to layer-wise magnitude
//        at 90% — that regime is not asserted (exact OBS: always better on the seeds tried).
//      - With damp = 0, OBS+refit is never worse than zeroing its own mask without compensation.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import * as la from '../src/compress/linalg.js';
import { hessianPrune, obdPrune, obsPrune, obsPruneDetailed, obsPruneExact, reconstructionError } from '../src/compress/obs.js';
import { magnitudePrune } from '../src/compress/prune.js';
import { SparrowError } from '../src/errors.js';

// ---------------------------------------------------------------------------------------------
// helpers

/** Deterministic standard normal generator (mulberry32 + Box–Muller). */
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

/** Naive inverse by Gauss–Jordan with partial pivoting. A: (n, n) */
function naiveInverse(A: Float64Array, n: number): Float64Array {
  const M = Float64Array.from(A),
    I = new Float64Array(n * n);
  for (let i = 0; i < n; i++) I[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r * n + c]!) > Math.abs(M[p * n + c]!)) p = r;
    for (let j = 0; j < n; j++) {
      [M[c * n + j], M[p * n + j]] = [M[p * n + j]!, M[c * n + j]!];
      [I[c * n + j], I[p * n + j]] = [I[p * n + j]!, I[c * n + j]!];
    }
    const d = M[c * n + c]!;
    for (let j = 0; j < n; j++) {
      M[c * n + j]! /= d;
      I[c * n + j]! /= d;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r * n + c]!;
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        M[r * n + j]! -= f * M[c * n + j]!;
        I[r * n + j]! -= f * I[c * n + j]!;
      }
    }
  }
  return I;
}

/** Solves A x = b by Gaussian elimination with partial pivoting (independent of linalg.ts). */
function naiveSolve(A: Float64Array, b: Float64Array, n: number): Float64Array {
  const M = Float64Array.from(A),
    x = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r * n + c]!) > Math.abs(M[p * n + c]!)) p = r;
    for (let j = 0; j < n; j++) [M[c * n + j], M[p * n + j]] = [M[p * n + j]!, M[c * n + j]!];
    [x[c], x[p]] = [x[p]!, x[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r * n + c]! / M[c * n + c]!;
      if (f === 0) continue;
      for (let j = c; j < n; j++) M[r * n + j]! -= f * M[c * n + j]!;
      x[r]! -= f * x[c]!;
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r]!;
    for (let j = r + 1; j < n; j++) s -= M[r * n + j]! * x[j]!;
    x[r] = s / M[r * n + r]!;
  }
  return x;
}

function naiveMatmul(A: Float64Array, B: Float64Array, m: number, k: number, n: number): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += A[i * k + p]! * B[p * n + j]!;
      C[i * n + j] = s;
    }
  return C;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let scale = 0,
    d = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
  }
  return d / Math.max(scale, 1e-300);
}

/** A random symmetric positive definite matrix: BᵀB/n + 0.1 I. */
function randomSpd(n: number, g: () => number): Float64Array {
  const B = Float64Array.from({ length: n * n }, g);
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s += B[p * n + i]! * B[p * n + j]!;
      A[i * n + j] = s / n + (i === j ? 0.1 : 0);
    }
  return A;
}

interface Problem {
  W: Float32Array;
  H: Float64Array;
  X: Float64Array;
  rows: number;
  K: number;
  n: number;
}

/**
 * Random layer problem: X (n, K) with AR(1) features (x_j = ρ x_{j−1} + sqrt(1−ρ²) z_j; ρ = 0 is
 * i.i.d.), H = 2 XᵀX, W (rows, K) standard normal. `dead` input columns are all-zero.
 */
function problem(seed: number, rows: number, K: number, n: number, rho: number, dead: number[] = []): Problem {
  const g = gaussian(seed);
  const X = new Float64Array(n * K);
  const c = Math.sqrt(1 - rho * rho);
  for (let s = 0; s < n; s++) {
    X[s * K] = g();
    for (let j = 1; j < K; j++) X[s * K + j] = rho * X[s * K + j - 1]! + c * g();
    for (const d of dead) X[s * K + d] = 0;
  }
  const H = new Float64Array(K * K);
  for (let s = 0; s < n; s++) {
    for (let i = 0; i < K; i++) {
      const xi = X[s * K + i]!;
      if (xi === 0) continue;
      for (let j = 0; j < K; j++) H[i * K + j]! += 2 * xi * X[s * K + j]!;
    }
  }
  const W = Float32Array.from({ length: rows * K }, g);
  return { W, H, X, rows, K, n };
}

/** ‖X Wᵀ − X Ŵᵀ‖² straight from X (n, K). */
function directError(W: ArrayLike<number>, What: ArrayLike<number>, X: Float64Array, K: number): number {
  const rows = W.length / K,
    n = X.length / K;
  let e = 0;
  for (let s = 0; s < n; s++) {
    for (let r = 0; r < rows; r++) {
      let y = 0;
      for (let j = 0; j < K; j++) y += (W[r * K + j]! - What[r * K + j]!) * X[s * K + j]!;
      e += y * y;
    }
  }
  return e;
}

/** Least-squares re-fit of one row w (K) for the pruned set `pruned`: ŵ_F = w_F + H_FF⁻¹ H_FM w_M. */
function lsRefit(w: ArrayLike<number>, H: Float64Array, K: number, pruned: ReadonlySet<number>): Float64Array {
  const F = [...Array(K).keys()].filter((j) => !pruned.has(j));
  const M = [...pruned];
  const out = new Float64Array(K);
  if (F.length === 0) return out;
  const A = new Float64Array(F.length * F.length),
    b = new Float64Array(F.length);
  F.forEach((fa, a) => {
    F.forEach((fc2, c) => {
      A[a * F.length + c] = H[fa * K + fc2]!;
    });
    b[a] = M.reduce((s, m) => s + H[fa * K + m]! * w[m]!, 0);
  });
  const x = naiveSolve(A, b, F.length);
  F.forEach((f, a) => {
    out[f] = w[f]! + x[a]!;
  });
  return out;
}

/** Quadratic error ½ (w − v)ᵀ H (w − v) of one row. */
function rowError(w: ArrayLike<number>, v: ArrayLike<number>, H: Float64Array, K: number): number {
  let e = 0;
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) e += (w[i]! - v[i]!) * H[i * K + j]! * (w[j]! - v[j]!);
  return e / 2;
}

/**
 * How much rounding the kept weights v to float32 can add to rowError near an optimum (where the
 * first-order term vanishes): ½ δᵀ|H|δ with δ_i = 2⁻²⁴ |v_i|, times 4. Without it a tiny optimum
 * (a weight of 1e-5 pruned: error 1.2e-9) fails a 1e-6 relative bound on rounding alone (seed
 * 258927421, kept below as a named case).
 */
function f32Floor(v: ArrayLike<number>, H: Float64Array, K: number): number {
  let e = 0;
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) e += Math.abs(v[i]! * H[i * K + j]! * v[j]!);
  return (4 * e * 2 ** -48) / 2;
}

function prunedSet(row: ArrayLike<number>): Set<number> {
  const s = new Set<number>();
  for (let j = 0; j < row.length; j++) if (row[j] === 0) s.add(j);
  return s;
}

function combinations(K: number, k: number): number[][] {
  const out: number[][] = [];
  const rec = (start: number, acc: number[]): void => {
    if (acc.length === k) {
      out.push([...acc]);
      return;
    }
    for (let j = start; j < K; j++) rec(j + 1, [...acc, j]);
  };
  rec(0, []);
  return out;
}

const eye = (K: number): Float64Array => {
  const I = new Float64Array(K * K);
  for (let i = 0; i < K; i++) I[i * K + i] = 1;
  return I;
};

function expectSparrow(f: () => unknown, code: string, match?: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SparrowError);
    expect((e as SparrowError).code).toBe(code);
    if (match) expect((e as SparrowError).message).toMatch(match);
    return;
  }
  throw new Error('expected a SparrowError');
}

// ---------------------------------------------------------------------------------------------
// (a) linalg

describe('linalg (float64 helpers) against naive references', () => {
  it('cholesky, invertLower, choleskyInverse, choleskyUpper, inverseUpperCholesky, solveSpd', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 14 }), fc.integer({ min: 1, max: 1e9 }), (n, seed) => {
        const g = gaussian(seed);
        const A = randomSpd(n, g);
        const L = la.cholesky(A, n);
        for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(L[i * n + j]).toBe(0);
        expect(maxRelDiff(naiveMatmul(L, la.transpose(L, n, n), n, n, n), A)).toBeLessThan(1e-12);
        const Li = la.invertLower(L, n);
        expect(maxRelDiff(naiveMatmul(Li, L, n, n, n), eye(n))).toBeLessThan(1e-10);
        const Ainv = la.choleskyInverse(L, n);
        expect(maxRelDiff(Ainv, naiveInverse(A, n))).toBeLessThan(1e-9);
        const U = la.choleskyUpper(A, n);
        for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(U[i * n + j]).toBe(0);
        expect(maxRelDiff(naiveMatmul(la.transpose(U, n, n), U, n, n, n), A)).toBeLessThan(1e-12);
        // SparseGPT's factor: H⁻¹ = Uᵀ U, U upper with a positive diagonal
        const f = la.inverseUpperCholesky(A, n);
        expect(f.lambda).toBe(0);
        expect(f.retries).toBe(0);
        for (let i = 0; i < n; i++) {
          expect(f.U[i * n + i]).toBeGreaterThan(0);
          for (let j = 0; j < i; j++) expect(f.U[i * n + j]).toBe(0);
        }
        expect(maxRelDiff(naiveMatmul(la.transpose(f.U, n, n), f.U, n, n, n), naiveInverse(A, n))).toBeLessThan(1e-9);
        const b = Float64Array.from({ length: n }, g);
        expect(maxRelDiff(la.solveSpd(A, b, n), naiveSolve(A, b, n))).toBeLessThan(1e-9);
        // row q of U over columns ≥ q = column q of (H_FF)⁻¹ / sqrt(its diagonal), F = {q..n−1}
        const q = Math.floor(n / 2),
          F = n - q;
        const HFF = new Float64Array(F * F);
        for (let i = 0; i < F; i++) for (let j = 0; j < F; j++) HFF[i * F + j] = A[(q + i) * n + q + j]!;
        const HFFi = naiveInverse(HFF, F);
        const want = Array.from({ length: F }, (_, j) => HFFi[j]! / Math.sqrt(HFFi[0]!));
        expect(
          maxRelDiff(
            Array.from({ length: F }, (_, j) => f.U[q * n + q + j]!),
            want,
          ),
        ).toBeLessThan(1e-9);
      }),
      { numRuns: 60 },
    );
  });

  it('matmul, matmulTransA, matmulTransB, transpose', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 1e9 }),
        (m, k, n, seed) => {
          const g = gaussian(seed);
          const A = Float64Array.from({ length: m * k }, g),
            B = Float64Array.from({ length: k * n }, g);
          const want = naiveMatmul(A, B, m, k, n);
          expect(maxRelDiff(la.matmul(A, B, m, k, n), want)).toBeLessThan(1e-12);
          expect(maxRelDiff(la.matmulTransA(la.transpose(A, m, k), B, k, m, n), want)).toBeLessThan(1e-12);
          expect(maxRelDiff(la.matmulTransB(A, la.transpose(B, k, n), m, k, n), want)).toBeLessThan(1e-12);
          expect(Array.from(la.transpose(la.transpose(A, m, k), k, m))).toEqual(Array.from(A));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('damping retry: a singular PSD matrix fails plain Cholesky, succeeds damped; indefinite needs λ > |λ_min|', () => {
    const g = gaussian(5);
    const n = 6;
    const B = Float64Array.from({ length: 3 * n }, g); // rank 3
    const A = la.matmulTransA(B, B, 3, n, n);
    expectSparrow(() => la.cholesky(A, n), 'invalid_argument', /not positive definite/);
    const d = la.choleskyDamped(A, n, 0);
    expect(d.retries).toBeGreaterThan(0);
    expect(d.lambda).toBeGreaterThan(0);
    expect(maxRelDiff(naiveMatmul(d.L, la.transpose(d.L, n, n), n, n, n), la.addDiagonal(A, n, d.lambda))).toBeLessThan(1e-12);
    const f = la.inverseUpperCholesky(A, n, 0);
    expect(f.lambda).toBeGreaterThan(0);
    expect(maxRelDiff(naiveMatmul(la.transpose(f.U, n, n), f.U, n, n, n), naiveInverse(la.addDiagonal(A, n, f.lambda), n))).toBeLessThan(
      1e-6,
    );
    // eigenvalues of [[1, 2], [2, 1]] are 3 and −1
    const I2 = Float64Array.of(1, 2, 2, 1);
    expectSparrow(() => la.cholesky(I2, 2), 'invalid_argument');
    expect(la.choleskyDamped(I2, 2, 0).lambda).toBeGreaterThan(1);
    expectSparrow(() => la.choleskyDamped(I2, 2, 0, 2), 'invalid_argument');
    // an already damped call with enough λ does not retry
    expect(la.choleskyDamped(I2, 2, 1.5).retries).toBe(0);
  });

  it('rejects bad shapes and arguments', () => {
    expectSparrow(() => la.cholesky(new Float64Array(5), 2), 'invalid_argument', /2x2/);
    expectSparrow(() => la.matmul(new Float64Array(4), new Float64Array(4), 2, 3, 2), 'invalid_argument');
    expectSparrow(() => la.choleskyDamped(Float64Array.of(1), 1, -1), 'invalid_argument');
    expectSparrow(() => la.cholesky(Float64Array.of(NaN), 1), 'invalid_argument');
    expect(la.cholesky(new Float64Array(0), 0).length).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// (b) pruning on random problems

describe('obsPrune / obsPruneExact / obdPrune invariants', () => {
  it('exact count per row, pruned entries +0, finite, inputs untouched (any shape, sparsity, block size)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 24 }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.integer({ min: 1, max: 40 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 1e9 }),
        (rows, K, s, blockSize, refit, seed) => {
          const p = problem(seed, rows, K, K + 8, 0.6);
          const W0 = Float32Array.from(p.W),
            H0 = Float64Array.from(p.H);
          const k = Math.round(s * K);
          for (const out of [obsPrune(p.W, p.H, s, { blockSize, refit }), obsPruneExact(p.W, p.H, s), obdPrune(p.W, p.H, s)]) {
            expect(out).toBeInstanceOf(Float32Array);
            expect(out.length).toBe(rows * K);
            for (let r = 0; r < rows; r++) {
              let z = 0;
              for (let j = 0; j < K; j++) {
                const v = out[r * K + j]!;
                expect(Number.isFinite(v)).toBe(true);
                if (v === 0) {
                  z++;
                  expect(Object.is(v, -0)).toBe(false);
                }
              }
              expect(z).toBe(k); // random normal weights: no accidental zeros
            }
          }
          expect(p.W).toEqual(W0);
          expect(p.H).toEqual(H0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('N:M: every aligned group of m along K has exactly n zeros (obsPrune, obsPruneExact, obdPrune)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom({ n: 2, m: 4 }, { n: 1, m: 4 }, { n: 4, m: 8 }, { n: 1, m: 2 }, { n: 0, m: 4 }, { n: 3, m: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 1e9 }),
        (pat, rows, groups, blockSize, seed) => {
          const K = groups * pat.m;
          const p = problem(seed, rows, K, K + 8, 0.8);
          const s = pat.n / pat.m;
          for (const out of [
            obsPrune(p.W, p.H, s, { pattern: pat, blockSize }),
            obsPrune(p.W, p.H, s, { pattern: pat, refit: false }),
            obsPruneExact(p.W, p.H, s, { pattern: pat }),
            obdPrune(p.W, p.H, s, { pattern: pat }),
          ]) {
            for (let r = 0; r < rows; r++) {
              for (let g0 = 0; g0 < K; g0 += pat.m) {
                let z = 0;
                for (let j = g0; j < g0 + pat.m; j++) if (out[r * K + j] === 0) z++;
                expect(z).toBe(pat.n);
              }
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('N:M arguments: K must be a multiple of m, sparsity must be n/m, 0 <= n < m', () => {
    const p = problem(1, 2, 10, 20, 0.5);
    expectSparrow(() => obsPrune(p.W, p.H, 0.5, { pattern: { n: 2, m: 4 } }), 'invalid_argument', /multiple of 4/);
    const q = problem(1, 2, 8, 20, 0.5);
    expectSparrow(() => obsPrune(q.W, q.H, 0.7, { pattern: { n: 2, m: 4 } }), 'invalid_argument', /does not match/);
    expectSparrow(() => obsPrune(q.W, q.H, 1, { pattern: { n: 4, m: 4 } }), 'invalid_argument');
    expectSparrow(() => obdPrune(q.W, q.H, 0.5, { pattern: { n: 5, m: 4 } }), 'invalid_argument', /0 <= n < m/);
  });

  it('a fixed mask is applied as given; dead inputs (H_ii = 0) are zeroed, counted first, and stay finite', () => {
    const K = 12,
      rows = 3;
    const p = problem(7, rows, K, 40, 0.7, [2, 9]);
    expect(p.H[2 * K + 2]).toBe(0);
    const det = obsPruneDetailed(p.W, p.H, 0.5);
    expect(det.stats.deadInputs).toBe(2);
    expect(det.stats.pruned).toBe(rows * 6);
    for (let r = 0; r < rows; r++) {
      expect(det.W[r * K + 2]).toBe(0);
      expect(det.W[r * K + 9]).toBe(0);
      expect(det.stats.mask[r * K + 2]).toBe(1); // saliency 0: chosen first
    }
    for (const v of det.W) expect(Number.isFinite(v)).toBe(true);
    // more dead columns than the target: the row keeps max(k, dead) zeros
    const few = obsPruneDetailed(p.W, p.H, 0.05); // k = round(0.6) = 1
    for (let r = 0; r < rows; r++) expect(prunedSet(few.W.subarray(r * K, (r + 1) * K)).size).toBe(2);
    // fixed mask
    const mask = new Uint8Array(rows * K);
    [0, 5, 13, 20, 35].forEach((i) => {
      mask[i] = 1;
    });
    const m = obsPruneDetailed(p.W, p.H, 0, { mask });
    for (let i = 0; i < rows * K; i++) {
      const isDead = i % K === 2 || i % K === 9;
      expect(m.W[i] === 0).toBe(mask[i] === 1 || isDead);
    }
    expectSparrow(() => obsPrune(p.W, p.H, 0, { mask: new Uint8Array(3) }), 'invalid_argument', /mask/);
  });

  it('rejects bad arguments with SparrowError(invalid_argument)', () => {
    const p = problem(3, 2, 4, 10, 0);
    for (const s of [-0.1, 1, NaN, Infinity]) {
      expectSparrow(() => obsPrune(p.W, p.H, s), 'invalid_argument', /sparsity/);
      expectSparrow(() => obdPrune(p.W, p.H, s), 'invalid_argument', /sparsity/);
      expectSparrow(() => obsPruneExact(p.W, p.H, s), 'invalid_argument', /sparsity/);
    }
    expectSparrow(() => obsPrune(p.W.subarray(0, 7), p.H, 0.5), 'invalid_argument', /multiple of K/);
    expectSparrow(() => obsPrune(p.W, new Float64Array(15), 0.5), 'invalid_argument', /K x K/);
    expectSparrow(() => obsPrune(Float32Array.of(1, NaN, 0, 0, 1, 1, 1, 1), p.H, 0.5), 'invalid_argument', /not finite/);
    const Hn = Float64Array.from(p.H);
    Hn[5] = -1;
    expectSparrow(() => obsPrune(p.W, Hn, 0.5), 'invalid_argument', /negative/);
    expectSparrow(() => obsPrune(p.W, p.H, 0.5, { blockSize: 0 }), 'invalid_argument', /blockSize/);
    expectSparrow(() => obsPrune(p.W, p.H, 0.5, { damp: -1 }), 'invalid_argument', /damp/);
  });

  it('obdPrune = per-row sort by (w²·H_jj, index); magnitude-rows = per-row sort by (|w|, index)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.integer({ min: 1, max: 1e9 }),
        (rows, K, s, seed) => {
          const p = problem(seed, rows, K, K + 3, 0.3, seed % 3 === 0 ? [0] : []);
          const k = Math.round(s * K);
          const ref = Float32Array.from(p.W);
          for (let r = 0; r < rows; r++) {
            const sal = (j: number): number => p.W[r * K + j]! * p.W[r * K + j]! * p.H[j * K + j]!;
            const order = [...Array(K).keys()].sort((a, b) => sal(a) - sal(b) || a - b);
            for (let t = 0; t < k; t++) ref[r * K + order[t]!] = 0;
          }
          expect(Array.from(obdPrune(p.W, p.H, s))).toEqual(Array.from(ref));
          const mag = hessianPrune(p.W, { groupH: [p.H] }, s, 'magnitude-rows');
          const refMag = Float32Array.from(p.W);
          for (let r = 0; r < rows; r++) {
            const a = (j: number): number => Math.abs(p.W[r * K + j]!);
            const order = [...Array(K).keys()].sort((x, y) => a(x) - a(y) || x - y);
            for (let t = 0; t < k; t++) refMag[r * K + order[t]!] = 0;
          }
          expect(Array.from(mag)).toEqual(Array.from(refMag));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('reconstructionError = ‖X Wᵀ − X Ŵᵀ‖² computed from X', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 1e9 }), (rows, K, seed) => {
        const p = problem(seed, rows, K, 2 * K + 1, 0.5);
        const What = obsPrune(p.W, p.H, 0.5);
        const want = directError(p.W, What, p.X, K);
        expect(Math.abs(reconstructionError(p.W, What, p.H) - want)).toBeLessThanOrEqual(1e-9 * Math.max(want, 1e-12));
      }),
      { numRuns: 50 },
    );
  });

  it('hessianPrune with per-group Hessians = obsPrune on each group of rows', () => {
    const K = 9,
      G = 3,
      rowsPer = 2;
    const ps = [11, 12, 13].map((s) => problem(s, rowsPer, K, 30, 0.7));
    const W = new Float32Array(G * rowsPer * K);
    ps.forEach((p, g) => W.set(p.W, g * rowsPer * K));
    const out = hessianPrune(W, { groupH: ps.map((p) => p.H) }, 0.6, 'obs', { blockSize: 4 });
    ps.forEach((p, g) =>
      expect(Array.from(out.subarray(g * rowsPer * K, (g + 1) * rowsPer * K))).toEqual(
        Array.from(obsPrune(p.W, p.H, 0.6, { blockSize: 4 })),
      ),
    );
    const ex = hessianPrune(W, { groupH: ps.map((p) => p.H) }, 0.6, 'obs-exact');
    ps.forEach((p, g) =>
      expect(Array.from(ex.subarray(g * rowsPer * K, (g + 1) * rowsPer * K))).toEqual(Array.from(obsPruneExact(p.W, p.H, 0.6))),
    );
    expectSparrow(() => hessianPrune(W.subarray(0, 50), { groupH: ps.map((p) => p.H) }, 0.5), 'invalid_argument');
    expectSparrow(() => hessianPrune(W, { groupH: [] }, 0.5), 'invalid_argument');
  });
});

describe('compensation: least-squares optimality (what exactly holds)', () => {
  const sizes = { rows: fc.integer({ min: 1, max: 3 }), K: fc.integer({ min: 2, max: 12 }) };

  const optimumHolds = (rows: number, K: number, s: number, blockSize: number, rho: number, seed: number): void => {
    const p = problem(seed, rows, K, 3 * K + 4, rho);
    for (const out of [obsPrune(p.W, p.H, s, { blockSize, damp: 0 }), obsPruneExact(p.W, p.H, s, { damp: 0 })]) {
      for (let r = 0; r < rows; r++) {
        const w = p.W.subarray(r * K, (r + 1) * K),
          got = out.subarray(r * K, (r + 1) * K);
        const ls = lsRefit(w, p.H, K, prunedSet(got));
        expect(maxRelDiff(got, ls)).toBeLessThan(1e-6);
        const eGot = rowError(w, got, p.H, K),
          eLs = rowError(w, ls, p.H, K);
        // got is stored in float32: that rounding moves the error by ~2^-24·sqrt(eLs·E) (E = the
        // row's energy ½wᵀHw), more than 1e-6·eLs when eLs is tiny (found by the property: one
        // small weight of 11 pruned, eLs 4.4e-8, |eGot − eLs| 2.1e-13; kept below as a named
        // case), hence the 1e-9·E floor
        const energy = rowError(w, new Float64Array(K), p.H, K);
        expect(Math.abs(eGot - eLs)).toBeLessThanOrEqual(1e-6 * Math.max(eLs, 1e-30) + 1e-9 * energy);
        // never worse than zeroing the same mask without compensation (same floor)
        const zeroed = Float64Array.from(w, (v, j) => (got[j] === 0 ? 0 : v));
        expect(eGot).toBeLessThanOrEqual(rowError(w, zeroed, p.H, K) * (1 + 1e-9) + 1e-9 * energy);
      }
    }
  };

  it('obsPrune (refit, any block size) and obsPruneExact return the least-squares optimum for their own mask', () => {
    fc.assert(
      fc.property(
        sizes.rows,
        sizes.K,
        fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        fc.integer({ min: 1, max: 16 }),
        fc.constantFrom(0, 0.6, 0.95),
        fc.integer({ min: 1, max: 1e9 }),
        optimumHolds,
      ),
      { numRuns: 150 },
    );
  });

  it("named case (from the property): one small weight of 11 pruned, the optimum's error below the float32 rounding of the re-fit", () => {
    optimumHolds(1, 11, 0.05, 1, 0, 584400809);
  });

  it('pure SparseGPT (refit: false): each stage is the least-squares optimum of the columns after the pruned one, and the block size does not matter for a given mask', () => {
    fc.assert(
      fc.property(
        sizes.rows,
        sizes.K,
        fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        fc.integer({ min: 1, max: 16 }),
        fc.constantFrom(0, 0.6, 0.95),
        fc.integer({ min: 1, max: 1e9 }),
        (rows, K, s, blockSize, rho, seed) => {
          const p = problem(seed, rows, K, 3 * K + 4, rho);
          const det = obsPruneDetailed(p.W, p.H, s, { blockSize, damp: 0, refit: false });
          const out = det.W;
          for (let r = 0; r < rows; r++) {
            const w = Array.from(p.W.subarray(r * K, (r + 1) * K)),
              got = Array.from(out.subarray(r * K, (r + 1) * K));
            const pruned = [...prunedSet(got)].sort((a, b) => a - b);
            // kept columns before the first pruned one are untouched
            for (let j = 0; j < (pruned[0] ?? K); j++) expect(got[j]).toBe(w[j]);
            pruned.forEach((pc, i) => {
              const next = pruned[i + 1] ?? K;
              // argmin over v = columns > pc of E(got[0..pc], v): with d = w − (got[≤pc], v), H_FF d_F = −H_F,≤pc d_≤pc
              const F = [...Array(K).keys()].filter((j) => j > pc);
              if (F.length === 0) return;
              const A = new Float64Array(F.length * F.length),
                b = new Float64Array(F.length);
              F.forEach((fa, a) => {
                F.forEach((fb, c) => {
                  A[a * F.length + c] = p.H[fa * K + fb]!;
                });
                let t = 0;
                for (let j = 0; j <= pc; j++) t += p.H[fa * K + j]! * (w[j]! - got[j]!);
                b[a] = -t;
              });
              const d = naiveSolve(A, b, F.length);
              const scale = Math.max(...w.map(Math.abs));
              F.forEach((f, a) => {
                if (f < next) expect(Math.abs(got[f]! - (w[f]! - d[a]!))).toBeLessThan(1e-6 * scale);
              });
            });
          }
          // same mask, other block sizes: identical compensation
          for (const bs of [1, 3, 1000]) {
            const again = obsPrune(p.W, p.H, 0, { mask: det.stats.mask, blockSize: bs, damp: 0, refit: false });
            expect(maxRelDiff(again, out)).toBeLessThan(1e-9);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('pure SparseGPT equals the least-squares optimum when the pruned columns come first (a prefix mask)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 1e9 }), (K, seed) => {
        const p = problem(seed, 1, K, 3 * K, 0.8);
        const k = 1 + (seed % (K - 1));
        const mask = new Uint8Array(K);
        for (let j = 0; j < k; j++) mask[j] = 1;
        const got = obsPrune(p.W, p.H, 0, { mask, damp: 0, refit: false });
        expect(maxRelDiff(got, lsRefit(p.W, p.H, K, prunedSet(got)))).toBeLessThan(1e-6);
      }),
      { numRuns: 60 },
    );
  });

  it('brute force (1 row, K <= 6): nobody beats the best mask; exact OBS is optimal for k = 1', () => {
    let cases = 0,
      greedyOptimal = 0,
      sgptOptimal = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom(0, 0.5, 0.9),
        fc.integer({ min: 1, max: 1e9 }),
        (K, k0, rho, seed) => {
          const k = Math.min(k0, K - 1);
          const s = k / K;
          const p = problem(seed, 1, K, 3 * K, rho);
          let best = Infinity;
          for (const c of combinations(K, k)) best = Math.min(best, rowError(p.W, lsRefit(p.W, p.H, K, new Set(c)), p.H, K));
          const ex = obsPruneExact(p.W, p.H, s, { damp: 0 });
          const sg = obsPrune(p.W, p.H, s, { damp: 0 });
          const eEx = rowError(p.W, ex, p.H, K),
            eSg = rowError(p.W, sg, p.H, K);
          expect(eEx).toBeGreaterThanOrEqual(best * (1 - 1e-9));
          expect(eSg).toBeGreaterThanOrEqual(best * (1 - 1e-9));
          if (k === 1) expect(Math.abs(eEx - best)).toBeLessThanOrEqual(1e-6 * best + f32Floor(ex, p.H, K));
          cases++;
          if (eEx <= best * (1 + 1e-6)) greedyOptimal++;
          if (eSg <= best * (1 + 1e-6)) sgptOptimal++;
        },
      ),
      // named case: a pruned weight of −9.3e-6, optimum 1.2e-9, float32 rounding adds 2.2e-15
      { numRuns: 300, examples: [[5, 1, 0, 258927421]] },
    );
    console.log(
      `brute force, 1 row, K <= 6: exact greedy OBS optimal in ${greedyOptimal}/${cases}, SparseGPT+refit in ${sgptOptimal}/${cases}`,
    );
  });
});

describe('OBS vs magnitude pruning on random layers (reconstruction error)', () => {
  it('correlated inputs (AR(1), ρ = 0.9): OBS < magnitude at 50/70/90% for every seed', () => {
    const K = 64,
      rows = 8,
      n = 256;
    let sgpt90Losses = 0,
      runs = 0;
    const worst: Record<string, number> = {};
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const p = problem(seed, rows, K, n, 0.9);
        runs++;
        for (const s of [0.5, 0.7, 0.9]) {
          const eMag = reconstructionError(p.W, magnitudePrune(p.W, s), p.H);
          const eObs = reconstructionError(p.W, obsPrune(p.W, p.H, s), p.H);
          const eExact = reconstructionError(p.W, obsPruneExact(p.W, p.H, s), p.H);
          const eSgpt = reconstructionError(p.W, obsPrune(p.W, p.H, s, { refit: false }), p.H);
          expect(eObs).toBeLessThan(eMag);
          expect(eExact).toBeLessThan(eMag);
          if (s < 0.9) expect(eSgpt).toBeLessThan(eMag);
          else if (eSgpt >= eMag) sgpt90Losses++;
          for (const [name, e] of [
            ['obs', eObs],
            ['exact', eExact],
            ['sgpt', eSgpt],
          ] as const) {
            const key = `${name}@${s}`;
            worst[key] = Math.max(worst[key] ?? 0, e / eMag);
          }
        }
      }),
      { numRuns: 25 },
    );
    console.log(
      `OBS/magnitude error ratio, worst over ${runs} seeds: ${Object.entries(worst)
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(', ')}; pure SparseGPT lost at 90% on ${sgpt90Losses}`,
    );
  });

  it('N:M 2:4 (ρ = 0.9): OBS < per-group magnitude', () => {
    const K = 64,
      rows = 8;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const p = problem(seed, rows, K, 256, 0.9);
        const pattern = { n: 2, m: 4 };
        const eMag = reconstructionError(p.W, obdPrune(p.W, eye(K), 0.5, { pattern }), p.H);
        expect(reconstructionError(p.W, obsPrune(p.W, p.H, 0.5, { pattern }), p.H)).toBeLessThan(eMag);
        expect(reconstructionError(p.W, obsPrune(p.W, p.H, 0.5, { pattern, refit: false }), p.H)).toBeLessThan(eMag);
      }),
      { numRuns: 15 },
    );
  });

  it('exact OBS < magnitude also on moderately correlated inputs (ρ = 0.5) at 50/70/90%', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const p = problem(seed, 8, 64, 256, 0.5);
        for (const s of [0.5, 0.7, 0.9]) {
          expect(reconstructionError(p.W, obsPruneExact(p.W, p.H, s), p.H)).toBeLessThan(
            reconstructionError(p.W, magnitudePrune(p.W, s), p.H),
          );
        }
      }),
      { numRuns: 10 },
    );
  });
});
