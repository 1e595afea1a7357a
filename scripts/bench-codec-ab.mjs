#!/usr/bin/env node
// A/B of the WASM int8 decoders of two (or more) builds, in one process: the same payloads
// (every tensor coded with one codec) decoded by each build and Node's zlib inflate of the
// deflate-9 bytes, interleaved for `--rounds` rounds, on the ResNet weights of `npm run
// bench:codec` (per-layer magnitude pruning, int8 per channel). Each build's output is checked
// against the weights first. Prints one line per case: decoded MB/s per build and codec.
// `--csr`: the builds' decodeCsr instead (each (N, K) weight decoded to the sparse conv's CSR,
// int16 values, as the int8 engine loads it), checked against decodeCsrRef first. Under
// `node --liftoff-only` the decoders stay in V8's baseline tier, the code a cold
// load runs (issue 17's cold line).
// Needs `npm run build` (dist/) and ../shared/data; the builds are release .wasm files, e.g.
//   git stash && npx asc assembly/index.ts --target release -o /tmp/a.wasm && git stash pop
//   node scripts/bench-codec-ab.mjs --wasm /tmp/a.wasm,build/sparrow.wasm --codecs 5,6 [--rounds 25]
//   node scripts/bench-codec-ab.mjs --wasm /tmp/a.wasm,build/sparrow.wasm --codecs 2,3 --csr --sparsities 0.7
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { SparrowWasm } from '../dist/wasm/gateway.js';
import { decodeCsrRef, encodeInt8 } from '../dist/codec/int8.js';
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
const csr = argv.includes('--csr');
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
        let decodeAll;
        if (csr) {
          // CSR of (N, K): row pointers (N+1) u32, columns u16, values int16 (4 B per nonzero)
          const shape = enc.map(({ x }) => ({
            N: x.dims[0],
            K: x.q.length / x.dims[0],
            nnz: x.q.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0),
          }));
          const csrs = shape.map(({ N, nnz }) => ({ rp: w.alloc(4 * (N + 1)), cp: w.alloc(2 * nnz + 16), vp: w.alloc(2 * nnz + 16) }));
          decodeAll = () =>
            enc.forEach(({ e }, i) => {
              const { N, K, nnz } = shape[i],
                { rp, cp, vp } = csrs[i];
              const got = w.exports.decodeCsr(e.codec, srcs[i], e.payload.length, N, K, rp, cp, vp, nnz, work, outs[i], 2);
              if (got !== nnz) throw new Error(`${label(paths[bi])}: codec ${codec} decodeCsr status ${got}`);
            });
          decodeAll();
          enc.forEach(({ x, e }, i) => {
            const { N, K, nnz } = shape[i],
              { rp, cp, vp } = csrs[i];
            const ref = decodeCsrRef(e.codec, e.payload, N, K);
            const same = (a, b) => a.length === b.length && a.every((v, j) => v === b[j]);
            if (
              !same(new Uint32Array(w.exports.memory.buffer, rp, N + 1), ref.rowPtr) ||
              !same(new Uint16Array(w.exports.memory.buffer, cp, nnz), ref.col) ||
              !same(new Int16Array(w.exports.memory.buffer, vp, nnz), ref.val)
            )
              throw new Error(`${label(paths[bi])}: codec ${codec} CSR mismatch in ${x.name}`);
          });
        } else {
          decodeAll = () => enc.forEach(({ x, e }, i) => w.decodeInt8At(e.codec, srcs[i], e.payload.length, outs[i], x.q.length, work));
          decodeAll();
          enc.forEach(({ x }, i) => {
            const got = w.u8(outs[i], x.q.length);
            for (let j = 0; j < got.length; j++)
              if (got[j] !== (x.q[j] & 0xff)) throw new Error(`${label(paths[bi])}: codec ${codec} decode mismatch in ${x.name} at ${j}`);
          });
        }
        runs.push({ name: `codec ${codec}${csr ? ' csr' : ''} ${label(paths[bi])}`, run: decodeAll });
      });
    }
    const t = interleave(runs, rounds);
    builds.forEach((w, i) => w.release(marks[i]));
    console.log(`${model} ${sparsity * 100}%: ${[...t].map(([k, s]) => `${k} ${(all.length / s / 1e6).toFixed(1)}`).join(' | ')} MB/s`);
  }
