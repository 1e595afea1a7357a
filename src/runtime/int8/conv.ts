// int8 Conv (and FusedConv), 2-D or 1-D (as 2-D of height 1): dense (qs8_conv2d_4x8c2), sparse (qs8_spconv2d_16x1, from the CSR as
// decoded, or qs8_spconv2d_16x1c2 over its non-empty k-pairs) or depthwise (qs8_dwconv2d), chosen
// per layer by weight and pair density; static (int8 in and
// out) or dynamic (input quantized per run, float32 out).
import { SparrowError } from '../../errors.js';
import { readWindowAttrs, windowGeometry } from '../../ops/ref/conv.js';
import type { Node } from '../../ir/graph.js';
import { convGeometry, type ConvGeometry } from '../../kernels/f32.js';
import {
  pickQs8ConvKernel,
  planQs8Conv,
  putChannelParams,
  QS8_CONV_C4,
  QS8_CONV_WINO4,
  setQuantAddDelta,
  C4_RELAXED_COST,
  wino4Cost,
  wino4Eligible,
  wino4Exact,
  wino4FewChannels,
  winogradFaster,
  vaddParams,
  type AnyQs8ConvKernel,
  type Qs8Out,
  type VaddParams,
} from '../../kernels/int8.js';
import type { QParams } from '../plan_builder.js';
import { qs8Conv2dRef } from '../../kernels/int8_ref.js';
import type { PlaceFormat } from '../engine_int8.js';
import type { ThreadCall, ThreadFn, ThreadPool } from '../../wasm/threads.js';
import { INT8_FUSED_ACTS } from '../../kernels/int8_act_ref.js';
import { actOf } from '../f32/lower.js';
import { dynFcFits, dynFcStep } from './fc.js';
import { align16, layerIo, reader, round3, type Int8Lower } from './lower.js';

/** why a depthwise conv of dynamic mode runs in float32 (a 'dynamic:' reason: not a fallback) */
export const DYNAMIC_DEPTHWISE = 'dynamic: depthwise conv in float32 (few MACs per output to average a second rounding of its input out)';

/**
 * Whether dynamic-mode convs apply Sigmoid / SiLU / HardSwish / HardSigmoid in the kernel's
 * float32 output stage (quant block Q_ACT) instead of a pass over the output after it. Off:
 * measured slower on the zoo's 1x1 shapes (node /tmp micro-benchmark, same build, interleaved,
 * min of 200, load ~9: 16→96 at 112x112 + SiLU 2.65 ms fused per Xcol chunk vs 2.33 kernel +
 * pass; per 8 outputs in the tiles 2.57 vs 2.36; 40→240 at 28x28 SiLU 0.47 vs 0.42; 24→88 at
 * 28x28 HardSwish 0.090 vs 0.088): the standalone pass streams one long array, the epilogue
 * works on short strided rows. The kernels keep the stage (tested bit for bit).
 */
export const FUSE_INT8_ACT = false;

export function lowerConv(n: Node, L: Int8Lower): string | true {
  const io = layerIo(n, L);
  if (typeof io === 'string') return io;
  const { x, wName, bName, y } = io;
  const xs1 = L.dims(x),
    ys1 = L.dims(y),
    ws1 = L.dims(wName);
  const oneD = xs1.length === 3;
  if (xs1.length !== 4 && !oneD) return `${xs1.length - 2}-D convolution (int8 kernels are 1-D and 2-D)`;
  const r = reader(n);
  const group = r.int('group', 1);
  const win = readWindowAttrs('Conv', r, oneD ? 1 : 2, ws1.slice(2), false);
  const geoW = windowGeometry(xs1.slice(2), win);
  // a 1-D convolution [B, C, L] runs as a 2-D one of height 1: [B, C, 1, L], kernel [M, C/g, 1, K]
  const h1 = (d: number[]): number[] => (oneD ? [d[0]!, d[1]!, 1, d[2]!] : d);
  const xd = h1(xs1),
    yd = h1(ys1),
    wd = h1(ws1);
  const two = (v: number[], one: number): [number, number] => (oneD ? [one, v[0]!] : [v[0]!, v[1]!]);
  const [pt, pl] = two(geoW.padBegin, 0),
    [pb, pr] = two(geoW.padEnd, 0);
  const [B, C, H, W] = xd as [number, number, number, number];
  const geo: ConvGeometry = convGeometry([C, H, W], wd, {
    pads: [pt, pl, pb, pr],
    strides: two(win.strides, 1),
    dilations: two(win.dilations, 1),
    groups: group,
  });
  if (geo.OH !== yd[2] || geo.OW !== yd[3]) return `conv geometry ${geo.OH}x${geo.OW} differs from the inferred ${yd[2]}x${yd[3]}`;
  // dynamic mode, depthwise: the float32 kernel runs it. Its input would be quantized per run
  // (per tensor) for KH·KW MACs per output; with the pair path the int8 kernel and that pass are
  // a little faster than float32 (MobileNetV3-Small 4.7 %, EfficientNet-B0 1.7 % of the whole
  // model), not worth the accuracy (docs/engine.md, "Where the ratio stops on plain SIMD")
  if (geo.groups === geo.C && !L.ranges && L.E.requant !== 'onnx' && L.form.get(x) === 'f32') return DYNAMIC_DEPTHWISE;
  const w = L.E.weight(L, wName, 0);
  const bias = L.biasOf(bName, w.N);
  if (typeof bias === 'string') return bias;
  const M = w.N,
    K = w.K;
  const density = w.nnz / (M * K);
  const E = L.E;
  // a dense conv whose weights fit in [−64, 63]: the k-quad kernel (relaxed SIMD, exact; it
  // keeps precedence over Winograd, which is not measured against the relaxed dot product)
  const c4 = !L.scalar && E.relaxedConv && w.i7();
  // pair density: non-empty aligned k-pairs / (M·ceil(K/2)), counted only for sparse candidates
  const pairDensity = (): number => w.pairs() / (M * ((K + 1) >> 1));
  // F(4x4) would run a Winograd choice whatever the weights and zero point (Σ|w| ≤ 128·K within its
  // bound: Cin ≤ 114): at tier 1 the sparse kernels are priced against it; at tier 0 a layer
  // whose choice would change then is noted (the engine compiles again after tierUpRuns runs)
  const sure4 = !L.scalar && !c4 && E.winograd4 && wino4Eligible(geo) && wino4Exact(128 * K);
  const picked: AnyQs8ConvKernel = pickQs8ConvKernel(geo, density, E.sparseDensity, pairDensity, E.winograd, c4, sure4 && E.tier4);
  if (sure4 && !E.tier4 && picked.weights !== pickQs8ConvKernel(geo, density, E.sparseDensity, pairDensity, E.winograd, c4, true).weights)
    E.noteTierCandidate();
  let kernel: AnyQs8ConvKernel = picked.weights === 'c2' && c4 ? QS8_CONV_C4 : picked;
  const st = L.outputStage(n, x, y, w, bias);
  const { xin, dynamic, out } = st;
  // Winograd F(4x4, 3x3) instead of F(2x2, 3x3) where its geometry allows and it is exact for
  // these weights and this input zero point (dynamic mode: each image has its own, so the widest
  // input range is assumed): at once when even |w| = 128 everywhere would be (Σ|w| ≤ 128·K: up to
  // Cin 114), else on the weights' own max Σ|w| (a scan, or a decode in WASM and a scan). Also
  // instead of the relaxed k-quad kernel (c4) where the cost model says F(4x4) is faster (Cin ≥ 16:
  // 36 i16 multiplies per 16 outputs against 144 i8 ones; docs/engine.md, relaxed SIMD)
  const zx = dynamic ? undefined : out.zx;
  const wino4 = (): boolean =>
    !L.scalar && E.winograd4 && wino4Eligible(geo) && (wino4Exact(128 * w.K, zx) || wino4Exact(w.absRowMax(), zx));
  if (kernel.name === 'qs8_wino2x2_3x3__wasmsimd' && wino4()) kernel = QS8_CONV_WINO4;
  else if (kernel === QS8_CONV_C4 && E.winograd && winogradFaster(geo) && wino4Cost(geo) < C4_RELAXED_COST && wino4())
    kernel = QS8_CONV_WINO4;
  // and a dense conv of 3 to 7 input channels (a network's first layer), which F(2x2) does not take
  else if (kernel.name === 'qs8_conv2d_4x8c2__wasmsimd' && !L.scalar && E.winograd && E.winograd4 && wino4FewChannels(geo) && wino4())
    kernel = QS8_CONV_WINO4;
  // dynamic, a 1x1 kernel over a 1x1 image (the FCs of a squeeze-excite block): the fused FC
  // kernel (one call: quantization, GEMM over K, float32 output), not 4x8 tiles with 7 of their 8
  // pixels empty after a separate quantization; the same arithmetic (bit-identical outputs)
  const fcShape = geo.KH === 1 && geo.KW === 1 && H * W === 1 && geo.OH * geo.OW === 1 && group === 1 && geo.pads.every((p) => p === 0);
  if (fcShape && dynFcFits(L, B, C, dynamic, out, false))
    return dynFcStep(n, L, { xin, y, M: B, K: C, w, out, post: L.postActivation(n), io: st.io, density });
  // an activation other than a clamp: a pass over the output after the kernel (postActivation),
  // or, with FUSE_INT8_ACT, in the kernel's float32 output stage (Sigmoid, SiLU, HardSwish,
  // HardSigmoid: the same float32 ops, bit-identical outputs)
  const [act, p0, p1] = actOf(n);
  const fused = FUSE_INT8_ACT && out.mode === 'f32' && INT8_FUSED_ACTS.has(act);
  if (fused) out.act = { code: act, p0, p1 };
  const post = fused ? undefined : L.postActivation(n);
  if (post && out.mode !== 'f32') return 'an activation other than a clamp on an int8 output';
  // a residual Add reading this conv's int8 output (and only it reads it): in the output stage
  const q8 = out.mode === 'int8' || out.mode === 'qlinear';
  const fa = !L.scalar && !dynamic && !post && q8 ? residualAdd(L, y) : undefined;
  if (fa && q8) {
    out.add = fa.params;
    L.skip.add(fa.add);
    if (fa.relu) L.skip.add(fa.relu);
    L.define(fa.out, 'i8', fa.qp);
  }
  const yOut = fa ? fa.out : y;
  const WM = L.w;
  const plan = planQs8Conv(WM, geo, out, kernel, L.alloc);
  const wpl = L.scalar ? undefined : E.placed(w, kernel.weights as PlaceFormat, group);
  const qp = putChannelParams(WM, out, L.alloc);
  const xs = C * H * W,
    ys = M * geo.OH * geo.OW,
    yb = out.mode === 'f32' ? 4 : 1;
  L.layer(
    {
      node: n.name,
      op: n.op,
      kernel: L.scalar ? 'qs8Conv2dRef' : kernel.name,
      density: round3(density),
      io: st.io,
      ...(fa ? { add: fa.relu ? `${fa.add.name}+${fa.relu.name}` : fa.add.name } : {}),
    },
    wpl,
  );
  const attrs = { pads: geo.pads, strides: geo.strides, dilations: geo.dilations, groups: group };
  // threads (a threads build with helpers: SparrowWasm.pool), on the WASM kernels. Dynamic mode
  // quantizes one image at a time (its range and zero point written into q / qp before its
  // kernel runs): each image then runs in parts of its own (split1), or the whole batch at once
  // when it is one quantization block (requant 'onnx')
  const pool = L.scalar ? undefined : L.w.pool;
  const split = pool && pool.size > 1 ? threadSplit(pool, kernel, geo, B, plan.workBytes) : undefined;
  const split1 = split && dynamic && B > 1 ? threadSplit(pool!, kernel, geo, 1, plan.workBytes) : undefined;
  L.layerStep(n, xin, yOut, {
    workBytes: split ? split.workBytes : plan.workBytes,
    zx: out.zx,
    // dynamic: each image of the batch quantized with its own range
    ...(dynamic ? { dynamic: { ...L.dynamicItems(B, xs), sw: w.scales, q: plan.q, qp } } : {}),
    ...(fa ? { reads: [fa.other], label: `${n.name}+${fa.add.name}${fa.relu ? `+${fa.relu.name}` : ''}` } : {}),
    make: (yp, work, ptr) => {
      // the Add's other input sits at the same offset from every output element (same layout)
      if (fa) setQuantAddDelta(WM, plan.q, ptr(fa.other) - yp);
      const dense = L.scalar ? w.dense() : undefined;
      const wp = wpl ? wpl.ptr : 0;
      const image = (src: number, zx: number, dyn: boolean, i: number): void => {
        if (dense) {
          const o: Qs8Out = out.mode === 'f32' && dyn ? { ...out, zx, scale: WM.f32(qp, M).slice() } : out;
          const r = qs8Conv2dRef(WM.i8(src, xs), [C, H, W], dense, wd, attrs, o);
          if (out.mode !== 'f32') WM.i8(yp + i * ys, ys).set(r.data as Int8Array);
          else WM.f32(yp + i * ys * 4, ys).set(r.data as Float32Array);
        } else {
          const s = kernel.run(WM, plan.g, plan.q, src, wp, qp, yp + i * ys * yb, work);
          if (s < 0) throw new SparrowError('internal', `${kernel.name} rejected node '${n.name}' (status ${s})`);
        }
        post?.(yp + i * ys * 4, ys);
      };
      if (split && wpl) {
        // argument 6, the workspace: thread t adds t·wb
        const run = split.runner((src, i) => [plan.g, plan.q, src + i * xs, wpl.ptr, qp, yp + i * ys * yb, work], work);
        // dynamic, one image (`item`) per call: its own runner (the calls cached per output image)
        const one = split1
          ? Array.from({ length: B }, (_, i) => split1.runner((src) => [plan.g, plan.q, src, wpl.ptr, qp, yp + i * ys * yb, work], work))
          : undefined;
        return (src, _zx, _dyn, item) => {
          if (item !== undefined && one) {
            one[item]!(src);
            post?.(yp + item * ys * 4, ys);
            return;
          }
          run(src);
          if (post) for (let i = 0; i < B; i++) post(yp + i * ys * 4, ys);
        };
      }
      return (src, zx, dyn, item) => {
        if (item !== undefined) image(src, zx, dyn, item);
        else for (let i = 0; i < B; i++) image(src + i * xs, zx, dyn, i);
      };
    },
  });
  return true;
}

/**
 * The residual Add that a conv writing int8 value `y` can run in its output stage
 * (Qs8Out.add), with the Relu after it: the Add is y's only reader (y is no graph output), its
 * other input is an int8 value of the same shape already computed, and its (or the Relu's)
 * output has static parameters that qs8_vadd's single-multiplier form can hold (the Add's own
 * lowering takes the TFLite form otherwise: not fused). Int8EngineOptions.fuseAdd false: none.
 */
function residualAdd(
  L: Int8Lower,
  y: string,
): { add: Node; relu?: Node; other: string; out: string; qp: QParams; params: VaddParams } | undefined {
  if (!L.E.fuseAdd || L.E.requant === 'onnx' || L.g.outputs.includes(y)) return undefined;
  const users = L.users.get(y) ?? [];
  const add = users[0];
  if (users.length !== 1 || !add || add.op !== 'Add' || add.domain !== '' || add.inputs.length !== 2) return undefined;
  const [a, b] = add.inputs as [string, string];
  if (a === b) return undefined;
  const other = a === y ? b : a;
  const sum = add.outputs[0]!;
  const d = L.dims(y);
  const od = L.dims(other),
    sd = L.dims(sum);
  if (od.length !== d.length || !od.every((x, i) => x === d[i]) || sd.length !== d.length || !sd.every((x, i) => x === d[i]))
    return undefined;
  if (L.form.get(other) !== 'i8') return undefined;
  const pa = L.qp.get(y),
    pb = L.qp.get(other);
  if (!pa || !pb) return undefined;
  // the Relu after it, when it is the sum's only reader (lowerAdd's rule)
  let relu: Node | undefined;
  const su = L.users.get(sum) ?? [];
  if (su.length === 1 && su[0]!.op === 'Relu' && su[0]!.domain === '' && !L.g.outputs.includes(sum)) relu = su[0]!;
  const out = relu ? relu.outputs[0]! : sum;
  if (L.outForm(out) !== 'i8') return undefined;
  const qp = L.rangeQp(out);
  if (!qp) return undefined;
  let params: VaddParams;
  try {
    params = vaddParams(pa.scale, pa.zp, pb.scale, pb.zp, qp.scale, qp.zp, !!relu);
  } catch {
    return undefined;
  }
  return { add, ...(relu ? { relu } : {}), other, out, qp, params };
}

/**
 * The range variant of a conv kernel: its units of work for a geometry (panels of 8 output
 * pixels; Winograd: panels of 8 output tiles of 2x2), its name and the arguments after the
 * whole kernel's for the units [u0, u1).
 */
interface PartKernel {
  units(geo: ConvGeometry): number;
  fn: ThreadFn;
  extra(geo: ConvGeometry, u0: number, u1: number): number[];
}
const pixelPanels = (geo: ConvGeometry): number => Math.ceil((geo.OH * geo.OW) / 8);
const pixelRange = (geo: ConvGeometry, u0: number, u1: number): number[] => [u0 * 8, Math.min(geo.OH * geo.OW, u1 * 8)];
const superPanels = (geo: ConvGeometry): number => Math.ceil((geo.OH * geo.OW) / 16);
const superRange = (geo: ConvGeometry, u0: number, u1: number): number[] => [u0 * 16, Math.min(geo.OH * geo.OW, u1 * 16)];
const PARTS: Record<string, PartKernel> = {
  [QS8_CONV_C4.name]: {
    units: pixelPanels,
    fn: 'qs8_conv2d_4x8c4_part__wasmrelaxed',
    extra: (geo, u0, u1) => [0, geo.M / geo.groups, ...pixelRange(geo, u0, u1)],
  },
  qs8_conv2d_4x8c2__wasmsimd: { units: pixelPanels, fn: 'qs8_conv2d_4x8c2_part__wasmsimd', extra: pixelRange },
  // super-panels of 16 pixels (assembly/int8/sparse.ts)
  qs8_spconv2d_16x1__wasmsimd: { units: superPanels, fn: 'qs8_spconv2d_16x1_part__wasmsimd', extra: superRange },
  qs8_spconv2d_16x1c2__wasmsimd: { units: superPanels, fn: 'qs8_spconv2d_16x1c2_part__wasmsimd', extra: superRange },
  // panels of 8 tiles of 4x4 outputs × blocks of 4 output channels (assembly/int8/wino4.ts
  // qs8_wino4_units; OH % 4 == 0, OW % 8 == 0): the 8x8 stage of a CIFAR ResNet is one panel
  [QS8_CONV_WINO4.name]: {
    units: (geo) => Math.ceil(((geo.OH / 4) * (geo.OW / 4)) / 8) * Math.ceil(geo.M / 4),
    fn: 'qs8_wino4x4_3x3_part__wasmsimd',
    extra: (_geo, u0, u1) => [u0, u1],
  },
  // depthwise: ranges of input channels (each with its multiplier's output channels)
  qs8_dwconv2d__wasmsimd: { units: (geo) => geo.C, fn: 'qs8_dwconv2d_part__wasmsimd', extra: (_geo, u0, u1) => [u0, u1] },
  // panels of 8 tiles (assembly/int8/winograd.ts qs8_wino_panels)
  qs8_wino2x2_3x3__wasmsimd: {
    units: (geo) => Math.ceil((Math.ceil(geo.OH / 2) * Math.ceil(geo.OW / 2)) / 8),
    fn: 'qs8_wino2x2_3x3_part__wasmsimd',
    extra: (_geo, u0, u1) => [u0, u1],
  },
};

/**
 * How a conv layer of a batch of B images splits over a pool of T threads. A kernel with a range
 * variant (PARTS: panels of 8 pixels for c4 / c2, super-panels of 16 for the sparse kernels,
 * panels of Winograd tiles, input channels for depthwise) runs the first B − T images (B ≥ T) as
 * one call each and the last T images (all of them when B < T) in T parts each, split evenly
 * (fewer parts when there are fewer units than threads), so the layer ends on short calls; a
 * kernel without one runs one call per image. The threads claim the calls
 * (src/wasm/threads.ts), each with its own kernel workspace (`wb` bytes apart); the job follows
 * the T workspaces.
 */
export function threadSplit(
  pool: ThreadPool,
  kernel: AnyQs8ConvKernel,
  geo: ConvGeometry,
  B: number,
  workBytes: number,
): {
  wb: number;
  workBytes: number;
  runner(args: (src: number, i: number) => number[], work: number): (src: number) => void;
} {
  const T = pool.size;
  const wb = align16(workBytes);
  const part = PARTS[kernel.name];
  const NP = part ? part.units(geo) : 1;
  const parts = part !== undefined ? Math.min(T, NP) : 1;
  // images [0, whole) run as one call each; the rest in `parts` calls (B ≥ T: the last T images,
  // so that the layer's last calls are short and the join waits for at most a part)
  const whole = parts === 1 ? B : B >= T ? B - T : 0;
  const callsOf = (args: (src: number, i: number) => number[], src: number): ThreadCall[] => {
    const calls: ThreadCall[] = [];
    for (let i = 0; i < B; i++) {
      if (i < whole) {
        calls.push({ fn: kernel.name as ThreadFn, args: args(src, i) });
        continue;
      }
      // units split evenly (the first parts take the smaller halves)
      for (let t = 0; t < parts; t++) {
        const u0 = Math.floor((t * NP) / parts),
          u1 = Math.floor(((t + 1) * NP) / parts);
        calls.push({ fn: part!.fn, args: [...args(src, i), ...part!.extra(geo, u0, u1)] });
      }
    }
    return calls;
  };
  const jobB = align16(pool.jobBytes(whole + (B - whole) * parts));
  return {
    wb,
    workBytes: T * wb + jobB,
    runner(args, work) {
      const at = work + T * wb;
      const stride = { arg: 6, stride: wb };
      let last = -1;
      let calls: ThreadCall[] = [];
      return (src) => {
        if (src !== last) {
          calls = callsOf(args, src);
          last = src;
        }
        pool.run(calls, at, stride);
      };
    },
  };
}
