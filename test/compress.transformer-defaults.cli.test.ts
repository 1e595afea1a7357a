// `sparrow compress` defaults on a transformer (MatMul/Gemm weights and embedding tables, no
// convolution): no pruning (TRANSFORMER_DEFAULT_SPARSITY = 0) instead of the CNN default of 50 %,
// which raised stories260K's cross-entropy by 180 % (docs/compression.md, scripts/eval-llm.mjs:
// the default file scores as --sparsity 0, CE +0.00 %). Oracle: the default file is the
// `--sparsity 0` file byte for byte, a CNN's default file is its `--sparsity 0.5` file, and the
// summary says what was chosen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-tdef-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function compress(model: string, out: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', 'compress', model, '-o', join(tmp, out), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 240_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('compress defaults', () => {
  it('a transformer (stories260K) is not pruned by default, and the summary says so', () => {
    const d = compress('examples/models/stories260K-kv.onnx', 'default.sparrow');
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/weight tensors, not pruned/);
    expect(d.stdout).toMatch(/Transformer defaults .*sparsity 0, not the CNN default 0\.5/);
    expect(d.stderr).toMatch(/transformer defaults: sparsity 0/);
    const s0 = compress('examples/models/stories260K-kv.onnx', 's0.sparrow', '--sparsity', '0');
    const s5 = compress('examples/models/stories260K-kv.onnx', 's5.sparrow', '--sparsity', '0.5');
    expect(s0.status).toBe(0);
    expect(s5.status).toBe(0);
    expect(s0.stdout).not.toMatch(/Transformer defaults/);
    const bytes = (f: string) => readFileSync(join(tmp, f));
    expect(bytes('default.sparrow').equals(bytes('s0.sparrow'))).toBe(true);
    expect(bytes('default.sparrow').equals(bytes('s5.sparrow'))).toBe(false);
  }, 300_000);

  it('a CNN (mnist-8) keeps the 50 % default', () => {
    const d = compress('examples/models/mnist-8.onnx', 'm.sparrow');
    const s5 = compress('examples/models/mnist-8.onnx', 'm5.sparrow', '--sparsity', '0.5');
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).not.toMatch(/Transformer defaults/);
    expect(readFileSync(join(tmp, 'm.sparrow')).equals(readFileSync(join(tmp, 'm5.sparrow')))).toBe(true);
  }, 120_000);
});
