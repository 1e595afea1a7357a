// NaN, ±Inf and denormals through every op sparrow-int8 lowers, against onnxruntime-node running
// the same float model (docs/engine.md "NaN and Inf", sparrow-int8). int8 cannot hold NaN or
// ±Inf, so the rules checked are:
//   NaN      a quantization boundary whose float32 input holds a NaN makes NaN every output it
//            reaches: static ranges (a .sparrow file) → the whole output tensor; dynamic mode →
//            the layer's block (an image of the batch, a row of an FC), whose NaN then flows on
//            through the float ops. Checked: onnxruntime has NaN there, Sparrow is NaN on the
//            whole output (static) or on exactly the blocks with a NaN input (dynamic, batch of
//            2 with one clean image); an output the NaN input does not reach stays finite and
//            close to onnxruntime.
//   ±Inf     saturate, as QuantizeLinear: bit for bit the answer for ±FLT_MAX (static), and close
//            to onnxruntime's on the input with ±Inf replaced by the ends of the quantization
//            range (the stored range of the input; dynamic: the finite min/max of the block, with 0).
//            onnxruntime's float answer itself is ±Inf / NaN there: int8 necessarily differs.
//   denorm.  quantize to the zero point like ±0: bit for bit the answer with denormals flushed,
//            and close to onnxruntime's.
// "close" = within 6% of the largest |output| (int8 activations and weights; sparsity 0).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, type BuildNode } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { compressGraph } from '../src/compress/compress.js';
import { createOrtEngine, type InferenceEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import { loadSparrowModel } from '../src/runtime/sparrow_model.js';
import { compileNodeModule } from '../src/wasm/node.js';
import { INT8_KERNEL_OPS } from '../src/runtime/int8/lower.js';
import type { Tensor } from '../src/ops/types.js';
import { uniformTensor as rand } from './helpers/tensors.js';
import { census, feedOf, type Kind } from './helpers/nonfinite.js';
import '../src/ops/ref/index.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const numel = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);
const f32c = (dims: number[], v: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
const i64c = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v.map(BigInt)) });
const map = (t: Tensor, f: (v: number, i: number) => number): Tensor => ({ ...t, data: Float32Array.from(t.data as Float32Array, f) });
const FLT_MAX = 3.4028234663852886e38;
const isDenormal = (v: number) => v !== 0 && Math.abs(v) < 1.1754943508222875e-38;

interface Case {
  label: string;
  x: Record<string, number[]>;
  y: Record<string, number[]>;
  nodes: BuildNode[];
  consts?: Record<string, Tensor>;
  /** the int8 kernels the case must run (Int8Report layers' kernels or ops), a regexp over them */
  ops: string[];
  /** the model's opset (default 13) */
  opset?: number;
}

const W = (dims: number[], seed: number) => rand(dims, seed, -0.5, 0.5);
const STATIC: Case[] = [
  {
    label: 'Conv 3x3 + Relu',
    x: { x: [1, 3, 8, 8] },
    y: { y: [1, 6, 8, 8] },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c'], outputs: ['y'] },
    ],
    consts: { w: W([6, 3, 3, 3], 1), b: W([6], 2) },
    ops: ['Conv'],
  },
  {
    label: 'depthwise Conv + Clip(0, 6), Conv 1x1',
    x: { x: [1, 4, 8, 8] },
    y: { y: [1, 5, 8, 8] },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1], group: 4 } },
      { op: 'Clip', inputs: ['c', 'lo', 'hi'], outputs: ['d'] },
      { op: 'Conv', inputs: ['d', 'w2'], outputs: ['y'] },
    ],
    consts: { w: W([4, 1, 3, 3], 3), w2: W([5, 4, 1, 1], 4), lo: f32c([], [0]), hi: f32c([], [6]) },
    ops: ['Conv'],
  },
  {
    label: 'Gemm transB',
    x: { x: [3, 12] },
    y: { y: [3, 7] },
    nodes: [{ op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { transB: 1 } }],
    consts: { w: W([7, 12], 5), b: W([7], 6) },
    ops: ['Gemm'],
  },
  {
    label: 'MatMul',
    x: { x: [2, 3, 10] },
    y: { y: [2, 3, 6] },
    nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
    consts: { w: W([10, 6], 7) },
    ops: ['MatMul'],
  },
  {
    label: 'Conv 1x1, Add (two int8 activations), MaxPool, AveragePool, GlobalAveragePool',
    x: { x: [1, 4, 8, 8] },
    y: { m: [1, 4, 4, 4], a: [1, 4, 1, 1], g: [1, 4, 1, 1] },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'] },
      { op: 'Add', inputs: ['c', 'x'], outputs: ['s'] },
      { op: 'MaxPool', inputs: ['s'], outputs: ['m'], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
      { op: 'AveragePool', inputs: ['s'], outputs: ['a'], attrs: { kernel_shape: [8, 8] } }, // int8: global windows only
      { op: 'GlobalAveragePool', inputs: ['s'], outputs: ['g'] },
    ],
    consts: { w: W([4, 4, 1, 1], 12) },
    ops: ['Conv', 'Add', 'MaxPool', 'AveragePool', 'GlobalAveragePool'],
  },
  {
    label: 'Conv 1x1, Slice, Pad, Transpose, Gather, Expand (int8 movement), Conv',
    x: { x: [1, 4, 6, 6] },
    y: { y: [1, 3, 6, 4] },
    nodes: [
      { op: 'Conv', inputs: ['x', 'w0'], outputs: ['x0'] },
      { op: 'Slice', inputs: ['x0', 'ss', 'se', 'sa'], outputs: ['s'] },
      { op: 'Pad', inputs: ['s', 'pp'], outputs: ['p'] },
      { op: 'Transpose', inputs: ['p'], outputs: ['t'], attrs: { perm: [0, 1, 3, 2] } },
      { op: 'Gather', inputs: ['t', 'gi'], outputs: ['g'], attrs: { axis: 1 } },
      { op: 'Expand', inputs: ['g', 'es'], outputs: ['e'] },
      { op: 'Conv', inputs: ['e', 'w'], outputs: ['y'], attrs: { pads: [1, 0, 1, 0], kernel_shape: [3, 3] } },
    ],
    consts: {
      ss: i64c([1]),
      se: i64c([5]),
      sa: i64c([2]),
      pp: i64c([0, 0, 1, 0, 0, 0, 1, 0]),
      gi: i64c([0, 2, 3]),
      es: i64c([1, 3, 1, 1]),
      w: W([3, 3, 3, 3], 8),
      w0: W([4, 4, 1, 1], 13),
    },
    ops: ['Slice', 'Pad', 'Transpose', 'Gather', 'Expand', 'Conv'],
  },
  {
    // elementwise ops as 256-entry tables (src/runtime/int8/lut.ts), the self-gated SiLU and
    // HardSwish (x · Sigmoid(x), x · HardSigmoid(x)) as one table each; every branch reads the
    // quantized input (so that the ±Inf check's clamped input is exactly what the tables saw)
    label:
      'tables: SiLU and HardSwish as x · f(x), Tanh → Exp → Reciprocal, Abs → Sqrt, Relu, LeakyRelu, Elu, Selu, Celu, Softplus, Softsign, Erf, Neg',
    x: { x: [1, 4, 6, 6] },
    y: Object.fromEntries(
      ['silu', 'hsw', 't', 'rcp', 'sq', 'relu', 'lrelu', 'elu', 'selu', 'celu', 'sp', 'ss', 'erf', 'neg'].map((k) => [k, [1, 4, 6, 6]]),
    ),
    nodes: [
      { op: 'Sigmoid', inputs: ['x'], outputs: ['sg'] },
      { op: 'Mul', inputs: ['x', 'sg'], outputs: ['silu'] },
      { op: 'HardSigmoid', inputs: ['x'], outputs: ['hs'], attrs: { alpha: 1 / 6, beta: 0.5 } },
      { op: 'Mul', inputs: ['hs', 'x'], outputs: ['hsw'] },
      { op: 'Tanh', inputs: ['x'], outputs: ['t'] },
      { op: 'Exp', inputs: ['t'], outputs: ['e'] },
      { op: 'Reciprocal', inputs: ['e'], outputs: ['rcp'] },
      { op: 'Abs', inputs: ['x'], outputs: ['ab'] },
      { op: 'Sqrt', inputs: ['ab'], outputs: ['sq'] },
      { op: 'Relu', inputs: ['x'], outputs: ['relu'] },
      { op: 'LeakyRelu', inputs: ['x'], outputs: ['lrelu'], attrs: { alpha: 0.1 } },
      { op: 'Elu', inputs: ['x'], outputs: ['elu'] },
      { op: 'Selu', inputs: ['x'], outputs: ['selu'] },
      { op: 'Celu', inputs: ['x'], outputs: ['celu'], attrs: { alpha: 0.5 } },
      { op: 'Softplus', inputs: ['x'], outputs: ['sp'] },
      { op: 'Softsign', inputs: ['x'], outputs: ['ss'] },
      { op: 'Erf', inputs: ['x'], outputs: ['erf'] },
      { op: 'Neg', inputs: ['x'], outputs: ['neg'] },
    ],
    ops: [
      'Conv',
      'Sigmoid',
      'HardSigmoid',
      'Tanh',
      'Exp',
      'Reciprocal',
      'Abs',
      'Sqrt',
      'Relu',
      'LeakyRelu',
      'Elu',
      'Selu',
      'Celu',
      'Softplus',
      'Softsign',
      'Erf',
      'Neg',
    ],
  },
  {
    label: 'Mul by a channel scale (a squeeze-excite gate: GlobalAveragePool → Sigmoid table → Mul)',
    x: { x: [1, 4, 6, 6] },
    y: { y: [1, 4, 6, 6] },
    nodes: [
      { op: 'GlobalAveragePool', inputs: ['x'], outputs: ['p'] },
      { op: 'Sigmoid', inputs: ['p'], outputs: ['g'] },
      { op: 'Mul', inputs: ['x', 'g'], outputs: ['y'] },
    ],
    ops: ['Mul'],
  },
  {
    label: 'tables of the later opsets: HardSwish (14), Mish (18), Gelu (20, exact and tanh)',
    x: { x: [1, 4, 6, 6] },
    y: { hsw: [1, 4, 6, 6], mish: [1, 4, 6, 6], gelu: [1, 4, 6, 6], gelut: [1, 4, 6, 6] },
    nodes: [
      { op: 'HardSwish', inputs: ['x'], outputs: ['hsw'] },
      { op: 'Mish', inputs: ['x'], outputs: ['mish'] },
      { op: 'Gelu', inputs: ['x'], outputs: ['gelu'] },
      { op: 'Gelu', inputs: ['x'], outputs: ['gelut'], attrs: { approximate: 'tanh' } },
    ],
    ops: ['HardSwish', 'Mish', 'Gelu'],
    opset: 20,
  },
];

function modelOf(c: Case): Uint8Array {
  return buildModel({
    nodes: c.nodes.map((n, i) => ({ name: `n${i}_${n.op}`, ...n })),
    inputs: Object.entries(c.x).map(([name, dims]) => ({ name, dtype: 'float32' as const, dims })),
    outputs: Object.entries(c.y).map(([name, dims]) => ({ name, dtype: 'float32' as const, dims })),
    initializers: c.consts ?? {},
    opsets: { '': c.opset ?? 13 },
  });
}

/** A .sparrow file with static activation ranges (min/max over 4 random batches in [-2, 2]), no pruning. */
async function staticFile(c: Case): Promise<Uint8Array> {
  const g = importOnnx(modelOf(c));
  optimize(g);
  const batches = [0, 1, 2, 3].map((k) => rand(c.x['x']!, 100 + k, -2, 2)); // the first input only
  const r = await compressGraph(g, { sparsity: 0, activations: 'static', calib: { batches, spec: 'test' } });
  return r.bytes;
}

function feeds(c: Case, kind: Kind): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(c.x).map(([name, dims], i) => [name, feedOf(dims, 1 + 7 * i, kind)]));
}

/** The largest |v| of the finite values. */
function peak(t: Tensor): number {
  let m = 0;
  for (const v of t.data as Float32Array) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return m;
}

/** The first element where got is not within 6% of want's peak (both finite), or null. */
function closeDiff(got: Tensor, want: Tensor): string | null {
  const tol = 0.06 * peak(want) + 1e-4;
  for (let i = 0; i < want.data.length; i++) {
    const a = got.data[i] as number,
      b = want.data[i] as number;
    if (!Number.isFinite(a) || !Number.isFinite(b) || Math.abs(a - b) > tol) return `[${i}]: ${a}, onnxruntime ${b} (tol ${tol})`;
  }
  return null;
}

const allNaN = (t: Tensor) => (t.data as Float32Array).every((v) => Number.isNaN(v));
const sameBits = (a: Tensor, b: Tensor) => (a.data as Float32Array).every((v, i) => Object.is(v, b.data[i]));

describe('sparrow-int8 with static ranges: NaN / ±Inf / denormals against onnxruntime-node', () => {
  const orts: InferenceEngine[] = [];
  afterAll(async () => {
    for (const e of orts) await e.dispose();
  });

  it('the cases cover every op sparrow-int8 lowers', () => {
    const covered = new Set(STATIC.flatMap((c) => c.ops));
    expect(Object.keys(INT8_KERNEL_OPS).filter((op) => !covered.has(op))).toEqual([]);
  });

  for (const c of STATIC) {
    it(c.label, async () => {
      const onnx = modelOf(c);
      const ort = await createOrtEngine('ort-node', onnx);
      orts.push(ort);
      const file = await staticFile(c);
      const s = await Session.fromSparrow(file, { engine: 'sparrow-int8', wasmModule });
      // the ops ran in int8 (as layers, or as int8 steps: no float op left)
      const rep = s.report!;
      expect(rep.fallbackOps, 'fallbacks').toEqual([]);
      expect(rep.int8?.mode).toBe('static');
      expect(rep.int8?.floatOps, 'ops run in float32').toEqual([]);
      const ranges = loadSparrowModel(file).activationRanges!;

      // NaN: every output all NaN; onnxruntime has NaN in each
      const mixed = feeds(c, 'mixed');
      const wantM = await ort.run(mixed),
        gotM = await s.run(mixed);
      for (const o of Object.keys(c.y)) expect(allNaN(gotM[o]!), `sparrow-int8 ${o} all NaN`).toBe(true);
      expect(
        Object.values(wantM).reduce((k, t) => k + census(t).nan, 0),
        'onnxruntime NaN',
      ).toBeGreaterThan(0);

      // ±Inf: saturate (bit for bit ±FLT_MAX), close to onnxruntime on the input clamped to its range
      const inf = feeds(c, 'inf');
      const gotI = await s.run(inf);
      const asMax = await s.run(
        Object.fromEntries(Object.entries(inf).map(([n, t]) => [n, map(t, (v) => Math.max(-FLT_MAX, Math.min(FLT_MAX, v)))])),
      );
      const clamped = Object.fromEntries(
        Object.entries(inf).map(([n, t]) => {
          const [lo, hi] = ranges.get(n)!;
          return [n, map(t, (v) => (v === Infinity ? Math.max(hi, 0) : v === -Infinity ? Math.min(lo, 0) : v))];
        }),
      );
      const wantI = await ort.run(clamped);
      for (const o of Object.keys(c.y)) {
        expect(sameBits(gotI[o]!, asMax[o]!), `${o}: ±Inf as ±FLT_MAX`).toBe(true);
        expect(closeDiff(gotI[o]!, wantI[o]!), `${o} vs onnxruntime on the clamped input`).toBeNull();
      }

      // denormals: as zeros, bit for bit; close to onnxruntime
      const den = feeds(c, 'denormal');
      const gotD = await s.run(den);
      const flushed = await s.run(Object.fromEntries(Object.entries(den).map(([n, t]) => [n, map(t, (v) => (isDenormal(v) ? 0 : v))])));
      const wantD = await ort.run(den);
      for (const o of Object.keys(c.y)) {
        expect(sameBits(gotD[o]!, flushed[o]!), `${o}: denormals as 0`).toBe(true);
        expect(closeDiff(gotD[o]!, wantD[o]!), `${o} denormal vs onnxruntime`).toBeNull();
      }
    });
  }
});

describe('sparrow-int8 in dynamic mode (an ONNX model): NaN per block, ±Inf saturating, against onnxruntime-node', () => {
  const DYN: Array<{ label: string; c: Case; block: number }> = [
    {
      label: 'Conv 3x3 + Relu, batch of 2 (blocks: images)',
      c: { ...STATIC[0]!, x: { x: [2, 3, 8, 8] }, y: { y: [2, 6, 8, 8] } },
      block: 3 * 8 * 8,
    },
    { label: 'Gemm (blocks: rows)', c: STATIC[2]!, block: 12 },
    { label: 'MatMul (blocks: rows)', c: STATIC[3]!, block: 10 },
  ];
  for (const { label, c, block } of DYN) {
    it(label, async () => {
      const onnx = modelOf(c);
      const ort = await createOrtEngine('ort-node', onnx);
      const s = await Session.fromOnnx(onnx, { engine: 'sparrow-int8', wasmModule });
      expect(s.report!.int8?.layers.length, 'quantized layers').toBe(1);
      const dims = c.x['x']!;
      const n = numel(dims),
        blocks = n / block;
      // NaN: specials in the first half of the blocks only; the other blocks clean
      const x = feedOf(dims, 1, 'mixed');
      const clean = rand(dims, 12, -2, 2);
      const half = Math.ceil(blocks / 2);
      const xm = map(x, (v, i) => (Math.floor(i / block) < half ? v : (clean.data as Float32Array)[i]!));
      const got = (await s.run({ x: xm }))['y']!,
        want = (await ort.run({ x: xm }))['y']!;
      const outBlock = got.data.length / blocks;
      for (let b = 0; b < blocks; b++) {
        const hasNaN = (xm.data as Float32Array).subarray(b * block, (b + 1) * block).some((v) => Number.isNaN(v));
        const g = { ...got, dims: [outBlock], data: (got.data as Float32Array).subarray(b * outBlock, (b + 1) * outBlock) };
        const w = { ...want, dims: [outBlock], data: (want.data as Float32Array).subarray(b * outBlock, (b + 1) * outBlock) };
        if (hasNaN) {
          expect(allNaN(g), `block ${b} all NaN`).toBe(true);
          expect(census(w).nan, `onnxruntime NaN in block ${b}`).toBeGreaterThan(0);
        } else if (!(xm.data as Float32Array).subarray(b * block, (b + 1) * block).some((v) => !Number.isFinite(v))) {
          expect(closeDiff(g, w), `clean block ${b}`).toBeNull();
        }
      }
      expect(half).toBeLessThan(blocks); // some block stayed clean

      // ±Inf: the range of the block's finite values; ±Inf saturate to its ends
      const xi = feedOf(dims, 1, 'inf');
      const ends = map(xi, (v, i) => {
        if (Number.isFinite(v)) return v;
        const blk = Array.from(
          (xi.data as Float32Array).subarray(Math.floor(i / block) * block, (Math.floor(i / block) + 1) * block),
        ).filter(Number.isFinite);
        return v > 0 ? Math.max(0, ...blk) : Math.min(0, ...blk);
      });
      const gotI = (await s.run({ x: xi }))['y']!;
      expect(census(gotI).nan + census(gotI).inf, 'int8: ±Inf saturate').toBe(0);
      expect(closeDiff(gotI, (await ort.run({ x: ends }))['y']!)).toBeNull();

      // denormals: as onnxruntime, within the int8 tolerance
      const xd = feedOf(dims, 1, 'denormal');
      expect(closeDiff((await s.run({ x: xd }))['y']!, (await ort.run({ x: xd }))['y']!)).toBeNull();
      await ort.dispose();
    });
  }

  it('an output the NaN input does not reach stays finite (two inputs, two Conv branches)', async () => {
    const c: Case = {
      label: 'two branches',
      x: { x: [1, 3, 6, 6], z: [1, 3, 6, 6] },
      y: { y1: [1, 4, 6, 6], y2: [1, 4, 6, 6] },
      nodes: [
        { op: 'Conv', inputs: ['x', 'w'], outputs: ['y1'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Conv', inputs: ['z', 'w2'], outputs: ['y2'], attrs: { pads: [1, 1, 1, 1] } },
      ],
      consts: { w: W([4, 3, 3, 3], 9), w2: W([4, 3, 3, 3], 10) },
      ops: ['Conv'],
    };
    const onnx = modelOf(c);
    const ort = await createOrtEngine('ort-node', onnx);
    const s = await Session.fromOnnx(onnx, { engine: 'sparrow-int8', wasmModule, floatHead: 0 });
    expect(s.report!.int8?.layers.length, 'quantized layers').toBe(2);
    const f = { x: feedOf([1, 3, 6, 6], 1, 'mixed'), z: rand([1, 3, 6, 6], 11, -2, 2) };
    const got = await s.run(f),
      want = await ort.run(f);
    expect(allNaN(got['y1']!)).toBe(true);
    expect(census(want['y1']!).nan).toBeGreaterThan(0);
    expect(closeDiff(got['y2']!, want['y2']!)).toBeNull();
    await ort.dispose();
  });
});
