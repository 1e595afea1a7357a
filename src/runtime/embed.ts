// Sentence embeddings from an encoder (BERT-shaped: input_ids, attention_mask, optionally
// token_type_ids / position_ids → last_hidden_state [B, S, D]), pooled as sentence-transformers
// does by default: the mean of the token vectors where attention_mask = 1
// (sum(h · mask) / max(sum(mask), 1e-9)), then L2-normalised (x / max(‖x‖, 1e-12), its
// Normalize module). Sums in float64. Plain TS (Node, browsers, Workers).

import { SparrowError } from '../errors.js';
import type { Tensor, TensorDType, ValueInfo } from '../ops/types.js';

/** What embed() needs of an engine: a Session or an ONNX Runtime engine. */
export interface EncoderRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputInfo?: Readonly<Record<string, ValueInfo>>;
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
}

export interface EmbedOptions {
  /** the output to pool (default: last_hidden_state, token_embeddings, else the first output) */
  output?: string;
  /** L2-normalise (default true) */
  normalize?: boolean;
  /** id of padding in a batch (default 0) */
  padId?: number;
}

const IDS = ['input_ids', 'tokens', 'input'];

function ints(dtype: TensorDType, dims: number[], values: number[]): Tensor {
  if (dtype === 'int64') return { dtype, dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
  if (dtype === 'int32') return { dtype, dims, data: Int32Array.from(values) };
  throw new SparrowError('invalid_model', `integer inputs of dtype ${dtype} are not supported (int64 or int32)`);
}

/**
 * Mean of the rows of hidden [B, S, D] (batch row b) where mask[b, s] = 1; [D] in float64.
 * A rank-2 [B, D] output (already pooled) is returned as is.
 */
export function meanPool(hidden: Tensor, mask: ArrayLike<number>, b = 0): Float64Array {
  if (hidden.dtype !== 'float32') throw new SparrowError('invalid_model', `the embedding output is ${hidden.dtype}; float32 expected`);
  const h = hidden.data as Float32Array;
  if (hidden.dims.length === 2) return Float64Array.from(h.subarray(b * hidden.dims[1]!, (b + 1) * hidden.dims[1]!));
  if (hidden.dims.length !== 3)
    throw new SparrowError('invalid_model', `the embedding output has dims [${hidden.dims}]; expected [batch, tokens, dims]`);
  const [, S, D] = hidden.dims as [number, number, number];
  const out = new Float64Array(D);
  let n = 0;
  for (let s = 0; s < S; s++) {
    const m = mask[b * S + s]!;
    if (!m) continue;
    n += m;
    const row = (b * S + s) * D;
    for (let d = 0; d < D; d++) out[d] += h[row + d]! * m;
  }
  const div = Math.max(n, 1e-9);
  for (let d = 0; d < D; d++) out[d] /= div;
  return out;
}

/** x / max(‖x‖₂, 1e-12). */
export function l2Normalize(x: Float64Array): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const n = Math.max(Math.sqrt(ss), 1e-12);
  return x.map((v) => v / n);
}

/**
 * Embeddings of token-id sequences (one per text, special tokens included): one run over the
 * batch, right-padded with `padId` and masked; each vector mean-pooled and L2-normalised.
 */
export async function embedBatch(
  model: EncoderRunner,
  batch: readonly (readonly number[])[],
  o: EmbedOptions = {},
): Promise<Float32Array[]> {
  if (batch.length === 0) return [];
  if (batch.some((ids) => ids.length === 0)) throw new SparrowError('invalid_argument', 'a text has no tokens');
  const ins = model.inputNames;
  const idsName = IDS.find((n) => ins.includes(n));
  if (!idsName) throw new SparrowError('invalid_model', `no input named ${IDS.join(' / ')} (inputs: ${ins.join(', ')})`);
  const B = batch.length;
  const S = Math.max(...batch.map((x) => x.length));
  const pad = o.padId ?? 0;
  const ids: number[] = [];
  const mask: number[] = [];
  for (const x of batch) {
    for (let s = 0; s < S; s++) {
      ids.push(s < x.length ? x[s]! : pad);
      mask.push(s < x.length ? 1 : 0);
    }
  }
  const dt = (n: string): TensorDType => model.inputInfo?.[n]?.dtype ?? 'int64';
  const feeds: Record<string, Tensor> = { [idsName]: ints(dt(idsName), [B, S], ids) };
  for (const n of ins) {
    if (n === idsName) continue;
    if (n === 'attention_mask') feeds[n] = ints(dt(n), [B, S], mask);
    else if (n === 'token_type_ids') feeds[n] = ints(dt(n), [B, S], new Array<number>(B * S).fill(0));
    else if (n === 'position_ids')
      feeds[n] = ints(
        dt(n),
        [B, S],
        ids.map((_, i) => i % S),
      );
    else
      throw new SparrowError(
        'invalid_model',
        `unexpected input '${n}' for an encoder (input_ids, attention_mask, token_type_ids, position_ids)`,
      );
  }
  const outs = await model.run(feeds);
  const name = o.output ?? ['last_hidden_state', 'token_embeddings'].find((n) => model.outputNames.includes(n)) ?? model.outputNames[0];
  const hidden = (name !== undefined && outs[name]) || undefined;
  if (!hidden) throw new SparrowError('invalid_model', `the model has no output '${String(name)}'`);
  if (hidden.dims[0] !== B) throw new SparrowError('invalid_model', `output '${name}' has dims [${hidden.dims}] for a batch of ${B}`);
  return batch.map((_, b) => {
    const v = meanPool(hidden, mask, b);
    return Float32Array.from(o.normalize === false ? v : l2Normalize(v));
  });
}

/** The embedding of one token-id sequence (mean-pooled, L2-normalised). */
export async function embed(model: EncoderRunner, ids: readonly number[], o: EmbedOptions = {}): Promise<Float32Array> {
  return (await embedBatch(model, [ids], o))[0]!;
}
