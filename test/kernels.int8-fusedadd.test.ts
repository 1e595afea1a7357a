// The residual Add fused into the int8 output stage (Qs8Out.add: quant block words 8..17,
// assembly/int8/common.ts storeAdd8 / storeScalar): every conv kernel of QS8_CONV_KERNELS and
// the k-quad kernel (QS8_CONV_C4, plain build), F(4x4) (QS8_CONV_WINO4), and the FC kernels (the scalar stage), int8 output
// with either requantization (Q31 'int8', float32-multiplier 'qlinear': the engine's default), the Add's other input apart from
// the output or the output buffer itself (in place). Oracle: the conv's reference output
// (qs8Conv2dRef) followed by the reference Add (qs8VaddRef), bit for bit; nothing written past y.
import { describe, it, expect, beforeAll } from 'vitest';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { convGeometry } from '../src/kernels/f32.js';
import type { Conv2dAttrs } from '../src/kernels/f32_ref.js';
import {
  placeConvWeights,
  planQs8Conv,
  putChannelParams,
  qs8Conv2d,
  QS8_CONV_C4,
  QS8_CONV_KERNELS,
  QS8_CONV_WINO4,
  QS8_FC_KERNELS,
  qs8Fc,
  QUANT_BLOCK_BYTES,
  runQs8Conv,
  setQuantAddDelta,
  vaddParams,
  type AnyQs8ConvKernel,
  type Qs8Out,
} from '../src/kernels/int8.js';
import { qs8Conv2dRef, qs8FcRef, qs8VaddRef } from '../src/kernels/int8_ref.js';
import { quantizeMultiplier } from '../src/quant/int8.js';
import { lcg } from './helpers/tensors.js';

const att = (p: number, s: number, groups = 1): Conv2dAttrs => ({ pads: [p, p, p, p], strides: [s, s], dilations: [1, 1], groups });

/** shapes: odd widths (tails of 1..7 outputs), channel counts off the 4-row tiles, strides, groups, 1x1 */
const SHAPES: Array<{ C: number; H: number; W: number; M: number; k: number; attrs: Conv2dAttrs }> = [
  { C: 16, H: 8, W: 8, M: 16, k: 3, attrs: att(1, 1) },
  { C: 8, H: 7, W: 9, M: 12, k: 3, attrs: att(1, 1) },
  { C: 12, H: 11, W: 5, M: 6, k: 3, attrs: att(1, 2) },
  { C: 16, H: 6, W: 13, M: 9, k: 1, attrs: att(0, 1) },
  { C: 8, H: 9, W: 9, M: 8, k: 3, attrs: att(1, 1, 2) },
  { C: 8, H: 9, W: 9, M: 8, k: 3, attrs: att(1, 1, 8) },
  { C: 3, H: 10, W: 10, M: 5, k: 3, attrs: att(1, 1) },
];

function randI8(rnd: () => number, n: number): Int8Array {
  return Int8Array.from({ length: n }, () => Math.floor(rnd() * 256) - 128);
}

type Q8Out = Extract<Qs8Out, { mode: 'int8' | 'qlinear' }>;

/** Output parameters of an int8 output, Q31 ('int8') or float32 multipliers ('qlinear'), of the same real scales. */
function makeOut(rnd: () => number, M: number, zx: number, relu: boolean, mode: 'int8' | 'qlinear' = 'int8'): Q8Out {
  const real = Array.from({ length: M }, () => 2 ** (-5 - rnd() * 8));
  const zy = Math.floor(rnd() * 60) - 30;
  const bias = Int32Array.from({ length: M }, () => Math.floor(rnd() * 8000) - 4000);
  const lo = relu ? zy : -128;
  if (mode === 'qlinear') return { mode, zx, zy, lo, hi: 127, bias, multiplier: Float32Array.from(real) };
  const multiplier = new Int32Array(M),
    shift = new Int32Array(M);
  real.forEach((r, c) => {
    const q = quantizeMultiplier(r);
    multiplier[c] = q.multiplier;
    shift[c] = q.shift;
  });
  return { mode, zx, zy, lo, hi: 127, bias, multiplier, shift };
}

const MODES = ['int8', 'qlinear'] as const;

describe('int8 output stage with a fused residual Add', () => {
  let w: SparrowWasm;
  beforeAll(async () => {
    w = await loadWasmNode();
  });

  const kernels: AnyQs8ConvKernel[] = [...QS8_CONV_KERNELS, QS8_CONV_C4, QS8_CONV_WINO4];
  for (const kernel of kernels)
    for (const mode of MODES)
      it(`${kernel.name}, ${mode} output: conv then qs8_vadd, bit for bit (apart and in place; Relu after the Add or not)`, () => {
        const rnd = lcg(91);
        let ran = 0;
        const failures: string[] = [];
        SHAPES.forEach((cs, si) => {
          const geo = convGeometry([cs.C, cs.H, cs.W], [cs.M, cs.C / cs.attrs.groups, cs.k, cs.k], cs.attrs);
          if (!kernel.supports(geo)) return;
          for (let v = 0; v < 4; v++) {
            const K = (cs.C / cs.attrs.groups) * cs.k * cs.k;
            const x = randI8(rnd, cs.C * cs.H * cs.W);
            // 7-bit weights (the k-quad kernel's range), 40 % zeros (the sparse kernels' kind)
            const wt = Int8Array.from({ length: cs.M * K }, () => (rnd() < 0.4 ? 0 : Math.floor(rnd() * 128) - 64));
            const out = makeOut(rnd, cs.M, Math.floor(rnd() * 40) - 20, v % 2 === 1, mode);
            const n = cs.M * geo.OH * geo.OW;
            const other = randI8(rnd, n);
            // the conv's output parameters (scale 2^-5, zy) as the Add's first input; scales spread
            const sb = 2 ** (-7 + rnd() * 4),
              sy = 2 ** (-6 + rnd() * 3),
              zb = Math.floor(rnd() * 50) - 25,
              zo = Math.floor(rnd() * 50) - 25;
            out.add = vaddParams(2 ** -5, out.zy, sb, zb, sy, zo, v >= 2);
            const wDims = [cs.M, cs.C / cs.attrs.groups, cs.k, cs.k];
            const conv = qs8Conv2dRef(x, [cs.C, cs.H, cs.W], wt, wDims, cs.attrs, { ...out, add: undefined }).data as Int8Array;
            const want = qs8VaddRef(conv, other, out.add);
            for (const inPlace of [false, true]) {
              const got = qs8Conv2d(w, kernel, x, [cs.C, cs.H, cs.W], wt, wDims, cs.attrs, out, { other, inPlace }).data as Int8Array;
              const at = got.findIndex((g, i) => g !== want[i]);
              if (at >= 0) failures.push(`shape ${si} case ${v} inPlace ${inPlace}: element ${at} ${got[at]} vs ${want[at]}`);
              ran++;
            }
          }
        });
        expect(failures.slice(0, 6)).toEqual([]);
        expect(ran).toBeGreaterThan(3);
      });

  for (const kernel of QS8_FC_KERNELS)
    for (const mode of MODES)
      it(`${kernel.name}, ${mode} output: FC then qs8_vadd, bit for bit (apart and in place)`, () => {
        const rnd = lcg(33);
        for (const [M, N, K] of [
          [1, 10, 64],
          [3, 7, 33],
          [2, 16, 9],
        ] as const) {
          const x = randI8(rnd, M * K);
          const wt = Int8Array.from({ length: N * K }, () => (rnd() < 0.5 ? 0 : Math.floor(rnd() * 256) - 128));
          const out = makeOut(rnd, N, Math.floor(rnd() * 40) - 20, false, mode);
          out.add = vaddParams(2 ** -5, out.zy, 2 ** -6, 7, 2 ** -5, -2, M === 3);
          const other = randI8(rnd, M * N);
          const want = qs8VaddRef(qs8FcRef(M, N, K, x, wt, { ...out, add: undefined }) as Int8Array, other, out.add);
          for (const inPlace of [false, true]) {
            const got = qs8Fc(w, kernel, M, N, K, x, wt, out, { other, inPlace }) as Int8Array;
            expect(Array.from(got), `${M}x${N}x${K} inPlace ${inPlace}`).toEqual(Array.from(want));
          }
        }
      });

  it('writes nothing past y; an Add flag other than 0/1 or out-of-range parameters are refused (status −5)', () => {
    const rnd = lcg(7);
    const kernel = QS8_CONV_KERNELS.find((k) => k.name === 'qs8_conv2d_4x8c2__wasmsimd')!;
    const cs = SHAPES[1]!;
    const geo = convGeometry([cs.C, cs.H, cs.W], [cs.M, cs.C, 3, 3], cs.attrs);
    const K = cs.C * 9;
    const wt = randI8(rnd, cs.M * K),
      x = randI8(rnd, cs.C * cs.H * cs.W);
    const out = makeOut(rnd, cs.M, 3, false);
    out.add = vaddParams(2 ** -5, out.zy, 2 ** -6, 4, 2 ** -5, -3, false);
    const n = cs.M * geo.OH * geo.OW;
    const other = randI8(rnd, n);
    const m = w.mark();
    try {
      const plan = planQs8Conv(w, geo, out, kernel);
      const wp = placeConvWeights(w, 'c2', wt, cs.M, K, 1);
      const qp = putChannelParams(w, out),
        px = w.putBytes(x),
        po = w.putBytes(other);
      const py = w.alloc(n + 64);
      w.u8(py + n, 64).fill(0xa5);
      const work = w.alloc(plan.workBytes);
      setQuantAddDelta(w, plan.q, po - py);
      runQs8Conv(w, plan, px, wp, qp, py, work);
      expect(w.u8(py + n, 64).every((b) => b === 0xa5)).toBe(true);
      const conv = qs8Conv2dRef(x, [cs.C, cs.H, cs.W], wt, [cs.M, cs.C, 3, 3], cs.attrs, { ...out, add: undefined }).data as Int8Array;
      expect(Array.from(w.i8(py, n))).toEqual(Array.from(qs8VaddRef(conv, other, out.add)));
      const words = w.i32(plan.q, QUANT_BLOCK_BYTES / 4);
      words[8] = 2;
      expect(kernel.run(w, plan.g, plan.q, px, wp, qp, py, work)).toBe(-5);
      words[8] = 1;
      words[15] = 24; // S over 23
      expect(kernel.run(w, plan.g, plan.q, px, wp, qp, py, work)).toBe(-5);
      words[15] = out.add.S;
      words[0] = 1; // float32 output mode with an Add
      expect(kernel.run(w, plan.g, plan.q, px, wp, qp, py, work)).toBe(-5);
    } finally {
      w.release(m);
    }
  });
});
