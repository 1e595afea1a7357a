// `sparrow generate` and `sparrow embed` (../shared/CONTRACT.md): text in, tokens or a vector out,
// over src/runtime/generate.ts and src/runtime/embed.ts.
//
// A model finds its tokenizer (first found wins): --tokenizer <file>; the one a .sparrow file
// stores (`sparrow compress --tokenizer`, src/format/text.ts); beside the model
// <stem>.tokenizer.json, <stem>.tokenizer.bin, tokenizer.json, tokenizer.bin; then tokenizer.json
// in the parent folder (the Hugging Face layout, onnx/model.onnx with tokenizer.json above it).
// A .json file is a Hugging Face tokenizer (with tokenizer_config.json from its folder when
// present), anything else a llama2.c tokenizer.bin. The end-of-sequence ids and the context
// length come from the tokenizer, the ONNX metadata (eos_token_id, llama2c.seq_len) and a
// config.json / generation_config.json beside the tokenizer.json (eos_token_id,
// max_position_embeddings).
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { Command } from 'commander';
import { SparrowError } from '../errors.js';
import { MAGIC, readContainer } from '../format/container.js';
import { textOf, type TextAttachment } from '../format/text.js';
import { decodeModel } from '../onnx/proto.js';
import { valueInfoFromOnnx } from '../onnx/attributes.js';
import type { ValueInfo } from '../ops/types.js';
import { loadTokenizer, isJsonBytes, type TextTokenizer } from '../io/tokenizer.js';
import { Session, type EngineName } from '../runtime/session.js';
import { createOrtEngine, isOrtEngine, type OrtEngineName } from '../runtime/ort.js';
import { generate, type DecoderRunner } from '../runtime/generate.js';
import { embed, type EncoderRunner } from '../runtime/embed.js';
import { textModelFrom } from '../runtime/text_model.js';
import { runGenerateBench, formatGenerateBench } from '../bench/generate_bench.js';

const ENGINES: Record<string, EngineName | OrtEngineName> = {
  'sparrow-f32': 'sparrow-f32',
  'sparrow-int8': 'sparrow-int8',
  'sparrow-ref': 'reference',
  'ort-web': 'ort-web',
  'ort-node': 'ort-node',
};

function engineOf(name: string): EngineName | OrtEngineName {
  const e = ENGINES[name];
  if (e) return e;
  throw new SparrowError('invalid_argument', `engine '${name}' is not available; available: ${Object.keys(ENGINES).join(', ')}`);
}

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new SparrowError('io_error', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function isSparrowFile(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && MAGIC.every((b, i) => bytes[i] === b);
}

/** What an ONNX file says of itself: metadata_props and the graph inputs' types (none for .sparrow). */
function onnxFacts(bytes: Uint8Array): { metadata: Record<string, string>; inputs: Record<string, ValueInfo> } {
  if (isSparrowFile(bytes)) return { metadata: {}, inputs: {} };
  const m = decodeModel(bytes);
  const metadata: Record<string, string> = {};
  for (const p of m.metadataProps ?? []) if (p.key) metadata[p.key] = p.value ?? '';
  const inits = new Set((m.graph!.initializer ?? []).map((t) => t.name));
  const inputs: Record<string, ValueInfo> = {};
  for (const vi of m.graph!.input ?? []) if (vi.name && !inits.has(vi.name)) inputs[vi.name] = valueInfoFromOnnx(vi, 'input');
  return { metadata, inputs };
}

interface OpenedRunner {
  runner: DecoderRunner & EncoderRunner;
  dispose: () => Promise<void>;
}

/** A Session (Sparrow engines, .onnx or .sparrow) or an ONNX Runtime engine (with the input types from the file). */
async function openRunner(path: string, bytes: Uint8Array, engine: string, inputs: Record<string, ValueInfo>): Promise<OpenedRunner> {
  const kind = engineOf(engine);
  if (isSparrowFile(bytes)) {
    if (isOrtEngine(kind))
      throw new SparrowError(
        'invalid_argument',
        `${path}: a .sparrow model runs on sparrow-f32, sparrow-int8 or sparrow-ref, not ${engine}`,
      );
    const s = await Session.fromSparrow(bytes, { engine: kind });
    return { runner: s, dispose: async () => {} };
  }
  if (isOrtEngine(kind)) {
    const e = await createOrtEngine(kind, bytes);
    return { runner: Object.assign(e, { inputInfo: inputs }), dispose: () => e.dispose() };
  }
  const s = await Session.fromOnnx(bytes, { engine: kind });
  return { runner: s, dispose: async () => {} };
}

interface FoundTokenizer {
  tokenizer: TextTokenizer;
  path: string;
  /** config.json / generation_config.json beside a tokenizer.json */
  config: Record<string, unknown>;
  /** a stored tokenizer's end ids and context length (src/format/text.ts) */
  stop?: number[];
  contextLength?: number;
}

async function readJsonIfExists(path: string): Promise<Record<string, unknown> | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    const v = JSON.parse(new TextDecoder().decode(await readInput(path))) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch (e) {
    throw new SparrowError('invalid_argument', `${path}: not JSON (${(e as Error).message})`);
  }
}

/** The tokenizer a .sparrow file stores, with its end ids and context length; undefined when it has none. */
function storedTokenizer(modelPath: string, bytes: Uint8Array): FoundTokenizer | undefined {
  if (!isSparrowFile(bytes)) return undefined;
  const info = textOf(readContainer(bytes));
  if (!info) return undefined;
  const m = textModelFrom(info);
  return {
    tokenizer: m.tokenizer,
    path: `${modelPath} (stored ${info.meta.tokenizer.kind} tokenizer)`,
    config: {},
    stop: m.stop,
    ...(m.contextLength ? { contextLength: m.contextLength } : {}),
  };
}

/** The tokenizer of a model (see the header), or a one-line error saying where it was looked for. */
async function findTokenizer(modelPath: string, flag: string | undefined, vocabSize?: number, model?: Uint8Array): Promise<FoundTokenizer> {
  if (!flag && model) {
    const stored = storedTokenizer(modelPath, model);
    if (stored) return stored;
  }
  const dir = dirname(modelPath);
  const stem = basename(modelPath, extname(modelPath));
  const candidates = flag
    ? [flag]
    : [
        join(dir, `${stem}.tokenizer.json`),
        join(dir, `${stem}.tokenizer.bin`),
        join(dir, 'tokenizer.json'),
        join(dir, 'tokenizer.bin'),
        join(dir, '..', 'tokenizer.json'),
      ];
  const path = flag ?? candidates.find((p) => existsSync(p));
  if (!path)
    throw new SparrowError(
      'invalid_argument',
      `no tokenizer for ${modelPath}: give --tokenizer <tokenizer.json | tokenizer.bin>, or put ${stem}.tokenizer.json / tokenizer.json beside the model`,
    );
  const bytes = await readInput(path);
  let config: Record<string, unknown> = {};
  let tokConfig: Record<string, unknown> | undefined;
  if (isJsonBytes(bytes)) {
    const d = dirname(path);
    tokConfig = await readJsonIfExists(join(d, 'tokenizer_config.json'));
    config = { ...(await readJsonIfExists(join(d, 'config.json'))), ...(await readJsonIfExists(join(d, 'generation_config.json'))) };
  }
  try {
    return {
      tokenizer: loadTokenizer(bytes, { ...(tokConfig ? { config: tokConfig } : {}), ...(vocabSize ? { vocabSize } : {}) }),
      path,
      config,
    };
  } catch (e) {
    if (e instanceof SparrowError) throw new SparrowError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}

function intOption(v: string | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(v.trim() !== '' && Number.isInteger(n) && n >= min))
    throw new SparrowError('invalid_argument', `${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

function numOption(v: string | undefined, name: string, ok: (x: number) => boolean, want: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(v.trim() !== '' && Number.isFinite(n) && ok(n))) throw new SparrowError('invalid_argument', `${name} must be ${want}, got "${v}"`);
  return n;
}

/** eos ids: the tokenizer's, the ONNX metadata's eos_token_id, config.json's (a number or a list). */
function eosIds(tok: TextTokenizer, metadata: Record<string, string>, config: Record<string, unknown>): number[] {
  const ids = new Set(tok.eos);
  const add = (v: unknown): void => {
    if (typeof v === 'number' && Number.isInteger(v)) ids.add(v);
    else if (typeof v === 'string' && /^\d+$/.test(v)) ids.add(Number(v));
    else if (Array.isArray(v)) v.forEach(add);
  };
  add(metadata['eos_token_id']);
  add(config['eos_token_id']);
  return [...ids];
}

function contextLength(metadata: Record<string, string>, config: Record<string, unknown>): number | undefined {
  for (const v of [
    metadata['llama2c.seq_len'],
    metadata['max_position_embeddings'],
    config['max_position_embeddings'],
    config['n_positions'],
  ]) {
    const n = Number(v);
    if (v !== undefined && Number.isInteger(n) && n > 0) return n;
  }
  return undefined;
}

/**
 * What `sparrow compress --tokenizer <file>` stores with a model (src/format/text.ts): the file's
 * bytes, its kind, tokenizer_config.json from its folder (tokenizer.json), the end ids and the
 * context length of the ONNX metadata and config.json / generation_config.json (as generate reads
 * them), and the vocabulary size of a llama2.c model (llama2c.vocab_size).
 */
export async function tokenizerAttachment(onnx: Uint8Array, path: string): Promise<TextAttachment> {
  const facts = onnxFacts(onnx);
  const vocabSize = Number(facts.metadata['llama2c.vocab_size']) || undefined;
  const found = await findTokenizer(path, path, vocabSize);
  const bytes = await readInput(path);
  let config: Record<string, unknown> | undefined;
  if (isJsonBytes(bytes)) config = await readJsonIfExists(join(dirname(path), 'tokenizer_config.json'));
  const kind = found.tokenizer.kind;
  const eos = eosIds(found.tokenizer, facts.metadata, found.config).filter((id) => !found.tokenizer.eos.includes(id));
  const contextLengthOf = contextLength(facts.metadata, found.config);
  return {
    kind,
    tokenizer: bytes,
    ...(config ? { config } : {}),
    ...(eos.length ? { eos } : {}),
    ...(contextLengthOf ? { contextLength: contextLengthOf } : {}),
    ...(kind === 'llama2c' && vocabSize ? { vocabSize } : {}),
  };
}

/**
 * The token ids of a text file for `sparrow compress --calib text:` (src/compress/text_calib.ts):
 * the model's tokenizer (`tokenizerPath`, as --tokenizer finds it), one encode per paragraph
 * (blank-line separated: a story each in TinyStories-like text; BOS first where the tokenizer
 * adds it), concatenated.
 */
export async function tokenizeText(onnx: Uint8Array, tokenizerPath: string, textPath: string): Promise<number[]> {
  const facts = onnxFacts(onnx);
  const vocabSize = Number(facts.metadata['llama2c.vocab_size']) || undefined;
  const found = await findTokenizer(tokenizerPath, tokenizerPath, vocabSize);
  const text = new TextDecoder().decode(await readInput(textPath));
  const ids: number[] = [];
  for (const para of text.split(/\n\s*\n/)) if (para.trim()) ids.push(...found.tokenizer.encode(para.trim()));
  return ids;
}

interface GenerateFlags {
  prompt?: string;
  maxTokens: string;
  temperature: string;
  topK?: string;
  topP?: string;
  seed: string;
  tokenizer?: string;
  engine: string;
  json?: boolean;
  echo: boolean;
  bench?: boolean;
  engines?: string;
  runs: string;
  cache?: string;
}

export function registerTextCommands(program: Command, out: (s: string) => void): void {
  program
    .command('generate')
    .description(
      'generate text with a decoder-only model in the KV-cache form of Optimum / Transformers.js (input_ids, attention_mask, ' +
        'position_ids, past_key_values.N.key/value -> logits, present.N.key/value): text on stdout as it comes, tokens/s on stderr',
    )
    .argument('<model>', 'an .onnx (or .sparrow) decoder with past key/values')
    .option('--prompt <text>', 'the text to continue (required; "" = from BOS alone, as llama2.c starts)')
    .option('--max-tokens <n>', 'tokens to generate at most', '256')
    .option('--temperature <t>', 'softmax temperature; 0 = greedy', '1')
    .option('--top-k <k>', 'sample from the k most likely tokens (0 = all)')
    .option('--top-p <p>', 'sample from the smallest set of tokens whose probability reaches p, 0 < p <= 1', '0.9')
    .option('--seed <s>', 'seed of the sampling PRNG', '0')
    .option(
      '--tokenizer <file>',
      'tokenizer.json or a llama2.c tokenizer.bin (default: the one a .sparrow stores, else found beside the model)',
    )
    .option('--engine <engine>', `engine: ${Object.keys(ENGINES).join(', ')}`, 'sparrow-f32')
    .option('--no-echo', 'print the generated text only (default: the prompt, then the generated text)')
    .option('--json', 'print one JSON document at the end instead of streaming the text')
    .option('--bench', 'tokens/s of greedy generation on --engines (same prompt, --max-tokens each, interleaved --runs)')
    .option('--engines <list>', 'with --bench: comma-separated engines', 'sparrow-f32,ort-web,ort-node')
    .option('--runs <n>', 'with --bench: timed runs per engine', '5')
    .option(
      '--cache <mode>',
      'KV cache: fixed (preallocated, one compiled plan per capacity; the default when the model has attention_mask and ' +
        'position_ids) or concat (present fed back as past: a new input shape, so a new plan, every step)',
    )
    .action(async (model: string, o: GenerateFlags) => {
      // an empty prompt is BOS alone (as llama2.c's run.c starts), where the tokenizer adds one
      if (o.prompt === undefined)
        throw new SparrowError('invalid_argument', 'generate needs --prompt "<text>" (--prompt "" starts from BOS)');
      const maxTokens = intOption(o.maxTokens, '--max-tokens', 1)!;
      const temperature = numOption(o.temperature, '--temperature', (x) => x >= 0, 'a number >= 0')!;
      const topK = intOption(o.topK, '--top-k', 0);
      const topP = numOption(o.topP, '--top-p', (x) => x > 0 && x <= 1, 'in (0, 1]');
      const seed = intOption(o.seed, '--seed', 0)!;
      const runs = intOption(o.runs, '--runs', 1)!;
      if (o.cache !== undefined && o.cache !== 'fixed' && o.cache !== 'concat')
        throw new SparrowError('invalid_argument', `--cache must be fixed or concat, got "${o.cache}"`);
      const cache = o.cache as 'fixed' | 'concat' | undefined;
      const engines = o.bench
        ? (o.engines ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [o.engine];
      if (engines.length === 0) throw new SparrowError('invalid_argument', '--engines is empty');
      for (const e of engines) engineOf(e);
      const bytes = await readInput(model);
      const facts = onnxFacts(bytes);
      const vocab = Number(facts.metadata['llama2c.vocab_size']) || undefined;
      const found = await findTokenizer(model, o.tokenizer, vocab, bytes);
      const tok = found.tokenizer;
      const ids = tok.encode(o.prompt);
      if (ids.length === 0)
        throw new SparrowError(
          'invalid_argument',
          o.prompt === '' ? 'the prompt is empty and the tokenizer adds no BOS token to start from' : 'the prompt encodes to no tokens',
        );
      if (o.bench) {
        const report = await runGenerateBench({
          model,
          prompt: ids,
          maxTokens,
          runs,
          engines,
          ...(cache ? { cache } : {}),
          open: (name) => openRunner(model, bytes, name, facts.inputs),
          log: (line) => process.stderr.write(`bench: ${line}\n`),
        });
        out(o.json ? JSON.stringify(report) : formatGenerateBench(report));
        return;
      }
      const opened = await openRunner(model, bytes, o.engine, facts.inputs);
      try {
        const stop = [...new Set([...eosIds(tok, facts.metadata, found.config), ...(found.stop ?? [])])];
        const maxLength = found.contextLength ?? contextLength(facts.metadata, found.config);
        const decode = tok.streamDecoder(ids);
        const it = generate(opened.runner, ids, {
          maxTokens,
          temperature,
          ...(topK !== undefined ? { topK } : {}),
          ...(topP !== undefined ? { topP } : {}),
          seed,
          stop,
          ...(cache ? { cache } : {}),
          ...(maxLength ? { maxLength } : {}),
        });
        const t0 = performance.now();
        let text = '';
        // the first step checks the model and runs the prefill: an error comes before any output
        let r = await it.next();
        if (!o.json && o.echo) process.stdout.write(o.prompt);
        while (!r.done) {
          const piece = decode(r.value);
          text += piece;
          if (!o.json && piece) process.stdout.write(piece);
          r = await it.next();
        }
        const s = r.value;
        const secs = (performance.now() - t0) / 1000;
        const tps = s.tokens.length / secs;
        const decodeTps = s.decodeMs > 0 ? (1000 * s.decodeSteps) / s.decodeMs : 0;
        if (o.json) {
          out(
            JSON.stringify({
              model,
              engine: o.engine,
              tokenizer: found.path,
              prompt_tokens: ids.length,
              tokens: s.tokens,
              text,
              stop_reason: s.stopReason,
              tokens_per_s: Math.round(tps * 10) / 10,
              decode_tokens_per_s: Math.round(decodeTps * 10) / 10,
              prefill_ms: Math.round(s.prefillMs * 1000) / 1000,
            }),
          );
        } else process.stdout.write('\n');
        process.stderr.write(
          `sparrow: ${s.tokens.length} tokens in ${secs.toFixed(2)} s: ${tps.toFixed(1)} tokens/s ` +
            `(prefill ${ids.length} tokens ${s.prefillMs.toFixed(1)} ms; decode ${decodeTps.toFixed(1)} tokens/s; ` +
            `${o.engine}; stop: ${s.stopReason})\n`,
        );
      } finally {
        await opened.dispose();
      }
    });

  program
    .command('embed')
    .description(
      'sentence embedding with an encoder (input_ids, attention_mask -> last_hidden_state): mean pooling over the attention mask, ' +
        'L2-normalised, as sentence-transformers does',
    )
    .argument('<model>', 'an .onnx (or .sparrow) encoder')
    .option('--text <text>', 'the text to embed (required, not empty)')
    .option(
      '--tokenizer <file>',
      'tokenizer.json or a llama2.c tokenizer.bin (default: the one a .sparrow stores, else found beside the model)',
    )
    .option('--engine <engine>', `engine: ${Object.keys(ENGINES).join(', ')}`, 'sparrow-f32')
    .option('--json', 'print one JSON document { model, dims, vector }')
    .action(async (model: string, o: { text?: string; tokenizer?: string; engine: string; json?: boolean }) => {
      if (o.text === undefined) throw new SparrowError('invalid_argument', 'embed needs --text "<text>"');
      if (o.text.trim() === '') throw new SparrowError('invalid_argument', 'the text is empty');
      engineOf(o.engine);
      const bytes = await readInput(model);
      const facts = onnxFacts(bytes);
      const { tokenizer } = await findTokenizer(model, o.tokenizer, undefined, bytes);
      const ids = tokenizer.encode(o.text);
      if (ids.length === 0) throw new SparrowError('invalid_argument', 'the text encodes to no tokens');
      const opened = await openRunner(model, bytes, o.engine, facts.inputs);
      try {
        const v = await embed(opened.runner, ids);
        const vector = Array.from(v);
        out(o.json ? JSON.stringify({ model, dims: vector.length, vector }) : vector.map((x) => x.toPrecision(7)).join(' '));
        if (!o.json) process.stderr.write(`sparrow: ${vector.length} dims, ${ids.length} tokens (${o.engine})\n`);
      } finally {
        await opened.dispose();
      }
    });
}
