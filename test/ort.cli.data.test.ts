// `sparrow eval` with the ONNX Runtime engines (bin/sparrow.js → dist/) on 20 MNIST test digits
// from ../shared/data (or $SPARROW_DATA): the same top-1 as sparrow-ref.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataPath, haveData } from './helpers/data.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MNIST = 'examples/models/mnist-8.onnx';
const MNIST_DIR = dataPath('mnist');
const HAVE_MNIST = haveData('sparrow eval --engine on MNIST', 'mnist/t10k-images-idx3-ubyte.gz', 'mnist/t10k-labels-idx1-ubyte.gz');

function sparrow(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return r;
}

describe.runIf(HAVE_MNIST)('eval --engine', () => {
  let ref: { top1: number };
  beforeAll(() => {
    ref = JSON.parse(sparrow('eval', MNIST, '--dataset', 'mnist', '--data', MNIST_DIR, '--limit', '20', '--json').stdout);
  });

  it.each(['ort-node', 'ort-web'])('%s: top-1 on 20 MNIST digits matches sparrow-ref', (engine) => {
    const r = sparrow('eval', MNIST, '--dataset', 'mnist', '--data', MNIST_DIR, '--limit', '20', '--engine', engine, '--json');
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ model: MNIST, dataset: 'mnist', engine, n: 20 });
    expect(doc.top1).toBe(ref.top1);
    expect(doc.top1).toBeGreaterThanOrEqual(0.9);
  });
});
