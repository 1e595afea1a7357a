// src/runtime/embed.ts on a hand-built encoder whose last_hidden_state is the token embedding
// table's rows times the attention mask: the pooled vector is then the plain mean of table rows,
// computed here in float64 (the oracle); a batch with padding = each text alone. The
// BERT-shaped zoo model against onnxruntime-node is in generate.data.test.ts.
import { describe, expect, it } from 'vitest';
import { buildModel } from '../src/onnx/build.js';
import { Session } from '../src/runtime/session.js';
import { createOrtEngine } from '../src/runtime/ort.js';
import { embed, embedBatch, l2Normalize, meanPool } from '../src/runtime/embed.js';
import { SparrowError } from '../src/errors.js';
import type { Tensor } from '../src/ops/types.js';
import '../src/ops/ref/index.js';

const V = 20;
const D = 6;
const TABLE = Float32Array.from({ length: V * D }, (_, i) => Math.sin(i * 0.7) * 2 + (i % 5) * 0.1);

function encoder(withTypes = false): Uint8Array {
  return buildModel({
    nodes: [
      { op: 'Gather', inputs: ['E', 'input_ids'], outputs: ['h0'] },
      { op: 'Cast', inputs: ['attention_mask'], outputs: ['mf'], attrs: { to: 1 } },
      { op: 'Unsqueeze', inputs: ['mf', 'ax'], outputs: ['m3'] },
      { op: 'Mul', inputs: ['h0', 'm3'], outputs: withTypes ? ['h1'] : ['last_hidden_state'] },
      ...(withTypes
        ? [
            { op: 'Cast', inputs: ['token_type_ids'], outputs: ['tf'], attrs: { to: 1 } },
            { op: 'Unsqueeze', inputs: ['tf', 'ax'], outputs: ['t3'] },
            { op: 'Add', inputs: ['h1', 't3'], outputs: ['last_hidden_state'] },
          ]
        : []),
    ],
    inputs: [
      { name: 'input_ids', dtype: 'int64', dims: ['B', 'S'] },
      { name: 'attention_mask', dtype: 'int64', dims: ['B', 'S'] },
      ...(withTypes ? [{ name: 'token_type_ids', dtype: 'int64' as const, dims: ['B', 'S'] }] : []),
    ],
    outputs: [{ name: 'last_hidden_state', dtype: 'float32', dims: ['B', 'S', D] }],
    initializers: {
      E: { dtype: 'float32', dims: [V, D], data: TABLE },
      ax: { dtype: 'int64', dims: [1], data: BigInt64Array.of(2n) },
    },
    opsets: { '': 14 },
  });
}

/** mean of table rows, L2-normalised, in float64 */
function oracle(ids: number[], normalize = true): number[] {
  const m = new Array<number>(D).fill(0);
  for (const id of ids) for (let d = 0; d < D; d++) m[d]! += TABLE[id * D + d]! / ids.length;
  if (!normalize) return m;
  const n = Math.hypot(...m);
  return m.map((x) => x / n);
}

function close(got: ArrayLike<number>, want: number[], tol: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `element ${i}`).toBeLessThan(tol);
}

describe('embed', () => {
  it('mean pooling over the mask, L2-normalised, in every engine and onnxruntime', async () => {
    const bytes = encoder();
    const ids = [3, 7, 7, 19, 0];
    for (const engine of ['reference', 'sparrow-f32'] as const) {
      const s = await Session.fromOnnx(bytes, { engine });
      const v = await embed(s, ids);
      close(v, oracle(ids), 1e-6);
      expect(Math.hypot(...v)).toBeCloseTo(1, 6);
      close(await embed(s, ids, { normalize: false }), oracle(ids, false), 1e-6);
    }
    const ort = await createOrtEngine('ort-node', bytes);
    try {
      close(await embed(ort, ids), oracle(ids), 1e-6);
    } finally {
      await ort.dispose();
    }
  });

  it('a padded batch gives each text its own vector; token_type_ids are fed zeros', async () => {
    const s = await Session.fromOnnx(encoder(), { engine: 'sparrow-f32' });
    const texts = [[1, 2, 3, 4, 5, 6], [9], [4, 4, 11]];
    const vs = await embedBatch(s, texts);
    texts.forEach((t, i) => close(vs[i]!, oracle(t), 1e-6));
    // with a token type input, zeros: the same vectors
    const t = await Session.fromOnnx(encoder(true));
    close(await embed(t, [4, 4, 11]), oracle([4, 4, 11]), 1e-6);
  });

  it('meanPool and l2Normalize by hand', () => {
    const h: Tensor = { dtype: 'float32', dims: [1, 3, 2], data: Float32Array.of(1, 2, 3, 4, 100, 100) };
    expect(Array.from(meanPool(h, [1, 1, 0]))).toEqual([2, 3]);
    expect(Array.from(l2Normalize(Float64Array.of(3, 4)))).toEqual([0.6, 0.8]);
    expect(Array.from(l2Normalize(Float64Array.of(0, 0)))).toEqual([0, 0]);
    // an already pooled [B, D] output is taken as is
    expect(Array.from(meanPool({ dtype: 'float32', dims: [2, 2], data: Float32Array.of(1, 2, 3, 4) }, [1, 1], 1))).toEqual([3, 4]);
  });

  it('refuses empty texts and models without input_ids', async () => {
    const s = await Session.fromOnnx(encoder());
    await expect(embed(s, [])).rejects.toThrow(SparrowError);
    const other = buildModel({
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', dtype: 'float32', dims: [1] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [1] }],
    });
    await expect(embed(await Session.fromOnnx(other), [1])).rejects.toMatchObject({ code: 'invalid_model' });
  });
});
