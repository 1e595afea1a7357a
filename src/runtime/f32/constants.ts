// Where float32 kernels find constants (F32Constants of lower.ts), shared by the engines that
// lower nodes with the f32 families: sparrow-f32 (engine_f32.ts) and sparrow-int8 (its float
// steps between quantized layers, and the layers it keeps in float). The graph's own tensors go to
// linear memory once per engine (Gemm/MatMul weights pre-packed in the GEMM's 8-column panels);
// constants made by specialization live in the plan's memory.
import type { Tensor } from '../../ops/types.js';
import type { SparrowWasm } from '../../wasm/gateway.js';
import type { PlanBuilder } from '../plan_builder.js';
import { F32_BYTES, type F32Constants } from './lower.js';

export class F32ConstantStore implements F32Constants {
  readonly #constPtr = new Map<Tensor, number>();
  /** packed GEMM B operands: tensor → key → pointer */
  readonly #packed = new Map<Tensor, Map<string, number>>();
  /** bytes placed once per engine */
  bytes = 0;

  /**
   * `w`: the engine's instantiated module (read when a constant is placed); `shared`: the graph's
   * own constant tensors (shared by every specialized copy), placed once per engine.
   */
  constructor(
    readonly w: () => SparrowWasm,
    readonly shared: ReadonlySet<Tensor>,
  ) {}

  #place(bytes: number): number {
    this.bytes += Math.ceil(bytes / 16) * 16;
    return this.w().alloc(bytes);
  }

  /** A constant float32 tensor's data in linear memory: once per engine for the graph's own tensors, else in the plan. */
  constPtr(t: Tensor, plan: PlanBuilder): number {
    if (!this.shared.has(t)) return plan.mem.putF32(t.data as Float32Array);
    let p = this.#constPtr.get(t);
    if (p === undefined) {
      const data = t.data as Float32Array;
      p = this.#place(Math.max(data.length * F32_BYTES, 16) + 16);
      this.w().f32(p, data.length).set(data);
      this.#constPtr.set(t, p);
    }
    return p;
  }

  /**
   * The GEMM B operand packed from constant `t` (its matrix `index` of K·N floats, or its
   * transpose when transB), scaled by alpha; placed once per (tensor, index, transB, alpha).
   */
  packedB(t: Tensor, index: number, K: number, N: number, transB: boolean, alpha: number, plan: PlanBuilder): number {
    const shared = this.shared.has(t);
    const key = `${index}|${transB ? 1 : 0}|${alpha}`;
    const cached = shared ? this.#packed.get(t)?.get(key) : undefined;
    if (cached !== undefined) return cached;
    const w = this.w(),
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
}
