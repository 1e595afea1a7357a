// Plain TS references of the float32 activations the int8 kernels' float32 output stage applies
// in registers (assembly/int8/common.ts Q_ACT → assembly/f32ops/unary.ts actV): the exact
// sequence of float32 operations of the SIMD functions, each rounded with Math.fround, so that a
// kernel's output equals the reference bit for bit (the sweep in test/kernels.int8.test.ts).
// Only the activations the int8 lowering fuses (src/runtime/int8/conv.ts): Sigmoid, SiLU,
// HardSwish, HardSigmoid. Codes: ACT_CODE of ./f32_ref.ts.

import { ACT_CODE } from './f32_ref.js';

const f = Math.fround;

/** The activations the int8 output stage can apply (ACT_CODE values). */
export const INT8_FUSED_ACTS: ReadonlySet<number> = new Set([ACT_CODE.sigmoid, ACT_CODE.silu, ACT_CODE.hardswish, ACT_CODE.hardsigmoid]);

/** A fused activation of the float32 output stage: code, and HardSigmoid's alpha (p0) and beta (p1). */
export interface Int8FusedAct {
  code: number;
  p0: number;
  p1: number;
}

const bits = new Float32Array(1);
const ibits = new Int32Array(bits.buffer);

/** The float32 whose bits are the int32 i. */
function fromBits(i: number): number {
  ibits[0] = i;
  return bits[0]!;
}
/** The bits of float32 x as an int32. */
function toBits(x: number): number {
  bits[0] = x;
  return ibits[0]!;
}

// constants of assembly/f32ops/vec.ts sigmoid4 (and silu4), as float32
const MAGIC = f(12583039.0);
const LOG2E_NEG = f(-1.4426950216293335);
const LN2_HI = f(0.693145751953125);
const LN2_LO = f(1.428606765330187045e-6);
const C5 = f(-0.008289290592074394);
const C4 = f(0.04189782217144966);
const C3 = f(-0.16667652130126953);
const C2 = f(0.4999915063381195);
const C1 = f(-0.9999997019767761);
const CUTOFF = f(87.33654022216796875);

/** expNeg4 of assembly/f32ops/vec.ts for one lane: e^-z, float32 step by step. */
function expNegF32Ref(z: number): number {
  let n = f(f(z * LOG2E_NEG) + MAGIC);
  const s = fromBits(toBits(n) << 23);
  n = f(n - MAGIC);
  let t = f(f(n * LN2_HI) + z);
  t = f(f(n * LN2_LO) + t);
  let p = f(f(t * C5) + C4);
  p = f(f(t * p) + C3);
  p = f(f(t * p) + C2);
  p = f(f(t * p) + C1);
  t = f(t * s);
  return f(f(t * p) + s);
}

/**
 * sigmoid4 of assembly/f32ops/vec.ts for one lane: z = |x|, e^-z by range reduction with the
 * magic-bias rounding, f = e / (e + 1), 0 past the cutoff, 1 − f for x with its sign bit clear.
 */
export function sigmoidF32Ref(x: number): number {
  x = f(x);
  const z = Math.abs(x);
  const e = expNegF32Ref(z);
  let r = f(e / f(e + 1));
  if (z > CUTOFF) r = 0; // v128.andnot: +0
  return toBits(x) < 0 ? r : f(1 - r);
}

/**
 * silu4 of assembly/f32ops/vec.ts for one lane: x / (1 + e^-x), e^-x by sigmoid4's reduction and
 * polynomial on x clamped to [-88, 80] (pmin/pmax: NaN kept), the denominator +Inf below -88.
 */
export function siluF32Ref(x: number): number {
  x = f(x);
  let xc = f(80) < x ? f(80) : x; // pmin(x, 80)
  xc = xc < -88 ? -88 : xc; // pmax(·, -88)
  const e = expNegF32Ref(xc);
  let den = f(e + 1);
  const inf = x < -88 ? Infinity : 0; // and(lt(x, -88), +Inf)
  den = den < inf ? inf : den; // pmax(den, ·)
  return f(x / den);
}

/** One output value v (float32, after the clamp) through fused activation a, as actV computes it. */
export function actF32Ref(v: number, a: Int8FusedAct): number {
  v = f(v);
  switch (a.code) {
    case ACT_CODE.sigmoid:
      return sigmoidF32Ref(v);
    case ACT_CODE.silu:
      return siluF32Ref(v);
    case ACT_CODE.hardswish: {
      const t = f(f(v / 6) + 0.5);
      return f(v * Math.max(0, Math.min(1, t)));
    }
    case ACT_CODE.hardsigmoid:
      return Math.max(0, Math.min(1, f(f(v * f(a.p0)) + f(a.p1))));
    default:
      throw new Error(`actF32Ref: activation code ${a.code} is not fused by the int8 output stage`);
  }
}
