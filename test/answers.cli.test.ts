// The built CLI (bin/sparrow.js → dist/) for issue 16's answers on the bundled mnist-8:
// `compress --labels`, `inspect` (text and --json), `run --image` (a PNG drawn here: its pixels
// are the oracle, through `run --input` of the same pixels as a uint8 .npy), usage errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode as encodePng } from 'fast-png';
import { writeNpy } from '../src/io/npy.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MNIST = 'examples/models/mnist-8.onnx';
const DIGITS = Array.from({ length: 10 }, (_, i) => `digit ${i}`);

function sparrow(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return r;
}

describe('compress --labels, inspect, run --image', () => {
  let dir: string;
  let model: string;
  let pixels: Uint8Array;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sparrow-answers-cli-'));
    writeFileSync(join(dir, 'digits.txt'), DIGITS.join('\n') + '\n');
    writeFileSync(join(dir, 'three.txt'), 'a\nb\nc\n');
    model = join(dir, 'mnist.sparrow');
    const r = sparrow('compress', MNIST, '-o', model, '--sparsity', '0.5', '--labels', join(dir, 'digits.txt'));
    expect(r.status, r.stderr).toBe(0);
    // a "1": a vertical bar, white on black, 28×28
    pixels = new Uint8Array(784);
    for (let y = 5; y < 23; y++) for (let x = 13; x < 16; x++) pixels[y * 28 + x] = 255;
    writeFileSync(join(dir, 'one.png'), encodePng({ width: 28, height: 28, data: pixels, channels: 1, depth: 8 }));
    writeFileSync(join(dir, 'one.npy'), writeNpy(pixels, [1, 1, 28, 28]));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('inspect shows the labels, inputs, outputs, preprocessing and ranges (text and --json)', () => {
    const t = sparrow('inspect', model);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toContain('input   Input3: float32 [1,1,28,28]');
    expect(t.stdout).toContain('labels: 10 (digit 0, digit 1');
    expect(t.stdout).toContain('activation ranges: none');
    const j = JSON.parse(sparrow('inspect', model, '--json').stdout);
    expect(j.labels).toEqual(DIGITS);
    expect(j.inputs).toEqual([{ name: 'Input3', dtype: 'float32', dims: [1, 1, 28, 28] }]);
    expect(j.preprocessing).toMatchObject({ input: 'Input3', scale: 1 / 255 });
    expect(j.activationRanges).toEqual({ present: false, count: 0 });
    expect(j.format).toBe('sparrow'); // the contract's fields stay
  });

  it('run --image gives the output of run --input on the same pixels, with the top-5 by name', () => {
    const a = sparrow('run', model, '--image', join(dir, 'one.png'), '--out', join(dir, 'a'), '--json');
    expect(a.status, a.stderr).toBe(0);
    const b = sparrow('run', model, '--input', `Input3=${join(dir, 'one.npy')}`, '--out', join(dir, 'b'), '--json');
    expect(b.status, b.stderr).toBe(0);
    const da = JSON.parse(a.stdout),
      db = JSON.parse(b.stdout);
    expect(da.top).toEqual(db.top);
    expect(da.top).toHaveLength(5);
    expect(da.top[0].label).toBe(DIGITS[da.top[0].index]);
    expect(da.outputs).toHaveProperty('Plus214_Output_0');
    const t = sparrow('run', model, '--image', join(dir, 'one.png'), '--out', join(dir, 'a'), '--top', '3');
    expect(t.stdout.split('\n').filter((l) => /^ {2}\d\. \d\.\d{4} {2}digit \d \(\d\)$/.test(l))).toHaveLength(3);
  });

  it('usage errors: labels that do not match the classes, neither --input nor --image, a non-image file', () => {
    const c = sparrow('compress', MNIST, '-o', join(dir, 'x.sparrow'), '--labels', join(dir, 'three.txt'));
    expect(c.status).not.toBe(0);
    expect(c.stderr).toMatch(/invalid_argument: .*3 class names; the model's output has 10 classes/);
    const r = sparrow('run', model);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--input .* or --image/);
    const n = sparrow('run', model, '--image', join(dir, 'digits.txt'));
    expect(n.status).not.toBe(0);
    expect(n.stderr).toMatch(/invalid_argument: not a PNG or JPEG/);
    const e = sparrow('export', model, '-o', join(dir, 'm.onnx'));
    expect(e.status).not.toBe(0);
    expect(e.stderr).toMatch(/unsupported_op: .*opset >= 13/);
  });
});
