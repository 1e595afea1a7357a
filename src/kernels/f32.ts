// The float32 WASM kernels as data (tests sweep every entry, the bench times every entry) and a
// TS driver that lays buffers out in SparrowWasm memory and runs a GEMM or a conv through them.
// Layouts and contracts: assembly/f32/gemm.ts (packed B panels) and assembly/f32/conv.ts
// (geometry block), assembly/f32/rnn.ts (recurrent descriptor). References: ./f32_ref.ts.
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
  actCode,
  type RecurrentAct,
  type RecurrentKind,
  type RecurrentSeqArgs,
  type RecurrentSeqResult,
} from './f32_ref.js';

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
  gemmKernel('f32_gemm_1x32__wasmsimd', 1, 32),
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

// ---- recurrent layers (assembly/f32/rnn.ts) ----------------------------------------------------

/** Words of the recurrent descriptor (layout in assembly/f32/rnn.ts). */
export const RECURRENT_DESC_WORDS = 32;
export const RECURRENT_DESC_BYTES = RECURRENT_DESC_WORDS * 4;

/** The recurrent descriptor as an object: sizes, element strides, byte pointers (0: absent). */
export interface RecurrentDesc {
  S: number;
  B: number;
  H: number;
  reverse: boolean;
  xw: number;
  xwT: number;
  xwB: number;
  /** R packed by f32_pack_b (K = H, N = G·H, transB) */
  rp: number;
  lens: number;
  h0: number;
  c0: number;
  stB: number;
  y: number;
  yT: number;
  yB: number;
  yh: number;
  yc: number;
  p: number;
  rbh: number;
  inputForget: boolean;
  linearBeforeReset: boolean;
  /** 0: none */
  clip: number;
  /** f, g, h (unused ones ignored) */
  acts: RecurrentAct[];
  work: number;
}

/** Writes the descriptor at ptr (RECURRENT_DESC_BYTES). */
export function writeRecurrentDesc(w: SparrowWasm, ptr: number, d: RecurrentDesc): void {
  const i = w.i32(ptr, RECURRENT_DESC_WORDS);
  i.fill(0);
  i.set([d.S, d.B, d.H, d.reverse ? 1 : 0, d.xw, d.xwT, d.xwB, d.rp, d.lens, d.h0, d.c0, d.stB, d.y, d.yT, d.yB, d.yh, d.yc, d.p, d.rbh]);
  i[19] = (d.inputForget ? 1 : 0) | (d.linearBeforeReset ? 2 : 0);
  i[30] = d.work;
  const f = w.f32(ptr, RECURRENT_DESC_WORDS);
  f[20] = d.clip;
  for (let k = 0; k < 3; k++) {
    const a = d.acts[k] ?? { code: 0, alpha: 0, beta: 0 };
    i[21 + 3 * k] = a.code;
    f[22 + 3 * k] = a.alpha;
    f[23 + 3 * k] = a.beta;
  }
}

export interface RecurrentKernel {
  name: string;
  kind: RecurrentKind;
  /** bytes of the descriptor's work buffer for batch B, hidden size H */
  workBytes(w: SparrowWasm, B: number, H: number): number;
  /** one direction over the sequence, descriptor at d */
  run(w: SparrowWasm, d: number): void;
}

export const RECURRENT_KIND_CODE: Readonly<Record<RecurrentKind, number>> = { RNN: 0, GRU: 1, LSTM: 2 };
export const RECURRENT_GATES: Readonly<Record<RecurrentKind, number>> = { RNN: 1, GRU: 3, LSTM: 4 };

function recurrentKernel(name: keyof Ex & `f32_${string}_seq__wasmsimd`, kind: RecurrentKind): RecurrentKernel {
  return {
    name,
    kind,
    workBytes: (w, B, H) => w.exports.f32_recurrent_work_bytes(RECURRENT_KIND_CODE[kind], B, H),
    run: (w, d) => (w.exports[name] as Ex['f32_lstm_seq__wasmsimd'])(d),
  };
}

/** Every recurrent kernel (one per cell type); reference: recurrentSeqRef. */
export const F32_RECURRENT_KERNELS: readonly RecurrentKernel[] = [
  recurrentKernel('f32_rnn_seq__wasmsimd', 'RNN'),
  recurrentKernel('f32_gru_seq__wasmsimd', 'GRU'),
  recurrentKernel('f32_lstm_seq__wasmsimd', 'LSTM'),
];

/** Where recurrentSeqF32 lays out XW, Y and the states (the strides the engine uses). */
export interface RecurrentPlacement {
  /** XW and Y rows batch-major ((b, t) order: ONNX layout 1) instead of (t, b) */
  batchMajor?: boolean;
  /** directions in Y and the states, and the one this call fills (its slots interleave with the other's) */
  dirs?: 1 | 2;
  dir?: 0 | 1;
  /** value of every float of Y, Y_h, Y_c the kernel must not write */
  sentinel?: number;
}

/**
 * One direction through a recurrent kernel (the contract of recurrentSeqRef): lays XW, packed R,
 * the states and outputs out in w's memory with the strides of `place`, runs the kernel and reads
 * the direction's outputs back; `untouched` is false when the kernel wrote a slot of Y, Y_h or
 * Y_c outside its direction. The arena is restored after.
 */
export function recurrentSeqF32(
  w: SparrowWasm,
  a: RecurrentSeqArgs,
  place: RecurrentPlacement = {},
  kernel: RecurrentKernel = F32_RECURRENT_KERNELS.find((k) => k.kind === a.kind)!,
): RecurrentSeqResult & { untouched: boolean } {
  const { S, B, H } = a;
  const GH = RECURRENT_GATES[a.kind] * H;
  const D = place.dirs ?? 1,
    dir = place.dir ?? 0,
    bm = place.batchMajor ?? false;
  const sentinel = place.sentinel ?? -12345.5;
  const ldx = Math.ceil(GH / 8) * 8 + 8; // padded XW rows, as the engine's
  const mark = w.mark();
  try {
    // XW rows in (t, b) or (b, t) order
    const xw = w.alloc((S * B * ldx + 16) * 4);
    const xv = w.f32(xw, S * B * ldx + 16);
    xv.fill(NaN); // padding is never a term of a sum
    const [xwT, xwB] = bm ? [ldx, S * ldx] : [B * ldx, ldx];
    for (let t = 0; t < S; t++)
      for (let b = 0; b < B; b++) xv.set(a.xw.subarray((t * B + b) * GH, (t * B + b + 1) * GH), t * xwT + b * xwB);
    const rRaw = w.putF32(a.r);
    const rp = w.alloc(w.exports.f32_packed_b_size(H, GH) * 4 + 16);
    w.exports.f32_pack_b(H, GH, rRaw, H, 1, rp);
    // states and outputs: [D, B, H] or [B, D, H]; Y [S, D, B, H] or [B, S, D, H]
    const [stB, stD] = bm ? [D * H, H] : [H, B * H];
    const [yT, yB, yD] = bm ? [D * H, S * D * H, H] : [D * B * H, H, B * H];
    const stLen = D * B * H,
      yLen = S * D * B * H;
    const putState = (v: Float32Array | undefined): number => {
      if (!v) return 0;
      const p = w.alloc(stLen * 4 + 16);
      const pv = w.f32(p, stLen + 4);
      pv.fill(NaN);
      for (let b = 0; b < B; b++) pv.set(v.subarray(b * H, (b + 1) * H), dir * stD + b * stB);
      return p + dir * stD * 4;
    };
    const h0 = putState(a.h0),
      c0 = putState(a.c0);
    const out = (len: number): number => {
      const p = w.alloc(len * 4 + 16);
      w.f32(p, len + 4).fill(sentinel);
      return p;
    };
    const y = out(yLen),
      yh = out(stLen),
      yc = out(stLen);
    const lens = a.lens ? w.putBytes(a.lens) : 0;
    const p = a.peep ? w.putF32(a.peep) : 0;
    const rbh = a.rbh ? w.putF32(a.rbh) : 0;
    const work = w.alloc(kernel.workBytes(w, B, H));
    const d = w.alloc(RECURRENT_DESC_BYTES);
    writeRecurrentDesc(w, d, {
      S,
      B,
      H,
      reverse: a.reverse,
      xw,
      xwT,
      xwB,
      rp,
      lens,
      h0,
      c0,
      stB,
      y: y + dir * yD * 4,
      yT,
      yB,
      yh: yh + dir * stD * 4,
      yc: yc + dir * stD * 4,
      p,
      rbh,
      inputForget: a.inputForget ?? false,
      linearBeforeReset: a.linearBeforeReset ?? false,
      clip: a.clip ?? 0,
      acts: a.acts,
      work,
    });
    kernel.run(w, d);
    const yv = w.f32(y, yLen + 4),
      yhv = w.f32(yh, stLen + 4),
      ycv = w.f32(yc, stLen + 4);
    const res: RecurrentSeqResult = { y: new Float32Array(S * B * H), yh: new Float32Array(B * H), yc: new Float32Array(B * H) };
    const mine = { y: new Set<number>(), st: new Set<number>() };
    for (let t = 0; t < S; t++)
      for (let b = 0; b < B; b++)
        for (let j = 0; j < H; j++) {
          const i = dir * yD + t * yT + b * yB + j;
          res.y[(t * B + b) * H + j] = yv[i]!;
          mine.y.add(i);
        }
    for (let b = 0; b < B; b++)
      for (let j = 0; j < H; j++) {
        const i = dir * stD + b * stB + j;
        res.yh[b * H + j] = yhv[i]!;
        res.yc[b * H + j] = ycv[i]!;
        mine.st.add(i);
      }
    let untouched = true;
    for (let i = 0; i < yLen + 4; i++) if (!mine.y.has(i) && !Object.is(yv[i], sentinel)) untouched = false;
    for (let i = 0; i < stLen + 4; i++) {
      if (!mine.st.has(i) && !Object.is(yhv[i], sentinel)) untouched = false;
      if ((a.kind !== 'LSTM' || !mine.st.has(i)) && !Object.is(ycv[i], sentinel)) untouched = false;
    }
    return { ...res, untouched };
  } finally {
    w.release(mark);
  }
}
