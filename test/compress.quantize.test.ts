import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { quantizePerChannelInt8, dequantize, roundHalfEven, channelAxisFor, channelScale } from '../src/quant/int8.js';
import { SparrowError } from '../src/errors.js';
import { decodeModel } from '../src/onnx/proto.js';
import { weightTensors } from '../src/onnx/initializers.js';

const MIN_NORMAL_F32 = 2 ** -126;
const MIN_SUBNORMAL_F32 = 2 ** -149;

// ---- plain reference, written differently from the implementation (coordinates via strides) ----

function refRoundHalfEven(x: number): number {
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x);
}

/** Channel of flat index i along `axis` for C-order `dims`. */
function channelOf(i: number, dims: number[], axis: number): number {
  let stride = 1;
  for (let k = dims.length - 1; k > axis; k--) stride *= dims[k]!;
  return Math.floor(i / stride) % dims[axis]!;
}

/**
 * The spec without its two float32 edge rules (scale nudged up when max/127 is subnormal, down
 * when 127*scale would overflow): `ordinary[c]` says whether channel c is clear of both.
 */
function refQuantize(w: Float32Array, dims: number[], axis: number): { q: number[]; scales: number[]; ordinary: boolean[] } {
  const C = dims[axis]!;
  const maxAbs = new Array<number>(C).fill(0);
  w.forEach((v, i) => {
    const c = channelOf(i, dims, axis);
    maxAbs[c] = Math.max(maxAbs[c]!, Math.abs(v));
  });
  const scales = maxAbs.map((m) => (m === 0 ? 1 : Math.fround(m / 127)));
  const ordinary = maxAbs.map((m) => m === 0 || (m >= 127 * MIN_NORMAL_F32 && m <= 2 ** 127));
  const q = Array.from(w, (v, i) => {
    const r = refRoundHalfEven(v / scales[channelOf(i, dims, axis)]!);
    return Math.max(-127, Math.min(127, r)) + 0; // + 0 turns -0 into 0
  });
  return { q, scales, ordinary };
}

// ---- generators ----

const weightValue = fc.oneof(
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.float({ min: -1, max: 1, noNaN: true }) },
  { weight: 2, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }) }, // full range incl. subnormals, -0
  { weight: 1, arbitrary: fc.integer({ min: -300, max: 300 }).map((k) => k / 2) }, // exact halves
);

/** (dims, axis, w) with rank 1..4, each dim 1..5, some channels forced to all-zero. */
const weightCase = fc
  .tuple(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), fc.nat())
  .chain(([dims, a]) => {
    const n = dims.reduce((x, y) => x * y, 1);
    const axis = a % dims.length;
    return fc.record({
      dims: fc.constant(dims),
      axis: fc.constant(axis),
      values: fc.array(weightValue, { minLength: n, maxLength: n }),
      zeroChannel: fc.option(fc.nat({ max: dims[axis]! - 1 }), { nil: undefined }),
    });
  })
  .map(({ dims, axis, values, zeroChannel }) => {
    const w = Float32Array.from(values);
    if (zeroChannel !== undefined)
      w.forEach((_, i) => {
        if (channelOf(i, dims, axis) === zeroChannel) w[i] = 0;
      });
    return { dims, axis, w };
  });

describe('quantizePerChannelInt8 properties (fast-check)', () => {
  it('matches the plain reference exactly on every ordinary channel (127*2^-126 <= max|w| <= 2^127, or 0)', () => {
    fc.assert(
      fc.property(weightCase, ({ dims, axis, w }) => {
        const { q, scales } = quantizePerChannelInt8(w, dims, axis);
        const ref = refQuantize(w, dims, axis);
        for (let c = 0; c < scales.length; c++) {
          if (ref.ordinary[c]) expect(scales[c]).toBe(ref.scales[c]);
        }
        for (let i = 0; i < w.length; i++) {
          if (ref.ordinary[channelOf(i, dims, axis)]) expect(q[i]).toBe(ref.q[i]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('|dequant - w| <= scale/2 (plus float32 rounding of q*scale), scales finite and > 0', () => {
    fc.assert(
      fc.property(weightCase, ({ dims, axis, w }) => {
        const { q, scales } = quantizePerChannelInt8(w, dims, axis);
        expect(scales.length).toBe(dims[axis]);
        for (const s of scales) {
          expect(Number.isFinite(s)).toBe(true);
          expect(s).toBeGreaterThan(0);
        }
        const d = dequantize(q, scales, dims, axis);
        for (let i = 0; i < w.length; i++) {
          const s = scales[channelOf(i, dims, axis)]!;
          expect(Number.isNaN(d[i])).toBe(false);
          expect(Math.abs(d[i]! - w[i]!)).toBeLessThanOrEqual(s * (0.5 + 1e-5));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('max |q| == 127 in every nonzero channel (normal scale), never -128, zeros stay exactly 0, signs kept', () => {
    fc.assert(
      fc.property(weightCase, ({ dims, axis, w }) => {
        const { q, scales } = quantizePerChannelInt8(w, dims, axis);
        const C = dims[axis]!;
        const maxQ = new Array<number>(C).fill(0);
        const maxW = new Array<number>(C).fill(0);
        for (let i = 0; i < w.length; i++) {
          const c = channelOf(i, dims, axis);
          expect(q[i]).not.toBe(-128);
          expect(Math.abs(q[i]!)).toBeLessThanOrEqual(127);
          if (w[i] === 0) expect(q[i]).toBe(0);
          if (q[i] !== 0) expect(Math.sign(q[i]!)).toBe(Math.sign(w[i]!));
          maxQ[c] = Math.max(maxQ[c]!, Math.abs(q[i]!));
          maxW[c] = Math.max(maxW[c]!, Math.abs(w[i]!));
        }
        const d = dequantize(q, scales, dims, axis);
        for (let i = 0; i < w.length; i++) if (w[i] === 0) expect(Object.is(d[i], 0)).toBe(true);
        for (let c = 0; c < C; c++) {
          if (maxW[c] === 0) {
            expect(maxQ[c]).toBe(0);
            expect(scales[c]).toBe(1);
          } else if (maxW[c]! >= 127 * MIN_NORMAL_F32) expect(maxQ[c]).toBe(127);
          else expect(maxQ[c]).toBeGreaterThan(0); // subnormal-scale channel: range may be partly used
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('quantizePerChannelInt8 examples', () => {
  it('rounds half to even at exact .5 (scale exactly 1)', () => {
    const w = Float32Array.of(127, 0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 126.5, -126.5, 125.5);
    const { q, scales } = quantizePerChannelInt8(w, [1, w.length], 0); // one channel
    expect(scales[0]).toBe(1);
    expect(Array.from(q)).toEqual([127, 0, 2, 2, 4, 0, -2, -2, 126, -126, 126]);
  });

  it('rounds half to even at exact .5 (scale exactly 2)', () => {
    const w = Float32Array.of(-254, 1, 3, 5, -7);
    const { q, scales } = quantizePerChannelInt8(w, [1, 5], 0);
    expect(scales[0]).toBe(2);
    expect(Array.from(q)).toEqual([-127, 0, 2, 2, -4]);
  });

  it('roundHalfEven', () => {
    // 1-D with axis 0 means one channel per element: use (1, n) for a single channel below.
    const cases: Array<[number, number]> = [
      [0.5, 0],
      [1.5, 2],
      [2.5, 2],
      [-0.5, 0],
      [-1.5, -2],
      [-2.5, -2],
      [2.4999999999999996, 2],
      [2.5000000000000004, 3],
      [-3.5, -4],
      [7, 7],
      [-7.2, -7],
      [1e20 + 0.5, 1e20],
    ];
    for (const [x, r] of cases) expect(roundHalfEven(x) + 0).toBe(r); // + 0: -0 and 0 are the same integer
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), (x) => {
        expect(roundHalfEven(x) + 0).toBe(refRoundHalfEven(x) + 0);
      }),
    );
  });

  it('Conv (Cout,Cin,kh,kw) along axis 0: one scale per output channel', () => {
    // dims (2,1,1,2): channel 0 = [127, -63.5] (scale 1), channel 1 = [63.5, 31.75] (scale 0.5)
    const w = Float32Array.of(127, -63.5, 63.5, 31.75);
    const { q, scales } = quantizePerChannelInt8(w, [2, 1, 1, 2], 0);
    expect(Array.from(scales)).toEqual([1, 0.5]);
    expect(Array.from(q)).toEqual([127, -64, 127, 64]); // -63.5 -> -64 (even), 63.5 -> 64 (even)
  });

  it('MatMul (K,N) along axis 1: one scale per column', () => {
    // dims (2,3): columns [4, -1], [0, 0], [0.5, -2]
    const w = Float32Array.of(4, 0, 0.5, -1, 0, -2);
    const { q, scales } = quantizePerChannelInt8(w, [2, 3], 1);
    expect(Array.from(scales)).toEqual([Math.fround(4 / 127), 1, Math.fround(2 / 127)]);
    expect(Array.from(q)).toEqual([127, 0, 32, -32, 0, -127]);
    expect(Array.from(dequantize(q, scales, [2, 3], 1))[1]).toBe(0);
  });

  it('all-zero tensor: scales 1, q 0, no NaN', () => {
    const { q, scales } = quantizePerChannelInt8(new Float32Array(12), [3, 4], 0);
    expect(Array.from(scales)).toEqual([1, 1, 1]);
    expect(q.every((v) => v === 0)).toBe(true);
    expect(Array.from(dequantize(q, scales, [3, 4], 0)).every((v) => Object.is(v, 0))).toBe(true);
  });

  it('-0 and tiny subnormal channels stay sane', () => {
    const tiny = 190 * MIN_SUBNORMAL_F32; // max/127 would round to a scale that forces clamping
    const w = Float32Array.of(-0, tiny, -tiny, MIN_SUBNORMAL_F32);
    const { q, scales } = quantizePerChannelInt8(w, [1, 4], 0);
    const s = scales[0]!;
    expect(s).toBeGreaterThan(0);
    expect(tiny / s).toBeLessThanOrEqual(127.5);
    expect(Object.is(q[0], 0)).toBe(true);
    const d = dequantize(q, scales, [1, 4], 0);
    for (let i = 0; i < 4; i++) expect(Math.abs(d[i]! - w[i]!)).toBeLessThanOrEqual(s / 2);
    expect(channelScale(MIN_SUBNORMAL_F32)).toBe(MIN_SUBNORMAL_F32);
    expect(channelScale(0)).toBe(1);
  });

  it('largest float32 values do not overflow, in q or in dequantize', () => {
    const max = 3.4028234663852886e38;
    const w = Float32Array.of(max, -max, max / 4);
    const { q, scales } = quantizePerChannelInt8(w, [1, 3], 0);
    expect(Number.isFinite(scales[0]!)).toBe(true);
    expect(Array.from(q)).toEqual([127, -127, 32]); // 31.75 -> 32
    const d = dequantize(q, scales, [1, 3], 0);
    for (let i = 0; i < 3; i++) {
      expect(Number.isFinite(d[i]!)).toBe(true);
      expect(Math.abs(d[i]! - w[i]!)).toBeLessThanOrEqual(scales[0]! / 2);
    }
  });

  it('channelAxisFor', () => {
    expect(channelAxisFor('Conv', [16, 3, 3, 3])).toBe(0);
    expect(channelAxisFor('Gemm', [10, 64], true)).toBe(0);
    expect(channelAxisFor('Gemm', [64, 10], false)).toBe(1);
    expect(channelAxisFor('MatMul', [256, 10])).toBe(1);
    expect(channelAxisFor('MatMul', [16, 4, 4, 10])).toBe(3);
  });

  it('bad arguments -> SparrowError invalid_argument', () => {
    const bad: Array<() => unknown> = [
      () => quantizePerChannelInt8(new Float32Array(5), [2, 3], 0),
      () => quantizePerChannelInt8(new Float32Array(6), [2, 3], 2),
      () => quantizePerChannelInt8(new Float32Array(6), [2, 3], -1),
      () => quantizePerChannelInt8(new Float32Array(1), [], 0),
      () => quantizePerChannelInt8(Float32Array.of(1, NaN), [2], 0),
      () => quantizePerChannelInt8(Float32Array.of(1, Infinity), [2], 0),
      () => dequantize(new Int8Array(6), new Float32Array(3), [2, 3], 0),
    ];
    for (const f of bad) {
      expect(f).toThrowError(SparrowError);
      try {
        f();
      } catch (e) {
        expect((e as SparrowError).code).toBe('invalid_argument');
      }
    }
  });
});

describe('on real ResNet-20 weights (examples/models/resnet20-cifar10.onnx)', () => {
  it('every Conv/Gemm weight quantizes within scale/2 and uses the full int8 range', () => {
    const model = decodeModel(new Uint8Array(readFileSync('examples/models/resnet20-cifar10.onnx')));
    const weights = weightTensors(model);
    expect(weights).toHaveLength(20); // 19 Conv + the Gemm
    for (const t of weights) {
      const axis = channelAxisFor(t.op, t.dims, t.transB);
      const { q, scales } = quantizePerChannelInt8(t.data, t.dims, axis);
      const d = dequantize(q, scales, t.dims, axis);
      let maxErrOverScale = 0,
        maxQ = 0;
      for (let i = 0; i < d.length; i++) {
        maxErrOverScale = Math.max(maxErrOverScale, Math.abs(d[i]! - t.data[i]!) / scales[channelOf(i, t.dims, axis)]!);
        maxQ = Math.max(maxQ, Math.abs(q[i]!));
      }
      expect(maxErrOverScale, t.name).toBeLessThanOrEqual(0.5 + 1e-5);
      expect(scales.length).toBe(t.dims[axis]);
      expect(maxQ, t.name).toBe(127);
    }
  });
});
