// Kept channel counts in multiples (`--channel-multiple`, ChannelPruneOptions.multiple:
// src/compress/channels.ts). The int8 kernels compute output channels in blocks of 4, so 7 kept
// channels run as slowly as 8; with a multiple, 'uniform' keeps the nearest multiple and 'flops'
// removes a multiple's worth of channels per step.
//
// What is asserted:
//  - uniformRemoval: a table of layer sizes and fractions worked out by hand (nearest multiple
//    in [m, C] or C itself, ties keep more, C ≤ m keeps all; m = 1 is round(fraction · C));
//  - allocateRemovals against a plain reference written from each pair's list of allowed kept
//    counts (recomputed from scratch at every step), on random removal curves, and its
//    properties: every kept count C or a multiple of m, the budget met unless no step is left,
//    and met by the last step only; a hand-worked case where grouping changes the choice;
//  - pruneChannels on a two-pair chain: the kept counts (uniform and flops) are multiples of 4,
//    the report records the multiple, the reference engine and sparrow-f32 agree on the
//    rewritten graph; a bad multiple, or --channel-multiple with another method, is refused.
import { describe, it, expect } from 'vitest';
import { buildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { Session } from '../src/runtime/session.js';
import { allocateRemovals, pruneChannels, uniformRemoval } from '../src/compress/channels.js';
import { resolveCompressOptions } from '../src/compress/compress.js';
import type { Tensor } from '../src/ops/types.js';
import { mulberry32 } from '../src/util/rng.js';
import '../src/ops/ref/index.js';

const rng = mulberry32;
const randT = (r: () => number, dims: number[], scale = 1): Tensor => ({
  dtype: 'float32',
  dims,
  data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => scale * (r() - 0.5)),
});

describe('uniformRemoval', () => {
  it('keeps the nearest multiple in [m, C] or C itself (hand-worked table)', () => {
    // [C, fraction, multiple, removed]
    const table: Array<[number, number, number, number]> = [
      [16, 0.55, 1, 9], // round(8.8) = 9: 7 kept
      [16, 0.55, 4, 8], // 7 → 8
      [32, 0.55, 4, 16], // 14 kept: 12 and 16 tie → 16
      [64, 0.55, 4, 36], // 29 → 28
      [64, 0.5, 4, 32], // 32 already
      [10, 0.5, 4, 6], // 5 → 4 (8 is 3 away)
      [9, 0.01, 4, 0], // 9 kept: C itself is nearer than 8
      [6, 0.5, 4, 2], // 3 → 4 (the smallest multiple)
      [16, 0.95, 4, 12], // round(15.2) = 15 → 1 kept → 4
      [4, 0.5, 4, 0], // C ≤ m: all kept
      [12, 0.5, 8, 4], // 6 → 8 (C = 12 is 6 away)
      [16, 0.3, 1, 5],
    ];
    for (const [C, f, m, want] of table) expect([C, f, m, uniformRemoval(C, f, m)]).toEqual([C, f, m, want]);
  });
});

/** The allowed kept counts of a layer of C channels, largest first: C, then the multiples of m below it down to m (C − 1 … 1 for m = 1). */
function keptLadder(C: number, m: number): number[] {
  const out = [C];
  for (let k = C - 1; k >= 1; k--) if (m === 1 || (k % m === 0 && k >= m)) out.push(k);
  return m > 1 && C <= m ? [C] : out;
}

/** Plain reference of allocateRemovals: per pair a position on its ladder; each step re-prices every pair's next rung from the curves. */
function allocateRef(curves: number[][], macs: number[], C: number[], budget: number, m: number): number[] {
  const ladders = C.map((c) => keptLadder(c, m));
  const at = C.map(() => 0);
  let saved = 0;
  while (saved < budget) {
    const cands = ladders
      .map((l, i) => {
        if (at[i]! + 1 >= l.length) return null;
        const from = C[i]! - l[at[i]!]!,
          to = C[i]! - l[at[i]! + 1]!;
        const cost = curves[i]!.slice(from, to).reduce((a, b) => a + b, 0);
        return { i, score: cost / ((to - from) * macs[i]!), n: to - from };
      })
      .filter((c): c is { i: number; score: number; n: number } => c !== null);
    if (cands.length === 0) break;
    const best = cands.reduce((a, b) => (b.score < a.score ? b : a));
    at[best.i]!++;
    saved += best.n * macs[best.i]!;
  }
  return C.map((c, i) => c - ladders[i]![at[i]!]!);
}

describe('allocateRemovals', () => {
  it('equals the ladder reference on random curves, keeps C or multiples, meets the budget with its last step', () => {
    const r = rng(7);
    for (let trial = 0; trial < 300; trial++) {
      const pairs = 1 + Math.floor(r() * 5);
      const m = [1, 2, 4, 8][Math.floor(r() * 4)]!;
      const C = Array.from({ length: pairs }, () => 1 + Math.floor(r() * 40));
      const macs = C.map(() => 1 + Math.floor(r() * 100));
      // increasing marginal costs (a greedy removal curve), sometimes flat, sometimes with a jump
      const curves = C.map((c) => {
        let v = 0;
        return Array.from({ length: Math.max(c - 1, 0) }, () => (v += r() < 0.2 ? 10 * r() : r()));
      });
      const total = C.reduce((a, c, i) => a + c * macs[i]!, 0);
      const budget = r() * total;
      const got = allocateRemovals(curves, macs, C, budget, m);
      expect(got).toEqual(allocateRef(curves, macs, C, budget, m));
      const kept = C.map((c, i) => c - got[i]!);
      kept.forEach((k, i) => {
        expect(k).toBeGreaterThanOrEqual(1);
        if (k !== C[i]) expect(keptLadder(C[i]!, m)).toContain(k);
      });
      const saved = got.reduce((a, n, i) => a + n * macs[i]!, 0);
      const stepsLeft = kept.some((k, i) => keptLadder(C[i]!, m).indexOf(k) + 1 < keptLadder(C[i]!, m).length);
      if (stepsLeft) expect(saved).toBeGreaterThanOrEqual(budget);
      // the budget is met only by the last step: every single step is at most m channels of one pair
      if (saved > 0) {
        const biggestStep = m * Math.max(...macs);
        expect(saved - biggestStep).toBeLessThan(budget);
      }
    }
  });

  it('a hand-worked case: in steps of 4 the cheap first channel no longer pays for the dear ones behind it', () => {
    const curves = [
      [1, 50, 50, 50, 50, 50, 50],
      [10, 10, 10, 10, 10, 10, 10],
    ];
    // one at a time: pair 0's first (1), then pair 1's three (10 each)
    expect(allocateRemovals(curves, [1, 1], [8, 8], 4, 1)).toEqual([1, 3]);
    // in fours: pair 0's four cost 151/4, pair 1's 40/4
    expect(allocateRemovals(curves, [1, 1], [8, 8], 4, 4)).toEqual([0, 4]);
    // a budget of 0 removes nothing
    expect(allocateRemovals(curves, [1, 1], [8, 8], 0, 4)).toEqual([0, 0]);
  });
});

/** x → A(3→16, 3x3) → Relu → B(16→12, 3x3) → Relu → D(12→4, 1x1): pairs A→B (16) and B→D (12) */
function chainModel(seed: number): Uint8Array {
  const r = rng(seed);
  return buildModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3, 6, 6] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 4, 6, 6] }],
    initializers: {
      wa: randT(r, [16, 3, 3, 3]),
      ba: randT(r, [16]),
      wb: randT(r, [12, 16, 3, 3], 0.5),
      bb: randT(r, [12]),
      wd: randT(r, [4, 12, 1, 1]),
      bd: randT(r, [4]),
    },
    nodes: [
      { op: 'Conv', name: 'A', inputs: ['x', 'wa', 'ba'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['a'], outputs: ['ar'] },
      { op: 'Conv', name: 'B', inputs: ['ar', 'wb', 'bb'], outputs: ['b'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', inputs: ['b'], outputs: ['br'] },
      { op: 'Conv', name: 'D', inputs: ['br', 'wd', 'bd'], outputs: ['y'] },
    ],
  });
}

describe('pruneChannels with a channel multiple', () => {
  const g = importOnnx(chainModel(3));
  optimize(g);
  const r = rng(11);
  const calib = [randT(r, [32, 3, 6, 6], 2), randT(r, [32, 3, 6, 6], 2)];
  const test = randT(r, [3, 3, 6, 6], 2);
  const kept = (rep: { layers: Array<{ node: string; kept: number }> }): Record<string, number> =>
    Object.fromEntries(rep.layers.map((l) => [l.node, l.kept]));

  async function agree(graph: Parameters<typeof Session.fromGraph>[0]): Promise<void> {
    const a = (await Session.fromGraph(graph, { engine: 'reference' }).run({ x: test }))['y']!.data as Float32Array;
    const b = (await Session.fromGraph(graph, { engine: 'sparrow-f32' }).run({ x: test }))['y']!.data as Float32Array;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(a[i]!)));
  }

  it('uniform: 16 and 12 channels at 55 % keep 7 and 5 alone, 8 and 4 in fours', async () => {
    const one = pruneChannels(g, calib, 0.55);
    expect(kept(one.report)).toEqual({ A: 7, B: 5 });
    expect(one.report.multiple).toBeUndefined();
    const four = pruneChannels(g, calib, 0.55, { multiple: 4 });
    expect(kept(four.report)).toEqual({ A: 8, B: 4 });
    expect(four.report.multiple).toBe(4);
    const wa = four.graph.values.get(four.graph.nodes.find((n) => n.name === 'A')!.inputs[1]!)!.const!;
    const wd = four.graph.values.get(four.graph.nodes.find((n) => n.name === 'D')!.inputs[1]!)!.const!;
    expect(wa.dims).toEqual([8, 3, 3, 3]);
    expect(wd.dims).toEqual([4, 4, 1, 1]);
    await agree(four.graph);
  });

  it('flops: every kept count is a multiple of 4, and at least the asked share of the multiply-adds goes', async () => {
    for (const f of [0.3, 0.5, 0.7]) {
      const { graph, report } = pruneChannels(g, calib, f, { scope: 'flops', multiple: 4 });
      const k = kept(report);
      // a pair absent from the report kept all its channels
      const A = k['A'] ?? 16,
        B = k['B'] ?? 12;
      expect([A % 4, B % 4]).toEqual([0, 0]);
      // the pairs' multiply-adds per image: a channel of A→B costs 36·27 in A and 36·12·9 in B; of B→D 36·16·9 (input channels
      // of B as pruned before it were not counted by the planner: it prices each pair on the unpruned network) and 36·4 in D
      const macA = 36 * 27 + 36 * 12 * 9,
        macB = 36 * 16 * 9 + 36 * 4;
      const saved = (16 - A) * macA + (12 - B) * macB;
      expect(saved).toBeGreaterThanOrEqual(f * (16 * macA + 12 * macB));
      await agree(graph);
    }
  });

  it('a bad multiple, or a multiple with another method, is refused', () => {
    for (const m of [0, 2.5, -4, 2000]) expect(() => pruneChannels(g, calib, 0.5, { multiple: m })).toThrow(/channel multiple/);
    expect(() => resolveCompressOptions({ prune: 'hessian', sparsity: 0.5, channelMultiple: 4 })).toThrow(
      /--channel-multiple is for --prune channels/,
    );
    expect(() =>
      resolveCompressOptions({ prune: 'channels', sparsity: 0.5, channelMultiple: 0, calib: { batches: [], spec: 'cifar10:x.bin' } }),
    ).toThrow(/--channel-multiple must be/);
    expect(() =>
      resolveCompressOptions({ prune: 'channels', sparsity: 0.5, channelMultiple: 4, calib: { batches: [], spec: 'cifar10:x.bin' } }),
    ).not.toThrow();
  });
});
