// The float32 engine's lowerings by op type (one file per family) and the dispatch of a node.
import { elementCount } from '../../ops/types.js';
import { FUSED_DOMAIN } from '../../ir/fuse.js';
import type { Node } from '../../ir/graph.js';
import { CONV } from './conv.js';
import { ELEMENTWISE } from './elementwise.js';
import { GEMM } from './gemm.js';
import { MOVEMENT } from './movement.js';
import { NORM } from './norm.js';
import { POOL } from './pool.js';
import { RECURRENT } from './recurrent.js';
import type { F32Lower, Lowered, Lowering } from './lower.js';

const DEFAULT_DOMAIN: Record<string, Lowering> = { ...ELEMENTWISE, ...CONV, ...GEMM, ...POOL, ...NORM, ...MOVEMENT, ...RECURRENT };
const FUSED: Record<string, Lowering> = { FusedConv: CONV['FusedConv']!, FusedGemm: GEMM['FusedGemm']!, FusedMatMul: GEMM['FusedMatMul']! };

// ConvTranspose (GEMM + col2im), Resize / Upsample (remap or separable resampling), DepthToSpace /
// SpaceToDepth / Tile (remap)
import { DECONV } from './deconv.js';
import { LAYOUT } from './layout.js';
import { RESAMPLE } from './resample.js';
Object.assign(DEFAULT_DOMAIN, DECONV, RESAMPLE, LAYOUT);

// tensors of any dtype (Cast, comparisons, logic, Where) and Neg / Sin / Cos: transformer graphs' small ops
import { TENSOR_OPS } from './tensor_ops.js';
Object.assign(DEFAULT_DOMAIN, TENSOR_OPS);
// the transformer fusions (src/ir/fuse_patterns.ts, fuse_attention.ts): sparrow.LayerNormOps, RMSNormOps, Attention
import { TRANSFORMER, TRANSFORMER_OPS } from './transformer.js';
Object.assign(FUSED, TRANSFORMER);
Object.assign(DEFAULT_DOMAIN, TRANSFORMER_OPS);
FUSED['FusedConvTranspose'] = DECONV['FusedConvTranspose']!;

/** The ops (default domain) with a float32 WASM kernel. */
export const F32_KERNEL_OPS: readonly string[] = Object.keys(DEFAULT_DOMAIN).filter((op) => !op.startsWith('Fused'));

/**
 * Lowers one node: a kernel step, a noop (every output empty), or the reason it falls back to its
 * reference kernel. Aliases (Reshape & co) are the skeleton's (plan_builder.ts), not this.
 */
export function lowerF32(n: Node, L: F32Lower): Lowered | string {
  const outs = n.outputs.filter((o) => o);
  if (outs.length > 0 && outs.every((o) => L.f32(o) && elementCount(L.dims(o)) === 0)) return { kind: 'noop' };
  if (n.domain === FUSED_DOMAIN) return FUSED[n.op]?.(n, L) ?? `no WASM kernel for ${n.domain}.${n.op}`;
  if (n.domain !== '') return `no WASM kernel for domain '${n.domain}'`;
  const f = DEFAULT_DOMAIN[n.op];
  if (!f || n.op.startsWith('Fused')) return `no WASM kernel for ${n.op}`;
  return f(n, L);
}
