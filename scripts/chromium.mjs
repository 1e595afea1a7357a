// Chromium for the browser tests and benchmarks: Debian's /usr/bin/chromium through
// playwright-core (`launchPersistentContext`, headless, `--no-sandbox --disable-gpu`), the
// browser entry bundled with esbuild, and a static loopback server (optionally cross-origin
// isolated: COOP/COEP, as the Worker serves the demo). One place for what test/browser*.test.ts,
// scripts/bench-browser.mjs, bench-matrix.mjs and docs-figures.mjs share.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** The browser: $CHROMIUM, else Debian's package. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A headless Chromium on a fresh profile directory; `close()` stops it and removes the profile.
 * @param {{ viewport?: { width: number, height: number } }} [options]
 * @returns {Promise<{ context: import('playwright-core').BrowserContext, close(): Promise<void> }>}
 */
export async function launchChromium(options = {}) {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'sparrow-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      ...(options.viewport ? { viewport: options.viewport } : {}),
      args: ARGS,
    });
    return {
      context,
      async close() {
        await context.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Bundles src/browser/index.ts into `dir`/sparrow.js as a browser ES module.
 * @param {string} dir
 */
export async function bundleBrowser(dir) {
  const { build } = await import('esbuild');
  await build({
    absWorkingDir: ROOT,
    entryPoints: { sparrow: join(ROOT, 'src/browser/index.ts') },
    outdir: dir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
  });
}

const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/**
 * A static server on a free loopback port for `files` (URL path → [content type, body]); 404
 * for anything else or for what `refuse(path)` says. `isolated` adds COOP/COEP.
 * @param {Map<string, [string, string | Uint8Array]>} files
 * @param {{ isolated?: boolean, refuse?: (path: string) => boolean }} [options]
 * @returns {Promise<{ base: string, server: import('node:http').Server }>}
 */
export async function serveFiles(files, options = {}) {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const f = files.get(path);
    if (!f || options.refuse?.(path)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': f[0], 'cache-control': 'no-store', ...(options.isolated ? ISOLATION : {}) });
    res.end(f[1]);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  return { base: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`, server };
}
