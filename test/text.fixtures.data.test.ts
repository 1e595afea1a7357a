// The committed oracle of the Worker and browser generation tests
// (test/fixtures/text/stories260K-greedy-bos-200.json, written by scripts/make-text-fixtures.mjs)
// is still what the plain TS Llama forward pass over the llama2.c checkpoint writes: 200 greedy
// steps from BOS (src/bench/llama_ref.ts generateGreedy, which test/llama.data.test.ts shows
// equals run.c byte for byte).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dataPath, haveData } from './helpers/data.js';
import { Llama2cRef, generateGreedy } from '../src/bench/llama_ref.js';
import { Llama2cTokenizer } from '../src/io/tokenizer_llama2c.js';

const FIXTURE = new URL('./fixtures/text/stories260K-greedy-bos-200.json', import.meta.url);
const HAVE = haveData('the generation fixture vs llama_ref', 'models/stories260K/stories260K.bin', 'models/stories260K/tok512.bin');

describe.runIf(HAVE)('test/fixtures/text/stories260K-greedy-bos-200.json', () => {
  it('= llama_ref generateGreedy(stories260K.bin, tok512.bin, 200) from BOS', () => {
    const want = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { tokens: number[]; stdout: string };
    const tok = Llama2cTokenizer.fromBytes(new Uint8Array(readFileSync(dataPath('models/stories260K/tok512.bin'))), 512);
    const ref = Llama2cRef.fromBytes(new Uint8Array(readFileSync(dataPath('models/stories260K/stories260K.bin'))));
    const got = generateGreedy(ref, tok, 200);
    expect(want.tokens).toEqual(got.tokens);
    expect(want.tokens).toHaveLength(201);
    expect(want.stdout).toBe(new TextDecoder().decode(got.stdout));
  });
});
