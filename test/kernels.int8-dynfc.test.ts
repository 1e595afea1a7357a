// qs8_dynfc_f32__wasmsimd (assembly/int8/gemm.ts), the fused dynamic-range int8 FC of MatMul /
// Gemm in dynamic mode (per-row quantization of the float input → int8 GEMM with int32
// accumulation → float32 output with the per-row input scale × per-channel weight scale, + bias),
// against its plain TS reference qs8DynFcRef (src/kernels/int8_ref.ts) bit for bit, release and
// debug builds: M/N/K below, at and above the kernel's tiles (4 channels, 8 k), rows of zeros,
// all-positive and all-negative rows, NaN, huge and tiny magnitudes, clamps; no writes outside y;
// status codes. The reference itself is checked against the path it replaces (int8QuantParams +
// quantizeRef + qs8FcRef in MODE_F32), with fast-check.
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { qs8DynFcRef, qs8FcRef, quantizeRef } from '../src/kernels/int8_ref.js';
import { int8QuantParams } from '../src/quant/int8.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type RowKind = 'uniform' | 'zeros' | 'positive' | 'negative' | 'nan' | 'huge' | 'tiny' | 'spiky';
const KINDS: RowKind[] = ['uniform', 'zeros', 'positive', 'negative', 'nan', 'huge', 'tiny', 'spiky'];

function row(kind: RowKind, K: number, r: () => number): Float32Array {
  const x = new Float32Array(K);
  for (let k = 0; k < K; k++) {
    const u = r() * 2 - 1;
    x[k] =
      kind === 'zeros'
        ? 0
        : kind === 'positive'
          ? Math.abs(u) * 3
          : kind === 'negative'
            ? -Math.abs(u) * 3
            : kind === 'huge'
              ? u * 3e37
              : kind === 'tiny'
                ? u * 1e-42
                : kind === 'spiky'
                  ? k === 0
                    ? 1000
                    : u * 1e-3
                  : u * 2;
  }
  if (kind === 'nan' && K > 1) x[K >> 1] = NaN;
  return x;
}

/** The path the fused kernel replaces: int8QuantParams + quantizeRef + qs8FcRef (MODE_F32). */
function replacedPath(M: number, N: number, K: number, x: Float32Array, w: Int8Array, sw: Float32Array, bias: Float32Array): Float32Array {
  const y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    const v = x.subarray(m * K, (m + 1) * K);
    let lo = 0,
      hi = 0;
    for (const a of v) {
      if (a < lo) lo = a;
      if (a > hi) hi = a;
    }
    const p = int8QuantParams({ min: lo, max: hi });
    const scale = Float32Array.from(sw, (s) => Math.fround(p.scale * s));
    const out = { mode: 'f32' as const, zx: p.zeroPoint, scale, bias, lo: -Infinity, hi: Infinity };
    y.set(qs8FcRef(1, N, K, quantizeRef(v, p.scale, p.zeroPoint), w, out) as Float32Array, m * N);
  }
  return y;
}

function same(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

describe('qs8DynFcRef (the reference)', () => {
  it('equals the quantize + FC path it replaces (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 19 }),
        fc.integer({ min: 0, max: KINDS.length - 1 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (M, N, K, kind, seed) => {
          const r = lcg(seed);
          const x = new Float32Array(M * K);
          for (let m = 0; m < M; m++) x.set(row(KINDS[(kind + m) % KINDS.length]!, K, r), m * K);
          const w = Int8Array.from({ length: N * K }, () => Math.floor(r() * 256) - 128);
          const sw = Float32Array.from({ length: N }, () => r() * 0.05 + 1e-4);
          const bias = Float32Array.from({ length: N }, () => r() - 0.5);
          return same(qs8DynFcRef(M, N, K, x, w, sw, bias), replacedPath(M, N, K, x, w, sw, bias));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('throws on a row with ±Inf (as int8QuantParams does)', () => {
    expect(() => qs8DynFcRef(1, 1, 2, Float32Array.of(1, Infinity), Int8Array.of(1, 1), Float32Array.of(1), Float32Array.of(0))).toThrow(
      /finite/,
    );
  });
});

for (const variant of ['release', 'debug'] as const) {
  describe(`qs8_dynfc_f32__wasmsimd (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });

    function run(
      M: number,
      N: number,
      K: number,
      x: Float32Array,
      wt: Int8Array,
      sw: Float32Array,
      bias: Float32Array,
      lo: number,
      hi: number,
      kernel: 'qs8_dynfc_f32__wasmsimd' | 'qs8_dynfc_f32_finite__wasmsimd' = 'qs8_dynfc_f32__wasmsimd',
    ): { status: number; y: Float32Array; guard: boolean; untouched: boolean } {
      const mark = w.mark();
      try {
        const xp = w.alloc(4 * M * K + 16),
          wp = w.alloc(N * K + 16),
          sb = w.alloc(8 * N + 16),
          yp = w.alloc(4 * M * N + 64),
          work = w.alloc(w.exports.qs8_fc_work_bytes(K) + 16);
        w.f32(xp, M * K).set(x);
        w.i8(wp, N * K).set(wt);
        w.f32(sb, N).set(sw);
        w.f32(sb + 4 * N, N).set(bias);
        w.i8(yp, 4 * M * N + 64).fill(0x5a);
        const status = w.exports[kernel](M, N, K, xp, wp, sb, lo, hi, yp, work);
        const guard = w.i8(yp + 4 * M * N, 64).every((b) => b === 0x5a);
        const untouched = w.i8(yp, 4 * M * N + 64).every((b) => b === 0x5a);
        return { status, y: w.f32(yp, M * N).slice(), guard, untouched };
      } finally {
        w.release(mark);
      }
    }

    it('matches qs8DynFcRef bit for bit over M, N, K around the tiles, every kind of row, clamps; writes only y', () => {
      const r = lcg(7);
      const failures: string[] = [];
      let cases = 0;
      for (const M of [1, 2, 3, 5])
        for (const N of [1, 2, 3, 4, 5, 7, 8, 9, 13])
          for (const K of [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 64, 65])
            for (const clamp of [false, true]) {
              const x = new Float32Array(M * K);
              for (let m = 0; m < M; m++) x.set(row(KINDS[(M * 3 + N + K + m) % KINDS.length]!, K, r), m * K);
              const wt = Int8Array.from({ length: N * K }, (_, i) => (i % 11 === 0 ? (i % 2 ? -128 : 127) : Math.floor(r() * 256) - 128));
              const sw = Float32Array.from({ length: N }, () => r() * 0.05 + 1e-4);
              const bias = Float32Array.from({ length: N }, () => r() - 0.5);
              const lo = clamp ? 0 : -Infinity,
                hi = clamp ? 6 : Infinity;
              const want = qs8DynFcRef(M, N, K, x, wt, sw, bias, lo, hi);
              const got = run(M, N, K, x, wt, sw, bias, lo, hi);
              cases++;
              if (got.status !== 0 || !got.guard || !same(got.y, want))
                failures.push(`M=${M} N=${N} K=${K} clamp=${clamp}: status ${got.status}, guard ${got.guard}`);
            }
      expect(failures, failures.slice(0, 5).join('\n')).toEqual([]);
      expect(cases).toBe(4 * 9 * 14 * 2);
    });

    it('large rows (a stories260K layer: K = 64, N = 512; K = 172) match too', () => {
      const r = lcg(99);
      for (const [M, N, K] of [
        [1, 512, 64],
        [6, 64, 172],
        [2, 172, 64],
      ] as const) {
        const x = Float32Array.from({ length: M * K }, () => (r() - 0.5) * 8);
        const wt = Int8Array.from({ length: N * K }, () => Math.floor(r() * 256) - 128);
        const sw = Float32Array.from({ length: N }, () => r() * 0.01);
        const bias = new Float32Array(N);
        const got = run(M, N, K, x, wt, sw, bias, -Infinity, Infinity);
        expect(got.status).toBe(0);
        expect(same(got.y, qs8DynFcRef(M, N, K, x, wt, sw, bias))).toBe(true);
      }
    });

    it('status: E_ARG for bad sizes, E_RANGE (-6) for a row with ±Inf', () => {
      const z = new Float32Array(1);
      expect(run(1, 1, 1, z, new Int8Array(1), z, z, -Infinity, Infinity).status).toBe(0);
      expect(w.exports.qs8_dynfc_f32__wasmsimd(0, 1, 1, 0, 0, 0, 0, 0, 0, 0)).toBe(-5);
      expect(w.exports.qs8_dynfc_f32__wasmsimd(1, 0, 1, 0, 0, 0, 0, 0, 0, 0)).toBe(-5);
      expect(w.exports.qs8_dynfc_f32__wasmsimd(1, 1, 0, 0, 0, 0, 0, 0, 0, 0)).toBe(-5);
      const x = Float32Array.of(1, 2, -Infinity, 0);
      expect(run(1, 2, 4, x, new Int8Array(8), Float32Array.of(1, 1), new Float32Array(2), -Infinity, Infinity).status).toBe(-6);
    });

    // the checked entry of the decoder's per-token FCs (src/runtime/int8/fc.ts): the same output
    // as the plain kernel on finite X, and E_NONFINITE (-7) with y untouched for a NaN or ±Inf
    // anywhere in X (the SIMD body, the scalar tail, any row)
    it('qs8_dynfc_f32_finite__wasmsimd: the plain kernel on finite X, -7 and nothing written otherwise', () => {
      const r = lcg(11);
      const failures: string[] = [];
      for (const M of [1, 2, 3])
        for (const N of [1, 4, 5])
          for (const K of [1, 3, 4, 7, 8, 9, 17, 64]) {
            const x = Float32Array.from({ length: M * K }, () => (r() - 0.5) * 6);
            const wt = Int8Array.from({ length: N * K }, () => Math.floor(r() * 256) - 128);
            const sw = Float32Array.from({ length: N }, () => r() * 0.05 + 1e-4);
            const bias = Float32Array.from({ length: N }, () => r() - 0.5);
            const plain = run(M, N, K, x, wt, sw, bias, -Infinity, Infinity);
            const checked = run(M, N, K, x, wt, sw, bias, -Infinity, Infinity, 'qs8_dynfc_f32_finite__wasmsimd');
            if (checked.status !== 0 || !checked.guard || !same(checked.y, plain.y)) failures.push(`finite M=${M} N=${N} K=${K}`);
            for (let at = 0; at < M * K; at++)
              for (const bad of [NaN, Infinity, -Infinity]) {
                const xb = x.slice();
                xb[at] = bad;
                const got = run(M, N, K, xb, wt, sw, bias, -Infinity, Infinity, 'qs8_dynfc_f32_finite__wasmsimd');
                if (got.status !== -7 || !got.untouched) failures.push(`M=${M} N=${N} K=${K} x[${at}]=${bad}: status ${got.status}`);
              }
          }
      expect(failures, failures.slice(0, 5).join('\n')).toEqual([]);
      expect(w.exports.qs8_dynfc_f32_finite__wasmsimd(0, 1, 1, 0, 0, 0, 0, 0, 0, 0)).toBe(-5);
    });
  });
}
