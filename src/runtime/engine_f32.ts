// The 'sparrow-f32' engine: float32 execution of an optimized Graph in WASM linear memory.
//
// The skeleton (src/runtime/engine.ts, plan_builder.ts) specializes the graph per input
// signature, fuses bias Adds and Relu/Clip into Conv/Gemm/MatMul (src/ir/fuse.ts), plans the
// arena and binds the steps; this file lowers each node to a WASM kernel step (the families of
// src/runtime/f32/: assembly/f32ops/ and the GEMM/conv kernels of assembly/f32/), an alias
// (Reshape & co: no kernel), or a fallback step that runs the TS reference kernel on views of the
// arena (int64/bool tensors, ops or attribute cases without a kernel; listed in `fallbackOps`).
// Constants: the graph's own float32 tensors go to linear memory once per engine (Gemm/MatMul
// weights pre-packed in the GEMM's 8-column panels, Conv weights as ONNX stores them: the conv
// kernel's A operand); descriptors, tables and constants made by specialization live in the
// plan's memory. `run` writes the feeds, calls the steps and copies the outputs out: no WASM
// memory is allocated after the first run of a signature.
import type { Tensor } from '../ops/types.js';
import type { Graph } from '../ir/graph.js';
import { WasmEngine, type EngineOptions } from './engine.js';
import { ALIAS_OPS, PlanBuilder, type CompiledPlan } from './plan_builder.js';
import { lowerF32 } from './f32/index.js';
import { F32_BYTES, F32Lower, sameDims, type F32Constants } from './f32/lower.js';

export type { FallbackOp } from './engine.js';
export type F32EngineOptions = EngineOptions;

export class F32Engine extends WasmEngine implements F32Constants {
  /** the graph's own constant tensors (shared by every specialized copy): placed once per engine */
  readonly #shared: Set<Tensor>;
  readonly #constPtr = new Map<Tensor, number>();
  /** packed GEMM B operands: tensor → key → pointer */
  readonly #packed = new Map<Tensor, Map<string, number>>();
  #constBytes = 0;

  constructor(graph: Graph, opts: F32EngineOptions = {}) {
    super(graph, opts);
    this.#shared = new Set([...graph.values.values()].flatMap((v) => (v.const ? [v.const] : [])));
  }

  /** float32 inputs with static shapes: their plan is compiled at load */
  protected loadFeeds(): Record<string, Tensor> | undefined {
    const g = this.graph;
    const infos = g.inputs.map((n) => g.values.get(n)!.info);
    if (!infos.every((i) => i.dtype === 'float32' && i.dims && i.dims.every((d) => d >= 0))) return undefined;
    return Object.fromEntries(g.inputs.map((n, i) => [n, { dtype: 'float32', dims: infos[i]!.dims!, data: new Float32Array(0) }]));
  }

  protected constantBytes(): number {
    return this.#constBytes;
  }

  // ---- constants ------------------------------------------------------------------------------

  #place(bytes: number): number {
    this.#constBytes += Math.ceil(bytes / 16) * 16;
    return this.w.alloc(bytes);
  }

  /** A constant float32 tensor's data in linear memory: once per engine for the graph's own tensors, else in the plan. */
  constPtr(t: Tensor, plan: PlanBuilder): number {
    if (!this.#shared.has(t)) return plan.mem.putF32(t.data as Float32Array);
    let p = this.#constPtr.get(t);
    if (p === undefined) {
      const data = t.data as Float32Array;
      p = this.#place(Math.max(data.length * F32_BYTES, 16) + 16);
      this.w.f32(p, data.length).set(data);
      this.#constPtr.set(t, p);
    }
    return p;
  }

  /**
   * The GEMM B operand packed from constant `t` (its matrix `index` of K·N floats, or its
   * transpose when transB), scaled by alpha; placed once per (tensor, index, transB, alpha).
   */
  packedB(t: Tensor, index: number, K: number, N: number, transB: boolean, alpha: number, plan: PlanBuilder): number {
    const shared = this.#shared.has(t);
    const key = `${index}|${transB ? 1 : 0}|${alpha}`;
    const cached = shared ? this.#packed.get(t)?.get(key) : undefined;
    if (cached !== undefined) return cached;
    const w = this.w,
      ex = w.exports;
    const bytes = ex.f32_packed_b_size(K, N) * F32_BYTES + 16;
    const p = shared ? this.#place(bytes) : plan.mem.alloc(bytes);
    let src = (t.data as Float32Array).subarray(index * K * N, (index + 1) * K * N);
    if (alpha !== 1) src = src.map((v) => v * alpha);
    const mark = w.mark();
    try {
      const raw = w.alloc(src.length * F32_BYTES + 16);
      w.f32(raw, src.length).set(src);
      ex.f32_pack_b(K, N, raw, transB ? K : N, transB ? 1 : 0, p);
    } finally {
      w.release(mark);
    }
    if (shared) {
      if (!this.#packed.has(t)) this.#packed.set(t, new Map());
      this.#packed.get(t)!.set(key, p);
    }
    return p;
  }

  // ---- lowering -------------------------------------------------------------------------------

  protected lower(g: Graph): CompiledPlan {
    const P = new PlanBuilder(g, this.w);
    P.arenaAll = true;
    const L = new F32Lower(P, this);
    for (const i of g.inputs) if (L.kind(i) === 'arena') P.define(i, L.formOf(i));
    try {
      for (const n of g.nodes) {
        if (ALIAS_OPS.has(n.op) && n.domain === '') {
          const r = P.alias(n);
          if (r === true) continue;
        }
        let low;
        try {
          low = lowerF32(n, L);
        } catch (e) {
          low = `cannot lower: ${(e as Error).message}`;
        }
        if (typeof low === 'string') {
          this.noteFallback({ node: n.name, op: n.domain ? `${n.domain}.${n.op}` : n.op, reason: low });
          P.fallback(n, () => ({ form: 'f32' }));
          continue;
        }
        const arena = (name: string | undefined): name is string => !!name && L.kind(name) === 'arena';
        const writes = n.outputs.filter(arena);
        for (const o of writes) P.define(o, L.formOf(o));
        const out = n.outputs[0];
        P.steps.push({
          label: n.name,
          op: n.domain ? `${n.domain}.${n.op}` : n.op,
          reads: [...new Set(n.inputs.filter(arena))],
          writes,
          ...(low.inPlace && out
            ? {
                inPlace: low.inPlace
                  .map((i) => n.inputs[i])
                  .filter((i): i is string => arena(i) && sameDims(L.dims(i), L.dims(out)))
                  .map((i) => [out, i] as const),
              }
            : {}),
          ...(low.scratch ? { scratch: low.scratch } : {}),
          ...(low.kind === 'kernel' && low.build ? { build: low.build } : {}),
        });
      }
      return P.finish(g.outputs);
    } catch (e) {
      P.mem.dispose();
      throw e;
    }
  }
}
