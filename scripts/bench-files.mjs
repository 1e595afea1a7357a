#!/usr/bin/env node
// sparrow-int8 latency of several .sparrow files of one model (e.g. a dense file and channel-
// pruned ones: issue 18's channel line), in one process: each round runs every file once, in an
// order that rotates from round to round, after 5 untimed runs each; prints each file's p50 (ms,
// batch 1, one thread) and the first file's p50 over it (its speed-up over the first file).
// The feeds are the seeded random inputs of `sparrow bench` for the ONNX model's inputs.
// Needs `npm run build`.
//   node scripts/bench-files.mjs <model.onnx> <rounds> <first.sparrow> <other.sparrow>...
import { readFileSync } from 'node:fs';
import '../dist/ops/ref/index.js';
import { Session } from '../dist/runtime/session.js';
import { modelInputs, randomFeeds } from '../dist/bench/bench.js';

const [onnx, rounds, ...files] = process.argv.slice(2);
if (!onnx || !(Number(rounds) > 0) || files.length < 1) {
  console.error('usage: node scripts/bench-files.mjs <model.onnx> <rounds> <first.sparrow> <other.sparrow>...');
  process.exit(2);
}
const feeds = randomFeeds(modelInputs(new Uint8Array(readFileSync(onnx))), 1, 1);
const sessions = [];
for (const f of files) sessions.push(await Session.fromSparrow(new Uint8Array(readFileSync(f)), { engine: 'sparrow-int8' }));
const times = sessions.map(() => []);
for (const s of sessions) for (let i = 0; i < 5; i++) await s.run(feeds);
for (let r = 0; r < Number(rounds); r++)
  for (let j = 0; j < sessions.length; j++) {
    const k = (j + r) % sessions.length;
    const t0 = performance.now();
    await sessions[k].run(feeds);
    times[k].push(performance.now() - t0);
  }
const p50 = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
files.forEach((f, i) =>
  console.log(`${f}  p50 ${p50(times[i]).toFixed(3)} ms  speed-up over the first ${(p50(times[0]) / p50(times[i])).toFixed(3)}x`),
);
