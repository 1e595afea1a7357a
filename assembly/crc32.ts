// CRC-32, IEEE/zlib flavour (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF),
// slice-by-8: the same function as crc32Table in src/format/crc32.ts (the plain TS reference).
// Browsers and Workers have no native CRC: the TS table version runs in the interpreter on a
// cold isolate's first file (tens of ms for 200 KB); this one runs compiled from the first byte.
//
// Tables: T[k][b] (8 × 256 u32, 8 KiB of static memory, k-major) is the CRC contribution of
// byte b followed by k zero bytes; built by the start function.

const T: usize = memory.data(8 * 256 * 4, 16);

for (let b: u32 = 0; b < 256; b++) {
  let c = b;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  store<u32>(T + (<usize>b << 2), c);
}
for (let i: u32 = 256; i < 2048; i++) {
  const p = load<u32>(T + (<usize>(i - 256) << 2));
  store<u32>(T + (<usize>i << 2), (p >>> 8) ^ load<u32>(T + (<usize>(p & 0xff) << 2)));
}

@inline function t(k: usize, b: u32): u32 {
  return load<u32>(T + (k << 10) + (<usize>b << 2));
}

/**
 * CRC-32 of `len` bytes at `ptr` continuing `seed` (the CRC of the data before them; 0 for
 * none), as zlib's crc32(data, value). Reads exactly [ptr, ptr + len).
 */
export function crc32_update(seed: u32, ptr: usize, len: usize): u32 {
  let c = ~seed;
  let p = ptr;
  const end = ptr + len;
  while (end - p >= 8) {
    const lo = c ^ load<u32>(p), hi = load<u32>(p, 4);
    c = t(7, lo & 0xff) ^ t(6, (lo >>> 8) & 0xff) ^ t(5, (lo >>> 16) & 0xff) ^ t(4, lo >>> 24) ^
      t(3, hi & 0xff) ^ t(2, (hi >>> 8) & 0xff) ^ t(1, (hi >>> 16) & 0xff) ^ t(0, hi >>> 24);
    p += 8;
  }
  while (p < end) {
    c = t(0, (c ^ <u32>load<u8>(p)) & 0xff) ^ (c >>> 8);
    p++;
  }
  return ~c;
}
