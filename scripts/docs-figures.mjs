#!/usr/bin/env node
// `npm run docs:figures`: regenerates the measured figures of the README and docs from
// measurements, so that none of them goes stale (issue 16, part 7). Each part rewrites the text
// between its markers (<!-- figures:NAME --> … <!-- /figures:NAME -->, or the markers of the
// script it reuses) and nothing else:
//   engines      README: `sparrow bench` of ResNet-20 (.onnx) and the same model compressed with
//                `--calib` and no other flag but its mean/std (static ranges by default):
//                sparrow-f32, sparrow-int8, ort-web, ort-node, one process, interleaved
//   native       README: ResNet-20/32 (../shared/data) at 70 % sparsity, static ranges: sparrow-int8,
//                sparrow-f32 and ort-node p50 (`sparrow bench`, one process, interleaved), and the
//                cold decode + pack of ResNet-32 (`sparrow bench --cold --samples 10`: fresh processes)
//   codec        README: `npm run bench:codec` (coded size vs Shannon bound vs gzip/brotli, decode speed)
//   bundle       README + docs/development.md: scripts/bundle-size.mjs --write (wrangler dry-run sizes)
//   import       README: scripts/import-time.mjs (fresh Node processes: importing the package entry,
//                bundled dist/pkg against the unbundled dist/, then loading and running ResNet-20)
//   compression  docs/compression.md: `npm run eval:compression -- --write` (long: tens of minutes)
//   demo         docs/demo.png: `npm start` (scripts/start.js: wrangler dev) on a free port, the demo
//                page in headless Chromium (playwright-core, /usr/bin/chromium), a ResNet-20 sample
//                picked, a screenshot; wrangler is stopped afterwards
// Usage: node scripts/docs-figures.mjs [--only engines,codec,...] [--skip compression] [--runs N]
// Default: every part but `compression` (add it with --only or --with compression).
// `--check` measures nothing: it checks that every marked block is well-formed (checkFigureBlocks,
// also run by test/docs.figures.test.ts in CI) and exits 1 otherwise.
// Needs `npm run build` first. Measurements on a shared machine are noisy: the tables say when
// and how they were measured; compare ratios within one table, not across runs.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFigureBlocks, replaceBlock } from './docs-figures-check.mjs';
import { launchChromium } from './chromium.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'sparrow.js');
const RESNET = join(ROOT, 'examples/models/resnet20-cifar10.onnx');
const CIFAR_CALIB = 'npy:examples/calib/cifar10-test-0-63.npy';
const NORM = ['--mean', '0.485,0.456,0.406', '--std', '0.229,0.224,0.225'];
const PARTS = ['engines', 'native', 'codec', 'bundle', 'import', 'compression', 'demo'];
const DOCS = ['README.md', 'docs/development.md', 'docs/compression.md'];

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const log = (s) => process.stderr.write(`docs:figures: ${s}\n`);
const today = () => new Date().toISOString().slice(0, 10);

function die(msg) {
  process.stderr.write(`docs:figures: ${msg}\n`);
  process.exit(1);
}

/** Runs a command to completion; its stdout (stderr passed through). */
function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) die(`${what} failed (exit ${r.status})`);
  return r.stdout;
}

function writeBlock(file, name, body) {
  const p = join(ROOT, file);
  writeFileSync(p, replaceBlock(readFileSync(p, 'utf8'), name, body));
  log(`${file}: ${name} updated`);
}

const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? '-' : Number(x).toFixed(d));
const n = (x) => Number(x).toLocaleString('en-US');
/** A Markdown table: the first column left-aligned, the others right-aligned. */
const mdTable = (head, rows) =>
  [
    `| ${head.join(' | ')} |`,
    `|---|${head
      .slice(1)
      .map(() => '---:')
      .join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

// ---------------------------------------------------------------------------------------------

function engines() {
  const tmp = mkdtempSync(join(tmpdir(), 'sparrow-figures-'));
  try {
    const sp = join(tmp, 'resnet20.sparrow');
    log('engines: sparrow compress resnet20 --calib (defaults: hessian 50 %, static ranges) ...');
    const report = JSON.parse(
      run(process.execPath, [CLI, 'compress', RESNET, '-o', sp, '--calib', CIFAR_CALIB, ...NORM, '--json'], 'compress'),
    );
    const runs = opt('--runs') ?? '200';
    log(`engines: sparrow bench (${runs} runs per engine, interleaved) ...`);
    const b = JSON.parse(
      run(
        process.execPath,
        [CLI, 'bench', RESNET, '--compressed', sp, '--engines', 'sparrow-f32,sparrow-int8,ort-web,ort-node', '--runs', runs, '--json'],
        'bench',
      ),
    );
    const e = b.engines;
    const f32 = e['sparrow-f32']?.p50_ms;
    const rows = Object.entries(e).map(([name, r]) => [
      `\`${name}\``,
      fmt(r.p50_ms, 3),
      fmt(r.p90_ms, 3),
      fmt(r.load_ms, 1),
      f32 && r.p50_ms ? `${(f32 / r.p50_ms).toFixed(2)}x` : '-',
    ]);
    const table = mdTable(['engine', 'p50 ms', 'p90 ms', 'load ms', 'speed vs sparrow-f32 (p50)'], rows);
    const body =
      `\`sparrow compress resnet20-cifar10.onnx --calib ${CIFAR_CALIB} ${NORM.join(' ')}\` (${n(report.bytes)} B, ` +
      `density ${(report.nonzero / report.params).toFixed(3)}), then \`sparrow bench --compressed\`, ${b.runs} runs per engine, 1 thread, ` +
      `interleaved, ${today()}, \`npm run docs:figures\`:\n\n${table}\n\n` +
      `Sizes: ONNX ${n(b.sizes.onnx)} B, gzip-9 ${n(b.sizes.onnx_gzip)} B, brotli-11 ${n(b.sizes.onnx_brotli)} B, .sparrow ${n(b.sizes.sparrow)} B. ` +
      `Decode: sparrow ${fmt(b.decode.sparrow_MBps, 1)} MB/s, zlib inflate ${fmt(b.decode.zlib_inflate_MBps, 1)} MB/s.`;
    writeBlock('README.md', 'engines', body);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** ResNet-20/32 at 70 % against onnxruntime-node, and ResNet-32's cold decode + pack. */
function native() {
  const data = join(ROOT, '..', 'shared', 'data');
  const model = (d) => join(data, 'models', `resnet${d}-cifar10.onnx`);
  const calib = `cifar10:${join(data, 'cifar10', 'test_q75.bin')}`;
  if (!existsSync(model(20)) || !existsSync(model(32))) {
    log(`native: ${data} has no ResNet-20/32: skipped`);
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'sparrow-figures-'));
  try {
    const runs = opt('--runs') ?? '300';
    const rows = [];
    let cold;
    for (const d of [20, 32]) {
      const sp = join(tmp, `resnet${d}.sparrow`);
      log(`native: sparrow compress resnet${d} --calib --sparsity 0.7 ...`);
      const c = JSON.parse(
        run(process.execPath, [CLI, 'compress', model(d), '-o', sp, '--calib', calib, '--sparsity', '0.7', ...NORM, '--json'], 'compress'),
      );
      log(`native: sparrow bench resnet${d} (${runs} runs per engine, interleaved) ...`);
      const b = JSON.parse(
        run(
          process.execPath,
          [CLI, 'bench', model(d), '--compressed', sp, '--engines', 'sparrow-int8,sparrow-f32,ort-node', '--runs', runs, '--json'],
          'bench',
        ),
      );
      const p = (e) => b.engines[e]?.p50_ms;
      rows.push([
        `ResNet-${d}`,
        n(c.bytes),
        fmt(p('sparrow-int8'), 3),
        fmt(p('sparrow-f32'), 3),
        fmt(p('ort-node'), 3),
        `${fmt(p('sparrow-int8') / p('ort-node'))}x`,
      ]);
      if (d === 32) {
        log('native: sparrow bench resnet32 --cold --samples 10 ...');
        cold = JSON.parse(
          run(
            process.execPath,
            [CLI, 'bench', model(d), '--compressed', sp, '--engines', 'sparrow-int8', '--cold', '--samples', '10', '--json'],
            'bench --cold',
          ),
        ).engines['sparrow-int8'];
      }
    }
    const table = mdTable(
      ['model', '.sparrow bytes', 'sparrow-int8 p50 ms', 'sparrow-f32 p50 ms', 'ort-node p50 ms', 'int8 / ort-node'],
      rows,
    );
    const body =
      `\`sparrow compress resnetNN-cifar10.onnx --calib cifar10:test_q75.bin --sparsity 0.7 ${NORM.join(' ')}\` (static ranges), ` +
      `then \`sparrow bench --compressed --engines sparrow-int8,sparrow-f32,ort-node --runs ${runs}\` (one process, one thread, ` +
      `interleaved), ${today()}, \`npm run docs:figures -- --only native\`:\n\n${table}\n\n` +
      `Cold start of the ResNet-32 file (\`--cold --samples 10\`, medians of 10 fresh processes): decode + pack of the int8 ` +
      `weights ${fmt(cold.weights_ms)} ms, whole load ${fmt(cold.load_ms, 1)} ms, first inference ${fmt(cold.first_ms)} ms ` +
      `(${n(Math.round(cold.load_faults))} minor page faults in the load).`;
    writeBlock('README.md', 'native', body);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function codec() {
  log('codec: npm run bench:codec -- --json ...');
  const { cases } = JSON.parse(run(process.execPath, [join(ROOT, 'dist/bench/codec.js'), '--json'], 'bench:codec'));
  const head = [
    'model',
    'sparsity',
    'bytes',
    'tables',
    'entropy bound',
    'bytes/(bound+tables)',
    'gzip-9',
    'brotli-11',
    'vs brotli',
    'decode MB/s',
    'inflate MB/s',
    'speed-up',
  ];
  const rows = cases.map((c) => [
    c.model,
    `${Math.round(c.sparsity * 100)}%`,
    c.bytes,
    c.tableBytes,
    c.entropyBytes,
    (c.bytes / (c.entropyBytes + c.tableBytes)).toFixed(4),
    c.gzipBytes,
    c.brotliBytes,
    (c.bytes / c.brotliBytes).toFixed(3),
    fmt(c.decode_MBps, 1),
    fmt(c.zlib_inflate_MBps, 1),
    `${(c.decode_MBps / c.zlib_inflate_MBps).toFixed(2)}x`,
  ]);
  const table = mdTable(head, rows);
  writeBlock('README.md', 'codec', `Measured ${today()} (\`npm run docs:figures\`):\n\n${table}`);
}

function bundle() {
  log('bundle: node scripts/bundle-size.mjs --write ...');
  run(process.execPath, [join(ROOT, 'scripts/bundle-size.mjs'), '--write'], 'bundle-size');
}

function importTime() {
  const model = 'test/fixtures/int8/resnet20.static.sparrow';
  const args = ['--samples', '15', '--model', model, '--json'];
  log(`import: node scripts/import-time.mjs ${args.join(' ')} ...`);
  const r = JSON.parse(run(process.execPath, [join(ROOT, 'scripts/import-time.mjs'), ...args], 'import-time'));
  const b = r.medians.bundled,
    u = r.medians.unbundled;
  log('import: node scripts/import-time.mjs --samples 15 --cli --json ...');
  const c = JSON.parse(
    run(process.execPath, [join(ROOT, 'scripts/import-time.mjs'), '--samples', '15', '--cli', '--json'], 'import-time --cli'),
  );
  const row = (name, m) => [name, fmt(m.import_ms, 1), fmt(m.load_ms, 1), fmt(m.first_ms, 1), fmt(m.total_ms, 1)];
  const table = mdTable(
    ['package entry', 'import ms', 'load ms', 'first inference ms', 'total ms'],
    [row('`dist/pkg/index.js` (bundled: what `sparrow-edge` resolves to)', b), row('`dist/index.js` (tsc output, unbundled)', u)],
  );
  writeBlock(
    'README.md',
    'import',
    `\`node scripts/import-time.mjs --samples 15 --model ${model} --json\` (fresh Node ${r.node} processes, the two entries ` +
      `alternating, medians; load: \`Session.fromSparrow\` of ResNet-20, 50 % sparse, static int8), ${today()}, ` +
      `\`npm run docs:figures -- --only import\`:\n\n${table}\n\nImport ${fmt(u.import_ms / b.import_ms)}x faster bundled; ` +
      `import to first answer ${fmt(u.total_ms / b.total_ms)}x. The CLI (\`node scripts/import-time.mjs --samples 15 --cli\`: ` +
      `the module imported and run as \`sparrow --version\`, medians of 15 processes each): ${fmt(c.medians.bundled.version_ms, 1)} ms ` +
      `from dist/pkg/cli.js (what bin/sparrow.js runs) against ${fmt(c.medians.unbundled.version_ms, 1)} ms from dist/cli/main.js.`,
  );
}

function compression() {
  log('compression: npm run eval:compression -- --write (long) ...');
  run(process.execPath, [join(ROOT, 'dist/bench/compression.js'), '--write'], 'eval:compression');
}

async function demo() {
  const { freePort, healthy } = await import('./examples.js');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  log(`demo: npm start on ${base} (compresses the examples once, cached in .sparrow-data/models) ...`);
  const child = spawn(process.execPath, [join(ROOT, 'scripts/start.js')], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SPARROW_PORT: String(port) },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  };
  process.on('exit', stop);
  try {
    const deadline = Date.now() + 15 * 60_000;
    while (!/Sparrow edge Worker ready/.test(out)) {
      if (child.exitCode !== null) die(`npm start exited ${child.exitCode}:\n${out}`);
      if (Date.now() > deadline) die('npm start did not get ready within 15 minutes');
      await new Promise((r) => setTimeout(r, 500));
    }
    if (!(await healthy(`${base}/healthz`))) die(`${base}/healthz does not answer`);
    const browser = await launchChromium({ viewport: { width: 1180, height: 900 } });
    const context = browser.context;
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${base}/`);
      await page.waitForFunction(() => !!window.sparrowDemo, null, { timeout: 120_000 });
      await page.evaluate(() => window.sparrowDemo.pickSample('resnet20-cifar10', 3));
      await page.waitForSelector('#latency-chart svg rect', { timeout: 120_000 });
      await page.waitForSelector('#bytes-chart svg rect', { timeout: 120_000 });
      mkdirSync(join(ROOT, 'docs'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'docs', 'demo.png'), fullPage: true });
      log('docs/demo.png updated');
    } finally {
      await browser.close();
    }
  } finally {
    stop();
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (argv.includes('--check')) {
    let bad = 0;
    for (const f of DOCS) {
      const problems = checkFigureBlocks(readFileSync(join(ROOT, f), 'utf8'));
      for (const p of problems) process.stderr.write(`${f}: ${p}\n`);
      bad += problems.length;
    }
    if (bad) process.exit(1);
    log('every marked block is well-formed');
    return;
  }
  if (!existsSync(join(ROOT, 'dist/cli/main.js')) || !existsSync(join(ROOT, 'build/sparrow.wasm')))
    die('not built; run `npm run build` first');
  const only = opt('--only')?.split(',');
  const skip = opt('--skip')?.split(',') ?? [];
  const withParts = opt('--with')?.split(',') ?? [];
  for (const p of [...(only ?? []), ...skip, ...withParts]) if (!PARTS.includes(p)) die(`unknown part '${p}' (${PARTS.join(', ')})`);
  const parts = (only ?? PARTS.filter((p) => p !== 'compression' || withParts.includes(p))).filter((p) => !skip.includes(p));
  const fns = { engines, native, codec, bundle, import: importTime, compression, demo };
  for (const p of parts) await fns[p]();
  for (const f of DOCS) {
    const problems = checkFigureBlocks(readFileSync(join(ROOT, f), 'utf8'));
    if (problems.length) die(`${f} after the update: ${problems.join('; ')}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => die(e?.stack ?? String(e)),
);
