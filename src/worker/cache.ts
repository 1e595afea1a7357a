// Decoded models per isolate: an LRU bounded by bytes, keyed by content hash + engine (the
// hash names the exact bytes, so a new version is a new key and old entries just age out).
// Concurrent misses of one key share one decode; a hit never decodes again.
import { Session, type EngineName } from '../runtime/session.js';
import { HttpError } from './errors.js';

export interface CachedModel {
  session: Session;
  /** bytes charged against the bound: the engine's linear memory (or an estimate) */
  bytes: number;
  /** serializes runs: the engine's arena is shared by all runs of one session */
  run: <T>(fn: () => Promise<T>) => Promise<T>;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  limit: number;
  hits: number;
  misses: number;
  decodes: number;
  evictions: number;
}

function serializer(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const next = tail.then(fn, fn);
    tail = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  };
}

export class ModelCache {
  readonly #entries = new Map<string, CachedModel>(); // Map order = recency (oldest first)
  readonly #loading = new Map<string, Promise<CachedModel>>();
  #bytes = 0;
  readonly stats = { hits: 0, misses: 0, decodes: 0, evictions: 0 };
  constructor(public limit: number) {}

  get bytes(): number {
    return this.#bytes;
  }
  get size(): number {
    return this.#entries.size;
  }

  snapshot(): CacheStats {
    return { entries: this.#entries.size, bytes: this.#bytes, limit: this.limit, ...this.stats };
  }

  /** The cached model for `key`, decoding it with `load` (once) on a miss. */
  async get(key: string, load: () => Promise<Session>): Promise<CachedModel> {
    const hit = this.#entries.get(key);
    if (hit) {
      this.stats.hits++;
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const pending = this.#loading.get(key);
    if (pending) {
      this.stats.hits++;
      return pending;
    }
    this.stats.misses++;
    const p = (async () => {
      this.stats.decodes++;
      const session = await load();
      return this.insert(key, session);
    })();
    this.#loading.set(key, p);
    try {
      return await p;
    } finally {
      this.#loading.delete(key);
    }
  }

  /** Adds an already decoded session (e.g. the one a PUT validated with). */
  insert(key: string, session: Session): CachedModel {
    const existing = this.#entries.get(key);
    if (existing) return existing;
    const bytes = session.memoryBytes() ?? 16 * 1024 * 1024;
    if (bytes > this.limit) {
      throw new HttpError('payload_too_large', `the decoded model needs ${bytes} bytes, more than the model cache's ${this.limit}`);
    }
    const entry: CachedModel = { session, bytes, run: serializer() };
    this.#entries.set(key, entry);
    this.#bytes += bytes;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.limit || k === key) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
      this.stats.evictions++;
    }
    return entry;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}

export const cacheKey = (sha256: string, engine: EngineName): string => `${sha256}:${engine}`;
