#!/usr/bin/env node
// What a fresh Node process pays from `import` to its first answer, for the package entry as
// published (the bundle in dist/pkg, scripts/bundle.mjs) against the unbundled tsc output
// (dist/index.js): each sample is a new process that imports the entry, then (with --model)
// loads the .sparrow model with Session.fromSparrow (its default engine) and runs it once on a
// seeded input of its first input's shape (batch 1). The two entries alternate (A B, B A, ...);
// the medians are printed, and `--json` prints one JSON document instead. Needs `npm run build`.
// --cli: the CLI instead (dist/pkg/cli.js, what bin/sparrow.js runs, against dist/cli/main.js),
// each imported and run as `sparrow --version`.
//   node scripts/import-time.mjs [--samples 15] [--model f.sparrow | --cli] [--json]
// e.g. node scripts/import-time.mjs --model .bench-cache/resnet32-s70-static.sparrow
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ENTRIES = { bundled: join(ROOT, 'dist', 'pkg', 'index.js'), unbundled: join(ROOT, 'dist', 'index.js') };
/** --cli: the CLI module bin/sparrow.js runs (bundled) against dist/cli/main.js, each imported and run as `sparrow --version` */
export const CLI_ENTRIES = { bundled: join(ROOT, 'dist', 'pkg', 'cli.js'), unbundled: join(ROOT, 'dist', 'cli', 'main.js') };

/** One fresh process's figures: `mode` 'cli' (run as `sparrow --version`), else the package entry (and `model`, if any). */
async function sample(entry, mode, model) {
  const t0 = performance.now();
  const pkg = await import(pathToFileURL(entry).href);
  const t1 = performance.now();
  const out = { import_ms: t1 - t0 };
  if (mode === 'cli') {
    // `sparrow --version` (its output goes to stderr here, the JSON line to stdout)
    const log = console.log;
    console.log = (...a) => process.stderr.write(a.join(' ') + '\n');
    const code = await pkg.main(['--version']);
    console.log = log;
    if (code !== 0) throw new Error(`sparrow --version exited ${code}`);
    out.version_ms = performance.now() - t0;
    process.stdout.write(JSON.stringify(out) + '\n');
    return;
  }
  if (model) {
    const { readFileSync } = await import('node:fs');
    const s = await pkg.Session.fromSparrow(new Uint8Array(readFileSync(model)));
    const t2 = performance.now();
    // the first input's shape (a free dimension: 1), values from a fixed LCG
    const dims = (s.inputInfo[s.inputNames[0]].dims ?? [1]).map((d) => (d > 0 ? d : 1));
    let x = 12345;
    const data = Float32Array.from(
      { length: dims.reduce((a, b) => a * b, 1) },
      () => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1,
    );
    const t3 = performance.now();
    await s.run({ [s.inputNames[0]]: { dtype: 'float32', dims, data } });
    const t4 = performance.now();
    Object.assign(out, { load_ms: t2 - t1, first_ms: t4 - t3, total_ms: t1 - t0 + (t2 - t1) + (t4 - t3) });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

if (process.argv[2] === '--sample') {
  await sample(process.argv[3], process.argv[4], process.argv[5] || undefined);
} else {
  const args = process.argv.slice(2);
  const opt = (k) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const samples = Number(opt('--samples') ?? 15);
  const model = opt('--model');
  const cli = args.includes('--cli');
  const entries = cli ? CLI_ENTRIES : ENTRIES;
  if (!(samples >= 1)) {
    console.error('usage: node scripts/import-time.mjs [--samples 15] [--model f.sparrow | --cli] [--json]');
    process.exit(2);
  }
  if (cli && model) {
    console.error('--cli and --model do not go together');
    process.exit(2);
  }
  for (const f of Object.values(entries)) if (!existsSync(f)) throw new Error(`${f} missing: run \`npm run build\``);
  const raw = { bundled: [], unbundled: [] };
  for (let i = 0; i < samples; i++)
    for (const k of i % 2 ? ['unbundled', 'bundled'] : ['bundled', 'unbundled']) {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--sample', entries[k], cli ? 'cli' : 'entry', model ?? ''], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`sample failed: ${r.stderr}`);
      raw[k].push(JSON.parse(r.stdout.trim().split('\n').pop()));
    }
  const keys = Object.keys(raw.bundled[0]);
  const med = Object.fromEntries(
    Object.entries(raw).map(([k, xs]) => [
      k,
      Object.fromEntries(keys.map((f) => [f, Math.round(median(xs.map((x) => x[f])) * 100) / 100])),
    ]),
  );
  if (args.includes('--json')) {
    console.log(JSON.stringify({ samples, model: model ?? null, cli, node: process.version, medians: med, raw }, null, 1));
  } else {
    console.log(
      `fresh Node processes, ${samples} per entry, alternating; medians (ms)${model ? `; model ${model}` : ''}${cli ? '; the CLI: sparrow --version' : ''}`,
    );
    for (const [k, m] of Object.entries(med)) console.log(`${k.padEnd(10)} ${keys.map((f) => `${f} ${m[f].toFixed(1)}`).join('  ')}`);
    console.log(`import: unbundled / bundled = ${(med.unbundled.import_ms / med.bundled.import_ms).toFixed(2)}x`);
  }
}
