// The lowering context of the int8 engine (src/runtime/engine_int8.ts): on top of the skeleton's
// PlanBuilder it knows the storage form of every float activation (int8 with static parameters
// from the file's ranges, or float32), inserts the quantize / dequantize steps a consumer needs
// (`need`), and builds the output stage Conv and FC share. Families: conv.ts, fc.ts, add.ts,
// pool.ts, movement.ts; `lowerInt8` below dispatches a node to them.
import { SparrowError } from '../../errors.js';
import { elementCount, type Attrs, type KernelContext, type Tensor } from '../../ops/types.js';
import { AttrReader } from '../../ops/ref/util.js';
import { consumers, type Graph, type Node } from '../../ir/graph.js';
import { fusedActivation, FUSED_DOMAIN } from '../../ir/fuse.js';
import { dynamicQuantParamsUint8, int8QuantParams, quantizeBiasInt32, quantizeMultiplier } from '../../quant/int8.js';
import { dequantizeRef, quantizeRef } from '../../kernels/int8_ref.js';
import type { Qs8Out } from '../../kernels/int8.js';
import type { SparrowWasm, WasmExports } from '../../wasm/gateway.js';
import { ALIAS_OPS, type Binder, type Form, type PlanBuilder, type QParams, type StepSpec } from '../plan_builder.js';
import type { Int8Layer, Int8Report, QWeight, Placement, PlaceFormat } from '../engine_int8.js';
import { lowerF32 } from '../f32/index.js';
import { actOf, pushLowered, type F32Lower, type Lowered } from '../f32/lower.js';
import { parallelActKernel, parallelPass, runParallel, splitRange } from './parallel.js';
import { lowerAdd } from './add.js';
import { lowerConv } from './conv.js';
import { lowerFc } from './fc.js';
import { isLutOp, lowerLut, LUT_OPS, selfGateMul } from './lut.js';
import { lowerMove } from './movement.js';
import { channelScale, lowerMul } from './mul.js';
import { lowerAvgPool, lowerGap, lowerMaxPool } from './pool.js';

/** What the lowerings ask of the engine: weights (decoded once per engine) in kernel layouts. */
export interface Int8Weights {
  readonly report: Int8Report;
  readonly sparseDensity: number;
  readonly sparseFcDensity: number;
  /** dense convs with 7-bit weights run on the c4 kernel (Int8EngineOptions.relaxed) */
  readonly relaxedConv: boolean;
  /** dense 3x3 stride-1 convs may run on the Winograd kernel (Int8EngineOptions.winograd) */
  readonly winograd: boolean;
  /** and F(4x4, 3x3) where it applies and is exact (Int8EngineOptions.winograd4) */
  readonly winograd4: boolean;
  /** tier 1: a pruned conv F(4x4) can run is priced against F(4x4), not F(2x2) (Int8EngineOptions.tierUpRuns) */
  readonly tier4: boolean;
  /** tier 0: a conv whose kernel tier 1 would change was lowered (the engine tiers up after tierUpRuns runs) */
  noteTierCandidate(): void;
  /** residual Adds may run in a conv's output stage (Int8EngineOptions.fuseAdd) */
  readonly fuseAdd: boolean;
  /** Int8EngineOptions.requant */
  readonly requant: 'fixed' | 'onnx';
  /** Int8EngineOptions.requantMultiplier */
  readonly requantMultiplier: 'float32' | 'q31';
  /** records a lowered layer, and the layout its weights run from (its loadMs) */
  addLayer(l: Int8Layer, pl?: Placement): void;
  weight(L: Int8Lower, name: string, axis: 0 | 1): QWeight;
  placed(w: QWeight, format: PlaceFormat, groups?: number): Placement;
}

export const ctxOf = (n: Node): KernelContext => ({ opset: n.opset, node: n.name });
export const reader = (n: Node): AttrReader => new AttrReader(n.op, n.attrs as Attrs, ctxOf(n));
export const clampI8 = (v: number): number => Math.max(-128, Math.min(127, v));
export const align16 = (n: number): number => Math.ceil(n / 16) * 16;
export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** A layer's operands (Conv: X, W, B; Gemm/MatMul: A, B, C): a float activation in, a constant weight. */
export function layerIo(n: Node, L: Int8Lower): { x: string; wName: string; bName: string; y: string } | string {
  const x = n.inputs[0]!,
    wName = n.inputs[1]!;
  if (!L.form.has(x)) return 'input is not a float activation';
  if (!L.constOf(wName)) return 'the weight is not a constant';
  return { x, wName, bName: n.inputs[2] ?? '', y: n.outputs[0]! };
}

export class Int8Lower {
  /** readers of every value */
  readonly users: Map<string, Node[]>;
  /** nodes folded into an earlier step (a Relu after an Add) */
  readonly skip = new Set<Node>();
  /** converted copies: `${value}@${form}` → the copy's name */
  readonly #conv = new Map<string, string>();
  /** memory for plan constants (quant blocks, channel parameters, tables) */
  readonly alloc: (bytes: number) => number;

  constructor(
    readonly P: PlanBuilder,
    readonly E: Int8Weights,
    readonly ranges: ReadonlyMap<string, readonly [number, number]> | null,
    readonly scalar: boolean,
    /** the float32 lowering context over the same plan: float steps between and instead of quantized layers */
    readonly f32?: F32Lower,
    /** dynamic mode: weight layers within this many weight layers of an output run in float32 (keptFloat) */
    readonly floatHead = 0,
    /** dynamic mode: which weight layers (by node name) are quantized, instead of the float head rule */
    readonly quantizeLayer?: (node: string) => boolean,
  ) {
    this.users = consumers(P.g);
    this.alloc = (b) => P.mem.alloc(b);
  }

  get g(): Graph {
    return this.P.g;
  }
  get w(): SparrowWasm {
    return this.P.w;
  }
  get ex(): WasmExports {
    return this.P.w.exports;
  }
  get mem() {
    return this.P.mem;
  }
  get form(): Map<string, Form> {
    return this.P.form;
  }
  get qp(): Map<string, QParams> {
    return this.P.qp;
  }
  get js(): Map<string, Tensor> {
    return this.P.js;
  }
  dims(name: string): number[] {
    return this.P.dims(name);
  }
  constOf(name: string | undefined): Tensor | undefined {
    return this.P.constOf(name);
  }
  isF32Act(name: string | undefined): boolean {
    return this.P.isF32Act(name);
  }
  define(name: string, form: Form, qp?: QParams, base = name): void {
    this.P.define(name, form, qp, base);
  }

  /** Adds a step labelled by node `n` (or a text; `label` overrides the node's name, its op stays). */
  step(n: Node | string, spec: Omit<StepSpec, 'label' | 'op'>, label?: string): void {
    const op = typeof n === 'string' ? '' : n.domain ? `${n.domain}.${n.op}` : n.op;
    this.P.steps.push({ label: label ?? (typeof n === 'string' ? n : n.name), op, ...spec });
  }

  /**
   * The step of a quantized layer (Conv, FC): input `xin` (int8, or float32 quantized per run into
   * the step's scratch when `dynamic`), output `y`, `workBytes` of kernel scratch. `make(yp, work)`
   * runs at bind time and returns the computation from an int8 input at `src` with zero point
   * `zx`. Dynamic: the input is `items` blocks of `n` floats (the images of a batch, the rows of
   * an FC), each quantized with its own min/max and computed on its own (`item` = its index,
   * `src` its int8 copy), so that a sample's result does not depend on the others in the batch.
   */
  layerStep(
    n: Node,
    xin: string,
    y: string,
    s: {
      workBytes: number;
      zx: number;
      /** more values the step reads (their pointers: make's `ptr`), and its label (default: the node's name) */
      reads?: string[];
      label?: string;
      /** per-run quantization: items × n floats, the weight scales, the quant block and channel parameters to update */
      dynamic?: { items: number; n: number; sw: Float32Array; q: number; qp: number };
      make(yp: number, work: number, ptr: (name: string) => number): (src: number, zx: number, dyn: boolean, item?: number) => void;
    },
  ): void {
    const d = s.dynamic;
    // the int8 copy, then the range (dynamicQuantizer: 16 bytes per thread of the pool)
    const xq = d ? align16(d.n) + 16 * this.rangeSlots() : 0;
    this.step(
      n,
      {
        reads: [xin, ...(s.reads ?? [])],
        writes: [y],
        scratch: xq + s.workBytes + 16,
        build: (b) => {
          const xp = b.ptr(xin),
            xqp = b.scratch;
          const yp = b.ptr(y);
          const run = s.make(yp, b.scratch + xq, (name) => b.ptr(name));
          if (!d) return () => run(xp, s.zx, false);
          const quant = this.dynamicQuantizer(xqp, d.n, d.sw, d.q, d.qp);
          // a block with a NaN: its outputs (float32 in dynamic mode) become NaN (docs/engine.md "NaN and Inf")
          const W = this.w,
            blk = elementCount(this.dims(y)) / d.items;
          return () => {
            for (let i = 0; i < d.items; i++) {
              const q = quant(xp + i * d.n * 4);
              run(xqp, q.zp, true, d.items === 1 ? undefined : i);
              if (q.nan) W.f32(yp + i * blk * 4, blk).fill(NaN);
            }
          };
        },
      },
      s.label,
    );
  }

  /**
   * Dynamic mode: true for a weight layer (isWeightLayer) with fewer than `floatHead` weight
   * layers after it on its longest path to a graph output (layersToOutput): it runs in float32.
   * (A model of fewer than 4·floatHead weight layers gets a head of a quarter of them, rounded
   * down, but of at least 1 when it has two layers or more: its output layer.)
   * With `quantizeLayer`, the layers it rejects run in float32 instead (diagnostics: one layer at a time).
   * The tail of a network passes its quantization error on with little left to average it out:
   * measured layer by layer on the zoo (EfficientNet-B0, MobileNetV3-Small, LR-ASPP), the
   * classifier and the convolution before the global pooling carried most of the int8 error of
   * the whole model, for a few percent of its arithmetic.
   */
  keptFloat(n: Node): boolean {
    // a model quantized in ONNX says itself which layers are quantized
    if (this.ranges || this.E.requant === 'onnx' || !isWeightLayer(n, this.g)) return false;
    if (this.quantizeLayer) return !this.quantizeLayer(n.name);
    if (this.floatHead <= 0) return false;
    if (!this.#toOutput) {
      this.#toOutput = layersToOutput(this.g);
      // a small model is not all head: a quarter of its weight layers' depth stays float, but
      // at least the output layer when it has two or more
      const layers = this.g.nodes.filter((m) => isWeightLayer(m, this.g)).length;
      this.#head = Math.min(this.floatHead, Math.max(layers >= 2 ? 1 : 0, Math.floor(layers / 4)));
    }
    return (this.#toOutput.get(n) ?? Infinity) < this.#head;
  }
  #toOutput: Map<Node, number> | undefined;
  #head = 0;

  /**
   * Dynamic mode: blocks of one per-run quantization (layerStep's `items`): one per image / FC
   * row, or one for the whole input with requant 'onnx' (DynamicQuantizeLinear's per-tensor
   * parameters, as onnxruntime computes them).
   */
  dynamicItems(items: number, n: number): { items: number; n: number } {
    return this.E.requant === 'onnx' ? { items: 1, n: items * n } : { items, n };
  }

  /** A quantized layer for the report. */
  layer(l: Int8Layer, pl?: Placement): void {
    this.E.addLayer(l, pl);
  }

  /** static parameters of a float activation (from its range), if the file has one */
  rangeQp(name: string): QParams | undefined {
    const r = this.ranges?.get(name);
    if (!r) return undefined;
    const p = int8QuantParams({ min: r[0], max: r[1] });
    return { scale: p.scale, zp: p.zeroPoint };
  }

  /** true when the only use of the value is being a graph output */
  outputOnly(name: string): boolean {
    return this.g.outputs.includes(name) && (this.users.get(name) ?? []).length === 0;
  }

  /**
   * The form a producer writes value `name` in: int8 when it has static parameters and is read by
   * nodes, except (requant 'fixed') when a node without an int8 kernel reads it: then float32, so
   * that node runs on the float32 kernels (lowerFloat) instead of its reference kernel on
   * dequantized copies, and an int8 reader quantizes it (`need`). (MobileNetV3's HardSwish, as
   * exported at opset 13: HardSigmoid and Mul; its squeeze-excite Mul: with ranges from
   * `sparrow compress --calib`, those reference fallbacks took 93 % of the run.)
   */
  outForm(name: string): Form {
    if (!this.rangeQp(name) || (this.E.requant !== 'onnx' && this.outputOnly(name))) return 'f32';
    if (this.E.requant !== 'onnx' && (this.users.get(name) ?? []).some((c) => !hasInt8Kernel(c) && !this.isInt8Mul(c))) return 'f32';
    return 'i8';
  }

  /**
   * Defines the int8 copy of float32 value `name`, which the caller writes (with `qp`), so that
   * need(name, 'i8') finds it instead of quantizing `name` again; returns the copy's name.
   */
  int8Copy(name: string, qp: QParams): string {
    const out = this.#copyName(`${name}@i8`);
    this.define(out, 'i8', qp, name);
    this.#conv.set(`${name}@i8`, out);
    return out;
  }

  /**
   * Where an int8 step writes value `y` (parameters `qp`): y itself, int8, when its readers run
   * on int8; else (outForm 'f32': a reader has no int8 kernel) y's int8 copy (int8Copy), and
   * `done()` adds the step that dequantizes it into y, float32 (call it after the step that
   * writes the copy).
   */
  int8Out(n: Node, y: string, qp: QParams): { yi: string; done(): void } {
    if (this.outForm(y) !== 'f32') {
      this.define(y, 'i8', qp);
      return { yi: y, done: () => undefined };
    }
    const yi = this.int8Copy(y, qp);
    return {
      yi,
      done: () => {
        this.define(y, 'f32');
        this.step(n, { reads: [yi], writes: [y], build: this.#dequantize(yi, y, elementCount(this.dims(y)), qp) }, `dequantize ${y}`);
      },
    };
  }

  /** the producer of every value */
  #producer: Map<string, Node> | undefined;

  /** Mul m runs on int8 (hasInt8Kernel leaves Mul out): a self gate (lut.ts) or a channel scale with ranges (mul.ts). */
  isInt8Mul(m: Node): boolean {
    return this.isSelfGateMul(m) || (typeof channelScale(m, this) !== 'string' && !!this.rangeQp(m.outputs[0]!));
  }

  /** Mul m is the gate of a self-gated table op (x · f(x): lowerLut runs both as one table). */
  isSelfGateMul(m: Node): boolean {
    if (m.op !== 'Mul' || m.domain !== '' || this.E.requant === 'onnx') return false;
    if (!this.#producer) {
      this.#producer = new Map();
      for (const n of this.g.nodes) for (const o of n.outputs) if (o) this.#producer.set(o, n);
    }
    return m.inputs.some((i) => {
      const f = i ? this.#producer!.get(i) : undefined;
      return !!f && isLutOp(f) && selfGateMul(f, this.users, this.g.outputs) === m;
    });
  }

  /** `name`, or `name` with primes appended until no value or plan buffer has it. */
  #copyName(name: string): string {
    let out = name;
    while (this.g.values.has(out) || this.P.bytes.has(out)) out += "'";
    return out;
  }

  /** The build of a step dequantizing n int8 values `from` (parameters qp) into float32 `to`. */
  #dequantize(from: string, to: string, n: number, qp: QParams): (b: Binder) => () => void {
    const { ex, w, scalar } = this;
    return (b) => {
      const x = b.ptr(from),
        y = b.ptr(to);
      if (scalar) return () => w.f32(y, n).set(dequantizeRef(w.i8(x, n), qp.scale, qp.zp));
      return () => {
        ex.qs8_dequantize__wasmsimd(n, x, qp.scale, qp.zp, y);
      };
    };
  }

  /** Value `name` in `want` form: itself, or a converted copy (a quantize/dequantize step, once). undefined: no int8 parameters. */
  need(name: string, want: Form): string | undefined {
    const f = this.form.get(name);
    if (f === undefined) return undefined;
    if (f === want) return name;
    const key = `${name}@${want}`;
    if (this.#conv.has(key)) return this.#conv.get(key)!;
    const src = this.P.base.get(name)!;
    const qp = this.qp.get(name) ?? (want === 'i8' ? this.rangeQp(src) : undefined);
    if (!qp) return undefined;
    const out = this.#copyName(`${src}@${want}`);
    this.define(out, want, qp, src);
    const n = elementCount(this.dims(src));
    const { ex, w, scalar } = this;
    const { scale, zp } = qp;
    const flag = want === 'i8' ? this.nanBoundary(src) : -1,
      nan = this.#nan;
    const build =
      want === 'i8'
        ? (b: Binder) => {
            const x = b.ptr(name),
              y = b.ptr(out);
            if (scalar)
              return () => {
                const v = w.f32(x, n);
                nan[flag] = hasNaN(v);
                w.i8(y, n).set(quantizeRef(v, scale, zp));
              };
            return () => {
              nan[flag] = ex.f32_has_nan__wasmsimd(x, n) !== 0;
              ex.qs8_quantize__wasmsimd(n, x, scale, zp, y);
            };
          }
        : this.#dequantize(name, out, n, qp);
    this.step(`${want === 'i8' ? 'quantize' : 'dequantize'} ${name}`, { reads: [name], writes: [out], build });
    this.#conv.set(key, out);
    return out;
  }

  /** Lowers every node; returns, per graph output, the value holding it as float32. */
  lowerAll(noteFallback: (node: Node, reason: string, float: boolean) => void): string[] {
    const g = this.g;
    // a reference kernel's float32 output stored as int8 is a quantization boundary too
    this.P.quantizeCheck = (name) => {
      const k = this.nanBoundary(name),
        nan = this.#nan;
      return (data) => {
        nan[k] = hasNaN(data);
      };
    };
    for (const i of g.inputs) {
      if (this.isF32Act(i)) this.define(i, 'f32');
      else if (this.P.arenaAll && !this.constOf(i)) this.define(i, 'native');
    }
    const order = this.E.fuseAdd && this.ranges && this.E.requant !== 'onnx' ? hoistAddPartners(g.nodes, this.users) : g.nodes;
    for (const n of order) {
      if (this.skip.has(n)) continue;
      if (this.P.arenaAll && this.touchesNative(n)) {
        // integer / bool values (masks, positions, shapes) in the arena: the float32 engine's
        // lowerings, as sparrow-f32 runs them, else the reference kernel on arena views
        if (ALIAS_OPS.has(n.op) && n.domain === '' && this.P.alias(n) === true) continue;
        if (this.lowerFloat(n)) {
          noteFallback(n, 'dynamic: integer values', true);
          continue;
        }
        noteFallback(n, 'dynamic: integer values', false);
        this.P.fallback(n, () => ({ form: 'f32' }));
        continue;
      }
      let r: string | true;
      try {
        r = lowerInt8(n, this);
      } catch (e) {
        r = e instanceof SparrowError ? `cannot lower: ${e.message}` : `lowering failed: ${(e as Error).message}`;
      }
      if (r !== true) {
        const float = this.lowerFloat(n);
        noteFallback(n, r, float);
        if (float) continue;
        this.P.fallback(n, (name) => {
          const form = this.outForm(name);
          return { form, qp: form === 'i8' ? this.rangeQp(name) : undefined };
        });
      }
    }
    const outs = g.outputs.map((o) => (this.form.has(o) && this.form.get(o) !== 'native' ? this.need(o, 'f32')! : o));
    this.poisonOutputs(outs);
    return outs;
  }

  /** NaN flags of the quantization boundaries, set by their steps at every run */
  readonly #nan: boolean[] = [];
  /** the graph value quantized at each boundary */
  readonly #nanSrc: string[] = [];

  /** A quantization boundary of graph value `src` (float32 → int8): the index of its NaN flag. */
  nanBoundary(src: string): number {
    this.#nanSrc.push(src);
    this.#nan.push(false);
    return this.#nan.length - 1;
  }

  /**
   * int8 cannot hold NaN: after the run, every float32 graph output that a quantization boundary
   * whose input held a NaN reaches (through any path of the graph) is filled with NaN, whole
   * (docs/engine.md "NaN and Inf"). outs[k]: the arena value holding output k.
   */
  poisonOutputs(outs: string[]): void {
    if (this.#nanSrc.length === 0) return;
    const g = this.g,
      W = this.w,
      nan = this.#nan;
    const reach = new Map<string, Set<string>>();
    const reaches = (v: string): Set<string> => {
      let r = reach.get(v);
      if (r) return r;
      reach.set(v, (r = new Set()));
      if (g.outputs.includes(v)) r.add(v);
      for (const m of this.users.get(v) ?? []) for (const o of m.outputs) if (o) for (const x of reaches(o)) r.add(x);
      return r;
    };
    g.outputs.forEach((o, k) => {
      const flags = this.#nanSrc.flatMap((src, f) => (reaches(src).has(o) ? [f] : []));
      const v = outs[k]!;
      if (flags.length === 0 || this.form.get(v) !== 'f32') return;
      const n = elementCount(this.dims(this.P.base.get(v) ?? v));
      this.step(`NaN of ${o}`, {
        reads: [v],
        writes: [],
        build: (b) => {
          const p = b.ptr(v);
          return () => {
            for (const f of flags)
              if (nan[f]) {
                W.f32(p, n).fill(NaN);
                return;
              }
          };
        },
      });
    });
  }

  /** true when the node reads a value stored 'native' (integers, bools) or writes a non-float value */
  touchesNative(n: Node): boolean {
    for (const i of n.inputs) if (i && !this.constOf(i) && this.form.get(i) === 'native') return true;
    for (const o of n.outputs) if (o && !this.g.values.get(o)?.const && this.P.info(o).dtype !== 'float32') return true;
    return false;
  }

  /**
   * Lowers a node that runs in float with the float32 engine's WASM kernels (src/runtime/f32/),
   * when every value it reads is a constant or a float32 activation and it writes float32 only;
   * false when it cannot (the caller falls back to the reference kernel).
   */
  lowerFloat(n: Node): boolean {
    const F = this.f32;
    if (!F) return false;
    // float32 activations in, float32 out: the int8 plan keeps other dtypes in JS (fallback steps)
    const native = this.P.arenaAll;
    for (const i of n.inputs) {
      if (!i || this.constOf(i)) continue;
      const f = this.form.get(i);
      if (f !== 'f32' && !(native && f === 'native')) return false;
    }
    for (const o of n.outputs) if (o && this.P.info(o).dtype !== 'float32' && !native) return false;
    let low: Lowered | string;
    try {
      low = lowerF32(n, F);
    } catch {
      return false;
    }
    if (typeof low === 'string') return false;
    pushLowered(F, n, low);
    return true;
  }

  /**
   * The activation of a fused layer that its output stage does not apply (Sigmoid, SiLU,
   * HardSwish, Tanh, GELU...: anything but a clamp), as a step on n float32 outputs at yp in
   * place (the float32 engine's kernels); undefined when it has none. Only a float32 output can
   * take one: dynamic mode fuses every activation, static mode clamps only.
   */
  postActivation(n: Node): ((yp: number, n: number) => void) | undefined {
    const [act, p0, p1] = actOf(n);
    return act >= 2 ? parallelActKernel(this, this.ex, act, p0, p1) : undefined;
  }

  /** the activation clamp of a fused node in the int8 domain of output parameters p, and in float */
  actBounds(n: Node, p?: QParams): { lo: number; hi: number; flo: number; fhi: number } {
    const a = fusedActivation(n);
    const flo = a ? a.min : -Infinity,
      fhi = a ? a.max : Infinity;
    if (!p) return { lo: -128, hi: 127, flo, fhi };
    const lo = Number.isFinite(flo) ? clampI8(p.zp + Math.round(flo / p.scale)) : -128;
    const hi = Number.isFinite(fhi) ? clampI8(p.zp + Math.round(fhi / p.scale)) : 127;
    return { lo, hi, flo, fhi };
  }

  /**
   * The output stage shared by Conv and FC: input x (int8 with parameters, or float32 quantized
   * per run), output y. Returns how to bind it.
   */
  outputStage(n: Node, x: string, y: string, w: QWeight, bias: Float32Array) {
    const N = w.N;
    const xi8 = this.need(x, 'i8');
    const yForm = xi8 ? this.outForm(y) : 'f32';
    const yqp = yForm === 'i8' ? this.rangeQp(y)! : undefined;
    const act = this.actBounds(n, yqp);
    let out: Qs8Out;
    let io: Int8Layer['io'];
    if (xi8) {
      const xp = this.qp.get(xi8)!;
      if (yqp && (this.E.requant === 'onnx' || this.E.requantMultiplier === 'float32')) {
        // QLinearConv / QLinearMatMul: int32 bias of scale fround(s_x·s_w[c]), float32 multiplier
        // (requant 'fixed' too, by default: 3x fewer instructions per output than Q31 in WASM SIMD)
        const b = quantizeBiasInt32(bias, xp.scale, w.scales, { onSaturate: 'clamp' });
        const multiplier = Float32Array.from(b.scales, (s) => Math.fround(s / yqp.scale));
        out = { mode: 'qlinear', zx: xp.zp, zy: yqp.zp, lo: act.lo, hi: act.hi, bias: b.q, multiplier };
        io = 'i8';
      } else if (yqp) {
        const b = quantizeBiasInt32(bias, xp.scale, w.scales, { onSaturate: 'clamp' });
        const mult = new Int32Array(N),
          shift = new Int32Array(N);
        for (let c = 0; c < N; c++) {
          const q = quantizeMultiplier(b.scales[c]! / yqp.scale);
          mult[c] = q.multiplier;
          shift[c] = q.shift;
        }
        out = { mode: 'int8', zx: xp.zp, zy: yqp.zp, lo: act.lo, hi: act.hi, bias: b.q, multiplier: mult, shift };
        io = 'i8';
      } else {
        const scale = Float32Array.from(w.scales, (s) => Math.fround(xp.scale * s));
        out = { mode: 'f32', zx: xp.zp, scale, bias: Float32Array.from(bias), lo: act.flo, hi: act.fhi };
        io = 'i8→f32';
      }
    } else {
      out = { mode: 'f32', zx: 0, scale: new Float32Array(N), bias: Float32Array.from(bias), lo: act.flo, hi: act.fhi };
      io = 'dyn';
    }
    this.define(y, yForm, yqp);
    return { xin: xi8 ?? x, dynamic: !xi8, out, io };
  }

  biasOf(name: string | undefined, N: number, beta = 1): Float32Array | string {
    if (!name) return new Float32Array(N);
    const t = this.constOf(name);
    if (!t || t.dtype !== 'float32') return 'bias is not a float32 constant';
    const d = t.data as Float32Array;
    if (d.length !== N && d.length !== 1) return `bias has ${d.length} values, expected ${N}`;
    return Float32Array.from({ length: N }, (_, c) => Math.fround(beta * d[d.length === 1 ? 0 : c]!));
  }

  /** 16-byte range slots dynamicQuantizer needs after its int8 copy: one per thread of the pool. */
  rangeSlots(): number {
    const pool = this.scalar ? undefined : this.w.pool;
    return pool && pool.size > 1 ? pool.size : 1;
  }

  /**
   * Per-inference quantization of float32 data (dynamic mode): min/max of the n floats at x
   * (the argument of the returned function) → int8QuantParams → int8 at xq; writes zx into the
   * quant block and s_x·s_w[c] into the channel parameters. Returns the function doing it (returns zx,
   * and whether the block held a NaN). The range is that of the finite values: ±Inf saturate.
   */
  dynamicQuantizer(xq: number, n: number, sw: Float32Array, q: number, qp: number): (x: number) => { zp: number; nan: boolean } {
    const W = this.w,
      ex = this.ex,
      N = sw.length,
      scalar = this.scalar,
      onnx = this.E.requant === 'onnx';
    // the range in WASM (SIMD; NaN ignored as the plain loop does), into 12 bytes after xq; with
    // a pool and n ≥ PARALLEL_MIN, each thread's range of x into its own slot (16 bytes apart),
    // then the smallest min, the largest max and any NaN (min/max from 0: the same values), and
    // the quantization in ranges too
    const mm = xq + align16(n);
    const par = parallelPass(this, n, W.pool?.size ?? 1);
    const ranges = par ? splitRange(n, par.pool.size, 8) : [];
    const minmax = par
      ? (x: number): void => {
          runParallel(
            par,
            ranges.map(([i0, i1], t) => ({ fn: 'qs8_minmax_f32__wasmsimd' as const, args: [i1 - i0, x + i0 * 4, mm + 16 * t] })),
          );
          const f = W.f32(mm, 4 * ranges.length),
            m = W.i32(mm, 4 * ranges.length);
          let lo = 0,
            hi = 0,
            nan = 0;
          for (let t = 0; t < ranges.length; t++) {
            if (f[4 * t]! < lo) lo = f[4 * t]!;
            if (f[4 * t + 1]! > hi) hi = f[4 * t + 1]!;
            nan |= m[4 * t + 2]!;
          }
          f[0] = lo;
          f[1] = hi;
          m[2] = nan;
        }
      : (x: number): void => void ex.qs8_minmax_f32__wasmsimd(n, x, mm);
    const quantize = par
      ? (x: number, scale: number, zp: number): void =>
          runParallel(
            par,
            ranges.map(([i0, i1]) => ({ fn: 'qs8_quantize__wasmsimd' as const, args: [i1 - i0, x + i0 * 4, scale, zp, xq + i0] })),
          )
      : (x: number, scale: number, zp: number): void => void ex.qs8_quantize__wasmsimd(n, x, scale, zp, xq);
    return (x) => {
      const v = W.f32(x, n);
      // the range of the finite values (±Inf then saturate, as QuantizeLinear; NaN is reported)
      let lo = 0,
        hi = 0,
        nan = false;
      if (!scalar) {
        // SIMD min/max (NaN lanes ignored) and the NaN flag, one pass; a ±Inf bound takes the finite-range loop
        minmax(x);
        const r = W.f32(mm, 2);
        lo = r[0]!;
        hi = r[1]!;
        nan = W.i32(mm + 8, 1)[0] !== 0;
      }
      if (scalar || lo === -Infinity || hi === Infinity) {
        lo = 0;
        hi = 0;
        nan = false;
        for (let i = 0; i < n; i++) {
          const a = v[i]!;
          if (a < lo) {
            if (a !== -Infinity) lo = a;
          } else if (a > hi) {
            if (a !== Infinity) hi = a;
          } else if (a !== a) nan = true;
        }
      }
      const p = onnx ? onnxDynamicParams(lo, hi) : int8QuantParams({ min: lo, max: hi });
      if (scalar) W.i8(xq, n).set(quantizeRef(v, p.scale, p.zeroPoint));
      else quantize(x, p.scale, p.zeroPoint);
      W.i32(q, 8)[1] = p.zeroPoint;
      const s = W.f32(qp, N);
      for (let c = 0; c < N; c++) s[c] = Math.fround(p.scale * sw[c]!);
      return { zp: p.zeroPoint, nan };
    };
  }
}

function hasNaN(v: ArrayLike<number>): boolean {
  for (let i = 0; i < v.length; i++) if (v[i] !== v[i]) return true;
  return false;
}

/** DynamicQuantizeLinear's uint8 parameters of [lo, hi] as int8 ones (zero point − 128: q_i8 = q_u8 − 128). */
function onnxDynamicParams(lo: number, hi: number): { scale: number; zeroPoint: number } {
  const p = dynamicQuantParamsUint8(lo, hi);
  return { scale: p.scale, zeroPoint: p.zeroPoint - 128 };
}

const FLOAT_BETWEEN = 'dynamic: float between layers';

const WEIGHT_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'FusedConv', 'FusedConvTranspose', 'FusedGemm', 'FusedMatMul']);
const RECURRENT_OPS = new Set(['LSTM', 'GRU', 'RNN']);

/** A node with learned weights: Conv/ConvTranspose/Gemm/MatMul (fused or not) with a constant input 1, or a recurrent layer. */
export function isWeightLayer(n: Node, g: Graph): boolean {
  if (n.domain === '' && RECURRENT_OPS.has(n.op)) return true;
  if (n.domain !== '' && n.domain !== FUSED_DOMAIN) return false;
  return WEIGHT_OPS.has(n.op) && !!n.inputs[1] && !!g.values.get(n.inputs[1])?.const;
}

/**
 * For every node, the most weight layers (isWeightLayer) after it on a path to a graph output:
 * 0 for a node writing an output, or reaching outputs through weightless ops only; absent when
 * none of its outputs reaches a graph output. The most, not the fewest: a residual stream reaches
 * the output through its identity skips with no layer at all, yet every block after it still
 * transforms it; the tail of the network (the classifier, the last convolution before it) is
 * what only few layers follow.
 */
export function layersToOutput(g: Graph): Map<Node, number> {
  const users = consumers(g);
  const outs = new Set(g.outputs);
  const d = new Map<Node, number>();
  for (let k = g.nodes.length - 1; k >= 0; k--) {
    const n = g.nodes[k]!;
    let most = -1;
    for (const o of n.outputs) {
      if (!o) continue;
      if (outs.has(o)) most = Math.max(most, 0);
      for (const c of users.get(o) ?? []) {
        const dc = d.get(c);
        if (dc !== undefined) most = Math.max(most, dc + (isWeightLayer(c, g) ? 1 : 0));
      }
    }
    if (most >= 0) d.set(n, most);
  }
  return d;
}

/**
 * The ops (default domain) the int8 engine lowers: layers always; the others only with static
 * activation ranges (without them they run in float between the quantized layers).
 */
export const INT8_KERNEL_OPS: Readonly<Record<string, 'always' | 'static ranges'>> = {
  Conv: 'always',
  Gemm: 'always',
  MatMul: 'always',
  Add: 'static ranges',
  GlobalAveragePool: 'static ranges',
  MaxPool: 'static ranges',
  AveragePool: 'static ranges',
  Slice: 'static ranges',
  Pad: 'static ranges',
  Transpose: 'static ranges',
  Gather: 'static ranges',
  Expand: 'static ranges',
  // elementwise functions of one input, as a table (lut.ts; the Mul of x · f(x) with them)
  ...Object.fromEntries([...LUT_OPS].map((op) => [op, 'static ranges' as const])),
  // a channel scale (mul.ts); other Muls run in float32 (hasInt8Kernel leaves Mul out: isInt8Mul)
  Mul: 'static ranges',
};

/** A node the int8 lowering may run on int8 data (a layer, INT8_KERNEL_OPS, an alias), before trying it. */
function hasInt8Kernel(n: Node): boolean {
  if (n.domain === FUSED_DOMAIN) return n.op === 'FusedConv' || n.op === 'FusedGemm' || n.op === 'FusedMatMul';
  return n.domain === '' && n.op !== 'Mul' && (INT8_KERNEL_OPS[n.op] !== undefined || ALIAS_OPS.has(n.op));
}

/** Lowers a node; true, or the reason it falls back (prefixed 'dynamic:' for float ops in dynamic mode). */
export function lowerInt8(n: Node, L: Int8Lower): string | true {
  const outs = n.outputs.filter((o) => o);
  if (outs.length === 1 && elementCount(L.dims(outs[0]!)) === 0) return 'empty output';
  if (L.keptFloat(n))
    return L.quantizeLayer
      ? 'dynamic: not a layer to quantize'
      : `dynamic: within ${L.floatHead} weight layer(s) of an output: kept in float32`;
  if (n.domain === FUSED_DOMAIN) {
    if (n.op === 'FusedConv') return lowerConv(n, L);
    if (n.op === 'FusedGemm' || n.op === 'FusedMatMul') return lowerFc(n, L);
    return L.ranges ? `no int8 kernel for ${n.domain}.${n.op}` : FLOAT_BETWEEN; // FusedConvTranspose
  }
  if (n.domain !== '') return `no int8 kernel for domain '${n.domain}'`;
  if (ALIAS_OPS.has(n.op)) {
    const r = L.P.alias(n);
    return r === true || !r.startsWith('not a float') ? r : `dynamic: ${r}`;
  }
  const f = LOWERINGS[n.op];
  const when = INT8_KERNEL_OPS[n.op];
  if (!f || !when) return L.ranges ? `no int8 kernel for ${n.op}` : FLOAT_BETWEEN;
  return when === 'always' || L.ranges ? f(n, L) : FLOAT_BETWEEN;
}

const LOWERINGS: Record<string, (n: Node, L: Int8Lower) => string | true> = {
  Conv: lowerConv,
  Gemm: lowerFc,
  MatMul: lowerFc,
  Add: lowerAdd,
  GlobalAveragePool: lowerGap,
  MaxPool: lowerMaxPool,
  AveragePool: lowerAvgPool,
  Slice: lowerMove,
  Pad: lowerMove,
  Transpose: lowerMove,
  Gather: lowerMove,
  Expand: lowerMove,
  ...Object.fromEntries([...LUT_OPS].map((op) => [op, lowerLut])),
  Mul: lowerMul,
};

/**
 * A node order for the residual-Add fusion (src/runtime/int8/conv.ts residualAdd): where a Conv's
 * output is read only by an Add whose other input is computed after the Conv (a ResNet
 * downsampling block's shortcut: Slice and Pad of the block input, after its second conv), the
 * nodes between them that the other input needs are moved, in their order, to just before the
 * Conv, so that the other input exists when the Conv is lowered. They cannot depend on the Conv
 * (its output has one reader, the Add), so the order stays topological. Other nodes keep theirs.
 */
export function hoistAddPartners(nodes: readonly Node[], users: ReadonlyMap<string, Node[]>): Node[] {
  let order = [...nodes];
  // outputs never move between nodes, only nodes within the order (positions: recomputed after a move)
  const producer = new Map<string, Node>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
  let at = new Map(order.map((n, i) => [n, i]));
  for (const add of nodes) {
    if (add.op !== 'Add' || add.domain !== '' || add.inputs.length !== 2) continue;
    const ia = at.get(add)!;
    for (const [k, x] of add.inputs.entries()) {
      const conv = producer.get(x);
      if (!conv || (conv.op !== 'Conv' && !conv.op.endsWith('FusedConv')) || (users.get(x) ?? []).length !== 1) continue;
      const ic = at.get(conv)!;
      const p = producer.get(add.inputs[1 - k]!);
      if (!p || at.get(p)! < ic || at.get(p)! > ia) continue; // computed before the Conv already (or a graph input)
      // the ancestors of the other input between the Conv and the Add
      const need = new Set<Node>();
      const stack = [p];
      while (stack.length) {
        const n = stack.pop()!;
        if (need.has(n)) continue;
        need.add(n);
        for (const i of n.inputs) {
          const q = i ? producer.get(i) : undefined;
          if (q && at.get(q)! > ic && at.get(q)! < ia) stack.push(q);
        }
      }
      const window = order.slice(ic, ia);
      order = [...order.slice(0, ic), ...window.filter((n) => need.has(n)), ...window.filter((n) => !need.has(n)), ...order.slice(ia)];
      at = new Map(order.map((n, i) => [n, i]));
      break;
    }
  }
  return order;
}
