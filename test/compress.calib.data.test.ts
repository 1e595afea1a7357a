// Hessian pruning (src/compress/obs.ts on the statistics of src/compress/calib.ts) on the real
// models, with real data (../shared/data or $SPARROW_DATA). Measured numbers are printed.
//   mnist-8, 256 calibration digits (test set 0..255): per-layer reconstruction error
//   OBS < magnitude at 70%; end to end, all three layers at 70%, top-1 on records 1000..1999
//   (sparrow-f32 engine) OBS >= magnitude. ResNet-20, 64 CIFAR calibration records (0..63,
//   <= 256 positions per image, to keep the suite fast): per-layer OBS < magnitude at 70%
//   for every conv and the Gemm; end to end, every conv + Gemm at 70%, top-1 on records
//   1000..1999, OBS >= magnitude.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import '../src/ops/ref/index.js';
import { loadWasmNode } from '../src/wasm/node.js';
import { wasmCalibAccel } from '../src/compress/accel.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { cloneGraph, type Graph } from '../src/ir/graph.js';
import { Session } from '../src/runtime/session.js';
import { loadDataset } from '../src/io/datasets_node.js';
import { argmaxRow, imageBatch, type ImageSet, type Preprocess } from '../src/io/datasets.js';
import { collectLayerInputs, weightFromRowsK, weightRowsK, type LayerInputs } from '../src/compress/calib.js';
import { hessianPrune, obdPrune, reconstructionError } from '../src/compress/obs.js';
import { magnitudePrune } from '../src/compress/prune.js';
import { dataPath, haveData } from './helpers/data.js';

const HAVE_MNIST = haveData('Hessian pruning on mnist-8', 'models/mnist-8.onnx', 'mnist/t10k-images-idx3-ubyte.gz');
const HAVE_CIFAR = haveData('Hessian pruning on ResNet-20', 'models/resnet20-cifar10.onnx', 'cifar10/test_q75.bin');

/** A copy of `g` with every layer's weight replaced by prune(W (rows, K), layer). */
function prunedGraph(g: Graph, stats: Map<string, LayerInputs>, prune: (W: Float32Array, li: LayerInputs) => Float32Array): Graph {
  const c = cloneGraph(g);
  for (const li of stats.values()) {
    const v = c.values.get(li.weight)!;
    c.values.set(li.weight, { ...v, const: weightFromRowsK(li, prune(weightRowsK(g, li), li)) });
  }
  return c;
}

async function top1(g: Graph, set: ImageSet, from: number, count: number, pre: Preprocess, batch: number): Promise<number> {
  const s = Session.fromGraph(g, { engine: 'sparrow-f32' });
  let ok = 0;
  for (let i = 0; i < count; i += batch) {
    const b = Math.min(batch, count - i);
    const y = (await s.run({ [g.inputs[0]!]: imageBatch(set, from + i, b, pre) }))[g.outputs[0]!]!;
    for (let r = 0; r < b; r++) if (argmaxRow(y, r) === set.labels[from + i + r]) ok++;
  }
  return ok / count;
}

/** Per layer relative errors ‖ΔW X‖² / ‖W X‖² of magnitude / OBD / OBS at `s`, and OBS time. */
function layerTable(
  g: Graph,
  stats: Map<string, LayerInputs>,
  s: number,
): Array<{ node: string; K: number; mag: number; obd: number; obs: number; ms: number }> {
  const rows = [];
  for (const li of stats.values()) {
    const W = weightRowsK(g, li);
    const base = reconstructionError(W, new Float32Array(W.length), li.H);
    const t = performance.now();
    const o = hessianPrune(W, li, s, 'obs');
    const ms = performance.now() - t;
    rows.push({
      node: li.node,
      K: li.K,
      ms,
      mag: reconstructionError(W, magnitudePrune(W, s), li.H) / base,
      obd: reconstructionError(W, obdPrune(W, li.H, s), li.H) / base,
      obs: reconstructionError(W, o, li.H) / base,
    });
  }
  return rows;
}

const fmtTable = (t: ReturnType<typeof layerTable>): string =>
  t
    .map(
      (r) =>
        `  ${r.node.padEnd(30)} K=${String(r.K).padStart(3)}  magnitude ${r.mag.toExponential(2)}  obd ${r.obd.toExponential(2)}  obs ${r.obs.toExponential(2)}  (obs ${r.ms.toFixed(0)} ms)`,
    )
    .join('\n');

describe.runIf(HAVE_MNIST)('mnist-8: OBS vs magnitude', () => {
  it('per-layer reconstruction error at 70% and top-1 on records 1000..1999 with all layers at 70%', async () => {
    const g = importOnnx(new Uint8Array(readFileSync(dataPath('models', 'mnist-8.onnx'))));
    optimize(g);
    const set = loadDataset('mnist', dataPath('mnist'));
    const t0 = performance.now();
    const stats = collectLayerInputs(
      g,
      Array.from({ length: 256 }, (_, i) => imageBatch(set, i, 1)),
    );
    const calibMs = performance.now() - t0;
    expect([...stats.keys()]).toEqual(['Convolution28', 'Convolution110', 'Times212']);
    expect([...stats.values()].map((l) => l.K)).toEqual([25, 200, 256]);
    const table = layerTable(g, stats, 0.7);
    console.log(`mnist-8, 256 calibration digits (${calibMs.toFixed(0)} ms), relative layer error at 70%:\n${fmtTable(table)}`);
    for (const r of table) expect(r.obs, r.node).toBeLessThan(r.mag);
    const dense = await top1(g, set, 1000, 1000, {}, 1);
    const mag = await top1(
      prunedGraph(g, stats, (W) => magnitudePrune(W, 0.7)),
      set,
      1000,
      1000,
      {},
      1,
    );
    const obs = await top1(
      prunedGraph(g, stats, (W, li) => hessianPrune(W, li, 0.7, 'obs')),
      set,
      1000,
      1000,
      {},
      1,
    );
    console.log(
      `mnist-8 top-1 on MNIST test records 1000..1999: dense ${(100 * dense).toFixed(1)}%, 70% magnitude ${(100 * mag).toFixed(1)}%, 70% OBS ${(100 * obs).toFixed(1)}%`,
    );
    expect(dense).toBeGreaterThan(0.97);
    expect(obs).toBeGreaterThanOrEqual(mag);
  });
});

describe.runIf(HAVE_CIFAR)('ResNet-20: OBS vs magnitude', () => {
  it('per-layer reconstruction error at 70% (every conv + Gemm) and top-1 on records 1000..1999 with every layer at 70%', async () => {
    const g = importOnnx(new Uint8Array(readFileSync(dataPath('models', 'resnet20-cifar10.onnx'))));
    optimize(g);
    const set = loadDataset('cifar10', dataPath('cifar10', 'test_q75.bin'));
    const pre: Preprocess = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
    const t0 = performance.now();
    const accel = wasmCalibAccel(await loadWasmNode());
    const stats = collectLayerInputs(g, [imageBatch(set, 0, 32, pre), imageBatch(set, 32, 32, pre)], undefined, {
      maxPositionsPerImage: 256,
      accel,
    });
    const calibMs = performance.now() - t0;
    expect(stats.size).toBe(20);
    const table = layerTable(g, stats, 0.7);
    console.log(
      `ResNet-20, 64 calibration records, <= 256 positions/image (${calibMs.toFixed(0)} ms), relative layer error at 70%:\n${fmtTable(table)}`,
    );
    for (const r of table) expect(r.obs, r.node).toBeLessThan(r.mag);
    const dense = await top1(g, set, 1000, 1000, pre, 50);
    const mag = await top1(
      prunedGraph(g, stats, (W) => magnitudePrune(W, 0.7)),
      set,
      1000,
      1000,
      pre,
      50,
    );
    const obs = await top1(
      prunedGraph(g, stats, (W, li) => hessianPrune(W, li, 0.7, 'obs')),
      set,
      1000,
      1000,
      pre,
      50,
    );
    console.log(
      `ResNet-20 top-1 on CIFAR-10 (q75) records 1000..1999: dense ${(100 * dense).toFixed(1)}%, 70% magnitude ${(100 * mag).toFixed(1)}%, 70% OBS ${(100 * obs).toFixed(1)}%`,
    );
    expect(dense).toBeGreaterThan(0.75);
    expect(obs).toBeGreaterThanOrEqual(mag);
  }, 180_000);
});
