// sparrow-int8 with and without the Winograd conv kernel, in one process, interleaved (the
// order alternates each round), same seeded input; also checks that the outputs are bit-identical.
//   node scripts/bench-wino.mjs <model.sparrow> [runs=200]
// Prints p10 / p50 / p90 ms of each and the ratios (p10: the least disturbed runs on a busy machine). Needs `npm run build` (dist/, build/).
import { readFileSync } from 'node:fs';
import { Session } from '../dist/index.js';

const [file, runsArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/bench-wino.mjs <model.sparrow> [runs]');
  process.exit(2);
}
const runs = Number(runsArg ?? 200);
const bytes = new Uint8Array(readFileSync(file));
const on = await Session.fromSparrow(bytes, { engine: 'sparrow-int8' });
const off = await Session.fromSparrow(bytes, { engine: 'sparrow-int8', winograd: false });
const wino = on.report.int8.layers.filter((l) => l.kernel === 'qs8_wino2x2_3x3__wasmsimd').length;
let s = 7;
const data = Float32Array.from({ length: 3 * 32 * 32 }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 4);
const feeds = { [on.inputNames[0]]: { dtype: 'float32', dims: [1, 3, 32, 32], data } };
const bitsOf = async (sess) => Array.from(new Int32Array((await sess.run(feeds))[sess.outputNames[0]].data.buffer));
const a0 = await bitsOf(on),
  b0 = await bitsOf(off);
const same = a0.length === b0.length && a0.every((v, i) => v === b0[i]);
for (let i = 0; i < 5; i++) {
  await on.run(feeds);
  await off.run(feeds);
}
const t = { on: [], off: [] };
for (let i = 0; i < runs; i++) {
  const order = i % 2 ? ['on', 'off'] : ['off', 'on'];
  for (const k of order) {
    const sess = k === 'on' ? on : off;
    const t0 = performance.now();
    await sess.run(feeds);
    t[k].push(performance.now() - t0);
  }
}
const q = (a, p) => [...a].sort((x, y) => x - y)[Math.floor(p * (a.length - 1))];
const f = (x) => x.toFixed(3);
console.log(`${file}: ${runs} runs each, interleaved; ${wino} convs on Winograd; outputs bit-identical: ${same}`);
const row = (name, a) => console.log(`${name}  p10 ${f(q(a, 0.1))} ms  p50 ${f(q(a, 0.5))} ms  p90 ${f(q(a, 0.9))} ms`);
row('sparrow-int8 winograd   ', t.on);
row('sparrow-int8 no winograd', t.off);
console.log(`speedup: p10 ${(q(t.off, 0.1) / q(t.on, 0.1)).toFixed(2)}x, p50 ${(q(t.off, 0.5) / q(t.on, 0.5)).toFixed(2)}x`);
