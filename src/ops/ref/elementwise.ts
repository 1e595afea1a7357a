// Elementwise reference kernels: Add/Sub/Mul/Div/Pow with numpy broadcasting, and the unary
// activations (Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid, HardSwish, Exp, Sqrt, Erf, Gelu).
// Float math is done in float64 and rounded once to float32 on store, which for + - * / is
// exactly IEEE float32 arithmetic and for the transcendental functions is within 1 ulp of it.

import type { KernelContext, RefKernel, ShapeFn, Tensor, TensorDType } from '../types.js';
import { elementCount } from '../types.js';
import {
  AttrReader,
  allocData,
  broadcastDims,
  broadcastDimsSymbolic,
  broadcastIndex,
  infoOf,
  opError,
  requireDtype,
  requireInput,
  sameInfo,
  scalarOf,
  type NumericArray,
} from './util.js';

// ---------------------------------------------------------------------------------------------
// Binary arithmetic

type Arith = 'Add' | 'Sub' | 'Mul' | 'Div';
const NUMERIC: readonly TensorDType[] = ['float32', 'int64', 'uint64', 'int32', 'uint32', 'int16', 'uint16', 'int8', 'uint8'];
/** Pow's base (T: float, int32, int64; int8/uint8 accepted as before); the exponent takes every numeric type. */
const POW_BASE: readonly TensorDType[] = ['float32', 'int64', 'int32', 'int8', 'uint8'];

function arith(op: Arith, a: Tensor, b: Tensor, ctx: KernelContext): Tensor {
  if (a.dtype !== b.dtype) throw opError(op, ctx, `inputs have different dtypes ${a.dtype} and ${b.dtype}`);
  requireDtype(a, NUMERIC, 'input A', op, ctx);
  const dims = broadcastDims([a.dims, b.dims], op, ctx);
  const n = elementCount(dims);
  const ia = broadcastIndex(a.dims, dims);
  const ib = broadcastIndex(b.dims, dims);
  const out = allocData(a.dtype, n);

  if (a.dtype === 'int64' || a.dtype === 'uint64') {
    const x = a.data as BigInt64Array,
      y = b.data as BigInt64Array,
      z = out as BigInt64Array; // or BigUint64Array: the store wraps to 64 bits either way
    for (let i = 0; i < n; i++) {
      const u = x[ia ? ia[i]! : i]!,
        v = y[ib ? ib[i]! : i]!;
      let r: bigint;
      switch (op) {
        case 'Add':
          r = u + v;
          break;
        case 'Sub':
          r = u - v;
          break;
        case 'Mul':
          r = u * v;
          break;
        case 'Div':
          if (v === 0n) throw opError(op, ctx, 'integer division by zero');
          r = u / v; // bigint division truncates toward zero, as ONNX (C) integer division does
          break;
      }
      z[i] = r;
    }
    return { dtype: a.dtype, dims, data: out };
  }

  const x = a.data as NumericArray,
    y = b.data as NumericArray,
    z = out as NumericArray;
  const isInt = a.dtype !== 'float32';
  for (let i = 0; i < n; i++) {
    const u = x[ia ? ia[i]! : i]!,
      v = y[ib ? ib[i]! : i]!;
    switch (op) {
      case 'Add':
        z[i] = u + v;
        break; // integer results wrap on store (typed arrays are modular)
      case 'Sub':
        z[i] = u - v;
        break;
      case 'Mul':
        z[i] = a.dtype === 'int32' || a.dtype === 'uint32' ? Math.imul(u, v) : u * v;
        break; // imul: exact 32-bit wrap (u * v may exceed 2^53); 8/16-bit products are exact
      case 'Div':
        if (isInt) {
          if (v === 0) throw opError(op, ctx, 'integer division by zero');
          z[i] = Math.trunc(u / v); // truncation toward zero (exact for |u|,|v| < 2^32)
        } else {
          z[i] = u / v;
        }
        break;
    }
  }
  return { dtype: a.dtype, dims, data: out };
}

function arithKernel(op: Arith): RefKernel {
  return (inputs, _attrs, ctx) => [arith(op, requireInput(inputs, 0, op, ctx, 'A'), requireInput(inputs, 1, op, ctx, 'B'), ctx)];
}

export const add = arithKernel('Add');
export const sub = arithKernel('Sub');
export const mul = arithKernel('Mul');
export const div = arithKernel('Div');

/** Shape of a broadcasting binary op whose output dtype is input 0's. */
export function binaryShape(op: string): ShapeFn {
  return (inputs, _attrs, _c, ctx) => {
    const a = infoOf(inputs, 0, op, ctx),
      b = infoOf(inputs, 1, op, ctx);
    const dims = a.dims && b.dims ? broadcastDimsSymbolic([a.dims, b.dims], op, ctx) : null;
    return [{ dtype: a.dtype, dims }];
  };
}

/**
 * Pow(X, Y): output has X's dtype. Float base: Math.pow in float64, rounded to float32.
 * Integer base: pow in float64 truncated toward zero (onnxruntime casts std::pow's result);
 * int64 ** non-negative int64 is computed exactly with bigint (wrapping to int64).
 */
export const pow: RefKernel = (inputs, _attrs, ctx) => {
  const op = 'Pow';
  const a = requireInput(inputs, 0, op, ctx, 'X'),
    b = requireInput(inputs, 1, op, ctx, 'Y');
  requireDtype(a, POW_BASE, 'X', op, ctx);
  requireDtype(b, NUMERIC, 'Y', op, ctx);
  const dims = broadcastDims([a.dims, b.dims], op, ctx);
  const n = elementCount(dims);
  const ia = broadcastIndex(a.dims, dims),
    ib = broadcastIndex(b.dims, dims);
  const out = allocData(a.dtype, n);
  const num = (t: Tensor, i: number): number => {
    const v = t.data[i]!;
    return typeof v === 'bigint' ? Number(v) : v;
  };
  if (a.dtype === 'int64') {
    const x = a.data as BigInt64Array,
      z = out as BigInt64Array;
    for (let i = 0; i < n; i++) {
      const u = x[ia ? ia[i]! : i]!;
      const j = ib ? ib[i]! : i;
      const v = b.data[j]!;
      if (typeof v === 'bigint' && v >= 0n) z[i] = powInt64(u, v);
      else {
        const r = Math.trunc(Math.pow(Number(u), typeof v === 'bigint' ? Number(v) : v));
        z[i] = Number.isFinite(r) ? BigInt.asIntN(64, BigInt(r)) : 0n;
      }
    }
  } else {
    const z = out as NumericArray;
    const isInt = a.dtype !== 'float32';
    for (let i = 0; i < n; i++) {
      const r = Math.pow(num(a, ia ? ia[i]! : i), num(b, ib ? ib[i]! : i));
      z[i] = isInt ? Math.trunc(r) : r;
    }
  }
  return [{ dtype: a.dtype, dims, data: out }];
};

/** base ** exp (exp >= 0) in wrapping int64 arithmetic, by squaring: O(log exp) steps. */
function powInt64(base: bigint, exp: bigint): bigint {
  let result = 1n,
    b = base,
    e = exp;
  while (e > 0n) {
    if (e & 1n) result = BigInt.asIntN(64, result * b);
    b = BigInt.asIntN(64, b * b);
    e >>= 1n;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Unary float activations

/** A float32 -> float32 elementwise kernel; `make` reads the attributes once and returns the scalar function. */
function unaryKernel(op: string, make: (r: AttrReader) => (x: number) => number): RefKernel {
  return (inputs, attrs, ctx) => {
    const x = requireInput(inputs, 0, op, ctx, 'X');
    requireDtype(x, ['float32'], 'X', op, ctx);
    const f = make(new AttrReader(op, attrs, ctx));
    const src = x.data as Float32Array;
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = f(src[i]!);
    return [{ dtype: 'float32', dims: [...x.dims], data: out }];
  };
}

/** Shape of an op whose output 0 has input 0's shape and dtype. */
export function sameShape(op: string): ShapeFn {
  return (inputs, _a, _c, ctx) => [sameInfo(infoOf(inputs, 0, op, ctx))];
}

function sigmoidOf(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export const sigmoid = unaryKernel('Sigmoid', () => sigmoidOf);
export const tanh = unaryKernel('Tanh', () => Math.tanh);
export const exp = unaryKernel('Exp', () => Math.exp);
export const sqrt = unaryKernel('Sqrt', () => Math.sqrt);
export const erf = unaryKernel('Erf', () => erfOf);

export const leakyRelu = unaryKernel('LeakyRelu', (r) => {
  const alpha = r.float('alpha', 0.01);
  return (x) => (x >= 0 ? x : alpha * x);
});

export const hardSigmoid = unaryKernel('HardSigmoid', (r) => {
  const alpha = r.float('alpha', 0.2),
    beta = r.float('beta', 0.5);
  return (x) => Math.max(0, Math.min(1, alpha * x + beta));
});

export const hardSwish = unaryKernel('HardSwish', () => (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5)));

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
export const gelu = unaryKernel('Gelu', (r) => {
  const approx = r.stringIn('approximate', 'none', ['none', 'tanh']);
  if (approx === 'tanh') return (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
  return (x) => 0.5 * x * (1 + erfOf(x * SQRT1_2));
});

/** Relu for float32 and the signed integer types (Relu-14 accepts int8/int16/int32/int64). */
export const relu: RefKernel = (inputs, _attrs, ctx) => {
  const x = requireInput(inputs, 0, 'Relu', ctx, 'X');
  requireDtype(x, ['float32', 'int64', 'int32', 'int16', 'int8'], 'X', 'Relu', ctx);
  if (x.dtype === 'int64') {
    const src = x.data as BigInt64Array;
    return [{ dtype: 'int64', dims: [...x.dims], data: src.map((v) => (v > 0n ? v : 0n)) }];
  }
  const src = x.data as NumericArray;
  const out = allocData(x.dtype, src.length) as NumericArray;
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    out[i] = v > 0 || Number.isNaN(v) ? v : 0;
  } // NaN stays NaN
  return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
};

// ---------------------------------------------------------------------------------------------
// Clip

const F32_MAX = 3.4028234663852886e38;
const LIMITS: Readonly<Record<string, [number, number]>> = {
  float32: [-F32_MAX, F32_MAX],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int8: [-128, 127],
  uint8: [0, 255],
};

function clipWith(x: Tensor, lo: number | bigint | undefined, hi: number | bigint | undefined): Tensor {
  if (x.dtype === 'int64' || x.dtype === 'uint64') {
    const src = x.data as BigInt64Array; // or BigUint64Array
    const l = lo === undefined ? undefined : BigInt(lo),
      h = hi === undefined ? undefined : BigInt(hi);
    const out = src.map((v) => {
      let r = v;
      if (l !== undefined && r < l) r = l;
      if (h !== undefined && r > h) r = h;
      return r;
    });
    return { dtype: x.dtype, dims: [...x.dims], data: out };
  }
  const [dl, dh] = LIMITS[x.dtype]!;
  const l = lo === undefined ? dl : Number(lo),
    h = hi === undefined ? dh : Number(hi);
  const src = x.data as NumericArray;
  const out = allocData(x.dtype, src.length) as NumericArray;
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    out[i] = Number.isNaN(v) ? v : Math.min(Math.max(v, l), h); // min > max gives max everywhere (ONNX spec)
  }
  return { dtype: x.dtype, dims: [...x.dims], data: out };
}

/** Clip-6..10: min/max attributes (float only). */
export const clipV6: RefKernel = (inputs, attrs, ctx) => {
  const x = requireInput(inputs, 0, 'Clip', ctx, 'input');
  requireDtype(x, ['float32'], 'input', 'Clip', ctx);
  const r = new AttrReader('Clip', attrs, ctx);
  return [clipWith(x, r.float('min', -F32_MAX), r.float('max', F32_MAX))];
};

/** Clip-11+: optional scalar inputs min (1) and max (2) of the input's dtype. */
export const clipV11: RefKernel = (inputs, _attrs, ctx) => {
  const op = 'Clip';
  const x = requireInput(inputs, 0, op, ctx, 'input');
  requireDtype(x, NUMERIC, 'input', op, ctx);
  const bound = (i: number, what: string): number | bigint | undefined => {
    const t = inputs[i];
    if (!t) return undefined;
    if (t.dtype !== x.dtype) throw opError(op, ctx, `${what} has dtype ${t.dtype}, input has ${x.dtype}`);
    const v = scalarOf(t, what, op, ctx); // checks that there is exactly one element
    return typeof t.data[0] === 'bigint' ? t.data[0] : v;
  };
  return [clipWith(x, bound(1, 'min'), bound(2, 'max'))];
};

// ---------------------------------------------------------------------------------------------
// erf: W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23
// (1969) 631-637, as in netlib SPECFUN's CALERF: relative error below 1e-15 in float64.

const ERF_A = [3.1611237438705656, 1.13864154151050156e2, 3.77485237685302021e2, 3.20937758913846947e3, 1.85777706184603153e-1];
const ERF_B = [2.36012909523441209e1, 2.44024637934444173e2, 1.28261652607737228e3, 2.84423683343917062e3];
const ERF_C = [
  5.64188496988670089e-1, 8.88314979438837594, 6.61191906371416295e1, 2.98635138197400131e2, 8.8195222124176909e2, 1.71204761263407058e3,
  2.05107837782607147e3, 1.23033935479799725e3, 2.15311535474403846e-8,
];
const ERF_D = [
  1.57449261107098347e1, 1.17693950891312499e2, 5.37181101862009858e2, 1.62138957456669019e3, 3.29079923573345963e3, 4.36261909014324716e3,
  3.43936767414372164e3, 1.23033935480374942e3,
];
const ERF_P = [
  3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4,
  1.63153871373020978e-2,
];
const ERF_Q = [2.56852019228982242, 1.87295284992346725, 5.27905102951428412e-1, 6.05183413124413191e-2, 2.33520497626869185e-3];
const SQRPI = 5.6418958354775628695e-1; // 1/sqrt(pi)

/** erfc(y) for y > 0.46875, before the exp(-y^2) factor is split for accuracy. */
function erfcTail(y: number): number {
  let r: number;
  if (y <= 4) {
    let num = ERF_C[8]! * y,
      den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + ERF_C[i]!) * y;
      den = (den + ERF_D[i]!) * y;
    }
    r = (num + ERF_C[7]!) / (den + ERF_D[7]!);
  } else {
    if (y >= 26.6) return 0; // erfc underflows
    const z = 1 / (y * y);
    let num = ERF_P[5]! * z,
      den = z;
    for (let i = 0; i < 4; i++) {
      num = (num + ERF_P[i]!) * z;
      den = (den + ERF_Q[i]!) * z;
    }
    r = (z * (num + ERF_P[4]!)) / (den + ERF_Q[4]!);
    r = (SQRPI - r) / y;
  }
  // exp(-y*y) computed as exp(-ys*ys) * exp(-(y-ys)(y+ys)) with ys = y rounded to 1/16, to keep
  // the rounding error of y*y out of the exponent.
  const ys = Math.trunc(y * 16) / 16;
  const del = (y - ys) * (y + ys);
  return Math.exp(-ys * ys) * Math.exp(-del) * r;
}

/** The error function in float64 (Cody's rational approximations). */
export function erfOf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const y = Math.abs(x);
  if (y <= 0.46875) {
    const z = y > 1.11e-16 ? y * y : 0;
    let num = ERF_A[4]! * z,
      den = z;
    for (let i = 0; i < 3; i++) {
      num = (num + ERF_A[i]!) * z;
      den = (den + ERF_B[i]!) * z;
    }
    return (x * (num + ERF_A[3]!)) / (den + ERF_B[3]!);
  }
  if (y >= 6) return x > 0 ? 1 : -1; // erfc(6) < 2.2e-17
  const r = 0.5 - erfcTail(y) + 0.5;
  return x < 0 ? -r : r;
}

// ---------------------------------------------------------------------------------------------
// Equal / Where (beyond the core list: stories260K's attention mask needs them)

/** Equal(A, B) -> bool, numpy broadcasting; any dtype (bool from opset 11). */
export const equal: RefKernel = (inputs, _attrs, ctx) => {
  const op = 'Equal';
  const a = requireInput(inputs, 0, op, ctx, 'A'),
    b = requireInput(inputs, 1, op, ctx, 'B');
  if (a.dtype !== b.dtype) throw opError(op, ctx, `inputs have different dtypes ${a.dtype} and ${b.dtype}`);
  const dims = broadcastDims([a.dims, b.dims], op, ctx);
  const n = elementCount(dims);
  const ia = broadcastIndex(a.dims, dims),
    ib = broadcastIndex(b.dims, dims);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = a.data[ia ? ia[i]! : i] === b.data[ib ? ib[i]! : i] ? 1 : 0;
  return [{ dtype: 'bool', dims, data: out }];
};

export const equalShape: ShapeFn = (inputs, attrs, constants, ctx) => [
  { ...binaryShape('Equal')(inputs, attrs, constants, ctx)[0]!, dtype: 'bool' },
];

/** Where(condition, X, Y): X where condition else Y, all three broadcast together. */
export const where: RefKernel = (inputs, _attrs, ctx) => {
  const op = 'Where';
  const c = requireInput(inputs, 0, op, ctx, 'condition'),
    x = requireInput(inputs, 1, op, ctx, 'X'),
    y = requireInput(inputs, 2, op, ctx, 'Y');
  requireDtype(c, ['bool'], 'condition', op, ctx);
  if (x.dtype !== y.dtype) throw opError(op, ctx, `X and Y have different dtypes ${x.dtype} and ${y.dtype}`);
  const dims = broadcastDims([c.dims, x.dims, y.dims], op, ctx);
  const n = elementCount(dims);
  const ic = broadcastIndex(c.dims, dims),
    ix = broadcastIndex(x.dims, dims),
    iy = broadcastIndex(y.dims, dims);
  const out = allocData(x.dtype, n);
  const dst = out as unknown as { [i: number]: number | bigint };
  const cd = c.data as Uint8Array;
  for (let i = 0; i < n; i++) dst[i] = cd[ic ? ic[i]! : i] ? x.data[ix ? ix[i]! : i]! : y.data[iy ? iy[i]! : i]!;
  return [{ dtype: x.dtype, dims, data: out }];
};

export const whereShape: ShapeFn = (inputs, _a, _c, ctx) => {
  const c = infoOf(inputs, 0, 'Where', ctx),
    x = infoOf(inputs, 1, 'Where', ctx),
    y = infoOf(inputs, 2, 'Where', ctx);
  const dims = c.dims && x.dims && y.dims ? broadcastDimsSymbolic([c.dims, x.dims, y.dims], 'Where', ctx) : null;
  return [{ dtype: x.dtype, dims }];
};
