// A float16 export of a real model (data tier): ResNet-20 / CIFAR-10 rewritten as float16 by
// src/onnx/float16_export.ts (float16 initializers, input and output; `node scripts/to-float16.mjs`
// does the same from the command line) runs in the three engines on CIFAR-10 test records fed as
// float16 (200; the reference engine 100), with top-1 agreement ≥ 99 % with the float32 model in
// the same engine (onnxruntime-node's float16 run reported beside it).
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataDir } from '../src/bench/data.js';
import { loadDataset } from '../src/io/datasets_node.js';
import { argmaxRow, imageBatch } from '../src/io/datasets.js';
import { toFloat16ModelBytes } from '../src/onnx/float16_export.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Session, type EngineName } from '../src/runtime/session.js';
import { castTensor } from '../src/ops/ref/cast.js';
import type { Tensor } from '../src/ops/types.js';
import '../src/ops/ref/index.js';

const MODEL = join(dataDir(), 'models', 'resnet20-cifar10.onnx');
const CIFAR = join(dataDir(), 'cifar10', 'test_q75.bin');
const HAVE = existsSync(MODEL) && existsSync(CIFAR);
if (!HAVE) console.warn(`!!! ${MODEL} or ${CIFAR} is absent: the float16 ResNet-20 test is SKIPPED !!!`);

const N = 200;
const PRE = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

const top1 = (y: Tensor): number[] => {
  const v = y.dtype === 'float32' ? y : castTensor(y, 'float32');
  return Array.from({ length: v.dims[0]! }, (_, i) => argmaxRow(v, i));
};
const agreement = (a: number[], b: number[]): number => a.filter((x, i) => x === b[i]).length / a.length;

describe.runIf(HAVE)('ResNet-20 exported as float16', () => {
  it(`top-1 agrees with the float32 model on ≥ 99 % of ${N} CIFAR-10 test records (reference: 100), in every engine`, async () => {
    const f32Bytes = new Uint8Array(readFileSync(MODEL));
    const f16Bytes = toFloat16ModelBytes(f32Bytes);
    expect(f16Bytes.length).toBeLessThan(0.55 * f32Bytes.length); // 2-byte weights
    const set = loadDataset('cifar10', CIFAR);
    const x = imageBatch(set, 0, N, PRE);
    const x16 = castTensor(x, 'float16');

    const labels = Array.from(set.labels.subarray(0, N));
    const ort = await createOrtEngine('ort-node', f16Bytes);
    const ortTop1 = top1((await ort.run({ input: x16 }))['logits']!);
    await ort.dispose();
    const report: string[] = [`onnxruntime float16: accuracy ${agreement(ortTop1, labels)}`];
    // the plain-TS reference engine on the first 100 records only (it is slow); sparrow-int8's
    // float32 run is its own (int8 weights and activations move a few top-1s by themselves)
    for (const [engine, n] of [
      ['sparrow-f32', N],
      ['sparrow-int8', N],
      ['reference', 100],
    ] as Array<[EngineName, number]>) {
      const base = top1((await (await Session.fromOnnx(f32Bytes, { engine })).run({ input: imageBatch(set, 0, n, PRE) }))['logits']!);
      const s = await Session.fromOnnx(f16Bytes, { engine });
      expect(s.inputInfo['input']!.dtype).toBe('float16');
      expect(s.outputInfo['logits']!.dtype).toBe('float16');
      const y = (await s.run({ input: n === N ? x16 : castTensor(imageBatch(set, 0, n, PRE), 'float16') }))['logits']!;
      expect(y.dtype).toBe('float16');
      expect(y.dims).toEqual([n, 10]);
      const t = top1(y);
      report.push(
        `${engine} (${n} records): float16 vs float32 model ${agreement(t, base)}, vs onnxruntime float16 ${agreement(t, ortTop1.slice(0, n))}, accuracy ${agreement(t, labels.slice(0, n))} (float32: ${agreement(base, labels.slice(0, n))})`,
      );
      expect(agreement(t, base), engine).toBeGreaterThanOrEqual(0.99);
    }
    console.log(report.join('\n'));
  }, 600_000);
});
