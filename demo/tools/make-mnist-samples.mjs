#!/usr/bin/env node
// One-off: writes the first 20 MNIST t10k digits (../shared/data/mnist) as 8-bit grayscale
// PNGs into demo/samples/mnist/mnist_<index>_<label>.png (the demo's sample digits; the
// browser test runs them). Usage: node demo/tools/make-mnist-samples.mjs [path/to/mnist]
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gunzipSync, deflateSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = process.argv[2] ?? join(ROOT, '..', 'shared', 'data', 'mnist');
const OUT = join(ROOT, 'demo', 'samples', 'mnist');
const N = 20;

const images = gunzipSync(readFileSync(join(SRC, 't10k-images-idx3-ubyte.gz')));
const labels = gunzipSync(readFileSync(join(SRC, 't10k-labels-idx1-ubyte.gz')));
if (images.readUInt32BE(0) !== 2051 || labels.readUInt32BE(0) !== 2049) throw new Error('not MNIST IDX files');

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
const crc32 = (b) => {
  let c = -1;
  for (const x of b) c = CRC[(c ^ x) & 255] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
};
function chunk(type, data) {
  const t = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(t));
  return Buffer.concat([len, t, crc]);
}
function png(w, h, gray) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 0; // 8-bit grayscale
  const raw = Buffer.alloc(h * (w + 1));
  for (let y = 0; y < h; y++) gray.copy(raw, y * (w + 1) + 1, y * w, (y + 1) * w); // filter 0
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

mkdirSync(OUT, { recursive: true });
for (let i = 0; i < N; i++) {
  const px = images.subarray(16 + i * 784, 16 + (i + 1) * 784);
  const name = `mnist_${String(i).padStart(2, '0')}_${labels[8 + i]}.png`;
  writeFileSync(join(OUT, name), png(28, 28, Buffer.from(px)));
}
console.log(`wrote ${N} digits to ${OUT}`);
