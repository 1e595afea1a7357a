// Broadcasting binary and variadic reference kernels beyond Add/Sub/Mul/Div/Pow/Equal:
//   Max, Min, Sum, Mean (variadic: 1+ inputs; opset 7 = same shapes only, broadcasting from 8),
//   Mod (fmod), Greater, Less, GreaterOrEqual, LessOrEqual (-> bool), And, Or, Xor (bool),
//   BitShift, PRelu (slope broadcasts unidirectionally to X).
// A [..] , B [..] -> Y [numpy broadcast of the input shapes]; every input has the same dtype.
// Integer results wrap like C and are exact (int64 as bigint: onnxruntime's int64 fmod goes
// through double); float results are computed in float64 and rounded on store (exact for
// max/min/comparisons/fmod, and + of two float32 values).

import type { KernelContext, RefKernel, ShapeFn, Tensor, TensorDType } from '../types.js';
import { AttrReader, allocData, broadcastDims, infoOf, opError, requireInput, sameDims, sameInfo } from './util.js';
import { anyArr, broadcastAll, broadcastInfos, isBigData, isFloatDtype, mulWrap, onnxTypes, requireType } from './numeric.js';

export const FLOATS = onnxTypes('float16, float, double, bfloat16');
export const NUMERIC = onnxTypes('uint8, uint16, uint32, uint64, int8, int16, int32, int64, float16, float, double, bfloat16');
const BOOL = onnxTypes('bool');
/** PRelu-9/16 */
export const PRELU_9 = onnxTypes('bfloat16, float16, float, double, uint32, uint64, int32, int64');

/** The node's inputs 0..n-1 (variadic: at least one, no gaps), all of one dtype in `types`. */
function sameTypeInputs(
  inputs: ReadonlyArray<Tensor | undefined>,
  min: number,
  types: readonly TensorDType[],
  op: string,
  ctx: KernelContext,
): Tensor[] {
  if (inputs.length < min) throw opError(op, ctx, `needs at least ${min} input(s), got ${inputs.length}`);
  const ts = inputs.map((_, i) => requireInput(inputs, i, op, ctx, `input ${i}`));
  requireType(ts[0]!, types, 'input 0', op, ctx);
  const other = ts.find((t) => t.dtype !== ts[0]!.dtype);
  if (other) throw opError(op, ctx, `inputs have different dtypes ${ts[0]!.dtype} and ${other.dtype}`);
  return ts;
}

/** Shape of a broadcasting op over all its inputs: input 0's dtype, or `dtype`. */
export function broadcastShape(op: string, dtype?: TensorDType, sameShapeOnly = false): ShapeFn {
  return (inputs, _a, _c, ctx) => {
    const infos = inputs.map((_, i) => infoOf(inputs, i, op, ctx));
    if (infos.length === 0) throw opError(op, ctx, 'needs at least one input');
    return [{ dtype: dtype ?? infos[0]!.dtype, dims: broadcastInfos(infos, op, ctx, sameShapeOnly) }];
  };
}

// ---------------------------------------------------------------------------------------------
// Variadic: Max, Min, Sum, Mean

interface Fold {
  num: (acc: number, v: number) => number;
  big: (acc: bigint, v: bigint) => bigint;
}

// numpy.maximum / numpy.minimum: NaN in either operand gives NaN; equal operands give the first.
const MAX: Fold = { num: (a, b) => (a >= b || a !== a ? a : b), big: (a, b) => (a >= b ? a : b) };
const MIN: Fold = { num: (a, b) => (a <= b || a !== a ? a : b), big: (a, b) => (a <= b ? a : b) };
const SUM: Fold = { num: (a, b) => a + b, big: (a, b) => a + b };

/**
 * out = f(...f(f(x0, x1), x2)..., xn-1) elementwise over the broadcast of all inputs, each step
 * rounded/wrapped to the dtype (numpy's left-to-right evaluation); Mean divides the sum by n.
 */
function variadic(op: 'Max' | 'Min' | 'Sum' | 'Mean', types: readonly TensorDType[], sameShapeOnly: boolean): RefKernel {
  const fold = op === 'Max' ? MAX : op === 'Min' ? MIN : SUM;
  return (inputs, _attrs, ctx) => {
    const ts = sameTypeInputs(inputs, 1, types, op, ctx);
    const dtype = ts[0]!.dtype;
    const { dims, n, maps } = broadcastAll(ts, op, ctx, sameShapeOnly);
    const out = allocData(dtype, n);
    const step = allocData(dtype, 1); // one-element scratch: rounds / wraps each step to the dtype
    const idx = (k: number, i: number): number => {
      const m = maps[k];
      return m ? m[i]! : i;
    };
    if (isBigData(out)) {
      const srcs = ts.map((t) => t.data as BigInt64Array);
      const s = step as BigInt64Array;
      for (let i = 0; i < n; i++) {
        s[0] = srcs[0]![idx(0, i)]!;
        for (let k = 1; k < srcs.length; k++) s[0] = fold.big(s[0]!, srcs[k]![idx(k, i)]!);
        out[i] = s[0]!;
      }
    } else {
      const srcs = ts.map((t) => t.data as Float32Array);
      const s = step as Float32Array,
        o = out as Float32Array;
      for (let i = 0; i < n; i++) {
        s[0] = srcs[0]![idx(0, i)]!;
        for (let k = 1; k < srcs.length; k++) s[0] = fold.num(s[0]!, srcs[k]![idx(k, i)]!);
        o[i] = op === 'Mean' ? s[0]! / srcs.length : s[0]!;
      }
    }
    return [{ dtype, dims, data: out }];
  };
}

/** Max/Min-6 (opset 7): floats, same shapes. */
export const maxV6 = variadic('Max', FLOATS, true);
export const minV6 = variadic('Min', FLOATS, true);
/** Max/Min-8: broadcasting; -12 adds the integer types. */
export const maxV8 = variadic('Max', FLOATS, false);
export const minV8 = variadic('Min', FLOATS, false);
export const maxV12 = variadic('Max', NUMERIC, false);
export const minV12 = variadic('Min', NUMERIC, false);
/** Sum/Mean-6 (opset 7): same shapes; -8: broadcasting. Floats only. */
export const sumV6 = variadic('Sum', FLOATS, true);
export const meanV6 = variadic('Mean', FLOATS, true);
export const sumV8 = variadic('Sum', FLOATS, false);
export const meanV8 = variadic('Mean', FLOATS, false);

// ---------------------------------------------------------------------------------------------
// Binary

/** y[i] = f(a[..], b[..]) over the broadcast of A and B; `out` is the output dtype (default A's). */
function zip(
  op: string,
  a: Tensor,
  b: Tensor,
  ctx: KernelContext,
  fNum: (x: number, y: number) => number,
  fBig: (x: bigint, y: bigint) => bigint | number,
  outDtype?: TensorDType,
): Tensor {
  const { dims, n, maps } = broadcastAll([a, b], op, ctx);
  const [ia, ib] = maps as [Int32Array | null, Int32Array | null];
  const dtype = outDtype ?? a.dtype;
  const out = allocData(dtype, n);
  if (isBigData(a.data)) {
    const x = a.data,
      y = b.data as BigInt64Array,
      z = anyArr(out);
    for (let i = 0; i < n; i++) z[i] = fBig(x[ia ? ia[i]! : i]!, y[ib ? ib[i]! : i]!);
  } else {
    const x = a.data as Float32Array,
      y = b.data as Float32Array,
      z = out as Float32Array;
    for (let i = 0; i < n; i++) z[i] = fNum(x[ia ? ia[i]! : i]!, y[ib ? ib[i]! : i]!);
  }
  return { dtype, dims, data: out };
}

function twoInputs(
  inputs: ReadonlyArray<Tensor | undefined>,
  types: readonly TensorDType[],
  op: string,
  ctx: KernelContext,
): [Tensor, Tensor] {
  const a = requireInput(inputs, 0, op, ctx, 'A'),
    b = requireInput(inputs, 1, op, ctx, 'B');
  requireType(a, types, 'A', op, ctx);
  if (a.dtype !== b.dtype) throw opError(op, ctx, `inputs have different dtypes ${a.dtype} and ${b.dtype}`);
  return [a, b];
}

// Comparisons -> bool (NaN compares false; int64 compares exactly as bigint)

type Cmp = 'Greater' | 'Less' | 'GreaterOrEqual' | 'LessOrEqual';
const CMP: Record<Cmp, (x: number | bigint, y: number | bigint) => boolean> = {
  Greater: (x, y) => x > y,
  Less: (x, y) => x < y,
  GreaterOrEqual: (x, y) => x >= y,
  LessOrEqual: (x, y) => x <= y,
};

/** Greater/Less-7 take floats; -9 and GreaterOrEqual/LessOrEqual-12 every numeric type. */
export function compare(op: Cmp, types: readonly TensorDType[]): RefKernel {
  const f = CMP[op];
  return (inputs, _attrs, ctx) => {
    const [a, b] = twoInputs(inputs, types, op, ctx);
    return [
      zip(
        op,
        a,
        b,
        ctx,
        (x, y) => (f(x, y) ? 1 : 0),
        (x, y) => (f(x, y) ? 1 : 0),
        'bool',
      ),
    ];
  };
}

// Logical (bool)

type Logic = 'And' | 'Or' | 'Xor';
const LOGIC: Record<Logic, (x: number, y: number) => number> = {
  And: (x, y) => x & y,
  Or: (x, y) => x | y,
  Xor: (x, y) => x ^ y,
};

export function logical(op: Logic): RefKernel {
  const f = LOGIC[op];
  return (inputs, _attrs, ctx) => {
    const [a, b] = twoInputs(inputs, BOOL, op, ctx);
    return [
      zip(
        op,
        a,
        b,
        ctx,
        (x, y) => f(x ? 1 : 0, y ? 1 : 0),
        () => 0,
      ),
    ];
  };
}

/**
 * Mod-10/13. fmod=0 (default): integer remainder with the sign of the divisor (Python %);
 * fmod=1: C fmod, the sign of the dividend. Floats require fmod=1 (the spec; onnxruntime
 * refuses fmod=0). An integer divisor of 0 is an error (as onnxruntime), never a hang or a NaN.
 */
export const mod: RefKernel = (inputs, attrs, ctx) => {
  const op = 'Mod';
  const [a, b] = twoInputs(inputs, NUMERIC, op, ctx);
  const fmod = new AttrReader(op, attrs, ctx).intIn('fmod', 0, [0, 1]) === 1;
  if (isFloatDtype(a.dtype)) {
    if (!fmod) throw opError(op, ctx, `fmod must be 1 for floating-point inputs (${a.dtype})`);
    return [
      zip(
        op,
        a,
        b,
        ctx,
        (x, y) => x % y,
        () => 0n,
      ),
    ]; // JS % on numbers is C fmod
  }
  const zero = (): never => {
    throw opError(op, ctx, 'integer modulo by zero');
  };
  return [
    zip(
      op,
      a,
      b,
      ctx,
      (x, y) => {
        if (y === 0) zero();
        const r = x % y; // truncated: sign of x
        return !fmod && r !== 0 && r < 0 !== y < 0 ? r + y : r;
      },
      (x, y) => {
        if (y === 0n) zero();
        const r = x % y;
        return !fmod && r !== 0n && r < 0n !== y < 0n ? r + y : r;
      },
    ),
  ];
};

/**
 * BitShift-11 (unsigned types): LEFT or RIGHT by Y bits; shifting by the bit width or more
 * gives 0 (numpy; onnxruntime on uint8). Left shifts drop the bits shifted out.
 */
export const bitShift: RefKernel = (inputs, attrs, ctx) => {
  const op = 'BitShift';
  const [a, b] = twoInputs(inputs, onnxTypes('uint8, uint16, uint32, uint64'), op, ctx);
  const left = new AttrReader(op, attrs, ctx).stringIn('direction', '' as 'LEFT', ['LEFT', 'RIGHT']) === 'LEFT';
  const bits = a.data.BYTES_PER_ELEMENT * 8;
  const BITS = BigInt(bits);
  return [
    zip(
      op,
      a,
      b,
      ctx,
      (x, y) => (y >= bits ? 0 : left ? x << y : x >>> y),
      (x, y) => (y >= BITS ? 0n : left ? x << y : x >> y),
    ),
  ];
};

/**
 * PRelu: x < 0 ? slope * x : x, slope broadcast unidirectionally to X (Y has X's shape).
 * PRelu-7 takes floats; -9 adds int32/int64 (and uint32/uint64).
 */
export function prelu(types: readonly TensorDType[]): RefKernel {
  return (inputs, _attrs, ctx) => {
    const op = 'PRelu';
    const x = requireInput(inputs, 0, op, ctx, 'X'),
      slope = requireInput(inputs, 1, op, ctx, 'slope');
    requireType(x, types, 'X', op, ctx);
    if (slope.dtype !== x.dtype) throw opError(op, ctx, `slope has dtype ${slope.dtype}, X has ${x.dtype}`);
    if (!sameDims(broadcastDims([x.dims, slope.dims], op, ctx), x.dims)) {
      throw opError(op, ctx, `slope [${slope.dims.join(', ')}] does not broadcast to X [${x.dims.join(', ')}]`);
    }
    const mul = mulWrap(x.data);
    return [
      zip(
        op,
        x,
        slope,
        ctx,
        (v, s) => (v < 0 ? mul(s, v) : v),
        (v, s) => (v < 0n ? s * v : v),
      ),
    ];
  };
}

export const preluShape: ShapeFn = (inputs, _a, _c, ctx) => [sameInfo(infoOf(inputs, 0, 'PRelu', ctx))];
