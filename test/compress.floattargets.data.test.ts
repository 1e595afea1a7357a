// Float targets (src/compress/calib.ts retargetWeights, compress option floatTargets) on real
// data: ResNet-20 (examples/models) compressed in process with --prune hessian at 70 %
// sparsity, calibrated on CIFAR-10 records 0..63, once with float targets and once without
// (everything else equal), both files run by sparrow-f32 on records 1000..1999. Each layer
// fitted to the float network's output must beat each layer fitted to its own weights on the
// degraded inputs by a clear margin (measured in the comment at the assertion); a broken fit
// (wrong cross sums, wrong solve) lands far below.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import '../src/ops/ref/index.js';
import { compressOnnx } from '../src/compress/compress.js';
import { loadWasmNode } from '../src/wasm/node.js';
import { Session } from '../src/runtime/session.js';
import { loadDataset } from '../src/io/datasets_node.js';
import { argmaxRow, imageBatch, type ImageSet, type Preprocess } from '../src/io/datasets.js';
import { dataPath, haveData } from './helpers/data.js';

const RESNET_ONNX = 'examples/models/resnet20-cifar10.onnx';
const HAVE_CIFAR = haveData('float targets on ResNet-20', 'cifar10/test_q75.bin');
const PRE: Preprocess = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

async function top1(bytes: Uint8Array, set: ImageSet, from: number, count: number): Promise<number> {
  const s = await Session.fromSparrow(bytes, { engine: 'sparrow-f32' });
  let ok = 0;
  for (let i = 0; i < count; i += 100) {
    const b = Math.min(100, count - i);
    const y = (await s.run({ [s.inputNames[0]!]: imageBatch(set, from + i, b, PRE) }))[s.outputNames[0]!]!;
    for (let r = 0; r < b; r++) if (argmaxRow(y, r) === set.labels[from + i + r]) ok++;
  }
  return ok / count;
}

describe.runIf(HAVE_CIFAR)('float targets on ResNet-20 (hessian, 70 %)', () => {
  it('beat fitting each layer to its own weights by ≥ 5 points on records 1000..1999', async () => {
    const set = loadDataset('cifar10', dataPath('cifar10', 'test_q75.bin'));
    const onnx = new Uint8Array(readFileSync(RESNET_ONNX));
    const wasm = await loadWasmNode();
    const calib = { batches: [imageBatch(set, 0, 32, PRE), imageBatch(set, 32, 32, PRE)], spec: 'cifar10:0..63' };
    const run = async (floatTargets: boolean): Promise<number> => {
      const r = await compressOnnx(onnx, { prune: 'hessian', sparsity: 0.7, calib, wasm, floatTargets });
      return top1(r.bytes, set, 1000, 1000);
    };
    const on = await run(true);
    const off = await run(false);
    console.info(`ResNet-20 hessian 70 %, 64 calibration records, top-1 on 1000..1999: float targets ${on}, without ${off}`);
    // measured: 77.2 % with float targets, 68.7 % without (load ~12, 350 s for both)
    expect(on - off).toBeGreaterThanOrEqual(0.05);
  }, 600_000);
});
