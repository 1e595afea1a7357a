// Raw DEFLATE (RFC 1951) for the container's metadata block (docs/format.md, version 2, flag 1).
// The metadata JSON of a small model is a large share of its file (ResNet-20 at 68 KB: 10 KB of
// JSON, 2 KB deflated), so a version-2 file may store it deflated. Plain TS on both sides, so
// that every reader (Node, browsers, Workers) has it without zlib and a writer produces the same
// bytes everywhere:
// - inflateRaw: a complete decoder (stored, fixed and dynamic blocks; puff-style canonical
//   decoding), bounded: output beyond `maxOut`, a distance before the start, a bad code, an
//   input that ends early or trailing bytes after the final block all throw;
// - deflateRaw: LZ77 (hash chains, lazy-free greedy, 32 KiB window) and one dynamic-Huffman
//   block with length-limited code lengths (package-merge), falling back to a stored block
//   when that is smaller.
// zlib (node:zlib) is the oracle of the tests in both directions.
import { SparrowError } from '../errors.js';

const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385,
  24577,
];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/** order of the code-length code lengths in a dynamic block header */
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

// ---------------------------------------------------------------------------------------------
// inflate

interface Huff {
  /** count[len] = number of codes of length len (1..15) */
  count: Uint16Array;
  /** symbols in canonical order */
  symbol: Uint16Array;
}

/** Canonical decoding tables from code lengths; over-subscribed sets are refused (incomplete ones are allowed, as zlib does for a lone distance code). */
function buildHuff(lengths: ArrayLike<number>, n: number, bad: (m: string) => SparrowError): Huff {
  const count = new Uint16Array(16);
  for (let s = 0; s < n; s++) count[lengths[s]!]!++;
  let left = 1;
  for (let len = 1; len <= 15; len++) {
    left = left * 2 - count[len]!;
    if (left < 0) throw bad('over-subscribed Huffman code');
  }
  const offs = new Uint16Array(16);
  for (let len = 1; len < 15; len++) offs[len + 1] = offs[len]! + count[len]!;
  const symbol = new Uint16Array(n);
  for (let s = 0; s < n; s++) if (lengths[s]) symbol[offs[lengths[s]!]!++] = s;
  count[0] = 0;
  return { count, symbol };
}

let FIXED: { lit: Huff; dist: Huff } | undefined;
function fixedTables(bad: (m: string) => SparrowError): { lit: Huff; dist: Huff } {
  if (!FIXED) {
    const l = new Uint8Array(288);
    for (let s = 0; s < 288; s++) l[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
    FIXED = { lit: buildHuff(l, 288, bad), dist: buildHuff(new Uint8Array(30).fill(5), 30, bad) };
  }
  return FIXED;
}

/**
 * Decodes a raw DEFLATE stream that must end exactly at the end of `input` (only zero bits may
 * follow the final block in its last byte). Throws SparrowError(`code`) on any malformed input
 * and SparrowError('too_large') when the output would exceed `maxOut` bytes.
 */
export function inflateRaw(
  input: Uint8Array,
  maxOut: number,
  code: 'corrupt_metadata' | 'corrupt_stream' = 'corrupt_metadata',
): Uint8Array {
  const bad = (m: string): SparrowError => new SparrowError(code, `deflate stream: ${m}`);
  let pos = 0,
    bitBuf = 0,
    bitCnt = 0;
  const bits = (need: number): number => {
    let v = bitBuf;
    while (bitCnt < need) {
      if (pos >= input.length) throw bad('ends early');
      v |= input[pos++]! << bitCnt;
      bitCnt += 8;
    }
    bitBuf = v >>> need;
    bitCnt -= need;
    return v & ((1 << need) - 1);
  };
  let out = new Uint8Array(Math.min(Math.max(1024, input.length * 4), maxOut));
  let n = 0;
  const ensure = (extra: number): void => {
    if (n + extra > maxOut) throw new SparrowError('too_large', `deflate stream: decodes to more than ${maxOut} bytes`);
    if (n + extra <= out.length) return;
    const grown = new Uint8Array(Math.min(maxOut, Math.max(n + extra, 2 * out.length)));
    grown.set(out.subarray(0, n));
    out = grown;
  };
  const decode = (h: Huff): number => {
    let c = 0,
      first = 0,
      index = 0;
    for (let len = 1; len <= 15; len++) {
      c |= bits(1);
      const cnt = h.count[len]!;
      if (c - first < cnt) return h.symbol[index + c - first]!;
      index += cnt;
      first = (first + cnt) << 1;
      c <<= 1;
    }
    throw bad('invalid Huffman code');
  };
  for (let last = 0; !last;) {
    last = bits(1);
    const type = bits(2);
    if (type === 0) {
      bitBuf = 0;
      bitCnt = 0; // to the byte boundary (the reader never holds more than the current byte's rest)
      if (pos + 4 > input.length) throw bad('ends early');
      const len = input[pos]! | (input[pos + 1]! << 8),
        nlen = input[pos + 2]! | (input[pos + 3]! << 8);
      pos += 4;
      if (len !== (~nlen & 0xffff)) throw bad('stored block length check fails');
      if (pos + len > input.length) throw bad('ends early');
      ensure(len);
      out.set(input.subarray(pos, pos + len), n);
      n += len;
      pos += len;
      continue;
    }
    if (type === 3) throw bad('block type 3 is reserved');
    let lit: Huff, dist: Huff;
    if (type === 1) ({ lit, dist } = fixedTables(bad));
    else {
      const nlen = bits(5) + 257,
        ndist = bits(5) + 1,
        ncode = bits(4) + 4;
      if (nlen > 286 || ndist > 30) throw bad('too many length or distance codes');
      const cl = new Uint8Array(19);
      for (let i = 0; i < ncode; i++) cl[CL_ORDER[i]!] = bits(3);
      const clh = buildHuff(cl, 19, bad);
      const lengths = new Uint8Array(nlen + ndist);
      for (let i = 0; i < nlen + ndist;) {
        const sym = decode(clh);
        if (sym < 16) lengths[i++] = sym;
        else {
          let rep: number,
            val = 0;
          if (sym === 16) {
            if (i === 0) throw bad('repeat with no previous length');
            val = lengths[i - 1]!;
            rep = 3 + bits(2);
          } else rep = sym === 17 ? 3 + bits(3) : 11 + bits(7);
          if (i + rep > nlen + ndist) throw bad('too many code lengths');
          lengths.fill(val, i, i + rep);
          i += rep;
        }
      }
      if (lengths[256] === 0) throw bad('no end-of-block code');
      lit = buildHuff(lengths.subarray(0, nlen), nlen, bad);
      dist = buildHuff(lengths.subarray(nlen), ndist, bad);
    }
    for (;;) {
      const sym = decode(lit);
      if (sym < 256) {
        ensure(1);
        out[n++] = sym;
      } else if (sym === 256) break;
      else {
        const li = sym - 257;
        if (li >= 29) throw bad('invalid length code');
        const len = LEN_BASE[li]! + bits(LEN_EXTRA[li]!);
        const di = decode(dist);
        if (di >= 30) throw bad('invalid distance code');
        const d = DIST_BASE[di]! + bits(DIST_EXTRA[di]!);
        if (d > n) throw bad('distance before the start of the output');
        ensure(len);
        for (let k = 0; k < len; k++, n++) out[n] = out[n - d]!;
      }
    }
  }
  if (pos !== input.length) throw bad(`${input.length - pos} bytes after the final block`);
  if (bitBuf !== 0) throw bad('nonzero bits after the final block');
  return out.slice(0, n);
}

// ---------------------------------------------------------------------------------------------
// deflate

class BitWriter {
  private buf = new Uint8Array(1024);
  private n = 0;
  private acc = 0;
  private cnt = 0;
  /** writes the low `len` bits of v, LSB first */
  put(v: number, len: number): void {
    for (let i = 0; i < len; i++) {
      this.acc |= ((v >>> i) & 1) << this.cnt;
      if (++this.cnt === 8) this.flushByte();
    }
  }
  /** writes a Huffman code (MSB first, as RFC 1951 packs codes) */
  code(c: number, len: number): void {
    for (let i = len - 1; i >= 0; i--) this.put((c >>> i) & 1, 1);
  }
  private flushByte(): void {
    if (this.n === this.buf.length) {
      const g = new Uint8Array(this.buf.length * 2);
      g.set(this.buf);
      this.buf = g;
    }
    this.buf[this.n++] = this.acc;
    this.acc = 0;
    this.cnt = 0;
  }
  finish(): Uint8Array {
    if (this.cnt > 0) this.flushByte();
    return this.buf.slice(0, this.n);
  }
}

/** Optimal code lengths of at most `limit` bits for `freq` (package-merge); unused symbols get 0; a lone used symbol gets length 1. */
export function limitedLengths(freq: ArrayLike<number>, limit: number): Uint8Array {
  const n = freq.length;
  const lengths = new Uint8Array(n);
  const used: number[] = [];
  for (let s = 0; s < n; s++) if (freq[s]! > 0) used.push(s);
  if (used.length === 0) return lengths;
  if (used.length === 1) {
    lengths[used[0]!] = 1;
    return lengths;
  }
  if (used.length > 2 ** limit) throw new SparrowError('internal', 'limitedLengths: too many symbols for the limit');
  type Item = { w: number; syms: number[] };
  const leaves: Item[] = used.map((s) => ({ w: freq[s]!, syms: [s] })).sort((a, b) => a.w - b.w || a.syms[0]! - b.syms[0]!);
  let list: Item[] = leaves;
  for (let l = 1; l < limit; l++) {
    const pk: Item[] = [];
    for (let i = 0; i + 1 < list.length; i += 2)
      pk.push({ w: list[i]!.w + list[i + 1]!.w, syms: [...list[i]!.syms, ...list[i + 1]!.syms] });
    // merge leaves and packages by weight (stable: leaves first on ties)
    const merged: Item[] = [];
    let a = 0,
      b = 0;
    while (a < leaves.length || b < pk.length) {
      if (b >= pk.length || (a < leaves.length && leaves[a]!.w <= pk[b]!.w)) merged.push(leaves[a++]!);
      else merged.push(pk[b++]!);
    }
    list = merged;
  }
  for (let i = 0; i < 2 * used.length - 2; i++) for (const s of list[i]!.syms) lengths[s]!++;
  return lengths;
}

/** Canonical codes (RFC 1951 3.2.2) of code lengths. */
function canonicalCodes(lengths: Uint8Array): Uint16Array {
  const count = new Uint16Array(16);
  for (const l of lengths) count[l]!++;
  count[0] = 0;
  const next = new Uint16Array(16);
  let c = 0;
  for (let len = 1; len <= 15; len++) {
    c = (c + count[len - 1]!) << 1;
    next[len] = c;
  }
  const codes = new Uint16Array(lengths.length);
  for (let s = 0; s < lengths.length; s++) if (lengths[s]) codes[s] = next[lengths[s]!]!++;
  return codes;
}

function lengthCode(len: number): number {
  let i = 28;
  while (LEN_BASE[i]! > len) i--;
  return i;
}
function distCode(d: number): number {
  let i = 29;
  while (DIST_BASE[i]! > d) i--;
  return i;
}

/**
 * Raw DEFLATE of `data`: greedy LZ77 over a 32 KiB window (hash chains of up to `chain`
 * candidates, default 256) and one dynamic-Huffman block, or stored blocks when smaller.
 * Deterministic: the same input gives the same bytes on every platform.
 */
export function deflateRaw(data: Uint8Array, chain = 256): Uint8Array {
  // tokens: literal (len 0) or (len ≥ 3, dist)
  const lits: number[] = [],
    lens: number[] = [],
    dists: number[] = [];
  const HBITS = 15,
    WIN = 32768;
  const head = new Int32Array(1 << HBITS).fill(-1);
  const prev = new Int32Array(data.length);
  const hash = (i: number): number => ((data[i]! << 10) ^ (data[i + 1]! << 5) ^ data[i + 2]!) & ((1 << HBITS) - 1);
  const insert = (i: number): void => {
    if (i + 2 >= data.length) return;
    const h = hash(i);
    prev[i] = head[h]!;
    head[h] = i;
  };
  for (let i = 0; i < data.length;) {
    let bestLen = 0,
      bestDist = 0;
    if (i + 2 < data.length) {
      const max = Math.min(258, data.length - i);
      let j = head[hash(i)]!;
      for (let k = 0; j >= 0 && i - j <= WIN && k < chain; k++, j = prev[j]!) {
        let l = 0;
        while (l < max && data[j + l] === data[i + l]) l++;
        if (l > bestLen) {
          bestLen = l;
          bestDist = i - j;
          if (l === max) break;
        }
      }
    }
    if (bestLen >= 3) {
      lits.push(-1);
      lens.push(bestLen);
      dists.push(bestDist);
      for (let k = 0; k < bestLen; k++) insert(i + k);
      i += bestLen;
    } else {
      lits.push(data[i]!);
      lens.push(0);
      dists.push(0);
      insert(i);
      i++;
    }
  }
  const lf = new Uint32Array(286),
    df = new Uint32Array(30);
  for (let t = 0; t < lits.length; t++) {
    if (lens[t] === 0) lf[lits[t]!]!++;
    else {
      lf[257 + lengthCode(lens[t]!)]!++;
      df[distCode(dists[t]!)]!++;
    }
  }
  lf[256] = 1;
  const ll = limitedLengths(lf, 15);
  let dl = limitedLengths(df, 15);
  if (dl.every((x) => x === 0)) dl = Uint8Array.from([1]); // one unused distance code
  let nlen = 286;
  while (nlen > 257 && ll[nlen - 1] === 0) nlen--;
  let ndist = dl.length;
  while (ndist > 1 && dl[ndist - 1] === 0) ndist--;
  // run-length code the code lengths (symbols 16/17/18)
  const all = [...ll.subarray(0, nlen), ...dl.subarray(0, ndist)];
  const rle: Array<[number, number]> = []; // [symbol, extra value]
  for (let i = 0; i < all.length;) {
    const v = all[i]!;
    let r = 1;
    while (i + r < all.length && all[i + r] === v) r++;
    let left = r;
    if (v === 0) {
      while (left >= 11) {
        const k = Math.min(138, left);
        rle.push([18, k - 11]);
        left -= k;
      }
      if (left >= 3) {
        rle.push([17, left - 3]);
        left = 0;
      }
    } else {
      rle.push([v, 0]);
      left--;
      while (left >= 3) {
        const k = Math.min(6, left);
        rle.push([16, k - 3]);
        left -= k;
      }
    }
    for (; left > 0; left--) rle.push([v, 0]);
    i += r;
  }
  const cf = new Uint32Array(19);
  for (const [s] of rle) cf[s]!++;
  const cl = limitedLengths(cf, 7);
  let ncode = 19;
  while (ncode > 4 && cl[CL_ORDER[ncode - 1]!] === 0) ncode--;
  const w = new BitWriter();
  w.put(1, 1); // final
  w.put(2, 2); // dynamic
  w.put(nlen - 257, 5);
  w.put(ndist - 1, 5);
  w.put(ncode - 4, 4);
  for (let i = 0; i < ncode; i++) w.put(cl[CL_ORDER[i]!]!, 3);
  const cc = canonicalCodes(cl);
  for (const [s, x] of rle) {
    w.code(cc[s]!, cl[s]!);
    if (s === 16) w.put(x, 2);
    else if (s === 17) w.put(x, 3);
    else if (s === 18) w.put(x, 7);
  }
  const lc = canonicalCodes(ll),
    dc = canonicalCodes(dl);
  for (let t = 0; t < lits.length; t++) {
    if (lens[t] === 0) w.code(lc[lits[t]!]!, ll[lits[t]!]!);
    else {
      const li = lengthCode(lens[t]!),
        di = distCode(dists[t]!);
      w.code(lc[257 + li]!, ll[257 + li]!);
      w.put(lens[t]! - LEN_BASE[li]!, LEN_EXTRA[li]!);
      w.code(dc[di]!, dl[di]!);
      w.put(dists[t]! - DIST_BASE[di]!, DIST_EXTRA[di]!);
    }
  }
  w.code(lc[256]!, ll[256]!);
  const dyn = w.finish();
  // stored blocks (≤ 65535 bytes each) when they are smaller
  const storedSize = data.length + 5 * Math.max(1, Math.ceil(data.length / 65535));
  if (storedSize >= dyn.length) return dyn;
  const s = new Uint8Array(storedSize);
  let o = 0;
  for (let i = 0; ;) {
    const k = Math.min(65535, data.length - i);
    const last = i + k >= data.length ? 1 : 0;
    s[o++] = last; // BFINAL, BTYPE 00, then to the byte boundary
    s[o++] = k & 0xff;
    s[o++] = k >> 8;
    s[o++] = ~k & 0xff;
    s[o++] = (~k >> 8) & 0xff;
    s.set(data.subarray(i, i + k), o);
    o += k;
    i += k;
    if (last) break;
  }
  return s;
}
