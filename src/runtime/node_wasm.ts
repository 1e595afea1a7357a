// How the engines reach the Node adapter's compiled module (src/wasm/node.ts: build/sparrow.wasm
// read from disk) without importing it: Workers and browsers pass their own module
// (SessionOptions.wasmModule) and their bundles must leave the adapter (node:fs) out, as
// src/runtime/onnx_import.ts does for the ONNX importer. The adapter comes from one of two places:
//  - the package entry and the CLI (src/index.ts, src/cli/main.ts) import the adapter anyway and
//    register it here, so their bundles (dist/pkg, scripts/bundle.mjs) run their own copy and
//    load no file of dist/ beside it;
//  - otherwise (tests, scripts, anything importing session.ts directly in Node) it is loaded on
//    first use through a specifier that is not a literal, which bundlers leave alone and Node
//    (dist/) and vitest resolve relative to this file.

export type NodeWasmCompiler = () => Promise<WebAssembly.Module>;

let registered: NodeWasmCompiler | undefined;

/** Hands the Node adapter's compiler over to the engines (called by the package entry and the CLI). */
export function registerNodeWasm(compile: NodeWasmCompiler): void {
  registered = compile;
}

/** build/sparrow.wasm compiled by the Node adapter (cached per process there); rejects where there is none. */
export async function nodeWasmModule(): Promise<WebAssembly.Module> {
  if (registered) return registered();
  const spec = '../wasm/node.js'; // a variable: bundlers for browsers and Workers leave it out
  const node = (await import(/* @vite-ignore */ spec)) as typeof import('../wasm/node.js');
  return node.compileNodeModule();
}
