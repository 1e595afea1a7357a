// The structure of the code base as CI enforces it: the layer order of src/ (scripts/check-layers.mjs),
// the generated WASM export types (scripts/gen-wasm-types.mjs), the kernel tiles generated from
// their templates (scripts/gen-kernels.mjs) and the one version string.
import { describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
// @ts-expect-error: plain ESM scripts without declarations
import { checkLayers, importsOf, rankOf, unitOf } from '../scripts/check-layers.mjs';
// @ts-expect-error: plain ESM scripts without declarations
import { generate } from '../scripts/gen-wasm-types.mjs';
// @ts-expect-error: plain ESM scripts without declarations
import { OUTPUTS, check as checkKernels, expand } from '../scripts/gen-kernels.mjs';
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

describe('generated kernel tiles (scripts/gen-kernels.mjs)', () => {
  type Entry = { template: string; output: string; params: Record<string, unknown> };
  const entries = OUTPUTS as Entry[];

  it('every generated file is what its template gives, with the GENERATED header', () => {
    expect(checkKernels()).toEqual([]);
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) {
      expect(e.output).toMatch(/^assembly\/.+\/gen\/[^/]+\.ts$/);
      expect(readFileSync(e.output, 'utf8').split('\n')[0]).toBe(
        `// GENERATED by scripts/gen-kernels.mjs from ${e.template}; do not edit.`,
      );
    }
  });

  it('reports a generated file edited by hand, a missing one and a stray file in gen/', () => {
    const root = mkdtempSync(join(tmpdir(), 'gen-kernels-'));
    try {
      for (const e of entries) for (const f of [e.template, e.output]) cpSync(f, join(root, f));
      expect(checkKernels(root)).toEqual([]);
      const [a, b] = entries as [Entry, Entry];
      writeFileSync(join(root, a.output), readFileSync(a.output, 'utf8').replace('acc0x0', 'acc0x9'));
      rmSync(join(root, b.output));
      writeFileSync(join(root, a.output.replace(/[^/]+$/, 'stray.ts')), '');
      expect(checkKernels(root)).toEqual([
        `${a.output}: out of date with ${a.template}`,
        `${b.output}: missing`,
        `${a.output.replace(/[^/]+$/, 'stray.ts')}: in a gen/ folder but no template writes it`,
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('expands $ lines as JavaScript and ${...} in the others', () => {
    const tpl = [
      '// n = ${N}',
      '$for (let i = 0; i < N; i++) {',
      '$if (i % 2 === 0) {',
      "even ${i}: ${rows(i, (j) => `x${j}`, ', ')}",
      '$}',
      '$}',
    ];
    expect(expand(tpl.join('\n'), { N: 5 })).toBe('// n = 5\neven 0: \neven 2: x0, x1\neven 4: x0, x1, x2, x3\n');
    expect(() => expand('a `b`', {})).toThrow(/backtick/);
    expect(() => expand('$for (', {}, 't.in')).toThrow(/t.in: the template does not compile/);
  });

  it('the GEMM template gives any tile height: 1..MR tiles, the row loop over the largest, exact tails', () => {
    const gemm = entries.find((e) => e.output.endsWith('gemm_mrx8.ts'))!;
    const tpl = readFileSync(gemm.template, 'utf8');
    const six = expand(tpl, { TILES: [1, 2, 3, 4, 5, 6], EXPORTED: [6] });
    for (let m = 1; m <= 6; m++) expect(six).toContain(`function ukernel_${m}x8(`);
    expect(six).toContain('for (; m0 + 6 <= M; m0 += 6) {\n    ukernel_6x8(6,');
    expect(six).toContain('if (rest == 5) ukernel_5x8(5,');
    expect(six).toContain('else ukernel_1x8_ind(1,');
    expect(six).toContain('acc5x1 = f32x4.add(acc5x1, f32x4.mul(va5, b1));');
    expect(six).toContain('if (mr <= 5) { a5 = a4; c5 = c4; br5 = br4; }');
    expect(six).toContain('export function f32_gemm_6x8__wasmsimd(');
    const one = expand(tpl, { TILES: [1], EXPORTED: [] });
    expect(one).not.toContain('const rest');
    expect(() => expand(tpl, { TILES: [1, 2, 4], EXPORTED: [] })).toThrow(/TILES must be 1..MR/);
  });
});

describe('version', () => {
  it('src/util/version.ts is the package version', () => {
    expect(VERSION).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });
});
