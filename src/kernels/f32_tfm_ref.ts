// Plain TS references of the transformer kernels (assembly/f32/attention.ts,
// assembly/f32ops/tnorm.ts, x_gather_rows of assembly/f32ops/tensor.ts). Two kinds:
//   - *Ref: the kernel's own algorithm, every float32 operation rounded (Math.fround) in the
//     kernel's order, including its exp (the polynomial of assembly/f32ops/vec.ts exp4), its
//     softmax sums and the GEMM's sequential dot products: the kernels must equal them bit for bit;
//   - *Exact: the mathematical definition in float64, for the accuracy bounds the tests state.
// Layouts: rows of the last axis; the attention operands as views (offset per batch, row stride).

const f = Math.fround;

// ---- float32 primitives of the kernels ---------------------------------------------------------

/** Round half to even (f32x4.nearest). */
function nearest(x: number): number {
  if (!Number.isFinite(x)) return x;
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const I32 = new Int32Array(1),
  F32 = new Float32Array(I32.buffer);
/** The float32 whose bits are the int32 b. */
function fromBits(b: number): number {
  I32[0] = b;
  return F32[0]!;
}

/** WASM f32.min / f32.max: NaN if either is NaN, −0 < +0. */
const fmin = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));
const fmax = (a: number, b: number): number => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));

/** exp4 of assembly/f32ops/vec.ts for one lane, float32 operation by operation. */
export function exp4Ref(x0: number): number {
  const x = fmax(fmin(f(x0), 89.0), -104.0);
  const fx = nearest(f(x * f(1.44269504088896341)));
  let r = f(x - f(fx * 0.693359375));
  r = f(r - f(fx * f(-2.1219444e-4)));
  let p = f(1.98756915e-4);
  p = f(f(p * r) + f(1.3981999507e-3));
  p = f(f(p * r) + f(8.3334519073e-3));
  p = f(f(p * r) + f(4.1665795894e-2));
  p = f(f(p * r) + f(1.6666665459e-1));
  p = f(f(p * r) + f(5.0000001201e-1));
  p = f(f(f(p * f(r * r)) + r) + 1.0);
  const n = Number.isNaN(fx) ? 0 : Math.max(-2147483648, Math.min(2147483647, Math.trunc(fx)));
  const n1 = n >> 1,
    n2 = n - n1;
  const s1 = fromBits(((n1 + 127) << 23) | 0),
    s2 = fromBits(((n2 + 127) << 23) | 0);
  return f(f(p * s1) * s2);
}

/** softmaxRow of assembly/f32ops/norm.ts (log = 0) on x[off .. off+n), in place. */
export function softmaxRowRef(x: Float32Array, off: number, n: number): void {
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = fmax(m, x[off + i]!);
  const lanes = [0, 0, 0, 0];
  const full = n - (n % 4);
  const e = new Float64Array(n);
  for (let i = 0; i < full; i++) {
    e[i] = exp4Ref(f(x[off + i]! - m));
    lanes[i % 4] = f(lanes[i % 4]! + e[i]!);
  }
  let acc = 0;
  if (full < n) {
    let t = 0;
    for (let i = full; i < n; i++) {
      e[i] = exp4Ref(f(x[off + i]! - m));
      t = i === full ? e[i]! : f(t + e[i]!);
    }
    acc += t;
  }
  acc += lanes[0]! + lanes[1]! + lanes[2]! + lanes[3]!;
  const inv = f(1 / acc);
  for (let i = 0; i < n; i++) x[off + i] = f(e[i]! * inv);
}

// ---- attention -------------------------------------------------------------------------------

/** The attention of the kernel's descriptor (assembly/f32/attention.ts), as an object. */
export interface AttentionArgs {
  nb: number;
  Tq: number;
  Tk: number;
  hd: number;
  hv: number;
  ldq: number;
  ldk: number;
  ldv: number;
  ldo: number;
  /** 0 none, 1 add (float32 mask), 2 S where mask else fill, 3 fill where mask else S (bool mask) */
  maskMode: number;
  ldm: number;
  /** mask column stride: 0 or 1 */
  mcs: number;
  /** 0 none, 1 ×, 2 ÷ */
  scaleMode: number;
  scale: number;
  qScaleMode: number;
  qScale: number;
  fill: number;
  qOff: number[];
  kOff: number[];
  vOff: number[];
  oOff: number[];
  mOff: number[];
}

const op = (mode: number, a: number, c: number): number => (mode === 1 ? f(a * c) : mode === 2 ? f(a / c) : a);

/** The kernel's attention on base arrays q, k, v, mask (float32, or bytes for modes 2/3) into o, bit for bit. */
export function attentionRef(
  a: AttentionArgs,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  mask: Float32Array | Uint8Array | undefined,
  o: Float32Array,
): void {
  const s = new Float32Array(a.Tk);
  const qs = new Float32Array(a.hd);
  for (let t = 0; t < a.nb; t++) {
    for (let i = 0; i < a.Tq; i++) {
      const qr = a.qOff[t]! + i * a.ldq;
      for (let c = 0; c < a.hd; c++) qs[c] = op(a.qScaleMode, q[qr + c]!, a.qScale);
      for (let j = 0; j < a.Tk; j++) {
        const kr = a.kOff[t]! + j * a.ldk;
        let acc = 0;
        for (let c = 0; c < a.hd; c++) acc = f(acc + f(qs[c]! * k[kr + c]!));
        acc = op(a.scaleMode, acc, a.scale);
        if (a.maskMode) {
          const mv = mask![a.mOff[t]! + i * a.ldm + j * a.mcs]!;
          if (a.maskMode === 1) acc = f(acc + mv);
          else if ((mv !== 0) !== (a.maskMode === 2)) acc = f(a.fill);
        }
        s[j] = acc;
      }
      softmaxRowRef(s, 0, a.Tk);
      const orow = a.oOff[t]! + i * a.ldo;
      for (let c = 0; c < a.hv; c++) {
        let acc = 0;
        for (let j = 0; j < a.Tk; j++) acc = f(acc + f(s[j]! * v[a.vOff[t]! + j * a.ldv + c]!));
        o[orow + c] = acc;
      }
    }
  }
}

/**
 * The mathematical attention in float64, and per output element a bound on a float32
 * implementation's error: scores with relative error δ_j ≤ (hd + 3)·u·Σ|q'·k|·|c| / |s_j|
 * (q' the scaled query, c the score scale) change p_j by ≤ 2·max δ·p_j, exp and the sum add ≤ (Tk + 8)·u,
 * the P·V sums (Tk + 3)·u·Σ p_j|v_j|: |o − o_exact| ≤ (2·maxΔs + (2·Tk + 16)·u)·Σ_j p_j |v_j| + 1e-30,
 * with maxΔs = max_j (hd + 4)·u·Σ_c |q'_c k_jc|·|c| + u|s_j| (absolute error of the masked score).
 */
export function attentionExact(
  a: AttentionArgs,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  mask: Float32Array | Uint8Array | undefined,
): { o: Float64Array; bound: Float64Array } {
  const u = 2 ** -24;
  const o = new Float64Array(a.nb * a.Tq * a.hv),
    bound = new Float64Array(o.length);
  const s = new Float64Array(a.Tk),
    err = new Float64Array(a.Tk);
  const sc = a.scaleMode === 1 ? a.scale : a.scaleMode === 2 ? 1 / a.scale : 1;
  const qc = a.qScaleMode === 1 ? a.qScale : a.qScaleMode === 2 ? 1 / a.qScale : 1;
  for (let t = 0; t < a.nb; t++)
    for (let i = 0; i < a.Tq; i++) {
      let m = -Infinity;
      for (let j = 0; j < a.Tk; j++) {
        let dot = 0,
          abs = 0;
        for (let c = 0; c < a.hd; c++) {
          const p = q[a.qOff[t]! + i * a.ldq + c]! * qc * k[a.kOff[t]! + j * a.ldk + c]!;
          dot += p;
          abs += Math.abs(p);
        }
        let x = dot * sc;
        if (a.maskMode) {
          const mv = mask![a.mOff[t]! + i * a.ldm + j * a.mcs]!;
          if (a.maskMode === 1) x += mv;
          else if ((mv !== 0) !== (a.maskMode === 2)) x = a.fill;
        }
        s[j] = x;
        err[j] = (a.hd + 4) * u * abs * Math.abs(sc) + u * Math.abs(x);
        m = Math.max(m, x);
      }
      let sum = 0,
        maxErr = 0;
      for (let j = 0; j < a.Tk; j++) {
        s[j] = Math.exp(s[j]! - m);
        sum += s[j]!;
        if (Number.isFinite(err[j]!)) maxErr = Math.max(maxErr, err[j]!);
      }
      for (let c = 0; c < a.hv; c++) {
        let acc = 0,
          absAcc = 0;
        for (let j = 0; j < a.Tk; j++) {
          const vv = v[a.vOff[t]! + j * a.ldv + c]!;
          acc += (s[j]! / sum) * vv;
          absAcc += (s[j]! / sum) * Math.abs(vv);
        }
        const idx = (t * a.Tq + i) * a.hv + c;
        o[idx] = acc;
        bound[idx] = (2 * maxErr + (2 * a.Tk + 16) * u) * absAcc + 1e-30;
      }
    }
  return { o, bound };
}

// ---- decomposed norms ------------------------------------------------------------------------

/** norm.ts rowSum / tnorm.ts rowSumSq over x[off .. off+n): Σ (x − m)² when sq, else Σ x, in the kernels' order. */
export function rowSumRef(x: Float32Array, off: number, n: number, sq: boolean, m = 0): number {
  const v0 = [0, 0, 0, 0],
    v1 = [0, 0, 0, 0];
  const term = (i: number): number => {
    if (!sq) return x[off + i]!;
    const d = f(x[off + i]! - m);
    return f(d * d);
  };
  let i = 0;
  for (; i + 8 <= n; i += 8)
    for (let l = 0; l < 4; l++) {
      v0[l] = f(v0[l]! + term(i + l));
      v1[l] = f(v1[l]! + term(i + 4 + l));
    }
  let s = 0;
  for (; i < n; i++) s += term(i);
  const v = v0.map((a, l) => f(a + v1[l]!));
  return s + (v[0]! + v[1]!) + (v[2]! + v[3]!);
}

/** f32_layernorm_ops__wasmsimd over `outer` rows of n (w, b optional), bit for bit. */
export function layerNormOpsRef(x: Float32Array, outer: number, n: number, eps: number, w?: Float32Array, b?: Float32Array): Float32Array {
  const y = new Float32Array(outer * n);
  for (let o = 0; o < outer; o++) {
    const off = o * n;
    const mean = f(rowSumRef(x, off, n, false) / n);
    const vr = f(rowSumRef(x, off, n, true, mean) / n);
    const s = f(Math.sqrt(f(vr + f(eps))));
    for (let i = 0; i < n; i++) {
      let r = f(f(x[off + i]! - mean) / s);
      if (w) r = f(r * w[i]!);
      if (b) r = f(r + b[i]!);
      y[off + i] = r;
    }
  }
  return y;
}

/** f32_rmsnorm_ops__wasmsimd (mode 0: x·(1/s), 1: x/s), bit for bit. */
export function rmsNormOpsRef(x: Float32Array, outer: number, n: number, eps: number, mode: number, w?: Float32Array): Float32Array {
  const y = new Float32Array(outer * n);
  for (let o = 0; o < outer; o++) {
    const off = o * n;
    const q = f(rowSumRef(x, off, n, true, 0) / n);
    const s = f(Math.sqrt(f(q + f(eps))));
    const r = f(1 / s);
    for (let i = 0; i < n; i++) {
      let v = mode === 0 ? f(x[off + i]! * r) : f(x[off + i]! / s);
      if (w) v = f(v * w[i]!);
      y[off + i] = v;
    }
  }
  return y;
}

/** LayerNorm (mean, biased variance, ε inside the root) or RMSNorm (rms, ε inside) in float64. */
export function normExact(
  kind: 'layer' | 'rms',
  x: Float32Array,
  outer: number,
  n: number,
  eps: number,
  w?: Float32Array,
  b?: Float32Array,
): Float64Array {
  const y = new Float64Array(outer * n);
  for (let o = 0; o < outer; o++) {
    const off = o * n;
    let mean = 0;
    if (kind === 'layer') {
      for (let i = 0; i < n; i++) mean += x[off + i]!;
      mean /= n;
    }
    let q = 0;
    for (let i = 0; i < n; i++) q += (x[off + i]! - mean) ** 2;
    const s = Math.sqrt(q / n + Math.fround(eps));
    for (let i = 0; i < n; i++) y[off + i] = ((x[off + i]! - mean) / s) * (w ? w[i]! : 1) + (b ? b[i]! : 0);
  }
  return y;
}

// ---- gather of rows by run-time indices --------------------------------------------------------

/**
 * x_gather_rows: rows of `row` elements, `len` rows per outer block; indices from the end when
 * negative. Returns the output, or the position of the first index outside [−len, len).
 */
export function gatherRowsRef(
  x: ArrayLike<number>,
  outer: number,
  len: number,
  row: number,
  idx: ArrayLike<number | bigint>,
): number[] | number {
  const ids = Array.from(idx, Number);
  const bad = ids.findIndex((i) => i < -len || i >= len);
  if (bad >= 0) return bad;
  const y: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const i0 of ids) {
      const i = i0 < 0 ? i0 + len : i0;
      for (let c = 0; c < row; c++) y.push(x[(o * len + i) * row + c]!);
    }
  return y;
}
