// Joint pruning + quantization with error compensation: the OBS column sweep of SparseGPT
// (obs.ts) where a kept weight is not merely frozen but rounded to its row's grid, and the
// rounding error is compensated on the columns not yet reached exactly like a pruned weight's
// (GPTQ, Frantar et al. 2023; SparseGPT §3.4 "joint sparsification and quantization").
//
// Problem. W: (rows, K) (rows = output channels), H = 2XᵀX: (K, K) of the layer's calibration
// inputs. Each row r gets a uniform symmetric grid {−maxq..maxq}·step_r; the result is
// q (rows, K) int8 with |q| ≤ maxq and Ŵ = q·step_r minimizing ½(w−ŵ)ᵀH(w−ŵ) greedily:
//   for q in column order:  target = mask ? 0 : clamp(round(w_q/step), ±maxq)·step
//                            err = (w_q − target)/U_qq;  w[q+1:] −= err·U[q, q+1:];  w_q = target
// with U the upper Cholesky factor of (H + λI)⁻¹. The mask is chosen adaptively per block as in
// obsPrune (the row's remaining quota among all unprocessed columns, by w²/U_jj² on the current
// weights). With maxq = 127 this is int8 quantization with OBS compensation; smaller maxq is
// weight sharing with ≤ 2·maxq+1 levels (weight bits b: maxq = 2^(b−1) − 1).
//
// Options that matter on real models (measured in docs/compression.md):
// - actOrder: columns processed by decreasing H_ii (GPTQ's "act order"): the columns whose
//   inputs carry the most energy are rounded first, while many free columns remain to absorb
//   their error;
// - step: 'max' = max|w_r|/maxq (nothing clipped), 'mse' = the clip p·max|w_r| (p in a grid)
//   minimizing the row's plain rounding error Σ(w − Q(w))² over the weights it will keep
//   (GPTQ's `mse` grid search).
import { SparrowError } from '../errors.js';
import { inverseUpperCholesky } from './linalg.js';
import { obsPruneDetailed, type SparsityPattern } from './obs.js';
import { roundHalfEven } from '../quant/int8.js';

export type StepRule = 'max' | 'mse' | { rms: number };

export interface ObsQuantizeOptions {
  /** fraction of each row pruned, [0, 1) (default 0) */
  sparsity?: number;
  /** grid half-width: |q| ≤ maxq, 1..127 (default 127) */
  maxq?: number;
  /**
   * per-row step rule (default 'mse'); { rms: α }: step = α · rms of the row's kept weights
   * (an entropy-constrained uniform quantizer: the coded size, not maxq, bounds the rate)
   */
  step?: StepRule;
  /** process columns by decreasing H_ii (default true) */
  actOrder?: boolean;
  /** mask-selection block (default 128 columns) */
  blockSize?: number;
  /** λ = damp · mean(diag H) (default 0.01) */
  damp?: number;
  /** a fixed mask (rows, K), 1 = prune (then sparsity is not used) */
  mask?: Uint8Array;
  /** the mask's pattern (obs.ts SparsityPattern; default 'unstructured'): 'pairs' = aligned 1x2 blocks along K */
  pattern?: SparsityPattern;
}

export interface ObsQuantized {
  /** (rows, K) int8, |q| ≤ maxq, exactly 0 where pruned */
  q: Int8Array;
  /** (rows) float32: ŵ[r, k] = q[r, k] · step[r] */
  step: Float32Array;
  /** (rows, K) the dequantized weights q·step */
  W: Float32Array;
}

/** The per-row step for the weights `w` (the row), keeping the `keep` largest in magnitude. */
export function rowStep(w: ArrayLike<number>, maxq: number, rule: StepRule, keep: number): number {
  const K = w.length;
  const mags = new Float64Array(K);
  for (let j = 0; j < K; j++) mags[j] = Math.abs(w[j]!);
  let max = 0;
  for (let j = 0; j < K; j++) if (mags[j]! > max) max = mags[j]!;
  if (max === 0) return 1;
  const base = max / maxq;
  // a step that underflows float32 to 0 (weights ~1e-43) would give q = ±maxq with Ŵ = 0:
  // such a row is treated as zero (step 1, every q rounds to 0)
  if (rule === 'max') return Math.fround(base) || 1;
  if (typeof rule === 'object') {
    const kept = Array.from(mags)
      .sort((a, b) => b - a)
      .slice(0, Math.max(1, keep));
    let ss = 0;
    for (const x of kept) ss += x * x;
    return Math.fround(Math.max(base, rule.rms * Math.sqrt(ss / kept.length))) || 1;
  }
  // only the weights that survive pruning are rounded (the others go to 0 anyway)
  const kept = Array.from(mags)
    .sort((a, b) => b - a)
    .slice(0, Math.max(1, keep));
  let best = 1,
    bestErr = Infinity;
  for (let i = 0; i <= 40; i++) {
    const p = 1 - i * 0.0125; // 1 … 0.5
    const s = Math.fround(base * p);
    if (s === 0) continue;
    let e = 0;
    for (const x of kept) {
      const qv = Math.min(maxq, roundHalfEven(x / s));
      const d = x - qv * s;
      e += d * d;
    }
    if (e < bestErr) {
      bestErr = e;
      best = s;
    }
  }
  return best;
}

const FULL_FACTORS = new WeakMap<Float64Array, { key: string; F: Int32Array; U: Float64Array }>();

/** FNV-1a over the bytes of a (K, K) matrix: O(K²), negligible next to the O(K³) factor. */
function contentHash(H: Float64Array): string {
  const u = new Uint32Array(H.buffer, H.byteOffset, H.length * 2);
  let a = 0x811c9dc5,
    b = 0x01000193 ^ H.length;
  for (let i = 0; i < u.length; i++) {
    a = Math.imul(a ^ u[i]!, 16777619);
    b = Math.imul(b ^ u[i]!, 0x5bd1e995) ^ (b >>> 15);
  }
  return `${(a >>> 0).toString(16)}${(b >>> 0).toString(16)}`;
}

/**
 * Prunes and quantizes W (rows, K) against H (K, K) with OBS error compensation (file header).
 * W and H are not modified. Throws SparrowError('invalid_argument') on bad shapes or options.
 */
export function obsQuantize(W: Float32Array, H: Float64Array, opts: ObsQuantizeOptions = {}): ObsQuantized {
  const K = Math.round(Math.sqrt(H.length));
  if (K * K !== H.length || K === 0 || W.length % K !== 0) {
    throw new SparrowError('invalid_argument', `obsQuantize: W (${W.length}) and H (${H.length}) do not fit (rows, K) / (K, K)`);
  }
  const rows = W.length / K;
  const sparsity = opts.sparsity ?? 0;
  if (!(sparsity >= 0 && sparsity < 1))
    throw new SparrowError('invalid_argument', `obsQuantize: sparsity must be in [0, 1), got ${sparsity}`);
  const maxq = opts.maxq ?? 127;
  if (!Number.isInteger(maxq) || maxq < 1 || maxq > 127)
    throw new SparrowError('invalid_argument', `obsQuantize: maxq must be an integer in 1..127, got ${maxq}`);
  const damp = opts.damp ?? 0.01;
  if (typeof damp !== 'number' || !Number.isFinite(damp) || damp < 0)
    throw new SparrowError('invalid_argument', `obsQuantize: damp must be a finite number >= 0, got ${String(damp)}`);
  const rule = opts.step ?? 'mse';
  if (!(rule === 'max' || rule === 'mse' || (typeof rule === 'object' && rule !== null && Number.isFinite(rule.rms) && rule.rms > 0))) {
    throw new SparrowError('invalid_argument', `obsQuantize: step must be 'max', 'mse' or { rms: α > 0 }, got ${JSON.stringify(rule)}`);
  }
  // (obsPruneDetailed checks these too, but it is skipped at sparsity 0 without a mask)
  for (let i = 0; i < W.length; i++)
    if (!Number.isFinite(W[i]!)) throw new SparrowError('invalid_argument', `obsQuantize: weight at index ${i} is not finite (${W[i]})`);
  for (let i = 0; i < H.length; i++)
    if (!Number.isFinite(H[i]!)) throw new SparrowError('invalid_argument', `obsQuantize: H at index ${i} is not finite (${H[i]})`);
  for (let i = 0; i < K; i++)
    if (H[i * K + i]! < 0)
      throw new SparrowError(
        'invalid_argument',
        `obsQuantize: H[${i},${i}] = ${H[i * K + i]} is negative (H must be positive semidefinite)`,
      );
  const fixed = opts.mask;
  if (fixed && fixed.length !== rows * K) throw new SparrowError('invalid_argument', `obsQuantize: mask must have ${rows * K} elements`);

  // 1. the mask and the least-squares weights for it (SparseGPT sweep + re-fit, obs.ts)
  let Wf: Float32Array, mask: Uint8Array;
  if (fixed || sparsity > 0) {
    const r = obsPruneDetailed(W, H, sparsity, {
      damp,
      ...(opts.blockSize ? { blockSize: opts.blockSize } : {}),
      ...(fixed ? { mask: fixed } : {}),
      ...(opts.pattern ? { pattern: opts.pattern } : {}),
    });
    Wf = r.W;
    mask = r.stats.mask;
  } else {
    Wf = W;
    mask = new Uint8Array(rows * K);
  }
  // dead inputs (H_ii = 0) are pruned too
  const dead = new Uint8Array(K);
  for (let i = 0; i < K; i++) if (H[i * K + i] === 0) dead[i] = 1;

  // 2. per row, GPTQ on the kept columns F: U_F = upper Cholesky of (H_FF + λI)⁻¹; columns in
  //    act order (decreasing H_ii) when asked. Rows keeping every column share one factor.
  let mean = 0,
    nLive = 0;
  for (let i = 0; i < K; i++)
    if (!dead[i]) {
      mean += H[i * K + i]!;
      nLive++;
    }
  const lambda = damp * (nLive ? mean / nLive : 1);
  const order = Int32Array.from({ length: K }, (_, i) => i);
  if (opts.actOrder ?? true) order.sort((a, b) => H[b * K + b]! - H[a * K + a]! || a - b);
  const factor = (F: Int32Array, n: number): Float64Array => {
    const A = new Float64Array(n * n);
    for (let a = 0; a < n; a++) for (let c = 0; c < n; c++) A[a * n + c] = H[F[a]! * K + F[c]!]!;
    for (let a = 0; a < n; a++) A[a * n + a]! += lambda;
    return inverseUpperCholesky(A, n, 0).U;
  };
  // rows keeping every live column share one factor, cached per H across calls (the
  // allocation quantizes one layer with many candidates)
  // (keyed by H's contents too: a caller may change H in place between calls)
  const cacheKey = `${lambda}|${opts.actOrder ?? true}|${contentHash(H)}`;
  const cached = FULL_FACTORS.get(H);
  let shared: { F: Int32Array; U: Float64Array } | null = cached && cached.key === cacheKey ? cached : null;
  const q = new Int8Array(rows * K);
  const step = new Float32Array(rows);
  const out = new Float32Array(rows * K);
  const F = new Int32Array(K);
  const w = new Float64Array(K);
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (const j of order) if (!mask[r * K + j] && !dead[j]) F[n++] = j;
    if (n === 0) {
      step[r] = 1;
      continue;
    }
    let U: Float64Array;
    if (n === nLive) {
      if (!shared) {
        shared = { F: F.slice(0, n), U: factor(F, n) };
        FULL_FACTORS.set(H, { key: cacheKey, ...shared });
      }
      U = shared.U;
    } else U = factor(F, n);
    for (let a = 0; a < n; a++) w[a] = Wf[r * K + F[a]!]!;
    const s = rowStep(w.subarray(0, n), maxq, rule, n);
    step[r] = s;
    for (let a = 0; a < n; a++) {
      const qv = Math.max(-maxq, Math.min(maxq, roundHalfEven(w[a]! / s)));
      const tv = qv * s;
      const err = (w[a]! - tv) / U[a * n + a]!;
      if (err !== 0) for (let c = a + 1; c < n; c++) w[c]! -= err * U[a * n + c]!;
      q[r * K + F[a]!] = qv;
      out[r * K + F[a]!] = Math.fround(tv);
    }
  }
  return { q, step, W: out };
}
