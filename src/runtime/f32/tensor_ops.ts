// Lowerings of the small ops on integer and bool tensors that transformer graphs compute per
// step (attention masks, position ids → RoPE angles) and of Neg / Sin / Cos on float32, onto
// assembly/f32ops/tensor.ts: Cast, Equal / Less / LessOrEqual / Greater / GreaterOrEqual,
// And / Or / Xor, Not, Where, Neg, Sin, Cos. The engine keeps integer and bool values in its
// arena in their own bytes (plan_builder.ts 'native'), so these run on pointers like the float
// kernels. Everything else on such tensors still runs its reference kernel on views of the arena.
import { elementCount, type TensorDType } from '../../ops/types.js';
import type { Node } from '../../ir/graph.js';
import { dtypeBytes } from '../plan_builder.js';
import { bcastDescN } from './descriptors.js';
import { unaryIo, xyKernel, type F32Lower, type Lowered, type Lowering } from './lower.js';

/** Element type codes of assembly/f32ops/tensor.ts. */
export const ELEM_TYPE: Partial<Record<TensorDType, number>> = { float32: 0, int64: 1, int32: 2, uint8: 3, bool: 3, int8: 4 };

/** log2 of the element size of a dtype (0..3). */
export function elemShift(dtype: TensorDType): number {
  return Math.log2(dtypeBytes(dtype));
}

const CMP: Record<string, number> = { Equal: 0, Less: 1, LessOrEqual: 2, Greater: 3, GreaterOrEqual: 4, And: 5, Or: 6, Xor: 7 };

/** Equal, Less, LessOrEqual, Greater, GreaterOrEqual (float32, int64, int32, uint8, int8, bool) and And, Or, Xor (bool). */
function lowerCompare(n: Node, L: F32Lower): Lowered | string {
  const [a, b] = n.inputs,
    y = n.outputs[0];
  if (!a || !b || !y) return 'missing operand';
  const t = L.info(a).dtype;
  const code = ELEM_TYPE[t];
  if (code === undefined || L.info(b).dtype !== t) return `operands are ${t}`;
  const d = bcastDescN(L.dims(y), [L.dims(a), L.dims(b)]);
  if (!d) return 'broadcast needs more than 6 dims after collapsing';
  const desc = L.putI32(d);
  const op = CMP[n.op]!;
  const ex = L.ex;
  const ptrOf = (name: string, bd: { ptr(n: string): number }): number => {
    const c = L.constOf(name);
    return c ? L.P.mem.putBytes(c.data) : bd.ptr(name);
  };
  return {
    kind: 'kernel',
    build: (bd) => {
      const ap = ptrOf(a, bd),
        bp = ptrOf(b, bd),
        yp = bd.ptr(y);
      return () => ex.x_compare_bcast__wasm(op, code, desc, ap, bp, yp);
    },
  };
}

function lowerNot(n: Node, L: F32Lower): Lowered | string {
  const x = n.inputs[0],
    y = n.outputs[0];
  if (!x || !y || L.info(x).dtype !== 'bool') return 'input is not bool';
  const len = elementCount(L.dims(y));
  const ex = L.ex;
  return xyKernel(x, y, (xp, yp) => ex.x_not__wasm(xp, yp, len), true);
}

function lowerWhere(n: Node, L: F32Lower): Lowered | string {
  const [c, x, z] = n.inputs,
    y = n.outputs[0];
  if (!c || !x || !z || !y) return 'missing operand';
  if (L.info(c).dtype !== 'bool') return 'condition is not bool';
  const t = L.info(x).dtype;
  if (L.info(z).dtype !== t) return 'X and Y differ in dtype';
  const d = bcastDescN(L.dims(y), [L.dims(c), L.dims(x), L.dims(z)]);
  if (!d) return 'broadcast needs more than 6 dims after collapsing';
  const desc = L.putI32(d);
  const esh = elemShift(t);
  const ex = L.ex;
  const ptrOf = (name: string, bd: { ptr(n: string): number }): number => {
    const k = L.constOf(name);
    return k ? L.P.mem.putBytes(k.data) : bd.ptr(name);
  };
  return {
    kind: 'kernel',
    build: (bd) => {
      const cp = ptrOf(c, bd),
        xp = ptrOf(x, bd),
        zp = ptrOf(z, bd),
        yp = bd.ptr(y);
      return () => ex.x_where_bcast__wasm(desc, cp, xp, zp, yp, esh);
    },
  };
}

function lowerCast(n: Node, L: F32Lower): Lowered | string {
  const x = n.inputs[0],
    y = n.outputs[0];
  if (!x || !y) return 'missing operand';
  const from = L.info(x).dtype,
    to = L.info(y).dtype;
  const f = ELEM_TYPE[from],
    t = ELEM_TYPE[to];
  if (f === undefined || t === undefined) return `a cast from ${from} to ${to}`;
  const len = elementCount(L.dims(y));
  const toBool = to === 'bool' ? 1 : 0;
  const ex = L.ex;
  return xyKernel(x, y, (xp, yp) => ex.x_cast__wasm(xp, yp, len, f, t, toBool), elemShift(from) === elemShift(to));
}

function f32Unary(run: (ex: F32Lower['ex'], x: number, y: number, n: number) => void): Lowering {
  return (n, L) => {
    const io = unaryIo(n, L);
    if (typeof io === 'string') return io;
    const len = elementCount(L.dims(io.y));
    const ex = L.ex;
    return xyKernel(io.x, io.y, (xp, yp) => run(ex, xp, yp, len), true);
  };
}

export const TENSOR_OPS: Record<string, Lowering> = {
  Cast: lowerCast,
  Equal: lowerCompare,
  Less: lowerCompare,
  LessOrEqual: lowerCompare,
  Greater: lowerCompare,
  GreaterOrEqual: lowerCompare,
  And: lowerCompare,
  Or: lowerCompare,
  Xor: lowerCompare,
  Not: lowerNot,
  Where: lowerWhere,
  Neg: f32Unary((ex, x, y, n) => ex.f32_neg__wasmsimd(x, y, n)),
  Sin: f32Unary((ex, x, y, n) => ex.f32_sincos__wasm(x, y, n, 0)),
  Cos: f32Unary((ex, x, y, n) => ex.f32_sincos__wasm(x, y, n, 1)),
};
