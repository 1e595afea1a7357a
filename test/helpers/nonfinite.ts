// Inputs with NaN, ±Inf and denormals, and the comparison of an engine's outputs with
// onnxruntime-node's under the NaN/Inf rules (test/nonfinite.ort.test.ts: sparrow-f32 and the
// reference; test/nonfinite.int8.test.ts: sparrow-int8).
import type { Tensor } from '../../src/ops/types.js';
import { lcg } from './tensors.js';

const numel = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);
const DENORMS = [1e-40, -2.5e-39, 7e-45, -1.1754942e-38];
export const SPECIALS = [NaN, Infinity, -Infinity, 1e-40, -2.5e-39, 0, -0];

export type Kind = 'mixed' | 'inf' | 'denormal';

/** A float32 tensor of normal values in [lo, hi] with specials of `kind` at every 5th position of its first 60%. */
export function feedOf(dims: number[], seed: number, kind: Kind, lo = -2, hi = 2): Tensor {
  const n = numel(dims),
    r = lcg(seed);
  const pool = kind === 'mixed' ? SPECIALS : kind === 'inf' ? SPECIALS.filter((v) => !Number.isNaN(v)) : [...DENORMS, 0, -0];
  const data = new Float32Array(n);
  let k = 0; // NaN (mixed) comes first: small tensors hold one too
  for (let i = 0; i < n; i++) {
    const v = lo + (hi - lo) * r();
    data[i] = i % 5 === 2 && i < n * 0.6 ? pool[k++ % pool.length]! : v;
  }
  return { dtype: 'float32', dims, data };
}

/** |a − b| ≤ atol + rtol·|b| on finite values, or 'exact' (===) */
export type Tol = { atol: number; rtol: number } | 'exact';
/**
 * Where onnxruntime does not propagate NaN the way IEEE arithmetic does: 'propagate' = Sparrow
 * keeps NaN (its NaN ⊇ onnxruntime's), 'zero-weight' = onnxruntime also multiplies neighbours of
 * weight 0 (0 · ±Inf = NaN) that Sparrow skips (its NaN ⊆ onnxruntime's); elsewhere equal.
 */
export type NanRule = 'propagate' | 'zero-weight';

const show = (v: number) => (Object.is(v, -0) ? '-0' : String(v));

/**
 * The first element where `got` breaks the rule against onnxruntime's `want` (NaN where and only
 * where it has NaN, ±Inf equal, finite within tol), or null.
 */
export function nonFiniteDiff(got: Tensor, want: Tensor, tol: Tol, rule?: NanRule): string | null {
  if (got.dims.join() !== want.dims.join()) return `dims [${got.dims}] vs [${want.dims}]`;
  const t = tol;
  for (let i = 0; i < want.data.length; i++) {
    const a = Number(got.data[i]),
      b = Number(want.data[i]);
    if (Number.isNaN(b) || Number.isNaN(a)) {
      const allowed = rule === 'propagate' ? Number.isNaN(a) : rule === 'zero-weight' ? Number.isNaN(b) : false;
      if (Number.isNaN(a) !== Number.isNaN(b) && !allowed) return `[${i}]: ${show(a)}, onnxruntime ${show(b)}`;
      continue;
    }
    if (!Number.isFinite(b) || !Number.isFinite(a)) {
      if (a !== b) return `[${i}]: ${show(a)}, onnxruntime ${show(b)}`;
      continue;
    }
    const ok = t === 'exact' ? a === b : Math.abs(a - b) <= t.atol + t.rtol * Math.abs(b);
    if (!ok) return `[${i}]: ${show(a)}, onnxruntime ${show(b)}`;
  }
  return null;
}

export const nanMask = (t: Tensor): string => Array.from(t.data as Float32Array, (v) => (Number.isNaN(v) ? '1' : '0')).join('');

/** How many NaN, ±Inf and denormal values a tensor holds (so that a case can't pass on clean data). */
export function census(t: Tensor): { nan: number; inf: number; denormal: number } {
  let nan = 0,
    inf = 0,
    denormal = 0;
  for (const v of t.data as Float32Array) {
    if (Number.isNaN(v)) nan++;
    else if (!Number.isFinite(v)) inf++;
    else if (v !== 0 && Math.abs(v) < 1.1754943508222875e-38) denormal++;
  }
  return { nan, inf, denormal };
}
