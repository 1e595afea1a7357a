// "Computed in float32, converted at the edges" (src/ops/types.ts, src/ir/float_edges.ts): the
// graph the importer builds for float16 / bfloat16 / float64 models, the declared dtypes a
// Session reports, and results in the reference, sparrow-f32 and sparrow-int8 engines: against
// onnxruntime-node where one rounding of a float32 result is what it computes too (single ops,
// Cast, Cast(to=DOUBLE) → Mul), against the spec's float16 arithmetic written out with the
// converters of src/ops/float16.ts where onnxruntime skips a rounding the spec asks for (a
// float16 Cast inside a graph, CastLike to a float16 intermediate).
import { afterAll, describe, expect, it } from 'vitest';
import { buildModel, type BuildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { onnxRuntime, type onnx } from '../src/onnx/proto.js';
import { createOrtEngine, type InferenceEngine } from '../src/runtime/ort.js';
import { Session, type EngineName } from '../src/runtime/session.js';
import { SparrowError } from '../src/errors.js';
import { float16ToNumber, numberToFloat16, toFloat16Array } from '../src/ops/float16.js';
import { lowerFloatEdges, roundCastLikes } from '../src/ir/float_edges.js';
import { inferShapes } from '../src/ir/passes.js';
import { resolveOp } from '../src/ops/registry.js';
import type { Graph } from '../src/ir/graph.js';
import type { OpDef, Tensor } from '../src/ops/types.js';
import '../src/ops/ref/index.js';

const ENGINES: EngineName[] = ['reference', 'sparrow-f32', 'sparrow-int8'];
const f16 = (dims: number[], values: number[]): Tensor => ({ dtype: 'float16', dims, data: toFloat16Array(values) });
const f32 = (dims: number[], values: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(values) });
const values16 = (t: Tensor): number[] => Array.from(t.data as Uint16Array, float16ToNumber);

let seed = 1;
const rnd = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};
const randoms = (n: number, scale = 4): number[] => Array.from({ length: n }, () => (rnd() * 2 - 1) * scale);

const opened: InferenceEngine[] = [];
afterAll(async () => {
  for (const e of opened) await e.dispose();
});
async function ort(m: BuildModel): Promise<InferenceEngine> {
  const e = await createOrtEngine('ort-node', buildModel(m));
  opened.push(e);
  return e;
}

/** Same bits, NaN patterns aside. */
function expectSameBits(got: Tensor, want: Tensor): void {
  expect(got.dtype).toBe(want.dtype);
  expect(got.dims).toEqual(want.dims);
  expect(Array.from(got.data as ArrayLike<number | bigint>)).toEqual(Array.from(want.data as ArrayLike<number | bigint>));
}

describe('the imported graph', () => {
  const model: BuildModel = {
    nodes: [{ op: 'Add', inputs: ['x', 'w'], outputs: ['y'] }],
    inputs: [{ name: 'x', dtype: 'float16', dims: ['N', 4] }],
    outputs: [{ name: 'y', dtype: 'float16', dims: ['N', 4] }],
    initializers: { w: f16([4], [0.1, -2.5, 65504, 1e-7]) },
  };

  it('float16 input and output keep their dtype; Casts at both edges; the initializer is a float32 constant of the exact value', () => {
    const g = importOnnx(buildModel(model));
    expect(g.inputs).toEqual(['x']);
    expect(g.values.get('x')!.info).toEqual({ dtype: 'float16', dims: [-1, 4] });
    expect(g.values.get('y')!.info).toEqual({ dtype: 'float16', dims: [-1, 4] });
    expect(
      g.nodes.map((n) => `${n.op}(${n.inputs.join(',')})->${n.outputs.join(',')}${n.op === 'Cast' ? ` to=${n.attrs['to']}` : ''}`),
    ).toEqual(['Cast(x)->x_float32 to=1', 'Add(x_float32,w)->y_float32', 'Cast(y_float32)->y to=10']);
    const w = g.values.get('w')!.const!;
    expect(w.dtype).toBe('float32');
    expect(Array.from(w.data as Float32Array)).toEqual(values16(f16([4], [0.1, -2.5, 65504, 1e-7])));
    expect(g.values.get('x_float32')!.info.dtype).toBe('float32');
  });

  it('a Session reports the declared dtypes and takes / returns float16 bits (Uint16Array), in every engine', async () => {
    const x = f16([2, 4], randoms(8));
    const want = (await (await ort(model)).run({ x }))['y']!; // one Add: onnxruntime rounds once, as we do
    for (const engine of ENGINES) {
      const s = await Session.fromOnnx(buildModel(model), { engine });
      expect(s.inputInfo['x']).toEqual({ dtype: 'float16', dims: [-1, 4] });
      expect(s.outputInfo['y']).toEqual({ dtype: 'float16', dims: [-1, 4] });
      const y = (await s.run({ x }))['y']!;
      expect(y.data).toBeInstanceOf(Uint16Array);
      expectSameBits(y, want);
      await expect(s.run({ x: f32([2, 4], randoms(8)) })).rejects.toMatchObject({ code: 'invalid_argument' });
      await expect(s.run({ x: { dtype: 'float16', dims: [2, 4], data: new Float32Array(8) } })).rejects.toThrow(/Uint16Array/);
    }
  });

  it('a graph output that is a float16 graph input stays the input; a float16 constant output goes through a Cast', async () => {
    const m: BuildModel = {
      nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['r'] }],
      inputs: [{ name: 'x', dtype: 'float16', dims: [3] }],
      outputs: [
        { name: 'x', dtype: 'float16', dims: [3] },
        { name: 'r', dtype: 'float16', dims: [3] },
        { name: 'c', dtype: 'float16', dims: [2] },
      ],
      initializers: { c: f16([2], [1.5, -0.1]) },
    };
    const g = importOnnx(buildModel(m));
    expect(g.outputs).toEqual(['x', 'r', 'c']);
    expect(g.values.get('c')!.info.dtype).toBe('float16');
    expect(g.values.get('c_float32')!.const!.dtype).toBe('float32');
    const x = f16([3], [-1, 0.333, 2]);
    for (const engine of ENGINES) {
      const r = await (await Session.fromOnnx(buildModel(m), { engine })).run({ x });
      expectSameBits(r['x']!, x);
      expect(values16(r['r']!)).toEqual([0, values16(x)[1], 2]);
      expectSameBits(r['c']!, f16([2], [1.5, -0.1]));
    }
  });

  it('unsupported types are named: FLOAT8E4M3FN input, INT4 initializer, Cast to UINT4, STRING output', () => {
    const bad = (mutate: (p: onnx.ModelProto) => void, re: RegExp): void => {
      const p = onnxRuntime.ModelProto.decode(buildModel(model));
      mutate(p);
      let err: unknown;
      try {
        importOnnx(onnxRuntime.ModelProto.encode(p).finish());
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SparrowError);
      expect((err as SparrowError).code).toBe('unsupported_op');
      expect((err as SparrowError).message).toMatch(re);
    };
    bad((p) => (p.graph!.input![0]!.type!.tensorType!.elemType = 17), /FLOAT8E4M3FN \(17\)/);
    bad((p) => (p.graph!.initializer![0]!.dataType = 22), /INT4 \(22\)/);
    bad((p) => (p.graph!.output![0]!.type!.tensorType!.elemType = 8), /STRING \(8\)/);
    bad((p) => {
      const n = p.graph!.node![0]!;
      n.opType = 'Cast';
      n.input = ['x'];
      n.attribute = [{ name: 'to', type: 2, i: 21 }];
    }, /UINT4 \(21\)/);
  });
});

describe('inner Casts and CastLike', () => {
  it('Cast(to=FLOAT16) inside a float32 graph rounds to float16 values (Cast there and back), as the spec says', async () => {
    const m: BuildModel = {
      nodes: [
        { op: 'Cast', inputs: ['x'], outputs: ['h'], attrs: { to: 10 } },
        { op: 'Relu', inputs: ['h'], outputs: ['r'] },
        { op: 'Cast', inputs: ['r'], outputs: ['y'], attrs: { to: 1 } },
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: [64] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [64] }],
    };
    const g = importOnnx(buildModel(m));
    // Relu of float16 values is a float16 value: the last Cast(to=FLOAT) reads float32 (removeIdentities drops it)
    expect(g.nodes.map((n) => n.op + (n.op === 'Cast' ? String(n.attrs['to']) : ''))).toEqual(['Cast10', 'Cast1', 'Relu', 'Cast1']);
    const x = f32([64], [...randoms(60, 1000), 65519.99, 65520, 1e-8, -3e-5]);
    // oracle: onnxruntime's Cast(to=FLOAT16) alone (checked exhaustively in test/dtypes.ort.test.ts), then max(., 0)
    const rounded = (await (await ort({ ...m, nodes: [m.nodes[0]!], outputs: [{ name: 'h', dtype: 'float16', dims: [64] }] })).run({ x }))[
      'h'
    ]!;
    const want = f32(
      [64],
      values16(rounded).map((v) => Math.max(v, 0)),
    );
    for (const engine of ENGINES) expectSameBits((await (await Session.fromOnnx(buildModel(m), { engine })).run({ x }))['y']!, want);
    // named case: onnxruntime-node 1.30 runs the whole model without the rounding (its CPU Relu has no
    // float16 kernel; the casts it inserts around it cancel the model's own), the spec rounds
    const whole = (await (await ort(m)).run({ x }))['y']!;
    expect(Array.from(whole.data as Float32Array)).toEqual(Array.from(x.data as Float32Array, (v) => Math.max(v, 0)));
  });

  it('Cast(to=DOUBLE) inside becomes Cast(to=FLOAT): one float32 Mul equals onnxruntime double Mul then Cast(to=FLOAT)', async () => {
    const m: BuildModel = {
      nodes: [
        { op: 'Cast', inputs: ['x'], outputs: ['d'], attrs: { to: 11 } },
        { op: 'Mul', inputs: ['d', 'd'], outputs: ['p'] },
        { op: 'Cast', inputs: ['p'], outputs: ['y'], attrs: { to: 1 } },
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: [32] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [32] }],
    };
    const g = importOnnx(buildModel(m));
    expect(g.nodes.map((n) => n.op + (n.op === 'Cast' ? String(n.attrs['to']) : ''))).toEqual(['Cast1', 'Mul', 'Cast1']);
    expect(g.values.get('d')!.info.dtype).toBe('float32');
    const x = f32([32], randoms(32, 1e5));
    const want = (await (await ort(m)).run({ x }))['y']!;
    for (const engine of ENGINES) expectSameBits((await (await Session.fromOnnx(buildModel(m), { engine })).run({ x }))['y']!, want);
  });

  it('CastLike(b, t) where t is a float16 intermediate (Relu of a float16 input) rounds b to float16', async () => {
    const m: BuildModel = {
      nodes: [
        { op: 'Relu', inputs: ['a'], outputs: ['t'] },
        { op: 'CastLike', inputs: ['b', 't'], outputs: ['bc'] },
        { op: 'Add', inputs: ['bc', 't'], outputs: ['y'] },
      ],
      inputs: [
        { name: 'a', dtype: 'float16', dims: [16] },
        { name: 'b', dtype: 'float32', dims: [16] },
      ],
      outputs: [{ name: 'y', dtype: 'float16', dims: [16] }],
      opsets: { '': 19 },
    };
    const g = importOnnx(buildModel(m));
    expect(g.nodes.map((n) => n.op + (n.op === 'Cast' ? String(n.attrs['to']) : ''))).toEqual([
      'Cast1',
      'Relu',
      'Cast10',
      'Cast1',
      'Add',
      'Cast10',
    ]);
    const a = f16([16], randoms(16, 100));
    const b = f32([16], randoms(16, 100));
    // oracle: the spec's float16 arithmetic, each op rounded once to float16 (Relu is exact)
    const av = values16(a).map((v) => Math.max(v, 0));
    const bh = Array.from(b.data as Float32Array, (v) => float16ToNumber(numberToFloat16(v)));
    const want = f16(
      [16],
      av.map((v, i) => Math.fround(v + bh[i]!)),
    );
    for (const engine of ENGINES) expectSameBits((await (await Session.fromOnnx(buildModel(m), { engine })).run({ a, b }))['y']!, want);
    // without CastLike's rounding the sums differ
    const unrounded = f16(
      [16],
      av.map((v, i) => Math.fround(v + (b.data as Float32Array)[i]!)),
    );
    expect(Array.from(unrounded.data as Uint16Array)).not.toEqual(Array.from(want.data as Uint16Array));
  });

  it('DequantizeLinear-23 with output_dtype=FLOAT16 and a float16 scale: as onnxruntime, every engine', async () => {
    const m: BuildModel = {
      nodes: [{ op: 'DequantizeLinear', inputs: ['q', 's', 'z'], outputs: ['y'], attrs: { output_dtype: 10 } }],
      inputs: [{ name: 'q', dtype: 'int8', dims: [6] }],
      outputs: [{ name: 'y', dtype: 'float16', dims: [6] }],
      initializers: { s: f16([], [0.0123]), z: { dtype: 'int8', dims: [], data: Int8Array.of(3) } },
      opsets: { '': 23 },
    };
    const g = importOnnx(buildModel(m));
    expect(g.nodes.find((n) => n.op === 'DequantizeLinear')!.attrs['output_dtype']).toBe(1);
    const q: Tensor = { dtype: 'int8', dims: [6], data: Int8Array.of(-128, -1, 0, 3, 100, 127) };
    const want = (await (await ort(m)).run({ q }))['y']!;
    for (const engine of ENGINES) expectSameBits((await (await Session.fromOnnx(buildModel(m), { engine })).run({ q }))['y']!, want);
  });

  it('a float64 model computes in float32: Add of two doubles gives the float32 sum (within 1 float32 ulp of onnxruntime)', async () => {
    const m: BuildModel = {
      nodes: [{ op: 'Add', inputs: ['x', 'c'], outputs: ['y'] }],
      inputs: [{ name: 'x', dtype: 'float64', dims: [8] }],
      outputs: [{ name: 'y', dtype: 'float64', dims: [8] }],
      initializers: { c: { dtype: 'float64', dims: [8], data: Float64Array.from(randoms(8)) } },
    };
    const x: Tensor = { dtype: 'float64', dims: [8], data: Float64Array.from(randoms(8)) };
    const want = (await (await ort(m)).run({ x }))['y']!.data as Float64Array;
    for (const engine of ENGINES) {
      const s = await Session.fromOnnx(buildModel(m), { engine });
      expect(s.inputInfo['x']!.dtype).toBe('float64');
      const y = (await s.run({ x }))['y']!;
      expect(y.data).toBeInstanceOf(Float64Array);
      const c = (importOnnx(buildModel(m)).values.get('c')!.const!.data as Float32Array)!;
      (y.data as Float64Array).forEach((v, i) => {
        expect(v).toBe(Math.fround(Math.fround((x.data as Float64Array)[i]!) + c[i]!)); // exactly the float32 sum
        expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(2 ** -22 * Math.abs(want[i]!));
      });
    }
  });
});

describe('float16 subgraphs', () => {
  it('an If whose branches compute in float16 (a float16 outer input, float16 constants, a Cast to FLOAT16): as onnxruntime, every engine', async () => {
    const m: BuildModel = {
      opsets: { '': 19 },
      inputs: [
        { name: 'c', dtype: 'bool', dims: [] },
        { name: 'x', dtype: 'float16', dims: [8] },
        { name: 'b', dtype: 'float32', dims: [8] },
      ],
      outputs: [{ name: 'z', dtype: 'float16', dims: [8] }],
      nodes: [
        {
          op: 'If',
          inputs: ['c'],
          outputs: ['z'],
          attrs: {
            then_branch: {
              graph: {
                nodes: [{ op: 'Add', inputs: ['x', 'k'], outputs: ['t'] }],
                inputs: [],
                outputs: [{ name: 't', dtype: 'float16', dims: [8] }],
                initializers: { k: f16([8], randoms(8, 10)) },
              },
            },
            else_branch: {
              graph: {
                nodes: [{ op: 'Cast', inputs: ['b'], outputs: ['e'], attrs: { to: 10 } }],
                inputs: [],
                outputs: [{ name: 'e', dtype: 'float16', dims: [8] }],
              },
            },
          },
        },
      ],
    };
    const x = f16([8], randoms(8, 100));
    const b = f32([8], randoms(8, 100));
    const o = await ort(m);
    for (const c of [1, 0]) {
      const feeds = { c: { dtype: 'bool' as const, dims: [], data: Uint8Array.of(c) }, x, b };
      const want = (await o.run(feeds))['z']!;
      for (const engine of ENGINES) expectSameBits((await (await Session.fromOnnx(buildModel(m), { engine })).run(feeds))['z']!, want);
    }
  });
});

describe('lowerFloatEdges on hand-built graphs', () => {
  // EyeLike's `dtype` attribute and ConstantOfShape's float16 `value`: a stand-in EyeLike definition
  const eyeLike: OpDef = {
    op: 'EyeLike',
    domain: '',
    sinceVersion: 9,
    untilVersion: 25,
    ref: () => [],
    shape: (inputs, attrs) => [{ dtype: attrs['dtype'] === 1 ? 'float32' : 'int64', dims: inputs[0]!.dims }],
  };

  it('a dtype attribute naming FLOAT16 names FLOAT; a float16 tensor attribute becomes float32; their outputs count as float16 for CastLike', () => {
    const cos = resolveOp('ConstantOfShape', '', 21, 'c');
    const castLike = resolveOp('CastLike', '', 21, 'l');
    const g: Graph = {
      name: 'g',
      opsets: { '': 21 },
      inputs: ['s', 'z'],
      outputs: ['y1', 'y2'],
      nodes: [
        { name: 'e', op: 'EyeLike', domain: '', opset: 21, inputs: ['s'], outputs: ['eye'], attrs: { dtype: 10 }, def: eyeLike },
        {
          name: 'c',
          op: 'ConstantOfShape',
          domain: '',
          opset: 21,
          inputs: ['shape'],
          outputs: ['k'],
          attrs: { value: f16([1], [0.1]) },
          def: cos,
        },
        { name: 'l1', op: 'CastLike', domain: '', opset: 21, inputs: ['z', 'eye'], outputs: ['y1'], attrs: {}, def: castLike },
        { name: 'l2', op: 'CastLike', domain: '', opset: 21, inputs: ['z', 'k'], outputs: ['y2'], attrs: {}, def: castLike },
      ],
      values: new Map([
        ['s', { name: 's', info: { dtype: 'int64', dims: [2, 2] } }],
        ['z', { name: 'z', info: { dtype: 'float32', dims: [2] } }],
        ['shape', { name: 'shape', info: { dtype: 'int64', dims: [1] }, const: { dtype: 'int64', dims: [1], data: BigInt64Array.of(2n) } }],
        ['eye', { name: 'eye', info: { dtype: 'float32', dims: null } }],
        ['k', { name: 'k', info: { dtype: 'float32', dims: null } }],
        ['y1', { name: 'y1', info: { dtype: 'float32', dims: null } }],
        ['y2', { name: 'y2', info: { dtype: 'float32', dims: null } }],
      ]),
    };
    const edges = lowerFloatEdges(g, new Map());
    expect(g.nodes[0]!.attrs['dtype']).toBe(1);
    const v = g.nodes.find((n) => n.op === 'ConstantOfShape')!.attrs['value'] as Tensor;
    expect(v.dtype).toBe('float32');
    expect(v.data[0]).toBe(float16ToNumber(numberToFloat16(0.1)));
    expect(edges.origin.get('eye')).toBe('float16');
    expect(edges.origin.get('k')).toBe('float16');
    inferShapes(g);
    expect(roundCastLikes(g, edges)).toBe(2);
    expect(g.nodes.map((n) => n.op + (n.op === 'Cast' ? String(n.attrs['to']) : ''))).toEqual([
      'EyeLike',
      'ConstantOfShape',
      'Cast10',
      'Cast1',
      'Cast10',
      'Cast1',
    ]);
    expect(g.nodes.at(-1)!.outputs).toEqual(['y2']);
  });
});
