// Import + passes + reference executor on the real models in ../shared/data (or $SPARROW_DATA):
// mnist-8 (opset 8, constant-weight Reshape), ResNet-20 (opset 13, Pad/Slice/AveragePool
// option-A shortcuts), stories260K (opset 14, Shape→Gather→Unsqueeze→Concat→Reshape chains).
// Correctness: mnist-8 top-1 on the first 100 MNIST test digits; ResNet-20 with and without the
// passes; stories260K static-shape folded vs symbolic graph; onnxruntime-node (a devDependency: never skipped).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import '../src/ops/ref/index.js';
import type { Tensor } from '../src/ops/types.js';
import { importOnnx } from '../src/onnx/import.js';
import { decodeModel, onnxRuntime, type onnx } from '../src/onnx/proto.js';
import { cloneGraph, opCounts, type Graph } from '../src/ir/graph.js';
import { optimize } from '../src/ir/passes.js';
import { runReference } from '../src/runtime/reference.js';
import { Session } from '../src/runtime/session.js';
import { dataPath, haveData } from './helpers/data.js';

const MODELS = dataPath('models');
const MNIST = dataPath('mnist');
const CIFAR = dataPath('cifar10', 'test_q75.bin');
const STORIES = join(MODELS, 'stories260K', 'stories260K-opset14.onnx');
const HAVE_MODELS = haveData(
  'the real-model import tests',
  'models/mnist-8.onnx',
  'models/resnet20-cifar10.onnx',
  'models/resnet32-cifar10.onnx',
  'models/stories260K/stories260K-opset14.onnx',
  'models/stories260K/tok512.bin',
);
const HAVE_MNIST = haveData('the mnist-8 tests on MNIST digits', 'mnist/t10k-images-idx3-ubyte.gz', 'mnist/t10k-labels-idx1-ubyte.gz');
const HAVE_CIFAR = haveData('the ResNet tests on CIFAR-10 images', 'cifar10/test_q75.bin');

const bytesOf = (f: string): Uint8Array => new Uint8Array(readFileSync(join(MODELS, f)));

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.dims).toEqual(b.dims);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(Number(a.data[i]) - Number(b.data[i])));
  return m;
}

const argmax = (d: ArrayLike<number>, from = 0, n = d.length): number => {
  let best = from;
  for (let i = from; i < from + n; i++) if (d[i]! > d[best]!) best = i;
  return best - from;
};

/** First `n` MNIST test digits as [1,1,28,28] float32 (pixel/255) and their labels. */
function mnistDigits(n: number): Array<{ x: Tensor; label: number }> {
  const img = gunzipSync(readFileSync(join(MNIST, 't10k-images-idx3-ubyte.gz')));
  const lab = gunzipSync(readFileSync(join(MNIST, 't10k-labels-idx1-ubyte.gz')));
  expect(img.readUInt32BE(0)).toBe(2051);
  expect(lab.readUInt32BE(0)).toBe(2049);
  return Array.from({ length: n }, (_, k) => ({
    x: { dtype: 'float32', dims: [1, 1, 28, 28], data: Float32Array.from(img.subarray(16 + k * 784, 16 + (k + 1) * 784), (p) => p / 255) },
    label: lab[8 + k]!,
  }));
}

/** CIFAR-10 test records [k, k+n) normalised as the ResNets expect, [1,3,32,32] each. */
function cifarImages(n: number): Array<{ x: Tensor; label: number }> {
  const mean = [0.485, 0.456, 0.406],
    std = [0.229, 0.224, 0.225];
  if (!HAVE_CIFAR) {
    // deterministic stand-in inputs
    let s = 1;
    return Array.from({ length: n }, () => ({
      x: {
        dtype: 'float32',
        dims: [1, 3, 32, 32],
        data: Float32Array.from({ length: 3072 }, () => ((s = (s * 48271) % 2147483647) / 2147483647 - 0.5) * 4),
      },
      label: -1,
    }));
  }
  const buf = readFileSync(CIFAR);
  return Array.from({ length: n }, (_, k) => {
    const rec = buf.subarray(k * 3073, (k + 1) * 3073);
    const data = new Float32Array(3072);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 1024; i++) data[c * 1024 + i] = (rec[1 + c * 1024 + i]! / 255 - mean[c]!) / std[c]!;
    return { x: { dtype: 'float32', dims: [1, 3, 32, 32], data }, label: rec[0]! };
  });
}

function expectNoFoldableLeft(g: Graph): void {
  const ops = opCounts(g);
  for (const op of ['Identity', 'Dropout', 'BatchNormalization', 'Constant', 'Shape']) expect(ops[op], op).toBeUndefined();
  // every Reshape reads a constant shape
  for (const n of g.nodes.filter((x) => x.op === 'Reshape')) expect(g.values.get(n.inputs[1]!)!.const, n.name).toBeDefined();
}

describe.runIf(HAVE_MODELS)('mnist-8 (opset 8)', () => {
  it('imports and folds to static shapes; the constant-weight Reshape folds away', () => {
    const g = importOnnx(bytesOf('mnist-8.onnx'));
    expect(g.opsets).toEqual({ '': 8 });
    expect(g.inputs).toEqual(['Input3']); // the 8 initializers listed as inputs (IR v3) are constants
    expect(g.values.get('Input3')!.info).toEqual({ dtype: 'float32', dims: [1, 1, 28, 28] });
    expect(g.outputs).toEqual(['Plus214_Output_0']);
    expect(g.values.get('Plus214_Output_0')!.info).toEqual({ dtype: 'float32', dims: [1, 10] });
    expect(g.nodes.length).toBe(12);
    const r = optimize(g);
    expect(r.opsBefore).toEqual({ Reshape: 2, Conv: 2, Add: 3, Relu: 2, MaxPool: 2, MatMul: 1 });
    expect(r.opsAfter).toEqual({ Reshape: 1, Conv: 2, Add: 3, Relu: 2, MaxPool: 2, MatMul: 1 });
    expect(r.nodesAfter).toBe(11);
    expect(g.values.get('Parameter193_reshape1')!.const!.dims).toEqual([256, 10]);
    expect(g.values.has('Parameter193')).toBe(false); // the stored [16,4,4,10] copy is dead
    for (const v of g.values.values())
      expect(
        v.info.dims!.every((d) => d >= 0),
        v.name,
      ).toBe(true);
    expectNoFoldableLeft(g);
  });

  it.runIf(HAVE_MNIST)('top-1 on the first 100 MNIST test digits ≥ 98/100 (reference executor)', async () => {
    const s = await Session.fromOnnx(bytesOf('mnist-8.onnx'));
    const raw = importOnnx(bytesOf('mnist-8.onnx'));
    let correct = 0,
      maxDiff = 0;
    for (const { x, label } of mnistDigits(100)) {
      const y = (await s.run({ Input3: x }))['Plus214_Output_0']!;
      expect(y.dims).toEqual([1, 10]);
      if (argmax(y.data as Float32Array) === label) correct++;
      maxDiff = Math.max(maxDiff, maxAbsDiff(y, runReference(raw, { Input3: x })['Plus214_Output_0']!));
    }
    console.log(`mnist-8 reference executor: ${correct}/100 correct; passes vs none max |Δ| = ${maxDiff}`);
    expect(correct).toBeGreaterThanOrEqual(98);
    expect(maxDiff).toBeLessThanOrEqual(1e-4);
  });
});

describe.runIf(HAVE_MODELS)('ResNet (opset 13)', () => {
  for (const [file, convs] of [
    ['resnet20-cifar10.onnx', 19],
    ['resnet32-cifar10.onnx', 31],
  ] as const) {
    it(`${file}: imports with a symbolic batch, folds to static shapes with [1,3,32,32]`, () => {
      const g = importOnnx(bytesOf(file));
      expect(g.opsets).toEqual({ '': 13 });
      expect(g.values.get('input')!.info).toEqual({ dtype: 'float32', dims: [-1, 3, 32, 32] });
      expect(g.values.get('logits')!.info).toEqual({ dtype: 'float32', dims: [-1, 10] });
      const r = optimize(g, { inputShapes: { input: [1, 3, 32, 32] } });
      expect(r.opsBefore['Conv']).toBe(convs);
      expect(g.values.get('logits')!.info).toEqual({ dtype: 'float32', dims: [1, 10] });
      for (const v of g.values.values())
        expect(
          v.info.dims!.every((d) => d >= 0),
          v.name,
        ).toBe(true);
      // (the exporter already folded BN and stored all constants as initializers: nothing to fold,
      // but every shape becomes static) the option-A shortcut's Slice/Pad read constants only
      for (const n of g.nodes.filter((x) => x.op === 'Pad' || x.op === 'Slice')) {
        for (const i of n.inputs.slice(1)) if (i) expect(g.values.get(i)!.const, `${n.name} ${i}`).toBeDefined();
      }
      expectNoFoldableLeft(g);
    });
  }

  it('resnet20: outputs with and without the passes agree (≤ 1e-4) on 10 CIFAR-10 test images', async () => {
    const bytes = bytesOf('resnet20-cifar10.onnx');
    const plain = await Session.fromOnnx(bytes, { optimize: false });
    const opt = await Session.fromOnnx(bytes, { inputShapes: { input: [1, 3, 32, 32] } });
    const batch = await Session.fromOnnx(bytes); // symbolic batch, passes on
    let maxDiff = 0,
      correct = 0;
    const imgs = cifarImages(10);
    for (const { x, label } of imgs) {
      const a = (await plain.run({ input: x }))['logits']!;
      const b = (await opt.run({ input: x }))['logits']!;
      expect(b.dims).toEqual([1, 10]);
      maxDiff = Math.max(maxDiff, maxAbsDiff(a, b));
      if (argmax(b.data as Float32Array) === label) correct++;
    }
    // a batch of 10 through the symbolic-batch session matches the single runs
    const xb: Tensor = { dtype: 'float32', dims: [10, 3, 32, 32], data: new Float32Array(10 * 3072) };
    imgs.forEach(({ x }, k) => (xb.data as Float32Array).set(x.data as Float32Array, k * 3072));
    const yb = (await batch.run({ input: xb }))['logits']!;
    expect(yb.dims).toEqual([10, 10]);
    for (let k = 0; k < 10; k++) {
      const single = (await opt.run({ input: imgs[k]!.x }))['logits']!;
      for (let j = 0; j < 10; j++)
        maxDiff = Math.max(maxDiff, Math.abs((yb.data as Float32Array)[k * 10 + j]! - (single.data as Float32Array)[j]!));
    }
    console.log(
      `resnet20: passes vs none max |Δ| = ${maxDiff}; ${HAVE_CIFAR ? `${correct}/10 correct on CIFAR-10 test_q75` : 'synthetic inputs'}`,
    );
    expect(maxDiff).toBeLessThanOrEqual(1e-4);
    if (HAVE_CIFAR) expect(correct).toBeGreaterThanOrEqual(6); // 80.4% on the first 1000
  });
});

describe.runIf(HAVE_MODELS)('ResNet-20 with BatchNormalization re-inserted after every Conv', () => {
  it('folding the 19 BNs back into the Convs keeps the outputs (≤ 1e-4)', async () => {
    // The exporter folded BN already: put a (random, well-conditioned) BN after each Conv again.
    const model = decodeModel(bytesOf('resnet20-cifar10.onnx'));
    const g = model.graph!;
    let seed = 7;
    const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const nodes: onnx.INodeProto[] = [];
    for (const n of g.node!) {
      nodes.push(n);
      if (n.opType !== 'Conv') continue;
      const out = n.output![0]!;
      const cout = Number(g.initializer!.find((t) => t.name === n.input![1])!.dims![0]);
      const p = (name: string, f: () => number) => {
        g.initializer!.push(
          onnxRuntime.TensorProto.create({ name: `${out}.${name}`, dataType: 1, dims: [cout], floatData: Array.from({ length: cout }, f) }),
        );
        return `${out}.${name}`;
      };
      n.output![0] = `${out}_prebn`;
      nodes.push(
        onnxRuntime.NodeProto.create({
          name: `${n.name}_bn`,
          opType: 'BatchNormalization',
          output: [out],
          input: [
            `${out}_prebn`,
            p('gamma', () => 0.5 + rand()),
            p('beta', () => rand() - 0.5),
            p('mean', () => (rand() - 0.5) * 0.2),
            p('var', () => 0.5 + rand()),
          ],
        }),
      );
    }
    g.node = nodes;
    const bytes = onnxRuntime.ModelProto.encode(model).finish();
    const plain = await Session.fromOnnx(bytes, { optimize: false });
    const folded = await Session.fromOnnx(bytes, { inputShapes: { input: [1, 3, 32, 32] } });
    expect(opCounts(plain.graph)['BatchNormalization']).toBe(19);
    expect(folded.report).toMatchObject({ batchNormsFolded: 19, nodesBefore: 75, nodesAfter: 56 });
    expect(opCounts(folded.graph)['BatchNormalization']).toBeUndefined();
    let maxDiff = 0,
      maxAbs = 0;
    for (const { x } of cifarImages(5)) {
      const a = (await plain.run({ input: x }))['logits']!;
      const b = (await folded.run({ input: x }))['logits']!;
      maxDiff = Math.max(maxDiff, maxAbsDiff(a, b));
      for (const v of a.data as Float32Array) maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    console.log(`resnet20 + 19 BN: folded vs unfolded max |Δ| = ${maxDiff} (logits up to ${maxAbs.toFixed(2)})`);
    expect(maxDiff).toBeLessThanOrEqual(1e-4);
  });
});

describe.runIf(HAVE_MODELS)('stories260K (opset 14)', () => {
  const T = 6;
  const tokens: Tensor = { dtype: 'int64', dims: [1, T], data: BigInt64Array.from([1, 403, 407, 261, 378, 410], BigInt) };

  /** The import: every op must be supported (an unsupported_op error, naming op, opset and node, fails the test). */
  const load = (): Graph => importOnnx(new Uint8Array(readFileSync(STORIES)));

  it('imports; with a static [1, T] tokens input its shape chains fold completely', () => {
    const g = load();
    expect(g.values.get('tokens')!.info).toEqual({ dtype: 'int64', dims: [-1, -1] });
    expect(g.values.get('logits')!.info.dims?.[2]).toBe(512);
    const symbolic = cloneGraph(g);
    const rs = optimize(symbolic);
    const r = optimize(g, { inputShapes: { tokens: [1, T] } });
    console.log(
      `stories260K: ${r.nodesBefore} nodes → ${rs.nodesAfter} (symbolic) → ${r.nodesAfter} (tokens [1,${T}]);` +
        ` folded ${r.constantsFolded}, identities ${r.identitiesRemoved}; ops after: ${JSON.stringify(r.opsAfter)}`,
    );
    expect(r.opsBefore['Constant']).toBeUndefined(); // Constant nodes are constants from import on
    expect(g.values.get('logits')!.info).toEqual({ dtype: 'float32', dims: [1, T, 512] });
    expectNoFoldableLeft(g);
    for (const op of ['Gather', 'Unsqueeze', 'Concat', 'ConstantOfShape', 'Equal', 'Where', 'Expand', 'Cast', 'Squeeze']) {
      // what remains of these reads activations, never only constants
      for (const n of g.nodes.filter((x) => x.op === op))
        expect(
          n.inputs.some((i) => i && !g.values.get(i)!.const),
          n.name,
        ).toBe(true);
    }
    expect(r.nodesAfter).toBeLessThan(rs.nodesAfter);
  });

  it('runs: folded static graph = symbolic graph, logits [1, T, 512]', async () => {
    const g = load();
    const plain = runReference(g, { tokens })['logits']!;
    const s = await Session.fromOnnx(new Uint8Array(readFileSync(STORIES)), { inputShapes: { tokens: [1, T] } });
    const folded = (await s.run({ tokens }))['logits']!;
    expect(folded.dims).toEqual([1, T, 512]);
    const d = maxAbsDiff(plain, folded);
    console.log(
      `stories260K: folded vs symbolic max |Δ| = ${d}; greedy next tokens ${Array.from({ length: T }, (_, t) => argmax(folded.data as Float32Array, t * 512, 512)).join(',')}`,
    );
    expect(d).toBeLessThanOrEqual(1e-4);
  });

  it('greedy decoding from BOS writes the TinyStories opening (tokenizer tok512.bin)', () => {
    const g = load();
    const tok = readFileSync(join(MODELS, 'stories260K', 'tok512.bin'));
    const vocab: string[] = [];
    for (let i = 0, o = 4; i < 512; i++) {
      // llama2.c: max_len i32, then per token: score f32, len i32, bytes
      const len = tok.readInt32LE(o + 4);
      vocab.push(tok.subarray(o + 8, o + 8 + len).toString('utf8'));
      o += 8 + len;
    }
    const toks = [1];
    for (let step = 0; step < 16; step++) {
      const h = cloneGraph(g);
      optimize(h, { inputShapes: { tokens: [1, toks.length] } });
      const y = runReference(h, { tokens: { dtype: 'int64', dims: [1, toks.length], data: BigInt64Array.from(toks, BigInt) } })['logits']!;
      toks.push(argmax(y.data as Float32Array, (toks.length - 1) * 512, 512));
    }
    const text = toks
      .slice(1)
      .map((t) => vocab[t])
      .join('');
    console.log(`stories260K greedy: ${JSON.stringify(text)}`);
    expect(text.startsWith(' Once upon a time, there was a little girl named Lily')).toBe(true);
  });
});

describe.runIf(HAVE_MODELS)('against onnxruntime-node', () => {
  for (const [file, input, output, have, make] of [
    ['mnist-8.onnx', 'Input3', 'Plus214_Output_0', HAVE_MNIST, () => mnistDigits(10).map((d) => d.x)],
    ['resnet20-cifar10.onnx', 'input', 'logits', true, () => cifarImages(10).map((d) => d.x)],
  ] as const) {
    it.runIf(have)(`${file}: 10 real inputs within max abs 1e-4`, async () => {
      const spec = 'onnxruntime-node';
      const ort = (await import(/* @vite-ignore */ spec)) as {
        InferenceSession: {
          create(
            b: Uint8Array,
          ): Promise<{ run(f: Record<string, unknown>): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> }>;
        };
        Tensor: new (type: string, data: Float32Array, dims: number[]) => unknown;
      };
      const bytes = bytesOf(file);
      const ortSession = await ort.InferenceSession.create(bytes);
      const s = await Session.fromOnnx(bytes);
      let maxDiff = 0;
      const xs = make();
      expect(xs).toHaveLength(10);
      for (const x of xs) {
        const want = (await ortSession.run({ [input]: new ort.Tensor('float32', x.data as Float32Array, x.dims) }))[output]!;
        const got = (await s.run({ [input]: x }))[output]!;
        expect(got.dims).toEqual([...want.dims]);
        for (let i = 0; i < got.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs((got.data as Float32Array)[i]! - want.data[i]!));
      }
      console.log(`${file}: vs onnxruntime-node on ${xs.length} inputs, max |Δ| = ${maxDiff}`);
      expect(maxDiff).toBeLessThanOrEqual(1e-4);
    });
  }
});
