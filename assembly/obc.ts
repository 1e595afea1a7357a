// Exact greedy OBS per row (Optimal Brain Compression, Frantar & Alistarh 2022): the WASM twin
// of obsPruneExact in src/compress/obs.ts (the reference the tests compare against; the driver
// is src/compress/obc.ts). Float64 throughout, the same operations in the same order as the
// reference, so the results agree bit for bit (f64x2 lanes do elementwise mul/sub, no FMA).
//
// Per row r of W (rows, K): the free set starts as all K columns with Hc = H⁻¹ (K, K, the
// damped inverse Hessian, full, row-major). targets[r] times: pick the free slot t with the
// least w_t² / Hc_tt (first on ties; with N:M, only slots whose group of nmM columns still has
// fewer than nmN pruned), then
//   w −= (w_q / d) · Hc[:, q]                           (d = Hc_qq; sets w_q to 0)
//   Hc ← Hc − Hc[:, q] Hc[q, :] / d  without row/col q   (lower triangle only, compacted in place)
// The survivors' weights are written back to w (pruned columns 0) and mask[r, j] = 1 where
// column j was pruned.
//
// Buffers (byte offsets): w f64 (rows·K) in/out, hinv f64 (K·K) in, mask u8 (rows·K) out,
// targets i32 (rows): removals per row, work: obc_work_bytes(K), trace f64 (rows·K) out or 0:
// trace[r·K + step] = the saliency w_q²/Hc_qq of the step-th removal of row r (twice its loss).

// @ts-ignore: decorator
@inline function ld(p: usize): f64 { return load<f64>(p); }

/** Work bytes for obc_prune_rows: Hc (K·K f64), w, colQ (K f64 each), idx, groupCount (K i32 each). */
export function obc_work_bytes(K: i32): usize {
  return <usize>K * <usize>K * 8 + <usize>K * 8 * 2 + <usize>K * 4 * 2 + 16;
}

export function obc_prune_rows__wasmsimd(w: usize, hinv: usize, mask: usize, rows: i32, K: i32, targets: usize, nmN: i32, nmM: i32, work: usize, trace: usize): void {
  const KK = <usize>K * <usize>K;
  const Hc = work;
  const wv = Hc + KK * 8;
  const colQ = wv + <usize>K * 8;
  const idx = colQ + <usize>K * 8;
  const gc = idx + <usize>K * 4;
  const useNm = nmM > 0;
  for (let r = 0; r < rows; r++) {
    const wr = w + <usize>r * <usize>K * 8;
    const mr = mask + <usize>r * <usize>K;
    memory.copy(Hc, hinv, KK * 8);
    memory.copy(wv, wr, <usize>K * 8);
    for (let j = 0; j < K; j++) store<i32>(idx + (<usize>j << 2), j);
    if (useNm) memory.fill(gc, 0, <usize>K * 4);
    let nf = K;
    const target = load<i32>(targets + (<usize>r << 2));
    for (let step = 0; step < target; step++) {
      let q = -1;
      let best = Infinity;
      for (let t = 0; t < nf; t++) {
        if (useNm) {
          const g = load<i32>(idx + (<usize>t << 2)) / nmM;
          if (load<i32>(gc + (<usize>g << 2)) >= nmN) continue;
        }
        const wt = ld(wv + (<usize>t << 3));
        const sc = (wt * wt) / ld(Hc + ((<usize>t * <usize>nf + <usize>t) << 3));
        if (sc < best) {
          best = sc;
          q = t;
        }
      }
      if (q < 0) break;
      if (trace != 0) store<f64>(trace + ((<usize>r * <usize>K + <usize>step) << 3), best);
      const nfu = <usize>nf, qu = <usize>q;
      const d = ld(Hc + ((qu * nfu + qu) << 3));
      const f = ld(wv + (qu << 3)) / d;
      // column q of the symmetric Hc from its lower triangle
      for (let t: usize = 0; t <= qu; t++) store<f64>(colQ + (t << 3), ld(Hc + ((qu * nfu + t) << 3)));
      for (let t: usize = qu + 1; t < nfu; t++) store<f64>(colQ + (t << 3), ld(Hc + ((t * nfu + qu) << 3)));
      // w −= f · colQ
      {
        const fv = f64x2.splat(f);
        let t: usize = 0;
        for (; t + 2 <= nfu; t += 2) {
          const p = wv + (t << 3);
          v128.store(p, f64x2.sub(v128.load(p), f64x2.mul(fv, v128.load(colQ + (t << 3)))));
        }
        for (; t < nfu; t++) store<f64>(wv + (t << 3), ld(wv + (t << 3)) - f * ld(colQ + (t << 3)));
      }
      if (useNm) {
        const g = load<i32>(idx + (qu << 2)) / nmM;
        store<i32>(gc + (<usize>g << 2), load<i32>(gc + (<usize>g << 2)) + 1);
      }
      // downdate + compaction (lower triangle); writes never pass the element just read
      const m = nfu - 1;
      let io: usize = 0;
      for (let i: usize = 0; i < nfu; i++) {
        if (i == qu) continue;
        const c = ld(colQ + (i << 3)) / d;
        const cv = f64x2.splat(c);
        const src = Hc + ((i * nfu) << 3);
        const dst = Hc + ((io * m) << 3);
        // j in [0, min(i, q − 1)]: dst[j] = src[j] − c·colQ[j]
        const jEnd: usize = i < qu ? i + 1 : qu;
        let j: usize = 0;
        for (; j + 2 <= jEnd; j += 2) {
          v128.store(dst + (j << 3), f64x2.sub(v128.load(src + (j << 3)), f64x2.mul(cv, v128.load(colQ + (j << 3)))));
        }
        for (; j < jEnd; j++) store<f64>(dst + (j << 3), ld(src + (j << 3)) - c * ld(colQ + (j << 3)));
        // j in [q + 1, i]: dst[j − 1] = src[j] − c·colQ[j]
        if (i > qu) {
          j = qu + 1;
          for (; j + 2 <= i + 1; j += 2) {
            v128.store(dst + ((j - 1) << 3), f64x2.sub(v128.load(src + (j << 3)), f64x2.mul(cv, v128.load(colQ + (j << 3)))));
          }
          for (; j <= i; j++) store<f64>(dst + ((j - 1) << 3), ld(src + (j << 3)) - c * ld(colQ + (j << 3)));
        }
        io++;
      }
      for (let t: usize = qu; t < m; t++) {
        store<f64>(wv + (t << 3), ld(wv + ((t + 1) << 3)));
        store<i32>(idx + (t << 2), load<i32>(idx + ((t + 1) << 2)));
      }
      nf = <i32>m;
    }
    // write back: pruned columns 0 and masked, survivors their updated weights
    memory.fill(wr, 0, <usize>K * 8);
    memory.fill(mr, 1, <usize>K);
    for (let t = 0; t < nf; t++) {
      const j = <usize>load<i32>(idx + (<usize>t << 2));
      store<f64>(wr + (j << 3), ld(wv + (<usize>t << 3)));
      store<u8>(mr + j, 0);
    }
  }
}
