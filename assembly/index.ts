// The Sparrow WASM module: every export is reached only through src/runtime/wasm.ts.
// Memory is owned by the caller (TS): it lays its buffers out above heapBase().

export { decodeDense, decodeCsr, workBytes } from './codec';

/** First byte of linear memory free for the caller's buffers. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~<usize>15;
}
export { f32_gemm__wasmsimd, f32_gemm_1x32__wasmsimd, f32_gemm_1x8__wasmsimd, f32_gemm_2x8__wasmsimd, f32_gemm_4x8__wasmsimd, f32_pack_b, f32_packed_b_size } from './f32/gemm';
export { f32_conv2d_igemm_4x8__wasmsimd, f32_conv2d_igemm_work_bytes, f32_dwconv__wasmsimd, f32_dwconv_part__wasmsimd, f32_dwconv_work_bytes } from './f32/conv';
export { f32_peak__wasmsimd } from './f32/peak';
export { f32_rnn_seq__wasmsimd, f32_gru_seq__wasmsimd, f32_lstm_seq__wasmsimd, f32_recurrent_work_bytes } from './f32/rnn';
export * from './f32ops/index';
export { qs8_conv2d_4x8c2__wasmsimd, qs8_conv2d_4x8c2_part__wasmsimd, qs8_conv2d_work_bytes, qs8_conv2d_pack_w, qs8_conv2d_packed_w_bytes, qs8_gemm_4x8c2__wasmsimd, qs8_pack_x_c2, qs8_packed_x_bytes, qs8_fc_1x4c8__wasmsimd, qs8_fc_work_bytes, qs8_dynfc_f32__wasmsimd, qs8_dynfc_f32_finite__wasmsimd } from './int8/gemm';
export {
  qs8_spfc_1x1__scalar, qs8_spconv2d_16x1__wasmsimd, qs8_spconv2d_16x1_part__wasmsimd, qs8_spconv2d_nz_work_bytes, qs8_spconv_csr_bytes,
  qs8_spconv_pairs_bytes, qs8_spconv_pack_pairs, qs8_spconv2d_c2_work_bytes, qs8_spconv2d_16x1c2__wasmsimd, qs8_spconv2d_16x1c2_part__wasmsimd, qs8_csr_pair_count,
} from './int8/sparse';
export { qs8_dwconv2d__wasmsimd, qs8_dwconv2d_part__wasmsimd, qs8_dwconv2d_work_bytes, qs8_add__wasmsimd, qs8_vadd__wasmsimd, qs8_vadd_f32__wasmsimd, qs8_mul_rows_f32__wasmsimd, qs8_gavgpool__wasmsimd, qs8_maxpool2d__wasmsimd, qs8_maxpool2d_work_bytes, qs8_quantize__wasmsimd, qs8_dequantize__wasmsimd, qs8_remap__wasm, qs8_lut__wasmsimd, qs8_minmax_f32__wasmsimd, f32_absmax_channels__wasmsimd, qs8_quantize_channels_f32__wasmsimd, qs8_count_nonzero__wasmsimd } from './int8/ops';
export { qs8_peak__wasmsimd } from './int8/peak';
// ConvTranspose (GEMM + col2im) and Resize/Upsample (separable resampling): src/runtime/f32/resample.ts, deconv.ts
export { f32_deconv2d__wasmsimd, f32_deconv2d_work_bytes, f32_col2im__wasmsimd } from './f32/deconv';
export { f32_resample2d__wasmsimd, f32_resample2d_work_bytes } from './f32ops/resample';
// fused attention (src/runtime/f32/attention.ts)
export { f32_attention__wasmsimd, f32_attention_work_bytes } from './f32/attention';
// int8 conv on k-quads for the relaxed dot product (exact: weights in [−64, 63]); plain SIMD in the plain build
export { qs8_relaxed_build, qs8_conv2d_packed_w_c4_bytes, qs8_conv2d_pack_w_c4, qs8_conv2d_c4_work_bytes, qs8_conv2d_4x8c4__wasmrelaxed, qs8_conv2d_4x8c4_range__wasmrelaxed, qs8_conv2d_4x8c4_part__wasmrelaxed } from './int8/relaxed';
// exact integer Winograd F(2x2, 3x3) for 3x3 stride-1 convs (src/kernels/int8.ts winogradEligible)
export { qs8_wino2x2_3x3__wasmsimd, qs8_wino2x2_3x3_part__wasmsimd, qs8_wino_panels, qs8_wino_work_bytes, qs8_wino_pack_w, qs8_wino_packed_w_bytes } from './int8/winograd';
// exact integer Winograd F(4x4, 3x3) for 3x3 stride-1 convs with OH % 4 == 0, OW % 16 == 0 and weights within WINO4_BOUND (src/kernels/int8.ts QS8_CONV_WINO4)
export { qs8_wino4x4_3x3__wasmsimd, qs8_wino4x4_3x3_part__wasmsimd, qs8_wino4_units, qs8_wino4_work_bytes, qs8_wino4_pack_w, qs8_wino4_packed_w_bytes } from './int8/wino4';
// exact greedy OBS pruning for sparrow compress (src/compress/obc.ts)
export { obc_prune_rows__wasmsimd, obc_work_bytes } from './obc';
// CRC-32 for the container where the runtime has no native one (browsers, Workers): src/wasm/crc32.ts
export { crc32_update } from './crc32';
