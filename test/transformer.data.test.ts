// Transformer graphs on sparrow-f32 (the fusions of src/ir/fuse_patterns.ts and
// fuse_attention.ts, the integer and mask kernels of assembly/f32ops/tensor.ts), against oracles:
//   - bert-tiny-random.onnx (../shared/data/models/zoo: a BERT-shaped encoder, 2 layers, hidden
//     128, opset 14) against onnxruntime-node at sequence length 128, with and without padding;
//   - stories260K-kv.onnx (examples/models: Llama with a KV cache, exported by
//     scripts/export-llama2c.py) against the plain TS forward pass of llama2.c
//     (src/bench/llama_ref.ts) on the shared checkpoint: logits of a prompt in one pass and of
//     decode steps with the cache, and greedy decoding of 200 tokens from BOS to the same text.
// Every node must run in WASM (no fallback), and the report must count the fused blocks.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import '../src/ops/ref/index.js';
import { Session } from '../src/runtime/session.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { Llama2cRef, argmax, generateGreedy } from '../src/bench/llama_ref.js';
import { Llama2cTokenizer } from '../src/io/tokenizer_llama2c.js';
import type { Tensor } from '../src/ops/types.js';
import { dataPath, haveData } from './helpers/data.js';
import { lcg } from './helpers/tensors.js';

const BERT = dataPath('models', 'zoo', 'bert-tiny-random.onnx');
const HAVE_BERT = haveData('bert-tiny-random.onnx (models/zoo)', 'models/zoo/bert-tiny-random.onnx');
const LLAMA_DIR = dataPath('models', 'stories260K');
const HAVE_LLAMA = haveData(
  'llama2.c stories260K (checkpoint, tok512.bin)',
  'models/stories260K/stories260K.bin',
  'models/stories260K/tok512.bin',
);
const KV = resolve(process.cwd(), 'examples/models/stories260K-kv.onnx');

const i64 = (dims: number[], v: number[]): Tensor => ({ dtype: 'int64', dims, data: BigInt64Array.from(v, BigInt) });

/** max |a − b| / max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0,
    m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

describe.runIf(HAVE_BERT)('bert-tiny in sparrow-f32 vs onnxruntime-node', () => {
  it('T = 128, no padding and the last 20 tokens padded: within 1e-4 of the largest output; all in WASM; 2 attention blocks, 5 LayerNorms, 2 Gelus fused', async () => {
    const bytes = new Uint8Array(readFileSync(BERT));
    const s = await Session.fromOnnx(bytes, { engine: 'sparrow-f32' });
    const ort = await createOrtEngine('ort-node', bytes);
    try {
      const r = lcg(128);
      const T = 128;
      const ids = Array.from({ length: T }, () => Math.floor(r() * 30522));
      for (const pad of [0, 20]) {
        const feeds = {
          input_ids: i64([1, T], ids),
          attention_mask: i64(
            [1, T],
            Array.from({ length: T }, (_, i) => (i < T - pad ? 1 : 0)),
          ),
        };
        const got = (await s.run(feeds))['last_hidden_state']!;
        const want = (await ort.run(feeds))['last_hidden_state']!;
        expect(got.dims).toEqual([1, T, 128]);
        const e = relErr(got.data as Float32Array, want.data as Float32Array);
        console.log(`bert-tiny T=${T} pad=${pad}: sparrow-f32 vs onnxruntime-node max |Δ| / max |y| = ${e.toExponential(2)}`);
        expect(e).toBeLessThan(1e-4);
      }
      expect(s.report!.fallbackOps).toEqual([]);
      expect(s.report!.fused).toMatchObject({ attention: 2, layerNorms: 5, gelus: 2 });
    } finally {
      await ort.dispose();
    }
  });
});

describe.runIf(HAVE_LLAMA)('stories260K-kv in sparrow-f32 vs the TS forward pass (llama_ref)', () => {
  const past0 = (): Tensor[] => Array.from({ length: 10 }, () => ({ dtype: 'float32', dims: [1, 4, 0, 8], data: new Float32Array(0) }));
  const feedsOf = (ids: number[], pos0: number, past: Tensor[]): Record<string, Tensor> => {
    const S = ids.length;
    const f: Record<string, Tensor> = {
      input_ids: i64([1, S], ids),
      attention_mask: i64([1, pos0 + S], Array(pos0 + S).fill(1)),
      position_ids: i64(
        [1, S],
        ids.map((_, i) => pos0 + i),
      ),
    };
    for (let l = 0; l < 5; l++) {
      f[`past_key_values.${l}.key`] = past[2 * l]!;
      f[`past_key_values.${l}.value`] = past[2 * l + 1]!;
    }
    return f;
  };
  const presents = (out: Record<string, Tensor>): Tensor[] =>
    Array.from({ length: 10 }, (_, j) => out[`present.${j >> 1}.${j & 1 ? 'value' : 'key'}`]!);

  it('logits of a 64-token prompt in one pass, then of 8 decode steps with the cache, within 1e-4; all in WASM; 5 attention blocks, 11 RMSNorms fused', async () => {
    const ref = Llama2cRef.fromBytes(new Uint8Array(readFileSync(join(LLAMA_DIR, 'stories260K.bin'))));
    const s = await Session.fromOnnx(new Uint8Array(readFileSync(KV)), { engine: 'sparrow-f32' });
    const r = lcg(7);
    const tokens = [1, ...Array.from({ length: 71 }, () => 3 + Math.floor(r() * 509))];
    const want = ref.logits(tokens);
    const prompt = tokens.slice(0, 64);
    const out = await s.run(feedsOf(prompt, 0, past0()));
    const e0 = relErr(out['logits']!.data as Float32Array, want.subarray(0, 64 * 512));
    console.log(`stories260K-kv prompt of 64 (P = 0): max |Δ| / max |logit| = ${e0.toExponential(2)}`);
    expect(e0).toBeLessThan(1e-4);
    let past = presents(out);
    for (let pos = 64; pos < 72; pos++) {
      const o = await s.run(feedsOf([tokens[pos]!], pos, past));
      const e = relErr(o['logits']!.data as Float32Array, want.subarray(pos * 512, (pos + 1) * 512));
      expect(e, `position ${pos}`).toBeLessThan(1e-4);
      past = presents(o);
    }
    expect(s.report!.fallbackOps).toEqual([]);
    expect(s.report!.fused).toMatchObject({ attention: 5, rmsNorms: 11 });
  });

  it('greedy decoding of 200 tokens from BOS with the cache: the reference tokens and text', async () => {
    const tok = Llama2cTokenizer.fromBytes(new Uint8Array(readFileSync(join(LLAMA_DIR, 'tok512.bin'))), 512);
    const ref = generateGreedy(Llama2cRef.fromBytes(new Uint8Array(readFileSync(join(LLAMA_DIR, 'stories260K.bin')))), tok, 200);
    const s = await Session.fromOnnx(new Uint8Array(readFileSync(KV)), { engine: 'sparrow-f32' });
    const tokens = [1];
    let past = past0();
    for (let pos = 0; pos < 200; pos++) {
      const out = await s.run(feedsOf([tokens[pos]!], pos, past));
      tokens.push(argmax(out['logits']!.data as Float32Array));
      past = presents(out);
    }
    expect(tokens).toEqual(ref.tokens);
    const text = new TextDecoder().decode(tok.decodeBytes(tokens.slice(1), { prev: tokens[0], safe: true })) + '\n';
    expect(text).toBe(new TextDecoder().decode(ref.stdout));
    expect(s.report!.fallbackOps).toEqual([]);
  });
});
