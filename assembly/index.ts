// The Sparrow WASM module: every export is reached only through src/runtime/wasm.ts.
// Memory is owned by the caller (TS): it lays its buffers out above heapBase().

export { decodeDense, decodeCsr, denseToCsr, workBytes } from './codec';

/** First byte of linear memory free for the caller's buffers. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~<usize>15;
}
export { f32_gemm__wasmsimd, f32_gemm_1x8__wasmsimd, f32_gemm_2x8__wasmsimd, f32_gemm_4x8__wasmsimd, f32_gemm_4x8__wasmsimd_splat, f32_pack_b, f32_packed_b_size } from './f32/gemm';
export { f32_conv2d_4x8__wasmsimd, f32_conv2d_work_bytes, f32_conv2d_igemm_4x8__wasmsimd, f32_conv2d_igemm_work_bytes, f32_dwconv__wasmsimd, f32_dwconv_work_bytes, f32_im2col__wasmsimd, f32_im2col_work_bytes } from './f32/conv';
export { f32_peak__wasmsimd } from './f32/peak';
export * from './f32ops/index';
