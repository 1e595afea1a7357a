// The Worker's response bodies for the new dtypes (src/worker/infer.ts): float16/bfloat16 outputs
// are sent as their values in JSON and as '<f2' (bfloat16: float32 values) in .npy; uint64 beyond
// 2^53 as decimal strings, as int64 already was.
import { describe, expect, it } from 'vitest';
import { outputToNpy, outputsToJson } from '../src/worker/infer.js';
import { parseNpy } from '../src/io/npy.js';
import type { Tensor } from '../src/ops/types.js';

describe('worker outputs of the new dtypes', () => {
  const h: Tensor = { dtype: 'float16', dims: [3], data: Uint16Array.of(0x3c00, 0xc100, 0x7bff) }; // 1, -2.5, 65504
  const b: Tensor = { dtype: 'bfloat16', dims: [2], data: Uint16Array.of(0x3f80, 0x4049) }; // 1, 3.140625
  const u: Tensor = { dtype: 'uint64', dims: [2], data: BigUint64Array.of(7n, 2n ** 64n - 1n) };

  it('JSON: float16/bfloat16 as values, uint64 beyond 2^53 as strings', () => {
    const j = outputsToJson({ h, b, u }, ['h', 'b', 'u']);
    expect(j['h']).toEqual({ dims: [3], dtype: 'float16', data: [1, -2.5, 65504] });
    expect(j['b']).toEqual({ dims: [2], dtype: 'bfloat16', data: [1, 3.140625] });
    expect(j['u']).toEqual({ dims: [2], dtype: 'uint64', data: [7, '18446744073709551615'] });
  });

  it(".npy: float16 as '<f2' bits, bfloat16 as float32 values, uint64 as '<u8'", () => {
    const fh = parseNpy(outputToNpy(h));
    expect(fh.dtype).toBe('float16');
    expect(Array.from(fh.data as Uint16Array)).toEqual([0x3c00, 0xc100, 0x7bff]);
    const fb = parseNpy(outputToNpy(b));
    expect(fb.dtype).toBe('float32');
    expect(Array.from(fb.data as Float32Array)).toEqual([1, 3.140625]);
    expect(parseNpy(outputToNpy(u)).data).toEqual(u.data);
  });
});
