// Per layer shape: the dense int8 conv kernels (4x8c2, the k-quad c4 and the Winograd
// F(2x2, 3x3) and, where the shape allows, F(4x4, 3x3)) on one module, interleaved (400 rounds of 5 calls each), same input and weights
// (in [-64, 63] so c4 applies), int8 output (the engine's float32-multiplier output stage; --q31:
// the Q31 one); prints p10 / p50 µs per conv and whether the outputs are equal.
//   node scripts/bench-wino-kernels.mjs [build/sparrow.wasm] [--q31]
//   node --experimental-wasm-relaxed-simd scripts/bench-wino-kernels.mjs build/sparrow.relaxed.wasm
// Needs `npm run build` (dist/, build/).
import { readFileSync } from 'node:fs';
import { SparrowWasm } from '../dist/wasm/gateway.js';
import { convGeometry } from '../dist/kernels/f32.js';
import {
  QS8_CONV_C4,
  QS8_CONV_WINO4,
  placeC4Weights,
  placeConvWeights,
  placeWino4Weights,
  planQs8Conv,
  putChannelParams,
  qs8ConvKernel,
  wino4Eligible,
} from '../dist/kernels/int8.js';
import { quantizeMultiplier } from '../dist/quant/int8.js';

const Q31 = process.argv.includes('--q31');
const file = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? new URL('../build/sparrow.wasm', import.meta.url);
const w = await SparrowWasm.instantiate(await WebAssembly.compile(readFileSync(file)));
console.log(`${file}: relaxed build ${w.exports.qs8_relaxed_build()}`);
const SHAPES = [
  [3, 16, 32],
  [8, 8, 32],
  [4, 16, 32],
  [8, 16, 32],
  [16, 16, 32],
  [16, 32, 32],
  [32, 32, 16],
  [64, 64, 8],
  [64, 64, 16],
  [128, 128, 16],
  [128, 128, 8],
  [128, 128, 4],
];
for (const [cin, M, hw] of SHAPES) {
  const K = cin * 9;
  const geo = convGeometry([cin, hw, hw], [M, cin, 3, 3], { pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], groups: 1 });
  // the engine's int8 output stage: float32 multipliers (mode 'qlinear'), or with --q31 the Q31 one
  const out = Q31
    ? {
        mode: 'int8',
        zx: -3,
        zy: -128,
        lo: -128,
        hi: 127,
        bias: new Int32Array(M),
        multiplier: new Int32Array(M),
        shift: new Int32Array(M),
      }
    : { mode: 'qlinear', zx: -3, zy: -128, lo: -128, hi: 127, bias: new Int32Array(M), multiplier: new Float32Array(M).fill(0.0005) };
  if (Q31)
    for (let c = 0; c < M; c++) {
      const q = quantizeMultiplier(0.0005);
      out.multiplier[c] = q.multiplier;
      out.shift[c] = q.shift;
    }
  let r = 5;
  const rnd = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0) >>> 24;
  const W = Int8Array.from({ length: M * K }, () => (rnd() % 128) - 64);
  const n = cin * hw * hw;
  const x = w.alloc(n);
  w.i8(x, n).set(Int8Array.from({ length: n }, () => rnd() - 128));
  const qp = putChannelParams(w, out);
  const ks = [
    ['4x8c2', qs8ConvKernel('qs8_conv2d_4x8c2__wasmsimd'), placeConvWeights(w, 'c2', W, M, K)],
    ['c4', QS8_CONV_C4, placeC4Weights(w, W, M, K)],
    ['wino', qs8ConvKernel('qs8_wino2x2_3x3__wasmsimd'), placeConvWeights(w, 'wino', W, M, K)],
    ...(wino4Eligible(geo) ? [['wino4', QS8_CONV_WINO4, placeWino4Weights(w, W, M, K)]] : []),
  ].map(([name, k, wp]) => ({ name, k, wp, plan: planQs8Conv(w, geo, out, k) }));
  const work = w.alloc(Math.max(...ks.map((k) => k.plan.workBytes)));
  const y = w.alloc(M * hw * hw);
  // a kernel that refuses the layer (F(4x4): weights past its exactness bound, status -6) is not timed
  for (const k of ks) k.status = k.k.run(w, k.plan.g, k.plan.q, x, k.wp, qp, y, work);
  const refused = ks.filter((k) => k.status < 0).map((k) => `${k.name} refused (status ${k.status})`);
  ks.splice(0, ks.length, ...ks.filter((k) => k.status >= 0));
  const ys = {},
    t = Object.fromEntries(ks.map((k) => [k.name, []]));
  for (let round = 0; round < 400; round++)
    for (const k of ks) {
      const t0 = performance.now();
      for (let j = 0; j < 5; j++) k.k.run(w, k.plan.g, k.plan.q, x, k.wp, qp, y, work);
      t[k.name].push((performance.now() - t0) / 5);
      if (round === 0) ys[k.name] = w.i8(y, M * hw * hw).join();
    }
  const q = (a, p) => [...a].sort((u, v) => u - v)[Math.floor(p * (a.length - 1))];
  const us = (v) => (v * 1000).toFixed(1);
  console.log(
    `${cin}->${M} ${hw}x${hw}: ` +
      ks.map((k) => `${k.name} ${us(q(t[k.name], 0.1))} / ${us(q(t[k.name], 0.5))}`).join(', ') +
      ` µs (p10 / p50); wino vs 4x8c2 ${(q(t['4x8c2'], 0.1) / q(t.wino, 0.1)).toFixed(2)}x;` +
      (t.wino4?.length ? ` wino4 vs wino ${(q(t.wino, 0.5) / q(t.wino4, 0.5)).toFixed(2)}x (p50);` : '') +
      ` outputs c4 = 4x8c2 ${ys.c4 === ys['4x8c2']}, wino = 4x8c2 ${ys.wino === ys['4x8c2']}` +
      (t.wino4?.length ? `, wino4 = 4x8c2 ${ys.wino4 === ys['4x8c2']}` : '') +
      (refused.length ? `; ${refused.join(', ')}` : ''),
  );
}
