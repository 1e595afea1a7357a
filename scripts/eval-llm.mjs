#!/usr/bin/env node
// Cross-entropy of decoder models on text sampled from a float reference model (docs/compression.md).
//
//   node scripts/eval-llm.mjs <float.onnx> [other.onnx|.sparrow ...] [--n 100] [--len 128]
//        [--seed 1] [--engine sparrow-f32] [--bos 1] [--json]
//
// 1. --n sequences of --len tokens are sampled from the FIRST model (sparrow-f32, temperature 1,
//    no top-k / top-p truncation, seed --seed + i for sequence i), each after the BOS token.
// 2. Every model (the first included) scores each sequence teacher-forced in one run
//    (input_ids = BOS + the first len−1 tokens, empty past): CE = mean over the len positions
//    of −log softmax(logits)[next token], in nats; the table gives the mean over sequences.
// Needs `npm run build` (reads dist/).
import { readFileSync } from 'node:fs';
import { Session, generate, detectDecoder } from '../dist/index.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const flag = (name) => {
  const i = args.indexOf(name);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
};
const N = Number(opt('--n', '100'));
const LEN = Number(opt('--len', '128'));
const SEED = Number(opt('--seed', '1'));
const ENGINE = opt('--engine', 'sparrow-f32');
const BOS = Number(opt('--bos', '1'));
const JSON_OUT = flag('--json');
const files = args;
if (files.length < 1) {
  console.error('usage: node scripts/eval-llm.mjs <float.onnx> [other models...] [--n 100] [--len 128] [--seed 1] [--engine e]');
  process.exit(2);
}

async function open(file, engine) {
  const bytes = new Uint8Array(readFileSync(file));
  return file.endsWith('.sparrow') ? Session.fromSparrow(bytes, { engine }) : Session.fromOnnx(bytes, { engine });
}

function ints(dtype, values) {
  return dtype === 'int64'
    ? { dtype, dims: [1, values.length], data: BigInt64Array.from(values, (v) => BigInt(v)) }
    : { dtype, dims: [1, values.length], data: Int32Array.from(values) };
}

/** Mean −log p(seq[t] | BOS, seq[<t]) over the sequence, in nats. */
async function crossEntropy(model, layout, seq) {
  const ids = [BOS, ...seq.slice(0, -1)];
  const S = ids.length;
  const f = { [layout.inputIds]: ints(layout.idsDtype, ids) };
  if (layout.positionIds)
    f[layout.positionIds] = ints(
      layout.positionsDtype,
      ids.map((_, i) => i),
    );
  if (layout.attentionMask) f[layout.attentionMask] = ints(layout.maskDtype, new Array(S).fill(1));
  const empty = { dtype: 'float32', dims: [1, layout.heads, 0, layout.headDim], data: new Float32Array(0) };
  for (const l of layout.layers) f[l.pastKey] = f[l.pastValue] = empty;
  const out = await model.run(f);
  const logits = out[layout.logits].data;
  const V = logits.length / S;
  let ce = 0;
  for (let t = 0; t < S; t++) {
    const off = t * V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[off + v]);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[off + v] - max);
    ce += Math.log(sum) + max - logits[off + seq[t]];
  }
  return ce / S;
}

const t0 = performance.now();
const ref = await open(files[0], ENGINE);
const refLayout = detectDecoder(ref);
const seqs = [];
for (let i = 0; i < N; i++) {
  const seq = [];
  const it = generate(ref, [BOS], { maxTokens: LEN, temperature: 1, topK: 0, topP: 1, seed: SEED + i });
  for await (const tok of it) seq.push(tok);
  if (seq.length !== LEN) throw new Error(`sequence ${i}: ${seq.length} tokens sampled, ${LEN} wanted`);
  seqs.push(seq);
}
const rows = [];
for (const file of files) {
  const model = file === files[0] ? ref : await open(file, ENGINE);
  const layout = file === files[0] ? refLayout : detectDecoder(model);
  let sum = 0;
  for (const s of seqs) sum += await crossEntropy(model, layout, s);
  rows.push({ file, bytes: readFileSync(file).length, ce: sum / seqs.length });
}
const base = rows[0];
const result = {
  sequences: N,
  tokens: LEN,
  seed: SEED,
  engine: ENGINE,
  rows: rows.map((r) => ({ ...r, ratio: base.bytes / r.bytes, rise: r.ce / base.ce - 1 })),
  seconds: (performance.now() - t0) / 1000,
};
if (JSON_OUT) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`${N} sequences × ${LEN} tokens sampled from ${files[0]} (temperature 1, seeds ${SEED}..${SEED + N - 1}), ${ENGINE}`);
  console.log('| model | bytes | ratio | CE (nats/token) | rise |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of result.rows)
    console.log(`| ${r.file} | ${r.bytes} | ${r.ratio.toFixed(2)}× | ${r.ce.toFixed(4)} | ${(100 * r.rise).toFixed(2)} % |`);
}
