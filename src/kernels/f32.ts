// The float32 WASM kernels as data (tests sweep every entry, the bench times every entry) and a
// TS driver that lays buffers out in SparrowWasm memory and runs a GEMM or a conv through them.
// Layouts and contracts: assembly/f32/gemm.ts (packed B panels) and assembly/f32/conv.ts
// (geometry block). References: ./f32_ref.ts.
//
// Engine use: place weights once (conv weights need no repacking: ONNX (M, C/g, KH, KW) is the
// A operand as is; Gemm/MatMul constant B is packed once with f32_pack_b), planConv() once per
// node (writes the geometry block), then runConv()/gemm kernels per inference with pointers.

import { SparrowError } from '../errors.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import {
  actBounds,
  CONV_DEFAULTS,
  convOutSize,
  type Act,
  type Conv2dAttrs,
  type Deconv2dGeometry,
  type Resample2d,
  type ResampleAxis,
} from './f32_ref.js';

type Ex = SparrowWasm['exports'];

/** 0: no bias; 1: bias[m] per row of C (conv: per output channel); 2: bias[n] per column. */
export type BiasMode = 0 | 1 | 2;

export interface GemmKernel {
  name: string;
  /** rows × columns of the register tile */
  mr: number;
  nr: number;
  /** C(M,N) = act(A·Bp + bias); pointers into w's memory, sizes/strides in elements; act 0 none, 1 clamp [lo, hi] */
  run(
    w: SparrowWasm,
    M: number,
    N: number,
    K: number,
    a: number,
    lda: number,
    bp: number,
    c: number,
    ldc: number,
    bias: number,
    biasMode: BiasMode,
    act: 0 | 1,
    lo: number,
    hi: number,
  ): void;
}

function gemmKernel(name: keyof Ex & `f32_gemm_${string}`, mr: number, nr: number): GemmKernel {
  return {
    name,
    mr,
    nr,
    run: (w, M, N, K, a, lda, bp, c, ldc, bias, biasMode, act, lo, hi) =>
      (w.exports[name] as Ex['f32_gemm__wasmsimd'])(M, N, K, a, lda, bp, c, ldc, bias, biasMode, act, lo, hi),
  };
}

/** Every GEMM kernel over packed B. The first is the engine's (4x8 tiles + exact row tails). */
export const F32_GEMM_KERNELS: readonly GemmKernel[] = [
  gemmKernel('f32_gemm__wasmsimd', 4, 8),
  gemmKernel('f32_gemm_4x8__wasmsimd', 4, 8),
  gemmKernel('f32_gemm_2x8__wasmsimd', 2, 8),
  gemmKernel('f32_gemm_1x8__wasmsimd', 1, 8),
];

/** Conv geometry of one image (the 20-word block of assembly/f32/conv.ts, as an object). */
export interface ConvGeometry {
  C: number;
  H: number;
  W: number;
  M: number;
  KH: number;
  KW: number;
  OH: number;
  OW: number;
  pads: [number, number, number, number];
  strides: [number, number];
  dilations: [number, number];
  groups: number;
  act: Act;
}

export const CONV_GEOMETRY_BYTES = 80;

export function convGeometry(
  xDims: readonly number[],
  wDims: readonly number[],
  attrs: Conv2dAttrs = CONV_DEFAULTS,
  act: Act = 'none',
): ConvGeometry {
  const [C, H, W] = xDims.slice(-3) as [number, number, number];
  const [M, Cg, KH, KW] = wDims as [number, number, number, number];
  const { pads, strides, dilations, groups } = attrs;
  if (groups < 1 || Cg * groups !== C || M % groups !== 0) {
    throw new SparrowError('invalid_argument', `conv: ${C} input channels, weight ${wDims.join('x')} and group ${groups} disagree`);
  }
  const OH = convOutSize(H, KH, pads[0], pads[2], strides[0], dilations[0]);
  const OW = convOutSize(W, KW, pads[1], pads[3], strides[1], dilations[1]);
  if (OH < 1 || OW < 1) throw new SparrowError('invalid_argument', `conv: the ${KH}x${KW} window does not fit the padded ${H}x${W} input`);
  return { C, H, W, M, KH, KW, OH, OW, pads: [...pads], strides: [...strides], dilations: [...dilations], groups, act };
}

/** Writes the geometry block at ptr (CONV_GEOMETRY_BYTES). */
export function writeConvGeometry(w: SparrowWasm, geo: ConvGeometry, ptr: number): void {
  const [lo, hi] = actBounds(geo.act);
  const i = new Int32Array(w.memory.buffer, ptr, 20);
  i.set([
    geo.C,
    geo.H,
    geo.W,
    geo.M,
    geo.KH,
    geo.KW,
    geo.OH,
    geo.OW,
    ...geo.pads,
    ...geo.strides,
    ...geo.dilations,
    geo.groups,
    geo.act === 'none' ? 0 : 1,
  ]);
  const f = new Float32Array(w.memory.buffer, ptr, 20);
  f[18] = lo;
  f[19] = hi;
}

export interface ConvKernel {
  name: string;
  supports(geo: ConvGeometry): boolean;
  /** scratch bytes for the geometry block at g */
  workBytes(w: SparrowWasm, g: number): number;
  /** one image: x (C,H,W), wt (M, C/g, KH, KW), bias (M) or 0, y (M,OH,OW); returns the status */
  run(w: SparrowWasm, g: number, x: number, wt: number, bias: number, y: number, work: number): number;
}

/** Every conv kernel; the first that supports a geometry is the default (see pickConvKernel). */
export const F32_CONV_KERNELS: readonly ConvKernel[] = [
  {
    name: 'f32_dwconv__wasmsimd',
    supports: (geo) => geo.groups === geo.C,
    workBytes: (w, g) => w.exports.f32_dwconv_work_bytes(g),
    run: (w, g, x, wt, bias, y, work) => w.exports.f32_dwconv__wasmsimd(g, x, wt, bias, y, work),
  },
  {
    name: 'f32_conv2d_igemm_4x8__wasmsimd',
    supports: () => true,
    workBytes: (w, g) => w.exports.f32_conv2d_igemm_work_bytes(g),
    run: (w, g, x, wt, bias, y, work) => w.exports.f32_conv2d_igemm_4x8__wasmsimd(g, x, wt, bias, y, work),
  },
];

export function pickConvKernel(geo: ConvGeometry): ConvKernel {
  return F32_CONV_KERNELS.find((k) => k.supports(geo))!;
}

/** A conv node ready to run: its geometry block lives in w's arena (allocate plans before per-run temporaries). */
export interface ConvPlan {
  geo: ConvGeometry;
  kernel: ConvKernel;
  /** pointer of the geometry block */
  g: number;
  workBytes: number;
}

/** `alloc` gives the memory of the geometry block (default: w's stack; engines pass their plan's). */
export function planConv(
  w: SparrowWasm,
  geo: ConvGeometry,
  kernel: ConvKernel = pickConvKernel(geo),
  alloc: (bytes: number) => number = (b) => w.alloc(b),
): ConvPlan {
  if (!kernel.supports(geo)) throw new SparrowError('invalid_argument', `${kernel.name} does not support this conv`);
  const g = alloc(CONV_GEOMETRY_BYTES);
  writeConvGeometry(w, geo, g);
  const workBytes = kernel.workBytes(w, g);
  if (workBytes < 0) throw new SparrowError('invalid_argument', `${kernel.name}: inconsistent conv geometry`);
  return { geo, kernel, g, workBytes };
}

/** Runs one image through a plan; all pointers in w's memory, work ≥ plan.workBytes. */
export function runConv(w: SparrowWasm, plan: ConvPlan, x: number, wt: number, bias: number, y: number, work: number): void {
  const st = plan.kernel.run(w, plan.g, x, wt, bias, y, work);
  if (st < 0) throw new SparrowError('invalid_argument', `${plan.kernel.name}: inconsistent conv geometry (status ${st})`);
}

/**
 * Conv of a batch x (B, C, H, W) through WASM: copies x, weights and bias in, runs `kernel`
 * (default: pickConvKernel) per image, copies y (B, M, OH, OW) out; arena restored after.
 */
export function conv2dF32(
  w: SparrowWasm,
  x: Float32Array,
  xDims: readonly number[],
  wt: Float32Array,
  wDims: readonly number[],
  bias: Float32Array | undefined,
  attrs: Conv2dAttrs = CONV_DEFAULTS,
  act: Act = 'none',
  kernel?: ConvKernel,
): { data: Float32Array; dims: number[] } {
  const geo = convGeometry(xDims, wDims, attrs, act);
  const B = xDims.length === 4 ? xDims[0]! : 1;
  const inSize = geo.C * geo.H * geo.W,
    outSize = geo.M * geo.OH * geo.OW;
  const mark = w.mark();
  try {
    const plan = planConv(w, geo, kernel);
    const px = w.putF32(x),
      pw = w.putF32(wt),
      pb = bias ? w.putF32(bias) : 0;
    const py = w.alloc(B * outSize * 4),
      work = w.alloc(plan.workBytes);
    for (let b = 0; b < B; b++) runConv(w, plan, px + b * inSize * 4, pw, pb, py + b * outSize * 4, work);
    return { data: w.f32(py, B * outSize).slice(), dims: [B, geo.M, geo.OH, geo.OW] };
  } finally {
    w.release(mark);
  }
}

export interface GemmOptions {
  bias?: Float32Array;
  biasPer?: 'row' | 'col';
  act?: Act;
  /** B given as Bᵀ (N, K) row-major (ONNX Gemm transB=1) */
  transB?: boolean;
  kernel?: GemmKernel;
}

/** C(M,N) = act(A(M,K)·B + bias) through WASM (B packed on the way in); arena restored after. */
export function gemmF32(
  w: SparrowWasm,
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  B: Float32Array,
  opts: GemmOptions = {},
): Float32Array {
  const kernel = opts.kernel ?? F32_GEMM_KERNELS[0]!;
  const [lo, hi] = actBounds(opts.act ?? 'none');
  const mark = w.mark();
  try {
    const pa = w.putF32(A),
      pbRaw = w.putF32(B);
    const bp = w.alloc(w.exports.f32_packed_b_size(K, N) * 4);
    w.exports.f32_pack_b(K, N, pbRaw, opts.transB ? K : N, opts.transB ? 1 : 0, bp);
    const pbias = opts.bias ? w.putF32(opts.bias) : 0;
    const biasMode: BiasMode = !opts.bias ? 0 : (opts.biasPer ?? 'row') === 'row' ? 1 : 2;
    const pc = w.alloc(M * N * 4);
    kernel.run(w, M, N, K, pa, K, bp, pc, N, pbias, biasMode, (opts.act ?? 'none') === 'none' ? 0 : 1, lo, hi);
    return w.f32(pc, M * N).slice();
  } finally {
    w.release(mark);
  }
}

// ---- ConvTranspose: GEMM + col2im (assembly/f32/deconv.ts) -------------------------------------

/** Writes the geometry block of one group of a ConvTranspose at ptr (CONV_GEOMETRY_BYTES; layout in deconv.ts). */
export function writeDeconvGeometry(w: SparrowWasm, geo: Deconv2dGeometry, ptr: number): void {
  const [lo, hi] = actBounds(geo.act);
  const i = new Int32Array(w.memory.buffer, ptr, 20);
  i.set([geo.C, geo.H, geo.W, geo.M, geo.KH, geo.KW, geo.OH, geo.OW, ...geo.pads, 0, 0, ...geo.strides, ...geo.dilations, 1]);
  i[17] = geo.act === 'none' ? 0 : 1;
  const f = new Float32Array(w.memory.buffer, ptr, 20);
  f[18] = lo;
  f[19] = hi;
}

export interface DeconvKernel {
  name: string;
  /** scratch bytes for the geometry block at g (negative: inconsistent geometry) */
  workBytes(w: SparrowWasm, g: number): number;
  /** one image, one group: x (C,H,W), wp = f32_pack_b(C, M·KH·KW, W), bias (M) or 0, y (M,OH,OW); the status */
  run(w: SparrowWasm, g: number, x: number, wp: number, bias: number, y: number, work: number): number;
}

/** ConvTranspose kernels (reference: deconv2dRef, bit for bit). */
export const F32_DECONV_KERNELS: readonly DeconvKernel[] = [
  {
    name: 'f32_deconv2d__wasmsimd',
    workBytes: (w, g) => w.exports.f32_deconv2d_work_bytes(g),
    run: (w, g, x, wp, bias, y, work) => w.exports.f32_deconv2d__wasmsimd(g, x, wp, bias, y, work),
  },
];

export interface Col2imKernel {
  name: string;
  /** y (M,OH,OW) += col2im of the rows of input pixels [p0, p1) at cols (geometry block at g) */
  run(w: SparrowWasm, g: number, cols: number, p0: number, p1: number, y: number): void;
}

/** col2im scatter-add kernels (reference: col2imRef, bit for bit). */
export const F32_COL2IM_KERNELS: readonly Col2imKernel[] = [
  { name: 'f32_col2im__wasmsimd', run: (w, g, cols, p0, p1, y) => w.exports.f32_col2im__wasmsimd(g, cols, p0, p1, y) },
];

/**
 * ConvTranspose of a batch through WASM (tests, benchmarks): x (B, C, H, W), weights
 * (C, M/groups, KH, KW), bias (M) or none, each group's weights packed on the way in; per image
 * and group one kernel call on geometry `geo` (C, M of one group); y (B, M, OH, OW).
 */
export function deconv2dF32(
  w: SparrowWasm,
  x: Float32Array,
  B: number,
  wt: Float32Array,
  bias: Float32Array | undefined,
  geo: Deconv2dGeometry,
  groups = 1,
  kernel: DeconvKernel = F32_DECONV_KERNELS[0]!,
): Float32Array {
  const { C, H, W, M, KH, KW, OH, OW } = geo;
  const N = M * KH * KW,
    P = H * W,
    Q = OH * OW;
  const mark = w.mark();
  try {
    const g = w.alloc(CONV_GEOMETRY_BYTES);
    writeDeconvGeometry(w, geo, g);
    const work = kernel.workBytes(w, g);
    if (work < 0) throw new SparrowError('invalid_argument', `${kernel.name}: inconsistent ConvTranspose geometry`);
    const packed = Array.from({ length: groups }, (_, gi) => {
      const raw = w.putF32(wt.subarray(gi * C * N, (gi + 1) * C * N));
      const bp = w.alloc(w.exports.f32_packed_b_size(C, N) * 4);
      w.exports.f32_pack_b(C, N, raw, N, 0, bp);
      return bp;
    });
    const px = w.putF32(x),
      pb = bias ? w.putF32(bias) : 0;
    const py = w.alloc(B * groups * M * Q * 4 + 16),
      pw = w.alloc(work + 16);
    for (let b = 0; b < B; b++)
      for (let gi = 0; gi < groups; gi++) {
        const st = kernel.run(
          w,
          g,
          px + (b * groups + gi) * C * P * 4,
          packed[gi]!,
          pb ? pb + gi * M * 4 : 0,
          py + (b * groups + gi) * M * Q * 4,
          pw,
        );
        if (st < 0) throw new SparrowError('invalid_argument', `${kernel.name}: status ${st}`);
      }
    return w.f32(py, B * groups * M * Q).slice();
  } finally {
    w.release(mark);
  }
}

// ---- separable resampling (assembly/f32ops/resample.ts) ---------------------------------------

/** Bytes of a resampling descriptor and its tables, written through `put` (16-aligned pieces). */
export type PutBytes = (data: ArrayBufferView) => number;

/** One axis's table: per output n i32 indices then n f32 weights (0 when the axis is copied). */
function axisTable(put: PutBytes, a: ResampleAxis, count: number, index: (i: number) => number): number {
  if (a.n === 0) return 0;
  const buf = new ArrayBuffer(Math.max(16, count * a.n * 8));
  const iv = new Int32Array(buf),
    fv = new Float32Array(buf);
  for (let o = 0; o < count; o++)
    for (let k = 0; k < a.n; k++) {
      const src = a.idx[o * a.n + k]!;
      iv[o * 2 * a.n + k] = src < 0 ? -1 : index(src);
      fv[o * 2 * a.n + a.n + k] = a.weight[o * a.n + k]!;
    }
  return put(new Uint8Array(buf));
}

/**
 * Writes the descriptor of f32_resample2d__wasmsimd (layout in resample.ts) for `r`; the slots
 * are the distinct source rows the row taps read. Returns its pointer and the kernel's scratch bytes.
 */
export function writeResampleDesc(put: PutBytes, r: Resample2d): { desc: number; workBytes: number } {
  const slotRows = r.rows.n === 0 ? [] : [...new Set(Array.from(r.rows.idx).filter((i) => i >= 0))].sort((a, b) => a - b);
  const slotOf = new Map(slotRows.map((row, s) => [row, s]));
  const rowTab = axisTable(put, r.rows, r.OH, (row) => slotOf.get(row)!);
  const colTab = axisTable(put, r.cols, r.OW, (col) => col);
  const slotTab = put(Int32Array.from(slotRows.length ? slotRows : [0]));
  const refill = r.cols.n > 0 && Array.from({ length: r.OW }, (_, o) => r.cols.idx[o * r.cols.n]!).some((i) => i < 0);
  const buf = new ArrayBuffer(64);
  const iv = new Int32Array(buf);
  iv.set([r.planes, r.H, r.W, r.OH, r.OW, r.rows.n, rowTab, r.cols.n, colTab, slotRows.length, slotTab]);
  new Float32Array(buf)[11] = r.extrapolation;
  iv[12] = refill ? 1 : 0;
  return { desc: put(new Uint8Array(buf)), workBytes: slotRows.length * r.OW * 4 };
}

export interface ResampleKernel {
  name: string;
  /** scratch bytes for the descriptor at d */
  workBytes(w: SparrowWasm, d: number): number;
  run(w: SparrowWasm, d: number, x: number, y: number, work: number): void;
}

/** Resampling kernels (reference: resample2dRef, bit for bit). */
export const F32_RESAMPLE_KERNELS: readonly ResampleKernel[] = [
  {
    name: 'f32_resample2d__wasmsimd',
    workBytes: (w, d) => w.exports.f32_resample2d_work_bytes(d),
    run: (w, d, x, y, work) => w.exports.f32_resample2d__wasmsimd(d, x, y, work),
  },
];

/** Resamples x (planes, H, W) through WASM (tests, benchmarks); arena restored after. */
export function resample2dF32(
  w: SparrowWasm,
  r: Resample2d,
  x: Float32Array,
  kernel: ResampleKernel = F32_RESAMPLE_KERNELS[0]!,
): Float32Array {
  const mark = w.mark();
  try {
    const { desc } = writeResampleDesc((d) => w.putBytes(d), r);
    const px = w.putF32(x);
    const n = r.planes * r.OH * r.OW;
    const py = w.alloc(n * 4 + 16),
      work = w.alloc(kernel.workBytes(w, desc) + 16);
    kernel.run(w, desc, px, py, work);
    return w.f32(py, n).slice();
  } finally {
    w.release(mark);
  }
}
