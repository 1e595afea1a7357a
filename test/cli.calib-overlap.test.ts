// `sparrow eval` on a .sparrow model: how many of the evaluated records were the model's own
// calibration records (calibOverlap; metadata.compression.calib = the first n records of its
// spec, which pruning, fine-tuning, GPTQ and the ranges all saw). The oracle is the interval
// arithmetic written out case by case; the CLI's warning and JSON field are checked on real
// data in test/compress.pipeline.data.test.ts.
import { describe, expect, it } from 'vitest';
import { calibOverlap } from '../src/cli/main.js';

const calib = { spec: 'cifar10:data/cifar10/test_q75.bin', n: 5000 };

describe('calibOverlap', () => {
  it('counts the evaluated records below calib.n', () => {
    expect(calibOverlap(calib, 'cifar10', '/data/cifar10/test_q75.bin', 0, 10000)).toBe(5000);
    expect(calibOverlap(calib, 'cifar10', '/data/cifar10/test_q75.bin', 1000, 9000)).toBe(4000);
    expect(calibOverlap(calib, 'cifar10', '/data/cifar10/test_q75.bin', 4990, 100)).toBe(10);
    expect(calibOverlap(calib, 'cifar10', 'test_q75.bin', 100, 50)).toBe(50);
  });
  it('is 0 for held-out records, another file or another dataset', () => {
    expect(calibOverlap(calib, 'cifar10', '/data/cifar10/test_q75.bin', 5000, 5000)).toBe(0);
    expect(calibOverlap(calib, 'cifar10', '/data/cifar10/other.bin', 0, 100)).toBe(0);
    expect(calibOverlap(calib, 'mnist', '/data/cifar10/test_q75.bin', 0, 100)).toBe(0);
    expect(calibOverlap(undefined, 'cifar10', '/data/cifar10/test_q75.bin', 0, 100)).toBe(0);
    expect(calibOverlap({ spec: 'npy:calib.npy', n: 64 }, 'cifar10', 'calib.npy', 0, 100)).toBe(0);
  });
  it('matches a folder spec (mnist) with or without a trailing slash', () => {
    const m = { spec: 'mnist:data/mnist/', n: 256 };
    expect(calibOverlap(m, 'mnist', '/home/u/mnist', 200, 500)).toBe(56);
    expect(calibOverlap(m, 'mnist', '/home/u/mnist/', 0, 500)).toBe(256);
  });
});
