// Choosing the next token from a row of logits: greedy (temperature 0: the first index of the
// largest logit, as run.c's sample_argmax), or a draw from softmax(logits / T) restricted to the
// k most likely tokens (top-k), then to the smallest most-likely set whose probability reaches p
// (top-p, nucleus), renormalised: the order Hugging Face's generate() applies its warpers in.
// Draws come from a seeded PRNG (src/util/rng.ts), so a seed reproduces a run. Plain TS.

import { SparrowError } from '../errors.js';
import { mulberry32 } from '../util/rng.js';

export interface SamplingOptions {
  /** 0 = greedy (default 1); > 0 divides the logits before the softmax */
  temperature?: number;
  /** keep the k most likely tokens (0 or undefined = all) */
  topK?: number;
  /** keep the smallest set of most likely tokens whose probability reaches p, 0 < p <= 1 (1 = all) */
  topP?: number;
}

/** The distribution a sampling step draws from: token ids, most likely first, and their probabilities (sum 1). */
export interface TokenDistribution {
  ids: Int32Array;
  probs: Float64Array;
}

/** Throws SparrowError('invalid_argument') for options out of range. */
export function checkSampling(o: SamplingOptions): void {
  const { temperature = 1, topK, topP } = o;
  if (!(Number.isFinite(temperature) && temperature >= 0))
    throw new SparrowError('invalid_argument', `temperature must be a finite number >= 0, got ${temperature}`);
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0))
    throw new SparrowError('invalid_argument', `top-k must be an integer >= 0, got ${topK}`);
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new SparrowError('invalid_argument', `top-p must be in (0, 1], got ${topP}`);
}

/** The first index of the largest value of logits[off .. off + n) (NaN never wins). */
export function argmaxLogits(logits: ArrayLike<number>, off = 0, n = logits.length - off): number {
  let best = 0;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[off + i]!;
    if (v > max) {
      max = v;
      best = i;
    }
  }
  return best;
}

/**
 * The distribution of a sampling step (temperature > 0): softmax(logits / T) in float64, sorted
 * by logit (ties: lower id first), cut to the top k, then to the shortest prefix whose
 * cumulative probability reaches top-p (at least one token), renormalised.
 */
export function tokenDistribution(logits: ArrayLike<number>, o: SamplingOptions = {}, off = 0, n = logits.length - off): TokenDistribution {
  checkSampling(o);
  const T = o.temperature ?? 1;
  if (T === 0) throw new SparrowError('invalid_argument', 'temperature 0 is greedy: no distribution to draw from');
  if (n <= 0) throw new SparrowError('invalid_argument', 'no logits');
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[off + i]! > max) max = logits[off + i]!;
  if (!Number.isFinite(max)) throw new SparrowError('invalid_argument', `the logits have no finite maximum (${max})`);
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = logits[off + i]!;
    p[i] = v === v ? Math.exp((v - max) / T) : 0; // NaN logits get no mass
  }
  // by logit, not by probability: logits a hair apart can round to one probability (fast-check
  // found [-1.4e-45, 0] at T = 0.1), and the more likely token must still come first
  const key = (i: number): number => {
    const v = logits[off + i]!;
    return v === v ? v : -Infinity;
  };
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => key(b) - key(a) || a - b);
  let keep = n;
  if (o.topK !== undefined && o.topK > 0) keep = Math.min(keep, o.topK);
  if (o.topP !== undefined && o.topP < 1) {
    let kept = 0;
    for (let i = 0; i < keep; i++) kept += p[order[i]!]!;
    // the cut applies to the top-k distribution, renormalised
    const target = o.topP * kept;
    let c = 0;
    let m = 0;
    while (m < keep) {
      c += p[order[m]!]!;
      m++;
      if (c >= target) break;
    }
    keep = Math.max(1, m);
  }
  const ids = new Int32Array(keep);
  const probs = new Float64Array(keep);
  let total = 0;
  for (let i = 0; i < keep; i++) total += p[order[i]!]!;
  for (let i = 0; i < keep; i++) {
    ids[i] = order[i]!;
    probs[i] = p[order[i]!]! / total;
  }
  return { ids, probs };
}

/** The token a uniform draw u in [0, 1) selects from a distribution (inverse CDF, most likely first). */
export function drawFrom(d: TokenDistribution, u: number): number {
  let c = 0;
  for (let i = 0; i < d.ids.length; i++) {
    c += d.probs[i]!;
    if (u < c) return d.ids[i]!;
  }
  return d.ids[d.ids.length - 1]!; // rounding: u just below 1
}

/** A sampler over rows of logits: greedy at temperature 0, else seeded draws (seed default 0). */
export class Sampler {
  readonly options: Readonly<SamplingOptions>;
  readonly #rng: () => number;

  constructor(o: SamplingOptions & { seed?: number } = {}) {
    checkSampling(o);
    const { seed = 0, ...rest } = o;
    if (!Number.isInteger(seed)) throw new SparrowError('invalid_argument', `seed must be an integer, got ${seed}`);
    this.options = Object.freeze({ ...rest });
    this.#rng = mulberry32(seed);
  }

  get greedy(): boolean {
    return (this.options.temperature ?? 1) === 0;
  }

  /** The next token from logits[off .. off + n). Greedy draws no random number. */
  next(logits: ArrayLike<number>, off = 0, n = logits.length - off): number {
    if (this.greedy) return argmaxLogits(logits, off, n);
    return drawFrom(tokenDistribution(logits, this.options, off, n), this.#rng());
  }
}
