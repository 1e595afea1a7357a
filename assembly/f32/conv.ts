// float32 2-D convolution (ONNX Conv, NCHW, one image) for WASM SIMD128.
// The plain TS reference is conv2dRef in src/kernels/f32_ref.ts.
//
// Every conv is, per group, a GEMM with M = Cout/groups, N = OH·OW, K = Cin/groups·KH·KW:
// A = the weights exactly as ONNX stores them, (Cout, Cin/g, KH, KW) row-major = (M, K) per
// group (no repacking), C = the NCHW output, bias per output channel and ReLU/clamp fused.
//
//   f32_conv2d_igemm_4x8__wasmsimd  (default; any conv) indirect GEMM, XNNPACK igemm turned to
//       NCHW: the input is copied once into zero-padded planes split into strideW column phases,
//       so the 8 output pixels of a panel read, for each k = (c, kh, kw), 8 consecutive floats
//       at a per-k offset; the 4x8 microkernel loads B through a table of K offsets. No im2col.
//   f32_dwconv__wasmsimd      direct kernel for Cin/groups = 1 (depthwise, any multiplier):
//       a zero-padded, column-phase-split plane per channel, R-row × 8-column register blocks,
//       3x3 / 5x5 at stride 1 / 2 unrolled (gen/dwconv_rx8.ts.in); faster than igemm there
//       (igemm runs 1-row tiles on K = KH·KW).
// (An im2col + packed-B GEMM conv, f32_conv2d_4x8, was slower than igemm on every ResNet-20
// shape, the panel copy amortized over only M/4 row tiles, and was removed with its im2col.)
//
// Geometry: 20 words at `g` (i32 unless noted), written once by the caller
// (writeConvGeometry in src/kernels/f32.ts):
//   0 C  1 H  2 W  3 M (= Cout)  4 KH  5 KW  6 OH  7 OW  8 padTop  9 padLeft  10 padBottom
//   11 padRight  12 strideH  13 strideW  14 dilH  15 dilW  16 groups  17 act (ACT_* of
//   f32ops/unary.ts: 0 none, 1 clamp [lo, hi], 2.. sigmoid, silu, hardswish, hardsigmoid, tanh, gelu)
//   18 lo (f32)  19 hi (f32)
// Buffers: x (C,H,W), w (M, C/groups, KH, KW), bias (M) or 0, y (M,OH,OW), work ≥ *_work_bytes(g)
// bytes, 16-byte aligned. Inputs are read only inside their extent (the kernels' over-reads
// land in their own padded copies in work). Nothing is allocated; every function returns 0, or
// E_ARG (-5) when the geometry is inconsistent (then nothing is written).

import { igemmRows } from './gemm';
import { applyAct, ACT_CLAMP } from '../f32ops/unary';
import { dwChannel, dwRows } from './gen/dwconv_rx8';
import {
  G_C, G_H, G_W, G_M, G_KH, G_KW, G_OH, G_OW, G_PT, G_PL, G_PB, G_PR, G_SH, G_SW, G_DH, G_DW, G_GROUPS, G_ACT, G_LO, G_HI,
  gi, geomShapeOk, outSize,
} from '../geometry';

const E_ARG: i32 = -5;

/** True when the geometry is self-consistent (the kernels trust it for every address). */
function geomOk(g: usize): bool {
  if (!geomShapeOk(g)) return false;
  const C = gi(g, G_C), H = gi(g, G_H), W = gi(g, G_W), M = gi(g, G_M), groups = gi(g, G_GROUPS);
  const KH = gi(g, G_KH), KW = gi(g, G_KW), sw = gi(g, G_SW);
  const pt = gi(g, G_PT), pl = gi(g, G_PL), pb = gi(g, G_PB), pr = gi(g, G_PR);
  const oh = gi(g, G_OH), ow = gi(g, G_OW);
  // every buffer and scratch size must stay far from 32-bit overflow (sizes below in elements)
  const LIMIT: u64 = 1 << 28;
  const hp = <u64>H + pt + pb, wp = <u64>W + pl + pr;
  return <u64>C * hp * (wp + 4) * <u64>sw < LIMIT && <u64>M * <u64>oh * <u64>ow < LIMIT
    && <u64>M * <u64>(C / groups) * <u64>KH * <u64>KW < LIMIT && <u64>(C / groups) * <u64>KH * <u64>KW < (1 << 24);
}

@inline function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15);
}

/** Zeroes `bytes` (a multiple of 4) at p. */
@inline function zeroBytes(p: usize, bytes: usize): void {
  const z = f32x4.splat(0);
  const end = p + bytes;
  while (p + 16 <= end) { v128.store(p, z); p += 16; }
  while (p < end) { store<f32>(p, 0); p += 4; }
}

/** Copies `bytes` (a multiple of 4) from src to dst (no overlap). */
@inline function copyBytes(dst: usize, src: usize, bytes: usize): void {
  const end = src + bytes;
  while (src + 16 <= end) { v128.store(dst, v128.load(src)); src += 16; dst += 16; }
  while (src < end) { store<f32>(dst, load<f32>(src)); src += 4; dst += 4; }
}

// ---- shared geometry decoding -------------------------------------------------------------

// decoded by loadGeom (globals: AssemblyScript functions return one value)
let C: usize = 0, H: usize = 0, W: usize = 0, M: usize = 0, KH: usize = 0, KW: usize = 0, OH: usize = 0, OW: usize = 0;
let PT: usize = 0, PL: usize = 0, SH: usize = 0, SW: usize = 0, DH: usize = 0, DW: usize = 0, GROUPS: usize = 0;
let HP: usize = 0, WP: usize = 0;

function loadGeom(g: usize): void {
  C = gi(g, G_C); H = gi(g, G_H); W = gi(g, G_W); M = gi(g, G_M);
  KH = gi(g, G_KH); KW = gi(g, G_KW); OH = gi(g, G_OH); OW = gi(g, G_OW);
  PT = gi(g, G_PT); PL = gi(g, G_PL); SH = gi(g, G_SH); SW = gi(g, G_SW);
  DH = gi(g, G_DH); DW = gi(g, G_DW); GROUPS = gi(g, G_GROUPS);
  HP = H + PT + <usize>gi(g, G_PB); WP = W + PL + <usize>gi(g, G_PR);
}

// ---- indirect GEMM: no im2col ---------------------------------------------------------------

// Phase-split padded input (igemm): each padded row of WP columns is stored as SW phases of
// WS = roundup4(ceil(WP/SW)) floats, phase q holding padded columns q, q+SW, q+2·SW, ...; row
// length RL = SW·WS (stride 1: a plain padded row, WS = WP). Output pixels ow..ow+7 of kernel
// column j then read phase (j·dw) % SW at index ow + ⌊j·dw/SW⌋: 8 consecutive floats.
let WS: usize = 0, RL: usize = 0;

function phaseGeom(): void {
  WS = SW == 1 ? WP : ((WP + SW - 1) / SW + 3) & ~(<usize>3);
  RL = SW * WS;
}

/** Bytes of the phase-split planes + 32 bytes slack (the last partial panel reads 8 floats). */
@inline function phasedBytes(): usize {
  return align16((C * HP * RL << 2) + 32);
}

/**
 * Writes the phase-split zero-padded planes of x (C,H,W) at dst (layout above) and the slack.
 * tmp: a scratch row of RL floats (stride ≥ 2 only).
 */
function padPhased(x: usize, dst: usize, tmp: usize): void {
  const s = SW, WB = W << 2, plB = PL << 2, RLB = RL << 2;
  let src = x, d = dst;
  for (let c: usize = 0; c < C; c++) {
    for (let hp: usize = 0; hp < HP; hp++) {
      if (hp < PT || hp >= PT + H) { zeroBytes(d, RLB); d += RLB; continue; }
      const row = s == 1 ? d : tmp;
      if (plB) zeroBytes(row, plB);
      copyBytes(row + plB, src, WB);
      zeroBytes(row + plB + WB, RLB - plB - WB);
      if (s == 2) {
        // deinterleave 8 columns into 4 even (phase 0) and 4 odd (phase 1); WS % 4 == 0
        const WSB = WS << 2;
        for (let m: usize = 0; m < WSB; m += 16) {
          const v0 = v128.load(tmp + (m << 1)), v1 = v128.load(tmp + (m << 1), 16);
          v128.store(d + m, v128.shuffle<f32>(v0, v1, 0, 2, 4, 6));
          v128.store(d + WSB + m, v128.shuffle<f32>(v0, v1, 1, 3, 5, 7));
        }
      } else if (s > 2) {
        for (let col: usize = 0; col < RL; col++) store<f32>(d + ((col % s * WS + col / s) << 2), load<f32>(tmp + (col << 2)));
      }
      src += WB; d += RLB;
    }
  }
  zeroBytes(d, dst + phasedBytes() - d);
}

/** Scratch bytes f32_conv2d_igemm_4x8__wasmsimd needs (phase-split input, K offsets, a row); -5 on bad geometry. */
export function f32_conv2d_igemm_work_bytes(g: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  loadGeom(g);
  phaseGeom();
  return <i32>(phasedBytes() + align16(C / GROUPS * KH * KW << 2) + align16(RL << 2));
}

/**
 * Conv as an indirect GEMM (XNNPACK igemm, transposed to NCHW): the B panel of 8 output pixels
 * on one output row is, for every k = (c, kh, kw), 8 consecutive floats of the phase-split
 * padded input at a per-k offset, so the microkernel reads B straight from the input through a
 * table of K offsets instead of an im2col copy. One igemmRows call per output row and group.
 */
export function f32_conv2d_igemm_4x8__wasmsimd(g: usize, x: usize, w: usize, bias: usize, y: usize, work: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  loadGeom(g);
  phaseGeom();
  const act = gi(g, G_ACT);
  const lo = load<f32>(g + (<usize>G_LO << 2)), hi = load<f32>(g + (<usize>G_HI << 2));
  const Cg = C / GROUPS, Mg = M / GROUPS, K = Cg * KH * KW, N = OH * OW;
  const koff = work + phasedBytes(), tmp = koff + align16(K << 2);
  padPhased(x, work, tmp);
  let kp = koff;
  for (let c: usize = 0; c < Cg; c++) for (let i: usize = 0; i < KH; i++) for (let j: usize = 0; j < KW; j++) {
    const col = j * DW;
    store<i32>(kp, <i32>((c * HP * RL + i * DH * RL + col % SW * WS + col / SW) << 2));
    kp += 4;
  }
  const KB = K << 2, NB = N << 2, rowB = SH * RL << 2;
  // 1x1, stride 1, no padding: the copied planes are X (K, OH·OW) itself, so one call covers
  // every output pixel (panels run across row ends; the last reads the slack): A's 4-row tile is
  // loaded once per group, not once per output row, and only the last of the N/8 panels is
  // partial (a 7x7 plane: 7 panels for 49 pixels, not 7 one-panel calls with 7 of 8 columns)
  const flat = KH == 1 && KW == 1 && SH == 1 && SW == 1 && HP == H && WP == W;
  const rows: usize = flat ? 1 : OH, cols: usize = flat ? N : OW;
  for (let grp: usize = 0; grp < GROUPS; grp++) {
    let xb = work + (grp * Cg * HP * RL << 2);
    const ag = w + grp * Mg * KB;
    let yr = y + grp * Mg * NB;
    const bg = bias ? bias + (grp * Mg << 2) : 0;
    for (let oh: usize = 0; oh < rows; oh++) {
      igemmRows(Mg, cols, K, ag, KB, koff, xb, yr, NB, bg, bias ? 1 : 0, act, lo, hi);
      xb += rowB; yr += OW << 2;
    }
  }
  return 0;
}

// ---- depthwise ----------------------------------------------------------------------------

// Depthwise plane (one input channel, zero-padded): DHQ rows of RL floats; a row holds its SW
// column phases of DWS floats each (phase q: padded columns q, q + SW, q + 2·SW, ...; stride 1:
// one phase, the plain padded row), so output columns ow..ow+7 of a tap in kernel column j read 8
// consecutive floats of phase (j·DW) % SW at ow + ⌊j·DW / SW⌋. DWS covers the last 8-column
// block of every tap, DHQ the last R-row block (rows past the input are zero).
let DWS: usize = 0, DRL: usize = 0, DHQ: usize = 0;

function dwPlaneGeom(): void {
  const rows = dwRows(KH, KW, SH, SW, DH, DW);
  const ow8 = (OW + 7) & ~(<usize>7);
  const needW = ow8 + (KW - 1) * DW / SW, phW = (WP + SW - 1) / SW;
  DWS = ((needW > phW ? needW : phW) + 3) & ~(<usize>3);
  DRL = SW * DWS;
  const ohR = (OH + rows - 1) / rows * rows;
  const needH = (ohR - 1) * SH + (KH - 1) * DH + 1;
  DHQ = needH > HP ? needH : HP;
}

/** Bytes of the depthwise plane, the tap table and the phase-split row buffer. */
@inline function dwWork(): usize {
  return align16(DHQ * DRL << 2) + align16(KH * KW << 2) + align16(DRL << 2);
}

/** Scratch bytes f32_dwconv__wasmsimd needs (one padded plane, KH·KW offsets, one row); -5 on bad geometry or C/groups ≠ 1. */
export function f32_dwconv_work_bytes(g: usize): i32 {
  if (!geomOk(g) || gi(g, G_C) != gi(g, G_GROUPS)) return E_ARG;
  loadGeom(g);
  dwPlaneGeom();
  if (<u64>DHQ * <u64>DRL >= (1 << 28)) return E_ARG;
  return <i32>dwWork();
}

/**
 * Copies input plane x (H,W) into the rows PT..PT+H-1 of the phase-split plane (columns PL..);
 * every other float of the plane keeps the zero it was given. Stride 2 splits each row into its
 * two phases straight from x; tmp (strides ≥ 3): a zeroed row of DRL floats where the padded row
 * is built, then scattered into the phases.
 */
function dwFill(x: usize, plane: usize, tmp: usize): void {
  const WB = W << 2, plB = PL << 2, RLB = DRL << 2;
  let src = x, d = plane + PT * RLB;
  if (SW == 1) {
    for (let h: usize = 0; h < H; h++) { copyBytes(d + plB, src, WB); src += WB; d += RLB; }
    return;
  }
  const WSB = DWS << 2;
  if (SW == 2) {
    // input column i is padded column PL + i: even i go to phase PL & 1 at (PL >> 1) + i/2, odd i
    // to the other phase at ((PL + 1) >> 1) + (i - 1)/2; 8 columns → 4 + 4 by two shuffles
    const pe = PL & 1;
    const ev = d + pe * WSB + ((PL >> 1) << 2), od = d + (1 - pe) * WSB + (((PL + 1) >> 1) << 2);
    for (let h: usize = 0; h < H; h++) {
      const rowOff = h * RLB;
      let i: usize = 0;
      for (; i + 8 <= W; i += 8) {
        const v0 = v128.load(src + (i << 2)), v1 = v128.load(src + (i << 2), 16);
        v128.store(ev + rowOff + (i << 1), v128.shuffle<f32>(v0, v1, 0, 2, 4, 6));
        v128.store(od + rowOff + (i << 1), v128.shuffle<f32>(v0, v1, 1, 3, 5, 7));
      }
      for (; i < W; i++) store<f32>((i & 1 ? od : ev) + rowOff + ((i >> 1) << 2), load<f32>(src + (i << 2)));
      src += WB;
    }
    return;
  }
  for (let h: usize = 0; h < H; h++) {
    // any other stride: the padded row built in tmp, then scattered into the phases
    copyBytes(tmp + plB, src, WB);
    for (let col: usize = 0; col < DRL; col++) store<f32>(d + ((col % SW * DWS + col / SW) << 2), load<f32>(tmp + (col << 2)));
    src += WB; d += RLB;
  }
}

/**
 * Depthwise conv (Cin/groups = 1; Cout = groups·multiplier): output channel o reads input channel
 * o / multiplier. Each input plane is copied once into the zero-padded, phase-split plane in work
 * (zeroed once per call: only the interior is rewritten per channel), so every tap reads 4
 * output columns as one v128.load whatever the stride. Outputs are computed in blocks of R rows ×
 * 8 columns (2·R f32x4 accumulators), one broadcast weight per tap and row: 3x3 and 5x5 at stride
 * 1 and 2 by kernels with the taps unrolled at constant offsets, each input quad loaded once per
 * block; any other geometry through a table of KH·KW plane offsets. Every output sums bias + taps
 * in (kh, kw) order in float32. The clamp (Relu, Clip) is applied to the accumulators, other
 * activations over each band of R output rows right after it is stored (in L1). The
 * microkernels (dwChannel) are generated from gen/dwconv_rx8.ts.in by scripts/gen-kernels.mjs.
 */
export function f32_dwconv__wasmsimd(g: usize, x: usize, w: usize, bias: usize, y: usize, work: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  return f32_dwconv_part__wasmsimd(g, x, w, bias, y, work, 0, gi(g, G_C));
}

/**
 * f32_dwconv__wasmsimd over the input channels [c0, c1) only (and their output channels
 * c·mult..): the threads' split of a depthwise layer. The parts of a partition of [0, C) write
 * together exactly what the whole call writes. −5 when 0 ≤ c0 ≤ c1 ≤ C fails.
 */
export function f32_dwconv_part__wasmsimd(g: usize, x: usize, w: usize, bias: usize, y: usize, work: usize, c0: i32, c1: i32): i32 {
  if (!geomOk(g) || gi(g, G_C) != gi(g, G_GROUPS)) return E_ARG;
  if (c0 < 0 || c1 < c0 || c1 > gi(g, G_C)) return E_ARG;
  loadGeom(g);
  dwPlaneGeom();
  if (<u64>DHQ * <u64>DRL >= (1 << 28)) return E_ARG;
  const act = gi(g, G_ACT), clamp = act == ACT_CLAMP;
  const lo = load<f32>(g + (<usize>G_LO << 2)), hi = load<f32>(g + (<usize>G_HI << 2));
  const vmin = f32x4.splat(lo), vmax = f32x4.splat(hi);
  const mult = M / C, KK = KH * KW;
  const rowB = DRL << 2, phB = DWS << 2;
  const planeB = align16(DHQ * DRL << 2);
  const koff = work + planeB, tmp = koff + align16(KK << 2);
  zeroBytes(work, planeB);
  if (SW > 2) zeroBytes(tmp, DRL << 2);
  let kp = koff;
  for (let i: usize = 0; i < KH; i++) for (let j: usize = 0; j < KW; j++) {
    const col = j * DW;
    store<i32>(kp, <i32>((i * DH * DRL + col % SW * DWS + col / SW) << 2));
    kp += 4;
  }
  const oH = OH, oW = OW, kh = KH, kw = KW, sh = SH, sw = SW, dh = DH, dw = DW;
  for (let c: usize = <usize>c0; c < <usize>c1; c++) {
    dwFill(x + (c * H * W << 2), work, tmp);
    for (let mo: usize = 0; mo < mult; mo++) {
      const o = c * mult + mo;
      const wk = w + (o * KK << 2), outPlane = y + (o * oH * oW << 2);
      const bv = bias ? v128.load32_splat(bias + (o << 2)) : f32x4.splat(0);
      dwChannel(work, koff, KK, wk, bv, outPlane, oH, oW, kh, kw, sh, sw, dh, dw, rowB, phB, clamp, vmin, vmax, act, lo, hi);
    }
  }
  return 0;
}
