#!/usr/bin/env node
// sparrow-f32's batch-1 GEMM (GEMV: classifier heads, token decoding): the 1x8 tile against the
// 1x32 tile that f32_gemm__wasmsimd runs for one row, interleaved in one process, median of 200
// rounds per shape (K, N: a Linear of K inputs and N outputs).
//   npm run build && node scripts/bench-gemv.mjs [tree]
import { resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
const root = resolve(process.argv[2] ?? resolve(dirname(fileURLToPath(import.meta.url)), '..'));
const { loadWasmNode } = await import(pathToFileURL(`${root}/dist/wasm/node.js`).href);
const w = await loadWasmNode();
const shapes = [
  [576, 1024],
  [1024, 1000],
  [1280, 1000],
  [64, 10],
  [288, 768],
  [768, 3072],
];
for (const [K, N] of shapes) {
  const m = w.mark();
  const a = w.alloc(K * 4),
    bp = w.alloc(w.exports.f32_packed_b_size(K, N) * 4),
    c = w.alloc(N * 4 + 64),
    bias = w.alloc(N * 4);
  const av = w.f32(a, K);
  for (let i = 0; i < K; i++) av[i] = Math.sin(i);
  const bv = w.f32(bp, w.exports.f32_packed_b_size(K, N));
  for (let i = 0; i < bv.length; i++) bv[i] = Math.cos(i) * 0.01;
  const names = ['f32_gemm_1x8__wasmsimd', 'f32_gemm_1x32__wasmsimd'];
  const t = names.map(() => []);
  const reps = Math.max(3, Math.round(2e6 / (K * N)));
  for (let r = 0; r < 200; r++)
    for (let j = 0; j < 2; j++) {
      const k = (j + r) & 1;
      const t0 = performance.now();
      for (let q = 0; q < reps; q++) w.exports[names[k]](1, N, K, a, K, bp, c, N, bias, 2, 0, 0, 0);
      t[k].push((performance.now() - t0) / reps);
    }
  const med = (x) => [...x].sort((p, q) => p - q)[x.length >> 1];
  const m8 = med(t[0]),
    m32 = med(t[1]);
  console.log(
    `K=${K} N=${N}: 1x8 ${(m8 * 1000).toFixed(1)} us (${((K * N) / m8 / 1e6).toFixed(2)} GMAC/s), 1x32 ${(m32 * 1000).toFixed(1)} us (${((K * N) / m32 / 1e6).toFixed(2)} GMAC/s), ${(m8 / m32).toFixed(2)}x`,
  );
  w.release(m);
}
