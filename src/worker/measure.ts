// Admission's measurement (src/worker/admit.ts, step 3-4): a loaded session run on zeros at batch 1
// (until sparrow-int8's tier-up, if one is due) and at maxBatch, and the limits that fit what that
// took. Apart from admit.ts (which imports the .wasm modules the Worker is built with) so that
// Node tests can run it on their own sessions (test/engine.int8-winotie.test.ts, tiered kernels).
import { ARRAY_OF, type Tensor } from '../ops/types.js';
import type { EngineName, Session } from '../runtime/session.js';
import { TIER_UP_RUNS } from '../runtime/engine_int8.js';
import type { StoredFigures } from './store.js';

const PAGE = 65536;
const pages = (n: number): number => Math.ceil(n / PAGE) * PAGE;

/** Zero feeds at batch `b` (axis 0 of symbolic-batch inputs); undefined when other dims are not fixed. */
function zeroFeeds(s: Session, b: number): Record<string, Tensor> | undefined {
  const feeds: Record<string, Tensor> = {};
  for (const name of s.inputNames) {
    const info = s.inputInfo[name]!;
    if (!info.dims) return undefined;
    const dims = info.dims.map((d, k) => (d >= 0 ? d : k === 0 ? b : -1));
    if (dims.some((d) => d < 0)) return undefined;
    const n = dims.reduce((a, d) => a * d, 1);
    feeds[name] = { dtype: info.dtype, dims, data: new ARRAY_OF[info.dtype](n) };
  }
  return feeds;
}

const symbolicBatch = (s: Session): boolean => s.inputNames.some((n) => (s.inputInfo[n]!.dims?.[0] ?? 0) < 0);

/**
 * Builds and runs the plans at batch 1 and maxBatch, then fits the session's limits to what
 * they took. A model whose inputs have symbolic dims besides the batch cannot be planned ahead:
 * it gets a quarter of the budget (a request needing more is 413).
 */
export async function measure(s: Session, engine: EngineName, maxBatch: number, budget: number): Promise<StoredFigures> {
  const f1 = zeroFeeds(s, 1);
  let figures: StoredFigures;
  if (!s.memoryStats()) {
    if (f1) await s.run(f1);
    figures = { engine, capBytes: 0, planBytes: 0, jsBytes: s.jsBytes() }; // the reference engine: no WASM
  } else if (!f1) {
    const wasm = s.memoryBytes() ?? 0;
    const capBytes = Math.min(pages(Math.max(wasm + PAGE, budget / 4)), budget);
    figures = { engine, capBytes, planBytes: Math.max(0, capBytes - wasm), jsBytes: s.jsBytes() };
  } else {
    await s.run(f1);
    // tiered kernels (sparrow-int8, Int8EngineOptions.tierUpRuns): the runs that take the engine
    // to tier 1, so that its F(4x4) layouts and the tier-1 plan are in the figures and a later
    // load within them tiers up too (figures stored before this: the tier-up finds no room and
    // tier 0 stays, report.int8.tierUp.failed)
    for (let i = 0; i < TIER_UP_RUNS && s.report?.int8?.tierPending; i++) await s.run(f1);
    const p1 = s.memoryStats()!.planBytes;
    let pmax = p1;
    if (maxBatch > 1 && symbolicBatch(s)) {
      await s.run(zeroFeeds(s, maxBatch)!);
      pmax = Math.max(p1, s.memoryStats()!.planBytes - p1);
    }
    const wasm = s.memoryStats()!.wasmBytes;
    figures = { engine, capBytes: pages(wasm + pmax + PAGE), planBytes: p1 + pmax, jsBytes: s.jsBytes() };
  }
  apply(s, figures);
  return figures;
}

/** A session's limits from its figures (linear memory, plan cache). */
export function apply(s: Session, f: StoredFigures): void {
  if (f.capBytes > 0) s.setMemoryLimits({ maxMemoryBytes: f.capBytes, planCache: { maxBytes: f.planBytes } });
}
