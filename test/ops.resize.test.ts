// Resize (opsets 10, 11, 13, 18, 19) and Upsample (7, 9) against onnxruntime-node: one-node
// models run through the reference Session and ORT.
//  - property test (fast-check): random input sizes, scales or sizes (up and down), every mode,
//    coordinate_transformation_mode, nearest_mode, cubic_coeff_a, exclude_outside, antialias,
//    axes, keep_aspect_ratio_policy, tf_crop_and_resize roi / extrapolation_value, at opsets
//    11, 13, 18, 19. nearest must match exactly, linear/cubic within 1e-4 relative. Cases where
//    ORT's float32 coordinate arithmetic picks another source pixel than float64 arithmetic does
//    (a coordinate on a rounding boundary in one and not the other) are discarded: the test
//    recomputes both index maps (its own code, not the kernel's) to tell.
//  - fixed cases: opset 10 / Upsample 7 / 9 (asymmetric, onnxruntime's nearest rule), integer
//    dtypes (nearest copies; linear rounds), empty roi/scales tensors, scales and sizes as graph
//    inputs, the shape function with constant and non-constant inputs, and the errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SparrowError } from '../src/errors.js';
import { buildModel, type BuildAttr, type BuildValue } from '../src/onnx/build.js';
import { resolveOp } from '../src/ops/registry.js';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import '../src/ops/ref/index.js';
import { lcg } from './helpers/tensors.js';

const F = Math.fround;

function randTensor(dtype: TensorDType, dims: number[], seed: number): Tensor {
  const r = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  if (dtype === 'float32') return { dtype, dims, data: Float32Array.from({ length: n }, () => r() * 2 - 1) };
  if (dtype === 'int64') return { dtype, dims, data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(r() * 2e6) - 1e6)) };
  if (dtype === 'int32') return { dtype, dims, data: Int32Array.from({ length: n }, () => Math.floor(r() * 2e6) - 1e6) };
  if (dtype === 'int8') return { dtype, dims, data: Int8Array.from({ length: n }, () => Math.floor(r() * 256) - 128) };
  return { dtype, dims, data: Uint8Array.from({ length: n }, () => Math.floor(r() * (dtype === 'bool' ? 2 : 256))) };
}

interface OneNode {
  op: string;
  opset: number;
  attrs: Record<string, BuildAttr>;
  /** node inputs in order: a tensor (graph input fed at run time, or initializer), '' = absent */
  inputs: Array<{ name: string; t: Tensor; init?: boolean } | ''>;
}

function modelOf(c: OneNode): Uint8Array {
  const graphInputs: BuildValue[] = [];
  const initializers: Record<string, Tensor> = {};
  for (const i of c.inputs) {
    if (i === '') continue;
    if (i.init) initializers[i.name] = i.t;
    else graphInputs.push({ name: i.name, dtype: i.t.dtype, dims: i.t.dims });
  }
  const x = c.inputs[0] as { t: Tensor };
  return buildModel({
    nodes: [{ op: c.op, inputs: c.inputs.map((i) => (i === '' ? '' : i.name)), outputs: ['y'], attrs: c.attrs }],
    inputs: graphInputs,
    outputs: [{ name: 'y', dtype: x.t.dtype, dims: null }],
    initializers,
    opsets: { '': c.opset },
    irVersion: 10,
  });
}

function feedsOf(c: OneNode): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const i of c.inputs) if (i !== '' && !i.init) feeds[i.name] = i.t;
  return feeds;
}

/** Runs a one-node model in the reference Session and in ORT (optionally with other attributes for ORT). */
async function runBoth(c: OneNode, ortAttrs?: Record<string, BuildAttr>): Promise<{ ref: Tensor; ort: Tensor }> {
  const ses = await Session.fromOnnx(modelOf(c), { engine: 'reference' });
  const ref = (await ses.run(feedsOf(c))).y!;
  const e = await createOrtEngine('ort-node', modelOf(ortAttrs ? { ...c, attrs: ortAttrs } : c));
  try {
    return { ref, ort: (await e.run(feedsOf(c))).y! };
  } finally {
    await e.dispose();
  }
}

function num(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/** First element where got and want differ beyond |d| <= atol + rtol*|want| (exact when rtol = 0), or null. */
function firstMismatch(got: Tensor, want: Tensor, rtol: number, atol = rtol === 0 ? 0 : 1e-6): string | null {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype} vs ${want.dtype}`;
  if (got.dims.join() !== want.dims.join()) return `dims [${got.dims}] vs [${want.dims}]`;
  const a = num(got),
    b = num(want);
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(b[i]!) && Number.isNaN(a[i]!)) continue;
    if (!(Math.abs(a[i]! - b[i]!) <= atol + rtol * Math.abs(b[i]!))) return `element ${i}: ${a[i]} vs ${b[i]}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The property test's own model of the source-index choice, in float64 (the ONNX reference) and
// in float32 the way onnxruntime computes it (upsamplebase.h), for discarding boundary cases.

type Coord =
  | 'half_pixel'
  | 'half_pixel_symmetric'
  | 'pytorch_half_pixel'
  | 'align_corners'
  | 'asymmetric'
  | 'tf_half_pixel_for_nn'
  | 'tf_crop_and_resize';
type Nearest = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil';

interface AxisCase {
  inLen: number;
  outLen: number;
  /** the scale as given (float32 value), or null with sizes */
  scale: number | null;
  r0: number;
  r1: number;
}

function coord64(c: Coord, x: number, a: AxisCase): number {
  const s = a.scale ?? a.outLen / a.inLen,
    L = a.inLen,
    width = a.scale === null ? a.outLen : s * L;
  switch (c) {
    case 'half_pixel':
      return (x + 0.5) / s - 0.5;
    case 'half_pixel_symmetric':
      return (L / 2) * (1 - a.outLen / width) + (x + 0.5) / s - 0.5;
    case 'pytorch_half_pixel':
      return width === 1 ? 0 : (x + 0.5) / s - 0.5;
    case 'align_corners':
      return width === 1 ? 0 : (x * (L - 1)) / (width - 1);
    case 'asymmetric':
      return x / s;
    case 'tf_half_pixel_for_nn':
      return (x + 0.5) / s;
    case 'tf_crop_and_resize':
      return (width === 1 ? ((a.r1 - a.r0) * (L - 1)) / 2 : (x * (a.r1 - a.r0) * (L - 1)) / (width - 1)) + a.r0 * (L - 1);
  }
}

function coord32(c: Coord, x: number, a: AxisCase, s: number): number {
  const L = a.inLen,
    n = a.outLen;
  switch (c) {
    case 'half_pixel':
      return F(F(F(x + 0.5) / s) - 0.5);
    case 'half_pixel_symmetric': {
      const adj = F(n / F(s * L));
      return F(F(F(L / 2) * F(1 - adj)) + (x + 0.5) / s - 0.5);
    }
    case 'pytorch_half_pixel':
      return n > 1 ? F(F(F(x + 0.5) / s) - 0.5) : 0;
    case 'align_corners':
      return n === 1 ? 0 : F(F(x * (L - 1)) / (n - 1));
    case 'asymmetric':
      return F(x / s);
    case 'tf_half_pixel_for_nn':
      return F(F(x + 0.5) / s);
    case 'tf_crop_and_resize':
      return n > 1 ? F(F(a.r0 * (L - 1)) + F(F(F(x * F(a.r1 - a.r0)) * (L - 1)) / (n - 1))) : F(0.5 * F(a.r0 + a.r1) * (L - 1));
  }
}

const roundAway = (v: number) => Math.sign(v) * Math.round(Math.abs(v));

function pick64(m: Nearest, x: number): number {
  if (Number.isInteger(x)) return x;
  const f = Math.floor(x),
    r = x - f;
  return m === 'round_prefer_floor'
    ? r <= 0.5
      ? f
      : f + 1
    : m === 'round_prefer_ceil'
      ? r < 0.5
        ? f
        : f + 1
      : m === 'floor'
        ? f
        : f + 1;
}

function pick32(m: Nearest, x: number): number {
  if (m === 'round_prefer_floor') return x === F(Math.trunc(x) + 0.5) ? Math.floor(x) : roundAway(x);
  return m === 'round_prefer_ceil' ? roundAway(x) : m === 'floor' ? Math.floor(x) : Math.ceil(x);
}

/** Does float32 (ORT) arithmetic make a different choice than float64 on this axis? */
function ortDisagrees(mode: 'nearest' | 'linear' | 'cubic', c: Coord, nm: Nearest, a: AxisCase, s32: number, antialias: boolean): boolean {
  if (antialias && a.outLen === a.inLen && s32 !== 1) return true; // ORT's antialias copies an axis whose length stays, whatever its scale
  if (s32 === 1 && c === 'tf_crop_and_resize' && !(a.r0 === 0 && a.r1 === 1)) return true; // ORT copies an axis of scale 1, roi or not
  for (let x = 0; x < a.outLen; x++) {
    const x64 = coord64(c, x, a);
    // ORT's float32 coordinate: all-float32 arithmetic, or float64 arithmetic rounded to float32 at the end
    for (const x32 of [coord32(c, x, a, s32), F(coord64(c, x, { ...a, scale: s32 }))]) {
      if (c === 'tf_crop_and_resize' && (x64 < 0 || x64 > a.inLen - 1) !== (x32 < 0 || x32 > a.inLen - 1)) return true;
      if (mode !== 'nearest') continue;
      const clamp = (i: number) => Math.min(a.inLen - 1, Math.max(0, i));
      if (clamp(pick64(nm, x64)) !== clamp(pick32(nm, x32))) return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------

const COORDS: Coord[] = [
  'half_pixel',
  'half_pixel_symmetric',
  'pytorch_half_pixel',
  'align_corners',
  'asymmetric',
  'tf_half_pixel_for_nn',
  'tf_crop_and_resize',
];
const NEAREST: Nearest[] = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];
const SCALES = [1 / 3, 0.5, 0.6, 0.75, 0.8, 1, 1.25, 1.5, 1.7, 2, 2.5, 3, 4];

const resizeCase = fc.record({
  opset: fc.constantFrom(11, 13, 18, 19),
  n: fc.integer({ min: 1, max: 2 }),
  c: fc.integer({ min: 1, max: 2 }),
  h: fc.integer({ min: 1, max: 6 }),
  w: fc.integer({ min: 1, max: 6 }),
  mode: fc.constantFrom<'nearest' | 'linear' | 'cubic'>('nearest', 'linear', 'cubic'),
  coord: fc.constantFrom(...COORDS),
  nearestMode: fc.constantFrom(...NEAREST),
  cubicA: fc.constantFrom(-0.75, -0.5),
  exclude: fc.boolean(),
  antialias: fc.boolean(),
  useSizes: fc.boolean(),
  oh: fc.integer({ min: 1, max: 9 }),
  ow: fc.integer({ min: 1, max: 9 }),
  sh: fc.constantFrom(...SCALES),
  sw: fc.constantFrom(...SCALES),
  policy: fc.constantFrom('stretch', 'not_larger', 'not_smaller'),
  axesForm: fc.constantFrom('none', '2,3', '3,2', '-2,-1'),
  roi: fc.tuple(fc.constantFrom(0, 0.1, 0.25, -0.2, 0.5), fc.constantFrom(1, 0.9, 0.75, 1.2, 0.6)),
  roi2: fc.tuple(fc.constantFrom(0, 0.2, -0.1, 0.4), fc.constantFrom(1, 0.8, 1.3, 0.7)),
  extrap: fc.constantFrom(0, 10, -1.5),
  asInputs: fc.boolean(),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});
type ResizeCase = typeof resizeCase extends fc.Arbitrary<infer T> ? T : never;

/** The one-node model of a case, or null when ORT does not implement the combination. */
function resizeModel(k: ResizeCase): { node: OneNode; axes: AxisCase[]; s32: number[] } | null {
  const modern = k.opset >= 18;
  if (k.coord === 'half_pixel_symmetric' && k.opset < 19) return null; // not in the schema before 19
  if (k.coord === 'tf_half_pixel_for_nn' && k.opset >= 13) return null; // not in the schema from 13
  const antialias = modern && k.antialias && k.mode !== 'nearest';
  const exclude = k.exclude && (k.mode === 'cubic' || (antialias && k.mode === 'linear')); // ORT refuses it elsewhere
  // ORT 1.30's antialias fails ("narrowing_error") on a tf_crop_and_resize roi reaching outside [0, 1]
  if (antialias && k.coord === 'tf_crop_and_resize' && [...k.roi, ...k.roi2].some((v) => v < 0 || v > 1)) return null;
  const policy = modern && k.useSizes ? k.policy : 'stretch';
  const axesForm = modern ? (policy !== 'stretch' && k.axesForm === 'none' ? '2,3' : k.axesForm) : 'none';
  const hw: Array<[number, number]> =
    axesForm === '3,2'
      ? [
          [3, 1],
          [2, 0],
        ]
      : [
          [2, 0],
          [3, 1],
        ]; // [axis, index into (h, w)]
  const inHW = [k.h, k.w],
    outHW = [k.oh, k.ow],
    sHW = [F(k.sh), F(k.sw)],
    roiHW = [k.roi, k.roi2];
  const attrs: Record<string, BuildAttr> = { mode: k.mode };
  attrs.coordinate_transformation_mode = k.coord;
  if (k.mode === 'nearest') attrs.nearest_mode = k.nearestMode;
  if (k.mode === 'cubic') attrs.cubic_coeff_a = k.cubicA;
  if (exclude) attrs.exclude_outside = 1;
  if (k.coord === 'tf_crop_and_resize') attrs.extrapolation_value = { float: k.extrap };
  if (antialias) attrs.antialias = 1;
  if (policy !== 'stretch') attrs.keep_aspect_ratio_policy = policy;
  if (axesForm !== 'none') attrs.axes = axesForm === '-2,-1' ? [-2, -1] : hw.map(([ax]) => ax);
  const sel = axesForm === 'none' ? null : hw; // the order scales/sizes/roi are listed in
  const X = randTensor('float32', [k.n, k.c, k.h, k.w], k.seed);
  const f32 = (v: number[]): Tensor => ({ dtype: 'float32', dims: [v.length], data: Float32Array.from(v) });
  const i64 = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v, BigInt) });
  const list = (all: (i: number) => number, nc: number): number[] => (sel ? sel.map(([, i]) => all(i)) : [nc, nc, all(0), all(1)]);
  const scalesT = f32(list((i) => sHW[i]!, 1));
  const sizesT = i64(sel ? sel.map(([, i]) => outHW[i]!) : [k.n, k.c, k.oh, k.ow]);
  const roiT =
    k.coord === 'tf_crop_and_resize'
      ? f32(
          sel
            ? [...sel.map(([, i]) => roiHW[i]![0]), ...sel.map(([, i]) => roiHW[i]![1])]
            : [0, 0, k.roi[0], k.roi2[0], 1, 1, k.roi[1], k.roi2[1]],
        )
      : null;
  const empty = f32([]);
  const init = !k.asInputs;
  const inputs: OneNode['inputs'] = [{ name: 'x', t: X }];
  if (k.opset < 13) {
    inputs.push({ name: 'roi', t: roiT ?? empty, init: true });
    inputs.push(k.useSizes ? { name: 'scales', t: empty, init: true } : { name: 'scales', t: scalesT, init });
  } else {
    inputs.push(roiT ? { name: 'roi', t: roiT, init: true } : '');
    inputs.push(k.useSizes ? '' : { name: 'scales', t: scalesT, init });
  }
  if (k.useSizes) inputs.push({ name: 'sizes', t: sizesT, init });

  // the per-axis geometry, for the discard rule
  let policyScale = 0;
  if (policy !== 'stretch') {
    const ratios = [0, 1].map((i) => F(outHW[i]! / inHW[i]!));
    policyScale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
  }
  const axes: AxisCase[] = [];
  const s32: number[] = [];
  for (const i of [0, 1]) {
    const inLen = inHW[i]!;
    let outLen: number, scale: number | null, sAt32: number;
    if (!k.useSizes) {
      scale = sHW[i]!;
      outLen = Math.floor(F(scale * inLen));
      sAt32 = scale;
    } else if (policy === 'stretch') {
      outLen = outHW[i]!;
      scale = null;
      sAt32 = F(outLen / inLen);
    } else {
      // the reference's scale is the float64 ratio, ORT's the float32 one: same choice of scale here
      const r64 = [0, 1].map((j) => outHW[j]! / inHW[j]!);
      scale = policy === 'not_larger' ? Math.min(...r64) : Math.max(...r64);
      outLen = Math.floor(scale * inLen + 0.5);
      sAt32 = policyScale;
      if (Math.floor(policyScale * inLen + 0.5) !== outLen) return null;
    }
    if (outLen < 1) return null;
    const roi = roiHW[i]!;
    axes.push({
      inLen,
      outLen,
      scale,
      r0: k.coord === 'tf_crop_and_resize' ? F(roi[0]) : 0,
      r1: k.coord === 'tf_crop_and_resize' ? F(roi[1]) : 1,
    });
    s32.push(sAt32);
  }
  return { node: { op: 'Resize', opset: k.opset, attrs, inputs }, axes, s32 };
}

describe('Resize vs onnxruntime-node (property)', () => {
  it('random sizes/scales, modes, coordinate modes, nearest modes, antialias, axes, policies (opsets 11-19)', async () => {
    let compared = 0;
    const kinds = new Set<string>();
    const skipped: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(resizeCase, async (k) => {
        const m = resizeModel(k);
        fc.pre(m !== null);
        const { node, axes, s32 } = m!;
        const skip = (why: string, cond: boolean) => {
          if (cond) skipped[why] = (skipped[why] ?? 0) + 1;
          fc.pre(!cond);
        };
        // align_corners & co. read scale * L as a real number in the ONNX reference (scales, or sizes with a
        // keep_aspect_ratio_policy), the integer output length in ORT
        skip(
          'fractional output width',
          ['align_corners', 'pytorch_half_pixel', 'tf_crop_and_resize', 'half_pixel_symmetric'].includes(k.coord) &&
            !axes.every((a) => a.scale === null || a.scale * a.inLen === a.outLen),
        );
        // ORT returns X itself when the output shape equals the input shape, whatever the scales say
        skip('same shape, scale != 1', axes.every((a) => a.outLen === a.inLen) && !s32.every((v) => v === 1));
        skip(
          'float32 coordinate differs',
          axes.some((a, i) => ortDisagrees(k.mode, k.coord, k.nearestMode, a, s32[i]!, node.attrs.antialias === 1)),
        );
        // ORT 1.30 mishandles negative axes (its keep_aspect_ratio_policy code compares them with 0..rank-1 unnormalized):
        // Sparrow gets [-2, -1], ORT the same axes as [2, 3]
        const ortAttrs = k.axesForm === '-2,-1' && node.attrs.axes ? { ...node.attrs, axes: [2, 3] } : undefined;
        const { ref, ort } = await runBoth(node, ortAttrs);
        const bad = firstMismatch(ref, ort, k.mode === 'nearest' ? 0 : 1e-4, k.mode === 'nearest' ? 0 : 1e-5); // |x| <= 1
        expect(
          bad,
          `${JSON.stringify(node.attrs)} opset ${k.opset} in [${k.n},${k.c},${k.h},${k.w}] ${k.useSizes ? 'sizes' : 'scales'}`,
        ).toBeNull();
        compared++;
        kinds.add(`${k.mode}/${k.coord}`);
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 300), seed: Number(process.env.PROP_SEED ?? 20260513) },
    );
    console.info(`Resize property: ${compared} cases compared, ${kinds.size} mode/coordinate pairs; discarded: ${JSON.stringify(skipped)}`);
    expect(kinds.size).toBeGreaterThanOrEqual(18);
    expect(skipped['float32 coordinate differs'] ?? 0).toBeLessThan(compared / 4);
  });
});

describe('Resize-10 and Upsample-7/9 vs onnxruntime-node (asymmetric, nearest rule of opset 10)', () => {
  const cases: Array<[number, 'nearest' | 'linear', number[], number[]]> = [
    [10, 'nearest', [1, 2, 3, 5], [1, 1, 2, 3]],
    [10, 'nearest', [1, 1, 7, 6], [1, 1, 0.5, 0.6]], // downsampling: ORT takes ceil(x / scale)
    [10, 'nearest', [1, 1, 5, 4], [1, 1, 1.7, 0.75]],
    [10, 'linear', [1, 2, 3, 5], [1, 1, 2.5, 1.5]],
    [10, 'linear', [2, 1, 6, 7], [1, 1, 0.5, 0.4]],
    [9, 'nearest', [1, 1, 3, 4], [1, 1, 2, 3]],
    [9, 'nearest', [1, 1, 3, 4], [1, 1, 1.5, 2.5]],
    [9, 'linear', [1, 2, 3, 4], [1, 1, 1.5, 2.5]],
    [7, 'nearest', [1, 1, 3, 4], [1, 1, 3, 1.25]],
    [7, 'linear', [1, 1, 3, 4], [1, 1, 2, 3.5]],
    [8, 'linear', [3, 5], [2, 1.5]],
  ];
  it.each(cases)('opset %i %s X %j scales %j', async (opset, mode, dims, scales) => {
    const X = randTensor('float32', dims, dims.length * 31 + scales.length);
    const sc: Tensor = { dtype: 'float32', dims: [scales.length], data: Float32Array.from(scales) };
    const op = opset < 10 ? 'Upsample' : 'Resize';
    const node: OneNode =
      opset < 9
        ? { op, opset, attrs: { mode, scales: { floats: scales } }, inputs: [{ name: 'x', t: X }] }
        : {
            op,
            opset,
            attrs: { mode },
            inputs: [
              { name: 'x', t: X },
              { name: 'scales', t: sc, init: true },
            ],
          };
    const { ref, ort } = await runBoth(node);
    expect(firstMismatch(ref, ort, mode === 'nearest' ? 0 : 1e-4, mode === 'nearest' ? 0 : 1e-5)).toBeNull();
  });
});

describe('Resize on integer tensors, other ranks, scales/sizes as graph inputs', () => {
  it.each(['int8', 'uint8', 'int32'] as const)('%s: nearest and linear match ORT (linear rounds to nearest)', async (dtype) => {
    for (const mode of ['nearest', 'linear'] as const) {
      const X = randTensor(dtype, [1, 2, 3, 4], 7);
      const sizes: Tensor = { dtype: 'int64', dims: [4], data: BigInt64Array.from([1n, 2n, 7n, 5n]) };
      const node: OneNode = {
        op: 'Resize',
        opset: 19,
        attrs: { mode },
        inputs: [{ name: 'x', t: X }, '', '', { name: 'sizes', t: sizes, init: true }],
      };
      const { ref, ort } = await runBoth(node);
      // ORT's 8-bit linear uses a fixed-point filter: at most 1 off where the exact value is near .5
      expect(firstMismatch(ref, ort, 0, mode === 'nearest' ? 0 : 1)).toBeNull();
      expect(ref.dtype).toBe(dtype);
    }
  });

  it('int64 and bool nearest copy the chosen elements exactly (index map of the float32 run)', async () => {
    const dims = [1, 1, 3, 4];
    const idx: Tensor = { dtype: 'float32', dims, data: Float32Array.from({ length: 12 }, (_, i) => i) };
    const big: Tensor = { dtype: 'int64', dims, data: BigInt64Array.from({ length: 12 }, (_, i) => 2n ** 60n + BigInt(i)) };
    const bool: Tensor = { dtype: 'bool', dims, data: Uint8Array.from({ length: 12 }, (_, i) => ((i * 7) % 3 === 0 ? 1 : 0)) };
    const scales: Tensor = { dtype: 'float32', dims: [4], data: Float32Array.from([1, 1, 1.7, 0.6]) };
    const attrs = { mode: 'nearest', coordinate_transformation_mode: 'half_pixel', nearest_mode: 'round_prefer_ceil' };
    const run = async (x: Tensor) => {
      const node: OneNode = {
        op: 'Resize',
        opset: 13,
        attrs,
        inputs: [{ name: 'x', t: x }, '', { name: 'scales', t: scales, init: true }],
      };
      return (await (await Session.fromOnnx(modelOf(node))).run(feedsOf(node))).y!;
    };
    const map = num(await run(idx));
    const { ort } = await runBoth({
      op: 'Resize',
      opset: 13,
      attrs,
      inputs: [{ name: 'x', t: idx }, '', { name: 'scales', t: scales, init: true }],
    });
    expect(num(ort)).toEqual(map);
    expect(Array.from((await run(big)).data as BigInt64Array)).toEqual(map.map((i) => 2n ** 60n + BigInt(i)));
    expect(Array.from((await run(bool)).data as Uint8Array)).toEqual(map.map((i) => (bool.data as Uint8Array)[i]));
  });

  it('5-D trilinear, 3-D and 2-D linear, scales fed at run time', async () => {
    for (const [dims, scales, opset] of [
      [[1, 1, 3, 4, 5], [1, 1, 2, 0.5, 1.5], 13],
      [[2, 3, 5], [1, 2, 0.8], 11],
      [[4, 6], [1.5, 0.5], 19],
    ] as Array<[number[], number[], number]>) {
      const X = randTensor('float32', dims, 99);
      const sc: Tensor = { dtype: 'float32', dims: [scales.length], data: Float32Array.from(scales) };
      const roi: Tensor = { dtype: 'float32', dims: [0], data: new Float32Array(0) };
      const node: OneNode = {
        op: 'Resize',
        opset,
        attrs: { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' },
        inputs: [{ name: 'x', t: X }, opset < 13 ? { name: 'roi', t: roi, init: true } : '', { name: 'scales', t: sc }],
      };
      const { ref, ort } = await runBoth(node);
      expect(firstMismatch(ref, ort, 1e-4, 1e-5), JSON.stringify(dims)).toBeNull();
    }
  });
});

describe('Resize reference semantics beyond ORT', () => {
  const kernel = (opset: number) => (inputs: Array<Tensor | undefined>, attrs: Record<string, BuildAttr>) =>
    resolveOp('Resize', '', opset, 'r').ref(inputs, attrs as never, { opset, node: 'r' });
  const f32 = (dims: number[], v: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
  const i64 = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v, BigInt) });

  it('nearest does not leak a NaN/Inf from the neighbour it does not pick; linear propagates NaN from its taps', () => {
    const x = f32([1, 4], [1, NaN, Infinity, 4]);
    const y = kernel(19)([x, undefined, f32([2], [1, 2])], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric' });
    expect(num(y[0]!)).toEqual([1, 1, NaN, NaN, Infinity, Infinity, 4, 4]);
    const l = kernel(19)([x, undefined, f32([2], [1, 2])], { mode: 'linear', coordinate_transformation_mode: 'asymmetric' });
    // x_original 0, 0.5, ..., 3.5; an integer x_original k has taps [k-1, k] with weights [0, 1] (the ONNX
    // reference's choice), so 0 * NaN and 0 * Inf make NaN there, as in the reference
    const v = num(l[0]!);
    expect(v[0]).toBe(1);
    expect(v.slice(1, 5).every(Number.isNaN)).toBe(true);
    expect(v[5]).toBe(Infinity); // (Inf + 4) / 2
    expect(Number.isNaN(v[6])).toBe(true); // 0 * Inf + 1 * 4
    expect(v[7]).toBe(4);
  });

  it('tf_crop_and_resize extrapolation on integers is rounded half to even and saturated', () => {
    const x: Tensor = { dtype: 'uint8', dims: [1, 3], data: Uint8Array.from([10, 20, 30]) };
    const attrs = { mode: 'nearest', coordinate_transformation_mode: 'tf_crop_and_resize', extrapolation_value: 300.5 };
    // axis 1: L = 3, 4 outputs over roi [-1, 2]: x_original = 2x - 2 = -2, 0, 2, 4 (outside [0, 2] at both ends)
    const y = kernel(19)([x, f32([4], [0, -1, 1, 2]), undefined, i64([1, 4])], attrs);
    expect(num(y[0]!)).toEqual([255, 10, 30, 255]);
    const z = kernel(19)([{ ...x, dtype: 'int8', data: Int8Array.from([1, 2, 3]) }, f32([4], [0, -1, 1, 2]), undefined, i64([1, 4])], {
      ...attrs,
      extrapolation_value: -2.5,
    });
    expect(num(z[0]!)).toEqual([-2, 1, 3, -2]);
  });

  it('errors: both or neither of scales/sizes, wrong lengths, antialias on nearest, Upsample scale < 1, linear on bool', () => {
    const x = f32([1, 1, 2, 2], [1, 2, 3, 4]);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(SparrowError);
        return (e as SparrowError).code;
      }
      return 'no error';
    };
    expect(code(() => kernel(13)([x, undefined, f32([4], [1, 1, 2, 2]), i64([1, 1, 4, 4])], {}))).toBe('invalid_model');
    expect(code(() => kernel(13)([x], {}))).toBe('invalid_model');
    expect(code(() => kernel(11)([x, f32([0], []), f32([0], [])], {}))).toBe('invalid_model');
    expect(code(() => kernel(13)([x, undefined, f32([2], [2, 2])], {}))).toBe('invalid_model');
    expect(code(() => kernel(13)([x, undefined, f32([4], [1, 1, 0, 2])], {}))).toBe('invalid_model');
    expect(code(() => kernel(18)([x, undefined, f32([4], [1, 1, 2, 2])], { antialias: 1 }))).toBe('invalid_model');
    expect(code(() => kernel(10)([x, f32([4], [1, 1, 2, 2])], { mode: 'cubic' }))).toBe('invalid_model');
    expect(code(() => kernel(13)([x, undefined, f32([4], [1, 1, 2, 2])], { coordinate_transformation_mode: 'tf_crop_and_resize' }))).toBe(
      'invalid_model',
    );
    const up = resolveOp('Upsample', '', 9, 'u').ref;
    expect(code(() => up([x, f32([4], [1, 1, 0.5, 2])], {}, { opset: 9, node: 'u' }))).toBe('invalid_model');
    const b: Tensor = { dtype: 'bool', dims: [1, 2], data: Uint8Array.from([0, 1]) };
    expect(code(() => kernel(13)([b, undefined, f32([2], [1, 2])], { mode: 'linear' }))).toBe('unsupported_op');
    expect(code(() => resolveOp('Upsample', '', 10, 'u'))).toBe('unsupported_op'); // deprecated from opset 10
  });

  it('shape function: constant scales/sizes give exact dims, run-time ones -1 (axes keep the others)', () => {
    const shape = (
      opset: number,
      infos: Array<{ dtype: 'float32' | 'int64'; dims: number[] } | undefined>,
      consts: Array<Tensor | undefined>,
      attrs = {},
    ) => resolveOp('Resize', '', opset, 'r').shape(infos, attrs, consts, { opset, node: 'r' })[0]!.dims;
    const X = { dtype: 'float32' as const, dims: [1, 3, -1, 10] };
    expect(shape(13, [X, undefined, { dtype: 'float32', dims: [4] }], [undefined, undefined, f32([4], [1, 1, 2, 0.35])])).toEqual([
      1, 3, -1, 3,
    ]);
    expect(
      shape(13, [X, undefined, undefined, { dtype: 'int64', dims: [4] }], [undefined, undefined, undefined, i64([1, 3, 8, 9])]),
    ).toEqual([1, 3, 8, 9]);
    expect(shape(13, [X, undefined, undefined, { dtype: 'int64', dims: [4] }], [])).toEqual([-1, -1, -1, -1]);
    expect(shape(18, [X, undefined, undefined, { dtype: 'int64', dims: [2] }], [], { axes: [2, 3] })).toEqual([1, 3, -1, -1]);
    expect(
      shape(
        18,
        [{ dtype: 'float32', dims: [1, 3, 20, 10] }, undefined, undefined, { dtype: 'int64', dims: [2] }],
        [undefined, undefined, undefined, i64([5, 5])],
        {
          axes: [2, 3],
          keep_aspect_ratio_policy: 'not_larger',
        },
      ),
    ).toEqual([1, 3, 5, 3]);
    // Resize-11 passes an empty scales tensor beside sizes
    expect(
      shape(
        11,
        [X, { dtype: 'float32', dims: [0] }, { dtype: 'float32', dims: [0] }, { dtype: 'int64', dims: [4] }],
        [undefined, f32([0], []), f32([0], []), i64([1, 3, 4, 4])],
      ),
    ).toEqual([1, 3, 4, 4]);
  });
});
