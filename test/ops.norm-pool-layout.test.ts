// DepthToSpace, SpaceToDepth, Tile, InstanceNormalization, GroupNormalization (18, 21),
// LpNormalization, MeanVarianceNormalization, LRN, GlobalMaxPool, LpPool (11, 18),
// GlobalLpPool against onnxruntime-node on one-node models over sweeps of shapes and attributes
// (LpPool: a fast-check property over kernel, strides, pads, auto_pad, dilations, ceil_mode, p).
// The data movers also run on every integer dtype and bool: their output must be the float32
// run's permutation applied to the typed input (the float32 run itself is checked against ORT).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SparrowError } from '../src/errors.js';
import { buildModel, type BuildAttr } from '../src/onnx/build.js';
import { resolveOp } from '../src/ops/registry.js';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import '../src/ops/ref/index.js';
import { lcg } from './helpers/tensors.js';

function randF32(dims: number[], seed: number, lo = -1, hi = 1): Tensor {
  const r = lcg(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => lo + r() * (hi - lo)) };
}

interface Node1 {
  op: string;
  opset: number;
  attrs?: Record<string, BuildAttr>;
  /** graph inputs fed at run time */
  feeds: Record<string, Tensor>;
  /** constant inputs */
  inits?: Record<string, Tensor>;
  /** node input names in order ('' = absent) */
  inputs: string[];
}

function modelOf(c: Node1): Uint8Array {
  const first = Object.values(c.feeds)[0]!;
  return buildModel({
    nodes: [{ op: c.op, inputs: c.inputs, outputs: ['y'], attrs: c.attrs ?? {} }],
    inputs: Object.entries(c.feeds).map(([name, t]) => ({ name, dtype: t.dtype, dims: t.dims })),
    outputs: [{ name: 'y', dtype: first.dtype, dims: null }],
    initializers: c.inits ?? {},
    opsets: { '': c.opset },
    irVersion: 10,
  });
}

async function runRef(c: Node1): Promise<Tensor> {
  return (await (await Session.fromOnnx(modelOf(c))).run(c.feeds)).y!;
}

async function runOrt(c: Node1): Promise<Tensor> {
  const e = await createOrtEngine('ort-node', modelOf(c));
  try {
    return (await e.run(c.feeds)).y!;
  } finally {
    await e.dispose();
  }
}

function mismatch(got: Tensor, want: Tensor, rtol = 1e-4, atol = 1e-5): string | null {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype} vs ${want.dtype}`;
  if (got.dims.join() !== want.dims.join()) return `dims [${got.dims}] vs [${want.dims}]`;
  const a = Array.from(got.data as ArrayLike<number | bigint>, Number),
    b = Array.from(want.data as ArrayLike<number | bigint>, Number);
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(a[i]!) && Number.isNaN(b[i]!)) continue;
    if (!(Math.abs(a[i]! - b[i]!) <= atol + rtol * Math.abs(b[i]!)) && a[i] !== b[i]) return `element ${i}: ${a[i]} vs ${b[i]}`;
  }
  return null;
}

async function expectOrt(c: Node1, rtol = 1e-4, atol = 1e-5): Promise<Tensor> {
  const [ref, ort] = [await runRef(c), await runOrt(c)];
  expect(
    mismatch(ref, ort, rtol, atol),
    `${c.op}-${c.opset} ${JSON.stringify(c.attrs ?? {})} x [${Object.values(c.feeds)[0]!.dims}]`,
  ).toBeNull();
  return ref;
}

/** A tensor of `dtype` with distinct-ish values, and the same values as float32 indices. */
function typed(dtype: TensorDType, dims: number[]): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const v = (i: number) => (i * 37 + 11) % 101;
  switch (dtype) {
    case 'int64':
      return { dtype, dims, data: BigInt64Array.from({ length: n }, (_, i) => BigInt(v(i)) * 2n ** 40n) };
    case 'int32':
      return { dtype, dims, data: Int32Array.from({ length: n }, (_, i) => v(i) * 1000 - 50000) };
    case 'int8':
      return { dtype, dims, data: Int8Array.from({ length: n }, (_, i) => v(i) - 50) };
    case 'uint8':
      return { dtype, dims, data: Uint8Array.from({ length: n }, (_, i) => v(i) + 100) };
    case 'bool':
      return { dtype, dims, data: Uint8Array.from({ length: n }, (_, i) => v(i) % 2) };
    default:
      return { dtype, dims, data: Float32Array.from({ length: n }, (_, i) => v(i)) };
  }
}

const ALL_DTYPES: TensorDType[] = ['float32', 'int64', 'int32', 'int8', 'uint8', 'bool'];

/** The data movers: float32 indices against ORT, then every dtype against the index permutation. */
async function checkPermutation(
  op: string,
  opset: number,
  dims: number[],
  attrs: Record<string, BuildAttr>,
  extra?: Record<string, Tensor>,
) {
  const inputs = ['x', ...Object.keys(extra ?? {})];
  const idx: Tensor = { dtype: 'float32', dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => i) };
  const perm = await expectOrt({ op, opset, attrs, feeds: { x: idx }, inits: extra, inputs }, 0, 0);
  const map = Array.from(perm.data as Float32Array);
  for (const dtype of ALL_DTYPES) {
    const x = typed(dtype, dims);
    const y = await runRef({ op, opset, attrs, feeds: { x }, inits: extra, inputs });
    expect(y.dtype).toBe(dtype);
    expect(y.dims).toEqual(perm.dims);
    expect(Array.from(y.data as ArrayLike<number | bigint>)).toEqual(map.map((i) => (x.data as ArrayLike<number | bigint>)[i]!));
  }
}

describe('DepthToSpace / SpaceToDepth / Tile', () => {
  it('DepthToSpace DCR (opsets 9, 13) and CRD (11, 13), every dtype', async () => {
    for (const [opset, mode, dims, b] of [
      [9, undefined, [1, 8, 2, 3], 2],
      [11, 'CRD', [2, 18, 2, 1], 3],
      [13, 'DCR', [2, 12, 3, 2], 2],
      [13, 'CRD', [1, 4, 1, 1], 2],
      [13, 'DCR', [1, 3, 2, 2], 1],
    ] as Array<[number, string | undefined, number[], number]>) {
      await checkPermutation('DepthToSpace', opset, dims, mode ? { blocksize: b, mode } : { blocksize: b });
    }
  });

  it('SpaceToDepth (opsets 9, 13), every dtype', async () => {
    for (const [opset, dims, b] of [
      [9, [1, 2, 4, 6], 2],
      [13, [2, 3, 6, 3], 3],
      [13, [1, 1, 2, 2], 2],
    ] as Array<[number, number[], number]>) {
      await checkPermutation('SpaceToDepth', opset, dims, { blocksize: b });
    }
  });

  it('Tile (opsets 7, 13), repeats constant or fed, zeros, every dtype', async () => {
    const reps = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v, BigInt) });
    for (const [opset, dims, r] of [
      [7, [2, 3], [2, 1]],
      [13, [1, 2, 3], [3, 2, 1]],
      [13, [4], [3]],
      [13, [2, 2, 1, 2], [1, 2, 3, 1]],
      [13, [2, 3], [0, 2]],
    ] as Array<[number, number[], number[]]>) {
      await checkPermutation('Tile', opset, dims, {}, { repeats: reps(r) });
    }
    // repeats fed at run time: the shape function cannot tell the dims, the kernel still can
    const x = randF32([2, 3], 5);
    await expectOrt({ op: 'Tile', opset: 13, feeds: { x, r: reps([2, 3]) }, inputs: ['x', 'r'] }, 0, 0);
  });

  it('shape functions and errors', () => {
    const shape = (op: string, opset: number, dims: number[], attrs: Record<string, unknown>, consts: Array<Tensor | undefined> = []) =>
      resolveOp(op, '', opset, 'n').shape(
        [
          { dtype: 'float32', dims },
          { dtype: 'int64', dims: [dims.length] },
        ],
        attrs as never,
        consts,
        { opset, node: 'n' },
      )[0]!.dims;
    expect(shape('DepthToSpace', 13, [-1, 8, 3, -1], { blocksize: 2 })).toEqual([-1, 2, 6, -1]);
    expect(shape('SpaceToDepth', 13, [1, 3, -1, 4], { blocksize: 2 })).toEqual([1, 12, -1, 2]);
    expect(shape('Tile', 13, [-1, 3], {}, [undefined, { dtype: 'int64', dims: [2], data: BigInt64Array.from([0n, 2n]) }])).toEqual([0, 6]);
    expect(shape('Tile', 13, [2, 3], {})).toEqual([-1, -1]);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(SparrowError);
        return (e as SparrowError).code;
      }
      return 'no error';
    };
    const run = (op: string, inputs: Tensor[], attrs: Record<string, unknown>) =>
      resolveOp(op, '', 13, 'n').ref(inputs, attrs as never, { opset: 13, node: 'n' });
    expect(code(() => run('DepthToSpace', [randF32([1, 6, 2, 2], 1)], { blocksize: 2 }))).toBe('invalid_model');
    expect(code(() => run('DepthToSpace', [randF32([1, 8, 2], 1)], { blocksize: 2 }))).toBe('invalid_model');
    expect(code(() => run('DepthToSpace', [randF32([1, 8, 2, 2], 1)], {}))).toBe('invalid_model');
    expect(code(() => run('SpaceToDepth', [randF32([1, 1, 3, 2], 1)], { blocksize: 2 }))).toBe('invalid_model');
    expect(code(() => run('Tile', [randF32([2, 2], 1), { dtype: 'int64', dims: [1], data: BigInt64Array.from([2n]) }], {}))).toBe(
      'invalid_model',
    );
    expect(code(() => run('Tile', [randF32([2], 1), { dtype: 'int64', dims: [1], data: BigInt64Array.from([-1n]) }], {}))).toBe(
      'invalid_model',
    );
  });
});

describe('normalizations vs onnxruntime-node', () => {
  const vec = (n: number, seed: number, lo = -1, hi = 1) => randF32([n], seed, lo, hi);

  it('InstanceNormalization: ranks 3-5, epsilon (opsets 7, 13)', async () => {
    for (const [opset, dims, eps] of [
      [7, [2, 3, 5], undefined],
      [13, [1, 4, 3, 3], 0.01],
      [13, [2, 2, 2, 3, 2], 1e-3],
      [13, [3, 1, 1, 1], undefined], // one element per (n, c): y = B
    ] as Array<[number, number[], number | undefined]>) {
      const C = dims[1]!;
      await expectOrt({
        op: 'InstanceNormalization',
        opset,
        attrs: eps === undefined ? {} : { epsilon: { float: eps } },
        feeds: { x: randF32(dims, dims.length * 7, -3, 5) },
        inits: { s: vec(C, 2), b: vec(C, 3) },
        inputs: ['x', 's', 'b'],
      });
    }
  });

  it('GroupNormalization-18 (scale/bias per group) and -21 (per channel)', async () => {
    for (const [opset, dims, G, eps] of [
      [18, [2, 6, 3, 2], 3, undefined],
      [18, [1, 4, 5], 2, 0.01],
      [21, [2, 6, 3, 2], 3, undefined],
      [21, [1, 4, 5], 4, 0.01],
      [21, [3, 6, 2, 2, 2], 1, undefined],
    ] as Array<[number, number[], number, number | undefined]>) {
      const n = opset === 18 ? G : dims[1]!;
      const attrs: Record<string, BuildAttr> = { num_groups: G };
      if (eps !== undefined) attrs.epsilon = { float: eps };
      await expectOrt({
        op: 'GroupNormalization',
        opset,
        attrs,
        feeds: { x: randF32(dims, G * 11 + opset, -2, 3) },
        inits: { s: vec(n, 4), b: vec(n, 5) },
        inputs: ['x', 's', 'b'],
      });
    }
  });

  it('GroupNormalization-18 and -21 differ exactly by where scale/bias apply (same model bytes otherwise)', async () => {
    const x = randF32([1, 4, 3], 9);
    const s18 = vec(2, 1),
      b18 = vec(2, 2);
    const per = (t: Tensor): Tensor => ({
      dtype: 'float32',
      dims: [4],
      data: Float32Array.from([0, 0, 1, 1], (g) => (t.data as Float32Array)[g]!),
    });
    const y18 = await runRef({
      op: 'GroupNormalization',
      opset: 18,
      attrs: { num_groups: 2 },
      feeds: { x },
      inits: { s: s18, b: b18 },
      inputs: ['x', 's', 'b'],
    });
    const y21 = await runRef({
      op: 'GroupNormalization',
      opset: 21,
      attrs: { num_groups: 2 },
      feeds: { x },
      inits: { s: per(s18), b: per(b18) },
      inputs: ['x', 's', 'b'],
    });
    expect(mismatch(y18, y21, 0, 0)).toBeNull();
  });

  it('LpNormalization: p 1 and 2, every axis, all-zero rows give 0', async () => {
    const x = randF32([2, 3, 4], 3);
    (x.data as Float32Array).fill(0, 4, 8); // a zero row along the last axis
    for (const p of [1, 2])
      for (const axis of [-1, 0, 1, 2, -3])
        await expectOrt({ op: 'LpNormalization', opset: 13, attrs: { p, axis }, feeds: { x }, inputs: ['x'] });
    const y = await runRef({ op: 'LpNormalization', opset: 13, feeds: { x }, inputs: ['x'] });
    expect(Array.from((y.data as Float32Array).slice(4, 8))).toEqual([0, 0, 0, 0]);
  });

  it('MeanVarianceNormalization: default axes [0, 2, 3] and others (opsets 9, 13)', async () => {
    for (const [opset, dims, axes] of [
      [9, [2, 3, 4, 2], undefined],
      [13, [2, 3, 4, 2], undefined],
      [13, [2, 3, 4, 2], [2, 3]],
      [13, [3, 5], [1]],
      [13, [2, 3, 2], [0, 1, 2]],
    ] as Array<[number, number[], number[] | undefined]>) {
      await expectOrt(
        { op: 'MeanVarianceNormalization', opset, attrs: axes ? { axes } : {}, feeds: { x: randF32(dims, 17, -4, 6) }, inputs: ['x'] },
        1e-4,
        1e-4,
      );
    }
    // a tiny variance: the 1e-9 is added to the standard deviation, not inside the square root
    const small = randF32([2, 3, 4, 2], 5, -2e-4, 2e-4);
    await expectOrt({ op: 'MeanVarianceNormalization', opset: 13, feeds: { x: small }, inputs: ['x'] }, 1e-3, 1e-3);
  });

  it('LRN: odd sizes against ORT, alpha/beta/bias (opsets 7, 13)', async () => {
    for (const [opset, size, alpha, beta, bias] of [
      [7, 3, undefined, undefined, undefined],
      [13, 5, 0.1, 0.9, 1.5],
      [13, 1, 0.001, 0.75, 1],
      [13, 7, 0.02, 0.6, 1],
    ] as Array<[number, number, number | undefined, number | undefined, number | undefined]>) {
      const attrs: Record<string, BuildAttr> = { size };
      if (alpha !== undefined) attrs.alpha = { float: alpha };
      if (beta !== undefined) attrs.beta = { float: beta };
      if (bias !== undefined) attrs.bias = { float: bias };
      await expectOrt({ op: 'LRN', opset, attrs, feeds: { x: randF32([2, 6, 3, 2], size, -3, 3) }, inputs: ['x'] });
    }
  });

  it('LRN: even sizes (ORT refuses them) against the spec formula, window [c - floor((size-1)/2), c + ceil((size-1)/2)]', async () => {
    const x = randF32([2, 5, 3], 8, -2, 2);
    const xs = x.data as Float32Array;
    for (const size of [2, 4, 6]) {
      const [alpha, beta, bias] = [0.3, 0.7, 1.25];
      const y = await runRef({ op: 'LRN', opset: 13, attrs: { size, alpha, beta, bias }, feeds: { x }, inputs: ['x'] });
      const want = new Float32Array(xs.length);
      for (let n = 0; n < 2; n++)
        for (let c = 0; c < 5; c++)
          for (let s = 0; s < 3; s++) {
            let sq = 0;
            for (let k = Math.max(0, c - Math.floor((size - 1) / 2)); k <= Math.min(4, c + Math.ceil((size - 1) / 2)); k++)
              sq += xs[(n * 5 + k) * 3 + s]! ** 2;
            const j = (n * 5 + c) * 3 + s;
            want[j] = xs[j]! / (bias + (alpha / size) * sq) ** beta;
          }
      expect(mismatch(y, { dtype: 'float32', dims: x.dims, data: want }, 1e-6, 1e-7), `size ${size}`).toBeNull();
    }
  });
});

describe('pooling vs onnxruntime-node', () => {
  it('GlobalMaxPool and GlobalLpPool (p 1, 2, 3) over ranks 3-5', async () => {
    for (const dims of [
      [2, 3, 7],
      [1, 2, 4, 5],
      [2, 1, 2, 3, 2],
    ]) {
      const x = randF32(dims, dims.length, -2, 2);
      await expectOrt({ op: 'GlobalMaxPool', opset: 13, feeds: { x }, inputs: ['x'] }, 0, 0);
      for (const p of [1, 2, 3]) await expectOrt({ op: 'GlobalLpPool', opset: 13, attrs: { p }, feeds: { x }, inputs: ['x'] });
    }
  });

  it('GlobalMaxPool propagates NaN (numpy max in the ONNX reference)', async () => {
    const x: Tensor = { dtype: 'float32', dims: [1, 2, 3], data: Float32Array.from([1, NaN, 3, -Infinity, -5, -Infinity]) };
    const y = await runRef({ op: 'GlobalMaxPool', opset: 13, feeds: { x }, inputs: ['x'] });
    expect(Number.isNaN((y.data as Float32Array)[0])).toBe(true);
    expect((y.data as Float32Array)[1]).toBe(-5);
  });

  const lpCase = fc
    .record({
      opset: fc.constantFrom(11, 18, 22),
      nSp: fc.constantFrom(1, 2, 2, 3),
      size: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 3, maxLength: 3 }),
      kernel: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
      strides: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
      dilations: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 3, maxLength: 3 }),
      pads: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 6, maxLength: 6 }),
      padMode: fc.constantFrom('pads', 'pads', 'SAME_UPPER', 'SAME_LOWER', 'VALID'),
      ceil: fc.boolean(),
      p: fc.constantFrom(1, 2, 3, 4),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
    })
    .map((k) => {
      const d = k.nSp;
      const kernel = k.kernel.slice(0, d);
      const attrs: Record<string, BuildAttr> = { kernel_shape: kernel, strides: k.strides.slice(0, d), p: k.p };
      // a pad must stay below the kernel extent (ORT's rule)
      if (k.padMode === 'pads')
        attrs.pads = [...k.pads.slice(0, d), ...k.pads.slice(3, 3 + d)].map((v, i) => Math.min(v, kernel[i % d]! - 1));
      else attrs.auto_pad = k.padMode;
      if (k.opset >= 18) {
        // ORT 1.30 sizes SAME_UPPER / SAME_LOWER windows without the dilation (an output of 0 where ceil(I / s) is due)
        if (k.dilations.slice(0, d).some((v) => v > 1) && !k.padMode.startsWith('SAME')) attrs.dilations = k.dilations.slice(0, d);
        if (k.ceil && k.padMode === 'pads') attrs.ceil_mode = 1;
      }
      return { opset: k.opset, attrs, x: randF32([1, 2, ...k.size.slice(0, d)], k.seed, -2, 2) };
    });

  it('LpPool (opsets 11, 18, 22): random kernel, strides, pads, auto_pad, dilations, ceil_mode, p', async () => {
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(lpCase, async (c) => {
        const node: Node1 = { op: 'LpPool', opset: c.opset, attrs: c.attrs, feeds: { x: c.x }, inputs: ['x'] };
        const dims = resolveOp('LpPool', '', c.opset, 'n').shape([{ dtype: 'float32', dims: c.x.dims }], c.attrs as never, [], {
          opset: c.opset,
          node: 'n',
        })[0]!.dims!;
        fc.pre(dims.every((v) => v > 0));
        // SAME with the last window ending before the input does (kernel < stride): the total padding is negative;
        // ORT shifts the windows by half of it; Sparrow's windows (MaxPool's too) clamp it at 0; the ONNX reference fails (negative np.pad)
        const k = c.attrs.kernel_shape as number[],
          st = c.attrs.strides as number[];
        fc.pre(!(String(c.attrs.auto_pad).startsWith('SAME') && k.some((kk, i) => (dims[2 + i]! - 1) * st[i]! + kk < c.x.dims[2 + i]!)));
        await expectOrt(node);
        compared++;
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 150), seed: Number(process.env.PROP_SEED ?? 77) },
    );
    expect(compared).toBeGreaterThanOrEqual(150);
  });

  it('LpPool before opset 18 ignores ceil_mode and dilations (not in its schema)', async () => {
    const x = randF32([1, 1, 6, 6], 3);
    const attrs = { kernel_shape: [2, 2], strides: [2, 2], p: 2 };
    const plain = await runRef({ op: 'LpPool', opset: 11, attrs, feeds: { x }, inputs: ['x'] });
    const extra = await runRef({
      op: 'LpPool',
      opset: 11,
      attrs: { ...attrs, dilations: [2, 2], ceil_mode: 1 },
      feeds: { x },
      inputs: ['x'],
    });
    expect(mismatch(extra, plain, 0, 0)).toBeNull();
    const at18 = await runRef({
      op: 'LpPool',
      opset: 18,
      attrs: { ...attrs, dilations: [2, 2], ceil_mode: 1 },
      feeds: { x },
      inputs: ['x'],
    });
    expect(at18.dims).toEqual([1, 1, 3, 3]); // dilated span 3, ceil((6 - 3) / 2) + 1
  });
});
