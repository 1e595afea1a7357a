#!/usr/bin/env node
// Measures what a Worker deploy uploads and what the demo page downloads, offline:
//   wrangler deploy --dry-run --outdir <tmp>   → Total Upload / gzip, index.js, the .wasm module
//   public/demo.js (npm run build:demo)         → bytes, gzip -9
// Prints one line per figure; `--json` prints one JSON document; `--write` also rewrites the
// marked sentences in README.md and docs/development.md (between <!-- bundle-size --> and
// <!-- /bundle-size -->), so the figures there always come from this script.
// Needs `npm run build` first (build/sparrow.wasm, public/demo.js).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const ROOT = new URL('..', import.meta.url).pathname;
const json = process.argv.includes('--json');
const write = process.argv.includes('--write');

const out = mkdtempSync(join(tmpdir(), 'sparrow-bundle-'));
let log;
try {
  log = execFileSync(process.execPath, [join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', out], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
} catch (e) {
  process.stderr.write(`bundle-size: wrangler deploy --dry-run failed:\n${e.stderr ?? e.message}\n`);
  process.exit(1);
}
const m = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(log);
if (!m) {
  process.stderr.write(`bundle-size: no "Total Upload" line in wrangler's output:\n${log}\n`);
  process.exit(1);
}
const files = Object.fromEntries(
  readdirSync(out)
    .filter((f) => !f.endsWith('.map'))
    .map((f) => [f, statSync(join(out, f)).size]),
);
rmSync(out, { recursive: true, force: true });
const wasm = Object.entries(files).find(([f]) => f.endsWith('.wasm'));
const demo = readFileSync(join(ROOT, 'public/demo.js'));
const r = {
  date: new Date().toISOString().slice(0, 10),
  totalKiB: Number(m[1]),
  gzipKiB: Number(m[2]),
  indexJsBytes: files['index.js'] ?? null,
  wasmBytes: wasm ? wasm[1] : null,
  demoJsBytes: demo.length,
  demoJsGzipBytes: gzipSync(demo, { level: 9 }).length,
};

const n = (x) => x.toLocaleString('en-US');
const sentence =
  `**${r.totalKiB} KiB uncompressed, ${r.gzipKiB} KiB gzip** (wrangler's Total Upload, ${r.date}, ` +
  `\`node scripts/bundle-size.mjs\`) — \`index.js\` ${n(r.indexJsBytes)} B + \`sparrow.wasm\` ${n(r.wasmBytes)} B; ` +
  `the demo page's \`demo.js\` is ${n(r.demoJsBytes)} B (${n(r.demoJsGzipBytes)} B gzip -9).`;

if (json) process.stdout.write(JSON.stringify(r) + '\n');
else process.stdout.write(sentence + '\n');

if (write) {
  for (const f of ['README.md', 'docs/development.md']) {
    const p = join(ROOT, f);
    const s = readFileSync(p, 'utf8');
    const re = /<!-- bundle-size -->[\s\S]*?<!-- \/bundle-size -->/g;
    if (!re.test(s)) {
      process.stderr.write(`bundle-size: ${f} has no <!-- bundle-size --> marker\n`);
      process.exit(1);
    }
    writeFileSync(p, s.replace(re, `<!-- bundle-size -->${sentence}<!-- /bundle-size -->`));
  }
  process.stderr.write('bundle-size: README.md and docs/development.md updated\n');
}
