// sparrow-f32 on real models against onnxruntime-node and the reference engine: mnist-8 on the
// first 100 MNIST test digits, ResNet-20/32 on the first 100 CIFAR-10 test records (../shared/data
// or $SPARROW_DATA), within max |Δ| 1e-4 of both; repeated runs allocate nothing (linear memory,
// arena and constants constant); a symbolic batch of 5 equals 5 single runs.
import { describe, expect, it, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import '../src/ops/ref/index.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import { loadDataset } from '../src/io/datasets_node.js';
import { imageBatch } from '../src/io/datasets.js';
import type { Tensor } from '../src/ops/types.js';
import { dataPath, haveData } from './helpers/data.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const F32 = (o: SessionOptions = {}): SessionOptions => ({ ...o, engine: 'sparrow-f32', wasmModule });

const MODELS = dataPath('models');
const CIFAR = dataPath('cifar10', 'test_q75.bin');
const HAVE_MNIST = haveData('sparrow-f32 on mnist-8', 'models/mnist-8.onnx', 'mnist/t10k-images-idx3-ubyte.gz');
const HAVE_CIFAR = haveData(
  'sparrow-f32 on ResNet-20 / ResNet-32',
  'models/resnet20-cifar10.onnx',
  'models/resnet32-cifar10.onnx',
  'cifar10/test_q75.bin',
);

interface OrtLike {
  InferenceSession: {
    create(
      b: Uint8Array,
      o?: Record<string, unknown>,
    ): Promise<{ run(f: Record<string, unknown>): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> }>;
  };
  Tensor: new (type: string, data: Float32Array, dims: number[]) => unknown;
}

async function compareModel(file: string, input: string, output: string, xs: Tensor[], labels: number[]): Promise<void> {
  const ort = (await import(/* @vite-ignore */ 'onnxruntime-node')) as unknown as OrtLike;
  const bytes = new Uint8Array(readFileSync(`${MODELS}/${file}`));
  const ortSession = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const ref = await Session.fromOnnx(bytes);
  const s = await Session.fromOnnx(bytes, F32({ inputShapes: { [input]: [...xs[0]!.dims] } }));
  expect(s.report!.fallbackOps).toEqual([]);
  let dOrt = 0,
    dRef = 0,
    correct = 0;
  const mem: string[] = [];
  for (const [k, x] of xs.entries()) {
    const got = (await s.run({ [input]: x }))[output]!;
    if (k < 3) mem.push(JSON.stringify(s.memoryStats()));
    const want = (await ortSession.run({ [input]: new ort.Tensor('float32', x.data as Float32Array, [...x.dims]) }))[output]!;
    const r = (await ref.run({ [input]: x }))[output]!;
    expect(got.dims).toEqual([...want.dims]);
    const g = got.data as Float32Array,
      rd = r.data as Float32Array;
    let best = 0;
    for (let i = 0; i < g.length; i++) {
      dOrt = Math.max(dOrt, Math.abs(g[i]! - want.data[i]!));
      dRef = Math.max(dRef, Math.abs(g[i]! - rd[i]!));
      if (g[i]! > g[best]!) best = i;
    }
    if (best === labels[k]) correct++;
  }
  const st = s.memoryStats()!;
  console.log(
    `${file} sparrow-f32 on ${xs.length} inputs: max |Δ| vs onnxruntime-node ${dOrt.toExponential(2)}, vs reference ${dRef.toExponential(2)}; ` +
      `top-1 ${correct}/${xs.length}; arena ${st.arenaBytes} B (unshared ${st.unsharedBytes} B), constants ${st.constantBytes} B, linear memory ${st.wasmBytes} B; fused ${JSON.stringify(s.report!.fused)}`,
  );
  expect(dOrt).toBeLessThanOrEqual(1e-4);
  expect(dRef).toBeLessThanOrEqual(1e-4);
  // runs 1, 2 and 3: nothing new allocated
  expect(mem[1]).toBe(mem[0]);
  expect(mem[2]).toBe(mem[0]);
  expect(st.plans).toBe(1);
  expect(st.arenaBytes).toBeLessThan(st.unsharedBytes);
}

describe.runIf(HAVE_MNIST)('sparrow-f32 on mnist-8', () => {
  it('first 100 MNIST digits: within 1e-4 of onnxruntime-node and the reference engine', async () => {
    const set = loadDataset('mnist', dataPath('mnist'));
    const xs = Array.from({ length: 100 }, (_, k) => imageBatch(set, k, 1));
    await compareModel('mnist-8.onnx', 'Input3', 'Plus214_Output_0', xs, Array.from(set.labels.subarray(0, 100)));
  }, 120_000);
});

describe.runIf(HAVE_CIFAR)('sparrow-f32 on ResNet-20 / ResNet-32', () => {
  for (const file of ['resnet20-cifar10.onnx', 'resnet32-cifar10.onnx']) {
    it(`${file}: first 100 CIFAR-10 test records within 1e-4 of onnxruntime-node and the reference engine`, async () => {
      const set = loadDataset('cifar10', CIFAR);
      const pre = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
      const xs = Array.from({ length: 100 }, (_, k) => imageBatch(set, k, 1, pre));
      await compareModel(file, 'input', 'logits', xs, Array.from(set.labels.subarray(0, 100)));
    }, 300_000);
  }

  it('resnet20 with a symbolic batch: a batch of 5 equals 5 single runs (one plan per batch size)', async () => {
    const set = loadDataset('cifar10', CIFAR);
    const pre = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
    const s = await Session.fromOnnx(new Uint8Array(readFileSync(`${MODELS}/resnet20-cifar10.onnx`)), F32());
    const yb = (await s.run({ input: imageBatch(set, 0, 5, pre) }))['logits']!;
    expect(yb.dims).toEqual([5, 10]);
    let d = 0;
    for (let k = 0; k < 5; k++) {
      const y1 = (await s.run({ input: imageBatch(set, k, 1, pre) }))['logits']!.data as Float32Array;
      for (let j = 0; j < 10; j++) d = Math.max(d, Math.abs(y1[j]! - (yb.data as Float32Array)[k * 10 + j]!));
    }
    expect(d).toBeLessThanOrEqual(1e-5);
    expect(s.memoryStats()!.plans).toBe(2);
  });
});
