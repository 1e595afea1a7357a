// Magnitude pruning. Reference-first: one O(n log n) sort of magnitudes, then plain loops.
//
// Rule (per layer or global): with k = round(sparsity * n), zero exactly the k weights that
// come first in the order (|w| ascending, then position ascending). Position is the flat
// index within a layer; globally it is (layer index, flat index). Weights already zero count
// as the smallest, so the result has max(k, zeros already present) zeros.

import { SparrowError } from '../errors.js';

function checkSparsity(sparsity: number): void {
  if (typeof sparsity !== 'number' || !Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1) {
    throw new SparrowError('invalid_argument', `sparsity must be a number in [0, 1), got ${String(sparsity)}`);
  }
}

function checkFinite(w: Float32Array, where: string): void {
  for (let i = 0; i < w.length; i++) {
    if (!Number.isFinite(w[i]!)) {
      throw new SparrowError('invalid_argument', `${where}: weight at index ${i} is not finite (${w[i]})`);
    }
  }
}

/** Number of weights pruned out of n at this sparsity: Math.round(sparsity * n) (halves round up). */
export function pruneCount(n: number, sparsity: number): number {
  checkSparsity(sparsity);
  return Math.min(n, Math.round(sparsity * n));
}

/** Sorted magnitudes of all layers, concatenated. mags: (sum of lengths) */
function sortedMagnitudes(layers: readonly Float32Array[]): Float32Array {
  let total = 0;
  for (const w of layers) total += w.length;
  const mags = new Float32Array(total);
  let p = 0;
  for (const w of layers) for (let i = 0; i < w.length; i++) mags[p++] = Math.abs(w[i]!);
  mags.sort(); // numeric sort for typed arrays
  return mags;
}

/**
 * Zeroes, in copies of `layers`, exactly k weights: those with |w| < t, then those with
 * |w| == t in position order until k are gone, where t is the k-th smallest magnitude.
 */
function pruneLayers(layers: readonly Float32Array[], k: number): Float32Array[] {
  const out = layers.map((w) => Float32Array.from(w));
  if (k === 0) return out;
  const mags = sortedMagnitudes(layers);
  const t = mags[k - 1]!;
  let below = 0; // how many magnitudes are strictly below t
  while (below < k && mags[below]! < t) below++;
  let tiesLeft = k - below; // weights with |w| == t still to prune, lowest position first
  for (const w of out) {
    for (let i = 0; i < w.length; i++) {
      const a = Math.abs(w[i]!);
      if (a < t) w[i] = 0;
      else if (a === t && tiesLeft > 0) {
        w[i] = 0;
        tiesLeft--;
      }
    }
  }
  return out;
}

/**
 * Per-layer magnitude pruning: returns a new array with the round(sparsity * n) smallest-|w|
 * weights set to +0 (ties: lower index pruned first). sparsity in [0, 1), else
 * SparrowError('invalid_argument'); non-finite weights are rejected the same way.
 */
export function magnitudePrune(w: Float32Array, sparsity: number): Float32Array {
  checkSparsity(sparsity);
  checkFinite(w, 'magnitudePrune');
  return pruneLayers([w], pruneCount(w.length, sparsity))[0]!;
}

/**
 * Global pruning threshold: the k-th smallest |w| over all layers together, k = round(sparsity * N),
 * N the total weight count; -Infinity when k = 0. Zeroing every |w| <= threshold removes at
 * least k weights, exactly k unless several weights tie at the threshold; globalMagnitudePrune
 * applies the exact-count rule with ties broken by (layer, index).
 */
export function globalMagnitudeThreshold(layers: readonly Float32Array[], sparsity: number): number {
  checkSparsity(sparsity);
  layers.forEach((w, l) => checkFinite(w, `globalMagnitudeThreshold layer ${l}`));
  let total = 0;
  for (const w of layers) total += w.length;
  const k = pruneCount(total, sparsity);
  if (k === 0) return -Infinity;
  return sortedMagnitudes(layers)[k - 1]!;
}

/** Global magnitude pruning with an exact count: new arrays, k = round(sparsity * N) weights zeroed in all. */
export function globalMagnitudePrune(layers: readonly Float32Array[], sparsity: number): Float32Array[] {
  checkSparsity(sparsity);
  layers.forEach((w, l) => checkFinite(w, `globalMagnitudePrune layer ${l}`));
  let total = 0;
  for (const w of layers) total += w.length;
  return pruneLayers(layers, pruneCount(total, sparsity));
}

/**
 * Magnitude pruning in aligned 1x2 blocks along K (the 'pairs' pattern of obs.ts): W holds
 * `rows` output channels of K weights, weight (r, k) at index r·rs + k·ks (rs = K, ks = 1 for
 * (rows, K) storage; rs = 1, ks = rows for (K, rows)). Blocks {2j, 2j+1} of a row (an odd K's
 * last column alone) are ranked by their L2 norm, ascending (ties: lower (row, j) first), and
 * the first round(sparsity · rows·ceil(K/2)) are zeroed, both halves. New array; W unchanged.
 */
export function magnitudePrunePairs(w: Float32Array, rows: number, K: number, sparsity: number, rs = K, ks = 1): Float32Array {
  checkSparsity(sparsity);
  checkFinite(w, 'magnitudePrunePairs');
  if (!(rows >= 1 && K >= 1 && rows * K === w.length))
    throw new SparrowError('invalid_argument', `magnitudePrunePairs: ${rows} x ${K} does not match ${w.length} weights`);
  const kp = (K + 1) >> 1,
    n = rows * kp;
  const norm = new Float64Array(n);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < kp; j++) {
      const a = w[r * rs + 2 * j * ks]!,
        b = 2 * j + 1 < K ? w[r * rs + (2 * j + 1) * ks]! : 0;
      norm[r * kp + j] = a * a + b * b;
    }
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => norm[a]! - norm[b]! || a - b);
  const out = Float32Array.from(w);
  const k = pruneCount(n, sparsity);
  for (let t = 0; t < k; t++) {
    const r = Math.floor(order[t]! / kp),
      j = order[t]! % kp;
    out[r * rs + 2 * j * ks] = 0;
    if (2 * j + 1 < K) out[r * rs + (2 * j + 1) * ks] = 0;
  }
  return out;
}
