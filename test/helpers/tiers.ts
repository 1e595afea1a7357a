// The test tiers: a file's name says which one it belongs to (vitest.config.ts makes one vitest
// project of each; docs/development.md, "Tests"). test/tiers.test.ts checks every file lands in
// exactly one tier and that only the data tier names the shared data.
//   unit     every other test/**/*.test.ts: in-process tests of the sources (src/ through vite,
//            build/*.wasm), no ../shared/data, no child processes of the CLI, workerd or a browser
//   cli      cli.*.test.ts and *.cli.test.ts: run the built command line (bin/sparrow.js → dist/)
//   data     *.data.test.ts: reads ../shared/data (or $SPARROW_DATA) through test/helpers/data.ts
//   workers  test/workers/**/*.workers.test.ts inside workerd (@cloudflare/vitest-pool-workers),
//            and test/worker.*.test.ts in Node driving workerd (Miniflare, `wrangler dev`)
//   browser  test/browser*.test.ts: Chromium (/usr/bin/chromium) through playwright-core
// A file that reads the shared data is in the data tier whatever else it does.
export const TIER_FILES = {
  cli: ['test/cli.test.ts', 'test/cli.*.test.ts', 'test/*.cli.test.ts'],
  data: ['test/**/*.data.test.ts'],
  workers: ['test/workers/**/*.workers.test.ts'],
  'workers-node': ['test/worker.*.test.ts'],
  browser: ['test/browser*.test.ts'],
} as const;

export type Tier = 'unit' | keyof typeof TIER_FILES;

/** The tier of a test file, by its path relative to the repository root ('/' separators). */
export function tierOf(file: string): Tier | undefined {
  if (!/^test\/.*\.test\.ts$/.test(file)) return undefined;
  if (file.endsWith('.data.test.ts')) return 'data';
  if (file.startsWith('test/workers/')) return file.endsWith('.workers.test.ts') ? 'workers' : undefined;
  const base = file.slice('test/'.length);
  if (base.includes('/')) return 'unit';
  if (/^worker\./.test(base)) return 'workers-node';
  if (/^browser/.test(base)) return 'browser';
  const parts = base.slice(0, -'.test.ts'.length).split('.');
  if (parts[0] === 'cli' || parts.at(-1) === 'cli') return 'cli';
  return 'unit';
}
