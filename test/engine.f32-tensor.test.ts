// sparrow-f32 on integer and bool tensors (kept in the arena in their own bytes) and the small
// ops of transformer graphs (assembly/f32ops/tensor.ts through src/runtime/f32/tensor_ops.ts and
// movement.ts), one-node models against the reference engine (src/ops/ref): Cast between
// float32 / int64 / int32 / uint8 / int8 / bool over edge values (NaN, ±Inf, ±0, halves, values
// past each integer range, int64 past 2^53), comparisons with broadcasting (NaN, −0, int64
// differing past 2^53), And / Or / Xor / Not, Where over three broadcast operands of every element
// size, data movement on int64 and bool tensors, Gather by indices fed at run time (negative ones,
// out of range: the reference's error), Neg / Sin / Cos. Every output must equal the reference's
// exactly (Sin / Cos: within 1 float32 ulp, the float64 function of different libraries rounded
// once), and the node must run in WASM (no fallback).
import { describe, expect, it, beforeAll } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, type BuildAttr, type BuildModel } from '../src/onnx/build.js';
import { Session } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import { SparrowError } from '../src/errors.js';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import { onnxDtypeCode } from '../src/ops/dtypes.js';
import { lcg } from './helpers/tensors.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const ARR: Record<string, (v: number[]) => Tensor['data']> = {
  float32: (v) => Float32Array.from(v),
  int64: (v) => BigInt64Array.from(v, (x) => BigInt(x)),
  int32: (v) => Int32Array.from(v),
  uint8: (v) => Uint8Array.from(v),
  int8: (v) => Int8Array.from(v),
  bool: (v) => Uint8Array.from(v, (x) => (x ? 1 : 0)),
};
const T = (dtype: TensorDType, v: number[], dims = [v.length]): Tensor => ({ dtype, dims, data: ARR[dtype]!(v) });
const I64 = (v: bigint[], dims = [v.length]): Tensor => ({ dtype: 'int64', dims, data: BigInt64Array.from(v) });
const numel = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);

/** float32 ulps between a and b (0 when equal, NaN = NaN). */
function ulps(a: number, b: number): number {
  if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  return Math.abs(i[0]! - i[1]!);
}

interface OneNode {
  op: string;
  inputs: Record<string, Tensor>;
  consts?: Record<string, Tensor>;
  order?: string[];
  attrs?: Record<string, BuildAttr>;
  outDtype: TensorDType;
  nOut?: number;
  opset?: number;
}

function model(c: OneNode): BuildModel {
  const names = c.order ?? [...Object.keys(c.inputs), ...Object.keys(c.consts ?? {})];
  const outs = Array.from({ length: c.nOut ?? 1 }, (_, j) => `y${j}`);
  return {
    nodes: [{ op: c.op, inputs: names, outputs: outs, attrs: c.attrs ?? {} }],
    inputs: Object.entries(c.inputs).map(([name, t]) => ({ name, dtype: t.dtype, dims: t.dims })),
    outputs: outs.map((name) => ({ name, dtype: c.outDtype, dims: null })),
    initializers: c.consts ?? {},
    opsets: { '': c.opset ?? 17 },
  };
}

/** Runs c on the reference and sparrow-f32 (twice); the mismatch, or null. maxUlps for float outputs. */
async function compare(c: OneNode, maxUlps = 0): Promise<string | null> {
  const bytes = buildModel(model(c));
  const where = `${c.op} ${JSON.stringify(c.attrs ?? {})} ${Object.values(c.inputs)
    .map((t) => `${t.dtype}[${t.dims}]`)
    .join(', ')}`;
  const want = await (await Session.fromOnnx(bytes)).run(c.inputs);
  const s = await Session.fromOnnx(bytes, { engine: 'sparrow-f32', wasmModule });
  for (let run = 0; run < 2; run++) {
    const got = await s.run(c.inputs);
    for (const [k, w] of Object.entries(want)) {
      const g = got[k]!;
      if (g.dtype !== w.dtype || g.dims.join() !== w.dims.join()) return `${where}: ${k} ${g.dtype}[${g.dims}] vs ${w.dtype}[${w.dims}]`;
      for (let i = 0; i < w.data.length; i++) {
        const a = g.data[i]!,
          b = w.data[i]!;
        const bad = typeof a === 'bigint' || w.dtype !== 'float32' ? a !== b : ulps(a as number, b as number) > maxUlps;
        if (bad) return `${where}: ${k}[${i}] = ${a}, reference ${b}`;
      }
    }
  }
  if (s.report!.fallbackOps.length) return `${where}: fell back: ${JSON.stringify(s.report!.fallbackOps)}`;
  return null;
}

async function expectAll(cases: OneNode[], maxUlps = 0): Promise<void> {
  const failures: string[] = [];
  for (const c of cases) {
    const m = await compare(c, maxUlps);
    if (m) failures.push(m);
  }
  expect(failures.slice(0, 8)).toEqual([]);
}

const EDGES: Record<string, number[]> = {
  float32: [
    NaN,
    Infinity,
    -Infinity,
    0,
    -0,
    0.5,
    -0.5,
    2.5,
    -2.5,
    300.7,
    -300.7,
    70000.5,
    2147483520,
    -2147483648,
    3e9,
    -3e9,
    1e19,
    -1e19,
    9.2e18,
    16777217,
    1.5e-45,
  ],
  int32: [0, -1, 1, 255, 256, -129, 2147483647, -2147483648, 16777217, 33554435],
  uint8: [0, 1, 127, 128, 255],
  int8: [0, 1, -1, 127, -128],
  bool: [0, 1, 1, 0],
};
const INT64_EDGES: bigint[] = [
  0n,
  -1n,
  1n,
  255n,
  2n ** 31n,
  -(2n ** 31n) - 1n,
  2n ** 53n + 1n,
  16777217n,
  -(2n ** 63n),
  2n ** 63n - 1n,
  3n * 2n ** 40n + 5n,
];

describe('sparrow-f32: integer and bool tensors, Cast, comparisons, Where, movement, Gather by fed indices, Neg/Sin/Cos', () => {
  it('Cast between float32, int64, int32, uint8, int8 and bool over edge values', async () => {
    const types = ['float32', 'int64', 'int32', 'uint8', 'int8', 'bool'] as const;
    const cases: OneNode[] = [];
    for (const from of types)
      for (const to of types) {
        if (from === to) continue;
        const x = from === 'int64' ? I64(INT64_EDGES, [INT64_EDGES.length]) : T(from, EDGES[from]!);
        cases.push({ op: 'Cast', inputs: { x }, attrs: { to: onnxDtypeCode(to) }, outDtype: to });
      }
    await expectAll(cases);
  });

  it('Equal / Less / LessOrEqual / Greater / GreaterOrEqual with broadcasting; And / Or / Xor / Not', async () => {
    const r = lcg(3);
    const cases: OneNode[] = [];
    const pairs: Array<[number[], number[]]> = [
      [[6], [6]],
      [[2, 3], []],
      [
        [4, 1, 3],
        [2, 1],
      ],
      [
        [1, 5],
        [3, 1],
      ],
      [
        [2, 1, 2, 3],
        [1, 4, 1, 3],
      ],
    ];
    const floatPool = [NaN, -0, 0, 1, -1, Infinity, -Infinity, 0.5];
    for (const op of ['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual'])
      for (const [da, db] of pairs) {
        const pick = <V>(pool: V[], n: number): V[] => Array.from({ length: n }, () => pool[Math.floor(r() * pool.length)]!);
        cases.push({
          op,
          inputs: { a: T('float32', pick(floatPool, numel(da)), da), b: T('float32', pick(floatPool, numel(db)), db) },
          outDtype: 'bool',
        });
        const bigPool = [2n ** 53n, 2n ** 53n + 1n, -(2n ** 63n), 0n, -1n, 7n];
        cases.push({ op, inputs: { a: I64(pick(bigPool, numel(da)), da), b: I64(pick(bigPool, numel(db)), db) }, outDtype: 'bool' });
        cases.push({
          op,
          inputs: { a: T('int32', pick([-5, 0, 5, 2147483647], numel(da)), da), b: T('int32', pick([-5, 0, 5], numel(db)), db) },
          outDtype: 'bool',
        });
      }
    for (const [da, db] of pairs) {
      const bits = (d: number[]) =>
        T(
          'bool',
          Array.from({ length: numel(d) }, () => (r() < 0.5 ? 1 : 0)),
          d,
        );
      for (const op of ['And', 'Or', 'Xor']) cases.push({ op, inputs: { a: bits(da), b: bits(db) }, outDtype: 'bool', opset: 7 });
      cases.push({ op: 'Equal', inputs: { a: bits(da), b: bits(db) }, outDtype: 'bool' });
      cases.push({ op: 'Not', inputs: { a: bits(da) }, outDtype: 'bool' });
    }
    // a constant operand (the mask chain's "attention_mask > 0")
    cases.push({ op: 'Greater', inputs: { a: I64([1n, 0n, 1n, 3n], [1, 4]) }, consts: { z: I64([0n], []) }, outDtype: 'bool' });
    await expectAll(cases);
  });

  it('Where over three broadcast operands, float32 / int64 / int32 / bool / uint8 values', async () => {
    const r = lcg(4);
    const cases: OneNode[] = [];
    const shapes: Array<[number[], number[], number[]]> = [
      [[5], [5], [5]],
      [[2, 1, 4], [3, 1], []],
      [[1, 1, 9], [2, 1, 9], [1]],
      [[2, 3], [1], [2, 3]],
      [
        [3, 1, 2, 1],
        [1, 4, 1, 5],
        [3, 4, 1, 1],
      ],
    ];
    for (const [dc, dx, dy] of shapes)
      for (const dt of ['float32', 'int64', 'int32', 'bool', 'uint8'] as const) {
        const vals = (d: number[]) => {
          const v = Array.from({ length: numel(d) }, () => Math.floor(r() * 200) - 100);
          return dt === 'int64'
            ? I64(
                v.map((x) => BigInt(x) * 2n ** 40n + 3n),
                d,
              )
            : T(dt, dt === 'uint8' ? v.map((x) => x + 100) : v, d);
        };
        cases.push({
          op: 'Where',
          inputs: {
            c: T(
              'bool',
              Array.from({ length: numel(dc) }, () => (r() < 0.5 ? 1 : 0)),
              dc,
            ),
            x: vals(dx),
            y: vals(dy),
          },
          outDtype: dt,
        });
      }
    // the attention mask of an exporter: Where(mask, −inf, 0) with constant branches
    cases.push({
      op: 'Where',
      inputs: { c: T('bool', [1, 0, 0, 1, 1], [1, 1, 5]) },
      consts: { a: T('float32', [-Infinity], []), b: T('float32', [0, 0, 0, 0, 0], [1, 1, 5]) },
      outDtype: 'float32',
    });
    await expectAll(cases);
  });

  it('Transpose, Slice, Expand, Concat, Split, Gather (constant indices), Reshape / Unsqueeze on int64 and bool', async () => {
    const cases: OneNode[] = [];
    const i64 = I64(
      Array.from({ length: 24 }, (_, i) => BigInt(i) * 2n ** 33n - 7n),
      [2, 3, 4],
    );
    const b = T(
      'bool',
      Array.from({ length: 24 }, (_, i) => (i % 3 ? 1 : 0)),
      [2, 3, 4],
    );
    for (const x of [i64, b]) {
      const dt = x.dtype;
      cases.push({ op: 'Transpose', inputs: { x }, attrs: { perm: [2, 0, 1] }, outDtype: dt });
      cases.push({
        op: 'Slice',
        inputs: { x },
        consts: { s: I64([0n, 3n]), e: I64([2n, 0n]), a: I64([1n, 2n]), st: I64([1n, -1n]) },
        outDtype: dt,
      });
      cases.push({ op: 'Expand', inputs: { x: { ...x, dims: [2, 1, 12] } }, consts: { s: I64([3n, 2n, 5n, 12n]) }, outDtype: dt });
      cases.push({ op: 'Concat', inputs: { x, x2: x }, attrs: { axis: 1 }, outDtype: dt });
      cases.push({ op: 'Split', inputs: { x }, consts: { sp: I64([1n, 3n]) }, attrs: { axis: 2 }, outDtype: dt, nOut: 2 });
      cases.push({ op: 'Gather', inputs: { x }, consts: { i: I64([2n, -1n, 0n]) }, attrs: { axis: 1 }, outDtype: dt });
      cases.push({ op: 'Reshape', inputs: { x }, consts: { s: I64([6n, 4n]) }, outDtype: dt });
      cases.push({ op: 'Unsqueeze', inputs: { x }, consts: { a: I64([1n]) }, outDtype: dt });
    }
    await expectAll(cases);
  });

  it('Gather by indices fed at run time: embedding rows (negative indices from the end), any axis, int32 / int64 indices', async () => {
    const r = lcg(5);
    const table = T(
      'float32',
      Array.from({ length: 10 * 3 }, () => r()),
      [10, 3],
    );
    const cases: OneNode[] = [
      {
        op: 'Gather',
        inputs: { i: I64([0n, 9n, -1n, -10n, 4n, 4n], [2, 3]) },
        consts: { t: table },
        order: ['t', 'i'],
        outDtype: 'float32',
      },
      { op: 'Gather', inputs: { i: T('int32', [3, -2], [2]) }, consts: { t: table }, order: ['t', 'i'], outDtype: 'float32' },
      { op: 'Gather', inputs: { t: table, i: I64([2n, -3n], [1, 2]) }, attrs: { axis: 1 }, outDtype: 'float32' },
      {
        op: 'Gather',
        inputs: {
          t: I64(
            Array.from({ length: 12 }, (_, i) => BigInt(i) - 6n),
            [4, 3],
          ),
          i: I64([3n, -4n, 1n], [3]),
        },
        outDtype: 'int64',
      },
      { op: 'Gather', inputs: { i: I64([], [0]) }, consts: { t: table }, order: ['t', 'i'], outDtype: 'float32' },
    ];
    await expectAll(cases);
  });

  it("Gather by fed indices: an index out of range is the reference engine's error", async () => {
    const table = T(
      'float32',
      Array.from({ length: 12 }, (_, i) => i),
      [4, 3],
    );
    const bytes = buildModel(
      model({ op: 'Gather', inputs: { i: I64([0n], [2]) }, consts: { t: table }, order: ['t', 'i'], outDtype: 'float32' }),
    );
    const ref = await Session.fromOnnx(bytes);
    const s = await Session.fromOnnx(bytes, { engine: 'sparrow-f32', wasmModule });
    for (const bad of [
      [1n, 4n],
      [-5n, 0n],
      [2n ** 40n, 0n],
    ]) {
      const feeds = { i: I64(bad, [2]) };
      const err = async (p: Promise<unknown>): Promise<SparrowError> => {
        try {
          await p;
        } catch (e) {
          return e as SparrowError;
        }
        throw new Error('no error');
      };
      const a = await err(ref.run(feeds)),
        b = await err(s.run(feeds));
      expect(b).toBeInstanceOf(SparrowError);
      expect([b.code, b.message]).toEqual([a.code, a.message]);
    }
    expect(s.report!.fallbackOps).toEqual([]);
    // the engine still runs after the error
    expect(Array.from((await s.run({ i: I64([3n, -4n], [2]) }))['y0']!.data as Float32Array)).toEqual([9, 10, 11, 0, 1, 2]);
  });

  it('Neg exactly; Sin and Cos within 1 ulp of the reference (large angles, NaN, ±Inf, ±0)', async () => {
    const r = lcg(6);
    const xs = [
      0,
      -0,
      NaN,
      Infinity,
      -Infinity,
      1e-30,
      Math.PI,
      200.5,
      511,
      1e4,
      1e6,
      3e38,
      ...Array.from({ length: 300 }, () => (r() - 0.5) * 1100),
    ];
    await expectAll([{ op: 'Neg', inputs: { x: T('float32', xs) }, outDtype: 'float32' }]);
    await expectAll(
      [
        { op: 'Sin', inputs: { x: T('float32', xs) }, outDtype: 'float32' },
        { op: 'Cos', inputs: { x: T('float32', xs) }, outDtype: 'float32' },
      ],
      1,
    );
  });

  it('Softmax over the last axis: max-subtracted, and NaN / ±Inf rows as the reference (all −Inf → NaN, +Inf → NaN, NaN spreads)', async () => {
    const rows = [
      [1, 2, 3, 4, 5, 6, 7],
      [1000, 999, -1000, 0, 0, 0, 0], // large: exp(x − max) keeps them finite
      [-Infinity, 0, 1, -Infinity, 2, 3, 4],
      [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity],
      [Infinity, 0, 1, 2, 3, 4, 5],
      [NaN, 0, 1, 2, 3, 4, 5],
      [-3.4028234663852886e38, 0, -3.4028234663852886e38, 1, 1, 1, 1],
    ];
    const x = T('float32', rows.flat(), [rows.length, 7]);
    const bytes = buildModel(model({ op: 'Softmax', inputs: { x }, attrs: { axis: -1 }, outDtype: 'float32' }));
    const want = (await (await Session.fromOnnx(bytes)).run({ x }))['y0']!.data as Float32Array;
    const s = await Session.fromOnnx(bytes, { engine: 'sparrow-f32', wasmModule });
    const got = (await s.run({ x }))['y0']!.data as Float32Array;
    expect(s.report!.fallbackOps).toEqual([]);
    for (let i = 0; i < want.length; i++) {
      if (Number.isNaN(want[i]!)) expect(Number.isNaN(got[i]!), `[${i}]`).toBe(true);
      else expect(Math.abs(got[i]! - want[i]!), `[${i}] ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(4e-7 * Math.abs(want[i]!) + 1e-37);
    }
    expect(Array.from(got.subarray(21, 28)).every(Number.isNaN)).toBe(true);
    expect(Array.from(got.subarray(28, 35)).every(Number.isNaN)).toBe(true);
    expect(Array.from(got.subarray(35, 42)).every(Number.isNaN)).toBe(true);
  });
});
