// Structured pruning: whole output channels removed, the graph rewritten to smaller shapes.
//
// Which channels. A channel may go only where nothing else depends on it: output channel c of
// a Conv A whose output reaches exactly one Conv B (group 1) through a chain of channel-wise
// ops that nothing else reads: element-wise activations (Relu, Clip, LeakyRelu, ...), pooling
// (MaxPool, AveragePool, their Global forms), inference Dropout, Add / Sub / Mul / Div by a
// constant per channel (a bias or scale kept apart from the conv), and depthwise convs (group =
// channels, one filter per channel: their filters and biases lose the same channels). A channel
// that feeds an Add (a residual connection), a Concat, a Mul (a squeeze-excite gate), a graph
// output or two readers is tied and stays. In a ResNet basic block that is the inner channel
// between the block's two convs; in a VGG-style net every conv's; in a MobileNetV2 block the
// expanded channels between the 1x1 expansion, the depthwise conv and the 1x1 projection.
//
// Saliency and compensation (group OBS on B, with B's bias as the weight of a constant input).
// B computes y = W x + b with W: (rows, K), K = C·kh·kw (channel c owns the kk = kh·kw columns
// G_c); with calibration patches X (n, K), x̃ = [x, 1] and H̃ = 2 X̃ᵀX̃ ((K+1), (K+1)),
// removing the columns G with the other weights and the bias re-fitted optimally costs
//   E_c = ½ Σ_r w_{r,G}ᵀ ([H̃⁻¹]_GG)⁻¹ w_{r,G}
// and moves W̃ by −W̃_{:,G} ([H̃⁻¹]_GG)⁻¹ [H̃⁻¹]_{G,:} (the OBS step for a block of weights,
// Optimal Brain Compression §4 / Kurtic et al. oBERT). Channels are removed greedily, least E_c
// first, H̃⁻¹ downdated after each removal; the result is the least-squares optimum of B's kept
// weights and bias for the removed set (the next layer compensated by least squares). Damping
// as in obs.ts: λ = damp · mean diag H on the K weight columns.
//
// Sequential: pairs are pruned in node order, each on the Hessian of the network as already
// pruned before it. Per layer round(fraction · C) channels go (at least one stays).
//
// The rewrite: A's weight (C, Cin, kh, kw) and bias keep the surviving rows; B's weight keeps
// the surviving input channels (compensated), its bias is re-fitted (created if absent); the
// value infos along the chain get the new channel count. The engines then run smaller dense convs.
import { SparrowError } from '../errors.js';
import { cloneGraph, consumers, freshName, type Graph, type Node } from '../ir/graph.js';
import { readWindowAttrs, windowGeometry } from '../ops/ref/conv.js';
import { AttrReader } from '../ops/ref/util.js';
import type { Tensor } from '../ops/types.js';
import { collectLayerInputs, findWeightLayers, runWithHook, type CalibAccel } from './calib.js';
import { choleskyDamped, choleskyInverse } from './linalg.js';

/**
 * 'uniform': every prunable layer loses round(fraction · C) channels. 'flops': `fraction` of
 * the prunable pairs' multiply-adds go, spread by cost: on the float network, each pair's
 * greedy removal curve E_p(k) is measured once and divided by the energy of B's output (a
 * relative error), then channels are taken one at a time from the pair with the least added
 * relative error per multiply-add saved, until the FLOP budget is met.
 */
export type ChannelScope = 'uniform' | 'flops';

export interface ChannelPruneOptions {
  accel?: CalibAccel;
  /** 'uniform' (default) or 'flops' (ChannelScope) */
  scope?: ChannelScope;
  /** relative damping of H (default 0.01) */
  damp?: number;
  /**
   * kept counts are multiples of this (default 1: any count). The int8 kernels compute output
   * channels in blocks of 4 (F(4x4) Winograd, 4x8c2), so 7 kept channels run as slowly as 8:
   * with 4, 'uniform' keeps the count nearest to C − round(fraction · C) among the multiples of
   * 4 in [4, C] and C itself (uniformRemoval), 'flops' removes channels down to the next
   * multiple at each step (allocateRemovals).
   */
  multiple?: number;
}

export interface ChannelPair {
  /** the Conv whose output channels go */
  a: Node;
  /** the values between A and B (A's output first, B's input last) */
  chain: string[];
  /** the depthwise convs inside the chain (their filters lose the same channels) */
  depthwise: Node[];
  /** per-channel constants of Add / Sub / Mul / Div inside the chain (sliced the same way) */
  affine: Array<{ node: Node; at: number; axis: number }>;
  /** the Conv that reads them (input channels go, weights compensated) */
  b: Node;
}

export interface ChannelPruneReport {
  /** per pair: A, B, channels before and kept, the OBS cost E of the removed set */
  layers: Array<{ node: string; next: string; channels: number; kept: number; cost: number }>;
  /** ChannelPruneOptions.multiple when it is above 1 */
  multiple?: number;
}

/**
 * Channels 'uniform' removes from a layer of C: round(fraction · C) (at most C − 1); with
 * `multiple` > 1 the kept count then moves to the nearest of the multiples of `multiple` in
 * [multiple, C] and C itself (a tie keeps more; C ≤ multiple: nothing removed, fewer channels
 * would not run faster).
 */
export function uniformRemoval(C: number, fraction: number, multiple = 1): number {
  let keep = C - Math.min(C - 1, Math.round(fraction * C));
  if (multiple > 1) {
    if (C <= multiple) return 0;
    const lo = Math.max(multiple, Math.floor(keep / multiple) * multiple),
      hi = Math.min(C, Math.ceil(keep / multiple) * multiple);
    keep = keep - lo < hi - keep ? lo : hi;
  }
  return C - keep;
}

/** The kept count after one more 'flops' step from `kept`: the largest multiple below it (≥ multiple; kept − 1 ≥ 1 for multiple 1); kept itself when there is none. */
function nextKept(kept: number, multiple: number): number {
  if (multiple <= 1) return kept > 1 ? kept - 1 : kept;
  const k = Math.ceil(kept / multiple) * multiple - multiple;
  return k >= multiple ? k : kept;
}

/**
 * The 'flops' allocation: channels removed per pair. curves[i][j] = the added cost of pair i's
 * (j+1)-th removal (its greedy removal curve, relative to B's output energy), macs[i] = the
 * multiply-adds one channel of pair i carries, C[i] its channels. Steps (down to the next
 * multiple of `multiple`, nextKept) are taken one at a time, each the one with the least cost
 * per multiply-add saved (ties: the first pair), until `budget` multiply-adds are saved or no
 * step is left.
 */
export function allocateRemovals(
  curves: readonly (readonly number[])[],
  macs: readonly number[],
  C: readonly number[],
  budget: number,
  multiple = 1,
): number[] {
  const kept = C.slice();
  let saved = 0;
  while (saved < budget) {
    let best = -1,
      bestScore = Infinity,
      bestSteps = 0;
    for (let i = 0; i < C.length; i++) {
      const s = kept[i]! - nextKept(kept[i]!, multiple);
      if (s <= 0) continue;
      const from = C[i]! - kept[i]!;
      let cost = 0;
      for (let j = from; j < from + s; j++) cost += curves[i]![j]!;
      const score = cost / (s * macs[i]!);
      if (score < bestScore) {
        bestScore = score;
        best = i;
        bestSteps = s;
      }
    }
    if (best < 0) break;
    kept[best]! -= bestSteps;
    saved += bestSteps * macs[best]!;
  }
  return C.map((c, i) => c - kept[i]!);
}

/**
 * Ops that act on each channel alone, one data input, one output (a removed channel's values
 * simply vanish with it): element-wise activations, pooling over each channel's plane, and
 * inference Dropout (an identity; its mask output must be absent).
 */
const CHANNELWISE = new Set([
  'Relu',
  'LeakyRelu',
  'Clip',
  'Sigmoid',
  'Tanh',
  'HardSigmoid',
  'HardSwish',
  'Elu',
  'Selu',
  'Celu',
  'Softplus',
  'Softsign',
  'ThresholdedRelu',
  'Mish',
  'Gelu',
  'Abs',
  'Neg',
  'Identity',
  'MaxPool',
  'AveragePool',
  'LpPool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'GlobalLpPool',
  'Dropout',
]);

/**
 * A depthwise conv over `C` channels that may sit inside a chain: group = C, weight (C, 1, kh,
 * kw) and bias (C) float32 constants (they lose the removed channels too: the rewrite gives the
 * conv new, smaller constants, so shared ones stay as they are for their other readers).
 */
function depthwiseOf(graph: Graph, n: Node, C: number): boolean {
  if (n.domain !== '' || n.op !== 'Conv' || n.attrs['group'] !== C || C < 2) return false;
  const w = n.inputs[1] ? graph.values.get(n.inputs[1])?.const : undefined;
  if (!w || w.dtype !== 'float32' || w.dims.length !== 4 || w.dims[0] !== C || w.dims[1] !== 1) return false;
  if (n.inputs[2]) {
    const b = graph.values.get(n.inputs[2])?.const;
    if (!b || b.dtype !== 'float32' || b.dims.length !== 1 || b.dims[0] !== C) return false;
  }
  return true;
}

/**
 * Add / Sub / Mul / Div of the chain value `v` (rank R) and a float32 constant that is one number
 * or one per channel (dims [C, 1, 1] / [1, C, 1, 1] for R = 4: a bias or scale kept apart from
 * the conv, as older exporters write it). Returns the constant's input index and its channel
 * axis (−1: one number, nothing to slice), or undefined.
 */
function affineOf(graph: Graph, n: Node, v: string, C: number, R: number): { at: number; axis: number } | undefined {
  if (n.domain !== '' || !['Add', 'Sub', 'Mul', 'Div'].includes(n.op) || n.inputs.length !== 2) return undefined;
  const at = n.inputs[0] === v ? 1 : n.inputs[1] === v ? 0 : -1;
  if (at < 0 || n.inputs[at] === v) return undefined;
  const t = graph.values.get(n.inputs[at]!)?.const;
  if (!t || t.dtype !== 'float32' || t.dims.length > R) return undefined;
  if (t.data.length === 1) return { at, axis: -1 };
  const axis = t.dims.length - (R - 1); // NCHW channel axis 1, aligned from the right
  if (axis < 0 || t.dims[axis] !== C || t.data.length !== C) return undefined;
  return { at, axis };
}

/** A channel-wise op of CHANNELWISE whose extra inputs are constants and whose only output is the first. */
function channelwiseOf(graph: Graph, n: Node): boolean {
  if (n.domain !== '' || !CHANNELWISE.has(n.op)) return false;
  // Clip's min/max, Dropout's ratio / training_mode: constants, not per-element data
  if (n.inputs.slice(1).some((i) => i && !graph.values.get(i)?.const)) return false;
  // MaxPool's Indices, Dropout's mask: absent (their shapes would change too)
  if (n.outputs.slice(1).some((o) => o)) return false;
  if (n.op === 'Dropout') {
    const t = n.inputs[2] ? graph.values.get(n.inputs[2])?.const : undefined;
    if (t && t.data.length > 0 && Number(t.data[0]) !== 0) return false; // training mode
  }
  return true;
}

function convWeight(graph: Graph, n: Node): Tensor | undefined {
  if (n.domain !== '' || n.op !== 'Conv') return undefined;
  const g = n.attrs['group'];
  if (g !== undefined && g !== 1) return undefined;
  const w = n.inputs[1] ? graph.values.get(n.inputs[1])?.const : undefined;
  if (!w || w.dtype !== 'float32' || w.dims.length !== 4) return undefined;
  const b = n.inputs[2] ? graph.values.get(n.inputs[2]) : undefined;
  if (n.inputs[2] && (!b?.const || b.const.dtype !== 'float32')) return undefined;
  return w;
}

/** The (A, chain, B) pairs whose channels are not tied to anything else (file header). */
export function findChannelPairs(graph: Graph): ChannelPair[] {
  const readers = consumers(graph);
  const weights = new Set(findWeightLayers(graph).map((l) => l.node));
  const out: ChannelPair[] = [];
  const single = (v: string): Node | undefined => {
    if (graph.outputs.includes(v)) return undefined;
    const r = readers.get(v) ?? [];
    return r.length === 1 && r[0]!.inputs.filter((i) => i === v).length === 1 ? r[0] : undefined;
  };
  for (const a of graph.nodes) {
    const wa = convWeight(graph, a);
    if (!wa || !weights.has(a.name)) continue;
    // A's and B's weights are their own (findWeightLayers checks it); a bias may be shared
    // (exporters merge equal initializers, e.g. the zero biases of freshly initialized
    // BatchNorms folded into convs): the rewrite gives A and B new bias constants
    const C = wa.dims[0]!,
      R = wa.dims.length;
    const chain = [a.outputs[0]!];
    const depthwise: Node[] = [];
    const affine: ChannelPair['affine'] = [];
    let next = single(chain[0]!);
    while (next) {
      const v = chain[chain.length - 1]!;
      const af = affineOf(graph, next, v, C, R);
      if (af) affine.push({ node: next, ...af });
      else if (next.inputs[0] !== v) break;
      else if (depthwiseOf(graph, next, C)) depthwise.push(next);
      else if (!channelwiseOf(graph, next)) break;
      chain.push(next.outputs[0]!);
      next = single(next.outputs[0]!);
    }
    if (!next || next.inputs[0] !== chain[chain.length - 1] || !convWeight(graph, next) || !weights.has(next.name)) continue;
    const wb = convWeight(graph, next)!;
    if (wb.dims[1] !== C) continue;
    out.push({ a, chain, depthwise, affine, b: next });
  }
  return out;
}

/** Mean of B's input patches (K = C·kh·kw; zero padding counted as 0), over every output position of every image. */
function patchMean(X: Tensor, b: Node, wDims: readonly number[]): { mu: Float64Array; count: number } {
  const [N, C, Hi, Wi] = X.dims as [number, number, number, number];
  const kh = wDims[2]!,
    kw = wDims[3]!;
  const r = new AttrReader('Conv', b.attrs, { opset: b.opset, node: b.name });
  const win = readWindowAttrs('Conv', r, 2, [kh, kw], false);
  const geo = windowGeometry([Hi, Wi], win);
  const [Ho, Wo] = geo.out as [number, number];
  const [sh, sw] = win.strides as [number, number];
  const [dh, dw] = win.dilations as [number, number];
  const [ph, pw] = geo.padBegin as [number, number];
  const x = X.data as Float32Array;
  const mu = new Float64Array(C * kh * kw);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * Hi * Wi;
      for (let i = 0; i < kh; i++)
        for (let j = 0; j < kw; j++) {
          let s = 0;
          for (let oy = 0; oy < Ho; oy++) {
            const y = oy * sh - ph + i * dh;
            if (y < 0 || y >= Hi) continue;
            for (let ox = 0; ox < Wo; ox++) {
              const xx = ox * sw - pw + j * dw;
              if (xx >= 0 && xx < Wi) s += x[base + y * Wi + xx]!;
            }
          }
          mu[(c * kh + i) * kw + j]! += s;
        }
    }
  const count = N * Ho * Wo;
  return { mu, count };
}

/** Inverse of a small SPD matrix (n, n). */
function spdInverse(A: Float64Array, n: number): Float64Array {
  return choleskyInverse(choleskyDamped(A, n, 0).L, n);
}

/**
 * Greedy group OBS on B̃ = [W | b] ((rows, K+1)) with H̃⁻¹ ((K+1), (K+1)): removes `remove` of the
 * C channel groups (kk columns each). Returns the removed channels (in removal order), the
 * compensated B̃ (removed columns 0) and the summed cost.
 */
export function groupObs(
  Wt: Float64Array,
  Hinv: Float64Array,
  rows: number,
  C: number,
  kk: number,
  remove: number,
  already: ReadonlySet<number> = new Set(),
): { removed: number[]; W: Float64Array; cost: number; Hinv: Float64Array } {
  const K1 = C * kk + 1;
  const W = Float64Array.from(Wt);
  const Hi = Float64Array.from(Hinv);
  const alive = new Uint8Array(C).fill(1);
  for (const c of already) alive[c] = 0;
  const removed: number[] = [];
  let cost = 0;
  const sub = new Float64Array(kk * kk);
  for (let step = 0; step < remove; step++) {
    let best = -1,
      bestCost = Infinity,
      bestM: Float64Array | null = null;
    for (let c = 0; c < C; c++) {
      if (!alive[c]) continue;
      const g0 = c * kk;
      for (let i = 0; i < kk; i++) for (let j = 0; j < kk; j++) sub[i * kk + j] = Hi[(g0 + i) * K1 + g0 + j]!;
      const M = spdInverse(sub, kk);
      let e = 0;
      for (let r = 0; r < rows; r++) {
        const wr = r * K1 + g0;
        for (let i = 0; i < kk; i++) {
          let t = 0;
          for (let j = 0; j < kk; j++) t += M[i * kk + j]! * W[wr + j]!;
          e += W[wr + i]! * t;
        }
      }
      e /= 2;
      if (e < bestCost) {
        bestCost = e;
        best = c;
        bestM = M;
      }
    }
    if (best < 0) break;
    const g0 = best * kk,
      M = bestM!;
    // P = M · Hi[G, :]  (kk, K1)
    const P = new Float64Array(kk * K1);
    for (let i = 0; i < kk; i++)
      for (let j = 0; j < kk; j++) {
        const m = M[i * kk + j]!;
        if (m === 0) continue;
        const src = (g0 + j) * K1;
        for (let t = 0; t < K1; t++) P[i * K1 + t]! += m * Hi[src + t]!;
      }
    // W −= W[:, G] · P
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < kk; i++) {
        const f = W[r * K1 + g0 + i]!;
        if (f === 0) continue;
        for (let t = 0; t < K1; t++) W[r * K1 + t]! -= f * P[i * K1 + t]!;
      }
      for (let i = 0; i < kk; i++) W[r * K1 + g0 + i] = 0;
    }
    // Hi −= Hi[:, G] · P
    const colG = new Float64Array(K1 * kk);
    for (let t = 0; t < K1; t++) for (let i = 0; i < kk; i++) colG[t * kk + i] = Hi[t * K1 + g0 + i]!;
    for (let t = 0; t < K1; t++)
      for (let i = 0; i < kk; i++) {
        const f = colG[t * kk + i]!;
        if (f === 0) continue;
        const dst = t * K1;
        for (let u = 0; u < K1; u++) Hi[dst + u]! -= f * P[i * K1 + u]!;
      }
    // the removed block is decoupled: keep it harmlessly invertible for later sub-blocks
    for (let i = 0; i < kk; i++) Hi[(g0 + i) * K1 + g0 + i] = 1;
    alive[best] = 0;
    removed.push(best);
    cost += bestCost;
  }
  return { removed, W, cost, Hinv: Hi };
}

interface PairSpec {
  b: Node;
  wb: Tensor;
  C: number;
  rows: number;
  kk: number;
}

/**
 * Per pair: B̃ = [W | b] ((rows, K+1)), H̃ ((K+1), (K+1), damped) and its inverse, from B's input
 * patches on the graph `g` as it is (two passes over the calibration set for all pairs together).
 */
function pairProblems(
  g: Graph,
  batches: readonly Tensor[],
  specs: readonly PairSpec[],
  damp: number,
  accel: CalibAccel | undefined,
): Array<{ Hinv: Float64Array; Wt: Float64Array; Ht: Float64Array }> {
  // H = 2 XᵀX of B's patches (calib.ts), and the patch mean from the same inputs
  const stats = collectLayerInputs(
    g,
    batches,
    specs.map((p) => p.b.name),
    accel ? { accel } : {},
  );
  const byName = new Map(specs.map((p, i) => [p.b.name, i]));
  const mus = specs.map((p) => new Float64Array(p.C * p.kk));
  const counts = specs.map(() => 0);
  for (const x of batches) {
    runWithHook(
      g,
      { [g.inputs[0]!]: x },
      (node, inputs) => {
        const i = byName.get(node.name);
        if (i === undefined) return;
        const r = patchMean(inputs[0]!, node, specs[i]!.wb.dims);
        const mu = mus[i]!;
        for (let k = 0; k < mu.length; k++) mu[k]! += r.mu[k]!;
        counts[i]! += r.count;
      },
      accel,
    );
  }
  return specs.map(({ b, wb, C, rows, kk }, idx) => {
    const st = stats.get(b.name)!;
    const K = C * kk,
      K1 = K + 1;
    const mu = mus[idx]!;
    const n = st.nSamples;
    for (let i = 0; i < K; i++) mu[i]! /= counts[idx]!;
    const Ht = new Float64Array(K1 * K1);
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) Ht[i * K1 + j] = st.H[i * K + j]!;
    // the constant input's row and column: Σ 2·x = 2nμ, Σ 2·1 = 2n (sampled positions: μ of all,
    // n of the sampled, a close approximation)
    for (let i = 0; i < K; i++) {
      Ht[i * K1 + K] = 2 * n * mu[i]!;
      Ht[K * K1 + i] = 2 * n * mu[i]!;
    }
    Ht[K * K1 + K] = 2 * n;
    let mean = 0;
    for (let i = 0; i < K; i++) mean += st.H[i * K + i]!;
    const lambda = (damp * mean) / K;
    for (let i = 0; i < K1; i++) {
      if (Ht[i * K1 + i] === 0) Ht[i * K1 + i] = 1; // a dead input column
      Ht[i * K1 + i]! += lambda;
    }
    const Hinv = spdInverse(Ht, K1);
    const bias = b.inputs[2] ? (g.values.get(b.inputs[2])!.const!.data as Float32Array) : new Float32Array(rows);
    const Wt = new Float64Array(rows * K1);
    const wbd = wb.data as Float32Array;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < K; j++) Wt[r * K1 + j] = wbd[r * K + j]!;
      Wt[r * K1 + K] = bias[r]!;
    }
    return { Hinv, Wt, Ht };
  });
}

/** ½ Σ_r w̃_rᵀ H̃ w̃_r: the energy of B's output on the calibration patches. W̃ (rows, K1), H̃ (K1, K1). */
function outputEnergy(Wt: Float64Array, Ht: Float64Array, rows: number, K1: number): number {
  let e = 0;
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < K1; i++) {
      const wi = Wt[r * K1 + i]!;
      if (wi === 0) continue;
      let t = 0;
      for (let j = 0; j < K1; j++) t += Ht[i * K1 + j]! * Wt[r * K1 + j]!;
      e += wi * t;
    }
  return e / 2;
}

/** Multiply-adds one output channel of A costs in A and B together (per image). */
function channelMacs(g: Graph, a: Node, b: Node, wa: Tensor, wb: Tensor, depthwise: readonly Node[] = []): number {
  const posA = g.values.get(a.outputs[0]!)?.info.dims,
    posB = g.values.get(b.outputs[0]!)?.info.dims;
  const sp = (d: number[] | null | undefined): number => (d && d.length === 4 && d[2]! > 0 && d[3]! > 0 ? d[2]! * d[3]! : 1);
  let macs = sp(posA) * wa.dims[1]! * wa.dims[2]! * wa.dims[3]! + sp(posB) * wb.dims[0]! * wb.dims[2]! * wb.dims[3]!;
  // a depthwise conv inside the chain: kh·kw per output position of the channel
  for (const d of depthwise) {
    const wd = g.values.get(d.inputs[1]!)!.const!;
    macs += sp(g.values.get(d.outputs[0]!)?.info.dims) * wd.dims[2]! * wd.dims[3]!;
  }
  return macs;
}

/**
 * 'flops' scope: channels to remove per pair (by A's node name) so that `fraction` of the
 * pairs' multiply-adds go, taking each next channel from the pair with the least added relative
 * error (greedy removal curve / B's output energy, float network) per multiply-add saved.
 */
function flopsCounts(
  g: Graph,
  batches: readonly Tensor[],
  fraction: number,
  damp: number,
  accel: CalibAccel | undefined,
  multiple: number,
): Map<string, number> {
  const pairs = findChannelPairs(g);
  const specs = pairs.map((p) => {
    const wa = g.values.get(p.a.inputs[1]!)!.const!,
      wb = g.values.get(p.b.inputs[1]!)!.const!;
    return {
      b: p.b,
      wb,
      C: wa.dims[0]!,
      rows: wb.dims[0]!,
      kk: wb.dims[2]! * wb.dims[3]!,
      macs: channelMacs(g, p.a, p.b, wa, wb, p.depthwise),
    };
  });
  const probs = pairProblems(g, batches, specs, damp, accel);
  // marginal relative error of each successive removal, per pair
  const curves = specs.map((sp, i) => {
    const { Wt, Hinv, Ht } = probs[i]!;
    const energy = Math.max(outputEnergy(Wt, Ht, sp.rows, sp.C * sp.kk + 1), 1e-30);
    const steps = groupObsCurve(Wt, Hinv, sp.rows, sp.C, sp.kk, sp.C - 1);
    return steps.map((c) => c / energy);
  });
  let total = 0;
  for (const sp of specs) total += sp.macs * sp.C;
  const taken = allocateRemovals(
    curves,
    specs.map((sp) => sp.macs),
    specs.map((sp) => sp.C),
    fraction * total,
    multiple,
  );
  return new Map(pairs.map((p, i) => [p.a.name, taken[i]!]));
}

/** The cost of each successive greedy removal (groupObs one channel at a time). */
function groupObsCurve(Wt: Float64Array, Hinv: Float64Array, rows: number, C: number, kk: number, remove: number): number[] {
  const out: number[] = [];
  let W = Wt,
    H = Hinv;
  const gone = new Set<number>();
  for (let k = 0; k < remove; k++) {
    const r = groupObs(W, H, rows, C, kk, 1, gone);
    out.push(r.cost);
    W = r.W;
    H = r.Hinv;
    for (const c of r.removed) gone.add(c);
  }
  return out;
}

function setConst(g: Graph, name: string, t: Tensor): void {
  g.values.set(name, { name, info: { dtype: t.dtype, dims: [...t.dims] }, const: t });
}

/**
 * Removes round(fraction · C) output channels (opts.multiple: uniformRemoval; opts.scope flops:
 * allocateRemovals) of every untied Conv → Conv pair (file header)
 * and returns the rewritten graph (the input graph is not modified) and what was done.
 * `batches`: calibration inputs for the graph's single input.
 */
export function pruneChannels(
  graph: Graph,
  batches: readonly Tensor[],
  fraction: number,
  opts: ChannelPruneOptions = {},
): { graph: Graph; report: ChannelPruneReport } {
  if (!(fraction >= 0 && fraction < 1))
    throw new SparrowError('invalid_argument', `channel pruning: the fraction must be in [0, 1), got ${String(fraction)}`);
  if (batches.length === 0) throw new SparrowError('invalid_argument', 'channel pruning needs calibration data (--calib)');
  if (graph.inputs.length !== 1)
    throw new SparrowError('invalid_argument', `channel pruning feeds one input; the model has ${graph.inputs.length}`);
  const damp = opts.damp ?? 0.01;
  const multiple = opts.multiple ?? 1;
  if (!(Number.isInteger(multiple) && multiple >= 1 && multiple <= 1024))
    throw new SparrowError(
      'invalid_argument',
      `channel pruning: the channel multiple must be an integer in 1..1024, got ${String(multiple)}`,
    );
  let g = cloneGraph(graph);
  const report: ChannelPruneReport = { layers: [], ...(multiple > 1 ? { multiple } : {}) };
  const names = findChannelPairs(g).map((p) => ({ a: p.a.name, b: p.b.name }));
  if (names.length === 0 && fraction > 0)
    throw new SparrowError(
      'invalid_argument',
      'channel pruning: this model has no channels that can go alone: it needs a Conv (group 1) whose output reaches exactly one ' +
        'other Conv through channel-wise ops (activations, pooling, depthwise convs) and nothing else; ' +
        'residual Adds, Concats, gates (Mul) and graph outputs tie channels (try --prune hessian or obs)',
    );
  const counts =
    (opts.scope ?? 'uniform') === 'flops' && fraction > 0 ? flopsCounts(g, batches, fraction, damp, opts.accel, multiple) : undefined;
  for (const { a: aName, b: bName } of names) {
    const pair = findChannelPairs(g).find((p) => p.a.name === aName && p.b.name === bName);
    if (!pair) continue;
    const { a, b, chain, depthwise, affine } = pair;
    const wa = g.values.get(a.inputs[1]!)!.const!;
    const wb = g.values.get(b.inputs[1]!)!.const!;
    const C = wa.dims[0]!,
      rows = wb.dims[0]!,
      kh = wb.dims[2]!,
      kw = wb.dims[3]!,
      kk = kh * kw,
      K = C * kk,
      K1 = K + 1;
    const remove = counts ? (counts.get(a.name) ?? 0) : uniformRemoval(C, fraction, multiple);
    if (remove <= 0) continue;
    const { Hinv, Wt } = pairProblems(g, batches, [{ b, wb, C, rows, kk }], damp, opts.accel)[0]!;
    const res = groupObs(Wt, Hinv, rows, C, kk, remove);
    const gone = new Set(res.removed);
    const keep = Array.from({ length: C }, (_, c) => c).filter((c) => !gone.has(c));
    const Ck = keep.length;
    // rewrite A: rows `keep`
    const g2 = cloneGraph(g);
    const innerA = wa.dims[1]! * wa.dims[2]! * wa.dims[3]!;
    const waD = wa.data as Float32Array;
    const newA = new Float32Array(Ck * innerA);
    keep.forEach((c, i) => newA.set(waD.subarray(c * innerA, (c + 1) * innerA), i * innerA));
    const aW = freshName(g2, `${a.inputs[1]}_ch`);
    setConst(g2, aW, { dtype: 'float32', dims: [Ck, wa.dims[1]!, wa.dims[2]!, wa.dims[3]!], data: newA });
    const aNode = g2.nodes.find((x) => x.name === a.name)!;
    aNode.inputs[1] = aW;
    if (a.inputs[2]) {
      const ba = g.values.get(a.inputs[2])!.const!.data as Float32Array;
      const aB = freshName(g2, `${a.inputs[2]}_ch`);
      setConst(g2, aB, { dtype: 'float32', dims: [Ck], data: Float32Array.from(keep, (c) => ba[c]!) });
      aNode.inputs[2] = aB;
    }
    // rewrite B: input channels `keep`, compensated weights and bias
    const newB = new Float32Array(rows * Ck * kk);
    const newBias = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      keep.forEach((c, i) => {
        for (let t = 0; t < kk; t++) newB[(r * Ck + i) * kk + t] = res.W[r * K1 + c * kk + t]!;
      });
      newBias[r] = res.W[r * K1 + K]!;
    }
    const bNode = g2.nodes.find((x) => x.name === b.name)!;
    const bW = freshName(g2, `${b.inputs[1]}_ch`);
    setConst(g2, bW, { dtype: 'float32', dims: [rows, Ck, kh, kw], data: newB });
    bNode.inputs[1] = bW;
    const bB = freshName(g2, b.inputs[2] ? `${b.inputs[2]}_ch` : `${b.name}_bias`);
    setConst(g2, bB, { dtype: 'float32', dims: [rows], data: newBias });
    if (bNode.inputs.length < 3) bNode.inputs.length = 3;
    bNode.inputs[2] = bB;
    // the depthwise convs inside the chain: filters and biases of the kept channels, group Ck
    const oldConsts: string[] = [];
    for (const d of depthwise) {
      const dNode = g2.nodes.find((x) => x.name === d.name)!;
      const wd = g.values.get(d.inputs[1]!)!.const!;
      const kd = wd.dims[2]! * wd.dims[3]!;
      const wdD = wd.data as Float32Array;
      const newD = new Float32Array(Ck * kd);
      keep.forEach((c, i) => newD.set(wdD.subarray(c * kd, (c + 1) * kd), i * kd));
      const dW = freshName(g2, `${d.inputs[1]}_ch`);
      setConst(g2, dW, { dtype: 'float32', dims: [Ck, 1, wd.dims[2]!, wd.dims[3]!], data: newD });
      oldConsts.push(d.inputs[1]!);
      dNode.inputs[1] = dW;
      if (d.inputs[2]) {
        const bd = g.values.get(d.inputs[2])!.const!.data as Float32Array;
        const dB = freshName(g2, `${d.inputs[2]}_ch`);
        setConst(g2, dB, { dtype: 'float32', dims: [Ck], data: Float32Array.from(keep, (c) => bd[c]!) });
        oldConsts.push(d.inputs[2]);
        dNode.inputs[2] = dB;
      }
      dNode.attrs = { ...dNode.attrs, group: Ck };
    }
    // per-channel constants of Add / Sub / Mul / Div in the chain: the kept channels' entries
    for (const { node, at, axis } of affine) {
      if (axis < 0) continue;
      const t = g.values.get(node.inputs[at]!)!.const!;
      const nNode = g2.nodes.find((x) => x.name === node.name)!;
      const dims = [...t.dims];
      dims[axis] = Ck;
      const nc = freshName(g2, `${node.inputs[at]}_ch`);
      setConst(g2, nc, { dtype: 'float32', dims, data: Float32Array.from(keep, (c) => (t.data as Float32Array)[c]!) });
      oldConsts.push(node.inputs[at]!);
      nNode.inputs[at] = nc;
    }
    // the channel count along the chain
    for (const v of chain) {
      const info = g2.values.get(v)?.info;
      if (info?.dims && info.dims.length >= 2) info.dims[1] = Ck;
    }
    // drop the old constants nothing reads any more
    const readers = consumers(g2);
    for (const old of [a.inputs[1], a.inputs[2], b.inputs[1], b.inputs[2], ...oldConsts]) {
      if (old && !(readers.get(old)?.length ?? 0) && !g2.outputs.includes(old)) g2.values.delete(old);
    }
    g = g2;
    report.layers.push({ node: a.name, next: b.name, channels: C, kept: Ck, cost: res.cost });
  }
  return { graph: g, report };
}
