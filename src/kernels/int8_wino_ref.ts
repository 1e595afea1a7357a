// Plain TS reference of the exact integer Winograd F(2x2, 3x3) int8 conv
// (assembly/int8/winograd.ts, qs8_wino2x2_3x3__wasmsimd): the same integer steps in the same
// order, int32 wrapping where the kernel wraps, so it is the kernel's oracle and, for
// Cin ≤ WINO_MAX_CIN, equal to qs8Conv2dRef (the direct conv) bit for bit.
//
//   U' = G' g G'ᵀ (4x4 per (cout, cin), G' = 2G = [[2,0,0],[1,1,1],[1,−1,1],[0,0,2]])
//   V  = Bᵀ d B   (4x4 tile d of x − zx, Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]])
//   M  = Σ_cin U' ⊙ V;  Y' = Aᵀ M A (Aᵀ = [[1,1,1,0],[0,1,−1,−1]]) = 4·Y;  acc = Y' >> 2
// Exact while |4·acc| < 2^31: |acc| ≤ Cin·9·128·255, hence Cin ≤ 1827.

import { SparrowError } from '../errors.js';
import { convOutSize, type Conv2dAttrs } from './f32_ref.js';
import { allocOut, outputStageRef, type Qs8Data, type Qs8Out } from './int8_ref.js';

/** Largest Cin for which 4·acc stays in int32 (assembly/int8/winograd.ts WINO_MAX_CIN). */
export const WINO_MAX_CIN = 1827;

/** U' = G' g G'ᵀ of one 3x3 kernel g (row-major, 9 values) → 16 values (row-major 4x4). */
export function winoWeightTransform(g: ArrayLike<number>): Int32Array {
  const T = new Int32Array(12); // G' g: 4x3
  for (let k = 0; k < 3; k++) {
    const g0 = g[k]!,
      g1 = g[3 + k]!,
      g2 = g[6 + k]!;
    T[k] = 2 * g0;
    T[3 + k] = g0 + g1 + g2;
    T[6 + k] = g0 - g1 + g2;
    T[9 + k] = 2 * g2;
  }
  const U = new Int32Array(16); // T G'ᵀ: 4x4
  for (let i = 0; i < 4; i++) {
    const a = T[3 * i]!,
      b = T[3 * i + 1]!,
      e = T[3 * i + 2]!;
    U[4 * i] = 2 * a;
    U[4 * i + 1] = a + b + e;
    U[4 * i + 2] = a - b + e;
    U[4 * i + 3] = 2 * e;
  }
  return U;
}

/** V = Bᵀ d B of a 4x4 tile d (row-major) → 16 values. */
export function winoInputTransform(d: ArrayLike<number>): Int32Array {
  const e = new Int32Array(16); // d B (rows)
  for (let r = 0; r < 4; r++) {
    const d0 = d[4 * r]!,
      d1 = d[4 * r + 1]!,
      d2 = d[4 * r + 2]!,
      d3 = d[4 * r + 3]!;
    e[4 * r] = d0 - d2;
    e[4 * r + 1] = d1 + d2;
    e[4 * r + 2] = d2 - d1;
    e[4 * r + 3] = d1 - d3;
  }
  const V = new Int32Array(16); // Bᵀ e (columns)
  for (let j = 0; j < 4; j++) {
    const e0 = e[j]!,
      e1 = e[4 + j]!,
      e2 = e[8 + j]!,
      e3 = e[12 + j]!;
    V[j] = e0 - e2;
    V[4 + j] = e1 + e2;
    V[8 + j] = e2 - e1;
    V[12 + j] = e1 - e3;
  }
  return V;
}

/** True when the Winograd kernel runs this conv: 3x3, stride 1, dilation 1, groups 1, Cin ≤ 1827. */
export function winoApplies(C: number, wDims: readonly number[], attrs: Conv2dAttrs): boolean {
  return (
    wDims[2] === 3 &&
    wDims[3] === 3 &&
    attrs.groups === 1 &&
    attrs.strides.every((s) => s === 1) &&
    attrs.dilations.every((d) => d === 1) &&
    C >= 1 &&
    C <= WINO_MAX_CIN
  );
}

/**
 * x (C, H, W) int8 read at padded coordinates (c, r, s): x − zx inside, 0 (the real zero) in
 * the padding and past it (the taps of a partial last tile).
 */
function paddedInput(x: Int8Array, H: number, W: number, pads: readonly number[], zx: number): (c: number, r: number, s: number) => number {
  const pt = pads[0]!,
    pl = pads[1]!;
  return (c, r, s) => {
    const ih = r - pt,
      iw = s - pl;
    return ih < 0 || ih >= H || iw < 0 || iw >= W ? 0 : x[(c * H + ih) * W + iw]! - zx;
  };
}

/**
 * int8 conv of one image by F(2x2, 3x3): x (C,H,W) int8, w (M, C, 3, 3) int8 → y (M, OH, OW)
 * of out's type, as qs8Conv2dRef. Throws SparrowError('invalid_argument') for a conv it does
 * not apply to (winoApplies).
 */
export function qs8Wino2x2Ref(
  x: Int8Array,
  xDims: readonly number[],
  w: Int8Array,
  wDims: readonly number[],
  attrs: Conv2dAttrs,
  out: Qs8Out,
): { data: Qs8Data; dims: number[] } {
  const [C, H, W] = xDims.slice(-3) as [number, number, number];
  const M = wDims[0]!;
  if (wDims[1] !== C || !winoApplies(C, wDims, attrs))
    throw new SparrowError('invalid_argument', `qs8Wino2x2Ref: not a 3x3 stride-1 conv with Cin ≤ ${WINO_MAX_CIN}`);
  const [pt, pl, pb, pr] = attrs.pads;
  const OH = convOutSize(H, 3, pt, pb, 1, 1),
    OW = convOutSize(W, 3, pl, pr, 1, 1);
  const TH = Math.ceil(OH / 2),
    TW = Math.ceil(OW / 2);
  const px = paddedInput(x, H, W, attrs.pads, out.zx);
  const U: Int32Array[] = []; // (M·C) × 16
  for (let m = 0; m < M; m++) for (let c = 0; c < C; c++) U.push(winoWeightTransform(w.subarray((m * C + c) * 9, (m * C + c + 1) * 9)));
  const y = allocOut(out, M * OH * OW);
  const d = new Int32Array(16);
  const Mt = new Int32Array(16);
  for (let ty = 0; ty < TH; ty++) {
    for (let tx = 0; tx < TW; tx++) {
      const V: Int32Array[] = [];
      for (let c = 0; c < C; c++) {
        for (let r = 0; r < 4; r++) for (let s = 0; s < 4; s++) d[4 * r + s] = px(c, 2 * ty + r, 2 * tx + s);
        V.push(winoInputTransform(d)); // |V| ≤ 1020: int16 in the kernel
      }
      for (let m = 0; m < M; m++) {
        Mt.fill(0);
        for (let c = 0; c < C; c++) {
          const u = U[m * C + c]!,
            v = V[c]!;
          for (let p = 0; p < 16; p++) Mt[p] = (Mt[p]! + u[p]! * v[p]!) | 0; // int32, wrapping
        }
        // Y' = Aᵀ M A (int32 wrapping), acc = Y' >> 2
        const t0 = [0, 1, 2, 3].map((j) => (Mt[j]! + Mt[4 + j]! + Mt[8 + j]!) | 0);
        const t1 = [0, 1, 2, 3].map((j) => (Mt[4 + j]! - Mt[8 + j]! - Mt[12 + j]!) | 0);
        const Y = [
          [(t0[0]! + t0[1]! + t0[2]!) | 0, (t0[1]! - t0[2]! - t0[3]!) | 0],
          [(t1[0]! + t1[1]! + t1[2]!) | 0, (t1[1]! - t1[2]! - t1[3]!) | 0],
        ];
        for (let i = 0; i < 2; i++) {
          const oh = 2 * ty + i;
          if (oh >= OH) continue; // the partial last tile row
          for (let j = 0; j < 2; j++) {
            const ow = 2 * tx + j;
            if (ow >= OW) continue;
            y[(m * OH + oh) * OW + ow] = outputStageRef(Y[i]![j]! >> 2, m, out);
          }
        }
      }
    }
  }
  return { data: y, dims: [M, OH, OW] };
}

// ---- F(4x4, 3x3) (assembly/int8/wino4.ts) --------------------------------------------------

/** Bᵀ of F(4, 3) (points 0, ±1, ±2, ∞). */
const BT4 = [
  [4, 0, -5, 0, 1, 0],
  [0, -4, -4, 1, 1, 0],
  [0, 4, -4, -1, 1, 0],
  [0, -2, -1, 2, 1, 0],
  [0, 2, -1, -2, 1, 0],
  [0, 4, 0, -5, 0, 1],
];
/** G's rows scaled by s = [24, 24, 24, 24, 24, 1]: integer (row sums of |G*| 6, 12, 12, 7, 7, 1). */
const G4 = [
  [6, 0, 0],
  [-4, -4, -4],
  [-4, 4, -4],
  [1, 2, 4],
  [1, -2, 4],
  [0, 0, 1],
];
/** Aᵀ's columns scaled by r = 24 / s = [1, 1, 1, 1, 1, 24], so that A*ᵀ M* A* = 576·Y. */
const AT4 = [
  [1, 1, 1, 1, 1, 0],
  [0, 1, -1, 2, -2, 0],
  [0, 1, 1, 4, 4, 0],
  [0, 1, -1, 8, -8, 24],
];

/**
 * 2^25 − 1: F(4x4, 3x3) is exact while max_c Σ|w[c,·]| · max|x − zx| ≤ this (|64·Y| < 2^31: the
 * output transform's 576·Y modulo 2^32 times 9⁻¹ is 64·Y modulo 2^32).
 */
export const WINO4_MAX_PRODUCT = 33554431;

/** Largest Σ_k |W[c, k]| over the rows c of W (M, K) int8. */
export function absRowMax(W: Int8Array, M: number): number {
  const K = W.length / M;
  let best = 0;
  for (let c = 0; c < M; c++) {
    let s = 0;
    for (let k = c * K; k < (c + 1) * K; k++) s += Math.abs(W[k]!);
    if (s > best) best = s;
  }
  return best;
}

/**
 * Whether F(4x4, 3x3) is exact for weights whose largest per-channel Σ|w| is `absRowMax`, with
 * input zero point zx (undefined: any, as in dynamic mode, where each image has its own).
 */
export function wino4Exact(absRowMax: number, zx?: number): boolean {
  const xmax = zx === undefined ? 255 : Math.max(127 - zx, zx + 128);
  return absRowMax * xmax <= WINO4_MAX_PRODUCT;
}

/** U* = G* g G*ᵀ (6x6, row-major) of a 3x3 kernel g (row-major): |U*| ≤ 144·128. */
export function wino4WeightTransform(g: ArrayLike<number>): Int32Array {
  const T = G4.map((row) => [0, 1, 2].map((b) => row[0]! * g[b]! + row[1]! * g[3 + b]! + row[2]! * g[6 + b]!));
  const U = new Int32Array(36);
  for (let i = 0; i < 6; i++)
    for (let j = 0; j < 6; j++) U[6 * i + j] = T[i]![0]! * G4[j]![0]! + T[i]![1]! * G4[j]![1]! + T[i]![2]! * G4[j]![2]!;
  return U;
}

/** V = Bᵀ d B (6x6, row-major) of a 6x6 tile d: |V| ≤ 100·max|d|. */
export function wino4InputTransform(d: ArrayLike<number>): Int32Array {
  const Z: number[][] = BT4.map((row) => [0, 1, 2, 3, 4, 5].map((s) => row.reduce((a, b, r) => a + b * d[6 * r + s]!, 0)));
  const V = new Int32Array(36);
  for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) V[6 * i + j] = BT4[j]!.reduce((a, b, s) => a + b * Z[i]![s]!, 0);
  return V;
}

/**
 * The int8 conv through the integer F(4x4, 3x3) (the WASM kernel's arithmetic: int32 wrapping
 * sums, 576·Y = A*ᵀ M* A* modulo 2^32, then · 9⁻¹ modulo 2^32 and >> 6; the kernel transforms x
 * itself, zx in the padding, and takes 576·zx·Σw off M*(1, 1): the same M* modulo 2^32 as the
 * x − zx used here), any output size (a partial last
 * tile reads zeros past the padded input), then the shared output stage. Throws unless the conv
 * is 3x3 stride 1 and max_c Σ|w[c,·]| · max|x − zx| ≤ WINO4_MAX_PRODUCT.
 */
export function qs8Wino4x4Ref(
  x: Int8Array,
  xDims: readonly number[],
  w: Int8Array,
  wDims: readonly number[],
  attrs: Conv2dAttrs,
  out: Qs8Out,
): { data: Qs8Data; dims: number[] } {
  const [C, H, W] = xDims.slice(-3) as [number, number, number];
  const M = wDims[0]!;
  if (wDims[1] !== C || !winoApplies(C, wDims, attrs)) throw new SparrowError('invalid_argument', 'qs8Wino4x4Ref: not a 3x3 stride-1 conv');
  const sumMax = absRowMax(w, M);
  if (!wino4Exact(sumMax, out.zx))
    throw new SparrowError('invalid_argument', `qs8Wino4x4Ref: max Σ|w| ${sumMax} with zx ${out.zx} leaves the exact range`);
  const [pt, pl, pb, pr] = attrs.pads;
  const OH = convOutSize(H, 3, pt, pb, 1, 1),
    OW = convOutSize(W, 3, pl, pr, 1, 1);
  const px = paddedInput(x, H, W, attrs.pads, out.zx);
  const U: Int32Array[] = [];
  for (let m = 0; m < M; m++) for (let c = 0; c < C; c++) U.push(wino4WeightTransform(w.subarray((m * C + c) * 9, (m * C + c + 1) * 9)));
  const y = allocOut(out, M * OH * OW);
  const d = new Int32Array(36);
  const Mt = new Int32Array(36);
  const inv9 = 0x38e38e39;
  for (let ty = 0; ty < Math.ceil(OH / 4); ty++) {
    for (let tx = 0; tx < Math.ceil(OW / 4); tx++) {
      const V: Int32Array[] = [];
      for (let c = 0; c < C; c++) {
        for (let r = 0; r < 6; r++) for (let s = 0; s < 6; s++) d[6 * r + s] = px(c, 4 * ty + r, 4 * tx + s);
        V.push(wino4InputTransform(d));
      }
      for (let m = 0; m < M; m++) {
        Mt.fill(0);
        for (let c = 0; c < C; c++) {
          const u = U[m * C + c]!,
            v = V[c]!;
          for (let p = 0; p < 36; p++) Mt[p] = (Mt[p]! + Math.imul(u[p]!, v[p]!)) | 0;
        }
        // 576·Y = A*ᵀ M* A* (int32 wrapping)
        const R = AT4.map((row) => [0, 1, 2, 3, 4, 5].map((j) => row.reduce((a, b, i) => (a + Math.imul(b, Mt[6 * i + j]!)) | 0, 0)));
        for (let i = 0; i < 4; i++) {
          const oh = 4 * ty + i;
          if (oh >= OH) continue;
          for (let j = 0; j < 4; j++) {
            const ow = 4 * tx + j;
            if (ow >= OW) continue;
            const y576 = AT4[j]!.reduce((a, b, s) => (a + Math.imul(b, R[i]![s]!)) | 0, 0);
            y[(m * OH + oh) * OW + ow] = outputStageRef(Math.imul(y576, inv9) >> 6, m, out);
          }
        }
      }
    }
  }
  return { data: y, dims: [M, OH, OW] };
}
