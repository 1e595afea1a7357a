#!/usr/bin/env node
// The Chromium half of issue 17's figures, in one headless Chromium (/usr/bin/chromium through
// playwright-core), page served cross-origin isolated (COOP/COEP) by a node:http server:
//   relaxed  sparrow-int8 on build/sparrow.relaxed.wasm vs build/sparrow.wasm (same page, same
//            .sparrow, runs interleaved), p50 per batch, and the output bits of both builds and of
//            Node (Session.fromSparrow, plain build) compared;
//   threads  numThreads 2 vs 1 (src/browser: WASM threads on a shared memory), batch 8
//            throughput and batch 1 latency, outputs compared bit for bit (when the bundle has it).
//
//   npm run build
//   node bin/sparrow.js compress ../shared/data/models/resnet32-cifar10.onnx -o /tmp/resnet32.s7.sparrow \
//     --calib cifar10:../shared/data/cifar10/test_q75.bin --activations static --weight-bits 7 \
//     --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225
//   node scripts/bench-browser.mjs --model /tmp/resnet32.s7.sparrow [--runs 40] [--batches 1,8] [--only relaxed|threads] [--simd plain] [--json]
//
// --simd plain: the threads columns on the plain SIMD builds (sparrow.threads.wasm: a 7-bit
// ResNet's 3x3 convs on Winograd) instead of the relaxed ones the page would pick. The threads
// lines end with the 2-thread pool's counts over that batch's runs (calls the helper ran, of all;
// starved windows; jobs run solo; the mean time the calling thread waited at a parallel job's
// join for calls a helper had claimed).
//
// Default model: test/fixtures/int8/resnet20.static7.sparrow. The machine is shared: the script
// prints p50 and the spread (p25..p75) of each column; compare ratios within one run only.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CHROMIUM, bundleBrowser, launchChromium, serveFiles } from './chromium.mjs';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const MODEL = resolve(arg('model', join(ROOT, 'test/fixtures/int8/resnet20.static7.sparrow')));
const RUNS = Number(arg('runs', '40'));
const BATCHES = arg('batches', '1,8').split(',').map(Number);
const ONLY = arg('only', '');
const SIMD = arg('simd', '');
const JSON_OUT = process.argv.includes('--json');

for (const f of ['build/sparrow.wasm', 'build/sparrow.relaxed.wasm', 'dist/runtime/session.js'])
  if (!existsSync(join(ROOT, f))) throw new Error(`${f} missing: run \`npm run build\` first`);
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing (apt-get install chromium)`);

function lcg(seed) {
  let s = seed >>> 0 || 1;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const dir = mkdtempSync(join(tmpdir(), 'sparrow-bench-browser-'));
let served, browser;
try {
  await bundleBrowser(dir);
  const wasm = (f) => ['application/wasm', readFileSync(join(ROOT, 'build', f))];
  const files = new Map([
    ['/', ['text/html', '<!doctype html><meta charset="utf-8"><title>bench</title>']],
    ['/sparrow.js', ['text/javascript', readFileSync(join(dir, 'sparrow.js'))]],
    ['/sparrow.wasm', wasm('sparrow.wasm')],
    ['/sparrow.relaxed.wasm', wasm('sparrow.relaxed.wasm')],
    // the threads builds (numThreads > 1), when built
    ...['sparrow.threads.wasm', 'sparrow.relaxed.threads.wasm']
      .filter((f) => existsSync(join(ROOT, 'build', f)))
      .map((f) => [`/${f}`, wasm(f)]),
    ['/model.sparrow', ['application/octet-stream', readFileSync(MODEL)]],
  ]);
  served = await serveFiles(files, { isolated: true });
  const base = served.base;

  // inputs, and Node's outputs (plain build) for them
  const { Session } = await import(pathToFileURL(join(ROOT, 'dist/runtime/session.js')).href);
  await import(pathToFileURL(join(ROOT, 'dist/ops/ref/index.js')).href);
  const bytes = new Uint8Array(readFileSync(MODEL));
  const node = await Session.fromSparrow(bytes, { engine: 'sparrow-int8' });
  const inName = node.inputNames[0],
    outName = node.outputNames[0];
  const per = node.inputInfo[inName].dims.slice(1).reduce((a, b) => a * b, 1);
  const inputs = {};
  const nodeBits = {};
  for (const b of BATCHES) {
    const r = lcg(1000 + b);
    const x = Float32Array.from({ length: b * per }, () => (r() - 0.5) * 4);
    inputs[b] = Array.from(x);
    const y = (await node.run({ [inName]: { dtype: 'float32', dims: [b, ...node.inputInfo[inName].dims.slice(1)], data: x } }))[outName];
    nodeBits[b] = Array.from(new Int32Array(y.data.buffer, y.data.byteOffset, y.data.length));
  }

  browser = await launchChromium();
  const context = browser.context;
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/');
  const result = await page.evaluate(
    async ({ inputs, RUNS, BATCHES, ONLY, SIMD, inName, outName }) => {
      const S = await import('/sparrow.js');
      const env = {
        crossOriginIsolated: globalThis.crossOriginIsolated,
        relaxed: S.relaxedSimdSupported(),
        cores: navigator.hardwareConcurrency,
      };
      const dimsOf = (m, b) => [b, ...m.inputInfo[inName].dims.slice(1)];
      const bitsOf = (t) => Array.from(new Int32Array(t.data.buffer, t.data.byteOffset, t.data.length));
      const q = (xs, p) => {
        const s = [...xs].sort((a, b) => a - b);
        return s[Math.min(s.length - 1, Math.floor(p * s.length))];
      };
      /** p50/p25/p75 per model, runs interleaved (order alternating each round). */
      async function race(models, b) {
        const x = { dtype: 'float32', dims: dimsOf(models[0].model, b), data: Float32Array.from(inputs[b]) };
        const out = {};
        for (const m of models) {
          for (let i = 0; i < 3; i++) await m.model.run({ [inName]: x });
          out[m.name] = { ms: [], bits: bitsOf((await m.model.run({ [inName]: x })).outputs[outName]) };
        }
        for (let r = 0; r < RUNS; r++) {
          const order = r % 2 ? [...models].reverse() : models;
          for (const m of order) {
            const t = performance.now();
            await m.model.run({ [inName]: x });
            out[m.name].ms.push(performance.now() - t);
          }
        }
        for (const k of Object.keys(out)) {
          const ms = out[k].ms;
          out[k] = { p50: q(ms, 0.5), p25: q(ms, 0.25), p75: q(ms, 0.75), min: Math.min(...ms), bits: out[k].bits };
        }
        return out;
      }
      const res = { env, relaxed: {}, threads: {} };
      if (ONLY !== 'threads') {
        const plain = await S.loadModel('/model.sparrow', { engine: 'sparrow-int8', simd: 'plain', wasmUrl: '/sparrow.wasm' });
        const relaxed = await S.loadModel('/model.sparrow', { engine: 'sparrow-int8', simd: 'relaxed', wasmUrl: '/sparrow.wasm' });
        res.relaxedKernels = relaxed.session.report.int8.layers.filter((l) => l.kernel.endsWith('__wasmrelaxed')).length;
        res.layers = relaxed.session.report.int8.layers.length;
        for (const b of BATCHES)
          res.relaxed[b] = await race(
            [
              { name: 'plain', model: plain },
              { name: 'relaxed', model: relaxed },
            ],
            b,
          );
      }
      if (ONLY !== 'relaxed' && 'numThreads' in (S.THREADS_INFO ?? {})) {
        const simd = SIMD ? { simd: SIMD } : {};
        const one = await S.loadModel('/model.sparrow', { engine: 'sparrow-int8', numThreads: 1, wasmUrl: '/sparrow.wasm', ...simd });
        const two = await S.loadModel('/model.sparrow', { engine: 'sparrow-int8', numThreads: 2, wasmUrl: '/sparrow.wasm', ...simd });
        res.threadsUsed = two.threads;
        res.threadKernels = [...new Set(two.session.report.int8.layers.map((l) => l.kernel))];
        res.threadStats = {};
        for (const b of BATCHES) {
          const s0 = two.threadStats;
          res.threads[b] = await race(
            [
              { name: 't1', model: one },
              { name: 't2', model: two },
            ],
            b,
          );
          const s1 = two.threadStats;
          if (s0 && s1) res.threadStats[b] = Object.fromEntries(Object.keys(s1).map((k) => [k, s1[k] - s0[k]]));
        }
      }
      return res;
    },
    { inputs, RUNS, BATCHES, ONLY, SIMD, inName, outName },
  );
  if (errors.length) throw new Error(`page errors: ${errors.join('\n')}`);

  const lines = [];
  const fmt = (s) => `p50 ${s.p50.toFixed(2)} ms (p25..p75 ${s.p25.toFixed(2)}..${s.p75.toFixed(2)}, min ${s.min.toFixed(2)})`;
  const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  lines.push(`model ${MODEL} (${bytes.length} bytes), ${RUNS} interleaved runs per column, Chromium ${context.browser()?.version() ?? ''}`);
  lines.push(
    `page: crossOriginIsolated=${result.env.crossOriginIsolated} relaxedSimd=${result.env.relaxed} hardwareConcurrency=${result.env.cores}`,
  );
  if (result.layers) lines.push(`relaxed build: ${result.relaxedKernels} of ${result.layers} int8 layers on the relaxed kernel`);
  if (result.threadKernels) lines.push(`threads columns${SIMD ? ` (--simd ${SIMD})` : ''}: kernels ${result.threadKernels.join(', ')}`);
  const summary = { model: MODEL, runs: RUNS, env: result.env, relaxed: {}, threads: {} };
  for (const b of Object.keys(result.relaxed)) {
    const r = result.relaxed[b];
    const ratio = r.plain.p50 / r.relaxed.p50,
      ratioMin = r.plain.min / r.relaxed.min;
    const bitsOk = same(r.plain.bits, r.relaxed.bits) && same(r.plain.bits, nodeBits[b]);
    lines.push(
      `batch ${b}: plain ${fmt(r.plain)}\n         relaxed ${fmt(r.relaxed)}\n         plain/relaxed p50 ${ratio.toFixed(2)}x, min ${ratioMin.toFixed(2)}x; bits plain = relaxed = Node: ${bitsOk}`,
    );
    summary.relaxed[b] = { plain: r.plain.p50, relaxed: r.relaxed.p50, speedup: ratio, speedupMin: ratioMin, identical: bitsOk };
  }
  for (const b of Object.keys(result.threads)) {
    const r = result.threads[b];
    const ratio = r.t1.p50 / r.t2.p50;
    const bitsOk = same(r.t1.bits, r.t2.bits) && same(r.t1.bits, nodeBits[b]);
    const st = result.threadStats?.[b];
    const wait =
      st?.waitMs !== undefined
        ? `, join wait ${((1000 * st.waitMs) / Math.max(1, st.jobs - st.soloJobs)).toFixed(1)} µs per parallel job`
        : '';
    const pool = st
      ? `  pool: helper ran ${st.helperCalls} of ${st.calls} calls, starved ${st.starved}, solo jobs ${st.soloJobs} of ${st.jobs}${wait}`
      : '';
    lines.push(
      `batch ${b}: 1 thread ${fmt(r.t1)}  2 threads ${fmt(r.t2)}  speedup ${ratio.toFixed(2)}x  bits t1=t2=Node: ${bitsOk}${pool}`,
    );
    summary.threads[b] = { t1: r.t1.p50, t2: r.t2.p50, speedup: ratio, identical: bitsOk, threads: result.threadsUsed, pool: st };
  }
  if (JSON_OUT) process.stdout.write(JSON.stringify(summary, null, 1) + '\n');
  else process.stdout.write(lines.join('\n') + '\n');
  writeFileSync(join(dir, 'done'), '');
} finally {
  await browser?.close();
  served?.server.close();
  rmSync(dir, { recursive: true, force: true });
}
