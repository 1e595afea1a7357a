// One-node models run by onnxruntime-node beside Sparrow's reference kernel, for the property
// tests of test/ops.{unary,binary,reduce,misc}.test.ts: `OpCase` builds the model once (inputs of
// unknown shape, so one ORT session serves every shape), `compareWithOrt` runs both and reports
// the first difference. fast-check arbitraries for tensors with NaN / ±Inf / -0 / empty / rank-0
// / broadcasting shapes.
import fc from 'fast-check';
import { buildModel, type BuildAttr } from '../../src/onnx/build.js';
import { createOrtEngine, type InferenceEngine } from '../../src/runtime/ort.js';
import { resolveOp } from '../../src/ops/registry.js';
import type { AttrValue, Tensor, TensorDType } from '../../src/ops/types.js';
import { allocData } from '../../src/ops/ref/util.js';
import '../../src/ops/ref/index.js';

export interface OpSpec {
  op: string;
  opset: number;
  /** dtype of each input ('' = an omitted optional input) */
  inputs: Array<TensorDType | ''>;
  /** dtype of each output */
  outputs: TensorDType[];
  attrs?: Record<string, BuildAttr>;
}

/** The attributes as the importer would decode them (build.ts's { float } / { floats } wrappers unwrapped). */
function decodedAttrs(attrs: Record<string, BuildAttr>): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'object' && !Array.isArray(v) && 'float' in v) out[k] = Math.fround(v.float);
    else if (typeof v === 'object' && !Array.isArray(v) && 'floats' in v) out[k] = v.floats.map(Math.fround);
    else if (typeof v === 'number' && !Number.isInteger(v)) out[k] = Math.fround(v);
    else out[k] = v as AttrValue;
  }
  return out;
}

export type Outcome = { ok: true; outs: Tensor[] } | { ok: false; error: string };

/** A one-node model in ORT plus the same node on the reference kernel. */
export class OpCase {
  private constructor(
    readonly spec: OpSpec,
    private readonly engine: InferenceEngine,
  ) {}

  static async create(spec: OpSpec): Promise<OpCase> {
    const names = spec.inputs.map((d, i) => (d ? `x${i}` : ''));
    const model = buildModel({
      nodes: [{ op: spec.op, inputs: names, outputs: spec.outputs.map((_, i) => `y${i}`), attrs: spec.attrs ?? {} }],
      inputs: spec.inputs.flatMap((d, i) => (d ? [{ name: names[i]!, dtype: d, dims: null }] : [])),
      outputs: spec.outputs.map((d, i) => ({ name: `y${i}`, dtype: d, dims: null })),
      opsets: { '': spec.opset },
    });
    return new OpCase(spec, await createOrtEngine('ort-node', model));
  }

  async ort(inputs: Array<Tensor | undefined>): Promise<Outcome> {
    const feeds: Record<string, Tensor> = {};
    inputs.forEach((t, i) => {
      if (t) feeds[`x${i}`] = t;
    });
    try {
      const r = await this.engine.run(feeds);
      return { ok: true, outs: this.spec.outputs.map((_, i) => r[`y${i}`]!) };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }

  ref(inputs: Array<Tensor | undefined>): Outcome {
    return runRef(this.spec, inputs);
  }

  dispose(): Promise<void> {
    return this.engine.dispose();
  }
}

/** The reference kernel of spec's op at its opset, plus its shape function checked against the result. */
export function runRef(spec: OpSpec, inputs: Array<Tensor | undefined>): Outcome {
  const ctx = { opset: spec.opset, node: `${spec.op}_0` };
  try {
    const def = resolveOp(spec.op, '', spec.opset, ctx.node);
    const attrs = decodedAttrs(spec.attrs ?? {});
    const outs = def.ref(inputs, attrs, ctx);
    const infos = def.shape(
      inputs.map((t) => (t ? { dtype: t.dtype, dims: [...t.dims] } : undefined)),
      attrs,
      inputs,
      ctx,
    );
    outs.forEach((t, j) => {
      const s = infos[j];
      if (!s || s.dtype !== t.dtype || JSON.stringify(s.dims) !== JSON.stringify(t.dims)) {
        throw new Error(`shape function gives ${JSON.stringify(s)} for output ${j}, kernel ${t.dtype}[${t.dims.join(',')}]`);
      }
    });
    return { ok: true, outs };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

export interface Tolerance {
  rtol: number;
  atol: number;
}
export const EXACT: Tolerance = { rtol: 0, atol: 0 };
/** float32 results of float64 math rounded once vs float32 libm: a few ulps. */
export const ULPS: Tolerance = { rtol: 2e-6, atol: 1e-30 };

function fmt(t: Tensor): string {
  const vals = Array.from(t.data as ArrayLike<number | bigint>, (v) => (Object.is(v, -0) ? '-0' : String(v)));
  return `${t.dtype}[${t.dims.join(',')}] {${vals.slice(0, 24).join(', ')}${vals.length > 24 ? ', ...' : ''}}`;
}

/** Null when `got` equals `want` (NaN positions equal, infinities equal, floats within tol), else why not. */
export function diff(got: Tensor, want: Tensor, tol: Tolerance): string | null {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype} vs ${want.dtype}`;
  if (got.dims.length !== want.dims.length || got.dims.some((d, i) => d !== want.dims[i])) return `dims ${fmt(got)} vs ${fmt(want)}`;
  for (let i = 0; i < want.data.length; i++) {
    const g = got.data[i]!,
      w = want.data[i]!;
    if (typeof g === 'number' && typeof w === 'number' && got.dtype === 'float32') {
      if (Number.isNaN(w) || Number.isNaN(g)) {
        if (Number.isNaN(w) !== Number.isNaN(g)) return `element ${i}: ${g} vs ${w}\n  ref ${fmt(got)}\n  ort ${fmt(want)}`;
        continue;
      }
      if (g === w) continue;
      if (!Number.isFinite(g) || !Number.isFinite(w) || Math.abs(g - w) > tol.atol + tol.rtol * Math.abs(w)) {
        return `element ${i}: ${g} vs ${w}\n  ref ${fmt(got)}\n  ort ${fmt(want)}`;
      }
    } else if (g !== w) return `element ${i}: ${g} vs ${w}\n  ref ${fmt(got)}\n  ort ${fmt(want)}`;
  }
  return null;
}

/**
 * Runs `inputs` through the reference kernel and ORT; returns null when they agree (both fail
 * counts as agreeing), else a description. `ortOnly` inputs are passed to ORT only (none).
 */
export async function compareWithOrt(c: OpCase, inputs: Array<Tensor | undefined>, tol: Tolerance): Promise<string | null> {
  const r = c.ref(inputs);
  const o = await c.ort(inputs);
  const what = `${c.spec.op}-${c.spec.opset} ${JSON.stringify(c.spec.attrs ?? {})} on ${inputs.map((t) => (t ? fmt(t) : '-')).join(' ; ')}`;
  if (!r.ok || !o.ok) {
    if (!r.ok && !o.ok) return null;
    return `${what}: ${r.ok ? 'ref ok' : `ref threw ${r.error}`}, ${o.ok ? 'ort ok' : `ort threw ${o.error}`}`;
  }
  for (let j = 0; j < o.outs.length; j++) {
    const d = diff(r.outs[j]!, o.outs[j]!, tol);
    if (d) return `${what}: output ${j}: ${d}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** float32 values with the special cases well represented. */
export const f32Value = (opts: { special?: boolean; min?: number; max?: number } = {}): fc.Arbitrary<number> => {
  const { special = true, min = -1e4, max = 1e4 } = opts;
  const finite = fc.float({ min: Math.fround(min), max: Math.fround(max), noNaN: true, noDefaultInfinity: true });
  const small = fc.float({ min: -4, max: 4, noNaN: true });
  const halves = fc.integer({ min: -8, max: 8 }).map((k) => k / 2);
  if (!special) return fc.oneof(finite, small, halves);
  return fc.oneof(
    { arbitrary: finite, weight: 3 },
    { arbitrary: small, weight: 3 },
    { arbitrary: halves, weight: 1 },
    { arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 1, -1), weight: 1 },
    { arbitrary: fc.float(), weight: 1 },
  );
};

/** Integer values of a dtype, biased to the ends of its range. */
export function intValue(dtype: TensorDType): fc.Arbitrary<number | bigint> {
  switch (dtype) {
    case 'int64':
      return fc.oneof(
        fc.bigInt({ min: -20n, max: 20n }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.constantFrom(-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n),
      );
    case 'int32':
      return fc.oneof(fc.integer({ min: -20, max: 20 }), fc.integer(), fc.constantFrom(-2147483648, 2147483647, 0, -1));
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'uint8':
      return fc.integer({ min: 0, max: 255 });
    case 'bool':
      return fc.integer({ min: 0, max: 1 });
    default:
      throw new Error(`no integer arbitrary for ${dtype}`);
  }
}

export function valueOf(dtype: TensorDType, f32 = f32Value()): fc.Arbitrary<number | bigint> {
  return dtype === 'float32' ? f32 : intValue(dtype);
}

/** Shapes of rank 0..maxRank with dims 0..maxDim (a 0 makes an empty tensor, rarely). */
export function shape(maxRank = 4, maxDim = 4): fc.Arbitrary<number[]> {
  const dim = fc.oneof({ arbitrary: fc.integer({ min: 1, max: maxDim }), weight: 12 }, { arbitrary: fc.constant(0), weight: 1 });
  return fc.array(dim, { minLength: 0, maxLength: maxRank });
}

/**
 * `count` shapes that broadcast together (numpy): each is the output shape with some leading
 * dims dropped and some dims set to 1.
 */
export function broadcastShapes(count: number, maxRank = 4, maxDim = 4): fc.Arbitrary<number[][]> {
  return shape(maxRank, maxDim).chain((out) =>
    fc.tuple(
      ...Array.from({ length: count }, () =>
        fc
          .tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
          .map(([drop, ones]) => out.map((d, i) => (ones[i] ? 1 : d)).slice(drop)),
      ),
    ),
  );
}

/** A tensor of `dtype` and `dims` with values from `value`. */
export function tensorOf(dtype: TensorDType, dims: number[], value: fc.Arbitrary<number | bigint> = valueOf(dtype)): fc.Arbitrary<Tensor> {
  const n = dims.reduce((a, b) => a * b, 1);
  return fc.array(value, { minLength: n, maxLength: n }).map((vals) => {
    const data = allocData(dtype, n) as unknown as { [i: number]: number | bigint };
    vals.forEach((v, i) => (data[i] = v));
    return { dtype, dims, data: data as unknown as Tensor['data'] };
  });
}
