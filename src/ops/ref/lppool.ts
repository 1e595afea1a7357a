// GlobalMaxPool (1, 22), LpPool (2, 11: kernel_shape, strides, pads, auto_pad, p; 18: + ceil_mode,
// dilations; 22: bfloat16) and GlobalLpPool (2, 22), float32. The sliding windows are MaxPool's
// (pool.ts windows: conv.ts readWindowAttrs / windowGeometry / tapTable).
//   LpPool:       y = (sum over the window's taps inside X of |x|^p)^(1/p)  (padding adds 0)
//   GlobalLpPool: the same over all of D1..Dn; GlobalMaxPool: the max over D1..Dn (NaN wins, as
//   numpy's max in the ONNX reference).
// Sums in float64.

import type { Attrs, RefKernel, ShapeFn, Tensor } from '../types.js';
import { elementCount } from '../types.js';
import { readWindowAttrs, windowGeometry } from './conv.js';
import { windows } from './pool.js';
import { AttrReader, infoOf, opError, requireDtype, requireInput, stridesOf } from './util.js';

function spatialInput(op: string, inputs: ReadonlyArray<Tensor | undefined>, ctx: { node: string; opset: number }): Tensor {
  const X = requireInput(inputs, 0, op, ctx, 'X');
  requireDtype(X, ['float32'], 'X', op, ctx);
  if (X.dims.length < 3) throw opError(op, ctx, `X must have rank >= 3 ([N, C, spatial...]), got [${X.dims.join(', ')}]`);
  return X;
}

/** |v|^p for the integer p >= 1 of the Lp ops (exact products for p = 1, 2). */
function absPow(v: number, p: number): number {
  const a = Math.abs(v);
  return p === 1 ? a : p === 2 ? a * a : Math.pow(a, p);
}

function rootP(s: number, p: number): number {
  return p === 1 ? s : p === 2 ? Math.sqrt(s) : Math.pow(s, 1 / p);
}

function readP(op: string, r: AttrReader): number {
  const p = r.int('p', 2);
  if (p < 1) throw opError(op, r.ctx, `p ${p} must be >= 1`);
  return p;
}

/** GlobalMaxPool / GlobalLpPool: X [N, C, D...] -> Y [N, C, 1...]. */
function globalPool(op: 'GlobalMaxPool' | 'GlobalLpPool'): RefKernel {
  return (inputs, attrs, ctx) => {
    const X = spatialInput(op, inputs, ctx);
    const p = op === 'GlobalLpPool' ? readP(op, new AttrReader(op, attrs, ctx)) : 0;
    const NC = X.dims[0]! * X.dims[1]!,
      S = elementCount(X.dims.slice(2));
    const x = X.data as Float32Array;
    const y = new Float32Array(NC);
    for (let j = 0; j < NC; j++) {
      if (op === 'GlobalMaxPool') {
        let m = -Infinity;
        for (let i = 0; i < S; i++) {
          const v = x[j * S + i]!;
          if (v > m || Number.isNaN(v)) m = v;
          if (Number.isNaN(m)) break;
        }
        y[j] = m;
      } else {
        let s = 0;
        for (let i = 0; i < S; i++) s += absPow(x[j * S + i]!, p);
        y[j] = rootP(s, p);
      }
    }
    return [{ dtype: 'float32', dims: [X.dims[0]!, X.dims[1]!, ...X.dims.slice(2).map(() => 1)], data: y }];
  };
}

export const globalMaxPool = globalPool('GlobalMaxPool');
export const globalLpPool = globalPool('GlobalLpPool');

export function globalPoolShape(op: string): ShapeFn {
  return (inputs, _a, _c, ctx) => {
    const X = infoOf(inputs, 0, op, ctx);
    if (X.dims && X.dims.length < 3) throw opError(op, ctx, `X must have rank >= 3, got [${X.dims.join(', ')}]`);
    return [{ dtype: X.dtype, dims: X.dims ? X.dims.map((d, i) => (i < 2 ? d : 1)) : null }];
  };
}

/** LpPool's attributes at `version`: before 18, ceil_mode and dilations are not in the schema (ignored). */
function lpPoolAttrs(version: 2 | 18, attrs: Attrs): Attrs {
  if (version >= 18) return attrs;
  const { ceil_mode: _c, dilations: _d, ...rest } = attrs;
  return rest;
}

/** LpPool: X [N, C, D...] -> Y [N, C, O...]. */
export function lpPool(version: 2 | 18): RefKernel {
  const op = 'LpPool';
  return (inputs, attrs, ctx) => {
    const X = spatialInput(op, inputs, ctx);
    const r = new AttrReader(op, lpPoolAttrs(version, attrs), ctx);
    const p = readP(op, r);
    const w = windows(op, X, r);
    const [N, C] = [X.dims[0]!, X.dims[1]!];
    const nSp = w.inSp.length,
      outSp = w.geo.out;
    const P = elementCount(outSp),
      KK = elementCount(w.win.kernel),
      inSize = elementCount(w.inSp);
    const strides = stridesOf(w.inSp);
    // flat offsets inside X of the taps of every output position (taps in the padding dropped)
    const tapOffsets: number[][] = [];
    for (let q = 0; q < P; q++) {
      const offs: number[] = [];
      for (let kp = 0; kp < KK; kp++) {
        let off = 0;
        for (let d = 0; d < nSp; d++) {
          const c = w.taps[d]![w.tapIdx[kp * nSp + d]! * outSp[d]! + w.outIdx[q * nSp + d]!]!;
          if (c < 0) {
            off = -1;
            break;
          }
          off += c * strides[d]!;
        }
        if (off >= 0) offs.push(off);
      }
      tapOffsets.push(offs);
    }
    const x = X.data as Float32Array;
    const y = new Float32Array(N * C * P);
    for (let nc = 0; nc < N * C; nc++) {
      const base = nc * inSize;
      for (let q = 0; q < P; q++) {
        let s = 0;
        for (const off of tapOffsets[q]!) s += absPow(x[base + off]!, p);
        y[nc * P + q] = rootP(s, p);
      }
    }
    return [{ dtype: 'float32', dims: [N, C, ...outSp], data: y }];
  };
}

export function lpPoolShape(version: 2 | 18): ShapeFn {
  const op = 'LpPool';
  return (inputs, attrs, _c, ctx) => {
    const X = infoOf(inputs, 0, op, ctx);
    if (!X.dims) return [{ dtype: X.dtype, dims: null }];
    if (X.dims.length < 3) throw opError(op, ctx, `X must have rank >= 3, got [${X.dims.join(', ')}]`);
    const r = new AttrReader(op, lpPoolAttrs(version, attrs), ctx);
    const win = readWindowAttrs(op, r, X.dims.length - 2, undefined, true);
    return [{ dtype: X.dtype, dims: [X.dims[0]!, X.dims[1]!, ...windowGeometry(X.dims.slice(2), win).out] }];
  };
}
