// `sparrow run` with the ONNX Runtime engines (bin/sparrow.js → dist/); `sparrow eval`:
// test/ort.cli.data.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNpy, writeNpy } from '../src/io/npy.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MNIST = 'examples/models/mnist-8.onnx';

function sparrow(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return r;
}

let tmp: string;
beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'dist/ missing: run `npm run build`').toBe(true);
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-ort-cli-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('run --engine', () => {
  it('sparrow-f32, ort-node and ort-web write the same outputs as sparrow-ref', () => {
    const x = Float32Array.from({ length: 784 }, (_, i) => ((i * 37) % 255) / 255);
    const input = join(tmp, 'x.npy');
    writeFileSync(input, writeNpy(x, [1, 1, 28, 28]));
    const outs: Record<string, Float32Array> = {};
    for (const engine of ['sparrow-ref', 'sparrow-f32', 'ort-node', 'ort-web']) {
      const dir = join(tmp, engine);
      const r = sparrow('run', MNIST, '--input', `Input3=${input}`, '--engine', engine, '--out', dir, '--json');
      expect(r.status, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.engine).toBe(engine);
      const o = doc.outputs.Plus214_Output_0;
      expect(o.dims).toEqual([1, 10]);
      expect(o.dtype).toBe('float32');
      outs[engine] = parseNpy(new Uint8Array(readFileSync(o.file))).data as Float32Array;
    }
    for (const e of ['sparrow-f32', 'ort-node', 'ort-web']) {
      for (let i = 0; i < 10; i++) expect(Math.abs(outs[e]![i]! - outs['sparrow-ref']![i]!)).toBeLessThan(1e-4);
    }
  });

  it('runs sparrow-int8 on the ONNX model (weights quantized at load, dynamic mode)', () => {
    const r = sparrow('run', MNIST, '--input', `Input3=${join(tmp, 'x.npy')}`, '--engine', 'sparrow-int8', '--out', tmp, '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).engine).toBe('sparrow-int8');
  });
});
