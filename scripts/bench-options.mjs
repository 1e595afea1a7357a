#!/usr/bin/env node
// sparrow-int8 sessions of one .sparrow file under different Session options, and onnxruntime-node
// on the ONNX model it was compressed from, in one process, interleaved (the order rotates each
// round), batch 1, one thread each, the same seeded input. Prints each session's kernels, p10 /
// p50 ms and the p50 ratio to onnxruntime-node (ratios within one run only: the machine is shared).
//
//   node scripts/bench-options.mjs <model.onnx> <model.sparrow> [--runs 400] [--variants '<json array of SessionOptions>'] [--trees <dir>,<dir>]
//
// Default variants: [{"requantMultiplier": "q31"}, {}] (the Q31 fixed-point output stage against
// the default float32 multipliers). Needs `npm run build` (dist/, build/) and the devDependency
// onnxruntime-node. --trees: every variant from each of these source trees (their dist/ and
// build/, e.g. a worktree of the previous commit and this one), to compare builds in one process.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const [onnx, file] = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const trees = (opt('trees', '') || new URL('..', import.meta.url).pathname).split(',');
if (!onnx || !file) {
  console.error("usage: node scripts/bench-options.mjs <model.onnx> <model.sparrow> [--runs 400] [--variants '[{...}, ...]']");
  process.exit(2);
}
const runs = Number(opt('runs', 400));
const variants = JSON.parse(opt('variants', '[{"requantMultiplier": "q31"}, {}]'));
const bytes = new Uint8Array(readFileSync(file));
const engines = [];
for (const tree of trees)
  for (const v of variants) {
    const { Session } = await import(pathToFileURL(resolve(tree, 'dist/index.js')).href);
    const s = await Session.fromSparrow(bytes, { engine: 'sparrow-int8', ...v });
    const kernels = {};
    for (const l of s.report.int8.layers) kernels[l.kernel] = (kernels[l.kernel] ?? 0) + 1;
    console.log(
      `${trees.length > 1 ? `${tree} ` : ''}${JSON.stringify(v)}: ${Object.entries(kernels)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ')}`,
    );
    engines.push({ name: (trees.length > 1 ? `${tree} ` : '') + JSON.stringify(v), session: s });
  }
const ort = await import('onnxruntime-node');
const os = await ort.InferenceSession.create(readFileSync(onnx), {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
});
const dims = [1, 3, 32, 32];
const first = engines[0].session;
const meta = first.inputNames[0];
let seed = 7;
const n = dims.reduce((a, b) => a * b, 1);
const data = Float32Array.from({ length: n }, () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 4);
const feeds = { [meta]: { dtype: 'float32', dims, data } };
const ortFeeds = { [os.inputNames[0]]: new ort.Tensor('float32', data, dims) };
const all = [...engines.map((e) => ({ name: e.name, run: () => e.session.run(feeds) })), { name: 'ort-node', run: () => os.run(ortFeeds) }];
const times = all.map(() => []);
for (let r = 0; r < runs + 20; r++)
  for (let i = 0; i < all.length; i++) {
    const k = (i + r) % all.length;
    const t0 = performance.now();
    await all[k].run();
    if (r >= 20) times[k].push(performance.now() - t0);
  }
const q = (a, p) => [...a].sort((x, y) => x - y)[Math.floor(p * (a.length - 1))];
const ortP50 = q(times[all.length - 1], 0.5);
console.log(`${runs} interleaved runs each (batch 1, one thread), ${new Date().toISOString()}`);
for (let i = 0; i < all.length; i++)
  console.log(
    `${all[i].name.padEnd(32)} p10 ${q(times[i], 0.1).toFixed(3)} ms  p50 ${q(times[i], 0.5).toFixed(3)} ms  ${(q(times[i], 0.5) / ortP50).toFixed(3)}x ort-node`,
  );
