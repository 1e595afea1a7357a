// Exact greedy OBS (Optimal Brain Compression) on the WASM kernel assembly/obc.ts: the same
// setup (damping, dead inputs, H⁻¹) as the plain reference obsPruneExact in obs.ts, the per-row
// greedy loop in float64 WASM SIMD. Results equal the reference's (the kernel does the same
// float64 operations in the same order); test/compress.obc.test.ts checks that.
//
// Cost per row: Σ over the k removals of nf²/2 multiply-subtracts (nf = free columns), i.e.
// ≈ (K³ − (K−k)³)/6; ResNet-32's 64-channel layers (K = 576, 70 %): ~31 M per row.
import { SparrowError } from '../errors.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import { exactObsSetup, type ExactObsOptions } from './obs.js';

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
  const ex = wasm.exports;
  const mark = wasm.mark();
  try {
    const pw = wasm.putBytes(W64);
    const ph = wasm.putBytes(Hinv);
    const pm = wasm.alloc(rows * K);
    const work = wasm.alloc(Number(ex.obc_work_bytes(K)));
    ex.obc_prune_rows__wasmsimd(pw, ph, pm, rows, K, target, nm ? nm.n : 0, nm ? nm.m : 0, work);
    const buf = ex.memory.buffer;
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
