// sparrow-f32 and sparrow-int8 of several source trees in ONE process, every session interleaved
// run by run (the order rotated each round), so machine noise hits all of them alike: per tree
// the p50 / p25 of both engines and their ratio (f32 / int8). On a shared, loaded machine the
// ratio of two builds measured in separate processes moves by ±0.1; this is the comparison to
// believe. Each tree needs its dist/ and build/sparrow.wasm (`npm run build`).
//   node scripts/bench-trees.mjs <model.onnx> [--runs 60] [--compressed <file.sparrow>] <tree> [<tree> ...]
//   e.g. node scripts/bench-trees.mjs ../shared/data/models/zoo/efficientnet_b0-random.onnx ../main .
// --compressed: both engines run that .sparrow file of the model (sparrow-int8 on its static
// ranges, if it has them) instead of the ONNX model; the feeds still come from the ONNX inputs.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 60;
const fileAt = args.indexOf('--compressed');
const file = fileAt >= 0 ? new Uint8Array(readFileSync(args[fileAt + 1])) : undefined;
// an option's index and its value's; none for an absent option (-1 + 1 would drop the model)
const taken = new Set([runsAt, fileAt].filter((i) => i >= 0).flatMap((i) => [i, i + 1]));
const rest = args.filter((_, i) => !taken.has(i));
const [model, ...trees] = rest;
if (!model || !trees.length) {
  console.error('usage: node scripts/bench-trees.mjs <model.onnx> [--runs 60] <tree> [<tree> ...]');
  process.exit(2);
}
const bytes = new Uint8Array(readFileSync(model));
const S = [];
for (const tree of trees) {
  const url = (p) => pathToFileURL(resolve(tree, p)).href;
  await import(url('dist/ops/ref/index.js'));
  const { Session } = await import(url('dist/runtime/session.js'));
  const { modelInputs, randomFeeds } = await import(url('dist/bench/bench.js'));
  const feeds = randomFeeds(modelInputs(bytes), 1, 1);
  for (const engine of ['sparrow-f32', 'sparrow-int8'])
    S.push({ tree, engine, s: await (file ? Session.fromSparrow(file, { engine }) : Session.fromOnnx(bytes, { engine })), feeds, t: [] });
}
for (const x of S) for (let i = 0; i < 5; i++) await x.s.run(x.feeds);
for (let r = 0; r < runs; r++)
  for (let j = 0; j < S.length; j++) {
    const x = S[(j + r) % S.length];
    const t = performance.now();
    await x.s.run(x.feeds);
    x.t.push(performance.now() - t);
  }
const q = (a, f) => [...a].sort((u, v) => u - v)[Math.floor((a.length - 1) * f)];
for (const tree of trees) {
  const [f, i] = S.filter((x) => x.tree === tree);
  const p = (fr) => `${q(f.t, fr).toFixed(2)} / ${q(i.t, fr).toFixed(2)} ms = ${(q(f.t, fr) / q(i.t, fr)).toFixed(3)}`;
  console.log(`${tree.padEnd(24)} f32 / int8  p50 ${p(0.5)}   p25 ${p(0.25)}`);
}
