// Fused scaled dot-product attention, the pattern src/ir/fuse_attention.ts folds:
//   S = Q·Kᵀ  [· c | / c]  [+ M | Where(M, S, fill)]  → Softmax(last axis) → O = P·V
// per batch (b, h), a tile of MT query rows at a time: the scores of one tile (MT × Tk floats)
// are the only part of the T×T matrix that exists. Every step is the unfused engine's kernel
// on the same values in the same order, so the fused graph gives the unfused sparrow-f32
// graph's bits: Q·Kᵀ and P·V are gemmRows on B packed by f32_pack_b (Kᵀ packed from K with
// transB, as the unfused MatMul packs the materialized Kᵀ), the scale and the mask are float32
// ×, ÷, + (or a select) element by element, the softmax is norm.ts softmaxRow. An optional
// scalar scale of Q (the pattern Q / c → MatMul) is applied while the tile of Q is copied.
// Reference: src/kernels/f32_tfm_ref.ts attentionRef (bit for bit, with the engine's
// softmax and GEMM order), and the unfused graph on the engine (test/fuse.attention.test.ts).
//
// Operands are read in place through views: Q, K, V, O and the mask of batch t start at
// element offsets qOff[t], kOff[t], ... from their base pointers, rows `ld` elements apart,
// elements of a row (the head dimension) contiguous. So the Transposes, Reshapes, Slices and
// Expands (GQA) around an attention block cost nothing; consecutive batches with the same K
// (or V) offset reuse its packed copy.
//
// Descriptor at d (i32 words; f32 where said):
//   0 nb  1 Tq  2 Tk  3 hd (Q, K row length)  4 hv (V, O row length)
//   5 ldq  6 ldk  7 ldv  8 ldo  (row strides, elements)
//   9 mask mode: 0 none, 1 add a float32 mask, 2 S where mask else fill, 3 fill where mask else S
//     (modes 2, 3: bool mask, one byte per element)
//   10 ldm (mask row stride, elements; 0 = one row for all queries)  11 mask column stride (0 or 1)
//   12 score scale: 0 none, 1 ×, 2 ÷   13 its value (f32)
//   14 Q scale: 0 none, 1 ×, 2 ÷       15 its value (f32)
//   16 fill (f32, mask modes 2 and 3)
//   17..21 pointers of the i32 tables qOff, kOff, vOff, oOff, mOff (nb entries each)
//   22 MT (query rows per tile, ≥ 1)
// Work (f32_attention_work_bytes): packed Kᵀ, packed V, the score tile, the scaled Q tile.

import { gemmRows } from './gen/gemm_mrx8';
import { f32_pack_b, f32_packed_b_size } from './gemm';
import { softmaxRow } from '../f32ops/norm';
import { loadN, storeN } from '../f32ops/vec';

export const ATTN_DESC_WORDS: i32 = 24;

@inline function w(d: usize, i: i32): i32 { return load<i32>(d + (<usize>i << 2)); }
@inline function wf(d: usize, i: i32): f32 { return load<f32>(d + (<usize>i << 2)); }
@inline function tab(d: usize, i: i32, t: i32): isize { return <isize>load<i32>(<usize>w(d, i) + (<usize>t << 2)); }
@inline function al16(n: usize): usize { return (n + 15) & ~<usize>15; }

/** Bytes of work f32_attention__wasmsimd needs for descriptor d. */
export function f32_attention_work_bytes(d: usize): i32 {
  const Tk = w(d, 2), hd = w(d, 3), hv = w(d, 4), MT = w(d, 22);
  let b = al16(<usize>f32_packed_b_size(hd, Tk) << 2) + al16(<usize>f32_packed_b_size(Tk, hv) << 2) + al16(<usize>(MT * Tk) << 2);
  if (w(d, 14) != 0) b += al16(<usize>(MT * hd) << 2);
  return <i32>b + 16;
}

/** y[i] = x[i] (op) c over n floats, op 1 ×, 2 ÷ (y = x allowed). */
@inline function scaleRow(x: usize, y: usize, n: usize, op: i32, c: f32): void {
  const vc = f32x4.splat(c);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (i << 2));
    v128.store(y + (i << 2), op == 1 ? f32x4.mul(v, vc) : f32x4.div(v, vc));
  }
  if (i < n) {
    const v = loadN(x + (i << 2), n - i);
    storeN(y + (i << 2), op == 1 ? f32x4.mul(v, vc) : f32x4.div(v, vc), n - i);
  }
}

/** The fused attention of descriptor d (header). Returns 0, or −5 for an inconsistent descriptor. */
export function f32_attention__wasmsimd(d: usize, q: usize, k: usize, v: usize, m: usize, o: usize, work: usize): i32 {
  const nb = w(d, 0), Tq = w(d, 1), Tk = w(d, 2), hd = w(d, 3), hv = w(d, 4);
  const ldq = <usize>w(d, 5), ldk = w(d, 6), ldv = w(d, 7), ldo = <usize>w(d, 8);
  const mmode = w(d, 9), ldm = <usize>w(d, 10), mcs = w(d, 11);
  const smode = w(d, 12), sc = wf(d, 13), qmode = w(d, 14), qsc = wf(d, 15), fill = wf(d, 16);
  const MT = w(d, 22);
  if (nb < 0 || Tq < 0 || Tk < 1 || hd < 0 || hv < 1 || MT < 1) return -5;
  const n = <usize>Tk;
  const kp = work;
  const vp = kp + al16(<usize>f32_packed_b_size(hd, Tk) << 2);
  const sp = vp + al16(<usize>f32_packed_b_size(Tk, hv) << 2);
  const qt = sp + al16(<usize>(MT * Tk) << 2);
  const rowB = n << 2;
  let lastK: isize = -1, lastV: isize = -1;
  for (let t = 0; t < nb; t++) {
    const ko = tab(d, 18, t), vo = tab(d, 19, t);
    if (ko != lastK) { f32_pack_b(hd, Tk, k + (<usize>ko << 2), ldk, 1, kp); lastK = ko; }
    if (vo != lastV) { f32_pack_b(Tk, hv, v + (<usize>vo << 2), ldv, 0, vp); lastV = vo; }
    const qb = q + (<usize>tab(d, 17, t) << 2), ob = o + (<usize>tab(d, 20, t) << 2);
    const mo = mmode ? tab(d, 21, t) : 0;
    for (let i0 = 0; i0 < Tq; i0 += MT) {
      const rows = <usize>(Tq - i0 < MT ? Tq - i0 : MT);
      let a = qb + ((<usize>i0 * ldq) << 2), lda = ldq << 2;
      if (qmode) {
        for (let r: usize = 0; r < rows; r++) scaleRow(a + r * lda, qt + ((r * <usize>hd) << 2), <usize>hd, qmode, qsc);
        a = qt; lda = <usize>hd << 2;
      }
      gemmRows(rows, n, <usize>hd, a, lda, kp, sp, rowB, 0, 0, 0, 0, 0);
      for (let r: usize = 0; r < rows; r++) {
        const s = sp + r * rowB;
        if (smode) scaleRow(s, s, n, smode, sc);
        if (mmode == 1) {
          const mr = m + (<usize>(mo + <isize>((<usize>i0 + r) * ldm)) << 2);
          if (mcs) {
            let j: usize = 0;
            for (; j + 4 <= n; j += 4) v128.store(s + (j << 2), f32x4.add(v128.load(s + (j << 2)), v128.load(mr + (j << 2))));
            if (j < n) storeN(s + (j << 2), f32x4.add(loadN(s + (j << 2), n - j), loadN(mr + (j << 2), n - j)), n - j);
          } else {
            const mv = load<f32>(mr);
            for (let j: usize = 0; j < n; j++) store<f32>(s + (j << 2), load<f32>(s + (j << 2)) + mv);
          }
        } else if (mmode >= 2) {
          const mr = m + <usize>(mo + <isize>((<usize>i0 + r) * ldm));
          const keep: u8 = mmode == 2 ? 1 : 0;
          for (let j: usize = 0; j < n; j++) {
            const c = load<u8>(mr + (mcs ? j : 0)) != 0 ? 1 : 0;
            if (<u8>c != keep) store<f32>(s + (j << 2), fill);
          }
        }
        softmaxRow(s, s, n, 0);
      }
      gemmRows(rows, <usize>hv, n, sp, rowB, vp, ob + ((<usize>i0 * ldo) << 2), ldo << 2, 0, 0, 0, 0, 0);
    }
  }
  return 0;
}
