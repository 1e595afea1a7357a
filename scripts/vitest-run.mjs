#!/usr/bin/env node
// `npm test`'s runner: `vitest run <args>`, and once more for the workerd test files whose pool
// failed to START, when that is the only thing that went wrong.
//
// Why. @cloudflare/vitest-pool-workers starts one workerd (a Miniflare) per test file and reaches
// it through Miniflare's SynchronousFetcher; once in a few dozen CI runs that start fails inside
// Miniflare (`Failed to start cloudflare-pool worker for test files <file>`, caused by
// `AssertionError: false == true` at SynchronousFetcher.fetch: the reply message was missing) and
// the file's tests never run. Vitest reports it as an unhandled error and exits 1.
//
// What is retried, and nothing else: if the run failed, no test failed ("Failed Tests" absent, no
// failed file in the summary), and every unhandled error is such a pool start, the files named are
// run again, once, in the workers project. Their result is the result. Any test failure, or any
// other error, fails at once as before.
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);

/** Runs vitest with `argv`, echoing its output; resolves to { code, text }. */
function vitest(argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...argv], {
      stdio: ['inherit', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (b) => {
      process.stdout.write(b);
      text += b;
    });
    child.stderr.on('data', (b) => {
      process.stderr.write(b);
      text += b;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), text }));
  });
}

// eslint-disable-next-line no-control-regex
const plain = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

/** The files a failed run may retry, or null when the failure is anything else. */
export function poolStartOnly(raw) {
  const text = plain(raw);
  if (/Failed Tests \d+/.test(text) || /Test Files\s+\d+ failed/.test(text)) return null;
  const starts = [...text.matchAll(/Failed to start cloudflare-pool worker for test files (.+?)\.\s*$/gm)];
  const errors = /Errors\s+(\d+) errors?/.exec(text);
  if (starts.length === 0 || !errors || Number(errors[1]) !== starts.length) return null;
  return [...new Set(starts.flatMap((m) => m[1].split(/,\s*/)))];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const first = await vitest(args);
  let code = first.code;
  if (code !== 0) {
    const files = poolStartOnly(first.text);
    if (files) {
      console.log(`\n::: vitest-run: retrying ${files.length} file(s) whose workerd pool failed to start: ${files.join(' ')}`);
      code = (await vitest(['--project', 'workers', ...files])).code;
    }
  }
  process.exit(code);
}
