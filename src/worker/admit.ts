// Admission: a model is stored only if it runs within the isolate's memory budget.
//
//   1. the container: every CRC and size (readContainer); the sizes its sections declare once
//      decoded, plus the file itself (its coded weights stay referenced), against the budget,
//      before anything is decoded (decompression bombs) → 413 too_large;
//   2. every section decoded once (then dropped): a corrupt stream with right CRCs → 422
//      not_runnable naming the section;
//   3. the model loaded on the Worker's engine within a linear-memory limit (SparrowWasm.maxBytes),
//      then run on zeros at batch 1 (until sparrow-int8's tier-up, if one is due) and at maxBatch:
//      the plans a request may need are built and run once. Not runnable → 422 not_runnable naming the cause; over the limit → 413 too_large.
//   4. what that measured becomes the model's limits: its linear memory may hold the weights,
//      the two admission plans and one more plan at maxBatch being compiled (capBytes), its plan
//      cache the bytes of the two admission plans (planBytes). The cache charges capBytes plus the
//      session's JS-side bytes (src/worker/cache.ts).
// A later load of the stored model (another isolate, after eviction) applies the stored figures
// without measuring again.
import plainModule from '../../build/sparrow.wasm';
import relaxedModule from '../../build/sparrow.relaxed.wasm';
import { relaxedSimdSupported } from '../wasm/features.js';
import { wasmInt8Decoder } from '../wasm/decode.js';
import { isSparrowError, type SparrowError } from '../errors.js';
import { decodeInt8Ref } from '../codec/int8.js';
import { readContainer, DType, type ParsedHeader } from '../format/container.js';
import { Session, type EngineName } from '../runtime/session.js';
import { apply, measure } from './measure.js';
import { DEFAULT_MAX_BATCH, MAX_MAX_BATCH, parseMaxBatch } from '../runtime/sparrow_model.js';
import { HttpError } from './errors.js';
import type { LoadedModel, Loader } from './cache.js';
import { readBlob, type StoredFigures, type VersionEntry } from './store.js';
import type { R2Bucket } from './env.js';

/**
 * The kernels: the relaxed-SIMD build where workerd validates its dot product (7-bit dense convs
 * on i32x4.relaxed_dot_i8x16_i7x16_add_s, bit-identical to the plain build: assembly/int8/relaxed.ts).
 * Its layouts are never larger than the plain build's, so figures stored by either fit both.
 */
export const wasmModule: WebAssembly.Module = relaxedSimdSupported() ? relaxedModule : plainModule;

/** The container checked (CRCs, sizes) and its declared decoded size against the budget. */
export function checkContainer(bytes: Uint8Array, maxBytes: number, budget: number): ReturnType<typeof readContainer> {
  // the reader's own decoded-size limit is lifted: the budget check below names both numbers
  const c = readContainer(bytes, { maxBytes, maxDecodedBytes: Number.MAX_SAFE_INTEGER });
  const decoded = c.header.sections.reduce((a, s) => a + s.decodedBytes, 0);
  if (decoded + bytes.length > budget) {
    throw new HttpError(
      'too_large',
      `the model needs at least ${decoded + bytes.length} bytes: its sections declare ${decoded} bytes decoded, plus the ` +
        `${bytes.length}-byte file; the isolate memory budget is ${budget} bytes`,
    );
  }
  return c;
}

/**
 * Decodes every coded section once (and drops it): a stream that does not decode is a model that
 * cannot run. In WASM (src/wasm/decode.ts: its own instance, dropped after the check, so its
 * memory, the largest section's payload, output and work area, does not outlive the upload), the
 * TS reference decoder without a module: the same verdicts, ~14x faster (docs/engine.md).
 */
export function verifySections(
  header: ParsedHeader,
  payload: (i: number) => Uint8Array,
  module: WebAssembly.Module | null = wasmModule,
): void {
  const dec = module ? wasmInt8Decoder(module) : undefined;
  try {
    header.sections.forEach((s, i) => {
      if (s.dtype !== DType.Int8 || s.codec === 0) return; // raw sections: the CRC is the whole check
      try {
        if (dec) dec.check(s.codec, payload(i), s.decodedBytes);
        else decodeInt8Ref(s.codec, payload(i), s.decodedBytes);
      } catch (e) {
        if (!isSparrowError(e)) throw e;
        throw new HttpError(
          'not_runnable',
          `section ${i} (tensor '${header.meta.tensors[i]?.name ?? '?'}') does not decode: ${e.code}: ${e.message}`,
        );
      }
    });
  } finally {
    dec?.release();
  }
}

/** The maxBatch to serve: the upload's override (query `maxBatch`), else the file's, else 32. */
export function effectiveMaxBatch(override: string | undefined, header: ParsedHeader): number {
  if (override !== undefined) {
    const n = /^[1-9][0-9]{0,5}$/.test(override) ? Number(override) : NaN;
    if (!(n >= 1 && n <= MAX_MAX_BATCH)) {
      throw new HttpError('invalid_request', `maxBatch must be an integer in 1..${MAX_MAX_BATCH}, got ${JSON.stringify(override)}`);
    }
    return n;
  }
  try {
    return parseMaxBatch(header.meta['maxBatch']) ?? DEFAULT_MAX_BATCH;
  } catch (e) {
    throw new HttpError('not_runnable', `${(e as SparrowError).code}: ${(e as SparrowError).message}`);
  }
}

/**
 * A SparrowError met while loading or admitting a model, as the client sees it: over the memory
 * limit → 413 too_large (bytes needed, budget); an unsupported op or format version keeps its
 * code (422); anything else → 422 not_runnable naming the cause.
 */
export function loadError(e: unknown, engine: EngineName, budget: number): unknown {
  if (!isSparrowError(e)) return e;
  if (e.code === 'too_large') {
    return new HttpError('too_large', `the model does not run within the isolate memory budget of ${budget} bytes: ${e.message}`);
  }
  if (e.code === 'unsupported_op' || e.code === 'unsupported_version') return e;
  return new HttpError('not_runnable', `the model cannot run on ${engine}: ${e.code}: ${e.message}`);
}

export interface LoadOptions {
  engine: EngineName;
  maxModelBytes: number;
  budget: number;
  /** default: the file's metadata.maxBatch, else 32 */
  maxBatch?: number | undefined;
  /** figures stored at admission: applied without measuring (when they are this engine's) */
  figures?: StoredFigures | undefined;
  /** decode every section first (a PUT) */
  verify?: boolean;
}

/** A session of `bytes` within `capBytes` of linear memory, measured (admission) or fitted to stored figures. */
export async function loadModel(bytes: Uint8Array, capBytes: number, o: LoadOptions): Promise<LoadedModel & { figures: StoredFigures }> {
  if (o.verify) {
    const { header, payload } = checkContainer(bytes, o.maxModelBytes, o.budget);
    verifySections(header, payload);
  }
  const known = o.figures && o.figures.engine === o.engine ? o.figures : undefined;
  const session = await Session.fromSparrow(bytes, {
    engine: o.engine,
    wasmModule,
    maxMemoryBytes: known?.capBytes || capBytes,
    read: { maxBytes: o.maxModelBytes, maxDecodedBytes: o.budget },
  });
  const maxBatch = o.maxBatch ?? session.maxBatch ?? DEFAULT_MAX_BATCH;
  let figures: StoredFigures;
  if (known) {
    apply(session, known);
    figures = known;
  } else {
    figures = await measure(session, o.engine, maxBatch, o.budget);
  }
  return { session, capBytes: figures.capBytes, maxBatch, figures };
}

/** Cache key of a model: its exact bytes, the engine and the batch bound it was admitted with. */
export const modelKey = (sha256: string, engine: EngineName, maxBatch: number | undefined): string =>
  `${sha256}:${engine}:${maxBatch ?? 'file'}`;

/**
 * Loads a stored version: its stored figures say what it needs when they are this engine's (else
 * it is measured as at a PUT). `onBytes` sees the file once read (the text routes take the
 * tokenizer from it).
 */
export function storedLoader(o: {
  bucket: R2Bucket;
  id: string;
  entry: VersionEntry;
  engine: EngineName;
  maxModelBytes: number;
  budget: number;
  onBytes?: (bytes: Uint8Array) => void;
}): Loader {
  const fig = o.entry.memory && o.entry.memory.engine === o.engine ? o.entry.memory : undefined;
  return {
    ...(fig ? { need: fig.capBytes + fig.jsBytes } : {}),
    load: async (cap) => {
      const bytes = await readBlob(o.bucket, o.id, o.entry.sha256);
      if (!bytes) throw new HttpError('model_not_found', `model '${o.id}' version ${o.entry.version} is no longer stored; retry`);
      o.onBytes?.(bytes);
      try {
        return await loadModel(bytes, cap, {
          engine: o.engine,
          maxModelBytes: o.maxModelBytes,
          budget: o.budget,
          maxBatch: o.entry.maxBatch,
          figures: fig,
        });
      } catch (e) {
        throw loadError(e, o.engine, o.budget);
      }
    },
  };
}
