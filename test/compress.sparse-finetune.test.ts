// `--finetune` with unstructured pruning (--prune magnitude|hessian|obs, and hessian pairs):
// src/compress/sparse_finetune.ts decides the masks in float, finetune.ts trains with them fixed,
// compress.ts quantizes with them forced.
//
// What is asserted (oracles: the mask of the float pruning pass recomputed independently by
// prunedFloatGraph / magnitudePrune on the same inputs, the float teacher):
//  - the mask is kept exactly: the fine-tuned float graph (CompressResult.graph) has zeros exactly
//    where the float pruning pass put them (so every layer's density equals the pre-finetune
//    one), every one of those weights is 0 in the file, the fine-tuning changed the kept weights;
//  - the file lands closer to the float network (sparrow-int8 outputs on held-out images) than
//    the same pruning without fine-tuning;
//  - the options: accepted with every pruning method given --calib, refused without it.
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { runReference } from '../src/runtime/reference.js';
import type { Graph } from '../src/ir/graph.js';
import type { Tensor } from '../src/ops/types.js';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { compressGraph, resolveCompressOptions, weightLayers, type CompressOptions } from '../src/compress/compress.js';
import { prunedFloatGraph, layerDensities } from '../src/compress/sparse_finetune.js';
import { magnitudePrune } from '../src/compress/prune.js';
import { loadSparrowModel } from '../src/runtime/sparrow_model.js';
import { Session } from '../src/runtime/session.js';
import { centeredRng, randTensor } from './helpers/float_tensors.js';
import '../src/ops/ref/index.js';

const randT = (seed: number, dims: number[], scale = 1): Tensor => randTensor(centeredRng(seed), dims, scale);

/** stem conv 3→8, a residual block of two 8→8 convs, a 8→8 conv, GlobalAveragePool, Gemm 8→5 */
function smallNet(seed: number): Graph {
  const bytes = buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 5] }],
    initializers: {
      w0: randT(seed + 1, [8, 3, 3, 3], 0.8),
      b0: randT(seed + 2, [8], 0.2),
      w1: randT(seed + 3, [8, 8, 3, 3], 0.5),
      b1: randT(seed + 4, [8], 0.2),
      w2: randT(seed + 5, [8, 8, 3, 3], 0.5),
      b2: randT(seed + 6, [8], 0.2),
      w3: randT(seed + 7, [8, 8, 3, 3], 0.5),
      b3: randT(seed + 8, [8], 0.2),
      wl: randT(seed + 9, [5, 8], 1),
      bl: randT(seed + 10, [5], 0.2),
    },
    nodes: [
      { op: 'Conv', name: 'C0', inputs: ['x', 'w0', 'b0'], outputs: ['a0'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['a0'], outputs: ['a0r'] },
      { op: 'Conv', name: 'C1', inputs: ['a0r', 'w1', 'b1'], outputs: ['a1'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['a1'], outputs: ['a1r'] },
      { op: 'Conv', name: 'C2', inputs: ['a1r', 'w2', 'b2'], outputs: ['a2'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Add', inputs: ['a2', 'a0r'], outputs: ['z1'] },
      { op: 'Relu', inputs: ['z1'], outputs: ['z1r'] },
      { op: 'Conv', name: 'C3', inputs: ['z1r', 'w3', 'b3'], outputs: ['a3'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['a3'], outputs: ['a3r'] },
      { op: 'GlobalAveragePool', inputs: ['a3r'], outputs: ['p'] },
      { op: 'Flatten', inputs: ['p'], outputs: ['f'], attrs: { axis: 1 } },
      { op: 'Gemm', name: 'G', inputs: ['f', 'wl', 'bl'], outputs: ['y'], attrs: { transB: 1 } },
    ],
  });
  const g = importOnnx(bytes);
  optimize(g);
  return g;
}

let wasm: SparrowWasm;
beforeAll(async () => {
  wasm = await loadWasmNode();
});

const calib = { batches: [randT(61, [32, 3, 8, 8], 4), randT(62, [32, 3, 8, 8], 4)], spec: 'test' };
const held = randT(63, [64, 3, 8, 8], 4);
const ft = { epochs: 6, batchSize: 16, lr: 3e-3, pad: 1 };
/** the pruned middle layers (the first and the last stay dense) */
const MIDDLE = ['C1', 'C2', 'C3'];

function zerosOf(g: Graph, node: string): Uint8Array {
  const L = weightLayers(g).find((l) => l.node.name === node)!;
  return Uint8Array.from(g.values.get(L.value)!.const!.data as Float32Array, (x) => (x === 0 ? 1 : 0));
}

/** the file's int8 weights of a layer (stored layout) */
function fileQ(bytes: Uint8Array, g: Graph, node: string): Int8Array {
  const L = weightLayers(g).find((l) => l.node.name === node)!;
  const m = loadSparrowModel(bytes);
  return m.int8.get(L.value)!.q;
}

describe('--finetune with unstructured pruning: the mask is kept', () => {
  const cases: Array<[string, CompressOptions]> = [
    ['obs 0.7', { prune: 'obs', sparsity: 0.7 }],
    ['hessian 0.6', { prune: 'hessian', sparsity: 0.6 }],
    ['hessian 0.5 pairs', { prune: 'hessian', sparsity: 0.5, sparsityPattern: 'pairs' }],
    ['magnitude 0.5', { prune: 'magnitude', sparsity: 0.5 }],
    // 3 bits: the earlier layers' coarse errors move the float-target weights at the pruned
    // places off 0, so a mask chosen again at quantization would differ
    ['obs 0.5, 3 bits', { prune: 'obs', sparsity: 0.5, weightBits: 3 }],
    ['hessian 0.5, 3 bits', { prune: 'hessian', sparsity: 0.5, weightBits: 3 }],
  ];
  for (const [name, po] of cases) {
    it(name, async () => {
      const g = smallNet(11);
      // the masks before fine-tuning, by the float pruning pass itself (magnitude: prune.ts)
      let pre: Graph;
      if (po.prune === 'magnitude') {
        pre = smallNet(11);
        for (const L of weightLayers(pre).filter((l) => MIDDLE.includes(l.node.name))) {
          const v = pre.values.get(L.value)!;
          v.const = { ...v.const!, data: magnitudePrune(v.const!.data as Float32Array, po.sparsity!) };
        }
      } else {
        pre = prunedFloatGraph(g, calib.batches, {
          method: po.prune as 'hessian' | 'obs',
          sparsityOf: (n) => (MIDDLE.includes(n) ? po.sparsity! : 0),
          ...(po.sparsityPattern ? { pattern: po.sparsityPattern } : {}),
          wasm,
        });
      }
      const r = await compressGraph(g, { ...po, calib, wasm, finetune: ft });
      const rec = loadSparrowModel(r.bytes).compression!;
      expect(rec['masks']).toBe('fixed-before-finetune');
      expect((rec['finetune'] as { epochs: number }).epochs).toBe(6);
      const dPre = layerDensities(pre),
        dFt = layerDensities(r.graph);
      for (const node of MIDDLE) {
        const want = zerosOf(pre, node);
        const zeros = want.reduce((a, b) => a + b, 0);
        // a pruned layer: the sparsity asked for (pairs: rounded to whole pairs)
        expect(Math.abs(zeros / want.length - po.sparsity!)).toBeLessThan(0.06);
        // the fine-tuned float graph: the same zeros, hence the same density
        expect(zerosOf(r.graph, node)).toEqual(want);
        expect(dFt.get(node)).toBe(dPre.get(node));
        // the file: every pruned weight 0 (a kept weight may round to 0: at most a few)
        const q = fileQ(r.bytes, r.graph, node);
        let kept0 = 0;
        for (let i = 0; i < q.length; i++) {
          if (want[i]) expect(q[i]).toBe(0);
          else if (q[i] === 0) kept0++;
        }
        expect(kept0).toBeLessThanOrEqual(Math.ceil(0.05 * (q.length - zeros)));
        const rep = r.layers.find((l) => l.node === node)!;
        expect(rep.density).toBeCloseTo((q.length - zeros - kept0) / q.length, 12);
      }
      // the fine-tuning moved the kept weights
      const L = weightLayers(g).find((l) => l.node.name === 'C2')!;
      const a = pre.values.get(L.value)!.const!.data as Float32Array,
        b = r.graph.values.get(L.value)!.const!.data as Float32Array;
      let moved = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) moved++;
      expect(moved).toBeGreaterThan(0.5 * (a.length - zerosOf(pre, 'C2').reduce((x, y) => x + y, 0)));
    });
  }
});

describe('--finetune with unstructured pruning: closer to the teacher', () => {
  it('obs 0.7: sparrow-int8 outputs nearer the float network than obs 0.7 alone', async () => {
    const g = smallNet(21);
    const want = runReference(g, { x: held }).y!.data as Float32Array;
    const dist = async (bytes: Uint8Array): Promise<number> => {
      const s = await Session.fromSparrow(bytes, { engine: 'sparrow-int8' });
      const y = (await s.run({ x: held })).y!.data as Float32Array;
      let d = 0;
      for (let i = 0; i < y.length; i++) d += (y[i]! - want[i]!) ** 2;
      return d;
    };
    const base: CompressOptions = { prune: 'obs', sparsity: 0.7, calib, wasm };
    const plain = await compressGraph(g, base);
    const tuned = await compressGraph(g, { ...base, finetune: { ...ft, epochs: 10 } });
    const [dp, dt] = [await dist(plain.bytes), await dist(tuned.bytes)];
    expect(Number.isFinite(dt)).toBe(true);
    expect(dt).toBeLessThan(dp);
  });
});

describe('--finetune with a size target', () => {
  it('obs 0.5 + --target-size: the masks stay fixed, the file fits', async () => {
    const g = smallNet(31);
    const base: CompressOptions = { prune: 'obs', sparsity: 0.5, calib, wasm };
    const free = await compressGraph(g, { ...base, finetune: ft });
    const target = Math.round(0.9 * free.bytes.length);
    const r = await compressGraph(g, { ...base, finetune: ft, targetBytes: target });
    expect(r.bytes.length).toBeLessThanOrEqual(target);
    // the same fine-tuned float graph (same masks, same training) as without the target
    for (const node of MIDDLE) expect(zerosOf(r.graph, node)).toEqual(zerosOf(free.graph, node));
    for (const node of MIDDLE) {
      const want = zerosOf(r.graph, node),
        q = fileQ(r.bytes, r.graph, node);
      for (let i = 0; i < q.length; i++) if (want[i]) expect(q[i]).toBe(0);
    }
  });
});

describe('--finetune options', () => {
  it('accepted with every pruning method given calibration images, refused without', () => {
    for (const prune of ['magnitude', 'hessian', 'obs', 'channels'] as const) {
      expect(() => resolveCompressOptions({ prune, calib: { batches: [], spec: 't' }, finetune: { epochs: 2 } })).not.toThrow();
      expect(() => resolveCompressOptions({ prune, finetune: { epochs: 2 } })).toThrow(/--finetune needs calibration images/);
    }
    expect(() =>
      resolveCompressOptions({ prune: 'obs', calib: { batches: [], spec: 't' }, finetune: { epochs: 2 }, targetBytes: 5000 }),
    ).not.toThrow();
  });
});
