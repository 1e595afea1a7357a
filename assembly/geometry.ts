// The conv geometry block shared by the float32 (assembly/f32/conv.ts) and int8
// (assembly/int8/) kernels: 20 i32 words written by src/kernels/f32.ts writeConvGeometry.
//   0 C  1 H  2 W  3 M (= Cout)  4 KH  5 KW  6 OH  7 OW  8 padTop  9 padLeft  10 padBottom
//   11 padRight  12 strideH  13 strideW  14 dilH  15 dilW  16 groups  17 act  18 lo  19 hi
// (words 17..19 are the float kernels' fused activation; the int8 kernels ignore them).

export const G_C = 0, G_H = 1, G_W = 2, G_M = 3, G_KH = 4, G_KW = 5, G_OH = 6, G_OW = 7;
export const G_PT = 8, G_PL = 9, G_PB = 10, G_PR = 11, G_SH = 12, G_SW = 13, G_DH = 14, G_DW = 15;
export const G_GROUPS = 16, G_ACT = 17, G_LO = 18, G_HI = 19;

@inline export function gi(g: usize, i: i32): i32 {
  return load<i32>(g + (<usize>i << 2));
}

/** Output size along one axis (ONNX explicit pads), or -1 when the window does not fit. */
export function outSize(size: i32, k: i32, pb: i32, pe: i32, s: i32, d: i32): i64 {
  const room = <i64>size + pb + pe - (<i64>(k - 1) * d + 1);
  return room < 0 ? -1 : room / s + 1;
}

/**
 * The structural half of a geometry check: positive sizes, strides and dilations, pads ≥ 0,
 * channels divisible by groups, and OH/OW equal to what the window gives. Each kernel family
 * adds its own buffer-size limits on top.
 */
export function geomShapeOk(g: usize): bool {
  const C = gi(g, G_C), H = gi(g, G_H), W = gi(g, G_W), M = gi(g, G_M), groups = gi(g, G_GROUPS);
  const KH = gi(g, G_KH), KW = gi(g, G_KW), sh = gi(g, G_SH), sw = gi(g, G_SW), dh = gi(g, G_DH), dw = gi(g, G_DW);
  const pt = gi(g, G_PT), pl = gi(g, G_PL), pb = gi(g, G_PB), pr = gi(g, G_PR);
  if (C < 1 || H < 1 || W < 1 || M < 1 || groups < 1 || KH < 1 || KW < 1) return false;
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || pt < 0 || pl < 0 || pb < 0 || pr < 0) return false;
  if (C % groups != 0 || M % groups != 0) return false;
  const oh = outSize(H, KH, pt, pb, sh, dh), ow = outSize(W, KW, pl, pr, sw, dw);
  return oh >= 1 && ow >= 1 && oh == <i64>gi(g, G_OH) && ow == <i64>gi(g, G_OW);
}
