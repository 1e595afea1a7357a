// int8 tensor streams decoded in WASM (assembly/codec.ts decodeDense) into JS copies, for the
// float32 constants a `.sparrow` graph gets from its quantized weights (src/format/graph.ts:
// sparrow-f32 dequantizes every one at load, sparrow-int8 those of the layers it runs in
// float32). The TS reference decoder (src/codec/int8.ts decodeInt8Ref) gives the same bytes and
// is what the format layer falls back to; in a cold process it ran ~70 ms of a ~100 ms load of
// MobileNetV3-Small's .sparrow (2.5 M weights; docs/engine.md).
//
// One small instance of the module per decoder, instantiated synchronously on the first decode
// (as src/wasm/crc32.ts: no promise shared between requests, which workerd would cancel). Its
// memory grows to the largest tensor decoded (payload + n + the decoder's work area) and is
// given back with the instance: `release()` drops it once the session that made the decoder
// has loaded (WASM memory never shrinks, so a decoder kept alive would keep that peak).
import { SparrowError } from '../errors.js';
import type { WasmExports } from './exports.gen.js';
import { statusError } from './gateway.js';
import { importsMemory, sharedMemory } from './threads.js';

/** Decodes an int8 stream (container codec id, payload) of n elements. */
export type Int8Decode = (codec: number, payload: Uint8Array, n: number) => Int8Array;

export interface WasmInt8Decoder {
  decode: Int8Decode;
  /** Decodes and drops the result: throws where `decode` throws (the Worker's admission check). */
  check(codec: number, payload: Uint8Array, n: number): void;
  /** Drops the instance and its memory; a later decode instantiates again. */
  release(): void;
}

/** Readable bytes past the payload (the decoders load 64 bits at a time), as SparrowWasm.put. */
const SLACK = 16;
/** assembly/codec.ts: bad CSR / row shape */
const STATUS_SHAPE = -5;
const align16 = (n: number): number => (n + 15) & ~15;

/** A decoder running in its own instance of `module` (created on the first decode). */
export function wasmInt8Decoder(module: WebAssembly.Module): WasmInt8Decoder {
  let ex: WasmExports | undefined;
  let base = 0;
  /** The instance (made on first use), its memory grown to hold `bytes` above the heap base. */
  const instance = (bytes = 0): WasmExports => {
    if (!ex) {
      // a threads build imports a shared memory (src/wasm/threads.ts): this instance gets its own
      const imports: WebAssembly.Imports = {
        env: { abort: () => undefined, ...(importsMemory(module) ? { memory: sharedMemory() } : {}) },
      };
      ex = new WebAssembly.Instance(module, imports).exports as unknown as WasmExports;
      ex._initialize();
      base = align16(ex.heapBase());
    }
    const need = base + bytes;
    if (need > 0xffff_0000) throw new SparrowError('too_large', `WASM memory would exceed 4 GiB (${need} bytes)`);
    const have = ex.memory.buffer.byteLength;
    try {
      if (need > have) ex.memory.grow(Math.ceil((need - have) / 65536));
    } catch (e) {
      throw new SparrowError('too_large', `WASM memory cannot grow to ${need} bytes: ${(e as Error).message}`);
    }
    return ex;
  };
  /** Decodes into the instance's memory; returns the output's address there. */
  const run = (codec: number, payload: Uint8Array, n: number): { x: WasmExports; out: number } => {
    // payload (+ SLACK) | out (n) | work (workBytes(n)), each 16-byte aligned, above the heap base
    const o = align16(payload.length + SLACK),
      w = o + align16(n);
    const x = instance(w + instance().workBytes(n));
    const src = base,
      out = base + o;
    const mem = new Uint8Array(x.memory.buffer);
    mem.set(payload, src);
    mem.fill(0, src + payload.length, src + payload.length + SLACK);
    const st = x.decodeDense(codec, src, payload.length, out, n, base + w);
    // status -5 (rows × cols ≠ n) here means a stream whose own shape header disagrees with the
    // tensor: a corrupt file, as the reference decoder reports it
    if (st === STATUS_SHAPE)
      throw new SparrowError('corrupt_stream', `decoding a ${n}-element int8 tensor: the stream's rows × cols are not ${n} (status ${st})`);
    if (st < 0) throw statusError(st, `decoding a ${n}-element int8 tensor`);
    return { x, out };
  };
  const decode: Int8Decode = (codec, payload, n) => {
    const { x, out } = run(codec, payload, n);
    return new Int8Array(x.memory.buffer.slice(out, out + n));
  };

  return {
    decode,
    check: (codec, payload, n) => void run(codec, payload, n),
    release: () => {
      ex = undefined;
    },
  };
}
