// Session: the one inference API. Import (src/onnx/import.ts, loaded on first use by
// src/runtime/onnx_import.ts: `.sparrow`-only bundles leave it out) → passes (src/ir/passes.ts) →
// an engine: 'reference' (plain TS kernels; the default of fromGraph), 'sparrow-f32'
// (float32 kernels in WASM linear memory, src/runtime/engine_f32.ts; the default for a model
// without static activation ranges)
// or 'sparrow-int8' (int8 kernels, src/runtime/engine_int8.ts); both WASM engines compile one
// plan per input signature on the skeleton of src/runtime/engine.ts. sparrow-int8 on a `.sparrow`
// file uses its int8 weights (decoded in WASM) and, when present, its static activation ranges;
// on an ONNX model (or a file without ranges) it quantizes the weights per output channel at
// load and runs in dynamic mode (activations quantized per inference).
import type { SparrowWasm } from '../wasm/gateway.js';
import { SparrowError } from '../errors.js';
import type { Tensor, ValueInfo } from '../ops/types.js';
import { cloneGraph, opCounts, type Graph } from '../ir/graph.js';
import { optimize, type OptimizeOptions, type OptimizeReport } from '../ir/passes.js';
import { onnxImporter } from './onnx_import.js';
import { nodeWasmModule } from './node_wasm.js';
import { runReference } from './reference.js';
import { F32Engine } from './engine_f32.js';
import type { EngineMemoryLimits, EngineMemoryStats, FallbackOp } from './engine.js';
import type { PlanCacheLimits } from './plan_cache.js';
import type { IoRunOptions, IoRunResult } from './plan_runner.js';
import type { FuseReport } from '../ir/fuse.js';
import type { ReadOptions } from '../format/container.js';
import { loadSparrowModel, type CompressionRecord, type Preprocessing } from './sparrow_model.js';
import { useCrc32 } from '../format/crc32.js';
import { wasmCrc32 } from '../wasm/crc32.js';
import { wasmInt8Decoder, type WasmInt8Decoder } from '../wasm/decode.js';
import { Int8Engine, type Int8Report } from './engine_int8.js';
import { isPendingData, type CodedInt8 } from '../format/graph.js';
import { extractQdq } from '../ir/qdq.js';
import { lowerQOperator } from '../ir/qoperator.js';
import { CODEC_RAW, decodeInt8Ref } from '../codec/int8.js';
import { MAGIC, parseHeaderPrefix } from '../format/container.js';

export type EngineName = 'reference' | 'sparrow-f32' | 'sparrow-int8';
const ENGINES: readonly string[] = ['reference', 'sparrow-f32', 'sparrow-int8'];
/**
 * The names an `engine` option takes: the three EngineNames, and 'sparrow-ref', another spelling
 * of 'reference' (the CLI's earlier name), accepted silently. `session.engine` is always an EngineName.
 */
export type EngineOption = EngineName | 'sparrow-ref';
const ALIASES: Readonly<Record<string, EngineName>> = { 'sparrow-ref': 'reference' };

/** The EngineName an engine option stands for; SparrowError('invalid_argument') for an unknown one. */
export function engineName(e: string): EngineName {
  const n = ALIASES[e] ?? e;
  if (!ENGINES.includes(n))
    throw new SparrowError(
      'invalid_argument',
      `engine '${String(e)}' is not available (available: ${ENGINES.join(', ')}; sparrow-ref = reference)`,
    );
  return n as EngineName;
}

/** What Session.create reads a model from: a path (Node), a URL, the bytes, or a stream of them. */
export type ModelSource = string | URL | Uint8Array | ArrayBuffer | ReadableStream<Uint8Array> | Blob | Response;

/** A tensor as run() takes it: Sparrow's `{ dtype, dims, data }`, onnxruntime's `{ type, dims, data }` or an onnxruntime Tensor. */
export interface TensorLike {
  dtype?: string;
  /** onnxruntime's name of dtype */
  type?: string;
  dims: readonly number[];
  data: Tensor['data'];
}

/** A tensor run() returns: `type` is `dtype` under onnxruntime's name (not enumerable). */
export type OutputTensor = Tensor & { readonly type: Tensor['dtype'] };

/** onnxruntime-web's InferenceSession.ValueMetadata, as Session.inputMetadata / outputMetadata give it. */
export interface ValueMetadata {
  name: string;
  isTensor: true;
  type: Tensor['dtype'];
  /** dims; a dimension that depends on the inputs is '?' (onnxruntime: its symbolic name) */
  shape: ReadonlyArray<number | string>;
}

export interface RunOptions {
  /** the outputs to return (default: all, in outputNames order) */
  outputs?: readonly string[];
}

/** True when the bytes start with the `.sparrow` magic. */
export function isSparrowBytes(b: Uint8Array): boolean {
  return b.length >= MAGIC.length && MAGIC.every((m, i) => b[i] === m);
}

/** True when a `.sparrow` file's metadata has static activation ranges (the header alone is read). */
export function hasActivationRanges(bytes: Uint8Array): boolean {
  let h: ReturnType<typeof parseHeaderPrefix>;
  try {
    h = parseHeaderPrefix(bytes.subarray(0, Math.min(bytes.length, 64)));
    if ('need' in h) h = parseHeaderPrefix(bytes.subarray(0, Math.min(bytes.length, h.need)));
  } catch {
    return false; // not a readable .sparrow header: the loader reports why
  }
  if ('need' in h) return false;
  const r = h.meta['activationRanges'];
  return !!r && typeof r === 'object' && Object.keys(r).length > 0;
}

/**
 * The documented default engine of a model: 'sparrow-int8' for a `.sparrow` file with static
 * activation ranges (`sparrow compress --calib`), 'sparrow-f32' for every other model.
 */
/**
 * The container's CRCs in WASM from now on where the runtime has no native CRC (browsers,
 * Workers; Node keeps zlib's): a small synchronous instance of `module` (src/wasm/crc32.ts).
 * Session.fromSparrow does it when given a `wasmModule`; the Worker before any request's checks.
 */
export function useWasmCrc32(module: WebAssembly.Module): void {
  useCrc32(wasmCrc32(module));
}

export function defaultEngine(bytes: Uint8Array): EngineName {
  return isSparrowBytes(bytes) && hasActivationRanges(bytes) ? 'sparrow-int8' : 'sparrow-f32';
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

async function fetchBytes(url: string | URL): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new SparrowError('io_error', `cannot fetch ${String(url)}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new SparrowError('io_error', `cannot fetch ${String(url)}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

const isNode = (): boolean => typeof process !== 'undefined' && !!(process as { versions?: { node?: string } }).versions?.node;

async function readPath(path: string | URL): Promise<Uint8Array> {
  const spec = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ spec)) as typeof import('node:fs/promises');
  try {
    return new Uint8Array(await fs.readFile(path));
  } catch (e) {
    throw new SparrowError('io_error', `cannot read ${String(path)}: ${(e as Error).message}`);
  }
}

/** The bytes of a model source. */
export async function readModelSource(source: ModelSource): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (!source.ok) throw new SparrowError('io_error', `cannot read ${source.url || 'the response'}: HTTP ${source.status}`);
    return new Uint8Array(await source.arrayBuffer());
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  if (typeof ReadableStream !== 'undefined' && source instanceof ReadableStream) return readAll(source);
  if (source instanceof URL) return source.protocol === 'file:' && isNode() ? readPath(source) : fetchBytes(source);
  if (typeof source === 'string') {
    if (/^(https?|data|blob):/i.test(source)) return fetchBytes(source);
    if (/^file:/i.test(source)) return readPath(new URL(source));
    if (isNode()) return readPath(source);
    return fetchBytes(new URL(source, (globalThis as { location?: { href: string } }).location?.href));
  }
  throw new SparrowError(
    'invalid_argument',
    `cannot read a model from ${Object.prototype.toString.call(source)}: pass a path, URL, Uint8Array, ArrayBuffer, Blob, Response or ReadableStream`,
  );
}

/** A feed as the engines take it (Sparrow's Tensor) from any TensorLike. */
function toTensor(name: string, t: TensorLike | Tensor): Tensor {
  if (!t || typeof t !== 'object') throw new SparrowError('invalid_argument', `input '${name}' is not a tensor`);
  const like = t as TensorLike;
  const dtype = like.dtype ?? like.type;
  if (typeof dtype !== 'string')
    throw new SparrowError(
      'invalid_argument',
      `input '${name}' has no dtype (Sparrow: { dtype, dims, data }; onnxruntime: { type, dims, data })`,
    );
  if (!like.dims || typeof (like.dims as ArrayLike<number>).length !== 'number')
    throw new SparrowError('invalid_argument', `input '${name}' has no dims`);
  const dims = Array.from(like.dims, Number);
  if (like.dtype === dtype && Array.isArray(like.dims)) return t as Tensor;
  return { dtype: dtype as Tensor['dtype'], dims, data: like.data };
}

function withType(t: Tensor): OutputTensor {
  if (!Object.prototype.hasOwnProperty.call(t, 'type') && Object.isExtensible(t))
    Object.defineProperty(t, 'type', { get: () => t.dtype, enumerable: false, configurable: true });
  return t as OutputTensor;
}

export type { FallbackOp, EngineMemoryStats, EngineMemoryLimits };

/** What the passes did, and (sparrow-f32) what the engine runs outside WASM. */
export interface SessionReport extends OptimizeReport {
  /**
   * sparrow-f32: nodes that run their TS reference kernel on views of the arena (int64/bool
   * tensors, ops or attribute cases without a WASM kernel), with the reason; filled in as
   * plans compile (at load for static input shapes, else at the first run of each shape).
   * Empty for the reference engine.
   */
  fallbackOps: FallbackOp[];
  /** sparrow-f32: bias Adds and activations fused into Conv/Gemm/MatMul (largest plan) */
  fused?: FuseReport;
  /** sparrow-int8: mode, kernels, quantized layers (kernel, density), weight decode + pack time, float ops */
  int8?: Int8Report;
  /**
   * ms to create the session (fromSparrow / fromOnnx: parsing, passes, WASM instantiation,
   * weight decode + pack, plan compilation); sparrow-int8's decode + pack alone is int8.weightsMs
   */
  loadMs?: number;
  /**
   * fromSparrow: the quantized weights decoded into float32 graph constants during the load
   * (sparrow-f32: every one; sparrow-int8: those of the layers it runs in float32), their
   * elements, the ms it took, and whether the WASM decoder did them all (src/wasm/decode.ts;
   * the reference engine has no module and decodes with the TS reference)
   */
  weightDecode?: { tensors: number; elements: number; wasm: boolean; ms: number };
}

export interface SessionOptions {
  /**
   * execution engine. Session.create, fromUrl, fromSparrow and fromOnnx: 'sparrow-int8' for a
   * `.sparrow` file with static activation ranges, else 'sparrow-f32' (defaultEngine). fromGraph
   * (a graph built in memory, often to test an op) keeps 'reference' (the TS oracle).
   */
  engine?: EngineOption;
  /**
   * sparrow-f32: a compiled build/sparrow.wasm (browsers and Workers pass theirs); in Node it is
   * compiled from disk when omitted
   */
  wasmModule?: WebAssembly.Module;
  /**
   * sparrow-int8: instantiates `wasmModule` (default SparrowWasm.instantiate); the browser entry's
   * numThreads passes a threads build with its helper threads (src/wasm/threads.ts)
   */
  instantiate?: (module: WebAssembly.Module) => Promise<SparrowWasm>;
  /** run the graph passes (default true); false executes the imported graph as is */
  optimize?: boolean;
  /** static shapes for graph inputs, e.g. { tokens: [1, 8] }: lets shape chains fold at load */
  inputShapes?: Record<string, readonly number[]>;
  /** options for the passes */
  passes?: Omit<OptimizeOptions, 'inputShapes'>;
  /**
   * sparrow-int8: 'simd' (default) runs the WASM int8 kernels, 'scalar' their plain TS
   * references (src/kernels/int8_ref.ts) on the same plan: bit-identical results, for testing
   */
  kernels?: 'simd' | 'scalar';
  /** sparrow-int8: weight density at or below which a Conv layer uses the sparse kernel (default SPARSE_DENSITY) */
  sparseDensity?: number;
  /**
   * sparrow-int8: runs at the load-time kernels before pruned convs that F(4x4) would run faster
   * are compiled for it (Int8EngineOptions.tierUpRuns, default TIER_UP_RUNS; 0: at load; Infinity: never)
   */
  tierUpRuns?: number;
  /**
   * sparrow-int8: run dense convs with 7-bit weights on the c4 kernel (Int8EngineOptions.relaxed;
   * default: when the WASM module is the relaxed build)
   */
  relaxed?: boolean;
  /**
   * sparrow-int8: dense 3x3 stride-1 convs on the exact Winograd F(2x2, 3x3) kernel where it is
   * faster (Int8EngineOptions.winograd; default true, bit-identical outputs either way)
   */
  winograd?: boolean;
  /**
   * sparrow-int8: convs Winograd runs take the exact F(4x4, 3x3) kernel where it applies and is
   * exact for their weights (Int8EngineOptions.winograd4; default true, bit-identical outputs)
   */
  winograd4?: boolean;
  /**
   * sparrow-int8, static ranges: a residual Add (and its Relu) reading a conv's int8 output runs
   * in that conv's output stage (Int8EngineOptions.fuseAdd; default true, bit-identical outputs)
   */
  fuseAdd?: boolean;
  /** sparrow-int8, static ranges: the requantization multiplier (Int8EngineOptions.requantMultiplier; default 'float32') */
  requantMultiplier?: 'float32' | 'q31';
  /**
   * sparrow-int8, dynamic mode: weight layers within this many weight layers of a graph output
   * run in float32 (default 3: the output layer and the two before it; 0 quantizes every layer)
   */
  floatHead?: number;
  /**
   * sparrow-int8, dynamic mode: which weight layers (by node name) are quantized, the others
   * running in float32; replaces the float head rule (diagnostics)
   */
  quantizeLayer?: (node: string) => boolean;
  /**
   * WASM engines: bounds of the compiled-plan cache (one plan per input signature; default 8
   * plans, 128 MiB). The least recently used plans beyond them are dropped and their memory reused.
   */
  planCache?: Partial<PlanCacheLimits>;
  /**
   * WASM engines: linear memory may not grow beyond this many bytes; a load or a run that would
   * need more throws SparrowError('too_large') before taking it (`setMemoryLimits` changes it later)
   */
  maxMemoryBytes?: number;
}

/** What fromSparrow hands the int8 engine besides the graph. */
interface Int8Inputs {
  ranges: Map<string, [number, number]> | null;
  coded: Map<string, CodedInt8>;
  /** Int8EngineOptions.requant: 'onnx' for models quantized in ONNX (QDQ, QOperator, dynamic) */
  requant?: 'fixed' | 'onnx';
}

/** How #create treats its graph. */
interface CreateHow {
  /** a graph read from a `.sparrow` file: optimized before it was written, fresh (not shared) */
  fromFile?: boolean;
  int8?: Int8Inputs;
}

/**
 * A QDQ model's int8 weights and activation parameters for the int8 engine (src/ir/qdq.ts): the
 * pairs are rewritten in `graph` (a fresh import), the weights handed over as raw int8 streams;
 * a model without QDQ gives no ranges (dynamic mode) and no weights (quantized at load). A model
 * in QOperator form (QLinearConv, QLinearMatMul, ConvInteger/MatMulInteger) is first rewritten
 * into that form (src/ir/qoperator.ts). Either way the engine then requantizes as the ONNX
 * operators do ('onnx').
 */
function qdqInputs(graph: Graph): Int8Inputs {
  const qop = lowerQOperator(graph);
  const q = extractQdq(graph);
  const coded = new Map<string, CodedInt8>();
  for (const [name, w] of q.weights) {
    coded.set(name, {
      codec: CODEC_RAW,
      payload: new Uint8Array(w.q.buffer, w.q.byteOffset, w.q.byteLength),
      dims: [...graph.values.get(name)!.info.dims!],
      axis: w.axis,
      scales: w.scales,
      scaleName: '',
    });
  }
  const quantized = q.ranges.size > 0 || q.weights.size > 0 || qop.qlinear + qop.integer > 0;
  return { ranges: q.ranges.size ? q.ranges : null, coded, requant: quantized ? 'onnx' : 'fixed' };
}

/** A file compressed from a model quantized in ONNX (QDQ, QOperator) keeps that model's requantization. */
function requantOf(c: CompressionRecord | null): 'fixed' | 'onnx' {
  const source = c?.['source'];
  return source === 'qdq' || source === 'qoperator' ? 'onnx' : 'fixed';
}

/** The report of passes that changed nothing. */
function unchanged(graph: Graph): OptimizeReport {
  const ops = opCounts(graph);
  return {
    nodesBefore: graph.nodes.length,
    nodesAfter: graph.nodes.length,
    opsBefore: ops,
    opsAfter: { ...ops },
    identitiesRemoved: 0,
    constantsFolded: 0,
    batchNormsFolded: 0,
    deadNodesRemoved: 0,
  };
}

/**
 * Starts compiling build/sparrow.wasm (Node; cached per process) so that it overlaps the parsing
 * of a model; undefined where the Node adapter is not available (the engine reports that itself).
 */
function nodeModule(): Promise<WebAssembly.Module | undefined> {
  return nodeWasmModule().catch(() => undefined);
}

function metadataOf(name: string, i: ValueInfo): ValueMetadata {
  return { name, isTensor: true, type: i.dtype, shape: (i.dims ?? []).map((d) => (d < 0 ? '?' : d)) };
}

export class Session {
  readonly engine: EngineName;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** dtype and dims per input (-1 = any size) */
  readonly inputInfo: Readonly<Record<string, ValueInfo>>;
  /** dtype and dims per output as far as known statically (-1 = depends on the inputs) */
  readonly outputInfo: Readonly<Record<string, ValueInfo>>;
  /** what the passes did (undefined with optimize: false on the reference engine) */
  readonly report: SessionReport | undefined;
  readonly #graph: Graph;
  readonly #f32: F32Engine | undefined;
  readonly #i8: Int8Engine | undefined;
  #preprocessing: Preprocessing | null = null;
  #compression: CompressionRecord | null = null;
  #maxBatch: number | null = null;
  #disposed = false;
  /** the coded int8 weights the engine was given (their payloads are views of the file) */
  #coded: ReadonlyMap<string, CodedInt8> = new Map();

  private constructor(graph: Graph, engine: EngineName, report: OptimizeReport | undefined, opts: SessionOptions, how: CreateHow = {}) {
    const int8 = how.int8;
    this.#graph = graph;
    if (int8) this.#coded = int8.coded;
    this.engine = engine;
    if (engine === 'sparrow-int8') {
      const i8 = new Int8Engine(graph, {
        ...(opts.wasmModule ? { wasmModule: opts.wasmModule } : {}),
        ...(opts.instantiate ? { instantiate: opts.instantiate } : {}),
        ...(opts.kernels ? { kernels: opts.kernels } : {}),
        ...(opts.sparseDensity !== undefined ? { sparseDensity: opts.sparseDensity } : {}),
        ...(opts.tierUpRuns !== undefined ? { tierUpRuns: opts.tierUpRuns } : {}),
        ...(opts.relaxed !== undefined ? { relaxed: opts.relaxed } : {}),
        ...(opts.winograd !== undefined ? { winograd: opts.winograd } : {}),
        ...(opts.winograd4 !== undefined ? { winograd4: opts.winograd4 } : {}),
        ...(opts.fuseAdd !== undefined ? { fuseAdd: opts.fuseAdd } : {}),
        ...(opts.requantMultiplier ? { requantMultiplier: opts.requantMultiplier } : {}),
        ...(opts.floatHead !== undefined ? { floatHead: opts.floatHead } : {}),
        ...(opts.quantizeLayer ? { quantizeLayer: opts.quantizeLayer } : {}),
        ...(opts.passes ? { passes: opts.passes } : {}),
        ...(how.fromFile && !opts.passes && opts.optimize !== false ? { optimized: true } : {}),
        ...(opts.planCache ? { planCache: opts.planCache } : {}),
        ...(opts.maxMemoryBytes !== undefined ? { maxMemoryBytes: opts.maxMemoryBytes } : {}),
        ranges: int8?.ranges ?? null,
        coded: int8?.coded ?? new Map(),
        ...(int8?.requant ? { requant: int8.requant } : {}),
      });
      this.#i8 = i8;
      this.report = { ...(report ?? unchanged(graph)), fallbackOps: i8.fallbackOps, int8: i8.report };
    } else if (engine === 'sparrow-f32') {
      const f32 = new F32Engine(graph, {
        ...(opts.wasmModule ? { wasmModule: opts.wasmModule } : {}),
        ...(opts.optimize === false ? { optimize: false } : {}),
        ...(opts.passes ? { passes: opts.passes } : {}),
        ...(how.fromFile && !opts.passes && opts.optimize !== false ? { optimized: true } : {}),
        ...(opts.planCache ? { planCache: opts.planCache } : {}),
        ...(opts.maxMemoryBytes !== undefined ? { maxMemoryBytes: opts.maxMemoryBytes } : {}),
      });
      this.#f32 = f32;
      const r: SessionReport = { ...(report ?? unchanged(graph)), fallbackOps: f32.fallbackOps };
      Object.defineProperty(r, 'fused', { enumerable: true, get: () => f32.fuse });
      this.report = r;
    } else {
      this.report = report ? { ...report, fallbackOps: [] } : undefined;
    }
    this.inputNames = Object.freeze([...graph.inputs]);
    this.outputNames = Object.freeze([...graph.outputs]);
    const info = (n: string): ValueInfo => {
      const i = graph.values.get(n)!.info;
      return Object.freeze({ dtype: i.dtype, dims: i.dims ? (Object.freeze([...i.dims]) as number[]) : null });
    };
    this.inputInfo = Object.freeze(Object.fromEntries(graph.inputs.map((n) => [n, info(n)])));
    this.outputInfo = Object.freeze(Object.fromEntries(graph.outputs.map((n) => [n, info(n)])));
  }

  /**
   * Loads an ONNX model. Throws SparrowError: 'invalid_model' (unreadable/inconsistent),
   * 'unsupported_op' (op, opset and node named), 'invalid_argument' (bad options, or a bundle
   * without the ONNX importer: the Worker and the `sparrow-edge/browser` entry load `.sparrow`
   * files only). Async so that engines needing WebAssembly compilation fit the same API.
   */
  static async fromOnnx(bytes: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    const engine = engineName(opts.engine ?? 'sparrow-f32');
    opts = { ...opts, engine };
    // loaded once per process (src/runtime/onnx_import.ts); not counted in loadMs, which
    // measures this model as it did when the importer was a static import
    const importOnnx = await onnxImporter();
    const t0 = performance.now();
    const graph = importOnnx(bytes);
    const s = Session.#create(graph, opts, engine === 'sparrow-int8' ? { int8: qdqInputs(graph) } : {});
    await s.#f32?.init();
    await s.#i8?.init();
    if (s.report) s.report.loadMs = performance.now() - t0;
    return s;
  }

  /**
   * Loads a model of either format from a path (Node), a URL, its bytes or a stream of them: a
   * `.sparrow` file is recognised by its magic, anything else is read as ONNX (not in the Worker
   * or `sparrow-edge/browser` bundles, which have no ONNX importer). The engine defaults to
   * defaultEngine(bytes): 'sparrow-int8' for a `.sparrow` file with static activation ranges,
   * 'sparrow-f32' otherwise. Read/fetch errors → SparrowError('io_error').
   */
  static async create(source: ModelSource, opts: SessionOptions & { read?: ReadOptions } = {}): Promise<Session> {
    const bytes = await readModelSource(source);
    const engine = engineName(opts.engine ?? defaultEngine(bytes));
    if (isSparrowBytes(bytes)) return Session.fromSparrow(bytes, { ...opts, engine });
    const { read: _read, ...rest } = opts;
    return Session.fromOnnx(bytes, { ...rest, engine });
  }

  /**
   * Fetches a model (http(s) in Node, any URL `fetch` takes in browsers and Workers) and loads it
   * like Session.create: either format, the same default engine. HTTP errors → SparrowError('io_error').
   */
  static async fromUrl(url: string | URL, opts: SessionOptions & { read?: ReadOptions } = {}): Promise<Session> {
    return Session.create(await fetchBytes(url), opts);
  }

  /**
   * Loads a `.sparrow` model (src/format/graph.ts): every CRC and stream is checked, the graph
   * is validated and rebuilt, int8 weights are dequantized to float32 (q·scale per channel) and
   * the graph runs on 'sparrow-f32' by default; 'sparrow-int8' keeps the weights int8 (decoded in WASM
   * into the kernel layouts) and uses the file's static activation ranges when it has them.
   * Default engine: 'sparrow-int8' when the file has activation ranges, else 'sparrow-f32'.
   * The file's preprocessing is available as `session.preprocessing`. Throws SparrowError:
   * the container's codes, 'corrupt_metadata' (a bad graph), 'unsupported_op'.
   */
  static async fromSparrow(bytes: Uint8Array, opts: SessionOptions & { read?: ReadOptions } = {}): Promise<Session> {
    const engine = engineName(opts.engine ?? defaultEngine(bytes));
    const t0 = performance.now();
    const int8 = engine === 'sparrow-int8';
    // the WASM module compiles (V8 background threads) while the file is read and validated
    const modP = engine !== 'reference' && !opts.wasmModule ? nodeModule() : undefined;
    if (opts.wasmModule) useWasmCrc32(opts.wasmModule);
    // The float32 constants of quantized weights (sparrow-f32: all of them, as the file is read;
    // sparrow-int8: those of layers it runs in float32, when it lowers them) decode in WASM, in a
    // decoder instance dropped after the load (src/wasm/decode.ts); the TS reference decoder is
    // the fallback (no module: the reference engine; a constant first read after the load).
    // sparrow-f32 decodes while reading, so it waits for the module first (~1.5 ms of compile).
    let wasmModule = opts.wasmModule ?? (modP && !int8 ? await modP : undefined);
    let decoder: WasmInt8Decoder | undefined,
      loading = true;
    const decoded = { tensors: 0, elements: 0, wasm: true, ms: 0 };
    const decodeInt8 = (codec: number, payload: Uint8Array, n: number): Int8Array => {
      if (!loading) return decodeInt8Ref(codec, payload, n);
      const t = performance.now();
      let q: Int8Array;
      if (wasmModule) q = (decoder ??= wasmInt8Decoder(wasmModule)).decode(codec, payload, n);
      else {
        q = decodeInt8Ref(codec, payload, n);
        decoded.wasm = false;
      }
      decoded.tensors++;
      decoded.elements += n;
      decoded.ms += performance.now() - t;
      return q;
    };
    const model = loadSparrowModel(bytes, { ...opts.read, ...(int8 ? { codedInt8: true } : {}), decodeInt8 });
    const { read: _read, ...rest } = opts;
    wasmModule ??= modP ? await modP : undefined;
    const s = Session.#create(
      model.graph,
      { ...rest, engine, ...(wasmModule ? { wasmModule } : {}) },
      {
        fromFile: true,
        ...(int8 ? { int8: { ranges: model.activationRanges, coded: model.coded, requant: requantOf(model.compression) } } : {}),
      },
    );
    s.#preprocessing = model.preprocessing;
    s.#compression = model.compression;
    s.#maxBatch = model.maxBatch;
    try {
      await s.#f32?.init();
      await s.#i8?.init();
    } finally {
      loading = false;
      decoder?.release();
    }
    if (s.report) {
      s.report.weightDecode = { ...decoded, ms: Math.round(decoded.ms * 1000) / 1000 };
      s.report.loadMs = performance.now() - t0;
    }
    return s;
  }

  /**
   * A session over an already imported graph (the graph is copied, not modified). The
   * sparrow-f32 engine instantiates its WASM module and compiles at the first `run`.
   */
  static fromGraph(graph: Graph, opts: SessionOptions = {}): Session {
    return Session.#create(graph, opts);
  }

  static #create(graph: Graph, opts: SessionOptions, how: CreateHow = {}): Session {
    const engine = engineName(opts.engine ?? 'reference');
    // a graph read from a file is fresh and was optimized before it was written: the passes
    // would find nothing to do (unless the caller asks for input shapes or other passes)
    const again = !how.fromFile || !!opts.inputShapes || !!opts.passes;
    const g = how.fromFile ? graph : cloneGraph(graph);
    let report: OptimizeReport | undefined;
    if (opts.optimize !== false && again) {
      report = optimize(g, { ...opts.passes, ...(opts.inputShapes ? { inputShapes: opts.inputShapes } : {}) });
    } else if (opts.inputShapes) {
      throw new SparrowError('invalid_argument', 'inputShapes needs the passes (optimize: true)');
    } else if (opts.optimize !== false) {
      report = unchanged(g);
    }
    return new Session(g, engine, report, opts, how);
  }

  /** The preprocessing a `.sparrow` model stores (pixel scale, mean, std); null otherwise. */
  get preprocessing(): Preprocessing | null {
    return this.#preprocessing;
  }

  /** What `sparrow compress` recorded in a `.sparrow` model; null otherwise. */
  get compression(): CompressionRecord | null {
    return this.#compression;
  }

  /** The largest batch a `.sparrow` model states it serves (metadata.maxBatch); null otherwise. */
  get maxBatch(): number | null {
    return this.#maxBatch;
  }

  /** The graph the engine runs (after the passes). Read only. */
  get graph(): Graph {
    return this.#graph;
  }

  /**
   * Runs the model. `feeds` maps every input name to a tensor of the input's dtype whose dims
   * match inputInfo (-1 = any). Throws SparrowError('invalid_argument') for bad feeds.
   */
  async run(feeds: Record<string, Tensor | TensorLike>, options?: RunOptions | readonly string[]): Promise<Record<string, OutputTensor>> {
    if (this.#disposed) throw new SparrowError('invalid_argument', 'this session was disposed');
    const wanted = Array.isArray(options) ? (options as readonly string[]) : (options as RunOptions | undefined)?.outputs;
    if (wanted) {
      for (const n of wanted)
        if (!this.outputNames.includes(n))
          throw new SparrowError('invalid_argument', `'${n}' is not an output of this model (outputs: ${this.outputNames.join(', ')})`);
    }
    if (!feeds || typeof feeds !== 'object') throw new SparrowError('invalid_argument', 'feeds must map input names to tensors');
    const ts: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) ts[k] = toTensor(k, v);
    const all = this.#f32 ? await this.#f32.run(ts) : this.#i8 ? await this.#i8.run(ts) : await runReference(this.#graph, ts);
    const out: Record<string, OutputTensor> = {};
    for (const n of wanted ?? Object.keys(all)) out[n] = withType(all[n]!);
    return out;
  }

  /**
   * WASM engines: these inputs keep their arena slots for whole runs, so that runIo can leave
   * them as an earlier run left them (the KV cache of src/runtime/generate.ts); no-op on the
   * reference engine. Plans compiled before are dropped when the set changes.
   */
  pinInputs(names: readonly string[]): void {
    if (this.#disposed) throw new SparrowError('invalid_argument', 'this session was disposed');
    for (const n of names)
      if (!this.inputNames.includes(n)) throw new SparrowError('invalid_argument', `'${n}' is not an input of this model`);
    (this.#f32 ?? this.#i8)?.pinInputs(names);
  }

  /**
   * A run that can keep state in the engine (src/runtime/plan_runner.ts IoRunOptions): pinned
   * inputs not rewritten when `reuse` is the token of the latest run of the same plan, `after`
   * called with views of the outputs and of the pinned input slots, only `outputs` copied out.
   * Feeds as for run (tensors). On the reference engine: a plain run (`after` sees the outputs,
   * no input slots, no token).
   */
  async runIo(feeds: Record<string, Tensor>, o: IoRunOptions = {}): Promise<IoRunResult> {
    if (this.#disposed) throw new SparrowError('invalid_argument', 'this session was disposed');
    const e = this.#f32 ?? this.#i8;
    if (e) return e.runIo(feeds, o);
    const all = await runReference(this.#graph, feeds);
    o.after?.({ output: (n) => all[n]!, input: () => undefined });
    const outputs: Record<string, Tensor> = {};
    for (const n of o.outputs ?? Object.keys(all)) {
      if (!all[n]) throw new SparrowError('invalid_argument', `'${n}' is not an output of this model`);
      outputs[n] = all[n];
    }
    return { outputs, token: undefined, reused: false };
  }

  /** onnxruntime's ValueMetadata of each input, in inputNames order. */
  get inputMetadata(): readonly ValueMetadata[] {
    return this.inputNames.map((n) => metadataOf(n, this.inputInfo[n]!));
  }

  /** onnxruntime's ValueMetadata of each output, in outputNames order. */
  get outputMetadata(): readonly ValueMetadata[] {
    return this.outputNames.map((n) => metadataOf(n, this.outputInfo[n]!));
  }

  /**
   * Frees what the session holds (compiled plans; the engine and the model's buffers become
   * garbage once the session is no longer referenced). run() afterwards throws. Idempotent.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.dropPlans();
    this.#disposed = true;
  }

  /** onnxruntime's name of dispose(). */
  async release(): Promise<void> {
    this.dispose();
  }

  /** true after dispose() */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Bytes of WASM linear memory the engine holds (sparrow-f32), undefined for the reference engine. */
  memoryBytes(): number | undefined {
    return (this.#f32?.wasm ?? this.#i8?.wasm)?.memoryBytes;
  }

  /** sparrow-f32: mean ms per step of the compiled plan over `runs` runs (diagnostics); [] for the reference engine. */
  async profile(feeds: Record<string, Tensor>, runs = 20): Promise<Array<{ node: string; op: string; ms: number }>> {
    return this.#f32 ? this.#f32.profile(feeds, runs) : this.#i8 ? this.#i8.profile(feeds, runs) : [];
  }

  /** WASM engines: arena, plan, constant and linear-memory sizes; undefined for the reference engine. */
  memoryStats(): EngineMemoryStats | undefined {
    return (this.#f32 ?? this.#i8)?.memoryStats();
  }

  /**
   * Bytes of JS-side memory the session keeps: the buffers behind the graph's constants that
   * exist (a lazily decoded int8 weight counts once read) and behind the coded int8 weights
   * (views of the model file: the whole file stays referenced), each buffer once.
   */
  jsBytes(): number {
    const seen = new Set<ArrayBufferLike>();
    let n = 0;
    const add = (v: ArrayBufferView): void => {
      if (seen.has(v.buffer)) return;
      seen.add(v.buffer);
      n += v.buffer.byteLength;
    };
    for (const v of this.#graph.values.values()) if (v.const && !isPendingData(v.const)) add(v.const.data);
    for (const c of this.#coded.values()) {
      add(c.payload);
      add(c.scales);
    }
    return n;
  }

  /** What the session holds: its WASM linear memory (all of it: it never shrinks) plus jsBytes(). */
  heldBytes(): number {
    return (this.memoryBytes() ?? 0) + this.jsBytes();
  }

  /** WASM engines: new memory bounds (linear-memory limit, plan cache), applied at once; no-op for the reference engine. */
  setMemoryLimits(l: EngineMemoryLimits): void {
    (this.#f32 ?? this.#i8)?.setLimits(l);
  }

  /** WASM engines: frees every compiled plan (their memory is reused by the next ones). */
  dropPlans(): void {
    (this.#f32 ?? this.#i8)?.dropPlans();
  }
}
