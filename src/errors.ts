// One error class for the whole project: a stable snake_case `code` for machines,
// a human `message` for people. Faces (CLI, Worker) turn it into exit codes / HTTP
// responses in exactly one place each.

export type SparrowErrorCode =
  | 'bad_magic' // not a .sparrow file
  | 'unsupported_version' // a major version this reader does not know
  | 'truncated' // the bytes end before a size says they should
  | 'corrupt_header' // header fields inconsistent / reserved bits set
  | 'corrupt_metadata' // metadata JSON unreadable or inconsistent with sections
  | 'corrupt_stream' // a coded stream does not decode to what its header says
  | 'checksum_mismatch' // CRC-32 of a part differs from the stored one
  | 'unsupported_codec' // codec id unknown to this reader
  | 'too_large' // a size over a configured limit
  | 'invalid_argument' // caller passed something unusable
  | 'io_error' // file could not be read / written
  | 'unsupported_op' // ONNX op / opset not supported
  | 'invalid_model' // ONNX model unreadable or inconsistent
  | 'internal'; // a bug: an invariant of ours broke

export class SparrowError extends Error {
  readonly code: SparrowErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: SparrowErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'SparrowError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

export function isSparrowError(e: unknown): e is SparrowError {
  return e instanceof SparrowError;
}

/** Throws `SparrowError(code, message)` unless `cond` holds. */
export function check(cond: unknown, code: SparrowErrorCode, message: string): asserts cond {
  if (!cond) throw new SparrowError(code, message);
}
