// ConvTranspose, Resize / Upsample, DepthToSpace, SpaceToDepth and Tile on sparrow-f32's WASM
// kernels (src/runtime/f32/deconv.ts, resample.ts, layout.ts), not their reference fallbacks:
//  - the ONNX node fixtures of these ops (test/fixtures/onnx-node): as they are, and with every
//    input but the first made an initializer (the fixtures feed scales / roi / W at run time,
//    which keeps a Resize off the kernels: its output shape would not be static); each must
//    match the expected outputs and lower without a fallback (session.report.fallbackOps),
//    except the 3-D ConvTranspose (the kernel is 1-D / 2-D);
//  - property tests (fast-check) on one-node models against onnxruntime-node: ConvTranspose
//    (1-D/2-D, group, strides, dilations, pads, auto_pad, output_padding, output_shape, bias,
//    constant or fed weights) within 1e-4 relative, and against the reference engine where ORT
//    departs from the spec; Resize (every mode, coordinate mode, nearest mode, cubic_coeff_a,
//    exclude_outside, antialias, axes, scales / sizes, tf_crop_and_resize roi and extrapolation,
//    opsets 10-19, Upsample 7/9) against the reference engine (nearest exactly, linear / cubic
//    within 1e-5 + 1e-5 relative) and against ORT wherever the reference agrees with ORT (the
//    cases where it does not are ORT's departures, test/ops.resize.test.ts); DepthToSpace,
//    SpaceToDepth and Tile against ORT exactly;
//  - a Relu after a ConvTranspose fused into it (sparrow.FusedConvTranspose: the clamp runs in the
//    kernel), and still run in float between layers by sparrow-int8 in dynamic mode.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareTensors } from '../src/bench/conformance.js';
import { buildModel, type BuildAttr } from '../src/onnx/build.js';
import { onnxRuntime } from '../src/onnx/proto.js';
import { tensorFromOnnx } from '../src/onnx/attributes.js';
import type { Tensor } from '../src/ops/types.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Session, type EngineName } from '../src/runtime/session.js';
import '../src/ops/ref/index.js';
import { lcg } from './helpers/tensors.js';

const OPS = ['ConvTranspose', 'Resize', 'Upsample', 'DepthToSpace', 'SpaceToDepth', 'Tile'];

function randF32(dims: number[], seed: number): Tensor {
  const r = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => r() * 2 - 1) };
}

/** First element where got and want differ beyond atol + rtol·|want| (NaN = NaN), or null. */
function mismatch(got: Tensor, want: Tensor, rtol: number, atol: number): string | null {
  if (got.dims.join() !== want.dims.join()) return `dims [${got.dims}] vs [${want.dims}]`;
  const a = got.data as Float32Array,
    b = want.data as Float32Array;
  for (let i = 0; i < b.length; i++) {
    if (a[i] === b[i] || (Number.isNaN(a[i]!) && Number.isNaN(b[i]!))) continue;
    if (!(Math.abs(a[i]! - b[i]!) <= atol + rtol * Math.abs(b[i]!))) return `element ${i}: ${a[i]} vs ${b[i]}`;
  }
  return null;
}

// ---- fixtures ---------------------------------------------------------------------------------

const DIR = join(process.cwd(), 'test', 'fixtures', 'onnx-node');
const FIXTURES = readdirSync(DIR)
  .filter((n) => /^test_(convtranspose|resize|upsample|depthtospace|spacetodepth|tile)/.test(n) && existsSync(join(DIR, n, 'model.onnx')))
  .sort();
/** fixtures that keep a fallback, with the reason */
const FALLS_BACK: Record<string, string> = { test_convtranspose_3d: '3-D ConvTranspose' };

function readPb(path: string): { name: string; proto: ReturnType<typeof onnxRuntime.TensorProto.decode> } {
  const proto = onnxRuntime.TensorProto.decode(readFileSync(path));
  return { name: proto.name ?? '', proto };
}

/** The fixture's model with every graph input but the first turned into an initializer holding its test value. */
function withConstants(model: Uint8Array, inputs: Array<ReturnType<typeof readPb>>): Uint8Array {
  const m = onnxRuntime.ModelProto.decode(model);
  const g = m.graph!;
  const names = g.input!.map((i) => i.name!);
  for (let k = 1; k < names.length; k++) {
    const t = inputs[k]!.proto;
    t.name = names[k]!;
    g.initializer!.push(t);
  }
  g.input = g.input!.slice(0, 1);
  return onnxRuntime.ModelProto.encode(m).finish();
}

async function runFixture(name: string, constants: boolean): Promise<{ diff: string | null; fallbacks: string[] }> {
  const dir = join(DIR, name),
    sd = join(dir, 'test_data_set_0');
  const numbered = (prefix: string) =>
    readdirSync(sd)
      .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
      .sort((x, y) => Number(x.slice(prefix.length, -3)) - Number(y.slice(prefix.length, -3)))
      .map((f) => readPb(join(sd, f)));
  const inputs = numbered('input_'),
    outputs = numbered('output_');
  let bytes: Uint8Array = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
  if (constants) bytes = withConstants(bytes, inputs);
  const s = await Session.fromOnnx(bytes, { engine: 'sparrow-f32' });
  const feeds: Record<string, Tensor> = {};
  s.inputNames.forEach((n, i) => (feeds[n] = tensorFromOnnx(inputs[i]!.proto, n)));
  const got = await s.run(feeds);
  let diff: string | null = null;
  outputs.forEach((o, i) => {
    diff ??= compareTensors(got[s.outputNames[i]!]!, tensorFromOnnx(o.proto, o.name));
  });
  return { diff, fallbacks: s.report!.fallbackOps.map((f) => `${f.op}: ${f.reason}`) };
}

describe('ONNX node fixtures of the new kernels run in WASM on sparrow-f32', () => {
  it(`${FIXTURES.length} fixtures, as they are and with constant scales / roi / weights: outputs right, no fallback`, async () => {
    expect(FIXTURES.length).toBeGreaterThanOrEqual(55);
    const wrong: string[] = [];
    let lowered = 0;
    for (const name of FIXTURES) {
      for (const constants of [false, true]) {
        const r = await runFixture(name, constants);
        if (r.diff) wrong.push(`${name}${constants ? ' (constants)' : ''}: ${r.diff}`);
        // as they are, a Resize fed its scales / roi runs on the reference executor: only the constant form must lower
        if (!constants && /^test_(resize|upsample)/.test(name)) continue;
        const ours = r.fallbacks.filter((f) => OPS.some((op) => f.startsWith(`${op}:`)) || f.startsWith('*:'));
        if (FALLS_BACK[name]) {
          if (ours.length === 0) wrong.push(`${name}: lowers now (remove it from FALLS_BACK)`);
        } else if (ours.length) wrong.push(`${name}${constants ? ' (constants)' : ''} falls back: ${ours.join('; ')}`);
        else lowered++;
      }
    }
    expect(wrong).toEqual([]);
    // every constant form, and the as-is form of every fixture that is not a Resize / Upsample, but FALLS_BACK's
    const asIs = FIXTURES.filter((n) => !/^test_(resize|upsample)/.test(n));
    expect(lowered).toBe(FIXTURES.length + asIs.length - 2 * Object.keys(FALLS_BACK).length);
  });
});

// ---- one-node models ---------------------------------------------------------------------------

interface OneNode {
  op: string;
  opset: number;
  attrs: Record<string, BuildAttr>;
  x: Tensor;
  /** inputs after x: initializers, fed tensors, '' = absent */
  rest: Array<{ name: string; t: Tensor; fed?: boolean } | ''>;
  /** a Relu after the node */
  relu?: boolean;
}

function modelOf(c: OneNode): Uint8Array {
  const fed = c.rest.filter((r): r is { name: string; t: Tensor; fed: true } => r !== '' && !!r.fed);
  const init = Object.fromEntries(c.rest.filter((r): r is { name: string; t: Tensor } => r !== '' && !r.fed).map((r) => [r.name, r.t]));
  return buildModel({
    nodes: [
      { op: c.op, inputs: ['x', ...c.rest.map((r) => (r === '' ? '' : r.name))], outputs: [c.relu ? 't' : 'y'], attrs: c.attrs },
      ...(c.relu ? [{ op: 'Relu', inputs: ['t'], outputs: ['y'] }] : []),
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: c.x.dims }, ...fed.map((r) => ({ name: r.name, dtype: r.t.dtype, dims: r.t.dims }))],
    outputs: [{ name: 'y', dtype: 'float32', dims: null }],
    initializers: init,
    opsets: { '': c.opset },
    irVersion: 10,
  });
}

function feedsOf(c: OneNode): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = { x: c.x };
  for (const r of c.rest) if (r !== '' && r.fed) feeds[r.name] = r.t;
  return feeds;
}

async function runEngine(c: OneNode, engine: EngineName): Promise<{ y: Tensor; fallbacks: string[]; fused: number }> {
  const s = await Session.fromOnnx(modelOf(c), { engine });
  const y = (await s.run(feedsOf(c))).y!;
  const report = s.report;
  return { y, fallbacks: report?.fallbackOps.map((f) => `${f.op}: ${f.reason}`) ?? [], fused: report?.fused?.activations ?? 0 };
}

async function runOrt(c: OneNode): Promise<Tensor> {
  const e = await createOrtEngine('ort-node', modelOf(c));
  try {
    return (await e.run(feedsOf(c))).y!;
  } finally {
    await e.dispose();
  }
}

// ---- ConvTranspose ---------------------------------------------------------------------------

const ctCase = fc
  .record({
    opset: fc.constantFrom(9, 11, 13, 22),
    nSp: fc.constantFrom(1, 2, 2, 2),
    n: fc.integer({ min: 1, max: 2 }),
    group: fc.integer({ min: 1, max: 3 }),
    cg: fc.integer({ min: 1, max: 6 }),
    mg: fc.integer({ min: 1, max: 5 }),
    size: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 2, maxLength: 2 }),
    kernel: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2, maxLength: 2 }),
    strides: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 2 }),
    dilations: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 2, maxLength: 2 }),
    pads: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 4, maxLength: 4 }),
    outPad: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 2, maxLength: 2 }),
    outShapeDelta: fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 2, maxLength: 2 }),
    padMode: fc.constantFrom('pads', 'pads', 'SAME_UPPER', 'SAME_LOWER', 'VALID', 'output_shape'),
    bias: fc.boolean(),
    fedW: fc.boolean(),
    relu: fc.boolean(),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .map((k) => {
    const d = k.nSp;
    const strides = k.strides.slice(0, d),
      dil = k.dilations.slice(0, d),
      kernel = k.kernel.slice(0, d),
      size = k.size.slice(0, d);
    const outPad = k.outPad.slice(0, d).map((p, i) => Math.min(p, strides[i]! - 1)); // ORT: below the stride
    const full = size.map((s, i) => (s - 1) * strides[i]! + (kernel[i]! - 1) * dil[i]! + 1 + outPad[i]!);
    const attrs: Record<string, BuildAttr> = { strides, dilations: dil, kernel_shape: kernel };
    if (k.group > 1) attrs.group = k.group;
    if (outPad.some((p) => p > 0)) attrs.output_padding = outPad;
    if (k.padMode === 'pads') attrs.pads = [...k.pads.slice(0, d), ...k.pads.slice(2, 2 + d)];
    else if (k.padMode === 'output_shape') attrs.output_shape = full.map((f, i) => Math.max(1, f + k.outShapeDelta[i]!));
    else attrs.auto_pad = k.padMode;
    const C = k.group * k.cg,
      M = k.group * k.mg;
    const c: OneNode = {
      op: 'ConvTranspose',
      opset: k.opset,
      attrs,
      x: randF32([k.n, C, ...size], k.seed),
      rest: [
        { name: 'w', t: randF32([C, k.mg, ...kernel], k.seed + 1), fed: k.fedW },
        ...(k.bias ? [{ name: 'b', t: randF32([M], k.seed + 2) }] : []),
      ],
      relu: k.relu,
    };
    return { c, full };
  });

describe('ConvTranspose on sparrow-f32 (WASM)', () => {
  it('matches onnxruntime-node (and the reference engine where ORT departs): 1-D/2-D, groups, strides, dilations, pads, auto_pad, output_padding/shape', async () => {
    let vsOrt = 0,
      fusedRelu = 0;
    await fc.assert(
      fc.asyncProperty(ctCase, async ({ c, full }) => {
        const ref = await runEngine(c, 'reference').catch(() => null);
        fc.pre(ref !== null && ref.y.dims.every((d) => d > 0)); // a geometry the op rejects, or an empty output
        const got = await runEngine(c, 'sparrow-f32');
        const what = `${JSON.stringify(c.attrs)} X [${c.x.dims}] W [${(c.rest[0] as { t: Tensor }).t.dims}] opset ${c.opset}`;
        expect(got.fallbacks, what).toEqual([]);
        expect(mismatch(got.y, ref!.y, 1e-5, 1e-5), `vs reference: ${what}`).toBeNull();
        if (c.relu) {
          expect(got.fused, `the Relu is fused: ${what}`).toBe(1);
          fusedRelu++;
        }
        // ORT departs from the spec: SAME_* with full < I * stride (it stops at full), output_shape past full
        const sp = c.x.dims.slice(2),
          st = c.attrs.strides as number[];
        const same = c.attrs.auto_pad === 'SAME_UPPER' || c.attrs.auto_pad === 'SAME_LOWER';
        if (same && sp.some((I, i) => full[i]! < I * st[i]!)) return;
        if ((c.attrs.output_shape as number[] | undefined)?.some((o, i) => o > full[i]!)) return;
        expect(mismatch(got.y, await runOrt(c), 1e-4, 1e-5), `vs ORT: ${what}`).toBeNull();
        vsOrt++;
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 150), seed: Number(process.env.PROP_SEED ?? 7031) },
    );
    console.info(`ConvTranspose on sparrow-f32: ${vsOrt} cases compared with ORT, ${fusedRelu} Relus fused`);
    expect(vsOrt).toBeGreaterThanOrEqual(90);
    expect(fusedRelu).toBeGreaterThanOrEqual(40);
  });

  it('a 3-D ConvTranspose falls back to the reference kernel (and stays right)', async () => {
    const c: OneNode = {
      op: 'ConvTranspose',
      opset: 13,
      attrs: { strides: [2, 1, 2] },
      x: randF32([1, 2, 3, 2, 3], 1),
      rest: [{ name: 'w', t: randF32([2, 3, 2, 2, 2], 2) }],
    };
    const got = await runEngine(c, 'sparrow-f32');
    expect(got.fallbacks).toEqual(['ConvTranspose: 3-D ConvTranspose (the kernel is 1-D/2-D)']);
    expect(mismatch(got.y, await runOrt(c), 1e-4, 1e-5)).toBeNull();
  });

  it('the zoo decoder layer (k4 s2 p1, 32→16 channels, 28x28) with a Relu after it', async () => {
    const c: OneNode = {
      op: 'ConvTranspose',
      opset: 13,
      attrs: { kernel_shape: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1] },
      x: randF32([1, 32, 28, 28], 3),
      rest: [
        { name: 'w', t: randF32([32, 16, 4, 4], 4) },
        { name: 'b', t: randF32([16], 5) },
      ],
      relu: true,
    };
    const got = await runEngine(c, 'sparrow-f32');
    expect(got.fallbacks).toEqual([]);
    expect(got.fused).toBe(1); // sparrow.FusedConvTranspose: the clamp in the kernel
    expect(mismatch(got.y, await runOrt(c), 1e-4, 1e-5)).toBeNull();
    // sparrow-int8 (dynamic mode) still runs the fused node in float between its layers, not as a fallback
    const s8 = await Session.fromOnnx(modelOf(c), { engine: 'sparrow-int8' });
    const y8 = (await s8.run(feedsOf(c))).y!;
    expect(s8.report!.fallbackOps).toEqual([]);
    expect(s8.report!.int8!.floatOps).toHaveLength(1);
    expect(mismatch(y8, got.y, 1e-5, 1e-5)).toBeNull(); // the reference kernel there
  });
});

// ---- Resize / Upsample -----------------------------------------------------------------------

const COORDS = [
  'half_pixel',
  'half_pixel_symmetric',
  'pytorch_half_pixel',
  'align_corners',
  'asymmetric',
  'tf_half_pixel_for_nn',
  'tf_crop_and_resize',
];
const NEAREST = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];
const SCALES = [1 / 3, 0.5, 0.6, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 4, 8];

const resizeCase = fc
  .record({
    opset: fc.constantFrom(7, 9, 10, 11, 13, 18, 19, 19),
    rank: fc.constantFrom(3, 4, 4, 4, 5),
    lead: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
    h: fc.integer({ min: 1, max: 9 }),
    w: fc.integer({ min: 1, max: 9 }),
    mode: fc.constantFrom('nearest', 'linear', 'cubic'),
    coord: fc.constantFrom(...COORDS),
    nearestMode: fc.constantFrom(...NEAREST),
    cubicA: fc.constantFrom(-0.75, -0.5),
    exclude: fc.boolean(),
    antialias: fc.boolean(),
    useSizes: fc.boolean(),
    oh: fc.integer({ min: 1, max: 17 }),
    ow: fc.integer({ min: 1, max: 17 }),
    sh: fc.constantFrom(...SCALES),
    sw: fc.constantFrom(...SCALES),
    axesForm: fc.constantFrom('none', 'none', 'hw', 'wh', 'w', 'h'),
    roi: fc.array(fc.constantFrom(0, 0.1, 0.25, -0.2, 0.5, 1, 0.9, 1.2, 0.6), { minLength: 4, maxLength: 4 }),
    extrap: fc.constantFrom(0, 10, -1.5),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .map((k) => {
    const op = k.opset < 10 ? 'Upsample' : 'Resize';
    const modern = k.opset >= 11;
    const mode = !modern && k.mode === 'cubic' ? 'linear' : k.mode;
    const dims = [...k.lead.slice(0, k.rank - 2), k.h, k.w];
    const r = dims.length;
    // resized axes: the last two (or one of them); Upsample scales must be >= 1
    const axes =
      k.opset >= 18 && k.axesForm !== 'none' ? { hw: [r - 2, r - 1], wh: [r - 1, r - 2], w: [r - 1], h: [r - 2] }[k.axesForm]! : null;
    const listed = axes ?? dims.map((_, i) => i);
    const up = (s: number) => (op === 'Upsample' ? Math.max(1, s) : s);
    const scaleOf = (ax: number) => (ax === r - 2 ? up(k.sh) : ax === r - 1 ? up(k.sw) : 1);
    const sizeOf = (ax: number) => (ax === r - 2 ? k.oh : ax === r - 1 ? k.ow : dims[ax]!);
    const useSizes = modern && k.useSizes;
    const attrs: Record<string, BuildAttr> = { mode };
    const coord = modern ? (k.coord === 'tf_half_pixel_for_nn' && k.opset >= 13 ? 'asymmetric' : k.coord) : 'asymmetric';
    if (modern) attrs.coordinate_transformation_mode = k.opset < 19 && coord === 'half_pixel_symmetric' ? 'half_pixel' : coord;
    if (modern && mode === 'nearest') attrs.nearest_mode = k.nearestMode;
    if (mode === 'cubic') attrs.cubic_coeff_a = k.cubicA;
    const antialias = k.opset >= 18 && k.antialias && mode !== 'nearest';
    if (antialias) attrs.antialias = 1;
    if (modern && k.exclude && (mode === 'cubic' || antialias)) attrs.exclude_outside = 1; // ORT refuses it elsewhere
    if (attrs.coordinate_transformation_mode === 'tf_crop_and_resize') attrs.extrapolation_value = { float: k.extrap };
    if (axes) attrs.axes = axes;
    const f32 = (v: number[]): Tensor => ({ dtype: 'float32', dims: [v.length], data: Float32Array.from(v) });
    const scales = f32(listed.map(scaleOf)),
      sizes: Tensor = { dtype: 'int64', dims: [listed.length], data: BigInt64Array.from(listed.map(sizeOf), BigInt) };
    const roiV = listed.map((ax) => (ax === r - 2 ? k.roi[0]! : ax === r - 1 ? k.roi[1]! : 0));
    const roiE = listed.map((ax) => (ax === r - 2 ? k.roi[2]! : ax === r - 1 ? k.roi[3]! : 1));
    const roi = attrs.coordinate_transformation_mode === 'tf_crop_and_resize' ? f32([...roiV, ...roiE]) : f32([]);
    if (op === 'Upsample' && k.opset < 9) attrs.scales = { floats: Array.from(scales.data as Float32Array) };
    const rest: OneNode['rest'] =
      k.opset < 9
        ? []
        : k.opset <= 10
          ? [{ name: 'scales', t: scales }]
          : k.opset < 13
            ? [
                { name: 'roi', t: roi },
                useSizes ? { name: 'scales', t: f32([]) } : { name: 'scales', t: scales },
                ...(useSizes ? [{ name: 'sizes', t: sizes }] : []),
              ]
            : [
                roi.data.length ? { name: 'roi', t: roi } : '',
                useSizes ? '' : { name: 'scales', t: scales },
                ...(useSizes ? [{ name: 'sizes', t: sizes }] : []),
              ];
    const c: OneNode = { op, opset: k.opset, attrs, x: randF32(dims, k.seed), rest };
    return c;
  });

describe('Resize / Upsample on sparrow-f32 (WASM)', () => {
  it('match the reference engine, and onnxruntime-node wherever the reference does: every mode, coordinate mode, nearest mode, antialias, axes', async () => {
    let vsOrt = 0,
      ortDeparts = 0,
      ortRejects = 0;
    const kinds = new Set<string>();
    await fc.assert(
      fc.asyncProperty(resizeCase, async (c) => {
        const ref = await runEngine(c, 'reference').catch(() => null);
        fc.pre(ref !== null && ref.y.dims.every((d) => d > 0));
        const got = await runEngine(c, 'sparrow-f32');
        const nearest = c.attrs.mode === 'nearest';
        const what = `${c.op}-${c.opset} ${JSON.stringify(c.attrs)} X [${c.x.dims}] → [${ref!.y.dims}] ${c.rest.map((r) => (r ? `${r.name} [${Array.from(r.t.data as ArrayLike<number | bigint>, Number)}]` : '-')).join(' ')}`;
        expect(got.fallbacks, what).toEqual([]);
        expect(mismatch(got.y, ref!.y, nearest ? 0 : 1e-5, nearest ? 0 : 1e-5), `vs reference: ${what}`).toBeNull();
        kinds.add(`${c.attrs.mode}/${c.attrs.coordinate_transformation_mode ?? 'asymmetric'}`);
        const ort = await runOrt(c).catch(() => null);
        if (!ort) {
          ortRejects++; // e.g. linear / cubic on a 3-D or 5-D input
          return;
        }
        if (mismatch(ref!.y, ort, nearest ? 0 : 1e-4, nearest ? 0 : 1e-5) !== null) {
          ortDeparts++; // ORT departs from the reference here (test/ops.resize.test.ts lists how)
          return;
        }
        expect(mismatch(got.y, ort, nearest ? 0 : 1e-4, nearest ? 0 : 2e-5), `vs ORT: ${what}`).toBeNull();
        vsOrt++;
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 400), seed: Number(process.env.PROP_SEED ?? 5150) },
    );
    console.info(
      `Resize on sparrow-f32: ${vsOrt} cases compared with ORT, ${ortDeparts} where ORT departs from the reference, ${ortRejects} it rejects; ${kinds.size} mode/coordinate pairs`,
    );
    expect(vsOrt).toBeGreaterThanOrEqual(200);
    expect(kinds.size).toBeGreaterThanOrEqual(18);
  });

  it('NaN and Inf: linear propagates them through zero-weight taps as the reference does; nearest copies only the picked pixel', async () => {
    const x = randF32([1, 1, 4, 5], 9);
    const xd = x.data as Float32Array;
    xd[6] = NaN;
    xd[13] = Infinity;
    xd[17] = -Infinity;
    for (const mode of ['linear', 'cubic', 'nearest']) {
      for (const coord of ['half_pixel', 'align_corners', 'asymmetric']) {
        const c: OneNode = {
          op: 'Resize',
          opset: 19,
          attrs: { mode, coordinate_transformation_mode: coord },
          x,
          rest: ['', { name: 'scales', t: { dtype: 'float32', dims: [4], data: Float32Array.of(1, 1, 2, 1.5) } }],
        };
        const [ref, got] = [await runEngine(c, 'reference'), await runEngine(c, 'sparrow-f32')];
        expect(got.fallbacks).toEqual([]);
        const a = got.y.data as Float32Array,
          b = ref.y.data as Float32Array;
        for (let i = 0; i < b.length; i++) {
          if (Number.isNaN(b[i]!) || !Number.isFinite(b[i]!))
            expect(Object.is(a[i], b[i]) || (Number.isNaN(a[i]!) && Number.isNaN(b[i]!)), `${mode} ${coord} [${i}]`).toBe(true);
        }
        expect(mismatch(got.y, ref.y, 1e-5, 1e-5), `${mode} ${coord}`).toBeNull();
      }
    }
  });

  it('the LR-ASPP upsampling (bilinear, half_pixel, sizes: 21x32x32 → 256x256) matches ORT', async () => {
    const c: OneNode = {
      op: 'Resize',
      opset: 13,
      attrs: { mode: 'linear', coordinate_transformation_mode: 'half_pixel', nearest_mode: 'floor' },
      x: randF32([1, 21, 32, 32], 11),
      rest: ['', '', { name: 'sizes', t: { dtype: 'int64', dims: [4], data: BigInt64Array.of(1n, 21n, 256n, 256n) } }],
    };
    const got = await runEngine(c, 'sparrow-f32');
    expect(got.fallbacks).toEqual([]);
    expect(mismatch(got.y, await runOrt(c), 1e-4, 1e-5)).toBeNull();
  });

  it('linear resizing of a leading axis stays on the reference kernel (and stays right; ORT rejects it)', async () => {
    const c: OneNode = {
      op: 'Resize',
      opset: 13,
      attrs: { mode: 'linear' },
      x: randF32([1, 3, 4, 5], 12),
      rest: ['', { name: 'scales', t: { dtype: 'float32', dims: [4], data: Float32Array.of(1, 2, 1, 1.5) } }],
    };
    const got = await runEngine(c, 'sparrow-f32');
    expect(got.fallbacks).toEqual(['Resize: linear resizing of an axis other than the last two']);
    expect(mismatch(got.y, (await runEngine(c, 'reference')).y, 0, 0)).toBeNull();
  });
});

// ---- DepthToSpace, SpaceToDepth, Tile --------------------------------------------------------

describe('DepthToSpace, SpaceToDepth and Tile on sparrow-f32 (remap)', () => {
  it('match onnxruntime-node exactly on random shapes, modes and repeats', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          which: fc.constantFrom('d2s', 's2d', 'tile'),
          b: fc.integer({ min: 1, max: 3 }),
          n: fc.integer({ min: 1, max: 2 }),
          c: fc.integer({ min: 1, max: 4 }),
          h: fc.integer({ min: 1, max: 5 }),
          w: fc.integer({ min: 1, max: 6 }),
          crd: fc.boolean(),
          opset: fc.constantFrom(9, 11, 13),
          reps: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 5, maxLength: 5 }),
          rank: fc.integer({ min: 1, max: 5 }),
          seed: fc.integer({ min: 1, max: 1 << 30 }),
        }),
        async (k) => {
          let c: OneNode;
          if (k.which === 'd2s') {
            const attrs: Record<string, BuildAttr> = { blocksize: k.b };
            if (k.opset >= 11) attrs.mode = k.crd ? 'CRD' : 'DCR';
            c = { op: 'DepthToSpace', opset: k.opset, attrs, x: randF32([k.n, k.c * k.b * k.b, k.h, k.w], k.seed), rest: [] };
          } else if (k.which === 's2d') {
            c = {
              op: 'SpaceToDepth',
              opset: k.opset,
              attrs: { blocksize: k.b },
              x: randF32([k.n, k.c, k.h * k.b, k.w * k.b], k.seed),
              rest: [],
            };
          } else {
            const dims = [k.n, k.c, k.h, k.w, k.b].slice(0, k.rank);
            const reps = k.reps.slice(0, k.rank);
            const repeats: Tensor = { dtype: 'int64', dims: [reps.length], data: BigInt64Array.from(reps, BigInt) };
            c = { op: 'Tile', opset: k.opset, attrs: {}, x: randF32(dims, k.seed), rest: [{ name: 'r', t: repeats }] };
          }
          const got = await runEngine(c, 'sparrow-f32');
          const ort = await runOrt(c);
          const what = `${c.op} ${JSON.stringify(c.attrs)} X [${c.x.dims}]`;
          if (ort.dims.every((d) => d > 0)) expect(got.fallbacks, what).toEqual([]);
          expect(got.y.dims, what).toEqual(ort.dims);
          expect(Array.from(got.y.data as Float32Array), what).toEqual(Array.from(ort.data as Float32Array));
        },
      ),
      { numRuns: Number(process.env.PROP_RUNS ?? 150), seed: Number(process.env.PROP_SEED ?? 99) },
    );
  });
});
