#!/usr/bin/env node
// Thin ESM shim: the CLI lives in src/cli/main.ts, compiled to dist/cli/main.js by `npm run build`.
// main(argv) resolves to the process exit code.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
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
