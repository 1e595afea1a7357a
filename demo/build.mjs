#!/usr/bin/env node
// `npm run build:demo`: bundles the demo page (demo/main.ts + src/browser) with esbuild into
// the Worker's assets directory (wrangler.toml `[assets] directory`, else public/) together
// with index.html, style.css, build/sparrow.wasm and build/sparrow.relaxed.wasm (run `npm run
// build:wasm` first; the page picks the relaxed build where the browser has relaxed SIMD), the
// sample images, demo-manifest.json (ONNX sizes of the bundled examples, sample list) and a
// `_headers` file: the Worker's static assets are served with COOP/COEP, so the page is
// cross-origin isolated (SharedArrayBuffer, WASM threads: src/browser `numThreads`).
// Usage: node demo/build.mjs [--out <dir>] [--quiet]
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The assets directory wrangler.toml configures, else public/. */
export function assetsDir() {
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  const section = /^\s*\[assets\]\s*$([\s\S]*?)(?=^\s*\[|(?![\s\S]))/m.exec(toml);
  const dir = section && /^\s*directory\s*=\s*"([^"]+)"/m.exec(section[1])?.[1];
  return resolve(ROOT, dir ?? 'public');
}

export async function buildDemo({ out = assetsDir(), quiet = false } = {}) {
  const wasm = join(ROOT, 'build', 'sparrow.wasm');
  if (!existsSync(wasm)) throw new Error(`${relative(ROOT, wasm)} not found: run \`npm run build:wasm\` first`);
  mkdirSync(out, { recursive: true });
  const { metafile } = await build({
    absWorkingDir: ROOT,
    entryPoints: [join(ROOT, 'demo', 'main.ts')],
    outfile: join(out, 'demo.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    metafile: true,
    logLevel: quiet ? 'silent' : 'warning',
  });
  // The page loads .sparrow files only: the ONNX decoder (onnx-proto + protobufjs, ~130 KB
  // minified) must not reach it (src/runtime/onnx_import.ts). The minified bundle no longer
  // names it, so the metafile is what can tell.
  const onnx = Object.keys(metafile.inputs).filter((f) => /node_modules\/(onnx-proto|@?protobufjs)\//.test(f));
  if (onnx.length > 0) {
    throw new Error(
      `build:demo: demo.js includes the ONNX decoder (${onnx.length} modules, e.g. ${onnx[0]}); ` +
        'something the page imports reaches onnx-proto statically (see src/runtime/onnx_import.ts)',
    );
  }
  for (const f of ['index.html', 'style.css']) copyFileSync(join(ROOT, 'demo', f), join(out, f));
  copyFileSync(wasm, join(out, 'sparrow.wasm'));
  const relaxed = join(ROOT, 'build', 'sparrow.relaxed.wasm');
  if (existsSync(relaxed)) copyFileSync(relaxed, join(out, 'sparrow.relaxed.wasm'));
  // the threads builds (src/browser numThreads: shared memory, helper Web Workers)
  for (const f of ['sparrow.threads.wasm', 'sparrow.relaxed.threads.wasm'])
    if (existsSync(join(ROOT, 'build', f))) copyFileSync(join(ROOT, 'build', f), join(out, f));
  // Cloudflare static assets read `_headers` (wrangler dev too): cross-origin isolation for the page
  writeFileSync(join(out, '_headers'), '/*\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n');
  const samples = {};
  mkdirSync(join(out, 'samples'), { recursive: true });
  copyFileSync(join(ROOT, 'demo', 'samples', 'README.md'), join(out, 'samples', 'README.md'));
  for (const kind of ['cifar10', 'mnist']) {
    const src = join(ROOT, 'demo', 'samples', kind),
      dst = join(out, 'samples', kind);
    mkdirSync(dst, { recursive: true });
    const files = readdirSync(src).sort();
    for (const f of files) copyFileSync(join(src, f), join(dst, f));
    samples[kind === 'cifar10' ? 'cifar' : 'mnist'] = files.filter((f) => f.endsWith('.png')).map((f) => `samples/${kind}/${f}`);
  }
  const onnxBytes = {};
  const models = join(ROOT, 'examples', 'models');
  for (const f of readdirSync(models)) if (f.endsWith('.onnx')) onnxBytes[f.slice(0, -5)] = statSync(join(models, f)).size;
  writeFileSync(join(out, 'demo-manifest.json'), JSON.stringify({ onnxBytes, samples }, null, 1) + '\n');
  if (!quiet)
    console.log(`demo built into ${relative(ROOT, out) || '.'}/ (demo.js ${(statSync(join(out, 'demo.js')).size / 1024).toFixed(1)} KiB)`);
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--out');
  buildDemo({ ...(i >= 0 ? { out: resolve(args[i + 1]) } : {}), quiet: args.includes('--quiet') }).catch((e) => {
    console.error(`build:demo: ${e.message}`);
    process.exit(1);
  });
}
