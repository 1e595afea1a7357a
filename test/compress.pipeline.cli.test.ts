// `sparrow compress` end to end (bin/sparrow.js → dist/, built by `npm test`): the contract's
// JSON report, the weights' density, weight sharing (--weight-bits), the stored preprocessing,
// `run` of the .sparrow file, static activation ranges. `eval` against the ONNX model on real data,
// and ResNet-20: test/compress.pipeline.data.test.ts; the k-means: test/compress.kmeans.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readContainer, DType } from '../src/format/container.js';
import { decodeInt8Ref } from '../src/codec/int8.js';
import { distinct } from '../src/compress/kmeans.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import '../src/ops/ref/index.js';
import { parseNpy, writeNpy } from '../src/io/npy.js';
import { bundledImages } from './helpers/bundled.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MNIST_ONNX = 'examples/models/mnist-8.onnx';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}
interface TensorJson {
  name: string;
  shape: number[];
  dtype: string;
  codec: string;
  density: number;
  bytes: number;
  entropyBytes: number;
}
interface ReportJson {
  format: string;
  version: number;
  bytes: number;
  params: number;
  nonzero: number;
  entropyBytes: number;
  tensors: TensorJson[];
}
function sparrow(...args: string[]): Run {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** exit 0 and exactly one JSON document on stdout */
function json<T>(r: Run): T {
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

function expectFailure(r: Run, pattern: RegExp): void {
  expect(r.status, r.stderr).not.toBe(0);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

/** The int8 tensors of a .sparrow file, decoded. */
function int8Tensors(file: string): Map<string, Int8Array> {
  const { header, payload } = readContainer(new Uint8Array(readFileSync(file)));
  const out = new Map<string, Int8Array>();
  header.meta.tensors.forEach((t, i) => {
    const s = header.sections[i]!;
    if (s.dtype === DType.Int8) out.set(t.name, decodeInt8Ref(s.codec, payload(i), s.decodedBytes));
  });
  return out;
}

let tmp: string;
beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'dist/ missing: run `npm run build`').toBe(true);
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-compress-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('sparrow compress mnist-8', () => {
  let file8: string, file4: string, run8: Run, run4: Run;
  beforeAll(() => {
    file8 = join(tmp, 'mnist.sparrow');
    file4 = join(tmp, 'mnist-4bit.sparrow');
    run8 = sparrow('compress', MNIST_ONNX, '-o', file8, '--sparsity', '0.5', '--json');
    run4 = sparrow('compress', MNIST_ONNX, '-o', file4, '--sparsity', '0.5', '--weight-bits', '4', '--json');
  });

  it('exits 0 with one JSON document holding the contract fields', () => {
    const r = json<ReportJson>(run8);
    expect(r.format).toBe('sparrow');
    expect(r.version).toBe(1);
    expect(r.bytes).toBe(statSync(file8).size);
    for (const k of ['params', 'nonzero', 'entropyBytes'] as const) expect(Number.isInteger(r[k]), k).toBe(true);
    for (const t of r.tensors) {
      for (const k of ['name', 'shape', 'dtype', 'codec', 'density', 'bytes', 'entropyBytes'] as const)
        expect(t[k], `${t.name}.${k}`).toBeDefined();
    }
    // params: every tensor but the quantization scales
    const weights = r.tensors.filter((t) => !t.name.endsWith('.scale'));
    expect(r.params).toBe(weights.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0));
    expect(r.bytes).toBeLessThan(statSync(join(ROOT, MNIST_ONNX)).size / 3);
  });

  // denseEnds (the default): the first conv (Parameter5) and the last layer (the MatMul,
  // Parameter193) stay dense and 8-bit; only the middle conv is pruned
  it('prunes the middle Conv weight to density 0.5, keeps the first and last layer dense, all int8 with per-channel scales', () => {
    const r = json<ReportJson>(run8);
    const int8 = r.tensors.filter((t) => t.dtype === 'int8');
    expect(int8.map((t) => t.name).sort()).toEqual(['Parameter193_reshape1', 'Parameter5', 'Parameter87']);
    for (const t of int8) {
      const size = t.shape.reduce((a, b) => a * b, 1);
      if (t.name === 'Parameter87') expect(Math.round(t.density * size), t.name).toBe(size - Math.round(0.5 * size));
      else expect(t.density, t.name).toBeGreaterThan(0.95);
      expect(r.tensors.find((x) => x.name === `${t.name}.scale`)?.dtype, t.name).toBe('float32');
    }
    // biases stay float32; nothing float32 of weight size is left
    expect(r.tensors.filter((t) => t.dtype === 'float32' && t.shape.reduce((a, b) => a * b, 1) > 64)).toEqual([]);
    const { header } = readContainer(new Uint8Array(readFileSync(file8)));
    expect(header.meta.compression).toMatchObject({
      prune: 'magnitude',
      sparsity: 0.5,
      weightBits: 8,
      activations: 'dynamic',
      bias: 'float32',
    });
    expect(header.meta.preprocessing).toEqual({ input: 'Input3', layout: 'NCHW', scale: 1 / 255 });
  });

  it('--weight-bits 4: at most 16 distinct values in the middle layer (ends 8-bit), same zeros, smaller file', () => {
    const r4 = json<ReportJson>(run4),
      r8 = json<ReportJson>(run8);
    const t4 = int8Tensors(file4),
      t8 = int8Tensors(file8);
    expect([...t4.keys()].sort()).toEqual([...t8.keys()].sort());
    for (const [name, q4] of t4) {
      const q8 = t8.get(name)!;
      expect(distinct(q8).length, name).toBeGreaterThan(16);
      // denseEnds: the first and the last layer stay 8-bit
      if (name === 'Parameter87') expect(distinct(q4).length, name).toBeLessThanOrEqual(16);
      else expect(Array.from(q4), name).toEqual(Array.from(q8));
      for (let i = 0; i < q4.length; i++) {
        if ((q4[i] === 0) !== (q8[i] === 0) || Math.sign(q4[i]!) !== Math.sign(q8[i]!))
          throw new Error(`${name}[${i}]: ${q8[i]} became ${q4[i]}`);
      }
    }
    expect(r4.nonzero).toBe(r8.nonzero);
    expect(r4.bytes).toBeLessThan(r8.bytes);
    expect(r4.entropyBytes).toBeLessThan(r8.entropyBytes);
  });

  it('run of the .sparrow: a uint8 pixel .npy gets the stored pixel/255', () => {
    const set = bundledImages('mnist-t10k-9000-9015');
    const px = set.pixels.slice(0, 784);
    writeFileSync(join(tmp, 'x8.npy'), writeNpy(px, [1, 1, 28, 28]));
    writeFileSync(
      join(tmp, 'xf.npy'),
      writeNpy(
        Float32Array.from(px, (p) => p / 255),
        [1, 1, 28, 28],
      ),
    );
    const a = json<{ engine: string; outputs: Record<string, { file: string; dims: number[] }> }>(
      sparrow('run', file8, '--input', `Input3=${join(tmp, 'x8.npy')}`, '--out', join(tmp, 'o8'), '--json'),
    );
    const b = json<{ outputs: Record<string, { file: string }> }>(
      sparrow('run', file8, '--input', `Input3=${join(tmp, 'xf.npy')}`, '--out', join(tmp, 'of'), '--json'),
    );
    expect(a.engine).toBe('sparrow-f32');
    expect(a.outputs.Plus214_Output_0!.dims).toEqual([1, 10]);
    const ya = parseNpy(readFileSync(a.outputs.Plus214_Output_0!.file)).data as Float32Array;
    const yb = parseNpy(readFileSync(b.outputs.Plus214_Output_0!.file)).data as Float32Array;
    expect(Array.from(ya)).toEqual(Array.from(yb));
    expect(ya.indexOf(Math.max(...ya))).toBe(set.labels[0]);
  });

  it('refuses bad options and inputs with one line on stderr', () => {
    const out = join(tmp, 'bad.sparrow');
    expectFailure(
      sparrow('compress', MNIST_ONNX, '-o', out, '--weight-bits', '2'),
      /invalid_argument: weight bits must be an integer in 3\.\.8/,
    );
    expectFailure(sparrow('compress', MNIST_ONNX, '-o', out, '--sparsity', '1'), /invalid_argument: sparsity/);
    expectFailure(sparrow('compress', MNIST_ONNX, '-o', out, '--prune', 'random'), /invalid_argument: pruning method/);
    expectFailure(sparrow('compress', MNIST_ONNX, '-o', out, '--prune', 'hessian'), /invalid_argument: .*calibration/);
    expectFailure(sparrow('compress', MNIST_ONNX, '-o', out, '--activations', 'static'), /invalid_argument: .*calibration/);
    expectFailure(sparrow('compress', MNIST_ONNX, '-o', out, '--mean', '0.1,0.2', '--std', '1,1'), /--mean has 2 values/);
    expectFailure(sparrow('compress', join(tmp, 'missing.onnx'), '-o', out), /io_error/);
    expectFailure(sparrow('compress', file8, '-o', out), /already a \.sparrow/);
    expectFailure(
      sparrow('run', file8, '--input', `Input3=${join(tmp, 'x8.npy')}`, '--engine', 'ort-node'),
      /runs on sparrow-f32, sparrow-int8 or sparrow-ref, not ort-node/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('--help states the defaults', () => {
    const r = sparrow('compress', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--sparsity[\s\S]*default:\s+"0\.5"/);
    expect(r.stdout).toMatch(/--prune[\s\S]*default:\s+hessian\s+with\s+--calib,\s+magnitude\s+without/);
    expect(r.stdout).toMatch(/--weight-bits[\s\S]*default:\s+"8"/);
    expect(r.stdout).toMatch(/--activations[\s\S]*default:\s+static\s+with\s+--calib,\s+else\s+dynamic/);
  });

  it('--activations static stores the calibrated input range of every quantized layer', () => {
    const out = join(tmp, 'static.sparrow');
    const r = sparrow(
      'compress',
      MNIST_ONNX,
      '-o',
      out,
      '--calib',
      'npy:examples/calib/mnist-t10k-0-63.npy',
      '--calib-n',
      '16',
      '--activations',
      'static',
      '--json',
    );
    json<ReportJson>(r);
    const { header } = readContainer(new Uint8Array(readFileSync(out)));
    expect(header.meta.compression).toMatchObject({ activations: 'static', calib: { n: 16 } });
    // [min, max] for the graph input and every node output of the stored (optimized) graph
    const ranges = header.meta.activationRanges as Record<string, [number, number]>;
    const g = importOnnx(new Uint8Array(readFileSync(MNIST_ONNX)));
    optimize(g);
    const expected = [...g.inputs, ...g.nodes.flatMap((n) => n.outputs)].filter((v) => g.values.get(v)?.info.dtype === 'float32');
    expect(Object.keys(ranges).sort()).toEqual([...new Set(expected)].sort());
    for (const [lo, hi] of Object.values(ranges)) expect(lo).toBeLessThanOrEqual(hi);
    // pixels/255 lie in [0, 1]; the MSE clip may cut the top but keeps most of it
    const [lo, hi] = ranges['Input3']!;
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
    expect(hi).toBeGreaterThan(0.5);
  });
});
