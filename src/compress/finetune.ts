// Fine-tuning by knowledge distillation (`sparrow compress --finetune <epochs>`): after pruning
// (channels.ts removes whole channels; any pruning that leaves a float graph), the student's
// Conv/Gemm/MatMul weights and biases are trained to reproduce the original float network (the
// teacher) on the calibration images, so no labels are used:
//   loss = T² · KL(softmax(t/T) ‖ softmax(s/T))            (logits; Hinton et al. 2015)
//        + β · Σ_f ‖s_f − t_f‖² / ‖t_f‖²                    (feature distillation, β = featureWeight)
// where f runs over the values both graphs have with the same shape that are outputs of Add
// nodes (ResNet: the residual stream after each block, which channel pruning leaves in shape).
// Each epoch visits the images in a seeded random order in mini-batches, each image augmented
// (random crop of the image padded by `pad` pixels of padValue, random horizontal flip: the
// standard CIFAR training augmentation); the teacher sees the same augmented batch (the
// sparrow-f32 engine). Adam (default) or SGD with momentum, cosine learning-rate decay from lr to
// 0 over all steps, optional decoupled weight decay. Weights that are 0 when fine-tuning starts
// stay 0 when keepZeros (unstructured pruning's masks).
// Gradients: train_graph.ts (checked against finite differences in test/compress.finetune.test.ts).
import { SparrowError } from '../errors.js';
import { cloneGraph, type Graph } from '../ir/graph.js';
import { elementCount, type Tensor } from '../ops/types.js';
import { Session } from '../runtime/session.js';
import { mulberry32 } from '../util/rng.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import { fixedBatch, runSplit, SplitTrainer } from './batch_split.js';
import { GraphTrainer, gemmTs, gemmWasm, trainableParams } from './train_graph.js';

export interface FinetuneOptions {
  /** passes over the images (≥ 1) */
  epochs: number;
  /** images per step (default 32) */
  batchSize?: number;
  /** peak learning rate (default: 5e-4 for adam, 0.01 for sgd) */
  lr?: number;
  /** 'adam' (default) or 'sgd' (momentum 0.9, Nesterov off) */
  optimizer?: 'adam' | 'sgd';
  momentum?: number;
  /** decoupled weight decay per step, × lr (default 0) */
  weightDecay?: number;
  /** distillation temperature T (default 2) */
  temperature?: number;
  /** β of the feature term (default 1; 0: logits only) */
  featureWeight?: number;
  /** random crop padding in pixels (default 4; 0: no crop) */
  pad?: number;
  /** the padded pixels' value per input channel (default 0: the mean of normalized inputs) */
  padValue?: readonly number[];
  /** random horizontal flips (default true) */
  flip?: boolean;
  /**
   * mixing of the augmented images within each batch (default 'none'): 'mixup' = λ·x_i + (1−λ)·x_j,
   * 'cutmix' = x_i with a box of x_j pasted in (area 1−λ); j = a random other image of the batch,
   * λ ~ Beta(mixAlpha, mixAlpha) per image. The teacher sees the same mixed image (no labels).
   */
  mix?: 'none' | 'mixup' | 'cutmix';
  /** α of the Beta distribution of λ (default 1: uniform) */
  mixAlpha?: number;
  /** linear learning-rate warm-up over this many epochs (may be fractional; default 0), then cosine */
  warmupEpochs?: number;
  /** exponential moving average of the weights with this decay per step (e.g. 0.99; default 0: off); the EMA is returned */
  ema?: number;
  seed?: number;
  /** keep weights that are exactly 0 at 0 (default false) */
  keepZeros?: boolean;
  /** WASM for the GEMMs (default: plain TS) */
  wasm?: SparrowWasm;
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
}

export interface FinetuneReport {
  epochs: number;
  steps: number;
  images: number;
  optimizer: 'adam' | 'sgd';
  lr: number;
  temperature: number;
  featureWeight: number;
  features: number;
  /** mean loss of each epoch */
  loss: number[];
  mix?: 'mixup' | 'cutmix';
  mixAlpha?: number;
  warmupEpochs?: number;
  ema?: number;
}

/** A Gamma(a, 1) sample (Marsaglia–Tsang; a < 1 by the boost u^(1/a)). */
export function gammaSample(a: number, rand: () => number): number {
  if (a < 1) return gammaSample(a + 1, rand) * Math.pow(Math.max(rand(), 1e-300), 1 / a);
  const d = a - 1 / 3,
    c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number, v: number;
    do {
      // standard normal by Box–Muller
      const u1 = Math.max(rand(), 1e-300),
        u2 = rand();
      x = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = Math.max(rand(), 1e-300);
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** λ ~ Beta(α, α); α = 1 is one uniform draw. */
export function betaSample(alpha: number, rand: () => number): number {
  if (alpha === 1) return rand();
  const x = gammaSample(alpha, rand),
    y = gammaSample(alpha, rand);
  return x / (x + y);
}

/**
 * Mixes a batch (N, C, H, W) of (already augmented) images: for each image n a partner
 * j ≠ n drawn uniformly from the batch and λ_n ~ Beta(α, α), then
 *   mixup:  out_n = λ_n · x_n + (1 − λ_n) · x_j
 *   cutmix: out_n = x_n with the box [y0, y1) × [x0, x1) of x_j pasted, the box of area ≈ (1 − λ_n)·H·W
 *           (side ratio √(1 − λ_n), centre uniform, clipped to the image)
 * Returns the mixed batch and, per image, the partner and λ actually applied (for cutmix the
 * kept area fraction after clipping). A batch of one image is returned unchanged (λ = 1).
 */
export function mixBatch(
  x: Tensor,
  rand: () => number,
  mode: 'mixup' | 'cutmix',
  alpha: number,
): { x: Tensor; partner: Int32Array; lambda: Float64Array } {
  const [N, C, H, W] = x.dims as [number, number, number, number];
  const src = x.data as Float32Array;
  const out = Float32Array.from(src);
  const partner = new Int32Array(N),
    lambda = new Float64Array(N).fill(1);
  const hw = H * W;
  for (let n = 0; n < N; n++) {
    partner[n] = n;
    if (N < 2) continue;
    let j = Math.floor(rand() * (N - 1));
    if (j >= n) j++;
    partner[n] = j;
    const lam = betaSample(alpha, rand);
    if (mode === 'mixup') {
      lambda[n] = lam;
      for (let k = 0; k < C * hw; k++) out[n * C * hw + k] = lam * src[n * C * hw + k]! + (1 - lam) * src[j * C * hw + k]!;
    } else {
      const r = Math.sqrt(1 - lam);
      const bh = Math.floor(H * r),
        bw = Math.floor(W * r);
      const cy = Math.floor(rand() * H),
        cx = Math.floor(rand() * W);
      const y0 = Math.max(0, cy - (bh >> 1)),
        y1 = Math.min(H, cy - (bh >> 1) + bh),
        x0 = Math.max(0, cx - (bw >> 1)),
        x1 = Math.min(W, cx - (bw >> 1) + bw);
      for (let c = 0; c < C; c++)
        for (let i = y0; i < y1; i++) for (let w = x0; w < x1; w++) out[(n * C + c) * hw + i * W + w] = src[(j * C + c) * hw + i * W + w]!;
      lambda[n] = 1 - (Math.max(0, y1 - y0) * Math.max(0, x1 - x0)) / hw;
    }
  }
  return { x: { dtype: 'float32', dims: [N, C, H, W], data: out }, partner, lambda };
}

/** T² KL(softmax(t/T) ‖ softmax(s/T)) summed over `rows` rows of `cls` logits, and its gradient wrt s (not divided by rows). */
export function distillLoss(s: Float32Array, t: Float32Array, rows: number, cls: number, T: number): { loss: number; grad: Float32Array } {
  const grad = new Float32Array(rows * cls);
  let loss = 0;
  const ps = new Float64Array(cls),
    pt = new Float64Array(cls);
  for (let r = 0; r < rows; r++) {
    const soft = (z: Float32Array, p: Float64Array): number => {
      let mx = -Infinity;
      for (let c = 0; c < cls; c++) mx = Math.max(mx, z[r * cls + c]! / T);
      let sum = 0;
      for (let c = 0; c < cls; c++) sum += p[c] = Math.exp(z[r * cls + c]! / T - mx);
      for (let c = 0; c < cls; c++) p[c]! /= sum;
      return mx + Math.log(sum);
    };
    const lzs = soft(s, ps),
      lzt = soft(t, pt);
    for (let c = 0; c < cls; c++) {
      const p = pt[c]!;
      // log pt − log ps = (t/T − lzt) − (s/T − lzs)
      if (p > 0) loss += p * (t[r * cls + c]! / T - lzt - (s[r * cls + c]! / T - lzs));
      grad[r * cls + c] = T * (ps[c]! - p);
    }
  }
  return { loss: T * T * loss, grad };
}

/**
 * Augments a batch (N, C, H, W): per image a random crop of the image padded by `pad` pixels
 * (offset in [−pad, pad] on each axis; outside: padValue[c]) and a horizontal flip with
 * probability ½ when `flip`.
 */
export function augmentBatch(x: Tensor, rand: () => number, pad: number, flip: boolean, padValue?: readonly number[]): Tensor {
  const [N, C, H, W] = x.dims as [number, number, number, number];
  const src = x.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let n = 0; n < N; n++) {
    const dy = pad > 0 ? Math.floor(rand() * (2 * pad + 1)) - pad : 0,
      dx = pad > 0 ? Math.floor(rand() * (2 * pad + 1)) - pad : 0;
    const f = flip && rand() < 0.5;
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * H * W,
        fillv = padValue?.[c] ?? 0;
      for (let i = 0; i < H; i++) {
        const si = i + dy;
        for (let j = 0; j < W; j++) {
          const jj = f ? W - 1 - j : j;
          const sj = jj + dx;
          out[base + i * W + j] = si >= 0 && si < H && sj >= 0 && sj < W ? src[base + si * W + sj]! : fillv;
        }
      }
    }
  }
  return { dtype: 'float32', dims: [N, C, H, W], data: out };
}

/** Values named alike in both graphs, same dims, produced by an Add in the student: the feature targets. */
export function featureValues(student: Graph, teacher: Graph): string[] {
  const out: string[] = [];
  for (const n of student.nodes) {
    if (n.op !== 'Add' || n.domain !== '') continue;
    const v = n.outputs[0]!;
    const a = student.values.get(v)?.info.dims,
      b = teacher.values.get(v)?.info.dims;
    if (!a || !b || teacher.values.get(v)?.const || !teacher.nodes.some((m) => m.outputs.includes(v))) continue;
    if (a.length === b.length && a.every((d, i) => d === b[i])) out.push(v);
  }
  return out;
}

/**
 * Trains a copy of `student` (a float graph, one image input, the first output the logits) to
 * match `teacher` on `batches` (preprocessed images, any batching: they are split into single
 * images and re-batched). Returns the trained graph (the student is not modified): with `ema`
 * the weights' moving average, and `last` the weights of the final step.
 */
export async function finetune(
  student: Graph,
  teacher: Graph,
  batches: readonly Tensor[],
  opts: FinetuneOptions,
): Promise<{ graph: Graph; report: FinetuneReport; last?: Graph }> {
  const epochs = opts.epochs;
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new SparrowError('invalid_argument', `fine-tuning epochs must be a positive integer, got ${String(epochs)}`);
  if (student.inputs.length !== 1 || teacher.inputs.length !== 1 || student.inputs[0] !== teacher.inputs[0])
    throw new SparrowError('invalid_argument', 'fine-tuning needs one image input, the same in student and teacher');
  const input = student.inputs[0]!,
    logits = student.outputs[0]!;
  if (teacher.outputs[0] !== logits)
    throw new SparrowError('invalid_argument', 'fine-tuning: student and teacher must share the first output');
  const bs = opts.batchSize ?? 32;
  const optimizer = opts.optimizer ?? 'adam';
  const lr0 = opts.lr ?? (optimizer === 'adam' ? 5e-4 : 0.01);
  const T = opts.temperature ?? 2;
  const beta = opts.featureWeight ?? 1;
  const pad = opts.pad ?? 4,
    flip = opts.flip ?? true;
  const mom = opts.momentum ?? 0.9;
  const wd = opts.weightDecay ?? 0;
  if (!(bs >= 1 && Number.isInteger(bs)))
    throw new SparrowError('invalid_argument', `fine-tuning batch size must be a positive integer, got ${bs}`);
  if (!(lr0 > 0) || !(T > 0) || !(beta >= 0))
    throw new SparrowError('invalid_argument', 'fine-tuning: lr and temperature must be > 0, featureWeight ≥ 0');
  const mix = opts.mix ?? 'none',
    mixAlpha = opts.mixAlpha ?? 1,
    warm = opts.warmupEpochs ?? 0,
    emaDecay = opts.ema ?? 0;
  if (mix !== 'none' && mix !== 'mixup' && mix !== 'cutmix')
    throw new SparrowError('invalid_argument', `fine-tuning mix must be none, mixup or cutmix, got ${String(mix)}`);
  if (!(mixAlpha > 0 && Number.isFinite(mixAlpha)))
    throw new SparrowError('invalid_argument', `fine-tuning mix alpha must be a positive number, got ${String(mixAlpha)}`);
  if (!(warm >= 0 && warm <= epochs))
    throw new SparrowError('invalid_argument', `fine-tuning warm-up must be in [0, epochs], got ${String(warm)}`);
  if (!(emaDecay >= 0 && emaDecay < 1))
    throw new SparrowError('invalid_argument', `fine-tuning EMA decay must be in [0, 1), got ${String(emaDecay)}`);

  // single images, (C, H, W) each
  const images: Float32Array[] = [];
  let imgDims: number[] | undefined;
  for (const b of batches) {
    if (b.dtype !== 'float32' || b.dims.length !== 4)
      throw new SparrowError('invalid_argument', `fine-tuning needs NCHW float32 images, got ${b.dtype} [${b.dims.join(',')}]`);
    const per = elementCount(b.dims.slice(1));
    imgDims ??= b.dims.slice(1);
    for (let i = 0; i < b.dims[0]!; i++) images.push((b.data as Float32Array).slice(i * per, (i + 1) * per));
  }
  if (images.length === 0 || !imgDims) throw new SparrowError('invalid_argument', 'fine-tuning needs calibration images (--calib)');
  const per = elementCount(imgDims);

  const g = cloneGraph(student);
  // own copies of the trained constants (cloneGraph may share the typed arrays)
  const params = trainableParams(g);
  for (const p of params) {
    const v = g.values.get(p)!;
    v.const = { dtype: 'float32', dims: [...v.const!.dims], data: Float32Array.from(v.const!.data as Float32Array) };
  }
  // a model exported with a fixed batch (often baked into its Reshape shapes too) trains in
  // sub-batches of that size, its gradients summed (batch_split.ts)
  const fixed = fixedBatch(g);
  const inner = new GraphTrainer(g, params, opts.wasm ? gemmWasm(opts.wasm) : gemmTs);
  const trainer = fixed === undefined ? inner : new SplitTrainer(inner, fixed);
  const feats = beta > 0 ? featureValues(g, teacher) : [];
  const tg = cloneGraph(teacher);
  tg.outputs = [logits, ...feats];
  const teacherSession = Session.fromGraph(tg, { engine: 'sparrow-f32' });
  const masks = opts.keepZeros ? new Map(params.map((p) => [p, Uint8Array.from(trainer.param(p), (w) => (w === 0 ? 0 : 1))])) : undefined;

  const m1 = new Map(params.map((p) => [p, new Float32Array(trainer.param(p).length)]));
  const m2 = optimizer === 'adam' ? new Map(params.map((p) => [p, new Float32Array(trainer.param(p).length)])) : undefined;
  const stepsPerEpoch = Math.ceil(images.length / bs);
  const total = epochs * stepsPerEpoch;
  const rand = mulberry32((opts.seed ?? 1) >>> 0);
  // the mixing draws come from their own stream, so that mix 'none' keeps the earlier crops and flips
  const mixRand = mulberry32(((opts.seed ?? 1) ^ 0x6d1f) >>> 0);
  const warmSteps = Math.round(warm * stepsPerEpoch);
  const ema = emaDecay > 0 ? new Map(params.map((p) => [p, Float32Array.from(trainer.param(p))])) : undefined;
  const order = Array.from(images.keys());
  const losses: number[] = [];
  let step = 0;
  for (let e = 0; e < epochs; e++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let sum = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const idx = order.slice(s * bs, (s + 1) * bs);
      const n = idx.length;
      const raw = new Float32Array(n * per);
      idx.forEach((k, i) => raw.set(images[k]!, i * per));
      const aug = augmentBatch({ dtype: 'float32', dims: [n, ...imgDims], data: raw }, rand, pad, flip, opts.padValue);
      const x = mix === 'none' ? aug : mixBatch(aug, mixRand, mix, mixAlpha).x;
      const tout =
        fixed === undefined ? await teacherSession.run({ [input]: x }) : await runSplit((f) => teacherSession.run(f), input, x, fixed);
      const tape = trainer.forward({ [input]: x });
      const sl = tape.values.get(logits)!;
      const cls = elementCount(sl.dims) / n;
      const { loss, grad } = distillLoss(sl.data as Float32Array, tout[logits]!.data as Float32Array, n, cls, T);
      for (let i = 0; i < grad.length; i++) grad[i]! /= n;
      let total_ = loss / n;
      const seeds = new Map<string, Float32Array>([[logits, grad]]);
      for (const f of feats) {
        const sv = tape.values.get(f)!.data as Float32Array,
          tv = tout[f]!.data as Float32Array;
        let e2 = 0,
          t2 = 0;
        for (let i = 0; i < tv.length; i++) {
          const d = sv[i]! - tv[i]!;
          e2 += d * d;
          t2 += tv[i]! * tv[i]!;
        }
        const den = Math.max(t2, 1e-12);
        total_ += (beta * e2) / den;
        const gf = new Float32Array(tv.length);
        const c = (2 * beta) / den;
        for (let i = 0; i < tv.length; i++) gf[i] = c * (sv[i]! - tv[i]!);
        seeds.set(f, gf);
      }
      sum += total_;
      const grads = trainer.backward(tape, seeds);
      // linear warm-up to lr0 over warmSteps, then cosine from lr0 to 0 over the remaining steps
      const lr =
        step < warmSteps
          ? (lr0 * (step + 1)) / warmSteps
          : 0.5 * lr0 * (1 + Math.cos((Math.PI * (step - warmSteps)) / Math.max(1, total - warmSteps)));
      step++;
      for (const p of params) {
        const w = trainer.param(p),
          gr = grads.get(p)!,
          a = m1.get(p)!,
          mask = masks?.get(p);
        if (optimizer === 'adam') {
          const b = m2!.get(p)!;
          const c1 = 1 - 0.9 ** step,
            c2 = 1 - 0.999 ** step;
          for (let i = 0; i < w.length; i++) {
            const gi = gr[i]!;
            a[i] = 0.9 * a[i]! + 0.1 * gi;
            b[i] = 0.999 * b[i]! + 0.001 * gi * gi;
            w[i] = w[i]! * (1 - lr * wd) - (lr * (a[i]! / c1)) / (Math.sqrt(b[i]! / c2) + 1e-8);
          }
        } else {
          for (let i = 0; i < w.length; i++) {
            a[i] = mom * a[i]! + gr[i]!;
            w[i] = w[i]! * (1 - lr * wd) - lr * a[i]!;
          }
        }
        if (mask) for (let i = 0; i < w.length; i++) if (!mask[i]) w[i] = 0;
        if (ema) {
          // decay warmed up as (1 + t) / (10 + t) so the early average is not the pruned start
          const d = Math.min(emaDecay, (1 + step) / (10 + step));
          const m = ema.get(p)!;
          for (let i = 0; i < w.length; i++) m[i] = d * m[i]! + (1 - d) * w[i]!;
        }
      }
    }
    losses.push(sum / stepsPerEpoch);
    opts.onEpoch?.(e + 1, epochs, sum / stepsPerEpoch);
  }
  let last: Graph | undefined;
  if (ema) {
    last = cloneGraph(g);
    for (const p of params) {
      const v = last.values.get(p)!;
      v.const = { dtype: 'float32', dims: [...v.const!.dims], data: Float32Array.from(v.const!.data as Float32Array) };
      g.values.get(p)!.const = { dtype: 'float32', dims: [...v.const.dims], data: ema.get(p)! };
    }
  }
  return {
    graph: g,
    ...(last ? { last } : {}),
    report: {
      epochs,
      steps: total,
      images: images.length,
      optimizer,
      lr: lr0,
      temperature: T,
      featureWeight: beta,
      features: feats.length,
      loss: losses,
      ...(mix !== 'none' ? { mix, mixAlpha } : {}),
      ...(warm > 0 ? { warmupEpochs: warm } : {}),
      ...(emaDecay > 0 ? { ema: emaDecay } : {}),
    },
  };
}
