// Codec 6 "rans-runs" (docs/format.md "Codec 6"): zero runs and nonzero values, two rANS
// states. Weights are visited row-major; each nonzero costs one run symbol (the zeros before
// it, state A, order 0, an escape symbol `esc` standing for esc zeros and no value) and one
// value symbol (state B): the joint (magnitude above the row base, sign) of codec 5, its
// magnitude table one of 3 chosen by sym(left) + sym(up) against two thresholds, its sign
// probability (4 bits) one of 9 by the signs of left/up (the neighbours in the kernel window,
// both in the same row). Zeros cost no decode step beyond their run: the decoder pre-zeroes
// the output and writes the nonzeros only. Encoder and the plain reference decoder; the WASM
// decoder (assembly/rans_runs.ts) is compared against it bit for bit.

import { SparrowError } from '../errors.js';
import { BitWriter } from './bitio.js';
import { buildTable, POW2, RANS_L, readTable, tableBits, tableCostBits, writeTable, type FreqTable } from './rans.js';
import type { SignGeometry } from './rans_int8.js';
import {
  bitsFor,
  hasLeft,
  hasUp,
  LANES_LOG_MAX,
  MAG_CONTEXTS,
  magCtx,
  MAX_MAG_SYM,
  sg,
  shannonBits,
  SIGN_BITS,
  SIGN_CLASSES,
  signF0,
  readRowGeometry,
  readValueModel,
  type ValueModel,
} from './rans_lanes.js';

/** Run escapes tried by the encoder (the run alphabet is 0..esc). */
export const RUN_ESCAPES = [1, 3, 7, 15, 31, 63, 127, 255] as const;

export interface RunsEncoded {
  payload: Uint8Array;
  tableBytes: number;
  streams: { name: string; count: number; entropyBytes: number }[];
  nonzero: number;
}

/** The run symbols (decode order) of `data` with escape `esc`. */
export function runSymbols(data: Int8Array, esc: number): number[] {
  const out: number[] = [];
  let z = 0;
  for (let p = 0; p < data.length; p++) {
    if (data[p] === 0) {
      z++;
      continue;
    }
    for (; z >= esc; z -= esc) out.push(esc);
    out.push(z);
    z = 0;
  }
  for (; z >= esc; z -= esc) out.push(esc);
  if (z > 0) out.push(z);
  return out;
}

/**
 * Encodes `data` (rows of `cols`, sign/context geometry `g`). `logs`: value table logs tried
 * (default 9..12, a larger one kept only where it saves ≥ 0.05 %); the run escape and its
 * table are the smallest of RUN_ESCAPES.
 */
export function encodeRansRuns(data: Int8Array, cols: number, g: SignGeometry, opts: { logs?: readonly number[] } = {}): RunsEncoded {
  const n = data.length;
  if (n === 0 || cols < 1 || n % cols !== 0) cols = Math.max(1, n);
  if (!(g.kw >= 1 && g.karea >= g.kw && g.karea <= cols)) g = { kw: cols, karea: cols };
  const rows = n / cols || 1;
  // per row base, per nonzero: its symbol, neighbour sum and sign class
  const base = new Uint8Array(rows);
  const sym = new Uint8Array(n);
  for (let r = 0; r * cols < n; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) {
      const a = Math.abs(data[r * cols + c]!);
      if (a !== 0 && (m === 0 || a < m)) m = a;
    }
    base[r] = m === 0 ? 0 : m - 1;
    for (let c = 0; c < cols; c++) {
      const p = r * cols + c;
      sym[p] = data[p] === 0 ? 0 : Math.abs(data[p]!) - base[r]!;
    }
  }
  const nzPos: number[] = [];
  for (let p = 0; p < n; p++) if (data[p] !== 0) nzPos.push(p);
  const nnz = nzPos.length;
  const sumCtx = new Uint16Array(nnz),
    sclass = new Uint8Array(nnz);
  nzPos.forEach((p, k) => {
    const c = p % cols;
    const l = hasLeft(c, g) ? p - 1 : -1,
      u = hasUp(c, g) ? p - g.kw : -1;
    sumCtx[k] = (l >= 0 ? sym[l]! : 0) + (u >= 0 ? sym[u]! : 0);
    sclass[k] = 3 * sg(l >= 0 ? data[l]! : 0) + sg(u >= 0 ? data[u]! : 0);
  });

  // runs: the escape whose table plus symbols cost least
  let run: { esc: number; syms: number[]; table: FreqTable; bits: number; h: number } | null = null;
  for (const esc of RUN_ESCAPES) {
    const syms = runSymbols(data, esc);
    const counts = new Float64Array(esc + 1);
    for (const s of syms) counts[s]!++;
    const table = buildTable(counts);
    const bits = tableBits(table) + tableCostBits(table, counts);
    if (!run || bits < run.bits) run = { esc, syms, table, bits, h: shannonBits(counts) };
    if (syms.length === nnz) break; // no escapes needed: larger ones only cost table bits
  }

  // value contexts: thresholds on sym(left) + sym(up) (quantiles over the nonzeros)
  const sorted = Uint16Array.from(sumCtx).sort();
  const q = (f: number) => (nnz ? sorted[Math.min(nnz - 1, Math.floor(f * nnz))]! : 0);
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
  const tryLog = (log: number) => {
    let best: { t1: number; t2: number; tables: FreqTable[]; bits: number; hBits: number } | null = null;
    for (const [t1, t2] of cands) {
      const cs = Array.from({ length: MAG_CONTEXTS }, () => new Float64Array(MAX_MAG_SYM + 1));
      for (let k = 0; k < nnz; k++) cs[magCtx(sumCtx[k]!, t1, t2)]![sym[nzPos[k]!]!]!++;
      let bits = 0,
        hBits = 0;
      const tables: FreqTable[] = [];
      for (const c of cs) {
        const present = c.reduce((a, x) => a + (x > 0 ? 1 : 0), 0);
        if (present > 2 ** (log - 1)) break;
        const t = buildTable(c, log);
        bits += tableBits(t) + tableCostBits(t, c);
        hBits += shannonBits(c);
        tables.push(t);
      }
      if (tables.length === MAG_CONTEXTS && (!best || bits < best.bits)) best = { t1, t2, tables, bits, hBits };
    }
    return best;
  };
  let val: ReturnType<typeof tryLog> & { log: number } = null!;
  for (const log of opts.logs ?? [9, 10, 11, 12]) {
    const e = tryLog(log);
    if (e && (!val || e.bits < val.bits * 0.9995)) val = { ...e, log };
  }
  if (!val) val = { ...tryLog(LANES_LOG_MAX)!, log: LANES_LOG_MAX };

  const pos = new Float64Array(SIGN_CLASSES),
    neg = new Float64Array(SIGN_CLASSES);
  for (let k = 0; k < nnz; k++) (data[nzPos[k]!]! < 0 ? neg : pos)[sclass[k]!]!++;
  const f0 = Array.from(pos, (pp, c) => signF0(pp, neg[c]!));
  let signH = 0;
  for (let c = 0; c < SIGN_CLASSES; c++) signH += shannonBits([pos[c]!, neg[c]!]);
  let maxBase = 0;
  for (const b of base) maxBase = Math.max(maxBase, b);
  const bw = bitsFor(maxBase);

  // rANS in reverse decode order: per nonzero (last first) its value on B, then its run(s) on A
  const { esc, syms, table: rt } = run!;
  const LM = val.log + SIGN_BITS;
  const LR = rt.log;
  const x = [RANS_L, RANS_L];
  const words: number[] = [];
  const put = (st: number, F: number, shift: number, next: (qq: number, r: number) => number) => {
    let v = x[st]!;
    if (v >= F * POW2[32 - shift]!) {
      words.push(v % 65536);
      v = Math.floor(v / 65536);
    }
    const qq = Math.floor(v / F);
    x[st] = next(qq, v - qq * F);
  };
  const putRun = (s: number) => put(0, rt.freq[s]!, LR, (qq, r) => qq * POW2[LR]! + rt.start[s]! + r);
  let ri = syms.length - 1;
  // trailing zeros: the run symbols after the last nonzero
  let trailing = 0;
  for (let p = n - 1; p >= 0 && data[p] === 0; p--) trailing++;
  const tailSyms = Math.floor(trailing / esc) + (trailing % esc > 0 ? 1 : 0);
  for (let i = 0; i < tailSyms; i++) putRun(syms[ri--]!);
  for (let k = nnz - 1; k >= 0; k--) {
    const p = nzPos[k]!;
    const s = sym[p]!;
    const t = val.tables[magCtx(sumCtx[k]!, val.t1, val.t2)]!;
    const fm = t.freq[s]!,
      sm = t.start[s]!;
    const f = f0[sclass[k]!]!;
    const isNeg = data[p]! < 0;
    const ff = isNeg ? 16 - f : f,
      sf = isNeg ? f : 0;
    put(1, fm * ff, LM, (qq, r) => {
      const offM = Math.floor(r / ff);
      return qq * POW2[LM]! + (sm + offM) * 16 + sf + (r - offM * ff);
    });
    // its run: the symbol just before it (< esc), then the escapes before that (the previous
    // nonzero's run symbol is < esc, so the walk back stops there)
    putRun(syms[ri--]!);
    while (ri >= 0 && syms[ri] === esc) putRun(syms[ri--]!);
  }
  if (ri !== -1) throw new SparrowError('internal', `rans-runs: ${ri + 1} run symbols left over`);

  const w = new BitWriter(64 + 2 * words.length);
  w.writeVarint(cols);
  w.writeVarint(g.kw);
  w.writeVarint(g.karea);
  w.writeByte(esc);
  writeTable(w, rt);
  w.writeByte(val.log);
  w.writeVarint(val.t1);
  w.writeVarint(val.t2);
  for (const t of val.tables) writeTable(w, t);
  for (const f of f0) w.writeBits(f, 4);
  w.writeBits(bw, 3);
  for (const b of base) w.writeBits(b, bw);
  w.alignByte();
  const tableBytes = w.bitLength / 8;
  for (const xv of x) for (let i = 0; i < 4; i++) w.writeByte(Math.floor(xv / POW2[8 * i]!) & 0xff);
  for (let i = words.length - 1; i >= 0; i--) {
    w.writeByte(words[i]! & 0xff);
    w.writeByte(words[i]! >>> 8);
  }
  return {
    payload: w.finish(),
    tableBytes,
    streams: [
      { name: 'runs', count: syms.length, entropyBytes: run!.h / 8 },
      { name: 'magnitudes', count: nnz, entropyBytes: val.hBits / 8 },
      { name: 'signs', count: nnz, entropyBytes: signH / 8 },
    ],
    nonzero: nnz,
  };
}

export interface RunsHeader extends ValueModel {
  cols: number;
  g: SignGeometry;
  esc: number;
  runs: FreqTable;
  /** first byte of the two rANS states */
  pos: number;
}

/** Parses and checks a codec-6 header for an n-element tensor. */
export function readRunsHeader(payload: Uint8Array, n: number): RunsHeader {
  const end = payload.length;
  const geo = readRowGeometry(payload, n);
  let pos = geo.pos;
  if (pos >= end) throw new SparrowError('corrupt_stream', 'rANS-runs escape missing');
  const esc = payload[pos++]!;
  if (esc < 1) throw new SparrowError('corrupt_stream', 'rANS-runs escape is 0');
  const rt = readTable(payload, pos, end, esc);
  return { cols: geo.cols, g: geo.g, esc, runs: rt.table, ...readValueModel(payload, rt.pos, n / geo.cols || 1, 'rANS-runs') };
}

/** Reference decoder of a codec-6 payload to n int8 values. */
export function decodeRansRunsRef(payload: Uint8Array, n: number): Int8Array {
  return decodeRansRunsDetailed(payload, n).out;
}

/** Decodes; also returns the header, the run symbols and each nonzero's context (for `sparrow inspect`). */
export function decodeRansRunsDetailed(
  payload: Uint8Array,
  n: number,
): { out: Int8Array; header: RunsHeader; runs: number[]; sym: Uint8Array; sumCtx: number[]; sclass: number[] } {
  const h = readRunsHeader(payload, n);
  const { cols, g, esc, runs: rt, log, t1, t2, tables, f0, base } = h;
  const end = payload.length;
  let pos = h.pos;
  if (end - pos < 8) throw new SparrowError('corrupt_stream', 'rANS states run past the end');
  const dv = new DataView(payload.buffer, payload.byteOffset);
  const x = [dv.getUint32(pos, true), dv.getUint32(pos + 4, true)];
  for (let k = 0; k < 2; k++) if (x[k]! < RANS_L) throw new SparrowError('corrupt_stream', `rANS state ${k} is ${x[k]}, under 2^16`);
  pos += 8;
  const renorm = (v: number) => {
    if (v >= RANS_L) return v;
    if (pos + 2 > end) throw new SparrowError('corrupt_stream', 'rANS data runs past the end of the stream');
    v = v * 65536 + (payload[pos]! | (payload[pos + 1]! << 8));
    pos += 2;
    return v;
  };
  const lookup = (t: FreqTable, a: number) => {
    let s = 0; // linear search: the reference, not the table-driven WASM decoder
    while (s < t.maxSym && t.start[s + 1]! <= a) s++;
    return s;
  };
  const out = new Int8Array(n);
  const sym = new Uint8Array(n);
  const runSyms: number[] = [],
    sumCtx: number[] = [],
    sclass: number[] = [];
  const MR = POW2[rt.log]!,
    LM = log + SIGN_BITS,
    M = POW2[LM]!;
  let p = 0;
  while (p < n) {
    // run (state A)
    const slotR = x[0]! % MR;
    const r = lookup(rt, slotR);
    x[0] = renorm(rt.freq[r]! * Math.floor(x[0]! / MR) + slotR - rt.start[r]!);
    runSyms.push(r);
    if (r === esc) {
      p += esc;
      if (p > n) throw new SparrowError('corrupt_stream', `zero run goes past the ${n}-element tensor`);
      continue;
    }
    p += r;
    if (p === n) break;
    if (p > n) throw new SparrowError('corrupt_stream', `zero run goes past the ${n}-element tensor`);
    // value (state B)
    const row = Math.floor(p / cols),
      c = p - row * cols;
    const l = hasLeft(c, g) ? p - 1 : -1,
      u = hasUp(c, g) ? p - g.kw : -1;
    const sc = (l >= 0 ? sym[l]! : 0) + (u >= 0 ? sym[u]! : 0);
    const cls = 3 * sg(l >= 0 ? out[l]! : 0) + sg(u >= 0 ? out[u]! : 0);
    sumCtx.push(sc);
    sclass.push(cls);
    const t = tables[magCtx(sc, t1, t2)]!;
    const xv = x[1]!;
    const slot = xv % M;
    const a = Math.floor(slot / 16),
      b = slot % 16;
    const s = lookup(t, a);
    const f = f0[cls]!;
    const isNeg = b >= f;
    const ff = isNeg ? 16 - f : f;
    x[1] = renorm(ff * (t.freq[s]! * Math.floor(xv / M) + a - t.start[s]!) + b - (isNeg ? f : 0));
    if (s === 0) throw new SparrowError('corrupt_stream', `value symbol 0 at ${p}`);
    const mag = s + base[row]!;
    if (mag > 128 || (mag === 128 && !isNeg))
      throw new SparrowError('corrupt_stream', `value magnitude ${mag}${isNeg ? '' : ' (positive)'} is not an int8`);
    sym[p] = s;
    out[p] = isNeg ? -mag : mag;
    p++;
  }
  if (pos !== end) throw new SparrowError('corrupt_stream', `${end - pos} rANS bytes left after the last symbol`);
  for (let k = 0; k < 2; k++)
    if (x[k] !== RANS_L) throw new SparrowError('corrupt_stream', `rANS state ${k} does not end at its initial value`);
  return { out, header: h, runs: runSyms, sym, sumCtx, sclass };
}
