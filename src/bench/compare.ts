// `sparrow compare`: how closely engines agree with an oracle (onnxruntime-node, or Sparrow's
// TS reference engine) on N seeded random inputs. Per engine and output it reports
//   - maxRel: the largest max|d| / max|oracle| over the samples (d = engine − oracle);
//   - worstExcess: the largest (|d| − tol) / max|oracle| over every element of every sample, with
//     tol = 1e-4·|oracle| + 1e-5·max|oracle| (the rule of the zoo tests); within1e4 ⇔ worstExcess ≤ 0
//     and no NaN/±Inf where the oracle has none (or the other way round);
//   - argmaxAgreement: the fraction of argmaxes over the class axis that equal the oracle's (per
//     row of an [N, C] output, per position of an [N, C, ...] output), or null for an output
//     without a class axis (see classAxisOf).
// Inputs (randomInputs): float inputs uniform [-1, 1); bool inputs 0/1; integer inputs uniform in
// a range inferred from the graph (indices of a Gather from a constant table: [0, rows); masks
// only compared or cast: {0, 1}) or given by the caller, else SparrowError('invalid_argument').
// Symbolic dims: axis 0 = the batch (1 unless given), others DEFAULT_DIM unless a shape is given.
import { SparrowError } from '../errors.js';
import { consumers, constOf, type Graph, type Node } from '../ir/graph.js';
import { castTensor } from '../ops/ref/cast.js';
import type { Tensor, TensorDType } from '../ops/types.js';
import type { InferenceEngine } from '../runtime/ort.js';
import { mulberry32 } from '../util/rng.js';

/** Relative and absolute parts of the element rule |d| <= REL_TOL·|oracle| + ABS_TOL·max|oracle|. */
export const REL_TOL = 1e-4;
export const ABS_TOL = 1e-5;
/** Size given to a symbolic dimension other than the batch (axis 0) when no shape is given. */
export const DEFAULT_DIM = 32;

const FLOAT_TYPES: readonly TensorDType[] = ['float32', 'float64', 'float16', 'bfloat16'];
const INT_TYPES: readonly TensorDType[] = ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64'];

/** How one input is drawn. */
export interface InputSpec {
  name: string;
  dtype: TensorDType;
  dims: number[];
  /** 'uniform [-1, 1)' for floats; integers uniform in [lo, hi] (inclusive) */
  rule: string;
  /** integer and bool inputs: inclusive bounds */
  range?: [number, number];
}

/** Ops that pass an integer input through unchanged in value (its range carries over). */
const PASS_THROUGH = new Set(['Cast', 'Unsqueeze', 'Squeeze', 'Reshape', 'Flatten', 'Identity', 'Transpose', 'Expand', 'Slice']);
/** ONNX type codes of FLOAT, BOOL, FLOAT16, DOUBLE, BFLOAT16 (Cast's `to`). */
const FLOAT_OR_BOOL_CODES = new Set([1, 9, 10, 11, 16]);
/** Ops that only compare their integer input or turn it to float / bool: a mask. */
const MASK_USES = new Set(['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Not', 'Where']);

/**
 * The valid range of an integer graph input, inferred from how the graph reads it: the indices
 * of a Gather from a constant table → [0, rows − 1] (the smallest table if several); a value only
 * compared (Equal, Less, …) or cast → {0, 1} (an attention or padding mask). undefined: unknown.
 */
export function inferIntRange(g: Graph, input: string): [number, number] | undefined {
  const users = consumers(g);
  let hi = Infinity,
    gathered = false,
    other = false,
    mask = false;
  const seen = new Set<string>();
  const walk = (v: string, depth: number): void => {
    if (seen.has(v) || depth > 8) return;
    seen.add(v);
    for (const n of users.get(v) ?? []) visit(n, v, depth);
  };
  const visit = (n: Node, v: string, depth: number): void => {
    if (n.domain === '' && (n.op === 'Gather' || n.op === 'GatherElements') && n.inputs[1] === v && n.inputs[0] !== v) {
      const t = constOf(g, n.inputs[0]!);
      if (!t) {
        other = true;
        return;
      }
      const r = n.attrs.axis;
      const axis = typeof r === 'number' ? (r < 0 ? r + t.dims.length : r) : 0;
      const rows = t.dims[axis];
      if (rows === undefined || rows < 1) {
        other = true;
        return;
      }
      hi = Math.min(hi, rows - 1);
      gathered = true;
    } else if (n.domain === '' && MASK_USES.has(n.op) && !(n.op === 'Where' && n.inputs[0] !== v)) {
      mask = true;
    } else if (n.domain === '' && n.op === 'Cast') {
      // cast to a float or bool type: a mask made arithmetic; to another integer type: follow it
      const to = n.attrs.to;
      if (typeof to === 'number' && FLOAT_OR_BOOL_CODES.has(to)) mask = true;
      else for (const o of n.outputs) if (o) walk(o, depth + 1);
    } else if (n.domain === '' && PASS_THROUGH.has(n.op) && n.inputs[0] === v) {
      for (const o of n.outputs) if (o) walk(o, depth + 1);
    } else if (n.domain === '' && (n.op === 'Shape' || n.op === 'Size')) {
      // reads the shape only
    } else {
      other = true;
    }
  };
  walk(input, 0);
  if (gathered) return [0, hi];
  if (mask && !other) return [0, 1];
  return undefined;
}

/** dims of an input: given, else declared with symbolic axis 0 = batch and other symbolic axes = DEFAULT_DIM. */
function inputDims(name: string, declared: number[] | null, given: number[] | undefined, batch: number): number[] {
  if (given) {
    if (declared && (given.length !== declared.length || declared.some((d, i) => d >= 0 && d !== given[i])))
      throw new SparrowError('invalid_argument', `--shape ${name}=${given.join(',')} does not fit the declared [${declared.join(',')}]`);
    return [...given];
  }
  if (!declared)
    throw new SparrowError('invalid_argument', `input '${name}' has no declared shape; give one with --shape ${name}=d0,d1,...`);
  return declared.map((d, i) => (d >= 0 ? d : i === 0 ? batch : DEFAULT_DIM));
}

export interface InputSpecOptions {
  /** input name → dims (symbolic dims otherwise: batch on axis 0, DEFAULT_DIM elsewhere) */
  shapes?: Record<string, readonly number[]>;
  /** size of a symbolic axis 0 (default 1) */
  batch?: number;
  /** integer inputs: name → inclusive [lo, hi] (overrides the inferred range) */
  intRanges?: Record<string, readonly [number, number]>;
}

/** How every graph input of `g` is drawn; refuses integer inputs whose range is neither given nor inferable. */
export function inputSpecs(g: Graph, o: InputSpecOptions = {}): InputSpec[] {
  const shapes = o.shapes ?? {},
    ranges = o.intRanges ?? {};
  for (const k of [...Object.keys(shapes), ...Object.keys(ranges)])
    if (!g.inputs.includes(k)) throw new SparrowError('invalid_argument', `the model has no input '${k}' (inputs: ${g.inputs.join(', ')})`);
  return g.inputs.map((name) => {
    const info = g.values.get(name)!.info;
    const dims = inputDims(name, info.dims ? [...info.dims] : null, shapes[name] ? [...shapes[name]!] : undefined, o.batch ?? 1);
    const dtype = info.dtype;
    if (FLOAT_TYPES.includes(dtype)) return { name, dtype, dims, rule: 'uniform [-1, 1)' };
    if (dtype === 'bool') return { name, dtype, dims, rule: '0 or 1', range: [0, 1] };
    if (!INT_TYPES.includes(dtype)) throw new SparrowError('invalid_argument', `input '${name}': compare cannot draw ${dtype} inputs`);
    const given = ranges[name];
    const range = given ? ([given[0], given[1]] as [number, number]) : inferIntRange(g, name);
    if (!range)
      throw new SparrowError(
        'invalid_argument',
        `integer input '${name}' (${dtype}): its valid range cannot be inferred from the graph (neither Gather indices ` +
          `nor a mask); give it with --int-range ${name}=lo,hi`,
      );
    if (!(Number.isInteger(range[0]) && Number.isInteger(range[1]) && range[0] <= range[1]))
      throw new SparrowError('invalid_argument', `--int-range ${name}: bad range [${range}]`);
    const how = given ? 'given' : range[1] === 1 && range[0] === 0 ? 'a mask' : 'Gather indices';
    return { name, dtype, dims, rule: `uniform integers in [${range[0]}, ${range[1]}] (${how})`, range };
  });
}

/** One set of inputs drawn from `rnd`. */
export function randomInputs(specs: readonly InputSpec[], rnd: () => number): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const s of specs) {
    const n = s.dims.reduce((a, b) => a * b, 1);
    const dims = [...s.dims];
    if (FLOAT_TYPES.includes(s.dtype)) {
      const f: Tensor = { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => rnd() * 2 - 1) };
      feeds[s.name] = s.dtype === 'float32' ? f : castTensor(f, s.dtype);
      continue;
    }
    const [lo, hi] = s.range!;
    const draw = (): number => lo + Math.floor(rnd() * (hi - lo + 1));
    const ints: Tensor = { dtype: 'int32', dims, data: Int32Array.from({ length: n }, draw) };
    if (s.dtype === 'int64') feeds[s.name] = { dtype: 'int64', dims, data: BigInt64Array.from(ints.data as Int32Array, (v) => BigInt(v)) };
    else if (s.dtype === 'uint64')
      feeds[s.name] = { dtype: 'uint64', dims, data: BigUint64Array.from(ints.data as Int32Array, (v) => BigInt(v)) };
    else if (s.dtype === 'bool') feeds[s.name] = { dtype: 'bool', dims, data: Uint8Array.from(ints.data as Int32Array) };
    else feeds[s.name] = s.dtype === 'int32' ? ints : castTensor(ints, s.dtype);
  }
  return feeds;
}

/**
 * The class axis of an output: 1 for a float output [N, C, ...] with C ≥ 2 (per row of [N, C],
 * per position of [N, C, H, W]: segmentation), except an output of rank ≥ 3 with as many
 * channels as a float input of the same rank (an image-to-image output: a reconstruction,
 * denoiser or super-resolution, whose channels are not classes). null: no class axis (rank < 2,
 * C < 2, an integer output, or that exception); callers may override it per output.
 */
export function classAxisOf(out: Pick<Tensor, 'dtype' | 'dims'>, inputs: ReadonlyArray<Pick<Tensor, 'dtype' | 'dims'>>): number | null {
  if (!FLOAT_TYPES.includes(out.dtype) || out.dims.length < 2 || out.dims[1]! < 2) return null;
  const r = out.dims.length;
  if (r >= 3 && inputs.some((i) => FLOAT_TYPES.includes(i.dtype) && i.dims.length === r && i.dims[1] === out.dims[1])) return null;
  return 1;
}

/** Running figures of one (engine, output) pair. */
export interface OutputStats {
  dims: number[];
  maxRel: number;
  worstExcess: number;
  /** elements where exactly one side is NaN / ±Inf, or both infinite with different signs */
  nonFinite: number;
  classAxis: number | null;
  argmaxAgree: number;
  argmaxTotal: number;
  /** where worstExcess was seen */
  worst: { sample: number; index: number; got: number; want: number } | null;
  /** a shape or dtype mismatch, if any */
  mismatch?: string;
}

export function newStats(): OutputStats {
  return {
    dims: [],
    maxRel: 0,
    worstExcess: -Infinity,
    nonFinite: 0,
    classAxis: null,
    argmaxAgree: 0,
    argmaxTotal: 0,
    worst: null,
  };
}

const asNumbers = (t: Tensor): ArrayLike<number> => {
  if (t.dtype === 'float32' || t.dtype === 'float64') return t.data as Float32Array;
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') return castTensor(t, 'float32').data as Float32Array;
  if (t.dtype === 'int64' || t.dtype === 'uint64') return Array.from(t.data as BigInt64Array, (v) => Number(v));
  return t.data as Int32Array;
};

/** Index of the largest value of `v` at offsets base + c·stride, c < C (the first on ties; NaN is largest). */
function argmaxAt(v: ArrayLike<number>, base: number, C: number, stride: number): number {
  let best = 0,
    bv = v[base]!;
  if (Number.isNaN(bv)) return 0;
  for (let c = 1; c < C; c++) {
    const x = v[base + c * stride]!;
    if (Number.isNaN(x)) return c;
    if (x > bv) {
      bv = x;
      best = c;
    }
  }
  return best;
}

/** Folds one sample's output (got: engine, want: oracle) into `s`. */
export function accumulate(s: OutputStats, got: Tensor, want: Tensor, classAxis: number | null, sample = 0): void {
  s.dims = [...want.dims];
  s.classAxis = classAxis;
  if (got.dims.length !== want.dims.length || got.dims.some((d, i) => d !== want.dims[i])) {
    s.mismatch ??= `shape [${got.dims}] vs the oracle's [${want.dims}]`;
    return;
  }
  const a = asNumbers(got),
    b = asNumbers(want);
  let maxB = 0;
  for (let i = 0; i < b.length; i++) {
    const x = Math.abs(b[i]!);
    if (Number.isFinite(x) && x > maxB) maxB = x;
  }
  let maxD = 0;
  for (let i = 0; i < b.length; i++) {
    const x = a[i]!,
      y = b[i]!;
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      if (!(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)))) s.nonFinite++;
      continue;
    }
    const d = Math.abs(x - y);
    if (d > maxD) maxD = d;
    const excess = maxB > 0 ? (d - (REL_TOL * Math.abs(y) + ABS_TOL * maxB)) / maxB : d > 0 ? Infinity : 0;
    if (excess > s.worstExcess) {
      s.worstExcess = excess;
      s.worst = { sample, index: i, got: x, want: y };
    }
  }
  const rel = maxB > 0 ? maxD / maxB : maxD > 0 ? Infinity : 0;
  if (rel > s.maxRel) s.maxRel = rel;
  if (classAxis !== null) {
    const d = want.dims;
    const C = d[classAxis]!;
    const inner = d.slice(classAxis + 1).reduce((p, q) => p * q, 1);
    const outer = d.slice(0, classAxis).reduce((p, q) => p * q, 1);
    for (let o = 0; o < outer; o++)
      for (let k = 0; k < inner; k++) {
        const base = o * C * inner + k;
        if (argmaxAt(a, base, C, inner) === argmaxAt(b, base, C, inner)) s.argmaxAgree++;
        s.argmaxTotal++;
      }
  }
}

/** One output of one engine in the report. */
export interface OutputReport {
  dims: number[];
  /** max over samples of max|d| / max|oracle| (null: infinite, the oracle being all zero) */
  maxRel: number | null;
  /** max over elements of (|d| − (1e-4·|oracle| + 1e-5·max|oracle|)) / max|oracle|: ≤ 0 within the rule */
  worstExcess: number | null;
  within1e4: boolean;
  /** fraction of class-axis argmaxes equal to the oracle's; null without a class axis */
  argmaxAgreement: number | null;
  classAxis: number | null;
  /** argmaxes compared (samples × rows or positions) */
  argmaxCount: number;
  nonFinite: number;
  worst: OutputStats['worst'];
  mismatch?: string;
}

export function finish(s: OutputStats): OutputReport {
  const fin = (x: number): number | null => (Number.isFinite(x) ? Number(x.toPrecision(4)) : null);
  const excess = s.worstExcess === -Infinity ? 0 : s.worstExcess;
  return {
    dims: s.dims,
    maxRel: s.mismatch ? null : fin(s.maxRel),
    worstExcess: s.mismatch ? null : fin(excess),
    within1e4: !s.mismatch && s.nonFinite === 0 && excess <= 0,
    argmaxAgreement: s.mismatch || s.classAxis === null ? null : s.argmaxTotal ? s.argmaxAgree / s.argmaxTotal : null,
    classAxis: s.classAxis,
    argmaxCount: s.argmaxTotal,
    nonFinite: s.nonFinite,
    worst: s.worst,
    ...(s.mismatch ? { mismatch: s.mismatch } : {}),
  };
}

export interface CompareReport {
  model: string;
  against: string;
  samples: number;
  seed: number;
  inputs: Record<string, { dtype: TensorDType; dims: number[]; rule: string }>;
  engines: Record<string, { outputs: Record<string, OutputReport> }>;
  notes: Record<string, string>;
}

export interface CompareOptions extends InputSpecOptions {
  /** the model as named in the report */
  model: string;
  /** the model's graph (as imported): its inputs and how they are read */
  graph: Graph;
  /** engine names (opened with `open`) */
  engines: readonly string[];
  /** the oracle's name (opened with `open`) */
  against: string;
  open(name: string): Promise<InferenceEngine>;
  samples: number;
  seed?: number;
  /** output name → class axis (null: none), overriding classAxisOf */
  classAxis?: Record<string, number | null>;
  /** progress lines */
  log?: (line: string) => void;
}

export async function runCompare(o: CompareOptions): Promise<CompareReport> {
  const samples = o.samples,
    seed = o.seed ?? 1;
  if (!Number.isInteger(samples) || samples < 1)
    throw new SparrowError('invalid_argument', `--samples must be a positive integer, got ${samples}`);
  if (!Number.isInteger(seed)) throw new SparrowError('invalid_argument', `--seed must be an integer, got ${seed}`);
  if (!o.engines.length) throw new SparrowError('invalid_argument', 'no engines to compare');
  if (new Set(o.engines).size !== o.engines.length) throw new SparrowError('invalid_argument', `an engine is listed twice: ${o.engines}`);
  for (const k of Object.keys(o.classAxis ?? {}))
    if (!o.graph.outputs.includes(k))
      throw new SparrowError('invalid_argument', `the model has no output '${k}' (outputs: ${o.graph.outputs.join(', ')})`);
  const specs = inputSpecs(o.graph, o);
  const log = o.log ?? (() => {});
  const opened: InferenceEngine[] = [];
  try {
    log(`load ${o.against} (oracle)`);
    const oracle = await o.open(o.against);
    opened.push(oracle);
    const engines: InferenceEngine[] = [];
    for (const e of o.engines) {
      log(`load ${e}`);
      const x = await o.open(e);
      opened.push(x);
      engines.push(x);
    }
    const stats = new Map<string, Map<string, OutputStats>>(o.engines.map((e) => [e, new Map()]));
    const rnd = mulberry32(seed);
    const axes = new Map<string, number | null>();
    for (let k = 0; k < samples; k++) {
      const feeds = randomInputs(specs, rnd);
      const want = await oracle.run(feeds);
      for (const [name, t] of Object.entries(want)) {
        if (!axes.has(name)) {
          const given = o.classAxis?.[name];
          axes.set(name, given !== undefined ? given : classAxisOf(t, Object.values(feeds)));
        }
      }
      for (let i = 0; i < engines.length; i++) {
        const got = await engines[i]!.run(feeds);
        const per = stats.get(o.engines[i]!)!;
        for (const [name, w] of Object.entries(want)) {
          let s = per.get(name);
          if (!s) per.set(name, (s = newStats()));
          const g = got[name];
          if (!g) {
            s.mismatch ??= `the engine has no output '${name}'`;
            continue;
          }
          const axis = axes.get(name)!;
          if (axis !== null && (axis < 0 || axis >= w.dims.length))
            throw new SparrowError('invalid_argument', `class axis ${axis} of output '${name}' [${w.dims}] is out of range`);
          accumulate(s, g, w, axis, k);
        }
      }
      if ((k + 1) % 10 === 0 || k + 1 === samples) log(`sample ${k + 1}/${samples}`);
    }
    const engines_: CompareReport['engines'] = {};
    for (const [e, per] of stats) engines_[e] = { outputs: Object.fromEntries([...per].map(([n, s]) => [n, finish(s)])) };
    return {
      model: o.model,
      against: o.against,
      samples,
      seed,
      inputs: Object.fromEntries(specs.map((s) => [s.name, { dtype: s.dtype, dims: s.dims, rule: s.rule }])),
      engines: engines_,
      notes: {
        maxRel: 'max over samples of max|engine − oracle| / max|oracle| (per output tensor)',
        within1e4: `every element of every sample has |d| <= ${REL_TOL}·|oracle| + ${ABS_TOL}·max|oracle|; worstExcess = max (|d| − that) / max|oracle|`,
        argmaxAgreement:
          'fraction of argmaxes over the class axis (axis 1: per row of [N, C], per position of [N, C, ...]) equal to the ' +
          "oracle's; null for outputs without a class axis (rank < 2, C < 2, or rank >= 3 with the channels of a float input: image-to-image)",
      },
    };
  } finally {
    for (const e of opened) await e.dispose().catch(() => {});
  }
}

/** A plain-text table of a compare report (the CLI's output without --json). */
export function formatCompare(r: CompareReport): string {
  const head = ['engine', 'output', 'dims', 'maxRel', 'worstExcess', 'within 1e-4', 'argmax agree'];
  const rows: string[][] = [];
  for (const [e, x] of Object.entries(r.engines))
    for (const [n, y] of Object.entries(x.outputs))
      rows.push([
        e,
        n,
        `[${y.dims.join(',')}]`,
        y.mismatch ? 'mismatch' : y.maxRel === null ? 'inf' : y.maxRel.toExponential(2),
        y.worstExcess === null ? '-' : y.worstExcess.toExponential(2),
        y.within1e4 ? 'yes' : 'NO',
        y.argmaxAgreement === null ? 'n/a' : `${(100 * y.argmaxAgreement).toFixed(2)}% of ${y.argmaxCount}`,
      ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]) => x.map((c, i) => (i < 3 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  const ins = Object.entries(r.inputs)
    .map(([k, v]) => `${k} ${v.dtype}[${v.dims.join(',')}] ${v.rule}`)
    .join('; ');
  const lines = [
    `${r.model} against ${r.against}: ${r.samples} samples (seed ${r.seed}); inputs ${ins}`,
    '',
    line(head),
    ...rows.map(line),
  ];
  for (const [e, x] of Object.entries(r.engines))
    for (const [n, y] of Object.entries(x.outputs)) if (y.mismatch) lines.push(`${e} ${n}: ${y.mismatch}`);
  return lines.join('\n');
}

/** One weight layer of the int8 sensitivity scan. */
export interface LayerSensitivity {
  node: string;
  op: string;
  kernel: string;
  /** worst output's maxRel with only this layer quantized */
  maxRel: number | null;
  /** lowest argmax agreement over the outputs with a class axis (null: none has one) */
  argmaxAgreement: number | null;
}

export interface SensitivityReport {
  model: string;
  against: string;
  samples: number;
  seed: number;
  inputs: CompareReport['inputs'];
  /** every layer quantized (no float head) */
  all: { maxRel: number | null; argmaxAgreement: number | null; layers: number };
  /** the engine's default (the float head in float32) */
  default: { maxRel: number | null; argmaxAgreement: number | null; layers: number };
  /** one run per layer, only that layer quantized; worst first */
  layers: LayerSensitivity[];
}

/** An int8 session for the scan: an engine and the layers it quantized (known after its first run). */
export interface Int8Probe {
  engine: InferenceEngine;
  layers(): Array<{ node: string; op: string; kernel: string }>;
}

export interface SensitivityOptions extends InputSpecOptions {
  model: string;
  graph: Graph;
  against: string;
  /** opens the oracle */
  open(name: string): Promise<InferenceEngine>;
  /** opens sparrow-int8 quantizing the layers `quantize` accepts (undefined: the engine's default) */
  openInt8(quantize: ((node: string) => boolean) | undefined): Promise<Int8Probe>;
  samples: number;
  seed?: number;
  classAxis?: Record<string, number | null>;
  log?: (line: string) => void;
}

/**
 * Which int8 layer loses the accuracy: runs sparrow-int8 (dynamic mode) with every layer
 * quantized, with its default float head, and once per layer with only that layer quantized (the
 * rest float32), each on the same `samples` seeded inputs, against the oracle.
 */
export async function runLayerSensitivity(o: SensitivityOptions): Promise<SensitivityReport> {
  const samples = o.samples,
    seed = o.seed ?? 1;
  if (!Number.isInteger(samples) || samples < 1)
    throw new SparrowError('invalid_argument', `--samples must be a positive integer, got ${samples}`);
  const specs = inputSpecs(o.graph, o);
  const log = o.log ?? (() => {});
  const rnd = mulberry32(seed);
  const feeds = Array.from({ length: samples }, () => randomInputs(specs, rnd));
  const oracle = await o.open(o.against);
  const want: Array<Record<string, Tensor>> = [];
  try {
    for (const f of feeds) want.push(await oracle.run(f));
  } finally {
    await oracle.dispose().catch(() => {});
  }
  const axes = new Map<string, number | null>();
  for (const [name, t] of Object.entries(want[0]!)) {
    const given = o.classAxis?.[name];
    axes.set(name, given !== undefined ? given : classAxisOf(t, Object.values(feeds[0]!)));
  }
  const figures = async (quantize: ((node: string) => boolean) | undefined) => {
    const p = await o.openInt8(quantize);
    try {
      const stats = new Map<string, OutputStats>();
      for (let k = 0; k < samples; k++) {
        const got = await p.engine.run(feeds[k]!);
        for (const [name, w] of Object.entries(want[k]!)) {
          if (!stats.has(name)) stats.set(name, newStats());
          const g = got[name];
          if (!g) stats.get(name)!.mismatch ??= `the engine has no output '${name}'`;
          else accumulate(stats.get(name)!, g, w, axes.get(name)!, k);
        }
      }
      const outs = [...stats.values()].map(finish);
      const rels = outs.map((r) => r.maxRel);
      const agrees = outs.map((r) => r.argmaxAgreement).filter((a): a is number => a !== null);
      return {
        maxRel: rels.includes(null) ? null : Math.max(...(rels as number[])),
        argmaxAgreement: agrees.length ? Math.min(...agrees) : null,
        layers: p.layers(),
      };
    } finally {
      await p.engine.dispose().catch(() => {});
    }
  };
  log('every layer quantized');
  const all = await figures(() => true);
  log('the default (float head)');
  const def = await figures(undefined);
  const layers: LayerSensitivity[] = [];
  for (const [i, l] of all.layers.entries()) {
    const r = await figures((n) => n === l.node);
    layers.push({ node: l.node, op: l.op, kernel: l.kernel, maxRel: r.maxRel, argmaxAgreement: r.argmaxAgreement });
    if ((i + 1) % 10 === 0 || i + 1 === all.layers.length) log(`layer ${i + 1}/${all.layers.length}`);
  }
  layers.sort((a, b) => (b.maxRel ?? Infinity) - (a.maxRel ?? Infinity));
  return {
    model: o.model,
    against: o.against,
    samples,
    seed,
    inputs: Object.fromEntries(specs.map((s) => [s.name, { dtype: s.dtype, dims: s.dims, rule: s.rule }])),
    all: { maxRel: all.maxRel, argmaxAgreement: all.argmaxAgreement, layers: all.layers.length },
    default: { maxRel: def.maxRel, argmaxAgreement: def.argmaxAgreement, layers: def.layers.length },
    layers,
  };
}

/** A plain-text table of a sensitivity scan (the CLI's `compare --layers` without --json). */
export function formatSensitivity(r: SensitivityReport, top = 20): string {
  const pct = (a: number | null) => (a === null ? 'n/a' : `${(100 * a).toFixed(2)}%`);
  const rel = (x: number | null) => (x === null ? 'inf' : x.toExponential(2));
  const head = ['layer (only it quantized)', 'op', 'kernel', 'maxRel', 'argmax agree'];
  const rows = r.layers.slice(0, top).map((l) => [l.node, l.op, l.kernel, rel(l.maxRel), pct(l.argmaxAgreement)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]) => x.map((c, i) => (i < 3 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [
    `${r.model} against ${r.against}: sparrow-int8 layer by layer, ${r.samples} samples (seed ${r.seed})`,
    `every layer quantized (${r.all.layers}): maxRel ${rel(r.all.maxRel)}, argmax ${pct(r.all.argmaxAgreement)}; ` +
      `default, float head in float32 (${r.default.layers} quantized): maxRel ${rel(r.default.maxRel)}, argmax ${pct(r.default.argmaxAgreement)}`,
    '',
    line(head),
    ...rows.map(line),
    ...(r.layers.length > top ? [`(${r.layers.length - top} more; --json lists all)`] : []),
  ].join('\n');
}
