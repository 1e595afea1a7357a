// The Sparrow WASM module: every export is reached only through src/runtime/wasm.ts.
// Memory is owned by the caller (TS): it lays its buffers out above heapBase().

export { decodeDense, decodeCsr, denseToCsr, workBytes } from './codec';

/** First byte of linear memory free for the caller's buffers. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~<usize>15;
}
