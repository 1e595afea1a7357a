// The compiled plans of an engine, one per input signature, in an LRU bounded by count and by
// bytes (the WASM memory each plan holds: its arena and its constants). Inserting past either
// bound evicts the least recently used plans and disposes them (their memory returns to the
// engine's allocator, src/wasm/gateway.ts `free`); the plan just inserted always stays, even when
// it alone is over the byte bound.

export interface PlanCacheLimits {
  /** plans kept at most (default 8) */
  maxPlans: number;
  /** bytes of WASM memory the kept plans may hold together (default 128 MiB) */
  maxBytes: number;
}

export const DEFAULT_PLAN_LIMITS: PlanCacheLimits = { maxPlans: 8, maxBytes: 128 * 1024 * 1024 };

export interface CachedPlan {
  /** WASM bytes the plan holds */
  readonly bytes: number;
  dispose(): void;
}

export class PlanCache<P extends CachedPlan> {
  readonly limits: PlanCacheLimits;
  /** insertion / use order: the first entry is the least recently used */
  readonly #plans = new Map<string, P>();
  #bytes = 0;
  /** plans evicted so far */
  evictions = 0;

  constructor(limits: Partial<PlanCacheLimits> = {}) {
    this.limits = { ...DEFAULT_PLAN_LIMITS, ...limits };
    if (!(this.limits.maxPlans >= 1) || !(this.limits.maxBytes >= 0)) {
      throw new RangeError(`plan cache limits: maxPlans ≥ 1 and maxBytes ≥ 0, got ${JSON.stringify(this.limits)}`);
    }
  }

  get size(): number {
    return this.#plans.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The plan for `key`, marked as the most recently used. */
  get(key: string): P | undefined {
    const p = this.#plans.get(key);
    if (p) {
      this.#plans.delete(key);
      this.#plans.set(key, p);
    }
    return p;
  }

  /** Adds a plan (replacing and disposing one under the same key), then evicts down to the limits. */
  set(key: string, plan: P): void {
    const old = this.#plans.get(key);
    if (old && old !== plan) this.#drop(key, old);
    this.#plans.set(key, plan);
    this.#bytes += plan.bytes;
    for (const [k, p] of this.#plans) {
      if (this.#plans.size <= this.limits.maxPlans && this.#bytes <= this.limits.maxBytes) break;
      if (p === plan) continue;
      this.#drop(k, p);
      this.evictions++;
    }
  }

  /** New bounds (the Worker fits them to a model after measuring it); evicts down to them now. */
  setLimits(limits: Partial<PlanCacheLimits>): void {
    const next = { ...this.limits, ...limits };
    if (!(next.maxPlans >= 1) || !(next.maxBytes >= 0)) {
      throw new RangeError(`plan cache limits: maxPlans ≥ 1 and maxBytes ≥ 0, got ${JSON.stringify(next)}`);
    }
    Object.assign(this.limits, next);
    for (const [k, p] of this.#plans) {
      if (this.#plans.size <= this.limits.maxPlans && this.#bytes <= this.limits.maxBytes) break;
      this.#drop(k, p);
      this.evictions++;
    }
  }

  values(): IterableIterator<P> {
    return this.#plans.values();
  }

  /** Disposes every plan. */
  clear(): void {
    for (const [k, p] of this.#plans) this.#drop(k, p);
  }

  #drop(key: string, p: P): void {
    this.#plans.delete(key);
    this.#bytes -= p.bytes;
    p.dispose();
  }
}
