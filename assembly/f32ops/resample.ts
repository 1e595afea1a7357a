// float32 separable resampling of the last two axes (ONNX Resize / Upsample, linear and cubic
// modes, antialias and exclude_outside included): every output is a weighted sum of taps along
// each axis, the taps (clamped source indices) and weights computed by the planner
// (src/runtime/f32/resample.ts) from the op's reference (src/ops/ref/resize.ts), so this kernel
// only gathers and blends. The plain TS reference is resample2dRef in src/kernels/f32_ref.ts
// (same operations in the same order: equal bit for bit).
//
// Per plane (the leading axes flattened; they are not resized):
//   1. horizontal pass, for each source row the vertical taps need (the "slots"):
//        h[s][ox] = Σ_k wx[ox][k] · x[row_s][ix[ox][k]]   (k in order, from the first product)
//      or the row itself when the last axis is not resized (nw = 0);
//   2. vertical pass, 4 columns at a time:
//        y[oy][ox] = Σ_k wy[oy][k] · h[slot[oy][k]][ox]
//      or, when the second-to-last axis is not resized (nh = 0), step 1 writes y directly.
// tf_crop_and_resize: an output whose coordinate falls outside the input along either axis is
// the extrapolation value (a table entry whose first index is -1).
//
// Descriptor at d (i32 words unless noted):
//   0 planes  1 H  2 W  3 OH  4 OW
//   5 nh (taps per output row, 0 = rows copied)  6 row table: OH entries of nh i32 slot
//     indices then nh f32 weights
//   7 nw (taps per output column, 0 = columns copied)  8 column table: OW entries of nw i32
//     source columns then nw f32 weights
//   9 slots  10 slot table: source row of each slot (i32)
//   11 extrapolation value (f32)  12 1 when some column entry is -1 (re-filled after step 2)
// x (planes, H, W), y (planes, OH, OW), work ≥ slots·OW floats.

@inline function w(d: usize, i: i32): i32 { return load<i32>(d + (<usize>i << 2)); }

/** One output row of the horizontal pass: dst[ox] from the source row src. */
function hpass(src: usize, dst: usize, W: usize, OW: usize, nw: usize, tab: usize, extra: f32): void {
  if (nw == 0) {
    memory.copy(dst, src, W << 2);
    return;
  }
  const eB = nw << 3;
  let e = tab;
  if (nw == 2) {
    for (let o: usize = 0; o < OW; o++) {
      const i0 = load<i32>(e), i1 = load<i32>(e, 4);
      let v: f32;
      if (i0 < 0) v = extra;
      else v = load<f32>(e, 8) * load<f32>(src + (<usize>i0 << 2)) + load<f32>(e, 12) * load<f32>(src + (<usize>i1 << 2));
      store<f32>(dst + (o << 2), v);
      e += 16;
    }
    return;
  }
  if (nw == 4) {
    for (let o: usize = 0; o < OW; o++) {
      const i0 = load<i32>(e);
      let v: f32;
      if (i0 < 0) v = extra;
      else {
        v = load<f32>(e, 16) * load<f32>(src + (<usize>i0 << 2)) + load<f32>(e, 20) * load<f32>(src + (<usize>load<i32>(e, 4) << 2));
        v = v + load<f32>(e, 24) * load<f32>(src + (<usize>load<i32>(e, 8) << 2));
        v = v + load<f32>(e, 28) * load<f32>(src + (<usize>load<i32>(e, 12) << 2));
      }
      store<f32>(dst + (o << 2), v);
      e += 32;
    }
    return;
  }
  const wB = nw << 2;
  for (let o: usize = 0; o < OW; o++) {
    const i0 = load<i32>(e);
    let v: f32;
    if (i0 < 0) v = extra;
    else {
      v = load<f32>(e + wB) * load<f32>(src + (<usize>i0 << 2));
      for (let k: usize = 1; k < nw; k++) {
        const i = load<i32>(e + (k << 2));
        v += load<f32>(e + wB + (k << 2)) * load<f32>(src + (<usize>i << 2));
      }
    }
    store<f32>(dst + (o << 2), v);
    e += eB;
  }
}

export function f32_resample2d__wasmsimd(d: usize, x: usize, y: usize, work: usize): void {
  const planes = <usize>w(d, 0), H = <usize>w(d, 1), W = <usize>w(d, 2), OH = <usize>w(d, 3), OW = <usize>w(d, 4);
  const nh = <usize>w(d, 5), rowTab = <usize>w(d, 6), nw = <usize>w(d, 7), colTab = <usize>w(d, 8);
  const slots = <usize>w(d, 9), slotTab = <usize>w(d, 10);
  const extra = load<f32>(d + 44), refill = w(d, 12) != 0;
  const WB = W << 2, OWB = OW << 2;
  const ve = f32x4.splat(extra);
  for (let pl: usize = 0; pl < planes; pl++) {
    const xin = x + pl * H * WB, yout = y + pl * OH * OWB;
    if (nh == 0) {
      for (let r: usize = 0; r < H; r++) hpass(xin + r * WB, yout + r * OWB, W, OW, nw, colTab, extra);
      continue;
    }
    for (let s: usize = 0; s < slots; s++) hpass(xin + <usize>load<i32>(slotTab + (s << 2)) * WB, work + s * OWB, W, OW, nw, colTab, extra);
    const eB = nh << 3, wB = nh << 2;
    let e = rowTab;
    for (let oy: usize = 0; oy < OH; oy++) {
      const dst = yout + oy * OWB;
      const s0 = load<i32>(e);
      if (s0 < 0) {
        let o: usize = 0;
        for (; o + 4 <= OW; o += 4) v128.store(dst + (o << 2), ve);
        for (; o < OW; o++) store<f32>(dst + (o << 2), extra);
        e += eB;
        continue;
      }
      const h0 = work + <usize>s0 * OWB;
      const w0 = load<f32>(e + wB);
      const vw0 = f32x4.splat(w0);
      if (nh == 2) {
        const h1 = work + <usize>load<i32>(e, 4) * OWB;
        const w1 = load<f32>(e + wB, 4);
        const vw1 = f32x4.splat(w1);
        let o: usize = 0;
        for (; o + 4 <= OW; o += 4) {
          const b = o << 2;
          v128.store(dst + b, f32x4.add(f32x4.mul(vw0, v128.load(h0 + b)), f32x4.mul(vw1, v128.load(h1 + b))));
        }
        for (; o < OW; o++) {
          const b = o << 2;
          store<f32>(dst + b, w0 * load<f32>(h0 + b) + w1 * load<f32>(h1 + b));
        }
      } else if (nh == 4) {
        // cubic: four rows, weights and row pointers hoisted out of the column loop
        const h1 = work + <usize>load<i32>(e, 4) * OWB, h2 = work + <usize>load<i32>(e, 8) * OWB, h3 = work + <usize>load<i32>(e, 12) * OWB;
        const w1 = load<f32>(e + wB, 4), w2 = load<f32>(e + wB, 8), w3 = load<f32>(e + wB, 12);
        const vw1 = f32x4.splat(w1), vw2 = f32x4.splat(w2), vw3 = f32x4.splat(w3);
        let o: usize = 0;
        for (; o + 4 <= OW; o += 4) {
          const b = o << 2;
          let acc = f32x4.add(f32x4.mul(vw0, v128.load(h0 + b)), f32x4.mul(vw1, v128.load(h1 + b)));
          acc = f32x4.add(acc, f32x4.mul(vw2, v128.load(h2 + b)));
          v128.store(dst + b, f32x4.add(acc, f32x4.mul(vw3, v128.load(h3 + b))));
        }
        for (; o < OW; o++) {
          const b = o << 2;
          store<f32>(dst + b, w0 * load<f32>(h0 + b) + w1 * load<f32>(h1 + b) + w2 * load<f32>(h2 + b) + w3 * load<f32>(h3 + b));
        }
      } else {
        let o: usize = 0;
        for (; o + 4 <= OW; o += 4) {
          const b = o << 2;
          let acc = f32x4.mul(vw0, v128.load(h0 + b));
          for (let k: usize = 1; k < nh; k++) {
            const hk = work + <usize>load<i32>(e + (k << 2)) * OWB;
            acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(e + wB + (k << 2)), v128.load(hk + b)));
          }
          v128.store(dst + b, acc);
        }
        for (; o < OW; o++) {
          const b = o << 2;
          let acc = w0 * load<f32>(h0 + b);
          for (let k: usize = 1; k < nh; k++) {
            const hk = work + <usize>load<i32>(e + (k << 2)) * OWB;
            acc += load<f32>(e + wB + (k << 2)) * load<f32>(hk + b);
          }
          store<f32>(dst + b, acc);
        }
      }
      if (refill) {
        for (let o: usize = 0; o < OW; o++) if (load<i32>(colTab + o * (nw << 3)) < 0) store<f32>(dst + (o << 2), extra);
      }
      e += eB;
    }
  }
}

/** Scratch bytes of f32_resample2d__wasmsimd for descriptor d (the slot rows). */
export function f32_resample2d_work_bytes(d: usize): i32 {
  return w(d, 9) * w(d, 4) * 4;
}
