// `sparrow conformance` over the ONNX backend tests in ../shared/data/onnx-node-tests, as a user
// runs it (bin/sparrow.js → dist/), against onnxruntime-node's results in INDEX.json:
//  - sparrow-f32: every test onnxruntime-node passes passes, apart from the tests listed with a
//    reason in src/ops/ref/expected-failures.json;
//  - sparrow-int8 on the quantized-op tests (QuantizeLinear, DequantizeLinear, QLinearConv,
//    QLinearMatMul, ConvInteger, MatMulInteger, DynamicQuantizeLinear): every test onnxruntime-node
//    passes passes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import expectedFailures from '../src/ops/ref/expected-failures.json' with { type: 'json' };
import { dataPath, haveData } from './helpers/data.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HAVE = haveData('sparrow conformance against onnxruntime-node', 'onnx-node-tests/INDEX.json');

interface Report {
  passed: string[];
  failed: Array<{ name: string; reason: string }>;
  unsupported: Array<{ name: string; reason: string }>;
}

function conformance(...args: string[]): Report {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', 'conformance', dataPath('onnx-node-tests'), '--json', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 600_000,
    maxBuffer: 64 << 20,
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

/** Names of the tests onnxruntime-node 1.30 passes (INDEX.json), optionally filtered. */
function ortPasses(re?: RegExp): string[] {
  const index = JSON.parse(readFileSync(dataPath('onnx-node-tests', 'INDEX.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  return Object.keys(index)
    .filter((n) => index[n]!['ort_node_1.30.0'] === 'pass' && (!re || re.test(n)))
    .sort();
}

describe.runIf(HAVE)('sparrow conformance vs onnxruntime-node', () => {
  it('sparrow-f32 passes every test onnxruntime-node passes, apart from the listed ones', () => {
    const r = conformance('--engine', 'sparrow-f32');
    const want = ortPasses();
    expect(want.length).toBeGreaterThan(350);
    const passed = new Set(r.passed);
    const listed = expectedFailures as Record<string, string>;
    const missing = want.filter((n) => !passed.has(n) && !(n in listed));
    const why = [...r.failed, ...r.unsupported].filter((f) => missing.includes(f.name)).map((f) => `${f.name}: ${f.reason}`);
    expect(why, why.slice(0, 5).join('\n')).toEqual([]);
    console.log(`sparrow-f32: ${r.passed.length} passed (${want.length} pass in onnxruntime-node), ${Object.keys(listed).length} listed`);
  }, 900_000);

  it('sparrow-int8 passes the quantized-op tests onnxruntime-node passes', () => {
    const re = /quantizelinear|qlinear|integer/;
    const r = conformance('--engine', 'sparrow-int8', '--filter', re.source);
    const want = ortPasses(re);
    expect(want.length).toBeGreaterThanOrEqual(20);
    const bad = want.filter((n) => !r.passed.includes(n));
    expect(bad).toEqual([]);
  }, 300_000);
});
