// Static activation calibration (src/compress/activations.ts) against plain oracles: ranges
// computed by hand on small graphs, a sorted-array percentile, the MSE objective evaluated
// directly (mse never worse than minmax), percentile monotone, zero exactly representable in
// the int8 parameters, int32 biases with saturation, and a smoke run of mnist-8 on MNIST test
// digits 0..31 (the copies in examples/calib/).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import '../src/ops/ref/index.js';
import { SparrowError } from '../src/errors.js';
import type { Tensor } from '../src/ops/types.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { buildModel, f32 } from '../src/onnx/build.js';
import {
  ActivationHistogram,
  activationValues,
  calibrateActivations,
  chooseRange,
  histogramQuantMse,
  type ActivationRange,
} from '../src/compress/activations.js';
import { biasScales, dequantizeInt8, int8QuantParams, quantizeBiasInt32, quantizeInt8, roundHalfEven } from '../src/quant/int8.js';
import { imageBatch } from '../src/io/datasets.js';
import { lcg } from './helpers/tensors.js';
import { bundledImages } from './helpers/bundled.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const t32 = (dims: number[], data: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(data) });
const fr = Math.fround;

/** x → Relu(x) and x·2 → Add(·, c) (c = [−1, 0.5]); y = Add output, r = Relu output, n = −r (unread). */
function smallGraph() {
  return importOnnx(
    buildModel({
      opsets: { '': 13 },
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'] },
        { op: 'Mul', inputs: ['x', 'two'], outputs: ['m'] },
        { op: 'Add', inputs: ['m', 'c'], outputs: ['y'] },
        { op: 'Mul', inputs: ['r', 'minus'], outputs: ['n'] }, // read by nobody, not an output
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: [-1, 2] }],
      outputs: [
        { name: 'y', dtype: 'float32', dims: null },
        { name: 'r', dtype: 'float32', dims: null },
      ],
      initializers: { two: f32([1], [2]), minus: f32([1], [-1]), c: f32([2], [-1, 0.5]) },
    }),
  );
}

function hist(values: number[], bins = 2048): ActivationHistogram {
  const h = new ActivationHistogram(bins);
  h.add(Float32Array.from(values));
  return h;
}

describe('calibrateActivations on a small graph (hand-computed ranges)', () => {
  const g = smallGraph();
  const batches = [t32([2, 2], [1, -3, 0.5, 2]), t32([1, 2], [-0.25, 4])];

  it('lists every float32 activation: the input and the non-constant node outputs', () => {
    expect(activationValues(g)).toEqual(['x', 'r', 'm', 'y', 'n']);
  });

  it('minmax: the observed ranges, over all batches', async () => {
    const r = await calibrateActivations(g, batches, 'minmax');
    const x = [1, -3, 0.5, 2, -0.25, 4];
    const c = [-1, 0.5];
    const y = x.map((v, i) => fr(2 * v + c[i % 2]!));
    const want = (a: number[]): ActivationRange => ({ min: Math.min(...a), max: Math.max(...a) });
    expect(Object.fromEntries(r)).toEqual({
      x: want(x),
      r: want(x.map((v) => Math.max(0, v))),
      m: want(x.map((v) => 2 * v)),
      y: want(y),
      n: want(x.map((v) => -Math.max(0, v))),
    });
    expect(r.get('x')).toEqual({ min: -3, max: 4 });
    expect(r.get('y')).toEqual({ min: -5.5, max: 8.5 }); // x = −3 meets c = 0.5, x = 4 too
  });

  it('feeds by name, a subset of values, and refuses bad arguments', async () => {
    const r = await calibrateActivations(g, [{ x: batches[0]! }], 'minmax', { values: ['m'] });
    expect([...r.keys()]).toEqual(['m']);
    expect(r.get('m')).toEqual({ min: -6, max: 4 });
    await expect(calibrateActivations(g, batches, 'minmax', { values: ['two'] })).rejects.toBeInstanceOf(SparrowError);
    await expect(calibrateActivations(g, [], 'minmax')).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(calibrateActivations(g, batches, 'kl' as never)).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(calibrateActivations(g, batches, 'percentile', { percentile: 0 })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(calibrateActivations(g, [t32([1, 2], [NaN, 1])], 'minmax')).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('percentile 100 is minmax; mse lies inside the observed range', async () => {
    const mm = await calibrateActivations(g, batches, 'minmax');
    expect(await calibrateActivations(g, batches, 'percentile', { percentile: 100 })).toEqual(mm);
    const mse = await calibrateActivations(g, batches, 'mse');
    for (const [v, r] of mse) {
      expect(r.min, v).toBeGreaterThanOrEqual(mm.get(v)!.min);
      expect(r.max, v).toBeLessThanOrEqual(mm.get(v)!.max);
    }
  });
});

describe('the streaming histogram', () => {
  it('grows by exact bin merges: the same counts as one histogram built at the final radius', () => {
    const rnd = lcg(3);
    const parts = [0.01, 0.3, 5, 70].map((s) => Array.from({ length: 2000 }, () => (rnd() * 2 - 1) * s));
    const h = new ActivationHistogram(64);
    for (const p of parts) h.add(Float32Array.from(p));
    const all = parts.flat().map(fr);
    expect(h.count).toBe(all.length);
    expect(h.min).toBe(Math.min(...all));
    expect(h.max).toBe(Math.max(...all));
    expect(h.radius).toBe(128);
    const want = new Float64Array(64);
    for (const v of all) want[Math.min(63, Math.floor((v + 128) / 4))]!++;
    expect(Array.from(h.counts)).toEqual(Array.from(want));
  });

  it('counts zeros seen before any nonzero value', () => {
    const h = new ActivationHistogram(16);
    h.add(new Float32Array(10));
    expect(h.radius).toBe(0);
    h.add(Float32Array.from([3]));
    expect(h.radius).toBe(4);
    expect(h.counts[8]).toBe(10);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(11);
    expect(() => new ActivationHistogram(30)).toThrow(SparrowError);
  });
});

describe('range methods against oracles', () => {
  const rnd = lcg(17);
  // heavy-tailed: mostly N(0,1)-ish, a few large outliers on both sides
  const normal = (): number => (rnd() + rnd() + rnd() + rnd() - 2) * 1.7;
  const data = Array.from({ length: 20000 }, (_, i) => (i % 997 === 0 ? (rnd() < 0.5 ? -40 : 60) * rnd() : normal()));
  const h = hist(data);

  it('percentile cuts each tail at the bin edge holding the percentile (sorted-array oracle within a bin)', () => {
    const sorted = data.map(fr).sort((a, b) => a - b);
    for (const p of [90, 99, 99.9, 99.99]) {
      const r = chooseRange(h, 'percentile', { percentile: p });
      const hiOracle = sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
      const loOracle = sorted[sorted.length - Math.ceil((p / 100) * sorted.length)]!;
      expect(r.max, `p${p} max`).toBeGreaterThanOrEqual(hiOracle);
      expect(r.max - hiOracle, `p${p} max`).toBeLessThanOrEqual(h.width);
      expect(r.min, `p${p} min`).toBeLessThanOrEqual(loOracle);
      expect(loOracle - r.min, `p${p} min`).toBeLessThanOrEqual(h.width);
    }
  });

  it('percentile is monotone: a higher percentile never narrows the range', () => {
    let prev: ActivationRange | undefined;
    for (const p of [50, 80, 90, 95, 99, 99.5, 99.9, 99.99, 99.999, 100]) {
      const r = chooseRange(h, 'percentile', { percentile: p });
      if (prev) {
        expect(r.max).toBeGreaterThanOrEqual(prev.max);
        expect(r.min).toBeLessThanOrEqual(prev.min);
      }
      prev = r;
    }
    expect(prev).toEqual({ min: h.min, max: h.max });
  });

  it('mse is never worse than minmax on its own objective, and clips a long thin tail', () => {
    const mm = chooseRange(h, 'minmax'),
      mse = chooseRange(h, 'mse');
    expect(histogramQuantMse(h, mse)).toBeLessThanOrEqual(histogramQuantMse(h, mm));
    expect(mse.min >= mm.min && mse.max <= mm.max).toBe(true);
    // a long thin tail (Laplace, 100,000 values): clipping it lowers the error
    const lap = hist(Array.from({ length: 100000 }, () => (rnd() < 0.5 ? -1 : 1) * Math.log(1 / (1 - rnd()))));
    const a = chooseRange(lap, 'minmax'),
      b = chooseRange(lap, 'mse');
    expect(histogramQuantMse(lap, b)).toBeLessThan(0.9 * histogramQuantMse(lap, a));
    expect(b.max).toBeLessThan(a.max);
    expect(b.min).toBeGreaterThan(a.min);
    // on many random histograms too (including one-sided and tiny ones)
    const r2 = lcg(99);
    for (let t = 0; t < 30; t++) {
      const n = 1 + Math.floor(r2() * 3000),
        s = 10 ** (r2() * 6 - 3),
        shift = r2() < 0.3 ? s : 0;
      const hh = hist(
        Array.from({ length: n }, () => (r2() - 0.5) * s * (r2() < 0.02 ? 30 : 1) + shift),
        256,
      );
      expect(histogramQuantMse(hh, chooseRange(hh, 'mse'))).toBeLessThanOrEqual(histogramQuantMse(hh, chooseRange(hh, 'minmax')));
    }
  });

  it('histogramQuantMse equals a direct evaluation over the bin centres', () => {
    const hh = hist([-1, -0.5, 0, 0.2, 0.2, 3], 16);
    const range = { min: -1, max: 2 };
    const p = int8QuantParams(range);
    let e = 0;
    const centres = hh.centres();
    hh.counts.forEach((k, i) => {
      if (k) e += k * (dequantizeInt8(quantizeInt8(centres[i]!, p), p) - centres[i]!) ** 2;
    });
    expect(histogramQuantMse(hh, range)).toBeCloseTo(e / 6, 15);
  });
});

describe('int8 asymmetric parameters (TFLite rule)', () => {
  it('zero is exactly representable for every range; scale is float32 and covers the range', () => {
    const rnd = lcg(5);
    const ranges: ActivationRange[] = [
      { min: 0, max: 6 },
      { min: -1, max: 1 },
      { min: -3, max: 0 },
      { min: 2, max: 5 },
      { min: -7, max: -2 },
      { min: -0.1, max: 255 },
      ...Array.from({ length: 200 }, () => {
        const a = (rnd() - 0.7) * 10 ** (rnd() * 8 - 4),
          b = a + rnd() * 10 ** (rnd() * 8 - 4);
        return { min: a, max: b };
      }),
    ];
    for (const r of ranges) {
      const p = int8QuantParams(r);
      expect(Number.isInteger(p.zeroPoint) && p.zeroPoint >= -128 && p.zeroPoint <= 127, JSON.stringify(r)).toBe(true);
      expect(p.scale).toBe(fr(p.scale));
      expect(p.scale).toBeGreaterThan(0);
      expect(quantizeInt8(0, p)).toBe(p.zeroPoint);
      expect(dequantizeInt8(quantizeInt8(0, p), p)).toBe(0);
      const lo = Math.min(r.min, 0),
        hi = Math.max(r.max, 0);
      // the grid spans the range to within one step
      expect(dequantizeInt8(-128, p)).toBeLessThanOrEqual(lo + p.scale);
      expect(dequantizeInt8(127, p)).toBeGreaterThanOrEqual(hi - p.scale);
    }
    expect(int8QuantParams({ min: 0, max: 0 })).toEqual({ scale: 1, zeroPoint: 0 });
    expect(int8QuantParams({ min: 0, max: 2.55 })).toEqual({ scale: fr(0.01), zeroPoint: -128 });
    expect(int8QuantParams({ min: -2.55, max: 0 })).toEqual({ scale: fr(0.01), zeroPoint: 127 });
    expect(() => int8QuantParams({ min: 1, max: 0 })).toThrow(SparrowError);
  });

  it('rounds half to even and saturates', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, -3]);
    const p = { scale: 0.5, zeroPoint: 10 };
    expect(quantizeInt8(1000, p)).toBe(127);
    expect(quantizeInt8(-1000, p)).toBe(-128);
    expect(quantizeInt8(0.25, p)).toBe(10);
    expect(quantizeInt8(0.75, p)).toBe(12);
  });
});

describe('int32 biases', () => {
  it('q = round(b / (sx·sw[c])) with float32 bias scales', () => {
    const sx = 0.02,
      sw = Float32Array.from([0.01, 0.5, 0.003]);
    const b = [0.1, -3, 1e-6];
    const { q, scales, saturated } = quantizeBiasInt32(b, sx, sw);
    expect(Array.from(scales)).toEqual(Array.from(sw, (s) => fr(sx * s)));
    expect(Array.from(q)).toEqual(b.map((v, c) => roundHalfEven(v / scales[c]!)));
    expect(Array.from(q)).toEqual([500, -300, 0]);
    expect(saturated).toEqual([]);
    expect(Array.from(biasScales(0.5, 0.25, 3))).toEqual([0.125, 0.125, 0.125]);
    expect(Array.from(quantizeBiasInt32([1, -1], 0.5, 0.25).q)).toEqual([8, -8]);
  });

  it('a bias outside int32 throws, or is clamped and reported', () => {
    const b = [1, 1e4, -1e4];
    expect(() => quantizeBiasInt32(b, 1e-4, 1e-4)).toThrow(/bias 1 .*outside int32/);
    const r = quantizeBiasInt32(b, 1e-4, 1e-4, { onSaturate: 'clamp' });
    expect(Array.from(r.q)).toEqual([roundHalfEven(1 / fr(1e-4 * 1e-4)), 2147483647, -2147483648]);
    expect(r.saturated).toEqual([1, 2]);
    expect(() => quantizeBiasInt32([1, 2], 0.1, Float32Array.from([1]))).toThrow(SparrowError);
    expect(() => quantizeBiasInt32([1], 0, 1)).toThrow(SparrowError);
    expect(() => quantizeBiasInt32([NaN], 1, 1)).toThrow(SparrowError);
  });
});

describe('mnist-8 on 32 MNIST digits', () => {
  it('every activation gets a range; minmax of the input is [0, 1]; mse ⊆ minmax, percentile monotone', async () => {
    const g = importOnnx(new Uint8Array(readFileSync(join(ROOT, 'examples/models/mnist-8.onnx'))));
    optimize(g);
    const set = bundledImages('mnist-t10k-0-63');
    const batches = Array.from({ length: 32 }, (_, i) => imageBatch(set, i, 1, {}));
    const values = activationValues(g);
    const mm = await calibrateActivations(g, batches, 'minmax');
    const p99 = await calibrateActivations(g, batches, 'percentile', { percentile: 99 });
    const p9999 = await calibrateActivations(g, batches, 'percentile');
    const mse = await calibrateActivations(g, batches, 'mse');
    expect([...mm.keys()]).toEqual(values);
    expect(values.length).toBe(g.nodes.length + 1);
    expect(mm.get('Input3')).toEqual({ min: 0, max: 1 });
    for (const v of values) {
      const a = mm.get(v)!,
        b = mse.get(v)!,
        c = p99.get(v)!,
        d = p9999.get(v)!;
      expect(a.min, v).toBeLessThan(a.max);
      expect(b.min >= a.min && b.max <= a.max, v).toBe(true);
      expect(c.min >= d.min && c.max <= d.max && d.min >= a.min && d.max <= a.max, v).toBe(true);
      const p = int8QuantParams(b);
      expect(dequantizeInt8(quantizeInt8(0, p), p), v).toBe(0);
    }
    // a ReLU output is one-sided
    const relu = g.nodes.find((n) => n.op === 'Relu')!.outputs[0]!;
    expect(mm.get(relu)!.min).toBe(0);
  }, 60_000);
});
