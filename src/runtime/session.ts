// Session: the one inference API. Import (src/onnx/import.ts, loaded on first use by
// src/runtime/onnx_import.ts: `.sparrow`-only bundles leave it out) → passes (src/ir/passes.ts) →
// an engine: 'reference' (plain TS kernels; the default of fromOnnx and fromGraph), 'sparrow-f32'
// (float32 kernels in WASM linear memory, src/runtime/engine_f32.ts; the default of fromSparrow)
// or 'sparrow-int8' (int8 kernels, src/runtime/engine_int8.ts); both WASM engines compile one
// plan per input signature on the skeleton of src/runtime/engine.ts. sparrow-int8 on a `.sparrow`
// file uses its int8 weights (decoded in WASM) and, when present, its static activation ranges;
// on an ONNX model (or a file without ranges) it quantizes the weights per output channel at
// load and runs in dynamic mode (activations quantized per inference).
import { SparrowError } from '../errors.js';
import type { Tensor, ValueInfo } from '../ops/types.js';
import { cloneGraph, opCounts, type Graph } from '../ir/graph.js';
import { optimize, type OptimizeOptions, type OptimizeReport } from '../ir/passes.js';
import { onnxImporter } from './onnx_import.js';
import { runReference } from './reference.js';
import { F32Engine } from './engine_f32.js';
import type { EngineMemoryLimits, EngineMemoryStats, FallbackOp } from './engine.js';
import type { PlanCacheLimits } from './plan_cache.js';
import type { FuseReport } from '../ir/fuse.js';
import type { ReadOptions } from '../format/container.js';
import { loadSparrowModel, type CompressionRecord, type Preprocessing } from './sparrow_model.js';
import { Int8Engine, type Int8Report } from './engine_int8.js';
import { isPendingData, type CodedInt8 } from '../format/graph.js';
import { extractQdq } from '../ir/qdq.js';
import { lowerQOperator } from '../ir/qoperator.js';
import { CODEC_RAW } from '../codec/int8.js';

export type EngineName = 'reference' | 'sparrow-f32' | 'sparrow-int8';
const ENGINES: readonly string[] = ['reference', 'sparrow-f32', 'sparrow-int8'];

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
}

export interface SessionOptions {
  /** execution engine (default: 'reference' for fromOnnx / fromGraph, 'sparrow-f32' for fromSparrow) */
  engine?: EngineName;
  /**
   * sparrow-f32: a compiled build/sparrow.wasm (browsers and Workers pass theirs); in Node it is
   * compiled from disk when omitted
   */
  wasmModule?: WebAssembly.Module;
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
   * sparrow-int8: run dense convs with 7-bit weights on the c4 kernel (Int8EngineOptions.relaxed;
   * default: when the WASM module is the relaxed build)
   */
  relaxed?: boolean;
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
  const spec = '../wasm/node.js';
  return (import(/* @vite-ignore */ spec) as Promise<typeof import('../wasm/node.js')>)
    .then((n) => n.compileNodeModule())
    .catch(() => undefined);
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
        ...(opts.kernels ? { kernels: opts.kernels } : {}),
        ...(opts.sparseDensity !== undefined ? { sparseDensity: opts.sparseDensity } : {}),
        ...(opts.relaxed !== undefined ? { relaxed: opts.relaxed } : {}),
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
    const engine = opts.engine ?? 'reference';
    if (!ENGINES.includes(engine)) {
      throw new SparrowError('invalid_argument', `engine '${String(engine)}' is not available (available: ${ENGINES.join(', ')})`);
    }
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
   * Fetches an ONNX model (http(s) in Node, any URL `fetch` takes in browsers and Workers) and
   * loads it like fromOnnx (so not in the Worker or `sparrow-edge/browser` bundles, which have
   * no ONNX importer). HTTP errors → SparrowError('io_error').
   */
  static async fromUrl(url: string | URL, opts: SessionOptions = {}): Promise<Session> {
    let res: Response;
    try {
      res = await fetch(url);
    } catch (e) {
      throw new SparrowError('io_error', `cannot fetch ${String(url)}: ${(e as Error).message}`);
    }
    if (!res.ok) throw new SparrowError('io_error', `cannot fetch ${String(url)}: HTTP ${res.status}`);
    return Session.fromOnnx(new Uint8Array(await res.arrayBuffer()), opts);
  }

  /**
   * Loads a `.sparrow` model (src/format/graph.ts): every CRC and stream is checked, the graph
   * is validated and rebuilt, int8 weights are dequantized to float32 (q·scale per channel) and
   * the graph runs on 'sparrow-f32' by default; 'sparrow-int8' keeps the weights int8 (decoded in WASM
   * into the kernel layouts) and uses the file's static activation ranges when it has them.
   * The file's preprocessing is available as `session.preprocessing`. Throws SparrowError:
   * the container's codes, 'corrupt_metadata' (a bad graph), 'unsupported_op'.
   */
  static async fromSparrow(bytes: Uint8Array, opts: SessionOptions & { read?: ReadOptions } = {}): Promise<Session> {
    const engine = opts.engine ?? 'sparrow-f32';
    if (!ENGINES.includes(engine)) {
      throw new SparrowError('invalid_argument', `engine '${String(engine)}' is not available (available: ${ENGINES.join(', ')})`);
    }
    const t0 = performance.now();
    const int8 = engine === 'sparrow-int8';
    // the WASM module compiles (V8 background threads) while the file is read and validated
    const modP = engine !== 'reference' && !opts.wasmModule ? nodeModule() : undefined;
    const model = loadSparrowModel(bytes, { ...opts.read, ...(int8 ? { codedInt8: true } : {}) });
    const { read: _read, ...rest } = opts;
    const wasmModule = opts.wasmModule ?? (modP ? await modP : undefined);
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
    await s.#f32?.init();
    await s.#i8?.init();
    if (s.report) s.report.loadMs = performance.now() - t0;
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
    const engine = opts.engine ?? 'reference';
    if (!ENGINES.includes(engine)) {
      throw new SparrowError('invalid_argument', `engine '${String(engine)}' is not available (available: ${ENGINES.join(', ')})`);
    }
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
  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    if (this.#f32) return this.#f32.run(feeds);
    if (this.#i8) return this.#i8.run(feeds);
    return runReference(this.#graph, feeds);
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
