// The .sparrow container (docs/format.md): the byte layout pinned field by field, round trips,
// every single-bit flip / truncation detected, hostile headers and metadata rejected with the
// right code, and the streaming reader.
import { describe, it, expect } from 'vitest';
import {
  align16,
  Codec,
  ContainerStreamReader,
  DType,
  DTYPE_BY_NAME,
  DTYPE_NAMES,
  dtypeSize,
  HEADER_BYTES,
  MAGIC,
  parseHeaderPrefix,
  readContainer,
  SECTION_ENTRY_BYTES,
  VERSION_MAJOR,
  VERSION_MINOR,
  writeContainer,
  type SectionInput,
  type SparrowMeta,
  type TensorMeta,
} from '../src/format/container.js';
import { crc32 } from '../src/format/crc32.js';
import { SparrowError, type SparrowErrorCode } from '../src/errors.js';

// ---------------------------------------------------------------------------------------------
// helpers

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}
const randomBytes = (next: () => number, n: number): Uint8Array => Uint8Array.from({ length: n }, () => next() & 0xff);
const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
const u32 = (b: Uint8Array, off: number): number => dv(b).getUint32(off, true);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The SparrowError `fn` throws (fails the test if it throws nothing or something else). */
function errorOf(fn: () => unknown): SparrowError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof SparrowError)) throw new Error(`expected a SparrowError, got ${String(e)}`);
    return e;
  }
  throw new Error('expected a SparrowError, nothing was thrown');
}
const codeOf = (fn: () => unknown): SparrowErrorCode => errorOf(fn).code;

interface Sec {
  name: string;
  shape: number[];
  codec: Codec;
  dtype: DType;
  payload: Uint8Array;
  decodedBytes: number;
}

/** A raw section holding `shape` elements of `dtype` (random bytes). */
function raw(name: string, dtype: DType, shape: number[], next = rng(name.length + 1)): Sec {
  const n = shape.reduce((a, b) => a * b, 1) * dtypeSize(dtype);
  return { name, shape, codec: Codec.Raw, dtype, payload: randomBytes(next, n), decodedBytes: n };
}
/** A coded int8 section: `stored` arbitrary bytes said to decode to `shape` (the container does not decode). */
function coded(name: string, codec: Codec, shape: number[], stored: number, next = rng(stored + 7)): Sec {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, shape, codec, dtype: DType.Int8, payload: randomBytes(next, stored), decodedBytes: n };
}

function inputs(secs: Sec[], extra: Record<string, unknown> = {}): { meta: SparrowMeta; sections: SectionInput[] } {
  const tensors: TensorMeta[] = secs.map((s, i) => ({ name: s.name, shape: s.shape, dtype: DTYPE_NAMES[s.dtype], section: i }));
  const sections = secs.map(({ codec, dtype, payload, decodedBytes }) => ({ codec, dtype, payload, decodedBytes }));
  return { meta: { producer: 'test', tensors, graph: null, preprocessing: null, ...extra }, sections };
}
const build = (secs: Sec[], extra: Record<string, unknown> = {}): Uint8Array => {
  const { meta, sections } = inputs(secs, extra);
  return writeContainer(meta, sections);
};

/**
 * An independent, spec-literal writer that does not validate anything: used to build files with
 * arbitrary (bad) metadata or table values, and as a second implementation to compare against.
 */
function buildRaw(meta: string | Uint8Array, secs: Array<Pick<Sec, 'codec' | 'dtype' | 'payload' | 'decodedBytes'>>): Uint8Array {
  const m = typeof meta === 'string' ? utf8(meta) : meta;
  const metaOffset = 64 + 32 * secs.length;
  const dataOffset = align16(metaOffset + m.length);
  const offsets: number[] = [];
  let end = dataOffset;
  for (const s of secs) {
    offsets.push(align16(end));
    end = offsets[offsets.length - 1] + s.payload.length;
  }
  const b = new Uint8Array(end);
  const v = dv(b);
  secs.forEach((s, i) => {
    const e = 64 + 32 * i;
    v.setUint32(e, offsets[i], true);
    v.setUint32(e + 4, s.payload.length, true);
    v.setUint32(e + 8, s.decodedBytes, true);
    b[e + 12] = s.codec;
    b[e + 13] = s.dtype;
    v.setUint32(e + 16, crc32(s.payload), true);
    b.set(s.payload, offsets[i]);
  });
  b.set(m, metaOffset);
  b.set([0x89, 0x53, 0x50, 0x52, 0x57, 0x0d, 0x0a, 0x1a], 0);
  v.setUint16(8, 1, true);
  v.setUint16(10, 0, true);
  v.setUint32(16, 64, true);
  v.setUint32(20, secs.length, true);
  v.setUint32(24, 64, true);
  v.setUint32(28, metaOffset, true);
  v.setUint32(32, m.length, true);
  v.setUint32(36, crc32(m), true);
  v.setUint32(40, dataOffset, true);
  v.setUint32(44, end, true);
  return resign(b);
}

/** Recomputes table, metadata and header CRCs from the (possibly mutated) header fields, where in range. */
function resign(b: Uint8Array): Uint8Array {
  const v = dv(b);
  const tableEnd = 64 + 32 * v.getUint32(20, true);
  if (tableEnd <= b.length) v.setUint32(48, crc32(b.subarray(64, tableEnd)), true);
  const metaOffset = v.getUint32(28, true),
    metaEnd = metaOffset + v.getUint32(32, true);
  if (metaEnd <= b.length) v.setUint32(36, crc32(b.subarray(metaOffset, metaEnd)), true);
  v.setUint32(60, crc32(b.subarray(0, 60)), true);
  return b;
}

/** A copy of `b` mutated by `fn`, re-signed unless `sign` is false. */
function mutate(b: Uint8Array, fn: (v: DataView, b: Uint8Array) => void, sign = true): Uint8Array {
  const c = b.slice();
  fn(dv(c), c);
  return sign ? resign(c) : c;
}

/** Feeds `b` to a stream reader in chunks of the sizes `sizes()` yields; returns the emitted sections. */
function stream(b: Uint8Array, sizes: () => number, reader = new ContainerStreamReader()) {
  const out: Array<{ index: number; payload: Uint8Array; at: number }> = [];
  for (let pos = 0; pos < b.length;) {
    const n = Math.max(1, sizes());
    const got = reader.push(b.subarray(pos, pos + n));
    pos = Math.min(b.length, pos + n);
    for (const s of got) out.push({ index: s.index, payload: s.payload, at: pos });
  }
  reader.end();
  return { out, reader };
}

// The small file of the bit-flip tests: 3 sections, one odd-length, padding after the
// metadata and after sections 0 and 1.
const SMALL = [raw('conv1.weight', DType.Int8, [37]), coded('fc.weight', Codec.Huffman, [8, 8], 20), raw('fc.bias', DType.Float32, [3])];

// ---------------------------------------------------------------------------------------------

describe('constants', () => {
  it('match the spec', () => {
    expect(Array.from(MAGIC)).toEqual([0x89, 0x53, 0x50, 0x52, 0x57, 0x0d, 0x0a, 0x1a]);
    expect(new TextDecoder('latin1').decode(MAGIC)).toBe('\x89SPRW\r\n\x1a');
    expect([VERSION_MAJOR, VERSION_MINOR, HEADER_BYTES, SECTION_ENTRY_BYTES]).toEqual([1, 0, 64, 32]);
    expect([Codec.Raw, Codec.Huffman, Codec.RleHuffman]).toEqual([0, 1, 2]);
    expect(DTYPE_NAMES).toEqual(['int8', 'uint8', 'int32', 'float32', 'int64', 'uint16']);
    expect(DTYPE_NAMES.map((n) => DTYPE_BY_NAME[n])).toEqual([0, 1, 2, 3, 4, 5]);
    expect([DType.Int8, DType.Uint8, DType.Int32, DType.Float32, DType.Int64, DType.Uint16].map(dtypeSize)).toEqual([1, 1, 4, 4, 8, 2]);
    expect(codeOf(() => dtypeSize(6 as DType))).toBe('invalid_argument');
    expect([0, 1, 15, 16, 17, 31, 32, 0xfffffff0, 0xfffffff1].map(align16)).toEqual([0, 16, 16, 16, 32, 32, 32, 0xfffffff0, 0x100000000]);
  });
});

describe('layout (pins docs/format.md)', () => {
  const secs = [
    raw('conv1.weight', DType.Int8, [5]), // odd length
    coded('conv2.weight', Codec.RleHuffman, [3, 4], 7),
    raw('conv2.bias', DType.Float32, [2, 2]),
    raw('empty', DType.Uint16, [0]), // zero-length, last
  ];
  const { meta, sections } = inputs(secs);
  const b = writeContainer(meta, sections);

  it('puts every header field at its byte offset', () => {
    const v = dv(b);
    const metaOffset = 64 + 32 * 4;
    const metaBytes = v.getUint32(32, true);
    const dataOffset = align16(metaOffset + metaBytes);
    expect(Array.from(b.subarray(0, 8))).toEqual(Array.from(MAGIC));
    expect(v.getUint16(8, true)).toBe(1); // version_major
    expect(v.getUint16(10, true)).toBe(0); // version_minor
    expect(v.getUint32(12, true)).toBe(0); // flags
    expect(v.getUint32(16, true)).toBe(64); // header_bytes
    expect(v.getUint32(20, true)).toBe(4); // section_count
    expect(v.getUint32(24, true)).toBe(64); // table_offset
    expect(v.getUint32(28, true)).toBe(192); // meta_offset
    expect(JSON.parse(new TextDecoder().decode(b.subarray(metaOffset, metaOffset + metaBytes)))).toEqual(meta); // meta_bytes
    expect(v.getUint32(36, true)).toBe(crc32(b.subarray(metaOffset, metaOffset + metaBytes))); // meta_crc32
    expect(v.getUint32(40, true)).toBe(dataOffset); // data_offset
    expect(dataOffset % 16).toBe(0);
    expect(v.getUint32(44, true)).toBe(b.length); // file_bytes
    expect(v.getUint32(48, true)).toBe(crc32(b.subarray(64, 192))); // table_crc32
    expect(Array.from(b.subarray(52, 60))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]); // reserved
    expect(v.getUint32(60, true)).toBe(crc32(b.subarray(0, 60))); // header_crc32
  });

  it('lays out the table entries at 64 + 32i and the sections 16-aligned, back to back', () => {
    const v = dv(b);
    const dataOffset = v.getUint32(40, true);
    const offsets = [dataOffset, align16(dataOffset + 5), 0, 0];
    offsets[2] = align16(offsets[1] + 7);
    offsets[3] = align16(offsets[2] + 16);
    const want = [
      [offsets[0], 5, 5, 0, 0],
      [offsets[1], 7, 12, 2, 0],
      [offsets[2], 16, 16, 0, 3],
      [offsets[3], 0, 0, 0, 5],
    ];
    secs.forEach((s, i) => {
      const e = 64 + 32 * i;
      expect([v.getUint32(e, true), v.getUint32(e + 4, true), v.getUint32(e + 8, true), b[e + 12], b[e + 13]]).toEqual(want[i]);
      expect(v.getUint16(e + 14, true)).toBe(0);
      expect(v.getUint32(e + 16, true)).toBe(crc32(s.payload));
      expect(Array.from(b.subarray(e + 20, e + 32))).toEqual(new Array(12).fill(0));
      expect(offsets[i] % 16).toBe(0);
      expect(b.subarray(offsets[i], offsets[i] + s.payload.length)).toEqual(s.payload);
    });
    // total size: end of the last section, no trailing padding
    expect(b.length).toBe(offsets[3] + 0);
  });

  it('has zero bytes everywhere outside header, table, metadata and payloads', () => {
    const used = new Uint8Array(b.length);
    const mark = (from: number, to: number): void => {
      used.fill(1, from, to);
    };
    mark(0, 64 + 32 * 4);
    mark(192, 192 + u32(b, 32));
    secs.forEach((s, i) => mark(u32(b, 64 + 32 * i), u32(b, 64 + 32 * i) + s.payload.length));
    let padding = 0;
    b.forEach((x, k) => {
      if (!used[k]) {
        padding++;
        expect(x).toBe(0);
      }
    });
    expect(padding).toBeGreaterThan(0);
  });

  it('equals an independent spec-literal writer byte for byte', () => {
    expect(buildRaw(JSON.stringify(meta), secs)).toEqual(b);
    const small = inputs(SMALL);
    expect(buildRaw(JSON.stringify(small.meta), SMALL)).toEqual(writeContainer(small.meta, small.sections));
  });

  it('reads the docs example metadata', () => {
    const doc = {
      producer: 'sparrow 0.1.0',
      tensors: [{ name: 'conv1.weight', shape: [16, 3, 3, 3], dtype: 'int8', section: 0 }],
      graph: null,
      preprocessing: null,
    };
    const r = readContainer(buildRaw(JSON.stringify(doc), [raw('x', DType.Int8, [16 * 27])]));
    expect(r.header.meta).toEqual(doc);
  });
});

describe('round trip', () => {
  function randomSecs(next: () => number, count: number): Sec[] {
    return Array.from({ length: count }, (_, i) => {
      const name = `t${i}.${next() % 1000}`;
      const kind = next() % 3;
      if (kind === 0) {
        const dtype = (next() % 6) as DType;
        const n = Math.floor((next() % 1001) / dtypeSize(dtype));
        const shape = n % 4 === 0 && n > 0 && next() % 2 ? [4, n / 4] : [n];
        return raw(name, dtype, shape, next);
      }
      return coded(name, kind as Codec, [next() % 1001], next() % 1001, next);
    });
  }

  it('reads back what it wrote (random counts and sizes 0..1000, empty sections)', () => {
    const next = rng(42);
    for (let t = 0; t < 150; t++) {
      const secs = randomSecs(next, t < 5 ? t : next() % 13);
      const { meta, sections } = inputs(secs, { quant: { note: 'x' } });
      const b = writeContainer(meta, sections);
      const { header, payload } = readContainer(b);
      expect(header.sectionCount).toBe(secs.length);
      expect(header.fileBytes).toBe(b.length);
      expect(header.metaOffset).toBe(64 + 32 * secs.length);
      expect(header.dataOffset).toBe(align16(header.metaOffset + header.metaBytes));
      expect(header.meta).toEqual(meta);
      secs.forEach((s, i) => {
        const info = header.sections[i];
        expect(info).toEqual({
          index: i,
          offset: info.offset,
          storedBytes: s.payload.length,
          decodedBytes: s.decodedBytes,
          codec: s.codec,
          dtype: s.dtype,
          crc32: crc32(s.payload),
        });
        expect(info.offset % 16).toBe(0);
        const p = payload(i);
        expect(p).toEqual(s.payload);
        expect(p.buffer).toBe(b.buffer); // a view, no copy
      });
    }
  });

  it('handles zero sections: file ends at data_offset', () => {
    const b = build([]);
    const { header } = readContainer(b);
    expect(header.sectionCount).toBe(0);
    expect(header.sections).toEqual([]);
    expect(header.fileBytes).toBe(header.dataOffset);
    expect(b.length).toBe(align16(64 + header.metaBytes));
  });

  it('reads from an unaligned view of a larger buffer', () => {
    const b = build(SMALL);
    const big = new Uint8Array(b.length + 10);
    big.set(b, 3);
    const r = readContainer(big.subarray(3, 3 + b.length));
    expect(r.payload(2)).toEqual(SMALL[2].payload);
  });

  it('accepts any minor version and ignores unknown fields', () => {
    const b = mutate(build(SMALL, { future: [1, 2, 3] }), (v) => v.setUint16(10, 7, true));
    const r = readContainer(b);
    expect(r.header.versionMinor).toBe(7);
    expect(r.header.meta.future).toEqual([1, 2, 3]);
  });

  it('payload(i) rejects indexes out of range', () => {
    const r = readContainer(build(SMALL));
    for (const i of [-1, 3, 1.5, NaN]) expect(codeOf(() => r.payload(i))).toBe('invalid_argument');
  });
});

describe('every single-bit change and every truncation is detected', () => {
  const b = build(SMALL);
  const metaEnd = u32(b, 28) + u32(b, 32),
    dataOffset = u32(b, 40);
  const secEnd = (i: number): number => u32(b, 64 + 32 * i) + u32(b, 64 + 32 * i + 4);
  const secStart = (i: number): number => u32(b, 64 + 32 * i);
  /** The code a flip at byte k must produce. */
  const expected = (k: number): SparrowErrorCode => {
    if (k < 8) return 'bad_magic';
    if (k < 10) return 'unsupported_version';
    if (k < metaEnd) return 'checksum_mismatch'; // header, table, metadata: CRCs
    const padding = (k >= metaEnd && k < dataOffset) || [0, 1].some((i) => k >= secEnd(i) && k < secStart(i + 1));
    return padding ? 'corrupt_header' : 'checksum_mismatch';
  };

  it('the test file is small and has padding everywhere', () => {
    expect(b.length).toBeGreaterThanOrEqual(300);
    expect(b.length).toBeLessThanOrEqual(600);
    expect(dataOffset).toBeGreaterThan(metaEnd);
    expect(secStart(1)).toBeGreaterThan(secEnd(0));
  });

  it('readContainer rejects each of the 8·n flips with the code of the region hit', () => {
    for (let k = 0; k < b.length; k++) {
      for (let bit = 0; bit < 8; bit++) {
        const c = b.slice();
        c[k] ^= 1 << bit;
        const code = codeOf(() => readContainer(c));
        if (code !== expected(k)) expect(`byte ${k} bit ${bit}: ${code}`).toBe(`byte ${k} bit ${bit}: ${expected(k)}`);
      }
    }
  });

  it('the stream reader rejects each flip with the same code', () => {
    for (let k = 0; k < b.length; k++) {
      for (let bit = 0; bit < 8; bit++) {
        const c = b.slice();
        c[k] ^= 1 << bit;
        const code = codeOf(() => stream(c, () => 64));
        if (code !== expected(k)) expect(`byte ${k} bit ${bit}: ${code}`).toBe(`byte ${k} bit ${bit}: ${expected(k)}`);
      }
    }
  });

  it('every truncation is "truncated" (read, prefix-parse + end, stream)', () => {
    for (let n = 0; n < b.length; n++) {
      const t = b.subarray(0, n);
      expect(codeOf(() => readContainer(t))).toBe('truncated');
      expect(codeOf(() => stream(t, () => 7))).toBe('truncated');
      const r = parseHeaderPrefix(t);
      expect('need' in r && r.need > n).toBe(n < dataOffset);
    }
  });

  it('one extra byte is rejected', () => {
    for (const x of [0, 1, 0xff]) {
      const c = new Uint8Array(b.length + 1);
      c.set(b);
      c[b.length] = x;
      expect(codeOf(() => readContainer(c))).toBe('corrupt_header');
      expect(codeOf(() => stream(c, () => 7))).toBe('corrupt_header');
      expect(codeOf(() => parseHeaderPrefix(c))).toBe('corrupt_header');
    }
  });
});

describe('hostile headers and tables (CRCs re-signed so the deeper check is reached)', () => {
  const b = build(SMALL);
  const T = (i: number): number => 64 + 32 * i; // table entry i
  const read = (c: Uint8Array): SparrowErrorCode => codeOf(() => readContainer(c));

  it('rejects non-.sparrow input with bad_magic, before anything else', () => {
    expect(read(utf8('{"tensors": []}'))).toBe('bad_magic');
    expect(read(new Uint8Array(1000))).toBe('bad_magic');
    expect(read(Uint8Array.of(0x89, 0x53, 0x51))).toBe('bad_magic');
    // text-mode conversion \r\n -> \n shifts everything
    const mangled = new Uint8Array(b.length - 1);
    mangled.set(b.subarray(0, 5));
    mangled.set(b.subarray(6), 5);
    const e = errorOf(() => readContainer(mangled));
    expect(e.code).toBe('bad_magic');
    expect(e.message).toMatch(/89 53 50 52 57 0d 0a 1a/);
  });

  it('checks the major version before the header CRC, the CRC before the fields', () => {
    // (major 2 = version 1 plus the deflated-metadata flag: test/format.deflate.test.ts)
    expect(read(mutate(b, (v) => v.setUint16(8, 3, true), false))).toBe('unsupported_version');
    expect(read(mutate(b, (v) => v.setUint16(8, 0, true), false))).toBe('unsupported_version');
    expect(errorOf(() => readContainer(mutate(b, (v) => v.setUint16(8, 3, true)))).message).toMatch(/version 3/);
    expect(read(mutate(b, (v) => v.setUint32(12, 1, true), false))).toBe('checksum_mismatch');
    expect(errorOf(() => readContainer(mutate(b, (v) => v.setUint32(60, 0, true), false))).message).toMatch(
      /header CRC-32 mismatch: stored 0x00000000, computed 0x/,
    );
  });

  it('rejects bad fixed header fields', () => {
    expect(read(mutate(b, (v) => v.setUint32(12, 0x80000000, true)))).toBe('corrupt_header'); // flags
    expect(read(mutate(b, (v) => v.setUint32(16, 65, true)))).toBe('corrupt_header'); // header_bytes
    expect(read(mutate(b, (v) => v.setUint32(24, 0, true)))).toBe('corrupt_header'); // table_offset
    expect(read(mutate(b, (v) => v.setUint32(28, u32(b, 28) + 32, true)))).toBe('corrupt_header'); // meta_offset
    expect(read(mutate(b, (v) => v.setUint32(40, u32(b, 40) + 16, true)))).toBe('corrupt_header'); // data_offset
    expect(read(mutate(b, (v) => v.setUint32(40, u32(b, 40) - 16, true)))).toBe('corrupt_header');
    for (let k = 52; k < 60; k++)
      expect(
        read(
          mutate(b, (_, c) => {
            c[k] = 1;
          }),
        ),
      ).toBe('corrupt_header'); // reserved
    expect(read(mutate(b, (v) => v.setUint32(44, u32(b, 40) - 1, true)))).toBe('corrupt_header'); // file_bytes < data_offset
    const e = errorOf(() => readContainer(mutate(b, (v) => v.setUint32(28, 999, true))));
    expect(e.message).toMatch(/meta_offset is 999, expected 160/);
  });

  it('rejects huge counts and sizes with too_large, or truncated when within limits', () => {
    expect(read(mutate(b, (v) => v.setUint32(20, 0xffffffff, true)))).toBe('too_large');
    expect(read(mutate(b, (v) => v.setUint32(20, 65537, true)))).toBe('too_large');
    // 65536 sections is allowed, and consistent offsets then point far past the end
    const many = mutate(b, (v) => {
      const metaOffset = 64 + 32 * 65536,
        dataOffset = align16(metaOffset + u32(b, 32));
      v.setUint32(20, 65536, true);
      v.setUint32(28, metaOffset, true);
      v.setUint32(40, dataOffset, true);
      v.setUint32(44, dataOffset, true);
    });
    expect(read(many)).toBe('truncated');
    expect(read(mutate(b, (v) => v.setUint32(32, 64 * 1024 * 1024 + 1, true)))).toBe('too_large'); // meta_bytes
    // meta_bytes pointing past the end, with the dependent fields made consistent
    const pastEnd = mutate(b, (v) => {
      v.setUint32(32, 1_000_000, true);
      v.setUint32(40, align16(u32(b, 28) + 1_000_000), true);
      v.setUint32(44, align16(u32(b, 28) + 1_000_000), true);
    });
    expect(read(pastEnd)).toBe('truncated');
    // ... and without: data_offset no longer matches
    expect(read(mutate(b, (v) => v.setUint32(32, 1_000_000, true)))).toBe('corrupt_header');
    expect(read(mutate(b, (v) => v.setUint32(44, 0xffffffff, true)))).toBe('too_large'); // > 1 GiB default
    expect(codeOf(() => readContainer(b, { maxBytes: b.length - 1 }))).toBe('too_large');
    expect(readContainer(b, { maxBytes: b.length }).header.fileBytes).toBe(b.length);
  });

  it('rejects a broken offset chain: overlaps, gaps, sections past the end', () => {
    const off1 = u32(b, T(1) + 0);
    expect(read(mutate(b, (v) => v.setUint32(T(1), u32(b, T(0)), true)))).toBe('corrupt_header'); // overlaps section 0
    expect(read(mutate(b, (v) => v.setUint32(T(1), off1 + 16, true)))).toBe('corrupt_header'); // gap
    expect(read(mutate(b, (v) => v.setUint32(T(1), off1 - 16, true)))).toBe('corrupt_header');
    expect(read(mutate(b, (v) => v.setUint32(T(0), u32(b, 40) + 16, true)))).toBe('corrupt_header'); // not at data_offset
    // section 1 (huffman) grows into section 2
    expect(read(mutate(b, (v) => v.setUint32(T(1) + 4, 40, true)))).toBe('corrupt_header');
    // the last section runs past file_bytes / stops short of it
    expect(
      read(
        mutate(b, (v) => {
          v.setUint32(T(2) + 4, 16, true);
          v.setUint32(T(2) + 8, 16, true);
        }),
      ),
    ).toBe('corrupt_header');
    expect(
      read(
        mutate(b, (v) => {
          v.setUint32(T(2) + 4, 8, true);
          v.setUint32(T(2) + 8, 8, true);
        }),
      ),
    ).toBe('corrupt_header');
    // a smaller file_bytes cuts the chain
    expect(read(mutate(b, (v) => v.setUint32(44, b.length - 4, true)).subarray(0, b.length - 4))).toBe('corrupt_header');
    const e = errorOf(() => readContainer(mutate(b, (v) => v.setUint32(T(1), off1 + 16, true))));
    expect(e.message).toMatch(new RegExp(`section 1: offset is ${off1 + 16}, expected ${off1}`));
  });

  it('rejects bad codec / dtype / size combinations and reserved bytes', () => {
    for (const codec of [7, 8, 0x80, 0xff])
      // 0..6 exist (4: rANS, 5: rANS lanes, 6: rANS runs, docs/format.md)
      expect(
        read(
          mutate(b, (_, c) => {
            c[T(1) + 12] = codec;
          }),
        ),
      ).toBe('unsupported_codec');
    expect(
      errorOf(() =>
        readContainer(
          mutate(b, (_, c) => {
            c[T(1) + 12] = 9;
          }),
        ),
      ),
    ).toMatchObject({ message: expect.stringMatching(/section 1: codec id 9/) });
    expect(
      read(
        mutate(b, (_, c) => {
          c[T(2) + 12] = Codec.Huffman;
        }),
      ),
    ).toBe('corrupt_header'); // huffman on float32
    expect(
      read(
        mutate(b, (_, c) => {
          c[T(1) + 13] = DType.Uint8;
        }),
      ),
    ).toBe('corrupt_header'); // huffman on uint8
    expect(
      read(
        mutate(b, (_, c) => {
          c[T(0) + 13] = 6;
        }),
      ),
    ).toBe('corrupt_header'); // dtype unknown
    expect(read(mutate(b, (v) => v.setUint32(T(0) + 8, 36, true)))).toBe('corrupt_header'); // raw: decoded != stored
    expect(read(mutate(b, (v) => v.setUint32(T(1) + 8, 0, true)))).toBe('corrupt_metadata'); // coded: shape disagrees
    expect(
      read(
        mutate(b, (_, c) => {
          c[T(2) + 13] = DType.Int64;
        }),
      ),
    ).toBe('corrupt_header'); // 12 bytes not a multiple of 8
    expect(
      read(
        mutate(b, (_, c) => {
          c[T(2) + 13] = DType.Int32;
        }),
      ),
    ).toBe('corrupt_metadata'); // valid table, metadata says float32
    for (const k of [14, 15, 20, 25, 31])
      expect(
        read(
          mutate(b, (_, c) => {
            c[T(1) + k] = 1;
          }),
        ),
      ).toBe('corrupt_header');
  });

  it('rejects non-zero padding and wrong CRCs', () => {
    const metaEnd = u32(b, 28) + u32(b, 32);
    expect(
      read(
        mutate(b, (_, c) => {
          c[metaEnd] = 1;
        }),
      ),
    ).toBe('corrupt_header');
    expect(
      read(
        mutate(b, (_, c) => {
          c[u32(b, 40) - 1] = 0x20;
        }),
      ),
    ).toBe('corrupt_header'); // a JSON space is still padding
    const end0 = u32(b, T(0)) + u32(b, T(0) + 4);
    const e = errorOf(() =>
      readContainer(
        mutate(b, (_, c) => {
          c[end0 + 2] = 7;
        }),
      ),
    );
    expect(e.code).toBe('corrupt_header');
    expect(e.message).toMatch(/padding after section 0/);
    expect(read(mutate(b, (v) => v.setUint32(48, u32(b, 48) ^ 1, true), false))).toBe('checksum_mismatch'); // header CRC catches it
    const badTable = mutate(b, (v) => v.setUint32(48, u32(b, 48) ^ 1, true), false);
    dv(badTable).setUint32(60, crc32(badTable.subarray(0, 60)), true); // sign only the header
    expect(errorOf(() => readContainer(badTable)).message).toMatch(/section table CRC-32/);
    const badMeta = mutate(b, () => {}, false);
    dv(badMeta).setUint32(36, 0, true);
    dv(badMeta).setUint32(60, crc32(badMeta.subarray(0, 60)), true);
    expect(errorOf(() => readContainer(badMeta)).message).toMatch(/metadata CRC-32/);
    // section CRC field changed (table re-signed) / payload changed
    const e2 = errorOf(() => readContainer(mutate(b, (v) => v.setUint32(T(2) + 16, 1, true))));
    expect(e2.code).toBe('checksum_mismatch');
    expect(e2.message).toMatch(/section 2 \("fc.bias"\) CRC-32 mismatch: stored 0x00000001/);
  });
});

describe('metadata validation', () => {
  // sections: 0 int8 [2,3] (6 bytes), 1 float32 [4] (16 bytes), 2 int8, empty
  const secs = [raw('a', DType.Int8, [2, 3]), raw('b', DType.Float32, [4]), raw('c', DType.Int8, [0])];
  const good = (): { producer: string; tensors: Array<Record<string, unknown>> } => ({
    producer: 'test',
    tensors: [
      { name: 'a', shape: [2, 3], dtype: 'int8', section: 0 },
      { name: 'b', shape: [4], dtype: 'float32', section: 1 },
      { name: 'c', shape: [0], dtype: 'int8', section: 2 },
    ],
  });
  const withMeta = (m: unknown): Uint8Array => buildRaw(typeof m === 'string' ? m : JSON.stringify(m), secs);
  const edit = (f: (m: ReturnType<typeof good>) => void): Uint8Array => {
    const m = good();
    f(m);
    return withMeta(m);
  };
  const read = (c: Uint8Array): SparrowErrorCode => codeOf(() => readContainer(c));

  it('accepts valid metadata, extra fields and edge shapes', () => {
    expect(readContainer(withMeta(good())).header.meta).toEqual(good());
    expect(
      readContainer(
        edit((m) => {
          m.tensors[0].quant = { scale: 0.5 };
          (m as Record<string, unknown>).graph = { nodes: [] };
        }),
      ).header.meta.tensors[0].quant,
    ).toEqual({ scale: 0.5 });
    expect(
      readContainer(
        edit((m) => {
          m.tensors[0].shape = [1, 6, 1];
        }),
      ).header.sectionCount,
    ).toBe(3);
    expect(
      readContainer(
        edit((m) => {
          m.tensors[2].shape = [0, 2 ** 53 - 1];
        }),
      ).header.sectionCount,
    ).toBe(3); // product 0
    expect(
      readContainer(
        buildRaw(JSON.stringify({ tensors: [{ name: 's', shape: [], dtype: 'float32', section: 0 }] }), [raw('s', DType.Float32, [])]),
      ).header.meta.tensors[0].shape,
    ).toEqual([]); // scalar
    expect(
      readContainer(
        edit((m) => {
          delete (m as Record<string, unknown>).producer;
        }),
      ).header.meta.producer,
    ).toBeUndefined();
    expect(
      readContainer(
        edit((m) => {
          m.tensors[0].name = 'naïve · 名前';
        }),
      ).header.meta.tensors[0].name,
    ).toBe('naïve · 名前');
  });

  it('rejects unreadable JSON', () => {
    expect(read(withMeta('{"tensors": ['))).toBe('corrupt_metadata');
    expect(read(withMeta(''))).toBe('corrupt_metadata');
    expect(read(withMeta(JSON.stringify(good()) + 'x'))).toBe('corrupt_metadata');
    expect(read(buildRaw(Uint8Array.of(0x7b, 0xff, 0x7d), secs))).toBe('corrupt_metadata'); // invalid UTF-8
    expect(read(buildRaw(new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(JSON.stringify(good()))]), secs))).toBe('corrupt_metadata'); // BOM
    expect(errorOf(() => readContainer(withMeta('{"tensors": ['))).message).toMatch(/not valid JSON/);
  });

  it('rejects JSON that is not an object', () => {
    for (const m of ['null', '[]', '42', '"x"', 'true', JSON.stringify([good()])]) {
      const e = errorOf(() => readContainer(withMeta(m)));
      expect(e.code).toBe('corrupt_metadata');
      expect(e.message).toMatch(/must be a JSON object/);
    }
  });

  it('rejects bad tensor tables', () => {
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['no tensors', withMeta({ producer: 'x' }), /tensors must be an array/],
      ['tensors not an array', withMeta({ tensors: { 0: good().tensors[0] } }), /tensors must be an array/],
      [
        'too few',
        edit((m) => {
          m.tensors.pop();
        }),
        /2 tensors, but there are 3 sections/,
      ],
      [
        'too many',
        edit((m) => {
          m.tensors.push({ name: 'd', shape: [0], dtype: 'int8', section: 3 });
        }),
        /4 tensors/,
      ],
      [
        'entry null',
        edit((m) => {
          (m.tensors as unknown[])[1] = null;
        }),
        /tensor 1 must be an object/,
      ],
      [
        'entry array',
        edit((m) => {
          (m.tensors as unknown[])[1] = [];
        }),
        /tensor 1 must be an object/,
      ],
      [
        'empty name',
        edit((m) => {
          m.tensors[1].name = '';
        }),
        /tensor 1: name must be a non-empty string/,
      ],
      [
        'numeric name',
        edit((m) => {
          m.tensors[1].name = 7;
        }),
        /tensor 1: name/,
      ],
      [
        'no name',
        edit((m) => {
          delete m.tensors[1].name;
        }),
        /tensor 1: name/,
      ],
      [
        'duplicate name',
        edit((m) => {
          m.tensors[2].name = 'a';
        }),
        /tensor 2 \("a"\): name already used by tensor 0/,
      ],
      [
        'section wrong',
        edit((m) => {
          m.tensors[1].section = 2;
        }),
        /section is 2, must equal the tensor's index 1/,
      ],
      [
        'section string',
        edit((m) => {
          m.tensors[0].section = '0';
        }),
        /section is "0"/,
      ],
      [
        'section missing',
        edit((m) => {
          delete m.tensors[0].section;
        }),
        /section/,
      ],
      [
        'shape missing',
        edit((m) => {
          delete m.tensors[0].shape;
        }),
        /shape must be an array/,
      ],
      [
        'shape string',
        edit((m) => {
          m.tensors[0].shape = '6';
        }),
        /shape must be an array/,
      ],
      [
        'shape negative',
        edit((m) => {
          m.tensors[0].shape = [-2, -3];
        }),
        /shape\[0\] is -2/,
      ],
      [
        'shape fractional',
        edit((m) => {
          m.tensors[0].shape = [1.5, 4];
        }),
        /shape\[0\] is 1.5/,
      ],
      [
        'shape unsafe',
        edit((m) => {
          m.tensors[2].shape = [0, 2 ** 53];
        }),
        /shape\[1\]/,
      ],
      [
        'shape huge float',
        edit((m) => {
          m.tensors[2].shape = [0, 1e300];
        }),
        /shape\[1\]/,
      ],
      [
        'shape nested',
        edit((m) => {
          m.tensors[0].shape = [[6]];
        }),
        /shape\[0\]/,
      ],
      [
        'shape null dim',
        edit((m) => {
          m.tensors[0].shape = [6, null];
        }),
        /shape\[1\] is null/,
      ],
      [
        'dtype unknown',
        edit((m) => {
          m.tensors[0].dtype = 'float64';
        }),
        /dtype "float64" is not one of/,
      ],
      [
        'dtype case',
        edit((m) => {
          m.tensors[0].dtype = 'INT8';
        }),
        /dtype "INT8"/,
      ],
      [
        'dtype prototype key',
        edit((m) => {
          m.tensors[0].dtype = 'toString';
        }),
        /dtype "toString"/,
      ],
      [
        'dtype missing',
        edit((m) => {
          delete m.tensors[0].dtype;
        }),
        /dtype/,
      ],
      [
        'dtype mismatch',
        edit((m) => {
          m.tensors[0].dtype = 'uint8';
        }),
        /dtype "uint8" does not match the section's dtype byte 0 \(int8\)/,
      ],
      [
        'product mismatch',
        edit((m) => {
          m.tensors[0].shape = [2, 2];
        }),
        /shape \[2, 2\] of int8 is 4 bytes, but the section decodes to 6 bytes/,
      ],
      [
        'element vs byte count',
        edit((m) => {
          m.tensors[1].shape = [16];
        }),
        /is 64 bytes, but the section decodes to 16/,
      ],
      [
        'product wraps in u32',
        edit((m) => {
          m.tensors[2].shape = [65536, 65536];
        }),
        /more than 4 GiB/,
      ],
      [
        'product wraps, 3 dims',
        edit((m) => {
          m.tensors[2].shape = [2 ** 16, 2 ** 16, 2 ** 16];
        }),
        /more than 4 GiB/,
      ],
      [
        'product wraps to 6',
        edit((m) => {
          m.tensors[0].shape = [2 ** 32 + 6];
        }),
        /more than 4 GiB/,
      ],
      [
        'producer not string',
        edit((m) => {
          (m as Record<string, unknown>).producer = 5;
        }),
        /producer must be a string/,
      ],
    ];
    for (const [what, file, msg] of cases) {
      const e = errorOf(() => readContainer(file));
      expect(`${what}: ${e.code}`).toBe(`${what}: corrupt_metadata`);
      expect(e.message, what).toMatch(msg);
    }
  });
});

describe('writeContainer validates its inputs', () => {
  const { meta, sections } = inputs(SMALL);
  const clone = (): { meta: SparrowMeta; sections: SectionInput[] } => ({
    meta: structuredClone(meta),
    sections: sections.map((s) => ({ ...s })),
  });
  const bad = (f: (m: SparrowMeta, s: SectionInput[]) => void): SparrowErrorCode => {
    const c = clone();
    f(c.meta, c.sections);
    return codeOf(() => writeContainer(c.meta, c.sections));
  };

  it('rejects inconsistent inputs with invalid_argument', () => {
    expect(
      bad((m) => {
        m.tensors.pop();
      }),
    ).toBe('invalid_argument');
    expect(
      bad((_, s) => {
        s.pop();
      }),
    ).toBe('invalid_argument');
    expect(
      bad((_, s) => {
        s[0].decodedBytes = 36;
      }),
    ).toBe('invalid_argument'); // raw: decoded != stored
    expect(
      bad((_, s) => {
        s[2].codec = Codec.Huffman;
      }),
    ).toBe('invalid_argument'); // huffman on float32
    expect(
      bad((_, s) => {
        s[1].codec = 7 as Codec;
      }),
    ).toBe('invalid_argument');
    expect(
      bad((_, s) => {
        s[1].dtype = 9 as DType;
      }),
    ).toBe('invalid_argument');
    expect(
      bad((_, s) => {
        s[1].decodedBytes = -1;
      }),
    ).toBe('invalid_argument');
    expect(
      bad((_, s) => {
        s[1].decodedBytes = 1.5;
      }),
    ).toBe('invalid_argument');
    expect(
      bad((_, s) => {
        s[1].decodedBytes = 2 ** 32;
      }),
    ).toBe('invalid_argument');
    expect(
      bad((_, s) => {
        s[1].payload = [1, 2, 3] as unknown as Uint8Array;
      }),
    ).toBe('invalid_argument');
    expect(
      bad((m) => {
        m.tensors[1].shape = [8, 7];
      }),
    ).toBe('invalid_argument');
    expect(
      bad((m) => {
        m.tensors[2].dtype = 'int32';
      }),
    ).toBe('invalid_argument');
    expect(
      bad((m) => {
        m.tensors[2].name = 'fc.weight';
      }),
    ).toBe('invalid_argument');
    expect(
      bad((m) => {
        m.tensors[2].section = 0;
      }),
    ).toBe('invalid_argument');
    expect(
      bad((m) => {
        m.tensors[0].shape = [NaN];
      }),
    ).toBe('invalid_argument'); // JSON turns NaN into null
    expect(
      bad((m) => {
        (m as Record<string, unknown>).tensors = undefined;
      }),
    ).toBe('invalid_argument');
    expect(
      bad((m) => {
        m.big = 10n;
      }),
    ).toBe('invalid_argument');
    expect(
      bad((m) => {
        m.self = m;
      }),
    ).toBe('invalid_argument');
  });

  it('writes what the reader accepts', () => {
    const c = clone();
    expect(readContainer(writeContainer(c.meta, c.sections)).header.meta).toEqual(meta);
  });
});

describe('parseHeaderPrefix', () => {
  const b = build(SMALL);
  const full = readContainer(b).header;

  it('asks for 64 bytes, then data_offset, then returns the header', () => {
    for (let k = 0; k <= b.length; k++) {
      const r = parseHeaderPrefix(b.subarray(0, k));
      if (k < 64) expect(r).toEqual({ need: 64 });
      else if (k < full.dataOffset) expect(r).toEqual({ need: full.dataOffset });
      else expect(r).toEqual(full);
    }
  });

  it('fails early on a bad prefix', () => {
    expect(codeOf(() => parseHeaderPrefix(Uint8Array.of(0x50)))).toBe('bad_magic');
    expect(codeOf(() => parseHeaderPrefix(Uint8Array.of(...MAGIC, 3, 0)))).toBe('unsupported_version');
    expect(codeOf(() => parseHeaderPrefix(mutate(b, (v) => v.setUint32(12, 1, true), false).subarray(0, 64)))).toBe('checksum_mismatch');
    // a broken table is reported as soon as header + table + metadata are present, before the sections
    const c = mutate(b, (_, x) => {
      x[64 + 12] = 7;
    });
    expect(codeOf(() => parseHeaderPrefix(c.subarray(0, full.dataOffset)))).toBe('unsupported_codec');
    expect(codeOf(() => parseHeaderPrefix(b.subarray(0, 64), { maxBytes: 100 }))).toBe('too_large');
  });
});

describe('ContainerStreamReader', () => {
  const next = rng(9);
  const b = build([...SMALL, raw('z', DType.Int32, [0]), raw('last', DType.Uint16, [3, 3])]);
  const full = readContainer(b);
  const complete = (i: number): number => (i + 1 < full.header.sectionCount ? full.header.sections[i + 1].offset : b.length);

  function checkAll(got: ReturnType<typeof stream>['out'], r = full, n = r.header.sectionCount): void {
    expect(got.map((s) => s.index)).toEqual(Array.from({ length: n }, (_, i) => i));
    got.forEach((s) => expect(s.payload).toEqual(r.payload(s.index)));
  }

  it('emits each section once, in order, with its bytes, for chunks of 1, 7, 64, random, whole', () => {
    for (const sizes of [() => 1, () => 7, () => 64, () => 1 + (next() % 100), () => b.length]) {
      const { out, reader } = stream(b, sizes);
      checkAll(out);
      expect(reader.header).toEqual(full.header);
    }
  });

  it('emits a section exactly when its bytes and padding have arrived; the header at data_offset', () => {
    const reader = new ContainerStreamReader();
    for (let k = 1; k <= b.length; k++) {
      const got = reader.push(b.subarray(k - 1, k));
      expect(reader.header === null).toBe(k < full.header.dataOffset);
      const want = full.header.sections.filter((s) => complete(s.index) === k).map((s) => s.index);
      expect(got.map((s) => s.index)).toEqual(want);
      for (const s of got) expect(s.info).toEqual(full.header.sections[s.index]);
    }
    reader.end();
  });

  it('round-trips random containers with random chunking', () => {
    for (let t = 0; t < 40; t++) {
      const count = next() % 8;
      const secs = Array.from({ length: count }, (_, i) =>
        next() % 2 ? raw(`r${i}`, DType.Uint8, [next() % 1001], next) : coded(`c${i}`, Codec.Huffman, [next() % 50], next() % 1001, next),
      );
      const file = build(secs);
      const max = 1 + (next() % 300);
      const { out } = stream(file, () => 1 + (next() % max));
      checkAll(out, readContainer(file), count);
    }
  });

  it('streams a zero-section file', () => {
    const z = build([]);
    const { out, reader } = stream(z, () => 3);
    expect(out).toEqual([]);
    expect(reader.header?.sectionCount).toBe(0);
  });

  it('streams a larger file byte by byte (no quadratic copying)', () => {
    const big = build(Array.from({ length: 20 }, (_, i) => raw(`w${i}`, DType.Float32, [1000 + i], next))); // ~80 KB
    const t0 = Date.now();
    const { out } = stream(big, () => 1);
    checkAll(out, readContainer(big), 20);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('end() on a partial file throws truncated', () => {
    expect(codeOf(() => new ContainerStreamReader().end())).toBe('truncated');
    for (const n of [1, 10, 63, 64, 65, full.header.dataOffset - 1, full.header.dataOffset, complete(0), b.length - 1]) {
      const r = new ContainerStreamReader();
      r.push(b.subarray(0, n));
      const e = errorOf(() => r.end());
      expect(e.code).toBe('truncated');
      expect(e.message).toMatch(new RegExp(`after ${n} bytes`));
    }
  });

  it('rejects bytes past file_bytes, in one chunk or later', () => {
    const plus = new Uint8Array(b.length + 1);
    plus.set(b);
    expect(codeOf(() => new ContainerStreamReader().push(plus))).toBe('corrupt_header');
    const r = new ContainerStreamReader();
    expect(r.push(b).length).toBe(full.header.sectionCount);
    expect(codeOf(() => r.push(Uint8Array.of(0)))).toBe('corrupt_header');
  });

  it('emits the good sections before the bad one, then stays failed', () => {
    const c = b.slice();
    c[full.header.sections[2].offset] ^= 0x10;
    const r = new ContainerStreamReader();
    const got: number[] = [];
    let err: SparrowError | null = null;
    for (let k = 0; k < c.length && !err; k += 5) {
      try {
        got.push(...r.push(c.subarray(k, k + 5)).map((s) => s.index));
      } catch (e) {
        err = e as SparrowError;
      }
    }
    expect(got).toEqual([0, 1]);
    expect(err).toBeInstanceOf(SparrowError);
    expect(err?.code).toBe('checksum_mismatch');
    expect(errorOf(() => r.push(new Uint8Array(1)))).toBe(err);
    expect(errorOf(() => r.end())).toBe(err);
  });

  it('fails on the first byte of a non-.sparrow stream, and on push after end', () => {
    expect(codeOf(() => new ContainerStreamReader().push(Uint8Array.of(0x7b)))).toBe('bad_magic');
    const r = new ContainerStreamReader();
    r.push(b);
    r.end();
    r.end(); // idempotent
    expect(codeOf(() => r.push(new Uint8Array(0)))).toBe('invalid_argument');
  });

  it('honours maxBytes', () => {
    expect(codeOf(() => new ContainerStreamReader({ maxBytes: b.length - 1 }).push(b.subarray(0, 64)))).toBe('too_large');
  });
});
