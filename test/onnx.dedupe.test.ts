// One owner for the ONNX -> IR conversions (src/onnx/attributes.ts), used by the importer and the
// backend tests; the data type tables are op vocabulary (src/ops/dtypes.ts, Cast):
//   - attributes.ts re-exports dtypes.ts's functions, not copies;
//   - attributes.ts's AttributeType codes and data type names agree with onnx-proto's enums;
//   - attrsFromOnnx (importer, strict) and attrsFromNode (backend tests, lenient) give the same
//     values; attrsFromNode leaves out what attrsFromOnnx rejects;
//   - the reference kernels (src/ops/ref) bundle without onnx-proto / protobufjs.
import { describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { resolve } from 'node:path';
import * as attributes from '../src/onnx/attributes.js';
import * as dtypes from '../src/ops/dtypes.js';
import { onnxRuntime, type onnx } from '../src/onnx/proto.js';
import { SparrowError } from '../src/errors.js';

const T = onnxRuntime.AttributeProto.AttributeType;
const bytes = (s: string) => new TextEncoder().encode(s);

describe('ONNX conversions: one owner', () => {
  it('attributes.ts re-exports the data type tables of ops/dtypes.ts', () => {
    expect(attributes.dtypeFromOnnx).toBe(dtypes.dtypeFromOnnx);
    expect(attributes.dtypeName).toBe(dtypes.dtypeName);
    expect(attributes.onnxDtypeCode).toBe(dtypes.onnxDtypeCode);
    expect(attributes.dtypeFromCode).toBe(dtypes.dtypeFromCode);
  });

  it('AttributeType codes and data type names match onnx-proto', () => {
    expect({ ...attributes.ATTRIBUTE_TYPE }).toEqual(Object.fromEntries(Object.entries(T)));
    for (const [name, code] of Object.entries(onnxRuntime.TensorProto.DataType)) expect(attributes.dtypeName(code as number)).toBe(name);
    const D = onnxRuntime.TensorProto.DataType;
    const codes: Record<string, number> = { float32: D.FLOAT, float64: D.DOUBLE, float16: D.FLOAT16, bfloat16: D.BFLOAT16, uint8: D.UINT8 };
    Object.assign(codes, {
      int8: D.INT8,
      uint16: D.UINT16,
      int16: D.INT16,
      int32: D.INT32,
      uint32: D.UINT32,
      int64: D.INT64,
      uint64: D.UINT64,
      bool: D.BOOL,
    });
    for (const [d, code] of Object.entries(codes)) {
      expect(attributes.onnxDtypeCode(d as never)).toBe(code);
      expect(attributes.dtypeFromOnnx(code)).toBe(d);
      expect(attributes.dtypeFromCode(code, 'x')).toBe(d);
    }
    expect(attributes.dtypeFromOnnx(17)).toBeUndefined();
    expect(() => attributes.dtypeFromCode(17, 'x')).toThrow(/FLOAT8E4M3FN/);
  });

  const node = (attribute: onnx.IAttributeProto[], opType = 'Foo'): onnx.INodeProto =>
    onnxRuntime.NodeProto.decode(onnxRuntime.NodeProto.encode({ name: 'n', opType, input: ['x'], output: ['y'], attribute }).finish());

  it('attrsFromOnnx and attrsFromNode convert every kind alike', () => {
    const n = node([
      { name: 'i', type: T.INT, i: -3 },
      { name: 'big', type: T.INT, i: '9223372036854775807' }, // INT64_MAX ("to the end"): saturated
      { name: 'f', type: T.FLOAT, f: 0.1 },
      { name: 's', type: T.STRING, s: bytes('réflect') },
      { name: 'is', type: T.INTS, ints: [1, -2, '-9223372036854775808'] },
      { name: 'fs', type: T.FLOATS, floats: [0.5, 1.5] },
      { name: 'ss', type: T.STRINGS, strings: [bytes('a'), bytes('b')] },
      { name: 't', type: T.TENSOR, t: { dataType: 9, dims: [2], int32Data: [1, 0] } },
      { name: 'u', type: T.TENSOR, t: { dataType: 7, dims: [1], int64Data: [5] } },
      { name: 'untyped', ints: [4, 5] }, // IR v1: the type follows the set field
    ]);
    const a = attributes.attrsFromOnnx(n, 'n');
    expect(a).toEqual({
      i: -3,
      big: Number.MAX_SAFE_INTEGER,
      f: Math.fround(0.1),
      s: 'réflect',
      is: [1, -2, -Number.MAX_SAFE_INTEGER],
      fs: [0.5, 1.5],
      ss: ['a', 'b'],
      t: { dtype: 'bool', dims: [2], data: Uint8Array.from([1, 0]) },
      u: { dtype: 'int64', dims: [1], data: BigInt64Array.of(5n) },
      untyped: [4, 5],
    });
    expect(attributes.attrsFromNode(n)).toEqual(a);
  });

  it('attrsFromNode leaves out what attrsFromOnnx rejects; adds Split num_outputs', () => {
    const bad: Array<[onnx.IAttributeProto, string, RegExp]> = [
      [{ name: 'g', type: T.GRAPH, g: { name: 'body' } }, 'unsupported_op', /subgraph attribute 'g'/],
      [{ name: 'ts', type: T.TENSORS, tensors: [{ dataType: 1, dims: [0] }] }, 'unsupported_op', /type TENSORS/],
      [{ name: 'r', type: T.INT, refAttrName: 'outer' }, 'invalid_model', /function attribute/],
      [{ name: '', type: T.INT, i: 1 }, 'invalid_model', /without a name/],
    ];
    for (const [attr, code, msg] of bad) {
      const n = node([{ name: 'keep', type: T.INT, i: 1 }, attr]);
      expect(attributes.attrsFromNode(n)).toEqual({ keep: 1 });
      let err: unknown;
      try {
        attributes.attrsFromOnnx(n, 'n');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SparrowError);
      expect((err as SparrowError).code).toBe(code);
      expect((err as Error).message).toMatch(msg);
    }
    const split = onnxRuntime.NodeProto.decode(
      onnxRuntime.NodeProto.encode({ opType: 'Split', input: ['x'], output: ['a', 'b', 'c'], attribute: [] }).finish(),
    );
    expect(attributes.attrsFromNode(split)).toEqual({ num_outputs: 3 });
  });

  it('the reference kernels bundle without onnx-proto or protobufjs', async () => {
    const r = await build({
      entryPoints: [resolve('src/ops/ref/index.ts'), resolve('src/ops/ref/util.ts')],
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      platform: 'browser',
      outdir: 'out',
      logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile!.inputs);
    expect(inputs.some((f) => f.endsWith('src/ops/dtypes.ts'))).toBe(true); // Cast's data type table
    expect(inputs.some((f) => f.includes('src/onnx/'))).toBe(false); // ops sit below onnx
    expect(inputs.filter((f) => /node_modules\/(onnx-proto|@?protobufjs)\//.test(f))).toEqual([]);
  });
});
