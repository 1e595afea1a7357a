import { describe, it, expect } from 'vitest';
import { decodeModel, onnxRuntime, int64ToBigInt, type onnx } from '../src/onnx/proto.js';
import { tensorFromProto, listInitializers, weightTensors, type OnnxTensor } from '../src/onnx/initializers.js';
import { SparrowError } from '../src/errors.js';

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a SparrowError').toBeInstanceOf(SparrowError);
  expect((thrown as SparrowError).code).toBe(code);
}

/** Encodes then decodes, as a TensorProto read from a model file would be. */
function roundTrip(t: onnx.ITensorProto): onnx.TensorProto {
  return onnxRuntime.TensorProto.decode(onnxRuntime.TensorProto.encode(t).finish());
}

describe('tensorFromProto: typed fields and raw_data decode to the same tensor', () => {
  const le = (ta: ArrayBufferView) => new Uint8Array(ta.buffer, ta.byteOffset, ta.byteLength).slice();
  const f32 = Float32Array.of(1.5, -2, 0, 3e-40, 1e30, -0);
  const f64 = Float64Array.of(Math.PI, -1e-300, 2 ** 60);
  const i64 = BigInt64Array.of(0n, -1n, 2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n, 1234567890123n);
  const i32 = Int32Array.of(-2147483648, 0, 2147483647, 7);
  const i8 = Int8Array.of(-128, -1, 0, 127);
  const u8 = Uint8Array.of(0, 1, 128, 255);
  const i16 = Int16Array.of(-32768, -1, 0, 32767);
  const u16 = Uint16Array.of(0, 1, 32768, 65535);
  const u32 = Uint32Array.of(0, 1, 2 ** 31, 2 ** 32 - 1);
  const u64 = BigUint64Array.of(0n, 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 53n + 1n, 7n);
  const h16 = Uint16Array.of(0x3c00, 0x8000, 0x7bff, 0x0001, 0xfc00, 0x7e00); // float16 bits: 1, -0, 65504, 2^-24, -Inf, NaN
  const bf16 = Uint16Array.of(0x3f80, 0xc020, 0x7f7f, 0x0001); // bfloat16 bits: 1, -2.5, max, smallest subnormal

  const cases: Array<{
    label: string;
    dataType: number;
    dims: number[];
    typed: onnx.ITensorProto;
    raw: Uint8Array;
    expected: ArrayBufferView;
  }> = [
    { label: 'float32', dataType: 1, dims: [2, 3], typed: { floatData: Array.from(f32) }, raw: le(f32), expected: f32 },
    { label: 'float64', dataType: 11, dims: [3], typed: { doubleData: Array.from(f64) }, raw: le(f64), expected: f64 },
    {
      label: 'int64',
      dataType: 7,
      dims: [3, 2],
      typed: onnxRuntime.TensorProto.fromObject({ int64Data: Array.from(i64, String) }),
      raw: le(i64),
      expected: i64,
    },
    { label: 'int32', dataType: 6, dims: [4], typed: { int32Data: Array.from(i32) }, raw: le(i32), expected: i32 },
    { label: 'int8', dataType: 3, dims: [2, 2], typed: { int32Data: Array.from(i8) }, raw: le(i8), expected: i8 },
    { label: 'uint8', dataType: 2, dims: [1, 4], typed: { int32Data: Array.from(u8) }, raw: le(u8), expected: u8 },
    { label: 'int16', dataType: 5, dims: [4], typed: { int32Data: Array.from(i16) }, raw: le(i16), expected: i16 },
    { label: 'uint16', dataType: 4, dims: [4], typed: { int32Data: Array.from(u16) }, raw: le(u16), expected: u16 },
    // ONNX keeps UINT32 and UINT64 in uint64_data, the bits of FLOAT16 and BFLOAT16 in int32_data
    { label: 'uint32', dataType: 12, dims: [4], typed: { uint64Data: Array.from(u32) }, raw: le(u32), expected: u32 },
    {
      label: 'uint64',
      dataType: 13,
      dims: [2, 3],
      typed: onnxRuntime.TensorProto.fromObject({ uint64Data: Array.from(u64, String) }),
      raw: le(u64),
      expected: u64,
    },
    { label: 'float16', dataType: 10, dims: [6], typed: { int32Data: Array.from(h16) }, raw: le(h16), expected: h16 },
    { label: 'bfloat16', dataType: 16, dims: [4], typed: { int32Data: Array.from(bf16) }, raw: le(bf16), expected: bf16 },
  ];

  for (const c of cases) {
    it(c.label, () => {
      const typed = roundTrip({ ...c.typed, name: 't', dataType: c.dataType, dims: c.dims });
      // raw_data placed at an odd byteOffset inside a bigger buffer
      const padded = new Uint8Array(c.raw.length + 3);
      padded.set(c.raw, 3);
      const rawDirect: onnx.ITensorProto = { name: 't', dataType: c.dataType, dims: c.dims, rawData: padded.subarray(3) };
      const results: OnnxTensor[] = [tensorFromProto(typed), tensorFromProto(roundTrip(rawDirect)), tensorFromProto(rawDirect)];
      for (const r of results) {
        expect(r.name).toBe('t');
        expect(r.dtype).toBe(c.label);
        expect(r.dims).toEqual(c.dims);
        expect(r.data.constructor).toBe(c.expected.constructor);
        expect(r.data.byteOffset % 8).toBe(0);
        expect(le(r.data)).toEqual(le(c.expected)); // bytewise: keeps -0 and denormals exact
      }
    });
  }

  it('int64_data as plain numbers (as created in browsers without Long) and as Longs', () => {
    const plain = tensorFromProto({ name: 'n', dataType: 7, dims: [3], int64Data: [1, -2, 2 ** 53 - 1] });
    expect(Array.from(plain.data as BigInt64Array)).toEqual([1n, -2n, 2n ** 53n - 1n]);
    const decoded = roundTrip({ name: 'n', dataType: 7, dims: [3], int64Data: [1, -2, 2 ** 53 - 1] });
    expect(typeof decoded.int64Data[0]).toBe('object'); // protobufjs hands back Long objects in Node
    expect(tensorFromProto(decoded).data).toEqual(plain.data);
    // INT64_MAX as protobufjs reports it without Long (rounded to 2^63): saturates, does not wrap
    const approx = tensorFromProto({ name: 'm', dataType: 7, dims: [2], int64Data: [9223372036854775807, -9223372036854775808] });
    expect(Array.from(approx.data as BigInt64Array)).toEqual([2n ** 63n - 1n, -(2n ** 63n)]);
    expect(int64ToBigInt({ low: 0, high: -2147483648 })).toBe(-(2n ** 63n));
    expect(int64ToBigInt({ low: -1, high: -1, unsigned: true })).toBe(2n ** 64n - 1n);
  });

  it('scalars and empty tensors', () => {
    const s = tensorFromProto(roundTrip({ name: 's', dataType: 1, dims: [], floatData: [4.25] }));
    expect(s.dims).toEqual([]);
    expect(Array.from(s.data as Float32Array)).toEqual([4.25]);
    const e = tensorFromProto(roundTrip({ name: 'e', dataType: 1, dims: [0, 3] }));
    expect(e.data.length).toBe(0);
    expect(e.dims).toEqual([0, 3]);
  });

  it('element count != product(dims) -> invalid_model', () => {
    expectCode(() => tensorFromProto({ name: 'a', dataType: 1, dims: [2, 3], floatData: [1, 2, 3, 4, 5] }), 'invalid_model');
    expectCode(() => tensorFromProto({ name: 'a', dataType: 1, dims: [2, 3], rawData: new Uint8Array(23) }), 'invalid_model');
    expectCode(() => tensorFromProto({ name: 'a', dataType: 1, dims: [2, 3], rawData: new Uint8Array(28) }), 'invalid_model');
    expectCode(() => tensorFromProto({ name: 'a', dataType: 7, dims: [2], int64Data: [1] }), 'invalid_model');
    expectCode(() => tensorFromProto({ name: 'a', dataType: 1, dims: [4] }), 'invalid_model');
    expectCode(() => tensorFromProto({ name: 'a', dataType: 1, dims: [-1], floatData: [] }), 'invalid_model');
    expectCode(() => tensorFromProto({ name: 'a', dataType: 3, dims: [2], int32Data: [1, 200] }), 'invalid_model');
    expectCode(() => tensorFromProto({ name: 'a', dataType: 2, dims: [1], int32Data: [-1] }), 'invalid_model');
    expectCode(() => tensorFromProto({ name: 'a', dataType: 10, dims: [1], int32Data: [65536] }), 'invalid_model'); // not 16 bits
    expectCode(() => tensorFromProto({ name: 'a', dataType: 5, dims: [1], int32Data: [40000] }), 'invalid_model');
    expectCode(() => tensorFromProto({ name: 'a', dataType: 12, dims: [1], uint64Data: [2 ** 32] }), 'invalid_model');
  });

  it('unsupported data types and external data -> unsupported_op', () => {
    expectCode(() => tensorFromProto({ name: 'h', dataType: 17, dims: [1], int32Data: [0] }), 'unsupported_op'); // FLOAT8E4M3FN
    expectCode(() => tensorFromProto({ name: 'h', dataType: 22, dims: [1], int32Data: [0] }), 'unsupported_op'); // INT4
    expect(() => tensorFromProto({ name: 'h', dataType: 8, dims: [1] })).toThrow(/STRING \(8\)/);
    expectCode(() => tensorFromProto({ name: 'b', dataType: 9, dims: [1], int32Data: [1] }), 'unsupported_op');
    expectCode(
      () => tensorFromProto({ name: 'x', dataType: 1, dims: [1], dataLocation: 1, externalData: [{ key: 'location', value: 'w.bin' }] }),
      'unsupported_op',
    );
  });
});

describe('Constant nodes, Gemm transB=0, and MatMul weights from Constants', () => {
  const R = onnxRuntime;
  const t = (name: string, dims: number[], data: number[]): onnx.ITensorProto => ({ name, dataType: 1, dims, floatData: data });
  const model = R.ModelProto.decode(
    R.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'g',
        initializer: [t('B', [2, 3], [1, 2, 3, 4, 5, 6])],
        node: [
          { opType: 'Constant', output: ['C'], attribute: [{ name: 'value', type: 4, t: t('', [3, 2], [6, 5, 4, 3, 2, 1]) }] },
          { opType: 'Constant', output: ['K'], attribute: [{ name: 'value_ints', type: 7, ints: [2, -1] }] },
          { opType: 'Constant', output: ['F'], attribute: [{ name: 'value_float', type: 1, f: 0.5 }] },
          { opType: 'Gemm', name: 'gemm', input: ['X', 'B'], output: ['Y'], attribute: [{ name: 'transB', type: 2, i: 0 }] },
          { opType: 'MatMul', name: 'mm', input: ['Y', 'C'], output: ['Z'] },
          { opType: 'MatMul', name: 'mm2', input: ['Z', 'Z'], output: ['W'] }, // non-constant weight: skipped
          { opType: 'Reshape', name: 'rs', input: ['C', 'K'], output: ['C2'] },
          { opType: 'Identity', name: 'id', input: ['C2'], output: ['C3'] },
          { opType: 'Conv', name: 'conv', input: ['W', 'C3'], output: ['V'] }, // same stored tensor C: listed once
        ],
      },
    }).finish(),
  );

  it('listInitializers includes Constant tensors named after their outputs', () => {
    const all = listInitializers(model);
    expect(all.map((x) => [x.name, x.source, x.dtype, x.dims])).toEqual([
      ['B', 'initializer', 'float32', [2, 3]],
      ['C', 'constant', 'float32', [3, 2]],
      ['K', 'constant', 'int64', [2]],
      ['F', 'constant', 'float32', []],
    ]);
    expect(Array.from(all[2]!.data as BigInt64Array)).toEqual([2n, -1n]);
  });

  it('weightTensors: node order, transB=false, Constant weight, non-constant skipped', () => {
    const ws = weightTensors(model);
    expect(ws.map((w) => [w.op, w.name, w.dims, w.transB, w.node])).toEqual([
      ['Gemm', 'B', [2, 3], false, 'gemm'],
      ['MatMul', 'C', [3, 2], undefined, 'mm'],
    ]);
    expect(Array.from(ws[1]!.data)).toEqual([6, 5, 4, 3, 2, 1]);
  });
});

describe('decodeModel rejects bad bytes with SparrowError invalid_model', () => {
  it('empty, text, random bytes, wrong type', () => {
    expectCode(() => decodeModel(new Uint8Array(0)), 'invalid_model');
    expectCode(() => decodeModel(new TextEncoder().encode('this is not an onnx model')), 'invalid_model');
    expectCode(() => decodeModel(Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f)), 'invalid_model'); // huge length
    expectCode(() => decodeModel('model' as unknown as Uint8Array), 'invalid_model');
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let trial = 0; trial < 200; trial++) {
      const junk = Uint8Array.from({ length: 1 + (trial % 64) * 7 }, rnd);
      expectCode(() => decodeModel(junk), 'invalid_model');
    }
  });

  it('a well-formed protobuf with no graph or no opset_import', () => {
    const R = onnxRuntime;
    expectCode(() => decodeModel(R.ModelProto.encode({ irVersion: 8, opsetImport: [{ version: 13 }] }).finish()), 'invalid_model');
    expectCode(() => decodeModel(R.ModelProto.encode({ irVersion: 8, graph: { name: 'g' } }).finish()), 'invalid_model');
  });
});
