#!/usr/bin/env node
// Where the time of sparrow-f32 and sparrow-int8 goes on one ONNX model, step by step (diagnostics).
//
//   node scripts/profile-steps.mjs <model.onnx> [--compressed <file.sparrow>] [--reps 15] [--runs 3] [--min] [--steps] [--exports] [--root <tree>]
//
// Session.profile (src/runtime/plan_runner.ts profilePlan: per-step wall time) is called `reps`
// times per engine, interleaved, `runs` runs each; each step's figure is the median over the reps
// (--min: the minimum, steadier on a loaded machine). Printed: per engine the sum of the steps
// by category (an int8 layer by its kernel and io, the others by op), --steps every step of the
// int8 plan beside the same node's f32 time, --exports the int8 engine's time per WASM export
// (each export wrapped in a timer: slower overall, but it splits a layer step into its quantize
// / kernel / activation calls). --root: the tree whose dist/ runs (default: this one), to compare
// two builds. --compressed: sparrow-int8 runs that .sparrow file of the model (its static ranges,
// sparse kernels) instead of the ONNX. Uses dist/: run `npm run build` first.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const model = args.find((a, i) => !a.startsWith('--') && !['--reps', '--runs', '--root', '--compressed'].includes(args[i - 1]));
if (!model) {
  console.error(
    'usage: node scripts/profile-steps.mjs <model.onnx> [--compressed <file.sparrow>] [--reps 15] [--runs 3] [--min] [--steps] [--exports] [--root <tree>]',
  );
  process.exit(2);
}
const root = resolve(opt('--root', resolve(dirname(fileURLToPath(import.meta.url)), '..')));
const reps = Number(opt('--reps', 15)),
  runs = Number(opt('--runs', 3));
const useMin = args.includes('--min');

const { Session } = await import(pathToFileURL(`${root}/dist/index.js`).href);
const { modelInputs, randomFeeds } = await import(pathToFileURL(`${root}/dist/bench/bench.js`).href);

// --exports: every WASM export of the instances created from here on, timed
let exportMs = new Map();
const exportRuns = [];
if (args.includes('--exports')) {
  const { SparrowWasm } = await import(pathToFileURL(`${root}/dist/wasm/gateway.js`).href);
  const instantiate = SparrowWasm.instantiate;
  SparrowWasm.instantiate = async (m) => {
    const w = await instantiate.call(SparrowWasm, m);
    const raw = w.exports,
      timed = {};
    for (const k of Object.keys(raw)) {
      const f = raw[k];
      if (typeof f !== 'function') {
        Object.defineProperty(timed, k, { get: () => raw[k] });
        continue;
      }
      timed[k] = (...a) => {
        const t0 = performance.now();
        try {
          return f(...a);
        } finally {
          exportMs.set(k, (exportMs.get(k) ?? 0) + performance.now() - t0);
        }
      };
    }
    Object.defineProperty(w, 'exports', { value: timed });
    return w;
  };
}

const bytes = readFileSync(model);
const feeds = randomFeeds(modelInputs(bytes), 1, 42);
const pick = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return useMin ? s[0] : s[s.length >> 1];
};
const engines = ['sparrow-f32', 'sparrow-int8'];
const sessions = {};
const compressed = opt('--compressed', undefined);
for (const e of engines)
  sessions[e] =
    e === 'sparrow-int8' && compressed
      ? await Session.fromSparrow(readFileSync(compressed), { engine: e })
      : await Session.fromOnnx(bytes, { engine: e });
const samples = Object.fromEntries(engines.map((e) => [e, []]));
for (let r = 0; r < reps; r++)
  for (const e of engines) {
    exportMs = new Map();
    samples[e].push(await sessions[e].profile(feeds, runs));
    if (e === 'sparrow-int8') exportRuns.push(exportMs);
  }
const steps = Object.fromEntries(
  engines.map((e) => [e, samples[e][0].map((p, k) => ({ ...p, ms: pick(samples[e].map((s) => s[k].ms)) }))]),
);
const layers = new Map((sessions['sparrow-int8'].report?.int8?.layers ?? []).map((l) => [l.node, l]));

console.log(`${model}: ${useMin ? 'minimum' : 'median'} of ${reps} profiles of ${runs} runs per engine, interleaved`);
for (const e of engines) {
  const cats = new Map();
  let total = 0;
  for (const p of steps[e]) {
    const l = e === 'sparrow-int8' ? layers.get(p.node) : undefined;
    const key = l ? `int8 ${l.kernel} (${l.io})` : p.op || p.node.split(' ')[0];
    const c = cats.get(key) ?? { ms: 0, n: 0 };
    c.ms += p.ms;
    c.n++;
    cats.set(key, c);
    total += p.ms;
  }
  console.log(`${e}: ${total.toFixed(3)} ms over ${steps[e].length} steps`);
  for (const [k, v] of [...cats].sort((a, b) => b[1].ms - a[1].ms))
    console.log(`  ${k.padEnd(52)} ${v.ms.toFixed(3).padStart(8)} ms ${((100 * v.ms) / total).toFixed(1).padStart(5)} %  (${v.n} steps)`);
}
if (args.includes('--exports')) {
  const keys = new Set(exportRuns.flatMap((m) => [...m.keys()]));
  console.log(`sparrow-int8 per WASM export (ms per run, ${useMin ? 'minimum' : 'median'} over the profiles; timers included):`);
  const rows = [...keys].map((k) => [k, pick(exportRuns.map((m) => (m.get(k) ?? 0) / (runs + 1)))]).sort((a, b) => b[1] - a[1]);
  for (const [k, ms] of rows) if (ms >= 0.001) console.log(`  ${k.padEnd(44)} ${ms.toFixed(3)}`);
}
if (args.includes('--steps')) {
  const f = new Map(steps['sparrow-f32'].map((p) => [p.node, p.ms]));
  console.log('sparrow-int8 steps (int8 ms | the node in sparrow-f32 | int8 kernel):');
  for (const p of steps['sparrow-int8'])
    console.log(
      `  ${p.op.padEnd(20)} ${p.node.slice(-52).padEnd(52)} ${p.ms.toFixed(4)} | ${(f.get(p.node) ?? NaN).toFixed(4)} ${layers.get(p.node)?.kernel ?? ''}`,
    );
}
for (const e of engines) await sessions[e].dispose();
