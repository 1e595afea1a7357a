// sparrow-int8, static ranges: elementwise functions of one int8 input as a 256-entry table
// (src/runtime/int8/lut.ts, qs8_lut__wasmsimd), and the self-gated x · f(x) (SiLU as x · Sigmoid(x),
// HardSwish before opset 14 as x · HardSigmoid(x)) as one table step. Oracle: the chain computed in
// TypeScript from the file's own ranges — QuantizeLinear of the input, then per op DequantizeLinear,
// the op's reference kernel (src/ops/ref), the Mul in float32, QuantizeLinear — bit for bit on the
// SIMD and the scalar engine; and onnxruntime-node's float outputs within the quantization error.
// A gate that is not x · f(x) (a squeeze-excite Mul of two different tensors) stays in float.
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { resolveOp } from '../src/ops/registry.js';
import { buildModel, type BuildNode } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { compressGraph } from '../src/compress/compress.js';
import { loadSparrowModel } from '../src/runtime/sparrow_model.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { compileNodeModule } from '../src/wasm/node.js';
import { SparrowWasm } from '../src/wasm/gateway.js';
import { int8QuantParams } from '../src/quant/int8.js';
import { dequantizeRef, quantizeRef } from '../src/kernels/int8_ref.js';
import { lutTable } from '../src/runtime/int8/lut.js';
import type { Attrs, Tensor } from '../src/ops/types.js';
import { uniformTensor as rand } from './helpers/tensors.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const I8 = (o: SessionOptions = {}): SessionOptions => ({ ...o, engine: 'sparrow-int8', wasmModule });
const X = [2, 3, 5, 7];

// x → SiLU (x·Sigmoid(x)) → HardSwish as HardSigmoid·x (the Mul's inputs the other way round) →
// Tanh (the output: a float32 reader, so the table writes an int8 copy and a dequantize step
// follows); beside it a squeeze-excite-style gate: Mul(h, HardSigmoid(Neg(x))) of two different
// tensors, which is no self gate (its HardSigmoid runs as a table, the Mul in float32)
const NODES: BuildNode[] = [
  { op: 'Sigmoid', inputs: ['x'], outputs: ['s'] },
  { op: 'Mul', inputs: ['x', 's'], outputs: ['y1'] },
  { op: 'HardSigmoid', inputs: ['y1'], outputs: ['h'], attrs: { alpha: 1 / 6, beta: 0.5 } },
  { op: 'Mul', inputs: ['h', 'y1'], outputs: ['y2'] },
  { op: 'Tanh', inputs: ['y2'], outputs: ['y3'] },
  { op: 'Neg', inputs: ['x'], outputs: ['n'] },
  { op: 'HardSigmoid', inputs: ['n'], outputs: ['g'], attrs: { alpha: 0.2, beta: 0.5 } },
  { op: 'Mul', inputs: ['y2', 'g'], outputs: ['z'] },
];

const MODEL = buildModel({
  nodes: NODES,
  inputs: [{ name: 'x', dtype: 'float32', dims: X }],
  outputs: [
    { name: 'y3', dtype: 'float32', dims: X },
    { name: 'z', dtype: 'float32', dims: X },
  ],
  opsets: { '': 13 },
});

async function file(): Promise<Uint8Array> {
  const g = importOnnx(MODEL);
  optimize(g);
  // the test's inputs among the calibration images: no value past the ranges
  const calib = [11, 12, 13].map((k) => rand(X, k, -6, 6));
  return (await compressGraph(g, { sparsity: 0, activations: 'static', calib: { batches: calib, spec: 'test' } })).bytes;
}

/** op (attrs) on float32 values through the reference kernel */
function refOp(op: string, attrs: Attrs, v: Float32Array): Float32Array {
  const def = resolveOp(op, '', 13, op);
  return def.ref([{ dtype: 'float32', dims: [v.length], data: v }], attrs, { opset: 13, node: op })[0]!.data as Float32Array;
}

describe('sparrow-int8: elementwise ops of one int8 input as tables', () => {
  it('SiLU and HardSwish (self-gated), Tanh: the TS chain bit for bit, SIMD and scalar; close to onnxruntime; the other gate in float', async () => {
    const bytes = await file();
    const ranges = loadSparrowModel(bytes).activationRanges!;
    const qp = (v: string) => {
      const p = int8QuantParams({ min: ranges.get(v)![0], max: ranges.get(v)![1] });
      return { scale: p.scale, zp: p.zeroPoint };
    };
    const simd = await Session.fromSparrow(bytes, I8());
    const scalar = await Session.fromSparrow(bytes, I8({ kernels: 'scalar' }));
    expect(simd.report!.fallbackOps).toEqual([]);
    const ort = await createOrtEngine('ort-node', MODEL);
    // the table steps: Sigmoid+Mul, HardSigmoid+Mul, Tanh (and its dequantize), HardSigmoid of the gate
    const steps = (await simd.profile({ x: rand(X, 11, -6, 6) }, 1)).map((p) => p.node);
    expect(steps.filter((s) => s.includes('+'))).toHaveLength(2);
    for (const seed of [11, 12, 13]) {
      const x = rand(X, seed, -6, 6);
      const a = await simd.run({ x }),
        b = await scalar.run({ x }),
        o = await ort.run({ x });
      // the chain in TS: quantize x, then each table as "dequantize → ref op (→ × x) → quantize"
      const px = qp('x'),
        p1 = qp('y1'),
        p2 = qp('y2'),
        p3 = qp('y3');
      const step = (q: Int8Array, pin: typeof px, pout: typeof px, op: string, attrs: Attrs, gated: boolean): Int8Array => {
        const v = dequantizeRef(q, pin.scale, pin.zp);
        const f = refOp(op, attrs, v);
        return quantizeRef(gated ? Float32Array.from(f, (u, i) => Math.fround(v[i]! * u)) : f, pout.scale, pout.zp);
      };
      const qx = quantizeRef(x.data as Float32Array, px.scale, px.zp);
      const q1 = step(qx, px, p1, 'Sigmoid', {}, true);
      const q2 = step(q1, p1, p2, 'HardSigmoid', { alpha: 1 / 6, beta: 0.5 }, true);
      const q3 = step(q2, p2, p3, 'Tanh', {}, false);
      const want = dequantizeRef(q3, p3.scale, p3.zp);
      expect(Array.from(a['y3']!.data as Float32Array), `seed ${seed}: SIMD vs the TS chain`).toEqual(Array.from(want));
      expect(Array.from(b['y3']!.data as Float32Array), `seed ${seed}: scalar vs the TS chain`).toEqual(Array.from(want));
      expect(Array.from(a['z']!.data as Float32Array), `seed ${seed}: z SIMD vs scalar`).toEqual(Array.from(b['z']!.data as Float32Array));
      for (const k of ['y3', 'z']) {
        const got = a[k]!.data as Float32Array,
          ref = o[k]!.data as Float32Array;
        let m = 0;
        for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i]! - ref[i]!));
        // three int8 roundings along the chain, each at most half a step of its range / 255
        expect(m, `seed ${seed}: ${k} vs onnxruntime`).toBeLessThan(0.05);
      }
    }
  });

  it('a squeeze-excite block (SiLU, GlobalAveragePool, FC, Sigmoid gate, channel-scale Mul) runs in int8 end to end: SIMD = scalar, close to onnxruntime', async () => {
    const rw = (dims: number[], seed: number, s: number) => rand(dims, seed, -s, s);
    const nodes: BuildNode[] = [
      { op: 'Conv', inputs: ['x', 'w0', 'b0'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Sigmoid', inputs: ['c'], outputs: ['cs'] },
      { op: 'Mul', inputs: ['c', 'cs'], outputs: ['h'] },
      { op: 'GlobalAveragePool', inputs: ['h'], outputs: ['p'] },
      { op: 'Conv', inputs: ['p', 'w1', 'b1'], outputs: ['f1'] },
      { op: 'Relu', inputs: ['f1'], outputs: ['r1'] },
      { op: 'Conv', inputs: ['r1', 'w2', 'b2'], outputs: ['f2'] },
      { op: 'Sigmoid', inputs: ['f2'], outputs: ['g'] },
      { op: 'Mul', inputs: ['h', 'g'], outputs: ['m'] },
      { op: 'Conv', inputs: ['m', 'w3'], outputs: ['y'] },
    ];
    const XS = [2, 6, 7, 5];
    const model = buildModel({
      nodes,
      inputs: [{ name: 'x', dtype: 'float32', dims: XS }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [2, 4, 7, 5] }],
      initializers: {
        w0: rw([8, 6, 3, 3], 1, 0.3),
        b0: rw([8], 2, 0.1),
        w1: rw([4, 8, 1, 1], 3, 0.6),
        b1: rw([4], 4, 0.2),
        w2: rw([8, 4, 1, 1], 5, 0.8),
        b2: rw([8], 6, 0.3),
        w3: rw([4, 8, 1, 1], 7, 0.5),
      },
      opsets: { '': 13 },
    });
    const g = importOnnx(model);
    optimize(g);
    const calib = [21, 22, 23].map((k) => rand(XS, k, -2, 2));
    const bytes = (await compressGraph(g, { sparsity: 0, activations: 'static', calib: { batches: calib, spec: 'test' } })).bytes;
    const simd = await Session.fromSparrow(bytes, I8());
    const scalar = await Session.fromSparrow(bytes, I8({ kernels: 'scalar' }));
    expect(simd.report!.fallbackOps).toEqual([]);
    expect(simd.report!.int8!.floatOps, 'no op in float32').toEqual([]);
    const ops = (await simd.profile({ x: rand(XS, 21, -2, 2) }, 1)).map((p) => p.op);
    expect(ops.filter((o) => o === 'Mul')).toHaveLength(1); // the gate's Mul; the SiLU's is in its table step
    const ort = await createOrtEngine('ort-node', model);
    for (const seed of [21, 22, 23]) {
      const x = rand(XS, seed, -2, 2);
      const a = (await simd.run({ x }))['y']!.data as Float32Array,
        b = (await scalar.run({ x }))['y']!.data as Float32Array,
        o = (await ort.run({ x }))['y']!.data as Float32Array;
      expect(Array.from(a), `seed ${seed}: SIMD vs scalar`).toEqual(Array.from(b));
      let m = 0,
        peak = 0;
      for (let i = 0; i < a.length; i++) {
        m = Math.max(m, Math.abs(a[i]! - o[i]!));
        peak = Math.max(peak, Math.abs(o[i]!));
      }
      expect(m, `seed ${seed}: vs onnxruntime`).toBeLessThan(0.06 * peak);
    }
  });

  it('lutTable: the self-gated SiLU table is x · Sigmoid(x) per int8 input; a table with a NaN is refused', () => {
    const g = importOnnx(
      buildModel({
        nodes: [
          { op: 'Sigmoid', inputs: ['x'], outputs: ['s'] },
          { op: 'Sqrt', inputs: ['x'], outputs: ['r'] },
        ],
        inputs: [{ name: 'x', dtype: 'float32', dims: [4] }],
        outputs: [
          { name: 's', dtype: 'float32', dims: [4] },
          { name: 'r', dtype: 'float32', dims: [4] },
        ],
      }),
    );
    const [sig, sqrt] = g.nodes as [(typeof g.nodes)[number], (typeof g.nodes)[number]];
    const xp = { scale: 0.05, zp: -3 },
      yp = { scale: 0.03, zp: -100 };
    const t = lutTable(sig, true, xp, yp) as Int8Array;
    const q = Int8Array.from({ length: 256 }, (_, i) => i - 128);
    const v = dequantizeRef(q, xp.scale, xp.zp);
    const f = refOp('Sigmoid', {}, v);
    expect(Array.from(t)).toEqual(
      Array.from(
        quantizeRef(
          Float32Array.from(f, (u, i) => Math.fround(v[i]! * u)),
          yp.scale,
          yp.zp,
        ),
      ),
    );
    // SiLU's minimum is about −0.278: the table never goes below it
    expect(Math.min(...Array.from(t, (c) => (c - yp.zp) * yp.scale))).toBeGreaterThan(-0.29);
    expect(lutTable(sqrt, false, xp, yp)).toMatch(/NaN/);
  });

  it('qs8_lut__wasmsimd is t[x + 128] for every length around its 16- and 32-byte steps, in place too; nothing past y', async () => {
    const w = await SparrowWasm.instantiate(wasmModule);
    const t = Int8Array.from({ length: 256 }, (_, i) => ((i * 73 + 11) & 255) - 128);
    const tp = w.putBytes(t);
    const bad: string[] = [];
    for (const n of [...Array.from({ length: 70 }, (_, i) => i), 1000, 1023, 4096 + 17]) {
      const x = Int8Array.from({ length: n }, (_, i) => ((i * 37 + (i >> 4)) & 255) - 128);
      const want = Int8Array.from(x, (v) => t[v + 128]!);
      const m = w.mark();
      try {
        const xp = w.putBytes(x);
        const yp = w.alloc(n + 32);
        w.u8(yp, n + 32).fill(0xa5);
        expect(w.exports.qs8_lut__wasmsimd(n, xp, tp, yp)).toBe(0);
        if (Array.from(w.i8(yp, n)).some((v, i) => v !== want[i])) bad.push(`n ${n}`);
        if (w.u8(yp + n, 32).some((b) => b !== 0xa5)) bad.push(`n ${n}: wrote past y`);
        expect(w.exports.qs8_lut__wasmsimd(n, xp, tp, xp)).toBe(0);
        if (Array.from(w.i8(xp, n)).some((v, i) => v !== want[i])) bad.push(`n ${n} in place`);
      } finally {
        w.release(m);
      }
    }
    expect(bad).toEqual([]);
    expect(w.exports.qs8_lut__wasmsimd(-1, 0, 0, 0)).toBe(-5);
  });
});
