// Decoder of codec 6 "rans-runs" (docs/format.md "Codec 6"): per nonzero, one run symbol
// (state A: the zeros before it; the escape symbol stands for `esc` zeros and no value) and
// one value symbol (state B: the joint magnitude above the row base and sign of codec 5, with
// its contexts read back from `out`). The output is zeroed first and only nonzeros are
// written, so zeros cost no step beyond their run. The plain TS reference is
// src/codec/rans_runs.ts; tests and the fuzzer compare both bit for bit.
//
// Memory contract as assembly/codec.ts: src [srcLen] followed by ≥ 8 readable bytes, work
// [runsWorkBytes(n)] scratch. Every size is checked before it is trusted; hostile bytes give a
// status < 0, never an access outside src[0, srcLen + 8), work or out[0, n).

import { lastTableLog, lastVarintEnd, readTable, readVarint } from './rans';

const E_CORRUPT: i32 = -1;
const E_TRUNCATED: i32 = -2;
const E_ARG: i32 = -5;
const E_LENGTHS: i32 = -6;
const E_STREAM_END: i32 = -7;
const E_RUNS: i32 = -9;

const L: u32 = 1 << 16;
const LOG_MIN: u32 = 5;
const LOG_MAX: u32 = 12;
const TBL: usize = 16384;                        // 4096 u32 entries: sym | (freq−1) << 8 | (slot−start) << 20
const RT: usize = 0;                             // run table
const VT: usize = TBL;                           // 3 value tables
const LV: usize = VT + 3 * TBL;                  // 256 level bytes (readTable)
const F0: usize = LV + 256;                      // 16 sign frequencies (9 used)
const BASES: usize = F0 + 16;                    // rows bytes, then (at BASES + n + 8) cols flag bytes

/** Scratch bytes decodeRansRuns needs for an n-element tensor. */
export function runsWorkBytes(n: u32): usize {
  return BASES + (<usize>n << 1) + 80;
}

@inline function bitAt(pos: usize, avail: u64, bit: u64): u32 {
  if (bit >= avail) return 0;
  return (<u32>load<u8>(pos + <usize>(bit >> 3)) >> <u32>(bit & 7)) & 1;
}

@inline function sg(v: i32): u32 {
  return <u32>(v > 0) - <u32>(v < 0) + 1;
}

/** Decodes a codec-6 payload at [src, end) into out (n int8). Returns 0 or < 0. */
export function decodeRansRuns(src: usize, end: usize, out: usize, n: u32, work: usize): i32 {
  let v = readVarint(src, end);
  if (v < 0) return <i32>v;
  const cols = <u32>v;
  v = readVarint(lastVarintEnd(), end);
  if (v < 0) return <i32>v;
  const kw = <u32>v;
  v = readVarint(lastVarintEnd(), end);
  if (v < 0) return <i32>v;
  const karea = <u32>v;
  if (cols < 1 || (n > 0 && n % cols != 0) || (n == 0 && cols != 1)) return E_ARG;
  if (kw < 1 || karea < kw || karea > cols) return E_CORRUPT;
  let pos = lastVarintEnd();
  if (pos >= end) return E_TRUNCATED;
  const esc = <u32>load<u8>(pos++);
  if (esc < 1) return E_CORRUPT;
  let t = readTable(pos, end, esc, work + RT, work + LV);
  if (t < 0) return <i32>t;
  const LR = lastTableLog();
  pos = <usize>t;
  if (pos >= end) return E_TRUNCATED;
  const log = <u32>load<u8>(pos++);
  if (log < LOG_MIN || log > LOG_MAX) return E_LENGTHS;
  v = readVarint(pos, end);
  if (v < 0) return <i32>v;
  const t1 = <u32>v;
  v = readVarint(lastVarintEnd(), end);
  if (v < 0) return <i32>v;
  const t2 = <u32>v;
  if (t1 > 511 || t2 > 511) return E_CORRUPT;
  pos = lastVarintEnd();
  for (let i: usize = 0; i < 3; i++) {
    t = readTable(pos, end, 128, work + VT + i * TBL, work + LV);
    if (t < 0) return <i32>t;
    if (lastTableLog() != log) return E_LENGTHS;
    pos = <usize>t;
  }
  const rows: u32 = n == 0 ? 1 : n / cols;
  const avail: u64 = (<u64>(end - pos)) << 3;
  let bit: u64 = 0;
  for (let c: u32 = 0; c < 16; c++) store<u8>(work + F0 + c, 16);
  for (let c: u32 = 0; c < 9; c++) {
    let f: u32 = 0;
    for (let i: u32 = 0; i < 4; i++) f |= bitAt(pos, avail, bit++) << i;
    if (f == 0) return E_LENGTHS;
    store<u8>(work + F0 + c, <u8>f);
  }
  let bw: u32 = 0;
  for (let i: u32 = 0; i < 3; i++) bw |= bitAt(pos, avail, bit++) << i;
  if (<u64>rows * <u64>bw > avail) return E_TRUNCATED;
  for (let r: u32 = 0; r < rows; r++) {
    let b: u32 = 0;
    for (let i: u32 = 0; i < bw; i++) b |= bitAt(pos, avail, bit++) << i;
    store<u8>(work + BASES + r, <u8>b);
  }
  if (bit > avail) return E_TRUNCATED;
  pos += <usize>((bit + 7) >> 3);
  if (<u64>(end - pos) < 8) return E_TRUNCATED;
  // per column: bit 0 has a left neighbour, bit 1 an upper one (in the kernel window)
  const flags = work + BASES + <usize>n + 8;
  let cw: u32 = 0, ca: u32 = 0;
  for (let c: u32 = 0; c < cols; c++) {
    store<u8>(flags + c, <u8>(<u32>(cw != 0) | (<u32>(ca >= kw) << 1)));
    if (++cw == kw) cw = 0;
    if (++ca == karea) ca = 0;
  }
  let xa = load<u32>(pos), xb = load<u32>(pos, 4);
  if (xa < L || xb < L) return E_CORRUPT;
  let wp = pos + 8;
  memory.fill(out, 0, n);

  const rmask: u32 = (1 << LR) - 1;
  const LM = log + 4;
  const amask: u32 = (1 << log) - 1;
  const rt = work + RT, vt = work + VT, f0 = work + F0, bases = work + BASES;
  let p: u32 = 0, row: u32 = 0, c: u32 = 0;
  let lastP: u32 = 0xffffffff, lastV: i32 = 0;
  while (p < n) {
    // run (state A)
    const e = load<u32>(rt + (<usize>(xa & rmask) << 2));
    const r = e & 0xff;
    xa = (((e >> 8) & 0xfff) + 1) * (xa >> LR) + (e >> 20);
    // branchless renormalization: the word is read anyway (src has 8 readable bytes past
    // end and wp ≤ end here), taken only below L; wp past end means the stream ran out
    const ra = xa < L;
    const wa = <u32>load<u16>(wp);
    xa = select<u32>((xa << 16) | wa, xa, ra);
    wp += <usize>ra << 1;
    if (wp > end) return E_TRUNCATED;
    if (r == esc) {
      if (n - p < esc) return E_RUNS;
      p += esc;
      c += esc;
      while (c >= cols) {
        c -= cols;
        row++;
      }
      continue;
    }
    if (n - p < r) return E_RUNS;
    p += r;
    if (p == n) break;
    c += r;
    while (c >= cols) {
      c -= cols;
      row++;
    }
    // value (state B), contexts from the left / upper neighbours already in out
    const fl = <u32>load<u8>(flags + c);
    const base = <u32>load<u8>(bases + row);
    // the left neighbour is the previous value if that one sits at p − 1 (else a zero)
    const lv: i32 = select<i32>(lastV, 0, (fl & 1) != 0 && lastP == p - 1);
    // out[p] is still 0 (pre-zeroed, written below): the load is branch-free, its address chosen
    const uv: i32 = <i32>load<i8>(out + <usize>select<u32>(p - kw, p, (fl & 2) != 0));
    // sym(left) + sym(up) = |l| + |u| − base per nonzero neighbour (branchless), ≤ 256 + 256
    const s = <u32>abs<i32>(lv) + <u32>abs<i32>(uv) - select<u32>(base, 0, lv != 0) - select<u32>(base, 0, uv != 0);
    const f = <u32>load<u8>(f0 + 3 * sg(lv) + sg(uv));
    const a = (xb >> 4) & amask;
    const b = xb & 15;
    const ctx: u32 = <u32>(s >= t1) + <u32>(s >= t2);
    const ev = load<u32>(vt + <usize>ctx * TBL + (<usize>a << 2));
    const sym = ev & 0xff;
    const neg = b >= f;
    const ff: u32 = neg ? 16 - f : f;
    xb = ff * ((((ev >> 8) & 0xfff) + 1) * (xb >> LM) + (ev >> 20)) + b - (neg ? f : 0);
    const rb = xb < L;
    const wb = <u32>load<u16>(wp);
    xb = select<u32>((xb << 16) | wb, xb, rb);
    wp += <usize>rb << 1;
    if (wp > end) return E_TRUNCATED;
    const mag = sym + base;
    if (sym == 0 || mag > 128 || (mag == 128 && !neg)) return E_CORRUPT;
    const val: i32 = neg ? -<i32>mag : <i32>mag;
    store<i8>(out + <usize>p, <i8>val);
    lastV = val;
    lastP = p;
    p++;
    if (++c == cols) {
      c = 0;
      row++;
    }
  }
  if (wp != end) return E_STREAM_END;
  if (xa != L || xb != L) return E_STREAM_END;
  return 0;
}
