// The only gateway to the AssemblyScript module (assembly/). It owns the module's linear
// memory layout (a bump arena above heapBase()), copies inputs in, maps status codes to
// SparrowError, and exposes typed decoders. Platform adapters (node.ts, browser, Worker)
// only supply a compiled WebAssembly.Module.

import { SparrowError } from '../errors.js';

/** Raw exports of build/sparrow.wasm (see assembly/index.ts). Pointers are byte offsets. */
interface Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  workBytes(n: number): number;
  // out (n) int8 ← payload; work: workBytes(n) scratch
  decodeDense(codec: number, src: number, srcLen: number, out: number, n: number, work: number): number;
  // rowPtr (rows+1) u32, col (cap) u16, val (cap) i8 (valBytes 1) or i16 (valBytes 2); dense: n bytes scratch
  decodeCsr(
    codec: number,
    src: number,
    srcLen: number,
    rows: number,
    cols: number,
    rowPtr: number,
    col: number,
    val: number,
    cap: number,
    work: number,
    dense: number,
    valBytes: number,
  ): number;
  // float32 kernels (assembly/f32/; layouts and contracts in their headers). GEMM:
  // C(M,N) = act(A(M,K)·Bp + bias); bp packed in 8-column panels; sizes/strides in elements;
  // biasMode 0 none / 1 per row / 2 per column; act 0 none / 1 clamp [lo, hi]
  f32_gemm__wasmsimd(
    M: number,
    N: number,
    K: number,
    a: number,
    lda: number,
    bp: number,
    c: number,
    ldc: number,
    bias: number,
    biasMode: number,
    act: number,
    lo: number,
    hi: number,
  ): void;
  f32_gemm_1x8__wasmsimd(
    M: number,
    N: number,
    K: number,
    a: number,
    lda: number,
    bp: number,
    c: number,
    ldc: number,
    bias: number,
    biasMode: number,
    act: number,
    lo: number,
    hi: number,
  ): void;
  f32_gemm_2x8__wasmsimd(
    M: number,
    N: number,
    K: number,
    a: number,
    lda: number,
    bp: number,
    c: number,
    ldc: number,
    bias: number,
    biasMode: number,
    act: number,
    lo: number,
    hi: number,
  ): void;
  f32_gemm_4x8__wasmsimd(
    M: number,
    N: number,
    K: number,
    a: number,
    lda: number,
    bp: number,
    c: number,
    ldc: number,
    bias: number,
    biasMode: number,
    act: number,
    lo: number,
    hi: number,
  ): void;
  f32_gemm_4x8__wasmsimd_splat(
    M: number,
    N: number,
    K: number,
    a: number,
    lda: number,
    bp: number,
    c: number,
    ldc: number,
    bias: number,
    biasMode: number,
    act: number,
    lo: number,
    hi: number,
  ): void;
  // bp ← B (K,N) row stride ldb, or Bᵀ (N,K) when transB ≠ 0; f32_packed_b_size floats
  f32_pack_b(K: number, N: number, b: number, ldb: number, transB: number, bp: number): void;
  f32_packed_b_size(K: number, N: number): number;
  // conv: g = 20-word geometry block (assembly/f32/conv.ts); 0 ok, -5 bad geometry
  f32_conv2d_4x8__wasmsimd(g: number, x: number, w: number, bias: number, y: number, work: number): number;
  f32_conv2d_work_bytes(g: number): number;
  f32_conv2d_igemm_4x8__wasmsimd(g: number, x: number, w: number, bias: number, y: number, work: number): number;
  f32_conv2d_igemm_work_bytes(g: number): number;
  f32_dwconv__wasmsimd(g: number, x: number, w: number, bias: number, y: number, work: number): number;
  f32_dwconv_work_bytes(g: number): number;
  f32_im2col__wasmsimd(g: number, x: number, work: number, dst: number): number;
  f32_im2col_work_bytes(g: number): number;
  // `iters` rounds of 96 independent f32x4 mul+add (bench); returns a checksum
  f32_peak__wasmsimd(iters: number): number;
  // int8 kernels (assembly/int8/; layouts, quant block q and per-channel params qp in
  // assembly/int8/common.ts; drivers in src/kernels/int8.ts). Status 0 ok, -5 bad arguments.
  // conv: g = the 20-word conv geometry (act words ignored), q = 8-word quant block,
  // x (C,H,W) int8, y (M,OH,OW) int8/f32/i32 by q's mode; wp = qs8_conv2d_pack_w blocks
  qs8_conv2d_4x8c2__wasmsimd(g: number, q: number, x: number, wp: number, qp: number, y: number, work: number): number;
  qs8_conv2d_work_bytes(g: number): number;
  // dst ← w (M, K) int8 as int16 k-pairs in 4-channel blocks, per group
  qs8_conv2d_pack_w(M: number, K: number, groups: number, w: number, dst: number): number;
  qs8_conv2d_packed_w_bytes(M: number, K: number, groups: number): number;
  // C(N,M) = Wp × Xp (xp = qs8_pack_x_c2 panels), y row stride ldy elements
  qs8_gemm_4x8c2__wasmsimd(N: number, M: number, K: number, wp: number, xp: number, q: number, qp: number, y: number, ldy: number): number;
  qs8_pack_x_c2(K: number, M: number, x: number, ldx: number, zx: number, dst: number): number;
  qs8_packed_x_bytes(K: number, M: number): number;
  // FC Y(M,N) = X(M,K)·Wᵀ, w (N,K) int8 as stored; work = qs8_fc_work_bytes(K)
  qs8_fc_1x4c8__wasmsimd(M: number, N: number, K: number, x: number, w: number, q: number, qp: number, y: number, work: number): number;
  qs8_fc_work_bytes(K: number): number;
  // sparse conv: sp = qs8_spconv_pack_w of the CSR (rowPtr (M+1) u32, col u16, val i8); pack returns #entries
  qs8_spconv2d_16x1c2__wasmsimd(g: number, q: number, x: number, sp: number, qp: number, y: number, work: number): number;
  qs8_spconv2d_work_bytes(g: number): number;
  qs8_spconv_pack_w(M: number, K: number, groups: number, rowPtr: number, col: number, val: number, nnz: number, dst: number): number;
  qs8_spconv_packed_bytes(M: number, nnz: number): number;
  // sparse conv on nonzero pairs: sp = the CSR with int16 values (decodeCsr valBytes 2), qs8_spconv_csr_bytes
  qs8_spconv2d_16x1__wasmsimd(g: number, q: number, x: number, sp: number, qp: number, y: number, work: number): number;
  qs8_spconv2d_nz_work_bytes(g: number): number;
  qs8_spconv_csr_bytes(M: number, nnz: number): number;
  qs8_spfc_1x1__scalar(
    M: number,
    N: number,
    K: number,
    x: number,
    rowPtr: number,
    col: number,
    val: number,
    nnz: number,
    q: number,
    qp: number,
    y: number,
    work: number,
  ): number;
  // depthwise (C = groups), w (M,1,KH,KW) int8 as stored
  qs8_dwconv2d__wasmsimd(g: number, q: number, x: number, w: number, qp: number, y: number, work: number): number;
  qs8_dwconv2d_work_bytes(g: number): number;
  // p = 12-word Add block (assembly/int8/ops.ts)
  qs8_add__wasmsimd(n: number, a: number, b: number, p: number, y: number): number;
  // single-multiplier Add: p = 8 words za, zb, zy, A, B, S, lo, hi (assembly/int8/ops.ts)
  qs8_vadd__wasmsimd(n: number, a: number, b: number, p: number, y: number): number;
  qs8_gavgpool__wasmsimd(
    C: number,
    HW: number,
    x: number,
    zx: number,
    m: number,
    shift: number,
    zy: number,
    lo: number,
    hi: number,
    y: number,
  ): number;
  // g: conv geometry with M = C
  qs8_maxpool2d__wasmsimd(g: number, x: number, y: number, work: number): number;
  qs8_maxpool2d_work_bytes(g: number): number;
  qs8_quantize__wasmsimd(n: number, x: number, scale: number, zp: number, y: number): number;
  qs8_dequantize__wasmsimd(n: number, x: number, scale: number, zp: number, y: number): number;
  // `iters` rounds of 24 dot_i16x8_s + add on 12 independent chains (bench); returns a checksum
  qs8_peak__wasmsimd(iters: number): number;
}

/** Status codes of assembly/codec.ts. */
const STATUS: Record<number, [SparrowError['code'], string]> = {
  [-1]: ['corrupt_stream', 'invalid block structure'],
  [-2]: ['corrupt_stream', 'payload ends before a size says it should (truncated stream)'],
  [-3]: ['unsupported_codec', 'unknown codec id'],
  [-4]: ['internal', 'output buffer too small'],
  [-5]: ['invalid_argument', 'bad CSR shape (rows·cols must equal n, cols ≤ 65536)'],
  [-6]: ['corrupt_stream', 'invalid Huffman code-length table'],
  [-7]: ['corrupt_stream', 'a Huffman stream length disagrees with its bits'],
  [-8]: ['corrupt_stream', 'symbol count disagrees with the tensor size'],
  [-9]: ['corrupt_stream', 'zero runs inconsistent with the tensor size or the value count'],
  [-10]: ['corrupt_stream', 'stray bytes after the last block'],
};

export function statusError(status: number, what: string): SparrowError {
  const s = STATUS[status];
  if (!s) return new SparrowError('internal', `${what}: unknown WASM status ${status}`);
  return new SparrowError(s[0], `${what}: ${s[1]} (status ${status})`);
}

const SLACK = 16; // readable bytes past every input (64-bit loads in the decoders)

export interface CsrResult {
  rows: number;
  cols: number;
  rowPtr: Uint32Array; // (rows+1)
  col: Uint16Array; // (nnz)
  val: Int8Array; // (nnz)
}

export class SparrowWasm {
  readonly exports: Exports;
  private top: number;
  private readonly base: number;

  private constructor(instance: WebAssembly.Instance) {
    this.exports = instance.exports as unknown as Exports;
    this.base = this.exports.heapBase();
    this.top = this.base;
  }

  /** Instantiates a compiled module (Workers import the .wasm as a module; Node/browsers compile it). */
  static async instantiate(module: WebAssembly.Module): Promise<SparrowWasm> {
    const instance = await WebAssembly.instantiate(module, {
      env: {
        abort(_msg: number, _file: number, line: number, col: number) {
          throw new SparrowError('internal', `WASM assertion failed at ${line}:${col}`);
        },
      },
    });
    return new SparrowWasm(instance);
  }

  get memory(): WebAssembly.Memory {
    return this.exports.memory;
  }

  /** Bytes of linear memory (for peak-memory reports). */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /** Allocates `bytes` (16-aligned) in the arena, growing memory as needed. */
  alloc(bytes: number): number {
    const p = this.top;
    const end = p + ((bytes + 15) & ~15);
    if (end > 0xffff_0000) throw new SparrowError('too_large', `WASM memory would exceed 4 GiB (${end} bytes)`);
    const have = this.exports.memory.buffer.byteLength;
    if (end > have) this.exports.memory.grow(Math.ceil((end - have) / 65536));
    this.top = end;
    return p;
  }

  /** Arena position, to `release` temporaries later. */
  mark(): number {
    return this.top;
  }

  release(mark: number): void {
    if (mark < this.base || mark > this.top) throw new SparrowError('internal', 'bad arena mark');
    this.top = mark;
  }

  /** Copies bytes into the arena followed by SLACK zero bytes; returns the pointer. */
  put(bytes: Uint8Array): number {
    const p = this.alloc(bytes.length + SLACK);
    const mem = new Uint8Array(this.exports.memory.buffer);
    mem.set(bytes, p);
    mem.fill(0, p + bytes.length, p + bytes.length + SLACK);
    return p;
  }

  u8(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer, ptr, len);
  }

  /**
   * Decodes an int8 tensor payload into arena memory at `outPtr` (n bytes, caller-owned).
   * Throws SparrowError on any corrupt input.
   */
  decodeInt8Into(codec: number, payload: Uint8Array, outPtr: number, n: number): void {
    const m = this.mark();
    try {
      const src = this.put(payload);
      const work = this.alloc(this.exports.workBytes(n));
      const st = this.exports.decodeDense(codec, src, payload.length, outPtr, n, work);
      if (st < 0) throw statusError(st, `decoding a ${n}-element int8 tensor`);
    } finally {
      this.release(m);
    }
  }

  /**
   * Pointer-level decode, no copies: the payload already sits in linear memory at `src`
   * (followed by ≥ 8 readable bytes), `work` holds workBytes(n). The load path of a
   * container placed into memory once uses this.
   */
  decodeInt8At(codec: number, src: number, srcLen: number, outPtr: number, n: number, work: number): void {
    const st = this.exports.decodeDense(codec, src, srcLen, outPtr, n, work);
    if (st < 0) throw statusError(st, `decoding a ${n}-element int8 tensor`);
  }

  /** Scratch bytes decodeInt8At needs for an n-element tensor. */
  workBytes(n: number): number {
    return this.exports.workBytes(n);
  }

  /** Decodes an int8 tensor payload and returns a JS copy. */
  decodeInt8(codec: number, payload: Uint8Array, n: number): Int8Array {
    const m = this.mark();
    try {
      const out = this.alloc(n);
      this.decodeInt8Into(codec, payload, out, n);
      return new Int8Array(this.exports.memory.buffer.slice(out, out + n));
    } finally {
      this.release(m);
    }
  }

  /** Decodes an int8 tensor payload straight to CSR (rows × cols) and returns JS copies. */
  /**
   * Decodes to CSR. valBytes 2 has the decoder write int16 values (the sparse conv kernel's
   * layout); they are returned narrowed to int8, and a value outside int8 throws.
   */
  decodeCsr(codec: number, payload: Uint8Array, rows: number, cols: number, valBytes: 1 | 2 = 1): CsrResult {
    const n = rows * cols;
    if (!Number.isSafeInteger(n) || n >= 2 ** 31) throw new SparrowError('invalid_argument', `CSR ${rows}x${cols} too large`);
    const cap = codec === 2 ? Math.min(n, rleNnz(payload)) : n;
    const m = this.mark();
    try {
      const src = this.put(payload);
      const work = this.alloc(this.exports.workBytes(n));
      const dense = codec === 2 ? 0 : this.alloc(n);
      const rowPtr = this.alloc((rows + 1) * 4),
        col = this.alloc(cap * 2),
        val = this.alloc(cap * valBytes);
      const nnz = this.exports.decodeCsr(codec, src, payload.length, rows, cols, rowPtr, col, val, cap, work, dense, valBytes);
      if (nnz < 0) throw statusError(nnz, `decoding a ${rows}x${cols} int8 tensor to CSR`);
      const buf = this.exports.memory.buffer;
      let v: Int8Array;
      if (valBytes === 2) {
        const wide = new Int16Array(buf, val, nnz);
        if (wide.some((x) => x < -128 || x > 127)) throw new SparrowError('internal', 'decodeCsr wrote an int16 value outside int8');
        v = Int8Array.from(wide);
      } else v = new Int8Array(buf.slice(val, val + nnz));
      return {
        rows,
        cols,
        rowPtr: new Uint32Array(buf.slice(rowPtr, rowPtr + (rows + 1) * 4)),
        col: new Uint16Array(buf.slice(col, col + nnz * 2)),
        val: v,
      };
    } finally {
      this.release(m);
    }
  }

  // ---- float32 kernels: thin wrappers, pointers in, nothing copied ----

  /** Float32 view of `len` floats at ptr (invalidated when memory grows). */
  f32(ptr: number, len: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, ptr, len);
  }

  /** Copies floats into the arena (16-aligned); returns the pointer. */
  putF32(data: Float32Array): number {
    const p = this.alloc(data.length * 4 + SLACK);
    this.f32(p, data.length).set(data);
    return p;
  }

  // ---- int8 views (kernels: src/kernels/int8.ts) ----

  /** Int8 view of `len` bytes at ptr (invalidated when memory grows). */
  i8(ptr: number, len: number): Int8Array {
    return new Int8Array(this.exports.memory.buffer, ptr, len);
  }

  /** Int32 view of `len` ints at ptr (invalidated when memory grows). */
  i32(ptr: number, len: number): Int32Array {
    return new Int32Array(this.exports.memory.buffer, ptr, len);
  }

  /** Copies any typed array's bytes into the arena (16-aligned, SLACK zero bytes after); returns the pointer. */
  putBytes(data: ArrayBufferView): number {
    return this.put(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** C(M,N) = act(A·Bp + bias) (assembly/f32/gemm.ts); all sizes/strides in elements. */
  gemmF32(
    M: number,
    N: number,
    K: number,
    a: number,
    lda: number,
    bp: number,
    c: number,
    ldc: number,
    bias = 0,
    biasMode = 0,
    act = 0,
    lo = -Infinity,
    hi = Infinity,
  ): void {
    this.exports.f32_gemm__wasmsimd(M, N, K, a, lda, bp, c, ldc, bias, biasMode, act, lo, hi);
  }

  /** Packs B (K,N) (or Bᵀ (N,K) when transB) into 8-column panels at bp (packedBSizeF32 floats). */
  packBF32(K: number, N: number, b: number, ldb: number, transB: boolean, bp: number): void {
    this.exports.f32_pack_b(K, N, b, ldb, transB ? 1 : 0, bp);
  }

  packedBSizeF32(K: number, N: number): number {
    return this.exports.f32_packed_b_size(K, N);
  }

  /** Conv of one NCHW image (igemm kernel) by the geometry block at g; throws on an inconsistent geometry. */
  conv2dF32(g: number, x: number, w: number, bias: number, y: number, work: number): void {
    const st = this.exports.f32_conv2d_igemm_4x8__wasmsimd(g, x, w, bias, y, work);
    if (st < 0) throw new SparrowError('invalid_argument', `f32 conv: inconsistent geometry (status ${st})`);
  }

  /** Depthwise conv (C/groups = 1) of one NCHW image; throws on an inconsistent geometry. */
  dwconv2dF32(g: number, x: number, w: number, bias: number, y: number, work: number): void {
    const st = this.exports.f32_dwconv__wasmsimd(g, x, w, bias, y, work);
    if (st < 0) throw new SparrowError('invalid_argument', `f32 depthwise conv: inconsistent geometry (status ${st})`);
  }

  /** Scratch bytes of conv2dF32 / dwconv2dF32 for the geometry at g (< 0: inconsistent geometry). */
  convWorkBytesF32(g: number, depthwise = false): number {
    return depthwise ? this.exports.f32_dwconv_work_bytes(g) : this.exports.f32_conv2d_igemm_work_bytes(g);
  }
}

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

/** The nnz varint at the start of an rle-huffman payload (0 if unreadable: the decoder reports it). */
function rleNnz(payload: Uint8Array): number {
  let v = 0;
  for (let i = 0; i < 5 && i < payload.length; i++) {
    const b = payload[i]!;
    v += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return v;
  }
  return 0;
}
