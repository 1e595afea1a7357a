// `sparrow compare` end to end (bin/sparrow.js → dist/, built by `npm run build`) on a small
// classifier built here (Conv 3→8 + Relu → GlobalAveragePool → Gemm 8→5): one JSON document with
// the documented fields, the same figures as src/bench/compare.ts computes in process with the
// same seed, a .sparrow file against the reference engine, and one-line failures (an integer
// input whose range cannot be inferred, a bad oracle, a .sparrow file against ort-node).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import '../src/ops/ref/index.js';
import { buildModel, f32 } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { runCompare } from '../src/bench/compare.js';
import { openEngine } from '../src/runtime/ort.js';
import { mulberry32 } from '../src/util/rng.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}
function sparrow(...args: string[]): Run {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function expectOneLineFailure(r: Run, pattern: RegExp): void {
  expect(r.status, r.stderr).not.toBe(0);
  expect(r.stdout).toBe('');
  expect(
    r.stderr
      .trimEnd()
      .split('\n')
      .filter((l) => !l.startsWith('compare: ')),
    r.stderr,
  ).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

const rnd = mulberry32(11);
const w = (dims: number[], s: number) =>
  f32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rnd() * 2 - 1) * s),
  );
const CLASSIFIER = buildModel({
  nodes: [
    { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
    { op: 'Relu', inputs: ['c'], outputs: ['r'] },
    { op: 'GlobalAveragePool', inputs: ['r'], outputs: ['p'] },
    { op: 'Flatten', inputs: ['p'], outputs: ['f'] },
    { op: 'Gemm', inputs: ['f', 'w2', 'b2'], outputs: ['logits'], attrs: { transB: 1 } },
  ],
  inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3, 8, 8] }],
  outputs: [{ name: 'logits', dtype: 'float32', dims: ['N', 5] }],
  initializers: { w1: w([8, 3, 3, 3], 0.5), b1: w([8], 0.1), w2: w([5, 8], 1), b2: w([5], 0.05) },
});
// an int32 input only added to: its valid range is unknown
const INTS = buildModel({
  nodes: [
    { op: 'Add', inputs: ['k', 'one'], outputs: ['k1'] },
    { op: 'Cast', inputs: ['k1'], outputs: ['y'], attrs: { to: 1 } },
  ],
  inputs: [{ name: 'k', dtype: 'int32', dims: [4] }],
  outputs: [{ name: 'y', dtype: 'float32', dims: [4] }],
  initializers: { one: { dtype: 'int32', dims: [], data: Int32Array.from([1]) } },
});

let tmp: string;
beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'dist/ missing: run `npm run build`').toBe(true);
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-compare-'));
  writeFileSync(join(tmp, 'cls.onnx'), CLASSIFIER);
  writeFileSync(join(tmp, 'ints.onnx'), INTS);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('sparrow compare', () => {
  it('--json: one document per the contract, the figures of src/bench/compare.ts in process', async () => {
    const r = sparrow('compare', join(tmp, 'cls.onnx'), '--samples', '12', '--seed', '5', '--batch', '2', '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ model: join(tmp, 'cls.onnx'), against: 'ort-node', samples: 12, seed: 5 });
    expect(doc.inputs.x).toEqual({ dtype: 'float32', dims: [2, 3, 8, 8], rule: 'uniform [-1, 1)' });
    expect(Object.keys(doc.engines)).toEqual(['sparrow-f32', 'sparrow-int8']);
    const f = doc.engines['sparrow-f32'].outputs.logits;
    expect(f.within1e4).toBe(true);
    expect(f.maxRel).toBeLessThan(1e-5);
    expect(f.argmaxAgreement).toBe(1);
    expect(f.argmaxCount).toBe(24); // 12 samples × batch 2
    const q = doc.engines['sparrow-int8'].outputs.logits;
    expect(q.maxRel).toBeGreaterThan(f.maxRel); // int8 is not float
    expect(q.argmaxAgreement).toBeGreaterThanOrEqual(0);
    expect(q.argmaxAgreement).toBeLessThanOrEqual(1);
    expect(typeof q.within1e4).toBe('boolean');

    // the same run in process
    const bytes = new Uint8Array(readFileSync(join(tmp, 'cls.onnx')));
    const mine = await runCompare({
      model: 'cls',
      graph: importOnnx(bytes),
      engines: ['sparrow-f32', 'sparrow-int8'],
      against: 'ort-node',
      open: (n) => openEngine(n, n as 'sparrow-f32', bytes),
      samples: 12,
      seed: 5,
      batch: 2,
    });
    for (const e of ['sparrow-f32', 'sparrow-int8']) {
      const a = doc.engines[e].outputs.logits,
        b = mine.engines[e]!.outputs['logits']!;
      expect([a.maxRel, a.worstExcess, a.within1e4, a.argmaxAgreement]).toEqual([b.maxRel, b.worstExcess, b.within1e4, b.argmaxAgreement]);
    }
  }, 120_000);

  it('--against reference, text output; a .sparrow file is compared with the reference engine by default', () => {
    const r = sparrow('compare', join(tmp, 'cls.onnx'), '--against', 'reference', '--engines', 'sparrow-f32', '--samples', '3');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/against reference: 3 samples \(seed 1\)/);
    expect(r.stdout).toMatch(/sparrow-f32\s+logits\s+\[1,5\]\s+\S+\s+\S+\s+yes\s+100\.00% of 3/);
    const c = sparrow('compress', join(tmp, 'cls.onnx'), '-o', join(tmp, 'cls.sparrow'));
    expect(c.status, c.stderr).toBe(0);
    const s = sparrow('compare', join(tmp, 'cls.sparrow'), '--samples', '3', '--json');
    expect(s.status, s.stderr).toBe(0);
    const doc = JSON.parse(s.stdout);
    expect(doc.against).toBe('reference');
    expect(doc.engines['sparrow-f32'].outputs.logits.within1e4).toBe(true);
  }, 120_000);

  it('--layers: sparrow-int8 layer by layer; "default" is what compare reports for sparrow-int8', () => {
    const r = sparrow('compare', join(tmp, 'cls.onnx'), '--layers', '--samples', '6', '--seed', '2', '--json');
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ against: 'ort-node', samples: 6, seed: 2 });
    // two weight layers: the default keeps the output layer (the Gemm) in float
    expect(doc.all.layers).toBe(2);
    expect(doc.default.layers).toBe(1);
    expect(doc.default.maxRel).toBeLessThan(doc.all.maxRel);
    expect(doc.layers.map((l: { node: string }) => l.node).sort()).toEqual(['Conv_0', 'Gemm_4']);
    for (const l of doc.layers) expect(l.maxRel).toBeGreaterThan(0);
    expect(doc.layers[0].maxRel).toBeGreaterThanOrEqual(doc.layers[1].maxRel); // worst first
    const c = JSON.parse(
      sparrow('compare', join(tmp, 'cls.onnx'), '--engines', 'sparrow-int8', '--samples', '6', '--seed', '2', '--json').stdout,
    );
    const q = c.engines['sparrow-int8'].outputs.logits;
    expect([doc.default.maxRel, doc.default.argmaxAgreement]).toEqual([q.maxRel, q.argmaxAgreement]);
    const text = sparrow('compare', join(tmp, 'cls.onnx'), '--layers', '--samples', '2');
    expect(text.stdout).toMatch(/layer \(only it quantized\)/);
  }, 120_000);

  it('an integer input: refused unless its range is inferable or given', () => {
    expectOneLineFailure(
      sparrow('compare', join(tmp, 'ints.onnx'), '--samples', '2'),
      /invalid_argument: integer input 'k' \(int32\): its valid range cannot be inferred.*--int-range k=lo,hi/,
    );
    const r = sparrow('compare', join(tmp, 'ints.onnx'), '--samples', '2', '--int-range', 'k=-3,7', '--engines', 'sparrow-f32', '--json');
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.inputs.k.rule).toBe('uniform integers in [-3, 7] (given)');
    expect(doc.engines['sparrow-f32'].outputs.y).toMatchObject({ maxRel: 0, within1e4: true, argmaxAgreement: null });
  }, 120_000);

  it('bad arguments fail with one line', () => {
    expectOneLineFailure(sparrow('compare', join(tmp, 'cls.onnx'), '--against', 'ort-web'), /--against must be ort-node or reference/);
    expectOneLineFailure(sparrow('compare', join(tmp, 'cls.onnx'), '--engines', 'nope'), /engine 'nope' is not available/);
    expectOneLineFailure(sparrow('compare', join(tmp, 'cls.onnx'), '--samples', '0'), /--samples must be a positive integer/);
    expectOneLineFailure(sparrow('compare', join(tmp, 'cls.onnx'), '--shape', 'x=1,4,8,8'), /does not fit the declared/);
    expectOneLineFailure(sparrow('compare', join(tmp, 'missing.onnx')), /io_error: cannot read/);
  });

  it('a .sparrow file against ort-node is refused', () => {
    const c = sparrow('compress', join(tmp, 'cls.onnx'), '-o', join(tmp, 'cls2.sparrow'));
    expect(c.status, c.stderr).toBe(0);
    expectOneLineFailure(sparrow('compare', join(tmp, 'cls2.sparrow'), '--against', 'ort-node'), /has no ONNX for ort-node/);
  }, 60_000);
});
