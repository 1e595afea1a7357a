// Codec 4 "rans" (docs/format.md "Codec 4"): the zero-run / row-base / magnitude split of
// codec 3, every stream coded with static interleaved rANS (src/codec/rans.ts), and the signs
// coded with binary contexts from the signs of the left and upper neighbours in the kernel
// window (measured: the one context that pays for its table on ResNet weights, see
// docs/compression.md). Encoder and the plain reference decoder.

import { SparrowError } from '../errors.js';
import { BitReader, BitWriter, readVarint } from './bitio.js';
import {
  binaryBits,
  binaryF0,
  buildTable,
  RansDecoder,
  RansEncoder,
  readTable,
  SIGN_LOG,
  tableBits,
  tableCostBits,
  writeTable,
  type FreqTable,
} from './rans.js';

export const RANS_ESCAPE = 255;
export const SIGN_CONTEXTS = 9;

/** Geometry of the sign contexts: left neighbour if c mod kw ≠ 0, upper (c − kw) if c mod karea ≥ kw. */
export interface SignGeometry {
  kw: number;
  karea: number;
}

/** sg(v): 0 negative, 1 zero (or no neighbour), 2 positive. */
function sg(v: number): number {
  return v < 0 ? 0 : v > 0 ? 2 : 1;
}

/** Context (0..8) of the sign at flat index p, column c, given the values before p. */
export function signContext(out: ArrayLike<number>, p: number, c: number, g: SignGeometry): number {
  const left = c % g.kw !== 0 ? out[p - 1]! : 0;
  const up = c % g.karea >= g.kw ? out[p - g.kw]! : 0;
  return 3 * sg(left) + sg(up);
}

function counts(symbols: ArrayLike<number>, alphabet: number): Float64Array {
  const f = new Float64Array(alphabet);
  for (let i = 0; i < symbols.length; i++) f[symbols[i]!]!++;
  return f;
}

function h0Bytes(c: Float64Array): number {
  let n = 0;
  for (const x of c) n += x;
  let b = 0;
  for (const x of c) if (x > 0) b -= x * Math.log2(x / n);
  return b / 8;
}

/**
 * Magnitude context (docs/format.md "Codec 4"): with threshold t ≥ 1, magnitude symbol k is
 * coded with table 1 when the previous magnitude symbol (k − 1) is ≥ t, else table 0 (the
 * first with table 0); t = 0: one table. The left neighbour's magnitude is the one context
 * on magnitudes that pays for its second table on the ResNets (0.4 % at 0 % sparsity).
 */
export function magContext(mags: ArrayLike<number>, k: number, threshold: number): number {
  return threshold > 0 && k > 0 && mags[k - 1]! >= threshold ? 1 : 0;
}

/** Table bytes (as written, byte-aligned) + coded bytes of `counts` under its best table. */
function tableAndCodeBytes(c: Float64Array): { t: FreqTable; bytes: number } {
  const t = buildTable(c);
  return { t, bytes: Math.ceil(tableBits(t) / 8) + tableCostBits(t, c) / 8 };
}

/** One magnitude table, or two split on the previous magnitude, whichever codes smaller. */
function magnitudeContext(
  mags: Uint8Array,
  cm: Float64Array,
  allowed: boolean,
): { threshold: number; tables: FreqTable[]; entropyBytes: number } {
  const one = tableAndCodeBytes(cm);
  let best = { threshold: 0, tables: [one.t], entropyBytes: h0Bytes(cm), bytes: one.bytes };
  if (!allowed || mags.length < 512) return best;
  // candidate thresholds: quantiles of the magnitudes
  const sorted = Uint8Array.from(mags).sort();
  const tried = new Set<number>();
  for (const f of [0.3, 0.4, 0.5, 0.6, 0.7]) {
    const t = sorted[Math.floor(f * sorted.length)]!;
    if (t < 1 || tried.has(t)) continue;
    tried.add(t);
    const c0 = new Float64Array(128),
      c1 = new Float64Array(128);
    for (let k = 0; k < mags.length; k++) (magContext(mags, k, t) ? c1 : c0)[mags[k]!]!++;
    const a = tableAndCodeBytes(c0),
      b = tableAndCodeBytes(c1);
    if (a.bytes + b.bytes < best.bytes)
      best = { threshold: t, tables: [a.t, b.t], entropyBytes: h0Bytes(c0) + h0Bytes(c1), bytes: a.bytes + b.bytes };
  }
  return best;
}

export interface RansEncoded {
  payload: Uint8Array;
  tableBytes: number;
  streams: { name: string; count: number; entropyBytes: number }[];
  nonzero: number;
}

/** Encodes `data` as rows of `cols` with sign geometry `g` (validated: 1 ≤ kw ≤ karea ≤ cols). */
export function encodeRansRows(
  data: Int8Array,
  cols: number,
  g: SignGeometry,
  opts: { states?: 1 | 2 | 4 | 8; magContext?: boolean } = {},
): RansEncoded {
  const n = data.length;
  if (n === 0 || cols < 1 || n % cols !== 0) cols = Math.max(1, n);
  if (!(g.kw >= 1 && g.karea >= g.kw && g.karea <= cols)) g = { kw: cols, karea: cols };
  const rows = n === 0 ? 1 : n / cols;
  const base = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols && r * cols + c < n; c++) {
      const a = Math.abs(data[r * cols + c]!);
      if (a !== 0 && (m === 0 || a < m)) m = a;
    }
    base[r] = m === 0 ? 0 : m - 1;
  }
  const runs: number[] = [];
  let nnz0 = 0;
  for (let p = 0; p < n; p++) if (data[p] !== 0) nnz0++;
  const mags = new Uint8Array(nnz0);
  const sctx = new Uint8Array(nnz0);
  const sbit = new Uint8Array(nnz0);
  let kk = 0;
  let run = 0;
  for (let p = 0; p < n; p++) {
    const v = data[p]!;
    if (v === 0) {
      run++;
      continue;
    }
    while (run >= RANS_ESCAPE) {
      runs.push(RANS_ESCAPE);
      run -= RANS_ESCAPE;
    }
    runs.push(run);
    run = 0;
    const r = Math.floor(p / cols);
    mags[kk] = Math.abs(v) - 1 - base[r]!;
    sctx[kk] = signContext(data, p, p - r * cols, g);
    sbit[kk] = v < 0 ? 1 : 0;
    kk++;
  }
  const nnz = nnz0;
  const cb = counts(base, 128),
    cr = counts(runs, 256),
    cm = counts(mags, 128);
  const tb = buildTable(cb),
    tr = buildTable(cr);
  const mc = magnitudeContext(mags, cm, opts.magContext ?? true);
  const z = new Float64Array(SIGN_CONTEXTS),
    o = new Float64Array(SIGN_CONTEXTS);
  for (let k = 0; k < nnz; k++) (sbit[k] ? o : z)[sctx[k]!]!++;
  const f0 = Array.from(z, (zz, c) => binaryF0(zz, o[c]!));

  const total = rows + runs.length + 2 * nnz;
  const S = opts.states ?? (total >= 2048 ? 4 : 1);
  const enc = new RansEncoder(S, total);
  const put = (t: FreqTable, s: number) => enc.put(t.start[s]!, t.freq[s]!, t.log);
  enc.group();
  for (const b of base) put(tb, b);
  enc.group();
  for (const r of runs) put(tr, r);
  enc.group();
  for (let k = 0; k < nnz; k++) put(mc.tables[magContext(mags, k, mc.threshold)]!, mags[k]!);
  enc.group();
  const M = 2 ** SIGN_LOG;
  for (let k = 0; k < nnz; k++) {
    const f = f0[sctx[k]!]!;
    if (sbit[k]) enc.put(f, M - f, SIGN_LOG);
    else enc.put(0, f, SIGN_LOG);
  }
  const data8 = enc.finish();

  const w = new BitWriter(64 + data8.length);
  w.writeVarint(cols);
  w.writeVarint(g.kw);
  w.writeVarint(g.karea);
  w.writeVarint(nnz);
  w.writeVarint(runs.length);
  w.writeByte(S);
  w.writeByte(mc.threshold);
  writeTable(w, tb);
  writeTable(w, tr);
  for (const t of mc.tables) writeTable(w, t);
  for (const f of f0) w.writeBits(f, 9);
  w.alignByte();
  const tableBytes = w.bitLength / 8;
  w.writeBytes(data8);
  let signBits = 0;
  for (let c = 0; c < SIGN_CONTEXTS; c++) signBits += binaryBits(z[c]!, o[c]!);
  return {
    payload: w.finish(),
    tableBytes,
    streams: [
      { name: 'row-bases', count: rows, entropyBytes: h0Bytes(cb) },
      { name: 'runs', count: runs.length, entropyBytes: h0Bytes(cr) },
      { name: 'magnitudes', count: nnz, entropyBytes: mc.entropyBytes },
      { name: 'signs', count: nnz, entropyBytes: signBits / 8 },
    ],
    nonzero: nnz,
  };
}

/** The sign geometries worth trying for a weight of shape `dims` with rows of `cols`. */
export function signGeometries(cols: number, dims?: readonly number[]): SignGeometry[] {
  const out: SignGeometry[] = [{ kw: cols, karea: cols }];
  if (dims && dims.length >= 3) {
    const kw = dims[dims.length - 1]!,
      karea = kw * dims[dims.length - 2]!;
    if (kw >= 1 && karea >= kw && karea <= cols && cols % karea === 0 && kw < cols) out.push({ kw, karea });
  }
  return out;
}

export interface RansParsed {
  cols: number;
  g: SignGeometry;
  base: Uint8Array;
  runs: Uint8Array;
  mags: Uint8Array;
  f0: number[];
  /** magnitude context threshold (0: one table) */
  threshold: number;
  dec: RansDecoder;
  nnz: number;
}

/** Reference decoder of a codec-4 payload to n int8 values. */
export function decodeRansRef(payload: Uint8Array, n: number): Int8Array {
  return decodeRansDetailed(payload, n).out;
}

/** Decodes and also returns the parsed streams (for `sparrow inspect`). */
export function decodeRansDetailed(payload: Uint8Array, n: number): { out: Int8Array; parsed: RansParsed; sctx: Uint8Array } {
  const end = payload.length;
  let pos = 0;
  const v = () => {
    const r = readVarint(payload, pos, end);
    pos = r.pos;
    return r.value;
  };
  const cols = v(),
    kw = v(),
    karea = v(),
    nnz = v(),
    nRuns = v();
  if (cols < 1 || (n > 0 && n % cols !== 0) || (n === 0 && cols !== 1))
    throw new SparrowError('corrupt_stream', `row length ${cols} does not divide the ${n}-element tensor`);
  if (!(kw >= 1 && karea >= kw && karea <= cols))
    throw new SparrowError('corrupt_stream', `sign geometry kw ${kw}, karea ${karea} does not fit rows of ${cols}`);
  if (nnz > n) throw new SparrowError('corrupt_stream', `${nnz} nonzero values in a ${n}-element tensor`);
  if (nRuns > n) throw new SparrowError('corrupt_stream', `${nRuns} zero runs in a ${n}-element tensor`);
  if (pos >= end) throw new SparrowError('corrupt_stream', 'rANS state count missing');
  const S = payload[pos++]!;
  if (S !== 1 && S !== 2 && S !== 4 && S !== 8) throw new SparrowError('corrupt_stream', `rANS state count ${S} is not 1, 2, 4 or 8`);
  if (pos >= end) throw new SparrowError('corrupt_stream', 'rANS magnitude context missing');
  const threshold = payload[pos++]!;
  if (threshold > 127) throw new SparrowError('corrupt_stream', `magnitude context threshold ${threshold} is over 127`);
  const tb = readTable(payload, pos, end, 127);
  const tr = readTable(payload, tb.pos, end, 255);
  const tm = [readTable(payload, tr.pos, end, 127)];
  if (threshold > 0) tm.push(readTable(payload, tm[0]!.pos, end, 127));
  pos = tm[tm.length - 1]!.pos;
  const br = new BitReader(payload, pos, end);
  const f0: number[] = [];
  for (let c = 0; c < SIGN_CONTEXTS; c++) {
    const f = br.readBits(9);
    if (f > 2 ** SIGN_LOG) throw new SparrowError('corrupt_stream', `sign frequency ${f} is over ${2 ** SIGN_LOG}`);
    f0.push(f);
  }
  if (br.bitPos > br.bitsAvailable) throw new SparrowError('corrupt_stream', 'sign tables run past the end');
  pos += (br.bitPos + 7) >>> 3;
  const dec = new RansDecoder(payload, pos, end, S);
  const rows = n === 0 ? 1 : n / cols;
  const base = new Uint8Array(rows);
  const runs = new Uint8Array(nRuns);
  const mags = new Uint8Array(nnz);
  dec.group();
  for (let r = 0; r < rows; r++) base[r] = dec.decode(tb.table);
  dec.group();
  for (let i = 0; i < nRuns; i++) runs[i] = dec.decode(tr.table);
  dec.group();
  for (let k = 0; k < nnz; k++) mags[k] = dec.decode(tm[magContext(mags, k, threshold)]!.table);
  dec.group();
  const g = { kw, karea };
  const out = new Int8Array(n);
  const sctx = new Uint8Array(nnz);
  let p = 0,
    k = 0;
  for (let i = 0; i < nRuns; i++) {
    const r = runs[i]!;
    if (r === RANS_ESCAPE) {
      p += RANS_ESCAPE;
      if (p > n) throw runPastEnd(n);
      continue;
    }
    p += r;
    if (p >= n) throw runPastEnd(n);
    if (k >= nnz) throw new SparrowError('corrupt_stream', 'more runs than nonzero values');
    const row = Math.floor(p / cols);
    const c = p - row * cols;
    const ctx = signContext(out, p, c, g);
    sctx[k] = ctx;
    const neg = dec.decodeBit(f0[ctx]!);
    const mag = mags[k]! + 1 + base[row]!;
    if (mag > 128 || (mag === 128 && !neg))
      throw new SparrowError('corrupt_stream', `value magnitude ${mag}${neg ? '' : ' (positive)'} is not an int8`);
    out[p] = neg ? -mag : mag;
    p++;
    k++;
  }
  if (k !== nnz) throw new SparrowError('corrupt_stream', `runs place ${k} values but the tensor has ${nnz}`);
  dec.finish();
  return { out, parsed: { cols, g, base, runs, mags, f0, threshold, dec, nnz }, sctx };
}

function runPastEnd(n: number): SparrowError {
  return new SparrowError('corrupt_stream', `zero runs go past the end of the ${n}-element tensor`);
}
