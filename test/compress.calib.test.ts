// Calibration statistics (src/compress/calib.ts) on synthetic graphs: Conv (pads, auto_pad,
// strides, dilations, groups incl. depthwise, 1-D), Gemm (transA/transB) and MatMul (rank 3)
// graphs. H is compared with 2·Σ x xᵀ over patches cut by a naive, independent im2col; the patch
// order is tied to the kernel's semantics by checking y = W_(rows,K) · patch + b against the
// reference Conv output. Hessian pruning on the real models: test/compress.calib.data.test.ts.
import { describe, it, expect } from 'vitest';
import '../src/ops/ref/index.js';
import type { Tensor } from '../src/ops/types.js';
import { buildModel, f32, type BuildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { cloneGraph, type Graph } from '../src/ir/graph.js';
import { runReference } from '../src/runtime/reference.js';
import {
  collectLayerInputs,
  findWeightLayers,
  pruneSequentially,
  runWithHook,
  weightFromRowsK,
  weightRowsK,
  withPrunedWeights,
} from '../src/compress/calib.js';
import { magnitudePrune } from '../src/compress/prune.js';
import { SparrowError } from '../src/errors.js';

// ---------------------------------------------------------------------------------------------
// helpers

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}
const randT = (dims: number[], seed: number, reluLike = false): Tensor => {
  const r = rand(seed);
  return f32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => {
      const v = r();
      return reluLike ? Math.max(0, v) : v;
    }),
  );
};

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let s = 0,
    d = 0;
  for (let i = 0; i < a.length; i++) {
    s = Math.max(s, Math.abs(b[i]!));
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
  }
  return d / Math.max(s, 1e-300);
}

interface ConvCase {
  label: string;
  N: number;
  C: number;
  M: number;
  group: number;
  inSp: number[];
  kernel: number[];
  strides?: number[];
  dilations?: number[];
  pads?: number[];
  autoPad?: 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';
}

/** Naive im2col for one group: patches[(n, p)] of length Cg·Πk, (c, tap) → c·Πk + tap. */
function naivePatches(x: Tensor, c: ConvCase, g: number): { patches: Float64Array[]; outSp: number[] } {
  const nSp = c.inSp.length;
  const strides = c.strides ?? c.inSp.map(() => 1),
    dil = c.dilations ?? c.inSp.map(() => 1);
  const pb: number[] = [],
    outSp: number[] = [];
  for (let d = 0; d < nSp; d++) {
    const span = (c.kernel[d]! - 1) * dil[d]! + 1,
      size = c.inSp[d]!;
    if (c.autoPad === 'SAME_UPPER' || c.autoPad === 'SAME_LOWER') {
      const o = Math.ceil(size / strides[d]!);
      const total = Math.max(0, (o - 1) * strides[d]! + span - size);
      pb.push(c.autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2));
      outSp.push(o);
    } else {
      const b = c.autoPad === 'VALID' ? 0 : (c.pads?.[d] ?? 0),
        e = c.autoPad === 'VALID' ? 0 : (c.pads?.[d + nSp] ?? 0);
      pb.push(b);
      outSp.push(Math.floor((size + b + e - span) / strides[d]!) + 1);
    }
  }
  const Cg = c.C / c.group,
    taps = c.kernel.reduce((a, b) => a * b, 1),
    P = outSp.reduce((a, b) => a * b, 1);
  const inSize = c.inSp.reduce((a, b) => a * b, 1);
  const data = x.data as Float32Array;
  const patches: Float64Array[] = [];
  const unflat = (i: number, dims: number[]): number[] => {
    const out: number[] = [];
    for (let d = dims.length - 1; d >= 0; d--) {
      out.unshift(i % dims[d]!);
      i = Math.floor(i / dims[d]!);
    }
    return out;
  };
  for (let n = 0; n < c.N; n++) {
    for (let p = 0; p < P; p++) {
      const o = unflat(p, outSp);
      const patch = new Float64Array(Cg * taps);
      for (let ch = 0; ch < Cg; ch++) {
        for (let t = 0; t < taps; t++) {
          const k = unflat(t, c.kernel);
          let off = 0,
            inside = true;
          for (let d = 0; d < nSp; d++) {
            const pos = o[d]! * strides[d]! - pb[d]! + k[d]! * dil[d]!;
            if (pos < 0 || pos >= c.inSp[d]!) {
              inside = false;
              break;
            }
            off = off * c.inSp[d]! + pos;
          }
          patch[ch * taps + t] = inside ? data[(n * c.C + g * Cg + ch) * inSize + off]! : 0;
        }
      }
      patches.push(patch);
    }
  }
  return { patches, outSp };
}

function gram(patches: Float64Array[], K: number): Float64Array {
  const H = new Float64Array(K * K);
  for (const x of patches) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) H[i * K + j]! += 2 * x[i]! * x[j]!;
  return H;
}

function convModel(c: ConvCase, W: Tensor, B: Tensor): BuildModel {
  const attrs: Record<string, number[] | number | string> = { kernel_shape: c.kernel, group: c.group };
  if (c.strides) attrs['strides'] = c.strides;
  if (c.dilations) attrs['dilations'] = c.dilations;
  if (c.pads) attrs['pads'] = c.pads;
  if (c.autoPad) attrs['auto_pad'] = c.autoPad;
  return {
    nodes: [
      { op: 'Relu', inputs: ['x'], outputs: ['r'], name: 'relu' },
      { op: 'Conv', inputs: ['r', 'W', 'B'], outputs: ['y'], name: 'conv', attrs },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: [c.N, c.C, ...c.inSp] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: null }],
    initializers: { W, B },
  };
}

const CONV_CASES: ConvCase[] = [
  { label: '3x3 pads 1', N: 2, C: 3, M: 4, group: 1, inSp: [6, 5], kernel: [3, 3], pads: [1, 1, 1, 1] },
  { label: 'stride 2, asymmetric pads', N: 1, C: 2, M: 3, group: 1, inSp: [7, 6], kernel: [3, 2], strides: [2, 2], pads: [0, 1, 2, 0] },
  { label: 'dilation 2', N: 2, C: 2, M: 2, group: 1, inSp: [8, 7], kernel: [3, 3], dilations: [2, 2], pads: [2, 1, 2, 1] },
  { label: 'groups 2', N: 2, C: 4, M: 6, group: 2, inSp: [5, 5], kernel: [3, 3], pads: [1, 1, 1, 1] },
  { label: 'depthwise', N: 1, C: 3, M: 3, group: 3, inSp: [6, 6], kernel: [3, 3], strides: [2, 1], pads: [1, 1, 1, 1] },
  { label: 'SAME_UPPER 5x5 (mnist-8 style)', N: 1, C: 2, M: 3, group: 1, inSp: [7, 7], kernel: [5, 5], autoPad: 'SAME_UPPER' },
  { label: 'SAME_LOWER stride 2', N: 1, C: 1, M: 2, group: 1, inSp: [6, 5], kernel: [2, 3], strides: [2, 2], autoPad: 'SAME_LOWER' },
  { label: 'VALID 1x1', N: 3, C: 5, M: 2, group: 1, inSp: [3, 4], kernel: [1, 1], autoPad: 'VALID' },
  { label: '1-D', N: 2, C: 3, M: 2, group: 1, inSp: [9], kernel: [3], strides: [2], pads: [1, 0] },
];

// ---------------------------------------------------------------------------------------------
// synthetic

describe('collectLayerInputs on hand-made graphs', () => {
  for (const c of CONV_CASES) {
    it(`Conv ${c.label}: H = 2·Σ patch patchᵀ per group; W·patch + b reproduces the Conv output`, () => {
      const Cg = c.C / c.group,
        taps = c.kernel.reduce((a, b) => a * b, 1),
        K = Cg * taps;
      const W = randT([c.M, Cg, ...c.kernel], 3),
        B = randT([c.M], 4);
      const g = importOnnx(buildModel(convModel(c, W, B)));
      const batches = [randT([c.N, c.C, ...c.inSp], 10), randT([c.N, c.C, ...c.inSp], 11)];
      const layers = findWeightLayers(g);
      expect(layers).toEqual([{ node: 'conv', op: 'Conv', weight: 'W', dims: W.dims, rows: c.M, K, groups: c.group, layout: 'rowsK' }]);
      const stats = collectLayerInputs(g, batches).get('conv')!;
      expect(stats.groupH.length).toBe(c.group);
      expect(stats.H).toBe(stats.groupH[0]);
      const Wm = weightRowsK(g, layers[0]!);
      const Mg = c.M / c.group;
      let P = 0;
      for (let gi = 0; gi < c.group; gi++) {
        const all: Float64Array[] = [];
        for (const b of batches) {
          const relu = f32(
            b.dims,
            Array.from(b.data as Float32Array, (v) => Math.max(0, v)),
          );
          const { patches, outSp } = naivePatches(relu, c, gi);
          P = outSp.reduce((a, x) => a * x, 1);
          all.push(...patches);
          // the patch layout is the weight layout: y[n, m, p] = b[m] + W[m, :] · patch(n, p)
          const y = runReference(g, { x: b })['y']!;
          expect(y.dims).toEqual([c.N, c.M, ...outSp]);
          for (let n = 0; n < c.N; n++) {
            for (let p = 0; p < P; p++) {
              for (let mg = 0; mg < Mg; mg++) {
                const m = gi * Mg + mg;
                let s = (B.data as Float32Array)[m]!;
                for (let k = 0; k < K; k++) s += Wm[m * K + k]! * patches[n * P + p]![k]!;
                expect(Math.abs(s - (y.data as Float32Array)[(n * c.M + m) * P + p]!)).toBeLessThan(1e-4);
              }
            }
          }
        }
        expect(maxRel(stats.groupH[gi]!, gram(all, K))).toBeLessThan(1e-12);
      }
      expect(stats.nSamples).toBe(2 * c.N * P);
      expect(stats.positionsPerImage).toBe(P);
      expect(stats.sampled).toBe(false);
    });
  }

  it('sampling: at most maxPositionsPerImage per image, deterministic, a subset of the patches', () => {
    const c = CONV_CASES[0]!; // P = 30 positions per image
    const W = randT([c.M, c.C, 3, 3], 3),
      B = randT([c.M], 4);
    const g = importOnnx(buildModel(convModel(c, W, B)));
    const batches = [randT([c.N, c.C, ...c.inSp], 10), randT([c.N, c.C, ...c.inSp], 11)];
    const full = collectLayerInputs(g, batches).get('conv')!;
    const a = collectLayerInputs(g, batches, ['conv'], { maxPositionsPerImage: 7 }).get('conv')!;
    const b = collectLayerInputs(g, batches, ['conv'], { maxPositionsPerImage: 7 }).get('conv')!;
    const other = collectLayerInputs(g, batches, ['conv'], { maxPositionsPerImage: 7, seed: 5 }).get('conv')!;
    expect(a.nSamples).toBe(4 * 7);
    expect(a.sampled).toBe(true);
    expect(a.positionsPerImage).toBe(30);
    expect(Array.from(a.H)).toEqual(Array.from(b.H));
    expect(Array.from(other.H)).not.toEqual(Array.from(a.H));
    const K = full.K;
    for (let i = 0; i < K; i++) {
      expect(a.H[i * K + i]).toBeLessThanOrEqual(full.H[i * K + i]! * (1 + 1e-12)); // Σ over a subset of x_i² ≥ 0
      for (let j = 0; j < K; j++) expect(a.H[i * K + j]).toBe(a.H[j * K + i]);
    }
    // a cap at or above P changes nothing
    expect(Array.from(collectLayerInputs(g, batches, ['conv'], { maxPositionsPerImage: 30 }).get('conv')!.H)).toEqual(Array.from(full.H));
  });

  it('Gemm (transB 1 / 0, transA) and MatMul (rank 3 input, sampled rows): H over the input rows; weights round-trip to (rows, K)', () => {
    const K = 5,
      N = 3,
      rows = 4,
      T = 6;
    const Wt = randT([N, K], 1),
      Wk = randT([K, N], 2),
      Wa = randT([N, K], 3),
      Wm = randT([K, rows], 4);
    const model: BuildModel = {
      nodes: [
        { op: 'Gemm', inputs: ['a', 'Wt'], outputs: ['y1'], name: 'gemmT', attrs: { transB: 1 } },
        { op: 'Gemm', inputs: ['a', 'Wk'], outputs: ['y2'], name: 'gemmK' },
        { op: 'Gemm', inputs: ['aT', 'Wa'], outputs: ['y3'], name: 'gemmA', attrs: { transA: 1, transB: 1 } },
        { op: 'MatMul', inputs: ['s', 'Wm'], outputs: ['y4'], name: 'mm' },
      ],
      inputs: [
        { name: 'a', dtype: 'float32', dims: [7, K] },
        { name: 'aT', dtype: 'float32', dims: [K, 7] },
        { name: 's', dtype: 'float32', dims: [2, T, K] },
      ],
      outputs: ['y1', 'y2', 'y3', 'y4'].map((name) => ({ name, dtype: 'float32' as const, dims: null })),
      initializers: { Wt, Wk, Wa, Wm },
    };
    const g = importOnnx(buildModel(model));
    const layers = findWeightLayers(g);
    expect(layers.map((l) => [l.node, l.rows, l.K, l.layout])).toEqual([
      ['gemmT', N, K, 'rowsK'],
      ['gemmK', N, K, 'KRows'],
      ['gemmA', N, K, 'rowsK'],
      ['mm', rows, K, 'KRows'],
    ]);
    const a = randT([7, K], 20),
      aT = randT([K, 7], 21),
      s = randT([2, T, K], 22);
    const rowsOf = (t: Tensor, transposed: boolean): Float64Array[] => {
      const d = t.data as Float32Array;
      if (!transposed) return Array.from({ length: d.length / K }, (_, r) => Float64Array.from(d.subarray(r * K, (r + 1) * K)));
      const M = t.dims[1]!;
      return Array.from({ length: M }, (_, m) => Float64Array.from({ length: K }, (_, k) => d[k * M + m]!));
    };
    const st = collectLayerInputs(g, [{ a, aT, s }], undefined, { maxPositionsPerImage: 4 });
    expect(maxRel(st.get('gemmT')!.H, gram(rowsOf(a, false), K))).toBeLessThan(1e-12);
    expect(maxRel(st.get('gemmK')!.H, gram(rowsOf(a, false), K))).toBeLessThan(1e-12);
    expect(maxRel(st.get('gemmA')!.H, gram(rowsOf(aT, true), K))).toBeLessThan(1e-12);
    expect(st.get('gemmT')!.nSamples).toBe(7);
    const mm = st.get('mm')!;
    expect(mm.nSamples).toBe(2 * 4); // 2 images (first axis) × 4 of 6 rows
    expect(mm.sampled).toBe(true);
    const fullMm = collectLayerInputs(g, [{ a, aT, s }], ['mm']).get('mm')!;
    expect(maxRel(fullMm.H, gram(rowsOf(s, false), K))).toBeLessThan(1e-12);
    // (rows, K) views: y = W_(rows,K) · x for every layout
    const WkRows = weightRowsK(g, layers[1]!);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) expect(WkRows[n * K + k]).toBe((Wk.data as Float32Array)[k * N + n]);
    for (const l of layers) {
      const back = weightFromRowsK(l, weightRowsK(g, l));
      expect(back.dims).toEqual(l.dims);
      expect(Array.from(back.data as Float32Array)).toEqual(Array.from(g.values.get(l.weight)!.const!.data as Float32Array));
    }
    expect(() => weightFromRowsK(layers[0]!, new Float32Array(3))).toThrow(SparrowError);
  });

  it('pruneSequentially: later layers see the pruned earlier layers; withPrunedWeights copies the graph', () => {
    const model: BuildModel = {
      nodes: [
        { op: 'Conv', inputs: ['x', 'W1', 'B1'], outputs: ['c1'], name: 'conv1', attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['c1'], outputs: ['r1'], name: 'relu1' },
        { op: 'Conv', inputs: ['r1', 'W2'], outputs: ['c2'], name: 'conv2', attrs: { kernel_shape: [3, 3], strides: [2, 2] } },
        { op: 'Flatten', inputs: ['c2'], outputs: ['f'], name: 'flat' },
        { op: 'Gemm', inputs: ['f', 'W3'], outputs: ['y'], name: 'fc', attrs: { transB: 1 } },
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: [3, 2, 7, 7] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: null }],
      initializers: { W1: randT([4, 2, 3, 3], 1), B1: randT([4], 2), W2: randT([3, 4, 3, 3], 3), W3: randT([5, 27], 4) },
    };
    const g = importOnnx(buildModel(model));
    const batches = [randT([3, 2, 7, 7], 5), randT([3, 2, 7, 7], 6)];
    const opts = { maxPositionsPerImage: 11 };
    const dense = collectLayerInputs(g, batches, undefined, opts);
    // identity "pruning": exactly the one-shot statistics
    const same = pruneSequentially(g, batches, (W) => W, undefined, opts);
    expect([...same.keys()]).toEqual(['conv1', 'conv2', 'fc']);
    for (const [name, r] of same) {
      expect(Array.from(r.inputs.H)).toEqual(Array.from(dense.get(name)!.H));
      expect(r.inputs.nSamples).toBe(dense.get(name)!.nSamples);
    }
    // prune conv1 hard: conv2's statistics are those of the graph with conv1 pruned
    const seq = pruneSequentially(g, batches, (W, li) => (li.node === 'conv1' ? magnitudePrune(W, 0.75) : W), undefined, opts);
    const conv1Only = withPrunedWeights(g, new Map([['conv1', seq.get('conv1')!.W]]));
    expect(g.values.get('W1')!.const!.data).not.toBe(conv1Only.values.get('W1')!.const!.data);
    expect(Array.from(g.values.get('W1')!.const!.data as Float32Array)).toEqual(
      Array.from(model.initializers!['W1']!.data as Float32Array),
    );
    const after = collectLayerInputs(conv1Only, batches, undefined, opts);
    expect(Array.from(seq.get('conv1')!.inputs.H)).toEqual(Array.from(dense.get('conv1')!.H));
    expect(Array.from(seq.get('conv2')!.inputs.H)).toEqual(Array.from(after.get('conv2')!.H));
    expect(Array.from(seq.get('fc')!.inputs.H)).toEqual(Array.from(after.get('fc')!.H));
    expect(Array.from(seq.get('conv2')!.inputs.H)).not.toEqual(Array.from(dense.get('conv2')!.H));
    // the pruned graph from the sequential result runs and matches a manual replacement
    const pg = withPrunedWeights(g, seq);
    const want = runReference(conv1Only, { x: batches[0]! })['y']!;
    expect(Array.from(runReference(pg, { x: batches[0]! })['y']!.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
    const code = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return (e as SparrowError).code;
      }
      return 'none';
    };
    expect(code(() => pruneSequentially(g, batches, () => new Float32Array(3)))).toBe('invalid_argument');
    expect(code(() => pruneSequentially(g, [], (W) => W))).toBe('invalid_argument');
    expect(code(() => withPrunedWeights(g, new Map([['relu1', new Float32Array(1)]])))).toBe('invalid_argument');
  });

  it('layer selection: shared weights are left out; unknown / unprunable names and no batches are errors', () => {
    const W = randT([3, 3], 1);
    const g = importOnnx(
      buildModel({
        nodes: [
          { op: 'MatMul', inputs: ['x', 'W'], outputs: ['h'], name: 'mm1' },
          { op: 'MatMul', inputs: ['h', 'W'], outputs: ['y'], name: 'mm2' },
          { op: 'Relu', inputs: ['y'], outputs: ['z'], name: 'relu' },
        ],
        inputs: [{ name: 'x', dtype: 'float32', dims: [2, 3] }],
        outputs: [{ name: 'z', dtype: 'float32', dims: null }],
        initializers: { W },
      }),
    );
    expect(findWeightLayers(g)).toEqual([]);
    const x = randT([2, 3], 2);
    const code = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return (e as SparrowError).code;
      }
      return 'none';
    };
    expect(code(() => collectLayerInputs(g, [x], ['relu']))).toBe('invalid_argument');
    expect(code(() => collectLayerInputs(g, [x], ['nope']))).toBe('invalid_argument');
    expect(code(() => collectLayerInputs(g, [], []))).toBe('invalid_argument');
    expect(collectLayerInputs(g, [x], []).size).toBe(0);
    // runWithHook sees every node with its inputs, and returns what runReference returns
    const seen: string[] = [];
    const out = runWithHook(g, { x }, (n, ins) => {
      seen.push(`${n.name}:${ins.length}`);
    });
    expect(seen).toEqual(['mm1:2', 'mm2:2', 'relu:1']);
    expect(Array.from(out['z']!.data as Float32Array)).toEqual(Array.from(runReference(g, { x })['z']!.data as Float32Array));
  });
});

// ---------------------------------------------------------------------------------------------
// bias correction (pruneSequentially { biasCorrection: true } + withPrunedWeights)
//
// Oracle: run the float graph and the graph returned by withPrunedWeights on the calibration
// batches, every layer output exposed, and average each output channel over the batches
// (channel axis 1 for Conv NCHW, the last axis for Gemm / MatMul): after correction every layer
// with a float32 bias has the float layer's channel means (to 1e-5); without correction (the same
// pruned weights, no deltas) they are off by far more, so the check can fail.

/** Per output channel, the mean of `name` over the batches: axis 1 (NCHW) or the last axis. */
function channelMeans(g: Graph, name: string, batches: Array<Record<string, Tensor>>, axis: 'nchw' | 'last'): Float64Array {
  const c = cloneGraph(g);
  c.outputs = [name];
  let sum: Float64Array | undefined,
    count = 0;
  for (const b of batches) {
    const y = runReference(c, b)[name]!;
    const C = axis === 'nchw' ? y.dims[1]! : y.dims[y.dims.length - 1]!;
    const inner = axis === 'nchw' ? y.dims.slice(2).reduce((a, x) => a * x, 1) : 1;
    sum ??= new Float64Array(C);
    const d = y.data as Float32Array;
    for (let i = 0; i < d.length; i++) sum[Math.floor(i / inner) % C]! += d[i]!;
    count += d.length / C;
  }
  return sum!.map((v) => v / count);
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('pruneSequentially bias correction', () => {
  // conv1 (bias) → relu → conv2 (no bias) → relu → conv3 (bias, stride 2) → flatten → fc (Gemm
  // transB, bias [5]) → relu → fc2 (Gemm, C [1, 4], beta 0.5, alpha 2) → mm (MatMul, no bias)
  const model: BuildModel = {
    nodes: [
      { op: 'Conv', inputs: ['x', 'W1', 'B1'], outputs: ['c1'], name: 'conv1', attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'], name: 'relu1' },
      { op: 'Conv', inputs: ['r1', 'W2'], outputs: ['c2'], name: 'conv2', attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c2'], outputs: ['r2'], name: 'relu2' },
      { op: 'Conv', inputs: ['r2', 'W3', 'B3'], outputs: ['c3'], name: 'conv3', attrs: { kernel_shape: [3, 3], strides: [2, 2] } },
      { op: 'Flatten', inputs: ['c3'], outputs: ['f'], name: 'flat' },
      { op: 'Gemm', inputs: ['f', 'W4', 'B4'], outputs: ['g4'], name: 'fc', attrs: { transB: 1 } },
      { op: 'Relu', inputs: ['g4'], outputs: ['r4'], name: 'relu4' },
      { op: 'Gemm', inputs: ['r4', 'W5', 'B5'], outputs: ['g5'], name: 'fc2', attrs: { beta: 0.5, alpha: 2 } },
      { op: 'MatMul', inputs: ['g5', 'W6'], outputs: ['y'], name: 'mm' },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: [4, 2, 7, 7] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: null }],
    initializers: {
      W1: randT([4, 2, 3, 3], 1),
      B1: randT([4], 2),
      W2: randT([5, 4, 3, 3], 3),
      W3: randT([3, 5, 3, 3], 4),
      B3: randT([3], 5),
      W4: randT([5, 27], 6),
      B4: randT([5], 7),
      W5: randT([5, 4], 8),
      B5: randT([1, 4], 9),
      W6: randT([4, 3], 10),
    },
  };
  const LAYERS: Array<[string, string, 'nchw' | 'last', string | null]> = [
    ['conv1', 'c1', 'nchw', 'B1'],
    ['conv2', 'c2', 'nchw', null],
    ['conv3', 'c3', 'nchw', 'B3'],
    ['fc', 'g4', 'last', 'B4'],
    ['fc2', 'g5', 'last', 'B5'],
    ['mm', 'y', 'last', null],
  ];

  it('every biased layer gets the float channel means back (Conv axis 1, Gemm last axis); layers without bias are left alone', () => {
    const g = importOnnx(buildModel(model));
    const batches = [0, 1, 2].map((i) => ({ x: randT([4, 2, 7, 7], 20 + i, true) }));
    const prune = (W: Float32Array): Float32Array => magnitudePrune(W, 0.6);
    const seq = pruneSequentially(g, batches, prune, undefined, { biasCorrection: true });
    const plainSeq = pruneSequentially(g, batches, prune);
    const corrected = withPrunedWeights(g, seq);
    const uncorrected = withPrunedWeights(g, new Map([...seq].map(([k, v]) => [k, v.W])));
    for (const [node, out, axis, bias] of LAYERS) {
      const r = seq.get(node)!;
      expect(r.biasDelta === undefined, node).toBe(bias === null);
      expect(plainSeq.get(node)!.biasDelta, node).toBeUndefined();
      const want = channelMeans(g, out, batches, axis);
      const got = channelMeans(corrected, out, batches, axis);
      const before = channelMeans(uncorrected, out, batches, axis);
      const scale = Math.max(1, ...Array.from(want, Math.abs));
      if (bias) {
        expect(r.biasDelta!.length, node).toBe(want.length);
        expect(maxAbsDiff(got, want) / scale, `${node}: channel means after correction`).toBeLessThan(1e-5);
        expect(maxAbsDiff(before, want) / scale, `${node}: channel means without correction`).toBeGreaterThan(1e-3);
      }
    }
    // the corrected graph has bias + delta (the delta as the stored bias shift), same shapes;
    // the original graph is untouched
    for (const [node, , , bias] of LAYERS) {
      if (!bias) continue;
      const orig = model.initializers![bias]!;
      expect(Array.from(g.values.get(bias)!.const!.data as Float32Array), bias).toEqual(Array.from(orig.data as Float32Array));
      const nb = corrected.values.get(bias)!.const!;
      expect(nb.dims, bias).toEqual(orig.dims);
      const delta = seq.get(node)!.biasDelta!;
      const od = orig.data as Float32Array,
        nd = nb.data as Float32Array;
      for (let i = 0; i < od.length; i++) expect(nd[i], `${bias}[${i}]`).toBe(Math.fround(od[i]! + delta[i % delta.length]!));
      expect(maxAbsDiff(nd, od), bias).toBeGreaterThan(0);
    }
    expect(corrected.nodes.map((n) => n.inputs)).toEqual(g.nodes.map((n) => n.inputs));
    expect(Array.from(g.values.get('W2')!.const!.data as Float32Array)).toEqual(
      Array.from(model.initializers!['W2']!.data as Float32Array),
    );
    // identity "pruning": nothing to correct
    const same = pruneSequentially(g, batches, (W) => W, undefined, { biasCorrection: true });
    for (const [node, , , bias] of LAYERS)
      if (bias) expect(Math.max(...Array.from(same.get(node)!.biasDelta!, Math.abs)), node).toBeLessThan(1e-6);
  });

  // Regression (found by these tests): the delta was added element-wise to any float32 C, so a
  // scalar C got only delta[0] (and a [M, N] C read delta past its end: NaN), a shared C was
  // shifted for both readers, and a Gemm's beta scaled the shift (fc2 above: off by 0.24).
  it('Gemm biases that are not one value per output channel (scalar, [M, 1]) or are shared are left alone; C [M, N] is corrected', () => {
    // C scalar [1], C [M, 1] (per sample, not per channel), and one bias constant read by two Gemms
    const mk = (C: Tensor, shared: boolean): BuildModel => ({
      nodes: [
        { op: 'Gemm', inputs: ['a', 'Wa', 'C'], outputs: ['h'], name: 'ga', attrs: { transB: 1 } },
        { op: 'Relu', inputs: ['h'], outputs: ['r'], name: 'relu' },
        { op: 'Gemm', inputs: ['r', 'Wb', shared ? 'C' : 'Cb'], outputs: ['y'], name: 'gb', attrs: { transB: 1 } },
      ],
      inputs: [{ name: 'a', dtype: 'float32', dims: [3, 6] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: null }],
      initializers: { Wa: randT([4, 6], 1), Wb: randT([4, 4], 2), C, ...(shared ? {} : { Cb: randT([4], 3) }) },
    });
    const cases: Array<[string, BuildModel]> = [
      ['scalar C', mk(randT([1], 4), false)],
      ['C [M, 1]', mk(randT([3, 1], 5), false)],
      ['shared C [4]', mk(randT([4], 6), true)],
      ['C [M, 4]', mk(randT([3, 4], 7), false)], // per channel along the last axis: corrected
    ];
    for (const [label, m] of cases) {
      const g = importOnnx(buildModel(m));
      const batches = [{ a: randT([3, 6], 30) }, { a: randT([3, 6], 31) }];
      const seq = pruneSequentially(g, batches, (W) => magnitudePrune(W, 0.5), undefined, { biasCorrection: true });
      const pg = withPrunedWeights(g, seq);
      for (const [node, out] of [
        ['ga', 'h'],
        ['gb', 'y'],
      ] as const) {
        // whatever is done, the graph withPrunedWeights returns must be the one pruneSequentially
        // corrected against: where a delta is reported, the channel means match the float ones
        const want = channelMeans(g, out, batches, 'last');
        const got = channelMeans(pg, out, batches, 'last');
        for (const v of got) expect(Number.isFinite(v), `${label} ${node}`).toBe(true);
        if (seq.get(node)!.biasDelta) expect(maxAbsDiff(got, want), `${label} ${node}`).toBeLessThan(1e-5);
      }
      // none of these biases can carry a per-channel shift; gb's own C [4] can
      expect(seq.get('gb')!.biasDelta === undefined, label).toBe(label.startsWith('shared'));
      if (label === 'C [M, 4]') {
        expect(seq.get('ga')!.biasDelta, label).toBeDefined();
        continue;
      }
      expect(seq.get('ga')!.biasDelta, label).toBeUndefined();
      expect(Array.from(pg.values.get('C')!.const!.data as Float32Array), label).toEqual(
        Array.from(g.values.get('C')!.const!.data as Float32Array),
      );
    }
  });
});
