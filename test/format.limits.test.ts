// A reader never allocates on a file's word: a 20-byte constant Huffman block may claim
// hundreds of megabytes of output; the decoded-size limit rejects it before any decoding.
import { describe, it, expect } from 'vitest';
import { Codec, DType, readContainer, writeContainer } from '../src/format/container.js';
import { inspectSparrow } from '../src/format/inspect.js';
import { SparrowError } from '../src/errors.js';

describe('decoded-size limit', () => {
  const n = 300_000_000;
  // a constant Huffman block (docs/format.md): mode 1, varint count n, symbol 0 → n zeros
  const varint: number[] = [];
  for (let v = n; ;) {
    const b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v) varint.push(b | 0x80);
    else {
      varint.push(b);
      break;
    }
  }
  const payload = Uint8Array.from([1, ...varint, 0]);
  const file = writeContainer({ tensors: [{ name: 'bomb', shape: [n], dtype: 'int8', section: 0 }] }, [
    { codec: Codec.Huffman, dtype: DType.Int8, payload, decodedBytes: n },
  ]);

  it('a tiny file can claim a huge tensor', () => {
    expect(file.length).toBeLessThan(200);
    expect(payload.length).toBe(7);
  });

  it('is rejected with too_large under a limit, before decoding', () => {
    let err: unknown;
    try {
      readContainer(file, { maxDecodedBytes: 64 << 20 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SparrowError);
    expect((err as SparrowError).code).toBe('too_large');
    expect(() => inspectSparrow(file, { maxDecodedBytes: 64 << 20 })).toThrow(/limit/);
  });
});
