#!/usr/bin/env node
// The Worker's cold start for one model: what the first request to a fresh isolate pays (R2 read,
// container checks, decode, plan, first inference) against a warm request, each minus the
// /healthz round trip (the HTTP and routing cost every request has).
//
//   node scripts/worker-cold.mjs [model.sparrow] [--warm N]
//
// (default model: .bench-cache/resnet20-s70-static.sparrow, as `npm run bench` makes it.)
// Runs `wrangler dev` twice on a free loopback port with one fresh persistence folder: the first
// only to upload the model (PUT /v1/models/cold, which admits it and so warms that isolate), the
// second for the measurement: its isolate has never seen the model. Both are stopped at the end
// (their process groups, by pid). Build first: `npm run build`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const warmI = args.indexOf('--warm');
const WARM = warmI >= 0 ? Number(args[warmI + 1]) : 10;
const model = resolve(
  args.find((a, i) => !a.startsWith('--') && (warmI < 0 || i !== warmI + 1)) ?? join(ROOT, '.bench-cache', 'resnet20-s70-static.sparrow'),
);
if (!existsSync(model)) throw new Error(`${model} missing (npm run bench makes it; or give a .sparrow)`);
const log = (s) => process.stderr.write(`worker-cold: ${s}\n`);

function freePort() {
  return new Promise((r, j) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
    s.on('error', j);
  });
}

async function startWrangler(persist, token) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let out = '';
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'),
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--persist-to',
      persist,
      '--var',
      `ADMIN_TOKEN:${token}`,
      '--show-interactive-dev-session=false',
    ],
    { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' } },
  );
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited ${child.exitCode}:\n${out.slice(-2000)}`);
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      stop();
      throw new Error(`wrangler dev did not answer within 120 s:\n${out.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { base, stop, exited: () => new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r))) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[(s.length >> 1) - 1] + s[s.length >> 1]) / 2;
};
async function timed(f) {
  const t0 = performance.now();
  const r = await f();
  return { ms: performance.now() - t0, r };
}

const bytes = readFileSync(model);
const persist = mkdtempSync(join(tmpdir(), 'sparrow-worker-cold-'));
const token = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
let w;
try {
  log('wrangler dev #1: upload');
  w = await startWrangler(persist, token);
  const put = await fetch(`${w.base}/v1/models/cold`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.sparrow' },
    body: bytes,
  });
  if (put.status !== 201) throw new Error(`PUT: ${put.status} ${await put.text()}`);
  const info = await put.json();
  w.stop();
  await w.exited();
  const input = info.inputs[0];
  const dims = input.dims.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  const body = JSON.stringify({
    inputs: { [input.name]: { dims, data: Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000) } },
  });
  const infer = () =>
    fetch(`${w.base}/v1/models/cold/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(async (r) => {
      if (!r.ok) throw new Error(`infer: ${r.status} ${await r.text()}`);
      return { workerMs: Number(r.headers.get('x-sparrow-ms')), json: await r.json() };
    });
  const health = () => fetch(`${w.base}/healthz`).then((r) => r.text());

  log('wrangler dev #2: fresh isolate, measure');
  w = await startWrangler(persist, token);
  const first = await timed(infer); // the isolate has never loaded the model
  const rtts = [],
    warm = [],
    warmWorker = [];
  for (let i = 0; i < WARM; i++) {
    rtts.push((await timed(health)).ms);
    const t = await timed(infer);
    warm.push(t.ms);
    warmWorker.push(t.r.workerMs);
  }
  const rtt = median(rtts);
  const res = {
    model,
    bytes: bytes.length,
    engine: first.r.json.engine,
    healthz_rtt_ms: +rtt.toFixed(2),
    first_request_ms: +first.ms.toFixed(2),
    warm_request_ms: +median(warm).toFixed(2),
    cold_minus_rtt_ms: +(first.ms - rtt).toFixed(2),
    warm_minus_rtt_ms: +(median(warm) - rtt).toFixed(2),
    first_inference_in_worker_ms: +first.r.workerMs.toFixed(3),
    warm_inference_in_worker_ms: +median(warmWorker).toFixed(3),
    warm_samples: WARM,
  };
  process.stdout.write(JSON.stringify(res, null, 2) + '\n');
} finally {
  w?.stop();
  await w?.exited();
  rmSync(persist, { recursive: true, force: true });
}
