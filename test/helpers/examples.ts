// The bundled examples compressed exactly as `npm start` does (scripts/examples.js: cached in
// .sparrow-data/models/, SPARROW_RECOMPRESS=1 forces), as base64 bindings for the Worker inside
// workerd (test/workers/). vitest.config.ts awaits this when the `workers` pool starts, not in a
// globalSetup: no other test waits for the compression. In a whole run test/worker.e2e.test.ts
// (project `workers-node`, earlier) has usually cached both files already through scripts/start.js.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Examples {
  compressExamples(o?: { log?: (s: string) => void }): Promise<Array<{ id: string; file: string }>>;
}

/**
 * TEST_MNIST_B64 / TEST_RESNET_B64 (the .sparrow files), TEST_DIGITS_B64 / TEST_LABELS_B64 (16
 * held-out MNIST digits), TEST_RESNET7_B64 / TEST_RESNET7_EXPECTED (test/fixtures/int8: the 7-bit
 * ResNet-20 and Node's output bits), TEST_DW_B64 / TEST_DW_EXPECTED (the depthwise fixture and
 * Node's output bits).
 */
export async function exampleBindings(): Promise<Record<string, string>> {
  const examples = (await import(pathToFileURL(join(ROOT, 'scripts', 'examples.js')).href)) as Examples;
  const models = await examples.compressExamples({ log: (s) => process.stderr.write(`${s}\n`) });
  const b64 = (id: string): string => readFileSync(models.find((m) => m.id === id)!.file).toString('base64');
  const calib = (f: string): string => readFileSync(join(ROOT, 'examples', 'calib', f)).toString('base64');
  return {
    TEST_MNIST_B64: b64('mnist-8'),
    TEST_RESNET_B64: b64('resnet20-cifar10'),
    TEST_DIGITS_B64: calib('mnist-t10k-9000-9015.npy'),
    TEST_LABELS_B64: calib('mnist-t10k-9000-9015-labels.npy'),
    // the relaxed-SIMD check (test/workers/relaxed.workers.test.ts): ResNet-20 with 7-bit weights and Node's outputs
    TEST_RESNET7_B64: readFileSync(join(ROOT, 'test', 'fixtures', 'int8', 'resnet20.static7.sparrow')).toString('base64'),
    TEST_RESNET7_EXPECTED: readFileSync(join(ROOT, 'test', 'fixtures', 'int8', 'resnet20.static7.expected.json'), 'utf8'),
    // the int8 depthwise check (same test file): the depthwise fixture and Node's outputs
    TEST_DW_B64: readFileSync(join(ROOT, 'test', 'fixtures', 'int8', 'depthwise.static.sparrow')).toString('base64'),
    TEST_DW_EXPECTED: readFileSync(join(ROOT, 'test', 'fixtures', 'int8', 'depthwise.static.expected.json'), 'utf8'),
  };
}
