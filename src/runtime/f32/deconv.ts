// float32 ConvTranspose (and sparrow.FusedConvTranspose: + Relu/Clip) through the GEMM + col2im
// kernel f32_deconv2d__wasmsimd (assembly/f32/deconv.ts), 1-D and 2-D, every attribute: group,
// strides, dilations, pads / auto_pad, output_padding, output_shape (the geometry is the
// reference's, src/ops/ref/convtranspose.ts: only the begin pads and the output size reach the
// kernel). Per image and group one kernel call; the weights of each group are the GEMM's packed B
// operand (C/group, M/group·KH·KW), packed once per engine when constant, per run otherwise.
// 3-D and empty inputs stay on the reference kernel.
import { SparrowError } from '../../errors.js';
import { convTransposeGeometry, readAttrs } from '../../ops/ref/convtranspose.js';
import { CONV_GEOMETRY_BYTES, F32_DECONV_KERNELS, writeDeconvGeometry } from '../../kernels/f32.js';
import type { Deconv2dGeometry } from '../../kernels/f32_ref.js';
import type { Node } from '../../ir/graph.js';
import { actOf, dtypeReason, F32_BYTES, reader, type F32Lower, type Lowered, type Lowering } from './lower.js';

function lowerConvTranspose(n: Node, L: F32Lower): Lowered | string {
  const why = dtypeReason(n, L, [0, 1, 2]);
  if (why) return why;
  const [x, wName, bName] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2] ?? ''];
  const y = n.outputs[0]!;
  const xd = L.dims(x),
    wd = L.dims(wName),
    yd = L.dims(y);
  const nSp = xd.length - 2;
  if (nSp !== 1 && nSp !== 2) return `${nSp}-D ConvTranspose (the kernel is 1-D/2-D)`;
  if (wd.length !== xd.length) return 'W rank';
  const { group, win, outputPadding, outputShape } = readAttrs(reader(n), nSp, wd.slice(2));
  if (win.kernel.some((k, i) => k !== wd[2 + i])) return 'kernel_shape differs from W';
  const geo = convTransposeGeometry(xd.slice(2), win, outputPadding, outputShape);
  if (geo.out.some((o, i) => o !== yd[2 + i])) return `geometry [${geo.out.join(', ')}] differs from the inferred output`;
  if (geo.padBegin.some((p) => p < 0)) return 'negative begin pads';
  const [N, C] = [xd[0]!, xd[1]!];
  const Cg = C / group,
    Mg = wd[1]!,
    M = Mg * group;
  if (!Number.isInteger(Cg) || wd[0] !== C || yd[1] !== M) return 'channels and group disagree';
  if (bName && (L.dims(bName).length !== 1 || L.dims(bName)[0] !== M)) return 'bias shape';
  if (xd.slice(2).some((d) => d === 0)) return 'an empty spatial input';
  const two = <T>(v: readonly T[], one: T): [T, T] => (nSp === 2 ? [v[0]!, v[1]!] : [one, v[0]!]);
  const [H, W] = two(xd.slice(2), 1);
  const [KH, KW] = two(win.kernel, 1);
  const [OH, OW] = two(geo.out, 1);
  const [act, lo, hi] = actOf(n);
  const g: Deconv2dGeometry = {
    C: Cg,
    H,
    W,
    M: Mg,
    KH,
    KW,
    OH,
    OW,
    pads: two(geo.padBegin, 0),
    strides: two(win.strides, 1),
    dilations: two(win.dilations, 1),
    act: act ? { min: lo, max: hi } : 'none',
  };
  const w = L.w,
    ex = L.ex;
  const kernel = F32_DECONV_KERNELS[0]!;
  const gp = L.mem.alloc(CONV_GEOMETRY_BYTES);
  writeDeconvGeometry(w, g, gp);
  const work = kernel.workBytes(w, gp);
  if (work < 0) return `${kernel.name} rejects the geometry`;
  const Kn = Mg * KH * KW; // GEMM N
  const Wc = L.constOf(wName);
  const packed = Wc ? Array.from({ length: group }, (_, gi) => L.packedB(Wc, gi, Cg, Kn, false, 1)) : [];
  const packBytes = ex.f32_packed_b_size(Cg, Kn) * F32_BYTES;
  const scratch = work + (Wc ? 0 : packBytes + 16);
  const xs = Cg * H * W * F32_BYTES,
    ys = Mg * OH * OW * F32_BYTES,
    wsG = Cg * Kn * F32_BYTES;
  return {
    kind: 'kernel',
    scratch,
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y),
        bp = bName ? b.ptr(bName) : 0,
        wRaw = Wc ? 0 : b.ptr(wName),
        s = b.scratch,
        packS = s + work;
      return () => {
        for (let gi = 0; gi < group; gi++) {
          let wp: number;
          if (Wc) wp = packed[gi]!;
          else {
            ex.f32_pack_b(Cg, Kn, wRaw + gi * wsG, Kn, 0, packS);
            wp = packS;
          }
          const bg = bp ? bp + gi * Mg * F32_BYTES : 0;
          for (let i = 0; i < N; i++) {
            const img = i * group + gi;
            if (kernel.run(w, gp, xp + img * xs, wp, bg, yp + img * ys, s) < 0)
              throw new SparrowError('internal', `${kernel.name} rejected node '${n.name}'`);
          }
        }
      };
    },
  };
}

export const DECONV: Record<string, Lowering> = { ConvTranspose: lowerConvTranspose, FusedConvTranspose: lowerConvTranspose };
