// Interleaved timing: contenders run in alternation, round after round, so machine noise
// hits all of them alike; each reports its median round.

export interface Contender {
  name: string;
  run(): void;
}

/** Median seconds per call of each contender over `rounds` interleaved rounds of ≥ `minMs` each. */
export function interleave(contenders: Contender[], rounds = 15, minMs = 20): Map<string, number> {
  for (const c of contenders) for (let i = 0; i < 3; i++) c.run(); // warm-up (JIT, caches)
  const reps = new Map<string, number>();
  for (const c of contenders) {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < minMs) {
      c.run();
      n++;
    }
    reps.set(c.name, Math.max(1, n));
  }
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of contenders) {
      const n = reps.get(c.name)!;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) c.run();
      samples.get(c.name)!.push((performance.now() - t0) / 1000 / n);
    }
  }
  return new Map([...samples].map(([k, v]) => [k, median(v)]));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
