// ONNX → IR import on hand-built models: constants (initializers, IR v3 initializer inputs,
// Constant nodes), attributes, value infos, opsets, op resolution errors, malformed models.
// Ops live in a private test domain so these tests do not depend on src/ops/ref.
import { describe, it, expect } from 'vitest';
import { SparrowError } from '../src/errors.js';
import { hasOp, registerOp } from '../src/ops/registry.js';
import type { Attrs, OpDef, Tensor } from '../src/ops/types.js';
import { importOnnx } from '../src/onnx/import.js';
import { onnxRuntime } from '../src/onnx/proto.js';
import { buildModel, buildModelProto, f32, i64, type BuildModel } from '../src/onnx/build.js';
import { runReference } from '../src/runtime/reference.js';
import '../src/ops/ref/index.js';

const D = 'sparrow.test';
const seenAttrs: Attrs[] = [];
// Echo: output = input 0 (same info); Pair: two outputs (input, input); Cat: int64 concat of 1-D inputs.
const defs: OpDef[] = [
  {
    op: 'Echo',
    domain: D,
    sinceVersion: 1,
    untilVersion: 3,
    ref: (inputs, attrs) => {
      seenAttrs.push(attrs);
      return [inputs[0]!];
    },
    shape: (inputs) => [inputs[0]!],
  },
  {
    op: 'Pair',
    domain: D,
    sinceVersion: 1,
    untilVersion: 3,
    ref: (inputs) => [inputs[0]!, inputs[0]!],
    shape: (inputs) => [inputs[0]!, inputs[0]!],
  },
];
for (const d of defs) if (!hasOp(d.op, d.domain, 1)) registerOp(d);

const OPSETS = { '': 13, [D]: 1 };
const vin = (name: string, dims: Array<number | string> | null = [2], dtype: Tensor['dtype'] = 'float32') => ({ name, dtype, dims });

function expectCode(fn: () => unknown, code: string, re?: RegExp): SparrowError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a SparrowError').toBeInstanceOf(SparrowError);
  expect((thrown as SparrowError).code).toBe(code);
  if (re) expect((thrown as SparrowError).message).toMatch(re);
  return thrown as SparrowError;
}

const echo = (i: string, o: string, attrs?: BuildModel['nodes'][number]['attrs'], name?: string) => ({
  op: 'Echo',
  domain: D,
  inputs: [i],
  outputs: [o],
  ...(attrs ? { attrs } : {}),
  ...(name ? { name } : {}),
});

describe('importOnnx: values', () => {
  it('initializers (raw_data and typed fields) become constants; graph inputs keep their declared info', () => {
    for (const typedFields of [false, true]) {
      const w = f32([2, 3], [1, 2, 3, 4, 5, 6]);
      const s = i64([2], [3, -1]);
      const g = importOnnx(
        buildModel({
          opsets: OPSETS,
          typedFields,
          inputs: [vin('x', ['N', 3, 5, 5]), vin('tok', [1, 'T'], 'int64'), vin('u', null)],
          outputs: [vin('y', ['N', 3, 5, 5])],
          initializers: { w, s },
          nodes: [echo('x', 'y'), echo('w', 'w2'), echo('s', 's2'), echo('tok', 't2'), echo('u', 'u2')],
        }),
      );
      expect(g.inputs).toEqual(['x', 'tok', 'u']);
      expect(g.values.get('x')!.info).toEqual({ dtype: 'float32', dims: [-1, 3, 5, 5] });
      expect(g.values.get('tok')!.info).toEqual({ dtype: 'int64', dims: [1, -1] });
      expect(g.values.get('u')!.info).toEqual({ dtype: 'float32', dims: null });
      const wc = g.values.get('w')!.const!;
      expect(wc.dtype).toBe('float32');
      expect(wc.dims).toEqual([2, 3]);
      expect(Array.from(wc.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(Array.from(g.values.get('s')!.const!.data as BigInt64Array)).toEqual([3n, -1n]);
      // shapes were inferred through the nodes
      expect(g.values.get('y')!.info).toEqual({ dtype: 'float32', dims: [-1, 3, 5, 5] });
      expect(g.values.get('w2')!.info).toEqual({ dtype: 'float32', dims: [2, 3] });
      expect(g.values.get('s2')!.info).toEqual({ dtype: 'int64', dims: [2] });
    }
  });

  it('graph inputs that are also initializers (IR v3/v4 exporters) are constants, not inputs', () => {
    const g = importOnnx(
      buildModel({
        opsets: OPSETS,
        irVersion: 3,
        initializersAsInputs: true,
        inputs: [vin('x')],
        outputs: [vin('y')],
        initializers: { w: f32([2], [1, 2]) },
        nodes: [echo('x', 'y'), echo('w', 'z')],
      }),
    );
    expect(g.inputs).toEqual(['x']);
    expect(g.values.get('w')!.const).toBeDefined();
  });

  it('Constant nodes (value, value_float, value_floats, value_int, value_ints) become constants, not nodes', () => {
    const g = importOnnx(
      buildModel({
        opsets: OPSETS,
        inputs: [vin('x')],
        outputs: [vin('y'), vin('c1', [2]), vin('c2', [], 'float32')],
        nodes: [
          { op: 'Constant', inputs: [], outputs: ['c1'], attrs: { value: f32([2], [0.5, -1]) } },
          { op: 'Constant', inputs: [], outputs: ['c2'], attrs: { value_float: { float: 2 } } },
          { op: 'Constant', inputs: [], outputs: ['c3'], attrs: { value_floats: { floats: [1, 2, 3] } } },
          { op: 'Constant', inputs: [], outputs: ['c4'], attrs: { value_int: 7 } },
          { op: 'Constant', inputs: [], outputs: ['c5'], attrs: { value_ints: [1, -2] } },
          echo('x', 'y'),
        ],
      }),
    );
    expect(g.nodes.map((n) => n.op)).toEqual(['Echo']);
    const c = (n: string) => g.values.get(n)!.const!;
    expect([c('c1').dtype, c('c1').dims, Array.from(c('c1').data as Float32Array)]).toEqual(['float32', [2], [0.5, -1]]);
    expect([c('c2').dims, Array.from(c('c2').data as Float32Array)]).toEqual([[], [2]]);
    expect([c('c3').dims, Array.from(c('c3').data as Float32Array)]).toEqual([[3], [1, 2, 3]]);
    expect([c('c4').dtype, c('c4').dims, Array.from(c('c4').data as BigInt64Array)]).toEqual(['int64', [], [7n]]);
    expect([c('c5').dims, Array.from(c('c5').data as BigInt64Array)]).toEqual([[2], [1n, -2n]]);
    // constant graph outputs come back as copies
    const out = runReference(g, { x: f32([2], [1, 2]) });
    expect(Array.from(out['c1']!.data as Float32Array)).toEqual([0.5, -1]);
    expect(out['c1']!.data).not.toBe(c('c1').data);
  });

  it('bool tensors (raw_data bytes) are read', () => {
    const b: Tensor = { dtype: 'bool', dims: [3], data: Uint8Array.of(1, 0, 1) };
    const g = importOnnx(
      buildModel({
        opsets: OPSETS,
        inputs: [vin('x')],
        outputs: [vin('y')],
        initializers: { b },
        nodes: [echo('x', 'y'), echo('b', 'b2')],
      }),
    );
    expect(g.values.get('b')!.const).toEqual(b);
  });
});

describe('importOnnx: attributes, opsets, names', () => {
  it('converts INT, FLOAT, STRING, INTS, FLOATS, STRINGS and TENSOR attributes', () => {
    const g = importOnnx(
      buildModel({
        opsets: OPSETS,
        inputs: [vin('x')],
        outputs: [vin('y')],
        nodes: [
          echo('x', 'y', {
            i: 3,
            f: 0.25,
            s: 'héllo',
            is: [1, -2, 3],
            fs: [0.5, 1.5],
            ss: ['a', 'bc'],
            t: i64([2], [4, 5]),
            big: 9_007_199_254_740_993, // > 2^53: saturates to MAX_SAFE_INTEGER (an "until the end" marker)
          }),
        ],
      }),
    );
    const a = g.nodes[0]!.attrs;
    expect(a['i']).toBe(3);
    expect(a['f']).toBe(0.25);
    expect(a['s']).toBe('héllo');
    expect(a['is']).toEqual([1, -2, 3]);
    expect(a['fs']).toEqual([0.5, 1.5]);
    expect(a['ss']).toEqual(['a', 'bc']);
    expect(a['t']).toEqual(i64([2], [4, 5]));
    expect(a['big']).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('INT64_MAX / INT64_MIN int attributes saturate instead of failing', () => {
    const proto = buildModelProto({ opsets: OPSETS, inputs: [vin('x')], outputs: [vin('y')], nodes: [echo('x', 'y', { e: 0, f: 0 })] });
    const attrs = proto.graph!.node![0]!.attribute!;
    attrs[0]!.i = '9223372036854775807' as unknown as number; // protobufjs accepts decimal strings for int64
    attrs[1]!.i = '-9223372036854775808' as unknown as number;
    const g = importOnnx(onnxRuntime.ModelProto.encode(proto).finish());
    expect(g.nodes[0]!.attrs).toEqual({ e: Number.MAX_SAFE_INTEGER, f: -Number.MAX_SAFE_INTEGER });
  });

  it('reads the opset per domain ("ai.onnx" = ""), names unnamed nodes, sorts unsorted nodes', () => {
    const proto = buildModelProto({
      opsets: { 'ai.onnx': 11, [D]: 3 },
      inputs: [vin('x')],
      outputs: [vin('z')],
      nodes: [echo('y', 'z', undefined, ''), echo('x', 'y', undefined, 'first')],
    });
    proto.graph!.node![0]!.name = '';
    const g = importOnnx(onnxRuntime.ModelProto.encode(proto).finish());
    expect(g.opsets).toEqual({ '': 11, [D]: 3 });
    expect(g.nodes.map((n) => n.name)).toEqual(['first', 'Echo#0']);
    expect(g.nodes.every((n) => n.opset === 3 && n.domain === D)).toBe(true);
  });

  it('a node whose domain is not imported is invalid_model', () => {
    expectCode(
      () =>
        importOnnx(
          buildModel({
            opsets: { '': 13 },
            inputs: [vin('x')],
            outputs: [vin('y')],
            nodes: [echo('x', 'y')],
          }),
        ),
      'invalid_model',
      /sparrow\.test/,
    );
  });
});

describe('importOnnx: unsupported and malformed models', () => {
  it('an unsupported op names op, opset and node', () => {
    const e = expectCode(
      () =>
        importOnnx(
          buildModel({
            opsets: { '': 17 },
            inputs: [vin('x')],
            outputs: [vin('y')],
            nodes: [{ op: 'FancyOp', inputs: ['x'], outputs: ['y'], name: 'the_node' }],
          }),
        ),
      'unsupported_op',
    );
    expect(e.message).toMatch(/FancyOp/);
    expect(e.message).toMatch(/opset 17/);
    expect(e.message).toMatch(/the_node/);
    expect(e.details).toMatchObject({ op: 'FancyOp', opset: 17, node: 'the_node' });
  });

  it('an op outside its registered opset range is unsupported_op', () => {
    expectCode(
      () =>
        importOnnx(
          buildModel({
            opsets: { '': 13, [D]: 4 },
            inputs: [vin('x')],
            outputs: [vin('y')],
            nodes: [echo('x', 'y', undefined, 'e4')],
          }),
        ),
      'unsupported_op',
      /Echo at opset 4 \(1 node, first "e4"\) \[supported opsets: 1-3\]/,
    );
  });

  it('several unsupported ops are named in one error: op, opset, count, first node', () => {
    const e = expectCode(
      () =>
        importOnnx(
          buildModel({
            opsets: { '': 17, [D]: 2 },
            inputs: [vin('x')],
            outputs: [vin('z')],
            nodes: [
              { op: 'Fancy', inputs: ['x'], outputs: ['a'], name: 'f1' },
              echo('a', 'b', undefined, 'e'),
              { op: 'Weird', inputs: ['b'], outputs: ['c'], name: 'w1' },
              { op: 'Fancy', inputs: ['c'], outputs: ['d'], name: 'f2' },
              { op: 'Fancy', inputs: ['d'], outputs: ['z'], name: 'f3' },
            ],
          }),
        ),
      'unsupported_op',
    );
    expect(e.message).toBe('2 unsupported ops: Fancy at opset 17 (3 nodes, first "f1"); Weird at opset 17 (1 node, first "w1")');
    expect(e.details).toMatchObject({
      op: 'Fancy',
      opset: 17,
      node: 'f1',
      unsupported: [
        { op: 'Fancy', domain: '', opset: 17, count: 3, node: 'f1' },
        { op: 'Weird', domain: '', opset: 17, count: 1, node: 'w1' },
      ],
    });
  });

  it('subgraph attributes (If) are imported: a branch reading an outer value makes it an implicit input', () => {
    const proto = buildModelProto({
      opsets: { '': 13 },
      inputs: [vin('x'), vin('cond', [], 'bool')],
      outputs: [vin('y')],
      nodes: [{ op: 'If', inputs: ['cond'], outputs: ['y'], name: 'branch' }],
    });
    const sub = { name: 'then', node: [], output: [{ name: 'x' }] };
    proto.graph!.node![0]!.attribute = [
      { name: 'then_branch', type: onnxRuntime.AttributeProto.AttributeType.GRAPH, g: sub },
      { name: 'else_branch', type: onnxRuntime.AttributeProto.AttributeType.GRAPH, g: sub },
    ];
    const g = importOnnx(onnxRuntime.ModelProto.encode(proto).finish());
    expect(g.nodes[0]!.inputs).toEqual(['cond', 'x', 'x']); // else_branch's outer values, then then_branch's
    const y = runReference(g, { x: f32([2], [1, 2]), cond: { dtype: 'bool', dims: [], data: Uint8Array.of(1) } }).y!;
    expect(Array.from(y.data as Float32Array)).toEqual([1, 2]);
    // a list of graphs (GRAPHS) is still refused
    proto.graph!.node![0]!.attribute = [{ name: 'then_branch', type: onnxRuntime.AttributeProto.AttributeType.GRAPHS, graphs: [sub] }];
    expectCode(
      () => importOnnx(onnxRuntime.ModelProto.encode(proto).finish()),
      'unsupported_op',
      /node 'branch' \(If\).*'then_branch' \(a list of graphs\)/,
    );
  });

  it('unsupported dtypes and non-tensor inputs are unsupported_op', () => {
    const proto = buildModelProto({ opsets: OPSETS, inputs: [vin('x')], outputs: [vin('y')], nodes: [echo('x', 'y')] });
    proto.graph!.input![0]!.type!.tensorType!.elemType = 14; // COMPLEX64
    expectCode(() => importOnnx(onnxRuntime.ModelProto.encode(proto).finish()), 'unsupported_op', /graph input 'x'.*COMPLEX64/);
    proto.graph!.input![0]!.type = { sequenceType: { elemType: { tensorType: { elemType: 1 } } } };
    expectCode(() => importOnnx(onnxRuntime.ModelProto.encode(proto).finish()), 'unsupported_op', /not a tensor/);
    const p2 = buildModelProto({
      opsets: OPSETS,
      inputs: [vin('x')],
      outputs: [vin('y')],
      nodes: [echo('x', 'y')],
      initializers: { w: f32([1], [1]) },
    });
    p2.graph!.initializer![0]!.dataType = 19; // FLOAT8E5M2
    expectCode(() => importOnnx(onnxRuntime.ModelProto.encode(p2).finish()), 'unsupported_op', /FLOAT8E5M2/);
  });

  it('malformed graphs are invalid_model', () => {
    const base = { opsets: OPSETS, inputs: [vin('x')], outputs: [vin('y')] };
    expectCode(() => importOnnx(buildModel({ ...base, nodes: [echo('nope', 'y')] })), 'invalid_model', /'nope'/);
    expectCode(() => importOnnx(buildModel({ ...base, outputs: [vin('missing')], nodes: [echo('x', 'y')] })), 'invalid_model', /missing/);
    expectCode(() => importOnnx(buildModel({ ...base, nodes: [echo('x', 'y'), echo('x', 'y')] })), 'invalid_model', /defined twice/);
    expectCode(() => importOnnx(buildModel({ ...base, nodes: [echo('y', 'x')] })), 'invalid_model');
    expectCode(() => importOnnx(buildModel({ ...base, nodes: [echo('z', 'y'), echo('y', 'z')] })), 'invalid_model', /cycle/);
    expectCode(
      () => importOnnx(buildModel({ ...base, nodes: [echo('x', 'y')], initializers: { w: f32([2], [1]) } })),
      'invalid_model',
      /should hold 2 elements/,
    );
    expectCode(() => importOnnx(new Uint8Array([1, 2, 3, 4, 5])), 'invalid_model');
    expectCode(() => importOnnx(new Uint8Array(0)), 'invalid_model');
    // declared output dtype disagreeing with the computed one
    expectCode(
      () => importOnnx(buildModel({ ...base, outputs: [vin('y', [2], 'int64')], nodes: [echo('x', 'y')] })),
      'invalid_model',
      /declared int64/,
    );
  });
});

describe('runReference: feeds', () => {
  const g = importOnnx(
    buildModel({
      opsets: OPSETS,
      inputs: [vin('x', ['N', 2]), vin('t', [3], 'int64')],
      outputs: [vin('y', ['N', 2]), vin('t2', [3], 'int64')],
      nodes: [echo('x', 'y'), echo('t', 't2')],
    }),
  );
  const t = i64([3], [1, 2, 3]);

  it('runs, accepting any size for a symbolic dim; outputs never alias feeds', () => {
    const x = f32([4, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    const out = runReference(g, { x, t });
    expect(out['y']).toEqual(x);
    expect(out['y']!.data).not.toBe(x.data);
    expect(out['t2']).toEqual(t);
  });

  it('rejects missing, unknown and mistyped feeds with invalid_argument', () => {
    const x = f32([1, 2], [1, 2]);
    expectCode(() => runReference(g, { x }), 'invalid_argument', /missing input 't' \(int64 \[3\]\)/);
    expectCode(() => runReference(g, { x, t, extra: x }), 'invalid_argument', /unknown input 'extra'.*'x', 't'/);
    expectCode(() => runReference(g, { x: i64([1, 2], [1, 2]), t }), 'invalid_argument', /'x' has dtype int64, expected float32 \[\?,2\]/);
    expectCode(
      () => runReference(g, { x: f32([1, 3], [1, 2, 3]), t }),
      'invalid_argument',
      /'x' has dims \[1,3\], expected float32 \[\?,2\]/,
    );
    expectCode(() => runReference(g, { x: f32([2], [1, 2]), t }), 'invalid_argument', /dims \[2\]/);
    expectCode(
      () => runReference(g, { x: { dtype: 'float32', dims: [1, 2], data: new Float32Array(3) }, t }),
      'invalid_argument',
      /3 data elements/,
    );
    expectCode(
      () => runReference(g, { x: { dtype: 'float32', dims: [1, 2], data: new Int32Array(2) }, t }),
      'invalid_argument',
      /Float32Array/,
    );
    expectCode(() => runReference(g, { x: undefined as unknown as Tensor, t }), 'invalid_argument', /not a tensor/);
  });
});
