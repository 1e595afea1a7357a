// Issue 15, faults: R2 errors and timeouts (get, put, head, delete, list) injected through a
// wrapped MODELS binding become 503 storage_unavailable (JSON, Retry-After), and never leave a
// half-visible version: after each failure, what a client can read (through the real binding and
// the Worker as deployed) is either the state before or the complete new version.
import { env, exports } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { app, modelCache } from '../../src/worker/index.js';
import type { Env, R2Bucket } from '../../src/worker/env.js';
import { variant } from '../helpers/worker_models.js';

const TOKEN = 'test-admin-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const B = 'http://sparrow.test';
const fromB64 = (s: unknown): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(String(s)), (c) => c.charCodeAt(0));
const MNIST = fromB64(env.TEST_MNIST_B64);
const REAL = env.MODELS as R2Bucket;

type Op = 'get' | 'put' | 'head' | 'delete' | 'list';
/** What the wrapped binding does for a call: pass it on, fail it, or never answer. */
type Fault = (op: Op, key: string) => 'ok' | 'throw' | 'hang';

function faulty(fault: Fault): R2Bucket {
  const act = <T>(op: Op, key: string, real: () => Promise<T>): Promise<T> => {
    const f = fault(op, key);
    if (f === 'throw') return Promise.reject(new Error(`injected R2 ${op} failure (${key})`));
    if (f === 'hang') return new Promise<T>(() => {});
    return real();
  };
  return {
    get: (k, o) => act('get', k, () => REAL.get(k, o)),
    head: (k) => act('head', k, () => REAL.head(k)),
    put: (k, v, o) => act('put', k, () => REAL.put(k, v, o)),
    delete: (k) => act('delete', Array.isArray(k) ? k.join(',') : k, () => REAL.delete(k)),
    list: (o) => act('list', o?.prefix ?? '', () => REAL.list(o)),
  };
}

/** The Worker on the wrapped binding (R2 calls time out after 300 ms). */
function withFaults(fault: Fault, path: string, init: RequestInit = {}): Promise<Response> {
  const e: Env = { ...(env as unknown as Env), MODELS: faulty(fault), R2_TIMEOUT_MS: '300' };
  return Promise.resolve(app.fetch(new Request(`${B}${path}`, init), e));
}
const req = (path: string, init: RequestInit = {}): Promise<Response> => exports.default.fetch(`${B}${path}`, init);

async function unavailable(res: Response, what: string): Promise<void> {
  expect(res.status, what).toBe(503);
  expect(res.headers.get('content-type'), what).toMatch(/^application\/json/);
  expect(Number(res.headers.get('retry-after')), what).toBeGreaterThan(0);
  const text = await res.text();
  if (text === '') return; // HEAD: no body
  const j = JSON.parse(text) as { error: { code: string; message: string } };
  expect(j.error.code, what).toBe('storage_unavailable');
}

async function sha256Hex(b: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', b as Uint8Array<ArrayBuffer>))]
    .map((x) => x.toString(16).padStart(2, '0'))
    .join('');
}
/** What clients see of `id`: listing entry, current bytes' hash and version, and every kept version's bytes. */
async function visible(id: string): Promise<string> {
  const list = (await (await req('/v1/models')).json()) as { models: Array<{ id: string; version: number; sha256: string }> };
  const entry = list.models.find((m) => m.id === id);
  const cur = await req(`/v1/models/${id}`);
  const body = new Uint8Array(await cur.arrayBuffer());
  const parts = [
    JSON.stringify(entry ?? null),
    `${cur.status} ${cur.headers.get('x-sparrow-version')} ${cur.status === 200 ? await sha256Hex(body) : ''}`,
  ];
  if (entry) {
    for (let v = 1; v <= entry.version; v++) {
      const r = await req(`/v1/models/${id}@${v}`);
      const b = new Uint8Array(await r.arrayBuffer());
      parts.push(`@${v} ${r.status} ${r.status === 200 ? await sha256Hex(b) : ''}`);
      if (r.status === 200) expect(r.headers.get('etag')).toBe(`"${await sha256Hex(b)}"`); // never a mix
    }
  }
  return parts.join('\n');
}

const put = (id: string, body: Uint8Array<ArrayBuffer>): Promise<Response> =>
  req(`/v1/models/${id}`, { method: 'PUT', body, headers: AUTH });

describe('R2 faults → 503 with Retry-After, never a half-visible version', () => {
  beforeAll(async () => {
    expect((await put('f-model', MNIST)).status).toBe(201);
  });

  it('reads: get/head/list errors and timeouts are 503 on every route', async () => {
    for (const mode of ['throw', 'hang'] as const) {
      await unavailable(await withFaults((op) => (op === 'get' ? mode : 'ok'), '/v1/models/f-model'), `GET ptr ${mode}`);
      await unavailable(await withFaults((op) => (op === 'list' ? mode : 'ok'), '/v1/models'), `list ${mode}`);
      await unavailable(
        await withFaults((op) => (op === 'head' ? mode : 'ok'), '/v1/models/f-model', { method: 'HEAD' }),
        `HEAD blob ${mode}`,
      );
      await unavailable(
        await withFaults((op, k) => (op === 'get' && k.startsWith('blob/') ? mode : 'ok'), '/v1/models/f-model'),
        `GET blob ${mode}`,
      );
      // inference on a model that is not cached: reading its bytes fails
      modelCache.clear();
      await unavailable(
        await withFaults((op, k) => (op === 'get' && k.startsWith('blob/') ? mode : 'ok'), '/v1/models/f-model/infer', {
          method: 'POST',
          body: JSON.stringify({ inputs: { Input3: { dims: [1, 1, 28, 28], data: new Array(784).fill(0) } } }),
          headers: { 'content-type': 'application/json' },
        }),
        `infer load ${mode}`,
      );
    }
    // healthy again: the same requests succeed
    expect((await req('/v1/models/f-model')).status).toBe(200);
  });

  it('PUT: a failing blob put, pointer read or pointer put (error or timeout) is 503 and nothing changes', async () => {
    const next = variant(MNIST, 1);
    const before = await visible('f-model');
    const faults: Array<[string, Fault]> = [
      ['blob put throws', (op, k) => (op === 'put' && k.startsWith('blob/') ? 'throw' : 'ok')],
      ['blob put hangs', (op, k) => (op === 'put' && k.startsWith('blob/') ? 'hang' : 'ok')],
      ['pointer read throws', (op, k) => (op === 'get' && k.startsWith('ptr/') ? 'throw' : 'ok')],
      ['pointer put throws', (op, k) => (op === 'put' && k.startsWith('ptr/') ? 'throw' : 'ok')],
      ['pointer put hangs', (op, k) => (op === 'put' && k.startsWith('ptr/') ? 'hang' : 'ok')],
    ];
    for (const [what, f] of faults) {
      await unavailable(await withFaults(f, '/v1/models/f-model', { method: 'PUT', body: next, headers: AUTH }), what);
      expect(await visible('f-model'), what).toBe(before);
    }
    // the same PUT on a healthy binding: the complete new version
    const ok = await put('f-model', next);
    expect(ok.status).toBe(201);
    const v = ((await ok.json()) as { version: number }).version;
    expect(new Uint8Array(await (await req(`/v1/models/f-model@${v}`)).arrayBuffer())).toEqual(next);
  });

  it('PUT: once the pointer is written, failing housekeeping (old blobs) does not fail it', async () => {
    // 8 kept versions; the 9th drops the oldest blob, whose head/delete fail
    for (let k = 10; k < 18; k++) expect((await put('f-hist', variant(MNIST, k))).status).toBe(201);
    const ninth = variant(MNIST, 18);
    const res = await withFaults(
      (op, k) => ((op === 'head' || op === 'delete') && k.startsWith('blob/') ? 'throw' : 'ok'),
      '/v1/models/f-hist',
      {
        method: 'PUT',
        body: ninth,
        headers: AUTH,
      },
    );
    expect(res.status).toBe(201);
    const v = ((await res.json()) as { version: number }).version;
    expect(v).toBe(9);
    expect(new Uint8Array(await (await req('/v1/models/f-hist')).arrayBuffer())).toEqual(ninth);
    await visible('f-hist'); // every kept version complete
  });

  it('DELETE: a failing tombstone put is 503 and the model stays; a failing blob cleanup is 503, the model is gone, a retry finishes', async () => {
    expect((await put('f-del', MNIST)).status).toBe(201);
    const before = await visible('f-del');
    for (const mode of ['throw', 'hang'] as const) {
      await unavailable(
        await withFaults((op, k) => (op === 'put' && k.startsWith('ptr/') ? mode : 'ok'), '/v1/models/f-del', {
          method: 'DELETE',
          headers: AUTH,
        }),
        `tombstone ${mode}`,
      );
      expect(await visible('f-del')).toBe(before);
    }
    await unavailable(
      await withFaults((op) => (op === 'delete' ? 'throw' : 'ok'), '/v1/models/f-del', { method: 'DELETE', headers: AUTH }),
      'blob delete',
    );
    expect((await req('/v1/models/f-del')).status).toBe(404);
    expect((await REAL.list({ prefix: 'blob/f-del/' })).objects.length).toBe(1); // left over
    expect((await req('/v1/models/f-del', { method: 'DELETE', headers: AUTH })).status).toBe(204); // finishes the cleanup
    expect((await REAL.list({ prefix: 'blob/f-del/' })).objects.length).toBe(0);
    expect((await req('/v1/models/f-del', { method: 'DELETE', headers: AUTH })).status).toBe(404);
    // the version counter survived: the next PUT is version 2
    const again = await put('f-del', MNIST);
    expect(((await again.json()) as { version: number }).version).toBe(2);
  });
});
