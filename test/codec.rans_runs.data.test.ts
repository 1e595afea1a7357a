// Codec 6 (rans-runs) on real weights (data tier): every int8 weight of ResNet-20 at 0 and
// 50, 70, 90 % per-layer magnitude sparsity round-trips through the TS reference and the WASM decoder,
// and the whole model codes smaller than brotli-11 of the same bytes (the bench:codec line).
import { describe, expect, it, beforeAll } from 'vitest';
import zlib from 'node:zlib';
import { CODEC_RANS_RUNS, decodeInt8Ref, encodeInt8 } from '../src/codec/int8.js';
import { quantizedWeights } from '../src/bench/weights.js';
import { concatInt8 } from '../src/bench/codec.js';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { dataPath, haveData } from './helpers/data.js';

describe.runIf(haveData('codec 6 on ResNet-20 weights', 'models/resnet20-cifar10.onnx'))('codec 6 on ResNet-20 weights', () => {
  let w: SparrowWasm;
  beforeAll(async () => {
    w = await loadWasmNode();
  });

  for (const sparsity of [0, 0.5, 0.7, 0.9]) {
    it(`sparsity ${sparsity}: reference and WASM decode every tensor exactly; smaller than brotli-11`, () => {
      const weights = quantizedWeights(dataPath('models/resnet20-cifar10.onnx'), sparsity);
      expect(weights.length).toBe(20);
      let bytes = 0,
        bound = 0;
      for (const t of weights) {
        const e = encodeInt8(t.q, { cols: t.q.length / t.dims[0]!, dims: t.dims, codecs: [CODEC_RANS_RUNS] });
        expect(e.codec).toBe(CODEC_RANS_RUNS);
        expect(Array.from(decodeInt8Ref(e.codec, e.payload, t.q.length)), t.name).toEqual(Array.from(t.q));
        expect(Array.from(w.decodeInt8(e.codec, e.payload, t.q.length)), t.name).toEqual(Array.from(t.q));
        bytes += e.payload.length;
        bound += e.entropyBytes + e.tableBytes;
      }
      const all = concatInt8(weights.map((x) => x.q));
      const br = zlib.brotliCompressSync(all, {
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: all.length },
      });
      expect(bytes).toBeLessThan(br.length);
      // within 1 % of the bound (runs, values and signs per context, plus tables) at every sparsity
      expect(bytes / bound).toBeLessThan(1.01);
    });
  }
});
