// Exact greedy OBS (Optimal Brain Compression) on the WASM kernel assembly/obc.ts: the same
// setup (damping, dead inputs, H⁻¹) as the plain reference obsPruneExact in obs.ts, the per-row
// greedy loop in float64 WASM SIMD. Results equal the reference's (the kernel does the same
// float64 operations in the same order); test/compress.obc.test.ts checks that.
//
// Cost per row: Σ over the k removals of nf²/2 multiply-subtracts (nf = free columns), i.e.
// ≈ (K³ − (K−k)³)/6; ResNet-32's 64-channel layers (K = 576, 70 %): ~31 M per row.
import { SparrowError } from '../errors.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import { exactObsSetup, obcLayerCounts, obsPruneExactDetailed, rowCountsOf, type ExactObsOptions } from './obs.js';

/**
 * obsPruneExact (obs.ts) on WASM: W (rows, K), H (K, K) → the pruned, re-fitted weights and
 * the mask (rows, K), 1 = pruned (dead input columns included). W and H are not modified.
 */
export function obsPruneExactWasm(
  wasm: SparrowWasm,
  W: Float32Array,
  H: Float64Array,
  sparsity: number,
  opts: ExactObsOptions = {},
): { W: Float32Array; mask: Uint8Array } {
  const { rows, K, W64, Hinv, dead, target, nm } = exactObsSetup(W, H, sparsity, opts, 'obsPruneExactWasm');
  const counts = rowCountsOf(opts, rows, K, target, nm);
  const ex = wasm.exports;
  const mark = wasm.mark();
  try {
    const pw = wasm.putBytes(W64);
    const ph = wasm.putBytes(Hinv);
    const pm = wasm.alloc(rows * K);
    const work = wasm.alloc(Number(ex.obc_work_bytes(K)));
    const pc = wasm.putBytes(counts);
    const pt = opts.trace ? wasm.alloc(rows * K * 8) : 0;
    if (pt) new Uint8Array(ex.memory.buffer, pt, rows * K * 8).fill(0); // steps not taken stay 0
    ex.obc_prune_rows__wasmsimd(pw, ph, pm, rows, K, pc, nm ? nm.n : 0, nm ? nm.m : 0, work, pt);
    const buf = ex.memory.buffer;
    if (opts.trace) opts.trace.set(new Float64Array(buf, pt, rows * K));
    const w = new Float64Array(buf, pw, rows * K);
    const m = new Uint8Array(buf, pm, rows * K);
    const out = new Float32Array(rows * K);
    const mask = new Uint8Array(rows * K);
    for (let i = 0; i < rows * K; i++) {
      const j = i % K;
      if (m[i] || dead[j]) mask[i] = 1;
      else out[i] = w[i]!;
    }
    return { W: out, mask };
  } catch (e) {
    if (e instanceof SparrowError) throw e;
    throw new SparrowError('internal', `obsPruneExactWasm: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    wasm.release(mark);
  }
}

/**
 * OBC's mask for a layer at `sparsity`: every row is first pruned greedily to a depth of
 * (1 + sparsity)/2 of its columns recording each removal's saliency; the layer's
 * round(sparsity · K) · rows removals then go to the rows where they cost least
 * (obcLayerCounts), and a second pass prunes each row to its count. WASM when `wasm` is given,
 * the plain reference otherwise (equal results). W (rows, K), H (K, K).
 */
export function obcLayerPrune(
  wasm: SparrowWasm | undefined,
  W: Float32Array,
  H: Float64Array,
  sparsity: number,
  opts: { damp?: number } = {},
): { W: Float32Array; mask: Uint8Array } {
  const run = (o: ExactObsOptions): { W: Float32Array; mask: Uint8Array } =>
    wasm ? obsPruneExactWasm(wasm, W, H, sparsity, o) : obsPruneExactDetailed(W, H, sparsity, o);
  const K = Math.round(Math.sqrt(H.length));
  const rows = W.length / K;
  const k = Math.min(K, Math.round(sparsity * K));
  if (k === 0 || k === K || rows === 1) return run(opts);
  const depth = Math.min(K, Math.max(k, Math.ceil(((1 + sparsity) / 2) * K)));
  const trace = new Float64Array(rows * K);
  run({ ...opts, rowCounts: new Int32Array(rows).fill(depth), trace });
  const rowCounts = obcLayerCounts(trace, rows, K, depth, k * rows);
  return run({ ...opts, rowCounts });
}
