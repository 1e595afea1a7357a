// The structure of the code base as CI enforces it: the layer order of src/ (scripts/check-layers.mjs),
// the generated WASM export types (scripts/gen-wasm-types.mjs) and the one version string.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
// @ts-expect-error: plain ESM scripts without declarations
import { checkLayers, importsOf, rankOf, unitOf } from '../scripts/check-layers.mjs';
// @ts-expect-error: plain ESM scripts without declarations
import { generate } from '../scripts/gen-wasm-types.mjs';
import { VERSION } from '../src/util/version.js';

type Problem = { file: string; line: number; spec: string; message: string };
const check = (files: Record<string, string>): Problem[] => checkLayers(new Map(Object.entries(files)));

function sources(dir: string, base = dir, out = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, base, out);
    else if (/\.(ts|mjs|js)$/.test(name)) out.set(relative(base, p), readFileSync(p, 'utf8'));
  }
  return out;
}

describe('layers (scripts/check-layers.mjs)', () => {
  it('src/ follows the layer order', () => {
    expect(checkLayers(sources('src'))).toEqual([]);
  });

  it('finds an import that runs up a layer, with its line', () => {
    const p = check({ 'ir/graph.ts': "import { a } from '../ops/types.js';\n\nimport type { B } from '../runtime/session.js';\n" });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ file: 'ir/graph.ts', line: 3, spec: '../runtime/session.js' });
    expect(p[0]!.message).toMatch(/'ir' \(layer 3\) imports 'runtime' \(layer 5\)/);
  });

  it('finds dynamic imports and re-exports, and skips comments', () => {
    const p = check({
      'wasm/x.ts':
        "// import { a } from '../compress/a.js';\n/* import '../compress/b.js' */\nexport { c } from '../codec/c.js';\nawait import('../io/d.js');\n",
    });
    expect(p.map((x) => x.spec)).toEqual(['../codec/c.js', '../io/d.js']);
  });

  it('peers of one layer may import each other one way only', () => {
    expect(check({ 'kernels/a.ts': "import { q } from '../quant/int8.js';", 'quant/int8.ts': '' })).toEqual([]);
    const p = check({ 'kernels/a.ts': "import { q } from '../quant/int8.js';", 'quant/int8.ts': "import { k } from '../kernels/a.js';" });
    expect(p).toHaveLength(1);
    expect(p[0]!.message).toMatch(/peers 'kernels' and 'quant' import each other/);
  });

  it('only faces import the compiled module; folders without a layer are reported', () => {
    expect(check({ 'worker/index.ts': "import wasm from '../../build/sparrow.wasm';" })).toEqual([]);
    expect(check({ 'runtime/x.ts': "import wasm from '../../build/sparrow.wasm';" })[0]!.message).toMatch(/only faces/);
    expect(check({ 'misc/x.ts': '' })[0]!.message).toMatch(/has no layer/);
  });

  it('units and ranks', () => {
    expect(unitOf('errors.ts')).toBe('errors');
    expect(unitOf('index.ts')).toBe('index');
    expect(unitOf('ops/ref/conv.ts')).toBe('ops');
    expect(rankOf('errors')).toBe(0);
    expect(rankOf('wasm')).toBe(1);
    expect(rankOf('index')).toBeGreaterThan(rankOf('compress'));
    expect(importsOf("import x from './a.js';\nexport * from \"../b.js\";\nimport 'node:fs';")).toEqual([
      { spec: './a.js', line: 1 },
      { spec: '../b.js', line: 2 },
    ]);
  });
});

describe('generated WASM export types (scripts/gen-wasm-types.mjs)', () => {
  it('turns asc declarations into one typed interface', () => {
    const dts = `declare namespace __AdaptedExports {
  /** Exported memory */
  export const memory: WebAssembly.Memory;
  /**
   * assembly/codec/decodeDense
   * @param codec \`u32\`
   * @param src \`usize\`
   * @returns \`i32\`
   */
  export function decodeDense(codec: number, src: number): number;
  /**
   * assembly/f32/peak/f32_peak__wasmsimd
   * @param iters \`i32\`
   * @returns \`f32\`
   */
  export function f32_peak__wasmsimd(iters: number): number;
}
/** Instantiates the compiled WebAssembly module with the given imports. */
export declare function instantiate(module: WebAssembly.Module, imports: {}): Promise<typeof __AdaptedExports>;
`;
    const out: string = generate(dts);
    expect(out).toContain('memory: WebAssembly.Memory;');
    expect(out).toContain('/** assembly/codec/decodeDense */\n  decodeDense(codec: u32, src: usize): i32;');
    expect(out).toContain('f32_peak__wasmsimd(iters: i32): f32;');
    for (const t of ['f32', 'i32', 'u32', 'usize']) expect(out).toContain(`type ${t} = number;`);
    expect(out).toContain('_initialize(): void;');
  });
});

describe('version', () => {
  it('src/util/version.ts is the package version', () => {
    expect(VERSION).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });
});
