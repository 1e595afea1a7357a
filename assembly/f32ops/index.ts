// The float32 op kernels of the sparrow-f32 engine (src/runtime/engine_f32.ts drives them).
export { f32_add_bcast__wasmsimd, f32_sub_bcast__wasmsimd, f32_mul_bcast__wasmsimd, f32_div_bcast__wasmsimd, f32_pow_bcast__scalar } from './binary';
export {
  f32_relu__wasmsimd, f32_leakyrelu__wasmsimd, f32_clip__wasmsimd, f32_sigmoid__wasmsimd, f32_tanh__wasmsimd, f32_hardsigmoid__wasmsimd,
  f32_hardswish__wasmsimd, f32_exp__wasmsimd, f32_sqrt__wasmsimd, f32_erf__wasmsimd, f32_gelu__wasmsimd, f32_pow_scalar__wasmsimd,
  f32_silu__wasmsimd,
} from './unary';
export { f32_maxpool2d__wasm, f32_avgpool2d__wasm } from './pool';
export { f32_softmax__wasmsimd, f32_mean__wasmsimd, f32_layernorm__wasmsimd, f32_channel_affine__wasmsimd } from './norm';
export { f32_remap__wasm, f32_fill__wasm } from './move';
// transformer graphs: tensors of any dtype (casts, comparisons, masks, gathers by fed indices) and the decomposed norms
export { x_compare_bcast__wasm, x_not__wasm, x_where_bcast__wasm, x_cast__wasm, f32_neg__wasmsimd, f32_sincos__wasm, x_gather_rows__wasm, x_remap__wasm } from './tensor';
export { f32_layernorm_ops__wasmsimd, f32_rmsnorm_ops__wasmsimd } from './tnorm';
// the int8 engine's NaN scan at its quantization boundaries
export { f32_has_nan__wasmsimd } from './nonfinite';
