// Generation and embeddings on shared data (data tier: ../shared/data through test/helpers/data.ts).
//  - Greedy decoding through src/runtime/generate.ts on examples/models/stories260K-kv.onnx gives
//    exactly the text of the plain TS forward pass over the llama2.c checkpoint
//    (src/bench/llama_ref.ts generateGreedy, which llama.data.test.ts shows equals run.c byte for
//    byte), from BOS (200 tokens) and after a prompt, in the reference engine and sparrow-f32.
//  - embed (src/runtime/embed.ts) on the BERT-shaped zoo encoder = mean pooling + L2 of
//    onnxruntime-node's last_hidden_state, computed here, within 1e-5.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataPath, haveData } from './helpers/data.js';
import { Session } from '../src/runtime/session.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { generate } from '../src/runtime/generate.js';
import { embed, embedBatch } from '../src/runtime/embed.js';
import { Llama2cRef, generateGreedy } from '../src/bench/llama_ref.js';
import { Llama2cTokenizer } from '../src/io/tokenizer_llama2c.js';
import { HfTextTokenizer, Llama2cTextTokenizer } from '../src/io/tokenizer.js';
import type { Tensor } from '../src/ops/types.js';
import '../src/ops/ref/index.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const KV = join(ROOT, 'examples/models/stories260K-kv.onnx');
const HAVE_LLAMA = haveData('generate vs the llama2.c forward pass', 'models/stories260K/stories260K.bin', 'models/stories260K/tok512.bin');
const HAVE_BERT = haveData('embed on the zoo BERT encoder', 'models/zoo/bert-tiny-random.onnx');

/** The text generate() streams through the tokenizer's decoder. */
async function generatedText(
  s: Session,
  tok: Llama2cTextTokenizer,
  prompt: number[],
  maxTokens: number,
): Promise<{ text: string; tokens: number[] }> {
  const d = tok.streamDecoder(prompt);
  let text = '';
  const tokens: number[] = [];
  for await (const t of generate(s, prompt, { temperature: 0, maxTokens, stop: tok.eos })) {
    tokens.push(t);
    text += d(t);
  }
  return { text, tokens };
}

describe.runIf(HAVE_LLAMA)('greedy generation = the llama2.c forward pass (src/bench/llama_ref.ts)', () => {
  let raw: Llama2cTokenizer;
  let ref: Llama2cRef;
  beforeAll(() => {
    raw = Llama2cTokenizer.fromBytes(new Uint8Array(readFileSync(dataPath('models/stories260K/tok512.bin'))), 512);
    ref = Llama2cRef.fromBytes(new Uint8Array(readFileSync(dataPath('models/stories260K/stories260K.bin'))));
  });

  for (const engine of ['reference', 'sparrow-f32'] as const) {
    it(`${engine}: 200 tokens from BOS, the same text and tokens`, async () => {
      const want = generateGreedy(ref, raw, 200);
      const s = await Session.fromOnnx(new Uint8Array(readFileSync(KV)), { engine });
      const got = await generatedText(s, new Llama2cTextTokenizer(raw), [1], 200);
      expect(got.tokens).toEqual(want.tokens.slice(1));
      expect(got.tokens).toHaveLength(200);
      expect(got.text + '\n').toBe(new TextDecoder().decode(want.stdout));
    });

    it(`${engine}: after the prompt "Lily and Ben", as run.c -n 20 prints`, async () => {
      const want = generateGreedy(ref, raw, 20, 'Lily and Ben');
      const tok = new Llama2cTextTokenizer(raw);
      const prompt = tok.encode('Lily and Ben');
      const s = await Session.fromOnnx(new Uint8Array(readFileSync(KV)), { engine });
      // run.c's 20 positions: the prompt's tokens after BOS, then generated ones
      const got = await generatedText(s, tok, prompt, 20 - (prompt.length - 1));
      expect('Lily and Ben' + got.text + '\n').toBe(new TextDecoder().decode(want.stdout));
    });
  }
});

/** Mean of the rows of h [1, S, D] over the mask, then divided by its L2 norm: float64, written out here. */
function pooledOracle(h: Tensor, mask: number[]): number[] {
  const [, S, D] = h.dims as [number, number, number];
  const x = h.data as Float32Array;
  const v = new Array<number>(D).fill(0);
  let n = 0;
  for (let s = 0; s < S; s++) {
    if (!mask[s]) continue;
    n++;
    for (let d = 0; d < D; d++) v[d]! += x[s * D + d]!;
  }
  const m = v.map((a) => a / n);
  const norm = Math.sqrt(m.reduce((a, b) => a + b * b, 0));
  return m.map((a) => a / norm);
}

describe.runIf(HAVE_BERT)('embed on bert-tiny-random = mean pooling + L2 of onnxruntime-node', () => {
  const TEXTS = ['Sparrow runs compressed neural networks at the edge.', 'Hello world', 'Café déjà vu: naïve façade!'];

  it('unit vectors within 1e-5 of the oracle, reference and sparrow-f32; a padded batch too', async () => {
    const bytes = new Uint8Array(readFileSync(dataPath('models/zoo/bert-tiny-random.onnx')));
    const fix = join(ROOT, 'test/fixtures/tokenizers/wordpiece');
    const tok = new HfTextTokenizer(readFileSync(join(fix, 'tokenizer.json')), readFileSync(join(fix, 'tokenizer_config.json')));
    const ort = await createOrtEngine('ort-node', bytes);
    const wants: number[][] = [];
    try {
      for (const text of TEXTS) {
        const ids = tok.encode(text);
        const S = ids.length;
        const out = await ort.run({
          input_ids: { dtype: 'int64', dims: [1, S], data: BigInt64Array.from(ids, BigInt) },
          attention_mask: { dtype: 'int64', dims: [1, S], data: new BigInt64Array(S).fill(1n) },
        });
        wants.push(pooledOracle(out['last_hidden_state']!, Array(S).fill(1)));
      }
    } finally {
      await ort.dispose();
    }
    for (const engine of ['reference', 'sparrow-f32'] as const) {
      const s = await Session.fromOnnx(bytes, { engine });
      for (const [i, text] of TEXTS.entries()) {
        const v = await embed(s, tok.encode(text));
        expect(v).toHaveLength(128);
        expect(Math.hypot(...v)).toBeCloseTo(1, 6);
        const e = Math.max(...Array.from(v, (x, k) => Math.abs(x - wants[i]![k]!)));
        console.log(`bert-tiny ${engine} "${text.slice(0, 20)}": max |Δ| vs ORT = ${e.toExponential(2)}`);
        expect(e).toBeLessThan(1e-5);
      }
      const batch = await embedBatch(
        s,
        TEXTS.map((t) => tok.encode(t)),
      );
      batch.forEach((v, i) => expect(Math.max(...Array.from(v, (x, k) => Math.abs(x - wants[i]![k]!)))).toBeLessThan(1e-5));
    }
  });
});
