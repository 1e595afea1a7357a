// `sparrow bench` end to end (bin/sparrow.js → dist/, built by `npm test`): the contract's JSON
// document (../shared/CONTRACT.md), sane numbers, the --report files, and one-line failures.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MNIST = 'examples/models/mnist-8.onnx';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}
function sparrow(...args: string[]): Run {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectOneLineFailure(r: Run, pattern: RegExp): void {
  expect(r.status, r.stderr).not.toBe(0);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

let tmp: string;
beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'dist/ missing: run `npm run build`').toBe(true);
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-bench-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('sparrow bench mnist-8 --runs 5 --json --report', () => {
  let r: Run;
  let doc: Record<string, any>;
  let reportDir: string;

  beforeAll(() => {
    reportDir = join(tmp, 'report');
    r = sparrow('bench', MNIST, '--runs', '5', '--json', '--report', reportDir);
  });

  it('exits 0 and prints exactly one JSON document on stdout', () => {
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.endsWith('\n')).toBe(true);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(1);
    doc = JSON.parse(r.stdout);
    expect(typeof doc).toBe('object');
    expect(r.stderr).toMatch(/bench:/); // progress goes to stderr
  });

  it('has every contract field', () => {
    expect(doc.model).toBe(MNIST);
    expect(doc.threads).toBe(1);
    expect(doc.runs).toBe(5);
    for (const k of ['onnx', 'onnx_gzip', 'onnx_brotli', 'sparrow']) expect(doc.sizes[k], k).toBeTypeOf('number');
    for (const k of ['sparrow_MBps', 'zlib_inflate_MBps']) expect(doc.decode[k], k).toBeTypeOf('number');
    // default: every available engine
    expect(Object.keys(doc.engines).sort()).toEqual(['ort-node', 'ort-web', 'sparrow-f32']);
    for (const [name, e] of Object.entries<Record<string, number>>(doc.engines)) {
      for (const k of ['p50_ms', 'p90_ms', 'load_ms', 'peak_rss_mb']) expect(e[k], `${name}.${k}`).toBeTypeOf('number');
    }
  });

  it('reports sane numbers', () => {
    const s = doc.sizes;
    expect(s.onnx).toBe(statSync(join(ROOT, MNIST)).size);
    for (const k of ['onnx', 'onnx_gzip', 'onnx_brotli', 'sparrow']) expect(s[k], k).toBeGreaterThan(0);
    expect(s.onnx_gzip).toBeLessThan(s.onnx);
    expect(s.sparrow).toBeLessThan(s.onnx); // int8 + 70% sparsity
    expect(s.sparrow_note).toMatch(/packed in memory/);
    expect(doc.decode.sparrow_MBps).toBeGreaterThan(0);
    expect(doc.decode.zlib_inflate_MBps).toBeGreaterThan(0);
    for (const [name, e] of Object.entries<Record<string, number>>(doc.engines)) {
      expect(e.p50_ms, name).toBeGreaterThan(0);
      expect(e.p50_ms, name).toBeLessThanOrEqual(e.p90_ms!);
      expect(e.load_ms, name).toBeGreaterThan(0);
      expect(e.peak_rss_mb, name).toBeGreaterThan(10);
    }
    // the engines compute the same function
    expect(doc.engines['ort-web'].max_abs_diff).toBeLessThan(1e-4);
    expect(doc.engines['ort-node'].max_abs_diff).toBeLessThan(1e-4);
    expect(doc.inputs).toEqual({ Input3: { dtype: 'float32', dims: [1, 1, 28, 28] } });
  });

  it('--report writes bench.md and bench.svg', () => {
    const md = readFileSync(join(reportDir, 'bench.md'), 'utf8');
    expect(md).toMatch(/^# sparrow bench/);
    expect(md).toMatch(/^\| engine \| p50 ms \| p90 ms \|/m);
    for (const e of ['sparrow-f32', 'ort-web', 'ort-node']) expect(md).toContain(`| \`${e}\` |`);
    const svg = readFileSync(join(reportDir, 'bench.svg'), 'utf8').trim();
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.endsWith('</svg>')).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(svg.match(/<rect /g)!.length).toBeGreaterThanOrEqual(1 + 3 + 4); // background, 3 engines, 4 sizes
    // XML-ish: tags nest and close properly
    const stack: string[] = [];
    for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)[^>]*?(\/?)>/g)) {
      if (m[1]) expect(stack.pop(), m[0]).toBe(m[2]);
      else if (!m[3]) stack.push(m[2]!);
    }
    expect(stack).toEqual([]);
    expect(svg).not.toMatch(/&(?!amp;|lt;|gt;|quot;|apos;)/);
  });
});

describe('sparrow bench options', () => {
  it('--engines picks engines; --compressed uses the file; the human output is a table', () => {
    const packed = join(tmp, 'mnist.sparrow');
    expect(sparrow('pack', '--onnx', MNIST, '--sparsity', '0.5', '-o', packed).status).toBe(0);
    const r = sparrow('bench', MNIST, '--engines', 'ort-node', '--runs', '3', '--compressed', packed);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^engine\s+p50 ms\s+p90 ms/m);
    expect(r.stdout).toMatch(/^ort-node\s+\d/m);
    expect(r.stdout).not.toMatch(/sparrow-ref|ort-web/);
    expect(r.stdout).toContain(`sparrow ${(statSync(packed).size / 1024).toFixed(1)} KiB`);
    expect(r.stdout).not.toMatch(/packed in memory/);
  });

  it('fails in one line on unknown engines and bad numbers', () => {
    expectOneLineFailure(sparrow('bench', MNIST, '--engines', 'ort-node,nope', '--json'), /engine 'nope' is not available/);
    expectOneLineFailure(sparrow('bench', MNIST, '--runs', '0'), /--runs must be a positive integer/);
    expectOneLineFailure(sparrow('bench', join(tmp, 'missing.onnx')), /io_error/);
  });
});

describe('sparrow bench --cold: a fresh process per sample', () => {
  it('mnist-8, 2 samples of sparrow-int8 and sparrow-f32: interleaved samples, medians, decode+pack for int8 only', () => {
    const r = sparrow('bench', MNIST, '--cold', '--samples', '2', '--engines', 'sparrow-int8,sparrow-f32', '--json');
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.samples).toBe(2);
    expect(doc.raw.map((s: { engine: string }) => s.engine)).toEqual(['sparrow-int8', 'sparrow-f32', 'sparrow-int8', 'sparrow-f32']);
    // every sample ran in its own process: the start-up of each is its own (all positive)
    for (const s of doc.raw) for (const k of ['start_ms', 'load_ms', 'first_ms', 'warm_ms']) expect(s[k], k).toBeGreaterThan(0);
    expect(doc.engines['sparrow-int8'].weights_ms).toBeGreaterThan(0);
    expect(doc.engines['sparrow-f32'].weights_ms).toBeNull();
    // page faults of the main thread (Linux): the load faults in fresh pages (its WASM memory at
    // least), the medians are those of the samples
    if (process.platform === 'linux') {
      for (const s of doc.raw) {
        expect(Number.isInteger(s.load_faults) && s.load_faults > 0, `${s.engine} load_faults ${s.load_faults}`).toBe(true);
        expect(Number.isInteger(s.first_faults) && s.first_faults >= 0, `${s.engine} first_faults ${s.first_faults}`).toBe(true);
      }
      const lf = doc.raw.filter((s: { engine: string }) => s.engine === 'sparrow-int8').map((s: { load_faults: number }) => s.load_faults);
      expect(doc.engines['sparrow-int8'].load_faults).toBe((lf[0] + lf[1]) / 2);
    }
    // the median of two samples is their mean
    const l = doc.raw.filter((s: { engine: string }) => s.engine === 'sparrow-f32').map((s: { load_ms: number }) => s.load_ms);
    expect(doc.engines['sparrow-f32'].load_ms).toBeCloseTo((l[0] + l[1]) / 2, 2);
  });

  it('--node-option: the sample processes run with the Node.js options given (their own execArgv)', () => {
    const r = sparrow(
      'bench',
      MNIST,
      '--cold',
      '--samples',
      '1',
      '--engines',
      'sparrow-int8',
      '--node-option=--v8-pool-size=1',
      '--node-option',
      '--max-semi-space-size=4',
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.node_options).toEqual(['--v8-pool-size=1', '--max-semi-space-size=4']);
    expect(doc.raw[0].node_options).toEqual(['--v8-pool-size=1', '--max-semi-space-size=4']);
    // without the option, none
    const d = JSON.parse(sparrow('bench', MNIST, '--cold', '--samples', '1', '--engines', 'sparrow-int8', '--json').stdout);
    expect(d.node_options).toEqual([]);
    expect(d.raw[0].node_options).toEqual([]);
  });

  it('rejects --samples 0 and an engine it cannot open in one line', () => {
    expectOneLineFailure(sparrow('bench', MNIST, '--cold', '--samples', '0'), /--samples must be a positive integer/);
    expectOneLineFailure(sparrow('bench', MNIST, '--cold', '--engines', 'sparrow-ref'), /--cold: engine 'sparrow-ref' is not one of/);
    expectOneLineFailure(sparrow('bench', MNIST, '--cold', '--node-option', 'v8-pool-size=1'), /is not a Node.js option/);
    expectOneLineFailure(sparrow('bench', MNIST, '--node-option=--v8-pool-size=1'), /--node-option is for the sample processes of --cold/);
  });
});
