// The quantization ops of src/ops/ref/quant.ts against onnxruntime-node, bit for bit: each
// property builds a one-node model (src/onnx/build.ts), runs it through Sparrow's reference
// engine and through ort-node, and compares every output exactly (float outputs by their bits).
// Shapes, types, granularity, scales, zero points and data are random (fast-check); data include
// NaN, ±Infinity, exact halves (ties) and values far outside the quantized range. Cases
// onnxruntime refuses (per-row zero points of A, distinct per-channel weight zero points, mixed
// int8/uint8 combinations it has no kernel for) are checked against a plain TS oracle (direct
// loops, no im2col). Named cases keep the findings: onnxruntime requantizes in float32 (the ONNX
// reference implementation's float64 gives other integers at rare ties), a NaN quantizes to the
// type's minimum, DynamicQuantizeLinear leaves a NaN out of the range.
//
// onnxruntime's results are platform arithmetic: these exact comparisons hold for its x86-64 CPU
// kernels (MLAS). On arm64 QLinearMatMul requantizes in fixed point (round half up), and on x86
// without VNNI its u8·s8 products saturate in int16 pairs (vpmaddubsw) for |w| > 64, so weights
// are kept within ±64 there.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSparrowError } from '../src/errors.js';
import { buildModel, type BuildModel, type BuildNode } from '../src/onnx/build.js';
import { resolveOp } from '../src/ops/registry.js';
import { MAX_OPSET } from '../src/ops/ref/index.js';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import { lcg } from './helpers/tensors.js';

const X64 = process.arch === 'x64';
const VNNI = (() => {
  try {
    return /\b(avx512_vnni|avx_vnni)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
})();
/** int8 weights' range for products with onnxruntime (see the header) */
const W8 = VNNI ? 128 : 64;

const fr = Math.fround;
const RANGE: Record<string, [number, number]> = { int8: [-128, 127], uint8: [0, 255] };

// ---------------------------------------------------------------------------------------------
// running a model both ways

type Feeds = Record<string, Tensor>;

async function runOrt(m: BuildModel, feeds: Feeds): Promise<Record<string, Tensor>> {
  const e = await createOrtEngine('ort-node', buildModel(m));
  try {
    return await e.run(feeds);
  } finally {
    await e.dispose();
  }
}

async function runRef(m: BuildModel, feeds: Feeds): Promise<Record<string, Tensor>> {
  const s = await Session.fromOnnx(buildModel(m), { engine: 'reference' });
  return s.run(feeds);
}

/** Elements as numbers; float32 as their bit patterns (so -0, NaN payloads and 1-ulp differences count). */
function bits(t: Tensor): number[] {
  if (t.data instanceof Float32Array) return Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));
  return Array.from(t.data as ArrayLike<number>);
}

function expectSame(got: Record<string, Tensor>, want: Record<string, Tensor>, label: string): void {
  expect(Object.keys(got).sort(), label).toEqual(Object.keys(want).sort());
  for (const name of Object.keys(want)) {
    const g = got[name]!,
      w = want[name]!;
    expect(g.dtype, `${label}: ${name} dtype`).toBe(w.dtype);
    expect(g.dims, `${label}: ${name} dims`).toEqual(w.dims);
    const gb = bits(g),
      wb = bits(w);
    const i = gb.findIndex((v, k) => v !== wb[k]);
    if (i >= 0) {
      const gv = (g.data as ArrayLike<number>)[i],
        wv = (w.data as ArrayLike<number>)[i];
      throw new Error(`${label}: ${name}[${i}] is ${gv}, onnxruntime ${wv} (${gb.filter((v, k) => v !== wb[k]).length} differ)`);
    }
  }
}

async function sameAsOrt(m: BuildModel, feeds: Feeds, label = ''): Promise<Record<string, Tensor>> {
  const [got, want] = await Promise.all([runRef(m, feeds), runOrt(m, feeds)]);
  expectSame(got, want, label || JSON.stringify(m.nodes[0]!.attrs ?? {}));
  return got;
}

// ---------------------------------------------------------------------------------------------
// tensors

const tensor = (dtype: TensorDType, dims: number[], values: ArrayLike<number>): Tensor => {
  const n = dims.reduce((a, b) => a * b, 1);
  const data =
    dtype === 'float32'
      ? new Float32Array(n)
      : dtype === 'int32'
        ? new Int32Array(n)
        : dtype === 'int8'
          ? new Int8Array(n)
          : new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = values[i]!;
  return { dtype, dims, data };
};
const f32 = (dims: number[], v: ArrayLike<number>) => tensor('float32', dims, v);
const ints = (dtype: TensorDType, dims: number[], n: number, rnd: () => number, lo: number, hi: number) =>
  tensor(
    dtype,
    dims,
    Array.from({ length: n }, () => lo + Math.floor(rnd() * (hi - lo + 1))),
  );
const count = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** A positive float32 scale: a power of two (exact ties) or any value in [2^-8, 2^2). */
function scaleOf(rnd: () => number, pow2: boolean): number {
  const e = Math.floor(rnd() * 10) - 8;
  return pow2 ? 2 ** e : fr(2 ** e * (1 + rnd()));
}

/** Float data around scale s: exact halves, NaN, ±Infinity, ±0, huge and ordinary values. */
function floatData(n: number, rnd: () => number, s: () => number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.05) x[i] = NaN;
    else if (r < 0.08) x[i] = Infinity;
    else if (r < 0.11) x[i] = -Infinity;
    else if (r < 0.35)
      x[i] = (Math.floor(rnd() * 600) - 300 + 0.5) * s(); // a tie when s is the element's power-of-2 scale
    else if (r < 0.4) x[i] = (rnd() < 0.5 ? -1 : 1) * 1e30;
    else if (r < 0.43) x[i] = rnd() < 0.5 ? -0 : 0;
    else x[i] = (rnd() - 0.5) * 600 * s();
  }
  return x;
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear / DequantizeLinear

interface QdqCase {
  opset: number;
  dims: number[];
  mode: 'tensor' | 'axis' | 'blocked';
  axis: number;
  block: number;
  qtype: 'int8' | 'uint8';
  zp: 'none' | 'given' | 'output_dtype';
  pow2: boolean;
  seed: number;
}

const qdqCase = fc
  .record({
    opset: fc.constantFrom(10, 13, 19, 21, 23, MAX_OPSET),
    dims: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
    mode: fc.constantFrom('tensor', 'axis', 'blocked'),
    axisPick: fc.nat(),
    negAxis: fc.boolean(),
    block: fc.integer({ min: 1, max: 4 }),
    qtype: fc.constantFrom('int8', 'uint8'),
    zp: fc.constantFrom('none', 'given', 'output_dtype'),
    pow2: fc.boolean(),
    seed: fc.nat(),
  })
  .map((c): QdqCase => {
    let mode = c.mode as QdqCase['mode'];
    if (mode === 'blocked' && c.opset < 21) mode = 'axis';
    if (mode === 'axis' && c.opset < 13 && c.dims.length < 2) mode = 'tensor';
    let axis = mode === 'axis' && c.opset < 13 ? 1 : c.axisPick % c.dims.length; // opset 10: axis 1, no attribute
    if (c.negAxis && c.opset >= 13) axis -= c.dims.length;
    let zp = c.zp as QdqCase['zp'];
    if (zp === 'output_dtype' && c.opset < 21) zp = 'given';
    const qtype = zp === 'none' ? 'uint8' : (c.qtype as QdqCase['qtype']);
    // a blocked scale of shape [1] is a one-element vector, which onnxruntime takes as per tensor (block_size must be 0)
    if (mode === 'blocked' && c.dims.length === 1 && Math.ceil(c.dims[0]! / c.block) === 1) mode = 'tensor';
    return { opset: c.opset, dims: c.dims, mode, axis, block: c.block, qtype, zp, pow2: c.pow2, seed: c.seed };
  });

/** Scale (and zero point) dims of a QDQ case. */
function paramDims(c: QdqCase): number[] {
  const a = c.axis < 0 ? c.axis + c.dims.length : c.axis;
  if (c.mode === 'tensor') return [];
  if (c.mode === 'axis') return [c.dims[a]!];
  return c.dims.map((d, i) => (i === a ? Math.ceil(d / c.block) : d));
}

/** Blocked along an axis with dims after it (onnxruntime's scalar path). */
function blockedInner(c: QdqCase): boolean {
  const a = c.axis < 0 ? c.axis + c.dims.length : c.axis;
  return c.mode === 'blocked' && count(c.dims.slice(a + 1)) > 1;
}

function qdqAttrs(c: QdqCase): Record<string, number> {
  const attrs: Record<string, number> = {};
  if (c.opset >= 13 && c.mode !== 'tensor') attrs.axis = c.axis;
  if (c.mode === 'blocked') attrs.block_size = c.block;
  return attrs;
}

describe.runIf(X64)('QuantizeLinear and DequantizeLinear = onnxruntime, bit for bit', () => {
  it('QuantizeLinear: random shapes, granularity, types, scales; NaN, ±Inf, ties, saturation', async () => {
    await fc.assert(
      fc.asyncProperty(qdqCase, async (c) => {
        const rnd = lcg(c.seed);
        const pd = paramDims(c);
        const scales = Array.from({ length: count(pd) }, () => scaleOf(rnd, c.pow2));
        const x = floatData(count(c.dims), rnd, () => scales[Math.floor(rnd() * scales.length)]!);
        if (blockedInner(c)) {
          // onnxruntime's blocked path along a non-last axis converts x / scale to int32 without a
          // range check: NaN, ±Inf and |x / scale| ≥ 2^31 give its minimum (see the named case)
          for (let i = 0; i < x.length; i++) if (!(Math.abs(x[i]!) < 1e6)) x[i] = (rnd() - 0.5) * 2e3 * scales[0]!;
        }
        const [lo, hi] = RANGE[c.qtype]!;
        const inits: Record<string, Tensor> = { s: f32(pd, scales) };
        const inputs = ['x', 's'];
        if (c.zp === 'given') {
          inits.z = ints(c.qtype, pd, count(pd), rnd, lo, hi);
          inputs.push('z');
        }
        const attrs = qdqAttrs(c);
        if (c.zp === 'output_dtype') attrs.output_dtype = c.qtype === 'int8' ? 3 : 2;
        const m: BuildModel = {
          nodes: [{ op: 'QuantizeLinear', inputs, outputs: ['y'], attrs }],
          inputs: [{ name: 'x', dtype: 'float32', dims: c.dims }],
          outputs: [{ name: 'y', dtype: c.qtype, dims: c.dims }],
          initializers: inits,
          opsets: { '': c.opset },
        };
        await sameAsOrt(m, { x: f32(c.dims, x) }, JSON.stringify(c));
      }),
      { numRuns: 150 },
    );
  });

  it('DequantizeLinear: int8, uint8 and int32 inputs, per tensor, per axis, blocked', async () => {
    const dqCase = fc.tuple(qdqCase, fc.boolean()).map(([c, i32]) =>
      // int32: per tensor or per axis, no zero point (onnxruntime requires none or 0)
      i32 && c.mode !== 'blocked' ? { ...c, int32: true, zp: 'none' as const } : { ...c, int32: false },
    );
    await fc.assert(
      fc.asyncProperty(dqCase, async (c) => {
        const rnd = lcg(c.seed);
        const pd = paramDims(c);
        const xtype: TensorDType = c.int32 ? 'int32' : c.qtype;
        const [lo, hi] = c.int32 ? [-(2 ** 31), 2 ** 31 - 1] : RANGE[c.qtype]!;
        const inits: Record<string, Tensor> = {
          s: f32(
            pd,
            Array.from({ length: count(pd) }, () => scaleOf(rnd, c.pow2)),
          ),
        };
        const inputs = ['x', 's'];
        if (c.zp !== 'none') {
          inits.z = ints(xtype, pd, count(pd), rnd, lo, hi);
          inputs.push('z');
        }
        const m: BuildModel = {
          nodes: [{ op: 'DequantizeLinear', inputs, outputs: ['y'], attrs: qdqAttrs(c) }],
          inputs: [{ name: 'x', dtype: xtype, dims: c.dims }],
          outputs: [{ name: 'y', dtype: 'float32', dims: c.dims }],
          initializers: inits,
          opsets: { '': c.opset },
        };
        await sameAsOrt(m, { x: ints(xtype, c.dims, count(c.dims), rnd, lo, hi) }, JSON.stringify(c));
      }),
      { numRuns: 100 },
    );
  });

  it('named: blocked along a non-last axis, +Inf and 1e30 saturate to the maximum (onnxruntime: its minimum)', async () => {
    // onnxruntime's BlockedQuantizeLinear::opNotLastAxis computes static_cast<int32_t>(nearbyint(x / s)),
    // undefined for values outside int32 (x86: INT32_MIN), then clamps: +Inf and 1e30 become 0 for
    // uint8. Sparrow saturates as ONNX specifies and as onnxruntime's per-tensor / last-axis path does.
    const x = Float32Array.of(Infinity, 1e30, -Infinity, -1e30, 2.5, 300);
    const blocked: BuildModel = {
      nodes: [{ op: 'QuantizeLinear', inputs: ['x', 's'], outputs: ['y'], attrs: { axis: 0, block_size: 1 } }],
      inputs: [{ name: 'x', dtype: 'float32', dims: [2, 3] }],
      outputs: [{ name: 'y', dtype: 'uint8', dims: [2, 3] }],
      initializers: { s: f32([2, 3], [1, 1, 1, 1, 1, 1]) },
      opsets: { '': 21 },
    };
    const perTensor: BuildModel = {
      ...blocked,
      nodes: [{ op: 'QuantizeLinear', inputs: ['x', 's'], outputs: ['y'] }],
      initializers: { s: f32([], [1]) },
    };
    const feeds = { x: f32([2, 3], x) };
    const got = await runRef(blocked, feeds);
    expect(Array.from(got.y!.data as Uint8Array)).toEqual([255, 255, 0, 0, 2, 255]);
    expectSame(got, await runOrt(perTensor, feeds), 'per tensor');
  });

  it('named: NaN → the type minimum, ±Inf saturate, halves to even, -0 → zero point (int8 and uint8, zp 0 and 3)', async () => {
    const x = Float32Array.of(NaN, Infinity, -Infinity, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -0, 127.5, 128.5, -128.5, 254.5, 255.5, 1e10);
    const want: Record<string, number[]> = {
      'int8 0': [-128, 127, -128, 0, 2, 2, 0, -2, -2, 0, 127, 127, -128, 127, 127, 127],
      'int8 3': [-128, 127, -128, 3, 5, 5, 3, 1, 1, 3, 127, 127, -125, 127, 127, 127],
      'uint8 0': [0, 255, 0, 0, 2, 2, 0, 0, 0, 0, 128, 128, 0, 254, 255, 255],
      'uint8 3': [0, 255, 0, 3, 5, 5, 3, 1, 1, 3, 131, 131, 0, 255, 255, 255],
    };
    for (const qtype of ['int8', 'uint8'] as const) {
      for (const z of [0, 3]) {
        const m: BuildModel = {
          nodes: [{ op: 'QuantizeLinear', inputs: ['x', 's', 'z'], outputs: ['y'] }],
          inputs: [{ name: 'x', dtype: 'float32', dims: [x.length] }],
          outputs: [{ name: 'y', dtype: qtype, dims: [x.length] }],
          initializers: { s: f32([], [1]), z: tensor(qtype, [], [z]) },
          opsets: { '': 21 },
        };
        const got = await sameAsOrt(m, { x: f32([x.length], x) });
        expect(Array.from(got.y!.data as Int8Array), `${qtype} zp ${z}`).toEqual(want[`${qtype} ${z}`]);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// DynamicQuantizeLinear

describe.runIf(X64)('DynamicQuantizeLinear = onnxruntime, bit for bit', () => {
  const dqlModel = (n: number): BuildModel => ({
    nodes: [{ op: 'DynamicQuantizeLinear', inputs: ['x'], outputs: ['y', 'y_scale', 'y_zero_point'] }],
    inputs: [{ name: 'x', dtype: 'float32', dims: [n] }],
    outputs: [
      { name: 'y', dtype: 'uint8', dims: [n] },
      { name: 'y_scale', dtype: 'float32', dims: [] },
      { name: 'y_zero_point', dtype: 'uint8', dims: [] },
    ],
    opsets: { '': 11 },
  });

  it('random data (offsets, spreads, infinities) and constant data', async () => {
    const random = fc.record({
      n: fc.integer({ min: 0, max: 200 }),
      spread: fc.double({ min: -20, max: 20, noNaN: true }),
      offset: fc.double({ min: -1, max: 1, noNaN: true }),
      inf: fc.boolean(),
      seed: fc.nat(),
    });
    const constant = fc.record({
      n: fc.integer({ min: 1, max: 70 }),
      value: fc.constantFrom(0, -0, 1, -1, 3.5, -7.25, 1e-30, -1e-30, 1e30, 3e38, -3e38, 255, 0.1, Infinity, -Infinity),
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(random, constant), async (c) => {
        let x: Float32Array;
        if ('value' in c) x = new Float32Array(c.n).fill(c.value);
        else {
          const rnd = lcg(c.seed),
            s = 2 ** c.spread;
          x = Float32Array.from({ length: c.n }, () => (rnd() - 0.5 + c.offset) * s);
          if (c.inf && c.n > 0) x[Math.floor(rnd() * c.n)] = rnd() < 0.5 ? Infinity : -Infinity;
        }
        await sameAsOrt(dqlModel(x.length), { x: f32([x.length], x) }, JSON.stringify(c));
      }),
      { numRuns: 150 },
    );
  });

  it('named: a NaN is left out of the range and quantizes to 0 (inside onnxruntime vector loop)', async () => {
    const x = Float32Array.from({ length: 40 }, (_, i) => (i === 17 ? NaN : i - 10));
    const got = await sameAsOrt(dqlModel(40), { x: f32([40], x) });
    expect(got.y_scale!.data[0]).toBe(fr(39 / 255)); // range [-10, 29]
    expect(got.y_zero_point!.data[0]).toBe(65);
    expect(got.y!.data[17]).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// plain TS oracles (direct loops)

function rne(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
/** onnxruntime's requantization of an int32 accumulator (float32 steps), independent of src/quant/int8.ts. */
function requantOracle(acc: number, sa: number, sb: number, sy: number, zp: number, t: string): number {
  const [lo, hi] = RANGE[t]!;
  const v = fr(fr(acc) * fr(fr(sa * sb) / sy));
  if (Number.isNaN(v)) return lo;
  return Math.min(hi, Math.max(lo, rne(v) + zp));
}

interface Conv2d {
  x: ArrayLike<number>;
  xDims: number[]; // N, C, H, W
  w: ArrayLike<number>;
  wDims: number[]; // M, C/g, KH, KW
  xz: number;
  wz: ArrayLike<number>; // per output channel
  bias?: ArrayLike<number>;
  group: number;
  strides: number[];
  dilations: number[];
  pads: number[]; // t, l, b, r
}
/** int32 accumulators of conv(x − xz, w − wz) + bias by direct summation: [N, M, OH, OW]. */
function convAccOracle(c: Conv2d): { acc: number[]; dims: number[] } {
  const [N, C, H, W] = c.xDims as [number, number, number, number];
  const [M, Cg, KH, KW] = c.wDims as [number, number, number, number];
  const [sh, sw] = c.strides as [number, number],
    [dh, dw] = c.dilations as [number, number];
  const [pt, pl, pb, pr] = c.pads as [number, number, number, number];
  const OH = Math.floor((H + pt + pb - ((KH - 1) * dh + 1)) / sh) + 1;
  const OW = Math.floor((W + pl + pr - ((KW - 1) * dw + 1)) / sw) + 1;
  const Mg = M / c.group;
  const acc: number[] = [];
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let s = c.bias ? c.bias[m]! : 0;
          const g = Math.floor(m / Mg);
          for (let ci = 0; ci < Cg; ci++)
            for (let i = 0; i < KH; i++)
              for (let j = 0; j < KW; j++) {
                const ih = oh * sh - pt + i * dh,
                  iw = ow * sw - pl + j * dw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const xv = c.x[((n * C + g * Cg + ci) * H + ih) * W + iw]! - c.xz;
                s += xv * (c.w[((m * Cg + ci) * KH + i) * KW + j]! - c.wz[m]!);
              }
          acc.push(s | 0);
        }
  return { acc, dims: [N, M, OH, OW] };
}

/** int32 accumulators of (a − az[row]) · (b − bz[col]) for 2-D a [M, K], b [K, N]. */
function matmulAccOracle(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  K: number,
  N: number,
  az: ArrayLike<number>,
  bz: ArrayLike<number>,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (a[i * K + k]! - az[i]!) * (b[k * N + j]! - bz[j]!);
      out.push(s | 0);
    }
  return out;
}

/** An output scale that spreads |acc| (its 90th percentile ↦ ~100 levels) over the output range. */
function outputScale(acc: readonly number[], sa: number, sb: number, rnd: () => number): number {
  const mags = acc.map(Math.abs).sort((p, q) => p - q);
  const q = Math.max(1, mags[Math.floor(0.9 * (mags.length - 1))] ?? 1);
  return fr(((sa * sb * q) / 100) * 2 ** (rnd() * 2 - 1));
}

// ---------------------------------------------------------------------------------------------
// QLinearMatMul / MatMulInteger

/** the (a, b) / (x, w) type pairs onnxruntime has kernels for; the output takes a's / x's type */
const MM_TYPES: ReadonlyArray<readonly [TensorDType, TensorDType]> = [
  ['uint8', 'uint8'],
  ['uint8', 'int8'],
  ['int8', 'int8'],
];

const mmCase = fc.record({
  batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
  aOnes: fc.nat(), // which batch dims of a are 1 (broadcast)
  bDrop: fc.integer({ min: 0, max: 2 }), // leading batch dims b lacks
  M: fc.integer({ min: 1, max: 6 }),
  K: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constant(1100)),
  N: fc.integer({ min: 1, max: 6 }),
  types: fc.constantFrom(...MM_TYPES),
  bPerColumn: fc.boolean(),
  bParam2d: fc.boolean(),
  bConst: fc.boolean(),
  extreme: fc.boolean(), // operands near the top of their range: |acc| > 2^24 with K = 1100
  seed: fc.nat(),
});

type MmCase = typeof mmCase extends fc.Arbitrary<infer T> ? T : never;

function mmOperands(c: MmCase) {
  const rnd = lcg(c.seed);
  const aBatch = c.batch.map((d, i) => ((c.aOnes >> i) & 1 ? 1 : d));
  const bBatch = c.batch.slice(Math.min(c.bDrop, c.batch.length));
  const [at, bt] = c.types;
  const aDims = [...aBatch, c.M, c.K],
    bDims = [...bBatch, c.K, c.N];
  const span = (t: string, w: boolean): [number, number] => {
    const [lo, hi] = RANGE[t]!;
    const [l, h] = w && t === 'int8' ? [-W8, W8 - 1] : [lo, hi];
    return c.extreme ? [h - 8, h] : [l, h];
  };
  const [alo, ahi] = span(at, false),
    [blo, bhi] = span(bt, true);
  const a = ints(at, aDims, count(aDims), rnd, alo, ahi),
    b = ints(bt, bDims, count(bDims), rnd, blo, bhi);
  const zp = (t: string) => (c.extreme ? RANGE[t]![0]! : RANGE[t]![0]! + Math.floor(rnd() * 256));
  const az = zp(at);
  // per-column b parameters: [N] or [1, N] for a 2-D b, [..batch, 1, N] otherwise (what onnxruntime takes)
  const pdims = !c.bPerColumn ? [] : bDims.length === 2 ? (c.bParam2d ? [1, c.N] : [c.N]) : [...bBatch, 1, c.N];
  const bz = Array.from({ length: count(pdims) }, () => zp(bt));
  return { rnd, at, bt, aDims, bDims, a, b, az, bz, pdims };
}

/** acc of a batched matmul for the output-scale choice (batch broadcast ignored: first batch of each). */
function firstAccs(a: Tensor, b: Tensor, M: number, K: number, N: number, az: number, bz: number[]): number[] {
  const bzs = bz.length === 1 ? new Array<number>(N).fill(bz[0]!) : bz;
  return matmulAccOracle(a.data as ArrayLike<number>, b.data as ArrayLike<number>, M, K, N, new Array<number>(M).fill(az), bzs);
}

describe.runIf(X64)('QLinearMatMul and MatMulInteger = onnxruntime, bit for bit', () => {
  it('QLinearMatMul (opsets 10 and 21): batch broadcast, per-tensor and per-column b, u8·u8, u8·s8, s8·s8', async () => {
    await fc.assert(
      fc.asyncProperty(mmCase, fc.constantFrom(10, 21), async (c, opset) => {
        const { rnd, at, bt, aDims, bDims, a, b, az, bz, pdims } = mmOperands(c);
        const as = scaleOf(rnd, false),
          bsN = Array.from({ length: count(pdims) }, () => scaleOf(rnd, false));
        const ys = outputScale(firstAccs(a, b, c.M, c.K, c.N, az, bz.slice(0, c.N)), as, Math.max(...bsN), rnd);
        const yz = RANGE[at]![0]! + Math.floor(rnd() * 256);
        const inits: Record<string, Tensor> = {
          as: f32([], [as]),
          az: tensor(at, [], [az]),
          bs: f32(pdims, bsN),
          bz: tensor(bt, pdims, bz),
          ys: f32([], [ys]),
          yz: tensor(at, [], [yz]),
        };
        const feeds: Feeds = { a };
        if (c.bConst) inits.b = b;
        else feeds.b = b;
        const m: BuildModel = {
          nodes: [{ op: 'QLinearMatMul', inputs: ['a', 'as', 'az', 'b', 'bs', 'bz', 'ys', 'yz'], outputs: ['y'] }],
          inputs: [{ name: 'a', dtype: at, dims: aDims }, ...(c.bConst ? [] : [{ name: 'b', dtype: bt, dims: bDims }])],
          outputs: [{ name: 'y', dtype: at, dims: null }],
          initializers: inits,
          opsets: { '': opset },
        };
        await sameAsOrt(m, feeds, JSON.stringify({ ...c, opset }));
      }),
      { numRuns: 120 },
    );
  });

  it('MatMulInteger: per-tensor a zero point, per-tensor or per-column b zero point, with and without zero points', async () => {
    await fc.assert(
      fc.asyncProperty(mmCase, fc.boolean(), async (c, withZp) => {
        const { at, bt, aDims, bDims, a, b, az, bz, pdims } = mmOperands(c);
        const m: BuildModel = {
          nodes: [{ op: 'MatMulInteger', inputs: withZp ? ['a', 'b', 'az', 'bz'] : ['a', 'b'], outputs: ['y'] }],
          inputs: [
            { name: 'a', dtype: at, dims: aDims },
            { name: 'b', dtype: bt, dims: bDims },
          ],
          outputs: [{ name: 'y', dtype: 'int32', dims: null }],
          initializers: withZp ? { az: tensor(at, [], [az]), bz: tensor(bt, pdims, bz) } : {},
          opsets: { '': 10 },
        };
        await sameAsOrt(m, { a, b }, JSON.stringify(c));
      }),
      { numRuns: 80 },
    );
  });

  it('named: 1-D operands (numpy.matmul promotion) in QLinearMatMul and MatMulInteger', async () => {
    const shapes: Array<[number[], number[]]> = [
      [[3], [3, 2]],
      [[2, 3], [3]],
      [[3], [3]],
      [[2, 2, 3], [3]],
      [[3], [2, 3, 2]],
    ];
    for (const [aDims, bDims] of shapes) {
      const a = tensor(
          'uint8',
          aDims,
          Array.from({ length: count(aDims) }, (_, i) => 10 + i * 7),
        ),
        b = tensor(
          'uint8',
          bDims,
          Array.from({ length: count(bDims) }, (_, i) => 200 - i * 11),
        );
      const io = {
        inputs: [
          { name: 'a', dtype: 'uint8' as const, dims: aDims },
          { name: 'b', dtype: 'uint8' as const, dims: bDims },
        ],
        opsets: { '': 21 },
      };
      await sameAsOrt(
        {
          ...io,
          nodes: [{ op: 'QLinearMatMul', inputs: ['a', 'as', 'az', 'b', 'bs', 'bz', 'ys', 'yz'], outputs: ['y'] }],
          outputs: [{ name: 'y', dtype: 'uint8', dims: null }],
          initializers: {
            as: f32([], [0.05]),
            az: tensor('uint8', [], [3]),
            bs: f32([], [0.02]),
            bz: tensor('uint8', [], [100]),
            ys: f32([], [0.3]),
            yz: tensor('uint8', [], [5]),
          },
        },
        { a, b },
        `QLinearMatMul ${JSON.stringify([aDims, bDims])}`,
      );
      await sameAsOrt(
        {
          ...io,
          nodes: [{ op: 'MatMulInteger', inputs: ['a', 'b', 'az', 'bz'], outputs: ['y'] }],
          outputs: [{ name: 'y', dtype: 'int32', dims: null }],
          initializers: { az: tensor('uint8', [], [3]), bz: tensor('uint8', [], [100]) },
        },
        { a, b },
        `MatMulInteger ${JSON.stringify([aDims, bDims])}`,
      );
    }
  });

  it('named: requantization rounds fround(acc) · fround(sa·sb/sy) in float32 (ONNX reference: float64)', async () => {
    // y = acc · 2^-20 with acc above 2^24: float32(acc) is a tie or crosses one. onnxruntime:
    // [16, 18, 18, 20, 20, 22]; the ONNX reference implementation (float64) gives [17, 17, 19, 19, 21, 21].
    // sa·sb/sy = 0.1·0.7/3000.3: float32 multiplier vs float64: onnxruntime [4, 18, 32, 46, 60, 68],
    // float64 [3, 17, 31, 45, 59, 69]. sy = 3e6 with acc > 2^24: rounding acc to float32 first matters.
    const cases: Array<[number, number, number, number[], number[]]> = [
      [2 ** -10, 2 ** -10, 1, [17301505, 18350079, 19398657, 20447231, 21495809, 22544383], [16, 18, 18, 20, 20, 22]],
      [fr(0.1), fr(0.7), fr(3000.3), [150015, 750075, 1350135, 1950195, 2550255, 2936008], [4, 18, 32, 46, 60, 68]],
      [fr(0.1), fr(0.7), fr(3e6), [21428573, 64285710, 64285711], [0, 2, 2]],
    ];
    for (const [sa, sb, sy, accs, want] of cases) {
      // a row of 255s (and a remainder) times a column of ones gives acc exactly
      const K = Math.max(...accs.map((s) => Math.ceil(s / 255)));
      const a = new Uint8Array(accs.length * K);
      accs.forEach((s, i) => {
        for (let k = 0, r = s; k < K; k++, r -= Math.min(255, r)) a[i * K + k] = Math.min(255, r);
      });
      const m: BuildModel = {
        nodes: [{ op: 'QLinearMatMul', inputs: ['a', 'as', 'az', 'b', 'bs', 'bz', 'ys', 'yz'], outputs: ['y'] }],
        inputs: [{ name: 'a', dtype: 'uint8', dims: [accs.length, K] }],
        outputs: [{ name: 'y', dtype: 'uint8', dims: [accs.length, 1] }],
        initializers: {
          as: f32([], [sa]),
          az: tensor('uint8', [], [0]),
          b: tensor('uint8', [K, 1], new Array<number>(K).fill(1)),
          bs: f32([], [sb]),
          bz: tensor('uint8', [], [0]),
          ys: f32([], [sy]),
          yz: tensor('uint8', [], [0]),
        },
        opsets: { '': 10 },
      };
      const got = await sameAsOrt(m, { a: { dtype: 'uint8', dims: [accs.length, K], data: a } });
      expect(Array.from(got.y!.data as Uint8Array)).toEqual(want);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// QLinearConv / ConvInteger

const convCase = fc
  .record({
    N: fc.integer({ min: 1, max: 2 }),
    group: fc.integer({ min: 1, max: 3 }),
    Cg: fc.integer({ min: 1, max: 3 }),
    Mg: fc.integer({ min: 1, max: 3 }),
    depthwise: fc.boolean(),
    H: fc.integer({ min: 1, max: 7 }),
    W: fc.integer({ min: 1, max: 7 }),
    KH: fc.integer({ min: 1, max: 3 }),
    KW: fc.integer({ min: 1, max: 3 }),
    strides: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    dilations: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    pads: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)),
    autoPad: fc.constantFrom('NOTSET', 'NOTSET', 'NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'),
    types: fc.constantFrom(...MM_TYPES),
    perChannel: fc.boolean(),
    wzp: fc.constantFrom('zero', 'scalar', 'equal'),
    bias: fc.boolean(),
    wConst: fc.boolean(),
    seed: fc.nat(),
  })
  .map((c) => (c.depthwise ? { ...c, Cg: 1, Mg: 1, group: c.group + 2 } : c))
  // onnxruntime: "Dilation not supported for AutoPadType::SAME_UPPER or AutoPadType::SAME_LOWER"
  .map((c) => (c.autoPad.startsWith('SAME') ? { ...c, dilations: [1, 1] as [number, number] } : c))
  .filter((c) => {
    const spanH = (c.KH - 1) * c.dilations[0] + 1,
      spanW = (c.KW - 1) * c.dilations[1] + 1;
    if (c.autoPad === 'VALID') return c.H >= spanH && c.W >= spanW;
    if (c.autoPad !== 'NOTSET') return true;
    return c.H + c.pads[0] + c.pads[2] >= spanH && c.W + c.pads[1] + c.pads[3] >= spanW;
  });

type ConvCase = typeof convCase extends fc.Arbitrary<infer T> ? T : never;

/** Explicit pads [t, l, b, r] of a case (auto_pad resolved as ONNX does). */
function explicitPads(c: ConvCase): number[] {
  if (c.autoPad === 'NOTSET') return [...c.pads];
  if (c.autoPad === 'VALID') return [0, 0, 0, 0];
  const one = (size: number, k: number, s: number, d: number): [number, number] => {
    const o = Math.ceil(size / s),
      total = Math.max(0, (o - 1) * s + (k - 1) * d + 1 - size);
    const small = Math.floor(total / 2);
    return c.autoPad === 'SAME_UPPER' ? [small, total - small] : [total - small, small];
  };
  const [t, b] = one(c.H, c.KH, c.strides[0], c.dilations[0]),
    [l, r] = one(c.W, c.KW, c.strides[1], c.dilations[1]);
  return [t, l, b, r];
}

function convOperands(c: ConvCase, types: readonly [TensorDType, TensorDType], wzpMode: 'zero' | 'scalar' | 'equal' | 'distinct') {
  const rnd = lcg(c.seed);
  const C = c.group * c.Cg,
    M = c.group * c.Mg;
  const [xt, wt] = types;
  const xDims = [c.N, C, c.H, c.W],
    wDims = [M, c.Cg, c.KH, c.KW];
  const x = ints(xt, xDims, count(xDims), rnd, ...RANGE[xt]!);
  const [wlo, whi] = wt === 'int8' ? [-W8, W8 - 1] : RANGE[wt]!;
  const w = ints(wt, wDims, count(wDims), rnd, wlo, whi);
  const zp = (t: string) => RANGE[t]![0]! + Math.floor(rnd() * 256);
  const xz = zp(xt);
  const w0 = wzpMode === 'zero' ? (wt === 'int8' ? 0 : 128) : zp(wt);
  const wz = Array.from({ length: M }, () => (wzpMode === 'distinct' ? zp(wt) : w0));
  const bias = c.bias ? Array.from({ length: M }, () => Math.floor((rnd() - 0.5) * 2 ** 14)) : undefined;
  return { rnd, C, M, xt, wt, xDims, wDims, x, w, xz, wz, bias };
}

function convAttrs(c: ConvCase): Record<string, number | number[] | string> {
  const attrs: Record<string, number | number[] | string> = { strides: c.strides, dilations: c.dilations };
  if (c.group !== 1) attrs.group = c.group;
  if (c.autoPad === 'NOTSET') attrs.pads = c.pads;
  else attrs.auto_pad = c.autoPad;
  if (c.seed % 2) attrs.kernel_shape = [c.KH, c.KW];
  return attrs;
}

describe.runIf(X64)('QLinearConv and ConvInteger = onnxruntime, bit for bit', () => {
  it('QLinearConv: groups, depthwise, strides, dilations, pads, auto_pad, per-tensor/per-channel scales, bias, u8/s8', async () => {
    await fc.assert(
      fc.asyncProperty(convCase, async (c) => {
        const wzpMode = c.types[1] === 'uint8' && c.wzp === 'zero' ? 'scalar' : c.wzp;
        const { rnd, M, xt, wt, xDims, wDims, x, w, xz, wz, bias } = convOperands(c, c.types, wzpMode);
        const xs = scaleOf(rnd, false);
        const ws = c.perChannel ? Array.from({ length: M }, () => scaleOf(rnd, false)) : [scaleOf(rnd, false)];
        const pads = explicitPads(c);
        const { acc } = convAccOracle({
          x: x.data as ArrayLike<number>,
          xDims,
          w: w.data as ArrayLike<number>,
          wDims,
          xz,
          wz,
          bias,
          group: c.group,
          strides: c.strides,
          dilations: c.dilations,
          pads,
        });
        const ys = outputScale(acc, xs, Math.max(...ws), rnd);
        const yz = RANGE[xt]![0]! + Math.floor(rnd() * 256);
        const pd = c.perChannel ? [M] : [];
        const zpd = wzpMode === 'equal' ? [M] : [];
        const inits: Record<string, Tensor> = {
          xs: f32([], [xs]),
          xz: tensor(xt, [], [xz]),
          ws: f32(pd, ws),
          wz: tensor(wt, zpd, zpd.length ? wz : [wz[0]!]),
          ys: f32([], [ys]),
          yz: tensor(xt, [], [yz]),
        };
        if (bias) inits.B = tensor('int32', [M], bias);
        const feeds: Feeds = { x };
        if (c.wConst) inits.w = w;
        else feeds.w = w;
        const m: BuildModel = {
          nodes: [
            {
              op: 'QLinearConv',
              inputs: ['x', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz', ...(bias ? ['B'] : [])],
              outputs: ['y'],
              attrs: convAttrs(c),
            },
          ],
          inputs: [
            { name: 'x', dtype: xt as TensorDType, dims: xDims },
            ...(c.wConst ? [] : [{ name: 'w', dtype: wt as TensorDType, dims: wDims }]),
          ],
          outputs: [{ name: 'y', dtype: xt as TensorDType, dims: null }],
          initializers: inits,
          opsets: { '': 10 },
        };
        await sameAsOrt(m, feeds, JSON.stringify(c));
      }),
      { numRuns: 150 },
    );
  });

  it('ConvInteger: u8/s8, with and without zero points (per tensor)', async () => {
    await fc.assert(
      fc.asyncProperty(convCase, fc.boolean(), async (c, withZp) => {
        const { xt, wt, xDims, wDims, x, w, xz, wz } = convOperands(c, c.types, 'scalar');
        const m: BuildModel = {
          nodes: [{ op: 'ConvInteger', inputs: withZp ? ['x', 'w', 'xz', 'wz'] : ['x', 'w'], outputs: ['y'], attrs: convAttrs(c) }],
          inputs: [
            { name: 'x', dtype: xt as TensorDType, dims: xDims },
            { name: 'w', dtype: wt as TensorDType, dims: wDims },
          ],
          outputs: [{ name: 'y', dtype: 'int32', dims: null }],
          initializers: withZp ? { xz: tensor(xt as TensorDType, [], [xz]), wz: tensor(wt as TensorDType, [], [wz[0]!]) } : {},
          opsets: { '': 10 },
        };
        await sameAsOrt(m, { x, w }, JSON.stringify(c));
      }),
      { numRuns: 80 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// what onnxruntime has no kernel for: against the direct-loop oracle

const ALL_TYPES = ['int8', 'uint8'] as const;

describe('QLinearConv, QLinearMatMul, MatMulInteger, ConvInteger beyond onnxruntime = direct loops', () => {
  it('QLinearConv: any int8/uint8 combination of x, w, y; distinct per-channel weight zero points', async () => {
    await fc.assert(
      fc.asyncProperty(
        convCase,
        fc.constantFrom(...ALL_TYPES),
        fc.constantFrom(...ALL_TYPES),
        fc.constantFrom(...ALL_TYPES),
        async (c, xt, wt, yt) => {
          const { rnd, M, xDims, wDims, x, w, xz, wz, bias } = convOperands(c, [xt, wt], 'distinct');
          const xs = scaleOf(rnd, false);
          const ws = Array.from({ length: M }, () => scaleOf(rnd, false));
          const { acc, dims } = convAccOracle({
            x: x.data as ArrayLike<number>,
            xDims,
            w: w.data as ArrayLike<number>,
            wDims,
            xz,
            wz,
            bias,
            group: c.group,
            strides: c.strides,
            dilations: c.dilations,
            pads: explicitPads(c),
          });
          const ys = outputScale(acc, xs, Math.max(...ws), rnd);
          const yz = RANGE[yt]![0]! + Math.floor(rnd() * 256);
          const P = dims[2]! * dims[3]!;
          const want = acc.map((v, i) => requantOracle(v, xs, ws[Math.floor(i / P) % M]!, ys, yz, yt));
          const inits: Record<string, Tensor> = {
            xs: f32([], [xs]),
            xz: tensor(xt, [], [xz]),
            w,
            ws: f32([M], ws),
            wz: tensor(wt, [M], wz),
            ys: f32([], [ys]),
            yz: tensor(yt, [], [yz]),
          };
          if (bias) inits.B = tensor('int32', [M], bias);
          const got = await runRef(
            {
              nodes: [
                {
                  op: 'QLinearConv',
                  inputs: ['x', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz', ...(bias ? ['B'] : [])],
                  outputs: ['y'],
                  attrs: convAttrs(c),
                },
              ],
              inputs: [{ name: 'x', dtype: xt, dims: xDims }],
              outputs: [{ name: 'y', dtype: yt, dims: null }],
              initializers: inits,
              opsets: { '': 10 },
            },
            { x },
          );
          expect(got.y!.dtype).toBe(yt);
          expect(got.y!.dims).toEqual(dims);
          expect(Array.from(got.y!.data as Int8Array)).toEqual(want);
          // ConvInteger with the same per-channel weight zero points
          const gi = await runRef(
            {
              nodes: [{ op: 'ConvInteger', inputs: ['x', 'w', 'xz', 'wz'], outputs: ['y'], attrs: convAttrs(c) }],
              inputs: [{ name: 'x', dtype: xt, dims: xDims }],
              outputs: [{ name: 'y', dtype: 'int32', dims: null }],
              initializers: { w, xz: inits.xz!, wz: inits.wz! },
              opsets: { '': 10 },
            },
            { x },
          );
          const noBias = bias ? acc.map((v, i) => (v - bias[Math.floor(i / P) % M]!) | 0) : acc;
          expect(Array.from(gi.y!.data as Int32Array)).toEqual(noBias);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('QLinearMatMul and MatMulInteger: per-row a parameters ([M] and [M, 1]), s8·u8, y of another type', async () => {
    const c2 = fc.record({
      M: fc.integer({ min: 1, max: 6 }),
      K: fc.integer({ min: 1, max: 30 }),
      N: fc.integer({ min: 1, max: 6 }),
      at: fc.constantFrom(...ALL_TYPES),
      bt: fc.constantFrom(...ALL_TYPES),
      yt: fc.constantFrom(...ALL_TYPES),
      rowShape: fc.constantFrom('1d', '2d'),
      seed: fc.nat(),
    });
    await fc.assert(
      fc.asyncProperty(c2, async (c) => {
        const rnd = lcg(c.seed);
        const a = ints(c.at, [c.M, c.K], c.M * c.K, rnd, ...RANGE[c.at]!),
          b = ints(c.bt, [c.K, c.N], c.K * c.N, rnd, ...RANGE[c.bt]!);
        const zp = (t: string) => RANGE[t]![0]! + Math.floor(rnd() * 256);
        const az = Array.from({ length: c.M }, () => zp(c.at)),
          bz = Array.from({ length: c.N }, () => zp(c.bt));
        const as = Array.from({ length: c.M }, () => scaleOf(rnd, false)),
          bs = Array.from({ length: c.N }, () => scaleOf(rnd, false));
        const acc = matmulAccOracle(a.data as ArrayLike<number>, b.data as ArrayLike<number>, c.M, c.K, c.N, az, bz);
        const ys = outputScale(acc, Math.max(...as), Math.max(...bs), rnd),
          yz = zp(c.yt);
        const want = acc.map((v, i) => requantOracle(v, as[Math.floor(i / c.N)]!, bs[i % c.N]!, ys, yz, c.yt));
        const rowDims = c.rowShape === '1d' ? [c.M] : [c.M, 1];
        const inits: Record<string, Tensor> = {
          as: f32(rowDims, as),
          az: tensor(c.at, rowDims, az),
          bs: f32([c.N], bs),
          bz: tensor(c.bt, [c.N], bz),
          ys: f32([], [ys]),
          yz: tensor(c.yt, [], [yz]),
        };
        const got = await runRef(
          {
            nodes: [{ op: 'QLinearMatMul', inputs: ['a', 'as', 'az', 'b', 'bs', 'bz', 'ys', 'yz'], outputs: ['y'] }],
            inputs: [
              { name: 'a', dtype: c.at, dims: [c.M, c.K] },
              { name: 'b', dtype: c.bt, dims: [c.K, c.N] },
            ],
            outputs: [{ name: 'y', dtype: c.yt, dims: null }],
            initializers: inits,
            opsets: { '': 21 },
          },
          { a, b },
        );
        expect(got.y!.dtype).toBe(c.yt);
        expect(Array.from(got.y!.data as Int8Array)).toEqual(want);
        const gi = await runRef(
          {
            nodes: [{ op: 'MatMulInteger', inputs: ['a', 'b', 'az', 'bz'], outputs: ['y'] }],
            inputs: [
              { name: 'a', dtype: c.at, dims: [c.M, c.K] },
              { name: 'b', dtype: c.bt, dims: [c.K, c.N] },
            ],
            outputs: [{ name: 'y', dtype: 'int32', dims: null }],
            initializers: { az: inits.az!, bz: inits.bz! },
            opsets: { '': 10 },
          },
          { a, b },
        );
        expect(Array.from(gi.y!.data as Int32Array)).toEqual(acc);
      }),
      { numRuns: 100 },
    );
  });

  it('int32 accumulation wraps modulo 2^32 (ONNX: overflow only in 32 bits)', async () => {
    // 140000 products 127·(−128) sum to −2,275,840,000, below −2^31: stored modulo 2^32
    const K = 140000;
    const a = tensor('int8', [1, K], new Array<number>(K).fill(127)),
      b = tensor('int8', [K, 1], new Array<number>(K).fill(-128));
    const got = await runRef(
      {
        nodes: [{ op: 'MatMulInteger', inputs: ['a', 'b'], outputs: ['y'] }],
        inputs: [
          { name: 'a', dtype: 'int8', dims: [1, K] },
          { name: 'b', dtype: 'int8', dims: [K, 1] },
        ],
        outputs: [{ name: 'y', dtype: 'int32', dims: [1, 1] }],
        opsets: { '': 10 },
      },
      { a, b },
    );
    expect(got.y!.data[0]).toBe((127 * -128 * K) | 0);
  });
});

// ---------------------------------------------------------------------------------------------
// registration, errors

describe('quantization ops: opsets and errors', () => {
  it('resolve at every opset of their ONNX versions up to MAX_OPSET, and not before', () => {
    const since: Record<string, number> = {
      QuantizeLinear: 10,
      DequantizeLinear: 10,
      DynamicQuantizeLinear: 11,
      MatMulInteger: 10,
      ConvInteger: 10,
      QLinearMatMul: 10,
      QLinearConv: 10,
    };
    for (const [op, s] of Object.entries(since)) {
      for (let v = 7; v <= MAX_OPSET; v++) {
        if (v < s) expect(() => resolveOp(op, '', v, 'n'), `${op} ${v}`).toThrow(/unsupported op/);
        else expect(resolveOp(op, '', v, 'n').op).toBe(op);
      }
    }
  });

  const errorOf = async (m: BuildModel, feeds: Feeds): Promise<{ code: string; message: string }> => {
    try {
      await runRef(m, feeds);
    } catch (e) {
      if (isSparrowError(e)) return { code: e.code, message: e.message };
      throw e;
    }
    throw new Error('no error');
  };
  const qModel = (node: Partial<BuildNode>, inits: Record<string, Tensor>, opset: number, xDims = [2, 3]): BuildModel => ({
    nodes: [{ op: 'QuantizeLinear', inputs: ['x', 's', 'z'], outputs: ['y'], ...node }],
    inputs: [{ name: 'x', dtype: 'float32', dims: xDims }],
    outputs: [{ name: 'y', dtype: 'uint8', dims: xDims }],
    initializers: inits,
    opsets: { '': opset },
  });
  const x23 = { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) };

  it('invalid models name the node: scale shapes, zero-point types, int32 zero points, QLinearConv per-channel sizes', async () => {
    // per-axis scale of the wrong length
    let e = await errorOf(qModel({ attrs: { axis: 1 } }, { s: f32([2], [1, 1]), z: tensor('uint8', [2], [0, 0]) }, 13), x23);
    expect(e.code).toBe('invalid_model');
    expect(e.message).toMatch(/QuantizeLinear node .*needs 3/);
    // blocked scale of the wrong shape
    e = await errorOf(qModel({ attrs: { axis: 1, block_size: 2 }, inputs: ['x', 's'] }, { s: f32([2, 1], [1, 1]) }, 21), x23);
    expect(e.code).toBe('invalid_model');
    expect(e.message).toMatch(/must have shape \[2, 2\]/);
    // zero point type differs from output_dtype
    e = await errorOf(qModel({ attrs: { output_dtype: 3 } }, { s: f32([], [1]), z: tensor('uint8', [], [0]) }, 21), x23);
    expect(e.code).toBe('invalid_model');
    // DequantizeLinear of int32 with a non-zero zero point
    e = await errorOf(
      {
        nodes: [{ op: 'DequantizeLinear', inputs: ['x', 's', 'z'], outputs: ['y'] }],
        inputs: [{ name: 'x', dtype: 'int32', dims: [2] }],
        outputs: [{ name: 'y', dtype: 'float32', dims: [2] }],
        initializers: { s: f32([], [1]), z: tensor('int32', [], [3]) },
        opsets: { '': 13 },
      },
      { x: tensor('int32', [2], [1, 2]) },
    );
    expect(e.code).toBe('invalid_model');
    // QLinearConv with 3 weight scales for 2 output channels
    e = await errorOf(
      {
        nodes: [{ op: 'QLinearConv', inputs: ['x', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz'], outputs: ['y'] }],
        inputs: [{ name: 'x', dtype: 'uint8', dims: [1, 1, 3, 3] }],
        outputs: [{ name: 'y', dtype: 'uint8', dims: null }],
        initializers: {
          xs: f32([], [1]),
          xz: tensor('uint8', [], [0]),
          w: tensor('uint8', [2, 1, 1, 1], [1, 2]),
          ws: f32([3], [1, 1, 1]),
          wz: tensor('uint8', [], [0]),
          ys: f32([], [1]),
          yz: tensor('uint8', [], [0]),
        },
        opsets: { '': 10 },
      },
      { x: tensor('uint8', [1, 1, 3, 3], new Array<number>(9).fill(1)) },
    );
    expect(e.code).toBe('invalid_model');
    expect(e.message).toMatch(/QLinearConv node .*w_scale/);
  });

  it('unsupported cases name op and opset: float8 output_dtype, float16 precision, float16 DequantizeLinear output', async () => {
    let e = await errorOf(qModel({ inputs: ['x', 's'], attrs: { output_dtype: 17 } }, { s: f32([], [1]) }, 21), x23);
    expect(e.code).toBe('unsupported_op');
    expect(e.message).toMatch(/QuantizeLinear node .*FLOAT8E4M3FN.*opset 21/);
    e = await errorOf(qModel({ attrs: { precision: 10 } }, { s: f32([], [1]), z: tensor('uint8', [], [0]) }, 23), x23);
    expect(e.code).toBe('unsupported_op');
    expect(e.message).toMatch(/precision FLOAT16.*opset 23/);
    e = await errorOf(
      {
        nodes: [{ op: 'DequantizeLinear', inputs: ['x', 's'], outputs: ['y'], attrs: { output_dtype: 10 } }],
        inputs: [{ name: 'x', dtype: 'uint8', dims: [2] }],
        outputs: [{ name: 'y', dtype: 'float32', dims: [2] }],
        initializers: { s: f32([], [1]) },
        opsets: { '': 23 },
      },
      { x: tensor('uint8', [2], [1, 2]) },
    );
    expect(e.code).toBe('unsupported_op');
  });

  it('QuantizeLinear precision DOUBLE divides in float64 (a tie in float32 that is not one in float64)', async () => {
    // a float32 x whose quotient x / s rounds onto a half in float32 but lies on the other side
    // of it in float64: float32 division gives the even neighbour, float64 the nearest integer
    const s = fr(0.3);
    let x = 0;
    for (let k = 1; k < 1e6 && !x; k++) {
      const c = fr((k + 0.5) * s);
      if (fr(c / s) === k + 0.5 && rne(k + 0.5) !== Math.round(c / s)) x = c;
    }
    expect(x).not.toBe(0);
    const run = async (precision: number) =>
      (
        await runRef(
          {
            nodes: [{ op: 'QuantizeLinear', inputs: ['x', 's', 'z'], outputs: ['y'], attrs: precision ? { precision } : {} }],
            inputs: [{ name: 'x', dtype: 'float32', dims: [1] }],
            outputs: [{ name: 'y', dtype: 'int8', dims: [1] }],
            initializers: { s: f32([], [s]), z: tensor('int8', [], [0]) },
            opsets: { '': 23 },
          },
          { x: f32([1], [x]) },
        )
      ).y!.data[0];
    const q32 = await run(0),
      q64 = await run(11);
    expect(q32).toBe(rne(fr(x / s)));
    expect(q64).toBe(Math.round(x / s));
    expect(q32).not.toBe(q64);
  });
});
