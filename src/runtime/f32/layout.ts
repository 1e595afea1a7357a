// float32 DepthToSpace, SpaceToDepth and Tile, each one remap (assembly/f32ops/move.ts): the
// reference's index maps (src/ops/ref/layout.ts) written as affine axes. The output is walked
// in order, split into the axes its index decomposes into, each with its source stride:
//   DepthToSpace y[n, c, h, i, w, j] (y dims [N, C/b², H·b, W·b] split h·b + i, w·b + j)
//     DCR: x[n, (i·b + j)·C/b² + c, h, w]      CRD: x[n, c·b² + i·b + j, h, w]
//   SpaceToDepth y[n, i, j, c, h, w] (channel (i·b + j)·C + c) = x[n, c, h·b + i, w·b + j]
//   Tile y[r0, i0, r1, i1, ...] (axis k split rep·d_k + i) = x[i0, i1, ...] (stride 0 along rep)
import { stridesOf } from '../../ops/ref/util.js';
import type { Node } from '../../ir/graph.js';
import { remapKernel, type RemapAxis } from './descriptors.js';
import { reader, unaryIo, type F32Lower, type Lowered, type Lowering } from './lower.js';

function lowerDepthToSpace(n: Node, L: F32Lower): Lowered | string {
  const io = unaryIo(n, L);
  if (typeof io === 'string') return io;
  const xd = L.dims(io.x);
  if (xd.length !== 4) return 'input is not 4-D';
  const r = reader(n);
  const b = r.requiredInt('blocksize');
  const crd = n.opset >= 11 && r.stringIn('mode', 'DCR', ['DCR', 'CRD']) === 'CRD';
  const [N, C, H, W] = xd as [number, number, number, number];
  if (b < 1 || C % (b * b) !== 0) return 'blocksize does not divide the channels';
  const Co = C / (b * b),
    HW = H * W;
  const Wo = W * b,
    plane = H * b * Wo;
  const axes: RemapAxis[] = [
    { n: N, dst: Co * plane, src: C * HW, off: 0 },
    { n: Co, dst: plane, src: (crd ? b * b : 1) * HW, off: 0 },
    { n: H, dst: b * Wo, src: W, off: 0 },
    { n: b, dst: Wo, src: (crd ? b : b * Co) * HW, off: 0 },
    { n: W, dst: b, src: 1, off: 0 },
    { n: b, dst: 1, src: (crd ? 1 : Co) * HW, off: 0 },
  ];
  return remapKernel(L, io.x, io.y, axes);
}

function lowerSpaceToDepth(n: Node, L: F32Lower): Lowered | string {
  const io = unaryIo(n, L);
  if (typeof io === 'string') return io;
  const xd = L.dims(io.x);
  if (xd.length !== 4) return 'input is not 4-D';
  const b = reader(n).requiredInt('blocksize');
  const [N, C, H, W] = xd as [number, number, number, number];
  if (b < 1 || H % b !== 0 || W % b !== 0) return 'blocksize does not divide H and W';
  const Ho = H / b,
    Wo = W / b,
    plane = Ho * Wo;
  const axes: RemapAxis[] = [
    { n: N, dst: C * b * b * plane, src: C * H * W, off: 0 },
    { n: b, dst: b * C * plane, src: W, off: 0 },
    { n: b, dst: C * plane, src: 1, off: 0 },
    { n: C, dst: plane, src: H * W, off: 0 },
    { n: Ho, dst: Wo, src: b * W, off: 0 },
    { n: Wo, dst: 1, src: b, off: 0 },
  ];
  return remapKernel(L, io.x, io.y, axes);
}

function lowerTile(n: Node, L: F32Lower): Lowered | string {
  const io = unaryIo(n, L);
  if (typeof io === 'string') return io;
  if (!L.constOf(n.inputs[1])) return 'repeats is not a constant';
  const xd = L.dims(io.x),
    yd = L.dims(io.y);
  if (yd.length !== xd.length || yd.some((d, k) => d % (xd[k] || 1) !== 0)) return 'output shape';
  const inS = stridesOf(xd),
    outS = stridesOf(yd);
  const axes: RemapAxis[] = [];
  xd.forEach((d, k) => {
    const reps = d === 0 ? 0 : yd[k]! / d;
    axes.push({ n: reps, dst: d * outS[k]!, src: 0, off: 0 });
    axes.push({ n: d, dst: outS[k]!, src: inS[k]!, off: 0 });
  });
  return remapKernel(L, io.x, io.y, axes);
}

export const LAYOUT: Record<string, Lowering> = { DepthToSpace: lowerDepthToSpace, SpaceToDepth: lowerSpaceToDepth, Tile: lowerTile };
