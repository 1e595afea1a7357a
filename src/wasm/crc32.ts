// CRC-32 in WASM (assembly/crc32.ts, slice-by-8) for runtimes without a native one: browsers and
// Workers, where the plain TS table version (src/format/crc32.ts crc32Table, its reference) runs
// in the interpreter on a cold isolate's first file. One small instance of the module per
// compiled module, instantiated synchronously (no promise shared between requests, which workerd
// would cancel), with a fixed 64 KiB window: the input is copied through it chunk by chunk, so
// the instance's memory stays at a few pages whatever the file size.
import type { WasmExports } from './exports.gen.js';
import { importsMemory, sharedMemory } from './threads.js';

export type Crc32Fn = (data: Uint8Array, seed?: number) => number;

/** Bytes copied into linear memory per crc32_update call. */
const WINDOW = 64 << 10;

const made = new WeakMap<WebAssembly.Module, Crc32Fn>();

/** A CRC-32 function (zlib's crc32(data, value)) running in an instance of `module`. */
export function wasmCrc32(module: WebAssembly.Module): Crc32Fn {
  let fn = made.get(module);
  if (fn) return fn;
  // a threads build imports a shared memory (src/wasm/threads.ts): this instance gets its own
  const imports: WebAssembly.Imports = importsMemory(module) ? { env: { memory: sharedMemory(), abort: () => undefined } } : {};
  const ex = new WebAssembly.Instance(module, imports).exports as unknown as WasmExports;
  ex._initialize(); // builds the CRC tables (and the module's other static state)
  const at = (ex.heapBase() + 15) & ~15;
  const need = at + WINDOW;
  const have = ex.memory.buffer.byteLength;
  if (need > have) ex.memory.grow(Math.ceil((need - have) / 65536));
  fn = (data: Uint8Array, seed = 0): number => {
    let c = seed >>> 0;
    for (let off = 0; off < data.length; off += WINDOW) {
      const part = data.subarray(off, Math.min(data.length, off + WINDOW));
      new Uint8Array(ex.memory.buffer, at, part.length).set(part);
      c = ex.crc32_update(c, at, part.length) >>> 0;
    }
    return c;
  };
  made.set(module, fn);
  return fn;
}
