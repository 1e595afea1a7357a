#!/usr/bin/env node
// `npm run loadtest [-- --url http://127.0.0.1:8787 --token T] [--requests 2000] [--concurrency 32]
//                   [--gets 200] [--json]`
// Loopback only, bounded in count and time (each phase stops at its deadline). Without --url it
// starts its own Worker (scripts/start.js on a free port, fresh local R2 state, random token)
// and stops it afterwards.
//   1. inference: --requests POSTs of real MNIST digits (examples/calib/mnist-t10k-9000-9015.npy,
//      held out from calibration) to /v1/models/mnist-8/infer at --concurrency; requests/s,
//      p50/p99 latency, errors, and how many answers name the digit's label.
//   2. atomic versions: a writer PUTs two different models in turn as new versions of
//      `loadtest-swap` while --gets concurrent GETs of /v1/models/loadtest-swap read it; every
//      body must be a complete, checksum-valid container (readContainer), its SHA-256 equal to
//      its ETag and to one of the two models: old or new, never a mix.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MODELS_OUT, ROOT, startOwnWorker } from './examples.js';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const JSON_OUT = argv.includes('--json');
const REQUESTS = Math.min(100_000, Number(opt('requests', 2000)));
const CONCURRENCY = Math.min(256, Number(opt('concurrency', 32)));
const GETS = Math.min(2000, Number(opt('gets', 200)));
const PHASE_TIMEOUT_MS = Number(opt('timeout', 180)) * 1000;
const log = (s) => {
  if (!JSON_OUT) process.stdout.write(`${s}\n`);
};
const info = (s) => process.stderr.write(`${s}\n`);
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

const { parseNpy, readContainer } = await import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href);

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

async function inferPhase(base) {
  const x = parseNpy(new Uint8Array(readFileSync(join(ROOT, 'examples', 'calib', 'mnist-t10k-9000-9015.npy'))));
  const labels = parseNpy(new Uint8Array(readFileSync(join(ROOT, 'examples', 'calib', 'mnist-t10k-9000-9015-labels.npy')))).data;
  const bodies = [];
  for (let i = 0; i < x.shape[0]; i++) {
    const data = Array.from(x.data.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
    bodies.push(JSON.stringify({ inputs: { Input3: { dims: [1, 1, 28, 28], data } } }));
  }
  // warm the model cache (first request decodes)
  await (
    await fetch(`${base}/v1/models/mnist-8/infer`, { method: 'POST', body: bodies[0], headers: { 'content-type': 'application/json' } })
  ).arrayBuffer();
  const lat = [];
  let next = 0,
    errors = 0,
    correct = 0,
    answered = 0;
  const statuses = {};
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  const t0 = performance.now();
  async function worker() {
    while (next < REQUESTS && Date.now() < deadline) {
      const i = next++;
      const k = i % bodies.length;
      const s = performance.now();
      try {
        const res = await fetch(`${base}/v1/models/mnist-8/infer`, {
          method: 'POST',
          body: bodies[k],
          headers: { 'content-type': 'application/json' },
        });
        const j = await res.json();
        lat.push(performance.now() - s);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status !== 200) {
          errors++;
          continue;
        }
        answered++;
        const d = j.outputs.Plus214_Output_0.data;
        if (d.indexOf(Math.max(...d)) === labels[k]) correct++;
      } catch {
        errors++;
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return {
    requests:
      lat.length +
      (errors -
        Object.entries(statuses)
          .filter(([s]) => s !== '200')
          .reduce((a, [, n]) => a + n, 0)),
    concurrency: CONCURRENCY,
    seconds: +secs.toFixed(3),
    rps: +((answered + errors) / secs).toFixed(1),
    p50_ms: +pct(lat, 50).toFixed(2),
    p99_ms: +pct(lat, 99).toFixed(2),
    max_ms: +lat[lat.length - 1].toFixed(2),
    errors,
    statuses,
    correct,
    answered,
    timedOut: next < REQUESTS,
  };
}

async function swapPhase(base, token) {
  const a = readFileSync(join(MODELS_OUT, 'mnist-8.sparrow'));
  const b = readFileSync(join(MODELS_OUT, 'resnet20-cifar10.sparrow'));
  const known = new Map([
    [sha256(a), 'A'],
    [sha256(b), 'B'],
  ]);
  const url = `${base}/v1/models/loadtest-swap`;
  const put = async (bytes) => {
    const res = await fetch(url, { method: 'PUT', body: bytes, headers: { authorization: `Bearer ${token}` } });
    const j = await res.json();
    if (res.status !== 201) throw new Error(`PUT ${res.status} ${JSON.stringify(j)}`);
    return j.version;
  };
  await put(a);
  let puts = 1,
    putErrors = 0,
    writing = true,
    lastVersion = 1;
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  const writer = (async () => {
    while (writing && Date.now() < deadline) {
      try {
        lastVersion = await put(puts % 2 ? b : a);
        puts++;
      } catch {
        putErrors++;
      }
    }
  })();
  const result = { gets: GETS, ok: 0, invalid: 0, unknown: 0, etagMismatch: 0, httpErrors: 0, sawA: 0, sawB: 0, versions: new Set() };
  const reader = async () => {
    await new Promise((r) => setTimeout(r, Math.random() * 1500)); // spread over several PUTs
    try {
      const res = await fetch(url);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (res.status !== 200) {
        result.httpErrors++;
        return;
      }
      try {
        readContainer(bytes);
      } catch {
        result.invalid++;
        return;
      }
      const h = sha256(bytes);
      const which = known.get(h);
      if (!which) {
        result.unknown++;
        return;
      }
      if (res.headers.get('etag') !== `"${h}"`) {
        result.etagMismatch++;
        return;
      }
      result.versions.add(res.headers.get('x-sparrow-version'));
      if (which === 'A') result.sawA++;
      else result.sawB++;
      result.ok++;
    } catch {
      result.httpErrors++;
    }
  };
  await Promise.all(Array.from({ length: GETS }, reader));
  writing = false;
  await writer;
  await fetch(url, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }).then((r) => r.arrayBuffer());
  return { ...result, versions: result.versions.size, puts, putErrors, lastVersion };
}

let own = null;
try {
  let base = opt('url', null),
    token = opt('token', process.env.SPARROW_ADMIN_TOKEN ?? null);
  if (base) {
    const host = new URL(base).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) throw new Error(`--url must be a loopback address, got ${host}`);
    if (!token) {
      const m = /^\s*ADMIN_TOKEN\s*=\s*"?([^"\r\n]+?)"?\s*$/m.exec(
        (() => {
          try {
            return readFileSync(join(ROOT, '.dev.vars'), 'utf8');
          } catch {
            return '';
          }
        })(),
      );
      if (!m) throw new Error('--url needs --token (or SPARROW_ADMIN_TOKEN, or ADMIN_TOKEN in .dev.vars)');
      token = m[1];
    }
  } else {
    info('loadtest: starting a Worker (scripts/start.js) on a free loopback port ...');
    own = await startOwnWorker('sparrow-loadtest-');
    ({ base, token } = own);
  }
  info(`loadtest: ${REQUESTS} inference requests at concurrency ${CONCURRENCY} on ${base} ...`);
  const infer = await inferPhase(base);
  info(`loadtest: ${GETS} concurrent GETs while new versions are PUT ...`);
  const swap = await swapPhase(base, token);
  const report = { url: base, infer, swap };
  if (JSON_OUT) process.stdout.write(`${JSON.stringify(report)}\n`);
  log(
    `inference  ${infer.requests} requests, concurrency ${infer.concurrency}: ${infer.rps} req/s, p50 ${infer.p50_ms} ms, p99 ${infer.p99_ms} ms, ` +
      `max ${infer.max_ms} ms, errors ${infer.errors}; ${infer.correct}/${infer.answered} digits classified as labelled${infer.timedOut ? ' (stopped at the deadline)' : ''}`,
  );
  log(
    `versions   ${swap.gets} GETs during ${swap.puts} PUTs (${swap.putErrors} failed): ${swap.ok} complete and checksum-valid ` +
      `(${swap.sawA} old/A, ${swap.sawB} new/B, ${swap.versions} distinct versions), ${swap.invalid} invalid, ${swap.unknown} mixed/unknown, ` +
      `${swap.etagMismatch} ETag mismatches, ${swap.httpErrors} HTTP errors`,
  );
  const bad = infer.errors + swap.invalid + swap.unknown + swap.etagMismatch + swap.httpErrors;
  process.exitCode = bad === 0 && swap.ok === swap.gets ? 0 : 1;
} catch (e) {
  info(`loadtest: ${e.message}`);
  process.exitCode = 1;
} finally {
  if (own) await own.stop();
}
