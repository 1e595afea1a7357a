// Crossover of the int8 conv kernels by weight density: the dense qs8_conv2d_4x8c2, the sparse
// qs8_spconv2d_16x1 (arbitrary nonzero pairs over the CSR) and the pair-block kernels
// (qs8_spconv2d_16x1c2: non-empty aligned k-pairs) on the ResNet-20 conv shapes
// (the 3→16 stem excluded: it stays dense), ResNet-20 layer counts weighted, interleaved rounds,
// fastest round.
// Weights: unstructured (each weight kept with probability d) and pair-structured (each aligned
// k-pair kept with probability d, both halves nonzero). Prints µs of the stack per kernel and
// density with the measured densities (weight d, pair p). What pickQs8ConvKernel's thresholds
// are fitted on (docs/engine.md).
//
//   npm run build:ts && node dist/bench/sparse_crossover.js [--rounds 15]
import { loadWasmNode } from '../wasm/node.js';
import { convGeometry } from '../kernels/f32.js';
import { placeConvWeights, planQs8Conv, putChannelParams, qs8ConvKernel, type Qs8Out } from '../kernels/int8.js';
import { quantizeMultiplier } from '../quant/int8.js';
import { RESNET20_CONVS } from './kernels.js';

const KERNELS = ['qs8_conv2d_4x8c2__wasmsimd', 'qs8_spconv2d_16x1__wasmsimd', 'qs8_spconv2d_16x1c2__wasmsimd'];

function weights(M: number, K: number, d: number, pairs: boolean, seed: number): Int8Array {
  let s = seed >>> 0;
  const rnd = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const v = (): number => {
    const x = Math.floor(rnd() * 254) - 127;
    return x === 0 ? 1 : x;
  };
  const w = new Int8Array(M * K);
  for (let m = 0; m < M; m++)
    for (let k = 0; k < K; k += pairs ? 2 : 1) {
      if (rnd() >= d) continue;
      w[m * K + k] = v();
      if (pairs && k + 1 < K) w[m * K + k + 1] = v();
    }
  return w;
}

/**
 * Seconds per call of each contender: the fastest of `rounds` interleaved rounds of ~5 ms each
 * (the minimum, not the median: on a shared machine the load only ever adds time).
 */
function fastest(cs: Array<{ name: string; run: () => void }>, rounds: number): Map<string, number> {
  const reps = cs.map((c) => {
    for (let i = 0; i < 3; i++) c.run();
    const t0 = performance.now();
    c.run();
    return Math.max(1, Math.round(5 / Math.max(0.001, performance.now() - t0)));
  });
  const best = cs.map(() => Infinity);
  for (let r = 0; r < rounds; r++)
    cs.forEach((c, i) => {
      const t0 = performance.now();
      for (let j = 0; j < reps[i]!; j++) c.run();
      best[i] = Math.min(best[i]!, (performance.now() - t0) / 1000 / reps[i]!);
    });
  return new Map(cs.map((c, i) => [c.name, best[i]!]));
}

function pairDensity(w: Int8Array, M: number, K: number): number {
  let e = 0;
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k += 2) if (w[m * K + k] || (k + 1 < K && w[m * K + k + 1])) e++;
  return e / (M * Math.ceil(K / 2));
}

export async function main(argv: string[]): Promise<number> {
  const ri = argv.indexOf('--rounds');
  const rounds = ri >= 0 ? Number(argv[ri + 1]) : 15;
  const w = await loadWasmNode('release');
  const shapes = RESNET20_CONVS.filter((s) => s.cin > 3);
  const grid: Array<{ d: number; pairs: boolean }> = [];
  for (const d of [0.7, 0.6, 0.5, 0.4, 0.3, 0.2]) grid.push({ d, pairs: false }, { d, pairs: true });
  const total = new Map<string, number>();
  const dens = new Map<string, { d: number; p: number; n: number }>();
  for (const s of shapes) {
    const mark = w.mark();
    const geo = convGeometry(
      [s.cin, s.hw, s.hw],
      [s.cout, s.cin, 3, 3],
      { pads: [1, 1, 1, 1], strides: [s.stride, s.stride], dilations: [1, 1], groups: 1 },
      'relu',
    );
    const M = s.cout,
      K = s.cin * 9;
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
    w.i8(x, s.cin * s.hw * s.hw).forEach((_, i, a) => (a[i] = ((i * 2654435761) >>> 24) - 128));
    const qp = putChannelParams(w, out);
    const y = w.alloc(M * geo.OH * geo.OW * 4);
    const runs: Array<{ name: string; run: () => void }> = [];
    let maxWork = 0;
    const plans = KERNELS.map((name) => {
      const k = qs8ConvKernel(name);
      const plan = planQs8Conv(w, geo, out, k);
      maxWork = Math.max(maxWork, plan.workBytes);
      return { k, plan };
    });
    const work = w.alloc(maxWork);
    for (const { k, plan } of plans) {
      const cases = k.weights === 'c2' ? [{ d: 1, pairs: false }] : grid;
      for (const c of cases) {
        const wt = weights(M, K, c.d, c.pairs, 7 + Math.round(c.d * 100));
        const key = `${c.pairs ? 'pairs' : 'unstr'} ${c.d}`;
        let nz = 0;
        for (const v of wt) if (v) nz++;
        const e = dens.get(key) ?? { d: 0, p: 0, n: 0 };
        if (k.name === KERNELS[1])
          dens.set(key, { d: e.d + (nz / (M * K)) * s.count, p: e.p + pairDensity(wt, M, K) * s.count, n: e.n + s.count });
        const wp = placeConvWeights(w, k.weights, wt, M, K);
        runs.push({
          name: `${k.name}|${k.weights === 'c2' ? 'dense' : key}`,
          run: () => void k.run(w, plan.g, plan.q, x, wp, qp, y, work),
        });
      }
    }
    const t = fastest(runs, rounds);
    for (const [n, v] of t) total.set(n, (total.get(n) ?? 0) + v * 1e6 * s.count);
    w.release(mark);
  }
  const dense = total.get(`${KERNELS[0]}|dense`)!;
  const lines = [
    `ResNet-20 conv stack without the stem (${shapes.map((s) => `${s.name} x${s.count}`).join(', ')}), µs, interleaved, ${rounds} rounds`,
  ];
  lines.push(`dense ${KERNELS[0]}: ${dense.toFixed(0)} µs`);
  lines.push('weights      d     p     | 16x1 (nz pairs)  16x1c2 (k-pairs)   (µs, ×dense)');
  for (const c of grid) {
    const key = `${c.pairs ? 'pairs' : 'unstr'} ${c.d}`;
    const e = dens.get(key)!;
    const cell = (k: string): string => {
      const v = total.get(`${k}|${key}`)!;
      return `${v.toFixed(0).padStart(6)} ${(v / dense).toFixed(2)}`;
    };
    lines.push(`${key.padEnd(11)} ${(e.d / e.n).toFixed(3)} ${(e.p / e.n).toFixed(3)} | ${cell(KERNELS[1]!)}     ${cell(KERNELS[2]!)}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((c) => process.exit(c));
}
