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
import { F32Lower, pushLowered, type F32Constants } from './f32/lower.js';
import { F32ConstantStore } from './f32/constants.js';

export type { FallbackOp } from './engine.js';
export type F32EngineOptions = EngineOptions;

export class F32Engine extends WasmEngine implements F32Constants {
  readonly #consts: F32ConstantStore;

  constructor(graph: Graph, opts: F32EngineOptions = {}) {
    super(graph, opts);
    this.#consts = new F32ConstantStore(() => this.w, new Set([...graph.values.values()].flatMap((v) => (v.const ? [v.const] : []))));
  }

  /** float32 inputs with static shapes: their plan is compiled at load */
  protected loadFeeds(): Record<string, Tensor> | undefined {
    const g = this.graph;
    const infos = g.inputs.map((n) => g.values.get(n)!.info);
    if (!infos.every((i) => i.dtype === 'float32' && i.dims && i.dims.every((d) => d >= 0))) return undefined;
    return Object.fromEntries(g.inputs.map((n, i) => [n, { dtype: 'float32', dims: infos[i]!.dims!, data: new Float32Array(0) }]));
  }

  protected constantBytes(): number {
    return this.#consts.bytes;
  }

  // ---- constants (src/runtime/f32/constants.ts) -----------------------------------------------

  constPtr(t: Tensor, plan: PlanBuilder): number {
    return this.#consts.constPtr(t, plan);
  }

  packedB(t: Tensor, index: number, K: number, N: number, transB: boolean, alpha: number, plan: PlanBuilder): number {
    return this.#consts.packedB(t, index, K, N, transB, alpha, plan);
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
        pushLowered(L, n, low);
      }
      return P.finish(g.outputs, this.pinnedInputs);
    } catch (e) {
      P.mem.dispose();
      throw e;
    }
  }
}
