// int8 conv output stages and bit comparison shared by the kernel tests (kernels.int8-wino.test.ts,
// kernels.int8-wino4.test.ts, kernels.int8-relaxed.test.ts).
import { quantizeMultiplier } from '../../src/quant/int8.js';
import type { Qs8Out } from '../../src/kernels/int8.js';
import type { Qs8Data } from '../../src/kernels/int8_ref.js';

export type Mode = Qs8Out['mode'];
export const MODES: Mode[] = ['int8', 'int32', 'f32', 'qlinear'];

/**
 * Random per-channel output parameters of a mode. gain: log2 of a factor on the float32 scales
 * and on the multipliers below 1 (larger outputs for small convs).
 */
export function makeOut(mode: Mode, N: number, rnd: () => number, zx: number, zy: number, relu = false, gain = 0): Qs8Out {
  const ri = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  if (mode === 'int32') return { mode, zx, bias: Int32Array.from({ length: N }, () => ri(-50000, 50000)) };
  if (mode === 'f32')
    return {
      mode,
      zx,
      lo: relu ? 0 : -Infinity,
      hi: Infinity,
      scale: Float32Array.from({ length: N }, () => 2 ** (rnd() * 10 - (18 - gain))),
      bias: Float32Array.from({ length: N }, () => rnd() - 0.5),
    };
  const multiplier = new Int32Array(N),
    shift = new Int32Array(N);
  for (let c = 0; c < N; c++) {
    // every fourth channel a multiplier above 1 (a left shift in the output stage)
    const q = quantizeMultiplier(c % 4 === 3 ? 1 + rnd() * 3 : 2 ** (-(6 - gain) - rnd() * 10));
    multiplier[c] = q.multiplier;
    shift[c] = q.shift;
  }
  const lo = relu ? zy : -128;
  if (mode === 'qlinear')
    return {
      mode,
      zx,
      zy,
      lo,
      hi: 127,
      bias: Int32Array.from({ length: N }, () => ri(-5000, 5000)),
      multiplier: Float32Array.from(multiplier, (q, c) => Math.fround((q / 2 ** 31) * 2 ** -shift[c]!)),
    };
  return { mode, zx, zy, lo, hi: 127, bias: Int32Array.from({ length: N }, () => ri(-5000, 5000)), multiplier, shift };
}

/** undefined when a and b hold the same bits (float32 compared as int32), else where they differ. */
export function sameBits(a: Qs8Data, b: Qs8Data): string | undefined {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  const ai = a instanceof Float32Array ? new Int32Array(a.buffer, a.byteOffset, a.length) : a;
  const bi = b instanceof Float32Array ? new Int32Array(b.buffer, b.byteOffset, b.length) : b;
  for (let i = 0; i < a.length; i++) if (ai[i] !== bi[i]) return `[${i}] got ${a[i]} want ${b[i]}`;
  return undefined;
}
