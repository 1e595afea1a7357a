// CRC-32, IEEE/zlib flavour: reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF
// (check value: crc32("123456789") = 0xCBF43926). Pure TS, no Node imports, so it runs in
// browsers and Workers as well.
//
// Slice-by-8: T[k][b] is the CRC contribution of byte b followed by k zero bytes, so one
// step folds 8 input bytes with 8 independent table lookups instead of 8 dependent ones.

const T = new Uint32Array(8 * 256); // T[k][b] lives at T[k * 256 + b]
for (let b = 0; b < 256; b++) {
  let c = b;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  T[b] = c;
}
for (let i = 256; i < T.length; i++) T[i] = (T[i - 256] >>> 8) ^ T[T[i - 256] & 0xff];

const T0 = T.subarray(0, 256), T1 = T.subarray(256, 512), T2 = T.subarray(512, 768), T3 = T.subarray(768, 1024);
const T4 = T.subarray(1024, 1280), T5 = T.subarray(1280, 1536), T6 = T.subarray(1536, 1792), T7 = T.subarray(1792, 2048);

/**
 * CRC-32 of `bytes`. `seed` is the CRC of the data before `bytes` (default 0 = no data), so
 * `crc32(b, crc32(a)) === crc32(concat(a, b))`, as zlib's `crc32(data, value)`.
 * Returns an unsigned 32-bit integer.
 */
export function crc32(bytes: Uint8Array, seed = 0): number {
  let c = ~seed;
  const n = bytes.length;
  let i = 0;
  for (const end8 = n - 7; i < end8; i += 8) {
    const lo = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c = T7[lo & 0xff] ^ T6[(lo >>> 8) & 0xff] ^ T5[(lo >>> 16) & 0xff] ^ T4[lo >>> 24]
      ^ T3[bytes[i + 4]] ^ T2[bytes[i + 5]] ^ T1[bytes[i + 6]] ^ T0[bytes[i + 7]];
  }
  for (; i < n; i++) c = T0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
