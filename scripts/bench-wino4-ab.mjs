// A/B of the F(4x4) int8 conv (qs8_wino4x4_3x3__wasmsimd) between WASM builds, in one process:
// the same input, weights and float32-multiplier output stage (as scripts/bench-wino-kernels.mjs)
// on each build's own instance, calls interleaved round by round (`--rounds` rounds of 5 calls,
// default 400), p10 / p50 µs per build and the ratio to the first; outputs compared byte for
// byte. `--add`: with the residual Add fused into the output stage.
//   node scripts/bench-wino4-ab.mjs <a.wasm> <b.wasm> [...] [--rounds 400] [--add]
// Needs `npm run build` (dist/).
import { readFileSync } from 'node:fs';
import { SparrowWasm } from '../dist/wasm/gateway.js';
import { convGeometry } from '../dist/kernels/f32.js';
import { QS8_CONV_WINO4, placeWino4Weights, planQs8Conv, putChannelParams, setQuantAddDelta } from '../dist/kernels/int8.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const files = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--rounds');
if (files.length < 2) {
  console.error('usage: node scripts/bench-wino4-ab.mjs <a.wasm> <b.wasm> [...] [--rounds 400] [--add]');
  process.exit(2);
}
const rounds = Number(opt('rounds', 400));
const add = args.includes('--add');
const builds = [];
for (const f of files) builds.push({ file: f, w: await SparrowWasm.instantiate(await WebAssembly.compile(readFileSync(f))) });
// the 3x3 stride-1 convs of the CIFAR ResNets, and two wider ones
const SHAPES = [
  [16, 16, 32],
  [32, 32, 16],
  [64, 64, 8],
  [64, 64, 16],
  [128, 128, 8],
];
console.log(`${new Date().toISOString()} ${rounds} rounds of 5 calls${add ? ', fused Add' : ''}`);
for (const [cin, M, hw] of SHAPES) {
  const K = cin * 9;
  const geo = convGeometry([cin, hw, hw], [M, cin, 3, 3], { pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], groups: 1 });
  const out = {
    mode: 'qlinear',
    zx: -3,
    zy: -128,
    lo: -128,
    hi: 127,
    bias: new Int32Array(M),
    multiplier: new Float32Array(M).fill(0.0005),
    ...(add ? { add: { za: -5, zb: 7, zy: -128, A: 1 << 20, B: 3 << 19, S: 21, lo: -128, hi: 127 } } : {}),
  };
  let r = 5;
  const rnd = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0) >>> 24;
  const Wt = Int8Array.from({ length: M * K }, () => (rnd() % 128) - 64);
  const n = cin * hw * hw,
    ny = M * hw * hw;
  const X = Int8Array.from({ length: n }, () => rnd() - 128);
  const O = Int8Array.from({ length: ny }, () => rnd() - 128);
  const runs = builds.map(({ w }) => {
    const x = w.alloc(n);
    w.i8(x, n).set(X);
    const qp = putChannelParams(w, out);
    const wp = placeWino4Weights(w, Wt, M, K);
    const y = w.alloc(ny);
    const other = add ? w.alloc(ny) : 0;
    if (add) w.i8(other, ny).set(O);
    const plan = planQs8Conv(w, geo, out, QS8_CONV_WINO4);
    if (add) setQuantAddDelta(w, plan.q, other - y);
    const work = w.alloc(plan.workBytes);
    const run = () => QS8_CONV_WINO4.run(w, plan.g, plan.q, x, wp, qp, y, work);
    const st = run();
    if (st < 0) throw new Error(`status ${st}`);
    return { run, y: () => w.i8(y, ny).join() };
  });
  const same = runs.every((b) => b.y() === runs[0].y());
  const t = runs.map(() => []);
  for (let round = 0; round < rounds; round++)
    for (let i = 0; i < runs.length; i++) {
      const k = (i + round) % runs.length;
      const t0 = performance.now();
      for (let j = 0; j < 5; j++) runs[k].run();
      t[k].push((performance.now() - t0) / 5);
    }
  const q = (a, p) => [...a].sort((u, v) => u - v)[Math.floor(p * (a.length - 1))];
  const us = (v) => (v * 1000).toFixed(1);
  console.log(
    `${cin}->${M} ${hw}x${hw}: ` +
      runs.map((_, i) => `${us(q(t[i], 0.1))} / ${us(q(t[i], 0.5))} (${(q(t[i], 0.5) / q(t[0], 0.5)).toFixed(3)})`).join(', ') +
      ` µs p10 / p50 (p50 / first); outputs equal ${same}`,
  );
}
