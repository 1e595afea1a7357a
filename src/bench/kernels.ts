// `node dist/bench/kernels.js`: float32 WASM kernel throughput on the ResNet-20 (CIFAR-10,
// 32x32, batch 1) conv shapes. Per shape: the conv kernels (indirect GEMM and im2col + GEMM,
// fused bias and ReLU), every GEMM kernel on the same M×N×K with B already packed (the GEMM
// alone), and the im2col alone; plus a measured WASM SIMD f32 peak (independent f32x4 mul+add chains, no loads)
// and the whole ResNet-20 conv stack (19 convs run as one sequence). GMAC/s = multiply-adds per
// second. Contenders of a table are interleaved, median of rounds (timing.ts). `--json` prints
// one JSON document; `--rounds N` changes the rounds.
import { loadWasmNode } from '../runtime/node.js';
import type { SparrowWasm } from '../runtime/wasm.js';
import { F32_CONV_KERNELS, F32_GEMM_KERNELS, convGeometry, planConv, runConv } from '../kernels/f32.js';
import type { Conv2dAttrs } from '../kernels/f32_ref.js';
import { interleave, median } from './timing.js';

export interface ConvShape { name: string; cin: number; cout: number; hw: number; stride: number; count: number }

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
  shape: string; M: number; N: number; K: number; macs: number;
  /** GMAC/s per kernel name (conv kernels on the conv; GEMM kernels on the packed-B GEMM) */
  gmacs: Record<string, number>;
  /** the default conv kernel (pickConvKernel), its µs per conv, and the im2col alone */
  conv_kernel: string; conv_us: number; im2col_us: number;
}

export interface KernelBench {
  peak_gmacs: number;
  shapes: ShapeResult[];
  /** depthwise 3x3 (pads 1) shapes: GMAC/s per conv kernel */
  depthwise: Array<{ shape: string; gmacs: Record<string, number> }>;
  resnet20: { convs: number; macs: number; total_ms: number; gmacs: number };
}

function attrs(stride: number): Conv2dAttrs {
  return { pads: [1, 1, 1, 1], strides: [stride, stride], dilations: [1, 1], groups: 1 };
}

function fill(w: SparrowWasm, ptr: number, n: number, seed: number): void {
  const v = w.f32(ptr, n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; v[i] = s / 2 ** 31 - 1; }
}

/** GMAC/s of the peak loop (96 f32x4 mul+add per iteration, 4 lanes each). */
function peak(w: SparrowWasm, rounds: number): number {
  const iters = 2_000_000;
  w.exports.f32_peak__wasmsimd(1000);
  const t = interleave([{ name: 'peak', run: () => { w.exports.f32_peak__wasmsimd(iters); } }], rounds, 50).get('peak')!;
  return (iters * 24 * 4) / t / 1e9;
}

export async function runKernelBench(opts: { rounds?: number } = {}): Promise<KernelBench> {
  const rounds = opts.rounds ?? 15;
  const w = await loadWasmNode('release');
  const peak_gmacs = peak(w, rounds);
  const shapes: ShapeResult[] = [];
  const convKernels = F32_CONV_KERNELS.filter((k) => k.name !== 'f32_dwconv__wasmsimd');
  for (const s of RESNET20_CONVS) {
    const mark = w.mark();
    const geo = convGeometry([s.cin, s.hw, s.hw], [s.cout, s.cin, 3, 3], attrs(s.stride), 'relu');
    const M = s.cout, N = geo.OH * geo.OW, K = s.cin * 9, macs = M * N * K;
    const plans = convKernels.filter((k) => k.supports(geo)).map((k) => planConv(w, geo, k));
    const im2colPlan = planConv(w, geo, F32_CONV_KERNELS.find((k) => k.name === 'f32_conv2d_4x8__wasmsimd'));
    const x = w.alloc(s.cin * s.hw * s.hw * 4), wt = w.alloc(M * K * 4), bias = w.alloc(M * 4), y = w.alloc(M * N * 4);
    const work = w.alloc(Math.max(...plans.map((p) => p.workBytes), w.exports.f32_im2col_work_bytes(im2colPlan.g)));
    const bp = w.alloc(w.packedBSizeF32(K, N) * 4);
    fill(w, x, s.cin * s.hw * s.hw, 1); fill(w, wt, M * K, 2); fill(w, bias, M, 3); fill(w, bp, w.packedBSizeF32(K, N), 4);
    const contenders = [
      ...plans.map((p) => ({ name: p.kernel.name, run: () => runConv(w, p, x, wt, bias, y, work) })),
      ...F32_GEMM_KERNELS.map((k) => ({ name: k.name, run: () => k.run(w, M, N, K, wt, K, bp, y, N, bias, 1, 1, 0, Infinity) })),
      { name: 'im2col', run: () => { w.exports.f32_im2col__wasmsimd(im2colPlan.g, x, work, bp); } },
    ];
    const t = interleave(contenders, rounds);
    const gmacs: Record<string, number> = {};
    for (const c of contenders) if (c.name !== 'im2col') gmacs[c.name] = round1(macs / t.get(c.name)! / 1e9);
    const def = planConv(w, geo).kernel.name; // the default kernel for this geometry
    shapes.push({
      shape: s.name, M, N, K, macs, gmacs, conv_kernel: def,
      conv_us: round1(t.get(def)! * 1e6), im2col_us: round1(t.get('im2col')! * 1e6),
    });
    w.release(mark);
  }
  return { peak_gmacs: round1(peak_gmacs), shapes, depthwise: depthwise(w, rounds), resnet20: resnet20Stack(w, rounds) };
}

/** Depthwise 3x3 convs (MobileNet-like sizes): every conv kernel, interleaved. */
function depthwise(w: SparrowWasm, rounds: number): KernelBench['depthwise'] {
  const out: KernelBench['depthwise'] = [];
  for (const [C, hw, s] of [[32, 32, 1], [96, 56, 1], [128, 8, 1], [32, 32, 2]] as const) {
    const mark = w.mark();
    const geo = convGeometry([C, hw, hw], [C, 1, 3, 3], { ...attrs(s), groups: C }, 'relu');
    const plans = F32_CONV_KERNELS.map((k) => planConv(w, geo, k));
    const x = w.alloc(C * hw * hw * 4), wt = w.alloc(C * 9 * 4), bias = w.alloc(C * 4), y = w.alloc(C * geo.OH * geo.OW * 4);
    const work = w.alloc(Math.max(...plans.map((p) => p.workBytes)));
    fill(w, x, C * hw * hw, 1); fill(w, wt, C * 9, 2); fill(w, bias, C, 3);
    const t = interleave(plans.map((p) => ({ name: p.kernel.name, run: () => runConv(w, p, x, wt, bias, y, work) })), rounds);
    const macs = C * geo.OH * geo.OW * 9;
    out.push({ shape: `dw ${C}ch ${hw}x${hw}${s > 1 ? ' s' + s : ''}`, gmacs: Object.fromEntries([...t].map(([n, v]) => [n, round1(macs / v / 1e9)])) });
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
  let macs = 0, maxAct = 0, maxWork = 0;
  for (const s of RESNET20_CONVS) {
    for (let i = 0; i < s.count; i++) {
      // the first conv of a stage-changing shape takes the previous stage's channels
      const geo = convGeometry([s.cin, s.hw, s.hw], [s.cout, s.cin, 3, 3], attrs(s.stride), 'relu');
      const plan = planConv(w, geo);
      const K = geo.C * 9;
      const wt = w.alloc(geo.M * K * 4), bias = w.alloc(geo.M * 4);
      fill(w, wt, geo.M * K, 10 + layers.length); fill(w, bias, geo.M, 50 + layers.length);
      // scale weights so activations stay O(1) through 19 layers
      const v = w.f32(wt, geo.M * K);
      for (let j = 0; j < v.length; j++) v[j] = v[j]! * Math.sqrt(2 / K);
      layers.push({ plan, wt, bias });
      macs += geo.M * geo.OH * geo.OW * K;
      maxAct = Math.max(maxAct, geo.C * geo.H * geo.W, geo.M * geo.OH * geo.OW);
      maxWork = Math.max(maxWork, plan.workBytes);
    }
  }
  const a = w.alloc(maxAct * 4), b = w.alloc(maxAct * 4), work = w.alloc(maxWork);
  fill(w, a, 3 * 32 * 32, 7);
  const input = w.f32(a, 3 * 32 * 32).slice();
  const forward = () => {
    w.f32(a, input.length).set(input);
    let src = a, dst = b;
    for (const l of layers) { runConv(w, l.plan, src, l.wt, l.bias, dst, work); [src, dst] = [dst, src]; }
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

function round1(x: number): number { return Math.round(x * 10) / 10; }

function table(r: KernelBench): string {
  const names = [...new Set(r.shapes.flatMap((s) => Object.keys(s.gmacs)))];
  const head = ['shape', 'M', 'N', 'K', ...names.map((n) => n.replace('__wasmsimd', '')), 'default conv', 'µs', 'im2col µs'];
  const rows = r.shapes.map((s) => [s.shape, s.M, s.N, s.K, ...names.map((n) => s.gmacs[n] ?? '-'),
    s.conv_kernel.replace('f32_conv2d_', '').replace('__wasmsimd', ''), s.conv_us, s.im2col_us].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => '| ' + row.map((x, i) => x.padStart(w[i]!)).join(' | ') + ' |';
  return [line(head), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const ri = argv.indexOf('--rounds');
  const r = await runKernelBench({ rounds: ri >= 0 ? Number(argv[ri + 1]) : undefined });
  if (argv.includes('--json')) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return 0;
  }
  process.stdout.write('GMAC/s (multiply-adds/s), batch 1, fp32, release build, single thread. Conv columns (bias + ReLU fused):\n' +
    'conv2d_igemm_4x8 = indirect GEMM (default), conv2d_4x8 = im2col panels + GEMM; GEMM columns: the same M×N×K with B\n' +
    'pre-packed (no im2col, no padding copy). µs: the default conv; im2col µs: the im2col alone.\n');
  process.stdout.write(table(r) + '\n');
  process.stdout.write('Depthwise 3x3 (GMAC/s): ' + r.depthwise.map((d) => `${d.shape}: ` +
    Object.entries(d.gmacs).map(([n, v]) => `${n.replace('f32_', '').replace('__wasmsimd', '')} ${v}`).join(', ')).join('; ') + '\n');
  process.stdout.write(`WASM SIMD f32 peak (independent f32x4 mul+add, no loads): ${r.peak_gmacs} GMAC/s\n`);
  process.stdout.write(`ResNet-20 conv stack (${r.resnet20.convs} convs, ${(r.resnet20.macs / 1e6).toFixed(1)} M MACs, bias+ReLU fused): ` +
    `${r.resnet20.total_ms} ms = ${r.resnet20.gmacs} GMAC/s\n`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { console.error(e instanceof Error ? e.message : e); process.exitCode = 1; });
}
