#!/usr/bin/env node
// Regenerates examples/calib/ from ../shared/data (run once; the outputs are committed):
//   mnist-t10k-0-63.npy            uint8 [64,1,28,28]  MNIST test records 0..63 (calibration)
//   mnist-t10k-0-63-labels.npy     uint8 [64]
//   mnist-t10k-9000-9015.npy       uint8 [16,1,28,28]  MNIST test records 9000..9015 (held out: tests, demo)
//   mnist-t10k-9000-9015-labels.npy
//   cifar10-test-0-63.npy          uint8 [64,3,32,32]  CIFAR-10 test records 0..63 (JPEG q75 copy; calibration)
//   cifar10-test-0-63-labels.npy   uint8 [64]
// Pixels stay uint8: `sparrow compress --calib npy:<file>` applies the model's preprocessing
// (pixel/255, then --mean/--std) to uint8 batches.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = process.argv[2] ?? join(ROOT, '..', 'shared', 'data');
const OUT = join(ROOT, 'examples', 'calib');
if (!existsSync(DATA)) {
  process.stderr.write(`make-calib: ${DATA} not found (pass the shared data folder as the first argument)\n`);
  process.exit(1);
}
const { writeNpy } = await import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href);
mkdirSync(OUT, { recursive: true });

const mnistImages = new Uint8Array(gunzipSync(readFileSync(join(DATA, 'mnist', 't10k-images-idx3-ubyte.gz')))).subarray(16);
const mnistLabels = new Uint8Array(gunzipSync(readFileSync(join(DATA, 'mnist', 't10k-labels-idx1-ubyte.gz')))).subarray(8);
const cifar = new Uint8Array(readFileSync(join(DATA, 'cifar10', 'test_q75.bin')));

function mnist(from, n, name) {
  writeFileSync(join(OUT, `${name}.npy`), writeNpy(mnistImages.slice(from * 784, (from + n) * 784), [n, 1, 28, 28]));
  writeFileSync(join(OUT, `${name}-labels.npy`), writeNpy(mnistLabels.slice(from, from + n), [n]));
}
function cifar10(from, n, name) {
  const px = new Uint8Array(n * 3072),
    lb = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = (from + i) * 3073;
    lb[i] = cifar[r];
    px.set(cifar.subarray(r + 1, r + 3073), i * 3072);
  }
  writeFileSync(join(OUT, `${name}.npy`), writeNpy(px, [n, 3, 32, 32]));
  writeFileSync(join(OUT, `${name}-labels.npy`), writeNpy(lb, [n]));
}
mnist(0, 64, 'mnist-t10k-0-63');
mnist(9000, 16, 'mnist-t10k-9000-9015');
cifar10(0, 64, 'cifar10-test-0-63');
process.stdout.write(`wrote ${OUT}\n`);
