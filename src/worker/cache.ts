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
//
// No request ever awaits a promise another request created: workerd cancels the continuations of
// a request whose promise came from a request that ended or was cancelled, and reports a request
// that waits on nothing of its own as hung ("The Workers runtime canceled this request because it
// detected that your Worker's code had hung"; seen under the soak). Whoever waits (for the load
// slot, a model's run, a load of the same key, room in the budget) polls shared state on its own
// timers (`until`), and gives up with 503 `busy` after WAIT_LIMIT_MS.
import type { Session } from '../runtime/session.js';
import { HttpError } from './errors.js';
import { until } from './wait.js';

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
  /** pins: requests holding the model (a busy model is never evicted) */
  busy: number;
  /** a run is in progress (runs are serialized: the engine's plans and arenas are shared) */
  running: boolean;
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
  readonly #loading = new Set<string>(); // keys being loaded
  #charged = 0;
  #reserved = 0;
  #peak = 0;
  #loadBusy = false;
  #waiting = 0;
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
      waiting: this.#waiting,
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
    await until(() => !m.running, 'waiting for a run of the same model');
    m.running = true;
    try {
      return await fn();
    } finally {
      m.running = false;
    }
  }

  /**
   * The cached model for `key`, loading it (once) on a miss, pinned: it cannot be evicted until
   * `release`. Concurrent misses of one key share one load (the others wait for it to end and
   * look again).
   */
  async acquire(key: string, loader: Loader): Promise<CachedModel> {
    for (;;) {
      const hit = this.#entries.get(key);
      if (hit) {
        this.stats.hits++;
        this.#entries.delete(key);
        this.#entries.set(key, hit);
        hit.busy++;
        return hit;
      }
      if (!this.#loading.has(key)) break;
      await until(() => !this.#loading.has(key), 'waiting for a load of the same model');
      // loaded (or failed: then this request tries itself), unless evicted meanwhile
      if (!this.#entries.has(key)) break;
    }
    this.stats.misses++;
    this.#loading.add(key);
    try {
      return await this.#exclusive(() => this.#load(key, loader));
    } finally {
      this.#loading.delete(key);
    }
  }

  /** Unpins a model from `acquire`; its JS-side bytes are measured again. */
  release(m: CachedModel): void {
    m.busy--;
    this.#remeasure(m);
  }

  /**
   * Loads with room made first. A known need is reserved whole; an unknown one first gets what
   * is free after evicting down to three quarters of the budget, and, if that is not enough,
   * the whole budget (everything idle evicted). SparrowError 'too_large' passes through when even
   * that is not enough.
   */
  async #load(key: string, loader: Loader): Promise<CachedModel> {
    const again = this.#entries.get(key);
    if (again) {
      // loaded while this one waited for the slot
      again.busy++;
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
      return this.#insert(key, loaded);
    }
  }

  /** Adds a loaded model, evicting idle ones as needed (and waiting for running ones). */
  async #insert(key: string, loaded: LoadedModel): Promise<CachedModel> {
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
      busy: 1,
      running: false,
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
      const pinned = this.#entries.size;
      const busy = [...this.#entries.values()].reduce((a, e) => a + e.busy, 0);
      this.#waiting++;
      try {
        // until a pin is released or an entry leaves
        await until(
          () => this.#entries.size !== pinned || [...this.#entries.values()].reduce((a, e) => a + e.busy, 0) < busy,
          'waiting for running models to make room',
        );
      } finally {
        this.#waiting--;
      }
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
    await until(() => !this.#loadBusy, 'waiting for the load slot');
    this.#loadBusy = true;
    try {
      return await fn();
    } finally {
      this.#loadBusy = false;
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#charged = 0;
  }
}

export const cacheKey = (sha256: string, engine: string): string => `${sha256}:${engine}`;
