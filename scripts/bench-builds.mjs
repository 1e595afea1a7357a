#!/usr/bin/env node
// sparrow-int8 on several WASM builds of the kernels (e.g. a build of an earlier commit against
// the current build/sparrow.wasm), one .sparrow file, one process: a session per build (the
// Session option `wasmModule`), each round runs every session once in an order that rotates from
// round to round, after 10 untimed runs each. Prints each build's p50 and p10 (ms, one thread)
// and the first build's over them (speed-up over the first), and whether its outputs are
// bit-identical to the first build's. The input is a seeded random tensor of the model's input
// shape (batch --batch, default 1). --options '<JSON array of Session options>' runs every build
// with each of them (e.g. '[{}, {"sparseDensity": 0}]': the kernel choices compared on one build).
// Needs `npm run build` (dist/).
//   node scripts/bench-builds.mjs <model.sparrow> <a.wasm,b.wasm,...> [--rounds 200] [--batch 1] [--options JSON]
//   e.g. git stash; npm run build:wasm; cp build/sparrow.wasm /tmp/before.wasm; git stash pop;
//        npm run build:wasm; node scripts/bench-builds.mjs f.sparrow /tmp/before.wasm,build/sparrow.wasm
import { readFileSync } from 'node:fs';
import '../dist/ops/ref/index.js';
import { Session } from '../dist/runtime/session.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const oi = args.indexOf('--options');
const variants = oi >= 0 ? JSON.parse(args.splice(oi, 2)[1]) : [{}];
const rounds = opt('--rounds', 200),
  batch = opt('--batch', 1);
const [file, builds] = args;
if (!file || !builds || !(rounds > 0) || !(batch > 0)) {
  console.error('usage: node scripts/bench-builds.mjs <model.sparrow> <a.wasm,b.wasm,...> [--rounds 200] [--batch 1] [--options JSON]');
  process.exit(2);
}
const bytes = new Uint8Array(readFileSync(file));
const runs = [];
for (const b of builds.split(',')) {
  const wasmModule = await WebAssembly.compile(readFileSync(b));
  for (const o of variants) {
    const s = await Session.fromSparrow(bytes, { ...o, engine: 'sparrow-int8', wasmModule });
    const kernels = {};
    for (const l of s.report?.int8?.layers ?? []) if (l.kernel) kernels[l.kernel] = (kernels[l.kernel] ?? 0) + 1;
    runs.push({ build: variants.length > 1 ? `${b} ${JSON.stringify(o)}` : b, s, t: [], kernels });
  }
}
const s0 = runs[0].s;
const name = s0.inputNames[0];
// the first axis is the batch; other free axes (-1) get 1
const dims = s0.inputInfo[name].dims.map((d, i) => (i === 0 ? batch : d > 0 ? d : 1));
let seed = 7;
const n = dims.reduce((a, d) => a * d, 1);
const data = Float32Array.from({ length: n }, () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 4);
const feeds = { [name]: { dtype: 'float32', dims, data } };
const bits = async (s) => Array.from(new Uint32Array((await s.run(feeds))[s.outputNames[0]].data.buffer)).join();
const ref = await bits(s0);
for (const r of runs) {
  r.same = (await bits(r.s)) === ref;
  for (let i = 0; i < 10; i++) await r.s.run(feeds);
}
for (let k = 0; k < rounds; k++)
  for (let j = 0; j < runs.length; j++) {
    const r = runs[(j + k) % runs.length];
    const t0 = performance.now();
    await r.s.run(feeds);
    r.t.push(performance.now() - t0);
  }
const q = (a, p) => [...a].sort((u, v) => u - v)[Math.floor(p * (a.length - 1))];
console.log(`${file}, batch ${batch}, ${rounds} rounds`);
for (const r of runs)
  console.log(
    `${r.build}  p50 ${q(r.t, 0.5).toFixed(3)} ms (${(q(runs[0].t, 0.5) / q(r.t, 0.5)).toFixed(3)}x)  p10 ${q(r.t, 0.1).toFixed(3)} ms ` +
      `(${(q(runs[0].t, 0.1) / q(r.t, 0.1)).toFixed(3)}x)  outputs = first build's: ${r.same}` +
      (variants.length > 1 ? `  kernels ${JSON.stringify(r.kernels)}` : ''),
  );
