// Decoder of codec 5 "rans-lanes" (docs/format.md "Codec 5"): one rANS symbol per weight, the
// joint (magnitude above the row base, sign) with lane-local contexts, 8 rows decoded side by
// side (lane q of group g = row 8g + q, state q). The plain TS reference is
// src/codec/rans_lanes.ts; tests and the fuzzer compare both bit for bit.
//
// Full groups of 8 rows run 2 × i32x4 (ryg's interleaved rANS in SIMD: a gather of the table
// entries, the renormalization words placed by a 16-entry shuffle table); the contexts of a
// column come from a ring of the last 256 columns' (symbol, sign class) per lane. Partial
// groups, the last steps before the end of the stream, and tensors where a value may reach
// ±128 (checked in SIMD, then redone) take the plain per-symbol path, which reads the
// neighbours back from `out`.
//
// Memory contract as assembly/codec.ts: src [srcLen] followed by ≥ 8 readable bytes, work
// [lanesWorkBytes(n)] scratch. Every size is checked before it is trusted; hostile bytes give
// a status < 0, never an access outside src[0, srcLen + 8), work or out[0, n).

import { lastTableLog, lastVarintEnd, readTable, readVarint } from './rans';

const E_CORRUPT: i32 = -1;
const E_TRUNCATED: i32 = -2;
const E_ARG: i32 = -5;
const E_LENGTHS: i32 = -6;
const E_STREAM_END: i32 = -7;
const RETRY: i32 = -100; // internal: a value over 127 in the SIMD path, redo per symbol

const L: u32 = 1 << 16;
const LOG_MIN: u32 = 5;
const LOG_MAX: u32 = 12;
const LANES: u32 = 8;
const TBL_STRIDE: usize = 16384;                 // 4096 u32 entries: sym | (freq−1) << 8 | (slot−start) << 20
const LV: usize = 3 * TBL_STRIDE;               // 256 level bytes (readTable)
const F0: usize = LV + 256;                     // 16 sign frequencies (9 used)
const SHUF: usize = F0 + 16;                    // 16 × 16 renormalization shuffles
const ST: usize = SHUF + 256;                   // 8 u32 states
const KC: usize = ST + 32;                      // SIMD_CONSTS splatted constants of the SIMD path (decodeGroupSimd)
const HIST: usize = KC + 176;                    // 256 columns × 8 lanes × i32 h, then the 'absent' entry
const RING: u32 = 256;
const ABSENT: usize = <usize>RING * 32;
const BASES: usize = HIST + ABSENT + 32;        // rows bytes
const H_ABSENT: u32 = 12800;                    // h = sym | sg << 9 | 3·sg << 12, sym 0, sg 1

/** decodeGroupSimd's constants, in the order it loads them from KC (static data: no allocation) */
const SIMD_CONSTS: usize = 11;
const SIMD_CONST = memory.data<i32>([1, 2, 3, 15, 16, 127, 0xff, 0xfff, 0x1ff, <i32>H_ABSENT, <i32>TBL_STRIDE]);

/** Scratch bytes decodeRansLanes needs for an n-element tensor. */
export function lanesWorkBytes(n: u32): usize {
  return BASES + <usize>n + 64;
}

@inline function bitAt(pos: usize, avail: u64, bit: u64): u32 {
  if (bit >= avail) return 0;
  return (<u32>load<u8>(pos + <usize>(bit >> 3)) >> <u32>(bit & 7)) & 1;
}

@inline function sg(v: i32): u32 {
  return <u32>(v > 0) - <u32>(v < 0) + 1;
}

let gWp: usize = 0;
let gLog: u32 = 0;
let gT1: u32 = 0;
let gT2: u32 = 0;

/**
 * Decodes lane q's symbol at row `row`, column c (p = row·cols + c) per symbol, neighbours read
 * back from out. Returns 0 or < 0 (advances gWp).
 */
@inline function decodeOne(work: usize, out: usize, end: usize, q: u32, row: u32, p: u32, hasL: bool, hasU: bool, kw: u32): i32 {
  const base = <u32>load<u8>(work + BASES + row);
  const lv: i32 = hasL ? <i32>load<i8>(out + <usize>p - 1) : 0;
  const uv: i32 = hasU ? <i32>load<i8>(out + <usize>(p - kw)) : 0;
  const sl: u32 = lv == 0 ? 0 : <u32>abs<i32>(lv) - base;
  const su: u32 = uv == 0 ? 0 : <u32>abs<i32>(uv) - base;
  const s = sl + su;
  const ctx: u32 = <u32>(s >= gT1) + <u32>(s >= gT2);
  const cls = 3 * sg(lv) + sg(uv);
  const sp = work + ST + (<usize>q << 2);
  let x = load<u32>(sp);
  const log = gLog;
  const a = (x >> 4) & ((1 << log) - 1);
  const b = x & 15;
  const e = load<u32>(work + <usize>ctx * TBL_STRIDE + (<usize>a << 2));
  const sym = e & 0xff;
  const f: u32 = sym == 0 ? 16 : <u32>load<u8>(work + F0 + cls);
  const neg = b >= f;
  const ff: u32 = neg ? 16 - f : f;
  x = ff * ((((e >> 8) & 0xfff) + 1) * (x >> (log + 4)) + (e >> 20)) + b - (neg ? f : 0);
  if (x < L) {
    const wp = gWp;
    if (wp + 2 > end) return E_TRUNCATED;
    x = (x << 16) | <u32>load<u16>(wp);
    gWp = wp + 2;
  }
  store<u32>(sp, x);
  let v: i32 = 0;
  if (sym != 0) {
    const mag = sym + base;
    if (mag > 128 || (mag == 128 && !neg)) return E_CORRUPT;
    v = neg ? -<i32>mag : <i32>mag;
  }
  store<i8>(out + <usize>p, <i8>v);
  return 0;
}

/** Group g (rows 8g .. 8g+nl−1) from column c0 on, per symbol. */
function decodeGroupScalar(work: usize, out: usize, end: usize, g: u32, nl: u32, c0: u32, cols: u32, kw: u32, karea: u32): i32 {
  let cw = c0 % kw, ca = c0 % karea;
  for (let c = c0; c < cols; c++) {
    const hasL = cw != 0, hasU = ca >= kw;
    for (let q: u32 = 0; q < nl; q++) {
      const row = g * LANES + q;
      const r = decodeOne(work, out, end, q, row, row * cols + c, hasL, hasU, kw);
      if (r < 0) return r;
    }
    if (++cw == kw) cw = 0;
    if (++ca == karea) ca = 0;
  }
  return 0;
}

/**
 * Group g (8 full rows) in SIMD while 16 bytes of words remain, then per symbol. Returns 0,
 * < 0, or RETRY when a value's magnitude went over 127 (out is then garbage: redo per symbol).
 */
function decodeGroupSimd(work: usize, out: usize, end: usize, g: u32, cols: u32, kw: u32, karea: u32): i32 {
  const log = gLog;
  const LM = log + 4;
  const hist = work + HIST;
  const shuf = work + SHUF;
  const F0v = v128.load(work + F0);
  // the splat constants are loaded from memory (written by decodeRansLanes): V8 keeps such
  // values in registers or stack slots, where it rematerializes constants at every use (3
  // instructions each)
  const kc = work + KC;
  const K0 = i32x4.splat(0), K1 = v128.load(kc, 0), K2 = v128.load(kc, 16), K3 = v128.load(kc, 32);
  const K15 = v128.load(kc, 48), K16 = v128.load(kc, 64), K127 = v128.load(kc, 80);
  const KFF = v128.load(kc, 96), KFFF = v128.load(kc, 112), K1FF = v128.load(kc, 128);
  const K12800 = v128.load(kc, 144);
  const KT = v128.load(kc, 160), TBLV = i32x4.splat(<i32>work);
  const AMASK4 = i32x4.splat(((1 << log) - 1) << 2);
  // sums ≤ 512 and thresholds ≤ 511: signed compares (one instruction) against t − 1
  const T1 = i32x4.splat(<i32>gT1 - 1), T2 = i32x4.splat(<i32>gT2 - 1);
  const bb = v128.load64_zero(work + BASES + <usize>g * LANES);
  const b16 = i16x8.extend_low_i8x16_u(bb);
  const baseA = i32x4.extend_low_i16x8_u(b16), baseB = i32x4.extend_high_i16x8_u(b16);
  let xA = v128.load(work + ST), xB = v128.load(work + ST, 16);
  let bad = K0;
  let wp = gWp;
  const rowp = out + <usize>(g * LANES) * <usize>cols;
  let cw: u32 = 0, ca: u32 = 0;
  let c: u32 = 0;
  for (; c < cols && wp + 16 <= end; c++) {
    const co = <usize>(c & (RING - 1)) << 5;
    const lo: usize = cw != 0 ? <usize>((c - 1) & (RING - 1)) << 5 : ABSENT;
    const uo: usize = ca >= kw ? <usize>((c - kw) & (RING - 1)) << 5 : ABSENT;
    const o0 = rowp + <usize>c, o1 = o0 + <usize>cols, o2 = o1 + <usize>cols, o3 = o2 + <usize>cols;
    const o4 = o3 + <usize>cols, o5 = o4 + <usize>cols, o6 = o5 + <usize>cols, o7 = o6 + <usize>cols;

      // lanes 0..3
      const hlA = v128.load(hist + lo, 0), huA = v128.load(hist + uo, 0);
      const sumA = v128.and(i32x4.add(hlA, huA), K1FF);
      const clsA = i32x4.add(i32x4.shr_u(hlA, 12), v128.and(i32x4.shr_u(huA, 9), K3));
      const f0A = v128.and(i8x16.swizzle(F0v, clsA), KFF);
      const offA = i32x4.add(
        i32x4.add(v128.and(i32x4.shr_u(xA, 2), AMASK4), v128.and(i32x4.gt_s(sumA, T1), KT)),
        i32x4.add(v128.and(i32x4.gt_s(sumA, T2), KT), TBLV),
      );
      let eA = v128.load32_lane(<usize>i32x4.extract_lane(offA, 0), offA, 0);
      eA = v128.load32_lane(<usize>i32x4.extract_lane(offA, 1), eA, 1);
      eA = v128.load32_lane(<usize>i32x4.extract_lane(offA, 2), eA, 2);
      eA = v128.load32_lane(<usize>i32x4.extract_lane(offA, 3), eA, 3);
      const symA = v128.and(eA, KFF);
      const xmA = i32x4.add(i32x4.mul(i32x4.add(v128.and(i32x4.shr_u(eA, 8), KFFF), K1), i32x4.shr_u(xA, LM)), i32x4.shr_u(eA, 20));
      const zA = i32x4.eq(symA, K0);
      const fA = v128.bitselect(K16, f0A, zA);
      const bA = v128.and(xA, K15);
      const nA = i32x4.ge_u(bA, fA);
      const ffA = v128.bitselect(i32x4.sub(K16, fA), fA, nA);
      const yA = i32x4.sub(i32x4.add(i32x4.mul(ffA, xmA), bA), v128.and(fA, nA));
      const rmA = i32x4.eq(i32x4.shr_u(yA, 16), K0); // y < L = 2^16
      const bitsA = i32x4.bitmask(rmA);
      const wA = i8x16.swizzle(v128.load64_zero(wp), v128.load(shuf + (<usize>bitsA << 4)));
      xA = v128.bitselect(v128.or(i32x4.shl(yA, 16), wA), yA, rmA);
      wp += <usize>popcnt<u32>(bitsA) << 1;
      const vA = v128.andnot(i32x4.add(symA, baseA), zA);
      bad = v128.or(bad, i32x4.gt_s(vA, K127)); // v = sym + base ≤ 255 + 255
      const svA = i32x4.sub(v128.xor(vA, nA), nA);
      v128.store8_lane(o0, svA, 0);
      v128.store8_lane(o1, svA, 4);
      v128.store8_lane(o2, svA, 8);
      v128.store8_lane(o3, svA, 12);
      v128.store(hist + co, i32x4.add(symA, i32x4.mul(i32x4.add(i32x4.add(zA, K2), i32x4.shl(nA, 1)), K12800)), 0);

      // lanes 4..7
      const hlB = v128.load(hist + lo, 16), huB = v128.load(hist + uo, 16);
      const sumB = v128.and(i32x4.add(hlB, huB), K1FF);
      const clsB = i32x4.add(i32x4.shr_u(hlB, 12), v128.and(i32x4.shr_u(huB, 9), K3));
      const f0B = v128.and(i8x16.swizzle(F0v, clsB), KFF);
      const offB = i32x4.add(
        i32x4.add(v128.and(i32x4.shr_u(xB, 2), AMASK4), v128.and(i32x4.gt_s(sumB, T1), KT)),
        i32x4.add(v128.and(i32x4.gt_s(sumB, T2), KT), TBLV),
      );
      let eB = v128.load32_lane(<usize>i32x4.extract_lane(offB, 0), offB, 0);
      eB = v128.load32_lane(<usize>i32x4.extract_lane(offB, 1), eB, 1);
      eB = v128.load32_lane(<usize>i32x4.extract_lane(offB, 2), eB, 2);
      eB = v128.load32_lane(<usize>i32x4.extract_lane(offB, 3), eB, 3);
      const symB = v128.and(eB, KFF);
      const xmB = i32x4.add(i32x4.mul(i32x4.add(v128.and(i32x4.shr_u(eB, 8), KFFF), K1), i32x4.shr_u(xB, LM)), i32x4.shr_u(eB, 20));
      const zB = i32x4.eq(symB, K0);
      const fB = v128.bitselect(K16, f0B, zB);
      const bB = v128.and(xB, K15);
      const nB = i32x4.ge_u(bB, fB);
      const ffB = v128.bitselect(i32x4.sub(K16, fB), fB, nB);
      const yB = i32x4.sub(i32x4.add(i32x4.mul(ffB, xmB), bB), v128.and(fB, nB));
      const rmB = i32x4.eq(i32x4.shr_u(yB, 16), K0); // y < L = 2^16
      const bitsB = i32x4.bitmask(rmB);
      const wB = i8x16.swizzle(v128.load64_zero(wp), v128.load(shuf + (<usize>bitsB << 4)));
      xB = v128.bitselect(v128.or(i32x4.shl(yB, 16), wB), yB, rmB);
      wp += <usize>popcnt<u32>(bitsB) << 1;
      const vB = v128.andnot(i32x4.add(symB, baseB), zB);
      bad = v128.or(bad, i32x4.gt_s(vB, K127)); // v = sym + base ≤ 255 + 255
      const svB = i32x4.sub(v128.xor(vB, nB), nB);
      v128.store8_lane(o4, svB, 0);
      v128.store8_lane(o5, svB, 4);
      v128.store8_lane(o6, svB, 8);
      v128.store8_lane(o7, svB, 12);
      v128.store(hist + co, i32x4.add(symB, i32x4.mul(i32x4.add(i32x4.add(zB, K2), i32x4.shl(nB, 1)), K12800)), 16);
    if (++cw == kw) cw = 0;
    if (++ca == karea) ca = 0;
  }
  v128.store(work + ST, xA);
  v128.store(work + ST, xB, 16);
  gWp = wp;
  if (v128.any_true(bad)) return RETRY;
  if (c < cols) return decodeGroupScalar(work, out, end, g, LANES, c, cols, kw, karea);
  return 0;
}

/** Decodes a codec-5 payload at [src, end) into out (n int8). Returns 0 or < 0. */
export function decodeRansLanes(src: usize, end: usize, out: usize, n: u32, work: usize): i32 {
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
    const t = readTable(pos, end, 128, work + i * TBL_STRIDE, work + LV);
    if (t < 0) return <i32>t;
    if (lastTableLog() != log) return E_LENGTHS;
    pos = <usize>t;
  }
  const rows: u32 = n / cols;
  // 9 sign frequencies (4 bits, ≥ 1), the base width (3 bits), rows bases
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
  for (let i: u32 = 0; i < 8; i++) store<u8>(work + BASES + rows + i, 0);
  if (bit > avail) return E_TRUNCATED;
  pos += <usize>((bit + 7) >> 3);
  const S: u32 = rows < LANES ? rows : LANES;
  if (<u64>(end - pos) < <u64>(4 * S)) return E_TRUNCATED;
  gLog = log;
  gT1 = t1;
  gT2 = t2;
  // renormalization shuffles: lane i with bit i set takes the next word (lane order), else 0
  for (let m: u32 = 0; m < 16; m++) {
    let k: u32 = 0;
    for (let i: u32 = 0; i < 4; i++) {
      const e = work + SHUF + (<usize>m << 4) + (<usize>i << 2);
      if ((m >> i) & 1) {
        store<u8>(e, <u8>(2 * k));
        store<u8>(e, <u8>(2 * k + 1), 1);
        k++;
      } else {
        store<u8>(e, 0x80);
        store<u8>(e, 0x80, 1);
      }
      store<u8>(e, 0x80, 2);
      store<u8>(e, 0x80, 3);
    }
  }
  for (let i: usize = 0; i < 8; i++) store<u32>(work + HIST + ABSENT + (i << 2), H_ABSENT);
  // decodeGroupSimd's constants, in the order it loads them
  const kc = work + KC;
  for (let i: usize = 0; i < SIMD_CONSTS; i++) v128.store(kc + (i << 4), i32x4.splat(load<i32>(SIMD_CONST + (i << 2))));
  const simdOk = karea == kw || kw < RING;
  for (let attempt: u32 = 0; attempt < 2; attempt++) {
    const useSimd = simdOk && attempt == 0;
    for (let k: u32 = 0; k < S; k++) {
      const x = load<u32>(pos + (<usize>k << 2));
      if (x < L) return E_CORRUPT;
      store<u32>(work + ST + (<usize>k << 2), x);
    }
    gWp = pos + 4 * <usize>S;
    let r: i32 = 0;
    const groups = (rows + LANES - 1) / LANES;
    for (let g: u32 = 0; g < groups && r == 0; g++) {
      const nl = rows - g * LANES < LANES ? rows - g * LANES : LANES;
      r = useSimd && nl == LANES ? decodeGroupSimd(work, out, end, g, cols, kw, karea) : decodeGroupScalar(work, out, end, g, nl, 0, cols, kw, karea);
    }
    if (r == RETRY) continue;
    if (r < 0) return r;
    if (gWp != end) return E_STREAM_END;
    for (let k: u32 = 0; k < S; k++) if (load<u32>(work + ST + (<usize>k << 2)) != L) return E_STREAM_END;
    return 0;
  }
  return E_CORRUPT; // not reached: the per-symbol attempt never retries
}
