// Every int8 WASM kernel (src/kernels/int8.ts lists them) against the plain TS references
// (src/kernels/int8_ref.ts), bit for bit, release (-O3 noAssert) and debug builds: conv over
// kernel/stride/pads/dilation/groups sweeps (dense, sparse CSR with all-zero and dense rows,
// depthwise; every weight format each kernel takes, the sparse conv's csr16 written in place by
// the WASM decoder from each codec as the engine does, or from a dense matrix by the driver), the packed GEMM and the FC kernels over M/N/K below/at/above the tiles, every
// output mode (int8 requantized, float32 dynamic, int32), extreme values and zero points,
// multipliers near 1, ≥ 1 (left shifts) and tiny; Add, pooling, quantize/dequantize; output
// guard bytes; status codes. The requantization reference itself is checked against an
// independent BigInt computation of the TFLite formulas, plus fast-check properties.
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { convGeometry, writeConvGeometry } from '../src/kernels/f32.js';
import { ACT_CODE, type Conv2dAttrs } from '../src/kernels/f32_ref.js';
import {
  QS8_CONV_KERNELS,
  QS8_FC_KERNELS,
  channelParamsBytes,
  outElementBytes,
  placeConvWeights,
  planQs8Conv,
  putChannelParams,
  qs8Add,
  qs8Vadd,
  qs8VaddF32,
  writeVaddF32Params,
  qs8Conv2d,
  qs8Dequantize,
  qs8Fc,
  qs8Gemm,
  qs8GlobalAvgPool,
  qs8MaxPool,
  qs8Quantize,
  runQs8Conv,
  csrLayout,
  type Qs8ConvKernel,
  type Qs8Out,
  type Qs8WeightFormat,
} from '../src/kernels/int8.js';
import {
  addParams,
  vaddParams,
  qs8VaddRef,
  qs8VaddF32Ref,
  qs8MulRowsRef,
  csrFromDense,
  csrToDense,
  csrToPairBlocks,
  dequantizeRef,
  minMaxRef,
  mulQRef,
  qs8AddRef,
  qs8Conv2dRef,
  qs8FcRef,
  qs8GemmRef,
  qs8GlobalAvgPoolRef,
  qs8MaxPoolRef,
  quantizeRef,
  rdbpotRef,
  requantizeRef,
  srdhmRef,
  type Csr,
  type PairBlocks,
  type Qs8Data,
} from '../src/kernels/int8_ref.js';
import { dequantizeLinear, quantizeLinear, quantizeMultiplier } from '../src/quant/int8.js';

const fr = Math.fround;
import { encodeHuffman, encodeRaw, encodeRleHuffman, encodeRleRows, type EncodedInt8 } from '../src/codec/int8.js';
import { lcg } from './helpers/tensors.js';

const I32_MIN = -2147483648,
  I32_MAX = 2147483647;

// ---- independent BigInt versions of the TFLite formulas ----------------------------------------

function srdhmBig(a: number, b: number): number {
  if (a === I32_MIN && b === I32_MIN) return I32_MAX;
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return Number((ab + nudge) / (1n << 31n)); // BigInt division truncates toward zero, as C++
}

function rdbpotBig(x: number, e: number): number {
  // round(x / 2^e), ties away from zero, from exact rationals
  const X = BigInt(x),
    D = 1n << BigInt(e);
  const q = X / D,
    r = X % D; // truncated
  const twice = 2n * (r < 0n ? -r : r);
  const adj = twice >= D && e > 0 ? (X < 0n ? -1n : 1n) : 0n;
  return Number(q + adj);
}

const EDGE32 = [
  I32_MIN,
  I32_MIN + 1,
  -(2 ** 30) - 1,
  -(2 ** 30),
  -(2 ** 30) + 1,
  -65537,
  -65536,
  -32768,
  -3,
  -2,
  -1,
  0,
  1,
  2,
  3,
  32767,
  65535,
  65536,
  2 ** 30 - 1,
  2 ** 30,
  2 ** 30 + 1,
  I32_MAX - 1,
  I32_MAX,
];

describe('int8 requantization reference (vs BigInt)', () => {
  it('srdhmRef equals the BigInt TFLite formula on edge values and 200k random pairs', () => {
    const rnd = lcg(1);
    const bad: string[] = [];
    const chk = (a: number, b: number) => {
      const g = srdhmRef(a, b),
        w = srdhmBig(a, b);
      if (g !== w && bad.length < 5) bad.push(`a=${a} b=${b}: ${g} vs ${w}`);
    };
    for (const a of EDGE32) for (const b of EDGE32) chk(a, b);
    for (let i = 0; i < 200_000; i++)
      chk((rnd() * 2 ** 32) | 0, i % 3 === 0 ? (rnd() * 2 ** 32) | 0 : 2 ** 30 + Math.floor(rnd() * 2 ** 30));
    expect(bad).toEqual([]);
  });

  it('rdbpotRef rounds x / 2^e to nearest, ties away from zero, for every e in 0..31', () => {
    const rnd = lcg(2);
    const bad: string[] = [];
    for (let e = 0; e <= 31; e++) {
      const xs = [
        ...EDGE32,
        ...Array.from({ length: 3000 }, () => (rnd() * 2 ** 32) | 0),
        ...[-3, -1, 1, 3].map((k) => (k * 2 ** Math.max(0, e - 1)) | 0),
      ];
      for (const x of xs) {
        const g = rdbpotRef(x, e),
          w = rdbpotBig(x, e);
        if (g !== w && bad.length < 5) bad.push(`x=${x} e=${e}: ${g} vs ${w}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('quantizeMultiplier: M0 in [2^30, 2^31), |M0·2^(−31−shift) − real| ≤ 2^(−32−shift)', () => {
    const reals = [
      1e-12,
      2 ** -33,
      2 ** -32,
      2 ** -31,
      1e-9,
      1e-6,
      0.001,
      0.25,
      0.5,
      0.5 - 1e-12,
      0.75,
      0.99999,
      1 - 2 ** -40,
      1,
      1.5,
      3,
      1000,
      123456.789,
    ];
    const rnd = lcg(3);
    for (let i = 0; i < 2000; i++) reals.push(2 ** (rnd() * 40 - 32));
    for (const r of reals) {
      const { multiplier: m, shift } = quantizeMultiplier(r);
      if (m === 0) {
        expect(r).toBeLessThan(2 ** -31);
        continue;
      }
      expect(m, `real ${r}`).toBeGreaterThanOrEqual(2 ** 30);
      expect(m, `real ${r}`).toBeLessThan(2 ** 31);
      expect(Math.abs(m * 2 ** (-31 - shift) - r), `real ${r}`).toBeLessThanOrEqual(2 ** (-32 - shift));
    }
    expect(quantizeMultiplier(0)).toEqual({ multiplier: 0, shift: 0 });
    expect(() => quantizeMultiplier(-1)).toThrow();
    expect(() => quantizeMultiplier(NaN)).toThrow();
  });

  it('property: requantize(acc) is within 1 of round(acc·real) + zy (float64), clamped', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 24), max: 2 ** 24 }),
        fc.double({ min: 2 ** -20, max: 0.999, noNaN: true }),
        fc.integer({ min: -128, max: 127 }),
        (acc, real, zy) => {
          const { multiplier, shift } = quantizeMultiplier(real);
          const got = requantizeRef(acc, multiplier, shift, zy, -128, 127);
          const want = Math.min(127, Math.max(-128, Math.round(acc * real) + zy));
          return Math.abs(got - want) <= 1;
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('property: mulQRef equals the BigInt composition for any shift in [−8, 31]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -(2 ** 22), max: 2 ** 22 }),
        fc.integer({ min: 2 ** 30, max: I32_MAX }),
        fc.integer({ min: -8, max: 31 }),
        (x, m, shift) => {
          const ls = shift < 0 ? -shift : 0,
            rs = shift > 0 ? shift : 0;
          return mulQRef(x, m, shift) === rdbpotBig(srdhmBig((x << ls) | 0, m), rs);
        },
      ),
      { numRuns: 5000 },
    );
  });
});

// ---- kernel sweeps ----------------------------------------------------------------------------

type Mode = Qs8Out['mode'];

interface OutOpts {
  zx: number;
  zy: number;
  multKind: 'normal' | 'near1' | 'tiny' | 'big';
  /** a clamp (every mode), or an activation the float32 output stage fuses (f32 mode; none in the others) */
  act: 'none' | 'relu' | 'clip' | 'sigmoid' | 'silu' | 'hardswish' | 'hardsigmoid';
}

/** The fused activations of the float32 output stage (Qs8Out.act; src/kernels/int8_act_ref.ts). */
const FUSED: Partial<Record<OutOpts['act'], number>> = {
  sigmoid: ACT_CODE.sigmoid,
  silu: ACT_CODE.silu,
  hardswish: ACT_CODE.hardswish,
  hardsigmoid: ACT_CODE.hardsigmoid,
};

/** Output parameters for N channels. */
function makeOut(mode: Mode, N: number, rnd: () => number, o: OutOpts): Qs8Out {
  const ri = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  if (mode === 'int32') return { mode, zx: o.zx, bias: Int32Array.from({ length: N }, () => ri(-50000, 50000)) };
  if (mode === 'f32') {
    const code = FUSED[o.act];
    const [lo, hi] = o.act === 'none' || code ? [-Infinity, Infinity] : o.act === 'relu' ? [0, Infinity] : [-0.3, 0.45];
    return {
      mode,
      zx: o.zx,
      lo,
      hi,
      scale: Float32Array.from({ length: N }, () => 2 ** (rnd() * 10 - 16)),
      bias: Float32Array.from({ length: N }, () => (rnd() - 0.5) * 0.5),
      // HardSigmoid: ONNX's default alpha 0.2 or MobileNetV3's 1/6, beta 0.5
      ...(code ? { act: { code, p0: rnd() < 0.5 ? 0.2 : 1 / 6, p1: 0.5 } } : {}),
    };
  }
  const multiplier = new Int32Array(N),
    shift = new Int32Array(N);
  for (let c = 0; c < N; c++) {
    const real =
      o.multKind === 'near1'
        ? 1 - rnd() * 1e-3
        : o.multKind === 'tiny'
          ? 2 ** (-20 - rnd() * 14)
          : o.multKind === 'big'
            ? 1 + rnd() * 3
            : 2 ** (-4 - rnd() * 10);
    const q = quantizeMultiplier(real);
    multiplier[c] = q.multiplier;
    shift[c] = q.shift;
  }
  const lo = o.act === 'relu' ? o.zy : o.act === 'clip' ? Math.max(-128, o.zy - 40) : -128;
  const hi = o.act === 'clip' ? Math.min(127, o.zy + 50) : 127;
  if (mode === 'qlinear') {
    // ONNX requantization: the float32 multipliers the Q31 ones stand for
    const m = Float32Array.from(multiplier, (q, c) => Math.fround((q / 2 ** 31) * 2 ** -shift[c]!));
    return {
      mode,
      zx: o.zx,
      zy: o.zy,
      lo,
      hi: Math.max(lo, hi),
      bias: Int32Array.from({ length: N }, () => ri(-5000, 5000)),
      multiplier: m,
    };
  }
  return {
    mode,
    zx: o.zx,
    zy: o.zy,
    lo,
    hi: Math.max(lo, hi),
    bias: Int32Array.from({ length: N }, () => ri(-5000, 5000)),
    multiplier,
    shift,
  };
}

function randI8(rnd: () => number, n: number, kind: 'random' | 'extreme' | 'small' = 'random'): Int8Array {
  return Int8Array.from({ length: n }, () =>
    kind === 'extreme' ? (rnd() < 0.5 ? -128 : 127) : kind === 'small' ? Math.floor(rnd() * 9) - 4 : Math.floor(rnd() * 256) - 128,
  );
}

/** Weights (M, K) with a sparsity pattern: density d per weight; row 0 all zero and row 1 dense when M > 2. */
function randWeights(rnd: () => number, M: number, K: number, density: number, extreme: boolean): Int8Array {
  const w = new Int8Array(M * K);
  for (let m = 0; m < M; m++)
    for (let k = 0; k < K; k++) {
      const keep = M > 2 && m === 0 ? false : M > 2 && m === 1 ? true : rnd() < density;
      if (!keep) continue;
      let v = extreme ? (rnd() < 0.5 ? -128 : 127) : Math.floor(rnd() * 255) - 127;
      if (v === 0) v = 1;
      w[m * K + k] = v;
    }
  return w;
}

function sameBits(a: Qs8Data, b: Qs8Data): string | undefined {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  if (a instanceof Float32Array) {
    const ai = new Int32Array(a.buffer, a.byteOffset, a.length),
      bi = new Int32Array(b.buffer, b.byteOffset, b.length);
    for (let i = 0; i < a.length; i++) if (ai[i] !== bi[i]) return `[${i}] got ${a[i]} want ${b[i]}`;
    return undefined;
  }
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `[${i}] got ${a[i]} want ${b[i]}`;
  return undefined;
}

interface ConvCase {
  C: number;
  H: number;
  W: number;
  M: number;
  KH: number;
  KW: number;
  attrs: Conv2dAttrs;
}

function att(pad: number | [number, number, number, number], stride: number | [number, number], groups = 1, dil = 1): Conv2dAttrs {
  const pads: [number, number, number, number] = typeof pad === 'number' ? [pad, pad, pad, pad] : pad;
  const strides: [number, number] = typeof stride === 'number' ? [stride, stride] : stride;
  return { pads, strides, dilations: [dil, dil], groups };
}

function convCases(): ConvCase[] {
  const cases: ConvCase[] = [];
  // 3x3 pads 1, stride 1/2, channels below/at/above the 4-channel block, K odd/even
  for (const [C, M] of [
    [1, 1],
    [1, 4],
    [2, 3],
    [3, 5],
    [4, 8],
    [5, 9],
    [8, 16],
    [16, 17],
  ] as const) {
    for (const hw of [1, 3, 8, 9, 17])
      for (const s of [1, 2]) cases.push({ C, H: hw, W: hw + (s === 2 ? 1 : 0), M, KH: 3, KW: 3, attrs: att(1, s) });
  }
  // 1x1 (pointwise) stride 1/2, no pads; pixels below/at/above 8/16/32
  for (const [C, M] of [
    [1, 1],
    [3, 4],
    [7, 5],
    [16, 16],
    [33, 12],
  ] as const) {
    for (const [H, W] of [
      [1, 1],
      [1, 7],
      [2, 4],
      [3, 11],
      [4, 8],
      [5, 13],
      [8, 8],
    ] as const)
      for (const s of [1, 2]) cases.push({ C, H, W, M, KH: 1, KW: 1, attrs: att(0, s) });
  }
  // asymmetric pads, rectangular kernels, stride 3, dilation, no pads
  cases.push({ C: 3, H: 10, W: 12, M: 6, KH: 2, KW: 5, attrs: att([0, 2, 1, 1], [1, 2]) });
  cases.push({ C: 4, H: 11, W: 9, M: 5, KH: 3, KW: 3, attrs: att(2, 3) });
  cases.push({ C: 2, H: 13, W: 13, M: 4, KH: 3, KW: 3, attrs: att(2, 1, 1, 2) });
  cases.push({ C: 6, H: 7, W: 20, M: 7, KH: 5, KW: 5, attrs: att(0, 1) });
  cases.push({ C: 3, H: 32, W: 32, M: 16, KH: 3, KW: 3, attrs: att(1, 1) });
  // groups (grouped and depthwise, multipliers 1 and 2)
  cases.push({ C: 8, H: 9, W: 9, M: 12, KH: 3, KW: 3, attrs: att(1, 1, 4) });
  cases.push({ C: 6, H: 6, W: 10, M: 6, KH: 1, KW: 1, attrs: att(0, 1, 2) });
  for (const [hw, s, k] of [
    [1, 1, 3],
    [5, 1, 3],
    [9, 2, 3],
    [17, 1, 3],
    [16, 2, 3],
    [12, 3, 3],
    [10, 1, 5],
    [7, 1, 2],
    [11, 2, 1],
  ] as const) {
    cases.push({ C: 5, H: hw, W: hw + 2, M: 5, KH: k, KW: k, attrs: att(k > 1 ? 1 : 0, s, 5) });
  }
  cases.push({ C: 4, H: 9, W: 9, M: 8, KH: 3, KW: 3, attrs: att(1, 1, 4) });
  cases.push({ C: 4, H: 9, W: 14, M: 4, KH: 3, KW: 3, attrs: att(2, 1, 4, 2) });
  // the depthwise pair path (row dilation 1, stride 1 or 2 along rows): 5x5 stride 2, 7x7 (4 tap
  // pairs per row), rectangular with strides (2, 1) and asymmetric pads, row dilation 2 only,
  // a multiplier with stride 2, planes narrower than one 8-column block
  cases.push({ C: 5, H: 13, W: 15, M: 5, KH: 5, KW: 5, attrs: att(2, 2, 5) });
  cases.push({ C: 3, H: 12, W: 19, M: 3, KH: 7, KW: 7, attrs: att(3, 1, 3) });
  cases.push({ C: 4, H: 9, W: 11, M: 4, KH: 3, KW: 5, attrs: att([1, 2, 0, 1], [2, 1], 4) });
  cases.push({ C: 3, H: 11, W: 10, M: 3, KH: 3, KW: 3, attrs: { ...att(2, 1, 3), dilations: [2, 1] } });
  cases.push({ C: 2, H: 10, W: 17, M: 6, KH: 3, KW: 3, attrs: att(1, 2, 2) });
  cases.push({ C: 6, H: 7, W: 3, M: 6, KH: 5, KW: 5, attrs: att(2, 1, 6) });
  // the stride-1 direct sparse kernel's domain (SW = 1, OW % 8 = 0): one or several rows per
  // 16-pixel block, an odd number of 8-pixel groups, SH = 2 with SW = 1, dilation, groups, 1xK
  cases.push({ C: 3, H: 3, W: 8, M: 5, KH: 3, KW: 3, attrs: att(1, 1) });
  cases.push({ C: 5, H: 5, W: 24, M: 6, KH: 3, KW: 3, attrs: att(1, 1) });
  cases.push({ C: 4, H: 9, W: 10, M: 3, KH: 3, KW: 3, attrs: att(0, [2, 1]) });
  cases.push({ C: 6, H: 7, W: 16, M: 9, KH: 3, KW: 3, attrs: att(2, 1, 1, 2) });
  cases.push({ C: 6, H: 5, W: 8, M: 4, KH: 3, KW: 3, attrs: att(1, 1, 2) });
  cases.push({ C: 7, H: 3, W: 20, M: 5, KH: 1, KW: 5, attrs: att([0, 0, 0, 0], 1) });
  // the ResNet-20 layers
  for (const [C, M, hw, s] of [
    [16, 16, 32, 1],
    [16, 32, 32, 2],
    [32, 32, 16, 1],
    [32, 64, 16, 2],
    [64, 64, 8, 1],
  ] as const) {
    cases.push({ C, H: hw, W: hw, M, KH: 3, KW: 3, attrs: att(1, s) });
  }
  return cases;
}

const MODES: Mode[] = ['int8', 'f32', 'int32', 'qlinear'];
const ZX = [-128, 127, 0, -7, 33];
const MULT: OutOpts['multKind'][] = ['normal', 'near1', 'tiny', 'big'];
const ACTS: OutOpts['act'][] = ['none', 'relu', 'clip'];
/** the conv sweep's: the clamps and the fused activations (f32 mode; a fused one is 'none' in the other modes) */
const CONV_ACTS: OutOpts['act'][] = ['none', 'relu', 'clip', 'sigmoid', 'silu', 'hardswish', 'hardsigmoid'];
const DENSITY = [1, 0.3, 0.1, 0.7];
const GUARD = 0x5a;

/**
 * The int8 kernels outside QS8_CONV_KERNELS / QS8_FC_KERNELS, each checked by a test of its
 * own in this file (the peak loop has no output: it only times dot_i16x8_s).
 */
const QS8_KERNELS_TESTED_ALONE = [
  'qs8_gemm_4x8c2__wasmsimd',
  'qs8_conv2d_4x8c2_part__wasmsimd',
  'qs8_wino2x2_3x3_part__wasmsimd', // test/threads.test.ts (panel slices vs qs8Conv2dRef)
  'qs8_wino4x4_3x3__wasmsimd', // test/kernels.int8-wino4.test.ts (exact for weights within its bound only)
  'qs8_wino4x4_3x3_part__wasmsimd', // test/kernels.int8-wino4.test.ts (panel splits = the whole conv)
  'qs8_spconv2d_16x1_part__wasmsimd', // test/threads.test.ts (pixel ranges vs qs8Conv2dRef)
  'qs8_spconv2d_16x1c2_part__wasmsimd', // test/threads.test.ts (pixel ranges vs qs8Conv2dRef)
  'qs8_dwconv2d_part__wasmsimd', // test/threads.test.ts (channel ranges vs qs8Conv2dRef, a part writes only its channels)
  'qs8_add__wasmsimd',
  'qs8_vadd__wasmsimd',
  'qs8_vadd_f32__wasmsimd',
  'qs8_mul_rows_f32__wasmsimd',
  'qs8_gavgpool__wasmsimd',
  'qs8_maxpool2d__wasmsimd',
  'qs8_quantize__wasmsimd',
  'qs8_minmax_f32__wasmsimd',
  'qs8_dynfc_f32__wasmsimd', // test/kernels.int8-dynfc.test.ts
  'qs8_dynfc_f32_finite__wasmsimd', // test/kernels.int8-dynfc.test.ts
  'qs8_dequantize__wasmsimd',
  'qs8_quantize_channels_f32__wasmsimd', // test/quant.int8-wasm.test.ts (against quantizePerChannelInt8)
  'qs8_count_nonzero__wasmsimd',
  'qs8_remap__wasm',
  'qs8_lut__wasmsimd', // test/engine.int8-lut.test.ts
  'qs8_peak__wasmsimd',
];

/**
 * How the conv sweep feeds weights to a kernel, per weight format (typed over every format: a
 * new format does not compile until it is listed here). 'dense': the int8 (M, K) matrix, placed
 * by placeConvWeights (packed, copied, or turned into a CSR); 'decoded <codec>': the matrix
 * encoded with that codec and decoded by the WASM decodeCsr straight into the kernel's csr16
 * layout, as the engine places a pruned conv weight (codec 3 and 2 go from runs to CSR, 1 and
 * 0 through a dense scratch).
 */
type WeightSource = 'dense' | 'decoded rle-rows' | 'decoded rle-huffman' | 'decoded huffman' | 'decoded raw';
const WEIGHT_SOURCES: Record<Qs8WeightFormat, readonly WeightSource[]> = {
  raw: ['dense'],
  c2: ['dense'],
  wino: ['dense'],
  csr16: ['decoded rle-rows', 'dense', 'decoded rle-huffman', 'decoded huffman', 'decoded raw'],
  // the engine's path: decodeCsr into the csr16 layout, then qs8_spconv_pack_pairs
  pairs: ['decoded rle-rows', 'dense', 'decoded huffman'],
};

/** Places wt (M, K) for the kernel from `source` (see WEIGHT_SOURCES); arena memory. */
function placeWeights(
  w: SparrowWasm,
  kernel: Qs8ConvKernel,
  source: WeightSource,
  wt: Int8Array,
  M: number,
  K: number,
  groups: number,
): number {
  if (source === 'dense') return placeConvWeights(w, kernel.weights, wt, M, K, groups);
  if (kernel.weights !== 'csr16' && kernel.weights !== 'pairs') throw new Error(`${source} weights for ${kernel.name}`);
  const enc: EncodedInt8 =
    source === 'decoded rle-rows'
      ? encodeRleRows(wt, K)
      : source === 'decoded rle-huffman'
        ? encodeRleHuffman(wt)
        : source === 'decoded huffman'
          ? encodeHuffman(wt)
          : encodeRaw(wt);
  const nnz = wt.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
  const L = csrLayout(M, nnz, 2);
  const dst = w.alloc(w.exports.qs8_spconv_csr_bytes(M, nnz));
  expect(L.bytes).toBe(w.exports.qs8_spconv_csr_bytes(M, nnz));
  const src = w.putBytes(enc.payload),
    work = w.alloc(w.workBytes(M * K)),
    dense = w.alloc(M * K + 16);
  const got = w.exports.decodeCsr(enc.codec, src, enc.payload.length, M, K, dst, dst + L.col, dst + L.val, nnz, work, dense, 2);
  expect(got, `decodeCsr (${source})`).toBe(nnz);
  if (kernel.weights === 'csr16') return dst;
  const E = csrToPairBlocks(csrFromDense(wt, M, K)).j.length;
  const pairs = w.alloc(w.exports.qs8_spconv_pairs_bytes(M, E));
  expect(w.exports.qs8_spconv_pack_pairs(M, K, dst, pairs, E), 'qs8_spconv_pack_pairs').toBe(E);
  return pairs;
}

/** w with every aligned k-pair (2j, 2j+1) of a row both zero or both nonzero (the pruner's 'pairs' pattern). */
function pairUp(w: Int8Array, M: number, K: number): Int8Array {
  const o = Int8Array.from(w);
  for (let m = 0; m < M; m++)
    for (let k = 0; k + 1 < K; k += 2) {
      const a = o[m * K + k]!,
        b = o[m * K + k + 1]!;
      if (a !== 0 && b === 0) o[m * K + k + 1] = a === -128 ? 127 : -a;
      else if (a === 0 && b !== 0) o[m * K + k] = b;
    }
  return o;
}

for (const variant of ['release', 'debug'] as const) {
  describe(`int8 kernels (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });

    const cases = convCases();
    for (const kernel of QS8_CONV_KERNELS) {
      it(`${kernel.name} matches qs8Conv2dRef bit for bit (all modes, zero points, multipliers, densities; f32 mode with fused Sigmoid, SiLU, HardSwish, HardSigmoid), no writes outside y`, () => {
        const rnd = lcg(17);
        const failures: string[] = [];
        const perSource = new Map<WeightSource, number>();
        const fusedCases = new Map<OutOpts['act'], number>();
        const int8Mults = new Set<OutOpts['multKind']>();
        let ran = 0;
        cases.forEach((cs, ci) => {
          const geo = convGeometry([cs.C, cs.H, cs.W], [cs.M, cs.C / cs.attrs.groups, cs.KH, cs.KW], cs.attrs);
          if (!kernel.supports(geo)) return;
          const K = (cs.C / cs.attrs.groups) * cs.KH * cs.KW;
          for (let v = 0; v < 2; v++) {
            const mode = MODES[(ci + v) % MODES.length]!;
            const o: OutOpts = {
              zx: ZX[(ci + 2 * v) % ZX.length]!,
              zy: [-128, 127, 5, -20][(ci + v) % 4]!,
              // not locked to the mode (both by ci + v, int8 met only 'normal' multipliers, never
              // the left shifts of 'big' ones)
              multKind: MULT[(Math.floor(ci / 4) + 3 * v) % 4]!,
              act: CONV_ACTS[(ci + 2 * v) % CONV_ACTS.length]!,
            };
            if (mode === 'f32') fusedCases.set(o.act, (fusedCases.get(o.act) ?? 0) + 1);
            if (mode === 'int8') int8Mults.add(o.multKind);
            const extreme = (ci + v) % 5 === 0;
            const x = randI8(rnd, cs.C * cs.H * cs.W, extreme ? 'extreme' : 'random');
            const wt0 = randWeights(rnd, cs.M, K, DENSITY[(ci + v) % 4]!, extreme);
            // pair-structured weights (what the pair-block kernels are for) in every other case
            const wt = kernel.weights === 'pairs' && (ci + v) % 2 === 0 ? pairUp(wt0, cs.M, K) : wt0;
            const out = makeOut(mode, cs.M, rnd, o);
            const wDims = [cs.M, cs.C / cs.attrs.groups, cs.KH, cs.KW];
            const ref = qs8Conv2dRef(x, [cs.C, cs.H, cs.W], wt, wDims, cs.attrs, out).data;
            const m = w.mark();
            try {
              const plan = planQs8Conv(w, geo, out, kernel);
              const sources = WEIGHT_SOURCES[kernel.weights];
              const source = sources[(ci + v) % sources.length]!;
              const wp = placeWeights(w, kernel, source, wt, cs.M, K, cs.attrs.groups);
              perSource.set(source, (perSource.get(source) ?? 0) + 1);
              const qp = putChannelParams(w, out),
                px = w.putBytes(x);
              const n = cs.M * geo.OH * geo.OW,
                yb = n * outElementBytes(out);
              const py = w.alloc(yb + 64);
              w.u8(py, yb + 64).fill(GUARD);
              const work = w.alloc(plan.workBytes);
              runQs8Conv(w, plan, px, wp, qp, py, work);
              const got = outElementBytes(out) === 1 ? w.i8(py, n).slice() : mode === 'f32' ? w.f32(py, n).slice() : w.i32(py, n).slice();
              const bad = sameBits(got, ref);
              const guards = w.u8(py + yb, 64).every((b) => b === GUARD);
              if (bad || !guards) {
                failures.push(
                  `C=${cs.C} H=${cs.H} W=${cs.W} M=${cs.M} K=${K} N=${cs.M} pixels=${geo.OH * geo.OW} k=${cs.KH}x${cs.KW} ` +
                    `attrs=${JSON.stringify(cs.attrs)} mode=${mode} weights=${source} ${JSON.stringify(o)}: ${bad ?? 'wrote past y'}`,
                );
              }
              ran++;
            } finally {
              w.release(m);
            }
          }
        });
        expect(failures.slice(0, 8)).toEqual([]);
        expect(ran).toBeGreaterThan(10);
        for (const s of WEIGHT_SOURCES[kernel.weights]) expect(perSource.get(s) ?? 0, `cases with weights ${s}`).toBeGreaterThan(3);
        for (const a of Object.keys(FUSED)) expect(fusedCases.get(a as OutOpts['act']) ?? 0, `f32 cases with ${a}`).toBeGreaterThan(0);
        expect([...int8Mults].sort(), 'int8 cases by multiplier kind').toEqual([...MULT].sort());
      });
    }

    it('qs8Conv2d driver takes a CSR (as the WASM decodeCsr emits it) for every CSR kernel', () => {
      const rnd = lcg(5);
      const x = randI8(rnd, 8 * 9 * 9),
        wt = randWeights(rnd, 12, 72, 0.3, false);
      const out = makeOut('int8', 12, rnd, { zx: 3, zy: -2, multKind: 'normal', act: 'relu' });
      const ref = qs8Conv2dRef(x, [8, 9, 9], wt, [12, 8, 3, 3], att(1, 1), out).data;
      const csr = w.decodeCsr(3, encodeRleRows(wt, 72).payload, 12, 72, 2);
      expect(Array.from(csrToDense(csr))).toEqual(Array.from(wt));
      expect(csr).toEqual(csrFromDense(wt, 12, 72));
      const csrKernels = QS8_CONV_KERNELS.filter((k) => k.weights === 'csr16');
      expect(csrKernels.map((k) => k.name)).toContain('qs8_spconv2d_16x1__wasmsimd');
      for (const k of csrKernels) {
        expect(Array.from(qs8Conv2d(w, k, x, [8, 9, 9], csr, [12, 8, 3, 3], att(1, 1), out).data), k.name).toEqual(Array.from(ref));
      }
    });

    it('qs8_spconv_pack_pairs turns hostile CSRs into csrToPairBlocks exactly (empty rows, odd K, half pairs, guards) and rejects bad ones', () => {
      /** the WASM pack of csr (rows, K) as { ent, j, w } (j from the stored byte offset j·64) */
      const pack = (csr: Csr, K: number, cap?: number): PairBlocks | number => {
        const M = csr.rows,
          nnz = csr.rowPtr[M]!;
        const m = w.mark();
        try {
          const L = csrLayout(M, nnz, 2);
          const src = w.alloc(L.bytes);
          new Uint32Array(w.memory.buffer, src, M + 1).set(csr.rowPtr);
          new Uint16Array(w.memory.buffer, src + L.col, nnz).set(csr.col.subarray(0, nnz));
          new Int16Array(w.memory.buffer, src + L.val, nnz).set(csr.val.subarray(0, nnz));
          const bytes = w.exports.qs8_spconv_pairs_bytes(M, nnz);
          const dst = w.alloc(bytes + 64);
          w.u8(dst, bytes + 64).fill(GUARD);
          const E = w.exports.qs8_spconv_pack_pairs(M, K, src, dst, cap ?? nnz);
          if (E < 0) return E;
          const used = w.exports.qs8_spconv_pairs_bytes(M, E);
          expect(
            w.u8(dst + used, bytes + 64 - used).every((b) => b === GUARD),
            'no write past the E entries',
          ).toBe(true);
          const ent = new Uint32Array(w.memory.buffer.slice(dst, dst + 4 * (M + 1)));
          const e0 = dst + ((4 * (M + 1) + 15) & ~15);
          const raw = new DataView(w.memory.buffer.slice(e0, e0 + 8 * E));
          const j = new Uint32Array(E),
            wv = new Int16Array(2 * E);
          for (let i = 0; i < E; i++) {
            wv[2 * i] = raw.getInt16(8 * i, true);
            wv[2 * i + 1] = raw.getInt16(8 * i + 2, true);
            const off = raw.getUint32(8 * i + 4, true);
            expect(off % 64).toBe(0);
            j[i] = off / 64;
          }
          return { ent, j, w: wv };
        } finally {
          w.release(m);
        }
      };
      const csrOf = (rows: number[][], K: number): Csr => {
        const d = new Int8Array(rows.length * K);
        rows.forEach((r, i) => r.forEach((v, k) => (d[i * K + k] = v)));
        return csrFromDense(d, rows.length, K);
      };
      // named hostile cases: all rows empty; odd K with the last pair half present; only odd
      // columns; full pairs; -128 values; a single row
      const named: Array<[string, Csr, number]> = [
        [
          'all rows empty',
          csrOf(
            [
              [0, 0, 0],
              [0, 0, 0],
            ],
            3,
          ),
          3,
        ],
        [
          'odd K, last pair half present',
          csrOf(
            [
              [0, 0, 0, 0, 5],
              [1, 0, 0, 0, -128],
              [0, 0, 0, 0, 0],
            ],
            5,
          ),
          5,
        ],
        ['odd columns only', csrOf([[0, 3, 0, -4, 0, 9]], 6), 6],
        [
          'full pairs, an empty row between',
          csrOf(
            [
              [1, 2, 0, 0, 3, 4],
              [0, 0, 0, 0, 0, 0],
              [-128, 127, -1, 1, 0, 0],
            ],
            6,
          ),
          6,
        ],
        ['K = 1', csrOf([[7], [0], [-3]], 1), 1],
      ];
      for (const [name, csr, K] of named) expect(pack(csr, K), name).toEqual(csrToPairBlocks(csr));
      expect(csrToPairBlocks(named[1]![1])).toEqual({
        ent: Uint32Array.from([0, 1, 3, 3]),
        j: Uint32Array.from([2, 0, 2]),
        w: Int16Array.from([5, 0, 1, 0, -128, 0]),
      });
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 9 }),
          fc.integer({ min: 1, max: 40 }),
          fc.double({ min: 0, max: 1 }),
          fc.integer(),
          (M, K, d, seed) => {
            const rnd = lcg(seed >>> 0);
            const wt = randWeights(rnd, M, K, d, false);
            const csr = csrFromDense(wt, M, K);
            const want = csrToPairBlocks(csr);
            expect(pack(csr, K)).toEqual(want);
            // the pairs hold exactly the dense weights
            const back = new Int8Array(M * K);
            for (let r = 0; r < M; r++)
              for (let i = want.ent[r]!; i < want.ent[r + 1]!; i++) {
                back[r * K + 2 * want.j[i]!] = want.w[2 * i]!;
                if (2 * want.j[i]! + 1 < K) back[r * K + 2 * want.j[i]! + 1] = want.w[2 * i + 1]!;
                else expect(want.w[2 * i + 1]).toBe(0);
              }
            expect(Array.from(back)).toEqual(Array.from(wt));
          },
        ),
        { numRuns: 150 },
      );
      // rejected: a column ≥ K, columns not ascending, rowPtr[0] ≠ 0, rowPtr descending, too little room
      const ok = csrOf(
        [
          [1, 0, 2, 3],
          [0, 4, 0, 0],
        ],
        4,
      );
      expect(pack(ok, 3)).toBe(-5);
      expect(pack({ ...ok, col: Uint16Array.from([2, 0, 3, 1]) }, 4)).toBe(-5);
      expect(pack({ ...ok, col: Uint16Array.from([0, 2, 2, 1]) }, 4)).toBe(-5);
      expect(pack({ ...ok, rowPtr: Uint32Array.from([1, 3, 4]) }, 4)).toBe(-5);
      expect(pack({ ...ok, rowPtr: Uint32Array.from([0, 3, 2]) }, 4)).toBe(-5);
      expect(pack(ok, 4, 2)).toBe(-5);
      expect(pack(ok, 4, 3)).toEqual(csrToPairBlocks(ok));
    });

    it('qs8_conv2d_pack_w (SIMD 16-k steps + scalar tails) writes the c2 blocks exactly (M, K, groups sweep, guard bytes)', () => {
      const rnd = lcg(91);
      const failures: string[] = [];
      for (const groups of [1, 2, 3])
        for (const Ng of [1, 3, 4, 5, 8, 9])
          for (const K of [1, 2, 15, 16, 17, 31, 32, 33, 47, 144]) {
            const M = Ng * groups;
            const W = Int8Array.from({ length: M * K }, () => Math.floor(rnd() * 256) - 128);
            // reference: per group, blocks of 4 channels, pair j = rows' (W(n, 2j), W(n, 2j+1)) as int16, 0 past N / K
            const kp = (K + 1) >> 1,
              blocks = Math.ceil(Ng / 4);
            const want = new Int16Array(groups * blocks * kp * 8);
            let o = 0;
            for (let g = 0; g < groups; g++)
              for (let b = 0; b < blocks; b++)
                for (let j = 0; j < kp; j++)
                  for (let r = 0; r < 4; r++) {
                    const n = b * 4 + r,
                      row = (g * Ng + n) * K;
                    want[o++] = n < Ng ? W[row + 2 * j]! : 0;
                    want[o++] = n < Ng && 2 * j + 1 < K ? W[row + 2 * j + 1]! : 0;
                  }
            const m = w.mark();
            try {
              const bytes = w.exports.qs8_conv2d_packed_w_bytes(M, K, groups);
              expect(bytes).toBe(want.length * 2);
              const dst = w.alloc(bytes + 64);
              w.u8(dst, bytes + 64).fill(GUARD);
              expect(w.exports.qs8_conv2d_pack_w(M, K, groups, w.putBytes(W), dst)).toBe(0);
              const got = new Int16Array(w.memory.buffer.slice(dst, dst + bytes));
              const bad = sameBits(got as unknown as Qs8Data, want as unknown as Qs8Data);
              if (bad) failures.push(`M=${M} K=${K} groups=${groups}: ${bad}`);
              if (w.u8(dst + bytes, 64).some((v) => v !== GUARD)) failures.push(`M=${M} K=${K} groups=${groups}: wrote past the end`);
            } finally {
              w.release(m);
            }
          }
      expect(failures).toEqual([]);
    });

    it('qs8_gemm_4x8c2__wasmsimd (packed X) matches qs8GemmRef over N/M/K sweeps', () => {
      const rnd = lcg(9);
      const failures: string[] = [];
      const shapes: Array<[number, number, number]> = [];
      for (const N of [1, 3, 4, 5, 8, 17])
        for (const M of [1, 7, 8, 9, 16, 33]) for (const K of [1, 2, 3, 8, 17, 40]) shapes.push([N, M, K]);
      for (const K of [144, 576, 1001]) shapes.push([16, 64, K], [5, 9, K]);
      shapes.forEach(([N, M, K], i) => {
        const mode = MODES[i % MODES.length]!;
        const out = makeOut(mode, N, rnd, {
          zx: ZX[i % ZX.length]!,
          zy: [-128, 127, 0][i % 3]!,
          multKind: MULT[i % 4]!,
          act: ACTS[(i >> 1) % 3]!,
        });
        const W = randWeights(rnd, N, K, i % 4 === 0 ? 1 : 0.5, i % 7 === 0),
          X = randI8(rnd, K * M, i % 7 === 0 ? 'extreme' : 'random');
        const bad = sameBits(qs8Gemm(w, N, M, K, W, X, out), qs8GemmRef(N, M, K, W, X, out));
        if (bad) failures.push(`N=${N} M=${M} K=${K} mode=${mode}: ${bad}`);
      });
      expect(failures.slice(0, 8)).toEqual([]);
    });

    for (const kernel of QS8_FC_KERNELS) {
      it(`${kernel.name} matches qs8FcRef over M (batch) / N / K sweeps`, () => {
        const rnd = lcg(11);
        const failures: string[] = [];
        let i = 0;
        for (const M of [1, 2, 3])
          for (const N of [1, 3, 4, 5, 10, 17])
            for (const K of [1, 2, 7, 8, 9, 15, 16, 17, 40, 64, 256, 1001]) {
              const mode = MODES[i % MODES.length]!;
              const out = makeOut(mode, N, rnd, {
                zx: ZX[i % ZX.length]!,
                zy: [-128, 127, 3][i % 3]!,
                multKind: MULT[i % 4]!,
                act: ACTS[(i >> 2) % 3]!,
              });
              const W = randWeights(rnd, N, K, DENSITY[i % 4]!, i % 5 === 0),
                x = randI8(rnd, M * K, i % 5 === 0 ? 'extreme' : 'random');
              const wsrc = kernel.weights === 'csr' && i % 2 ? csrFromDense(W, N, K) : W;
              const bad = sameBits(qs8Fc(w, kernel, M, N, K, x, wsrc, out), qs8FcRef(M, N, K, x, W, out));
              if (bad) failures.push(`M=${M} N=${N} K=${K} mode=${mode}: ${bad}`);
              i++;
            }
        expect(failures.slice(0, 8)).toEqual([]);
      });
    }

    it('qs8_add__wasmsimd matches qs8AddRef (two input scales, ReLU, extreme zero points, lengths 0..70)', () => {
      const rnd = lcg(13);
      const failures: string[] = [];
      for (let i = 0; i < 120; i++) {
        const n = i < 71 ? i : 1000 + i;
        const sa = 2 ** (rnd() * 8 - 8),
          sb = i % 5 === 0 ? sa : 2 ** (rnd() * 8 - 8),
          sy = 2 ** (rnd() * 8 - 7);
        const z = [-128, 127, 0, Math.floor(rnd() * 256) - 128];
        const p = addParams(sa, z[i % 4]!, sb, z[(i + 1) % 4]!, sy, z[(i + 2) % 4]!, i % 3 === 0);
        const a = randI8(rnd, n, i % 6 === 0 ? 'extreme' : 'random'),
          b = randI8(rnd, n, i % 6 === 0 ? 'extreme' : 'random');
        const bad = sameBits(qs8Add(w, a, b, p), qs8AddRef(a, b, p));
        if (bad) failures.push(`n=${n} ${JSON.stringify(p)}: ${bad}`);
      }
      expect(failures.slice(0, 5)).toEqual([]);
    });

    it('qs8_vadd__wasmsimd matches qs8VaddRef bit for bit, and qs8VaddRef is within 1 LSB of the real-valued add', () => {
      const rnd = lcg(17);
      const failures: string[] = [];
      let worst = 0;
      for (let i = 0; i < 160; i++) {
        const n = i < 71 ? i : 1000 + i;
        // ratios from 2^-10 (S capped at 23) to 2^12 (S shrinks so A, B < 2^22)
        const sa = 2 ** (rnd() * 12 - 8),
          sb = i % 5 === 0 ? sa : 2 ** (rnd() * 12 - 8),
          sy = 2 ** (rnd() * 12 - 10);
        const z = [-128, 127, 0, Math.floor(rnd() * 256) - 128];
        const p = vaddParams(sa, z[i % 4]!, sb, z[(i + 1) % 4]!, sy, z[(i + 2) % 4]!, i % 3 === 0);
        const a = randI8(rnd, n, i % 6 === 0 ? 'extreme' : 'random'),
          b = randI8(rnd, n, i % 6 === 0 ? 'extreme' : 'random');
        const ref = qs8VaddRef(a, b, p);
        const bad = sameBits(qs8Vadd(w, a, b, p), ref);
        if (bad) failures.push(`n=${n} ${JSON.stringify(p)}: ${bad}`);
        for (let k = 0; k < n; k++) {
          const real = (sa * (a[k]! - p.za) + sb * (b[k]! - p.zb)) / sy + p.zy;
          const want = Math.min(p.hi, Math.max(p.lo, Math.round(real)));
          worst = Math.max(worst, Math.abs(ref[k]! - want));
        }
      }
      expect(failures.slice(0, 5)).toEqual([]);
      expect(worst).toBeLessThanOrEqual(1);
      expect(() => vaddParams(2 ** 22, 0, 1, 0, 1, 0)).toThrow(RangeError);
    });

    it('qs8_vadd_f32__wasmsimd matches qs8VaddF32Ref bit for bit, which is ONNX DequantizeLinear → Add (→ Relu) → QuantizeLinear', () => {
      const rnd = lcg(23);
      const failures: string[] = [];
      for (let i = 0; i < 120; i++) {
        const n = i < 41 ? i : 500 + i;
        const sa = fr(2 ** (rnd() * 12 - 8)),
          sb = i % 5 === 0 ? sa : fr(2 ** (rnd() * 12 - 8)),
          sy = fr(2 ** (rnd() * 12 - 10));
        const z = [-128, 127, 0, Math.floor(rnd() * 256) - 128];
        const relu = i % 3 === 0;
        const zy = z[(i + 2) % 4]!;
        const p = { za: z[i % 4]!, zb: z[(i + 1) % 4]!, zy, sa, sb, sy, lo: relu ? zy : -128, hi: 127 };
        const a = randI8(rnd, n, i % 6 === 0 ? 'extreme' : 'random'),
          b = randI8(rnd, n, i % 6 === 0 ? 'extreme' : 'random');
        const ref = qs8VaddF32Ref(a, b, p);
        const bad = sameBits(qs8VaddF32(w, a, b, p), ref);
        if (bad) failures.push(`n=${n} ${JSON.stringify(p)}: ${bad}`);
        for (let k = 0; k < n; k++) {
          let s = fr(dequantizeLinear(a[k]!, p.za, sa) + dequantizeLinear(b[k]!, p.zb, sb));
          if (relu) s = Math.max(s, 0);
          const want = quantizeLinear(s, sy, zy, -128, 127);
          if (ref[k] !== want) failures.push(`ref n=${n} [${k}] ${ref[k]} want ${want}`);
        }
      }
      expect(failures.slice(0, 5)).toEqual([]);
    });

    it('qs8_mul_rows_f32__wasmsimd matches qs8MulRowsRef bit for bit (each row × its channel scale, DequantizeLinear → Mul → QuantizeLinear), in place too, nothing past y', () => {
      const rnd = lcg(31);
      const failures: string[] = [];
      for (let i = 0; i < 90; i++) {
        const M = 1 + (i % 7),
          K = i < 40 ? i % 20 : 8 * (i % 9) + (i % 5) + 1;
        const bMod = i % 3 === 0 ? M : Math.max(1, M >> 1);
        const sa = fr(2 ** (rnd() * 12 - 8)),
          sb = fr(2 ** (rnd() * 10 - 9)),
          sy = fr(2 ** (rnd() * 12 - 10));
        const z = [-128, 127, 0, Math.floor(rnd() * 256) - 128];
        const p = { za: z[i % 4]!, zb: z[(i + 1) % 4]!, zy: z[(i + 2) % 4]!, sa, sb, sy, lo: -128, hi: 127 };
        const a = randI8(rnd, M * K, i % 6 === 0 ? 'extreme' : 'random'),
          b = randI8(rnd, bMod, i % 6 === 0 ? 'extreme' : 'random');
        const ref = qs8MulRowsRef(a, b, M, K, p);
        for (let k = 0; k < M * K; k++) {
          const want = quantizeLinear(
            fr(dequantizeLinear(a[k]!, p.za, sa) * dequantizeLinear(b[Math.floor(k / K) % bMod]!, p.zb, sb)),
            sy,
            p.zy,
            -128,
            127,
          );
          if (ref[k] !== want) failures.push(`ref M=${M} K=${K} [${k}] ${ref[k]} want ${want}`);
        }
        const m = w.mark();
        try {
          const pp = w.alloc(32);
          writeVaddF32Params(w, p, pp);
          const pa = w.putBytes(a),
            pb = w.putBytes(b);
          const py = w.alloc(M * K + 32);
          w.u8(py, M * K + 32).fill(GUARD);
          expect(w.exports.qs8_mul_rows_f32__wasmsimd(M, K, pa, pb, bMod, pp, py)).toBe(0);
          const bad = sameBits(w.i8(py, M * K).slice(), ref);
          if (bad || w.u8(py + M * K, 32).some((v) => v !== GUARD))
            failures.push(`M=${M} K=${K} bMod=${bMod} ${JSON.stringify(p)}: ${bad ?? 'wrote past y'}`);
          expect(w.exports.qs8_mul_rows_f32__wasmsimd(M, K, pa, pb, bMod, pp, pa)).toBe(0);
          const bad2 = sameBits(w.i8(pa, M * K).slice(), ref);
          if (bad2) failures.push(`in place M=${M} K=${K}: ${bad2}`);
        } finally {
          w.release(m);
        }
      }
      expect(failures.slice(0, 5)).toEqual([]);
      expect(w.exports.qs8_mul_rows_f32__wasmsimd(-1, 1, 0, 0, 1, 0, 0)).toBe(-5);
      expect(w.exports.qs8_mul_rows_f32__wasmsimd(1, 1, 0, 0, 0, 0, 0)).toBe(-5);
    });

    it('qs8_gavgpool__wasmsimd matches qs8GlobalAvgPoolRef', () => {
      const rnd = lcg(15);
      for (const [C, HW] of [
        [1, 1],
        [3, 15],
        [4, 16],
        [5, 17],
        [64, 64],
        [7, 1000],
        [2, 49],
      ] as const) {
        for (const zx of [-128, 127, 4]) {
          const x = randI8(rnd, C * HW, zx === 127 ? 'extreme' : 'random');
          const { multiplier, shift } = quantizeMultiplier((0.05 / (0.03 * HW)) * (zx === 4 ? 40 : 1));
          const zy = zx === -128 ? 127 : -3;
          expect(
            Array.from(qs8GlobalAvgPool(w, x, C, HW, zx, multiplier, shift, zy, zy === -3 ? -3 : -128, 127)),
            `C=${C} HW=${HW} zx=${zx}`,
          ).toEqual(Array.from(qs8GlobalAvgPoolRef(x, C, HW, zx, multiplier, shift, zy, zy === -3 ? -3 : -128, 127)));
        }
      }
    });

    it('qs8_maxpool2d__wasmsimd matches qs8MaxPoolRef (kernels 1..3, strides 1..3, pads, dilation)', () => {
      const rnd = lcg(19);
      for (const [C, H, W, k, s, p, d] of [
        [1, 1, 1, 1, 1, 0, 1],
        [3, 8, 8, 2, 2, 0, 1],
        [2, 9, 33, 3, 1, 1, 1],
        [4, 17, 17, 3, 2, 1, 1],
        [2, 10, 40, 3, 3, 1, 1],
        [3, 12, 12, 3, 1, 2, 2],
        [1, 5, 70, 2, 1, 0, 1],
        [16, 32, 32, 3, 2, 1, 1],
      ] as const) {
        const x = randI8(rnd, C * H * W, C === 1 && H === 5 ? 'extreme' : 'random');
        const attrs = {
          pads: [p, p, p, p] as [number, number, number, number],
          strides: [s, s] as [number, number],
          dilations: [d, d] as [number, number],
        };
        const got = qs8MaxPool(w, x, C, H, W, k, k, attrs),
          ref = qs8MaxPoolRef(x, C, H, W, k, k, attrs);
        expect(got.dims).toEqual(ref.dims);
        expect(sameBits(got.data, ref.data), `C=${C} H=${H} W=${W} k=${k} s=${s} p=${p} d=${d}`).toBeUndefined();
      }
    });

    it('qs8_count_nonzero__wasmsimd counts like a JS loop (lengths around the 16-byte step, any offset)', () => {
      const rnd = lcg(33);
      for (const n of [0, 1, 15, 16, 17, 31, 32, 33, 255, 4097]) {
        for (const zeros of [0, 0.5, 0.97, 1]) {
          for (const off of [0, 3]) {
            const x = Int8Array.from({ length: n }, () => (rnd() < zeros ? 0 : Math.floor(rnd() * 255) - 127 || -128));
            const m = w.mark();
            const p = w.alloc(n + off + 16) + off;
            w.i8(p, n).set(x);
            expect(w.exports.qs8_count_nonzero__wasmsimd(n, p), `n ${n} zeros ${zeros} off ${off}`).toBe(x.filter((v) => v !== 0).length);
            w.release(m);
          }
        }
      }
      expect(w.exports.qs8_count_nonzero__wasmsimd(-1, 0)).toBeLessThan(0);
    });

    it('qs8_quantize__wasmsimd / qs8_dequantize__wasmsimd match the references (ties to even, saturation, NaN, ±Inf)', () => {
      const rnd = lcg(21);
      const specials = [
        0,
        -0,
        0.5,
        1.5,
        2.5,
        -0.5,
        -1.5,
        -2.5,
        126.5,
        127.5,
        -128.5,
        -129.5,
        1e30,
        -1e30,
        Infinity,
        -Infinity,
        NaN,
        3.4e38,
      ];
      for (const [scale, zp] of [
        [1, 0],
        [0.1, -128],
        [0.0371, 127],
        [2.5, 17],
        [1e-3, -3],
      ] as const) {
        const x = Float32Array.from([
          ...specials.map((v) => v * (scale === 1 ? 1 : scale)),
          ...specials,
          ...Array.from({ length: 200 }, () => (rnd() - 0.5) * 300 * scale),
          ...Array.from({ length: 13 }, (_, i) => (i - 6 + 0.5) * scale),
        ]);
        expect(sameBits(qs8Quantize(w, x, scale, zp), quantizeRef(x, scale, zp)), `scale=${scale} zp=${zp}`).toBeUndefined();
        const q = randI8(rnd, 77);
        q[0] = -128;
        q[1] = 127;
        expect(sameBits(qs8Dequantize(w, q, scale, zp), dequantizeRef(q, scale, zp)), `scale=${scale} zp=${zp}`).toBeUndefined();
      }
    });

    it('qs8_minmax_f32__wasmsimd equals minMaxRef, and its NaN flag f32_has_nan (lengths 0..40 and 1000+, NaN anywhere, ±0, ±Inf, all positive / all negative)', () => {
      const rnd = lcg(29);
      const failures: string[] = [];
      const specials = [NaN, -0, 0, Infinity, -Infinity, 1e-45, -3.4e38];
      for (let i = 0; i < 120; i++) {
        const n = i < 41 ? i : 1000 + i;
        const sign = i % 3 === 0 ? 1 : i % 3 === 1 ? -1 : 0;
        const x = Float32Array.from({ length: n }, () => (sign === 0 ? rnd() - 0.5 : sign * rnd()) * 100);
        // a special at a random place (any lane of the 8-wide body, or the scalar tail)
        if (n > 0 && i % 2 === 0) x[Math.floor(rnd() * n)] = specials[i % specials.length]!;
        if (n > 0 && i % 5 === 0) x[n - 1] = specials[(i + 3) % specials.length]!;
        const m = w.mark();
        try {
          const px = w.putF32(x),
            out = w.alloc(16);
          expect(w.exports.qs8_minmax_f32__wasmsimd(n, px, out)).toBe(0);
          const got = Array.from(w.f32(out, 2)),
            want = minMaxRef(x).map(Math.fround);
          if (!Object.is(got[0], want[0]) && !(got[0] === 0 && want[0] === 0)) failures.push(`n=${n}: lo ${got[0]} want ${want[0]}`);
          if (!Object.is(got[1], want[1]) && !(got[1] === 0 && want[1] === 0)) failures.push(`n=${n}: hi ${got[1]} want ${want[1]}`);
          // word 2: the NaN flag (f32_has_nan__wasmsimd's answer, in the same pass)
          const nanFlag = w.i32(out + 8, 1)[0],
            wantNaN = x.some((v) => Number.isNaN(v)) ? 1 : 0;
          if (nanFlag !== wantNaN || w.exports.f32_has_nan__wasmsimd(px, n) !== wantNaN)
            failures.push(`n=${n}: NaN flag ${nanFlag} want ${wantNaN}`);
        } finally {
          w.release(m);
        }
      }
      expect(failures).toEqual([]);
      expect(w.exports.qs8_minmax_f32__wasmsimd(-1, 0, 0)).toBe(-5);
    });

    it('qs8_remap__wasm gathers x by the byte-offset table, fill where the table is negative (n 0..70, 1000+)', () => {
      const rnd = lcg(23);
      const failures: string[] = [];
      for (let i = 0; i < 90; i++) {
        const n = i < 71 ? i : 1000 + i,
          nx = 1 + Math.floor(rnd() * 200);
        const x = randI8(rnd, nx, i % 5 === 0 ? 'extreme' : 'random');
        const tab = Int32Array.from({ length: n }, () => (rnd() < 0.2 ? -1 - Math.floor(rnd() * 3) : Math.floor(rnd() * nx)));
        const fill = [-128, 127, 0, -5][i % 4]!;
        const want = Int8Array.from(tab, (t) => (t < 0 ? fill : x[t]!));
        const m = w.mark();
        try {
          const py = w.alloc(n + 64);
          w.u8(py, n + 64).fill(GUARD);
          expect(w.exports.qs8_remap__wasm(n, w.putBytes(tab), w.putBytes(x), py, fill)).toBe(0);
          const bad = sameBits(w.i8(py, n).slice(), want);
          if (bad || w.u8(py + n, 64).some((b) => b !== GUARD)) failures.push(`n=${n} fill=${fill}: ${bad ?? 'wrote past y'}`);
        } finally {
          w.release(m);
        }
      }
      expect(failures.slice(0, 5)).toEqual([]);
      expect(w.exports.qs8_remap__wasm(-1, 0, 0, 0, 0)).toBe(-5);
      expect(w.exports.qs8_remap__wasm(1, 0, 0, 0, 128)).toBe(-5);
      expect(w.exports.qs8_remap__wasm(1, 0, 0, 0, -129)).toBe(-5);
    });

    it('qs8_conv2d_4x8c2_part (one thread share): output pixel slices assemble the whole conv, nothing past y; unaligned slices refused', () => {
      const rnd = lcg(11);
      const C = 5,
        H = 9,
        W = 11,
        M = 7,
        attrs = att(1, 1);
      const geo = convGeometry([C, H, W], [M, C, 3, 3], attrs);
      const K = C * 9;
      const x = randI8(rnd, C * H * W),
        wt = randI8(rnd, M * K);
      const out = makeOut('int8', M, rnd, { zx: 3, zy: -2, multKind: 'normal', act: 'none' });
      const ref = qs8Conv2dRef(x, [C, H, W], wt, [M, C, 3, 3], attrs, out).data;
      const k = QS8_CONV_KERNELS.find((c) => c.name === 'qs8_conv2d_4x8c2__wasmsimd')!;
      const m = w.mark();
      try {
        const plan = planQs8Conv(w, geo, out, k);
        const wp = placeConvWeights(w, 'c2', wt, M, K);
        const qp = putChannelParams(w, out),
          px = w.putBytes(x);
        const Mpix = geo.OH * geo.OW,
          n = M * Mpix,
          yb = n * outElementBytes(out);
        expect(Mpix).toBe(99);
        const py = w.alloc(yb + 64);
        w.u8(py, yb + 64).fill(0x5a);
        const work = w.alloc(plan.workBytes);
        const part = (a: number, b: number): number =>
          w.exports.qs8_conv2d_4x8c2_part__wasmsimd(plan.g, plan.q, px, wp, qp, py, work, a, b);
        // three slices of whole panels of 8 (the last one ends at OH·OW), in any order
        for (const [a, b] of [
          [24, 56],
          [0, 24],
          [56, Mpix],
        ] as const)
          expect(part(a, b)).toBe(0);
        expect(sameBits(w.i8(py, n).slice(), ref)).toBeUndefined();
        expect(w.u8(py + yb, 64).every((b) => b === 0x5a)).toBe(true);
        for (const [a, b] of [
          [4, 24],
          [0, 20],
          [0, Mpix + 1],
          [8, 8],
          [-8, 8],
        ])
          expect(part(a!, b!), `${a}..${b}`).toBe(-5);
      } finally {
        w.release(m);
      }
    });

    it('every qs8 kernel the module exports is in a kernel list swept above or has its own test here', () => {
      const exported = Object.keys(w.exports)
        .filter((n) => /^qs8_\w+__(wasmsimd|scalar|wasm)$/.test(n))
        .sort();
      const swept = [...QS8_CONV_KERNELS, ...QS8_FC_KERNELS].map((k) => k.name);
      expect(new Set(swept).size).toBe(swept.length);
      expect(exported).toEqual([...swept, ...QS8_KERNELS_TESTED_ALONE].sort());
    });

    it('property (fast-check): random small convs, every conv kernel equals the reference', () => {
      fc.assert(
        fc.property(
          fc.record({
            C: fc.integer({ min: 1, max: 6 }),
            M: fc.integer({ min: 1, max: 9 }),
            H: fc.integer({ min: 1, max: 12 }),
            W: fc.integer({ min: 1, max: 12 }),
            k: fc.integer({ min: 1, max: 3 }),
            s: fc.integer({ min: 1, max: 3 }),
            p: fc.integer({ min: 0, max: 2 }),
            dw: fc.boolean(),
            zx: fc.integer({ min: -128, max: 127 }),
            zy: fc.integer({ min: -128, max: 127 }),
            mode: fc.constantFrom<Mode>('int8', 'f32', 'int32', 'qlinear'),
            real: fc.double({ min: 2 ** -30, max: 4, noNaN: true }),
            density: fc.double({ min: 0, max: 1, noNaN: true }),
            seed: fc.integer(),
          }),
          (r) => {
            const groups = r.dw ? r.C : 1,
              M = r.dw ? r.C : r.M;
            if (r.H + 2 * r.p < r.k || r.W + 2 * r.p < r.k) return true;
            const rnd = lcg(r.seed);
            const K = (r.C / groups) * r.k * r.k;
            const x = randI8(rnd, r.C * r.H * r.W),
              wt = randWeights(rnd, M, K, r.density, false);
            const out = makeOut(r.mode, M, rnd, { zx: r.zx, zy: r.zy, multKind: 'normal', act: 'none' });
            if (out.mode === 'int8') {
              const q = quantizeMultiplier(r.real);
              out.multiplier.fill(q.multiplier);
              out.shift.fill(q.shift);
            }
            const attrs = att(r.p, r.s, groups);
            const wDims = [M, r.C / groups, r.k, r.k];
            const ref = qs8Conv2dRef(x, [r.C, r.H, r.W], wt, wDims, attrs, out).data;
            const geo = convGeometry([r.C, r.H, r.W], wDims, attrs);
            for (const kernel of QS8_CONV_KERNELS) {
              if (!kernel.supports(geo)) continue;
              const got = qs8Conv2d(w, kernel, x, [r.C, r.H, r.W], wt, wDims, attrs, out).data;
              if (sameBits(got, ref)) return false;
            }
            return true;
          },
        ),
        { numRuns: variant === 'release' ? 300 : 100 },
      );
    });

    it('status codes: inconsistent geometry, quant block and CSR give -5 and write nothing', () => {
      const m = w.mark();
      try {
        const geo = convGeometry([4, 8, 8], [8, 4, 3, 3], att(1, 1));
        const g = w.alloc(80);
        writeConvGeometry(w, geo, g);
        w.i32(g, 20)[6] = 9; // OH disagrees
        const ex = w.exports;
        expect(ex.qs8_conv2d_work_bytes(g)).toBe(-5);
        expect(ex.qs8_spconv2d_nz_work_bytes(g)).toBe(-5);
        expect(ex.qs8_spconv2d_c2_work_bytes(g)).toBe(-5);
        expect(ex.qs8_dwconv2d_work_bytes(g)).toBe(-5);
        expect(ex.qs8_maxpool2d_work_bytes(g)).toBe(-5);
        const q = w.alloc(32);
        w.i32(q, 8).set([0, 0, 0, -128, 127, 0, 0, 0]);
        const y = w.alloc(1024);
        w.u8(y, 1024).fill(GUARD);
        expect(ex.qs8_conv2d_4x8c2__wasmsimd(g, q, y, y, y, y, y)).toBe(-5);
        expect(ex.qs8_spconv2d_16x1__wasmsimd(g, q, y, y, y, y, y)).toBe(-5);
        expect(ex.qs8_spconv2d_16x1c2__wasmsimd(g, q, y, y, y, y, y)).toBe(-5);
        expect(ex.qs8_dwconv2d__wasmsimd(g, q, y, y, y, y, y)).toBe(-5);
        writeConvGeometry(w, geo, g);
        w.i32(q, 8)[0] = 7; // unknown mode
        expect(ex.qs8_conv2d_4x8c2__wasmsimd(g, q, y, y, y, y, y)).toBe(-5);
        w.i32(q, 8).set([0, 200, 0, -128, 127, 0, 0, 0]); // zx out of range
        expect(ex.qs8_conv2d_4x8c2__wasmsimd(g, q, y, y, y, y, y)).toBe(-5);
        w.i32(q, 8).set([0, 0, 0, 10, 5, 0, 0, 0]); // lo > hi
        expect(ex.qs8_fc_1x4c8__wasmsimd(1, 1, 1, y, y, q, y, y, y)).toBe(-5);
        expect(w.u8(y, 1024).every((b) => b === GUARD)).toBe(true);
        // CSR of the FC kernel: column ≥ K, rowPtr not ending at nnz, rowPtr descending
        const rp = w.putBytes(Uint32Array.from([0, 2])),
          col = w.putBytes(Uint16Array.from([1, 4])),
          val = w.putBytes(Int8Array.from([1, 2]));
        w.i32(q, 8).set([0, 0, 0, -128, 127, 0, 0, 0]);
        expect(ex.qs8_spfc_1x1__scalar(1, 1, 4, y, rp, col, val, 2, q, y, y, y)).toBe(-5);
        expect(ex.qs8_spfc_1x1__scalar(1, 1, 8, y, rp, col, val, 3, q, y, y, y)).toBe(-5);
        const rp2 = w.putBytes(Uint32Array.from([0, 2, 1, 2]));
        expect(ex.qs8_spfc_1x1__scalar(1, 3, 8, y, rp2, col, val, 2, q, y, y, y)).toBe(-5);
        expect(ex.qs8_spconv_csr_bytes(0, 1)).toBe(-5);
        expect(ex.qs8_spconv_csr_bytes(1, -1)).toBe(-5);
        expect(ex.qs8_spconv_pairs_bytes(0, 1)).toBe(-5);
        expect(ex.qs8_spconv_pairs_bytes(1, -1)).toBe(-5);
        expect(ex.qs8_conv2d_packed_w_bytes(6, 9, 4)).toBe(-5);
        expect(ex.qs8_gavgpool__wasmsimd(1, 1, y, 0, -1, 0, 0, -128, 127, y)).toBe(-5);
        expect(ex.qs8_quantize__wasmsimd(1, y, 0, 0, y)).toBe(-5);
      } finally {
        w.release(m);
      }
    });

    it('channelParamsBytes matches the per-channel layout', () => {
      const rnd = lcg(1);
      expect(channelParamsBytes(makeOut('int8', 5, rnd, { zx: 0, zy: 0, multKind: 'normal', act: 'none' }), 5)).toBe(60);
      expect(channelParamsBytes(makeOut('f32', 5, rnd, { zx: 0, zy: 0, multKind: 'normal', act: 'none' }), 5)).toBe(40);
      expect(channelParamsBytes(makeOut('int32', 5, rnd, { zx: 0, zy: 0, multKind: 'normal', act: 'none' }), 5)).toBe(20);
    });
  });
}
