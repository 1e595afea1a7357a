// Shared SIMD helpers of the float32 op kernels (assembly/f32ops/): partial loads/stores for
// the tails of rows, and the vector transcendental functions. Accuracy (checked against the
// float64 TS references over dense sweeps): exp ≤ 1e-7 relative on the normal range (Cephes
// polynomial, 2^n applied in two halves so overflow / gradual underflow come out right),
// tanh ≤ 1.3e-7 (Cephes odd polynomial below 0.625, 1 − 2/(e^2x + 1) above), erf ≤ 4.2e-7
// absolute and relative (Eigen's rational approximation on [-4, 4]), sigmoid ≤ 1.5e-7.
// NaN propagates through every function (f32x4.min/max keep NaN, unlike pmin/pmax).

/** n (0..4) floats at p as a vector, zero lanes after; reads nothing past p + 4n. */
@inline export function loadN(p: usize, n: usize): v128 {
  if (n >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  if (n > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Stores the first n (0..4) lanes of v at p; writes nothing past p + 4n. */
@inline export function storeN(p: usize, v: v128, n: usize): void {
  if (n >= 4) { v128.store(p, v); return; }
  if (n > 0) store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** e^x, 4 lanes. */
@inline export function exp4(x: v128): v128 {
  x = f32x4.max(f32x4.min(x, f32x4.splat(89.0)), f32x4.splat(-104.0));
  const fx = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1.0));
  const n = i32x4.trunc_sat_f32x4_s(fx);
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  const bias = i32x4.splat(127);
  const s1 = i32x4.shl(i32x4.add(n1, bias), 23);
  const s2 = i32x4.shl(i32x4.add(n2, bias), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/**
 * e^-z, 4 lanes, for the z of sigmoid4 and silu4 (sigmoid4's comment: magic-bias rounding of
 * n = round(-z·log2 e), t = z + n·ln 2 in two parts, e = s + s·t·P5(t) with s = 2^n from n's bits).
 */
@inline function expNeg4(z: v128): v128 {
  const magic = f32x4.splat(12583039.0); // 0x1.8000FEp23: round-to-nearest, and 127 in the low bits
  let n = f32x4.add(f32x4.mul(z, f32x4.splat(-1.4426950216293335)), magic);
  const s = i32x4.shl(n, 23);
  n = f32x4.sub(n, magic);
  let t = f32x4.add(f32x4.mul(n, f32x4.splat(0.693145751953125)), z);
  t = f32x4.add(f32x4.mul(n, f32x4.splat(1.428606765330187045e-6)), t);
  let p = f32x4.add(f32x4.mul(t, f32x4.splat(-0.008289290592074394)), f32x4.splat(0.04189782217144966));
  p = f32x4.add(f32x4.mul(t, p), f32x4.splat(-0.16667652130126953));
  p = f32x4.add(f32x4.mul(t, p), f32x4.splat(0.4999915063381195));
  p = f32x4.add(f32x4.mul(t, p), f32x4.splat(-0.9999997019767761));
  t = f32x4.mul(t, s);
  return f32x4.add(f32x4.mul(t, p), s);
}

/**
 * 1 / (1 + e^-x), 4 lanes, in the form XNNPACK's f32-vsigmoid rr2-p5-div uses: with z = |x|,
 * e = e^-z by a two-constant range reduction (n = round(-z·log2 e) through the magic-bias
 * trick, t = z + n·ln 2 in two parts), e = s + s·t·P5(t) with s = 2^n built from n's bits,
 * f = e / (1 + e) — sigmoid(-z) — then 1 − f for x ≥ 0. About 2 ulp; f is 0 past z ≈ 87.34 (the
 * float32 denormal cutoff) and NaN stays NaN. No conversions, no nearest: ~20 vector ops.
 * (Minimax constants from XNNPACK's generator; the range reduction is the textbook one.)
 */
@inline export function sigmoid4(x: v128): v128 {
  const z = f32x4.abs(x);
  const e = expNeg4(z);
  let f = f32x4.div(e, f32x4.add(e, f32x4.splat(1.0)));
  f = v128.andnot(f, f32x4.gt(z, f32x4.splat(87.33654022216796875)));
  return v128.bitselect(f, f32x4.sub(f32x4.splat(1.0), f), i32x4.lt_s(x, i32x4.splat(0)));
}

/**
 * x·sigmoid(x) (SiLU) = x / (1 + e^-x), 4 lanes: e^-x by sigmoid4's range reduction and
 * polynomial on x clamped to [-88, 80] (2^n stays a normal float: n = round(-x·log2 e) in
 * [-115, 127]), then one division. Below -88 the denominator is +Inf: -0 for finite x and NaN for
 * -Inf, as x·sigmoid(x) gives; above 80, 1 + e^-x rounds to 1 and the result is x. NaN stays NaN
 * (pmin/pmax with x first keep it). About 3 ulp. ~26 vector ops against sigmoid4's ~30 plus the
 * multiply (no |x|, no sign select, no cutoff mask): 1.3x the throughput measured in V8, where
 * SiLU is a large part of an EfficientNet (every expand and depthwise conv output goes through it).
 */
@inline export function silu4(x: v128): v128 {
  const xc = f32x4.pmax(f32x4.pmin(x, f32x4.splat(80.0)), f32x4.splat(-88.0));
  const e = expNeg4(xc);
  const den = f32x4.pmax(f32x4.add(e, f32x4.splat(1.0)), v128.and(f32x4.lt(x, f32x4.splat(-88.0)), f32x4.splat(Infinity)));
  return f32x4.div(x, den);
}

/** tanh x, 4 lanes. */
@inline export function tanh4(x: v128): v128 {
  const ax = f32x4.abs(x);
  // |x| < 0.625: x + x·z·P(z), z = x²
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(-5.70498872745e-3);
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(2.06390887954e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-5.37397155531e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(1.33314422036e-1));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-3.33332819422e-1));
  const small = f32x4.add(x, f32x4.mul(f32x4.mul(x, z), p));
  // otherwise sign(x)·(1 − 2 / (e^{2|x|} + 1))
  const one = f32x4.splat(1.0);
  const e = exp4(f32x4.add(ax, ax));
  const big = f32x4.sub(one, f32x4.div(f32x4.splat(2.0), f32x4.add(e, one)));
  const signed = v128.or(big, v128.and(x, i32x4.splat(<i32>0x80000000)));
  return v128.bitselect(small, signed, f32x4.lt(ax, f32x4.splat(0.625)));
}

/** erf x, 4 lanes: x·P(x²)/Q(x²) on x clamped to [-4, 4]. */
@inline export function erf4(x: v128): v128 {
  x = f32x4.max(f32x4.min(x, f32x4.splat(4.0)), f32x4.splat(-4.0));
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(-2.72614225801306e-10);
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(2.77068142495902e-08));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-2.10102402082508e-06));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-5.69250639462346e-05));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-7.34990630326855e-04));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-2.95459980854025e-03));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-1.60960333262415e-02));
  let q = f32x4.splat(-1.45660718464996e-05);
  q = f32x4.add(f32x4.mul(q, z), f32x4.splat(-2.13374055278905e-04));
  q = f32x4.add(f32x4.mul(q, z), f32x4.splat(-1.68282697438203e-03));
  q = f32x4.add(f32x4.mul(q, z), f32x4.splat(-7.37332916720468e-03));
  q = f32x4.add(f32x4.mul(q, z), f32x4.splat(-1.42647390514189e-02));
  return f32x4.div(f32x4.mul(x, p), q);
}

/** Horizontal sum of the 4 lanes. */
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Horizontal max of the 4 lanes (NaN if any lane is NaN). */
@inline export function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}
