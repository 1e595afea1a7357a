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
import { actCode, CONV_DEFAULTS, convOutSize, type Act, type Conv2dAttrs } from './f32_ref.js';

type Ex = SparrowWasm['exports'];

/** 0: no bias; 1: bias[m] per row of C (conv: per output channel); 2: bias[n] per column. */
export type BiasMode = 0 | 1 | 2;

export interface GemmKernel {
  name: string;
  /** rows × columns of the register tile */
  mr: number;
  nr: number;
  /** C(M,N) = act(A·Bp + bias); pointers into w's memory, sizes/strides in elements; act an ACT_CODE (1: clamp [lo, hi]) */
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
    act: number,
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
  const [code, lo, hi] = actCode(geo.act);
  const i = new Int32Array(w.memory.buffer, ptr, 20);
  i.set([geo.C, geo.H, geo.W, geo.M, geo.KH, geo.KW, geo.OH, geo.OW, ...geo.pads, ...geo.strides, ...geo.dilations, geo.groups, code]);
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
  const [act, lo, hi] = actCode(opts.act ?? 'none');
  const mark = w.mark();
  try {
    const pa = w.putF32(A),
      pbRaw = w.putF32(B);
    const bp = w.alloc(w.exports.f32_packed_b_size(K, N) * 4);
    w.exports.f32_pack_b(K, N, pbRaw, opts.transB ? K : N, opts.transB ? 1 : 0, bp);
    const pbias = opts.bias ? w.putF32(opts.bias) : 0;
    const biasMode: BiasMode = !opts.bias ? 0 : (opts.biasPer ?? 'row') === 'row' ? 1 : 2;
    const pc = w.alloc(M * N * 4);
    kernel.run(w, M, N, K, pa, K, bp, pc, N, pbias, biasMode, act, lo, hi);
    return w.f32(pc, M * N).slice();
  } finally {
    w.release(mark);
  }
}
