// Node loader for the datasets: `mnist:<folder with the t10k IDX .gz files>`, `cifar10:<file>`.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SparrowError } from '../errors.js';
import { parseCifar10, parseMnist, type ImageSet } from './datasets.js';

function read(path: string): Uint8Array {
  if (!existsSync(path)) throw new SparrowError('io_error', `cannot read ${path}: no such file`);
  const b = readFileSync(path);
  return new Uint8Array(path.endsWith('.gz') ? gunzipSync(b) : b);
}

export type DatasetName = 'mnist' | 'cifar10';

export function loadDataset(name: DatasetName, path: string): ImageSet {
  if (name === 'mnist') {
    const dir = existsSync(path) && statSync(path).isDirectory() ? path : null;
    if (!dir)
      throw new SparrowError('io_error', `mnist: ${path} is not a folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz`);
    const pick = (base: string) => (existsSync(join(dir, base + '.gz')) ? join(dir, base + '.gz') : join(dir, base));
    return parseMnist(read(pick('t10k-images-idx3-ubyte')), read(pick('t10k-labels-idx1-ubyte')));
  }
  if (name === 'cifar10') return parseCifar10(read(path));
  throw new SparrowError('invalid_argument', `unknown dataset '${String(name)}' (mnist or cifar10)`);
}

/** `mnist:<folder>` / `cifar10:<file>` */
export function loadDatasetSpec(spec: string): ImageSet {
  const i = spec.indexOf(':');
  if (i <= 0) throw new SparrowError('invalid_argument', `dataset spec '${spec}' must be mnist:<folder> or cifar10:<file>`);
  return loadDataset(spec.slice(0, i) as DatasetName, spec.slice(i + 1));
}
