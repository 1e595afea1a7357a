// WASM acceleration of calibration (src/compress/calib.ts CalibAccel): the Gram matrices
// XᵀX of the layer inputs through the float32 SIMD GEMM, and 2-D Conv nodes through the
// float32 WASM conv kernels instead of the TypeScript reference. Both are float32 (the
// reference conv accumulates in float32 too; Gram blocks of ≤ 256 patches are summed into
// float64 by calib.ts), so Hessians agree with the pure-TS path to ~1e-6 relative.
import type { SparrowWasm } from '../wasm/gateway.js';
import { conv2dF32, gemmF32 } from '../kernels/f32.js';
import { readWindowAttrs, windowGeometry } from '../ops/ref/conv.js';
import { AttrReader } from '../ops/ref/util.js';
import type { Tensor } from '../ops/types.js';
import type { Node } from '../ir/graph.js';
import type { CalibAccel, KernelFn } from './calib.js';

export function wasmCalibAccel(w: SparrowWasm): CalibAccel {
  return {
    // G (K, K) = Xt Xtᵀ for Xt (K, n)
    gram: (Xt, K, n) => gemmF32(w, K, K, n, Xt, Xt, { transB: true }),
    // C (K, K) = Xt Ytᵀ for Xt, Yt (K, n)
    cross: (Xt, Yt, K, n) => gemmF32(w, K, K, n, Xt, Yt, { transB: true }),
    kernel: (node: Node): KernelFn | undefined => {
      if (node.op !== 'Conv' || node.domain !== '') return undefined;
      return (inputs) => {
        const [X, W, B] = inputs as [Tensor, Tensor, Tensor | undefined];
        if (!X || !W || X.dtype !== 'float32' || W.dtype !== 'float32' || X.dims.length !== 4 || W.dims.length !== 4) return null;
        const r = new AttrReader('Conv', node.attrs, { opset: node.opset, node: node.name });
        const win = readWindowAttrs('Conv', r, 2, W.dims.slice(2), false);
        const geo = windowGeometry(X.dims.slice(2), win);
        const y = conv2dF32(w, X.data as Float32Array, X.dims, W.data as Float32Array, W.dims, B ? (B.data as Float32Array) : undefined, {
          pads: [geo.padBegin[0]!, geo.padBegin[1]!, geo.padEnd[0]!, geo.padEnd[1]!],
          strides: [win.strides[0]!, win.strides[1]!],
          dilations: [win.dilations[0]!, win.dilations[1]!],
          groups: r.int('group', 1),
        });
        return [{ dtype: 'float32', dims: y.dims, data: y.data }];
      };
    },
  };
}
