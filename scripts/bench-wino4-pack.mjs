// A/B of the F(4x4) weight pack (qs8_wino4_pack_w) between WASM builds, in one process: the same
// random int8 weights (M, Cin, 3, 3) packed by each build's instance into a buffer first filled
// with 0xcd (so that a byte the pack does not write shows), the packed bytes compared across
// builds (equal only between builds of one layout: the 2026-12-07 change of scales changed it), then
// 200 interleaved rounds of 3 packs each; prints the median µs per pack per build.
//   node scripts/bench-wino4-pack.mjs <a.wasm> <b.wasm> [...]
// Needs `npm run build` (dist/).
import { readFileSync } from 'node:fs';
import { SparrowWasm } from '../dist/wasm/gateway.js';
const files = process.argv.slice(2);
if (files.length < 1) {
  console.error('usage: node scripts/bench-wino4-pack.mjs <a.wasm> [<b.wasm> ...]');
  process.exit(2);
}
const ws = [];
for (const f of files) ws.push(await SparrowWasm.instantiate(await WebAssembly.compile(readFileSync(f))));
const shapes = [
  [16, 16],
  [32, 32],
  [64, 64],
  [5, 3],
  [7, 9],
  [1, 1],
  [128, 128],
  [13, 17],
];
let r = 9;
const rnd = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0) >>> 24;
for (const [M, C] of shapes) {
  const K = C * 9;
  const W = Int8Array.from({ length: M * K }, () => rnd() - 128);
  const outs = [],
    ts = ws.map(() => []);
  const setups = ws.map((w) => {
    const src = w.alloc(M * K + 16);
    w.i8(src, M * K).set(W);
    const n = w.exports.qs8_wino4_packed_w_bytes(M, K, 1);
    const dst = w.alloc(n);
    w.u8(dst, n).fill(0xcd);
    const st = w.exports.qs8_wino4_pack_w(M, K, 1, src, dst);
    outs.push(st + ':' + Buffer.from(w.u8(dst, n)).toString('hex'));
    return () => w.exports.qs8_wino4_pack_w(M, K, 1, src, dst);
  });
  for (let round = 0; round < 200; round++)
    setups.forEach((f, i) => {
      const t0 = performance.now();
      for (let j = 0; j < 3; j++) f();
      ts[i].push((performance.now() - t0) / 3);
    });
  const q = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(
    `${M}x${C}: ` + ts.map((t) => (q(t) * 1000).toFixed(1) + ' µs').join(', ') + `; bytes equal ${outs.every((o) => o === outs[0])}`,
  );
}
