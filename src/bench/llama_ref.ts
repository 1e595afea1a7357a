// A plain TypeScript Llama forward pass over a llama2.c checkpoint, ported from karpathy/llama2.c
// run.c (read_checkpoint, memory_map_weights, forward, generate with temperature 0): the oracle
// that Sparrow's transformer work is tested against. No Node APIs (runs in Workers and browsers).
//
// Every float operation is float32, in run.c's order (Math.fround after each one; a float32
// operation done in float64 and rounded once gives the float32 result for + - × ÷ sqrt), so the
// logits equal run.c's (gcc -O2, no -ffast-math: sequential sums, no FMA) up to the last bit,
// where expf / sinf / cosf / powf round as fround(Math.exp(…)) etc. do.
//
// Checkpoint layout (little-endian), run.c's "legacy" .bin:
//   Config: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len   7 × i32
//     (vocab_size < 0: the classifier is a separate matrix; > 0: it is the token embedding)
//   token_embedding_table [vocab, dim] | rms_att_weight [L, dim] | wq [L, dim, dim]
//   | wk [L, kv_dim, dim] | wv [L, kv_dim, dim] | wo [L, dim, dim] | rms_ffn_weight [L, dim]
//   | w1 [L, hidden, dim] | w2 [L, dim, hidden] | w3 [L, hidden, dim] | rms_final_weight [dim]
//   | freq_cis_real [seq_len, head_size/2] | freq_cis_imag [seq_len, head_size/2] (unused)
//   | wcls [vocab, dim] (only when not shared)
// Matrices are [out, in] (row i of W is output i): matmul(xout, x, W) = W x.

import { SparrowError } from '../errors.js';
import { LLAMA2C_BOS, type Llama2cTokenizer } from '../io/tokenizer_llama2c.js';

const f = Math.fround;

export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** The classifier is the token embedding (vocab_size > 0 in the header). */
  sharedClassifier: boolean;
}

export interface Llama2cWeights {
  tokenEmbedding: Float32Array; // [vocab, dim]
  rmsAtt: Float32Array; // [L, dim]
  wq: Float32Array; // [L, dim, dim]
  wk: Float32Array; // [L, kv_dim, dim]
  wv: Float32Array; // [L, kv_dim, dim]
  wo: Float32Array; // [L, dim, dim]
  rmsFfn: Float32Array; // [L, dim]
  w1: Float32Array; // [L, hidden, dim]
  w2: Float32Array; // [L, dim, hidden]
  w3: Float32Array; // [L, hidden, dim]
  rmsFinal: Float32Array; // [dim]
  wcls: Float32Array; // [vocab, dim] (the token embedding when shared)
}

export interface Llama2cModel {
  config: Llama2cConfig;
  weights: Llama2cWeights;
}

const HEADER_BYTES = 7 * 4;

function bad(message: string): never {
  throw new SparrowError('invalid_argument', `llama2.c checkpoint: ${message}`);
}

/** Reads a llama2.c checkpoint (.bin, version 0 "legacy" format, float32). */
export function parseLlama2cCheckpoint(bytes: Uint8Array): Llama2cModel {
  if (bytes.length < HEADER_BYTES) bad(`${bytes.length} bytes: no header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = h as [number, number, number, number, number, number, number];
  const vocabSize = Math.abs(rawVocab);
  const sharedClassifier = rawVocab > 0;
  if (!(dim > 0 && hiddenDim > 0 && nLayers > 0 && nHeads > 0 && nKvHeads > 0 && vocabSize > 0 && seqLen > 0))
    bad(`header ${JSON.stringify(h)} has a non-positive size`);
  if (dim % nHeads !== 0 || nHeads % nKvHeads !== 0 || (dim / nHeads) % 2 !== 0)
    bad(`dim ${dim}, n_heads ${nHeads}, n_kv_heads ${nKvHeads}: need dim % n_heads = 0, n_heads % n_kv_heads = 0, even head size`);
  const headSize = dim / nHeads;
  const kvDim = (dim * nKvHeads) / nHeads;
  let o = HEADER_BYTES;
  const take = (n: number, what: string): Float32Array => {
    if (o + n * 4 > bytes.length) bad(`file ends in ${what} (needs ${o + n * 4} bytes, has ${bytes.length})`);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = dv.getFloat32(o + i * 4, true);
    o += n * 4;
    return a;
  };
  const L = nLayers;
  const tokenEmbedding = take(vocabSize * dim, 'token_embedding_table');
  const rmsAtt = take(L * dim, 'rms_att_weight');
  const wq = take(L * dim * dim, 'wq');
  const wk = take(L * dim * kvDim, 'wk');
  const wv = take(L * dim * kvDim, 'wv');
  const wo = take(L * dim * dim, 'wo');
  const rmsFfn = take(L * dim, 'rms_ffn_weight');
  const w1 = take(L * dim * hiddenDim, 'w1');
  const w2 = take(L * hiddenDim * dim, 'w2');
  const w3 = take(L * dim * hiddenDim, 'w3');
  const rmsFinal = take(dim, 'rms_final_weight');
  take(seqLen * headSize, 'freq_cis_real / freq_cis_imag'); // (seq_len × head/2) × 2, unused
  const wcls = sharedClassifier ? tokenEmbedding : take(vocabSize * dim, 'wcls');
  return {
    config: { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier },
    weights: { tokenEmbedding, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, wcls },
  };
}

// ---------------------------------------------------------------------------------------------
// run.c's blocks, float32

function rmsnorm(o: Float32Array, x: Float32Array, w: Float32Array, wOff: number, size: number): void {
  let ss = 0;
  for (let j = 0; j < size; j++) ss = f(ss + f(x[j]! * x[j]!));
  ss = f(ss / size);
  ss = f(ss + f(1e-5));
  ss = f(1 / f(Math.sqrt(ss)));
  for (let j = 0; j < size; j++) o[j] = f(w[wOff + j]! * f(ss * x[j]!));
}

function softmax(x: Float32Array, off: number, size: number): void {
  let max = x[off]!;
  for (let i = 1; i < size; i++) if (x[off + i]! > max) max = x[off + i]!;
  let sum = 0;
  for (let i = 0; i < size; i++) {
    x[off + i] = f(Math.exp(f(x[off + i]! - max)));
    sum = f(sum + x[off + i]!);
  }
  for (let i = 0; i < size; i++) x[off + i] = f(x[off + i]! / sum);
}

/** xout[d] = W[d, n] @ x[n], W starting at wOff; xout written from outOff. */
function matmul(xout: Float32Array, outOff: number, x: Float32Array, w: Float32Array, wOff: number, n: number, d: number): void {
  for (let i = 0; i < d; i++) {
    let val = 0;
    const row = wOff + i * n;
    for (let j = 0; j < n; j++) val = f(val + f(w[row + j]! * x[j]!));
    xout[outOff + i] = val;
  }
}

/** run.c's Transformer with its RunState: forward(token, pos) with a KV cache of seq_len. */
export class Llama2cRef {
  readonly config: Llama2cConfig;
  readonly #w: Llama2cWeights;
  readonly #x: Float32Array;
  readonly #xb: Float32Array;
  readonly #xb2: Float32Array;
  readonly #hb: Float32Array;
  readonly #hb2: Float32Array;
  readonly #q: Float32Array;
  readonly #att: Float32Array;
  readonly #logits: Float32Array;
  readonly #keyCache: Float32Array; // [L, seq_len, kv_dim]
  readonly #valueCache: Float32Array; // [L, seq_len, kv_dim]

  constructor(model: Llama2cModel) {
    const p = model.config;
    this.config = p;
    this.#w = model.weights;
    const kvDim = (p.dim * p.nKvHeads) / p.nHeads;
    this.#x = new Float32Array(p.dim);
    this.#xb = new Float32Array(p.dim);
    this.#xb2 = new Float32Array(p.dim);
    this.#hb = new Float32Array(p.hiddenDim);
    this.#hb2 = new Float32Array(p.hiddenDim);
    this.#q = new Float32Array(p.dim);
    this.#att = new Float32Array(p.nHeads * p.seqLen);
    this.#logits = new Float32Array(p.vocabSize);
    this.#keyCache = new Float32Array(p.nLayers * p.seqLen * kvDim);
    this.#valueCache = new Float32Array(p.nLayers * p.seqLen * kvDim);
  }

  static fromBytes(checkpoint: Uint8Array): Llama2cRef {
    return new Llama2cRef(parseLlama2cCheckpoint(checkpoint));
  }

  /**
   * run.c forward(token, pos): the logits [vocab] of the next token (a view of the state: copy it
   * to keep it past the next call). Positions 0..pos-1 must have been forwarded before.
   */
  forward(token: number, pos: number): Float32Array {
    const p = this.config;
    const w = this.#w;
    const { dim, hiddenDim, seqLen } = p;
    if (!(Number.isInteger(token) && token >= 0 && token < p.vocabSize))
      throw new SparrowError('invalid_argument', `token ${token} is outside the vocabulary (0..${p.vocabSize - 1})`);
    if (!(Number.isInteger(pos) && pos >= 0 && pos < seqLen))
      throw new SparrowError('invalid_argument', `position ${pos} is outside 0..${seqLen - 1} (seq_len)`);
    const x = this.#x;
    const xb = this.#xb;
    const q = this.#q;
    const att = this.#att;
    const kvDim = (dim * p.nKvHeads) / p.nHeads;
    const kvMul = p.nHeads / p.nKvHeads;
    const headSize = dim / p.nHeads;

    x.set(w.tokenEmbedding.subarray(token * dim, (token + 1) * dim));

    for (let l = 0; l < p.nLayers; l++) {
      rmsnorm(xb, x, w.rmsAtt, l * dim, dim);

      // k and v of this position go straight into the cache
      const loff = l * seqLen * kvDim;
      const kOff = loff + pos * kvDim;
      matmul(q, 0, xb, w.wq, l * dim * dim, dim, dim);
      matmul(this.#keyCache, kOff, xb, w.wk, l * dim * kvDim, dim, kvDim);
      matmul(this.#valueCache, kOff, xb, w.wv, l * dim * kvDim, dim, kvDim);

      // RoPE: rotate each pair (i, i+1) of q (and of k, for i < kv_dim) by pos × freq
      for (let i = 0; i < dim; i += 2) {
        const headDim = i % headSize;
        const freq = f(1 / f(Math.pow(10000, f(headDim / headSize))));
        const val = f(pos * freq);
        const fcr = f(Math.cos(val));
        const fci = f(Math.sin(val));
        const rotn = i < kvDim ? 2 : 1;
        for (let v = 0; v < rotn; v++) {
          const vec = v === 0 ? q : this.#keyCache;
          const o = v === 0 ? i : kOff + i;
          const v0 = vec[o]!;
          const v1 = vec[o + 1]!;
          vec[o] = f(f(v0 * fcr) - f(v1 * fci));
          vec[o + 1] = f(f(v0 * fci) + f(v1 * fcr));
        }
      }

      // multi-head attention; query head h reads key/value head h / kv_mul
      const scale = f(Math.sqrt(headSize));
      for (let h = 0; h < p.nHeads; h++) {
        const qOff = h * headSize;
        const aOff = h * seqLen;
        const kvHead = Math.floor(h / kvMul) * headSize;
        for (let t = 0; t <= pos; t++) {
          const k = loff + t * kvDim + kvHead;
          let score = 0;
          for (let i = 0; i < headSize; i++) score = f(score + f(q[qOff + i]! * this.#keyCache[k + i]!));
          att[aOff + t] = f(score / scale);
        }
        softmax(att, aOff, pos + 1);
        xb.fill(0, qOff, qOff + headSize);
        for (let t = 0; t <= pos; t++) {
          const v = loff + t * kvDim + kvHead;
          const a = att[aOff + t]!;
          for (let i = 0; i < headSize; i++) xb[qOff + i] = f(xb[qOff + i]! + f(a * this.#valueCache[v + i]!));
        }
      }

      matmul(this.#xb2, 0, xb, w.wo, l * dim * dim, dim, dim);
      for (let i = 0; i < dim; i++) x[i] = f(x[i]! + this.#xb2[i]!);

      // FFN: w2(silu(w1 x) * w3 x)
      rmsnorm(xb, x, w.rmsFfn, l * dim, dim);
      matmul(this.#hb, 0, xb, w.w1, l * dim * hiddenDim, dim, hiddenDim);
      matmul(this.#hb2, 0, xb, w.w3, l * dim * hiddenDim, dim, hiddenDim);
      for (let i = 0; i < hiddenDim; i++) {
        let val = this.#hb[i]!;
        val = f(val * f(1 / f(1 + f(Math.exp(-val)))));
        val = f(val * this.#hb2[i]!);
        this.#hb[i] = val;
      }
      matmul(xb, 0, this.#hb, w.w2, l * dim * hiddenDim, hiddenDim, dim);
      for (let i = 0; i < dim; i++) x[i] = f(x[i]! + xb[i]!);
    }

    rmsnorm(x, x, w.rmsFinal, 0, dim);
    matmul(this.#logits, 0, x, w.wcls, 0, dim, p.vocabSize);
    return this.#logits;
  }

  /** The logits [T, vocab] of every position of `tokens` (forward(tokens[t], t) for t = 0..T-1). */
  logits(tokens: ArrayLike<number>): Float32Array {
    const V = this.config.vocabSize;
    const out = new Float32Array(tokens.length * V);
    for (let t = 0; t < tokens.length; t++) out.set(this.forward(tokens[t]!, t), t * V);
    return out;
  }
}

/** run.c sample_argmax: the first index of the largest value. */
export function argmax(x: ArrayLike<number>, off = 0, n = x.length - off): number {
  let best = 0;
  let max = x[off]!;
  for (let i = 1; i < n; i++) {
    if (x[off + i]! > max) {
      best = i;
      max = x[off + i]!;
    }
  }
  return best;
}

export interface GreedyResult {
  /** The tokens fed to the model: the prompt's, then the generated ones (the last one not fed). */
  tokens: number[];
  /** What run.c prints on stdout, final '\n' included. */
  stdout: Uint8Array;
}

/**
 * run.c generate() at temperature 0 (`./run model.bin -z tok.bin -t 0 -n steps [-i prompt]`):
 * encode the prompt with BOS, feed prompt tokens, then argmax, for `steps` positions (0 or more
 * than seq_len: seq_len) or until the model produces BOS; the printed text is each piece decoded
 * after its predecessor, through safe_printf, then '\n'.
 */
export function generateGreedy(model: Llama2cRef, tokenizer: Llama2cTokenizer, steps: number, prompt = ''): GreedyResult {
  const seqLen = model.config.seqLen;
  if (steps <= 0 || steps > seqLen) steps = seqLen;
  const promptTokens = tokenizer.encode(prompt, { bos: true, eos: false });
  const tokens = [promptTokens[0]!];
  let token = promptTokens[0]!;
  let pos = 0;
  const printed: number[] = [];
  while (pos < steps) {
    const logits = model.forward(token, pos);
    const next = pos < promptTokens.length - 1 ? promptTokens[pos + 1]! : argmax(logits);
    pos++;
    if (next === LLAMA2C_BOS) break;
    tokens.push(next);
    printed.push(...tokenizer.decodeBytes([next], { prev: token, safe: true }));
    token = next;
  }
  printed.push(0x0a);
  return { tokens, stdout: Uint8Array.from(printed) };
}
