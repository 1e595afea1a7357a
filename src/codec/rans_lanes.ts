// Codec 5 "rans-lanes" (docs/format.md "Codec 5"): every weight is one rANS symbol, the joint
// (magnitude above the row base, sign) coded with lane-local contexts so that the decoder runs
// 8 independent chains at once (assembly/rans_lanes.ts, 2 × i32x4). Rows are taken 8 at a time
// (a group); lane q of a group holds row 8g + q and decodes it left to right with state q, the
// lanes taking turns column by column. The contexts of a weight are its left and upper
// neighbours in the kernel window, both in the same row, so both are in the same lane.
//
// Per weight: sym = 0 for a zero, else |v| − base[row] (≥ 1); the magnitude table is one of 3
// chosen by (sym(left) + sym(up)) against two thresholds; the sign is coded in the same rANS
// step with 4 bits of probability chosen by the 9 sign classes of left/up (codec 4's context).
// The joint frequency is fm·ff of M = 2^(log+4): slot = x mod M, a = slot >> 4 picks the
// magnitude, b = slot & 15 the sign (b ≥ f0 negative), x' = ff·(fm·⌊x/M⌋ + a − start) + b − startf.
// Encoder and the plain reference decoder.

import { SparrowError } from '../errors.js';
import { BitReader, BitWriter, readVarint } from './bitio.js';
import { buildTable, POW2, RANS_L, readTable, tableBits, tableCostBits, writeTable, type FreqTable } from './rans.js';
import type { SignGeometry } from './rans_int8.js';

/** Lanes (rows decoded side by side, one rANS state each). */
export const LANES = 8;
/** Magnitude table logs allowed (the joint table is 2^(log + SIGN_BITS) ≤ 2^15). */
export const LANES_LOG_MIN = 5;
export const LANES_LOG_MAX = 12;
export const SIGN_BITS = 4;
export const MAG_CONTEXTS = 3;
export const SIGN_CLASSES = 9;
/** Largest magnitude symbol (|v| ≤ 128 with base 0). */
export const MAX_MAG_SYM = 128;

/** sg(v): 0 negative, 1 zero (or no neighbour), 2 positive. */
export function sg(v: number): number {
  return v < 0 ? 0 : v > 0 ? 2 : 1;
}

/** Left / upper neighbour availability of column c (in the kernel window `g`). */
export function hasLeft(c: number, g: SignGeometry): boolean {
  return c % g.kw !== 0;
}
export function hasUp(c: number, g: SignGeometry): boolean {
  return c % g.karea >= g.kw;
}

/** Magnitude context (0..2) of a weight from s = sym(left) + sym(up) (a symbol is 0 when absent). */
export function magCtx(s: number, t1: number, t2: number): number {
  return (s >= t1 ? 1 : 0) + (s >= t2 ? 1 : 0);
}

export interface LanesEncoded {
  payload: Uint8Array;
  tableBytes: number;
  streams: { name: string; count: number; entropyBytes: number }[];
  nonzero: number;
}

export function shannonBits(c: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < c.length; i++) n += c[i]!;
  let b = 0;
  for (let i = 0; i < c.length; i++) if (c[i]! > 0) b -= c[i]! * Math.log2(c[i]! / n);
  return b;
}

/** Per weight (row-major): its symbol, magnitude context and sign class. */
interface Model {
  rows: number;
  base: Uint8Array;
  sym: Uint8Array;
  sumCtx: Uint16Array; // sym(left) + sym(up)
  sclass: Uint8Array;
}

function model(data: Int8Array, cols: number, g: SignGeometry): Model {
  const n = data.length;
  const rows = n / cols;
  const base = new Uint8Array(rows);
  const sym = new Uint8Array(n);
  const sumCtx = new Uint16Array(n);
  const sclass = new Uint8Array(n);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) {
      const a = Math.abs(data[r * cols + c]!);
      if (a !== 0 && (m === 0 || a < m)) m = a;
    }
    base[r] = m === 0 ? 0 : m - 1;
    for (let c = 0; c < cols; c++) {
      const p = r * cols + c;
      const v = data[p]!;
      sym[p] = v === 0 ? 0 : Math.abs(v) - base[r]!;
      const l = hasLeft(c, g) ? p - 1 : -1,
        u = hasUp(c, g) ? p - g.kw : -1;
      sumCtx[p] = (l >= 0 ? sym[l]! : 0) + (u >= 0 ? sym[u]! : 0);
      sclass[p] = 3 * sg(l >= 0 ? data[l]! : 0) + sg(u >= 0 ? data[u]! : 0);
    }
  }
  return { rows, base, sym, sumCtx, sclass };
}

/** Sign probability of class c: f0 (positive) out of 16, in 1..15. */
export function signF0(pos: number, neg: number): number {
  if (pos + neg === 0) return 8;
  return Math.min(15, Math.max(1, Math.round((16 * pos) / (pos + neg))));
}

export function bitsFor(v: number): number {
  let w = 0;
  while (v >> w) w++;
  return w;
}

/**
 * Encodes `data` (rows of `cols`, sign/context geometry `g`, validated as codec 4 does).
 * `logs`: the magnitude table logs tried (default 9..12; a larger one is kept only where it saves
 * ≥ 0.05 %, its decode tables costing time to build); a log too small for the alphabet is skipped.
 */
export function encodeRansLanes(data: Int8Array, cols: number, g: SignGeometry, opts: { logs?: readonly number[] } = {}): LanesEncoded {
  const n = data.length;
  if (n === 0 || cols < 1 || n % cols !== 0) cols = Math.max(1, n);
  if (!(g.kw >= 1 && g.karea >= g.kw && g.karea <= cols)) g = { kw: cols, karea: cols };
  const md = model(data, cols, g);
  // thresholds on sym(left) + sym(up): quantile pairs of the sums, kept if they code smaller
  const sorted = Uint16Array.from(md.sumCtx).sort();
  const q = (f: number) => (n ? sorted[Math.min(n - 1, Math.floor(f * n))]! : 0);
  const cands: [number, number][] = [[511, 511]];
  for (const [a, b] of [
    [1 / 3, 2 / 3],
    [0.25, 0.6],
    [0.4, 0.75],
    [0.2, 0.5],
    [0.5, 0.85],
  ] as const) {
    const t1 = Math.min(511, Math.max(1, q(a))),
      t2 = Math.min(511, Math.max(t1 + 1, q(b)));
    cands.push([t1, t2]);
  }
  const logs = opts.logs ?? [9, 10, 11, 12];
  let best: LanesEncoded | null = null;
  const tryLog = (log: number): LanesEncoded | null => {
    let bestT: { t1: number; t2: number; tables: FreqTable[]; bits: number; hBits: number } | null = null;
    for (const [t1, t2] of cands) {
      const cs = Array.from({ length: MAG_CONTEXTS }, () => new Float64Array(MAX_MAG_SYM + 1));
      for (let p = 0; p < n; p++) cs[magCtx(md.sumCtx[p]!, t1, t2)]![md.sym[p]!]!++;
      let bits = 0,
        hBits = 0;
      const tables: FreqTable[] = [];
      for (const c of cs) {
        const present = c.reduce((a, x) => a + (x > 0 ? 1 : 0), 0);
        if (present > 2 ** (log - 1)) break; // no table of this log
        const t = buildTable(c, log);
        bits += tableBits(t) + tableCostBits(t, c);
        hBits += shannonBits(c);
        tables.push(t);
      }
      if (tables.length === MAG_CONTEXTS && (!bestT || bits < bestT.bits)) bestT = { t1, t2, tables, bits, hBits };
    }
    return bestT && encodeWith(data, cols, g, md, log, bestT.t1, bestT.t2, bestT.tables, bestT.hBits);
  };
  for (const log of logs) {
    const e = tryLog(log);
    if (!e) continue;
    // a larger log only where it saves ≥ 0.05 % (its decode tables cost time to build)
    if (!best || e.payload.length < best.payload.length * 0.9995) best = e;
  }
  return best ?? tryLog(LANES_LOG_MAX)!; // log 12 holds any alphabet of ≤ 129 symbols
}

function encodeWith(
  data: Int8Array,
  cols: number,
  g: SignGeometry,
  md: Model,
  log: number,
  t1: number,
  t2: number,
  tables: FreqTable[],
  magBits: number,
): LanesEncoded {
  const n = data.length;
  const rows = md.rows;
  const pos = new Float64Array(SIGN_CLASSES),
    neg = new Float64Array(SIGN_CLASSES);
  let nnz = 0;
  for (let p = 0; p < n; p++) {
    if (data[p] === 0) continue;
    nnz++;
    (data[p]! < 0 ? neg : pos)[md.sclass[p]!]!++;
  }
  const f0 = Array.from(pos, (pp, c) => signF0(pp, neg[c]!));
  let signH = 0;
  for (let c = 0; c < SIGN_CLASSES; c++) signH += shannonBits([pos[c]!, neg[c]!]);
  let maxBase = 0;
  for (const b of md.base) maxBase = Math.max(maxBase, b);
  const bw = bitsFor(maxBase);

  // rANS, reverse of the decode order (group, column, lane)
  const S = Math.min(LANES, rows);
  const x = new Float64Array(S).fill(RANS_L);
  const words: number[] = [];
  const LM = log + SIGN_BITS;
  const groups = Math.ceil(rows / LANES);
  for (let gi = groups - 1; gi >= 0; gi--) {
    const nl = Math.min(LANES, rows - gi * LANES);
    for (let c = cols - 1; c >= 0; c--)
      for (let ql = nl - 1; ql >= 0; ql--) {
        const p = (gi * LANES + ql) * cols + c;
        const s = md.sym[p]!;
        const t = tables[magCtx(md.sumCtx[p]!, t1, t2)]!;
        const fm = t.freq[s]!,
          sm = t.start[s]!;
        let ff = 16,
          sf = 0;
        if (s !== 0) {
          const f = f0[md.sclass[p]!]!;
          if (data[p]! < 0) {
            ff = 16 - f;
            sf = f;
          } else ff = f;
        }
        const F = fm * ff;
        let v = x[ql]!;
        if (v >= F * POW2[32 - LM]!) {
          words.push(v % 65536);
          v = Math.floor(v / 65536);
        }
        const qq = Math.floor(v / F),
          r = v - qq * F;
        const offM = Math.floor(r / ff),
          offF = r - offM * ff;
        x[ql] = qq * POW2[LM]! + (sm + offM) * 16 + sf + offF;
      }
  }

  const w = new BitWriter(64 + 4 * S + 2 * words.length);
  w.writeVarint(cols);
  w.writeVarint(g.kw);
  w.writeVarint(g.karea);
  w.writeByte(log);
  w.writeVarint(t1);
  w.writeVarint(t2);
  for (const t of tables) writeTable(w, t);
  for (const f of f0) w.writeBits(f, 4);
  w.writeBits(bw, 3);
  for (const b of md.base) w.writeBits(b, bw);
  w.alignByte();
  const tableBytes = w.bitLength / 8;
  for (let k = 0; k < S; k++) for (let i = 0; i < 4; i++) w.writeByte(Math.floor(x[k]! / POW2[8 * i]!) & 0xff);
  for (let i = words.length - 1; i >= 0; i--) {
    w.writeByte(words[i]! & 0xff);
    w.writeByte(words[i]! >>> 8);
  }
  return {
    payload: w.finish(),
    tableBytes,
    streams: [
      { name: 'magnitudes', count: n, entropyBytes: magBits / 8 },
      { name: 'signs', count: nnz, entropyBytes: signH / 8 },
    ],
    nonzero: nnz,
  };
}

export interface LanesHeader extends ValueModel {
  cols: number;
  g: SignGeometry;
  /** first byte of the rANS states */
  pos: number;
}

/**
 * The header's row length and sign geometry (varints cols, kw, karea), checked against an
 * n-element tensor; shared by codecs 5 and 6.
 */
export function readRowGeometry(payload: Uint8Array, n: number): { cols: number; g: SignGeometry; pos: number } {
  let pos = 0;
  const v = () => {
    const r = readVarint(payload, pos, payload.length);
    pos = r.pos;
    return r.value;
  };
  const cols = v(),
    kw = v(),
    karea = v();
  if (cols < 1 || (n > 0 && n % cols !== 0) || (n === 0 && cols !== 1))
    throw new SparrowError('corrupt_stream', `row length ${cols} does not divide the ${n}-element tensor`);
  if (!(kw >= 1 && karea >= kw && karea <= cols))
    throw new SparrowError('corrupt_stream', `sign geometry kw ${kw}, karea ${karea} does not fit rows of ${cols}`);
  return { cols, g: { kw, karea }, pos };
}

/** The value model of codecs 5 and 6: table log, context thresholds, magnitude tables, sign frequencies, row bases. */
export interface ValueModel {
  log: number;
  t1: number;
  t2: number;
  tables: FreqTable[];
  f0: number[];
  base: Uint8Array;
}

/**
 * Parses and checks the value model at `pos` (u8 log, varints t1 t2, MAG_CONTEXTS tables, then
 * the bit-packed f0[9], bw and `rows` bases); `what` names the codec in errors. Returns it and
 * the first byte after it.
 */
export function readValueModel(payload: Uint8Array, pos: number, rows: number, what: string): ValueModel & { pos: number } {
  const end = payload.length;
  const v = () => {
    const r = readVarint(payload, pos, end);
    pos = r.pos;
    return r.value;
  };
  if (pos >= end) throw new SparrowError('corrupt_stream', `${what} table log missing`);
  const log = payload[pos++]!;
  if (log < LANES_LOG_MIN || log > LANES_LOG_MAX)
    throw new SparrowError('corrupt_stream', `${what} table log ${log} is outside ${LANES_LOG_MIN}..${LANES_LOG_MAX}`);
  const t1 = v(),
    t2 = v();
  if (t1 > 511 || t2 > 511) throw new SparrowError('corrupt_stream', `magnitude context thresholds ${t1}, ${t2} are over 511`);
  const tables: FreqTable[] = [];
  for (let i = 0; i < MAG_CONTEXTS; i++) {
    const t = readTable(payload, pos, end, MAX_MAG_SYM);
    if (t.table.log !== log) throw new SparrowError('corrupt_stream', `magnitude table ${i} has log ${t.table.log}, not ${log}`);
    tables.push(t.table);
    pos = t.pos;
  }
  const br = new BitReader(payload, pos, end);
  const f0: number[] = [];
  for (let c = 0; c < SIGN_CLASSES; c++) {
    const f = br.readBits(4);
    if (f < 1) throw new SparrowError('corrupt_stream', `sign frequency of class ${c} is 0`);
    f0.push(f);
  }
  const bw = br.readBits(3);
  const base = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) base[r] = br.readBits(bw);
  if (br.bitPos > br.bitsAvailable) throw new SparrowError('corrupt_stream', `${what} header runs past the end`);
  pos += (br.bitPos + 7) >>> 3;
  return { log, t1, t2, tables, f0, base, pos };
}

/** Parses and checks a codec-5 header for an n-element tensor. */
export function readLanesHeader(payload: Uint8Array, n: number): LanesHeader {
  const { cols, g, pos } = readRowGeometry(payload, n);
  return { cols, g, ...readValueModel(payload, pos, n / cols, 'rANS-lanes') };
}

/** Reference decoder of a codec-5 payload to n int8 values. */
export function decodeRansLanesRef(payload: Uint8Array, n: number): Int8Array {
  return decodeRansLanesDetailed(payload, n).out;
}

/** Decodes and also returns the header and each weight's symbol (for `sparrow inspect`). */
export function decodeRansLanesDetailed(
  payload: Uint8Array,
  n: number,
): { out: Int8Array; header: LanesHeader; sym: Uint8Array; sumCtx: Uint16Array; sclass: Uint8Array } {
  const h = readLanesHeader(payload, n);
  const { cols, g, log, t1, t2, tables, f0, base } = h;
  const end = payload.length;
  const rows = n / cols;
  const S = Math.min(LANES, rows);
  let pos = h.pos;
  if (end - pos < 4 * S) throw new SparrowError('corrupt_stream', 'rANS states run past the end');
  const dv = new DataView(payload.buffer, payload.byteOffset);
  const x: number[] = [];
  for (let k = 0; k < S; k++) {
    const s = dv.getUint32(pos + 4 * k, true);
    if (s < RANS_L) throw new SparrowError('corrupt_stream', `rANS state ${k} is ${s}, under 2^16`);
    x.push(s);
  }
  pos += 4 * S;
  const LM = log + SIGN_BITS;
  const M = POW2[LM]!;
  const out = new Int8Array(n);
  const sym = new Uint8Array(n);
  const sumCtx = new Uint16Array(n);
  const sclass = new Uint8Array(n);
  const groups = Math.ceil(rows / LANES);
  for (let gi = 0; gi < groups; gi++) {
    const nl = Math.min(LANES, rows - gi * LANES);
    for (let c = 0; c < cols; c++)
      for (let ql = 0; ql < nl; ql++) {
        const row = gi * LANES + ql;
        const p = row * cols + c;
        const l = hasLeft(c, g) ? p - 1 : -1,
          u = hasUp(c, g) ? p - g.kw : -1;
        const sc = (l >= 0 ? sym[l]! : 0) + (u >= 0 ? sym[u]! : 0);
        const cls = 3 * sg(l >= 0 ? out[l]! : 0) + sg(u >= 0 ? out[u]! : 0);
        sumCtx[p] = sc;
        sclass[p] = cls;
        const t = tables[magCtx(sc, t1, t2)]!;
        const xv = x[ql]!;
        const slot = xv % M;
        const a = Math.floor(slot / 16),
          b = slot % 16;
        let s = 0; // linear search: the reference, not the table-driven WASM decoder
        while (s < t.maxSym && t.start[s + 1]! <= a) s++;
        const fm = t.freq[s]!;
        const f = s === 0 ? 16 : f0[cls]!;
        const isNeg = b >= f;
        const ff = isNeg ? 16 - f : f;
        let nx = ff * (fm * Math.floor(xv / M) + a - t.start[s]!) + b - (isNeg ? f : 0);
        if (nx < RANS_L) {
          if (pos + 2 > end) throw new SparrowError('corrupt_stream', 'rANS data runs past the end of the stream');
          nx = nx * 65536 + (payload[pos]! | (payload[pos + 1]! << 8));
          pos += 2;
        }
        x[ql] = nx;
        sym[p] = s;
        if (s !== 0) {
          const mag = s + base[row]!;
          if (mag > 128 || (mag === 128 && !isNeg))
            throw new SparrowError('corrupt_stream', `value magnitude ${mag}${isNeg ? '' : ' (positive)'} is not an int8`);
          out[p] = isNeg ? -mag : mag;
        }
      }
  }
  if (pos !== end) throw new SparrowError('corrupt_stream', `${end - pos} rANS bytes left after the last symbol`);
  for (let k = 0; k < S; k++)
    if (x[k] !== RANS_L) throw new SparrowError('corrupt_stream', `rANS state ${k} does not end at its initial value`);
  return { out, header: h, sym, sumCtx, sclass };
}
