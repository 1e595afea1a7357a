// Decoded models per isolate, bounded by the isolate's memory budget (MODEL_CACHE_BYTES).
//
// Every cached model is charged what it may hold: its WASM linear-memory limit (a hard limit:
// SparrowWasm.maxBytes refuses to grow past it, src/wasm/gateway.ts) plus the JS-side bytes its
// session keeps (Session.jsBytes: decoded constants, the model file its coded weights point
// into), measured again after every run. A load in flight reserves its share first. The sum of
// the charges and reservations (`tracked`) never exceeds the budget: room is made by evicting
// the least recently used models that are not running, and a load that finds only running ones
// waits for a run to end. Loads run one at a time (they are CPU work on one isolate anyway).
//
// Keys are content hash + engine: a new version is a new key and old entries just age out.
// Concurrent misses of one key share one load; a hit never decodes again.
import type { Session } from '../runtime/session.js';
import { HttpError } from './errors.js';

/** What a load hands the cache. */
export interface LoadedModel {
  session: Session;
  /** the session's linear-memory limit (bytes) */
  capBytes: number;
  /** the largest batch this model serves */
  maxBatch: number;
  /** what the load measured, as the store keeps it (opaque here) */
  figures?: unknown;
}

export interface CachedModel extends LoadedModel {
  readonly key: string;
  /** JS-side bytes the session keeps (Session.jsBytes), as last measured (never less than at load) */
  jsBytes: number;
  /** capBytes + jsBytes: what the cache charges */
  readonly chargeBytes: number;
  /** runs in progress or queued (a busy model is never evicted) */
  busy: number;
  /** the end of the last run queued (runs are serialized: the engine's plans and arenas are shared) */
  tail: Promise<void>;
}

/** A load: `need` is its charge when known (stored figures), else the cache offers what it can. */
export interface Loader {
  need?: number;
  /** loads within `capBytes` of linear memory (SparrowError 'too_large' when that is not enough) */
  load(capBytes: number): Promise<LoadedModel>;
}

export interface CacheStats {
  entries: number;
  /** Σ charges of the cached models */
  bytes: number;
  limit: number;
  /** loads in flight (distinct keys) and loads waiting for a running model to finish */
  loading: number;
  waiting: number;
  hits: number;
  misses: number;
  decodes: number;
  evictions: number;
  /** times a load waited for a running model to finish before it could make room */
  waits: number;
}

export interface MemoryStats {
  /** the budget (MODEL_CACHE_BYTES) */
  budget: number;
  /** charges of the cached models + reservations of loads in flight: never above the budget */
  tracked: number;
  /** the highest `tracked` seen by this isolate */
  peakTracked: number;
  /** what the cached sessions hold now: WASM linear memory + JS-side bytes */
  held: number;
  wasm: number;
  js: number;
  reserved: number;
}

const isTooLarge = (e: unknown): boolean => typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'too_large';

export class ModelCache {
  readonly #entries = new Map<string, CachedModel>(); // Map order = recency (oldest first)
  readonly #loading = new Map<string, { pins: number; p: Promise<CachedModel> }>();
  #charged = 0;
  #reserved = 0;
  #peak = 0;
  #loadQueue: Promise<void> = Promise.resolve();
  #waiters: Array<() => void> = [];
  readonly stats = { hits: 0, misses: 0, decodes: 0, evictions: 0, waits: 0 };
  constructor(public limit: number) {}

  /** Σ charges + reservations */
  get tracked(): number {
    return this.#charged + this.#reserved;
  }
  get bytes(): number {
    return this.#charged;
  }
  get size(): number {
    return this.#entries.size;
  }

  snapshot(): CacheStats {
    return {
      entries: this.#entries.size,
      bytes: this.#charged,
      limit: this.limit,
      loading: this.#loading.size,
      waiting: this.#waiters.length,
      ...this.stats,
    };
  }

  memory(): MemoryStats {
    let wasm = 0,
      js = 0;
    for (const e of this.#entries.values()) {
      wasm += e.session.memoryBytes() ?? 0;
      js += e.session.jsBytes();
    }
    return {
      budget: this.limit,
      tracked: this.tracked,
      peakTracked: this.#peak,
      held: wasm + js,
      wasm,
      js,
      reserved: this.#reserved,
    };
  }

  /** Per model: key, charge and holdings (for the token holder's /v1/_stats). */
  models(): Array<{
    key: string;
    chargeBytes: number;
    capBytes: number;
    wasmBytes: number;
    jsBytes: number;
    maxBatch: number;
    plans: number;
    busy: number;
  }> {
    return [...this.#entries.values()].map((e) => ({
      key: e.key,
      chargeBytes: e.chargeBytes,
      capBytes: e.capBytes,
      wasmBytes: e.session.memoryBytes() ?? 0,
      jsBytes: e.session.jsBytes(),
      maxBatch: e.maxBatch,
      plans: e.session.memoryStats()?.plans ?? 0,
      busy: e.busy,
    }));
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /**
   * Runs `fn` on the model for `key` (loading it with `loader` on a miss), serialized with the
   * model's other runs; the model cannot be evicted meanwhile. Its JS-side bytes are measured
   * again afterwards.
   */
  async use<T>(key: string, loader: Loader, fn: (m: CachedModel) => Promise<T>): Promise<T> {
    const m = await this.acquire(key, loader);
    try {
      return await this.run(m, () => fn(m));
    } finally {
      this.release(m);
    }
  }

  /** Runs `fn` on an acquired model after its other runs (the engine's plans and arenas are shared by them). */
  async run<T>(m: CachedModel, fn: () => Promise<T>): Promise<T> {
    // plain awaits, no promise returned from a then-callback: a rejection of `fn` is handled
    // where it happens (workerd reports one adopted a tick later as unhandled)
    const prev = m.tail;
    let done!: () => void;
    m.tail = new Promise<void>((r) => (done = r));
    try {
      await prev;
      return await fn();
    } finally {
      done();
    }
  }

  /**
   * The cached model for `key`, loading it (once) on a miss, pinned: it cannot be evicted until
   * `release`. Concurrent misses of one key share one load.
   */
  async acquire(key: string, loader: Loader): Promise<CachedModel> {
    const hit = this.#entries.get(key);
    if (hit) {
      this.stats.hits++;
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      hit.busy++;
      return hit;
    }
    const joining = this.#loading.get(key);
    if (joining) {
      this.stats.hits++;
      joining.pins++;
      return joining.p;
    }
    this.stats.misses++;
    const rec: { pins: number; p: Promise<CachedModel> } = { pins: 1, p: Promise.resolve(undefined as never) };
    rec.p = this.#exclusive(() => this.#load(key, loader, () => rec.pins));
    this.#loading.set(key, rec);
    try {
      return await rec.p;
    } finally {
      this.#loading.delete(key);
    }
  }

  /** Unpins a model from `acquire`; its JS-side bytes are measured again. */
  release(m: CachedModel): void {
    m.busy--;
    this.#remeasure(m);
    const w = this.#waiters.splice(0);
    for (const wake of w) wake();
  }

  /**
   * Loads with room made first. A known need is reserved whole; an unknown one first gets what
   * is free after evicting down to three quarters of the budget, and, if that is not enough,
   * the whole budget (everything idle evicted). SparrowError 'too_large' passes through when even
   * that is not enough.
   */
  async #load(key: string, loader: Loader, pins: () => number): Promise<CachedModel> {
    const again = this.#entries.get(key);
    if (again) {
      // loaded while this one waited for the queue
      again.busy += pins();
      return again;
    }
    this.stats.decodes++;
    const attempts = loader.need !== undefined ? [Math.min(loader.need, this.limit)] : [this.limit >> 2, this.limit];
    for (let k = 0; ; k++) {
      const want = attempts[k]!;
      await this.#makeRoom(want);
      const room = Math.max(0, this.limit - this.tracked);
      const cap = loader.need !== undefined ? want : room;
      this.#reserve(cap);
      let loaded: LoadedModel;
      try {
        loaded = await loader.load(cap);
      } catch (e) {
        this.#reserve(-cap);
        if (isTooLarge(e) && k + 1 < attempts.length && room < this.limit) continue;
        throw e;
      }
      this.#reserve(-cap);
      return this.#insert(key, loaded, pins);
    }
  }

  /** Adds a loaded model, evicting idle ones as needed (and waiting for running ones). */
  async #insert(key: string, loaded: LoadedModel, pins: () => number): Promise<CachedModel> {
    const jsBytes = loaded.session.jsBytes();
    const charge = loaded.capBytes + jsBytes;
    if (charge > this.limit) {
      throw new HttpError(
        'too_large',
        `the model needs ${charge} bytes (${loaded.capBytes} of WASM memory, ${jsBytes} JS-side), ` +
          `more than the isolate memory budget of ${this.limit} bytes`,
      );
    }
    this.#reserve(charge);
    try {
      await this.#makeRoom(0);
    } finally {
      this.#reserve(-charge);
    }
    const entry: CachedModel = {
      ...loaded,
      key,
      jsBytes,
      get chargeBytes() {
        return this.capBytes + this.jsBytes;
      },
      busy: pins(),
      tail: Promise.resolve(),
    };
    this.#entries.set(key, entry);
    this.#charged += charge;
    this.#touchPeak();
    return entry;
  }

  /** Evicts idle models (least recently used first) until `bytes` more fit; waits for running ones when only they are left. */
  async #makeRoom(bytes: number): Promise<void> {
    while (this.tracked + bytes > this.limit) {
      let victim: CachedModel | undefined;
      for (const e of this.#entries.values()) {
        if (e.busy === 0) {
          victim = e;
          break;
        }
      }
      if (victim) {
        this.#evict(victim);
        continue;
      }
      if (this.#entries.size === 0) return; // nothing left to free: the caller's limit check decides
      this.stats.waits++;
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  #evict(e: CachedModel): void {
    if (this.#entries.get(e.key) !== e) return;
    this.#entries.delete(e.key);
    this.#charged -= e.chargeBytes;
    this.stats.evictions++;
  }

  /** A run may have decoded constants (a lazily read weight): charge them, evicting idle models to stay in budget. */
  #remeasure(e: CachedModel): void {
    if (this.#entries.get(e.key) !== e) return;
    const js = e.session.jsBytes();
    if (js <= e.jsBytes) return;
    this.#charged += js - e.jsBytes;
    e.jsBytes = js;
    for (const v of [...this.#entries.values()]) {
      if (this.tracked <= this.limit) break;
      if (v !== e && v.busy === 0) this.#evict(v);
    }
    this.#touchPeak();
  }

  #reserve(bytes: number): void {
    this.#reserved += bytes;
    this.#touchPeak();
  }

  #touchPeak(): void {
    this.#peak = Math.max(this.#peak, this.tracked);
  }

  /** One load (or admission) at a time. */
  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.#loadQueue;
    let done!: () => void;
    this.#loadQueue = new Promise<void>((r) => (done = r));
    try {
      await prev;
      return await fn();
    } finally {
      done();
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#charged = 0;
  }
}

export const cacheKey = (sha256: string, engine: string): string => `${sha256}:${engine}`;
