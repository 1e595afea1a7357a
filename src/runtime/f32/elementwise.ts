// float32 elementwise lowerings: unary activations (assembly/f32ops/unary.ts), Clip, the binary
// ops with broadcasting (assembly/f32ops/binary.ts), Pow.
import { elementCount } from '../../ops/types.js';
import type { Node } from '../../ir/graph.js';
import type { WasmExports } from '../../wasm/gateway.js';
import { bcastDesc } from './descriptors.js';
import { dtypeReason, xyStep, reader, sameDims, xyKernel, unaryIo, type F32Lower, type Lowered, type Lowering } from './lower.js';

type UnaryFn = (x: number, y: number, n: number) => void;

function unary(make: (ex: WasmExports, n: Node) => UnaryFn): Lowering {
  return (n, L) => {
    const io = unaryIo(n, L);
    if (typeof io === 'string') return io;
    const { x, y } = io;
    const fn = make(L.ex, n);
    const len = elementCount(L.dims(y));
    return xyKernel(x, y, (xp, yp) => fn(xp, yp, len), true);
  };
}

const F32_MAX = 3.4028234663852886e38;

function lowerClip(n: Node, L: F32Lower): Lowered | string {
  if (n.opset < 11) {
    const r = reader(n);
    const lo = r.float('min', -F32_MAX),
      hi = r.float('max', F32_MAX);
    return unary((ex) => (x, y, k) => ex.f32_clip__wasmsimd(x, y, k, lo, hi))(n, L);
  }
  const why = dtypeReason(n, L, [0, 1, 2]);
  if (why) return why;
  const lo = L.scalarOrValue(n, 1, 'min') ?? -F32_MAX,
    hi = L.scalarOrValue(n, 2, 'max') ?? F32_MAX;
  if (typeof lo === 'number' && typeof hi === 'number') return unary((ex) => (x, y, k) => ex.f32_clip__wasmsimd(x, y, k, lo, hi))(n, L);
  // bounds computed at run time (graph inputs or node outputs): read from memory each run
  const x = n.inputs[0]!,
    y = n.outputs[0]!,
    len = elementCount(L.dims(y));
  const ex = L.ex,
    E = L;
  return xyStep(
    x,
    y,
    (xp, yp, b) => {
      const lp = typeof lo === 'string' ? b.ptr(lo) : -1,
        hp = typeof hi === 'string' ? b.ptr(hi) : -1;
      return () => ex.f32_clip__wasmsimd(xp, yp, len, lp >= 0 ? E.f32At(lp) : (lo as number), hp >= 0 ? E.f32At(hp) : (hi as number));
    },
    true,
  );
}

function binary(op: 'Add' | 'Sub' | 'Mul' | 'Div' | 'Pow'): Lowering {
  return (n, L) => {
    const why = dtypeReason(n, L, [0, 1]);
    if (why) return why;
    const a = n.inputs[0]!,
      b = n.inputs[1]!,
      y = n.outputs[0]!;
    const d = bcastDesc(L.dims(y), L.dims(a), L.dims(b));
    if (!d) return 'broadcast needs more than 6 dims after collapsing';
    const desc = L.putI32(d);
    const ex = L.ex;
    const fn =
      op === 'Add'
        ? ex.f32_add_bcast__wasmsimd
        : op === 'Sub'
          ? ex.f32_sub_bcast__wasmsimd
          : op === 'Mul'
            ? ex.f32_mul_bcast__wasmsimd
            : op === 'Div'
              ? ex.f32_div_bcast__wasmsimd
              : ex.f32_pow_bcast__scalar;
    return {
      kind: 'kernel',
      inPlace: [0, 1],
      build: (bd) => {
        const ap = bd.ptr(a),
          bp = bd.ptr(b),
          yp = bd.ptr(y);
        return () => fn(desc, ap, bp, yp);
      },
    };
  };
}

function lowerPow(n: Node, L: F32Lower): Lowered | string {
  const e = L.constOf(n.inputs[1]);
  if (
    e &&
    e.dtype === 'float32' &&
    e.data.length === 1 &&
    L.f32(n.inputs[0]) &&
    L.f32(n.outputs[0]) &&
    sameDims(L.dims(n.inputs[0]!), L.dims(n.outputs[0]!))
  ) {
    const p = (e.data as Float32Array)[0]!;
    return unary((ex) => (x, y, k) => ex.f32_pow_scalar__wasmsimd(x, y, k, p))(n, L);
  }
  return binary('Pow')(n, L);
}

/** The elementwise lowerings by op type. */
export const ELEMENTWISE: Record<string, Lowering> = {
  Add: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  Div: binary('Div'),
  Pow: lowerPow,
  Relu: unary((ex) => (x, y, n) => ex.f32_relu__wasmsimd(x, y, n)),
  LeakyRelu: unary((ex, n) => {
    const a = reader(n).float('alpha', 0.01);
    return (x, y, k) => ex.f32_leakyrelu__wasmsimd(x, y, k, a);
  }),
  Clip: lowerClip,
  Sigmoid: unary((ex) => (x, y, n) => ex.f32_sigmoid__wasmsimd(x, y, n)),
  Tanh: unary((ex) => (x, y, n) => ex.f32_tanh__wasmsimd(x, y, n)),
  HardSigmoid: unary((ex, n) => {
    const r = reader(n);
    const a = r.float('alpha', 0.2),
      b = r.float('beta', 0.5);
    return (x, y, k) => ex.f32_hardsigmoid__wasmsimd(x, y, k, a, b);
  }),
  HardSwish: unary((ex) => (x, y, n) => ex.f32_hardswish__wasmsimd(x, y, n)),
  Exp: unary((ex) => (x, y, n) => ex.f32_exp__wasmsimd(x, y, n)),
  Sqrt: unary((ex) => (x, y, n) => ex.f32_sqrt__wasmsimd(x, y, n)),
  Erf: unary((ex) => (x, y, n) => ex.f32_erf__wasmsimd(x, y, n)),
  Gelu: unary((ex, n) => {
    const t = reader(n).stringIn('approximate', 'none', ['none', 'tanh']) === 'tanh' ? 1 : 0;
    return (x, y, k) => ex.f32_gelu__wasmsimd(x, y, k, t);
  }),
};
