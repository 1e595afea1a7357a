// The transformer kernels (src/kernels/f32_tfm.ts lists them) against their plain TS references
// (src/kernels/f32_tfm_ref.ts), release (-O3 noAssert) and debug builds:
//   - fused attention: bit for bit with attentionRef (the kernel's algorithm, float32 operation
//     by operation) over sweeps of Tq, Tk, head sizes, tiles of 1..64 query rows, strided and
//     shared (GQA) operand views, every mask and scale mode; nothing written outside the output
//     rows; and within the float64 bound of attentionExact (stated there);
//   - decomposed LayerNorm / RMSNorm: bit for bit with layerNormOpsRef / rmsNormOpsRef over row
//     lengths around the 8-wide blocks, with and without weights; within the float64 bound
//     |Δ| ≤ |w|·((n + 4)·u·mean|x| + (n/2 + 6)·u·|x − mean|)/s + u·(|y| + |b|) of normExact;
//   - gather of rows by run-time indices: = gatherRowsRef, negative indices, the first index out
//     of range reported with nothing written.
import { describe, it, expect, beforeAll } from 'vitest';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import {
  F32_ATTENTION_KERNELS,
  F32_ROW_NORM_KERNELS,
  attentionF32,
  attentionTileRows,
  gatherRowsF32,
  rowNormF32,
} from '../src/kernels/f32_tfm.js';
import {
  attentionExact,
  attentionRef,
  exp4Ref,
  gatherRowsRef,
  layerNormOpsRef,
  normExact,
  rmsNormOpsRef,
  type AttentionArgs,
} from '../src/kernels/f32_tfm_ref.js';
import { lcg } from './helpers/tensors.js';

const U = 2 ** -24;
const SENTINEL = -12345.5;

const rand = (r: () => number, n: number, lo = -1, hi = 1): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());

/** Indices where a and b differ in bits (NaN = NaN), first few. */
function bitDiff(a: Float32Array, b: Float32Array): string[] {
  const out: string[] = [];
  if (a.length !== b.length) return [`length ${a.length} vs ${b.length}`];
  for (let i = 0; i < a.length && out.length < 3; i++)
    if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) out.push(`[${i}] ${a[i]} vs ${b[i]}`);
  return out;
}

interface AttnCase {
  label: string;
  a: AttentionArgs;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  mask: Float32Array | Uint8Array | undefined;
  oLen: number;
  MT: number;
}

/** A case: batches of `nb`, GQA sharing of K/V by `share` consecutive batches, row padding `pad`. */
function attnCase(
  r: () => number,
  nb: number,
  Tq: number,
  Tk: number,
  hd: number,
  hv: number,
  o: {
    share?: number;
    pad?: number;
    maskMode?: number;
    maskRows?: boolean;
    maskCols?: boolean;
    scaleMode?: number;
    qScaleMode?: number;
    MT?: number;
    big?: number;
  },
): AttnCase {
  const share = o.share ?? 1,
    pad = o.pad ?? 0,
    maskMode = o.maskMode ?? 0;
  const nk = Math.ceil(nb / share);
  const ldq = hd + pad,
    ldk = hd + 2 * pad,
    ldv = hv + pad,
    ldo = hv + pad;
  // batches interleaved in one buffer per operand (offsets not in batch order when padded)
  const qOff = Array.from({ length: nb }, (_, t) => (nb - 1 - t) * Tq * ldq + (pad ? 1 : 0));
  const kOff = Array.from({ length: nb }, (_, t) => Math.floor(t / share) * Tk * ldk + pad);
  const vOff = Array.from({ length: nb }, (_, t) => Math.floor(t / share) * Tk * ldv);
  const oOff = Array.from({ length: nb }, (_, t) => t * Tq * ldo);
  const big = o.big ?? 1;
  const q = rand(r, nb * Tq * ldq + 2, -big, big),
    k = rand(r, nk * Tk * ldk + 2 * pad, -1, 1),
    v = rand(r, nk * Tk * ldv, -2, 2);
  const rows = o.maskRows ?? true,
    cols = o.maskCols ?? true;
  const ldm = rows ? (cols ? Tk : 1) : 0,
    mcs = cols ? 1 : 0;
  const mOff = Array.from({ length: nb }, (_, t) => t * (rows ? Tq : 1) * (cols ? Tk : 1));
  const mLen = nb * (rows ? Tq : 1) * (cols ? Tk : 1);
  let mask: Float32Array | Uint8Array | undefined;
  if (maskMode === 1) mask = Float32Array.from({ length: mLen }, () => (r() < 0.2 ? -1e4 : r() * 2 - 1));
  else if (maskMode >= 2) mask = Uint8Array.from({ length: mLen }, () => (r() < 0.7 ? 1 : 0));
  const scaleMode = o.scaleMode ?? 0,
    qScaleMode = o.qScaleMode ?? 0;
  const a: AttentionArgs = {
    nb,
    Tq,
    Tk,
    hd,
    hv,
    ldq,
    ldk,
    ldv,
    ldo,
    maskMode,
    ldm,
    mcs,
    scaleMode,
    scale: scaleMode === 2 ? Math.fround(Math.sqrt(hd)) : Math.fround(1 / Math.sqrt(hd)),
    qScaleMode,
    qScale: qScaleMode === 2 ? Math.fround(Math.sqrt(hd)) : Math.fround(0.7),
    fill: -1e4,
    qOff,
    kOff,
    vOff,
    oOff,
    mOff: maskMode ? mOff : [],
  };
  const label = `nb=${nb} Tq=${Tq} Tk=${Tk} hd=${hd} hv=${hv} ${JSON.stringify(o)}`;
  return { label, a, q, k, v, mask, oLen: nb * Tq * ldo, MT: o.MT ?? attentionTileRows(Tq, Tk) };
}

function attnCases(): AttnCase[] {
  const r = lcg(2024);
  const cs: AttnCase[] = [];
  for (const Tq of [1, 2, 3, 5, 8, 13, 33, 70])
    for (const Tk of [1, 2, 3, 4, 5, 8, 9, 17, 64, 129]) {
      const hd = [1, 2, 4, 7, 8, 16, 64][(Tq * 3 + Tk) % 7]!;
      const hv = [1, 3, 8, 9, 16][(Tq + Tk * 5) % 5]!;
      cs.push(attnCase(r, 2, Tq, Tk, hd, hv, { maskMode: (Tq + Tk) % 4, scaleMode: Tk % 3, qScaleMode: Tq % 3 }));
    }
  // tiles of a few rows (tails of the 4-row GEMM tile), strided and shared views, every mask layout
  for (const MT of [1, 2, 3, 5, 64]) cs.push(attnCase(r, 3, 11, 10, 8, 8, { MT, maskMode: 1 }));
  for (const share of [1, 2, 4]) cs.push(attnCase(r, 8, 3, 9, 8, 8, { share, pad: 3, maskMode: 1, scaleMode: 2 }));
  for (const [maskRows, maskCols] of [
    [true, true],
    [false, true],
    [true, false],
    [false, false],
  ] as const)
    for (const maskMode of [1, 2, 3]) cs.push(attnCase(r, 2, 6, 7, 5, 6, { maskMode, maskRows, maskCols, pad: 1 }));
  cs.push(attnCase(r, 2, 128, 128, 64, 64, { maskMode: 1, qScaleMode: 2, scaleMode: 1 })); // bert-tiny's heads
  cs.push(attnCase(r, 8, 1, 200, 8, 8, { share: 2, maskMode: 1, scaleMode: 2 })); // a decode step with GQA
  cs.push(attnCase(r, 1, 4, 6, 4, 4, { big: 40, scaleMode: 1 })); // large scores: exp's range
  return cs;
}

for (const variant of ['release', 'debug'] as const) {
  describe(`transformer kernels (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });

    it("exp4Ref is the kernels' vector exp (softmax of [x, 0] rows, exp's range ends included) and within 2e-7 of e^x", () => {
      // one query, keys [x] and [0] (hd = 1), values [1] and [0]: the output is e(x − m) / (e(x − m) + e(−m))
      const xs = [-200, -110, -104, -103.9, -88, -50, -1e-3, -0, 0, 1e-3, 0.5, 1, 10, 50, 88, 89, 89.5, 100, Infinity, -Infinity, NaN];
      const a = attnCase(lcg(1), 1, 1, 2, 1, 1, {}).a;
      for (const x of xs) {
        const k = Float32Array.from([x, 0]),
          v = Float32Array.from([1, 0]),
          q = Float32Array.from([1]);
        const got = attentionF32(w, a, q, k, v, undefined, 1);
        const want = new Float32Array(1);
        attentionRef(a, q, k, v, undefined, want);
        expect(bitDiff(got, want), `x=${x}`).toEqual([]);
        if (Number.isFinite(x) && Math.abs(x) < 87)
          expect(Math.abs(exp4Ref(x) / Math.exp(Math.fround(x)) - 1), `x=${x}`).toBeLessThan(2e-7);
      }
    });

    for (const kernel of F32_ATTENTION_KERNELS) {
      it(`${kernel.name}: = attentionRef bit for bit, within attentionExact's bound, nothing written outside the rows`, () => {
        const failures: string[] = [];
        for (const c of attnCases()) {
          const got = attentionF32(w, c.a, c.q, c.k, c.v, c.mask, c.oLen, { MT: c.MT, sentinel: SENTINEL, kernel });
          const want = new Float32Array(c.oLen).fill(SENTINEL);
          attentionRef(c.a, c.q, c.k, c.v, c.mask, want);
          const d = bitDiff(got, want);
          if (d.length) failures.push(`${c.label}: ${d.join('; ')}`);
          const ex = attentionExact(c.a, c.q, c.k, c.v, c.mask);
          for (let t = 0; t < c.a.nb; t++)
            for (let i = 0; i < c.a.Tq; i++)
              for (let j = 0; j < c.a.hv; j++) {
                const g = got[c.a.oOff[t]! + i * c.a.ldo + j]!,
                  e = (t * c.a.Tq + i) * c.a.hv + j;
                if (!(Math.abs(g - ex.o[e]!) <= ex.bound[e]!)) {
                  failures.push(`${c.label}: [${t},${i},${j}] ${g} vs exact ${ex.o[e]} (bound ${ex.bound[e]!.toExponential(2)})`);
                  j = c.a.hv;
                  i = c.a.Tq;
                  t = c.a.nb;
                }
              }
        }
        expect(failures.slice(0, 8)).toEqual([]);
      });

      it(`${kernel.name}: NaN and ±Inf as the reference: fully masked rows (−Inf) are NaN, NaN inputs spread to their rows`, () => {
        const c = attnCase(lcg(9), 2, 3, 5, 4, 3, { maskMode: 1 });
        (c.mask as Float32Array).fill(0);
        for (let j = 0; j < 5; j++) (c.mask as Float32Array)[c.a.mOff[0]! + j] = -Infinity; // batch 0, row 0: all masked
        (c.mask as Float32Array)[c.a.mOff[1]! + 5 + 2] = -Infinity; // batch 1, row 1: one key masked
        c.q[c.a.qOff[1]! + 2 * c.a.ldq] = NaN; // batch 1, row 2: NaN query
        const got = attentionF32(w, c.a, c.q, c.k, c.v, c.mask, c.oLen, { kernel });
        const want = new Float32Array(c.oLen);
        attentionRef(c.a, c.q, c.k, c.v, c.mask, want);
        expect(bitDiff(got, want)).toEqual([]);
        const row = (t: number, i: number) => Array.from(got.subarray(c.a.oOff[t]! + i * c.a.ldo, c.a.oOff[t]! + i * c.a.ldo + 3));
        expect(row(0, 0).every(Number.isNaN)).toBe(true);
        expect(row(0, 1).some(Number.isNaN)).toBe(false);
        expect(row(1, 1).some(Number.isNaN)).toBe(false);
        expect(row(1, 2).every(Number.isNaN)).toBe(true);
      });
    }

    it('an inconsistent descriptor is refused (status −5), nothing written', () => {
      const c = attnCase(lcg(3), 1, 2, 3, 4, 4, {});
      expect(() => attentionF32(w, { ...c.a, Tk: 0 }, c.q, c.k, c.v, undefined, c.oLen)).toThrow(/status -5/);
      expect(() => attentionF32(w, c.a, c.q, c.k, c.v, undefined, c.oLen, { MT: 0 })).toThrow(/status -5/);
    });

    for (const kernel of F32_ROW_NORM_KERNELS) {
      it(`${kernel.name}: = its reference bit for bit, within the float64 bound`, () => {
        const r = lcg(kernel.kind === 'layer' ? 5 : 6);
        const failures: string[] = [];
        const sizes = [...Array.from({ length: 40 }, (_, i) => i + 1), 63, 64, 65, 127, 128, 768];
        for (const n of sizes)
          for (const [outer, eps, wOn, bOn, mode, shift] of [
            [1, 1e-5, true, true, 0, 0],
            [3, 1e-12, true, false, 1, 3],
            [2, 0, false, true, 0, -20],
            [1, 1e-6, false, false, 1, 0.5],
          ] as const) {
            const x = rand(r, outer * n, -2 + shift, 2 + shift);
            const wt = wOn ? rand(r, n, 0.5, 1.5) : undefined;
            const b = bOn && kernel.kind === 'layer' ? rand(r, n) : undefined;
            const got = rowNormF32(w, kernel, x, outer, n, eps, { w: wt, b, mode });
            const want = kernel.kind === 'layer' ? layerNormOpsRef(x, outer, n, eps, wt, b) : rmsNormOpsRef(x, outer, n, eps, mode, wt);
            const d = bitDiff(got, want);
            if (d.length) failures.push(`n=${n} outer=${outer} eps=${eps} w=${wOn} b=${bOn} mode=${mode}: ${d.join('; ')}`);
            const ex = normExact(kernel.kind, x, outer, n, eps, wt, b);
            for (let o = 0; o < outer; o++) {
              let mean = 0,
                absMean = 0,
                q = 0;
              for (let i = 0; i < n; i++) {
                mean += kernel.kind === 'layer' ? x[o * n + i]! / n : 0;
                absMean += Math.abs(x[o * n + i]!) / n;
              }
              for (let i = 0; i < n; i++) q += (x[o * n + i]! - mean) ** 2;
              const s = Math.sqrt(q / n + Math.fround(eps));
              for (let i = 0; i < n; i++) {
                const j = o * n + i;
                const dev = Math.abs(x[j]! - mean);
                const tol =
                  ((wt ? Math.abs(wt[i]!) : 1) * ((n + 4) * U * (kernel.kind === 'layer' ? absMean : 0) + (n / 2 + 6) * U * dev)) / s +
                  U * (Math.abs(ex[j]!) + (b ? Math.abs(b[i]!) : 0)) +
                  1e-37;
                if (Number.isNaN(ex[j]!) && Number.isNaN(got[j]!)) continue; // n = 1, ε = 0: 0 / 0
                if (!(Math.abs(got[j]! - ex[j]!) <= tol)) {
                  failures.push(`n=${n} [${j}] ${got[j]} vs exact ${ex[j]} (tol ${tol.toExponential(2)})`);
                  break;
                }
              }
            }
          }
        expect(failures.slice(0, 8)).toEqual([]);
      });
    }

    it('x_gather_rows: = gatherRowsRef, negative indices from the end, int32 and int64 indices', () => {
      const r = lcg(8);
      for (const [outer, len, row] of [
        [1, 7, 1],
        [1, 30, 64],
        [3, 5, 3],
        [2, 1, 4],
      ] as const) {
        const x = rand(r, outer * len * row);
        const ids = Array.from({ length: 9 }, () => Math.floor(r() * 2 * len) - len);
        for (const idx of [BigInt64Array.from(ids, BigInt), Int32Array.from(ids)]) {
          const got = gatherRowsF32(w, x, outer, len, row, idx);
          const want = gatherRowsRef(x, outer, len, row, idx) as number[];
          expect(got.bad).toBe(-1);
          expect(Array.from(got.y.subarray(0, want.length))).toEqual(want.map(Math.fround));
          expect(Array.from(got.y.subarray(want.length))).toEqual([SENTINEL, SENTINEL, SENTINEL, SENTINEL]);
        }
      }
    });

    it('x_gather_rows: the first index outside [−len, len) is reported and nothing is written', () => {
      const x = rand(lcg(4), 5 * 2);
      for (const ids of [[0, 5], [-6], [1, 2, 2 ** 40, -1], [3, -(2 ** 40)]]) {
        const idx = BigInt64Array.from(ids, BigInt);
        const got = gatherRowsF32(w, x, 1, 5, 2, idx);
        expect(got.bad, JSON.stringify(ids)).toBe(gatherRowsRef(x, 1, 5, 2, idx));
        expect(got.y.every((v) => v === SENTINEL)).toBe(true);
      }
      // int32: 2^31 − 1 is out of range, −len is in
      expect(gatherRowsF32(w, x, 1, 5, 2, Int32Array.from([-5, 2147483647])).bad).toBe(1);
    });
  });
}
