#!/usr/bin/env node
// A/B of the WASM int8 decoders of two (or more) builds, in one process: the same payloads
// (every tensor coded with one codec) decoded by each build and Node's zlib inflate of the
// deflate-9 bytes, interleaved for `--rounds` rounds, on the ResNet weights of `npm run
// bench:codec` (per-layer magnitude pruning, int8 per channel). Each build's output is checked
// against the weights first. Prints one line per case: decoded MB/s per build and codec.
// Needs `npm run build` (dist/) and ../shared/data; the builds are release .wasm files, e.g.
//   git stash && npx asc assembly/index.ts --target release -o /tmp/a.wasm && git stash pop
//   node scripts/bench-codec-ab.mjs --wasm /tmp/a.wasm,build/sparrow.wasm --codecs 5,6 [--rounds 25]
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { SparrowWasm } from '../dist/wasm/gateway.js';
import { encodeInt8 } from '../dist/codec/int8.js';
import { quantizedWeights } from '../dist/bench/weights.js';
import { dataFile } from '../dist/bench/data.js';
import { interleave } from '../dist/bench/timing.js';

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const paths = arg('wasm', 'build/sparrow.wasm').split(',');
const codecs = arg('codecs', '5,6').split(',').map(Number);
const rounds = Number(arg('rounds', '25'));
const models = arg('models', 'resnet20-cifar10,resnet32-cifar10').split(',');
const sparsities = arg('sparsities', '0,0.5,0.7,0.9').split(',').map(Number);
const builds = await Promise.all(paths.map(async (p) => SparrowWasm.instantiate(await WebAssembly.compile(readFileSync(p)))));
const label = (p) => p.split('/').pop();

for (const model of models)
  for (const sparsity of sparsities) {
    const weights = quantizedWeights(dataFile(`models/${model}.onnx`), sparsity);
    const all = Buffer.concat(weights.map((x) => Buffer.from(x.q.buffer, x.q.byteOffset, x.q.length)));
    const deflated = zlib.deflateSync(all, { level: 9 });
    const runs = [{ name: 'zlib', run: () => zlib.inflateSync(deflated) }];
    const marks = builds.map((w) => w.mark());
    for (const codec of codecs) {
      const enc = weights.map((x) => ({ x, e: encodeInt8(x.q, { cols: x.q.length / x.dims[0], dims: x.dims, codecs: [codec] }) }));
      builds.forEach((w, bi) => {
        const work = w.alloc(Math.max(...weights.map((x) => w.workBytes(x.q.length))));
        const srcs = enc.map(({ e }) => w.put(e.payload));
        const outs = enc.map(({ x }) => w.alloc(x.q.length));
        const decodeAll = () => enc.forEach(({ x, e }, i) => w.decodeInt8At(e.codec, srcs[i], e.payload.length, outs[i], x.q.length, work));
        decodeAll();
        enc.forEach(({ x }, i) => {
          const got = w.u8(outs[i], x.q.length);
          for (let j = 0; j < got.length; j++)
            if (got[j] !== (x.q[j] & 0xff)) throw new Error(`${label(paths[bi])}: codec ${codec} decode mismatch in ${x.name} at ${j}`);
        });
        runs.push({ name: `codec ${codec} ${label(paths[bi])}`, run: decodeAll });
      });
    }
    const t = interleave(runs, rounds);
    builds.forEach((w, i) => w.release(marks[i]));
    console.log(`${model} ${sparsity * 100}%: ${[...t].map(([k, s]) => `${k} ${(all.length / s / 1e6).toFixed(1)}`).join(' | ')} MB/s`);
  }
