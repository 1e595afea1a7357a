// End to end over real HTTP: `scripts/start.js` (what `npm start` runs after the build) on a
// free loopback port with fresh local R2 state: it compresses the bundled examples, starts
// `wrangler dev` and stores the models through the Worker's PUT. Then: the model list, a real
// MNIST digit's class, Worker outputs bit-identical to `sparrow run` in Node with the same
// engine, upload limits over the wire, and `curl -N` streaming a story from stories260K's
// /generate (greedy: the text `sparrow generate` prints in Node for the same file and engine).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNpy, writeNpy } from '../src/io/npy.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'e2e-admin-token';
const run = promisify(execFile);

let child: ChildProcess | undefined;
let base = '';
let tmp = '';
let output = '';

async function freePort(): Promise<number> {
  const ex = (await import(pathToFileURL(join(ROOT, 'scripts', 'examples.js')).href)) as { freePort(): Promise<number> };
  return ex.freePort();
}

const digits = parseNpy(new Uint8Array(readFileSync(join(ROOT, 'examples/calib/mnist-t10k-9000-9015.npy'))));
const labels = parseNpy(new Uint8Array(readFileSync(join(ROOT, 'examples/calib/mnist-t10k-9000-9015-labels.npy')))).data as Uint8Array;
const cifar = parseNpy(new Uint8Array(readFileSync(join(ROOT, 'examples/calib/cifar10-test-0-63.npy'))));

function mnistDigit(i: number): Float32Array {
  return Float32Array.from((digits.data as Uint8Array).subarray(i * 784, (i + 1) * 784), (v) => v / 255);
}
/** CIFAR record i preprocessed as the compressed model's stored preprocessing does (pixel/255, mean/std). */
function cifarImage(i: number): Float32Array {
  const mean = [0.485, 0.456, 0.406],
    std = [0.229, 0.224, 0.225];
  const px = (cifar.data as Uint8Array).subarray(i * 3072, (i + 1) * 3072);
  return Float32Array.from(px, (v, k) => (v / 255 - mean[Math.floor(k / 1024)]!) / std[Math.floor(k / 1024)]!);
}

async function inferJson(id: string, name: string, dims: number[], x: Float32Array) {
  const res = await fetch(`${base}/v1/models/${id}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: { [name]: { dims, data: Array.from(x) } } }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { outputs: Record<string, { dims: number[]; data: number[] }>; engine: string; ms: number };
}

/** `node bin/sparrow.js run <model> --input name=x.npy --engine E --out dir`: the output's float32 bytes. */
async function cliRun(model: string, name: string, dims: number[], x: Float32Array, engine: string, tag: string): Promise<Float32Array> {
  const inFile = join(tmp, `${tag}.npy`),
    outDir = join(tmp, `${tag}-out`);
  writeFileSync(inFile, writeNpy(x, dims));
  const { stdout } = await run(
    process.execPath,
    [join(ROOT, 'bin/sparrow.js'), 'run', model, '--input', `${name}=${inFile}`, '--engine', engine, '--out', outDir, '--json'],
    { cwd: ROOT },
  );
  const r = JSON.parse(stdout) as { engine: string; outputs: Record<string, { file: string }> };
  expect(r.engine).toBe(engine);
  const file = Object.values(r.outputs)[0]!.file;
  return parseNpy(new Uint8Array(readFileSync(file))).data as Float32Array;
}

/**
 * GET /v1/models. After an upload the Worker refused mid-body, the connection between wrangler
 * dev's ProxyWorker and the Worker may be reset; the ProxyWorker then re-queues a GET that hits the
 * reset and only retries it when the next request arrives (wrangler 4.86,
 * templates/startDevWorker/ProxyWorker.ts: `userWorkerUrl.href` carries the path, so a GET to any
 * path but `/` is re-queued, never rejected). Such a GET would wait forever: each attempt gets a
 * timeout, and the next attempt is the request that releases the queue. A transport reset
 * (ECONNRESET on the pooled socket) is retried the same way. The answer itself must be a 200.
 */
async function modelsList(): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${base}/v1/models`, { signal: AbortSignal.timeout(10_000) });
      expect(res.status).toBe(200);
      return await res.text();
    } catch (e) {
      if (attempt >= 4 || (e as Error).name === 'AssertionError') throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('npm start end to end (wrangler dev over HTTP)', () => {
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'sparrow-e2e-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [join(ROOT, 'scripts/start.js')], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SPARROW_PORT: String(port), SPARROW_PERSIST: join(tmp, 'r2'), SPARROW_ADMIN_TOKEN: TOKEN },
    });
    await new Promise<void>((resolve, reject) => {
      // start.js compresses the examples first when .sparrow-data/ has no current copy (a clean
      // clone: about a minute on an idle machine, several while other test files run beside it)
      const t = setTimeout(() => reject(new Error(`start.js not ready in 420 s:\n${output.slice(-3000)}`)), 420_000);
      const on = (d: Buffer): void => {
        output += d.toString();
        if (output.includes('Ctrl-C to stop')) {
          clearTimeout(t);
          resolve();
        }
      };
      child!.stdout!.on('data', on);
      child!.stderr!.on('data', on);
      child!.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`start.js exited ${code}:\n${output.slice(-3000)}`));
      });
    });
  }, 450_000);

  afterAll(async () => {
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 30_000);

  it('start.js prints the URLs and the admin token', () => {
    expect(output).toContain(`Sparrow edge Worker ready: ${base}`);
    expect(output).toContain(`${base}/v1/models/mnist-8/infer`);
    expect(output).toContain(`${base}/v1/models/stories260k/generate`);
    expect(output).toContain(TOKEN);
  });

  it('GET /v1/models lists the bundled models', async () => {
    const j = JSON.parse(await modelsList()) as {
      models: Array<{ id: string; version: number; bytes: number; inputs: unknown[]; outputs: unknown[] }>;
    };
    expect(j.models.map((m) => m.id)).toEqual(['mnist-8', 'resnet20-cifar10', 'stories260k']);
    for (const m of j.models) {
      expect(m.version).toBe(1);
      expect(m.bytes).toBe(readFileSync(join(ROOT, '.sparrow-data/models', `${m.id}.sparrow`)).length);
      // stories260K: input_ids, attention_mask, position_ids and 5 layers' past key/value -> logits and 5 layers' present
      expect([m.inputs.length, m.outputs.length]).toEqual(m.id === 'stories260k' ? [13, 11] : [1, 1]);
    }
  });

  it('POST a real MNIST digit to /v1/models/mnist-8/infer returns its class', async () => {
    const r = await inferJson('mnist-8', 'Input3', [1, 1, 28, 28], mnistDigit(0));
    const d = r.outputs.Plus214_Output_0!.data;
    expect(d.indexOf(Math.max(...d))).toBe(labels[0]); // a 7
    let correct = 0;
    for (let i = 0; i < 16; i++) {
      const o = (await inferJson('mnist-8', 'Input3', [1, 1, 28, 28], mnistDigit(i))).outputs.Plus214_Output_0!.data;
      if (o.indexOf(Math.max(...o)) === labels[i]) correct++;
    }
    expect(correct).toBeGreaterThanOrEqual(14);
  });

  it('Worker outputs are bit-identical to `sparrow run` in Node with the same engine (MNIST and ResNet-20)', async () => {
    const cases = [
      { id: 'mnist-8', name: 'Input3', dims: [1, 1, 28, 28], x: [mnistDigit(0), mnistDigit(5), mnistDigit(11)] },
      { id: 'resnet20-cifar10', name: 'input', dims: [1, 3, 32, 32], x: [cifarImage(0), cifarImage(7)] },
    ];
    let compared = 0;
    for (const c of cases) {
      for (const [k, x] of c.x.entries()) {
        const w = await inferJson(c.id, c.name, c.dims, x);
        const worker = Float32Array.from(Object.values(w.outputs)[0]!.data);
        const node = await cliRun(join(ROOT, '.sparrow-data/models', `${c.id}.sparrow`), c.name, c.dims, x, w.engine, `${c.id}-${k}`);
        expect(Buffer.from(worker.buffer)).toEqual(Buffer.from(node.buffer));
        // and the .npy path of the Worker gives the same bytes
        const res = await fetch(`${base}/v1/models/${c.id}/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-npy' },
          body: writeNpy(x, c.dims) as Uint8Array<ArrayBuffer>,
        });
        const viaNpy = parseNpy(new Uint8Array(await res.arrayBuffer())).data as Float32Array;
        expect(Buffer.from(viaNpy.buffer, viaNpy.byteOffset, viaNpy.byteLength)).toEqual(Buffer.from(node.buffer));
        compared++;
      }
    }
    expect(compared).toBe(5);
  }, 120_000);

  it('curl -N streams a story from /v1/models/stories260k/generate (greedy = `sparrow generate` in Node on the same file)', async () => {
    const body = '{"prompt":"Once upon a time","max_tokens":100,"temperature":0}';
    const { stdout: sse } = await run('curl', ['-sSN', '-X', 'POST', `${base}/v1/models/stories260k/generate`, '-d', body], { cwd: ROOT });
    const events = sse.split('\n\n').filter(Boolean);
    expect(events).toHaveLength(101);
    const tokens = events.slice(0, -1).map((e) => {
      expect(e).toMatch(/^event: token\ndata: \{.*\}$/);
      return JSON.parse(e.slice(e.indexOf('data: ') + 6)) as { id: number; text: string };
    });
    expect(events.at(-1)).toMatch(/^event: done\ndata: \{.*"tokens":100,"stop_reason":"max_tokens".*\}$/);
    const { stdout: cli } = await run(
      process.execPath,
      [
        join(ROOT, 'bin/sparrow.js'),
        'generate',
        join(ROOT, '.sparrow-data/models/stories260k.sparrow'),
        '--prompt',
        'Once upon a time',
      ].concat(['--max-tokens', '100', '--temperature', '0', '--engine', 'sparrow-f32', '--no-echo']),
      { cwd: ROOT },
    );
    expect(tokens.map((t) => t.text).join('') + '\n').toBe(cli);
    // the line of the README (sampled, seeded at random): 100 tokens stream
    const { stdout: sampled } = await run(
      'curl',
      ['-sN', '-X', 'POST', `${base}/v1/models/stories260k/generate`, '-d', '{"prompt":"Once upon a time","max_tokens":100}'],
      { cwd: ROOT },
    );
    expect(sampled).toMatch(/^(event: token\ndata: [^\n]+\n\n){1,100}event: done\ndata: [^\n]+\n\n$/);
  }, 120_000);

  it('oversized uploads get 413 (Content-Length, and a streamed body counted) and change nothing', async () => {
    const before = await modelsList();
    const big = new Uint8Array(16 * 1024 * 1024 + 1);
    // a bounded wait, so a hang names its request instead of the test's timeout
    const r1 = await fetch(`${base}/v1/models/mnist-8`, {
      method: 'PUT',
      body: big,
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: AbortSignal.timeout(30_000),
    }).catch((e: unknown) => {
      throw new Error(`PUT with Content-Length ${big.length}: no answer (${String(e)})`);
    });
    expect(r1.status).toBe(413);
    expect(((await r1.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    const chunk = new Uint8Array(1024 * 1024);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 24) c.enqueue(chunk);
        else c.close();
      },
    });
    // the Worker may close the connection before taking the rest of the body: the client then sees
    // no answer, or wrangler dev's ProxyWorker answers its fixed 503 for a non-GET whose Worker
    // connection broke. Any answer from the Worker itself must be the 413.
    const r2 = await fetch(`${base}/v1/models/mnist-8`, {
      method: 'PUT',
      body: stream,
      headers: { authorization: `Bearer ${TOKEN}` },
      duplex: 'half',
      signal: AbortSignal.timeout(30_000),
    } as RequestInit).catch(() => undefined);
    const text = r2 ? await r2.text().catch(() => undefined) : undefined;
    if (r2 && text !== undefined && !(r2.status === 503 && text.startsWith('Your worker restarted mid-request'))) {
      expect(r2.status, text).toBe(413);
      // the body may be cut short with the connection (the status line came from the Worker)
      if (text !== '') expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe('payload_too_large');
    }
    // modelsList retries a reset or re-queued GET (see there): the transport, not the Worker's answer
    expect(await modelsList()).toBe(before);
  }, 150_000);
});
