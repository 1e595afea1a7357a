// f32_dwconv__wasmsimd (assembly/f32/conv.ts + gen/dwconv_rx8.ts.in) against dwconv2dF32Ref bit
// for bit (the reference replays the kernel's float32 sum: bias, then the taps in (kh, kw) order,
// padded taps adding 0·w; the clamp as pmin(pmax); SiLU / Sigmoid / HardSwish / HardSigmoid
// through actF32Ref, the float32 replay of the vector functions), over edge geometries: the
// unrolled 3x3 and 5x5 kernels at stride 1 and 2 (widths around the 8-column blocks, heights
// around the row blocks, 1-row and 1-column planes, symmetric / zero / asymmetric / oversized
// pads, multiplier 1 and 2) and the tap-table kernel (1x1, 7x7, 3x5, stride 3, mixed strides,
// dilation 2); NaN / Inf in inputs and weights; no write past y or work; release and debug builds.
import { describe, it, expect, beforeAll } from 'vitest';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { convGeometry, F32_CONV_KERNELS, planConv, runConv } from '../src/kernels/f32.js';
import { actCode, dwconv2dF32Ref, conv2dRef, type Act, type Conv2dAttrs } from '../src/kernels/f32_ref.js';
import { actF32Ref } from '../src/kernels/int8_act_ref.js';
import { lcg } from './helpers/tensors.js';

interface DwCase {
  name: string;
  C: number;
  mult: number;
  H: number;
  W: number;
  KH: number;
  KW: number;
  attrs: Conv2dAttrs;
  bias: boolean;
  act: Act;
  /** put NaN / Inf into x and w */
  nonfinite?: boolean;
}

const ACTS: Act[] = [
  'none',
  'relu',
  { min: -0.5, max: 0.7 },
  { fn: 'silu' },
  { fn: 'hardswish' },
  { fn: 'sigmoid' },
  { fn: 'hardsigmoid', alpha: 0.2, beta: 0.5 },
];

function cases(): DwCase[] {
  const out: DwCase[] = [];
  let n = 0;
  const widths = [1, 3, 7, 8, 9, 16, 17, 23];
  const heights = [1, 2, 4, 5, 7, 12];
  for (const k of [3, 5])
    for (const s of [1, 2])
      for (const W of widths) {
        const p = (k - 1) >> 1;
        const padSets: Array<[number, number, number, number]> = [
          [p, p, p, p],
          [0, 0, 0, 0],
          [p + 1, 0, 1, p + 2],
          [k, k, k, k], // wider than the kernel: whole zero windows
        ];
        for (const pads of padSets) {
          const H = heights[n % heights.length]!;
          const mult = n % 3 === 2 ? 2 : 1;
          n++;
          if (H + pads[0] + pads[2] < k || W + pads[1] + pads[3] < k) continue;
          out.push({
            name: `k${k} s${s} ${H}x${W} p${pads.join(',')} x${mult}`,
            C: 3,
            mult,
            H,
            W,
            KH: k,
            KW: k,
            attrs: { pads, strides: [s, s], dilations: [1, 1], groups: 3 },
            bias: n % 4 !== 0,
            act: ACTS[n % ACTS.length]!,
          });
        }
      }
  // the tap-table kernel: other kernel sizes, strides, dilations
  const any: Array<[string, number, number, [number, number], [number, number], [number, number, number, number]]> = [
    ['k1', 1, 1, [1, 1], [1, 1], [0, 0, 0, 0]],
    ['k7', 7, 7, [1, 1], [1, 1], [3, 3, 3, 3]],
    ['k3x5', 3, 5, [1, 1], [1, 1], [1, 2, 1, 2]],
    ['k3 s3', 3, 3, [3, 3], [1, 1], [1, 1, 1, 1]],
    ['k3 s(1,2)', 3, 3, [1, 2], [1, 1], [1, 1, 1, 1]],
    ['k3 s(2,1)', 3, 3, [2, 1], [1, 1], [0, 1, 2, 1]],
    ['k3 d2', 3, 3, [1, 1], [2, 2], [2, 2, 2, 2]],
    ['k5 s2 d(1,2)', 5, 5, [2, 2], [1, 2], [2, 4, 2, 4]],
  ];
  for (const [name, KH, KW, strides, dilations, pads] of any)
    for (const [H, W] of [
      [9, 13],
      [6, 25],
    ] as const) {
      n++;
      out.push({
        name: `${name} ${H}x${W} p${pads.join(',')}`,
        C: 4,
        mult: n % 2 ? 2 : 1,
        H,
        W,
        KH,
        KW,
        attrs: { pads, strides, dilations, groups: 4 },
        bias: true,
        act: ACTS[n % ACTS.length]!,
      });
    }
  // EfficientNet / MobileNet-like planes (many full blocks) and non-finite values
  out.push({
    name: 'k3 s1 24x57 SiLU',
    C: 5,
    mult: 1,
    H: 24,
    W: 57,
    KH: 3,
    KW: 3,
    attrs: { pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], groups: 5 },
    bias: true,
    act: { fn: 'silu' },
  });
  out.push({
    name: 'k5 s2 29x29 HardSwish',
    C: 5,
    mult: 1,
    H: 29,
    W: 29,
    KH: 5,
    KW: 5,
    attrs: { pads: [2, 2, 2, 2], strides: [2, 2], dilations: [1, 1], groups: 5 },
    bias: true,
    act: { fn: 'hardswish' },
  });
  out.push({
    name: 'k3 s2 NaN / Inf',
    C: 3,
    mult: 1,
    H: 10,
    W: 11,
    KH: 3,
    KW: 3,
    attrs: { pads: [1, 1, 1, 1], strides: [2, 2], dilations: [1, 1], groups: 3 },
    bias: true,
    act: 'relu',
    nonfinite: true,
  });
  out.push({
    name: 'k5 s1 NaN / Inf',
    C: 3,
    mult: 2,
    H: 7,
    W: 7,
    KH: 5,
    KW: 5,
    attrs: { pads: [2, 2, 2, 2], strides: [1, 1], dilations: [1, 1], groups: 3 },
    bias: false,
    act: { fn: 'silu' },
    nonfinite: true,
  });
  return out;
}

const SENTINEL = -12345.5;
const GUARD = 16;

for (const variant of ['release', 'debug'] as const) {
  describe(`f32_dwconv__wasmsimd (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });
    const kernel = F32_CONV_KERNELS.find((k) => k.name === 'f32_dwconv__wasmsimd')!;
    const all = cases();

    it(`equals dwconv2dF32Ref bit for bit on ${all.length} depthwise convs (3x3 / 5x5 stride 1 and 2 unrolled; any other geometry), no writes past y or work`, () => {
      const rnd = lcg(17);
      const failures: string[] = [];
      for (const c of all) {
        const M = c.C * c.mult;
        const x = Float32Array.from({ length: c.C * c.H * c.W }, () => rnd() * 4 - 2);
        const wt = Float32Array.from({ length: M * c.KH * c.KW }, () => rnd() - 0.5);
        const bias = c.bias ? Float32Array.from({ length: M }, () => rnd() - 0.5) : undefined;
        if (c.nonfinite) {
          x[1] = NaN;
          x[x.length - 2] = Infinity;
          x[Math.floor(x.length / 2)] = -Infinity;
          wt[wt.length - 1] = Infinity; // meets padded zeros: 0·Inf = NaN, as the kernel multiplies every tap
        }
        const xDims = [1, c.C, c.H, c.W],
          wDims = [M, 1, c.KH, c.KW];
        const [code, p0, p1] = actCode(c.act);
        const post = code > 1 ? (v: number) => actF32Ref(v, { code, p0, p1 }) : undefined;
        const want = dwconv2dF32Ref(x, xDims, wt, wDims, bias, c.attrs, c.act, post).data;
        const geo = convGeometry(xDims, wDims, c.attrs, c.act);
        const m = w.mark();
        try {
          const plan = planConv(w, geo, kernel);
          const px = w.putF32(x),
            pw = w.putF32(wt),
            pb = bias ? w.putF32(bias) : 0;
          const py = w.alloc((want.length + GUARD) * 4);
          const work = w.alloc(plan.workBytes + GUARD * 4);
          w.f32(py, want.length + GUARD).fill(SENTINEL);
          w.f32(work + plan.workBytes, GUARD).fill(SENTINEL);
          runConv(w, plan, px, pw, pb, py, work);
          const got = w.f32(py, want.length + GUARD);
          if (w.f32(work + plan.workBytes, GUARD).some((v) => v !== SENTINEL)) failures.push(`${c.name}: wrote past work`);
          if (got.subarray(want.length).some((v) => v !== SENTINEL)) failures.push(`${c.name}: wrote past y`);
          for (let i = 0; i < want.length; i++) {
            if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]!) && Number.isNaN(want[i]!))) {
              failures.push(`${c.name} ${JSON.stringify(c.act)}: [${i}] got ${got[i]} want ${want[i]}`);
              break;
            }
          }
        } finally {
          w.release(m);
        }
      }
      expect(failures.slice(0, 10)).toEqual([]);
    });

    it('dwconv2dF32Ref is the convolution (float64 conv2dRef within float32 rounding)', () => {
      const rnd = lcg(5);
      for (const c of all.filter((cc) => !cc.nonfinite && (cc.act === 'none' || cc.act === 'relu')).slice(0, 12)) {
        const M = c.C * c.mult;
        const x = Float32Array.from({ length: c.C * c.H * c.W }, () => rnd() * 2 - 1);
        const wt = Float32Array.from({ length: M * c.KH * c.KW }, () => rnd() - 0.5);
        const xDims = [1, c.C, c.H, c.W],
          wDims = [M, 1, c.KH, c.KW];
        const got = dwconv2dF32Ref(x, xDims, wt, wDims, undefined, c.attrs, c.act).data;
        const want = conv2dRef(x, xDims, wt, wDims, undefined, c.attrs, c.act).data;
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), c.name).toBeLessThanOrEqual(1e-5);
      }
    });
  });
}
