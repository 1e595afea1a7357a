// Tokenizers behind one small interface, for `generate` and `embed`: the llama2.c tokenizer
// (tokenizer.bin / tok512.bin, src/io/tokenizer_llama2c.ts) and Hugging Face's tokenizer.json
// (with tokenizer_config.json when there is one) through @huggingface/tokenizers, the pure
// JS/TS tokenizers of Transformers.js (no native code, no network: it reads the JSON it is
// given). Plain TS: Node, browsers and Workers. Finding the files of a model is the caller's
// business (the CLI: --tokenizer, or a file beside the model).

import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { SparrowError } from '../errors.js';
import { LLAMA2C_BOS, LLAMA2C_EOS, Llama2cTokenizer } from './tokenizer_llama2c.js';

export interface TextTokenizer {
  readonly kind: 'llama2c' | 'huggingface';
  /** ids of a text with the special tokens the tokenizer adds (BOS; [CLS] ... [SEP]) */
  encode(text: string): number[];
  /** text of ids (special tokens skipped) */
  decode(ids: readonly number[]): string;
  /** A streaming decoder: push each generated id, get the text it completes ('' while a character is incomplete). */
  streamDecoder(prompt: readonly number[]): (id: number) => string;
  /** ids that end a generation */
  readonly eos: readonly number[];
}

/** True when only the bytes 0x20..0x7E, \t..\r and UTF-8 lead/continuation bytes are kept (run.c skips the rest). */
function printable(b: number): boolean {
  return (b >= 0x20 && b !== 0x7f) || (b >= 0x09 && b <= 0x0d);
}

/** The llama2.c tokenizer as a TextTokenizer: BOS before a prompt, EOS (2) ends a generation. */
export class Llama2cTextTokenizer implements TextTokenizer {
  readonly kind = 'llama2c';
  readonly eos: readonly number[] = [LLAMA2C_EOS];
  constructor(readonly tokenizer: Llama2cTokenizer) {}

  encode(text: string): number[] {
    return this.tokenizer.encode(text, { bos: true, eos: false });
  }

  decode(ids: readonly number[]): string {
    const d = this.streamDecoder([]);
    return ids.map(d).join('');
  }

  /**
   * run.c's decode(prev, token) per token, one-byte pieces that are ASCII control characters
   * skipped (as run.c's safe_printf does), UTF-8 assembled across byte pieces (run.c prints
   * the bytes as they come; it skips bytes >= 0x80 of byte pieces, which this keeps).
   */
  streamDecoder(prompt: readonly number[]): (id: number) => string {
    let prev = prompt.length ? prompt[prompt.length - 1]! : LLAMA2C_BOS;
    const utf8 = new TextDecoder('utf-8');
    return (id: number): string => {
      const piece = this.tokenizer.decodePiece(prev, id);
      prev = id;
      if (piece.length === 1 && !printable(piece[0]!)) return '';
      return utf8.decode(piece, { stream: true });
    };
  }
}

/** A JSON document from bytes or a value. */
function json(v: Uint8Array | object, what: string): Record<string, unknown> {
  if (!(v instanceof Uint8Array)) return v as Record<string, unknown>;
  try {
    const o = JSON.parse(new TextDecoder().decode(v)) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o)) return o as Record<string, unknown>;
  } catch (e) {
    throw new SparrowError('invalid_argument', `${what}: not JSON (${(e as Error).message})`);
  }
  throw new SparrowError('invalid_argument', `${what}: not a JSON object`);
}

/** The content of a special token as tokenizer_config.json gives it: a string or { content }. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

const MODEL_TYPES = ['BPE', 'WordPiece', 'Unigram'];

/**
 * What is used of the library's Tokenizer. Its published .d.ts files import each other without
 * file extensions, which TypeScript's NodeNext resolution does not follow, so the class arrives
 * untyped: this interface types it here.
 */
interface HfTokenizerApi {
  encode(text: string): { ids: number[] };
  decode(ids: number[], options: { skip_special_tokens?: boolean }): string;
  token_to_id(token: string): number | undefined;
}

/** A Hugging Face tokenizer.json (+ tokenizer_config.json) as a TextTokenizer. */
export class HfTextTokenizer implements TextTokenizer {
  readonly kind = 'huggingface';
  readonly eos: readonly number[];
  readonly tokenizer: HfTokenizerApi;

  constructor(tokenizerJson: Uint8Array | object, config: Uint8Array | object = {}) {
    const tj = json(tokenizerJson, 'tokenizer.json');
    const cfg = json(config, 'tokenizer_config.json');
    const model = tj['model'] as { type?: unknown } | undefined;
    if (!model || typeof model !== 'object') throw new SparrowError('invalid_argument', 'tokenizer.json: no "model" section');
    // the library reads other types as its "Legacy" model; the Rust library knows WordLevel too
    if (model.type !== undefined && !MODEL_TYPES.includes(String(model.type)))
      throw new SparrowError(
        'invalid_argument',
        `tokenizer.json: model type ${String(model.type)} is not supported (${MODEL_TYPES.join(', ')})`,
      );
    // the library expects every section key to be present (null when absent)
    const full = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...tj };
    try {
      this.tokenizer = new HfTokenizer(full, cfg) as HfTokenizerApi;
    } catch (e) {
      throw new SparrowError('invalid_argument', `tokenizer.json: ${(e as Error).message}`);
    }
    const eosText = tokenText(cfg['eos_token']);
    const eos = eosText !== undefined ? this.tokenizer.token_to_id(eosText) : undefined;
    this.eos = eos !== undefined ? [eos] : [];
  }

  encode(text: string): number[] {
    const ids: number[] = this.tokenizer.encode(text).ids;
    if (!ids.every((i: number) => Number.isInteger(i)))
      throw new SparrowError(
        'invalid_argument',
        `tokenizer.json: a piece of ${JSON.stringify(text.slice(0, 40))} has no id (no unk token?)`,
      );
    return ids;
  }

  decode(ids: readonly number[]): string {
    return ids.length ? this.tokenizer.decode([...ids], { skip_special_tokens: true }) : '';
  }

  /**
   * Decodes the generated ids so far at every push and returns what was added, holding back a
   * trailing U+FFFD (a character whose bytes are still coming). Quadratic in the length, like
   * Transformers.js's TextStreamer between its flushes; fine for the lengths generated here.
   */
  streamDecoder(prompt: readonly number[]): (id: number) => string {
    void prompt;
    const ids: number[] = [];
    let printed = '';
    return (id: number): string => {
      ids.push(id);
      const text = this.decode(ids);
      if (text.endsWith('\uFFFD') || !text.startsWith(printed)) return '';
      const add = text.slice(printed.length);
      printed = text;
      return add;
    };
  }
}

/** The first non-space byte is '{': a JSON document (tokenizer.json), else a llama2.c tokenizer.bin. */
export function isJsonBytes(bytes: Uint8Array): boolean {
  for (const b of bytes) {
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
    return b === 0x7b;
  }
  return false;
}

/**
 * A tokenizer from a file's bytes: tokenizer.json (with its tokenizer_config.json, if given) or a
 * llama2.c tokenizer.bin (`vocabSize` = the model's; default every record in the file).
 */
export function loadTokenizer(bytes: Uint8Array, opts: { config?: Uint8Array | object; vocabSize?: number } = {}): TextTokenizer {
  if (isJsonBytes(bytes)) return new HfTextTokenizer(bytes, opts.config ?? {});
  return new Llama2cTextTokenizer(Llama2cTokenizer.fromBytes(bytes, opts.vocabSize));
}
