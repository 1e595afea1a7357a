// Decoder of codec 4 "rans" (docs/format.md "Codec 4"): static interleaved rANS, 32-bit
// states, 16-bit words. The plain TS reference is src/codec/rans{,_int8}.ts; tests and the
// fuzzer compare both bit for bit.
//
// Memory contract as assembly/codec.ts: src [srcLen] followed by ≥ 8 readable bytes, work
// [ransWorkBytes(n)] scratch. Every size is checked before it is trusted; hostile bytes give
// a status < 0, never an access outside src[0, srcLen + 8), work or out[0, n).

const E_CORRUPT: i32 = -1;
const E_TRUNCATED: i32 = -2;
const E_ARG: i32 = -5;
const E_LENGTHS: i32 = -6;     // invalid frequency table
const E_STREAM_END: i32 = -7;  // rANS data not consumed exactly / states not back at L
const E_COUNT: i32 = -8;
const E_RUNS: i32 = -9;

const L: u32 = 1 << 16;
const LOG_MIN: u32 = 5;
const LOG_MAX: u32 = 12;
const SIGN_LOG: u32 = 8;
const TABLE_BYTES: usize = (<usize>1 << LOG_MAX) << 2; // u32 entries: sym | (freq−1) << 8 | (slot−start) << 20
const STATES: usize = 4 * TABLE_BYTES;                  // 8 u32 states (after 4 decode tables)
const F0: usize = STATES + 32;                           // 9 u32 sign frequencies
const LEVELS: usize = F0 + 64;                           // 256 level bytes of the table being read
const COLMASK: usize = LEVELS + 256;                     // cols bytes: bit 0 left, bit 1 up

/** Scratch bytes decodeRansDense needs for an n-element tensor. */
export function ransWorkBytes(n: u32): usize {
  return COLMASK + 4 * (<usize>n + 16) + 64;
}

let gEnd: usize = 0;
/** The byte after the varint readVarint read last. */
export function lastVarintEnd(): usize {
  return gEnd;
}

export function readVarint(pos: usize, end: usize): i64 {
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

@inline function bitAt(pos: usize, avail: u64, bit: u64): u32 {
  if (bit >= avail) return 0;
  return (<u32>load<u8>(pos + <usize>(bit >> 3)) >> <u32>(bit & 7)) & 1;
}

@inline function levelValue(e: u32): u32 {
  if (e <= 8) return e;
  const k = e - 9;
  return (5 + (k & 3)) << ((k >> 2) + 1);
}

let gLog: u32 = 0;
/** The log of the table readTable read last. */
export function lastTableLog(): u32 {
  return gLog;
}
/**
 * Reads a frequency table at `pos` (alphabet ≤ symLimit) and builds its decode table at
 * `table`; the level list goes to `lv` (256 bytes). Returns the byte after it or < 0; sets gLog.
 */
export function readTable(pos: usize, end: usize, symLimit: u32, table: usize, lv: usize): i64 {
  if (<u64>(end - pos) < 3) return E_TRUNCATED;
  const log = <u32>load<u8>(pos);
  const maxSym = <u32>load<u8>(pos + 1);
  const rest = <u32>load<u8>(pos + 2);
  if (log < LOG_MIN || log > LOG_MAX) return E_LENGTHS;
  if (maxSym > symLimit || rest > maxSym) return E_LENGTHS;
  const bp = pos + 3;
  const avail: u64 = (<u64>(end - bp)) << 3;
  let bit: u64 = 0;
  let prev: i32 = 0;
  let sum: u64 = 0;
  for (let s: u32 = 0; s <= maxSym; s++) {
    let e: i32;
    if (bitAt(bp, avail, bit++) == 0) e = prev;
    else if (bitAt(bp, avail, bit++) == 0) e = bitAt(bp, avail, bit++) ? prev - 1 : prev + 1;
    else if (bitAt(bp, avail, bit++) == 0) e = bitAt(bp, avail, bit++) ? prev - 2 : prev + 2;
    else {
      e = 0;
      for (let i = 0; i < 6; i++) e |= <i32>bitAt(bp, avail, bit++) << i;
    }
    if (<u32>e > 63) return E_LENGTHS; // also e < 0
    store<u8>(lv + s, <u8>e);
    if (s != rest) sum += <u64>levelValue(<u32>e);
    prev = e;
  }
  if (bit > avail) return E_TRUNCATED;
  const M: u32 = 1 << log;
  if (sum >= <u64>M) return E_LENGTHS;
  // decode table: slot → symbol, frequency − 1, slot − start
  let start: u32 = 0;
  for (let s: u32 = 0; s <= maxSym; s++) {
    const f: u32 = s == rest ? M - <u32>sum : levelValue(<u32>load<u8>(lv + s));
    const hi: u32 = s | ((f - 1) << 8);
    // 4 entries per store (hi | j << 20 for j = 0..f−1), the last < 4 one by one (no store past
    // start + f: the table may end there)
    let j: u32 = 0;
    if (f >= 4) {
      let v = i32x4.add(i32x4.splat(<i32>hi), i32x4(0, 1 << 20, 2 << 20, 3 << 20));
      const step = i32x4.splat(4 << 20);
      for (; j + 4 <= f; j += 4) {
        v128.store(table + (<usize>(start + j) << 2), v);
        v = i32x4.add(v, step);
      }
    }
    for (; j < f; j++) store<u32>(table + (<usize>(start + j) << 2), hi | (j << 20));
    start += f;
  }
  gLog = log;
  return <i64>(bp + <usize>((bit + 7) >> 3));
}

let gWp: usize = 0; // next rANS word

/** count symbols with table (2^log entries) into out, states at STATES (S of them, first symbol on state 0). */
function decodeGroup(work: usize, table: usize, log: u32, out: usize, count: u32, S: u32, end: usize): i32 {
  const st = work + STATES;
  const mask: u32 = (1 << log) - 1;
  let wp = gWp;
  let i: u32 = 0;
  if (S == 8) {
    let x0 = load<u32>(st), x1 = load<u32>(st, 4), x2 = load<u32>(st, 8), x3 = load<u32>(st, 12);
    let x4 = load<u32>(st, 16), x5 = load<u32>(st, 20), x6 = load<u32>(st, 24), x7 = load<u32>(st, 28);
    // each symbol reads ≤ 1 word: 8 symbols need ≤ 16 bytes inside [wp, end)
    while (i + 8 <= count && wp + 16 <= end) {
      const e0 = load<u32>(table + (<usize>(x0 & mask) << 2));
      const e1 = load<u32>(table + (<usize>(x1 & mask) << 2));
      const e2 = load<u32>(table + (<usize>(x2 & mask) << 2));
      const e3 = load<u32>(table + (<usize>(x3 & mask) << 2));
      const e4 = load<u32>(table + (<usize>(x4 & mask) << 2));
      const e5 = load<u32>(table + (<usize>(x5 & mask) << 2));
      const e6 = load<u32>(table + (<usize>(x6 & mask) << 2));
      const e7 = load<u32>(table + (<usize>(x7 & mask) << 2));
      store<u64>(out + i, <u64>((e0 & 0xff) | ((e1 & 0xff) << 8) | ((e2 & 0xff) << 16) | (e3 << 24)) |
        (<u64>((e4 & 0xff) | ((e5 & 0xff) << 8) | ((e6 & 0xff) << 16) | (e7 << 24)) << 32));
      x0 = (((e0 >> 8) & 0xfff) + 1) * (x0 >> log) + (e0 >> 20);
      x1 = (((e1 >> 8) & 0xfff) + 1) * (x1 >> log) + (e1 >> 20);
      x2 = (((e2 >> 8) & 0xfff) + 1) * (x2 >> log) + (e2 >> 20);
      x3 = (((e3 >> 8) & 0xfff) + 1) * (x3 >> log) + (e3 >> 20);
      x4 = (((e4 >> 8) & 0xfff) + 1) * (x4 >> log) + (e4 >> 20);
      x5 = (((e5 >> 8) & 0xfff) + 1) * (x5 >> log) + (e5 >> 20);
      x6 = (((e6 >> 8) & 0xfff) + 1) * (x6 >> log) + (e6 >> 20);
      x7 = (((e7 >> 8) & 0xfff) + 1) * (x7 >> log) + (e7 >> 20);
      let n0 = x0 < L;
      x0 = select((x0 << 16) | <u32>load<u16>(wp), x0, n0);
      wp += select<usize>(2, 0, n0);
      let n1 = x1 < L;
      x1 = select((x1 << 16) | <u32>load<u16>(wp), x1, n1);
      wp += select<usize>(2, 0, n1);
      let n2 = x2 < L;
      x2 = select((x2 << 16) | <u32>load<u16>(wp), x2, n2);
      wp += select<usize>(2, 0, n2);
      let n3 = x3 < L;
      x3 = select((x3 << 16) | <u32>load<u16>(wp), x3, n3);
      wp += select<usize>(2, 0, n3);
      let n4 = x4 < L;
      x4 = select((x4 << 16) | <u32>load<u16>(wp), x4, n4);
      wp += select<usize>(2, 0, n4);
      let n5 = x5 < L;
      x5 = select((x5 << 16) | <u32>load<u16>(wp), x5, n5);
      wp += select<usize>(2, 0, n5);
      let n6 = x6 < L;
      x6 = select((x6 << 16) | <u32>load<u16>(wp), x6, n6);
      wp += select<usize>(2, 0, n6);
      let n7 = x7 < L;
      x7 = select((x7 << 16) | <u32>load<u16>(wp), x7, n7);
      wp += select<usize>(2, 0, n7);
      i += 8;
    }
    store<u32>(st, x0); store<u32>(st, x1, 4); store<u32>(st, x2, 8); store<u32>(st, x3, 12);
    store<u32>(st, x4, 16); store<u32>(st, x5, 20); store<u32>(st, x6, 24); store<u32>(st, x7, 28);
  } else if (S == 4) {
    let x0 = load<u32>(st), x1 = load<u32>(st, 4), x2 = load<u32>(st, 8), x3 = load<u32>(st, 12);
    // each symbol reads ≤ 1 word: 4 symbols need ≤ 8 bytes inside [wp, end)
    while (i + 4 <= count && wp + 8 <= end) {
      const e0 = load<u32>(table + (<usize>(x0 & mask) << 2));
      const e1 = load<u32>(table + (<usize>(x1 & mask) << 2));
      const e2 = load<u32>(table + (<usize>(x2 & mask) << 2));
      const e3 = load<u32>(table + (<usize>(x3 & mask) << 2));
      store<u32>(out + i, (e0 & 0xff) | ((e1 & 0xff) << 8) | ((e2 & 0xff) << 16) | (e3 << 24));
      x0 = (((e0 >> 8) & 0xfff) + 1) * (x0 >> log) + (e0 >> 20);
      x1 = (((e1 >> 8) & 0xfff) + 1) * (x1 >> log) + (e1 >> 20);
      x2 = (((e2 >> 8) & 0xfff) + 1) * (x2 >> log) + (e2 >> 20);
      x3 = (((e3 >> 8) & 0xfff) + 1) * (x3 >> log) + (e3 >> 20);
      let n0 = x0 < L;
      x0 = select((x0 << 16) | <u32>load<u16>(wp), x0, n0);
      wp += select<usize>(2, 0, n0);
      let n1 = x1 < L;
      x1 = select((x1 << 16) | <u32>load<u16>(wp), x1, n1);
      wp += select<usize>(2, 0, n1);
      let n2 = x2 < L;
      x2 = select((x2 << 16) | <u32>load<u16>(wp), x2, n2);
      wp += select<usize>(2, 0, n2);
      let n3 = x3 < L;
      x3 = select((x3 << 16) | <u32>load<u16>(wp), x3, n3);
      wp += select<usize>(2, 0, n3);
      i += 4;
    }
    store<u32>(st, x0); store<u32>(st, x1, 4); store<u32>(st, x2, 8); store<u32>(st, x3, 12);
  }
  // generic (and tail): state i mod S, every word read checked
  for (; i < count; i++) {
    const sp = st + (<usize>(i & (S - 1)) << 2);
    let x = load<u32>(sp);
    const e = load<u32>(table + (<usize>(x & mask) << 2));
    store<u8>(out + i, <u8>e);
    x = (((e >> 8) & 0xfff) + 1) * (x >> log) + (e >> 20);
    if (x < L) {
      if (wp + 2 > end) return E_TRUNCATED;
      x = (x << 16) | <u32>load<u16>(wp);
      wp += 2;
    }
    store<u32>(sp, x);
  }
  gWp = wp;
  return 0;
}

/**
 * The magnitude group with its context: symbol i uses table 1 (t1, log1) when symbol i − 1 is
 * ≥ thr, else table 0. One serial chain (each table choice waits for the previous symbol).
 */
function decodeGroupCtx(work: usize, t0: usize, log0: u32, t1: usize, log1: u32, thr: u32, out: usize, count: u32, S: u32, end: usize): i32 {
  const st = work + STATES;
  const sMask = S - 1;
  let wp = gWp;
  let prev: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const sp = st + (<usize>(i & sMask) << 2);
    let x = load<u32>(sp);
    const hi = prev >= thr;
    const tbl = select(t1, t0, hi);
    const log = select(log1, log0, hi);
    const e = load<u32>(tbl + (<usize>(x & ((1 << log) - 1)) << 2));
    prev = e & 0xff;
    store<u8>(out + i, <u8>prev);
    x = (((e >> 8) & 0xfff) + 1) * (x >> log) + (e >> 20);
    if (x < L) {
      if (wp + 2 > end) return E_TRUNCATED;
      x = (x << 16) | <u32>load<u16>(wp);
      wp += 2;
    }
    store<u32>(sp, x);
  }
  gWp = wp;
  return 0;
}

/** Decodes a codec-4 payload at [src, end) into out (n int8). Returns 0 or < 0. */
export function decodeRansDense(src: usize, end: usize, out: usize, n: u32, work: usize): i32 {
  let v = readVarint(src, end);
  if (v < 0) return <i32>v;
  const cols = <u32>v;
  v = readVarint(gEnd, end);
  if (v < 0) return <i32>v;
  const kw = <u32>v;
  v = readVarint(gEnd, end);
  if (v < 0) return <i32>v;
  const karea = <u32>v;
  v = readVarint(gEnd, end);
  if (v < 0) return <i32>v;
  const nnz = <u32>v;
  v = readVarint(gEnd, end);
  if (v < 0) return <i32>v;
  const nRuns = <u32>v;
  if (cols < 1 || (n > 0 && n % cols != 0) || (n == 0 && cols != 1)) return E_ARG;
  if (kw < 1 || karea < kw || karea > cols) return E_CORRUPT;
  if (nnz > n || nRuns > n) return E_COUNT;
  let pos = gEnd;
  if (pos >= end) return E_TRUNCATED;
  const S = <u32>load<u8>(pos++);
  if (S != 1 && S != 2 && S != 4 && S != 8) return E_CORRUPT;
  const rows: u32 = n == 0 ? 1 : n / cols;
  const colmask = work + COLMASK;
  const bases = colmask + <usize>n + 16;
  const runs = bases + <usize>n + 16;
  const mags = runs + <usize>n + 16;
  if (pos >= end) return E_TRUNCATED;
  const thr = <u32>load<u8>(pos++); // magnitude context threshold (0: one table)
  if (thr > 127) return E_CORRUPT;
  const tb = work, tr = work + TABLE_BYTES, tm = work + 2 * TABLE_BYTES, tm1 = work + 3 * TABLE_BYTES;
  const lv = work + LEVELS;
  let t = readTable(pos, end, 127, tb, lv);
  if (t < 0) return <i32>t;
  const logB = gLog;
  t = readTable(<usize>t, end, 255, tr, lv);
  if (t < 0) return <i32>t;
  const logR = gLog;
  t = readTable(<usize>t, end, 127, tm, lv);
  if (t < 0) return <i32>t;
  const logM = gLog;
  let logM1 = logM;
  if (thr > 0) {
    t = readTable(<usize>t, end, 127, tm1, lv);
    if (t < 0) return <i32>t;
    logM1 = gLog;
  }
  pos = <usize>t;
  // 9 sign frequencies, 9 bits each
  const avail: u64 = (<u64>(end - pos)) << 3;
  let bit: u64 = 0;
  for (let c: u32 = 0; c < 9; c++) {
    let f: u32 = 0;
    for (let i: u32 = 0; i < 9; i++) f |= bitAt(pos, avail, bit++) << i;
    if (f > (<u32>1 << SIGN_LOG)) return E_LENGTHS;
    store<u32>(work + F0 + (<usize>c << 2), f);
  }
  if (bit > avail) return E_TRUNCATED;
  pos += <usize>((bit + 7) >> 3);
  if (<u64>(end - pos) < <u64>(4 * S)) return E_TRUNCATED;
  for (let k: u32 = 0; k < S; k++) {
    const x = load<u32>(pos + (<usize>k << 2));
    if (x < L) return E_CORRUPT;
    store<u32>(work + STATES + (<usize>k << 2), x);
  }
  gWp = pos + 4 * <usize>S;
  let r = decodeGroup(work, tb, logB, bases, rows, S, end);
  if (r < 0) return r;
  r = decodeGroup(work, tr, logR, runs, nRuns, S, end);
  if (r < 0) return r;
  r = thr == 0 ? decodeGroup(work, tm, logM, mags, nnz, S, end) : decodeGroupCtx(work, tm, logM, tm1, logM1, thr, mags, nnz, S, end);
  if (r < 0) return r;
  // column classes for the sign contexts: bit 0 left neighbour, bit 1 upper neighbour
  for (let c: u32 = 0, a: u32 = 0, x: u32 = 0; c < cols; c++) {
    store<u8>(colmask + c, <u8>(<u32>(x != 0) | (<u32>(a >= kw) << 1)));
    if (++x == kw) x = 0;
    if (++a == karea) a = 0;
  }
  memory.fill(out, 0, <usize>n);
  // the run walk: every position checked against n before it is written. The left neighbour
  // is the previous value when its run was 0 (kept in a register: no store-to-load chain);
  // the upper one is read back from out (kw ≥ 1 positions behind, or out[p] = 0 when absent).
  // Both sign tables of the left neighbour's two signs are loaded before that sign is known.
  const st = work + STATES;
  const f0t = work + F0;
  const sMask: u32 = S - 1;
  let wp = gWp;
  let p: u32 = 0, row: u32 = 0, c: u32 = 0, k: u32 = 0, j: u32 = 0;
  let b: u32 = n > 0 ? <u32>load<u8>(bases) : 0;
  let y0 = load<u32>(st), y1 = load<u32>(st, 4), y2 = load<u32>(st, 8), y3 = load<u32>(st, 12);
  let y4 = load<u32>(st, 16), y5 = load<u32>(st, 20), y6 = load<u32>(st, 24), y7 = load<u32>(st, 28);
  let lastNeg: u32 = 0; // sign of the value at p − 1 when lastHere
  let lastHere: u32 = 0; // 1: a value was written at p − 1
  for (let i: u32 = 0; i < nRuns; i++) {
    const rr = <u32>load<u8>(runs + i);
    p += rr;
    c += rr;
    if (rr == 255) {
      if (p > n) return E_RUNS;
      lastHere = 0;
      continue;
    }
    if (p >= n) return E_RUNS;
    if (c >= cols) {
      const q = c / cols;
      row += q;
      c -= q * cols;
      b = <u32>load<u8>(bases + row);
    }
    const m = <u32>load<u8>(colmask + c);
    const up: i32 = <i32>load<i8>(out + <usize>select(p - kw, p, (m & 2) != 0));
    const gu: u32 = <u32>(up > 0) - <u32>(up < 0) + 1;
    const ft = f0t + (<usize>gu << 2);
    // left neighbour's class: 1 (zero) unless a value sits at p − 1 in the window; its sign
    // picks between the two tables loaded ahead (the only serial dependency between values)
    // (masks, not select: V8 may lower an i32 select to a branch, and these are coin flips)
    const leftIs: u32 = (m & 1) & <u32>(rr == 0) & lastHere;
    const fz = load<u32>(ft, 12);
    const fn = load<u32>(ft);
    const fpos = load<u32>(ft, 24);
    const fl = fpos ^ ((fpos ^ fn) & -lastNeg);
    const f0 = fz ^ ((fz ^ fl) & -leftIs);
    // sign lane states rotate through locals (S = 4 or 8; S ≤ 2 in memory)
    const sp = st + (<usize>(j & sMask) << 2);
    j++;
    let x = S >= 4 ? y0 : load<u32>(sp);
    const slot = x & 0xff;
    const neg = <u32>(slot >= f0);
    const nm = -neg;
    x = (f0 ^ ((f0 ^ (256 - f0)) & nm)) * (x >> SIGN_LOG) + slot - (f0 & nm);
    if (x < L) {
      if (wp + 2 > end) return E_TRUNCATED;
      x = (x << 16) | <u32>load<u16>(wp);
      wp += 2;
    }
    if (S == 8) {
      y0 = y1; y1 = y2; y2 = y3; y3 = y4; y4 = y5; y5 = y6; y6 = y7; y7 = x;
    } else if (S == 4) {
      y0 = y1; y1 = y2; y2 = y3; y3 = x;
    } else store<u32>(sp, x);
    const mag = <u32>load<u8>(mags + k) + 1 + b;
    if (mag > 128 - (neg ^ 1)) return E_CORRUPT; // > 128, or 128 positive
    store<i8>(out + <usize>p, <i8>((mag ^ -neg) + neg));
    lastNeg = neg;
    lastHere = 1;
    p++;
    c++;
    k++;
  }
  if (S >= 4) {
    // y0 is the state of lane j mod S
    const r = j & sMask;
    const ys = work + LEVELS; // scratch (the level list is no longer needed): the rotated order
    store<u32>(ys, y0); store<u32>(ys, y1, 4); store<u32>(ys, y2, 8); store<u32>(ys, y3, 12);
    store<u32>(ys, y4, 16); store<u32>(ys, y5, 20); store<u32>(ys, y6, 24); store<u32>(ys, y7, 28);
    for (let q: u32 = 0; q < S; q++) store<u32>(st + (<usize>((r + q) & sMask) << 2), load<u32>(ys + (<usize>q << 2)));
  }
  if (k != nnz) return E_RUNS;
  if (wp != end) return E_STREAM_END;
  for (let q: u32 = 0; q < S; q++) if (load<u32>(st + (<usize>q << 2)) != L) return E_STREAM_END;
  return 0;
}
