// ONNX TensorProto.DataType codes and names: op vocabulary (Cast's `to`, CastLike, the importer's
// tensor types), plain tables with no protobuf. src/onnx/attributes.ts re-exports them.
import { SparrowError } from '../errors.js';
import type { TensorDType } from './types.js';

/** ONNX TensorProto.DataType code → the IR dtype (codes the IR has no dtype for are absent). */
const DTYPE_BY_CODE: Readonly<Record<number, TensorDType>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};
const DTYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'UNDEFINED',
  1: 'FLOAT',
  2: 'UINT8',
  3: 'INT8',
  4: 'UINT16',
  5: 'INT16',
  6: 'INT32',
  7: 'INT64',
  8: 'STRING',
  9: 'BOOL',
  10: 'FLOAT16',
  11: 'DOUBLE',
  12: 'UINT32',
  13: 'UINT64',
  14: 'COMPLEX64',
  15: 'COMPLEX128',
  16: 'BFLOAT16',
  17: 'FLOAT8E4M3FN',
  18: 'FLOAT8E4M3FNUZ',
  19: 'FLOAT8E5M2',
  20: 'FLOAT8E5M2FNUZ',
  21: 'UINT4',
  22: 'INT4',
  23: 'FLOAT4E2M1',
  24: 'FLOAT8E8M0',
  25: 'UINT2',
  26: 'INT2',
};

const DTYPE_CODES: Readonly<Record<TensorDType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  bfloat16: 16,
};

/** The ONNX names of the types the IR has, in the order error messages list them. */
export const SUPPORTED_TYPES_TEXT = 'FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT64, UINT64, INT32, UINT32, INT16, UINT16, INT8, UINT8 and BOOL';

/** The ONNX name of a data type code ('FLOAT16', ...). */
export function dtypeName(code: number): string {
  return DTYPE_NAMES[code] ?? `type ${code}`;
}

/** The IR dtype of an ONNX data type code, or undefined when the IR has none (Cast's `to`). */
export function dtypeFromOnnx(code: number): TensorDType | undefined {
  return DTYPE_BY_CODE[code];
}

/** The ONNX TensorProto.DataType code of an IR dtype. */
export function onnxDtypeCode(dtype: TensorDType): number {
  return DTYPE_CODES[dtype];
}

/** The IR dtype of an ONNX data type code; SparrowError('unsupported_op') naming `what` otherwise. */
export function dtypeFromCode(code: number, what: string): TensorDType {
  const d = DTYPE_BY_CODE[code];
  if (d === undefined) {
    throw new SparrowError(
      'unsupported_op',
      `${what} has data type ${dtypeName(code)} (${code}); Sparrow runs ${SUPPORTED_TYPES_TEXT} tensors`,
    );
  }
  return d;
}
