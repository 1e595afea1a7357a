// The onnxruntime-shaped API of Session (issue 16, part 2), against onnxruntime-node:
// Session.create from a path, file: URL, http URL, bytes, ArrayBuffer, Blob and stream of either
// format (sniffed by magic); the documented default engines; inputNames/outputNames and
// inputMetadata/outputMetadata; run(feeds, { outputs }); feeds as { type, dims, data } and as
// onnxruntime Tensor objects; the 'sparrow-ref' alias of 'reference'; dispose().
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Session, compressOnnx, defaultEngine, engineName, hasActivationRanges } from '../src/index.js';
import { buildModel } from '../src/onnx/build.js';
import { lcg } from './helpers/tensors.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MNIST = join(ROOT, 'examples/models/mnist-8.onnx');
const MNIST_STATIC = join(ROOT, 'test/fixtures/int8/mnist-8.static.sparrow');
const onnxBytes = new Uint8Array(readFileSync(MNIST));
const sparrowBytes = new Uint8Array(readFileSync(MNIST_STATIC));

const rnd = lcg(7);
const x = new Float32Array(784).map(() => rnd());
let expected: Float32Array;
let server: Server;
let base = '';

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const argmax = (a: ArrayLike<number>): number => Array.from(a).indexOf(Math.max(...Array.from(a)));

beforeAll(async () => {
  const s = await ort.InferenceSession.create(onnxBytes);
  expected = (await s.run({ Input3: new ort.Tensor('float32', x, [1, 1, 28, 28]) }))['Plus214_Output_0']!.data as Float32Array;
  await s.release();
  server = createServer((req, res) => {
    if (req.url === '/mnist.onnx') res.end(Buffer.from(onnxBytes));
    else if (req.url === '/mnist.sparrow') res.end(Buffer.from(sparrowBytes));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const feedsOf = () => ({ Input3: { type: 'float32', dims: [1, 1, 28, 28], data: x } });

describe('Session.create', () => {
  const stream = (b: Uint8Array): ReadableStream<Uint8Array> =>
    new ReadableStream({
      start(c) {
        for (let i = 0; i < b.length; i += 1000) c.enqueue(b.slice(i, i + 1000));
        c.close();
      },
    });
  const sources: Array<[string, () => unknown]> = [
    ['a path', () => MNIST],
    ['a file: URL', () => pathToFileURL(MNIST)],
    ['an http URL string', () => `${base}/mnist.onnx`],
    ['bytes', () => onnxBytes],
    ['an ArrayBuffer', () => onnxBytes.slice().buffer],
    ['a Blob', () => new Blob([onnxBytes])],
    ['a stream in chunks', () => stream(onnxBytes)],
  ];
  it.each(sources)('loads ONNX from %s on sparrow-f32 by default, = onnxruntime-node', async (_what, src) => {
    const s = await Session.create(src() as Parameters<typeof Session.create>[0]);
    expect(s.engine).toBe('sparrow-f32');
    const out = await s.run(feedsOf());
    expect(maxDiff(out['Plus214_Output_0']!.data as Float32Array, expected)).toBeLessThan(1e-4);
    s.dispose();
  });

  it.each([
    ['bytes', () => sparrowBytes],
    ['an http URL', () => new URL(`${base}/mnist.sparrow`)],
    ['a path', () => MNIST_STATIC],
    ['a stream', () => stream(sparrowBytes)],
  ])('loads a .sparrow (magic) from %s; with activation ranges it defaults to sparrow-int8', async (_w, src) => {
    const s = await Session.create(src() as Parameters<typeof Session.create>[0]);
    expect(s.engine).toBe('sparrow-int8');
    const out = await s.run(feedsOf());
    expect(argmax(out['Plus214_Output_0']!.data as Float32Array)).toBe(argmax(expected));
  });

  it('documented defaults: fromSparrow and fromUrl as create; a .sparrow without ranges runs sparrow-f32', async () => {
    expect(hasActivationRanges(sparrowBytes)).toBe(true);
    expect(defaultEngine(sparrowBytes)).toBe('sparrow-int8');
    expect(defaultEngine(onnxBytes)).toBe('sparrow-f32');
    expect((await Session.fromSparrow(sparrowBytes)).engine).toBe('sparrow-int8');
    expect((await Session.fromUrl(`${base}/mnist.sparrow`)).engine).toBe('sparrow-int8');
    expect((await Session.fromUrl(`${base}/mnist.onnx`)).engine).toBe('sparrow-f32');
    const plain = (await compressOnnx(onnxBytes, { sparsity: 0 })).bytes;
    expect(hasActivationRanges(plain)).toBe(false);
    expect((await Session.create(plain)).engine).toBe('sparrow-f32');
  });

  it('io errors are SparrowError io_error; an unknown engine invalid_argument', async () => {
    await expect(Session.create(join(ROOT, 'no-such-model.onnx'))).rejects.toMatchObject({ code: 'io_error' });
    await expect(Session.create(`${base}/missing.onnx`)).rejects.toMatchObject({ code: 'io_error' });
    await expect(Session.create(onnxBytes, { engine: 'fast' as never })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(Session.create(42 as never)).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});

describe('one set of engine names', () => {
  it("'sparrow-ref' is 'reference' (same results, session.engine says 'reference')", async () => {
    expect(engineName('sparrow-ref')).toBe('reference');
    const a = await Session.create(onnxBytes, { engine: 'sparrow-ref' });
    const b = await Session.fromOnnx(onnxBytes, { engine: 'reference' });
    expect(a.engine).toBe('reference');
    const [oa, ob] = [await a.run(feedsOf()), await b.run(feedsOf())];
    expect(Array.from(oa['Plus214_Output_0']!.data as Float32Array)).toEqual(Array.from(ob['Plus214_Output_0']!.data as Float32Array));
    expect(maxDiff(oa['Plus214_Output_0']!.data as Float32Array, expected)).toBeLessThan(1e-4);
  });
});

describe('onnxruntime-shaped session', () => {
  it('inputNames, outputNames, inputMetadata and outputMetadata match onnxruntime-node', async () => {
    const s = await Session.create(onnxBytes);
    const o = await ort.InferenceSession.create(onnxBytes);
    expect(s.inputNames).toEqual(o.inputNames);
    expect(s.outputNames).toEqual(o.outputNames);
    const om = (o as unknown as { inputMetadata?: Array<{ name: string; type?: string; shape?: unknown[] }> }).inputMetadata;
    expect(s.inputMetadata).toEqual([{ name: 'Input3', isTensor: true, type: 'float32', shape: [1, 1, 28, 28] }]);
    expect(s.outputMetadata).toEqual([{ name: 'Plus214_Output_0', isTensor: true, type: 'float32', shape: [1, 10] }]);
    if (om?.[0]?.shape) expect(s.inputMetadata[0]!.shape).toEqual(om[0].shape);
    await o.release();
  });

  it('accepts onnxruntime Tensor objects (and gives outputs a `type`)', async () => {
    const s = await Session.create(onnxBytes);
    const out = await s.run({ Input3: new ort.Tensor('float32', x, [1, 1, 28, 28]) as never });
    const y = out['Plus214_Output_0']!;
    expect(y.type).toBe('float32');
    expect(y.dtype).toBe('float32');
    expect(y.dims).toEqual([1, 10]);
    expect(maxDiff(y.data as Float32Array, expected)).toBeLessThan(1e-4);
    await expect(s.run({ Input3: { dims: [1, 1, 28, 28], data: x } as never })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/no dtype/),
    });
  });

  it('run(feeds, { outputs }) returns the outputs asked for; an unknown name is invalid_argument', async () => {
    // a two-output model
    const bytes = buildModel({
      inputs: [{ name: 'a', dtype: 'float32', dims: [2, 3] }],
      outputs: [
        { name: 'r', dtype: 'float32', dims: [2, 3] },
        { name: 'n', dtype: 'float32', dims: [2, 3] },
      ],
      nodes: [
        { op: 'Relu', inputs: ['a'], outputs: ['r'] },
        { op: 'Neg', inputs: ['a'], outputs: ['n'] },
      ],
    } as never);
    const a = new Float32Array([-1, 2, -3, 4, -5, 6]);
    const o = await ort.InferenceSession.create(bytes);
    const want = await o.run({ a: new ort.Tensor('float32', a, [2, 3]) }, ['n']);
    const s = await Session.create(bytes);
    const got = await s.run({ a: { type: 'float32', dims: [2, 3], data: a } }, { outputs: ['n'] });
    expect(Object.keys(got)).toEqual(Object.keys(want));
    expect(Array.from(got['n']!.data as Float32Array)).toEqual(Array.from(want['n']!.data as Float32Array));
    const got2 = await s.run({ a: { type: 'float32', dims: [2, 3], data: a } }, ['r']);
    expect(Object.keys(got2)).toEqual(['r']);
    await expect(s.run({ a: { type: 'float32', dims: [2, 3], data: a } }, { outputs: ['zz'] })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    await o.release();
  });

  it('dispose() frees the session; run afterwards throws; twice is fine', async () => {
    const s = await Session.create(sparrowBytes, { engine: 'sparrow-f32' });
    await s.run(feedsOf());
    s.dispose();
    s.dispose();
    expect(s.disposed).toBe(true);
    await expect(s.run(feedsOf())).rejects.toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(/disposed/) });
    const t = await Session.create(onnxBytes);
    await t.release();
    expect(t.disposed).toBe(true);
  });
});
