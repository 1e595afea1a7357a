// Tokens per second of text generation (src/runtime/generate.ts) on several engines in one
// process: each engine generates the same greedy continuation of the same prompt, stop tokens
// ignored so every run has the same length, runs interleaved round-robin after one untimed
// warm-up run per engine (the WASM engines compile their plans in it). One thread each.
import { SparrowError } from '../errors.js';
import { generate, type DecoderRunner, type GenerateStats } from '../runtime/generate.js';

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
