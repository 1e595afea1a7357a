// Per-layer allocation by measured sensitivity: which quantization step (and so how many
// bytes) each weight layer gets so that the whole file meets a size budget at the least
// accuracy cost. Rate-distortion with a Lagrange multiplier, as in mixed-precision work
// (HAWQ, OBC's compound compression), with a cheap additive model of the loss:
//
//   ΔL(config) ≈ Σ_l S_l · E_l(c_l)
//
// E_l(c) is layer l's reconstruction error ½ Σ_r (w_r − ŵ_r)ᵀ H (w_r − ŵ_r) for candidate c
// (computed from H alone, no forward pass), and S_l the layer's sensitivity, measured once per
// layer end to end: the network with only layer l compressed at the reference candidate, run
// on calibration images; S_l = (KL(float ‖ compressed) averaged over the images) / E_l(ref).
// For a multiplier λ each layer independently takes argmin_c bytes_l(c) + λ · S_l · E_l(c);
// λ is bisected to the largest total that fits the budget. One network evaluation per layer,
// so the cost grows linearly with depth.
import { SparrowError } from '../errors.js';
import { encodeInt8, type Int8CodecId } from '../codec/int8.js';
import { obsQuantize, type ObsQuantized, type StepRule } from './gptq.js';
import { reconstructionError } from './obs.js';

/** One option for a layer: OBS-quantized with `step` on |q| ≤ maxq (and `sparsity` pruned). */
export interface Candidate {
  step: StepRule;
  maxq: number;
  sparsity: number;
}

/** The default candidate grid: steps of α · rms(row), α from fine to coarse. */
export const DEFAULT_ALPHAS = [0.25, 0.35, 0.5, 0.7, 1, 1.4, 2, 2.8];

export interface AllocLayer {
  node: string;
  /** (rows, K) float weights */
  W: Float32Array;
  /** one H per group (grouped conv), (K, K) each */
  groupH: readonly Float64Array[];
  K: number;
  /** a fixed pruning mask (rows, K), 1 = pruned (exact OBS masks): candidates then only quantize */
  mask?: Uint8Array;
  /** the weight's stored shape (rANS uses its kernel window; default: (rows, K)) */
  dims?: readonly number[];
}

export interface LayerChoice {
  node: string;
  candidate: Candidate;
  /** coded bytes of the int8 weights + float32 scales */
  bytes: number;
  /** reconstruction error E_l of the choice */
  error: number;
  /** measured sensitivity S_l */
  sensitivity: number;
}

export interface Allocation {
  choices: LayerChoice[];
  /** Σ bytes of the choices */
  bytes: number;
  /** predicted Σ S_l E_l */
  predictedLoss: number;
  lambda: number;
}

/** OBS-quantizes a layer's groups with one candidate (rows split evenly over the groups). */
export function quantizeLayer(L: AllocLayer, c: Candidate): ObsQuantized {
  const G = L.groupH.length,
    rows = L.W.length / L.K,
    rpg = rows / G,
    K = L.K;
  const q = new Int8Array(L.W.length),
    step = new Float32Array(rows),
    W = new Float32Array(L.W.length);
  for (let g = 0; g < G; g++) {
    const mask = L.mask?.subarray(g * rpg * K, (g + 1) * rpg * K);
    const r = obsQuantize(L.W.slice(g * rpg * K, (g + 1) * rpg * K), L.groupH[g]!, {
      sparsity: mask ? 0 : c.sparsity,
      maxq: c.maxq,
      step: c.step,
      ...(mask ? { mask } : {}),
    });
    q.set(r.q, g * rpg * K);
    step.set(r.step, g * rpg);
    W.set(r.W, g * rpg * K);
  }
  return { q, step, W };
}

function layerError(L: AllocLayer, What: Float32Array): number {
  const G = L.groupH.length,
    rpg = L.W.length / L.K / G,
    K = L.K;
  let e = 0;
  for (let g = 0; g < G; g++) {
    const a = g * rpg * K,
      b = (g + 1) * rpg * K;
    e += reconstructionError(L.W.subarray(a, b), What.subarray(a, b), L.groupH[g]!);
  }
  return e;
}

/** Per layer: its sensitivity and every candidate's bytes and reconstruction error. */
export interface SensitivityTable {
  layers: Array<{ node: string; S: number; opts: Array<{ c: Candidate; bytes: number; err: number }> }>;
}

/**
 * Measures every layer: the candidates' coded bytes (int8 weights + float32 scales) and
 * reconstruction errors, and the sensitivity S_l from `lossWith(node, W)` — the end-to-end
 * loss increase (≥ 0) when only layer `node` has the weights W (rows, K) — called once per
 * layer with the reference candidate `ref`.
 */
export async function measureSensitivity(
  layers: readonly AllocLayer[],
  candidates: readonly Candidate[],
  ref: Candidate,
  lossWith: (node: string, W: Float32Array) => Promise<number>,
  onLayer?: (i: number, n: number, node: string) => void,
  /** the int8 codecs the file may use (default: encodeInt8's), so that bytes are what the file will hold */
  codecs?: readonly Int8CodecId[],
): Promise<SensitivityTable> {
  if (!candidates.length) throw new SparrowError('invalid_argument', 'allocate: no candidates');
  const out: SensitivityTable['layers'] = [];
  for (let i = 0; i < layers.length; i++) {
    const L = layers[i]!;
    onLayer?.(i, layers.length, L.node);
    const opts = candidates.map((c) => {
      const r = quantizeLayer(L, c);
      const coded = encodeInt8(r.q, { cols: L.K, ...(codecs ? { codecs } : {}), ...(L.dims ? { dims: L.dims } : {}) });
      return { c, bytes: coded.payload.length + 4 * r.step.length, err: layerError(L, r.W) };
    });
    const rr = quantizeLayer(L, ref);
    const eRef = layerError(L, rr.W);
    const dL = Math.max(0, await lossWith(L.node, rr.W));
    // a layer whose reference error is 0 cannot be calibrated: treat it as very sensitive
    out.push({ node: L.node, S: eRef > 0 ? dL / eRef : 1e30, opts });
  }
  return { layers: out };
}

/**
 * The candidate per layer minimizing the predicted loss within `budget` bytes (Lagrangian,
 * file header). Throws SparrowError('invalid_argument') when even the smallest candidates
 * exceed the budget.
 */
export function allocate(table: SensitivityTable, budget: number): Allocation {
  const t = table.layers;
  const pick = (lambda: number): Array<{ c: Candidate; bytes: number; err: number }> =>
    t.map((l) => {
      let best = l.opts[0]!,
        bestCost = Infinity;
      for (const o of l.opts) {
        const cost = o.bytes + lambda * l.S * o.err;
        if (cost < bestCost || (cost === bestCost && o.bytes < best.bytes)) {
          best = o;
          bestCost = cost;
        }
      }
      return best;
    });
  const total = (p: Array<{ bytes: number }>): number => p.reduce((a, o) => a + o.bytes, 0);
  const smallest = t.reduce((a, l) => a + Math.min(...l.opts.map((o) => o.bytes)), 0);
  if (smallest > budget) {
    throw new SparrowError(
      'invalid_argument',
      `the size target is below what the coarsest setting reaches (${smallest} bytes of weights, budget ${Math.round(budget)})`,
    );
  }
  // bisect log λ: the total grows with λ
  let lo = 1e-12,
    hi = 1e12;
  if (total(pick(hi)) <= budget) lo = hi;
  else {
    for (let it = 0; it < 100; it++) {
      const mid = Math.sqrt(lo * hi);
      if (total(pick(mid)) <= budget) lo = mid;
      else hi = mid;
    }
  }
  const chosen = pick(lo);
  // discrete choices leave a gap under the budget: spend it greedily on the upgrade with the
  // best predicted loss reduction per byte
  let used = total(chosen);
  for (;;) {
    let best = -1,
      bestOpt: (typeof chosen)[number] | undefined,
      bestGain = 0;
    chosen.forEach((cur, i) => {
      for (const o of t[i]!.opts) {
        const db = o.bytes - cur.bytes,
          dl = t[i]!.S * (cur.err - o.err);
        if (db > 0 && dl > 0 && used + db <= budget && dl / db > bestGain) {
          bestGain = dl / db;
          best = i;
          bestOpt = o;
        }
      }
    });
    if (best < 0) break;
    used += bestOpt!.bytes - chosen[best]!.bytes;
    chosen[best] = bestOpt!;
  }
  return {
    choices: chosen.map((o, i) => ({ node: t[i]!.node, candidate: o.c, bytes: o.bytes, error: o.err, sensitivity: t[i]!.S })),
    bytes: total(chosen),
    predictedLoss: chosen.reduce((a, o, i) => a + t[i]!.S * o.err, 0),
    lambda: lo,
  };
}

/** Mean KL(p ‖ q) over rows of two (rows, classes) logit tensors (softmax applied to both). */
export function meanKl(pLogits: Float32Array, qLogits: Float32Array, classes: number): number {
  if (pLogits.length !== qLogits.length || classes < 1 || pLogits.length % classes !== 0) {
    throw new SparrowError('invalid_argument', 'meanKl: logits of different sizes');
  }
  const rows = pLogits.length / classes;
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * classes;
    let mp = -Infinity,
      mq = -Infinity;
    for (let j = 0; j < classes; j++) {
      mp = Math.max(mp, pLogits[o + j]!);
      mq = Math.max(mq, qLogits[o + j]!);
    }
    let zp = 0,
      zq = 0;
    for (let j = 0; j < classes; j++) {
      zp += Math.exp(pLogits[o + j]! - mp);
      zq += Math.exp(qLogits[o + j]! - mq);
    }
    let kl = 0;
    for (let j = 0; j < classes; j++) {
      const lp = pLogits[o + j]! - mp - Math.log(zp),
        lq = qLogits[o + j]! - mq - Math.log(zq);
      kl += Math.exp(lp) * (lp - lq);
    }
    sum += Math.max(0, kl);
  }
  return rows ? sum / rows : 0;
}
