// Tokens per second of text generation (src/runtime/generate.ts) on several engines in one
// process: each engine generates the same greedy continuation of the same prompt, stop tokens
// ignored so every run has the same length, runs interleaved round-robin after one untimed
// warm-up run per engine (the WASM engines compile their plans in it). One thread each.
import { SparrowError } from '../errors.js';
import { generate, type DecoderRunner, type GenerateStats } from '../runtime/generate.js';
import type { IoRunOptions } from '../runtime/plan_runner.js';
import type { Tensor } from '../ops/types.js';

export interface GenerateBenchEngine {
  /** decode tokens per second (model runs after the prefill / their time), median over runs */
  decode_tokens_per_s: number;
  /** the prefill run (the whole prompt), median ms */
  prefill_ms: number;
  /** generated tokens per second of wall time, prefill and sampling included, median */
  total_tokens_per_s: number;
  /** ms of the untimed warm-up run (plan compilation in the WASM engines) */
  warmup_ms: number;
  /** the engine's greedy tokens equal the first engine's */
  same_tokens: boolean;
}

export interface GenerateBenchReport {
  model: string;
  threads: 1;
  prompt_tokens: number;
  max_tokens: number;
  runs: number;
  cache: string;
  engines: Record<string, GenerateBenchEngine>;
}

export interface GenerateBenchOptions {
  model: string;
  prompt: readonly number[];
  maxTokens: number;
  runs: number;
  engines: string[];
  /** the KV cache mode (default: generate's) */
  cache?: 'fixed' | 'concat';
  open: (engine: string) => Promise<{ runner: DecoderRunner; dispose: () => Promise<void> }>;
  log?: (line: string) => void;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function once(
  runner: DecoderRunner,
  prompt: readonly number[],
  maxTokens: number,
  cache: 'fixed' | 'concat' | undefined,
): Promise<GenerateStats & { wallMs: number }> {
  const t0 = performance.now();
  const it = generate(runner, prompt, { temperature: 0, maxTokens, ...(cache ? { cache } : {}) });
  let r = await it.next();
  while (!r.done) r = await it.next();
  return { ...r.value, wallMs: performance.now() - t0 };
}

export async function runGenerateBench(o: GenerateBenchOptions): Promise<GenerateBenchReport> {
  if (o.engines.length === 0) throw new SparrowError('invalid_argument', 'no engines');
  const opened: Array<{ name: string; runner: DecoderRunner; dispose: () => Promise<void> }> = [];
  try {
    for (const name of o.engines) opened.push({ name, ...(await o.open(name)) });
    const per = new Map<string, { warm: number; tokens: number[]; decode: number[]; prefill: number[]; total: number[] }>();
    for (const e of opened) {
      const w = await once(e.runner, o.prompt, o.maxTokens, o.cache);
      per.set(e.name, { warm: w.wallMs, tokens: w.tokens, decode: [], prefill: [], total: [] });
      o.log?.(`${e.name}: warm-up ${w.wallMs.toFixed(0)} ms`);
    }
    for (let r = 0; r < o.runs; r++) {
      for (const e of opened) {
        const s = await once(e.runner, o.prompt, o.maxTokens, o.cache);
        const p = per.get(e.name)!;
        p.decode.push(s.decodeMs > 0 ? (1000 * s.decodeSteps) / s.decodeMs : 0);
        p.prefill.push(s.prefillMs);
        p.total.push((1000 * s.tokens.length) / s.wallMs);
      }
    }
    const first = per.get(opened[0]!.name)!.tokens;
    const engines: Record<string, GenerateBenchEngine> = {};
    for (const e of opened) {
      const p = per.get(e.name)!;
      engines[e.name] = {
        decode_tokens_per_s: Math.round(median(p.decode) * 10) / 10,
        prefill_ms: Math.round(median(p.prefill) * 1000) / 1000,
        total_tokens_per_s: Math.round(median(p.total) * 10) / 10,
        warmup_ms: Math.round(p.warm),
        same_tokens: p.tokens.length === first.length && p.tokens.every((t, i) => t === first[i]),
      };
    }
    return {
      model: o.model,
      threads: 1,
      prompt_tokens: o.prompt.length,
      max_tokens: o.maxTokens,
      runs: o.runs,
      cache: o.cache ?? 'default',
      engines,
    };
  } finally {
    for (const e of opened) await e.dispose();
  }
}

export function formatGenerateBench(r: GenerateBenchReport): string {
  const head = ['engine', 'decode tok/s', 'prefill ms', 'total tok/s', 'warm-up ms', 'same tokens'];
  const rows = Object.entries(r.engines).map(([n, e]) => [
    n,
    e.decode_tokens_per_s.toFixed(1),
    e.prefill_ms.toFixed(2),
    e.total_tokens_per_s.toFixed(1),
    String(e.warmup_ms),
    e.same_tokens ? 'yes' : 'NO',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]): string => x.map((c, i) => (i ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ');
  return [
    `${r.model}: greedy, ${r.prompt_tokens} prompt token(s), ${r.max_tokens} generated, ${r.runs} runs per engine interleaved, ` +
      `1 thread, ${r.cache} cache`,
    line(head),
    ...rows.map(line),
  ].join('\n');
}

// ---- `sparrow bench <decoder>`: the same measurement inside the bench's engine set --------------

/** A decoder bench engine: what bench.ts loaded, with the model's input facts (heads, head size). */
export interface DecoderBenchEngine {
  name: string;
  runner: DecoderRunner;
}

export interface DecoderTimings {
  /** per engine: decode tokens/s (median over the timed generations) */
  tokensPerS: number;
  /** per decode step ms, p50 / p90 over every step of every timed generation */
  stepMs: number[];
  prefillMs: number;
  totalTokensPerS: number;
  tokens: number[];
  /** largest process RSS right after its timed generations */
  rss: number;
}

/** DecoderRunner whose run() durations are recorded (the first of a generation is the prefill). */
function timed(r: DecoderRunner): { runner: DecoderRunner; times: number[] } {
  const times: number[] = [];
  const runner: DecoderRunner = {
    inputNames: r.inputNames,
    outputNames: r.outputNames,
    ...(r.inputInfo ? { inputInfo: r.inputInfo } : {}),
    run: async (f) => {
      const t0 = performance.now();
      const out = await r.run(f);
      times.push(performance.now() - t0);
      return out;
    },
    ...(r.runIo && r.pinInputs
      ? {
          pinInputs: r.pinInputs.bind(r),
          runIo: async (f: Record<string, Tensor>, o: IoRunOptions) => {
            const t0 = performance.now();
            const out = await r.runIo!(f, o);
            times.push(performance.now() - t0);
            return out;
          },
        }
      : {}),
  };
  return { runner, times };
}

/**
 * Greedy generation of `maxTokens` after `prompt` on each engine: one untimed warm-up generation
 * per engine (plans compile in it; its tokens are the engine's tokens), then `runs` timed
 * generations interleaved round-robin (the starting engine rotating each round). Stop tokens are
 * not given, so every generation has the same length.
 */
export async function timeDecoders(
  engines: DecoderBenchEngine[],
  o: { prompt: readonly number[]; maxTokens: number; runs: number; kv: { heads: number; headDim: number }; log?: (line: string) => void },
): Promise<Map<string, DecoderTimings>> {
  const per = new Map<string, { tokens: number[]; tps: number[]; steps: number[]; prefill: number[]; total: number[]; rss: number }>();
  const wrapped = engines.map((e) => ({ name: e.name, ...timed(e.runner) }));
  const gen = async (r: DecoderRunner): Promise<GenerateStats & { wallMs: number }> => {
    const t0 = performance.now();
    const it = generate(r, o.prompt, { temperature: 0, maxTokens: o.maxTokens, kv: o.kv });
    let x = await it.next();
    while (!x.done) x = await it.next();
    return { ...x.value, wallMs: performance.now() - t0 };
  };
  for (const e of wrapped) {
    const w = await gen(e.runner);
    per.set(e.name, { tokens: w.tokens, tps: [], steps: [], prefill: [], total: [], rss: 0 });
    o.log?.(`${e.name}: warm-up generation ${w.wallMs.toFixed(0)} ms (${w.tokens.length} tokens)`);
  }
  for (let r = 0; r < o.runs; r++) {
    for (let k = 0; k < wrapped.length; k++) {
      const e = wrapped[(r + k) % wrapped.length]!;
      e.times.length = 0;
      const s = await gen(e.runner);
      const p = per.get(e.name)!;
      p.tps.push(s.decodeMs > 0 ? (1000 * s.decodeSteps) / s.decodeMs : 0);
      p.prefill.push(s.prefillMs);
      p.total.push((1000 * s.tokens.length) / s.wallMs);
      p.steps.push(...e.times.slice(1));
      p.rss = Math.max(p.rss, process.memoryUsage.rss());
    }
    if ((r + 1) % 5 === 0 || r + 1 === o.runs) o.log?.(`generation ${r + 1}/${o.runs}`);
  }
  const res = new Map<string, DecoderTimings>();
  for (const [name, p] of per)
    res.set(name, {
      tokensPerS: median(p.tps),
      stepMs: p.steps,
      prefillMs: median(p.prefill),
      totalTokensPerS: median(p.total),
      tokens: p.tokens,
      rss: p.rss,
    });
  return res;
}
