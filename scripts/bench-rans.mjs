#!/usr/bin/env node
// Decode speed of the int8 codecs side by side, in one process: the Huffman codecs (0..3, the
// smallest per tensor), codec 4 (rans) and codec 5 (rans-lanes) on every tensor, and Node's
// zlib inflate of the deflate-9 bytes, interleaved for `--rounds` rounds (default 40) on the
// ResNet weights of `npm run bench:codec` (per-layer magnitude pruning, int8 per channel).
// Prints one JSON line per case: bytes per coder and the best and median decoded MB/s.
// Needs `npm run build` (dist/, build/sparrow.wasm) and ../shared/data.
//
//   node scripts/bench-rans.mjs [--rounds 40]
import zlib from 'node:zlib';
import { loadWasmNode } from '../dist/wasm/node.js';
import { encodeInt8 } from '../dist/codec/int8.js';
import { quantizedWeights } from '../dist/bench/weights.js';
import { dataFile } from '../dist/bench/data.js';

const argv = process.argv.slice(2);
const ri = argv.indexOf('--rounds');
const rounds = ri >= 0 ? Number(argv[ri + 1]) : 40;
const w = await loadWasmNode();
for (const model of ['resnet20-cifar10', 'resnet32-cifar10'])
  for (const sparsity of [0, 0.5, 0.7, 0.9]) {
    const ws = quantizedWeights(dataFile(`models/${model}.onnx`), sparsity);
    const n = ws.reduce((a, x) => a + x.q.length, 0);
    const all = Buffer.concat(ws.map((x) => Buffer.from(x.q.buffer, x.q.byteOffset, x.q.length)));
    const mark = w.mark();
    try {
      const work = w.alloc(Math.max(...ws.map((x) => w.workBytes(x.q.length))));
      const runs = [];
      const bytes = {};
      for (const [name, codecs] of Object.entries({ huffman: [0, 1, 2, 3], rans4: [4], rans5: [5] })) {
        const es = ws.map((x) => encodeInt8(x.q, { cols: x.q.length / x.dims[0], dims: x.dims, codecs }));
        bytes[name] = es.reduce((a, e) => a + e.payload.length, 0);
        const srcs = es.map((e) => w.put(e.payload));
        const outs = ws.map((x) => w.alloc(x.q.length));
        const run = () => es.forEach((e, i) => w.decodeInt8At(e.codec, srcs[i], e.payload.length, outs[i], ws[i].q.length, work));
        run();
        ws.forEach((x, i) => {
          const got = w.u8(outs[i], x.q.length);
          for (let j = 0; j < got.length; j++)
            if (got[j] !== (x.q[j] & 0xff)) throw new Error(`${name}: decode mismatch in ${x.name} at ${j}`);
        });
        runs.push({ name, run, t: [] });
      }
      const deflated = zlib.deflateSync(all, { level: 9 });
      runs.push({ name: 'zlib', run: () => zlib.inflateSync(deflated), t: [] });
      for (let r = 0; r < rounds; r++)
        for (const x of runs) {
          const t0 = process.hrtime.bigint();
          x.run();
          x.t.push(Number(process.hrtime.bigint() - t0) / 1e9);
        }
      const MBps = {};
      for (const x of runs) {
        x.t.sort((a, b) => a - b);
        MBps[x.name] = { best: Math.round(n / x.t[0] / 1e6), median: Math.round(n / x.t[x.t.length >> 1] / 1e6) };
      }
      process.stdout.write(JSON.stringify({ model, sparsity, params: n, bytes, MBps }) + '\n');
    } finally {
      w.release(mark);
    }
  }
