// The browser runtime and the demo page in real Chromium (Debian's /usr/bin/chromium driven by
// playwright-core). The page is served either by the Worker (`wrangler dev` on a free loopback
// port, models uploaded through PUT /v1/models/:id) or — while the Worker has no model API —
// by a small node:http server with the same routes for the on-device part (the edge column is
// then checked only when the Worker runs).
//
// Inside the page: the 20 CIFAR-10 PNGs through ResNet-20 and 20 MNIST test digits through
// mnist-8, on-device with sparrow-int8 and sparrow-f32. Node runs Session.fromSparrow on the
// same .sparrow bytes with the same engine and the same pixels; predictions and the Float32 bit
// patterns of every output must be identical. Screenshot: test-artifacts/demo.png (copied to
// docs/demo.png when that is missing or SPARROW_UPDATE_SCREENSHOT=1).
//
// Without /usr/bin/chromium the suite skips with a loud message, except under CI=true where
// that is a failure (.ci/run installs chromium).
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from '../scripts/chromium.mjs';
import { compressOnnx } from '../src/compress/compress.js';
import { Session } from '../src/runtime/session.js';
import { preprocessPixels } from '../src/runtime/sparrow_model.js';
import '../src/ops/ref/index.js';
import { bundledImages } from './helpers/bundled.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const IN_CI = process.env.CI === 'true' || process.env.CI === '1';
const ARTIFACTS = join(ROOT, 'test-artifacts');

const MODELS = [
  { id: 'mnist-8', onnx: 'examples/models/mnist-8.onnx', pre: { scale: 1 / 255 }, sample: 'mnist' as const },
  {
    id: 'resnet20-cifar10',
    onnx: 'examples/models/resnet20-cifar10.onnx',
    sample: 'cifar10' as const,
    pre: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  },
];
const ENGINES = ['sparrow-int8', 'sparrow-f32'] as const;

if (!HAVE_CHROMIUM) {
  const msg =
    `\n${'!'.repeat(78)}\n!! test/browser.test.ts: ${CHROMIUM} is missing: the browser tests are ${IN_CI ? 'FAILING (CI=true)' : 'SKIPPED'}.\n` +
    `!! Install it with: apt-get install -y chromium   (.ci/run does this in CI)\n${'!'.repeat(78)}\n`;
  process.stderr.write(msg);
}

// ---------------------------------------------------------------------------------------------
// helpers

/** A tiny PNG decoder for the sample files (8-bit gray or RGB, non-interlaced). */
function decodePng(buf: Buffer): { width: number; height: number; channels: number; pixels: Uint8Array } {
  let o = 8,
    width = 0,
    height = 0,
    channels = 0;
  const idat: Buffer[] = [];
  while (o < buf.length) {
    const len = buf.readUInt32BE(o),
      type = buf.toString('ascii', o + 4, o + 8),
      data = buf.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('only 8-bit non-interlaced PNGs');
      channels = ({ 0: 1, 2: 3, 6: 4 } as Record<number, number>)[data[9]!] ?? 0;
      if (!channels) throw new Error(`PNG colour type ${data[9]}`);
    } else if (type === 'IDAT') idat.push(data);
    o += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels,
    out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!,
      line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[y * stride + x - channels]! : 0,
        b = y > 0 ? out[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? out[(y - 1) * stride + x - channels]! : 0;
      let p = line[x]!;
      if (f === 1) p += a;
      else if (f === 2) p += b;
      else if (f === 3) p += (a + b) >> 1;
      else if (f === 4) {
        const q = a + b - c,
          pa = Math.abs(q - a),
          pb = Math.abs(q - b),
          pc = Math.abs(q - c);
        p += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[y * stride + x] = p & 255;
    }
  }
  return { width, height, channels, pixels: out };
}

/** HWC (interleaved) → CHW planes, RGB only (alpha dropped). */
function toPlanes(png: ReturnType<typeof decodePng>, channels: number): Uint8Array {
  const n = png.width * png.height,
    out = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) out[c * n + i] = png.pixels[i * png.channels + c]!;
  return out;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = netServer();
    s.once('error', rej);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.md': 'text/markdown; charset=utf-8',
  '.map': 'application/json',
};

/**
 * The static stand-in for the Worker: the assets directory, GET /v1/models, GET /v1/models/:id
 * (sent in 4 KiB chunks so the page's streaming reader sees several), and POST …/infer → 501.
 */
function staticServer(assets: string, models: Map<string, { bytes: Uint8Array; inputs: unknown; outputs: unknown }>): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, type: string, body: string | Uint8Array): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const err = (status: number, code: string, message: string): void =>
      send(status, 'application/json', JSON.stringify({ error: { code, message } }));
    if (url.pathname === '/v1/models') {
      return send(
        200,
        'application/json',
        JSON.stringify({
          models: [...models].map(([id, m]) => ({ id, version: '1', bytes: m.bytes.length, inputs: m.inputs, outputs: m.outputs })),
        }),
      );
    }
    const mm = /^\/v1\/models\/([^/]+)(\/infer)?$/.exec(url.pathname);
    if (mm) {
      const m = models.get(decodeURIComponent(mm[1]!));
      if (!m) return err(404, 'not_found', 'no such model');
      if (mm[2]) return err(501, 'not_implemented', 'edge inference needs the Worker (static test server)');
      res.writeHead(200, { 'content-type': 'application/vnd.sparrow', 'content-length': String(m.bytes.length) });
      let o = 0;
      const pump = (): void => {
        if (o >= m.bytes.length) {
          res.end();
          return;
        }
        res.write(Buffer.from(m.bytes.subarray(o, o + 4096)));
        o += 4096;
        setTimeout(pump, 1);
      };
      return pump();
    }
    const path = resolve(assets, '.' + (url.pathname === '/' ? '/index.html' : decodeURIComponent(url.pathname)));
    if (!path.startsWith(assets) || !existsSync(path) || !statSync(path).isFile()) return err(404, 'not_found', url.pathname);
    send(200, TYPES[extname(path)] ?? 'application/octet-stream', readFileSync(path));
  });
}

/** The Worker has the model API (otherwise the static server stands in for it). */
function workerReady(): boolean {
  if (process.env.SPARROW_BROWSER_STATIC === '1') return false; // force the static server
  const f = join(ROOT, 'src', 'worker', 'index.ts');
  return (
    existsSync(f) &&
    readFileSync(f, 'utf8').includes('/v1/models') &&
    existsSync(join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js'))
  );
}

/**
 * `wrangler dev` on a free loopback port with a fresh persistence dir and a random admin token
 * (the way scripts/start.js runs it: own process group, killed as a group).
 */
async function startWrangler(persist: string, token: string): Promise<{ child: ChildProcess; base: string; log: () => string }> {
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
    {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: 'true' },
    },
  );
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${out.slice(-3000)}`);
    try {
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      throw new Error(`wrangler dev did not answer ${base}/healthz within 90 s:\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { child, base, log: () => out };
}

interface PageRun {
  engines: { int8: string; f32: string };
  int8: { pred: number; bits: number[] };
  f32: { pred: number; bits: number[] };
  edge: { pred: number; bits: number[]; ms: number; serverMs: number | null } | { error: string };
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(!HAVE_CHROMIUM)('browser: on-device inference in Chromium', () => {
  let base = '';
  let server: Server | undefined;
  let wrangler: ChildProcess | undefined;
  let persist = '';
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let page: import('playwright-core').Page;
  let mode = 'static' as 'worker' | 'static';
  const files = new Map<string, Uint8Array>();
  const pageErrors: string[] = [];
  const figures: string[] = [];

  beforeAll(async () => {
    const { buildDemo, assetsDir } = (await import('../demo/build.mjs' as string)) as {
      buildDemo(o?: { quiet?: boolean }): Promise<string>;
      assetsDir(): string;
    };
    const assets = await buildDemo({ quiet: true });
    expect(assets).toBe(assetsDir());

    // the .sparrow files: compressed here (sparsity 0.7, int8, preprocessing stored)
    const entries = new Map<string, { bytes: Uint8Array; inputs: unknown; outputs: unknown }>();
    for (const m of MODELS) {
      const r = await compressOnnx(new Uint8Array(readFileSync(join(ROOT, m.onnx))), { sparsity: 0.7, preprocessing: m.pre });
      files.set(m.id, r.bytes);
      const s = await Session.fromSparrow(r.bytes, { engine: 'sparrow-f32' });
      entries.set(m.id, { bytes: r.bytes, inputs: s.inputInfo, outputs: s.outputInfo });
    }

    if (workerReady()) {
      mode = 'worker';
      persist = mkdtempSync(join(tmpdir(), 'sparrow-wrangler-'));
      const token = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
      const w = await startWrangler(persist, token);
      wrangler = w.child;
      base = w.base;
      for (const [id, e] of entries) {
        const r = await fetch(`${base}/v1/models/${id}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.sparrow' },
          body: new Blob([e.bytes as Uint8Array<ArrayBuffer>]),
        });
        expect(r.status, `PUT /v1/models/${id}: ${await r.text()}`).toBe(201);
      }
    } else {
      process.stderr.write(
        'test/browser.test.ts: src/worker has no model API yet: serving the demo from a static node:http server (edge not checked)\n',
      );
      server = staticServer(assets, entries);
      const port = await freePort();
      await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
      base = `http://127.0.0.1:${port}`;
    }

    browser = await launchChromium({ viewport: { width: 1180, height: 900 } });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(base + '/');
    await page.evaluate(() => (window as unknown as { sparrowDemo: { ready: Promise<void> } }).sparrowDemo.ready);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (wrangler?.pid) {
      try {
        process.kill(-wrangler.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (persist) rmSync(persist, { recursive: true, force: true });
    if (figures.length) process.stdout.write(`\nbrowser vs Node (${mode} server):\n  ${figures.join('\n  ')}\n`);
  });

  it('lists the models and loads one with streaming progress', async () => {
    const ids = await page.evaluate(() =>
      (window as unknown as { sparrowDemo: { models(): Array<{ id: string }> } }).sparrowDemo.models().map((m) => m.id),
    );
    expect(ids.sort()).toEqual(MODELS.map((m) => m.id).sort());
    const info = await page.evaluate(
      (id) => (window as unknown as { sparrowDemo: { select(id: string): Promise<Record<string, unknown>> } }).sparrowDemo.select(id),
      'resnet20-cifar10',
    );
    expect(info['bytes']).toBe(files.get('resnet20-cifar10')!.length);
    expect(info['kind']).toBe('cifar');
    // Chromium has relaxed SIMD: the page downloads the relaxed build (src/browser `simd: 'auto'`)
    expect(info['wasmBytes']).toBe(statSync(join(ROOT, 'build', 'sparrow.relaxed.wasm')).size);
    // served as application/wasm: compiled while downloading
    expect(info['wasmStreaming']).toBe(true);
    // sections are validated and decoded while later bytes are still arriving (the static
    // server sends 4 KiB chunks; the Worker's chunking is up to workerd, which may send a few
    // small chunks and then the rest at once): once half the file came before the last chunk,
    // some section was complete then (none of this file's is near half of it), so it must
    // have been decoded on arrival
    const early = info['sectionsBeforeLastChunk'] as number;
    const bytesBefore = info['bytesBeforeLastChunk'] as number;
    if (mode === 'static' || bytesBefore >= (info['bytes'] as number) / 2) expect(early).toBeGreaterThan(0);
    figures.push(
      `resnet20 download ${(info['downloadMs'] as number).toFixed(1)} ms, ${String(info['chunks'])} chunks (${bytesBefore} bytes before the last), ${early}/${String(info['sectionCount'])} sections checked+decoded before the last chunk, first at ${(info['firstSectionMs'] as number).toFixed(1)} ms, wasm compileStreaming ${String(info['wasmStreaming'])}, engines ${JSON.stringify(info['engines'])}`,
    );
  });

  it('int8 sections decode in WASM once the kernels are compiled, byte for byte as the TS reference decoder', async () => {
    for (const model of MODELS) {
      const r = await page.evaluate(
        (id) =>
          (
            window as unknown as {
              sparrowDemo: { decodeCheck(id: string): Promise<{ int8: number; same: number; wasm: number; ref: number }> };
            }
          ).sparrowDemo.decodeCheck(id),
        model.id,
      );
      // a compiled module given: every int8 section in WASM; none without one
      expect(r.int8, model.id).toBeGreaterThan(0);
      expect(r, model.id).toEqual({ int8: r.int8, same: r.int8, wasm: r.int8, ref: 0 });
    }
  });

  for (const model of MODELS) {
    it(`${model.id}: 20 real images in the page, int8 and f32 bit-identical to Node`, async () => {
      const bytes = files.get(model.id)!;
      // pixels as the page decodes the shipped PNGs (canvas, no colour management)
      const samples = await page.evaluate(
        (id) =>
          (
            window as unknown as { sparrowDemo: { samples(id: string): Promise<Array<{ file: string; label: number; pixels: number[] }>> } }
          ).sparrowDemo.samples(id),
        model.id,
      );
      expect(samples).toHaveLength(20);
      const dir = join(ROOT, 'demo', 'samples', model.sample);
      // the MNIST samples are t10k records 0..19 (demo/tools/make-mnist-samples.mjs): compare with the copies in examples/calib/
      const mnist = model.sample === 'mnist' ? bundledImages('mnist-t10k-0-63').pixels : null;
      samples.forEach((s, i) => {
        const png = decodePng(readFileSync(join(dir, s.file.split('/').pop()!)));
        const node = toPlanes(png, model.sample === 'mnist' ? 1 : 3);
        expect(Buffer.from(Uint8Array.from(s.pixels)).equals(Buffer.from(node)), `${s.file}: page pixels = PNG pixels`).toBe(true);
        if (mnist) expect(Buffer.from(node).equals(mnist.subarray(i * 784, (i + 1) * 784)), `${s.file} = t10k record ${i}`).toBe(true);
      });

      const sessions = Object.fromEntries(
        await Promise.all(ENGINES.map(async (e) => [e, await Session.fromSparrow(bytes, { engine: e })] as const)),
      );
      const dims = model.sample === 'mnist' ? [1, 1, 28, 28] : [1, 3, 32, 32];
      let identical = 0,
        floats = 0,
        correct = 0,
        edgeSame = 0,
        edgeRuns = 0,
        edgeBits = 0;
      const edgeEngines = new Set<string>();
      for (const s of samples) {
        const run = await page.evaluate(
          ([id, px]) =>
            (
              window as unknown as { sparrowDemo: { runPixels(id: string, px: number[], o: { edge: boolean }): Promise<PageRun> } }
            ).sparrowDemo.runPixels(id, px, { edge: true }),
          [model.id, s.pixels] as const,
        );
        expect(run.engines).toEqual({ int8: 'sparrow-int8', f32: 'sparrow-f32' });
        const nodeBits: Record<string, number[]> = {};
        for (const e of ENGINES) {
          const session = sessions[e]!;
          const x = preprocessPixels({ dtype: 'uint8', dims, data: Uint8Array.from(s.pixels) }, session.preprocessing!);
          const y = (await session.run({ [session.inputNames[0]!]: x }))[session.outputNames[0]!]!.data as Float32Array;
          const bits = Array.from(new Uint32Array(y.buffer, y.byteOffset, y.length));
          nodeBits[e] = bits;
          const got = e === 'sparrow-int8' ? run.int8 : run.f32;
          expect(got.bits, `${s.file} ${e}: Float32 bits page vs Node`).toEqual(bits);
          const pred = Array.from(y).indexOf(Math.max(...y));
          expect(got.pred, `${s.file} ${e}: prediction`).toBe(pred);
          identical++;
          floats += bits.length;
        }
        if (run.f32.pred === s.label) correct++;
        if (!('error' in run.edge)) {
          edgeRuns++;
          const eb = run.edge.bits;
          const match = ENGINES.find((e) => JSON.stringify(nodeBits[e]) === JSON.stringify(eb));
          if (match) {
            edgeEngines.add(match);
            edgeBits++;
          }
          if (run.edge.pred === run.f32.pred || run.edge.pred === run.int8.pred) edgeSame++;
        }
      }
      expect(identical).toBe(40);
      figures.push(
        `${model.id}: 20 images x 2 engines, ${identical}/40 outputs bit-identical to Node (${floats} float32 values); f32 top-1 vs labels ${correct}/20; ` +
          (edgeRuns
            ? `edge ${edgeRuns} runs, prediction agrees ${edgeSame}/${edgeRuns}, outputs bit-identical to Node ${[...edgeEngines].join('/') || 'neither engine'} ${edgeBits}/${edgeRuns}`
            : 'edge not checked (static server)'),
      );
      if (mode === 'worker') {
        expect(edgeRuns).toBe(20);
        expect(edgeSame).toBe(20);
        // the Worker runs one of the same engines on the same bytes: its JSON floats are exact
        expect(edgeBits).toBe(20);
        expect(edgeEngines.size).toBe(1);
      }
    }, 180_000);
  }

  it('renders the demo: a picked CIFAR image and a drawn digit; screenshot', async () => {
    // a drawn digit: strokes on the pad become a 28x28 MNIST-style input
    await page.evaluate(() =>
      (window as unknown as { sparrowDemo: { select(id: string): Promise<unknown> } }).sparrowDemo.select('mnist-8'),
    );
    const pad = page.locator('canvas.pad');
    const box = (await pad.boundingBox())!;
    const pt = (x: number, y: number): [number, number] => [box.x + (x / 280) * box.width, box.y + (y / 280) * box.height];
    // a "7": top bar, then the diagonal
    await page.mouse.move(...pt(80, 70));
    await page.mouse.down();
    for (const [x, y] of [
      [140, 68],
      [200, 70],
      [185, 120],
      [160, 170],
      [140, 215],
    ] as const)
      await page.mouse.move(...pt(x, y), { steps: 6 });
    await page.mouse.up();
    await page.waitForFunction(
      () => (window as unknown as { sparrowDemo: { lastReport(): { id: string } | null } }).sparrowDemo.lastReport()?.id === 'mnist-8',
    );
    const drawn = await page.evaluate(() =>
      (window as unknown as { sparrowDemo: { lastReport(): PageRun; padPixels(): number[] } }).sparrowDemo.lastReport(),
    );
    const px = await page.evaluate(() => (window as unknown as { sparrowDemo: { padPixels(): number[] } }).sparrowDemo.padPixels());
    expect(px).toHaveLength(784);
    const ink = px.filter((v) => v > 0).length;
    expect(ink).toBeGreaterThan(40);
    figures.push(`drawn "7" -> int8 ${drawn.int8.pred}, f32 ${drawn.f32.pred}`);

    await page.evaluate(() =>
      (window as unknown as { sparrowDemo: { pickSample(id: string, i: number): Promise<unknown> } }).sparrowDemo.pickSample(
        'resnet20-cifar10',
        3,
      ),
    );
    await page.waitForSelector('#latency-chart svg rect');
    await page.waitForSelector('#bytes-chart svg rect');
    const rows = await page.locator('#results tbody tr').count();
    expect(rows).toBe(3);
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'demo.png');
    await page.screenshot({ path: shot, fullPage: true });
    const docs = join(ROOT, 'docs', 'demo.png');
    if (!existsSync(docs) || process.env.SPARROW_UPDATE_SCREENSHOT === '1') copyFileSync(shot, docs);
    expect(pageErrors.filter((e) => mode === 'worker' || !/status of 501/.test(e))).toEqual([]);
  }, 120_000);

  it('issue 16 demo: the first model is selected on load; a dropped PNG answers as the picked sample; top-5 bars with labels', async () => {
    type Demo = {
      ready: Promise<void>;
      models(): Array<{ id: string }>;
      samples(id: string): Promise<Array<{ file: string }>>;
      pickSample(id: string, i: number): Promise<PageRun>;
      lastReport(): PageRun | null;
    };
    await page.goto(base + '/');
    await page.evaluate(() => (window as unknown as { sparrowDemo: Demo }).sparrowDemo.ready);
    const first = await page.evaluate(() => (window as unknown as { sparrowDemo: Demo }).sparrowDemo.models()[0]!.id);
    await page.waitForSelector(`.card.selected[data-id="${first}"]`);
    const picked = await page.evaluate(() => (window as unknown as { sparrowDemo: Demo }).sparrowDemo.pickSample('resnet20-cifar10', 3));
    await page.waitForSelector('#top-chart svg rect');
    expect(await page.locator('#top-chart svg rect').count()).toBe(5);
    const files = await page.evaluate(() => (window as unknown as { sparrowDemo: Demo }).sparrowDemo.samples('resnet20-cifar10'));
    const png = Buffer.from(await (await fetch(new URL(files[3]!.file, base + '/'))).arrayBuffer());
    type Win = { sparrowDemo: Demo; previousReport?: unknown };
    await page.evaluate(() => {
      const w = window as unknown as Win;
      w.previousReport = w.sparrowDemo.lastReport();
    });
    await page.setInputFiles('#drop input[type=file]', { name: 'mine.png', mimeType: 'image/png', buffer: png });
    await page.waitForFunction(() => {
      const w = window as unknown as Win;
      return w.sparrowDemo.lastReport() !== w.previousReport;
    });
    const dropped = await page.evaluate(() => (window as unknown as { sparrowDemo: Demo }).sparrowDemo.lastReport()!);
    // a 32×32 image passes through unchanged: the very pixels, the very output bits
    expect(dropped.int8.bits).toEqual(picked.int8.bits);
    const text = await page.locator('#top-chart').textContent();
    const CIFAR = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
    expect(text).toContain(CIFAR[dropped.int8.pred]!);
    expect(pageErrors.filter((e) => mode === 'worker' || !/status of 501/.test(e))).toEqual([]);
  }, 120_000);
});

// Always runs (no skip in the report): under CI=true Chromium must be there; outside CI its
// absence only skips the suite above, loudly.
describe('browser: chromium required in CI', () => {
  it(`${CHROMIUM} exists when CI=true`, () => {
    expect(!IN_CI || existsSync(CHROMIUM), `${CHROMIUM} is missing under CI=true: .ci/run must apt-get install chromium`).toBe(true);
  });
});
