// The small BERT-shaped encoder of the /embed tests (built by text_examples.ts in Node, stored as
// a float .sparrow with the WordPiece tokenizer of test/fixtures/tokenizers/wordpiece) and its
// oracle, plain float64 TS with no runtime code, which the workerd tests run:
//
//   last_hidden_state [B, S, D] = (LayerNorm(E[input_ids]) · W + b) · attention_mask
//
// Weights from closed formulas, so the oracle needs no file. No Node APIs (workerd imports it).
export const ENC = { V: 600, D: 16, eps: 1e-5 } as const;

export function encoderWeights(): { E: Float32Array; gamma: Float32Array; beta: Float32Array; W: Float32Array; b: Float32Array } {
  const { V, D } = ENC;
  return {
    E: Float32Array.from(
      { length: V * D },
      (_, i) => Math.sin(0.37 * Math.floor(i / D) + 1.3 * (i % D)) * (1 + (Math.floor(i / D) % 7) / 7),
    ),
    gamma: Float32Array.from({ length: D }, (_, d) => 0.5 + d / D),
    beta: Float32Array.from({ length: D }, (_, d) => Math.cos(d) * 0.1),
    W: Float32Array.from({ length: D * D }, (_, i) => Math.cos(0.9 * i + 0.2) / 4),
    b: Float32Array.from({ length: D }, (_, d) => (d % 3) * 0.05 - 0.05),
  };
}

/** The sentence embedding of token ids: the model above in float64, mean over the tokens, L2-normalised. */
export function encoderOracle(ids: readonly number[]): number[] {
  const { D, eps } = ENC;
  const w = encoderWeights();
  const mean = new Array<number>(D).fill(0);
  for (const id of ids) {
    const x = Array.from(w.E.subarray(id * D, (id + 1) * D));
    const mu = x.reduce((a, v) => a + v, 0) / D;
    const va = x.reduce((a, v) => a + (v - mu) ** 2, 0) / D;
    const y = x.map((v, d) => ((v - mu) / Math.sqrt(va + eps)) * w.gamma[d]! + w.beta[d]!);
    for (let j = 0; j < D; j++) {
      let z = w.b[j]!;
      for (let d = 0; d < D; d++) z += y[d]! * w.W[d * D + j]!;
      mean[j]! += z / ids.length;
    }
  }
  const n = Math.hypot(...mean);
  return mean.map((v) => v / n);
}
