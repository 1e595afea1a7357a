// Every vision and audio model of the zoo (data tier: models/zoo/*.onnx through
// test/helpers/data.ts; every file found there except bert-tiny, the transformer of issue 14, so
// a model added to the folder is checked too), through src/bench/compare.ts against
// onnxruntime-node on seeded random inputs (float inputs uniform [-1, 1)):
//   (a) sparrow-f32: every element of every output within 1e-4 relative of ORT
//       (|d| <= 1e-4·|ort| + 1e-5·max|ort|);
//   (b) sparrow-int8 on the ONNX (dynamic activation quantization): the argmax over the class axis
//       (axis 1: per row of [N, C], per pixel of LR-ASPP's [N, C, H, W]) equals ORT's on at least
//       95 % of the argmaxes of 100 inputs. An output without a class axis (compare.ts
//       classAxisOf: rank < 2, C < 2, or rank >= 3 with the channels of a float input: an image-to-image output
//       such as the ConvTranspose autoencoder's) is compared by relative error instead:
//       max|d| / max|ort| <= 1e-2 on every input.
// Inputs: the shapes below for the models we know (LR-ASPP at 256x256 and at 320x480, the same
// bytes); a model not listed gets compare.ts's defaults (symbolic batch 1, other symbolic dims 32).
// Runtime: 100 samples for both engines everywhere except LR-ASPP at 320x480, where the float
// check takes 10 samples (each is a 320x480 segmentation in three engines; ORT is the oracle, not
// the slower reference engine) and the int8 argmax check keeps the 100.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { runCompare, type CompareReport } from '../src/bench/compare.js';
import { importOnnx } from '../src/onnx/import.js';
import { openEngine } from '../src/runtime/ort.js';
import type { EngineName } from '../src/runtime/session.js';
import { dataPath, haveData } from './helpers/data.js';

const ZOO = dataPath('models', 'zoo');
const HAVE = haveData('zoo agreement (sparrow-f32 and sparrow-int8 vs onnxruntime-node)', 'models/zoo/mobilenet_v3_small-random.onnx');

const SAMPLES = 100;
/** the bar of (b) */
const ARGMAX_BAR = 0.95;
/** int8, outputs without a class axis: max|d| / max|ort| */
const INT8_REL_BAR = 1e-2;

/** Input shapes per model (first input), several for models with free spatial dims; fewer float samples where slow. */
const CASES: Record<string, Array<{ shape?: number[]; floatSamples?: number }>> = {
  'lraspp_mobilenet_v3_large-random.onnx': [{ shape: [1, 3, 256, 256] }, { shape: [1, 3, 320, 480], floatSamples: 10 }],
  'kws-lstm-gru-random.onnx': [{ shape: [1, 49, 40] }],
  'convtranspose-ed-random.onnx': [{ shape: [1, 3, 64, 64] }],
  'efficientnet_b0-random.onnx': [{ shape: [1, 3, 224, 224] }],
  'mobilenet_v3_small-random.onnx': [{ shape: [1, 3, 224, 224] }],
};

const files = HAVE
  ? readdirSync(ZOO)
      .filter((f) => f.endsWith('.onnx') && !f.startsWith('bert-tiny'))
      .sort()
  : [];

async function compare(file: string, engines: EngineName[], samples: number, shape?: number[]): Promise<CompareReport> {
  const bytes = new Uint8Array(readFileSync(`${ZOO}/${file}`));
  const graph = importOnnx(bytes);
  return runCompare({
    model: file,
    graph,
    engines,
    against: 'ort-node',
    open: (n) => openEngine(n, n as EngineName | 'ort-node', bytes),
    samples,
    seed: 2026,
    ...(shape ? { shapes: { [graph.inputs[0]!]: shape } } : {}),
  });
}

function line(r: CompareReport, engine: string): string {
  return Object.entries(r.engines[engine]!.outputs)
    .map(
      ([n, o]) =>
        `${r.model} [${Object.values(r.inputs)[0]!.dims}] ${engine} ${n} [${o.dims}]: maxRel ${o.maxRel?.toExponential(2)}, ` +
        `worstExcess ${o.worstExcess?.toExponential(2)}, argmax ${o.argmaxAgreement === null ? 'n/a' : `${(100 * o.argmaxAgreement).toFixed(2)}% of ${o.argmaxCount}`}` +
        ` (${r.samples} samples)`,
    )
    .join('\n');
}

describe.runIf(HAVE)('zoo: sparrow-f32 within 1e-4 of onnxruntime-node, sparrow-int8 argmax agreement >= 95 %', () => {
  it('finds the zoo models', () => {
    expect(files).toEqual(expect.arrayContaining(Object.keys(CASES)));
  });

  for (const file of files) {
    for (const c of CASES[file] ?? [{}]) {
      const label = `${file}${c.shape ? ` [${c.shape}]` : ''}`;
      const floatSamples = c.floatSamples ?? SAMPLES;

      it(`${label}: sparrow-f32 within 1e-4 (${floatSamples} samples)`, async () => {
        const r = await compare(file, ['sparrow-f32'], floatSamples, c.shape);
        console.info(line(r, 'sparrow-f32'));
        for (const [name, o] of Object.entries(r.engines['sparrow-f32']!.outputs)) {
          expect(o.mismatch, name).toBeUndefined();
          expect(o.within1e4, `${name}: worst element ${JSON.stringify(o.worst)}`).toBe(true);
        }
      }, 900_000);

      it(`${label}: sparrow-int8 argmax (${SAMPLES} samples)`, async () => {
        const r = await compare(file, ['sparrow-int8'], SAMPLES, c.shape);
        console.info(line(r, 'sparrow-int8'));
        for (const [name, o] of Object.entries(r.engines['sparrow-int8']!.outputs)) {
          expect(o.mismatch, name).toBeUndefined();
          if (o.classAxis === null) expect(o.maxRel!, `${name}: no class axis, relative error`).toBeLessThanOrEqual(INT8_REL_BAR);
          else expect(o.argmaxAgreement!, `${name}: argmax agreement`).toBeGreaterThanOrEqual(ARGMAX_BAR);
        }
      }, 900_000);
    }
  }
});
