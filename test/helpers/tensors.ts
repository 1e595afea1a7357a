// Seeded test tensors: lcg, uniform float32 tensors, and named int8 tensors covering the edge
// cases every codec and decoder must handle (length 0, 1, odd; all zeros; one symbol; all 256
// symbols; skewed; flat; long runs).
import type { Tensor } from '../../src/ops/types.js';

export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
}

/** A float32 tensor of `dims` with values uniform in [lo, hi) from lcg(seed). */
export function uniformTensor(dims: number[], seed: number, lo = -1, hi = 1): Tensor {
  const r = lcg(seed);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * r()) };
}

export function sampleTensors(): Array<[string, Int8Array]> {
  const rnd = lcg(12345);
  const out: Array<[string, Int8Array]> = [];
  out.push(['empty', new Int8Array(0)]);
  out.push(['one zero', new Int8Array(1)]);
  out.push(['one value', Int8Array.from([-128])]);
  out.push(['odd length 7', Int8Array.from([1, 0, -1, 5, 0, 0, 127])]);
  out.push(['all zeros 4096', new Int8Array(4096)]);
  out.push(['one symbol 3000', new Int8Array(3000).fill(42)]);
  out.push(['two symbols', Int8Array.from({ length: 1001 }, (_, i) => (i % 3 === 0 ? -128 : 127))]);
  out.push(['all 256 symbols', Int8Array.from({ length: 256 * 5 + 3 }, (_, i) => (i * 7) & 0xff)]);
  out.push(['flat random 10007', Int8Array.from({ length: 10007 }, () => Math.floor(rnd() * 256) - 128)]);
  out.push(['skewed (p0=0.97)', Int8Array.from({ length: 20000 }, () => (rnd() < 0.97 ? 0 : Math.floor(rnd() * 256) - 128))]);
  out.push(['geometric', Int8Array.from({ length: 9999 }, () => Math.min(127, Math.floor(-Math.log(rnd()) * 3)))]);
  out.push(['runs over 255', Int8Array.from({ length: 5000 }, (_, i) => (i % 700 === 699 ? 3 : 0))]);
  out.push(['run of exactly 255', Int8Array.from({ length: 512 }, (_, i) => (i === 255 || i === 511 ? -7 : 0))]);
  out.push(['run of 510 then value', Int8Array.from({ length: 511 }, (_, i) => (i === 510 ? 9 : 0))]);
  out.push(['trailing zeros', Int8Array.from({ length: 1500 }, (_, i) => (i < 100 ? (i % 5) - 2 : 0))]);
  out.push(['leading zeros', Int8Array.from({ length: 1500 }, (_, i) => (i > 1400 ? (i % 5) - 2 || 1 : 0))]);
  out.push(['dense 50% ±small', Int8Array.from({ length: 4097 }, () => (rnd() < 0.5 ? 0 : Math.round((rnd() - 0.5) * 20) || 1))]);
  out.push(['fibonacci-skewed (length limit binds)', fibonacciTensor()]);
  return out;
}

/** Symbol frequencies growing like Fibonacci: unlimited Huffman would need > 11 bits. */
function fibonacciTensor(): Int8Array {
  const f = [1, 1];
  while (f.length < 20) f.push(f[f.length - 1]! + f[f.length - 2]!);
  const vals: number[] = [];
  f.forEach((c, s) => {
    for (let i = 0; i < c; i++) vals.push(s - 10);
  });
  const rnd = lcg(7);
  for (let i = vals.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [vals[i], vals[j]] = [vals[j]!, vals[i]!];
  }
  return Int8Array.from(vals);
}

/** n pseudo-random CIFAR-shaped images [n, 3, 32, 32], float32 values in [−2, 2) (lcg(seed)). */
export function cifarImages(n: number, seed: number): { dtype: 'float32'; dims: number[]; data: Float32Array } {
  const r = lcg(seed);
  return { dtype: 'float32', dims: [n, 3, 32, 32], data: Float32Array.from({ length: n * 3072 }, () => (r() - 0.5) * 4) };
}
