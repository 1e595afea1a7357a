// The demo's text panel: a prompt box that writes a story with a language model (stories260K)
// twice, side by side: on-device (the .sparrow downloaded once, its stored tokenizer, generate()
// on sparrow-f32 in this tab) and at the edge (POST /v1/models/:id/generate, Server-Sent Events).
// Same file, same engine, same sampler and seed: the two columns write the same story. Each
// column shows its tokens/s, measured here from the click to the last token (and without the
// first token's wait). Plain TS + DOM; main.ts calls showText() for models with past_key_values.
import { createModel, fetchSparrow, generate, textModel, type BrowserModel, type TextModel } from '../src/browser/index.js';

export interface TextRun {
  text: string;
  tokens: number[];
  /** ms from the start to the first token, and to the last */
  firstMs: number;
  ms: number;
  /** tokens / s over the whole run, and after the first token */
  tokensPerS: number;
  decodeTokensPerS: number | null;
  stopReason: string;
  /** the Worker's own figures (edge only: its `done` event) */
  server?: Record<string, unknown>;
  /** generate()'s own figures (on-device only) */
  stats?: { prefillMs: number; decodeMs: number; decodeSteps: number; capacities: number[] };
}
export interface TextOptions {
  /** a string, or token ids (e.g. [1]: BOS alone) */
  prompt: string | number[];
  maxTokens: number;
  temperature: number;
  seed: number;
  topP?: number;
}

interface LoadedText {
  id: string;
  model: BrowserModel;
  text: TextModel;
  summary: string;
}

const $ = <T extends HTMLElement>(sel: string): T => document.querySelector(sel) as T;
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
const loaded = new Map<string, Promise<LoadedText>>();
let current = '';

function load(id: string): Promise<LoadedText> {
  let p = loaded.get(id);
  if (!p) {
    p = (async () => {
      const dl = await fetchSparrow(`/v1/models/${encodeURIComponent(id)}`, {
        onProgress: (p) => status(`downloading ${id}: ${kib(p.loaded)}${p.total ? ` of ${kib(p.total)}` : ''}`),
      });
      const model = await createModel(dl, { engine: 'sparrow-f32', wasmUrl: 'sparrow.wasm' });
      const text = textModel(dl);
      if (!text) throw new Error(`${id} stores no tokenizer (compress it with sparrow compress --tokenizer)`);
      const summary =
        `${id}: ${kib(dl.bytes.length)} .sparrow downloaded once in ${dl.downloadMs.toFixed(0)} ms (${text.meta.tokenizer.kind} tokenizer inside), ` +
        `session ${model.timings.sessionMs.toFixed(0)} ms, ${model.engine} in this tab`;
      return { id, model, text, summary };
    })();
    loaded.set(id, p);
    p.catch(() => loaded.delete(id));
  }
  return p;
}

function status(msg: string, error = false): void {
  const s = $('#text-status');
  s.textContent = msg;
  s.classList.toggle('error', error);
}

/** Shows the text panel for model `id` (downloads it for the on-device column). */
export async function showText(id: string): Promise<void> {
  $('#textbench').hidden = false;
  if (current !== id) {
    current = id;
    $('#text-title').textContent = `Write a story with ${id}`;
    for (const w of ['device', 'edge']) {
      $(`#out-${w}`).textContent = '';
      $(`#stats-${w}`).textContent = '';
    }
  }
  const l = await load(id);
  status(l.summary);
}

function readOptions(): TextOptions {
  const num = (sel: string, dflt: number): number => {
    const v = Number($<HTMLInputElement>(sel).value);
    return Number.isFinite(v) ? v : dflt;
  };
  return {
    prompt: $<HTMLTextAreaElement>('#prompt').value,
    maxTokens: Math.max(1, Math.min(1024, Math.round(num('#max-tokens', 200)))),
    temperature: Math.max(0, num('#temperature', 0.8)),
    seed: Math.max(0, Math.round(num('#seed', 1))),
    // the Worker's default (and the CLI's); generate() alone samples from all tokens
    topP: 0.9,
  };
}

function finish(t0: number, tFirst: number, tokens: number[], text: string, stopReason: string, server?: Record<string, unknown>): TextRun {
  const t1 = performance.now();
  const ms = t1 - t0;
  return {
    text,
    tokens,
    firstMs: tFirst - t0,
    ms,
    tokensPerS: ms > 0 ? (1000 * tokens.length) / ms : 0,
    decodeTokensPerS: tokens.length > 1 && t1 > tFirst ? (1000 * (tokens.length - 1)) / (t1 - tFirst) : null,
    stopReason,
    ...(server ? { server } : {}),
  };
}

function show(where: 'device' | 'edge', r: TextRun | { error: string }, prompt: string): void {
  const out = $(`#out-${where}`);
  const stats = $(`#stats-${where}`);
  if ('error' in r) {
    stats.textContent = `unavailable (${r.error})`;
    stats.classList.add('error');
    return;
  }
  stats.classList.remove('error');
  out.textContent = prompt + r.text;
  stats.textContent =
    `${r.tokens.length} tokens · ${r.tokensPerS.toFixed(0)} tokens/s` +
    (r.decodeTokensPerS !== null ? ` (${r.decodeTokensPerS.toFixed(0)} after the first)` : '') +
    ` · first token ${r.firstMs.toFixed(0)} ms · ${r.stopReason}` +
    (r.server && typeof r.server['tokens_per_s'] === 'number' ? ` · the Worker's clock: ${String(r.server['tokens_per_s'])} tokens/s` : '');
}

/** generate() in this tab, streaming into the on-device column. */
export async function onDevice(id: string, o: TextOptions, onText?: (text: string) => void): Promise<TextRun> {
  const l = await load(id);
  const ids = typeof o.prompt === 'string' ? l.text.tokenizer.encode(o.prompt) : o.prompt;
  const decode = l.text.tokenizer.streamDecoder(ids);
  const tokens: number[] = [];
  let text = '';
  const t0 = performance.now();
  let tFirst = t0;
  const it = generate(l.model.session, ids, {
    maxTokens: o.maxTokens,
    temperature: o.temperature,
    seed: o.seed,
    ...(o.topP !== undefined ? { topP: o.topP } : {}),
    stop: l.text.stop,
    ...(l.text.contextLength ? { maxLength: l.text.contextLength } : {}),
  });
  let r = await it.next();
  while (!r.done) {
    if (tokens.length === 0) tFirst = performance.now();
    tokens.push(r.value);
    text += decode(r.value);
    onText?.(text);
    r = await it.next();
  }
  const run = finish(t0, tFirst, tokens, text, r.value.stopReason);
  run.stats = {
    prefillMs: r.value.prefillMs,
    decodeMs: r.value.decodeMs,
    decodeSteps: r.value.decodeSteps,
    capacities: r.value.capacities,
  };
  return run;
}

/** POST /v1/models/:id/generate, its Server-Sent Events read as they arrive. */
export async function atEdge(id: string, o: TextOptions, onText?: (text: string) => void): Promise<TextRun> {
  const t0 = performance.now();
  const res = await fetch(`/v1/models/${encodeURIComponent(id)}/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      prompt: o.prompt,
      max_tokens: o.maxTokens,
      temperature: o.temperature,
      seed: o.seed,
      ...(o.topP !== undefined ? { top_p: o.topP } : {}),
    }),
  });
  if (!res.ok || !res.body) {
    const j = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
    throw new Error(j?.error ? `${j.error.code}: ${j.error.message}` : `HTTP ${res.status}`);
  }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  const tokens: number[] = [];
  let text = '';
  let buf = '';
  let tFirst = t0;
  let done: Record<string, unknown> | undefined;
  for (;;) {
    const { done: end, value } = await reader.read();
    if (end) break;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null') as Record<string, unknown>;
      if (event === 'token') {
        if (tokens.length === 0) tFirst = performance.now();
        tokens.push(data['id'] as number);
        text += data['text'] as string;
        onText?.(text);
      } else if (event === 'done') done = data;
      else if (event === 'error') {
        const e = data['error'] as { code: string; message: string };
        throw new Error(`${e.code}: ${e.message}`);
      }
    }
  }
  if (!done) throw new Error('the stream ended without its done event');
  return finish(t0, tFirst, tokens, text, String(done['stop_reason']), done);
}

/** Both columns at once (the Write button). */
export async function writeBoth(
  id: string,
  o: TextOptions,
): Promise<{ device: TextRun | { error: string }; edge: TextRun | { error: string } }> {
  const prompt = typeof o.prompt === 'string' ? o.prompt : '';
  const live = (w: 'device' | 'edge') => (t: string) => {
    $(`#out-${w}`).textContent = prompt + t;
  };
  const wrap = (p: Promise<TextRun>): Promise<TextRun | { error: string }> => p.catch((e: unknown) => ({ error: (e as Error).message }));
  const [device, edge] = await Promise.all([wrap(onDevice(id, o, live('device'))), wrap(atEdge(id, o, live('edge')))]);
  show('device', device, prompt);
  show('edge', edge, prompt);
  const same = !('error' in device) && !('error' in edge) && device.text === edge.text;
  $('#text-agree').textContent = same
    ? 'Same model file, engine, sampler and seed: both columns wrote the same story.'
    : 'error' in device || 'error' in edge
      ? ''
      : 'The two stories differ.';
  return { device, edge };
}

/** Wires the prompt form (once). */
export function initText(): void {
  $<HTMLInputElement>('#seed').value = String(Math.floor(Math.random() * 1000));
  $('#text-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const b = $<HTMLButtonElement>('#write');
    b.disabled = true;
    void writeBoth(current, readOptions())
      .catch((err: unknown) => status((err as Error).message, true))
      .finally(() => {
        b.disabled = false;
      });
  });
}
