// The 'sparrow-int8' engine: int8 execution of an optimized Graph in WASM linear memory with the
// kernels of assembly/int8/ (drivers: src/kernels/int8.ts, references: src/kernels/int8_ref.ts).
//
// Scheme (src/quant/int8.ts): weights int8 symmetric per output channel (the .sparrow file's, pruned zeros
// exact), activations int8 asymmetric per tensor, int32 accumulators requantized per output
// channel by one float32 multiplier fround(fround(s_x·s_w[c]) / s_y), rounded half to even
// (QLinearConv's arithmetic; requantMultiplier 'q31': TFLite's Q31 multiplier + shift), int32
// bias round(b / (s_x·s_w[c])) computed at load from the stored float32 bias. Both are exact
// and deterministic: the same bits in every engine.
//
// Modes:
//   static   the file has metadata.activationRanges: every float activation with a range gets
//            (scale, zero point) = int8QuantParams(range) and is stored as int8. Conv (+ fused
//            Relu/Clip = the requantization clamp), Gemm/MatMul FC layers, Add (+ a following Relu),
//            GlobalAveragePool, MaxPool run int8 → int8; Reshape & co are aliases; the graph input
//            is quantized in, the outputs dequantized out (a Conv/FC whose output is only a graph
//            output writes float32 directly: the kernel's f32 output stage). Any other node:
//            inputs dequantized, the TS reference kernel, outputs requantized with their ranges
//            (listed in fallbackOps).
//   dynamic  no ranges (or an ONNX model quantized on the fly): activations stay float32; each
//            Conv/FC quantizes its input per inference with the input's own min/max, per image
//            of the batch / per FC row (int8QuantParams), runs the int GEMM and writes float32
//            (f32 output stage, each op rounded to float32, no FMA, fixed order: bit-exact
//            across platforms), then its fused activation if it is not a clamp (every activation
//            fuses in this mode); the weight layers next to the outputs (floatHead, FLOAT_HEAD)
//            run in float32 (src/runtime/int8/lower.ts keptFloat); the ops
//            between layers run in float (`floatOps`): the float32 engine's WASM kernels
//            (src/runtime/f32/, constants placed by src/runtime/f32/constants.ts), or the
//            reference kernels on arena views for what has none. In either mode a node without an
//            int8 kernel whose activation inputs are all float32 runs on the float32 kernels.
//
// The skeleton (src/runtime/engine.ts, plan_builder.ts) specializes and fuses the graph per input
// signature, plans one arena (int8 and float32 values, each by its byte size) and binds the
// steps; this file places the weights and lowers each node (src/runtime/int8/: kernel steps,
// aliases, format conversions; the rest falls back to its reference kernel). `run` writes the
// feeds, calls the steps, copies the outputs: no allocation per inference.
//
// Weights go to linear memory once per engine, decoded from the container's coded streams in
// WASM (decodeDense / decodeCsr) straight into the kernel layouts: Conv dense → qs8_conv2d_pack_w
// blocks, Conv sparse → the CSR with int16 values (the kernel reads it as decoded: no pack),
// depthwise and FC as stored (N, K), sparse FC → the CSR;
// no float32 copy of a weight is made. A Conv layer uses the sparse kernel when its weight density
// is ≤ `sparseDensity` (default SPARSE_DENSITY, measured: docs/engine.md).
//
// kernels: 'scalar' runs every int8 kernel through its plain TS reference (int8_ref.ts) on the
// same plan and the same data: the whole-model identity test compares it with 'simd' bit for bit.
import { SparrowError } from '../errors.js';
import { elementCount, type Tensor } from '../ops/types.js';
import { consumers, type Graph } from '../ir/graph.js';
import type { CodedInt8 } from '../format/graph.js';
import { decodeInt8Ref } from '../codec/int8.js';
import { int8QuantParams, quantizePerChannelInt8Wasm } from '../quant/int8.js';
import { absRowMax, csrLayout, E_RANGE, SPARSE_DENSITY } from '../kernels/int8.js';
import { fitsInt7 } from '../format/graph.js';
import { csrFromDense, csrPairCount } from '../kernels/int8_ref.js';
import { WasmEngine, type EngineOptions } from './engine.js';
import type { FuseOptions } from '../ir/fuse.js';
import { PlanBuilder, type CompiledPlan } from './plan_builder.js';
import { align16, Int8Lower, round3, type Int8Weights } from './int8/lower.js';
import { F32Lower } from './f32/lower.js';
import { F32ConstantStore } from './f32/constants.js';

/** FC layers: the sparse FC kernel (scalar, straight from the CSR) at or below this density. */
export const SPARSE_FC_DENSITY = 0.2;

export interface Int8EngineOptions extends EngineOptions {
  /** 'simd' (default): the WASM kernels; 'scalar': their TS references (int8_ref.ts) */
  kernels?: 'simd' | 'scalar';
  /** static activation ranges by value name (metadata.activationRanges); absent/null = dynamic mode */
  ranges?: ReadonlyMap<string, readonly [number, number]> | null;
  /** coded int8 weights by value name (decoded in WASM at load) */
  coded?: ReadonlyMap<string, CodedInt8>;
  /** density threshold of the sparse conv kernel (default SPARSE_DENSITY) */
  sparseDensity?: number;
  /**
   * Tiered kernels: after this many runs (default TIER_UP_RUNS), if a pruned 3x3 stride-1 conv
   * runs a sparse kernel that F(4x4) would beat, the plans are compiled again with the sparse
   * kernels priced against F(4x4) (tier 1; the run that does it also decodes and packs those
   * layers' F(4x4) layouts, once). Tier 0 keeps the load cheap (a CSR is ~11 bytes per (cout,
   * cin) at 70 % sparsity, F(4x4) 72); tier 1 is the faster steady state. Bit-identical outputs
   * (every kernel is exact). 0: tier 1 from the load; Infinity: never.
   */
  tierUpRuns?: number;
  /** density threshold of the sparse FC kernel (default SPARSE_FC_DENSITY) */
  sparseFcDensity?: number;
  /**
   * dynamic mode: weight layers within this many weight layers of a graph output run in float32
   * (default FLOAT_HEAD: the output layer and the two before it; 0 quantizes every layer)
   */
  floatHead?: number;
  /**
   * dynamic mode: which weight layers (node names of the fused graph) are quantized; the others run
   * in float32. Replaces the float head rule (diagnostics: `sparrow compare --layers`).
   */
  quantizeLayer?: (node: string) => boolean;
  /**
   * How int8 layers requantize and quantize per run (default 'fixed'):
   *   'fixed'  Sparrow's scheme (src/quant/int8.ts): static outputs requantized with float32
   *            multipliers (requantMultiplier; 'q31': Q31 fixed-point, TFLite), dynamic inputs with
   *            int8QuantParams; a layer whose output is only a graph output writes float32
   *            straight from its accumulators;
   *   'onnx'   the ONNX operators' arithmetic as onnxruntime computes it, for models quantized in
   *            ONNX (QDQ, QOperator, dynamic): Conv / FC outputs requantized as QLinearConv /
   *            QLinearMatMul (float32 multiplier fround(fround(s_x·s_w)/s_y), rounding half to
   *            even), every value with a range stored quantized (graph outputs too, dequantized
   *            after) and never fused across, dynamic inputs with DynamicQuantizeLinear's uint8
   *            parameters (zero point − 128).
   */
  requant?: 'fixed' | 'onnx';
  /**
   * Dense convs whose int8 weights all lie in [−64, 63] (the file's quant.i7, or scanned at load
   * for files without it) run on the c4 kernel (QS8_CONV_C4: bit-identical to the c2 kernel).
   * Default: when the WASM module is the relaxed build (build/sparrow.relaxed.wasm), where that
   * kernel uses i32x4.relaxed_dot_i8x16_i7x16_add_s; true on the plain build runs the same
   * kernel with plain SIMD (tests), false never uses it.
   */
  relaxed?: boolean;
  /**
   * Dense 3x3 stride-1 convs run on the exact Winograd F(2x2, 3x3) kernel where it is faster
   * (pickQs8ConvKernel, winogradFaster; bit-identical outputs). Default true; false keeps the
   * direct 4x8c2 kernel (comparisons, tests).
   */
  winograd?: boolean;
  /**
   * Dense 3x3 stride-1 convs that would run on Winograd F(2x2, 3x3) run on the exact F(4x4, 3x3)
   * kernel instead (QS8_CONV_WINO4: 36 multiplies per 16 outputs against 16 per 4) where their
   * geometry allows it (wino4Eligible) and their weights and input zero point keep it exact
   * (wino4Exact; dynamic mode takes the widest input range). With `relaxed`, such a conv bound
   * for the c4 kernel takes F(4x4) instead where wino4Cost < C4_RELAXED_COST (Cin ≥ 16).
   * Bit-identical outputs. Default true; false keeps F(2x2, 3x3) and c4 (comparisons, tests).
   * Ignored when `winograd` is false.
   */
  winograd4?: boolean;
  /**
   * Static mode: a residual Add (and the Relu after it) whose input is a conv's int8 output read
   * by nothing else runs in that conv's output stage (Qs8Out.add: the same bits, one pass over
   * the activations fewer, and split over threads with the conv). Default true; false keeps the
   * Add a step of its own (comparisons, tests).
   */
  fuseAdd?: boolean;
  /**
   * requant 'fixed', static ranges: how a conv / FC requantizes its int32 accumulators to its
   * int8 output. 'float32' (default): (acc + bias) as float32 times one float32 multiplier per
   * output channel, fround(fround(s_x·s_w)/s_y), rounded half to even (QLinearConv's
   * arithmetic; the output stage's MODE_QF). 'q31': a Q31 fixed-point multiplier and shift
   * (TFLite's SaturatingRoundingDoublingHighMul + RoundingDivideByPOT; MODE_Q8), which costs
   * ~3x the instructions per output in WASM SIMD (no 32x32→64 lane multiply). Both are exact
   * and deterministic (the same bits in every engine); they round a few outputs differently.
   */
  requantMultiplier?: 'float32' | 'q31';
}

/**
 * Int8EngineOptions.tierUpRuns default: runs at the load-time kernels before a file whose pruned
 * convs F(4x4) would run faster is compiled again for F(4x4) (docs/engine.md, "Tiered kernels").
 */
export const TIER_UP_RUNS = 3;

/** Dynamic mode: how many weight layers next to the outputs run in float32 (Int8EngineOptions.floatHead). */
export const FLOAT_HEAD = 3;

/** One quantized layer as lowered. */
export interface Int8Layer {
  node: string;
  op: string;
  kernel: string;
  /** weight density (nonzeros / elements) */
  density: number;
  /** 'i8' int8 in → int8 out; 'i8→f32' int8 in, float32 out; 'dyn' per-inference input quantization, float32 out */
  io: 'i8' | 'i8→f32' | 'dyn';
  /**
   * ms spent decoding + packing this layer's weight layout (part of Int8Report.weightsMs; once
   * per engine: a layout made for an earlier plan reports the time it took then); absent with
   * scalar kernels (nothing is placed)
   */
  loadMs?: number;
  /** the residual Add (and Relu) run in this layer's output stage (Int8EngineOptions.fuseAdd) */
  add?: string;
}

export interface Int8Report {
  mode: 'static' | 'dynamic';
  kernels: 'simd' | 'scalar';
  /** quantized layers of the largest plan */
  layers: Int8Layer[];
  /** ms spent decoding + packing weights into kernel layouts (all plans so far) */
  weightsMs: number;
  /**
   * tier 1 (Int8EngineOptions.tierUpRuns): after how many runs the plans were compiled again,
   * and the ms that recompilation took (lowering, decode + pack of the new layouts); absent at tier 0;
   * `failed`: the error code when the tier-1 layouts did not fit the memory limit (tier 0 stays)
   */
  tierUp?: { afterRuns: number; ms: number; failed?: string };
  /** true while a tier-up is due (tier 0, a layer tier 1 would change, not failed): it comes after tierUpRuns runs */
  tierPending?: boolean;
  /** weight bytes in kernel layouts */
  weightBytes: number;
  /**
   * nodes run in float32 between (or instead of) the quantized layers: with the float32 engine's
   * WASM kernels where they have one and read float32 activations, else their reference kernels
   * (dynamic mode; in static mode the latter are fallbackOps)
   */
  floatOps: string[];
}

/** A weight with its output channels as rows: W (N, K) int8. */
export interface QWeight {
  key: string;
  N: number;
  K: number;
  scales: Float32Array;
  nnz: number;
  /** dense (N, K) int8 in JS (scalar kernels, FC transposes); lazy */
  dense(): Int8Array;
  /** coded, (N, K) as stored (no transpose needed) */
  coded?: CodedInt8;
  /** coded, stored transposed (K, N) (FC weights of MatMul / Gemm transB = 0) */
  codedT?: CodedInt8;
  /** every value in [−64, 63] (the file's quant.i7; scanned when the file does not say); lazy */
  i7(): boolean;
  /** non-empty aligned k-pairs (2j, 2j+1) over all rows (the pair-block kernels' entries); lazy */
  pairs(): number;
  /** max over rows of Σ_k |w[row, k]| (the F(4x4, 3x3) kernel's exactness bound, wino4Exact); lazy */
  absRowMax(): number;
  /** absRowMax if it was computed, else undefined (no decode) */
  absRowMaxKnown(): number | undefined;
}

export type PlaceFormat = 'c2' | 'c4' | 'csr16' | 'pairs' | 'raw' | 'csr' | 'wino' | 'wino4';
export interface CsrPtrs {
  rowPtr: number;
  col: number;
  val: number;
  nnz: number;
}
/** A weight layout requested by the lowering; ptr (and csr for 'csr') set when placed. */
export interface Placement {
  w: QWeight;
  format: PlaceFormat;
  groups: number;
  ptr: number;
  csr: CsrPtrs | undefined;
  /** ms its decode + pack took (set when placed) */
  ms?: number;
}

export class Int8Engine extends WasmEngine implements Int8Weights {
  readonly report: Int8Report;
  readonly #opts: Int8EngineOptions;
  readonly #scalar: boolean;
  readonly #weights = new Map<string, QWeight>();
  readonly #placed = new Map<string, Placement>();
  readonly #pending: Placement[] = [];

  /** float32 constants of the nodes that run in float (src/runtime/f32/constants.ts) */
  readonly #consts: F32ConstantStore;

  constructor(graph: Graph, opts: Int8EngineOptions = {}) {
    super(graph, opts);
    this.#consts = new F32ConstantStore(() => this.w, new Set([...graph.values.values()].flatMap((v) => (v.const ? [v.const] : []))));
    this.#opts = opts;
    this.#scalar = opts.kernels === 'scalar';
    if (opts.floatHead !== undefined && !(Number.isInteger(opts.floatHead) && opts.floatHead >= 0)) {
      throw new SparrowError('invalid_argument', `floatHead must be a non-negative integer, got ${String(opts.floatHead)}`);
    }
    const tu = opts.tierUpRuns;
    if (tu !== undefined && !(tu === Infinity || (Number.isInteger(tu) && tu >= 0))) {
      throw new SparrowError('invalid_argument', `tierUpRuns must be a non-negative integer or Infinity, got ${String(tu)}`);
    }
    if (opts.kernels !== undefined && opts.kernels !== 'simd' && opts.kernels !== 'scalar') {
      throw new SparrowError('invalid_argument', `kernels must be 'simd' or 'scalar', got ${String(opts.kernels)}`);
    }
    this.report = {
      mode: opts.ranges ? 'static' : 'dynamic',
      kernels: this.#scalar ? 'scalar' : 'simd',
      layers: [],
      weightsMs: 0,
      weightBytes: 0,
      floatOps: [],
    };
  }

  get options(): Int8EngineOptions {
    return this.#opts;
  }

  get sparseDensity(): number {
    return this.#opts.sparseDensity ?? SPARSE_DENSITY;
  }

  /** Int8EngineOptions.tierUpRuns (default TIER_UP_RUNS) */
  get tierUpRuns(): number {
    return this.#opts.tierUpRuns ?? TIER_UP_RUNS;
  }

  /** tier 1: pruned convs that F(4x4) can run are priced against it (tierUpRuns 0, or after the tier-up) */
  get tier4(): boolean {
    return this.#tier4 || this.tierUpRuns === 0;
  }

  #tier4 = false;
  /** tier-0 layers whose kernel tier 1 would change (lowered so far) */
  #tierCandidates = 0;
  #tierRuns = 0;

  noteTierCandidate(): void {
    this.#tierCandidates++;
    if (!this.#tier4 && !this.#tierFailed && this.tierUpRuns !== Infinity) this.report.tierPending = true;
  }

  /** Before each run: at tier 0 with candidates, after tierUpRuns runs, tier 1 and every plan compiled again. */
  protected override beforeRun(): void {
    if (this.#tier4 || this.#tierFailed || this.#tierCandidates === 0 || ++this.#tierRuns <= this.tierUpRuns) return;
    this.#tier4 = true;
    delete this.report.tierPending;
    this.dropPlans();
    // the arena as the tier-0 plans left it (their blocks given back): what a failed attempt undoes
    const W = this.w,
      mark = W.mark(),
      weightBytes = this.report.weightBytes;
    const t0 = performance.now();
    try {
      this.compileLoadPlan();
    } catch (e) {
      // over the memory limit (too_large): tier 0 stays, and the run goes on with it, in the
      // memory it had: the layouts the attempt placed are given back (the failed plan's blocks
      // were, by lower), so the tier-0 plan compiles again where it was
      if (!(e instanceof SparrowError && e.code === 'too_large')) throw e;
      this.#tier4 = false;
      this.#tierFailed = true;
      this.dropPlans();
      for (const [k, pl] of this.#placed) if (pl.ptr >= mark) this.#placed.delete(k);
      W.release(mark);
      this.report.weightBytes = weightBytes;
      this.report.tierUp = { afterRuns: this.#tierRuns - 1, ms: round3(performance.now() - t0), failed: e.code };
      return;
    }
    this.report.tierUp = { afterRuns: this.#tierRuns - 1, ms: round3(performance.now() - t0) };
  }

  #tierFailed = false;

  get floatHead(): number {
    return this.#opts.floatHead ?? FLOAT_HEAD;
  }

  get requant(): 'fixed' | 'onnx' {
    return this.#opts.requant ?? 'fixed';
  }

  /** Int8EngineOptions.relaxed (default: the module is the relaxed build); never with scalar kernels */
  get relaxedConv(): boolean {
    return !this.#scalar && (this.#opts.relaxed ?? this.w.relaxed);
  }

  /** Int8EngineOptions.winograd (default true) */
  get winograd(): boolean {
    return this.#opts.winograd ?? true;
  }

  /** Int8EngineOptions.winograd4 (default true) */
  get winograd4(): boolean {
    return this.#opts.winograd4 ?? true;
  }

  /** Int8EngineOptions.fuseAdd (default true) */
  get fuseAdd(): boolean {
    return this.#opts.fuseAdd ?? true;
  }

  /** Int8EngineOptions.requantMultiplier (default 'float32') */
  get requantMultiplier(): 'float32' | 'q31' {
    return this.#opts.requantMultiplier ?? 'float32';
  }

  get sparseFcDensity(): number {
    return this.#opts.sparseFcDensity ?? SPARSE_FC_DENSITY;
  }

  /** layers of the plan being lowered → the layout their weights run from (loadMs once placed) */
  readonly #layerPlacements = new Map<Int8Layer, Placement>();

  /** Records a lowered layer (and the layout it runs from: its loadMs is set when placed). */
  addLayer(l: Int8Layer, pl?: Placement): void {
    this.report.layers.push(l);
    if (pl) this.#layerPlacements.set(l, pl);
  }

  /** the plan compiled at load (weights decoded and packed then): static input shapes, a symbolic batch (axis 0) taken as 1 */
  protected loadFeeds(): Record<string, Tensor> | undefined {
    const g = this.graph;
    const infos = g.inputs.map((n) => g.values.get(n)!.info);
    const shapes = infos.map((i) => i.dims?.map((d, k) => (d < 0 && k === 0 ? 1 : d)) ?? null);
    if (!infos.every((i) => i.dtype === 'float32') || !shapes.every((d) => d !== null && d.every((x) => x >= 0))) return undefined;
    return Object.fromEntries(g.inputs.map((n, i) => [n, { dtype: 'float32', dims: shapes[i]!, data: new Float32Array(0) }]));
  }

  protected constantBytes(): number {
    return this.report.weightBytes + this.#consts.bytes;
  }

  /**
   * static mode: the int8 kernels clamp (Relu, Clip) in their output stage, other activations
   * stay nodes; dynamic mode: every activation fuses (the layers write float32 and apply it in
   * place after the kernel, Int8Lower.postActivation; the float layers take it as sparrow-f32 does)
   */
  protected override fuseOptions(): FuseOptions {
    return { activations: this.#opts.ranges || this.requant === 'onnx' ? 'clamp' : 'all', ...(this.#keep ? { keep: this.#keep } : {}) };
  }

  /**
   * 'onnx': the values the model quantizes stay values (a fusion across one would skip its
   * rounding), but for one read only by a Relu quantized with the same parameters: the Relu is
   * then the output clamp at the zero point, the same bits (computed once, lazily).
   */
  get #keep(): ReadonlySet<string> | undefined {
    const ranges = this.#opts.ranges;
    if (this.requant !== 'onnx' || !ranges) return undefined;
    if (this.#keepSet) return this.#keepSet;
    const keep = new Set(ranges.keys());
    const readers = consumers(this.graph);
    for (const v of ranges.keys()) {
      const r = readers.get(v) ?? [];
      if (r.length !== 1 || r[0]!.domain !== '' || r[0]!.op !== 'Relu') continue;
      if (sameRange(ranges.get(v), ranges.get(r[0]!.outputs[0]!))) keep.delete(v);
    }
    return (this.#keepSet = keep);
  }

  #keepSet: Set<string> | undefined;

  // ---- weights --------------------------------------------------------------------------------

  /** nonzeros as the stream header states them (rle codecs), undefined when the header has none. */
  #headerNnz(c: CodedInt8, n: number): number | undefined {
    const p = c.payload;
    const varint = (at: number): [number, number] => {
      let v = 0,
        i = at;
      for (let k = 0; k < 5 && i < p.length; k++, i++) {
        v += (p[i]! & 0x7f) * 2 ** (7 * k);
        if ((p[i]! & 0x80) === 0) return [v, i + 1];
      }
      throw new SparrowError('corrupt_stream', 'bad varint in an int8 stream');
    };
    if (c.codec === 2) return Math.min(n, varint(0)[0]);
    if (c.codec === 3) return Math.min(n, varint(varint(0)[1])[0]);
    return undefined;
  }

  /**
   * The int8 weight of constant `name` with output channels as rows: `axis` is the output
   * channel axis of the layer (0: stored (N, K); 1: stored (K, N), a 2-D FC weight). From the
   * coded stream when the file has it with that axis, else quantized here (per channel).
   */
  weight(L: Int8Lower, name: string, axis: 0 | 1): QWeight {
    const key = `${name}|${axis}`;
    let w = this.#weights.get(key);
    if (w) return w;
    const c = this.#opts.coded?.get(name);
    const dims = L.dims(name);
    const n = elementCount(dims);
    const N = dims[axis]!,
      K = n / N;
    if (c && c.axis === axis && (axis === 0 || dims.length === 2)) {
      let dense: Int8Array | undefined;
      const raw = (): Int8Array => decodeInt8Ref(c.codec, c.payload, n);
      const d = axis === 0 ? () => (dense ??= raw()) : () => (dense ??= transpose(raw(), K, N));
      let i7 = c.i7;
      const fits = (): boolean => (i7 ??= fitsInt7(d()));
      // recorded at compress time (quant.pairs) where the file has it: no decode for the kernel choice
      let E: number | undefined = axis === 0 ? c.pairs : undefined;
      const nnz = this.#nnzOf(c, n);
      // else the pattern from a CSR decode in WASM (cheaper than the dense JS decode), counted in place
      const pairs = (): number =>
        (E ??= axis === 0 ? this.#pairCount(c, N, K, nnz) : ((csr) => csrPairCount(csr.rowPtr, csr.col, N))(csrFromDense(d(), N, K)));
      // scanned once: the dense weight when it is in JS, else decoded in WASM
      let arm: number | undefined;
      const absMax = (): number => (arm ??= dense || axis === 1 ? absRowMax(d(), N) : this.#absRowMaxCoded(c, N, K));
      w = {
        key,
        N,
        K,
        scales: c.scales,
        nnz,
        dense: d,
        i7: fits,
        pairs,
        absRowMax: absMax,
        absRowMaxKnown: () => arm,
        ...(axis === 0 ? { coded: c } : { codedT: c }),
      };
    } else {
      const t = L.constOf(name);
      if (!t || t.dtype !== 'float32') throw new SparrowError('unsupported_op', `weight '${name}' is not a float32 constant`);
      if (axis === 1 && dims.length !== 2) throw new SparrowError('unsupported_op', `weight '${name}' [${dims}] is not 2-D`);
      // in WASM (the same bits as quantizePerChannelInt8, its reference), with the nonzero count
      const q = quantizePerChannelInt8Wasm(this.w, t.data as Float32Array, [...dims], axis);
      const qd = axis === 0 ? q.q : transpose(q.q, K, N);
      const nnz = q.nnz;
      let i7: boolean | undefined, E: number | undefined, arm: number | undefined;
      const pairs = (): number => (E ??= ((csr) => csrPairCount(csr.rowPtr, csr.col, N))(csrFromDense(qd, N, K)));
      const absMax = (): number => (arm ??= absRowMax(qd, N));
      w = {
        key,
        N,
        K,
        scales: q.scales,
        nnz,
        dense: () => qd,
        i7: () => (i7 ??= fitsInt7(qd)),
        pairs,
        absRowMax: absMax,
        absRowMaxKnown: () => arm,
      };
    }
    this.#weights.set(key, w);
    return w;
  }

  #nnzOf(c: CodedInt8, n: number): number {
    const p = c.payload;
    if (c.codec === 0) {
      let k = 0;
      for (let i = 0; i < p.length; i++) if (p[i] !== 0) k++;
      return k;
    }
    const h = this.#headerNnz(c, n);
    if (h !== undefined) return h;
    // huffman: decode densely in WASM (temporary) and count there (a JS loop over a 2.5 M-weight
    // model's values cost several ms of a cold load)
    const t0 = performance.now();
    const w = this.w;
    const m = w.mark();
    try {
      const k = w.exports.qs8_count_nonzero__wasmsimd(n, this.#decodeDenseTemp(c, n));
      if (k < 0) throw new SparrowError('internal', `qs8_count_nonzero__wasmsimd failed (status ${k})`);
      return k;
    } finally {
      w.release(m);
      this.report.weightsMs += performance.now() - t0;
    }
  }

  /**
   * Non-empty aligned k-pairs of a coded (N, K) weight (csrPairCount), from a CSR decoded in
   * WASM scratch and counted there (qs8_csr_pair_count): no JS copies of it (fresh JS buffers of ~50 KB per 64-channel
   * layer cost page faults on a cold load, as many as the scratch they copy). `nnz`: #nnzOf.
   * Made while lowering (the kernel choice), so, as before, not in report.weightsMs (decode +
   * pack); it is in loadMs.
   */
  #pairCount(c: CodedInt8, N: number, K: number, nnz: number): number {
    const W = this.w;
    const n = N * K;
    const m = W.mark();
    try {
      const cap = nnz;
      const src = W.put(c.payload);
      const work = W.alloc(W.workBytes(n));
      const dense = c.codec === 2 ? 0 : W.alloc(n + 16);
      const rp = W.alloc((N + 1) * 4),
        cp = W.alloc(cap * 2 + 16),
        vp = W.alloc(cap + 16);
      const got = W.exports.decodeCsr(c.codec, src, c.payload.length, N, K, rp, cp, vp, cap, work, dense, 1);
      if (got < 0) throw new SparrowError('corrupt_stream', `a ${N}x${K} int8 weight: CSR decode failed (status ${got})`);
      if (got !== cap) throw new SparrowError('corrupt_stream', `a ${N}x${K} int8 weight: ${got} nonzeros, the stream header says ${cap}`);
      return W.exports.qs8_csr_pair_count(N, rp, cp);
    } finally {
      W.release(m);
    }
  }

  /** absRowMax of a coded (N, K) weight, decoded in WASM into scratch (the dense JS decode is slower). */
  #absRowMaxCoded(c: CodedInt8, N: number, K: number): number {
    const W = this.w;
    const m = W.mark();
    try {
      return absRowMax(W.i8(this.#decodeDenseTemp(c, N * K), N * K), N);
    } finally {
      W.release(m);
    }
  }

  /** Decodes a coded weight densely into temporary linear memory (caller releases); returns the pointer. */
  #decodeDenseTemp(c: CodedInt8, n: number): number {
    const w = this.w;
    const src = w.put(c.payload);
    const out = w.alloc(n + 16);
    const work = w.alloc(w.workBytes(n));
    w.decodeInt8At(c.codec, src, c.payload.length, out, n, work);
    return out;
  }

  /**
   * The weight in a kernel format, once per (weight, format): 'c2' (dense conv blocks),
   * 'csr16' (sparse conv: the CSR with int16 values), 'raw' ((N, K) int8), 'csr' (FC sparse: row pointers,
   * columns, values). Lowering only requests it; #placePending (at plan compilation, after the
   * lowering) allocates every requested layout in one block and then decodes + packs the weights
   * one by one in the same scratch above it: coded weights are decoded in WASM straight from
   * their payload into the layout, and the scratch pages are touched once, not once per layer
   * (fresh linear-memory pages cost a page fault each: measured, the larger part of the load).
   */
  placed(w: QWeight, format: PlaceFormat, groups = 1): Placement {
    const key = `${w.key}|${format}|${groups}`;
    let pl = this.#placed.get(key);
    if (!pl) {
      pl = { w, format, groups, ptr: -1, csr: undefined };
      this.#placed.set(key, pl);
      this.#pending.push(pl);
    }
    return pl;
  }

  /** Bytes of a placement's layout, and of the scratch it needs to be made. */
  #placeBytes(pl: Placement): { perm: number; temp: number } {
    const W = this.w,
      ex = W.exports;
    const { N, K, nnz } = pl.w;
    const n = N * K;
    const a16 = (b: number): number => align16(b + 16);
    const c = pl.w.coded ?? pl.w.codedT;
    const decode = c ? a16(c.payload.length + 16) + a16(W.workBytes(n)) : a16(n);
    switch (pl.format) {
      case 'raw':
        return { perm: a16(n), temp: c ? decode + (pl.w.codedT ? a16(n) : 0) : 0 };
      case 'c2': {
        const b = ex.qs8_conv2d_packed_w_bytes(N, K, pl.groups);
        if (b < 0) throw new SparrowError('internal', `qs8_conv2d_packed_w_bytes failed (status ${b})`);
        return { perm: a16(b), temp: decode + a16(n) };
      }
      case 'wino': {
        const b = ex.qs8_wino_packed_w_bytes(N, K, pl.groups);
        if (b < 0) throw new SparrowError('internal', `qs8_wino_packed_w_bytes failed (status ${b})`);
        return { perm: a16(b), temp: decode + a16(n) };
      }
      case 'wino4': {
        const b = ex.qs8_wino4_packed_w_bytes(N, K, pl.groups);
        if (b < 0) throw new SparrowError('internal', `qs8_wino4_packed_w_bytes failed (status ${b})`);
        return { perm: a16(b), temp: decode + a16(n) };
      }
      case 'c4': {
        const b = ex.qs8_conv2d_packed_w_c4_bytes(N, K, pl.groups);
        if (b < 0) throw new SparrowError('internal', `qs8_conv2d_packed_w_c4_bytes failed (status ${b})`);
        return { perm: a16(b), temp: decode + a16(n) };
      }
      case 'csr16': {
        const b = ex.qs8_spconv_csr_bytes(N, nnz);
        if (b !== csrLayout(N, nnz, 2).bytes)
          throw new SparrowError(
            'internal',
            `qs8_spconv_csr_bytes(${N}, ${nnz}) = ${b}, the engine's layout says ${csrLayout(N, nnz, 2).bytes}`,
          );
        return { perm: a16(b), temp: c ? decode + (c.codec === 2 ? 0 : a16(n)) : 0 };
      }
      case 'csr':
        return { perm: a16(csrLayout(N, nnz, 1).bytes), temp: c ? decode + a16(n) : 0 };
      case 'pairs': {
        // the csr16 layout in scratch (decoded as for 'csr16'), then packed into the pair list
        const b = ex.qs8_spconv_pairs_bytes(N, pl.w.pairs());
        if (b < 0) throw new SparrowError('internal', `qs8_spconv_pairs_bytes failed (status ${b})`);
        return { perm: a16(b), temp: a16(csrLayout(N, nnz, 2).bytes) + (c ? decode + (c.codec === 2 ? 0 : a16(n)) : 0) };
      }
    }
  }

  /** Allocates and fills every requested layout (see `placed`). */
  #placePending(): void {
    const todo = this.#pending.splice(0);
    if (!todo.length || this.#scalar) return;
    const t0 = performance.now();
    const W = this.w;
    const before = W.mark();
    const sizes = todo.map((pl) => this.#placeBytes(pl));
    const perm = sizes.reduce((a, b) => a + b.perm, 0),
      temp = Math.max(...sizes.map((b) => b.temp));
    // grow once for all of it
    W.alloc(perm + temp);
    W.release(before);
    todo.forEach((pl, i) => {
      pl.ptr = W.alloc(sizes[i]!.perm);
    });
    const mark = W.mark();
    try {
      for (const pl of todo) {
        const t = performance.now();
        this.#fill(pl);
        pl.ms = performance.now() - t;
        W.release(mark);
      }
    } catch (e) {
      // nothing half-made stays cached: a later plan requests (and fails on) them again
      for (const [k, pl] of this.#placed) if (todo.includes(pl)) this.#placed.delete(k);
      throw e;
    } finally {
      W.release(mark);
    }
    this.report.weightBytes += mark - before;
    this.report.weightsMs += performance.now() - t0;
  }

  /** Decodes + packs one weight into its allocated layout (scratch above the arena mark, released by the caller). */
  #fill(pl: Placement): void {
    const W = this.w,
      ex = W.exports;
    const { w, format, groups } = pl;
    const { N, K } = w;
    const n = N * K;
    const ok = (st: number, what: string): void => {
      if (st < 0) throw new SparrowError('internal', `${what} failed (status ${st})`);
    };
    const c = w.coded;
    const dst = pl.ptr;
    if (format === 'raw') {
      if (c) {
        const src = W.put(c.payload);
        W.decodeInt8At(c.codec, src, c.payload.length, dst, n, W.alloc(W.workBytes(n)));
      } else if (w.codedT) {
        const out = this.#decodeDenseTemp(w.codedT, n);
        const s = W.i8(out, n),
          d = W.i8(dst, n);
        for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) d[j * K + k] = s[k * N + j]!;
      } else W.i8(dst, n).set(w.dense());
      return;
    }
    if (format === 'c2') {
      // a raw (codec 0) stream is the dense weight: packed straight from its copy in memory
      const src = c ? (c.codec === 0 && c.payload.length === n ? W.put(c.payload) : this.#decodeDenseTemp(c, n)) : W.putBytes(w.dense());
      ok(ex.qs8_conv2d_pack_w(N, K, groups, src, dst), 'qs8_conv2d_pack_w');
      return;
    }
    if (format === 'wino') {
      const src = c ? (c.codec === 0 && c.payload.length === n ? W.put(c.payload) : this.#decodeDenseTemp(c, n)) : W.putBytes(w.dense());
      ok(ex.qs8_wino_pack_w(N, K, groups, src, dst), 'qs8_wino_pack_w');
      return;
    }
    if (format === 'wino4') {
      const src = c ? (c.codec === 0 && c.payload.length === n ? W.put(c.payload) : this.#decodeDenseTemp(c, n)) : W.putBytes(w.dense());
      const st = ex.qs8_wino4_pack_w(N, K, groups, src, dst);
      ok(st, 'qs8_wino4_pack_w');
      // where the kernel was chosen on the measured bound (absRowMax), the layout's own count must
      // agree (else it was chosen on the worst case 128·K, which the count cannot exceed)
      const planned = w.absRowMaxKnown() ?? 128 * K;
      if (w.absRowMaxKnown() === undefined ? st > planned : st !== planned)
        throw new SparrowError('internal', `weight ${w.key}: packed max Σ|w| ${st}, planned with ${planned}`);
      return;
    }
    if (format === 'c4') {
      const src = c ? (c.codec === 0 && c.payload.length === n ? W.put(c.payload) : this.#decodeDenseTemp(c, n)) : W.putBytes(w.dense());
      const st = ex.qs8_conv2d_pack_w_c4(N, K, groups, src, dst);
      if (st === E_RANGE)
        throw new SparrowError('corrupt_stream', `weight ${w.key} is marked 7-bit (quant.i7) but holds values outside [-64, 63]`);
      ok(st, 'qs8_conv2d_pack_w_c4');
      return;
    }
    // a CSR written in place by the decoder: int8 values for the sparse FC, int16 ones for the
    // sparse conv (its kernel's layout, assembly/int8/sparse.ts: no pack step); the pair-block
    // kernels' list is packed from that CSR made in scratch
    const nnz = w.nnz;
    const wide = format === 'csr16' || format === 'pairs';
    const L = csrLayout(N, nnz, wide ? 2 : 1);
    if (format === 'pairs') {
      const tmp = W.alloc(L.bytes);
      this.#fillCsr(w, wide, L, tmp);
      const E = w.pairs();
      const got = ex.qs8_spconv_pack_pairs(N, K, tmp, dst, E);
      // E may come from the file (quant.pairs): a count the stream does not have is a corrupt file
      if (got !== E)
        throw new SparrowError(
          'corrupt_stream',
          `weight ${w.key}: ${got < 0 ? `more than ${E}` : got} non-empty k-pairs, the file says ${E}`,
        );
      return;
    }
    if (!wide) pl.csr = { rowPtr: dst, col: dst + L.col, val: dst + L.val, nnz };
    this.#fillCsr(w, wide, L, dst);
  }

  /** The CSR of w (int16 values when `wide`) in layout L at dst, decoded in WASM from the coded stream (scratch above). */
  #fillCsr(w: QWeight, wide: boolean, L: { col: number; val: number }, dst: number): void {
    const W = this.w,
      ex = W.exports;
    const { N, K, nnz } = w;
    const n = N * K;
    const c = w.coded;
    const rp = dst,
      cp = dst + L.col,
      vp = dst + L.val;
    if (c) {
      const src = W.put(c.payload);
      const work = W.alloc(W.workBytes(n));
      const dense = c.codec === 2 ? 0 : W.alloc(n + 16);
      const got = ex.decodeCsr(c.codec, src, c.payload.length, N, K, rp, cp, vp, nnz, work, dense, wide ? 2 : 1);
      if (got < 0) throw new SparrowError('corrupt_stream', `weight ${w.key}: CSR decode failed (status ${got})`);
      if (got !== nnz) throw new SparrowError('corrupt_stream', `weight ${w.key}: ${got} nonzeros, the stream header says ${nnz}`);
    } else {
      const csr = csrFromDense(w.dense(), N, K);
      if (csr.rowPtr[N] !== nnz) throw new SparrowError('internal', `weight ${w.key}: ${csr.rowPtr[N]} nonzeros, expected ${nnz}`);
      new Uint32Array(W.memory.buffer, rp, N + 1).set(csr.rowPtr);
      new Uint16Array(W.memory.buffer, cp, nnz).set(csr.col);
      if (wide) new Int16Array(W.memory.buffer, vp, nnz).set(csr.val);
      else W.i8(vp, nnz).set(csr.val);
    }
  }

  // ---- lowering -------------------------------------------------------------------------------

  protected lower(g: Graph): CompiledPlan {
    const P = new PlanBuilder(g, this.w);
    // dynamic mode: integer and bool values (masks, positions, shapes) live in the arena as in
    // sparrow-f32, so the float32 engine's kernels run them, with no JS per run
    if (!this.#opts.ranges && !this.#scalar) P.arenaAll = true;
    try {
      const L = new Int8Lower(
        P,
        this,
        this.#opts.ranges ?? null,
        this.#scalar,
        new F32Lower(P, this.#consts),
        this.floatHead,
        this.#opts.quantizeLayer,
      );
      const layersBefore = this.report.layers.length;
      const outputs = L.lowerAll((n, reason, float) => {
        const op = n.domain ? `${n.domain}.${n.op}` : n.op;
        if (float || (!this.#opts.ranges && reason.startsWith('dynamic:'))) {
          if (!this.report.floatOps.includes(n.name)) this.report.floatOps.push(n.name);
        } else this.noteFallback({ node: n.name, op, reason: reason.replace(/^dynamic: /, '') });
      });
      this.#placePending();
      for (const [l, pl] of this.#layerPlacements) if (pl.ms !== undefined) l.loadMs = Math.round(pl.ms * 1000) / 1000;
      this.#layerPlacements.clear();
      // keep the layer list of the latest plan only
      if (layersBefore > 0) this.report.layers.splice(0, layersBefore);
      return P.finish(outputs, this.pinnedInputs);
    } catch (e) {
      this.#layerPlacements.clear();
      P.mem.dispose();
      throw e;
    }
  }
}

/** Two static ranges with the same int8 parameters. */
export function sameRange(a: readonly [number, number] | undefined, b: readonly [number, number] | undefined): boolean {
  if (!a || !b) return false;
  const p = int8QuantParams({ min: a[0], max: a[1] }),
    q = int8QuantParams({ min: b[0], max: b[1] });
  return p.scale === q.scale && p.zeroPoint === q.zeroPoint;
}

function transpose(src: Int8Array, rows: number, cols: number): Int8Array {
  const d = new Int8Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) d[c * rows + r] = src[r * cols + c]!;
  return d;
}
