#!/usr/bin/env node
// `npm run soak [-- --minutes 10] [--url http://127.0.0.1:8787 --token T] [--concurrency 8]
//               [--sample 2] [--out docs/soak] [--json]`
// A memory soak of the edge Worker, loopback only. Without --url it starts its own Worker
// (scripts/start.js on a free port, fresh local R2 state, random token) and stops it afterwards.
//
// Models: 8 variants of ResNet-20 (other scales of its last layer, so other bytes and outputs:
// together more than the isolate's budget, so the cache keeps evicting and loading again) and
// mnist-8; two churn ids get PUTs and DELETEs. --concurrency clients pick, per request:
//    5 % abandon: a ResNet-20 inference the client gives up on after 1-150 ms (a cold load is
//        cut off; the server must finish or drop it without hanging anyone else);
//   50 % infer: a ResNet-20 variant at a random batch size 1..32 (.npy), or mnist-8 (JSON digits);
//        every row must equal the first answer ever seen for the same input row and model
//        (whatever the batch size: plans, arenas and evictions must not change a result),
//        and mnist-8 must classify its held-out digits as before;
//   20 % GET /v1/models/<id>, half with If-None-Match (304 expected), half without (200, the
//        body's SHA-256 equal to the ETag);
//   10 % GET /v1/models;
//   10 % PUT a new variant to a churn id (201);  5 % DELETE a churn id (204, or 404 if gone).
// Every --sample seconds it reads /v1/_stats (the token holder's: tracked memory = charges of the
// cached models + loads in flight; held = what the cached sessions hold, WASM memory + JS-side)
// and, for its own Worker, the RSS of workerd; latencies are binned per sample. Writes
// <out>.svg (memory and p99 over time) and <out>.json (samples and summary).
// Pass: 0 errors, and the last minute's peak of tracked memory within 5 % of the second minute's
// (after a minute of warm-up). Held memory (≤ tracked at every sample: also checked) and workerd's
// RSS are reported beside it; the RSS is the whole local runtime's (wrangler dev's workerd also
// hosts its proxy and R2 emulation, and grows under /healthz-only traffic too). Exit code 0/1.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MODELS_OUT, ROOT, compressExamples, startOwnWorker } from './examples.js';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const MINUTES = Math.max(2, Math.min(240, Number(opt('minutes', 10))));
const CONCURRENCY = Math.max(1, Math.min(64, Number(opt('concurrency', 8))));
const SAMPLE_S = Math.max(1, Number(opt('sample', 2)));
const OUT = opt('out', join(ROOT, 'docs', 'soak'));
const JSON_OUT = argv.includes('--json');
const info = (s) => process.stderr.write(`${s}\n`);
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;
/** No request may hang the soak: each one is an error after this long (a stuck request is a bug). */
const REQUEST_TIMEOUT_MS = 60_000;
const fetchT = (url, init = {}) => fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });

const { parseNpy, writeNpy, readContainer, writeContainer } = await import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href);

/** A seeded uniform generator in [0, 1). */
function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
}

/** Variant k of a .sparrow model: the scales of its last quantized weight × (1 + (k+1)/64), CRCs recomputed. */
function variant(bytes, k) {
  const { header, payload } = readContainer(bytes);
  const meta = JSON.parse(JSON.stringify(header.meta));
  const sections = header.sections.map((s, i) => ({
    codec: s.codec,
    dtype: s.dtype,
    payload: payload(i).slice(),
    decodedBytes: s.decodedBytes,
  }));
  const w = meta.tensors.filter((t) => t.quant !== undefined).at(-1);
  const i = meta.tensors.findIndex((t) => t.name === w.quant.scale);
  const f = new Float32Array(sections[i].payload.buffer, sections[i].payload.byteOffset, sections[i].payload.byteLength / 4);
  for (let c = 0; c < f.length; c++) f[c] *= 1 + (k + 1) / 64;
  meta.variant = k;
  return writeContainer(meta, sections);
}

function pct(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** RSS (bytes) of the workerd processes started under `root` (start.js → wrangler → workerd), from /proc. */
function workerdRss(root) {
  const procs = new Map(); // pid → { ppid, name, rss }
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      procs.set(Number(d), {
        ppid: Number(/PPid:\s+(\d+)/.exec(status)?.[1] ?? 0),
        name: /Name:\s+(\S+)/.exec(status)?.[1] ?? '',
        rss: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024,
      });
    } catch {
      /* gone */
    }
  }
  const under = (pid) => {
    for (let p = pid, k = 0; p > 1 && k < 64; p = procs.get(p)?.ppid ?? 0, k++) if (p === root) return true;
    return false;
  };
  let rss = 0;
  for (const [pid, p] of procs) if (p.name.startsWith('workerd') && under(pid)) rss += p.rss;
  return rss;
}

// ---------------------------------------------------------------------------------------------

async function setup(base, token) {
  const [mnist, resnet] = ['mnist-8', 'resnet20-cifar10'].map((id) => new Uint8Array(readFileSync(join(MODELS_OUT, `${id}.sparrow`))));
  const put = async (id, bytes) => {
    const res = await fetch(`${base}/v1/models/${id}`, { method: 'PUT', body: bytes, headers: { authorization: `Bearer ${token}` } });
    const j = await res.json();
    if (res.status !== 201) throw new Error(`PUT ${id}: ${res.status} ${JSON.stringify(j)}`);
    return j;
  };
  const stable = [];
  for (let k = 0; k < 8; k++) {
    const bytes = variant(resnet, k);
    await put(`soak-resnet-${k}`, bytes);
    const rnd = lcg(100 + k);
    const pool = Array.from({ length: 32 }, () => Float32Array.from({ length: 3072 }, () => rnd() * 2 - 1));
    stable.push({ id: `soak-resnet-${k}`, kind: 'resnet', sha: sha256(bytes), pool, seen: new Map() });
  }
  await put('soak-mnist', mnist);
  const x = parseNpy(new Uint8Array(readFileSync(join(ROOT, 'examples', 'calib', 'mnist-t10k-9000-9015.npy'))));
  const digits = Array.from({ length: x.shape[0] }, (_, i) =>
    JSON.stringify({
      inputs: { Input3: { dims: [1, 1, 28, 28], data: Array.from(x.data.subarray(i * 784, (i + 1) * 784), (v) => v / 255) } },
    }),
  );
  stable.push({ id: 'soak-mnist', kind: 'mnist', sha: sha256(mnist), digits, seen: new Map() });
  // churn: mnist-8 variants (cheap to admit) and now and then a ResNet-20 variant
  const churn = [
    { id: 'soak-churn-a', next: 0 },
    { id: 'soak-churn-b', next: 0 },
  ];
  const churnBytes = (k) => (k % 4 === 3 ? variant(resnet, 40 + (k % 8)) : variant(mnist, k % 16));
  return { stable, churn, churnBytes };
}

async function main() {
  let base = opt('url', null),
    token = opt('token', process.env.SPARROW_ADMIN_TOKEN ?? null),
    own = null;
  if (base) {
    const host = new URL(base).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) throw new Error(`--url must be a loopback address, got ${host}`);
    if (!token) throw new Error('--url needs --token (or SPARROW_ADMIN_TOKEN)');
  } else {
    await compressExamples({ log: info });
    info('soak: starting a Worker (scripts/start.js) on a free loopback port ...');
    own = await startOwnWorker('sparrow-soak-');
    ({ base, token } = own);
  }
  const auth = { authorization: `Bearer ${token}` };
  try {
    info(`soak: ${MINUTES} min on ${base}, concurrency ${CONCURRENCY}, a sample every ${SAMPLE_S} s ...`);
    const { stable, churn, churnBytes } = await setup(base, token);
    const etags = new Map();
    const errors = [];
    const counts = {};
    const bin = []; // latencies of the current sample
    const samples = [];
    const fail = (what) => {
      if (errors.length < 50) errors.push(what);
      else errors.length++;
    };
    const count = (k) => {
      counts[k] = (counts[k] ?? 0) + 1;
    };
    const timed = async (kind, f) => {
      const t0 = performance.now();
      try {
        await f();
      } catch (e) {
        fail(`${kind}: ${e.message}`);
      }
      bin.push(performance.now() - t0);
      count(kind);
    };
    const rnd = lcg(7);
    const pick = (a) => a[Math.floor(rnd() * a.length)];

    async function inferResnet(m) {
      const b = 1 + Math.floor(rnd() * 32);
      const off = Math.floor(rnd() * 32);
      const x = new Float32Array(b * 3072);
      const idx = Array.from({ length: b }, (_, i) => (off + i) % 32);
      idx.forEach((k, i) => x.set(m.pool[k], i * 3072));
      const res = await fetchT(`${base}/v1/models/${m.id}/infer`, {
        method: 'POST',
        body: writeNpy(x, [b, 3, 32, 32]),
        headers: { 'content-type': 'application/x-npy' },
      });
      const body = new Uint8Array(await res.arrayBuffer());
      if (res.status !== 200) throw new Error(`${m.id} batch ${b}: HTTP ${res.status} ${new TextDecoder().decode(body.subarray(0, 200))}`);
      const y = parseNpy(body);
      idx.forEach((k, i) => {
        const row = y.data.subarray(i * 10, (i + 1) * 10);
        const want = m.seen.get(k);
        if (!want) m.seen.set(k, Float32Array.from(row));
        else if (!row.every((v, j) => Object.is(v, want[j])))
          throw new Error(`${m.id} batch ${b}: row ${i} (input ${k}) differs from its first answer`);
      });
    }
    async function inferMnist(m) {
      const k = Math.floor(rnd() * m.digits.length);
      const res = await fetchT(`${base}/v1/models/${m.id}/infer`, {
        method: 'POST',
        body: m.digits[k],
        headers: { 'content-type': 'application/json' },
      });
      const j = await res.json();
      if (res.status !== 200) throw new Error(`${m.id}: HTTP ${res.status} ${JSON.stringify(j).slice(0, 200)}`);
      const d = j.outputs.Plus214_Output_0.data;
      const want = m.seen.get(k);
      if (!want) m.seen.set(k, d);
      else if (!d.every((v, i) => v === want[i])) throw new Error(`${m.id}: digit ${k} answered differently`);
    }
    async function getModel(m) {
      const known = etags.get(m.id);
      const conditional = known && rnd() < 0.5;
      const res = await fetchT(`${base}/v1/models/${m.id}`, conditional ? { headers: { 'if-none-match': known } } : {});
      const body = new Uint8Array(await res.arrayBuffer());
      if (conditional) {
        if (res.status !== 304) throw new Error(`GET ${m.id} If-None-Match: HTTP ${res.status}, 304 expected`);
        return;
      }
      if (res.status !== 200) throw new Error(`GET ${m.id}: HTTP ${res.status}`);
      const h = sha256(body);
      if (res.headers.get('etag') !== `"${h}"` || h !== m.sha) throw new Error(`GET ${m.id}: body/ETag mismatch`);
      etags.set(m.id, res.headers.get('etag'));
    }
    async function putChurn() {
      const c = pick(churn);
      const bytes = churnBytes(c.next++);
      const res = await fetchT(`${base}/v1/models/${c.id}`, { method: 'PUT', body: bytes, headers: auth });
      const j = await res.json();
      if (res.status !== 201) throw new Error(`PUT ${c.id}: HTTP ${res.status} ${JSON.stringify(j).slice(0, 200)}`);
    }
    async function deleteChurn() {
      const c = pick(churn);
      const res = await fetchT(`${base}/v1/models/${c.id}`, { method: 'DELETE', headers: auth });
      await res.arrayBuffer();
      if (res.status !== 204 && res.status !== 404) throw new Error(`DELETE ${c.id}: HTTP ${res.status}`);
    }
    /** A hostile client: an inference (often a cold load) it abandons after 1-150 ms; the server must not notice. */
    async function abandon() {
      const m = pick(stable.filter((x) => x.kind === 'resnet'));
      const b = 1 + Math.floor(rnd() * 32);
      const x = new Float32Array(b * 3072);
      try {
        const res = await fetch(`${base}/v1/models/${m.id}/infer`, {
          method: 'POST',
          body: writeNpy(x, [b, 3, 32, 32]),
          headers: { 'content-type': 'application/x-npy' },
          signal: AbortSignal.timeout(1 + Math.floor(rnd() * 150)),
        });
        await res.arrayBuffer();
      } catch (e) {
        if (e.name !== 'TimeoutError' && e.name !== 'AbortError') throw e;
      }
    }
    async function list() {
      const res = await fetchT(`${base}/v1/models`);
      const j = await res.json();
      if (res.status !== 200 || !Array.isArray(j.models)) throw new Error(`GET /v1/models: HTTP ${res.status}`);
    }

    const t0 = Date.now();
    const end = t0 + MINUTES * 60_000;
    let stop = false;
    const client = async () => {
      while (!stop && Date.now() < end) {
        const r = rnd();
        if (r < 0.05) await timed('abandon', abandon);
        else if (r < 0.55) {
          const m = pick(stable);
          await timed('infer', () => (m.kind === 'resnet' ? inferResnet(m) : inferMnist(m)));
        } else if (r < 0.75) await timed('get', () => getModel(pick(stable)));
        else if (r < 0.85) await timed('list', list);
        else if (r < 0.95) await timed('put', putChurn);
        else await timed('delete', deleteChurn);
      }
    };
    const sampler = (async () => {
      while (!stop && Date.now() < end) {
        await new Promise((r) => setTimeout(r, SAMPLE_S * 1000));
        const lat = bin.splice(0).sort((a, b) => a - b);
        let st;
        try {
          const res = await fetchT(`${base}/v1/_stats`, { headers: auth });
          st = await res.json();
        } catch (e) {
          fail(`stats: ${e.message}`);
          continue;
        }
        const rss = own ? workerdRss(own.pid) : 0;
        const s = {
          t: (Date.now() - t0) / 1000,
          tracked: st.memory.tracked,
          held: st.memory.held,
          wasm: st.memory.wasm,
          js: st.memory.js,
          peakTracked: st.memory.peakTracked,
          budget: st.memory.budget,
          entries: st.cache.entries,
          evictions: st.cache.evictions,
          decodes: st.cache.decodes,
          loading: st.cache.loading ?? 0,
          waiting: st.cache.waiting ?? 0,
          busy: (st.cache.models ?? []).reduce((a, m) => a + (m.busy ?? 0), 0),
          workerdRss: rss,
          requests: lat.length,
          p50: +pct(lat, 50).toFixed(1),
          p99: +pct(lat, 99).toFixed(1),
        };
        if (s.held > s.tracked) fail(`stats at ${s.t} s: held ${s.held} B > tracked ${s.tracked} B`);
        if (s.tracked > s.budget || s.peakTracked > s.budget) fail(`stats at ${s.t} s: tracked memory over the budget`);
        samples.push(s);
        info(
          `  ${s.t.toFixed(0).padStart(4)} s  tracked ${(s.tracked / MiB).toFixed(1)} MiB  held ${(s.held / MiB).toFixed(1)} MiB  ` +
            `workerd RSS ${(s.workerdRss / MiB).toFixed(0)} MiB  ${s.entries} models (${s.busy} pins), ${s.evictions} evictions, ${s.loading} loading, ${s.waiting} waiting  ` +
            `${s.requests} req, p99 ${s.p99} ms  errors ${errors.length}`,
        );
      }
    })();
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    stop = true;
    await sampler;

    // peaks of the second minute and of the last full minute (after the first, a warm-up)
    const tEnd = samples.at(-1)?.t ?? 0;
    const peak = (from, to, key) => Math.max(0, ...samples.filter((s) => s.t > from && s.t <= to).map((s) => s[key]));
    const crit = {};
    for (const key of ['tracked', 'held', 'workerdRss']) {
      const second = peak(60, 120, key),
        lastPeak = peak(tEnd - 60, tEnd, key);
      crit[key] = {
        secondMinutePeak: second,
        lastMinutePeak: lastPeak,
        change: second ? +((lastPeak - second) / second).toFixed(4) : null,
      };
    }
    const allLat = samples.reduce((a, s) => a + s.requests, 0);
    const summary = {
      date: new Date().toISOString(),
      url: base,
      minutes: MINUTES,
      concurrency: CONCURRENCY,
      sampleSeconds: SAMPLE_S,
      budget: samples[0]?.budget,
      requests: allLat,
      counts,
      errors: errors.length,
      firstErrors: errors.slice(0, 10),
      criterion: crit,
      // the criterion is on tracked memory (what the cache accounts: never below what the sessions
      // hold); held and workerd's RSS are reported beside it
      pass: errors.length === 0 && Math.abs(crit.tracked.change ?? 1) <= 0.05,
      samples,
    };
    writeFileSync(`${OUT}.json`, `${JSON.stringify(summary, null, 1)}\n`);
    writeFileSync(`${OUT}.svg`, plot(summary));
    const pc = (c) => (c === null ? 'n/a' : `${(c * 100).toFixed(2)} %`);
    const line =
      `soak ${MINUTES} min, ${allLat} requests (${Object.entries(counts)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}), errors ${errors.length}; ` +
      `tracked peak minute 2 ${(crit.tracked.secondMinutePeak / MiB).toFixed(2)} MiB → last ${(crit.tracked.lastMinutePeak / MiB).toFixed(2)} MiB (${pc(crit.tracked.change)}), ` +
      `held ${(crit.held.secondMinutePeak / MiB).toFixed(2)} → ${(crit.held.lastMinutePeak / MiB).toFixed(2)} MiB (${pc(crit.held.change)}), ` +
      `workerd RSS ${(crit.workerdRss.secondMinutePeak / MiB).toFixed(0)} → ${(crit.workerdRss.lastMinutePeak / MiB).toFixed(0)} MiB (${pc(crit.workerdRss.change)}); ` +
      `budget ${(summary.budget / MiB).toFixed(0)} MiB; ${summary.pass ? 'PASS' : 'FAIL'} → ${relative(ROOT, OUT)}.svg, .json`;
    if (JSON_OUT) process.stdout.write(`${JSON.stringify({ ...summary, samples: undefined })}\n`);
    else process.stdout.write(`${line}\n`);
    for (const e of errors.slice(0, 10)) info(`  error: ${e}`);
    process.exitCode = summary.pass ? 0 : 1;
  } finally {
    if (own) await own.stop();
  }
}

/** An SVG of tracked/held memory and workerd RSS (MiB, left axis) and p99 latency (ms, right axis) over time. */
function plot(s) {
  const W = 900,
    H = 420,
    L = 70,
    R = 70,
    T = 40,
    B = 50;
  const pts = s.samples;
  const tMax = Math.max(60, ...pts.map((p) => p.t));
  const mMax = Math.max(s.budget ?? 0, ...pts.map((p) => Math.max(p.tracked, p.held, p.workerdRss))) / MiB;
  const memTop = Math.ceil((mMax * 1.1) / 32) * 32;
  const latTop = Math.max(100, Math.ceil((Math.max(...pts.map((p) => p.p99)) * 1.1) / 100) * 100);
  const x = (t) => L + ((W - L - R) * t) / tMax;
  const ym = (b) => H - B - ((H - T - B) * (b / MiB)) / memTop;
  const yl = (ms) => H - B - ((H - T - B) * ms) / latTop;
  const path = (f, key) => pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${f(p[key]).toFixed(1)}`).join(' ');
  const grid = [];
  for (let m = 0; m <= memTop; m += memTop / 8) {
    grid.push(`<line x1="${L}" x2="${W - R}" y1="${ym(m * MiB)}" y2="${ym(m * MiB)}" stroke="#eee"/>`);
    grid.push(`<text x="${L - 6}" y="${ym(m * MiB) + 4}" text-anchor="end">${m}</text>`);
  }
  for (let ms = 0; ms <= latTop; ms += latTop / 4) grid.push(`<text x="${W - R + 6}" y="${yl(ms) + 4}">${ms}</text>`);
  for (let t = 0; t <= tMax; t += 60) {
    grid.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`);
    grid.push(`<text x="${x(t)}" y="${H - B + 16}" text-anchor="middle">${t / 60}</text>`);
  }
  const budget = s.budget
    ? `<line x1="${L}" x2="${W - R}" y1="${ym(s.budget)}" y2="${ym(s.budget)}" stroke="#c00" stroke-dasharray="6 4"/>`
    : '';
  const c = s.criterion;
  const pc = (v) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)} %`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="#fff"/>
<text x="${L}" y="20" font-size="14">Worker soak (npm run soak -- --minutes ${s.minutes}), ${s.requests} requests, ${s.errors} errors, ${s.date.slice(0, 10)}: ${s.pass ? 'pass' : 'FAIL'}</text>
<text x="${L}" y="34" fill="#555">peak of minute 2 → last minute: tracked ${pc(c.tracked.change)}, held ${pc(c.held.change)}, workerd RSS ${pc(c.workerdRss.change)}</text>
${grid.join('\n')}
${budget}
<path d="${path(ym, 'tracked')}" fill="none" stroke="#1f77b4" stroke-width="2"/>
<path d="${path(ym, 'held')}" fill="none" stroke="#2ca02c" stroke-width="1.5"/>
<path d="${path(ym, 'workerdRss')}" fill="none" stroke="#9467bd" stroke-width="1.5" stroke-dasharray="3 2"/>
<path d="${path(yl, 'p99')}" fill="none" stroke="#ff7f0e" stroke-width="1.2"/>
<text x="${L - 50}" y="${T - 8}">MiB</text><text x="${W - R + 6}" y="${T - 8}">p99 ms</text>
<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">minutes</text>
<g transform="translate(${L + 10},${H - B - 70})">
<rect width="360" height="62" fill="#fff" stroke="#ccc"/>
<line x1="8" x2="30" y1="12" y2="12" stroke="#1f77b4" stroke-width="2"/><text x="36" y="16">tracked: charges of cached models + loads (MiB)</text>
<line x1="8" x2="30" y1="26" y2="26" stroke="#2ca02c" stroke-width="1.5"/><text x="36" y="30">held: WASM memory + JS-side of cached sessions</text>
<line x1="8" x2="30" y1="40" y2="40" stroke="#9467bd" stroke-dasharray="3 2"/><text x="36" y="44">workerd RSS (whole process)</text>
<line x1="8" x2="30" y1="54" y2="54" stroke="#ff7f0e"/><text x="36" y="58">p99 latency per ${s.sampleSeconds} s (right axis); red dashes: budget</text>
</g>
</svg>
`;
}

main().catch((e) => {
  info(`soak: ${e.stack ?? e.message}`);
  process.exitCode = 1;
});
