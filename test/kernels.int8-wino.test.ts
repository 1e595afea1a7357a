// The exact integer Winograd F(2x2, 3x3) int8 conv: the plain TS reference (qs8Wino2x2Ref,
// src/kernels/int8_wino_ref.ts) and the WASM kernel (qs8_wino2x2_3x3__wasmsimd,
// assembly/int8/winograd.ts), both against the direct conv qs8Conv2dRef bit for bit: random
// and edge shapes (odd output sizes: a partial last tile row / column; pads 0..2 and
// asymmetric; Cin odd; 1x1 outputs), every output mode, extreme weights (−128 / 127) and inputs
// at both ends of the range with zero points at both ends, the overflow bound at Cin = 1827
// (the largest |acc| the int8 ranges allow), the weight pack against winoWeightTransform, the
// ineligible geometries (status -5) and the kernel choice (pickQs8ConvKernel). The release and
// debug builds. (The generic sweep in kernels.int8.test.ts also runs this kernel.)
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { convGeometry, writeConvGeometry } from '../src/kernels/f32.js';
import type { Conv2dAttrs } from '../src/kernels/f32_ref.js';
import {
  SPARSE_COST,
  SPARSE_DENSITY,
  WINO_SPARSE_TIE,
  pickQs8ConvKernel,
  placeConvWeights,
  qs8Conv2d,
  qs8ConvKernel,
  winogradCost,
  wino4Cost,
  wino4FewChannels,
  winogradFaster,
  winogradEligible,
  type Qs8Out,
} from '../src/kernels/int8.js';
import { qs8Conv2dRef } from '../src/kernels/int8_ref.js';
import { qs8Wino2x2Ref, winoApplies, winoInputTransform, winoWeightTransform, WINO_MAX_CIN } from '../src/kernels/int8_wino_ref.js';
import { lcg } from './helpers/tensors.js';
import { MODES, makeOut, sameBits, type Mode } from './helpers/qs8_out.js';

const WINO = 'qs8_wino2x2_3x3__wasmsimd';

const att = (p: number | [number, number, number, number]): Conv2dAttrs => ({
  pads: typeof p === 'number' ? [p, p, p, p] : p,
  strides: [1, 1],
  dilations: [1, 1],
  groups: 1,
});

type Fill = 'random' | 'extreme' | 'max' | 'min';
function values(rnd: () => number, n: number, kind: Fill): Int8Array {
  return Int8Array.from({ length: n }, () =>
    kind === 'extreme' ? (rnd() < 0.5 ? -128 : 127) : kind === 'max' ? 127 : kind === 'min' ? -128 : Math.floor(rnd() * 256) - 128,
  );
}

interface Case {
  C: number;
  H: number;
  W: number;
  M: number;
  pads: number | [number, number, number, number];
}

/** Edge shapes: odd/even output sizes (partial last tiles), 1x1 outputs, pads 0..2 and asymmetric, Cin odd, M around the 4-channel block, ResNet-20/32 layers. */
function cases(): Case[] {
  const out: Case[] = [];
  for (const [C, M] of [
    [1, 1],
    [2, 3],
    [3, 5],
    [5, 4],
    [8, 9],
    [17, 6],
  ] as const)
    for (const hw of [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 19]) out.push({ C, H: hw, W: hw + (hw % 3), M, pads: 1 });
  out.push({ C: 3, H: 3, W: 3, M: 2, pads: 0 }); // one output
  out.push({ C: 4, H: 4, W: 3, M: 3, pads: 0 });
  out.push({ C: 3, H: 6, W: 11, M: 7, pads: 2 });
  out.push({ C: 5, H: 9, W: 10, M: 4, pads: [0, 2, 1, 0] });
  out.push({ C: 7, H: 5, W: 40, M: 5, pads: [2, 0, 0, 1] });
  out.push({ C: 2, H: 37, W: 2, M: 3, pads: [1, 2, 2, 1] });
  for (const [C, hw] of [
    [16, 32],
    [32, 16],
    [64, 8],
  ] as const)
    out.push({ C, H: hw, W: hw, M: C, pads: 1 });
  return out;
}

describe('qs8Wino2x2Ref (plain TS) equals the direct conv qs8Conv2dRef', () => {
  it("the transforms: U' = 4·G g Gᵀ and V = Bᵀ d B on random values", () => {
    const rnd = lcg(3);
    for (let t = 0; t < 50; t++) {
      const g = Array.from({ length: 9 }, () => Math.floor(rnd() * 256) - 128);
      const U = winoWeightTransform(g);
      const G = [
        [1, 0, 0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0, 0, 1],
      ];
      for (let i = 0; i < 4; i++)
        for (let j = 0; j < 4; j++) {
          let s = 0;
          for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) s += G[i]![a]! * g[3 * a + b]! * G[j]![b]!;
          expect(U[4 * i + j]).toBe(4 * s);
        }
      const d = Array.from({ length: 16 }, () => Math.floor(rnd() * 511) - 255);
      const V = winoInputTransform(d);
      const Bt = [
        [1, 0, -1, 0],
        [0, 1, 1, 0],
        [0, -1, 1, 0],
        [0, 1, 0, -1],
      ];
      for (let i = 0; i < 4; i++)
        for (let j = 0; j < 4; j++) {
          let s = 0;
          for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) s += Bt[i]![a]! * d[4 * a + b]! * Bt[j]![b]!;
          expect(V[4 * i + j]).toBe(s);
        }
    }
  });

  it("the int16 bounds: |U'| ≤ 1152 for int8 weights, |V| ≤ 1020 for |d| ≤ 255 (attained)", () => {
    expect(Math.max(...winoWeightTransform([-128, -128, -128, -128, -128, -128, -128, -128, -128]).map(Math.abs))).toBe(1152);
    const d = [255, 255, -255, -255, 255, 255, -255, -255, -255, -255, 255, 255, -255, -255, 255, 255];
    expect(Math.max(...winoInputTransform(d).map(Math.abs))).toBe(1020);
  });

  it('edge shapes × every output mode × random / extreme values and zero points', () => {
    const rnd = lcg(7);
    const bad: string[] = [];
    cases().forEach((cs, i) => {
      for (const fill of ['random', 'extreme', i % 2 ? 'max' : 'min'] as const) {
        const mode = MODES[(i + fill.length) % 4]!;
        const zx = [-128, 127, 0, 31][i % 4]!;
        const x = values(rnd, cs.C * cs.H * cs.W, fill),
          w = values(rnd, cs.M * cs.C * 9, fill === 'random' ? 'random' : 'extreme');
        const out = makeOut(mode, cs.M, rnd, zx, [-128, 5][i % 2]!, i % 3 === 0);
        const wd = [cs.M, cs.C, 3, 3];
        const want = qs8Conv2dRef(x, [cs.C, cs.H, cs.W], w, wd, att(cs.pads), out).data;
        const got = qs8Wino2x2Ref(x, [cs.C, cs.H, cs.W], w, wd, att(cs.pads), out).data;
        const e = sameBits(got, want);
        if (e) bad.push(`${JSON.stringify(cs)} ${fill} ${mode}: ${e}`);
      }
    });
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('refuses what it does not apply to (stride 2, dilation 2, groups, 5x5, Cin > 1827)', () => {
    const x = new Int8Array(2 * 8 * 8),
      out = makeOut('int32', 2, lcg(1), 0, 0);
    const base = att(1);
    expect(winoApplies(2, [2, 2, 3, 3], base)).toBe(true);
    expect(() => qs8Wino2x2Ref(x, [2, 8, 8], new Int8Array(36), [2, 2, 3, 3], { ...base, strides: [2, 2] }, out)).toThrow(/3x3 stride-1/);
    expect(winoApplies(2, [2, 2, 3, 3], { ...base, dilations: [1, 2] })).toBe(false);
    expect(winoApplies(2, [2, 1, 3, 3], { ...base, groups: 2 })).toBe(false);
    expect(winoApplies(2, [2, 2, 5, 5], base)).toBe(false);
    expect(winoApplies(WINO_MAX_CIN + 1, [2, WINO_MAX_CIN + 1, 3, 3], base)).toBe(false);
  });
});

for (const variant of ['release', 'debug'] as const) {
  describe(`qs8_wino2x2_3x3__wasmsimd (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });
    const kernel = qs8ConvKernel(WINO);

    it('equals qs8Conv2dRef bit for bit on the edge shapes (every mode, extreme values, zero points at both ends)', () => {
      const rnd = lcg(11);
      const bad: string[] = [];
      cases().forEach((cs, i) => {
        for (const fill of ['random', 'extreme', i % 2 ? 'max' : 'min'] as const) {
          const mode = MODES[(i + fill.length) % 4]!;
          const zx = [-128, 127, 0, 31][(i + 1) % 4]!;
          const x = values(rnd, cs.C * cs.H * cs.W, fill),
            wt = values(rnd, cs.M * cs.C * 9, fill === 'random' ? 'random' : 'extreme');
          const out = makeOut(mode, cs.M, rnd, zx, [127, -20][i % 2]!, i % 3 === 1);
          const wd = [cs.M, cs.C, 3, 3];
          const want = qs8Conv2dRef(x, [cs.C, cs.H, cs.W], wt, wd, att(cs.pads), out).data;
          const got = qs8Conv2d(w, kernel, x, [cs.C, cs.H, cs.W], wt, wd, att(cs.pads), out).data;
          const e = sameBits(got, want);
          if (e) bad.push(`${JSON.stringify(cs)} ${fill} ${mode} zx=${zx}: ${e}`);
        }
      });
      expect(bad.slice(0, 5)).toEqual([]);
    });

    it('the overflow bound: Cin = 1827 with |acc| at its maximum (every tap 127·(−128 − 127)) is exact', () => {
      // x = −128, zx = 127: d = −255 at every tap (pads 0: every output sees 9·Cin taps), w = 127
      const C = WINO_MAX_CIN,
        H = 5,
        W = 6,
        M = 2;
      const x = new Int8Array(C * H * W).fill(-128);
      const wt = new Int8Array(M * C * 9).fill(127);
      for (let k = 0; k < C * 9; k++) wt[M * C * 9 - 1 - k] = -128; // channel 1: w = −128, acc = +Cin·9·128·255
      const out: Qs8Out = { mode: 'int32', zx: 127, bias: new Int32Array(M) };
      const wd = [M, C, 3, 3];
      const want = qs8Conv2dRef(x, [C, H, W], wt, wd, att(0), out).data as Int32Array;
      expect(want[0]).toBe(-C * 9 * 127 * 255);
      expect(want[want.length - 1]).toBe(C * 9 * 128 * 255);
      const got = qs8Conv2d(w, kernel, x, [C, H, W], wt, wd, att(0), out).data;
      expect(sameBits(got, want)).toBeUndefined();
      // one channel more: refused (status -5 from the work size), the driver throws
      const g = convGeometry([C + 1, H, W], [M, C + 1, 3, 3], att(0));
      expect(winogradEligible(g)).toBe(false);
      const m = w.mark();
      try {
        const gp = w.alloc(80);
        writeConvGeometry(w, g, gp);
        expect(w.exports.qs8_wino_work_bytes(gp)).toBe(-5);
        expect(w.exports.qs8_wino_packed_w_bytes(M, (C + 1) * 9, 1)).toBe(-5);
      } finally {
        w.release(m);
      }
    });

    // full blocks of 4 couts × cin pairs run in SIMD, the rest (couts past the last full block,
    // the last cin of an odd Cin) scalar: shapes with each, and all of one kind
    it("qs8_wino_pack_w writes U' = G' g G'ᵀ in the (block, position, cin pair) layout, zero past M and Cin", () => {
      const rnd = lcg(5);
      for (const [M, C, fill] of [
        [1, 1, 'random'],
        [3, 2, 'random'],
        [4, 3, 'random'],
        [6, 5, 'random'],
        [9, 8, 'random'],
        [4, 2, 'extreme'],
        [8, 64, 'random'],
        [8, 64, 'extreme'],
        [12, 7, 'max'],
        [13, 33, 'min'],
        [16, 16, 'extreme'],
        [5, 1, 'random'],
      ] as const) {
        const wt = values(rnd, M * C * 9, fill);
        const m = w.mark();
        try {
          const bytes = w.exports.qs8_wino_packed_w_bytes(M, C * 9, 1);
          const kp = Math.ceil(C / 2);
          expect(bytes).toBe(Math.ceil(M / 4) * 16 * kp * 16);
          const dst = placeConvWeights(w, 'wino', wt, M, C * 9, 1);
          const got = new Int16Array(w.memory.buffer, dst, bytes / 2).slice();
          const want = new Int16Array(bytes / 2);
          for (let o = 0; o < M; o++)
            for (let c = 0; c < C; c++) {
              const U = winoWeightTransform(wt.subarray((o * C + c) * 9, (o * C + c + 1) * 9));
              for (let p = 0; p < 16; p++) want[(((o >> 2) * 16 + p) * kp + (c >> 1)) * 8 + (o & 3) * 2 + (c & 1)] = U[p]!;
            }
          expect(Array.from(got)).toEqual(Array.from(want));
        } finally {
          w.release(m);
        }
      }
      expect(w.exports.qs8_wino_packed_w_bytes(4, 10, 1)).toBe(-5); // K not a multiple of 9
      expect(w.exports.qs8_wino_packed_w_bytes(4, 18, 2)).toBe(-5); // groups
    });

    it('status -5 for geometries it does not run (stride 2, dilation 2, groups 2, 5x5, 1x1) and writes nothing', () => {
      const m = w.mark();
      try {
        const g = w.alloc(80),
          q = w.alloc(32),
          y = w.alloc(4096);
        w.i32(q, 8).set([2, 0, 0, -128, 127, 0, 0, 0]);
        w.u8(y, 4096).fill(0x5a);
        for (const [wd, a] of [
          [[4, 4, 3, 3], { ...att(1), strides: [2, 2] }],
          [[4, 4, 3, 3], { ...att(2), dilations: [2, 2] }],
          [[4, 2, 3, 3], { ...att(1), groups: 2 }],
          [[4, 4, 5, 5], att(2)],
          [[4, 4, 1, 1], att(0)],
        ] as Array<[number[], Conv2dAttrs]>) {
          const geo = convGeometry([4, 8, 8], wd, a);
          expect(winogradEligible(geo)).toBe(false);
          writeConvGeometry(w, geo, g);
          expect(w.exports.qs8_wino_work_bytes(g)).toBe(-5);
          expect(w.exports.qs8_wino2x2_3x3__wasmsimd(g, q, y, y, y, y, y)).toBe(-5);
        }
        // inconsistent geometry (OH disagrees) and a bad quant block
        writeConvGeometry(w, convGeometry([4, 8, 8], [4, 4, 3, 3], att(1)), g);
        w.i32(q, 8)[0] = 9;
        expect(w.exports.qs8_wino2x2_3x3__wasmsimd(g, q, y, y, y, y, y)).toBe(-5);
        w.i32(g, 20)[6] = 9;
        expect(w.exports.qs8_wino_work_bytes(g)).toBe(-5);
        expect(w.u8(y, 4096).every((b) => b === 0x5a)).toBe(true);
      } finally {
        w.release(m);
      }
    });

    it('property (fast-check): random 3x3 stride-1 convs equal qs8Conv2dRef', () => {
      fc.assert(
        fc.property(
          fc.record({
            C: fc.integer({ min: 1, max: 12 }),
            M: fc.integer({ min: 1, max: 9 }),
            H: fc.integer({ min: 1, max: 14 }),
            W: fc.integer({ min: 1, max: 21 }),
            pads: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)),
            zx: fc.integer({ min: -128, max: 127 }),
            zy: fc.integer({ min: -128, max: 127 }),
            mode: fc.constantFrom<Mode>(...MODES),
            extreme: fc.boolean(),
            seed: fc.integer(),
          }),
          (r) => {
            if (r.H + r.pads[0] + r.pads[2] < 3 || r.W + r.pads[1] + r.pads[3] < 3) return true;
            const rnd = lcg(r.seed);
            const x = values(rnd, r.C * r.H * r.W, r.extreme ? 'extreme' : 'random'),
              wt = values(rnd, r.M * r.C * 9, r.extreme ? 'extreme' : 'random');
            const out = makeOut(r.mode, r.M, rnd, r.zx, r.zy);
            const wd = [r.M, r.C, 3, 3];
            const a = att(r.pads);
            const want = qs8Conv2dRef(x, [r.C, r.H, r.W], wt, wd, a, out).data;
            return sameBits(qs8Conv2d(w, kernel, x, [r.C, r.H, r.W], wt, wd, a, out).data, want) === undefined;
          },
        ),
        { numRuns: variant === 'release' ? 200 : 60 },
      );
    });
  });
}

describe('pickQs8ConvKernel: the Winograd kernel for eligible dense convs where measured faster, unless turned off', () => {
  it('dense 3x3 stride 1 → Winograd; winograd = false, stride 2, sparse, depthwise → the others', () => {
    const g = convGeometry([16, 32, 32], [16, 16, 3, 3], att(1));
    expect(pickQs8ConvKernel(g).name).toBe(WINO);
    expect(pickQs8ConvKernel(g, 1, 0.4, 1, false).name).toBe('qs8_conv2d_4x8c2__wasmsimd');
    expect(pickQs8ConvKernel(g, 0.2).name).toBe('qs8_spconv2d_16x1__wasmsimd');
    // half the weights pruned: the sparse kernel beats the direct dense one, not Winograd (winogradCost)
    expect(pickQs8ConvKernel(g, 0.5).name).toBe(WINO);
    expect(pickQs8ConvKernel(g, 0.5, SPARSE_DENSITY, 1, false).name).toBe('qs8_spconv2d_16x1__wasmsimd');
    const s2 = convGeometry([16, 32, 32], [32, 16, 3, 3], { ...att(1), strides: [2, 2] });
    expect(pickQs8ConvKernel(s2).name).toBe('qs8_conv2d_4x8c2__wasmsimd');
    // measured slower or equal: Cin < 8, fewer than 8 output tiles (4x4 outputs)
    expect(pickQs8ConvKernel(convGeometry([4, 32, 32], [16, 4, 3, 3], att(1))).name).toBe('qs8_conv2d_4x8c2__wasmsimd');
    expect(pickQs8ConvKernel(convGeometry([8, 32, 32], [16, 8, 3, 3], att(1))).name).toBe(WINO);
    expect(pickQs8ConvKernel(convGeometry([128, 4, 4], [128, 128, 3, 3], att(1))).name).toBe('qs8_conv2d_4x8c2__wasmsimd');
    expect(pickQs8ConvKernel(convGeometry([128, 6, 8], [128, 128, 3, 3], att(1))).name).toBe(WINO);
    const dw = convGeometry([16, 32, 32], [16, 1, 3, 3], { ...att(1), groups: 16 });
    expect(pickQs8ConvKernel(dw).name).toBe('qs8_dwconv2d__wasmsimd');
  });

  it('a sparse kernel within WINO_SPARSE_TIE of Winograd (its layout ~3x smaller) is taken: the 70 %-pruned ResNet-32 stages', () => {
    const NZ = 'qs8_spconv2d_16x1__wasmsimd';
    // the 3x3 stride-1 convs of ResNet-32's 32- and 64-channel stages; densities as in a 70 % file
    const c32 = convGeometry([32, 16, 16], [32, 32, 3, 3], att(1));
    const c64 = convGeometry([64, 8, 8], [64, 64, 3, 3], att(1));
    for (const d of [0.297, 0.298, 0.299, 0.3]) {
      expect(pickQs8ConvKernel(c32, d).name).toBe(NZ);
      expect(pickQs8ConvKernel(c64, d).name).toBe(NZ);
    }
    // the band's edge: nz cost 0.04 + 1.8·d against winogradCost·(1 + WINO_SPARSE_TIE)
    const edge = (g: typeof c32): number => (winogradCost(g) * (1 + WINO_SPARSE_TIE) - SPARSE_COST.nz.c0) / SPARSE_COST.nz.c1;
    expect(edge(c64)).toBeCloseTo(0.31, 2);
    expect(edge(c32)).toBeCloseTo(0.3417, 3);
    for (const g of [c32, c64]) {
      expect(pickQs8ConvKernel(g, edge(g) - 1e-6).name).toBe(NZ);
      expect(pickQs8ConvKernel(g, edge(g) + 1e-6).name).toBe(WINO);
    }
    // the default 50 % file stays on Winograd; without Winograd the sparse kernel as before
    expect(pickQs8ConvKernel(c64, 0.5).name).toBe(WINO);
    expect(pickQs8ConvKernel(c64, 0.35).name).toBe(WINO);
    expect(pickQs8ConvKernel(c64, 0.35, SPARSE_DENSITY, 1, false).name).toBe(NZ);
    // the relaxed k-quad kernel (C4_RELAXED_COST 0.61) is not Winograd: no band
    expect(pickQs8ConvKernel(c64, 0.3, SPARSE_DENSITY, 1, true, true).name).toBe(NZ);
    expect(pickQs8ConvKernel(c64, 0.33, SPARSE_DENSITY, 1, true, true).name).toBe('qs8_conv2d_4x8c2__wasmsimd');
  });

  it('wino4FewChannels: F(4x4) for dense convs of 3 to 7 input channels (eligible geometry), where F(2x2) is not taken', () => {
    const g = (C: number, hw = 32, pads = 1) => convGeometry([C, hw, hw], [16, C, 3, 3], att(pads));
    expect([1, 2, 3, 4, 7, 8, 16].map((C) => wino4FewChannels(g(C)))).toEqual([false, false, true, true, true, false, false]);
    for (const C of [3, 4, 7]) expect(winogradFaster(g(C))).toBe(false);
    expect(wino4FewChannels(g(3, 6))).toBe(false); // OW 6: not a multiple of 8
    expect(wino4FewChannels(convGeometry([3, 32, 32], [16, 3, 3, 3], { ...att(1), strides: [2, 2] }))).toBe(false);
  });

  it('where F(4x4) runs the dense conv (wino4: the engine at tier 1), a sparse kernel must beat wino4Cost, no tie', () => {
    const NZ = 'qs8_spconv2d_16x1__wasmsimd';
    const c16 = convGeometry([16, 32, 32], [16, 16, 3, 3], att(1));
    const c32 = convGeometry([32, 16, 16], [32, 32, 3, 3], att(1));
    const c64 = convGeometry([64, 8, 8], [64, 64, 3, 3], att(1));
    const edge = (g: typeof c32): number => (wino4Cost(g) - SPARSE_COST.nz.c0) / SPARSE_COST.nz.c1;
    expect(edge(c16)).toBeCloseTo(0.2444, 3);
    expect(edge(c32)).toBeCloseTo(0.1944, 3);
    for (const g of [c16, c32, c64]) {
      // a 70 % file (density 0.3) runs F(4x4) at tier 1; at tier 0 (no wino4) its sparse kernel
      expect(pickQs8ConvKernel(g, 0.3, SPARSE_DENSITY, 1, true, false, true).name).toBe(WINO);
      expect(pickQs8ConvKernel(g, 0.3, SPARSE_DENSITY, 1, true, false, false).name).toBe(NZ);
      expect(pickQs8ConvKernel(g, edge(g) + 1e-6, SPARSE_DENSITY, 1, true, false, true).name).toBe(WINO);
      expect(pickQs8ConvKernel(g, edge(g) - 1e-6, SPARSE_DENSITY, 1, true, false, true).name).toBe(NZ);
      expect(pickQs8ConvKernel(g, 0.1, SPARSE_DENSITY, 1, true, false, true).name).toBe(NZ);
    }
  });
});
