// Session: the one inference API. Import (src/onnx/import.ts) → passes (src/ir/passes.ts) →
// an engine: 'reference' (plain TS kernels, the default) or 'sparrow-f32' (float32 kernels in
// WASM linear memory, src/runtime/engine_f32.ts: one compiled plan per input-shape signature).
import { SparrowError } from '../errors.js';
import type { Tensor, ValueInfo } from '../ops/types.js';
import { cloneGraph, opCounts, type Graph } from '../ir/graph.js';
import { optimize, type OptimizeOptions, type OptimizeReport } from '../ir/passes.js';
import { importOnnx } from '../onnx/import.js';
import { runReference } from './reference.js';
import { F32Engine, type F32MemoryStats, type FallbackOp } from './engine_f32.js';
import type { FuseReport } from '../ir/fuse.js';
import type { ReadOptions } from '../format/container.js';
import { loadSparrowModel, type CompressionRecord, type Preprocessing } from './sparrow_model.js';

export type EngineName = 'reference' | 'sparrow-f32';
const ENGINES: readonly string[] = ['reference', 'sparrow-f32'];

export type { FallbackOp, F32MemoryStats };

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
}

export interface SessionOptions {
  /** execution engine (default 'reference') */
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
  #preprocessing: Preprocessing | null = null;
  #compression: CompressionRecord | null = null;

  private constructor(graph: Graph, engine: EngineName, report: OptimizeReport | undefined, opts: SessionOptions) {
    this.#graph = graph;
    this.engine = engine;
    if (engine === 'sparrow-f32') {
      const f32 = new F32Engine(graph, {
        ...(opts.wasmModule ? { wasmModule: opts.wasmModule } : {}),
        ...(opts.optimize === false ? { optimize: false } : {}),
        ...(opts.passes ? { passes: opts.passes } : {}),
      });
      this.#f32 = f32;
      const base: OptimizeReport = report ?? {
        nodesBefore: graph.nodes.length, nodesAfter: graph.nodes.length, opsBefore: opCounts(graph), opsAfter: opCounts(graph),
        identitiesRemoved: 0, constantsFolded: 0, batchNormsFolded: 0, deadNodesRemoved: 0,
      };
      const r: SessionReport = { ...base, fallbackOps: f32.fallbackOps };
      Object.defineProperty(r, 'fused', { enumerable: true, get: () => f32.fuse });
      this.report = r;
    } else {
      this.report = report ? { ...report, fallbackOps: [] } : undefined;
    }
    this.inputNames = Object.freeze([...graph.inputs]);
    this.outputNames = Object.freeze([...graph.outputs]);
    const info = (n: string): ValueInfo => {
      const i = graph.values.get(n)!.info;
      return Object.freeze({ dtype: i.dtype, dims: i.dims ? Object.freeze([...i.dims]) as number[] : null });
    };
    this.inputInfo = Object.freeze(Object.fromEntries(graph.inputs.map((n) => [n, info(n)])));
    this.outputInfo = Object.freeze(Object.fromEntries(graph.outputs.map((n) => [n, info(n)])));
  }

  /**
   * Loads an ONNX model. Throws SparrowError: 'invalid_model' (unreadable/inconsistent),
   * 'unsupported_op' (op, opset and node named), 'invalid_argument' (bad options).
   * Async so that engines needing WebAssembly compilation fit the same API.
   */
  static async fromOnnx(bytes: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    const engine = opts.engine ?? 'reference';
    if (!ENGINES.includes(engine)) {
      throw new SparrowError('invalid_argument', `engine '${String(engine)}' is not available (available: ${ENGINES.join(', ')})`);
    }
    const graph = importOnnx(bytes);
    const s = Session.fromGraph(graph, opts);
    await s.#f32?.init();
    return s;
  }

  /**
   * A session over an already imported graph (the graph is copied, not modified). The
   * sparrow-f32 engine instantiates its WASM module and compiles at the first `run`.
   */
  /**
   * Fetches an ONNX model (http(s) in Node, any URL `fetch` takes in browsers and Workers) and
   * loads it like fromOnnx. HTTP errors → SparrowError('io_error').
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
   * the graph runs on a float engine, 'sparrow-f32' by default (the int8 engine comes later).
   * The file's preprocessing is available as `session.preprocessing`. Throws SparrowError:
   * the container's codes, 'corrupt_metadata' (a bad graph), 'unsupported_op'.
   */
  static async fromSparrow(bytes: Uint8Array, opts: SessionOptions & { read?: ReadOptions } = {}): Promise<Session> {
    const engine = opts.engine ?? 'sparrow-f32';
    if (!ENGINES.includes(engine)) {
      throw new SparrowError('invalid_argument', `engine '${String(engine)}' is not available (available: ${ENGINES.join(', ')})`);
    }
    const model = loadSparrowModel(bytes, opts.read);
    const { read: _read, ...rest } = opts;
    const s = Session.fromGraph(model.graph, { ...rest, engine });
    s.#preprocessing = model.preprocessing;
    s.#compression = model.compression;
    await s.#f32?.init();
    return s;
  }

  static fromGraph(graph: Graph, opts: SessionOptions = {}): Session {
    const engine = opts.engine ?? 'reference';
    if (!ENGINES.includes(engine)) {
      throw new SparrowError('invalid_argument', `engine '${String(engine)}' is not available (available: ${ENGINES.join(', ')})`);
    }
    const g = cloneGraph(graph);
    let report: OptimizeReport | undefined;
    if (opts.optimize !== false) {
      report = optimize(g, { ...opts.passes, ...(opts.inputShapes ? { inputShapes: opts.inputShapes } : {}) });
    } else if (opts.inputShapes) {
      throw new SparrowError('invalid_argument', 'inputShapes needs the passes (optimize: true)');
    }
    return new Session(g, engine, report, opts);
  }

  /** The preprocessing a `.sparrow` model stores (pixel scale, mean, std); null otherwise. */
  get preprocessing(): Preprocessing | null {
    return this.#preprocessing;
  }

  /** What `sparrow compress` recorded in a `.sparrow` model; null otherwise. */
  get compression(): CompressionRecord | null {
    return this.#compression;
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
    return runReference(this.#graph, feeds);
  }

  /** Bytes of WASM linear memory the engine holds (sparrow-f32), undefined for the reference engine. */
  memoryBytes(): number | undefined {
    return this.#f32?.wasm?.memoryBytes;
  }

  /** sparrow-f32: mean ms per step of the compiled plan over `runs` runs (diagnostics); [] for the reference engine. */
  async profile(feeds: Record<string, Tensor>, runs = 20): Promise<Array<{ node: string; op: string; ms: number }>> {
    return this.#f32 ? this.#f32.profile(feeds, runs) : [];
  }

  /** sparrow-f32: arena, constant and linear-memory sizes; undefined for the reference engine. */
  memoryStats(): F32MemoryStats | undefined {
    return this.#f32?.memoryStats();
  }
}
