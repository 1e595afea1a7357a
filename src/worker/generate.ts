// POST /v1/models/:id[@:version]/generate: text generation streamed as Server-Sent Events.
//
//   body  { "prompt": "Once upon a time" | [token ids], "max_tokens": 256, "temperature": 1,
//           "top_k": 0, "top_p": 0.9, "seed": <random> }       (only prompt is required)
//   200   text/event-stream, one event per generated token, then one final event:
//           event: token   data: {"id":403,"text":" upon"}
//           event: done    data: {"model":{"id","version"},"engine","prompt_tokens","tokens","stop_reason",
//                                 "seed","ms","tokens_per_s","prefill_ms","decode_tokens_per_s"}
//         (an error after the stream started is `event: error`, data {"error":{"code","message"}})
//
// Everything that can be refused is refused before the stream starts, as JSON through the one
// error path (errors.ts): the body (415, 413, 400 invalid_json / invalid_request / empty_prompt /
// max_tokens_exceeded), the model (404, 422 not_a_decoder / no_tokenizer), and the prompt
// against the model (its context, its vocabulary), because the first step (the prompt's
// prefill and the first token) runs before the response is returned. The stream then pulls one
// token per read: a slow client slows the generation, and a client that goes away cancels the
// stream (or aborts the request's signal), which aborts the generation between two steps.
import { generate, detectDecoder, type DecoderRunner, type GenerateStats } from '../runtime/generate.js';
import { SparrowError, isSparrowError } from '../errors.js';
import { HttpError, errorBody } from './errors.js';
import type { ModelCache } from './cache.js';
import { parseRef } from './store.js';
import {
  TEXT_DEFAULTS,
  intVar,
  loadText,
  onlyFields,
  readJsonObject,
  requireTokenizer,
  type LoadedText,
  type TextEnv,
} from './text_model.js';

const EXAMPLE = '{"prompt":"Once upon a time","max_tokens":100}';
const FIELDS = ['prompt', 'max_tokens', 'temperature', 'top_k', 'top_p', 'seed'];
const DEFAULT_MAX_TOKENS = 256;

export interface GenerateRequest {
  prompt: string | number[];
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
}

/** Generations of this isolate (diagnostics; the tests read it to see a cancelled stream stop). */
export const generateStats = {
  started: 0,
  active: 0,
  finished: 0,
  /** steps (tokens) produced in all */
  tokens: 0,
  /** the last finished generation */
  last: null as null | { stopReason: GenerateStats['stopReason']; tokens: number },
};

function num(body: Record<string, unknown>, k: string, ok: (x: number) => boolean, want: string): number | undefined {
  const v = body[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
    throw new HttpError('invalid_request', `${k} must be ${want}, got ${JSON.stringify(v)}`);
  return v;
}

/** The request's fields, checked (limits from wrangler.toml's vars). */
export function parseGenerateBody(body: Record<string, unknown>, env: TextEnv): GenerateRequest {
  onlyFields(body, FIELDS);
  const p = body['prompt'];
  let prompt: string | number[];
  if (typeof p === 'string') {
    if (p.trim() === '') throw new HttpError('empty_prompt', 'the prompt is empty');
    prompt = p;
  } else if (Array.isArray(p)) {
    if (p.length === 0) throw new HttpError('empty_prompt', 'the prompt has no token ids');
    if (!p.every((t) => Number.isSafeInteger(t) && (t as number) >= 0))
      throw new HttpError('invalid_request', 'prompt token ids must be integers >= 0');
    prompt = p as number[];
  } else if (p === undefined || p === null) {
    throw new HttpError('empty_prompt', `no prompt: send ${EXAMPLE}`);
  } else {
    throw new HttpError('invalid_request', `prompt must be a string (or an array of token ids), got ${JSON.stringify(p)?.slice(0, 40)}`);
  }
  const limit = intVar(env.MAX_GENERATE_TOKENS, TEXT_DEFAULTS.maxTokens);
  const mt = body['max_tokens'];
  let maxTokens = Math.min(DEFAULT_MAX_TOKENS, limit);
  if (mt !== undefined && mt !== null) {
    if (typeof mt !== 'number' || !Number.isSafeInteger(mt) || mt < 1)
      throw new HttpError('invalid_request', `max_tokens must be an integer >= 1, got ${JSON.stringify(mt)?.slice(0, 40)}`);
    if (mt > limit) throw new HttpError('max_tokens_exceeded', `max_tokens ${mt} is over this deployment's limit of ${limit}`);
    maxTokens = mt;
  }
  const seed = num(body, 'seed', (x) => Number.isSafeInteger(x) && x >= 0 && x < 2 ** 32, 'an integer in [0, 2^32)');
  return {
    prompt,
    maxTokens,
    temperature: num(body, 'temperature', (x) => x >= 0, 'a number >= 0 (0 = greedy)') ?? 1,
    topK: num(body, 'top_k', (x) => Number.isSafeInteger(x) && x >= 0, 'an integer >= 0 (0 = all)') ?? 0,
    topP: num(body, 'top_p', (x) => x > 0 && x <= 1, 'in (0, 1]') ?? 0.9,
    seed: seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!,
  };
}

const enc = new TextEncoder();
const sse = (event: string, data: unknown): Uint8Array => enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export async function handleGenerate(req: Request, env: TextEnv, ref: string, cache: ModelCache): Promise<Response> {
  const { id, version } = parseRef(ref);
  const body = parseGenerateBody(await readJsonObject(req, intVar(env.MAX_INFER_BYTES, TEXT_DEFAULTS.maxBody), EXAMPLE), env);
  const loaded = await loadText(env, cache, id, version);
  try {
    return await stream(req, loaded, body);
  } catch (e) {
    loaded.release(); // refused before the stream started
    throw e;
  }
}

/** Checks the model and the prompt, runs the first step, and returns the stream of the rest (which releases the model when it ends). */
async function stream(req: Request, loaded: LoadedText, body: GenerateRequest): Promise<Response> {
  const { id, session } = loaded;
  try {
    detectDecoder(session);
  } catch (e) {
    if (isSparrowError(e)) throw new HttpError('not_a_decoder', `model '${id}' cannot generate: ${e.message}`);
    throw e;
  }
  const text = requireTokenizer(loaded);
  const ids = typeof body.prompt === 'string' ? text.tokenizer.encode(body.prompt) : body.prompt;
  if (ids.length === 0) throw new HttpError('empty_prompt', 'the prompt encodes to no tokens');
  const vocab = session.outputInfo['logits']?.dims?.at(-1);
  if (vocab !== undefined && vocab > 0 && ids.some((t) => t >= vocab))
    throw new HttpError('invalid_request', `prompt token ids must be < the model's vocabulary size ${vocab}`);

  const runner: DecoderRunner = {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    inputInfo: session.inputInfo,
    // one run at a time on the session's arena; generations interleave step by step
    run: (feeds) => loaded.run(() => session.run(feeds)),
    // the zero-copy cache (src/runtime/generate.ts): the past stays in the engine's arena between
    // steps unless another generation's step ran the same plan in between
    pinInputs: (names) => session.pinInputs(names),
    runIo: (feeds, o) => loaded.run(() => session.runIo(feeds, o)),
  };
  const abort = new AbortController();
  req.signal?.addEventListener('abort', () => abort.abort(), { once: true });
  const t0 = performance.now();
  const it = generate(runner, ids, {
    maxTokens: body.maxTokens,
    temperature: body.temperature,
    topK: body.topK,
    topP: body.topP,
    seed: body.seed,
    stop: text.stop,
    ...(text.contextLength ? { maxLength: text.contextLength } : {}),
    signal: abort.signal,
  });
  // the prefill and the first token: its errors are a JSON error response, not a broken stream
  let first: IteratorResult<number, GenerateStats> | undefined;
  try {
    first = await it.next();
  } catch (e) {
    if (e instanceof SparrowError && e.code === 'invalid_argument') throw new HttpError('invalid_request', e.message);
    throw e;
  }
  const decode = text.tokenizer.streamDecoder(ids);
  generateStats.started++;
  generateStats.active++;
  let count = 0; // tokens sent
  let cancelled = false;
  let ended = false;
  const end = (stopReason: GenerateStats['stopReason']): void => {
    if (ended) return;
    ended = true;
    generateStats.active--;
    generateStats.finished++;
    generateStats.last = { stopReason, tokens: count };
    loaded.release();
  };
  const done = (s: GenerateStats): unknown => {
    const ms = performance.now() - t0;
    return {
      model: { id, version: loaded.entry.version },
      engine: loaded.engine,
      prompt_tokens: ids.length,
      tokens: s.tokens.length,
      stop_reason: s.stopReason,
      seed: body.seed,
      ms: r3(ms),
      tokens_per_s: ms > 0 ? r1((1000 * s.tokens.length) / ms) : null,
      prefill_ms: r3(s.prefillMs),
      decode_tokens_per_s: s.decodeMs > 0 ? r1((1000 * s.decodeSteps) / s.decodeMs) : null,
    };
  };
  const events = new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        let chunk: Uint8Array;
        let last = false;
        try {
          const r = first ?? (await it.next());
          first = undefined;
          if (r.done) {
            end(r.value.stopReason);
            chunk = sse('done', done(r.value));
            last = true;
          } else {
            count++;
            generateStats.tokens++;
            chunk = sse('token', { id: r.value, text: decode(r.value) });
          }
        } catch (e) {
          end('aborted');
          const code = isSparrowError(e) || e instanceof HttpError ? e.code : 'internal';
          if (code === 'internal') console.error('sparrow worker: generation failed', e);
          chunk = enc.encode(`event: error\ndata: ${errorBody(code, e instanceof Error ? e.message : String(e))}\n\n`);
          last = true;
        }
        if (cancelled) return; // the stream was cancelled while this step ran
        ctrl.enqueue(chunk);
        if (last) ctrl.close();
      },
      async cancel() {
        // the client went away: stop between two steps, and close the generator
        cancelled = true;
        abort.abort();
        end('aborted');
        await it.return(undefined as never).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(events, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-sparrow-engine': loaded.engine,
      'x-sparrow-version': String(loaded.entry.version),
    },
  });
}
