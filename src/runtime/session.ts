// Session: the one inference API. Import (src/onnx/import.ts) → passes (src/ir/passes.ts) →
// an engine. Only the 'reference' engine (plain TS kernels) exists today; the WASM engines
// plug in behind the same API later.
import { SparrowError } from '../errors.js';
import type { Tensor, ValueInfo } from '../ops/types.js';
import { cloneGraph, type Graph } from '../ir/graph.js';
import { optimize, type OptimizeOptions, type OptimizeReport } from '../ir/passes.js';
import { importOnnx } from '../onnx/import.js';
import { runReference } from './reference.js';

export type EngineName = 'reference';
const ENGINES: readonly string[] = ['reference'];

export interface SessionOptions {
  /** execution engine (default 'reference', the only one implemented so far) */
  engine?: EngineName;
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
  /** what the passes did (undefined with optimize: false) */
  readonly report: OptimizeReport | undefined;
  readonly #graph: Graph;

  private constructor(graph: Graph, engine: EngineName, report: OptimizeReport | undefined) {
    this.#graph = graph;
    this.engine = engine;
    this.report = report;
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
    return Session.fromGraph(graph, opts);
  }

  /** A session over an already imported graph (the graph is copied, not modified). */
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
    return new Session(g, engine, report);
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
    return runReference(this.#graph, feeds);
  }
}
