// The `.sparrow` container, version 1 (docs/format.md): a 64-byte header, a section table,
// UTF-8 JSON metadata, then the payload sections, each 16-aligned. Little-endian throughout;
// all offsets absolute; all sizes u32.
//
//   0                        header (64 bytes)
//   64                       section table, 32 bytes × section_count
//   meta_offset              metadata JSON, meta_bytes            (= 64 + 32·section_count)
//   meta_offset+meta_bytes   zero padding to a multiple of 16
//   data_offset              section 0 payload, zero padding to 16, section 1 payload, ...
//   file_bytes               end of the last section (no trailing bytes, no final padding)
//
// Readers trust nothing: every size, offset, padding byte and CRC is checked before use.

import { SparrowError, type SparrowErrorCode } from '../errors.js';
import { crc32 } from './crc32.js';
import { deflateRaw, inflateRaw } from './deflate.js';

const MAGIC_BYTES = [0x89, 0x53, 0x50, 0x52, 0x57, 0x0d, 0x0a, 0x1a] as const;
/** `89 53 50 52 57 0D 0A 1A` = "\x89SPRW\r\n\x1a" (PNG-style: catches text-mode mangling). */
export const MAGIC = Uint8Array.from(MAGIC_BYTES);
export const VERSION_MAJOR = 1;
export const VERSION_MINOR = 0;
/**
 * Version 2 = version 1 plus header flags: bit 0 (FLAG_META_DEFLATE) = the metadata block is the
 * raw DEFLATE of the JSON (meta_bytes and meta_crc32 are those of the stored bytes). Writers use
 * it only when asked (deflateMetadata); readers accept majors 1 and 2.
 */
export const VERSION_MAJOR_DEFLATE = 2;
export const FLAG_META_DEFLATE = 1;
const KNOWN_MAJORS = [VERSION_MAJOR, VERSION_MAJOR_DEFLATE];
export const HEADER_BYTES = 64;
export const SECTION_ENTRY_BYTES = 32;
export const MAX_SECTIONS = 65536;
export const MAX_META_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;
const U32_MAX = 0xffffffff;

export enum Codec {
  Raw = 0,
  Huffman = 1,
  RleHuffman = 2,
  RleRows = 3,
  Rans = 4,
  RansLanes = 5,
}
export enum DType {
  Int8 = 0,
  Uint8 = 1,
  Int32 = 2,
  Float32 = 3,
  Int64 = 4,
  Uint16 = 5,
}
export type DTypeName = 'int8' | 'uint8' | 'int32' | 'float32' | 'int64' | 'uint16';

/** DType -> name (indexed by the dtype byte). */
export const DTYPE_NAMES: readonly DTypeName[] = ['int8', 'uint8', 'int32', 'float32', 'int64', 'uint16'];
/** name -> DType. Look names up with `Object.hasOwn` (or `isDTypeName`), not `in`. */
export const DTYPE_BY_NAME: Readonly<Record<DTypeName, DType>> = {
  int8: DType.Int8,
  uint8: DType.Uint8,
  int32: DType.Int32,
  float32: DType.Float32,
  int64: DType.Int64,
  uint16: DType.Uint16,
};
const DTYPE_SIZES = [1, 1, 4, 4, 8, 2];
const CODEC_NAMES = ['raw', 'huffman', 'rle-huffman', 'rle-rows', 'rans', 'rans-lanes', 'rans-runs'];

export function isDTypeName(s: unknown): s is DTypeName {
  return typeof s === 'string' && Object.hasOwn(DTYPE_BY_NAME, s);
}

/** Bytes per element of `dt`. */
export function dtypeSize(dt: DType): number {
  const size = DTYPE_SIZES[dt];
  if (size === undefined) throw new SparrowError('invalid_argument', `unknown dtype ${dt} (expected 0..5)`);
  return size;
}

/** Smallest multiple of 16 that is ≥ n (n a non-negative safe integer). */
export function align16(n: number): number {
  return Math.ceil(n / 16) * 16;
}

export interface TensorMeta {
  name: string;
  shape: number[];
  dtype: DTypeName;
  section: number;
  [extra: string]: unknown;
}
export interface SparrowMeta {
  producer?: string;
  tensors: TensorMeta[];
  graph?: unknown;
  preprocessing?: unknown;
  [extra: string]: unknown;
}
export interface SectionInput {
  codec: Codec;
  dtype: DType;
  payload: Uint8Array;
  decodedBytes: number;
}
export interface SectionInfo {
  index: number;
  offset: number;
  storedBytes: number;
  decodedBytes: number;
  codec: Codec;
  dtype: DType;
  crc32: number;
}
export interface ParsedHeader {
  versionMajor: number;
  versionMinor: number;
  /** header flags (version 2: FLAG_META_DEFLATE) */
  flags: number;
  sectionCount: number;
  metaOffset: number;
  metaBytes: number;
  dataOffset: number;
  fileBytes: number;
  sections: SectionInfo[];
  meta: SparrowMeta;
}
export interface ReadOptions {
  /** Reject files whose file_bytes exceeds this (default 1 GiB) with `too_large`. */
  maxBytes?: number;
  /**
   * Reject files whose sections decode to more than this many bytes in all (default 1 GiB)
   * with `too_large`: a few coded bytes may claim gigabytes (a constant block), and a reader
   * must not allocate them on a file's word.
   */
  maxDecodedBytes?: number;
}
export interface StreamSection {
  index: number;
  info: SectionInfo;
  payload: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// small helpers

const fail = (code: SparrowErrorCode, message: string): SparrowError => new SparrowError(code, message);
const hex = (n: number): string => '0x' + n.toString(16).padStart(8, '0');
const hexBytes = (b: ArrayLike<number>): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const describe = (x: unknown): string => (x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x);
const show = (x: unknown): string => {
  const s = JSON.stringify(x) ?? String(x);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
};

/** `what` names the checked bytes in the error (a function: built only on a mismatch). */
function checkCrc(bytes: Uint8Array, stored: number, what: string | (() => string)): void {
  const actual = crc32(bytes);
  if (actual !== stored) {
    throw fail(
      'checksum_mismatch',
      `${typeof what === 'string' ? what : what()} CRC-32 mismatch: stored ${hex(stored)}, computed ${hex(actual)}`,
    );
  }
}

function checkZero(b: Uint8Array, from: number, to: number, what: string): void {
  for (let k = from; k < to; k++) {
    if (b[k] !== 0)
      throw fail(
        'corrupt_header',
        `${what} (bytes ${from}..${to - 1}) must be zero, but byte ${k} is 0x${b[k].toString(16).padStart(2, '0')}`,
      );
  }
}

/** The position-independent table rules for one section (codec already known valid); null if fine. */
function sectionRuleError(codec: number, dtype: number, stored: number, decoded: number): string | null {
  if (dtype >= DTYPE_SIZES.length) return `dtype byte ${dtype} is unknown (0..5)`;
  if (codec !== Codec.Raw && dtype !== DType.Int8)
    return `codec ${CODEC_NAMES[codec]} applies only to int8, but the dtype is ${DTYPE_NAMES[dtype]}`;
  if (codec === Codec.Raw && decoded !== stored)
    return `a raw section needs decoded_bytes = stored_bytes, but they are ${decoded} and ${stored}`;
  if (decoded % DTYPE_SIZES[dtype] !== 0)
    return `decoded_bytes ${decoded} is not a multiple of the ${DTYPE_NAMES[dtype]} size ${DTYPE_SIZES[dtype]}`;
  return null;
}

/** Bytes of a tensor of `shape`; any value > 2^32 stands for "too big for a file" (never wraps). */
function shapeBytes(shape: readonly number[], elemSize: number): number {
  if (shape.includes(0)) return 0;
  let p = elemSize;
  for (const d of shape) {
    p *= d;
    if (p > 2 ** 32) return p;
  } // p ≤ 2^32 before the multiply: exact or ≥ 2^53
  return p;
}

/**
 * Checks the metadata object against the rules of docs/format.md and the sections it
 * describes; throws SparrowError(`code`) with a specific message otherwise.
 */
function validateMeta(meta: unknown, sections: ReadonlyArray<{ dtype: DType; decodedBytes: number }>, code: SparrowErrorCode): SparrowMeta {
  if (!isObject(meta)) throw fail(code, `metadata must be a JSON object, got ${describe(meta)}`);
  if (meta.producer !== undefined && typeof meta.producer !== 'string')
    throw fail(code, `metadata.producer must be a string, got ${describe(meta.producer)}`);
  const tensors = meta.tensors;
  if (!Array.isArray(tensors))
    throw fail(code, `metadata.tensors must be an array, got ${tensors === undefined ? 'nothing' : describe(tensors)}`);
  if (tensors.length !== sections.length)
    throw fail(code, `metadata lists ${tensors.length} tensors, but there are ${sections.length} sections`);
  const seen = new Map<string, number>();
  tensors.forEach((t: unknown, i) => {
    if (!isObject(t)) throw fail(code, `tensor ${i} must be an object, got ${describe(t)}`);
    const { name, shape, dtype, section } = t;
    if (typeof name !== 'string' || name === '') throw fail(code, `tensor ${i}: name must be a non-empty string, got ${show(name)}`);
    const where = (): string => `tensor ${i} (${show(name)})`; // for messages only: built on failure
    const first = seen.get(name);
    if (first !== undefined) throw fail(code, `${where()}: name already used by tensor ${first}`);
    seen.set(name, i);
    if (section !== i) throw fail(code, `${where()}: section is ${show(section)}, must equal the tensor's index ${i}`);
    if (!Array.isArray(shape)) throw fail(code, `${where()}: shape must be an array, got ${describe(shape)}`);
    const badDim = shape.findIndex((d) => !Number.isSafeInteger(d) || d < 0);
    if (badDim >= 0) throw fail(code, `${where()}: shape[${badDim}] is ${show(shape[badDim])}, must be a non-negative integer`);
    if (!isDTypeName(dtype)) throw fail(code, `${where()}: dtype ${show(dtype)} is not one of ${DTYPE_NAMES.join(', ')}`);
    const s = sections[i];
    if (DTYPE_BY_NAME[dtype] !== s.dtype)
      throw fail(code, `${where()}: dtype "${dtype}" does not match the section's dtype byte ${s.dtype} (${DTYPE_NAMES[s.dtype]})`);
    const bytes = shapeBytes(shape, DTYPE_SIZES[s.dtype]);
    if (bytes !== s.decodedBytes) {
      const got = bytes > U32_MAX ? 'more than 4 GiB' : `${bytes} bytes`;
      throw fail(code, `${where()}: shape [${shape.join(', ')}] of ${dtype} is ${got}, but the section decodes to ${s.decodedBytes} bytes`);
    }
  });
  return meta as SparrowMeta;
}

// ---------------------------------------------------------------------------------------------
// reading

// Header (64 bytes):
//   off size field            rule
//    0   8  magic             89 53 50 52 57 0D 0A 1A
//    8   2  version_major     1 (else unsupported_version)
//   10   2  version_minor     any
//   12   4  flags             0 (version 2: bit 0 = metadata deflated; other bits 0)
//   16   4  header_bytes      64
//   20   4  section_count     ≤ 65536
//   24   4  table_offset      64
//   28   4  meta_offset       64 + 32·section_count
//   32   4  meta_bytes        ≤ 64 MiB
//   36   4  meta_crc32        CRC-32 of the metadata
//   40   4  data_offset       align16(meta_offset + meta_bytes)
//   44   4  file_bytes        total length
//   48   4  table_crc32       CRC-32 of the 32·section_count table bytes
//   52   8  reserved          0
//   60   4  header_crc32      CRC-32 of bytes 0..59
interface FixedHeader {
  versionMajor: number;
  versionMinor: number;
  flags: number;
  sectionCount: number;
  metaOffset: number;
  metaBytes: number;
  metaCrc: number;
  dataOffset: number;
  fileBytes: number;
  tableCrc: number;
  /** the reader's limit on Σ decoded_bytes (ReadOptions.maxDecodedBytes) */
  maxDecoded: number;
}

/** Magic and major version on however many of the first 10 bytes are present. */
function checkPrefix(b: Uint8Array): void {
  const n = Math.min(b.length, MAGIC_BYTES.length);
  for (let i = 0; i < n; i++) {
    if (b[i] !== MAGIC_BYTES[i]) {
      throw fail(
        'bad_magic',
        `not a .sparrow file: it starts with ${hexBytes(b.subarray(0, 8))}, expected the magic ${hexBytes(MAGIC_BYTES)} (first difference at byte ${i})`,
      );
    }
  }
  if (b.length >= 10) {
    const major = b[8] | (b[9] << 8);
    if (!KNOWN_MAJORS.includes(major))
      throw fail(
        'unsupported_version',
        `.sparrow format version ${major} is not supported (this reader knows major versions ${KNOWN_MAJORS.join(' and ')})`,
      );
  }
}

function parseFixedHeader(b: Uint8Array, opts: ReadOptions): FixedHeader {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  checkPrefix(b);
  if (b.length < HEADER_BYTES) throw fail('truncated', `file is ${b.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const v = dv(b);
  const u32 = (off: number): number => v.getUint32(off, true);
  checkCrc(b.subarray(0, 60), u32(60), 'header');
  const h: FixedHeader = {
    versionMajor: v.getUint16(8, true),
    versionMinor: v.getUint16(10, true),
    flags: u32(12),
    sectionCount: u32(20),
    metaOffset: u32(28),
    metaBytes: u32(32),
    metaCrc: u32(36),
    dataOffset: u32(40),
    fileBytes: u32(44),
    tableCrc: u32(48),
    maxDecoded: opts.maxDecodedBytes ?? DEFAULT_MAX_BYTES,
  };
  const expect = (field: string, actual: number, wanted: number, why = ''): void => {
    if (actual !== wanted) throw fail('corrupt_header', `header ${field} is ${actual}, expected ${wanted}${why}`);
  };
  const known = h.versionMajor === VERSION_MAJOR_DEFLATE ? FLAG_META_DEFLATE : 0;
  if ((h.flags & ~known) !== 0)
    throw fail(
      'corrupt_header',
      `header flags are ${hex(h.flags)}, but version ${h.versionMajor} defines ${known ? `only bit 0 (${hex(known)})` : 'no flags (must be 0)'}`,
    );
  expect('header_bytes', u32(16), HEADER_BYTES);
  if (h.sectionCount > MAX_SECTIONS) throw fail('too_large', `section_count ${h.sectionCount} is over the limit of ${MAX_SECTIONS}`);
  expect('table_offset', u32(24), HEADER_BYTES);
  expect('meta_offset', h.metaOffset, HEADER_BYTES + SECTION_ENTRY_BYTES * h.sectionCount, ` (64 + 32 × section_count ${h.sectionCount})`);
  if (h.metaBytes > MAX_META_BYTES) throw fail('too_large', `meta_bytes ${h.metaBytes} is over the limit of ${MAX_META_BYTES} (64 MiB)`);
  expect('data_offset', h.dataOffset, align16(h.metaOffset + h.metaBytes), ' (align16(meta_offset + meta_bytes))');
  checkZero(b, 52, 60, 'header reserved bytes');
  if (h.fileBytes > maxBytes) throw fail('too_large', `file_bytes ${h.fileBytes} is over the limit of ${maxBytes} bytes`);
  if (h.fileBytes < h.dataOffset) throw fail('corrupt_header', `header file_bytes ${h.fileBytes} is less than data_offset ${h.dataOffset}`);
  return h;
}

// Section table entry (32 bytes, entry i at 64 + 32·i):
//   off size field           rule
//    0   4  offset           data_offset for section 0, then align16(offset_{i-1} + stored_bytes_{i-1})
//    4   4  stored_bytes     payload length in the file
//    8   4  decoded_bytes    = stored_bytes for raw; a multiple of the dtype size
//   12   1  codec            0 raw, 1 huffman, 2 rle-huffman, 3 rle-rows, 4 rans, 5 rans-lanes (1..5 only for int8); else unsupported_codec
//   13   1  dtype            0 int8, 1 uint8, 2 int32, 3 float32, 4 int64, 5 uint16
//   14   2  reserved         0
//   16   4  crc32            CRC-32 of the stored payload
//   20  12  reserved         0
/** Table + metadata; needs `b.length ≥ h.dataOffset` (the caller checks). */
function parseTableAndMeta(b: Uint8Array, h: FixedHeader): ParsedHeader {
  const v = dv(b);
  checkCrc(b.subarray(HEADER_BYTES, h.metaOffset), h.tableCrc, 'section table');
  const sections: SectionInfo[] = [];
  let end = h.dataOffset; // end of the previous section (data_offset is already aligned)
  for (let i = 0; i < h.sectionCount; i++) {
    const e = HEADER_BYTES + SECTION_ENTRY_BYTES * i;
    const s: SectionInfo = {
      index: i,
      offset: v.getUint32(e, true),
      storedBytes: v.getUint32(e + 4, true),
      decodedBytes: v.getUint32(e + 8, true),
      codec: b[e + 12],
      dtype: b[e + 13],
      crc32: v.getUint32(e + 16, true),
    };
    const wanted = align16(end);
    if (s.offset !== wanted) {
      throw fail(
        'corrupt_header',
        `section ${i}: offset is ${s.offset}, expected ${wanted} (${i === 0 ? 'data_offset' : `the end of section ${i - 1} aligned to 16`})`,
      );
    }
    end = s.offset + s.storedBytes;
    if (end > h.fileBytes) throw fail('corrupt_header', `section ${i}: ends at byte ${end}, past file_bytes ${h.fileBytes}`);
    if (s.codec >= CODEC_NAMES.length)
      throw fail(
        'unsupported_codec',
        `section ${i}: codec id ${s.codec} is unknown (0 raw, 1 huffman, 2 rle-huffman, 3 rle-rows, 4 rans, 5 rans-lanes)`,
      );
    const rule = sectionRuleError(s.codec, s.dtype, s.storedBytes, s.decodedBytes);
    if (rule) throw fail('corrupt_header', `section ${i}: ${rule}`);
    checkZero(b, e + 14, e + 16, `section ${i} table entry reserved bytes`);
    checkZero(b, e + 20, e + 32, `section ${i} table entry reserved bytes`);
    sections.push(s);
  }
  if (end !== h.fileBytes)
    throw fail('corrupt_header', `sections end at byte ${end}, but file_bytes is ${h.fileBytes} (no trailing bytes allowed)`);
  const decoded = sections.reduce((a, s) => a + s.decodedBytes, 0);
  if (decoded > h.maxDecoded)
    throw fail('too_large', `sections decode to ${decoded} bytes in all, over the reader's limit of ${h.maxDecoded}`);

  const metaEnd = h.metaOffset + h.metaBytes;
  checkCrc(b.subarray(h.metaOffset, metaEnd), h.metaCrc, 'metadata');
  checkZero(b, metaEnd, h.dataOffset, 'padding after the metadata');
  let text: string;
  const stored = b.subarray(h.metaOffset, metaEnd);
  const metaRaw = h.flags & FLAG_META_DEFLATE ? inflateRaw(stored, MAX_META_BYTES, 'corrupt_metadata') : stored;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(metaRaw);
  } catch {
    throw fail('corrupt_metadata', 'metadata is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail('corrupt_metadata', `metadata is not valid JSON: ${(e as Error).message}`);
  }
  const meta = validateMeta(json, sections, 'corrupt_metadata');
  return {
    versionMajor: h.versionMajor,
    versionMinor: h.versionMinor,
    flags: h.flags,
    sectionCount: h.sectionCount,
    metaOffset: h.metaOffset,
    metaBytes: h.metaBytes,
    dataOffset: h.dataOffset,
    fileBytes: h.fileBytes,
    sections,
    meta,
  };
}

/** Checks section i's CRC and the zero padding after it; `b` must hold ≥ the next section's offset. */
function verifySection(b: Uint8Array, h: ParsedHeader, i: number): Uint8Array {
  const s = h.sections[i];
  const end = s.offset + s.storedBytes;
  const next = i + 1 < h.sectionCount ? h.sections[i + 1].offset : h.fileBytes;
  checkZero(b, end, next, `padding after section ${i}`);
  const payload = b.subarray(s.offset, end);
  checkCrc(payload, s.crc32, () => `section ${i} (${show(h.meta.tensors[i].name)})`);
  return payload;
}

/**
 * Parses and fully validates a whole `.sparrow` file held in memory, including every
 * section's CRC. `payload(i)` returns a view (no copy) of section i's stored bytes.
 */
export function readContainer(bytes: Uint8Array, opts: ReadOptions = {}): { header: ParsedHeader; payload(i: number): Uint8Array } {
  const f = parseFixedHeader(bytes, opts);
  if (bytes.length < f.fileBytes) throw fail('truncated', `file is ${bytes.length} bytes, but its header says file_bytes = ${f.fileBytes}`);
  if (bytes.length > f.fileBytes)
    throw fail(
      'corrupt_header',
      `file is ${bytes.length} bytes, ${bytes.length - f.fileBytes} more than its header's file_bytes = ${f.fileBytes}`,
    );
  const header = parseTableAndMeta(bytes, f);
  const payloads = header.sections.map((_, i) => verifySection(bytes, header, i));
  return {
    header,
    payload(i: number): Uint8Array {
      const p = payloads[i];
      if (!Number.isInteger(i) || p === undefined) throw fail('invalid_argument', `no section ${i} (the file has ${payloads.length})`);
      return p;
    },
  };
}

/**
 * For streaming: given the first k bytes of a file, returns `{ need }` (the total number of
 * bytes required to parse header, table and metadata; always > k), or the fully validated
 * header once those bytes are there. Throws as soon as the bytes present are invalid.
 */
export function parseHeaderPrefix(bytes: Uint8Array, opts: ReadOptions = {}): { need: number } | ParsedHeader {
  if (bytes.length < HEADER_BYTES) {
    checkPrefix(bytes);
    return { need: HEADER_BYTES };
  }
  const f = parseFixedHeader(bytes, opts);
  if (bytes.length > f.fileBytes)
    throw fail('corrupt_header', `got ${bytes.length} bytes, more than the header's file_bytes = ${f.fileBytes}`);
  if (bytes.length < f.dataOffset) return { need: f.dataOffset };
  return parseTableAndMeta(bytes, f);
}

/**
 * Incremental reader: push chunks of any size as they arrive; each push returns the sections
 * that became complete (payload, its zero padding, CRC checked), in order, each exactly once.
 * Payloads are views into the reader's buffer and stay valid. After any error the reader is
 * dead and rethrows it.
 */
export class ContainerStreamReader {
  private buf = new Uint8Array(0);
  private len = 0;
  private fixed: FixedHeader | null = null;
  private parsed: ParsedHeader | null = null;
  private next = 0; // next section to emit
  private failed: unknown = null;
  private ended = false;
  private readonly maxBytes: number;
  private readonly opts: ReadOptions;

  constructor(opts: ReadOptions = {}) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.opts = opts;
  }

  /** The validated header, once header, table and metadata have arrived; else null. */
  get header(): ParsedHeader | null {
    return this.parsed;
  }

  push(chunk: Uint8Array): StreamSection[] {
    if (this.failed !== null) throw this.failed;
    if (this.ended) throw fail('invalid_argument', 'push() called after end()');
    try {
      return this.consume(chunk);
    } catch (e) {
      this.failed = e;
      throw e;
    }
  }

  /** Declares the input complete; throws `truncated` if the file was not. */
  end(): void {
    if (this.failed !== null) throw this.failed;
    if (this.ended) return;
    this.ended = true;
    if (this.fixed === null || this.len < this.fixed.fileBytes) {
      const want = this.fixed ? `file_bytes = ${this.fixed.fileBytes}` : `the ${HEADER_BYTES}-byte header is incomplete`;
      this.failed = fail('truncated', `stream ended after ${this.len} bytes; ${want}`);
      throw this.failed;
    }
  }

  private consume(chunk: Uint8Array): StreamSection[] {
    let rest = chunk;
    if (this.fixed === null) {
      // Take only the header first, so that file_bytes bounds everything appended after it.
      const take = Math.min(rest.length, HEADER_BYTES - this.len);
      this.append(rest.subarray(0, take));
      rest = rest.subarray(take);
      if (this.len < HEADER_BYTES) {
        checkPrefix(this.buf.subarray(0, this.len));
        return [];
      }
      this.fixed = parseFixedHeader(this.buf.subarray(0, this.len), this.opts);
    }
    const f = this.fixed;
    if (this.len + rest.length > f.fileBytes) {
      throw fail('corrupt_header', `received ${this.len + rest.length} bytes, more than the header's file_bytes = ${f.fileBytes}`);
    }
    this.append(rest);
    if (this.parsed === null) {
      if (this.len < f.dataOffset) return [];
      this.parsed = parseTableAndMeta(this.buf.subarray(0, this.len), f);
    }
    const h = this.parsed,
      out: StreamSection[] = [];
    for (; this.next < h.sectionCount; this.next++) {
      const i = this.next;
      const complete = i + 1 < h.sectionCount ? h.sections[i + 1].offset : h.fileBytes; // payload + its padding
      if (this.len < complete) break;
      out.push({ index: i, info: h.sections[i], payload: verifySection(this.buf, h, i) });
    }
    return out;
  }

  /** Appends into one buffer grown geometrically, capped at file_bytes once known. Bytes
   *  already written are never modified, so views handed out earlier stay correct. */
  private append(src: Uint8Array): void {
    if (src.length === 0) return;
    const need = this.len + src.length;
    if (need > this.buf.length) {
      let cap = Math.max(need, 2 * this.buf.length, 1024);
      if (this.fixed !== null) cap = Math.min(cap, this.fixed.fileBytes); // need ≤ fileBytes here
      const grown = new Uint8Array(cap);
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(src, this.len);
    this.len = need;
  }
}

// ---------------------------------------------------------------------------------------------
// writing

/**
 * Lays out a `.sparrow` file exactly as docs/format.md says (zero padding, all CRCs). Throws
 * `invalid_argument` when the inputs break a format rule (the reader would reject the result)
 * and `too_large` when they exceed a format limit.
 */
export function writeContainer(meta: SparrowMeta, sections: SectionInput[], opts: { deflateMeta?: boolean } = {}): Uint8Array {
  const bad = (msg: string): SparrowError => fail('invalid_argument', msg);
  if (!Array.isArray(sections)) throw bad('sections must be an array');
  const n = sections.length;
  if (n > MAX_SECTIONS) throw fail('too_large', `${n} sections is over the limit of ${MAX_SECTIONS}`);
  sections.forEach((s, i) => {
    if (!isObject(s) || !(s.payload instanceof Uint8Array)) throw bad(`section ${i}: payload must be a Uint8Array`);
    if (!Number.isInteger(s.codec) || CODEC_NAMES[s.codec] === undefined)
      throw bad(
        `section ${i}: codec ${show(s.codec)} is not 0 (raw), 1 (huffman), 2 (rle-huffman), 3 (rle-rows), 4 (rans) or 5 (rans-lanes)`,
      );
    if (!Number.isInteger(s.dtype) || s.dtype < 0) throw bad(`section ${i}: dtype ${show(s.dtype)} is not 0..5`);
    if (!Number.isInteger(s.decodedBytes) || s.decodedBytes < 0 || s.decodedBytes > U32_MAX)
      throw bad(`section ${i}: decodedBytes ${show(s.decodedBytes)} is not a u32`);
    const rule = sectionRuleError(s.codec, s.dtype, s.payload.length, s.decodedBytes);
    if (rule) throw bad(`section ${i}: ${rule}`);
  });

  let json: string | undefined;
  try {
    json = JSON.stringify(meta);
  } catch (e) {
    throw bad(`metadata cannot be serialized as JSON: ${(e as Error).message}`);
  }
  if (json === undefined) throw bad('metadata cannot be serialized as JSON');
  validateMeta(JSON.parse(json), sections, 'invalid_argument'); // check what a reader will see
  const jsonBytes = new TextEncoder().encode(json);
  if (jsonBytes.length > MAX_META_BYTES)
    throw fail('too_large', `metadata is ${jsonBytes.length} bytes, over the limit of ${MAX_META_BYTES} (64 MiB)`);
  const metaBytes = opts.deflateMeta ? deflateRaw(jsonBytes) : jsonBytes;
  if (metaBytes.length > MAX_META_BYTES)
    throw fail('too_large', `metadata is ${metaBytes.length} bytes deflated, over the limit of ${MAX_META_BYTES} (64 MiB)`);

  const metaOffset = HEADER_BYTES + SECTION_ENTRY_BYTES * n;
  const dataOffset = align16(metaOffset + metaBytes.length);
  const offsets: number[] = [];
  let end = dataOffset;
  for (const s of sections) {
    const off = align16(end);
    offsets.push(off);
    end = off + s.payload.length;
  }
  if (end > U32_MAX) throw fail('too_large', `the file would be ${end} bytes, over the format's limit of ${U32_MAX}`);

  const out = new Uint8Array(end); // zero-filled: all padding and reserved bytes are 0
  const v = dv(out);
  sections.forEach((s, i) => {
    const e = HEADER_BYTES + SECTION_ENTRY_BYTES * i; // table entry, layout above parseTableAndMeta
    v.setUint32(e, offsets[i], true);
    v.setUint32(e + 4, s.payload.length, true);
    v.setUint32(e + 8, s.decodedBytes, true);
    out[e + 12] = s.codec;
    out[e + 13] = s.dtype;
    v.setUint32(e + 16, crc32(s.payload), true);
    out.set(s.payload, offsets[i]);
  });
  out.set(metaBytes, metaOffset);
  // header, layout above parseFixedHeader
  out.set(MAGIC_BYTES, 0);
  v.setUint16(8, opts.deflateMeta ? VERSION_MAJOR_DEFLATE : VERSION_MAJOR, true);
  v.setUint16(10, VERSION_MINOR, true);
  v.setUint32(12, opts.deflateMeta ? FLAG_META_DEFLATE : 0, true);
  v.setUint32(16, HEADER_BYTES, true);
  v.setUint32(20, n, true);
  v.setUint32(24, HEADER_BYTES, true);
  v.setUint32(28, metaOffset, true);
  v.setUint32(32, metaBytes.length, true);
  v.setUint32(36, crc32(metaBytes), true);
  v.setUint32(40, dataOffset, true);
  v.setUint32(44, end, true);
  v.setUint32(48, crc32(out.subarray(HEADER_BYTES, metaOffset)), true);
  v.setUint32(60, crc32(out.subarray(0, 60)), true);
  return out;
}

/**
 * The same file with its metadata block deflated (version 2, FLAG_META_DEFLATE): sections, their
 * codecs and payloads unchanged, only moved. `bytes` is read and checked first (any version);
 * a file already deflated is rewritten the same way.
 */
export function deflateMetadata(bytes: Uint8Array, opts: ReadOptions = {}): Uint8Array {
  const { header, payload } = readContainer(bytes, opts);
  const stored = bytes.subarray(header.metaOffset, header.metaOffset + header.metaBytes);
  const raw = header.flags & FLAG_META_DEFLATE ? inflateRaw(stored, MAX_META_BYTES, 'corrupt_metadata') : stored;
  const meta = JSON.parse(new TextDecoder().decode(raw)) as SparrowMeta;
  const sections: SectionInput[] = header.sections.map((s, i) => ({
    payload: payload(i),
    codec: s.codec,
    dtype: s.dtype,
    decodedBytes: s.decodedBytes,
  }));
  return writeContainer(meta, sections, { deflateMeta: true });
}
