// float16 / bfloat16 <-> number conversions (src/ops/float16.ts), exhaustively over the 65536 bit
// patterns of each format, against references derived independently: decoding by assembling the
// float32 bit pattern with a DataView (no arithmetic on the value), encoding by the definition
// of round-to-nearest-even (nearest representable value found by binary search over the sorted
// table of all values, ties to the even pattern), at every midpoint between neighbours and one
// float32 / float64 step either side of it. bfloat16 encoding also against the classic bit
// rounding of a float32 pattern (bits + 0x7FFF + lsb) >> 16 on random float32 patterns.
import { describe, expect, it } from 'vitest';
import {
  bfloat16ToNumber,
  bigintToNumberOdd,
  float16ToNumber,
  numberToBfloat16,
  numberToFloat16,
  toBfloat16Array,
  toFloat16Array,
  float16ArrayToFloat32,
  bfloat16ArrayToFloat32,
} from '../src/ops/float16.js';

const dv = new DataView(new ArrayBuffer(8));
const f32FromBits = (bits: number): number => {
  dv.setUint32(0, bits >>> 0);
  return dv.getFloat32(0);
};
const f32Bits = (x: number): number => {
  dv.setFloat32(0, x);
  return dv.getUint32(0);
};
const f64Next = (x: number, dir: 1 | -1): number => {
  // next float64 toward +Inf (dir 1) or -Inf (dir -1), x > 0 finite
  dv.setFloat64(0, x);
  dv.setBigUint64(0, dv.getBigUint64(0) + BigInt(dir));
  return dv.getFloat64(0);
};
const f32Next = (x: number, dir: 1 | -1): number => f32FromBits(f32Bits(x) + dir); // x > 0 finite float32

/** Independent float16 decoding: the float32 bit pattern of the same value, built field by field. */
function refFloat16(h: number): number {
  const sign = (h >> 15) << 31;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return f32FromBits(sign | 0x7f800000 | (mant << 13)); // Inf / NaN
  if (exp === 0) {
    if (mant === 0) return f32FromBits(sign); // ±0
    let e = -14; // subnormal: normalize the mantissa
    while ((mant & 0x400) === 0) {
      mant <<= 1;
      e--;
    }
    return f32FromBits(sign | ((e + 127) << 23) | ((mant & 0x3ff) << 13));
  }
  return f32FromBits(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

const same = (a: number, b: number): boolean => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

/** The positive finite patterns of a format in increasing value order with their values (patterns are monotonic). */
function positives(decode: (h: number) => number, maxFinite: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let h = 0; h <= maxFinite; h++) out.push([h, decode(h)]);
  return out;
}

/** Round to nearest even by definition: the nearest of the sorted values (ties: even pattern); beyond the largest, halfway to the next power step → Inf. */
function refNearest(x: number, table: Array<[number, number]>, infBits: number, overflowAt: number): number {
  const a = Math.abs(x);
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  if (a >= overflowAt) return sign | infBits;
  let lo = 0,
    hi = table.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (table[mid]![1] <= a) lo = mid;
    else hi = mid;
  }
  if (table[hi]![1] <= a) lo = hi;
  const [hl, vl] = table[lo]!;
  if (vl === a || lo === table.length - 1) return sign | hl;
  const [hh, vh] = table[lo + 1]!;
  const dl = a - vl,
    dh = vh - a; // exact: neighbours of a within a factor 2
  if (dl < dh) return sign | hl;
  if (dh < dl) return sign | hh;
  return sign | (hl % 2 === 0 ? hl : hh);
}

describe('float16', () => {
  const table = positives(refFloat16, 0x7bff);
  const OVERFLOW = 65520; // halfway between 65504 and 2^16: ties to even (0x7BFF is odd) → Inf

  it('decodes all 65536 patterns exactly (DataView-built float32 reference)', () => {
    const bad: string[] = [];
    for (let h = 0; h < 65536; h++) if (!same(float16ToNumber(h), refFloat16(h))) bad.push(h.toString(16));
    expect(bad).toEqual([]);
    expect(float16ToNumber(0x3c00)).toBe(1);
    expect(float16ToNumber(0x7bff)).toBe(65504);
    expect(float16ToNumber(0x0001)).toBe(2 ** -24);
    expect(float16ToNumber(0x0400)).toBe(2 ** -14);
    expect(Object.is(float16ToNumber(0x8000), -0)).toBe(true);
  });

  it('encodes every value back to its pattern; every NaN to 0x7E00', () => {
    const bad: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const v = refFloat16(h);
      const want = Number.isNaN(v) ? 0x7e00 : h;
      if (numberToFloat16(v) !== want) bad.push(`${h.toString(16)} -> ${numberToFloat16(v).toString(16)}`);
    }
    expect(bad).toEqual([]);
  });

  it('rounds to nearest even at every midpoint, and to the nearer neighbour one float32/float64 step off it', () => {
    const bad: string[] = [];
    for (let k = 0; k < table.length; k++) {
      const [hl, vl] = table[k]!;
      const [hh, vh] = k + 1 < table.length ? table[k + 1]! : [0x7c00, 65536];
      const m = (vl + vh) / 2; // exact in float32 and float64
      const even = hl % 2 === 0 ? hl : hh;
      const checks: Array<[number, number]> = [
        [m, even],
        [f32Next(m, 1), hh],
        [f32Next(m, -1), hl],
        [f64Next(m, 1), hh], // above the midpoint by less than float32 resolution: no double rounding through float32
        [f64Next(m, -1), hl],
      ];
      for (const [x, want] of checks) {
        for (const s of [1, -1]) {
          const got = numberToFloat16(s * x);
          const w = s < 0 ? want | 0x8000 : want;
          if (got !== w) bad.push(`${s * x}: ${got.toString(16)}, want ${w.toString(16)}`);
        }
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
    expect(numberToFloat16(65519.99)).toBe(0x7bff);
    expect(numberToFloat16(OVERFLOW)).toBe(0x7c00);
    expect(numberToFloat16(-1e10)).toBe(0xfc00);
    expect(numberToFloat16(2 ** -25)).toBe(0); // halfway to the smallest subnormal: ties to even 0
    expect(numberToFloat16(f64Next(2 ** -25, 1))).toBe(1);
    expect(numberToFloat16(-1e-30)).toBe(0x8000);
  });

  it('matches round-to-nearest by definition on 300000 random float32 and float64 values', () => {
    let seed = 12345;
    const rnd = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    const bad: string[] = [];
    for (let i = 0; i < 300000; i++) {
      // float32 patterns around the float16 range (exponents 2^-30 .. 2^17), and arbitrary float64 values
      const bits = ((rnd() & 0x80000000) | (((rnd() % 48) + 97) << 23) | (rnd() & 0x7fffff)) >>> 0;
      const x = i % 2 ? f32FromBits(bits) : f32FromBits(bits) * (1 + (rnd() / 2 ** 32) * 2 ** -20);
      const want = refNearest(x, table, 0x7c00, OVERFLOW);
      if (numberToFloat16(x) !== want) bad.push(`${x}: ${numberToFloat16(x).toString(16)} want ${want.toString(16)}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('array helpers convert element by element', () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const vals = float16ArrayToFloat32(bits);
    for (let h = 0; h < 65536; h += 97) expect(same(vals[h]!, refFloat16(h))).toBe(true);
    const back = toFloat16Array(vals);
    for (let h = 0; h < 65536; h++) if (!Number.isNaN(vals[h]!)) expect(back[h]).toBe(h);
  });
});

describe('bfloat16', () => {
  const refBf16 = (h: number): number => f32FromBits(h << 16);
  const table = positives(refBf16, 0x7f7f);

  /** The classic float32 → bfloat16 rounding on bit patterns (non-NaN). */
  const bitRound = (bits: number): number => ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;

  it('decodes all 65536 patterns exactly (the top half of a float32 pattern)', () => {
    const bad: string[] = [];
    for (let h = 0; h < 65536; h++) if (!same(bfloat16ToNumber(h), refBf16(h))) bad.push(h.toString(16));
    expect(bad).toEqual([]);
  });

  it('encodes every value back to its pattern; every NaN to 0x7FC0', () => {
    const bad: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const v = refBf16(h);
      if (numberToBfloat16(v) !== (Number.isNaN(v) ? 0x7fc0 : h)) bad.push(h.toString(16));
    }
    expect(bad).toEqual([]);
  });

  it('rounds to nearest even at every midpoint and one float32/float64 step off it', () => {
    const bad: string[] = [];
    const maxF = refBf16(0x7f7f);
    const next = 2 ** 128; // where 0x7F80 would be if the exponent went on
    for (let k = 0; k < table.length; k++) {
      const [hl, vl] = table[k]!;
      const [hh, vh] = k + 1 < table.length ? table[k + 1]! : [0x7f80, next];
      const m = (vl + vh) / 2;
      const even = hl % 2 === 0 ? hl : hh;
      const cases: Array<[number, number]> = [
        [m, even],
        [f64Next(m, 1), hh],
        [f64Next(m, -1), hl],
      ];
      if (vh <= maxF) cases.push([f32Next(m, 1), hh], [f32Next(m, -1), hl]);
      for (const [x, want] of cases) {
        if (numberToBfloat16(x) !== want) bad.push(`${x}: ${numberToBfloat16(x).toString(16)} want ${want.toString(16)}`);
        if (numberToBfloat16(-x) !== (want | 0x8000)) bad.push(`${-x}`);
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('matches the bit rounding of float32 patterns on 500000 random patterns (and all 65536 top halves + 0x8000)', () => {
    let seed = 99;
    const rnd = (): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed;
    };
    const bad: string[] = [];
    const check = (bits: number): void => {
      const x = f32FromBits(bits);
      if (Number.isNaN(x)) return;
      const want = bitRound(bits);
      if (numberToBfloat16(x) !== want) bad.push(`${bits.toString(16)}: ${numberToBfloat16(x).toString(16)} want ${want.toString(16)}`);
    };
    for (let i = 0; i < 500000; i++) check(rnd());
    for (let h = 0; h < 65536; h++) check(((h << 16) | 0x8000) >>> 0);
    expect(bad.slice(0, 10)).toEqual([]);
    expect(Array.from(bfloat16ArrayToFloat32(toBfloat16Array([1, -2.5, 3.14159]))).map((v) => v)).toEqual([1, -2.5, 3.140625]);
  });
});

describe('bigintToNumberOdd', () => {
  /** float32 nearest to v by bigint arithmetic (ties to even). */
  function refF32(v: bigint): number {
    const neg = v < 0n;
    const a = neg ? -v : v;
    const len = a.toString(2).length;
    if (len <= 24) return Number(v);
    const drop = BigInt(len - 24);
    let q = a >> drop;
    const r = a - (q << drop),
      half = 1n << (drop - 1n);
    if (r > half || (r === half && q & 1n)) q += 1n;
    const x = Number(q << drop); // exact: 25 significant bits at most
    return neg ? -x : x;
  }

  it('rounds once: Math.fround(bigintToNumberOdd(v)) is the float32 nearest to v on int64/uint64 values', () => {
    let seed = 7n;
    const rnd = (): bigint => {
      seed = (seed * 6364136223846793005n + 1442695040888963407n) & (2n ** 64n - 1n);
      return seed;
    };
    const bad: string[] = [];
    for (let i = 0; i < 20000; i++) {
      const r = rnd();
      const v = i % 3 === 0 ? r : i % 3 === 1 ? BigInt.asIntN(64, r) : r >> BigInt(Number(r % 40n));
      if (Math.fround(bigintToNumberOdd(v)) !== refF32(v)) bad.push(String(v));
    }
    // values at and next to float32 midpoints (random ones almost never are): q·2^k + 2^(k-1) + d
    for (let i = 0; i < 20000; i++) {
      const k = 1n + (rnd() % 40n); // bit length 25 + k - 1 .. 64
      const q = (1n << 23n) | (rnd() & ((1n << 23n) - 1n));
      const d = [0n, 1n, -1n, rnd() % 1000n][i % 4]!;
      let v = (q << k) + (1n << (k - 1n)) + d;
      if (v >= 2n ** 64n) continue;
      if (i % 2) v = -v;
      if (Math.fround(bigintToNumberOdd(v)) !== refF32(v)) bad.push(String(v));
    }
    expect(bad).toEqual([]);
  });

  it('named case: 2^60 + 2^36 + 1 rounds up (Number() then fround rounds twice, down to 2^60)', () => {
    const v = 2n ** 60n + 2n ** 36n + 1n;
    expect(refF32(v)).toBe(2 ** 60 + 2 ** 37);
    expect(Math.fround(Number(v))).toBe(2 ** 60); // the double rounding this function avoids
    expect(Math.fround(bigintToNumberOdd(v))).toBe(2 ** 60 + 2 ** 37);
    expect(bigintToNumberOdd(-(2n ** 63n))).toBe(-(2 ** 63));
    expect(bigintToNumberOdd(2n ** 53n + 1n) % 2 ** 11).not.toBe(0);
  });
});
