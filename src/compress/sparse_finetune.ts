// Unstructured pruning + fine-tuning (`sparrow compress --prune hessian|obs --finetune E`): the
// mask is decided first, on the float network, and the pruned weights re-fitted in float; the
// masked float graph is then fine-tuned by distillation (finetune.ts, keepZeros: the mask stays
// fixed) and finally quantized by compress.ts's usual pass with that mask forced (fixedMasksOf).
//
// The float pass (prunedFloatGraph) is the sequential calibration of the quantizing pass
// (calib.ts pruneSequentially with float targets and bias correction) with the quantizer left out:
//   hessian: SparseGPT's OBS mask and compensation (obs.ts obsPrune, 'pairs' as --sparsity-pattern);
//   obs:     OBC's exact greedy mask and compensation (obc.ts obcLayerPrune).
// Layers whose sparsity is 0 (the dense ends) keep their (float-target) weights.
// Magnitude pruning needs no calibration pass: compress.ts prunes the float graph directly.
import { SparrowError } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import type { Tensor } from '../ops/types.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import { wasmCalibAccel } from './accel.js';
import { findWeightLayers, pruneSequentially, weightRowsK, withPrunedWeights, type WeightLayer } from './calib.js';
import { obcLayerPrune } from './obc.js';
import { obsPrune } from './obs.js';

export interface PrunedFloatOptions {
  method: 'hessian' | 'obs';
  /** each layer's sparsity by node name (0: the layer stays dense) */
  sparsityOf: (node: string) => number;
  /** hessian only: 'pairs' = aligned 1x2 blocks along K */
  pattern?: 'pairs' | 'unstructured';
  /** the layers to prune (node names); default every calib.ts weight layer */
  nodes?: readonly string[];
  floatTargets?: boolean;
  biasCorrection?: boolean;
  wasm?: SparrowWasm;
  onLayer?: (node: string) => void;
}

/**
 * The float graph pruned by `opts.method` on `batches` (the graph is not modified): pruned
 * weights exactly +0, the kept ones OBS-compensated, biases corrected against the float network.
 */
export function prunedFloatGraph(graph: Graph, batches: readonly Tensor[], opts: PrunedFloatOptions): Graph {
  const all = findWeightLayers(graph);
  const layers = opts.nodes ? all.filter((l) => opts.nodes!.includes(l.node)) : all;
  const seq = pruneSequentially(
    graph,
    batches,
    (W, st) => {
      opts.onLayer?.(st.node);
      const s = opts.sparsityOf(st.node);
      if (!(s > 0)) return W;
      const G = st.groupH.length,
        rpg = st.rows / G,
        K = st.K;
      const out = new Float32Array(W.length);
      for (let g = 0; g < G; g++) {
        const Wg = W.slice(g * rpg * K, (g + 1) * rpg * K);
        const H = st.groupH[g]!;
        let r: Float32Array;
        if (opts.method === 'obs') {
          const { W: Wp, mask } = obcLayerPrune(opts.wasm, Wg, H, s);
          r = Float32Array.from(Wp);
          for (let i = 0; i < r.length; i++) if (mask[i]) r[i] = 0;
        } else r = obsPrune(Wg, H, s, opts.pattern === 'pairs' ? { pattern: 'pairs' } : {});
        // +0 exactly (a −0 or a denormal would not be a pruned weight for keepZeros / the mask)
        for (let i = 0; i < r.length; i++) if (r[i] === 0) r[i] = 0;
        out.set(r, g * rpg * K);
      }
      return out;
    },
    layers,
    {
      ...(opts.wasm ? { accel: wasmCalibAccel(opts.wasm) } : {}),
      biasCorrection: opts.biasCorrection ?? true,
      floatTargets: opts.floatTargets ?? true,
    },
  );
  return withPrunedWeights(graph, seq);
}

/**
 * The pruning masks (rows, K), 1 = pruned, of a fine-tuned sparse graph: its exact zeros, for the
 * layers `nodes` (the others get none). In calib.ts's (rows, K) layout, as obsQuantize takes masks.
 */
export function fixedMasksOf(graph: Graph, nodes: ReadonlySet<string>): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const l of findWeightLayers(graph)) {
    if (!nodes.has(l.node)) continue;
    out.set(l.node, zeroMask(weightRowsK(graph, l)));
  }
  return out;
}

/** 1 where w is exactly 0. */
export function zeroMask(w: Float32Array): Uint8Array {
  return Uint8Array.from(w, (x) => (x === 0 ? 1 : 0));
}

/** The fraction of nonzero weights of each layer's weight (by node name), in the stored layout. */
export function layerDensities(graph: Graph, layers?: readonly WeightLayer[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of layers ?? findWeightLayers(graph)) {
    const w = graph.values.get(l.weight)?.const;
    if (!w || w.dtype !== 'float32') throw new SparrowError('internal', `layerDensities: ${l.node} has no float32 weight`);
    const d = w.data as Float32Array;
    let nz = 0;
    for (let i = 0; i < d.length; i++) if (d[i] !== 0) nz++;
    out.set(l.node, d.length ? nz / d.length : 1);
  }
  return out;
}
