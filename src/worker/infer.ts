// Inference request bodies → validated tensors, and outputs → response bodies.
//   JSON:  {"inputs":{"<name>":{"dims":[...],"data":[...], "dtype"?: "float32"|"uint8"|...}}}
//          data is flat, row-major; "dtype":"uint8" gives 0..255 pixels that the model's stored
//          preprocessing (pixel/255, mean/std) turns into its float32 input.
//   .npy:  one tensor for a one-input model (uint8 pixels likewise preprocessed).
import type { Tensor, TensorDType } from '../ops/types.js';
import type { Session } from '../runtime/session.js';
import { preprocessPixels } from '../runtime/sparrow_model.js';
import { parseNpy, writeNpy, type NpyArray } from '../io/npy.js';
import { HttpError } from './errors.js';
import { castTensor } from '../ops/ref/cast.js';

/** Largest element count of one input tensor (also bounded by the body size). */
export const MAX_INPUT_ELEMENTS = 16 * 1024 * 1024;

const INT_RANGE: Partial<Record<TensorDType, [number, number]>> = {
  int32: [-2147483648, 2147483647],
  int8: [-128, 127],
  uint8: [0, 255],
  bool: [0, 1],
};

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Checks dims against the model's input (rank, fixed sizes) and, for a symbolic batch axis, the
 * model's maxBatch (413 too_large: before the engine allocates a plan for it); returns the dims.
 */
function checkDims(session: Session, name: string, dims: unknown, maxBatch: number): number[] {
  const want = session.inputInfo[name]!.dims;
  if (!Array.isArray(dims) || dims.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1)) {
    throw new HttpError(
      'invalid_dims',
      `inputs.${name}.dims must be an array of positive integers, got ${JSON.stringify(dims)?.slice(0, 80)}`,
    );
  }
  const d = dims as number[];
  if (want) {
    if (want.length !== d.length)
      throw new HttpError('invalid_dims', `input '${name}' has rank ${want.length} [${want.join(',')}], got dims [${d.join(',')}]`);
    want.forEach((w, i) => {
      if (w >= 0 && w !== d[i])
        throw new HttpError('invalid_dims', `input '${name}' needs dims [${want.join(',')}] (-1 = any), got [${d.join(',')}]`);
    });
    if (want.length > 0 && want[0]! < 0 && d[0]! > maxBatch) {
      throw new HttpError('too_large', `input '${name}' has batch ${d[0]}; this model serves at most maxBatch ${maxBatch}`);
    }
  }
  let n = 1;
  for (const x of d) {
    n *= x;
    if (n > MAX_INPUT_ELEMENTS)
      throw new HttpError('payload_too_large', `input '${name}' dims [${d.join(',')}] exceed ${MAX_INPUT_ELEMENTS} elements`);
  }
  return d;
}

const count = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** The dtype the request sends for `name`: the model's, or uint8 pixels for a preprocessed float input. */
function requestDtype(session: Session, name: string, given: unknown): TensorDType {
  const model = session.inputInfo[name]!.dtype;
  if (given === undefined || given === model) return model;
  const pre = session.preprocessing;
  if (given === 'uint8' && model === 'float32' && pre && pre.input === name) return 'uint8';
  throw new HttpError(
    'invalid_dtype',
    `input '${name}' is ${model}${pre && pre.input === name && model === 'float32' ? ' (or uint8 pixels)' : ''}, got dtype ${JSON.stringify(given)}`,
  );
}

/** JSON numbers → a typed tensor; every value finite and representable in the dtype. */
function tensorFromJson(name: string, dtype: TensorDType, dims: number[], data: unknown): Tensor {
  if (!Array.isArray(data)) throw new HttpError('invalid_request', `inputs.${name}.data must be a flat array of numbers`);
  const n = count(dims);
  if (data.length !== n) {
    throw new HttpError('element_count_mismatch', `input '${name}' dims [${dims.join(',')}] hold ${n} elements, data has ${data.length}`);
  }
  const bad = (i: number, why: string): never => {
    throw new HttpError(
      why === 'non-finite' ? 'non_finite' : 'invalid_request',
      `input '${name}' element ${i} is ${why}: ${typeof data[i] === 'number' ? String(data[i]) : JSON.stringify(data[i])?.slice(0, 40)}`,
    );
  };
  if (dtype === 'float32') {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const v = data[i];
      // JSON has no NaN/Infinity: JSON.stringify writes them as null, some clients as strings
      if (v === null || v === 'NaN' || v === 'Infinity' || v === '-Infinity') bad(i, 'non-finite');
      if (typeof v !== 'number') bad(i, 'not a number');
      const f = Math.fround(v as number);
      if (!Number.isFinite(f)) bad(i, 'non-finite');
      out[i] = f;
    }
    return { dtype, dims, data: out };
  }
  if (dtype === 'int64') {
    const out = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      const v = data[i];
      if (typeof v !== 'number') bad(i, 'not a number');
      if (!Number.isFinite(v)) bad(i, 'non-finite');
      if (!Number.isSafeInteger(v)) bad(i, 'not an integer');
      out[i] = BigInt(v as number);
    }
    return { dtype, dims, data: out };
  }
  const range = INT_RANGE[dtype];
  if (!range) throw new HttpError('invalid_dtype', `input '${name}' has dtype ${dtype}, which the Worker cannot take`);
  const out = dtype === 'int32' ? new Int32Array(n) : dtype === 'int8' ? new Int8Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = data[i];
    if (typeof v !== 'number') bad(i, 'not a number');
    if (!Number.isFinite(v)) bad(i, 'non-finite');
    if (!Number.isInteger(v) || (v as number) < range[0] || (v as number) > range[1]) bad(i, `not a ${dtype} value`);
    out[i] = v as number;
  }
  return { dtype, dims, data: out };
}

/** Converts uint8 pixels to the model's float input where the request sent pixels. */
function finish(session: Session, name: string, t: Tensor): Tensor {
  if (t.dtype === 'uint8' && session.inputInfo[name]!.dtype === 'float32') return preprocessPixels(t, session.preprocessing!);
  return t;
}

export function feedsFromJson(session: Session, body: unknown, maxBatch = Infinity): Record<string, Tensor> {
  if (!isObject(body) || !isObject(body.inputs)) {
    throw new HttpError('invalid_request', 'body must be {"inputs":{"<name>":{"dims":[...],"data":[...]}}}');
  }
  const inputs = body.inputs;
  for (const name of Object.keys(inputs)) {
    if (!Object.prototype.hasOwnProperty.call(session.inputInfo, name)) {
      throw new HttpError('unknown_input', `model has no input '${name}' (inputs: ${session.inputNames.join(', ')})`);
    }
  }
  const feeds: Record<string, Tensor> = {};
  for (const name of session.inputNames) {
    const x = inputs[name];
    if (x === undefined) throw new HttpError('missing_input', `input '${name}' is missing (inputs: ${session.inputNames.join(', ')})`);
    if (!isObject(x)) throw new HttpError('invalid_request', `inputs.${name} must be {"dims":[...],"data":[...]}`);
    const dims = checkDims(session, name, x.dims, maxBatch);
    const dtype = requestDtype(session, name, x.dtype);
    feeds[name] = finish(session, name, tensorFromJson(name, dtype, dims, x.data));
  }
  return feeds;
}

export function feedsFromNpy(session: Session, bytes: Uint8Array, maxBatch = Infinity): Record<string, Tensor> {
  if (session.inputNames.length !== 1) {
    throw new HttpError(
      'invalid_request',
      `application/x-npy needs a one-input model; this one has ${session.inputNames.length} (${session.inputNames.join(', ')}): send JSON`,
    );
  }
  const name = session.inputNames[0]!;
  const a: NpyArray = parseNpy(bytes); // SparrowError invalid_argument → 400
  const dims = checkDims(session, name, a.shape.length === 0 ? [1] : a.shape, maxBatch);
  const dtype = requestDtype(session, name, a.dtype);
  if (a.dtype === 'float32') {
    const d = a.data as Float32Array;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]!)) throw new HttpError('non_finite', `input '${name}' element ${i} is non-finite: ${d[i]}`);
    }
  }
  return { [name]: finish(session, name, { dtype, dims, data: a.data as Tensor['data'] }) };
}

/**
 * Content types whose body is read as JSON, on every route that takes JSON: application/json (and
 * any application/*+json), none, text/plain (what fetch sends for a string body) and
 * application/x-www-form-urlencoded (what `curl -d` sends).
 */
export function isJsonType(ct: string | null | undefined): boolean {
  if (ct === null || ct === undefined || ct.trim() === '') return true;
  const t = ct.split(';')[0]!.trim().toLowerCase();
  return (
    t === 'application/json' || /^application\/[\w.+-]+\+json$/.test(t) || t === 'text/plain' || t === 'application/x-www-form-urlencoded'
  );
}

/** How an inference body is read, from its Content-Type: JSON (isJsonType) or .npy (application/x-npy); anything else → 415. */
export function bodyKind(contentType: string | undefined): 'json' | 'npy' {
  if (isJsonType(contentType)) return 'json';
  if ((contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/x-npy') return 'npy';
  throw new HttpError(
    'unsupported_media_type',
    `Content-Type ${JSON.stringify(contentType)} is not accepted: send JSON ({"inputs":{...}}, application/json) or application/x-npy`,
    { 'accept-post': 'application/json, application/x-npy' },
  );
}

export function outputsToJson(
  outputs: Record<string, Tensor>,
  names: readonly string[],
): Record<string, { dims: number[]; dtype: string; data: Array<number | string | null> }> {
  const out: Record<string, { dims: number[]; dtype: string; data: Array<number | string | null> }> = {};
  for (const name of names) {
    const t = outputs[name]!;
    // float16/bfloat16 outputs are bit patterns: send their values
    const d = t.dtype === 'float16' || t.dtype === 'bfloat16' ? castTensor(t, 'float32').data : t.data;
    const data =
      d instanceof BigInt64Array || d instanceof BigUint64Array
        ? Array.from(d, (v: bigint) => (v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v.toString()))
        : Array.from(d as ArrayLike<number>, (v) => (Number.isFinite(v) ? v : null));
    out[name] = { dims: [...t.dims], dtype: t.dtype, data };
  }
  return out;
}

export function outputToNpy(t: Tensor): Uint8Array {
  if (t.dtype === 'bfloat16') return writeNpy(castTensor(t, 'float32').data as Float32Array, [...t.dims]); // .npy has no bfloat16
  const data = t.dtype === 'bool' ? new Uint8Array(t.data as Uint8Array) : t.data;
  return writeNpy(data, [...t.dims], t.dtype === 'float16' ? 'float16' : undefined);
}

// ---------------------------------------------------------------------------------------------
// bodies with a byte limit: Content-Length is checked first, then the bytes are counted

export async function readBody(req: Request, limit: number, what: string): Promise<Uint8Array> {
  const cl = req.headers.get('content-length');
  if (cl !== null) {
    const n = Number(cl);
    if (!Number.isSafeInteger(n) || n < 0) throw new HttpError('invalid_request', `bad Content-Length ${JSON.stringify(cl)}`);
    if (n > limit) throw new HttpError('payload_too_large', `${what} is ${n} bytes; the limit is ${limit}`);
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      // stop reading (the rest is never buffered); the runtime discards it with the request
      reader.releaseLock();
      throw new HttpError('payload_too_large', `${what} exceeds the limit of ${limit} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const ch of chunks) {
    out.set(ch, o);
    o += ch.byteLength;
  }
  return out;
}
