// One-node ONNX models run through onnxruntime-node (the oracle) and through Sparrow (a Session
// on the reference engine, so the importer and the shape function run too), plus direct
// kernel calls and the comparisons the op tests share.
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { SparrowError } from '../../src/errors.js';
import { attrsFromNode, tensorFromOnnx } from '../../src/onnx/attributes.js';
import { buildModel, type BuildAttr } from '../../src/onnx/build.js';
import { decodeModel, onnxRuntime, type onnx } from '../../src/onnx/proto.js';
import { resolveOp } from '../../src/ops/registry.js';
import { castTensor } from '../../src/ops/ref/shape_ops.js';
import type { AttrValue, Tensor, TensorDType } from '../../src/ops/types.js';
import { createOrtEngine } from '../../src/runtime/ort.js';
import { Session, type EngineName } from '../../src/runtime/session.js';
import '../../src/ops/ref/index.js';

export interface OneNode {
  op: string;
  opset: number;
  attrs?: Record<string, BuildAttr>;
  /** graph inputs in node input order; undefined = omitted optional input ('' in the node) */
  inputs: Array<Tensor | undefined>;
  /** inputs given as initializers (constants) instead of graph inputs, by position */
  constInputs?: number[];
  /** output dtypes, one per node output */
  outputs: TensorDType[];
}

const inName = (i: number) => `in${i}`;
/** The IR version that introduced each opset (ONNX's versioning table). */
const irVersionOf = (opset: number): number =>
  opset <= 8
    ? 3
    : opset === 9
      ? 4
      : opset === 10
        ? 5
        : opset === 11
          ? 6
          : opset <= 14
            ? 7
            : opset <= 18
              ? 8
              : opset <= 20
                ? 9
                : opset <= 22
                  ? 10
                  : 11;
const outName = (j: number) => `out${j}`;

export function oneNodeModel(m: OneNode): { bytes: Uint8Array; feeds: Record<string, Tensor> } {
  const feeds: Record<string, Tensor> = {};
  const initializers: Record<string, Tensor> = {};
  const inputs = m.inputs.flatMap((t, i) => {
    if (!t || m.constInputs?.includes(i)) return [];
    feeds[inName(i)] = t;
    return [{ name: inName(i), dtype: t.dtype, dims: [...t.dims] }];
  });
  m.inputs.forEach((t, i) => {
    if (t && m.constInputs?.includes(i)) initializers[inName(i)] = t;
  });
  const bytes = buildModel({
    opsets: { '': m.opset },
    irVersion: irVersionOf(m.opset),
    nodes: [
      {
        op: m.op,
        name: `${m.op.toLowerCase()}_node`,
        inputs: m.inputs.map((t, i) => (t ? inName(i) : '')),
        outputs: m.outputs.map((_, j) => outName(j)),
        attrs: m.attrs ?? {},
      },
    ],
    inputs,
    outputs: m.outputs.map((dtype, j) => ({ name: outName(j), dtype, dims: null })),
    initializers,
  });
  return { bytes, feeds };
}

export type Outcome = { ok: true; outputs: Tensor[] } | { ok: false; error: unknown };

export async function runOrt(m: OneNode): Promise<Outcome> {
  const { bytes, feeds } = oneNodeModel(m);
  let engine;
  try {
    engine = await createOrtEngine('ort-node', bytes);
  } catch (error) {
    return { ok: false, error };
  }
  try {
    const r = await engine.run(feeds);
    // copy: ORT may reuse its buffers
    return { ok: true, outputs: m.outputs.map((_, j) => copy(r[outName(j)]!)) };
  } catch (error) {
    return { ok: false, error };
  } finally {
    await engine.dispose();
  }
}

export async function runSparrow(m: OneNode, engine: EngineName = 'reference'): Promise<Outcome> {
  const { bytes, feeds } = oneNodeModel(m);
  try {
    const s = await Session.fromOnnx(bytes, { engine });
    const r = await s.run(feeds);
    return { ok: true, outputs: m.outputs.map((_, j) => r[outName(j)]!) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The registered reference kernel of `op` at `opset`, called directly. */
export function runKernel(op: string, opset: number, inputs: Array<Tensor | undefined>, attrs: Record<string, AttrValue> = {}): Tensor[] {
  return resolveOp(op, '', opset, `${op.toLowerCase()}_node`).ref(inputs, attrs, { opset, node: `${op.toLowerCase()}_node` });
}

function copy(t: Tensor): Tensor {
  return { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() as Tensor['data'] };
}

/** Elements as numbers (bigint → number), NaN kept. */
export const values = (t: Tensor): number[] => Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));

/** Same dtype and dims; integers equal; floats within atol + rtol·|want| (NaN matches NaN). */
export function expectTensor(got: Tensor, want: Tensor, what: string, rtol = 0, atol = 0): void {
  expect(got.dtype, `${what}: dtype`).toBe(want.dtype);
  expect(got.dims, `${what}: dims`).toEqual(want.dims);
  const g = values(got),
    w = values(want);
  for (let i = 0; i < w.length; i++) {
    const a = g[i]!,
      b = w[i]!;
    const ok = Number.isNaN(b) ? Number.isNaN(a) : a === b || Math.abs(a - b) <= atol + rtol * Math.abs(b);
    if (!ok) expect(a, `${what}: element ${i} of [${got.dims.join(', ')}]`).toBe(b);
  }
}

/**
 * Sparrow agrees with ORT: both fail, or both succeed with the same outputs, on each engine
 * (default the reference engine; sparrow-f32 runs the node as a fallback step, or the graph on
 * the reference executor when its shapes depend on the data). Returns ORT's outcome.
 */
export async function expectSameAsOrt(m: OneNode, rtol = 0, atol = 0, engines: EngineName[] = ['reference']): Promise<Outcome> {
  const ort = await runOrt(m);
  for (const engine of engines) {
    const sp = await runSparrow(m, engine);
    if (!ort.ok) {
      expect(sp.ok, `ORT rejects (${String((ort.error as Error).message).split('\n')[0]}) but Sparrow (${engine}) runs`).toBe(false);
      expectInvalidModel(sp);
      continue;
    }
    if (!sp.ok) throw sp.error;
    ort.outputs.forEach((want, j) => expectTensor(sp.outputs[j]!, want, `${m.op} output ${j} (${engine})`, rtol, atol));
  }
  return ort;
}

/**
 * Like expectSameAsOrt for a dtype ORT has no kernel for: ORT runs the model with the inputs
 * (and outputs) of dtype `from` cast to `via`, and its outputs are cast back to `from`. Exact for
 * ops that commute with the cast: selections (the order is kept), and ring arithmetic when
 * `via` is a wider two's-complement integer (int8/uint8 wrap = int32 result mod 2^8).
 */
export async function expectSameAsOrtVia(m: OneNode, from: TensorDType, via: TensorDType, rtol = 0, atol = 0): Promise<Outcome> {
  const swap = (d: TensorDType) => (d === from ? via : d);
  const viaModel: OneNode = {
    ...m,
    inputs: m.inputs.map((t) => (t && t.dtype === from ? castTensor(t, via) : t)),
    outputs: m.outputs.map(swap),
  };
  const [ort, sp] = [await runOrt(viaModel), await runSparrow(m)];
  if (!ort.ok) {
    expect(sp.ok, `ORT rejects (${String((ort.error as Error).message).split('\n')[0]}) but Sparrow runs`).toBe(false);
    expectInvalidModel(sp);
    return ort;
  }
  if (!sp.ok) throw sp.error;
  ort.outputs.forEach((w, j) => {
    const want = m.outputs[j] === from && w.dtype === via ? castTensor(w, from) : w;
    expectTensor(sp.outputs[j]!, want, `${m.op} output ${j} (ORT via ${via})`, rtol, atol);
  });
  return ort;
}

/** The outcome is a SparrowError('invalid_model') naming the node. */
export function expectInvalidModel(o: Outcome | (() => unknown)): void {
  let error: unknown;
  if (typeof o === 'function') {
    try {
      o();
    } catch (e) {
      error = e;
    }
  } else if (!o.ok) error = o.error;
  expect(error, 'expected a SparrowError').toBeInstanceOf(SparrowError);
  const e = error as SparrowError;
  expect(e.code, e.message).toBe('invalid_model');
  expect(e.message).toMatch(/node "/);
}

// ---------------------------------------------------------------------------------------------
// random tensors

export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
}

/**
 * A random tensor of `dtype`: values drawn from a small set (so ties occur) unless `spread`;
 * floats are multiples of 1/4 in [-4, 4], ints in the dtype's range near 0.
 */
export function randomTensor(dtype: TensorDType, dims: number[], seed: number, distinct = 9): Tensor {
  const r = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  const pick = () => Math.floor(r() * distinct) - Math.floor(distinct / 2);
  switch (dtype) {
    case 'float32':
      return { dtype, dims, data: Float32Array.from({ length: n }, () => pick() / 4) };
    case 'int64':
      return { dtype, dims, data: BigInt64Array.from({ length: n }, () => BigInt(pick() * 1000003)) };
    case 'int32':
      return { dtype, dims, data: Int32Array.from({ length: n }, () => pick() * 1009) };
    case 'int8':
      return { dtype, dims, data: Int8Array.from({ length: n }, () => pick()) };
    case 'uint8':
      return { dtype, dims, data: Uint8Array.from({ length: n }, () => pick() + Math.floor(distinct / 2)) };
    case 'bool':
      return { dtype, dims, data: Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)) };
    default:
      throw new Error(`randomTensor: no ${dtype} tensors`);
  }
}

export function indexTensor(dtype: 'int64' | 'int32', dims: number[], values: number[]): Tensor {
  return dtype === 'int64'
    ? { dtype, dims, data: BigInt64Array.from(values, (v) => BigInt(v)) }
    : { dtype, dims, data: Int32Array.from(values) };
}

/**
 * fast-check property over `arb` whose check returns ORT's outcome; besides every run passing,
 * at least `minOkShare` of the runs must be ones ORT ran (so the property is not carried by
 * cases both sides refuse).
 */
export async function assertAgainstOrt<T>(
  arb: fc.Arbitrary<T>,
  check: (v: T) => Promise<Outcome>,
  numRuns: number,
  minOkShare = 0.9,
): Promise<void> {
  let ok = 0,
    runs = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (v) => {
      const o = await check(v);
      runs++;
      if (o.ok) ok++;
    }),
    { numRuns },
  );
  expect(ok, `${ok} of ${runs} runs ran in onnxruntime`).toBeGreaterThanOrEqual(minOkShare * runs);
}

// ---------------------------------------------------------------------------------------------
// ONNX node-test fixtures whose dtypes Sparrow lacks, read as the nearest Sparrow dtype

export interface NodeFixture {
  node: onnx.INodeProto;
  opset: number;
  attrs: Record<string, AttrValue>;
  inputs: Tensor[];
  outputs: Tensor[];
}

/** A TensorProto as a Sparrow tensor; DOUBLE becomes float32 and UINT64 int64 (values < 2^63). */
function tensorConverted(p: onnx.ITensorProto): Tensor {
  const dims = (p.dims ?? []).map(Number);
  const raw = p.rawData && p.rawData.length > 0 ? Uint8Array.from(p.rawData) : undefined; // an aligned copy
  if (p.dataType === 11) {
    const v = raw ? new Float64Array(raw.buffer, raw.byteOffset, raw.length / 8) : Float64Array.from(p.doubleData ?? []);
    return { dtype: 'float32', dims, data: Float32Array.from(v) };
  }
  if (p.dataType === 13) {
    const v = raw
      ? Array.from(new BigUint64Array(raw.buffer, raw.byteOffset, raw.length / 8))
      : (p.uint64Data ?? []).map((x) => BigInt(String(x)));
    if (v.some((x) => x >= 2n ** 63n)) throw new Error('uint64 value out of the int64 range');
    return { dtype: 'int64', dims, data: BigInt64Array.from(v) };
  }
  return tensorFromOnnx(p);
}

export function readNodeFixture(name: string): NodeFixture {
  const dir = join(process.cwd(), 'test', 'fixtures', 'onnx-node', name);
  const model = decodeModel(new Uint8Array(readFileSync(join(dir, 'model.onnx'))));
  const node = model.graph!.node![0]!;
  const opset = Number(model.opsetImport!.find((o) => !o.domain)!.version);
  const read = (prefix: string) =>
    readdirSync(join(dir, 'test_data_set_0'))
      .filter((f) => f.startsWith(prefix))
      .sort()
      .map((f) => tensorConverted(onnxRuntime.TensorProto.decode(readFileSync(join(dir, 'test_data_set_0', f)))));
  return { node, opset, attrs: attrsFromNode(node), inputs: read('input_'), outputs: read('output_') };
}
