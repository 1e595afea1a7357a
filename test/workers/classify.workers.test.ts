// POST /v1/models/:id/classify inside workerd: the 20 CIFAR-10 PNGs against the size-targeted
// ResNet-20 with labels (test/fixtures/answers/cifar10_pngs.ts, bundled: this tier cannot read
// ../shared). Oracle: the top-1 that `sparrow run --image` printed for each image with the same
// model and engine (recorded in the fixture by make-pngs.mjs), and /infer on the same model.
import { exports } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { CIFAR10_PNGS, RESNET20_TARGET90K_B64 } from '../fixtures/answers/cifar10_pngs.js';

const TOKEN = 'test-admin-token';
const B = 'http://sparrow.test';
const NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const fromB64 = (s: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const MODEL = fromB64(RESNET20_TARGET90K_B64);

const req = (path: string, init: RequestInit = {}): Promise<Response> => exports.default.fetch(`${B}${path}`, init);
const classify = (body: BodyInit, ct = 'image/png', q = ''): Promise<Response> =>
  req(`/v1/models/cifar/classify${q}`, { method: 'POST', body, headers: { 'content-type': ct } });
async function errorCode(r: Response): Promise<string> {
  const j = (await r.json()) as { error?: { code: string } };
  return j.error?.code ?? `no error: ${JSON.stringify(j)}`;
}

/** A PNG that declares width×height and holds nothing else (a decompression-bomb header). */
function pngHeaderOnly(width: number, height: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(33);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  new DataView(b.buffer).setUint32(16, width);
  new DataView(b.buffer).setUint32(20, height);
  b.set([8, 2, 0, 0, 0], 24);
  return b;
}

describe('POST /v1/models/:id/classify', () => {
  beforeAll(async () => {
    const r = await req('/v1/models/cifar', { method: 'PUT', body: MODEL, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.status, await r.clone().text()).toBe(201);
  });

  it('answers the top-5 with labels; top-1 = what `sparrow run --image` printed, for all 20 images', async () => {
    for (const [file, cliTop1, b64] of CIFAR10_PNGS) {
      const r = await classify(fromB64(b64));
      expect(r.status, file).toBe(200);
      const doc = (await r.json()) as { top: Array<{ label: string; index: number; p: number }>; ms: number; engine: string };
      expect(doc.top).toHaveLength(5);
      expect(doc.top[0]!.index, file).toBe(cliTop1);
      for (const e of doc.top) expect(e.label).toBe(NAMES[e.index]);
      for (let i = 1; i < 5; i++) expect(doc.top[i]!.p).toBeLessThanOrEqual(doc.top[i - 1]!.p);
      expect(doc.engine).toBe('sparrow-int8');
      // workerd advances its clock only at I/O: a run between two I/O events measures 0 ms
      expect(doc.ms).toBeGreaterThanOrEqual(0);
    }
  });

  it('agrees with /infer on the same pixels (uint8 with the stored preprocessing)', async () => {
    const [, cliTop1, b64] = CIFAR10_PNGS[2]!;
    // a 32×32 image passes through unchanged: its pixels are the model's input
    const { decode } = await import('fast-png');
    const png = decode(fromB64(b64));
    const planes = new Array<number>(3072);
    for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) planes[c * 1024 + p] = png.data[p * png.channels + c]!;
    const r = await req('/v1/models/cifar/infer', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: { input: { dims: [1, 3, 32, 32], dtype: 'uint8', data: planes } } }),
    });
    expect(r.status).toBe(200);
    const logits = ((await r.json()) as { outputs: { logits: { data: number[] } } }).outputs.logits.data;
    expect(logits.indexOf(Math.max(...logits))).toBe(cliTop1);
    const c = (await (await classify(fromB64(b64))).json()) as { top: Array<{ index: number }> };
    expect(c.top[0]!.index).toBe(cliTop1);
  });

  it('?k= sets how many classes', async () => {
    const r = await classify(fromB64(CIFAR10_PNGS[0]![2]), 'image/png', '?k=2');
    expect(((await r.json()) as { top: unknown[] }).top).toHaveLength(2);
    expect(await errorCode(await classify(fromB64(CIFAR10_PNGS[0]![2]), 'image/png', '?k=0'))).toBe('invalid_request');
  });

  it('415 for other content types, 413 for an image declaring too many pixels, 400 for a broken image, 404 for no model', async () => {
    const png = fromB64(CIFAR10_PNGS[0]![2]);
    let r = await classify(png, 'application/octet-stream');
    expect(r.status).toBe(415);
    expect(await errorCode(r)).toBe('unsupported_media_type');
    r = await classify(pngHeaderOnly(100_000, 100_000));
    expect(r.status).toBe(413);
    expect(await errorCode(r)).toBe('too_large');
    r = await classify(pngHeaderOnly(3000, 3000)); // 9 MP: over the default 4 MP
    expect(r.status).toBe(413);
    r = await classify(png.slice(0, 60));
    expect(r.status).toBe(400);
    r = await req('/v1/models/nope/classify', { method: 'POST', body: png, headers: { 'content-type': 'image/png' } });
    expect(r.status).toBe(404);
    r = await req('/v1/models/cifar/classify');
    expect(r.status).toBe(405);
  });
});
