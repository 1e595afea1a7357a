// Text generation with a decoder-only ONNX model in the KV-cache form of Optimum and
// Transformers.js ("with past"; scripts/export-llama2c.py writes the same names):
//
//   inputs   input_ids                   int64   [1, S]       the new tokens
//            attention_mask              int64   [1, P + S]   1 = attend, 0 = a hole in the cache
//            position_ids                int64   [1, S]       their positions (optional)
//            past_key_values.{i}.key     float32 [1, H, P, D] for each layer i (and .value)
//   outputs  logits                      float32 [1, S, V]
//            present.{i}.key / .value    float32 [1, H, P + S, D]   past with the new rows appended
//
// generate() runs the prompt in one pass (prefill, P = 0), then one token per step, feeding the
// cache back as past, and yields each token as it is chosen (src/runtime/sampling.ts: greedy,
// temperature, top-k, top-p, seeded). Plain TS over a small runner interface (a Session, or an
// ONNX Runtime engine in benchmarks): no Node APIs, so Workers and browsers use it as is.
//
// The cache. A WASM engine compiles one plan per input shape signature (src/runtime/engine.ts),
// ~100 ms for stories260K, while a step on a compiled plan takes < 1 ms: feeding a past of
// length P that grows by one each step would compile at every token. So when the model takes
// attention_mask and position_ids ('fixed' mode), the cache is preallocated to a capacity C (a
// power of two, at least `minCapacity`, at most what the run can need) and fed whole every
// step: rows 0..n-1 hold the n tokens so far, rows n..C-1 are zeros masked out by
// attention_mask, and the step's new key/value rows, which the model appends after row C-1,
// are copied from present into row n. Decode steps then have one signature per capacity
// (log2 of the length of compiles in a run). Masked rows get exp(min_float - max) = 0 exactly
// in the softmax and add +0 to the sums, so in an engine summing in order the result is that of
// the unpadded cache. Attention does not depend on row order apart from the mask and RoPE
// (applied before caching, from position_ids), so a hole before the new row changes nothing.
// Without those inputs ('concat' mode: positions derived from the past length) present is fed
// back as is (no copy on our side; the engine copies it in and out).
//
// Zero copy (a Session on a WASM engine: DecoderRunner.runIo / pinInputs). The past inputs are
// pinned (WasmEngine.pinInputs): their arena slots live through whole runs, so what a run leaves
// there is still there at the next run of the same plan. A decode step then writes only the
// small feeds (the token, its position, the mask); the engine leaves the past slots as they are
// (runIo `reuse`: the plan of the previous step, no run of it in between), and right after the
// run, still inside the engine call (`after`), the new key/value rows are copied from the
// present outputs' arena slots into the past slots at row n: linear memory to linear memory,
// 2 x L x H x D floats a step. Present outputs are never copied out, only the logits. The JS
// cache (FixedCache) keeps a copy of the rows too (the same small copy), fed whole when the
// slots cannot be reused: a new capacity (a new plan), or another run of the plan in between
// (two generations on one session). Without runIo the cache is fed whole every step, as before:
// Session.run copies every feed into the arena and every output out of it, 2 x (2 L H C D) x 4
// bytes a step, and allocates the present outputs (the garbage collector's work in the tail of
// the step times).

import { SparrowError } from '../errors.js';
import { ARRAY_OF, type Tensor, type TensorData, type TensorDType, type ValueInfo } from '../ops/types.js';
import { Sampler, type SamplingOptions } from './sampling.js';
import type { IoRunOptions, IoRunResult, IoToken } from './plan_runner.js';

/** What generate() needs of an engine: a Session, or an ONNX Runtime engine (src/runtime/ort.ts). */
export interface DecoderRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** dtype and dims per input (-1 = any): a Session has it; gives the cache's heads and head size */
  readonly inputInfo?: Readonly<Record<string, ValueInfo>>;
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /** zero-copy cache (a Session on a WASM engine, see the header): inputs whose arena slots persist */
  pinInputs?(names: readonly string[]): void;
  /** zero-copy cache: a run that may leave pinned inputs as they are (Session.runIo) */
  runIo?(feeds: Record<string, Tensor>, o: IoRunOptions): Promise<IoRunResult>;
}

/** One layer's past inputs and present outputs. */
export interface KvNames {
  pastKey: string;
  pastValue: string;
  presentKey: string;
  presentValue: string;
}

/** The inputs and outputs of a decoder with past, as detectDecoder found them. */
export interface DecoderLayout {
  inputIds: string;
  idsDtype: TensorDType;
  attentionMask?: string;
  maskDtype: TensorDType;
  positionIds?: string;
  positionsDtype: TensorDType;
  /** merged decoders (Optimum): bool [1], false on the first step, true after */
  useCacheBranch?: string;
  logits: string;
  layers: KvNames[];
  /** dtype of the cache tensors (float32; float16 as bits) */
  kvDtype: TensorDType;
  /** key/value heads (dim 1) and head size (dim 3) of the cache */
  heads: number;
  headDim: number;
}

const IDS = ['input_ids', 'tokens', 'input'];
const MASK = ['attention_mask', 'mask'];
const POSITIONS = ['position_ids', 'positions'];
const PAST = [/^past_key_values\.(\d+)\.(key|value)$/, /^past\.(\d+)\.(key|value)$/, /^past_(key|value)s?\.(\d+)$/];
const PRESENT = [/^present\.(\d+)\.(key|value)$/, /^present_key_values\.(\d+)\.(key|value)$/, /^present_(key|value)s?\.(\d+)$/];

function matchKv(name: string, res: RegExp[]): { layer: number; kind: 'key' | 'value' } | undefined {
  for (const re of res) {
    const m = re.exec(name);
    if (!m) continue;
    const [a, b] = [m[1]!, m[2]!];
    return /^\d+$/.test(a) ? { layer: Number(a), kind: b as 'key' | 'value' } : { layer: Number(b), kind: a as 'key' | 'value' };
  }
  return undefined;
}

function bad(message: string): never {
  throw new SparrowError('invalid_model', `not a decoder with a KV cache: ${message}`);
}

/**
 * Finds a decoder's inputs and outputs by name (Optimum / Transformers.js, and our export's),
 * or throws SparrowError('invalid_model') naming what is missing. `kv` gives the heads and head
 * size when the model's past inputs do not state them.
 */
export function detectDecoder(model: DecoderRunner, kv: { heads?: number; headDim?: number } = {}): DecoderLayout {
  const ins = model.inputNames;
  const outs = model.outputNames;
  const pick = (names: string[]): string | undefined => names.find((n) => ins.includes(n));
  const inputIds = pick(IDS) ?? bad(`no input named ${IDS.join(' / ')} (inputs: ${ins.join(', ')})`);
  const attentionMask = pick(MASK);
  const positionIds = pick(POSITIONS);
  const useCacheBranch = ins.includes('use_cache_branch') ? 'use_cache_branch' : undefined;
  const logits = outs.includes('logits') ? 'logits' : (outs[0] ?? bad('no outputs'));
  const past = new Map<number, Partial<KvNames>>();
  const known = new Set([inputIds, attentionMask, positionIds, useCacheBranch].filter((x): x is string => !!x));
  for (const n of ins) {
    const m = matchKv(n, PAST);
    if (m) {
      const e = past.get(m.layer) ?? {};
      if (m.kind === 'key') e.pastKey = n;
      else e.pastValue = n;
      past.set(m.layer, e);
    } else if (!known.has(n)) bad(`input '${n}' is neither the tokens, the mask, the positions nor a past key/value`);
  }
  for (const n of outs) {
    const m = matchKv(n, PRESENT);
    if (!m) continue;
    const e = past.get(m.layer) ?? bad(`output '${n}' has no past input of layer ${m.layer}`);
    if (m.kind === 'key') e.presentKey = n;
    else e.presentValue = n;
  }
  if (past.size === 0) bad(`no past_key_values.{i}.key / .value inputs (inputs: ${ins.join(', ')})`);
  const layers: KvNames[] = [];
  for (let i = 0; i < past.size; i++) {
    const e = past.get(i) ?? bad(`layer ${i} has no past key/value (layers must be numbered 0..${past.size - 1})`);
    if (!e.pastKey || !e.pastValue || !e.presentKey || !e.presentValue)
      bad(`layer ${i} lacks one of past key, past value, present key, present value`);
    layers.push(e as KvNames);
  }
  const info = model.inputInfo;
  const dtypeOf = (n: string | undefined, d: TensorDType): TensorDType => (n && info?.[n]?.dtype) || d;
  const kvInfo = info?.[layers[0]!.pastKey];
  const dims = kvInfo?.dims;
  if (dims && dims.length !== 4) bad(`past key '${layers[0]!.pastKey}' has rank ${dims.length}, expected [batch, heads, past, head size]`);
  const heads = kv.heads ?? (dims && dims[1]! > 0 ? dims[1]! : undefined);
  const headDim = kv.headDim ?? (dims && dims[3]! > 0 ? dims[3]! : undefined);
  if (!heads || !headDim)
    throw new SparrowError(
      'invalid_argument',
      `the past inputs do not state the number of key/value heads and the head size (dims ${JSON.stringify(dims ?? null)}): pass them`,
    );
  const kvDtype = dtypeOf(layers[0]!.pastKey, 'float32');
  if (kvDtype !== 'float32' && kvDtype !== 'float16') bad(`the cache is ${kvDtype}; float32 or float16 expected`);
  return {
    inputIds,
    idsDtype: dtypeOf(inputIds, 'int64'),
    ...(attentionMask ? { attentionMask } : {}),
    maskDtype: dtypeOf(attentionMask, 'int64'),
    ...(positionIds ? { positionIds } : {}),
    positionsDtype: dtypeOf(positionIds, 'int64'),
    ...(useCacheBranch ? { useCacheBranch } : {}),
    logits,
    layers,
    kvDtype,
    heads,
    headDim,
  };
}

export interface GenerateOptions extends SamplingOptions {
  /** tokens to generate at most (default 256) */
  maxTokens?: number;
  /** PRNG seed of the draws (default 0) */
  seed?: number;
  /** token ids that end the generation (not yielded), e.g. EOS */
  stop?: readonly number[];
  /** the model's context: prompt + generated tokens stay within it, as Hugging Face's max_length (default: unbounded) */
  maxLength?: number;
  /** stops the generation between steps (stopReason 'aborted') */
  signal?: AbortSignal;
  /** heads / head size of the cache when the model's inputs do not state them */
  kv?: { heads?: number; headDim?: number };
  /** 'fixed' (default where the model has attention_mask and position_ids) or 'concat' (see the header) */
  cache?: 'fixed' | 'concat';
  /** smallest capacity of a fixed cache (default 64) */
  minCapacity?: number;
  /** keep a fixed cache in the engine's arena when the runner can (runIo; default true): see the header */
  zeroCopy?: boolean;
  /**
   * hand control to the event loop after this many ms of steps (or 32 steps), so that aborts and
   * I/O get through (default 20)
   */
  yieldMs?: number;
}

export interface GenerateStats {
  /** generated tokens (yielded), stop token not included */
  tokens: number[];
  stopReason: 'max_tokens' | 'stop_token' | 'length' | 'aborted';
  promptTokens: number;
  /** ms of the prefill run (first-token latency, less sampling) */
  prefillMs: number;
  /** model runs after the prefill and their ms */
  decodeSteps: number;
  decodeMs: number;
  /** capacities the fixed cache took (one compiled plan each in a WASM engine); [] in concat mode */
  capacities: number[];
  cache: 'fixed' | 'concat';
  /** decode steps whose cache the engine kept in its arena (nothing copied in; zero-copy mode) */
  reusedSteps: number;
}

/** A one-dimensional-batch tensor of token ids / positions / mask values. */
function ints(dtype: TensorDType, dims: number[], values: ArrayLike<number>): Tensor {
  if (dtype === 'int64') return { dtype, dims, data: BigInt64Array.from(Array.from(values), (v) => BigInt(v)) };
  if (dtype === 'int32') return { dtype, dims, data: Int32Array.from(values) };
  throw new SparrowError('invalid_model', `integer inputs of dtype ${dtype} are not supported (int64 or int32)`);
}

function setInt(t: Tensor, i: number, v: number): void {
  if (t.dtype === 'int64') (t.data as BigInt64Array)[i] = BigInt(v);
  else (t.data as Int32Array)[i] = v;
}

/** Hands control to the event loop (a macrotask), so that timers, I/O and aborts get through. */
function macrotask(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  return new Promise((r) => (g.setImmediate ? g.setImmediate(r) : setTimeout(r, 0)));
}

/**
 * The fixed-capacity cache of 'fixed' mode: per layer a key and a value tensor
 * [1, H, C, D] (rows 0..length-1 valid), the attention mask [1, C + 1] of a decode step.
 */
class FixedCache {
  capacity = 0;
  length = 0;
  readonly capacities: number[] = [];
  tensors: Tensor[] = []; // 2 per layer: key, value
  mask: Tensor | undefined;

  constructor(
    readonly layout: DecoderLayout,
    readonly minCapacity: number,
    readonly limit: number,
  ) {}

  /** Makes room for `n` rows (a new capacity: min(limit, max(min, 2^k)), rows copied). */
  reserve(n: number): void {
    if (n <= this.capacity) return;
    let c = Math.max(this.minCapacity, this.capacity);
    while (c < n) c *= 2;
    c = Math.max(n, Math.min(c, this.limit));
    const { heads: H, headDim: D, kvDtype } = this.layout;
    const Ctor = ARRAY_OF[kvDtype];
    const next = this.layout.layers
      .flatMap(() => [0, 1])
      .map((_, j) => {
        const data = new Ctor(H * c * D) as Float32Array;
        const old = this.tensors[j];
        if (old)
          for (let h = 0; h < H; h++)
            data.set((old.data as Float32Array).subarray(h * this.capacity * D, (h * this.capacity + this.length) * D), h * c * D);
        return { dtype: kvDtype, dims: [1, H, c, D], data: data as TensorData } as Tensor;
      });
    this.tensors = next;
    this.capacity = c;
    this.capacities.push(c);
    const m = ints(this.layout.maskDtype, [1, c + 1], new Array<number>(c + 1).fill(0));
    for (let i = 0; i < this.length; i++) setInt(m, i, 1);
    setInt(m, c, 1);
    this.mask = m;
  }

  /**
   * Copies rows [from, from + s) of each present (T rows; `present(name)`) into rows length.. of
   * the cache, and into `slot(pastName)` ([1, H, C, D] as fed: the engine's pinned past slots in
   * zero-copy mode) when given and the capacity did not change. Returns whether it changed.
   */
  append(present: (name: string) => Tensor | undefined, from: number, s: number, slot?: (name: string) => Tensor | undefined): boolean {
    const before = this.capacity;
    this.reserve(this.length + s);
    const grew = this.capacity !== before;
    const { heads: H, headDim: D } = this.layout;
    const C = this.capacity;
    this.layout.layers.forEach((l, i) => {
      [l.presentKey, l.presentValue].forEach((name, k) => {
        const p = present(name) ?? fail(`the model did not return '${name}'`);
        const T = p.dims[2]!;
        if (p.dims.length !== 4 || p.dims[1] !== H || p.dims[3] !== D || T < from + s)
          fail(`'${name}' has dims [${p.dims}], expected [1, ${H}, >= ${from + s}, ${D}]`);
        const src = p.data as Float32Array;
        const dst = this.tensors[2 * i + k]!.data as Float32Array;
        const pin = grew ? undefined : (slot?.(k ? l.pastValue : l.pastKey)?.data as Float32Array | undefined);
        for (let h = 0; h < H; h++) {
          const rows = src.subarray((h * T + from) * D, (h * T + from + s) * D);
          dst.set(rows, (h * C + this.length) * D);
          pin?.set(rows, (h * C + this.length) * D);
        }
      });
    });
    for (let i = this.length; i < this.length + s; i++) setInt(this.mask!, i, 1);
    this.length += s;
    return grew;
  }
}

function fail(message: string): never {
  throw new SparrowError('invalid_model', message);
}

function emptyPast(layout: DecoderLayout): Tensor {
  return { dtype: layout.kvDtype, dims: [1, layout.heads, 0, layout.headDim], data: new ARRAY_OF[layout.kvDtype](0) } as Tensor;
}

/**
 * Generates tokens after `prompt` (token ids, BOS included where the model wants it): yields
 * each token as it is chosen; returns the run's statistics. Stops after `maxTokens`, on a
 * `stop` token (not yielded), at `maxLength`, or when `signal` aborts (checked between steps;
 * breaking out of the loop also stops it). Throws SparrowError('invalid_argument') for bad
 * options and ('invalid_model') for a model that is not a decoder with past.
 */
export async function* generate(
  model: DecoderRunner,
  prompt: readonly number[],
  o: GenerateOptions = {},
): AsyncGenerator<number, GenerateStats> {
  const maxTokens = o.maxTokens ?? 256;
  if (!(Number.isInteger(maxTokens) && maxTokens >= 0))
    throw new SparrowError('invalid_argument', `max tokens must be an integer >= 0, got ${maxTokens}`);
  if (prompt.length === 0) throw new SparrowError('invalid_argument', 'the prompt has no tokens');
  if (!prompt.every((t) => Number.isInteger(t) && t >= 0))
    throw new SparrowError('invalid_argument', 'prompt tokens must be integers >= 0');
  const maxLength = o.maxLength ?? Infinity;
  if (!(maxLength >= 1)) throw new SparrowError('invalid_argument', `max length must be >= 1, got ${maxLength}`);
  if (prompt.length > maxLength)
    throw new SparrowError('invalid_argument', `the prompt has ${prompt.length} tokens; the model's context is ${maxLength}`);
  const minCapacity = o.minCapacity ?? 64;
  if (!(Number.isInteger(minCapacity) && minCapacity >= 1))
    throw new SparrowError('invalid_argument', `min capacity must be a positive integer, got ${minCapacity}`);
  const sampler = new Sampler({ ...o, seed: o.seed ?? 0 });
  const layout = detectDecoder(model, o.kv);
  const canFix = !!layout.attentionMask && !!layout.positionIds;
  const mode = o.cache ?? (canFix ? 'fixed' : 'concat');
  if (mode === 'fixed' && !canFix)
    throw new SparrowError('invalid_argument', "a fixed cache needs the model's attention_mask and position_ids inputs");
  const stop = new Set(o.stop ?? []);
  const yieldMs = o.yieldMs ?? 20;
  const stats: GenerateStats = {
    tokens: [],
    stopReason: 'max_tokens',
    promptTokens: prompt.length,
    prefillMs: 0,
    decodeSteps: 0,
    decodeMs: 0,
    capacities: [],
    cache: mode,
    reusedSteps: 0,
  };
  if (maxTokens === 0) return stats;
  if (o.signal?.aborted) {
    stats.stopReason = 'aborted';
    return stats;
  }
  // rows the cache can need: every token fed but the last (the last generated one is not fed)
  const limit = Math.min(prompt.length + maxTokens - 2, maxLength - 1);
  const fixed = mode === 'fixed' ? new FixedCache(layout, minCapacity, Math.max(limit, prompt.length)) : undefined;
  stats.capacities = fixed ? fixed.capacities : [];

  const feeds = (ids: readonly number[], pos: number): Record<string, Tensor> => {
    const S = ids.length;
    const f: Record<string, Tensor> = { [layout.inputIds]: ints(layout.idsDtype, [1, S], ids) };
    if (layout.positionIds)
      f[layout.positionIds] = ints(
        layout.positionsDtype,
        [1, S],
        ids.map((_, i) => pos + i),
      );
    if (layout.useCacheBranch) f[layout.useCacheBranch] = { dtype: 'bool', dims: [1], data: Uint8Array.of(pos > 0 ? 1 : 0) };
    return f;
  };
  const lastRow = (outs: Record<string, Tensor>): { data: Float32Array; off: number; n: number } => {
    const l = outs[layout.logits] ?? fail(`the model did not return '${layout.logits}'`);
    if (l.dtype !== 'float32') fail(`logits are ${l.dtype}; float32 expected`);
    const V = l.dims[l.dims.length - 1]!;
    return { data: l.data as Float32Array, off: l.data.length - V, n: V };
  };

  // zero copy: the past inputs pinned in the engine's arena (see the header)
  const io = fixed && o.zeroCopy !== false && model.runIo && model.pinInputs ? model.runIo.bind(model) : undefined;
  if (io) model.pinInputs!(layout.layers.flatMap((l) => [l.pastKey, l.pastValue]));
  let ioToken: IoToken | undefined;
  /**
   * One model run; in fixed mode its new rows [from, from + s) of present go into the cache right
   * after it (while the engine's views are valid), unless the cache is full (the last run).
   */
  const runModel = async (f: Record<string, Tensor>, from: number, s: number): Promise<Record<string, Tensor>> => {
    const room = (): boolean => !!fixed && fixed.length + s <= fixed.limit;
    if (io) {
      const r = await io(f, {
        outputs: [layout.logits],
        ...(ioToken ? { reuse: ioToken } : {}),
        after: (v) => {
          if (room()) fixed!.append(v.output, from, s, v.input);
        },
      });
      ioToken = r.token;
      if (r.reused) stats.reusedSteps++;
      return r.outputs;
    }
    const outs = await model.run(f);
    if (room()) fixed!.append((n) => outs[n], from, s);
    return outs;
  };

  // prefill: the whole prompt, empty past
  let t0 = performance.now();
  const f0 = feeds(prompt, 0);
  if (layout.attentionMask) f0[layout.attentionMask] = ints(layout.maskDtype, [1, prompt.length], new Array<number>(prompt.length).fill(1));
  for (const l of layout.layers) f0[l.pastKey] = f0[l.pastValue] = emptyPast(layout);
  let outs = await runModel(f0, 0, prompt.length);
  stats.prefillMs = performance.now() - t0;
  let length = prompt.length; // tokens the model has seen
  let lastYield = performance.now();
  let sinceYield = 0;
  for (;;) {
    if (o.signal?.aborted) {
      stats.stopReason = 'aborted';
      break;
    }
    const row = lastRow(outs);
    const token = sampler.next(row.data, row.off, row.n);
    if (stop.has(token)) {
      stats.stopReason = 'stop_token';
      break;
    }
    stats.tokens.push(token);
    yield token;
    if (o.signal?.aborted) {
      stats.stopReason = 'aborted';
      break;
    }
    if (stats.tokens.length >= maxTokens) break;
    if (prompt.length + stats.tokens.length >= maxLength) {
      stats.stopReason = 'length';
      break;
    }
    // one step: the new token, the cache so far (fixed mode: the new row follows the C fed rows)
    const f = feeds([token], length);
    let from = 0;
    if (fixed) {
      f[layout.attentionMask!] = fixed.mask!;
      layout.layers.forEach((l, i) => {
        f[l.pastKey] = fixed.tensors[2 * i]!;
        f[l.pastValue] = fixed.tensors[2 * i + 1]!;
      });
      from = fixed.capacity;
    } else {
      if (layout.attentionMask) f[layout.attentionMask] = ints(layout.maskDtype, [1, length + 1], new Array<number>(length + 1).fill(1));
      for (const l of layout.layers) {
        f[l.pastKey] = outs[l.presentKey] ?? fail(`the model did not return '${l.presentKey}'`);
        f[l.pastValue] = outs[l.presentValue] ?? fail(`the model did not return '${l.presentValue}'`);
      }
    }
    t0 = performance.now();
    outs = await runModel(f, from, 1);
    const t1 = performance.now();
    stats.decodeMs += t1 - t0;
    stats.decodeSteps++;
    length++;
    // by time, and by count where the clock stands still while code runs (Workers' timers)
    if (t1 - lastYield >= yieldMs || ++sinceYield >= 32) {
      await macrotask();
      lastYield = performance.now();
      sinceYield = 0;
    }
  }
  return stats;
}
