// The lowering context of the float32 engine (src/runtime/engine_f32.ts) and what every f32
// lowering shares: a lowering turns one node into a kernel step bound to pointers after arena
// planning, an alias, nothing (empty output), or the reason it falls back to its reference
// kernel. Families: elementwise.ts, conv.ts, gemm.ts, pool.ts, norm.ts, movement.ts; index.ts
// maps op types to them.
import { SparrowError } from '../../errors.js';
import { elementCount, type Attrs, type KernelContext, type Tensor, type ValueInfo } from '../../ops/types.js';
import { AttrReader, toIntList } from '../../ops/ref/util.js';
import { fusedAct } from '../../ir/fuse.js';
import { actCode } from '../../kernels/f32_ref.js';
import type { Graph, Node } from '../../ir/graph.js';
import type { WasmExports } from '../../wasm/gateway.js';
import type { Binder, Form, PlanBuilder } from '../plan_builder.js';

export type Step = () => void;

/** What lowering a node gives: a kernel (bound to pointers after planning), an alias, or nothing to do. */
export interface Lowered {
  kind: 'kernel' | 'alias' | 'noop';
  /** input positions whose storage output 0 may overwrite (elementwise kernels) */
  inPlace?: number[];
  /** scratch bytes during the step */
  scratch?: number;
  build?(b: Binder): Step;
}

/** A lowering returns a Lowered, or the reason the node falls back to its reference kernel. */
export type Lowering = (n: Node, L: F32Lower) => Lowered | string;

/** Where the float32 engine keeps constants: engine-wide for the graph's own tensors, per plan otherwise. */
export interface F32Constants {
  /** a float32 constant's data in linear memory */
  constPtr(t: Tensor, plan: PlanBuilder): number;
  /** the GEMM B operand packed from constant `t` (matrix `index`), scaled by alpha */
  packedB(t: Tensor, index: number, K: number, N: number, transB: boolean, alpha: number, plan: PlanBuilder): number;
}

export const F32_BYTES = 4;

export class F32Lower {
  #view: Float32Array | undefined;
  readonly #placed = new Map<Tensor, number>();

  constructor(
    readonly P: PlanBuilder,
    readonly consts: F32Constants,
  ) {
    P.constantPtr = (t) => this.constPtr(t);
  }

  get g(): Graph {
    return this.P.g;
  }

  get w() {
    return this.P.w;
  }

  get ex(): WasmExports {
    return this.P.w.exports;
  }

  get mem() {
    return this.P.mem;
  }

  /**
   * where a value lives: a constant, or the arena (every computed value and graph input: float32
   * activations as float32, the others in their dtype's bytes, 'native')
   */
  kind(name: string): 'const' | 'arena' {
    const v = this.g.values.get(name);
    if (!v) throw new SparrowError('internal', `plan: unknown value '${name}'`);
    return v.const ? 'const' : 'arena';
  }

  /** The arena form of a computed value: float32 ones 'f32', the others 'native'. */
  formOf(name: string): Form {
    return this.info(name).dtype === 'float32' ? 'f32' : 'native';
  }

  info(name: string): ValueInfo {
    return this.P.info(name);
  }

  dims(name: string): number[] {
    return this.P.dims(name);
  }

  constOf(name: string | undefined): Tensor | undefined {
    return this.P.constOf(name);
  }

  /** True when `name` is float32 data a kernel can read (an arena value or a float32 constant). */
  f32(name: string | undefined): boolean {
    if (!name) return false;
    return this.g.values.get(name)!.info.dtype === 'float32';
  }

  /** Float32 data that lives as long as the plan. */
  putF32(data: ArrayLike<number>): number {
    return this.P.mem.putF32(data);
  }

  /** Int32 data (descriptors, tables) that lives as long as the plan. */
  putI32(data: ArrayLike<number>): number {
    return this.P.mem.putI32(data);
  }

  /** A float32 constant's data in linear memory (once per plan at most). */
  constPtr(t: Tensor): number {
    if (t.dtype !== 'float32') throw new SparrowError('internal', `plan: a ${t.dtype} constant bound as float32 data`);
    let p = this.#placed.get(t);
    if (p === undefined) this.#placed.set(t, (p = this.consts.constPtr(t, this.P)));
    return p;
  }

  packedB(t: Tensor, index: number, K: number, N: number, transB: boolean, alpha: number): number {
    return this.consts.packedB(t, index, K, N, transB, alpha, this.P);
  }

  /** The float32 view of all linear memory (renewed when memory has grown). */
  get heapF32(): Float32Array {
    const buf = this.w.memory.buffer;
    if (!this.#view || this.#view.buffer !== buf) this.#view = new Float32Array(buf);
    return this.#view;
  }

  /** The float32 at byte offset p of linear memory (scalars computed at run time: Clip bounds...). */
  f32At(p: number): number {
    return this.heapF32[p >> 2]!;
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
    if (this.kind(name) !== 'arena' || !this.f32(name) || elementCount(this.dims(name)) !== 1)
      throw new SparrowError('unsupported_op', `${what} is not a float32 scalar`);
    return name;
  }
}

export const ctxOf = (n: Node): KernelContext => ({ opset: n.opset, node: n.name });
export const reader = (n: Node): AttrReader => new AttrReader(n.op, n.attrs as Attrs, ctxOf(n));

/** The reason a node cannot run in WASM because of its dtypes, or '' when all its data is float32. */
export function dtypeReason(n: Node, L: F32Lower, dataInputs: number[], nOutputs = 1): string {
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
export function outputUsed(g: Graph, n: Node, j: number): boolean {
  const o = n.outputs[j];
  if (!o) return false;
  return g.outputs.includes(o) || g.nodes.some((m) => m.inputs.includes(o));
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The fused activation of a node as the kernels take it: [act code, p0, p1] (src/kernels/f32_ref.ts actCode). */
export function actOf(n: Node): [number, number, number] {
  return actCode(fusedAct(n) ?? 'none');
}

/** A step applying act code `act` (≥ 1) to n floats at yp in place, with the standalone kernels. */
export function actKernel(ex: WasmExports, act: number, p0: number, p1: number): (yp: number, n: number) => void {
  switch (act) {
    case 1:
      return (yp, n) => ex.f32_clip__wasmsimd(yp, yp, n, p0, p1);
    case 2:
      return (yp, n) => ex.f32_sigmoid__wasmsimd(yp, yp, n);
    case 3:
      return (yp, n) => ex.f32_silu__wasmsimd(yp, yp, n);
    case 4:
      return (yp, n) => ex.f32_hardswish__wasmsimd(yp, yp, n);
    case 5:
      return (yp, n) => ex.f32_hardsigmoid__wasmsimd(yp, yp, n, p0, p1);
    case 6:
      return (yp, n) => ex.f32_tanh__wasmsimd(yp, yp, n);
    default:
      return (yp, n) => ex.f32_gelu__wasmsimd(yp, yp, n, act === 8 ? 1 : 0);
  }
}

/** Input 0 and output 0 of a node whose data is float32, or the reason it is not. */
export function unaryIo(n: Node, L: F32Lower): { x: string; y: string } | string {
  const why = dtypeReason(n, L, [0]);
  return why || { x: n.inputs[0]!, y: n.outputs[0]! };
}

/** A kernel step reading value x and writing value y, bound by `bind` (`inPlace`: y may overwrite x). */
export function xyStep(x: string, y: string, bind: (xp: number, yp: number, b: Binder) => Step, inPlace = false): Lowered {
  return { kind: 'kernel', ...(inPlace ? { inPlace: [0] } : {}), build: (b) => bind(b.ptr(x), b.ptr(y), b) };
}

/** A kernel step running `run(xp, yp)` on values x and y. */
export function xyKernel(x: string, y: string, run: (xp: number, yp: number) => void, inPlace = false): Lowered {
  return xyStep(x, y, (xp, yp) => () => run(xp, yp), inPlace);
}

/** Adds the step of a lowered node (a kernel, an alias-free no-op) to the plan; its arena outputs are defined in their forms (formOf). */
export function pushLowered(L: F32Lower, n: Node, low: Lowered): void {
  const P = L.P;
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
