// src/io/tokenizer.ts. Hugging Face tokenizer.json through @huggingface/tokenizers against the
// reference implementation (the Rust `tokenizers` library, 0.23.2): three small tokenizers
// (BERT WordPiece, GPT-2 byte-level BPE, SentencePiece-style Unigram) made and run by
// scripts/make-tokenizer-fixtures.py, whose ids and decoded texts are in
// test/fixtures/tokenizers/expected.json. The llama2.c tokenizer wrapper against
// src/io/tokenizer_llama2c.ts (itself checked against run.c in llama.data.test.ts), on the
// tokenizer bundled beside the KV model.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HfTextTokenizer, Llama2cTextTokenizer, isJsonBytes, loadTokenizer } from '../src/io/tokenizer.js';
import { Llama2cTokenizer } from '../src/io/tokenizer_llama2c.js';
import { SparrowError } from '../src/errors.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const FIX = join(ROOT, 'test/fixtures/tokenizers');
const read = (p: string): Uint8Array => new Uint8Array(readFileSync(p));
const EXPECTED = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as {
  strings: string[];
  cases: Record<string, Array<{ ids: number[]; tokens: string[]; decoded: string }>>;
};
const hf = (name: string): HfTextTokenizer =>
  new HfTextTokenizer(read(join(FIX, name, 'tokenizer.json')), read(join(FIX, name, 'tokenizer_config.json')));

function expectInvalid(f: () => unknown, re?: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SparrowError);
    expect((e as SparrowError).code).toBe('invalid_argument');
    if (re) expect((e as Error).message).toMatch(re);
    return;
  }
  throw new Error('expected an invalid_argument error');
}

describe('tokenizer.json (@huggingface/tokenizers) = the Rust tokenizers library', () => {
  for (const name of ['wordpiece', 'bytelevel', 'unigram']) {
    it(`${name}: ids with special tokens and decoded text of every test string`, () => {
      const t = hf(name);
      expect(t.kind).toBe('huggingface');
      EXPECTED.cases[name]!.forEach((want, i) => {
        const s = EXPECTED.strings[i]!;
        expect(t.encode(s), `${name} ${JSON.stringify(s)}`).toEqual(want.ids);
        expect(t.decode(want.ids), `${name} decode ${JSON.stringify(s)}`).toBe(want.decoded);
      });
    });
  }

  it('end-of-sequence ids come from tokenizer_config.json', () => {
    expect(hf('bytelevel').eos).toEqual([0]); // <|endoftext|>
    expect(hf('unigram').eos).toEqual([1]); // </s>
    expect(hf('wordpiece').eos).toEqual([]);
  });

  it('the streaming decoder adds up to decode(), never printing half a character', () => {
    for (const name of ['wordpiece', 'bytelevel', 'unigram']) {
      const t = hf(name);
      for (const [i, s] of EXPECTED.strings.entries()) {
        const ids = EXPECTED.cases[name]![i]!.ids;
        const d = t.streamDecoder([]);
        const parts = ids.map(d);
        for (const p of parts) expect(p).not.toContain('\uFFFD');
        expect(parts.join(''), `${name} ${JSON.stringify(s)}`).toBe(t.decode(ids));
      }
    }
    // the byte-level emoji spans several tokens: nothing is printed until it is whole
    const t = hf('bytelevel');
    const ids = t.encode('🐦');
    expect(ids.length).toBeGreaterThan(1);
    const d = t.streamDecoder([]);
    expect(ids.map(d)).toEqual([...Array(ids.length - 1).fill(''), '🐦']);
  });

  it('refuses what is not a tokenizer.json', () => {
    expectInvalid(() => new HfTextTokenizer(new TextEncoder().encode('{"model": ')), /not JSON/);
    expectInvalid(() => new HfTextTokenizer(new TextEncoder().encode('[1, 2]')), /not a JSON object/);
    expectInvalid(() => new HfTextTokenizer({ version: '1.0' }), /no "model"/);
    expectInvalid(() => new HfTextTokenizer({ model: { type: 'NoSuchModel', vocab: {} } }), /not supported/);
  });
});

describe('llama2.c tokenizer as a TextTokenizer', () => {
  const bytes = read(join(ROOT, 'examples/models/stories260K-kv.tokenizer.bin'));
  const raw = Llama2cTokenizer.fromBytes(bytes, 512);
  const t = new Llama2cTextTokenizer(raw);

  it('encodes with BOS and decodes as run.c prints', () => {
    expect(t.encode('Lily and Ben')).toEqual(raw.encode('Lily and Ben', { bos: true }));
    expect(t.eos).toEqual([2]);
    const ids = raw.encode('Once upon a time, there was a little girl.', { bos: true });
    const d = t.streamDecoder(ids.slice(0, 1));
    expect(ids.slice(1).map(d).join('')).toBe(raw.decode(ids.slice(1), { prev: 1, safe: true }));
    expect(t.decode(ids.slice(1))).toBe('Once upon a time, there was a little girl.');
  });

  it('assembles UTF-8 across byte pieces (run.c drops bytes >= 0x80); skips control bytes as run.c does', () => {
    // '☃' = E2 98 83, not in the vocabulary: byte-fallback tokens byte + 3 after the dummy ' ' piece
    const ids = raw.encode('☃', { bos: false });
    expect(ids).toEqual([410, 0xe2 + 3, 0x98 + 3, 0x83 + 3]);
    const d = t.streamDecoder([1]);
    expect(ids.map(d)).toEqual(['', '', '', '☃']); // ' ' after BOS is dropped, as run.c does
    expect(raw.decode(ids, { prev: 1, safe: true })).toBe(''); // run.c: nothing
    expect(t.decode([0x07 + 3, 0x41 + 3])).toBe('A'); // BEL skipped
  });

  it('loadTokenizer tells the formats apart', () => {
    expect(loadTokenizer(bytes, { vocabSize: 512 }).kind).toBe('llama2c');
    expect(loadTokenizer(read(join(FIX, 'wordpiece/tokenizer.json'))).kind).toBe('huggingface');
    expect(isJsonBytes(new TextEncoder().encode('  \n{"a":1}'))).toBe(true);
    expect(isJsonBytes(bytes)).toBe(false);
    expectInvalid(() => loadTokenizer(new Uint8Array(2)));
  });
});
