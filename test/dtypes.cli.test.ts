// `sparrow run --input x=<file>.npy` with a float16 model (mnist-8 exported as float16 by
// src/onnx/float16_export.ts): a '<f2' input goes in as float16, the output comes back as a '<f2'
// .npy, in sparrow-ref, sparrow-f32, sparrow-int8 and ort-node (bin/sparrow.js → dist/).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNpy, writeNpy } from '../src/io/npy.js';
import { toFloat16ModelBytes } from '../src/onnx/float16_export.js';
import { float16ToNumber, toFloat16Array } from '../src/ops/float16.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function sparrow(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return r;
}

let tmp: string;
beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'dist/ missing: run `npm run build`').toBe(true);
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-dtypes-cli-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('run with a float16 model', () => {
  it("takes a '<f2' input and writes '<f2' outputs; the engines agree within float16 tolerance", () => {
    const model = join(tmp, 'mnist-8-fp16.onnx');
    writeFileSync(model, toFloat16ModelBytes(new Uint8Array(readFileSync(join(ROOT, 'examples/models/mnist-8.onnx')))));
    const input = join(tmp, 'x.npy');
    writeFileSync(
      input,
      writeNpy(toFloat16Array(Array.from({ length: 784 }, (_, i) => ((i * 37) % 255) / 255)), [1, 1, 28, 28], 'float16'),
    );
    const outs: Record<string, number[]> = {};
    for (const engine of ['sparrow-ref', 'sparrow-f32', 'sparrow-int8', 'ort-node']) {
      const dir = join(tmp, engine);
      const r = sparrow('run', model, '--input', `Input3=${input}`, '--engine', engine, '--out', dir, '--json');
      expect(r.status, r.stderr).toBe(0);
      const o = JSON.parse(r.stdout).outputs.Plus214_Output_0;
      expect(o).toMatchObject({ dims: [1, 10], dtype: 'float16' });
      const a = parseNpy(new Uint8Array(readFileSync(o.file)));
      expect(a.dtype).toBe('float16');
      outs[engine] = Array.from(a.data as Uint16Array, float16ToNumber);
    }
    const scale = Math.max(...outs['sparrow-ref']!.map(Math.abs));
    for (const e of ['sparrow-f32', 'ort-node']) {
      outs[e]!.forEach((v, i) => expect(Math.abs(v - outs['sparrow-ref']![i]!), `${e} ${i}`).toBeLessThanOrEqual(4e-3 * scale));
    }
    const argmax = (v: number[]) => v.indexOf(Math.max(...v));
    expect(argmax(outs['sparrow-int8']!)).toBe(argmax(outs['sparrow-ref']!));
  });

  it('compresses: the .sparrow model keeps the float16 input and output, and matches the compressed float32 model', () => {
    const model = join(tmp, 'mnist-8-fp16.onnx');
    const out16 = join(tmp, 'mnist-8-fp16.sparrow'),
      out32 = join(tmp, 'mnist-8.sparrow');
    for (const [m, o] of [
      [model, out16],
      ['examples/models/mnist-8.onnx', out32],
    ]) {
      const c = sparrow('compress', m!, '-o', o!, '--json');
      expect(c.status, c.stderr).toBe(0);
    }
    // a held-out MNIST digit (examples/calib), pixel/255, as float16 and as its float32 values
    const digits = parseNpy(new Uint8Array(readFileSync(join(ROOT, 'examples/calib/mnist-t10k-9000-9015.npy'))));
    const px = Array.from((digits.data as Uint8Array).subarray(0, 784), (v) => v / 255);
    const h = toFloat16Array(px);
    writeFileSync(join(tmp, 'd16.npy'), writeNpy(h, [1, 1, 28, 28], 'float16'));
    writeFileSync(join(tmp, 'd32.npy'), writeNpy(Float32Array.from(h, float16ToNumber), [1, 1, 28, 28]));
    const read = (r: ReturnType<typeof sparrow>, dtype: string): number[] => {
      expect(r.status, r.stderr).toBe(0);
      const o = JSON.parse(r.stdout).outputs.Plus214_Output_0;
      expect(o).toMatchObject({ dims: [1, 10], dtype });
      const a = parseNpy(new Uint8Array(readFileSync(o.file)));
      return dtype === 'float16' ? Array.from(a.data as Uint16Array, float16ToNumber) : Array.from(a.data as Float32Array);
    };
    for (const engine of ['sparrow-f32', 'sparrow-int8', 'sparrow-ref']) {
      const y16 = read(
        sparrow('run', out16, '--input', `Input3=${join(tmp, 'd16.npy')}`, '--engine', engine, '--out', join(tmp, `a-${engine}`), '--json'),
        'float16',
      );
      const y32 = read(
        sparrow('run', out32, '--input', `Input3=${join(tmp, 'd32.npy')}`, '--engine', engine, '--out', join(tmp, `b-${engine}`), '--json'),
        'float32',
      );
      const scale = Math.max(...y32.map(Math.abs));
      // int8 weights quantized from float16-rounded vs float32 weights: a scale step apart at most
      y16.forEach((v, i) => expect(Math.abs(v - y32[i]!), `${engine} ${i}`).toBeLessThanOrEqual(0.03 * scale));
      expect(y16.indexOf(Math.max(...y16))).toBe(y32.indexOf(Math.max(...y32)));
    }
  });

  it('a float32 .npy for a float16 input is refused naming both dtypes', () => {
    const model = join(tmp, 'mnist-8-fp16.onnx');
    const input = join(tmp, 'x32.npy');
    writeFileSync(input, writeNpy(new Float32Array(784), [1, 1, 28, 28]));
    const r = sparrow('run', model, '--input', `Input3=${input}`, '--engine', 'sparrow-ref', '--out', tmp);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/dtype float32, expected float16/);
  });
});
