// Weight sharing for int8 tensors (Deep Compression's trained-quantization step without the
// retraining): at most 2^bits distinct int8 levels per tensor, found by 1-D k-means on the
// tensor's int8 values weighted by how often each occurs.
//
// Rules: zero is always a level and exactly the zeros map to it (pruned weights stay 0 and no
// surviving weight becomes 0), so a tensor keeps its density; the other 2^bits − 1 levels are
// nonzero, and a cluster never mixes negative and positive values (sign is kept). The clustering
// is exact: k-means in one dimension is solved optimally by dynamic programming over the sorted
// distinct values (Wang & Song, "Ckmeans.1d.dp", 2011) — deterministic with no initialisation to
// choose and never worse than Lloyd's iterations from any start. Each cluster's level is its
// weighted mean rounded to an integer (half to even, never 0); every value then maps to the
// nearest level of its own sign (ties: the smaller magnitude).
import { SparrowError } from '../errors.js';
import { roundHalfEven } from '../quant/int8.js';

export interface SharedInt8 {
  /** same shape as the input, at most 2^bits distinct values */
  q: Int8Array;
  /** the distinct values of q, ascending */
  levels: number[];
  /** Σ count·(v − level(v))² over all elements (in int8 units²) */
  sse: number;
}

/** Sorted distinct nonzero values of q and their counts. */
function histogram(q: Int8Array): { xs: number[]; ws: number[] } {
  const counts = new Float64Array(256);
  for (let i = 0; i < q.length; i++) counts[q[i]! + 128]!++;
  const xs: number[] = [],
    ws: number[] = [];
  for (let v = -128; v <= 127; v++)
    if (v !== 0 && counts[v + 128]! > 0) {
      xs.push(v);
      ws.push(counts[v + 128]!);
    }
  return { xs, ws };
}

/**
 * Optimal weighted 1-D k-means of sorted points xs (weights ws) into at most k contiguous
 * clusters, none crossing `split` (clusters lie within [0, split) or [split, n)). Returns the
 * start index of each cluster. O(k·n²), n ≤ 255 here.
 */
export function kmeans1dExact(xs: readonly number[], ws: readonly number[], k: number, split = 0): number[] {
  const n = xs.length;
  if (n === 0) return [];
  if (k >= n) return xs.map((_, i) => i);
  // prefix sums of w, w·x, w·x²
  const W = new Float64Array(n + 1),
    S = new Float64Array(n + 1),
    Q = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    W[i + 1] = W[i]! + ws[i]!;
    S[i + 1] = S[i]! + ws[i]! * xs[i]!;
    Q[i + 1] = Q[i]! + ws[i]! * xs[i]! * xs[i]!;
  }
  // cost of the cluster [i, j] (inclusive): Σw(x − mean)² = Q − S²/W
  const cost = (i: number, j: number): number => {
    if (split > 0 && split < n && i < split && j >= split) return Infinity;
    const w = W[j + 1]! - W[i]!,
      s = S[j + 1]! - S[i]!,
      q = Q[j + 1]! - Q[i]!;
    return Math.max(0, q - (s * s) / w);
  };
  // D[m][j]: best cost of xs[0..j] in m+1 clusters; B[m][j]: start of the last cluster
  const D: Float64Array[] = [],
    B: Int32Array[] = [];
  const d0 = new Float64Array(n),
    b0 = new Int32Array(n);
  for (let j = 0; j < n; j++) d0[j] = cost(0, j);
  D.push(d0);
  B.push(b0);
  for (let m = 1; m < k; m++) {
    const prev = D[m - 1]!,
      d = new Float64Array(n).fill(Infinity),
      b = new Int32Array(n);
    for (let j = m; j < n; j++) {
      for (let i = m; i <= j; i++) {
        const c = prev[i - 1]! + cost(i, j);
        if (c < d[j]!) {
          d[j] = c;
          b[j] = i;
        }
      }
    }
    D.push(d);
    B.push(b);
  }
  // fewest clusters reaching the optimum (more clusters never cost more)
  let m = k - 1;
  while (m > 0 && D[m - 1]![n - 1]! <= D[m]![n - 1]!) m--;
  const starts: number[] = [];
  for (let j = n - 1; m >= 0; m--) {
    const i = m === 0 ? 0 : B[m]![j]!;
    starts.push(i);
    j = i - 1;
  }
  return starts.reverse();
}

/**
 * Reduces an int8 tensor to at most 2^bits distinct values (bits 1..8; 8 or fewer distinct
 * values already: unchanged copy). See the file header for the rules.
 */
export function shareInt8Levels(q: Int8Array, bits: number): SharedInt8 {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8)
    throw new SparrowError('invalid_argument', `weight bits must be an integer in 1..8, got ${bits}`);
  const { xs, ws } = histogram(q);
  const k = 2 ** bits - 1; // nonzero levels; 0 is the other one
  const out = Int8Array.from(q);
  if (xs.length <= k) {
    return { q: out, levels: distinct(out), sse: 0 };
  }
  const split = xs.findIndex((x) => x > 0); // first positive (-1: all negative)
  if (split > 0 && k < 2) {
    throw new SparrowError('invalid_argument', `${bits} weight bit(s) cannot keep both signs and zero`);
  }
  const starts = kmeans1dExact(xs, ws, k, split < 0 ? 0 : split);
  const levelSet = new Set<number>();
  for (let c = 0; c < starts.length; c++) {
    const a = starts[c]!,
      b = c + 1 < starts.length ? starts[c + 1]! : xs.length;
    let w = 0,
      s = 0;
    for (let i = a; i < b; i++) {
      w += ws[i]!;
      s += ws[i]! * xs[i]!;
    }
    let level = roundHalfEven(s / w);
    if (level === 0) level = xs[a]! < 0 ? -1 : 1;
    levelSet.add(level);
  }
  const neg = [...levelSet].filter((l) => l < 0).sort((a, b) => b - a); // by magnitude, ascending
  const pos = [...levelSet].filter((l) => l > 0).sort((a, b) => a - b);
  const map = new Int8Array(256);
  let sse = 0;
  xs.forEach((x, i) => {
    const cands = x < 0 ? neg : pos;
    let best = cands[0]!;
    for (const l of cands) if (Math.abs(l - x) < Math.abs(best - x)) best = l;
    map[x + 128] = best;
    sse += ws[i]! * (best - x) * (best - x);
  });
  for (let i = 0; i < out.length; i++) if (out[i] !== 0) out[i] = map[out[i]! + 128]!;
  return { q: out, levels: distinct(out), sse };
}

/** Distinct values of an int8 array, ascending. */
export function distinct(q: Int8Array): number[] {
  const seen = new Uint8Array(256);
  for (let i = 0; i < q.length; i++) seen[q[i]! + 128] = 1;
  const out: number[] = [];
  for (let v = 0; v < 256; v++) if (seen[v]) out.push(v - 128);
  return out;
}
