// float32 2-D pooling (ONNX MaxPool / AveragePool over NCHW; 1-D pools run as H = 1) and
// GlobalAveragePool. The reference is src/ops/ref/pool.ts: explicit pads, strides,
// dilations, ceil_mode (the planner computes OH/OW and the effective pads with the reference's
// windowGeometry), count_include_pad. MaxPool: padding never wins; a window with no tap inside
// X gives -Infinity (as the reference). AveragePool: the divisor counts the taps inside X
// (count_include_pad 0) or inside the padded extent [-pad_begin, size + pad_end) (1), so the
// part of a ceil_mode window beyond the end padding is never counted; a zero divisor gives NaN.
// NaN: a window with a NaN tap gives NaN wherever the tap is (onnxruntime's MaxPool keeps or drops
// it depending on its place and the row width; docs/engine.md "NaN and Inf").
// Sums are accumulated in float64.
//
// Geometry at g (i32 words): 0 NC (planes)  1 H  2 W  3 OH  4 OW  5 KH  6 KW  7 strideH
//   8 strideW  9 dilH  10 dilW  11 padTop  12 padLeft  13 padBottom  14 padRight
//   15 count_include_pad
// x (NC, H, W), y (NC, OH, OW).

@inline function gw(g: usize, i: i32): i32 { return load<i32>(g + (<usize>i << 2)); }

/** Taps of one axis inside [lo, hi) for the window starting at s with dilation d and k taps. */
@inline function tapsIn(s: i32, k: i32, d: i32, lo: i32, hi: i32): i32 {
  let c = 0;
  for (let t = 0; t < k; t++) { const p = s + t * d; if (p >= lo && p < hi) c++; }
  return c;
}

export function f32_maxpool2d__wasm(g: usize, x: usize, y: usize): void {
  const NC = gw(g, 0), H = gw(g, 1), W = gw(g, 2), OH = gw(g, 3), OW = gw(g, 4), KH = gw(g, 5), KW = gw(g, 6);
  const sh = gw(g, 7), sw = gw(g, 8), dh = gw(g, 9), dw = gw(g, 10), pt = gw(g, 11), pl = gw(g, 12);
  const plane = <usize>(H * W) << 2;
  for (let p = 0; p < NC; p++) {
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * sh - pt;
      for (let ow = 0; ow < OW; ow++) {
        const w0 = ow * sw - pl;
        let best: f32 = -Infinity;
        for (let i = 0; i < KH; i++) {
          const h = h0 + i * dh;
          if (h < 0 || h >= H) continue;
          const rowp = x + (<usize>(h * W) << 2);
          for (let j = 0; j < KW; j++) {
            const w = w0 + j * dw;
            if (w < 0 || w >= W) continue;
            best = max<f32>(best, load<f32>(rowp + (<usize>w << 2))); // f32.max: a NaN tap anywhere gives NaN
          }
        }
        store<f32>(y, best);
        y += 4;
      }
    }
    x += plane;
  }
}

export function f32_avgpool2d__wasm(g: usize, x: usize, y: usize): void {
  const NC = gw(g, 0), H = gw(g, 1), W = gw(g, 2), OH = gw(g, 3), OW = gw(g, 4), KH = gw(g, 5), KW = gw(g, 6);
  const sh = gw(g, 7), sw = gw(g, 8), dh = gw(g, 9), dw = gw(g, 10), pt = gw(g, 11), pl = gw(g, 12);
  const pb = gw(g, 13), pr = gw(g, 14), incl = gw(g, 15) != 0;
  const plane = <usize>(H * W) << 2;
  for (let p = 0; p < NC; p++) {
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * sh - pt;
      const ch = incl ? tapsIn(h0, KH, dh, -pt, H + pb) : tapsIn(h0, KH, dh, 0, H);
      for (let ow = 0; ow < OW; ow++) {
        const w0 = ow * sw - pl;
        const cw = incl ? tapsIn(w0, KW, dw, -pl, W + pr) : tapsIn(w0, KW, dw, 0, W);
        let s: f64 = 0;
        for (let i = 0; i < KH; i++) {
          const h = h0 + i * dh;
          if (h < 0 || h >= H) continue;
          const rowp = x + (<usize>(h * W) << 2);
          for (let j = 0; j < KW; j++) {
            const w = w0 + j * dw;
            if (w < 0 || w >= W) continue;
            s += <f64>load<f32>(rowp + (<usize>w << 2));
          }
        }
        const div = <f64>(ch * cw);
        store<f32>(y, div > 0 ? <f32>(s / div) : NaN);
        y += 4;
      }
    }
    x += plane;
  }
}
