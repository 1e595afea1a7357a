// Issue 15 (Worker hardening) inside workerd: each reproduction of the adversarial review is a
// named test here ("repro N: ..."), written to fail on the Worker as it was and to pass now, plus
// the HTTP details (415, malformed Range, /v1/_stats behind the token, the id rule). Oracles: an
// independent Session of the same bytes (what a model really holds), the container's own
// declared sizes, and R2 as the test sees it through its own binding.
import { env, exports } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { wasmModule } from '../../src/worker/admit.js';
import { readContainer } from '../../src/format/container.js';
import { encodeInt8 } from '../../src/codec/int8.js';
import { parseNpy, writeNpy } from '../../src/io/npy.js';
import { loadSparrowModel } from '../../src/runtime/sparrow_model.js';
import { Session } from '../../src/runtime/session.js';
import { app } from '../../src/worker/index.js';
import type { Env, R2Bucket } from '../../src/worker/env.js';
import { addUnusedConstant, corruptWeightStream, syntheticConvNet } from '../helpers/worker_models.js';

const TOKEN = 'test-admin-token';
const B = 'http://sparrow.test';
const MiB = 1024 * 1024;
const fromB64 = (s: unknown): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(String(s)), (c) => c.charCodeAt(0));
const MNIST = fromB64(env.TEST_MNIST_B64);
const RESNET = fromB64(env.TEST_RESNET_B64);
const DIGITS = parseNpy(fromB64(env.TEST_DIGITS_B64));
const AUTH = { authorization: `Bearer ${TOKEN}` };

function req(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(`${B}${path}`, init);
}
const put = (id: string, body: BodyInit, query = ''): Promise<Response> =>
  req(`/v1/models/${id}${query}`, { method: 'PUT', body, headers: AUTH });
const del = (id: string): Promise<Response> => req(`/v1/models/${id}`, { method: 'DELETE', headers: AUTH });
const infer = (id: string, body: BodyInit, ct: string): Promise<Response> =>
  req(`/v1/models/${id}/infer`, { method: 'POST', body, headers: { 'content-type': ct } });
async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const text = await res.text();
  expect(res.headers.get('content-type'), `${res.status} ${text.slice(0, 200)}`).toMatch(/^application\/json/);
  const j = JSON.parse(text) as { error: { code: string; message: string } };
  expect(j.error, text).toBeDefined();
  return { status: res.status, code: j.error.code, message: j.error.message };
}

interface Stats {
  memory: { budget: number; tracked: number; peakTracked: number; held: number };
  cache: {
    bytes: number;
    evictions: number;
    models: Array<{ sha256: string; chargeBytes: number; wasmBytes: number; jsBytes: number; maxBatch: number }>;
  };
}
async function stats(): Promise<Stats> {
  const r = await req('/v1/_stats', { headers: AUTH });
  expect(r.status).toBe(200);
  return (await r.json()) as Stats;
}
async function sha256Hex(b: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', b as Uint8Array<ArrayBuffer>))]
    .map((x) => x.toString(16).padStart(2, '0'))
    .join('');
}
/** Everything a client can observe of the stored models. */
async function snapshot(): Promise<string> {
  const list = await (await req('/v1/models')).text();
  const parts = [list];
  for (const m of (JSON.parse(list) as { models: Array<{ id: string }> }).models) {
    const r = await req(`/v1/models/${m.id}`);
    parts.push(`${m.id} ${r.status} ${r.headers.get('etag')} ${await sha256Hex(new Uint8Array(await r.arrayBuffer()))}`);
  }
  return parts.join('\n');
}
/** uint8 CIFAR-shaped pixels [b, 3, 32, 32] as .npy */
const pixels = (b: number): Uint8Array<ArrayBuffer> =>
  writeNpy(
    Uint8Array.from({ length: b * 3072 }, (_, i) => (i * 37) & 0xff),
    [b, 3, 32, 32],
  ) as Uint8Array<ArrayBuffer>;

describe('issue 15 reproductions', () => {
  beforeAll(async () => {
    expect((await put('mnist-8', MNIST)).status).toBe(201);
  });

  it("repro 1: batch sizes beyond the model's maxBatch are refused (413) before any allocation; memory stays flat", async () => {
    expect((await put('r1-resnet', RESNET)).status).toBe(201);
    const ok = await infer('r1-resnet', pixels(32), 'application/x-npy');
    expect(ok.status).toBe(200);
    expect(parseNpy(new Uint8Array(await ok.arrayBuffer())).shape).toEqual([32, 10]);
    const before = await stats();
    for (let b = 33; b <= 44; b++) {
      const e = await errorOf(await infer('r1-resnet', pixels(b), 'application/x-npy'));
      expect(e, `batch ${b}`).toMatchObject({ status: 413, code: 'too_large' });
      expect(e.message).toContain('maxBatch 32');
    }
    const after = await stats();
    expect(after.memory.held).toBe(before.memory.held);
    expect(after.memory.tracked).toBe(before.memory.tracked);
  });

  it('repro 2: the cache charges what a model really holds (its plans at maxBatch, its JS-side constants)', async () => {
    expect((await put('r2-resnet', RESNET)).status).toBe(201);
    const r = await infer('r2-resnet', pixels(32), 'application/x-npy');
    expect(r.status).toBe(200);
    await r.arrayBuffer();
    // oracle: an independent session of the same bytes after the same batch sizes, on the module
    // the Worker uses (the relaxed-SIMD build where workerd validates it: other packed layouts)
    const s = await Session.fromSparrow(RESNET, { engine: 'sparrow-int8', wasmModule });
    const zeros = (b: number) => ({ input: { dtype: 'float32' as const, dims: [b, 3, 32, 32], data: new Float32Array(b * 3072) } });
    await s.run(zeros(1));
    await s.run(zeros(32));
    const oracle = s.memoryStats()!.wasmBytes;
    const st = await stats();
    const sha = await sha256Hex(RESNET);
    const m = st.cache.models.find((x) => x.sha256 === sha);
    expect(m, 'the model is cached').toBeDefined();
    expect(m!.wasmBytes).toBeGreaterThanOrEqual(oracle);
    expect(m!.chargeBytes).toBeGreaterThanOrEqual(m!.wasmBytes + m!.jsBytes);
    // the file's bytes stay referenced by the coded weights: JS-side memory, charged
    expect(m!.jsBytes).toBeGreaterThanOrEqual(RESNET.length);
    expect(st.cache.bytes).toBe(st.cache.models.reduce((a, x) => a + x.chargeBytes, 0));
  });

  it('repro 2b: an upload declaring more decoded bytes than the budget (a decompression bomb) is 413 before decoding', async () => {
    // with the production upload limit (16 MiB), whose old decoded limit (8 × 16 MiB) let this through
    const zeros = encodeInt8(new Int8Array(16), { codecs: [2] }).payload; // 5 bytes: zeros of any length
    const bomb = addUnusedConstant(MNIST, 120 * MiB, zeros);
    expect(bomb.length).toBeLessThan(8000);
    const declared = readContainer(bomb).header.sections.reduce((a, s) => a + s.decodedBytes, 0);
    expect(declared).toBeGreaterThan(96 * MiB);
    const before = await snapshot();
    const prod = { ...(env as unknown as Env), MAX_MODEL_BYTES: String(16 * MiB) };
    const res = await app.fetch(new Request(`${B}/v1/models/r2-bomb`, { method: 'PUT', body: bomb, headers: AUTH }), prod);
    const e = await errorOf(res);
    expect(e).toMatchObject({ status: 413, code: 'too_large' });
    expect(e.message).toContain(String(declared));
    expect(e.message).toContain(String((await stats()).memory.budget));
    expect(await snapshot()).toBe(before);
  });

  it('repro 2c: a model load decodes nothing that no node uses', async () => {
    const zeros = encodeInt8(new Int8Array(16), { codecs: [2] }).payload;
    const padded = addUnusedConstant(MNIST, 8 * MiB, zeros);
    const model = loadSparrowModel(padded, { codedInt8: true });
    expect(model.graph.values.has('unused_bomb')).toBe(false);
    const r = await put('r2-padded', padded);
    expect(r.status).toBe(201);
    const sha = await sha256Hex(padded);
    const m = (await stats()).cache.models.find((x) => x.sha256 === sha)!;
    expect(m.jsBytes).toBeLessThan(MiB);
  });

  it('repro 3: a weight stream corrupted with its checksums recomputed is refused at PUT (422 not_runnable), not blamed on clients', async () => {
    const { bytes, tensor } = corruptWeightStream(RESNET);
    readContainer(bytes); // every CRC is right
    const before = await snapshot();
    const e = await errorOf(await put('r3-corrupt', bytes));
    expect(e).toMatchObject({ status: 422, code: 'not_runnable' });
    expect(e.message).toContain('corrupt_stream');
    expect(e.message).toContain(tensor);
    expect(await snapshot()).toBe(before);
  });

  it('repro 3b: a model re-declared with input [-1,3,2048,2048] is refused at PUT (413 too_large: bytes needed, budget)', async () => {
    // a conv net that runs at any image size (ResNet-20's AveragePool + Gemm would not): fine at 32×32
    const small = await put('r3-small', syntheticConvNet(3, [-1, 3, 32, 32]));
    expect(small.status).toBe(201);
    const before = await snapshot();
    const e = await errorOf(await put('r3-huge', syntheticConvNet(3, [-1, 3, 2048, 2048])));
    expect(e).toMatchObject({ status: 413, code: 'too_large' });
    const budget = (await stats()).memory.budget;
    expect(e.message).toContain(String(budget));
    const needed = Number(/needs (?:at least )?(\d+) bytes/.exec(e.message)?.[1]);
    expect(needed).toBeGreaterThan(budget);
    expect(await snapshot()).toBe(before);
    expect((await stats()).memory.peakTracked).toBeLessThanOrEqual(budget);
  });

  it('repro 4: versions are never reused: after DELETE the next PUT is version 2 and @1 is gone', async () => {
    const r1 = await put('r4-reuse', MNIST);
    expect(((await r1.json()) as { version: number }).version).toBe(1);
    expect((await req('/v1/models/r4-reuse@1')).headers.get('cache-control')).toMatch(/immutable/);
    expect((await del('r4-reuse')).status).toBe(204);
    expect((await errorOf(await req('/v1/models/r4-reuse'))).status).toBe(404);
    expect((await req('/v1/models')).status).toBe(200);
    const list = (await (await req('/v1/models')).json()) as { models: Array<{ id: string }> };
    expect(list.models.map((m) => m.id)).not.toContain('r4-reuse');
    const r2 = await put('r4-reuse', RESNET);
    expect(r2.status).toBe(201);
    expect(((await r2.json()) as { version: number }).version).toBe(2);
    expect(await errorOf(await req('/v1/models/r4-reuse@1'))).toMatchObject({ status: 404, code: 'version_not_found' });
    expect(new Uint8Array(await (await req('/v1/models/r4-reuse@2')).arrayBuffer())).toEqual(RESNET);
  });

  it('repro 4b: two isolates creating the first version of a new id cannot both win version 1', async () => {
    // The other isolate is simulated on the R2 binding: right after this Worker has read that
    // the id is new, another writer stores its version 1 (blob, then pointer) as the Worker does.
    const bucket = env.MODELS as R2Bucket;
    const otherSha = await sha256Hex(MNIST);
    let raced = false;
    const racing: R2Bucket = {
      head: (k) => bucket.head(k),
      list: (o) => bucket.list(o),
      delete: (k) => bucket.delete(k),
      put: (k, v, o) => bucket.put(k, v, o),
      get: async (k, o) => {
        const got = await bucket.get(k, o);
        if (k === 'ptr/r4-race' && !raced) {
          raced = true;
          await bucket.put(`blob/r4-race/${otherSha}`, MNIST);
          const entry = { version: 1, sha256: otherSha, bytes: MNIST.length, uploaded: new Date().toISOString() };
          const ptr = { id: 'r4-race', ...entry, inputs: [], outputs: [], history: [entry] };
          await bucket.put('ptr/r4-race', JSON.stringify(ptr));
        }
        return got;
      },
    };
    const res = await app.fetch(new Request(`${B}/v1/models/r4-race`, { method: 'PUT', body: RESNET, headers: AUTH }), {
      ...(env as unknown as Env),
      MODELS: racing,
    });
    expect(raced).toBe(true);
    expect(res.status).toBe(201);
    expect(((await res.json()) as { version: number }).version).toBe(2);
    expect(new Uint8Array(await (await req('/v1/models/r4-race@1')).arrayBuffer())).toEqual(MNIST);
    expect(new Uint8Array(await (await req('/v1/models/r4-race@2')).arrayBuffer())).toEqual(RESNET);
  });

  it('smaller: a body other than JSON or .npy is 415 unsupported_media_type', async () => {
    // (JSON sent as text/plain or form-urlencoded, as fetch and `curl -d` do, is read as JSON, as on /generate)
    for (const ct of ['image/png', 'image/jpeg', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/xml']) {
      const e = await errorOf(await infer('mnist-8', new Uint8Array([0x89, 0x50, 0x4e, 0x47]), ct));
      expect(e, ct).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    }
    const ok = await infer(
      'mnist-8',
      JSON.stringify({ inputs: { Input3: { dims: [1, 1, 28, 28], data: new Array(784).fill(0) } } }),
      'application/json; charset=utf-8',
    );
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
  });

  it('smaller: a malformed Range is ignored (RFC 9110): 200 with the whole model', async () => {
    for (const range of ['bytes=abc', 'bytes=-', 'bytes=5-2', 'bytes=1-2-3', 'bytes= x-1']) {
      const r = await req('/v1/models/mnist-8', { headers: { range } });
      expect(r.status, range).toBe(200);
      expect(new Uint8Array(await r.arrayBuffer())).toEqual(MNIST);
    }
    const unsat = await req('/v1/models/mnist-8', { headers: { range: `bytes=${MNIST.length}-` } });
    expect(unsat.status).toBe(416);
    await unsat.arrayBuffer();
  });

  it('smaller: /v1/_stats needs the token', async () => {
    expect(await errorOf(await req('/v1/_stats'))).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(await errorOf(await req('/v1/_stats', { headers: { authorization: 'Bearer nope' } }))).toMatchObject({ status: 401 });
    expect((await stats()).memory.budget).toBeGreaterThan(0);
  });

  it('smaller: one id rule (lowercase, no trailing dot): MNIST-8 and mnist-8. are not ids', async () => {
    const before = await snapshot();
    for (const id of ['MNIST-8', 'mnist-8.', 'Mnist-8', 'a.', 'x..y']) {
      expect(await errorOf(await put(id, MNIST)), id).toMatchObject({ status: 400, code: 'invalid_id' });
    }
    for (const id of ['mnist-8.', 'a.', 'x..y']) {
      expect((await errorOf(await req(`/v1/models/${id}`))).code, id).toBe('invalid_id');
    }
    expect(await snapshot()).toBe(before);
  });

  it('smaller: reads fold case, so MNIST-8 names the one model mnist-8 (never a second one)', async () => {
    const id = 'case-fold';
    expect((await put(id, MNIST)).status).toBe(201);
    const lower = await req(`/v1/models/${id}`);
    const upper = await req(`/v1/models/CASE-Fold`);
    expect(upper.status).toBe(200);
    expect(upper.headers.get('etag')).toBe(lower.headers.get('etag'));
    expect(new Uint8Array(await upper.arrayBuffer())).toEqual(new Uint8Array(await lower.arrayBuffer()));
    expect((await errorOf(await req(`/v1/models/CASE-FOLD-2`))).code).toBe('model_not_found');
  });
});
