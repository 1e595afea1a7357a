#!/usr/bin/env node
// sparrow-int8's error against sparrow-f32 on one ONNX model (no calibration: dynamic mode, or the
// model's own quantization): max over 5 seeded inputs, uniform in [-1, 1), of max|int8 − f32| /
// max|f32| over every output, for this tree's sparrow-int8 and each further source tree's (their
// dist/: e.g. a worktree with an experimental lowering); sparrow-f32 always from this tree.
//   node scripts/int8-error.mjs <model.onnx> [<tree> ...]
// Needs `npm run build` (and in each tree). Dynamic batch / free dimensions are taken as 1.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [model, ...trees] = process.argv.slice(2);
if (!model) {
  console.error('usage: node scripts/int8-error.mjs <model.onnx> [<tree> ...]');
  process.exit(2);
}
const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const load = async (tree, p) => import(pathToFileURL(resolve(tree, 'dist', p)).href);
const bytes = new Uint8Array(readFileSync(model));
await load(here, 'ops/ref/index.js');
const { Session } = await load(here, 'runtime/session.js');
const { modelInputs } = await load(here, 'bench/bench.js');
const f32 = await Session.fromOnnx(bytes, { engine: 'sparrow-f32' });

/** input set `seed`: every float input uniform in [-1, 1) from a 32-bit LCG */
function feeds(seed) {
  let st = (seed * 2654435761) >>> 0;
  const out = {};
  for (const i of modelInputs(bytes)) {
    const dims = (i.dims ?? [1]).map((v) => (v > 0 ? v : 1));
    const d = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let k = 0; k < d.length; k++) {
      st = (Math.imul(st, 1664525) + 1013904223) >>> 0;
      d[k] = (st / 2 ** 32) * 2 - 1;
    }
    out[i.name] = { dtype: 'float32', dims, data: d };
  }
  return out;
}

for (const tree of [here, ...trees.map((t) => resolve(t))]) {
  if (tree !== here) await load(tree, 'ops/ref/index.js');
  const S = (await load(tree, 'runtime/session.js')).Session;
  const q = await S.fromOnnx(bytes, { engine: 'sparrow-int8' });
  let worst = 0;
  for (let seed = 1; seed <= 5; seed++) {
    const x = feeds(seed);
    const a = await f32.run(x),
      b = await q.run(x);
    for (const k of Object.keys(a)) {
      let md = 0,
        mf = 0;
      const u = a[k].data,
        v = b[k].data;
      for (let j = 0; j < u.length; j++) {
        md = Math.max(md, Math.abs(u[j] - v[j]));
        mf = Math.max(mf, Math.abs(u[j]));
      }
      worst = Math.max(worst, md / mf);
    }
  }
  console.log(`${tree}  sparrow-int8 vs sparrow-f32: max|d| / max|f32| ${worst.toExponential(2)} (5 inputs)`);
}
