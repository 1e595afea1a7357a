import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Two projects, one `vitest run`:
 *  - node: unit/integration tests in Node (test/**\/*.test.ts). `test/worker.healthz.test.ts`
 *    drives Miniflare programmatically and `test/worker.e2e.test.ts` runs `wrangler dev` through
 *    scripts/start.js; both are Node tests.
 *  - workers: request-level tests of the Worker inside workerd with its R2 binding
 *    (@cloudflare/vitest-pool-workers, wrangler.toml's bindings and module rules), under
 *    test/workers/ as *.workers.test.ts.
 * Both share a globalSetup that compresses the bundled examples as `npm start` does (cached).
 */
const globalSetup = ['test/helpers/examples.setup.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/workers/**', 'test/**/*.workers.test.ts'],
          globalSetup,
          // Some tests run the WASM kernels over real model data.
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                ADMIN_TOKEN: 'test-admin-token',
                MAX_MODEL_BYTES: '1048576',
                TEST_MNIST_B64: inject('mnistSparrowB64'),
                TEST_RESNET_B64: inject('resnetSparrowB64'),
                TEST_DIGITS_B64: inject('mnistDigitsB64'),
                TEST_LABELS_B64: inject('mnistLabelsB64'),
              },
            },
          })),
        ],
        test: {
          name: 'workers',
          include: ['test/workers/**/*.workers.test.ts'],
          globalSetup,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
