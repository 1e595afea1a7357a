// A fast subset of `npm run fuzz` (src/bench/fuzz.ts): mutated, truncated and random inputs
// through the container and stream readers, the WASM decoders in paranoid layout and the TS
// reference decoders; zero crashes, guard overwrites or WASM/reference disagreements.
import { describe, it, expect } from 'vitest';
import { mutate, runFuzz } from '../src/bench/fuzz.js';

describe('fuzz (fast subset)', () => {
  it('15,000 inputs: only SparrowErrors or identical decodes', async () => {
    const report = await runFuzz({ iterations: 15_000, seed: 20261128 });
    expect(report.failures, JSON.stringify(report.failures.slice(0, 3))).toEqual([]);
    // every target was exercised, with both outcomes for the decoders
    for (const t of ['decode-dense', 'decode-csr', 'decode-random', 'container', 'container-resigned', 'npy']) {
      expect(report.targets[t]?.inputs, t).toBeGreaterThan(500);
    }
    expect(report.targets['decode-dense']!.accepted).toBeGreaterThan(100);
    expect(report.targets['decode-dense']!.rejected).toBeGreaterThan(100);
  });

  it('the mutator changes inputs (the fuzzer is not idle)', () => {
    let s = 1;
    const r = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s;
    };
    const src = Uint8Array.from({ length: 100 }, (_, i) => i);
    let changed = 0;
    for (let i = 0; i < 200; i++) if (Buffer.compare(Buffer.from(mutate(r, src)), Buffer.from(src)) !== 0) changed++;
    expect(changed).toBeGreaterThan(180);
  });
});
