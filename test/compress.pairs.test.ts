// Pruning in aligned 1x2 blocks along K (the 'pairs' sparsity pattern, for the int8 pair-block
// sparse conv kernel): obsPrune / obsQuantize (SparseGPT sweep with the OBS group criterion and
// block update, src/compress/obs.ts), magnitudePrunePairs (block L2 norm, src/compress/prune.ts)
// and compressGraph's default pattern. Oracles: the pair structure and the exact counts checked
// element by element; the block choice against a brute-force least-squares refit (the true
// group cost ½ w_Bᵀ([H⁻¹]_BB)⁻¹ w_B), on a case a per-column score gets wrong; the kept blocks'
// norms against the pruned ones'.
import { describe, it, expect } from 'vitest';
import '../src/ops/ref/index.js';
import fc from 'fast-check';
import { obsPruneDetailed } from '../src/compress/obs.js';
import { obsQuantize } from '../src/compress/gptq.js';
import { magnitudePrunePairs } from '../src/compress/prune.js';
import { solveSpd } from '../src/compress/linalg.js';
import { compressGraph } from '../src/compress/compress.js';
import { loadSparrowModel } from '../src/runtime/sparrow_model.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { buildModel } from '../src/onnx/build.js';
import { lcg } from './helpers/tensors.js';
import type { Tensor } from '../src/ops/types.js';

function gaussian(seed: number): () => number {
  const r = lcg(seed);
  return () => Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
}

/** H = 2 XᵀX of X (n, K) with features from `feat(sample, g)`. */
function hessianOf(n: number, K: number, feat: (g: () => number) => number[], seed: number): Float64Array {
  const g = gaussian(seed);
  const H = new Float64Array(K * K);
  for (let s = 0; s < n; s++) {
    const x = feat(g);
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) H[i * K + j]! += 2 * x[i]! * x[j]!;
  }
  return H;
}

/** Every row's pruned set is a union of aligned blocks {2j, 2j+1} (an odd K's last column alone). */
function pairsUp(zero: (r: number, k: number) => boolean, rows: number, K: number): string | null {
  for (let r = 0; r < rows; r++)
    for (let k = 0; k + 1 < K; k += 2) if (zero(r, k) !== zero(r, k + 1)) return `row ${r}: columns ${k}, ${k + 1} differ`;
  return null;
}

/** ½ (w − v)ᵀ H (w − v) after the least-squares refit of the kept columns (the true cost of pruning `pruned`). */
function refitCost(w: number[], H: Float64Array, K: number, pruned: Set<number>): number {
  const F = [...Array(K).keys()].filter((j) => !pruned.has(j));
  const A = new Float64Array(F.length * F.length),
    b = new Float64Array(F.length);
  F.forEach((f, a) => {
    F.forEach((c, i) => (A[a * F.length + i] = H[f * K + c]!));
    b[a] = [...pruned].reduce((s, m) => s + H[f * K + m]! * w[m]!, 0);
  });
  const x = F.length ? solveSpd(A, b, F.length) : new Float64Array(0);
  const v = new Array<number>(K).fill(0);
  F.forEach((f, a) => (v[f] = w[f]! + x[a]!));
  let e = 0;
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) e += (w[i]! - v[i]!) * H[i * K + j]! * (w[j]! - v[j]!);
  return e / 2;
}

describe("pruning in aligned pairs along K ('pairs')", () => {
  it('obsPrune: every row prunes exactly round(s·ceil(K/2)) aligned blocks (property: random H, K odd and even, sparsities)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 21 }),
        fc.constantFrom(0.3, 0.5, 0.7),
        fc.integer({ min: 1, max: 64 }),
        fc.integer(),
        (rows, K, s, blockSize, seed) => {
          const g = gaussian(seed >>> 0);
          const H = hessianOf(3 * K + 2, K, (gg) => Array.from({ length: K }, gg), seed >>> 0);
          const W = Float32Array.from({ length: rows * K }, g);
          const r = obsPruneDetailed(W, H, s, { pattern: 'pairs', blockSize });
          const m = r.stats.mask;
          expect(pairsUp((row, k) => m[row * K + k] === 1, rows, K)).toBeNull();
          const kp = (K + 1) >> 1;
          for (let row = 0; row < rows; row++) {
            let blocks = 0;
            for (let k = 0; k < K; k += 2) if (m[row * K + k]) blocks++;
            expect(blocks, `row ${row}`).toBe(Math.round(s * kp));
            for (let k = 0; k < K; k++) if (m[row * K + k]) expect(r.W[row * K + k]).toBe(0);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("obsPrune: the block criterion picks the pair whose joint removal costs least (brute-force refit), where the two columns' separate sweep costs mislead", () => {
    // columns 0 and 1 see nearly the same input z and weigh +1 and −1: together they cancel, so
    // dropping both costs almost nothing, while column 1 alone (once column 0 is frozen by the
    // sweep) looks expensive; columns 2, 3 are independent and small but not free
    const K = 4;
    const H = hessianOf(
      400,
      K,
      (g) => {
        const z = g();
        return [z + 0.02 * g(), z + 0.02 * g(), g(), g()];
      },
      3,
    );
    const w = [1, -1, 0.3, 0.3];
    const costA = refitCost(w, H, K, new Set([0, 1])),
      costB = refitCost(w, H, K, new Set([2, 3]));
    expect(costA).toBeLessThan(costB / 10);
    const r = obsPruneDetailed(Float32Array.from(w), H, 0.5, { pattern: 'pairs', damp: 0 });
    expect(Array.from(r.stats.mask)).toEqual([1, 1, 0, 0]);
    // and the kept weights are the least-squares refit: the pruned pair's cost exactly
    const v = Array.from(r.W);
    let e = 0;
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) e += (w[i]! - v[i]!) * H[i * K + j]! * (w[j]! - v[j]!);
    expect(e / 2).toBeCloseTo(costA, 6);
  });

  it('obsQuantize with pattern pairs: int8 zeros in aligned pairs for every pruned block, counts kept', () => {
    const rows = 6,
      K = 36;
    const g = gaussian(11);
    const H = hessianOf(120, K, (gg) => Array.from({ length: K }, gg), 12);
    const W = Float32Array.from({ length: rows * K }, g);
    for (const s of [0.5, 0.7]) {
      const r = obsQuantize(W, H, { sparsity: s, pattern: 'pairs' });
      // a kept weight may still round to 0: at most round((1−s)·K/2) non-empty pairs per row
      for (let row = 0; row < rows; row++) {
        let nonEmpty = 0;
        for (let k = 0; k < K; k += 2) if (r.q[row * K + k] || r.q[row * K + k + 1]) nonEmpty++;
        expect(nonEmpty).toBeLessThanOrEqual(K / 2 - Math.round((s * K) / 2));
      }
    }
  });

  it('magnitudePrunePairs: aligned blocks, exact count, every pruned block no larger (L2) than any kept one; (K, N) layout too', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 19 }),
        fc.double({ min: 0, max: 0.95, noNaN: true }),
        fc.integer(),
        (rows, K, s, seed) => {
          const g = gaussian(seed >>> 0);
          const w = Float32Array.from({ length: rows * K }, () => (g() > 1.2 ? 0 : g()));
          for (const layout of ['rowsK', 'KRows'] as const) {
            const [rs, ks] = layout === 'rowsK' ? [K, 1] : [1, rows];
            const out = magnitudePrunePairs(w, rows, K, s, rs, ks);
            const at = (a: Float32Array, r: number, k: number): number => a[r * rs + k * ks]!;
            const kp = (K + 1) >> 1;
            const norms: Array<{ n: number; pruned: boolean }> = [];
            for (let r = 0; r < rows; r++)
              for (let j = 0; j < kp; j++) {
                const a = at(w, r, 2 * j),
                  b = 2 * j + 1 < K ? at(w, r, 2 * j + 1) : 0;
                const gone = at(out, r, 2 * j) === 0 && (2 * j + 1 >= K || at(out, r, 2 * j + 1) === 0);
                // a block is either untouched or zeroed as a whole
                if (!gone) {
                  expect(at(out, r, 2 * j)).toBe(a);
                  if (2 * j + 1 < K) expect(at(out, r, 2 * j + 1)).toBe(b);
                }
                norms.push({ n: a * a + b * b, pruned: gone && a * a + b * b > 0 });
              }
            const target = Math.min(rows * kp, Math.round(s * rows * kp));
            const zeroBlocks = norms.filter((x, i) => x.pruned || x.n === 0 || i < 0).length;
            expect(zeroBlocks).toBeGreaterThanOrEqual(target);
            const maxPruned = Math.max(0, ...norms.filter((x) => x.pruned).map((x) => x.n));
            const minKept = Math.min(Infinity, ...norms.filter((x) => !x.pruned && x.n > 0).map((x) => x.n));
            expect(maxPruned).toBeLessThanOrEqual(minKept);
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('compressGraph: sparsityPattern pairs (magnitude) stores int8 conv weights whose zeros pair up; unstructured (the default) does not', async () => {
    const r = lcg(4);
    const w: Tensor = { dtype: 'float32', dims: [8, 6, 3, 3], data: Float32Array.from({ length: 8 * 54 }, () => r() - 0.5) };
    const onnx = buildModel({
      nodes: [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['c'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: [1, 6, 8, 8] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: null }],
      initializers: { w },
      opsets: { '': 17 },
    });
    const stored = async (pattern?: 'pairs' | 'unstructured'): Promise<Int8Array> => {
      const g = importOnnx(onnx);
      optimize(g);
      const res = await compressGraph(g, { sparsity: 0.5, denseEnds: false, ...(pattern ? { sparsityPattern: pattern } : {}) });
      const m = loadSparrowModel(res.bytes);
      return m.int8.get('w')!.q;
    };
    const K = 54;
    const pairs = await stored('pairs');
    expect(pairsUp((row, k) => pairs[row * K + k] === 0, 8, K)).toBeNull();
    expect(pairs.filter((v) => v === 0).length).toBeGreaterThanOrEqual(8 * 27);
    for (const un of [await stored(), await stored('unstructured')]) {
      expect(pairsUp((row, k) => un[row * K + k] === 0, 8, K)).not.toBeNull();
      expect(un.filter((v) => v === 0).length).toBeGreaterThanOrEqual(8 * 27);
    }
    await expect(
      (async () => {
        const g = importOnnx(onnx);
        optimize(g);
        await compressGraph(g, { sparsity: 0.5, scope: 'global', sparsityPattern: 'pairs' });
      })(),
    ).rejects.toThrow(/pairs is for/);
  });
});
