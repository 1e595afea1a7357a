// Vitest globalSetup (Node) of the two workers projects (vitest.config.ts): makes sure the
// bundled examples are compressed exactly as `npm start` does (scripts/examples.js, cached in
// .sparrow-data/models/) before any test runs, and provides their bytes (base64) to the workerd
// tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { TestProject } from 'vitest/node';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

declare module 'vitest' {
  export interface ProvidedContext {
    mnistSparrowB64: string;
    resnetSparrowB64: string;
    /** examples/calib/mnist-t10k-9000-9015.npy (uint8 [16,1,28,28]) and its labels, base64 */
    mnistDigitsB64: string;
    mnistLabelsB64: string;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const examples = (await import(pathToFileURL(join(ROOT, 'scripts', 'examples.js')).href)) as {
    compressExamples(o?: { log?: (s: string) => void }): Promise<Array<{ id: string; file: string }>>;
  };
  // both workers projects run this setup in the one vitest process: compress once
  const g = globalThis as { __sparrowExamples?: Promise<Array<{ id: string; file: string }>> };
  g.__sparrowExamples ??= examples.compressExamples({ log: (s) => process.stderr.write(`${s}\n`) });
  const models = await g.__sparrowExamples;
  const b64 = (id: string): string => readFileSync(models.find((m) => m.id === id)!.file).toString('base64');
  project.provide('mnistSparrowB64', b64('mnist-8'));
  project.provide('resnetSparrowB64', b64('resnet20-cifar10'));
  const calib = (f: string): string => readFileSync(join(ROOT, 'examples', 'calib', f)).toString('base64');
  project.provide('mnistDigitsB64', calib('mnist-t10k-9000-9015.npy'));
  project.provide('mnistLabelsB64', calib('mnist-t10k-9000-9015-labels.npy'));
}
