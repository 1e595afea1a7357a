/**
 * Sparrow edge Worker (module syntax, routed with Hono): the model API of ../shared/CONTRACT.md.
 *
 *   GET    /healthz                      {"ok":true}
 *   GET    /v1/models                    {"models":[{id,version,bytes,inputs,outputs,sha256,maxBatch}]}
 *   GET    /v1/models/:id[@:version]     the .sparrow bytes; strong ETag (SHA-256), Cache-Control,
 *                                        HEAD, single Range (206/416; a malformed one is ignored),
 *                                        If-None-Match (304)
 *   PUT    /v1/models/:id[?maxBatch=n]   201; Bearer ADMIN_TOKEN; admitted (admit.ts: decoded, planned
 *                                        and run within the memory budget) before it is stored;
 *                                        versions become visible atomically and are never reused
 *   DELETE /v1/models/:id                204; Bearer ADMIN_TOKEN (a tombstone keeps the version count)
 *   POST   /v1/models/:id[@:version]/infer   JSON or application/x-npy (one-input models); 415 otherwise
 *   POST   /v1/models/:id[@:version]/generate   text/event-stream of tokens (text_routes.ts)
 *   POST   /v1/models/:id[@:version]/embed      unit vectors (text_routes.ts)
 *   GET    /v1/_stats                    Bearer ADMIN_TOKEN: the isolate's tracked memory and cache counters
 *
 * Every error is `{"error":{"code","message"}}`, made in one place (errors.ts, via onError).
 * Storage layout, atomicity and R2 faults (503): store.ts. Admission: admit.ts. The memory-bounded
 * model cache: cache.ts. Request bodies: infer.ts.
 */
import { Hono, type Context, type Next } from 'hono';
import '../ops/ref/index.js';
import { isSparrowError } from '../errors.js';
import { useWasmCrc32, type Session, type EngineName } from '../runtime/session.js';
import type { Env, R2Bucket, R2Range } from './env.js';
import { hasBody } from './env.js';
import { HttpError, toErrorResponse } from './errors.js';
import {
  CONTENT_TYPE,
  deleteModel,
  getModelObject,
  guardBucket,
  listModels,
  parseRef,
  putModel,
  readBlob,
  resolve,
  sha256Hex,
  type IoInfo,
  type StoredFigures,
} from './store.js';
import { ModelCache, type CachedModel } from './cache.js';
import { checkContainer, effectiveMaxBatch, loadError, loadModel, modelKey, storedLoader, wasmModule } from './admit.js';
import { bodyKind, feedsFromJson, feedsFromNpy, outputToNpy, outputsToJson, readBody } from './infer.js';
import { registerTextRoutes } from './text_routes.js';
import { registerClassifyRoute } from './classify.js';

const MiB = 1024 * 1024;
const DEFAULTS = { maxModelBytes: 16 * MiB, maxInferBytes: 4 * MiB, cacheBytes: 96 * MiB, r2TimeoutMs: 10_000 };
const WORKER_ENGINES: readonly EngineName[] = ['sparrow-int8', 'sparrow-f32', 'reference'];
const ALIASES: Readonly<Record<string, EngineName>> = { 'sparrow-ref': 'reference' };
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'public, no-cache';

export type App = { Bindings: Env };
type Ctx = Context<App>;

function intVar(v: string | undefined, dflt: number): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : dflt;
}

function engineOf(env: Env): EngineName {
  const e = (ALIASES[env.ENGINE ?? ''] ?? env.ENGINE ?? 'sparrow-int8') as EngineName;
  if (!WORKER_ENGINES.includes(e)) throw new HttpError('internal', `ENGINE '${e}' is not one of ${WORKER_ENGINES.join(', ')}`);
  return e;
}

// Per isolate: decoded models, bounded by the memory budget (MODEL_CACHE_BYTES).
export const modelCache = new ModelCache(DEFAULTS.cacheBytes);

/** The memory budget of this isolate (MODEL_CACHE_BYTES), applied to the cache. */
function budgetOf(env: Env): number {
  modelCache.limit = intVar(env.MODEL_CACHE_BYTES, DEFAULTS.cacheBytes);
  return modelCache.limit;
}

/** The R2 bucket with every call bounded in time (503 storage_unavailable on failure). */
export function bucketOf(env: Env): R2Bucket {
  return guardBucket(env.MODELS, intVar(env.R2_TIMEOUT_MS, DEFAULTS.r2TimeoutMs));
}

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
// conditional and range requests

/** If-None-Match against our strong ETag (weak comparison, as RFC 9110 says for this header). */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/**
 * One byte range of a `size`-byte entity; null = serve the whole entity (no Range, an unknown
 * unit, several ranges, or a malformed one: RFC 9110 §14.2 lets a server ignore those); throws
 * 416 for a well-formed range that does not overlap the entity.
 */
function parseRange(header: string | undefined, size: number): { offset: number; length: number } | null {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return null; // unknown unit: ignore
  const specs = m[1]!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (specs.length !== 1) return null; // multiple ranges: we answer with the whole entity
  const r = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (!r || (r[1] === '' && r[2] === '')) return null; // malformed: ignore
  const unsatisfiable = (): never => {
    throw new HttpError('range_not_satisfiable', `range ${JSON.stringify(header)} is outside the ${size}-byte model`, {
      'content-range': `bytes */${size}`,
    });
  };
  if (r[1] === '') {
    const suffix = Number(r[2]);
    if (suffix === 0 || size === 0) return unsatisfiable();
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const first = Number(r[1]);
  if (r[2] !== '' && Number(r[2]) < first) return null; // last < first: malformed, ignore
  if (first >= size) return unsatisfiable();
  const last = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
  return { offset: first, length: last - first + 1 };
}

// ---------------------------------------------------------------------------------------------
// model loading (cached)

function ioInfo(s: Session): { inputs: IoInfo[]; outputs: IoInfo[] } {
  const f = (names: readonly string[], info: Session['inputInfo']): IoInfo[] =>
    names.map((name) => ({ name, dtype: info[name]!.dtype, dims: info[name]!.dims ? [...info[name]!.dims!] : null }));
  return { inputs: f(s.inputNames, s.inputInfo), outputs: f(s.outputNames, s.outputInfo) };
}

/** Runs a model; a plan that does not fit the model's memory limit is retried once with every other plan dropped. */
async function runWithin(m: CachedModel, feeds: Parameters<Session['run']>[0]): ReturnType<Session['run']> {
  try {
    return await m.session.run(feeds);
  } catch (e) {
    if (!isSparrowError(e) || e.code !== 'too_large') throw e;
  }
  m.session.dropPlans();
  try {
    return await m.session.run(feeds);
  } catch (e) {
    if (!isSparrowError(e) || e.code !== 'too_large') throw e;
    throw new HttpError('too_large', `this request does not fit the model's memory limit of ${m.capBytes} bytes: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// the app

export const app = new Hono<App>({ strict: true });

app.onError((err, c) => toErrorResponse(err, c.req.method));

// Workers have no native CRC-32: the container checks (PUT admission, loads, labels, tokenizers)
// run the WASM one (src/wasm/crc32.ts), set up synchronously once per isolate, no shared promise
app.use('*', async (_c, next) => {
  useWasmCrc32(wasmModule);
  await next();
});

// A client that goes away cancels its request's pending work in workerd: a handler stopped between
// two awaits would never run its `finally` (a load's place in the cache's queue, a pin), and every
// later request waiting on that promise would hang ("cross-request promise cancellation"). So
// every model route runs to its end through waitUntil (an inference or a load: seconds, under the
// 30 s waitUntil allows); /generate streams release their model from the stream's cancel.
app.use('/v1/models/:ref/*', keepRunning);
app.use('/v1/models/:ref', keepRunning);
async function keepRunning(c: Context<App>, next: Next): Promise<void> {
  const done = next();
  try {
    c.executionCtx.waitUntil(done.catch(() => undefined));
  } catch {
    // no ExecutionContext (app.fetch called without one): nothing can cancel us either
  }
  await done;
}
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
  const models = await listModels(bucketOf(c.env));
  return json({ models }, 200, { 'cache-control': 'no-store' });
});
app.all('/v1/models', methodNotAllowed('GET, HEAD'));

app.on(['GET', 'HEAD'], '/v1/models/:ref', async (c) => {
  const { id, version } = parseRef(c.req.param('ref'));
  const head = c.req.method === 'HEAD';
  const bucket = bucketOf(c.env);
  const { entry } = await resolve(bucket, id, version);
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
  const { object, entry: got } = await getModelObject(bucket, id, version ?? null, { ...(r2Range ? { range: r2Range } : {}), head });
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
    const whole = await readBlob(bucket, id, got.sha256);
    if (!whole) throw new HttpError('model_not_found', `model '${id}' changed while being read; retry`);
    return new Response(whole as Uint8Array<ArrayBuffer>, { status, headers });
  }
  return new Response(object.body, { status, headers });
});

app.put('/v1/models/:ref', async (c) => {
  await requireAdmin(c);
  const { id, version } = parseRef(c.req.param('ref'), { create: true });
  if (version !== null) throw new HttpError('invalid_id', 'PUT to /v1/models/<id> (versions are assigned by the server)');
  const maxBytes = intVar(c.env.MAX_MODEL_BYTES, DEFAULTS.maxModelBytes);
  const budget = budgetOf(c.env);
  const bytes = await readBody(c.req.raw, maxBytes, 'the model');
  if (bytes.length === 0) throw new HttpError('invalid_request', 'empty body: PUT a .sparrow file');
  // 1. the container: magic, version, CRCs, limits, declared decoded sizes against the budget
  const { header } = checkContainer(bytes, maxBytes, budget);
  const maxBatch = effectiveMaxBatch(c.req.query('maxBatch'), header);
  // 2. admission: every section decoded, plans at batch 1 and maxBatch built and run, all within
  //    the budget (admit.ts); the admitted session joins the cache
  const engine = engineOf(c.env);
  const sha = await sha256Hex(bytes);
  let m: CachedModel;
  try {
    m = await modelCache.acquire(modelKey(sha, engine, maxBatch), {
      load: (cap) => loadModel(bytes, cap, { engine, maxModelBytes: maxBytes, budget, maxBatch, verify: true }),
    });
  } catch (e) {
    throw loadError(e, engine, budget);
  }
  let io: { inputs: IoInfo[]; outputs: IoInfo[] };
  let figures: StoredFigures;
  try {
    io = ioInfo(m.session);
    figures = m.figures as StoredFigures;
  } finally {
    modelCache.release(m);
  }
  // 3. stored: blob, then the pointer (one conditional put)
  const ptr = await putModel(bucketOf(c.env), id, bytes, sha, io, { maxBatch, memory: figures });
  return json({ id, version: ptr.version, bytes: ptr.bytes, sha256: sha, inputs: io.inputs, outputs: io.outputs, maxBatch }, 201, {
    location: `/v1/models/${id}@${ptr.version}`,
    etag: `"${sha}"`,
    'cache-control': 'no-store',
  });
});

app.delete('/v1/models/:ref', async (c) => {
  await requireAdmin(c);
  const { id, version } = parseRef(c.req.param('ref'));
  if (version !== null) throw new HttpError('invalid_id', 'DELETE /v1/models/<id> removes all versions; single versions cannot be deleted');
  if ((await deleteModel(bucketOf(c.env), id)) === 'absent') throw new HttpError('model_not_found', `no model '${id}'`);
  return new Response(null, { status: 204 });
});
app.all('/v1/models/:ref', methodNotAllowed('GET, HEAD, PUT, DELETE'));

app.post('/v1/models/:ref/infer', async (c) => {
  const { id, version } = parseRef(c.req.param('ref'));
  const kind = bodyKind(c.req.header('content-type')); // 415 before anything else
  const engine = engineOf(c.env);
  const bucket = bucketOf(c.env);
  const { entry } = await resolve(bucket, id, version);
  const body = await readBody(c.req.raw, intVar(c.env.MAX_INFER_BYTES, DEFAULTS.maxInferBytes), 'the request body');
  let parsed: unknown;
  if (kind === 'json') {
    try {
      parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch (e) {
      throw new HttpError('invalid_json', `body is not JSON (${(e as Error).message}); send {"inputs":{...}} or application/x-npy`);
    }
  }
  const key = modelKey(entry.sha256, engine, entry.maxBatch);
  const loader = storedLoader({
    bucket,
    id,
    entry,
    engine,
    maxModelBytes: intVar(c.env.MAX_MODEL_BYTES, DEFAULTS.maxModelBytes),
    budget: budgetOf(c.env),
  });
  const { outputs, ms, session } = await modelCache.use(key, loader, async (m) => {
    // dims, dtypes and the batch bound are checked before the engine sees the request
    const feeds = kind === 'npy' ? feedsFromNpy(m.session, body, m.maxBatch) : feedsFromJson(m.session, parsed, m.maxBatch);
    const t0 = performance.now();
    const outputs = await runWithin(m, feeds);
    return { outputs, ms: performance.now() - t0, session: m.session };
  });
  const headers = {
    'cache-control': 'no-store',
    'x-sparrow-engine': session.engine,
    'x-sparrow-version': String(entry.version),
    'x-sparrow-ms': ms.toFixed(3),
  };
  if (kind === 'npy') {
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
registerClassifyRoute(app, modelCache);

/**
 * This isolate's memory (tracked: charges of the cached models + loads in flight, never above the
 * budget; held: what the cached sessions hold now) and cache counters; for the token holder.
 */
app.get('/v1/_stats', async (c) => {
  await requireAdmin(c);
  budgetOf(c.env);
  const models = modelCache.models().map(({ key, ...m }) => {
    const [sha256, engine] = key.split(':');
    return { sha256, engine, ...m };
  });
  return json({ engine: engineOf(c.env), memory: modelCache.memory(), cache: { ...modelCache.snapshot(), models } }, 200, {
    'cache-control': 'no-store',
  });
});
app.all('/v1/_stats', methodNotAllowed('GET, HEAD'));

export type { Env, R2Bucket } from './env.js';
export type { ModelCache } from './cache.js';

/** Options of createApp. */
export interface CreateAppOptions {
  /**
   * Bindings and vars laid over the Worker's `env` for this app (e.g. `{ ENGINE: 'sparrow-f32' }`,
   * or `{ MODELS: env.OTHER_BUCKET }` when your R2 binding has another name); the names are
   * those of wrangler.toml [vars] (src/worker/env.ts)
   */
  env?: Partial<Env> | ((env: Env) => Partial<Env>);
  /** path prefix the routes answer under, e.g. '/ml' (default: none); not needed with `app.mount('/ml', sparrow.fetch)` */
  basePath?: string;
}

/**
 * Builds the Sparrow model API as a Hono app, to mount in your own Worker:
 *
 *   import { Hono } from 'hono';
 *   import { createApp } from 'sparrow-edge/worker';
 *   const app = new Hono();
 *   app.mount('/ml', createApp().fetch);      // or: app.route('/', createApp({ basePath: '/ml' }))
 *   export default app;
 *
 * The routes are those of ../shared/CONTRACT.md; every app of an isolate shares its model cache.
 * Your wrangler.toml needs the MODELS R2 binding (or `env`) and the `*.wasm` CompiledWasm rule.
 */
export function createApp(options: CreateAppOptions = {}): Hono<App> {
  const base = (options.basePath ?? '').replace(/\/+$/, '');
  if (base !== '' && !base.startsWith('/')) throw new TypeError(`basePath must start with '/': ${options.basePath}`);
  const outer = new Hono<App>({ strict: true });
  outer.all('*', (c) => {
    let req = c.req.raw;
    if (base !== '') {
      const url = new URL(req.url);
      if (url.pathname !== base && !url.pathname.startsWith(`${base}/`)) return c.notFound();
      url.pathname = url.pathname.slice(base.length) || '/';
      req = new Request(url, req);
    }
    const over = typeof options.env === 'function' ? options.env(c.env) : options.env;
    let ctx: unknown;
    try {
      ctx = c.executionCtx;
    } catch {
      ctx = undefined; // no ExecutionContext (tests, Node)
    }
    return app.fetch(req, over ? { ...c.env, ...over } : c.env, ctx as never);
  });
  return outer;
}

export default {
  fetch(request: Request, env: Env, ctx?: unknown): Response | Promise<Response> {
    return app.fetch(request, env, ctx as never);
  },
};
