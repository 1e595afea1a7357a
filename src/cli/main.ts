// The `sparrow` command line (../shared/CONTRACT.md). One place turns errors into a one-line
// message on stderr and a non-zero exit code; `--json` prints exactly one JSON document.
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { unlinkSync } from 'node:fs';
import { SparrowError, isSparrowError } from '../errors.js';
import { inspectSparrow, type InspectReport } from '../format/inspect.js';
import { packOnnxWeights, packTensors, type PackTensor } from '../compress/pack.js';
import { ALL_INT8_CODECS, DEFAULT_INT8_CODECS, type Int8CodecId } from '../codec/int8.js';
import { parseNpy, writeNpy } from '../io/npy.js';
import { argmaxRow, imageBatch } from '../io/datasets.js';
import { loadDataset, loadDatasetSpec, type DatasetName } from '../io/datasets_node.js';
import { runConformance } from '../bench/conformance.js';
import { checkModel, formatCheck } from './check.js';
import { registerTextCommands, tokenizeText, tokenizerAttachment } from './textgen.js';
import { textCalibBatches } from '../compress/text_calib.js';
import * as answers from './answers.js';
import { registerExport } from './export.js';
import { withLabels } from '../format/labels.js';
import { Session, defaultEngine, type EngineName } from '../runtime/session.js';
import { isOrtEngine, openEngine, prepareEngine, sessionEngine, type InferenceEngine, type OrtEngineName } from '../runtime/ort.js';
import {
  DEFAULT_MAX_BATCH,
  imageBatchParams,
  loadSparrowModel,
  preprocessPixels,
  writeSparrowModel,
  type Preprocessing,
} from '../runtime/sparrow_model.js';
import { FLAG_META_DEFLATE, MAGIC, deflateMetadata, parseHeaderPrefix } from '../format/container.js';
import { withText } from '../format/text.js';
import { importOnnx } from '../onnx/import.js';
import { optimize } from '../ir/passes.js';
import { extractQdq } from '../ir/qdq.js';
import { lowerQOperator } from '../ir/qoperator.js';
import {
  COMPRESS_DEFAULTS,
  PRUNE_METHODS,
  TRANSFORMER_DEFAULT_SPARSITY,
  compressGraph,
  isTransformerGraph,
  compressQdqGraph,
  resolveCompressOptions,
  type ActivationMode,
  type CalibBatch,
  type MetadataMode,
  type PruneMethod,
  type LayerReport,
  type PruneScope,
  type SparsityPatternOption,
} from '../compress/compress.js';
import { runBench, formatBench } from '../bench/bench.js';
import { formatCold, runColdBench } from '../bench/cold.js';
import { writeBenchReport } from '../bench/report.js';
import { formatCompare, formatSensitivity, runCompare, runLayerSensitivity } from '../bench/compare.js';
import type { Tensor, ValueInfo } from '../ops/types.js';
import { castTensor } from '../ops/ref/cast.js';
import cliProgress from 'cli-progress';
import '../ops/ref/index.js';
import { compileNodeModule, loadWasmNode } from '../wasm/node.js';
import { registerOnnxImporter } from '../runtime/onnx_import.js';
import { registerNodeWasm } from '../runtime/node_wasm.js';
import { VERSION } from '../util/version.js';

// The ONNX importer and the Node adapter, handed to the runtime as the package entry does
// (src/runtime/onnx_import.ts, src/runtime/node_wasm.ts): from the bundled CLI (dist/pkg/cli.js,
// scripts/bundle.mjs) the runtime's fallback imports would load second copies of them from dist/,
// with an op registry of their own that no op was registered in.
registerOnnxImporter(importOnnx);
registerNodeWasm(() => compileNodeModule());

export { VERSION };

/**
 * Engines of --engine / --engines: the CLI names → Session engines (EngineName) or ONNX Runtime
 * engines (src/runtime/ort.ts). Only what exists is listed.
 */
const ENGINES: Record<string, EngineName | OrtEngineName> = {
  'sparrow-f32': 'sparrow-f32',
  'sparrow-int8': 'sparrow-int8',
  reference: 'reference',
  'sparrow-ref': 'reference', // the same engine, its earlier CLI name
  'ort-web': 'ort-web',
  'ort-node': 'ort-node',
};
/** bench's default: the product's engine and its peers (the TS reference is ~50x slower) */
const DEFAULT_BENCH_ENGINES = ['sparrow-f32', 'ort-web', 'ort-node'];

function engineOf(name: string | undefined): EngineName | OrtEngineName {
  const e = ENGINES[name ?? 'sparrow-ref'];
  if (e) return e;
  throw new SparrowError('invalid_argument', `engine '${name}' is not available; available: ${Object.keys(ENGINES).join(', ')}`);
}

/** --shape name=d0,d1,... (repeatable) → name → dims. */
function parseShapes(list: string[]): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const s of list) {
    const m = /^([^=]+)=(\d+(?:,\d+)*)$/.exec(s);
    if (!m) throw new SparrowError('invalid_argument', `--shape wants name=d0,d1,... (non-negative integers), got "${s}"`);
    shapes[m[1]!] = m[2]!.split(',').map(Number);
  }
  return shapes;
}

const collectShape = (v: string, acc: string[]): string[] => [...acc, v];

function parseList(s: string | undefined, what: string): number[] | undefined {
  if (s === undefined) return undefined;
  const v = s.split(',').map(Number);
  if (v.some((x) => !Number.isFinite(x))) throw new SparrowError('invalid_argument', `${what} must be comma-separated numbers, got "${s}"`);
  return v;
}

/** True when the bytes start with the `.sparrow` magic. */
function isSparrowFile(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.every((b, i) => bytes[i] === b);
}

interface OpenedModel {
  engine: InferenceEngine;
  /** the engine's name (the default chosen when none was given) */
  name: string;
  preprocessing: Preprocessing | null;
  sparrow: boolean;
  /** a .sparrow model's calibration set (metadata.compression.calib: the first `n` records of `spec`) */
  calib?: { spec: string; n: number };
}

/**
 * How many of the evaluated records [offset, offset + n) of `dataset` at `data` were among a
 * model's calibration records (the first calib.n of calib.spec: pruning, fine-tuning, GPTQ and
 * ranges saw them): 0 when the calibration set is another file or dataset. Files are matched by
 * name, since a spec's path may be relative to another directory.
 */
export function calibOverlap(
  calib: { spec: string; n: number } | undefined,
  dataset: string,
  data: string,
  offset: number,
  n: number,
): number {
  if (!calib || typeof calib.spec !== 'string' || !Number.isFinite(calib.n)) return 0;
  const at = calib.spec.indexOf(':');
  if (at < 0 || calib.spec.slice(0, at) !== dataset) return 0;
  if (basename(calib.spec.slice(at + 1).replace(/[\\/]+$/, '')) !== basename(data.replace(/[\\/]+$/, ''))) return 0;
  return Math.max(0, Math.min(offset + n, calib.n) - offset);
}

/**
 * The normalization usually applied to a dataset's pixel/255 (warned about when eval has none);
 * MNIST models usually take pixel/255 as is.
 */
const USUAL_NORMALIZATION: Readonly<Record<string, { mean: number[]; std: number[] }>> = {
  cifar10: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
};

/**
 * An ONNX model on any engine, or a `.sparrow` model (recognised by its magic) on Sparrow's engines.
 * No engine given: the documented default (defaultEngine: sparrow-int8 for a .sparrow with stored
 * activation ranges, else sparrow-f32).
 */
async function openModel(path: string, given?: string): Promise<OpenedModel> {
  const bytes = await readInput(path);
  const engine = given ?? defaultEngine(bytes);
  const kind = engineOf(engine);
  if (isSparrowFile(bytes)) {
    if (isOrtEngine(kind)) {
      throw new SparrowError(
        'invalid_argument',
        `${path}: a .sparrow model runs on sparrow-f32, sparrow-int8 or sparrow-ref, not ${engine} (ONNX Runtime takes the .onnx model)`,
      );
    }
    const session = await Session.fromSparrow(bytes, { engine: kind });
    const calib = session.compression?.calib;
    return {
      engine: sessionEngine(engine, session),
      name: engine,
      preprocessing: session.preprocessing,
      sparrow: true,
      ...(calib ? { calib } : {}),
    };
  }
  return { engine: await openEngine(engine, kind, bytes), name: engine, preprocessing: null, sparrow: false };
}

/** An output as .npy bytes: bool as uint8, float16 as '<f2', bfloat16 (no .npy type) as float32 values. */
function toNpy(t: Tensor): Uint8Array {
  if (t.dtype === 'bool') return writeNpy(new Uint8Array(t.data as Uint8Array), t.dims);
  if (t.dtype === 'bfloat16') return writeNpy(castTensor(t, 'float32').data as Float32Array, t.dims);
  return writeNpy(t.data, t.dims, t.dtype === 'float16' ? 'float16' : undefined);
}

/**
 * Calibration batches for the model input `info` (NCHW float32 images, or any float32 input
 * from `npy:`): the first `n` records of `spec`, preprocessed as the model will be; one record
 * per batch when the model's batch dimension is fixed, else batches of 32.
 */
/** --floats: float32 | float16. */
function parseFloats(v: string): 'float32' | 'float16' {
  if (v === 'float32' || v === 'float16') return v;
  throw new SparrowError('invalid_argument', `--floats must be float32 or float16, got "${v}"`);
}

/** --codec: huffman → the default codecs (0..3); rans → every codec (0..5), the smallest per tensor (codec 4 or 5). */
function parseCoder(v: string): readonly Int8CodecId[] {
  if (v === 'huffman') return DEFAULT_INT8_CODECS;
  if (v === 'rans') return ALL_INT8_CODECS;
  throw new SparrowError('invalid_argument', `--codec must be huffman or rans, got "${v}"`);
}

/** '90000', '90kB' (×1000), '88KiB' (×1024), '1MB' → bytes. */
function parseSize(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|k|kib|mb|mib)?\s*$/i.exec(v);
  if (!m) throw new SparrowError('invalid_argument', `--target-size must be a size like 90000, 90kB or 88KiB, got "${v}"`);
  const mult: Record<string, number> = { b: 1, k: 1000, kb: 1000, kib: 1024, mb: 1e6, mib: 1024 * 1024 };
  const bytes = Math.floor(Number(m[1]) * mult[(m[2] ?? 'b').toLowerCase()]!);
  if (!(bytes > 0)) throw new SparrowError('invalid_argument', `--target-size must be positive, got "${v}"`);
  return bytes;
}

function calibBatches(spec: string, n: number, info: ValueInfo, pre: Preprocessing | null): Tensor[] {
  const fixed = info.dims && info.dims.length > 0 && info.dims[0]! > 0 ? info.dims[0]! : 0;
  const per = fixed || 32;
  const check = (t: Tensor): Tensor => {
    const want = info.dims;
    if (t.dtype !== info.dtype || (want && (want.length !== t.dims.length || want.some((d, i) => i > 0 && d >= 0 && d !== t.dims[i])))) {
      throw new SparrowError(
        'invalid_argument',
        `--calib ${spec}: records are ${t.dtype} [${t.dims.slice(1)}], the model's input is ${info.dtype} [${(want ?? []).slice(1)}]`,
      );
    }
    return t;
  };
  const out: Tensor[] = [];
  const set = loadDatasetSpec(spec);
  const count = Math.min(n, set.n);
  const params = pre ? imageBatchParams(pre) : {};
  for (let i = 0; i + per <= count || (!fixed && i < count); i += per)
    out.push(check(imageBatch(set, i, Math.min(per, count - i), params)));
  if (out.length === 0) throw new SparrowError('invalid_argument', `--calib ${spec}: ${count} record(s) do not fill one batch of ${per}`);
  return out;
}

/** `npy:<file>` calibration: a float32 (or uint8 pixel) batch, first `n` records, split as calibBatches does. */
async function npyCalibBatches(spec: string, n: number, info: ValueInfo, pre: Preprocessing | null): Promise<Tensor[]> {
  const a = parseNpy(await readInput(spec.slice(4)));
  let t = { dtype: a.dtype, dims: a.shape, data: a.data } as Tensor;
  if (t.dtype === 'uint8' && pre) t = preprocessPixels(t, pre);
  if (t.dtype !== 'float32' || t.dims.length === 0)
    throw new SparrowError('invalid_argument', `--calib ${spec}: expected a float32 (or uint8 pixel) batch, got ${a.dtype} [${a.shape}]`);
  const fixed = info.dims && info.dims.length > 0 && info.dims[0]! > 0 ? info.dims[0]! : 0;
  const per = fixed || 32;
  const count = Math.min(n, t.dims[0]!);
  const inner = t.data.length / Math.max(1, t.dims[0]!);
  const out: Tensor[] = [];
  for (let i = 0; i + per <= count || (!fixed && i < count); i += per) {
    const b = Math.min(per, count - i);
    const dims = [b, ...t.dims.slice(1)];
    if (info.dims && (info.dims.length !== dims.length || info.dims.some((d, k) => k > 0 && d >= 0 && d !== dims[k]))) {
      throw new SparrowError(
        'invalid_argument',
        `--calib ${spec}: records are [${dims.slice(1)}], the model's input is [${info.dims.slice(1)}]`,
      );
    }
    out.push({ dtype: 'float32', dims, data: (t.data as Float32Array).slice(i * inner, (i + b) * inner) });
  }
  if (out.length === 0) throw new SparrowError('invalid_argument', `--calib ${spec}: ${count} record(s) do not fill one batch of ${per}`);
  return out;
}

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new SparrowError('io_error', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Temporary files being written (removed on failure, and if the process is interrupted meanwhile). */
const pendingTemps = new Set<string>();

/**
 * SIGINT / SIGTERM while an output is being written: remove its temporary file, then exit 130.
 * Installed only for the write itself: a JS signal handler runs only when the event loop gets
 * control, so one installed for the whole command would leave Ctrl-C without effect for minutes
 * during a synchronous computation (pruning, Hessians); outside a write the default action
 * ends the process at once, and there is nothing to clean up.
 */
function onSignal(sig: NodeJS.Signals): void {
  removePendingTemps();
  process.stderr.write(`sparrow: interrupted: ${sig}\n`);
  process.exit(130);
}

/**
 * Writes `bytes` to `path` atomically: into a temporary file in the same folder, then renamed
 * over `path`. On any failure the temporary file is removed and `path` is left as it was (absent
 * or its previous content): a failed command never leaves a partial output behind.
 */
async function writeOutput(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  if (pendingTemps.size === 0) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  pendingTemps.add(tmp);
  try {
    await writeFile(tmp, bytes, { flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {
      /* not created, or already gone */
    });
    throw new SparrowError('io_error', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    pendingTemps.delete(tmp);
    if (pendingTemps.size === 0) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/** Removes temporary output files left by an interrupted writeOutput (synchronously: for exit paths). */
function removePendingTemps(): void {
  for (const t of pendingTemps) {
    try {
      unlinkSync(t);
    } catch {
      /* gone */
    }
  }
  pendingTemps.clear();
}

/** Calibration data must be finite: a NaN or ±Infinity would silently poison every range and Hessian. */
function checkFiniteCalib(spec: string, batches: readonly Tensor[]): void {
  let record = 0;
  for (const t of batches) {
    const d = t.data as Float32Array;
    const per = d.length / Math.max(1, t.dims[0] ?? 1);
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]!)) {
        throw new SparrowError(
          'invalid_argument',
          `--calib ${spec}: record ${record + Math.floor(i / per)} holds a non-finite value (${d[i]})`,
        );
      }
    }
    record += t.dims[0] ?? 1;
  }
}

/** Calibration batches of `spec`, errors naming the spec. */
async function loadCalib(spec: string, n: number, info: ValueInfo, pre: Preprocessing | null): Promise<Tensor[]> {
  let batches: Tensor[];
  try {
    batches = spec.startsWith('npy:') ? await npyCalibBatches(spec, n, info, pre) : calibBatches(spec, n, info, pre);
  } catch (e) {
    if (isSparrowError(e) && !e.message.includes(spec.slice(spec.indexOf(':') + 1)))
      throw new SparrowError(e.code, `--calib ${spec}: ${e.message}`, e.details);
    throw e;
  }
  checkFiniteCalib(spec, batches);
  return batches;
}

function kb(n: number): string {
  return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`;
}

/** Values with a stored static activation range in a `.sparrow` file (0 without). */
function activationRangeCount(bytes: Uint8Array): number {
  const h = parseHeaderPrefix(bytes);
  const r = 'meta' in h ? h.meta['activationRanges'] : undefined;
  return r && typeof r === 'object' ? Object.keys(r).length : 0;
}

/**
 * What compress did, layer by layer: density (nonzero/weights), bits (log2 of the distinct int8
 * levels), which layers stayed dense; the pruning as run (a size target, not a sparsity, when
 * --target-size was given); the activation mode and how many ranges were stored.
 */
export function formatCompressSummary(
  layers: readonly LayerReport[],
  o: {
    prune: string;
    sparsity: number;
    /** --scope (default layer) */
    scope?: string;
    /** --channel-multiple (default 1) */
    channelMultiple?: number;
    weightBits: number;
    targetBytes?: number;
    bytes: number;
    activations: string;
    ranges: number;
    /** how biases were stored (default float32) */
    bias?: string;
  },
): string {
  const bits = (levels: number): number => Math.max(1, Math.ceil(Math.log2(Math.max(2, levels))));
  const isDense = (l: LayerReport): boolean => l.dense ?? l.density >= 0.9995;
  const dense = layers.filter(isDense);
  const rows = layers.map((l) => [
    l.node || l.value,
    l.op,
    `[${l.shape.join(',')}]`,
    l.density.toFixed(3),
    String(bits(l.levels)),
    isDense(l) ? 'dense' : '',
  ]);
  const head = ['layer', 'op', 'shape', 'density', 'bits', ''];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]): string =>
    x
      .map((c, i) => (i === 3 || i === 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  const params = layers.reduce((a, l) => a + l.shape.reduce((x, y) => x * y, 1), 0);
  const nonzero = layers.reduce((a, l) => a + l.density * l.shape.reduce((x, y) => x * y, 1), 0);
  const how =
    o.targetBytes !== undefined
      ? `${o.prune} pruning to a size target of ${o.targetBytes} bytes (${o.bytes} written): per-layer steps allocated by sensitivity`
      : o.prune === 'none' || o.sparsity === 0
        ? 'not pruned'
        : o.scope === 'global'
          ? `${o.prune} pruning, sparsity ${o.sparsity} over all layers (--scope global${o.prune === 'channels' ? ': of the multiply-adds' : ''})`
          : `${o.prune} pruning, sparsity ${o.sparsity} per layer`;
  const multiples =
    o.prune === 'channels' && (o.channelMultiple ?? 1) > 1 && o.sparsity > 0 ? `, kept channels in multiples of ${o.channelMultiple}` : '';
  const shared = o.weightBits < 8 ? `, at most ${2 ** o.weightBits} levels (${o.weightBits} bits) per tensor` : '';
  const act =
    o.activations === 'static'
      ? `static activation ranges stored for ${o.ranges} values (sparrow-int8 runs on them)`
      : 'no activation ranges stored (dynamic: sparrow-int8 quantizes activations at run time)';
  return [
    line(head),
    ...rows.map(line),
    '',
    `${layers.length} weight tensors, ${how}${multiples}; int8 per output channel${shared}; overall density ${(params ? nonzero / params : 1).toFixed(3)}.`,
    `${dense.length} stayed dense${dense.length ? `: ${dense.map((l) => l.node || l.value).join(', ')}` : ''}.`,
    `${act}; biases ${o.bias ?? 'float32'}; float weights not stored.`,
  ].join('\n');
}

export function formatInspect(r: InspectReport, file: string): string {
  const rows = r.tensors.map((t) => [
    t.name,
    `[${t.shape.join(',')}]`,
    t.dtype,
    t.codec,
    t.density.toFixed(3),
    String(t.bytes),
    String(t.entropyBytes),
  ]);
  const head = ['tensor', 'shape', 'dtype', 'codec', 'density', 'bytes', 'entropy'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]) => x.map((c, i) => (i >= 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ');
  return [
    `${file}: sparrow v${r.version}, ${kb(r.bytes)} (${r.bytes} bytes), ${r.tensors.length} tensors`,
    `params ${r.params}, nonzero ${r.nonzero} (density ${(r.params ? r.nonzero / r.params : 1).toFixed(3)}), ` +
      `Shannon bound of the coded streams ${kb(r.entropyBytes)}`,
    '',
    line(head),
    ...rows.map(line),
  ].join('\n');
}

function buildProgram(out: (s: string) => void): Command {
  const program = new Command('sparrow')
    .description('Sparrow: compressed neural networks on WebAssembly, from Node to the edge.')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: () => {
        /* one line, printed by main */
      },
    });

  program
    .command('compress')
    .description(
      'compress an ONNX model into one .sparrow file: Conv/Gemm/MatMul weights pruned, int8 per output channel ' +
        '(optionally 2^B shared levels), entropy-coded; with the optimized graph and the preprocessing. The float weights ' +
        'are not stored; biases stay float32',
    )
    .argument('<model>', 'an .onnx model')
    .requiredOption('-o, --output <file>', 'output .sparrow file')
    .option(
      '--sparsity <s>',
      'fraction of each weight tensor pruned, 0 <= s < 1 (the first and last layers stay dense)',
      String(COMPRESS_DEFAULTS.sparsity),
    )
    .option(
      '--prune <method>',
      `${PRUNE_METHODS.join(' | ')} (default: hessian with --calib, magnitude without): magnitude needs no data ` +
        '(per layer, or one threshold over all layers with --scope global); hessian = OBS pruning + error-compensated ' +
        'quantization + bias correction on the calibration data; obs = the same with exact greedy OBS masks (OBC); ' +
        "channels = whole output channels removed (--sparsity = the fraction of each prunable layer's channels), " +
        'the next layer compensated, the graph rewritten to smaller convs',
    )
    .option(
      '--scope <scope>',
      'layer or global: with --prune magnitude one |w| threshold per layer or one over all layers; with --prune channels ' +
        "each layer loses the same fraction of channels, or --sparsity of the layers' multiply-adds go where they cost least",
    )
    .option(
      '--channel-multiple <n>',
      'with --prune channels: every layer keeps a multiple of n channels (default 1: any count). 4 matches the int8 ' +
        "kernels' blocks of output channels: 7 kept channels run as slowly as 8",
    )
    .option(
      '--finetune <epochs>',
      'fine-tune the pruned float network for this many epochs over the calibration images ' +
        '(distillation from the original network: its logits and block outputs; random crops and flips; Adam, cosine ' +
        'learning rate), then quantize as usual. With --prune magnitude|hessian|obs the mask is chosen first (in float) ' +
        'and kept fixed through fine-tuning and quantization. Needs --calib; use --calib-n 1000 or more',
    )
    .option('--finetune-lr <lr>', 'with --finetune: the peak learning rate (default 0.0005)')
    .option(
      '--finetune-mix <mode>',
      'with --finetune: none (default) | mixup | cutmix: each training image mixed with another of the batch ' +
        '(λ uniform), the teacher labelling the same mixed image',
    )
    .option(
      '--finetune-warmup <epochs>',
      'with --finetune: linear learning-rate warm-up over this many epochs before the cosine decay (default 0)',
    )
    .option(
      '--finetune-ema <decay>',
      'with --finetune: keep the moving average of the weights with this decay per step (e.g. 0.99) and use it (default: off)',
    )
    .option(
      '--sparsity-pattern <p>',
      "unstructured (default) | pairs: pairs prunes aligned 1x2 blocks along each output channel's input patch " +
        '(weights 2j and 2j+1 both kept or both zeroed: OBS block saliency and update with --prune hessian, block L2 ' +
        'norm with --prune magnitude per layer), which sparrow-int8 runs with its pair-block sparse kernel (faster ' +
        'than unstructured at the same sparsity, less accurate: ResNet-20 at 50 % lost 3 points of top-1)',
    )
    .option(
      '--calib <spec>',
      'calibration data: mnist:<folder> | cifar10:<file> | npy:<file.npy> (first --calib-n records) | text:<file.txt> ' +
        '(a text model: the file through --tokenizer, first --calib-n windows of --calib-window tokens)',
    )
    .option('--calib-n <n>', 'calibration records', String(COMPRESS_DEFAULTS.calibN))
    .option('--calib-window <n>', 'with --calib text: tokens per calibration window', '128')
    .option(
      '--weight-bits <b>',
      'at most 2^B distinct int8 levels per weight tensor (weight sharing), 3..8; 7: every weight of every layer in ' +
        '[-63, 63], which the relaxed-SIMD build runs exactly',
      String(COMPRESS_DEFAULTS.weightBits),
    )
    .option(
      '--activations <mode>',
      'static (ranges measured on --calib are stored: sparrow-int8 runs on them) or dynamic (activation scales at run time) ' +
        '(default: static with --calib, else dynamic)',
    )
    .option(
      '--target-size <size>',
      "with --prune hessian: the file size to reach (bytes, or e.g. 90kB / 88KiB); each layer's " +
        'quantization step is then allocated by its measured sensitivity instead of the uniform --sparsity',
    )
    .option(
      '--codec <coder>',
      'huffman (default: the smallest of codecs 0..3 per weight tensor) or rans (the smallest of codecs 0..5: rANS codecs 4 and 5 ' +
        'allowed too, 0.2-3 % smaller, but they decode slower than the Huffman codecs, docs/compression.md)',
    )
    .option(
      '--metadata <mode>',
      "plain, short (every value but the model's inputs and outputs renamed to a short name, activation ranges with the " +
        'fewest digits of their float32: ResNet-20 15.4 -> 10.3 KB) or deflate (short, and the metadata block deflated: ' +
        'a version-2 file, 2.3 KB) (default: deflate with --target-size, else plain)',
    )
    .option(
      '--floats <type>',
      "float32 or float16: biases and the int8 weights' per-channel scales stored as binary16 where they stay finite " +
        '(ResNet-20: 2.8 KB less) (default: float16 with --target-size, else float32)',
    )
    .option('--mean <a,b,c>', "per-channel mean after pixel/255, stored as the model's preprocessing (default: none)")
    .option('--std <a,b,c>', 'per-channel std, stored likewise (default: none)')
    .option(
      '--tokenizer <file>',
      'store a tokenizer (tokenizer.json or a llama2.c tokenizer.bin) and the end ids / context length of the ONNX metadata ' +
        'in the file: generate and embed (CLI, Worker, browser) then need nothing else',
    )
    .option('--labels <file>', 'class names, one per line, stored in the file (run/classify print the top-5 with them)')
    .option('--float', "store the weights as float32, not pruned or quantized: a lossless container whose outputs equal the ONNX model's")
    .option(
      '--max-batch <n>',
      'the largest batch the model serves, stored in the file: the edge Worker refuses larger batches and sizes its memory for it',
      String(DEFAULT_MAX_BATCH),
    )
    .option('--json', 'print the inspect report of the written file as one JSON document')
    .action(
      async (
        model: string,
        o: {
          output: string;
          maxBatch: string;
          sparsity: string;
          prune?: string;
          scope?: string;
          channelMultiple?: string;
          finetune?: string;
          finetuneLr?: string;
          finetuneMix?: string;
          finetuneWarmup?: string;
          finetuneEma?: string;
          sparsityPattern?: string;
          calib?: string;
          calibN: string;
          calibWindow: string;
          weightBits: string;
          activations?: string;
          codec?: string;
          metadata?: string;
          floats?: string;
          targetSize?: string;
          mean?: string;
          std?: string;
          tokenizer?: string;
          labels?: string;
          float?: boolean;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const num = (v: string, flag: string): number => {
          const x = v.trim() === '' ? NaN : Number(v);
          if (!Number.isFinite(x)) throw new SparrowError('invalid_argument', `${flag} must be a number, got "${v}"`);
          return x;
        };
        const base = {
          sparsity: num(o.sparsity, '--sparsity'),
          prune: (o.prune ?? (o.calib ? 'hessian' : 'magnitude')) as PruneMethod,
          ...(o.scope !== undefined ? { scope: o.scope as PruneScope } : {}),
          ...(o.channelMultiple !== undefined ? { channelMultiple: num(o.channelMultiple, '--channel-multiple') } : {}),
          ...(o.finetune !== undefined
            ? {
                finetune: {
                  epochs: num(o.finetune, '--finetune'),
                  ...(o.finetuneLr !== undefined ? { lr: num(o.finetuneLr, '--finetune-lr') } : {}),
                  ...(o.finetuneMix !== undefined ? { mix: o.finetuneMix as 'none' | 'mixup' | 'cutmix' } : {}),
                  ...(o.finetuneWarmup !== undefined ? { warmupEpochs: num(o.finetuneWarmup, '--finetune-warmup') } : {}),
                  ...(o.finetuneEma !== undefined ? { ema: num(o.finetuneEma, '--finetune-ema') } : {}),
                },
              }
            : {}),
          ...(o.sparsityPattern !== undefined ? { sparsityPattern: o.sparsityPattern as SparsityPatternOption } : {}),
          weightBits: num(o.weightBits, '--weight-bits'),
          // with calibration data the ranges are measured and stored unless asked otherwise
          // (a text model's activations stay dynamic: per-token scales at run time)
          activations: (o.activations ??
            (o.calib && !o.calib.startsWith('text:') ? 'static' : COMPRESS_DEFAULTS.activations)) as ActivationMode,
          maxBatch: num(o.maxBatch, '--max-batch'),
          ...(o.targetSize !== undefined ? { targetBytes: parseSize(o.targetSize) } : {}),
          ...(o.codec !== undefined ? { int8Codecs: parseCoder(o.codec) } : {}),
          ...(o.metadata !== undefined ? { metadata: o.metadata as MetadataMode } : {}),
          ...(o.floats !== undefined ? { floats: parseFloats(o.floats) } : {}),
        };
        const calibN = num(o.calibN, '--calib-n');
        if (!Number.isInteger(calibN) || calibN < 1)
          throw new SparrowError('invalid_argument', `--calib-n must be a positive integer, got ${o.calibN}`);
        resolveCompressOptions({ ...base, ...(o.calib ? { calib: { batches: [], spec: o.calib } } : {}) }); // fail before any work
        const mean = parseList(o.mean, '--mean'),
          std = parseList(o.std, '--std');
        const given = (k: string): boolean => cmd.getOptionValueSource(k) !== undefined && cmd.getOptionValueSource(k) !== 'default';
        if (o.float) {
          const clash = [
            'sparsity',
            'prune',
            'scope',
            'channelMultiple',
            'finetune',
            'sparsityPattern',
            'calib',
            'weightBits',
            'targetSize',
            'activations',
          ].filter(given);
          if (clash.length > 0)
            throw new SparrowError(
              'invalid_argument',
              `--float stores the weights unchanged; ${clash.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')} cannot apply`,
            );
        }
        const bytes = await readInput(model);
        if (isSparrowFile(bytes))
          throw new SparrowError('invalid_argument', `${model} is already a .sparrow file; compress takes the .onnx model`);
        // the tokenizer is read (and checked) before the work
        const text = o.tokenizer ? await tokenizerAttachment(bytes, o.tokenizer) : undefined;
        const graph = importOnnx(bytes);
        const out0 = graph.outputs.length === 1 ? graph.values.get(graph.outputs[0]!)?.info : undefined;
        const labels = o.labels ? await answers.labelsForCompress(o.labels, out0) : undefined;
        const finish = (b: Uint8Array): Uint8Array => {
          const t = text ? withText(b, text) : b;
          const l = labels ? withLabels(t, labels) : t;
          // labels and tokenizers are added by rewriting the file: keep a deflated metadata block deflated
          const h = l !== b ? parseHeaderPrefix(b) : undefined;
          return h && 'flags' in h && h.flags & FLAG_META_DEFLATE ? deflateMetadata(l) : l;
        };
        // a model already quantized in QDQ form (or QOperator form, rewritten into it) keeps its
        // int8 weights and activation parameters
        const qop = lowerQOperator(graph);
        const fromQop = qop.qlinear + qop.integer > 0;
        const qdq =
          fromQop || graph.nodes.some((n) => n.domain === '' && (n.op === 'QuantizeLinear' || n.op === 'DequantizeLinear'))
            ? extractQdq(graph)
            : undefined;
        const fromQdq = !!qdq && qdq.weights.size > 0;
        if (o.float && fromQdq)
          throw new SparrowError(
            'invalid_argument',
            `${model} is already quantized (${fromQop ? 'QOperator' : 'QDQ'}); --float stores float weights`,
          );
        if (!fromQdq) optimize(graph);
        const input = graph.inputs[0];
        const info = input ? graph.values.get(input)!.info : undefined;
        const imageLike = !!info && info.dtype === 'float32' && info.dims?.length === 4;
        if ((mean || std) && !imageLike) {
          throw new SparrowError(
            'invalid_argument',
            `--mean/--std describe an NCHW float32 image input; the model's input ${input ?? '(none)'} is not one`,
          );
        }
        const channels = imageLike ? info!.dims![1]! : -1;
        for (const [flag, v] of [
          ['--mean', mean],
          ['--std', std],
        ] as const) {
          if (v && channels >= 0 && v.length !== channels)
            throw new SparrowError('invalid_argument', `${flag} has ${v.length} values, the model's input has ${channels} channels`);
        }
        if (std?.some((x) => x <= 0)) throw new SparrowError('invalid_argument', '--std values must be positive');
        const pre: Preprocessing | null = imageLike
          ? { input: input!, layout: 'NCHW', scale: 1 / 255, ...(mean ? { mean } : {}), ...(std ? { std } : {}) }
          : null;
        if (o.float) {
          const stored = finish(
            writeSparrowModel(graph, {
              preprocessing: pre,
              compression: { prune: 'none', sparsity: 0, weightBits: 32, activations: 'dynamic', bias: 'float32', weights: 'float32' },
              meta: { maxBatch: base.maxBatch },
            }),
          );
          await writeOutput(o.output, stored);
          const report = inspectSparrow(stored);
          out(
            o.json
              ? JSON.stringify(report)
              : `${formatInspect(report, o.output)}\n\nweights stored as float32 (not pruned or quantized): the outputs equal the ONNX model's.` +
                  (text ? ` ${text.kind} tokenizer stored (${text.tokenizer.length} bytes).` : ''),
          );
          return;
        }
        if (fromQdq) {
          // only the flags the user gave: compressQdqGraph refuses those that would change the weights
          const result = await compressQdqGraph(
            graph,
            qdq!,
            {
              ...(given('sparsity') ? { sparsity: base.sparsity } : {}),
              ...(o.prune !== undefined ? { prune: base.prune } : {}),
              ...(given('weightBits') ? { weightBits: base.weightBits } : {}),
              ...(given('activations') ? { activations: base.activations } : {}),
              ...(base.targetBytes !== undefined ? { targetBytes: base.targetBytes } : {}),
              ...(base.int8Codecs !== undefined ? { int8Codecs: base.int8Codecs } : {}),
              ...(o.calib ? { calib: { batches: [], spec: o.calib } } : {}),
              maxBatch: base.maxBatch,
              preprocessing: pre,
            },
            fromQop ? 'qoperator' : 'qdq',
          );
          const stored = finish(result.bytes);
          await writeOutput(o.output, stored);
          const report = inspectSparrow(stored);
          out(
            o.json
              ? JSON.stringify(report)
              : `${formatInspect(report, o.output)}\n\n${result.layers.length} int8 weight tensors kept from the ${fromQop ? 'QOperator' : 'QDQ'} model (not pruned or ` +
                  `quantized again), ${qdq!.ranges.size} activation ranges from its QuantizeLinear/DequantizeLinear pairs; biases float32.`,
          );
          return;
        }
        // a transformer (MatMul/Gemm weights, embedding tables, no convolution) without --sparsity
        // or --target-size: not the CNN default of 50 % pruning (stories260K: CE +180 %), see docs/compression.md
        let defaultsNote = '';
        if (!given('sparsity') && base.targetBytes === undefined && isTransformerGraph(graph)) {
          base.sparsity = TRANSFORMER_DEFAULT_SPARSITY;
          defaultsNote = ` Transformer defaults (MatMul/Gemm weights and embedding tables, no convolution): sparsity ${TRANSFORMER_DEFAULT_SPARSITY}, not the CNN default ${COMPRESS_DEFAULTS.sparsity}; give --sparsity to choose.`;
          process.stderr.write(
            `sparrow: transformer defaults: sparsity ${TRANSFORMER_DEFAULT_SPARSITY} (no pruning; the CNN default ${COMPRESS_DEFAULTS.sparsity} ruins small language models); --sparsity overrides\n`,
          );
        }
        let calib: { batches: CalibBatch[]; spec: string } | undefined;
        if (o.calib?.startsWith('text:')) {
          // a text model: the file's tokens (the model's tokenizer) in windows, src/compress/text_calib.ts
          if (!o.tokenizer) throw new SparrowError('invalid_argument', "--calib text: needs the model's tokenizer (--tokenizer)");
          const ids = await tokenizeText(bytes, o.tokenizer, o.calib.slice(5));
          const window = num(o.calibWindow, '--calib-window');
          calib = { batches: textCalibBatches(graph, ids, { window, windows: calibN }), spec: o.calib };
          process.stderr.write(
            `sparrow: --calib ${o.calib}: ${ids.length} tokens, ${calib.batches.length} window(s) of ${window} tokens\n`,
          );
        } else if (o.calib) {
          if (!info) throw new SparrowError('invalid_argument', 'the model has no input to calibrate');
          const batches = await loadCalib(o.calib, calibN, info, pre);
          calib = { batches, spec: o.calib };
          // a dataset's raw pixels fed to a model trained on normalized inputs calibrate on the wrong
          // distribution (ResNet-20 at 70 %: 19 % top-1 instead of 69 %): say what is used
          if (/^(mnist|cifar10):/.test(o.calib) && imageLike && !mean && !std) {
            process.stderr.write(
              'sparrow: note: calibrating on pixel/255 without --mean/--std; pass them if the model expects normalized inputs ' +
                '(e.g. CIFAR-10 ResNets: --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)\n',
            );
          }
          if (base.prune === 'magnitude' && base.activations !== 'static' && !base.finetune) {
            process.stderr.write('sparrow: note: --calib is used by --prune hessian/obs/channels and --activations static only; ignored\n');
          }
        }
        const bar = process.stderr.isTTY
          ? new cliProgress.SingleBar(
              {
                stream: process.stderr,
                format: 'compress [{bar}] {value}/{total} layers {layer}',
                hideCursor: false,
                clearOnComplete: true,
              },
              cliProgress.Presets.shades_classic,
            )
          : undefined;
        let started = false;
        let result: Awaited<ReturnType<typeof compressGraph>>;
        try {
          result = await compressGraph(graph, {
            ...base,
            wasm: await loadWasmNode(),
            ...(calib ? { calib } : {}),
            preprocessing: pre,
            onFinetune: (e, n, loss) =>
              process.stderr.write(`sparrow: fine-tuning epoch ${e}/${n}: distillation loss ${loss.toFixed(4)}\n`),
            onProgress: (done, total, layer) => {
              if (!bar) return;
              if (!started) {
                bar.start(total, done, { layer });
                started = true;
              } else bar.update(done, { layer });
            },
          });
        } finally {
          if (started) bar!.stop();
        }
        const stored = finish(result.bytes);
        await writeOutput(o.output, stored);
        const report = inspectSparrow(stored);
        if (o.json) out(JSON.stringify(report));
        else {
          out(
            formatInspect(report, o.output) +
              '\n\n' +
              formatCompressSummary(result.layers, {
                prune: base.prune,
                sparsity: base.sparsity,
                ...(base.scope !== undefined ? { scope: base.scope } : {}),
                ...(base.channelMultiple !== undefined ? { channelMultiple: base.channelMultiple } : {}),
                weightBits: base.weightBits,
                ...(base.targetBytes !== undefined ? { targetBytes: base.targetBytes } : {}),
                bytes: stored.length,
                activations: base.activations,
                ranges: activationRangeCount(stored),
                bias:
                  (base.floats ?? (base.targetBytes !== undefined ? 'float16' : 'float32')) === 'float16'
                    ? 'float16 where finite'
                    : 'float32',
              }) +
              defaultsNote +
              (text ? `\n${text.kind} tokenizer stored (${text.tokenizer.length} bytes).` : ''),
          );
        }
      },
    );

  program
    .command('inspect')
    .description('show the tensors, codecs, densities and sizes of a .sparrow file (every CRC and stream is checked)')
    .argument('<file>', 'a .sparrow file')
    .option('--json', 'print one JSON document')
    .action(async (file: string, o: { json?: boolean }) => {
      const bytes = await readInput(file);
      const report = inspectSparrow(bytes);
      const details = answers.inspectDetails(bytes);
      out(
        o.json ? JSON.stringify({ ...report, ...details }) : `${formatInspect(report, file)}\n\n${answers.formatInspectDetails(details)}`,
      );
    });

  program
    .command('pack')
    .description(
      'build a .sparrow from .npy tensors (int8 ones are entropy-coded), or from the weights of an ONNX model ' +
        '(magnitude-pruned, int8 per output channel; weights only, no graph)',
    )
    .argument('[tensors...]', 'name=file.npy pairs, in execution order')
    .requiredOption('-o, --output <file>', 'output .sparrow file')
    .option('--onnx <model>', 'take the Conv/Gemm/MatMul weights of this ONNX model')
    .option('--sparsity <s>', 'per-layer magnitude sparsity for --onnx, 0 ≤ s < 1', '0')
    .option('--json', 'print the inspect report of the written file as one JSON document')
    .action(async (pairs: string[], o: { output: string; onnx?: string; sparsity: string; json?: boolean }) => {
      let bytes: Uint8Array;
      if (o.onnx) {
        if (pairs.length) throw new SparrowError('invalid_argument', 'give either --onnx or name=file.npy tensors, not both');
        const s = Number(o.sparsity);
        if (!(s >= 0 && s < 1)) throw new SparrowError('invalid_argument', `--sparsity must be in [0, 1), got ${o.sparsity}`);
        bytes = packOnnxWeights(await readInput(o.onnx), s);
      } else {
        if (!pairs.length) throw new SparrowError('invalid_argument', 'nothing to pack: give name=file.npy tensors or --onnx <model>');
        const tensors: PackTensor[] = [];
        for (const p of pairs) {
          const eq = p.indexOf('=');
          if (eq <= 0) throw new SparrowError('invalid_argument', `expected name=file.npy, got "${p}"`);
          const a = parseNpy(await readInput(p.slice(eq + 1)));
          if (!['float32', 'int64', 'int32', 'int8', 'uint8', 'uint16'].includes(a.dtype))
            throw new SparrowError('invalid_argument', `${p.slice(eq + 1)}: ${a.dtype} is not stored; convert to float32`);
          tensors.push({ name: p.slice(0, eq), shape: a.shape, data: a.data as PackTensor['data'] });
        }
        bytes = packTensors(tensors).bytes;
      }
      await writeOutput(o.output, bytes);
      const report = inspectSparrow(bytes);
      out(o.json ? JSON.stringify(report) : formatInspect(report, o.output));
    });

  program
    .command('run')
    .description(
      'run a model on .npy inputs or a photo (--image) and write .npy outputs (uint8 pixel inputs are preprocessed: ' +
        'pixel/255 then --mean/--std, or what a .sparrow model stores); a classifier also prints its top-5 with the stored labels',
    )
    .argument('<model>', 'an .onnx or .sparrow model')
    .option('--input <name=file.npy...>', 'an input (repeat for several)')
    .option(
      '--image <file>',
      "a PNG or JPEG for the model's image input: resized (shorter side) and center-cropped as torchvision does, then preprocessed",
    )
    .option('--resize <n>', '--image: the shorter side before the center crop (default: the input size: Resize(H) + CenterCrop(H, W))')
    .option('--top <k>', 'classifiers (one [N, C] output): how many classes to print', '5')
    .option(
      '--engine <engine>',
      `engine: ${Object.keys(ENGINES).join(', ')} (.sparrow: sparrow-f32, sparrow-int8, reference; ` +
        'default: sparrow-int8 for a .sparrow with activation ranges, else sparrow-f32)',
    )
    .option('--mean <a,b,c>', "per-channel mean for uint8 pixel inputs, after pixel/255 (default: a .sparrow model's own)")
    .option('--std <a,b,c>', "per-channel std for uint8 pixel inputs (default: a .sparrow model's own)")
    .option('--out <dir>', 'folder for the output .npy files', '.')
    .option('--json', 'print one JSON document')
    .action(
      async (
        model: string,
        o: {
          input?: string[];
          image?: string;
          resize?: string;
          top: string;
          engine?: string;
          mean?: string;
          std?: string;
          out: string;
          json?: boolean;
        },
      ) => {
        if (o.engine !== undefined) engineOf(o.engine);
        if (!o.input?.length === !o.image)
          throw new SparrowError('invalid_argument', 'give the inputs: --input <name=file.npy> (repeatable) or --image <photo.png|jpg>');
        const topN = Number(o.top);
        if (!Number.isInteger(topN) || topN < 1)
          throw new SparrowError('invalid_argument', `--top must be a positive integer, got ${o.top}`);
        const resize = o.resize === undefined ? undefined : Number(o.resize);
        if (resize !== undefined && !(Number.isInteger(resize) && resize > 0))
          throw new SparrowError('invalid_argument', `--resize must be a positive integer, got ${o.resize}`);
        const mean = parseList(o.mean, '--mean'),
          std = parseList(o.std, '--std');
        const opened = await openModel(model, o.engine);
        const session = opened.engine;
        // uint8 pixels → float32: the flags if given (any input), else a .sparrow model's stored preprocessing (its input)
        const pre =
          mean || std ? { input: undefined, scale: 1 / 255, ...(mean ? { mean } : {}), ...(std ? { std } : {}) } : opened.preprocessing;
        const feeds: Record<string, Tensor> = {};
        if (o.image) {
          const name = session.inputNames[0]!;
          Object.assign(feeds, await answers.imageFeed(o.image, name, await answers.modelInputInfo(model, name), pre, resize));
        }
        for (const p of o.input ?? []) {
          const eq = p.indexOf('=');
          if (eq <= 0) throw new SparrowError('invalid_argument', `--input expects name=file.npy, got "${p}"`);
          const a = parseNpy(await readInput(p.slice(eq + 1)));
          const name = p.slice(0, eq);
          let t = { dtype: a.dtype, dims: a.shape, data: a.data } as Tensor;
          if (pre && t.dtype === 'uint8' && (pre.input === undefined || pre.input === name)) t = preprocessPixels(t, pre);
          feeds[name] = t;
        }
        const t0 = performance.now();
        const outs = await session.run(feeds);
        const ms = performance.now() - t0;
        const { mkdir } = await import('node:fs/promises');
        await mkdir(o.out, { recursive: true });
        const outputs: Record<string, { dims: number[]; dtype: string; file: string }> = {};
        for (const [name, t] of Object.entries(outs)) {
          const file = join(o.out, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.npy`);
          await writeOutput(file, toNpy(t));
          outputs[name] = { dims: t.dims, dtype: t.dtype, file };
        }
        const cls = answers.classifierOutput(outs);
        const top = cls ? answers.topK(outs[cls]!, topN, await answers.modelLabels(model)) : undefined;
        const doc = { engine: opened.name, ms: Math.round(ms * 1000) / 1000, outputs, ...answers.topFields(top) };
        out(
          o.json
            ? JSON.stringify(doc)
            : Object.entries(outputs)
                .map(([n, x]) => `${n}: ${x.dtype} [${x.dims}] -> ${x.file}`)
                .concat(top ? answers.formatTop(top) : [])
                .concat(`${ms.toFixed(2)} ms (${opened.name})`)
                .join('\n'),
        );
      },
    );

  program
    .command('eval')
    .description('top-1 accuracy of a classifier on MNIST or CIFAR-10')
    .argument('<model>', 'an .onnx or .sparrow model')
    .requiredOption('--dataset <name>', 'mnist or cifar10')
    .requiredOption('--data <path>', 'mnist: folder with the t10k IDX .gz files; cifar10: the binary file')
    .option('--offset <k>', 'skip the first K records', '0')
    .option('--limit <n>', 'evaluate at most N records')
    .option(
      '--engine <engine>',
      `engine: ${Object.keys(ENGINES).join(', ')} (default: sparrow-int8 for a .sparrow with activation ranges, else sparrow-f32)`,
    )
    .option('--mean <a,b,c>', "per-channel mean, applied after pixel/255 (default: a .sparrow model's own, else none)")
    .option('--std <a,b,c>', "per-channel std (default: a .sparrow model's own, else none)")
    .option('--batch <n>', 'images per run', '1')
    .option('--json', 'print one JSON document')
    .action(
      async (
        model: string,
        o: {
          dataset: string;
          data: string;
          offset: string;
          limit?: string;
          engine?: string;
          mean?: string;
          std?: string;
          batch: string;
          json?: boolean;
        },
      ) => {
        if (o.engine !== undefined) engineOf(o.engine);
        if (o.dataset !== 'mnist' && o.dataset !== 'cifar10')
          throw new SparrowError('invalid_argument', `--dataset must be mnist or cifar10, got ${o.dataset}`);
        const set = loadDataset(o.dataset as DatasetName, o.data);
        const offset = Number(o.offset),
          limit = o.limit === undefined ? set.n - offset : Number(o.limit);
        if (!Number.isInteger(offset) || offset < 0 || offset >= set.n)
          throw new SparrowError('invalid_argument', `--offset must be in 0..${set.n - 1}`);
        if (!Number.isInteger(limit) || limit < 1) throw new SparrowError('invalid_argument', '--limit must be a positive integer');
        const n = Math.min(limit, set.n - offset);
        const batch = Math.max(1, Number(o.batch) | 0);
        const flags = { mean: parseList(o.mean, '--mean'), std: parseList(o.std, '--std') };
        const opened = await openModel(model, o.engine);
        const session = opened.engine;
        // the flags when given, else what a .sparrow model stores (pixel/255 then its mean/std)
        const pre = flags.mean || flags.std || !opened.preprocessing ? flags : imageBatchParams(opened.preprocessing);
        const usual = USUAL_NORMALIZATION[o.dataset];
        if (usual && !pre.mean && !pre.std)
          process.stderr.write(
            `sparrow: warning: evaluating ${o.dataset} on pixel/255 with no mean/std (none given${opened.sparrow ? ', none stored in the model' : ''}); ` +
              `models trained on it usually expect --mean ${usual.mean.join(',')} --std ${usual.std.join(',')}\n`,
          );
        // records the model was calibrated (pruned, fine-tuned, quantized) on are not held out
        const seen = calibOverlap(opened.calib, o.dataset, o.data, offset, n);
        if (seen > 0)
          process.stderr.write(
            `sparrow: warning: ${seen} of the ${n} records evaluated were calibration records of this model ` +
              `(the first ${opened.calib!.n} of ${opened.calib!.spec}); top-1 on them is not a held-out figure: use --offset ${opened.calib!.n}\n`,
          );
        const input = session.inputNames[0]!,
          output = session.outputNames[0]!;
        let correct = 0;
        for (let i = 0; i < n; i += batch) {
          const b = Math.min(batch, n - i);
          const x = imageBatch(set, offset + i, b, pre);
          const y = (await session.run({ [input]: x }))[output]!;
          for (let k = 0; k < b; k++) if (argmaxRow(y, k) === set.labels[offset + i + k]) correct++;
          if (!o.json && (i / batch) % 500 === 0) process.stderr.write(`\r${i + b}/${n}`);
        }
        if (!o.json) process.stderr.write('\n');
        const doc = { model, dataset: o.dataset, engine: opened.name, n, top1: correct / n, calibrationRecords: seen };
        out(
          o.json
            ? JSON.stringify(doc)
            : `${model} on ${o.dataset} [${offset}, ${offset + n}): top-1 ${(100 * doc.top1).toFixed(2)}% (${correct}/${n}, ${opened.name})`,
        );
      },
    );

  program
    .command('bench')
    .description(
      'latency of engines on one model (one process, one thread each, interleaved, same seeded inputs), ' +
        'model sizes, and WASM weight decoding vs zlib inflate',
    )
    .argument('<model>', 'an .onnx model')
    .option(
      '--compressed <file>',
      "the model's .sparrow file (default: its weights packed in memory); sparrow-int8 runs it " +
        '(without it, sparrow-int8 runs the ONNX file: QDQ/QOperator weights as they are, float weights quantized at load, dynamic activation ranges where the model has none)',
    )
    .option(
      '--engines <list>',
      `comma-separated engines (default: ${DEFAULT_BENCH_ENGINES.join(',')}; also: sparrow-ref, the slow TS reference)`,
    )
    .option('--runs <n>', 'timed runs per engine', '30')
    .option('--batch <b>', 'size of symbolic batch dimensions', '1')
    .option('--shape <name=d0,d1,...>', 'an input shape (repeatable), for symbolic dims other than the batch', collectShape, [] as string[])
    .option('--report <dir>', 'write bench.md and bench.svg into this folder')
    .option(
      '--cold',
      'cold start instead: a fresh process per sample and engine (interleaved) reporting load (with decode+pack), first and second inference, medians',
    )
    .option('--samples <n>', 'processes per engine with --cold', '10')
    .option(
      '--node-option <flag>',
      'with --cold: a Node.js option for the sample processes (repeatable), e.g. --node-option=--v8-pool-size=1',
      collectShape,
      [] as string[],
    )
    .option(
      '--max-tokens <n>',
      'a decoder with a KV cache (past_key_values inputs) is timed by greedy generation of n tokens from BOS: ' +
        'tokens/s per engine (--runs timed generations each)',
      '128',
    )
    .option('--json', 'print one JSON document')
    .action(
      async (
        model: string,
        o: {
          compressed?: string;
          engines?: string;
          runs: string;
          batch: string;
          shape: string[];
          report?: string;
          maxTokens: string;
          json?: boolean;
          cold?: boolean;
          samples: string;
          nodeOption: string[];
        },
      ) => {
        if (model.endsWith('.sparrow'))
          throw new SparrowError('invalid_argument', `${model}: bench takes the .onnx model (give the .sparrow with --compressed)`);
        const names =
          o.engines === undefined
            ? DEFAULT_BENCH_ENGINES
            : o.engines
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean);
        if (!names.length) throw new SparrowError('invalid_argument', '--engines is empty');
        if (new Set(names).size !== names.length)
          throw new SparrowError('invalid_argument', `--engines lists an engine twice: ${o.engines}`);
        for (const n of names) engineOf(n);
        const runs = Number(o.runs),
          batch = Number(o.batch);
        if (!Number.isInteger(runs) || runs < 1)
          throw new SparrowError('invalid_argument', `--runs must be a positive integer, got ${o.runs}`);
        if (!Number.isInteger(batch) || batch < 1)
          throw new SparrowError('invalid_argument', `--batch must be a positive integer, got ${o.batch}`);
        if (!o.cold && o.nodeOption.length)
          throw new SparrowError('invalid_argument', '--node-option is for the sample processes of --cold');
        if (o.cold) {
          const samples = Number(o.samples);
          if (!Number.isInteger(samples) || samples < 1)
            throw new SparrowError('invalid_argument', `--samples must be a positive integer, got ${o.samples}`);
          const cold = runColdBench({
            model,
            compressed: o.compressed,
            engines: names,
            samples,
            batch,
            nodeOptions: o.nodeOption,
            log: (line) => process.stderr.write(`bench --cold: ${line}\n`),
          });
          out(o.json ? JSON.stringify(cold) : formatCold(cold));
          return;
        }
        const maxTokens = Number(o.maxTokens);
        if (!Number.isInteger(maxTokens) || maxTokens < 2)
          throw new SparrowError('invalid_argument', `--max-tokens must be an integer >= 2, got ${o.maxTokens}`);
        const bytes = await readInput(model);
        const compressed = o.compressed ? { path: o.compressed, bytes: await readInput(o.compressed) } : undefined;
        const report = await runBench({
          model,
          bytes,
          compressed,
          generation: { maxTokens },
          shapes: parseShapes(o.shape),
          engines: names,
          runs,
          batch,
          open: async (name, b) => {
            if (!isSparrowFile(b)) return openEngine(name, engineOf(name), b);
            const session = await Session.fromSparrow(b, { engine: engineOf(name) as EngineName });
            return Object.assign(sessionEngine(name, session), { weightsMs: session.report?.int8?.weightsMs });
          },
          prepare: (name) => prepareEngine(engineOf(name)),
          strictEngines: o.engines !== undefined,
          log: (line) => process.stderr.write(`bench: ${line}\n`),
        });
        if (o.report) {
          const files = await writeBenchReport(o.report, report);
          process.stderr.write(`bench: wrote ${files.md} and ${files.svg}\n`);
        }
        out(o.json ? JSON.stringify(report) : formatBench(report));
      },
    );

  program
    .command('compare')
    .description(
      'agreement of engines with an oracle on seeded random inputs: per output, max relative error ' +
        '(max|d| / max|oracle|), the worst element against |d| <= 1e-4·|oracle| + 1e-5·max|oracle|, and argmax agreement ' +
        'over the class axis (float inputs uniform [-1, 1); integer inputs in a range inferred from the graph or --int-range)',
    )
    .argument('<model>', 'an .onnx or .sparrow model')
    .option('--engines <list>', 'comma-separated engines to check', 'sparrow-f32,sparrow-int8')
    .option('--against <oracle>', 'ort-node or reference (default: ort-node for .onnx, reference for .sparrow)')
    .option('--samples <n>', 'random inputs', '20')
    .option('--seed <s>', 'seed of the inputs', '1')
    .option('--batch <b>', 'size of a symbolic batch dimension (axis 0)', '1')
    .option('--shape <name=d0,d1,...>', 'an input shape (repeatable); other symbolic dims: 32', collectShape, [] as string[])
    .option('--int-range <name=lo,hi>', 'inclusive range of an integer input (repeatable)', collectShape, [] as string[])
    .option(
      '--class-axis <name=k|none>',
      "an output's class axis (repeatable; default: 1 where there is one)",
      collectShape,
      [] as string[],
    )
    .option(
      '--layers',
      'sparrow-int8 layer by layer instead: every layer quantized, the default, then each layer alone quantized (the rest float32)',
    )
    .option('--json', 'print one JSON document')
    .action(
      async (
        model: string,
        o: {
          engines: string;
          against?: string;
          samples: string;
          seed: string;
          batch: string;
          shape: string[];
          intRange: string[];
          classAxis: string[];
          layers?: boolean;
          json?: boolean;
        },
      ) => {
        const names = o.engines
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        if (!names.length) throw new SparrowError('invalid_argument', '--engines is empty');
        for (const n of names) engineOf(n);
        const samples = Number(o.samples),
          seed = Number(o.seed),
          batch = Number(o.batch);
        if (!Number.isInteger(samples) || samples < 1)
          throw new SparrowError('invalid_argument', `--samples must be a positive integer, got ${o.samples}`);
        if (!Number.isInteger(seed)) throw new SparrowError('invalid_argument', `--seed must be an integer, got ${o.seed}`);
        if (!Number.isInteger(batch) || batch < 1)
          throw new SparrowError('invalid_argument', `--batch must be a positive integer, got ${o.batch}`);
        const bytes = await readInput(model);
        const sparrowFile = isSparrowFile(bytes);
        const against = o.against ?? (sparrowFile ? 'reference' : 'ort-node');
        if (against !== 'ort-node' && against !== 'reference')
          throw new SparrowError('invalid_argument', `--against must be ort-node or reference, got ${against}`);
        if (sparrowFile && against === 'ort-node')
          throw new SparrowError('invalid_argument', `${model}: a .sparrow model has no ONNX for ort-node; use --against reference`);
        const intRanges: Record<string, [number, number]> = {};
        for (const s of o.intRange) {
          const m = /^([^=]+)=(-?\d+),(-?\d+)$/.exec(s);
          if (!m) throw new SparrowError('invalid_argument', `--int-range wants name=lo,hi (integers), got "${s}"`);
          intRanges[m[1]!] = [Number(m[2]), Number(m[3])];
        }
        const classAxis: Record<string, number | null> = {};
        for (const s of o.classAxis) {
          const m = /^([^=]+)=(\d+|none)$/.exec(s);
          if (!m) throw new SparrowError('invalid_argument', `--class-axis wants name=k or name=none, got "${s}"`);
          classAxis[m[1]!] = m[2] === 'none' ? null : Number(m[2]);
        }
        const graph = sparrowFile ? loadSparrowModel(bytes).graph : importOnnx(bytes);
        const open = async (name: string): Promise<InferenceEngine> => {
          const kind = engineOf(name === 'reference' ? 'sparrow-ref' : name);
          if (!sparrowFile) return openEngine(name, kind, bytes);
          if (isOrtEngine(kind))
            throw new SparrowError('invalid_argument', `${model}: a .sparrow model runs on Sparrow's engines, not ${name}`);
          return sessionEngine(name, await Session.fromSparrow(bytes, { engine: kind }));
        };
        if (o.layers) {
          const r = await runLayerSensitivity({
            model,
            graph,
            against,
            open,
            openInt8: async (quantizeLayer) => {
              const opts = { engine: 'sparrow-int8' as const, ...(quantizeLayer ? { quantizeLayer } : {}) };
              const session = sparrowFile ? await Session.fromSparrow(bytes, opts) : await Session.fromOnnx(bytes, opts);
              if (session.report?.int8?.mode !== 'dynamic')
                throw new SparrowError('invalid_argument', `${model}: --layers scans dynamic int8; this file has static activation ranges`);
              return {
                engine: sessionEngine('sparrow-int8', session),
                layers: () => session.report!.int8!.layers.map((l) => ({ node: l.node, op: l.op, kernel: l.kernel })),
              };
            },
            samples,
            seed,
            batch,
            shapes: parseShapes(o.shape),
            intRanges,
            classAxis,
            log: (line) => process.stderr.write(`compare: ${line}\n`),
          });
          out(o.json ? JSON.stringify(r) : formatSensitivity(r));
          return;
        }
        const report = await runCompare({
          model,
          graph,
          engines: names,
          against,
          open,
          samples,
          seed,
          batch,
          shapes: parseShapes(o.shape),
          intRanges,
          classAxis,
          log: (line) => process.stderr.write(`compare: ${line}\n`),
        });
        out(o.json ? JSON.stringify(report) : formatCompare(report));
      },
    );

  program
    .command('check')
    .description('list the ops of a model: supported or not, and how each engine runs them (before running anything)')
    .argument('<model>', 'a .onnx or .sparrow file')
    .option(
      '--shape <name=d0,d1,...>',
      'input shape for the engines (repeatable; symbolic dims default to 1)',
      collectShape,
      [] as string[],
    )
    .option('--engines <e1,e2>', 'engines to compile it in', 'sparrow-f32,sparrow-int8')
    .option('--json', 'print one JSON document')
    .action(async (model: string, o: { shape: string[]; engines: string; json?: boolean }) => {
      const engines = o.engines.split(',').map((e) => {
        const en = engineOf(e.trim());
        if (en !== 'sparrow-f32' && en !== 'sparrow-int8')
          throw new SparrowError('invalid_argument', `check compiles sparrow-f32 / sparrow-int8, not ${e}`);
        return en;
      });
      const shapes = parseShapes(o.shape);
      const bytes = await readInput(model);
      const r = await checkModel(model, bytes, { shapes, engines });
      out(o.json ? JSON.stringify(r) : formatCheck(r));
      if (r.error) throw new SparrowError(r.error.code as SparrowError['code'], r.error.message);
    });

  program
    .command('conformance')
    .description('run the ONNX backend conformance tests (folders test_*/model.onnx + test_data_set_*)')
    .argument('<dir>', 'folder holding test_* folders')
    .option('--filter <regex>', 'only tests whose name matches')
    .option(
      '--engine <engine>',
      'sparrow-f32, sparrow-int8 (float layers run quantized: for the quantized-op tests) or sparrow-ref',
      'sparrow-f32',
    )
    .option('--json', 'print one JSON document')
    .action(async (dir: string, o: { filter?: string; engine: string; json?: boolean }) => {
      const engine = engineOf(o.engine);
      if (engine !== 'reference' && engine !== 'sparrow-f32' && engine !== 'sparrow-int8')
        throw new SparrowError(
          'invalid_argument',
          `conformance runs Sparrow's engines (sparrow-f32, sparrow-int8, sparrow-ref), not ${o.engine}`,
        );
      const { existsSync } = await import('node:fs');
      if (!existsSync(dir)) throw new SparrowError('io_error', `no such folder: ${dir}`);
      let re: RegExp | undefined;
      try {
        re = o.filter ? new RegExp(o.filter) : undefined;
      } catch (e) {
        throw new SparrowError(
          'invalid_argument',
          `--filter ${JSON.stringify(o.filter)} is not a valid regular expression: ${(e as Error).message}`,
        );
      }
      const r = await runConformance(dir, { filter: re ? (name) => re.test(name) : undefined, engine });
      if (o.json) out(JSON.stringify(r));
      else {
        for (const f of r.failed) out(`FAIL ${f.name}: ${f.reason}`);
        out(`${r.passed.length} passed, ${r.failed.length} failed, ${r.unsupported.length} unsupported`);
      }
    });

  registerTextCommands(program, out);
  registerExport(program, out);
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram((s) => process.stdout.write(s + '\n'));
  if (argv.length === 0) {
    process.stdout.write(program.helpInformation());
    return 0;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    removePendingTemps();
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      // usage mistakes (unknown command or option, missing argument): coded like the other errors
      process.stderr.write(`sparrow: usage: ${e.message.replace(/^error: /, '').split('\n')[0]}\n`);
      return 2;
    }
    if (isSparrowError(e)) {
      process.stderr.write(`sparrow: ${e.code}: ${e.message.split('\n')[0]}\n`);
      return 1;
    }
    process.stderr.write(`sparrow: internal error: ${(e as Error)?.stack?.split('\n').slice(0, 2).join(' ') ?? String(e)}\n`);
    return 70;
  }
}
