// Request-level tests of the Worker inside workerd (@cloudflare/vitest-pool-workers), with the
// R2 binding of wrangler.toml. Models: the bundled examples compressed as `npm start` does
// (test/helpers/examples.ts, awaited by vitest.config.ts when this pool starts), passed in as base64 bindings.
import { env, exports } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { readContainer } from '../../src/format/container.js';
import { parseNpy, writeNpy } from '../../src/io/npy.js';

const TOKEN = 'test-admin-token';
const B = 'http://sparrow.test';
const fromB64 = (s: unknown): Uint8Array => Uint8Array.from(atob(String(s)), (c) => c.charCodeAt(0));
const MNIST = fromB64(env.TEST_MNIST_B64) as Uint8Array<ArrayBuffer>;
const RESNET = fromB64(env.TEST_RESNET_B64) as Uint8Array<ArrayBuffer>;
const DIGITS = parseNpy(fromB64(env.TEST_DIGITS_B64));
const LABELS = parseNpy(fromB64(env.TEST_LABELS_B64)).data as Uint8Array;

async function sha256Hex(b: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', b as Uint8Array<ArrayBuffer>))]
    .map((x) => x.toString(16).padStart(2, '0'))
    .join('');
}
function req(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(`${B}${path}`, init);
}
function put(id: string, body: BodyInit | null, token: string | null = TOKEN, headers: Record<string, string> = {}): Promise<Response> {
  return req(`/v1/models/${id}`, {
    method: 'PUT',
    body,
    headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
}
async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  expect(res.headers.get('content-type'), `${res.status} ${res.url}`).toMatch(/^application\/json/);
  const j = (await res.json()) as { error: { code: string; message: string } };
  expect(j.error, `${res.status} ${res.url}: ${JSON.stringify(j)}`).toBeDefined();
  expect(typeof j.error.message).toBe('string');
  expect(j.error.message.length).toBeGreaterThan(0);
  return { status: res.status, code: j.error.code, message: j.error.message };
}
/** Everything a client can observe of the stored models (to prove a bad request changed nothing). */
async function snapshot(): Promise<string> {
  const list = await (await req('/v1/models')).text();
  const parts = [list];
  for (const m of (JSON.parse(list) as { models: Array<{ id: string }> }).models) {
    const r = await req(`/v1/models/${m.id}`);
    parts.push(`${m.id} ${r.status} ${r.headers.get('etag')} ${await sha256Hex(new Uint8Array(await r.arrayBuffer()))}`);
  }
  return parts.join('\n');
}
function digit(i: number): number[] {
  return Array.from((DIGITS.data as Uint8Array).subarray(i * 784, (i + 1) * 784), (v) => v / 255);
}
const inferBody = (data: unknown, dims: unknown = [1, 1, 28, 28], name = 'Input3'): string =>
  JSON.stringify({ inputs: { [name]: { dims, data } } });
const infer = (id: string, body: BodyInit, ct = 'application/json'): Promise<Response> =>
  req(`/v1/models/${id}/infer`, { method: 'POST', body, headers: { 'content-type': ct } });
const argmax = (d: number[]): number => d.indexOf(Math.max(...d));

describe('worker API in workerd', () => {
  beforeAll(async () => {
    const r = await put('mnist-8', MNIST);
    expect(r.status).toBe(201);
  });

  it('GET /healthz', async () => {
    const r = await req('/healthz');
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ok: true });
  });

  it('PUT stores a model and GET /v1/models lists id, version, bytes, inputs, outputs', async () => {
    const r = await put('resnet20-cifar10', RESNET);
    expect(r.status).toBe(201);
    const created = (await r.json()) as { version: number; sha256: string };
    expect(created.sha256).toBe(await sha256Hex(RESNET));
    const list = (await (await req('/v1/models')).json()) as { models: Array<Record<string, unknown>> };
    const m = list.models.find((x) => x.id === 'resnet20-cifar10')!;
    expect(m).toMatchObject({
      version: created.version,
      bytes: RESNET.length,
      inputs: [{ name: 'input', dtype: 'float32' }],
      outputs: [{ name: 'logits' }],
    });
    expect(list.models.find((x) => x.id === 'mnist-8')).toMatchObject({
      bytes: MNIST.length,
      inputs: [{ name: 'Input3', dtype: 'float32', dims: [1, 1, 28, 28] }],
      outputs: [{ name: 'Plus214_Output_0', dims: [1, 10] }],
    });
  });

  it('GET streams the container with a strong SHA-256 ETag; versioned URLs are immutable', async () => {
    const r = await req('/v1/models/mnist-8');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/vnd.sparrow');
    const bytes = new Uint8Array(await r.arrayBuffer());
    expect(bytes).toEqual(MNIST);
    expect(r.headers.get('etag')).toBe(`"${await sha256Hex(MNIST)}"`);
    expect(r.headers.get('cache-control')).toMatch(/no-cache/);
    expect(r.headers.get('accept-ranges')).toBe('bytes');
    const v = r.headers.get('x-sparrow-version');
    const rv = await req(`/v1/models/mnist-8@${v}`);
    expect(rv.status).toBe(200);
    expect(rv.headers.get('cache-control')).toMatch(/immutable/);
    expect(new Uint8Array(await rv.arrayBuffer())).toEqual(MNIST);
    const h = await req('/v1/models/mnist-8', { method: 'HEAD' });
    expect(h.status).toBe(200);
    expect(h.headers.get('content-length')).toBe(String(MNIST.length));
    expect(h.headers.get('etag')).toBe(r.headers.get('etag'));
    expect((await h.arrayBuffer()).byteLength).toBe(0);
  });

  it('Range (206, suffix, 416) and If-None-Match (304)', async () => {
    const etag = (await req('/v1/models/mnist-8', { method: 'HEAD' })).headers.get('etag')!;
    const r = await req('/v1/models/mnist-8', { headers: { range: 'bytes=10-109' } });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe(`bytes 10-109/${MNIST.length}`);
    expect(new Uint8Array(await r.arrayBuffer())).toEqual(MNIST.subarray(10, 110));
    const s = await req('/v1/models/mnist-8', { headers: { range: 'bytes=-16' } });
    expect(s.status).toBe(206);
    expect(new Uint8Array(await s.arrayBuffer())).toEqual(MNIST.subarray(MNIST.length - 16));
    const open = await req('/v1/models/mnist-8', { headers: { range: `bytes=${MNIST.length - 5}-` } });
    expect(new Uint8Array(await open.arrayBuffer())).toEqual(MNIST.subarray(MNIST.length - 5));
    const bad = await req('/v1/models/mnist-8', { headers: { range: `bytes=${MNIST.length}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${MNIST.length}`);
    expect((await errorOf(bad)).code).toBe('range_not_satisfiable');
    const nm = await req('/v1/models/mnist-8', { headers: { 'if-none-match': etag } });
    expect(nm.status).toBe(304);
    expect(nm.headers.get('etag')).toBe(etag);
    const other = await req('/v1/models/mnist-8', { headers: { 'if-none-match': '"0000"' } });
    expect(other.status).toBe(200);
    await other.arrayBuffer();
  });

  it('a new version becomes current; the old one stays readable by version', async () => {
    expect((await put('swap', MNIST)).status).toBe(201);
    const r2 = await put('swap', RESNET);
    const v2 = ((await r2.json()) as { version: number }).version;
    expect(r2.headers.get('location')).toBe(`/v1/models/swap@${v2}`);
    expect(new Uint8Array(await (await req('/v1/models/swap')).arrayBuffer())).toEqual(RESNET);
    expect(new Uint8Array(await (await req(`/v1/models/swap@${v2 - 1}`)).arrayBuffer())).toEqual(MNIST);
    const missing = await req(`/v1/models/swap@${v2 + 5}`);
    expect(await errorOf(missing)).toMatchObject({ status: 404, code: 'version_not_found' });
  });

  it('POST infer (JSON) classifies real MNIST digits; a repeat hits the cache (no new decode)', async () => {
    let correct = 0;
    for (let i = 0; i < 16; i++) {
      const r = await infer('mnist-8', inferBody(digit(i)));
      expect(r.status).toBe(200);
      const j = (await r.json()) as { outputs: Record<string, { dims: number[]; data: number[] }>; ms: number };
      expect(j.outputs.Plus214_Output_0!.dims).toEqual([1, 10]);
      expect(typeof j.ms).toBe('number');
      if (argmax(j.outputs.Plus214_Output_0!.data) === LABELS[i]) correct++;
    }
    expect(correct).toBeGreaterThanOrEqual(14);
    const stats = { headers: { authorization: `Bearer ${TOKEN}` } };
    const before = ((await (await req('/v1/_stats', stats)).json()) as { cache: { decodes: number } }).cache.decodes;
    await (await infer('mnist-8', inferBody(digit(0)))).arrayBuffer();
    const after = ((await (await req('/v1/_stats', stats)).json()) as { cache: { decodes: number } }).cache.decodes;
    expect(after).toBe(before);
  });

  it('POST infer with uint8 pixels applies the stored preprocessing (same result as pixel/255)', async () => {
    const px = Array.from((DIGITS.data as Uint8Array).subarray(0, 784));
    const a = (await (
      await infer('mnist-8', JSON.stringify({ inputs: { Input3: { dims: [1, 1, 28, 28], dtype: 'uint8', data: px } } }))
    ).json()) as { outputs: Record<string, { data: number[] }> };
    const b = (await (await infer('mnist-8', inferBody(digit(0)))).json()) as { outputs: Record<string, { data: number[] }> };
    expect(a.outputs.Plus214_Output_0!.data).toEqual(b.outputs.Plus214_Output_0!.data);
  });

  it('POST infer with application/x-npy returns application/x-npy, same numbers as JSON', async () => {
    const x = new Float32Array(digit(3));
    const r = await infer('mnist-8', writeNpy(x, [1, 1, 28, 28]) as Uint8Array<ArrayBuffer>, 'application/x-npy');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/x-npy');
    const y = parseNpy(new Uint8Array(await r.arrayBuffer()));
    expect(y.shape).toEqual([1, 10]);
    const j = (await (await infer('mnist-8', inferBody(Array.from(x)))).json()) as { outputs: Record<string, { data: number[] }> };
    expect(Array.from(y.data as Float32Array)).toEqual(j.outputs.Plus214_Output_0!.data);
    expect(argmax(Array.from(y.data as Float32Array))).toBe(LABELS[3]);
  });

  it('bad writes: no token, wrong token (401); truncated, corrupt, not a model (400); oversized (413) - nothing changes', async () => {
    const before = await snapshot();
    expect(await errorOf(await put('mnist-8', RESNET, null))).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(await errorOf(await put('mnist-8', RESNET, 'wrong-token'))).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(await errorOf(await put('mnist-8', RESNET, TOKEN.slice(0, -1)))).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(await errorOf(await put('new-model', MNIST, null))).toMatchObject({ status: 401 });
    expect(await errorOf(await put('mnist-8', MNIST.slice(0, MNIST.length - 7)))).toMatchObject({ status: 400, code: 'truncated' });
    expect(await errorOf(await put('mnist-8', MNIST.slice(0, 40)))).toMatchObject({ status: 400 });
    const corrupt = MNIST.slice();
    corrupt[corrupt.length - 20]! ^= 0x10;
    expect(await errorOf(await put('mnist-8', corrupt))).toMatchObject({ status: 400, code: 'checksum_mismatch' });
    const meta = MNIST.slice();
    meta[200]! ^= 1;
    expect((await errorOf(await put('mnist-8', meta))).status).toBe(400);
    expect(await errorOf(await put('mnist-8', new TextEncoder().encode('hello, not a model')))).toMatchObject({
      status: 400,
      code: 'bad_magic',
    });
    expect(await errorOf(await put('mnist-8', new Uint8Array(0)))).toMatchObject({ status: 400 });
    // over MAX_MODEL_BYTES (1 MiB in this test config), by Content-Length
    expect(await errorOf(await put('mnist-8', new Uint8Array(1024 * 1024 + 1)))).toMatchObject({ status: 413, code: 'payload_too_large' });
    // (a streamed body without Content-Length is counted too: tested over HTTP in test/worker.e2e.test.ts)
    expect(await snapshot()).toBe(before);
  });

  it('a valid container without a graph (weights only) is refused with 422', async () => {
    const { writeContainer, Codec, DType } = await import('../../src/format/container.js');
    const weightsOnly = writeContainer({ tensors: [{ name: 'w', shape: [4], dtype: 'float32', section: 0 }] }, [
      { codec: Codec.Raw, dtype: DType.Float32, payload: new Uint8Array(16), decodedBytes: 16 },
    ]);
    readContainer(weightsOnly); // valid as a container
    const before = await snapshot();
    const r = await errorOf(await put('weights-only', weightsOnly as Uint8Array<ArrayBuffer>));
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(await snapshot()).toBe(before);
  });

  it('bad inference inputs: wrong dims, element count, NaN/Infinity, non-JSON, unknown/missing input, dtype, body size', async () => {
    const before = await snapshot();
    const ok = digit(1);
    const cases: Array<[BodyInit, string, number, string]> = [
      [inferBody(ok, [1, 1, 28, 27]), 'application/json', 400, 'invalid_dims'],
      [inferBody(ok, [1, 28, 28]), 'application/json', 400, 'invalid_dims'],
      [inferBody(ok, [1, 1, 28, -28]), 'application/json', 400, 'invalid_dims'],
      [inferBody(ok, 'x'), 'application/json', 400, 'invalid_dims'],
      [inferBody(ok.slice(1)), 'application/json', 400, 'element_count_mismatch'],
      [inferBody([...ok, 0]), 'application/json', 400, 'element_count_mismatch'],
      [inferBody([NaN, ...ok.slice(1)]), 'application/json', 400, 'non_finite'], // JSON.stringify(NaN) = null
      [inferBody(['NaN', ...ok.slice(1)]), 'application/json', 400, 'non_finite'],
      [`{"inputs":{"Input3":{"dims":[1,1,28,28],"data":[1e999${',0'.repeat(783)}]}}}`, 'application/json', 400, 'non_finite'],
      [inferBody([1e39, ...ok.slice(1)]), 'application/json', 400, 'non_finite'], // beyond float32
      [inferBody(['a', ...ok.slice(1)]), 'application/json', 400, 'invalid_request'],
      ['this is not json', 'application/json', 400, 'invalid_json'],
      ['{"inputs":', 'text/plain', 400, 'invalid_json'],
      ['{"inputs":{}}', 'image/png', 415, 'unsupported_media_type'],
      ['{}', 'application/json', 400, 'invalid_request'],
      [inferBody(ok, [1, 1, 28, 28], 'Nope'), 'application/json', 400, 'unknown_input'],
      [JSON.stringify({ inputs: {} }), 'application/json', 400, 'missing_input'],
      [
        JSON.stringify({ inputs: { Input3: { dims: [1, 1, 28, 28], dtype: 'int64', data: ok } } }),
        'application/json',
        400,
        'invalid_dtype',
      ],
      [new Uint8Array([1, 2, 3]), 'application/x-npy', 400, 'invalid_argument'],
      [writeNpy(new Float32Array(10), [10]) as Uint8Array<ArrayBuffer>, 'application/x-npy', 400, 'invalid_dims'],
      [writeNpy(new Float32Array(784).fill(Infinity), [1, 1, 28, 28]) as Uint8Array<ArrayBuffer>, 'application/x-npy', 400, 'non_finite'],
      [new Uint8Array(4 * 1024 * 1024 + 1), 'application/json', 413, 'payload_too_large'],
    ];
    for (const [body, ct, status, code] of cases) {
      const e = await errorOf(await infer('mnist-8', body, ct));
      expect({ status: e.status, code: e.code, body: String(body).slice(0, 40) }).toEqual({
        status,
        code,
        body: String(body).slice(0, 40),
      });
    }
    expect(await snapshot()).toBe(before);
  });

  it('unknown model (404) and path tricks in the id (400/404), with or without the token - nothing changes', async () => {
    const before = await snapshot();
    expect(await errorOf(await infer('no-such-model', inferBody(digit(0))))).toMatchObject({ status: 404, code: 'model_not_found' });
    expect(await errorOf(await req('/v1/models/no-such-model'))).toMatchObject({ status: 404, code: 'model_not_found' });
    const long = 'a'.repeat(300);
    const tricks = [
      '..%2Fptr%2Fmnist-8',
      '..%2F..%2Fetc%2Fpasswd',
      '%2e%2e',
      '.hidden',
      'a%2Fb',
      'a%00b',
      long,
      'mnist-8@0',
      'mnist-8@x',
      '%20',
    ];
    for (const t of tricks) {
      for (const init of [
        {},
        { method: 'PUT', body: MNIST, headers: { authorization: `Bearer ${TOKEN}` } },
        { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } },
      ] as RequestInit[]) {
        const e = await errorOf(await req(`/v1/models/${t}`, init));
        expect([400, 404], `${init.method ?? 'GET'} ${t}`).toContain(e.status);
      }
      const e = await errorOf(await infer(t, inferBody(digit(0))));
      expect([400, 404]).toContain(e.status);
    }
    for (const p of ['/v1/models/', '/v1/models//infer', '/v1/models/../../ptr/mnist-8', '/v1/models/mnist-8/../../blob', '/v1/nothing']) {
      const e = await errorOf(await req(p, { method: 'PUT', body: MNIST, headers: { authorization: `Bearer ${TOKEN}` } }));
      expect([400, 404, 405]).toContain(e.status);
    }
    expect(await errorOf(await req(`/v1/models/${long}`))).toMatchObject({ status: 400, code: 'invalid_id' });
    expect(await snapshot()).toBe(before);
  });

  it('DELETE needs the token (401), then 204, then 404', async () => {
    expect((await put('to-delete', MNIST)).status).toBe(201);
    expect(await errorOf(await req('/v1/models/to-delete', { method: 'DELETE' }))).toMatchObject({ status: 401 });
    expect(await errorOf(await req('/v1/models/to-delete', { method: 'DELETE', headers: { authorization: 'Bearer nope' } }))).toMatchObject(
      { status: 401 },
    );
    expect((await req('/v1/models/to-delete')).status).toBe(200);
    const d = await req('/v1/models/to-delete', { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(d.status).toBe(204);
    expect(await errorOf(await req('/v1/models/to-delete'))).toMatchObject({ status: 404, code: 'model_not_found' });
    expect(
      await errorOf(await req('/v1/models/to-delete', { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })),
    ).toMatchObject({ status: 404 });
  });

  it('wrong methods give 405 with Allow', async () => {
    const r = await req('/v1/models', { method: 'POST' });
    expect(r.headers.get('allow')).toContain('GET');
    expect(await errorOf(r)).toMatchObject({ status: 405, code: 'method_not_allowed' });
    expect((await errorOf(await req('/v1/models/mnist-8/infer'))).status).toBe(405);
  });
});
