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
  rmsNorm,
  rmsNormShape,
  softmax,
} from './norm.js';
import { averagePool, averagePoolShape, maxPool, maxPoolShape } from './pool.js';
import { convTranspose, convTransposeShape } from './convtranspose.js';
import { depthToSpace, depthToSpaceShape, spaceToDepth, spaceToDepthShape, tile, tileShape } from './layout.js';
import { globalLpPool, globalMaxPool, globalPoolShape, lpPool, lpPoolShape } from './lppool.js';
import { groupNorm, instanceNorm, lpNorm, lrn, meanVarianceNorm, normShape } from './normalization.js';
import { resize, resizeShape } from './resize.js';
import { recurrent, recurrentShape } from './rnn.js';
import { ifKernel, ifShape, loopKernel, loopShape, scan8Kernel, scan8Shape, scanKernel, scanShape } from './control_flow.js';
import { einsum, einsumShape } from './einsum.js';
import {
  gatherElements,
  gatherElementsShape,
  gatherND,
  gatherNDShape,
  scatterElements,
  scatterND,
  scatterShape,
} from './gather_scatter.js';
import { nonMaxSuppression, nonMaxSuppressionShape } from './nms.js';
import { compress, compressShape, nonZero, nonZeroShape, reverseSequence, reverseSequenceShape, unique, uniqueShape } from './select.js';
import { topk, topkShape } from './topk.js';
import {
  convInteger,
  convIntegerShape,
  dequantizeLinearOp,
  dequantizeLinearShape,
  dynamicQuantizeLinear,
  dynamicQuantizeLinearShape,
  matMulInteger,
  matMulIntegerShape,
  qlinearConv,
  qlinearConvShape,
  qlinearMatMul,
  qlinearMatMulShape,
  quantizeLinearOp,
  quantizeLinearShape,
} from './quant.js';
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
import * as un from './unary_math.js';
import * as bin from './binary.js';
import * as red from './reduce.js';
import * as misc from './misc.js';

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
  ['RMSNormalization', 23, M, rmsNorm, rmsNormShape], //       23
  ['Softmax', 7, 12, softmax, sameShape('Softmax')], //      1, 11: input coerced to 2-D at axis (default 1)
  ['Softmax', 13, M, softmax, sameShape('Softmax')], //      13: one axis (default -1)
  ['LogSoftmax', 7, 12, logSoftmax, sameShape('LogSoftmax')],
  ['LogSoftmax', 13, M, logSoftmax, sameShape('LogSoftmax')],

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

  // resizing, transposed convolution, space/depth moves, more normalizations and pools
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
  // elementwise math, comparisons, logic (unary_math.ts, binary.ts)
  ['Neg', 7, M, un.neg, un.unaryShape('Neg')], //          6, 13
  ['Abs', 7, M, un.abs, un.unaryShape('Abs')], //          6, 13
  ['Sign', 9, M, un.sign, un.unaryShape('Sign')], //       9, 13
  ['Reciprocal', 7, M, un.reciprocal, un.unaryShape('Reciprocal')], // 6, 13
  ['Floor', 7, M, un.floor, un.unaryShape('Floor')], //    6, 13
  ['Ceil', 7, M, un.ceil, un.unaryShape('Ceil')], //       6, 13
  ['Round', 11, M, un.round, un.unaryShape('Round')], //   11 (22: bfloat16)
  ['Log', 7, M, un.log, un.unaryShape('Log')], //          6, 13
  ['Sin', 7, M, un.sin, un.unaryShape('Sin')], //          7 (22: bfloat16), same for Cos..Atan
  ['Cos', 7, M, un.cos, un.unaryShape('Cos')],
  ['Tan', 7, M, un.tan, un.unaryShape('Tan')],
  ['Asin', 7, M, un.asin, un.unaryShape('Asin')],
  ['Acos', 7, M, un.acos, un.unaryShape('Acos')],
  ['Atan', 7, M, un.atan, un.unaryShape('Atan')],
  ['Sinh', 9, M, un.sinh, un.unaryShape('Sinh')], //       9 (22: bfloat16), same for Cosh..Atanh
  ['Cosh', 9, M, un.cosh, un.unaryShape('Cosh')],
  ['Asinh', 9, M, un.asinh, un.unaryShape('Asinh')],
  ['Acosh', 9, M, un.acosh, un.unaryShape('Acosh')],
  ['Atanh', 9, M, un.atanh, un.unaryShape('Atanh')],
  ['IsNaN', 9, M, un.isNan, un.unaryShape('IsNaN', 'bool')], // 9, 13, 20
  ['IsInf', 10, M, un.isInf, un.unaryShape('IsInf', 'bool')], // 10, 20
  ['Not', 7, M, un.not, un.unaryShape('Not')], //          1
  ['Elu', 7, M, un.elu, un.unaryShape('Elu')], //          6 (22: bfloat16)
  ['Selu', 7, M, un.selu, un.unaryShape('Selu')], //       6 (22: bfloat16)
  ['Celu', 12, M, un.celu, un.unaryShape('Celu')], //      12
  ['Softplus', 7, M, un.softplus, un.unaryShape('Softplus')], // 1 (22: bfloat16)
  ['Softsign', 7, M, un.softsign, un.unaryShape('Softsign')], // 1 (22: bfloat16)
  ['Mish', 18, M, un.mish, un.unaryShape('Mish')], //      18 (22: bfloat16)
  ['ThresholdedRelu', 10, M, un.thresholdedRelu, un.unaryShape('ThresholdedRelu')], // 10 (22: bfloat16)
  ['Shrink', 9, M, un.shrink, un.unaryShape('Shrink')], // 9
  ['Max', 7, 7, bin.maxV6, bin.broadcastShape('Max', undefined, true)], // 6: floats, same shapes
  ['Max', 8, 11, bin.maxV8, bin.broadcastShape('Max')], //  8: broadcasting
  ['Max', 12, M, bin.maxV12, bin.broadcastShape('Max')], // 12: integer types, 13
  ['Min', 7, 7, bin.minV6, bin.broadcastShape('Min', undefined, true)],
  ['Min', 8, 11, bin.minV8, bin.broadcastShape('Min')],
  ['Min', 12, M, bin.minV12, bin.broadcastShape('Min')],
  ['Sum', 7, 7, bin.sumV6, bin.broadcastShape('Sum', undefined, true)], // 6: same shapes
  ['Sum', 8, M, bin.sumV8, bin.broadcastShape('Sum')], //   8, 13
  ['Mean', 7, 7, bin.meanV6, bin.broadcastShape('Mean', undefined, true)],
  ['Mean', 8, M, bin.meanV8, bin.broadcastShape('Mean')],
  ['Mod', 10, M, bin.mod, bin.broadcastShape('Mod')], //    10, 13
  ['Greater', 7, 8, bin.compare('Greater', bin.FLOATS), bin.broadcastShape('Greater', 'bool')], // 7: floats
  ['Greater', 9, M, bin.compare('Greater', bin.NUMERIC), bin.broadcastShape('Greater', 'bool')], // 9, 13
  ['Less', 7, 8, bin.compare('Less', bin.FLOATS), bin.broadcastShape('Less', 'bool')],
  ['Less', 9, M, bin.compare('Less', bin.NUMERIC), bin.broadcastShape('Less', 'bool')],
  ['GreaterOrEqual', 12, M, bin.compare('GreaterOrEqual', bin.NUMERIC), bin.broadcastShape('GreaterOrEqual', 'bool')], // 12, 16
  ['LessOrEqual', 12, M, bin.compare('LessOrEqual', bin.NUMERIC), bin.broadcastShape('LessOrEqual', 'bool')], // 12, 16
  ['And', 7, M, bin.logical('And'), bin.broadcastShape('And')], // 7
  ['Or', 7, M, bin.logical('Or'), bin.broadcastShape('Or')],
  ['Xor', 7, M, bin.logical('Xor'), bin.broadcastShape('Xor')],
  ['BitShift', 11, M, bin.bitShift, bin.broadcastShape('BitShift')], // 11
  ['PRelu', 7, 8, bin.prelu(bin.FLOATS), bin.preluShape], // 7: unidirectional broadcasting, floats
  ['PRelu', 9, M, bin.prelu(bin.PRELU_9), bin.preluShape], // 9: + int32/int64, 16

  // reductions (reduce.ts)
  ['ReduceMax', 7, 11, red.reduce('Max', false, red.REDUCE_TYPES), red.reduceShape('Max', false)], // 1, 11
  ['ReduceMax', 12, 17, red.reduce('Max', false, red.REDUCE_MINMAX_12), red.reduceShape('Max', false)], // 12 (int8/uint8), 13
  ['ReduceMax', 18, 19, red.reduce('Max', true, red.REDUCE_MINMAX_12), red.reduceShape('Max', true)], // 18: axes input
  ['ReduceMax', 20, M, red.reduce('Max', true, red.REDUCE_MINMAX_20), red.reduceShape('Max', true)], // 20: bool
  ['ReduceMin', 7, 11, red.reduce('Min', false, red.REDUCE_TYPES), red.reduceShape('Min', false)],
  ['ReduceMin', 12, 17, red.reduce('Min', false, red.REDUCE_MINMAX_12), red.reduceShape('Min', false)],
  ['ReduceMin', 18, 19, red.reduce('Min', true, red.REDUCE_MINMAX_12), red.reduceShape('Min', true)],
  ['ReduceMin', 20, M, red.reduce('Min', true, red.REDUCE_MINMAX_20), red.reduceShape('Min', true)],
  ['ReduceSum', 7, 12, red.reduce('Sum', false, red.REDUCE_TYPES), red.reduceShape('Sum', false)], // 1, 11
  ['ReduceSum', 13, M, red.reduce('Sum', true, red.REDUCE_TYPES), red.reduceShape('Sum', true)], // 13: axes input
  ['ReduceMean', 7, 17, red.reduce('Mean', false, red.REDUCE_TYPES), red.reduceShape('Mean', false)], // 1, 11, 13
  ['ReduceMean', 18, M, red.reduce('Mean', true, red.REDUCE_TYPES), red.reduceShape('Mean', true)], // 18: axes input
  ['ReduceProd', 7, 17, red.reduce('Prod', false, red.REDUCE_TYPES), red.reduceShape('Prod', false)], // 1, 11, 13
  ['ReduceProd', 18, M, red.reduce('Prod', true, red.REDUCE_TYPES), red.reduceShape('Prod', true)], // 18
  ['ReduceL1', 7, 17, red.reduce('L1', false, red.REDUCE_TYPES), red.reduceShape('L1', false)],
  ['ReduceL1', 18, M, red.reduce('L1', true, red.REDUCE_TYPES), red.reduceShape('L1', true)],
  ['ReduceL2', 7, 17, red.reduce('L2', false, red.REDUCE_TYPES), red.reduceShape('L2', false)],
  ['ReduceL2', 18, M, red.reduce('L2', true, red.REDUCE_TYPES), red.reduceShape('L2', true)],
  ['ReduceLogSum', 7, 17, red.reduce('LogSum', false, red.REDUCE_TYPES), red.reduceShape('LogSum', false)],
  ['ReduceLogSum', 18, M, red.reduce('LogSum', true, red.REDUCE_TYPES), red.reduceShape('LogSum', true)],
  ['ReduceLogSumExp', 7, 17, red.reduce('LogSumExp', false, red.REDUCE_TYPES), red.reduceShape('LogSumExp', false)],
  ['ReduceLogSumExp', 18, M, red.reduce('LogSumExp', true, red.REDUCE_TYPES), red.reduceShape('LogSumExp', true)],
  ['ReduceSumSquare', 7, 17, red.reduce('SumSquare', false, red.REDUCE_TYPES), red.reduceShape('SumSquare', false)],
  ['ReduceSumSquare', 18, M, red.reduce('SumSquare', true, red.REDUCE_TYPES), red.reduceShape('SumSquare', true)],
  ['ArgMax', 7, 11, red.argReduce('ArgMax', false), red.argReduceShape('ArgMax')], // 1, 11
  ['ArgMax', 12, M, red.argReduce('ArgMax', true), red.argReduceShape('ArgMax')], // 12: select_last_index, 13
  ['ArgMin', 7, 11, red.argReduce('ArgMin', false), red.argReduceShape('ArgMin')],
  ['ArgMin', 12, M, red.argReduce('ArgMin', true), red.argReduceShape('ArgMin')],
  ['Hardmax', 7, 12, red.hardmax, red.sameShapeOf('Hardmax')], // 1, 11: input coerced to 2-D at axis (default 1)
  ['Hardmax', 13, M, red.hardmax, red.sameShapeOf('Hardmax')], // 13: one axis (default -1)
  ['CumSum', 11, M, red.cumSum, red.sameShapeOf('CumSum')], // 11, 14

  // tensor generators (misc.ts)
  ['Size', 7, M, misc.size, misc.sizeShape], //             1, 13, 19, 21, 23, 24, 25
  ['CastLike', 15, M, misc.castLike, misc.castLikeShape], // 15, 19, 21, 23, 24, 25
  ['Range', 11, M, misc.range, misc.rangeShape], //          11
  ['Trilu', 14, M, misc.trilu, misc.triluShape], //          14
  ['OneHot', 9, 10, misc.oneHot, misc.oneHotShape], //       9: indices in [0, depth)
  ['OneHot', 11, M, misc.oneHot, misc.oneHotShape], //      11: negative indices count from the end
  // recurrent layers (layout read from opset 14) and control flow (subgraph attributes)
  ['RNN', 7, M, recurrent('RNN'), recurrentShape('RNN')], //    7, 14 (layout), 22 (bfloat16)
  ['GRU', 7, M, recurrent('GRU'), recurrentShape('GRU')], //    7, 14 (layout), 22 (bfloat16)
  ['LSTM', 7, M, recurrent('LSTM'), recurrentShape('LSTM')], // 7, 14 (layout), 22 (bfloat16)
  ['If', 7, M, ifKernel, ifShape], //                        1, 11, 13, 16, 19, 21, 23, 24, 25 (tensors alike)
  ['Loop', 7, M, loopKernel, loopShape], //                  1, 11 (two inputs suffice), 13, 16, 19, 21, 23, 24, 25
  ['Scan', 8, 8, scan8Kernel, scan8Shape], //                8: batch-major, sequence_lens
  ['Scan', 9, M, scanKernel, scanShape], //                  9, 11 (negative axes), 16, 19, 21, 23, 24, 25

  // indexing, selection, sorting, contraction (gather_scatter.ts, select.ts, topk.ts, nms.ts, einsum.ts)
  ['GatherElements', 11, M, gatherElements, gatherElementsShape], // 11, 13
  ['GatherND', 11, M, gatherND, gatherNDShape], //           11, 12 (batch_dims, read from 12), 13
  ['ScatterElements', 11, M, scatterElements('ScatterElements'), scatterShape('ScatterElements')], // 11, 13, 16 (reduction add/mul), 18 (max/min)
  ['Scatter', 9, 10, scatterElements('Scatter'), scatterShape('Scatter')], // 9 (deprecated in 11 for ScatterElements)
  ['ScatterND', 11, M, scatterND, scatterShape('ScatterND')], // 11, 13, 16 (reduction add/mul), 18 (max/min)
  ['NonZero', 9, M, nonZero, nonZeroShape], //               9, 13
  ['Compress', 9, M, compress, compressShape], //            9, 11 (negative axis)
  ['Unique', 11, M, unique, uniqueShape], //                 11
  ['ReverseSequence', 10, M, reverseSequence, reverseSequenceShape], // 10
  ['TopK', 7, 9, topk(1), topkShape(1)], //                  1: k attribute, float types
  ['TopK', 10, 10, topk(10), topkShape(10)], //              10: K input
  ['TopK', 11, M, topk(11), topkShape(11)], //               11: largest, sorted, numeric types; 24 (bfloat16)
  ['NonMaxSuppression', 10, M, nonMaxSuppression, nonMaxSuppressionShape], // 10, 11
  ['Einsum', 12, M, einsum, einsumShape], //                 12

  // quantization (quant.ts; int16/uint16 from 21, float8/int4/int2 types are no IR dtypes)
  ['QuantizeLinear', 10, 12, quantizeLinearOp(10), quantizeLinearShape(10)], //   10: no axis attribute (1-D scale: axis 1)
  ['QuantizeLinear', 13, 20, quantizeLinearOp(13), quantizeLinearShape(13)], //   13: axis; 19: saturate (float8 only)
  ['QuantizeLinear', 21, 22, quantizeLinearOp(21), quantizeLinearShape(21)], //   21: block_size, output_dtype, int16/uint16
  ['QuantizeLinear', 23, M, quantizeLinearOp(23), quantizeLinearShape(23)], //    23: precision; 24, 25: types
  ['DequantizeLinear', 10, 12, dequantizeLinearOp(10), dequantizeLinearShape(10)], // 10: no axis attribute (1-D scale: axis 1)
  ['DequantizeLinear', 13, 20, dequantizeLinearOp(13), dequantizeLinearShape(13)], // 13: axis; 19: types
  ['DequantizeLinear', 21, 22, dequantizeLinearOp(21), dequantizeLinearShape(21)], // 21: block_size, int16/uint16
  ['DequantizeLinear', 23, M, dequantizeLinearOp(23), dequantizeLinearShape(23)], //  23: output_dtype; 24, 25: types
  ['DynamicQuantizeLinear', 11, M, dynamicQuantizeLinear, dynamicQuantizeLinearShape], // 11
  ['MatMulInteger', 10, M, matMulInteger, matMulIntegerShape], // 10
  ['ConvInteger', 10, M, convInteger, convIntegerShape], //   10
  ['QLinearMatMul', 10, M, qlinearMatMul, qlinearMatMulShape], // 10, 21 (float16/bfloat16 scales, float8 types)
  ['QLinearConv', 10, M, qlinearConv, qlinearConvShape], //   10
];

for (const [op, since, until, ref, shapeFn] of ENTRIES) {
  registerOp({ op, domain: '', sinceVersion: Math.max(since, MIN_OPSET), untilVersion: until, ref, shape: shapeFn });
}

/** The registered (op, since, until) triples, in registration order (for docs and tests). */
export const REF_OP_RANGES: ReadonlyArray<readonly [string, number, number]> = ENTRIES.map(
  ([op, s, u]) => [op, Math.max(s, MIN_OPSET), u] as const,
);
