// src/bench/compare.ts against hand computations: the per-element rule and max relative error,
// argmax agreement over the class axis (rows of [N, C], positions of [N, C, H, W]), the
// class-axis rule, NaN handling, the integer-input range inference, the seeded inputs, and a
// whole runCompare over two fake engines whose figures are worked out by hand.
import { describe, expect, it } from 'vitest';
import { accumulate, classAxisOf, finish, inferIntRange, inputSpecs, newStats, randomInputs, runCompare } from '../src/bench/compare.js';
import { buildModel, f32 } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import type { Tensor } from '../src/ops/types.js';
import type { InferenceEngine } from '../src/runtime/ort.js';
import { mulberry32 } from '../src/util/rng.js';
import '../src/ops/ref/index.js';

const T = (dims: number[], data: number[]): Tensor => f32(dims, data);

describe('accumulate / finish: the 1e-4 rule, max relative error, argmax', () => {
  it('within the rule: |d| = 2e-4 at 2 with max|oracle| 3 (tol 2.3e-4)', () => {
    const s = newStats();
    accumulate(s, T([1, 3], [1, 2.0002, 3]), T([1, 3], [1, 2, 3]), 1);
    const r = finish(s);
    // maxRel = 2e-4 / 3; worstExcess = (2e-4 − (1e-4·2 + 1e-5·3)) / 3 = −1e-5
    expect(r.maxRel!).toBeCloseTo(2e-4 / 3, 7);
    expect(r.worstExcess!).toBeCloseTo(-1e-5, 7);
    expect(r.within1e4).toBe(true);
    expect(r.argmaxAgreement).toBe(1);
    expect(r.argmaxCount).toBe(1);
  });

  it('outside the rule: |d| = 3e-4 at 2 gives worstExcess (3e-4 − 2.3e-4) / 3', () => {
    const s = newStats();
    accumulate(s, T([1, 3], [1, 2.0003, 3]), T([1, 3], [1, 2, 3]), 1);
    const r = finish(s);
    expect(r.worstExcess!).toBeCloseTo(7e-5 / 3, 7);
    expect(r.within1e4).toBe(false);
    expect(r.worst).toMatchObject({ sample: 0, index: 1 });
  });

  it('maxRel is the worst sample: max over samples of max|d| / max|oracle|', () => {
    const s = newStats();
    accumulate(s, T([1, 2], [1.1, 0]), T([1, 2], [1, 0]), 1, 0); // 0.1 / 1
    accumulate(s, T([1, 2], [10.5, 0]), T([1, 2], [10, 0]), 1, 1); // 0.5 / 10
    expect(finish(s).maxRel!).toBeCloseTo(0.1, 6);
  });

  it('argmax per row of [N, C]: one of two rows agrees', () => {
    const s = newStats();
    const want = T([2, 3], [0.1, 0.5, 0.2, 3, 1, 2]); // argmax 1, 0
    const got = T([2, 3], [0.1, 0.2, 0.5, 3, 1, 2]); // argmax 2, 0
    accumulate(s, got, want, 1);
    expect(finish(s).argmaxAgreement).toBe(0.5);
  });

  it('argmax per position of [N, C, H, W] (segmentation): 3 of 4 pixels agree', () => {
    // C = 2 planes of 2x2: class 0 plane, then class 1 plane
    const want = T([1, 2, 2, 2], [1, 0, 5, 2, 0, 1, 4, 3]); // per pixel: 0, 1, 0, 1
    const got = T([1, 2, 2, 2], [1, 0, 3, 2, 0, 1, 4, 3]); // per pixel: 0, 1, 1, 1
    const s = newStats();
    accumulate(s, got, want, 1);
    const r = finish(s);
    expect(r.argmaxCount).toBe(4);
    expect(r.argmaxAgreement).toBe(0.75);
  });

  it('no class axis: argmaxAgreement null', () => {
    const s = newStats();
    accumulate(s, T([1, 3, 1, 1], [1, 2, 3]), T([1, 3, 1, 1], [1, 2, 3]), null);
    expect(finish(s)).toMatchObject({ argmaxAgreement: null, classAxis: null, maxRel: 0, within1e4: true });
  });

  it('NaN where the oracle is finite fails the rule; NaN on both sides agrees; a shape mismatch is reported', () => {
    const a = newStats();
    accumulate(a, T([1, 2], [NaN, 1]), T([1, 2], [0.5, 1]), 1);
    expect(finish(a)).toMatchObject({ nonFinite: 1, within1e4: false });
    const b = newStats();
    accumulate(b, T([1, 2], [NaN, 1]), T([1, 2], [NaN, 1]), 1);
    expect(finish(b)).toMatchObject({ nonFinite: 0, within1e4: true });
    const c = newStats();
    accumulate(c, T([2, 1], [0, 1]), T([1, 2], [0, 1]), 1);
    expect(finish(c)).toMatchObject({ within1e4: false, maxRel: null, argmaxAgreement: null });
    expect(finish(c).mismatch).toMatch(/shape \[2,1\] vs the oracle's \[1,2\]/);
  });
});

describe('classAxisOf', () => {
  const x = { dtype: 'float32' as const, dims: [1, 3, 64, 64] };
  it('axis 1 for [N, C] and [N, C, H, W] class scores', () => {
    expect(classAxisOf({ dtype: 'float32', dims: [1, 1000] }, [x])).toBe(1);
    expect(classAxisOf({ dtype: 'float32', dims: [1, 21, 64, 64] }, [x])).toBe(1);
  });
  it('none for an image-to-image output (the channels of a float input of its rank), rank < 2, C < 2, integers', () => {
    expect(classAxisOf({ dtype: 'float32', dims: [1, 3, 64, 64] }, [x])).toBeNull();
    expect(classAxisOf({ dtype: 'float32', dims: [1, 3, 128, 128] }, [x])).toBeNull(); // super-resolution
    expect(classAxisOf({ dtype: 'float32', dims: [1, 3, 10] }, [x])).toBe(1); // not of the input's rank
    expect(classAxisOf({ dtype: 'float32', dims: [7] }, [x])).toBeNull();
    expect(classAxisOf({ dtype: 'float32', dims: [4, 1] }, [x])).toBeNull();
    expect(classAxisOf({ dtype: 'int64', dims: [1, 10] }, [x])).toBeNull();
  });
});

// ids → Gather(table [100, 4]); mask → Equal(mask, 0); counts → Add (unknown range)
const INT_MODEL = buildModel({
  nodes: [
    { op: 'Gather', inputs: ['table', 'ids'], outputs: ['emb'] },
    { op: 'Cast', inputs: ['mask'], outputs: ['maskf'], attrs: { to: 1 } },
    { op: 'Equal', inputs: ['mask', 'zero'], outputs: ['pad'] },
    { op: 'Add', inputs: ['counts', 'counts'], outputs: ['twice'] },
  ],
  inputs: [
    { name: 'ids', dtype: 'int64', dims: ['batch', 5] },
    { name: 'mask', dtype: 'int64', dims: ['batch', 5] },
    { name: 'counts', dtype: 'int32', dims: [3] },
  ],
  outputs: [
    { name: 'emb', dtype: 'float32', dims: ['batch', 5, 4] },
    { name: 'maskf', dtype: 'float32', dims: ['batch', 5] },
    { name: 'pad', dtype: 'bool', dims: ['batch', 5] },
    { name: 'twice', dtype: 'int32', dims: [3] },
  ],
  initializers: {
    table: f32([100, 4], new Array(400).fill(0.5)),
    zero: { dtype: 'int64', dims: [], data: BigInt64Array.from([0n]) },
  },
});

describe('inputs', () => {
  const g = importOnnx(INT_MODEL);
  it('infers Gather indices [0, rows − 1] and masks {0, 1}; unknown → undefined', () => {
    expect(inferIntRange(g, 'ids')).toEqual([0, 99]);
    expect(inferIntRange(g, 'mask')).toEqual([0, 1]);
    expect(inferIntRange(g, 'counts')).toBeUndefined();
  });

  it('refuses an integer input whose range is unknown, naming it; a given range is used', () => {
    expect(() => inputSpecs(g)).toThrow(/integer input 'counts' \(int32\).*--int-range counts=lo,hi/);
    const specs = inputSpecs(g, { intRanges: { counts: [-2, 2] }, batch: 2 });
    expect(specs.map((s) => [s.name, s.dims, s.range])).toEqual([
      ['ids', [2, 5], [0, 99]],
      ['mask', [2, 5], [0, 1]],
      ['counts', [3], [-2, 2]],
    ]);
    const feeds = randomInputs(specs, mulberry32(5));
    const ids = Array.from(feeds['ids']!.data as BigInt64Array, Number);
    expect(ids.every((v) => v >= 0 && v <= 99)).toBe(true);
    expect(new Set(Array.from(feeds['mask']!.data as BigInt64Array, Number))).toEqual(new Set([0, 1]));
    expect(Array.from(feeds['counts']!.data as Int32Array).every((v) => v >= -2 && v <= 2)).toBe(true);
    // same seed, same inputs
    expect(randomInputs(specs, mulberry32(5))).toEqual(feeds);
  });

  it('float inputs uniform in [-1, 1); symbolic dims: batch on axis 0, 32 elsewhere unless a shape is given', () => {
    const fg = importOnnx(
      buildModel({
        nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
        inputs: [{ name: 'x', dtype: 'float32', dims: ['n', 3, 'h', 'w'] }],
        outputs: [{ name: 'y', dtype: 'float32', dims: ['n', 3, 'h', 'w'] }],
      }),
    );
    expect(inputSpecs(fg)[0]!.dims).toEqual([1, 3, 32, 32]);
    expect(inputSpecs(fg, { shapes: { x: [2, 3, 8, 4] } })[0]!.dims).toEqual([2, 3, 8, 4]);
    expect(() => inputSpecs(fg, { shapes: { x: [2, 4, 8, 4] } })).toThrow(/does not fit the declared/);
    const v = randomInputs(inputSpecs(fg), mulberry32(1))['x']!.data as Float32Array;
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...v)).toBeLessThan(1);
    expect(Math.min(...v)).toBeLessThan(-0.9); // spread over the range
    expect(Math.max(...v)).toBeGreaterThan(0.9);
  });
});

describe('runCompare over fake engines', () => {
  // y = [x0, x1, x2, 0.9·x0] (a [1, 4] "classifier"); the engine under test doubles x1 and adds 1e-3 to y0
  const G = importOnnx(
    buildModel({
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', dtype: 'float32', dims: [1, 3] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [1, 4] }],
    }),
  );
  const fake = (name: string, f: (x: Float32Array) => number[]): InferenceEngine => ({
    name,
    inputNames: ['x'],
    outputNames: ['y'],
    run: async (feeds) => ({ y: T([1, 4], f(feeds['x']!.data as Float32Array)) }),
    dispose: async () => {},
  });
  const oracle = (x: Float32Array) => [x[0]!, x[1]!, x[2]!, 0.9 * x[0]!];
  const worse = (x: Float32Array) => [x[0]! + 1e-3, 2 * x[1]!, x[2]!, 0.9 * x[0]!];

  it('reports the figures computed by hand from the same seeded inputs', async () => {
    const r = await runCompare({
      model: 'fake',
      graph: G,
      engines: ['same', 'worse'],
      against: 'oracle',
      open: async (n) => fake(n, n === 'worse' ? worse : oracle),
      samples: 7,
      seed: 3,
    });
    expect(r).toMatchObject({ model: 'fake', against: 'oracle', samples: 7, seed: 3 });
    expect(r.inputs['x']).toEqual({ dtype: 'float32', dims: [1, 3], rule: 'uniform [-1, 1)' });
    expect(r.engines['same']!.outputs['y']).toMatchObject({ maxRel: 0, within1e4: true, argmaxAgreement: 1, argmaxCount: 7 });
    // by hand over the same inputs
    const rnd = mulberry32(3);
    let maxRel = 0,
      agree = 0;
    const am = (v: number[]) => v.indexOf(Math.max(...v));
    for (let k = 0; k < 7; k++) {
      const x = Float32Array.from({ length: 3 }, () => rnd() * 2 - 1);
      const w = Array.from(Float32Array.from(oracle(x))),
        g = Array.from(Float32Array.from(worse(x)));
      const maxW = Math.max(...w.map(Math.abs));
      maxRel = Math.max(maxRel, Math.max(...w.map((v, i) => Math.abs(v - g[i]!))) / maxW);
      if (am(w) === am(g)) agree++;
    }
    const y = r.engines['worse']!.outputs['y']!;
    expect(y.maxRel!).toBeCloseTo(maxRel, 3);
    expect(y.within1e4).toBe(false);
    expect(y.argmaxAgreement).toBe(agree / 7);
  });

  it('rejects bad arguments with a clear error', async () => {
    const base = { model: 'm', graph: G, engines: ['a'], against: 'o', open: async (n: string) => fake(n, oracle), samples: 1 };
    await expect(runCompare({ ...base, samples: 0 })).rejects.toThrow(/--samples must be a positive integer/);
    await expect(runCompare({ ...base, engines: ['a', 'a'] })).rejects.toThrow(/listed twice/);
    await expect(runCompare({ ...base, classAxis: { nope: 1 } })).rejects.toThrow(/no output 'nope'/);
    await expect(runCompare({ ...base, shapes: { nope: [1] } })).rejects.toThrow(/no input 'nope'/);
  });
});
