// The int8 WASM kernels as data (tests sweep every entry, the bench times every entry) and TS
// drivers that lay buffers out in SparrowWasm memory and run them. Layouts and contracts:
// assembly/int8/common.ts (quant block q, per-channel parameters qp, Xcol panels),
// assembly/int8/gemm.ts (dense, packed weights), assembly/int8/sparse.ts (CSR),
// assembly/int8/ops.ts (depthwise, Add, pooling, quantize). References: ./int8_ref.ts.
//
// Engine use (sparrow-int8): once per node, write the conv geometry (planQs8Conv), the quant
// block (writeQuantBlock) and the per-channel parameters (putChannelParams), and place the
// weights in the kernel's format (placeConvWeights: 'c2' packed int16 pairs, 'csr16' the CSR
// with 16-bit values as decodeCsr emits it, 'raw' as stored); then per inference call
// kernel.run with pointers only.

import { SparrowError } from '../errors.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import { CONV_GEOMETRY_BYTES, convGeometry, writeConvGeometry, type ConvGeometry } from './f32.js';
import { CONV_DEFAULTS, type Conv2dAttrs } from './f32_ref.js';
import { WINO_MAX_CIN, WINO4_MAX_PRODUCT } from './int8_wino_ref.js';

export { absRowMax, wino4Exact } from './int8_wino_ref.js';
import { INT8_FUSED_ACTS } from './int8_act_ref.js';
import {
  csrFromDense,
  csrPairCount,
  type AddParams,
  type Csr,
  type Qs8Data,
  type Qs8Out,
  type VaddF32Params,
  type VaddParams,
} from './int8_ref.js';

export type { AddParams, Csr, Qs8Data, Qs8Out, VaddF32Params, VaddParams } from './int8_ref.js';
export { addParams, vaddParams } from './int8_ref.js';

const E_ARG = -5;
const align16 = (b: number): number => Math.ceil(b / 16) * 16;

function check(st: number, what: string): number {
  if (st < 0) throw new SparrowError('invalid_argument', `${what}: inconsistent arguments (status ${st})`);
  return st;
}

// ---- quant block and per-channel parameters --------------------------------------------------

export const QUANT_BLOCK_BYTES = 80;
const MODE = { int8: 0, f32: 1, int32: 2, qlinear: 3 } as const;
/** quant block words of the fused residual Add (assembly/int8/common.ts: flag, delta, 8 parameters) */
const Q_ADD = 8,
  Q_ADD_DELTA = 9,
  Q_ADD_P = 10;

/** Writes the 18-word quant block of assembly/int8/common.ts at ptr (the Add's delta 0: setQuantAddDelta). */
export function writeQuantBlock(w: SparrowWasm, out: Qs8Out, ptr: number): void {
  const i = w.i32(ptr, QUANT_BLOCK_BYTES / 4),
    f = w.f32(ptr, 8);
  i.fill(0);
  if ((out.mode === 'int8' || out.mode === 'qlinear') && out.add) {
    const a = out.add;
    i[Q_ADD] = 1;
    i.set([a.za, a.zb, a.zy, a.A, a.B, a.S, a.lo, a.hi], Q_ADD_P);
  }
  i[0] = MODE[out.mode];
  i[1] = out.zx;
  if (out.mode === 'int8' || out.mode === 'qlinear') {
    i[2] = out.zy;
    i[3] = out.lo;
    i[4] = out.hi;
  } else {
    i[3] = -128;
    i[4] = 127;
  }
  if (out.mode === 'f32') {
    f[5] = out.lo;
    f[6] = out.hi;
    if (out.act) {
      // word 7: the activation after the clamp; words 2, 3: HardSigmoid's alpha, beta (common.ts)
      if (!INT8_FUSED_ACTS.has(out.act.code))
        throw new SparrowError('invalid_argument', `the int8 output stage does not fuse activation code ${out.act.code}`);
      i[7] = out.act.code;
      f[2] = out.act.p0;
      f[3] = out.act.p1;
    }
  } else {
    f[5] = -Infinity;
    f[6] = Infinity;
  }
}

/**
 * The byte offset from a conv's output to the other input of its fused Add (Qs8Out.add), the
 * same for every element (the two tensors have one layout); wrapping 32-bit.
 */
export function setQuantAddDelta(w: SparrowWasm, ptr: number, delta: number): void {
  w.i32(ptr, QUANT_BLOCK_BYTES / 4)[Q_ADD_DELTA] = delta | 0;
}

/**
 * The drivers' fused Add (out.add): its other input (n int8) placed apart, or `inPlace` in the
 * output buffer py itself, and the quant block q pointed at it.
 */
function placeAddOther(
  w: SparrowWasm,
  out: Qs8Out,
  q: number,
  py: number,
  n: number,
  fused?: { other: Int8Array; inPlace?: boolean },
): void {
  if ((out.mode !== 'int8' && out.mode !== 'qlinear') || !out.add) return;
  if (!fused || fused.other.length !== n) throw new SparrowError('invalid_argument', `a fused Add needs its other input (${n} int8)`);
  if (fused.inPlace) w.i8(py, n).set(fused.other);
  setQuantAddDelta(w, q, fused.inPlace ? 0 : w.putBytes(fused.other) - py);
}

/** Bytes of the per-channel parameters of N channels. */
export function channelParamsBytes(out: Qs8Out, N: number): number {
  return (out.mode === 'int8' ? 3 : out.mode === 'f32' || out.mode === 'qlinear' ? 2 : 1) * N * 4;
}

/** Allocates memory that lives as long as a plan (default: w's stack). */
export type Alloc = (bytes: number) => number;

/** Copies the per-channel parameters (layout of common.ts) into memory from `alloc`; returns the pointer. */
export function putChannelParams(w: SparrowWasm, out: Qs8Out, alloc: Alloc = (b) => w.alloc(b)): number {
  const N = out.bias.length;
  const p = alloc(channelParamsBytes(out, N) + 16);
  if (out.mode === 'int8') {
    if (out.multiplier.length !== N || out.shift.length !== N)
      throw new SparrowError('invalid_argument', 'int8 output: bias/multiplier/shift lengths differ');
    const v = w.i32(p, 3 * N);
    v.set(out.bias, 0);
    v.set(out.multiplier, N);
    v.set(out.shift, 2 * N);
  } else if (out.mode === 'qlinear') {
    if (out.multiplier.length !== N) throw new SparrowError('invalid_argument', 'qlinear output: bias/multiplier lengths differ');
    w.i32(p, N).set(out.bias);
    w.f32(p + 4 * N, N).set(out.multiplier);
  } else if (out.mode === 'f32') {
    if (out.scale.length !== N) throw new SparrowError('invalid_argument', 'f32 output: scale/bias lengths differ');
    const v = w.f32(p, 2 * N);
    v.set(out.scale, 0);
    v.set(out.bias, N);
  } else {
    w.i32(p, N).set(out.bias);
  }
  return p;
}

/** Output element bytes of a mode. */
export function outElementBytes(out: Qs8Out): number {
  return out.mode === 'int8' || out.mode === 'qlinear' ? 1 : 4;
}

function readOut(w: SparrowWasm, out: Qs8Out, ptr: number, n: number): Qs8Data {
  const buf = w.memory.buffer;
  if (out.mode === 'int8' || out.mode === 'qlinear') return new Int8Array(buf.slice(ptr, ptr + n));
  if (out.mode === 'f32') return new Float32Array(buf.slice(ptr, ptr + n * 4));
  return new Int32Array(buf.slice(ptr, ptr + n * 4));
}

// ---- conv kernels ------------------------------------------------------------------------

/**
 * Weight formats: 'c2' = qs8_conv2d_pack_w blocks, 'csr16' = the CSR with int16 values
 * (decodeCsr's output with valBytes 2: no pack), 'pairs' = the non-empty aligned k-pairs of the
 * CSR (qs8_spconv_pack_pairs of the csr16 layout), 'raw' = int8 (M, K) as stored, 'wino' = the
 * Winograd U' = G' g G'ᵀ int16 blocks of qs8_wino_pack_w (assembly/int8/winograd.ts).
 */
export type Qs8WeightFormat = 'c2' | 'csr16' | 'pairs' | 'raw' | 'wino';

export interface Qs8ConvKernel {
  name: string;
  weights: Qs8WeightFormat;
  supports(geo: ConvGeometry): boolean;
  /** scratch bytes for the geometry block at g (< 0: inconsistent) */
  workBytes(w: SparrowWasm, g: number): number;
  /** one image: x (C,H,W) int8, wp placed weights, qp channel params (M), y (M,OH,OW); returns the status */
  run(w: SparrowWasm, g: number, q: number, x: number, wp: number, qp: number, y: number, work: number): number;
}

/** Every int8 conv kernel; the first that supports a geometry (and a weight format) is the default. */
export const QS8_CONV_KERNELS: readonly Qs8ConvKernel[] = [
  {
    name: 'qs8_dwconv2d__wasmsimd',
    weights: 'raw',
    supports: (geo) => geo.groups === geo.C,
    workBytes: (w, g) => w.exports.qs8_dwconv2d_work_bytes(g),
    run: (w, g, q, x, wp, qp, y, work) => w.exports.qs8_dwconv2d__wasmsimd(g, q, x, wp, qp, y, work),
  },
  {
    name: 'qs8_conv2d_4x8c2__wasmsimd',
    weights: 'c2',
    supports: () => true,
    workBytes: (w, g) => w.exports.qs8_conv2d_work_bytes(g),
    run: (w, g, q, x, wp, qp, y, work) => w.exports.qs8_conv2d_4x8c2__wasmsimd(g, q, x, wp, qp, y, work),
  },
  {
    name: 'qs8_spconv2d_16x1__wasmsimd',
    weights: 'csr16',
    supports: () => true,
    workBytes: (w, g) => w.exports.qs8_spconv2d_nz_work_bytes(g),
    run: (w, g, q, x, wp, qp, y, work) => w.exports.qs8_spconv2d_16x1__wasmsimd(g, q, x, wp, qp, y, work),
  },
  {
    name: 'qs8_wino2x2_3x3__wasmsimd',
    weights: 'wino',
    supports: (geo) => winogradEligible(geo),
    workBytes: (w, g) => w.exports.qs8_wino_work_bytes(g),
    run: (w, g, q, x, wp, qp, y, work) => w.exports.qs8_wino2x2_3x3__wasmsimd(g, q, x, wp, qp, y, work),
  },
  {
    name: 'qs8_spconv2d_16x1c2__wasmsimd',
    weights: 'pairs',
    supports: () => true,
    workBytes: (w, g) => w.exports.qs8_spconv2d_c2_work_bytes(g),
    run: (w, g, q, x, wp, qp, y, work) => w.exports.qs8_spconv2d_16x1c2__wasmsimd(g, q, x, wp, qp, y, work),
  },
];

/**
 * Convs the exact Winograd F(2x2, 3x3) kernel (qs8_wino2x2_3x3__wasmsimd) runs: 3x3, stride 1,
 * dilation 1, groups 1, Cin ≤ WINO_MAX_CIN (beyond it 4·acc could leave int32). Any pads, zero
 * points and output mode: the accumulator equals the direct conv's.
 */
export function winogradEligible(geo: ConvGeometry): boolean {
  return winoShape(geo) && geo.C <= WINO_MAX_CIN;
}

/** 3x3, stride 1, dilation 1, groups 1: the convs both Winograd kernels transform. */
function winoShape(geo: ConvGeometry): boolean {
  return (
    geo.KH === 3 &&
    geo.KW === 3 &&
    geo.strides[0] === 1 &&
    geo.strides[1] === 1 &&
    geo.dilations[0] === 1 &&
    geo.dilations[1] === 1 &&
    geo.groups === 1
  );
}

/**
 * Where the Winograd kernel is faster than the dense 4x8c2 one (measured per layer shape,
 * docs/engine.md "int8 Winograd"): eligible convs with at least WINO_MIN_CIN input channels
 * (3 → 16 at 32x32 runs at 0.88x the dense kernel, 4 → 16 at 1.0x, 8 → 16 at 1.24x) and at
 * least one full panel of 8 output tiles (2x2 each; 128 → 128 at 4x4: 1.03x, at 8x8: 2.0x).
 */
export function winogradFaster(geo: ConvGeometry): boolean {
  return winogradEligible(geo) && geo.C >= WINO_MIN_CIN && Math.ceil(geo.OH / 2) * Math.ceil(geo.OW / 2) >= 8;
}

/** Fewest input channels for which pickQs8ConvKernel takes the Winograd kernel. */
export const WINO_MIN_CIN = 8;

/** Fewest input channels for which F(4x4, 3x3) beats the dense 4x8c2 kernel. */
export const WINO4_MIN_CIN = 3;

/**
 * A dense conv below WINO_MIN_CIN input channels that F(4x4, 3x3) runs faster than 4x8c2 (the
 * engine takes it where it is also exact: wino4Exact): `node scripts/bench-wino-kernels.mjs`
 * shapes, 2026-12-07 18:00 UTC, F(4x4) / 4x8c2 p50: 1→16 32x32 1.29, 2→16 0.95, 3→16 0.85, 3→32
 * 0.86, 3→16 64x64 0.84, 4→16 0.73 (the first layer of the CIFAR ResNets is 3→16 32x32).
 */
export function wino4FewChannels(geo: ConvGeometry): boolean {
  return wino4Eligible(geo) && geo.C >= WINO4_MIN_CIN && geo.C < WINO_MIN_CIN;
}

/**
 * The int8 conv on k-quads (assembly/int8/relaxed.ts), weights in the 'c4' layout
 * (qs8_conv2d_pack_w_c4: w + 64 as u8 and the channel sums): in build/sparrow.relaxed.wasm its
 * dot product is i32x4.relaxed_dot_i8x16_i7x16_add_s, in the plain build the same sums in plain
 * SIMD. Exact (bit-identical to qs8_conv2d_4x8c2) for weights in [−64, 63] only: the pack
 * refuses others (status E_RANGE, -6). Not in QS8_CONV_KERNELS (whose sweep feeds any int8).
 */
export const QS8_CONV_C4: Qs8ConvKernelOf<'c4'> = {
  name: 'qs8_conv2d_4x8c4__wasmrelaxed',
  weights: 'c4',
  supports: () => true,
  workBytes: (w, g) => w.exports.qs8_conv2d_c4_work_bytes(g),
  run: (w, g, q, x, wp, qp, y, work) => w.exports.qs8_conv2d_4x8c4__wasmrelaxed(g, q, x, wp, qp, y, work),
};

/** qs8_conv2d_pack_w_c4's status for a weight outside [−64, 63]. */
export const E_RANGE = -6;

/** A conv kernel with weights in any layout (QS8_CONV_KERNELS' formats or 'c4'). */
export type Qs8ConvKernelOf<F extends string> = Omit<Qs8ConvKernel, 'weights'> & { weights: F };
export type AnyQs8ConvKernel = Qs8ConvKernelOf<Qs8WeightFormat | 'c4' | 'wino4'>;

/**
 * The exact integer Winograd F(4x4, 3x3) kernel (assembly/int8/wino4.ts), weights in the 'wino4'
 * layout (qs8_wino4_pack_w: U* = G* g G*ᵀ int16 blocks after a header with max_c Σ|w|). It runs
 * the convs of wino4Eligible whose weights and input zero point keep wino4Exact (else status
 * E_RANGE, nothing written). Not in QS8_CONV_KERNELS (whose sweep feeds any int8 weights).
 */
export const QS8_CONV_WINO4: Qs8ConvKernelOf<'wino4'> = {
  name: 'qs8_wino4x4_3x3__wasmsimd',
  weights: 'wino4',
  supports: (geo) => wino4Eligible(geo),
  workBytes: (w, g) => w.exports.qs8_wino4_work_bytes(g),
  run: (w, g, q, x, wp, qp, y, work) => w.exports.qs8_wino4x4_3x3__wasmsimd(g, q, x, wp, qp, y, work),
};

/**
 * Convs the F(4x4, 3x3) kernel runs: 3x3, stride 1, dilation 1, groups 1, any pads, OH a
 * multiple of 4 and OW a multiple of 8 (its panels of 8 tiles of 4x4 outputs are 4 pairs of
 * horizontally adjacent tiles).
 */
export function wino4Eligible(geo: ConvGeometry): boolean {
  return winoShape(geo) && geo.OH >= 4 && geo.OW >= 8 && geo.OH % 4 === 0 && geo.OW % 8 === 0;
}

/** 2^25 − 1: the kernel is exact while max_c Σ|w[c,·]| · max|x − zx| stays at most this (assembly/int8/wino4.ts). */
export const WINO4_BOUND = WINO4_MAX_PRODUCT;

/** Packs W (M, K) int8 into the wino4 layout (qs8_wino4_pack_w); arena memory, kept. Returns the pointer. */
export function placeWino4Weights(w: SparrowWasm, W: Int8Array, M: number, K: number, groups = 1): number {
  return placePacked(w, W, w.exports.qs8_wino4_packed_w_bytes(M, K, groups), 'qs8_wino4_packed_w_bytes', 'qs8_wino4_pack_w', (src, dst) =>
    w.exports.qs8_wino4_pack_w(M, K, groups, src, dst),
  );
}

/**
 * Allocates a packed layout of `bytes` (a *_bytes status, checked) in the arena, kept, and fills
 * it with pack(W copied to scratch, layout) (its status checked); the scratch is released.
 */
function placePacked(
  w: SparrowWasm,
  W: Int8Array,
  bytes: number,
  bytesWhat: string,
  packWhat: string,
  pack: (src: number, dst: number) => number,
): number {
  const dst = w.alloc(check(bytes, bytesWhat));
  const m = w.mark();
  try {
    check(pack(w.putBytes(W), dst), packWhat);
  } finally {
    w.release(m);
  }
  return dst;
}

/**
 * Packs W (M, K) int8 into the c4 layout (qs8_conv2d_pack_w_c4); arena memory, kept. Throws
 * SparrowError('invalid_argument') when a weight is outside [−64, 63].
 */
export function placeC4Weights(w: SparrowWasm, W: Int8Array, M: number, K: number, groups = 1): number {
  return placePacked(
    w,
    W,
    w.exports.qs8_conv2d_packed_w_c4_bytes(M, K, groups),
    'qs8_conv2d_packed_w_c4_bytes',
    'qs8_conv2d_pack_w_c4',
    (src, dst) => {
      const st = w.exports.qs8_conv2d_pack_w_c4(M, K, groups, src, dst);
      if (st === E_RANGE) throw new SparrowError('invalid_argument', 'c4 weights must lie in [-64, 63]');
      return st;
    },
  );
}

export function qs8ConvKernel(name: string): Qs8ConvKernel {
  const k = QS8_CONV_KERNELS.find((c) => c.name === name);
  if (!k) throw new SparrowError('invalid_argument', `no int8 conv kernel ${name}`);
  return k;
}

/**
 * Conv layers whose weight density (nonzeros / elements) is at or below this may use a sparse
 * kernel (the arbitrary-pair qs8_spconv2d_16x1, or the pair-block qs8_spconv2d_16x1c2 when its
 * pair density is low enough: pickSparseQs8ConvKernel); above it the dense one
 * (qs8_conv2d_4x8c2). Measured on the ResNet-20/32 layer shapes (docs/engine.md, "sparrow-int8").
 */
export const SPARSE_DENSITY = 0.55;

/**
 * The kernel for a conv: depthwise → dwconv; a sparse kernel when pickSparseQs8ConvKernel finds
 * one faster than the dense one at these densities (`pairDensity`: non-empty aligned k-pairs /
 * (M·ceil(K/2)), asked only when the weight density is at most `sparseDensity`); else the dense
 * kernel (pickDense: Winograd where winogradFaster, else 4x8c2); a sparse kernel must beat the
 * dense one actually picked (winogradCost, widened by WINO_SPARSE_TIE). The int8 engine picks with this.
 */
export function pickQs8ConvKernel(
  geo: ConvGeometry,
  density = 1,
  sparseDensity = SPARSE_DENSITY,
  pairDensity: number | (() => number) = 1,
  winograd = true,
  relaxedC4 = false,
  wino4 = false,
): Qs8ConvKernel {
  if (geo.groups === geo.C) return qs8ConvKernel('qs8_dwconv2d__wasmsimd');
  // relaxedC4: the caller runs a dense result on the relaxed k-quad kernel (QS8_CONV_C4), not
  // Winograd: a sparse kernel must beat that one. wino4: the caller runs a Winograd result on
  // F(4x4) (eligible and exact for any weights) and prices the sparse kernels against it, at its
  // own measured ratio (wino4Cost) without the layout tie (the int8 engine's tier 1)
  const wino = !relaxedC4 && winograd && winogradFaster(geo);
  const denseCost = relaxedC4 ? C4_RELAXED_COST : wino ? (wino4 ? wino4Cost(geo) : winogradCost(geo) * (1 + WINO_SPARSE_TIE)) : 1;
  return pickSparseQs8ConvKernel(density, pairDensity, sparseDensity, denseCost) ?? pickDense(geo, wino);
}

/**
 * Time of the relaxed k-quad kernel (QS8_CONV_C4 in build/sparrow.relaxed.wasm) relative to the
 * plain 4x8c2: plain/relaxed 1.63x on ResNet-32 in Chromium (docs/engine.md, relaxed SIMD;
 * `node scripts/bench-browser.mjs --only relaxed`, measured under load: a rough figure).
 */
export const C4_RELAXED_COST = 0.61;

/** The dense kernel: Winograd F(2x2, 3x3) where it is faster (winogradFaster), else 4x8c2. */
function pickDense(geo: ConvGeometry, wino: boolean): Qs8ConvKernel {
  return qs8ConvKernel(wino ? 'qs8_wino2x2_3x3__wasmsimd' : 'qs8_conv2d_4x8c2__wasmsimd');
}

/**
 * Time of the Winograd kernel relative to the direct 4x8c2 on a conv where winogradFaster holds,
 * by input channels (docs/engine.md "int8 Winograd", scripts/bench-wino-kernels.mjs: 8→16 1.24x,
 * 16→16 1.51x, 32→32 1.75x, 64→64 1.93x faster): a sparse kernel must beat this, not 1.
 */
export function winogradCost(geo: ConvGeometry): number {
  return geo.C >= 64 ? 0.52 : geo.C >= 32 ? 0.57 : geo.C >= 16 ? 0.66 : 0.8;
}

/**
 * Time of the F(4x4, 3x3) kernel relative to the direct 4x8c2 where winogradFaster holds
 * (scripts/bench-wino-kernels.mjs, p50 ratios, 2026-12-07 16:37 UTC after the two-block one-half
 * panels and the column pass through memory: 16→16 32x32 0.48, 32→32 16x16 0.39, 64→64 8x8 0.38;
 * 8→16 32x32 0.58 there, but that bucket keeps the 0.75 of the previous measurement, above
 * C4_RELAXED_COST, because the relaxed c4 kernel was not measured against it again). Against
 * C4_RELAXED_COST it decides whether a relaxed session runs a 3x3 stride-1 conv on F(4x4) or on
 * the relaxed k-quad kernel; against SPARSE_COST, at the int8 engine's tier 1 (after
 * Int8EngineOptions.tierUpRuns runs), whether a pruned conv that F(4x4) can run keeps its sparse
 * kernel (pickQs8ConvKernel's wino4). At load (tier 0) a pruned conv is priced against F(2x2),
 * winogradCost: F(4x4)'s 72-byte-per-(cout, cin) layouts would put the cold decode + pack of the
 * 70 % ResNet-32 above 5 ms (docs/engine.md, "F(4x4) on the 70 % files").
 */
export function wino4Cost(geo: ConvGeometry): number {
  return geo.C >= 32 ? 0.39 : geo.C >= 16 ? 0.48 : geo.C >= 8 ? 0.75 : 0.9;
}

/**
 * A sparse kernel is taken over Winograd when its modelled cost (SPARSE_COST) is below
 * winogradCost·(1 + WINO_SPARSE_TIE). winogradCost is the kernels alone, weights hot in cache;
 * the Winograd layout is 32 bytes per (cout, cin) (U' int16), 3x the CSR of a 70 %-pruned layer
 * (4 bytes per nonzero), and in a whole network run those bytes come from the outer caches
 * (ResNet-32: 1.4 MiB of Winograd layouts): on the 70 % ResNet-32 file (density 0.3) the
 * arbitrary-pair kernel ran as fast as Winograd per layer inside the network (sum over its 18
 * layers +0.7 / +1.9 %, interleaved, two runs), where the kernels alone have it 8-9 % slower
 * (64→64 8x8, 32→32 16x16). Within that band the smaller layout wins: a cold load faults in each
 * fresh layout page (~10-20 µs each on a VM; decode + pack of that file 418 → ~130 faults,
 * docs/engine.md "Winograd at load").
 */
export const WINO_SPARSE_TIE = 0.15;

// ---- sparse kernel choice (kept apart from pickQs8ConvKernel: a linear cost model per kernel) --

/**
 * Time of a conv relative to the dense qs8_conv2d_4x8c2 on the same shape, as c0 + c1·x with x
 * the weight density (qs8_spconv2d_16x1: it steps over pairs of nonzeros) or the pair density
 * (qs8_spconv2d_16x1c2: it steps over non-empty aligned k-pairs). Fitted on the ResNet-20 conv
 * stack (src/bench/sparse_crossover.ts; numbers and command in docs/engine.md).
 */
export const SPARSE_COST = {
  nz: { c0: 0.04, c1: 1.8 },
  pairs: { c0: 0.24, c1: 0.98 },
} as const;

/**
 * The sparse conv kernel to run at weight density `density` and pair density `pairDensity` (a
 * number, or a function asked only when the weight density could make a sparse kernel pay), or
 * undefined for the dense kernel: qs8_spconv2d_16x1c2 when its SPARSE_COST is below 1 and below
 * qs8_spconv2d_16x1's; else qs8_spconv2d_16x1 at density ≤ sparseDensity (the arbitrary-pair
 * kernel's crossover; the Session option sparseDensity moves it; 0 turns every sparse kernel off).
 */
export function pickSparseQs8ConvKernel(
  density: number,
  pairDensity: number | (() => number),
  sparseDensity = SPARSE_DENSITY,
  denseCost = 1,
): Qs8ConvKernel | undefined {
  const { nz, pairs } = SPARSE_COST;
  // p ≥ d (a non-empty pair holds at most 2 of the ≤ 2 weights): no pair density below 1 pays past this
  const pairsMax = (denseCost - pairs.c0) / pairs.c1;
  if (!(sparseDensity > 0)) return undefined; // 0: no sparse kernel
  const tNz = nz.c0 + nz.c1 * density;
  // the arbitrary-pair kernel: at most sparseDensity, and (where Winograd runs the dense conv,
  // denseCost < 1) faster than it
  const nzOk = density <= sparseDensity && (denseCost >= 1 || tNz < denseCost);
  if (!nzOk && !(density <= pairsMax)) return undefined;
  const p = typeof pairDensity === 'function' ? pairDensity() : pairDensity;
  const tPairs = pairs.c0 + pairs.c1 * p;
  if (tPairs < denseCost && (tPairs < tNz || !nzOk)) return qs8ConvKernel('qs8_spconv2d_16x1c2__wasmsimd');
  return nzOk ? qs8ConvKernel('qs8_spconv2d_16x1__wasmsimd') : undefined;
}

/**
 * Places the weights of a conv (or of a Gemm as (N, K)) in `format`: W dense (M, K) int8
 * row-major (K = C/g·KH·KW), or a CSR of it (csr16; a dense W is converted). Returns the
 * pointer (arena memory, kept).
 */
export function placeConvWeights(w: SparrowWasm, format: Qs8WeightFormat, W: Int8Array | Csr, M: number, K: number, groups = 1): number {
  if (format === 'raw') {
    if (!(W instanceof Int8Array)) throw new SparrowError('invalid_argument', 'raw weights must be dense');
    return w.putBytes(W);
  }
  if (format === 'wino') {
    if (!(W instanceof Int8Array)) throw new SparrowError('invalid_argument', 'wino weights must be dense');
    return placePacked(w, W, w.exports.qs8_wino_packed_w_bytes(M, K, groups), 'qs8_wino_packed_w_bytes', 'qs8_wino_pack_w', (src, dst) =>
      w.exports.qs8_wino_pack_w(M, K, groups, src, dst),
    );
  }
  if (format === 'c2') {
    if (!(W instanceof Int8Array)) throw new SparrowError('invalid_argument', 'c2 weights must be dense');
    return placePacked(
      w,
      W,
      w.exports.qs8_conv2d_packed_w_bytes(M, K, groups),
      'qs8_conv2d_packed_w_bytes',
      'qs8_conv2d_pack_w',
      (src, dst) => w.exports.qs8_conv2d_pack_w(M, K, groups, src, dst),
    );
  }
  const csr = W instanceof Int8Array ? csrFromDense(W, M, K) : W;
  const nnz = csr.rowPtr[M]!;
  if (format === 'pairs') {
    const E = csrPairCount(csr.rowPtr, csr.col, M);
    const dst = w.alloc(check(w.exports.qs8_spconv_pairs_bytes(M, E), 'qs8_spconv_pairs_bytes'));
    const m = w.mark();
    try {
      const src = w.alloc(csrLayout(M, nnz, 2).bytes);
      writeCsr16(w, csr, M, src);
      const got = check(w.exports.qs8_spconv_pack_pairs(M, K, src, dst, E), 'qs8_spconv_pack_pairs');
      if (got !== E) throw new SparrowError('internal', `qs8_spconv_pack_pairs made ${got} pairs, expected ${E}`);
    } finally {
      w.release(m);
    }
    return dst;
  }
  const dst = w.alloc(check(w.exports.qs8_spconv_csr_bytes(M, nnz), 'qs8_spconv_csr_bytes'));
  writeCsr16(w, csr, M, dst);
  return dst;
}

/** Writes csr (M rows) in the csr16 layout (csrLayout(M, nnz, 2)) at dst. */
function writeCsr16(w: SparrowWasm, csr: Csr, M: number, dst: number): void {
  const nnz = csr.rowPtr[M]!;
  const L = csrLayout(M, nnz, 2);
  new Uint32Array(w.memory.buffer, dst, M + 1).set(csr.rowPtr.subarray(0, M + 1));
  new Uint16Array(w.memory.buffer, dst + L.col, nnz).set(csr.col.subarray(0, nnz));
  new Int16Array(w.memory.buffer, dst + L.val, nnz).set(csr.val.subarray(0, nnz));
}

/**
 * The CSR as decodeCsr writes it in place, for N rows and nnz nonzeros: row pointers at 0, u16
 * columns at `col`, values (int8, or int16: valBytes 2) at `val`, 16-byte aligned. With int16
 * values it is the 'csr16' layout of qs8_spconv2d_16x1 (qs8_spconv_csr_bytes bytes).
 */
export function csrLayout(N: number, nnz: number, valBytes: 1 | 2): { col: number; val: number; bytes: number } {
  const col = align16((N + 1) * 4),
    val = col + align16(nnz * 2);
  return { col, val, bytes: val + align16(nnz * valBytes) };
}

/** A conv node ready to run (geometry and quant block in w's arena). */
export interface Qs8ConvPlan {
  geo: ConvGeometry;
  kernel: AnyQs8ConvKernel;
  /** geometry block (20 words) and quant block (8 words) */
  g: number;
  q: number;
  workBytes: number;
}

export function planQs8Conv(
  w: SparrowWasm,
  geo: ConvGeometry,
  out: Qs8Out,
  kernel: AnyQs8ConvKernel,
  alloc: Alloc = (b) => w.alloc(b),
): Qs8ConvPlan {
  if (!kernel.supports(geo)) throw new SparrowError('invalid_argument', `${kernel.name} does not support this conv`);
  const g = alloc(CONV_GEOMETRY_BYTES),
    q = alloc(QUANT_BLOCK_BYTES);
  writeConvGeometry(w, geo, g);
  writeQuantBlock(w, out, q);
  const workBytes = check(kernel.workBytes(w, g), `${kernel.name} work bytes`);
  return { geo, kernel, g, q, workBytes };
}

export function runQs8Conv(w: SparrowWasm, plan: Qs8ConvPlan, x: number, wp: number, qp: number, y: number, work: number): void {
  check(plan.kernel.run(w, plan.g, plan.q, x, wp, qp, y, work), plan.kernel.name);
}

/**
 * int8 conv of one image x (C,H,W) through WASM: places W (M, C/g, KH, KW) int8 (dense or CSR)
 * in the kernel's format, runs it, copies y (M,OH,OW) out; arena restored after. With a fused
 * Add (out.add), `other` is its second input (M·OH·OW int8), placed apart or, `inPlace`, in
 * the output buffer itself.
 */
export function qs8Conv2d(
  w: SparrowWasm,
  kernel: AnyQs8ConvKernel,
  x: Int8Array,
  xDims: readonly number[],
  W: Int8Array | Csr,
  wDims: readonly number[],
  attrs: Conv2dAttrs,
  out: Qs8Out,
  fused?: { other: Int8Array; inPlace?: boolean },
): { data: Qs8Data; dims: number[] } {
  const geo = convGeometry(xDims, wDims, attrs);
  const K = wDims[1]! * wDims[2]! * wDims[3]!;
  const mark = w.mark();
  try {
    const plan = planQs8Conv(w, geo, out, kernel);
    const dense = (): Int8Array => {
      if (W instanceof Int8Array) return W;
      throw new SparrowError('invalid_argument', `${kernel.weights} weights must be dense`);
    };
    const wp =
      kernel.weights === 'c4'
        ? placeC4Weights(w, dense(), geo.M, K, geo.groups)
        : kernel.weights === 'wino4'
          ? placeWino4Weights(w, dense(), geo.M, K, geo.groups)
          : placeConvWeights(w, kernel.weights, W, geo.M, K, geo.groups);
    const qp = putChannelParams(w, out),
      px = w.putBytes(x);
    const n = geo.M * geo.OH * geo.OW;
    const py = w.alloc(n * outElementBytes(out)),
      work = w.alloc(plan.workBytes);
    placeAddOther(w, out, plan.q, py, n, fused);
    runQs8Conv(w, plan, px, wp, qp, py, work);
    return { data: readOut(w, out, py, n), dims: [geo.M, geo.OH, geo.OW] };
  } finally {
    w.release(mark);
  }
}

// ---- GEMM on packed operands --------------------------------------------------------------

/** C(N, M) = W(N, K) × X(K, M), X int8 row-major (zx from out), through qs8_pack_x_c2 + qs8_gemm_4x8c2. */
export function qs8Gemm(w: SparrowWasm, N: number, M: number, K: number, W: Int8Array, X: Int8Array, out: Qs8Out): Qs8Data {
  const mark = w.mark();
  try {
    const q = w.alloc(QUANT_BLOCK_BYTES);
    writeQuantBlock(w, out, q);
    const wp = placeConvWeights(w, 'c2', W, N, K, 1);
    const xp = w.alloc(check(w.exports.qs8_packed_x_bytes(K, M), 'qs8_packed_x_bytes'));
    check(w.exports.qs8_pack_x_c2(K, M, w.putBytes(X), M, out.zx, xp), 'qs8_pack_x_c2');
    const qp = putChannelParams(w, out),
      py = w.alloc(N * M * outElementBytes(out));
    check(w.exports.qs8_gemm_4x8c2__wasmsimd(N, M, K, wp, xp, q, qp, py, M), 'qs8_gemm_4x8c2__wasmsimd');
    return readOut(w, out, py, N * M);
  } finally {
    w.release(mark);
  }
}

// ---- FC --------------------------------------------------------------------------------------

/** FC weights placed for a kernel: dense (N, K) int8, or its raw CSR. */
export type Qs8FcWeights = { w: number } | { rowPtr: number; col: number; val: number; nnz: number };

export interface Qs8FcKernel {
  name: string;
  weights: 'raw' | 'csr';
  /** Y(M, N) = X(M, K)·Wᵀ: x (M, K) int8, y (M, N), work ≥ qs8_fc_work_bytes(K); returns the status */
  run(w: SparrowWasm, M: number, N: number, K: number, x: number, wt: Qs8FcWeights, q: number, qp: number, y: number, work: number): number;
}

export const QS8_FC_KERNELS: readonly Qs8FcKernel[] = [
  {
    name: 'qs8_fc_1x4c8__wasmsimd',
    weights: 'raw',
    run: (w, M, N, K, x, wt, q, qp, y, work) => ('w' in wt ? w.exports.qs8_fc_1x4c8__wasmsimd(M, N, K, x, wt.w, q, qp, y, work) : E_ARG),
  },
  {
    name: 'qs8_spfc_1x1__scalar',
    weights: 'csr',
    run: (w, M, N, K, x, wt, q, qp, y, work) =>
      'rowPtr' in wt ? w.exports.qs8_spfc_1x1__scalar(M, N, K, x, wt.rowPtr, wt.col, wt.val, wt.nnz, q, qp, y, work) : E_ARG,
  },
];

/** Places FC weights (N, K) for a kernel (dense or CSR input); arena memory, kept. */
export function placeFcWeights(w: SparrowWasm, kernel: Qs8FcKernel, W: Int8Array | Csr, N: number, K: number): Qs8FcWeights {
  if (kernel.weights === 'raw') {
    if (!(W instanceof Int8Array)) throw new SparrowError('invalid_argument', 'dense FC weights expected');
    return { w: w.putBytes(W) };
  }
  const csr = W instanceof Int8Array ? csrFromDense(W, N, K) : W;
  return { rowPtr: w.putBytes(csr.rowPtr), col: w.putBytes(csr.col), val: w.putBytes(csr.val), nnz: csr.rowPtr[N]! };
}

/** Y(M, N) = X(M, K)·Wᵀ through WASM; arena restored after. A fused Add (out.add): as qs8Conv2d. */
export function qs8Fc(
  w: SparrowWasm,
  kernel: Qs8FcKernel,
  M: number,
  N: number,
  K: number,
  x: Int8Array,
  W: Int8Array | Csr,
  out: Qs8Out,
  fused?: { other: Int8Array; inPlace?: boolean },
): Qs8Data {
  const mark = w.mark();
  try {
    const q = w.alloc(QUANT_BLOCK_BYTES);
    writeQuantBlock(w, out, q);
    const wt = placeFcWeights(w, kernel, W, N, K);
    const qp = putChannelParams(w, out),
      px = w.putBytes(x);
    const py = w.alloc(M * N * outElementBytes(out)),
      work = w.alloc(check(w.exports.qs8_fc_work_bytes(K), 'qs8_fc_work_bytes'));
    placeAddOther(w, out, q, py, M * N, fused);
    check(kernel.run(w, M, N, K, px, wt, q, qp, py, work), kernel.name);
    return readOut(w, out, py, M * N);
  } finally {
    w.release(mark);
  }
}

// ---- elementwise, pooling, quantize ----------------------------------------------------------

export const ADD_PARAMS_BYTES = 48;

/** Writes the 12-word Add block of assembly/int8/ops.ts at ptr. */
export function writeAddParams(w: SparrowWasm, p: AddParams, ptr: number): void {
  w.i32(ptr, 12).set([p.za, p.zb, p.zy, p.ma, p.sa, p.mb, p.sb, p.my, p.sy, p.lo, p.hi, p.leftShift]);
}

export const VADD_PARAMS_BYTES = 32;

/** Writes the 8-word single-multiplier Add block (qs8_vadd__wasmsimd) at ptr. */
export function writeVaddParams(w: SparrowWasm, p: VaddParams, ptr: number): void {
  w.i32(ptr, 8).set([p.za, p.zb, p.zy, p.A, p.B, p.S, p.lo, p.hi]);
}

/** Writes the 8-word float32 Add block (qs8_vadd_f32__wasmsimd) at ptr. */
export function writeVaddF32Params(w: SparrowWasm, p: VaddF32Params, ptr: number): void {
  w.i32(ptr, 8).set([p.za, p.zb, p.zy, 0, 0, 0, p.lo, p.hi]);
  w.f32(ptr + 12, 3).set([p.sa, p.sb, p.sy]);
}

/** qs8_vadd_f32__wasmsimd on copies of a and b; arena restored after. */
export function qs8VaddF32(w: SparrowWasm, a: Int8Array, b: Int8Array, p: VaddF32Params): Int8Array {
  if (a.length !== b.length) throw new SparrowError('invalid_argument', 'qs8VaddF32: lengths differ');
  const mark = w.mark();
  try {
    const pp = w.alloc(VADD_PARAMS_BYTES);
    writeVaddF32Params(w, p, pp);
    const pa = w.putBytes(a),
      pb = w.putBytes(b),
      py = w.alloc(a.length);
    check(w.exports.qs8_vadd_f32__wasmsimd(a.length, pa, pb, pp, py), 'qs8_vadd_f32__wasmsimd');
    return w.i8(py, a.length).slice();
  } finally {
    w.release(mark);
  }
}

/** qs8_vadd__wasmsimd on copies of a and b; arena restored after. */
export function qs8Vadd(w: SparrowWasm, a: Int8Array, b: Int8Array, p: VaddParams): Int8Array {
  if (a.length !== b.length) throw new SparrowError('invalid_argument', 'qs8Vadd: lengths differ');
  const mark = w.mark();
  try {
    const pp = w.alloc(VADD_PARAMS_BYTES);
    writeVaddParams(w, p, pp);
    const pa = w.putBytes(a),
      pb = w.putBytes(b),
      py = w.alloc(a.length);
    check(w.exports.qs8_vadd__wasmsimd(a.length, pa, pb, pp, py), 'qs8_vadd__wasmsimd');
    return w.i8(py, a.length).slice();
  } finally {
    w.release(mark);
  }
}

/** y = a ⊕ b (int8 Add with two input scales); arena restored after. */
export function qs8Add(w: SparrowWasm, a: Int8Array, b: Int8Array, p: AddParams): Int8Array {
  if (a.length !== b.length) throw new SparrowError('invalid_argument', 'qs8Add: lengths differ');
  const mark = w.mark();
  try {
    const pp = w.alloc(ADD_PARAMS_BYTES);
    writeAddParams(w, p, pp);
    const pa = w.putBytes(a),
      pb = w.putBytes(b),
      py = w.alloc(a.length);
    check(w.exports.qs8_add__wasmsimd(a.length, pa, pb, pp, py), 'qs8_add__wasmsimd');
    return w.i8(py, a.length).slice();
  } finally {
    w.release(mark);
  }
}

/** Global average pool x (C, HW) → (C); (m, shift) = quantizeMultiplier(s_x / (s_y·HW)). */
export function qs8GlobalAvgPool(
  w: SparrowWasm,
  x: Int8Array,
  C: number,
  HW: number,
  zx: number,
  m: number,
  shift: number,
  zy: number,
  lo = -128,
  hi = 127,
): Int8Array {
  const mark = w.mark();
  try {
    const px = w.putBytes(x),
      py = w.alloc(C);
    check(w.exports.qs8_gavgpool__wasmsimd(C, HW, px, zx, m, shift, zy, lo, hi, py), 'qs8_gavgpool__wasmsimd');
    return w.i8(py, C).slice();
  } finally {
    w.release(mark);
  }
}

/** Max pool of one image x (C,H,W) int8 → (C,OH,OW). */
export function qs8MaxPool(
  w: SparrowWasm,
  x: Int8Array,
  C: number,
  H: number,
  W: number,
  KH: number,
  KW: number,
  attrs: Pick<Conv2dAttrs, 'pads' | 'strides' | 'dilations'> = CONV_DEFAULTS,
): { data: Int8Array; dims: number[] } {
  const geo = convGeometry([C, H, W], [C, 1, KH, KW], { ...attrs, groups: C });
  const mark = w.mark();
  try {
    const g = w.alloc(CONV_GEOMETRY_BYTES);
    writeConvGeometry(w, geo, g);
    const px = w.putBytes(x),
      n = C * geo.OH * geo.OW,
      py = w.alloc(n);
    const work = w.alloc(check(w.exports.qs8_maxpool2d_work_bytes(g), 'qs8_maxpool2d_work_bytes'));
    check(w.exports.qs8_maxpool2d__wasmsimd(g, px, py, work), 'qs8_maxpool2d__wasmsimd');
    return { data: w.i8(py, n).slice(), dims: [C, geo.OH, geo.OW] };
  } finally {
    w.release(mark);
  }
}

/** QuantizeLinear (per tensor) through WASM. */
export function qs8Quantize(w: SparrowWasm, x: Float32Array, scale: number, zp: number): Int8Array {
  const mark = w.mark();
  try {
    const px = w.putF32(x),
      py = w.alloc(x.length);
    check(w.exports.qs8_quantize__wasmsimd(x.length, px, scale, zp, py), 'qs8_quantize__wasmsimd');
    return w.i8(py, x.length).slice();
  } finally {
    w.release(mark);
  }
}

/** DequantizeLinear (per tensor) through WASM. */
export function qs8Dequantize(w: SparrowWasm, x: Int8Array, scale: number, zp: number): Float32Array {
  const mark = w.mark();
  try {
    const px = w.putBytes(x),
      py = w.alloc(x.length * 4);
    check(w.exports.qs8_dequantize__wasmsimd(x.length, px, scale, zp, py), 'qs8_dequantize__wasmsimd');
    return w.f32(py, x.length).slice();
  } finally {
    w.release(mark);
  }
}
