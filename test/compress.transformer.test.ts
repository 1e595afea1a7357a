// Compression of transformer weights: embedding tables (Gather of rows) stored int8 per row, the
// MatMul weights int8 per output channel; checked against a plain TS forward pass over the
// dequantized weights and against the float model.
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, f32, i64 } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { compressGraph, embeddingTables } from '../src/compress/compress.js';
import { loadSparrowModel } from '../src/runtime/sparrow_model.js';
import { Session } from '../src/runtime/session.js';
import { lcg } from './helpers/tensors.js';

const V = 37,
  D = 12,
  K = 9,
  S = 5;
const rnd = (n: number, seed: number, big: (i: number) => boolean): number[] => {
  const r = lcg(seed);
  return Array.from({ length: n }, (_, i) => (r() * 2 - 1) * (big(i) ? 50 : 1));
};
// rows of very different magnitudes, so one scale for the whole table would lose the small ones
const E = f32(
  [V, D],
  rnd(V * D, 1, (i) => Math.floor(i / D) % 3 === 0),
);
const W = f32(
  [D, K],
  rnd(D * K, 2, () => false),
);

/** ids [1, S] int64 → Gather(E) [1, S, D] → MatMul(W) [1, S, K]; `extra` adds a second reader of E. */
function model(extra?: 'gatherAxis1' | 'mul'): Uint8Array {
  const nodes = [
    { op: 'Gather', inputs: ['E', 'ids'], outputs: ['h'] },
    { op: 'MatMul', inputs: ['h', 'W'], outputs: ['y'] },
  ];
  const outputs = [{ name: 'y', dtype: 'float32' as const, dims: [1, S, K] }];
  // (cols a graph input, so the Gather is not folded away)
  if (extra === 'gatherAxis1') nodes.push({ op: 'Gather', inputs: ['E', 'cols'], outputs: ['z'], attrs: { axis: 1 } } as never);
  if (extra) outputs.push({ name: 'z', dtype: 'float32' as const, dims: null as never });
  if (extra === 'mul') nodes.push({ op: 'Mul', inputs: ['E', 'cols'], outputs: ['z'] });
  return buildModel({
    nodes,
    inputs: [
      { name: 'ids', dtype: 'int64', dims: [1, S] },
      ...(extra === 'gatherAxis1' ? [{ name: 'cols', dtype: 'int64' as const, dims: [2] }] : []),
      ...(extra === 'mul' ? [{ name: 'cols', dtype: 'float32' as const, dims: [1] }] : []),
    ],
    outputs,
    initializers: { E, W },
    opsets: { '': 17 },
  });
}

async function compress(onnx: Uint8Array): Promise<Uint8Array> {
  const g = importOnnx(onnx);
  optimize(g);
  return (await compressGraph(g, { sparsity: 0 })).bytes;
}

describe('compress: embedding tables', () => {
  it('finds a table read only by row Gathers', () => {
    const g = importOnnx(model());
    optimize(g);
    expect(embeddingTables(g)).toEqual(['E']);
    const g2 = importOnnx(model('gatherAxis1'));
    optimize(g2);
    expect(embeddingTables(g2)).toEqual([]);
  });

  it('stores the table int8 per row; the model runs as the dequantized weights say', async () => {
    const bytes = await compress(model());
    const m = loadSparrowModel(bytes);
    const qe = m.int8.get('E')!;
    expect(qe.axis).toBe(0);
    expect(qe.scales.length).toBe(V);
    const e = E.data as Float32Array;
    for (let r = 0; r < V; r++) {
      let mx = 0;
      for (let c = 0; c < D; c++) mx = Math.max(mx, Math.abs(e[r * D + c]!));
      expect(qe.scales[r]).toBeCloseTo(mx / 127, 6);
      for (let c = 0; c < D; c++)
        expect(Math.abs(qe.q[r * D + c]! * qe.scales[r]! - e[r * D + c]!)).toBeLessThanOrEqual(qe.scales[r]! / 2 + 1e-7);
    }
    const qw = m.int8.get('W')!;
    expect(qw.axis).toBe(1);
    expect(m.compression?.['embeddings']).toBe('int8-per-row');
    // plain TS forward pass over the dequantized weights
    const ids = [0, 36, 3, 3, 17];
    const want = new Float64Array(S * K);
    for (let s = 0; s < S; s++)
      for (let k = 0; k < K; k++) {
        let acc = 0;
        for (let d = 0; d < D; d++) acc += qe.q[ids[s]! * D + d]! * qe.scales[ids[s]!]! * qw.q[d * K + k]! * qw.scales[k]!;
        want[s * K + k] = acc;
      }
    const floatWant = new Float64Array(S * K);
    const w = W.data as Float32Array;
    for (let s = 0; s < S; s++)
      for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) floatWant[s * K + k]! += e[ids[s]! * D + d]! * w[d * K + k]!;
    // |Δy| ≤ Σ_d |ΔE|·|W| + |E_q|·|ΔW| with each rounding error at most half its row's / column's scale
    const bound = new Float64Array(S * K);
    for (let s = 0; s < S; s++)
      for (let k = 0; k < K; k++)
        for (let d = 0; d < D; d++)
          bound[s * K + k]! +=
            (qe.scales[ids[s]!]! / 2) * Math.abs(w[d * K + k]!) +
            Math.abs(qe.q[ids[s]! * D + d]! * qe.scales[ids[s]!]!) * (qw.scales[k]! / 2);
    for (const engine of ['reference', 'sparrow-f32'] as const) {
      const sess = await Session.fromSparrow(bytes, { engine });
      const y = (await sess.run({ ids: i64([1, S], ids) }))['y']!;
      expect(y.dims).toEqual([1, S, K]);
      for (let i = 0; i < S * K; i++) {
        expect(Math.abs((y.data[i] as number) - want[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(want[i]!)));
        expect(Math.abs((y.data[i] as number) - floatWant[i]!)).toBeLessThanOrEqual(bound[i]! + 1e-4);
      }
    }
  });

  it('leaves a table that is also a graph output or gathered along columns in float32', async () => {
    for (const extra of ['gatherAxis1', 'mul'] as const) {
      const m = loadSparrowModel(await compress(model(extra)));
      expect(m.int8.has('E'), extra).toBe(false);
      expect(m.int8.has('W'), extra).toBe(true);
    }
  });
});

describe('sparrow-int8: MatMul with activations of rank 3 (rows flattened into the FC)', () => {
  const B = 2,
    T = 3;
  const Wm = f32(
    [D, K],
    rnd(D * K, 5, () => false),
  );
  const mm = (dims: number[]): Uint8Array =>
    buildModel({
      nodes: [{ op: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }],
      inputs: [{ name: 'x', dtype: 'float32', dims }],
      outputs: [{ name: 'y', dtype: 'float32', dims: null }],
      initializers: { W: Wm },
      opsets: { '': 17 },
    });
  it('runs the int8 FC kernel and gives the bits of the 2-D model on the flattened rows', async () => {
    const x = f32(
      [B, T, D],
      rnd(B * T * D, 9, (i) => i % 7 === 0),
    );
    const file3 = await compress(mm([B, T, D]));
    const file2 = await compress(mm([B * T, D]));
    const simd = await Session.fromSparrow(file3, { engine: 'sparrow-int8' });
    const scalar = await Session.fromSparrow(file3, { engine: 'sparrow-int8', kernels: 'scalar' });
    const flat = await Session.fromSparrow(file2, { engine: 'sparrow-int8' });
    const fl = await Session.fromSparrow(file3, { engine: 'reference' });
    const y = (await simd.run({ x }))['y']!;
    expect(y.dims).toEqual([B, T, K]);
    expect(simd.report!.int8!.layers.map((l) => l.kernel)).toEqual(['qs8_dynfc_f32__wasmsimd']);
    expect(simd.report!.fallbackOps).toEqual([]);
    const ys = (await scalar.run({ x }))['y']!;
    const y2 = (await flat.run({ x: { ...x, dims: [B * T, D] } }))['y']!;
    const yf = (await fl.run({ x }))['y']!;
    let lo = Infinity,
      hi = -Infinity;
    for (const v of x.data as Float32Array) ((lo = Math.min(lo, v)), (hi = Math.max(hi, v)));
    const sx = (hi - lo) / 255; // the per-tensor dynamic activation step
    for (let i = 0; i < y.data.length; i++) {
      expect(Object.is(y.data[i], ys.data[i]), `SIMD vs scalar reference at ${i}`).toBe(true);
      expect(Object.is(y.data[i], y2.data[i]), `rank 3 vs rank 2 at ${i}`).toBe(true);
      // activation rounding ≤ sx/2 per term against weights as stored (the reference engine's)
      let bound = 0;
      for (let d = 0; d < D; d++) bound += (sx / 2) * Math.abs((Wm.data as Float32Array)[d * K + (i % K)]! * 1.01);
      expect(Math.abs((y.data[i] as number) - (yf.data[i] as number))).toBeLessThanOrEqual(bound + 1e-5);
    }
  });
});
