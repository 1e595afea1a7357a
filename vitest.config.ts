import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { exampleBindings } from './test/helpers/examples.js';
import { textBindings } from './test/helpers/text_examples.js';
import { TIER_FILES } from './test/helpers/tiers.js';

/**
 * The test tiers, one vitest project each (a file's name picks its tier: test/helpers/tiers.ts;
 * docs/development.md, "Tests"). `vitest run` runs them all (`npm test`); `--project <name>` one.
 *  - unit: in-process tests of the sources in Node: no ../shared/data, no CLI child processes, no
 *    workerd, no browser; the quick loop (`npm run test:unit`).
 *  - cli: cli.*.test.ts / *.cli.test.ts, the built command line (bin/sparrow.js → dist/).
 *  - data: *.data.test.ts, real data from ../shared/data or $SPARROW_DATA (test/helpers/data.ts).
 *  - workers: the Worker inside workerd with its R2 binding (@cloudflare/vitest-pool-workers,
 *    wrangler.toml's bindings and module rules), test/workers/*.workers.test.ts. Its models are
 *    the bundled examples compressed as `npm start` does (test/helpers/examples.ts, awaited when
 *    this pool starts).
 *  - workers-node: test/worker.*.test.ts, Node tests that drive workerd (Miniflare in process,
 *    `wrangler dev` through scripts/start.js, which compresses the examples itself, cached).
 *  - browser: test/browser*.test.ts, the browser runtime and demo page in Chromium.
 * SPARROW_TEST_TIER tells test/helpers/data.ts which tier runs (only `data` reads ../shared).
 *
 * Workers: unit, cli, data and workers-node run in two forks (on this 2-core machine vitest's
 * default is one; the main process mostly waits, and test/worker.e2e.test.ts mostly waits for its
 * `npm start`); then the workerd pool and Chromium run one file at a time (sequence.groupOrder 1).
 * `--maxWorkers=1` runs everything one file at a time.
 */
const exclude = (...tiers: Array<keyof typeof TIER_FILES>): string[] => [...configDefaults.exclude, ...tiers.flatMap((t) => TIER_FILES[t])];
const node = { environment: 'node', testTimeout: 60_000, hookTimeout: 60_000 } as const;
/**
 * Vitest's order, except that test/worker.e2e.test.ts starts first in its group: it mostly waits
 * for `npm start` (on a clean clone a minute of compressing the examples), which then overlaps the
 * other files instead of trailing them (vitest otherwise runs a group's projects in name order).
 */
class E2eFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const first = (f: TestSpecification): boolean => f.moduleId.endsWith('/test/worker.e2e.test.ts');
    return [...sorted.filter(first), ...sorted.filter((f) => !first(f))];
  }
}

/** the workerd pool and Chromium: after the others, one file at a time */
const serial = { maxWorkers: 1, sequence: { groupOrder: 1 } } as const;

export default defineConfig({
  test: {
    maxWorkers: 2,
    sequence: { sequencer: E2eFirst },
    projects: [
      {
        test: {
          ...node,
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...exclude('cli', 'data', 'workers', 'workers-node', 'browser'), 'test/workers/**'],
          env: { SPARROW_TEST_TIER: 'unit' },
          // one module graph per worker instead of one per file: importing src/ and the op registry
          // per file dominated the tier's CPU time; a unit test must leave no global state behind
          isolate: false,
        },
      },
      {
        test: {
          ...node,
          name: 'cli',
          include: [...TIER_FILES.cli],
          exclude: exclude('data'),
          env: { SPARROW_TEST_TIER: 'cli' },
          // each test spawns the CLI (its spawnSync calls allow up to 120 s)
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          ...node,
          name: 'data',
          include: [...TIER_FILES.data],
          env: { SPARROW_TEST_TIER: 'data' },
          // whole models over hundreds of real images: seconds on an idle machine, minutes on a busy one
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        plugins: [
          cloudflareTest(async () => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                ADMIN_TOKEN: 'test-admin-token',
                MAX_MODEL_BYTES: '1048576',
                ...(await exampleBindings()),
                ...(await textBindings()),
              },
            },
          })),
        ],
        test: {
          ...serial,
          name: 'workers',
          include: [...TIER_FILES.workers],
          exclude: exclude('data'),
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          ...node,
          name: 'workers-node',
          include: [...TIER_FILES['workers-node']],
          exclude: exclude('data'),
          env: { SPARROW_TEST_TIER: 'workers' },
        },
      },
      {
        test: {
          ...node,
          ...serial,
          name: 'browser',
          include: [...TIER_FILES.browser],
          exclude: exclude('data'),
          env: { SPARROW_TEST_TIER: 'browser' },
        },
      },
    ],
  },
});
