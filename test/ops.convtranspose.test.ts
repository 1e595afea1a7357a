// ConvTranspose against onnxruntime-node and against the definition written out in this file:
//  - property test (fast-check): 1-D, 2-D and 3-D, random batch, group, channels, kernel,
//    strides, dilations, pads, auto_pad (NOTSET / SAME_UPPER / SAME_LOWER / VALID),
//    output_padding, output_shape, bias, at opsets 9, 11, 13, 22: the reference Session's output
//    must equal ORT's within 1e-4 relative (1e-5 absolute, inputs in [-1, 1]);
//  - the same geometry against a direct scatter loop of the spec's equations (no tap tables),
//    which also covers what ORT rejects (an output_shape more than stride - 1 past the full size);
//  - shape function with symbolic dims, and the errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SparrowError } from '../src/errors.js';
import { buildModel, type BuildAttr } from '../src/onnx/build.js';
import { resolveOp } from '../src/ops/registry.js';
import type { Tensor } from '../src/ops/types.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import '../src/ops/ref/index.js';
import { lcg } from './helpers/tensors.js';

function randF32(dims: number[], seed: number): Tensor {
  const r = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => r() * 2 - 1) };
}

interface CtCase {
  opset: number;
  X: Tensor;
  W: Tensor;
  B?: Tensor;
  attrs: Record<string, BuildAttr>;
}

function modelOf(c: CtCase): Uint8Array {
  return buildModel({
    nodes: [{ op: 'ConvTranspose', inputs: c.B ? ['x', 'w', 'b'] : ['x', 'w'], outputs: ['y'], attrs: c.attrs }],
    inputs: [{ name: 'x', dtype: 'float32', dims: c.X.dims }],
    outputs: [{ name: 'y', dtype: 'float32', dims: null }],
    initializers: c.B ? { w: c.W, b: c.B } : { w: c.W },
    opsets: { '': c.opset },
    irVersion: 10,
  });
}

async function runRef(c: CtCase): Promise<Tensor> {
  return (await (await Session.fromOnnx(modelOf(c))).run({ x: c.X })).y!;
}

async function runOrt(c: CtCase): Promise<Tensor> {
  const e = await createOrtEngine('ort-node', modelOf(c));
  try {
    return (await e.run({ x: c.X })).y!;
  } finally {
    await e.dispose();
  }
}

function mismatch(got: Tensor, want: Tensor): string | null {
  if (got.dims.join() !== want.dims.join()) return `dims [${got.dims}] vs [${want.dims}]`;
  const a = got.data as Float32Array,
    b = want.data as Float32Array;
  for (let i = 0; i < b.length; i++)
    if (!(Math.abs(a[i]! - b[i]!) <= 1e-5 + 1e-4 * Math.abs(b[i]!))) return `element ${i}: ${a[i]} vs ${b[i]}`;
  return null;
}

/**
 * The spec's equations as a direct loop: pads from auto_pad / output_shape, then
 * Y[n, g*Mg + m, o] += X[n, g*Cg + c, i] * W[g*Cg + c, m, k] where o = i*s - padBegin + k*d.
 */
function definition(c: CtCase): Tensor | null {
  const { X, W, B } = c;
  const nSp = X.dims.length - 2;
  const at = (name: string, fill: number, len = nSp) => (c.attrs[name] as number[] | undefined) ?? new Array<number>(len).fill(fill);
  const group = (c.attrs.group as number | undefined) ?? 1;
  const strides = at('strides', 1),
    dil = at('dilations', 1),
    opad = at('output_padding', 0),
    pads = at('pads', 0, 2 * nSp);
  const autoPad = (c.attrs.auto_pad as string | undefined) ?? 'NOTSET';
  const outShape = c.attrs.output_shape as number[] | undefined;
  const K = W.dims.slice(2),
    I = X.dims.slice(2);
  const out: number[] = [],
    pb: number[] = [];
  for (let d = 0; d < nSp; d++) {
    const full = (I[d]! - 1) * strides[d]! + (K[d]! - 1) * dil[d]! + 1 + opad[d]!;
    if (outShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const O = outShape ? outShape[d]! : I[d]! * strides[d]!;
      const total = Math.max(0, full - O);
      out.push(O);
      pb.push(autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2));
    } else if (autoPad === 'VALID') {
      out.push(full);
      pb.push(0);
    } else {
      out.push(full - pads[d]! - pads[d + nSp]!);
      pb.push(pads[d]!);
    }
  }
  if (out.some((o) => o <= 0)) return null;
  const [N, C] = [X.dims[0]!, X.dims[1]!];
  const Mg = W.dims[1]!,
    M = Mg * group,
    Cg = C / group;
  const Q = out.reduce((a, b) => a * b, 1),
    P = I.reduce((a, b) => a * b, 1),
    KK = K.reduce((a, b) => a * b, 1);
  const y = new Float64Array(N * M * Q);
  const x = X.data as Float32Array,
    w = W.data as Float32Array;
  const unflat = (f: number, dims: number[]) => {
    const idx = new Array<number>(dims.length);
    for (let d = dims.length - 1; d >= 0; d--) {
      idx[d] = f % dims[d]!;
      f = Math.floor(f / dims[d]!);
    }
    return idx;
  };
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < C; ci++) {
      const g = Math.floor(ci / Cg);
      for (let p = 0; p < P; p++) {
        const i = unflat(p, I);
        for (let k = 0; k < KK; k++) {
          const kk = unflat(k, K);
          let q = 0,
            inside = true;
          for (let d = 0; d < nSp; d++) {
            const o = i[d]! * strides[d]! - pb[d]! + kk[d]! * dil[d]!;
            if (o < 0 || o >= out[d]!) inside = false;
            q = q * out[d]! + o;
          }
          if (!inside) continue;
          for (let m = 0; m < Mg; m++) y[(n * M + g * Mg + m) * Q + q]! += x[(n * C + ci) * P + p]! * w[(ci * Mg + m) * KK + k]!;
        }
      }
    }
  if (B) for (let j = 0; j < y.length; j++) y[j]! += (B.data as Float32Array)[Math.floor(j / Q) % M]!;
  return { dtype: 'float32', dims: [N, M, ...out], data: Float32Array.from(y) };
}

const ctCase = fc
  .record({
    opset: fc.constantFrom(9, 11, 13, 22),
    nSp: fc.constantFrom(1, 2, 2, 3),
    n: fc.integer({ min: 1, max: 2 }),
    group: fc.integer({ min: 1, max: 3 }),
    cg: fc.integer({ min: 1, max: 3 }),
    mg: fc.integer({ min: 1, max: 3 }),
    size: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 3, maxLength: 3 }),
    kernel: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 3, maxLength: 3 }),
    strides: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
    dilations: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
    pads: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 6, maxLength: 6 }),
    outPad: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 3, maxLength: 3 }),
    outShapeDelta: fc.array(fc.integer({ min: -3, max: 2 }), { minLength: 3, maxLength: 3 }),
    padMode: fc.constantFrom('pads', 'pads', 'SAME_UPPER', 'SAME_LOWER', 'VALID', 'output_shape'),
    bias: fc.boolean(),
    explicitKernelShape: fc.boolean(),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .map((k) => {
    const d = k.nSp;
    const strides = k.strides.slice(0, d),
      dil = k.dilations.slice(0, d),
      kernel = k.kernel.slice(0, d),
      size = k.size.slice(0, d);
    // output_padding must stay below the stride (ORT's rule; the spec says "stride/dilation")
    const outPad = k.outPad.slice(0, d).map((p, i) => Math.min(p, strides[i]! - 1));
    const full = size.map((s, i) => (s - 1) * strides[i]! + (kernel[i]! - 1) * dil[i]! + 1 + outPad[i]!);
    const attrs: Record<string, BuildAttr> = { strides, dilations: dil };
    if (k.group > 1) attrs.group = k.group;
    if (outPad.some((p) => p > 0)) attrs.output_padding = outPad;
    if (k.explicitKernelShape) attrs.kernel_shape = kernel;
    if (k.padMode === 'pads') attrs.pads = [...k.pads.slice(0, d), ...k.pads.slice(3, 3 + d)];
    else if (k.padMode === 'output_shape')
      attrs.output_shape = full.map((f, i) => Math.max(1, f + Math.min(k.outShapeDelta[i]!, strides[i]! - 1)));
    else attrs.auto_pad = k.padMode;
    const C = k.group * k.cg,
      M = k.group * k.mg;
    const c: CtCase = {
      opset: k.opset,
      X: randF32([k.n, C, ...size], k.seed),
      W: randF32([C, k.mg, ...kernel], k.seed + 1),
      B: k.bias ? randF32([M], k.seed + 2) : undefined,
      attrs,
    };
    return c;
  });

describe('ConvTranspose', () => {
  it('matches onnxruntime-node: random 1-D/2-D/3-D geometry, groups, strides, dilations, pads, auto_pad, output_padding/shape', async () => {
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(ctCase, async (c) => {
        fc.pre(definition(c) !== null);
        // auto_pad SAME with a full output shorter than I * stride: the spec (and ONNX shape inference, and the
        // ONNX reference) make the output I * stride long; ORT 1.30 stops at the full length
        const sp = c.X.dims.slice(2),
          st = c.attrs.strides as number[],
          dl = c.attrs.dilations as number[],
          op = (c.attrs.output_padding as number[] | undefined) ?? sp.map(() => 0);
        const same = c.attrs.auto_pad === 'SAME_UPPER' || c.attrs.auto_pad === 'SAME_LOWER';
        const full = sp.map((I, i) => (I - 1) * st[i]! + (c.W.dims[2 + i]! - 1) * dl[i]! + 1 + op[i]!);
        fc.pre(!(same && !c.attrs.output_shape && sp.some((I, i) => full[i]! < I * st[i]!)));
        // ORT rejects output_shape values past the full size with output_padding ("inconsistent with input spatial dimensions")
        fc.pre(!(c.attrs.output_shape as number[] | undefined)?.some((o, i) => o > full[i]!));
        const [ref, ort] = [await runRef(c), await runOrt(c)];
        expect(mismatch(ref, ort), `${JSON.stringify(c.attrs)} X [${c.X.dims}] W [${c.W.dims}] opset ${c.opset}`).toBeNull();
        compared++;
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 200), seed: Number(process.env.PROP_SEED ?? 1313) },
    );
    expect(compared).toBeGreaterThanOrEqual(200);
  });

  it('matches the written-out definition on the same geometry, and on outputs larger than ORT accepts', async () => {
    await fc.assert(
      fc.asyncProperty(ctCase, fc.integer({ min: 0, max: 4 }), async (c, extra) => {
        const want = definition(c);
        fc.pre(want !== null);
        expect(mismatch(await runRef(c), want!), JSON.stringify(c.attrs)).toBeNull();
        if (c.attrs.output_shape) {
          // an output_shape beyond the full size: the extra outputs at the end hold the bias alone
          const big = { ...c, attrs: { ...c.attrs, output_shape: (c.attrs.output_shape as number[]).map((o) => o + extra) } };
          expect(mismatch(await runRef(big), definition(big)!)).toBeNull();
        }
      }),
      { numRuns: 150, seed: 4242 },
    );
  });

  it('shape function: symbolic batch and spatial dims stay -1, the rest is exact', () => {
    const shape = (dims: number[], attrs: Record<string, unknown>) =>
      resolveOp('ConvTranspose', '', 13, 'ct').shape(
        [
          { dtype: 'float32', dims },
          { dtype: 'float32', dims: [4, 3, 3, 3] },
        ],
        attrs as never,
        [],
        { opset: 13, node: 'ct' },
      )[0]!.dims;
    expect(shape([-1, 4, 5, -1], { strides: [2, 2] })).toEqual([-1, 3, 11, -1]);
    expect(shape([1, 4, 5, 6], { strides: [2, 1], pads: [1, 0, 1, 2], output_padding: [1, 0] })).toEqual([1, 3, 10, 6]);
    expect(shape([1, 4, 5, 6], { group: 2, auto_pad: 'SAME_LOWER', strides: [3, 2] })).toEqual([1, 6, 15, 12]);
    expect(shape([1, 4, 5, -1], { output_shape: [7, 9] })).toEqual([1, 3, 7, 9]);
    expect(shape([1, 4, 5, 6], { output_shape: [1, 3, 7, 9] })).toEqual([1, 3, 7, 9]);
  });

  it('errors name the node: W not [C, M/group, k...], group not dividing C, kernel_shape differing from W, bad output_padding', () => {
    const ref = (X: Tensor, W: Tensor, attrs: Record<string, unknown>) =>
      resolveOp('ConvTranspose', '', 13, 'ct').ref([X, W], attrs as never, { opset: 13, node: 'ct' });
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(SparrowError);
        expect((e as SparrowError).message).toContain('"ct"');
        return (e as SparrowError).code;
      }
      return 'no error';
    };
    const X = randF32([1, 4, 3, 3], 1);
    expect(code(() => ref(X, randF32([3, 2, 2, 2], 2), {}))).toBe('invalid_model');
    expect(code(() => ref(X, randF32([4, 2, 2, 2], 2), { group: 3 }))).toBe('invalid_model');
    expect(code(() => ref(X, randF32([4, 2, 2, 2], 2), { kernel_shape: [3, 3] }))).toBe('invalid_model');
    expect(code(() => ref(X, randF32([4, 2, 2, 2], 2), { output_padding: [1] }))).toBe('invalid_model');
    expect(code(() => ref(X, randF32([4, 2, 2, 2], 2), { pads: [4, 4, 4, 4] }))).toBe('invalid_model'); // output 0 x 0... negative
    expect(code(() => ref(X, randF32([4, 2, 2, 2], 2), {}))).toBe('no error');
  });
});
