// Model storage in R2 with atomic version visibility.
//
// Layout (ids are validated by parseRef, so they never contain '/'):
//   blob/<id>/<sha256>   the .sparrow bytes, immutable (content-addressed: a key never changes content)
//   ptr/<id>             small JSON pointer: current version, its sha256/bytes/inputs/outputs, and
//                        the last KEEP_VERSIONS versions (for /v1/models/<id>@<version>); after a
//                        DELETE, a tombstone that keeps the last version number (versions are
//                        never reused: a cached `@<n>` URL always means the same bytes)
//
// A PUT reads the pointer, writes the blob, then replaces the pointer with one conditional R2 put:
// against the pointer's etag, or, for the first version of an id, `etagDoesNotMatch: '*'` (no
// object yet), so two writers (other isolates) can never both claim a version; the loser re-reads
// and takes the next number. A reader gets the pointer, then the blob it names; blobs never change,
// so it sees the old model or the new one, never a mix, and a failed PUT (at any step) leaves
// nothing visible. Blobs are deleted only when they were uploaded before the pointer write that
// dropped them (a writer that re-put the same bytes meanwhile keeps its blob).
//
// Every R2 call goes through guardBucket: an error or a timeout becomes 503 storage_unavailable
// with Retry-After.
import { HttpError } from './errors.js';
import { until } from './wait.js';
import { hasBody, type R2Bucket, type R2Object, type R2ObjectBody, type R2Range } from './env.js';

/** Model ids: 1-64 of [a-z0-9._-], lowercase, starting with a letter or digit, not ending with '.', no '..'. */
export const MODEL_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const KEEP_VERSIONS = 8;
export const CONTENT_TYPE = 'application/vnd.sparrow';

/** Whether `id` follows the one id rule (MODEL_ID, no trailing '.', no '..'). */
export function isModelId(id: string): boolean {
  return MODEL_ID.test(id) && !id.endsWith('.') && !id.includes('..');
}

export interface IoInfo {
  name: string;
  dtype: string;
  dims: number[] | null;
}
/** What admission measured (src/worker/admit.ts), so that a later load needs no measuring run. */
export interface StoredFigures {
  engine: string;
  capBytes: number;
  planBytes: number;
  jsBytes: number;
}
export interface VersionEntry {
  version: number;
  sha256: string;
  bytes: number;
  uploaded: string;
  /** the largest batch served (the upload's override, else the file's, else 32) */
  maxBatch?: number;
  memory?: StoredFigures;
}
export interface Pointer extends VersionEntry {
  id: string;
  inputs: IoInfo[];
  outputs: IoInfo[];
  history: VersionEntry[]; // newest first, includes the current version
  /** a tombstone: the model was deleted; `version` is the last one used */
  deleted?: true;
}

/**
 * `<id>` or `<id>@<version>` (URL-decoded path segment) → parts; 400 on anything else.
 * Ids are case-insensitive and stored lowercase: a read (`create` false) folds `MNIST-8` to
 * `mnist-8`, so one model never has two names; a PUT (`create` true) must use the canonical
 * lowercase spelling.
 */
export function parseRef(raw: string, opts: { create?: boolean } = {}): { id: string; version: number | null } {
  if (raw.length === 0) throw new HttpError('invalid_id', 'empty model id');
  if (raw.length > 80) throw new HttpError('invalid_id', `model id is ${raw.length} characters; at most 64 are allowed`);
  const at = raw.indexOf('@');
  const given = at < 0 ? raw : raw.slice(0, at);
  const id = opts.create ? given : given.toLowerCase();
  if (!isModelId(id)) {
    throw new HttpError(
      'invalid_id',
      `invalid model id ${JSON.stringify(id)}: ids are 1-64 of [a-z0-9._-] (lowercase), starting with a letter or digit, ` +
        `not ending with '.', no '..'`,
    );
  }
  if (at < 0) return { id, version: null };
  const v = raw.slice(at + 1);
  if (!/^[1-9][0-9]{0,8}$/.test(v)) throw new HttpError('invalid_id', `invalid version ${JSON.stringify(v)} (a positive integer)`);
  return { id, version: Number(v) };
}

const ptrKey = (id: string): string => `ptr/${id}`;
const blobKey = (id: string, sha: string): string => `blob/${id}/${sha}`;

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let s = '';
  for (const b of d) s += b.toString(16).padStart(2, '0');
  return s;
}

// ---------------------------------------------------------------------------------------------
// R2 faults: every call and body read bounded in time; failures become 503 with Retry-After

export const RETRY_AFTER_SECONDS = 2;

function unavailable(what: string, why: string): HttpError {
  return new HttpError('storage_unavailable', `storage is unavailable (R2 ${what}: ${why}); nothing was changed by a failed step: retry`, {
    'retry-after': String(RETRY_AFTER_SECONDS),
  });
}

/** Runs one R2 operation: its error, or no answer within `ms`, becomes 503 storage_unavailable. */
function bounded<T>(what: string, ms: number, op: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(unavailable(what, `no answer within ${ms} ms`)), ms);
    let p: Promise<T>;
    try {
      p = op();
    } catch (e) {
      p = Promise.reject(e as Error);
    }
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof HttpError ? e : unavailable(what, e instanceof Error ? e.message : String(e)));
      },
    );
  });
}

/** The bucket with every call (get/put/head/delete/list, and reading a body whole) bounded: see `bounded`. */
export function guardBucket(b: R2Bucket, ms: number): R2Bucket {
  const body = (o: R2ObjectBody, key: string): R2ObjectBody =>
    new Proxy(o, {
      get(t, prop) {
        if (prop === 'text' || prop === 'arrayBuffer') {
          return () => bounded(`read ${key}`, ms, () => (t[prop] as () => Promise<unknown>).call(t));
        }
        const v = Reflect.get(t, prop, t) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
  return {
    head: (k) => bounded(`head ${k}`, ms, () => b.head(k)),
    get: async (k, o) => {
      const got = await bounded(`get ${k}`, ms, () => b.get(k, o));
      return hasBody(got) ? body(got, k) : got;
    },
    put: (k, v, o) => bounded(`put ${k}`, ms, () => b.put(k, v, o)),
    delete: (k) => bounded(`delete ${Array.isArray(k) ? `${k.length} keys` : k}`, ms, () => b.delete(k)),
    list: (o) => bounded(`list ${o?.prefix ?? ''}`, ms, () => b.list(o)),
  };
}

// ---------------------------------------------------------------------------------------------
// pointers and blobs

export async function readPointer(bucket: R2Bucket, id: string): Promise<{ ptr: Pointer; etag: string; uploaded: Date } | null> {
  const o = await bucket.get(ptrKey(id));
  if (!hasBody(o)) return null;
  return { ptr: JSON.parse(await o.text()) as Pointer, etag: o.etag, uploaded: o.uploaded };
}

/** The version a ref names, from the pointer; 404s if the model (or its tombstone) or the version is unknown. */
export async function resolve(bucket: R2Bucket, id: string, version: number | null): Promise<{ ptr: Pointer; entry: VersionEntry }> {
  const p = await readPointer(bucket, id);
  if (!p || p.ptr.deleted) throw new HttpError('model_not_found', `no model '${id}'`);
  if (version === null) return { ptr: p.ptr, entry: p.ptr };
  const entry = p.ptr.history.find((h) => h.version === version);
  if (!entry) {
    const known = p.ptr.history.map((h) => h.version).join(', ');
    throw new HttpError('version_not_found', `model '${id}' has no version ${version} (kept: ${known})`);
  }
  return { ptr: p.ptr, entry };
}

/**
 * Resolves a ref and fetches its blob (optionally a byte range, or only the metadata with
 * `head`). Retries when the blob vanished between the two reads (a newer PUT pruned it).
 */
export async function getModelObject(
  bucket: R2Bucket,
  id: string,
  version: number | null,
  opts: { range?: R2Range; head?: boolean } = {},
): Promise<{ ptr: Pointer; entry: VersionEntry; object: R2Object | R2ObjectBody }> {
  for (let attempt = 0; ; attempt++) {
    const { ptr, entry } = await resolve(bucket, id, version);
    const key = blobKey(id, entry.sha256);
    const object = opts.head ? await bucket.head(key) : await bucket.get(key, opts.range ? { range: opts.range } : {});
    if (object) return { ptr, entry, object };
    if (attempt >= 3)
      throw new HttpError(
        version === null ? 'model_not_found' : 'version_not_found',
        `model '${id}' version ${entry.version} is no longer stored`,
      );
  }
}

/** Whole blob bytes for a version entry (for decoding), or null if it is gone. */
export async function readBlob(bucket: R2Bucket, id: string, sha: string): Promise<Uint8Array | null> {
  const o = await bucket.get(blobKey(id, sha));
  if (!hasBody(o)) return null;
  return new Uint8Array(await o.arrayBuffer());
}

// Per-isolate serialization of writes to one id (R2 conditional puts cover other isolates): a flag
// per id, waited for on the waiter's own timers (src/worker/wait.ts), never a promise chain.
const writeLocks = new Set<string>();
async function withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
  await until(() => !writeLocks.has(id), `waiting for another write to '${id}'`);
  writeLocks.add(id);
  try {
    return await fn();
  } finally {
    writeLocks.delete(id);
  }
}

/** Deletes those of `keys` that were uploaded at or before `before` (a blob put again since is kept). */
async function deleteBlobsBefore(bucket: R2Bucket, objects: Array<{ key: string; uploaded: Date }>, before: Date): Promise<number> {
  const keys = objects.filter((o) => o.uploaded.getTime() <= before.getTime()).map((o) => o.key);
  for (let i = 0; i < keys.length; i += 1000) await bucket.delete(keys.slice(i, i + 1000));
  return keys.length;
}

/** Every blob of `id` (all pages). */
async function listBlobs(bucket: R2Bucket, id: string): Promise<R2Object[]> {
  const out: R2Object[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: `blob/${id}/`, ...(cursor ? { cursor } : {}) });
    out.push(...page.objects);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return out;
}

/** Stores a validated (admitted) model as the new current version of `id`. */
export function putModel(
  bucket: R2Bucket,
  id: string,
  bytes: Uint8Array,
  sha: string,
  io: { inputs: IoInfo[]; outputs: IoInfo[] },
  extra: Pick<VersionEntry, 'maxBatch' | 'memory'> = {},
): Promise<Pointer> {
  return withLock(id, async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await readPointer(bucket, id);
      // the blob goes in after the pointer state this version is based on (a DELETE racing with
      // us removes only blobs uploaded before its tombstone, and its tombstone fails our put)
      await bucket.put(blobKey(id, sha), bytes, {
        httpMetadata: { contentType: CONTENT_TYPE },
        customMetadata: { sha256: sha },
      });
      const entry: VersionEntry = {
        version: (cur?.ptr.version ?? 0) + 1,
        sha256: sha,
        bytes: bytes.length,
        uploaded: new Date().toISOString(),
        ...extra,
      };
      const previous = cur && !cur.ptr.deleted ? cur.ptr.history : [];
      const history = [entry, ...previous].slice(0, KEEP_VERSIONS);
      const ptr: Pointer = { id, ...entry, inputs: io.inputs, outputs: io.outputs, history };
      const written = await bucket.put(ptrKey(id), JSON.stringify(ptr), {
        httpMetadata: { contentType: 'application/json' },
        customMetadata: summaryMetadata(ptr),
        // replace exactly what we read; create only where nothing is (another isolate may create it first)
        onlyIf: cur ? { etagMatches: cur.etag } : { etagDoesNotMatch: '*' },
      });
      if (!written) continue; // another writer changed the pointer meanwhile: re-read, renumber
      // committed; dropping blobs that fell out of the history is housekeeping (never fails the PUT)
      const kept = new Set(history.map((h) => h.sha256));
      const dropped = [...new Set(previous.filter((h) => !kept.has(h.sha256)).map((h) => blobKey(id, h.sha256)))];
      if (dropped.length) {
        try {
          const heads = await Promise.all(dropped.map((k) => bucket.head(k)));
          await deleteBlobsBefore(
            bucket,
            heads.filter((o): o is R2Object => o !== null),
            written.uploaded,
          );
        } catch (e) {
          console.warn(`sparrow worker: could not delete old blobs of '${id}': ${(e as Error).message}`);
        }
      }
      return ptr;
    }
    throw new HttpError('conflict', `model '${id}' is being replaced concurrently; retry`);
  });
}

/**
 * Deletes a model: its pointer is replaced by a tombstone (the model disappears at once, its
 * version counter stays), then its blobs are deleted. 'absent' when there was nothing to delete;
 * a DELETE of an already deleted id finishes a cleanup an earlier one could not complete.
 */
export function deleteModel(bucket: R2Bucket, id: string): Promise<'deleted' | 'absent'> {
  return withLock(id, async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await readPointer(bucket, id);
      if (!cur) return 'absent';
      if (cur.ptr.deleted) return (await deleteBlobsBefore(bucket, await listBlobs(bucket, id), cur.uploaded)) > 0 ? 'deleted' : 'absent';
      const tomb: Pointer = {
        id,
        version: cur.ptr.version,
        sha256: '',
        bytes: 0,
        uploaded: new Date().toISOString(),
        inputs: [],
        outputs: [],
        history: [],
        deleted: true,
      };
      const written = await bucket.put(ptrKey(id), JSON.stringify(tomb), {
        httpMetadata: { contentType: 'application/json' },
        customMetadata: { tombstone: '1' },
        onlyIf: { etagMatches: cur.etag },
      });
      if (!written) continue;
      await deleteBlobsBefore(bucket, await listBlobs(bucket, id), written.uploaded);
      return 'deleted';
    }
    throw new HttpError('conflict', `model '${id}' is being replaced concurrently; retry`);
  });
}

/** The listing summary, kept in the pointer's custom metadata (≤ 2 KiB) so a list needs one call. */
function summaryMetadata(p: Pointer): Record<string, string> {
  const full = JSON.stringify({
    version: p.version,
    bytes: p.bytes,
    sha256: p.sha256,
    inputs: p.inputs,
    outputs: p.outputs,
    ...(p.maxBatch !== undefined ? { maxBatch: p.maxBatch } : {}),
  });
  return full.length <= 1800 ? { summary: full } : {};
}

export interface ModelSummary {
  id: string;
  version: number;
  bytes: number;
  sha256: string;
  inputs: IoInfo[];
  outputs: IoInfo[];
  maxBatch?: number;
}

export async function listModels(bucket: R2Bucket): Promise<ModelSummary[]> {
  const out: ModelSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: 'ptr/', include: ['customMetadata'], ...(cursor ? { cursor } : {}) });
    for (const o of page.objects) {
      const id = o.key.slice(4);
      if (o.customMetadata?.tombstone) continue;
      const s = o.customMetadata?.summary;
      if (s) {
        const m = JSON.parse(s) as Omit<ModelSummary, 'id'>;
        out.push({ id, ...m });
      } else {
        const p = await readPointer(bucket, id);
        if (p && !p.ptr.deleted) {
          const { version, bytes, sha256, inputs, outputs, maxBatch } = p.ptr;
          out.push({ id, version, bytes, sha256, inputs, outputs, ...(maxBatch !== undefined ? { maxBatch } : {}) });
        }
      }
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
