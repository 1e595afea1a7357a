// Data-movement ops on any dtype: DepthToSpace (1: DCR only; 11: mode DCR / CRD), SpaceToDepth
// (1, 13) and Tile (6, 13). Pure copies: every element of the output is one element of the input.

import type { RefKernel, ShapeFn, Tensor, TensorData } from '../types.js';
import { elementCount } from '../types.js';
import { AttrReader, allocData, infoOf, opError, requireDtype, requireInput, stridesOf, toIntList } from './util.js';

type Indexable = { [i: number]: number | bigint };

function blocksizeOf(op: string, r: AttrReader): number {
  const b = r.requiredInt('blocksize');
  if (b < 1) throw opError(op, r.ctx, `blocksize ${b} must be >= 1`);
  return b;
}

function require4d(op: string, t: Tensor, ctx: { node: string; opset: number }): [number, number, number, number] {
  if (t.dims.length !== 4) throw opError(op, ctx, `input must be 4-D [N, C, H, W], got [${t.dims.join(', ')}]`);
  return t.dims as [number, number, number, number];
}

/**
 * DepthToSpace: x [N, C, H, W] -> y [N, C/b², H*b, W*b] with y[n, c, h*b + i, w*b + j] =
 *   DCR: x[n, (i*b + j) * C/b² + c, h, w]      CRD: x[n, c * b² + i*b + j, h, w]
 * (the reshape / transpose of the spec written as an index map).
 */
export function depthToSpace(version: 1 | 11): RefKernel {
  const op = 'DepthToSpace';
  return (inputs, attrs, ctx) => {
    const X = requireInput(inputs, 0, op, ctx, 'input');
    const r = new AttrReader(op, attrs, ctx);
    const b = blocksizeOf(op, r);
    const crd = version >= 11 && r.stringIn('mode', 'DCR', ['DCR', 'CRD']) === 'CRD';
    const [N, C, H, W] = require4d(op, X, ctx);
    if (C % (b * b) !== 0) throw opError(op, ctx, `channels ${C} are not divisible by blocksize² = ${b * b}`);
    const Co = C / (b * b),
      Ho = H * b,
      Wo = W * b;
    const x = X.data as unknown as Indexable;
    const y = allocData(X.dtype, N * Co * Ho * Wo) as unknown as Indexable;
    let j = 0;
    for (let n = 0; n < N; n++)
      for (let c = 0; c < Co; c++)
        for (let ho = 0; ho < Ho; ho++)
          for (let wo = 0; wo < Wo; wo++) {
            const h = Math.floor(ho / b),
              i = ho % b,
              w = Math.floor(wo / b),
              jj = wo % b;
            const ci = crd ? c * b * b + i * b + jj : (i * b + jj) * Co + c;
            y[j++] = x[((n * C + ci) * H + h) * W + w]!;
          }
    return [{ dtype: X.dtype, dims: [N, Co, Ho, Wo], data: y as unknown as TensorData }];
  };
}

export const depthToSpaceShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'DepthToSpace';
  const X = infoOf(inputs, 0, op, ctx);
  const b = blocksizeOf(op, new AttrReader(op, attrs, ctx));
  if (!X.dims) return [{ dtype: X.dtype, dims: null }];
  if (X.dims.length !== 4) throw opError(op, ctx, `input must be 4-D [N, C, H, W], got [${X.dims.join(', ')}]`);
  const [N, C, H, W] = X.dims as [number, number, number, number];
  if (C >= 0 && C % (b * b) !== 0) throw opError(op, ctx, `channels ${C} are not divisible by blocksize² = ${b * b}`);
  const k = (d: number, f: number) => (d < 0 ? -1 : d * f);
  return [{ dtype: X.dtype, dims: [N, C < 0 ? -1 : C / (b * b), k(H, b), k(W, b)] }];
};

/**
 * SpaceToDepth: x [N, C, H, W] -> y [N, C*b², H/b, W/b] with
 *   y[n, (i*b + j) * C + c, h, w] = x[n, c, h*b + i, w*b + j]   (the inverse of DepthToSpace DCR).
 */
export const spaceToDepth: RefKernel = (inputs, attrs, ctx) => {
  const op = 'SpaceToDepth';
  const X = requireInput(inputs, 0, op, ctx, 'input');
  const b = blocksizeOf(op, new AttrReader(op, attrs, ctx));
  const [N, C, H, W] = require4d(op, X, ctx);
  if (H % b !== 0 || W % b !== 0) throw opError(op, ctx, `H ${H} and W ${W} must be divisible by blocksize ${b}`);
  const Ho = H / b,
    Wo = W / b,
    Co = C * b * b;
  const x = X.data as unknown as Indexable;
  const y = allocData(X.dtype, N * Co * Ho * Wo) as unknown as Indexable;
  let j = 0;
  for (let n = 0; n < N; n++)
    for (let co = 0; co < Co; co++) {
      const c = co % C,
        blk = Math.floor(co / C),
        i = Math.floor(blk / b),
        jj = blk % b;
      for (let h = 0; h < Ho; h++) for (let w = 0; w < Wo; w++) y[j++] = x[((n * C + c) * H + h * b + i) * W + w * b + jj]!;
    }
  return [{ dtype: X.dtype, dims: [N, Co, Ho, Wo], data: y as unknown as TensorData }];
};

export const spaceToDepthShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const op = 'SpaceToDepth';
  const X = infoOf(inputs, 0, op, ctx);
  const b = blocksizeOf(op, new AttrReader(op, attrs, ctx));
  if (!X.dims) return [{ dtype: X.dtype, dims: null }];
  if (X.dims.length !== 4) throw opError(op, ctx, `input must be 4-D [N, C, H, W], got [${X.dims.join(', ')}]`);
  const [N, C, H, W] = X.dims as [number, number, number, number];
  for (const d of [H, W]) if (d >= 0 && d % b !== 0) throw opError(op, ctx, `H ${H} and W ${W} must be divisible by blocksize ${b}`);
  return [{ dtype: X.dtype, dims: [N, C < 0 ? -1 : C * b * b, H < 0 ? -1 : H / b, W < 0 ? -1 : W / b] }];
};

function repeatsOf(t: Tensor, rank: number, ctx: { node: string; opset: number }): number[] {
  requireDtype(t, ['int64'], 'repeats', 'Tile', ctx);
  if (t.dims.length !== 1) throw opError('Tile', ctx, `repeats must be 1-D, got [${t.dims.join(', ')}]`);
  const reps = toIntList(t, 'repeats', 'Tile', ctx);
  if (reps.length !== rank) throw opError('Tile', ctx, `repeats has ${reps.length} values, input rank is ${rank}`);
  if (reps.some((v) => v < 0)) throw opError('Tile', ctx, `repeats [${reps.join(', ')}] has a negative value`);
  return reps;
}

/** Tile: y [d0*r0, d1*r1, ...] with y[i0, i1, ...] = x[i0 % d0, i1 % d1, ...]. */
export const tile: RefKernel = (inputs, _attrs, ctx) => {
  const X = requireInput(inputs, 0, 'Tile', ctx, 'input'),
    R = requireInput(inputs, 1, 'Tile', ctx, 'repeats');
  const reps = repeatsOf(R, X.dims.length, ctx);
  const outDims = X.dims.map((d, i) => d * reps[i]!);
  const n = elementCount(outDims),
    rank = outDims.length;
  const inStrides = stridesOf(X.dims);
  const x = X.data as unknown as Indexable;
  const y = allocData(X.dtype, n) as unknown as Indexable;
  const c = new Array<number>(rank).fill(0);
  for (let j = 0; j < n; j++) {
    let off = 0;
    for (let d = 0; d < rank; d++) off += (c[d]! % X.dims[d]!) * inStrides[d]!;
    y[j] = x[off]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++c[d]! < outDims[d]!) break;
      c[d] = 0;
    }
  }
  return [{ dtype: X.dtype, dims: outDims, data: y as unknown as TensorData }];
};

export const tileShape: ShapeFn = (inputs, _attrs, constants, ctx) => {
  const X = infoOf(inputs, 0, 'Tile', ctx);
  infoOf(inputs, 1, 'Tile', ctx);
  if (!X.dims) return [{ dtype: X.dtype, dims: null }];
  const R = constants[1];
  if (!R) return [{ dtype: X.dtype, dims: X.dims.map(() => -1) }];
  const reps = repeatsOf(R, X.dims.length, ctx);
  return [{ dtype: X.dtype, dims: X.dims.map((d, i) => (d < 0 ? (reps[i] === 0 ? 0 : -1) : d * reps[i]!)) }];
};
