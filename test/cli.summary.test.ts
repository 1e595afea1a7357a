// `sparrow compress`'s closing summary (formatCompressSummary): the pruning line says how the
// sparsity was spread: per layer, or over all layers with --scope global (for --prune channels,
// a fraction of the multiply-adds). It said "per layer" for a global run before.
import { describe, expect, it } from 'vitest';
import { formatCompressSummary } from '../src/cli/main.js';
import type { LayerReport } from '../src/compress/compress.js';

const layers: LayerReport[] = [
  { value: 'w1', node: 'conv1', op: 'Conv', shape: [16, 3, 3, 3], density: 1, levels: 255, dense: true },
  { value: 'w2', node: 'conv2', op: 'Conv', shape: [6, 16, 3, 3], density: 0.9, levels: 120 },
];
const base = { weightBits: 8, bytes: 1000, activations: 'static', ranges: 3 };

describe('compress summary: the pruning line', () => {
  it('per layer by default, over all layers with --scope global', () => {
    expect(formatCompressSummary(layers, { ...base, prune: 'magnitude', sparsity: 0.5 })).toContain(
      'magnitude pruning, sparsity 0.5 per layer;',
    );
    expect(formatCompressSummary(layers, { ...base, prune: 'magnitude', sparsity: 0.5, scope: 'layer' })).toContain(
      'sparsity 0.5 per layer;',
    );
    expect(formatCompressSummary(layers, { ...base, prune: 'magnitude', sparsity: 0.7, scope: 'global' })).toContain(
      'magnitude pruning, sparsity 0.7 over all layers (--scope global);',
    );
    const ch = formatCompressSummary(layers, { ...base, prune: 'channels', sparsity: 0.5, scope: 'global' });
    expect(ch).toContain('channels pruning, sparsity 0.5 over all layers (--scope global: of the multiply-adds);');
    expect(ch).not.toContain('per layer');
    expect(ch).not.toContain('multiples');
    expect(formatCompressSummary(layers, { ...base, prune: 'channels', sparsity: 0.55, channelMultiple: 4 })).toContain(
      'channels pruning, sparsity 0.55 per layer, kept channels in multiples of 4;',
    );
  });
});
