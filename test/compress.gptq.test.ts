// Joint OBS pruning + GPTQ quantization (src/compress/gptq.ts: obsQuantize, rowStep).
//
// Oracles (none of them reuses gptq.ts's arithmetic):
//  - invariants on random problems (fast-check: shapes, sparsity, maxq, step rule, act order,
//    block size, rank-deficient H, dead inputs): |q| ≤ maxq, Ŵ = fround(q · step) exactly,
//    ≥ round(s·K) zeros per row (≥ the dead columns too, which are all zero), a fixed mask is
//    honoured, inputs untouched, rows independent (a matrix = its rows quantized one by one);
//  - diagonal H (no cross-column coupling, so neither the re-fit nor the compensation may move
//    a weight): the result is exactly "prune the k smallest w²·(H_jj + λ) per row, then round
//    the kept weights to the row grid max|kept|/maxq" computed by hand;
//  - plain round-to-nearest (RTN) of the same re-fitted weights on the same grid (obs.ts
//    obsPruneDetailed with the same mask): GPTQ's error compensation must not lose to it on
//    well-conditioned random problems (per problem for K ≥ 32; the extra error over the re-fit
//    summed over seeds at higher sparsity, where RTN vs GPTQ is decided on few kept columns);
//  - brute force for K ≤ 8, maxq 1..3: the minimum over *every* point of the row's grid
//    {−maxq..maxq}^K·step with ≥ round(s·K) zeros (or zeros on a fixed mask) — obsQuantize can
//    never beat it (checks the oracle and the error measure) and must be within a factor of it;
//  - maxq = 127, sparsity 0: error ≪ ‖W‖²_H (= the error of Ŵ = 0).
// Errors: SparrowError('invalid_argument') for bad shapes / options / non-finite input.
// Named regression: NaN weights at sparsity 0 used to come back as NaN weights with q = 0
// (the finiteness checks lived only in obsPruneDetailed, skipped at sparsity 0).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { obsQuantize, rowStep, type StepRule } from '../src/compress/gptq.js';
import { obsPruneDetailed, reconstructionError } from '../src/compress/obs.js';
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

interface Problem {
  W: Float32Array;
  H: Float64Array;
  rows: number;
  K: number;
  dead: number[];
}

/**
 * X (n, K): AR(1) features with correlation rho (like neighbouring pixels), the columns in
 * `dead` all zero; H = 2 XᵀX; W (rows, K) standard normal.
 */
function problem(rows: number, K: number, n: number, seed: number, opts: { rho?: number; dead?: number[] } = {}): Problem {
  const g = gaussian(seed);
  const rho = opts.rho ?? 0.5,
    dead = opts.dead ?? [];
  const X = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    let prev = 0;
    for (let k = 0; k < K; k++) {
      prev = rho * prev + g();
      X[i * K + k] = prev;
    }
    for (const d of dead) X[i * K + d] = 0;
  }
  const H = new Float64Array(K * K);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < K; a++) {
      const xa = X[i * K + a]!;
      if (xa === 0) continue;
      for (let b = 0; b < K; b++) H[a * K + b]! += 2 * xa * X[i * K + b]!;
    }
  }
  const W = Float32Array.from({ length: rows * K }, () => g());
  return { W, H, rows, K, dead };
}

const roundHalfEvenRef = (x: number): number => {
  const f = Math.floor(x),
    d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
};

/** Round-to-nearest of Wf (rows, K) onto each row's grid {−maxq..maxq}·step[r]. */
function rtn(Wf: Float32Array, step: Float32Array, maxq: number, K: number): Float32Array {
  const out = new Float32Array(Wf.length);
  for (let i = 0; i < Wf.length; i++) {
    const s = step[Math.floor(i / K)]!;
    out[i] = Math.fround(Math.max(-maxq, Math.min(maxq, roundHalfEvenRef(Wf[i]! / s))) * s);
  }
  return out;
}

/** ½ (w − c)ᵀ H (w − c) for one row, naive. */
function rowErr(w: ArrayLike<number>, c: ArrayLike<number>, H: Float64Array, K: number): number {
  let t = 0;
  for (let i = 0; i < K; i++) {
    const di = w[i]! - c[i]!;
    for (let j = 0; j < K; j++) t += di * H[i * K + j]! * (w[j]! - c[j]!);
  }
  return t / 2;
}

/**
 * Brute force for one row: min of rowErr over every c ∈ {−maxq..maxq}^K · step with at least
 * minZeros zeros and zeros wherever forced[j] = 1.
 */
function bruteForceRow(
  w: ArrayLike<number>,
  H: Float64Array,
  K: number,
  step: number,
  maxq: number,
  minZeros: number,
  forced?: ArrayLike<number>,
): number {
  const L = 2 * maxq + 1;
  const c = new Float64Array(K);
  const digits = new Int32Array(K).fill(0); // digit d ↔ value d − maxq
  let best = Infinity;
  const total = L ** K;
  for (let code = 0; code < total; code++) {
    let x = code,
      zeros = 0,
      ok = true;
    for (let j = 0; j < K; j++) {
      digits[j] = x % L;
      x = Math.floor(x / L);
    }
    for (let j = 0; j < K; j++) {
      const v = digits[j]! - maxq;
      if (v === 0) zeros++;
      else if (forced?.[j]) {
        ok = false;
        break;
      }
      c[j] = Math.fround(v * step); // the float32 grid point, as Ŵ stores it
    }
    if (!ok || zeros < minZeros) continue;
    const e = rowErr(w, c, H, K);
    if (e < best) best = e;
  }
  return best;
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof SparrowError ? e.code : `not a SparrowError: ${String(e)}`;
  }
  return 'none';
}

/** Every invariant of an obsQuantize result (see the file header). */
function checkInvariants(p: Problem, r: ReturnType<typeof obsQuantize>, maxq: number, sparsity: number, mask?: Uint8Array): void {
  const { rows, K } = p;
  expect(r.q).toBeInstanceOf(Int8Array);
  expect(r.q.length).toBe(rows * K);
  expect(r.W.length).toBe(rows * K);
  expect(r.step.length).toBe(rows);
  const k = mask ? 0 : Math.round(sparsity * K);
  for (let row = 0; row < rows; row++) {
    const s = r.step[row]!;
    expect(Number.isFinite(s) && s > 0, `step[${row}] = ${s}`).toBe(true);
    let zeros = 0;
    for (let j = 0; j < K; j++) {
      const i = row * K + j,
        q = r.q[i]!;
      if (Math.abs(q) > maxq) throw new Error(`|q[${row},${j}]| = ${Math.abs(q)} > maxq ${maxq}`);
      if (r.W[i] !== Math.fround(q * s)) throw new Error(`W[${row},${j}] = ${r.W[i]} != fround(${q} · ${s})`);
      if (q === 0) zeros++;
      if (p.dead.includes(j) && q !== 0) throw new Error(`dead column ${j} kept in row ${row} (q = ${q})`);
      if (mask?.[i] && q !== 0) throw new Error(`masked [${row},${j}] kept (q = ${q})`);
    }
    expect(zeros, `row ${row}`).toBeGreaterThanOrEqual(Math.max(k, p.dead.length));
  }
}

// ---------------------------------------------------------------------------------------------

describe('obsQuantize invariants (property tests)', () => {
  it('|q| ≤ maxq, Ŵ = q·step exactly, ≥ round(s·K) zeros per row, dead columns zero, inputs untouched', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 0.95, noNaN: true }),
        fc.integer({ min: 1, max: 127 }),
        fc.constantFrom<StepRule>('max', 'mse', { rms: 2.5 }),
        fc.boolean(),
        fc.constantFrom(undefined, 1, 5, 128),
        fc.double({ min: 0.2, max: 3, noNaN: true }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 1e9 }),
        (rows, K, sparsity, maxq, step, actOrder, blockSize, nOverK, nDead, seed) => {
          const dead = Array.from(new Set(Array.from({ length: Math.min(nDead, K - 1) }, (_, i) => (seed + 7 * i) % K)));
          const p = problem(rows, K, Math.max(1, Math.round(nOverK * K)), seed, { dead });
          const W0 = Float32Array.from(p.W),
            H0 = Float64Array.from(p.H);
          const r = obsQuantize(p.W, p.H, { sparsity, maxq, step, actOrder, ...(blockSize ? { blockSize } : {}) });
          checkInvariants(p, r, maxq, sparsity);
          expect(Array.from(p.W)).toEqual(Array.from(W0));
          expect(Array.from(p.H)).toEqual(Array.from(H0));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a fixed mask is honoured (sparsity then ignored) and rows are independent', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 2, max: 24 }),
        fc.integer({ min: 1, max: 15 }),
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        fc.integer({ min: 1, max: 1e9 }),
        (rows, K, maxq, density, seed) => {
          const p = problem(rows, K, 2 * K, seed);
          const g = gaussian(seed ^ 0x5bd1e995);
          const mask = Uint8Array.from({ length: rows * K }, () => (Math.abs(g()) < density ? 1 : 0));
          const a = obsQuantize(p.W, p.H, { maxq, mask });
          const b = obsQuantize(p.W, p.H, { maxq, mask, sparsity: 0.5 });
          checkInvariants(p, a, maxq, 0, mask);
          expect(Array.from(b.q)).toEqual(Array.from(a.q));
          expect(Array.from(b.step)).toEqual(Array.from(a.step));
          // row by row: the same answer
          for (let r = 0; r < rows; r++) {
            const one = obsQuantize(p.W.slice(r * K, (r + 1) * K), p.H, { maxq, mask: mask.slice(r * K, (r + 1) * K) });
            expect(Array.from(one.q)).toEqual(Array.from(a.q.subarray(r * K, (r + 1) * K)));
            expect(one.step[0]).toBe(a.step[r]);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('rows of zeros give q = 0, Ŵ = 0, step 1, and leave the other rows unchanged', () => {
    for (const sparsity of [0, 0.5]) {
      const p = problem(5, 12, 30, 77);
      const Wz = Float32Array.from(p.W);
      for (const r of [1, 3]) Wz.fill(0, r * 12, (r + 1) * 12);
      const z = obsQuantize(Wz, p.H, { sparsity, maxq: 7 });
      const others = Float32Array.from([0, 2, 4].flatMap((r) => Array.from(p.W.subarray(r * 12, (r + 1) * 12))));
      const o = obsQuantize(others, p.H, { sparsity, maxq: 7 });
      for (const r of [1, 3]) {
        expect(Array.from(z.q.subarray(r * 12, (r + 1) * 12))).toEqual(new Array(12).fill(0));
        expect(Array.from(z.W.subarray(r * 12, (r + 1) * 12))).toEqual(new Array(12).fill(0));
        expect(z.step[r]).toBe(1);
      }
      [0, 2, 4].forEach((r, i) => {
        expect(Array.from(z.q.subarray(r * 12, (r + 1) * 12))).toEqual(Array.from(o.q.subarray(i * 12, (i + 1) * 12)));
        expect(z.step[r]).toBe(o.step[i]);
      });
    }
  });
});

describe('obsQuantize against independent oracles', () => {
  it('diagonal H: exactly "prune the k smallest w²(H_jj + λ), round the rest to max|kept|/maxq"', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 30 }),
        fc.double({ min: 0, max: 0.95, noNaN: true }),
        fc.integer({ min: 2, max: 127 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 1e9 }),
        (rows, K, sparsity, maxq, actOrder, seed) => {
          const g = gaussian(seed);
          const h = Float64Array.from({ length: K }, () => 0.5 + 1.5 * Math.abs(g()));
          const H = new Float64Array(K * K);
          for (let j = 0; j < K; j++) H[j * K + j] = h[j]!;
          // |w| in [1, 2]: with step ≤ 2/maxq, |w|/step ≥ 1, so no kept weight rounds to 0
          const W = Float32Array.from({ length: rows * K }, () => Math.sign(g() || 1) * (1 + Math.min(1, Math.abs(g()) / 3)));
          const damp = 0.01;
          const lambda = (damp * h.reduce((a, b) => a + b, 0)) / K;
          const r = obsQuantize(W, H, { sparsity, maxq, step: 'max', actOrder, damp });
          const k = Math.round(sparsity * K);
          for (let row = 0; row < rows; row++) {
            const w = Array.from(W.subarray(row * K, (row + 1) * K));
            const byScore = w.map((x, j) => [x * x * (h[j]! + lambda), j] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
            const pruned = new Set(byScore.slice(0, k).map(([, j]) => j));
            let max = 0;
            for (let j = 0; j < K; j++) if (!pruned.has(j)) max = Math.max(max, Math.abs(w[j]!));
            const step = max === 0 ? 1 : Math.fround(max / maxq);
            expect(r.step[row]).toBe(step);
            for (let j = 0; j < K; j++) {
              const want = pruned.has(j) ? 0 : Math.max(-maxq, Math.min(maxq, roundHalfEvenRef(w[j]! / step)));
              if (r.q[row * K + j] !== want)
                throw new Error(`row ${row} col ${j}: q ${r.q[row * K + j]}, want ${want} (pruned ${[...pruned].join(',')})`);
            }
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  // Per-problem: GPTQ ≤ RTN on the same grid and the same re-fitted weights. Fixed fast-check
  // seed: "GPTQ beats RTN" is a statistical property (greedy compensation can lose on a given
  // problem when few columns are left); measured worst ratio over 40 seeds per cell at K ≥ 32,
  // s ≤ 0.3: 0.99 (maxq 7), at K = 24 and s = 0.3 it reaches 1.03, hence K ≥ 32.
  it('error ≤ round-to-nearest of the re-fitted weights on the same grid (K ≥ 32, 16 rows)', () => {
    const ratios: number[] = [];
    fc.assert(
      fc.property(
        fc.integer({ min: 32, max: 64 }),
        fc.constantFrom(0, 0.25),
        fc.constantFrom(1, 3, 7, 15),
        fc.constantFrom<StepRule>('max', 'mse'),
        fc.constantFrom(0, 0.5, 0.8),
        fc.integer({ min: 1, max: 1e9 }),
        (K, sparsity, maxq, step, rho, seed) => {
          const p = problem(16, K, 3 * K, seed, { rho });
          const r = obsQuantize(p.W, p.H, { sparsity, maxq, step });
          const Wf = sparsity > 0 ? obsPruneDetailed(p.W, p.H, sparsity).W : p.W;
          const eG = reconstructionError(p.W, r.W, p.H),
            eR = reconstructionError(p.W, rtn(Wf, r.step, maxq, K), p.H);
          ratios.push(eG / eR);
          expect(eG).toBeLessThanOrEqual(eR);
        },
      ),
      { numRuns: 60, seed: 20240601 },
    );
    ratios.sort((a, b) => a - b);
    console.info(`obsQuantize / RTN error, 60 problems: median ${ratios[30]!.toFixed(3)}, worst ${ratios[59]!.toFixed(3)}`);
  });

  it("at sparsity 0.5 / 0.7, the error added over the re-fit is clearly below RTN's (summed over seeds)", () => {
    for (const sparsity of [0.5, 0.7]) {
      for (const maxq of [1, 7, 127]) {
        let sumG = 0,
          sumR = 0;
        for (let seed = 1; seed <= 12; seed++) {
          const p = problem(16, 48, 150, 1000 * seed + maxq);
          const r = obsQuantize(p.W, p.H, { sparsity, maxq });
          const Wf = obsPruneDetailed(p.W, p.H, sparsity).W;
          const eF = reconstructionError(p.W, Wf, p.H);
          sumG += reconstructionError(p.W, r.W, p.H) - eF;
          sumR += reconstructionError(p.W, rtn(Wf, r.step, maxq, 48), p.H) - eF;
        }
        console.info(`s ${sparsity}, maxq ${maxq}: extra error over the re-fit, GPTQ / RTN = ${(sumG / sumR).toFixed(3)}`);
        expect(sumR).toBeGreaterThan(0);
        expect(sumG / sumR).toBeLessThan(0.97);
      }
    }
  });

  it('sparsity 0: compensation gains ≥ 15% over RTN (summed over seeds)', () => {
    for (const maxq of [1, 3, 127]) {
      let sumG = 0,
        sumR = 0;
      for (let seed = 1; seed <= 8; seed++) {
        const p = problem(16, 40, 120, 31 * seed + maxq, { rho: 0.7 });
        const r = obsQuantize(p.W, p.H, { maxq });
        sumG += reconstructionError(p.W, r.W, p.H);
        sumR += reconstructionError(p.W, rtn(p.W, r.step, maxq, 40), p.H);
      }
      expect(sumG / sumR, `maxq ${maxq}`).toBeLessThan(0.85);
    }
  });

  // Fixed fast-check seed: greedy GPTQ vs the optimum is a distribution, not a bound (over
  // ~4000 random problems with act order: mean 1.05-1.06, 99th percentile ~2, worst 6.1), so
  // a random seed would make a per-problem factor flaky. GPTQ_BF_RUNS=n explores n random ones.
  it('K ≤ 8, maxq 1..3: never below the brute-force optimum over the grid; within 3x of it (act order), 1.2x on average', () => {
    const FACTOR = Number(process.env.GPTQ_BF_FACTOR ?? 3);
    const ratios: number[] = [];
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(0, 0.25, 0.5),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 1e9 }),
        (K0, maxq, sparsity, useMask, actOrder, seed) => {
          // keep (2·maxq + 1)^K ≤ 6561
          const K = Math.min(K0, Math.floor(Math.log(6561.5) / Math.log(2 * maxq + 1)));
          const rows = 2;
          const p = problem(rows, K, 3 * K, seed, { rho: 0.6 });
          const mask = useMask
            ? Uint8Array.from({ length: rows * K }, (_, i) => ((seed >> (i % 20)) & 1 && i % 3 === 0 ? 1 : 0))
            : undefined;
          const r = obsQuantize(p.W, p.H, { maxq, sparsity, actOrder, ...(mask ? { mask } : {}) });
          let eG = 0,
            eB = 0;
          for (let row = 0; row < rows; row++) {
            const w = p.W.subarray(row * K, (row + 1) * K);
            eG += rowErr(w, r.W.subarray(row * K, (row + 1) * K), p.H, K);
            eB += bruteForceRow(w, p.H, K, r.step[row]!, maxq, mask ? 0 : Math.round(sparsity * K), mask?.subarray(row * K, (row + 1) * K));
          }
          const scale = rowErr(p.W, new Float32Array(rows * K), p.H, K) + rowErr(p.W.subarray(K), new Float32Array(K), p.H, K);
          expect(eB).toBeLessThanOrEqual(eG + 1e-7 * scale);
          // the factor is asserted for the default column order only: without act order, a
          // clipped large weight in the last column has nothing left to absorb its error (seen:
          // 5.9x at K = 5, maxq 2, seed 10)
          if (!actOrder) return;
          ratios.push(eB > 1e-12 * scale ? eG / eB : 1);
          expect(eG).toBeLessThanOrEqual(FACTOR * eB + 1e-9 * scale);
        },
      ),
      { numRuns: Number(process.env.GPTQ_BF_RUNS ?? 200), ...(process.env.GPTQ_BF_RUNS ? {} : { seed: 7 }) },
    );
    expect(ratios.reduce((a, b) => a + b, 0) / ratios.length).toBeLessThan(1.2);
    ratios.sort((a, b) => a - b);
    console.info(
      `obsQuantize / brute force, ${ratios.length} problems: median ${ratios[ratios.length >> 1]!.toFixed(3)}, 99th pct ${ratios[Math.floor(0.99 * (ratios.length - 1))]!.toFixed(3)}, worst ${ratios[ratios.length - 1]!.toFixed(3)}, mean ${(ratios.reduce((a, b) => a + b, 0) / ratios.length).toFixed(3)}`,
    );
  });

  it('maxq 127, sparsity 0: error below 1e-4 · ‖W‖²_H', () => {
    for (let seed = 1; seed <= 6; seed++) {
      for (const step of ['max', 'mse'] as const) {
        const p = problem(8, 36, 100, seed, { rho: 0.8 });
        const r = obsQuantize(p.W, p.H, { maxq: 127, step });
        const rel = reconstructionError(p.W, r.W, p.H) / reconstructionError(p.W, new Float32Array(p.W.length), p.H);
        expect(rel, `seed ${seed} ${step}`).toBeLessThan(1e-4);
        expect(rel).toBeGreaterThan(0);
      }
    }
  });

  it('dead inputs (H_ii = 0) are zero in every row, at sparsity 0 and counted among the pruned otherwise', () => {
    const dead = [2, 5, 6];
    const p = problem(6, 10, 40, 9, { dead });
    for (const sparsity of [0, 0.2, 0.5]) {
      const r = obsQuantize(p.W, p.H, { sparsity, maxq: 127, step: 'max' });
      checkInvariants(p, r, 127, sparsity);
      // the live columns: max(k, 3) − 3 more zeros at most, unless a kept weight rounds to 0
      for (let row = 0; row < 6; row++) {
        const zeros = Array.from(r.q.subarray(row * 10, (row + 1) * 10)).filter((v) => v === 0).length;
        expect(zeros).toBe(Math.max(Math.round(sparsity * 10), dead.length));
      }
    }
  });
});

describe('obsQuantize across calls', () => {
  // obsQuantize may cache work per H between calls (the allocation quantizes one layer with
  // many candidates); a cache must never return the answer for different H contents.
  it('H changed in place between calls gives the answer for the new H (no stale cached factor)', () => {
    const p = problem(4, 12, 40, 5);
    const first = obsQuantize(p.W, p.H, { maxq: 127 });
    // shrink everything off the diagonal (the mean of diag H, so λ, is unchanged)
    for (let i = 0; i < 12; i++) for (let j = 0; j < 12; j++) if (i !== j) p.H[i * 12 + j]! *= 0.3;
    const again = obsQuantize(p.W, p.H, { maxq: 127 });
    const fresh = obsQuantize(p.W, Float64Array.from(p.H), { maxq: 127 });
    expect(Array.from(again.W)).toEqual(Array.from(fresh.W));
    expect(Array.from(fresh.W)).not.toEqual(Array.from(first.W));
    // a different dead column, same number of live ones
    const q = problem(3, 8, 30, 6, { dead: [2] });
    obsQuantize(q.W, q.H, { maxq: 3 });
    const moved = problem(3, 8, 30, 6, { dead: [6] });
    q.H.set(moved.H);
    expect(Array.from(obsQuantize(q.W, q.H, { maxq: 3 }).q)).toEqual(Array.from(obsQuantize(q.W, Float64Array.from(q.H), { maxq: 3 }).q));
  });
});

describe('rowStep', () => {
  it("'max' = fround(max|w| / maxq); a zero row gives 1", () => {
    expect(rowStep([0.5, -2, 1], 7, 'max', 3)).toBe(Math.fround(2 / 7));
    expect(rowStep([0, 0, 0], 7, 'max', 3)).toBe(1);
    expect(rowStep([0, 0], 3, 'mse', 1)).toBe(1);
    expect(rowStep([0], 3, { rms: 2 }, 1)).toBe(1);
  });

  // Regression (found by these tests): weights so small that max|w|/maxq underflows float32
  // gave step 0, so q = ±maxq with Ŵ = 0 (and a 0 scale in the file); now such a row is zero.
  it('regression: a row of float32 denormals gets step 1 and q = 0, not step 0 and q = ±maxq', () => {
    const tiny = Math.fround(1e-44);
    expect(tiny).toBeGreaterThan(0);
    for (const rule of ['max', 'mse', { rms: 2 }] as StepRule[]) {
      expect(rowStep([5e-324, 0], 1, rule, 2), JSON.stringify(rule)).toBe(1);
      if (rule !== 'max' && rule !== 'mse') continue; // α·rms = 2·1e-44 is still a float32 > 0
      expect(rowStep([tiny, -tiny, 0], 127, rule, 3), JSON.stringify(rule)).toBe(1);
    }
    const r = obsQuantize(Float32Array.from([tiny, -tiny, 1, 0.5]), Float64Array.from([2, 0.3, 0.3, 1]), { maxq: 127 });
    expect(r.step[0]).toBe(1);
    expect(Array.from(r.q.subarray(0, 2))).toEqual([0, 0]);
    expect(r.step[1]).toBeGreaterThan(0);
  });

  it('{ rms: α } = max(max|w|/maxq, α · rms of the keep largest)', () => {
    const w = [3, -1, 0.5, -0.25, 2];
    const rms2 = Math.sqrt((9 + 4) / 2);
    expect(rowStep(w, 127, { rms: 1.5 }, 2)).toBe(Math.fround(1.5 * rms2));
    expect(rowStep(w, 1, { rms: 0.1 }, 5)).toBe(Math.fround(3)); // α·rms below max/maxq: no clipping
  });

  it("'mse': no worse than 'max' on the kept weights, within [max/(2·maxq), max/maxq], and only the keep largest count", () => {
    const sse = (xs: number[], s: number, maxq: number): number =>
      xs.reduce((a, x) => {
        const q = Math.max(-maxq, Math.min(maxq, roundHalfEvenRef(x / s)));
        return a + (x - q * s) ** 2;
      }, 0);
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 127 }),
        fc.integer({ min: 1, max: 40 }),
        (w, maxq, keep0) => {
          const keep = Math.min(keep0, w.length);
          const mags = w.map(Math.abs).sort((a, b) => b - a);
          const max = mags[0]!;
          if (max < 1e-30) return; // see the denormal regression below
          const kept = mags.slice(0, keep);
          const s = rowStep(w, maxq, 'mse', keep);
          expect(s).toBeLessThanOrEqual(Math.fround(max / maxq));
          expect(s).toBeGreaterThanOrEqual(Math.fround(max / maxq) * 0.5 * (1 - 1e-6));
          expect(sse(kept, s, maxq)).toBeLessThanOrEqual(sse(kept, Math.fround(max / maxq), maxq) * (1 + 1e-12));
          // the pruned (small) weights do not matter
          expect(rowStep([...kept, ...new Array<number>(w.length - keep).fill(0)], maxq, 'mse', keep)).toBe(s);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('obsQuantize errors', () => {
  const p = problem(2, 4, 10, 1);
  it('bad shapes, options and non-finite input throw SparrowError invalid_argument', () => {
    expect(code(() => obsQuantize(p.W, new Float64Array(5)))).toBe('invalid_argument'); // H not square
    expect(code(() => obsQuantize(p.W, new Float64Array(0)))).toBe('invalid_argument'); // K = 0
    expect(code(() => obsQuantize(new Float32Array(7), p.H))).toBe('invalid_argument'); // W not (rows, 4)
    expect(code(() => obsQuantize(new Float32Array(9), new Float64Array(9)))).toBe('none'); // (3, 3) is fine
    for (const maxq of [0, 128, -1, 2.5, NaN])
      expect(
        code(() => obsQuantize(p.W, p.H, { maxq })),
        `maxq ${maxq}`,
      ).toBe('invalid_argument');
    for (const sparsity of [1, 1.5, -0.1, NaN])
      expect(
        code(() => obsQuantize(p.W, p.H, { sparsity })),
        `sparsity ${sparsity}`,
      ).toBe('invalid_argument');
    expect(code(() => obsQuantize(p.W, p.H, { mask: new Uint8Array(7) }))).toBe('invalid_argument');
    expect(code(() => obsQuantize(p.W, p.H, { damp: -1 }))).toBe('invalid_argument');
    expect(code(() => obsQuantize(p.W, p.H, { step: { rms: NaN } }))).toBe('invalid_argument');
    expect(code(() => obsQuantize(p.W, p.H, { step: 'median' as unknown as StepRule }))).toBe('invalid_argument');
    const Hneg = Float64Array.from(p.H);
    Hneg[0] = -1;
    expect(code(() => obsQuantize(p.W, Hneg))).toBe('invalid_argument');
    const Hnan = Float64Array.from(p.H);
    Hnan[1] = NaN;
    expect(code(() => obsQuantize(p.W, Hnan))).toBe('invalid_argument');
  });

  // Regression (found by these tests): at sparsity 0 nothing checked W, so a NaN weight came
  // back as Ŵ = NaN with q = 0 (breaking Ŵ = q·step) and an Infinity gave step = Infinity.
  it('regression: a NaN / Infinity weight at sparsity 0 is refused, not passed through', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const W = Float32Array.from(p.W);
      W[3] = bad;
      expect(
        code(() => obsQuantize(W, p.H, { maxq: 7 })),
        String(bad),
      ).toBe('invalid_argument');
      expect(
        code(() => obsQuantize(W, p.H, { maxq: 7, sparsity: 0.5 })),
        String(bad),
      ).toBe('invalid_argument');
    }
  });
});
