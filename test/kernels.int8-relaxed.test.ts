// The k-quad int8 conv (assembly/int8/relaxed.ts, QS8_CONV_C4) in the plain build: the same
// packing, im2col, column sums and zero-point corrections as the relaxed build, with the dot
// product in plain SIMD. Oracle: qs8Conv2dRef (src/kernels/int8_ref.ts) bit for bit, and the
// c2 kernel. (The relaxed instruction itself runs in Chromium and workerd: test/browser.relaxed.test.ts,
// test/workers/relaxed.workers.test.ts.)
import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { convGeometry } from '../src/kernels/f32.js';
import type { Conv2dAttrs } from '../src/kernels/f32_ref.js';
import {
  E_RANGE,
  outElementBytes,
  placeC4Weights,
  planQs8Conv,
  putChannelParams,
  qs8Conv2d,
  qs8ConvKernel,
  QS8_CONV_C4,
  type Qs8Out,
} from '../src/kernels/int8.js';
import { qs8Conv2dRef } from '../src/kernels/int8_ref.js';
import { lcg } from './helpers/tensors.js';
import { makeOut as makeOutShared, sameBits, type Mode } from './helpers/qs8_out.js';

const att = (p: number, s: number, groups = 1, dil = 1): Conv2dAttrs => ({
  pads: [p, p, p, p],
  strides: [s, s],
  dilations: [dil, dil],
  groups,
});

/** the shared output parameters, scales 4× those of the Winograd tests */
const makeOut = (mode: Mode, N: number, rnd: () => number, zx: number, zy: number): Qs8Out => makeOutShared(mode, N, rnd, zx, zy, false, 2);

/** int8 in [lo, hi]; 'extreme': only the two ends. */
function randRange(rnd: () => number, n: number, lo: number, hi: number, extreme = false): Int8Array {
  return Int8Array.from({ length: n }, () => (extreme ? (rnd() < 0.5 ? lo : hi) : lo + Math.floor(rnd() * (hi - lo + 1))));
}

const diff = sameBits;

interface Case {
  C: number;
  H: number;
  W: number;
  M: number;
  k: number;
  attrs: Conv2dAttrs;
}

function cases(): Case[] {
  const out: Case[] = [];
  // K = C·9 over every residue mod 4 (1, 2, 3 and 0: the quad tail), channel blocks partial and full
  for (const [C, M] of [
    [1, 1],
    [2, 3],
    [3, 5],
    [4, 8],
    [5, 9],
    [16, 17],
  ] as const)
    for (const hw of [1, 3, 8, 9, 17]) for (const s of [1, 2]) out.push({ C, H: hw, W: hw + s - 1, M, k: 3, attrs: att(1, s) });
  // 1x1, stride 3, dilation, groups, 5x5
  for (const [C, M] of [
    [3, 4],
    [7, 5],
    [33, 12],
  ] as const)
    for (const hw of [1, 5, 8]) for (const s of [1, 2]) out.push({ C, H: hw, W: hw + 3, M, k: 1, attrs: att(0, s) });
  out.push({ C: 4, H: 11, W: 9, M: 5, k: 3, attrs: att(2, 3) });
  out.push({ C: 2, H: 13, W: 13, M: 4, k: 3, attrs: att(2, 1, 1, 2) });
  out.push({ C: 6, H: 7, W: 20, M: 7, k: 5, attrs: att(0, 1) });
  out.push({ C: 8, H: 9, W: 9, M: 12, k: 3, attrs: att(1, 1, 4) });
  // the ResNet layers (first layer K = 27, then 16/32/64 channels)
  for (const [C, M, hw, s] of [
    [3, 16, 32, 1],
    [16, 16, 32, 1],
    [16, 32, 32, 2],
    [32, 64, 16, 2],
    [64, 64, 8, 1],
  ] as const)
    out.push({ C, H: hw, W: hw, M, k: 3, attrs: att(1, s) });
  return out;
}

const MODES: Mode[] = ['int8', 'f32', 'int32', 'qlinear'];
const ZX = [-128, 127, 0, -7, 33];

describe('qs8_conv2d_4x8c4 (plain build: the relaxed kernel with a plain-SIMD dot product)', () => {
  let w: SparrowWasm;
  beforeAll(async () => {
    w = await loadWasmNode('release');
  });

  it('the plain build says it is not the relaxed one', () => {
    expect(w.relaxed).toBe(false);
    expect(w.exports.qs8_relaxed_build()).toBe(0);
  });

  it('equals qs8Conv2dRef and the c2 kernel bit for bit (modes, zero points, weights at −64 and 63, x at −128 and 127)', () => {
    const rnd = lcg(71);
    const c2 = qs8ConvKernel('qs8_conv2d_4x8c2__wasmsimd');
    const failures: string[] = [];
    let ran = 0;
    cases().forEach((cs, ci) => {
      for (let v = 0; v < 2; v++) {
        const mode = MODES[(ci + v) % MODES.length]!;
        const zx = ZX[(ci + 2 * v) % ZX.length]!;
        const extreme = (ci + v) % 3 === 0;
        const K = (cs.C / cs.attrs.groups) * cs.k * cs.k;
        const x = randRange(rnd, cs.C * cs.H * cs.W, -128, 127, extreme);
        const wt = randRange(rnd, cs.M * K, -64, 63, extreme);
        const out = makeOut(mode, cs.M, rnd, zx, ((ci * 37) % 256) - 128);
        const xd = [cs.C, cs.H, cs.W],
          wd = [cs.M, cs.C / cs.attrs.groups, cs.k, cs.k];
        const ref = qs8Conv2dRef(x, xd, wt, wd, cs.attrs, out).data;
        const got = qs8Conv2d(w, QS8_CONV_C4, x, xd, wt, wd, cs.attrs, out).data;
        const plain = qs8Conv2d(w, c2, x, xd, wt, wd, cs.attrs, out).data;
        const bad = diff(got, ref) ?? diff(got, plain);
        if (bad) failures.push(`${JSON.stringify(cs)} mode=${mode} zx=${zx} extreme=${extreme}: ${bad}`);
        ran++;
      }
    });
    expect(failures.slice(0, 6)).toEqual([]);
    expect(ran).toBeGreaterThan(60);
  });

  it('writes nothing past y, and output channel slices (qs8_conv2d_4x8c4_range) assemble the whole conv', () => {
    const rnd = lcg(3);
    const C = 16,
      H = 9,
      W = 11,
      M = 22,
      attrs = att(1, 1);
    const geo = convGeometry([C, H, W], [M, C, 3, 3], attrs);
    const K = C * 9;
    const x = randRange(rnd, C * H * W, -128, 127),
      wt = randRange(rnd, M * K, -64, 63);
    const out = makeOut('int8', M, rnd, 5, -3);
    const ref = qs8Conv2dRef(x, [C, H, W], wt, [M, C, 3, 3], attrs, out).data;
    const m = w.mark();
    try {
      const plan = planQs8Conv(w, geo, out, QS8_CONV_C4);
      const wp = placeC4Weights(w, wt, M, K, 1);
      const qp = putChannelParams(w, out),
        px = w.putBytes(x);
      const n = M * geo.OH * geo.OW,
        yb = n * outElementBytes(out);
      const py = w.alloc(yb + 64);
      w.u8(py, yb + 64).fill(0x5a);
      const work = w.alloc(plan.workBytes);
      // three slices (multiples of 4 where they start), in any order
      for (const [a, b] of [
        [8, 20],
        [0, 8],
        [20, 22],
      ] as const)
        expect(w.exports.qs8_conv2d_4x8c4_range__wasmrelaxed(plan.g, plan.q, px, wp, qp, py, work, a, b)).toBe(0);
      expect(diff(w.i8(py, n).slice(), ref)).toBeUndefined();
      expect(w.u8(py + yb, 64).every((b) => b === 0x5a)).toBe(true);
      // a slice must start on a 4-channel block and lie inside the group
      expect(w.exports.qs8_conv2d_4x8c4_range__wasmrelaxed(plan.g, plan.q, px, wp, qp, py, work, 2, 8)).toBe(-5);
      expect(w.exports.qs8_conv2d_4x8c4_range__wasmrelaxed(plan.g, plan.q, px, wp, qp, py, work, 0, 23)).toBe(-5);
    } finally {
      w.release(m);
    }
  });

  it('output pixel slices (qs8_conv2d_4x8c4_part, one thread share) assemble the whole conv, nothing past y; unaligned slices refused', () => {
    const rnd = lcg(5);
    const C = 16,
      H = 9,
      W = 11,
      M = 22,
      attrs = att(1, 1);
    const geo = convGeometry([C, H, W], [M, C, 3, 3], attrs);
    const K = C * 9;
    const x = randRange(rnd, C * H * W, -128, 127),
      wt = randRange(rnd, M * K, -64, 63);
    const out = makeOut('int8', M, rnd, 5, -3);
    const ref = qs8Conv2dRef(x, [C, H, W], wt, [M, C, 3, 3], attrs, out).data;
    const m = w.mark();
    try {
      const plan = planQs8Conv(w, geo, out, QS8_CONV_C4);
      const wp = placeC4Weights(w, wt, M, K, 1);
      const qp = putChannelParams(w, out),
        px = w.putBytes(x);
      const Mpix = geo.OH * geo.OW,
        n = M * Mpix,
        yb = n * outElementBytes(out);
      const py = w.alloc(yb + 64);
      w.u8(py, yb + 64).fill(0x5a);
      const work = w.alloc(plan.workBytes);
      const part = (a: number, b: number, p0: number, p1: number): number =>
        w.exports.qs8_conv2d_4x8c4_part__wasmrelaxed(plan.g, plan.q, px, wp, qp, py, work, a, b, p0, p1);
      // pixel slices (whole panels of 8, the last ending at OH·OW = 99) times channel slices, in any order
      for (const [p0, p1] of [
        [40, 99],
        [0, 16],
        [16, 40],
      ] as const)
        for (const [a, b] of [
          [8, 22],
          [0, 8],
        ] as const)
          expect(part(a, b, p0, p1)).toBe(0);
      expect(diff(w.i8(py, n).slice(), ref)).toBeUndefined();
      expect(w.u8(py + yb, 64).every((b) => b === 0x5a)).toBe(true);
      for (const [p0, p1] of [
        [4, 16],
        [0, 12],
        [0, 100],
        [16, 16],
      ])
        expect(part(0, 22, p0!, p1!), `${p0}..${p1}`).toBe(-5);
    } finally {
      w.release(m);
    }
  });

  it('the pack refuses a weight outside [−64, 63] (status E_RANGE), anywhere in the matrix', () => {
    for (const bad of [64, -65, 127, -128]) {
      for (const at of [0, 17, 35]) {
        const wt = new Int8Array(4 * 9).fill(-64);
        wt[at] = bad;
        const m = w.mark();
        try {
          const dst = w.alloc(w.exports.qs8_conv2d_packed_w_c4_bytes(4, 9, 1));
          expect(w.exports.qs8_conv2d_pack_w_c4(4, 9, 1, w.putBytes(wt), dst), `${bad} at ${at}`).toBe(E_RANGE);
        } finally {
          w.release(m);
        }
        expect(() => placeC4Weights(w, wt, 4, 9)).toThrow(/\[-64, 63\]/);
      }
    }
  });

  it('property (fast-check): random small convs with 7-bit weights equal the reference', () => {
    fc.assert(
      fc.property(
        fc.record({
          C: fc.integer({ min: 1, max: 9 }),
          M: fc.integer({ min: 1, max: 9 }),
          H: fc.integer({ min: 1, max: 12 }),
          W: fc.integer({ min: 1, max: 19 }),
          k: fc.integer({ min: 1, max: 3 }),
          s: fc.integer({ min: 1, max: 3 }),
          p: fc.integer({ min: 0, max: 2 }),
          zx: fc.integer({ min: -128, max: 127 }),
          mode: fc.constantFrom<Mode>('int8', 'f32', 'int32', 'qlinear'),
          seed: fc.integer(),
        }),
        (r) => {
          if (r.H + 2 * r.p < r.k || r.W + 2 * r.p < r.k) return true;
          const rnd = lcg(r.seed);
          const K = r.C * r.k * r.k;
          const x = randRange(rnd, r.C * r.H * r.W, -128, 127),
            wt = randRange(rnd, r.M * K, -64, 63);
          const out = makeOut(r.mode, r.M, rnd, r.zx, 0);
          const attrs = att(r.p, r.s);
          const wd = [r.M, r.C, r.k, r.k];
          const ref = qs8Conv2dRef(x, [r.C, r.H, r.W], wt, wd, attrs, out).data;
          return diff(qs8Conv2d(w, QS8_CONV_C4, x, [r.C, r.H, r.W], wt, wd, attrs, out).data, ref) === undefined;
        },
      ),
      { numRuns: 200 },
    );
  });
});
