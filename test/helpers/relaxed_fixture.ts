// The relaxed-SIMD checks' shared inputs: ResNet-20 with 7-bit weights
// (test/fixtures/int8/resnet20.static7.sparrow) on 3 deterministic pseudo-random images, and the
// Float32 bit patterns Node's plain build gives for them (resnet20.static7.expected.json, kept
// current by test/engine.int8-relaxed.test.ts). workerd and Chromium compare both of their
// builds with these bits: relaxed = plain = Node.
import { lcg } from './tensors.js';

export const RELAXED_BATCH = 3;

/** [3, 3, 32, 32] float32 images, values in [−2, 2). */
export function relaxedImages(): Float32Array {
  const r = lcg(1717);
  return Float32Array.from({ length: RELAXED_BATCH * 3 * 32 * 32 }, () => (r() - 0.5) * 4);
}

/** The Int32 view of float32 outputs, as a plain array. */
export function outputBits(x: Float32Array): number[] {
  return Array.from(new Int32Array(x.buffer, x.byteOffset, x.length));
}

/** The depthwise fixture's input (test/fixtures/int8/depthwise.static.sparrow): [2, 8, 24, 24] in [−2, 2). */
export const DEPTHWISE_DIMS = [2, 8, 24, 24];

export function depthwiseImages(): Float32Array {
  const r = lcg(2424);
  return Float32Array.from({ length: 2 * 8 * 24 * 24 }, () => (r() - 0.5) * 4);
}
