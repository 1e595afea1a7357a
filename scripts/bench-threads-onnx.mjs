#!/usr/bin/env node
// sparrow-int8 on an ONNX model (dynamic ranges) in Node on 1 and 2 threads (worker_threads
// helpers, build/sparrow.threads.wasm), the two sessions alternating `runs` times; each timed
// run comes after the helpers slept (SPIN_MS) and one untimed run. Prints the p50s and the
// 2-thread speed-up. For .sparrow files and batches: scripts/bench-threads-node.mjs.
//   node scripts/bench-threads-onnx.mjs <model.onnx | --mlp D,L> [--runs 40] [--shape name=d0,d1,...]... [--float-head N] [--root <tree>]
// --mlp D,L: instead of a file, L Gemm layers D×D (seeded weights) on one row: a decoder's
// per-token FCs (run it with --float-head 0, or the last layer stays float32).
// e.g. the zoo's BERT-shaped encoder at sequence 128:
//   node scripts/bench-threads-onnx.mjs ../shared/data/models/zoo/bert-tiny-random.onnx \
//     --shape input_ids=1,128 --shape attention_mask=1,128
// --root: the tree whose dist/ and build/ run (default: this one), to compare two builds.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const mlp = opt('--mlp', undefined);
const model = mlp
  ? `mlp ${mlp}`
  : args.find((a, i) => !a.startsWith('--') && !['--runs', '--shape', '--float-head', '--root'].includes(args[i - 1]));
if (!model) {
  console.error(
    'usage: node scripts/bench-threads-onnx.mjs <model.onnx> [--runs 40] [--shape name=d0,d1]... [--float-head N] [--root <tree>]',
  );
  process.exit(2);
}
const root = resolve(opt('--root', resolve(dirname(fileURLToPath(import.meta.url)), '..')));
const runs = Number(opt('--runs', 40));
const shapes = {};
args.forEach((a, i) => {
  if (a !== '--shape') return;
  const [name, dims] = args[i + 1].split('=');
  shapes[name] = dims.split(',').map(Number);
});
const floatHead = args.includes('--float-head') ? Number(opt('--float-head')) : undefined;
const dist = (p) => import(pathToFileURL(`${root}/dist/${p}`).href);
await dist('ops/ref/index.js');
const { Session } = await dist('runtime/session.js');
const { HELPER_SOURCE_NODE, instantiateThreaded, SPIN_MS } = await dist('wasm/threads.js');
const { modelInputs, randomFeeds } = await dist('bench/bench.js');

const spawn = () => {
  const w = new Worker(HELPER_SOURCE_NODE, { eval: true });
  const ready = new Promise((res, rej) => {
    w.once('message', (m) => (m === 'ready' ? res() : rej(new Error(String(m)))));
    w.once('error', rej);
  });
  return { postMessage: (m) => w.postMessage(m), ready, terminate: () => void w.terminate() };
};
let bytes;
if (mlp) {
  const [D, L] = mlp.split(',').map(Number);
  const { buildModel } = await dist('onnx/build.js');
  let seed = 1;
  const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.1;
  const T = (dims) => ({ dtype: 'float32', dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, rnd) });
  const nodes = [],
    init = {};
  let x = 'x';
  for (let i = 0; i < L; i++) {
    nodes.push({ op: 'Gemm', inputs: [x, `w${i}`, `b${i}`], outputs: [`h${i}`], attrs: { transB: 1 }, name: `fc${i}` });
    init[`w${i}`] = T([D, D]);
    init[`b${i}`] = T([D]);
    x = `h${i}`;
  }
  bytes = buildModel({
    nodes,
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, D] }],
    outputs: [{ name: x, dtype: 'float32', dims: [1, D] }],
    initializers: init,
  });
} else bytes = new Uint8Array(readFileSync(model));
const module = await WebAssembly.compile(readFileSync(`${root}/build/sparrow.threads.wasm`));
const session = (n) =>
  Session.fromOnnx(bytes, {
    engine: 'sparrow-int8',
    ...(floatHead !== undefined ? { floatHead } : {}),
    wasmModule: module,
    instantiate: (m) => instantiateThreaded(m, n, spawn),
  });
const s = { 1: await session(1), 2: await session(2) };
const feeds = randomFeeds(modelInputs(bytes), 1, 5, shapes);
const t = { 1: [], 2: [] };
for (let r = 0; r < runs; r++)
  for (const n of r % 2 ? [2, 1] : [1, 2]) {
    await new Promise((res) => setTimeout(res, SPIN_MS + 5));
    await s[n].run(feeds);
    const t0 = performance.now();
    await s[n].run(feeds);
    t[n].push(performance.now() - t0);
  }
const p50 = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(
  `${model.split('/').pop()} (${root}): p50 1 thread ${p50(t[1]).toFixed(3)} ms, 2 threads ${p50(t[2]).toFixed(3)} ms, ` +
    `speed-up ${(p50(t[1]) / p50(t[2])).toFixed(2)}x`,
);
process.exit(0);
