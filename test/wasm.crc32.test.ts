// CRC-32 in WASM (assembly/crc32.ts via src/wasm/crc32.ts) against its plain TS reference
// (crc32Table, itself checked against zlib and the standard check value in the container tests):
// every length around the 8-byte steps and the 64 KiB window, any seed, any alignment.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32, crc32Impl, crc32Table, useCrc32 } from '../src/format/crc32.js';
import { wasmCrc32 } from '../src/wasm/crc32.js';
import { compileNodeModule } from '../src/wasm/node.js';

describe('wasm crc32', () => {
  it('the check value, empty input, and chaining with a seed', async () => {
    const f = wasmCrc32(await compileNodeModule());
    expect(f(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(f(new Uint8Array(0))).toBe(0);
    expect(f(new Uint8Array(0), 0xdeadbeef)).toBe(0xdeadbeef);
    const a = Uint8Array.from({ length: 1000 }, (_, i) => (i * 131) & 255);
    expect(f(a.subarray(300), f(a.subarray(0, 300)))).toBe(f(a));
  });

  it('equals crc32Table on lengths around the 8-byte step and the 64 KiB window (offset views too)', async () => {
    const f = wasmCrc32(await compileNodeModule());
    const big = Uint8Array.from({ length: 3 * 65536 + 40 }, (_, i) => (i * 2654435761) >>> 24);
    for (const n of [1, 7, 8, 9, 15, 16, 17, 255, 65535, 65536, 65537, 2 * 65536 + 3, 3 * 65536 + 33]) {
      for (const off of [0, 1, 5]) {
        const v = big.subarray(off, off + n);
        expect(f(v), `n ${n} off ${off}`).toBe(crc32Table(v));
      }
    }
  });

  it('property: random bytes and seeds', async () => {
    const f = wasmCrc32(await compileNodeModule());
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat({ max: 0xffffffff }), (b, seed) => f(b, seed) === crc32Table(b, seed)),
      { numRuns: 300 },
    );
  });

  it('one instance per compiled module; Node keeps its native CRC whatever is plugged in', async () => {
    const m = await compileNodeModule();
    expect(wasmCrc32(m)).toBe(wasmCrc32(m));
    const before = crc32Impl();
    useCrc32(wasmCrc32(m));
    expect(crc32Impl()).toBe(before === 'native' ? 'native' : 'wasm');
    useCrc32(undefined);
    const b = new Uint8Array(5000).fill(7);
    expect(crc32(b)).toBe(crc32Table(b));
  });
});
