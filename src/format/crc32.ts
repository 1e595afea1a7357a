// CRC-32, IEEE/zlib flavour: reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF
// (check value: crc32("123456789") = 0xCBF43926). Pure TS, no Node imports, so it runs in
// browsers and Workers as well.
//
// Slice-by-8: T[k][b] is the CRC contribution of byte b followed by k zero bytes, so one
// step folds 8 input bytes with 8 independent table lookups instead of 8 dependent ones.
//
// Where the runtime has Node's native zlib.crc32 (Node ≥ 20.16: reached through
// process.getBuiltinModule, no import, so bundles for browsers and Workers are unaffected),
// `crc32` uses it: the same function, but it needs no JIT warm-up. The table version runs in
// the interpreter on a process's first file, ~10 ms for 200 KB, against ~0.1 ms native.
// Browsers and Workers have no native one: there the runtime plugs in the WASM version
// (`useCrc32`, src/wasm/crc32.ts).

const T = new Uint32Array(8 * 256); // T[k][b] lives at T[k * 256 + b]
for (let b = 0; b < 256; b++) {
  let c = b;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  T[b] = c;
}
for (let i = 256; i < T.length; i++) T[i] = (T[i - 256] >>> 8) ^ T[T[i - 256] & 0xff];

const T0 = T.subarray(0, 256),
  T1 = T.subarray(256, 512),
  T2 = T.subarray(512, 768),
  T3 = T.subarray(768, 1024);
const T4 = T.subarray(1024, 1280),
  T5 = T.subarray(1280, 1536),
  T6 = T.subarray(1536, 1792),
  T7 = T.subarray(1792, 2048);

/** The table-driven (slice-by-8) CRC-32 in plain TS; `crc32` is the same function. */
export function crc32Table(bytes: Uint8Array, seed = 0): number {
  let c = ~seed;
  const n = bytes.length;
  let i = 0;
  for (const end8 = n - 7; i < end8; i += 8) {
    const lo = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c =
      T7[lo & 0xff] ^
      T6[(lo >>> 8) & 0xff] ^
      T5[(lo >>> 16) & 0xff] ^
      T4[lo >>> 24] ^
      T3[bytes[i + 4]] ^
      T2[bytes[i + 5]] ^
      T1[bytes[i + 6]] ^
      T0[bytes[i + 7]];
  }
  for (; i < n; i++) c = T0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

type Crc32Fn = (data: Uint8Array, value?: number) => number;

/** Node's zlib.crc32 when the runtime offers it and it agrees with the table version; else undefined. */
function nativeCrc32(): Crc32Fn | undefined {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const f = (proc?.getBuiltinModule?.('node:zlib') as { crc32?: unknown } | undefined)?.crc32;
    if (typeof f !== 'function') return undefined;
    const native = f as Crc32Fn;
    const check = Uint8Array.of(0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39); // "123456789"
    const ok = native(check) === 0xcbf43926 && native(check.subarray(3), 0x12345678) === crc32Table(check.subarray(3), 0x12345678);
    return ok ? native : undefined;
  } catch {
    return undefined;
  }
}

const NATIVE = nativeCrc32();

/**
 * CRC-32 of `bytes`. `seed` is the CRC of the data before `bytes` (default 0 = no data), so
 * `crc32(b, crc32(a)) === crc32(concat(a, b))`, as zlib's `crc32(data, value)`.
 * Returns an unsigned 32-bit integer.
 */
export function crc32(bytes: Uint8Array, seed = 0): number {
  // zlib.crc32 takes only u32 seeds and byte views; anything else goes to the table version
  if (NATIVE !== undefined && seed >>> 0 === seed && bytes instanceof Uint8Array) return NATIVE(bytes, seed);
  if (ACCEL !== undefined && bytes.length >= ACCEL_MIN) return ACCEL(bytes, seed >>> 0);
  return crc32Table(bytes, seed);
}

/** Below this many bytes the table version is as fast as a call into WASM. */
const ACCEL_MIN = 256;
let ACCEL: Crc32Fn | undefined;

/**
 * Where the runtime has no native CRC (browsers, Workers), the runtime hands in the WASM one
 * (src/wasm/crc32.ts wasmCrc32: the same function, compiled from the first byte instead of
 * interpreted on a cold isolate's first file). Ignored where the native one exists; undefined
 * goes back to the table version.
 */
export function useCrc32(fn: Crc32Fn | undefined): void {
  ACCEL = NATIVE === undefined ? fn : undefined;
}

/** Which implementation `crc32` uses for large inputs. */
export function crc32Impl(): 'native' | 'wasm' | 'table' {
  return NATIVE !== undefined ? 'native' : ACCEL !== undefined ? 'wasm' : 'table';
}
