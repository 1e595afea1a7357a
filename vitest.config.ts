import { configDefaults, defineConfig } from "vitest/config";

/**
 * Node-environment unit/integration tests.
 *
 * Tests meant for @cloudflare/vitest-pool-workers (run *inside* workerd) are excluded here
 * by convention: put them under `test/workers/` or name them `*.workers.test.ts`; they will
 * get their own config later. `test/worker.healthz.test.ts` is a plain Node test that drives
 * Miniflare programmatically, so it stays in this config.
 */
export default defineConfig({
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
    exclude: [...configDefaults.exclude, "test/workers/**", "test/**/*.workers.test.ts"],
    // Some tests run the WASM kernels over real model data.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
