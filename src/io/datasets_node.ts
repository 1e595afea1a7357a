// Node loader for the datasets: `mnist:<folder with the t10k IDX .gz files>`, `cifar10:<file>`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { SparrowError } from '../errors.js';
import { parseCifar10, parseMnist, type ImageSet } from './datasets.js';

function read(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new SparrowError('io_error', `cannot read ${path}: no such file`);
  if (statSync(path).isDirectory()) {
    let hint = '';
    try {
      const files = readdirSync(path).filter((f) => /\.bin$/i.test(f));
      if (files.length)
        hint = ` (it holds ${files
          .slice(0, 3)
          .map((f) => join(path, f))
          .join(', ')})`;
    } catch {
      /* unreadable folder: no hint */
    }
    throw new SparrowError('io_error', `${path} is a folder; ${what}${hint}`);
  }
  let b: Uint8Array;
  try {
    b = readFileSync(path);
  } catch (e) {
    throw new SparrowError('io_error', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!path.endsWith('.gz')) return new Uint8Array(b);
  try {
    return new Uint8Array(gunzipSync(b));
  } catch (e) {
    throw new SparrowError('invalid_argument', `${path} is not a readable gzip file: ${(e as Error).message}`);
  }
}

export type DatasetName = 'mnist' | 'cifar10';

export function loadDataset(name: DatasetName, path: string): ImageSet {
  if (name === 'mnist') {
    const dir = existsSync(path) && statSync(path).isDirectory() ? path : null;
    if (!dir)
      throw new SparrowError('io_error', `mnist: ${path} is not a folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz`);
    const pick = (base: string) => (existsSync(join(dir, base + '.gz')) ? join(dir, base + '.gz') : join(dir, base));
    const what = 'mnist: give the folder with the t10k IDX files';
    return parseMnist(read(pick('t10k-images-idx3-ubyte'), what), read(pick('t10k-labels-idx1-ubyte'), what));
  }
  if (name === 'cifar10')
    return parseCifar10(read(path, 'cifar10: give the CIFAR-10 binary file (records of 1 label byte + 3072 pixel bytes)'));
  throw new SparrowError('invalid_argument', `unknown dataset '${String(name)}' (mnist or cifar10)`);
}

/** `mnist:<folder>` / `cifar10:<file>` */
export function loadDatasetSpec(spec: string): ImageSet {
  const i = spec.indexOf(':');
  if (i <= 0) throw new SparrowError('invalid_argument', `dataset spec '${spec}' must be mnist:<folder> or cifar10:<file>`);
  return loadDataset(spec.slice(0, i) as DatasetName, spec.slice(i + 1));
}
