// The one place tests find the shared data: ../shared/data beside the repository (MNIST, CIFAR-10,
// models/ with the ResNets, stories260K and the zoo, onnx-node-tests/), or the folder in
// $SPARROW_DATA. Only the data tier (files named *.data.test.ts, vitest project `data`) may read
// it: `npm run test:unit` runs without ../shared, and test/tiers.test.ts checks that no other
// test file names the shared data.
//
// Missing data: outside CI a test file skips what needs it and says so loudly, once per file;
// under CI ($CI set, not "false"/"0") it FAILS: CI always has ../shared beside the clone, so a
// skip can never hide a broken data tier there.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** $CI set and not "false" / "0" / empty. */
export const IN_CI = /^(?!false$|0$)./i.test(process.env.CI ?? '');

/** The shared data folder: $SPARROW_DATA, else ../shared/data relative to the repository root. */
export const DATA_DIR = resolve(process.env.SPARROW_DATA || join(ROOT, '..', 'shared', 'data'));

/** A path under the shared data folder (whether or not it exists). */
export function dataPath(...parts: string[]): string {
  assertDataTier();
  return join(DATA_DIR, ...parts);
}

/** The error (CI) or warning (elsewhere) text for missing shared data. */
export function missingDataMessage(what: string, missing: string[]): string {
  return (
    `${what}: shared data missing: ${missing.join(', ')}. ` +
    `Put the shared data at ../shared/data beside the repository or set SPARROW_DATA to its folder.`
  );
}

/**
 * True when every path (relative to the data folder) exists. Otherwise: under CI it throws (the
 * test file fails); elsewhere it prints one loud line on stderr and returns false, for
 * `describe.runIf(haveData(...))` / `it.runIf(...)`. `what` names the tests that need the data.
 */
export function haveData(what: string, ...rel: string[]): boolean {
  assertDataTier();
  const missing = rel.map((r) => join(DATA_DIR, r)).filter((p) => !existsSync(p));
  if (missing.length === 0) return true;
  const msg = missingDataMessage(what, missing);
  if (IN_CI) throw new Error(`${msg} Under CI the data tier must not skip.`);
  process.stderr.write(`\n${'!'.repeat(78)}\n!! SKIPPED ${msg}\n${'!'.repeat(78)}\n`);
  return false;
}

/** Each project sets SPARROW_TEST_TIER (vitest.config.ts): the shared data belongs to `data`. */
function assertDataTier(): void {
  const tier = process.env.SPARROW_TEST_TIER;
  if (tier !== undefined && tier !== 'data')
    throw new Error(`a test of the '${tier}' tier reads the shared data: name the file *.data.test.ts (the data tier)`);
}
