// int8 elementwise functions of one quantized input (static ranges): Sigmoid, HardSigmoid,
// HardSwish, Tanh, GELU, ... as a 256-entry table (qs8_lut: y = t[x + 128]), and the self-gated
// form x · f(x) that exporters write for SiLU (x · Sigmoid(x)) and, before opset 14, HardSwish
// (x · HardSigmoid(x)): the f node and its Mul become one table step, so the producer of x (a
// Conv) writes int8 and the next layer reads int8, with no float32 pass in between.
//
// The table is what the float path computes for each of the 256 inputs: x dequantized
// (DequantizeLinear, float32), the op's reference kernel (src/ops/ref), the Mul in float32 for the
// self-gated form, then QuantizeLinear with the output's parameters (quantizeRef): the same
// arithmetic as "dequantize → float op → quantize", once per input value at plan time instead of
// once per element per run. A table with a NaN (Sqrt of a negative input, ...) is refused: the float
// path keeps its NaN tracking there.
import type { Node } from '../../ir/graph.js';
import { elementCount } from '../../ops/types.js';
import { dequantizeRef, quantizeRef } from '../../kernels/int8_ref.js';
import { ctxOf, type Int8Lower } from './lower.js';
import { parallelPass, runParallel, splitRange } from './parallel.js';

/** Elementwise ops of one input (default domain) that run as a table between int8 tensors. */
export const LUT_OPS: ReadonlySet<string> = new Set([
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Relu',
  'LeakyRelu',
  'Elu',
  'Selu',
  'Celu',
  'Softplus',
  'Softsign',
  'Mish',
  'Gelu',
  'Erf',
  'Exp',
  'Neg',
  'Abs',
  'Sqrt',
  'Reciprocal',
]);

/** n is a table op: a LUT_OPS node with one input. */
export function isLutOp(n: Node): boolean {
  return n.domain === '' && LUT_OPS.has(n.op) && n.inputs.length === 1 && !!n.inputs[0] && n.outputs.length === 1;
}

/**
 * The Mul of the self-gated form y = x · f(x) that table op `f` feeds, if any: f's output is read
 * by that Mul alone (and is no graph output), whose other input is f's input.
 */
export function selfGateMul(f: Node, users: ReadonlyMap<string, readonly Node[]>, outputs: readonly string[]): Node | undefined {
  if (!isLutOp(f)) return undefined;
  const u = f.outputs[0]!,
    x = f.inputs[0]!;
  const readers = users.get(u) ?? [];
  if (readers.length !== 1 || outputs.includes(u)) return undefined;
  const m = readers[0]!;
  if (m.op !== 'Mul' || m.domain !== '' || m.inputs.length !== 2) return undefined;
  return (m.inputs[0] === x && m.inputs[1] === u) || (m.inputs[0] === u && m.inputs[1] === x) ? m : undefined;
}

/** The 256-entry table of node `f` (and its self-gating Mul) from input parameters to output parameters; a string: why not. */
export function lutTable(
  f: Node,
  gated: boolean,
  xp: { scale: number; zp: number },
  yp: { scale: number; zp: number },
): Int8Array | string {
  const q = Int8Array.from({ length: 256 }, (_, i) => i - 128);
  const x = dequantizeRef(q, xp.scale, xp.zp);
  const r = f.def.ref([{ dtype: 'float32', dims: [256], data: x }], f.attrs, ctxOf(f))[0];
  if (!r || r.dtype !== 'float32' || r.data.length !== 256) return 'the reference kernel gave no float32 table';
  const v = gated ? Float32Array.from(r.data as Float32Array, (u, i) => Math.fround(x[i]! * u)) : (r.data as Float32Array);
  if (v.some((e) => Number.isNaN(e))) return 'NaN for some int8 input';
  return quantizeRef(v, yp.scale, yp.zp);
}

/** Lowers table op `n` (with its self-gating Mul, which is then skipped) onto qs8_lut. */
export function lowerLut(n: Node, L: Int8Lower): string | true {
  if (!isLutOp(n)) return `no int8 kernel for ${n.op}`;
  if (L.E.requant === 'onnx') return "a table op under requant 'onnx' (the model's own float kernels)";
  const x = n.inputs[0]!;
  if (!L.form.has(x)) return 'the input is not a float activation';
  const mul = selfGateMul(n, L.users, L.g.outputs);
  const y = (mul ?? n).outputs[0]!;
  const yqp = L.rangeQp(y);
  if (!yqp) return 'no static range for the output';
  // the table before the input's quantize step (need), so that a refused table leaves no step
  const xqp = L.qp.get(x) ?? L.rangeQp(x);
  if (!xqp) return 'the input has no static range';
  let table = lutTable(n, !!mul, xqp, yqp);
  if (typeof table === 'string') return table;
  const xi = L.need(x, 'i8');
  if (!xi) return 'the input has no static range';
  const got = L.qp.get(xi)!;
  if (got.scale !== xqp.scale || got.zp !== xqp.zp) table = lutTable(n, !!mul, got, yqp);
  if (typeof table === 'string') return table;
  if (mul) L.skip.add(mul);
  // int8 out, unless a reader of y has no int8 kernel (outForm): then the table writes y's int8
  // copy and a dequantize step y itself (still cheaper than the float32 op and its quantize)
  const out = L.int8Out(n, y, yqp);
  const yi = out.yi;
  const len = elementCount(L.dims(y));
  const tp = L.mem.putBytes(table);
  const WM = L.w,
    ex = L.ex;
  const label = mul ? `${n.name}+${mul.name}` : undefined;
  // a threads build: ranges of 32 values (the kernel's pass) over the pool's threads
  const par = parallelPass(L, len, L.w.pool?.size ?? 1);
  L.step(
    n,
    {
      reads: [xi],
      writes: [yi],
      build: (b) => {
        const xp = b.ptr(xi),
          yp = b.ptr(yi);
        if (L.scalar)
          return () => {
            const s = WM.i8(xp, len),
              d = WM.i8(yp, len);
            for (let i = 0; i < len; i++) d[i] = table[s[i]! + 128]!;
          };
        if (par) {
          const calls = splitRange(len, par.pool.size, 32).map(([i0, i1]) => ({
            fn: 'qs8_lut__wasmsimd' as const,
            args: [i1 - i0, xp + i0, tp, yp + i0],
          }));
          return () => runParallel(par, calls);
        }
        return () => {
          ex.qs8_lut__wasmsimd(len, xp, tp, yp);
        };
      },
    },
    label,
  );
  out.done();
  return true;
}
