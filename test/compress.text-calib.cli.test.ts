// `sparrow compress --calib text:<file>` (src/compress/text_calib.ts, src/cli/textgen.ts
// tokenizeText) on stories260K: the text file is tokenized with the model's tokenizer and cut
// into windows that feed the float model (mask of ones, positions 0..T-1, empty past), whose
// MatMul inputs give the Hessians of the sequential OBS/GPTQ path. The text is written here,
// sampled from the float model (sparrow-f32, seeded; no download). Checks: the file records the
// calibration (spec, windows, method), stores no activation ranges (dynamic), and on held-out
// text (other seeds) its cross-entropy is no worse than the same command without --calib; the
// oracle is the float model's cross-entropy, as scripts/eval-llm.mjs measures it. Bad input:
// no tokenizer, too little text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from '../src/runtime/session.js';
import { generate } from '../src/runtime/generate.js';
import { Llama2cTokenizer } from '../src/io/tokenizer_llama2c.js';
import { Llama2cTextTokenizer } from '../src/io/tokenizer.js';
import type { Tensor } from '../src/ops/types.js';
import '../src/ops/ref/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = 'examples/models/stories260K-kv.onnx';
const TOK = 'examples/models/stories260K-kv.tokenizer.bin';
let tmp: string;
let f32: Session;
let tok: Llama2cTextTokenizer;

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `n` stories sampled from the float model (temperature 1, seeds seed0..), BOS first, at most `len` tokens each. */
async function sample(n: number, seed0: number, len: number): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const ids: number[] = [];
    for await (const t of generate(f32, [1], { temperature: 1, seed: seed0 + i, maxTokens: len, stop: tok.eos })) ids.push(t);
    out.push(ids);
  }
  return out;
}

const i64 = (v: number[]): Tensor => ({ dtype: 'int64', dims: [1, v.length], data: BigInt64Array.from(v, BigInt) });

/** Mean −log p(seq[t] | BOS, seq[<t]) in nats, teacher-forced in one run (scripts/eval-llm.mjs). */
async function crossEntropy(s: Session, seqs: number[][]): Promise<number> {
  let sum = 0;
  for (const seq of seqs) {
    const ids = [1, ...seq.slice(0, -1)];
    const f: Record<string, Tensor> = {
      input_ids: i64(ids),
      attention_mask: i64(ids.map(() => 1)),
      position_ids: i64(ids.map((_, i) => i)),
    };
    for (let l = 0; l < 5; l++)
      for (const kv of ['key', 'value'])
        f[`past_key_values.${l}.${kv}`] = { dtype: 'float32', dims: [1, 4, 0, 8], data: new Float32Array(0) };
    const logits = (await s.run(f, ['logits']))['logits']!.data as Float32Array;
    const V = 512;
    let ce = 0;
    for (let t = 0; t < ids.length; t++) {
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, logits[t * V + v]!);
      let z = 0;
      for (let v = 0; v < V; v++) z += Math.exp(logits[t * V + v]! - max);
      ce += Math.log(z) + max - logits[t * V + seq[t]!]!;
    }
    sum += ce / ids.length;
  }
  return sum / seqs.length;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-tcal-'));
  f32 = await Session.fromOnnx(new Uint8Array(readFileSync(join(ROOT, MODEL))), { engine: 'sparrow-f32' });
  tok = new Llama2cTextTokenizer(Llama2cTokenizer.fromBytes(new Uint8Array(readFileSync(join(ROOT, TOK))), 512));
  // calibration text: 24 stories (seeds 1000..), one paragraph each
  const stories = (await sample(24, 1000, 200)).map((ids) =>
    tok
      .decode(ids)
      .trim()
      .replace(/\n\s*\n/g, '\n'),
  );
  writeFileSync(join(tmp, 'calib.txt'), stories.join('\n\n') + '\n');
  writeFileSync(join(tmp, 'short.txt'), 'Once upon a time\n');
  // a degenerate text: one sentence over and over (what calibration on the wrong data gives)
  writeFileSync(join(tmp, 'same.txt'), Array(200).fill('Tom went to the park. The park was big.').join('\n\n') + '\n');
}, 120_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('compress --calib text:', () => {
  it('records the calibration, stores no ranges, and scores no worse on held-out text than without it', async () => {
    const common = ['--sparsity', '0', '--weight-bits', '6', '--tokenizer', TOK];
    const cal = cli(
      'compress',
      MODEL,
      '-o',
      join(tmp, 'cal.sparrow'),
      ...common,
      '--calib',
      `text:${join(tmp, 'calib.txt')}`,
      '--calib-n',
      '24',
      '--calib-window',
      '64',
    );
    expect(cal.status, cal.stderr).toBe(0);
    expect(cal.stderr).toMatch(/tokens, 24 window\(s\) of 64 tokens/);
    expect(cal.stdout).toMatch(/no activation ranges stored \(dynamic/);
    const plain = cli('compress', MODEL, '-o', join(tmp, 'plain.sparrow'), ...common);
    expect(plain.status, plain.stderr).toBe(0);
    const same = cli(
      'compress',
      MODEL,
      '-o',
      join(tmp, 'same.sparrow'),
      ...common,
      '--calib',
      `text:${join(tmp, 'same.txt')}`,
      '--calib-n',
      '24',
      '--calib-window',
      '64',
    );
    expect(same.status, same.stderr).toBe(0);

    const s = await Session.fromSparrow(new Uint8Array(readFileSync(join(tmp, 'cal.sparrow'))), { engine: 'sparrow-f32' });
    const p = await Session.fromSparrow(new Uint8Array(readFileSync(join(tmp, 'plain.sparrow'))), { engine: 'sparrow-f32' });
    expect(s.compression?.calib).toEqual({ spec: `text:${join(tmp, 'calib.txt')}`, n: 24 });
    expect(s.compression?.['method']).toBe('obs-joint-sequential');
    expect(p.compression?.calib).toBeUndefined();

    // held out: other seeds than the calibration text's
    const held = await sample(24, 1, 96);
    const ceFloat = await crossEntropy(f32, held);
    const ceCal = await crossEntropy(s, held);
    const cePlain = await crossEntropy(p, held);
    const d = await Session.fromSparrow(new Uint8Array(readFileSync(join(tmp, 'same.sparrow'))), { engine: 'sparrow-f32' });
    const ceSame = await crossEntropy(d, held);
    d.dispose();
    expect(ceCal).toBeLessThanOrEqual(cePlain);
    // the text is what calibrates: one sentence repeated does worse than the stories
    expect(ceCal).toBeLessThan(ceSame);
    // within the budget of the float model (+3 %)
    expect(ceCal).toBeLessThan(ceFloat * 1.03);
    s.dispose();
    p.dispose();
  }, 400_000);

  it('refuses text calibration without a tokenizer, and a text shorter than one window', () => {
    const a = cli('compress', MODEL, '-o', join(tmp, 'x.sparrow'), '--sparsity', '0', '--calib', `text:${join(tmp, 'calib.txt')}`);
    expect(a.status).not.toBe(0);
    expect(a.stderr).toMatch(/--calib text: needs the model's tokenizer \(--tokenizer\)/);
    const b = cli(
      'compress',
      MODEL,
      '-o',
      join(tmp, 'y.sparrow'),
      '--sparsity',
      '0',
      '--tokenizer',
      TOK,
      '--calib',
      `text:${join(tmp, 'short.txt')}`,
    );
    expect(b.status).not.toBe(0);
    expect(b.stderr).toMatch(/fewer than one window of 128/);
  }, 120_000);
});
