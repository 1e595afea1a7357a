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
  actCode,
  CONV_DEFAULTS,
  convOutSize,
  type Act,
  type Conv2dAttrs,
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
