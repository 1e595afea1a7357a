// Node adapter: compiles build/sparrow.wasm from disk (Workers import it as a module instead).
import { readFile } from 'node:fs/promises';
import { SparrowError } from '../errors.js';
import { SparrowWasm } from './gateway.js';

const cache = new Map<string, Promise<WebAssembly.Module>>();

export function wasmPath(variant: 'release' | 'debug' = 'release'): URL {
  // same relative path from src/runtime (vitest) and dist/runtime (built CLI)
  return new URL(variant === 'release' ? '../../build/sparrow.wasm' : '../../build/sparrow.debug.wasm', import.meta.url);
}

export function compileNodeModule(variant: 'release' | 'debug' = 'release'): Promise<WebAssembly.Module> {
  let p = cache.get(variant);
  if (!p) {
    p = readFile(wasmPath(variant)).then(
      (bytes) => WebAssembly.compile(bytes),
      (e: unknown) => {
        throw new SparrowError('io_error', `cannot read ${wasmPath(variant).pathname} (run \`npm run build\`): ${(e as Error).message}`);
      },
    );
    cache.set(variant, p);
  }
  return p;
}

/** A fresh SparrowWasm instance (own memory) for Node. */
export async function loadWasmNode(variant: 'release' | 'debug' = 'release'): Promise<SparrowWasm> {
  return SparrowWasm.instantiate(await compileNodeModule(variant));
}
