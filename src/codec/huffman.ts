// Canonical, length-limited Huffman coding of byte symbols (docs/format.md "Huffman block").
// Encoder: package-merge code lengths (optimal under the length limit), canonical codes,
// 1 or 4 streams. Reference decoder: bit-at-a-time canonical decoding (Deflate's "slow"
// decoder), deliberately a different algorithm from the table-driven WASM decoder.

import { SparrowError } from '../errors.js';
import { BitReader, BitWriter, readVarint } from './bitio.js';

export const MAX_CODE_LENGTH = 11;
export const FOUR_STREAM_MIN_COUNT = 256;

export const enum BlockMode {
  Empty = 0,
  Constant = 1,
  Huffman = 2,
}

/** Symbol frequencies of `symbols` (bytes). // freq (256) */
export function histogram(symbols: Uint8Array): Uint32Array {
  const f = new Uint32Array(256);
  for (let i = 0; i < symbols.length; i++) f[symbols[i]!]!++;
  return f;
}

/** Order-0 Shannon bound in bytes: n·H/8. */
export function shannonBytes(freq: ArrayLike<number>): number {
  let n = 0;
  for (let s = 0; s < freq.length; s++) n += freq[s]!;
  if (n === 0) return 0;
  let bits = 0;
  for (let s = 0; s < freq.length; s++) {
    const c = freq[s]!;
    if (c > 0) bits -= c * Math.log2(c / n);
  }
  return bits / 8;
}

interface PMNode {
  w: number;
  sym: number;
  a: PMNode | null;
  b: PMNode | null;
}

/**
 * Optimal code lengths with max length `maxLen` by package-merge (Larmore & Hirschberg).
 * Symbols with zero frequency get length 0. Needs ≥ 2 present symbols.
 */
export function codeLengths(freq: ArrayLike<number>, maxLen = MAX_CODE_LENGTH): Uint8Array {
  const n = freq.length;
  const leaves: PMNode[] = [];
  for (let s = 0; s < n; s++) if (freq[s]! > 0) leaves.push({ w: freq[s]!, sym: s, a: null, b: null });
  if (leaves.length < 2) throw new SparrowError('internal', 'codeLengths needs at least two symbols');
  if (leaves.length > 2 ** maxLen) throw new SparrowError('internal', 'too many symbols for the length limit');
  leaves.sort((x, y) => x.w - y.w || x.sym - y.sym);
  let list = leaves;
  for (let level = 1; level < maxLen; level++) {
    const packages: PMNode[] = [];
    for (let i = 0; i + 1 < list.length; i += 2) {
      packages.push({ w: list[i]!.w + list[i + 1]!.w, sym: -1, a: list[i]!, b: list[i + 1]! });
    }
    // merge leaves and packages by weight (leaves first on ties: stable, deterministic)
    const merged: PMNode[] = [];
    let i = 0,
      j = 0;
    while (i < leaves.length || j < packages.length) {
      if (j >= packages.length || (i < leaves.length && leaves[i]!.w <= packages[j]!.w)) merged.push(leaves[i++]!);
      else merged.push(packages[j++]!);
    }
    list = merged;
  }
  const lengths = new Uint8Array(n);
  const stack: PMNode[] = list.slice(0, 2 * leaves.length - 2);
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.sym >= 0) lengths[node.sym]!++;
    else stack.push(node.a!, node.b!);
  }
  return lengths;
}

/** Canonical codes (MSB-first values) from lengths, Deflate's rule. */
export function canonicalCodes(lengths: Uint8Array): Uint32Array {
  const blCount = new Uint32Array(MAX_CODE_LENGTH + 1);
  for (const l of lengths) if (l > 0) blCount[l]!++;
  const next = new Uint32Array(MAX_CODE_LENGTH + 1);
  let code = 0;
  for (let bits = 1; bits <= MAX_CODE_LENGTH; bits++) {
    code = (code + blCount[bits - 1]!) << 1; // blCount[0] is 0
    next[bits] = code;
  }
  const codes = new Uint32Array(lengths.length);
  for (let s = 0; s < lengths.length; s++) {
    const l = lengths[s]!;
    if (l > 0) codes[s] = next[l]!++;
  }
  return codes;
}

export function reverseBits(v: number, n: number): number {
  let r = 0;
  for (let i = 0; i < n; i++) r |= ((v >>> i) & 1) << (n - 1 - i);
  return r;
}

/** Writes the code-length table (docs/format.md "Code lengths"), then aligns to a byte. */
function writeLengths(w: BitWriter, lengths: Uint8Array, maxSymbol: number): void {
  let prev = 0;
  for (let s = 0; s <= maxSymbol; s++) {
    const l = lengths[s]!;
    if (l === prev) w.writeBits(0b0, 1);
    else if (l === prev + 1)
      w.writeBits(0b01, 2); // bits 1,0
    else if (l === prev - 1)
      w.writeBits(0b011, 3); // bits 1,1,0
    else {
      w.writeBits(0b111, 3);
      w.writeBits(l, 4);
    } // bits 1,1,1 + 4-bit length
    prev = l;
  }
  w.alignByte();
}

export interface BlockStats {
  count: number;
  entropyBytes: number;
  tableBytes: number; // bytes of the block before the stream data
}

/** Encodes `symbols` as one Huffman block. Stream count: 4 if count ≥ 1024 (override with `streams`). */
export function encodeBlock(
  symbols: Uint8Array,
  opts: { streams?: 1 | 4; fourStreamMin?: number } = {},
): { bytes: Uint8Array; stats: BlockStats } {
  const count = symbols.length;
  const freq = histogram(symbols);
  const entropyBytes = shannonBytes(freq);
  const w = new BitWriter(count + 64);
  let present = 0,
    maxSymbol = 0;
  for (let s = 0; s < 256; s++)
    if (freq[s]! > 0) {
      present++;
      maxSymbol = s;
    }
  if (count === 0) {
    w.writeByte(BlockMode.Empty);
    w.writeVarint(0);
    const bytes = w.finish();
    return { bytes, stats: { count, entropyBytes, tableBytes: bytes.length } };
  }
  if (present === 1) {
    w.writeByte(BlockMode.Constant);
    w.writeVarint(count);
    w.writeByte(maxSymbol);
    const bytes = w.finish();
    return { bytes, stats: { count, entropyBytes, tableBytes: bytes.length } };
  }
  const lengths = codeLengths(freq.subarray(0, maxSymbol + 1));
  const codes = canonicalCodes(lengths);
  const rev = new Uint32Array(maxSymbol + 1);
  for (let s = 0; s <= maxSymbol; s++) rev[s] = reverseBits(codes[s]!, lengths[s]!);

  const S = opts.streams ?? (count >= (opts.fourStreamMin ?? FOUR_STREAM_MIN_COUNT) ? 4 : 1);
  const seg = Math.floor((count + S - 1) / S);
  const streams: Uint8Array[] = [];
  for (let k = 0; k < S; k++) {
    const from = Math.min(count, k * seg),
      to = Math.min(count, (k + 1) * seg);
    let bits = 0;
    for (let i = from; i < to; i++) bits += lengths[symbols[i]!]!;
    const sw = new BitWriter((bits >>> 3) + 8);
    for (let i = from; i < to; i++) {
      const s = symbols[i]!;
      sw.writeBits(rev[s]!, lengths[s]!);
    }
    streams.push(sw.finish());
  }
  w.writeByte(BlockMode.Huffman);
  w.writeVarint(count);
  w.writeByte(maxSymbol);
  writeLengths(w, lengths, maxSymbol);
  w.writeByte(S);
  for (const st of streams) w.writeVarint(st.length);
  const tableBytes = w.bitLength / 8;
  for (const st of streams) w.writeBytes(st);
  return { bytes: w.finish(), stats: { count, entropyBytes, tableBytes } };
}

/** Reads and validates a code-length table; returns the lengths (length maxSymbol+1) and the new byte position. */
export function readLengths(bytes: Uint8Array, pos: number, end: number, maxSymbol: number): { lengths: Uint8Array; pos: number } {
  const r = new BitReader(bytes, pos, end);
  const lengths = new Uint8Array(maxSymbol + 1);
  let prev = 0;
  for (let s = 0; s <= maxSymbol; s++) {
    let l: number;
    if (r.readBit() === 0) l = prev;
    else if (r.readBit() === 0) l = prev + 1;
    else if (r.readBit() === 0) l = prev - 1;
    else l = r.readBits(4);
    if (l < 0 || l > MAX_CODE_LENGTH)
      throw new SparrowError('corrupt_stream', `code length ${l} of symbol ${s} is outside 0..${MAX_CODE_LENGTH}`);
    lengths[s] = l;
    prev = l;
  }
  if (r.bitPos > r.bitsAvailable) throw new SparrowError('corrupt_stream', 'code-length table runs past the end of the block');
  // Kraft: the code must be complete
  let present = 0,
    kraft = 0;
  for (let s = 0; s <= maxSymbol; s++) {
    const l = lengths[s]!;
    if (l > 0) {
      present++;
      kraft += 1 << (MAX_CODE_LENGTH - l);
    }
  }
  if (present < 2) throw new SparrowError('corrupt_stream', `a Huffman table needs at least two symbols, found ${present}`);
  if (kraft !== 1 << MAX_CODE_LENGTH)
    throw new SparrowError('corrupt_stream', `code lengths are not a complete prefix code (Kraft sum ${kraft}/${1 << MAX_CODE_LENGTH})`);
  return { lengths, pos: pos + ((r.bitPos + 7) >>> 3) };
}

/**
 * Reference decoder of one Huffman block starting at `pos` in `bytes[.., end)`.
 * `maxCount` bounds the symbol count the caller accepts, `maxSymbol` the alphabet
 * (a larger `max_symbol` field or constant symbol is corrupt). Returns the symbols and
 * the position after the block.
 */
export function decodeBlockRef(
  bytes: Uint8Array,
  pos: number,
  end: number,
  maxCount: number,
  symbolLimit = 255,
): { symbols: Uint8Array; pos: number } {
  if (pos >= end) throw new SparrowError('corrupt_stream', 'Huffman block missing (stream ends)');
  const mode = bytes[pos++]!;
  const c = readVarint(bytes, pos, end);
  const count = c.value;
  pos = c.pos;
  if (count > maxCount)
    throw new SparrowError('corrupt_stream', `Huffman block holds ${count} symbols, more than the ${maxCount} allowed here`);
  if (mode === BlockMode.Empty) {
    if (count !== 0) throw new SparrowError('corrupt_stream', `empty block with count ${count}`);
    return { symbols: new Uint8Array(0), pos };
  }
  if (mode === BlockMode.Constant) {
    if (pos >= end) throw new SparrowError('corrupt_stream', 'constant block misses its symbol');
    if (bytes[pos]! > symbolLimit) throw new SparrowError('corrupt_stream', `constant symbol ${bytes[pos]} is over ${symbolLimit}`);
    return { symbols: new Uint8Array(count).fill(bytes[pos]!), pos: pos + 1 };
  }
  if (mode !== BlockMode.Huffman) throw new SparrowError('corrupt_stream', `unknown Huffman block mode ${mode}`);
  if (pos >= end) throw new SparrowError('corrupt_stream', 'Huffman block misses max_symbol');
  const maxSymbol = bytes[pos++]!;
  if (maxSymbol > symbolLimit) throw new SparrowError('corrupt_stream', `max_symbol ${maxSymbol} is over ${symbolLimit}`);
  const t = readLengths(bytes, pos, end, maxSymbol);
  const lengths = t.lengths;
  pos = t.pos;
  if (pos >= end) throw new SparrowError('corrupt_stream', 'Huffman block misses its stream count');
  const S = bytes[pos++]!;
  if (S !== 1 && S !== 4) throw new SparrowError('corrupt_stream', `stream count ${S} is not 1 or 4`);
  const sizes: number[] = [];
  for (let k = 0; k < S; k++) {
    const v = readVarint(bytes, pos, end);
    sizes.push(v.value);
    pos = v.pos;
  }
  let total = 0;
  for (const s of sizes) total += s;
  if (total > end - pos) throw new SparrowError('corrupt_stream', `Huffman streams need ${total} bytes, ${end - pos} left`);
  // each symbol costs ≥ 1 bit: a count above the bits present cannot be right
  if (count > total * 8) throw new SparrowError('corrupt_stream', `${count} symbols cannot fit in ${total} bytes`);

  // canonical decoding tables: first code and first index per length
  const blCount = new Uint32Array(MAX_CODE_LENGTH + 1);
  for (const l of lengths) if (l > 0) blCount[l]!++;
  const sorted: number[] = [];
  for (let l = 1; l <= MAX_CODE_LENGTH; l++) for (let s = 0; s <= maxSymbol; s++) if (lengths[s] === l) sorted.push(s);

  const out = new Uint8Array(count);
  const seg = Math.floor((count + S - 1) / S);
  let streamStart = pos;
  for (let k = 0; k < S; k++) {
    const from = Math.min(count, k * seg),
      to = Math.min(count, (k + 1) * seg);
    const streamEnd = streamStart + sizes[k]!;
    const r = new BitReader(bytes, streamStart, streamEnd);
    for (let i = from; i < to; i++) {
      let code = 0,
        first = 0,
        index = 0;
      for (let len = 1; ; len++) {
        code |= r.readBit();
        const cnt = blCount[len]!;
        if (code < first + cnt) {
          out[i] = sorted[index + code - first]!;
          break;
        }
        index += cnt;
        first = (first + cnt) << 1;
        code <<= 1;
        if (len === MAX_CODE_LENGTH) throw new SparrowError('internal', 'complete code did not resolve');
      }
    }
    if ((r.bitPos + 7) >>> 3 !== sizes[k]) {
      throw new SparrowError('corrupt_stream', `stream ${k} used ${r.bitPos} bits but is ${sizes[k]} bytes long`);
    }
    streamStart = streamEnd;
  }
  return { symbols: out, pos: streamStart };
}
