// MaxPool and AveragePool reference kernels over any number of spatial dims: kernel_shape,
// strides, pads, auto_pad, dilations, ceil_mode; MaxPool's optional Indices output
// (storage_order 0 = row major, 1 = column major) and AveragePool's count_include_pad.

import type { RefKernel, ShapeFn, Tensor } from '../types.js';
import { elementCount } from '../types.js';
import { multiIndices, readWindowAttrs, tapTable, windowGeometry, type WindowAttrs, type WindowGeometry } from './conv.js';
import { AttrReader, allocData, infoOf, opError, requireDtype, requireInput, stridesOf, type NumericArray } from './util.js';

export interface Windows {
  win: WindowAttrs;
  geo: WindowGeometry;
  inSp: number[];
  /** taps[d][k * out[d] + o]: input coordinate along spatial dim d, or -1 in the padding */
  taps: Int32Array[];
  /** same, but the coordinate relative to the padded extent [-padBegin, size + padEnd), or -1 outside it */
  inPadded: Uint8Array[];
  outIdx: Int32Array;
  tapIdx: Int32Array;
}

export function windows(op: string, X: Tensor, r: AttrReader): Windows {
  if (X.dims.length < 3) throw opError(op, r.ctx, `X must have rank >= 3 ([N, C, spatial...]), got [${X.dims.join(', ')}]`);
  const inSp = X.dims.slice(2);
  const win = readWindowAttrs(op, r, inSp.length, undefined, true);
  const geo = windowGeometry(inSp, win);
  const taps = inSp.map((size, d) => tapTable(size, geo.out[d]!, win.kernel[d]!, win.strides[d]!, win.dilations[d]!, geo.padBegin[d]!));
  const inPadded = inSp.map((size, d) => {
    const o = geo.out[d]!,
      k = win.kernel[d]!;
    const t = new Uint8Array(k * o);
    for (let kk = 0; kk < k; kk++) {
      for (let oo = 0; oo < o; oo++) {
        const x = oo * win.strides[d]! - geo.padBegin[d]! + kk * win.dilations[d]!;
        t[kk * o + oo] = x < size + geo.padEnd[d]! ? 1 : 0; // x >= -padBegin always holds
      }
    }
    return t;
  });
  return { win, geo, inSp, taps, inPadded, outIdx: multiIndices(geo.out), tapIdx: multiIndices(win.kernel) };
}

const LOWEST: Readonly<Record<string, number>> = { float32: -Infinity, int8: -128, uint8: 0 };

/** MaxPool: Y and, when asked for, Indices (int64 flat indices into X). Padding never wins. */
export const maxPool: RefKernel = (inputs, attrs, ctx) => {
  const op = 'MaxPool';
  const X = requireInput(inputs, 0, op, ctx, 'X');
  requireDtype(X, ['float32', 'int8', 'uint8'], 'X', op, ctx);
  const r = new AttrReader(op, attrs, ctx);
  const colMajor = r.intIn('storage_order', 0, [0, 1]) === 1;
  const w = windows(op, X, r);
  const [N, C] = [X.dims[0]!, X.dims[1]!];
  const nSp = w.inSp.length,
    outSp = w.geo.out;
  const P = elementCount(outSp),
    KK = elementCount(w.win.kernel),
    inSize = elementCount(w.inSp);
  const rowStrides = stridesOf(w.inSp);
  // column-major spatial strides: the first spatial dim varies fastest
  const colStrides = w.inSp.map((_, d) => w.inSp.slice(0, d).reduce((a, b) => a * b, 1));
  const x = X.data as NumericArray;
  const y = allocData(X.dtype, N * C * P) as NumericArray;
  const ind = new BigInt64Array(N * C * P);
  const lowest = LOWEST[X.dtype]!;
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * inSize;
    for (let p = 0; p < P; p++) {
      let best = lowest,
        bestRow = -1,
        bestCol = -1;
      for (let kp = 0; kp < KK; kp++) {
        let row = 0,
          col = 0;
        for (let d = 0; d < nSp; d++) {
          const c = w.taps[d]![w.tapIdx[kp * nSp + d]! * outSp[d]! + w.outIdx[p * nSp + d]!]!;
          if (c < 0) {
            row = -1;
            break;
          }
          row += c * rowStrides[d]!;
          col += c * colStrides[d]!;
        }
        if (row < 0) continue;
        const v = x[base + row]!;
        // a NaN tap wins wherever it is (and stays: nothing is > NaN); Indices = the first NaN
        if (v > best || bestRow < 0 || (v !== v && best === best)) {
          best = v;
          bestRow = row;
          bestCol = col;
        }
      }
      y[nc * P + p] = best;
      ind[nc * P + p] = BigInt(bestRow < 0 ? -1 : base + (colMajor ? bestCol : bestRow));
    }
  }
  const dims = [N, C, ...outSp];
  return [
    { dtype: X.dtype, dims, data: y },
    { dtype: 'int64', dims: [...dims], data: ind },
  ];
};

/** AveragePool: mean over the window's taps inside X (count_include_pad=0) or inside the padded extent (1). */
export const averagePool: RefKernel = (inputs, attrs, ctx) => {
  const op = 'AveragePool';
  const X = requireInput(inputs, 0, op, ctx, 'X');
  requireDtype(X, ['float32'], 'X', op, ctx);
  const r = new AttrReader(op, attrs, ctx);
  const includePad = r.intIn('count_include_pad', 0, [0, 1]) === 1;
  const w = windows(op, X, r);
  const [N, C] = [X.dims[0]!, X.dims[1]!];
  const nSp = w.inSp.length,
    outSp = w.geo.out;
  const P = elementCount(outSp),
    KK = elementCount(w.win.kernel),
    inSize = elementCount(w.inSp);
  const strides = stridesOf(w.inSp);
  const x = X.data as Float32Array;
  const y = new Float32Array(N * C * P);
  // per output position: flat offsets of the taps inside X, and the divisor
  const tapOffsets: number[][] = [];
  const divisor = new Float64Array(P);
  for (let p = 0; p < P; p++) {
    const offs: number[] = [];
    let padded = 0;
    for (let kp = 0; kp < KK; kp++) {
      let off = 0,
        inside = true,
        inPad = true;
      for (let d = 0; d < nSp; d++) {
        const t = w.tapIdx[kp * nSp + d]! * outSp[d]! + w.outIdx[p * nSp + d]!;
        const c = w.taps[d]![t]!;
        if (!w.inPadded[d]![t]) inPad = false;
        if (c < 0) inside = false;
        else off += c * strides[d]!;
      }
      if (inside) offs.push(off);
      if (inPad) padded++;
    }
    tapOffsets.push(offs);
    divisor[p] = includePad ? padded : offs.length;
  }
  for (let nc = 0; nc < N * C; nc++) {
    const base = nc * inSize;
    for (let p = 0; p < P; p++) {
      let s = 0;
      for (const off of tapOffsets[p]!) s += x[base + off]!;
      y[nc * P + p] = divisor[p]! > 0 ? s / divisor[p]! : NaN;
    }
  }
  return [{ dtype: 'float32', dims: [N, C, ...outSp], data: y }];
};

function poolShape(op: string, withIndices: boolean): ShapeFn {
  return (inputs, attrs, _c, ctx) => {
    const X = infoOf(inputs, 0, op, ctx);
    if (!X.dims)
      return withIndices
        ? [
            { dtype: X.dtype, dims: null },
            { dtype: 'int64', dims: null },
          ]
        : [{ dtype: X.dtype, dims: null }];
    if (X.dims.length < 3) throw opError(op, ctx, `X must have rank >= 3, got [${X.dims.join(', ')}]`);
    const win = readWindowAttrs(op, new AttrReader(op, attrs, ctx), X.dims.length - 2, undefined, true);
    const dims = [X.dims[0]!, X.dims[1]!, ...windowGeometry(X.dims.slice(2), win).out];
    return withIndices
      ? [
          { dtype: X.dtype, dims },
          { dtype: 'int64', dims: [...dims] },
        ]
      : [{ dtype: X.dtype, dims }];
  };
}

export const maxPoolShape = poolShape('MaxPool', true);
export const averagePoolShape = poolShape('AveragePool', false);
