// The zoo models that need ConvTranspose and Resize (data tier: $SPARROW_DATA or ../shared/data,
// skipped loudly when absent) on sparrow-f32 with those ops on their WASM kernels: no fallback
// (session.report.fallbackOps), every output element within 1e-4 relative of onnxruntime-node
// (|d| <= 1e-4 |ort| + 1e-5 max|ort|) on seeded random inputs:
//  - the ConvTranspose encoder-decoder at 224x224 (its two k4 s2 p1 decoder layers);
//  - LR-ASPP MobileNetV3-Large at 256x256 and 320x480 (two bilinear Resizes to sizes computed
//    from the input's Shape: the same model bytes, one plan per input shape).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/ops/types.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import '../src/ops/ref/index.js';
import { lcg } from './helpers/tensors.js';
import { dataPath, haveData } from './helpers/data.js';

const LRASPP = dataPath('models', 'zoo', 'lraspp_mobilenet_v3_large-random.onnx');
const CTED = dataPath('models', 'zoo', 'convtranspose-ed-random.onnx');
const HAVE_LRASPP = haveData('LR-ASPP on sparrow-f32 (WASM Resize)', 'models/zoo/lraspp_mobilenet_v3_large-random.onnx');
const HAVE_CTED = haveData('the ConvTranspose encoder-decoder on sparrow-f32 (WASM)', 'models/zoo/convtranspose-ed-random.onnx');

function input(dims: number[], seed: number): Tensor {
  const r = lcg(seed);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1) };
}

async function check(file: string, dims: number[], ops: string[]): Promise<void> {
  const bytes = new Uint8Array(readFileSync(file));
  const feeds = {
    input: input(
      dims,
      dims.reduce((a, b) => a * b, 7),
    ),
  };
  const ses = await Session.fromOnnx(bytes, { engine: 'sparrow-f32' });
  const got = await ses.run(feeds);
  expect(ses.report!.fallbackOps).toEqual([]);
  const ort = await createOrtEngine('ort-node', bytes);
  try {
    const want = await ort.run(feeds);
    for (const [name, w] of Object.entries(want)) {
      const a = got[name]!.data as Float32Array,
        b = w.data as Float32Array;
      expect(got[name]!.dims).toEqual(w.dims);
      let maxB = 0;
      for (const v of b) maxB = Math.max(maxB, Math.abs(v));
      let bad: string | null = null;
      for (let i = 0; i < b.length && bad === null; i++)
        if (!(Math.abs(a[i]! - b[i]!) <= 1e-4 * Math.abs(b[i]!) + 1e-5 * maxB)) bad = `element ${i}: ${a[i]} vs ${b[i]}`;
      expect(bad, `${name} of ${file} at [${dims}]`).toBeNull();
    }
  } finally {
    await ort.dispose();
  }
  // the ops are steps of the plan (not folded away; fused with a following Relu/Clip or not): each
  // a WASM kernel, as fallbackOps is empty
  const steps = await ses.profile(feeds, 1);
  for (const op of ops) expect(steps.filter((s) => s.op === op || s.op === `sparrow.Fused${op}`).length, op).toBe(2);
}

describe('zoo models with ConvTranspose / Resize on sparrow-f32 (WASM) vs onnxruntime-node', () => {
  it.runIf(HAVE_CTED)('ConvTranspose encoder-decoder, 1x3x224x224', async () => {
    await check(CTED, [1, 3, 224, 224], ['ConvTranspose']);
  });
  it.runIf(HAVE_LRASPP)('LR-ASPP MobileNetV3-Large, 1x3x256x256 and 1x3x320x480', async () => {
    await check(LRASPP, [1, 3, 256, 256], ['Resize']);
    await check(LRASPP, [1, 3, 320, 480], ['Resize']);
  });
});
