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

import { decodeRansDense, ransWorkBytes } from './rans';
import { decodeRansLanes, lanesWorkBytes } from './rans_lanes';
import { decodeRansRuns, runsWorkBytes } from './rans_runs';

const MAX_LEN: u32 = 11;
const TABLE_SIZE: u32 = 1 << MAX_LEN;   // entries; u16 each: (len << 8) | output byte
const TABLE_BYTES: usize = TABLE_SIZE << 1;
// Multi-symbol table (after the single one and the 256 length bytes): u32 entries
//   bits 0..23: up to 3 output bytes, 24..27: total code length, 28..29: symbol count (1..3)
// Built only where it pays (see readBlock); tails always use the single-symbol table.
// Both tables have 2^log entries, log = the block's longest code (≤ 11).
const MULTI_BYTES: usize = TABLE_SIZE << 2;
const SYMS_OFFSET: usize = TABLE_BYTES + 256 + MULTI_BYTES; // start of the symbol scratch in `work`

// symbol → output byte mappings, applied when the table is built
const MAP_IDENTITY: u32 = 0;   // run symbols
const MAP_UNZIGZAG: u32 = 1;   // dense values: zz⁻¹(s)
const MAP_UNZIGZAG1: u32 = 2;  // rle values:  zz⁻¹(s + 1)

/** Scratch bytes the decoders need for an n-element tensor. */
export function workBytes(n: u32): usize {
  // table + lengths (256) + multi table + runs symbols (≤ n) + values symbols (≤ n) + slack
  const w = SYMS_OFFSET + (<usize>n << 1) + 64;
  const r = ransWorkBytes(n);
  const l = lanesWorkBytes(n);
  const z = runsWorkBytes(n);
  let m = w > r ? w : r;
  if (l > m) m = l;
  return m > z ? m : z;
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
  // code counts per length, kept in the (not yet built) table area
  const blCount = table;
  for (let l: u32 = 0; l <= MAX_LEN; l++) store<u32>(blCount + (l << 2), 0);
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
    if (<u32>l > MAX_LEN) return E_LENGTHS; // also catches l < 0
    store<u8>(lens + s, <u8>l);
    const cp = blCount + (<usize>l << 2);
    store<u32>(cp, load<u32>(cp) + 1);
    prev = l;
  }
  if (bitPos > avail) return E_TRUNCATED;
  // Kraft sum: must be a complete code with ≥ 2 symbols
  let present: u32 = 0;
  let kraft: u32 = 0;
  for (let l: u32 = 1; l <= MAX_LEN; l++) {
    const c = load<u32>(blCount + (l << 2));
    present += c;
    kraft += c << (MAX_LEN - l);
  }
  if (present < 2 || kraft != TABLE_SIZE) return E_LENGTHS;
  // table log = the longest code: small alphabets get small tables (cheap to build)
  let log: u32 = MAX_LEN;
  while (load<u32>(blCount + (log << 2)) == 0) log--;
  gLog = log;
  // E[len]·2^11 under the code's own distribution (2^-len): predicts symbols per lookup
  let lenSum: u32 = 0;
  for (let l: u32 = 1; l <= log; l++) lenSum += load<u32>(blCount + (l << 2)) * l * (TABLE_SIZE >> l);
  gAvgLen2048 = lenSum;
  // canonical first codes per length (Deflate's rule), and where each length's codes start in
  // `sorted` (a counting sort by length)
  const nextCode = memory.data(4 * 16);
  const ends = memory.data(4 * 16);
  let code: u32 = 0;
  let n: u32 = 0;
  store<u32>(blCount, 0);
  store<u32>(ends, 0);
  for (let bits: u32 = 1; bits <= MAX_LEN; bits++) {
    code = (code + load<u32>(blCount + ((bits - 1) << 2))) << 1;
    store<u32>(nextCode + (bits << 2), code);
    store<u32>(ends + (bits << 2), n);
    n += load<u32>(blCount + (bits << 2));
  }
  // each code's entry and reversed code (its first table index), sorted by length, into the
  // multi-symbol table's area (built later, if at all, from this table)
  const sorted = lens + 256;
  for (let s: u32 = 0; s <= maxSym; s++) {
    const l = <u32>load<u8>(lens + s);
    if (l == 0) continue;
    const c = load<u32>(nextCode + (l << 2));
    store<u32>(nextCode + (l << 2), c + 1);
    const i = load<u32>(ends + (l << 2));
    store<u32>(ends + (l << 2), i + 1);
    store<u32>(sorted + (<usize>i << 2), reverseBits(c, l) | (((l << 8) | mapSymbol(s, map)) << 16));
  }
  // fill by doubling: after length l, entries [0, 2^l) hold every code of length ≤ l at each
  // index whose low l bits are its reversed code (a longer code's prefixes hold anything yet);
  // length l + 1 copies them up ([2^l, 2^(l+1)) has the same low l bits), then places its
  // own codes, one entry each. A complete code (Kraft, above) leaves no entry unset.
  let i: u32 = 0;
  for (let l: u32 = 1; l <= log; l++) {
    const half = <usize>1 << (l - 1);
    memory.copy(table + (half << 1), table, half << 1);
    const e = load<u32>(ends + (l << 2));
    for (; i < e; i++) {
      const v = load<u32>(sorted + (<usize>i << 2));
      store<u16>(table + (<usize>(v & 0xffff) << 1), <u16>(v >> 16));
    }
  }
  return <i64>(pos + <usize>((bitPos + 7) >> 3));
}

let gBitPos: u64 = 0;
let gLog: u32 = MAX_LEN;      // table log of the last table read
let gAvgLen2048: u32 = 0;     // its expected code length × 2048
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
  const log = gLog;
  const mask: u64 = (<u64>1 << log) - 1;
  // the multi-symbol table pays when ≥ ~2 codes fit in `log` bits and the block is long
  // compared with the table (building costs ~3 lookups per entry)
  let multi: usize = 0;
  if (gAvgLen2048 * 2 <= log * TABLE_SIZE && count >= (<u32>8 << log)) {
    multi = work + TABLE_BYTES + 256;
    buildMulti(table, multi, log);
  }
  if (S == 1) {
    const r = decodeStream(table, multi, mask, pos, len0, out, count);
    if (r < 0) return r;
  } else {
    const r = decode4(table, multi, mask, pos, len0, len1, len2, len3, out, count, seg);
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

/** Builds the multi-symbol table from the single-symbol one (see MULTI_BYTES). */
function buildMulti(table: usize, multi: usize, log: u32): void {
  const size: u32 = 1 << log;
  for (let idx: u32 = 0; idx < size; idx++) {
    const e1 = <u32>load<u16>(table + (<usize>idx << 1));
    let len = e1 >> 8;
    let syms = e1 & 0xff;
    let k: u32 = 1;
    while (k < 3) {
      const e = <u32>load<u16>(table + (<usize>(idx >> len) << 1));
      const l = e >> 8;
      if (len + l > log) break; // the next code is not fully inside the `log` known bits
      syms |= (e & 0xff) << (8 * k);
      len += l;
      k++;
    }
    store<u32>(multi + (<usize>idx << 2), syms | (len << 24) | (k << 28));
  }
}

/**
 * One stream, `n` symbols, at [src, src+len). Bits past the stream are read from the bytes
 * after it (the caller guarantees ≥ 8 readable bytes past the payload), but any code that
 * uses them makes the final check fail. Returns 0 or E_STREAM_END.
 */
function decodeStream(table: usize, multi: usize, mask: u64, src: usize, len: u32, out: usize, n: u32): i32 {
  const limit: u64 = <u64>len << 3;
  let bitPos: u64 = 0;
  let i: u32 = 0;
  if (multi != 0) {
    // fast: one 64-bit load gives ≥ 57 bits: 5 lookups of ≤ 11 bits, each 1..3 symbols
    // (each u32 store writes 4 bytes: keep 16 symbols of room so it stays inside `out`)
    while (i + 16 <= n && bitPos + 64 <= limit) {
      let x = load<u64>(src + <usize>(bitPos >> 3)) >> (bitPos & 7);
      let used: u32 = 0;
      for (let j = 0; j < 5; j++) {
        const e = load<u32>(multi + (<usize>(x & mask) << 2));
        store<u32>(out + i, e);
        i += e >> 28;
        const l = (e >> 24) & 15;
        x >>= <u64>l;
        used += l;
      }
      bitPos += <u64>used;
    }
  } else {
    // single-symbol fast loop: 5 codes per 64-bit load
    while (i + 5 <= n && bitPos + 64 <= limit) {
      let x = load<u64>(src + <usize>(bitPos >> 3)) >> (bitPos & 7);
      let used: u32 = 0;
      for (let j: u32 = 0; j < 5; j++) {
        const e = <u32>load<u16>(table + (<usize>(x & mask) << 1));
        store<u8>(out + i + j, <u8>e);
        x >>= <u64>(e >> 8);
        used += e >> 8;
      }
      bitPos += <u64>used;
      i += 5;
    }
  }
  return tail(table, mask, src, len, bitPos, out, i, n);
}

/**
 * Four interleaved streams (zstd-style): the fast loop runs 5 lookups on each of the 4
 * streams per iteration, so the 4 dependency chains overlap.
 */
function decode4(table: usize, multi: usize, mask: u64, src: usize, len0: u32, len1: u32, len2: u32, len3: u32, out: usize, count: u32, seg: u32): i32 {
  const s0 = src, s1 = s0 + len0, s2 = s1 + len1, s3 = s2 + len2;
  const lim0: u64 = <u64>len0 << 3, lim1: u64 = <u64>len1 << 3, lim2: u64 = <u64>len2 << 3, lim3: u64 = <u64>len3 << 3;
  const n0 = segLen(count, seg, 0), n1 = segLen(count, seg, 1), n2 = segLen(count, seg, 2), n3 = segLen(count, seg, 3);
  const o0 = out, o1 = out + seg, o2 = out + 2 * seg, o3 = out + 3 * seg;
  let b0: u64 = 0, b1: u64 = 0, b2: u64 = 0, b3: u64 = 0;
  let i0: u32 = 0, i1: u32 = 0, i2: u32 = 0, i3: u32 = 0;
  if (multi != 0) {
    while (i0 + 16 <= n0 && i1 + 16 <= n1 && i2 + 16 <= n2 && i3 + 16 <= n3 &&
           b0 + 64 <= lim0 && b1 + 64 <= lim1 && b2 + 64 <= lim2 && b3 + 64 <= lim3) {
      let x0 = load<u64>(s0 + <usize>(b0 >> 3)) >> (b0 & 7);
      let x1 = load<u64>(s1 + <usize>(b1 >> 3)) >> (b1 & 7);
      let x2 = load<u64>(s2 + <usize>(b2 >> 3)) >> (b2 & 7);
      let x3 = load<u64>(s3 + <usize>(b3 >> 3)) >> (b3 & 7);
      let u0: u32 = 0, u1: u32 = 0, u2: u32 = 0, u3: u32 = 0;
      for (let j = 0; j < 5; j++) {
        const e0 = load<u32>(multi + (<usize>(x0 & mask) << 2));
        const e1 = load<u32>(multi + (<usize>(x1 & mask) << 2));
        const e2 = load<u32>(multi + (<usize>(x2 & mask) << 2));
        const e3 = load<u32>(multi + (<usize>(x3 & mask) << 2));
        store<u32>(o0 + i0, e0); i0 += e0 >> 28;
        store<u32>(o1 + i1, e1); i1 += e1 >> 28;
        store<u32>(o2 + i2, e2); i2 += e2 >> 28;
        store<u32>(o3 + i3, e3); i3 += e3 >> 28;
        const l0 = (e0 >> 24) & 15, l1 = (e1 >> 24) & 15, l2 = (e2 >> 24) & 15, l3 = (e3 >> 24) & 15;
        x0 >>= <u64>l0; u0 += l0;
        x1 >>= <u64>l1; u1 += l1;
        x2 >>= <u64>l2; u2 += l2;
        x3 >>= <u64>l3; u3 += l3;
      }
      b0 += <u64>u0; b1 += <u64>u1; b2 += <u64>u2; b3 += <u64>u3;
    }
  } else {
    // single-symbol fast loop: 5 symbols per stream per iteration
    while (i3 + 5 <= n3 && b0 + 64 <= lim0 && b1 + 64 <= lim1 && b2 + 64 <= lim2 && b3 + 64 <= lim3) {
      let x0 = load<u64>(s0 + <usize>(b0 >> 3)) >> (b0 & 7);
      let x1 = load<u64>(s1 + <usize>(b1 >> 3)) >> (b1 & 7);
      let x2 = load<u64>(s2 + <usize>(b2 >> 3)) >> (b2 & 7);
      let x3 = load<u64>(s3 + <usize>(b3 >> 3)) >> (b3 & 7);
      let u0: u32 = 0, u1: u32 = 0, u2: u32 = 0, u3: u32 = 0;
      for (let j: u32 = 0; j < 5; j++) {
        const e0 = <u32>load<u16>(table + (<usize>(x0 & mask) << 1));
        const e1 = <u32>load<u16>(table + (<usize>(x1 & mask) << 1));
        const e2 = <u32>load<u16>(table + (<usize>(x2 & mask) << 1));
        const e3 = <u32>load<u16>(table + (<usize>(x3 & mask) << 1));
        store<u8>(o0 + i0 + j, <u8>e0);
        store<u8>(o1 + i0 + j, <u8>e1);
        store<u8>(o2 + i0 + j, <u8>e2);
        store<u8>(o3 + i0 + j, <u8>e3);
        x0 >>= <u64>(e0 >> 8); u0 += e0 >> 8;
        x1 >>= <u64>(e1 >> 8); u1 += e1 >> 8;
        x2 >>= <u64>(e2 >> 8); u2 += e2 >> 8;
        x3 >>= <u64>(e3 >> 8); u3 += e3 >> 8;
      }
      b0 += <u64>u0; b1 += <u64>u1; b2 += <u64>u2; b3 += <u64>u3;
      i0 += 5; i1 += 5; i2 += 5; i3 += 5;
    }
  }
  // tails: finish each stream alone from its own position
  let r = tail(table, mask, s0, len0, b0, o0, i0, n0);
  if (r < 0) return r;
  r = tail(table, mask, s1, len1, b1, o1, i1, n1);
  if (r < 0) return r;
  r = tail(table, mask, s2, len2, b2, o2, i2, n2);
  if (r < 0) return r;
  return tail(table, mask, s3, len3, b3, o3, i3, n3);
}

function tail(table: usize, mask: u64, src: usize, len: u32, bitPos: u64, out: usize, i: u32, n: u32): i32 {
  const limit: u64 = <u64>len << 3;
  while (i < n) {
    if (bitPos > limit) return E_STREAM_END;
    const bits = load<u64>(src + <usize>(bitPos >> 3)) >> (bitPos & 7);
    const e = <u32>load<u16>(table + (<usize>(bits & mask) << 1));
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
  const runs = work + SYMS_OFFSET;
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
 * Parses a codec-3 payload (row bases, runs, magnitudes, signs); decodes the runs and the
 * magnitudes into `work` like readRle. Returns the number of run symbols or < 0; sets gNnz,
 * gCols, gBase (pointer to the rows base bytes) and gSigns (pointer to the sign bitmap).
 */
let gCols: u32 = 0;
let gBase: usize = 0;
let gSigns: usize = 0;
function readRows(src: usize, end: usize, n: u32, work: usize): i32 {
  const cv = readVarint(src, end);
  if (cv < 0) return <i32>cv;
  const cols = <u32>cv;
  if (cols < 1 || (n > 0 && n % cols != 0) || (n == 0 && cols != 1)) return E_ARG;
  const rows: u32 = n == 0 ? 1 : n / cols;
  const nv = readVarint(gEnd, end);
  if (nv < 0) return <i32>nv;
  const nnz = <u32>nv;
  if (nnz > n) return E_COUNT;
  let pos = gEnd;
  if (<u64>rows > <u64>(end - pos)) return E_TRUNCATED;
  const base = pos;
  for (let r: u32 = 0; r < rows; r++) if (load<u8>(base + r) > 127) return E_CORRUPT;
  pos += <usize>rows;
  const runs = work + SYMS_OFFSET;
  const vals = runs + <usize>n;
  let r = readBlock(pos, end, runs, n, MAP_IDENTITY, 255, work);
  if (r < 0) return r;
  const nRuns = gCount;
  r = readBlock(gEnd, end, vals, nnz, MAP_IDENTITY, 127, work);
  if (r < 0) return r;
  if (gCount != nnz) return E_COUNT;
  const signBytes = (nnz + 7) >> 3;
  if (<u64>(end - gEnd) != <u64>signBytes) return E_TRAILING;
  if ((nnz & 7) != 0 && (<u32>load<u8>(gEnd + signBytes - 1) >> (nnz & 7)) != 0) return E_CORRUPT;
  gNnz = nnz;
  gCols = cols;
  gBase = base;
  gSigns = gEnd;
  return <i32>nRuns;
}

/**
 * Decodes an int8 tensor payload to dense: out (n) int8.
 * codec 0 raw, 1 huffman, 2 rle-huffman, 3 rle-rows, 4 rans (assembly/rans.ts), 5 rans-lanes
 * (assembly/rans_lanes.ts), 6 rans-runs (assembly/rans_runs.ts). Returns 0 or < 0.
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
    const runs = work + SYMS_OFFSET;
    const vals = runs + <usize>n;
    const nnz = gNnz;
    // validate first (SIMD sum of the run bytes): the run walk ends at p ≤ n with exactly
    // nnz values, and p only grows, so the unchecked walk below stays inside `out`.
    if (runsEnd(runs, <u32>nRuns) > <u64>n || gValues != nnz) return E_RUNS;
    memory.fill(out, 0, n);
    placeValues(runs, <u32>nRuns, vals, out);
    return 0;
  }
  if (codec == 3) {
    const nRuns = readRows(src, end, n, work);
    if (nRuns < 0) return nRuns;
    const runs = work + SYMS_OFFSET;
    const vals = runs + <usize>n;
    if (runsEnd(runs, <u32>nRuns) > <u64>n || gValues != gNnz) return E_RUNS;
    // signed values without the row bases (SIMD), placed like codec 2, then the bases added
    // row by row (SIMD); both passes reject magnitudes that are not int8
    if (!signValues(vals, gSigns, gNnz)) return E_CORRUPT;
    memory.fill(out, 0, n);
    // sparse tensors (density < 20 %): add the bases per value while placing; denser ones:
    // place, then one SIMD pass over the rows (measured: each wins on its side)
    if (<u64>gNnz * 5 < <u64>n) {
      if (!placeRowValues(runs, <u32>nRuns, vals, out, gCols, gBase)) return E_CORRUPT;
    } else {
      placeValues(runs, <u32>nRuns, vals, out);
      if (!addRowBases(out, n, gCols, gBase)) return E_CORRUPT;
    }
    return 0;
  }
  if (codec == 4) return decodeRansDense(src, end, out, n, work);
  if (codec == 5) return decodeRansLanes(src, end, out, n, work);
  if (codec == 6) return decodeRansRuns(src, end, out, n, work);
  return E_CODEC;
}

/**
 * Writes value k at the position the runs give it (runs validated by runsEnd: the walk
 * stays inside out[0, n)). Without escapes (the usual case) the loop is two loads, a store
 * and an add per value; with escapes it is branchless: an escape (255) writes a zero at
 * p+254 and advances 255, a run r writes the next value at p+r and advances r+1.
 */
function placeValues(runs: usize, nRuns: u32, vals: usize, out: usize): void {
  const rEnd = runs + <usize>nRuns;
  let p: usize = out;
  let v = vals;
  if (gValues == nRuns) {
    let q = runs;
    // 4 runs and 4 values per iteration from one 32-bit load each
    while (q + 4 <= rEnd) {
      const r = load<u32>(q);
      const x = load<u32>(v);
      const p0 = p + <usize>(r & 0xff);
      const p1 = p0 + 1 + <usize>((r >> 8) & 0xff);
      const p2 = p1 + 1 + <usize>((r >> 16) & 0xff);
      const p3 = p2 + 1 + <usize>(r >> 24);
      store<u8>(p0, <u8>x);
      store<u8>(p1, <u8>(x >> 8));
      store<u8>(p2, <u8>(x >> 16));
      store<u8>(p3, <u8>(x >> 24));
      p = p3 + 1;
      q += 4;
      v += 4;
    }
    for (; q < rEnd; q++) {
      p += <usize>load<u8>(q);
      store<u8>(p, load<u8>(v));
      p++;
      v++;
    }
    return;
  }
  for (let q = runs; q < rEnd; q++) {
    const r = <usize>load<u8>(q);
    const esc = <usize>(r == 255);
    const x = load<u8>(v);
    store<u8>(p + r - esc, select<u8>(0, x, esc != 0));
    p += r + 1 - esc;
    v += 1 - esc;
  }
}

/**
 * In place: magnitude offsets u_k (0..127) → ±(u_k + 1) as int8, the sign from bit k of the
 * bitmap. False if some u_k = 127 is positive (+128 is not an int8).
 */
function signValues(vals: usize, signs: usize, nnz: u32): bool {
  let k: u32 = 0;
  const one = i8x16.splat(1);
  const top = i8x16.splat(-128);
  const bits = v128(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  let bad = i8x16.splat(0);
  while (k + 16 <= nnz) {
    const t = i8x16.add(v128.load(vals + k), one);
    // 16 sign bits → 16 byte masks: byte i takes sign byte i>>3, tests bit i&7
    const s16 = i16x8.splat(load<u16>(signs + (k >> 3)));
    const m = i8x16.eq(v128.and(i8x16.shuffle(s16, s16, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), bits), bits);
    bad = v128.or(bad, v128.andnot(i8x16.eq(t, top), m));
    v128.store(vals + k, i8x16.sub(v128.xor(t, m), m));
    k += 16;
  }
  if (v128.any_true(bad)) return false;
  while (k < nnz) {
    const t = <i32>load<u8>(vals + k) + 1;
    const neg = (<u32>load<u8>(signs + (k >> 3)) >> (k & 7)) & 1;
    if (t == 128 && neg == 0) return false;
    store<i8>(vals + k, <i8>(neg ? -t : t));
    k++;
  }
  return true;
}

/**
 * out (rows, cols) int8: adds base[row] to the magnitude of every nonzero, keeping its sign.
 * False if a magnitude exceeds 127 (128 for a negative value).
 */
function addRowBases(out: usize, n: u32, cols: u32, base: usize): bool {
  const rows: u32 = n / cols;
  const m128 = i8x16.splat(-128);
  const zero = i8x16.splat(0);
  let bad = zero;
  for (let r: u32 = 0; r < rows; r++) {
    const b = <u32>load<u8>(base + r);
    if (b == 0) continue;
    const bv = i8x16.splat(<i8>b);
    const row = out + <usize>r * <usize>cols;
    let c: u32 = 0;
    while (c + 16 <= cols) {
      const x = v128.load(row + c);
      const sx = i8x16.shr_s(x, 7);                  // 0xff for negative lanes
      const nz = v128.not(i8x16.eq(x, zero));
      const m = i8x16.add(i8x16.abs(x), bv);         // ≤ 128 + 127: no wrap as u8
      bad = v128.or(bad, v128.and(nz, v128.or(i8x16.gt_u(m, m128), v128.andnot(i8x16.eq(m, m128), sx))));
      v128.store(row + c, v128.and(nz, i8x16.sub(v128.xor(m, sx), sx)));
      c += 16;
    }
    while (c < cols) {
      const x = <i32>load<i8>(row + c);
      if (x != 0) {
        const m = (x < 0 ? -x : x) + <i32>b;
        if (m > 128 || (m == 128 && x > 0)) return false;
        store<i8>(row + c, <i8>(x < 0 ? -m : m));
      }
      c++;
    }
  }
  return !v128.any_true(bad);
}

/**
 * Codec 3 placement: like placeValues, adding each row's base to the magnitude of its values
 * on the way (vals: ±(u+1) as int8, from signValues). The row is tracked as the position
 * crosses row ends (runs validated by runsEnd: every write is inside out[0, n)). False if a
 * magnitude exceeds 127 (128 for a negative value).
 */
function placeRowValues(runs: usize, nRuns: u32, vals: usize, out: usize, cols: u32, base: usize): bool {
  const rEnd = runs + <usize>nRuns;
  let p: u32 = 0;
  let row: u32 = 0;
  let rowEnd: u32 = cols;
  let b: i32 = <i32>load<u8>(base);
  let v = vals;
  let bad: i32 = 0;
  for (let q = runs; q < rEnd; q++) {
    const r = <u32>load<u8>(q);
    p += r;
    if (r == 255) continue; // escape: 255 zeros, no value
    if (p >= rowEnd) {
      do { row++; rowEnd += cols; } while (p >= rowEnd);
      b = <i32>load<u8>(base + row);
    }
    const x = <i32>load<i8>(v);
    const sx = x >> 31;                  // −1 for negative values
    const y = x + ((b ^ sx) - sx);       // ±(|x| + b)
    bad |= (y + 128) & ~255;             // outside [−128, 127]
    store<i8>(out + <usize>p, <i8>y);
    p++;
    v++;
  }
  return bad == 0;
}

let gValues: u32 = 0;
/**
 * Where a run walk ends: Σ r + (number of non-escape symbols), summed 16 bytes at a time
 * with SIMD. Sets gValues to the number of non-escape symbols.
 */
function runsEnd(runs: usize, nRuns: u32): u64 {
  let sum: u64 = 0;
  let esc: u32 = 0;
  let i: u32 = 0;
  const ff = i8x16.splat(-1);
  while (i + 16 <= nRuns) {
    const v = v128.load(runs + i);
    // bytes → u16 pair sums → u32 sums; escapes counted by comparing to 0xff
    const s16 = i16x8.extadd_pairwise_i8x16_u(v);
    const s32 = i32x4.extadd_pairwise_i16x8_u(s16);
    sum += <u64>(i32x4.extract_lane(s32, 0) + i32x4.extract_lane(s32, 1) + i32x4.extract_lane(s32, 2) + i32x4.extract_lane(s32, 3));
    esc += popcnt<u32>(i8x16.bitmask(i8x16.eq(v, ff)));
    i += 16;
  }
  while (i < nRuns) {
    const r = <u32>load<u8>(runs + i);
    sum += <u64>r;
    esc += <u32>(r == 255);
    i++;
  }
  gValues = nRuns - esc;
  return sum + <u64>(nRuns - esc);
}


/** Value x (signed, nonzero) of a codec-3 row with base b: ±(|x| + b); outside [−128, 127] sets gBad. */
let gBad: i32 = 0;
@inline function withBase(x: i32, b: i32): i32 {
  const sx = x >> 31;                  // −1 for negative values
  const y = x + ((b ^ sx) - sx);
  gBad |= (y + 128) & ~255;
  return y;
}

/** Stores CSR value k: int8 or int16 (wide). */
@inline function storeVal(val: usize, k: u32, v: i32, wide: bool): void {
  if (wide) store<i16>(val + (<usize>k << 1), <i16>v); else store<i8>(val + k, <i8>v);
}

/**
 * The CSR walk of a validated run list without escapes (one run before each value: k-th run
 * symbol = zeros before value k). 8 values per step: their columns are the running sum of
 * (run + 1) (SIMD prefix sum in u16 lanes); when all 8 land in the current row they are stored
 * at once, else (a row ends among them) one by one. `base` (codec 3): the row-base bytes, the
 * values already signed. Returns the row the walk ended in (rowPtr filled up to it) or
 * E_CORRUPT (a codec-3 value outside int8).
 */
function csrNoEscapes(runs: usize, vals: usize, nnz: u32, cols: u32, base: usize,
                      rowPtr: usize, col: usize, val: usize, wide: bool): i32 {
  let c: u32 = 0, row: u32 = 0, k: u32 = 0;
  let b: i32 = base != 0 ? <i32>load<u8>(base) : 0;
  const one = i16x8.splat(1);
  const z = i16x8.splat(0);
  const hi = i16x8.splat(127), lo = i16x8.splat(-128);
  let bad = z;
  gBad = 0;
  store<u32>(rowPtr, 0);
  while (k < nnz) {
    if (k + 8 <= nnz) {
      // s_j = Σ_{i≤j} (run_i + 1) ≤ 8·255: value j sits at column c + s_j − 1
      let s = i16x8.add(i16x8.extend_low_i8x16_u(v128.load64_zero(runs + k)), one);
      s = i16x8.add(s, i8x16.shuffle(z, s, 0, 1, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29));
      s = i16x8.add(s, i8x16.shuffle(z, s, 0, 1, 2, 3, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27));
      s = i16x8.add(s, i8x16.shuffle(z, s, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
      const last = c + <u32>i16x8.extract_lane_u(s, 7) - 1;
      if (last < cols) {
        // columns < cols ≤ 65536: exact in u16 lanes (c − 1 wraps and comes back)
        v128.store(col + (<usize>k << 1), i16x8.add(s, i16x8.splat(<i16>(c - 1))));
        let v = i16x8.extend_low_i8x16_s(v128.load64_zero(vals + k));
        if (base != 0) {
          const sx = i16x8.shr_s(v, 15);
          v = i16x8.add(v, i16x8.sub(v128.xor(i16x8.splat(<i16>b), sx), sx));
          bad = v128.or(bad, v128.or(i16x8.gt_s(v, hi), i16x8.lt_s(v, lo)));
        }
        if (wide) v128.store(val + (<usize>k << 1), v);
        else v128.store64_lane(val + k, i8x16.narrow_i16x8_s(v, v), 0);
        c = last + 1;
        k += 8;
        continue;
      }
    }
    // a row ends among the next 8 values (or fewer are left): one by one
    const e = min(k + 8, nnz);
    for (; k < e; k++) {
      c += <u32>load<u8>(runs + k);
      if (c >= cols) {
        do { c -= cols; row++; store<u32>(rowPtr + (<usize>row << 2), k); } while (c >= cols);
        if (base != 0) b = <i32>load<u8>(base + row);
      }
      store<u16>(col + (<usize>k << 1), <u16>c);
      const x = <i32>load<i8>(vals + k);
      storeVal(val, k, base != 0 ? withBase(x, b) : x, wide);
      c++;
    }
  }
  if (v128.any_true(bad) || gBad != 0) return E_CORRUPT;
  return <i32>row;
}

/** The CSR walk of a validated run list with escapes (255: 255 zeros, no value); as csrNoEscapes, one symbol at a time. */
function csrRuns(runs: usize, nRuns: u32, vals: usize, cols: u32, base: usize,
                 rowPtr: usize, col: usize, val: usize, wide: bool): i32 {
  let c: u32 = 0, row: u32 = 0, k: u32 = 0;
  let b: i32 = base != 0 ? <i32>load<u8>(base) : 0;
  gBad = 0;
  store<u32>(rowPtr, 0);
  for (let i: u32 = 0; i < nRuns; i++) {
    const r = <u32>load<u8>(runs + i);
    c += r;
    if (c >= cols) {
      do { c -= cols; row++; store<u32>(rowPtr + (<usize>row << 2), k); } while (c >= cols);
      if (base != 0) b = <i32>load<u8>(base + row);
    }
    if (r == 255) continue;
    store<u16>(col + (<usize>k << 1), <u16>c);
    const x = <i32>load<i8>(vals + k);
    storeVal(val, k, base != 0 ? withBase(x, b) : x, wide);
    k++;
    c++;
  }
  if (gBad != 0) return E_CORRUPT;
  return <i32>row;
}

/**
 * Decodes to CSR (docs/format.md "Decoder outputs") for a rows×cols tensor:
 *   rowPtr (rows+1) u32, col (≤ cap) u16, val (≤ cap) int8 (valBytes 1) or int8 widened to
 *   int16 (valBytes 2: the layout of the sparse conv kernel, assembly/int8/sparse.ts).
 * rle-huffman goes straight from runs to CSR; other codecs decode densely into `dense`
 * (n bytes of caller scratch) first. Returns nnz or < 0.
 */
export function decodeCsr(codec: u32, src: usize, srcLen: u32, rows: u32, cols: u32,
                          rowPtr: usize, col: usize, val: usize, cap: u32, work: usize, dense: usize, valBytes: u32): i32 {
  if (valBytes != 1 && valBytes != 2) return E_ARG;
  const wide = valBytes == 2;
  const n64 = <u64>rows * <u64>cols;
  if (cols == 0 || cols > 65536 || n64 >= (<u64>1 << 31)) return E_ARG;
  const n = <u32>n64;
  const end = src + <usize>srcLen;
  // codec 3 decodes straight to CSR when its row length is the CSR's (the normal case)
  const rowsCodec = codec == 3 && readVarint(src, end) == <i64>cols;
  if (codec == 2 || rowsCodec) {
    const nRuns = rowsCodec ? readRows(src, end, n, work) : readRle(src, end, n, work);
    if (nRuns < 0) return nRuns;
    const nnz = gNnz;
    if (nnz > cap) return E_CAPACITY;
    const runs = work + SYMS_OFFSET;
    const vals = runs + <usize>n;
    // validate first, as decodeDense does: the run walk ends at p ≤ n with exactly nnz values
    // (p only grows), so the walks below stay inside the tensor and the CSR arrays
    if (runsEnd(runs, <u32>nRuns) > <u64>n || gValues != nnz) return E_RUNS;
    // codec 3: magnitudes → signed values ±(u+1) in place (SIMD); the row bases are added below
    if (rowsCodec && !signValues(vals, gSigns, nnz)) return E_CORRUPT;
    const base: usize = rowsCodec ? gBase : 0;
    const k = <u32>nRuns == nnz
      ? csrNoEscapes(runs, vals, nnz, cols, base, rowPtr, col, val, wide)
      : csrRuns(runs, <u32>nRuns, vals, cols, base, rowPtr, col, val, wide);
    if (k < 0) return k;
    let row = <u32>k;
    while (row < rows) { row++; store<u32>(rowPtr + (<usize>row << 2), nnz); }
    return <i32>nnz;
  }
  const r = decodeDense(codec, src, srcLen, dense, n, work);
  if (r < 0) return r;
  return denseToCsr(dense, rows, cols, rowPtr, col, val, cap, valBytes);
}

/** dense (rows, cols) int8 → CSR (values int8, or int16 with valBytes 2); returns nnz, E_CAPACITY or E_ARG. */
function denseToCsr(dense: usize, rows: u32, cols: u32, rowPtr: usize, col: usize, val: usize, cap: u32, valBytes: u32): i32 {
  if (valBytes != 1 && valBytes != 2) return E_ARG;
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
        if (valBytes == 2) store<i16>(val + (<usize>k << 1), <i16><i8>v); else store<u8>(val + k, v);
        k++;
      }
      c++;
    }
    store<u32>(rowPtr + (<usize>(r + 1) << 2), k);
  }
  return <i32>k;
}
