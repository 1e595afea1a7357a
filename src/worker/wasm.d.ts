// wrangler (and vitest-pool-workers) turn `import m from './x.wasm'` into a compiled
// WebAssembly.Module (module rule CompiledWasm): Workers may not compile WASM from bytes.
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
