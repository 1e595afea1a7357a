// Which WASM build a platform runs: build/sparrow.wasm (SIMD128) everywhere, or
// build/sparrow.relaxed.wasm (the same source compiled with asc --enable relaxed-simd: its c4
// conv kernel uses i32x4.relaxed_dot_i8x16_i7x16_add_s, assembly/int8/relaxed.ts) where the
// engine accepts relaxed SIMD. Browsers and workerd pick with `relaxedSimdSupported()`.
// Node never runs the relaxed build: Node 20 (V8 11.3) ships relaxed SIMD only behind
// --experimental-wasm-relaxed-simd, whose implementation the project does not trust (issue 17),
// so the answer on Node is false even when the flag makes the probe validate.

/**
 * The smallest module that uses the instruction: (func (result v128)
 * (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.const 0) (v128.const 0) (v128.const 0))).
 */
function probeModule(): Uint8Array {
  const c = [0xfd, 0x0c, ...new Array<number>(16).fill(0)]; // v128.const 0
  const body = [0x00, ...c, ...c, ...c, 0xfd, 0x93, 0x02, 0x0b]; // no locals; 3 operands; 0xfd 0x113; end
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
    ...[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b], // type section: () → v128
    ...[0x03, 0x02, 0x01, 0x00], // function section: one function of type 0
    ...[0x0a, body.length + 2, 0x01, body.length, ...body], // code section
  ]);
}

/** True in Node (any version), whatever globals it polyfills; false in browsers and workerd. */
export function isNodeRuntime(): boolean {
  const g = globalThis as { process?: { versions?: { node?: unknown } }; navigator?: { userAgent?: unknown } };
  if (typeof g.process?.versions?.node !== 'string') return false;
  // workerd with nodejs_compat also has process.versions.node; its user agent says so
  return g.navigator?.userAgent !== 'Cloudflare-Workers';
}

let cached: boolean | undefined;

/** The relaxed build may run here: not Node, and the engine validates the relaxed dot product. */
export function relaxedSimdSupported(): boolean {
  if (cached !== undefined) return cached;
  if (isNodeRuntime()) return (cached = false);
  try {
    cached = typeof WebAssembly === 'object' && WebAssembly.validate(probeModule() as Uint8Array<ArrayBuffer>);
  } catch {
    cached = false;
  }
  return cached;
}

/** The probe's bytes (tests: Node validates it only with --experimental-wasm-relaxed-simd). */
export const RELAXED_PROBE: Uint8Array = probeModule();
