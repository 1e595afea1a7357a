// The only gateway to the AssemblyScript module (assembly/, built to build/sparrow.wasm). It
// instantiates a compiled WebAssembly.Module (platform adapters supply it: src/wasm/node.ts
// compiles it from disk, Workers import the .wasm as a module, browsers stream it), owns the
// module's linear memory layout (a bump arena above heapBase(), marks and releases), copies
// inputs in, maps status codes to SparrowError and exposes the decoders. The exports are typed by
// src/wasm/exports.gen.ts, generated from asc's declarations: a signature is written once, in
// assembly/. Kernel drivers (src/kernels/, src/codec/) call `exports` through this class only.
//
// Instantiation is WebAssembly.instantiate of a precompiled Module (as Workers require; abort
// messages of debug builds decoded from the module's strings by asString); kernels are called on
// the raw instance exports (docs/development.md, "The WASM gateway"). Not @assemblyscript/loader's
// instantiate: it asks `typeof Response`, and in Node that first touch loads undici, ~35 ms of a
// ~85 ms cold load (docs/engine.md, "Where a cold load goes").
import { SparrowError } from '../errors.js';
import type { WasmExports } from './exports.gen.js';
import type { ThreadPool } from './threads.js';

export type { WasmExports } from './exports.gen.js';

/**
 * The AssemblyScript string at `ptr` in `memory` (UTF-16LE, its byte length in the object header
 * at ptr − 4), or '?' for a pointer outside memory; a length past the end is cut there.
 */
export function asString(memory: WebAssembly.Memory, ptr: number): string {
  const buf = memory.buffer;
  if (!Number.isInteger(ptr) || ptr < 4 || ptr > buf.byteLength) return '?';
  const bytes = new DataView(buf).getUint32(ptr - 4, true);
  const n = Math.min(bytes, buf.byteLength - ptr) >>> 1;
  const units = new Uint16Array(buf.slice(ptr, ptr + 2 * n));
  let s = '';
  for (let i = 0; i < n; i += 4096) s += String.fromCharCode(...units.subarray(i, i + 4096));
  return s;
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

/**
 * Linear memory above heapBase() holds two kinds of allocation:
 *  - a bump stack (`alloc`, `mark`, `release`): weights placed once, and temporaries released
 *    in LIFO order (never below a live block);
 *  - blocks (`malloc`, `free`) that are given back in any order and reused: the memory of
 *    compiled plans, which a bounded plan cache evicts. Freed blocks go to an address-ordered
 *    free list (first fit, neighbours coalesced); a block is taken from the stack top when none
 *    fits, and returns to it when it is the topmost.
 * Block sizes live in a JS map, not in linear memory: a kernel writing out of bounds cannot
 * corrupt the allocator. WASM memory never shrinks; reuse is what keeps it flat.
 */
export class SparrowWasm {
  /** the module's exports, raw (pointers are byte offsets into `memory`) */
  readonly exports: WasmExports;
  private top: number;
  private readonly base: number;
  /** live blocks: pointer → bytes */
  readonly #blocks = new Map<number, number>();
  /** free blocks, by address */
  #free: Array<{ ptr: number; bytes: number }> = [];
  /** end of the highest live block taken from the stack (release may not go below it) */
  #blockTop = 0;
  #blockBytes = 0;
  /**
   * Linear memory never grows beyond this many bytes: a grow past it throws
   * SparrowError('too_large') before any memory is taken (a model's share of an isolate's
   * budget: the Worker sets it). Default: no limit but the 4 GiB of wasm32.
   */
  maxBytes = Infinity;

  /**
   * true for build/sparrow.relaxed.wasm (asc --enable relaxed-simd): its c4 conv kernel uses
   * i32x4.relaxed_dot_i8x16_i7x16_add_s (assembly/int8/relaxed.ts); false for the plain build
   */
  readonly relaxed: boolean;

  private constructor(exports: WasmExports) {
    this.exports = exports;
    this.relaxed = exports.qs8_relaxed_build() === 1;
    this.base = this.exports.heapBase();
    this.top = this.base;
  }

  /**
   * Instantiates a compiled module (Workers import the .wasm as a module; Node and browsers
   * compile it) with its own memory, and runs its start function once.
   */
  static async instantiate(module: WebAssembly.Module, opts: { memory?: WebAssembly.Memory; start?: boolean } = {}): Promise<SparrowWasm> {
    const { imports, bind } = SparrowWasm.#imports(opts.memory);
    const raw = (await WebAssembly.instantiate(module, imports)).exports as unknown as WasmExports;
    bind(raw);
    // start: false leaves the start function to `start()` (threads: after the helpers instantiated)
    if (opts.start !== false) raw._initialize();
    return new SparrowWasm(raw);
  }

  /**
   * instantiate, synchronously (`new WebAssembly.Instance`), start function run: the small
   * helper instances made where nothing may be awaited (src/wasm/decode.ts; workerd cancels a
   * promise shared between requests).
   */
  static instantiateSync(module: WebAssembly.Module, opts: { memory?: WebAssembly.Memory } = {}): SparrowWasm {
    const { imports, bind } = SparrowWasm.#imports(opts.memory);
    const raw = new WebAssembly.Instance(module, imports).exports as unknown as WasmExports;
    bind(raw);
    raw._initialize();
    return new SparrowWasm(raw);
  }

  /** The module's imports (`memory`: a threads build's shared memory); `bind` gives abort the instance's strings. */
  static #imports(memory?: WebAssembly.Memory): { imports: WebAssembly.Imports; bind(raw: WasmExports): void } {
    let text = (_ptr: number): string => '?';
    const imports = {
      env: {
        // debug builds only (release builds are compiled with noAssert)
        abort(msg: number, file: number, line: number, col: number) {
          throw new SparrowError('internal', `WASM assertion failed: ${text(msg)} at ${text(file)}:${line}:${col}`);
        },
        // the threads builds import their (shared) memory: src/wasm/threads.ts
        ...(memory ? { memory } : {}),
      },
    };
    return { imports, bind: (raw) => void (text = (ptr) => asString(raw.memory, ptr)) };
  }

  /** Runs the module's start function (CRC tables, codec state); instantiate does unless told not to. */
  start(): void {
    this.exports._initialize();
  }

  /**
   * The helper threads of a threads build (src/wasm/threads.ts instantiateThreaded), or
   * undefined: one thread. The int8 conv lowering splits its work over them.
   */
  pool: ThreadPool | undefined;

  get memory(): WebAssembly.Memory {
    return this.exports.memory;
  }

  /** Bytes of linear memory (for peak-memory reports). */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /** Bytes in live blocks (malloc'd, not freed). */
  get blockBytes(): number {
    return this.#blockBytes;
  }

  /** Bytes of linear memory in use: the stack up to its top, minus the free blocks inside it. */
  get usedBytes(): number {
    let free = 0;
    for (const f of this.#free) free += f.bytes;
    return this.top - this.base - free;
  }

  #grow(end: number): void {
    if (end > 0xffff_0000) throw new SparrowError('too_large', `WASM memory would exceed 4 GiB (${end} bytes)`);
    const have = this.exports.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / 65536);
    if (have + pages * 65536 > this.maxBytes) {
      throw new SparrowError(
        'too_large',
        `WASM memory needs at least ${have + pages * 65536} bytes, over this instance's limit of ${this.maxBytes} bytes`,
      );
    }
    try {
      this.exports.memory.grow(pages);
    } catch (e) {
      throw new SparrowError('too_large', `WASM memory cannot grow to ${end} bytes: ${(e as Error).message}`);
    }
  }

  /** Allocates `bytes` (16-aligned) on the stack, growing memory as needed. */
  alloc(bytes: number): number {
    const p = this.top;
    const end = p + Math.ceil(bytes / 16) * 16; // not `& ~15`: int32, a request past 2 GiB would wrap
    this.#grow(end);
    this.top = end;
    return p;
  }

  /** Stack position, to `release` temporaries later. */
  mark(): number {
    return this.top;
  }

  release(mark: number): void {
    if (mark < this.base || mark > this.top) throw new SparrowError('internal', 'bad arena mark');
    if (mark < this.#blockTop) throw new SparrowError('internal', 'release below a live block (a block was allocated after the mark)');
    this.top = mark;
  }

  /** A block of `bytes` (16-aligned, ≥ 16) that `free` gives back for reuse. */
  malloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new SparrowError('internal', `malloc(${bytes})`);
    const need = Math.max(16, Math.ceil(bytes / 16) * 16);
    const i = this.#free.findIndex((f) => f.bytes >= need);
    let p: number;
    if (i >= 0) {
      const f = this.#free[i]!;
      p = f.ptr;
      if (f.bytes === need) this.#free.splice(i, 1);
      else {
        f.ptr += need;
        f.bytes -= need;
      }
    } else {
      p = this.alloc(need);
    }
    this.#blockTop = Math.max(this.#blockTop, p + need);
    this.#blocks.set(p, need);
    this.#blockBytes += need;
    return p;
  }

  /** Gives a block from `malloc` back. */
  free(ptr: number): void {
    const bytes = this.#blocks.get(ptr);
    if (bytes === undefined) throw new SparrowError('internal', `free(${ptr}): not a live block`);
    this.#blocks.delete(ptr);
    this.#blockBytes -= bytes;
    // insert by address, coalescing with the neighbours
    let i = this.#free.findIndex((f) => f.ptr > ptr);
    if (i < 0) i = this.#free.length;
    this.#free.splice(i, 0, { ptr, bytes });
    const next = this.#free[i + 1];
    if (next && ptr + bytes === next.ptr) {
      this.#free[i]!.bytes += next.bytes;
      this.#free.splice(i + 1, 1);
    }
    const prev = this.#free[i - 1];
    if (prev && prev.ptr + prev.bytes === ptr) {
      prev.bytes += this.#free[i]!.bytes;
      this.#free.splice(i, 1);
      i--;
    }
    // a free block at the top of the stack goes back to it
    const last = this.#free[this.#free.length - 1];
    if (last && last.ptr + last.bytes === this.top) {
      this.top = last.ptr;
      this.#free.pop();
    }
    if (ptr + bytes >= this.#blockTop) {
      this.#blockTop = 0;
      for (const [p, b] of this.#blocks) this.#blockTop = Math.max(this.#blockTop, p + b);
    }
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
