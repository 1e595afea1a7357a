// Every single-bit change of a real packed model (coded int8 weights + float scales) is
// detected by the reader, and `inspect` (which also decodes every stream) never fails with
// anything but a SparrowError.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { packOnnxWeights } from '../src/compress/pack.js';
import { inspectSparrow } from '../src/format/inspect.js';
import { readContainer } from '../src/format/container.js';
import { SparrowError } from '../src/errors.js';

describe('bit flips of a real .sparrow file', () => {
  // mnist-8's weights (bundled example) at 60% sparsity: raw, huffman and rle sections
  const file = packOnnxWeights(new Uint8Array(readFileSync('examples/models/mnist-8.onnx')), 0.6);

  it('is small and uses coded sections', () => {
    expect(file.length).toBeLessThan(8000);
    const codecs = new Set(inspectSparrow(file).tensors.map((t) => t.codec));
    expect(codecs.size).toBeGreaterThanOrEqual(2);
  });

  it('detects every single-bit flip', () => {
    const codes = new Map<string, number>();
    for (let i = 0; i < file.length * 8; i++) {
      const m = file.slice();
      m[i >> 3]! ^= 1 << (i & 7);
      let err: unknown = null;
      try {
        inspectSparrow(m);
      } catch (e) {
        err = e;
      }
      if (!(err instanceof SparrowError)) throw new Error(`bit ${i} (byte ${i >> 3}) flip not detected: ${String(err)}`);
      codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
      expect(() => readContainer(m)).toThrow(SparrowError);
    }
    // most flips land in payloads and fail their section CRC
    expect(codes.get('checksum_mismatch')).toBeGreaterThan(file.length * 8 * 0.5);
  });
});
