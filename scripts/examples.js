// Shared by scripts/start.js, scripts/loadtest.js and the end-to-end test: compressing the
// bundled example models with `sparrow compress` (cached) and seeding a running Worker.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DATA_DIR = join(ROOT, '.sparrow-data');
export const MODELS_OUT = join(DATA_DIR, 'models');
export const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
export const SPARROW_CLI = join(ROOT, 'bin', 'sparrow.js');

const IMAGENET_NORM = ['--mean', '0.485,0.456,0.406', '--std', '0.229,0.224,0.225'];

/**
 * The bundled examples and how `npm start` compresses them: Hessian (OBS) compression to a
 * file-size target (mnist-8 6 KB, ResNet-20 90 KB: per-layer int8 steps allocated by
 * sensitivity, docs/compression.md), static activation ranges for the int8 engine, all
 * calibrated on 64 bundled test images (examples/calib/, never used for evaluation here).
 * stories260K (a Llama-2 language model with a KV cache, docs/generate.md): int8 per output
 * channel, not pruned, with its llama2.c tokenizer stored in the file (`--tokenizer`), which
 * /v1/models/stories260k/generate reads. `files`: further inputs whose content the cache stamp covers.
 */
export const EXAMPLES = [
  {
    id: 'mnist-8',
    onnx: 'examples/models/mnist-8.onnx',
    calib: 'examples/calib/mnist-t10k-0-63.npy',
    args: ['--target-size', '6000', '--prune', 'hessian', '--calib-n', '64', '--activations', 'static'],
  },
  {
    id: 'resnet20-cifar10',
    onnx: 'examples/models/resnet20-cifar10.onnx',
    calib: 'examples/calib/cifar10-test-0-63.npy',
    args: ['--target-size', '90000', '--prune', 'hessian', '--calib-n', '64', '--activations', 'static', ...IMAGENET_NORM],
  },
  {
    id: 'stories260k', // model ids are lowercase (src/worker/store.ts)
    onnx: 'examples/models/stories260K-kv.onnx',
    route: 'generate',
    args: ['--sparsity', '0', '--tokenizer', 'examples/models/stories260K-kv.tokenizer.bin'],
    files: ['examples/models/stories260K-kv.tokenizer.bin'],
  },
];

/**
 * Models the tests build the same way but `npm start` does not serve: stories260K with float32
 * weights (`--float`: its greedy text is the llama2.c reference's, test/workers/text.workers.test.ts
 * and test/browser.generate.test.ts).
 */
export const TEST_EXAMPLES = [
  {
    id: 'stories260k-f32',
    onnx: 'examples/models/stories260K-kv.onnx',
    args: ['--float', '--tokenizer', 'examples/models/stories260K-kv.tokenizer.bin'],
    files: ['examples/models/stories260K-kv.tokenizer.bin'],
  },
];

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '',
      err = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.once('error', reject);
    p.once('exit', (code) =>
      code === 0
        ? resolve(out)
        : reject(
            new Error(`${relative(ROOT, args[0] ?? cmd)} ${args.slice(1, 2).join(' ')} exited ${code}: ${err.trim().split('\n').pop()}`),
          ),
    );
  });
}

/**
 * Compresses every example (default EXAMPLES) into .sparrow-data/models/<id>.sparrow unless an
 * up-to-date copy exists (same ONNX, calibration file, other input files, flags and CLI version;
 * SPARROW_RECOMPRESS=1 forces). Returns [{ id, file, onnxBytes, report, cached, route }] (route: the POST endpoint that runs it).
 */
export async function compressExamples({ log = () => {}, force = process.env.SPARROW_RECOMPRESS === '1', examples = EXAMPLES } = {}) {
  mkdirSync(MODELS_OUT, { recursive: true });
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
  const results = [];
  for (const ex of examples) {
    const onnx = join(ROOT, ex.onnx);
    const inputs = [ex.calib, ...(ex.files ?? [])].filter(Boolean).map((f) => join(ROOT, f));
    for (const f of [onnx, ...inputs]) if (!existsSync(f)) throw new Error(`missing ${relative(ROOT, f)}`);
    const file = join(MODELS_OUT, `${ex.id}.sparrow`);
    const stampFile = `${file}.stamp.json`;
    const calibArgs = ex.calib ? ['--calib', `npy:${ex.calib}`] : [];
    const args = ['compress', ex.onnx, '-o', relative(ROOT, file), ...calibArgs, ...ex.args, '--json'];
    const stamp = JSON.stringify({
      version,
      args,
      onnx: sha256(readFileSync(onnx)),
      ...(ex.calib ? { calib: sha256(readFileSync(join(ROOT, ex.calib))) } : {}),
      ...(ex.files ? { files: ex.files.map((f) => sha256(readFileSync(join(ROOT, f)))) } : {}),
    });
    let report,
      cached = false;
    if (!force && existsSync(file) && existsSync(stampFile)) {
      try {
        const s = JSON.parse(readFileSync(stampFile, 'utf8'));
        if (s.stamp === stamp && s.sha256 === sha256(readFileSync(file))) {
          report = s.report;
          cached = true;
        }
      } catch {
        /* recompress */
      }
    }
    if (!report) {
      log(`  compressing ${ex.id} (sparrow ${args.slice(0, -1).join(' ')}) ...`);
      report = JSON.parse(await run(process.execPath, [SPARROW_CLI, ...args]));
      writeFileSync(stampFile, JSON.stringify({ stamp, sha256: sha256(readFileSync(file)), report }));
    }
    results.push({ id: ex.id, file, onnxBytes: readFileSync(onnx).length, report, cached, route: ex.route ?? 'infer' });
  }
  return results;
}

/** PUTs each model unless the Worker already serves the same bytes; returns [{ id, version, status }]. */
export async function seedModels(base, token, models) {
  const listed = await (await fetch(`${base}/v1/models`)).json();
  const have = new Map(listed.models.map((m) => [m.id, m]));
  const out = [];
  for (const m of models) {
    const bytes = readFileSync(m.file);
    const prev = have.get(m.id);
    if (prev && prev.sha256 === sha256(bytes)) {
      out.push({ id: m.id, version: prev.version, status: 'unchanged' });
      continue;
    }
    const res = await fetch(`${base}/v1/models/${m.id}`, {
      method: 'PUT',
      body: bytes,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.sparrow' },
    });
    const body = await res.json();
    if (res.status !== 201) throw new Error(`PUT /v1/models/${m.id}: ${res.status} ${JSON.stringify(body)}`);
    out.push({ id: m.id, version: body.version, status: 'stored' });
  }
  return out;
}

/** Resolves if host:port can be bound right now. */
export function portFree(host, port) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.once('listening', () => srv.close(() => resolve(true)));
    srv.listen({ host, port, exclusive: true });
  });
}

/** A port the OS says is free on host (for tests and the load test). */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host, port: 0 }, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function healthy(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Starts scripts/start.js on a free loopback port with fresh local R2 state and a random token
 * (for the load and soak tests); resolves { base, token, pid, stop } (pid: its process group).
 */
export async function startOwnWorker(prefix = 'sparrow-worker-') {
  const port = await freePort();
  const persist = mkdtempSync(join(tmpdir(), prefix));
  const token = randomBytes(18).toString('base64url');
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'start.js')], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SPARROW_PORT: String(port), SPARROW_PERSIST: persist, SPARROW_ADMIN_TOKEN: token },
  });
  let out = '';
  // SPARROW_WORKER_LOG=<file>: everything wrangler/workerd print goes there too (diagnosing a soak)
  const logFile = process.env.SPARROW_WORKER_LOG;
  if (logFile) {
    const log = createWriteStream(logFile, { flags: 'a' });
    child.stdout.on('data', (d) => log.write(d));
    child.stderr.on('data', (d) => log.write(d));
  }
  const stop = async () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    await new Promise((r) => {
      if (child.exitCode !== null) r();
      else {
        child.once('exit', r);
        setTimeout(r, 8000).unref();
      }
    });
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    rmSync(persist, { recursive: true, force: true });
  };
  process.on('exit', () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the Worker did not start within 180 s:\n${out.slice(-2000)}`)), 180_000);
    const on = (d) => {
      out += d;
      if (out.includes('Ctrl-C to stop')) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`start.js exited ${code}:\n${out.slice(-2000)}`));
    });
  });
  return { base: `http://127.0.0.1:${port}`, token, pid: child.pid, stop };
}
