// The demo's static assets as workerd serves them (Miniflare, the wrangler.toml [assets] binding
// over a fresh `node demo/build.mjs --out <tmp>`): every file, the page and the WASM builds
// included, carries Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy:
// require-corp (the `_headers` file the build writes), so the page is cross-origin isolated and
// src/browser's numThreads can run WASM threads; the threads builds are among the assets.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

async function bundleWorker(): Promise<string> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['src/worker/index.ts'],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    plugins: [
      {
        name: 'wasm-module',
        setup(b) {
          b.onResolve({ filter: /\.wasm$/ }, () => ({ path: './sparrow.wasm', external: true }));
        },
      },
    ],
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

describe('worker: the demo assets are served cross-origin isolated (COOP/COEP)', () => {
  let mf: Miniflare | undefined;
  let out = '';

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'sparrow-assets-'));
    const { buildDemo } = (await import(/* @vite-ignore */ join(root, 'demo/build.mjs'))) as {
      buildDemo(o: { out: string; quiet: boolean }): Promise<string>;
    };
    await buildDemo({ out, quiet: true });
    const toml = readFileSync(join(root, 'wrangler.toml'), 'utf8');
    const date = /^\s*compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)![1]!;
    mf = new Miniflare({
      modules: [
        { type: 'ESModule', path: 'index.js', contents: await bundleWorker() },
        { type: 'CompiledWasm', path: 'sparrow.wasm', contents: readFileSync(join(root, 'build/sparrow.wasm')) },
      ],
      r2Buckets: ['MODELS'],
      assets: { directory: out, binding: 'ASSETS', routerConfig: { has_user_worker: true } },
      compatibilityDate: date,
      cf: false,
    });
    await mf.ready;
  }, 120_000);

  afterAll(async () => {
    await mf?.dispose();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  for (const [path, type] of [
    ['/', /^text\/html/],
    ['/demo.js', /javascript/],
    ['/sparrow.wasm', /^application\/wasm/],
    ['/sparrow.relaxed.wasm', /^application\/wasm/],
    ['/sparrow.threads.wasm', /^application\/wasm/],
    ['/sparrow.relaxed.threads.wasm', /^application\/wasm/],
  ] as const)
    it(`GET ${path}: 200, COOP same-origin, COEP require-corp`, async () => {
      const res = await mf!.dispatchFetch(`http://localhost${path}`);
      await res.arrayBuffer();
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(type);
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    });

  it('the API is the Worker (not an asset): /healthz answers JSON', async () => {
    const res = await mf!.dispatchFetch('http://localhost/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });
});
