// `node dist/bench/kernels.js`: float32 WASM kernel throughput on the ResNet-20 (CIFAR-10,
// 32x32, batch 1) conv shapes. Per shape: the conv kernels (indirect GEMM, fused bias and
// ReLU) and every GEMM kernel on the same M×N×K with B already packed (the GEMM alone); plus a
// measured WASM SIMD f32 peak (independent f32x4 mul+add chains, no loads)
// and the whole ResNet-20 conv stack (19 convs run as one sequence). GMAC/s = multiply-adds per
// second. Contenders of a table are interleaved, median of rounds (timing.ts). `--json` prints
// one JSON document; `--rounds N` changes the rounds; `--int8` runs only the int8 section.
//
// int8 section: per ResNet-20 conv shape (bias + ReLU fused, int8 requantized output), the
// dense int8 conv (im2col + 4x8c2 GEMM), the int8 GEMM alone on a packed Xcol, the sparse int8
// conv on random CSR weights at density 0.3 and 0.1 (70 % / 90 % sparsity; GMAC/s counted as
// the dense M·N·K, i.e. effective), and the f32 conv (indirect GEMM) on the same shape, all
// interleaved; beside the measured int8 peak (independent dot_i16x8_s + add chains, no loads).
import { loadWasmNode } from '../wasm/node.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import { F32_CONV_KERNELS, F32_GEMM_KERNELS, convGeometry, planConv, runConv } from '../kernels/f32.js';
import type { Conv2dAttrs } from '../kernels/f32_ref.js';
import { interleave, median } from './timing.js';
import {
  placeConvWeights,
  planQs8Conv,
  putChannelParams,
  qs8ConvKernel,
  QS8_CONV_KERNELS,
  winogradEligible,
  type Qs8Out,
} from '../kernels/int8.js';
import { quantizeMultiplier } from '../quant/int8.js';

export interface ConvShape {
  name: string;
  cin: number;
  cout: number;
  hw: number;
  stride: number;
  count: number;
}

/** The distinct conv shapes of ResNet-20 (3x3, pads 1) and how often each occurs. */
export const RESNET20_CONVS: ConvShape[] = [
  { name: '3→16 32x32', cin: 3, cout: 16, hw: 32, stride: 1, count: 1 },
  { name: '16→16 32x32', cin: 16, cout: 16, hw: 32, stride: 1, count: 6 },
  { name: '16→32 s2', cin: 16, cout: 32, hw: 32, stride: 2, count: 1 },
  { name: '32→32 16x16', cin: 32, cout: 32, hw: 16, stride: 1, count: 5 },
  { name: '32→64 s2', cin: 32, cout: 64, hw: 16, stride: 2, count: 1 },
  { name: '64→64 8x8', cin: 64, cout: 64, hw: 8, stride: 1, count: 5 },
];

export interface ShapeResult {
  shape: string;
  M: number;
  N: number;
  K: number;
  macs: number;
  /** GMAC/s per kernel name (conv kernels on the conv; GEMM kernels on the packed-B GEMM) */
  gmacs: Record<string, number>;
  /** the default conv kernel (pickConvKernel) and its µs per conv */
  conv_kernel: string;
  conv_us: number;
}

export interface KernelBench {
  peak_gmacs: number;
  shapes: ShapeResult[];
  /** depthwise 3x3 (pads 1) shapes: GMAC/s per conv kernel */
  depthwise: Array<{ shape: string; gmacs: Record<string, number> }>;
  resnet20: { convs: number; macs: number; total_ms: number; gmacs: number };
  int8?: Int8Bench;
}

export interface Int8ShapeResult {
  shape: string;
  M: number;
  N: number;
  K: number;
  macs: number;
  /** GMAC/s per contender (sparse: effective, dense-equivalent MACs) */
  gmacs: Record<string, number>;
  /** µs per call per contender */
  us: Record<string, number>;
  /** dense int8 conv / f32 conv, sparse (best tile) at density 0.3 and 0.1 / dense int8 conv, dense int8 GEMM / int8 peak */
  ratios: { int8_vs_f32: number; sparse70_vs_dense: number; sparse90_vs_dense: number; gemm_vs_peak: number; conv_vs_peak: number };
}

export interface Int8Bench {
  peak_gmacs: number;
  shapes: Int8ShapeResult[];
  /** sums over the 19 ResNet-20 convs (count-weighted): µs per image for each contender */
  resnet20_us: Record<string, number>;
}

function attrs(stride: number): Conv2dAttrs {
  return { pads: [1, 1, 1, 1], strides: [stride, stride], dilations: [1, 1], groups: 1 };
}

function fill(w: SparrowWasm, ptr: number, n: number, seed: number): void {
  const v = w.f32(ptr, n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2 ** 31 - 1;
  }
}

/** GMAC/s of the peak loop (96 f32x4 mul+add per iteration, 4 lanes each). */
function peak(w: SparrowWasm, rounds: number): number {
  const iters = 2_000_000;
  w.exports.f32_peak__wasmsimd(1000);
  const t = interleave(
    [
      {
        name: 'peak',
        run: () => {
          w.exports.f32_peak__wasmsimd(iters);
        },
      },
    ],
    rounds,
    50,
  ).get('peak')!;
  return (iters * 24 * 4) / t / 1e9;
}

export async function runKernelBench(opts: { rounds?: number } = {}): Promise<KernelBench> {
  const rounds = opts.rounds ?? 15;
  const w = await loadWasmNode('release');
  const int8 = int8Bench(w, rounds);
  const peak_gmacs = peak(w, rounds);
  const shapes: ShapeResult[] = [];
  const convKernels = F32_CONV_KERNELS.filter((k) => k.name !== 'f32_dwconv__wasmsimd');
  for (const s of RESNET20_CONVS) {
    const mark = w.mark();
    const geo = convGeometry([s.cin, s.hw, s.hw], [s.cout, s.cin, 3, 3], attrs(s.stride), 'relu');
    const M = s.cout,
      N = geo.OH * geo.OW,
      K = s.cin * 9,
      macs = M * N * K;
    const plans = convKernels.filter((k) => k.supports(geo)).map((k) => planConv(w, geo, k));
    const x = w.alloc(s.cin * s.hw * s.hw * 4),
      wt = w.alloc(M * K * 4),
      bias = w.alloc(M * 4),
      y = w.alloc(M * N * 4);
    const work = w.alloc(Math.max(...plans.map((p) => p.workBytes)));
    const bp = w.alloc(w.exports.f32_packed_b_size(K, N) * 4);
    fill(w, x, s.cin * s.hw * s.hw, 1);
    fill(w, wt, M * K, 2);
    fill(w, bias, M, 3);
    fill(w, bp, w.exports.f32_packed_b_size(K, N), 4);
    const contenders = [
      ...plans.map((p) => ({ name: p.kernel.name, run: () => runConv(w, p, x, wt, bias, y, work) })),
      ...F32_GEMM_KERNELS.map((k) => ({ name: k.name, run: () => k.run(w, M, N, K, wt, K, bp, y, N, bias, 1, 1, 0, Infinity) })),
    ];
    const t = interleave(contenders, rounds);
    const gmacs: Record<string, number> = {};
    for (const c of contenders) gmacs[c.name] = round1(macs / t.get(c.name)! / 1e9);
    const def = planConv(w, geo).kernel.name; // the default kernel for this geometry
    shapes.push({
      shape: s.name,
      M,
      N,
      K,
      macs,
      gmacs,
      conv_kernel: def,
      conv_us: round1(t.get(def)! * 1e6),
    });
    w.release(mark);
  }
  return { peak_gmacs: round1(peak_gmacs), shapes, depthwise: depthwise(w, rounds), resnet20: resnet20Stack(w, rounds), int8 };
}

/** GMAC/s of the int8 peak loop (24 dot_i16x8_s per iteration, 8 MACs each). */
function int8Peak(w: SparrowWasm, rounds: number): number {
  const iters = 2_000_000;
  w.exports.qs8_peak__wasmsimd(1000);
  const t = interleave(
    [
      {
        name: 'peak',
        run: () => {
          w.exports.qs8_peak__wasmsimd(iters);
        },
      },
    ],
    rounds,
    50,
  ).get('peak')!;
  return (iters * 24 * 8) / t / 1e9;
}

/** Random int8 (M, K) weights with the given density (nonzeros uniform in ±[1, 127]). */
function randomInt8Weights(M: number, K: number, density: number, seed: number): Int8Array {
  let s = seed >>> 0;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return Int8Array.from({ length: M * K }, () => {
    if (rnd() >= density) return 0;
    const v = Math.floor(rnd() * 254) - 127;
    return v === 0 ? 1 : v;
  });
}

export const INT8_DENSE = 'qs8_conv2d_4x8c2__wasmsimd';
export const INT8_WINO = 'qs8_wino2x2_3x3__wasmsimd';
export const INT8_GEMM = 'qs8_gemm_4x8c2__wasmsimd (GEMM alone)';
export const F32_CONV = 'f32_conv2d_igemm_4x8__wasmsimd';

/** The int8 section (see the header). */
export function int8Bench(w: SparrowWasm, rounds: number): Int8Bench {
  const peak_gmacs = int8Peak(w, rounds);
  // the sparse conv kernels (nonzero pairs over the CSR)
  const sparseKernels = QS8_CONV_KERNELS.filter((k) => k.weights === 'csr16');
  const shapes: Int8ShapeResult[] = [];
  const resnet20_us: Record<string, number> = {};
  for (const s of RESNET20_CONVS) {
    const mark = w.mark();
    const geo = convGeometry([s.cin, s.hw, s.hw], [s.cout, s.cin, 3, 3], attrs(s.stride), 'relu');
    const M = s.cout,
      N = geo.OH * geo.OW,
      K = s.cin * 9,
      macs = M * N * K;
    // int8 output, ReLU fused (lo = zy), per-channel multipliers ~ s_x·s_w/s_y
    const out: Qs8Out = {
      mode: 'int8',
      zx: -3,
      zy: -128,
      lo: -128,
      hi: 127,
      bias: Int32Array.from({ length: M }, (_, i) => ((i * 7919) % 2000) - 1000),
      multiplier: new Int32Array(M),
      shift: new Int32Array(M),
    };
    for (let c = 0; c < M; c++) {
      const q = quantizeMultiplier(0.0005 * (1 + c / M));
      out.multiplier[c] = q.multiplier;
      out.shift[c] = q.shift;
    }
    const x = w.alloc(s.cin * s.hw * s.hw);
    {
      const v = w.i8(x, s.cin * s.hw * s.hw);
      let r = 5;
      for (let i = 0; i < v.length; i++) {
        r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
        v[i] = (r >>> 24) - 128;
      }
    }
    const qp = putChannelParams(w, out);
    const dense = qs8ConvKernel(INT8_DENSE);
    const dPlan = planQs8Conv(w, geo, out, dense);
    const wDense = randomInt8Weights(M, K, 1, 11);
    const wp = placeConvWeights(w, 'c2', wDense, M, K);
    const y = w.alloc(M * N * 4);
    const contenders: Array<{ name: string; run: () => void; macs: number }> = [];
    // f32 conv on the same shape
    const fPlan = planConv(
      w,
      geo,
      F32_CONV_KERNELS.find((k) => k.name === F32_CONV),
    );
    const fx = w.alloc(s.cin * s.hw * s.hw * 4),
      fw = w.alloc(M * K * 4),
      fb = w.alloc(M * 4);
    fill(w, fx, s.cin * s.hw * s.hw, 1);
    fill(w, fw, M * K, 2);
    fill(w, fb, M, 3);
    // the exact Winograd F(2x2, 3x3) kernel on the stride-1 shapes (same weights)
    const wino = winogradEligible(geo) ? qs8ConvKernel(INT8_WINO) : undefined;
    const wPlan = wino ? planQs8Conv(w, geo, out, wino) : undefined;
    const wpWino = wino ? placeConvWeights(w, 'wino', wDense, M, K) : 0;
    let maxWork = Math.max(dPlan.workBytes, fPlan.workBytes, wPlan?.workBytes ?? 0);
    const sparsePlans = sparseKernels.flatMap((k) =>
      [0.3, 0.1].map((d) => {
        const plan = planQs8Conv(w, geo, out, k);
        maxWork = Math.max(maxWork, plan.workBytes);
        return {
          name: `${k.name} d=${d}`,
          plan,
          sp: placeConvWeights(w, k.weights, randomInt8Weights(M, K, d, 20 + Math.round(d * 10)), M, K),
        };
      }),
    );
    const xp = w.alloc(w.exports.qs8_packed_x_bytes(K, N));
    w.u8(xp, w.exports.qs8_packed_x_bytes(K, N)).fill(3);
    const work = w.alloc(maxWork);
    contenders.push({ name: F32_CONV, run: () => runConv(w, fPlan, fx, fw, fb, y, work), macs });
    contenders.push({
      name: INT8_DENSE,
      run: () => {
        dense.run(w, dPlan.g, dPlan.q, x, wp, qp, y, work);
      },
      macs,
    });
    if (wino && wPlan)
      contenders.push({
        name: INT8_WINO,
        run: () => {
          wino.run(w, wPlan.g, wPlan.q, x, wpWino, qp, y, work);
        },
        macs,
      });
    contenders.push({
      name: INT8_GEMM,
      run: () => {
        w.exports.qs8_gemm_4x8c2__wasmsimd(M, N, K, wp, xp, dPlan.q, qp, y, N);
      },
      macs,
    });
    for (const p of sparsePlans)
      contenders.push({
        name: p.name,
        run: () => {
          p.plan.kernel.run(w, p.plan.g, p.plan.q, x, p.sp, qp, y, work);
        },
        macs,
      });
    const t = interleave(contenders, rounds);
    const gmacs: Record<string, number> = {},
      us: Record<string, number> = {};
    for (const c of contenders) {
      gmacs[c.name] = round1(c.macs / t.get(c.name)! / 1e9);
      us[c.name] = round1(t.get(c.name)! * 1e6);
      resnet20_us[c.name] = (resnet20_us[c.name] ?? 0) + t.get(c.name)! * 1e6 * s.count;
    }
    const best = (d: number) => Math.min(...sparseKernels.map((k) => t.get(`${k.name} d=${d}`)!));
    const td = t.get(INT8_DENSE)!;
    shapes.push({
      shape: s.name,
      M,
      N,
      K,
      macs,
      gmacs,
      us,
      ratios: {
        int8_vs_f32: round2(t.get(F32_CONV)! / td),
        sparse70_vs_dense: round2(td / best(0.3)),
        sparse90_vs_dense: round2(td / best(0.1)),
        gemm_vs_peak: round2(macs / t.get(INT8_GEMM)! / 1e9 / peak_gmacs),
        conv_vs_peak: round2(macs / td / 1e9 / peak_gmacs),
      },
    });
    w.release(mark);
  }
  for (const k of Object.keys(resnet20_us)) resnet20_us[k] = round1(resnet20_us[k]!);
  return { peak_gmacs: round1(peak_gmacs), shapes, resnet20_us };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function int8Table(r: Int8Bench): string {
  const names = Object.keys(r.shapes[0]!.gmacs);
  const short = (n: string) =>
    n.replace('__wasmsimd', '').replace('qs8_', '').replace('f32_conv2d_igemm_4x8', 'f32 igemm').replace(' (GEMM alone)', ' alone');
  const head = ['shape', 'M', 'N', 'K', ...names.map(short), 'int8/f32', 'sp70/dense', 'sp90/dense', 'gemm/peak', 'conv/peak'];
  const rows = r.shapes.map((s) =>
    [
      s.shape,
      s.M,
      s.N,
      s.K,
      ...names.map((n) => s.gmacs[n] ?? '-'),
      s.ratios.int8_vs_f32,
      s.ratios.sparse70_vs_dense,
      s.ratios.sparse90_vs_dense,
      s.ratios.gemm_vs_peak,
      s.ratios.conv_vs_peak,
    ].map(String),
  );
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => '| ' + row.map((x, i) => x.padStart(w[i]!)).join(' | ') + ' |';
  return [line(head), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

/** Depthwise 3x3 convs (MobileNet-like sizes): every conv kernel, interleaved. */
function depthwise(w: SparrowWasm, rounds: number): KernelBench['depthwise'] {
  const out: KernelBench['depthwise'] = [];
  for (const [C, hw, s] of [
    [32, 32, 1],
    [96, 56, 1],
    [128, 8, 1],
    [32, 32, 2],
  ] as const) {
    const mark = w.mark();
    const geo = convGeometry([C, hw, hw], [C, 1, 3, 3], { ...attrs(s), groups: C }, 'relu');
    const plans = F32_CONV_KERNELS.map((k) => planConv(w, geo, k));
    const x = w.alloc(C * hw * hw * 4),
      wt = w.alloc(C * 9 * 4),
      bias = w.alloc(C * 4),
      y = w.alloc(C * geo.OH * geo.OW * 4);
    const work = w.alloc(Math.max(...plans.map((p) => p.workBytes)));
    fill(w, x, C * hw * hw, 1);
    fill(w, wt, C * 9, 2);
    fill(w, bias, C, 3);
    const t = interleave(
      plans.map((p) => ({ name: p.kernel.name, run: () => runConv(w, p, x, wt, bias, y, work) })),
      rounds,
    );
    const macs = C * geo.OH * geo.OW * 9;
    out.push({
      shape: `dw ${C}ch ${hw}x${hw}${s > 1 ? ' s' + s : ''}`,
      gmacs: Object.fromEntries([...t].map(([n, v]) => [n, round1(macs / v / 1e9)])),
    });
    w.release(mark);
  }
  return out;
}

/**
 * The 19 convs of ResNet-20 one after the other, each reading the previous one's output
 * (ping-pong buffers; the shortcut adds and pooling are not part of it), bias + ReLU fused.
 */
function resnet20Stack(w: SparrowWasm, rounds: number): KernelBench['resnet20'] {
  const mark = w.mark();
  const layers: Array<{ plan: ReturnType<typeof planConv>; wt: number; bias: number }> = [];
  let macs = 0,
    maxAct = 0,
    maxWork = 0;
  for (const s of RESNET20_CONVS) {
    for (let i = 0; i < s.count; i++) {
      // the first conv of a stage-changing shape takes the previous stage's channels
      const geo = convGeometry([s.cin, s.hw, s.hw], [s.cout, s.cin, 3, 3], attrs(s.stride), 'relu');
      const plan = planConv(w, geo);
      const K = geo.C * 9;
      const wt = w.alloc(geo.M * K * 4),
        bias = w.alloc(geo.M * 4);
      fill(w, wt, geo.M * K, 10 + layers.length);
      fill(w, bias, geo.M, 50 + layers.length);
      // scale weights so activations stay O(1) through 19 layers
      const v = w.f32(wt, geo.M * K);
      for (let j = 0; j < v.length; j++) v[j] = v[j]! * Math.sqrt(2 / K);
      layers.push({ plan, wt, bias });
      macs += geo.M * geo.OH * geo.OW * K;
      maxAct = Math.max(maxAct, geo.C * geo.H * geo.W, geo.M * geo.OH * geo.OW);
      maxWork = Math.max(maxWork, plan.workBytes);
    }
  }
  const a = w.alloc(maxAct * 4),
    b = w.alloc(maxAct * 4),
    work = w.alloc(maxWork);
  fill(w, a, 3 * 32 * 32, 7);
  const input = w.f32(a, 3 * 32 * 32).slice();
  const forward = () => {
    w.f32(a, input.length).set(input);
    let src = a,
      dst = b;
    for (const l of layers) {
      runConv(w, l.plan, src, l.wt, l.bias, dst, work);
      [src, dst] = [dst, src];
    }
  };
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) forward();
  for (let r = 0; r < Math.max(rounds, 5) * 4; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) forward();
    samples.push((performance.now() - t0) / 10);
  }
  const ms = median(samples);
  w.release(mark);
  return { convs: layers.length, macs, total_ms: Math.round(ms * 1000) / 1000, gmacs: round1(macs / (ms / 1000) / 1e9) };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function table(r: KernelBench): string {
  const names = [...new Set(r.shapes.flatMap((s) => Object.keys(s.gmacs)))];
  const head = ['shape', 'M', 'N', 'K', ...names.map((n) => n.replace('__wasmsimd', '')), 'default conv', 'µs'];
  const rows = r.shapes.map((s) =>
    [
      s.shape,
      s.M,
      s.N,
      s.K,
      ...names.map((n) => s.gmacs[n] ?? '-'),
      s.conv_kernel.replace('f32_conv2d_', '').replace('__wasmsimd', ''),
      s.conv_us,
    ].map(String),
  );
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => '| ' + row.map((x, i) => x.padStart(w[i]!)).join(' | ') + ' |';
  return [line(head), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const ri = argv.indexOf('--rounds');
  const rounds = ri >= 0 ? Number(argv[ri + 1]) : undefined;
  if (argv.includes('--int8')) {
    const r8 = int8Bench(await loadWasmNode('release'), rounds ?? 15);
    if (argv.includes('--json')) process.stdout.write(JSON.stringify({ int8: r8 }) + '\n');
    else process.stdout.write(int8Text(r8));
    return 0;
  }
  const r = await runKernelBench({ rounds });
  if (argv.includes('--json')) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return 0;
  }
  process.stdout.write(
    'GMAC/s (multiply-adds/s), batch 1, fp32, release build, single thread. Conv columns (bias + ReLU fused):\n' +
      'conv2d_igemm_4x8 = indirect GEMM (default); GEMM columns: the same M×N×K with B pre-packed (no padding copy).\n' +
      'µs: the default conv.\n',
  );
  process.stdout.write(table(r) + '\n');
  process.stdout.write(
    'Depthwise 3x3 (GMAC/s): ' +
      r.depthwise
        .map(
          (d) =>
            `${d.shape}: ` +
            Object.entries(d.gmacs)
              .map(([n, v]) => `${n.replace('f32_', '').replace('__wasmsimd', '')} ${v}`)
              .join(', '),
        )
        .join('; ') +
      '\n',
  );
  process.stdout.write(`WASM SIMD f32 peak (independent f32x4 mul+add, no loads): ${r.peak_gmacs} GMAC/s\n`);
  process.stdout.write(
    `ResNet-20 conv stack (${r.resnet20.convs} convs, ${(r.resnet20.macs / 1e6).toFixed(1)} M MACs, bias+ReLU fused): ` +
      `${r.resnet20.total_ms} ms = ${r.resnet20.gmacs} GMAC/s\n`,
  );
  if (r.int8) process.stdout.write('\n' + int8Text(r.int8));
  return 0;
}

/** µs per ResNet-20 image the Winograd kernel saves over the dense one (shapes where it ran, count-weighted). */
function winoSaved(r: Int8Bench): number {
  return r.shapes.reduce((a, s) => {
    const t = s.us[INT8_WINO];
    const n = RESNET20_CONVS.find((c) => c.name === s.shape)?.count ?? 0;
    return t === undefined ? a : a + (s.us[INT8_DENSE]! - t) * n;
  }, 0);
}

function int8Text(r: Int8Bench): string {
  const total = (n: string) => r.resnet20_us[n] ?? 0;
  const sp = Object.keys(r.resnet20_us).filter((n) => n.includes('spconv'));
  return (
    'int8 kernels, GMAC/s (sparse: effective = dense M·N·K / time), batch 1, release build, single thread, bias + ReLU\n' +
    'fused, int8 requantized output; conv2d_4x8c2 includes the int16 widening + im2col; "gemm alone" = packed Xcol.\n' +
    'Ratios: int8/f32 = dense int8 conv vs f32 igemm conv; spXX/dense = best sparse kernel at density 0.3 / 0.1 vs dense int8 conv.\n' +
    int8Table(r) +
    '\n' +
    `WASM SIMD int8 peak (independent i32x4.dot_i16x8_s + add chains, no loads): ${r.peak_gmacs} GMAC/s\n` +
    `ResNet-20 19 convs (sum of per-shape medians × count), µs: f32 ${total(F32_CONV)}, int8 dense ${total(INT8_DENSE)}, ` +
    `winograd where eligible (dense elsewhere) ${round1(total(INT8_DENSE) - winoSaved(r))}, ` +
    sp.map((n) => `${n.replace('qs8_spconv2d_', '').replace('__wasmsimd', '')} ${total(n)}`).join(', ') +
    '\n'
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (c) => {
      process.exitCode = c;
    },
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exitCode = 1;
    },
  );
}
