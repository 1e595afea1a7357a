#!/usr/bin/env node
// test/fixtures/text/stories260K-greedy-bos-200.json: what the plain TypeScript Llama forward pass
// over the llama2.c checkpoint (src/bench/llama_ref.ts generateGreedy, = run.c byte for byte:
// test/llama.data.test.ts) writes greedily for 200 steps from BOS. The oracle of the tiers that
// cannot read ../shared/data (the Worker in workerd, the page in Chromium); test/text.fixtures.data.test.ts
// checks that the file still equals llama_ref's output. A development step (needs `npm run build:ts`
// and ../shared/data or $SPARROW_DATA):
//
//   node scripts/make-text-fixtures.mjs && npx prettier --write test/fixtures/text/
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = process.env.SPARROW_DATA ?? join(ROOT, '..', 'shared', 'data');
const { Llama2cRef, generateGreedy } = await import(join(ROOT, 'dist/bench/llama_ref.js'));
const { Llama2cTokenizer } = await import(join(ROOT, 'dist/io/tokenizer_llama2c.js'));

export const STEPS = 200;
const tok = Llama2cTokenizer.fromBytes(new Uint8Array(readFileSync(join(DATA, 'models/stories260K/tok512.bin'))), 512);
const ref = Llama2cRef.fromBytes(new Uint8Array(readFileSync(join(DATA, 'models/stories260K/stories260K.bin'))));
const r = generateGreedy(ref, tok, STEPS);
const out = join(ROOT, 'test/fixtures/text/stories260K-greedy-bos-200.json');
mkdirSync(dirname(out), { recursive: true });
const doc = {
  source:
    'src/bench/llama_ref.ts generateGreedy(stories260K.bin, tok512.bin, 200) from BOS (scripts/make-text-fixtures.mjs): ' +
    'tokens = BOS then the generated ids; stdout = what run.c prints (-t 0 -n 200), final newline included',
  tokens: r.tokens,
  stdout: new TextDecoder().decode(r.stdout),
};
writeFileSync(out, JSON.stringify(doc, null, 1) + '\n');
console.log(`${out}: ${r.tokens.length - 1} generated tokens, ${r.stdout.length} bytes of text`);
