// NumPy .npy reader / writer (format versions 1.0, 2.0, 3.0; C order; little-endian).
// Plain TS (browser / Worker safe). Every failure is SparrowError('invalid_argument').
//
// Layout: "\x93NUMPY" | major u8 | minor u8 | header_len (u16 LE for 1.x, u32 LE for 2.x/3.x)
//         | header (latin-1 for 1.x/2.x, UTF-8 for 3.x): a Python dict literal such as
//           {'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }
//           padded with spaces and ending in '\n'
//         | data: prod(shape) elements, C order.

import { SparrowError } from '../errors.js';

/** The .npy dtypes read and written; 'float16' holds IEEE binary16 bit patterns in a Uint16Array (Sparrow's float16 tensors). */
export type NpyDtype = 'float32' | 'float64' | 'float16' | 'int64' | 'uint64' | 'int32' | 'uint32' | 'int16' | 'uint16' | 'int8' | 'uint8';
export type NpyTypedArray =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyTypedArray;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;
/** numpy >= 1.24 leaves room after the header to grow axis 0 in place. */
const GROWTH_AXIS_MAX_DIGITS = 21;

const DESCR_TO_DTYPE: Readonly<Record<string, NpyDtype>> = {
  '<f4': 'float32',
  '<f8': 'float64',
  '<f2': 'float16',
  '<i8': 'int64',
  '<u8': 'uint64',
  '<i4': 'int32',
  '<u4': 'uint32',
  '<i2': 'int16',
  '<u2': 'uint16',
  '|i1': 'int8',
  '<i1': 'int8',
  '>i1': 'int8',
  '=i1': 'int8',
  '|u1': 'uint8',
  '<u1': 'uint8',
  '>u1': 'uint8',
  '=u1': 'uint8',
};
const DTYPE_TO_DESCR: Readonly<Record<NpyDtype, string>> = {
  float32: '<f4',
  float64: '<f8',
  float16: '<f2',
  int64: '<i8',
  uint64: '<u8',
  int32: '<i4',
  uint32: '<u4',
  int16: '<i2',
  uint16: '<u2',
  int8: '|i1',
  uint8: '|u1',
};
/** Typed array and element size of each dtype. */
const ARRAY: Readonly<Record<NpyDtype, { new (n: number): NpyTypedArray; BYTES_PER_ELEMENT: number }>> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
};

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fail(message: string): never {
  throw new SparrowError('invalid_argument', `invalid .npy: ${message}`);
}

// ---------------------------------------------------------------------------------------
// Header literal parser: the subset of Python literals numpy headers use (dicts, tuples,
// lists, strings, ints, True/False/None), with depth and size limits.

type PyValue = string | number | boolean | null | PyValue[] | { tuple: PyValue[] } | Map<string, PyValue>;

const MAX_DEPTH = 8;

class LiteralParser {
  private pos = 0;
  constructor(private readonly s: string) {}

  parseAll(): PyValue {
    const v = this.value(0);
    this.ws();
    if (this.pos !== this.s.length) fail(`unexpected text in header at offset ${this.pos}`);
    return v;
  }

  private ws(): void {
    while (this.pos < this.s.length && ' \t\r\n'.includes(this.s[this.pos]!)) this.pos++;
  }

  private value(depth: number): PyValue {
    if (depth > MAX_DEPTH) fail('header nests too deeply');
    this.ws();
    const c = this.s[this.pos];
    if (c === undefined) fail('header ends unexpectedly');
    if (c === '{') return this.dict(depth);
    if (c === '(') return { tuple: this.seq(depth, ')') };
    if (c === '[') return this.seq(depth, ']');
    if (c === "'" || c === '"') return this.str();
    if (c === '-' || (c >= '0' && c <= '9')) return this.int();
    for (const [word, v] of [
      ['True', true],
      ['False', false],
      ['None', null],
    ] as const) {
      if (this.s.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    fail(`unexpected character ${JSON.stringify(c)} in header at offset ${this.pos}`);
  }

  private dict(depth: number): Map<string, PyValue> {
    this.pos++; // {
    const m = new Map<string, PyValue>();
    for (;;) {
      this.ws();
      if (this.s[this.pos] === '}') {
        this.pos++;
        return m;
      }
      const k = this.value(depth + 1);
      if (typeof k !== 'string') fail('header dict keys must be strings');
      this.ws();
      if (this.s[this.pos] !== ':') fail(`expected ':' after key '${k}' in header`);
      this.pos++;
      if (m.has(k)) fail(`duplicate key '${k}' in header`);
      m.set(k, this.value(depth + 1));
      this.ws();
      if (this.s[this.pos] === ',') {
        this.pos++;
        continue;
      }
      if (this.s[this.pos] === '}') {
        this.pos++;
        return m;
      }
      fail(`expected ',' or '}' in header at offset ${this.pos}`);
    }
  }

  private seq(depth: number, close: string): PyValue[] {
    this.pos++; // ( or [
    const items: PyValue[] = [];
    for (;;) {
      this.ws();
      if (this.s[this.pos] === close) {
        this.pos++;
        return items;
      }
      items.push(this.value(depth + 1));
      this.ws();
      if (this.s[this.pos] === ',') {
        this.pos++;
        continue;
      }
      if (this.s[this.pos] === close) {
        this.pos++;
        return items;
      }
      fail(`expected ',' or '${close}' in header at offset ${this.pos}`);
    }
  }

  private str(): string {
    const q = this.s[this.pos]!;
    const end = this.s.indexOf(q, this.pos + 1);
    if (end < 0) fail('unterminated string in header');
    const body = this.s.slice(this.pos + 1, end);
    if (body.includes('\\')) fail('escape sequences in header strings are not supported');
    this.pos = end + 1;
    return body;
  }

  private int(): number {
    const m = /^-?\d+L?/.exec(this.s.slice(this.pos, this.pos + 40));
    if (!m) fail(`bad number in header at offset ${this.pos}`);
    const text = m[0].replace(/L$/, '');
    if (text.replace('-', '').length > 16) fail(`number ${text} in header is too large`);
    const v = Number(text);
    if (!Number.isSafeInteger(v)) fail(`number ${text} in header is too large`);
    this.pos += m[0].length;
    return v;
  }
}

function decodeLatin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

// ---------------------------------------------------------------------------------------

function copyLittleEndian(dtype: NpyDtype, bytes: Uint8Array, n: number): NpyTypedArray {
  const out = new ARRAY[dtype](n);
  const dst = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  dst.set(bytes); // byte copy into a fresh, aligned buffer
  const size = ARRAY[dtype].BYTES_PER_ELEMENT;
  if (!HOST_IS_LITTLE_ENDIAN && size > 1) {
    for (let i = 0; i < dst.length; i += size) dst.subarray(i, i + size).reverse();
  }
  return out;
}

/**
 * Parses a .npy file. Accepts format versions 1.0, 2.0 and 3.0, descr '<f4', '<f8', '<f2'
 * (float16: bit patterns in a Uint16Array), '<i8', '<u8', '<i4', '<u4', '<i2', '<u2', '|i1',
 * '|u1', C order only. The data must be exactly prod(shape) * itemsize bytes.
 * Any malformed, hostile or unsupported input throws SparrowError('invalid_argument').
 */
export function parseNpy(bytes: Uint8Array): NpyArray {
  if (!(bytes instanceof Uint8Array)) fail('input must be a Uint8Array');
  if (bytes.length < 10) fail(`file is ${bytes.length} bytes, shorter than the smallest .npy preamble`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) fail('bad magic (expected "\\x93NUMPY")');
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (!((major === 1 || major === 2 || major === 3) && minor === 0)) {
    fail(`unsupported format version ${major}.${minor} (this reader knows 1.0, 2.0 and 3.0)`);
  }
  let headerStart: number;
  let headerLen: number;
  if (major === 1) {
    headerLen = bytes[8]! | (bytes[9]! << 8);
    headerStart = 10;
  } else {
    if (bytes.length < 12) fail(`file is ${bytes.length} bytes, shorter than a version ${major}.0 preamble`);
    headerLen = (bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16) | (bytes[11]! << 24)) >>> 0;
    headerStart = 12;
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) {
    fail(`header length ${headerLen} runs past the end of the ${bytes.length}-byte file`);
  }
  const headerBytes = bytes.subarray(headerStart, dataStart);
  let header: string;
  if (major === 3) {
    try {
      header = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      fail('header is not valid UTF-8');
    }
  } else {
    header = decodeLatin1(headerBytes);
  }

  const dict = new LiteralParser(header).parseAll();
  if (!(dict instanceof Map)) fail('header is not a dict');
  const keys = [...dict.keys()].sort();
  if (keys.join(',') !== 'descr,fortran_order,shape') {
    fail(`header keys must be exactly descr, fortran_order, shape; got ${keys.join(', ') || 'none'}`);
  }
  const descr = dict.get('descr');
  if (typeof descr !== 'string') fail('descr is not a string (structured dtypes are not supported)');
  const dtype = DESCR_TO_DTYPE[descr];
  if (dtype === undefined) {
    fail(
      `unsupported dtype descr '${descr}' (supported: <f4, <f8, <f2, <i8, <u8, <i4, <u4, <i2, <u2, |i1, |u1; big-endian data is not supported)`,
    );
  }
  const fortran = dict.get('fortran_order');
  if (typeof fortran !== 'boolean') fail('fortran_order is not True or False');
  if (fortran) {
    throw new SparrowError(
      'invalid_argument',
      'invalid .npy: fortran_order is True (column-major); Sparrow reads C-order arrays only. ' +
        'Save with numpy.ascontiguousarray(a) first.',
    );
  }
  const shapeValue = dict.get('shape');
  if (shapeValue === null || typeof shapeValue !== 'object' || !('tuple' in shapeValue)) fail('shape is not a tuple');
  const shape: number[] = [];
  for (const d of shapeValue.tuple) {
    if (typeof d !== 'number' || d < 0) fail(`shape entry ${JSON.stringify(d)} is not a non-negative integer`);
    shape.push(d);
  }

  const itemSize = ARRAY[dtype].BYTES_PER_ELEMENT;
  const available = bytes.length - dataStart;
  const maxElements = Math.floor(available / itemSize);
  let count = 1;
  if (shape.includes(0)) count = 0;
  else {
    for (const d of shape) {
      count *= d;
      if (count > maxElements) {
        fail(`shape (${shape.join(', ')}) needs more data than the ${available} bytes after the header`);
      }
    }
  }
  if (count * itemSize !== available) {
    fail(`shape (${shape.join(', ')}) of ${descr} needs ${count * itemSize} data bytes but the file has ${available}`);
  }
  return { dtype, shape, data: copyLittleEndian(dtype, bytes.subarray(dataStart), count) };
}

function dtypeOf(data: unknown): NpyDtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof BigUint64Array) return 'uint64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array && !(data instanceof Uint8ClampedArray)) return 'uint8';
  throw new SparrowError(
    'invalid_argument',
    'writeNpy: data must be a Float32Array, Float64Array, BigInt64Array, BigUint64Array, Int32Array, Uint32Array, Int16Array, Uint16Array, Int8Array or Uint8Array',
  );
}

/** The Python repr of a shape tuple: (), (5,), (2, 3). */
function shapeRepr(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/**
 * Writes a C-order .npy file byte-for-byte as numpy (>= 1.24) does: format 1.0 (2.0 if the
 * header would not fit a u16), keys sorted, numpy's spare growth space, then spaces and a
 * final '\n' so the data starts at a multiple of 64 bytes. The dtype follows the typed array;
 * `dtype` 'float16' writes a Uint16Array of float16 bits as '<f2' (a Uint16Array is 'uint16'
 * otherwise), and any other `dtype` must match the array.
 */
export function writeNpy(data: NpyTypedArray, shape: number[], dtype?: NpyDtype): Uint8Array {
  const own = dtypeOf(data);
  if (dtype !== undefined && dtype !== own && !(dtype === 'float16' && own === 'uint16')) {
    throw new SparrowError('invalid_argument', `writeNpy: dtype ${String(dtype)} does not match a ${data.constructor.name}`);
  }
  dtype ??= own;
  if (!Array.isArray(shape)) throw new SparrowError('invalid_argument', 'writeNpy: shape must be an array');
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new SparrowError('invalid_argument', `writeNpy: invalid dimension ${String(d)} in shape [${shape.join(', ')}]`);
    }
    n *= d;
  }
  if (n !== data.length) {
    throw new SparrowError('invalid_argument', `writeNpy: shape [${shape.join(', ')}] holds ${n} elements but data has ${data.length}`);
  }

  let dict = `{'descr': '${DTYPE_TO_DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  if (shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));

  let major = 1;
  let prefixLen = 10;
  const hlen = dict.length + 1; // + '\n'
  let padLen = ALIGN - ((prefixLen + hlen) % ALIGN); // numpy pads a full 64 when already aligned
  if (hlen + padLen > 0xffff) {
    major = 2;
    prefixLen = 12;
    padLen = ALIGN - ((prefixLen + hlen) % ALIGN);
  }
  const headerLen = hlen + padLen;
  const headerText = dict + ' '.repeat(padLen) + '\n';

  const dataBytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(prefixLen + headerLen + dataBytes.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  out[8] = headerLen & 0xff;
  out[9] = (headerLen >>> 8) & 0xff;
  if (major === 2) {
    out[10] = (headerLen >>> 16) & 0xff;
    out[11] = (headerLen >>> 24) & 0xff;
  }
  for (let i = 0; i < headerText.length; i++) out[prefixLen + i] = headerText.charCodeAt(i);
  const dataStart = prefixLen + headerLen;
  out.set(dataBytes, dataStart);
  const size = ARRAY[dtype].BYTES_PER_ELEMENT;
  if (!HOST_IS_LITTLE_ENDIAN && size > 1) {
    for (let i = dataStart; i < out.length; i += size) out.subarray(i, i + size).reverse();
  }
  return out;
}
