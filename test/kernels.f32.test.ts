// Every float32 WASM kernel (src/kernels/f32.ts lists them) against the plain TS references
// (src/kernels/f32_ref.ts), release (-O3 noAssert) and debug builds: GEMM over edge-shape sweeps
// (M, N, K below/at/above the 4x8 tile, odd sizes, K 1..40, 144, 576) with every bias/activation
// and strided A/C, conv over kernel/stride/pads/dilation/groups sweeps and the ResNet-20 layers.
//
// Tolerance: float32 sums in a different order than the float64 reference. For a result made of
// K products and a bias the rounding error is below (K+1)·u·S, u = 2^-24, S = Σ|a_k·b_k| + |bias|
// (computed by running the reference on absolute values); we allow (K+3)·u·S. A missing or
// doubled term is ~S/K off, far above that for the K tested.
import { describe, it, expect, beforeAll } from 'vitest';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { SparrowError } from '../src/errors.js';
import {
  F32_COL2IM_KERNELS,
  F32_CONV_KERNELS,
  F32_DECONV_KERNELS,
  F32_GEMM_KERNELS,
  F32_RESAMPLE_KERNELS,
  CONV_GEOMETRY_BYTES,
  conv2dF32,
  deconv2dF32,
  resample2dF32,
  writeDeconvGeometry,
  writeResampleDesc,
  convGeometry,
  gemmF32,
  planConv,
  runConv,
  writeConvGeometry,
  type BiasMode,
  type ConvKernel,
} from '../src/kernels/f32.js';
import {
  actBounds,
  col2imRef,
  conv2dRef,
  deconv2dRef,
  gemmRef,
  resample2dRef,
  type Act,
  type Conv2dAttrs,
  type Deconv2dGeometry,
  type Resample2d,
  type ResampleAxis,
} from '../src/kernels/f32_ref.js';
import { convTranspose } from '../src/ops/ref/convtranspose.js';
import { lcg } from './helpers/tensors.js';

const U = 2 ** -24;
const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33];
const ACTS: Act[] = ['none', 'relu', { min: -0.5, max: 0.7 }];
const SENTINEL = -12345.5;

function rand(rnd: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rnd() * 2 - 1);
}
const abs = (a: Float32Array) => a.map(Math.abs);

/** Indices where got and ref differ by more than (K+3)·u·S (first few, formatted). */
function mismatches(got: ArrayLike<number>, ref: ArrayLike<number>, absSum: ArrayLike<number>, K: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < ref.length && out.length < 3; i++) {
    const tol = (K + 3) * U * absSum[i]! + 1e-30;
    if (!(Math.abs(got[i]! - ref[i]!) <= tol)) out.push(`[${i}] got ${got[i]} want ${ref[i]} (tol ${tol.toExponential(2)})`);
  }
  return out;
}

interface GemmCase {
  M: number;
  N: number;
  K: number;
  biasMode: BiasMode;
  act: Act;
  lda: number;
  ldc: number;
}

function gemmCases(): GemmCase[] {
  const shapes: Array<[number, number, number]> = [];
  for (const M of SIZES) for (const N of SIZES) for (const K of [1, 4, 9, 17, 40]) shapes.push([M, N, K]);
  for (let K = 1; K <= 40; K++)
    for (const [M, N] of [
      [5, 9],
      [4, 8],
      [17, 33],
    ] as const)
      shapes.push([M, N, K]);
  for (const K of [144, 576])
    for (const [M, N] of [
      [1, 1],
      [4, 8],
      [16, 17],
      [33, 15],
      [7, 33],
      [64, 64],
    ] as const)
      shapes.push([M, N, K]);
  return shapes.map(([M, N, K], i) => ({
    M,
    N,
    K,
    biasMode: (i % 3) as BiasMode,
    act: ACTS[Math.floor(i / 3) % 3]!,
    lda: K + (i % 2 ? 3 : 0),
    ldc: N + (i % 4 >= 2 ? 5 : 0),
  }));
}

function packRef(K: number, N: number, B: Float32Array): Float32Array {
  const np = Math.ceil(N / 8);
  const out = new Float32Array(np * 8 * K);
  for (let p = 0; p < np; p++)
    for (let k = 0; k < K; k++)
      for (let j = 0; j < 8; j++) {
        const n = p * 8 + j;
        if (n < N) out[p * 8 * K + k * 8 + j] = B[k * N + n]!;
      }
  return out;
}

for (const variant of ['release', 'debug'] as const) {
  describe(`f32 GEMM kernels (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });

    const cases = gemmCases();
    // inputs and references once per case, shared by all kernels
    const rnd = lcg(7);
    const data = cases.map((c) => {
      const A = rand(rnd, c.M * c.K),
        B = rand(rnd, c.K * c.N);
      const bias = c.biasMode === 0 ? undefined : rand(rnd, c.biasMode === 1 ? c.M : c.N);
      const biasPer = c.biasMode === 2 ? ('col' as const) : ('row' as const);
      const ref = gemmRef(c.M, c.N, c.K, A, B, undefined, { bias, biasPer, act: c.act });
      const absSum = gemmRef(c.M, c.N, c.K, abs(A), abs(B), undefined, { bias: bias && abs(bias), biasPer });
      return { A, B, bias, ref, absSum };
    });

    for (const kernel of F32_GEMM_KERNELS) {
      it(`${kernel.name} (${kernel.mr}x${kernel.nr}) matches gemmRef on ${cases.length} shapes, all bias/act modes, strided A and C`, () => {
        const failures: string[] = [];
        cases.forEach((c, ci) => {
          const d = data[ci]!;
          const [lo, hi] = actBounds(c.act);
          const m = w.mark();
          try {
            const a = w.alloc(c.M * c.lda * 4);
            const av = w.f32(a, c.M * c.lda);
            av.fill(NaN); // padding columns of A must never be read into a sum
            for (let i = 0; i < c.M; i++) av.set(d.A.subarray(i * c.K, (i + 1) * c.K), i * c.lda);
            const braw = w.putF32(d.B);
            const bp = w.alloc(w.exports.f32_packed_b_size(c.K, c.N) * 4);
            w.exports.f32_pack_b(c.K, c.N, braw, c.N, 0, bp);
            const bias = d.bias ? w.putF32(d.bias) : 0;
            const cLen = c.M * c.ldc + 8; // 8 guard floats after the last row
            const cp = w.alloc(cLen * 4);
            w.f32(cp, cLen).fill(SENTINEL);
            kernel.run(w, c.M, c.N, c.K, a, c.lda, bp, cp, c.ldc, bias, c.biasMode, c.act === 'none' ? 0 : 1, lo, hi);
            const cv = w.f32(cp, cLen);
            const got = new Float32Array(c.M * c.N);
            let guards = true;
            for (let i = 0; i < c.M; i++) {
              got.set(cv.subarray(i * c.ldc, i * c.ldc + c.N), i * c.N);
              for (let j = c.N; j < c.ldc; j++) if (cv[i * c.ldc + j] !== SENTINEL) guards = false;
            }
            for (let j = c.M * c.ldc; j < cLen; j++) if (cv[j] !== SENTINEL) guards = false;
            const bad = mismatches(got, d.ref, d.absSum, c.K);
            if (bad.length || !guards) {
              failures.push(
                `M=${c.M} N=${c.N} K=${c.K} lda=${c.lda} ldc=${c.ldc} bias=${c.biasMode} act=${JSON.stringify(c.act)}: ` +
                  (guards ? bad.join('; ') : 'wrote outside C'),
              );
            }
          } finally {
            w.release(m);
          }
        });
        expect(failures.slice(0, 10)).toEqual([]);
      });
    }

    it('f32_pack_b packs B and Bᵀ into zero-padded 8-column panels', () => {
      const rnd2 = lcg(11);
      for (const [K, N] of [
        [1, 1],
        [3, 7],
        [5, 8],
        [9, 17],
        [40, 33],
        [2, 64],
      ] as const) {
        const B = rand(rnd2, K * N);
        const Bt = new Float32Array(N * K);
        for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) Bt[n * K + k] = B[k * N + n]!;
        const want = packRef(K, N, B);
        for (const transB of [false, true]) {
          const m = w.mark();
          const src = w.putF32(transB ? Bt : B);
          const bp = w.alloc(w.exports.f32_packed_b_size(K, N) * 4);
          w.f32(bp, want.length).fill(NaN);
          w.exports.f32_pack_b(K, N, src, transB ? K : N, transB ? 1 : 0, bp);
          expect(Array.from(w.f32(bp, want.length)), `K=${K} N=${N} transB=${transB}`).toEqual(Array.from(want));
          w.release(m);
        }
      }
    });

    it('a single row (the 1x32 tile of f32_gemm__wasmsimd) gives the 1x8 tile bit for bit: every activation, bias mode, N around the 32-column blocks', () => {
      // the 1x32 tile runs 4 panels at once but sums each output in the same k order: the bits
      // must not change
      const rnd2 = lcg(23);
      const failures: string[] = [];
      let i = 0;
      for (const N of [1, 7, 8, 31, 32, 33, 40, 63, 64, 65, 96, 100, 257])
        for (const K of [1, 3, 16, 37, 130]) {
          const act = i % 9,
            biasMode = (i % 3) as BiasMode;
          i++;
          const [lo, hi] = act === 1 ? [-0.25, 0.5] : act === 5 ? [0.2, 0.5] : [0, 0];
          const A = rand(rnd2, K),
            B = rand(rnd2, K * N);
          if (i % 5 === 0) {
            A[0] = NaN;
            B[N - 1] = Infinity;
          }
          const bias = biasMode === 0 ? undefined : rand(rnd2, biasMode === 1 ? 1 : N);
          const m = w.mark();
          try {
            const a = w.putF32(A),
              braw = w.putF32(B);
            const bp = w.alloc(w.exports.f32_packed_b_size(K, N) * 4);
            w.exports.f32_pack_b(K, N, braw, N, 0, bp);
            const bptr = bias ? w.putF32(bias) : 0;
            const out = (name: 'f32_gemm__wasmsimd' | 'f32_gemm_1x8__wasmsimd' | 'f32_gemm_1x32__wasmsimd'): Uint32Array => {
              const c = w.alloc((N + 8) * 4);
              w.f32(c, N + 8).fill(SENTINEL);
              w.exports[name](1, N, K, a, K, bp, c, N, bptr, biasMode, act, lo, hi);
              return new Uint32Array(w.f32(c, N + 8).slice().buffer);
            };
            const want = out('f32_gemm_1x8__wasmsimd');
            for (const name of ['f32_gemm__wasmsimd', 'f32_gemm_1x32__wasmsimd'] as const) {
              const got = out(name);
              if (got.some((v, j) => v !== want[j])) failures.push(`${name} N=${N} K=${K} act=${act} bias=${biasMode}`);
            }
          } finally {
            w.release(m);
          }
        }
      expect(failures).toEqual([]);
    });

    it('K = 0 gives act(bias); M or N = 0 writes nothing', () => {
      for (const kernel of F32_GEMM_KERNELS) {
        const bias = Float32Array.from([1, -2, 3]);
        expect(
          Array.from(gemmF32(w, 3, 2, 0, new Float32Array(0), new Float32Array(0), { bias, act: 'relu', kernel })),
          kernel.name,
        ).toEqual([1, 1, 0, 0, 3, 3]);
        expect(
          Array.from(gemmF32(w, 2, 3, 0, new Float32Array(0), new Float32Array(0), { bias, biasPer: 'col', kernel })),
          kernel.name,
        ).toEqual([1, -2, 3, 1, -2, 3]);
        const m = w.mark();
        const c = w.alloc(16);
        w.f32(c, 4).fill(SENTINEL);
        kernel.run(w, 0, 4, 3, c, 3, c, c, 4, 0, 0, 0, 0, 0);
        kernel.run(w, 4, 0, 3, c, 3, c, c, 4, 0, 0, 0, 0, 0);
        expect(Array.from(w.f32(c, 4))).toEqual([SENTINEL, SENTINEL, SENTINEL, SENTINEL]);
        w.release(m);
      }
    });

    it('gemmF32 with transB (ONNX Gemm transB=1) matches gemmRef', () => {
      const rnd2 = lcg(5);
      const [M, N, K] = [3, 10, 64];
      const A = rand(rnd2, M * K),
        Bt = rand(rnd2, N * K),
        bias = rand(rnd2, N);
      const B = new Float32Array(K * N);
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) B[k * N + n] = Bt[n * K + k]!;
      const got = gemmF32(w, M, N, K, A, Bt, { bias, biasPer: 'col', transB: true });
      const ref = gemmRef(M, N, K, A, B, undefined, { bias, biasPer: 'col' });
      const absSum = gemmRef(M, N, K, abs(A), abs(B), undefined, { bias: abs(bias), biasPer: 'col' });
      expect(mismatches(got, ref, absSum, K)).toEqual([]);
    });
  });
}

// ---- conv ------------------------------------------------------------------------------

interface ConvCase {
  name: string;
  xDims: [number, number, number, number];
  wDims: [number, number, number, number];
  attrs: Conv2dAttrs;
  bias: boolean;
  act: Act;
}

const RESNET20: Array<[string, number, number, number, number]> = [
  // name, Cin, Cout, input H=W, stride (3x3, pads 1)
  ['3→16 32x32', 3, 16, 32, 1],
  ['16→16 32x32', 16, 16, 32, 1],
  ['16→32 s2', 16, 32, 32, 2],
  ['32→32 16x16', 32, 32, 16, 1],
  ['32→64 s2', 32, 64, 16, 2],
  ['64→64 8x8', 64, 64, 8, 1],
];

function convCases(): ConvCase[] {
  const out: ConvCase[] = [];
  for (const [name, cin, cout, hw, s] of RESNET20) {
    out.push({
      name: `ResNet-20 ${name}`,
      xDims: [1, cin, hw, hw],
      wDims: [cout, cin, 3, 3],
      attrs: { pads: [1, 1, 1, 1], strides: [s, s], dilations: [1, 1], groups: 1 },
      bias: true,
      act: 'relu',
    });
  }
  out.push({
    name: 'ResNet-20 16→16 no bias, no act',
    xDims: [1, 16, 32, 32],
    wDims: [16, 16, 3, 3],
    attrs: { pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], groups: 1 },
    bias: false,
    act: 'none',
  });
  const rnd = lcg(99);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const spatial: Array<[number, number]> = [
    [5, 7],
    [9, 9],
    [13, 19],
    [17, 33],
    [8, 8],
    [11, 6],
    [3, 1],
  ];
  const padSets: Array<[number, number, number, number]> = [
    [0, 0, 0, 0],
    [1, 1, 1, 1],
    [2, 1, 0, 2],
    [0, 2, 1, 0],
  ];
  let i = 0;
  for (const k of [1, 3, 5, 7])
    for (const s of [1, 2])
      for (const pads of padSets)
        for (const d of [1, 2])
          for (const gk of ['1', '2', 'C'] as const) {
            const C = 6;
            const groups = gk === '1' ? 1 : gk === '2' ? 2 : C;
            const M = gk === 'C' ? pick([6, 12]) : pick([4, 6, 10]);
            const [H, W] = spatial[i % spatial.length]!;
            i++;
            const span = (k - 1) * d + 1;
            if (H + pads[0] + pads[2] < span || W + pads[1] + pads[3] < span) continue;
            out.push({
              name: `k${k} s${s} p${pads.join(',')} d${d} g${gk} ${C}→${M} ${H}x${W}`,
              xDims: [1, C, H, W],
              wDims: [M, C / groups, k, k],
              attrs: { pads, strides: [s, s], dilations: [d, d], groups },
              bias: i % 3 !== 0,
              act: ACTS[i % 3]!,
            });
          }
  // mixed strides/dilations per axis, stride 3, 1x1, a batch of 2, wide rows (many full panels)
  out.push({
    name: 'k3x3 s(1,2) d(2,1) 5→7 10x21',
    xDims: [1, 5, 10, 21],
    wDims: [7, 5, 3, 3],
    attrs: { pads: [1, 0, 2, 1], strides: [1, 2], dilations: [2, 1], groups: 1 },
    bias: true,
    act: 'relu',
  });
  out.push({
    name: 'k3 s3 4→8 20x23',
    xDims: [1, 4, 20, 23],
    wDims: [8, 4, 3, 3],
    attrs: { pads: [1, 1, 1, 1], strides: [3, 3], dilations: [1, 1], groups: 1 },
    bias: true,
    act: 'none',
  });
  out.push({
    name: 'k1 s1 32→16 16x16 (pointwise)',
    xDims: [1, 32, 16, 16],
    wDims: [16, 32, 1, 1],
    attrs: { pads: [0, 0, 0, 0], strides: [1, 1], dilations: [1, 1], groups: 1 },
    bias: true,
    act: 'relu',
  });
  out.push({
    name: 'k3 batch 2, 3→5 9x9',
    xDims: [2, 3, 9, 9],
    wDims: [5, 3, 3, 3],
    attrs: { pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], groups: 1 },
    bias: true,
    act: 'none',
  });
  out.push({
    name: 'depthwise k3 s3 d2 8ch 17x20 asymmetric pads',
    xDims: [1, 8, 17, 20],
    wDims: [8, 1, 3, 3],
    attrs: { pads: [2, 0, 1, 3], strides: [3, 3], dilations: [2, 2], groups: 8 },
    bias: true,
    act: 'relu',
  });
  out.push({
    name: 'depthwise k3 s2 32ch 33x33 x2 multiplier',
    xDims: [1, 32, 33, 33],
    wDims: [64, 1, 3, 3],
    attrs: { pads: [1, 1, 1, 1], strides: [2, 2], dilations: [1, 1], groups: 32 },
    bias: true,
    act: { min: 0, max: 6 },
  });
  return out;
}

for (const variant of ['release', 'debug'] as const) {
  describe(`f32 conv kernels (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });
    const cases = convCases();
    const rnd = lcg(3);
    const data = cases.map((c) => {
      const x = rand(
        rnd,
        c.xDims.reduce((a, b) => a * b, 1),
      );
      const wt = rand(
        rnd,
        c.wDims.reduce((a, b) => a * b, 1),
      );
      const bias = c.bias ? rand(rnd, c.wDims[0]) : undefined;
      const ref = conv2dRef(x, c.xDims, wt, c.wDims, bias, c.attrs, c.act);
      const absSum = conv2dRef(abs(x), c.xDims, abs(wt), c.wDims, bias && abs(bias), c.attrs);
      return { x, wt, bias, ref, absSum, K: c.wDims[1] * c.wDims[2] * c.wDims[3] };
    });

    for (const kernel of F32_CONV_KERNELS) {
      const mine = cases.map((c, i) => [c, i] as const).filter(([c]) => kernel.supports(convGeometry(c.xDims, c.wDims, c.attrs, c.act)));
      it(`${kernel.name} matches conv2dRef on ${mine.length} convs (kernel 1/3/5/7, stride 1/2/3, pads, dilation, groups, ResNet-20)`, () => {
        const failures: string[] = [];
        for (const [c, i] of mine) {
          const d = data[i]!;
          const got = runGuarded(w, kernel, c, d.x, d.wt, d.bias);
          if (typeof got === 'string') {
            failures.push(`${c.name}: ${got}`);
            continue;
          }
          expect(got.dims, c.name).toEqual(d.ref.dims);
          const bad = mismatches(got.data, d.ref.data, d.absSum.data, d.K);
          if (bad.length) failures.push(`${c.name} (x ${c.xDims.join('x')}, w ${c.wDims.join('x')}): ${bad.join('; ')}`);
        }
        expect(failures.slice(0, 10)).toEqual([]);
      });
    }

    it('conv2dF32 picks dwconv for groups = C and the GEMM conv otherwise; batches', () => {
      const c = cases.find((cc) => cc.name.startsWith('k3 batch 2'))!;
      const d = data[cases.indexOf(c)]!;
      const got = conv2dF32(w, d.x, c.xDims, d.wt, c.wDims, d.bias, c.attrs, c.act);
      expect(mismatches(got.data, d.ref.data, d.absSum.data, d.K)).toEqual([]);
      expect(
        planConv(w, convGeometry([8, 5, 5], [8, 1, 3, 3], { pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], groups: 8 })).kernel
          .name,
      ).toBe('f32_dwconv__wasmsimd');
    });

    it('rejects inconsistent geometry with a status (nothing written)', () => {
      const geo = convGeometry([4, 8, 8], [4, 4, 3, 3], { pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], groups: 1 });
      const igemm = F32_CONV_KERNELS.find((k) => k.name === 'f32_conv2d_igemm_4x8__wasmsimd')!;
      const dw = F32_CONV_KERNELS.find((k) => k.name === 'f32_dwconv__wasmsimd')!;
      const m = w.mark();
      const g = w.alloc(80);
      for (const [field, value] of [
        [6, 7],
        [16, 3],
        [12, 0],
        [8, -1],
        [4, 0],
      ] as const) {
        writeConvGeometry(w, geo, g);
        new Int32Array(w.memory.buffer, g, 20)[field] = value;
        expect(w.exports.f32_conv2d_igemm_work_bytes(g), `field ${field}`).toBe(-5);
        expect(w.exports.f32_dwconv_work_bytes(g), `field ${field}`).toBe(-5);
        expect(w.exports.f32_dwconv__wasmsimd(g, 0, 0, 0, 0, 0), `field ${field}`).toBe(-5);
        expect(w.exports.f32_conv2d_igemm_4x8__wasmsimd(g, 0, 0, 0, 0, 0), `field ${field}`).toBe(-5);
        expect(() => runConv(w, { geo, kernel: igemm, g, workBytes: 0 }, 0, 0, 0, 0, 0), `field ${field}`).toThrow(SparrowError);
      }
      // consistent but far too large for 32-bit addressing
      new Int32Array(w.memory.buffer, g, 20).set([4096, 65536, 65536, 4, 3, 3, 65536, 65536, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
      expect(w.exports.f32_conv2d_igemm_work_bytes(g)).toBe(-5);
      expect(w.exports.f32_conv2d_igemm_4x8__wasmsimd(g, 0, 0, 0, 0, 0)).toBe(-5);
      writeConvGeometry(w, geo, g);
      expect(() => runConv(w, { geo, kernel: dw, g, workBytes: 0 }, 0, 0, 0, 0, 0)).toThrow(SparrowError); // groups ≠ C
      w.release(m);
    });
  });
}

/** Runs one conv with guard zones after y and work; the result, or a failure message. */
function runGuarded(
  w: SparrowWasm,
  kernel: ConvKernel,
  c: ConvCase,
  x: Float32Array,
  wt: Float32Array,
  bias: Float32Array | undefined,
): { data: Float32Array; dims: number[] } | string {
  const geo = convGeometry(c.xDims, c.wDims, c.attrs, c.act);
  const B = c.xDims[0],
    inSize = geo.C * geo.H * geo.W,
    outSize = geo.M * geo.OH * geo.OW;
  const GUARD = 16;
  const m = w.mark();
  try {
    const plan = planConv(w, geo, kernel);
    const px = w.putF32(x),
      pw = w.putF32(wt),
      pb = bias ? w.putF32(bias) : 0;
    const py = w.alloc((B * outSize + GUARD) * 4);
    const work = w.alloc(plan.workBytes + GUARD * 4);
    w.f32(py, B * outSize + GUARD).fill(SENTINEL);
    w.f32(work + plan.workBytes, GUARD).fill(SENTINEL);
    for (let b = 0; b < B; b++) runConv(w, plan, px + b * inSize * 4, pw, pb, py + b * outSize * 4, work);
    const yv = w.f32(py, B * outSize + GUARD),
      wv = w.f32(work + plan.workBytes, GUARD);
    for (let j = 0; j < GUARD; j++) {
      if (yv[B * outSize + j] !== SENTINEL) return 'wrote past y';
      if (wv[j] !== SENTINEL) return `wrote past work (${plan.workBytes} bytes)`;
    }
    return { data: yv.slice(0, B * outSize), dims: [B, geo.M, geo.OH, geo.OW] };
  } finally {
    w.release(m);
  }
}

// ---- ConvTranspose (GEMM + col2im) and resampling --------------------------------------------
//
// f32_deconv2d__wasmsimd and f32_col2im__wasmsimd against deconv2dRef / col2imRef bit for bit
// (the references replay the kernels' float32 operations in the same order, no FMA), over edge
// geometries: odd sizes, 1x1 and 1-row inputs (1-D), kernel 1..5 per axis, stride 1..4 (stride >
// kernel leaves output holes holding the bias), dilation 1..3, begin pads 0..3 (pads wider than
// the kernel), outputs cut short or longer than the full size (output_padding / output_shape),
// channel counts around the 4-wide transpose blocks, inputs larger than one chunk; then whole
// convolutions with groups and a batch through deconv2dF32 against the op's float64 reference
// kernel (src/ops/ref/convtranspose.ts) within the float32 rounding bound (K+3)·u·S.

function deconvCases(): Array<{ name: string; geo: Deconv2dGeometry; bias: boolean }> {
  const rnd = lcg(2024);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const out: Array<{ name: string; geo: Deconv2dGeometry; bias: boolean }> = [];
  const add = (geo: Omit<Deconv2dGeometry, 'OH' | 'OW'> & { extra?: [number, number] }, bias: boolean) => {
    const full = (I: number, K: number, s: number, d: number) => (I - 1) * s + (K - 1) * d + 1;
    const [eh, ew] = geo.extra ?? [0, 0];
    const OH = full(geo.H, geo.KH, geo.strides[0], geo.dilations[0]) - 2 * geo.pads[0] + eh;
    const OW = full(geo.W, geo.KW, geo.strides[1], geo.dilations[1]) - 2 * geo.pads[1] + ew;
    if (OH < 1 || OW < 1) return;
    const { extra: _e, ...rest } = geo;
    const g: Deconv2dGeometry = { ...rest, OH, OW };
    out.push({
      name: `C${g.C} M${g.M} ${g.H}x${g.W} k${g.KH}x${g.KW} s${g.strides} d${g.dilations} p${g.pads} out ${OH}x${OW} act ${JSON.stringify(g.act)}`,
      geo: g,
      bias,
    });
  };
  // the zoo's decoder layers (k4 s2 p1), scaled down
  add({ C: 32, H: 7, W: 9, M: 16, KH: 4, KW: 4, pads: [1, 1], strides: [2, 2], dilations: [1, 1], act: 'relu' }, true);
  add({ C: 16, H: 14, W: 13, M: 3, KH: 4, KW: 4, pads: [1, 1], strides: [2, 2], dilations: [1, 1], act: 'none' }, true);
  // larger than one chunk (P > 32768 / (C + M·KH·KW))
  add({ C: 8, H: 23, W: 19, M: 7, KH: 5, KW: 5, pads: [2, 1], strides: [1, 2], dilations: [1, 1], act: 'none' }, true);
  add({ C: 5, H: 40, W: 41, M: 4, KH: 3, KW: 3, pads: [0, 0], strides: [2, 2], dilations: [1, 1], act: { min: -0.3, max: 0.4 } }, false);
  // 1-D (one input row, KH = 1) and a 1x1 input
  add({ C: 3, H: 1, W: 37, M: 5, KH: 1, KW: 4, pads: [0, 1], strides: [1, 3], dilations: [1, 1], act: 'none', extra: [0, 2] }, true);
  add({ C: 2, H: 1, W: 1, M: 3, KH: 3, KW: 3, pads: [0, 0], strides: [1, 1], dilations: [1, 1], act: 'none' }, true);
  for (let i = 0; i < 90; i++) {
    const KH = pick([1, 2, 3, 4, 5]),
      KW = pick([1, 2, 3, 4, 5]);
    const s: [number, number] = [pick([1, 2, 3, 4]), pick([1, 2, 3])];
    const d: [number, number] = [pick([1, 1, 2, 3]), pick([1, 1, 2])];
    add(
      {
        C: pick([1, 2, 3, 4, 5, 7, 8, 9]),
        H: pick([1, 2, 3, 5, 8, 11]),
        W: pick([1, 2, 3, 6, 7, 13, 17]),
        M: pick([1, 2, 3, 4, 6]),
        KH,
        KW,
        pads: [pick([0, 0, 1, 2, 3]), pick([0, 0, 1, 2])],
        strides: s,
        dilations: d,
        act: pick(ACTS),
        extra: [pick([-1, 0, 0, 1, 3]), pick([-2, 0, 0, 1, 4])],
      },
      i % 4 !== 0,
    );
  }
  return out;
}

for (const variant of ['release', 'debug'] as const) {
  describe(`f32 ConvTranspose kernels (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });
    const cases = deconvCases();

    for (const kernel of F32_DECONV_KERNELS) {
      it(`${kernel.name} equals deconv2dRef bit for bit on ${cases.length} geometries (strides > kernel, dilations, pads, 1-D, chunks)`, () => {
        const rnd = lcg(5);
        const failures: string[] = [];
        for (const c of cases) {
          const g = c.geo;
          const x = rand(rnd, g.C * g.H * g.W),
            wt = rand(rnd, g.C * g.M * g.KH * g.KW),
            bias = c.bias ? rand(rnd, g.M) : undefined;
          const want = deconv2dRef(g, x, wt, bias);
          const m = w.mark();
          try {
            const gp = w.alloc(CONV_GEOMETRY_BYTES);
            writeDeconvGeometry(w, g, gp);
            const workBytes = kernel.workBytes(w, gp);
            const N = g.M * g.KH * g.KW,
              Q = g.M * g.OH * g.OW,
              GUARD = 16;
            const raw = w.putF32(wt);
            const bp = w.alloc(w.exports.f32_packed_b_size(g.C, N) * 4);
            w.exports.f32_pack_b(g.C, N, raw, N, 0, bp);
            const px = w.putF32(x),
              pb = bias ? w.putF32(bias) : 0;
            const py = w.alloc((Q + GUARD) * 4),
              pw = w.alloc(workBytes + GUARD * 4);
            w.f32(py, Q + GUARD).fill(SENTINEL);
            w.f32(pw + workBytes, GUARD).fill(SENTINEL);
            const st = kernel.run(w, gp, px, bp, pb, py, pw);
            const got = w.f32(py, Q + GUARD);
            const guards = got.subarray(Q).every((v) => v === SENTINEL) && w.f32(pw + workBytes, GUARD).every((v) => v === SENTINEL);
            const bad = [...want.keys()].filter((i) => !Object.is(got[i], want[i]));
            if (st !== 0 || !guards || bad.length)
              failures.push(
                `${c.name}: status ${st}${guards ? '' : ', wrote past y or work'}; ${bad.length} differ` +
                  (bad.length ? ` (first [${bad[0]}] ${got[bad[0]!]} vs ${want[bad[0]!]})` : ''),
              );
          } finally {
            w.release(m);
          }
        }
        expect(failures.slice(0, 10)).toEqual([]);
      });
    }

    for (const kernel of F32_COL2IM_KERNELS) {
      it(`${kernel.name} equals col2imRef bit for bit on every geometry and pixel range`, () => {
        const rnd = lcg(6);
        const failures: string[] = [];
        for (const c of cases) {
          const g = c.geo;
          const P = g.H * g.W,
            N = g.M * g.KH * g.KW,
            Q = g.M * g.OH * g.OW;
          const p0 = Math.floor(rnd() * P),
            p1 = p0 + Math.floor(rnd() * (P - p0 + 1));
          const cols = rand(rnd, Math.max(1, (p1 - p0) * N)),
            y0 = rand(rnd, Q);
          const want = y0.slice();
          col2imRef(g, cols, p0, p1, want);
          const m = w.mark();
          try {
            const gp = w.alloc(CONV_GEOMETRY_BYTES);
            writeDeconvGeometry(w, g, gp);
            const pc = w.putF32(cols),
              py = w.alloc((Q + 16) * 4);
            w.f32(py, Q + 16).set(y0);
            w.f32(py + Q * 4, 16).fill(SENTINEL);
            kernel.run(w, gp, pc, p0, p1, py);
            const got = w.f32(py, Q + 16);
            const bad = [...want.keys()].filter((i) => !Object.is(got[i], want[i]));
            if (bad.length || !got.subarray(Q).every((v) => v === SENTINEL))
              failures.push(`${c.name} p ${p0}..${p1}: ${bad.length} differ`);
          } finally {
            w.release(m);
          }
        }
        expect(failures.slice(0, 10)).toEqual([]);
      });
    }

    it('deconv2dF32 with groups and a batch matches the ConvTranspose reference kernel within float32 rounding', () => {
      const rnd = lcg(8);
      const failures: string[] = [];
      for (const c of cases.filter((_, i) => i % 3 === 0)) {
        for (const groups of [1, 2, 3]) {
          const g = c.geo,
            B = 2;
          const x = rand(rnd, B * groups * g.C * g.H * g.W),
            wt = rand(rnd, groups * g.C * g.M * g.KH * g.KW),
            bias = c.bias ? rand(rnd, groups * g.M) : undefined;
          const got = deconv2dF32(w, x, B, wt, bias, g, groups);
          // the op reference (float64) on the same data: pads [top, left, bottom, right] with the
          // end pads that give OH/OW (negative when the output is longer: output_shape instead)
          const full = (I: number, K: number, s: number, d: number) => (I - 1) * s + (K - 1) * d + 1;
          const attrs = {
            group: groups,
            kernel_shape: [g.KH, g.KW],
            strides: g.strides,
            dilations: g.dilations,
            output_shape: [g.OH, g.OW],
            pads: [...g.pads, 0, 0],
          };
          const fh = full(g.H, g.KH, g.strides[0], g.dilations[0]),
            fw = full(g.W, g.KW, g.strides[1], g.dilations[1]);
          // output_shape re-derives the begin pads from the total; use it only when that gives ours
          const totalH = Math.max(0, fh - g.OH),
            totalW = Math.max(0, fw - g.OW);
          if (totalH - Math.floor(totalH / 2) !== g.pads[0] || totalW - Math.floor(totalW / 2) !== g.pads[1]) continue;
          const ctx = { opset: 13, node: 'n' };
          const run = (xs: Float32Array, ws: Float32Array, bs: Float32Array | undefined) =>
            convTranspose(
              [
                { dtype: 'float32', dims: [B, groups * g.C, g.H, g.W], data: xs },
                { dtype: 'float32', dims: [groups * g.C, g.M, g.KH, g.KW], data: ws },
                ...(bs ? [{ dtype: 'float32' as const, dims: [groups * g.M], data: bs }] : []),
              ],
              {
                group: attrs.group,
                kernel_shape: attrs.kernel_shape,
                strides: attrs.strides,
                dilations: attrs.dilations,
                output_shape: attrs.output_shape,
              },
              ctx,
            )[0]!.data as Float32Array;
          const ref = run(x, wt, bias).map((v) => {
            const [lo, hi] = actBounds(g.act);
            return Math.min(Math.max(v, lo), hi);
          });
          const absSum = run(abs(x), abs(wt), bias && abs(bias));
          const bad = mismatches(got, ref, absSum, g.C * g.KH * g.KW);
          if (bad.length) failures.push(`${c.name} groups ${groups}: ${bad.join('; ')}`);
        }
      }
      expect(failures.slice(0, 10)).toEqual([]);
    });

    it('rejects inconsistent geometry with a status (nothing written)', () => {
      const geo: Deconv2dGeometry = {
        C: 4,
        H: 5,
        W: 5,
        M: 3,
        KH: 3,
        KW: 3,
        OH: 9,
        OW: 9,
        pads: [1, 1],
        strides: [2, 2],
        dilations: [1, 1],
        act: 'none',
      };
      const m = w.mark();
      const g = w.alloc(80);
      const y = w.alloc(16);
      for (const [field, value] of [
        [0, 0],
        [3, -1],
        [6, 0],
        [8, -1],
        [12, 0],
        [15, 0],
        [16, 2],
        [1, 1 << 30],
      ] as const) {
        writeDeconvGeometry(w, geo, g);
        new Int32Array(w.memory.buffer, g, 20)[field] = value;
        expect(w.exports.f32_deconv2d_work_bytes(g), `field ${field}`).toBe(-5);
        w.f32(y, 4).fill(SENTINEL);
        expect(w.exports.f32_deconv2d__wasmsimd(g, 0, 0, 0, y, 0), `field ${field}`).toBe(-5);
        expect(Array.from(w.f32(y, 4))).toEqual([SENTINEL, SENTINEL, SENTINEL, SENTINEL]);
      }
      w.release(m);
    });
  });
}

/** A random resampling: each axis copied (n = 0) or n taps per output, some outputs extrapolated. */
function resampleCase(
  rnd: () => number,
  n: [number, number],
  sizes: [number, number, number, number],
  planes: number,
  extrap: boolean,
): Resample2d {
  const [H, W, OH0, OW0] = sizes;
  const axis = (taps: number, inSize: number, outSize: number): ResampleAxis => {
    if (taps === 0) return { n: 0, idx: new Int32Array(0), weight: new Float32Array(0) };
    const idx = Int32Array.from({ length: outSize * taps }, () => Math.floor(rnd() * inSize));
    const weight = Float32Array.from({ length: outSize * taps }, () => rnd() * 2 - 0.5);
    if (extrap) for (let o = 0; o < outSize; o++) if (rnd() < 0.2) idx[o * taps] = -1;
    return { n: taps, idx, weight };
  };
  const OH = n[0] === 0 ? H : OH0,
    OW = n[1] === 0 ? W : OW0;
  return { planes, H, W, OH, OW, rows: axis(n[0], H, OH), cols: axis(n[1], W, OW), extrapolation: rnd() * 4 - 2 };
}

for (const variant of ['release', 'debug'] as const) {
  describe(`f32 resampling kernels (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });
    const rnd = lcg(77);
    const cases: Resample2d[] = [];
    for (const nh of [0, 1, 2, 3, 4, 6])
      for (const nw of [0, 1, 2, 4, 5])
        for (const sizes of [
          [1, 1, 1, 1],
          [1, 7, 1, 15],
          [5, 3, 11, 9],
          [8, 8, 3, 2],
          [13, 17, 26, 34],
          [4, 32, 32, 256],
        ] as Array<[number, number, number, number]>)
          cases.push(resampleCase(rnd, [nh, nw], sizes, 1 + Math.floor(rnd() * 3), rnd() < 0.4));

    for (const kernel of F32_RESAMPLE_KERNELS) {
      it(`${kernel.name} equals resample2dRef bit for bit on ${cases.length} tables (0..6 taps per axis, copies, extrapolation)`, () => {
        const failures: string[] = [];
        for (const r of cases) {
          const x = rand(rnd, r.planes * r.H * r.W);
          const want = resample2dRef(r, x);
          const m = w.mark();
          try {
            const { desc, workBytes } = writeResampleDesc((d) => w.putBytes(d), r);
            expect(kernel.workBytes(w, desc)).toBe(workBytes);
            const n = r.planes * r.OH * r.OW;
            const px = w.putF32(x),
              py = w.alloc((n + 16) * 4),
              pw = w.alloc(workBytes + 64);
            w.f32(py, n + 16).fill(SENTINEL);
            w.f32(pw + workBytes, 16).fill(SENTINEL);
            kernel.run(w, desc, px, py, pw);
            const got = w.f32(py, n + 16);
            const bad = [...want.keys()].filter((i) => !Object.is(got[i], want[i]));
            const guards = got.subarray(n).every((v) => v === SENTINEL) && w.f32(pw + workBytes, 16).every((v) => v === SENTINEL);
            if (bad.length || !guards)
              failures.push(
                `n ${r.rows.n}/${r.cols.n} ${r.planes}x${r.H}x${r.W} → ${r.OH}x${r.OW}: ${bad.length} differ${guards ? '' : ', wrote past y or work'}` +
                  (bad.length ? ` (first [${bad[0]}] ${got[bad[0]!]} vs ${want[bad[0]!]})` : ''),
              );
          } finally {
            w.release(m);
          }
        }
        expect(failures.slice(0, 10)).toEqual([]);
      });
    }

    it('resample2dF32 propagates NaN and Inf through zero-weight taps as the reference does', () => {
      const r: Resample2d = {
        planes: 1,
        H: 2,
        W: 2,
        OH: 1,
        OW: 2,
        rows: { n: 2, idx: Int32Array.of(0, 1), weight: Float32Array.of(1, 0) },
        cols: { n: 2, idx: Int32Array.of(0, 1, 1, 0), weight: Float32Array.of(1, 0, 0.5, 0.5) },
        extrapolation: 0,
      };
      const x = Float32Array.of(1, 2, Infinity, 3); // row 1 has weight 0 and holds an Inf
      const got = resample2dF32(w, r, x);
      expect(Array.from(got)).toEqual(Array.from(resample2dRef(r, x)));
      expect(Array.from(got).every(Number.isNaN)).toBe(true);
    });
  });
}

// The vector activation functions (assembly/f32ops/vec.ts, unary.ts) against float64 math: the
// error of sigmoid / SiLU over a dense sweep of float32 inputs and at the edges (the underflow
// cutoff, ±Inf, NaN, ±0), and the fused post activations of the GEMM against applyAct.
describe('f32 activation functions', () => {
  let w: SparrowWasm;
  beforeAll(async () => {
    w = await loadWasmNode();
  });

  const sweep = (): Float32Array => {
    const xs: number[] = [NaN, Infinity, -Infinity, 0, -0, 87.3365, -87.3365, 87.34, -87.34, 88.8, -88.8, 1e-30, -1e-30, 3.4e38, -3.4e38];
    for (let i = -200_000; i <= 200_000; i++) xs.push(i / 2000);
    for (let e = -40; e <= 7; e++) xs.push(2 ** e, -(2 ** e), 1.37 * 2 ** e, -1.37 * 2 ** e);
    return Float32Array.from(xs);
  };

  const run = (name: 'f32_sigmoid__wasmsimd' | 'f32_silu__wasmsimd', x: Float32Array): Float32Array => {
    const m = w.mark();
    try {
      const p = w.alloc(x.length * 4 + 16);
      w.f32(p, x.length).set(x);
      w.exports[name](p, p, x.length);
      return w.f32(p, x.length).slice();
    } finally {
      w.release(m);
    }
  };

  it('sigmoid and SiLU: within 4 ulp of float64 math (0 allowed below the smallest normal), NaN stays NaN', () => {
    const x = sweep();
    for (const [name, f] of [
      ['f32_sigmoid__wasmsimd', (v: number) => 1 / (1 + Math.exp(-v))],
      ['f32_silu__wasmsimd', (v: number) => v / (1 + Math.exp(-v))],
    ] as const) {
      const y = run(name, x);
      let worst = 0,
        at = 0;
      for (let i = 0; i < x.length; i++) {
        const want = f(x[i]!);
        if (Number.isNaN(want)) {
          expect(Number.isNaN(y[i]!), `${name}(${x[i]})`).toBe(true);
          continue;
        }
        const err = Math.abs(y[i]! - want);
        // where the sigmoid is below the smallest normal float32 it may flush to 0 (so SiLU to 0 too)
        const sig = 1 / (1 + Math.exp(-x[i]!));
        const score =
          sig < 1.2e-38 ? (err <= Math.max(1, Math.abs(x[i]!)) * 1.2e-38 ? 0 : Infinity) : err / (Math.abs(want) * 2 ** -23 || 2 ** -149);
        if (score > worst) {
          worst = score;
          at = x[i]!;
        }
      }
      expect(worst, `${name}: worst error ${worst} ulp at x = ${at}`).toBeLessThanOrEqual(4);
    }
  });

  it('HardSwish: bit for bit x·max(0, min(1, x/6 + 0.5)) in float32 (each op rounded), NaN, ±Inf, ±0, the ±3 edges, random bit patterns', () => {
    const r = lcg(15);
    const edges = [NaN, Infinity, -Infinity, 0, -0, 3, -3, 1e-45, -1e-45, 3.4e38, -3.4e38].flatMap((v) => {
      const b = new Float32Array([v]);
      const u = new Uint32Array(b.buffer);
      const near = [v];
      if (Number.isFinite(v) && v !== 0)
        for (const d of [-2, -1, 1, 2]) near.push(new Float32Array(new Uint32Array([u[0]! + d]).buffer)[0]!);
      return near;
    });
    const bits = new Uint32Array(4000);
    for (let i = 0; i < bits.length; i++) bits[i] = Math.floor(r() * 2 ** 32);
    const x = Float32Array.from([...edges, ...new Float32Array(bits.buffer), ...Array.from({ length: 4001 }, (_, i) => (i - 2000) / 250)]);
    const f = Math.fround;
    const m = w.mark();
    try {
      const p = w.alloc(x.length * 4 + 16);
      w.f32(p, x.length).set(x);
      w.exports.f32_hardswish__wasmsimd(p, p, x.length);
      const y = w.f32(p, x.length);
      const bad: string[] = [];
      for (let i = 0; i < x.length; i++) {
        const v = x[i]!;
        const want = f(v * Math.max(0, Math.min(1, f(f(v / 6) + 0.5))));
        if (!Object.is(y[i], want) && !(Number.isNaN(y[i]!) && Number.isNaN(want))) bad.push(`x=${v}: ${y[i]} want ${want}`);
      }
      expect(bad.slice(0, 5)).toEqual([]);
    } finally {
      w.release(m);
    }
  });

  it('the GEMM applies every post activation as applyAct does (within float32 rounding of the functions)', () => {
    const M = 6,
      N = 11,
      K = 5;
    const r = lcg(77);
    const A = Float32Array.from({ length: M * K }, () => (r() - 0.5) * 6),
      B = Float32Array.from({ length: K * N }, () => (r() - 0.5) * 2),
      bias = Float32Array.from({ length: N }, () => r() - 0.5);
    const acts: Act[] = [
      { fn: 'sigmoid' },
      { fn: 'silu' },
      { fn: 'hardswish' },
      { fn: 'hardsigmoid', alpha: 0.3, beta: 0.4 },
      { fn: 'tanh' },
      { fn: 'gelu' },
      { fn: 'gelu_tanh' },
    ];
    for (const act of acts) {
      for (const kernel of F32_GEMM_KERNELS) {
        const got = gemmF32(w, M, N, K, A, B, { bias, biasPer: 'col', act, kernel });
        const want = gemmRef(M, N, K, A, B, undefined, { bias, biasPer: 'col', act });
        for (let i = 0; i < got.length; i++)
          expect(Math.abs(got[i]! - want[i]!), `${kernel.name} ${JSON.stringify(act)} [${i}]`).toBeLessThanOrEqual(
            2e-6 + 2e-6 * Math.abs(want[i]!),
          );
      }
    }
  });
});
