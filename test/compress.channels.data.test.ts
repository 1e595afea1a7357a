// Channel pruning (src/compress/channels.ts) on ResNet-20 and real CIFAR-10 (../shared/data):
// 10 % of the inner channels of every basic block removed with calibration on records 0..31;
// the rewritten graph (smaller conv shapes) vs the original on records 1000..1199 (top-1 within
// 8 points: measured 81.0 % → 75.5 % there with these 32 calibration images; with 256 images,
// 82.3 % → 80.3 % on records 1000..1999), and the
// reference engine vs sparrow-f32 on the rewritten graph (logits equal to 1e-3 relative).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { imageBatch, argmaxRow } from '../src/io/datasets.js';
import { loadDataset } from '../src/io/datasets_node.js';
import { Session } from '../src/runtime/session.js';
import { pruneChannels } from '../src/compress/channels.js';
import type { Graph } from '../src/ir/graph.js';
import '../src/ops/ref/index.js';
import { dataPath, haveData } from './helpers/data.js';

const HAVE = haveData('channel pruning on ResNet-20', 'cifar10/test_q75.bin', 'models/resnet20-cifar10.onnx');
const pre = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

describe.runIf(HAVE)('pruneChannels on ResNet-20, CIFAR-10', () => {
  it('smaller convs, accuracy kept within 8 points, reference = sparrow-f32 on the rewritten graph', async () => {
    const g = importOnnx(readFileSync(dataPath('models/resnet20-cifar10.onnx')));
    optimize(g);
    const set = loadDataset('cifar10', dataPath('cifar10/test_q75.bin'));
    const calib = [imageBatch(set, 0, 32, pre)];
    const { graph, report } = pruneChannels(g, calib, 0.1);
    expect(report.layers.map((l) => [l.channels, l.kept])).toEqual([
      [16, 14],
      [16, 14],
      [16, 14],
      [32, 29],
      [32, 29],
      [32, 29],
      [64, 58],
      [64, 58],
      [64, 58],
    ]);
    const top1 = async (gr: Graph): Promise<number> => {
      const s = Session.fromGraph(gr, { engine: 'sparrow-f32' });
      let c = 0;
      for (let i = 1000; i < 1200; i += 100) {
        const y = (await s.run({ [gr.inputs[0]!]: imageBatch(set, i, 100, pre) }))[gr.outputs[0]!]!;
        for (let j = 0; j < 100; j++) if (argmaxRow(y, j) === set.labels[i + j]) c++;
      }
      return c / 200;
    };
    const before = await top1(g),
      after = await top1(graph);
    expect(after).toBeGreaterThanOrEqual(before - 0.08);
    const x = imageBatch(set, 2000, 4, pre);
    const a = (await Session.fromGraph(graph, { engine: 'reference' }).run({ [graph.inputs[0]!]: x }))[graph.outputs[0]!]!
      .data as Float32Array;
    const b = (await Session.fromGraph(graph, { engine: 'sparrow-f32' }).run({ [graph.inputs[0]!]: x }))[graph.outputs[0]!]!
      .data as Float32Array;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-3 * (1 + Math.abs(a[i]!)));
  }, 900_000);
});
