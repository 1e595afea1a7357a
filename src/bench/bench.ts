// `sparrow bench`: latency of several engines on one ONNX model, all in this process, one
// thread each, interleaved round-robin per run on the same seeded random inputs; plus the
// model's sizes (ONNX raw / gzip-9 / brotli-11 / .sparrow) and the WASM int8 decode speed of
// the .sparrow container against Node's zlib inflate of the same bytes (../shared/CONTRACT.md).
import zlib from 'node:zlib';
import { SparrowError } from '../errors.js';
import { decodeInt8Ref } from '../codec/int8.js';
import { packOnnxWeights } from '../compress/pack.js';
import { DType, readContainer } from '../format/container.js';
import { valueInfoFromOnnx } from '../onnx/attributes.js';
import { decodeModel } from '../onnx/proto.js';
import type { Tensor, TensorDType } from '../ops/types.js';
import { loadWasmNode } from '../wasm/node.js';
import type { InferenceEngine } from '../runtime/ort.js';
import { measureDecodeSpeed, type DecodeItem } from './codec.js';
import { detectDecoder, type DecoderLayout } from '../runtime/generate.js';
import type { ValueInfo } from '../ops/types.js';
import { timeDecoders } from './generate_bench.js';

export interface BenchEngineResult {
  p50_ms: number;
  p90_ms: number;
  /** creating the engine's session from the model bytes, the first time in this process (includes one-time runtime set-up) */
  load_ms: number;
  /** importing the engine's code before that (e.g. the ORT package), not part of load_ms */
  import_ms: number;
  /** creating a second session from the same bytes (runtime already set up) */
  load_warm_ms: number;
  /** largest process RSS seen right after this engine's timed runs (process-wide: all engines are loaded) */
  peak_rss_mb: number;
  /** the engine's WASM linear memory, when it has one and tells */
  wasm_memory_bytes?: number;
  /** largest |difference| of its float outputs from the first engine's, on the first warm-up input */
  max_abs_diff?: number | null;
  /** what the engine loaded: the .onnx model, or the --compressed .sparrow file (sparrow-int8) */
  source?: 'onnx' | 'sparrow';
  /** sparrow-int8: decoding + packing the int8 weights into the kernel layouts, part of load_ms */
  weights_ms?: number;
  /** the same in the second (warm) creation: part of load_warm_ms */
  weights_warm_ms?: number;
  /**
   * decoder models (past_key_values inputs): decode tokens per second (the model runs after the
   * prefill / their time, median over the timed generations); p50_ms / p90_ms are then per decode step
   */
  tokens_per_s?: number;
  /** decoder models: the prefill run (the whole prompt, empty cache), median ms */
  prefill_ms?: number;
  /** decoder models: generated tokens per second of wall time, prefill and sampling included, median */
  total_tokens_per_s?: number;
  /** decoder models: the engine's greedy tokens (after the prompt) */
  tokens?: number[];
  /** decoder models: its greedy tokens equal the first engine's */
  same_tokens?: boolean;
}

export interface BenchReport {
  model: string;
  threads: 1;
  runs: number;
  batch: number;
  warmup: number;
  inputs: Record<string, { dtype: TensorDType; dims: number[] }>;
  sizes: { onnx: number; onnx_gzip: number; onnx_brotli: number; sparrow: number; sparrow_note?: string };
  decode: { sparrow_MBps: number | null; zlib_inflate_MBps: number | null; int8_bytes: number; note?: string };
  engines: Record<string, BenchEngineResult>;
  /** decoder models: what each timed run generated (greedy, stop tokens ignored, one thread) */
  generation?: { prompt: number[]; max_tokens: number; cache: 'fixed' | 'concat'; layers: number; heads: number; head_dim: number };
  /** engines left out because they could not load the model (default engine list only) */
  skipped?: Record<string, string>;
  notes: Record<string, string>;
}

export interface BenchOptions {
  /** input shapes (name → dims) for symbolic dims other than the batch */
  shapes?: Record<string, number[]>;
  /** the model as named in the report */
  model: string;
  bytes: Uint8Array;
  /** a .sparrow file of the model; without it the weights are packed in memory */
  compressed?: { path: string; bytes: Uint8Array };
  engines: string[];
  /**
   * opens an engine by CLI name from the model's bytes: the .onnx model, or the --compressed
   * .sparrow file for the engines in COMPRESSED_ENGINES
   */
  open(name: string, bytes: Uint8Array): Promise<InferenceEngine>;
  /** loads an engine's code before its load is timed (optional) */
  prepare?(name: string): Promise<void>;
  /** true: an engine that fails to load fails the bench; false: it is skipped (noted in `skipped`) */
  strictEngines?: boolean;
  runs: number;
  /** value of symbolic input dimensions on axis 0 (default 1) */
  batch?: number;
  /** untimed interleaved runs per engine first (default 5: past sparrow-int8's tier-up, TIER_UP_RUNS) */
  warmup?: number;
  seed?: number;
  /** interleave rounds of the decode measurement (default 15) */
  decodeRounds?: number;
  /** latency (and load) only: no gzip/brotli sizes, no in-memory packing, no decode figures (npm run bench) */
  latencyOnly?: boolean;
  /** progress lines (stderr in the CLI) */
  log?: (line: string) => void;
  /**
   * a decoder with a KV cache (past_key_values inputs) is timed by greedy generation of
   * `maxTokens` tokens after `prompt` (default [1], BOS of llama2.c); false: time it as any model
   * on random feeds
   */
  generation?: { maxTokens: number; prompt?: number[] } | false;
}

/** Engines that run the --compressed .sparrow file when one is given (the others run the .onnx). */
export const COMPRESSED_ENGINES: readonly string[] = ['sparrow-int8'];

/** Weights-only packing sparsity when no --compressed file is given. */
export const IN_MEMORY_SPARSITY = 0.7;

const round = (x: number, d: number): number => Math.round(x * 10 ** d) / 10 ** d;
const mb = (bytes: number): number => round(bytes / (1024 * 1024), 1);

/** Linear-interpolation quantile (q in [0, 1]) of unsorted samples. */
export function quantile(xs: readonly number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos),
    hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

import { mulberry32 as rng } from '../util/rng.js';
export { rng };

/** The graph inputs (not initializers) of an ONNX model with their dtypes and dims (-1 = symbolic). */
export function modelInputs(bytes: Uint8Array): Array<{ name: string; dtype: TensorDType; dims: number[] | null }> {
  const g = decodeModel(bytes).graph;
  if (!g) throw new SparrowError('invalid_model', 'ONNX model has no graph');
  const inits = new Set((g.initializer ?? []).map((t) => t.name ?? ''));
  return (g.input ?? [])
    .filter((vi) => !inits.has(vi.name ?? ''))
    .map((vi) => {
      const info = valueInfoFromOnnx(vi, 'graph input');
      return { name: vi.name ?? '', dtype: info.dtype, dims: info.dims };
    });
}

const PAST_INPUT = /^past(_key_values)?[._]/;

/**
 * The KV-cache layout of a decoder model (inputs named past_key_values.{i}.key/value, or
 * past.{i}.*, past_key.{i}), with its input facts; undefined for a model without past inputs.
 * Throws SparrowError('invalid_model') for a model with past inputs that generate() cannot drive.
 */
export function decoderOf(bytes: Uint8Array): { layout: DecoderLayout; inputInfo: Record<string, ValueInfo> } | undefined {
  const inputs = modelInputs(bytes);
  if (!inputs.some((i) => PAST_INPUT.test(i.name))) return undefined;
  const outputNames = (decodeModel(bytes).graph?.output ?? []).map((o) => o.name ?? '');
  const inputInfo: Record<string, ValueInfo> = Object.fromEntries(inputs.map((i) => [i.name, { dtype: i.dtype, dims: i.dims }]));
  const layout = detectDecoder({
    inputNames: inputs.map((i) => i.name),
    outputNames,
    inputInfo,
    run: () => Promise.reject(new Error('unused')),
  });
  return { layout, inputInfo };
}

/** Seeded random feeds: float32 uniform [0, 1), integers in [0, 10), int8/uint8 full range, bool 0/1. */
export function randomFeeds(
  inputs: ReturnType<typeof modelInputs>,
  batch: number,
  seed: number,
  shapes: Record<string, number[]> = {},
): Record<string, Tensor> {
  const r = rng(seed);
  const feeds: Record<string, Tensor> = {};
  for (const name of Object.keys(shapes)) {
    if (!inputs.some((i) => i.name === name)) throw new SparrowError('invalid_argument', `--shape: the model has no input '${name}'`);
  }
  for (const inp of inputs) {
    const given = shapes[inp.name];
    if (given && inp.dims && (given.length !== inp.dims.length || inp.dims.some((d, i) => d >= 0 && d !== given[i])))
      throw new SparrowError(
        'invalid_argument',
        `--shape ${inp.name}=${given.join(',')} does not fit the declared [${inp.dims.join(',')}]`,
      );
    if (!inp.dims && !given)
      throw new SparrowError('invalid_argument', `input '${inp.name}' has no declared shape; give one with --shape ${inp.name}=d0,d1,...`);
    const dims = given ?? inp.dims!.map((d, i) => (d >= 0 ? d : i === 0 ? batch : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    let t: Tensor;
    switch (inp.dtype) {
      case 'float32':
        t = { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => r()) };
        break;
      case 'int64':
        t = { dtype: 'int64', dims, data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(r() * 10))) };
        break;
      case 'int32':
        t = { dtype: 'int32', dims, data: Int32Array.from({ length: n }, () => Math.floor(r() * 10)) };
        break;
      case 'int8':
        t = { dtype: 'int8', dims, data: Int8Array.from({ length: n }, () => Math.floor(r() * 256) - 128) };
        break;
      case 'uint8':
        t = { dtype: 'uint8', dims, data: Uint8Array.from({ length: n }, () => Math.floor(r() * 256)) };
        break;
      case 'bool':
        t = { dtype: 'bool', dims, data: Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)) };
        break;
      default:
        throw new SparrowError('invalid_argument', `input '${inp.name}': dtype ${String(inp.dtype)} not supported by bench`);
    }
    feeds[inp.name] = t;
  }
  return feeds;
}

/** Largest |a − b| over the float32 outputs both have (null: nothing comparable or shapes differ). */
function maxAbsDiff(a: Record<string, Tensor>, b: Record<string, Tensor>): number | null {
  let m: number | null = null;
  for (const [name, x] of Object.entries(a)) {
    const y = b[name];
    if (!y || x.dtype !== 'float32' || y.dtype !== 'float32') continue;
    if (x.dims.join() !== y.dims.join()) return null;
    const p = x.data as Float32Array,
      q = y.data as Float32Array;
    let d = 0;
    for (let i = 0; i < p.length; i++) {
      const v = Math.abs(p[i]! - q[i]!);
      if (!(v <= d)) d = v; // NaN propagates
    }
    m = Math.max(m ?? 0, d);
  }
  return m;
}

/** Decode speed of the int8 sections of a .sparrow container (WASM vs zlib inflate, same run). */
async function decodeFigures(container: Uint8Array, rounds: number): Promise<BenchReport['decode']> {
  const c = readContainer(container);
  const items: DecodeItem[] = [];
  c.header.sections.forEach((s, i) => {
    if (s.dtype !== DType.Int8) return;
    const payload = c.payload(i);
    items.push({
      name: String(c.header.meta.tensors[i]?.name ?? `section ${i}`),
      codec: s.codec,
      payload,
      expected: decodeInt8Ref(s.codec, payload, s.decodedBytes),
    });
  });
  const bytes = items.reduce((a, x) => a + x.expected.length, 0);
  if (!bytes) return { sparrow_MBps: null, zlib_inflate_MBps: null, int8_bytes: 0, note: 'the container holds no int8 sections' };
  const wasm = await loadWasmNode();
  const s = measureDecodeSpeed(wasm, items, rounds);
  return { sparrow_MBps: s.decode_MBps, zlib_inflate_MBps: s.zlib_inflate_MBps, int8_bytes: s.bytes };
}

export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const log = o.log ?? (() => {});
  const runs = o.runs,
    batch = o.batch ?? 1,
    warmup = o.warmup ?? 5,
    seed = o.seed ?? 42;
  if (!Number.isInteger(runs) || runs < 1) throw new SparrowError('invalid_argument', `--runs must be a positive integer, got ${runs}`);
  if (!Number.isInteger(batch) || batch < 1) throw new SparrowError('invalid_argument', `--batch must be a positive integer, got ${batch}`);
  if (!o.engines.length) throw new SparrowError('invalid_argument', 'no engines to bench');

  const inputs = modelInputs(o.bytes);
  const decoder = o.generation === false ? undefined : decoderOf(o.bytes);
  const gen = decoder ? { maxTokens: 128, prompt: [1], ...(o.generation || {}) } : undefined;
  if (gen && !(Number.isInteger(gen.maxTokens) && gen.maxTokens >= 2))
    throw new SparrowError('invalid_argument', `--max-tokens must be an integer >= 2, got ${gen.maxTokens}`);
  const feeds = decoder ? {} : randomFeeds(inputs, batch, seed, o.shapes);

  // sizes and decode figures (skipped for latencyOnly)
  const { sizes, decode } = o.latencyOnly ? skippedFigures(o.bytes.length) : await sizeFigures(o, log);

  // engines: load (cold, then a second warm load), in the order given
  const engines: InferenceEngine[] = [];
  const load = new Map<string, LoadFacts>();
  const skipped: Record<string, string> = {};
  try {
    for (const name of o.engines) {
      log(`load ${name}`);
      let e: InferenceEngine, imp: number, cold: number, warm: number, weightsWarm: unknown;
      try {
        let t0 = performance.now();
        await o.prepare?.(name);
        imp = performance.now() - t0;
        const src = o.compressed && COMPRESSED_ENGINES.includes(name) ? o.compressed.bytes : o.bytes;
        t0 = performance.now();
        e = await o.open(name, src);
        cold = performance.now() - t0;
        t0 = performance.now();
        const again = await o.open(name, src);
        warm = performance.now() - t0;
        weightsWarm = (again as { weightsMs?: unknown }).weightsMs;
        await again.dispose();
      } catch (err) {
        if (o.strictEngines !== false) throw err;
        skipped[name] = (err as Error).message.split('\n')[0]!;
        log(`skip ${name}: ${skipped[name]}`);
        continue;
      }
      engines.push(e);
      const wm = (e as { weightsMs?: unknown }).weightsMs;
      load.set(name, {
        imp,
        cold,
        warm,
        sparrow: !!o.compressed && COMPRESSED_ENGINES.includes(name),
        ...(typeof wm === 'number' ? { weights: wm } : {}),
        ...(typeof weightsWarm === 'number' ? { weightsWarm } : {}),
      });
    }
    if (!engines.length)
      throw new SparrowError(
        'invalid_argument',
        `no engine could load ${o.model}: ${Object.entries(skipped)
          .map(([k, v]) => `${k}: ${v}`)
          .join('; ')}`,
      );

    if (decoder && gen) {
      const results = await benchDecoder(engines, decoder, gen, runs, load, log);
      return {
        model: o.model,
        threads: 1,
        runs,
        batch,
        warmup: 1,
        inputs: Object.fromEntries(inputs.map((i) => [i.name, { dtype: i.dtype, dims: i.dims ?? [] }])),
        sizes,
        decode,
        engines: results,
        generation: {
          prompt: gen.prompt,
          max_tokens: gen.maxTokens,
          cache: decoder.layout.attentionMask && decoder.layout.positionIds ? 'fixed' : 'concat',
          layers: decoder.layout.layers.length,
          heads: decoder.layout.heads,
          head_dim: decoder.layout.headDim,
        },
        ...(Object.keys(skipped).length ? { skipped } : {}),
        notes: {
          timing:
            `a decoder with a KV cache: per engine one untimed greedy generation of ${gen.maxTokens} tokens after the prompt ` +
            `[${gen.prompt.join(', ')}] (plans compile in it; its tokens are the engine's tokens), then ${runs} timed generations ` +
            'interleaved round-robin with the other engines (the starting engine rotates each round), stop tokens ignored, all in one ' +
            'process, one thread each (src/runtime/generate.ts, the fixed cache where the model has attention_mask and position_ids)',
          tokens_per_s: 'decode tokens per second: model runs after the prefill / their time, median over the timed generations',
          p50_ms: 'decoder models: one decode step (one token, the model run alone), p50 / p90 over every step of every timed generation',
          prefill_ms: 'the prefill run (the whole prompt, empty cache), median',
          same_tokens: `the engine's greedy tokens equal those of ${engines[0]!.name}`,
          load_ms:
            'session creation from the model bytes, first time in the process (one-time runtime set-up included, e.g. ' +
            "compiling ort-web's WASM), after the engine's code is imported (import_ms, not included); load_warm_ms: a second creation",
          peak_rss_mb:
            "process-wide resident set size after the engine's runs; every engine is loaded in the same process, so it is not per engine",
          decode:
            'decoded int8 weight bytes per second: the .sparrow int8 sections through the WASM decoder vs Node zlib inflate of ' +
            'deflate-9 of the same bytes, interleaved in the same run',
          source:
            `with --compressed, ${COMPRESSED_ENGINES.join(', ')} load(s) the .sparrow file, the other engines the .onnx model; ` +
            'without it sparrow-int8 quantizes the ONNX weights at load (dynamic mode)',
        },
      };
    }

    // warm-up, interleaved; the first outputs are compared with the first engine's
    log(`warm-up: ${warmup} run(s) per engine`);
    const first = new Map<string, Record<string, Tensor>>();
    for (let w = 0; w < warmup || first.size < engines.length; w++) {
      for (const e of engines) {
        const out = await e.run(feeds);
        if (!first.has(e.name)) first.set(e.name, out);
      }
    }

    // timed runs: round-robin, the starting engine rotating each round
    const samples = new Map<string, number[]>(engines.map((e) => [e.name, []]));
    const rss = new Map<string, number>(engines.map((e) => [e.name, 0]));
    for (let r = 0; r < runs; r++) {
      for (let k = 0; k < engines.length; k++) {
        const e = engines[(r + k) % engines.length]!;
        const t0 = performance.now();
        await e.run(feeds);
        samples.get(e.name)!.push(performance.now() - t0);
        rss.set(e.name, Math.max(rss.get(e.name)!, process.memoryUsage.rss()));
      }
      if ((r + 1) % 10 === 0 || r + 1 === runs) log(`run ${r + 1}/${runs}`);
    }

    const ref = first.get(engines[0]!.name)!;
    const results: Record<string, BenchEngineResult> = {};
    for (const e of engines) {
      const s = samples.get(e.name)!;
      const res: BenchEngineResult = {
        p50_ms: round(quantile(s, 0.5), 3),
        p90_ms: round(quantile(s, 0.9), 3),
        load_ms: round(load.get(e.name)!.cold, 3),
        load_warm_ms: round(load.get(e.name)!.warm, 3),
        import_ms: round(load.get(e.name)!.imp, 3),
        peak_rss_mb: mb(rss.get(e.name)!),
        source: load.get(e.name)!.sparrow ? 'sparrow' : 'onnx',
      };
      const { weights: wms, weightsWarm: wmw } = load.get(e.name)!;
      if (wms !== undefined) res.weights_ms = round(wms, 3);
      if (wmw !== undefined) res.weights_warm_ms = round(wmw, 3);
      const wm = e.memoryBytes?.();
      if (typeof wm === 'number') res.wasm_memory_bytes = wm;
      if (e !== engines[0]) {
        const d = maxAbsDiff(ref, first.get(e.name)!);
        res.max_abs_diff = d === null ? null : Number(d.toPrecision(3));
      }
      results[e.name] = res;
    }

    const report: BenchReport = {
      model: o.model,
      threads: 1,
      runs,
      batch,
      warmup,
      inputs: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { dtype: t.dtype, dims: t.dims }])),
      sizes,
      decode,
      engines: results,
      ...(Object.keys(skipped).length ? { skipped } : {}),
      notes: {
        timing:
          `per engine: ${warmup} untimed warm-up run(s), then ${runs} timed runs interleaved round-robin with the other engines ` +
          `(the starting engine rotates each round), all in one process, one thread each, on the same seeded random inputs`,
        load_ms:
          'session creation from the model bytes, first time in the process (one-time runtime set-up included, e.g. ' +
          "compiling ort-web's WASM), after the engine's code is imported (import_ms, not included); load_warm_ms: a second creation",
        peak_rss_mb:
          "process-wide resident set size after the engine's runs; every engine is loaded in the same process, so it is not per engine",
        decode:
          'decoded int8 weight bytes per second: the .sparrow int8 sections through the WASM decoder vs Node zlib inflate of ' +
          'deflate-9 of the same bytes, interleaved in the same run',
        max_abs_diff: `largest |difference| of float outputs from ${engines[0]!.name} on the first input`,
        source:
          `with --compressed, ${COMPRESSED_ENGINES.join(', ')} load(s) the .sparrow file (int8 weights, static activation ranges when ` +
          'present), the other engines the .onnx model; without it sparrow-int8 quantizes the ONNX weights at load (dynamic mode)',
      },
    };
    return report;
  } finally {
    for (const e of engines) await e.dispose().catch(() => {});
  }
}

type LoadFacts = { imp: number; cold: number; warm: number; sparrow: boolean; weights?: number; weightsWarm?: number };

/** The decoder measurement of runBench (timeDecoders), as bench engine results. */
async function benchDecoder(
  engines: InferenceEngine[],
  decoder: NonNullable<ReturnType<typeof decoderOf>>,
  gen: { maxTokens: number; prompt: number[] },
  runs: number,
  load: Map<string, LoadFacts>,
  log: (line: string) => void,
): Promise<Record<string, BenchEngineResult>> {
  log(`decoder with a KV cache: greedy generation of ${gen.maxTokens} tokens after [${gen.prompt.join(', ')}], ${runs} timed per engine`);
  const t = await timeDecoders(
    engines.map((e) => ({
      name: e.name,
      runner: {
        inputNames: e.inputNames,
        outputNames: e.outputNames,
        inputInfo: decoder.inputInfo,
        run: (f) => e.run(f),
        // Sparrow's engines: the zero-copy cache (src/runtime/generate.ts)
        ...(e.runIo && e.pinInputs ? { runIo: e.runIo.bind(e), pinInputs: e.pinInputs.bind(e) } : {}),
      },
    })),
    { prompt: gen.prompt, maxTokens: gen.maxTokens, runs, kv: { heads: decoder.layout.heads, headDim: decoder.layout.headDim }, log },
  );
  const first = t.get(engines[0]!.name)!.tokens;
  const results: Record<string, BenchEngineResult> = {};
  for (const e of engines) {
    const d = t.get(e.name)!;
    const l = load.get(e.name)!;
    const res: BenchEngineResult = {
      p50_ms: round(quantile(d.stepMs, 0.5), 4),
      p90_ms: round(quantile(d.stepMs, 0.9), 4),
      load_ms: round(l.cold, 3),
      load_warm_ms: round(l.warm, 3),
      import_ms: round(l.imp, 3),
      peak_rss_mb: mb(d.rss),
      source: l.sparrow ? 'sparrow' : 'onnx',
      tokens_per_s: round(d.tokensPerS, 1),
      prefill_ms: round(d.prefillMs, 3),
      total_tokens_per_s: round(d.totalTokensPerS, 1),
      tokens: d.tokens,
      same_tokens: d.tokens.length === first.length && d.tokens.every((x, i) => x === first[i]),
    };
    if (l.weights !== undefined) res.weights_ms = round(l.weights, 3);
    if (l.weightsWarm !== undefined) res.weights_warm_ms = round(l.weightsWarm, 3);
    const wm = e.memoryBytes?.();
    if (typeof wm === 'number') res.wasm_memory_bytes = wm;
    results[e.name] = res;
  }
  return results;
}

function human(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** decode + pack ms of the cold / warm load ("-" for engines without int8 weights). */
export function weightsCell(e: BenchEngineResult): string {
  if (e.weights_ms === undefined) return '-';
  return e.weights_warm_ms === undefined ? e.weights_ms.toFixed(2) : `${e.weights_ms.toFixed(2)} / ${e.weights_warm_ms.toFixed(2)}`;
}

function sizeLines(r: BenchReport): string[] {
  const s = r.sizes;
  const lines = [
    `sizes: onnx ${human(s.onnx)}, gzip-9 ${human(s.onnx_gzip)}, brotli-11 ${human(s.onnx_brotli)}, sparrow ${human(s.sparrow)}` +
      ` (${(s.onnx / s.sparrow).toFixed(1)}x smaller than onnx)`,
  ];
  if (s.sparrow_note) lines.push(`  ${s.sparrow_note}`);
  const d = r.decode;
  lines.push(
    d.sparrow_MBps === null
      ? `decode: n/a (${d.note ?? 'no int8 weights'})`
      : `decode (${human(d.int8_bytes)} int8 weights): sparrow WASM ${d.sparrow_MBps} MB/s, zlib inflate ${d.zlib_inflate_MBps} MB/s ` +
          `(${(d.sparrow_MBps / d.zlib_inflate_MBps!).toFixed(2)}x)`,
  );
  for (const [k, v] of Object.entries(r.skipped ?? {})) lines.push(`skipped ${k}: ${v}`);
  return lines;
}

/** The text table of a decoder bench (tokens/s per engine). */
function formatDecoderBench(r: BenchReport): string {
  const g = r.generation!;
  const head = ['engine', 'decode tok/s', 'p50 ms/token', 'p90 ms/token', 'prefill ms', 'total tok/s', 'load ms', 'same tokens'];
  const rows = Object.entries(r.engines).map(([n, e]) => [
    e.source === 'sparrow' ? `${n} (.sparrow)` : n,
    (e.tokens_per_s ?? 0).toFixed(1),
    e.p50_ms.toFixed(4),
    e.p90_ms.toFixed(4),
    (e.prefill_ms ?? 0).toFixed(3),
    (e.total_tokens_per_s ?? 0).toFixed(1),
    e.load_ms.toFixed(1),
    e.same_tokens ? 'yes' : 'NO',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]) => x.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [
    `${r.model}: decoder (${g.layers} layers, ${g.heads} kv heads x ${g.head_dim}), greedy ${g.max_tokens} tokens after ` +
      `[${g.prompt.join(', ')}], ${g.cache} cache; ${r.runs} timed generations per engine after 1 warm-up, 1 thread, interleaved`,
    '',
    line(head),
    ...rows.map(line),
    '',
    ...sizeLines(r),
    'peak RSS is process-wide (all engines share the process).',
  ].join('\n');
}

/** A plain-text table of a bench report (the CLI's output without --json). */
export function formatBench(r: BenchReport): string {
  const names = Object.keys(r.engines);
  if (r.generation) return formatDecoderBench(r);
  const head = ['engine', 'p50 ms', 'p90 ms', 'load ms', 'load (warm) ms', 'decode+pack ms', 'peak RSS MB', 'WASM mem', 'max |Δ|'];
  const rows = names.map((n) => {
    const e = r.engines[n]!;
    return [
      e.source === 'sparrow' ? `${n} (.sparrow)` : n,
      e.p50_ms.toFixed(3),
      e.p90_ms.toFixed(3),
      e.load_ms.toFixed(1),
      e.load_warm_ms.toFixed(1),
      weightsCell(e),
      e.peak_rss_mb.toFixed(1),
      e.wasm_memory_bytes === undefined ? '-' : human(e.wasm_memory_bytes),
      e.max_abs_diff === undefined ? '(ref)' : e.max_abs_diff === null ? 'n/a' : e.max_abs_diff.toExponential(1),
    ];
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]) => x.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  const ins = Object.entries(r.inputs)
    .map(([k, v]) => `${k} ${v.dtype}[${v.dims.join(',')}]`)
    .join(', ');
  const s = r.sizes;
  const lines = [
    `${r.model}: ${r.runs} runs per engine after ${r.warmup} warm-up, 1 thread, interleaved; inputs ${ins}`,
    '',
    line(head),
    ...rows.map(line),
    '',
    `sizes: onnx ${human(s.onnx)}, gzip-9 ${human(s.onnx_gzip)}, brotli-11 ${human(s.onnx_brotli)}, sparrow ${human(s.sparrow)}` +
      ` (${(s.onnx / s.sparrow).toFixed(1)}x smaller than onnx)`,
  ];
  if (s.sparrow_note) lines.push(`  ${s.sparrow_note}`);
  const d = r.decode;
  lines.push(
    d.sparrow_MBps === null
      ? `decode: n/a (${d.note ?? 'no int8 weights'})`
      : `decode (${human(d.int8_bytes)} int8 weights): sparrow WASM ${d.sparrow_MBps} MB/s, zlib inflate ${d.zlib_inflate_MBps} MB/s ` +
          `(${(d.sparrow_MBps / d.zlib_inflate_MBps!).toFixed(2)}x)`,
  );
  for (const [k, v] of Object.entries(r.skipped ?? {})) lines.push(`skipped ${k}: ${v}`);
  lines.push('peak RSS is process-wide (all engines share the process).');
  return lines.join('\n');
}

/** The size and decode figures of a report (gzip-9 / brotli-11 of the .onnx, the .sparrow, WASM decode vs inflate). */
async function sizeFigures(o: BenchOptions, log: (line: string) => void): Promise<Pick<BenchReport, 'sizes' | 'decode'>> {
  log('sizes: gzip-9, brotli-11 of the .onnx');
  const gz = zlib.gzipSync(o.bytes, { level: 9 }).length;
  const br = zlib.brotliCompressSync(o.bytes, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: o.bytes.length },
  }).length;
  let container: Uint8Array, note: string | undefined;
  if (o.compressed) {
    container = o.compressed.bytes;
  } else {
    log(`no --compressed file: packing the weights in memory (${IN_MEMORY_SPARSITY * 100}% magnitude sparsity, int8 per channel)`);
    container = packOnnxWeights(o.bytes, IN_MEMORY_SPARSITY);
    note =
      `no --compressed file: the model's Conv/Gemm/MatMul weights packed in memory (${IN_MEMORY_SPARSITY * 100}% per-layer ` +
      'magnitude sparsity, int8 per output channel, weights only, no graph)';
  }
  log('decode: WASM int8 decoder vs zlib inflate');
  const decode = await decodeFigures(container, o.decodeRounds ?? 15);
  return {
    sizes: { onnx: o.bytes.length, onnx_gzip: gz, onnx_brotli: br, sparrow: container.length, ...(note ? { sparrow_note: note } : {}) },
    decode,
  };
}

/** latencyOnly: the figures not measured (zeros and nulls, with a note). */
function skippedFigures(onnx: number): Pick<BenchReport, 'sizes' | 'decode'> {
  const note = 'not measured (latency only)';
  return {
    sizes: { onnx, onnx_gzip: 0, onnx_brotli: 0, sparrow: 0, sparrow_note: note },
    decode: { sparrow_MBps: null, zlib_inflate_MBps: null, int8_bytes: 0, note },
  };
}
