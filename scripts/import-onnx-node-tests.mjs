#!/usr/bin/env node
// Copies ONNX backend node tests (test_*/model.onnx + test_data_set_*/*.pb, Apache-2.0) out of a
// git copy of github.com/onnx/onnx into test/fixtures/onnx-node/, for ops the shared suite in
// ../shared/data/onnx-node-tests does not cover (a development step; CI reads the copies).
// onnx/onnx removed the generated folders from its tree in a8f77b5b9; they are read from its
// parent commit, ONNX 1.23.0.
//
//   node scripts/import-onnx-node-tests.mjs <onnx git dir> <regex of test names> [...]
//   e.g. node scripts/import-onnx-node-tests.mjs /work/.mirror/onnx+onnx/repo '^test_resize_' '^test_lstm_'
//
// Tests already in ../shared/data/onnx-node-tests are skipped (they run from there).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ONNX_COMMIT = '6be0677fc22e74563e6eb472f931513aefe5648d'; // parent of a8f77b5b9, ONNX 1.23.0
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'test', 'fixtures', 'onnx-node');
const SHARED = join(ROOT, '..', 'shared', 'data', 'onnx-node-tests');

const [gitDir, ...patterns] = process.argv.slice(2);
if (!gitDir || patterns.length === 0) {
  console.error('usage: node scripts/import-onnx-node-tests.mjs <onnx git dir> <regex> [...]');
  process.exit(2);
}
const git = (...args) =>
  execFileSync('git', ['--git-dir', gitDir.endsWith('.git') || existsSync(join(gitDir, 'HEAD')) ? gitDir : join(gitDir, '.git'), ...args], {
    maxBuffer: 1 << 28,
  });
const base = 'onnx/backend/test/data/node/';
const files = git('ls-tree', '-r', '--name-only', ONNX_COMMIT, base).toString().split('\n').filter(Boolean);
const res = patterns.map((p) => new RegExp(p));
const wanted = new Set();
for (const f of files) {
  const test = f.slice(base.length).split('/')[0];
  if (res.some((r) => r.test(test)) && !existsSync(join(SHARED, test))) wanted.add(test);
}
let n = 0,
  bytes = 0;
for (const f of files) {
  const rel = f.slice(base.length);
  if (!wanted.has(rel.split('/')[0])) continue;
  const data = git('show', `${ONNX_COMMIT}:${f}`);
  const dst = join(OUT, rel);
  mkdirSync(dirname(dst), { recursive: true });
  writeFileSync(dst, data);
  n++;
  bytes += data.length;
}
if (!existsSync(join(OUT, 'LICENSE'))) writeFileSync(join(OUT, 'LICENSE'), git('show', `${ONNX_COMMIT}:LICENSE`));
console.log(`${wanted.size} tests, ${n} files, ${(bytes / 1024).toFixed(0)} KiB into test/fixtures/onnx-node/`);
