// Memory planning for the float32 engine (src/runtime/engine_f32.ts): every float32 activation
// of a statically shaped graph gets a byte offset in one arena, computed once per input-shape
// signature, so a run allocates nothing.
//
//   * Steps are the graph's nodes in (topological) order. A value lives from the step that
//     writes it (graph inputs: step -1, written by `run` before the first node) to the last step
//     that reads it (graph outputs: step `steps.length`, copied out after the last node).
//   * Storage is per *buffer*, not per value: an alias step (Reshape, Flatten, Squeeze,
//     Unsqueeze, Identity: same bytes, new dims) makes its output a second name of its input's
//     buffer, and an in-place step (elementwise ops) writes its output over an input whose
//     buffer dies at that step (same size). A buffer lives over the union of its values.
//   * Scratch memory a kernel needs during one step is a buffer living exactly at that step.
//   * Buffers are placed by greedy best fit by size (TFLite's "greedy by size"): largest
//     first; each goes into the smallest gap between already placed buffers whose lifetimes
//     overlap its own, or after the last of them; offsets 16-byte aligned.
import { SparrowError } from '../errors.js';

export const ARENA_ALIGN = 16;

/** One step of the program as the planner sees it. */
export interface PlanStep {
  /** arena values read */
  reads: readonly string[];
  /** arena values written (new values) */
  writes: readonly string[];
  /** [output, input]: the output is the input's storage under a new name (no kernel runs) */
  alias?: readonly [string, string];
  /** [output, input] pairs: the output may overwrite the input when the input's buffer dies here */
  inPlace?: ReadonlyArray<readonly [string, string]>;
  /** bytes of scratch memory the step needs (0 = none) */
  scratch?: number;
}

export interface BufferSpec {
  bytes: number;
  /** first step it is live at (inclusive) */
  first: number;
  /** last step it is live at (inclusive) */
  last: number;
}

export interface PlacedBuffer extends BufferSpec {
  offset: number;
  /** the values stored in it ([] for scratch) */
  values: string[];
}

export interface ArenaPlan {
  /** byte offset in the arena of every arena value */
  offsetOf: Map<string, number>;
  /** byte offset of each step's scratch (-1 = none) */
  scratchOffset: number[];
  buffers: PlacedBuffer[];
  /** arena size in bytes (multiple of ARENA_ALIGN) */
  arenaBytes: number;
  /** what the arena would take with one slot per value (aliases excluded) and per scratch: no reuse */
  unsharedBytes: number;
}

const alignUp = (n: number): number => Math.ceil(n / ARENA_ALIGN) * ARENA_ALIGN;

/**
 * Places buffers (greedy best fit by size, see the file header). Returns offsets in the input
 * order and the total size. Zero-byte buffers still get ARENA_ALIGN bytes (a valid address).
 */
export function placeBuffers(bufs: readonly BufferSpec[]): { offsets: number[]; total: number } {
  const order = bufs.map((_, i) => i).sort((a, b) => bufs[b]!.bytes - bufs[a]!.bytes || bufs[a]!.first - bufs[b]!.first || a - b);
  const offsets = new Array<number>(bufs.length).fill(0);
  const placed: Array<{ offset: number; end: number; first: number; last: number }> = [];
  let total = 0;
  for (const i of order) {
    const b = bufs[i]!;
    const size = alignUp(Math.max(b.bytes, 1));
    const overlapping = placed.filter((p) => p.first <= b.last && b.first <= p.last).sort((x, y) => x.offset - y.offset);
    let best = -1,
      bestWaste = Infinity,
      prevEnd = 0;
    for (const p of overlapping) {
      const gap = p.offset - prevEnd;
      if (gap >= size && gap - size < bestWaste) {
        best = prevEnd;
        bestWaste = gap - size;
      }
      prevEnd = Math.max(prevEnd, p.end);
    }
    if (best < 0) best = prevEnd;
    offsets[i] = best;
    placed.push({ offset: best, end: best + size, first: b.first, last: b.last });
    total = Math.max(total, best + size);
  }
  return { offsets, total };
}

/**
 * The arena plan of a program: `steps` in order, `bytesOf` every arena value's size, the graph
 * inputs (written before step 0) and outputs (read after the last step) among the arena values.
 */
export function planArena(
  steps: readonly PlanStep[],
  bytesOf: ReadonlyMap<string, number>,
  inputs: readonly string[],
  outputs: readonly string[],
): ArenaPlan {
  const end = steps.length;
  // union-find over values: one set per buffer
  const parent = new Map<string, string>();
  const find = (v: string): string => {
    let r = v;
    while (parent.get(r) !== r) {
      const p = parent.get(r);
      if (p === undefined) throw new SparrowError('internal', `plan: value '${v}' has no storage (not an arena value?)`);
      r = p;
    }
    parent.set(v, r);
    return r;
  };
  const first = new Map<string, number>(); // per root
  const last = new Map<string, number>();
  const bytes = new Map<string, number>();
  const define = (v: string, step: number): void => {
    if (parent.has(v)) throw new SparrowError('internal', `plan: value '${v}' is written twice`);
    const b = bytesOf.get(v);
    if (b === undefined) throw new SparrowError('internal', `plan: no size for value '${v}'`);
    parent.set(v, v);
    first.set(v, step);
    last.set(v, step);
    bytes.set(v, b);
  };
  const use = (v: string, step: number): void => {
    const r = find(v);
    last.set(r, Math.max(last.get(r)!, step));
  };
  const union = (out: string, into: string): void => {
    const a = find(out),
      b = find(into);
    if (a === b) return;
    parent.set(a, b);
    first.set(b, Math.min(first.get(a)!, first.get(b)!));
    last.set(b, Math.max(last.get(a)!, last.get(b)!));
    bytes.set(b, Math.max(bytes.get(a)!, bytes.get(b)!));
  };

  // Pass 1: definitions, aliases, uses (in-place decisions need every buffer's final last use).
  const aliased = new Set<string>();
  for (const v of inputs) define(v, -1);
  steps.forEach((s, k) => {
    for (const r of s.reads) use(r, k);
    for (const w of s.writes) define(w, k);
    if (s.alias) {
      union(s.alias[0], s.alias[1]);
      aliased.add(s.alias[0]);
    }
  });
  for (const v of outputs) use(v, end);

  // Pass 2: in place, in step order. The output joins the input's buffer when that buffer's
  // last use is this step (nothing reads it later under any name) and the sizes agree.
  steps.forEach((s, k) => {
    for (const [out, input] of s.inPlace ?? []) {
      const rin = find(input),
        rout = find(out);
      if (rin === rout || last.get(rin) !== k || first.get(rout) !== k) continue;
      if (bytes.get(rin) !== bytes.get(rout)) continue;
      parent.set(rout, rin);
      last.set(rin, Math.max(last.get(rin)!, last.get(rout)!));
      break;
    }
  });

  // buffers: one per root, plus one per step with scratch
  const roots = new Map<string, number>();
  const specs: Array<BufferSpec & { values: string[] }> = [];
  for (const v of parent.keys()) {
    const r = find(v);
    let i = roots.get(r);
    if (i === undefined) {
      i = specs.length;
      roots.set(r, i);
      specs.push({ bytes: bytes.get(r)!, first: first.get(r)!, last: last.get(r)!, values: [] });
    }
    specs[i]!.values.push(v);
  }
  const scratchBuf: number[] = steps.map((s, k) => {
    if (!s.scratch || s.scratch <= 0) return -1;
    specs.push({ bytes: s.scratch, first: k, last: k, values: [] });
    return specs.length - 1;
  });
  const { offsets, total } = placeBuffers(specs);
  const buffers: PlacedBuffer[] = specs.map((s, i) => ({ ...s, offset: offsets[i]! }));
  const offsetOf = new Map<string, number>();
  for (const b of buffers) for (const v of b.values) offsetOf.set(v, b.offset);
  return {
    offsetOf,
    scratchOffset: scratchBuf.map((i) => (i < 0 ? -1 : offsets[i]!)),
    buffers,
    arenaBytes: alignUp(total),
    unsharedBytes:
      [...parent.keys()].filter((v) => !aliased.has(v)).reduce((a, v) => a + alignUp(Math.max(bytesOf.get(v)!, 1)), 0) +
      steps.reduce((a, s) => a + (s.scratch && s.scratch > 0 ? alignUp(s.scratch) : 0), 0),
  };
}

/** Throws SparrowError('internal') if two buffers that are live at the same step overlap in memory. */
export function checkArenaPlan(plan: ArenaPlan): void {
  const bs = plan.buffers;
  for (let i = 0; i < bs.length; i++) {
    const a = bs[i]!;
    const aEnd = a.offset + alignUp(Math.max(a.bytes, 1));
    if (aEnd > plan.arenaBytes) throw new SparrowError('internal', `plan: buffer ${i} ends past the arena`);
    for (let j = i + 1; j < bs.length; j++) {
      const b = bs[j]!;
      if (a.first > b.last || b.first > a.last) continue;
      const bEnd = b.offset + alignUp(Math.max(b.bytes, 1));
      if (a.offset < bEnd && b.offset < aEnd) {
        throw new SparrowError('internal', `plan: buffers [${a.values.join(',')}] and [${b.values.join(',')}] overlap while both live`);
      }
    }
  }
}
