// `sparrow conformance` over the official ONNX backend tests (../shared/data/onnx-node-tests):
// every test whose ops are all in Sparrow's list and whose data types Sparrow runs must pass,
// except the committed expected failures (src/ops/ref/expected-failures.json, each with a reason);
// everything else must be reported `unsupported`, never crash the runner.
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataDir } from '../src/bench/data.js';
import { runConformance } from '../src/bench/conformance.js';

const DIR = join(dataDir(), 'onnx-node-tests');
const HAVE = existsSync(DIR);
if (!HAVE) console.warn(`!!! ${DIR} is absent: the ONNX conformance suite is SKIPPED !!!`);

// The op list of the float32 engine issue, plus what the graphs around them use.
const OPS = new Set([
  'Conv',
  'Gemm',
  'MatMul',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Relu',
  'LeakyRelu',
  'Clip',
  'Sigmoid',
  'Tanh',
  'HardSigmoid',
  'HardSwish',
  'Exp',
  'Sqrt',
  'Pow',
  'Erf',
  'Gelu',
  'Softmax',
  'LogSoftmax',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'BatchNormalization',
  'Flatten',
  'Reshape',
  'Transpose',
  'Concat',
  'Split',
  'Slice',
  'Pad',
  'Squeeze',
  'Unsqueeze',
  'Gather',
  'Shape',
  'Cast',
  'ReduceMean',
  'LayerNormalization',
  'Identity',
  'Dropout',
  'Constant',
]);

describe.skipIf(!HAVE)('ONNX backend conformance', () => {
  it.each(['sparrow-f32', 'reference'] as const)('%s: passes every in-scope test except the listed expected failures', async (engine) => {
    const expected = JSON.parse(readFileSync('src/ops/ref/expected-failures.json', 'utf8')) as Record<string, string>;
    const index = JSON.parse(readFileSync(join(DIR, 'INDEX.json'), 'utf8')) as Record<string, { graph_ops: string[] }>;
    const r = await runConformance(DIR, { engine });
    const total = r.passed.length + r.failed.length + r.unsupported.length;
    expect(total).toBe(Object.keys(index).length);
    // failures: only the expected ones
    const unexpected = r.failed.filter((f) => !(f.name in expected));
    expect(unexpected, JSON.stringify(unexpected.slice(0, 5), null, 1)).toEqual([]);
    // in-scope tests: passed, an expected failure, or unsupported only for a data type / training mode
    const bad: string[] = [];
    for (const u of r.unsupported) {
      const ops = index[u.name]?.graph_ops ?? [];
      if (!ops.every((op) => OPS.has(op))) continue;
      if (u.name in expected || /data type|float16|double|training|Sparrow has|not a tensor/i.test(u.reason)) continue;
      bad.push(`${u.name}: ${u.reason}`);
    }
    expect(bad, bad.slice(0, 5).join('\n')).toEqual([]);
    expect(r.passed.length).toBeGreaterThanOrEqual(250);
    console.log(
      `conformance (${engine}): ${r.passed.length} passed, ${r.failed.length} failed (expected), ${r.unsupported.length} unsupported`,
    );
  });
});
