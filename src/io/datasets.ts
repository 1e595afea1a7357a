// Real evaluation data: MNIST (IDX) and CIFAR-10 (binary version) parsers and the
// preprocessing to NCHW float32. Pure functions over bytes (browser/Worker safe); the Node
// loader that gunzips files is src/io/datasets_node.ts.
import { SparrowError } from '../errors.js';
import type { Tensor } from '../ops/types.js';

export interface ImageSet {
  n: number;
  channels: number;
  height: number;
  width: number;
  /** (n, channels, height, width) u8, planar per image */
  pixels: Uint8Array;
  /** (n) class labels */
  labels: Uint8Array;
}

function u32be(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** MNIST IDX: images file (magic 0x803, n, rows, cols, u8 pixels) + labels file (magic 0x801, n, u8). */
export function parseMnist(images: Uint8Array, labels: Uint8Array): ImageSet {
  if (images.length < 16 || u32be(images, 0) !== 0x803)
    throw new SparrowError('invalid_argument', 'not an IDX image file (magic 0x00000803)');
  if (labels.length < 8 || u32be(labels, 0) !== 0x801)
    throw new SparrowError('invalid_argument', 'not an IDX label file (magic 0x00000801)');
  const n = u32be(images, 4),
    h = u32be(images, 8),
    w = u32be(images, 12);
  if (images.length !== 16 + n * h * w)
    throw new SparrowError('invalid_argument', `IDX images: ${n}x${h}x${w} needs ${16 + n * h * w} bytes, file has ${images.length}`);
  const nl = u32be(labels, 4);
  if (nl !== n || labels.length !== 8 + n) throw new SparrowError('invalid_argument', `IDX labels: ${nl} labels for ${n} images`);
  return { n, channels: 1, height: h, width: w, pixels: images.subarray(16), labels: labels.subarray(8) };
}

/** CIFAR-10 binary version: records of 1 label byte + 3072 bytes (R, G, B planes of 32x32). */
export function parseCifar10(bytes: Uint8Array): ImageSet {
  const rec = 1 + 3072;
  if (bytes.length === 0 || bytes.length % rec !== 0)
    throw new SparrowError('invalid_argument', `CIFAR-10 binary: ${bytes.length} bytes is not a whole number of ${rec}-byte records`);
  const n = bytes.length / rec;
  const pixels = new Uint8Array(n * 3072),
    labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = bytes[i * rec]!;
    if (labels[i]! > 9) throw new SparrowError('invalid_argument', `CIFAR-10 binary: record ${i} has label ${labels[i]}`);
    pixels.set(bytes.subarray(i * rec + 1, (i + 1) * rec), i * 3072);
  }
  return { n, channels: 3, height: 32, width: 32, pixels, labels };
}

export interface Preprocess {
  /** per-channel mean and std applied after pixel/255; omitted = none */
  mean?: number[];
  std?: number[];
}

/** Images [from, from+count) as one float32 NCHW tensor: pixel/255, then (x − mean[c]) / std[c]. */
export function imageBatch(set: ImageSet, from: number, count: number, pre: Preprocess = {}): Tensor {
  const { channels: c, height: h, width: w } = set;
  const hw = h * w;
  if (pre.mean && pre.mean.length !== c) throw new SparrowError('invalid_argument', `--mean needs ${c} values, got ${pre.mean.length}`);
  if (pre.std && pre.std.length !== c) throw new SparrowError('invalid_argument', `--std needs ${c} values, got ${pre.std.length}`);
  const out = new Float32Array(count * c * hw);
  for (let i = 0; i < count; i++) {
    for (let ch = 0; ch < c; ch++) {
      const m = pre.mean?.[ch] ?? 0,
        s = pre.std?.[ch] ?? 1;
      const src = ((from + i) * c + ch) * hw,
        dst = (i * c + ch) * hw;
      for (let p = 0; p < hw; p++) out[dst + p] = (set.pixels[src + p]! / 255 - m) / s;
    }
  }
  return { dtype: 'float32', dims: [count, c, h, w], data: out };
}

/** Index of the largest value of row `row` of a (rows, cols) float32 tensor (first on ties). */
export function argmaxRow(t: Tensor, row: number): number {
  const cols = t.dims[t.dims.length - 1]!;
  const d = t.data as Float32Array;
  let best = 0;
  for (let j = 1; j < cols; j++) if (d[row * cols + j]! > d[row * cols + best]!) best = j;
  return best;
}
