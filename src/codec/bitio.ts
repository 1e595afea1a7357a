// Bit I/O for the coded streams: bits are packed LSB-first (as Deflate): bit i of a
// stream is bit (i & 7) of byte (i >> 3). See docs/format.md "Bit streams".

import { SparrowError } from '../errors.js';

/** Growable byte buffer with LSB-first bit packing. */
export class BitWriter {
  private buf: Uint8Array;
  private len = 0; // whole bytes written
  private acc = 0; // pending bits, LSB-first, < 8 + 24 bits
  private nacc = 0; // number of pending bits

  constructor(capacity = 256) {
    this.buf = new Uint8Array(Math.max(16, capacity));
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + extra) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
  }

  /** Appends the low `n` bits of `value` (n ≤ 24), least significant first. */
  writeBits(value: number, n: number): void {
    this.acc |= (value & ((1 << n) - 1)) << this.nacc;
    this.nacc += n;
    if (this.nacc >= 8) {
      this.ensure(4);
      while (this.nacc >= 8) {
        this.buf[this.len++] = this.acc & 0xff;
        this.acc >>>= 8;
        this.nacc -= 8;
      }
    }
  }

  /** Pads with zero bits to the next byte boundary. */
  alignByte(): void {
    if (this.nacc > 0) this.writeBits(0, 8 - this.nacc);
  }

  writeByte(b: number): void {
    if (this.nacc !== 0) throw new SparrowError('internal', 'BitWriter.writeByte on an unaligned stream');
    this.ensure(1);
    this.buf[this.len++] = b & 0xff;
  }

  writeBytes(bytes: Uint8Array): void {
    if (this.nacc !== 0) throw new SparrowError('internal', 'BitWriter.writeBytes on an unaligned stream');
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  writeVarint(v: number): void {
    if (!(Number.isInteger(v) && v >= 0 && v < 2 ** 31)) throw new SparrowError('internal', `varint out of range: ${v}`);
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.writeByte(b);
    } while (v !== 0);
  }

  /** Number of bits written so far. */
  get bitLength(): number {
    return this.len * 8 + this.nacc;
  }

  /** The bytes written (flushes a partial byte with zero padding). */
  finish(): Uint8Array {
    this.alignByte();
    return this.buf.slice(0, this.len);
  }
}

/**
 * Bit-at-a-time reader over `bytes[start, end)`: the plain reference for the WASM
 * decoders. Reading past `end` yields zero bits and counts them in `bitPos`, so the
 * caller's end-of-stream check (docs/format.md) rejects it.
 */
export class BitReader {
  bitPos = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly start: number,
    private readonly end: number,
  ) {}

  readBit(): number {
    const byte = this.start + (this.bitPos >>> 3);
    const bit = byte < this.end ? (this.bytes[byte]! >>> (this.bitPos & 7)) & 1 : 0;
    this.bitPos++;
    return bit;
  }

  readBits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v |= this.readBit() << i;
    return v;
  }

  get bitsAvailable(): number {
    return (this.end - this.start) * 8;
  }
}

/** Reads a LEB128 varint at `pos` of `bytes[.., end)`; at most 5 bytes, value < 2^31. */
export function readVarint(bytes: Uint8Array, pos: number, end: number): { value: number; pos: number } {
  let v = 0;
  for (let i = 0; i < 5; i++) {
    if (pos >= end) throw new SparrowError('corrupt_stream', 'varint runs past the end of the stream');
    const b = bytes[pos++]!;
    v += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) {
      if (v >= 2 ** 31) throw new SparrowError('corrupt_stream', `varint value ${v} is over 2^31`);
      return { value: v, pos };
    }
  }
  throw new SparrowError('corrupt_stream', 'varint longer than 5 bytes');
}
