// Registers every reference kernel + shape function with the op registry, once, on import:
//   import './ops/ref/index.js';
// Ranges are inclusive opsets of the default domain (""/ai.onnx). Sparrow supports opsets
// MIN_OPSET..MAX_OPSET; a range starts at the op's first ONNX version with the semantics the
// kernel implements (never below MIN_OPSET) and the latest definition runs to MAX_OPSET.
// The ONNX schema versions each range covers are listed beside it: versions inside one range
// differ only in the data types they allow (or relax rules the kernel already follows).

import { registerOp } from '../registry.js';
import type { RefKernel, ShapeFn } from '../types.js';
import { conv, convShape } from './conv.js';
import {
  add,
  binaryShape,
  clipV11,
  clipV6,
  div,
  equal,
  equalShape,
  erf,
  exp,
  gelu,
  hardSigmoid,
  hardSwish,
  leakyRelu,
  mul,
  pow,
  relu,
  sameShape,
  sigmoid,
  sqrt,
  sub,
  tanh,
  where,
  whereShape,
} from './elementwise.js';
import { gemm, gemmShape, matmul, matmulShape } from './matmul.js';
import {
  batchNorm,
  batchNormShape,
  globalAveragePool,
  globalAveragePoolShape,
  layerNorm,
  layerNormShape,
  logSoftmax,
  reduceMean,
  reduceMeanShape,
  softmax,
} from './norm.js';
import { averagePool, averagePoolShape, maxPool, maxPoolShape } from './pool.js';
import { convTranspose, convTransposeShape } from './convtranspose.js';
import { depthToSpace, depthToSpaceShape, spaceToDepth, spaceToDepthShape, tile, tileShape } from './layout.js';
import { globalLpPool, globalMaxPool, globalPoolShape, lpPool, lpPoolShape } from './lppool.js';
import { groupNorm, instanceNorm, lpNorm, lrn, meanVarianceNorm, normShape } from './normalization.js';
import { resize, resizeShape } from './resize.js';
import {
  cast,
  castShape,
  concat,
  expand,
  expandShape,
  concatShape,
  constant,
  constantOfShape,
  constantOfShapeShape,
  constantShape,
  dropout,
  dropoutShape,
  flatten,
  flattenShape,
  gather,
  gatherShape,
  identity,
  padShape,
  padV11,
  padV2,
  reshape,
  reshapeShape,
  shape,
  shapeShape,
  sliceShape,
  sliceV1,
  sliceV10,
  split,
  splitShape,
  squeeze,
  squeezeShape,
  transpose,
  transposeShape,
} from './shape_ops.js';

export const MIN_OPSET = 7;
export const MAX_OPSET = 25;

/** [op, since, until, kernel, shape fn]; until = MAX_OPSET for the latest definition. */
type Entry = [op: string, since: number, until: number, ref: RefKernel, shape: ShapeFn];
const M = MAX_OPSET;

const ENTRIES: Entry[] = [
  // elementwise
  ['Add', 7, M, add, binaryShape('Add')], //                 ONNX 7, 13, 14
  ['Sub', 7, M, sub, binaryShape('Sub')], //                 7, 13, 14
  ['Mul', 7, M, mul, binaryShape('Mul')], //                 7, 13, 14
  ['Div', 7, M, div, binaryShape('Div')], //                 7, 13, 14
  ['Pow', 7, M, pow, binaryShape('Pow')], //                 7, 12, 13, 15
  ['Relu', 7, M, relu, sameShape('Relu')], //                6, 13, 14
  ['LeakyRelu', 7, M, leakyRelu, sameShape('LeakyRelu')], // 6, 16
  ['Clip', 7, 10, clipV6, sameShape('Clip')], //             6: min/max attributes
  ['Clip', 11, M, clipV11, sameShape('Clip')], //            11, 12, 13: min/max inputs
  ['Sigmoid', 7, M, sigmoid, sameShape('Sigmoid')], //       6, 13
  ['Tanh', 7, M, tanh, sameShape('Tanh')], //                6, 13
  ['HardSigmoid', 7, M, hardSigmoid, sameShape('HardSigmoid')], // 6 (22: bfloat16)
  ['HardSwish', 14, M, hardSwish, sameShape('HardSwish')], // 14 (22: bfloat16)
  ['Exp', 7, M, exp, sameShape('Exp')], //                   6, 13
  ['Sqrt', 7, M, sqrt, sameShape('Sqrt')], //                6, 13
  ['Erf', 9, M, erf, sameShape('Erf')], //                   9, 13
  ['Gelu', 20, M, gelu, sameShape('Gelu')], //               20

  // Gemm / MatMul / Conv / pooling
  ['Gemm', 7, M, gemm, gemmShape], //                        7, 9, 11 (C optional), 13
  ['MatMul', 7, M, matmul, matmulShape], //                  1, 9, 13
  ['Conv', 7, M, conv, convShape], //                        1, 11 (22: bfloat16)
  ['MaxPool', 7, M, maxPool, maxPoolShape], //               1, 8 (Indices, storage_order), 10 (ceil_mode, dilations), 11, 12 (int8/uint8)
  ['AveragePool', 7, M, averagePool, averagePoolShape], //   7 (count_include_pad), 10 (ceil_mode), 11, 19 (dilations)
  ['GlobalAveragePool', 7, M, globalAveragePool, globalAveragePoolShape], // 1

  // normalization / reductions
  ['BatchNormalization', 7, 8, batchNorm(7), batchNormShape], //  7: spatial attribute
  ['BatchNormalization', 9, 13, batchNorm(9), batchNormShape], // 9: spatial removed
  ['BatchNormalization', 14, M, batchNorm(14), batchNormShape], // 14 (training_mode), 15
  ['LayerNormalization', 17, M, layerNorm, layerNormShape], // 17
  ['Softmax', 7, 12, softmax, sameShape('Softmax')], //      1, 11: input coerced to 2-D at axis (default 1)
  ['Softmax', 13, M, softmax, sameShape('Softmax')], //      13: one axis (default -1)
  ['LogSoftmax', 7, 12, logSoftmax, sameShape('LogSoftmax')],
  ['LogSoftmax', 13, M, logSoftmax, sameShape('LogSoftmax')],
  ['ReduceMean', 7, 17, reduceMean(false), reduceMeanShape(false)], // 1, 11, 13: axes attribute
  ['ReduceMean', 18, M, reduceMean(true), reduceMeanShape(true)], //   18: axes input, noop_with_empty_axes

  // shape / data movement
  ['Reshape', 7, M, reshape, reshapeShape], //               5, 13, 14 (allowzero), 19, 21
  ['Flatten', 7, M, flatten, flattenShape], //               1, 9, 11 (negative axis), 13, 21
  ['Transpose', 7, M, transpose, transposeShape], //         1, 13, 21
  ['Concat', 7, M, concat, concatShape], //                  4, 11 (negative axis), 13
  ['Split', 7, 12, split(false), splitShape(false)], //      2, 11: split attribute
  ['Split', 13, M, split(true), splitShape(true)], //        13: split input; 18: num_outputs
  ['Slice', 7, 9, sliceV1, sliceShape(false)], //            1: starts/ends/axes attributes
  ['Slice', 10, M, sliceV10, sliceShape(true)], //           10, 11, 13: inputs, steps
  ['Pad', 7, 10, padV2, padShape(false)], //                 2: pads/value attributes
  ['Pad', 11, M, padV11, padShape(true)], //                 11, 13, 18 (axes), 19 (wrap), 21
  ['Squeeze', 7, 12, squeeze('Squeeze', false), squeezeShape('Squeeze', false)], //   1, 11: axes attribute
  ['Squeeze', 13, M, squeeze('Squeeze', true), squeezeShape('Squeeze', true)], //     13, 21: axes input
  ['Unsqueeze', 7, 12, squeeze('Unsqueeze', false), squeezeShape('Unsqueeze', false)],
  ['Unsqueeze', 13, M, squeeze('Unsqueeze', true), squeezeShape('Unsqueeze', true)],
  ['Gather', 7, M, gather, gatherShape], //                  1, 11 (negative indices), 13
  ['Shape', 7, M, shape, shapeShape], //                     1, 13, 15 (start/end), 19, 21
  ['Cast', 7, M, cast, castShape], //                        6, 9, 13, 19, 21
  ['Constant', 7, M, constant, constantShape], //            1, 9, 11, 12 (value_float(s)/int(s)), 13, 19, 21
  ['ConstantOfShape', 9, M, constantOfShape, constantOfShapeShape], // 9, 20, 21
  ['Identity', 7, M, identity, sameShape('Identity')], //    1, 13, 14, 16, 19, 21
  ['Dropout', 7, 9, dropout(7), dropoutShape(7)], //         7: ratio attribute, mask of the input's type
  ['Dropout', 10, 11, dropout(10), dropoutShape(10)], //     10: bool mask
  ['Dropout', 12, M, dropout(12), dropoutShape(12)], //      12, 13: ratio / training_mode inputs

  // beyond the core list, for stories260K's attention mask
  ['Equal', 7, M, equal, equalShape], //                     7, 11 (bool, int8...), 13, 19
  ['Where', 9, M, where, whereShape], //                     9, 16
  ['Expand', 8, M, expand, expandShape], //                  8, 13

  // issue 13 (models people deploy): resizing, transposed convolution, space/depth moves,
  // more normalizations and pools
  ['Upsample', 7, 8, resize(7), resizeShape(7)], //          7: scales attribute (asymmetric, nearest floor)
  ['Upsample', 9, 9, resize(9), resizeShape(9)], //          9: scales input; deprecated from 10 (Resize)
  ['Resize', 10, 10, resize(10), resizeShape(10)], //        10: X, scales; nearest/linear, asymmetric
  ['Resize', 11, 12, resize(11), resizeShape(11)], //        11: roi/scales/sizes, cubic, coordinate modes, nearest_mode
  ['Resize', 13, 17, resize(13), resizeShape(13)], //        13: roi and scales optional
  ['Resize', 18, 18, resize(18), resizeShape(18)], //        18: antialias, axes, keep_aspect_ratio_policy
  ['Resize', 19, M, resize(19), resizeShape(19)], //         19: half_pixel_symmetric
  ['ConvTranspose', 7, M, convTranspose, convTransposeShape], // 1, 11 (its pad rules applied to all, as onnxruntime), 22 (bfloat16)
  ['DepthToSpace', 7, 10, depthToSpace(1), depthToSpaceShape], // 1: DCR only
  ['DepthToSpace', 11, M, depthToSpace(11), depthToSpaceShape], // 11: mode DCR / CRD, 13
  ['SpaceToDepth', 7, M, spaceToDepth, spaceToDepthShape], // 1, 13
  ['Tile', 7, M, tile, tileShape], //                        6, 13
  ['InstanceNormalization', 7, M, instanceNorm, normShape('InstanceNormalization')], // 6, 22 (bfloat16)
  ['GroupNormalization', 18, 20, groupNorm(18), normShape('GroupNormalization')], //  18: scale/bias per group
  ['GroupNormalization', 21, M, groupNorm(21), normShape('GroupNormalization')], //   21: per channel, stash_type
  ['LpNormalization', 7, M, lpNorm, normShape('LpNormalization')], // 1, 22 (bfloat16)
  ['MeanVarianceNormalization', 9, M, meanVarianceNorm, normShape('MeanVarianceNormalization')], // 9, 13
  ['LRN', 7, M, lrn, normShape('LRN')], //                   1, 13
  ['GlobalMaxPool', 7, M, globalMaxPool, globalPoolShape('GlobalMaxPool')], // 1, 22 (bfloat16)
  ['LpPool', 7, 17, lpPool(2), lpPoolShape(2)], //           2, 11
  ['LpPool', 18, M, lpPool(18), lpPoolShape(18)], //         18: ceil_mode, dilations; 22 (bfloat16)
  ['GlobalLpPool', 7, M, globalLpPool, globalPoolShape('GlobalLpPool')], // 2, 22 (bfloat16)
];

for (const [op, since, until, ref, shapeFn] of ENTRIES) {
  registerOp({ op, domain: '', sinceVersion: Math.max(since, MIN_OPSET), untilVersion: until, ref, shape: shapeFn });
}

/** The registered (op, since, until) triples, in registration order (for docs and tests). */
export const REF_OP_RANGES: ReadonlyArray<readonly [string, number, number]> = ENTRIES.map(
  ([op, s, u]) => [op, Math.max(s, MIN_OPSET), u] as const,
);
