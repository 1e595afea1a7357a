// WASM threads in Chromium (/usr/bin/chromium through playwright-core, headless): the browser
// entry's `numThreads` (src/browser: build/sparrow[.relaxed].threads.wasm on a shared memory,
// helper Web Workers, src/wasm/threads.ts). The oracle is Node's plain one-thread build
// (resnet20.static7.expected.json, kept current by test/engine.int8-relaxed.test.ts): int8 is
// exact, so every thread count gives those bits.
//   - a cross-origin isolated page (COOP/COEP, as the Worker serves the demo): numThreads 2 and 3
//     run on 2 and 3 threads, relaxed and plain builds, batch 3 (each image split: the c4 and c2
//     kernels by output pixels, Winograd on the plain build by output tiles) and batch 2 (whole
//     images), the helpers run some of the calls;
//   - the depthwise fixture (depthwise.static.sparrow, its bits kept current by
//     test/engine.int8-depthwise.test.ts) on 2 and 3 threads: every image split, the depthwise
//     convs by input channels;
//   - the same page without COOP/COEP (no SharedArrayBuffer): numThreads 2 falls back to one
//     thread, same bits;
//   - an isolated page whose server has no threads build: one thread, same bits.
// Without /usr/bin/chromium the suite skips loudly.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, HAVE_CHROMIUM, bundleBrowser, launchChromium, serveFiles } from '../scripts/chromium.mjs';
import { DEPTHWISE_DIMS, RELAXED_BATCH, depthwiseImages, relaxedImages } from './helpers/relaxed_fixture.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
if (!HAVE_CHROMIUM) process.stderr.write(`\n!! test/browser.threads.test.ts: ${CHROMIUM} is missing: SKIPPED\n`);

const DW_EXPECTED = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/int8/depthwise.static.expected.json'), 'utf8')) as {
  output: string;
  bits: number[];
};
const EXPECTED = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/int8/resnet20.static7.expected.json'), 'utf8')) as {
  output: string;
  dims: number[];
  bits: number[];
};

interface Run {
  threads: number;
  simd: string;
  dims: number[];
  bits: number[];
  helperCalls: number;
}
interface PageResult {
  isolated: boolean;
  info: { numThreads: number; available: boolean };
  runs: Record<string, Run>;
}

describe.skipIf(!HAVE_CHROMIUM)('browser: numThreads (WASM threads) in Chromium', () => {
  let dir = '';
  const servers: Server[] = [];
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  /** base URLs: isolated, not isolated, isolated without the threads builds */
  const base: Record<'isolated' | 'plain' | 'nothreads', string> = { isolated: '', plain: '', nothreads: '' };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sparrow-threads-'));
    await bundleBrowser(dir);
    const files = new Map<string, [string, Buffer | string]>([
      [
        '/',
        [
          'text/html',
          '<!doctype html><meta charset="utf-8"><title>threads</title><script type="module">import * as S from "/sparrow.js"; window.S = S;</script>',
        ],
      ],
      ['/sparrow.js', ['text/javascript', readFileSync(join(dir, 'sparrow.js'))]],
      ['/model.sparrow', ['application/octet-stream', readFileSync(join(ROOT, 'test/fixtures/int8/resnet20.static7.sparrow'))]],
      ['/depthwise.sparrow', ['application/octet-stream', readFileSync(join(ROOT, 'test/fixtures/int8/depthwise.static.sparrow'))]],
    ]);
    for (const f of ['sparrow.wasm', 'sparrow.relaxed.wasm', 'sparrow.threads.wasm', 'sparrow.relaxed.threads.wasm'])
      files.set(`/${f}`, ['application/wasm', readFileSync(join(ROOT, 'build', f))]);
    const serve = async (isolated: boolean, threads: boolean): Promise<string> => {
      const s = await serveFiles(files, { isolated, refuse: (path) => !threads && path.includes('.threads.') });
      servers.push(s.server);
      return s.base;
    };
    base.isolated = await serve(true, true);
    base.plain = await serve(false, true);
    base.nothreads = await serve(true, false);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    for (const s of servers) s.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the ResNet-20 fixture in a page of `url` with each option set; batch `batch`. */
  async function inPage(
    url: string,
    configs: Record<string, { numThreads: number; simd: 'plain' | 'relaxed' }>,
    batch: number,
  ): Promise<PageResult> {
    const page = await browser!.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    try {
      await page.goto(url + '/');
      await page.waitForFunction(() => 'S' in window);
      const per = 3 * 32 * 32;
      const x = Array.from(relaxedImages()).slice(0, batch * per);
      const r = await page.evaluate(
        async ({ x, batch, output, configs }) => {
          const S = (window as unknown as { S: typeof import('../src/browser/index.js') }).S;
          const out: PageResult = {
            isolated: globalThis.crossOriginIsolated,
            info: { numThreads: S.THREADS_INFO.numThreads, available: S.THREADS_INFO.available },
            runs: {},
          };
          for (const [k, c] of Object.entries(configs)) {
            const m = await S.loadModel('/model.sparrow', { engine: 'sparrow-int8', wasmUrl: '/sparrow.wasm', ...c });
            const feeds = { [m.inputNames[0]!]: { dtype: 'float32' as const, dims: [batch, 3, 32, 32], data: Float32Array.from(x) } };
            let y = (await m.run(feeds)).outputs[output]!;
            for (let i = 0; i < 3; i++) y = (await m.run(feeds)).outputs[output]!;
            const d = y.data as Float32Array;
            out.runs[k] = {
              threads: m.threads,
              simd: m.simd,
              dims: y.dims,
              bits: Array.from(new Int32Array(d.buffer, d.byteOffset, d.length)),
              helperCalls: m.threadStats?.helperCalls ?? 0,
            };
            m.dispose();
          }
          return out;
        },
        { x, batch, output: EXPECTED.output, configs },
      );
      expect(errors).toEqual([]);
      return r;
    } finally {
      await page.close();
    }
  }

  const want = (batch: number): number[] => EXPECTED.bits.slice(0, (EXPECTED.bits.length / RELAXED_BATCH) * batch);

  it('cross-origin isolated: 2 and 3 threads give the one-thread bits (= Node), relaxed and plain builds, by pixels and by images', async () => {
    const configs = {
      r1: { numThreads: 1, simd: 'relaxed' as const },
      r2: { numThreads: 2, simd: 'relaxed' as const },
      r3: { numThreads: 3, simd: 'relaxed' as const },
      p2: { numThreads: 2, simd: 'plain' as const },
    };
    for (const batch of [RELAXED_BATCH, 2]) {
      const r = await inPage(base.isolated, configs, batch);
      expect(r.isolated).toBe(true);
      expect(r.info.available).toBe(true);
      expect(r.info.numThreads).toBeGreaterThanOrEqual(1);
      expect(r.runs['r1']!.threads).toBe(1);
      expect(r.runs['r2']!.threads).toBe(2);
      expect(r.runs['r3']!.threads).toBe(3);
      expect(r.runs['p2']!.threads).toBe(2);
      expect(r.runs['r2']!.simd).toBe('relaxed');
      expect(r.runs['p2']!.simd).toBe('plain');
      for (const k of Object.keys(configs)) {
        expect(r.runs[k]!.dims, `${k} batch ${batch}`).toEqual([batch, ...EXPECTED.dims.slice(1)]);
        expect(r.runs[k]!.bits, `${k} batch ${batch}`).toEqual(want(batch));
      }
      // the helpers took calls (4 runs of ≥ 19 convs each)
      expect(r.runs['r2']!.helperCalls + r.runs['r3']!.helperCalls, `batch ${batch}`).toBeGreaterThan(0);
    }
  }, 240_000);

  it("the depthwise fixture (batch 2: every image in parts, depthwise by channels): 2 and 3 threads, relaxed and plain builds, give Node's bits", async () => {
    const page = await browser!.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    try {
      await page.goto(base.isolated + '/');
      await page.waitForFunction(() => 'S' in window);
      const r = await page.evaluate(
        async ({ x, dims, output }) => {
          const S = (window as unknown as { S: typeof import('../src/browser/index.js') }).S;
          const runs: Record<string, { threads: number; bits: number[]; helperCalls: number }> = {};
          for (const [k, c] of [
            ['r2', { numThreads: 2, simd: 'relaxed' as const }],
            ['r3', { numThreads: 3, simd: 'relaxed' as const }],
            ['p2', { numThreads: 2, simd: 'plain' as const }],
          ] as const) {
            const m = await S.loadModel('/depthwise.sparrow', { engine: 'sparrow-int8', wasmUrl: '/sparrow.wasm', ...c });
            const feeds = { [m.inputNames[0]!]: { dtype: 'float32' as const, dims, data: Float32Array.from(x) } };
            let y = (await m.run(feeds)).outputs[output]!;
            for (let i = 0; i < 3; i++) y = (await m.run(feeds)).outputs[output]!;
            const d = y.data as Float32Array;
            runs[k] = {
              threads: m.threads,
              bits: Array.from(new Int32Array(d.buffer, d.byteOffset, d.length)),
              helperCalls: m.threadStats?.helperCalls ?? 0,
            };
            m.dispose();
          }
          return runs;
        },
        { x: Array.from(depthwiseImages()), dims: DEPTHWISE_DIMS, output: DW_EXPECTED.output },
      );
      expect(errors).toEqual([]);
      expect(r['r2']!.threads).toBe(2);
      expect(r['r3']!.threads).toBe(3);
      expect(r['p2']!.threads).toBe(2);
      for (const k of ['r2', 'r3', 'p2']) expect(r[k]!.bits, k).toEqual(DW_EXPECTED.bits);
      expect(r['r2']!.helperCalls + r['r3']!.helperCalls + r['p2']!.helperCalls).toBeGreaterThan(0);
    } finally {
      await page.close();
    }
  }, 120_000);

  it('no cross-origin isolation, or no threads build on the server: numThreads 2 runs on one thread, same bits', async () => {
    const plain = await inPage(base.plain, { r2: { numThreads: 2, simd: 'relaxed' } }, RELAXED_BATCH);
    expect(plain.isolated).toBe(false);
    expect(plain.info).toEqual({ numThreads: 1, available: false });
    expect(plain.runs['r2']!.threads).toBe(1);
    expect(plain.runs['r2']!.bits).toEqual(EXPECTED.bits);
    const none = await inPage(base.nothreads, { r2: { numThreads: 2, simd: 'relaxed' } }, RELAXED_BATCH);
    expect(none.isolated).toBe(true);
    expect(none.runs['r2']!.threads).toBe(1);
    expect(none.runs['r2']!.bits).toEqual(EXPECTED.bits);
  }, 120_000);
});
