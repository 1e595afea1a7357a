import { readFileSync } from 'node:fs';
import loader from '@assemblyscript/loader';
const bytes = readFileSync('build/sparrow.wasm');
const t0 = performance.now();
const mod = await WebAssembly.compile(bytes);
const tc = performance.now() - t0;
const N = 5_000_000;
function bench(label, fn) {
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < N; i++) fn();
    const ns = ((performance.now() - t) * 1e6) / N;
    if (r === 2) console.log(label, ns.toFixed(1), 'ns/call');
  }
}
let ti = performance.now();
for (let i = 0; i < 200; i++) await WebAssembly.instantiate(mod, { env: { abort() {} } });
const rawInst = (performance.now() - ti) / 200;
ti = performance.now();
let L;
for (let i = 0; i < 200; i++) L = await loader.instantiate(mod, { env: {} });
const ldInst = (performance.now() - ti) / 200;
console.log(`compile ${tc.toFixed(1)} ms; instantiate raw ${(rawInst * 1000).toFixed(0)} us, loader ${(ldInst * 1000).toFixed(0)} us`);
const raw = (await WebAssembly.instantiate(mod, { env: { abort() {} } })).exports;
const p = raw.heapBase();
bench('raw export       ', () => raw.f32_fill__wasm(p, 4, 1));
bench('loader demangled ', () => L.exports.f32_fill__wasm(p, 4, 1));
bench('raw export       ', () => raw.f32_fill__wasm(p, 4, 1));
bench('loader demangled ', () => L.exports.f32_fill__wasm(p, 4, 1));
