// Fine-tuning by distillation: src/compress/train_graph.ts (gradients) and finetune.ts (the loop).
//
// What is asserted (oracles: the reference executor, central finite differences, the teacher):
//  - the trainer's forward (im2col GEMM for Conv/Gemm, reference kernels for the rest) equals
//    runReference on a small ResNet-shaped graph with every op of the CIFAR ResNets (Conv with
//    pads and stride 2, Relu, Add, Slice with steps, Pad of channels, AveragePool, Flatten,
//    Gemm transB) and a GlobalAveragePool / MatMul variant, with the TS and the WASM GEMM;
//  - every parameter's gradient of L = Σ c·y (random c) against central differences of L
//    computed in float64 by the reference forward on float32 weights: per element on a sample
//    of each parameter, and along a random direction over all parameters together;
//  - distillLoss's gradient against central differences, and its value 0 when s = t;
//  - augmentBatch: flip and crop move pixels where the naive formula puts them, padding value;
//  - mixBatch: mixup is λ·x_n + (1−λ)·x_j of two augmented images (recomputed from the returned
//    partner and λ), partners are other images, a batch of one is unchanged; cutmix pastes one
//    rectangle of the partner and λ is the kept fraction; betaSample's mean and variance are
//    those of Beta(α, α); finetune with mix/warm-up/EMA: the teacher and student see the same
//    mixed batch (the loss of a student equal to its teacher is 0 with features), EMA returns the
//    average and the last weights;
//  - compressGraph with prune 'channels' and finetune: the file records the fine-tuning, runs on
//    sparrow-int8, and its outputs are closer to the float network's than without fine-tuning;
//  - a few epochs of finetune on a perturbed student bring its outputs closer to the teacher's
//    (distance measured with the reference engine on fresh images), weights kept at 0 stay 0.
import { describe, it, expect, beforeAll } from 'vitest';
import { buildModel, type BuildNode } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { runReference } from '../src/runtime/reference.js';
import { cloneGraph, type Graph } from '../src/ir/graph.js';
import { GraphTrainer, gemmTs, gemmWasm, trainableParams, type GemmFn } from '../src/compress/train_graph.js';
import { augmentBatch, betaSample, distillLoss, featureValues, finetune, gammaSample, mixBatch } from '../src/compress/finetune.js';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import type { Tensor } from '../src/ops/types.js';
import { compressGraph } from '../src/compress/compress.js';
import { loadSparrowModel } from '../src/runtime/sparrow_model.js';
import { Session } from '../src/runtime/session.js';
import { mulberry32 } from '../src/util/rng.js';
import { centeredRng as rng, randTensor as randT } from './helpers/float_tensors.js';
import '../src/ops/ref/index.js';

/** Σ (y_g − y_teacher)² of the reference outputs on x. */
function sqDistance(g: Graph, teacher: Graph, x: Tensor): number {
  const a = runReference(g, { x }).y!.data as Float32Array,
    b = runReference(teacher, { x }).y!.data as Float32Array;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s;
}
const i64 = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v.map(BigInt)) });

/**
 * A ResNet-20-shaped net in miniature: stem conv, a basic block, a downsampling block with the
 * option-A shortcut (Slice ::2 on H and W, Pad of channels), average pool, Flatten, Gemm.
 * `gap`: GlobalAveragePool + Flatten + MatMul + Add instead of AveragePool + Flatten + Gemm.
 */
function miniResnet(seed: number, gap: boolean | 'maxpool' = false): Graph {
  const r = rng(seed);
  const s = 0.6;
  const head: { init: Record<string, Tensor>; nodes: BuildNode[] } =
    gap === 'maxpool'
      ? {
          init: { wl: randT(r, [5, 32], s), bl: randT(r, [5], s) },
          nodes: [
            { op: 'MaxPool', inputs: ['z2r'], outputs: ['p'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
            { op: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: { axis: 1 } },
            { op: 'Gemm', inputs: ['f', 'wl', 'bl'], outputs: ['y'], attrs: { transB: 1 } },
          ],
        }
      : gap
        ? {
            init: { wl: randT(r, [8, 5], s), bl: randT(r, [5], s) },
            nodes: [
              { op: 'GlobalAveragePool', inputs: ['z2r'], outputs: ['p'] },
              { op: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: { axis: 1 } },
              { op: 'MatMul', inputs: ['f', 'wl'], outputs: ['mm'] },
              { op: 'Add', inputs: ['mm', 'bl'], outputs: ['y'] },
            ],
          }
        : {
            init: { wl: randT(r, [5, 8], s), bl: randT(r, [5], s) },
            nodes: [
              { op: 'AveragePool', inputs: ['z2r'], outputs: ['p'], attrs: { kernel_shape: [4, 4], strides: [4, 4] } },
              { op: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: { axis: 1 } },
              { op: 'Gemm', inputs: ['f', 'wl', 'bl'], outputs: ['y'], attrs: { transB: 1 } },
            ],
          };
  const bytes = buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 5] }],
    initializers: {
      w0: randT(r, [4, 3, 3, 3], s),
      b0: randT(r, [4], s),
      w1: randT(r, [3, 4, 3, 3], s),
      b1: randT(r, [3], s),
      w2: randT(r, [4, 3, 3, 3], s),
      b2: randT(r, [4], s),
      w3: randT(r, [5, 4, 3, 3], s),
      b3: randT(r, [5], s),
      w4: randT(r, [8, 5, 3, 3], s),
      b4: randT(r, [8], s),
      st: i64([0, 0]),
      en: i64([1000, 1000]),
      ax: i64([2, 3]),
      sp: i64([2, 2]),
      pads: i64([0, 2, 0, 0, 0, 2, 0, 0]),
      ...head.init,
    },
    nodes: [
      { op: 'Conv', name: 'C0', inputs: ['x', 'w0', 'b0'], outputs: ['a0'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['a0'], outputs: ['a0r'] },
      { op: 'Conv', name: 'C1', inputs: ['a0r', 'w1', 'b1'], outputs: ['a1'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['a1'], outputs: ['a1r'] },
      { op: 'Conv', name: 'C2', inputs: ['a1r', 'w2', 'b2'], outputs: ['a2'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Add', inputs: ['a2', 'a0r'], outputs: ['z1'] },
      { op: 'Relu', inputs: ['z1'], outputs: ['z1r'] },
      { op: 'Conv', name: 'C3', inputs: ['z1r', 'w3', 'b3'], outputs: ['a3'], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
      { op: 'Relu', inputs: ['a3'], outputs: ['a3r'] },
      { op: 'Conv', name: 'C4', inputs: ['a3r', 'w4', 'b4'], outputs: ['a4'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Slice', inputs: ['z1r', 'st', 'en', 'ax', 'sp'], outputs: ['sc'] },
      { op: 'Pad', inputs: ['sc', 'pads'], outputs: ['scp'], attrs: { mode: 'constant' } },
      { op: 'Add', inputs: ['a4', 'scp'], outputs: ['z2'] },
      { op: 'Relu', inputs: ['z2'], outputs: ['z2r'] },
      ...head.nodes,
    ],
  });
  const g = importOnnx(bytes);
  optimize(g);
  return g;
}

/** Σ c·y of the reference forward, in float64 */
function refLoss(g: Graph, x: Tensor, c: Float64Array): number {
  const y = runReference(g, { x }).y!.data as Float32Array;
  let s = 0;
  for (let i = 0; i < y.length; i++) s += c[i]! * y[i]!;
  return s;
}

let wasm: SparrowWasm;
beforeAll(async () => {
  wasm = await loadWasmNode();
});

describe('train_graph: forward', () => {
  for (const gap of [false, true, 'maxpool'] as const) {
    it(`equals the reference executor (${gap === 'maxpool' ? 'MaxPool + Gemm' : gap ? 'GlobalAveragePool + MatMul' : 'AveragePool + Gemm'}), TS and WASM GEMM`, () => {
      const g = miniResnet(3, gap);
      const x = randT(rng(7), [3, 3, 8, 8], 2);
      const want = runReference(g, { x }).y!.data as Float32Array;
      for (const gemm of [gemmTs, gemmWasm(wasm)] as GemmFn[]) {
        const t = new GraphTrainer(g, trainableParams(g), gemm);
        const got = t.forward({ x }).values.get('y')!.data as Float32Array;
        expect(got.length).toBe(want.length);
        for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 4);
      }
    });
  }
  it('finds every Conv/Gemm weight and bias as a parameter', () => {
    const g = miniResnet(3);
    expect(trainableParams(g).sort()).toEqual(['b0', 'b1', 'b2', 'b3', 'b4', 'bl', 'w0', 'w1', 'w2', 'w3', 'w4', 'wl'].sort());
  });
});

describe('train_graph: gradients against finite differences', () => {
  for (const gap of [false, true, 'maxpool'] as const) {
    for (const which of ['ts', 'wasm'] as const) {
      it(`every parameter (${gap === 'maxpool' ? 'MaxPool + Gemm' : gap ? 'GAP + MatMul' : 'AveragePool + Gemm'}, ${which} GEMM)`, () => {
        const g = miniResnet(11, gap);
        const x = randT(rng(5), [2, 3, 8, 8], 2);
        const r = rng(9);
        const c = Float64Array.from({ length: 2 * 5 }, () => r());
        const params = trainableParams(g);
        const t = new GraphTrainer(g, params, which === 'ts' ? gemmTs : gemmWasm(wasm));
        const tape = t.forward({ x });
        const grads = t.backward(tape, new Map([['y', Float32Array.from(c)]]));
        // finite differences (central, forward, backward) at four steps: float32 rounding of L
        // spoils the smallest steps, a ReLU kink inside a step the central ones (then the one-sided
        // difference on the side without the kink is the derivative); one of them must agree
        const steps = [1e-3, 3e-3, 1e-2, 3e-2];
        let checked = 0,
          central = 0;
        for (const p of params) {
          const w = g.values.get(p)!.const!.data as Float32Array;
          const gp = grads.get(p)!;
          expect(gp.length).toBe(w.length);
          // a sample of elements: the first, the second and every 7th
          for (let i = 0; i < w.length; i += i === 0 ? 1 : 7) {
            const w0 = w[i]!;
            const l0 = refLoss(g, x, c);
            const tol = (fd: number): number => Math.abs(gp[i]! - fd) / (1e-3 + 1e-2 * Math.abs(fd));
            let errC = Infinity,
              err1 = Infinity;
            for (const eps of steps) {
              w[i] = w0 + eps;
              const lp = refLoss(g, x, c);
              w[i] = w0 - eps;
              const lm = refLoss(g, x, c);
              w[i] = w0;
              errC = Math.min(errC, tol((lp - lm) / (2 * eps)));
              err1 = Math.min(err1, tol((lp - l0) / eps), tol((l0 - lm) / eps));
            }
            if (errC < 1) central++;
            expect(Math.min(errC, err1)).toBeLessThan(1);
            checked++;
          }
        }
        // the one-sided rescue is for the few elements next to a kink
        expect(central).toBeGreaterThan(0.9 * checked);
        expect(checked).toBeGreaterThan(100);
        // along one random direction over all parameters
        const dir = new Map(params.map((p) => [p, Float32Array.from({ length: grads.get(p)!.length }, () => r())]));
        let analytic = 0;
        for (const p of params) {
          const gp = grads.get(p)!,
            d = dir.get(p)!;
          for (let i = 0; i < d.length; i++) analytic += gp[i]! * d[i]!;
        }
        const shift = (s: number): number => {
          const g2 = cloneGraph(g);
          for (const p of params) {
            const v = g2.values.get(p)!;
            const w = v.const!.data as Float32Array,
              d = dir.get(p)!;
            v.const = { dtype: 'float32', dims: [...v.const!.dims], data: Float32Array.from(w, (wi, i) => wi + s * d[i]!) };
          }
          return refLoss(g2, x, c);
        };
        // (a max-pool's argmax may switch inside the larger steps: the best of three must agree)
        const dirErr = Math.min(
          ...[1e-3, 3e-4, 1e-4].map((e2) => {
            const fd = (shift(e2) - shift(-e2)) / (2 * e2);
            return Math.abs(analytic - fd) / Math.max(1, Math.abs(fd));
          }),
        );
        expect(dirErr).toBeLessThan(1e-2);
      });
    }
  }
});

describe('finetune: pieces', () => {
  it('distillLoss: 0 at s = t, gradient against finite differences', () => {
    const r = rng(2);
    const s = Float32Array.from({ length: 12 }, () => 3 * r()),
      t = Float32Array.from({ length: 12 }, () => 3 * r());
    expect(distillLoss(t, t, 3, 4, 2).loss).toBeCloseTo(0, 6);
    for (const T of [1, 2, 4]) {
      const { loss, grad } = distillLoss(s, t, 3, 4, T);
      expect(loss).toBeGreaterThan(0);
      for (let i = 0; i < 12; i++) {
        const sp = Float32Array.from(s),
          sm = Float32Array.from(s);
        sp[i]! += 1e-2;
        sm[i]! -= 1e-2;
        const fd = (distillLoss(sp, t, 3, 4, T).loss - distillLoss(sm, t, 3, 4, T).loss) / 2e-2;
        expect(grad[i]).toBeCloseTo(fd, 3);
      }
    }
  });
  it('augmentBatch: crop offset, flip and padding value as the naive formula', () => {
    const x = randT(rng(4), [2, 2, 5, 6]);
    const draws = [0.9, 0.1, 0.2, 0.0, 0.5, 0.9]; // image 0: dy, dx, flip; image 1: dy, dx, flip
    let k = 0;
    const y = augmentBatch(x, () => draws[k++]!, 2, true, [7, -7]);
    const src = x.data as Float32Array,
      out = y.data as Float32Array;
    const off = (u: number): number => Math.floor(u * 5) - 2;
    const cases = [
      { dy: off(0.9), dx: off(0.1), f: 0.2 < 0.5 },
      { dy: off(0.0), dx: off(0.5), f: 0.9 < 0.5 },
    ];
    cases.forEach(({ dy, dx, f }, n) => {
      for (let c = 0; c < 2; c++)
        for (let i = 0; i < 5; i++)
          for (let j = 0; j < 6; j++) {
            const si = i + dy,
              sj = (f ? 5 - j : j) + dx;
            const want = si >= 0 && si < 5 && sj >= 0 && sj < 6 ? src[((n * 2 + c) * 5 + si) * 6 + sj]! : c === 0 ? 7 : -7;
            expect(out[((n * 2 + c) * 5 + i) * 6 + j]).toBe(want);
          }
    });
  });
});

describe('finetune: mixing', () => {
  it('mixBatch mixup: convex combination of two augmented images with the returned λ and partner', () => {
    const r = rng(5);
    const x = randT(r, [6, 3, 4, 5]);
    const aug = augmentBatch(x, mulberry32(9), 1, true, [0, 0, 0]);
    const { x: y, partner, lambda } = mixBatch(aug, mulberry32(11), 'mixup', 0.4);
    const a = aug.data as Float32Array,
      out = y.data as Float32Array;
    const per = 3 * 4 * 5;
    for (let n = 0; n < 6; n++) {
      const j = partner[n]!,
        lam = lambda[n]!;
      expect(j).not.toBe(n);
      expect(j >= 0 && j < 6).toBe(true);
      expect(lam > 0 && lam < 1).toBe(true);
      for (let k = 0; k < per; k++) expect(out[n * per + k]).toBeCloseTo(lam * a[n * per + k]! + (1 - lam) * a[j * per + k]!, 6);
    }
    // the input is not modified; one image is returned unchanged
    expect(Array.from(aug.data as Float32Array)).toEqual(Array.from(a));
    const one = randT(r, [1, 3, 4, 5]);
    const m1 = mixBatch(one, mulberry32(3), 'mixup', 1);
    expect(Array.from(m1.x.data as Float32Array)).toEqual(Array.from(one.data as Float32Array));
    expect(m1.lambda[0]).toBe(1);
  });
  it('mixBatch cutmix: one rectangle of the partner pasted, λ = kept fraction', () => {
    const N = 8,
      C = 2,
      H = 6,
      W = 7;
    // image n holds the value n + 1 everywhere: which pixels came from where is then visible
    const x: Tensor = {
      dtype: 'float32',
      dims: [N, C, H, W],
      data: Float32Array.from({ length: N * C * H * W }, (_, i) => Math.floor(i / (C * H * W)) + 1),
    };
    const { x: y, partner, lambda } = mixBatch(x, mulberry32(17), 'cutmix', 1);
    const out = y.data as Float32Array;
    let pasted = 0;
    for (let n = 0; n < N; n++) {
      const j = partner[n]!;
      expect(j).not.toBe(n);
      let y0 = H,
        y1 = -1,
        x0 = W,
        x1 = -1,
        cnt = 0;
      for (let i = 0; i < H; i++)
        for (let w = 0; w < W; w++) {
          const v0 = out[((n * C + 0) * H + i) * W + w]!;
          expect(out[((n * C + 1) * H + i) * W + w]).toBe(v0); // the same box in every channel
          expect(v0 === n + 1 || v0 === j + 1).toBe(true);
          if (v0 === j + 1) {
            cnt++;
            y0 = Math.min(y0, i);
            y1 = Math.max(y1, i);
            x0 = Math.min(x0, w);
            x1 = Math.max(x1, w);
          }
        }
      // the partner's pixels fill exactly their bounding box
      if (cnt > 0) expect(cnt).toBe((y1 - y0 + 1) * (x1 - x0 + 1));
      expect(lambda[n]).toBeCloseTo(1 - cnt / (H * W), 12);
      pasted += cnt;
    }
    expect(pasted).toBeGreaterThan(0);
  });
  it('gammaSample: mean and variance a of Gamma(a, 1)', () => {
    for (const a of [0.2, 1, 2, 5]) {
      const r = mulberry32(29);
      const n = 40000;
      let s = 0,
        s2 = 0,
        lo = Infinity;
      for (let i = 0; i < n; i++) {
        const g = gammaSample(a, r);
        lo = Math.min(lo, g);
        s += g;
        s2 += g * g;
      }
      expect(lo).toBeGreaterThanOrEqual(0);
      const m = s / n,
        v = s2 / n - m * m;
      expect(Math.abs(m - a)).toBeLessThan(4 * Math.sqrt(a / n));
      expect(Math.abs(v / a - 1)).toBeLessThan(0.06);
    }
  });
  it('betaSample: mean ½ and variance 1 / (4(2α + 1))', () => {
    for (const alpha of [0.2, 1, 2]) {
      const r = mulberry32(23);
      const n = 40000;
      let s = 0,
        s2 = 0,
        lo = Infinity,
        hi = -Infinity;
      for (let i = 0; i < n; i++) {
        const b = betaSample(alpha, r);
        lo = Math.min(lo, b);
        hi = Math.max(hi, b);
        s += b;
        s2 += b * b;
      }
      expect(lo >= 0 && hi <= 1).toBe(true);
      const m = s / n,
        v = s2 / n - m * m;
      expect(Math.abs(m - 0.5)).toBeLessThan(0.01);
      expect(Math.abs(v - 1 / (4 * (2 * alpha + 1)))).toBeLessThan(0.004);
    }
  });
  it('finetune with mixup: the teacher labels the same mixed image (a student equal to the teacher has loss 0)', async () => {
    const teacher = miniResnet(71);
    const train = [randT(rng(72), [16, 3, 8, 8], 2)];
    for (const mix of ['mixup', 'cutmix'] as const) {
      const { report } = await finetune(teacher, teacher, train, { epochs: 1, batchSize: 8, lr: 1e-9, wasm, pad: 1, mix, mixAlpha: 0.5 });
      expect(report.mix).toBe(mix);
      expect(report.loss[0]!).toBeLessThan(1e-6);
    }
  });
  it('finetune with warm-up and EMA: returns the average and the last weights, brings the student closer', async () => {
    const teacher = miniResnet(81);
    const student = cloneGraph(teacher);
    const r = rng(82);
    for (const p of trainableParams(student)) {
      const v = student.values.get(p)!;
      v.const = {
        dtype: 'float32',
        dims: [...v.const!.dims],
        data: Float32Array.from(v.const!.data as Float32Array, (x) => x + 0.3 * r()),
      };
    }
    const train = [randT(rng(83), [32, 3, 8, 8], 2), randT(rng(84), [32, 3, 8, 8], 2)];
    const held = randT(rng(85), [64, 3, 8, 8], 2);
    const dist = (g: Graph): number => sqDistance(g, teacher, held);
    const res = await finetune(student, teacher, train, {
      epochs: 12,
      batchSize: 16,
      lr: 1e-2,
      wasm,
      pad: 1,
      warmupEpochs: 2,
      ema: 0.9,
      mix: 'mixup',
    });
    expect(res.last).toBeDefined();
    expect(res.report.ema).toBe(0.9);
    // the EMA differs from the last weights and lies near them; both beat the start
    let diff = 0;
    for (const p of trainableParams(student)) {
      const a = res.graph.values.get(p)!.const!.data as Float32Array,
        b = res.last!.values.get(p)!.const!.data as Float32Array;
      for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    }
    expect(diff).toBeGreaterThan(0);
    const before = dist(student);
    expect(dist(res.graph)).toBeLessThan(0.5 * before);
    expect(dist(res.last!)).toBeLessThan(0.5 * before);
  });
});

describe('finetune: distillation', () => {
  it('brings a perturbed student closer to the teacher on held-out images; zeros stay zero', async () => {
    const teacher = miniResnet(21);
    const student = cloneGraph(teacher);
    const r = rng(31);
    // perturb every weight, zero a third of w3
    for (const p of trainableParams(student)) {
      const v = student.values.get(p)!;
      const w = Float32Array.from(v.const!.data as Float32Array, (x, i) => (p === 'w3' && i % 3 === 0 ? 0 : x + 0.3 * r()));
      v.const = { dtype: 'float32', dims: [...v.const!.dims], data: w };
    }
    const train = [randT(rng(41), [32, 3, 8, 8], 2), randT(rng(42), [32, 3, 8, 8], 2)];
    const held = randT(rng(43), [64, 3, 8, 8], 2);
    const dist = (g: Graph): number => sqDistance(g, teacher, held);
    expect(featureValues(student, teacher)).toEqual(['z1', 'z2']);
    const before = dist(student);
    const { graph, report } = await finetune(student, teacher, train, {
      epochs: 12,
      batchSize: 16,
      lr: 1e-2,
      keepZeros: true,
      wasm,
      pad: 1,
    });
    const after = dist(graph);
    expect(report.loss.length).toBe(12);
    expect(report.loss[11]!).toBeLessThan(report.loss[0]!);
    console.log(before, after);
    expect(after).toBeLessThan(0.5 * before);
    const w3 = graph.values.get('w3')!.const!.data as Float32Array;
    for (let i = 0; i < w3.length; i += 3) expect(w3[i]).toBe(0);
    // the student itself is unchanged
    expect(dist(student)).toBe(before);
  });
});

describe('compressGraph: --prune channels --finetune', () => {
  it('records the fine-tuning and lands closer to the float network than channels alone', async () => {
    const g = miniResnet(51);
    const calib = { batches: [randT(rng(61), [32, 3, 8, 8], 2), randT(rng(62), [32, 3, 8, 8], 2)], spec: 'test' };
    const held = randT(rng(63), [64, 3, 8, 8], 2);
    const want = runReference(g, { x: held }).y!.data as Float32Array;
    const dist = async (bytes: Uint8Array): Promise<number> => {
      const s = await Session.fromSparrow(bytes, { engine: 'sparrow-int8' });
      const y = (await s.run({ x: held })).y!.data as Float32Array;
      let d = 0;
      for (let i = 0; i < y.length; i++) d += (y[i]! - want[i]!) ** 2;
      return d;
    };
    const base = { prune: 'channels' as const, sparsity: 0.5, calib, wasm };
    const plain = await compressGraph(g, base);
    const tuned = await compressGraph(g, { ...base, finetune: { epochs: 6, batchSize: 16, lr: 3e-3, pad: 1 } });
    const rec = loadSparrowModel(tuned.bytes).compression!;
    const ft = rec['finetune'] as { epochs: number; loss: number[]; images: number; features: number };
    expect(ft.epochs).toBe(6);
    expect(ft.loss.length).toBe(6);
    expect(ft.images).toBe(64);
    expect(ft.features).toBe(2);
    expect(loadSparrowModel(plain.bytes).compression!['finetune']).toBeUndefined();
    const [dp, dt] = [await dist(plain.bytes), await dist(tuned.bytes)];
    expect(Number.isFinite(dt)).toBe(true);
    expect(dt).toBeLessThan(dp);
  });
});
