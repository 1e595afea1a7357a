import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Pull compatibility_date / compatibility_flags from wrangler.toml so tests match deploys. */
async function readWranglerCompat(): Promise<{ date: string; flags: string[] }> {
  const toml = await readFile(new URL('../wrangler.toml', import.meta.url), 'utf8');
  const date = /^\s*compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  if (!date) throw new Error('wrangler.toml: compatibility_date not found');
  const flagsSrc = /^\s*compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1] ?? '';
  const flags = [...flagsSrc.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
  return { date, flags };
}

/** Bundle the TypeScript Worker to a single ES module, roughly as wrangler does. */
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
    // the kernels stay a separate CompiledWasm module, as wrangler's [[rules]] make them
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
  const out = result.outputFiles[0];
  if (!out) throw new Error('esbuild produced no output');
  return out.text;
}

describe('worker: /healthz', () => {
  let mf: Miniflare | undefined;

  beforeAll(async () => {
    const [script, compat, wasm] = await Promise.all([
      bundleWorker(),
      readWranglerCompat(),
      readFile(new URL('../build/sparrow.wasm', import.meta.url)),
    ]);
    mf = new Miniflare({
      modules: [
        { type: 'ESModule', path: 'index.js', contents: script },
        { type: 'CompiledWasm', path: 'sparrow.wasm', contents: wasm },
      ],
      r2Buckets: ['MODELS'],
      compatibilityDate: compat.date,
      compatibilityFlags: compat.flags,
      cf: false, // never fetch request.cf data from the network
    });
    await mf.ready;
  });

  afterAll(async () => {
    await mf?.dispose();
  });

  it('GET /healthz -> 200 {ok:true}', async () => {
    const res = await mf!.dispatchFetch('http://localhost/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('unknown path -> 404 JSON error envelope', async () => {
    const res = await mf!.dispatchFetch('http://localhost/definitely/not/here');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
    expect(body.error?.code).toBe('not_found');
    expect(typeof body.error?.message).toBe('string');
    expect(String(body.error?.message).length).toBeGreaterThan(0);
  });

  it('non-GET on /healthz -> 405 JSON error', async () => {
    const res = await mf!.dispatchFetch('http://localhost/healthz', { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toContain('GET');
    const body = (await res.json()) as { error?: { code?: unknown } };
    expect(body.error?.code).toBe('method_not_allowed');
  });
});
