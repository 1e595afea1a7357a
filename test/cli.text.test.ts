// `sparrow compress --tokenizer` / `--float` and the CLI's use of a stored tokenizer (cli tier,
// bin/sparrow.js → dist/). Oracles: run.c's stdout for `-t 0 -n 20 -i "Lily and Ben"` (as in
// generate.cli.test.ts) from a float .sparrow alone in a folder (no tokenizer file beside it);
// the float64 encoder oracle of test/helpers/text_models.ts over the Rust tokenizers' ids of
// "Hello world" for `sparrow embed` of a .sparrow with a stored tokenizer.json.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encoderOnnxBytes } from './helpers/text_examples.js';
import { encoderOracle } from './helpers/text_models.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const KV = 'examples/models/stories260K-kv.onnx';
const TOK = 'examples/models/stories260K-kv.tokenizer.bin';
const LILY_AND_BEN = 'Lily and Ben were playing in the park. They liked to play with\n';
const EXPECTED = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/tokenizers/expected.json'), 'utf8')) as {
  strings: string[];
  cases: { wordpiece: Array<{ ids: number[] }> };
};

function sparrow(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-text-'));
  for (const d of ['f32', 'int8', 'enc']) mkdirSync(join(tmp, d));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('a tokenizer stored by sparrow compress', () => {
  it('--float --tokenizer: generate on the file alone prints what run.c prints; inspect counts no tokenizer bytes as weights', () => {
    const out = join(tmp, 'f32', 'stories.sparrow');
    const c = sparrow('compress', KV, '-o', out, '--float', '--tokenizer', TOK, '--json');
    expect(c.status, c.stderr).toBe(0);
    const report = JSON.parse(c.stdout) as { params: number; tensors: Array<{ name: string; dtype: string; params: number }> };
    const tok = report.tensors.find((t) => t.name === 'tokenizer')!;
    expect(tok).toMatchObject({ dtype: 'uint8', params: readFileSync(join(ROOT, TOK)).length });
    expect(report.tensors.filter((t) => t.dtype === 'int8')).toHaveLength(0);
    expect(report.params).toBe(report.tensors.filter((t) => t !== tok).reduce((a, t) => a + t.params, 0));
    expect(existsSync(join(dirname(out), 'tokenizer.bin'))).toBe(false);
    // run.c's 20 positions: "Lily and Ben" encodes to BOS + 4 tokens, so 16 are generated
    const g = sparrow('generate', out, '--prompt', 'Lily and Ben', '--temperature', '0', '--max-tokens', '16', '--json');
    expect(g.status, g.stderr).toBe(0);
    const j = JSON.parse(g.stdout) as { text: string; tokenizer: string };
    expect('Lily and Ben' + j.text + '\n').toBe(LILY_AND_BEN);
    expect(j.tokenizer).toMatch(/stored llama2c tokenizer/);
  });

  it('int8 with --tokenizer: generate finds the stored tokenizer (greedy text = the same file with --tokenizer given)', () => {
    const out = join(tmp, 'int8', 'stories.sparrow');
    const c = sparrow('compress', KV, '-o', out, '--sparsity', '0', '--tokenizer', TOK);
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/llama2c tokenizer stored \(6227 bytes\)/);
    const args = ['--prompt', 'Once upon a time', '--temperature', '0', '--max-tokens', '40'];
    const a = sparrow('generate', out, ...args);
    const b = sparrow('generate', out, ...args, '--tokenizer', TOK);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.startsWith('Once upon a time, there was')).toBe(true);
  });

  it('embed of an encoder with a stored tokenizer.json = the float64 oracle over the Rust tokenizers ids', () => {
    const onnx = join(tmp, 'encoder.onnx');
    writeFileSync(onnx, encoderOnnxBytes());
    const out = join(tmp, 'enc', 'encoder.sparrow');
    const c = sparrow('compress', onnx, '-o', out, '--float', '--tokenizer', 'test/fixtures/tokenizers/wordpiece/tokenizer.json');
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/huggingface tokenizer stored/);
    const e = sparrow('embed', out, '--text', EXPECTED.strings[0]!, '--json');
    expect(e.status, e.stderr).toBe(0);
    const v = (JSON.parse(e.stdout) as { vector: number[] }).vector;
    const want = encoderOracle(EXPECTED.cases.wordpiece[0]!.ids);
    expect(v).toHaveLength(want.length);
    v.forEach((x, d) => expect(Math.abs(x - want[d]!)).toBeLessThan(1e-5));
  });

  it('bad flags: --float with pruning or quantization flags, a missing tokenizer: one line, non-zero, no file written', () => {
    const out = join(tmp, 'bad.sparrow');
    for (const [args, re] of [
      [['--float', '--sparsity', '0.5'], /--float stores the weights unchanged; --sparsity cannot apply/],
      [['--float', '--weight-bits', '4', '--prune', 'magnitude'], /--prune, --weight-bits cannot apply/],
      [['--tokenizer', join(tmp, 'nope.bin')], /cannot read .*nope\.bin/],
    ] as const) {
      const r = sparrow('compress', KV, '-o', out, ...args);
      expect(r.status).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
      expect(existsSync(out)).toBe(false);
    }
  });
});
