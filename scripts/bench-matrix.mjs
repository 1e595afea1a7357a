#!/usr/bin/env node
// `npm run bench`: one table, engines × models, p50 latency in Node and in Chromium, with the
// ratios to onnxruntime-web and onnxruntime-node, plus docs/bench-matrix.svg and .md.
//
//   npm run bench -- [--runs N] [--warmup N] [--models id,id] [--no-browser] [--out docs]
//
// Models (../shared/data or $SPARROW_DATA; a missing one is skipped with a note): mnist-8,
// ResNet-20 and ResNet-32 (sparrow-int8 runs a .sparrow compressed once into .bench-cache/:
// 70 % Hessian-pruned, int8 with static activation ranges from 64 CIFAR-10 images), the zoo
// EfficientNet-B0 and MobileNetV3-Small and the BERT-shaped encoder (sparrow-int8 runs their ONNX
// files: weights quantized at load, dynamic activation ranges). Every engine of a model runs in
// one process (Node: runBench of src/bench/bench.ts; Chromium: scripts/bench-page.ts in headless
// /usr/bin/chromium through playwright-core), one thread each, interleaved on the same seeded
// inputs. Ratios are p50(engine) / p50(onnxruntime): below 1 is faster than onnxruntime. The
// Chromium column has no ort-node: its ratio is to the Node ort-node of the same run.
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, launchChromium } from './chromium.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : process.argv[i + 1];
}
const RUNS = Number(arg('runs', '20'));
const WARMUP = Number(arg('warmup', '5')); // past sparrow-int8's tier-up (TIER_UP_RUNS runs)
const OUT = resolve(ROOT, arg('out', 'docs'));
const BROWSER = !process.argv.includes('--no-browser');
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs must be a positive integer');

const DATA = process.env.SPARROW_DATA ? resolve(process.env.SPARROW_DATA) : resolve(ROOT, '..', 'shared', 'data');
const CIFAR_PRE = ['--mean', '0.485,0.456,0.406', '--std', '0.229,0.224,0.225'];
const MODELS = [
  { id: 'mnist-8', onnx: 'models/mnist-8.onnx' },
  { id: 'resnet20', onnx: 'models/resnet20-cifar10.onnx', compress: CIFAR_PRE },
  { id: 'resnet32', onnx: 'models/resnet32-cifar10.onnx', compress: CIFAR_PRE },
  { id: 'efficientnet-b0', onnx: 'models/zoo/efficientnet_b0-random.onnx' },
  { id: 'mobilenetv3-small', onnx: 'models/zoo/mobilenet_v3_small-random.onnx' },
  { id: 'bert-encoder', onnx: 'models/zoo/bert-tiny-random.onnx' },
];
const ENGINES = ['sparrow-f32', 'sparrow-int8', 'ort-web', 'ort-node'];
const BROWSER_ENGINES = ['sparrow-f32', 'sparrow-int8', 'ort-web'];
const only = arg('models');
const models = MODELS.filter((m) => !only || only.split(',').includes(m.id));

const log = (s) => process.stderr.write(`bench: ${s}\n`);
const LOAD0 = loadavg();
const notes = [];

/** The .sparrow of a CIFAR ResNet (static int8, 70 % sparse), compressed once into .bench-cache/. */
function compressed(m, onnx) {
  if (!m.compress) return undefined;
  const dir = join(ROOT, '.bench-cache');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${m.id}-s70-static.sparrow`);
  if (existsSync(out) && statSync(out).mtimeMs > statSync(onnx).mtimeMs) return out;
  log(`compressing ${m.id} (once) → ${out}`);
  const calib = join(DATA, 'cifar10', 'test_q75.bin');
  const r = spawnSync(
    process.execPath,
    [
      join(ROOT, 'bin', 'sparrow.js'),
      'compress',
      onnx,
      '-o',
      out,
      '--sparsity',
      '0.7',
      '--activations',
      'static',
      ...m.compress,
      '--calib',
      `cifar10:${calib}`,
      '--calib-n',
      '64',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`compress ${m.id}: ${r.stderr}`);
  return out;
}

// ---- Node half ---------------------------------------------------------------------------------

const { runBench, modelInputs } = await import(join(ROOT, 'dist', 'bench', 'bench.js'));
const { MAGIC } = await import(join(ROOT, 'dist', 'format', 'container.js'));
const { Session } = await import(join(ROOT, 'dist', 'runtime', 'session.js'));
const { openEngine, prepareEngine, sessionEngine } = await import(join(ROOT, 'dist', 'runtime', 'ort.js'));
await import(join(ROOT, 'dist', 'ops', 'ref', 'index.js'));

const results = []; // { model, runtime, p50: {engine: ms | null}, note }
const ready = [];
for (const m of models) {
  const onnx = join(DATA, m.onnx);
  if (!existsSync(onnx)) {
    notes.push(`${m.id}: ${onnx} missing, skipped`);
    continue;
  }
  const sp = compressed(m, onnx);
  const bytes = new Uint8Array(readFileSync(onnx));
  const inputs = modelInputs(bytes).map((i) => ({
    name: i.name,
    dtype: i.dtype,
    dims: (i.dims ?? [1]).map((d, k) => (d >= 0 ? d : k === 0 ? 1 : 16)),
  }));
  ready.push({ ...m, onnxPath: onnx, sparrowPath: sp, inputs });
  log(`node: ${m.id}`);
  const rep = await runBench({
    model: m.id,
    bytes,
    compressed: sp ? { path: sp, bytes: new Uint8Array(readFileSync(sp)) } : undefined,
    shapes: Object.fromEntries(inputs.map((i) => [i.name, i.dims])),
    engines: ENGINES,
    runs: RUNS,
    warmup: WARMUP,
    latencyOnly: true,
    strictEngines: false,
    open: async (name, b) => {
      const isSparrow = MAGIC.every((v, i) => b[i] === v);
      if (!isSparrow) return openEngine(name, name, b);
      const s = await Session.fromSparrow(b, { engine: name });
      return sessionEngine(name, s);
    },
    prepare: (name) => prepareEngine(name),
  });
  const p50 = Object.fromEntries(ENGINES.map((e) => [e, rep.engines[e]?.p50_ms ?? null]));
  for (const [e, why] of Object.entries(rep.skipped ?? {})) notes.push(`node ${m.id} ${e}: ${String(why).slice(0, 160)}`);
  results.push({ model: m.id, runtime: 'node', p50, int8: sp ? 'static .sparrow' : 'dynamic' });
}

// ---- Chromium half -----------------------------------------------------------------------------

async function browserHalf() {
  if (!existsSync(CHROMIUM)) {
    notes.push(`${CHROMIUM} missing: no Chromium column`);
    return;
  }
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'sparrow-bench-page-'));
  await build({
    absWorkingDir: ROOT,
    entryPoints: [join(ROOT, 'scripts', 'bench-page.ts')],
    outfile: join(dir, 'bench.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'warning',
  });
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><meta charset="utf-8"><title>bench</title><script type="module" src="/bench.js"></script>',
  );
  const files = new Map([['/sparrow.wasm', join(ROOT, 'build', 'sparrow.wasm')]]);
  for (const m of ready) {
    files.set(`/m/${m.id}.onnx`, m.onnxPath);
    if (m.sparrowPath) files.set(`/m/${m.id}.sparrow`, m.sparrowPath);
  }
  const ortDir = join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');
  const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html', '.wasm': 'application/wasm' };
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    let file = files.get(url);
    if (!file && url.startsWith('/ort/')) file = join(ortDir, url.slice(5).replace(/\.\./g, ''));
    if (!file) file = join(dir, url === '/' ? 'index.html' : url.slice(1).replace(/\.\./g, ''));
    if (!existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await launchChromium();
  const context = browser.context;
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => log(`page error: ${e}`));
    await page.goto(base + '/');
    await page.waitForFunction(() => 'sparrowBench' in window);
    for (const m of ready) {
      log(`chromium: ${m.id}`);
      const pm = { id: m.id, onnxUrl: `/m/${m.id}.onnx`, sparrowUrl: m.sparrowPath ? `/m/${m.id}.sparrow` : undefined, inputs: m.inputs };
      const r = await page.evaluate(
        ([pm, engines, runs, warmup]) => window.sparrowBench.benchModel(pm, engines, runs, warmup),
        [pm, BROWSER_ENGINES, RUNS, WARMUP],
      );
      const p50 = {};
      for (const e of ENGINES) {
        const v = r[e];
        p50[e] = typeof v === 'number' ? v : null;
        if (typeof v === 'string') notes.push(`chromium ${m.id} ${e}: ${v}`);
      }
      results.push({ model: m.id, runtime: 'chromium', p50, int8: m.sparrowPath ? 'static .sparrow' : 'dynamic' });
    }
  } finally {
    await browser.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
if (BROWSER) await browserHalf();

// ---- the table -----------------------------------------------------------------------------------

const f = (v, d = 3) => (v === null || v === undefined ? '-' : v.toFixed(d));
const ratio = (a, b) => (a === null || b === null || a === undefined || b === undefined ? null : a / b);
const nodeOrt = new Map(results.filter((r) => r.runtime === 'node').map((r) => [r.model, r.p50['ort-node']]));
const rows = results.map((r) => {
  const on = r.p50['ort-node'] ?? nodeOrt.get(r.model) ?? null;
  return {
    ...r,
    ratios: {
      'f32/web': ratio(r.p50['sparrow-f32'], r.p50['ort-web']),
      'int8/web': ratio(r.p50['sparrow-int8'], r.p50['ort-web']),
      'f32/node': ratio(r.p50['sparrow-f32'], on),
      'int8/node': ratio(r.p50['sparrow-int8'], on),
      'int8/f32': ratio(r.p50['sparrow-int8'], r.p50['sparrow-f32']),
    },
  };
});
const head = [
  'model',
  'runtime',
  'int8 input',
  ...ENGINES.map((e) => `${e} p50 ms`),
  'f32/ort-web',
  'int8/ort-web',
  'f32/ort-node',
  'int8/ort-node',
  'int8/f32',
];
const body = rows.map((r) => [
  r.model,
  r.runtime,
  r.int8,
  ...ENGINES.map((e) => f(r.p50[e])),
  ...['f32/web', 'int8/web', 'f32/node', 'int8/node', 'int8/f32'].map((k) => f(r.ratios[k], 2)),
]);
const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
const line = (c) => c.map((x, i) => (i < 3 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
const load = `load average ${LOAD0.map((v) => v.toFixed(1)).join('/')} at the start, ${loadavg()
  .map((v) => v.toFixed(1))
  .join('/')} at the end on ${cpus().length} cores`;
const title = `engines × models, p50 ms, ${RUNS} runs after ${WARMUP} warm-up, one thread, interleaved per model (${when} UTC, node ${process.version}; ${load})`;
const table = [
  title,
  '',
  line(head),
  ...body.map(line),
  '',
  'ratios: p50 / p50 of onnxruntime (below 1: faster); the Chromium rows divide by the Node ort-node of the same run.',
  ...notes.map((n) => `note: ${n}`),
].join('\n');
process.stdout.write(table + '\n');

// Markdown + SVG (grouped bars of the ratio to ort-web per model, Node and Chromium)
mkdirSync(OUT, { recursive: true });
const md = [
  `# npm run bench`,
  '',
  title + '.',
  '',
  `| ${head.join(' | ')} |`,
  `|${head.map((_, i) => (i < 3 ? ' --- ' : ' ---: ')).join('|')}|`,
  ...body.map((b) => `| ${b.join(' | ')} |`),
  '',
  'Ratios: p50 / p50 of onnxruntime (below 1: faster). The Chromium rows have no ort-node; their */ort-node ratios divide by the Node ort-node of the same run.',
  'sparrow-int8 runs the static .sparrow (70 % sparse) for the CIFAR ResNets, the ONNX file (dynamic activation ranges) for the others.',
  ...notes.map((n) => `- ${n}`),
  '',
  '![p50 relative to onnxruntime-web](bench-matrix.svg)',
  '',
].join('\n');
writeFileSync(join(OUT, 'bench-matrix.md'), md);
writeFileSync(join(OUT, 'bench-matrix.svg'), svg(rows));
log(`wrote ${join(OUT, 'bench-matrix.md')} and bench-matrix.svg`);

function svg(rows) {
  const series = [
    ['sparrow-f32', '#4e79a7'],
    ['sparrow-int8', '#f28e2b'],
    ['ort-node', '#59a14f'],
  ];
  const groups = rows.filter((r) => r.p50['ort-web'] !== null);
  const W = 900,
    rowH = 22 * series.length + 14,
    top = 40,
    left = 230,
    H = top + groups.length * rowH + 40;
  const max = Math.max(1.5, ...groups.flatMap((r) => series.map(([e]) => ratio(r.p50[e] ?? null, r.p50['ort-web']) ?? 0)));
  const x = (v) => left + ((W - left - 40) * v) / max;
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="10" y="20" font-size="14">p50 relative to onnxruntime-web (1 = same; shorter is faster), ${esc(when)} UTC</text>`,
    `<line x1="${x(1)}" y1="${top - 8}" x2="${x(1)}" y2="${H - 30}" stroke="#999" stroke-dasharray="4 3"/>`,
    `<text x="${x(1) + 3}" y="${H - 18}" fill="#666">1.0 (ort-web)</text>`,
  ];
  groups.forEach((r, gi) => {
    const y0 = top + gi * rowH;
    parts.push(`<text x="10" y="${y0 + rowH / 2}">${esc(r.model)} (${r.runtime})</text>`);
    series.forEach(([e, color], si) => {
      const v = ratio(r.p50[e] ?? null, r.p50['ort-web']);
      if (v === null) return;
      const y = y0 + si * 22;
      parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(v) - left)}" height="18" fill="${color}"/>`);
      parts.push(`<text x="${x(v) + 4}" y="${y + 13}">${esc(e)} ${v.toFixed(2)}× (${f(r.p50[e], 2)} ms)</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}
