// int8 weight-tensor codecs: raw, huffman, rle-huffman (docs/format.md "Codecs for int8
// tensors"). Encoders and the plain reference decoders that tests and fallbacks share.

import { SparrowError } from '../errors.js';
import { BitWriter, readVarint } from './bitio.js';
import { decodeBlockRef, encodeBlock, histogram, shannonBytes } from './huffman.js';
import { decodeRansDetailed, decodeRansRef, encodeRansRows, magContext, signGeometries } from './rans_int8.js';
import { decodeRansLanesDetailed, decodeRansLanesRef, encodeRansLanes, magCtx } from './rans_lanes.js';
import { decodeRansRunsDetailed, decodeRansRunsRef, encodeRansRuns } from './rans_runs.js';

/** Codec ids as stored in the section table. */
export const CODEC_RAW = 0;
export const CODEC_HUFFMAN = 1;
export const CODEC_RLE_HUFFMAN = 2;
export const CODEC_RLE_ROWS = 3;
export const CODEC_RANS = 4;
export const CODEC_RANS_LANES = 5;
export const CODEC_RANS_RUNS = 6;
export type Int8CodecId =
  | typeof CODEC_RAW
  | typeof CODEC_HUFFMAN
  | typeof CODEC_RLE_HUFFMAN
  | typeof CODEC_RLE_ROWS
  | typeof CODEC_RANS
  | typeof CODEC_RANS_LANES
  | typeof CODEC_RANS_RUNS;
export const CODEC_NAMES: Record<number, string> = {
  0: 'raw',
  1: 'huffman',
  2: 'rle-huffman',
  3: 'rle-rows',
  4: 'rans',
  5: 'rans-lanes',
  6: 'rans-runs',
};
export const ALL_INT8_CODECS: readonly Int8CodecId[] = [
  CODEC_RAW,
  CODEC_HUFFMAN,
  CODEC_RLE_HUFFMAN,
  CODEC_RLE_ROWS,
  CODEC_RANS,
  CODEC_RANS_LANES,
  CODEC_RANS_RUNS,
];
/**
 * The Huffman codecs and codec 5 (rans-lanes), the smallest per tensor: the rANS choice that
 * favours decode speed (`sparrow compress --codec rans` allows every codec, ALL_INT8_CODECS, since
 * it asks for the smallest file). Codec 4 is left out here: codec 5 decodes 2–4× faster at ≤ 50 % sparsity (about as
 * fast at 70 %, half as fast at 90 %) for 0.1–0.4 % more bytes (docs/compression.md); callers
 * may still allow it (ALL_INT8_CODECS).
 */
export const RANS_INT8_CODECS: readonly Int8CodecId[] = [CODEC_RAW, CODEC_HUFFMAN, CODEC_RLE_HUFFMAN, CODEC_RLE_ROWS, CODEC_RANS_LANES];
/**
 * What encodeInt8 tries unless told otherwise: the Huffman codecs. rANS (codecs 4 and 5) is
 * 0.2–3 % smaller but its WASM decoders are 2.5–10× slower than the Huffman ones and slower
 * than native inflate (`npm run bench:codec`), so a model only uses it when asked (`codecs`
 * including CODEC_RANS or CODEC_RANS_LANES).
 */
export const DEFAULT_INT8_CODECS: readonly Int8CodecId[] = [CODEC_RAW, CODEC_HUFFMAN, CODEC_RLE_HUFFMAN, CODEC_RLE_ROWS];

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

export interface StreamStat {
  name: string;
  count: number;
  entropyBytes: number;
}

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
  let run = 0,
    k = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v === 0) {
      run++;
      continue;
    }
    while (run >= RUN_ESCAPE) {
      runs.push(RUN_ESCAPE);
      run -= RUN_ESCAPE;
    }
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

export interface BlockOptions {
  fourStreamMin?: number;
}

export function encodeHuffman(data: Int8Array, bo: BlockOptions = {}): EncodedInt8 {
  const sym = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) sym[i] = zigzag(data[i]!);
  const b = encodeBlock(sym, bo);
  return {
    codec: CODEC_HUFFMAN,
    payload: b.bytes,
    tableBytes: b.stats.tableBytes,
    entropyBytes: b.stats.entropyBytes,
    streams: [{ name: 'values', count: data.length, entropyBytes: b.stats.entropyBytes }],
    nonzero: countNonzero(data),
  };
}

export function encodeRleHuffman(data: Int8Array, bo: BlockOptions = {}): EncodedInt8 {
  const { runs, values } = toRuns(data);
  const rb = encodeBlock(runs, bo);
  const vb = encodeBlock(values, bo);
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

/**
 * Zero runs with per-row magnitude offsets (docs/format.md "Codec 3"): the tensor as rows of
 * `cols` elements; each row stores base = (smallest |v| of its nonzeros) − 1, values are coded
 * as magnitude offsets |v| − 1 − base (one Huffman block) plus a raw sign bitmap. Magnitude
 * pruning leaves every row with its own threshold, which this removes from the values.
 */
export function encodeRleRows(data: Int8Array, cols = data.length, bo: BlockOptions = {}): EncodedInt8 {
  const n = data.length;
  if (n === 0 || cols < 1 || n % cols !== 0) cols = Math.max(1, n);
  const rows = Math.max(1, n / cols);
  const base = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols && r * cols + c < n; c++) {
      const a = Math.abs(data[r * cols + c]!);
      if (a !== 0 && (m === 0 || a < m)) m = a;
    }
    base[r] = m === 0 ? 0 : m - 1;
  }
  const { runs } = toRuns(data);
  let nnz = 0;
  for (let i = 0; i < n; i++) if (data[i] !== 0) nnz++;
  const mags = new Uint8Array(nnz);
  const signs = new Uint8Array((nnz + 7) >> 3);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const v = data[i]!;
    if (v === 0) continue;
    mags[k] = Math.abs(v) - 1 - base[Math.floor(i / cols)]!;
    if (v < 0) signs[k >> 3]! |= 1 << (k & 7);
    k++;
  }
  const rb = encodeBlock(runs, bo);
  const mb = encodeBlock(mags, bo);
  const w = new BitWriter(rows + rb.bytes.length + mb.bytes.length + signs.length + 16);
  w.writeVarint(cols);
  w.writeVarint(nnz);
  const headBytes = w.bitLength / 8;
  w.writeBytes(base);
  w.writeBytes(rb.bytes);
  w.writeBytes(mb.bytes);
  w.writeBytes(signs);
  const baseBytes = shannonBytes(histogram(base));
  return {
    codec: CODEC_RLE_ROWS,
    payload: w.finish(),
    tableBytes: headBytes + rb.stats.tableBytes + mb.stats.tableBytes,
    entropyBytes: baseBytes + rb.stats.entropyBytes + mb.stats.entropyBytes + nnz / 8,
    streams: [
      { name: 'row-bases', count: rows, entropyBytes: baseBytes },
      { name: 'runs', count: runs.length, entropyBytes: rb.stats.entropyBytes },
      { name: 'magnitudes', count: nnz, entropyBytes: mb.stats.entropyBytes },
      { name: 'signs', count: nnz, entropyBytes: nnz / 8 },
    ],
    nonzero: nnz,
  };
}

/**
 * Codec 4: rANS-coded zero runs, row bases, magnitudes and context-coded signs; with `dims`
 * (the weight's shape) the kernel window geometry is tried for the sign contexts too, and
 * the smaller payload kept.
 */
export function encodeRans(data: Int8Array, cols = data.length, dims?: readonly number[]): EncodedInt8 {
  return smallestOverGeometries(CODEC_RANS, data, cols, dims, encodeRansRows);
}

/**
 * Codec 5: one rANS symbol per weight, the joint (magnitude above the row base, sign) with
 * lane-local contexts (src/codec/rans_lanes.ts); the kernel window of `dims` tried as for
 * codec 4, the smaller payload kept.
 */
export function encodeRansLanesInt8(data: Int8Array, cols = data.length, dims?: readonly number[]): EncodedInt8 {
  return smallestOverGeometries(CODEC_RANS_LANES, data, cols, dims, encodeRansLanes);
}

/**
 * Codec 6: zero runs and nonzero values (joint magnitude and sign with codec 5's contexts),
 * two rANS states (src/codec/rans_runs.ts); the kernel window of `dims` tried as for codec 4.
 */
export function encodeRansRunsInt8(data: Int8Array, cols = data.length, dims?: readonly number[]): EncodedInt8 {
  return smallestOverGeometries(CODEC_RANS_RUNS, data, cols, dims, encodeRansRuns);
}

/** The rANS codecs (4, 5, 6): `encode` over every sign geometry of `dims`, the smallest payload. */
function smallestOverGeometries(
  codec: Int8CodecId,
  data: Int8Array,
  cols: number,
  dims: readonly number[] | undefined,
  encode: typeof encodeRansRows | typeof encodeRansLanes | typeof encodeRansRuns,
): EncodedInt8 {
  let best: EncodedInt8 | null = null;
  for (const g of signGeometries(cols, dims)) {
    const e = encode(data, cols, g);
    if (best === null || e.payload.length < best.payload.length)
      best = {
        codec,
        payload: e.payload,
        tableBytes: e.tableBytes,
        entropyBytes: e.streams.reduce((a, s) => a + s.entropyBytes, 0),
        streams: e.streams,
        nonzero: e.nonzero,
      };
  }
  return best!;
}

/**
 * Codes `data` with every allowed codec (default DEFAULT_INT8_CODECS: not rANS) and keeps the
 * smallest payload (raw on ties).
 * `cols` is the row length for codecs 3 and 4 (default: one row); `dims` the weight's shape
 * (codec 4's sign contexts use its kernel window).
 */
export function encodeInt8(
  data: Int8Array,
  opts: { codecs?: readonly Int8CodecId[]; cols?: number; dims?: readonly number[] } & BlockOptions = {},
): EncodedInt8 {
  const allowed = opts.codecs ?? DEFAULT_INT8_CODECS;
  let best: EncodedInt8 | null = null;
  for (const c of ALL_INT8_CODECS) {
    if (!allowed.includes(c)) continue;
    const e =
      c === CODEC_RAW
        ? encodeRaw(data)
        : c === CODEC_HUFFMAN
          ? encodeHuffman(data, opts)
          : c === CODEC_RLE_HUFFMAN
            ? encodeRleHuffman(data, opts)
            : c === CODEC_RLE_ROWS
              ? encodeRleRows(data, opts.cols, opts)
              : c === CODEC_RANS
                ? encodeRans(data, opts.cols, opts.dims)
                : c === CODEC_RANS_LANES
                  ? encodeRansLanesInt8(data, opts.cols, opts.dims)
                  : encodeRansRunsInt8(data, opts.cols, opts.dims);
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
    // a copy: Uint8Array.prototype.slice (Node's Buffer#slice would be a view into its pool)
    return new Int8Array(Uint8Array.prototype.slice.call(payload).buffer);
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
    const { runs, values } = readRle(payload, n);
    return walkRuns(runs, n, values.length, (k) => unzigzag(values[k]! + 1));
  }
  if (codec === CODEC_RLE_ROWS) {
    const { runs, cols, base, mags, signs } = readRows(payload, n);
    return walkRuns(runs, n, mags.length, (k, p) => {
      const mag = mags[k]! + 1 + base[Math.floor(p / cols)]!;
      const neg = (signs[k >> 3]! >> (k & 7)) & 1;
      if (mag > 128 || (mag === 128 && !neg))
        throw new SparrowError('corrupt_stream', `value magnitude ${mag}${neg ? '' : ' (positive)'} is not an int8`);
      return neg ? -mag : mag;
    });
  }
  if (codec === CODEC_RANS) return decodeRansRef(payload, n);
  if (codec === CODEC_RANS_LANES) return decodeRansLanesRef(payload, n);
  if (codec === CODEC_RANS_RUNS) return decodeRansRunsRef(payload, n);
  throw new SparrowError('unsupported_codec', `codec ${codec} is not an int8 codec this reader knows`);
}

function readRows(
  payload: Uint8Array,
  n: number,
): { runs: Uint8Array; cols: number; base: Uint8Array; mags: Uint8Array; signs: Uint8Array } {
  const cv = readVarint(payload, 0, payload.length);
  const cols = cv.value;
  if (cols < 1 || (n > 0 && n % cols !== 0) || (n === 0 && cols !== 1))
    throw new SparrowError('corrupt_stream', `row length ${cols} does not divide the ${n}-element tensor`);
  const rows = n === 0 ? 1 : n / cols;
  const nz = readVarint(payload, cv.pos, payload.length);
  const nnz = nz.value;
  if (nnz > n) throw new SparrowError('corrupt_stream', `${nnz} nonzero values in a ${n}-element tensor`);
  let pos = nz.pos;
  if (rows > payload.length - pos) throw new SparrowError('corrupt_stream', `row bases need ${rows} bytes, ${payload.length - pos} left`);
  const base = payload.subarray(pos, pos + rows);
  for (let r = 0; r < rows; r++) if (base[r]! > 127) throw new SparrowError('corrupt_stream', `row base ${base[r]} is over 127`);
  pos += rows;
  const rb = decodeBlockRef(payload, pos, payload.length, n);
  const mb = decodeBlockRef(payload, rb.pos, payload.length, nnz, 127);
  if (mb.symbols.length !== nnz)
    throw new SparrowError('corrupt_stream', `magnitudes block holds ${mb.symbols.length} symbols, expected ${nnz}`);
  const signBytes = (nnz + 7) >> 3;
  if (payload.length - mb.pos !== signBytes)
    throw new SparrowError('corrupt_stream', `sign bitmap is ${payload.length - mb.pos} bytes, expected ${signBytes}`);
  const signs = payload.subarray(mb.pos);
  if (nnz & 7 && signs[signBytes - 1]! >> (nnz & 7)) throw new SparrowError('corrupt_stream', 'sign bitmap padding bits are not zero');
  return { runs: rb.symbols, cols, base, mags: mb.symbols, signs };
}

/**
 * The zero-run walk of codecs 2 and 3 (docs/format.md): places value k, given by `value(k, p)`,
 * at the position p the runs give it; every inconsistency is a corrupt_stream.
 */
function walkRuns(runs: Uint8Array, n: number, nnz: number, value: (k: number, p: number) => number): Int8Array {
  const out = new Int8Array(n);
  let p = 0,
    k = 0;
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i]!;
    if (r === RUN_ESCAPE) {
      p += RUN_ESCAPE;
      if (p > n) throw runPastEnd(n);
      continue;
    }
    p += r;
    if (p >= n) throw runPastEnd(n);
    if (k >= nnz) throw new SparrowError('corrupt_stream', 'more runs than nonzero values');
    out[p] = value(k, p);
    p++;
    k++;
  }
  if (k !== nnz) throw new SparrowError('corrupt_stream', `runs place ${k} values but the tensor has ${nnz}`);
  return out;
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
  if (vb.symbols.length !== nnz)
    throw new SparrowError('corrupt_stream', `values block holds ${vb.symbols.length} symbols, expected ${nnz}`);
  if (vb.pos !== payload.length) throw new SparrowError('corrupt_stream', `${payload.length - vb.pos} stray bytes after the values block`);
  return { runs: rb.symbols, values: vb.symbols };
}

/** CSR view of a rows×cols int8 matrix (docs/format.md "Decoder outputs"). */
export interface Csr {
  rows: number;
  cols: number;
  rowPtr: Uint32Array; // (rows+1)
  col: Uint16Array; // (nnz) ascending within a row
  val: Int8Array; // (nnz)
}

/** Reference: dense (rows, cols) int8 → CSR. */
export function denseToCsrRef(dense: Int8Array, rows: number, cols: number): Csr {
  if (rows * cols !== dense.length)
    throw new SparrowError('invalid_argument', `CSR ${rows}x${cols} does not match ${dense.length} elements`);
  if (cols > 65536) throw new SparrowError('invalid_argument', `CSR needs cols ≤ 65536, got ${cols}`);
  const nnz = countNonzero(dense);
  const rowPtr = new Uint32Array(rows + 1),
    col = new Uint16Array(nnz),
    val = new Int8Array(nnz);
  let k = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = dense[r * cols + c]!;
      if (v !== 0) {
        col[k] = c;
        val[k] = v;
        k++;
      }
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
export function analyzeInt8Payload(
  codec: number,
  payload: Uint8Array,
  n: number,
): { streams: StreamStat[]; entropyBytes: number; nonzero: number } {
  let streams: StreamStat[];
  let nonzero: number;
  if (codec === CODEC_RAW || codec === CODEC_HUFFMAN) {
    const data = decodeInt8Ref(codec, payload, n);
    nonzero = countNonzero(data);
    const sym = codec === CODEC_RAW ? new Uint8Array(data.buffer, data.byteOffset, data.length) : Uint8Array.from(data, zigzag);
    streams = [{ name: codec === CODEC_RAW ? 'bytes' : 'values', count: n, entropyBytes: shannonBytes(histogram(sym)) }];
  } else if (codec === CODEC_RLE_HUFFMAN) {
    decodeInt8Ref(codec, payload, n); // full validation
    const { runs, values } = readRle(payload, n);
    nonzero = values.length;
    streams = [
      { name: 'runs', count: runs.length, entropyBytes: shannonBytes(histogram(runs)) },
      { name: 'values', count: values.length, entropyBytes: shannonBytes(histogram(values)) },
    ];
  } else if (codec === CODEC_RLE_ROWS) {
    decodeInt8Ref(codec, payload, n);
    const { runs, base, mags } = readRows(payload, n);
    nonzero = mags.length;
    streams = [
      { name: 'row-bases', count: base.length, entropyBytes: shannonBytes(histogram(base)) },
      { name: 'runs', count: runs.length, entropyBytes: shannonBytes(histogram(runs)) },
      { name: 'magnitudes', count: mags.length, entropyBytes: shannonBytes(histogram(mags)) },
      { name: 'signs', count: mags.length, entropyBytes: mags.length / 8 },
    ];
  } else if (codec === CODEC_RANS) {
    const { parsed, sctx } = decodeRansDetailed(payload, n);
    nonzero = parsed.nnz;
    const z = new Float64Array(9),
      o = new Float64Array(9);
    const data = decodeRansRef(payload, n);
    let k = 0;
    for (let i = 0; i < n; i++) if (data[i] !== 0) (data[i]! < 0 ? o : z)[sctx[k++]!]!++;
    let signBits = 0;
    for (let c = 0; c < 9; c++) {
      const t = z[c]! + o[c]!;
      if (z[c]! > 0 && o[c]! > 0) signBits -= z[c]! * Math.log2(z[c]! / t) + o[c]! * Math.log2(o[c]! / t);
    }
    // magnitudes: order-0 within each of their one or two contexts (as the encoder reports)
    const m0: number[] = [],
      m1: number[] = [];
    for (let k = 0; k < parsed.nnz; k++) (magContext(parsed.mags, k, parsed.threshold) ? m1 : m0).push(parsed.mags[k]!);
    const magBytes = shannonBytes(histogram(Uint8Array.from(m0))) + shannonBytes(histogram(Uint8Array.from(m1)));
    streams = [
      { name: 'row-bases', count: parsed.base.length, entropyBytes: shannonBytes(histogram(parsed.base)) },
      { name: 'runs', count: parsed.runs.length, entropyBytes: shannonBytes(histogram(parsed.runs)) },
      { name: 'magnitudes', count: parsed.nnz, entropyBytes: magBytes },
      { name: 'signs', count: parsed.nnz, entropyBytes: signBits / 8 },
    ];
  } else if (codec === CODEC_RANS_LANES) {
    // as the encoder reports them: symbols order-0 within each magnitude context, signs per class
    const d = decodeRansLanesDetailed(payload, n);
    const { t1, t2 } = d.header;
    const mag = Array.from({ length: 3 }, () => [] as number[]);
    const pos = new Float64Array(9),
      neg = new Float64Array(9);
    nonzero = 0;
    for (let p = 0; p < n; p++) {
      mag[magCtx(d.sumCtx[p]!, t1, t2)]!.push(d.sym[p]!);
      if (d.out[p] !== 0) {
        nonzero++;
        (d.out[p]! < 0 ? neg : pos)[d.sclass[p]!]!++;
      }
    }
    let signBits = 0;
    for (let c = 0; c < 9; c++) {
      const t = pos[c]! + neg[c]!;
      if (pos[c]! > 0 && neg[c]! > 0) signBits -= pos[c]! * Math.log2(pos[c]! / t) + neg[c]! * Math.log2(neg[c]! / t);
    }
    streams = [
      { name: 'magnitudes', count: n, entropyBytes: mag.reduce((a, m) => a + shannonBytes(histogram(Uint8Array.from(m))), 0) },
      { name: 'signs', count: nonzero, entropyBytes: signBits / 8 },
    ];
  } else if (codec === CODEC_RANS_RUNS) {
    // as the encoder reports them: runs order-0, values order-0 per magnitude context, signs per class
    const d = decodeRansRunsDetailed(payload, n);
    const { t1, t2 } = d.header;
    const mag = Array.from({ length: 3 }, () => [] as number[]);
    const pos = new Float64Array(9),
      neg = new Float64Array(9);
    let k = 0;
    for (let p = 0; p < n; p++)
      if (d.out[p] !== 0) {
        mag[magCtx(d.sumCtx[k]!, t1, t2)]!.push(d.sym[p]!);
        (d.out[p]! < 0 ? neg : pos)[d.sclass[k]!]!++;
        k++;
      }
    nonzero = k;
    let signBits = 0;
    for (let c = 0; c < 9; c++) {
      const t = pos[c]! + neg[c]!;
      if (pos[c]! > 0 && neg[c]! > 0) signBits -= pos[c]! * Math.log2(pos[c]! / t) + neg[c]! * Math.log2(neg[c]! / t);
    }
    streams = [
      { name: 'runs', count: d.runs.length, entropyBytes: shannonBytes(histogram(Uint8Array.from(d.runs))) },
      { name: 'magnitudes', count: nonzero, entropyBytes: mag.reduce((a, m) => a + shannonBytes(histogram(Uint8Array.from(m))), 0) },
      { name: 'signs', count: nonzero, entropyBytes: signBits / 8 },
    ];
  } else {
    throw new SparrowError('unsupported_codec', `codec ${codec} is not an int8 codec this reader knows`);
  }
  return { streams, nonzero, entropyBytes: streams.reduce((a, s) => a + s.entropyBytes, 0) };
}
