// `sparrow bench <decoder with a KV cache>` end to end (bin/sparrow.js → dist/): tokens/s per
// engine in the bench's JSON (every contract field kept) and its text table. Oracle: the tokens
// every engine generated for the bench are the greedy tokens of the TypeScript Llama forward pass
// over the llama2.c checkpoint (src/bench/llama_ref.ts, kept in
// test/fixtures/text/stories260K-greedy-bos-200.json and checked against it by
// test/text.fixtures.data.test.ts): a bench whose engines decode garbage fails here.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const KV = 'examples/models/stories260K-kv.onnx';
const N = 24;
const FIXTURE = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/text/stories260K-greedy-bos-200.json'), 'utf8')) as {
  tokens: number[];
};
/** the reference's greedy tokens after BOS */
const REF = FIXTURE.tokens.slice(1, 1 + N);

function sparrow(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Engine {
  p50_ms: number;
  p90_ms: number;
  load_ms: number;
  tokens_per_s: number;
  prefill_ms: number;
  total_tokens_per_s: number;
  tokens: number[];
  same_tokens: boolean;
}

beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'dist/ missing: run `npm run build`').toBe(true);
  expect(REF).toHaveLength(N);
});

describe(`sparrow bench ${KV} (a decoder with past_key_values)`, () => {
  let doc: Record<string, any>;
  beforeAll(() => {
    const r = sparrow('bench', KV, '--engines', 'sparrow-f32,ort-web,ort-node', '--runs', '2', '--max-tokens', String(N), '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(1);
    doc = JSON.parse(r.stdout);
  }, 300_000);

  it('keeps the contract fields and adds tokens/s per engine', () => {
    expect(doc.model).toBe(KV);
    expect(doc.threads).toBe(1);
    expect(doc.runs).toBe(2);
    for (const k of ['onnx', 'onnx_gzip', 'onnx_brotli', 'sparrow']) expect(doc.sizes[k]).toBeGreaterThan(0);
    expect(doc.decode).toHaveProperty('sparrow_MBps');
    expect(doc.decode).toHaveProperty('zlib_inflate_MBps');
    expect(doc.generation).toMatchObject({ prompt: [1], max_tokens: N, cache: 'fixed', layers: 5, heads: 4, head_dim: 8 });
    expect(Object.keys(doc.engines)).toEqual(['sparrow-f32', 'ort-web', 'ort-node']);
    for (const e of Object.values(doc.engines) as Engine[]) {
      expect(e.tokens_per_s).toBeGreaterThan(0);
      expect(e.total_tokens_per_s).toBeGreaterThan(0);
      expect(e.prefill_ms).toBeGreaterThan(0);
      expect(e.p50_ms).toBeGreaterThan(0);
      expect(e.p90_ms).toBeGreaterThanOrEqual(e.p50_ms);
      expect(e.load_ms).toBeGreaterThan(0);
    }
  });

  it("every engine's bench tokens are the TypeScript reference's greedy tokens", () => {
    for (const [name, e] of Object.entries(doc.engines) as Array<[string, Engine]>) {
      expect(e.tokens, name).toEqual(REF);
      expect(e.same_tokens, name).toBe(true);
    }
  });
});

describe('sparrow bench <decoder> text table', () => {
  it('prints decode tok/s and p50 ms/token per engine', () => {
    const r = sparrow('bench', KV, '--engines', 'sparrow-f32,sparrow-int8', '--runs', '1', '--max-tokens', '8');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/decoder \(5 layers, 4 kv heads x 8\), greedy 8 tokens after \[1\]/);
    const head = lines.find((l) => l.startsWith('engine'))!;
    expect(head).toMatch(/decode tok\/s\s+p50 ms\/token/);
    for (const e of ['sparrow-f32', 'sparrow-int8']) {
      const row = lines.find((l) => l.startsWith(`${e} `));
      expect(row, r.stdout).toBeDefined();
      expect(Number(row!.trim().split(/\s+/)[1])).toBeGreaterThan(0);
    }
  }, 300_000);

  it('refuses a bad --max-tokens in one line', () => {
    const r = sparrow('bench', KV, '--max-tokens', '1');
    expect(r.status).not.toBe(0);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--max-tokens must be an integer >= 2/);
  });
});
