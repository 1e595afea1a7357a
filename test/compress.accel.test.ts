// WASM acceleration of calibration (src/compress/accel.ts wasmCalibAccel, the `accel` option of
// collectLayerInputs / pruneSequentially in src/compress/calib.ts).
//
// Oracle: the pure-TypeScript path (float64 upper-triangle sums, reference Conv kernel), which
// compress.calib.test.ts checks against a naive im2col. With accel, every Hessian must agree
// with it to ≤ 1e-5 relative Frobenius, on a synthetic graph (Conv 3x3 pads / stride 2 +
// dilation / groups 2 / depthwise / SAME_UPPER / 1-D (not accelerated: falls back), Gemm,
// MatMul rank 3; K from 9 (TS path) to 128; patch counts per batch 243, 75, ... — not
// multiples of the 256-patch Gram block) and on mnist-8 with MNIST test digits 0..19 (the copies
// in examples/: conv1 K = 25 stays on the TS path, conv2 K = 200 and the MatMul K = 256 use the
// WASM Gram; 784 and 196 positions per image). The WASM hooks are wrapped to count
// calls, so "both paths agree" cannot pass by the accelerated path silently not running.
// pruneSequentially with / without accel: same layers, Hessians within 1e-5, pruned weights
// (OBS re-fit on a fixed magnitude mask: continuous in H) and bias corrections within 1e-4.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import '../src/ops/ref/index.js';
import type { Tensor } from '../src/ops/types.js';
import { buildModel, f32, type BuildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import type { Graph } from '../src/ir/graph.js';
import { runReference } from '../src/runtime/reference.js';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { wasmCalibAccel } from '../src/compress/accel.js';
import { collectLayerInputs, pruneSequentially, runWithHook, type CalibAccel, type LayerInputs } from '../src/compress/calib.js';
import { obsPrune } from '../src/compress/obs.js';
import { magnitudePrune } from '../src/compress/prune.js';
import { imageBatch } from '../src/io/datasets.js';
import { bundledImages } from './helpers/bundled.js';

const MNIST_ONNX = 'examples/models/mnist-8.onnx';

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

/** ‖A − B‖_F / ‖B‖_F */
function relFro(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0,
    n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / Math.max(n, 1e-300));
}

/** wasmCalibAccel with call counters (Gram blocks and their patch counts; accelerated nodes). */
function counted(w: SparrowWasm): { accel: CalibAccel; gramCalls: number[]; kernelRuns: Map<string, number> } {
  const base = wasmCalibAccel(w);
  const gramCalls: number[] = [];
  const kernelRuns = new Map<string, number>();
  return {
    gramCalls,
    kernelRuns,
    accel: {
      gram: (Xt, K, n) => {
        gramCalls.push(n);
        return base.gram(Xt, K, n);
      },
      kernel: (node) => {
        const f = base.kernel?.(node);
        if (!f) return undefined;
        return (inputs) => {
          const out = f(inputs);
          if (out) kernelRuns.set(node.name, (kernelRuns.get(node.name) ?? 0) + 1);
          return out;
        };
      },
    },
  };
}

function expectSameStats(a: Map<string, LayerInputs>, b: Map<string, LayerInputs>, tol = 1e-5): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [name, x] of a) {
    const y = b.get(name)!;
    expect(x.nSamples, name).toBe(y.nSamples);
    expect(x.groupH.length, name).toBe(y.groupH.length);
    x.groupH.forEach((H, g) => {
      const e = relFro(H, y.groupH[g]!);
      expect(e, `${name} group ${g}: relative Frobenius ${e}`).toBeLessThanOrEqual(tol);
      // exactly symmetric on both paths
      const K = x.K;
      for (let i = 0; i < K; i++)
        for (let j = i + 1; j < K; j++) if (H[i * K + j] !== H[j * K + i]) throw new Error(`${name}: H not symmetric at ${i},${j}`);
    });
  }
}

/** A graph exercising every Conv attribute the WASM kernel maps, plus Gemm and MatMul. */
function synthGraph(): { g: Graph; batches: Tensor[]; model: BuildModel } {
  const model: BuildModel = {
    nodes: [
      // x [3, 4, 9, 9] → K = 4·9 = 36 (WASM Gram), 81 positions per image
      { op: 'Conv', inputs: ['x', 'W1', 'B1'], outputs: ['c1'], name: 'conv1', attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c1'], outputs: ['r1'], name: 'relu1' },
      // groups 2, stride 2, dilation 2, asymmetric pads → Cg = 4, K = 36 per group
      {
        op: 'Conv',
        inputs: ['r1', 'W2', 'B2'],
        outputs: ['c2'],
        name: 'conv2',
        attrs: { kernel_shape: [3, 3], strides: [2, 2], dilations: [2, 2], pads: [2, 1, 1, 2], group: 2 },
      },
      // depthwise: K = 9 (TS path for the Gram, WASM dwconv kernel)
      { op: 'Conv', inputs: ['c2', 'W3'], outputs: ['c3'], name: 'dw', attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 8 } },
      // SAME_UPPER 4x4 (even kernel: asymmetric automatic padding), K = 8·16 = 128
      { op: 'Conv', inputs: ['c3', 'W4', 'B4'], outputs: ['c4'], name: 'conv4', attrs: { kernel_shape: [4, 4], auto_pad: 'SAME_UPPER' } },
      { op: 'Relu', inputs: ['c4'], outputs: ['r4'], name: 'relu4' },
      { op: 'Flatten', inputs: ['r4'], outputs: ['f'], name: 'flat' },
      { op: 'Gemm', inputs: ['f', 'W5', 'B5'], outputs: ['y'], name: 'fc', attrs: { transB: 1 } },
      // 1-D Conv (the WASM kernel is 2-D only: falls back to the reference), K = 3·11 = 33
      { op: 'Conv', inputs: ['s', 'W6'], outputs: ['c6'], name: 'conv1d', attrs: { kernel_shape: [11], pads: [5, 5] } },
      // MatMul on a rank-3 input, K = 40
      { op: 'MatMul', inputs: ['t', 'W7'], outputs: ['z'], name: 'mm' },
    ],
    inputs: [
      { name: 'x', dtype: 'float32', dims: [3, 4, 9, 9] },
      { name: 's', dtype: 'float32', dims: [2, 3, 50] },
      { name: 't', dtype: 'float32', dims: [2, 37, 40] },
    ],
    outputs: ['y', 'c6', 'z'].map((name) => ({ name, dtype: 'float32' as const, dims: null })),
    initializers: {
      W1: randT([8, 4, 3, 3], 1),
      B1: randT([8], 2),
      W2: randT([8, 4, 3, 3], 3),
      B2: randT([8], 4),
      W3: randT([8, 1, 3, 3], 5),
      W4: randT([6, 8, 4, 4], 6),
      B4: randT([6], 7),
      W5: randT([5, 6 * 4 * 4], 8),
      B5: randT([5], 9),
      W6: randT([4, 3, 11], 10),
      W7: randT([40, 7], 11),
    },
  };
  const g = importOnnx(buildModel(model));
  const batches = [0, 1, 2].map((b) => ({
    x: randT([3, 4, 9, 9], 100 + b),
    s: randT([2, 3, 50], 200 + b),
    t: randT([2, 37, 40], 300 + b),
  }));
  return { g, batches: batches as unknown as Tensor[], model };
}

let wasm: SparrowWasm;
beforeAll(async () => {
  expect(existsSync(resolve(process.cwd(), 'build', 'sparrow.wasm')), 'build/sparrow.wasm missing: run `npm run build`').toBe(true);
  wasm = await loadWasmNode();
});

describe('wasmCalibAccel on a synthetic graph', () => {
  it('gram(Xt, K, n) = Xt·Xtᵀ (naive float64 product) for n not a multiple of any block', () => {
    const { gram } = wasmCalibAccel(wasm);
    for (const [K, n] of [
      [32, 1],
      [33, 7],
      [64, 256],
      [40, 131],
    ] as const) {
      const Xt = randT([K, n], K * 1000 + n).data as Float32Array;
      const G = gram(Xt, K, n);
      const want = new Float64Array(K * K);
      for (let i = 0; i < K; i++)
        for (let j = 0; j < K; j++) {
          let s = 0;
          for (let p = 0; p < n; p++) s += Xt[i * n + p]! * Xt[j * n + p]!;
          want[i * K + j] = s;
        }
      expect(relFro(G, want), `K ${K}, n ${n}`).toBeLessThan(1e-6);
    }
  });

  it('the accelerated forward pass gives the reference outputs (Conv through WASM, 1-D Conv falls back)', () => {
    const { g, batches } = synthGraph();
    const c = counted(wasm);
    for (const b of batches as unknown as Array<Record<string, Tensor>>) {
      const fast = runWithHook(g, b, () => {}, c.accel);
      const ref = runReference(g, b);
      for (const name of g.outputs)
        expect(relFro(fast[name]!.data as Float32Array, ref[name]!.data as Float32Array), name).toBeLessThan(1e-5);
    }
    expect([...c.kernelRuns.keys()].sort()).toEqual(['conv1', 'conv2', 'conv4', 'dw']);
  });

  it('collectLayerInputs: Hessians with and without accel agree (≤ 1e-5), Gram blocks of ≤ 256 patches with a partial last one', () => {
    const { g, batches } = synthGraph();
    const plain = collectLayerInputs(g, batches);
    for (const maxPositionsPerImage of [4096, 50]) {
      const c = counted(wasm);
      const fast = collectLayerInputs(g, batches, undefined, { accel: c.accel, maxPositionsPerImage });
      const ref = maxPositionsPerImage === 4096 ? plain : collectLayerInputs(g, batches, undefined, { maxPositionsPerImage });
      expectSameStats(fast, ref);
      // conv1: 3 batches × 3 images × 81 positions = 729 = 2·256 + 217 (or 450 sampled)
      expect(fast.get('conv1')!.nSamples).toBe(maxPositionsPerImage === 4096 ? 729 : 450);
      expect(c.gramCalls.length).toBeGreaterThan(0);
      expect(c.gramCalls.every((n) => n >= 1 && n <= 256)).toBe(true);
      expect(c.gramCalls.some((n) => n < 256)).toBe(true);
      // every accelerated layer's patches went through the Gram path: Σ n over its calls = nSamples·groups
      const gramPatches = c.gramCalls.reduce((a, b) => a + b, 0);
      const expected = [...fast.values()].filter((l) => l.K >= 32).reduce((a, l) => a + l.nSamples * l.groups, 0);
      expect(gramPatches).toBe(expected);
    }
    expect(plain.get('dw')!.K).toBe(9);
    expect(plain.get('conv2')!.groupH.length).toBe(2);
    expect(plain.get('conv1d')!.K).toBe(33);
  });

  it('pruneSequentially: the same pruned weights, Hessians and bias corrections with and without accel', () => {
    const { g, batches } = synthGraph();
    // OBS re-fit on the magnitude mask: continuous in H (a saliency-chosen mask could flip on a tie)
    const prune = (W: Float32Array, li: LayerInputs): Float32Array => {
      const rpg = li.rows / li.groups,
        out = new Float32Array(W.length);
      for (let gi = 0; gi < li.groups; gi++) {
        const Wg = W.slice(gi * rpg * li.K, (gi + 1) * rpg * li.K);
        const mask = Uint8Array.from(magnitudePrune(Wg, 0.5), (v) => (v === 0 ? 1 : 0));
        out.set(obsPrune(Wg, li.groupH[gi]!, 0, { mask }), gi * rpg * li.K);
      }
      return out;
    };
    for (const biasCorrection of [false, true]) {
      const plain = pruneSequentially(g, batches, prune, undefined, { biasCorrection });
      const c = counted(wasm);
      const fast = pruneSequentially(g, batches, prune, undefined, { biasCorrection, accel: c.accel });
      expect(c.gramCalls.length).toBeGreaterThan(0);
      expect(c.kernelRuns.size).toBeGreaterThan(0);
      expect([...fast.keys()]).toEqual([...plain.keys()]);
      expectSameStats(new Map([...fast].map(([k, v]) => [k, v.inputs])), new Map([...plain].map(([k, v]) => [k, v.inputs])));
      for (const [name, r] of fast) {
        const p = plain.get(name)!;
        expect(relFro(r.W, p.W), name).toBeLessThan(1e-4);
        expect(r.biasDelta === undefined, name).toBe(p.biasDelta === undefined);
        if (r.biasDelta) {
          // deltas are small differences of outputs: compare against the outputs' scale
          let dmax = 0;
          for (let i = 0; i < r.biasDelta.length; i++) dmax = Math.max(dmax, Math.abs(r.biasDelta[i]! - p.biasDelta![i]!));
          expect(dmax, name).toBeLessThan(1e-4);
        }
      }
      if (biasCorrection)
        expect(
          [...fast]
            .filter(([, r]) => r.biasDelta)
            .map(([k]) => k)
            .sort(),
        ).toEqual(['conv1', 'conv2', 'conv4', 'fc']);
    }
  });
});

describe('wasmCalibAccel on mnist-8', () => {
  it('Hessians with and without accel agree (≤ 1e-5) on 20 digits; pruneSequentially too', () => {
    const g = importOnnx(new Uint8Array(readFileSync(MNIST_ONNX)));
    optimize(g);
    const set = bundledImages('mnist-t10k-0-63');
    // the model's input is [1, 1, 28, 28]: 20 batches of one digit; conv2 sees 20·196 = 3920
    // = 15·256 + 80 patches (Gram blocks span batches, the last one is partial)
    const batches = Array.from({ length: 20 }, (_, i) => imageBatch(set, i, 1));
    const plain = collectLayerInputs(g, batches);
    const c = counted(wasm);
    const fast = collectLayerInputs(g, batches, undefined, { accel: c.accel });
    expect([...fast.values()].map((l) => [l.node, l.K, l.nSamples])).toEqual([
      ['Convolution28', 25, 20 * 784],
      ['Convolution110', 200, 20 * 196],
      ['Times212', 256, 20],
    ]);
    expectSameStats(fast, plain);
    expect(c.gramCalls.reduce((a, b) => a + b, 0)).toBe(20 * 196 + 20); // conv1 (K = 25) stays on the TS path
    expect([...c.kernelRuns.keys()].sort()).toEqual(['Convolution110', 'Convolution28']);

    const prune = (W: Float32Array, li: LayerInputs): Float32Array =>
      obsPrune(W, li.H, 0, { mask: Uint8Array.from(magnitudePrune(W, 0.6), (v) => (v === 0 ? 1 : 0)) });
    const sp = pruneSequentially(g, batches, prune, undefined, { biasCorrection: true });
    const sf = pruneSequentially(g, batches, prune, undefined, { biasCorrection: true, accel: wasmCalibAccel(wasm) });
    for (const [name, r] of sf) {
      const p = sp.get(name)!;
      expect(relFro(r.inputs.H, p.inputs.H), name).toBeLessThanOrEqual(1e-5);
      expect(relFro(r.W, p.W), name).toBeLessThan(1e-4);
      if (r.biasDelta || p.biasDelta) expect(relFro(r.biasDelta!, p.biasDelta!), name).toBeLessThan(1e-3);
    }
  });
});
