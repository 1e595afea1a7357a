#!/usr/bin/env node
// The WASM thread pool in Node (worker_threads helpers, build/sparrow.threads.wasm: the plain
// SIMD kernels; relaxed SIMD is wrong on Node 20): sparrow-int8 sessions on 1 and 2 threads,
// with and without the residual Add in the conv output stage (fuseAdd), every session run in
// turn (order alternating) `--runs` times per batch, p50 ms and the 2-thread speed-ups. The
// outputs of all four are compared bit for bit first. The two 2-thread sessions have a helper
// each, which spins for SPIN_MS after its last job: so before each timed run the script waits
// longer than that (every helper asleep) and runs the session once untimed (its helper awake),
// so that a timed run never shares the 2 cores with the other session's helper.
// Browsers: scripts/bench-browser.mjs.
// Needs `npm run build`.
//   node scripts/bench-threads-node.mjs [--model f.sparrow] [--runs 200] [--batches 1,8]
// (default model: test/fixtures/int8/resnet20.static7.sparrow; the figures in docs/engine.md use
// a 7-bit ResNet-32 made as scripts/bench-browser.mjs says)
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import '../dist/ops/ref/index.js';
import { Session } from '../dist/runtime/session.js';
import { HELPER_SOURCE_NODE, instantiateThreaded, SPIN_MS } from '../dist/wasm/threads.js';

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const model = arg('model', fileURLToPath(new URL('../test/fixtures/int8/resnet20.static7.sparrow', import.meta.url)));
const RUNS = Number(arg('runs', '200'));
const BATCHES = arg('batches', '1,8').split(',').map(Number);
const bytes = new Uint8Array(readFileSync(model));
const threaded = await WebAssembly.compile(readFileSync(new URL('../build/sparrow.threads.wasm', import.meta.url)));
const spawn = () => {
  const w = new Worker(HELPER_SOURCE_NODE, { eval: true });
  const ready = new Promise((res, rej) => {
    w.once('message', (m) => (m === 'ready' ? res() : rej(new Error(String(m)))));
    w.once('error', rej);
  });
  return { postMessage: (m) => w.postMessage(m), ready, terminate: () => void w.terminate() };
};
const open = (threads, fuseAdd) =>
  Session.fromSparrow(bytes, {
    engine: 'sparrow-int8',
    wasmModule: threaded,
    relaxed: false,
    fuseAdd,
    instantiate: (m) => instantiateThreaded(m, threads, spawn),
  });
const sessions = { '1t': await open(1, false), '1t+add': await open(1, true), '2t': await open(2, false), '2t+add': await open(2, true) };
const first = sessions['1t'];
const name = first.inputNames[0];
const [, C, H, W] = first.inputInfo[name].dims;
const p50 = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`${model}: ${RUNS} runs per session and batch, sessions in turn (order alternating); p50 ms`);
for (const b of BATCHES) {
  const x = { dtype: 'float32', dims: [b, C, H, W], data: Float32Array.from({ length: b * C * H * W }, (_, i) => Math.sin(i) * 2) };
  const entries = Object.entries(sessions);
  let ref;
  for (const [k, s] of entries) {
    for (let i = 0; i < 5; i++) await s.run({ [name]: x });
    const out = Array.from((await s.run({ [name]: x }))[s.outputNames[0]].data);
    if (!ref) ref = out;
    else if (!out.every((v, i) => Object.is(v, ref[i]))) throw new Error(`batch ${b}: ${k} differs from 1t`);
  }
  const t = Object.fromEntries(entries.map(([k]) => [k, []]));
  const rest = () => new Promise((res) => setTimeout(res, SPIN_MS + 2));
  for (let r = 0; r < RUNS; r++)
    for (const [k, s] of r % 2 ? [...entries].reverse() : entries) {
      await rest();
      await s.run({ [name]: x });
      const t0 = performance.now();
      await s.run({ [name]: x });
      t[k].push(performance.now() - t0);
    }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, p50(v)]));
  console.log(
    `batch ${b}: ${Object.entries(m)
      .map(([k, v]) => `${k} ${v.toFixed(3)}`)
      .join(', ')} | 2 threads / 1: ${(m['1t'] / m['2t']).toFixed(2)}x without the Add in the conv, ` +
      `${(m['1t+add'] / m['2t+add']).toFixed(2)}x with it; 2 threads with / without: ${(m['2t'] / m['2t+add']).toFixed(3)}x`,
  );
}
for (const s of Object.values(sessions)) s.dispose?.();
process.exit(0);
