// POST /v1/models/:id[@:version]/embed: sentence embeddings (src/runtime/embed.ts: mean pooling
// over the attention mask, then L2 normalisation, as sentence-transformers does).
//
//   body  {"text": "..."} or {"texts": ["...", ...]}      (at most MAX_TEXTS, none empty)
//   200   {"embeddings": [[...unit vector...], ...], "dims": [n, D], "tokens": [per text],
//          "model": {"id", "version"}, "engine", "ms"}
//
// The model must be an encoder (token ids in, optionally attention_mask / token_type_ids /
// position_ids: 422 not_an_encoder otherwise) and store its tokenizer (422 no_tokenizer). The
// texts run as one padded batch.
import { embedBatch } from '../runtime/embed.js';
import { isEncoderInputs } from '../runtime/text_model.js';
import { HttpError } from './errors.js';
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

const EXAMPLE = '{"text":"..."} or {"texts":["...", "..."]}';
/** texts per request at most */
export const MAX_TEXTS = 64;

/** The texts of a body: one of text / texts, each a non-empty string. */
export function parseEmbedBody(body: Record<string, unknown>): string[] {
  onlyFields(body, ['text', 'texts']);
  const one = body['text'];
  const many = body['texts'];
  if ((one === undefined) === (many === undefined))
    throw new HttpError('invalid_request', `send exactly one of "text" and "texts": ${EXAMPLE}`);
  const list = one !== undefined ? [one] : many;
  if (!Array.isArray(list)) throw new HttpError('invalid_request', `"texts" must be an array of strings: ${EXAMPLE}`);
  if (list.length === 0) throw new HttpError('invalid_request', '"texts" is empty');
  if (list.length > MAX_TEXTS) throw new HttpError('invalid_request', `${list.length} texts; at most ${MAX_TEXTS} per request`);
  list.forEach((t, i) => {
    const what = one !== undefined ? '"text"' : `texts[${i}]`;
    if (typeof t !== 'string') throw new HttpError('invalid_request', `${what} must be a string, got ${JSON.stringify(t)?.slice(0, 40)}`);
    if (t.trim() === '') throw new HttpError('invalid_request', `${what} is empty`);
  });
  return list as string[];
}

export async function handleEmbed(req: Request, env: TextEnv, ref: string, cache: ModelCache): Promise<Response> {
  const { id, version } = parseRef(ref);
  const texts = parseEmbedBody(await readJsonObject(req, intVar(env.MAX_INFER_BYTES, TEXT_DEFAULTS.maxBody), EXAMPLE));
  const loaded = await loadText(env, cache, id, version);
  try {
    return await embedWith(loaded, texts);
  } finally {
    loaded.release();
  }
}

async function embedWith(loaded: LoadedText, texts: string[]): Promise<Response> {
  const { id, session } = loaded;
  if (!isEncoderInputs(session.inputNames, session.inputInfo))
    throw new HttpError(
      'not_an_encoder',
      `model '${id}' is not an encoder: its inputs are ${session.inputNames.join(', ')} (embed takes input_ids and optionally ` +
        'attention_mask, token_type_ids, position_ids)',
    );
  const text = requireTokenizer(loaded);
  const batch = texts.map((t) => text.tokenizer.encode(t));
  batch.forEach((ids, i) => {
    if (ids.length === 0) throw new HttpError('invalid_request', `text ${i} encodes to no tokens`);
    if (text.contextLength && ids.length > text.contextLength)
      throw new HttpError('invalid_request', `text ${i} has ${ids.length} tokens; the model takes at most ${text.contextLength}`);
  });
  const { vectors, ms } = await loaded.run(async () => {
    const t0 = performance.now();
    const vectors = await embedBatch(session, batch);
    return { vectors, ms: performance.now() - t0 };
  });
  const D = vectors[0]?.length ?? 0;
  return new Response(
    JSON.stringify({
      embeddings: vectors.map((v) => Array.from(v)),
      dims: [vectors.length, D],
      tokens: batch.map((b) => b.length),
      model: { id, version: loaded.entry.version },
      engine: loaded.engine,
      ms: Math.round(ms * 1000) / 1000,
    }),
    {
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        'x-sparrow-engine': loaded.engine,
        'x-sparrow-version': String(loaded.entry.version),
      },
    },
  );
}
