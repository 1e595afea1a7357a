// What every WASM engine does to turn one specialized graph into a runnable plan, whatever its
// kernels: the values that live in the arena (by byte size and storage form), the steps in
// execution order, aliases, the fallback step that runs a node's reference kernel on views of the
// arena, the arena plan (src/runtime/plan.ts), and the binding of each step to fixed pointers.
// An engine (engine_f32.ts, engine_int8.ts) only lowers nodes to steps; src/runtime/engine.ts
// holds the rest of the skeleton (WASM init, the plan cache, specialization, run, profile).
//
// Memory: a plan owns a PlanMemory, its arena block and its constants (descriptors, tables,
// quantization blocks written while lowering), all taken from the gateway's block allocator
// (SparrowWasm.malloc) and given back together when the plan cache evicts it.
import { SparrowError } from '../errors.js';
import {
  ARRAY_OF,
  elementCount,
  type KernelContext,
  type Tensor,
  type TensorData,
  type TensorDType,
  type ValueInfo,
} from '../ops/types.js';
import { formatInfo, type Graph, type Node } from '../ir/graph.js';
import { dequantizeRef, quantizeRef } from '../kernels/int8_ref.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import { checkArenaPlan, planArena, type PlanStep } from './plan.js';
import { outputReader, type RunnablePlan } from './plan_runner.js';
import { guardKernel } from './reference.js';

/** readable bytes after the arena (kernels may load a vector past a row end) */
const SLACK = 64;
const CHUNK = 4096;

/** Memory a plan holds in linear memory: 16-aligned pieces cut from malloc'd chunks, freed together. */
export class PlanMemory {
  readonly #w: SparrowWasm;
  readonly #blocks: number[] = [];
  #cur = 0;
  #end = 0;
  #bytes = 0;

  constructor(w: SparrowWasm) {
    this.#w = w;
  }

  /** bytes of linear memory held (chunks and blocks) */
  get bytes(): number {
    return this.#bytes;
  }

  /** `bytes` (16-aligned) that live as long as the plan. */
  alloc(bytes: number): number {
    const need = Math.max(16, Math.ceil(bytes / 16) * 16); // not `& ~15`: int32, it wraps at 2 GiB
    if (this.#cur + need > this.#end) {
      if (need >= CHUNK / 2) return this.block(need);
      this.#cur = this.block(CHUNK);
      this.#end = this.#cur + CHUNK;
    }
    const p = this.#cur;
    this.#cur += need;
    return p;
  }

  /** A block of its own (the arena). */
  block(bytes: number): number {
    const p = this.#w.malloc(bytes);
    this.#blocks.push(p);
    this.#bytes += Math.max(16, Math.ceil(bytes / 16) * 16);
    return p;
  }

  putF32(data: ArrayLike<number>): number {
    const p = this.alloc(Math.max(data.length * 4, 16) + 16);
    this.#w.f32(p, data.length).set(data);
    return p;
  }

  putI32(data: ArrayLike<number>): number {
    const p = this.alloc(Math.max(data.length * 4, 16));
    this.#w.i32(p, data.length).set(data);
    return p;
  }

  /** Any typed array's bytes, 16 zero bytes after. */
  putBytes(data: ArrayBufferView): number {
    const p = this.alloc(data.byteLength + 16);
    const u = this.#w.u8(p, data.byteLength + 16);
    u.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    u.fill(0, data.byteLength);
    return p;
  }

  dispose(): void {
    for (const p of this.#blocks.splice(0)) this.#w.free(p);
    this.#cur = this.#end = this.#bytes = 0;
  }
}

/**
 * How a value is stored in the arena: a float activation as float32, or as int8 with its
 * parameters; 'native': any tensor as its dtype's typed array stores it (int64 as 8-byte
 * integers, bool as bytes...), the form of non-float values in engines that keep them in the
 * arena (`PlanBuilder.arenaAll`).
 */
export type Form = 'f32' | 'i8' | 'native';

/** Bytes per element of a dtype's typed array (bool: 1). */
export function dtypeBytes(dtype: TensorDType): number {
  return (ARRAY_OF[dtype] as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
}

/** A typed-array view of n elements of `dtype` at byte offset p of `buf`. */
export function viewOf(buf: ArrayBufferLike, dtype: TensorDType, p: number, n: number): TensorData {
  const C = ARRAY_OF[dtype] as unknown as new (b: ArrayBufferLike, off: number, len: number) => TensorData;
  return new C(buf, p, n);
}
export interface QParams {
  scale: number;
  zp: number;
}

/** Pointers of a step's values once the arena is placed. */
export interface Binder {
  ptr(name: string): number;
  /** the step's scratch (0 when it asked for none) */
  scratch: number;
}

/** One step as lowered: what it reads and writes in the arena, and how to bind it. */
export interface StepSpec extends PlanStep {
  /** node name (profile, errors) */
  label: string;
  op: string;
  /** absent: nothing to run (aliases, empty outputs) */
  build?(b: Binder): () => void;
}

/** A plan ready to run (plan_runner.ts) that holds linear memory. */
export interface CompiledPlan extends RunnablePlan {
  /** node and op of each step (profile) */
  labels: Array<{ node: string; op: string }>;
  /** WASM bytes held (arena + constants) */
  bytes: number;
  /** activation arena bytes */
  arenaBytes: number;
  /** what the arena would take if no buffer were shared */
  unsharedBytes: number;
  dispose(): void;
}

/** A plan that runs the whole graph on the reference executor (shapes not static). */
export function referencePlan(g: Graph): CompiledPlan {
  return {
    steps: [],
    feedPtr: new Map(),
    outputs: [],
    js: new Map(),
    reference: g,
    labels: [],
    bytes: 0,
    arenaBytes: 0,
    unsharedBytes: 0,
    dispose: () => {},
  };
}

/** Ops whose output is their input's storage under a new name and shape: no kernel runs (plan.ts aliases). */
export const ALIAS_OPS: ReadonlySet<string> = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity']);

const opName = (n: Node): string => (n.domain ? `${n.domain}.${n.op}` : n.op);

/** Builds one plan: lowering adds steps and arena values, `finish` places and binds them. */
export class PlanBuilder {
  readonly steps: StepSpec[] = [];
  /** arena values → bytes */
  readonly bytes = new Map<string, number>();
  /** storage form of every arena value, int8 parameters of the int8 ones */
  readonly form = new Map<string, Form>();
  readonly qp = new Map<string, QParams>();
  /** graph value behind every arena value (converted copies → their source) */
  readonly base = new Map<string, string>();
  /** non-float values computed by fallback steps during a run (and non-float feeds) */
  readonly js = new Map<string, Tensor>();
  readonly mem: PlanMemory;
  /** where a constant a step binds lives in linear memory (engines that let kernels read constants set it) */
  constantPtr: ((t: Tensor) => number) | undefined;
  /**
   * Non-float values live in the arena too ('native' form: int64 indices, bool masks...), so that
   * kernels can read and write them; otherwise (the int8 engine) they live in `js` during a run.
   */
  arenaAll = false;
  /**
   * The int8 engine's NaN check of a fallback output stored as int8 (`name`): called once while
   * lowering, the function it returns sees the float32 data before each quantization.
   */
  quantizeCheck: ((name: string) => (data: Float32Array) => void) | undefined;

  constructor(
    readonly g: Graph,
    readonly w: SparrowWasm,
  ) {
    this.mem = new PlanMemory(w);
  }

  info(name: string): ValueInfo {
    const v = this.g.values.get(name);
    if (!v) throw new SparrowError('internal', `plan: unknown value '${name}'`);
    return v.info;
  }

  dims(name: string): number[] {
    return this.info(name).dims!;
  }

  constOf(name: string | undefined): Tensor | undefined {
    return name ? this.g.values.get(name)?.const : undefined;
  }

  /** a float32 activation: not a constant */
  isF32Act(name: string | undefined): boolean {
    if (!name) return false;
    const v = this.g.values.get(name);
    return !!v && !v.const && v.info.dtype === 'float32';
  }

  /** Declares arena value `name` (the shape of graph value `base`) stored in `form`. */
  define(name: string, form: Form, qp?: QParams, base = name): void {
    this.base.set(name, base);
    const size = form === 'i8' ? 1 : form === 'native' ? dtypeBytes(this.info(base).dtype) : 4;
    this.bytes.set(name, elementCount(this.dims(base)) * size);
    this.form.set(name, form);
    if (qp) this.qp.set(name, qp);
  }

  /**
   * An alias step: output 0 of `n` is its input 0's storage under a new name (Reshape & co). The
   * output gets the input's form. Returns the reason it cannot be one, or true.
   */
  alias(n: Node): string | true {
    const x = n.inputs[0],
      y = n.outputs[0];
    if (!x || !y || !this.form.has(x)) return 'not an arena value';
    const native = this.form.get(x) === 'native' && !this.g.values.get(y)?.const && this.info(y).dtype === this.info(x).dtype;
    if (!this.isF32Act(y) && !native) return 'not a float activation';
    for (let i = 1; i < n.inputs.length; i++) if (n.inputs[i] && !this.constOf(n.inputs[i])) return `input ${i} is not a constant`;
    this.define(y, this.form.get(x)!, this.qp.get(x));
    this.steps.push({ label: n.name, op: opName(n), reads: [x], writes: [y], alias: [y, x] });
    return true;
  }

  /**
   * A step running the node's reference kernel on views of the arena: int8 inputs dequantized,
   * float32 outputs stored in the form `outForm` gives them (int8: requantized with their
   * parameters), other outputs kept in JS for the run.
   */
  fallback(n: Node, outForm: (name: string) => { form: Form; qp?: QParams | undefined }): void {
    const W = this.w;
    const ctx: KernelContext = { opset: n.opset, node: n.name };
    const reads: string[] = [];
    const inputs = n.inputs.map((name) => {
      if (!name) return (): Tensor | undefined => undefined;
      const t = this.constOf(name);
      if (t) return () => t;
      const f = this.form.get(name);
      if (f) {
        reads.push(name);
        const dims = this.dims(name),
          len = elementCount(dims),
          qp = this.qp.get(name);
        const dtype = this.info(name).dtype;
        return (b: Binder): Tensor => {
          const p = b.ptr(name);
          if (f === 'native') return { dtype, dims, data: viewOf(W.memory.buffer, dtype, p, len) };
          return {
            dtype: 'float32',
            dims,
            data: f === 'f32' ? new Float32Array(W.memory.buffer, p, len) : dequantizeRef(W.i8(p, len), qp!.scale, qp!.zp),
          };
        };
      }
      return (): Tensor => {
        const t2 = this.js.get(name);
        if (!t2) throw new SparrowError('internal', `value '${name}' is read before it is computed`);
        return t2;
      };
    });
    const writes: string[] = [];
    const outs = n.outputs.map((name) => {
      if (!name) return undefined;
      const info = this.info(name);
      if (info.dtype === 'float32') {
        const o = outForm(name);
        this.define(name, o.form, o.qp);
        writes.push(name);
        const check = o.form === 'i8' ? this.quantizeCheck?.(name) : undefined;
        return { name, info, form: o.form as Form | undefined, qp: o.qp, check };
      }
      if (this.arenaAll) {
        this.define(name, 'native');
        writes.push(name);
        return { name, info, form: 'native' as Form | undefined, qp: undefined, check: undefined };
      }
      return { name, info, form: undefined, qp: undefined, check: undefined };
    });
    this.steps.push({
      label: n.name,
      op: opName(n),
      reads: [...new Set(reads)],
      writes,
      build: (b) => {
        const ptrs = outs.map((o) => (o && o.form ? b.ptr(o.name) : -1));
        return () => {
          const ins = inputs.map((f) => f(b));
          const res = guardKernel(n, () => n.def.ref(ins, n.attrs, ctx));
          outs.forEach((o, j) => {
            if (!o) return;
            const t = res[j];
            if (!t) throw new SparrowError('internal', `kernel of ${n.op} returned ${res.length} output(s) at node '${n.name}'`);
            const dims = o.info.dims!;
            if (t.dtype !== o.info.dtype || t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
              throw new SparrowError(
                'internal',
                `node '${n.name}' (${n.op}) computed ${t.dtype} [${t.dims.join(',')}] for '${o.name}', the plan expects ${formatInfo(o.info)}`,
              );
            }
            const p = ptrs[j]!;
            if (o.form === 'f32') W.f32(p, t.data.length).set(t.data as Float32Array);
            else if (o.form === 'i8') {
              o.check?.(t.data as Float32Array);
              W.i8(p, t.data.length).set(quantizeRef(t.data as Float32Array, o.qp!.scale, o.qp!.zp));
            } else if (o.form === 'native')
              W.u8(p, t.data.byteLength).set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
            else this.js.set(o.name, t);
          });
        };
      },
    });
  }

  /**
   * Places the arena, binds every step and returns the plan. `outputs[k]` is the value holding
   * graph output k as the caller wants it read (an arena float32 value, or a JS one); `pinned`
   * graph inputs keep their slots for the whole run (no value shares them: what a run leaves in
   * them is there at the next run of the plan, WasmEngine.pinInputs). The plan's memory is freed
   * if anything fails.
   */
  finish(outputs: readonly string[], pinned: ReadonlySet<string> = new Set()): CompiledPlan {
    const g = this.g,
      W = this.w,
      mem = this.mem;
    try {
      const inputs = g.inputs.filter((i) => this.bytes.has(i));
      const live = [...new Set([...outputs, ...inputs.filter((i) => pinned.has(i))].filter((o) => this.bytes.has(o)))];
      const arena = planArena(this.steps, this.bytes, inputs, live);
      checkArenaPlan(arena);
      const base = mem.block(arena.arenaBytes + SLACK);
      const ptr = (name: string): number => {
        const off = arena.offsetOf.get(name);
        if (off !== undefined) return base + off;
        const t = this.constOf(name);
        if (t && this.constantPtr) return this.constantPtr(t);
        throw new SparrowError('internal', `plan: value '${name}' has no arena slot`);
      };
      const steps = this.steps.map((s, k) => {
        if (!s.build) return () => {};
        const sc = arena.scratchOffset[k]!;
        return s.build({ ptr, scratch: sc < 0 ? 0 : base + sc });
      });
      const feedPtr = new Map<string, number>();
      for (const i of inputs) feedPtr.set(i, ptr(i));
      const readers = g.outputs.map((name, k) => {
        const src = outputs[k]!;
        return outputReader(name, g.values.get(name)!, W.memory, this.bytes.has(src) ? ptr(src) : undefined, this.js, src);
      });
      return {
        steps,
        feedPtr,
        outputs: readers,
        js: this.js,
        labels: this.steps.map((s) => ({ node: s.label, op: s.op })),
        bytes: mem.bytes,
        arenaBytes: arena.arenaBytes,
        unsharedBytes: arena.unsharedBytes,
        dispose: () => mem.dispose(),
      };
    } catch (e) {
      mem.dispose();
      throw e;
    }
  }
}
