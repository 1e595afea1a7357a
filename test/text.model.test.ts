// A tokenizer stored in a .sparrow file (src/format/text.ts, src/runtime/text_model.ts):
//  - withText adds one raw uint8 section outside the graph and metadata.text, keeps every other
//    section byte for byte (the model's outputs are unchanged), replaces a tokenizer already there;
//    inspect does not count it as weights; bad text metadata is corrupt_metadata.
//  - the stored llama2.c tokenizer = the file's own (Llama2cTokenizer on tok512.bin); a stored
//    tokenizer.json encodes the ten test strings as the Rust tokenizers library did
//    (test/fixtures/tokenizers/expected.json).
//  - stories260K as a float .sparrow (`sparrow compress --float`: the optimized graph, float32
//    weights) with its stored tokenizer generates, greedy from BOS, exactly the 200 tokens and the
//    text of the TS Llama forward pass over the llama2.c checkpoint
//    (test/fixtures/text/stories260K-greedy-bos-200.json, checked by text.fixtures.data.test.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { writeSparrowModel } from '../src/runtime/sparrow_model.js';
import { Session } from '../src/runtime/session.js';
import { generate } from '../src/runtime/generate.js';
import { readContainer, writeContainer } from '../src/format/container.js';
import { parseTextMeta, readText, withText } from '../src/format/text.js';
import { inspectSparrow } from '../src/format/inspect.js';
import { isEncoderInputs, textModelFrom, textModelOf } from '../src/runtime/text_model.js';
import { Llama2cTokenizer } from '../src/io/tokenizer_llama2c.js';
import { SparrowError } from '../src/errors.js';
import '../src/ops/ref/index.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const read = (p: string): Uint8Array => new Uint8Array(readFileSync(join(ROOT, p)));
const KV = read('examples/models/stories260K-kv.onnx');
const TOK = read('examples/models/stories260K-kv.tokenizer.bin');
const MNIST = read('examples/models/mnist-8.onnx');
const GREEDY = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/text/stories260K-greedy-bos-200.json'), 'utf8')) as {
  tokens: number[];
  stdout: string;
};
const EXPECTED = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/tokenizers/expected.json'), 'utf8')) as {
  strings: string[];
  cases: Record<string, Array<{ ids: number[] }>>;
};

/** What `sparrow compress --float` writes: the optimized graph with float32 weights. */
function floatSparrow(onnx: Uint8Array): Uint8Array {
  const g = importOnnx(onnx);
  optimize(g);
  return writeSparrowModel(g, {});
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SparrowError);
    return (e as SparrowError).code;
  }
  return 'no error';
}

describe('a tokenizer stored in a .sparrow file', () => {
  let stories: Uint8Array; // float stories260K with its llama2.c tokenizer
  beforeAll(() => {
    stories = withText(floatSparrow(KV), { kind: 'llama2c', tokenizer: TOK, vocabSize: 512, contextLength: 512, eos: [7] });
  });

  it('adds one raw uint8 section outside the graph and keeps every other section byte for byte', async () => {
    const plain = floatSparrow(MNIST);
    const withTok = withText(plain, { kind: 'llama2c', tokenizer: TOK });
    const a = readContainer(plain);
    const b = readContainer(withTok);
    expect(b.header.sectionCount).toBe(a.header.sectionCount + 1);
    for (let i = 0; i < a.header.sectionCount; i++) {
      expect(b.payload(i)).toEqual(a.payload(i));
      expect(b.header.meta.tensors[i]).toEqual(a.header.meta.tensors[i]);
    }
    expect(b.header.meta.tensors.at(-1)).toEqual({
      name: 'tokenizer',
      shape: [TOK.length],
      dtype: 'uint8',
      section: a.header.sectionCount,
      value: null,
    });
    expect(readText(withTok)!.tokenizer).toEqual(TOK);
    expect(readText(plain)).toBeNull();
    // the model runs as before: same outputs, bit for bit
    const x = { dtype: 'float32' as const, dims: [1, 1, 28, 28], data: Float32Array.from({ length: 784 }, (_, i) => (i % 29) / 29) };
    const s1 = await Session.fromSparrow(plain, { engine: 'sparrow-f32' });
    const s2 = await Session.fromSparrow(withTok, { engine: 'sparrow-f32' });
    const name = s1.inputNames[0]!;
    const y1 = (await s1.run({ [name]: x }))[s1.outputNames[0]!]!.data as Float32Array;
    const y2 = (await s2.run({ [name]: x }))[s2.outputNames[0]!]!.data as Float32Array;
    expect(Buffer.from(y2.buffer)).toEqual(Buffer.from(y1.buffer));
    // not weights
    const ia = inspectSparrow(plain);
    const ib = inspectSparrow(withTok);
    expect([ib.params, ib.nonzero]).toEqual([ia.params, ia.nonzero]);
  });

  it('attaching again replaces the tokenizer (one section, the new facts)', () => {
    const again = withText(stories, { kind: 'llama2c', tokenizer: TOK.slice(0, 4 + 512 * 8 + 600), contextLength: 64 });
    const h = readContainer(again).header;
    expect(h.meta.tensors.filter((t) => t['value'] === null)).toHaveLength(1);
    expect(h.sectionCount).toBe(readContainer(stories).header.sectionCount);
    expect(parseTextMeta(h)).toEqual({ tokenizer: { kind: 'llama2c', tensor: 'tokenizer' }, contextLength: 64 });
  });

  it('the stored llama2.c tokenizer is the file it came from; stop ids and context length come along', () => {
    const m = textModelOf(readContainer(stories))!;
    const direct = Llama2cTokenizer.fromBytes(TOK, 512);
    for (const s of ['Once upon a time', 'Lily and Ben', 'a café'])
      expect(m.tokenizer.encode(s)).toEqual(direct.encode(s, { bos: true, eos: false }));
    expect(m.stop).toEqual([2, 7]);
    expect(m.contextLength).toBe(512);
  });

  it('a stored tokenizer.json encodes as the Rust tokenizers library (wordpiece, bytelevel, unigram)', () => {
    const model = floatSparrow(MNIST);
    for (const kind of ['wordpiece', 'bytelevel', 'unigram']) {
      const dir = `test/fixtures/tokenizers/${kind}`;
      const config = JSON.parse(readFileSync(join(ROOT, dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
      const file = withText(model, { kind: 'huggingface', tokenizer: read(`${dir}/tokenizer.json`), config });
      const m = textModelOf(readContainer(file))!;
      EXPECTED.strings.forEach((s, i) => expect(m.tokenizer.encode(s), `${kind}: ${s}`).toEqual(EXPECTED.cases[kind]![i]!.ids));
    }
  });

  it('bad text metadata is corrupt_metadata; bad arguments are invalid_argument', () => {
    const { header, payload } = readContainer(stories);
    const rewrite = (text: unknown, tensors = header.meta.tensors): Uint8Array =>
      writeContainer(
        { ...header.meta, text, tensors },
        header.sections.map((s, i) => ({ codec: s.codec, dtype: s.dtype, payload: payload(i), decodedBytes: s.decodedBytes })),
      );
    const good = header.meta['text'] as Record<string, unknown>;
    const tok = good['tokenizer'] as Record<string, unknown>;
    for (const bad of [
      'llama2c',
      { ...good, tokenizer: { ...tok, kind: 'sentencepiece' } },
      { ...good, tokenizer: { ...tok, tensor: 'nope' } },
      { ...good, tokenizer: { ...tok, tensor: header.meta.tensors[0]!.name } }, // a graph constant
      { ...good, eos: [-1] },
      { ...good, contextLength: 0 },
      { ...good, tokenizer: { ...tok, config: 'x' } },
    ])
      expect(
        codeOf(() => readText(rewrite(bad))),
        JSON.stringify(bad).slice(0, 80),
      ).toBe('corrupt_metadata');
    // the metadata says huggingface, the bytes are a tokenizer.bin
    expect(codeOf(() => textModelOf(readContainer(rewrite({ ...good, tokenizer: { ...tok, kind: 'huggingface' } }))))).toBe(
      'corrupt_metadata',
    );
    // bytes that are no tokenizer at all
    expect(
      codeOf(() => textModelFrom({ meta: { tokenizer: { kind: 'llama2c', tensor: 'tokenizer' } }, tokenizer: Uint8Array.of(1, 2) })),
    ).toBe('corrupt_metadata');
    expect(codeOf(() => withText(stories, { kind: 'llama2c', tokenizer: new Uint8Array(0) }))).toBe('invalid_argument');
    expect(codeOf(() => withText(stories, { kind: 'llama2c', tokenizer: TOK, contextLength: 1.5 }))).toBe('invalid_argument');
  });

  it('greedy from BOS on the float .sparrow with its stored tokenizer = the llama2.c reference text (200 tokens)', async () => {
    const session = await Session.fromSparrow(stories, { engine: 'sparrow-f32' });
    const m = textModelOf(readContainer(stories))!;
    const decode = m.tokenizer.streamDecoder([1]);
    const tokens: number[] = [];
    let text = '';
    for await (const t of generate(session, [1], { temperature: 0, maxTokens: 200, stop: m.stop, maxLength: m.contextLength! })) {
      tokens.push(t);
      text += decode(t);
    }
    expect(tokens).toEqual(GREEDY.tokens.slice(1));
    expect(text + '\n').toBe(GREEDY.stdout);
  });

  it('isEncoderInputs: token ids plus attention_mask / token_type_ids / position_ids only', () => {
    const ids = { dtype: 'int64' as const, dims: [1, -1] };
    expect(isEncoderInputs(['input_ids', 'attention_mask'], { input_ids: ids, attention_mask: ids })).toBe(true);
    expect(isEncoderInputs(['input_ids', 'token_type_ids', 'position_ids'], { input_ids: ids })).toBe(true);
    expect(isEncoderInputs(['input_ids', 'attention_mask', 'past_key_values.0.key'], { input_ids: ids })).toBe(false);
    expect(isEncoderInputs(['input'], { input: { dtype: 'float32', dims: [1, 3, 32, 32] } })).toBe(false);
    expect(isEncoderInputs(['Input3'], {})).toBe(false);
  });
});
