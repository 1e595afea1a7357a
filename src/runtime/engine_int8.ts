// The 'sparrow-int8' engine: int8 execution of an optimized Graph in WASM linear memory with the
// kernels of assembly/int8/ (drivers: src/kernels/int8.ts, references: src/kernels/int8_ref.ts).
//
// Scheme (issue 5): weights int8 symmetric per output channel (the .sparrow file's, pruned zeros
// exact), activations int8 asymmetric per tensor, integer-only requantization (Q31 multiplier +
// shift per output channel), int32 bias round(b / (s_x·s_w[c])) computed at load from the stored
// float32 bias.
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
//            Conv/FC quantizes its input per inference with the input's own min/max
//            (int8QuantParams), runs the int GEMM and writes float32 (f32 output stage, each op
//            rounded to float32, no FMA, fixed order: bit-exact across platforms); the ops
//            between layers run in float (reference kernels on arena views, `floatOps`).
//
// Per signature of input shapes (like engine_f32.ts): specialize + fuse (src/ir/fuse.ts: bias
// Adds and Relu/Clip into Conv/Gemm/MatMul), lower every node to steps (kernel, alias, format
// conversion, fallback), plan one arena (src/runtime/plan.ts: int8 and float32 values, each by
// its byte size), bind steps to fixed pointers. `run` writes the feeds, calls the steps, copies
// the outputs (plan_runner.ts, shared with the f32 engine): no allocation per inference.
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
import { elementCount, type Attrs, type KernelContext, type Tensor } from '../ops/types.js';
import { readWindowAttrs, windowGeometry } from '../ops/ref/conv.js';
import { AttrReader } from '../ops/ref/util.js';
import { cloneGraph, consumers, formatInfo, type Graph, type Node } from '../ir/graph.js';
import { eliminateDeadNodes, foldConstants, optimize, setInputShapes, type OptimizeOptions } from '../ir/passes.js';
import { fuseGraph, fusedActivation, FUSED_DOMAIN } from '../ir/fuse.js';
import { checkArenaPlan, planArena, type PlanStep } from './plan.js';
import { checkFeeds, outputReader, profilePlan, runPlan, type RunnablePlan } from './plan_runner.js';
import { guardKernel } from './reference.js';
import { SparrowWasm } from '../wasm/gateway.js';
import type { CodedInt8 } from '../format/graph.js';
import { decodeInt8Ref } from '../codec/int8.js';
import { quantizePerChannelInt8 } from '../quant/int8.js';
import { int8QuantParams, quantizeBiasInt32 } from '../quant/int8.js';
import { CONV_GEOMETRY_BYTES, convGeometry, writeConvGeometry, type ConvGeometry } from '../kernels/f32.js';
import {
  ADD_PARAMS_BYTES,
  addParams,
  vaddParams,
  writeVaddParams,
  type AddParams,
  type VaddParams,
  planQs8Conv,
  putChannelParams,
  qs8ConvKernel,
  csrLayout,
  QUANT_BLOCK_BYTES,
  writeAddParams,
  writeQuantBlock,
  type Qs8ConvKernel,
  type Qs8Out,
} from '../kernels/int8.js';
import {
  csrFromDense,
  dequantizeRef,
  qs8AddRef,
  qs8VaddRef,
  qs8Conv2dRef,
  qs8FcRef,
  qs8GlobalAvgPoolRef,
  qs8MaxPoolRef,
  quantizeRef,
} from '../kernels/int8_ref.js';
import { quantizeMultiplier } from '../quant/int8.js';
import type { FallbackOp } from './engine_f32.js';

/**
 * Conv layers whose weight density (nonzeros / elements) is at or below this use the sparse
 * kernel (qs8_spconv2d_16x1), above it the dense one (qs8_conv2d_4x8c2). Measured on the
 * ResNet-20/32 layer shapes (docs/engine.md, "sparrow-int8").
 */
export const SPARSE_DENSITY = 0.4;
/** FC layers: the sparse FC kernel (scalar, straight from the CSR) at or below this density. */
export const SPARSE_FC_DENSITY = 0.2;

export interface Int8EngineOptions {
  wasmModule?: WebAssembly.Module;
  /** 'simd' (default): the WASM kernels; 'scalar': their TS references (int8_ref.ts) */
  kernels?: 'simd' | 'scalar';
  /** static activation ranges by value name (metadata.activationRanges); absent/null = dynamic mode */
  ranges?: ReadonlyMap<string, readonly [number, number]> | null;
  /** coded int8 weights by value name (decoded in WASM at load) */
  coded?: ReadonlyMap<string, CodedInt8>;
  /** density threshold of the sparse conv kernel (default SPARSE_DENSITY) */
  sparseDensity?: number;
  /** density threshold of the sparse FC kernel (default SPARSE_FC_DENSITY) */
  sparseFcDensity?: number;
  passes?: Omit<OptimizeOptions, 'inputShapes'>;
  /**
   * the graph is already optimized with its shapes inferred (a `.sparrow` file's: written after
   * the passes, shapes inferred again by the reader): a plan only fixes the input shapes (one
   * shape-inference pass) instead of running the passes again
   */
  optimized?: boolean;
}

/** One quantized layer as lowered. */
export interface Int8Layer {
  node: string;
  op: string;
  kernel: string;
  /** weight density (nonzeros / elements) */
  density: number;
  /** 'i8' int8 in → int8 out; 'i8→f32' int8 in, float32 out; 'dyn' per-inference input quantization, float32 out */
  io: 'i8' | 'i8→f32' | 'dyn';
}

export interface Int8Report {
  mode: 'static' | 'dynamic';
  kernels: 'simd' | 'scalar';
  /** quantized layers of the largest plan */
  layers: Int8Layer[];
  /** ms spent decoding + packing weights into kernel layouts (all plans so far) */
  weightsMs: number;
  /** weight bytes in kernel layouts */
  weightBytes: number;
  /** dynamic mode: nodes run in float32 between the quantized layers */
  floatOps: string[];
}

type Form = 'i8' | 'f32';
interface QParams {
  scale: number;
  zp: number;
}
type Run = () => void;

interface Binder {
  ptr(name: string): number;
  scratch: number;
}

interface StepSpec extends PlanStep {
  node: string;
  build?(b: Binder): Run;
}

/** A plan as run by plan_runner.ts, with the node name of each step (profile). */
interface CompiledPlan extends RunnablePlan {
  names: string[];
}

/** A weight with its output channels as rows: W (N, K) int8. */
interface QWeight {
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
}

const SLACK = 64;

type PlaceFormat = 'c2' | 'csr16' | 'raw' | 'csr';
interface CsrPtrs {
  rowPtr: number;
  col: number;
  val: number;
  nnz: number;
}
/** A weight layout requested by the lowering; ptr (and csr for 'csr') set when placed. */
interface Placement {
  w: QWeight;
  format: PlaceFormat;
  groups: number;
  ptr: number;
  csr: CsrPtrs | undefined;
}

export class Int8Engine {
  readonly fallbackOps: FallbackOp[] = [];
  readonly report: Int8Report;
  readonly #graph: Graph;
  readonly #opts: Int8EngineOptions;
  readonly #scalar: boolean;
  #wasm: SparrowWasm | undefined;
  readonly #plans = new Map<string, CompiledPlan>();
  readonly #weights = new Map<string, QWeight>();
  readonly #placed = new Map<string, Placement>();
  readonly #pending: Placement[] = [];
  #arenaPtr = 0;
  #arenaBytes = 0;

  constructor(graph: Graph, opts: Int8EngineOptions = {}) {
    this.#graph = graph;
    this.#opts = opts;
    this.#scalar = opts.kernels === 'scalar';
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

  get wasm(): SparrowWasm | undefined {
    return this.#wasm;
  }

  get options(): Int8EngineOptions {
    return this.#opts;
  }

  async init(): Promise<void> {
    if (!this.#wasm) {
      let module = this.#opts.wasmModule;
      if (!module) {
        const spec = '../wasm/node.js';
        const node = (await import(/* @vite-ignore */ spec)) as typeof import('../wasm/node.js');
        module = await node.compileNodeModule();
      }
      const w = await SparrowWasm.instantiate(module);
      if (typeof (w.exports as unknown as Record<string, unknown>)['qs8_conv2d_4x8c2__wasmsimd'] !== 'function') {
        throw new SparrowError('internal', 'the WASM module lacks the int8 kernels (rebuild it: npm run build:wasm)');
      }
      this.#wasm = w;
    }
    // compile a plan now (weights decoded and packed at load, not at the first run): the static
    // input shapes, a symbolic batch (axis 0) taken as 1
    const g = this.#graph;
    const shapes = g.inputs.map((n) => g.values.get(n)!.info.dims?.map((d, i) => (d < 0 && i === 0 ? 1 : d)) ?? null);
    if (g.inputs.every((n) => g.values.get(n)!.info.dtype === 'float32') && shapes.every((d) => d !== null && d.every((x) => x >= 0))) {
      const feeds = Object.fromEntries(
        g.inputs.map((n, i) => [n, { dtype: 'float32', dims: shapes[i]!, data: new Float32Array(0) } as Tensor]),
      );
      this.#planFor(feeds);
    }
  }

  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    if (!this.#wasm) await this.init();
    checkFeeds(this.#graph, feeds);
    return runPlan(this.#wasm!.memory, this.#graph.inputs, this.#planFor(feeds), feeds);
  }

  /** Mean ms per step over `runs` runs (diagnostics); steps are named by node (fused Add+Relu: both), op left ''. */
  async profile(feeds: Record<string, Tensor>, runs = 20): Promise<Array<{ node: string; op: string; ms: number }>> {
    await this.run(feeds);
    const plan = this.#planFor(feeds);
    return profilePlan(this.#wasm!.memory, this.#graph.inputs, plan, feeds, runs, (k) => ({ node: plan.names[k]!, op: '' }));
  }

  #planFor(feeds: Record<string, Tensor>): CompiledPlan {
    const key = this.#graph.inputs.map((n) => feeds[n]!.dims.join('x')).join(';');
    let p = this.#plans.get(key);
    if (!p) {
      p = this.#compile(feeds);
      this.#plans.set(key, p);
    }
    return p;
  }

  #noteFallback(f: FallbackOp): void {
    if (!this.fallbackOps.some((x) => x.node === f.node && x.reason === f.reason)) this.fallbackOps.push(f);
  }

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
  weight(L: Lower, name: string, axis: 0 | 1): QWeight {
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
      w = { key, N, K, scales: c.scales, nnz: this.#nnzOf(c, n), dense: d, ...(axis === 0 ? { coded: c } : { codedT: c }) };
    } else {
      const t = L.constOf(name);
      if (!t || t.dtype !== 'float32') throw new SparrowError('unsupported_op', `weight '${name}' is not a float32 constant`);
      if (axis === 1 && dims.length !== 2) throw new SparrowError('unsupported_op', `weight '${name}' [${dims}] is not 2-D`);
      const q = quantizePerChannelInt8(t.data as Float32Array, [...dims], axis);
      const qd = axis === 0 ? q.q : transpose(q.q, K, N);
      let nnz = 0;
      for (let i = 0; i < qd.length; i++) if (qd[i] !== 0) nnz++;
      w = { key, N, K, scales: q.scales, nnz, dense: () => qd };
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
    // huffman: decode densely in WASM (temporary) and count
    const t0 = performance.now();
    const w = this.#wasm!;
    const m = w.mark();
    try {
      const out = this.#decodeDenseTemp(c, n);
      const v = w.i8(out, n);
      let k = 0;
      for (let i = 0; i < n; i++) if (v[i] !== 0) k++;
      return k;
    } finally {
      w.release(m);
      this.report.weightsMs += performance.now() - t0;
    }
  }

  /** Decodes a coded weight densely into temporary linear memory (caller releases); returns the pointer. */
  #decodeDenseTemp(c: CodedInt8, n: number): number {
    const w = this.#wasm!;
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
    const W = this.#wasm!,
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
    }
  }

  /** Allocates and fills every requested layout (see `placed`). */
  #placePending(): void {
    const todo = this.#pending.splice(0);
    if (!todo.length || this.#scalar) return;
    const t0 = performance.now();
    const W = this.#wasm!;
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
        this.#fill(pl);
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
    const W = this.#wasm!,
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
    // a CSR written in place by the decoder: int8 values for the sparse FC, int16 ones for the
    // sparse conv (its kernel's layout, assembly/int8/sparse.ts: no pack step)
    const nnz = w.nnz;
    const wide = format === 'csr16';
    const L = csrLayout(N, nnz, wide ? 2 : 1);
    const rp = dst,
      cp = dst + L.col,
      vp = dst + L.val;
    if (!wide) pl.csr = { rowPtr: rp, col: cp, val: vp, nnz };
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

  // ---- compilation ----------------------------------------------------------------------------

  /** The graph for one signature of input shapes: shapes fixed, passes run (or, optimized, only what the new shapes allow). */
  #specialize(feeds: Record<string, Tensor>): Graph {
    const g = cloneGraph(this.#graph);
    const shapes = Object.fromEntries(g.inputs.map((n) => [n, feeds[n]!.dims]));
    if (!this.#opts.optimized) {
      optimize(g, { ...this.#opts.passes, inputShapes: shapes });
      return g;
    }
    const same = g.inputs.every((n) => {
      const d = g.values.get(n)!.info.dims,
        want = shapes[n]!;
      return !!d && d.length === want.length && d.every((x, i) => x === want[i]);
    });
    if (same) return g; // the reader's shape inference holds as is
    setInputShapes(g, shapes);
    // static shapes can only make Shape / Size (and what reads them) constant
    if (g.nodes.some((n) => n.domain === '' && (n.op === 'Shape' || n.op === 'Size'))) {
      foldConstants(g, this.#opts.passes ?? {});
      eliminateDeadNodes(g);
    }
    return g;
  }

  #compile(feeds: Record<string, Tensor>): CompiledPlan {
    const g = this.#specialize(feeds);
    const stat = (name: string): boolean => {
      const d = g.values.get(name)?.info.dims;
      return !!d && d.every((x) => x >= 0);
    };
    if (!g.nodes.every((n) => n.inputs.every((i) => !i || stat(i)) && n.outputs.every((o) => !o || stat(o)))) {
      this.#noteFallback({
        node: '*',
        op: '*',
        reason: 'shapes are not static for this input signature: the whole graph runs on the reference executor',
      });
      return { steps: [], names: [], feedPtr: new Map(), outputs: [], js: new Map(), reference: g };
    }
    fuseGraph(g);
    const L = new Lower(g, this, this.#opts.ranges ?? null, this.#scalar);
    const layersBefore = this.report.layers.length;
    L.lowerAll();
    this.#placePending();
    // arena
    const steps = L.steps;
    const planSteps: PlanStep[] = steps.map((s) => ({
      reads: s.reads,
      writes: s.writes,
      ...(s.alias ? { alias: s.alias } : {}),
      ...(s.scratch ? { scratch: s.scratch } : {}),
    }));
    const inputs = g.inputs.filter((i) => L.bytes.has(i));
    const outs = [...new Set(L.outputNames.filter((o) => L.bytes.has(o)))];
    const arena = planArena(planSteps, L.bytes, inputs, outs);
    checkArenaPlan(arena);
    const w = this.#wasm!;
    if (arena.arenaBytes + SLACK > this.#arenaBytes) {
      this.#arenaPtr = w.alloc(arena.arenaBytes + SLACK);
      this.#arenaBytes = arena.arenaBytes + SLACK;
    }
    const base = this.#arenaPtr;
    const ptr = (name: string): number => {
      const off = arena.offsetOf.get(name);
      if (off === undefined) throw new SparrowError('internal', `int8 plan: value '${name}' has no arena slot`);
      return base + off;
    };
    const runs = steps.map((s, k) => {
      if (!s.build) return () => {};
      const sc = arena.scratchOffset[k]!;
      return s.build({ ptr, scratch: sc < 0 ? 0 : base + sc });
    });
    const feedPtr = new Map<string, number>();
    for (const i of inputs) feedPtr.set(i, ptr(i));
    // an int8 output is read from its float32 copy (L.outputNames: the value holding each output as float32)
    const outputs = g.outputs.map((name, k) => {
      const src = L.outputNames[k]!;
      const v = g.values.get(name)!;
      return outputReader(name, v, w.memory, L.bytes.has(src) ? ptr(src) : undefined, L.js, src);
    });
    // keep the layer list of the latest (largest) plan only
    if (layersBefore > 0) this.report.layers.splice(0, layersBefore);
    return { steps: runs, names: steps.map((s) => s.node), feedPtr, outputs, js: L.js };
  }

  noteFallback(f: FallbackOp): void {
    this.#noteFallback(f);
  }
}

function transpose(src: Int8Array, rows: number, cols: number): Int8Array {
  const d = new Int8Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) d[c * rows + r] = src[r * cols + c]!;
  return d;
}

const ctxOf = (n: Node): KernelContext => ({ opset: n.opset, node: n.name });
const reader = (n: Node): AttrReader => new AttrReader(n.op, n.attrs as Attrs, ctxOf(n));
const ALIAS_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity']);
const clampI8 = (v: number): number => Math.max(-128, Math.min(127, v));

/** Lowering of one specialized, fused graph into steps. */
class Lower {
  readonly steps: StepSpec[] = [];
  /** arena values (incl. converted copies) → bytes */
  readonly bytes = new Map<string, number>();
  /** storage form and int8 parameters of every arena value */
  readonly form = new Map<string, Form>();
  readonly qp = new Map<string, QParams>();
  /** graph value of every arena value (converted copies → their source) */
  readonly base = new Map<string, string>();
  /** converted copies: value → name of its other form */
  readonly #conv = new Map<string, string>();
  /** non-float values computed in JS (fallback steps) */
  readonly js = new Map<string, Tensor>();
  /** per graph output: the arena (or js) value holding it as float32 */
  outputNames: string[] = [];
  readonly #skip = new Set<Node>();
  readonly #users: Map<string, Node[]>;
  readonly ex: SparrowWasm['exports'];
  readonly w: SparrowWasm;

  constructor(
    readonly g: Graph,
    readonly E: Int8Engine,
    readonly ranges: ReadonlyMap<string, readonly [number, number]> | null,
    readonly scalar: boolean,
  ) {
    this.w = E.wasm!;
    this.ex = this.w.exports;
    this.#users = consumers(g);
  }

  dims(name: string): number[] {
    return this.g.values.get(name)!.info.dims!;
  }
  constOf(name: string | undefined): Tensor | undefined {
    return name ? this.g.values.get(name)?.const : undefined;
  }
  isF32Act(name: string | undefined): boolean {
    if (!name) return false;
    const v = this.g.values.get(name);
    return !!v && !v.const && v.info.dtype === 'float32';
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
    return this.g.outputs.includes(name) && (this.#users.get(name) ?? []).length === 0;
  }
  /** the form a producer writes value `name` in (int8 when it has static parameters and is read by nodes) */
  outForm(name: string): Form {
    return this.rangeQp(name) && !this.outputOnly(name) ? 'i8' : 'f32';
  }

  define(name: string, form: Form, qp?: QParams, base = name): void {
    this.base.set(name, base);
    const n = elementCount(this.dims(base));
    this.bytes.set(name, n * (form === 'i8' ? 1 : 4));
    this.form.set(name, form);
    if (qp) this.qp.set(name, qp);
  }

  /** Value `name` in `want` form: itself, or a converted copy (a quantize/dequantize step, once). undefined: no int8 parameters. */
  need(name: string, want: Form): string | undefined {
    const f = this.form.get(name);
    if (f === undefined) return undefined;
    if (f === want) return name;
    const key = `${name}@${want}`;
    if (this.#conv.has(key)) return this.#conv.get(key)!;
    const src = this.base.get(name)!;
    const qp = this.qp.get(name) ?? (want === 'i8' ? this.rangeQp(src) : undefined);
    if (!qp) return undefined;
    let out = `${src}@${want}`;
    while (this.g.values.has(out) || this.bytes.has(out)) out += "'";
    this.define(out, want, qp, src);
    const n = elementCount(this.dims(src));
    const { ex, w } = this;
    const scale = qp.scale,
      zp = qp.zp;
    if (want === 'i8') {
      this.steps.push({
        node: `quantize ${name}`,
        reads: [name],
        writes: [out],
        build: (b) => {
          const x = b.ptr(name),
            y = b.ptr(out);
          if (this.scalar) return () => w.i8(y, n).set(quantizeRef(w.f32(x, n), scale, zp));
          return () => {
            ex.qs8_quantize__wasmsimd(n, x, scale, zp, y);
          };
        },
      });
    } else {
      this.steps.push({
        node: `dequantize ${name}`,
        reads: [name],
        writes: [out],
        build: (b) => {
          const x = b.ptr(name),
            y = b.ptr(out);
          if (this.scalar) return () => w.f32(y, n).set(dequantizeRef(w.i8(x, n), scale, zp));
          return () => {
            ex.qs8_dequantize__wasmsimd(n, x, scale, zp, y);
          };
        },
      });
    }
    this.#conv.set(key, out);
    return out;
  }

  lowerAll(): void {
    const g = this.g;
    for (const i of g.inputs) if (this.isF32Act(i)) this.define(i, 'f32');
    for (const n of g.nodes) {
      if (this.#skip.has(n)) continue;
      let r: string | true;
      try {
        r = this.lowerNode(n);
      } catch (e) {
        r = e instanceof SparrowError ? `cannot lower: ${e.message}` : `lowering failed: ${(e as Error).message}`;
      }
      if (r !== true) {
        const op = n.domain ? `${n.domain}.${n.op}` : n.op;
        if (!this.ranges && r.startsWith('dynamic:')) {
          if (!this.E.report.floatOps.includes(n.name)) this.E.report.floatOps.push(n.name);
        } else this.E.noteFallback({ node: n.name, op, reason: r.replace(/^dynamic: /, '') });
        this.fallback(n);
      }
    }
    this.outputNames = g.outputs.map((o) => {
      if (this.form.has(o)) return this.need(o, 'f32')!;
      return o;
    });
  }

  /** Lowers a node; true, or the reason it falls back (prefixed 'dynamic:' for float ops in dynamic mode). */
  lowerNode(n: Node): string | true {
    const outs = n.outputs.filter((o) => o);
    if (outs.length === 1 && elementCount(this.dims(outs[0]!)) === 0) return 'empty output';
    if (n.domain === FUSED_DOMAIN) {
      if (n.op === 'FusedConv') return this.lowerConv(n);
      if (n.op === 'FusedGemm' || n.op === 'FusedMatMul') return this.lowerFc(n);
      return `no int8 kernel for ${n.domain}.${n.op}`;
    }
    if (n.domain !== '') return `no int8 kernel for domain '${n.domain}'`;
    if (ALIAS_OPS.has(n.op)) return this.lowerAlias(n);
    switch (n.op) {
      case 'Conv':
        return this.lowerConv(n);
      case 'Gemm':
      case 'MatMul':
        return this.lowerFc(n);
      case 'Add':
        return this.ranges ? this.lowerAdd(n) : 'dynamic: float between layers';
      case 'GlobalAveragePool':
        return this.ranges ? this.lowerGap(n) : 'dynamic: float between layers';
      case 'MaxPool':
        return this.ranges ? this.lowerMaxPool(n) : 'dynamic: float between layers';
      case 'AveragePool':
        return this.ranges ? this.lowerAvgPool(n) : 'dynamic: float between layers';
      case 'Slice':
      case 'Pad':
      case 'Transpose':
      case 'Gather':
      case 'Expand':
        return this.ranges ? this.lowerMove(n) : 'dynamic: float between layers';
      default:
        return this.ranges ? `no int8 kernel for ${n.op}` : 'dynamic: float between layers';
    }
  }

  lowerAlias(n: Node): string | true {
    const x = n.inputs[0],
      y = n.outputs[0];
    if (!x || !y || !this.form.has(x) || !this.isF32Act(y)) return 'dynamic: not a float activation';
    for (let i = 1; i < n.inputs.length; i++) if (n.inputs[i] && !this.constOf(n.inputs[i])) return `input ${i} is not a constant`;
    const f = this.form.get(x)!;
    this.define(y, f, this.qp.get(x));
    this.steps.push({ node: n.name, reads: [x], writes: [y], alias: [y, x] });
    return true;
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
      if (yqp) {
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

  lowerConv(n: Node): string | true {
    const [x, wName, bName] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2] ?? ''];
    const y = n.outputs[0]!;
    if (!this.form.has(x)) return 'input is not a float activation';
    if (!this.constOf(wName)) return 'weight is not a constant';
    const xd = this.dims(x),
      yd = this.dims(y),
      wd = this.dims(wName);
    if (xd.length !== 4) return `${xd.length - 2}-D convolution (int8 kernels are 2-D)`;
    const r = reader(n);
    const group = r.int('group', 1);
    const win = readWindowAttrs('Conv', r, 2, wd.slice(2), false);
    const geoW = windowGeometry(xd.slice(2), win);
    const [B, C, H, W] = xd as [number, number, number, number];
    const geo: ConvGeometry = convGeometry([C, H, W], wd, {
      pads: [geoW.padBegin[0]!, geoW.padBegin[1]!, geoW.padEnd[0]!, geoW.padEnd[1]!],
      strides: [win.strides[0]!, win.strides[1]!],
      dilations: [win.dilations[0]!, win.dilations[1]!],
      groups: group,
    });
    if (geo.OH !== yd[2] || geo.OW !== yd[3]) return `conv geometry ${geo.OH}x${geo.OW} differs from the inferred ${yd[2]}x${yd[3]}`;
    const w = this.E.weight(this, wName, 0);
    const bias = this.biasOf(bName, w.N);
    if (typeof bias === 'string') return bias;
    const M = w.N,
      K = w.K;
    const depthwise = group === C && wd[1] === 1;
    const density = w.nnz / (M * K);
    const E = this.E;
    const kernel: Qs8ConvKernel = depthwise
      ? qs8ConvKernel('qs8_dwconv2d__wasmsimd')
      : density <= (E.options.sparseDensity ?? SPARSE_DENSITY)
        ? qs8ConvKernel('qs8_spconv2d_16x1__wasmsimd')
        : qs8ConvKernel('qs8_conv2d_4x8c2__wasmsimd');
    const st = this.outputStage(n, x, y, w, bias);
    const { xin, dynamic, out } = st;
    const WM = this.w,
      ex = this.ex;
    const plan = planQs8Conv(WM, geo, out, kernel);
    const wpl = this.scalar ? undefined : E.placed(w, kernel.weights as PlaceFormat, group);
    const qp = putChannelParams(WM, out);
    const xs = C * H * W,
      ys = M * geo.OH * geo.OW,
      yb = out.mode === 'int8' ? 1 : 4;
    const xq = dynamic ? align16(xs * B) : 0;
    E.report.layers.push({
      node: n.name,
      op: n.op,
      kernel: this.scalar ? 'qs8Conv2dRef' : kernel.name,
      density: round3(density),
      io: st.io,
    });
    const attrs = { pads: geo.pads, strides: geo.strides, dilations: geo.dilations, groups: group };
    this.steps.push({
      node: n.name,
      reads: [xin],
      writes: [y],
      scratch: xq + plan.workBytes + 16,
      build: (b) => {
        const xp = b.ptr(xin),
          yp = b.ptr(y),
          work = b.scratch + xq,
          xqp = b.scratch;
        const dense = this.scalar ? w.dense() : undefined;
        const wp = wpl ? wpl.ptr : 0;
        const dyn = dynamic ? this.dynamicQuantizer(xp, xqp, xs * B, w.scales, plan.q, qp) : undefined;
        return () => {
          let zx = out.zx,
            src = xp;
          if (dyn) {
            zx = dyn();
            src = xqp;
          }
          for (let i = 0; i < B; i++) {
            if (dense) {
              const o: Qs8Out = out.mode === 'f32' && dyn ? { ...out, zx, scale: WM.f32(qp, M).slice() } : out;
              const r = qs8Conv2dRef(WM.i8(src + i * xs, xs), [C, H, W], dense, wd, attrs, o);
              if (out.mode === 'int8') WM.i8(yp + i * ys, ys).set(r.data as Int8Array);
              else WM.f32(yp + i * ys * 4, ys).set(r.data as Float32Array);
            } else {
              const s = kernel.run(WM, plan.g, plan.q, src + i * xs, wp, qp, yp + i * ys * yb, work);
              if (s < 0) throw new SparrowError('internal', `${kernel.name} rejected node '${n.name}' (status ${s})`);
            }
          }
        };
      },
    });
    return true;
  }

  /**
   * Per-inference quantization of a float32 input (dynamic mode): min/max of the n floats at x
   * → int8QuantParams → int8 at xq; writes zx into the quant block and s_x·s_w[c] into the
   * channel parameters. Returns the function doing it (returns zx).
   */
  dynamicQuantizer(x: number, xq: number, n: number, sw: Float32Array, q: number, qp: number): () => number {
    const W = this.w,
      ex = this.ex,
      N = sw.length,
      scalar = this.scalar;
    return () => {
      const v = W.f32(x, n);
      let lo = 0,
        hi = 0;
      for (let i = 0; i < n; i++) {
        const a = v[i]!;
        if (a < lo) lo = a;
        if (a > hi) hi = a;
      }
      const p = int8QuantParams({ min: lo, max: hi });
      if (scalar) W.i8(xq, n).set(quantizeRef(v, p.scale, p.zeroPoint));
      else ex.qs8_quantize__wasmsimd(n, x, p.scale, p.zeroPoint, xq);
      W.i32(q, 8)[1] = p.zeroPoint;
      const s = W.f32(qp, N);
      for (let c = 0; c < N; c++) s[c] = Math.fround(p.scale * sw[c]!);
      return p.zeroPoint;
    };
  }

  lowerFc(n: Node): string | true {
    const [a, bName, cName] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2] ?? ''];
    const y = n.outputs[0]!;
    if (!this.form.has(a)) return 'input is not a float activation';
    if (!this.constOf(bName)) return 'B is not a constant';
    const ad = this.dims(a),
      bd = this.dims(bName);
    if (ad.length !== 2 || bd.length !== 2) return 'A and B must be 2-D';
    let transB = false,
      beta = 1;
    if (n.op === 'Gemm' || n.op === 'FusedGemm') {
      const r = reader(n);
      if (r.int('transA', 0) !== 0) return 'transA';
      if (r.float('alpha', 1) !== 1) return 'alpha ≠ 1';
      transB = r.int('transB', 0) === 1;
      beta = r.float('beta', 1);
    } else if (cName) {
      // FusedMatMul bias
    }
    const [M, K] = ad as [number, number];
    const w = this.E.weight(this, bName, transB ? 0 : 1);
    if (w.K !== K) return 'inner dimensions differ';
    const N = w.N;
    if (cName && this.dims(cName).length === 2 && this.dims(cName)[0] !== 1) return 'C is not a per-column bias';
    const bias = this.biasOf(cName, N, beta);
    if (typeof bias === 'string') return bias;
    const density = w.nnz / (N * K);
    const sparse = density <= (this.E.options.sparseFcDensity ?? SPARSE_FC_DENSITY);
    const st = this.outputStage(n, a, y, w, bias);
    const { xin, dynamic, out } = st;
    const WM = this.w,
      ex = this.ex,
      E = this.E;
    const q = WM.alloc(QUANT_BLOCK_BYTES);
    writeQuantBlock(WM, out, q);
    const qp = putChannelParams(WM, out);
    const wpl = this.scalar ? undefined : E.placed(w, sparse ? 'csr' : 'raw');
    const workB = ex.qs8_fc_work_bytes(K);
    const xq = dynamic ? align16(M * K) : 0;
    E.report.layers.push({
      node: n.name,
      op: n.op,
      kernel: this.scalar ? 'qs8FcRef' : sparse ? 'qs8_spfc_1x1__scalar' : 'qs8_fc_1x4c8__wasmsimd',
      density: round3(density),
      io: st.io,
    });
    this.steps.push({
      node: n.name,
      reads: [xin],
      writes: [y],
      scratch: xq + workB + 16,
      build: (b) => {
        const xp = b.ptr(xin),
          yp = b.ptr(y),
          work = b.scratch + xq,
          xqp = b.scratch;
        const dense = this.scalar ? w.dense() : undefined;
        const wt = !wpl ? 0 : (wpl.csr ?? wpl.ptr);
        const dyn = dynamic ? this.dynamicQuantizer(xp, xqp, M * K, w.scales, q, qp) : undefined;
        return () => {
          let zx = out.zx,
            src = xp;
          if (dyn) {
            zx = dyn();
            src = xqp;
          }
          if (dense) {
            const o: Qs8Out = out.mode === 'f32' && dyn ? { ...out, zx, scale: WM.f32(qp, N).slice() } : out;
            const r = qs8FcRef(M, N, K, WM.i8(src, M * K), dense, o);
            if (out.mode === 'int8') WM.i8(yp, M * N).set(r as Int8Array);
            else WM.f32(yp, M * N).set(r as Float32Array);
            return;
          }
          const s =
            typeof wt === 'number'
              ? ex.qs8_fc_1x4c8__wasmsimd(M, N, K, src, wt, q, qp, yp, work)
              : ex.qs8_spfc_1x1__scalar(M, N, K, src, wt.rowPtr, wt.col, wt.val, wt.nnz, q, qp, yp, work);
          if (s < 0) throw new SparrowError('internal', `int8 FC rejected node '${n.name}' (status ${s})`);
        };
      },
    });
    return true;
  }

  lowerAdd(n: Node): string | true {
    const [a, b] = n.inputs as [string, string];
    let y = n.outputs[0]!;
    if (!this.form.has(a) || !this.form.has(b)) return 'an input is not a float activation';
    const d = this.dims(y);
    const same = (v: string): boolean => this.dims(v).length === d.length && this.dims(v).every((x, i) => x === d[i]);
    if (!same(a) || !same(b)) return 'broadcasting Add';
    // a following Relu, when it is the only reader of the sum, becomes the output clamp
    let relu: Node | undefined;
    const users = this.#users.get(y) ?? [];
    if (users.length === 1 && users[0]!.op === 'Relu' && users[0]!.domain === '' && !this.g.outputs.includes(y)) relu = users[0]!;
    const out = relu ? relu.outputs[0]! : y;
    const yqp = this.rangeQp(out);
    if (!yqp) return 'no static range for the output';
    const ai = this.need(a, 'i8'),
      bi = this.need(b, 'i8');
    if (!ai || !bi) return 'an input has no static range';
    const pa = this.qp.get(ai)!,
      pb = this.qp.get(bi)!;
    // the single-multiplier form (qs8_vadd: i32 only, ~4x faster) unless an input scale is
    // over 2^21 × the output's; then the TFLite form (qs8_add)
    let pv: VaddParams | undefined, p: AddParams | undefined;
    try {
      pv = vaddParams(pa.scale, pa.zp, pb.scale, pb.zp, yqp.scale, yqp.zp, !!relu);
    } catch {
      try {
        p = addParams(pa.scale, pa.zp, pb.scale, pb.zp, yqp.scale, yqp.zp, !!relu);
      } catch (e) {
        return `add parameters: ${(e as Error).message}`;
      }
    }
    if (relu) {
      this.#skip.add(relu);
      y = out;
    }
    this.define(y, 'i8', yqp);
    const len = elementCount(d);
    const WM = this.w,
      ex = this.ex;
    const pp = WM.alloc(ADD_PARAMS_BYTES);
    if (pv) writeVaddParams(WM, pv, pp);
    else writeAddParams(WM, p!, pp);
    this.steps.push({
      node: relu ? `${n.name}+${relu.name}` : n.name,
      reads: [ai, bi],
      writes: [y],
      build: (bd) => {
        const ap = bd.ptr(ai),
          bp = bd.ptr(bi),
          yp = bd.ptr(y);
        if (this.scalar) {
          return pv
            ? () => WM.i8(yp, len).set(qs8VaddRef(WM.i8(ap, len), WM.i8(bp, len), pv))
            : () => WM.i8(yp, len).set(qs8AddRef(WM.i8(ap, len), WM.i8(bp, len), p!));
        }
        return pv
          ? () => {
              ex.qs8_vadd__wasmsimd(len, ap, bp, pp, yp);
            }
          : () => {
              ex.qs8_add__wasmsimd(len, ap, bp, pp, yp);
            };
      },
    });
    return true;
  }

  /**
   * Pure data movement on int8 (Slice, Pad, Transpose, Gather, Expand): the output keeps the
   * input's parameters; the kernel is a gather by a table of source offsets, computed at plan
   * time by running the node's reference kernel on the element indices (+1, so that a constant
   * pad of 0 marks the filled elements).
   */
  lowerMove(n: Node): string | true {
    const x = n.inputs[0]!,
      y = n.outputs[0]!;
    if (this.form.get(x) !== 'i8' || !this.isF32Act(y)) return 'the input is not int8';
    for (let i = 1; i < n.inputs.length; i++) if (n.inputs[i] && !this.constOf(n.inputs[i])) return `input ${i} is not a constant`;
    const xd = this.dims(x),
      nIn = elementCount(xd),
      nOut = elementCount(this.dims(y));
    if (nIn >= 2 ** 24) return 'too many elements for an index table';
    const qp = this.qp.get(x)!;
    let attrs = n.attrs as Attrs;
    const ins: Array<Tensor | undefined> = n.inputs.map((i) => (i ? this.constOf(i) : undefined));
    let padValue = 0;
    if (n.op === 'Pad') {
      if (n.opset < 11) {
        padValue = typeof attrs['value'] === 'number' ? attrs['value'] : 0;
        attrs = { ...attrs, value: 0 };
      } else if (ins[2]) {
        const c = ins[2];
        if (c.dtype !== 'float32' || c.data.length !== 1) return 'pad value is not a float32 scalar';
        padValue = (c.data as Float32Array)[0]!;
        ins[2] = { dtype: 'int32', dims: [...c.dims], data: new Int32Array(1) };
      }
    }
    // the kernel moves int32 element indices (+1): its output is the gather table
    const idx = new Int32Array(nIn);
    for (let i = 0; i < nIn; i++) idx[i] = i + 1;
    ins[0] = { dtype: 'int32', dims: [...xd], data: idx };
    const res = n.def.ref(ins, attrs, ctxOf(n))[0];
    if (!res || res.dtype !== 'int32' || res.data.length !== nOut) return 'the reference kernel disagrees with the inferred shape';
    const tab = res.data.buffer === idx.buffer ? Int32Array.from(res.data as Int32Array) : (res.data as Int32Array);
    for (let i = 0; i < nOut; i++) tab[i]! -= 1;
    const fill = clampI8(qp.zp + Math.round(padValue / qp.scale));
    this.define(y, 'i8', qp);
    const WM = this.w;
    const tp = WM.putBytes(tab);
    const remap = (this.ex as unknown as { qs8_remap__wasm(n: number, tab: number, x: number, y: number, fill: number): number })
      .qs8_remap__wasm;
    this.steps.push({
      node: n.name,
      reads: [x],
      writes: [y],
      build: (b) => {
        const xp = b.ptr(x),
          yp = b.ptr(y);
        if (this.scalar) {
          return () => {
            const src = WM.i8(xp, nIn),
              dst = WM.i8(yp, nOut);
            for (let i = 0; i < nOut; i++) {
              const t = tab[i]!;
              dst[i] = t < 0 ? fill : src[t]!;
            }
          };
        }
        return () => {
          remap(nOut, tp, xp, yp, fill);
        };
      },
    });
    return true;
  }

  /** AveragePool whose window is the whole (unpadded) input: a global average pool. */
  lowerAvgPool(n: Node): string | true {
    const xd = this.dims(n.inputs[0]!),
      yd = this.dims(n.outputs[0]!);
    if (xd.length !== 4) return 'not 2-D';
    const r = reader(n);
    const win = readWindowAttrs('AveragePool', r, 2, undefined, true);
    const gw = windowGeometry(xd.slice(2), win);
    const global =
      win.kernel[0] === xd[2] &&
      win.kernel[1] === xd[3] &&
      [...gw.padBegin, ...gw.padEnd].every((v) => v === 0) &&
      yd[2] === 1 &&
      yd[3] === 1 &&
      win.dilations.every((d) => d === 1);
    if (!global) return 'AveragePool other than a global average (no int8 kernel)';
    return this.lowerGap(n);
  }

  lowerGap(n: Node): string | true {
    const x = n.inputs[0]!,
      y = n.outputs[0]!;
    const xd = this.dims(x);
    if (xd.length < 3) return 'rank < 3';
    const yqp = this.rangeQp(y);
    const xi = this.need(x, 'i8');
    if (!yqp || !xi) return 'no static range';
    const xp = this.qp.get(xi)!;
    const NC = xd[0]! * xd[1]!,
      HW = elementCount(xd.slice(2));
    const { multiplier: m, shift } = quantizeMultiplier(xp.scale / (yqp.scale * HW));
    this.define(y, 'i8', yqp);
    const WM = this.w,
      ex = this.ex;
    this.steps.push({
      node: n.name,
      reads: [xi],
      writes: [y],
      build: (b) => {
        const xq = b.ptr(xi),
          yp = b.ptr(y);
        if (this.scalar) return () => WM.i8(yp, NC).set(qs8GlobalAvgPoolRef(WM.i8(xq, NC * HW), NC, HW, xp.zp, m, shift, yqp.zp));
        return () => {
          ex.qs8_gavgpool__wasmsimd(NC, HW, xq, xp.zp, m, shift, yqp.zp, -128, 127, yp);
        };
      },
    });
    return true;
  }

  lowerMaxPool(n: Node): string | true {
    const x = n.inputs[0]!,
      y = n.outputs[0]!;
    if (n.outputs[1] && ((this.#users.get(n.outputs[1]) ?? []).length || this.g.outputs.includes(n.outputs[1])))
      return 'the Indices output is used';
    const xd = this.dims(x),
      yd = this.dims(y);
    if (xd.length !== 4) return 'not 2-D';
    const xi = this.need(x, 'i8');
    if (!xi) return 'no static range';
    const r = reader(n);
    if (r.int('storage_order', 0) !== 0) return 'storage_order';
    const win = readWindowAttrs('MaxPool', r, 2, undefined, true);
    const gw = windowGeometry(xd.slice(2), win);
    const C = xd[0]! * xd[1]!,
      H = xd[2]!,
      W = xd[3]!;
    const [KH, KW] = win.kernel as [number, number];
    const attrs = {
      pads: [gw.padBegin[0]!, gw.padBegin[1]!, gw.padEnd[0]!, gw.padEnd[1]!] as [number, number, number, number],
      strides: [win.strides[0]!, win.strides[1]!] as [number, number],
      dilations: [win.dilations[0]!, win.dilations[1]!] as [number, number],
    };
    const geo = convGeometry([C, H, W], [C, 1, KH, KW], { ...attrs, groups: C });
    if (geo.OH !== yd[2] || geo.OW !== yd[3])
      return `pool geometry ${geo.OH}x${geo.OW} differs from the inferred ${yd[2]}x${yd[3]} (ceil_mode)`;
    // max commutes with the (monotone) quantization: the output keeps the input's parameters
    this.define(y, 'i8', this.qp.get(xi));
    const WM = this.w,
      ex = this.ex;
    const g = WM.alloc(CONV_GEOMETRY_BYTES);
    writeConvGeometry(WM, geo, g);
    const work = ex.qs8_maxpool2d_work_bytes(g);
    const ny = C * geo.OH * geo.OW;
    this.steps.push({
      node: n.name,
      reads: [xi],
      writes: [y],
      scratch: work + 16,
      build: (b) => {
        const xq = b.ptr(xi),
          yp = b.ptr(y),
          s = b.scratch;
        if (this.scalar) return () => WM.i8(yp, ny).set(qs8MaxPoolRef(WM.i8(xq, C * H * W), C, H, W, KH, KW, attrs).data);
        return () => {
          ex.qs8_maxpool2d__wasmsimd(g, xq, yp, s);
        };
      },
    });
    return true;
  }

  /** The node's reference kernel: int8 inputs dequantized, float outputs requantized (static) or kept float. */
  fallback(n: Node): void {
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
        return (b: Binder): Tensor => {
          const p = b.ptr(name);
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
      const info = this.g.values.get(name)!.info;
      if (info.dtype === 'float32') {
        const form = this.outForm(name);
        this.define(name, form, form === 'i8' ? this.rangeQp(name) : undefined);
        writes.push(name);
        return { name, info, form, qp: this.qp.get(name) };
      }
      return { name, info, form: undefined, qp: undefined };
    });
    this.steps.push({
      node: n.name,
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
            if (t.dtype !== o.info.dtype || t.data.length !== elementCount(o.info.dims!)) {
              throw new SparrowError(
                'internal',
                `node '${n.name}' (${n.op}) computed ${t.dtype} [${t.dims.join(',')}], the plan expects ${formatInfo(o.info)}`,
              );
            }
            const p = ptrs[j]!;
            if (o.form === 'f32') W.f32(p, t.data.length).set(t.data as Float32Array);
            else if (o.form === 'i8') W.i8(p, t.data.length).set(quantizeRef(t.data as Float32Array, o.qp!.scale, o.qp!.zp));
            else this.js.set(o.name, t);
          });
        };
      },
    });
  }
}

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
