// float32 Conv (and FusedConv: bias + Relu/Clip) through the conv drivers of src/kernels/f32.ts.
import { SparrowError } from '../../errors.js';
import { readWindowAttrs, windowGeometry } from '../../ops/ref/conv.js';
import type { Node } from '../../ir/graph.js';
import { convGeometry, planConv } from '../../kernels/f32.js';
import { fusedAct } from '../../ir/fuse.js';
import { dtypeReason, F32_BYTES, reader, type F32Lower, type Lowered, type Lowering } from './lower.js';

function lowerConv(n: Node, L: F32Lower): Lowered | string {
  const why = dtypeReason(n, L, [0, 1, 2]);
  if (why) return why;
  const [x, wName, bName] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2] ?? ''];
  const y = n.outputs[0]!;
  const W = { dims: L.dims(wName) }; // constant or fed: the kernels read ONNX's (M, C/g, KH, KW) as is
  if (bName && (L.dims(bName).length !== 1 || L.dims(bName)[0] !== W.dims[0])) return 'bias shape';
  const xd = L.dims(x),
    yd = L.dims(y);
  const nSp = xd.length - 2;
  if (nSp !== 1 && nSp !== 2) return `${nSp}-D convolution (the kernels are 1-D/2-D)`;
  const r = reader(n);
  const group = r.int('group', 1);
  const win = readWindowAttrs('Conv', r, nSp, W.dims.slice(2), false);
  const geo = windowGeometry(xd.slice(2), win);
  const [N, C] = [xd[0]!, xd[1]!];
  const M = W.dims[0]!;
  const two = <T>(v: T[], one: T): [T, T] => (nSp === 2 ? [v[0]!, v[1]!] : [one, v[0]!]);
  const [H, Wd] = two(xd.slice(2), 1);
  const [KH, KW] = two(win.kernel, 1);
  const [OH, OW] = two(yd.slice(2), 1);
  const [pt, pl] = two(geo.padBegin, 0);
  const [pb, pr] = two(geo.padEnd, 0);
  const [sh, sw] = two(win.strides, 1);
  const [dh, dw] = two(win.dilations, 1);
  // the kernels engineer's driver (src/kernels/f32.ts) picks the kernel and writes the geometry block
  const geom = convGeometry(
    [C, H, Wd],
    [M, W.dims[1]!, KH, KW],
    { pads: [pt, pl, pb, pr], strides: [sh, sw], dilations: [dh, dw], groups: group },
    fusedAct(n) ?? 'none',
  );
  if (geom.OH !== OH || geom.OW !== OW) return `conv geometry ${geom.OH}x${geom.OW} differs from the inferred ${OH}x${OW}`;
  const w = L.w;
  const plan = planConv(w, geom, undefined, (bytes) => L.mem.alloc(bytes));
  const { kernel, g } = plan;
  const xs = C * H * Wd * F32_BYTES,
    ys = M * OH * OW * F32_BYTES;
  // a threads build (SparrowWasm.pool): a depthwise conv in ranges of input channels, one call
  // per thread and image, each thread with its own workspace (argument 5: thread t adds t·wb)
  const pool = w.pool;
  const T = pool && pool.size > 1 && kernel.name === 'f32_dwconv__wasmsimd' ? Math.min(pool.size, C) : 1;
  const wb = Math.ceil(plan.workBytes / 16) * 16;
  if (T > 1) {
    const ranges = Array.from({ length: T }, (_, t) => [Math.floor((t * C) / T), Math.floor(((t + 1) * C) / T)] as const);
    return {
      kind: 'kernel',
      scratch: pool!.size * wb + pool!.jobBytes(T),
      build: (b) => {
        const xp = b.ptr(x),
          wp = b.ptr(wName),
          bp = bName ? b.ptr(bName) : 0,
          yp = b.ptr(y),
          s = b.scratch,
          job = s + pool!.size * wb;
        const calls = Array.from({ length: N }, (_, i) =>
          ranges.map(([c0, c1]) => ({ fn: 'f32_dwconv_part__wasmsimd' as const, args: [g, xp + i * xs, wp, bp, yp + i * ys, s, c0, c1] })),
        );
        return () => {
          for (let i = 0; i < N; i++) pool!.run(calls[i]!, job, { arg: 5, stride: wb });
        };
      },
    };
  }
  return {
    kind: 'kernel',
    scratch: plan.workBytes,
    build: (b) => {
      const xp = b.ptr(x),
        wp = b.ptr(wName),
        bp = bName ? b.ptr(bName) : 0,
        yp = b.ptr(y),
        s = b.scratch;
      return () => {
        for (let i = 0; i < N; i++) {
          if (kernel.run(w, g, xp + i * xs, wp, bp, yp + i * ys, s) < 0)
            throw new SparrowError('internal', `${kernel.name} rejected node '${n.name}'`);
        }
      };
    },
  };
}

export const CONV: Record<string, Lowering> = { Conv: lowerConv, FusedConv: lowerConv };
