// int8 weight-tensor codecs: raw, huffman, rle-huffman (docs/format.md "Codecs for int8
// tensors"). Encoders and the plain reference decoders that tests and fallbacks share.

import { SparrowError } from '../errors.js';
import { BitWriter, readVarint } from './bitio.js';
import { decodeBlockRef, encodeBlock, histogram, shannonBytes } from './huffman.js';

/** Codec ids as stored in the section table. */
export const CODEC_RAW = 0;
export const CODEC_HUFFMAN = 1;
export const CODEC_RLE_HUFFMAN = 2;
export type Int8CodecId = typeof CODEC_RAW | typeof CODEC_HUFFMAN | typeof CODEC_RLE_HUFFMAN;
export const CODEC_NAMES: Record<number, string> = { 0: 'raw', 1: 'huffman', 2: 'rle-huffman' };

/** Escape run symbol: 255 zeros, no value. */
export const RUN_ESCAPE = 255;

/** zz(v) = ((v << 1) ^ (v >> 7)) & 0xff: 0→0, −1→1, 1→2, … */
export function zigzag(v: number): number {
  return ((v << 1) ^ (v >> 7)) & 0xff;
}
/** Inverse of zigzag, returns the int8 value. */
export function unzigzag(s: number): number {
  return (s >>> 1) ^ -(s & 1);
}

export interface StreamStat { name: string; count: number; entropyBytes: number }

export interface EncodedInt8 {
  codec: Int8CodecId;
  payload: Uint8Array;
  /** Σ over the chosen codec's streams of n·H/8. */
  entropyBytes: number;
  /** Bytes of the payload that are not stream data: block headers and code tables. */
  tableBytes: number;
  streams: StreamStat[];
  nonzero: number;
}

/** Zero-run form: run symbols (0..255, 255 = escape) and zigzag(v)−1 of each nonzero v. */
export function toRuns(data: Int8Array): { runs: Uint8Array; values: Uint8Array } {
  let nnz = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) nnz++;
  const values = new Uint8Array(nnz);
  const runs: number[] = [];
  let run = 0, k = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v === 0) {
      run++;
      continue;
    }
    while (run >= RUN_ESCAPE) { runs.push(RUN_ESCAPE); run -= RUN_ESCAPE; }
    runs.push(run);
    values[k++] = zigzag(v) - 1;
    run = 0;
  }
  return { runs: Uint8Array.from(runs), values };
}

export function encodeRaw(data: Int8Array): EncodedInt8 {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
  return {
    codec: CODEC_RAW,
    payload: bytes.slice(),
    tableBytes: 0,
    entropyBytes: shannonBytes(histogram(bytes)),
    streams: [{ name: 'bytes', count: data.length, entropyBytes: shannonBytes(histogram(bytes)) }],
    nonzero: countNonzero(data),
  };
}

export function encodeHuffman(data: Int8Array): EncodedInt8 {
  const sym = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) sym[i] = zigzag(data[i]!);
  const b = encodeBlock(sym);
  return {
    codec: CODEC_HUFFMAN,
    payload: b.bytes,
    tableBytes: b.stats.tableBytes,
    entropyBytes: b.stats.entropyBytes,
    streams: [{ name: 'values', count: data.length, entropyBytes: b.stats.entropyBytes }],
    nonzero: countNonzero(data),
  };
}

export function encodeRleHuffman(data: Int8Array): EncodedInt8 {
  const { runs, values } = toRuns(data);
  const rb = encodeBlock(runs);
  const vb = encodeBlock(values);
  const w = new BitWriter(rb.bytes.length + vb.bytes.length + 8);
  w.writeVarint(values.length);
  const nnzBytes = w.bitLength / 8;
  w.writeBytes(rb.bytes);
  w.writeBytes(vb.bytes);
  return {
    codec: CODEC_RLE_HUFFMAN,
    payload: w.finish(),
    tableBytes: nnzBytes + rb.stats.tableBytes + vb.stats.tableBytes,
    entropyBytes: rb.stats.entropyBytes + vb.stats.entropyBytes,
    streams: [
      { name: 'runs', count: runs.length, entropyBytes: rb.stats.entropyBytes },
      { name: 'values', count: values.length, entropyBytes: vb.stats.entropyBytes },
    ],
    nonzero: values.length,
  };
}

/** Codes `data` with every allowed codec and keeps the smallest payload (raw on ties). */
export function encodeInt8(data: Int8Array, opts: { codecs?: readonly Int8CodecId[] } = {}): EncodedInt8 {
  const allowed = opts.codecs ?? [CODEC_RAW, CODEC_HUFFMAN, CODEC_RLE_HUFFMAN];
  let best: EncodedInt8 | null = null;
  for (const c of [CODEC_RAW, CODEC_HUFFMAN, CODEC_RLE_HUFFMAN] as const) {
    if (!allowed.includes(c)) continue;
    const e = c === CODEC_RAW ? encodeRaw(data) : c === CODEC_HUFFMAN ? encodeHuffman(data) : encodeRleHuffman(data);
    if (best === null || e.payload.length < best.payload.length) best = e;
  }
  if (best === null) throw new SparrowError('invalid_argument', 'encodeInt8: no codec allowed');
  return best;
}

export function countNonzero(data: Int8Array): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) n++;
  return n;
}

/** Reference decoder: payload of `codec` → `n` int8 values. Throws SparrowError on any inconsistency. */
export function decodeInt8Ref(codec: number, payload: Uint8Array, n: number): Int8Array {
  if (codec === CODEC_RAW) {
    if (payload.length !== n) throw new SparrowError('corrupt_stream', `raw payload is ${payload.length} bytes, expected ${n}`);
    return new Int8Array(payload.slice().buffer);
  }
  if (codec === CODEC_HUFFMAN) {
    const b = decodeBlockRef(payload, 0, payload.length, n);
    if (b.symbols.length !== n) throw new SparrowError('corrupt_stream', `Huffman block holds ${b.symbols.length} symbols, expected ${n}`);
    if (b.pos !== payload.length) throw new SparrowError('corrupt_stream', `${payload.length - b.pos} stray bytes after the Huffman block`);
    const out = new Int8Array(n);
    for (let i = 0; i < n; i++) out[i] = unzigzag(b.symbols[i]!);
    return out;
  }
  if (codec === CODEC_RLE_HUFFMAN) {
    const out = new Int8Array(n);
    const { runs, values } = readRle(payload, n);
    let p = 0, k = 0;
    for (let i = 0; i < runs.length; i++) {
      const r = runs[i]!;
      if (r === RUN_ESCAPE) { p += RUN_ESCAPE; if (p > n) throw runPastEnd(n); continue; }
      p += r;
      if (p >= n) throw runPastEnd(n);
      if (k >= values.length) throw new SparrowError('corrupt_stream', 'more runs than nonzero values');
      out[p++] = unzigzag(values[k++]! + 1);
    }
    if (k !== values.length) throw new SparrowError('corrupt_stream', `runs place ${k} values but the tensor has ${values.length}`);
    return out;
  }
  throw new SparrowError('unsupported_codec', `codec ${codec} is not an int8 codec this reader knows`);
}

function runPastEnd(n: number): SparrowError {
  return new SparrowError('corrupt_stream', `zero runs go past the end of the ${n}-element tensor`);
}

function readRle(payload: Uint8Array, n: number): { runs: Uint8Array; values: Uint8Array } {
  const nz = readVarint(payload, 0, payload.length);
  const nnz = nz.value;
  if (nnz > n) throw new SparrowError('corrupt_stream', `${nnz} nonzero values in a ${n}-element tensor`);
  const rb = decodeBlockRef(payload, nz.pos, payload.length, n);
  const vb = decodeBlockRef(payload, rb.pos, payload.length, nnz, 254);
  if (vb.symbols.length !== nnz) throw new SparrowError('corrupt_stream', `values block holds ${vb.symbols.length} symbols, expected ${nnz}`);
  if (vb.pos !== payload.length) throw new SparrowError('corrupt_stream', `${payload.length - vb.pos} stray bytes after the values block`);
  return { runs: rb.symbols, values: vb.symbols };
}

/** CSR view of a rows×cols int8 matrix (docs/format.md "Decoder outputs"). */
export interface Csr {
  rows: number;
  cols: number;
  rowPtr: Uint32Array;  // (rows+1)
  col: Uint16Array;     // (nnz) ascending within a row
  val: Int8Array;       // (nnz)
}

/** Reference: dense (rows, cols) int8 → CSR. */
export function denseToCsrRef(dense: Int8Array, rows: number, cols: number): Csr {
  if (rows * cols !== dense.length) throw new SparrowError('invalid_argument', `CSR ${rows}x${cols} does not match ${dense.length} elements`);
  if (cols > 65536) throw new SparrowError('invalid_argument', `CSR needs cols ≤ 65536, got ${cols}`);
  const nnz = countNonzero(dense);
  const rowPtr = new Uint32Array(rows + 1), col = new Uint16Array(nnz), val = new Int8Array(nnz);
  let k = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = dense[r * cols + c]!;
      if (v !== 0) { col[k] = c; val[k] = v; k++; }
    }
    rowPtr[r + 1] = k;
  }
  return { rows, cols, rowPtr, col, val };
}

/** Reference decoder straight to CSR. */
export function decodeCsrRef(codec: number, payload: Uint8Array, rows: number, cols: number): Csr {
  return denseToCsrRef(decodeInt8Ref(codec, payload, rows * cols), rows, cols);
}

/**
 * Reads a payload's coded streams with the reference decoder and reports each stream's
 * symbol count and Shannon bound (n·H/8), plus the tensor's nonzero count: what
 * `sparrow inspect` shows. For raw payloads the one stream is the bytes themselves.
 */
export function analyzeInt8Payload(codec: number, payload: Uint8Array, n: number): { streams: StreamStat[]; entropyBytes: number; nonzero: number } {
  let streams: StreamStat[];
  let nonzero: number;
  if (codec === CODEC_RAW || codec === CODEC_HUFFMAN) {
    const data = decodeInt8Ref(codec, payload, n);
    nonzero = countNonzero(data);
    const sym = codec === CODEC_RAW ? new Uint8Array(data.buffer) : Uint8Array.from(data, zigzag);
    streams = [{ name: codec === CODEC_RAW ? 'bytes' : 'values', count: n, entropyBytes: shannonBytes(histogram(sym)) }];
  } else if (codec === CODEC_RLE_HUFFMAN) {
    decodeInt8Ref(codec, payload, n); // full validation
    const { runs, values } = readRle(payload, n);
    nonzero = values.length;
    streams = [
      { name: 'runs', count: runs.length, entropyBytes: shannonBytes(histogram(runs)) },
      { name: 'values', count: values.length, entropyBytes: shannonBytes(histogram(values)) },
    ];
  } else {
    throw new SparrowError('unsupported_codec', `codec ${codec} is not an int8 codec this reader knows`);
  }
  return { streams, nonzero, entropyBytes: streams.reduce((a, s) => a + s.entropyBytes, 0) };
}
