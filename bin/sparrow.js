#!/usr/bin/env node
// Thin ESM shim: the CLI lives in src/cli/main.ts, compiled to dist/cli/main.js by `npm run build`
// and bundled into dist/pkg/cli.js (scripts/bundle.mjs: a fresh process starts ~3x faster from the
// bundle); the unbundled file serves a tree built by tsc alone. main(argv) resolves to the process
// exit code.
import { existsSync } from 'node:fs';

const entry = [new URL('../dist/pkg/cli.js', import.meta.url), new URL('../dist/cli/main.js', import.meta.url)].find((u) => existsSync(u));
if (!entry) {
  console.error('sparrow: dist/cli/main.js not found; run `npm run build` first.');
  process.exit(1);
}

const { main } = await import(entry.href);
try {
  const code = await main(process.argv.slice(2));
  process.exitCode = typeof code === 'number' ? code : 0;
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
}
