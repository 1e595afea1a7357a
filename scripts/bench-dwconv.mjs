// The float32 depthwise conv (f32_dwconv__wasmsimd) of one or more wasm builds, interleaved in one
// process, on the depthwise shapes of EfficientNet-B0 and MobileNetV3-Small (224x224 input, batch
// 1): median ms per conv over `--rounds` rounds, GMAC/s, the sum, and whether the builds' outputs
// are bit-identical. `--act silu` (or hardswish, sigmoid) fuses that activation, default none.
// `--int8` times the int8 depthwise kernel (qs8_dwconv2d__wasmsimd, int8 in and out, the float32
// per-channel multiplier of the default output stage) on the same shapes instead.
//   node scripts/bench-dwconv.mjs [--act silu | --int8] [--rounds 9] [a.wasm b.wasm ...]   (default build/sparrow.wasm)
// Compare against another tree's build: cp ../main/build/sparrow.wasm /tmp/main.wasm first.
// Needs `npm run build` (dist/, build/).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SparrowWasm } from '../dist/wasm/gateway.js';
import { convGeometry, writeConvGeometry } from '../dist/kernels/f32.js';
import { interleave } from '../dist/bench/timing.js';
import { putChannelParams, writeQuantBlock } from '../dist/kernels/int8.js';

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const act = opt('--act', 'none'),
  rounds = Number(opt('--rounds', 9));
const files = args.filter((a, i) => !a.startsWith('--') && !['--act', '--rounds'].includes(args[i - 1]));
if (!files.length) files.push(fileURLToPath(new URL('../build/sparrow.wasm', import.meta.url)));
const builds = await Promise.all(files.map(async (f) => SparrowWasm.instantiate(await WebAssembly.compile(readFileSync(f)))));

// [name, channels, input size, kernel, stride] (pads (k-1)/2)
const SHAPES = [
  ['EfficientNet f1 32ch 112 k3 s1', 32, 112, 3, 1],
  ['EfficientNet f2.0 96ch 112 k3 s2', 96, 112, 3, 2],
  ['EfficientNet f2.1 144ch 56 k3 s1', 144, 56, 3, 1],
  ['EfficientNet f3.0 144ch 56 k5 s2', 144, 56, 5, 2],
  ['EfficientNet f3.1 240ch 28 k5 s1', 240, 28, 5, 1],
  ['EfficientNet f4.0 240ch 28 k3 s2', 240, 28, 3, 2],
  ['EfficientNet f4.1 480ch 14 k3 s1', 480, 14, 3, 1],
  ['EfficientNet f5.1 672ch 14 k5 s1', 672, 14, 5, 1],
  ['EfficientNet f6.0 672ch 14 k5 s2', 672, 14, 5, 2],
  ['EfficientNet f6.1 1152ch 7 k5 s1', 1152, 7, 5, 1],
  ['EfficientNet f7.0 1152ch 7 k3 s1', 1152, 7, 3, 1],
  ['MobileNetV3-S f1 16ch 112 k3 s2', 16, 112, 3, 2],
  ['MobileNetV3-S f4 96ch 28 k5 s2', 96, 28, 5, 2],
  ['MobileNetV3-S f5 240ch 14 k5 s1', 240, 14, 5, 1],
  ['MobileNetV3-S f10 576ch 7 k5 s1', 576, 7, 5, 1],
];

const total = files.map(() => 0);
for (const [name, C, HW, k, s] of SHAPES) {
  const p = (k - 1) >> 1;
  const geo = convGeometry(
    [1, C, HW, HW],
    [C, 1, k, k],
    { pads: [p, p, p, p], strides: [s, s], dilations: [1, 1], groups: C },
    act === 'none' ? 'none' : { fn: act },
  );
  const contenders = [],
    outs = [];
  if (args.includes('--int8')) {
    // the output stage static int8 layers use by default (QLinearConv's float32 multiplier)
    const out = {
      mode: 'qlinear',
      zx: -3,
      zy: 2,
      lo: -128,
      hi: 127,
      bias: Int32Array.from({ length: C }, (_, j) => (j % 7) * 40 - 100),
      multiplier: Float32Array.from({ length: C }, (_, j) => 2 ** -(7 + (j % 3))),
    };
    builds.forEach((w, i) => {
      const x = w.alloc(C * HW * HW),
        wt = w.alloc(C * k * k),
        y = w.alloc(C * geo.OH * geo.OW),
        g = w.alloc(80),
        q = w.alloc(64);
      new Int8Array(w.memory.buffer, x, C * HW * HW).forEach((_, j, a) => (a[j] = Math.round(Math.sin(j) * 120)));
      new Int8Array(w.memory.buffer, wt, C * k * k).forEach((_, j, a) => (a[j] = Math.round(Math.cos(j * 1.3) * 127)));
      writeConvGeometry(w, geo, g);
      writeQuantBlock(w, out, q);
      const qp = putChannelParams(w, out);
      const work = w.alloc(w.exports.qs8_dwconv2d_work_bytes(g));
      const run = () => {
        if (w.exports.qs8_dwconv2d__wasmsimd(g, q, x, wt, qp, y, work) !== 0) throw new Error('qs8_dwconv2d failed');
      };
      run();
      outs.push(new Int8Array(w.memory.buffer, y, C * geo.OH * geo.OW).slice());
      contenders.push({ name: `${i}`, run });
    });
  } else
    builds.forEach((w, i) => {
      const x = w.alloc(C * HW * HW * 4),
        wt = w.alloc(C * k * k * 4),
        b = w.alloc(C * 4),
        y = w.alloc(C * geo.OH * geo.OW * 4),
        g = w.alloc(80);
      w.f32(x, C * HW * HW).forEach((_, j, a) => (a[j] = Math.sin(j) * 2));
      w.f32(wt, C * k * k).forEach((_, j, a) => (a[j] = Math.cos(j) * 0.3));
      w.f32(b, C).fill(0.1);
      writeConvGeometry(w, geo, g);
      const work = w.alloc(w.exports.f32_dwconv_work_bytes(g));
      const run = () => w.exports.f32_dwconv__wasmsimd(g, x, wt, b, y, work);
      run();
      outs.push(w.f32(y, C * geo.OH * geo.OW).slice());
      contenders.push({ name: `${i}`, run });
    });
  const same = outs.every((o) => o.every((v, j) => Object.is(v, outs[0][j])));
  const t = [...interleave(contenders, rounds, 15).values()];
  t.forEach((v, i) => (total[i] += v));
  const macs = C * geo.OH * geo.OW * k * k;
  console.log(
    name.padEnd(36),
    t.map((v) => `${(v * 1e3).toFixed(3)} ms ${(macs / v / 1e9).toFixed(2)} GMAC/s`).join(' | '),
    builds.length > 1 && !same ? '(outputs differ)' : '',
  );
}
console.log('sum'.padEnd(36), total.map((v) => `${(v * 1e3).toFixed(3)} ms`).join(' | '), `(${files.join(' | ')})`);
