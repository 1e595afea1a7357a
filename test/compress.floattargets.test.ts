// Float targets in the sequential pass (src/compress/calib.ts retargetWeights and
// pruneSequentially { floatTargets }).
//
// Oracles:
// - retargetWeights: the normal equations of min ‖W X − W* X̂‖² + (λ/2)‖W* − W‖², evaluated
//   with plain loops straight from the patches X, X̂ (not from H or C): the gradient
//   2(W* X̂ − W X)X̂ᵀ + λ(W* − W) must vanish; and the fit error is below that of W itself.
// - pruneSequentially: on a Conv → Relu → Conv → Flatten → Gemm graph whose first conv is
//   pruned hard, the W handed to `prune` for the Gemm equals the plain least-squares solution
//   from the rows of its float and pruned inputs (runReference with the value exposed), on the
//   TS path and on the WASM path (cross sums through the float32 GEMM); for the second conv,
//   keeping W* gives a smaller error against the float network's conv output (also from
//   runReference) than keeping W; with nothing pruned before a layer, W* = W.
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import type { Tensor } from '../src/ops/types.js';
import { buildModel, f32, type BuildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { cloneGraph, type Graph } from '../src/ir/graph.js';
import { runReference } from '../src/runtime/reference.js';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { wasmCalibAccel } from '../src/compress/accel.js';
import { pruneSequentially, retargetWeights, withPrunedWeights } from '../src/compress/calib.js';
import { magnitudePrune } from '../src/compress/prune.js';
import { SparrowError } from '../src/errors.js';

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}
const randT = (dims: number[], seed: number): Tensor => {
  const r = rand(seed);
  return f32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r()),
  );
};

/** X (n, K) row-major patches → 2 Σ a bᵀ (K, K) */
function cross2(A: Float64Array, B: Float64Array, n: number, K: number): Float64Array {
  const C = new Float64Array(K * K);
  for (let p = 0; p < n; p++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) C[i * K + j]! += 2 * A[p * K + i]! * B[p * K + j]!;
  return C;
}

/** ‖W X − V X̂‖² over the patches (plain loops) */
function fitError(
  W: ArrayLike<number>,
  V: ArrayLike<number>,
  X: Float64Array,
  Xh: Float64Array,
  rows: number,
  n: number,
  K: number,
): number {
  let e = 0;
  for (let r = 0; r < rows; r++)
    for (let p = 0; p < n; p++) {
      let y = 0,
        yh = 0;
      for (let k = 0; k < K; k++) {
        y += W[r * K + k]! * X[p * K + k]!;
        yh += V[r * K + k]! * Xh[p * K + k]!;
      }
      e += (y - yh) ** 2;
    }
  return e;
}

/** Plain least squares min ‖W X − V X̂‖² + (λ/2)‖V − W‖² per row by Gaussian elimination. */
function plainLs(W: Float32Array, X: Float64Array, Xh: Float64Array, rows: number, n: number, K: number, lambda: number): Float64Array {
  const out = new Float64Array(rows * K);
  for (let r = 0; r < rows; r++) {
    // (2 X̂ᵀX̂ + λI) v = 2 X̂ᵀ X w + λ w
    const A = new Float64Array(K * (K + 1));
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        let s = 0;
        for (let p = 0; p < n; p++) s += 2 * Xh[p * K + i]! * Xh[p * K + j]!;
        A[i * (K + 1) + j] = s + (i === j ? lambda : 0);
      }
      let b = lambda * W[r * K + i]!;
      for (let p = 0; p < n; p++) {
        let y = 0;
        for (let k = 0; k < K; k++) y += W[r * K + k]! * X[p * K + k]!;
        b += 2 * Xh[p * K + i]! * y;
      }
      A[i * (K + 1) + K] = b;
    }
    for (let c = 0; c < K; c++) {
      let piv = c;
      for (let i = c + 1; i < K; i++) if (Math.abs(A[i * (K + 1) + c]!) > Math.abs(A[piv * (K + 1) + c]!)) piv = i;
      for (let j = 0; j <= K; j++) {
        const t = A[c * (K + 1) + j]!;
        A[c * (K + 1) + j] = A[piv * (K + 1) + j]!;
        A[piv * (K + 1) + j] = t;
      }
      for (let i = 0; i < K; i++) {
        if (i === c) continue;
        const f = A[i * (K + 1) + c]! / A[c * (K + 1) + c]!;
        for (let j = c; j <= K; j++) A[i * (K + 1) + j]! -= f * A[c * (K + 1) + j]!;
      }
    }
    for (let i = 0; i < K; i++) out[r * K + i] = A[i * (K + 1) + K]! / A[i * (K + 1) + i]!;
  }
  return out;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0,
    s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / Math.max(s, 1e-300);
}

describe('retargetWeights', () => {
  it('solves the damped normal equations (gradient 0), fits the float output better than W, W* = W when X̂ = X', () => {
    const K = 7,
      n = 40,
      rows = 6,
      G = 2;
    const r = rand(11);
    const X = Float64Array.from({ length: n * K }, () => r());
    const Xh = Float64Array.from(X, (v) => (v + 0.3 * r()) * (v > 0.5 ? 0 : 1)); // degraded inputs
    const W = Float32Array.from({ length: rows * K }, () => r());
    const H = cross2(Xh, Xh, n, K),
      C = cross2(Xh, X, n, K);
    const damp = 0.01;
    let meanDiag = 0;
    for (let i = 0; i < K; i++) meanDiag += H[i * K + i]!;
    const lambda = (damp * meanDiag) / K;
    // two groups sharing the same statistics: each group's rows are fitted on their own
    const Ws = retargetWeights(W, [H, H], [C, C], damp);
    expect(Ws.length).toBe(W.length);
    // gradient of ‖W X − V X̂‖² + (λ/2)‖V − W‖² w.r.t. V, per row, from the patches
    for (let row = 0; row < rows; row++) {
      for (let i = 0; i < K; i++) {
        let gsum = lambda * (Ws[row * K + i]! - W[row * K + i]!);
        let scale = Math.abs(lambda * W[row * K + i]!);
        for (let p = 0; p < n; p++) {
          let y = 0,
            yh = 0;
          for (let k = 0; k < K; k++) {
            y += W[row * K + k]! * X[p * K + k]!;
            yh += Ws[row * K + k]! * Xh[p * K + k]!;
          }
          gsum += 2 * (yh - y) * Xh[p * K + i]!;
          scale += Math.abs(2 * y * Xh[p * K + i]!);
        }
        expect(Math.abs(gsum) / scale).toBeLessThan(1e-5);
      }
    }
    expect(maxRelDiff(Ws, plainLs(W, X, Xh, rows, n, K, lambda))).toBeLessThan(1e-5);
    expect(fitError(W, Ws, X, Xh, rows, n, K)).toBeLessThan(0.8 * fitError(W, W, X, Xh, rows, n, K));
    // X̂ = X: C = H and the fit is W itself
    const same = retargetWeights(W, [cross2(X, X, n, K)], [cross2(X, X, n, K)], damp);
    expect(maxRelDiff(same, W)).toBeLessThan(1e-6);
    // groups differ: group 1 with identity statistics keeps its rows
    const mixed = retargetWeights(W, [H, cross2(X, X, n, K)], [C, cross2(X, X, n, K)], damp);
    expect(maxRelDiff(mixed.subarray(0, (rows / G) * K), Ws.subarray(0, (rows / G) * K))).toBeLessThan(1e-7);
    expect(maxRelDiff(mixed.subarray((rows / G) * K), W.subarray((rows / G) * K))).toBeLessThan(1e-6);
    expect(() => retargetWeights(W, [H], [], damp)).toThrow(SparrowError);
    expect(() => retargetWeights(new Float32Array(5), [H], [C], damp)).toThrow(SparrowError);
    expect(() => retargetWeights(W, [H], [C], 0)).toThrow(SparrowError);
  });
});

describe('pruneSequentially { floatTargets }', () => {
  let wasm: SparrowWasm;
  beforeAll(async () => {
    wasm = await loadWasmNode();
  });

  const model: BuildModel = {
    nodes: [
      { op: 'Conv', inputs: ['x', 'W1', 'B1'], outputs: ['c1'], name: 'conv1', attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'], name: 'relu1' },
      { op: 'Conv', inputs: ['r1', 'W2', 'B2'], outputs: ['c2'], name: 'conv2', attrs: { kernel_shape: [3, 3], strides: [2, 2] } },
      { op: 'Relu', inputs: ['c2'], outputs: ['r2'], name: 'relu2' },
      { op: 'Flatten', inputs: ['r2'], outputs: ['f'], name: 'flat' },
      { op: 'Gemm', inputs: ['f', 'W3'], outputs: ['y'], name: 'fc', attrs: { transB: 1 } },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: [null as unknown as number, 3, 7, 7] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: null }],
    // conv2: K = 12·9 = 108 ≥ 32, so the WASM path takes the Gram/cross route for it
    initializers: {
      W1: randT([12, 3, 3, 3], 1),
      B1: randT([12], 2),
      W2: randT([6, 12, 3, 3], 3),
      B2: randT([6], 4),
      W3: randT([5, 54], 5),
    },
  };

  /** value `name` of graph g on each batch */
  const valueOf = (g: Graph, name: string, batches: Tensor[]): Tensor[] => {
    const c = cloneGraph(g);
    c.outputs = [name];
    return batches.map((x) => runReference(c, { x })[name]!);
  };

  for (const path of ['ts', 'wasm'] as const) {
    it(`${path}: the Gemm's W* is the plain least-squares fit to the float output; conv2's W* lowers its output error`, () => {
      const g = importOnnx(buildModel(model));
      const batches = [randT([20, 3, 7, 7], 6), randT([17, 3, 7, 7], 7)];
      const seen = new Map<string, Float32Array>();
      const prune = (W: Float32Array, li: { node: string }): Float32Array => {
        seen.set(li.node, Float32Array.from(W));
        return li.node === 'conv1' ? magnitudePrune(W, 0.75) : W;
      };
      const opts = { floatTargets: true, maxPositionsPerImage: 4096, ...(path === 'wasm' ? { accel: wasmCalibAccel(wasm) } : {}) };
      const seq = pruneSequentially(g, batches, prune, undefined, opts);
      // conv1 sees the network input itself: W* = W
      expect(maxRelDiff(seen.get('conv1')!, g.values.get('W1')!.const!.data as Float32Array)).toBeLessThan(1e-5);
      // fc: rows of its float input f and of the compressed network's f (conv1 pruned, conv2 = W2*)
      const pruned = withPrunedWeights(g, seq);
      const before = withPrunedWeights(g, new Map([...seq].filter(([k]) => k !== 'fc')));
      const Xf = valueOf(g, 'f', batches),
        Xh = valueOf(before, 'f', batches);
      const n = Xf.reduce((a, t) => a + t.dims[0]!, 0),
        K = 54;
      const X = new Float64Array(n * K),
        XH = new Float64Array(n * K);
      let o = 0;
      Xf.forEach((t, b) => {
        X.set(t.data as Float32Array, o);
        XH.set(Xh[b]!.data as Float32Array, o);
        o += t.data.length;
      });
      let meanDiag = 0;
      for (let i = 0; i < K; i++) for (let p = 0; p < n; p++) meanDiag += 2 * XH[p * K + i]! ** 2;
      const want = plainLs(g.values.get('W3')!.const!.data as Float32Array, X, XH, 5, n, K, (0.01 * meanDiag) / K);
      expect(maxRelDiff(seen.get('fc')!, want)).toBeLessThan(path === 'wasm' ? 1e-4 : 1e-6);
      // conv2 (bias correction off): output error against the float network's conv2 output
      const c2f = valueOf(g, 'c2', batches);
      const err = (gr: Graph): number =>
        valueOf(gr, 'c2', batches).reduce((a, t, b) => {
          const y = t.data as Float32Array,
            yf = c2f[b]!.data as Float32Array;
          let e = 0;
          for (let i = 0; i < y.length; i++) e += (y[i]! - yf[i]!) ** 2;
          return a + e;
        }, 0);
      const conv1Only = withPrunedWeights(g, new Map([['conv1', seq.get('conv1')!.W]]));
      const withStar = withPrunedWeights(conv1Only, new Map([['conv2', seen.get('conv2')!]]));
      const eStar = err(withStar),
        eKeep = err(conv1Only);
      expect(maxRelDiff(seen.get('conv2')!, g.values.get('W2')!.const!.data as Float32Array)).toBeGreaterThan(1e-3);
      expect(eStar).toBeLessThan(0.9 * eKeep);
      // without floatTargets the layers get their own weights
      const plain = new Map<string, Float32Array>();
      pruneSequentially(
        g,
        batches,
        (W, li) => {
          plain.set(li.node, Float32Array.from(W));
          return li.node === 'conv1' ? magnitudePrune(W, 0.75) : W;
        },
        undefined,
        { maxPositionsPerImage: 4096 },
      );
      expect(Array.from(plain.get('conv2')!)).toEqual(Array.from(g.values.get('W2')!.const!.data as Float32Array));
    });
  }
});
