// A QDQ ResNet-20 (scripts/make-qdq.mjs, onnxruntime's static quantizer) on CIFAR-10 from
// ../shared/data (or $SPARROW_DATA): calibrated on 32 records (1000..1031), the first 200 records
// classified by onnxruntime, by Sparrow's reference engine (the same top-1) and by sparrow-int8 on
// the model's own int8 parameters. The QDQ maker and QDQ in sparrow-int8 on small models:
// test/qdq.test.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/ops/types.js';
import { createOrtEngine, type InferenceEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import '../src/ops/ref/index.js';
// @ts-expect-error: plain ESM scripts without declarations
import { cifar10Feeds, makeQdq } from '../scripts/make-qdq.mjs';
import { dataPath, haveData } from './helpers/data.js';

interface QdqResult {
  bytes: Uint8Array;
}
type Feed = Record<string, { dims: number[]; data: Float32Array }>;

async function run(engine: InferenceEngine | Session, x: Tensor): Promise<Float32Array> {
  const out = await engine.run({ [engine.inputNames[0]!]: x });
  return out[engine.outputNames[0]!]!.data as Float32Array;
}

const RESNET = dataPath('models', 'resnet20-cifar10.onnx'),
  CIFAR = dataPath('cifar10', 'test_q75.bin');
const HAVE = haveData('the QDQ ResNet-20 check', 'models/resnet20-cifar10.onnx', 'cifar10/test_q75.bin');

describe.runIf(HAVE)('QDQ ResNet-20 (CIFAR-10): onnxruntime-node and Sparrow reference', () => {
  it('calibrated on records 1000..1031, the same top-1 on records 0..199', { timeout: 600_000 }, async () => {
    const mean = [0.485, 0.456, 0.406],
      std = [0.229, 0.224, 0.225];
    const cifar = new Uint8Array(readFileSync(CIFAR));
    const floatBytes = new Uint8Array(readFileSync(RESNET));
    const { bytes } = (await makeQdq(floatBytes, cifar10Feeds(cifar, 'input', 1000, 32, mean, std))) as QdqResult;
    const N = 200,
      B = 25;
    const batch = (from: number): Tensor => {
      const feeds = cifar10Feeds(cifar, 'input', from, B, mean, std) as Feed[];
      const data = new Float32Array(B * 3072);
      feeds.forEach((f, i) => data.set(f.input!.data, i * 3072));
      return { dtype: 'float32', dims: [B, 3, 32, 32], data };
    };
    const top1 = async (e: InferenceEngine | Session): Promise<number[]> => {
      const preds: number[] = [];
      for (let from = 0; from < N; from += B) {
        const y = await run(e, batch(from));
        for (let i = 0; i < B; i++) {
          let best = 0;
          for (let j = 1; j < 10; j++) if (y[i * 10 + j]! > y[i * 10 + best]!) best = j;
          preds.push(best);
        }
      }
      return preds;
    };
    const labels = Array.from({ length: N }, (_, i) => cifar[i * 3073]!);
    const acc = (p: number[]) => p.filter((v, i) => v === labels[i]).length / N;
    const ort = await createOrtEngine('ort-node', bytes);
    const ortFloat = await createOrtEngine('ort-node', floatBytes);
    const pOrt = await top1(ort),
      pFloat = await top1(ortFloat);
    const pRef = await top1(await Session.fromOnnx(bytes, { engine: 'reference' }));
    const int8 = await Session.fromOnnx(bytes, { engine: 'sparrow-int8' });
    expect(int8.report!.int8!.mode).toBe('static');
    expect(int8.report!.int8!.layers.length).toBe(20);
    const pInt8 = await top1(int8);
    const agreeInt8 = pInt8.filter((v, i) => v === pOrt[i]).length;
    console.log(`QDQ ResNet-20 in sparrow-int8: ${(acc(pInt8) * 100).toFixed(1)}%, same top-1 as onnxruntime ${agreeInt8}/${N}`);
    expect(agreeInt8).toBeGreaterThanOrEqual(N - 4);
    expect(Math.abs(acc(pInt8) - acc(pOrt))).toBeLessThanOrEqual(0.015);
    const agree = pRef.filter((v, i) => v === pOrt[i]).length;
    console.log(
      `QDQ ResNet-20, CIFAR-10 records 0..${N - 1}: onnxruntime ${(acc(pOrt) * 100).toFixed(1)}%, Sparrow reference ` +
        `${(acc(pRef) * 100).toFixed(1)}%, same top-1 ${agree}/${N}; float model (onnxruntime) ${(acc(pFloat) * 100).toFixed(1)}%`,
    );
    expect(agree).toBe(N);
    expect(Math.abs(acc(pOrt) - acc(pFloat))).toBeLessThanOrEqual(0.03);
    await ort.dispose();
    await ortFloat.dispose();
  });
});
