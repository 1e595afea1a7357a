// A `.sparrow` language model's tokenizer and generation facts (src/format/text.ts), ready to use:
// the one rule the CLI, the Worker and the browser share for "how does a model find its
// tokenizer" when it is stored in the file. Plain TS (Workers, browsers).
import { SparrowError } from '../errors.js';
import { loadTokenizer, type TextTokenizer } from '../io/tokenizer.js';
import { textOf, type TextInfo, type TextMeta } from '../format/text.js';
import type { ParsedHeader } from '../format/container.js';
import type { ValueInfo } from '../ops/types.js';

export interface TextModel {
  tokenizer: TextTokenizer;
  meta: TextMeta;
  /** ids that end a generation: the tokenizer's and the file's */
  stop: number[];
  /** prompt + generated tokens at most, when the file says */
  contextLength?: number;
}

/** A TextModel from the stored facts and tokenizer bytes; SparrowError('corrupt_metadata') when the tokenizer does not load. */
export function textModelFrom(info: TextInfo): TextModel {
  let tokenizer: TextTokenizer;
  try {
    tokenizer = loadTokenizer(info.tokenizer, {
      ...(info.meta.tokenizer.config ? { config: info.meta.tokenizer.config } : {}),
      ...(info.meta.vocabSize ? { vocabSize: info.meta.vocabSize } : {}),
    });
  } catch (e) {
    throw new SparrowError('corrupt_metadata', `the stored ${info.meta.tokenizer.kind} tokenizer does not load: ${(e as Error).message}`);
  }
  const kind = tokenizer.kind === 'llama2c' ? 'llama2c' : 'huggingface';
  if (kind !== info.meta.tokenizer.kind)
    throw new SparrowError('corrupt_metadata', `the stored tokenizer is a ${kind} file, the metadata says ${info.meta.tokenizer.kind}`);
  return {
    tokenizer,
    meta: info.meta,
    stop: [...new Set([...tokenizer.eos, ...(info.meta.eos ?? [])])],
    ...(info.meta.contextLength ? { contextLength: info.meta.contextLength } : {}),
  };
}

/** The TextModel of a validated container (readContainer's result), or null when it stores no tokenizer. */
export function textModelOf(c: { header: ParsedHeader; payload(i: number): Uint8Array }): TextModel | null {
  const info = textOf(c);
  return info ? textModelFrom(info) : null;
}

const IDS = ['input_ids', 'tokens', 'input'];
const ENCODER_EXTRA = ['attention_mask', 'token_type_ids', 'position_ids'];

/**
 * True when a model's inputs are an encoder's as embed() feeds them: token ids (int64/int32),
 * then only attention_mask, token_type_ids, position_ids.
 */
export function isEncoderInputs(inputNames: readonly string[], inputInfo: Readonly<Record<string, ValueInfo>>): boolean {
  const ids = IDS.find((n) => inputNames.includes(n));
  if (!ids) return false;
  const dt = inputInfo[ids]?.dtype;
  if (dt !== undefined && dt !== 'int64' && dt !== 'int32') return false;
  return inputNames.every((n) => n === ids || ENCODER_EXTRA.includes(n));
}
