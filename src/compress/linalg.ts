// Dense float64 linear algebra for the Hessian-based pruners (src/compress/obs.ts).
// Reference-first: plain loops over row-major Float64Arrays; every matrix is (rows, cols)
// flattened in C order, element (i, j) at [i * cols + j]. Shapes are given in the comments.
//
// What OBS / SparseGPT need: a Cholesky factorization of the damped Hessian H, its inverse
// H⁻¹ = (L Lᵀ)⁻¹ computed from the factor, and the *upper* Cholesky factor U of H⁻¹
// (H⁻¹ = Uᵀ U). Row q of U restricted to columns ≥ q is H_F⁻¹'s column q scaled by
// 1/sqrt([H_F⁻¹]_qq) for F = {q, ..., K-1}, the weights still free when column q is pruned
// in a left-to-right sweep: that is what lets SparseGPT update the remaining weights with
// one row of U instead of re-inverting.

import { SparrowError } from '../errors.js';

function checkSquare(A: Float64Array, n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0) throw new SparrowError('invalid_argument', `${what}: invalid order ${n}`);
  if (A.length !== n * n) throw new SparrowError('invalid_argument', `${what}: expected ${n}x${n} = ${n * n} elements, got ${A.length}`);
}

/** Thrown (as SparrowError 'invalid_argument') when a matrix is not numerically positive definite. */
function notPd(what: string, j: number, pivot: number): SparrowError {
  return new SparrowError('invalid_argument', `${what}: matrix is not positive definite (pivot ${j} = ${pivot})`, { pivot: j });
}

/**
 * Lower Cholesky factor L of a symmetric positive definite A: A = L Lᵀ.
 * A: (n, n) (only the lower triangle is read). Returns L: (n, n), zeros above the diagonal.
 * Throws SparrowError('invalid_argument') when a pivot is not finite or not above 64·ε·A_jj
 * (positive definiteness lost to rounding).
 */
export function cholesky(A: Float64Array, n: number): Float64Array {
  checkSquare(A, n, 'cholesky');
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;
    let d = A[rowJ + j]!;
    for (let k = 0; k < j; k++) d -= L[rowJ + k]! * L[rowJ + k]!;
    // A pivot lost to cancellation (below 64 ulp of the diagonal entry) counts as not positive:
    // accepting it would give a factor dominated by rounding error.
    if (!(d > 64 * Number.EPSILON * Math.abs(A[rowJ + j]!)) || !Number.isFinite(d)) throw notPd('cholesky', j, d);
    const ljj = Math.sqrt(d);
    L[rowJ + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const rowI = i * n;
      let s = A[rowI + j]!;
      for (let k = 0; k < j; k++) s -= L[rowI + k]! * L[rowJ + k]!;
      L[rowI + j] = s / ljj;
    }
  }
  return L;
}

export interface DampedCholesky {
  /** lower factor of A + lambda I: (n, n) */
  L: Float64Array;
  /** the diagonal shift that made the factorization succeed (the initial one if no retry) */
  lambda: number;
  /** how many times the damping was increased */
  retries: number;
}

/**
 * Cholesky of A + lambda I, retrying with lambda ← max(10 lambda, 1e-8 · mean|diag A|, tiny)
 * when a pivot fails, at most `maxRetries` times. A: (n, n). `lambda` ≥ 0.
 */
export function choleskyDamped(A: Float64Array, n: number, lambda = 0, maxRetries = 12): DampedCholesky {
  checkSquare(A, n, 'choleskyDamped');
  if (!(lambda >= 0) || !Number.isFinite(lambda))
    throw new SparrowError('invalid_argument', `choleskyDamped: lambda must be finite and >= 0, got ${lambda}`);
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += Math.abs(A[i * n + i]!);
  meanDiag = n > 0 ? meanDiag / n : 0;
  const floor = Math.max(1e-8 * meanDiag, 1e-300);
  let lam = lambda;
  for (let retries = 0; ; retries++) {
    const B = lam === 0 ? A : addDiagonal(A, n, lam);
    try {
      return { L: cholesky(B, n), lambda: lam, retries };
    } catch (e) {
      if (retries >= maxRetries) throw e;
      lam = Math.max(10 * lam, floor);
    }
  }
}

/** A + lambda I as a new matrix. A: (n, n) */
export function addDiagonal(A: Float64Array, n: number, lambda: number): Float64Array {
  const B = Float64Array.from(A);
  for (let i = 0; i < n; i++) B[i * n + i]! += lambda;
  return B;
}

/** Inverse of a lower-triangular L with a non-zero diagonal. L: (n, n) → L⁻¹: (n, n), lower. */
export function invertLower(L: Float64Array, n: number): Float64Array {
  checkSquare(L, n, 'invertLower');
  const X = new Float64Array(n * n);
  // Row i of X: X[i, :] = (e_i − Σ_{k<i} L[i, k] X[k, :]) / L[i, i]; X[k, j] = 0 for j > k,
  // so every row update is a contiguous axpy over columns 0..k.
  for (let i = 0; i < n; i++) {
    const xi = i * n;
    X[xi + i] = 1;
    for (let k = 0; k < i; k++) {
      const l = L[i * n + k]!;
      if (l === 0) continue;
      const xk = k * n;
      for (let j = 0; j <= k; j++) X[xi + j]! -= l * X[xk + j]!;
    }
    const d = L[i * n + i]!;
    for (let j = 0; j <= i; j++) X[xi + j]! /= d;
  }
  return X;
}

/**
 * A⁻¹ from the lower Cholesky factor of A (A = L Lᵀ): A⁻¹ = L⁻ᵀ L⁻¹. L: (n, n) → (n, n),
 * exactly symmetric (the upper triangle is mirrored from the lower).
 */
export function choleskyInverse(L: Float64Array, n: number): Float64Array {
  const Li = invertLower(L, n); // (n, n) lower
  const A = new Float64Array(n * n);
  // (L⁻ᵀ L⁻¹)_ij = Σ_k Li[k, i] Li[k, j]: one rank-1 update of the lower triangle per row k
  // of Li (whose entries beyond column k are 0), contiguous in j.
  for (let k = 0; k < n; k++) {
    const lk = k * n;
    for (let i = 0; i <= k; i++) {
      const a = Li[lk + i]!;
      if (a === 0) continue;
      const ai = i * n;
      for (let j = 0; j <= i; j++) A[ai + j]! += a * Li[lk + j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) A[j * n + i] = A[i * n + j]!;
  return A;
}

/**
 * The upper Cholesky factor U of a symmetric positive definite A (A = Uᵀ U), i.e. Lᵀ.
 * A: (n, n) → U: (n, n), zeros below the diagonal.
 */
export function choleskyUpper(A: Float64Array, n: number): Float64Array {
  return transpose(cholesky(A, n), n, n);
}

export interface InverseFactor {
  /** H⁻¹ (of the damped H): (n, n) */
  Hinv: Float64Array;
  /** upper Cholesky factor of H⁻¹: H⁻¹ = Uᵀ U, (n, n) */
  U: Float64Array;
  /** diagonal shift added to H (the requested one, more after retries) */
  lambda: number;
  retries: number;
}

/**
 * For a symmetric positive (semi)definite H: H' = H + lambda I (lambda increased ×10 while a
 * factorization fails), H'⁻¹ via its Cholesky factor, and the upper Cholesky factor of H'⁻¹.
 * H: (n, n). This is SparseGPT's `Hinv = cholesky(cholesky_inverse(cholesky(H)), upper=True)`.
 */
export function inverseUpperCholesky(H: Float64Array, n: number, lambda = 0, maxRetries = 12): InverseFactor {
  checkSquare(H, n, 'inverseUpperCholesky');
  let lam = lambda;
  let retries = 0;
  for (;;) {
    const d = choleskyDamped(H, n, lam, maxRetries - retries);
    lam = d.lambda;
    retries += d.retries;
    const Hinv = choleskyInverse(d.L, n);
    try {
      return { Hinv, U: choleskyUpper(Hinv, n), lambda: lam, retries };
    } catch (e) {
      // H⁻¹ lost definiteness to rounding (H very ill-conditioned): damp more.
      if (retries >= maxRetries) throw e;
      retries++;
      let meanDiag = 0;
      for (let i = 0; i < n; i++) meanDiag += Math.abs(H[i * n + i]!);
      lam = Math.max(10 * lam, 1e-8 * (n > 0 ? meanDiag / n : 0), 1e-300);
    }
  }
}

/** Aᵀ. A: (m, n) → (n, m) */
export function transpose(A: Float64Array, m: number, n: number): Float64Array {
  if (A.length !== m * n) throw new SparrowError('invalid_argument', `transpose: expected ${m}x${n} elements, got ${A.length}`);
  const T = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) T[j * m + i] = A[i * n + j]!;
  return T;
}

/** C = A B. A: (m, k), B: (k, n) → C: (m, n). i-k-j loop order (contiguous inner loop). */
export function matmul(A: Float64Array, B: Float64Array, m: number, k: number, n: number): Float64Array {
  if (A.length !== m * k || B.length !== k * n) {
    throw new SparrowError(
      'invalid_argument',
      `matmul: A has ${A.length} elements (expected ${m}x${k}), B has ${B.length} (expected ${k}x${n})`,
    );
  }
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const c = i * n;
    for (let p = 0; p < k; p++) {
      const a = A[i * k + p]!;
      if (a === 0) continue;
      const b = p * n;
      for (let j = 0; j < n; j++) C[c + j]! += a * B[b + j]!;
    }
  }
  return C;
}

/** C = Aᵀ B. A: (k, m), B: (k, n) → C: (m, n). */
export function matmulTransA(A: Float64Array, B: Float64Array, k: number, m: number, n: number): Float64Array {
  if (A.length !== k * m || B.length !== k * n) {
    throw new SparrowError(
      'invalid_argument',
      `matmulTransA: A has ${A.length} elements (expected ${k}x${m}), B has ${B.length} (expected ${k}x${n})`,
    );
  }
  const C = new Float64Array(m * n);
  for (let p = 0; p < k; p++) {
    for (let i = 0; i < m; i++) {
      const a = A[p * m + i]!;
      if (a === 0) continue;
      const c = i * n,
        b = p * n;
      for (let j = 0; j < n; j++) C[c + j]! += a * B[b + j]!;
    }
  }
  return C;
}

/** C = A Bᵀ. A: (m, k), B: (n, k) → C: (m, n). */
export function matmulTransB(A: Float64Array, B: Float64Array, m: number, k: number, n: number): Float64Array {
  if (A.length !== m * k || B.length !== n * k) {
    throw new SparrowError(
      'invalid_argument',
      `matmulTransB: A has ${A.length} elements (expected ${m}x${k}), B has ${B.length} (expected ${n}x${k})`,
    );
  }
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += A[i * k + p]! * B[j * k + p]!;
      C[i * n + j] = s;
    }
  }
  return C;
}

/**
 * Solves A x = b for a symmetric positive definite A by Cholesky. A: (n, n), b: (n) → x: (n).
 * (Least-squares re-fits in tests and diagnostics.)
 */
export function solveSpd(A: Float64Array, b: Float64Array, n: number): Float64Array {
  const L = cholesky(A, n);
  if (b.length !== n) throw new SparrowError('invalid_argument', `solveSpd: b has ${b.length} elements, expected ${n}`);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * y[k]!;
    y[i] = s / L[i * n + i]!;
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * x[k]!;
    x[i] = s / L[i * n + i]!;
  }
  return x;
}
