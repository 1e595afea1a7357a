// NonMaxSuppression (10, 11) against onnxruntime-node: random batches/classes/boxes in both box
// formats, on a coarse lattice (so IoUs hit the threshold exactly and scores tie) and on random
// floats; every optional input present or absent. The selected indices must be identical,
// order included. Named cases: the boundary IoU == threshold (kept), flipped corners, the
// optional-input defaults, and invalid shapes / thresholds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/ops/types.js';
import {
  assertAgainstOrt,
  expectInvalidModel,
  expectSameAsOrt,
  indexTensor,
  lcg,
  runKernel,
  runOrt,
  runSparrow,
  values,
  type OneNode,
} from './helpers/op_oracle.js';

const f32 = (dims: number[], v: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
const i64 = (dims: number[], v: number[]): Tensor => indexTensor('int64', dims, v);

const nmsCase = fc.record({
  batches: fc.integer({ min: 1, max: 3 }),
  classes: fc.integer({ min: 1, max: 3 }),
  boxes: fc.integer({ min: 0, max: 12 }),
  centerPoint: fc.constantFrom(0, 1),
  lattice: fc.boolean(),
  maxOut: fc.option(fc.integer({ min: -1, max: 14 }), { nil: undefined }),
  iou: fc.option(fc.constantFrom(0, 0.2, 0.25, 1 / 3, 0.5, 2 / 3, 0.7, 1), { nil: undefined, freq: 8 }),
  score: fc.option(fc.constantFrom(-1, 0, 0.25, 0.5, 0.9), { nil: undefined }),
  opset: fc.constantFrom(10, 11),
  seed: fc.nat(),
});

function nmsModel(c: typeof nmsCase extends fc.Arbitrary<infer T> ? T : never): OneNode {
  const r = lcg(c.seed);
  // lattice: integers 0..3, so IoUs are simple fractions that equal the thresholds exactly
  const coord = () => (c.lattice ? Math.floor(r() * 4) : r() * 2);
  const boxes: number[] = [];
  for (let i = 0; i < c.batches * c.boxes; i++) {
    if (c.centerPoint)
      boxes.push(coord(), coord(), coord(), coord()); // width/height may be 0
    else boxes.push(coord(), coord(), coord(), coord()); // any diagonal pair of corners
  }
  const scores = Array.from({ length: c.batches * c.classes * c.boxes }, () => (c.lattice ? Math.floor(r() * 5) / 4 : r()));
  // optional inputs: an omitted one before a present one is '' in the node
  const inputs: Array<Tensor | undefined> = [f32([c.batches, c.boxes, 4], boxes), f32([c.batches, c.classes, c.boxes], scores)];
  const opt = [
    c.maxOut === undefined ? undefined : i64([1], [c.maxOut]),
    c.iou === undefined ? undefined : f32([1], [c.iou]),
    c.score === undefined ? undefined : f32([1], [c.score]),
  ];
  while (opt.length > 0 && opt[opt.length - 1] === undefined) opt.pop();
  inputs.push(...opt);
  return { op: 'NonMaxSuppression', opset: c.opset, attrs: { center_point_box: c.centerPoint }, inputs, outputs: ['int64'] };
}

describe('NonMaxSuppression', () => {
  it('selects exactly what onnxruntime selects, in its order (property)', async () => {
    await assertAgainstOrt(nmsCase, (c) => expectSameAsOrt(nmsModel(c)), 150);
  });

  it('the selections are non-trivial (a property that cannot pass on empty outputs)', () => {
    let selected = 0,
      suppressed = 0;
    fc.assert(
      fc.property(nmsCase, (c) => {
        const m = nmsModel({ ...c, maxOut: 20, score: undefined });
        const [y] = runKernel('NonMaxSuppression', 11, m.inputs, { center_point_box: c.centerPoint });
        selected += y!.dims[0]!;
        suppressed += c.batches * c.classes * c.boxes - y!.dims[0]!;
      }),
      { numRuns: 100 },
    );
    expect(selected).toBeGreaterThan(100);
    expect(suppressed).toBeGreaterThan(50);
  });

  it('keeps a box whose IoU equals the threshold exactly; flipped corners are the same box', () => {
    // IoU of [0,0,1,1] and [0,0,1,2] is 1/2 exactly; iou_threshold 0.5 keeps both
    const boxes = f32([1, 2, 4], [0, 0, 1, 1, 0, 0, 2, 1]);
    const scores = f32([1, 1, 2], [0.9, 0.8]);
    expect(values(runKernel('NonMaxSuppression', 11, [boxes, scores, i64([1], [5]), f32([1], [0.5])])[0]!)).toEqual([0, 0, 0, 0, 0, 1]);
    expect(values(runKernel('NonMaxSuppression', 11, [boxes, scores, i64([1], [5]), f32([1], [0.49])])[0]!)).toEqual([0, 0, 0]);
    const flipped = f32([1, 2, 4], [1, 1, 0, 0, 2, 1, 0, 0]);
    expect(values(runKernel('NonMaxSuppression', 11, [flipped, scores, i64([1], [5]), f32([1], [0.49])])[0]!)).toEqual([0, 0, 0]);
  });

  it('computes the IoU in float32: an IoU equal to the threshold in float32 (above it in float64) is kept, as in ORT', async () => {
    // float32 IoU 0.1019086241722107 = threshold; the float64 IoU of the same boxes is 0.10190863640338685
    const boxes = f32(
      [1, 2, 4],
      [0, 0, 0.9345252513885498, 1.470186710357666, 0.1753370612859726, 0.4969182312488556, 1.3185951709747314, 0.6913704872131348],
    );
    const m: OneNode = {
      op: 'NonMaxSuppression',
      opset: 11,
      inputs: [boxes, f32([1, 1, 2], [0.9, 0.8]), i64([1], [5]), f32([1], [0.1019086241722107])],
      outputs: ['int64'],
    };
    const ort = await expectSameAsOrt(m);
    expect(ort.ok && values(ort.outputs[0]!)).toEqual([0, 0, 0, 0, 0, 1]);
  });

  it('defaults: no max_output_boxes_per_class (or an empty one) selects nothing; no score threshold keeps every score', () => {
    const boxes = f32([1, 2, 4], [0, 0, 1, 1, 5, 5, 6, 6]);
    const scores = f32([1, 1, 2], [-3, 0.5]);
    expect(runKernel('NonMaxSuppression', 11, [boxes, scores])[0]!.dims).toEqual([0, 3]);
    expect(runKernel('NonMaxSuppression', 11, [boxes, scores, i64([0], [])])[0]!.dims).toEqual([0, 3]);
    expect(values(runKernel('NonMaxSuppression', 11, [boxes, scores, i64([1], [9])])[0]!)).toEqual([0, 0, 1, 0, 0, 0]);
    expect(values(runKernel('NonMaxSuppression', 11, [boxes, scores, i64([1], [9]), undefined, f32([1], [0])])[0]!)).toEqual([0, 0, 1]);
  });

  it('rejects bad shapes, dtypes, center_point_box and thresholds outside [0, 1], as ORT does', async () => {
    const boxes = f32([1, 2, 4], [0, 0, 1, 1, 5, 5, 6, 6]);
    const scores = f32([1, 1, 2], [0.1, 0.5]);
    const bad: OneNode[] = [
      { op: 'NonMaxSuppression', opset: 11, inputs: [f32([1, 2, 3], [0, 0, 1, 5, 5, 6]), scores, i64([1], [3])], outputs: ['int64'] },
      { op: 'NonMaxSuppression', opset: 11, inputs: [boxes, f32([1, 1, 3], [0.1, 0.2, 0.3]), i64([1], [3])], outputs: ['int64'] },
      { op: 'NonMaxSuppression', opset: 11, inputs: [boxes, f32([2, 1, 2], [0.1, 0.2, 0.3, 0.4]), i64([1], [3])], outputs: ['int64'] },
      { op: 'NonMaxSuppression', opset: 11, inputs: [f32([2, 4], [0, 0, 1, 1, 5, 5, 6, 6]), scores, i64([1], [3])], outputs: ['int64'] },
      { op: 'NonMaxSuppression', opset: 11, inputs: [boxes, scores, i64([1], [3]), f32([1], [1.5])], outputs: ['int64'] },
      { op: 'NonMaxSuppression', opset: 11, inputs: [boxes, scores, i64([1], [3]), f32([1], [-0.1])], outputs: ['int64'] },
      { op: 'NonMaxSuppression', opset: 11, attrs: { center_point_box: 2 }, inputs: [boxes, scores, i64([1], [3])], outputs: ['int64'] },
    ];
    for (const m of bad) {
      expect((await runOrt(m)).ok, JSON.stringify(m.inputs.map((t) => t?.dims))).toBe(false);
      expectInvalidModel(await runSparrow(m));
    }
    expectInvalidModel(() => runKernel('NonMaxSuppression', 11, [boxes, scores, i64([2], [3, 3])]));
    expectInvalidModel(() => runKernel('NonMaxSuppression', 11, [boxes, scores, indexTensor('int32', [1], [3])]));
  });
});
