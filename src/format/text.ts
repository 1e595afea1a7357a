// The text side of a `.sparrow` language model (docs/format.md, "Text models"): its tokenizer,
// stored in the file itself so that the CLI, the Worker and the browser need nothing else.
//
//   metadata.text = {
//     "tokenizer": { "kind": "llama2c" | "huggingface", "tensor": "<tensor name>",
//                    "config": { ... } },          // tokenizer_config.json (huggingface; optional)
//     "eos": [2],                                  // ids that end a generation besides the tokenizer's (optional)
//     "contextLength": 512,                        // prompt + generated tokens at most (optional)
//     "vocabSize": 512                             // records of a llama2.c tokenizer.bin to read (optional)
//   }
//   tensors[k] = { "name": "tokenizer", "shape": [n], "dtype": "uint8", "section": k, "value": null }
//
// The tokenizer file's bytes (a llama2.c tokenizer.bin or a Hugging Face tokenizer.json) are one
// raw uint8 section outside the graph (`"value": null`), after the weights: a streaming reader has
// the model's sections first. Like every section it is CRC-checked. Plain TS (Workers, browsers).
import { SparrowError } from '../errors.js';
import {
  Codec,
  DType,
  readContainer,
  writeContainer,
  type ParsedHeader,
  type ReadOptions,
  type SectionInput,
  type TensorMeta,
} from './container.js';

export type TokenizerKind = 'llama2c' | 'huggingface';

export interface TextMeta {
  tokenizer: { kind: TokenizerKind; tensor: string; config?: Record<string, unknown> };
  eos?: number[];
  contextLength?: number;
  vocabSize?: number;
}

/** What a text model's file holds: the facts and the tokenizer file's bytes. */
export interface TextInfo {
  meta: TextMeta;
  /** the tokenizer file (tokenizer.bin or tokenizer.json) */
  tokenizer: Uint8Array;
}

export interface TextAttachment {
  kind: TokenizerKind;
  /** the tokenizer file's bytes */
  tokenizer: Uint8Array;
  /** tokenizer_config.json (huggingface) */
  config?: Record<string, unknown>;
  eos?: readonly number[];
  contextLength?: number;
  vocabSize?: number;
}

/** Tensor name of the tokenizer section. */
export const TOKENIZER_TENSOR = 'tokenizer';

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const posInt = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0;
const corrupt = (m: string): SparrowError => new SparrowError('corrupt_metadata', `text metadata: ${m}`);

/** Validates metadata.text against the tensor table; null when the file has none. */
export function parseTextMeta(
  header: Pick<ParsedHeader, 'meta'>,
  code: 'corrupt_metadata' | 'invalid_argument' = 'corrupt_metadata',
): TextMeta | null {
  const x = header.meta['text'];
  if (x === undefined || x === null) return null;
  const bad = (m: string): SparrowError => (code === 'corrupt_metadata' ? corrupt(m) : new SparrowError(code, `text metadata: ${m}`));
  if (!isObj(x)) throw bad(`must be an object, got ${JSON.stringify(x)?.slice(0, 60)}`);
  const t = x['tokenizer'];
  if (!isObj(t)) throw bad('tokenizer must be an object { kind, tensor }');
  if (t['kind'] !== 'llama2c' && t['kind'] !== 'huggingface')
    throw bad(`tokenizer.kind must be "llama2c" or "huggingface", got ${JSON.stringify(t['kind'])?.slice(0, 40)}`);
  const name = t['tensor'];
  const i = typeof name === 'string' ? header.meta.tensors.findIndex((e) => e.name === name) : -1;
  if (i < 0) throw bad(`tokenizer.tensor ${JSON.stringify(name)?.slice(0, 40)} names no tensor`);
  const e = header.meta.tensors[i]!;
  if (e.dtype !== 'uint8' || e.shape.length !== 1 || e['value'] !== null)
    throw bad(`tensor '${e.name}' must be uint8 [n] with "value": null (outside the graph)`);
  if (t['config'] !== undefined && !isObj(t['config'])) throw bad('tokenizer.config must be an object');
  const out: TextMeta = { tokenizer: { kind: t['kind'], tensor: e.name, ...(t['config'] ? { config: t['config'] } : {}) } };
  if (x['eos'] !== undefined) {
    const eos = x['eos'];
    if (!Array.isArray(eos) || !eos.every((v) => Number.isSafeInteger(v) && v >= 0))
      throw bad(`eos must be an array of token ids, got ${JSON.stringify(eos)?.slice(0, 40)}`);
    out.eos = [...(eos as number[])];
  }
  for (const k of ['contextLength', 'vocabSize'] as const) {
    if (x[k] === undefined) continue;
    if (!posInt(x[k])) throw bad(`${k} must be a positive integer, got ${JSON.stringify(x[k])?.slice(0, 40)}`);
    out[k] = x[k];
  }
  return out;
}

/** The text facts and tokenizer of a validated container (readContainer's result); null when it has none. */
export function textOf(c: { header: ParsedHeader; payload(i: number): Uint8Array }): TextInfo | null {
  const meta = parseTextMeta(c.header);
  if (!meta) return null;
  const i = c.header.meta.tensors.findIndex((e) => e.name === meta.tokenizer.tensor);
  if (c.header.sections[i]!.codec !== Codec.Raw) throw corrupt(`tensor '${meta.tokenizer.tensor}' must be stored raw`);
  return { meta, tokenizer: c.payload(i) };
}

/** textOf a whole `.sparrow` file (every CRC checked). */
export function readText(bytes: Uint8Array, opts: ReadOptions = {}): TextInfo | null {
  return textOf(readContainer(bytes, opts));
}

/**
 * The container `bytes` with a tokenizer and text facts: a new raw uint8 section after the others
 * (a tokenizer already there is replaced) and metadata.text; every other section is kept byte for
 * byte. Throws SparrowError('invalid_argument') for bad arguments.
 */
export function withText(bytes: Uint8Array, a: TextAttachment): Uint8Array {
  const bad = (m: string): SparrowError => new SparrowError('invalid_argument', m);
  if (a.kind !== 'llama2c' && a.kind !== 'huggingface') throw bad(`tokenizer kind must be llama2c or huggingface, got ${String(a.kind)}`);
  if (!(a.tokenizer instanceof Uint8Array) || a.tokenizer.length === 0) throw bad('the tokenizer file is empty');
  if (a.eos !== undefined && !a.eos.every((v) => Number.isSafeInteger(v) && v >= 0)) throw bad('eos ids must be integers >= 0');
  for (const k of ['contextLength', 'vocabSize'] as const)
    if (a[k] !== undefined && !posInt(a[k])) throw bad(`${k} must be a positive integer, got ${String(a[k])}`);
  const { header, payload } = readContainer(bytes);
  const old = parseTextMeta(header);
  const keep = header.meta.tensors.map((_, i) => i).filter((i) => header.meta.tensors[i]!.name !== old?.tokenizer.tensor);
  const sections: SectionInput[] = keep.map((i) => {
    const s = header.sections[i]!;
    return { codec: s.codec, dtype: s.dtype, payload: payload(i), decodedBytes: s.decodedBytes };
  });
  const tensors: TensorMeta[] = keep.map((i, k) => ({ ...header.meta.tensors[i]!, section: k }));
  let name = TOKENIZER_TENSOR;
  while (tensors.some((t) => t.name === name)) name += "'";
  tensors.push({ name, shape: [a.tokenizer.length], dtype: 'uint8', section: tensors.length, value: null });
  sections.push({ codec: Codec.Raw, dtype: DType.Uint8, payload: a.tokenizer, decodedBytes: a.tokenizer.length });
  const text: TextMeta = {
    tokenizer: { kind: a.kind, tensor: name, ...(a.config ? { config: a.config } : {}) },
    ...(a.eos && a.eos.length ? { eos: [...a.eos] } : {}),
    ...(a.contextLength !== undefined ? { contextLength: a.contextLength } : {}),
    ...(a.vocabSize !== undefined ? { vocabSize: a.vocabSize } : {}),
  };
  return writeContainer({ ...header.meta, text, tensors }, sections);
}
