// Chains of int8 data movement (src/runtime/int8/movement.ts): a move whose input is read only by
// it and made by an earlier move runs as one gather through both tables (a ResNet's option-A
// shortcut Slice → Slice → Pad is one step). Oracle: the same graph with the intermediate values
// as graph outputs, which keeps every move a step of its own (the single-move path), and the
// float engine; the composed and uncomposed sessions must agree bit for bit on every output,
// SIMD and scalar, and the composed plan must have fewer move steps. Chains that must not
// compose: an intermediate with two readers, and a Pad after a Pad of another fill value.
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, type BuildNode } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { compressGraph } from '../src/compress/compress.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';
import { uniformTensor as rand } from './helpers/tensors.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const i64 = (...v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v.map(BigInt)) });
const scalar = (v: number): Tensor => ({ dtype: 'float32', dims: [], data: Float32Array.of(v) });
const I8 = (o: SessionOptions = {}): SessionOptions => ({ ...o, engine: 'sparrow-int8', wasmModule });

const X = [1, 4, 8, 8];
const NODES: BuildNode[] = [
  { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
  { op: 'Relu', inputs: ['c'], outputs: ['r'] },
  // A: the ResNet shortcut: every second row, every second column, zero channels around
  { op: 'Slice', inputs: ['r', 'z1', 'big1', 'ax2', 'two1'], outputs: ['s1'] },
  { op: 'Slice', inputs: ['s1', 'z1', 'big1', 'ax3', 'two1'], outputs: ['s2'] },
  { op: 'Pad', inputs: ['s2', 'padC'], outputs: ['p1'] },
  // B: Pad (0.1) → Slice → Pad (0.1): fills of the same value compose
  { op: 'Pad', inputs: ['r', 'padHW', 'v25'], outputs: ['q1'] },
  { op: 'Slice', inputs: ['q1', 'one1', 'big1', 'ax3', 'two1'], outputs: ['q2'] },
  { op: 'Pad', inputs: ['q2', 'padHW', 'v25'], outputs: ['q3'] },
  // C: a Pad of another value after B's filled elements: not composed
  { op: 'Pad', inputs: ['q3', 'padHW', 'v50'], outputs: ['q4'] },
  // D: an intermediate with two readers: not composed into either
  { op: 'Slice', inputs: ['r', 'one1', 'big1', 'ax2', 'one1'], outputs: ['d1'] },
  { op: 'Transpose', inputs: ['d1'], outputs: ['d2'], attrs: { perm: [0, 1, 3, 2] } },
  { op: 'Pad', inputs: ['d1', 'padC'], outputs: ['d3'] },
];
const CONSTS: Record<string, Tensor> = {
  w: rand([6, 4, 3, 3], 1, -0.5, 0.5),
  b: rand([6], 2, -0.5, 0.5),
  z1: i64(0),
  one1: i64(1),
  two1: i64(2),
  big1: i64(1000),
  ax2: i64(2),
  ax3: i64(3),
  padC: i64(0, 2, 0, 0, 0, 3, 0, 0),
  padHW: i64(0, 0, 1, 2, 0, 0, 2, 1),
  v25: scalar(0.1),
  v50: scalar(0.2),
};
const OUTS = ['p1', 'q4', 'd2', 'd3'];
const INNER = ['s1', 's2', 'q1', 'q2', 'q3', 'd1'];

async function file(outputs: string[]): Promise<Uint8Array> {
  const onnx = buildModel({
    nodes: NODES,
    inputs: [{ name: 'x', dtype: 'float32', dims: X }],
    outputs: outputs.map((name) => ({ name, dtype: 'float32', dims: null })),
    initializers: CONSTS,
    opsets: { '': 17 },
  });
  const g = importOnnx(onnx);
  optimize(g);
  // the test's own inputs among the calibration images: no value past the ranges (clamped)
  const calib = [7, 8, 9, 100].map((k) => rand(X, k));
  return (await compressGraph(g, { sparsity: 0, activations: 'static', calib: { batches: calib, spec: 'test' } })).bytes;
}

const MOVES = new Set(['Slice', 'Pad', 'Transpose']);
async function moveSteps(s: Session, feeds: Record<string, Tensor>): Promise<number> {
  return (await s.profile(feeds, 1)).filter((p) => MOVES.has(p.op)).length;
}

describe('sparrow-int8: chains of moves run as one gather', () => {
  it('composed = one step per move (intermediates as outputs) bit for bit, SIMD and scalar; fewer steps; close to float', async () => {
    const composedFile = await file(OUTS);
    const separateFile = await file([...OUTS, ...INNER]);
    const composed = await Session.fromSparrow(composedFile, I8());
    const composedScalar = await Session.fromSparrow(composedFile, I8({ kernels: 'scalar' }));
    const separate = await Session.fromSparrow(separateFile, I8());
    const fl = await Session.fromSparrow(composedFile, { engine: 'sparrow-f32', wasmModule });
    expect(composed.report!.fallbackOps).toEqual([]);
    for (const seed of [7, 8, 9]) {
      const feeds = { x: rand(X, seed) };
      const a = await composed.run(feeds),
        b = await composedScalar.run(feeds),
        c = await separate.run(feeds),
        f = await fl.run(feeds);
      for (const o of OUTS) {
        const ya = a[o]!.data as Float32Array;
        expect(a[o]!.dims, o).toEqual(c[o]!.dims);
        expect(Array.from(ya), `${o}: composed vs one step per move`).toEqual(Array.from(c[o]!.data as Float32Array));
        expect(Array.from(ya), `${o}: SIMD vs scalar`).toEqual(Array.from(b[o]!.data as Float32Array));
        const yf = f[o]!.data as Float32Array;
        let m = 0,
          lo = Infinity,
          hi = -Infinity;
        for (let i = 0; i < ya.length; i++) {
          m = Math.max(m, Math.abs(ya[i]! - yf[i]!));
          lo = Math.min(lo, yf[i]!);
          hi = Math.max(hi, yf[i]!);
        }
        expect(m, `${o}: close to float`).toBeLessThan(0.05 * (hi - lo) + 1e-3);
      }
    }
    const feeds = { x: rand(X, 7) };
    // A: 3 → 1, B: 3 → 1, C: 1, D: 3 (d1 has two readers)
    expect(await moveSteps(separate, feeds)).toBe(10);
    expect(await moveSteps(composed, feeds)).toBe(6);
  });
});
