// Whole models with non-finite inputs (docs/engine.md "NaN and Inf"): an all-NaN input through
// mnist-8 and ResNet-20 (the real models of the shared data) gives NaN outputs in onnxruntime-node,
// and so in sparrow-f32 and sparrow-int8 — dynamic (the ONNX model) and with static activation
// ranges (the committed fixtures of test/fixtures/int8/, compressed from these same models) — and
// in the reference engine. One NaN pixel: every output NaN in onnxruntime (the network mixes all
// pixels) and in every Sparrow engine. ±Inf everywhere: NaN in the float engines like
// onnxruntime; sparrow-int8 saturates ±Inf as QuantizeLinear does, so its answer is finite and
// equals its answer on ±FLT_MAX, bit for bit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createOrtEngine, type InferenceEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';
import { dataPath, haveData } from './helpers/data.js';
import '../src/ops/ref/index.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const MODELS = [
  // firstConv: the layer that reads the input; in dynamic mode a depthwise-shaped one (mnist-8's
  // single input channel) runs in float32 (dynamic mode keeps depthwise convs in float32), so
  // ±Inf then reach the float arithmetic and give NaN as in onnxruntime
  {
    name: 'mnist-8',
    onnx: 'models/mnist-8.onnx',
    fixture: 'test/fixtures/int8/mnist-8.static.sparrow',
    dims: [1, 1, 28, 28],
    firstConv: 'Convolution28',
  },
  {
    name: 'ResNet-20',
    onnx: 'models/resnet20-cifar10.onnx',
    fixture: 'test/fixtures/int8/resnet20.static.sparrow',
    dims: [1, 3, 32, 32],
    firstConv: '/conv1/Conv',
  },
];

const fill = (dims: number[], v: number): Tensor => ({
  dtype: 'float32',
  dims,
  data: new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(v),
});
const allNaN = (t: Tensor) => (t.data as Float32Array).every((v) => Number.isNaN(v));
const allFinite = (t: Tensor) => (t.data as Float32Array).every((v) => Number.isFinite(v));
const only = (r: Record<string, Tensor>) => Object.values(r)[0]!;

for (const m of MODELS) {
  describe.runIf(haveData(`${m.name} NaN/Inf`, m.onnx))(`${m.name}: non-finite inputs in every engine`, () => {
    let ort: InferenceEngine;
    const sessions: Array<[string, Session]> = [];
    let int8Static: Session;
    let input = '';
    beforeAll(async () => {
      const bytes = new Uint8Array(readFileSync(dataPath(m.onnx)));
      ort = await createOrtEngine('ort-node', bytes);
      input = ort.inputNames[0]!;
      sessions.push(['reference', await Session.fromOnnx(bytes, { engine: 'reference' })]);
      sessions.push(['sparrow-f32', await Session.fromOnnx(bytes, { engine: 'sparrow-f32', wasmModule })]);
      sessions.push(['sparrow-int8 (dynamic)', await Session.fromOnnx(bytes, { engine: 'sparrow-int8', wasmModule })]);
      int8Static = await Session.fromSparrow(new Uint8Array(readFileSync(resolve(process.cwd(), m.fixture))), {
        engine: 'sparrow-int8',
        wasmModule,
      });
      sessions.push(['sparrow-int8 (static ranges)', int8Static]);
    });
    afterAll(async () => {
      await ort?.dispose();
    });

    it('all-NaN input: NaN outputs, as onnxruntime', async () => {
      expect(allNaN(only(await ort.run({ [input]: fill(m.dims, NaN) })))).toBe(true);
      for (const [name, s] of sessions) {
        const inName = s.inputNames[0]!;
        expect(allNaN(only(await s.run({ [inName]: fill(m.dims, NaN) }))), name).toBe(true);
      }
    });

    it('one NaN pixel: NaN outputs, as onnxruntime', async () => {
      const x = fill(m.dims, 0.25);
      (x.data as Float32Array)[37] = NaN;
      expect(allNaN(only(await ort.run({ [input]: x })))).toBe(true);
      for (const [name, s] of sessions) expect(allNaN(only(await s.run({ [s.inputNames[0]!]: x }))), name).toBe(true);
    });

    it('±Inf input: NaN in the float engines as onnxruntime; sparrow-int8 saturates (= ±FLT_MAX)', async () => {
      for (const v of [Infinity, -Infinity]) {
        expect(allNaN(only(await ort.run({ [input]: fill(m.dims, v) }))), `onnxruntime ${v}`).toBe(true);
        for (const [name, s] of sessions) {
          const y = only(await s.run({ [s.inputNames[0]!]: fill(m.dims, v) }));
          const layers = (s.report as { int8?: { layers?: Array<{ node: string }> } } | undefined)?.int8?.layers ?? [];
          const int8First = name.includes('static') || layers.some((l) => l.node === m.firstConv);
          if (name.startsWith('sparrow-int8') && !name.includes('static'))
            // dynamic: the first layer's engine decides (int8: saturated, float: NaN as onnxruntime)
            expect(layers.length, `${name}: int8 layers reported`).toBeGreaterThan(0);
          if (!name.startsWith('sparrow-int8') || !int8First) expect(allNaN(y), `${name} ${v}`).toBe(true);
          else {
            expect(allFinite(y), `${name} ${v}: saturated`).toBe(true);
            const big = only(await s.run({ [s.inputNames[0]!]: fill(m.dims, Math.sign(v) * 3.4028234663852886e38) }));
            if (name.includes('static'))
              expect(Array.from(y.data as Float32Array), `${name} ${v} = ±FLT_MAX`).toEqual(Array.from(big.data as Float32Array));
          }
        }
      }
    });
  });
}
