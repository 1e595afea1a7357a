// `npm run eval:compression`: the compression table of docs/compression.md. For mnist-8,
// ResNet-20 and ResNet-32 (../shared/data): every sparsity of SPARSITIES × {magnitude,
// hessian} at 8 bits, plus the weight-sharing settings of EXTRA; each compressed in this
// process exactly as `sparrow compress` does (hessian: calibration on the first --calib-n
// records of the test file), written to a temp dir, reloaded from its bytes and evaluated with
// sparrow-f32 on the records from --offset (default 1000) on, beside the float model on the
// same records. Prints a Markdown table (or --json); --write replaces the marked section of
// docs/compression.md. --models mnist-8,resnet20 and --limit N narrow the run; --from-json F re-renders a
// saved --json run; --only-extra runs only the EXTRA rows (plus the float baseline), --only
// magnitude,obs narrows those to the given methods, and --merge F puts them into the saved
// --json run F. The extra rows include global magnitude pruning (one threshold over all
// layers) beside per-layer magnitude, exact OBS (--prune obs) and channel pruning.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../ops/ref/index.js';
import { compressGraph, type PruneMethod } from '../compress/compress.js';
import { importOnnx } from '../onnx/import.js';
import { optimize } from '../ir/passes.js';
import { imageBatch, argmaxRow, type ImageSet } from '../io/datasets.js';
import { loadDataset } from '../io/datasets_node.js';
import { loadWasmNode } from '../wasm/node.js';
import { Session } from '../runtime/session.js';
import type { Tensor } from '../ops/types.js';
import { dataFile } from './data.js';
import { ALL_INT8_CODECS, CODEC_RAW, decodeInt8Ref, encodeInt8 } from '../codec/int8.js';
import { DType, readContainer } from '../format/container.js';

/**
 * The container's size had its int8 sections been coded with the smallest of all codecs, rANS
 * (codec 4) included, instead of the default Huffman codecs: Σ of the payload differences
 * (section padding to 16 bytes aside). Rows are the tensor's first dimension, as pack does.
 */
export function bytesWithRans(container: Uint8Array): number {
  const c = readContainer(container);
  let delta = 0;
  c.header.sections.forEach((s, i) => {
    if (s.dtype !== DType.Int8 || s.codec === CODEC_RAW) return;
    const p = c.payload(i);
    const q = decodeInt8Ref(s.codec, p, s.decodedBytes);
    const shape = c.header.meta.tensors.find((t) => t.section === i)?.shape ?? [q.length];
    const cols = shape.length >= 2 && shape[0]! > 0 ? q.length / shape[0]! : q.length;
    delta += encodeInt8(q, { cols, dims: shape, codecs: ALL_INT8_CODECS }).payload.length - p.length;
  });
  return container.length + delta;
}

interface ModelSpec {
  id: string;
  file: string;
  dataset: 'mnist' | 'cifar10';
  data: string;
  mean?: number[];
  std?: number[];
  /** further settings worth a row (measured; docs/compression.md); method default 'hessian' */
  extra: Config[];
}

interface Config {
  method?: PruneMethod;
  /** magnitude: one threshold over all layers */
  scope?: 'global';
  sparsity: number;
  bits: number;
  targetBytes?: number;
}

/** Global magnitude pruning (torch's global_unstructured) beside per-layer magnitude, finer near the knee. */
const GLOBAL_SWEEP: Config[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7].flatMap((s) => [
  { method: 'magnitude' as const, scope: 'global' as const, sparsity: s, bits: 8 },
  ...(s === 0.5 || s === 0.7 ? [] : [{ method: 'magnitude' as const, sparsity: s, bits: 8 }]),
]);

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
export const MODELS: ModelSpec[] = [
  {
    id: 'mnist-8',
    file: 'models/mnist-8.onnx',
    dataset: 'mnist',
    data: 'mnist',
    extra: [
      { sparsity: 0.5, bits: 4 },
      { sparsity: 0, bits: 8, targetBytes: 4500 },
      { sparsity: 0, bits: 8, targetBytes: 4000 },
    ],
  },
  {
    id: 'resnet20',
    file: 'models/resnet20-cifar10.onnx',
    dataset: 'cifar10',
    data: 'cifar10/test_q75.bin',
    ...IMAGENET,
    extra: [
      { sparsity: 0.5, bits: 4 },
      { sparsity: 0, bits: 8, targetBytes: 90000 },
      // 16× the ONNX file (issue 18): deflated metadata and float16 biases/scales by default with a target
      { sparsity: 0, bits: 8, targetBytes: 68000 },
      ...GLOBAL_SWEEP,
      { method: 'obs', sparsity: 0.7, bits: 8 },
      { method: 'obs', sparsity: 0.5, bits: 8 },
      { method: 'channels', sparsity: 0.1, bits: 8 },
      { method: 'channels', sparsity: 0.3, bits: 8 },
    ],
  },
  {
    id: 'resnet32',
    file: 'models/resnet32-cifar10.onnx',
    dataset: 'cifar10',
    data: 'cifar10/test_q75.bin',
    ...IMAGENET,
    extra: [
      { sparsity: 0.5, bits: 4 },
      { sparsity: 0, bits: 8, targetBytes: 155000 },
      { sparsity: 0, bits: 8, targetBytes: 116000 },
      ...GLOBAL_SWEEP,
      { method: 'obs', sparsity: 0.7, bits: 8 },
    ],
  },
];
export const SPARSITIES = [0, 0.5, 0.7, 0.8, 0.9];

export interface Row {
  model: string;
  method: PruneMethod | 'float';
  scope?: 'global';
  sparsity: number;
  bits: number;
  targetBytes?: number;
  /** nonzero weights / weights, and the most distinct int8 levels in one layer */
  density: number;
  levels: number;
  bytes: number;
  /** the same model with rANS allowed (smallest codec per tensor); absent in older runs */
  ransBytes?: number;
  ratio: number;
  top1: number;
  delta: number;
  seconds: number;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function top1(
  session: Session,
  input: string,
  set: ImageSet,
  from: number,
  n: number,
  pre: { mean?: number[]; std?: number[] },
  batch: number,
): Promise<number> {
  let correct = 0;
  for (let i = 0; i < n; i += batch) {
    const c = Math.min(batch, n - i);
    const y = await session.run({ [input]: imageBatch(set, from + i, c, pre) });
    const out = y[session.outputNames[0]!]!;
    for (let j = 0; j < c; j++) if (argmaxRow(out, j) === set.labels[from + i + j]) correct++;
  }
  return correct / n;
}

async function main(): Promise<void> {
  const from = argValue('--from-json');
  if (from) {
    // re-render (and --write) a saved --json run without recomputing it
    const saved = JSON.parse(readFileSync(from, 'utf8')) as { offset: number; calibN: number; rows: Row[] };
    emit(saved.rows, saved.offset, saved.calibN, false);
    return;
  }
  const offset = Number(argValue('--offset') ?? 1000);
  const calibN = Number(argValue('--calib-n') ?? 256);
  const wanted = argValue('--models')?.split(',');
  const limit = argValue('--limit');
  const json = process.argv.includes('--json');
  const onlyExtra = process.argv.includes('--only-extra');
  const wasm = await loadWasmNode();
  const dir = mkdtempSync(join(tmpdir(), 'sparrow-eval-'));
  const rows: Row[] = [];
  const log = (s: string): void => {
    process.stderr.write(s + '\n');
  };
  try {
    for (const m of MODELS.filter((x) => !wanted || wanted.includes(x.id))) {
      const onnx = readFileSync(dataFile(m.file));
      const set = loadDataset(m.dataset, dataFile(m.data));
      const n = Math.min(set.n - offset, limit ? Number(limit) : Infinity);
      const pre = { ...(m.mean ? { mean: m.mean } : {}), ...(m.std ? { std: m.std } : {}) };
      const graph = importOnnx(onnx);
      optimize(graph);
      const input = graph.inputs[0]!;
      const fixed = graph.values.get(input)!.info.dims?.[0] ?? -1;
      const batch = fixed > 0 ? fixed : 100;
      const per = fixed > 0 ? fixed : 32;
      const calib: Tensor[] = [];
      for (let i = 0; i < calibN; i += per) calib.push(imageBatch(set, i, Math.min(per, calibN - i), pre));
      const float = await top1(await Session.fromOnnx(onnx, { engine: 'sparrow-f32' }), input, set, offset, n, pre, batch);
      rows.push({
        model: m.id,
        method: 'float',
        sparsity: 0,
        bits: 32,
        density: 1,
        levels: 0,
        bytes: onnx.length,
        ratio: 1,
        top1: float,
        delta: 0,
        seconds: 0,
      });
      log(`${m.id}: float top-1 ${(100 * float).toFixed(2)}% on [${offset}, ${offset + n})`);
      const configs: Array<Config & { method: PruneMethod }> = [];
      if (!onlyExtra)
        for (const s of SPARSITIES) for (const method of ['magnitude', 'hessian'] as const) configs.push({ method, sparsity: s, bits: 8 });
      const only = argValue('--only')?.split(',');
      for (const e of m.extra) if (!only || only.includes(e.method ?? 'hessian')) configs.push({ method: 'hessian', ...e });
      for (const c of configs) {
        const t0 = performance.now();
        const r = await compressGraph(graph, {
          prune: c.method,
          ...(c.scope ? { scope: c.scope } : {}),
          sparsity: c.sparsity,
          weightBits: c.bits,
          wasm,
          ...(c.targetBytes ? { targetBytes: c.targetBytes } : {}),
          ...(c.method !== 'magnitude' ? { calib: { batches: calib, spec: `${m.dataset}:first ${calibN}` } } : {}),
          preprocessing: m.dataset === 'cifar10' ? { scale: 1 / 255, ...pre } : { scale: 1 / 255 },
        });
        const seconds = (performance.now() - t0) / 1000;
        const path = join(dir, `${m.id}-${c.method}-${c.scope ?? ''}-${c.sparsity}-${c.bits}-${c.targetBytes ?? 0}.sparrow`);
        writeFileSync(path, r.bytes);
        const s = await Session.fromSparrow(readFileSync(path), { engine: 'sparrow-f32' });
        const acc = await top1(s, input, set, offset, n, pre, batch);
        const nw = r.layers.reduce((a, l) => a + l.shape.reduce((x, y) => x * y, 1), 0);
        const nz = r.layers.reduce((a, l) => a + l.density * l.shape.reduce((x, y) => x * y, 1), 0);
        const row: Row = {
          model: m.id,
          ...c,
          density: nw ? nz / nw : 1,
          levels: Math.max(...r.layers.map((l) => l.levels)),
          bytes: r.bytes.length,
          ransBytes: bytesWithRans(r.bytes),
          ratio: onnx.length / r.bytes.length,
          top1: acc,
          delta: acc - float,
          seconds,
        };
        rows.push(row);
        log(
          `${m.id} ${c.method}${c.scope ? ` ${c.scope}` : ''} s=${c.sparsity} b=${c.bits}${c.targetBytes ? ` target=${c.targetBytes}` : ''}: ${row.bytes} B (1/${row.ratio.toFixed(1)}), top-1 ${(100 * acc).toFixed(2)}% (${(100 * row.delta).toFixed(2)}), ${seconds.toFixed(1)} s`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // --merge F: rows of this run replace the same configurations in a saved --json run
  const merge = argValue('--merge');
  if (merge) {
    const key = (r: Row): string => `${r.model}|${r.method}|${r.scope ?? ''}|${r.sparsity}|${r.bits}|${r.targetBytes ?? 0}`;
    const saved = JSON.parse(readFileSync(merge, 'utf8')) as { rows: Row[] };
    const mine = new Map(rows.map((r) => [key(r), r]));
    const merged = saved.rows.map((r) => mine.get(key(r)) ?? r);
    for (const r of rows) if (!saved.rows.some((x) => key(x) === key(r))) merged.push(r);
    emit(merged, offset, calibN, json);
    return;
  }
  emit(rows, offset, calibN, json);
}

function emit(rows: Row[], offset: number, calibN: number, json: boolean): void {
  const log = (s: string): void => {
    process.stderr.write(s + '\n');
  };
  const table = markdown(rows, offset, calibN);
  if (json) process.stdout.write(JSON.stringify({ offset, calibN, rows }) + '\n');
  else process.stdout.write(table + '\n');
  if (process.argv.includes('--write')) {
    const doc = 'docs/compression.md';
    const text = readFileSync(doc, 'utf8');
    const a = '<!-- eval:compression -->',
      b = '<!-- /eval:compression -->';
    const i = text.indexOf(a),
      j = text.indexOf(b);
    if (i < 0 || j < i) throw new Error(`${doc} lacks the ${a} … ${b} markers`);
    writeFileSync(doc, text.slice(0, i + a.length) + '\n' + table + '\n' + text.slice(j));
    log(`wrote the table into ${doc}`);
  }
}

export function markdown(rows: Row[], offset: number, calibN: number): string {
  const out: string[] = [];
  for (const model of [...new Set(rows.map((r) => r.model))]) {
    const rs = rows.filter((r) => r.model === model);
    const n = rs[0]!;
    out.push(
      `\n**${model}** (float: ${n.bytes.toLocaleString('en-US')} B ONNX, top-1 ${(100 * n.top1).toFixed(2)}% on the records from ${offset} on; hessian calibrated on the first ${calibN})\n`,
    );
    out.push(
      '| method | sparsity | weight bits | zeros | levels ≤ | bytes | bytes with rANS | ONNX / bytes | top-1 | vs float | compress s |',
    );
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rs.slice(1)) {
      const label = r.scope === 'global' ? `${r.method} (global)` : r.method === 'channels' ? 'channels (structured)' : r.method;
      const method = r.targetBytes ? `${label}, size target ${r.targetBytes.toLocaleString('en-US')} B` : label;
      const sp = r.targetBytes ? 'allocated' : `${(100 * r.sparsity).toFixed(0)}%`;
      out.push(
        `| ${method} | ${sp} | ${r.bits} | ${(100 * (1 - r.density)).toFixed(1)}% | ${r.levels} | ${r.bytes.toLocaleString('en-US')} | ${r.ransBytes ? r.ransBytes.toLocaleString('en-US') : '–'} | ${r.ratio.toFixed(1)} | ${(100 * r.top1).toFixed(2)}% | ${(100 * r.delta >= 0 ? '+' : '') + (100 * r.delta).toFixed(2)} | ${r.seconds.toFixed(1)} |`,
      );
    }
  }
  return out.join('\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`eval:compression: ${e instanceof Error ? (process.env['SPARROW_DEBUG'] ? e.stack : e.message) : String(e)}\n`);
  process.exit(1);
});
