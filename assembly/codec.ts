// Decoders of the int8 weight codecs (docs/format.md "Codecs for int8 tensors").
// The plain TS reference is src/codec/{huffman,int8}.ts; tests compare both bit for bit.
//
// Memory contract (the caller owns all memory; nothing is allocated here):
//   src  [srcLen] bytes, followed by ≥ 8 readable bytes (slack for 64-bit loads)
//   work [workBytes(n)] bytes of scratch: decode table (4 KiB) + symbol buffers
// Every function returns a status: ≥ 0 ok, < 0 one of the E_* codes below. Every size is
// checked before it is trusted: hostile bytes can only produce an error status.

export const E_CORRUPT: i32 = -1;       // structurally invalid block
export const E_TRUNCATED: i32 = -2;     // payload ends before a size says it should
export const E_CODEC: i32 = -3;         // unknown codec id
export const E_CAPACITY: i32 = -4;      // caller's buffer too small
export const E_ARG: i32 = -5;           // bad arguments (rows·cols ≠ n, cols > 65536)
export const E_LENGTHS: i32 = -6;       // invalid code-length table (range or Kraft)
export const E_STREAM_END: i32 = -7;    // a stream's bit count disagrees with its byte length
export const E_COUNT: i32 = -8;         // symbol count disagrees with what is expected
export const E_RUNS: i32 = -9;          // zero runs go past the tensor / run-value mismatch
export const E_TRAILING: i32 = -10;     // bytes left after the last block

const MAX_LEN: u32 = 11;
const TABLE_SIZE: u32 = 1 << MAX_LEN;   // entries; u16 each: (len << 8) | output byte
const TABLE_BYTES: usize = TABLE_SIZE << 1;

// symbol → output byte mappings, applied when the table is built
const MAP_IDENTITY: u32 = 0;   // run symbols
const MAP_UNZIGZAG: u32 = 1;   // dense values: zz⁻¹(s)
const MAP_UNZIGZAG1: u32 = 2;  // rle values:  zz⁻¹(s + 1)

/** Scratch bytes the decoders need for an n-element tensor. */
export function workBytes(n: u32): usize {
  // table + lengths (256) + runs symbols (≤ n) + values symbols (≤ n) + alignment slack
  return TABLE_BYTES + 256 + (<usize>n << 1) + 64;
}

// Secondary results of readBlock (AssemblyScript returns one value).
let gCount: u32 = 0;   // symbols in the block just read
let gEnd: usize = 0;   // byte position after the block

@inline function mapSymbol(s: u32, map: u32): u32 {
  if (map == MAP_IDENTITY) return s;
  if (map == MAP_UNZIGZAG1) s += 1;
  return ((s >> 1) ^ (0 - (s & 1))) & 0xff;
}

/** LEB128 varint at [pos, end): ≤ 5 bytes, value < 2^31. Returns value, sets gEnd; < 0 on error. */
function readVarint(pos: usize, end: usize): i64 {
  let v: u64 = 0;
  for (let i: u32 = 0; i < 5; i++) {
    if (pos >= end) return E_TRUNCATED;
    const b = <u64>load<u8>(pos++);
    v |= (b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (v >= (<u64>1 << 31)) return E_CORRUPT;
      gEnd = pos;
      return <i64>v;
    }
  }
  return E_CORRUPT;
}

/**
 * Reads the code-length table at `pos` (bit-packed, see the spec) for symbols 0..maxSym
 * into `lens` (256 bytes), validates it and builds the decode table at `table`.
 * Returns the byte position after the table, or < 0.
 */
function readTable(pos: usize, end: usize, maxSym: u32, lens: usize, table: usize, map: u32): i64 {
  let bitPos: u64 = 0;
  const avail: u64 = (<u64>(end - pos)) << 3;
  let prev: i32 = 0;
  for (let s: u32 = 0; s <= maxSym; s++) {
    // longest code is 7 bits; read bits one at a time with a bound check
    let l: i32;
    if (bitPos + 7 > avail) {
      // near the end: only bits inside [pos, end) count, the rest read as zero
      l = slowLength(pos, avail, bitPos, prev);
      bitPos = gBitPos;
    } else {
      const w = <u32>(load<u16>(pos + <usize>(bitPos >> 3)) >> <u16>(bitPos & 7));
      if ((w & 1) == 0) { l = prev; bitPos += 1; }
      else if ((w & 2) == 0) { l = prev + 1; bitPos += 2; }
      else if ((w & 4) == 0) { l = prev - 1; bitPos += 3; }
      else { l = <i32>((w >> 3) & 15); bitPos += 7; }
    }
    if (l < 0 || l > <i32>MAX_LEN) return E_LENGTHS;
    store<u8>(lens + s, <u8>l);
    prev = l;
  }
  if (bitPos > avail) return E_TRUNCATED;
  // Kraft sum: must be a complete code with ≥ 2 symbols
  let present: u32 = 0;
  let kraft: u32 = 0;
  const blCount = table; // reuse the table area for counts (rebuilt below)
  for (let l: u32 = 0; l <= MAX_LEN; l++) store<u32>(blCount + (l << 2), 0);
  for (let s: u32 = 0; s <= maxSym; s++) {
    const l = <u32>load<u8>(lens + s);
    if (l > 0) {
      present++;
      kraft += TABLE_SIZE >> l;
      store<u32>(blCount + (l << 2), load<u32>(blCount + (l << 2)) + 1);
    }
  }
  if (present < 2 || kraft != TABLE_SIZE) return E_LENGTHS;
  // canonical first codes per length (Deflate's rule)
  let nextCode = memory.data(4 * 16);
  let code: u32 = 0;
  store<u32>(blCount, 0);
  for (let bits: u32 = 1; bits <= MAX_LEN; bits++) {
    code = (code + load<u32>(blCount + ((bits - 1) << 2))) << 1;
    store<u32>(nextCode + (bits << 2), code);
  }
  // fill the table: every 11-bit index whose low `l` bits are the reversed code
  for (let s: u32 = 0; s <= maxSym; s++) {
    const l = <u32>load<u8>(lens + s);
    if (l == 0) continue;
    const c = load<u32>(nextCode + (l << 2));
    store<u32>(nextCode + (l << 2), c + 1);
    const r = reverseBits(c, l);
    const entry = <u16>((l << 8) | mapSymbol(s, map));
    for (let j: u32 = r; j < TABLE_SIZE; j += (<u32>1 << l)) store<u16>(table + (<usize>j << 1), entry);
  }
  return <i64>(pos + <usize>((bitPos + 7) >> 3));
}

let gBitPos: u64 = 0;
/** One code-length code read bit by bit, bits past `avail` read as zero (matches the TS reference). */
function slowLength(pos: usize, avail: u64, bitPos: u64, prev: i32): i32 {
  let l: i32;
  if (bitAt(pos, avail, bitPos++) == 0) l = prev;
  else if (bitAt(pos, avail, bitPos++) == 0) l = prev + 1;
  else if (bitAt(pos, avail, bitPos++) == 0) l = prev - 1;
  else {
    l = 0;
    for (let i = 0; i < 4; i++) l |= <i32>bitAt(pos, avail, bitPos++) << i;
  }
  gBitPos = bitPos;
  return l;
}

@inline function bitAt(pos: usize, avail: u64, bit: u64): u32 {
  if (bit >= avail) return 0;
  return (<u32>load<u8>(pos + <usize>(bit >> 3)) >> <u32>(bit & 7)) & 1;
}

@inline function reverseBits(v: u32, n: u32): u32 {
  return bitreverse32(v) >>> (32 - n);
}

@inline function bitreverse32(x: u32): u32 {
  x = ((x >>> 1) & 0x55555555) | ((x & 0x55555555) << 1);
  x = ((x >>> 2) & 0x33333333) | ((x & 0x33333333) << 2);
  x = ((x >>> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4);
  return bswap<u32>(x);
}

/**
 * Decodes one Huffman block at [pos, end) into `out` (≤ maxCount bytes), mapping symbols by
 * `map`. Symbols above `symLimit` are corrupt. Sets gCount and gEnd. Returns 0 or < 0.
 * `work` holds the table (4 KiB) followed by 256 bytes of lengths.
 */
function readBlock(pos: usize, end: usize, out: usize, maxCount: u32, map: u32, symLimit: u32, work: usize): i32 {
  if (pos >= end) return E_TRUNCATED;
  const mode = <u32>load<u8>(pos++);
  const cv = readVarint(pos, end);
  if (cv < 0) return <i32>cv;
  const count = <u32>cv;
  pos = gEnd;
  if (count > maxCount) return E_COUNT;
  gCount = count;
  if (mode == 0) {
    if (count != 0) return E_CORRUPT;
    gEnd = pos;
    return 0;
  }
  if (mode == 1) {
    if (pos >= end) return E_TRUNCATED;
    const s = <u32>load<u8>(pos);
    if (s > symLimit) return E_CORRUPT;
    memory.fill(out, <u8>mapSymbol(s, map), count);
    gEnd = pos + 1;
    return 0;
  }
  if (mode != 2) return E_CORRUPT;
  if (pos >= end) return E_TRUNCATED;
  const maxSym = <u32>load<u8>(pos++);
  if (maxSym > symLimit) return E_CORRUPT;
  const table = work;
  const lens = work + TABLE_BYTES;
  const tp = readTable(pos, end, maxSym, lens, table, map);
  if (tp < 0) return <i32>tp;
  pos = <usize>tp;
  if (pos >= end) return E_TRUNCATED;
  const S = <u32>load<u8>(pos++);
  if (S != 1 && S != 4) return E_CORRUPT;
  let len0: u32 = 0, len1: u32 = 0, len2: u32 = 0, len3: u32 = 0;
  let total: u64 = 0;
  for (let k: u32 = 0; k < S; k++) {
    const v = readVarint(pos, end);
    if (v < 0) return <i32>v;
    pos = gEnd;
    const l = <u32>v;
    if (k == 0) len0 = l; else if (k == 1) len1 = l; else if (k == 2) len2 = l; else len3 = l;
    total += <u64>l;
  }
  if (total > <u64>(end - pos)) return E_TRUNCATED;
  if (<u64>count > total * 8) return E_COUNT;
  const seg = (count + S - 1) / S;
  if (S == 1) {
    const r = decodeStream(table, pos, len0, out, count);
    if (r < 0) return r;
  } else {
    const r = decode4(table, pos, len0, len1, len2, len3, out, count, seg);
    if (r < 0) return r;
  }
  gEnd = pos + <usize>total;
  return 0;
}

/** Symbols of stream k: [k·seg, min(count, (k+1)·seg)). */
@inline function segLen(count: u32, seg: u32, k: u32): u32 {
  const from = min(count, k * seg);
  const to = min(count, (k + 1) * seg);
  return to - from;
}

/**
 * One stream, `n` symbols, at [src, src+len). Bits past the stream are read from the bytes
 * after it (the caller guarantees ≥ 8 readable bytes past the payload), but any code that
 * uses them makes the final check fail. Returns 0 or E_STREAM_END.
 */
function decodeStream(table: usize, src: usize, len: u32, out: usize, n: u32): i32 {
  const limit: u64 = <u64>len << 3;
  let bitPos: u64 = 0;
  let i: u32 = 0;
  // fast: one 64-bit load gives ≥ 57 bits, enough for 5 codes of ≤ 11 bits
  while (i + 5 <= n && bitPos + 64 <= limit) {
    let bits = load<u64>(src + <usize>(bitPos >> 3)) >> (bitPos & 7);
    let e = <u32>load<u16>(table + (<usize>(bits & 2047) << 1));
    store<u8>(out + i, <u8>e); bits >>= <u64>(e >> 8); let used = e >> 8;
    e = <u32>load<u16>(table + (<usize>(bits & 2047) << 1));
    store<u8>(out + i + 1, <u8>e); bits >>= <u64>(e >> 8); used += e >> 8;
    e = <u32>load<u16>(table + (<usize>(bits & 2047) << 1));
    store<u8>(out + i + 2, <u8>e); bits >>= <u64>(e >> 8); used += e >> 8;
    e = <u32>load<u16>(table + (<usize>(bits & 2047) << 1));
    store<u8>(out + i + 3, <u8>e); bits >>= <u64>(e >> 8); used += e >> 8;
    e = <u32>load<u16>(table + (<usize>(bits & 2047) << 1));
    store<u8>(out + i + 4, <u8>e); used += e >> 8;
    bitPos += <u64>used;
    i += 5;
  }
  // tail: one code at a time; stop as soon as the position passes the stream's end
  while (i < n) {
    if (bitPos > limit) return E_STREAM_END;
    const bits = load<u64>(src + <usize>(bitPos >> 3)) >> (bitPos & 7);
    const e = <u32>load<u16>(table + (<usize>(bits & 2047) << 1));
    store<u8>(out + i, <u8>e);
    bitPos += <u64>(e >> 8);
    i++;
  }
  if (((bitPos + 7) >> 3) != <u64>len) return E_STREAM_END;
  return 0;
}

/**
 * Four interleaved streams (zstd-style): the fast loop decodes 5 symbols from each of the
 * 4 streams per iteration, so the 4 dependency chains overlap.
 */
function decode4(table: usize, src: usize, len0: u32, len1: u32, len2: u32, len3: u32, out: usize, count: u32, seg: u32): i32 {
  const s0 = src, s1 = s0 + len0, s2 = s1 + len1, s3 = s2 + len2;
  const lim0: u64 = <u64>len0 << 3, lim1: u64 = <u64>len1 << 3, lim2: u64 = <u64>len2 << 3, lim3: u64 = <u64>len3 << 3;
  const n3 = segLen(count, seg, 3);
  const o0 = out, o1 = out + seg, o2 = out + 2 * seg, o3 = out + 3 * seg;
  let b0: u64 = 0, b1: u64 = 0, b2: u64 = 0, b3: u64 = 0;
  let i: u32 = 0;
  // all four streams have ≥ 5 symbols left while i + 5 ≤ n3 (stream 3 is the shortest)
  while (i + 5 <= n3 && b0 + 64 <= lim0 && b1 + 64 <= lim1 && b2 + 64 <= lim2 && b3 + 64 <= lim3) {
    let x0 = load<u64>(s0 + <usize>(b0 >> 3)) >> (b0 & 7);
    let x1 = load<u64>(s1 + <usize>(b1 >> 3)) >> (b1 & 7);
    let x2 = load<u64>(s2 + <usize>(b2 >> 3)) >> (b2 & 7);
    let x3 = load<u64>(s3 + <usize>(b3 >> 3)) >> (b3 & 7);
    let u0: u32 = 0, u1: u32 = 0, u2: u32 = 0, u3: u32 = 0;
    for (let j: u32 = 0; j < 5; j++) {
      const e0 = <u32>load<u16>(table + (<usize>(x0 & 2047) << 1));
      const e1 = <u32>load<u16>(table + (<usize>(x1 & 2047) << 1));
      const e2 = <u32>load<u16>(table + (<usize>(x2 & 2047) << 1));
      const e3 = <u32>load<u16>(table + (<usize>(x3 & 2047) << 1));
      store<u8>(o0 + i + j, <u8>e0);
      store<u8>(o1 + i + j, <u8>e1);
      store<u8>(o2 + i + j, <u8>e2);
      store<u8>(o3 + i + j, <u8>e3);
      x0 >>= <u64>(e0 >> 8); u0 += e0 >> 8;
      x1 >>= <u64>(e1 >> 8); u1 += e1 >> 8;
      x2 >>= <u64>(e2 >> 8); u2 += e2 >> 8;
      x3 >>= <u64>(e3 >> 8); u3 += e3 >> 8;
    }
    b0 += <u64>u0; b1 += <u64>u1; b2 += <u64>u2; b3 += <u64>u3;
    i += 5;
  }
  // tails: finish each stream alone from symbol i with its own bit position
  let r = tail(table, s0, len0, b0, o0, i, segLen(count, seg, 0));
  if (r < 0) return r;
  r = tail(table, s1, len1, b1, o1, i, segLen(count, seg, 1));
  if (r < 0) return r;
  r = tail(table, s2, len2, b2, o2, i, segLen(count, seg, 2));
  if (r < 0) return r;
  return tail(table, s3, len3, b3, o3, min(i, n3), n3);
}

function tail(table: usize, src: usize, len: u32, bitPos: u64, out: usize, i: u32, n: u32): i32 {
  const limit: u64 = <u64>len << 3;
  while (i < n) {
    if (bitPos > limit) return E_STREAM_END;
    const bits = load<u64>(src + <usize>(bitPos >> 3)) >> (bitPos & 7);
    const e = <u32>load<u16>(table + (<usize>(bits & 2047) << 1));
    store<u8>(out + i, <u8>e);
    bitPos += <u64>(e >> 8);
    i++;
  }
  if (((bitPos + 7) >> 3) != <u64>len) return E_STREAM_END;
  return 0;
}

/**
 * Decodes the RLE payload's two blocks into `runs` and `vals` (work buffers) and returns
 * the number of run symbols, or < 0. Sets gNnz.
 */
let gNnz: u32 = 0;
function readRle(src: usize, end: usize, n: u32, work: usize): i32 {
  const nv = readVarint(src, end);
  if (nv < 0) return <i32>nv;
  const nnz = <u32>nv;
  if (nnz > n) return E_COUNT;
  const runs = work + TABLE_BYTES + 256;
  const vals = runs + <usize>n;
  let r = readBlock(gEnd, end, runs, n, MAP_IDENTITY, 255, work);
  if (r < 0) return r;
  const nRuns = gCount;
  r = readBlock(gEnd, end, vals, nnz, MAP_UNZIGZAG1, 254, work);
  if (r < 0) return r;
  if (gCount != nnz) return E_COUNT;
  if (gEnd != end) return E_TRAILING;
  gNnz = nnz;
  return <i32>nRuns;
}

/**
 * Decodes an int8 tensor payload to dense: out (n) int8.
 * codec 0 raw, 1 huffman, 2 rle-huffman. Returns 0 or < 0.
 */
export function decodeDense(codec: u32, src: usize, srcLen: u32, out: usize, n: u32, work: usize): i32 {
  const end = src + <usize>srcLen;
  if (codec == 0) {
    if (srcLen != n) return E_COUNT;
    memory.copy(out, src, n);
    return 0;
  }
  if (codec == 1) {
    const r = readBlock(src, end, out, n, MAP_UNZIGZAG, 255, work);
    if (r < 0) return r;
    if (gCount != n) return E_COUNT;
    if (gEnd != end) return E_TRAILING;
    return 0;
  }
  if (codec == 2) {
    const nRuns = readRle(src, end, n, work);
    if (nRuns < 0) return nRuns;
    const runs = work + TABLE_BYTES + 256;
    const vals = runs + <usize>n;
    const nnz = gNnz;
    // zero the whole tensor (bulk memory.fill, vectorized by the engine), then place values
    memory.fill(out, 0, n);
    let p: u32 = 0;
    let k: u32 = 0;
    for (let i: u32 = 0; i < <u32>nRuns; i++) {
      const r = <u32>load<u8>(runs + i);
      if (r == 255) {
        p += 255;
        if (p > n) return E_RUNS;
        continue;
      }
      p += r;
      if (p >= n || k >= nnz) return E_RUNS;
      store<u8>(out + p, load<u8>(vals + k));
      p++;
      k++;
    }
    if (k != nnz) return E_RUNS;
    return 0;
  }
  return E_CODEC;
}

/**
 * Decodes to CSR (docs/format.md "Decoder outputs") for a rows×cols tensor:
 *   rowPtr (rows+1) u32, col (≤ cap) u16, val (≤ cap) int8.
 * rle-huffman goes straight from runs to CSR; other codecs decode densely into `dense`
 * (n bytes of caller scratch) first. Returns nnz or < 0.
 */
export function decodeCsr(codec: u32, src: usize, srcLen: u32, rows: u32, cols: u32,
                          rowPtr: usize, col: usize, val: usize, cap: u32, work: usize, dense: usize): i32 {
  const n64 = <u64>rows * <u64>cols;
  if (cols == 0 || cols > 65536 || n64 >= (<u64>1 << 31)) return E_ARG;
  const n = <u32>n64;
  const end = src + <usize>srcLen;
  if (codec == 2) {
    const nRuns = readRle(src, end, n, work);
    if (nRuns < 0) return nRuns;
    const nnz = gNnz;
    if (nnz > cap) return E_CAPACITY;
    const runs = work + TABLE_BYTES + 256;
    const vals = runs + <usize>n;
    let row: u32 = 0, c: u32 = 0, p: u32 = 0, k: u32 = 0;
    store<u32>(rowPtr, 0);
    for (let i: u32 = 0; i < <u32>nRuns; i++) {
      const r = <u32>load<u8>(runs + i);
      const isValue = r != 255;
      p += r;
      if (p > n || (isValue && (p >= n || k >= nnz))) return E_RUNS;
      c += r;
      while (c >= cols) { c -= cols; row++; store<u32>(rowPtr + (<usize>row << 2), k); }
      if (isValue) {
        store<u16>(col + (<usize>k << 1), <u16>c);
        store<u8>(val + k, load<u8>(vals + k));
        k++; p++; c++;
        if (c == cols) { c = 0; row++; store<u32>(rowPtr + (<usize>row << 2), k); }
      }
    }
    if (k != nnz) return E_RUNS;
    while (row < rows) { row++; store<u32>(rowPtr + (<usize>row << 2), k); }
    return <i32>nnz;
  }
  const r = decodeDense(codec, src, srcLen, dense, n, work);
  if (r < 0) return r;
  return denseToCsr(dense, rows, cols, rowPtr, col, val, cap);
}

/** dense (rows, cols) int8 → CSR; returns nnz or E_CAPACITY. */
export function denseToCsr(dense: usize, rows: u32, cols: u32, rowPtr: usize, col: usize, val: usize, cap: u32): i32 {
  let k: u32 = 0;
  store<u32>(rowPtr, 0);
  for (let r: u32 = 0; r < rows; r++) {
    const row = dense + <usize>r * <usize>cols;
    let c: u32 = 0;
    // skip 16 zeros at a time with SIMD
    while (c < cols) {
      if (c + 16 <= cols && !v128.any_true(v128.load(row + c))) { c += 16; continue; }
      const v = load<u8>(row + c);
      if (v != 0) {
        if (k >= cap) return E_CAPACITY;
        store<u16>(col + (<usize>k << 1), <u16>c);
        store<u8>(val + k, v);
        k++;
      }
      c++;
    }
    store<u32>(rowPtr + (<usize>(r + 1) << 2), k);
  }
  return <i32>k;
}
