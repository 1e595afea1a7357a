#!/usr/bin/env node
// `npm start` (after `npm run build`): compresses the bundled example models with
// `sparrow compress` (cached in .sparrow-data/models/), runs the edge Worker locally with the
// project's own wrangler (`wrangler dev`, offline) on 127.0.0.1:8787, stores the models in its
// local R2 bucket through the Worker's own PUT (with the admin token), and prints the URLs.
//
// Admin token: SPARROW_ADMIN_TOKEN if set (passed as --var), else ADMIN_TOKEN from .dev.vars;
// a missing .dev.vars (gitignored) is created with a random token. The token is printed.
// Env: SPARROW_PORT (default 8787), SPARROW_PERSIST (local R2 state, default
// .sparrow-data/wrangler), SPARROW_ENGINE (overrides wrangler.toml's ENGINE),
// SPARROW_RECOMPRESS=1 (ignore the compressed-model cache).
//
// wrangler runs in its own process group (detached), so SIGINT/SIGTERM (Ctrl-C) are forwarded
// to the whole group: wrangler and its workerd children stop together; so does losing our parent
// process (e.g. only `npm` was killed). Exits with wrangler's code.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { constants as osConstants } from 'node:os';
import { DATA_DIR, ROOT, WRANGLER, compressExamples, healthy, portFree, seedModels } from './examples.js';

const HOST = '127.0.0.1';
const PORT = Number(process.env.SPARROW_PORT ?? 8787);
const PERSIST_DIR = process.env.SPARROW_PERSIST ? resolve(process.env.SPARROW_PERSIST) : join(DATA_DIR, 'wrangler');
const DEV_VARS = join(ROOT, '.dev.vars');
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 5_000;

const log = (s) => process.stdout.write(`${s}\n`);

function die(message, code = 1) {
  process.stderr.write(`sparrow start: ${message}\n`);
  process.exit(code);
}

const kib = (n) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);

/** The admin token and how wrangler gets it. */
function adminToken() {
  if (process.env.SPARROW_ADMIN_TOKEN)
    return {
      token: process.env.SPARROW_ADMIN_TOKEN,
      args: ['--var', `ADMIN_TOKEN:${process.env.SPARROW_ADMIN_TOKEN}`],
      from: 'SPARROW_ADMIN_TOKEN',
    };
  const text = existsSync(DEV_VARS) ? readFileSync(DEV_VARS, 'utf8') : '';
  const m = /^\s*ADMIN_TOKEN\s*=\s*"?([^"\r\n]+?)"?\s*$/m.exec(text);
  if (m) return { token: m[1], args: [], from: '.dev.vars' };
  const token = randomBytes(24).toString('base64url');
  if (text === '')
    writeFileSync(DEV_VARS, `# created by npm start (gitignored); see .dev.vars.example\nADMIN_TOKEN=${token}\n`, { mode: 0o600 });
  else appendFileSync(DEV_VARS, `${text.endsWith('\n') ? '' : '\n'}ADMIN_TOKEN=${token}\n`);
  return { token, args: [], from: '.dev.vars (new)' };
}

async function main() {
  if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) die(`invalid SPARROW_PORT ${process.env.SPARROW_PORT}`);
  if (!existsSync(WRANGLER)) die('node_modules/wrangler not found; run `npm install` first');
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js')) || !existsSync(join(ROOT, 'build', 'sparrow.wasm')))
    die('not built; run `npm run build` first');
  if (!(await portFree(HOST, PORT))) {
    die(`port ${PORT} on ${HOST} is already in use (another \`wrangler dev\` or \`npm start\`?); stop it first`);
  }

  log(
    'Compressing the bundled examples (sparrow compress: the image models Hessian-pruned to a size target, int8, static activation ranges, ' +
      '64 calibration images each; stories260K int8 with its tokenizer):',
  );
  let models;
  try {
    models = await compressExamples({ log });
  } catch (e) {
    die(`cannot compress the examples: ${e.message}`);
  }
  for (const m of models) {
    const r = m.report;
    const density = r.params ? r.nonzero / r.params : 1;
    log(
      `  ${m.id.padEnd(17)} ${kib(m.onnxBytes).padStart(10)} ONNX -> ${kib(r.bytes).padStart(9)} .sparrow ` +
        `(${(m.onnxBytes / r.bytes).toFixed(1)}x smaller), density ${density.toFixed(3)} ` +
        `(${r.nonzero}/${r.params} weights) -> ${relative(ROOT, m.file)}${m.cached ? ' (cached)' : ''}`,
    );
  }

  const { token, args: tokenArgs, from } = adminToken();
  mkdirSync(PERSIST_DIR, { recursive: true });
  const base = `http://${HOST}:${PORT}`;
  log(`Starting the Worker (wrangler dev, offline) on ${base} ...`);
  const child = spawn(
    process.execPath,
    [
      WRANGLER,
      'dev',
      '--ip',
      HOST,
      '--port',
      String(PORT),
      '--persist-to',
      PERSIST_DIR,
      '--show-interactive-dev-session=false',
      ...tokenArgs,
      ...(process.env.SPARROW_ENGINE ? ['--var', `ENGINE:${process.env.SPARROW_ENGINE}`] : []),
    ],
    {
      cwd: ROOT,
      detached: true, // own process group: we signal -pid so workerd goes down with wrangler
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
    },
  );

  let exited = false;
  const exitPromise = new Promise((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = true;
      resolveExit(code ?? 128 + (osConstants.signals[signal] ?? 1));
    });
  });
  child.once('error', (e) => die(`cannot start wrangler: ${e.message}`));

  const killGroup = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      /* group already gone */
    }
  };
  let stopping = false;
  const stop = (sig) => {
    if (stopping) {
      killGroup('SIGKILL');
      return;
    } // second Ctrl-C: no more waiting
    stopping = true;
    killGroup(sig);
    setTimeout(() => killGroup('SIGKILL'), STOP_GRACE_MS).unref();
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => stop(sig));
  // `npm start` runs us under `sh -c`; a SIGTERM sent to npm alone does not reach us. If our
  // parent goes away (we get re-parented), stop too rather than leave wrangler running.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop('SIGTERM');
  }, 500).unref();
  // Whatever happens to this process, leave no wrangler/workerd behind.
  process.on('exit', () => {
    if (!exited) killGroup('SIGKILL');
  });

  let failed = false;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!exited && !stopping) {
    if (await healthy(`${base}/healthz`)) {
      let seeded;
      try {
        seeded = await seedModels(base, token, models);
      } catch (e) {
        process.stderr.write(`sparrow start: cannot store the models: ${e.message}\n`);
        failed = true;
        stop('SIGTERM');
        break;
      }
      log('');
      log(`Sparrow edge Worker ready: ${base}`);
      log(`  GET  ${base}/healthz`);
      log(`  GET  ${base}/v1/models`);
      for (const s of seeded) {
        log(`  GET  ${base}/v1/models/${s.id}   (version ${s.version}, ${s.status})`);
        log(`  POST ${base}/v1/models/${s.id}/${models.find((m) => m.id === s.id)?.route ?? 'infer'}`);
      }
      for (const m of models.filter((x) => x.route === 'generate'))
        log(`  e.g. curl -N -X POST ${base}/v1/models/${m.id}/generate -d '{"prompt":"Once upon a time","max_tokens":100}'`);
      log(`  demo page: ${base}/`);
      log(`Admin token (PUT/DELETE, from ${from}): ${token}`);
      log(`  e.g. curl -X PUT -H "Authorization: Bearer ${token}" --data-binary @model.sparrow ${base}/v1/models/my-model`);
      log(`Local R2 state: ${relative(ROOT, PERSIST_DIR) || PERSIST_DIR}. Ctrl-C to stop.`);
      break;
    }
    if (Date.now() > deadline) {
      process.stderr.write(`sparrow start: ${base}/healthz did not answer within ${READY_TIMEOUT_MS / 1000} s; stopping wrangler\n`);
      failed = true;
      stop('SIGTERM');
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  const code = await exitPromise;
  killGroup('SIGKILL'); // any straggler left in the group (workerd)
  process.exit(failed ? 1 : code);
}

main().catch((e) => die(e?.stack ?? String(e)));
