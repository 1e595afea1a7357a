// Paranoid decoding for the fuzzer and the decoder tests: the input flush against the end of
// linear memory, guard bytes around every output (src/bench/fuzz.ts, test/codec.wasm.test.ts).
import type { SparrowWasm } from './gateway.js';

export interface CheckedDecode {
  /** WASM status (≥ 0 ok) */
  status: number;
  /** decoded output (dense int8, or CSR rowPtr/col/val concatenated as bytes) */
  out: Uint8Array;
  /** false if any byte of the guard zones around the outputs changed */
  guardsIntact: boolean;
}

const GUARD = 64;
/** decodeChecked's status for an int16 CSR value outside int8 (not a decoder status) */
export const E_VALUE_WIDTH = -1000;
const GUARD_BYTE = 0xa5;

/**
 * Paranoid decoding for fuzzing: the input is placed flush against the end of linear memory
 * (only the 8 slack bytes the decoders may read follow it), so any read past the allowed
 * slack traps; every output buffer is surrounded by guard bytes that are checked afterwards.
 * `csr` = [rows, cols] decodes to CSR instead of dense, with int8 values or (valBytes 2, the
 * sparse conv layout) int16 ones, returned narrowed to int8 (a value outside int8 is reported
 * by status E_VALUE_WIDTH).
 */
export function decodeChecked(
  w: SparrowWasm,
  codec: number,
  payload: Uint8Array,
  n: number,
  csr?: [number, number],
  valBytes: 1 | 2 = 1,
): CheckedDecode {
  const ex = w.exports;
  const m = w.mark();
  try {
    const regions: Array<[number, number]> = [];
    const guarded = (bytes: number): number => {
      const g0 = w.alloc(GUARD + bytes + GUARD);
      w.u8(g0, GUARD + bytes + GUARD).fill(GUARD_BYTE);
      regions.push([g0 + GUARD, bytes]);
      return g0 + GUARD;
    };
    const work = guarded(ex.workBytes(n));
    let rowPtr = 0,
      col = 0,
      val = 0,
      dense = 0,
      out = 0;
    const cap = n;
    if (csr) {
      rowPtr = guarded((csr[0] + 1) * 4);
      col = guarded(cap * 2);
      val = guarded(cap * valBytes);
      dense = guarded(n);
    } else {
      out = guarded(n);
    }
    // the input flush against the end of memory, 8 readable bytes after it
    const need = w.mark() + payload.length + 8;
    const have = ex.memory.buffer.byteLength;
    if (need > have) ex.memory.grow(Math.ceil((need - have) / 65536));
    const src = ex.memory.buffer.byteLength - 8 - payload.length;
    w.u8(src, payload.length + 8).set(payload);
    w.u8(src + payload.length, 8).fill(0);
    let status: number;
    let result: Uint8Array;
    if (csr) {
      status = ex.decodeCsr(codec, src, payload.length, csr[0], csr[1], rowPtr, col, val, cap, work, dense, valBytes);
      const nnz = Math.max(0, status);
      let vals = w.u8(val, nnz);
      if (valBytes === 2) {
        const wide = new Int16Array(ex.memory.buffer, val, nnz);
        if (wide.some((v) => v < -128 || v > 127)) status = E_VALUE_WIDTH;
        vals = new Uint8Array(Int8Array.from(wide).buffer);
      }
      result = new Uint8Array([...w.u8(rowPtr, (csr[0] + 1) * 4), ...w.u8(col, nnz * 2), ...vals]);
    } else {
      status = ex.decodeDense(codec, src, payload.length, out, n, work);
      result = w.u8(out, n).slice();
    }
    let guardsIntact = true;
    for (const [p, len] of regions) {
      const before = w.u8(p - GUARD, GUARD),
        after = w.u8(p + len, GUARD);
      if (before.some((b) => b !== GUARD_BYTE) || after.some((b) => b !== GUARD_BYTE)) guardsIntact = false;
    }
    return { status, out: result, guardsIntact };
  } finally {
    w.release(m);
  }
}
