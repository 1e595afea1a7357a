// kws-lstm-gru-random.onnx (a zoo model in ../shared/data or $SPARROW_DATA: a 2-layer
// bidirectional LSTM, a GRU and a Linear, exported by PyTorch): the reference engine within 1e-4
// relative of onnxruntime-node, and sparrow-f32 too with LSTM and GRU in WASM (no fallback). RNN / GRU / LSTM on their own: test/ops.rnn.test.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Session } from '../src/runtime/session.js';
import type { Tensor } from '../src/ops/types.js';
import { mulberry32 } from '../src/util/rng.js';
import { dataPath, haveData } from './helpers/data.js';

const f32 = (dims: number[], rnd: () => number, scale = 1): Tensor => ({
  dtype: 'float32',
  dims,
  data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rnd() * 2 - 1) * scale),
});

const KWS = dataPath('models', 'zoo', 'kws-lstm-gru-random.onnx');
const haveKws = haveData('the kws-lstm-gru-random.onnx test', 'models/zoo/kws-lstm-gru-random.onnx');

describe.runIf(haveKws)('kws-lstm-gru-random.onnx (2-layer bidirectional LSTM, GRU, Linear)', () => {
  for (const engine of ['reference', 'sparrow-f32'] as const)
    it(`imports and runs in ${engine} within 1e-4 relative of onnxruntime-node${engine === 'sparrow-f32' ? ' (LSTM and GRU in WASM)' : ''}`, async () => {
      const bytes = new Uint8Array(readFileSync(KWS));
      const s = await Session.fromOnnx(bytes, { engine });
      expect(s.inputNames).toEqual(['frames']);
      const ops = s.report!.opsAfter;
      expect(ops['LSTM']).toBe(2);
      expect(ops['GRU']).toBe(1);
      const o = await createOrtEngine('ort-node', bytes);
      for (const [batch, time, seed] of [
        [1, 49, 1],
        [2, 17, 2],
        [3, 1, 3],
      ] as const) {
        const frames = f32([batch, time, 40], mulberry32(seed), 2);
        const want = (await o.run({ frames })).logits!;
        const got = (await s.run({ frames })).logits!;
        expect(s.report!.fallbackOps.filter((f) => ['LSTM', 'GRU'].includes(f.op))).toEqual([]);
        expect(got.dims).toEqual(want.dims);
        let worst = 0;
        const scale = Math.max(...Array.from(want.data as Float32Array, Math.abs));
        for (let i = 0; i < want.data.length; i++) {
          worst = Math.max(worst, Math.abs((got.data[i] as number) - (want.data[i] as number)) / scale);
        }
        let worstElem = 0; // per element, relative to the element (for the record)
        for (let i = 0; i < want.data.length; i++) {
          const b = want.data[i] as number;
          worstElem = Math.max(worstElem, Math.abs((got.data[i] as number) - b) / Math.abs(b));
        }
        console.log(
          `${engine}: kws [${batch}, ${time}, 40]: max |Δ| / max |logit| ${worst.toExponential(2)}, max per-element relative ${worstElem.toExponential(2)}`,
        );
        expect(worst).toBeLessThan(1e-4);
        expect(worstElem).toBeLessThan(1e-4);
      }
      await o.dispose();
    });
});
