// Structured (channel) pruning, src/compress/channels.ts.
//
// What is asserted:
//  - which channels may go: in a model with a residual Add, only the Conv → Relu → Conv pair
//    whose inner channels reach nothing else is found; the convs feeding the Add are not;
//  - group OBS (groupObs) against brute force on random least-squares problems: removing one
//    channel, the chosen one is the channel whose removal (with the others and the bias
//    re-fitted by a naive least-squares solve) costs least, the reported cost equals that
//    re-fit's error ‖X̃(w − ŵ)‖², and the compensated weights equal the re-fit;
//  - the rewritten graph: smaller weights, output shape unchanged, the reference engine and
//    sparrow-f32 agree on it; with every channel kept... (fraction 0) the graph is unchanged;
//    B's new weights and bias are the least-squares fit of the original B output from the kept
//    channels (naive solve on the same patches) to 1e-3 relative.
import { describe, it, expect } from 'vitest';
import { buildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { Session } from '../src/runtime/session.js';
import { findChannelPairs, groupObs, pruneChannels } from '../src/compress/channels.js';
import { choleskyDamped, choleskyInverse } from '../src/compress/linalg.js';
import type { Tensor } from '../src/ops/types.js';
import '../src/ops/ref/index.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}
const randT = (r: () => number, dims: number[], scale = 1): Tensor => ({
  dtype: 'float32',
  dims,
  data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => scale * r()),
});

/** x → A(4→6, 3x3) → Relu → B(6→5, 3x3); S(4→5, 1x1) x; Add(B, S) → Relu → D(5→3, 1x1) */
function residualModel(seed: number): Uint8Array {
  const r = rng(seed);
  return buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 4, 6, 6] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 3, 6, 6] }],
    initializers: {
      wa: randT(r, [6, 4, 3, 3]),
      ba: randT(r, [6]),
      wb: randT(r, [5, 6, 3, 3]),
      bb: randT(r, [5]),
      ws: randT(r, [5, 4, 1, 1]),
      wd: randT(r, [3, 5, 1, 1]),
    },
    nodes: [
      { op: 'Conv', name: 'A', inputs: ['x', 'wa', 'ba'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['a'], outputs: ['ar'] },
      { op: 'Conv', name: 'B', inputs: ['ar', 'wb', 'bb'], outputs: ['b'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Conv', name: 'S', inputs: ['x', 'ws'], outputs: ['s'] },
      { op: 'Add', inputs: ['b', 's'], outputs: ['z'] },
      { op: 'Relu', inputs: ['z'], outputs: ['zr'] },
      { op: 'Conv', name: 'D', inputs: ['zr', 'wd'], outputs: ['y'] },
    ],
  });
}

/** Naive least squares min ‖X̃ β − t‖² (X̃ (n, p)) by normal equations and Gaussian elimination. */
function lstsq(X: number[][], t: number[]): number[] {
  const p = X[0]!.length;
  const A = Array.from({ length: p }, (_, i) =>
    Array.from({ length: p + 1 }, (_, j) =>
      j < p ? X.reduce((s, row) => s + row[i]! * row[j]!, 0) : X.reduce((s, row, k) => s + row[i]! * t[k]!, 0),
    ),
  );
  for (let c = 0; c < p; c++) {
    let piv = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[piv]![c]!)) piv = r;
    [A[c], A[piv]] = [A[piv]!, A[c]!];
    for (let r = 0; r < p; r++) {
      if (r === c) continue;
      const f = A[r]![c]! / A[c]![c]!;
      for (let j = c; j <= p; j++) A[r]![j]! -= f * A[c]![j]!;
    }
  }
  return A.map((row, i) => row[p]! / row[i]!);
}

describe('findChannelPairs', () => {
  it('finds only the untied Conv → Relu → Conv pair (the Add ties B and S)', () => {
    const g = importOnnx(residualModel(1));
    optimize(g);
    const pairs = findChannelPairs(g);
    expect(pairs.map((p) => [p.a.name, p.b.name])).toEqual([['A', 'B']]);
  });
});

describe('groupObs', () => {
  it('removing one channel: the brute-force least-squares optimum (choice, cost, weights)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = rng(seed);
      const C = 4,
        kk = 2,
        K = C * kk,
        rows = 3,
        n = 40;
      // correlated inputs with a non-zero mean, plus the constant column
      const X = Array.from({ length: n }, () => {
        const base = r();
        return [...Array.from({ length: K }, () => 0.5 + base + 0.7 * r()), 1];
      });
      const Wt = new Float64Array(rows * (K + 1)).map(() => r());
      const H = new Float64Array((K + 1) * (K + 1));
      for (const x of X) for (let i = 0; i <= K; i++) for (let j = 0; j <= K; j++) H[i * (K + 1) + j]! += 2 * x[i]! * x[j]!;
      const Hinv = choleskyInverse(choleskyDamped(H, K + 1, 0).L, K + 1);
      const res = groupObs(Wt, Hinv, rows, C, kk, 1);
      // brute force: every channel removed, the rest (bias included) re-fitted
      let bestC = -1,
        bestErr = Infinity,
        bestW: number[][] = [];
      for (let c = 0; c < C; c++) {
        const keepCols = Array.from({ length: K + 1 }, (_, j) => j).filter((j) => j >= K || Math.floor(j / kk) !== c);
        const Xk = X.map((x) => keepCols.map((j) => x[j]!));
        let err = 0;
        const fits: number[][] = [];
        for (let row = 0; row < rows; row++) {
          const target = X.map((x) => x.reduce((s, v, j) => s + v * Wt[row * (K + 1) + j]!, 0));
          const beta = lstsq(Xk, target);
          const full = new Array<number>(K + 1).fill(0);
          keepCols.forEach((j, i) => (full[j] = beta[i]!));
          fits.push(full);
          for (let k = 0; k < n; k++) {
            const d = Xk[k]!.reduce((s, v, i) => s + v * beta[i]!, 0) - target[k]!;
            err += d * d;
          }
        }
        if (err < bestErr) {
          bestErr = err;
          bestC = c;
          bestW = fits;
        }
      }
      expect(res.removed).toEqual([bestC]);
      expect(res.cost).toBeCloseTo(bestErr, 6);
      for (let row = 0; row < rows; row++) for (let j = 0; j <= K; j++) expect(res.W[row * (K + 1) + j]!).toBeCloseTo(bestW[row]![j]!, 6);
    }
  });
});

describe('pruneChannels on a residual model', () => {
  const g = importOnnx(residualModel(7));
  optimize(g);
  const r = rng(99);
  const calib = [randT(r, [16, 4, 6, 6], 2), randT(r, [16, 4, 6, 6], 2)];
  const test = randT(r, [4, 4, 6, 6], 2);

  it('rewrites A and B to fewer channels; reference and sparrow-f32 agree on the new graph', async () => {
    const { graph, report } = pruneChannels(g, calib, 0.5);
    expect(report.layers).toEqual([expect.objectContaining({ node: 'A', next: 'B', channels: 6, kept: 3 })]);
    const A = graph.nodes.find((n) => n.name === 'A')!;
    const B = graph.nodes.find((n) => n.name === 'B')!;
    expect(graph.values.get(A.inputs[1]!)!.const!.dims).toEqual([3, 4, 3, 3]);
    expect(graph.values.get(A.inputs[2]!)!.const!.dims).toEqual([3]);
    expect(graph.values.get(B.inputs[1]!)!.const!.dims).toEqual([5, 3, 3, 3]);
    // the original graph is untouched
    expect(g.values.get(g.nodes.find((n) => n.name === 'A')!.inputs[1]!)!.const!.dims).toEqual([6, 4, 3, 3]);
    const ref = await Session.fromGraph(graph, { engine: 'reference' }).run({ x: test });
    const f32 = await Session.fromGraph(graph, { engine: 'sparrow-f32' }).run({ x: test });
    expect(ref['y']!.dims).toEqual([4, 3, 6, 6]);
    const a = ref['y']!.data as Float32Array,
      b = f32['y']!.data as Float32Array;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(a[i]!)));
  });

  it("B's new weights and bias are the least-squares fit of B's original output from the kept channels", async () => {
    const { graph } = pruneChannels(g, calib, 0.5, { damp: 0 });
    const A0 = g.nodes.find((n) => n.name === 'A')!;
    const B0 = g.nodes.find((n) => n.name === 'B')!;
    const B1 = graph.nodes.find((n) => n.name === 'B')!;
    const A1 = graph.nodes.find((n) => n.name === 'A')!;
    // which original channels were kept: match A's new rows to the old ones
    const wa0 = g.values.get(A0.inputs[1]!)!.const!.data as Float32Array;
    const wa1 = graph.values.get(A1.inputs[1]!)!.const!.data as Float32Array;
    const kept = [0, 1, 2].map((i) => [0, 1, 2, 3, 4, 5].find((c) => wa0[c * 36] === wa1[i * 36])!);
    // patches of B's input (ar, the float graph), 3x3 pad 1, over the calibration set
    const gg = { ...g, outputs: ['ar'] };
    const rowsX: number[][] = [];
    const targets: number[][] = [];
    const wb0 = g.values.get(B0.inputs[1]!)!.const!.data as Float32Array;
    const bb0 = g.values.get(B0.inputs[2]!)!.const!.data as Float32Array;
    for (const x of calib) {
      const ar = (await Session.fromGraph(gg, { engine: 'reference' }).run({ x }))['ar']!;
      const d = ar.data as Float32Array;
      const N = ar.dims[0]!;
      for (let nI = 0; nI < N; nI++)
        for (let oy = 0; oy < 6; oy++)
          for (let ox = 0; ox < 6; ox++) {
            const patch: number[] = [];
            for (let c = 0; c < 6; c++)
              for (let i = 0; i < 3; i++)
                for (let j = 0; j < 3; j++) {
                  const y = oy + i - 1,
                    xx = ox + j - 1;
                  patch.push(y >= 0 && y < 6 && xx >= 0 && xx < 6 ? d[((nI * 6 + c) * 6 + y) * 6 + xx]! : 0);
                }
            rowsX.push([...kept.flatMap((c) => patch.slice(c * 9, c * 9 + 9)), 1]);
            targets.push(Array.from({ length: 5 }, (_, r) => patch.reduce((s, v, k) => s + v * wb0[r * 54 + k]!, bb0[r]!)));
          }
    }
    const wb1 = graph.values.get(B1.inputs[1]!)!.const!.data as Float32Array;
    const bb1 = graph.values.get(B1.inputs[2]!)!.const!.data as Float32Array;
    for (let r = 0; r < 5; r++) {
      const beta = lstsq(
        rowsX,
        targets.map((t) => t[r]!),
      );
      for (let k = 0; k < 27; k++) expect(Math.abs(wb1[r * 27 + k]! - beta[k]!)).toBeLessThanOrEqual(1e-3 * (1 + Math.abs(beta[k]!)));
      expect(Math.abs(bb1[r]! - beta[27]!)).toBeLessThanOrEqual(1e-3 * (1 + Math.abs(beta[27]!)));
    }
  });

  it('fraction 0 keeps every channel', () => {
    const { graph, report } = pruneChannels(g, calib, 0);
    expect(report.layers).toEqual([]);
    expect(graph.values.get(graph.nodes.find((n) => n.name === 'A')!.inputs[1]!)!.const!.dims).toEqual([6, 4, 3, 3]);
  });
});

/** x → A(3→6, 3x3) → Relu → MaxPool 2x2 → B(6→4, 3x3) → Relu → GlobalAveragePool → Flatten → Gemm(4→3): a VGG-style pair through a pool */
function vggModel(seed: number): Uint8Array {
  const r = rng(seed);
  return buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 3] }],
    initializers: {
      wa: randT(r, [6, 3, 3, 3]),
      ba: randT(r, [6]),
      wb: randT(r, [4, 6, 3, 3]),
      bb: randT(r, [4]),
      wf: randT(r, [3, 4]),
      bf: randT(r, [3]),
    },
    nodes: [
      { op: 'Conv', name: 'A', inputs: ['x', 'wa', 'ba'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['a'], outputs: ['ar'] },
      { op: 'MaxPool', inputs: ['ar'], outputs: ['ap'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
      { op: 'Conv', name: 'B', inputs: ['ap', 'wb', 'bb'], outputs: ['b'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['b'], outputs: ['br'] },
      { op: 'GlobalAveragePool', inputs: ['br'], outputs: ['g'] },
      { op: 'Flatten', inputs: ['g'], outputs: ['f'] },
      { op: 'Gemm', name: 'F', inputs: ['f', 'wf', 'bf'], outputs: ['y'], attrs: { transB: 1 } },
    ],
  });
}

/**
 * A MobileNetV2-style block: x → E(4→8, 1x1) → Clip(0, 6) → D(depthwise 8, 3x3) → Clip(0, 6) →
 * P(8→4, 1x1). `dead` expanded channels have zero weights and bias in E, so after the first Clip
 * they are 0 and after D only D's bias: a constant that P's bias can absorb exactly.
 */
function mbv2Model(seed: number, dead: number[]): Uint8Array {
  const r = rng(seed);
  const we = randT(r, [8, 4, 1, 1]),
    be = randT(r, [8]);
  for (const c of dead) {
    (we.data as Float32Array).fill(0, c * 4, c * 4 + 4);
    (be.data as Float32Array)[c] = 0;
  }
  return buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 4, 6, 6] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 4, 6, 6] }],
    initializers: {
      we,
      be,
      wd: randT(r, [8, 1, 3, 3]),
      bd: randT(r, [8]),
      wp: randT(r, [4, 8, 1, 1]),
      bp: randT(r, [4]),
      lo: { dtype: 'float32', dims: [], data: Float32Array.of(0) },
      hi: { dtype: 'float32', dims: [], data: Float32Array.of(6) },
    },
    nodes: [
      { op: 'Conv', name: 'E', inputs: ['x', 'we', 'be'], outputs: ['e'] },
      { op: 'Clip', inputs: ['e', 'lo', 'hi'], outputs: ['er'] },
      { op: 'Conv', name: 'D', inputs: ['er', 'wd', 'bd'], outputs: ['d'], attrs: { group: 8, pads: [1, 1, 1, 1] } },
      { op: 'Clip', inputs: ['d', 'lo', 'hi'], outputs: ['dr'] },
      { op: 'Conv', name: 'P', inputs: ['dr', 'wp', 'bp'], outputs: ['y'] },
    ],
  });
}

async function maxRelDiff(
  g0: Parameters<typeof Session.fromGraph>[0],
  g1: Parameters<typeof Session.fromGraph>[0],
  x: Tensor,
): Promise<number> {
  const a = (await Session.fromGraph(g0, { engine: 'reference' }).run({ x }))['y']!.data as Float32Array;
  const b = (await Session.fromGraph(g1, { engine: 'reference' }).run({ x }))['y']!.data as Float32Array;
  let d = 0,
    m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(a[i]!));
  }
  return d / m;
}

describe('channel pairs through pooling and depthwise convs', () => {
  it('a VGG-style Conv → Relu → MaxPool → Conv pair: found, pruned, the pooled value shrinks, reference = sparrow-f32', async () => {
    const g = importOnnx(vggModel(3));
    optimize(g);
    expect(findChannelPairs(g).map((p) => [p.a.name, p.b.name, p.chain.length])).toEqual([['A', 'B', 3]]);
    const r = rng(5);
    const { graph, report } = pruneChannels(g, [randT(r, [32, 3, 8, 8], 2)], 0.5);
    expect(report.layers).toEqual([expect.objectContaining({ node: 'A', next: 'B', channels: 6, kept: 3 })]);
    expect(graph.values.get(graph.nodes.find((n) => n.name === 'B')!.inputs[1]!)!.const!.dims).toEqual([4, 3, 3, 3]);
    expect(graph.values.get('ap')!.info.dims?.[1]).toBe(3);
    const x = randT(r, [3, 3, 8, 8], 2);
    const ref = await Session.fromGraph(graph, { engine: 'reference' }).run({ x });
    const f32 = await Session.fromGraph(graph, { engine: 'sparrow-f32' }).run({ x });
    const a = ref['y']!.data as Float32Array,
      b = f32['y']!.data as Float32Array;
    expect(ref['y']!.dims).toEqual([3, 3]);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(a[i]!)));
  });

  it('a MobileNetV2-style block: the depthwise conv loses the same channels; removing the dead ones is exact (P re-fitted)', async () => {
    const dead = [1, 4, 6, 7];
    const g = importOnnx(mbv2Model(11, dead));
    optimize(g);
    const pairs = findChannelPairs(g);
    expect(pairs.map((p) => [p.a.name, p.b.name, p.depthwise.map((d) => d.name)])).toEqual([['E', 'P', ['D']]]);
    const r = rng(12);
    const { graph, report } = pruneChannels(g, [randT(r, [24, 4, 6, 6], 2)], 0.5, { damp: 0 });
    expect(report.layers).toEqual([expect.objectContaining({ node: 'E', next: 'P', channels: 8, kept: 4 })]);
    const D = graph.nodes.find((n) => n.name === 'D')!;
    expect(D.attrs['group']).toBe(4);
    expect(graph.values.get(D.inputs[1]!)!.const!.dims).toEqual([4, 1, 3, 3]);
    expect(graph.values.get(D.inputs[2]!)!.const!.dims).toEqual([4]);
    // the kept depthwise filters are the live channels' own, in order
    const wd0 = g.values.get(g.nodes.find((n) => n.name === 'D')!.inputs[1]!)!.const!.data as Float32Array;
    const wd1 = graph.values.get(D.inputs[1]!)!.const!.data as Float32Array;
    const live = [0, 2, 3, 5];
    live.forEach((c, i) => expect(Array.from(wd1.subarray(i * 9, i * 9 + 9))).toEqual(Array.from(wd0.subarray(c * 9, c * 9 + 9))));
    // dead channels carry a constant (D's bias through the Clip): P's bias absorbs it exactly
    const x = randT(r, [3, 4, 6, 6], 2);
    expect(await maxRelDiff(g, graph, x)).toBeLessThan(1e-4);
    // sparrow-f32 on the rewritten graph (depthwise of group 4) = reference
    const ref = await Session.fromGraph(graph, { engine: 'reference' }).run({ x });
    const f32 = await Session.fromGraph(graph, { engine: 'sparrow-f32' }).run({ x });
    const a = ref['y']!.data as Float32Array,
      b = f32['y']!.data as Float32Array;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(a[i]!)));
  });

  it('a MaxPool with an Indices output or a squeeze-excite Mul ties the channels; a model without pairs is refused by name', () => {
    const r = rng(2);
    const withIndices = importOnnx(
      buildModel({
        inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3, 8, 8] }],
        outputs: [
          { name: 'y', dtype: 'float32', dims: ['N', 4, 4, 4] },
          { name: 'idx', dtype: 'int64', dims: ['N', 6, 4, 4] },
        ],
        initializers: { wa: randT(r, [6, 3, 3, 3]), wb: randT(r, [4, 6, 3, 3]) },
        nodes: [
          { op: 'Conv', name: 'A', inputs: ['x', 'wa'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
          { op: 'MaxPool', inputs: ['a'], outputs: ['ap', 'idx'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
          { op: 'Conv', name: 'B', inputs: ['ap', 'wb'], outputs: ['y'], attrs: { pads: [1, 1, 1, 1] } },
        ],
      }),
    );
    optimize(withIndices);
    expect(findChannelPairs(withIndices)).toEqual([]);
    let err: unknown;
    try {
      pruneChannels(withIndices, [randT(r, [4, 3, 8, 8])], 0.5);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'invalid_argument' });
    expect(String((err as Error).message)).toMatch(/no channels that can go alone/);
    const se = importOnnx(
      buildModel({
        inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3, 8, 8] }],
        outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 4, 8, 8] }],
        initializers: { wa: randT(r, [6, 3, 3, 3]), wb: randT(r, [4, 6, 1, 1]) },
        nodes: [
          { op: 'Conv', name: 'A', inputs: ['x', 'wa'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
          { op: 'GlobalAveragePool', inputs: ['a'], outputs: ['s'] },
          { op: 'Sigmoid', inputs: ['s'], outputs: ['ss'] },
          { op: 'Mul', inputs: ['a', 'ss'], outputs: ['m'] },
          { op: 'Conv', name: 'B', inputs: ['m', 'wb'], outputs: ['y'] },
        ],
      }),
    );
    optimize(se);
    expect(findChannelPairs(se)).toEqual([]);
  });
});

describe('channel pairs with shared constants', () => {
  it('a bias shared by several convs (merged equal initializers) does not tie their channels; the shared constant is left as it is', async () => {
    const r = rng(21);
    const zero: Tensor = { dtype: 'float32', dims: [6], data: new Float32Array(6) };
    const g = importOnnx(
      buildModel({
        inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 6, 6, 6] }],
        outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 6, 6, 6] }],
        initializers: { wa: randT(r, [6, 6, 3, 3]), wb: randT(r, [6, 6, 3, 3]), wc: randT(r, [6, 6, 1, 1]), z: zero },
        nodes: [
          { op: 'Conv', name: 'A', inputs: ['x', 'wa', 'z'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
          { op: 'Relu', inputs: ['a'], outputs: ['ar'] },
          { op: 'Conv', name: 'B', inputs: ['ar', 'wb', 'z'], outputs: ['b'], attrs: { pads: [1, 1, 1, 1] } },
          { op: 'Relu', inputs: ['b'], outputs: ['br'] },
          { op: 'Conv', name: 'C', inputs: ['br', 'wc', 'z'], outputs: ['y'] },
        ],
      }),
    );
    optimize(g);
    expect(findChannelPairs(g).map((p) => [p.a.name, p.b.name])).toEqual([
      ['A', 'B'],
      ['B', 'C'],
    ]);
    const calib = [randT(r, [16, 6, 6, 6], 2)];
    const { graph, report } = pruneChannels(g, calib, 0.5);
    expect(report.layers.map((l) => [l.node, l.channels, l.kept])).toEqual([
      ['A', 6, 3],
      ['B', 6, 3],
    ]);
    const node = (name: string) => graph.nodes.find((n) => n.name === name)!;
    expect(graph.values.get(node('A').inputs[2]!)!.const!.dims).toEqual([3]);
    expect(graph.values.get(node('B').inputs[1]!)!.const!.dims).toEqual([3, 3, 3, 3]);
    expect(graph.values.get(node('C').inputs[1]!)!.const!.dims).toEqual([6, 3, 1, 1]);
    // the original graph and its shared constant are untouched
    expect(Array.from(g.values.get('z')!.const!.data as Float32Array)).toEqual([0, 0, 0, 0, 0, 0]);
    const x = randT(r, [2, 6, 6, 6], 2);
    const ref = await Session.fromGraph(graph, { engine: 'reference' }).run({ x });
    const f32 = await Session.fromGraph(graph, { engine: 'sparrow-f32' }).run({ x });
    const a = ref['y']!.data as Float32Array,
      b = f32['y']!.data as Float32Array;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(a[i]!)));
  });
});
