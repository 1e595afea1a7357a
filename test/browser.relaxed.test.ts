// Relaxed SIMD in Chromium (/usr/bin/chromium through playwright-core, headless): the browser
// entry (src/browser, bundled with esbuild) feature-detects relaxed SIMD and loads
// build/sparrow.relaxed.wasm; on the 7-bit ResNet-20 (test/fixtures/int8/resnet20.static7.sparrow)
// every dense conv runs on the relaxed kernel (i32x4.relaxed_dot_i8x16_i7x16_add_s,
// assembly/int8/relaxed.ts) with `winograd4: false`, and by default the 3x3 stride-1 convs from
// Cin 16 run on F(4x4) and the 3 others on it; the output bits of both builds equal Node's
// (resnet20.static7.expected.json, kept current by test/engine.int8-relaxed.test.ts). The page is
// served with COOP/COEP (cross-origin isolated, as the Worker serves the demo). The int8
// depthwise fixture (depthwise.static.sparrow) gives Node's bits on both builds too
// (depthwise.static.expected.json, kept current by test/engine.int8-depthwise.test.ts).
// Without /usr/bin/chromium the suite skips loudly (browser.test.ts fails under CI=true).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, HAVE_CHROMIUM, bundleBrowser, launchChromium, serveFiles } from '../scripts/chromium.mjs';
import { DEPTHWISE_DIMS, RELAXED_BATCH, depthwiseImages, relaxedImages } from './helpers/relaxed_fixture.js';
import type { BrowserModel as BrowserModelT } from '../src/browser/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
if (!HAVE_CHROMIUM) process.stderr.write(`\n!! test/browser.relaxed.test.ts: ${CHROMIUM} is missing: SKIPPED\n`);

const EXPECTED = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/int8/resnet20.static7.expected.json'), 'utf8')) as {
  output: string;
  dims: number[];
  bits: number[];
};
const DW_EXPECTED = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/int8/depthwise.static.expected.json'), 'utf8')) as typeof EXPECTED;

interface PageResult {
  isolated: boolean;
  supported: boolean;
  runs: Record<string, { simd: string; relaxedLayers: number; wino4Layers: number; dims: number[]; bits: number[] }>;
}

describe.skipIf(!HAVE_CHROMIUM)('browser: the relaxed-SIMD build in Chromium', () => {
  let dir = '';
  let served: Awaited<ReturnType<typeof serveFiles>> | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let base = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sparrow-relaxed-'));
    await bundleBrowser(dir);
    served = await serveFiles(
      new Map<string, [string, Buffer | string]>([
        // the bundle as a module of the page (page.evaluate cannot import: vite rewrites import())
        [
          '/',
          [
            'text/html',
            '<!doctype html><meta charset="utf-8"><title>relaxed</title><script type="module">import * as S from "/sparrow.js"; window.S = S;</script>',
          ],
        ],
        ['/sparrow.js', ['text/javascript', readFileSync(join(dir, 'sparrow.js'))]],
        ['/sparrow.wasm', ['application/wasm', readFileSync(join(ROOT, 'build/sparrow.wasm'))]],
        ['/sparrow.relaxed.wasm', ['application/wasm', readFileSync(join(ROOT, 'build/sparrow.relaxed.wasm'))]],
        ['/model.sparrow', ['application/octet-stream', readFileSync(join(ROOT, 'test/fixtures/int8/resnet20.static7.sparrow'))]],
        ['/depthwise.sparrow', ['application/octet-stream', readFileSync(join(ROOT, 'test/fixtures/int8/depthwise.static.sparrow'))]],
      ]),
      { isolated: true },
    );
    base = served.base;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    served?.server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('7-bit ResNet-20: relaxed build (auto-detected) = plain build = Node, bit for bit; every dense conv on the relaxed kernel (winograd4: false), or F(4x4) and the relaxed kernel (default)', async () => {
    const page = browser!.context.pages()[0] ?? (await browser!.context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(base + '/');
    await page.waitForFunction(() => 'S' in window);
    const x = Array.from(relaxedImages());
    const r = await page.evaluate(
      async ({ x, batch, output }) => {
        const S = (window as unknown as { S: typeof import('../src/browser/index.js') }).S;
        const out: PageResult = { isolated: globalThis.crossOriginIsolated, supported: S.relaxedSimdSupported(), runs: {} };
        const feeds = (names: readonly string[]) => ({
          [names[0]!]: { dtype: 'float32' as const, dims: [batch, 3, 32, 32], data: Float32Array.from(x) },
        });
        type Sess = BrowserModelT['session'];
        const record = (simd: string, session: Sess, y: { dims: number[]; data: unknown }) => {
          const d = y.data as Float32Array;
          const layers = session.report!.int8!.layers;
          return {
            simd,
            relaxedLayers: layers.filter((l) => l.kernel.endsWith('__wasmrelaxed')).length,
            wino4Layers: layers.filter((l) => l.kernel === 'qs8_wino4x4_3x3__wasmsimd').length,
            dims: y.dims,
            bits: Array.from(new Int32Array(d.buffer, d.byteOffset, d.length)),
          };
        };
        for (const simd of ['auto', 'plain', 'relaxed'] as const) {
          const m = await S.loadModel('/model.sparrow', { engine: 'sparrow-int8', simd, wasmUrl: '/sparrow.wasm' });
          const y = (await m.run(feeds(m.inputNames))).outputs[output]!;
          out.runs[simd] = record(m.simd, m.session, y);
          if (simd === 'relaxed') {
            // every dense conv on the relaxed kernel: a session of the same class with winograd4: false
            const Cls = m.session.constructor as unknown as {
              fromSparrow(b: Uint8Array, o: Record<string, unknown>): Promise<Sess>;
            };
            const bytes = new Uint8Array(await (await fetch('/model.sparrow')).arrayBuffer());
            const mod = (await S.compileWasm('/sparrow.relaxed.wasm')).module;
            const s = await Cls.fromSparrow(bytes, { engine: 'sparrow-int8', wasmModule: mod, winograd4: false });
            const y2 = (await s.run(feeds(s.inputNames)))[output]!;
            out.runs['relaxed-c4'] = record('relaxed', s, y2);
          }
        }
        return out;
      },
      { x, batch: RELAXED_BATCH, output: EXPECTED.output },
    );
    expect(errors).toEqual([]);
    expect(r.isolated).toBe(true);
    expect(r.supported).toBe(true);
    expect(r.runs['auto']!.simd).toBe('relaxed');
    expect(r.runs['relaxed']!.simd).toBe('relaxed');
    expect(r.runs['plain']!.simd).toBe('plain');
    expect(r.runs['relaxed-c4']!.relaxedLayers).toBeGreaterThanOrEqual(19);
    expect(r.runs['relaxed']!.relaxedLayers).toBe(3);
    expect(r.runs['relaxed']!.wino4Layers).toBe(16);
    expect(r.runs['plain']!.relaxedLayers).toBe(0);
    for (const k of ['auto', 'plain', 'relaxed', 'relaxed-c4']) {
      expect(r.runs[k]!.dims, k).toEqual(EXPECTED.dims);
      expect(r.runs[k]!.bits, k).toEqual(EXPECTED.bits);
    }
  }, 120_000);
  it('int8 depthwise convs (test/fixtures/int8/depthwise.static.sparrow: 3x3 and 5x5 at strides 1 and 2, a multiplier, a dilated one, tables): plain build = relaxed build = Node, bit for bit', async () => {
    const page = browser!.context.pages()[0] ?? (await browser!.context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(base + '/');
    await page.waitForFunction(() => 'S' in window);
    const r = await page.evaluate(
      async ({ x, dims, output }) => {
        const S = (window as unknown as { S: typeof import('../src/browser/index.js') }).S;
        const runs: Record<string, { simd: string; dw: number; dims: number[]; bits: number[] }> = {};
        for (const simd of ['plain', 'relaxed'] as const) {
          const m = await S.loadModel('/depthwise.sparrow', { engine: 'sparrow-int8', simd, wasmUrl: '/sparrow.wasm' });
          const y = (await m.run({ [m.inputNames[0]!]: { dtype: 'float32' as const, dims, data: Float32Array.from(x) } })).outputs[output]!;
          const d = y.data as Float32Array;
          runs[simd] = {
            simd: m.simd,
            dw: m.session.report!.int8!.layers.filter((l) => l.kernel === 'qs8_dwconv2d__wasmsimd').length,
            dims: y.dims,
            bits: Array.from(new Int32Array(d.buffer, d.byteOffset, d.length)),
          };
        }
        return runs;
      },
      { x: Array.from(depthwiseImages()), dims: DEPTHWISE_DIMS, output: DW_EXPECTED.output },
    );
    expect(errors).toEqual([]);
    for (const k of ['plain', 'relaxed']) {
      expect(r[k]!.simd, k).toBe(k);
      expect(r[k]!.dw, k).toBe(6);
      expect(r[k]!.dims, k).toEqual(DW_EXPECTED.dims);
      expect(r[k]!.bits, k).toEqual(DW_EXPECTED.bits);
    }
  }, 120_000);
});
