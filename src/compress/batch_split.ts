// Fine-tuning a model whose input has a fixed batch (an ONNX export without a dynamic batch
// axis, often with the batch baked into its Reshape shapes too: mnist-8's [1, 256]): the graph
// only runs on that many images at once, so a mini-batch of n images runs as n / B0 sub-batches
// of B0. The teacher's outputs are concatenated along the batch; the student's forward keeps one
// tape per sub-batch, its values concatenated on demand, and the backward slices each seed
// along the batch, runs every sub-tape and sums the parameter gradients: the same gradients as
// one forward over the whole mini-batch (the loss is a sum over images; only the order of the
// float sums differs), which test/compress.finetune.test.ts checks against a free-batch model.
import { SparrowError } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import type { Tensor } from '../ops/types.js';
import type { GraphTrainer, Tape } from './train_graph.js';

/** The fixed batch of a graph's first input (a number in its value info), or undefined when it is free. */
export function fixedBatch(graph: Graph): number | undefined {
  const dims = graph.values.get(graph.inputs[0]!)?.info.dims;
  const b = dims?.[0];
  return typeof b === 'number' && b > 0 ? b : undefined;
}

/** Rows [i·sub, (i+1)·sub) of a batch tensor (N, ...). */
function rows(t: Tensor, i: number, sub: number): Tensor {
  const per = t.data.length / t.dims[0]!;
  return { dtype: t.dtype, dims: [sub, ...t.dims.slice(1)], data: t.data.subarray(i * sub * per, (i + 1) * sub * per) } as Tensor;
}

/** Tensors of the same shape but the batch, concatenated along it (float32). */
function concat(parts: readonly Tensor[]): Tensor {
  const first = parts[0]!;
  if (parts.length === 1) return first;
  const len = parts.reduce((s, p) => s + p.data.length, 0);
  const data = new Float32Array(len);
  let at = 0;
  for (const p of parts) {
    data.set(p.data as Float32Array, at);
    at += p.data.length;
  }
  return { dtype: 'float32', dims: [parts.reduce((s, p) => s + p.dims[0]!, 0), ...first.dims.slice(1)], data };
}

function subBatches(n: number, sub: number): number {
  if (n % sub !== 0)
    throw new SparrowError(
      'invalid_argument',
      `fine-tuning: the model's input has a fixed batch of ${sub}; a mini-batch of ${n} images does not split into it (use a model with a free batch axis, or batch 1)`,
    );
  return n / sub;
}

/** Runs `run` on each sub-batch of x (first input `input`) and concatenates every output along the batch. */
export async function runSplit(
  run: (feeds: Record<string, Tensor>) => Promise<Record<string, Tensor>>,
  input: string,
  x: Tensor,
  sub: number,
): Promise<Record<string, Tensor>> {
  const k = subBatches(x.dims[0]!, sub);
  const outs: Array<Record<string, Tensor>> = [];
  for (let i = 0; i < k; i++) outs.push(await run({ [input]: rows(x, i, sub) }));
  const r: Record<string, Tensor> = {};
  for (const name of Object.keys(outs[0]!)) r[name] = concat(outs.map((o) => o[name]!));
  return r;
}

/** A GraphTrainer run in sub-batches of `sub` images (same forward / backward / param API). */
export class SplitTrainer {
  readonly #inner: GraphTrainer;
  readonly #sub: number;
  readonly #parts = new WeakMap<Tape, Tape[]>();

  constructor(inner: GraphTrainer, sub: number) {
    this.#inner = inner;
    this.#sub = sub;
  }

  param(name: string): Float32Array {
    return this.#inner.param(name);
  }

  forward(feeds: Record<string, Tensor>): Tape {
    const names = Object.keys(feeds);
    if (names.length !== 1) throw new SparrowError('invalid_argument', 'fine-tuning in sub-batches feeds one input');
    const input = names[0]!,
      x = feeds[input]!;
    const k = subBatches(x.dims[0]!, this.#sub);
    const parts: Tape[] = [];
    for (let i = 0; i < k; i++) parts.push(this.#inner.forward({ [input]: rows(x, i, this.#sub) }));
    // the values concatenated when read (the loss reads the logits and the distilled features)
    const cache = new Map<string, Tensor>();
    const values = new Map<string, Tensor>();
    values.get = (name: string): Tensor | undefined => {
      let t = cache.get(name);
      if (!t) {
        const ps = parts.map((p) => p.values.get(name));
        if (ps.some((p) => !p)) return undefined;
        t = concat(ps as Tensor[]);
        cache.set(name, t);
      }
      return t;
    };
    const tape: Tape = { values, patches: new Map() };
    this.#parts.set(tape, parts);
    return tape;
  }

  backward(tape: Tape, seeds: Map<string, Float32Array>): Map<string, Float32Array> {
    const parts = this.#parts.get(tape);
    if (!parts) throw new SparrowError('internal', 'SplitTrainer.backward: a tape of another forward');
    const k = parts.length;
    const sum = new Map<string, Float32Array>();
    for (let i = 0; i < k; i++) {
      const sub = new Map<string, Float32Array>();
      for (const [name, s] of seeds) {
        const per = s.length / k;
        sub.set(name, s.subarray(i * per, (i + 1) * per));
      }
      const g = this.#inner.backward(parts[i]!, sub);
      for (const p of this.#inner.params) {
        const gp = g.get(p);
        if (!gp) continue;
        const acc = sum.get(p);
        if (!acc) sum.set(p, Float32Array.from(gp));
        else for (let j = 0; j < acc.length; j++) acc[j]! += gp[j]!;
      }
    }
    return sum;
  }
}
