// Layer-wise Optimal Brain Surgeon pruning with error compensation (SparseGPT, Frantar &
// Alistarh 2023, Algorithm 1; exact OBS as in Optimal Brain Compression, 2022) and the cheap
// diagonal Optimal Brain Damage saliency. Pure functions over float arrays, no I/O.
//
// Problem. A weight layer computes y = W x with W: (rows, K) (rows = output channels, K = the
// input patch length: Cin/g·kh·kw for Conv, the input features for Gemm/MatMul). Given the
// calibration inputs X: (n, K) (one patch per row) and H = 2 XᵀX: (K, K) (src/compress/calib.ts),
// pruning row w to ŵ costs ‖X w − X ŵ‖² = ½ (w − ŵ)ᵀ H (w − ŵ). Rows are independent.
//
// OBS. With H_F⁻¹ = (H restricted to the free columns F)⁻¹, removing weight q ∈ F while
// optimally re-fitting the others costs ½ w_q² / [H_F⁻¹]_qq and moves the free weights by
// δ = −(w_q / [H_F⁻¹]_qq) · H_F⁻¹[:, q].
//
// SparseGPT (obsPrune). Columns are processed left to right; when column q is reached, F is
// {q, ..., K−1} (columns < q are frozen), and with U the upper Cholesky factor of H⁻¹
// (H⁻¹ = Uᵀ U), H_F⁻¹[:, q] / sqrt([H_F⁻¹]_qq) = U[q, q:]. So pruning q is
//   err = w_q / U_qq;   w[q:] −= err · U[q, q:]      (which sets w_q to 0)
// and a kept column is simply frozen. The saliency of column j is w_j² / U_jj². The mask is
// chosen block by block (blockSize columns) from the *current* weights, i.e. after the
// compensation of all earlier blocks ("adaptive mask selection"). Here the count is exact per
// row: row r prunes k = round(sparsity · K) weights in total; at the start of each block, the
// row's still-needed count t is given to the t lowest-saliency columns among all columns not
// processed yet (the current block and every later one), and those in the current block are
// pruned now; later ones are re-decided at their own block with updated weights. (SparseGPT
// itself thresholds each block over all rows at once, so its per-row counts vary.)
// Updates are applied eagerly per row; that is arithmetically the same as SparseGPT's lazy
// batched update, so the block size changes only when masks are decided, never the
// compensation for a given mask.
//
// N:M (pattern {n, m}): in every aligned group of m consecutive columns of a row, the n
// lowest-saliency columns are pruned; a group's choice is made when the sweep reaches its first
// column (SparseGPT's rule). K must be a multiple of m, and sparsity must equal n/m.
//
// Pairs (pattern 'pairs'): the unit is the aligned block B = {2j, 2j+1}; row r prunes
// round(sparsity · ceil(K/2)) blocks. A block's saliency is the OBS group criterion
// w_Bᵀ ([H_F⁻¹]_BB)⁻¹ w_B with F = {2j, ..., K−1} as the sweep sees it; with the upper factor U
// that is a² + b², a = w_2j / U_2j,2j, b = (w_2j+1 − a·U_2j,2j+1) / U_2j+1,2j+1 (the two
// columns' successive OBS costs), and pruning both columns one after the other with the
// single-column step below is exactly the block update −H_F⁻¹[:, B] ([H_F⁻¹]_BB)⁻¹ w_B. The
// adaptive selection is as for unstructured, over blocks (mask blocks rounded up to even).
//
// Re-fit (default on, opts.refit): once the mask is final, each row's kept weights are solved
// exactly for it (least squares, the damped H), which also undoes the sweep's "frozen once
// passed" restriction. refit: false returns SparseGPT's sweep output unchanged.
//
// Dead inputs: a column i with H_ii = 0 never sees a non-zero input; its weights are set to 0
// and H_ii to 1 before damping (SparseGPT). They count as pruned first (saliency 0), so a row
// ends with max(k, dead columns) zeros. Damping: H + λI with λ = damp · mean(diag H), raised ×10
// while a Cholesky factorization fails.

import { SparrowError } from '../errors.js';
import { choleskyInverse, choleskyDamped, inverseUpperCholesky, solveSpd } from './linalg.js';

/**
 * 'unstructured'; N:M along K; 'pairs': aligned 1x2 blocks along K (columns 2j, 2j+1 of a row
 * both kept or both pruned; an odd K's last column is a block of one), what the int8 pair-block
 * sparse conv kernels run without shuffles (obsPrune only).
 */
export type SparsityPattern = 'unstructured' | 'pairs' | { n: number; m: number };

export interface ObsOptions {
  /** columns per mask-selection block (default 128) */
  blockSize?: number;
  /** relative damping: λ = damp · mean(diag H) (default 0.01) */
  damp?: number;
  /** 'unstructured' (default) or N:M along K */
  pattern?: SparsityPattern;
  /**
   * A fixed mask (rows, K), 1 = prune: skips mask selection and only compensates (the
   * sparsity argument and pattern are then not used). For experiments and tests.
   */
  mask?: Uint8Array;
  /**
   * After the sweep, re-solve each row's kept weights exactly for the final mask (default
   * true): ŵ_F = w_F + H_FF⁻¹ H_FM w_M (F kept, M pruned, damped H), the least-squares optimum
   * for that mask. SparseGPT's sweep freezes a column once passed, so its compensation is
   * only optimal column by column; the re-fit never does worse on the damped objective and
   * costs O(|F|³/3) per row. false = SparseGPT's weights as they come out of the sweep.
   */
  refit?: boolean;
}

export interface ObsStats {
  /** the damping λ actually added to diag H */
  lambda: number;
  /** times λ had to be raised for the factorizations to succeed */
  dampRetries: number;
  /** columns with H_ii = 0 (their weights were zeroed) */
  deadInputs: number;
  /** weights set to zero (the mask, dead columns included): (rows · k) for unstructured */
  pruned: number;
  /** the mask applied, (rows, K), 1 = pruned */
  mask: Uint8Array;
}

interface Problem {
  rows: number;
  K: number;
}

function checkSparsity(sparsity: number): void {
  if (typeof sparsity !== 'number' || !Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1) {
    throw new SparrowError('invalid_argument', `sparsity must be a number in [0, 1), got ${String(sparsity)}`);
  }
}

/** Rows and K from W (rows·K) and H (K·K); validates finiteness and diag H ≥ 0. */
function problemOf(W: Float32Array, H: Float64Array, where: string): Problem {
  if (!(W instanceof Float32Array)) throw new SparrowError('invalid_argument', `${where}: W must be a Float32Array`);
  if (!(H instanceof Float64Array)) throw new SparrowError('invalid_argument', `${where}: H must be a Float64Array`);
  const K = Math.round(Math.sqrt(H.length));
  if (K * K !== H.length || K === 0)
    throw new SparrowError('invalid_argument', `${where}: H has ${H.length} elements, not a non-empty K x K matrix`);
  if (W.length % K !== 0)
    throw new SparrowError('invalid_argument', `${where}: W has ${W.length} elements, not a multiple of K = ${K} (W must be (rows, K))`);
  for (let i = 0; i < W.length; i++) {
    if (!Number.isFinite(W[i]!)) throw new SparrowError('invalid_argument', `${where}: weight at index ${i} is not finite (${W[i]})`);
  }
  for (let i = 0; i < H.length; i++) {
    if (!Number.isFinite(H[i]!)) throw new SparrowError('invalid_argument', `${where}: H at index ${i} is not finite (${H[i]})`);
  }
  for (let i = 0; i < K; i++) {
    if (H[i * K + i]! < 0)
      throw new SparrowError('invalid_argument', `${where}: H[${i},${i}] = ${H[i * K + i]} is negative (H must be positive semidefinite)`);
  }
  return { rows: W.length / K, K };
}

function checkPattern(pattern: SparsityPattern, K: number, sparsity: number, where: string): { n: number; m: number } | null {
  if (pattern === 'unstructured') return null;
  if (pattern === 'pairs') throw new SparrowError('invalid_argument', `${where}: the 'pairs' pattern is for obsPrune (SparseGPT) only`);
  if (typeof pattern !== 'object' || pattern === null)
    throw new SparrowError('invalid_argument', `${where}: pattern must be 'unstructured' or { n, m }`);
  const { n, m } = pattern;
  if (!Number.isInteger(n) || !Number.isInteger(m) || m < 1 || n < 0 || n >= m) {
    throw new SparrowError('invalid_argument', `${where}: N:M pattern needs integers 0 <= n < m, got ${n}:${m}`);
  }
  if (K % m !== 0) throw new SparrowError('invalid_argument', `${where}: N:M pattern ${n}:${m} needs K (${K}) to be a multiple of ${m}`);
  if (Math.abs(sparsity - n / m) > 1e-9) {
    throw new SparrowError('invalid_argument', `${where}: sparsity ${sparsity} does not match the ${n}:${m} pattern (${n / m})`);
  }
  return { n, m };
}

function checkDamp(damp: number, where: string): void {
  if (typeof damp !== 'number' || !Number.isFinite(damp) || damp < 0)
    throw new SparrowError('invalid_argument', `${where}: damp must be a finite number >= 0, got ${String(damp)}`);
}

/**
 * H with dead columns fixed (H_ii = 0 → row/column i zeroed, H_ii = 1) plus λ I, λ = damp · mean diag.
 * Zeroes the dead columns of W64 in place. H: (K, K), W64: (rows, K).
 */
function prepareHessian(
  H: Float64Array,
  W64: Float64Array,
  p: Problem,
  damp: number,
): { Hd: Float64Array; lambda: number; dead: Uint8Array; deadCount: number } {
  const { rows, K } = p;
  const Hd = Float64Array.from(H);
  const dead = new Uint8Array(K);
  let deadCount = 0;
  for (let i = 0; i < K; i++) {
    if (Hd[i * K + i] === 0) {
      dead[i] = 1;
      deadCount++;
      for (let j = 0; j < K; j++) {
        Hd[i * K + j] = 0;
        Hd[j * K + i] = 0;
      }
      Hd[i * K + i] = 1;
      for (let r = 0; r < rows; r++) W64[r * K + i] = 0;
    }
  }
  let mean = 0;
  for (let i = 0; i < K; i++) mean += Hd[i * K + i]!;
  mean /= K;
  const lambda = damp * mean;
  for (let i = 0; i < K; i++) Hd[i * K + i]! += lambda;
  return { Hd, lambda, dead, deadCount };
}

/** Indices of `cand` sorted by (score ascending, index ascending). */
function sortByScore(cand: number[], score: Float64Array): number[] {
  return cand.sort((a, b) => score[a]! - score[b]! || a - b);
}

/**
 * SparseGPT: prunes each row of W (rows, K) to exactly round(sparsity · K) zeros (or the N:M
 * pattern) and compensates the kept weights, using H = 2 XᵀX (K, K) of the layer's inputs;
 * then (unless opts.refit is false) re-fits the kept weights exactly for the final mask.
 * Returns a new Float32Array (rows, K); W and H are not modified. See the file header.
 * Throws SparrowError('invalid_argument') on bad shapes, non-finite values, a sparsity outside
 * [0, 1), or an N:M pattern that does not fit.
 */
export function obsPrune(W: Float32Array, H: Float64Array, sparsity: number, opts: ObsOptions = {}): Float32Array {
  return obsPruneDetailed(W, H, sparsity, opts).W;
}

/** obsPrune plus what happened (damping used, dead inputs, the mask). */
export function obsPruneDetailed(
  W: Float32Array,
  H: Float64Array,
  sparsity: number,
  opts: ObsOptions = {},
): { W: Float32Array; stats: ObsStats } {
  const where = 'obsPrune';
  const p = problemOf(W, H, where);
  const { rows, K } = p;
  const damp = opts.damp ?? 0.01;
  checkDamp(damp, where);
  const blockSize0 = opts.blockSize ?? 128;
  if (!Number.isInteger(blockSize0) || blockSize0 < 1)
    throw new SparrowError('invalid_argument', `${where}: blockSize must be an integer >= 1, got ${String(blockSize0)}`);
  const fixed = opts.mask;
  let nm: { n: number; m: number } | null = null;
  let pairs = false;
  if (fixed) {
    if (!(fixed instanceof Uint8Array) || fixed.length !== rows * K)
      throw new SparrowError('invalid_argument', `${where}: mask must be a Uint8Array of ${rows * K} elements`);
  } else {
    checkSparsity(sparsity);
    pairs = opts.pattern === 'pairs';
    if (!pairs) nm = checkPattern(opts.pattern ?? 'unstructured', K, sparsity, where);
  }
  // pairs: a mask block never splits a pair
  const blockSize = pairs ? blockSize0 + (blockSize0 & 1) : blockSize0;

  const W64 = Float64Array.from(W); // (rows, K), updated in place
  const { Hd, lambda: lam0, dead, deadCount } = prepareHessian(H, W64, p, damp);
  const { U, lambda, retries } = inverseUpperCholesky(Hd, K, 0);
  // U: (K, K) upper, H'⁻¹ = Uᵀ U; lambda here is any extra shift beyond lam0
  const Udiag2 = new Float64Array(K);
  for (let j = 0; j < K; j++) Udiag2[j] = U[j * K + j]! * U[j * K + j]!;

  const target = fixed ? 0 : pairs ? Math.round(sparsity * ((K + 1) >> 1)) : Math.min(K, Math.round(sparsity * K));
  /** the OBS cost of pruning the block {j, j+1} (just {j} at an odd K's end), F = {j..K−1} */
  const pairScore = (w: Float64Array, j: number): number => {
    const a = w[j]! / U[j * K + j]!;
    if (j + 1 >= K) return a * a;
    const b = (w[j + 1]! - a * U[j * K + j + 1]!) / U[(j + 1) * K + j + 1]!;
    return a * a + b * b;
  };
  const mask = new Uint8Array(rows * K);
  const score = new Float64Array(K);
  let pruned = 0;

  for (let r = 0; r < rows; r++) {
    const w = W64.subarray(r * K, (r + 1) * K); // the row, (K)
    const mrow = mask.subarray(r * K, (r + 1) * K);
    let done = 0; // pruned so far in this row
    if (fixed) mrow.set(fixed.subarray(r * K, (r + 1) * K));
    for (let i1 = 0; i1 < K; i1 += blockSize) {
      const i2 = Math.min(K, i1 + blockSize);
      // Adaptive selection: the row's remaining quota over all unprocessed columns (blocks).
      if (pairs) {
        const need = target - done;
        if (need > 0) {
          const cand: number[] = [];
          for (let j = i1; j < K; j += 2) {
            score[j] = pairScore(w, j);
            cand.push(j);
          }
          const order = sortByScore(cand, score);
          for (let t = 0; t < need; t++) {
            const j = order[t]!;
            if (j < i2) {
              mrow[j] = 1;
              if (j + 1 < K) mrow[j + 1] = 1;
              done++;
            }
          }
        }
      } else if (!fixed && !nm) {
        const need = target - done;
        if (need > 0) {
          const cand: number[] = [];
          for (let j = i1; j < K; j++) {
            score[j] = (w[j]! * w[j]!) / Udiag2[j]!;
            cand.push(j);
          }
          const order = sortByScore(cand, score);
          for (let t = 0; t < need; t++) {
            const j = order[t]!;
            if (j < i2) {
              mrow[j] = 1;
              done++;
            }
          }
        }
      }
      for (let q = i1; q < i2; q++) {
        if (nm && q % nm.m === 0 && nm.n > 0) {
          // N:M: choose this group's n columns now, from the current weights.
          const cand: number[] = [];
          for (let j = q; j < q + nm.m; j++) {
            score[j] = (w[j]! * w[j]!) / Udiag2[j]!;
            cand.push(j);
          }
          const order = sortByScore(cand, score);
          for (let t = 0; t < nm.n; t++) mrow[order[t]!] = 1;
        }
        if (!mrow[q]) continue;
        // OBS step on the free set {q, ..., K-1}: err = w_q / U_qq; w[q:] -= err · U[q, q:]
        const err = w[q]! / U[q * K + q]!;
        if (err !== 0) {
          const urow = q * K;
          for (let j = q + 1; j < K; j++) w[j]! -= err * U[urow + j]!;
        }
        w[q] = 0;
      }
    }
    for (let j = 0; j < K; j++) {
      if (dead[j] && !mrow[j]) {
        w[j] = 0;
      } // stays exactly 0 anyway (U decouples it); make it explicit
      if (mrow[j] || dead[j]) pruned++;
    }
  }

  const out = new Float32Array(rows * K);
  for (let i = 0; i < out.length; i++) out[i] = mask[i] ? 0 : W64[i]!;
  if (opts.refit !== false) refitRows(W, Hd, lambda, mask, dead, rows, K, out);
  return { W: out, stats: { lambda: lam0 + lambda, dampRetries: retries, deadInputs: deadCount, pruned, mask } };
}

/**
 * Least-squares re-fit per row for a fixed mask: for row r with kept set F (not masked, not
 * dead) and pruned set M, out[r, F] = w_F + (H_FF + extra·I)⁻¹ H_FM w_M with the original
 * weights w = W[r]. Hd: damped (K, K); writes `out` (rows, K) in place (pruned entries stay 0).
 */
function refitRows(
  W: Float32Array,
  Hd: Float64Array,
  extra: number,
  mask: Uint8Array,
  dead: Uint8Array,
  rows: number,
  K: number,
  out: Float32Array,
): void {
  const F = new Int32Array(K),
    M = new Int32Array(K);
  for (let r = 0; r < rows; r++) {
    let nF = 0,
      nM = 0;
    for (let j = 0; j < K; j++) {
      if (mask[r * K + j] || dead[j]) M[nM++] = j;
      else F[nF++] = j;
    }
    if (nF === 0) continue;
    const A = new Float64Array(nF * nF); // H_FF: (nF, nF)
    const b = new Float64Array(nF); // H_FM w_M: (nF)
    for (let a = 0; a < nF; a++) {
      const ha = F[a]! * K;
      for (let c = 0; c < nF; c++) A[a * nF + c] = Hd[ha + F[c]!]!;
      A[a * nF + a]! += extra;
      let t = 0;
      for (let m = 0; m < nM; m++) t += Hd[ha + M[m]!]! * W[r * K + M[m]!]!;
      b[a] = t;
    }
    const x = solveSpd(A, b, nF);
    for (let a = 0; a < nF; a++) out[r * K + F[a]!] = W[r * K + F[a]!]! + x[a]!;
  }
}

export interface ExactObsOptions {
  /** relative damping (default 0.01; 0 = none unless a factorization fails) */
  damp?: number;
  pattern?: SparsityPattern;
  /**
   * removals per row (rows), instead of round(sparsity · K) each (unstructured only): OBC's
   * layer mask (obcLayerCounts) gives rows different counts
   */
  rowCounts?: Int32Array;
  /** fill `trace` (rows·K): the saliency w_q²/[H_F⁻¹]_qq of each successive removal of each row */
  trace?: Float64Array;
}

/** What exact greedy OBS starts from: shared by obsPruneExact and the WASM twin (obc.ts). */
export interface ExactObsSetup {
  rows: number;
  K: number;
  /** the weights (rows, K), dead columns zeroed */
  W64: Float64Array;
  /** (H + λI)⁻¹ (K, K), full and symmetric, dead columns decoupled */
  Hinv: Float64Array;
  /** columns with H_ii = 0 */
  dead: Uint8Array;
  /** weights pruned per row */
  target: number;
  nm: { n: number; m: number } | null;
}

/** The per-row removal counts: opts.rowCounts (checked) or `target` for every row. */
export function rowCountsOf(opts: ExactObsOptions, rows: number, K: number, target: number, nm: unknown): Int32Array {
  if (!opts.rowCounts) return new Int32Array(rows).fill(target);
  const c = opts.rowCounts;
  if (nm) throw new SparrowError('invalid_argument', 'obsPruneExact: rowCounts is for unstructured sparsity, not N:M');
  if (!(c instanceof Int32Array) || c.length !== rows || c.some((x) => x < 0 || x > K))
    throw new SparrowError('invalid_argument', `obsPruneExact: rowCounts must be an Int32Array of ${rows} counts in 0..${K}`);
  if (opts.trace && opts.trace.length !== rows * K)
    throw new SparrowError('invalid_argument', `obsPruneExact: trace must have ${rows * K} elements`);
  return c;
}

/**
 * OBC's layer mask: given each row's greedy saliency trace (obsPruneExact's `trace`, each row
 * pruned to the end), the per-row counts k_r with Σ k_r = total that minimize Σ_r (loss of row
 * r's first k_r removals): the `total` smallest trace entries over all rows, each row's taken
 * as a prefix (a removal counts only with the ones before it, so a row's entries are first made
 * non-decreasing by a running maximum). rows × K trace; returns (rows) counts.
 */
export function obcLayerCounts(trace: Float64Array, rows: number, K: number, depth: number, total: number): Int32Array {
  const entries: Array<{ r: number; v: number }> = [];
  for (let r = 0; r < rows; r++) {
    let run = 0;
    for (let s = 0; s < depth; s++) {
      run = Math.max(run, trace[r * K + s]!);
      entries.push({ r, v: run });
    }
  }
  entries.sort((a, b) => a.v - b.v || a.r - b.r);
  const counts = new Int32Array(rows);
  for (let i = 0; i < Math.min(total, entries.length); i++) counts[entries[i]!.r]!++;
  return counts;
}

/** Checks the arguments and prepares exact greedy OBS (file header; obsPruneExact). */
export function exactObsSetup(
  W: Float32Array,
  H: Float64Array,
  sparsity: number,
  opts: ExactObsOptions = {},
  where = 'obsPruneExact',
): ExactObsSetup {
  const p = problemOf(W, H, where);
  const { rows, K } = p;
  checkSparsity(sparsity);
  const damp = opts.damp ?? 0.01;
  checkDamp(damp, where);
  const nm = checkPattern(opts.pattern ?? 'unstructured', K, sparsity, where);
  const W64 = Float64Array.from(W);
  const { Hd, dead } = prepareHessian(H, W64, p, damp);
  const { L } = choleskyDamped(Hd, K, 0);
  const Hinv = choleskyInverse(L, K); // (K, K)
  const target = nm ? (K / nm.m) * nm.n : Math.min(K, Math.round(sparsity * K));
  return { rows, K, W64, Hinv, dead, target, nm };
}

/**
 * Exact greedy OBS (OBC): per row, repeatedly removes the free weight of least saliency
 * w_q² / [H_F⁻¹]_qq, re-fits all other free weights optimally (δ = −w_q/[H_F⁻¹]_qq · H_F⁻¹[:, q])
 * and downdates H_F⁻¹, until round(sparsity · K) weights (or n per N:M group) are gone. The
 * kept weights are then the least-squares optimum for the chosen mask (w.r.t. the damped H).
 * O(rows · k · K²): the plain reference of the WASM kernel (src/compress/obc.ts,
 * assembly/obc.ts), which compress uses. W: (rows, K), H: (K, K).
 */
export function obsPruneExact(W: Float32Array, H: Float64Array, sparsity: number, opts: ExactObsOptions = {}): Float32Array {
  return obsPruneExactDetailed(W, H, sparsity, opts).W;
}

/** obsPruneExact plus the mask (rows, K), 1 = pruned (dead columns included). */
export function obsPruneExactDetailed(
  W: Float32Array,
  H: Float64Array,
  sparsity: number,
  opts: ExactObsOptions = {},
): { W: Float32Array; mask: Uint8Array } {
  const { rows, K, W64, Hinv: Hinv0, dead, target: uniformTarget, nm } = exactObsSetup(W, H, sparsity, opts);
  const counts = rowCountsOf(opts, rows, K, uniformTarget, nm);
  const out = new Float32Array(rows * K);
  const mask = new Uint8Array(rows * K).fill(1);
  // Per row, the free set is kept compact: idx[t] = original column of free slot t, w (nf) its
  // weights, Hc (nf, nf) = H_F⁻¹. Removing slot q downdates and compacts Hc in place.
  const Hc = new Float64Array(K * K);
  const w = new Float64Array(K);
  const idx = new Int32Array(K);
  const colQ = new Float64Array(K);
  const groupCount = new Int32Array(nm ? K / nm.m : 0);
  for (let r = 0; r < rows; r++) {
    Hc.set(Hinv0);
    for (let j = 0; j < K; j++) {
      idx[j] = j;
      w[j] = W64[r * K + j]!;
    }
    groupCount.fill(0);
    let nf = K;
    const target = counts[r]!;
    for (let step = 0; step < target; step++) {
      let q = -1,
        bestScore = Infinity;
      for (let t = 0; t < nf; t++) {
        if (nm && groupCount[Math.floor(idx[t]! / nm.m)]! >= nm.n) continue;
        const sc = (w[t]! * w[t]!) / Hc[t * nf + t]!;
        if (sc < bestScore) {
          bestScore = sc;
          q = t;
        }
      }
      if (opts.trace) opts.trace[r * K + step] = bestScore;
      const d = Hc[q * nf + q]!;
      const f = w[q]! / d;
      // Hc is symmetric; only its lower triangle (j <= i) is kept up to date.
      for (let t = 0; t < nf; t++) colQ[t] = t <= q ? Hc[q * nf + t]! : Hc[t * nf + q]!;
      for (let t = 0; t < nf; t++) w[t]! -= f * colQ[t]!;
      if (nm) groupCount[Math.floor(idx[q]! / nm.m)]!++;
      // Hc' = Hc − Hc[:, q] Hc[q, :] / d without row and column q (lower triangle), written over
      // Hc: every write lands at or before the element just read, so in place is safe (row and
      // column q are in colQ).
      const m = nf - 1;
      for (let i = 0, io = 0; i < nf; i++) {
        if (i === q) continue;
        const c = colQ[i]! / d,
          src = i * nf,
          dst = io * m;
        const jEnd = Math.min(i, q - 1);
        for (let j = 0; j <= jEnd; j++) Hc[dst + j] = Hc[src + j]! - c * colQ[j]!;
        for (let j = q + 1; j <= i; j++) Hc[dst + j - 1] = Hc[src + j]! - c * colQ[j]!;
        io++;
      }
      for (let t = q; t < m; t++) {
        w[t] = w[t + 1]!;
        idx[t] = idx[t + 1]!;
      }
      nf = m;
    }
    for (let t = 0; t < nf; t++) {
      const j = idx[t]!;
      if (!dead[j]) {
        out[r * K + j] = w[t]!;
        mask[r * K + j] = 0;
      }
    }
  }
  return { W: out, mask };
}

export interface ObdOptions {
  pattern?: SparsityPattern;
}

/**
 * Optimal Brain Damage (diagonal) pruning: per row, zeroes the round(sparsity · K) weights of
 * least saliency w_j² · H_jj (ties: lower index first), or the n least per N:M group; no
 * compensation. Columns with H_jj = 0 have saliency 0 and go first. W: (rows, K), H: (K, K)
 * (only its diagonal is read). Returns a new Float32Array.
 */
export function obdPrune(W: Float32Array, H: Float64Array, sparsity: number, opts: ObdOptions = {}): Float32Array {
  const where = 'obdPrune';
  const { rows, K } = problemOf(W, H, where);
  checkSparsity(sparsity);
  const nm = checkPattern(opts.pattern ?? 'unstructured', K, sparsity, where);
  const out = Float32Array.from(W);
  const score = new Float64Array(K);
  const target = Math.min(K, Math.round(sparsity * K));
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < K; j++) {
      const v = W[r * K + j]!;
      score[j] = v * v * H[j * K + j]!;
    }
    if (nm) {
      for (let g = 0; g < K; g += nm.m) {
        const order = sortByScore(
          Array.from({ length: nm.m }, (_, t) => g + t),
          score,
        );
        for (let t = 0; t < nm.n; t++) out[r * K + order[t]!] = 0;
      }
    } else {
      const order = sortByScore(
        Array.from({ length: K }, (_, j) => j),
        score,
      );
      for (let t = 0; t < target; t++) out[r * K + order[t]!] = 0;
    }
  }
  return out;
}

/**
 * The layer reconstruction error ‖X Wᵀ − X Ŵᵀ‖²_F = ½ Σ_r (w_r − ŵ_r)ᵀ H (w_r − ŵ_r) for
 * H = 2 XᵀX. W, What: (rows, K), H: (K, K). Float64 throughout.
 */
export function reconstructionError(W: Float32Array | Float64Array, What: Float32Array | Float64Array, H: Float64Array): number {
  const K = Math.round(Math.sqrt(H.length));
  if (K * K !== H.length || W.length !== What.length || W.length % K !== 0) {
    throw new SparrowError(
      'invalid_argument',
      `reconstructionError: W (${W.length}), What (${What.length}) and H (${H.length}) do not fit (rows, K) / (K, K)`,
    );
  }
  const rows = W.length / K;
  const d = new Float64Array(K);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < K; j++) d[j] = W[r * K + j]! - What[r * K + j]!;
    for (let i = 0; i < K; i++) {
      const di = d[i]!;
      if (di === 0) continue;
      let s = 0;
      const hi = i * K;
      for (let j = 0; j < K; j++) s += H[hi + j]! * d[j]!;
      total += di * s;
    }
  }
  return total / 2;
}

/** The Hessian statistics of one layer, as calib.ts produces them (one H per conv group). */
export interface LayerHessians {
  /** one (K, K) matrix per group; rows g·rows/groups .. (g+1)·rows/groups − 1 use groupH[g] */
  groupH: readonly Float64Array[];
}

export type PruneMethod = 'obs' | 'obs-exact' | 'obd' | 'magnitude-rows';

/**
 * Prunes a whole layer W: (rows, K) with per-group Hessians (grouped / depthwise Conv): row
 * block g goes through `method` with groupH[g]. 'obs' = obsPrune (SparseGPT), 'obs-exact' =
 * obsPruneExact (slow: O(rows · K³) for large sparsities), 'obd' = obdPrune,
 * 'magnitude-rows' = per-row magnitude (obdPrune with H = I). Returns a new (rows, K) array.
 */
export function hessianPrune(
  W: Float32Array,
  stats: LayerHessians,
  sparsity: number,
  method: PruneMethod = 'obs',
  opts: ObsOptions = {},
): Float32Array {
  const G = stats.groupH.length;
  if (G < 1) throw new SparrowError('invalid_argument', 'hessianPrune: no Hessian given');
  const K = Math.round(Math.sqrt(stats.groupH[0]!.length));
  if (W.length % (K * G) !== 0)
    throw new SparrowError(
      'invalid_argument',
      `hessianPrune: W has ${W.length} elements, not (rows, ${K}) with rows a multiple of ${G} groups`,
    );
  const rowsPerGroup = W.length / K / G;
  const out = new Float32Array(W.length);
  for (let g = 0; g < G; g++) {
    const Wg = W.subarray(g * rowsPerGroup * K, (g + 1) * rowsPerGroup * K);
    let H = stats.groupH[g]!;
    let res: Float32Array;
    if (method === 'obs') res = obsPrune(Float32Array.from(Wg), H, sparsity, opts);
    else if (method === 'obs-exact') {
      res = obsPruneExact(Float32Array.from(Wg), H, sparsity, {
        ...(opts.damp !== undefined ? { damp: opts.damp } : {}),
        ...(opts.pattern ? { pattern: opts.pattern } : {}),
      });
    } else {
      if (method === 'magnitude-rows') {
        H = new Float64Array(K * K);
        for (let i = 0; i < K; i++) H[i * K + i] = 1;
      } else if (method !== 'obd') throw new SparrowError('invalid_argument', `hessianPrune: unknown method '${String(method)}'`);
      res = obdPrune(Float32Array.from(Wg), H, sparsity, opts.pattern ? { pattern: opts.pattern } : {});
    }
    out.set(res, g * rowsPerGroup * K);
  }
  return out;
}
