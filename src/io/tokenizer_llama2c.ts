// The llama2.c BPE tokenizer (tokenizer.bin / tok512.bin), ported from karpathy/llama2.c run.c
// (build_tokenizer, encode, decode, safe_printf). Plain TS: no Node APIs (Workers, browsers).
//
// File layout (little-endian): max_token_length i32
//   | vocab_size × { score f32 | len i32 | len bytes (the piece, no terminator) }
// The vocabulary size is not in the file: run.c takes it from the model's Config; here it is an
// argument, or every record up to the end of the file.
//
// Pieces are byte strings. run.c keeps them as C strings, so a piece is cut at its first NUL byte
// and an input text at its first NUL byte; both are mirrored here. Ids 0, 1, 2 are <unk>, BOS,
// EOS; ids 3..258 are the byte-fallback pieces '<0x00>'..'<0xFF>' (encode adds 3 to a byte).

import { SparrowError } from '../errors.js';

export const LLAMA2C_BOS = 1;
export const LLAMA2C_EOS = 2;

export interface EncodeOptions {
  /** Prepend BOS (=1); run.c's generate() does. Default true. */
  bos?: boolean;
  /** Append EOS (=2). Default false. */
  eos?: boolean;
}

export interface DecodeOptions {
  /** The token before tokens[0] (BOS strips the leading space of the next piece); default none. */
  prev?: number;
  /** Skip what run.c's safe_printf skips: one-byte pieces that are neither printable nor space. */
  safe?: boolean;
}

const UTF8 = new TextEncoder();

function fail(message: string): never {
  throw new SparrowError('invalid_argument', `llama2.c tokenizer: ${message}`);
}

/** Bytes as a string of char codes 0..255 (an exact map key for a byte string). */
function latin1(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/** glibc isprint / isspace in the C locale. */
function printableOrSpace(b: number): boolean {
  return (b >= 0x20 && b <= 0x7e) || (b >= 0x09 && b <= 0x0d);
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * run.c's `sscanf(piece, "<0x%02hhX>", &byte_val) == 1`: the literal '<0x', then at most two
 * characters of a hex number (leading white space skipped, an optional sign counting towards the
 * width), reduced to a byte. The closing '>' is not needed for a match (sscanf counts
 * conversions, not literals). Returns the byte, or -1 when the piece is no byte piece.
 */
export function parseBytePiece(piece: Uint8Array): number {
  if (piece.length < 3 || piece[0] !== 0x3c || piece[1] !== 0x30 || piece[2] !== 0x78) return -1;
  let i = 3;
  while (i < piece.length && (piece[i] === 0x20 || (piece[i]! >= 0x09 && piece[i]! <= 0x0d))) i++;
  let width = 2;
  let neg = false;
  if (i < piece.length && (piece[i] === 0x2b || piece[i] === 0x2d)) {
    neg = piece[i] === 0x2d;
    i++;
    width--;
  }
  let v = 0;
  let digits = 0;
  while (width > 0 && i < piece.length && hexDigit(piece[i]!) >= 0) {
    v = v * 16 + hexDigit(piece[i]!);
    i++;
    width--;
    digits++;
  }
  if (digits === 0) return -1;
  return (neg ? -v : v) & 0xff;
}

export class Llama2cTokenizer {
  /** The piece of each id (bytes; cut at a NUL like run.c's C strings). */
  readonly pieces: readonly Uint8Array[];
  /** The merge score of each id. */
  readonly scores: Float32Array;
  readonly maxTokenLength: number;
  /** piece (latin-1 string of its bytes) → id; the lowest id where pieces repeat. */
  readonly #lookup = new Map<string, number>();
  readonly #keys: string[];

  private constructor(pieces: Uint8Array[], scores: Float32Array, maxTokenLength: number) {
    this.pieces = pieces;
    this.scores = scores;
    this.maxTokenLength = maxTokenLength;
    this.#keys = pieces.map((p) => latin1(p));
    // run.c finds pieces with bsearch over a qsort'ed copy; with repeated pieces which one it
    // finds is unspecified. Here: the first.
    this.#keys.forEach((k, id) => {
      if (!this.#lookup.has(k)) this.#lookup.set(k, id);
    });
  }

  /**
   * Reads tokenizer.bin bytes. `vocabSize` is the model's (Config.vocab_size); without it every
   * record to the end of the file is read. Throws SparrowError('invalid_argument') on a short or
   * malformed file.
   */
  static fromBytes(bytes: Uint8Array, vocabSize?: number): Llama2cTokenizer {
    if (vocabSize !== undefined && !(Number.isInteger(vocabSize) && vocabSize > 0))
      fail(`vocab size ${vocabSize} is not a positive integer`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 4) fail(`${bytes.length} bytes: no header`);
    const maxTokenLength = dv.getInt32(0, true);
    const pieces: Uint8Array[] = [];
    const scores: number[] = [];
    let o = 4;
    while (vocabSize === undefined ? o < bytes.length : pieces.length < vocabSize) {
      const id = pieces.length;
      if (o + 8 > bytes.length) fail(`file ends in the record of token ${id} (offset ${o} of ${bytes.length})`);
      const score = dv.getFloat32(o, true);
      const len = dv.getInt32(o + 4, true);
      o += 8;
      if (len < 0 || o + len > bytes.length) fail(`token ${id}: length ${len} runs past the end of the file`);
      const raw = bytes.subarray(o, o + len);
      const nul = raw.indexOf(0);
      pieces.push(raw.slice(0, nul < 0 ? len : nul));
      scores.push(score);
      o += len;
    }
    if (pieces.length === 0) fail('no tokens');
    return new Llama2cTokenizer(pieces, Float32Array.from(scores), maxTokenLength);
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  /** The id of a piece given as a latin-1 byte string, or -1 (run.c str_lookup). */
  #find(key: string): number {
    return this.#lookup.get(key) ?? -1;
  }

  /**
   * run.c encode(): BOS?, the dummy-prefix ' ' piece (unless the text is empty), one token per
   * UTF-8 code point found in the vocabulary (else one byte-fallback token per byte: byte + 3),
   * then merges of the adjacent pair whose concatenation is the piece of highest score (the
   * leftmost on ties) until none is left, then EOS?. A string is UTF-8 encoded first; a byte
   * array is taken as is. Both end at the first NUL byte, as a C string does.
   */
  encode(text: string | Uint8Array, options: EncodeOptions = {}): number[] {
    const { bos = true, eos = false } = options;
    let bytes = typeof text === 'string' ? UTF8.encode(text) : text;
    const nul = bytes.indexOf(0);
    if (nul >= 0) bytes = bytes.subarray(0, nul);
    const tokens: number[] = [];
    if (bos) tokens.push(LLAMA2C_BOS);
    if (bytes.length > 0) {
      const dummy = this.#find(' ');
      // run.c would store -1 and read vocab[-1]; refuse instead
      if (dummy < 0) fail("the vocabulary has no ' ' piece for the dummy prefix");
      tokens.push(dummy);
    }
    const n = bytes.length;
    let start = 0; // the code point under way is bytes[start .. c]
    let len = 0;
    for (let c = 0; c < n; c++) {
      const b = bytes[c]!;
      // not a continuation byte: a new code point starts here
      if ((b & 0xc0) !== 0x80) len = 0;
      if (len === 0) start = c;
      len++;
      const next = c + 1 < n ? bytes[c + 1]! : 0;
      // while the next byte continues this code point (at most 4 bytes), keep appending
      if ((next & 0xc0) === 0x80 && len < 4) continue;
      const id = this.#find(latin1(bytes, start, start + len));
      if (id !== -1) tokens.push(id);
      else for (let i = start; i < start + len; i++) tokens.push(bytes[i]! + 3);
      len = 0; // stray continuation bytes start afresh
    }
    // merge the best consecutive pair each iteration, by the scores in the vocabulary
    const keys = this.#keys;
    for (;;) {
      let bestScore = Math.fround(-1e10);
      let bestId = -1;
      let bestIdx = -1;
      for (let i = 0; i < tokens.length - 1; i++) {
        const id = this.#find(this.#keyOf(tokens[i]!, keys) + this.#keyOf(tokens[i + 1]!, keys));
        if (id !== -1 && this.scores[id]! > bestScore) {
          bestScore = this.scores[id]!;
          bestId = id;
          bestIdx = i;
        }
      }
      if (bestIdx === -1) break;
      tokens[bestIdx] = bestId;
      tokens.splice(bestIdx + 1, 1);
    }
    if (eos) tokens.push(LLAMA2C_EOS);
    return tokens;
  }

  #keyOf(id: number, keys: string[]): string {
    const k = keys[id];
    if (k === undefined) fail(`token ${id} is outside the vocabulary (0..${keys.length - 1})`);
    return k;
  }

  #checkId(id: number): Uint8Array {
    const p = Number.isInteger(id) ? this.pieces[id] : undefined;
    if (p === undefined) fail(`token ${id} is outside the vocabulary (0..${this.pieces.length - 1})`);
    return p;
  }

  /**
   * run.c decode(prev, token): the piece of `token`, its leading space dropped after BOS, a byte
   * piece '<0xHH>' turned into that byte. As in run.c the result is a C string: '<0x00>' gives
   * no bytes.
   */
  decodePiece(prev: number, token: number): Uint8Array {
    let piece = this.#checkId(token);
    if (prev === LLAMA2C_BOS && piece[0] === 0x20) piece = piece.subarray(1);
    const b = parseBytePiece(piece);
    if (b >= 0) return b === 0 ? new Uint8Array(0) : Uint8Array.of(b);
    return piece;
  }

  /**
   * The bytes of `tokens` decoded one after another, each with the token before it as `prev`
   * (options.prev before tokens[0]). run.c's generate() prints, after the first token t0 (BOS),
   * decodeBytes(rest, { prev: t0, safe: true }).
   */
  decodeBytes(tokens: ArrayLike<number>, options: DecodeOptions = {}): Uint8Array {
    const { prev = -1, safe = false } = options;
    const parts: Uint8Array[] = [];
    let total = 0;
    let p = prev;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      const piece = this.decodePiece(p, t);
      p = t;
      if (safe && piece.length === 1 && !printableOrSpace(piece[0]!)) continue;
      parts.push(piece);
      total += piece.length;
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const part of parts) {
      out.set(part, o);
      o += part.length;
    }
    return out;
  }

  /** decodeBytes as text (UTF-8; invalid sequences become U+FFFD). */
  decode(tokens: ArrayLike<number>, options: DecodeOptions = {}): string {
    return new TextDecoder('utf-8').decode(this.decodeBytes(tokens, options));
  }
}
