// Issue 15, "Done when": 40 models uploaded and 20 batch sizes run on each, inside workerd with the
// default budget (wrangler.toml MODEL_CACHE_BYTES, 96 MiB). After every request the isolate's
// tracked memory (/v1/_stats) is under the budget and what the cached sessions hold is under what
// they are charged; every answer equals, bit for bit, the same model's batch-1 answers computed by
// an independent session of the same bytes (the oracle: static int8 ranges make a row's answer
// independent of the rest of its batch). Models: 10 variants of ResNet-20 (other scales of its
// last layer: other outputs) and 30 synthetic int8 MLPs with other weights; older models are
// called again between them, so evicted ones are loaded again from R2 with their stored figures.
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import wasmModule from '../../build/sparrow.wasm';
import { parseNpy, writeNpy } from '../../src/io/npy.js';
import { Session } from '../../src/runtime/session.js';
import { app } from '../../src/worker/index.js';
import { syntheticMlp, variant } from '../helpers/worker_models.js';
import { lcg } from '../helpers/tensors.js';

const TOKEN = 'test-admin-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const fromB64 = (s: unknown): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(String(s)), (c) => c.charCodeAt(0));
const RESNET = fromB64(env.TEST_RESNET_B64);
// The app's own fetch with the pool's bindings, in this isolate: vitest-pool-workers'
// `exports.default.fetch` slows down with every call (a /healthz takes ~400 ms after ~800 calls,
// on main too), which would make 1,700 requests take most of an hour.
const req = async (path: string, init: RequestInit = {}): Promise<Response> =>
  app.fetch(new Request(`http://sparrow.test${path}`, init), env as never);

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 29, 31, 32];
const POOL = 32;

interface Model {
  id: string;
  bytes: Uint8Array<ArrayBuffer>;
  /** one input row's shape (after the batch axis) */
  row: number[];
  /** oracle: the batch-1 answer of each pool input */
  want: Float32Array[];
  pool: Float32Array[];
}

const models: Model[] = [];
const rnd = lcg(2024);

async function stats(): Promise<{
  memory: { budget: number; tracked: number; peakTracked: number; held: number };
  cache: { evictions: number; decodes: number };
}> {
  const r = await req('/v1/_stats', { headers: AUTH });
  expect(r.status).toBe(200);
  return (await r.json()) as never;
}

async function oracle(bytes: Uint8Array, row: number[]): Promise<{ pool: Float32Array[]; want: Float32Array[] }> {
  const s = await Session.fromSparrow(bytes, { engine: 'sparrow-int8', wasmModule });
  const n = row.reduce((a, b) => a * b, 1);
  const pool: Float32Array[] = [],
    want: Float32Array[] = [];
  for (let i = 0; i < POOL; i++) {
    const x = Float32Array.from({ length: n }, () => rnd() * 2 - 1);
    const out = await s.run({ [s.inputNames[0]!]: { dtype: 'float32', dims: [1, ...row], data: x } });
    pool.push(x);
    want.push(Float32Array.from(out[s.outputNames[0]!]!.data as Float32Array));
  }
  return { pool, want };
}

async function inferBatch(m: Model, b: number): Promise<void> {
  const n = m.pool[0]!.length;
  const x = new Float32Array(b * n);
  for (let i = 0; i < b; i++) x.set(m.pool[i]!, i * n);
  const r = await req(`/v1/models/${m.id}/infer`, {
    method: 'POST',
    body: writeNpy(x, [b, ...m.row]) as Uint8Array<ArrayBuffer>,
    headers: { 'content-type': 'application/x-npy' },
  });
  const body = new Uint8Array(await r.arrayBuffer());
  expect(r.status, `${m.id} batch ${b}: ${new TextDecoder().decode(body.subarray(0, 300))}`).toBe(200);
  const y = parseNpy(body);
  const k = m.want[0]!.length;
  expect(y.shape).toEqual([b, k]);
  const got = y.data as Float32Array;
  for (let i = 0; i < b; i++) {
    const row = got.subarray(i * k, (i + 1) * k);
    if (!row.every((v, j) => Object.is(v, m.want[i]![j]))) {
      expect(Array.from(row), `${m.id} batch ${b} row ${i}`).toEqual(Array.from(m.want[i]!));
    }
  }
}

async function checkMemory(where: string): Promise<void> {
  const st = await stats();
  expect(st.memory.tracked, where).toBeLessThanOrEqual(st.memory.budget);
  expect(st.memory.peakTracked, where).toBeLessThanOrEqual(st.memory.budget);
  expect(st.memory.held, where).toBeLessThanOrEqual(st.memory.tracked);
}

describe('40 models × 20 batch sizes within the isolate budget', () => {
  it('tracked memory stays under the budget and every answer equals the batch-1 oracle', { timeout: 1_200_000 }, async () => {
    const budget = (await stats()).memory.budget;
    expect(budget).toBe(96 * 1024 * 1024); // wrangler.toml's MODEL_CACHE_BYTES
    for (let k = 0; k < 40; k++) {
      const resnet = k % 4 === 0;
      const bytes = resnet ? variant(RESNET, k) : syntheticMlp(1000 + k);
      const row = resnet ? [3, 32, 32] : [256];
      const m: Model = { id: `mem-${k}`, bytes, row, ...(await oracle(bytes, row)) };
      models.push(m);
      const put = await req(`/v1/models/${m.id}`, { method: 'PUT', body: bytes, headers: AUTH });
      expect(put.status, await put.clone().text()).toBe(201);
      await checkMemory(`after PUT ${m.id}`);
      for (const b of SIZES) {
        await inferBatch(m, b);
        await checkMemory(`${m.id} batch ${b}`);
      }
      // an older model again: often evicted by now, then loaded from R2 with its stored figures
      const old = models[k >> 1]!;
      await inferBatch(old, 1 + (k % 8));
      await checkMemory(`${old.id} again`);
    }
    const st = await stats();
    console.log(
      `40 models × ${SIZES.length} batch sizes: budget ${budget} B, peak tracked ${st.memory.peakTracked} B, ` +
        `${st.cache.evictions} evictions, ${st.cache.decodes} loads`,
    );
    expect(st.cache.evictions).toBeGreaterThan(0); // the bound did work
    expect(st.cache.decodes).toBeGreaterThan(40); // and evicted models were loaded again
    expect(st.memory.peakTracked).toBeLessThanOrEqual(budget);
  });
});
