// Fine-tuning a model whose input has a fixed batch (src/compress/batch_split.ts).
//
// What is asserted (oracles: the whole-batch GraphTrainer and Session, the teacher):
//  - fixedBatch reads a numeric batch from the input's value info, undefined for a free one;
//  - SplitTrainer on a free-batch graph, in sub-batches of 1 and 3: the concatenated forward
//    values equal the whole-batch forward's, and the summed parameter gradients equal the
//    whole-batch gradients (only the order of float sums differs: 1e-5 relative);
//  - runSplit equals one Session.run over the whole batch;
//  - a model exported with batch 1 baked into its input and its Reshape ([1, -1]) cannot take a
//    mini-batch whole (the GraphTrainer forward throws), but finetune() trains it image by
//    image and brings a perturbed student closer to its teacher.
import { describe, it, expect, beforeAll } from 'vitest';
import { buildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { cloneGraph, type Graph } from '../src/ir/graph.js';
import { runReference } from '../src/runtime/reference.js';
import { Session } from '../src/runtime/session.js';
import { GraphTrainer, gemmWasm, trainableParams } from '../src/compress/train_graph.js';
import { fixedBatch, runSplit, SplitTrainer } from '../src/compress/batch_split.js';
import { finetune } from '../src/compress/finetune.js';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import type { Tensor } from '../src/ops/types.js';
import { centeredRng as rng, randTensor as randT } from './helpers/float_tensors.js';
import '../src/ops/ref/index.js';

/** x (B, 3, 6, 6) → Conv 3→4 3x3 → Relu → MaxPool 2 → Reshape [B, 36] ([−1, 36] for a free batch) → MatMul 36×5 → Add */
function smallNet(seed: number, batch: number | 'N'): Graph {
  const r = rng(seed);
  const shape: Tensor = { dtype: 'int64', dims: [2], data: BigInt64Array.from([batch === 'N' ? -1n : BigInt(batch), 36n]) };
  const g = importOnnx(
    buildModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: [batch, 3, 6, 6] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [batch, 5] }],
      initializers: {
        w1: randT(r, [4, 3, 3, 3], 0.8),
        b1: randT(r, [4], 0.5),
        shape,
        w2: randT(r, [36, 5], 0.6),
        b2: randT(r, [5], 0.5),
      },
      nodes: [
        { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['c'], outputs: ['cr'] },
        { op: 'MaxPool', inputs: ['cr'], outputs: ['p'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
        { op: 'Reshape', inputs: ['p', 'shape'], outputs: ['f'] },
        { op: 'MatMul', inputs: ['f', 'w2'], outputs: ['m'] },
        { op: 'Add', inputs: ['m', 'b2'], outputs: ['y'] },
      ],
    }),
  );
  optimize(g);
  return g;
}

function maxRel(a: Float32Array, b: Float32Array): number {
  let d = 0,
    m = 1e-12;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

let wasm: SparrowWasm;
beforeAll(async () => {
  wasm = await loadWasmNode();
});

describe('fine-tuning in sub-batches', () => {
  it('fixedBatch: a number in the input value info, undefined for a free batch', () => {
    expect(fixedBatch(smallNet(1, 1))).toBe(1);
    expect(fixedBatch(smallNet(1, 'N'))).toBeUndefined();
  });

  it('SplitTrainer: the forward values and the summed gradients equal the whole batch (sub-batches of 1 and 3)', () => {
    const g = smallNet(2, 'N');
    const params = trainableParams(g);
    const x = randT(rng(3), [6, 3, 6, 6], 2);
    const whole = new GraphTrainer(cloneGraph(g), params, gemmWasm(wasm));
    const tw = whole.forward({ x });
    const yw = tw.values.get('y')!.data as Float32Array;
    const seed = Float32Array.from({ length: yw.length }, rng(4));
    const gw = whole.backward(tw, new Map([['y', seed]]));
    for (const sub of [1, 3]) {
      const split = new SplitTrainer(new GraphTrainer(cloneGraph(g), params, gemmWasm(wasm)), sub);
      const ts = split.forward({ x });
      const ys = ts.values.get('y')!;
      expect(ys.dims).toEqual([6, 5]);
      expect(maxRel(ys.data as Float32Array, yw)).toBeLessThan(1e-6);
      expect(maxRel(ts.values.get('p')!.data as Float32Array, tw.values.get('p')!.data as Float32Array)).toBeLessThan(1e-6);
      const gs = split.backward(ts, new Map([['y', seed]]));
      for (const p of params) expect(maxRel(gs.get(p)!, gw.get(p)!), `${p}, sub-batches of ${sub}`).toBeLessThan(1e-5);
    }
  });

  it('runSplit equals one Session.run over the whole batch', async () => {
    const g = smallNet(5, 'N');
    const s = Session.fromGraph(g, { engine: 'sparrow-f32' });
    const x = randT(rng(6), [4, 3, 6, 6], 2);
    const whole = (await s.run({ x }))['y']!;
    const split = (await runSplit((f) => s.run(f), 'x', x, 1))['y']!;
    expect(split.dims).toEqual([4, 5]);
    expect(maxRel(split.data as Float32Array, whole.data as Float32Array)).toBeLessThan(1e-6);
  });

  it('a model with batch 1 baked in (input and Reshape) trains image by image and moves toward its teacher', async () => {
    const teacher = smallNet(7, 1);
    // the whole mini-batch cannot go through it at once
    expect(() =>
      new GraphTrainer(cloneGraph(teacher), trainableParams(teacher), gemmWasm(wasm)).forward({ x: randT(rng(8), [4, 3, 6, 6]) }),
    ).toThrow();
    const student = cloneGraph(teacher);
    const r = rng(9);
    for (const p of trainableParams(student)) {
      const v = student.values.get(p)!;
      v.const = {
        dtype: 'float32',
        dims: [...v.const!.dims],
        data: Float32Array.from(v.const!.data as Float32Array, (w) => w + 0.3 * r()),
      };
    }
    const held = Array.from({ length: 16 }, (_, i) => randT(rng(100 + i), [1, 3, 6, 6], 2));
    const dist = (g: Graph): number => {
      let s = 0;
      for (const x of held) {
        const a = runReference(g, { x }).y!.data as Float32Array,
          b = runReference(teacher, { x }).y!.data as Float32Array;
        for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
      }
      return s;
    };
    const before = dist(student);
    const train = [randT(rng(11), [24, 3, 6, 6], 2), randT(rng(12), [24, 3, 6, 6], 2)];
    const { graph, report } = await finetune(student, teacher, train, { epochs: 6, batchSize: 8, lr: 1e-2, wasm, pad: 1 });
    expect(report.loss.length).toBe(6);
    expect(report.loss[5]!).toBeLessThan(report.loss[0]!);
    expect(dist(graph)).toBeLessThan(0.5 * before);
  });
});
