// The gateway's block allocator (SparrowWasm.malloc / free) against a model of it: random
// malloc/free sequences never hand out overlapping or unaligned blocks, never lose a block's
// contents, give all memory back when everything is freed, and refuse a release below a live
// block. And the plan cache (src/runtime/plan_cache.ts): LRU by count and bytes, disposing what
// it drops.
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { SparrowError } from '../src/errors.js';
import { PlanCache } from '../src/runtime/plan_cache.js';

let w: SparrowWasm;
beforeAll(async () => {
  w = await loadWasmNode();
});

describe('SparrowWasm.malloc / free', () => {
  it('random sequences: aligned, disjoint, contents kept, everything returned', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('m' as const), bytes: fc.integer({ min: 0, max: 5000 }) }),
            fc.record({ op: fc.constant('f' as const), pick: fc.nat() }),
          ),
          {
            maxLength: 120,
          },
        ),
        (ops) => {
          const base = w.usedBytes;
          const live: Array<{ p: number; bytes: number; tag: number }> = [];
          let tag = 1;
          for (const o of ops) {
            if (o.op === 'm') {
              const p = w.malloc(o.bytes);
              expect(p % 16).toBe(0);
              for (const b of live) expect(p + Math.max(o.bytes, 1) <= b.p || b.p + Math.max(b.bytes, 1) <= p).toBe(true);
              const t = tag++ & 0xff || 1;
              w.u8(p, o.bytes).fill(t);
              live.push({ p, bytes: o.bytes, tag: t });
            } else if (live.length) {
              const [b] = live.splice(o.pick % live.length, 1);
              w.free(b!.p);
            }
            for (const b of live) expect(w.u8(b.p, b.bytes).every((x) => x === b.tag)).toBe(true);
          }
          for (const b of live.splice(0)) w.free(b.p);
          expect(w.usedBytes).toBe(base);
          expect(w.blockBytes).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reuses freed memory: a cycle of malloc/free does not grow linear memory', () => {
    const a = w.malloc(1 << 20);
    w.free(a);
    const before = w.memoryBytes;
    for (let i = 0; i < 50; i++) {
      const x = w.malloc(300_000 + i * 1000),
        y = w.malloc(200_000);
      w.free(x);
      w.free(y);
    }
    expect(w.memoryBytes).toBe(before);
  });

  it('a block freed in the middle is reused before the stack grows; neighbours coalesce', () => {
    const a = w.malloc(1000),
      b = w.malloc(1000),
      c = w.malloc(1000);
    w.free(b);
    expect(w.malloc(512)).toBe(b); // first fit in the hole
    w.free(b);
    w.free(a); // a + b coalesce
    expect(w.malloc(2000)).toBe(a);
    w.free(a);
    w.free(c);
  });

  it('temporaries on the stack: release below a live block, double free and foreign pointers are refused', async () => {
    const w = await loadWasmNode(); // a fresh instance: no free blocks below the mark
    const m = w.mark();
    const t = w.alloc(64);
    const blk = w.malloc(64); // taken from the stack above the temporary
    expect(() => w.release(m)).toThrow(SparrowError);
    w.free(blk);
    w.release(m);
    expect(t).toBe(m);
    expect(() => w.free(blk)).toThrow(/not a live block/);
    expect(() => w.free(12345)).toThrow(SparrowError);
  });
});

describe('requests past 2 GiB (named case: a 32-image 2048x2048 plan wrapped)', () => {
  it('alloc and malloc of 2^31 bytes and more are too_large, not a small block', async () => {
    const v = await loadWasmNode();
    v.maxBytes = 96 << 20;
    const before = v.usedBytes;
    for (const n of [2 ** 31, 2 ** 31 + 1, 2 ** 32 - 16, 2 ** 32 + 100]) {
      expect(() => v.malloc(n)).toThrow(SparrowError);
      expect(() => v.alloc(n)).toThrow(/too_large|4 GiB|limit/);
    }
    expect(v.usedBytes).toBe(before);
    // the plan arena (PlanMemory) asks malloc for the same sizes
    const { PlanMemory } = await import('../src/runtime/plan_builder.js');
    const m = new PlanMemory(v);
    expect(() => m.alloc(2 ** 31 + 16)).toThrow(SparrowError);
    expect(m.bytes).toBe(0);
  });
});

describe('PlanCache', () => {
  const plan = (bytes: number, log: string[], name: string) => ({ bytes, dispose: () => log.push(name) });

  it('evicts the least recently used plan past maxPlans, disposing it', () => {
    const log: string[] = [];
    const c = new PlanCache<ReturnType<typeof plan>>({ maxPlans: 2, maxBytes: 1e9 });
    c.set('a', plan(10, log, 'a'));
    c.set('b', plan(10, log, 'b'));
    c.get('a'); // a is now the most recent
    c.set('c', plan(10, log, 'c'));
    expect(log).toEqual(['b']);
    expect([...c.values()].length).toBe(2);
    expect(c.get('b')).toBeUndefined();
    expect(c.bytes).toBe(20);
    expect(c.evictions).toBe(1);
  });

  it('evicts past maxBytes, but keeps the plan just added even when it alone is over', () => {
    const log: string[] = [];
    const c = new PlanCache<ReturnType<typeof plan>>({ maxPlans: 10, maxBytes: 100 });
    c.set('a', plan(40, log, 'a'));
    c.set('b', plan(40, log, 'b'));
    c.set('c', plan(40, log, 'c'));
    expect(log).toEqual(['a']);
    c.set('huge', plan(500, log, 'huge'));
    expect(log).toEqual(['a', 'b', 'c']);
    expect(c.size).toBe(1);
    expect(c.bytes).toBe(500);
    c.set('huge', plan(50, log, 'huge2')); // replacing a key disposes the old plan
    expect(log).toEqual(['a', 'b', 'c', 'huge']);
    c.clear();
    expect(log.at(-1)).toBe('huge2');
    expect(c.size).toBe(0);
    expect(c.bytes).toBe(0);
  });
});
