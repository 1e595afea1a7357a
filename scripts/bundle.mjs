#!/usr/bin/env node
// `npm run build:ts` (after tsc): the package's entries bundled into dist/pkg/, which
// package.json "exports" (and bin/sparrow.js) point at. tsc writes ~140 modules to dist/; Node
// loads each as a separate file, and a fresh process spent ~200 ms importing the package entry
// (more than loading a model and running it). esbuild bundles the entries together with code
// splitting: `.` (dist/index.js), `./browser`, `./worker` and the CLI become
// dist/pkg/{index,browser,worker,cli}.js plus shared chunks, so every module (and every class:
// isSparrowError is an instanceof check) exists once however many of the entries a program
// imports. Measured with scripts/import-time.mjs: docs/development.md, "The package bundle".
//
// What stays outside the bundle:
//  - npm packages (the dependencies are installed beside the package as before, and Node loads
//    CommonJS ones such as onnx-proto through its own loader, with protobufjs' optional `long`);
//    onnx-proto (with protobufjs, ~65 ms of the import) is required on first use, not at import
//    (LAZY_CJS below: only the ONNX reader and writers use it, and src/onnx/proto.ts reads its
//    namespace lazily). The `.` entry is Node's (it exports the Node adapter, src/wasm/node.ts);
//    the browser and Worker entries never reach onnx-proto (src/runtime/onnx_import.ts);
//  - the .wasm imports of the Worker entry (wrangler turns them into compiled modules);
//  - the modules the runtime reaches through a non-literal specifier (src/runtime/node_wasm.ts,
//    src/runtime/onnx_import.ts): the package entry and the CLI register both, so dist/pkg loads
//    no other file of dist/ (test/package.bundle.cli.test.ts). dist/pkg/ sits at the depth of the
//    other dist/ directories, so the relative URLs the modules build (../../build/sparrow.wasm)
//    still hold.
// The CLI is a fourth entry (dist/pkg/cli.js, which bin/sparrow.js runs): `sparrow --version`
// took ~0.55 s unbundled. `sparrow bench --cold` still spawns the unbundled dist/bench/cold.js
// for its samples (src/bench/cold.ts), and `npm run bench:*` and the scripts run dist/ as before.
// Usage: node scripts/bundle.mjs [--out dist/pkg]
import { build } from 'esbuild';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const BUNDLE_ENTRIES = {
  index: 'dist/index.js',
  browser: 'dist/browser/index.js',
  worker: 'dist/worker/index.js',
  cli: 'dist/cli/main.js',
};

/** CommonJS packages that the bundle requires on first use (Node's createRequire), not at import. */
export const LAZY_CJS = ['onnx-proto'];

/** esbuild plugin: `import x from '<pkg>'` of a LAZY_CJS package becomes a proxy that requires it on first property read. */
const lazyCjs = {
  name: 'lazy-cjs',
  setup(b) {
    const filter = new RegExp(`^(${LAZY_CJS.map((p) => p.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (a) => ({ path: a.path, namespace: 'lazy-cjs' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-cjs' }, (a) => ({
      contents:
        `import { createRequire } from 'node:module';\n` +
        `let m;\n` +
        `const load = () => (m ??= createRequire(import.meta.url)(${JSON.stringify(a.path)}));\n` +
        `export default new Proxy({}, { get: (_t, k) => load()[k], has: (_t, k) => k in load() });\n`,
      loader: 'js',
    }));
  },
};

export async function bundle({ out = join(ROOT, 'dist', 'pkg') } = {}) {
  for (const f of Object.values(BUNDLE_ENTRIES))
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} not found: run \`tsc -p tsconfig.build.json\` first`);
  rmSync(out, { recursive: true, force: true });
  const { metafile } = await build({
    absWorkingDir: ROOT,
    entryPoints: BUNDLE_ENTRIES,
    outdir: out,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    packages: 'external',
    external: ['*.wasm', 'node:*'],
    chunkNames: 'chunk-[hash]',
    plugins: [lazyCjs],
    metafile: true,
    logLevel: 'warning',
  });
  return metafile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const meta = await bundle(i > 0 ? { out: resolve(process.argv[i + 1]) } : {});
  const outs = Object.entries(meta.outputs);
  const bytes = outs.reduce((a, [, o]) => a + o.bytes, 0);
  console.log(`bundle: ${Object.keys(BUNDLE_ENTRIES).length} entries, ${outs.length} files, ${bytes} bytes in dist/pkg`);
}
