// What /generate and /embed share (src/worker/generate.ts, embed.ts): the JSON request body, the
// limits and engine of wrangler.toml's vars, and a stored model loaded with its tokenizer.
//
// A stored model finds its tokenizer in itself: `sparrow compress --tokenizer <file>` stores the
// tokenizer file (llama2.c tokenizer.bin or Hugging Face tokenizer.json) and the end ids and
// context length in the .sparrow (src/format/text.ts), so one PUT carries the model and its
// tokenizer, versioned and checksummed together. A model without one gets 422 no_tokenizer.
import { readContainer } from '../format/container.js';
import { textModelOf, type TextModel } from '../runtime/text_model.js';
import type { Session, EngineName } from '../runtime/session.js';
import type { Env } from './env.js';
import { HttpError } from './errors.js';
import type { ModelCache } from './cache.js';
import { modelKey, storedLoader } from './admit.js';
import { isJsonType, readBody } from './infer.js';
import { guardBucket, readBlob, resolve, type VersionEntry } from './store.js';

/** The vars of wrangler.toml read here (beside Env's). */
export type TextEnv = Env & {
  /** engine of /generate and /embed (default sparrow-f32) */
  TEXT_ENGINE?: string;
  /** the largest max_tokens a /generate request may ask for (default 1024) */
  MAX_GENERATE_TOKENS?: string;
};

const MiB = 1024 * 1024;
export const TEXT_DEFAULTS = { maxTokens: 1024, maxBody: 4 * MiB, maxModelBytes: 16 * MiB, cacheBytes: 96 * MiB, r2TimeoutMs: 10_000 };
const TEXT_ENGINES: readonly EngineName[] = ['sparrow-f32', 'sparrow-int8', 'reference'];

export function intVar(v: string | undefined, dflt: number): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : dflt;
}

export function textEngine(env: TextEnv): EngineName {
  const e = (env.TEXT_ENGINE ?? 'sparrow-f32') as EngineName;
  if (!TEXT_ENGINES.includes(e)) throw new HttpError('internal', `TEXT_ENGINE '${e}' is not one of ${TEXT_ENGINES.join(', ')}`);
  return e;
}

/** The request's JSON object body (at most `limit` bytes); 415 / 413 / 400 invalid_json otherwise. */
export async function readJsonObject(req: Request, limit: number, example: string): Promise<Record<string, unknown>> {
  const ct = req.headers.get('content-type');
  if (!isJsonType(ct))
    throw new HttpError('unsupported_media_type', `the body must be JSON (application/json), not ${ct}; send ${example}`);
  const bytes = await readBody(req, limit, 'the body');
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new HttpError('invalid_json', `the body is not JSON (${(e as Error).message}); send ${example}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new HttpError('invalid_request', `the body must be a JSON object: ${example}`);
  return v as Record<string, unknown>;
}

/** Rejects fields a body does not know (a typo would otherwise be ignored silently). */
export function onlyFields(body: Record<string, unknown>, known: readonly string[]): void {
  const extra = Object.keys(body).filter((k) => !known.includes(k));
  if (extra.length)
    throw new HttpError(
      'invalid_request',
      `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')} (known: ${known.join(', ')})`,
    );
}

// ---------------------------------------------------------------------------------------------
// stored models with their tokenizers

export interface LoadedText {
  id: string;
  entry: VersionEntry;
  engine: EngineName;
  session: Session;
  /** null: the file stores no tokenizer */
  text: TextModel | null;
  /** runs `fn` alone on the session (its arena is shared): the steps of several streams interleave */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** the request is done with the model (the cache may then evict it; later calls do nothing) */
  release(): void;
}

// Tokenizers per content hash (a few KB to a few MB each; most recent last). A hash names exact
// bytes, so an entry never goes stale. Values, never promises: a request must not await a promise
// another request created (workerd may cancel it: src/worker/cache.ts).
const TEXT_CACHE_ENTRIES = 16;
const texts = new Map<string, TextModel | null>();

function textFromBytes(bytes: Uint8Array, maxBytes: number): TextModel | null {
  return textModelOf(readContainer(bytes, { maxBytes, maxDecodedBytes: 8 * maxBytes }));
}

function rememberText(sha: string, t: TextModel | null): TextModel | null {
  texts.delete(sha);
  texts.set(sha, t);
  while (texts.size > TEXT_CACHE_ENTRIES) texts.delete(texts.keys().next().value!);
  return t;
}

/**
 * The model `ref` names, decoded on `engine` (the Worker's model cache, within the isolate's memory
 * budget: src/worker/cache.ts), pinned until `release`, and its tokenizer.
 */
export async function loadText(env: TextEnv, cache: ModelCache, id: string, version: number | null): Promise<LoadedText> {
  const engine = textEngine(env);
  const maxBytes = intVar(env.MAX_MODEL_BYTES, TEXT_DEFAULTS.maxModelBytes);
  const budget = (cache.limit = intVar(env.MODEL_CACHE_BYTES, TEXT_DEFAULTS.cacheBytes));
  const bucket = guardBucket(env.MODELS, intVar(env.R2_TIMEOUT_MS, TEXT_DEFAULTS.r2TimeoutMs));
  const { entry } = await resolve(bucket, id, version);
  const blob = async (): Promise<Uint8Array> => {
    const bytes = await readBlob(bucket, id, entry.sha256);
    if (!bytes) throw new HttpError('model_not_found', `model '${id}' version ${entry.version} is no longer stored; retry`);
    return bytes;
  };
  const model = await cache.acquire(
    modelKey(entry.sha256, engine, entry.maxBatch),
    storedLoader({
      bucket,
      id,
      entry,
      engine,
      maxModelBytes: maxBytes,
      budget,
      // (a bad tokenizer fails /generate and /embed below, not the session)
      onBytes: (bytes) => {
        if (!texts.has(entry.sha256)) {
          try {
            rememberText(entry.sha256, textFromBytes(bytes, maxBytes));
          } catch {
            // read again (and the error reported) below
          }
        }
      },
    }),
  );
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    cache.release(model);
  };
  try {
    // the session may come from a PUT or another engine's load: read the tokenizer from the blob then
    const known = texts.get(entry.sha256);
    const text = known !== undefined ? known : rememberText(entry.sha256, textFromBytes(await blob(), maxBytes));
    return { id, entry, engine, session: model.session, text, run: (fn) => cache.run(model, fn), release };
  } catch (e) {
    release();
    throw e;
  }
}

/** The stored tokenizer, or 422 no_tokenizer. */
export function requireTokenizer(l: LoadedText): TextModel {
  if (!l.text)
    throw new HttpError(
      'no_tokenizer',
      `model '${l.id}' stores no tokenizer; compress it with \`sparrow compress <model.onnx> --tokenizer <tokenizer.json | tokenizer.bin>\` and PUT it again`,
    );
  return l.text;
}
