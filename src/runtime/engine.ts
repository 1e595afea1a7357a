// The skeleton every WASM engine shares (sparrow-f32: engine_f32.ts, sparrow-int8:
// engine_int8.ts). An engine supplies only its lowerings (one file per op family under
// src/runtime/f32/ and src/runtime/int8/); this class does the rest:
//   - WASM: instantiates the module once (the caller's compiled module, or the Node adapter's);
//   - plans: one per input signature (feed shapes, plus the values of small integer feeds when
//     a shape depends on them), compiled on first use and kept in an LRU bounded by count and
//     bytes (plan_cache.ts); an evicted plan's memory goes back to the allocator;
//   - specialization: the engine's graph with the feed shapes fixed and the passes run again
//     (shape chains fold), or, for a graph already optimized (a .sparrow file's), only what the
//     new shapes allow; then fusion (src/ir/fuse.ts); a graph whose shapes are still not static
//     runs on the reference executor;
//   - run and profile through plan_runner.ts, fallbacks reported once per node and reason.
import { SparrowError } from '../errors.js';
import type { Tensor } from '../ops/types.js';
import { cloneGraph, type Graph } from '../ir/graph.js';
import { eliminateDeadNodes, foldConstants, inferShapes, optimize, setInputShapes, type OptimizeOptions } from '../ir/passes.js';
import { fuseGraph, type FuseOptions, type FuseReport } from '../ir/fuse.js';
import { SparrowWasm } from '../wasm/gateway.js';
import { checkFeeds, profilePlan, runPlan, runPlanIo, type IoRunOptions, type IoRunResult } from './plan_runner.js';
import { PlanCache, type PlanCacheLimits } from './plan_cache.js';
import { referencePlan, type CompiledPlan } from './plan_builder.js';
import { nodeWasmModule } from './node_wasm.js';

/** A node an engine runs with its TS reference kernel, and why. */
export interface FallbackOp {
  node: string;
  op: string;
  reason: string;
}

export interface EngineOptions {
  /** a compiled build/sparrow.wasm (browsers, Workers); default: compiled from disk in Node */
  wasmModule?: WebAssembly.Module;
  /** run the graph passes per signature (default true); false also skips fusion */
  optimize?: boolean;
  passes?: Omit<OptimizeOptions, 'inputShapes'>;
  /**
   * the graph is already optimized with its shapes inferred (a `.sparrow` file's): a plan only
   * fixes the input shapes and folds what they make constant, instead of running all passes
   */
  optimized?: boolean;
  /** bounds of the plan cache (default DEFAULT_PLAN_LIMITS) */
  planCache?: Partial<PlanCacheLimits>;
  /** what fusion may do, over the engine's defaults (tests compare fused and unfused plans) */
  fuse?: FuseOptions;
  /** linear memory may not grow beyond this (SparrowError 'too_large' before growing; SparrowWasm.maxBytes) */
  maxMemoryBytes?: number;
  /**
   * instantiates the module instead of SparrowWasm.instantiate (the browser's numThreads: a
   * threads build on a shared memory with helper threads, src/wasm/threads.ts)
   */
  instantiate?: (module: WebAssembly.Module) => Promise<SparrowWasm>;
}

/** Bounds an engine's memory after it was created (WasmEngine.setLimits). */
export interface EngineMemoryLimits {
  maxMemoryBytes?: number;
  planCache?: Partial<PlanCacheLimits>;
}

/** Memory of an engine (bytes). */
export interface EngineMemoryStats {
  /** linear memory size */
  wasmBytes: number;
  /** activation arena of the largest live plan */
  arenaBytes: number;
  /** what that arena would take if no buffer were shared */
  unsharedBytes: number;
  /** bytes the live plans hold (arenas + their constants) */
  planBytes: number;
  /** weights and other constants placed once per engine */
  constantBytes: number;
  /** live plans, and plans evicted so far */
  plans: number;
  evictions: number;
}

export abstract class WasmEngine {
  readonly fallbackOps: FallbackOp[] = [];
  /** bias Adds and activations fused into Conv/Gemm/MatMul, and the transformer patterns (largest plan) */
  fuse: FuseReport = { biases: 0, activations: 0 };
  protected readonly graph: Graph;
  protected readonly opts: EngineOptions;
  #wasm: SparrowWasm | undefined;
  #init: Promise<SparrowWasm> | undefined;
  readonly #plans: PlanCache<CompiledPlan>;
  /** integer graph inputs whose values join the signature (see #specialize) */
  #specializeInts = false;
  /** graph inputs whose arena slots live through whole runs (pinInputs) */
  #pinned: ReadonlySet<string> = new Set();
  /** runs so far (runIo tokens) */
  #runs = 0;

  constructor(graph: Graph, opts: EngineOptions) {
    this.graph = graph;
    this.opts = opts;
    this.#plans = new PlanCache(opts.planCache);
  }

  get wasm(): SparrowWasm | undefined {
    return this.#wasm;
  }

  /** The instantiated module (after `init`). */
  protected get w(): SparrowWasm {
    if (!this.#wasm) throw new SparrowError('internal', 'the WASM module is not instantiated yet');
    return this.#wasm;
  }

  /** Instantiates the WASM module once (a compiled module from the options, else the Node adapter's). */
  async instance(): Promise<SparrowWasm> {
    if (this.#wasm) return this.#wasm;
    this.#init ??= (async () => {
      let module = this.opts.wasmModule;
      module ??= await nodeWasmModule();
      const w = this.opts.instantiate ? await this.opts.instantiate(module) : await SparrowWasm.instantiate(module);
      if (this.opts.maxMemoryBytes !== undefined) w.maxBytes = this.opts.maxMemoryBytes;
      this.#wasm = w;
      return w;
    })();
    return this.#init;
  }

  /**
   * Instantiates the module and compiles the plan of the load-time signature (`loadFeeds`), so
   * that weights are placed at load, not at the first run.
   */
  async init(): Promise<void> {
    await this.instance();
    this.compileLoadPlan();
  }

  /** Called before each run's plan is looked up (the int8 engine's tier-up). */
  protected beforeRun(): void {}

  /** Compiles the plan of the load-time signature (at init, or again after dropPlans), if there is one. */
  protected compileLoadPlan(): void {
    const feeds = this.loadFeeds();
    if (feeds) this.planFor(feeds);
  }

  /** Shapes to compile a plan for at load (empty data), or undefined. */
  protected abstract loadFeeds(): Record<string, Tensor> | undefined;

  /** What fusion may fold into the producing nodes (the float32 kernels apply every activation). */
  protected fuseOptions(): FuseOptions {
    return {};
  }

  /** Lowers one specialized, fused, statically shaped graph to a plan. */
  protected abstract lower(g: Graph): CompiledPlan;

  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    await this.instance();
    checkFeeds(this.graph, feeds);
    this.beforeRun();
    const plan = this.planFor(feeds);
    plan.lastRun = ++this.#runs;
    return runPlan(this.w.memory, this.graph.inputs, plan, feeds);
  }

  /**
   * Inputs whose arena slots live through whole runs, so that a run may leave them as the
   * previous run of the same plan (and its caller) left them: runIo with `reuse`. The KV cache
   * of a decoder (src/runtime/generate.ts). Plans compiled before are dropped when the set changes.
   */
  pinInputs(names: readonly string[]): void {
    for (const n of names)
      if (!this.graph.inputs.includes(n)) throw new SparrowError('invalid_argument', `'${n}' is not an input of this model`);
    const next = new Set(names);
    if (next.size === this.#pinned.size && [...next].every((n) => this.#pinned.has(n))) return;
    this.#pinned = next;
    this.dropPlans();
  }

  /** The inputs pinInputs set (lowerings pass them to PlanBuilder.finish). */
  protected get pinnedInputs(): ReadonlySet<string> {
    return this.#pinned;
  }

  /**
   * A run that can keep state in the arena (plan_runner.ts runPlanIo): with `reuse` the pinned
   * inputs are not written when the run uses the plan of that earlier run and no run of the plan
   * came between; `after` sees views of the outputs and of the pinned input slots; only
   * `outputs` are copied out. `feeds` are checked as by run (pinned ones too: their shapes choose the plan).
   */
  async runIo(feeds: Record<string, Tensor>, o: IoRunOptions = {}): Promise<IoRunResult> {
    await this.instance();
    checkFeeds(this.graph, feeds);
    this.beforeRun();
    return runPlanIo(this.w.memory, this.graph.inputs, this.planFor(feeds), feeds, ++this.#runs, this.#pinned, o);
  }

  /** Mean ms per step over `runs` runs of `feeds` (diagnostics: where the time goes). */
  async profile(feeds: Record<string, Tensor>, runs = 20): Promise<Array<{ node: string; op: string; ms: number }>> {
    await this.run(feeds);
    const plan = this.planFor(feeds);
    plan.lastRun = ++this.#runs;
    return profilePlan(this.w.memory, this.graph.inputs, plan, feeds, runs, (k) => plan.labels[k]!);
  }

  memoryStats(): EngineMemoryStats {
    let arena = 0,
      unshared = 0;
    for (const p of this.#plans.values()) {
      arena = Math.max(arena, p.arenaBytes);
      unshared = Math.max(unshared, p.unsharedBytes);
    }
    return {
      wasmBytes: this.#wasm?.memoryBytes ?? 0,
      arenaBytes: arena,
      unsharedBytes: unshared,
      planBytes: this.#plans.bytes,
      constantBytes: this.constantBytes(),
      plans: this.#plans.size,
      evictions: this.#plans.evictions,
    };
  }

  /** Bytes of constants placed once per engine (weights, packed operands). */
  protected abstract constantBytes(): number;

  /** Frees every plan (the engine compiles again on the next run). */
  dropPlans(): void {
    this.#plans.clear();
  }

  /** New memory bounds: the linear-memory limit and the plan cache's (evicting down to them now). */
  setLimits(l: EngineMemoryLimits): void {
    if (l.maxMemoryBytes !== undefined) {
      if (this.#wasm) this.#wasm.maxBytes = l.maxMemoryBytes;
      this.opts.maxMemoryBytes = l.maxMemoryBytes;
    }
    if (l.planCache) this.#plans.setLimits(l.planCache);
  }

  noteFallback(f: FallbackOp): void {
    if (!this.fallbackOps.some((x) => x.node === f.node && x.reason === f.reason)) this.fallbackOps.push(f);
  }

  // ---- signatures and compilation ---------------------------------------------------------------

  #key(feeds: Record<string, Tensor>): string {
    return this.graph.inputs
      .map((n) => {
        const t = feeds[n]!;
        const ints = this.#specializeInts && isSmallInt(t) ? `=${Array.from(t.data as ArrayLike<number | bigint>, String).join(',')}` : '';
        return `${t.dims.join('x')}${ints}`;
      })
      .join(';');
  }

  protected planFor(feeds: Record<string, Tensor>): CompiledPlan {
    const key = this.#key(feeds);
    let plan = this.#plans.get(key);
    if (!plan) {
      plan = this.#compile(feeds);
      this.#plans.set(this.#key(feeds), plan); // the key may now include integer values
    }
    return plan;
  }

  #compile(feeds: Record<string, Tensor>): CompiledPlan {
    let g = this.#specialize(feeds, this.#specializeInts);
    if (!allStatic(g) && !this.#specializeInts && this.graph.inputs.some((n) => isSmallInt(feeds[n]!))) {
      const h = this.#specialize(feeds, true);
      if (allStatic(h)) {
        this.#specializeInts = true;
        g = h;
      }
    }
    if (!allStatic(g)) {
      this.noteFallback({
        node: '*',
        op: '*',
        reason: 'shapes are not static for this input signature: the whole graph runs on the reference executor',
      });
      return referencePlan(g);
    }
    if (this.opts.optimize !== false) {
      const r = fuseGraph(g, { ...this.fuseOptions(), ...this.opts.fuse });
      const f = this.fuse as unknown as Record<string, number>;
      for (const [k, v] of Object.entries(r)) if (typeof v === 'number') f[k] = Math.max(f[k] ?? 0, v);
    }
    return this.lower(g);
  }

  /**
   * The graph for one signature: the feed shapes fixed (and, with `ints`, small integer feeds
   * made constants), the passes run again — or, for an optimized graph, one shape-inference pass
   * and the folding that static shapes allow (Shape / Size and what reads them).
   */
  #specialize(feeds: Record<string, Tensor>, ints: boolean): Graph {
    const g = cloneGraph(this.graph);
    const shapes: Record<string, number[]> = Object.fromEntries(g.inputs.map((n) => [n, feeds[n]!.dims]));
    if (ints) {
      for (const n of this.graph.inputs) {
        const t = feeds[n]!;
        if (!isSmallInt(t)) continue;
        const v = g.values.get(n)!;
        v.const = { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() as Tensor['data'] };
        v.info = { dtype: t.dtype, dims: [...t.dims] };
        g.inputs = g.inputs.filter((i) => i !== n);
        delete shapes[n];
      }
    }
    if (this.opts.optimize === false) {
      for (const n of g.inputs) g.values.get(n)!.info = { dtype: g.values.get(n)!.info.dtype, dims: [...shapes[n]!] };
      inferShapes(g);
      return g;
    }
    if (!this.opts.optimized || ints) {
      optimize(g, { ...this.opts.passes, inputShapes: shapes });
      return g;
    }
    const same = g.inputs.every((n) => {
      const d = g.values.get(n)!.info.dims,
        want = shapes[n]!;
      return !!d && d.length === want.length && d.every((x, i) => x === want[i]);
    });
    if (same) return g; // the reader's shape inference holds as is
    setInputShapes(g, shapes);
    if (g.nodes.some((n) => n.domain === '' && (n.op === 'Shape' || n.op === 'Size'))) {
      foldConstants(g, this.opts.passes ?? {});
      eliminateDeadNodes(g);
    }
    return g;
  }
}

/** An int32/int64 feed small enough to specialize on its values (a shape fed at run time). */
function isSmallInt(t: Tensor): boolean {
  return (t.dtype === 'int64' || t.dtype === 'int32') && t.data.length <= 64;
}

function allStatic(g: Graph): boolean {
  const ok = (name: string): boolean => {
    const d = g.values.get(name)?.info.dims;
    return !!d && d.every((x) => x >= 0);
  };
  return (
    g.nodes.every((n) => n.inputs.every((i) => !i || ok(i)) && n.outputs.every((o) => !o || ok(o))) &&
    g.outputs.every(ok) &&
    g.inputs.every(ok)
  );
}
