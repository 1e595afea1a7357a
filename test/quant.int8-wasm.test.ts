// The per-channel weight quantizer in WASM (quantizePerChannelInt8Wasm: f32_absmax_channels__wasmsimd,
// qs8_quantize_channels_f32__wasmsimd) against its TS reference quantizePerChannelInt8: the same
// q and scale bits, the same error for a value that is not finite, and the nonzero count.
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { quantizePerChannelInt8, quantizePerChannelInt8Wasm } from '../src/quant/int8.js';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { SparrowError } from '../src/errors.js';

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function expectSame(w: SparrowWasm, data: Float32Array, dims: number[], axis: number, qmax?: number, tag = ''): void {
  const ref = quantizePerChannelInt8(data, dims, axis, qmax);
  const got = quantizePerChannelInt8Wasm(w, data, dims, axis, qmax);
  expect(Array.from(got.q), `q ${tag}`).toEqual(Array.from(ref.q));
  expect(bits(got.scales), `scales ${tag}`).toEqual(bits(ref.scales));
  expect(got.nnz, `nnz ${tag}`).toBe(ref.q.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0));
}

for (const variant of ['release', 'debug'] as const)
  describe(`quantizePerChannelInt8Wasm (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });

    it('named cases: ties at every half step, zero and one-element channels, every axis, sub-8-bit qmax', () => {
      // channel c holds k·s_c / 2 for k = −300..300: every half step, so round-half-even decides
      const C = 5,
        K = 601;
      const ties = new Float32Array(C * K);
      for (let c = 0; c < C; c++) for (let k = 0; k < K; k++) ties[c * K + k] = ((k - 300) * (c + 1) * 0.37) / 2 / 127;
      for (const qmax of [127, 63, 7, 1]) expectSame(w, ties, [C, K], 0, qmax, `ties qmax ${qmax}`);
      expectSame(w, ties, [C, K], 1, 127, 'ties along axis 1 (inner 1)');
      expectSame(w, new Float32Array(24), [2, 3, 4], 1, 127, 'all zeros');
      expectSame(w, Float32Array.from([0.5, -0.25, 3]), [3], 0, 127, 'one element per channel');
      expectSame(w, new Float32Array(0), [0, 4], 0, 127, 'empty');
      expectSame(w, Float32Array.from([1e-45, -1e-45, 3e38, -3.4e38, 1e-40, 2]), [3, 2], 0, 127, 'subnormal and huge');
      const big = Float32Array.from({ length: 64 * 3 * 3 * 3 + 5 }, (_, i) => Math.sin(i * 0.7) * (1 + (i % 13)));
      expectSame(w, big.subarray(0, 64 * 27), [64, 3, 3, 3], 0, 127, 'conv weight');
      expectSame(w, big.subarray(0, 64 * 27), [64, 3, 3, 3], 1, 127, 'axis 1 of 4');
      expectSame(w, big.subarray(0, 64 * 27), [64, 3, 3, 3], 3, 127, 'last axis of 4');
    });

    it('property: any shape, axis and values, bits of the reference', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 4 }),
          fc.nat(),
          fc.constantFrom(127, 63, 31, 7),
          fc.integer(),
          (dims, axisSeed, qmax, seed) => {
            const axis = axisSeed % dims.length;
            const n = dims.reduce((a, b) => a * b, 1);
            let r = seed >>> 0;
            const next = (): number => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0) / 2 ** 32;
            // a mix of zeros, small values, exact multiples of a step (ties after scaling) and outliers
            const data = Float32Array.from({ length: n }, () => {
              const u = next();
              return u < 0.2 ? 0 : u < 0.5 ? (next() - 0.5) * 1e-3 : u < 0.8 ? Math.round((next() - 0.5) * 64) / 8 : (next() - 0.5) * 1e4;
            });
            const ref = quantizePerChannelInt8(data, dims, axis, qmax);
            const got = quantizePerChannelInt8Wasm(w, data, dims, axis, qmax);
            return (
              got.q.every((v, i) => v === ref.q[i]) &&
              bits(got.scales).join() === bits(ref.scales).join() &&
              got.nnz === ref.q.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0)
            );
          },
        ),
        { numRuns: 400 },
      );
    });

    it('a value that is not finite: the reference error (its flat index and value); the scratch is released', () => {
      for (const [bad, at] of [
        [NaN, 0],
        [Infinity, 37],
        [-Infinity, 99],
        [NaN, 50],
      ] as const) {
        const data = Float32Array.from({ length: 100 }, (_, i) => i / 7);
        data[at] = bad;
        // a finite Inf-looking neighbour first: only the first non-finite value is named
        const refErr = (() => {
          try {
            quantizePerChannelInt8(data, [4, 25], 0);
          } catch (e) {
            return e as SparrowError;
          }
        })();
        const top = w.mark();
        let got: SparrowError | undefined;
        try {
          quantizePerChannelInt8Wasm(w, data, [4, 25], 0);
        } catch (e) {
          got = e as SparrowError;
        }
        expect(got).toBeInstanceOf(SparrowError);
        expect(got!.code).toBe(refErr!.code);
        expect(got!.message).toBe(refErr!.message);
        expect(w.mark()).toBe(top);
      }
    });
  });
