// Calibration statistics for Hessian-based pruning (src/compress/obs.ts): runs the float graph
// with the reference kernels on calibration inputs and, for every chosen weight layer, streams
// the layer's input patches into H = 2 · XᵀX: (K, K), X: (nSamples, K) one patch per row.
// Nothing but H is kept: activations are freed after their last reader, as in runReference.
//
// Layers (findWeightLayers). A weight layer is a node whose weight is a float32 constant read by
// no other node:
//   Conv   X [N, C, D1..Dn], W [M, C/g, k1..kn]: rows = M, K = C/g · k1···kn, one H per group g
//          (rows g·M/g .. (g+1)·M/g − 1 use groupH[g]). A patch is the im2col column of one
//          output position: element (c, tap) at index c · (k1···kn) + tap, taps in row-major
//          kernel order, zeros in the padding — the same order as W's flattened row, so the
//          layer is y = W_(M, K) · patch. pads / auto_pad / strides / dilations / groups as the
//          Conv reference kernel (src/ops/ref/conv.ts) computes them.
//   Gemm   A [M, K] (transA: [K, M]), B constant: rows = N; B is (N, K) with transB = 1, else
//          (K, N) (see weightRowsK). A patch is a row of A (a column when transA). alpha only
//          scales y and is ignored.
//   MatMul A [..., K] @ B [K, N], B constant rank 2: rows = N, a patch is a row of A.
// Sampling. An "image" is one item along the first input axis. When one image yields more than
// maxPositionsPerImage patches (Conv output positions, MatMul rows of a rank ≥ 3 input), that
// many positions are drawn without replacement by a seeded PRNG (seed: layer name and image
// counter), so the result is deterministic for the same inputs in the same order.
// H is the plain sum 2 Σ x xᵀ (not divided by nSamples): OBS is invariant to scaling H, and
// ½ Δwᵀ H Δw is then the squared reconstruction error summed over the calibration patches.
//
// collectLayerInputs streams the batches through the dense graph (one batch's activations alive
// at a time). pruneSequentially instead runs all batches node by node and prunes each layer as
// it is reached, so a layer's H comes from the already-pruned layers before it (SparseGPT's
// order). withPrunedWeights builds the graph copy with the new constants.

import { SparrowError } from '../errors.js';
import { mulberry32 } from '../util/rng.js';
import { elementCount, type Tensor } from '../ops/types.js';
import { cloneGraph, consumers, type Graph, type Node } from '../ir/graph.js';
import { checkFeed, runReference } from '../runtime/reference.js';
import { convTapOffsets, readWindowAttrs } from '../ops/ref/conv.js';
import { AttrReader } from '../ops/ref/util.js';
import { choleskyDamped } from './linalg.js';

export type WeightOp = 'Conv' | 'Gemm' | 'MatMul';

export interface WeightLayer {
  /** node name */
  node: string;
  op: WeightOp;
  /** the constant weight value's name (graph.values.get(weight).const) */
  weight: string;
  /** the weight's dims as stored */
  dims: number[];
  /** output channels / features: the rows of the (rows, K) weight matrix */
  rows: number;
  /** patch length (per group for Conv) */
  K: number;
  /** Conv groups (1 otherwise) */
  groups: number;
  /**
   * how the stored weight maps to (rows, K): 'rowsK' = as stored (Conv, Gemm transB = 1),
   * 'KRows' = transposed (Gemm transB = 0, MatMul)
   */
  layout: 'rowsK' | 'KRows';
}

export interface LayerInputs extends WeightLayer {
  /** H = 2 XᵀX: (K, K) of group 0 (the only group unless a grouped Conv) */
  H: Float64Array;
  /** one (K, K) H per group; groupH[0] === H */
  groupH: Float64Array[];
  /** patches accumulated (per group; every group sees the same positions) */
  nSamples: number;
  /** output positions per image before sampling (Conv) / rows per image (MatMul) */
  positionsPerImage: number;
  /** whether positions were subsampled (positionsPerImage > maxPositionsPerImage) */
  sampled: boolean;
}

export interface CalibOptions {
  /** WASM (or other) acceleration of the Gram sums and the forward passes (default: plain TS) */
  accel?: CalibAccel;
  /** at most this many patches per image per layer (default 4096) */
  maxPositionsPerImage?: number;
  /** mixed into the sampling seed (default 0) */
  seed?: number;
}

/**
 * The weight layers of a graph, in node order: Conv/Gemm/MatMul nodes whose weight input is a
 * float32 constant (Conv: W of rank ≥ 3; Gemm/MatMul: rank 2) that no other node reads and
 * whose data input is not constant. Shared (tied) weights are left out.
 */
export function findWeightLayers(graph: Graph): WeightLayer[] {
  const readers = consumers(graph);
  const out: WeightLayer[] = [];
  for (const n of graph.nodes) {
    if (n.domain !== '' || (n.op !== 'Conv' && n.op !== 'Gemm' && n.op !== 'MatMul')) continue;
    const wName = n.inputs[1];
    if (!wName || !n.inputs[0]) continue;
    const w = graph.values.get(wName)?.const;
    if (!w || w.dtype !== 'float32') continue;
    if (graph.values.get(n.inputs[0])?.const) continue;
    if ((readers.get(wName)?.length ?? 0) !== 1 || n.inputs.filter((i) => i === wName).length !== 1) continue;
    const dims = [...w.dims];
    if (n.op === 'Conv') {
      if (dims.length < 3) continue;
      const g = typeof n.attrs['group'] === 'number' ? n.attrs['group'] : 1;
      if (!Number.isInteger(g) || g < 1 || dims[0]! % g !== 0) continue;
      out.push({
        node: n.name,
        op: 'Conv',
        weight: wName,
        dims,
        rows: dims[0]!,
        K: elementCount(dims.slice(1)),
        groups: g,
        layout: 'rowsK',
      });
    } else {
      if (dims.length !== 2) continue;
      const transB = n.op === 'Gemm' && n.attrs['transB'] === 1;
      out.push({
        node: n.name,
        op: n.op,
        weight: wName,
        dims,
        rows: transB ? dims[0]! : dims[1]!,
        K: transB ? dims[1]! : dims[0]!,
        groups: 1,
        layout: transB ? 'rowsK' : 'KRows',
      });
    }
  }
  return out;
}

/** The layer's weight as a (rows, K) Float32Array (a copy). */
export function weightRowsK(graph: Graph, layer: WeightLayer): Float32Array {
  const t = graph.values.get(layer.weight)?.const;
  if (!t || t.dtype !== 'float32')
    throw new SparrowError('invalid_argument', `weight '${layer.weight}' of '${layer.node}' is not a float32 constant`);
  const w = t.data as Float32Array;
  if (layer.layout === 'rowsK') return Float32Array.from(w);
  const { rows, K } = layer; // stored (K, rows)
  const out = new Float32Array(rows * K);
  for (let k = 0; k < K; k++) for (let r = 0; r < rows; r++) out[r * K + k] = w[k * rows + r]!;
  return out;
}

/** A (rows, K) matrix back in the layer's stored layout, as a float32 tensor of its dims. */
export function weightFromRowsK(layer: WeightLayer, W: Float32Array): Tensor {
  const { rows, K } = layer;
  if (W.length !== rows * K) throw new SparrowError('invalid_argument', `'${layer.node}': expected ${rows}x${K} weights, got ${W.length}`);
  if (layer.layout === 'rowsK') return { dtype: 'float32', dims: [...layer.dims], data: Float32Array.from(W) };
  const out = new Float32Array(rows * K);
  for (let k = 0; k < K; k++) for (let r = 0; r < rows; r++) out[k * rows + r] = W[r * K + k]!;
  return { dtype: 'float32', dims: [...layer.dims], data: out };
}

/** Called before each node runs, with its input tensors (undefined = omitted input). */
export type NodeHook = (node: Node, inputs: ReadonlyArray<Tensor | undefined>, index: number) => void;

/**
 * runReference with a hook: executes the nodes in order with their reference kernels, calling
 * `hook` before each node, and frees every intermediate after its last reader.
 */
export function runWithHook(graph: Graph, feeds: Record<string, Tensor>, hook: NodeHook, accel?: CalibAccel): Record<string, Tensor> {
  return runReference(graph, feeds, { checkShapes: false, beforeNode: hook, ...(accel?.kernel ? { kernel: accel.kernel } : {}) });
}

// ---------------------------------------------------------------------------------------------
// Streaming accumulation

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** `count` distinct positions out of [0, P), ascending, drawn by a partial Fisher–Yates shuffle. */
function samplePositions(P: number, count: number, rand: () => number): Int32Array {
  const idx = new Int32Array(P);
  for (let i = 0; i < P; i++) idx[i] = i;
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rand() * (P - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.slice(0, count).sort();
}

/** A kernel replacing a node's reference kernel (null: use the reference after all). */
export type KernelFn = (inputs: ReadonlyArray<Tensor | undefined>) => Tensor[] | null;

/**
 * Optional acceleration (src/compress/accel.ts puts WASM behind it): `gram` computes the
 * float32 G (K, K) = Xt Xtᵀ of a block of patches Xt (K, n); `kernel` may replace a node's
 * reference kernel during the calibration forward passes.
 */
export interface CalibAccel {
  gram(Xt: Float32Array, K: number, n: number): Float32Array;
  /** C (K, K) = Xt Ytᵀ for Xt, Yt (K, n) (float targets' cross sums); absent: plain TS */
  cross?(Xt: Float32Array, Yt: Float32Array, K: number, n: number): Float32Array;
  kernel?(node: Node): KernelFn | undefined;
}

/** Patches per Gram block; layers with K below GRAM_MIN_K stay on the TS path. */
const GRAM_BLOCK = 256;
const GRAM_MIN_K = 32;

/**
 * Running sum of x xᵀ over patches, one per group. TS path: upper triangle, zeros skipped,
 * float64. Gram path (accel, K ≥ GRAM_MIN_K): patches buffered as columns of Xt (K,
 * GRAM_BLOCK) float32, each full block's float32 Gram matrix added into the float64 sum.
 * With `cross`, also the full (not symmetric) sum of x yᵀ where y is the same patch taken
 * from the float network's input (pruneSequentially's floatTargets).
 */
class Accumulator {
  readonly acc: Float64Array[];
  readonly nz: Int32Array;
  readonly nzv: Float64Array;
  readonly gram: CalibAccel['gram'] | undefined;
  readonly buf: Float32Array[];
  readonly fill: Int32Array;
  /** Σ x yᵀ per group (K, K), only with `cross` */
  readonly crossAcc: Float64Array[];
  readonly bufY: Float32Array[];
  readonly crossFn: CalibAccel['cross'] | undefined;
  readonly nzy: Int32Array;
  readonly nzyv: Float64Array;
  nSamples = 0;
  constructor(
    readonly K: number,
    groups: number,
    accel?: CalibAccel,
    readonly cross = false,
  ) {
    this.acc = Array.from({ length: groups }, () => new Float64Array(K * K));
    this.nz = new Int32Array(K);
    this.nzv = new Float64Array(K);
    this.gram = accel && K >= GRAM_MIN_K ? accel.gram : undefined;
    this.buf = this.gram ? Array.from({ length: groups }, () => new Float32Array(K * GRAM_BLOCK)) : [];
    this.fill = new Int32Array(groups);
    this.crossAcc = cross ? Array.from({ length: groups }, () => new Float64Array(K * K)) : [];
    this.crossFn = this.gram && cross ? accel?.cross : undefined;
    this.bufY = this.gram && cross ? Array.from({ length: groups }, () => new Float32Array(K * GRAM_BLOCK)) : [];
    this.nzy = new Int32Array(cross ? K : 0);
    this.nzyv = new Float64Array(cross ? K : 0);
  }
  /** adds x xᵀ for the patch x[from .. from+K) to group g (and x yᵀ for y[from .. from+K) with `cross`) */
  add(g: number, x: Float64Array | Float32Array, from = 0, y?: Float64Array | Float32Array): void {
    const K = this.K;
    if (this.cross && !y) throw new SparrowError('internal', 'calibration: a cross accumulator needs the float patch');
    if (this.gram) {
      const Xt = this.buf[g]!,
        col = this.fill[g]!;
      for (let i = 0; i < K; i++) Xt[i * GRAM_BLOCK + col] = x[from + i]!;
      if (this.cross) {
        const Yt = this.bufY[g]!;
        for (let i = 0; i < K; i++) Yt[i * GRAM_BLOCK + col] = y![from + i]!;
      }
      this.fill[g] = col + 1;
      if (col + 1 === GRAM_BLOCK) this.flush(g);
      return;
    }
    const nz = this.nz,
      nzv = this.nzv,
      H = this.acc[g]!;
    let m = 0;
    for (let i = 0; i < K; i++) {
      const v = x[from + i]!;
      if (v !== 0) {
        nz[m] = i;
        nzv[m] = v;
        m++;
      }
    }
    for (let a = 0; a < m; a++) {
      const va = nzv[a]!,
        row = nz[a]! * K;
      for (let b = a; b < m; b++) H[row + nz[b]!]! += va * nzv[b]!;
    }
    if (this.cross) this.addCross(this.crossAcc[g]!, nz, nzv, m, y!, from);
  }
  /** C += x yᵀ with x's nonzeros (nz, nzv, m) and y[from .. from+K) */
  private addCross(C: Float64Array, nz: Int32Array, nzv: Float64Array, m: number, y: Float64Array | Float32Array, from: number): void {
    const K = this.K,
      nzy = this.nzy,
      nzyv = this.nzyv;
    let my = 0;
    for (let i = 0; i < K; i++) {
      const v = y[from + i]!;
      if (v !== 0) {
        nzy[my] = i;
        nzyv[my] = v;
        my++;
      }
    }
    for (let a = 0; a < m; a++) {
      const va = nzv[a]!,
        row = nz[a]! * K;
      for (let b = 0; b < my; b++) C[row + nzy[b]!]! += va * nzyv[b]!;
    }
  }
  private flush(g: number): void {
    const n = this.fill[g]!,
      K = this.K;
    if (n === 0) return;
    const compact = (full: Float32Array): Float32Array => {
      if (n === GRAM_BLOCK) return full;
      const c = new Float32Array(K * n);
      for (let i = 0; i < K; i++) c.set(full.subarray(i * GRAM_BLOCK, i * GRAM_BLOCK + n), i * n);
      return c;
    };
    const Xt = compact(this.buf[g]!);
    const G = this.gram!(Xt, K, n);
    const A = this.acc[g]!;
    // upper triangle, as the TS path keeps it
    for (let i = 0; i < K; i++) for (let j = i; j < K; j++) A[i * K + j]! += G[i * K + j]!;
    if (this.cross) {
      const Yt = compact(this.bufY[g]!);
      const C = this.crossAcc[g]!;
      if (this.crossFn) {
        const X = this.crossFn(Xt, Yt, K, n);
        for (let i = 0; i < K * K; i++) C[i]! += X[i]!;
      } else {
        for (let i = 0; i < K; i++)
          for (let j = 0; j < K; j++) {
            let s = 0;
            for (let p = 0; p < n; p++) s += Xt[i * n + p]! * Yt[j * n + p]!;
            C[i * K + j]! += s;
          }
      }
    }
    this.fill[g] = 0;
  }
  /** H = 2 · (the symmetric sum): mirrors the upper triangle */
  finish(): Float64Array[] {
    const K = this.K;
    if (this.gram) for (let g = 0; g < this.acc.length; g++) this.flush(g);
    return this.acc.map((A) => {
      const H = new Float64Array(K * K);
      for (let i = 0; i < K; i++) {
        for (let j = i; j < K; j++) {
          const v = 2 * A[i * K + j]!;
          H[i * K + j] = v;
          H[j * K + i] = v;
        }
      }
      return H;
    });
  }
  /** 2 · Σ x yᵀ per group (call after finish) */
  finishCross(): Float64Array[] {
    return this.crossAcc.map((C) => Float64Array.from(C, (v) => 2 * v));
  }
}

interface LayerState {
  layer: WeightLayer;
  acc: Accumulator;
  images: number;
  positionsPerImage: number;
  sampled: boolean;
  seed: number;
  /** Conv: geometry cache for the last input shape seen */
  convKey?: string;
  conv?: { offsetOf: Int32Array; P: number; KK: number; inSize: number; Cg: number; C: number };
}

function convGeometry(node: Node, X: Tensor, W: Tensor, groups: number): NonNullable<LayerState['conv']> {
  const ctx = { opset: node.opset, node: node.name };
  const inSp = X.dims.slice(2),
    nSp = inSp.length;
  const win = readWindowAttrs('Conv', new AttrReader('Conv', node.attrs, ctx), nSp, W.dims.slice(2), false);
  const { P, KK, offsetOf } = convTapOffsets(inSp, win);
  const C = X.dims[1]!;
  return { offsetOf, P, KK, inSize: elementCount(inSp), Cg: C / groups, C };
}

function accumulateConv(st: LayerState, node: Node, X: Tensor, W: Tensor, maxPos: number, Xf?: Tensor): void {
  const { layer, acc } = st;
  if (X.dtype !== 'float32' || X.dims.length !== W.dims.length) {
    throw new SparrowError(
      'invalid_argument',
      `calibration: Conv '${node.name}' input is ${X.dtype} [${X.dims.join(',')}], weight [${W.dims.join(',')}]`,
    );
  }
  const key = X.dims.slice(1).join(',');
  if (st.convKey !== key) {
    st.conv = convGeometry(node, X, W, layer.groups);
    st.convKey = key;
  }
  const { offsetOf, P, KK, inSize, Cg, C } = st.conv!;
  if (Cg * KK !== layer.K)
    throw new SparrowError('internal', `calibration: Conv '${node.name}' patch length ${Cg * KK} differs from K = ${layer.K}`);
  const x = X.data as Float32Array;
  const N = X.dims[0]!;
  const patch = new Float64Array(layer.K);
  const xf = Xf ? floatTwin(node, X, Xf) : undefined;
  const patchF = xf ? new Float64Array(layer.K) : undefined;
  const count = Math.min(P, maxPos);
  st.positionsPerImage = P;
  if (count < P) st.sampled = true;
  for (let n = 0; n < N; n++) {
    const positions = count < P ? samplePositions(P, count, mulberry32(st.seed ^ Math.imul(st.images + 1, 0x9e3779b1))) : null;
    st.images++;
    for (let g = 0; g < layer.groups; g++) {
      for (let s = 0; s < count; s++) {
        const p = positions ? positions[s]! : s;
        for (let c = 0; c < Cg; c++) {
          const base = (n * C + g * Cg + c) * inSize;
          for (let kp = 0; kp < KK; kp++) {
            const off = offsetOf[kp * P + p]!;
            patch[c * KK + kp] = off < 0 ? 0 : x[base + off]!;
            if (patchF) patchF[c * KK + kp] = off < 0 ? 0 : xf![base + off]!;
          }
        }
        acc.add(g, patch, 0, patchF);
      }
    }
    acc.nSamples += count;
  }
}

function accumulateRows(st: LayerState, node: Node, A: Tensor, maxPos: number, Af?: Tensor): void {
  const { layer, acc } = st;
  const K = layer.K;
  if (A.dtype !== 'float32') throw new SparrowError('invalid_argument', `calibration: ${node.op} '${node.name}' input is ${A.dtype}`);
  const a = A.data as Float32Array;
  const af = Af ? floatTwin(node, A, Af) : undefined;
  const transA = node.op === 'Gemm' && node.attrs['transA'] === 1;
  if (transA) {
    // A: (K, M), patches are its columns; one image per column
    if (A.dims.length !== 2 || A.dims[0] !== K)
      throw new SparrowError(
        'invalid_argument',
        `calibration: Gemm '${node.name}' input [${A.dims.join(',')}] does not fit K = ${K} (transA)`,
      );
    const M = A.dims[1]!;
    const patch = new Float64Array(K);
    const patchF = af ? new Float64Array(K) : undefined;
    for (let m = 0; m < M; m++) {
      for (let k = 0; k < K; k++) patch[k] = a[k * M + m]!;
      if (patchF) for (let k = 0; k < K; k++) patchF[k] = af![k * M + m]!;
      acc.add(0, patch, 0, patchF);
    }
    acc.nSamples += M;
    st.images += M;
    st.positionsPerImage = 1;
    return;
  }
  if (A.dims.length < 1 || A.dims[A.dims.length - 1] !== K) {
    throw new SparrowError(
      'invalid_argument',
      `calibration: ${node.op} '${node.name}' input [${A.dims.join(',')}] does not end in K = ${K}`,
    );
  }
  const totalRows = a.length / K;
  // rank 2 (or 1): every row is an image; rank ≥ 3: the first axis is the image axis
  const images = A.dims.length >= 3 ? A.dims[0]! : totalRows;
  const per = images > 0 ? totalRows / images : 0;
  const count = Math.min(per, maxPos);
  st.positionsPerImage = per;
  if (count < per) st.sampled = true;
  for (let im = 0; im < images; im++) {
    const positions = count < per ? samplePositions(per, count, mulberry32(st.seed ^ Math.imul(st.images + 1, 0x9e3779b1))) : null;
    st.images++;
    for (let s = 0; s < count; s++) {
      const row = im * per + (positions ? positions[s]! : s);
      acc.add(0, a, row * K, af);
    }
    acc.nSamples += count;
  }
}

/** The float network's input of the same node, checked to have the compressed input's shape. */
function floatTwin(node: Node, X: Tensor, Xf: Tensor): Float32Array {
  if (Xf.dtype !== 'float32' || Xf.dims.length !== X.dims.length || Xf.dims.some((d, i) => d !== X.dims[i]))
    throw new SparrowError(
      'internal',
      `calibration: '${node.name}': the float input [${Xf.dims.join(',')}] differs from [${X.dims.join(',')}]`,
    );
  return Xf.data as Float32Array;
}

function checkMaxPos(opts: CalibOptions): number {
  const maxPos = opts.maxPositionsPerImage ?? 4096;
  if (!Number.isInteger(maxPos) || maxPos < 1)
    throw new SparrowError('invalid_argument', `maxPositionsPerImage must be an integer >= 1, got ${String(maxPos)}`);
  return maxPos;
}

/** The chosen layers (default all), validated against findWeightLayers. */
function chooseLayers(graph: Graph, layers: ReadonlyArray<string | WeightLayer> | undefined): WeightLayer[] {
  const all = findWeightLayers(graph);
  const byName = new Map(all.map((l) => [l.node, l]));
  const chosen: WeightLayer[] = [];
  for (const l of layers ?? all) {
    const name = typeof l === 'string' ? l : l.node;
    const found = byName.get(name);
    if (!found) {
      const node = graph.nodes.find((n) => n.name === name);
      throw new SparrowError(
        'invalid_argument',
        node
          ? `node '${name}' (${node.op}) is not a prunable weight layer (Conv/Gemm/MatMul with an unshared float32 constant weight)`
          : `the graph has no node named '${name}'`,
      );
    }
    chosen.push(found);
  }
  return chosen;
}

function newState(layer: WeightLayer, opts: CalibOptions, cross = false): LayerState {
  return {
    layer,
    acc: new Accumulator(layer.K, layer.groups, opts.accel, cross),
    images: 0,
    positionsPerImage: 0,
    sampled: false,
    seed: (hashString(layer.node) ^ Math.imul((opts.seed ?? 0) + 1, 0x85ebca6b)) >>> 0,
  };
}

function accumulate(st: LayerState, node: Node, inputs: ReadonlyArray<Tensor | undefined>, maxPos: number, Xf?: Tensor): void {
  const X = inputs[0];
  if (!X) throw new SparrowError('internal', `calibration: '${node.name}' has no data input`);
  if (st.layer.op === 'Conv') accumulateConv(st, node, X, inputs[1]!, maxPos, Xf);
  else accumulateRows(st, node, X, maxPos, Xf);
}

function finishState(st: LayerState): LayerInputs {
  const groupH = st.acc.finish();
  return { ...st.layer, H: groupH[0]!, groupH, nSamples: st.acc.nSamples, positionsPerImage: st.positionsPerImage, sampled: st.sampled };
}

function feedsOf(graph: Graph, b: Record<string, Tensor> | Tensor): Record<string, Tensor> {
  return isTensor(b) ? singleFeed(graph, b) : b;
}

/**
 * Runs `graph` (float, reference kernels) on every calibration batch and returns, per chosen
 * weight layer (by node name; default: all of findWeightLayers), H = 2 XᵀX of its input
 * patches and the number of patches. `batches`: feeds by input name, or bare tensors for a
 * single-input graph; they are streamed (one batch's activations alive at a time). Every
 * layer sees the activations of the dense graph; see pruneSequentially for the alternative.
 * Throws SparrowError('invalid_argument') for an unknown layer name, bad feeds or no batches.
 */
export function collectLayerInputs(
  graph: Graph,
  batches: Iterable<Record<string, Tensor> | Tensor>,
  layers?: ReadonlyArray<string | WeightLayer>,
  opts: CalibOptions = {},
): Map<string, LayerInputs> {
  const maxPos = checkMaxPos(opts);
  const states = new Map<string, LayerState>();
  for (const layer of chooseLayers(graph, layers)) states.set(layer.node, newState(layer, opts));
  let nBatches = 0;
  const hook: NodeHook = (node, inputs) => {
    const st = states.get(node.name);
    if (st) accumulate(st, node, inputs, maxPos);
  };
  for (const b of batches) {
    runWithHook(graph, feedsOf(graph, b), hook, opts.accel);
    nBatches++;
  }
  if (nBatches === 0) throw new SparrowError('invalid_argument', 'collectLayerInputs: no calibration batches');
  const out = new Map<string, LayerInputs>();
  for (const [name, st] of states) out.set(name, finishState(st));
  return out;
}

export interface SequentialLayer {
  /** the layer's statistics, from the inputs as produced by the already-pruned layers before it */
  inputs: LayerInputs;
  /** the pruned weight, (rows, K) */
  W: Float32Array;
  /** the same, in the stored layout and dims (ready for graph.values.get(weight).const) */
  tensor: Tensor;
  /** milliseconds spent in `prune` */
  ms: number;
  /**
   * With opts.biasCorrection: the per-output-channel shift added to the layer's bias (rows),
   * mean over the calibration set of (float layer output on float inputs) − (pruned layer
   * output on the pruned network's inputs), divided by a Gemm's beta; withPrunedWeights applies
   * it. Only for a float32 bias of one value per output channel (Conv [rows], Gemm C [..., rows])
   * read by this node alone; other layers get none.
   */
  biasDelta?: Float32Array;
}

export interface SequentialOptions extends CalibOptions {
  /**
   * Float targets (default false): runs the float network alongside and, at each layer, first
   * moves W to the least-squares fit of the *float* layer output from the compressed network's
   * inputs, W* = argmin ‖W X − W* X̂‖² + λ‖W* − W‖² = (W Cᵀ + λW)(H/2 + λI)⁻¹ with
   * C = Σ x̂ xᵀ (retargetWeights), before `prune` sees it. Since W* is that least-squares
   * solution, ‖W X − Ŵ X̂‖² = ‖W X − W* X̂‖² + ‖(W* − Ŵ) X̂‖²: pruning W* against H then
   * minimizes the error against the float network, not against W on already degraded inputs
   * (the earlier layers' errors are compensated, not reproduced).
   */
  floatTargets?: boolean;
  /** λ of floatTargets as a fraction of mean diag(H/2) (default 0.01) */
  targetDamp?: number;
  /**
   * Empirical bias correction (default false): runs the float network alongside and, after
   * each layer is pruned, shifts its bias so that every output channel's mean over the
   * calibration set matches the float network's (layers whose bias is a float32 constant).
   */
  biasCorrection?: boolean;
}

/**
 * Sequential (SparseGPT-style) calibration: runs the graph node by node over all calibration
 * batches together; at each chosen layer, H is accumulated from its inputs *as computed by the
 * already-pruned layers before it*, `prune(W (rows, K), inputs)` is called, and the rest of the
 * graph runs with the pruned weight, so later layers compensate earlier layers' errors. One
 * forward pass in all, but the activations of every batch stay alive together (memory ≈ the
 * largest set of live activations × the number of calibration images). The graph is not
 * modified (see withPrunedWeights). Returns the results per layer node name, in node order.
 */
export function pruneSequentially(
  graph: Graph,
  batches: Iterable<Record<string, Tensor> | Tensor>,
  prune: (W: Float32Array, inputs: LayerInputs) => Float32Array,
  layers?: ReadonlyArray<string | WeightLayer>,
  opts: SequentialOptions = {},
): Map<string, SequentialLayer> {
  const maxPos = checkMaxPos(opts);
  const chosen = new Map(chooseLayers(graph, layers).map((l) => [l.node, l]));
  const envs: Array<Map<string, Tensor>> = [];
  for (const b of batches) {
    const feeds = feedsOf(graph, b);
    for (const name of Object.keys(feeds)) {
      if (!graph.inputs.includes(name))
        throw new SparrowError('invalid_argument', `unknown input '${name}': the model's inputs are ${graph.inputs.join(', ')}`);
    }
    const env = new Map<string, Tensor>();
    for (const name of graph.inputs) {
      if (!Object.prototype.hasOwnProperty.call(feeds, name)) throw new SparrowError('invalid_argument', `missing input '${name}'`);
      checkFeed(name, feeds[name], graph.values.get(name)!.info);
      env.set(name, feeds[name]!);
    }
    envs.push(env);
  }
  if (envs.length === 0) throw new SparrowError('invalid_argument', 'pruneSequentially: no calibration batches');
  // the float network's values, for bias correction
  const fenvs = opts.biasCorrection || opts.floatTargets ? envs.map((e) => new Map(e)) : null;
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((n, k) => {
    for (const i of n.inputs) if (i) lastUse.set(i, k);
  });
  const readers = consumers(graph);
  const out = new Map<string, SequentialLayer>();
  graph.nodes.forEach((node, k) => {
    const read = (env: Map<string, Tensor>, name: string): Tensor => {
      const t = env.get(name) ?? graph.values.get(name)?.const;
      if (!t) throw new SparrowError('internal', `value '${name}' is read before it is computed`);
      return t;
    };
    const allInputs = envs.map((env) => node.inputs.map((i) => (i ? read(env, i) : undefined)));
    const layer = chosen.get(node.name);
    if (layer) {
      const cross = !!opts.floatTargets && !!fenvs;
      const st = newState(layer, opts, cross);
      allInputs.forEach((inputs, b) => accumulate(st, node, inputs, maxPos, cross ? read(fenvs![b]!, node.inputs[0]!) : undefined));
      const inputs = finishState(st);
      let W = weightRowsK(graph, layer);
      if (cross) {
        const C = st.acc.finishCross();
        W = retargetWeights(W, inputs.groupH, C, opts.targetDamp ?? 0.01);
      }
      const t0 = performance.now();
      const Wp = prune(W, inputs);
      const ms = performance.now() - t0;
      if (!(Wp instanceof Float32Array) || Wp.length !== W.length) {
        throw new SparrowError(
          'invalid_argument',
          `pruneSequentially: prune() returned ${Wp?.length ?? 'no'} weights for '${node.name}', expected a Float32Array of ${W.length}`,
        );
      }
      const tensor = weightFromRowsK(layer, Wp);
      out.set(node.name, { inputs, W: Wp, tensor, ms });
      for (const inputs of allInputs) inputs[1] = tensor;
    }
    const fast = opts.accel?.kernel?.(node);
    const exec = (inputs: ReadonlyArray<Tensor | undefined>): Tensor[] => {
      try {
        return fast?.(inputs) ?? node.def.ref(inputs, node.attrs, { opset: node.opset, node: node.name });
      } catch (e) {
        if (e instanceof SparrowError) throw e;
        throw new SparrowError(
          'internal',
          `kernel of ${node.op} failed at node '${node.name}': ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    };
    const outs = envs.map((_, b) => exec(allInputs[b]!));
    if (fenvs) {
      const fouts = fenvs.map((env) => exec(node.inputs.map((i) => (i ? read(env, i) : undefined))));
      const biasName = node.inputs[2];
      const bias = biasName ? graph.values.get(biasName)?.const : undefined;
      const res = layer ? out.get(node.name) : undefined;
      // The bias must hold one value per output channel along the output's channel axis (Conv:
      // [rows]; Gemm: C [..., rows], broadcast over the rows of A) and belong to this node alone;
      // a Gemm adds beta·C, so the constant moves by delta / beta.
      const beta = node.op === 'Gemm' ? (typeof node.attrs['beta'] === 'number' ? node.attrs['beta'] : 1) : 1;
      const perChannel =
        !!bias &&
        !!layer &&
        bias.dims.length >= 1 &&
        bias.dims[bias.dims.length - 1] === layer.rows &&
        (layer.op !== 'Conv' || bias.dims.length === 1);
      const sole = !!biasName && (readers.get(biasName)?.length ?? 0) === 1 && !graph.outputs.includes(biasName);
      if (res && bias?.dtype === 'float32' && perChannel && sole && beta !== 0) {
        // per output channel (axis 1 for Conv; last axis for Gemm/MatMul outputs (…, rows))
        const rows = layer!.rows;
        const sum = new Float64Array(rows);
        let count = 0;
        outs.forEach((o, b) => {
          const yc = o[0]!.data as Float32Array,
            yf = fouts[b]![0]!.data as Float32Array;
          const inner = layer!.op === 'Conv' ? elementCount(o[0]!.dims.slice(2)) : 1;
          for (let i = 0; i < yc.length; i++) sum[Math.floor(i / inner) % rows]! += yf[i]! - yc[i]!;
          count += yc.length / rows;
        });
        const delta = new Float64Array(rows);
        for (let r = 0; r < rows; r++) delta[r] = count ? sum[r]! / count : 0;
        res.biasDelta = Float32Array.from(delta, (d) => d / beta);
        outs.forEach((o) => {
          const yc = o[0]!.data as Float32Array;
          const inner = layer!.op === 'Conv' ? elementCount(o[0]!.dims.slice(2)) : 1;
          for (let i = 0; i < yc.length; i++) yc[i]! += delta[Math.floor(i / inner) % rows]!;
        });
      }
      fenvs.forEach((env, b) => {
        node.outputs.forEach((o, j) => {
          if (o && fouts[b]![j]) env.set(o, fouts[b]![j]!);
        });
        for (const i of node.inputs) if (i && lastUse.get(i) === k && !graph.inputs.includes(i)) env.delete(i);
      });
    }
    envs.forEach((env, b) => {
      node.outputs.forEach((o, j) => {
        if (o && outs[b]![j]) env.set(o, outs[b]![j]!);
      });
      for (const i of node.inputs) if (i && lastUse.get(i) === k && !graph.inputs.includes(i)) env.delete(i);
    });
  });
  return out;
}

/**
 * The float-target fit of SequentialOptions.floatTargets, per group g (rows g·rows/G ..): with
 * H_g = 2 Σ x̂ x̂ᵀ and C_g = 2 Σ x̂ xᵀ (K, K) (x̂ the compressed network's patch, x the float
 * network's), W*_g = (W_g C_gᵀ + λ W_g)(H_g + λI)⁻¹, λ = damp · mean diag H_g, i.e. the
 * minimizer of ‖W_g X − W*_g X̂‖² + (λ/2)‖W*_g − W_g‖². W (rows, K) → W* (rows, K) float32; W is
 * not modified. With x̂ = x (C = H) W* = W.
 */
export function retargetWeights(
  W: Float32Array,
  groupH: readonly Float64Array[],
  groupC: readonly Float64Array[],
  damp = 0.01,
): Float32Array {
  const G = groupH.length;
  if (G === 0 || groupC.length !== G) throw new SparrowError('invalid_argument', 'retargetWeights: one H and one C per group');
  const K = Math.round(Math.sqrt(groupH[0]!.length));
  if (K * K !== groupH[0]!.length || W.length % (G * K) !== 0)
    throw new SparrowError('invalid_argument', `retargetWeights: W (${W.length}) does not fit ${G} groups of (rows, ${K})`);
  if (!(damp > 0) || !Number.isFinite(damp)) throw new SparrowError('invalid_argument', `retargetWeights: damp must be > 0, got ${damp}`);
  const rpg = W.length / (G * K);
  const out = new Float32Array(W.length);
  const rhs = new Float64Array(K);
  for (let g = 0; g < G; g++) {
    const H = groupH[g]!,
      C = groupC[g]!;
    // the same refusal as the OBS/GPTQ steps that follow (obs.ts, gptq.ts): calibration
    // activations so large that their Hessian overflows float64 are bad input, not a solver failure
    for (let i = 0; i < H.length; i++)
      if (!Number.isFinite(H[i]!) || !Number.isFinite(C[i]!))
        throw new SparrowError('invalid_argument', `retargetWeights: ${Number.isFinite(H[i]!) ? 'C' : 'H'} at index ${i} is not finite`);
    let mean = 0;
    for (let i = 0; i < K; i++) mean += H[i * K + i]!;
    mean /= K;
    if (!(mean > 0)) {
      out.set(W.subarray(g * rpg * K, (g + 1) * rpg * K), g * rpg * K);
      continue;
    }
    const lambda = damp * mean;
    const { L } = choleskyDamped(H, K, lambda);
    for (let r = g * rpg; r < (g + 1) * rpg; r++) {
      const w = W.subarray(r * K, (r + 1) * K);
      // rhs = C w + λ w (the row of W Cᵀ + λW, transposed)
      for (let i = 0; i < K; i++) {
        let s = lambda * w[i]!;
        const ci = i * K;
        for (let j = 0; j < K; j++) s += C[ci + j]! * w[j]!;
        rhs[i] = s;
      }
      // (H + λI) y = rhs: L z = rhs, Lᵀ y = z
      for (let i = 0; i < K; i++) {
        let s = rhs[i]!;
        const li = i * K;
        for (let j = 0; j < i; j++) s -= L[li + j]! * rhs[j]!;
        rhs[i] = s / L[li + i]!;
      }
      for (let i = K - 1; i >= 0; i--) {
        let s = rhs[i]!;
        for (let j = i + 1; j < K; j++) s -= L[j * K + i]! * rhs[j]!;
        rhs[i] = s / L[i * K + i]!;
      }
      for (let i = 0; i < K; i++) out[r * K + i] = rhs[i]!;
    }
  }
  return out;
}

/**
 * A copy of `graph` (cloneGraph: structure copied, other tensors shared) whose layer weights
 * are replaced: `weights` maps a layer node name to its pruned (rows, K) matrix, or is the
 * result of pruneSequentially.
 */
export function withPrunedWeights(graph: Graph, weights: ReadonlyMap<string, Float32Array | SequentialLayer>): Graph {
  const layers = new Map(findWeightLayers(graph).map((l) => [l.node, l]));
  const g = cloneGraph(graph);
  for (const [name, w] of weights) {
    const layer = layers.get(name);
    if (!layer) throw new SparrowError('invalid_argument', `withPrunedWeights: '${name}' is not a weight layer of the graph`);
    const tensor = w instanceof Float32Array ? weightFromRowsK(layer, w) : w.tensor;
    const v = g.values.get(layer.weight)!;
    g.values.set(layer.weight, { name: v.name, info: { dtype: v.info.dtype, dims: v.info.dims ? [...v.info.dims] : null }, const: tensor });
    const delta = w instanceof Float32Array ? undefined : w.biasDelta;
    const biasName = g.nodes.find((n) => n.name === name)?.inputs[2];
    const bv = biasName ? g.values.get(biasName) : undefined;
    if (delta && bv?.const && bv.const.dtype === 'float32') {
      const b = Float32Array.from(bv.const.data as Float32Array);
      for (let r = 0; r < b.length; r++) b[r]! += delta[r % delta.length]!; // C may be [..., rows] (Gemm)
      g.values.set(biasName!, {
        name: bv.name,
        info: { dtype: 'float32', dims: [...bv.const.dims] },
        const: { dtype: 'float32', dims: [...bv.const.dims], data: b },
      });
    }
  }
  return g;
}

function isTensor(b: unknown): b is Tensor {
  return typeof b === 'object' && b !== null && 'dtype' in b && 'dims' in b && 'data' in b && Array.isArray((b as Tensor).dims);
}

function singleFeed(graph: Graph, t: Tensor): Record<string, Tensor> {
  if (graph.inputs.length !== 1) {
    throw new SparrowError(
      'invalid_argument',
      `the graph has ${graph.inputs.length} inputs (${graph.inputs.join(', ')}): pass feeds by name`,
    );
  }
  return { [graph.inputs[0]!]: t };
}
