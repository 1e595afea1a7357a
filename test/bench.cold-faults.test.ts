// `sparrow bench --cold` counts the main thread's minor page faults (src/bench/cold.ts
// minorFaults, Linux /proc): checked against pages this test faults in itself (a fresh WASM
// memory, one write per 4 KiB page: one fault each) and against the process-wide count.
import { describe, expect, it } from 'vitest';
import { minorFaults } from '../src/bench/cold.js';

describe('bench --cold: minor page faults of the main thread', () => {
  it.skipIf(process.platform !== 'linux')('grows by at least one per fresh page written, at most the process-wide count', () => {
    const pages = 1024;
    const mem = new WebAssembly.Memory({ initial: 0, maximum: pages / 16 });
    mem.grow(pages / 16);
    const u = new Uint8Array(mem.buffer);
    const proc0 = process.resourceUsage().minorPageFault;
    const f0 = minorFaults();
    for (let p = 0; p < pages; p++) u[p * 4096] = 1;
    const f1 = minorFaults();
    const proc1 = process.resourceUsage().minorPageFault;
    expect(f0).toBeTypeOf('number');
    expect(f1! - f0!).toBeGreaterThanOrEqual(pages);
    // a few more for the reads themselves, never more than the whole process took
    expect(f1! - f0!).toBeLessThanOrEqual(proc1 - proc0);
    expect(f1!).toBeLessThanOrEqual(proc1);
  });
});
