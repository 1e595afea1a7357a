// Running a compiled plan of a WASM engine (sparrow-f32: engine_f32.ts, sparrow-int8:
// engine_int8.ts). Each engine compiles, per input-shape signature, its own steps (closures over
// fixed pointers into one arena of linear memory); running them is the same for both and lives
// here: check the feeds, write the float32 feeds into their arena slots, hand the other feeds
// (int64 shapes, indices...) to the JS steps, call the steps, read the outputs. What differs stays
// in the engines: the steps themselves (in the int8 engine the quantization of a float feed, static
// or per inference, is one of them), the arena layout, how an output is stored.
import { SparrowError } from '../errors.js';
import type { Graph, Value } from '../ir/graph.js';
import { ARRAY_OF, elementCount, type Tensor, type TensorData, type TensorDType } from '../ops/types.js';
import { runReference } from './reference.js';

/** A compiled plan, as far as running it goes. */
export interface RunnablePlan {
  /** the steps in execution order */
  steps: Array<() => void>;
  /** float32 graph inputs → byte offset of their arena slot (the feed's elements, row-major) */
  feedPtr: Map<string, number>;
  /** graph outputs: `read` returns a fresh copy, `view` (arena outputs) a view of linear memory (see outputReader) */
  outputs: Array<{ name: string; read: () => Tensor; view?: () => Tensor }>;
  /** values living in JS during one run (non-float graph inputs, fallback outputs); emptied after it */
  js: Map<string, Tensor>;
  /** shapes not static for this signature: the whole graph runs on the reference executor instead */
  reference?: Graph;
  /** the engine's run counter at this plan's latest run (runPlanIo: whether pinned slots still hold a caller's data) */
  lastRun?: number;
}

/** Identifies one run of one plan (runPlanIo): a later run may reuse what that run left in pinned input slots. */
export interface IoToken {
  readonly plan: RunnablePlan;
  readonly run: number;
}

/** What a run shows its `after` callback: views of linear memory, valid only inside the callback. */
export interface IoView {
  /** output `name` of this run: a view of its arena slot (a copy when it has none) */
  output(name: string): Tensor;
  /**
   * the arena slot of pinned input `name` of this run's plan (writable: a later run given this
   * run's token reads what is written here instead of its feed); undefined when the plan has none
   */
  input(name: string): Tensor | undefined;
}

/** Options of a run that keeps state in the arena (WasmEngine.runIo, Session.runIo). */
export interface IoRunOptions {
  /** outputs copied out of the arena (default: every output) */
  outputs?: readonly string[];
  /**
   * the token of an earlier run: when this run uses the same plan and no run of that plan came
   * between, the pinned inputs (WasmEngine.pinInputs) are not written from the feeds: their
   * slots hold what that run and its `after` left there
   */
  reuse?: IoToken;
  /** called synchronously after the steps, before the outputs are copied and before anything else can run */
  after?: (io: IoView) => void;
}

export interface IoRunResult {
  outputs: Record<string, Tensor>;
  /** this run (undefined on the reference executor: nothing can be reused) */
  token: IoToken | undefined;
  /** the pinned inputs were reused, not written */
  reused: boolean;
}

export { checkFeeds } from './reference.js';

/**
 * The feeds of one run: those with an arena slot copied into it (their bytes as stored), the
 * others into plan.js; inputs in `skip` are left as their slots hold them.
 */
function writeFeeds(
  memory: WebAssembly.Memory,
  inputs: readonly string[],
  plan: RunnablePlan,
  feeds: Record<string, Tensor>,
  skip?: ReadonlySet<string>,
): void {
  const buf = memory.buffer; // fetched per run: linear memory may have grown since the plan was bound
  for (const [name, p] of plan.feedPtr) {
    if (skip?.has(name)) continue;
    const data = feeds[name]!.data;
    if (data instanceof Float32Array) new Float32Array(buf, p, data.length).set(data);
    else new Uint8Array(buf, p, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  plan.js.clear();
  for (const name of inputs) if (!plan.feedPtr.has(name)) plan.js.set(name, feeds[name]!);
}

/**
 * One run of `plan` on checked feeds (checkFeeds): `inputs` are the graph inputs in order,
 * `memory` the engine's linear memory. Outputs are copies: the arena is reused by the next run.
 */
export function runPlan(
  memory: WebAssembly.Memory,
  inputs: readonly string[],
  plan: RunnablePlan,
  feeds: Record<string, Tensor>,
): Record<string, Tensor> {
  if (plan.reference) return runReference(plan.reference, Object.fromEntries(plan.reference.inputs.map((n) => [n, feeds[n]!])));
  writeFeeds(memory, inputs, plan, feeds);
  for (const s of plan.steps) s();
  const out: Record<string, Tensor> = {};
  for (const o of plan.outputs) out[o.name] = o.read();
  plan.js.clear();
  return out;
}

/**
 * One run of `plan` that may keep state in its arena (zero-copy decoding, src/runtime/generate.ts):
 * `run` is the engine's counter for this run, `pinned` the inputs whose slots live through the
 * whole run (PlanBuilder.finish). The pinned inputs are not written when `o.reuse` names this
 * plan's latest run; `o.after` sees views of the outputs and of the pinned input slots; only
 * `o.outputs` are copied out.
 */
export function runPlanIo(
  memory: WebAssembly.Memory,
  inputs: readonly string[],
  plan: RunnablePlan,
  feeds: Record<string, Tensor>,
  run: number,
  pinned: ReadonlySet<string>,
  o: IoRunOptions,
): IoRunResult {
  const wanted = o.outputs;
  if (plan.reference) {
    const all = runPlan(memory, inputs, plan, feeds);
    o.after?.({ output: (n) => all[n] ?? missing(n), input: () => undefined });
    const outputs: Record<string, Tensor> = {};
    for (const n of wanted ?? Object.keys(all)) outputs[n] = all[n] ?? missing(n);
    return { outputs, token: undefined, reused: false };
  }
  const reused = !!o.reuse && o.reuse.plan === plan && plan.lastRun === o.reuse.run && pinned.size > 0;
  writeFeeds(memory, inputs, plan, feeds, reused ? pinned : undefined);
  plan.lastRun = run;
  for (const s of plan.steps) s();
  if (o.after) {
    const buf = memory.buffer;
    o.after({
      output: (n) => {
        const r = plan.outputs.find((x) => x.name === n) ?? missing(n);
        return r.view ? r.view() : r.read();
      },
      input: (n) => {
        const p = plan.feedPtr.get(n);
        const t = feeds[n];
        if (p === undefined || !pinned.has(n) || !t) return undefined;
        return { dtype: t.dtype, dims: [...t.dims], data: viewOf(buf, t.dtype, p, t.data.length) };
      },
    });
  }
  const outputs: Record<string, Tensor> = {};
  for (const r of plan.outputs) if (!wanted || wanted.includes(r.name)) outputs[r.name] = r.read();
  if (wanted) for (const n of wanted) if (!outputs[n]) missing(n);
  plan.js.clear();
  return { outputs, token: { plan, run }, reused };
}

function missing(name: string): never {
  throw new SparrowError('invalid_argument', `'${name}' is not an output of this model`);
}

function viewOf(buf: ArrayBufferLike, dtype: TensorDType, p: number, n: number): TensorData {
  const C = ARRAY_OF[dtype] as unknown as new (b: ArrayBufferLike, off: number, len: number) => TensorData;
  return new C(buf, p, n);
}

/**
 * Mean milliseconds of each step over `runs` runs of `feeds` (diagnostics), labelled by the
 * engine (`label(k)`: step k's node and op); [] for a plan on the reference executor.
 */
export function profilePlan(
  memory: WebAssembly.Memory,
  inputs: readonly string[],
  plan: RunnablePlan,
  feeds: Record<string, Tensor>,
  runs: number,
  label: (k: number) => { node: string; op: string },
): Array<{ node: string; op: string; ms: number }> {
  if (plan.reference) return [];
  const t = new Float64Array(plan.steps.length);
  for (let r = 0; r < runs; r++) {
    writeFeeds(memory, inputs, plan, feeds);
    plan.steps.forEach((s, k) => {
      const t0 = performance.now();
      s();
      t[k] += performance.now() - t0;
    });
  }
  plan.js.clear();
  return plan.steps.map((_, k) => ({ ...label(k), ms: t[k]! / runs }));
}

/**
 * How to read graph output `name` (value `v`) after a run, as a fresh copy: a constant; a value
 * at byte offset `ptr` of the arena (`v`'s dtype and dims, row-major, as its typed array stores
 * it), when `ptr` is given; else the tensor left in `js` under `src` (the value holding the
 * output; the output's name by default).
 */
export function outputReader(
  name: string,
  v: Value,
  memory: WebAssembly.Memory,
  ptr: number | undefined,
  js: Map<string, Tensor>,
  src = name,
): { name: string; read: () => Tensor; view?: () => Tensor } {
  if (v.const) {
    const t = v.const;
    return { name, read: (): Tensor => ({ dtype: t.dtype, dims: [...t.dims], data: t.data.slice() as Tensor['data'] }) };
  }
  if (ptr !== undefined) {
    const dims = [...v.info.dims!],
      len = elementCount(dims),
      dtype: TensorDType = v.info.dtype;
    const C = ARRAY_OF[dtype] as unknown as { new (n: number): TensorData; new (b: ArrayBufferLike, off: number, n: number): TensorData };
    return {
      name,
      read: (): Tensor => {
        const data = new C(len);
        (data as Float32Array).set(new C(memory.buffer, ptr, len) as Float32Array);
        return { dtype, dims: [...dims], data };
      },
      view: (): Tensor => ({ dtype, dims: [...dims], data: new C(memory.buffer, ptr, len) }),
    };
  }
  return {
    name,
    read: (): Tensor => {
      const t = js.get(src);
      if (!t) throw new SparrowError('internal', `output '${name}' was not computed`);
      return { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() as Tensor['data'] };
    },
  };
}
