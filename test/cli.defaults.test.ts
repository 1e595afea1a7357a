// Defaults that do not trap, and errors that say what went wrong (issue 16, part 5), on the
// built CLI (bin/sparrow.js -> dist/):
//   - compress --calib stores static activation ranges unless --activations dynamic is given;
//   - its summary reports what was done: per-layer density and bits, the layers that stayed
//     dense, a size target (not a sparsity) for --target-size, whether ranges were stored;
//   - eval warns when a dataset's usual mean/std is missing, and only then;
//   - usage mistakes exit 2 with `sparrow: usage: …`; `eval --data <a folder>` and a bad
//     `--filter` regex are coded errors (exit 1), never "internal error".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DType, parseHeaderPrefix, readContainer } from '../src/format/container.js';
import { parseNpy, writeNpy } from '../src/io/npy.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MNIST = 'examples/models/mnist-8.onnx';
const RESNET = 'examples/models/resnet20-cifar10.onnx';
const CALIB = 'npy:examples/calib/mnist-t10k-0-63.npy';

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
function expectCoded(r: Run, status: number, pattern: RegExp): void {
  expect(r.status, r.stderr).toBe(status);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/internal error/);
}
function ranges(file: string): Record<string, unknown> | undefined {
  const h = parseHeaderPrefix(new Uint8Array(readFileSync(file)));
  if (!('meta' in h)) throw new Error('header not parsed');
  return h.meta['activationRanges'] as Record<string, unknown> | undefined;
}

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-defaults-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('compress --calib', () => {
  it('stores static activation ranges by default, and says so with per-layer density and bits', () => {
    const f = join(tmp, 'static.sparrow');
    const r = sparrow('compress', MNIST, '-o', f, '--calib', CALIB);
    expect(r.status, r.stderr).toBe(0);
    const stored = ranges(f);
    expect(stored && Object.keys(stored).length).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/static activation ranges stored for \d+ values/);
    expect(r.stdout).not.toMatch(/no activation ranges/);
    // the layer table: one row per weight layer with density and bits; the first and last stayed dense
    const table = r.stdout.slice(r.stdout.indexOf('layer  '));
    expect(table).toMatch(/^layer\s+op\s+shape\s+density\s+bits/);
    const rows = table.split('\n').filter((l) => /\s(Conv|Gemm|MatMul)\s/.test(l));
    expect(rows).toHaveLength(3); // mnist-8: two Conv and one MatMul
    for (const row of rows) expect(row).toMatch(/\s(0|1)\.\d{3}\s+[1-8](\s+dense)?$/);
    expect(rows.filter((l) => /dense$/.test(l))).toHaveLength(2);
    expect(r.stdout).toMatch(/2 stayed dense: /);
    expect(r.stdout).toMatch(/hessian pruning, sparsity 0\.5 per layer/);
  });

  it('--activations dynamic opts out: no ranges stored, and the summary says so', () => {
    const f = join(tmp, 'dynamic.sparrow');
    const r = sparrow('compress', MNIST, '-o', f, '--calib', CALIB, '--activations', 'dynamic');
    expect(r.status, r.stderr).toBe(0);
    expect(ranges(f)).toBeUndefined();
    expect(r.stdout).toMatch(/no activation ranges stored/);
  });

  it('without --calib nothing changes: dynamic (no data to measure ranges on)', () => {
    const f = join(tmp, 'nocalib.sparrow');
    const r = sparrow('compress', MNIST, '-o', f);
    expect(r.status, r.stderr).toBe(0);
    expect(ranges(f)).toBeUndefined();
    expect(r.stdout).toMatch(/magnitude pruning, sparsity 0\.5 per layer/);
  });

  it('a --target-size run reports the size target, not a sparsity it did not use', () => {
    const f = join(tmp, 'target.sparrow');
    const r = sparrow('compress', MNIST, '-o', f, '--calib', CALIB, '--target-size', '9000');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/size target of 9000 bytes \(\d+ written\)/);
    expect(r.stdout).not.toMatch(/sparsity 0\.5/);
    expect(r.stdout).toContain(`(${readFileSync(f).length} written)`);
  });
});

describe('run and eval: the default engine (defaultEngine)', () => {
  it('a .sparrow with activation ranges runs on sparrow-int8, one without on sparrow-f32, an .onnx on sparrow-f32', () => {
    const withRanges = join(tmp, 'default-static.sparrow');
    const without = join(tmp, 'default-dynamic.sparrow');
    expect(sparrow('compress', MNIST, '-o', withRanges, '--calib', CALIB).status).toBe(0);
    expect(sparrow('compress', MNIST, '-o', without, '--calib', CALIB, '--activations', 'dynamic').status).toBe(0);
    const x = join(tmp, 'digit.npy');
    const digits = parseNpy(new Uint8Array(readFileSync(join(ROOT, 'examples/calib/mnist-t10k-9000-9015.npy'))));
    writeFileSync(
      x,
      writeNpy(
        Float32Array.from((digits.data as Uint8Array).slice(0, 784), (v) => v / 255),
        [1, 1, 28, 28],
      ),
    );
    const engineOf = (model: string, ...more: string[]): string => {
      const r = sparrow('run', model, '--input', `Input3=${x}`, '--out', tmp, '--json', ...more);
      expect(r.status, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { engine: string }).engine;
    };
    expect(engineOf(withRanges)).toBe('sparrow-int8');
    expect(engineOf(without)).toBe('sparrow-f32');
    expect(engineOf(MNIST)).toBe('sparrow-f32');
    expect(engineOf(withRanges, '--engine', 'sparrow-f32')).toBe('sparrow-f32');
  });
});

describe('eval and the usual mean/std', () => {
  // two CIFAR-10 records in the binary format (1 label byte + 3072 pixel bytes each)
  const cifar = (): string => {
    const f = join(tmp, 'two.bin');
    const b = new Uint8Array(2 * 3073);
    for (let i = 0; i < b.length; i++) b[i] = (i * 37) & 255;
    b[0] = 3;
    b[3073] = 5;
    writeFileSync(f, b);
    return f;
  };
  it('warns when cifar10 is evaluated without mean/std, not when they are given', () => {
    const data = cifar();
    const bare = sparrow('eval', RESNET, '--dataset', 'cifar10', '--data', data, '--json');
    expect(bare.status, bare.stderr).toBe(0);
    expect(bare.stderr).toMatch(/warning: .*no mean\/std.*--mean 0\.485,0\.456,0\.406 --std 0\.229,0\.224,0\.225/);
    expect(JSON.parse(bare.stdout)).toMatchObject({ dataset: 'cifar10', n: 2 });
    const given = sparrow(
      'eval',
      RESNET,
      '--dataset',
      'cifar10',
      '--data',
      data,
      '--json',
      ...['--mean', '0.485,0.456,0.406', '--std', '0.229,0.224,0.225'],
    );
    expect(given.status, given.stderr).toBe(0);
    expect(given.stderr).not.toMatch(/warning/);
  });
});

describe('coded errors', () => {
  it('usage mistakes exit 2 with `sparrow: usage: …`', () => {
    expectCoded(sparrow('compress', MNIST), 2, /^sparrow: usage: .*required option '-o, --output <file>' not specified/);
    expectCoded(sparrow('inspect'), 2, /^sparrow: usage: .*missing required argument 'file'/);
    expectCoded(sparrow('inspect', 'x.sparrow', '--frobnicate'), 2, /^sparrow: usage: .*unknown option '--frobnicate'/);
    expectCoded(sparrow('frobnicate'), 2, /^sparrow: usage: .*frobnicate/);
  });

  it('eval --data <a folder> for cifar10 is io_error naming the folder (and the .bin files in it)', () => {
    const dir = join(tmp, 'cifar-folder');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'test_batch.bin'), new Uint8Array(3073));
    const r = sparrow('eval', RESNET, '--dataset', 'cifar10', '--data', dir);
    expectCoded(r, 1, /^sparrow: io_error: .*cifar-folder is a folder; cifar10: give the CIFAR-10 binary file.*test_batch\.bin/);
  });

  it('a bad --filter regex is invalid_argument', () => {
    expectCoded(
      sparrow('conformance', tmp, '--filter', '('),
      1,
      /^sparrow: invalid_argument: --filter "\(" is not a valid regular expression/,
    );
  });
});

describe('compress --codec', () => {
  // --codec rans asks for the smallest file: every codec (0..6) is allowed per tensor, so the
  // file is no larger than with --codec huffman or with codec 5 alone, and it holds rANS sections
  it('rans: rANS sections (codec 4, 5 or 6), smaller than huffman; a bad name is refused with a code', () => {
    const codecs = (f: string): number[] =>
      readContainer(new Uint8Array(readFileSync(f)))
        .header.sections.filter((s) => s.dtype === DType.Int8)
        .map((s) => s.codec);
    const hf = join(tmp, 'huff.sparrow'),
      rf = join(tmp, 'rans.sparrow');
    for (const [f, c] of [
      [hf, 'huffman'],
      [rf, 'rans'],
    ] as const) {
      const r = sparrow('compress', MNIST, '-o', f, '--sparsity', '0', '--codec', c);
      expect(r.status, r.stderr).toBe(0);
    }
    expect(codecs(hf).every((c) => c <= 3)).toBe(true);
    const rc = codecs(rf);
    expect(
      rc.some((c) => c === 4 || c === 5 || c === 6),
      String(rc),
    ).toBe(true);
    expect(readFileSync(rf).length).toBeLessThan(readFileSync(hf).length);
    expectCoded(sparrow('compress', MNIST, '-o', join(tmp, 'x.sparrow'), '--codec', 'zstd'), 1, /invalid_argument.*--codec/);
  });
});
