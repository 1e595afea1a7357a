#!/usr/bin/env node
// `npm start` (after `npm run build`): packs the bundled example models into
// .sparrow-data/models/<id>.sparrow, prints a one-line summary per model, then runs the edge
// Worker locally with the project's own wrangler (`wrangler dev`, offline) on 127.0.0.1:8787.
//
// wrangler runs in its own process group (detached), so SIGINT/SIGTERM (Ctrl-C) are forwarded
// to the whole group: wrangler and its workerd children stop together; so does losing our parent
// process (e.g. only `npm` was killed). Exits with wrangler's code.
// SPARROW_PORT overrides the port (default 8787).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { constants as osConstants } from 'node:os';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';
const PORT = Number(process.env.SPARROW_PORT ?? 8787);
const SPARSITY = 0.7;
const DATA_DIR = join(ROOT, '.sparrow-data');
const MODELS_OUT = join(DATA_DIR, 'models');
const PERSIST_DIR = join(DATA_DIR, 'wrangler');
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

const EXAMPLES = [
  { id: 'mnist-8', onnx: join(ROOT, 'examples', 'models', 'mnist-8.onnx') },
  { id: 'resnet20-cifar10', onnx: join(ROOT, 'examples', 'models', 'resnet20-cifar10.onnx') },
];

const log = (s) => process.stdout.write(`${s}\n`);

function die(message, code = 1) {
  process.stderr.write(`sparrow start: ${message}\n`);
  process.exit(code);
}

const kib = (n) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);

async function packExamples() {
  const dist = join(ROOT, 'dist', 'index.js');
  if (!existsSync(dist)) die('dist/index.js not found; run `npm run build` first');
  const { packOnnxWeights, inspectSparrow } = await import(pathToFileURL(dist).href);
  mkdirSync(MODELS_OUT, { recursive: true });
  log(`Packing the bundled examples (weights only: magnitude sparsity ${SPARSITY}, int8 per channel):`);
  for (const { id, onnx } of EXAMPLES) {
    if (!existsSync(onnx)) die(`missing ${relative(ROOT, onnx)}`);
    const onnxBytes = new Uint8Array(readFileSync(onnx));
    const out = join(MODELS_OUT, `${id}.sparrow`);
    let r;
    try {
      const bytes = packOnnxWeights(onnxBytes, SPARSITY);
      writeFileSync(out, bytes);
      r = inspectSparrow(bytes);
    } catch (e) {
      die(`cannot pack ${relative(ROOT, onnx)}: ${e?.code ? `${e.code}: ` : ''}${e?.message ?? e}`);
    }
    const density = r.params ? r.nonzero / r.params : 1;
    log(`  ${id.padEnd(17)} ${kib(onnxBytes.length).padStart(10)} ONNX -> ${kib(r.bytes).padStart(9)} .sparrow ` +
      `(${(onnxBytes.length / r.bytes).toFixed(1)}x smaller), density ${density.toFixed(3)} ` +
      `(${r.nonzero}/${r.params} weights), ${r.tensors.length} tensors -> ${relative(ROOT, out)}`);
  }
}

/** Resolves if HOST:PORT can be bound right now (nothing else listens there). */
function portFree(host, port) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.once('listening', () => srv.close(() => resolve(true)));
    srv.listen({ host, port, exclusive: true });
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function healthy(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

async function main() {
  if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) die(`invalid SPARROW_PORT ${process.env.SPARROW_PORT}`);
  if (!existsSync(WRANGLER)) die('node_modules/wrangler not found; run `npm install` first');
  if (!(await portFree(HOST, PORT))) {
    die(`port ${PORT} on ${HOST} is already in use (another \`wrangler dev\` or \`npm start\`?); stop it first`);
  }
  await packExamples();

  mkdirSync(PERSIST_DIR, { recursive: true });
  const base = `http://${HOST}:${PORT}`;
  log(`Starting the Worker (wrangler dev, offline) on ${base} ...`);
  const child = spawn(process.execPath, [
    WRANGLER, 'dev',
    '--ip', HOST, '--port', String(PORT),
    '--persist-to', relative(ROOT, PERSIST_DIR),
    '--show-interactive-dev-session=false',
  ], {
    cwd: ROOT,
    detached: true, // own process group: we signal -pid so workerd goes down with wrangler
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
  });

  let exited = false;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      resolve(code ?? 128 + (osConstants.signals[signal] ?? 1));
    });
  });
  child.once('error', (e) => die(`cannot start wrangler: ${e.message}`));

  const killGroup = (sig) => {
    try { process.kill(-child.pid, sig); } catch { /* group already gone */ }
  };
  let stopping = false;
  const stop = (sig) => {
    if (stopping) { killGroup('SIGKILL'); return; } // second Ctrl-C: no more waiting
    stopping = true;
    killGroup(sig);
    setTimeout(() => killGroup('SIGKILL'), STOP_GRACE_MS).unref();
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => stop(sig));
  // `npm start` runs us under `sh -c`; a SIGTERM sent to npm alone does not reach us. If our
  // parent goes away (we get re-parented), stop too rather than leave wrangler running.
  const parent = process.ppid;
  setInterval(() => { if (process.ppid !== parent) stop('SIGTERM'); }, 500).unref();
  // Whatever happens to this process, leave no wrangler/workerd behind.
  process.on('exit', () => { if (!exited) killGroup('SIGKILL'); });

  let timedOut = false;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!exited && !stopping) {
    if (await healthy(`${base}/healthz`)) {
      log('');
      log(`Sparrow edge Worker ready: ${base}`);
      log(`  GET ${base}/healthz   -> {"ok":true}`);
      log(`Packed models: ${relative(ROOT, MODELS_OUT)}/ (the model API is the next milestone). Ctrl-C to stop.`);
      break;
    }
    if (Date.now() > deadline) {
      process.stderr.write(`sparrow start: ${base}/healthz did not answer within ${READY_TIMEOUT_MS / 1000} s; stopping wrangler\n`);
      timedOut = true;
      stop('SIGTERM');
      break;
    }
    await sleep(250);
  }

  const code = await exitPromise;
  killGroup('SIGKILL'); // any straggler left in the group (workerd)
  process.exit(timedOut ? 1 : code);
}

main().catch((e) => die(e?.stack ?? String(e)));
