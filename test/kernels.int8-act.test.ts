// The float32 activations the int8 kernels' float32 output stage fuses (assembly/int8/common.ts
// Q_ACT → assembly/f32ops/unary.ts actV) against their plain TS references (actF32Ref,
// src/kernels/int8_act_ref.ts), bit for bit, through the standalone WASM kernels that apply the
// same vector functions (f32_sigmoid / f32_silu / f32_hardswish / f32_hardsigmoid), release and
// debug builds: ±0, ±Inf, NaN, subnormals, the cutoffs of the exp range reduction, the bends of
// HardSwish / HardSigmoid, and random values over every magnitude. (The kernels' fused path is
// swept in test/kernels.int8.test.ts; this pins the reference to the vector code on edge values.)
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { ACT_CODE } from '../src/kernels/f32_ref.js';
import { actF32Ref, INT8_FUSED_ACTS, sigmoidF32Ref, type Int8FusedAct } from '../src/kernels/int8_act_ref.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Edge values, then random floats of every exponent and sign. */
function values(n: number): Float32Array {
  const edge = [
    0,
    -0,
    Infinity,
    -Infinity,
    NaN,
    1,
    -1,
    3,
    -3,
    2.5,
    -2.5,
    6,
    -6,
    0.5,
    -0.5,
    1e-45,
    -1e-45,
    1.1754942e-38,
    -1.1754942e-38,
    87.33654,
    -87.33654,
    87.336548,
    -87.336548,
    88.7,
    -88.7,
    89,
    -89,
    104,
    -104,
    3.4028235e38,
    -3.4028235e38,
    1e-7,
    -1e-7,
    17.3,
    -17.3,
    15.9,
    -15.9,
  ];
  const r = lcg(5);
  const rand = Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * 2 ** (r() * 30 - 20));
  const near = Array.from({ length: n }, () => (r() - 0.5) * 24);
  return Float32Array.from([...edge, ...rand, ...near]);
}

const ACTS: Array<[string, Int8FusedAct, (w: SparrowWasm, x: number, y: number, n: number) => void]> = [
  ['sigmoid', { code: ACT_CODE.sigmoid, p0: 0, p1: 0 }, (w, x, y, n) => w.exports.f32_sigmoid__wasmsimd(x, y, n)],
  ['silu', { code: ACT_CODE.silu, p0: 0, p1: 0 }, (w, x, y, n) => w.exports.f32_silu__wasmsimd(x, y, n)],
  ['hardswish', { code: ACT_CODE.hardswish, p0: 0, p1: 0 }, (w, x, y, n) => w.exports.f32_hardswish__wasmsimd(x, y, n)],
  [
    'hardsigmoid (0.2, 0.5)',
    { code: ACT_CODE.hardsigmoid, p0: 0.2, p1: 0.5 },
    (w, x, y, n) => w.exports.f32_hardsigmoid__wasmsimd(x, y, n, 0.2, 0.5),
  ],
  [
    'hardsigmoid (1/6, 0.5)',
    { code: ACT_CODE.hardsigmoid, p0: 1 / 6, p1: 0.5 },
    (w, x, y, n) => w.exports.f32_hardsigmoid__wasmsimd(x, y, n, 1 / 6, 0.5),
  ],
];

/** First index where a and b differ as float32 bits (NaN = NaN, any payload); -1 when none. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  const ai = new Int32Array(a.buffer, a.byteOffset, a.length),
    bi = new Int32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) if (ai[i] !== bi[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return -1;
}

for (const variant of ['release', 'debug'] as const) {
  describe(`int8 fused activations (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });

    for (const [name, act, run] of ACTS) {
      it(`${name}: actF32Ref equals the WASM vector function bit for bit`, () => {
        const x = values(4000);
        const m = w.mark();
        try {
          const px = w.alloc(x.length * 4),
            py = w.alloc(x.length * 4);
          w.f32(px, x.length).set(x);
          run(w, px, py, x.length);
          const got = w.f32(py, x.length).slice();
          const want = Float32Array.from(x, (v) => actF32Ref(v, act));
          const i = firstDiff(got, want);
          expect(i, i < 0 ? '' : `x=${x[i]} got ${got[i]} want ${want[i]}`).toBe(-1);
        } finally {
          w.release(m);
        }
      });
    }

    it('property (fast-check): SiLU and Sigmoid of any float32 equal the WASM functions', () => {
      fc.assert(
        fc.property(fc.array(fc.float({ noNaN: false }), { minLength: 1, maxLength: 40 }), (xs) => {
          const x = Float32Array.from(xs);
          const m = w.mark();
          try {
            const px = w.alloc(x.length * 4),
              py = w.alloc(x.length * 4);
            w.f32(px, x.length).set(x);
            w.exports.f32_silu__wasmsimd(px, py, x.length);
            const silu = w.f32(py, x.length).slice();
            w.exports.f32_sigmoid__wasmsimd(px, py, x.length);
            const sig = w.f32(py, x.length).slice();
            return (
              firstDiff(
                silu,
                Float32Array.from(x, (v) => actF32Ref(v, { code: ACT_CODE.silu, p0: 0, p1: 0 })),
              ) < 0 && firstDiff(sig, Float32Array.from(x, sigmoidF32Ref)) < 0
            );
          } finally {
            w.release(m);
          }
        }),
        { numRuns: 300 },
      );
    });
  });
}

describe('int8 fused activations: the set', () => {
  it('is Sigmoid, SiLU, HardSwish, HardSigmoid; actF32Ref refuses the others', () => {
    expect([...INT8_FUSED_ACTS].sort()).toEqual([ACT_CODE.sigmoid, ACT_CODE.silu, ACT_CODE.hardswish, ACT_CODE.hardsigmoid].sort());
    expect(() => actF32Ref(1, { code: ACT_CODE.tanh, p0: 0, p1: 0 })).toThrow(/not fused/);
  });
});
