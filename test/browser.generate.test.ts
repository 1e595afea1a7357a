// The demo's text panel in Chromium (/usr/bin/chromium through playwright-core), served by the
// Worker (`wrangler dev` on a free loopback port, fresh local R2 state): stories260K with float32
// weights and its stored tokenizer (what `sparrow compress --float --tokenizer` writes) is PUT
// as `stories260K`, the page downloads it once and generates in the tab; the edge column reads
// the Worker's /generate stream.
//  - greedy, 200 tokens from BOS, on-device in Chromium = the text and tokens of the TS Llama
//    forward pass over the llama2.c checkpoint (test/fixtures/text/stories260K-greedy-bos-200.json,
//    kept equal to src/bench/llama_ref.ts by text.fixtures.data.test.ts); the edge column too;
//  - the Write button (sampled, one seed) writes the same story in both columns;
//  - tokens/s of each printed (figures, not asserted). Screenshot: test-artifacts/demo-text.png.
// Without /usr/bin/chromium the suite skips loudly (browser.test.ts fails under CI=true).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from '../scripts/chromium.mjs';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { writeSparrowModel } from '../src/runtime/sparrow_model.js';
import { withText } from '../src/format/text.js';
import '../src/ops/ref/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ARTIFACTS = join(ROOT, 'test-artifacts');
const GREEDY = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/text/stories260K-greedy-bos-200.json'), 'utf8')) as {
  tokens: number[];
  stdout: string;
};

if (!HAVE_CHROMIUM) process.stderr.write(`\n!! test/browser.generate.test.ts: ${CHROMIUM} is missing: SKIPPED\n`);

interface TextRun {
  text: string;
  tokens: number[];
  firstMs: number;
  ms: number;
  tokensPerS: number;
  decodeTokensPerS: number | null;
  stopReason: string;
  server?: Record<string, unknown>;
}
type Where = 'device' | 'edge' | 'both';
interface Demo {
  ready: Promise<void>;
  models(): Array<{ id: string }>;
  generate(id: string, o: unknown, where: Where): Promise<{ device?: TextRun; edge?: TextRun }>;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = netServer();
    s.once('error', rej);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** `wrangler dev` as scripts/start.js runs it (own process group). */
async function startWrangler(persist: string, token: string): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let out = '';
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--persist-to',
      persist,
      '--var',
      `ADMIN_TOKEN:${token}`,
      '--show-interactive-dev-session=false',
    ],
    {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: 'true' },
    },
  );
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${out.slice(-3000)}`);
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      throw new Error(`wrangler dev did not answer within 90 s:\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { child, base };
}

describe.skipIf(!HAVE_CHROMIUM)('browser: the demo writes a story on-device and at the edge', () => {
  let wrangler: ChildProcess | undefined;
  let persist = '';
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let page: import('playwright-core').Page;
  const pageErrors: string[] = [];
  const figures: string[] = [];

  const gen = (o: unknown, where: Where) =>
    page.evaluate(([o, where]) => (window as unknown as { sparrowDemo: Demo }).sparrowDemo.generate('stories260k', o, where), [
      o,
      where,
    ] as const);

  beforeAll(async () => {
    const { buildDemo } = (await import('../demo/build.mjs' as string)) as { buildDemo(o?: { quiet?: boolean }): Promise<string> };
    await buildDemo({ quiet: true });
    // `sparrow compress --float --tokenizer`: the optimized graph, float32 weights, the llama2.c tokenizer
    const g = importOnnx(new Uint8Array(readFileSync(join(ROOT, 'examples/models/stories260K-kv.onnx'))));
    optimize(g);
    const bytes = withText(writeSparrowModel(g, {}), {
      kind: 'llama2c',
      tokenizer: new Uint8Array(readFileSync(join(ROOT, 'examples/models/stories260K-kv.tokenizer.bin'))),
      vocabSize: 512,
      contextLength: 512,
    });
    persist = mkdtempSync(join(tmpdir(), 'sparrow-wrangler-'));
    const token = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
    const w = await startWrangler(persist, token);
    wrangler = w.child;
    const r = await fetch(`${w.base}/v1/models/stories260k`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}` },
      body: new Blob([bytes as Uint8Array<ArrayBuffer>]),
    });
    expect(r.status, await r.text()).toBe(201);

    browser = await launchChromium({ viewport: { width: 1180, height: 900 } });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(w.base + '/');
    await page.evaluate(() => (window as unknown as { sparrowDemo: Demo }).sparrowDemo.ready);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (wrangler?.pid) {
      try {
        process.kill(-wrangler.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (persist) rmSync(persist, { recursive: true, force: true });
    if (figures.length) process.stdout.write(`\nstories260K in Chromium and the Worker (wrangler dev):\n  ${figures.join('\n  ')}\n`);
  });

  it('greedy, 200 tokens from BOS, on-device in Chromium = the llama2.c reference text; the edge column too', async () => {
    const o = { prompt: [1], maxTokens: 200, temperature: 0, seed: 0 };
    const { device } = await gen(o, 'device');
    expect(device!.tokens).toEqual(GREEDY.tokens.slice(1));
    expect(device!.text + '\n').toBe(GREEDY.stdout);
    const { edge } = await gen(o, 'edge');
    expect(edge!.tokens).toEqual(GREEDY.tokens.slice(1));
    expect(edge!.text + '\n').toBe(GREEDY.stdout);
    expect(pageErrors).toEqual([]);
  }, 120_000);

  it('tokens/s on-device and at the edge (greedy, "Once upon a time", 200 tokens, one after the other, 3 runs each)', async () => {
    const o = { prompt: 'Once upon a time', maxTokens: 200, temperature: 0, seed: 0 };
    for (let i = 0; i < 3; i++) {
      for (const where of ['device', 'edge'] as const) {
        const r = (await gen(o, where))[where]!;
        expect(r.tokens).toHaveLength(200);
        figures.push(
          `${where.padEnd(6)} run ${i + 1}: ${r.tokensPerS.toFixed(1)} tokens/s from the request, ${r.decodeTokensPerS?.toFixed(1)} after the first token ` +
            `(first token ${r.firstMs.toFixed(0)} ms)` +
            (r.server
              ? `; the Worker's clock: ${String(r.server['tokens_per_s'])} tokens/s, decode ${String(r.server['decode_tokens_per_s'])}`
              : ''),
        );
      }
    }
  }, 180_000);

  it('the Write button: the same story in both columns (sampled, one seed); screenshot', async () => {
    await page.fill('#prompt', 'Lily and Ben');
    await page.fill('#max-tokens', '120');
    await page.fill('#temperature', '0.8');
    await page.fill('#seed', '42');
    await page.click('#write');
    await page.waitForFunction(() => (document.querySelector('#text-agree')?.textContent ?? '').length > 0, undefined, { timeout: 60_000 });
    expect(await page.textContent('#text-agree')).toMatch(/both columns wrote the same story/);
    const device = (await page.textContent('#out-device'))!;
    expect(device.startsWith('Lily and Ben')).toBe(true);
    expect(await page.textContent('#out-edge')).toBe(device);
    expect(await page.textContent('#stats-device')).toMatch(/tokens\/s/);
    expect(await page.textContent('#stats-edge')).toMatch(/tokens\/s/);
    figures.push(`Write button: device "${await page.textContent('#stats-device')}", edge "${await page.textContent('#stats-edge')}"`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'demo-text.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
