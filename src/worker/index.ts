/**
 * Sparrow edge Worker (module syntax, routed with Hono): the model API of ../shared/CONTRACT.md.
 *
 *   GET    /healthz                      {"ok":true}
 *   GET    /v1/models                    {"models":[{id,version,bytes,inputs,outputs,sha256}]}
 *   GET    /v1/models/:id[@:version]     the .sparrow bytes; strong ETag (SHA-256), Cache-Control,
 *                                        HEAD, single Range (206/416), If-None-Match (304)
 *   PUT    /v1/models/:id                201; Bearer ADMIN_TOKEN; the container is fully validated and
 *                                        loaded before it is stored; versions become visible atomically
 *   DELETE /v1/models/:id                204; Bearer ADMIN_TOKEN
 *   POST   /v1/models/:id[@:version]/infer   JSON or application/x-npy (one-input models)
 *   POST   /v1/models/:id[@:version]/generate   text/event-stream of tokens (text_routes.ts)
 *   POST   /v1/models/:id[@:version]/embed      unit vectors (text_routes.ts)
 *
 * Every error is `{"error":{"code","message"}}`, made in one place (errors.ts, via onError).
 * Storage layout and atomicity: store.ts. Decoded-model cache: cache.ts. Request bodies: infer.ts.
 */
import { Hono, type Context } from 'hono';
import wasmModule from '../../build/sparrow.wasm';
import '../ops/ref/index.js';
import { readContainer } from '../format/container.js';
import { Session, type EngineName } from '../runtime/session.js';
import { SparrowError } from '../errors.js';
import type { Env, R2Range } from './env.js';
import { hasBody } from './env.js';
import { HttpError, toErrorResponse } from './errors.js';
import {
  CONTENT_TYPE,
  deleteModel,
  getModelObject,
  listModels,
  parseRef,
  putModel,
  readBlob,
  resolve,
  sha256Hex,
  type IoInfo,
} from './store.js';
import { ModelCache, cacheKey } from './cache.js';
import { feedsFromJson, feedsFromNpy, outputToNpy, outputsToJson } from './infer.js';
import { registerTextRoutes } from './text_routes.js';

const MiB = 1024 * 1024;
const DEFAULTS = { maxModelBytes: 16 * MiB, maxInferBytes: 4 * MiB, cacheBytes: 48 * MiB };
const WORKER_ENGINES: readonly EngineName[] = ['sparrow-int8', 'sparrow-f32', 'reference'];
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'public, no-cache';

type App = { Bindings: Env };
type Ctx = Context<App>;

function intVar(v: string | undefined, dflt: number): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : dflt;
}

function engineOf(env: Env): EngineName {
  const e = (env.ENGINE ?? 'sparrow-int8') as EngineName;
  if (!WORKER_ENGINES.includes(e)) throw new HttpError('internal', `ENGINE '${e}' is not one of ${WORKER_ENGINES.join(', ')}`);
  return e;
}

// Per isolate: decoded models (bounded by bytes).
export const modelCache = new ModelCache(DEFAULTS.cacheBytes);

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

// ---------------------------------------------------------------------------------------------
// auth: constant-time comparison of SHA-256 digests (equal length whatever the inputs)

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));
}

async function requireAdmin(c: Ctx): Promise<void> {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) throw new HttpError('writes_disabled', 'this deployment has no ADMIN_TOKEN secret: writes are disabled');
  const header = c.req.header('authorization') ?? '';
  const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(header);
  const [a, b] = await Promise.all([digest(m ? m[1]! : ''), digest(expected)]);
  let diff = m ? 0 : 1;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  if (diff !== 0) {
    throw new HttpError('unauthorized', m ? 'wrong admin token' : 'missing "Authorization: Bearer <ADMIN_TOKEN>"', {
      'www-authenticate': 'Bearer realm="sparrow"',
    });
  }
}

// ---------------------------------------------------------------------------------------------
// bodies with a byte limit: Content-Length is checked first, then the bytes are counted

async function readBody(req: Request, limit: number, what: string): Promise<Uint8Array> {
  const cl = req.headers.get('content-length');
  if (cl !== null) {
    const n = Number(cl);
    if (!Number.isSafeInteger(n) || n < 0) throw new HttpError('invalid_request', `bad Content-Length ${JSON.stringify(cl)}`);
    if (n > limit) throw new HttpError('payload_too_large', `${what} is ${n} bytes; the limit is ${limit}`);
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      // stop reading (the rest is never buffered); the runtime discards it with the request
      reader.releaseLock();
      throw new HttpError('payload_too_large', `${what} exceeds the limit of ${limit} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const ch of chunks) {
    out.set(ch, o);
    o += ch.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// conditional and range requests

/** If-None-Match against our strong ETag (weak comparison, as RFC 9110 says for this header). */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** One byte range of a `size`-byte entity; null = serve the whole entity; throws 416. */
function parseRange(header: string | undefined, size: number): { offset: number; length: number } | null {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return null; // unknown unit: ignore (RFC 9110 §14.2)
  const specs = m[1]!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (specs.length !== 1) return null; // multiple ranges: we answer with the whole entity
  const r = /^(\d*)-(\d*)$/.exec(specs[0]!);
  const unsatisfiable = (): never => {
    throw new HttpError('range_not_satisfiable', `range ${JSON.stringify(header)} is outside the ${size}-byte model`, {
      'content-range': `bytes */${size}`,
    });
  };
  if (!r || (r[1] === '' && r[2] === '')) return unsatisfiable();
  if (r[1] === '') {
    const suffix = Number(r[2]);
    if (suffix === 0 || size === 0) return unsatisfiable();
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const first = Number(r[1]);
  const last = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
  if (first >= size || last < first) return unsatisfiable();
  return { offset: first, length: last - first + 1 };
}

// ---------------------------------------------------------------------------------------------
// model loading (cached)

function ioInfo(s: Session): { inputs: IoInfo[]; outputs: IoInfo[] } {
  const f = (names: readonly string[], info: Session['inputInfo']): IoInfo[] =>
    names.map((name) => ({ name, dtype: info[name]!.dtype, dims: info[name]!.dims ? [...info[name]!.dims!] : null }));
  return { inputs: f(s.inputNames, s.inputInfo), outputs: f(s.outputNames, s.outputInfo) };
}

async function decode(bytes: Uint8Array, engine: EngineName, maxBytes: number): Promise<Session> {
  return await Session.fromSparrow(bytes, { engine, wasmModule, read: { maxBytes, maxDecodedBytes: 8 * maxBytes } });
}

// ---------------------------------------------------------------------------------------------
// the app

export const app = new Hono<App>({ strict: true });

app.onError((err, c) => toErrorResponse(err, c.req.method));
app.notFound((c) =>
  toErrorResponse(new HttpError('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), c.req.method),
);

function methodNotAllowed(allow: string) {
  return (c: Ctx): Response =>
    toErrorResponse(
      new HttpError('method_not_allowed', `${c.req.method} is not allowed here (allowed: ${allow})`, { allow }),
      c.req.method,
    );
}

app.on(['GET', 'HEAD'], '/healthz', (c) =>
  c.req.method === 'HEAD'
    ? new Response(null, { headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } })
    : json({ ok: true }, 200, { 'cache-control': 'no-store' }),
);
app.all('/healthz', methodNotAllowed('GET, HEAD'));

app.get('/v1/models', async (c) => {
  const models = await listModels(c.env.MODELS);
  return json({ models }, 200, { 'cache-control': 'no-store' });
});
app.all('/v1/models', methodNotAllowed('GET, HEAD'));

app.on(['GET', 'HEAD'], '/v1/models/:ref', async (c) => {
  const { id, version } = parseRef(c.req.param('ref'));
  const head = c.req.method === 'HEAD';
  const { entry } = await resolve(c.env.MODELS, id, version);
  const etag = `"${entry.sha256}"`;
  const common: Record<string, string> = {
    etag,
    'cache-control': version === null ? REVALIDATE : IMMUTABLE,
    'accept-ranges': 'bytes',
    'x-sparrow-version': String(entry.version),
    ...(version === null ? { 'content-location': `/v1/models/${id}@${entry.version}` } : {}),
  };
  if (noneMatch(c.req.header('if-none-match'), etag)) return new Response(null, { status: 304, headers: common });
  const ifRange = c.req.header('if-range');
  const range = ifRange !== undefined && ifRange.trim() !== etag ? null : parseRange(c.req.header('range'), entry.bytes);
  const r2Range: R2Range | undefined = range ? { offset: range.offset, length: range.length } : undefined;
  // Fetch exactly the version resolved above (by its hash), so headers and bytes always agree.
  const { object, entry: got } = await getModelObject(c.env.MODELS, id, version ?? null, { ...(r2Range ? { range: r2Range } : {}), head });
  if (got.sha256 !== entry.sha256) {
    // a PUT landed between the two reads: describe the version actually served
    common.etag = `"${got.sha256}"`;
    common['x-sparrow-version'] = String(got.version);
    if (version === null) common['content-location'] = `/v1/models/${id}@${got.version}`;
  }
  const size = object.size;
  const headers: Record<string, string> = { ...common, 'content-type': CONTENT_TYPE };
  let status = 200;
  if (range && got.sha256 === entry.sha256) {
    status = 206;
    headers['content-range'] = `bytes ${range.offset}-${range.offset + range.length - 1}/${size}`;
    headers['content-length'] = String(range.length);
  } else {
    headers['content-length'] = String(size);
  }
  if (head || !hasBody(object)) return new Response(null, { status, headers });
  if (status === 200 && range) {
    // the resolved version changed under us and the range was for the other one: send it whole
    const whole = await readBlob(c.env.MODELS, id, got.sha256);
    if (!whole) throw new HttpError('model_not_found', `model '${id}' changed while being read; retry`);
    return new Response(whole as Uint8Array<ArrayBuffer>, { status, headers });
  }
  return new Response(object.body, { status, headers });
});

app.put('/v1/models/:ref', async (c) => {
  await requireAdmin(c);
  const { id, version } = parseRef(c.req.param('ref'));
  if (version !== null) throw new HttpError('invalid_id', 'PUT to /v1/models/<id> (versions are assigned by the server)');
  const maxBytes = intVar(c.env.MAX_MODEL_BYTES, DEFAULTS.maxModelBytes);
  const bytes = await readBody(c.req.raw, maxBytes, 'the model');
  if (bytes.length === 0) throw new HttpError('invalid_request', 'empty body: PUT a .sparrow file');
  // 1. the container: magic, version, header/table/metadata/section CRCs, limits
  readContainer(bytes, { maxBytes, maxDecodedBytes: 8 * maxBytes });
  // 2. it must load as a runnable model on this Worker's engine
  const engine = engineOf(c.env);
  let session: Session;
  try {
    session = await decode(bytes, engine, maxBytes);
  } catch (e) {
    if (e instanceof SparrowError && (e.code === 'invalid_argument' || e.code === 'corrupt_metadata')) {
      throw new HttpError('not_runnable', `the container is valid but does not load as a model: ${e.message}`);
    }
    throw e;
  }
  const sha = await sha256Hex(bytes);
  const io = ioInfo(session);
  const ptr = await putModel(c.env.MODELS, id, bytes, sha, io);
  modelCache.limit = intVar(c.env.MODEL_CACHE_BYTES, DEFAULTS.cacheBytes);
  try {
    modelCache.insert(cacheKey(sha, engine), session);
  } catch {
    /* larger than the cache: decoded on demand */
  }
  return json({ id, version: ptr.version, bytes: ptr.bytes, sha256: sha, inputs: io.inputs, outputs: io.outputs }, 201, {
    location: `/v1/models/${id}@${ptr.version}`,
    etag: `"${sha}"`,
    'cache-control': 'no-store',
  });
});

app.delete('/v1/models/:ref', async (c) => {
  await requireAdmin(c);
  const { id, version } = parseRef(c.req.param('ref'));
  if (version !== null) throw new HttpError('invalid_id', 'DELETE /v1/models/<id> removes all versions; single versions cannot be deleted');
  if (!(await deleteModel(c.env.MODELS, id))) throw new HttpError('model_not_found', `no model '${id}'`);
  return new Response(null, { status: 204 });
});
app.all('/v1/models/:ref', methodNotAllowed('GET, HEAD, PUT, DELETE'));

app.post('/v1/models/:ref/infer', async (c) => {
  const { id, version } = parseRef(c.req.param('ref'));
  const engine = engineOf(c.env);
  const maxModel = intVar(c.env.MAX_MODEL_BYTES, DEFAULTS.maxModelBytes);
  modelCache.limit = intVar(c.env.MODEL_CACHE_BYTES, DEFAULTS.cacheBytes);
  const { entry } = await resolve(c.env.MODELS, id, version);
  const body = await readBody(c.req.raw, intVar(c.env.MAX_INFER_BYTES, DEFAULTS.maxInferBytes), 'the request body');
  const npy = /^application\/x-npy\b/i.test(c.req.header('content-type') ?? '');
  let parsed: unknown;
  if (!npy) {
    try {
      parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch (e) {
      throw new HttpError('invalid_json', `body is not JSON (${(e as Error).message}); send {"inputs":{...}} or application/x-npy`);
    }
  }
  const model = await modelCache.get(cacheKey(entry.sha256, engine), async () => {
    const bytes = await readBlob(c.env.MODELS, id, entry.sha256);
    if (!bytes) throw new HttpError('model_not_found', `model '${id}' version ${entry.version} is no longer stored; retry`);
    return decode(bytes, engine, maxModel);
  });
  const { session } = model;
  const feeds = npy ? feedsFromNpy(session, body) : feedsFromJson(session, parsed);
  const { outputs, ms } = await model.run(async () => {
    const t0 = performance.now();
    const outputs = await session.run(feeds);
    return { outputs, ms: performance.now() - t0 };
  });
  const headers = {
    'cache-control': 'no-store',
    'x-sparrow-engine': session.engine,
    'x-sparrow-version': String(entry.version),
    'x-sparrow-ms': ms.toFixed(3),
  };
  if (npy) {
    const name = session.outputNames[0]!;
    return new Response(outputToNpy(outputs[name]!) as Uint8Array<ArrayBuffer>, {
      headers: { ...headers, 'content-type': 'application/x-npy', 'x-sparrow-output': name },
    });
  }
  return json(
    { outputs: outputsToJson(outputs, session.outputNames), ms, engine: session.engine, model: { id, version: entry.version } },
    200,
    headers,
  );
});
app.all('/v1/models/:ref/infer', methodNotAllowed('POST'));
registerTextRoutes(app, modelCache);

/** Cache statistics of this isolate (diagnostics; no model data). */
app.get('/v1/_stats', (c) => json({ cache: modelCache.snapshot(), engine: engineOf(c.env) }, 200, { 'cache-control': 'no-store' }));

export default {
  fetch(request: Request, env: Env, ctx?: unknown): Response | Promise<Response> {
    return app.fetch(request, env, ctx as never);
  },
};
