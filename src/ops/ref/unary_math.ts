// Unary elementwise reference kernels beyond the activations of elementwise.ts:
//   Neg, Abs, Sign, Reciprocal, Floor, Ceil, Round (half to even), Log, Sin, Cos, Tan, Asin, Acos,
//   Atan, Sinh, Cosh, Asinh, Acosh, Atanh, IsNaN, IsInf, Not, Elu, Selu, Celu, Softplus, Softsign,
//   Mish, ThresholdedRelu, Shrink.
// X [any shape] -> Y [same shape]; Y has X's dtype (bool for IsNaN / IsInf / Not). Float math is
// done in float64 and rounded once on store (within 1 ulp of float32 libm); integer results wrap
// on store like C. NaN propagates except where ONNX's numpy reference says otherwise (IsNaN,
// IsInf, ThresholdedRelu: NaN > alpha is false -> 0).

import type { RefKernel, ShapeFn, TensorDType } from '../types.js';
import { AttrReader, allocData, infoOf, requireInput, sameInfo } from './util.js';
import { anyArr, isBigData, onnxTypes, requireType } from './numeric.js';

// ONNX type constraints (the IR's dtypes among them)
const FLOATS = onnxTypes('float16, float, double, bfloat16');
const NUMERIC = onnxTypes('uint8, uint16, uint32, uint64, int8, int16, int32, int64, float16, float, double, bfloat16');
const SIGNED = onnxTypes('float, int32, int8, int16, int64, float16, double, bfloat16'); // Neg
const BOOL = onnxTypes('bool');

interface UnaryDef {
  /** ONNX type list of X */
  types: readonly TensorDType[];
  /** output dtype when not X's */
  out?: TensorDType;
  /** reads the attributes once; returns the scalar function for number elements */
  num: (r: AttrReader) => (x: number) => number;
  /** the same for bigint elements (int64), when the type list has int64 */
  big?: (r: AttrReader) => (x: bigint) => bigint;
}

function unary(op: string, def: UnaryDef): RefKernel {
  return (inputs, attrs, ctx) => {
    const x = requireInput(inputs, 0, op, ctx, 'X');
    requireType(x, def.types, 'X', op, ctx);
    const r = new AttrReader(op, attrs, ctx);
    const dtype = def.out ?? x.dtype;
    const n = x.data.length;
    const out = allocData(dtype, n);
    if (isBigData(x.data)) {
      const f = def.big!(r);
      const src = x.data,
        dst = anyArr(out);
      for (let i = 0; i < n; i++) dst[i] = f(src[i]!);
    } else {
      const f = def.num(r);
      const src = x.data as Float32Array,
        dst = out as Float32Array;
      for (let i = 0; i < n; i++) dst[i] = f(src[i]!);
    }
    return [{ dtype, dims: [...x.dims], data: out }];
  };
}

/** Shape of a unary op: X's shape, X's dtype or `dtype`. */
export function unaryShape(op: string, dtype?: TensorDType): ShapeFn {
  return (inputs, _a, _c, ctx) => {
    const x = sameInfo(infoOf(inputs, 0, op, ctx));
    return [dtype ? { dtype, dims: x.dims } : x];
  };
}

const boolOut = (p: boolean): number => (p ? 1 : 0);

/** Round half to even (numpy.round / C nearbyint); keeps -0 (round(-0.4) = -0). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** log(1 + exp(x)) without overflow: x + log1p(exp(-x)) for x > 0. */
export function softplusOf(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

export const neg = unary('Neg', { types: SIGNED, num: () => (x) => -x, big: () => (x) => -x });
export const abs = unary('Abs', { types: NUMERIC, num: () => Math.abs, big: () => (x) => (x < 0n ? -x : x) });
/** Sign: -1, 0 or 1; NaN stays NaN (numpy.sign); ±0 -> 0. */
export const sign = unary('Sign', {
  types: NUMERIC,
  num: () => (x) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN),
  big: () => (x) => (x > 0n ? 1n : x < 0n ? -1n : 0n),
});
export const reciprocal = unary('Reciprocal', { types: FLOATS, num: () => (x) => 1 / x });
export const floor = unary('Floor', { types: FLOATS, num: () => Math.floor });
export const ceil = unary('Ceil', { types: FLOATS, num: () => Math.ceil });
export const round = unary('Round', { types: FLOATS, num: () => roundHalfEven });

// ---------------------------------------------------------------------------------------------
// Transcendental

export const log = unary('Log', { types: FLOATS, num: () => Math.log });
export const sin = unary('Sin', { types: FLOATS, num: () => Math.sin });
export const cos = unary('Cos', { types: FLOATS, num: () => Math.cos });
export const tan = unary('Tan', { types: FLOATS, num: () => Math.tan });
export const asin = unary('Asin', { types: FLOATS, num: () => Math.asin });
export const acos = unary('Acos', { types: FLOATS, num: () => Math.acos });
export const atan = unary('Atan', { types: FLOATS, num: () => Math.atan });
export const sinh = unary('Sinh', { types: FLOATS, num: () => Math.sinh });
export const cosh = unary('Cosh', { types: FLOATS, num: () => Math.cosh });
export const asinh = unary('Asinh', { types: FLOATS, num: () => Math.asinh });
export const acosh = unary('Acosh', { types: FLOATS, num: () => Math.acosh });
export const atanh = unary('Atanh', { types: FLOATS, num: () => Math.atanh });

// ---------------------------------------------------------------------------------------------
// Predicates (bool output)

export const isNan = unary('IsNaN', { types: FLOATS, out: 'bool', num: () => (x) => boolOut(x !== x) });
/** IsInf-10: detect_positive / detect_negative (default 1) select which infinities count. */
export const isInf = unary('IsInf', {
  types: FLOATS,
  out: 'bool',
  num: (r) => {
    const pos = r.intIn('detect_positive', 1, [0, 1]) === 1;
    const neg = r.intIn('detect_negative', 1, [0, 1]) === 1;
    return (x) => boolOut((pos && x === Infinity) || (neg && x === -Infinity));
  },
});
export const not = unary('Not', { types: BOOL, num: () => (x) => (x ? 0 : 1) });

// ---------------------------------------------------------------------------------------------
// Activations

/** Elu: x > 0 ? x : alpha * (exp(x) - 1), alpha default 1. */
export const elu = unary('Elu', {
  types: FLOATS,
  num: (r) => {
    const alpha = r.float('alpha', 1);
    return (x) => (x > 0 ? x : alpha * Math.expm1(x));
  },
});

/** Selu: gamma * (x > 0 ? x : alpha * exp(x) - alpha); the defaults are the float32 constants of the paper. */
export const selu = unary('Selu', {
  types: FLOATS,
  num: (r) => {
    const alpha = r.float('alpha', 1.67326319217681884765625);
    const gamma = r.float('gamma', 1.05070102214813232421875);
    return (x) => gamma * (x > 0 ? x : alpha * Math.expm1(x));
  },
});

/** Celu-12 (float only): max(0, x) + min(0, alpha * (exp(x / alpha) - 1)). */
export const celu = unary('Celu', {
  types: onnxTypes('float'),
  num: (r) => {
    const alpha = r.float('alpha', 1);
    return (x) => (x !== x ? x : Math.max(0, x) + Math.min(0, alpha * Math.expm1(x / alpha)));
  },
});

export const softplus = unary('Softplus', { types: FLOATS, num: () => softplusOf });
/** Softsign: x / (1 + |x|) (±Inf -> NaN, as the numpy reference computes it). */
export const softsign = unary('Softsign', { types: FLOATS, num: () => (x) => x / (1 + Math.abs(x)) });
/** Mish-18: x * tanh(softplus(x)). */
export const mish = unary('Mish', { types: FLOATS, num: () => (x) => x * Math.tanh(softplusOf(x)) });

/** ThresholdedRelu-10: x > alpha ? x : 0 (alpha default 1; NaN -> 0). */
export const thresholdedRelu = unary('ThresholdedRelu', {
  types: FLOATS,
  num: (r) => {
    const alpha = r.float('alpha', 1);
    return (x) => (x > alpha ? x : 0);
  },
});

/**
 * Shrink-9 (every numeric type): x < -lambd ? x + bias : x > lambd ? x - bias : 0. Integer
 * results are exact (float64 arithmetic, bigint for int64 with an integral bias), truncated and
 * wrapped on store (int8 -128 with bias 2 -> -126, uint8 1 - 2 -> 255); onnxruntime adds the
 * bias in float32, which rounds integers beyond 2^24.
 */
export const shrink = unary('Shrink', {
  types: NUMERIC,
  num: (r) => {
    const bias = r.float('bias', 0),
      lambd = r.float('lambd', 0.5);
    return (x) => (x < -lambd ? x + bias : x > lambd ? x - bias : 0);
  },
  big: (r) => {
    const bias = r.float('bias', 0),
      lambd = r.float('lambd', 0.5);
    const add = (x: bigint, b: number): bigint => {
      if (Number.isInteger(b)) return x + BigInt(b); // exact
      const t = Number(x) + b;
      return Number.isFinite(t) ? BigInt(Math.trunc(t)) : -(2n ** 63n); // C's out-of-range conversion on x86
    };
    return (x) => {
      const v = Number(x);
      return v < -lambd ? add(x, bias) : v > lambd ? add(x, -bias) : 0n;
    };
  },
});
