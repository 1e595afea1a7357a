// ONNX Runtime peer engines (src/runtime/ort.ts): ort-node and ort-web agree with each other
// and with the reference Session on mnist-8 for 20 real MNIST test digits (records 0..19, the
// copies in examples/calib/).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { imageBatch, argmaxRow } from '../src/io/datasets.js';
import { createOrtEngine, sessionEngine, type InferenceEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import type { Tensor } from '../src/ops/types.js';
import '../src/ops/ref/index.js';
import { bundledImages } from './helpers/bundled.js';

const MODEL = resolve(process.cwd(), 'examples/models/mnist-8.onnx');
const N = 20;
const TOL = 1e-4;

function maxDiff(a: Tensor, b: Tensor): number {
  expect(a.dtype).toBe('float32');
  expect(b.dtype).toBe('float32');
  expect(a.dims).toEqual(b.dims);
  const x = a.data as Float32Array,
    y = b.data as Float32Array;
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return d;
}

describe('ort-node / ort-web / sparrow-ref on mnist-8, 20 MNIST digits', () => {
  const engines: InferenceEngine[] = [];
  const outs = new Map<string, Tensor[]>();
  let labels: number[] = [];

  beforeAll(async () => {
    const bytes = new Uint8Array(readFileSync(MODEL));
    engines.push(sessionEngine('sparrow-ref', await Session.fromOnnx(bytes)));
    engines.push(await createOrtEngine('ort-node', bytes));
    engines.push(await createOrtEngine('ort-web', bytes));
    const set = bundledImages('mnist-t10k-0-63');
    labels = Array.from(set.labels.subarray(0, N));
    for (const e of engines) {
      const ys: Tensor[] = [];
      for (let i = 0; i < N; i++) {
        const y = await e.run({ [e.inputNames[0]!]: imageBatch(set, i, 1) });
        ys.push(y[e.outputNames[0]!]!);
      }
      outs.set(e.name, ys);
    }
  });
  afterAll(async () => {
    for (const e of engines) await e.dispose();
  });

  it('all engines see the same input and output names', () => {
    for (const e of engines) {
      expect(e.inputNames).toEqual(engines[0]!.inputNames);
      expect(e.outputNames).toEqual(engines[0]!.outputNames);
    }
  });

  it.each([
    ['ort-node', 'ort-web'],
    ['ort-node', 'sparrow-ref'],
    ['ort-web', 'sparrow-ref'],
  ])('%s vs %s: logits within 1e-4', (a, b) => {
    const ya = outs.get(a)!,
      yb = outs.get(b)!;
    expect(ya).toHaveLength(N);
    let worst = 0;
    for (let i = 0; i < N; i++) {
      expect(ya[i]!.dims).toEqual([1, 10]);
      worst = Math.max(worst, maxDiff(ya[i]!, yb[i]!));
    }
    expect(worst).toBeLessThan(TOL);
  });

  it('the logits classify the digits (not just agreeing garbage)', () => {
    for (const [name, ys] of outs) {
      const correct = ys.filter((y, i) => argmaxRow(y, 0) === labels[i]).length;
      expect(correct, name).toBeGreaterThanOrEqual(18);
    }
  });
});
