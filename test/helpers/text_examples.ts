// Bindings of the /generate and /embed tests in workerd (test/workers/text.workers.test.ts), made
// in Node when the workers pool starts (vitest.config.ts) and cached in .sparrow-data/models/ as
// the examples are (scripts/examples.js compressExamples: same stamps):
//   TEST_STORIES_B64      stories260K as `npm start` serves it (int8, its tokenizer stored)
//   TEST_STORIES_F32_B64  stories260K with float32 weights (`sparrow compress --float --tokenizer`)
//   TEST_ENCODER_B64      the encoder of text_models.ts (`--float --tokenizer` wordpiece tokenizer.json)
//   TEST_GREEDY_JSON      test/fixtures/text/stories260K-greedy-bos-200.json (llama_ref's text)
//   TEST_WORDPIECE_JSON   test/fixtures/tokenizers/expected.json (the Rust tokenizers' ids)
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildModel } from '../../src/onnx/build.js';
import { ENC, encoderWeights } from './text_models.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Example {
  id: string;
  onnx: string;
  args: string[];
  files?: string[];
}
interface Examples {
  EXAMPLES: Example[];
  TEST_EXAMPLES: Example[];
  compressExamples(o?: { log?: (s: string) => void; examples?: Example[] }): Promise<Array<{ id: string; file: string }>>;
}

/** The encoder of text_models.ts as ONNX (opset 17). */
export function encoderOnnxBytes(): Uint8Array {
  const { V, D, eps } = ENC;
  const w = encoderWeights();
  return buildModel({
    nodes: [
      { op: 'Gather', inputs: ['E', 'input_ids'], outputs: ['h0'] },
      { op: 'LayerNormalization', inputs: ['h0', 'gamma', 'beta'], outputs: ['h1'], attrs: { axis: -1, epsilon: eps } },
      { op: 'MatMul', inputs: ['h1', 'W'], outputs: ['h2'] },
      { op: 'Add', inputs: ['h2', 'b'], outputs: ['h3'] },
      { op: 'Cast', inputs: ['attention_mask'], outputs: ['mf'], attrs: { to: 1 } },
      { op: 'Unsqueeze', inputs: ['mf', 'ax'], outputs: ['m3'] },
      { op: 'Mul', inputs: ['h3', 'm3'], outputs: ['last_hidden_state'] },
    ],
    inputs: [
      { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
      { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
    ],
    outputs: [{ name: 'last_hidden_state', dtype: 'float32', dims: ['batch', 'sequence', D] }],
    initializers: {
      E: { dtype: 'float32', dims: [V, D], data: w.E },
      gamma: { dtype: 'float32', dims: [D], data: w.gamma },
      beta: { dtype: 'float32', dims: [D], data: w.beta },
      W: { dtype: 'float32', dims: [D, D], data: w.W },
      b: { dtype: 'float32', dims: [D], data: w.b },
      ax: { dtype: 'int64', dims: [1], data: BigInt64Array.of(2n) },
    },
    opsets: { '': 17 },
  });
}

/** encoderOnnxBytes() written to .sparrow-data/models/test-encoder.onnx when its bytes changed. */
function encoderOnnx(): string {
  const bytes = encoderOnnxBytes();
  const rel = '.sparrow-data/models/test-encoder.onnx';
  const file = join(ROOT, rel);
  mkdirSync(join(ROOT, '.sparrow-data/models'), { recursive: true });
  if (!existsSync(file) || !Buffer.from(bytes).equals(readFileSync(file))) writeFileSync(file, bytes);
  return rel;
}

export async function textBindings(): Promise<Record<string, string>> {
  const ex = (await import(pathToFileURL(join(ROOT, 'scripts', 'examples.js')).href)) as Examples;
  const wordpiece = 'test/fixtures/tokenizers/wordpiece/tokenizer.json';
  const models = await ex.compressExamples({
    log: (s) => process.stderr.write(`${s}\n`),
    examples: [
      ...ex.EXAMPLES.filter((e) => e.id === 'stories260k'),
      ...ex.TEST_EXAMPLES,
      {
        id: 'test-encoder',
        onnx: encoderOnnx(),
        args: ['--float', '--tokenizer', wordpiece],
        files: [wordpiece, 'test/fixtures/tokenizers/wordpiece/tokenizer_config.json'],
      },
    ],
  });
  const b64 = (id: string): string => readFileSync(models.find((m) => m.id === id)!.file).toString('base64');
  const text = (f: string): string => readFileSync(join(ROOT, f), 'utf8');
  return {
    TEST_STORIES_B64: b64('stories260k'),
    TEST_STORIES_F32_B64: b64('stories260k-f32'),
    TEST_ENCODER_B64: b64('test-encoder'),
    TEST_GREEDY_JSON: text('test/fixtures/text/stories260K-greedy-bos-200.json'),
    TEST_WORDPIECE_JSON: text('test/fixtures/tokenizers/expected.json'),
  };
}
