// Fine-tuning experiments on the float graph (docs/compression.md "Channels + fine-tuning"): prunes ResNet-20
// channels (pruneChannels on records 0..PRUNEN-1), fine-tunes on records 0..CALIBN-1 with the settings from the
// environment (EPOCHS, LR, BS, T, BETA, PAD, MIX none|mixup|cutmix, ALPHA, WARM, EMA, SEED; FRAC, SCOPE uniform|global)
// and prints the float top-1 (sparrow-f32) on records 1000..1000+EVALN-1 (default 1000; EMA: also of the last weights).
// OUT=f.sparrow also writes the int8 file (compressGraph --prune hessian --sparsity 0 on the tuned graph, calibrated
// on the CALIBN records). Run after `npm run build`: FRAC=0.5 EPOCHS=16 MIX=mixup node scripts/finetune-exp.mjs
import { readFileSync, writeFileSync } from 'node:fs';
const D = new URL('../dist', import.meta.url).pathname;
const { importOnnx, loadWasmNode } = await import(D + '/index.js');
const { optimize } = await import(D + '/ir/passes.js');
const { pruneChannels } = await import(D + '/compress/channels.js');
const { wasmCalibAccel } = await import(D + '/compress/accel.js');
const { finetune } = await import(D + '/compress/finetune.js');
const { compressGraph } = await import(D + '/compress/compress.js');
const { imageBatch } = await import(D + '/io/datasets.js');
const { loadDatasetSpec } = await import(D + '/io/datasets_node.js');
const { Session } = await import(D + '/runtime/session.js');
const mean = [0.485, 0.456, 0.406],
  std = [0.229, 0.224, 0.225];
const env = process.env;
const frac = Number(env.FRAC ?? 0.5),
  scope = env.SCOPE ?? 'uniform',
  calibN = Number(env.CALIBN ?? 1000);
const g = importOnnx(readFileSync(env.MODEL ?? new URL('../../shared/data/models/resnet20-cifar10.onnx', import.meta.url).pathname));
optimize(g);
// TEACHER=f.onnx: distil from another network with the same input and logits (e.g. ResNet-32); use BETA=0 then
// (block features are matched by value name, which only means the same thing in the unpruned network itself)
const teacher = env.TEACHER ? importOnnx(readFileSync(env.TEACHER)) : g;
if (env.TEACHER) optimize(teacher);
const set = loadDatasetSpec('cifar10:' + (env.DATA ?? new URL('../../shared/data/cifar10/test_q75.bin', import.meta.url).pathname));
const batches = [];
for (let i = 0; i < calibN; i += 100) batches.push(imageBatch(set, i, Math.min(100, calibN - i), { mean, std }));
const wasm = await loadWasmNode();
const evalN = Number(env.EVALN ?? 1000);
async function top1(graph) {
  const s = Session.fromGraph(graph, { engine: 'sparrow-f32' });
  let ok = 0;
  for (let i = 1000; i < 1000 + evalN; i += 200) {
    const x = imageBatch(set, i, 200, { mean, std });
    const y = (await s.run({ input: x })).logits.data;
    for (let k = 0; k < 200; k++) {
      let b = 0;
      for (let c = 1; c < 10; c++) if (y[k * 10 + c] > y[k * 10 + b]) b = c;
      if (b === set.labels[i + k]) ok++;
    }
  }
  return ok / evalN;
}
let t0 = Date.now();
const pruneN = Number(env.PRUNEN ?? 256);
const pb = [];
for (let i = 0; i < pruneN; i += 32) pb.push(imageBatch(set, i, Math.min(32, pruneN - i), { mean, std }));
const { graph: pruned, report } = pruneChannels(g, pb, frac, {
  accel: wasmCalibAccel(wasm),
  scope: scope === 'global' ? 'flops' : 'uniform',
});
console.log(
  'env',
  JSON.stringify(
    Object.fromEntries(
      Object.entries(env).filter(
        ([k]) =>
          /^[A-Z]+$/.test(k) &&
          !['PATH', 'HOME', 'PWD', 'SHELL', 'USER', 'TERM', 'LANG', 'OLDPWD', 'SHLVL', 'HOSTNAME', 'LOGNAME'].includes(k),
      ),
    ),
  ),
);
console.log(
  'pruned',
  frac,
  scope,
  report.layers.map((l) => `${l.kept}/${l.channels}`).join(' '),
  ((Date.now() - t0) / 1000).toFixed(1) + 's',
);
if (env.BASE) console.log('float', await top1(g), 'pruned', await top1(pruned), env.TEACHER ? `teacher ${await top1(teacher)}` : '');
t0 = Date.now();
const res = await finetune(pruned, teacher, batches, {
  epochs: Number(env.EPOCHS ?? 1),
  lr: env.LR ? Number(env.LR) : undefined,
  optimizer: env.OPT ?? 'adam',
  temperature: Number(env.T ?? 2),
  featureWeight: Number(env.BETA ?? 1),
  batchSize: Number(env.BS ?? 32),
  wasm,
  padValue: mean.map((m, c) => -m / std[c]),
  pad: Number(env.PAD ?? 4),
  mix: env.MIX ?? 'none',
  mixAlpha: Number(env.ALPHA ?? 1),
  warmupEpochs: Number(env.WARM ?? 0),
  ema: Number(env.EMA ?? 0),
  seed: Number(env.SEED ?? 1),
  onEpoch: (e, n, l) => console.log(`epoch ${e}/${n} loss ${l.toFixed(4)} ${((Date.now() - t0) / 1000).toFixed(1)}s`),
});
console.log(
  'finetuned top1',
  await top1(res.graph),
  res.last ? `last ${await top1(res.last)}` : '',
  ((Date.now() - t0) / 1000).toFixed(1) + 's',
);
if (env.OUT) {
  const t1 = Date.now();
  const r = await compressGraph(res.graph, {
    prune: 'hessian',
    sparsity: 0,
    calib: { batches, spec: 'cifar10:test_q75.bin' },
    preprocessing: { mean, std },
    wasm,
  });
  writeFileSync(env.OUT, r.bytes);
  console.log('wrote', env.OUT, r.bytes.length, ((Date.now() - t1) / 1000).toFixed(1) + 's');
}
