// Seeded random float32 tensors for the compress tests (fine-tuning, pruning): values uniform in
// [−scale/2, scale/2) from src/util/rng's mulberry32.
import type { Tensor } from '../../src/ops/types.js';
import { mulberry32 } from '../../src/util/rng.js';

/** uniform in [-0.5, 0.5) */
export function centeredRng(seed: number): () => number {
  const u = mulberry32(seed);
  return () => u() - 0.5;
}

/** A float32 tensor of `dims` drawn from r, times scale. */
export function randTensor(r: () => number, dims: number[], scale = 1): Tensor {
  return { dtype: 'float32', dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => scale * r()) };
}
