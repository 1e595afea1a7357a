// CRC-32 in workerd: a Worker without nodejs_compat (ours: wrangler.toml) has no native CRC, so
// the container's checks run the WASM one (src/wasm/crc32.ts) once the runtime plugs it in
// (Session.fromSparrow with a wasmModule, the Worker before each request). The test pool itself
// adds nodejs_compat (zlib.crc32 present): there the native one stays. Either way the WASM
// instance is made synchronously inside workerd and equals the plain TS table version.
import { describe, expect, it } from 'vitest';
import plainModule from '../../build/sparrow.wasm';
import { crc32, crc32Impl, crc32Table } from '../../src/format/crc32.js';
import { wasmCrc32 } from '../../src/wasm/crc32.js';
import { useWasmCrc32 } from '../../src/runtime/session.js';

describe('workerd: crc32', () => {
  it('after useWasmCrc32 the container CRC is the WASM one (unless native), equal to the table version', () => {
    const native = crc32Impl() === 'native';
    useWasmCrc32(plainModule);
    expect(crc32Impl()).toBe(native ? 'native' : 'wasm');
    const b = Uint8Array.from({ length: 200_003 }, (_, i) => (i * 2654435761) >>> 24);
    for (const [s, e] of [
      [0, b.length],
      [1, 65_541],
      [7, 300],
    ] as const) {
      const v = b.subarray(s, e);
      expect(crc32(v)).toBe(crc32Table(v));
      expect(wasmCrc32(plainModule)(v, 0x12345678)).toBe(crc32Table(v, 0x12345678));
    }
  });
});
