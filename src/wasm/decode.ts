// int8 tensor streams decoded in WASM (assembly/codec.ts decodeDense) into JS copies, for the
// float32 constants a `.sparrow` graph gets from its quantized weights (src/format/graph.ts:
// sparrow-f32 dequantizes every one at load, sparrow-int8 those of the layers it runs in
// float32). The TS reference decoder (src/codec/int8.ts decodeInt8Ref) gives the same bytes and
// is what the format layer falls back to; in a cold process it ran ~70 ms of a ~100 ms load of
// MobileNetV3-Small's .sparrow (2.5 M weights; docs/engine.md).
//
// One small instance of the module per decoder (a SparrowWasm: its scratch stack and memory
// limits), instantiated synchronously on the first decode (as src/wasm/crc32.ts: no promise
// shared between requests, which workerd would cancel). Its memory grows to the largest tensor
// decoded (payload + n + the decoder's work area) and is given back with the instance:
// `release()` drops it once the session that made the decoder has loaded (WASM memory never
// shrinks, so a decoder kept alive would keep that peak).
import { SparrowError } from '../errors.js';
import { SparrowWasm, statusError } from './gateway.js';
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

/** assembly/codec.ts: bad CSR / row shape */
const STATUS_SHAPE = -5;

/** A decoder running in its own instance of `module` (created on the first decode). */
export function wasmInt8Decoder(module: WebAssembly.Module): WasmInt8Decoder {
  let w: SparrowWasm | undefined;
  /** Decodes into the instance's scratch, hands the output's address to `use`, releases the scratch. */
  const run = <T>(codec: number, payload: Uint8Array, n: number, use: (w: SparrowWasm, out: number) => T): T => {
    // a threads build imports a shared memory (src/wasm/threads.ts): this instance gets its own
    w ??= SparrowWasm.instantiateSync(module, importsMemory(module) ? { memory: sharedMemory() } : {});
    const m = w.mark();
    try {
      // payload (+ slack) | out (n) | work (workBytes(n))
      const src = w.put(payload),
        out = w.alloc(n),
        work = w.alloc(w.workBytes(n));
      const st = w.exports.decodeDense(codec, src, payload.length, out, n, work);
      // status -5 (rows × cols ≠ n) here means a stream whose own shape header disagrees with the
      // tensor: a corrupt file, as the reference decoder reports it
      if (st === STATUS_SHAPE)
        throw new SparrowError(
          'corrupt_stream',
          `decoding a ${n}-element int8 tensor: the stream's rows × cols are not ${n} (status ${st})`,
        );
      if (st < 0) throw statusError(st, `decoding a ${n}-element int8 tensor`);
      return use(w, out);
    } finally {
      w.release(m);
    }
  };
  return {
    decode: (codec, payload, n) => run(codec, payload, n, (x, out) => x.i8(out, n).slice()),
    check: (codec, payload, n) => run(codec, payload, n, () => undefined),
    release: () => {
      w = undefined;
    },
  };
}
