// Every error response of the Worker is made here: `{"error":{"code","message"}}` with the
// status of its code. Handlers throw HttpError (or let a SparrowError through); app.onError
// and app.notFound in index.ts call toErrorResponse.
import { isSparrowError, type SparrowErrorCode } from '../errors.js';

/** Worker-level error codes (beyond SparrowErrorCode) and their statuses. */
export const HTTP_CODES = {
  not_found: 404,
  model_not_found: 404,
  version_not_found: 404,
  method_not_allowed: 405,
  invalid_id: 400,
  unauthorized: 401,
  writes_disabled: 403,
  payload_too_large: 413,
  /** a model or a request needs more memory than the isolate's budget (MODEL_CACHE_BYTES) or the model's maxBatch allows */
  too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  length_required: 411,
  invalid_json: 400,
  invalid_request: 400,
  missing_input: 400,
  unknown_input: 400,
  invalid_dims: 400,
  invalid_dtype: 400,
  element_count_mismatch: 400,
  non_finite: 400,
  not_runnable: 422,
  // /generate and /embed (src/worker/generate.ts, embed.ts)
  empty_prompt: 400,
  max_tokens_exceeded: 400,
  not_a_decoder: 422,
  not_an_encoder: 422,
  // /classify (src/worker/classify.ts)
  not_a_classifier: 422,
  no_tokenizer: 422,
  conflict: 409,
  internal: 500,
  /** R2 failed or timed out; nothing half-done is visible; retry after Retry-After seconds */
  storage_unavailable: 503,
  /** the isolate waited too long for a load slot, a model's run or memory; retry after Retry-After seconds */
  busy: 503,
} as const satisfies Record<string, number>;
export type HttpCode = keyof typeof HTTP_CODES;

/** SparrowError codes → status: a bad upload or bad input is the client's (4xx). */
const SPARROW_STATUS: Record<SparrowErrorCode, number> = {
  bad_magic: 400,
  unsupported_version: 422,
  truncated: 400,
  corrupt_header: 400,
  corrupt_metadata: 400,
  corrupt_stream: 400,
  checksum_mismatch: 400,
  unsupported_codec: 422,
  too_large: 413,
  invalid_argument: 400,
  io_error: 502,
  unsupported_op: 422,
  invalid_model: 422,
  internal: 500,
};

export class HttpError extends Error {
  readonly code: HttpCode;
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(code: HttpCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.code = code;
    this.status = HTTP_CODES[code];
    this.headers = headers;
  }
}

export function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** The one place an error becomes a response. */
export function toErrorResponse(err: unknown, method = 'GET'): Response {
  let status = 500,
    code = 'internal',
    message = 'internal error',
    headers: Record<string, string> = {};
  if (err instanceof HttpError) {
    ({ status, code, message, headers } = err);
  } else if (isSparrowError(err)) {
    status = SPARROW_STATUS[err.code] ?? 500;
    code = err.code;
    message = err.message;
  } else {
    // a bug of ours: log it, do not leak a stack
    console.error('sparrow worker: unexpected error', err);
    message = err instanceof Error ? `internal error: ${err.message}` : 'internal error';
  }
  const body = method === 'HEAD' ? null : errorBody(code, message);
  return new Response(body, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}
