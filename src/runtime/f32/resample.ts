// float32 Resize (10, 11, 13, 18, 19) and Upsample (7, 9), with the scales / sizes / roi inputs
// constant (as they are once the input shape is fixed). The geometry, coordinates and filter
// taps are the reference's own functions (src/ops/ref/resize.ts), evaluated at plan time into
// tables in the plan's memory; the kernels only gather and blend:
//  - nearest (every nearest_mode and coordinate_transformation_mode, any axes): one remap
//    (assembly/f32ops/move.ts), a table of source offsets per axis; tf_crop_and_resize outside
//    the roi and exclude_outside's dropped taps read the fill value (both at once only when the
//    extrapolation value is 0);
//  - linear and cubic (antialias, exclude_outside, every coordinate mode) when only the last two
//    axes change: f32_resample2d__wasmsimd (assembly/f32ops/resample.ts), n taps per output
//    along each axis with float32 weights. It blends along W then H in float32 where the
//    reference goes axis by axis (axes order) in float64: results agree within float32 rounding.
// Linear / cubic resizing of another axis (batch, channels) stays on the reference kernel.
import { SparrowError } from '../../errors.js';
import { elementCount, type Tensor } from '../../ops/types.js';
import {
  axisTaps,
  floatsOf,
  inputSlots,
  isIdentity,
  nearestTap,
  originalCoordinate,
  planResize,
  readResizeAttrs,
  sizesOf,
  type ResizeAxis,
  type ResizeVersion,
} from '../../ops/ref/resize.js';
import { AttrReader, stridesOf } from '../../ops/ref/util.js';
import { F32_RESAMPLE_KERNELS, writeResampleDesc } from '../../kernels/f32.js';
import type { Resample2d, ResampleAxis } from '../../kernels/f32_ref.js';
import type { Node } from '../../ir/graph.js';
import { remapKernel, type RemapAxis } from './descriptors.js';
import { ctxOf, unaryIo, type F32Lower, type Lowered, type Lowering } from './lower.js';

const VERSIONS: readonly ResizeVersion[] = [7, 9, 10, 11, 13, 18, 19];

/** A constant input as a Tensor: undefined when absent, 'dynamic' when fed at run time. */
function constInput(n: Node, L: F32Lower, i: number): Tensor | undefined | 'dynamic' {
  const name = n.inputs[i];
  if (!name) return undefined;
  return L.constOf(name) ?? 'dynamic';
}

function lowerResize(n: Node, L: F32Lower): Lowered | string {
  const io = unaryIo(n, L);
  if (typeof io === 'string') return io;
  const { x, y } = io;
  const version = n.def.sinceVersion as ResizeVersion;
  if (!VERSIONS.includes(version)) return `unknown ${n.op} version ${version}`;
  const op = n.op,
    ctx = ctxOf(n);
  const a = readResizeAttrs(op, version, n.attrs, ctx);
  const slot = inputSlots(version);
  let scales: number[] | undefined, sizes: number[] | undefined, roi: number[] | undefined;
  if (version === 7) scales = new AttrReader(op, n.attrs, ctx).floats('scales');
  else {
    const sc = constInput(n, L, slot.scales),
      sz = slot.sizes > 0 ? constInput(n, L, slot.sizes) : undefined,
      ro = slot.roi > 0 ? constInput(n, L, slot.roi) : undefined;
    if (sc === 'dynamic' || sz === 'dynamic' || ro === 'dynamic') return 'scales, sizes or roi is not a constant';
    scales = floatsOf(sc, 'scales', op, ctx);
    sizes = sizesOf(sz, op, ctx);
    roi = floatsOf(ro, 'roi', op, ctx);
  }
  if (!scales && !sizes) return 'neither scales nor sizes';
  if (scales && sizes) return 'both scales and sizes';
  const xd = L.dims(x),
    yd = L.dims(y);
  const plan = planResize(op, ctx, a, xd, scales, sizes, roi, version < 10);
  if (plan.some((p, i) => p.outSize !== yd[i])) return 'output size differs from the inferred shape';
  if (a.mode === 'nearest') return nearest(L, x, y, plan, a.coord, a.nearest, a.excludeOutside, a.extrapolation);
  return separable(L, x, y, plan, a);
}

/** nearest: one remap with a table per resized axis (the reference's resampleNearest maps). */
function nearest(
  L: F32Lower,
  x: string,
  y: string,
  plan: ResizeAxis[],
  coord: Parameters<typeof isIdentity>[1],
  mode: Parameters<typeof nearestTap>[1],
  excludeOutside: boolean,
  extrapolation: number,
): Lowered | string {
  const inS = stridesOf(plan.map((p) => p.inSize)),
    outS = stridesOf(plan.map((p) => p.outSize));
  let extrap = false,
    zero = false;
  const axes: RemapAxis[] = plan.map((p, d) => {
    if (isIdentity(p, coord)) return { n: p.outSize, dst: outS[d]!, src: inS[d]!, off: 0 };
    const L0 = p.inSize;
    const table = new Int32Array(p.outSize);
    for (let o = 0; o < p.outSize; o++) {
      const xo = originalCoordinate(coord, o, p);
      if (coord === 'tf_crop_and_resize' && (xo < 0 || xo > L0 - 1)) {
        table[o] = -1;
        extrap = true;
        continue;
      }
      const t = nearestTap(xo, mode, p.scale < 1);
      if (excludeOutside && (t < 0 || t >= L0)) {
        table[o] = -1;
        zero = true;
        continue;
      }
      table[o] = Math.min(L0 - 1, Math.max(0, t)) * inS[d]!;
    }
    return { n: p.outSize, dst: outS[d]!, table };
  });
  const fill = extrap ? Math.fround(extrapolation) : 0;
  if (extrap && zero && fill !== 0) return 'tf_crop_and_resize extrapolation and exclude_outside zeros in one nearest resize';
  // only the last two axes change and no tap is dropped: the resampling kernel with one tap of
  // weight 1 per output (1·v = v, NaN and ±Inf included), 4-wide along the rows (the remap's
  // per-element gather is ~4x slower on upsampling)
  const r = plan.length;
  if (r >= 2 && !zero && axes.slice(0, r - 2).every((a) => 'src' in a)) {
    const one = (a: RemapAxis, stride: number): ResampleAxis => {
      if ('src' in a) return { n: 0, idx: new Int32Array(0), weight: new Float32Array(0) };
      return { n: 1, idx: a.table.map((t) => (t < 0 ? -1 : t / stride)), weight: new Float32Array(a.n).fill(1) };
    };
    const ph = plan[r - 2]!,
      pw = plan[r - 1]!;
    return resampleKernel(L, x, y, {
      planes: elementCount(plan.slice(0, r - 2).map((p) => p.inSize)),
      H: ph.inSize,
      W: pw.inSize,
      OH: ph.outSize,
      OW: pw.outSize,
      rows: one(axes[r - 2]!, inS[r - 2]!),
      cols: one(axes[r - 1]!, 1),
      extrapolation: fill,
    });
  }
  return remapKernel(L, x, y, axes, fill);
}

/** The kernel's taps of one axis (n = 0 when the reference skips it). */
function taps(a: ReturnType<typeof readResizeAttrs>, p: ResizeAxis): ResampleAxis {
  if (isIdentity(p, a.coord)) return { n: 0, idx: new Int32Array(0), weight: new Float32Array(0) };
  const t = axisTaps(a, p);
  const idx = t.idx.slice();
  for (let o = 0; o < p.outSize; o++) if (t.extrapolate[o]) idx[o * t.n] = -1;
  return { n: t.n, idx, weight: Float32Array.from(t.weight) };
}

/** linear / cubic on the last two axes: f32_resample2d__wasmsimd. */
function separable(L: F32Lower, x: string, y: string, plan: ResizeAxis[], a: ReturnType<typeof readResizeAttrs>): Lowered | string {
  const r = plan.length;
  if (r === 0) return 'a scalar';
  const lead = plan.slice(0, Math.max(0, r - 2));
  if (lead.some((p) => !isIdentity(p, a.coord))) return `${a.mode} resizing of an axis other than the last two`;
  const pw = plan[r - 1]!;
  const ph: ResizeAxis = r >= 2 ? plan[r - 2]! : { inSize: 1, outSize: 1, scale: 1, width: 1, roiStart: 0, roiEnd: 1 };
  const desc: Resample2d = {
    planes: elementCount(lead.map((p) => p.inSize)),
    H: ph.inSize,
    W: pw.inSize,
    OH: ph.outSize,
    OW: pw.outSize,
    rows: taps(a, ph),
    cols: taps(a, pw),
    extrapolation: a.extrapolation,
  };
  return resampleKernel(L, x, y, desc);
}

/** A step running f32_resample2d__wasmsimd on `r` (a copy when neither axis changes). */
function resampleKernel(L: F32Lower, x: string, y: string, r: Resample2d): Lowered | string {
  if (r.rows.n === 0 && r.cols.n === 0) return remapKernel(L, x, y, [{ n: r.planes * r.H * r.W, dst: 1, src: 1, off: 0 }]);
  const { desc: d, workBytes } = writeResampleDesc((data) => L.mem.putBytes(data), r);
  const kernel = F32_RESAMPLE_KERNELS[0]!;
  if (kernel.workBytes(L.w, d) !== workBytes) throw new SparrowError('internal', 'resample descriptor');
  return {
    kind: 'kernel',
    scratch: workBytes + 16,
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y),
        s = b.scratch;
      return () => kernel.run(L.w, d, xp, yp, s);
    },
  };
}

export const RESAMPLE: Record<string, Lowering> = { Resize: lowerResize, Upsample: lowerResize };
