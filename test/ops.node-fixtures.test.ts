// The ONNX backend node tests copied into test/fixtures/onnx-node/ (README there): ops the shared
// suite in ../shared/data/onnx-node-tests does not cover. Every folder runs through the reference
// engine and sparrow-f32 and must match the expected outputs, except those in EXPECTED.json,
// which must not pass (a fix shows up as a failure here until the entry is removed).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runConformanceTest } from '../src/bench/conformance.js';

const DIR = join(process.cwd(), 'test', 'fixtures', 'onnx-node');
const EXPECTED: Record<string, string> = JSON.parse(readFileSync(join(DIR, 'EXPECTED.json'), 'utf8'));
const TESTS = readdirSync(DIR)
  .filter((n) => n.startsWith('test_') && existsSync(join(DIR, n, 'model.onnx')))
  .sort();

describe('ONNX node test fixtures', () => {
  it('every EXPECTED.json entry names a fixture', () => {
    expect(Object.keys(EXPECTED).filter((n) => !TESTS.includes(n))).toEqual([]);
  });
  for (const engine of ['reference', 'sparrow-f32'] as const) {
    it(`${engine}: ${TESTS.length} tests pass, apart from EXPECTED.json`, async () => {
      const wrong: string[] = [];
      for (const name of TESTS) {
        const r = await runConformanceTest(join(DIR, name), engine);
        if (EXPECTED[name] === undefined && r.status !== 'passed') wrong.push(`${name}: ${r.status}: ${r.reason}`);
        if (EXPECTED[name] !== undefined && r.status === 'passed') wrong.push(`${name}: passes now (remove it from EXPECTED.json)`);
      }
      expect(wrong).toEqual([]);
    });
  }
});
