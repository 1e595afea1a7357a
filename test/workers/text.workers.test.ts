// POST /v1/models/:id/generate and /embed inside workerd (src/worker/generate.ts, embed.ts), with
// the models of test/helpers/text_examples.ts (made in Node when this pool starts):
//  - greedy decoding of 200 tokens from BOS through the Worker (stories260K, float32 weights and
//    its stored tokenizer) = the text and tokens of the TS Llama forward pass over the llama2.c
//    checkpoint (test/fixtures/text/stories260K-greedy-bos-200.json; text.fixtures.data.test.ts
//    keeps it equal to src/bench/llama_ref.ts);
//  - the SSE framing, event by event; sampling options reach generate() (same seed = the loop run
//    here on a Session of the same file, another seed differs);
//  - a client that goes away (stream cancelled) or a request signal that aborts stops the
//    generation within a step;
//  - /embed: unit vectors = a float64 oracle of the encoder (text_models.ts) over the Rust
//    tokenizers' ids (test/fixtures/tokenizers/expected.json), batch = one by one;
//  - every bad input is a 4xx JSON error with its code, and changes nothing stored;
//  - the int8 stories260K that `npm start` serves streams through the Worker's entrypoint.
// The float stories260K is 1.2 MB, over this pool's MAX_MODEL_BYTES (1 MiB, for the upload-limit
// tests of api.workers.test.ts): these tests call the Worker's fetch with MAX_MODEL_BYTES raised.
import { env, exports } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import worker from '../../src/worker/index.js';
import { generateStats } from '../../src/worker/generate.js';
import { Session } from '../../src/runtime/session.js';
import { generate } from '../../src/runtime/generate.js';
import { readContainer, writeContainer } from '../../src/format/container.js';
import { textModelOf } from '../../src/runtime/text_model.js';
import wasmModule from '../../build/sparrow.wasm';
import { encoderOracle } from '../helpers/text_models.js';
import type { Env } from '../../src/worker/env.js';

const TOKEN = 'test-admin-token';
const B = 'http://sparrow.test';
const fromB64 = (s: unknown): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(String(s)), (c) => c.charCodeAt(0));
const STORIES = fromB64(env.TEST_STORIES_B64);
const STORIES_F32 = fromB64(env.TEST_STORIES_F32_B64);
const ENCODER = fromB64(env.TEST_ENCODER_B64);
const MNIST = fromB64(env.TEST_MNIST_B64);
const GREEDY = JSON.parse(String(env.TEST_GREEDY_JSON)) as { tokens: number[]; stdout: string };
const WORDPIECE = JSON.parse(String(env.TEST_WORDPIECE_JSON)) as { strings: string[]; cases: { wordpiece: Array<{ ids: number[] }> } };
const ENV = { ...(env as unknown as Env), MAX_MODEL_BYTES: String(4 * 1024 * 1024) } as Env;
const ctx = { waitUntil: (): void => {}, passThroughOnException: (): void => {} };

function call(path: string, init: RequestInit = {}, e: Env = ENV): Promise<Response> {
  return Promise.resolve(worker.fetch(new Request(`${B}${path}`, init), e, ctx));
}
const put = (id: string, body: Uint8Array<ArrayBuffer>): Promise<Response> =>
  call(`/v1/models/${id}`, { method: 'PUT', body, headers: { authorization: `Bearer ${TOKEN}` } });
const post = (path: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }, e?: Env) =>
  call(path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers }, e);

interface Sse {
  tokens: Array<{ id: number; text: string }>;
  done?: Record<string, unknown>;
  error?: { code: string; message: string };
  raw: string;
}

/** Reads the whole stream and checks its framing: `event: <name>\ndata: <one JSON line>\n\n` each. */
async function readSse(res: Response): Promise<Sse> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  expect(res.headers.get('cache-control')).toBe('no-store');
  const raw = await res.text();
  expect(raw).toMatch(/^(event: token\ndata: [^\n]+\n\n)*event: (done|error)\ndata: [^\n]+\n\n$/);
  const out: Sse = { tokens: [], raw };
  for (const block of raw.split('\n\n').slice(0, -1)) {
    const [ev, data] = block.split('\n') as [string, string];
    const v = JSON.parse(data.slice('data: '.length)) as Record<string, unknown>;
    const name = ev.slice('event: '.length);
    if (name === 'token') {
      expect(Object.keys(v).sort()).toEqual(['id', 'text']);
      expect(Number.isInteger(v.id)).toBe(true);
      expect(typeof v.text).toBe('string');
      out.tokens.push(v as { id: number; text: string });
    } else if (name === 'done') out.done = v;
    else out.error = (v as { error: { code: string; message: string } }).error;
  }
  return out;
}

async function errorOf(res: Response): Promise<{ status: number; code: string }> {
  expect(res.headers.get('content-type'), `${res.status}`).toMatch(/^application\/json/);
  const j = (await res.json()) as { error: { code: string; message: string } };
  expect(typeof j.error.message).toBe('string');
  expect(j.error.message.length).toBeGreaterThan(0);
  return { status: res.status, code: j.error.code };
}

async function listing(): Promise<string> {
  return (await call('/v1/models')).text();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Reads events until `n` tokens arrived; returns the reader (the stream stays open). */
async function readTokens(res: Response, n: number): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  while ((text.match(/event: token\n/g) ?? []).length < n) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`the stream ended after ${text}`);
    text += dec.decode(value, { stream: true });
  }
  return reader;
}

describe('/generate and /embed in workerd', () => {
  beforeAll(async () => {
    for (const [id, bytes] of [
      ['stories260k', STORIES],
      ['stories-f32', STORIES_F32],
      ['encoder', ENCODER],
      ['mnist-8', MNIST],
    ] as const) {
      const r = await put(id, bytes);
      expect(r.status, `PUT ${id}: ${await r.clone().text()}`).toBe(201);
    }
    // stories260K without its tokenizer: the same container less the tokenizer section and metadata.text
    const { header, payload } = readContainer(STORIES);
    const keep = header.meta.tensors.map((t, i) => ({ t, i })).filter(({ t }) => t['value'] !== null);
    const { text: _text, ...meta } = header.meta;
    const bare = writeContainer(
      { ...meta, tensors: keep.map(({ t }, k) => ({ ...t, section: k })) },
      keep.map(({ i }) => ({ ...header.sections[i]!, payload: payload(i) })),
    );
    expect((await put('stories-bare', bare as Uint8Array<ArrayBuffer>)).status).toBe(201);
  });

  it('greedy, 200 tokens from BOS: the text and tokens of the llama2.c reference (float32 weights)', async () => {
    const s = await readSse(await post('/v1/models/stories-f32/generate', { prompt: [1], max_tokens: 200, temperature: 0 }));
    expect(s.tokens.map((t) => t.id)).toEqual(GREEDY.tokens.slice(1));
    expect(s.tokens.map((t) => t.text).join('') + '\n').toBe(GREEDY.stdout);
    expect(s.done).toMatchObject({
      model: { id: 'stories-f32', version: 1 },
      engine: 'sparrow-f32',
      prompt_tokens: 1,
      tokens: 200,
      stop_reason: 'max_tokens',
    });
    console.log(`workerd, greedy 200 tokens: ${JSON.stringify(s.done)}`);
  });

  it('a text prompt (no echo); the first token event is the first generated token; done counts them', async () => {
    const s = await readSse(await post('/v1/models/stories-f32/generate', { prompt: 'Once upon a time', max_tokens: 30, temperature: 0 }));
    // the reference text from BOS begins with the same words: greedy continues it identically
    const ref = GREEDY.stdout.slice('Once upon a time'.length);
    expect(ref.startsWith(s.tokens.map((t) => t.text).join(''))).toBe(true);
    expect(s.done).toMatchObject({ prompt_tokens: 5, tokens: 30, stop_reason: 'max_tokens' });
    expect(typeof s.done!.ms).toBe('number');
    expect(typeof s.done!.seed).toBe('number');
  });

  it('sampling options reach generate(): the same seed = generate() on a Session of the same file; another seed differs', async () => {
    const body = { prompt: 'Lily and Ben', max_tokens: 40, temperature: 0.9, top_k: 40, top_p: 0.95, seed: 1234 };
    const a = await readSse(await post('/v1/models/stories-f32/generate', body));
    const b = await readSse(await post('/v1/models/stories-f32/generate', body));
    expect(b.tokens).toEqual(a.tokens);
    expect(a.done!.seed).toBe(1234);
    const session = await Session.fromSparrow(STORIES_F32, { engine: 'sparrow-f32', wasmModule });
    const tm = textModelOf(readContainer(STORIES_F32))!;
    const want: number[] = [];
    const opts = { maxTokens: 40, temperature: 0.9, topK: 40, topP: 0.95, seed: 1234, stop: tm.stop, maxLength: tm.contextLength! };
    for await (const t of generate(session, tm.tokenizer.encode('Lily and Ben'), opts)) want.push(t);
    expect(a.tokens.map((t) => t.id)).toEqual(want);
    const c = await readSse(await post('/v1/models/stories-f32/generate', { ...body, seed: 99 }));
    expect(c.tokens.map((t) => t.id)).not.toEqual(want);
  });

  it('a client that goes away (the stream cancelled) stops the generation', async () => {
    const before = generateStats.finished;
    const res = await post('/v1/models/stories-f32/generate', { prompt: 'Once upon a time', max_tokens: 1000, temperature: 0.8, seed: 7 });
    const reader = await readTokens(res, 5);
    expect(generateStats.active).toBe(1);
    await reader.cancel();
    for (let i = 0; i < 50 && generateStats.active > 0; i++) await sleep(20);
    expect(generateStats.active).toBe(0);
    expect(generateStats.finished).toBe(before + 1);
    expect(generateStats.last!.stopReason).toBe('aborted');
    expect(generateStats.last!.tokens).toBeLessThan(10);
    const tokens = generateStats.tokens;
    await sleep(200);
    expect(generateStats.tokens).toBe(tokens); // no step after the cancel
  });

  it("the request's signal aborting stops the generation too (the stream ends with stop_reason aborted)", async () => {
    const ac = new AbortController();
    const res = await call('/v1/models/stories-f32/generate', {
      method: 'POST',
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 1000, temperature: 0.8, seed: 7 }),
      headers: { 'content-type': 'application/json' },
      signal: ac.signal,
    });
    const reader = await readTokens(res, 3);
    ac.abort();
    let rest = '';
    const dec = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += dec.decode(value, { stream: true });
    }
    const done = JSON.parse(/event: done\ndata: (.*)\n\n$/.exec(rest)![1]!) as { stop_reason: string; tokens: number };
    expect(done.stop_reason).toBe('aborted');
    expect(done.tokens).toBeLessThan(10);
  });

  it('the EOS of the stored tokenizer ends a generation (stop_reason stop_token) at temperature 1', async () => {
    // 1000 tokens of sampled stories: the model writes EOS (id 2) well before that, or reaches its context (512)
    const s = await readSse(
      await post('/v1/models/stories-f32/generate', { prompt: 'Once upon a time', max_tokens: 1000, temperature: 1, seed: 3 }),
    );
    expect(['stop_token', 'length']).toContain(s.done!.stop_reason);
    expect(s.tokens.every((t) => t.id !== 2)).toBe(true);
    if (s.done!.stop_reason === 'length') expect(5 + s.tokens.length).toBe(512);
  });

  it('embed: unit vectors = the float64 oracle over the Rust tokenizers ids; a batch = one by one', async () => {
    const r = await post('/v1/models/encoder/embed', { texts: WORDPIECE.strings });
    expect(r.status).toBe(200);
    const j = (await r.json()) as { embeddings: number[][]; dims: number[]; tokens: number[]; engine: string };
    expect(j.dims).toEqual([WORDPIECE.strings.length, 16]);
    expect(j.tokens).toEqual(WORDPIECE.cases.wordpiece.map((c) => c.ids.length));
    j.embeddings.forEach((v, i) => {
      expect(Math.abs(Math.hypot(...v) - 1)).toBeLessThan(1e-6);
      const want = encoderOracle(WORDPIECE.cases.wordpiece[i]!.ids);
      for (let d = 0; d < 16; d++) expect(Math.abs(v[d]! - want[d]!), `text ${i}, element ${d}`).toBeLessThan(1e-5);
    });
    for (const i of [0, 3]) {
      const one = (await (await post('/v1/models/encoder/embed', { text: WORDPIECE.strings[i] })).json()) as {
        embeddings: number[][];
        dims: number[];
      };
      expect(one.dims).toEqual([1, 16]);
      for (let d = 0; d < 16; d++) expect(Math.abs(one.embeddings[0]![d]! - j.embeddings[i]![d]!)).toBeLessThan(1e-6);
    }
  });

  it('bad input: 4xx JSON with a code, through the one error path; nothing stored changes', async () => {
    const before = await listing();
    const G = '/v1/models/stories260k/generate';
    const E = '/v1/models/encoder/embed';
    const json = { 'content-type': 'application/json' };
    const cases: Array<[string, unknown, Record<string, string>, number, string]> = [
      [G, { prompt: '' }, json, 400, 'empty_prompt'],
      [G, { prompt: '   \n' }, json, 400, 'empty_prompt'],
      [G, { prompt: [] }, json, 400, 'empty_prompt'],
      [G, { max_tokens: 5 }, json, 400, 'empty_prompt'],
      [G, { prompt: 'x', max_tokens: 1_000_000 }, json, 400, 'max_tokens_exceeded'],
      [G, { prompt: 'x', max_tokens: 1025 }, json, 400, 'max_tokens_exceeded'],
      [G, { prompt: 'x', max_tokens: 0 }, json, 400, 'invalid_request'],
      [G, { prompt: 'x', max_tokens: 2.5 }, json, 400, 'invalid_request'],
      [G, { prompt: 'x', max_tokens: '10' }, json, 400, 'invalid_request'],
      [G, { prompt: 'x', temperature: -1 }, json, 400, 'invalid_request'],
      [G, { prompt: 'x', top_p: 0 }, json, 400, 'invalid_request'],
      [G, { prompt: 'x', top_k: -2 }, json, 400, 'invalid_request'],
      [G, { prompt: 'x', seed: -1 }, json, 400, 'invalid_request'],
      [G, { prompt: 'x', temp: 1 }, json, 400, 'invalid_request'],
      [G, { prompt: 42 }, json, 400, 'invalid_request'],
      [G, { prompt: [1, 512] }, json, 400, 'invalid_request'], // beyond the vocabulary
      [G, { prompt: [1, -3] }, json, 400, 'invalid_request'],
      [G, { prompt: 'time '.repeat(600) }, json, 400, 'invalid_request'], // beyond the context (512)
      [G, [1, 2], json, 400, 'invalid_request'],
      [G, '{"prompt":', json, 400, 'invalid_json'],
      [G, { prompt: 'x' }, { 'content-type': 'image/png' }, 415, 'unsupported_media_type'],
      [G, { prompt: 'x' }, { 'content-type': 'multipart/form-data; boundary=x' }, 415, 'unsupported_media_type'],
      ['/v1/models/nope/generate', { prompt: 'x' }, json, 404, 'model_not_found'],
      ['/v1/models/stories260k@9/generate', { prompt: 'x' }, json, 404, 'version_not_found'],
      ['/v1/models/Bad!Id/generate', { prompt: 'x' }, json, 400, 'invalid_id'],
      ['/v1/models/mnist-8/generate', { prompt: 'x' }, json, 422, 'not_a_decoder'],
      ['/v1/models/encoder/generate', { prompt: 'x' }, json, 422, 'not_a_decoder'],
      ['/v1/models/stories-bare/generate', { prompt: 'x' }, json, 422, 'no_tokenizer'],
      [E, {}, json, 400, 'invalid_request'],
      [E, { text: '' }, json, 400, 'invalid_request'],
      [E, { texts: [] }, json, 400, 'invalid_request'],
      [E, { texts: ['a', ''] }, json, 400, 'invalid_request'],
      [E, { texts: ['a', 3] }, json, 400, 'invalid_request'],
      [E, { text: 'a', texts: ['b'] }, json, 400, 'invalid_request'],
      [E, { texts: new Array(65).fill('a') }, json, 400, 'invalid_request'],
      [E, 'nope', json, 400, 'invalid_json'],
      [E, { text: 'x' }, { 'content-type': 'application/x-npy' }, 415, 'unsupported_media_type'],
      ['/v1/models/nope/embed', { text: 'x' }, json, 404, 'model_not_found'],
      ['/v1/models/stories260k/embed', { text: 'x' }, json, 422, 'not_an_encoder'],
      ['/v1/models/mnist-8/embed', { text: 'x' }, json, 422, 'not_an_encoder'],
    ];
    for (const [path, body, headers, status, code] of cases) {
      const e = await errorOf(await post(path, body, headers));
      expect({ path, body: JSON.stringify(body).slice(0, 50), status: e.status, code: e.code }).toEqual({
        path,
        body: JSON.stringify(body).slice(0, 50),
        status,
        code,
      });
    }
    // a body over MAX_INFER_BYTES
    const small = { ...ENV, MAX_INFER_BYTES: '64' } as Env;
    expect(await errorOf(await post(G, { prompt: 'x'.repeat(100) }, json, small))).toEqual({ status: 413, code: 'payload_too_large' });
    // a lower MAX_GENERATE_TOKENS
    const few = { ...ENV, MAX_GENERATE_TOKENS: '8' } as Env;
    expect(await errorOf(await post(G, { prompt: 'x', max_tokens: 9 }, json, few))).toEqual({ status: 400, code: 'max_tokens_exceeded' });
    // other methods
    for (const m of ['GET', 'PUT', 'DELETE']) {
      const r = await call(G, { method: m });
      expect(await errorOf(r)).toEqual({ status: 405, code: 'method_not_allowed' });
      expect(r.headers.get('allow')).toBe('POST');
    }
    expect(await listing()).toBe(before);
  });

  it("curl's default content type (form-urlencoded) and none are read as JSON", async () => {
    for (const headers of [{ 'content-type': 'application/x-www-form-urlencoded' }, {} as Record<string, string>]) {
      const s = await readSse(await post('/v1/models/stories260k/generate', { prompt: 'Once upon a time', max_tokens: 3 }, headers));
      expect(s.tokens).toHaveLength(3);
    }
  });

  it("the int8 stories260K (npm start's) streams through the Worker's entrypoint; same text as generate() on it in workerd", async () => {
    const res = await exports.default.fetch(`${B}/v1/models/stories260k/generate`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 50, temperature: 0 }),
    });
    const s = await readSse(res);
    const session = await Session.fromSparrow(STORIES, { engine: 'sparrow-f32', wasmModule });
    const tm = textModelOf(readContainer(STORIES))!;
    const prompt = tm.tokenizer.encode('Once upon a time');
    const dec = tm.tokenizer.streamDecoder(prompt);
    let want = '';
    for await (const t of generate(session, prompt, { maxTokens: 50, temperature: 0, stop: tm.stop })) want += dec(t);
    expect(s.tokens.map((t) => t.text).join('')).toBe(want);
    expect(s.done).toMatchObject({ engine: 'sparrow-f32', tokens: 50 });
  });
});
