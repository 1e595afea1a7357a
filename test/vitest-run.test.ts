// scripts/vitest-run.mjs (`npm test`'s runner): it re-runs, once, only the workerd test files whose
// pool failed to start, and only when nothing else failed. The texts below are vitest's own
// summaries (colours stripped or kept), the first from the CI run that failed on 2026-12-07.
import { describe, expect, it } from 'vitest';
import { poolStartOnly } from '../scripts/vitest-run.mjs';

const poolError = (files: string): string =>
  ` Unhandled Errors \nVitest caught 1 unhandled error during the test run.\n Unhandled Error \nError: [vitest-pool]: Failed to start cloudflare-pool worker for test files ${files}.\n` +
  ` ❯ node_modules/vitest/dist/chunks/cli-api.B0Pz1_R7.js:3532:94\nCaused by: AssertionError: false == true\n ❯ SynchronousFetcher.fetch node_modules/miniflare/dist/src/index.js:77247:38\n`;
const summary = (failed: number, errors: number): string =>
  ` Test Files  ${failed ? `${failed} failed | ` : ''}178 passed (179)\n      Tests  2959 passed | 3 skipped (2962)\n     Errors  ${errors} error${errors === 1 ? '' : 's'}\n   Start at  05:51:25\n`;
const failedTest =
  ' Failed Tests 1 \n FAIL  unit  test/compress.obs.test.ts > compensation > brute force\nError: Property failed after 295 tests\n';

describe('scripts/vitest-run.mjs: what a failed run may retry', () => {
  it('a pool start and nothing else: that file', () => {
    expect(poolStartOnly(poolError('/check/work/main/test/workers/text.workers.test.ts') + summary(0, 1))).toEqual([
      '/check/work/main/test/workers/text.workers.test.ts',
    ]);
  });

  it('two pool starts, one naming two files: both files, once each', () => {
    const text =
      poolError('/r/test/workers/a.workers.test.ts, /r/test/workers/b.workers.test.ts') + poolError('/r/test/workers/a.workers.test.ts');
    expect(poolStartOnly(text + summary(0, 2))).toEqual(['/r/test/workers/a.workers.test.ts', '/r/test/workers/b.workers.test.ts']);
  });

  it('with colours on, the same', () => {
    const coloured = `\x1b[31m\x1b[1mError\x1b[22m: [vitest-pool]: Failed to start cloudflare-pool worker for test files /r/test/workers/c.workers.test.ts.\x1b[39m\n\x1b[2m     Errors \x1b[22m \x1b[1m\x1b[31m1 error\x1b[39m\x1b[22m\n`;
    expect(poolStartOnly(coloured)).toEqual(['/r/test/workers/c.workers.test.ts']);
  });

  it('a failed test beside it (the CI run of 2026-12-07): no retry', () => {
    expect(poolStartOnly(failedTest + poolError('/r/test/workers/text.workers.test.ts') + summary(1, 1))).toBeNull();
  });

  it('a failed file without a "Failed Tests" block (a file that does not load): no retry', () => {
    expect(poolStartOnly(poolError('/r/test/workers/text.workers.test.ts') + summary(1, 1))).toBeNull();
  });

  it('another unhandled error beside it: no retry', () => {
    expect(poolStartOnly(poolError('/r/test/workers/text.workers.test.ts') + 'Error: boom\n' + summary(0, 2))).toBeNull();
  });

  it('a failure that is not a pool start at all: no retry', () => {
    expect(poolStartOnly('Error: boom\n' + summary(0, 1))).toBeNull();
    expect(poolStartOnly('')).toBeNull();
  });
});
