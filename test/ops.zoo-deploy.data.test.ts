// The deployed-model zoo entries that need Resize and ConvTranspose, against onnxruntime-node on
// seeded random inputs (data tier: $SPARROW_DATA or ../shared/data, test/helpers/data.ts):
//  - LR-ASPP MobileNetV3-Large (bilinear Resize to a size computed from the input's Shape) at
//    256x256 and 320x480: the same model bytes, no fixed input shape;
//  - the ConvTranspose encoder-decoder.
// Reference engine and sparrow-f32 (which runs Resize / ConvTranspose through the reference
// kernels until they have WASM kernels): every output element within 1e-4 relative of ORT
// (|d| <= 1e-4 |ort| + 1e-5 max|ort|).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/ops/types.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Session, type EngineName } from '../src/runtime/session.js';
import '../src/ops/ref/index.js';
import { lcg } from './helpers/tensors.js';
import { dataPath, haveData } from './helpers/data.js';

const LRASPP = dataPath('models', 'zoo', 'lraspp_mobilenet_v3_large-random.onnx');
const CTED = dataPath('models', 'zoo', 'convtranspose-ed-random.onnx');
const HAVE_LRASPP = haveData('LR-ASPP MobileNetV3 vs onnxruntime-node', 'models/zoo/lraspp_mobilenet_v3_large-random.onnx');
const HAVE_CTED = haveData('the ConvTranspose encoder-decoder vs onnxruntime-node', 'models/zoo/convtranspose-ed-random.onnx');

function input(dims: number[], seed: number): Tensor {
  const r = lcg(seed);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1) };
}

/** Largest |d| / max|want| and the first element outside |d| <= 1e-4 |want| + 1e-5 max|want| (or null). */
function compare(got: Tensor, want: Tensor): { rel: number; bad: string | null } {
  expect(got.dims).toEqual(want.dims);
  const a = got.data as Float32Array,
    b = want.data as Float32Array;
  let maxB = 0,
    maxD = 0;
  for (let i = 0; i < b.length; i++) maxB = Math.max(maxB, Math.abs(b[i]!));
  let bad: string | null = null;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    maxD = Math.max(maxD, d);
    if (!(d <= 1e-4 * Math.abs(b[i]!) + 1e-5 * maxB) && bad === null) bad = `element ${i}: ${a[i]} vs ${b[i]}`;
  }
  return { rel: maxD / maxB, bad };
}

async function check(file: string, dims: number[], engine: EngineName): Promise<void> {
  const bytes = new Uint8Array(readFileSync(file));
  const feeds = {
    input: input(
      dims,
      dims.reduce((a, b) => a + b, 0),
    ),
  };
  const ses = await Session.fromOnnx(bytes, { engine });
  const got = await ses.run(feeds);
  const ort = await createOrtEngine('ort-node', bytes);
  try {
    const want = await ort.run(feeds);
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const name of Object.keys(want)) {
      const { rel, bad } = compare(got[name]!, want[name]!);
      console.info(
        `${file.split('/').pop()} ${engine} [${dims}] -> ${name} [${want[name]!.dims}]: max|d| / max|ort| = ${rel.toExponential(2)}`,
      );
      expect(bad, `${name}`).toBeNull();
    }
  } finally {
    await ort.dispose();
  }
}

describe.runIf(HAVE_LRASPP)('LR-ASPP MobileNetV3-Large (bilinear Resize) vs onnxruntime-node', () => {
  it('reference, 256x256', () => check(LRASPP, [1, 3, 256, 256], 'reference'), 120_000);
  it('reference, 320x480', () => check(LRASPP, [1, 3, 320, 480], 'reference'), 120_000);
  it('sparrow-f32, 320x480', () => check(LRASPP, [1, 3, 320, 480], 'sparrow-f32'), 120_000);
});

describe.runIf(HAVE_CTED)('ConvTranspose encoder-decoder vs onnxruntime-node', () => {
  it('reference, 2x3x64x48', () => check(CTED, [2, 3, 64, 48], 'reference'), 120_000);
  it('sparrow-f32, 1x3x96x96', () => check(CTED, [1, 3, 96, 96], 'sparrow-f32'), 120_000);
});
