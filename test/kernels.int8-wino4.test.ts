// The exact integer Winograd F(4x4, 3x3) int8 conv: the plain TS reference (qs8Wino4x4Ref,
// src/kernels/int8_wino_ref.ts) and the WASM kernel (qs8_wino4x4_3x3__wasmsimd,
// assembly/int8/wino4.ts), both against the direct conv qs8Conv2dRef bit for bit: shapes with
// OH % 4 == 0 and OW % 8 == 0 (one pair of tiles, one half panel, a last panel of 2, 4 or 6
// tiles, rows of 2, 6 and 10 tiles whose panels take pairs from two or three tile rows, Cin odd, M
// around the 4-channel block, pads 0..2 and asymmetric), every output mode with and without a fused Add,
// inputs at both ends of the range with zero points at both ends, and the exactness bound:
// weights whose max Σ|w| · max|x − zx| is exactly WINO4_BOUND give the direct conv's
// accumulator, one more is refused (status −6, nothing written). Also the pack's header, the
// part kernel (any panel split = the whole conv) and ineligible geometries (status −5). The
// engine's choice: test/engine.int8-wino.test.ts.
import { describe, it, expect, beforeAll } from 'vitest';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { convGeometry } from '../src/kernels/f32.js';
import type { Conv2dAttrs } from '../src/kernels/f32_ref.js';
import {
  QS8_CONV_WINO4,
  WINO4_BOUND,
  absRowMax,
  planQs8Conv,
  placeWino4Weights,
  putChannelParams,
  qs8Conv2d,
  wino4Eligible,
  wino4Exact,
  vaddParams,
  type Qs8Out,
} from '../src/kernels/int8.js';
import { qs8Conv2dRef, qs8VaddRef } from '../src/kernels/int8_ref.js';
import { qs8Wino4x4Ref, wino4InputTransform, wino4WeightTransform } from '../src/kernels/int8_wino_ref.js';
import { lcg } from './helpers/tensors.js';
import { MODES, makeOut, sameBits } from './helpers/qs8_out.js';

const att = (p: number | [number, number, number, number]): Conv2dAttrs => ({
  pads: typeof p === 'number' ? [p, p, p, p] : p,
  strides: [1, 1],
  dilations: [1, 1],
  groups: 1,
});

interface Case {
  C: number;
  H: number;
  W: number;
  M: number;
  pads: number | [number, number, number, number];
}
/** OH = H + pt + pb − 2 a multiple of 4, OW a multiple of 8 (each case is checked below). */
const CASES: Case[] = (
  [
    { C: 1, H: 4, W: 16, M: 1, pads: 1 }, // one half panel of 4 tiles
    { C: 2, H: 8, W: 16, M: 3, pads: 1 }, // 8 tiles: one full panel
    { C: 3, H: 12, W: 16, M: 5, pads: 1 }, // 12 tiles: the last panel holds 4
    { C: 5, H: 16, W: 32, M: 4, pads: 1 },
    { C: 8, H: 18, W: 34, M: 9, pads: 0 }, // no padding
    { C: 7, H: 6, W: 48, M: 6, pads: [0, 2, 0, 0] }, // asymmetric: OH 4, OW 48
    { C: 4, H: 8, W: 17, M: 2, pads: [2, 0, 0, 1] }, // asymmetric: OH 8, OW 16
    { C: 16, H: 32, W: 32, M: 16, pads: 1 }, // ResNet stage 1
    { C: 32, H: 16, W: 16, M: 32, pads: 1 }, // ResNet stage 2
    { C: 9, H: 18, W: 30, M: 7, pads: 2 }, // pads 2: OH 20, OW 32
    { C: 3, H: 4, W: 8, M: 5, pads: 1 }, // OW 8: one pair of tiles, nothing else
    { C: 64, H: 8, W: 8, M: 64, pads: 1 }, // ResNet stage 3: 4 tiles from two tile rows
    { C: 6, H: 12, W: 8, M: 4, pads: 1 }, // 6 tiles: the last panel holds 6 (3 pairs)
    { C: 5, H: 8, W: 24, M: 3, pads: 1 }, // rows of 6 tiles: panels straddle tile rows
    { C: 2, H: 12, W: 40, M: 9, pads: 1 }, // rows of 10 tiles, 30 tiles: a last panel of 6
    { C: 4, H: 4, W: 25, M: 2, pads: [1, 0, 1, 1] }, // asymmetric: OH 4, OW 24: 6 tiles, 1 panel
    // left pad 1 and W % 8 == 0: the phase planes straight from x (phasePlanesDirect), 32 x
    // columns per block of 8 phase columns: a second block whole, half, or past the row end
    { C: 3, H: 8, W: 48, M: 5, pads: 1 },
    { C: 2, H: 4, W: 56, M: 3, pads: 1 },
    { C: 3, H: 8, W: 16, M: 2, pads: [2, 1, 0, 1] }, // top pad 2, bottom 0
    // one-half panels take two blocks of 4 channels at once (tileP4h8), a last odd block alone
    { C: 5, H: 8, W: 8, M: 11, pads: 1 },
  ] as Case[]
).filter((c) => {
  const p = typeof c.pads === 'number' ? [c.pads, c.pads, c.pads, c.pads] : c.pads;
  const OH = c.H + p[0]! + p[2]! - 2,
    OW = c.W + p[1]! + p[3]! - 2;
  return OH % 4 === 0 && OW % 8 === 0 && OH >= 4 && OW >= 8;
});
// (the filter drops none: a case whose shape F(4x4) cannot run would be a typo here)
const CASE_COUNT = 20;

let w: SparrowWasm;
beforeAll(async () => {
  w = await loadWasmNode();
});

describe('F(4x4, 3x3): the transforms and the plain TS reference', () => {
  it('every listed shape is one the kernel runs', () => {
    expect(CASES.length).toBe(CASE_COUNT);
    for (const { C, H, W, M, pads } of CASES) expect(wino4Eligible(convGeometry([C, H, W], [M, C, 3, 3], att(pads)))).toBe(true);
  });

  it('U" = G" g G"ᵀ is 576·(G g Gᵀ) scaled per row and column (s = [4, 6, 6, 24, 24, 1]), V = Bᵀ d B within 100·max|d|', () => {
    const rnd = lcg(11);
    const G = [
      [1 / 4, 0, 0],
      [-1 / 6, -1 / 6, -1 / 6],
      [-1 / 6, 1 / 6, -1 / 6],
      [1 / 24, 1 / 12, 1 / 6],
      [1 / 24, -1 / 12, 1 / 6],
      [0, 0, 1],
    ];
    const s = [24, 24, 24, 24, 24, 1];
    for (let t = 0; t < 30; t++) {
      const g = Array.from({ length: 9 }, () => Math.floor(rnd() * 256) - 128);
      const U = wino4WeightTransform(g);
      for (let i = 0; i < 6; i++)
        for (let j = 0; j < 6; j++) {
          let u = 0;
          for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) u += G[i]![a]! * g[3 * a + b]! * G[j]![b]!;
          expect(U[6 * i + j]).toBeCloseTo(u * s[i]! * s[j]!, 6);
          expect(Math.abs(U[6 * i + j]!)).toBeLessThanOrEqual(144 * 128);
        }
      const d = Array.from({ length: 36 }, () => (rnd() < 0.5 ? -255 : 255));
      for (const v of wino4InputTransform(d)) expect(Math.abs(v)).toBeLessThanOrEqual(25500);
    }
  });

  it('qs8Wino4x4Ref equals qs8Conv2dRef (also partial tiles: any output size), every mode', () => {
    const rnd = lcg(5);
    for (const { C, H, W, M, pads } of [...CASES, { C: 3, H: 7, W: 9, M: 2, pads: 1 }, { C: 2, H: 5, W: 5, M: 3, pads: 0 }])
      for (const mode of MODES) {
        const x = Int8Array.from({ length: C * H * W }, () => Math.floor(rnd() * 256) - 128);
        const wt = Int8Array.from({ length: M * C * 9 }, () => Math.floor(rnd() * 128) - 64);
        const out = makeOut(mode, M, rnd, Math.floor(rnd() * 40) - 20, -7);
        const want = qs8Conv2dRef(x, [C, H, W], wt, [M, C, 3, 3], att(pads), out);
        const got = qs8Wino4x4Ref(x, [C, H, W], wt, [M, C, 3, 3], att(pads), out);
        expect(sameBits(got.data, want.data), `${C}x${H}x${W}→${M} ${mode}`).toBeUndefined();
      }
  });
});

describe('qs8_wino4x4_3x3__wasmsimd equals the direct conv', () => {
  it('random shapes, every output mode, zero points at both ends', () => {
    const rnd = lcg(9);
    for (const { C, H, W, M, pads } of CASES)
      for (const mode of MODES)
        for (const zx of [-128, -3, 127]) {
          const x = Int8Array.from({ length: C * H * W }, () => Math.floor(rnd() * 256) - 128);
          // weights within the bound for this zx (Σ|w| ≤ 131,586 at max|x − zx| = 255): the whole
          // int8 range up to Cin = 114, so every case here
          const full = 9 * C * 128 * 255 <= WINO4_BOUND;
          const lim = full ? 128 : Math.max(1, Math.floor(WINO4_BOUND / 255 / (9 * C)));
          const wt = Int8Array.from({ length: M * C * 9 }, () => Math.min(127, Math.floor(rnd() * (2 * lim + 1)) - lim));
          expect(full).toBe(true);
          const out = makeOut(mode, M, rnd, zx, 5);
          const want = qs8Conv2dRef(x, [C, H, W], wt, [M, C, 3, 3], att(pads), out);
          const got = qs8Conv2d(w, QS8_CONV_WINO4, x, [C, H, W], wt, [M, C, 3, 3], att(pads), out);
          expect(sameBits(got.data, want.data), `${C}x${H}x${W}→${M} pads ${pads} ${mode} zx ${zx}`).toBeUndefined();
        }
  });

  it('with the residual Add in the output stage (int8)', () => {
    const rnd = lcg(21);
    for (const { C, H, W, M, pads } of CASES.slice(0, 5)) {
      const x = Int8Array.from({ length: C * H * W }, () => Math.floor(rnd() * 256) - 128);
      const wt = Int8Array.from({ length: M * C * 9 }, () => Math.floor(rnd() * 128) - 64);
      const geo = convGeometry([C, H, W], [M, C, 3, 3], att(pads));
      const other = Int8Array.from({ length: M * geo.OH * geo.OW }, () => Math.floor(rnd() * 256) - 128);
      for (const relu of [false, true]) {
        const base = makeOut('int8', M, rnd, -3, 5) as Extract<Qs8Out, { mode: 'int8' }>;
        const out: Qs8Out = { ...base, add: vaddParams(2 ** -5, 4, 2 ** -6, -3, 2 ** -5, 1, relu) };
        // the conv's own int8 output, then the Add of the reference
        const conv = qs8Conv2dRef(x, [C, H, W], wt, [M, C, 3, 3], att(pads), base).data as Int8Array;
        const want = qs8VaddRef(conv, other, (out as Extract<Qs8Out, { mode: 'int8' }>).add!);
        const got = qs8Conv2d(w, QS8_CONV_WINO4, x, [C, H, W], wt, [M, C, 3, 3], att(pads), out, { other }).data;
        expect(sameBits(got, want), `${C}x${H}x${W}→${M} relu ${relu}`).toBeUndefined();
      }
    }
  });

  it('at the bound: max Σ|w| · 255 = the largest product ≤ WINO4_BOUND is exact (Y = ±33,554,430: 576·Y wraps int32, 64·Y does not); one more weight unit is refused (−6), nothing written', () => {
    const C = 116,
      M = 4,
      H = 4,
      W = 8;
    const limit = Math.floor(WINO4_BOUND / 255); // 131,586
    expect(limit * 255 * 576).toBeGreaterThan(2 ** 31);
    const wt = new Int8Array(M * C * 9);
    // channel 1: Σ|w| = limit (1,036 taps of 127 and one of 14), all positive; the others smaller
    for (let c = 0; c < M; c++) {
      let left = c === 1 ? limit : 10000 * (c + 1);
      for (let k = 0; k < C * 9 && left > 0; k++) {
        const v = Math.min(127, left);
        wt[c * C * 9 + k] = v;
        left -= v;
      }
    }
    expect(absRowMax(wt, M)).toBe(limit);
    expect(wino4Exact(limit, -128)).toBe(true);
    expect(wino4Exact(limit + 1, -128)).toBe(false);
    // x − zx = 255 everywhere: the interior outputs reach Σ|w|·255 (no padding here: pads 0 would
    // shrink the output, so pads 1 and the interior rows)
    const x = new Int8Array(C * H * W).fill(127);
    const out = makeOut('int32', M, lcg(1), -128, 0);
    for (const sign of [1, -1]) {
      const ws = Int8Array.from(wt, (v) => sign * v);
      const want = qs8Conv2dRef(x, [C, H, W], ws, [M, C, 3, 3], att(1), out);
      const got = qs8Conv2d(w, QS8_CONV_WINO4, x, [C, H, W], ws, [M, C, 3, 3], att(1), out);
      expect(sameBits(got.data, want.data)).toBeUndefined();
      // an interior output of channel 1 is the extreme: ±limit · 255 (+ the bias)
      const bias = (out as Extract<Qs8Out, { mode: 'int32' }>).bias[1]!;
      expect((got.data as Int32Array)[H * W + W + 1]! - bias).toBe(sign * limit * 255);
    }
    expect(qs8Wino4x4Ref(x, [C, H, W], wt, [M, C, 3, 3], att(1), out).data).toEqual(
      qs8Conv2dRef(x, [C, H, W], wt, [M, C, 3, 3], att(1), out).data,
    );
    // one unit more in channel 1: refused, the output untouched
    const wt2 = Int8Array.from(wt);
    const k = wt2.subarray(9 * C, 18 * C).findIndex((v) => v < 127);
    wt2[9 * C + k]! += 1;
    expect(absRowMax(wt2, M)).toBe(limit + 1);
    const mark = w.mark();
    try {
      const geo = convGeometry([C, H, W], [M, C, 3, 3], att(1));
      const plan = planQs8Conv(w, geo, out, QS8_CONV_WINO4);
      const wp = placeWino4Weights(w, wt2, M, C * 9);
      expect(w.i32(wp, 1)[0]).toBe(limit + 1); // the header
      const qp = putChannelParams(w, out),
        px = w.putBytes(x),
        py = w.alloc(M * H * W * 4),
        work = w.alloc(plan.workBytes);
      w.u8(py, M * H * W * 4).fill(0x5a);
      expect(QS8_CONV_WINO4.run(w, plan.g, plan.q, px, wp, qp, py, work)).toBe(-6);
      expect(w.u8(py, M * H * W * 4).every((b) => b === 0x5a)).toBe(true);
      expect(() => qs8Wino4x4Ref(x, [C, H, W], wt2, [M, C, 3, 3], att(1), out)).toThrow(/exact range/);
      // zx = −1 (max|x − zx| = 128): the same weights are within the bound again
      expect(wino4Exact(limit + 1, -1)).toBe(true);
    } finally {
      w.release(mark);
    }
  });

  it('the part kernel: any split of the units (panel × 4-channel block) writes what the whole conv writes', () => {
    const rnd = lcg(4);
    for (const { C, H, W, M, pads } of CASES) {
      const x = Int8Array.from({ length: C * H * W }, () => Math.floor(rnd() * 256) - 128);
      const wt = Int8Array.from({ length: M * C * 9 }, () => Math.floor(rnd() * 128) - 64);
      const out = makeOut('int8', M, rnd, -3, 5);
      const geo = convGeometry([C, H, W], [M, C, 3, 3], att(pads));
      const mark = w.mark();
      try {
        const plan = planQs8Conv(w, geo, out, QS8_CONV_WINO4);
        const NU = w.exports.qs8_wino4_units(plan.g);
        expect(NU).toBe(Math.ceil(((geo.OH / 4) * (geo.OW / 4)) / 8) * Math.ceil(M / 4));
        const wp = placeWino4Weights(w, wt, M, C * 9);
        const qp = putChannelParams(w, out),
          px = w.putBytes(x),
          n = M * geo.OH * geo.OW,
          whole = w.alloc(n),
          parts = w.alloc(n),
          work = w.alloc(plan.workBytes);
        expect(w.exports.qs8_wino4x4_3x3__wasmsimd(plan.g, plan.q, px, wp, qp, whole, work)).toBe(0);
        w.u8(parts, n).fill(0x5a);
        // 3 parts at random cuts: mostly inside a panel (its channel blocks split between parts)
        const cuts = [...new Set([0, 1 + Math.floor(rnd() * NU), 1 + Math.floor(rnd() * NU), NU])]
          .filter((u) => u <= NU)
          .sort((a, b) => a - b);
        // (the workspace poisoned before each part: a part pads only the input rows its tiles read)
        for (let i = 0; i + 1 < cuts.length; i++) {
          w.u8(work, plan.workBytes).fill(0xa5);
          expect(w.exports.qs8_wino4x4_3x3_part__wasmsimd(plan.g, plan.q, px, wp, qp, parts, work, cuts[i]!, cuts[i + 1]!)).toBe(0);
        }
        expect(Array.from(w.u8(parts, n))).toEqual(Array.from(w.u8(whole, n)));
        // bad ranges
        expect(w.exports.qs8_wino4x4_3x3_part__wasmsimd(plan.g, plan.q, px, wp, qp, parts, work, 0, NU + 1)).toBe(-5);
        expect(w.exports.qs8_wino4x4_3x3_part__wasmsimd(plan.g, plan.q, px, wp, qp, parts, work, 1, 1)).toBe(-5);
      } finally {
        w.release(mark);
      }
    }
  });

  it('ineligible geometries: not in wino4Eligible, and the kernel answers −5', () => {
    for (const [C, H, W, pads, strides] of [
      [4, 8, 20, 1, 1], // OW 20
      [4, 6, 16, 1, 1], // OH 6
      [4, 8, 32, 1, 2], // stride 2
      [4, 4, 4, 1, 1], // OW 4
      [4, 2, 8, 1, 1], // OH 2
    ] as const) {
      const a: Conv2dAttrs = { ...att(pads), strides: [strides, strides] };
      const geo = convGeometry([C, H, W], [4, C, 3, 3], a);
      expect(wino4Eligible(geo)).toBe(false);
      const mark = w.mark();
      try {
        const out = makeOut('int8', 4, lcg(2), 0, 0);
        const g = planQs8Conv(w, geo, out, { ...QS8_CONV_WINO4, supports: () => true, workBytes: () => 64 }).g;
        expect(w.exports.qs8_wino4_work_bytes(g)).toBe(-5);
        expect(w.exports.qs8_wino4_units(g)).toBe(-5);
      } finally {
        w.release(mark);
      }
    }
  });
});
