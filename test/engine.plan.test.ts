// The float32 engine's memory planner (src/runtime/plan.ts) and fusion pass (src/ir/fuse.ts).
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { checkArenaPlan, placeBuffers, planArena, type BufferSpec, type PlanStep } from '../src/runtime/plan.js';
import { fuseGraph, fusedActivation, FUSED_DOMAIN } from '../src/ir/fuse.js';
import { buildModel, type BuildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { cloneGraph, opCounts } from '../src/ir/graph.js';
import { optimize } from '../src/ir/passes.js';
import { runReference } from '../src/runtime/reference.js';
import type { Tensor } from '../src/ops/types.js';
import { lcg } from './helpers/tensors.js';

describe('placeBuffers (greedy best fit by size)', () => {
  it('never overlaps two buffers that are live at the same step (random programs)', () => {
    const r = lcg(3);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(r() * 40);
      const bufs: BufferSpec[] = Array.from({ length: n }, () => {
        const first = Math.floor(r() * 30) - 1;
        return { bytes: Math.floor(r() * 5000), first, last: first + Math.floor(r() * 8) };
      });
      const { offsets, total } = placeBuffers(bufs);
      checkArenaPlan({
        offsetOf: new Map(),
        scratchOffset: [],
        buffers: bufs.map((b, i) => ({ ...b, offset: offsets[i]!, values: [`v${i}`] })),
        arenaBytes: total,
        unsharedBytes: 0,
      });
      for (const o of offsets) expect(o % 16).toBe(0);
      // never worse than the peak of simultaneously live bytes times... at least the peak
      let peak = 0;
      for (let s = -1; s < 40; s++)
        peak = Math.max(
          peak,
          bufs.filter((b) => b.first <= s && s <= b.last).reduce((a, b) => a + Math.ceil(Math.max(b.bytes, 1) / 16) * 16, 0),
        );
      expect(total).toBeGreaterThanOrEqual(peak);
    }
  });

  it('reuses memory of buffers whose lifetimes do not overlap, best fit first', () => {
    const { offsets, total } = placeBuffers([
      { bytes: 1024, first: 0, last: 1 },
      { bytes: 1024, first: 2, last: 3 },
      { bytes: 512, first: 1, last: 2 },
      { bytes: 256, first: 4, last: 5 },
    ]);
    expect(offsets[1]).toBe(offsets[0]); // same slot, one after the other
    expect(total).toBe(1536);
    expect(offsets[3]).toBe(0);
  });
});

describe('planArena', () => {
  const sizes = (o: Record<string, number>) => new Map(Object.entries(o));

  it('aliases share storage; in place reuses a dying input; later readers and outputs are respected', () => {
    // x → relu a → reshape b (alias) → sigmoid c (may reuse b's buffer: b dies here) → add d = c + x
    const steps: PlanStep[] = [
      { reads: ['x'], writes: ['a'], inPlace: [['a', 'x']] }, // x is read again at step 3: no in place
      { reads: ['a'], writes: ['b'], alias: ['b', 'a'] },
      { reads: ['b'], writes: ['c'], inPlace: [['c', 'b']] },
      {
        reads: ['c', 'x'],
        writes: ['d'],
        inPlace: [
          ['d', 'c'],
          ['d', 'x'],
        ],
      },
    ];
    const p = planArena(steps, sizes({ x: 400, a: 400, b: 400, c: 400, d: 400 }), ['x'], ['d']);
    checkArenaPlan(p);
    const off = (v: string) => p.offsetOf.get(v)!;
    expect(off('a')).not.toBe(off('x'));
    expect(off('b')).toBe(off('a'));
    expect(off('c')).toBe(off('b'));
    expect(off('d')).toBe(off('c')); // the first dying candidate
    expect(p.arenaBytes).toBe(800);
    expect(p.unsharedBytes).toBeGreaterThan(p.arenaBytes);
  });

  it('does not write over a graph output or an input read later, and places scratch apart from live values', () => {
    const steps: PlanStep[] = [
      { reads: ['x'], writes: ['y'], inPlace: [['y', 'x']] },
      { reads: ['y'], writes: ['z'], inPlace: [['z', 'y']], scratch: 1000 },
    ];
    const p = planArena(steps, sizes({ x: 64, y: 64, z: 64 }), ['x'], ['y', 'z']);
    checkArenaPlan(p);
    expect(p.offsetOf.get('y')).toBe(p.offsetOf.get('x')); // x dies at step 0
    expect(p.offsetOf.get('z')).not.toBe(p.offsetOf.get('y')); // y is a graph output
    const s = p.scratchOffset[1]!;
    expect(s).toBeGreaterThanOrEqual(0);
    for (const v of ['y', 'z']) {
      const o = p.offsetOf.get(v)!;
      expect(o + 64 <= s || s + 1008 <= o).toBe(true);
    }
    expect(p.scratchOffset[0]).toBe(-1);
  });
});

// ---------------------------------------------------------------------------------------------

function rand(dims: number[], seed: number): Tensor {
  const r = lcg(seed);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1) };
}
const f32c = (v: number[], dims = [v.length]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });

describe('fuseGraph', () => {
  const model: BuildModel = {
    nodes: [
      { op: 'Conv', inputs: ['x', 'W'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Add', inputs: ['c', 'cb'], outputs: ['cbias'] },
      { op: 'Relu', inputs: ['cbias'], outputs: ['r'] },
      { op: 'Flatten', inputs: ['r'], outputs: ['f'] },
      { op: 'MatMul', inputs: ['f', 'B'], outputs: ['m'] },
      { op: 'Add', inputs: ['m', 'mb'], outputs: ['ma'] },
      { op: 'Clip', inputs: ['ma', 'lo', 'hi'], outputs: ['y'] },
      // a Conv whose output is also read elsewhere: its Relu must not fuse
      { op: 'Conv', inputs: ['x', 'W2'], outputs: ['c2'] },
      { op: 'Relu', inputs: ['c2'], outputs: ['r2'] },
      { op: 'Add', inputs: ['c2', 'r2'], outputs: ['y2'] },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 2, 4, 4] }],
    outputs: [
      { name: 'y', dtype: 'float32', dims: null },
      { name: 'y2', dtype: 'float32', dims: null },
    ],
    initializers: {
      W: rand([3, 2, 3, 3], 1),
      cb: rand([1, 3, 1, 1], 2),
      B: rand([48, 5], 3),
      mb: rand([5], 4),
      lo: f32c([-0.1], []),
      hi: f32c([0.2], []),
      W2: rand([2, 2, 1, 1], 5),
    },
    opsets: { '': 13 },
  };

  it('folds bias Adds and Relu/Clip into Conv / MatMul (→ Gemm), keeps the results', () => {
    const g = importOnnx(buildModel(model));
    optimize(g);
    const before = cloneGraph(g);
    const r = fuseGraph(g);
    expect(r).toEqual({ biases: 2, activations: 2 });
    expect(opCounts(g)).toEqual({ 'sparrow.FusedConv': 1, 'sparrow.FusedGemm': 1, Flatten: 1, Conv: 1, Relu: 1, Add: 1 });
    const conv = g.nodes.find((n) => n.op === 'FusedConv')!;
    expect(conv.domain).toBe(FUSED_DOMAIN);
    expect(fusedActivation(conv)).toEqual({ min: 0, max: Infinity });
    expect(g.values.get(conv.inputs[2]!)!.const!.dims).toEqual([3]);
    const gemm = g.nodes.find((n) => n.op === 'FusedGemm')!;
    expect(fusedActivation(gemm)).toEqual({ min: Math.fround(-0.1), max: Math.fround(0.2) });
    // the fused graph still runs on the reference executor, with the same results
    const x = rand([1, 2, 4, 4], 9);
    const a = runReference(before, { x }),
      b = runReference(g, { x });
    for (const k of ['y', 'y2']) {
      const u = a[k]!.data as Float32Array,
        v = b[k]!.data as Float32Array;
      expect(b[k]!.dims).toEqual(a[k]!.dims);
      for (let i = 0; i < u.length; i++) expect(Math.abs(u[i]! - v[i]!)).toBeLessThan(1e-5);
    }
  });
});
