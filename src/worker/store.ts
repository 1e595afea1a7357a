// Model storage in R2 with atomic version visibility.
//
// Layout (ids are validated by MODEL_ID, so they never contain '/'):
//   blob/<id>/<sha256>   the .sparrow bytes, immutable (content-addressed: a key never changes content)
//   ptr/<id>             small JSON pointer: current version, its sha256/bytes/inputs/outputs, and
//                        the last KEEP_VERSIONS versions (for /v1/models/<id>@<version>)
//
// A PUT writes the blob first, then replaces the pointer (one R2 put: atomic). A reader gets
// the pointer, then the blob it names; blobs never change, so it sees the old model or the new
// one, never a mix. Blobs that fall out of the pointer's history are deleted afterwards; a
// reader holding an older pointer that finds its blob gone simply re-reads the pointer.
import { HttpError } from './errors.js';
import { hasBody, type R2Bucket, type R2Object, type R2ObjectBody, type R2Range } from './env.js';

export const MODEL_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/i;
export const KEEP_VERSIONS = 8;
export const CONTENT_TYPE = 'application/vnd.sparrow';

export interface IoInfo {
  name: string;
  dtype: string;
  dims: number[] | null;
}
export interface VersionEntry {
  version: number;
  sha256: string;
  bytes: number;
  uploaded: string;
}
export interface Pointer extends VersionEntry {
  id: string;
  inputs: IoInfo[];
  outputs: IoInfo[];
  history: VersionEntry[]; // newest first, includes the current version
}

/** `<id>` or `<id>@<version>` (URL-decoded path segment) → parts; 400 on anything else. */
export function parseRef(raw: string): { id: string; version: number | null } {
  if (raw.length === 0) throw new HttpError('invalid_id', 'empty model id');
  if (raw.length > 80) throw new HttpError('invalid_id', `model id is ${raw.length} characters; at most 64 are allowed`);
  const at = raw.indexOf('@');
  const id = at < 0 ? raw : raw.slice(0, at);
  if (!MODEL_ID.test(id) || id.includes('..')) {
    throw new HttpError(
      'invalid_id',
      `invalid model id ${JSON.stringify(id)}: use 1-64 of [A-Za-z0-9._-], starting with a letter or digit, no '..'`,
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

export async function readPointer(bucket: R2Bucket, id: string): Promise<{ ptr: Pointer; etag: string } | null> {
  const o = await bucket.get(ptrKey(id));
  if (!hasBody(o)) return null;
  return { ptr: JSON.parse(await o.text()) as Pointer, etag: o.etag };
}

/** The version a ref names, from the pointer; 404s if the model or version is unknown. */
export async function resolve(bucket: R2Bucket, id: string, version: number | null): Promise<{ ptr: Pointer; entry: VersionEntry }> {
  const p = await readPointer(bucket, id);
  if (!p) throw new HttpError('model_not_found', `no model '${id}'`);
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

// Per-isolate serialization of writes to one id (R2 conditional puts cover other isolates).
const writeLocks = new Map<string, Promise<unknown>>();
function withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const prev = writeLocks.get(id) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  writeLocks.set(id, settled);
  void settled.then(() => {
    if (writeLocks.get(id) === settled) writeLocks.delete(id);
  });
  return next;
}

/** Stores a validated model as the new current version of `id`. */
export function putModel(
  bucket: R2Bucket,
  id: string,
  bytes: Uint8Array,
  sha: string,
  io: { inputs: IoInfo[]; outputs: IoInfo[] },
): Promise<Pointer> {
  return withLock(id, async () => {
    await bucket.put(blobKey(id, sha), bytes, {
      httpMetadata: { contentType: CONTENT_TYPE },
      customMetadata: { sha256: sha },
    });
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await readPointer(bucket, id);
      const entry: VersionEntry = {
        version: (cur?.ptr.version ?? 0) + 1,
        sha256: sha,
        bytes: bytes.length,
        uploaded: new Date().toISOString(),
      };
      const history = [entry, ...(cur?.ptr.history ?? [])].slice(0, KEEP_VERSIONS);
      const ptr: Pointer = { id, ...entry, inputs: io.inputs, outputs: io.outputs, history };
      const written = await bucket.put(ptrKey(id), JSON.stringify(ptr), {
        httpMetadata: { contentType: 'application/json' },
        customMetadata: summaryMetadata(ptr),
        ...(cur ? { onlyIf: { etagMatches: cur.etag } } : {}),
      });
      if (!written) continue; // another writer replaced the pointer meanwhile: re-read, renumber
      const kept = new Set(history.map((h) => h.sha256));
      const dropped = (cur?.ptr.history ?? []).filter((h) => !kept.has(h.sha256)).map((h) => blobKey(id, h.sha256));
      if (dropped.length) await bucket.delete([...new Set(dropped)]);
      return ptr;
    }
    throw new HttpError('conflict', `model '${id}' is being replaced concurrently; retry`);
  });
}

/** Deletes a model: the pointer first (the model disappears at once), then its blobs. */
export function deleteModel(bucket: R2Bucket, id: string): Promise<boolean> {
  return withLock(id, async () => {
    const cur = await readPointer(bucket, id);
    if (!cur) return false;
    await bucket.delete(ptrKey(id));
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await bucket.list({ prefix: `blob/${id}/`, ...(cursor ? { cursor } : {}) });
      keys.push(...page.objects.map((o) => o.key));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    if (keys.length) await bucket.delete(keys);
    return true;
  });
}

/** The listing summary, kept in the pointer's custom metadata (≤ 2 KiB) so a list needs one call. */
function summaryMetadata(p: Pointer): Record<string, string> {
  const full = JSON.stringify({ version: p.version, bytes: p.bytes, sha256: p.sha256, inputs: p.inputs, outputs: p.outputs });
  return full.length <= 1800 ? { summary: full } : {};
}

export interface ModelSummary {
  id: string;
  version: number;
  bytes: number;
  sha256: string;
  inputs: IoInfo[];
  outputs: IoInfo[];
}

export async function listModels(bucket: R2Bucket): Promise<ModelSummary[]> {
  const out: ModelSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: 'ptr/', include: ['customMetadata'], ...(cursor ? { cursor } : {}) });
    for (const o of page.objects) {
      const id = o.key.slice(4);
      const s = o.customMetadata?.summary;
      if (s) {
        const m = JSON.parse(s) as Omit<ModelSummary, 'id'>;
        out.push({ id, version: m.version, bytes: m.bytes, sha256: m.sha256, inputs: m.inputs, outputs: m.outputs });
      } else {
        const p = await readPointer(bucket, id);
        if (p)
          out.push({ id, version: p.ptr.version, bytes: p.ptr.bytes, sha256: p.ptr.sha256, inputs: p.ptr.inputs, outputs: p.ptr.outputs });
      }
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
