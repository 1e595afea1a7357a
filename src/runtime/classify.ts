// A classifier's answer: the top-k classes of each row of its [N, C] scores, with probabilities
// (softmax of the row, unless the row already is a distribution) and the stored class names.
// Shared by `sparrow run`, the Worker's /classify and the demo. Plain TS.
import { SparrowError } from '../errors.js';
import type { Tensor } from '../ops/types.js';

export interface TopEntry {
  /** class name (metadata.labels), or null when the file stores none */
  label: string | null;
  index: number;
  /** probability: softmax of the row (or the row itself when it already sums to 1 with entries in [0, 1]) */
  p: number;
}

/** Softmax of one row (max subtracted first); a row that already is a distribution is returned as it is. */
export function probabilities(row: ArrayLike<number>): Float64Array {
  const n = row.length;
  const out = new Float64Array(n);
  let sum = 0,
    inUnit = true,
    max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = row[i]!;
    sum += v;
    if (!(v >= 0 && v <= 1)) inUnit = false;
    if (v > max) max = v;
  }
  if (inUnit && Math.abs(sum - 1) < 1e-4) {
    for (let i = 0; i < n; i++) out[i] = row[i]!;
    return out;
  }
  if (!Number.isFinite(max)) {
    out.fill(NaN);
    return out;
  }
  let z = 0;
  for (let i = 0; i < n; i++) z += out[i] = Math.exp(row[i]! - max);
  for (let i = 0; i < n; i++) out[i]! /= z;
  return out;
}

/**
 * Top-k of each row of a [N, C] float32 tensor, best first (ties: the lower index first, as
 * argmax); `labels` (length C) names the classes.
 */
export function topK(t: Tensor, k: number, labels: readonly string[] | null): TopEntry[][] {
  if (t.dtype !== 'float32' || t.dims.length !== 2)
    throw new SparrowError('invalid_argument', `top-k takes [N, C] float32 scores, got ${t.dtype} [${t.dims}]`);
  const [N, C] = t.dims as [number, number];
  if (labels && labels.length !== C)
    throw new SparrowError('invalid_argument', `the model stores ${labels.length} labels for ${C} classes`);
  const d = t.data as Float32Array;
  const rows: TopEntry[][] = [];
  for (let n = 0; n < N; n++) {
    const row = d.subarray(n * C, (n + 1) * C);
    const p = probabilities(row);
    const order = Array.from({ length: C }, (_, i) => i).sort((a, b) => row[b]! - row[a]! || a - b);
    rows.push(
      order.slice(0, Math.min(k, C)).map((i) => ({ label: labels ? labels[i]! : null, index: i, p: Math.round(p[i]! * 1e6) / 1e6 })),
    );
  }
  return rows;
}
