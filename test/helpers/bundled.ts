// The real images that ship in examples/calib/ (scripts/make-calib.js; examples/calib/README.md):
// exact copies of test-set records, so a test that needs only these records is a unit test (no
// ../shared/data). uint8 NCHW pixels with their labels, as an ImageSet for imageBatch().
//   mnist-t10k-0-63        MNIST t10k records 0..63
//   mnist-t10k-9000-9015   MNIST t10k records 9000..9015
//   cifar10-test-0-63      CIFAR-10 test records 0..63 (test_q75.bin)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ImageSet } from '../../src/io/datasets.js';
import { parseNpy } from '../../src/io/npy.js';

const CALIB = fileURLToPath(new URL('../../examples/calib/', import.meta.url));

export type BundledSet = 'mnist-t10k-0-63' | 'mnist-t10k-9000-9015' | 'cifar10-test-0-63';

export function bundledImages(name: BundledSet): ImageSet {
  const x = parseNpy(new Uint8Array(readFileSync(`${CALIB}${name}.npy`)));
  const y = parseNpy(new Uint8Array(readFileSync(`${CALIB}${name}-labels.npy`)));
  const [n, channels, height, width] = x.shape as [number, number, number, number];
  return { n, channels, height, width, pixels: x.data as Uint8Array, labels: y.data as Uint8Array };
}
