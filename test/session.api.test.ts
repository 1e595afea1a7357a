// The runtime API as the README shows it: load from bytes, from a URL, and with a
// precompiled WebAssembly.Module; run with typed arrays and dims.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Session, compileNodeModule, SparrowError } from '../src/index.js';

const MNIST = 'examples/models/mnist-8.onnx';
const bytes = new Uint8Array(readFileSync(MNIST));
const x = { dtype: 'float32' as const, dims: [1, 1, 28, 28], data: Float32Array.from({ length: 784 }, (_, i) => ((i * 7) % 256) / 255) };

describe('Session API', () => {
  let server: Server;
  let base = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/mnist-8.onnx') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(bytes);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('bytes, URL and precompiled module give identical outputs on sparrow-f32', async () => {
    const a = await Session.fromOnnx(bytes, { engine: 'sparrow-f32' });
    const b = await Session.fromUrl(`${base}/mnist-8.onnx`, { engine: 'sparrow-f32' });
    const c = await Session.fromOnnx(bytes, { engine: 'sparrow-f32', wasmModule: await compileNodeModule() });
    const ref = await Session.fromOnnx(bytes, { engine: 'reference' });
    expect(a.inputNames).toEqual(['Input3']);
    const outs = await Promise.all([a, b, c, ref].map((s) => s.run({ Input3: x })));
    const o = outs.map((r) => Array.from(r[a.outputNames[0]!]!.data as Float32Array));
    expect(o[1]).toEqual(o[0]);
    expect(o[2]).toEqual(o[0]);
    for (let i = 0; i < 10; i++) expect(Math.abs(o[0]![i]! - o[3]![i]!)).toBeLessThan(1e-4);
  });

  it('a missing URL is an io_error', async () => {
    await expect(Session.fromUrl(`${base}/nope.onnx`)).rejects.toBeInstanceOf(SparrowError);
    await expect(Session.fromUrl(`${base}/nope.onnx`)).rejects.toMatchObject({ code: 'io_error' });
  });

  it('wrong input dims are a clear invalid_argument', async () => {
    const s = await Session.fromOnnx(bytes, { engine: 'sparrow-f32' });
    await expect(s.run({ Input3: { ...x, dims: [1, 1, 28, 27] } })).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});
