// NonMaxSuppression (10, 11: same semantics, 11 words the strict IoU test):
//   boxes  float32 [batches, boxes, 4]   ([y1, x1, y2, x2] any diagonal corners, or with
//                                          center_point_box=1 [x_center, y_center, width, height])
//   scores float32 [batches, classes, boxes]
//   max_output_boxes_per_class int64 (1 element; absent or empty = 0: no output; negative = 0)
//   iou_threshold float32 (1 element, in [0, 1]; absent = 0)
//   score_threshold float32 (1 element; absent = no score filter)
//   → selected_indices int64 [n, 3] of [batch, class, box]
// The algorithm and its output order are the ONNX reference's (a port of onnxruntime's): for
// each batch, for each class, candidates with score > score_threshold by descending score
// (ties: lower box index first) are kept unless their IoU with a box kept before is strictly
// greater than iou_threshold. The IoU arithmetic is float32 step by step (Math.fround), as the
// C++ and numpy float32 code computes it, so boundary cases (IoU == threshold) agree.
// NaN scores never pass a score threshold; without one they rank last.

import type { Tensor, RefKernel, ShapeFn, KernelContext } from '../types.js';
import { AttrReader, infoOf, int64Tensor, opError, requireDtype, requireInput, toIntList } from './util.js';

const f = Math.fround;

/** The optional scalar input i: undefined when absent or empty; else its single element. */
function optionalScalar(t: Tensor | undefined, what: string, dtype: 'int64' | 'float32', ctx: KernelContext): number | undefined {
  if (!t || t.data.length === 0) return undefined;
  requireDtype(t, [dtype], what, 'NonMaxSuppression', ctx);
  if (t.data.length !== 1) throw opError('NonMaxSuppression', ctx, `${what} must hold one element, has shape [${t.dims.join(', ')}]`);
  return dtype === 'int64' ? toIntList(t, what, 'NonMaxSuppression', ctx)[0]! : (t.data as Float32Array)[0]!;
}

/** [min, max] of one box along one coordinate: corners (format 0) or center ± half size (format 1). */
interface Extent {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

function extentOf(b: Float32Array, at: number, centerPoint: boolean): Extent {
  if (!centerPoint) {
    const ya = b[at]!,
      xa = b[at + 1]!,
      yb = b[at + 2]!,
      xb = b[at + 3]!;
    return { x0: Math.min(xa, xb), x1: Math.max(xa, xb), y0: Math.min(ya, yb), y1: Math.max(ya, yb) };
  }
  const hw = f(b[at + 2]! / 2),
    hh = f(b[at + 3]! / 2);
  return { x0: f(b[at]! - hw), x1: f(b[at]! + hw), y0: f(b[at + 1]! - hh), y1: f(b[at + 1]! + hh) };
}

/** True when the IoU of two boxes is strictly greater than the threshold (float32 arithmetic). */
function suppresses(a: Extent, b: Extent, iouThreshold: number): boolean {
  const ix0 = Math.max(a.x0, b.x0),
    ix1 = Math.min(a.x1, b.x1);
  if (!(ix1 > ix0)) return false;
  const iy0 = Math.max(a.y0, b.y0),
    iy1 = Math.min(a.y1, b.y1);
  if (!(iy1 > iy0)) return false;
  const inter = f(f(ix1 - ix0) * f(iy1 - iy0));
  if (!(inter > 0)) return false;
  const areaA = f(f(a.x1 - a.x0) * f(a.y1 - a.y0)),
    areaB = f(f(b.x1 - b.x0) * f(b.y1 - b.y0));
  const union = f(f(areaA + areaB) - inter);
  if (!(areaA > 0) || !(areaB > 0) || !(union > 0)) return false;
  return f(inter / union) > iouThreshold;
}

export const nonMaxSuppression: RefKernel = (inputs, attrs, ctx) => {
  const op = 'NonMaxSuppression';
  const boxes = requireInput(inputs, 0, op, ctx, 'boxes'),
    scores = requireInput(inputs, 1, op, ctx, 'scores');
  requireDtype(boxes, ['float32'], 'boxes', op, ctx);
  requireDtype(scores, ['float32'], 'scores', op, ctx);
  const centerPoint = new AttrReader(op, attrs, ctx).intIn('center_point_box', 0, [0, 1]) === 1;
  if (boxes.dims.length !== 3 || boxes.dims[2] !== 4)
    throw opError(op, ctx, `boxes must be [batches, boxes, 4], are [${boxes.dims.join(', ')}]`);
  const [batches, nBoxes] = boxes.dims as [number, number, number];
  if (scores.dims.length !== 3 || scores.dims[0] !== batches || scores.dims[2] !== nBoxes) {
    throw opError(
      op,
      ctx,
      `scores [${scores.dims.join(', ')}] must be [${batches}, classes, ${nBoxes}] for boxes [${boxes.dims.join(', ')}]`,
    );
  }
  const classes = scores.dims[1]!;
  const maxOut = Math.max(0, optionalScalar(inputs[2], 'max_output_boxes_per_class', 'int64', ctx) ?? 0);
  const iou = optionalScalar(inputs[3], 'iou_threshold', 'float32', ctx) ?? 0;
  const scoreThreshold = optionalScalar(inputs[4], 'score_threshold', 'float32', ctx);
  if (!(iou >= 0 && iou <= 1)) throw opError(op, ctx, `iou_threshold ${iou} is outside [0, 1]`);

  const b = boxes.data as Float32Array,
    s = scores.data as Float32Array;
  const selected: number[] = [];
  if (maxOut === 0) return [int64Tensor(selected, [0, 3])];
  for (let bi = 0; bi < batches; bi++) {
    const extents = Array.from({ length: nBoxes }, (_, i) => extentOf(b, (bi * nBoxes + i) * 4, centerPoint));
    for (let c = 0; c < classes; c++) {
      const row = (bi * classes + c) * nBoxes;
      const candidates: number[] = [];
      for (let i = 0; i < nBoxes; i++) if (scoreThreshold === undefined || s[row + i]! > scoreThreshold) candidates.push(i);
      candidates.sort((p, q) => {
        const a = s[row + p]!,
          z = s[row + q]!;
        if (Number.isNaN(a) !== Number.isNaN(z)) return Number.isNaN(a) ? 1 : -1; // NaN last
        return a === z || Number.isNaN(a) ? p - q : z > a ? 1 : -1; // descending score, then lower index
      });
      const kept: number[] = [];
      for (const i of candidates) {
        if (kept.length >= maxOut) break;
        if (kept.some((j) => suppresses(extents[i]!, extents[j]!, iou))) continue;
        kept.push(i);
        selected.push(bi, c, i);
      }
    }
  }
  return [int64Tensor(selected, [selected.length / 3, 3])];
};

export const nonMaxSuppressionShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'NonMaxSuppression';
  infoOf(inputs, 0, op, ctx);
  infoOf(inputs, 1, op, ctx);
  new AttrReader(op, attrs, ctx).intIn('center_point_box', 0, [0, 1]);
  return [{ dtype: 'int64', dims: [-1, 3] }];
};
