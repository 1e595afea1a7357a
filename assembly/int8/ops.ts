// int8 depthwise conv, residual Add, global average pool, max pool, quantize / dequantize
// (WASM SIMD128). Plain TS references in src/kernels/int8_ref.ts (same names, *Ref).
// Quant block q / per-channel parameters qp: see common.ts. Status 0 or E_ARG (-5).

import {
  E_ARG, MAGIC_F, MAGIC_BITS, Q_ZX, Q_ZY, Q_LO, Q_HI, Q_MODE, Q_ADD, MODE_QF, storeQf8, align16, gi, geomOk, quantOk, loadGeom, storeRow8, outBytes, mulQ, srdhmV, rdbpotV, vadd1, vaddV8, vaddParamsOk,
  C, H, W, M, KH, KW, OH, OW, PT, PL, SH, SW, DH, DW, GROUPS, HP, WP,
} from './common';

// ---- depthwise conv --------------------------------------------------------------------------
//
// qs8_dwconv2d__wasmsimd: Cin/groups = 1 (depthwise, any multiplier: output channel o reads
// input channel o / (M/C)); w (M, 1, KH, KW) int8 exactly as ONNX stores it. Each input plane
// is widened once to an int16 plane of x − zx (padding 0) of row stride DQ; per output row,
// 8 pixels at a time, the taps are taken two at a time: the 8-pixel vectors of taps t and t+1
// are interleaved (2 shuffles) and multiplied by the splatted pair (w_t, w_t+1) with
// i32x4.dot_i16x8_s (16 MACs per 2 dots). Odd KH·KW: the last pair's second weight is 0.
//
// Dilation-1 columns at stride 1 and 2 (every depthwise conv of MobileNet / EfficientNet) take
// the pair path instead, which needs no shuffle per tap: the taps are paired along each kernel
// row, (j, j+1), and the input is laid out so that the four (x[col + j], x[col + j + 1]) pairs
// of 4 neighbouring outputs are one v128 load. At stride 2 that is the int16 plane itself: the
// i32 at element 2·o + j holds (x[2o + j], x[2o + j + 1]). At stride 1 it is a pair plane P
// (HP, DQ) of i32, P[r][k] = (x[r][k], x[r][k + 1]), built per channel with 2 shuffles per 8
// pairs. An odd KW pairs its last tap with a zero weight. Per 8 outputs and tap pair: 2 loads,
// 2 dots, 2 adds, the pair's weights splatted once per channel (KH·⌈KW/2⌉ vectors).

let DQ: usize = 0;

function dwRowStride(): usize {
  const ow8 = (OW + 7) & ~(<usize>7);
  const need = (ow8 - 1) * SW + (KW - 1) * DW + 1 + 16;
  return ((need > WP ? need : WP) + 7) & ~(<usize>7);
}

/** Scratch bytes of qs8_dwconv2d__wasmsimd (one padded plane, tap offsets, weight pairs); -5 on bad geometry. */
export function qs8_dwconv2d_work_bytes(g: usize): i32 {
  if (!geomOk(g) || gi(g, 0) != gi(g, 16)) return E_ARG;
  loadGeom(g);
  DQ = dwRowStride();
  const KK = KH * KW, pairs = (KK + 1) >> 1;
  return <i32>(align16((HP * DQ << 1) + 64) + align16(pairs << 3) + align16(pairs << 2) + dwPairWork());
}

/** True when the pair path runs this geometry (loadGeom done): dilation 1 along rows, stride 1 or 2. */
@inline function dwPairPath(): bool {
  return DW == 1 && SW <= 2;
}

/** Extra scratch of the pair path: the stride-1 pair plane, its padded int16 row, the weight vectors. */
function dwPairWork(): usize {
  return align16((HP * DQ << 2) + 64) + align16((DQ + 16) << 1) + align16(KH * ((KW + 1) >> 1) << 4);
}

@inline function load8s2(p: usize): v128 {
  return v128.shuffle<i16>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6, 8, 10, 12, 14);
}

@inline function load8sn(p: usize, sB: usize): v128 {
  let v = i16x8.splat(load<i16>(p));
  v = i16x8.replace_lane(v, 1, load<i16>(p + sB)); v = i16x8.replace_lane(v, 2, load<i16>(p + 2 * sB));
  v = i16x8.replace_lane(v, 3, load<i16>(p + 3 * sB)); v = i16x8.replace_lane(v, 4, load<i16>(p + 4 * sB));
  v = i16x8.replace_lane(v, 5, load<i16>(p + 5 * sB)); v = i16x8.replace_lane(v, 6, load<i16>(p + 6 * sB));
  return i16x8.replace_lane(v, 7, load<i16>(p + 7 * sB));
}

/**
 * Depthwise conv of one image: x (C,H,W) int8, w (M,1,KH,KW) int8, qp per-channel parameters
 * (M), y (M,OH,OW) of the mode's type, work ≥ qs8_dwconv2d_work_bytes(g).
 */
export function qs8_dwconv2d__wasmsimd(g: usize, q: usize, x: usize, w: usize, qp: usize, y: usize, work: usize): i32 {
  if (!geomOk(g)) return E_ARG;
  return qs8_dwconv2d_part__wasmsimd(g, q, x, w, qp, y, work, 0, gi(g, 0));
}

/**
 * qs8_dwconv2d__wasmsimd over the input channels [c0, c1) only (and their output channels
 * c·mult..): the threads' split of a depthwise layer (src/runtime/int8/conv.ts threadSplit). The
 * parts of a partition of [0, C) write together exactly what the whole call writes. −5 when
 * 0 ≤ c0 ≤ c1 ≤ C fails.
 */
export function qs8_dwconv2d_part__wasmsimd(g: usize, q: usize, x: usize, w: usize, qp: usize, y: usize, work: usize, c0: i32, c1: i32): i32 {
  if (!geomOk(g) || gi(g, 0) != gi(g, 16) || !quantOk(q)) return E_ARG;
  if (c0 < 0 || c1 < c0 || c1 > gi(g, 0)) return E_ARG;
  loadGeom(g);
  DQ = dwRowStride();
  const cBeg = <usize>c0, cEnd = <usize>c1;
  const KK = KH * KW, pairs = (KK + 1) >> 1, mult = M / C, zx = gi(q, Q_ZX);
  const eB = outBytes(q), oRowB = OW * eB, oPlaneB = OH * oRowB;
  const plane = work, koff = plane + align16((HP * DQ << 1) + 64), wpair = koff + align16(pairs << 3);
  if (dwPairPath()) {
    dwPairs(q, x, w, qp, y, wpair + align16(pairs << 2), plane, zx, mult, eB, oRowB, oPlaneB, cBeg, cEnd);
    return 0;
  }
  // tap pair offsets (bytes in the plane); an odd last tap pairs with itself (weight 0)
  for (let t: usize = 0; t < (pairs << 1); t++) {
    const tt = t < KK ? t : KK - 1;
    const i = tt / KW, j = tt - i * KW;
    store<i32>(koff + (t << 2), <i32>((i * DH * DQ + j * DW) << 1));
  }
  const vz = i16x8.splat(<i16>zx), zero = i16x8.splat(0);
  const inRowB = SH * DQ << 1, sB = SW << 1;
  for (let c: usize = cBeg; c < cEnd; c++) {
    // widen + pad input plane c
    const src = x + c * H * W;
    for (let hp: usize = 0; hp < HP; hp++) {
      const d = plane + (hp * DQ << 1);
      for (let o: usize = 0; o < (DQ << 1); o += 16) v128.store(d + o, zero);
      if (hp >= PT && hp < PT + H) {
        const r = d + (PL << 1), s = src + (hp - PT) * W;
        let ww: usize = 0;
        for (; ww + 8 <= W; ww += 8) v128.store(r + (ww << 1), i16x8.sub(v128.load8x8_s(s + ww), vz));
        for (; ww < W; ww++) store<i16>(r + (ww << 1), <i16>(<i32>load<i8>(s + ww) - zx));
      }
    }
    for (let o: usize = 0; o < 64; o += 16) v128.store(plane + (HP * DQ << 1) + o, zero);
    for (let mo: usize = 0; mo < mult; mo++) {
      const oc = c * mult + mo;
      const wk = w + oc * KK;
      for (let t: usize = 0; t < pairs; t++) {
        const t0 = t << 1;
        const w0: i32 = load<i8>(wk + t0), w1: i32 = t0 + 1 < KK ? <i32>load<i8>(wk + t0 + 1) : 0;
        store<i32>(wpair + (t << 2), (w0 & 0xffff) | (w1 << 16));
      }
      const outPlane = y + oc * oPlaneB;
      for (let oh: usize = 0; oh < OH; oh++) {
        const rowIn = plane + oh * inRowB, rowOut = outPlane + oh * oRowB;
        for (let ow: usize = 0; ow < OW; ow += 8) {
          const base = rowIn + ow * sB;
          let a0 = i32x4.splat(0), a1 = a0;
          for (let t: usize = 0; t < pairs; t++) {
            const pa = base + <usize>load<i32>(koff + (t << 3)), pb = base + <usize>load<i32>(koff + (t << 3), 4);
            let xa: v128, xb: v128;
            if (SW == 1) { xa = v128.load(pa); xb = v128.load(pb); }
            else if (SW == 2) { xa = load8s2(pa); xb = load8s2(pb); }
            else { xa = load8sn(pa, sB); xb = load8sn(pb, sB); }
            const wv = v128.load32_splat(wpair + (t << 2));
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.shuffle<i16>(xa, xb, 0, 8, 1, 9, 2, 10, 3, 11), wv));
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.shuffle<i16>(xa, xb, 4, 12, 5, 13, 6, 14, 7, 15), wv));
          }
          storeRow8(a0, a1, oc, q, qp, M, rowOut + ow * eB, min<usize>(8, OW - ow));
        }
      }
    }
  }
  return 0;
}

/**
 * Row s (W int8 of x, which ends at xEnd) widened to x − zx at r (int16). A last partial
 * group of 8 is one vector too while 8 bytes of x remain, and its extra lanes are zeroed
 * again by the zero vector stored after the row (the padding of the row: ≥ 8 slack elements
 * follow PL + W in both planes); at the end of x it goes one by one.
 */
@inline function widenRow(r: usize, s: usize, xEnd: usize, vz: v128, zx: i32): void {
  let ww: usize = 0;
  for (; ww + 8 <= W; ww += 8) v128.store(r + (ww << 1), i16x8.sub(v128.load8x8_s(s + ww), vz));
  if (ww < W) {
    if (s + ww + 8 <= xEnd) {
      v128.store(r + (ww << 1), i16x8.sub(v128.load8x8_s(s + ww), vz));
      v128.store(r + (W << 1), i16x8.splat(0));
    } else {
      for (; ww < W; ww++) store<i16>(r + (ww << 1), <i16>(<i32>load<i8>(s + ww) - zx));
    }
  }
}

/**
 * The pair path of qs8_dwconv2d__wasmsimd (see the header above): DW = 1, SW ∈ {1, 2}.
 * plane16 (HP, DQ) int16 (stride 2) / pp (HP, DQ) i32 pairs + tmp row (stride 1) / wv
 * (KH, ⌈KW/2⌉) v128 weight pairs, all in work.
 */
function dwPairs(q: usize, x: usize, w: usize, qp: usize, y: usize, extra: usize, plane16: usize, zx: i32, mult: usize, eB: usize, oRowB: usize, oPlaneB: usize, cBeg: usize, cEnd: usize): void {
  const KWP = (KW + 1) >> 1;
  const pp = extra, tmp = pp + align16((HP * DQ << 2) + 64), wv = tmp + align16((DQ + 16) << 1);
  const vz = i16x8.splat(<i16>zx), zero = i16x8.splat(0);
  const s1 = SW == 1, xEnd = x + C * H * W;
  // bytes per plane row, per output row step, per kernel row step, per tap pair
  const rowB: usize = s1 ? DQ << 2 : DQ << 1;
  const inRowB = SH * rowB, kRowB = DH * rowB, pB: usize = s1 ? 8 : 4;
  // padding stays zero: per channel only the interior is rewritten (rows PT..PT+H-1 of pp up to
  // column PK, the W input columns of tmp and plane16)
  if (s1) {
    for (let o: usize = 0; o < (HP * DQ << 2) + 64; o += 16) v128.store(pp + o, zero);
    for (let o: usize = 0; o < ((DQ + 16) << 1); o += 16) v128.store(tmp + o, zero);
  } else {
    for (let o: usize = 0; o < (HP * DQ << 1) + 64; o += 16) v128.store(plane16 + o, zero);
  }
  // the default output stage (QLinearConv's float multiplier, no fused Add) with its constants
  // splatted once (the layer's here, the channel's bias and multiplier per channel): storeQf8;
  // any other through storeRow8
  const qf = gi(q, Q_MODE) == MODE_QF && gi(q, Q_ADD) == 0;
  const zy = gi(q, Q_ZY);
  const vlo = f32x4.splat(<f32>(gi(q, Q_LO) - zy)), vhi = f32x4.splat(<f32>(gi(q, Q_HI) - zy));
  const magic = f32x4.splat(MAGIC_F), vmz = i32x4.splat(MAGIC_BITS - zy);
  // pairs read at stride 1: columns < ⌈OW/8⌉·8 + 2·KWP − 2 (≤ DQ)
  const PK = min<usize>(DQ, (((OW + 7) & ~(<usize>7)) + 2 * KWP - 2 + 7) & ~(<usize>7));
  for (let c: usize = cBeg; c < cEnd; c++) {
    const src = x + c * H * W;
    if (s1) {
      for (let h: usize = 0; h < H; h++) {
        widenRow(tmp + (PL << 1), src + h * W, xEnd, vz, zx);
        const d = pp + ((PT + h) * DQ << 2);
        for (let k: usize = 0; k < PK; k += 8) {
          const lo = v128.load(tmp + (k << 1)), hi = v128.load(tmp + (k << 1), 2);
          v128.store(d + (k << 2), v128.shuffle<i16>(lo, hi, 0, 8, 1, 9, 2, 10, 3, 11));
          v128.store(d + (k << 2), v128.shuffle<i16>(lo, hi, 4, 12, 5, 13, 6, 14, 7, 15), 16);
        }
      }
    } else {
      for (let h: usize = 0; h < H; h++) widenRow(plane16 + ((PT + h) * DQ + PL << 1), src + h * W, xEnd, vz, zx);
    }
    const base0 = s1 ? pp : plane16;
    for (let mo: usize = 0; mo < mult; mo++) {
      const oc = c * mult + mo;
      const wk = w + oc * KH * KW;
      for (let i: usize = 0; i < KH; i++) for (let jp: usize = 0; jp < KWP; jp++) {
        const j = jp << 1;
        const w0: i32 = load<i8>(wk + i * KW + j), w1: i32 = j + 1 < KW ? <i32>load<i8>(wk + i * KW + j + 1) : 0;
        v128.store(wv + ((i * KWP + jp) << 4), i32x4.splat((w0 & 0xffff) | (w1 << 16)));
      }
      const outPlane = y + oc * oPlaneB;
      const vb = v128.load32_splat(qp + (oc << 2)), vm = v128.load32_splat(qp + ((M + oc) << 2));
      if (KWP == 2 && KH == 3) {
        // 3x3 (and 3x4): the 6 weight pairs held in registers, the kernel rows unrolled
        const w00 = v128.load(wv), w01 = v128.load(wv, 16), w10 = v128.load(wv, 32);
        const w11 = v128.load(wv, 48), w20 = v128.load(wv, 64), w21 = v128.load(wv, 80);
        for (let oh: usize = 0; oh < OH; oh++) {
          const rowIn = base0 + oh * inRowB, rowOut = outPlane + oh * oRowB;
          for (let ow: usize = 0; ow < OW; ow += 8) {
            const p0 = rowIn + (ow << 2), p1 = p0 + kRowB, p2 = p1 + kRowB;
            let a0 = i32x4.dot_i16x8_s(v128.load(p0), w00);
            let a1 = i32x4.dot_i16x8_s(v128.load(p0, 16), w00);
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(p0 + pB), w01));
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(p0 + pB, 16), w01));
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(p1), w10));
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(p1, 16), w10));
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(p1 + pB), w11));
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(p1 + pB, 16), w11));
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(p2), w20));
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(p2, 16), w20));
            a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(p2 + pB), w21));
            a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(p2 + pB, 16), w21));
            if (qf) storeQf8(a0, a1, vb, vm, vlo, vhi, magic, vmz, rowOut + ow, min<usize>(8, OW - ow));
            else storeRow8(a0, a1, oc, q, qp, M, rowOut + ow * eB, min<usize>(8, OW - ow));
          }
        }
        continue;
      }
      for (let oh: usize = 0; oh < OH; oh++) {
        const rowIn = base0 + oh * inRowB, rowOut = outPlane + oh * oRowB;
        for (let ow: usize = 0; ow < OW; ow += 8) {
          // 4 bytes per output column in both layouts (an i32 pair per column at stride 1, two int16 at stride 2)
          let p = rowIn + (ow << 2), wp = wv;
          let a0 = i32x4.splat(0), a1 = a0;
          if (KWP == 2) {
            for (let i: usize = 0; i < KH; i++) {
              const w0 = v128.load(wp), w1 = v128.load(wp, 16);
              a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(p), w0));
              a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(p, 16), w0));
              a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(p + pB), w1));
              a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(p + pB, 16), w1));
              p += kRowB; wp += 32;
            }
          } else if (KWP == 3) {
            for (let i: usize = 0; i < KH; i++) {
              const w0 = v128.load(wp), w1 = v128.load(wp, 16), w2 = v128.load(wp, 32);
              a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(p), w0));
              a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(p, 16), w0));
              a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(p + pB), w1));
              a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(p + pB, 16), w1));
              a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(p + 2 * pB), w2));
              a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(p + 2 * pB, 16), w2));
              p += kRowB; wp += 48;
            }
          } else {
            for (let i: usize = 0; i < KH; i++) {
              for (let jp: usize = 0; jp < KWP; jp++) {
                const wj = v128.load(wp + (jp << 4)), pj = p + jp * pB;
                a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(pj), wj));
                a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(pj, 16), wj));
              }
              p += kRowB; wp += KWP << 4;
            }
          }
          if (qf) storeQf8(a0, a1, vb, vm, vlo, vhi, magic, vmz, rowOut + ow, min<usize>(8, OW - ow));
          else storeRow8(a0, a1, oc, q, qp, M, rowOut + ow * eB, min<usize>(8, OW - ow));
        }
      }
    }
  }
}

// ---- residual Add (TFLite int8 Add) ------------------------------------------------------------
//
// Parameter block p (12 words, writeAddParams in src/kernels/int8.ts):
//   0 za  1 zb  2 zy  3 Ma  4 shift_a  5 Mb  6 shift_b  7 My  8 shift_y  9 lo  10 hi  11 leftShift
// y = clamp(zy + mulQ(mulQ((a − za) << ls, Ma, sa) + mulQ((b − zb) << ls, Mb, sb), My, sy), lo, hi)
// (mulQ = MultiplyByQuantizedMultiplier of common.ts; shifts here are right shifts ≥ 0, as
// TFLite's QuantizeMultiplierSmallerThanOneExp gives; ls = 20 in TFLite). ReLU fused as lo = zy.

/** Requantize 4 lanes by (m, right shift rs ≥ 0). */
@inline function mulQV(x: v128, vm: v128, rs: i32, vmask: v128, vhalf: v128): v128 {
  return rdbpotV(srdhmV(x, vm), rs, vmask, vhalf);
}

function addParamsOk(p: usize): bool {
  for (let i = 0; i < 3; i++) { const z = gi(p, i); if (z < -128 || z > 127) return false; }
  for (let i = 3; i < 9; i += 2) { if (gi(p, i) < 0 || gi(p, i + 1) < 0 || gi(p, i + 1) > 31) return false; }
  const lo = gi(p, 9), hi = gi(p, 10), ls = gi(p, 11);
  return lo >= -128 && hi <= 127 && lo <= hi && ls >= 0 && ls <= 22;
}

/** y (n) int8 = a (n) ⊕ b (n), int8 per-tensor quantized; p: the block above. a, b, y may alias. */
export function qs8_add__wasmsimd(n: i32, a: usize, b: usize, p: usize, y: usize): i32 {
  if (n < 0 || !addParamsOk(p)) return E_ARG;
  const za = gi(p, 0), zb = gi(p, 1), zy = gi(p, 2), ma = gi(p, 3), sa = gi(p, 4), mb = gi(p, 5), sb = gi(p, 6);
  const my = gi(p, 7), sy = gi(p, 8), lo = gi(p, 9), hi = gi(p, 10), ls = gi(p, 11);
  const vza = i16x8.splat(<i16>za), vzb = i16x8.splat(<i16>zb);
  const vma = i32x4.splat(ma), vmb = i32x4.splat(mb), vmy = i32x4.splat(my);
  const ka = (1 << sa) - 1, kb = (1 << sb) - 1, ky = (1 << sy) - 1;
  const vka = i32x4.splat(ka), vha = i32x4.splat(ka >> 1), vkb = i32x4.splat(kb), vhb = i32x4.splat(kb >> 1);
  const vky = i32x4.splat(ky), vhy = i32x4.splat(ky >> 1);
  const vzy = i32x4.splat(zy), vlo = i32x4.splat(lo), vhi = i32x4.splat(hi);
  let i: usize = 0;
  const N = <usize>n;
  for (; i + 8 <= N; i += 8) {
    const da = i16x8.sub(v128.load8x8_s(a + i), vza), db = i16x8.sub(v128.load8x8_s(b + i), vzb);
    const a0 = mulQV(i32x4.shl(i32x4.extend_low_i16x8_s(da), ls), vma, sa, vka, vha);
    const a1 = mulQV(i32x4.shl(i32x4.extend_high_i16x8_s(da), ls), vma, sa, vka, vha);
    const b0 = mulQV(i32x4.shl(i32x4.extend_low_i16x8_s(db), ls), vmb, sb, vkb, vhb);
    const b1 = mulQV(i32x4.shl(i32x4.extend_high_i16x8_s(db), ls), vmb, sb, vkb, vhb);
    let r0 = i32x4.add(mulQV(i32x4.add(a0, b0), vmy, sy, vky, vhy), vzy);
    let r1 = i32x4.add(mulQV(i32x4.add(a1, b1), vmy, sy, vky, vhy), vzy);
    r0 = i32x4.min_s(vhi, i32x4.max_s(vlo, r0));
    r1 = i32x4.min_s(vhi, i32x4.max_s(vlo, r1));
    const b16 = i16x8.narrow_i32x4_s(r0, r1);
    v128.store64_lane(y + i, i8x16.narrow_i16x8_s(b16, b16), 0);
  }
  for (; i < N; i++) {
    const va = mulQ((<i32>load<i8>(a + i) - za) << ls, ma, sa), vb = mulQ((<i32>load<i8>(b + i) - zb) << ls, mb, sb);
    let v = zy + mulQ(va + vb, my, sy);
    v = max(lo, v); v = min(hi, v);
    store<i8>(y + i, <i8>v);
  }
  return 0;
}

// ---- pooling --------------------------------------------------------------------------------

/**
 * Global average pool: x (C, HW) int8 → y (C) int8,
 *   y[c] = clamp(zy + mulQ(Σ_i (x[c,i] − zx), m, shift), lo, hi)
 * with (m, shift) = quantizeMultiplier(s_x / (s_y·HW)) (mulQ: common.ts, shift as there).
 */
export function qs8_gavgpool__wasmsimd(C: i32, HW: i32, x: usize, zx: i32, m: i32, shift: i32, zy: i32, lo: i32, hi: i32, y: usize): i32 {
  if (C < 1 || HW < 1 || HW >= (1 << 23) || m < 0 || zx < -128 || zx > 127 || zy < -128 || zy > 127 || lo < -128 || hi > 127 || lo > hi) return E_ARG;
  const n = <usize>HW;
  let src = x;
  for (let c: usize = 0; c < <usize>C; c++) {
    let acc = i32x4.splat(0);
    let i: usize = 0;
    for (; i + 16 <= n; i += 16) acc = i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(src + i))));
    const s = i32x4.add(acc, v128.shuffle<i32>(acc, acc, 2, 3, 0, 1));
    let sum = i32x4.extract_lane(i32x4.add(s, v128.shuffle<i32>(s, s, 1, 0, 3, 2)), 0);
    for (; i < n; i++) sum += <i32>load<i8>(src + i);
    let v = zy + mulQ(sum - HW * zx, m, shift);
    v = max(lo, v); v = min(hi, v);
    store<i8>(y + c, <i8>v);
    src += n;
  }
  return 0;
}

// Max pool: geometry block of common.ts (M = C, groups ignored; no dilation restriction).
// Output keeps the input's scale and zero point. Padding taps are ignored (planes padded with
// −128, the identity of max over int8); 16 pixels per vector for strides 1 and 2.

let MQ: usize = 0;

function mpRowStride(): usize {
  const ow16 = (OW + 15) & ~(<usize>15);
  const need = (ow16 - 1) * SW + (KW - 1) * DW + 1 + 32;
  return ((need > WP ? need : WP) + 15) & ~(<usize>15);
}

function mpGeomOk(g: usize): bool {
  return geomOk(g) && gi(g, 3) == gi(g, 0);
}

/** Scratch bytes of qs8_maxpool2d__wasmsimd (one padded int8 plane + tap offsets); -5 on bad geometry. */
export function qs8_maxpool2d_work_bytes(g: usize): i32 {
  if (!mpGeomOk(g)) return E_ARG;
  loadGeom(g);
  MQ = mpRowStride();
  return <i32>(align16(HP * MQ + 64) + align16(KH * KW << 2));
}

/** Max pool of one image: x (C,H,W) int8 → y (C,OH,OW) int8; g: geometry with M = C. */
export function qs8_maxpool2d__wasmsimd(g: usize, x: usize, y: usize, work: usize): i32 {
  if (!mpGeomOk(g)) return E_ARG;
  loadGeom(g);
  MQ = mpRowStride();
  const KK = KH * KW, plane = work, koff = work + align16(HP * MQ + 64);
  for (let i: usize = 0; i < KH; i++) for (let j: usize = 0; j < KW; j++) store<i32>(koff + ((i * KW + j) << 2), <i32>(i * DH * MQ + j * DW));
  const vmin = i8x16.splat(-128);
  const kend = koff + (KK << 2);
  for (let c: usize = 0; c < C; c++) {
    const src = x + c * H * W;
    for (let o: usize = 0; o < HP * MQ + 64; o += 16) v128.store(plane + o, vmin);
    for (let h: usize = 0; h < H; h++) memory.copy(plane + (h + PT) * MQ + PL, src + h * W, W);
    const out = y + c * OH * OW;
    for (let oh: usize = 0; oh < OH; oh++) {
      const rowIn = plane + oh * SH * MQ, rowOut = out + oh * OW;
      for (let ow: usize = 0; ow < OW; ow += 16) {
        const base = rowIn + ow * SW;
        let v = vmin;
        if (SW == 1) {
          for (let kp = koff; kp != kend; kp += 4) v = i8x16.max_s(v, v128.load(base + <usize>load<i32>(kp)));
        } else if (SW == 2) {
          for (let kp = koff; kp != kend; kp += 4) {
            const p = base + <usize>load<i32>(kp);
            v = i8x16.max_s(v, v128.shuffle<i8>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30));
          }
        } else {
          for (let l: usize = 0; l < 16 && ow + l < OW; l++) {
            let m: i32 = -128;
            for (let kp = koff; kp != kend; kp += 4) m = max(m, <i32>load<i8>(base + l * SW + <usize>load<i32>(kp)));
            store<i8>(rowOut + ow + l, <i8>m);
          }
          continue;
        }
        const left = OW - ow;
        if (left >= 16) v128.store(rowOut + ow, v);
        else {
          let d = rowOut + ow;
          if (left & 8) { v128.store64_lane(d, v, 0); v = v128.shuffle<i64>(v, v, 1, 1); d += 8; }
          if (left & 4) { v128.store32_lane(d, v, 0); v = i64x2.shr_u(v, 32); d += 4; }
          if (left & 2) { v128.store16_lane(d, v, 0); v = i64x2.shr_u(v, 16); d += 2; }
          if (left & 1) v128.store8_lane(d, v, 0);
        }
      }
    }
  }
  return 0;
}

// ---- quantize / dequantize ------------------------------------------------------------------

/**
 * y (n) int8 = saturate(roundHalfEven(x / scale) + zp) for x (n) f32; every op in float32
 * (x / scale rounded, nearest, + zp, clamp to [−128, 127] as pmax/pmin: NaN gives −128).
 */
export function qs8_quantize__wasmsimd(n: i32, x: usize, scale: f32, zp: i32, y: usize): i32 {
  if (n < 0 || zp < -128 || zp > 127 || !(scale > 0)) return E_ARG;
  // nearest(x / scale) + zp and the clamp to [−128, 127] are done offset by the magic 1.5·2^23
  // (MAGIC_F): the clamped sum is then MAGIC_F + q, whose bits are MAGIC_BITS + q, so q is one
  // integer subtraction (no trunc_sat, whose x86 lowering cost as much as the rest of the loop).
  // Exact: |nearest(x / scale)| < 2^22 sums exactly; beyond that, and ±Inf, the sum lies past the
  // bounds either way (rounding is monotone); NaN takes the lower bound, as before (−128).
  const vs = f32x4.splat(scale), vz = f32x4.splat(<f32>zp + MAGIC_F), vlo = f32x4.splat(MAGIC_F - 128), vhi = f32x4.splat(MAGIC_F + 127);
  const vm = i32x4.splat(MAGIC_BITS);
  const N = <usize>n, zf = <f32>zp;
  let i: usize = 0;
  for (; i + 8 <= N; i += 8) {
    let r0 = f32x4.add(f32x4.nearest(f32x4.div(v128.load(x + (i << 2)), vs)), vz);
    let r1 = f32x4.add(f32x4.nearest(f32x4.div(v128.load(x + (i << 2), 16), vs)), vz);
    r0 = f32x4.pmin(vhi, f32x4.pmax(vlo, r0)); r1 = f32x4.pmin(vhi, f32x4.pmax(vlo, r1));
    const b16 = i16x8.narrow_i32x4_s(i32x4.sub(r0, vm), i32x4.sub(r1, vm));
    v128.store64_lane(y + i, i8x16.narrow_i16x8_s(b16, b16), 0);
  }
  for (; i < N; i++) {
    let r: f32 = nearest<f32>(load<f32>(x + (i << 2)) / scale) + zf;
    r = <f32>-128 < r ? r : <f32>-128; r = r < <f32>127 ? r : <f32>127;
    store<i8>(y + i, <i8><i32>r);
  }
  return 0;
}

// ---- per-channel weight quantization ------------------------------------------------------------
//
// The two passes of src/quant/int8.ts quantizePerChannelInt8 (its reference; the scales between
// them are computed there, channelScale) over a float32 weight w laid out (outer, C, inner) with
// the channel axis in the middle (axis 0: outer = 1; a (K, N) weight along N: inner = 1).

/**
 * out (C) f32 = max |w| over each channel. Returns −1, or the flat index of the first value that
 * is not finite (out unspecified then), or E_ARG.
 */
export function f32_absmax_channels__wasmsimd(outer: i32, C: i32, inner: i32, w: usize, out: usize): i32 {
  if (outer < 0 || C < 0 || inner < 0) return E_ARG;
  const O = <usize>outer, CC = <usize>C, I = <usize>inner;
  for (let c: usize = 0; c < CC; c++) store<f32>(out + (c << 2), 0);
  const vinf = f32x4.splat(Infinity);
  for (let o: usize = 0; o < O; o++) {
    for (let c: usize = 0; c < CC; c++) {
      const b = (o * CC + c) * I;
      let p = w + (b << 2);
      let vm = f32x4.splat(0), bad = i32x4.splat(0);
      let i: usize = 0;
      for (; i + 4 <= I; i += 4) {
        const a = f32x4.abs(v128.load(p + (i << 2)));
        // not finite: |v| = +Inf, or NaN (a compare with itself fails)
        bad = v128.or(bad, v128.or(f32x4.eq(a, vinf), f32x4.ne(a, a)));
        vm = f32x4.max(vm, a);
      }
      let m = max(max(f32x4.extract_lane(vm, 0), f32x4.extract_lane(vm, 1)), max(f32x4.extract_lane(vm, 2), f32x4.extract_lane(vm, 3)));
      let badS = v128.any_true(bad);
      for (; i < I; i++) {
        const a = abs<f32>(load<f32>(p + (i << 2)));
        if (!(a < Infinity)) badS = true;
        m = max(m, a);
      }
      if (badS) {
        // the first one, in memory order (the reference's order)
        for (let k: usize = 0; k < I; k++) {
          const a = abs<f32>(load<f32>(p + (k << 2)));
          if (!(a < Infinity)) return <i32>(b + k);
        }
      }
      const q = out + (c << 2);
      if (m > load<f32>(q)) store<f32>(q, m);
    }
  }
  return -1;
}

/**
 * q (outer, C, inner) int8 = clamp(roundHalfEven(w / scale_c), −qmax, qmax), the quotient in
 * float64 as the reference computes it (f64.div and f64.nearest: the same bits); every w finite
 * (f32_absmax_channels__wasmsimd checked), every scale > 0. Returns the count of nonzero outputs, or E_ARG.
 */
export function qs8_quantize_channels_f32__wasmsimd(outer: i32, C: i32, inner: i32, w: usize, scales: usize, qmax: i32, q: usize): i32 {
  if (outer < 0 || C < 0 || inner < 0 || qmax < 1 || qmax > 127) return E_ARG;
  const O = <usize>outer, CC = <usize>C, I = <usize>inner;
  const hi = <f64>qmax, lo = -hi;
  const vhi = f64x2.splat(hi), vlo = f64x2.splat(lo);
  let nnz: i32 = 0;
  for (let o: usize = 0; o < O; o++) {
    for (let c: usize = 0; c < CC; c++) {
      const s = <f64>load<f32>(scales + (c << 2));
      if (!(s > 0)) return E_ARG;
      const vs = f64x2.splat(s);
      const b = (o * CC + c) * I;
      const p = w + (b << 2), y = q + b;
      let i: usize = 0;
      for (; i + 4 <= I; i += 4) {
        const x = v128.load(p + (i << 2));
        const r0 = f64x2.min(vhi, f64x2.max(vlo, f64x2.nearest(f64x2.div(f64x2.promote_low_f32x4(x), vs))));
        const r1 = f64x2.min(vhi, f64x2.max(vlo, f64x2.nearest(f64x2.div(f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 0, 1)), vs))));
        // |r| ≤ 127: exact in int32, then int16, int8
        const t = v128.shuffle<i32>(i32x4.trunc_sat_f64x2_s_zero(r0), i32x4.trunc_sat_f64x2_s_zero(r1), 0, 1, 4, 5);
        const b16 = i16x8.narrow_i32x4_s(t, t);
        const b8 = i8x16.narrow_i16x8_s(b16, b16);
        v128.store32_lane(y + i, b8, 0);
        nnz += 4 - popcnt<i32>(i8x16.bitmask(i8x16.eq(b8, i8x16.splat(0))) & 0xf);
      }
      for (; i < I; i++) {
        let r = nearest<f64>(<f64>load<f32>(p + (i << 2)) / s);
        r = r > lo ? r : lo; r = r < hi ? r : hi;
        const v = <i8><i32>r;
        store<i8>(y + i, v);
        if (v != 0) nnz++;
      }
    }
  }
  return nnz;
}

/** The count of nonzero values of x (n) int8 (a weight's density at load), or E_ARG. */
export function qs8_count_nonzero__wasmsimd(n: i32, x: usize): i32 {
  if (n < 0) return E_ARG;
  const N = <usize>n, z = i8x16.splat(0);
  let zeros: i32 = 0, i: usize = 0;
  for (; i + 16 <= N; i += 16) zeros += popcnt<i32>(i8x16.bitmask(i8x16.eq(v128.load(x + i), z)));
  for (; i < N; i++) if (load<i8>(x + i) == 0) zeros++;
  return n - zeros;
}

/** y (n) f32 = (x − zp)·scale for x (n) int8 (one float32 rounding). */
export function qs8_dequantize__wasmsimd(n: i32, x: usize, scale: f32, zp: i32, y: usize): i32 {
  if (n < 0 || zp < -128 || zp > 127) return E_ARG;
  const vs = f32x4.splat(scale), vz = i16x8.splat(<i16>zp);
  const N = <usize>n;
  let i: usize = 0;
  for (; i + 8 <= N; i += 8) {
    const d = i16x8.sub(v128.load8x8_s(x + i), vz);
    v128.store(y + (i << 2), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(d)), vs));
    v128.store(y + (i << 2), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(d)), vs), 16);
  }
  for (; i < N; i++) store<f32>(y + (i << 2), <f32>(<i32>load<i8>(x + i) - zp) * scale);
  return 0;
}

// ---- data movement -----------------------------------------------------------------------------

/**
 * y[i] = tab[i] < 0 ? fill : x[tab[i]] for i < n: an int8 gather by a table of byte offsets
 * (i32), for the data-movement ops of the int8 engine (Slice, Pad, Transpose, Gather, ...).
 * The quantization parameters pass through unchanged.
 */
export function qs8_remap__wasm(n: i32, tab: usize, x: usize, y: usize, fill: i32): i32 {
  if (n < 0 || fill < -128 || fill > 127) return E_ARG;
  const N = <usize>n, f = <i8>fill;
  for (let i: usize = 0; i < N; i++) {
    const t = load<i32>(tab + (i << 2));
    store<i8>(y + i, t < 0 ? f : load<i8>(x + <usize>t));
  }
  return 0;
}

// ---- elementwise functions of one int8 input, by table ----------------------------------------

/**
 * y (n) int8 = t[x + 128] for x (n) int8, t (256) int8: any function of one int8 value (an
 * activation between two quantized tensors: Sigmoid, HardSwish, SiLU as x·Sigmoid(x), Tanh, ...;
 * the table is computed at plan time, src/runtime/int8/lut.ts). 16 values per step as XNNPACK's
 * x8-lut wasmsimd kernel does it: the index x ^ 0x80 (0..255) looks up each 16-entry slice of
 * the table with i8x16.swizzle, which gives 0 for an index of 16 or more; the index drops by 16
 * per slice (wrapping), so exactly one slice contributes a lane, and the 16 lookups are OR'ed.
 * x and y may alias.
 */
export function qs8_lut__wasmsimd(n: i32, x: usize, t: usize, y: usize): i32 {
  if (n < 0) return E_ARG;
  const N = <usize>n, bias = i8x16.splat(-128), step = i8x16.splat(16);
  let i: usize = 0;
  for (; i + 32 <= N; i += 32) {
    // two vectors per pass over the table: each slice loaded once for both
    let v = v128.xor(v128.load(x + i), bias), u = v128.xor(v128.load(x + i, 16), bias);
    const t0 = v128.load(t);
    let r = i8x16.swizzle(t0, v), q = i8x16.swizzle(t0, u);
    for (let k: usize = 16; k < 256; k += 16) {
      const tk = v128.load(t + k);
      v = i8x16.sub(v, step); u = i8x16.sub(u, step);
      r = v128.or(r, i8x16.swizzle(tk, v)); q = v128.or(q, i8x16.swizzle(tk, u));
    }
    v128.store(y + i, r);
    v128.store(y + i, q, 16);
  }
  for (; i + 16 <= N; i += 16) {
    let v = v128.xor(v128.load(x + i), bias);
    let r = i8x16.swizzle(v128.load(t), v);
    for (let k: usize = 16; k < 256; k += 16) {
      v = i8x16.sub(v, step);
      r = v128.or(r, i8x16.swizzle(v128.load(t + k), v));
    }
    v128.store(y + i, r);
  }
  for (; i < N; i++) store<i8>(y + i, load<i8>(t + <usize>(<i32>load<i8>(x + i) + 128)));
  return 0;
}

// ---- Add in float32, as ONNX DequantizeLinear → Add (→ Relu) → QuantizeLinear -----------------
// y = zy + clamp(nearest(f32(f32(f32(a − za)·sa) + f32(f32(b − zb)·sb)) / sy), lo − zy, hi − zy)
// p: 8 words za, zb, zy (i32), sa, sb, sy (f32), lo, hi (i32; a Relu is lo = zy). Every op rounded
// to float32 as onnxruntime's unfused operators round it (the int8 engine's 'onnx' requantization).
function vaddF32ParamsOk(p: usize): bool {
  for (let i = 0; i < 3; i++) { const z = gi(p, i); if (z < -128 || z > 127) return false; }
  const sa = load<f32>(p + 12), sb = load<f32>(p + 16), sy = load<f32>(p + 20), lo = gi(p, 6), hi = gi(p, 7);
  return sa > 0 && sb > 0 && sy > 0 && sa < Infinity && sb < Infinity && sy < Infinity && lo >= -128 && hi <= 127 && lo <= hi;
}

/** y (n) int8 = a (n) ⊕ b (n) in float32 (above); a, b, y may alias. */
export function qs8_vadd_f32__wasmsimd(n: i32, a: usize, b: usize, p: usize, y: usize): i32 {
  if (n < 0 || !vaddF32ParamsOk(p)) return E_ARG;
  const za = gi(p, 0), zb = gi(p, 1), zy = gi(p, 2), lo = gi(p, 6), hi = gi(p, 7);
  const sa = load<f32>(p + 12), sb = load<f32>(p + 16), sy = load<f32>(p + 20);
  const vza = i16x8.splat(<i16>za), vzb = i16x8.splat(<i16>zb), vzy = i32x4.splat(zy);
  const vsa = f32x4.splat(sa), vsb = f32x4.splat(sb), vsy = f32x4.splat(sy);
  const vlo = f32x4.splat(<f32>(lo - zy)), vhi = f32x4.splat(<f32>(hi - zy));
  const N = <usize>n;
  let i: usize = 0;
  for (; i + 8 <= N; i += 8) {
    const da = i16x8.sub(v128.load8x8_s(a + i), vza), db = i16x8.sub(v128.load8x8_s(b + i), vzb);
    let s0 = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(da)), vsa), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(db)), vsb));
    let s1 = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(da)), vsa), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(db)), vsb));
    s0 = f32x4.pmin(vhi, f32x4.pmax(vlo, f32x4.nearest(f32x4.div(s0, vsy))));
    s1 = f32x4.pmin(vhi, f32x4.pmax(vlo, f32x4.nearest(f32x4.div(s1, vsy))));
    const r0 = i32x4.add(i32x4.trunc_sat_f32x4_s(s0), vzy), r1 = i32x4.add(i32x4.trunc_sat_f32x4_s(s1), vzy);
    const b16 = i16x8.narrow_i32x4_s(r0, r1);
    v128.store64_lane(y + i, i8x16.narrow_i16x8_s(b16, b16), 0);
  }
  const flo = <f32>(lo - zy), fhi = <f32>(hi - zy);
  for (; i < N; i++) {
    const s: f32 = <f32>(<i32>load<i8>(a + i) - za) * sa + <f32>(<i32>load<i8>(b + i) - zb) * sb;
    let r = nearest<f32>(s / sy);
    r = flo < r ? r : flo; r = r < fhi ? r : fhi;
    store<i8>(y + i, <i8>(zy + <i32>r));
  }
  return 0;
}

/**
 * y (M, K) int8 = a (M, K) ⊗ b[r mod bMod] for each row r, in float32 as DequantizeLinear → Mul →
 * QuantizeLinear: each row of a scaled by one value of b (a channel scale: the squeeze-excite Mul
 * of [N, C, H, W] by [N or 1, C, 1, 1], rows n·C + c). p: qs8_vadd_f32's 8 words (za, zb, zy, sa,
 * sb, sy, lo, hi). fround((a − za)·sa)·fround((b − zb)·sb) rounded to float32, then nearest(·/sy)
 * clamped and offset by zy: the bits of the float path. a and y may alias.
 */
export function qs8_mul_rows_f32__wasmsimd(M: i32, K: i32, a: usize, b: usize, bMod: i32, p: usize, y: usize): i32 {
  if (M < 0 || K < 0 || bMod < 1 || !vaddF32ParamsOk(p)) return E_ARG;
  const za = gi(p, 0), zb = gi(p, 1), zy = gi(p, 2), lo = gi(p, 6), hi = gi(p, 7);
  const sa = load<f32>(p + 12), sb = load<f32>(p + 16), sy = load<f32>(p + 20);
  const vza = i16x8.splat(<i16>za), vsa = f32x4.splat(sa), vsy = f32x4.splat(sy);
  const flo = <f32>(lo - zy), fhi = <f32>(hi - zy);
  // nearest(·/sy) + zy and the clamp offset by MAGIC_F, the int8 value one integer subtraction
  // from the bits (qs8_quantize's form: no trunc_sat)
  const vz = f32x4.splat(<f32>zy + MAGIC_F), vlo = f32x4.splat(MAGIC_F + <f32>lo), vhi = f32x4.splat(MAGIC_F + <f32>hi);
  const vm = i32x4.splat(MAGIC_BITS);
  const Kc = <usize>K;
  let pa = a, py = y;
  for (let r = 0; r < M; r++) {
    const g: f32 = <f32>(<i32>load<i8>(b + <usize>(r % bMod)) - zb) * sb;
    const vg = f32x4.splat(g);
    let i: usize = 0;
    for (; i + 8 <= Kc; i += 8) {
      const da = i16x8.sub(v128.load8x8_s(pa + i), vza);
      let s0 = f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(da)), vsa), vg);
      let s1 = f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(da)), vsa), vg);
      s0 = f32x4.pmin(vhi, f32x4.pmax(vlo, f32x4.add(f32x4.nearest(f32x4.div(s0, vsy)), vz)));
      s1 = f32x4.pmin(vhi, f32x4.pmax(vlo, f32x4.add(f32x4.nearest(f32x4.div(s1, vsy)), vz)));
      const b16 = i16x8.narrow_i32x4_s(i32x4.sub(s0, vm), i32x4.sub(s1, vm));
      v128.store64_lane(py + i, i8x16.narrow_i16x8_s(b16, b16), 0);
    }
    for (; i < Kc; i++) {
      const s: f32 = (<f32>(<i32>load<i8>(pa + i) - za) * sa) * g;
      let q = nearest<f32>(s / sy);
      q = flo < q ? q : flo; q = q < fhi ? q : fhi;
      store<i8>(py + i, <i8>(zy + <i32>q));
    }
    pa += Kc; py += Kc;
  }
  return 0;
}

// ---- Add, single-multiplier form (the engine's default) ----------------------------------------
// y = clamp(zy + ((a − za)·A + (b − zb)·B + 2^(S−1)) >> S, lo, hi)   (arithmetic shift)
// p: 8 words za, zb, zy, A, B, S, lo, hi with 0 ≤ A, B < 2^22 and 1 ≤ S ≤ 23, so that
// |acc| + 2^(S−1) < 2^31: everything stays in i32 (XNNPACK's qs8 vadd scheme). Exact and
// platform-independent; vaddParams (src/kernels/int8_ref.ts) derives A, B, S from the scales.
// The arithmetic (vadd1, vaddV8) lives in common.ts: the conv output stage's fused Add runs it too.

/** y (n) int8 = a (n) ⊕ b (n) in the single-multiplier form above; a, b, y may alias. */
export function qs8_vadd__wasmsimd(n: i32, a: usize, b: usize, p: usize, y: usize): i32 {
  if (n < 0 || !vaddParamsOk(p)) return E_ARG;
  const za = gi(p, 0), zb = gi(p, 1), zy = gi(p, 2), A = gi(p, 3), B = gi(p, 4), S = gi(p, 5), lo = gi(p, 6), hi = gi(p, 7);
  const vza = i16x8.splat(<i16>za), vzb = i16x8.splat(<i16>zb);
  const vA = i32x4.splat(A), vB = i32x4.splat(B), vr = i32x4.splat(1 << (S - 1));
  const vzy = i16x8.splat(<i16>zy), vlo = i8x16.splat(<i8>lo), vhi = i8x16.splat(<i8>hi);
  const N = <usize>n;
  let i: usize = 0;
  for (; i + 8 <= N; i += 8) {
    const da = i16x8.sub(v128.load8x8_s(a + i), vza), db = i16x8.sub(v128.load8x8_s(b + i), vzb);
    const q = vaddV8(i32x4.extend_low_i16x8_s(da), i32x4.extend_high_i16x8_s(da), db, vA, vB, vr, S, vzy, vlo, vhi);
    v128.store64_lane(y + i, q, 0);
  }
  for (; i < N; i++) store<i8>(y + i, <i8>vadd1(<i32>load<i8>(a + i), <i32>load<i8>(b + i), p));
  return 0;
}

// ---- dynamic quantization: the range of a float32 tensor -----------------------------------------

/**
 * out[0] = min(0, min x), out[1] = max(0, max x) over x (n) f32, NaN ignored (the JS loop
 * `if (a < lo) lo = a; if (a > hi) hi = a` from 0, which int8QuantParams takes; pmin/pmax keep
 * the accumulator when the lane compares false, as NaN does); out[2] (i32) = 1 when x holds a
 * NaN, else 0 (f32_has_nan__wasmsimd's answer, in the same pass). out: 12 bytes.
 */
export function qs8_minmax_f32__wasmsimd(n: i32, x: usize, out: usize): i32 {
  if (n < 0) return E_ARG;
  const N = <usize>n;
  let lo0 = f32x4.splat(0), hi0 = lo0, lo1 = lo0, hi1 = lo0, nan = lo0;
  let i: usize = 0;
  for (; i + 8 <= N; i += 8) {
    const a = v128.load(x + (i << 2)), b = v128.load(x + (i << 2), 16);
    lo0 = f32x4.pmin(lo0, a); hi0 = f32x4.pmax(hi0, a);
    lo1 = f32x4.pmin(lo1, b); hi1 = f32x4.pmax(hi1, b);
    nan = v128.or(nan, v128.or(f32x4.ne(a, a), f32x4.ne(b, b)));
  }
  let hasNaN: i32 = v128.any_true(nan) ? 1 : 0;
  // pmin(p, q) = q < p ? q : p: with lo* (never NaN) as p, a NaN lane keeps p
  lo0 = f32x4.pmin(lo0, lo1); hi0 = f32x4.pmax(hi0, hi1);
  let lo = f32x4.extract_lane(lo0, 0), hi = f32x4.extract_lane(hi0, 0);
  for (let l = 1; l < 4; l++) {
    const a = l == 1 ? f32x4.extract_lane(lo0, 1) : l == 2 ? f32x4.extract_lane(lo0, 2) : f32x4.extract_lane(lo0, 3);
    const b = l == 1 ? f32x4.extract_lane(hi0, 1) : l == 2 ? f32x4.extract_lane(hi0, 2) : f32x4.extract_lane(hi0, 3);
    if (a < lo) lo = a;
    if (b > hi) hi = b;
  }
  for (; i < N; i++) {
    const a = load<f32>(x + (i << 2));
    if (a < lo) lo = a;
    if (a > hi) hi = a;
    if (a != a) hasNaN = 1;
  }
  store<f32>(out, lo); store<f32>(out, hi, 4); store<i32>(out, hasNaN, 8);
  return 0;
}
