// ConvTranspose reference kernel (ONNX 1, 11, 22) over any number of spatial dims: group,
// strides, dilations, pads / auto_pad (NOTSET, SAME_UPPER, SAME_LOWER, VALID), output_padding,
// output_shape, optional bias. The kernel is the plain scatter loop of the definition:
//
//   Y[n, g*Mg + m, o] = B[g*Mg + m] + sum over c < Cg, i, k with o = i*s - padBegin + k*d:
//                                     X[n, g*Cg + c, i] * W[g*Cg + c, m, k]
//
// (per spatial dim; X [N, C, I1..In], W [C, M/group, k1..kn], Y [N, M, O1..On], Cg = C/group,
// Mg = M/group), accumulated in float64.
//
// As GEMM + col2im (how a fast kernel computes it), per image n and group g:
//   cols [Mg*K, P] = Wg^T [Mg*K, Cg] x Xg [Cg, P]        K = k1*..*kn taps, P = I1*..*In inputs
//     (Wg = W[g*Cg .. g*Cg+Cg-1] viewed as [Cg, Mg*K]: its row-major layout already is that
//      matrix, so Wg^T needs no copy, only a transposed GEMM)
//   col2im: Y[n, g*Mg + m, o(p, k)] += cols[m*K + k, p] for every input position p and tap k
//     whose output coordinate o(p, k) = p*s - padBegin + k*d (per dim) lies inside [0, O)
//     (convTransposeTaps below is that table: the scatter addresses of col2im), then + B.
// col2im is conv's im2col transposed: the same tap table (conv.ts tapTable) with the roles of
// input and output swapped.
//
// Geometry (per spatial dim, full = (I - 1)*s + (k - 1)*d + 1 + output_padding):
//   output_shape given: O = output_shape; total = full - O; SAME_UPPER puts the odd pad at the
//     end (begin = floor(total / 2)), any other auto_pad at the beginning (begin = total -
//     floor(total / 2)). A negative total (an output larger than full) is clamped to 0: the
//     extra outputs at the end hold the bias only (onnxruntime's rule).
//   SAME_UPPER / SAME_LOWER: O = I * s, total = full - O split the same way.
//   VALID: no padding, O = full. NOTSET: O = full - pads_begin - pads_end.
// These are ConvTranspose-11's rules; ConvTranspose-1's text words the auto_pad split the other
// way round, but onnxruntime and the ONNX reference apply 11's rules to opset 1-10 models too,
// and so does Sparrow (one definition from opset 7). onnxruntime 1.30 departs from the spec in
// two corners: SAME_* with full < I * s gives it a full-length output (the spec, ONNX shape
// inference and the ONNX reference: I * s), and it rejects most output_shape values past full.

import type { RefKernel, ShapeFn } from '../types.js';
import { elementCount } from '../types.js';
import { multiIndices, readWindowAttrs, tapTable, type WindowAttrs } from './conv.js';
import { AttrReader, infoOf, opError, requireDtype, requireInput, stridesOf } from './util.js';

const OP = 'ConvTranspose';

export interface ConvTransposeGeometry {
  /** output spatial dims (-1 where unknown) */
  out: number[];
  padBegin: number[];
  padEnd: number[];
}

/** Output dims and effective pads of a ConvTranspose over input spatial dims `inSp` (-1 = unknown). */
export function convTransposeGeometry(
  inSp: readonly number[],
  win: WindowAttrs,
  outputPadding: readonly number[],
  outputShape: readonly number[] | undefined,
): ConvTransposeGeometry {
  const n = inSp.length;
  const out: number[] = [],
    padBegin: number[] = [],
    padEnd: number[] = [];
  for (let i = 0; i < n; i++) {
    const I = inSp[i]!,
      s = win.strides[i]!,
      span = (win.kernel[i]! - 1) * win.dilations[i]! + 1;
    const full = I < 0 ? -1 : (I - 1) * s + span + outputPadding[i]!;
    let O: number | undefined;
    if (outputShape) O = outputShape[i]!;
    else if (win.autoPad === 'SAME_UPPER' || win.autoPad === 'SAME_LOWER') O = I < 0 ? -1 : I * s;
    if (O !== undefined) {
      if (full < 0 || O < 0) {
        out.push(O);
        padBegin.push(0);
        padEnd.push(0);
        continue;
      }
      const total = Math.max(0, full - O);
      const begin = win.autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2);
      out.push(O);
      padBegin.push(begin);
      padEnd.push(total - begin);
      continue;
    }
    const pb = win.autoPad === 'VALID' ? 0 : win.pads[i]!,
      pe = win.autoPad === 'VALID' ? 0 : win.pads[i + n]!;
    out.push(full < 0 ? -1 : full - pb - pe);
    padBegin.push(pb);
    padEnd.push(pe);
  }
  return { out, padBegin, padEnd };
}

export interface ConvTransposeAttrs {
  group: number;
  win: WindowAttrs;
  outputPadding: number[];
  outputShape: number[] | undefined;
}

export function readAttrs(r: AttrReader, nSp: number, kernelFromW: number[] | undefined): ConvTransposeAttrs {
  const group = r.int('group', 1);
  if (group < 1) throw opError(OP, r.ctx, `group ${group} must be >= 1`);
  const win = readWindowAttrs(OP, r, nSp, kernelFromW, false);
  const outputPadding = r.ints('output_padding', new Array<number>(nSp).fill(0));
  if (outputPadding.length !== nSp || outputPadding.some((v) => v < 0)) {
    throw opError(OP, r.ctx, `output_padding [${outputPadding.join(', ')}] must hold ${nSp} values >= 0`);
  }
  let outputShape = r.ints('output_shape');
  if (outputShape) {
    // onnxruntime also accepts the full [N, C, spatial...] form
    if (outputShape.length === nSp + 2) outputShape = outputShape.slice(2);
    if (outputShape.length !== nSp || outputShape.some((v) => v < 0)) {
      throw opError(OP, r.ctx, `output_shape [${outputShape.join(', ')}] must hold ${nSp} spatial sizes >= 0`);
    }
  }
  return { group, win, outputPadding, outputShape };
}

/**
 * The col2im scatter table of one spatial dim: for tap k and input coordinate i, the output
 * coordinate o = i*s - padBegin + k*d, or -1 outside [0, outSize). Flat [k * inSize + i].
 */
export function convTransposeTaps(inSize: number, outSize: number, k: number, s: number, d: number, padBegin: number): Int32Array {
  // conv's tap table with the roles swapped: "output" i of the table reads "input" o
  return tapTable(outSize, inSize, k, s, d, padBegin);
}

/** ConvTranspose: X [N, C, I...], W [C, M/group, k...], optional B [M] -> Y [N, M, O...]. */
export const convTranspose: RefKernel = (inputs, attrs, ctx) => {
  const X = requireInput(inputs, 0, OP, ctx, 'X'),
    W = requireInput(inputs, 1, OP, ctx, 'W');
  const B = inputs[2];
  requireDtype(X, ['float32'], 'X', OP, ctx);
  requireDtype(W, ['float32'], 'W', OP, ctx);
  if (X.dims.length < 3) throw opError(OP, ctx, `X must have rank >= 3 ([N, C, spatial...]), got [${X.dims.join(', ')}]`);
  if (W.dims.length !== X.dims.length) throw opError(OP, ctx, `W [${W.dims.join(', ')}] and X [${X.dims.join(', ')}] ranks differ`);
  const nSp = X.dims.length - 2;
  const { group, win, outputPadding, outputShape } = readAttrs(new AttrReader(OP, attrs, ctx), nSp, W.dims.slice(2));
  if (win.kernel.some((k, i) => k !== W.dims[2 + i])) {
    throw opError(OP, ctx, `kernel_shape [${win.kernel.join(', ')}] differs from W's spatial dims [${W.dims.slice(2).join(', ')}]`);
  }
  const [N, C] = [X.dims[0]!, X.dims[1]!];
  if (W.dims[0] !== C || C % group !== 0) {
    throw opError(OP, ctx, `W [${W.dims.join(', ')}] and group ${group} do not fit X's ${C} channels (W must be [C, M/group, k...])`);
  }
  const Cg = C / group,
    Mg = W.dims[1]!,
    M = Mg * group;
  if (B) {
    requireDtype(B, ['float32'], 'B', OP, ctx);
    if (B.dims.length !== 1 || B.dims[0] !== M) throw opError(OP, ctx, `B must have shape [${M}], got [${B.dims.join(', ')}]`);
  }
  const inSp = X.dims.slice(2);
  const geo = convTransposeGeometry(inSp, win, outputPadding, outputShape);
  if (geo.out.some((o) => o < 0)) throw opError(OP, ctx, `output spatial dims [${geo.out.join(', ')}] are negative`);
  const outSp = geo.out;
  const P = elementCount(inSp),
    Q = elementCount(outSp),
    K = elementCount(win.kernel);

  // scatter[k * P + p]: flat output offset that input position p reaches through tap k, or -1
  const taps = inSp.map((I, d) => convTransposeTaps(I, outSp[d]!, win.kernel[d]!, win.strides[d]!, win.dilations[d]!, geo.padBegin[d]!));
  const inIdx = multiIndices(inSp),
    tapIdx = multiIndices(win.kernel);
  const outStrides = stridesOf(outSp);
  const scatter = new Int32Array(K * P);
  for (let k = 0; k < K; k++) {
    for (let p = 0; p < P; p++) {
      let off = 0;
      for (let d = 0; d < nSp; d++) {
        const o = taps[d]![tapIdx[k * nSp + d]! * inSp[d]! + inIdx[p * nSp + d]!]!;
        if (o < 0) {
          off = -1;
          break;
        }
        off += o * outStrides[d]!;
      }
      scatter[k * P + p] = off;
    }
  }

  const x = X.data as Float32Array,
    w = W.data as Float32Array,
    bias = B?.data as Float32Array | undefined;
  const y = new Float32Array(N * M * Q);
  const acc = new Float64Array(Q);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < group; g++) {
      for (let mg = 0; mg < Mg; mg++) {
        const m = g * Mg + mg;
        acc.fill(bias ? bias[m]! : 0);
        for (let c = 0; c < Cg; c++) {
          const xBase = (n * C + g * Cg + c) * P;
          const wBase = ((g * Cg + c) * Mg + mg) * K; // W[g*Cg + c, mg, :]
          for (let k = 0; k < K; k++) {
            const wv = w[wBase + k]!;
            const row = k * P;
            for (let p = 0; p < P; p++) {
              const o = scatter[row + p]!;
              if (o >= 0) acc[o]! += x[xBase + p]! * wv;
            }
          }
        }
        y.set(acc, (n * M + m) * Q);
      }
    }
  }
  return [{ dtype: 'float32', dims: [N, M, ...outSp], data: y }];
};

export const convTransposeShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const X = infoOf(inputs, 0, OP, ctx),
    W = infoOf(inputs, 1, OP, ctx);
  if (!X.dims) return [{ dtype: X.dtype, dims: null }];
  const nSp = X.dims.length - 2;
  if (nSp < 1) throw opError(OP, ctx, `X must have rank >= 3, got [${X.dims.join(', ')}]`);
  const r = new AttrReader(OP, attrs, ctx);
  const wk = W.dims && W.dims.length === nSp + 2 && W.dims.slice(2).every((d) => d >= 0) ? W.dims.slice(2) : undefined;
  if (!r.has('kernel_shape') && !wk) return [{ dtype: X.dtype, dims: null }];
  const { group, win, outputPadding, outputShape } = readAttrs(r, nSp, wk);
  const M = W.dims && W.dims.length >= 2 && W.dims[1]! >= 0 ? W.dims[1]! * group : -1;
  return [{ dtype: X.dtype, dims: [X.dims[0]!, M, ...convTransposeGeometry(X.dims.slice(2), win, outputPadding, outputShape).out] }];
};
