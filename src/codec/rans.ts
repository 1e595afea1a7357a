// Static interleaved rANS (docs/format.md "rANS"): frequency tables quantized in the log
// domain, 32-bit states with 16-bit renormalization (ryg_rans' rans_word layout), S states
// taking symbols in turn. Encoder and the plain reference decoder that tests and fallbacks
// share; the WASM decoder (assembly/rans.ts) is compared against it bit for bit.

import { SparrowError } from '../errors.js';
import { BitReader, BitWriter } from './bitio.js';

/** Lower bound of a normalized state: x ∈ [L, 2^32). One 16-bit word renormalizes. */
export const RANS_L = 1 << 16;
export const RANS_LOG_MIN = 5;
export const RANS_LOG_MAX = 12;
/** Frequency levels are 6-bit codes; levelValue(e) is the frequency a level stands for. */
export const MAX_LEVEL = 63;
/** Binary (sign) tables: f0 ∈ [0, 2^SIGN_LOG], 9 bits each. */
export const SIGN_LOG = 8;

/** Level → frequency: 0..8 are exact, then 4 steps per octave: 10, 12, 14, 16, 20, 24, … */
export function levelValue(e: number): number {
  if (e <= 8) return e;
  const k = e - 9;
  return (5 + (k & 3)) * 2 ** ((k >> 2) + 1);
}

const LEVELS: number[] = Array.from({ length: MAX_LEVEL + 1 }, (_, e) => levelValue(e));
export const POW2: number[] = Array.from({ length: 33 }, (_, i) => 2 ** i);
const LOG2_LEVELS: number[] = LEVELS.map((v) => (v > 0 ? Math.log2(v) : 0));
/** Scale factors tried on the ideal frequencies (the rest symbol absorbs the rounding). */
const LAMBDAS = [1, 0.985, 1.015, 0.97, 1.03];

/** The level whose value is nearest `t` (> 0) in the log domain, at least 1. */
function nearestLevel(t: number): number {
  if (t <= 1) return 1;
  // largest e with LEVELS[e] ≤ t (binary search: LEVELS rises from e = 1)
  let lo = 1,
    hi = MAX_LEVEL;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (LEVELS[mid]! <= t) lo = mid;
    else hi = mid - 1;
  }
  let e = lo;
  if (e < MAX_LEVEL && t * t > LEVELS[e]! * LEVELS[e + 1]!) e++;
  return e;
}

/** A normalized table: freq[s] > 0 for coded symbols, Σ freq = 2^log. */
export interface FreqTable {
  log: number;
  maxSym: number;
  rest: number; // the symbol that takes 2^log − Σ(others)
  levels: Uint8Array; // (maxSym+1) as written
  freq: Uint32Array; // (maxSym+1)
  start: Uint32Array; // (maxSym+1) cumulative
}

function finishTable(log: number, maxSym: number, rest: number, levels: Uint8Array): FreqTable | null {
  const M = 2 ** log;
  const freq = new Uint32Array(maxSym + 1);
  let sum = 0;
  for (let s = 0; s <= maxSym; s++) {
    if (s === rest) continue;
    freq[s] = LEVELS[levels[s]!]!;
    sum += freq[s]!;
  }
  if (sum >= M) return null;
  freq[rest] = M - sum;
  const start = new Uint32Array(maxSym + 1);
  let c = 0;
  for (let s = 0; s <= maxSym; s++) {
    start[s] = c;
    c += freq[s]!;
  }
  return { log, maxSym, rest, levels, freq, start };
}

/** Bits writeTable spends on the level list (after its 3 header bytes), before alignment. */
function levelBits(levels: Uint8Array): number {
  let prev = 0,
    bits = 0;
  for (const e of levels) {
    const d = Math.abs(e - prev);
    bits += d === 0 ? 1 : d === 1 ? 3 : d === 2 ? 4 : 9;
    prev = e;
  }
  return bits;
}

/**
 * The table that codes `counts` (alphabet counts.length) cheapest: table bytes + coded bits,
 * over logs RANS_LOG_MIN..RANS_LOG_MAX and a grid of scale factors on the ideal frequencies
 * (the `rest` symbol absorbs the rounding).
 */
export function buildTable(counts: ArrayLike<number>, fixedLog?: number): FreqTable {
  const logMin = fixedLog ?? RANS_LOG_MIN,
    logMax = fixedLog ?? RANS_LOG_MAX;
  let maxSym = 0,
    rest = 0,
    total = 0;
  for (let s = 0; s < counts.length; s++) {
    const c = counts[s]!;
    if (c > 0) maxSym = s;
    if (c > counts[rest]!) rest = s;
    total += c;
  }
  if (total === 0 || counts[rest]! === total) {
    // one symbol (or none): it takes the whole range and costs nothing
    const levels = new Uint8Array(rest + 1);
    return finishTable(logMin, rest, rest, levels)!;
  }
  let best: FreqTable | null = null;
  let bestCost = Infinity;
  let present = 0;
  for (let s = 0; s <= maxSym; s++) if (counts[s]! > 0) present++;
  for (let log = logMax; log >= logMin; log--) {
    const M = 2 ** log;
    if (present > M / 2) break;
    let bestHere = Infinity;
    // scale factors near 1; if none leaves room for the rest symbol, shrink until one does
    const lambdas = [...LAMBDAS];
    for (let i = 0; i < lambdas.length; i++) {
      const lambda = lambdas[i]!;
      const levels = new Uint8Array(maxSym + 1);
      let sum = 0;
      for (let s = 0; s <= maxSym; s++) {
        const c = counts[s]!;
        if (c > 0 && s !== rest) {
          levels[s] = nearestLevel(((c * M) / total) * lambda);
          sum += LEVELS[levels[s]!]!;
        }
      }
      if (sum >= M) {
        if (i === lambdas.length - 1 && bestHere === Infinity && lambda > 0.01) lambdas.push(lambda * 0.8);
        continue;
      }
      levels[rest] = nearestLevel(M - sum);
      let bits = levelBits(levels) + 24;
      for (let s = 0; s <= maxSym; s++) {
        const c = counts[s]!;
        if (c > 0) bits += c * (log - (s === rest ? Math.log2(M - sum) : LOG2_LEVELS[levels[s]!]!));
      }
      if (bits < bestHere) bestHere = bits;
      if (bits < bestCost) {
        bestCost = bits;
        best = finishTable(log, maxSym, rest, levels)!;
      }
    }
    // smaller logs only lose precision once the table no longer pays for itself
    if (bestHere > bestCost * 1.002) break;
  }
  if (!best) throw new SparrowError('internal', 'rANS: no table fits');
  return best;
}

/** Bits writeTable spends on `t` (3 header bytes + levels), before byte alignment. */
export function tableBits(t: FreqTable): number {
  return 24 + levelBits(t.levels);
}

/** Order-0 cost in bits of `counts` under table `t`. */
export function tableCostBits(t: FreqTable, counts: ArrayLike<number>): number {
  let bits = 0;
  for (let s = 0; s < counts.length; s++) if (counts[s]! > 0) bits += counts[s]! * (t.log - Math.log2(t.freq[s]!));
  return bits;
}

/**
 * Table layout: u8 log, u8 maxSym, u8 rest, then maxSym+1 levels delta-coded against the
 * previous level (first against 0), LSB-first bits: '0' same; '1','0',sign ±1; '1','1','0',
 * sign ±2; '1','1','1', 6-bit level. Padded to a byte.
 */
export function writeTable(w: BitWriter, t: FreqTable): void {
  w.writeByte(t.log);
  w.writeByte(t.maxSym);
  w.writeByte(t.rest);
  let prev = 0;
  for (let s = 0; s <= t.maxSym; s++) {
    const e = t.levels[s]!;
    const d = e - prev;
    if (d === 0) w.writeBits(0, 1);
    else if (d === 1 || d === -1) w.writeBits(0b001 | ((d < 0 ? 1 : 0) << 2), 3);
    else if (d === 2 || d === -2) w.writeBits(0b0011 | ((d < 0 ? 1 : 0) << 3), 4);
    else {
      w.writeBits(0b111, 3);
      w.writeBits(e, 6);
    }
    prev = e;
  }
  w.alignByte();
}

/** Reads a table at `pos` (alphabet limit `symLimit`); returns it and the byte after it. */
export function readTable(bytes: Uint8Array, pos: number, end: number, symLimit: number): { table: FreqTable; pos: number } {
  if (end - pos < 3) throw new SparrowError('corrupt_stream', 'rANS table header runs past the end');
  const log = bytes[pos]!,
    maxSym = bytes[pos + 1]!,
    rest = bytes[pos + 2]!;
  if (log < RANS_LOG_MIN || log > RANS_LOG_MAX) throw new SparrowError('corrupt_stream', `rANS table log ${log} is outside 5..12`);
  if (maxSym > symLimit) throw new SparrowError('corrupt_stream', `rANS max symbol ${maxSym} is over ${symLimit}`);
  if (rest > maxSym) throw new SparrowError('corrupt_stream', `rANS rest symbol ${rest} is over the max symbol ${maxSym}`);
  const r = new BitReader(bytes, pos + 3, end);
  const levels = new Uint8Array(maxSym + 1);
  let prev = 0;
  for (let s = 0; s <= maxSym; s++) {
    let e: number;
    if (r.readBit() === 0) e = prev;
    else if (r.readBit() === 0) e = r.readBit() ? prev - 1 : prev + 1;
    else if (r.readBit() === 0) e = r.readBit() ? prev - 2 : prev + 2;
    else e = r.readBits(6);
    if (e < 0 || e > MAX_LEVEL) throw new SparrowError('corrupt_stream', `rANS level ${e} of symbol ${s} is outside 0..${MAX_LEVEL}`);
    levels[s] = e;
    prev = e;
  }
  if (r.bitPos > r.bitsAvailable) throw new SparrowError('corrupt_stream', 'rANS table runs past the end');
  const table = finishTable(log, maxSym, rest, levels);
  if (!table) throw new SparrowError('corrupt_stream', 'rANS frequencies leave nothing for the rest symbol');
  return { table, pos: pos + 3 + ((r.bitPos + 7) >>> 3) };
}

/** Binary table: f0 = frequency of symbol 0 out of 2^SIGN_LOG (0 and 2^SIGN_LOG allowed). */
export function binaryF0(zeros: number, ones: number): number {
  const M = 2 ** SIGN_LOG;
  if (ones === 0) return M;
  if (zeros === 0) return 0;
  return Math.min(M - 1, Math.max(1, Math.round((zeros * M) / (zeros + ones))));
}

/**
 * Collects symbols (start, freq, log) in decode order; `finish` codes them with S states
 * (symbol j of the current group on state j mod S) and returns the data: S u32 states
 * (little-endian), then u16 words in the order the decoder reads them.
 */
export class RansEncoder {
  // per symbol, in decode order: start | freq << 13 (both ≤ 4096), log, state index
  private sf: Uint32Array;
  private meta: Uint8Array;
  private n = 0;
  private j = 0;
  constructor(
    readonly S: number,
    capacity = 1024,
  ) {
    this.sf = new Uint32Array(Math.max(16, capacity));
    this.meta = new Uint8Array(Math.max(16, capacity));
  }

  /** Starts a new group: its first symbol goes to state 0. */
  group(): void {
    this.j = 0;
  }

  put(start: number, freq: number, log: number): void {
    if (freq <= 0) throw new SparrowError('internal', 'rANS: symbol with zero frequency');
    if (this.n === this.sf.length) {
      const sf = new Uint32Array(this.n * 2),
        meta = new Uint8Array(this.n * 2);
      sf.set(this.sf);
      meta.set(this.meta);
      this.sf = sf;
      this.meta = meta;
    }
    this.sf[this.n] = start | (freq << 13);
    this.meta[this.n] = log | ((this.j % this.S) << 4);
    this.n++;
    this.j++;
  }

  finish(): Uint8Array {
    const x = new Float64Array(this.S).fill(RANS_L);
    const words = new Uint16Array(this.n + 1);
    let nw = 0;
    for (let i = this.n - 1; i >= 0; i--) {
      const m = this.meta[i]!;
      const k = m >> 4,
        lg = m & 15;
      const f = this.sf[i]! >>> 13,
        st = this.sf[i]! & 0x1fff;
      let v = x[k]!;
      if (v >= f * POW2[32 - lg]!) {
        words[nw++] = v % 65536;
        v = Math.floor(v / 65536);
      }
      const q = Math.floor(v / f);
      x[k] = q * POW2[lg]! + (v - q * f) + st;
    }
    const out = new Uint8Array(4 * this.S + 2 * nw);
    const dv = new DataView(out.buffer);
    for (let k = 0; k < this.S; k++) dv.setUint32(4 * k, x[k]!, true);
    for (let i = 0; i < nw; i++) dv.setUint16(4 * this.S + 2 * i, words[nw - 1 - i]!, true);
    return out;
  }
}

/** Reference decoder over bytes[pos, end): S states, then words. */
export class RansDecoder {
  private x: number[];
  private j = 0;
  pos: number;
  constructor(
    private readonly bytes: Uint8Array,
    pos: number,
    private readonly end: number,
    readonly S: number,
  ) {
    if (end - pos < 4 * S) throw new SparrowError('corrupt_stream', 'rANS states run past the end');
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    this.x = [];
    for (let k = 0; k < S; k++) {
      const v = dv.getUint32(pos + 4 * k, true);
      if (v < RANS_L) throw new SparrowError('corrupt_stream', `rANS state ${k} is ${v}, under 2^16`);
      this.x.push(v);
    }
    this.pos = pos + 4 * S;
  }

  group(): void {
    this.j = 0;
  }

  /** Slot of the next symbol's state under a table of 2^log. */
  private renorm(k: number, v: number): void {
    if (v < RANS_L) {
      if (this.pos + 2 > this.end) throw new SparrowError('corrupt_stream', 'rANS data runs past the end of the stream');
      v = v * 65536 + (this.bytes[this.pos]! | (this.bytes[this.pos + 1]! << 8));
      this.pos += 2;
    }
    this.x[k] = v;
  }

  decode(t: FreqTable): number {
    const k = this.j++ % this.S;
    const v = this.x[k]!;
    const M = 2 ** t.log;
    const slot = v % M;
    let s = 0; // linear search: the reference, not the table-driven WASM decoder
    while (s < t.maxSym && t.start[s + 1]! <= slot) s++;
    this.renorm(k, t.freq[s]! * Math.floor(v / M) + slot - t.start[s]!);
    return s;
  }

  /** Binary symbol with P(0) = f0 / 2^SIGN_LOG. */
  decodeBit(f0: number): number {
    const k = this.j++ % this.S;
    const v = this.x[k]!;
    const M = 2 ** SIGN_LOG;
    const slot = v % M;
    const bit = slot >= f0 ? 1 : 0;
    this.renorm(k, (bit ? M - f0 : f0) * Math.floor(v / M) + slot - (bit ? f0 : 0));
    return bit;
  }

  /** The encoder starts every state at L and every word is read: anything else is corrupt. */
  finish(): void {
    if (this.pos !== this.end) throw new SparrowError('corrupt_stream', `${this.end - this.pos} rANS bytes left after the last symbol`);
    for (let k = 0; k < this.S; k++)
      if (this.x[k] !== RANS_L) throw new SparrowError('corrupt_stream', `rANS state ${k} does not end at its initial value`);
  }
}

/** Shannon bits of binary counts. */
export function binaryBits(zeros: number, ones: number): number {
  const n = zeros + ones;
  if (zeros === 0 || ones === 0) return 0;
  return -zeros * Math.log2(zeros / n) - ones * Math.log2(ones / n);
}
