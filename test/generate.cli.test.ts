// `sparrow generate` and `sparrow embed` end to end (bin/sparrow.js → dist/, cli tier), on the
// repository's stories260K-kv.onnx and the tokenizer beside it. Oracles: run.c's stdout for
// `./run stories260K.bin -z tok512.bin -t 0 -n 20 -i "Lily and Ben"` (the string of
// test/llama.data.test.ts); for embed, a hand-built encoder whose pooled vector is the mean of
// its embedding table's rows, computed here. Bad input: one line on stderr, non-zero exit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../src/onnx/build.js';
import { HfTextTokenizer } from '../src/io/tokenizer.js';
import { Llama2cTokenizer } from '../src/io/tokenizer_llama2c.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const KV = 'examples/models/stories260K-kv.onnx';
const WORDPIECE = join(ROOT, 'test/fixtures/tokenizers/wordpiece');
// run.c -t 0 -n 20 -i "Lily and Ben" (test/llama.data.test.ts LILY_AND_BEN)
const LILY_AND_BEN = 'Lily and Ben were playing in the park. They liked to play with\n';

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

function expectFailure(r: Run, pattern: RegExp): void {
  expect(r.status, r.stderr).not.toBe(0);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  const lines = r.stderr.slice(0, -1).split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-gen-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('sparrow generate', () => {
  it('greedy: prints what run.c prints, tokens/s on stderr', () => {
    const tok = Llama2cTokenizer.fromBytes(new Uint8Array(readFileSync(join(ROOT, 'examples/models/stories260K-kv.tokenizer.bin'))), 512);
    const n = 20 - (tok.encode('Lily and Ben', { bos: true }).length - 1); // run.c's 20 positions
    for (const engine of ['sparrow-f32', 'sparrow-ref', 'ort-node']) {
      const r = sparrow('generate', KV, '--prompt', 'Lily and Ben', '--temperature', '0', '--max-tokens', String(n), '--engine', engine);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout, engine).toBe(LILY_AND_BEN);
      expect(r.stderr).toMatch(new RegExp(`^sparrow: ${n} tokens in [\\d.]+ s: [\\d.]+ tokens/s .*${engine}; stop: max_tokens\\)\\n$`));
    }
    // --no-echo: the continuation only; --tokenizer given explicitly
    const r = sparrow(
      'generate',
      KV,
      '--prompt',
      'Lily and Ben',
      '--temperature',
      '0',
      '--max-tokens',
      String(n),
      '--no-echo',
      '--tokenizer',
      'examples/models/stories260K-kv.tokenizer.bin',
    );
    expect(r.stdout).toBe(LILY_AND_BEN.slice('Lily and Ben'.length));
  });

  it('sampling: the same seed gives the same text, another seed another; --json has the tokens', () => {
    const run = (seed: string): { text: string; tokens: number[]; stop_reason: string; prompt_tokens: number } => {
      const r = sparrow(
        'generate',
        KV,
        '--prompt',
        'Once upon a time',
        '--temperature',
        '0.9',
        '--top-k',
        '40',
        '--top-p',
        '0.9',
        '--seed',
        seed,
        '--max-tokens',
        '60',
        '--json',
      );
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { text: string; tokens: number[]; stop_reason: string; prompt_tokens: number };
    };
    const a = run('11');
    const b = run('11');
    const c = run('12');
    expect(a.tokens).toEqual(b.tokens);
    expect(a.text).toBe(b.text);
    expect(c.tokens).not.toEqual(a.tokens);
    expect(a.prompt_tokens).toBe(5);
    expect(a.tokens.length).toBeLessThanOrEqual(60);
    expect(['max_tokens', 'stop_token']).toContain(a.stop_reason);
  });

  it('--prompt "" starts from BOS alone, as llama2.c does: the TS reference\'s greedy tokens from BOS', () => {
    // test/fixtures/text/stories260K-greedy-bos-200.json: src/bench/llama_ref.ts over the llama2.c checkpoint
    const ref = (JSON.parse(readFileSync(join(ROOT, 'test/fixtures/text/stories260K-greedy-bos-200.json'), 'utf8')) as { tokens: number[] })
      .tokens;
    const r = sparrow('generate', KV, '--prompt', '', '--temperature', '0', '--max-tokens', '40', '--json');
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { tokens: number[]; prompt_tokens: number };
    expect(doc.prompt_tokens).toBe(1);
    expect(doc.tokens).toEqual(ref.slice(1, 41));
  });

  it('refuses bad input with one line and a non-zero exit', () => {
    const base = ['generate', KV];
    // an empty prompt with a tokenizer that adds no BOS (the GPT-2-style byte-level fixture: encode('') = [])
    expectFailure(
      sparrow(...base, '--prompt', '', '--tokenizer', join(ROOT, 'test/fixtures/tokenizers/bytelevel/tokenizer.json')),
      /the prompt is empty and the tokenizer adds no BOS/,
    );
    expectFailure(sparrow(...base), /needs --prompt/);
    expectFailure(sparrow(...base, '--prompt', 'x', '--temperature', '-1'), /--temperature must be a number >= 0/);
    expectFailure(sparrow(...base, '--prompt', 'x', '--temperature', 'hot'), /--temperature/);
    expectFailure(sparrow(...base, '--prompt', 'x', '--top-p', '0'), /--top-p must be in \(0, 1\]/);
    expectFailure(sparrow(...base, '--prompt', 'x', '--top-p', '1.5'), /--top-p/);
    expectFailure(sparrow(...base, '--prompt', 'x', '--top-k', '2.5'), /--top-k must be an integer >= 0/);
    expectFailure(sparrow(...base, '--prompt', 'x', '--max-tokens', '0'), /--max-tokens must be an integer >= 1/);
    expectFailure(sparrow(...base, '--prompt', 'x', '--seed', 'abc'), /--seed/);
    expectFailure(sparrow(...base, '--prompt', 'x', '--engine', 'gpu'), /engine 'gpu' is not available/);
    expectFailure(sparrow(...base, '--prompt', 'x', '--tokenizer', join(tmp, 'nope.json')), /cannot read/);
    expectFailure(sparrow('generate', join(tmp, 'missing.onnx'), '--prompt', 'x'), /cannot read/);
    // a model without a tokenizer beside it
    copyFileSync(join(ROOT, KV), join(tmp, 'lonely.onnx'));
    expectFailure(sparrow('generate', join(tmp, 'lonely.onnx'), '--prompt', 'x'), /no tokenizer for .*--tokenizer/);
    // a model that is not a decoder with past
    expectFailure(
      sparrow('generate', 'examples/models/mnist-8.onnx', '--prompt', 'x', '--tokenizer', 'examples/models/stories260K-kv.tokenizer.bin'),
      /invalid_model: not a decoder with a KV cache/,
    );
  });

  it('--bench reports tokens/s per engine in one JSON document', () => {
    const r = sparrow(
      'generate',
      KV,
      '--prompt',
      'Once',
      '--max-tokens',
      '20',
      '--bench',
      '--engines',
      'sparrow-f32,ort-node',
      '--runs',
      '2',
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      engines: Record<string, { decode_tokens_per_s: number; same_tokens: boolean }>;
      max_tokens: number;
    };
    expect(Object.keys(doc.engines)).toEqual(['sparrow-f32', 'ort-node']);
    expect(doc.max_tokens).toBe(20);
    for (const e of Object.values(doc.engines)) {
      expect(e.decode_tokens_per_s).toBeGreaterThan(0);
      expect(e.same_tokens).toBe(true);
    }
  });
});

describe('sparrow embed', () => {
  const V = 600; // the wordpiece fixture's vocabulary
  const D = 8;
  const table = Float32Array.from({ length: V * D }, (_, i) => Math.cos(i * 0.37) + ((i * 7) % 11) * 0.05);
  let dir: string;
  beforeAll(() => {
    dir = join(tmp, 'enc');
    const bytes = buildModel({
      nodes: [{ op: 'Gather', inputs: ['E', 'input_ids'], outputs: ['last_hidden_state'] }],
      inputs: [
        { name: 'input_ids', dtype: 'int64', dims: ['B', 'S'] },
        { name: 'attention_mask', dtype: 'int64', dims: ['B', 'S'] },
      ],
      outputs: [{ name: 'last_hidden_state', dtype: 'float32', dims: ['B', 'S', D] }],
      initializers: { E: { dtype: 'float32', dims: [V, D], data: table } },
    });
    spawnSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'model.onnx'), bytes);
    copyFileSync(join(WORDPIECE, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    copyFileSync(join(WORDPIECE, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  });

  it('--json: { model, dims, vector }, the normalised mean of the tokens’ rows', () => {
    const text = 'Sparrow runs compressed networks';
    const tok = new HfTextTokenizer(
      readFileSync(join(WORDPIECE, 'tokenizer.json')),
      readFileSync(join(WORDPIECE, 'tokenizer_config.json')),
    );
    const ids = tok.encode(text);
    const mean = Array.from({ length: D }, (_, d) => ids.reduce((a, id) => a + table[id * D + d]!, 0) / ids.length);
    const norm = Math.hypot(...mean);
    const want = mean.map((x) => x / norm);
    for (const engine of ['sparrow-f32', 'sparrow-ref', 'ort-node']) {
      const r = sparrow('embed', join(dir, 'model.onnx'), '--text', text, '--json', '--engine', engine);
      expect(r.status, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as { model: string; dims: number; vector: number[] };
      expect(Object.keys(doc)).toEqual(['model', 'dims', 'vector']);
      expect(doc.model).toBe(join(dir, 'model.onnx'));
      expect(doc.dims).toBe(D);
      doc.vector.forEach((x, i) => expect(Math.abs(x - want[i]!)).toBeLessThan(1e-6));
    }
    // without --json: the numbers on one line, a summary on stderr
    const r = sparrow('embed', join(dir, 'model.onnx'), '--text', text);
    expect(r.stdout.trim().split(' ').map(Number)).toHaveLength(D);
    expect(r.stderr).toMatch(/8 dims/);
  });

  it('refuses bad input with one line and a non-zero exit', () => {
    const m = join(dir, 'model.onnx');
    expectFailure(sparrow('embed', m, '--text', ''), /the text is empty/);
    expectFailure(sparrow('embed', m), /needs --text/);
    expectFailure(sparrow('embed', m, '--text', 'x', '--engine', 'nope'), /engine 'nope'/);
    expectFailure(sparrow('embed', KV, '--text', 'hello'), /invalid_model/);
  });
});
