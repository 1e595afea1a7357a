// The 'sparrow-f32' engine: float32 execution of an optimized Graph in WASM linear memory.
//
// Per distinct input-shape signature the engine compiles a plan, once:
//   1. specialize: the session graph gets the feed shapes and the passes run again (shape chains
//      fold); when some shape still depends on the *values* of a small integer graph input
//      (a Reshape target fed at run time), those values join the signature and fold too;
//   2. fuse (src/ir/fuse.ts): bias Adds and Relu/Clip into Conv/Gemm/MatMul;
//   3. lower every node to a WASM kernel step (assembly/f32ops/, the GEMM/conv kernels of
//      assembly/f32/), an alias (Reshape & co: no kernel), or a fallback step that runs the TS
//      reference kernel on views of the arena (int64/bool tensors, ops or attribute cases without
//      a kernel; listed in `fallbackOps`). Constants (weights) go to a constant region of linear
//      memory once per engine: Gemm/MatMul weights pre-packed in the GEMM's 8-column panels,
//      Conv weights as ONNX stores them (the conv kernel's A operand), descriptors and tables;
//   4. plan the arena (src/runtime/plan.ts) and bind each step to a closure over fixed pointers.
// `run` then writes the feeds into their arena slots, calls the closures and copies the outputs
// out (plan_runner.ts, shared with the int8 engine): no WASM memory is allocated after the first
// run of a signature.
import { SparrowError } from '../errors.js';
import { elementCount, type Attrs, type KernelContext, type Tensor, type ValueInfo } from '../ops/types.js';
import { readWindowAttrs, windowGeometry } from '../ops/ref/conv.js';
import { sliceAxes } from '../ops/ref/shape_ops.js';
import { AttrReader, broadcastIndex, normAxes, normAxis, stridesOf, toIntList } from '../ops/ref/util.js';
import { cloneGraph, formatInfo, type Graph, type Node } from '../ir/graph.js';
import { optimize, inferShapes, type OptimizeOptions } from '../ir/passes.js';
import { fuseGraph, fusedActivation, FUSED_DOMAIN, type FuseReport } from '../ir/fuse.js';
import { checkArenaPlan, planArena, type ArenaPlan, type PlanStep } from './plan.js';
import { checkFeeds, outputReader, profilePlan, runPlan, type RunnablePlan } from './plan_runner.js';
import { guardKernel } from './reference.js';
import { SparrowWasm, type WasmExports } from '../wasm/gateway.js';
import { convGeometry, planConv, CONV_GEOMETRY_BYTES } from '../kernels/f32.js';

/** A node the engine runs with its TS reference kernel, and why. */
export interface FallbackOp {
  node: string;
  op: string;
  reason: string;
}

export interface F32EngineOptions {
  /** a compiled build/sparrow.wasm (browsers, Workers); default: compiled from disk in Node */
  wasmModule?: WebAssembly.Module;
  /** run the graph passes per shape signature (default true); false also skips fusion */
  optimize?: boolean;
  passes?: Omit<OptimizeOptions, 'inputShapes'>;
}

/** Memory of the engine (bytes). */
export interface F32MemoryStats {
  /** linear memory size */
  wasmBytes: number;
  /** activation arena (the largest plan's) */
  arenaBytes: number;
  /** weights, packed weights, descriptors and tables of all plans */
  constantBytes: number;
  /** what the arena would take if no buffer were shared (the largest plan's) */
  unsharedBytes: number;
  /** compiled plans (input-shape signatures) */
  plans: number;
}

type Step = () => void;

/** What lowering a node gives: a kernel (bound to pointers after planning), an alias, or nothing to do. */
interface Lowered {
  kind: 'kernel' | 'alias' | 'noop';
  /** input positions whose storage output 0 may overwrite (elementwise kernels) */
  inPlace?: number[];
  /** scratch bytes during the step */
  scratch?: number;
  build?(b: Binder): Step;
}

/** Pointers of a node's values once the arena is placed. */
interface Binder {
  ptr(name: string): number;
  scratch: number;
}

/** A lowering returns a Lowered, or the reason the node falls back to its reference kernel. */
type Lowering = (n: Node, L: LowerCtx) => Lowered | string;

/** A plan as run by plan_runner.ts; `js` holds the non-float32 activations of the current run (fallback steps). */
interface CompiledPlan extends RunnablePlan {
  arena: ArenaPlan | undefined;
  /** the nodes of the steps (profile); absent on the reference executor */
  nodes?: Node[];
}

const F32_BYTES = 4;
const SLACK = 64; // readable bytes after the arena (kernels may load a vector past a row end)

const EMPTY: Step = () => {};

export class F32Engine {
  readonly fallbackOps: FallbackOp[] = [];
  fuse: FuseReport = { biases: 0, activations: 0 };
  readonly #graph: Graph;
  readonly #opts: F32EngineOptions;
  #wasm: SparrowWasm | undefined;
  #init: Promise<SparrowWasm> | undefined;
  readonly #plans = new Map<string, CompiledPlan>();
  /** a constant tensor's raw float32 copy in linear memory */
  readonly #constPtr = new Map<Tensor, number>();
  /** packed GEMM B operands: tensor → key → pointer */
  readonly #packed = new Map<Tensor, Map<string, number>>();
  #arenaPtr = 0;
  #arenaBytes = 0;
  #unshared = 0;
  #constBytes = 0;
  /** integer graph inputs whose values join the signature (see specialize) */
  #specializeInts = false;
  #view: Float32Array | undefined;

  constructor(graph: Graph, opts: F32EngineOptions = {}) {
    this.#graph = graph;
    this.#opts = opts;
  }

  /** Instantiates the WASM module (once) and, when all input shapes are static, compiles their plan. */
  async init(): Promise<void> {
    await this.#instance();
    const g = this.#graph;
    const shapes = g.inputs.map((n) => g.values.get(n)!.info.dims);
    const ints = g.inputs.some((n) => g.values.get(n)!.info.dtype !== 'float32');
    if (!ints && shapes.every((d) => d !== null && d.every((x) => x >= 0))) {
      const feeds = Object.fromEntries(
        g.inputs.map((n, i) => [n, { dtype: 'float32', dims: shapes[i]!, data: new Float32Array(0) } as Tensor]),
      );
      this.#planFor(feeds);
    }
  }

  async #instance(): Promise<SparrowWasm> {
    if (this.#wasm) return this.#wasm;
    if (!this.#init) {
      this.#init = (async () => {
        let module = this.#opts.wasmModule;
        if (!module) {
          const spec = '../wasm/node.js';
          const node = (await import(/* @vite-ignore */ spec)) as typeof import('../wasm/node.js');
          module = await node.compileNodeModule();
        }
        const w = await SparrowWasm.instantiate(module);
        this.#wasm = w;
        return w;
      })();
    }
    return this.#init;
  }

  get wasm(): SparrowWasm | undefined {
    return this.#wasm;
  }

  memoryStats(): F32MemoryStats {
    return {
      wasmBytes: this.#wasm?.memoryBytes ?? 0,
      arenaBytes: this.#arenaBytes,
      constantBytes: this.#constBytes,
      unsharedBytes: this.#unshared,
      plans: this.#plans.size,
    };
  }

  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    await this.#instance();
    checkFeeds(this.#graph, feeds);
    return runPlan(this.#wasm!.memory, this.#graph.inputs, this.#planFor(feeds), feeds);
  }

  /**
   * Mean milliseconds per step over `runs` runs of `feeds` (diagnostics: where the time goes).
   * Steps are the nodes of the compiled plan (after fusion), fallbacks and aliases included.
   */
  async profile(feeds: Record<string, Tensor>, runs = 20): Promise<Array<{ node: string; op: string; ms: number }>> {
    await this.run(feeds);
    const plan = this.#planFor(feeds);
    const nodes = plan.nodes;
    if (!nodes) return [];
    return profilePlan(this.#wasm!.memory, this.#graph.inputs, plan, feeds, runs, (k) => {
      const n = nodes[k]!;
      return { node: n.name, op: n.domain ? `${n.domain}.${n.op}` : n.op };
    });
  }

  /** A float32 view of all linear memory (renewed when memory has grown). */
  #f32(): Float32Array {
    const buf = this.#wasm!.memory.buffer;
    if (!this.#view || this.#view.buffer !== buf) this.#view = new Float32Array(buf);
    return this.#view;
  }

  // ---- signatures and compilation -------------------------------------------------------------

  #key(feeds: Record<string, Tensor>): string {
    const g = this.#graph;
    return g.inputs
      .map((n) => {
        const t = feeds[n]!;
        const ints = this.#specializeInts && isSmallInt(t) ? `=${Array.from(t.data as ArrayLike<number | bigint>, String).join(',')}` : '';
        return `${t.dims.join('x')}${ints}`;
      })
      .join(';');
  }

  #planFor(feeds: Record<string, Tensor>): CompiledPlan {
    const key = this.#key(feeds);
    let plan = this.#plans.get(key);
    if (!plan) {
      plan = this.#compile(feeds);
      this.#plans.set(this.#key(feeds), plan); // the key may now include integer values
    }
    return plan;
  }

  #compile(feeds: Record<string, Tensor>): CompiledPlan {
    const doOpt = this.#opts.optimize !== false;
    const allShapes: Record<string, number[]> = Object.fromEntries(this.#graph.inputs.map((n) => [n, feeds[n]!.dims]));
    const specialize = (ints: boolean): Graph => {
      const g = cloneGraph(this.#graph);
      const shapes = { ...allShapes };
      if (ints) {
        for (const n of this.#graph.inputs) {
          const t = feeds[n]!;
          if (!isSmallInt(t)) continue;
          const v = g.values.get(n)!;
          v.const = { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() as Tensor['data'] };
          v.info = { dtype: t.dtype, dims: [...t.dims] };
          g.inputs = g.inputs.filter((i) => i !== n);
          delete shapes[n];
        }
      }
      if (doOpt) optimize(g, { ...this.#opts.passes, inputShapes: Object.fromEntries(g.inputs.map((n) => [n, shapes[n]!])) });
      else {
        for (const n of g.inputs) g.values.get(n)!.info = { dtype: g.values.get(n)!.info.dtype, dims: [...shapes[n]!] };
        inferShapes(g);
      }
      return g;
    };
    let g = specialize(this.#specializeInts);
    if (!allStatic(g) && !this.#specializeInts && this.#graph.inputs.some((n) => isSmallInt(feeds[n]!))) {
      const h = specialize(true);
      if (allStatic(h)) {
        this.#specializeInts = true;
        g = h;
      }
    }
    if (!allStatic(g)) {
      this.#noteFallback({
        node: '*',
        op: '*',
        reason: 'shapes are not static for this input signature: the whole graph runs on the reference executor',
      });
      return { steps: [], feedPtr: new Map(), outputs: [], js: new Map(), arena: undefined, reference: g };
    }
    if (doOpt) {
      const r = fuseGraph(g);
      this.fuse = { biases: Math.max(this.fuse.biases, r.biases), activations: Math.max(this.fuse.activations, r.activations) };
    }
    return this.#lower(g);
  }

  #noteFallback(f: FallbackOp): void {
    if (!this.fallbackOps.some((x) => x.node === f.node && x.reason === f.reason)) this.fallbackOps.push(f);
  }

  // ---- constants ------------------------------------------------------------------------------

  #alloc(bytes: number): number {
    const p = this.#wasm!.alloc(bytes);
    this.#constBytes += Math.ceil(bytes / 16) * 16;
    return p;
  }

  /** Float32 data in the constant region. */
  putF32(data: Float32Array): number {
    const p = this.#alloc(Math.max(data.length * F32_BYTES, 16) + 16);
    this.#f32().set(data, p >> 2);
    return p;
  }

  /** Int32 data (descriptors, tables) in the constant region. */
  putI32(data: Int32Array): number {
    const p = this.#alloc(Math.max(data.length * 4, 16));
    new Int32Array(this.#wasm!.memory.buffer, p, data.length).set(data);
    return p;
  }

  /** A constant float32 tensor's data in linear memory (placed once per tensor). */
  constPtr(t: Tensor): number {
    let p = this.#constPtr.get(t);
    if (p === undefined) {
      p = this.putF32(t.data as Float32Array);
      this.#constPtr.set(t, p);
    }
    return p;
  }

  /**
   * The GEMM B operand packed from constant `t` (its matrix `index` of K·N floats, or its
   * transpose when transB), scaled by alpha; placed once per (tensor, index, transB, alpha).
   */
  packedB(t: Tensor, index: number, K: number, N: number, transB: boolean, alpha: number): number {
    const key = `${index}|${transB ? 1 : 0}|${alpha}`;
    let m = this.#packed.get(t);
    if (!m) {
      m = new Map();
      this.#packed.set(t, m);
    }
    let p = m.get(key);
    if (p !== undefined) return p;
    const ex = this.ex;
    const w = this.#wasm!;
    p = this.#alloc(ex.f32_packed_b_size(K, N) * F32_BYTES + 16);
    let src = (t.data as Float32Array).subarray(index * K * N, (index + 1) * K * N);
    if (alpha !== 1) src = src.map((v) => v * alpha);
    const mark = w.mark();
    try {
      const raw = w.alloc(src.length * F32_BYTES + 16);
      this.#f32().set(src, raw >> 2);
      ex.f32_pack_b(K, N, raw, transB ? K : N, transB ? 1 : 0, p);
    } finally {
      w.release(mark);
    }
    m.set(key, p);
    return p;
  }

  get ex(): WasmExports {
    return this.#wasm!.exports;
  }

  get wasmOrThrow(): SparrowWasm {
    if (!this.#wasm) throw new SparrowError('internal', 'the WASM module is not instantiated yet');
    return this.#wasm;
  }

  /** The float32 at byte offset p of linear memory (scalars computed at run time: Clip bounds...). */
  f32At(p: number): number {
    return this.#f32()[p >> 2]!;
  }

  /** The float32 view of all linear memory (valid until memory grows, i.e. during a run). */
  get heapF32(): Float32Array {
    return this.#f32();
  }

  /** Constant bytes allocated outside putF32/putI32 (the conv driver's geometry blocks). */
  countConstBytes(bytes: number): void {
    this.#constBytes += Math.ceil(bytes / 16) * 16;
  }

  // ---- lowering -------------------------------------------------------------------------------

  #lower(g: Graph): CompiledPlan {
    const w = this.#wasm!;
    const kind = (name: string): 'const' | 'arena' | 'js' => {
      const v = g.values.get(name);
      if (!v) throw new SparrowError('internal', `plan: unknown value '${name}'`);
      if (v.const) return 'const';
      return v.info.dtype === 'float32' ? 'arena' : 'js';
    };
    const L = new LowerCtx(g, this, kind);
    const steps: PlanStep[] = [];
    const lowered: Array<Lowered | null> = [];
    for (const n of g.nodes) {
      let low: Lowered | string;
      try {
        low = lowerNode(n, L);
      } catch (e) {
        low = e instanceof SparrowError ? `cannot lower: ${e.message}` : `lowering failed: ${(e as Error).message}`;
      }
      if (typeof low === 'string') {
        this.#noteFallback({ node: n.name, op: n.domain ? `${n.domain}.${n.op}` : n.op, reason: low });
        lowered.push(null);
      } else {
        lowered.push(low);
      }
      const reads = [...new Set(n.inputs.filter((i) => i && kind(i) === 'arena'))];
      const writes = n.outputs.filter((o) => o && kind(o) === 'arena');
      const step: PlanStep = { reads, writes };
      if (typeof low !== 'string') {
        if (low.kind === 'alias') step.alias = [n.outputs[0]!, n.inputs[0]!];
        if (low.inPlace && n.outputs[0]) {
          const out = n.outputs[0];
          step.inPlace = low.inPlace
            .map((i) => n.inputs[i]!)
            .filter((i) => i && kind(i) === 'arena' && sameDims(L.dims(i), L.dims(out)))
            .map((i) => [out, i] as const);
        }
        if (low.scratch) step.scratch = low.scratch;
      }
      steps.push(step);
    }
    const bytesOf = new Map<string, number>();
    for (const [name, v] of g.values) if (!v.const && v.info.dtype === 'float32') bytesOf.set(name, elementCount(v.info.dims!) * F32_BYTES);
    const arenaInputs = g.inputs.filter((i) => kind(i) === 'arena');
    const arenaOutputs = g.outputs.filter((o) => kind(o) === 'arena');
    const arena = planArena(steps, bytesOf, arenaInputs, arenaOutputs);
    checkArenaPlan(arena);
    if (arena.arenaBytes + SLACK > this.#arenaBytes) {
      this.#arenaPtr = w.alloc(arena.arenaBytes + SLACK);
      this.#arenaBytes = arena.arenaBytes + SLACK;
    }
    this.#unshared = Math.max(this.#unshared, arena.unsharedBytes);
    const base = this.#arenaPtr;
    const ptrOf = (name: string): number => {
      const k = kind(name);
      if (k === 'const') {
        const t = g.values.get(name)!.const!;
        if (t.dtype !== 'float32') throw new SparrowError('internal', `plan: constant '${name}' is ${t.dtype}, not float32`);
        return this.constPtr(t);
      }
      const off = arena.offsetOf.get(name);
      if (off === undefined) throw new SparrowError('internal', `plan: value '${name}' has no arena slot`);
      return base + off;
    };
    const js = new Map<string, Tensor>();
    const runSteps: Step[] = g.nodes.map((n, k) => {
      const low = lowered[k];
      if (!low) return this.#fallbackStep(g, n, kind, ptrOf, js);
      if (low.kind !== 'kernel' || !low.build) return EMPTY;
      const sc = arena.scratchOffset[k]!;
      return low.build({ ptr: ptrOf, scratch: sc < 0 ? 0 : base + sc });
    });
    const feedPtr = new Map<string, number>();
    for (const i of arenaInputs) feedPtr.set(i, ptrOf(i));
    const outputs = g.outputs.map((name) => {
      const v = g.values.get(name)!;
      return outputReader(name, v, w.memory, kind(name) === 'arena' ? ptrOf(name) : undefined, js);
    });
    return { steps: runSteps, feedPtr, outputs, js, arena, nodes: g.nodes };
  }

  /** A step running the node's reference kernel on views of the arena. */
  #fallbackStep(
    g: Graph,
    n: Node,
    kind: (name: string) => 'const' | 'arena' | 'js',
    ptrOf: (name: string) => number,
    js: Map<string, Tensor>,
  ): Step {
    const ctx: KernelContext = { opset: n.opset, node: n.name };
    const inputs = n.inputs.map((name) => {
      if (!name) return () => undefined;
      const k = kind(name);
      if (k === 'const') {
        const t = g.values.get(name)!.const!;
        return () => t;
      }
      if (k === 'arena') {
        const p = ptrOf(name),
          dims = g.values.get(name)!.info.dims!,
          len = elementCount(dims);
        return (): Tensor => ({ dtype: 'float32', dims, data: new Float32Array(this.#wasm!.memory.buffer, p, len) });
      }
      return (): Tensor => {
        const t = js.get(name);
        if (!t) throw new SparrowError('internal', `value '${name}' is read before it is computed`);
        return t;
      };
    });
    const outputs = n.outputs.map((name) => {
      if (!name) return undefined;
      const info = g.values.get(name)!.info;
      if (kind(name) === 'arena') return { name, info, p: ptrOf(name) };
      return { name, info, p: -1 };
    });
    return () => {
      const outs = guardKernel(n, () =>
        n.def.ref(
          inputs.map((f) => f()),
          n.attrs,
          ctx,
        ),
      );
      outputs.forEach((o, j) => {
        if (!o) return;
        const t = outs[j];
        if (!t) throw new SparrowError('internal', `kernel of ${n.op} returned ${outs.length} output(s) at node '${n.name}'`);
        const dims = o.info.dims!;
        if (t.dtype !== o.info.dtype || !sameDims(t.dims, dims)) {
          throw new SparrowError(
            'internal',
            `node '${n.name}' (${n.op}) computed ${t.dtype} [${t.dims.join(',')}] for '${o.name}', the plan expects ${formatInfo(o.info)}`,
          );
        }
        if (o.p >= 0) this.#f32().set(t.data as Float32Array, o.p >> 2);
        else js.set(o.name, t);
      });
    };
  }
}

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

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// =============================================================================================
// Lowering context and helpers

class LowerCtx {
  constructor(
    readonly g: Graph,
    readonly engine: F32Engine,
    readonly kind: (name: string) => 'const' | 'arena' | 'js',
  ) {}

  get ex(): WasmExports {
    return this.engine.ex;
  }

  info(name: string): ValueInfo {
    return this.g.values.get(name)!.info;
  }

  dims(name: string): number[] {
    return this.g.values.get(name)!.info.dims!;
  }

  constOf(name: string | undefined): Tensor | undefined {
    return name ? this.g.values.get(name)?.const : undefined;
  }

  /** True when `name` is float32 data a kernel can read (an arena value or a float32 constant). */
  f32(name: string | undefined): boolean {
    if (!name) return false;
    return this.g.values.get(name)!.info.dtype === 'float32';
  }

  /** An integer constant input as a list (undefined when absent; throws when not constant). */
  ints(n: Node, i: number, what: string): number[] | undefined {
    const name = n.inputs[i];
    if (!name) return undefined;
    const t = this.constOf(name);
    if (!t) throw new SparrowError('unsupported_op', `${what} is not a constant`);
    return toIntList(t, what, n.op, ctxOf(n));
  }

  /**
   * A float32 scalar input read at run time: undefined when absent, a number when constant, else
   * the value's name (an arena value of one element; read from memory before each run of the step).
   */
  scalarOrValue(n: Node, i: number, what: string): number | string | undefined {
    const name = n.inputs[i];
    if (!name) return undefined;
    const t = this.constOf(name);
    if (t) {
      if (t.dtype !== 'float32' || t.data.length !== 1) throw new SparrowError('unsupported_op', `${what} is not a float32 scalar`);
      return (t.data as Float32Array)[0]!;
    }
    if (this.kind(name) !== 'arena' || elementCount(this.dims(name)) !== 1)
      throw new SparrowError('unsupported_op', `${what} is not a float32 scalar`);
    return name;
  }

  /** The float32 scalar of a constant input (undefined when absent; throws when not a constant scalar). */
  scalar(n: Node, i: number, what: string): number | undefined {
    const name = n.inputs[i];
    if (!name) return undefined;
    const t = this.constOf(name);
    if (!t || t.dtype !== 'float32' || t.data.length !== 1)
      throw new SparrowError('unsupported_op', `${what} is not a constant float32 scalar`);
    return (t.data as Float32Array)[0]!;
  }
}

const ctxOf = (n: Node): KernelContext => ({ opset: n.opset, node: n.name });
const reader = (n: Node): AttrReader => new AttrReader(n.op, n.attrs as Attrs, ctxOf(n));

/** The reason a node cannot run in WASM because of its dtypes, or '' when all its data is float32. */
function dtypeReason(n: Node, L: LowerCtx, dataInputs: number[], nOutputs = 1): string {
  for (const i of dataInputs) {
    const name = n.inputs[i];
    if (name && !L.f32(name)) return `input ${i} is ${L.info(name).dtype}`;
  }
  for (let j = 0; j < nOutputs; j++) {
    const o = n.outputs[j];
    if (o && !L.f32(o)) return `output ${j} is ${L.info(o).dtype}`;
  }
  return '';
}

/** True when output j of n is read by some node or is a graph output. */
function outputUsed(g: Graph, n: Node, j: number): boolean {
  const o = n.outputs[j];
  if (!o) return false;
  return g.outputs.includes(o) || g.nodes.some((m) => m.inputs.includes(o));
}

// ---- broadcast descriptor (assembly/f32ops/binary.ts) -------------------------------------------

const BCAST_RANK = 6;

/** The 19-word broadcast descriptor of out = a ⊕ b, or undefined when it needs more than 6 dims. */
function bcastDesc(out: readonly number[], a: readonly number[], b: readonly number[]): Int32Array | undefined {
  const R = out.length;
  const strides = (d: readonly number[]): number[] => {
    const s = stridesOf(d);
    const off = R - d.length;
    return out.map((_, k) => (k < off || d[k - off] === 1 ? 0 : s[k - off]!));
  };
  const sa = strides(a),
    sb = strides(b);
  const axes: Array<{ n: number; a: number; b: number }> = [];
  for (let k = 0; k < R; k++) {
    if (out[k] === 1) continue;
    const cur = { n: out[k]!, a: sa[k]!, b: sb[k]! };
    const prev = axes[axes.length - 1];
    if (prev && prev.a === cur.a * cur.n && prev.b === cur.b * cur.n) {
      prev.n *= cur.n;
      prev.a = cur.a;
      prev.b = cur.b;
    } else {
      axes.push(cur);
    }
  }
  if (axes.length === 0) axes.push({ n: 1, a: 0, b: 0 });
  if (axes.length > BCAST_RANK) return undefined;
  const d = new Int32Array(1 + 3 * BCAST_RANK);
  d[0] = axes.length;
  axes.forEach((x, k) => {
    d[1 + k] = x.n;
    d[1 + BCAST_RANK + k] = x.a;
    d[1 + 2 * BCAST_RANK + k] = x.b;
  });
  return d;
}

// ---- remap descriptor (assembly/f32ops/move.ts) -------------------------------------------------

const REMAP_RANK = 8;

/** One output axis of a remap: affine (source stride + start offset) or a table (absolute offsets, -1 = fill). */
type RemapAxis = { n: number; dst: number; src: number; off: number } | { n: number; dst: number; table: Int32Array };

/** The remap descriptor's pointer (constant region), or undefined when it needs more than 8 axes. 'empty' when nothing is written. */
function remapDesc(L: LowerCtx, axes: RemapAxis[]): number | 'empty' | undefined {
  if (axes.some((x) => x.n === 0)) return 'empty';
  let base = 0;
  const kept: RemapAxis[] = [];
  for (const x of axes) {
    if ('src' in x && x.n === 1) {
      base += x.off;
      continue;
    }
    const prev = kept[kept.length - 1];
    if (prev && 'src' in prev && 'src' in x && prev.src === x.src * x.n && prev.dst === x.dst * x.n) {
      kept[kept.length - 1] = { n: prev.n * x.n, dst: x.dst, src: x.src, off: prev.off + x.off };
    } else {
      kept.push({ ...x });
    }
  }
  if (kept.length === 0) kept.push({ n: 1, dst: 1, src: 1, off: 0 });
  if (kept.length > REMAP_RANK) return undefined;
  const last = kept[kept.length - 1]!;
  const contiguous = 'src' in last && last.src === 1 && last.dst === 1;
  const d = new Int32Array(2 + 3 * kept.length);
  d[0] = kept.length;
  d[1] = contiguous ? 1 : 0;
  kept.forEach((x, k) => {
    let t: Int32Array;
    if ('src' in x) t = Int32Array.from({ length: x.n }, (_, i) => x.off + i * x.src);
    else t = x.table.slice();
    if (k === 0 && base) for (let i = 0; i < t.length; i++) if (t[i]! >= 0) t[i] = t[i]! + base;
    d[2 + 3 * k] = x.n;
    d[3 + 3 * k] = x.dst;
    d[4 + 3 * k] = L.engine.putI32(t);
  });
  return L.engine.putI32(d);
}

/** A kernel step copying value `x` (from byte offset srcOff) into value `y` (at byte offset dstOff) through remap axes. */
function remapKernel(L: LowerCtx, x: string, y: string, axes: RemapAxis[], fill = 0, srcOff = 0, dstOff = 0): Lowered | string {
  const d = remapDesc(L, axes);
  if (d === undefined) return `needs more than ${REMAP_RANK} axes after collapsing`;
  if (d === 'empty') return { kind: 'noop' };
  const ex = L.ex;
  return {
    kind: 'kernel',
    build: (b) => {
      const xp = b.ptr(x) + srcOff,
        yp = b.ptr(y) + dstOff;
      return () => ex.f32_remap__wasm(d, xp, yp, fill);
    },
  };
}

/** Several remap kernels as one step (Concat, Split). */
function multiRemap(parts: Array<{ desc: number; x: string; y: string; srcOff: number; dstOff: number }>, L: LowerCtx): Lowered {
  const ex = L.ex;
  return {
    kind: 'kernel',
    build: (b) => {
      const calls = parts.map((p) => [p.desc, b.ptr(p.x) + p.srcOff, b.ptr(p.y) + p.dstOff] as const);
      return () => {
        for (const [d, s, t] of calls) ex.f32_remap__wasm(d, s, t, 0);
      };
    },
  };
}

// =============================================================================================
// Per-op lowerings

const ALIAS_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity']);

function lowerNode(n: Node, L: LowerCtx): Lowered | string {
  const outs = n.outputs.filter((o) => o);
  if (outs.length > 0 && outs.every((o) => L.f32(o) && elementCount(L.dims(o)) === 0)) return { kind: 'noop' };
  if (n.domain === FUSED_DOMAIN) {
    if (n.op === 'FusedConv') return lowerConv(n, L);
    if (n.op === 'FusedGemm') return lowerGemm(n, L);
    if (n.op === 'FusedMatMul') return lowerMatMul(n, L);
    return `no WASM kernel for ${n.domain}.${n.op}`;
  }
  if (n.domain !== '') return `no WASM kernel for domain '${n.domain}'`;
  if (ALIAS_OPS.has(n.op)) {
    const x = n.inputs[0];
    if (!x || L.kind(x) !== 'arena') return `input is ${x ? (L.kind(x) === 'const' ? 'a constant' : L.info(x).dtype) : 'missing'}`;
    if (!L.f32(n.outputs[0])) return 'output is not float32';
    for (let i = 1; i < n.inputs.length; i++) if (n.inputs[i] && !L.constOf(n.inputs[i])) return `input ${i} is not a constant`;
    return { kind: 'alias' };
  }
  const f = LOWERINGS[n.op];
  if (!f) return `no WASM kernel for ${n.op}`;
  return f(n, L);
}

const LOWERINGS: Record<string, Lowering> = {
  Add: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  Div: binary('Div'),
  Pow: lowerPow,
  Relu: unary((ex) => (x, y, n) => ex.f32_relu__wasmsimd(x, y, n)),
  LeakyRelu: unary((ex, n) => {
    const a = reader(n).float('alpha', 0.01);
    return (x, y, k) => ex.f32_leakyrelu__wasmsimd(x, y, k, a);
  }),
  Clip: lowerClip,
  Sigmoid: unary((ex) => (x, y, n) => ex.f32_sigmoid__wasmsimd(x, y, n)),
  Tanh: unary((ex) => (x, y, n) => ex.f32_tanh__wasmsimd(x, y, n)),
  HardSigmoid: unary((ex, n) => {
    const r = reader(n);
    const a = r.float('alpha', 0.2),
      b = r.float('beta', 0.5);
    return (x, y, k) => ex.f32_hardsigmoid__wasmsimd(x, y, k, a, b);
  }),
  HardSwish: unary((ex) => (x, y, n) => ex.f32_hardswish__wasmsimd(x, y, n)),
  Exp: unary((ex) => (x, y, n) => ex.f32_exp__wasmsimd(x, y, n)),
  Sqrt: unary((ex) => (x, y, n) => ex.f32_sqrt__wasmsimd(x, y, n)),
  Erf: unary((ex) => (x, y, n) => ex.f32_erf__wasmsimd(x, y, n)),
  Gelu: unary((ex, n) => {
    const t = reader(n).stringIn('approximate', 'none', ['none', 'tanh']) === 'tanh' ? 1 : 0;
    return (x, y, k) => ex.f32_gelu__wasmsimd(x, y, k, t);
  }),
  Conv: lowerConv,
  Gemm: lowerGemm,
  MatMul: lowerMatMul,
  MaxPool: lowerPool,
  AveragePool: lowerPool,
  GlobalAveragePool: lowerGlobalAveragePool,
  Softmax: lowerSoftmax,
  LogSoftmax: lowerSoftmax,
  BatchNormalization: lowerBatchNorm,
  LayerNormalization: lowerLayerNorm,
  ReduceMean: lowerReduceMean,
  Transpose: lowerTranspose,
  Slice: lowerSlice,
  Pad: lowerPad,
  Concat: lowerConcat,
  Split: lowerSplit,
  Gather: lowerGather,
  Expand: lowerExpand,
};

// ---- elementwise ----------------------------------------------------------------------------------

type UnaryFn = (x: number, y: number, n: number) => void;

function unary(make: (ex: WasmExports, n: Node) => UnaryFn): Lowering {
  return (n, L) => {
    const why = dtypeReason(n, L, [0]);
    if (why) return why;
    const x = n.inputs[0]!,
      y = n.outputs[0]!;
    const fn = make(L.ex, n);
    const len = elementCount(L.dims(y));
    return {
      kind: 'kernel',
      inPlace: [0],
      build: (b) => {
        const xp = b.ptr(x),
          yp = b.ptr(y);
        return () => fn(xp, yp, len);
      },
    };
  };
}

const F32_MAX = 3.4028234663852886e38;

function lowerClip(n: Node, L: LowerCtx): Lowered | string {
  if (n.opset < 11) {
    const r = reader(n);
    const lo = r.float('min', -F32_MAX),
      hi = r.float('max', F32_MAX);
    return unary((ex) => (x, y, k) => ex.f32_clip__wasmsimd(x, y, k, lo, hi))(n, L);
  }
  const why = dtypeReason(n, L, [0, 1, 2]);
  if (why) return why;
  const lo = L.scalarOrValue(n, 1, 'min') ?? -F32_MAX,
    hi = L.scalarOrValue(n, 2, 'max') ?? F32_MAX;
  if (typeof lo === 'number' && typeof hi === 'number') return unary((ex) => (x, y, k) => ex.f32_clip__wasmsimd(x, y, k, lo, hi))(n, L);
  // bounds computed at run time (graph inputs or node outputs): read from memory each run
  const x = n.inputs[0]!,
    y = n.outputs[0]!,
    len = elementCount(L.dims(y));
  const ex = L.ex,
    E = L.engine;
  return {
    kind: 'kernel',
    inPlace: [0],
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y);
      const lp = typeof lo === 'string' ? b.ptr(lo) : -1,
        hp = typeof hi === 'string' ? b.ptr(hi) : -1;
      return () => ex.f32_clip__wasmsimd(xp, yp, len, lp >= 0 ? E.f32At(lp) : (lo as number), hp >= 0 ? E.f32At(hp) : (hi as number));
    },
  };
}

function binary(op: 'Add' | 'Sub' | 'Mul' | 'Div' | 'Pow'): Lowering {
  return (n, L) => {
    const why = dtypeReason(n, L, [0, 1]);
    if (why) return why;
    const a = n.inputs[0]!,
      b = n.inputs[1]!,
      y = n.outputs[0]!;
    const d = bcastDesc(L.dims(y), L.dims(a), L.dims(b));
    if (!d) return 'broadcast needs more than 6 dims after collapsing';
    const desc = L.engine.putI32(d);
    const ex = L.ex;
    const fn =
      op === 'Add'
        ? ex.f32_add_bcast__wasmsimd
        : op === 'Sub'
          ? ex.f32_sub_bcast__wasmsimd
          : op === 'Mul'
            ? ex.f32_mul_bcast__wasmsimd
            : op === 'Div'
              ? ex.f32_div_bcast__wasmsimd
              : ex.f32_pow_bcast__scalar;
    return {
      kind: 'kernel',
      inPlace: [0, 1],
      build: (bd) => {
        const ap = bd.ptr(a),
          bp = bd.ptr(b),
          yp = bd.ptr(y);
        return () => fn(desc, ap, bp, yp);
      },
    };
  };
}

function lowerPow(n: Node, L: LowerCtx): Lowered | string {
  const e = L.constOf(n.inputs[1]);
  if (
    e &&
    e.dtype === 'float32' &&
    e.data.length === 1 &&
    L.f32(n.inputs[0]) &&
    L.f32(n.outputs[0]) &&
    sameDims(L.dims(n.inputs[0]!), L.dims(n.outputs[0]!))
  ) {
    const p = (e.data as Float32Array)[0]!;
    return unary((ex) => (x, y, k) => ex.f32_pow_scalar__wasmsimd(x, y, k, p))(n, L);
  }
  return binary('Pow')(n, L);
}

// ---- Conv ---------------------------------------------------------------------------------------

/** The activation clamp of a (fused) node: [act, lo, hi]. */
function actOf(n: Node): [number, number, number] {
  const a = fusedActivation(n);
  return a ? [1, a.min, a.max] : [0, -Infinity, Infinity];
}

function lowerConv(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0, 1, 2]);
  if (why) return why;
  const [x, wName, bName] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2] ?? ''];
  const y = n.outputs[0]!;
  const W = { dims: L.dims(wName) }; // constant or fed: the kernels read ONNX's (M, C/g, KH, KW) as is
  if (bName && (L.dims(bName).length !== 1 || L.dims(bName)[0] !== W.dims[0])) return 'bias shape';
  const xd = L.dims(x),
    yd = L.dims(y);
  const nSp = xd.length - 2;
  if (nSp !== 1 && nSp !== 2) return `${nSp}-D convolution (the kernels are 1-D/2-D)`;
  const r = reader(n);
  const group = r.int('group', 1);
  const win = readWindowAttrs('Conv', r, nSp, W.dims.slice(2), false);
  const geo = windowGeometry(xd.slice(2), win);
  const [N, C] = [xd[0]!, xd[1]!];
  const M = W.dims[0]!;
  const two = <T>(v: T[], one: T): [T, T] => (nSp === 2 ? [v[0]!, v[1]!] : [one, v[0]!]);
  const [H, Wd] = two(xd.slice(2), 1);
  const [KH, KW] = two(win.kernel, 1);
  const [OH, OW] = two(yd.slice(2), 1);
  const [pt, pl] = two(geo.padBegin, 0);
  const [pb, pr] = two(geo.padEnd, 0);
  const [sh, sw] = two(win.strides, 1);
  const [dh, dw] = two(win.dilations, 1);
  const [act, lo, hi] = actOf(n);
  // the kernels engineer's driver (src/kernels/f32.ts) picks the kernel and writes the geometry block
  const geom = convGeometry(
    [C, H, Wd],
    [M, W.dims[1]!, KH, KW],
    { pads: [pt, pl, pb, pr], strides: [sh, sw], dilations: [dh, dw], groups: group },
    act ? { min: lo, max: hi } : 'none',
  );
  if (geom.OH !== OH || geom.OW !== OW) return `conv geometry ${geom.OH}x${geom.OW} differs from the inferred ${OH}x${OW}`;
  const w = L.engine.wasmOrThrow;
  const plan = planConv(w, geom);
  L.engine.countConstBytes(CONV_GEOMETRY_BYTES);
  const { kernel, g } = plan;
  const xs = C * H * Wd * F32_BYTES,
    ys = M * OH * OW * F32_BYTES;
  return {
    kind: 'kernel',
    scratch: plan.workBytes,
    build: (b) => {
      const xp = b.ptr(x),
        wp = b.ptr(wName),
        bp = bName ? b.ptr(bName) : 0,
        yp = b.ptr(y),
        s = b.scratch;
      return () => {
        for (let i = 0; i < N; i++) {
          if (kernel.run(w, g, xp + i * xs, wp, bp, yp + i * ys, s) < 0)
            throw new SparrowError('internal', `${kernel.name} rejected node '${n.name}'`);
        }
      };
    },
  };
}

// ---- Gemm / MatMul --------------------------------------------------------------------------------

const BIAS_NONE = 0,
  BIAS_ROW = 1,
  BIAS_COL = 2;

function lowerGemm(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0, 1, 2]);
  if (why) return why;
  const r = reader(n);
  const alpha = r.float('alpha', 1),
    beta = r.float('beta', 1);
  const transA = r.intIn('transA', 0, [0, 1]) === 1,
    transB = r.intIn('transB', 0, [0, 1]) === 1;
  const [a, bName, cName] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2] ?? ''];
  const y = n.outputs[0]!;
  const ad = L.dims(a),
    bd = L.dims(bName);
  if (ad.length !== 2 || bd.length !== 2) return 'A and B must be 2-D';
  const [M, K] = transA ? [ad[1]!, ad[0]!] : [ad[0]!, ad[1]!];
  const N = transB ? bd[0]! : bd[1]!;
  const ex = L.ex,
    E = L.engine;
  const [act, lo, hi] = actOf(n);
  let scratch = 0;
  // B: packed once when constant, else per run into scratch
  // alpha goes into the packed B when B is constant, else into a constant A, else the product is scaled after
  const Bc = L.constOf(bName);
  const Ac = L.constOf(a);
  const alphaA = !Bc && Ac ? alpha : 1;
  const postScale = !Bc && !Ac && alpha !== 1;
  let bPacked = 0,
    bScratchOff = -1;
  if (Bc) bPacked = E.packedB(Bc, 0, K, N, transB, alpha);
  else {
    bScratchOff = scratch;
    scratch += ex.f32_packed_b_size(K, N) * F32_BYTES + 16;
  }
  // A: transposed (and scaled) once when constant, else transposed per run into scratch
  let aConstPtr = 0,
    aScratchOff = -1,
    aTransDesc = 0;
  if (Ac && (transA || alphaA !== 1)) {
    const src = Ac.data as Float32Array,
      t = new Float32Array(M * K);
    for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) t[i * K + k] = alphaA * src[transA ? k * M + i : i * K + k]!;
    aConstPtr = E.putF32(t);
  }
  if (transA) {
    if (Ac) {
      // done above
    } else {
      const d = remapDesc(L, [
        { n: M, dst: K, src: 1, off: 0 },
        { n: K, dst: 1, src: M, off: 0 },
      ]);
      if (typeof d !== 'number') return 'cannot transpose A';
      aTransDesc = d;
      aScratchOff = scratch;
      scratch += M * K * F32_BYTES + 16;
    }
  }
  // C: per-column / per-row bias, or added after the product
  let biasPtr = 0,
    biasMode = BIAS_NONE;
  let post: { desc: number; c: string | number } | undefined;
  let betaC: { desc: number; beta: number; off: number } | undefined;
  const C = L.constOf(cName);
  if (cName && beta !== 0) {
    const cd = L.dims(cName);
    const rank2 = [...new Array(Math.max(0, 2 - cd.length)).fill(1), ...cd];
    if (cd.length > 2) return 'C has rank > 2';
    if (C && rank2[0] === 1) {
      const src = C.data as Float32Array;
      biasPtr = E.putF32(Float32Array.from({ length: N }, (_, j) => beta * src[rank2[1] === 1 ? 0 : j]!));
      biasMode = BIAS_COL;
    } else if (C && rank2[1] === 1 && rank2[0] === M) {
      const src = C.data as Float32Array;
      biasPtr = E.putF32(Float32Array.from({ length: M }, (_, i) => beta * src[i]!));
      biasMode = BIAS_ROW;
    } else {
      const desc = bcastDesc([M, N], [M, N], cd);
      if (!desc) return 'cannot broadcast C';
      if (C) post = { desc: E.putI32(desc), c: E.putF32((C.data as Float32Array).map((v) => v * beta)) };
      else if (beta === 1) post = { desc: E.putI32(desc), c: cName };
      else {
        // beta·C into scratch ([M, N], broadcast), then added like a full C
        betaC = { desc: E.putI32(bcastDesc([M, N], cd, [])!), beta: E.putF32(Float32Array.of(beta)), off: scratch };
        scratch += M * N * F32_BYTES + 16;
        post = { desc: E.putI32(bcastDesc([M, N], [M, N], [M, N])!), c: cName };
      }
    }
  }
  // alpha after the product: y·alpha, then the bias as an add
  let scaleDesc = 0,
    alphaPtr = 0;
  if (postScale) {
    scaleDesc = E.putI32(bcastDesc([M * N], [M * N], [])!);
    alphaPtr = E.putF32(Float32Array.of(alpha));
    if (biasMode !== BIAS_NONE) {
      if (post) throw new SparrowError('internal', 'gemm: both a bias and a post-add');
      post = { desc: E.putI32(bcastDesc([M, N], [M, N], biasMode === BIAS_COL ? [N] : [M, 1])!), c: biasPtr };
      biasMode = BIAS_NONE;
      biasPtr = 0;
    }
  }
  const postOps = !!post || postScale;
  const biasP = biasPtr,
    biasM = biasMode;
  return {
    kind: 'kernel',
    scratch,
    build: (b) => {
      const yp = b.ptr(y);
      const bp = Bc ? bPacked : b.scratch + bScratchOff;
      const bRaw = Bc ? 0 : b.ptr(bName);
      const aRaw = aConstPtr || b.ptr(a);
      const ap = transA && !Ac ? b.scratch + aScratchOff : aRaw;
      const cFed = post && typeof post.c === 'string' ? b.ptr(post.c) : 0;
      const betaOut = betaC ? b.scratch + betaC.off : 0;
      const postC = post ? (typeof post.c === 'number' ? post.c : betaC ? betaOut : cFed) : 0;
      const postDesc = post?.desc ?? 0;
      const gemmAct = postOps ? 0 : act;
      return () => {
        if (!Bc) ex.f32_pack_b(K, N, bRaw, transB ? K : N, transB ? 1 : 0, bp);
        if (transA && !Ac) ex.f32_remap__wasm(aTransDesc, aRaw, ap, 0);
        ex.f32_gemm__wasmsimd(M, N, K, ap, K, bp, yp, N, biasP, biasM, gemmAct, lo, hi);
        if (postOps) {
          if (postScale) ex.f32_mul_bcast__wasmsimd(scaleDesc, yp, alphaPtr, yp);
          if (betaC) ex.f32_mul_bcast__wasmsimd(betaC.desc, cFed, betaC.beta, betaOut);
          if (postDesc) ex.f32_add_bcast__wasmsimd(postDesc, yp, postC, yp);
          if (act) ex.f32_clip__wasmsimd(yp, yp, M * N, lo, hi);
        }
      };
    },
  };
}

function lowerMatMul(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0, 1, 2]);
  if (why) return why;
  const [a, bName, biasName] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2] ?? ''];
  const y = n.outputs[0]!;
  const ad = L.dims(a),
    bd = L.dims(bName);
  if (ad.length === 0 || bd.length === 0) return 'scalar operand';
  const a2 = ad.length === 1 ? [1, ad[0]!] : ad,
    b2 = bd.length === 1 ? [bd[0]!, 1] : bd;
  const M = a2[a2.length - 2]!,
    K = a2[a2.length - 1]!,
    N = b2[b2.length - 1]!;
  if (b2[b2.length - 2] !== K) return 'inner dimensions differ';
  const aBatch = a2.slice(0, -2),
    bBatch = b2.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const pad = (d: number[]) => [...new Array(rank - d.length).fill(1), ...d];
  const batch = pad(aBatch).map((x, i) => Math.max(x, pad(bBatch)[i]!));
  const nb = elementCount(batch);
  const ia = broadcastIndex(aBatch, batch),
    ib = broadcastIndex(bBatch, batch);
  const ex = L.ex,
    E = L.engine;
  const [act, lo, hi] = actOf(n);
  let biasPtr = 0,
    biasMode = BIAS_NONE;
  if (biasName) {
    const bc = L.constOf(biasName);
    if (!bc || bc.data.length !== N) return 'bias is not a constant of N values';
    biasPtr = E.constPtr(bc);
    biasMode = BIAS_COL;
  }
  const Bc = L.constOf(bName);
  const nbB = elementCount(bBatch);
  let scratch = 0;
  let packed: number[] = [];
  if (Bc) packed = Array.from({ length: nbB }, (_, i) => E.packedB(Bc, i, K, N, false, 1));
  else scratch = ex.f32_packed_b_size(K, N) * F32_BYTES + 16;
  const MK = M * K * F32_BYTES,
    KN = K * N * F32_BYTES,
    MN = M * N * F32_BYTES;
  // one GEMM over all rows of A when B is one constant matrix
  const single = Bc && nbB === 1 && elementCount(aBatch) === nb;
  return {
    kind: 'kernel',
    scratch,
    build: (b) => {
      const ap = b.ptr(a),
        yp = b.ptr(y),
        bRaw = Bc ? 0 : b.ptr(bName),
        s = b.scratch;
      if (single) {
        const rows = nb * M,
          bp = packed[0]!;
        return () => ex.f32_gemm__wasmsimd(rows, N, K, ap, K, bp, yp, N, biasPtr, biasMode, act, lo, hi);
      }
      const aOffs = Array.from({ length: nb }, (_, t) => ap + (ia ? ia[t]! : t) * MK);
      const bIdx = Array.from({ length: nb }, (_, t) => (ib ? ib[t]! : t));
      return () => {
        let packedIdx = -1;
        for (let t = 0; t < nb; t++) {
          let bp: number;
          if (Bc) bp = packed[bIdx[t]!]!;
          else {
            if (bIdx[t] !== packedIdx) {
              ex.f32_pack_b(K, N, bRaw + bIdx[t]! * KN, N, 0, s);
              packedIdx = bIdx[t]!;
            }
            bp = s;
          }
          ex.f32_gemm__wasmsimd(M, N, K, aOffs[t]!, K, bp, yp + t * MN, N, biasPtr, biasMode, act, lo, hi);
        }
      };
    },
  };
}

// ---- pooling ----------------------------------------------------------------------------------------

function lowerPool(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  if (n.op === 'MaxPool' && outputUsed(L.g, n, 1)) return 'the Indices output is used';
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const xd = L.dims(x),
    yd = L.dims(y);
  const nSp = xd.length - 2;
  if (nSp !== 1 && nSp !== 2) return `${nSp}-D pooling (the kernels are 1-D/2-D)`;
  const r = reader(n);
  const win = readWindowAttrs(n.op, r, nSp, undefined, true);
  const geo = windowGeometry(xd.slice(2), win);
  const incl = n.op === 'AveragePool' ? r.intIn('count_include_pad', 0, [0, 1]) : 0;
  const two = <T>(v: T[], one: T): [T, T] => (nSp === 2 ? [v[0]!, v[1]!] : [one, v[0]!]);
  const [H, W] = two(xd.slice(2), 1),
    [OH, OW] = two(yd.slice(2), 1),
    [KH, KW] = two(win.kernel, 1);
  const [sh, sw] = two(win.strides, 1),
    [dh, dw] = two(win.dilations, 1);
  const [pt, pl] = two(geo.padBegin, 0),
    [pb, pr] = two(geo.padEnd, 0);
  const g = L.engine.putI32(Int32Array.from([xd[0]! * xd[1]!, H, W, OH, OW, KH, KW, sh, sw, dh, dw, pt, pl, pb, pr, incl]));
  const ex = L.ex;
  const fn = n.op === 'MaxPool' ? ex.f32_maxpool2d__wasm : ex.f32_avgpool2d__wasm;
  return {
    kind: 'kernel',
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y);
      return () => fn(g, xp, yp);
    },
  };
}

function lowerGlobalAveragePool(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const xd = L.dims(x);
  if (xd.length < 3) return 'rank < 3';
  const NC = xd[0]! * xd[1]!,
    S = elementCount(xd.slice(2));
  const ex = L.ex;
  return {
    kind: 'kernel',
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y);
      return () => ex.f32_mean__wasmsimd(xp, yp, NC, S, 1);
    },
  };
}

// ---- normalizations -------------------------------------------------------------------------------

function lowerSoftmax(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const d = L.dims(x),
    rank = d.length;
  const r = reader(n);
  let outer = 1,
    len = 1,
    inner = 1;
  if (rank > 0) {
    if (n.opset < 13) {
      const axis = normAxis(r.int('axis', 1), rank, n.op, ctxOf(n));
      outer = elementCount(d.slice(0, axis));
      len = elementCount(d.slice(axis));
    } else {
      const axis = normAxis(r.int('axis', -1), rank, n.op, ctxOf(n));
      outer = elementCount(d.slice(0, axis));
      len = d[axis]!;
      inner = elementCount(d.slice(axis + 1));
    }
  }
  const log = n.op === 'LogSoftmax' ? 1 : 0;
  const ex = L.ex;
  return {
    kind: 'kernel',
    inPlace: [0],
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y);
      return () => ex.f32_softmax__wasmsimd(xp, yp, outer, len, inner, log);
    },
  };
}

function lowerBatchNorm(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0, 1, 2, 3, 4]);
  if (why) return why;
  const r = reader(n);
  if (n.opset < 9 && r.intIn('spatial', 1, [0, 1]) === 0) return 'spatial = 0';
  if (n.opset >= 14 && r.intIn('training_mode', 0, [0, 1]) === 1) return 'training mode';
  if (n.outputs.slice(1).some((o) => o)) return 'running statistics outputs';
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const d = L.dims(x);
  if (d.length < 2) return 'rank < 2';
  const C = d[1]!;
  const pnames = n.inputs.slice(1, 5);
  if (pnames.length !== 4 || pnames.some((p) => !p || elementCount(L.dims(p)) !== C)) return 'parameter sizes differ from C';
  const eps = r.float('epsilon', 1e-5);
  const E = L.engine,
    ex = L.ex;
  const outer = d[0]!,
    inner = elementCount(d.slice(2));
  const consts = pnames.map((p) => L.constOf(p));
  if (consts.every((t) => t)) {
    // constant parameters: y = x·s + t with s, t folded once (float64, rounded once)
    const [sc, bi, mean, vr] = consts.map((t) => t!.data as Float32Array) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const s = new Float32Array(C),
      t = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      const k = sc[c]! / Math.sqrt(vr[c]! + eps);
      s[c] = k;
      t[c] = bi[c]! - mean[c]! * k;
    }
    const sp = E.putF32(s),
      tp = E.putF32(t);
    return {
      kind: 'kernel',
      inPlace: [0],
      build: (b) => {
        const xp = b.ptr(x),
          yp = b.ptr(y);
        return () => ex.f32_channel_affine__wasmsimd(xp, sp, tp, yp, outer, C, inner);
      },
    };
  }
  // fed parameters: s and t recomputed before each run of the step (C values, in JS)
  const sp = E.putF32(new Float32Array(C)),
    tp = E.putF32(new Float32Array(C));
  return {
    kind: 'kernel',
    inPlace: [0],
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y);
      const [ps, pb, pm, pv] = pnames.map((p) => b.ptr(p!) >> 2) as [number, number, number, number];
      const s0 = sp >> 2,
        t0 = tp >> 2;
      return () => {
        const F = E.heapF32;
        for (let c = 0; c < C; c++) {
          const k = F[ps + c]! / Math.sqrt(F[pv + c]! + eps);
          F[s0 + c] = k;
          F[t0 + c] = F[pb + c]! - F[pm + c]! * k;
        }
        ex.f32_channel_affine__wasmsimd(xp, sp, tp, yp, outer, C, inner);
      };
    },
  };
}

function lowerLayerNorm(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0, 1, 2], 3);
  if (why) return why;
  const r = reader(n);
  const eps = r.float('epsilon', 1e-5);
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const d = L.dims(x);
  const axis = normAxis(r.int('axis', -1), d.length, n.op, ctxOf(n));
  const outer = elementCount(d.slice(0, axis)),
    innerDims = d.slice(axis),
    inner = elementCount(innerDims);
  const E = L.engine;
  /** A per-row vector (inner floats) for Scale / B: constants broadcast over the normalized dims only. */
  const rowVec = (name: string | undefined, what: string): number | string => {
    if (!name) return 0;
    const t = L.constOf(name);
    if (!t) {
      // fed: usable in place when it holds exactly one row (its dims are the normalized dims, after leading 1s)
      const td = L.dims(name);
      const lead = td.length - innerDims.length;
      if (lead >= 0 && td.slice(0, lead).every((v) => v === 1) && sameDims(td.slice(lead), innerDims)) return -1;
      return `${what} is fed and broadcasts within the normalized axes`;
    }
    const td = t.dims;
    const off = d.length - td.length;
    if (td.some((v, i) => i + off < axis && v !== 1)) return `${what} varies outside the normalized axes`;
    const tail = td.slice(Math.max(0, axis - off));
    const map = broadcastIndex(tail, innerDims);
    const src = t.data as Float32Array;
    return E.putF32(Float32Array.from({ length: inner }, (_, i) => src[map ? map[i]! : i]!));
  };
  const sc = rowVec(n.inputs[1], 'Scale'),
    bi = rowVec(n.inputs[2], 'B');
  if (typeof sc === 'string') return sc;
  if (typeof bi === 'string') return bi;
  const [meanName, invName] = [n.outputs[1] ?? '', n.outputs[2] ?? ''];
  const ex = L.ex;
  return {
    kind: 'kernel',
    inPlace: [0],
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y),
        mp = meanName ? b.ptr(meanName) : 0,
        ip = invName ? b.ptr(invName) : 0;
      const sp = sc === -1 ? b.ptr(n.inputs[1]!) : sc,
        bp = bi === -1 ? b.ptr(n.inputs[2]!) : bi;
      return () => ex.f32_layernorm__wasmsimd(xp, sp, bp, yp, mp, ip, outer, inner, eps);
    },
  };
}

function lowerReduceMean(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  const r = reader(n);
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const d = L.dims(x);
  let axes: number[] | undefined;
  if (n.opset >= 18) axes = L.ints(n, 1, 'axes');
  else axes = r.ints('axes');
  if (!axes || axes.length === 0) {
    if (n.opset >= 18 && r.int('noop_with_empty_axes', 0) === 1) return { kind: 'alias' };
    axes = d.map((_, i) => i);
  }
  const ax = normAxes(axes, d.length, n.op, ctxOf(n));
  // the reduced axes (ignoring size-1 axes) must be one contiguous block
  const big = d.map((v, i) => ({ v, i })).filter((e) => e.v !== 1);
  const red = big.filter((e) => ax.includes(e.i));
  if (red.length === 0) return { kind: 'alias' };
  const firstPos = big.indexOf(red[0]!),
    lastPos = big.indexOf(red[red.length - 1]!);
  if (lastPos - firstPos + 1 !== red.length) return 'the reduced axes are not contiguous';
  const outer = elementCount(big.slice(0, firstPos).map((e) => e.v));
  const len = elementCount(red.map((e) => e.v));
  const inner = elementCount(big.slice(lastPos + 1).map((e) => e.v));
  const ex = L.ex;
  return {
    kind: 'kernel',
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y);
      return () => ex.f32_mean__wasmsimd(xp, yp, outer, len, inner);
    },
  };
}

// ---- data movement --------------------------------------------------------------------------------

function lowerTranspose(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const xd = L.dims(x),
    rank = xd.length;
  const perm = reader(n).ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inS = stridesOf(xd),
    outS = stridesOf(L.dims(y));
  return remapKernel(
    L,
    x,
    y,
    perm.map((p, k) => ({ n: xd[p]!, dst: outS[k]!, src: inS[p]!, off: 0 })),
  );
}

function lowerSlice(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const xd = L.dims(x);
  let spec;
  if (n.opset < 10) {
    const r = reader(n);
    const starts = r.ints('starts'),
      ends = r.ints('ends');
    if (!starts || !ends) return 'starts/ends missing';
    spec = sliceAxes(xd, starts, ends, r.ints('axes'), undefined, n.op, ctxOf(n));
  } else {
    const starts = L.ints(n, 1, 'starts'),
      ends = L.ints(n, 2, 'ends');
    if (!starts || !ends) return 'starts/ends missing';
    spec = sliceAxes(xd, starts, ends, L.ints(n, 3, 'axes'), L.ints(n, 4, 'steps'), n.op, ctxOf(n));
  }
  const inS = stridesOf(xd),
    yd = L.dims(y),
    outS = stridesOf(yd);
  const start = xd.map(() => 0),
    step = xd.map(() => 1);
  for (const s of spec) {
    start[s.axis] = s.start;
    step[s.axis] = s.step;
  }
  return remapKernel(
    L,
    x,
    y,
    yd.map((cnt, k) => ({ n: cnt, dst: outS[k]!, src: inS[k]! * step[k]!, off: start[k]! * inS[k]! })),
  );
}

function lowerPad(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const xd = L.dims(x),
    rank = xd.length;
  const r = reader(n);
  let mode: string,
    pads: number[] | undefined,
    value = 0,
    axes: number[] | undefined,
    valueName = '';
  if (n.opset < 11) {
    mode = r.stringIn('mode', 'constant', ['constant', 'reflect', 'edge']);
    pads = r.ints('pads');
    value = r.float('value', 0);
  } else {
    mode = r.stringIn('mode', 'constant', n.opset >= 19 ? ['constant', 'reflect', 'edge', 'wrap'] : ['constant', 'reflect', 'edge']);
    pads = L.ints(n, 1, 'pads');
    const cvName = n.inputs[2] ?? '';
    const cv = cvName ? L.constOf(cvName) : undefined;
    if (cv && cv.data.length > 0) value = Number(cv.data[0]);
    else if (cvName && !cv) {
      if (L.kind(cvName) !== 'arena' || elementCount(L.dims(cvName)) !== 1) return 'constant_value is not a float32 scalar';
      valueName = cvName;
    }
    if (n.opset >= 18) axes = L.ints(n, 3, 'axes');
  }
  if (!pads) return 'pads missing';
  const ax = axes ? normAxes(axes, rank, n.op, ctxOf(n)) : xd.map((_, i) => i);
  if (pads.length !== 2 * ax.length) return 'pads length';
  const full = new Array<number>(2 * rank).fill(0);
  ax.forEach((a, i) => {
    full[a] = pads![i]!;
    full[a + rank] = pads![i + ax.length]!;
  });
  const yd = L.dims(y),
    inS = stridesOf(xd),
    outS = stridesOf(yd);
  const axesR: RemapAxis[] = [];
  for (let k = 0; k < rank; k++) {
    const size = xd[k]!,
      pb = full[k]!,
      pe = full[k + rank]!;
    if (pb === 0 && pe === 0) {
      axesR.push({ n: size, dst: outS[k]!, src: inS[k]!, off: 0 });
      continue;
    }
    if (size === 0 && mode !== 'constant') return `${mode} padding of an empty axis`;
    const table = new Int32Array(yd[k]!);
    for (let o = 0; o < yd[k]!; o++) {
      let p = o - pb;
      if (p < 0 || p >= size) {
        if (mode === 'constant') {
          table[o] = -1;
          continue;
        }
        if (mode === 'edge') p = p < 0 ? 0 : size - 1;
        else if (mode === 'wrap') p = ((p % size) + size) % size;
        else if (size === 1) p = 0;
        else {
          const period = 2 * (size - 1);
          p = ((p % period) + period) % period;
          if (p >= size) p = period - p;
        }
      }
      table[o] = p * inS[k]!;
    }
    axesR.push({ n: yd[k]!, dst: outS[k]!, table });
  }
  if (!valueName) return remapKernel(L, x, y, axesR, value);
  const d = remapDesc(L, axesR);
  if (d === undefined) return `needs more than ${REMAP_RANK} axes after collapsing`;
  if (d === 'empty') return { kind: 'noop' };
  const ex = L.ex,
    E = L.engine;
  return {
    kind: 'kernel',
    build: (b) => {
      const xp = b.ptr(x),
        yp = b.ptr(y),
        vp = b.ptr(valueName);
      return () => ex.f32_remap__wasm(d, xp, yp, E.f32At(vp));
    },
  };
}

function lowerConcat(n: Node, L: LowerCtx): Lowered | string {
  const parts = n.inputs.filter((i) => i);
  for (const p of parts) if (!L.f32(p)) return `input is ${L.info(p).dtype}`;
  if (!L.f32(n.outputs[0])) return 'output is not float32';
  const y = n.outputs[0]!,
    yd = L.dims(y);
  const axis = normAxis(reader(n).requiredInt('axis'), yd.length, n.op, ctxOf(n));
  const outer = elementCount(yd.slice(0, axis)),
    inner = elementCount(yd.slice(axis + 1)),
    total = yd[axis]!;
  const calls: Array<{ desc: number; x: string; y: string; srcOff: number; dstOff: number }> = [];
  let offset = 0;
  for (const p of parts) {
    const len = L.dims(p)[axis]!;
    const d = remapDesc(L, [
      { n: outer, dst: total * inner, src: len * inner, off: 0 },
      { n: len * inner, dst: 1, src: 1, off: 0 },
    ]);
    if (d === undefined) return 'remap rank';
    if (d !== 'empty') calls.push({ desc: d, x: p, y, srcOff: 0, dstOff: offset * inner * F32_BYTES });
    offset += len;
  }
  return multiRemap(calls, L);
}

function lowerSplit(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0], n.outputs.length);
  if (why) return why;
  const x = n.inputs[0]!,
    xd = L.dims(x);
  if (n.opset >= 13 && n.inputs[1] && !L.constOf(n.inputs[1])) return 'split is not a constant';
  const axis = normAxis(reader(n).int('axis', 0), xd.length, n.op, ctxOf(n));
  const outer = elementCount(xd.slice(0, axis)),
    inner = elementCount(xd.slice(axis + 1)),
    len = xd[axis]!;
  const calls: Array<{ desc: number; x: string; y: string; srcOff: number; dstOff: number }> = [];
  let start = 0;
  for (const o of n.outputs) {
    if (!o) return 'an omitted output';
    const s = L.dims(o)[axis]!;
    const d = remapDesc(L, [
      { n: outer, dst: s * inner, src: len * inner, off: 0 },
      { n: s * inner, dst: 1, src: 1, off: 0 },
    ]);
    if (d === undefined) return 'remap rank';
    if (d !== 'empty') calls.push({ desc: d, x, y: o, srcOff: start * inner * F32_BYTES, dstOff: 0 });
    start += s;
  }
  return multiRemap(calls, L);
}

function lowerGather(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const idx = L.constOf(n.inputs[1]);
  if (!idx) return 'indices are not a constant';
  const xd = L.dims(x);
  const axis = normAxis(reader(n).int('axis', 0), xd.length, n.op, ctxOf(n));
  const len = xd[axis]!,
    outer = elementCount(xd.slice(0, axis)),
    inner = elementCount(xd.slice(axis + 1));
  const list = toIntList(idx, 'indices', n.op, ctxOf(n));
  if (list.some((i) => i < -len || i >= len)) return 'an index is out of range';
  const table = Int32Array.from(list, (i) => (i < 0 ? i + len : i) * inner);
  return remapKernel(L, x, y, [
    { n: outer, dst: list.length * inner, src: len * inner, off: 0 },
    { n: list.length, dst: inner, table },
    { n: inner, dst: 1, src: 1, off: 0 },
  ]);
}

function lowerExpand(n: Node, L: LowerCtx): Lowered | string {
  const why = dtypeReason(n, L, [0]);
  if (why) return why;
  if (!L.constOf(n.inputs[1])) return 'shape is not a constant';
  const x = n.inputs[0]!,
    y = n.outputs[0]!;
  const xd = L.dims(x),
    yd = L.dims(y);
  const inS = stridesOf(xd),
    outS = stridesOf(yd),
    off = yd.length - xd.length;
  return remapKernel(
    L,
    x,
    y,
    yd.map((d, k) => ({ n: d, dst: outS[k]!, src: k < off || xd[k - off] === 1 ? 0 : inS[k - off]!, off: 0 })),
  );
}
