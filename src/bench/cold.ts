// `sparrow bench --cold`: what a fresh process pays before its first answer. Each sample is a new
// Node process (this file run as a script) that loads one engine from the model's bytes and runs
// it twice; nothing is warm in it (no JIT, no compiled WASM, no touched pages). Samples of the
// engines are interleaved (engine A, engine B, A, B, ...) and reported as medians.
//
// A sample reports, in ms from its own clock:
//   start      process start → the engine's code imported (Node's own start-up not included)
//   load       creating the session from the bytes (WASM compile + instantiate, graph, plan)
//   weights    sparrow-int8: decoding + packing the int8 weights (part of load)
//   first      the first inference
//   warm       the second inference
// and the minor page faults the main thread took during the load and the first inference
// (Linux: /proc/self/task/<pid>/stat; null elsewhere): fresh linear-memory pages cost a fault
// each, the larger part of a cold load on a VM (docs/engine.md), and unlike the times the
// counts do not depend on what else the machine runs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SparrowError } from '../errors.js';

export interface ColdSample {
  engine: string;
  start_ms: number;
  load_ms: number;
  weights_ms: number | null;
  first_ms: number;
  warm_ms: number;
  /** minor page faults of the main thread during the load / the first inference (null: not Linux) */
  load_faults: number | null;
  first_faults: number | null;
  /** the Node.js options the sample process ran with (process.execArgv) */
  node_options: string[];
}

export interface ColdOptions {
  /** the .onnx model (input shapes; the ORT engines and sparrow-f32 load it) */
  model: string;
  /** the .sparrow file sparrow-int8 loads (else it loads the .onnx) */
  compressed?: string;
  engines: string[];
  /** processes per engine (default 10) */
  samples?: number;
  batch?: number;
  /**
   * Node.js options for the sample processes (e.g. --v8-pool-size=1: one V8 worker thread, so
   * that the tier-up compilations of a cold load cannot take the main thread's core on a 2-core
   * machine; docs/engine.md)
   */
  nodeOptions?: string[];
  log?: (line: string) => void;
}

export interface ColdReport {
  model: string;
  compressed?: string;
  samples: number;
  /** the Node.js options of the sample processes (ColdOptions.nodeOptions) */
  node_options: string[];
  /** medians per engine */
  engines: Record<
    string,
    {
      start_ms: number;
      load_ms: number;
      weights_ms: number | null;
      first_ms: number;
      warm_ms: number;
      load_faults: number | null;
      first_faults: number | null;
    }
  >;
  /** every sample, in the order run */
  raw: ColdSample[];
}

/** the engines a cold sample can open */
export const COLD_ENGINES: readonly string[] = ['sparrow-f32', 'sparrow-int8', 'ort-node', 'ort-web'];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Runs the samples (one fresh process each, engines interleaved); throws on a failed sample. */
export function runColdBench(o: ColdOptions): ColdReport {
  const samples = o.samples ?? 10;
  if (!Number.isInteger(samples) || samples < 1) throw new SparrowError('invalid_argument', `--samples must be a positive integer`);
  for (const e of o.engines)
    if (!COLD_ENGINES.includes(e))
      throw new SparrowError('invalid_argument', `--cold: engine '${e}' is not one of ${COLD_ENGINES.join(', ')}`);
  const nodeOptions = o.nodeOptions ?? [];
  for (const f of nodeOptions)
    if (!/^--[a-z0-9][a-z0-9-]*(=\S+)?$/.test(f))
      throw new SparrowError('invalid_argument', `--node-option '${f}' is not a Node.js option (--name or --name=value)`);
  // this module as a script: dist/bench/cold.js, also from the bundled CLI (dist/pkg, at the same depth)
  const script = fileURLToPath(new URL('../bench/cold.js', import.meta.url));
  const raw: ColdSample[] = [];
  for (let i = 0; i < samples; i++) {
    for (const engine of o.engines) {
      const args = [...nodeOptions, script, '--sample', engine, o.model, o.compressed ?? '', String(o.batch ?? 1)];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
      const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
      if (r.status !== 0 || !line.startsWith('{'))
        throw new SparrowError('internal', `cold sample of ${engine} failed (exit ${r.status}): ${(r.stderr ?? '').trim().slice(-400)}`);
      const s = JSON.parse(line) as ColdSample;
      raw.push(s);
      o.log?.(`${engine} sample ${i + 1}/${samples}: load ${s.load_ms.toFixed(1)} ms, first run ${s.first_ms.toFixed(1)} ms`);
    }
  }
  const engines: ColdReport['engines'] = {};
  for (const e of o.engines) {
    const xs = raw.filter((s) => s.engine === e);
    const w = xs.map((s) => s.weights_ms).filter((v): v is number => v !== null);
    const faults = (k: 'load_faults' | 'first_faults'): number | null => {
      const f = xs.map((s) => s[k]).filter((v): v is number => v !== null);
      return f.length === xs.length ? median(f) : null;
    };
    engines[e] = {
      start_ms: r3(median(xs.map((s) => s.start_ms))),
      load_ms: r3(median(xs.map((s) => s.load_ms))),
      weights_ms: w.length ? r3(median(w)) : null,
      first_ms: r3(median(xs.map((s) => s.first_ms))),
      warm_ms: r3(median(xs.map((s) => s.warm_ms))),
      load_faults: faults('load_faults'),
      first_faults: faults('first_faults'),
    };
  }
  return { model: o.model, ...(o.compressed ? { compressed: o.compressed } : {}), samples, node_options: nodeOptions, engines, raw };
}

export function formatCold(r: ColdReport): string {
  const head = ['engine', 'start ms', 'load ms', 'decode+pack ms', 'first run ms', 'warm run ms', 'page faults load/first'];
  const rows = Object.entries(r.engines).map(([e, m]) => [
    e,
    m.start_ms.toFixed(1),
    m.load_ms.toFixed(2),
    m.weights_ms === null ? '-' : m.weights_ms.toFixed(2),
    m.first_ms.toFixed(2),
    m.warm_ms.toFixed(3),
    m.load_faults === null || m.first_faults === null ? '-' : `${m.load_faults}/${m.first_faults}`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const fmt = (x: string[]): string => x.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [
    `${r.model}${r.compressed ? ` (sparrow-int8: ${r.compressed})` : ''}: cold start, median of ${r.samples} fresh processes per engine (interleaved)` +
      (r.node_options.length ? `, node ${r.node_options.join(' ')}` : ''),
    '',
    fmt(head),
    ...rows.map(fmt),
    '',
    'start: process start to the engine code imported; load: session from the bytes (includes decode+pack); first/warm: the 1st and 2nd inference;',
    'page faults: minor faults of the main thread during the load and the 1st inference (Linux; medians).',
  ].join('\n');
}

/** Minor page faults of this process's main thread so far (Linux /proc; null elsewhere). */
export function minorFaults(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // after "pid (comm) ": state ppid pgrp session tty_nr tpgid flags minflt ...
    const v = Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[7]);
    return Number.isInteger(v) && v >= 0 ? v : null;
  } catch {
    return null;
  }
}

/** One sample, in this (fresh) process: prints one JSON line. */
async function sample(engine: string, model: string, compressed: string, batch: number): Promise<void> {
  await import('../ops/ref/index.js'); // the op registry, as the CLI and the package entry load it
  const { Session } = await import('../runtime/session.js');
  const ort = await import('../runtime/ort.js');
  const kind = { 'sparrow-f32': 'sparrow-f32', 'sparrow-int8': 'sparrow-int8', 'ort-node': 'ort-node', 'ort-web': 'ort-web' }[engine];
  if (!kind)
    throw new SparrowError('invalid_argument', `--cold: engine '${engine}' is not one of sparrow-f32, sparrow-int8, ort-node, ort-web`);
  if (ort.isOrtEngine(kind as never)) await ort.prepareEngine(kind as never);
  const start = performance.now();
  const file = engine === 'sparrow-int8' && compressed ? compressed : model;
  const bytes = new Uint8Array(readFileSync(file));
  const f0 = minorFaults();
  const t0 = performance.now();
  let run: (f: Record<string, import('../ops/types.js').Tensor>) => Promise<unknown>;
  let weights: number | null = null;
  if (ort.isOrtEngine(kind as never)) {
    const e = await ort.openEngine(engine, kind as never, bytes);
    run = (f) => e.run(f);
  } else {
    const s = file.endsWith('.sparrow')
      ? await Session.fromSparrow(bytes, { engine: kind as 'sparrow-int8' })
      : await Session.fromOnnx(bytes, { engine: kind as 'sparrow-f32' });
    weights = s.report?.int8?.weightsMs ?? null;
    run = (f) => s.run(f);
  }
  const t1 = performance.now();
  const f1 = minorFaults();
  // the feeds are made after the load: parsing the ONNX first would warm code the load shares
  const { modelInputs, randomFeeds } = await import('./bench.js');
  const feeds = randomFeeds(modelInputs(new Uint8Array(readFileSync(model))), batch, 1);
  const f2 = minorFaults();
  const t2 = performance.now();
  await run(feeds);
  const t3 = performance.now();
  const f3 = minorFaults();
  await run(feeds);
  const t4 = performance.now();
  const s: ColdSample = {
    engine,
    start_ms: start,
    load_ms: t1 - t0,
    weights_ms: weights,
    first_ms: t3 - t2,
    warm_ms: t4 - t3,
    load_faults: f0 !== null && f1 !== null ? f1 - f0 : null,
    first_faults: f2 !== null && f3 !== null ? f3 - f2 : null,
    node_options: [...process.execArgv],
  };
  process.stdout.write(JSON.stringify(s) + '\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--sample') {
  const [, , , engine, model, compressed, batch] = process.argv;
  sample(engine!, model!, compressed ?? '', Number(batch ?? 1)).catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
