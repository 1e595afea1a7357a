// End-to-end tests of the `sparrow` CLI (bin/sparrow.js -> dist/, built by `npm test`):
// the contract's JSON report (../shared/CONTRACT.md "JSON outputs"), stdout/stderr/exit-code
// discipline, and a byte-exact round trip of packed .npy tensors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeNpy } from '../src/io/npy.js';
import { readContainer } from '../src/format/container.js';
import { decodeInt8Ref } from '../src/codec/int8.js';
import { lcg } from './helpers/tensors.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MNIST = 'examples/models/mnist-8.onnx';

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
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const prod = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** A failed command: exit `status`, nothing on stdout, exactly one line on stderr. */
function expectFailure(r: Run, status: number | 'nonzero', pattern: RegExp): void {
  if (status === 'nonzero') expect(r.status, r.stderr).not.toBe(0);
  else expect(r.status, r.stderr).toBe(status);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  const lines = r.stderr.slice(0, -1).split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

let tmp: string;
beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'dist/ missing: run `npm run build`').toBe(true);
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-cli-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('sparrow pack --onnx / inspect', () => {
  let file: string;
  let packRun: Run;

  beforeAll(() => {
    file = join(tmp, 'mnist-8.sparrow');
    packRun = sparrow('pack', '--onnx', MNIST, '--sparsity', '0.5', '-o', file, '--json');
  });

  it('exits 0 and prints exactly one JSON document on stdout', () => {
    expect(packRun.status, packRun.stderr).toBe(0);
    expect(packRun.stdout.trim().length).toBeGreaterThan(0);
    expect(() => JSON.parse(packRun.stdout)).not.toThrow(); // the whole of stdout is one document
    const doc: unknown = JSON.parse(packRun.stdout);
    expect(typeof doc).toBe('object');
    expect(Array.isArray(doc)).toBe(false);
  });

  it("reports the contract's fields, consistent with the file on disk", () => {
    expect(packRun.status, packRun.stderr).toBe(0);
    const report = JSON.parse(packRun.stdout) as ReportJson;
    expect(report.format).toBe('sparrow');
    expect(report.version).toBe(1);
    expect(report.bytes).toBe(statSync(file).size);
    for (const k of ['params', 'nonzero', 'entropyBytes'] as const) expect(Number.isInteger(report[k]), k).toBe(true);
    expect(report.params).toBeGreaterThan(0);
    expect(report.nonzero).toBeGreaterThan(0);
    expect(report.nonzero).toBeLessThanOrEqual(report.params);

    const tensors = report.tensors;
    expect(tensors.length).toBeGreaterThan(0);
    // mnist-8 has three weight tensors (Conv, Conv, MatMul), each followed by its scales
    expect(tensors.map((t) => t.name)).toEqual([
      'Parameter5',
      'Parameter5.scale',
      'Parameter87',
      'Parameter87.scale',
      'Parameter193',
      'Parameter193.scale',
    ]);
    let params = 0,
      nonzero = 0,
      bytes = 0,
      entropy = 0;
    for (const t of tensors) {
      for (const k of ['name', 'shape', 'dtype', 'codec', 'density', 'bytes', 'entropyBytes'])
        expect(t, `${t.name}.${k}`).toHaveProperty(k);
      expect(typeof t.name).toBe('string');
      expect(t.shape.every((d) => Number.isInteger(d) && d >= 0)).toBe(true);
      expect(typeof t.codec).toBe('string');
      expect(t.codec.length).toBeGreaterThan(0);
      expect(t.density).toBeGreaterThanOrEqual(0);
      expect(t.density).toBeLessThanOrEqual(1);
      expect(Number.isInteger(t.bytes) && t.bytes >= 0).toBe(true);
      expect(Number.isInteger(t.entropyBytes) && t.entropyBytes >= 0).toBe(true);
      expect(t.entropyBytes, `${t.name}: Shannon bound above the stored size`).toBeLessThanOrEqual(t.bytes);
      const n = prod(t.shape);
      // params/nonzero count weights, not the quantization scales
      if (!t.name.endsWith('.scale')) {
        params += n;
        nonzero += Math.round(t.density * n); // density is rounded to 1e-6
      }
      bytes += t.bytes;
      entropy += t.entropyBytes;
      if (t.name.endsWith('.scale')) {
        expect(t.dtype).toBe('float32');
        expect(t.codec).toBe('raw');
        expect(t.bytes).toBe(4 * n);
      } else {
        expect(t.dtype).toBe('int8');
        // per-layer magnitude pruning to 50% (int8 rounding may zero a few more)
        expect(t.density).toBeLessThanOrEqual(0.5 + 1 / n);
        expect(t.density).toBeGreaterThan(0.4);
      }
    }
    expect(report.params).toBe(params);
    expect(report.nonzero).toBe(nonzero);
    expect(report.entropyBytes).toBe(entropy);
    expect(bytes).toBeLessThanOrEqual(report.bytes);
  });

  it('inspect --json reproduces the pack report', () => {
    const r = sparrow('inspect', file, '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(packRun.stdout));
  });

  it('human inspect output names every tensor', () => {
    const r = sparrow('inspect', file);
    expect(r.status, r.stderr).toBe(0);
    expect(() => JSON.parse(r.stdout)).toThrow();
    for (const t of (JSON.parse(packRun.stdout) as ReportJson).tensors) expect(r.stdout).toContain(t.name);
  });
});

describe('sparrow pack of .npy tensors', () => {
  const rnd = lcg(2024);
  // int8, 95% zeros in runs, nonzeros from a few positive levels: zero-run coding must win
  const sparse = Int8Array.from({ length: 64 * 64 }, () => (rnd() < 0.95 ? 0 : 1 + Math.floor(rnd() * rnd() * 4)));
  const dense = Int8Array.from({ length: 3 * 5 * 7 }, () => Math.floor(rnd() * 256) - 128);
  const floats = Float32Array.from({ length: 6 * 10 }, (_, i) => (i % 7 === 0 ? 0 : Math.sin(i) * 10 ** ((i % 9) - 4)));
  floats[1] = -0;
  floats[2] = Number.NaN;
  floats[3] = Number.POSITIVE_INFINITY;
  const inputs = [
    { name: 'layer0.weight', shape: [64, 64], data: sparse as Int8Array | Float32Array },
    { name: 'layer0.scale', shape: [6, 10], data: floats },
    { name: 'layer1.weight', shape: [3, 5, 7], data: dense },
  ];

  let out: string;
  let run: Run;
  beforeAll(() => {
    const args = inputs.map((t) => {
      const f = join(tmp, `${t.name}.npy`);
      writeFileSync(f, writeNpy(t.data, t.shape));
      return `${t.name}=${f}`;
    });
    out = join(tmp, 'npy.sparrow');
    run = sparrow('pack', ...args, '-o', out, '--json');
  });

  it('codes sparse int8 with rle-huffman and stores float32 raw', () => {
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as ReportJson;
    expect(report.bytes).toBe(statSync(out).size);
    expect(report.tensors.map((t) => t.name)).toEqual(inputs.map((t) => t.name));
    const [w0, s0, w1] = report.tensors as [TensorJson, TensorJson, TensorJson];
    expect(w0).toMatchObject({ shape: [64, 64], dtype: 'int8', codec: 'rle-huffman' });
    expect(w0.bytes).toBeLessThan(sparse.length / 4);
    expect(w0.density).toBeCloseTo(sparse.filter((v) => v !== 0).length / sparse.length, 6);
    expect(s0).toMatchObject({ shape: [6, 10], dtype: 'float32', codec: 'raw', bytes: 4 * floats.length });
    expect(w1).toMatchObject({ shape: [3, 5, 7], dtype: 'int8' });
  });

  it('round-trips every tensor exactly (readContainer + decodeInt8Ref)', () => {
    expect(run.status, run.stderr).toBe(0);
    const { header, payload } = readContainer(new Uint8Array(readFileSync(out)));
    expect(header.meta.tensors.map((t) => t.name)).toEqual(inputs.map((t) => t.name));
    header.meta.tensors.forEach((t, i) => {
      const src = inputs[i]!;
      expect(t.shape).toEqual(src.shape);
      const info = header.sections[t.section]!;
      const p = payload(t.section);
      let decoded: Uint8Array;
      if (t.dtype === 'int8') {
        const d = decodeInt8Ref(info.codec, p, prod(t.shape));
        decoded = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      } else {
        expect(t.dtype).toBe('float32');
        decoded = p;
      }
      const want = new Uint8Array(src.data.buffer, src.data.byteOffset, src.data.byteLength);
      expect(Buffer.from(decoded).equals(Buffer.from(want)), t.name).toBe(true);
    });
  });
});

describe('sparrow errors: one line on stderr, nothing on stdout', () => {
  let good: Uint8Array;
  beforeAll(() => {
    const f = join(tmp, 'ref.sparrow');
    const r = sparrow('pack', '--onnx', MNIST, '--sparsity', '0.5', '-o', f);
    expect(r.status, r.stderr).toBe(0);
    good = new Uint8Array(readFileSync(f));
  });

  const write = (name: string, bytes: Uint8Array): string => {
    const f = join(tmp, name);
    writeFileSync(f, bytes);
    return f;
  };

  it('missing file -> exit 1, io_error', () => {
    expectFailure(sparrow('inspect', join(tmp, 'does-not-exist.sparrow'), '--json'), 1, /^sparrow: io_error: /);
    expectFailure(sparrow('pack', '--onnx', join(tmp, 'nope.onnx'), '-o', join(tmp, 'nope.sparrow')), 1, /^sparrow: io_error: /);
  });

  it('one flipped byte in the middle -> exit 1, checksum_mismatch', () => {
    // the middle byte of the largest payload section (padding and header bytes have other checks)
    const { header } = readContainer(good);
    const s = header.sections.reduce((a, b) => (b.storedBytes > a.storedBytes ? b : a));
    const bad = good.slice();
    bad[s.offset + (s.storedBytes >> 1)]! ^= 0x5a;
    for (const json of [[], ['--json']]) {
      expectFailure(sparrow('inspect', write('flipped.sparrow', bad), ...json), 1, /^sparrow: checksum_mismatch\b/);
    }
  });

  it('truncated file -> exit 1, truncated', () => {
    expectFailure(sparrow('inspect', write('half.sparrow', good.slice(0, good.length >> 1))), 1, /^sparrow: truncated\b/);
    expectFailure(sparrow('inspect', write('short.sparrow', good.slice(0, good.length - 1)), '--json'), 1, /^sparrow: truncated\b/);
    expectFailure(sparrow('inspect', write('tiny.sparrow', good.slice(0, 20))), 1, /^sparrow: truncated\b/);
  });

  it('random bytes -> exit 1, bad_magic', () => {
    const rnd = lcg(99);
    const junk = Uint8Array.from({ length: 4096 }, () => Math.floor(rnd() * 256));
    junk[0] = 0x7f; // never the magic's 0x89
    expectFailure(sparrow('inspect', write('junk.sparrow', junk), '--json'), 1, /^sparrow: bad_magic\b/);
    expectFailure(sparrow('inspect', MNIST), 1, /^sparrow: bad_magic\b/); // an ONNX file is not a .sparrow
  });

  it('unknown command -> exit 2', () => {
    expectFailure(sparrow('frobnicate', 'x'), 2, /^sparrow: .*frobnicate/);
  });

  it('--sparsity out of range -> non-zero exit, clear message, no output file', () => {
    const f = join(tmp, 'never.sparrow');
    expectFailure(sparrow('pack', '--onnx', MNIST, '--sparsity', '1.5', '-o', f, '--json'), 'nonzero', /^sparrow: .*--sparsity.*1\.5/);
    expectFailure(sparrow('pack', '--onnx', MNIST, '--sparsity', 'abc', '-o', f), 'nonzero', /^sparrow: .*--sparsity/);
    expect(existsSync(f)).toBe(false);
  });
});
