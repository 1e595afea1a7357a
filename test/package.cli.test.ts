// The published package as a user gets it (issue 16, part 1): `npm pack` of the built tree,
// installed OFFLINE into a fresh temporary project (`npm ci --offline` with a lockfile copied from
// ours, test/helpers/pack_lock.mjs: the npm cache that our own install filled is the only
// source), then used three ways, each checked against onnxruntime-node on the same input:
//   - the CLI from node_modules/.bin: `sparrow --version`, `sparrow run`, `sparrow compress`;
//   - the library imported as ESM by name ('sparrow-edge', '/browser'; '/worker' and the wasm resolve);
//   - a strict TypeScript consumer (`--strict --skipLibCheck false`) under moduleResolution
//     node16, bundler and node (the old resolver: main/types/typesVersions).
// Needs `npm run build` (dist/, build/sparrow.wasm) like every cli-tier test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { build as esbuild } from 'esbuild';
import { parseNpy, writeNpy } from '../src/io/npy.js';
// @ts-expect-error a plain .mjs helper (no types)
import { consumerLock } from './helpers/pack_lock.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const MNIST = join(ROOT, 'examples/models/mnist-8.onnx');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

let tmp = '';
let proj = '';
let packed: string[] = [];
let input: Float32Array;
let expected: Float32Array; // onnxruntime-node's logits for `input`

function sh(cmd: string, args: string[], opts: SpawnSyncOptions = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 240_000, maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function ok(r: { status: number | null; stdout: string; stderr: string }, what: string): string {
  expect(r.status, `${what}\n${r.stderr}\n${r.stdout}`).toBe(0);
  return r.stdout;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

beforeAll(async () => {
  for (const f of ['dist/cli/main.js', 'dist/index.d.ts', 'dist/worker/index.js', 'build/sparrow.wasm'])
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first`);
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-pack-'));
  // 1. the tarball (no prepare script: the tree is built already)
  const out = ok(sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: ROOT }), 'npm pack');
  const info = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packed = info[0]!.files.map((f) => f.path);
  const tarball = info[0]!.filename.replace(/^@/, '').replace(/\//, '-');
  // 2. a fresh project that depends on it, installed from the npm cache only
  proj = join(tmp, 'consumer');
  mkdirSync(proj);
  const spec = `file:../${tarball}`;
  writeFileSync(
    join(proj, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { [PKG.name]: spec } }, null, 2),
  );
  const { lock, missing } = consumerLock(ROOT, spec) as { lock: unknown; missing: string[] };
  expect(missing).toEqual([]);
  writeFileSync(join(proj, 'package-lock.json'), JSON.stringify(lock, null, 2));
  ok(sh('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: proj }), 'npm ci --offline');
  // 3. the oracle: onnxruntime-node on one input
  // a real digit (MNIST t10k record 0, pixel/255): compressed and float models agree on its class
  const digits = parseNpy(readFileSync(join(ROOT, 'examples/calib/mnist-t10k-0-63.npy')));
  input = Float32Array.from((digits.data as Uint8Array).subarray(0, 784), (v) => v / 255);
  writeFileSync(join(tmp, 'x.npy'), writeNpy(input, [1, 1, 28, 28]));
  const s = await ort.InferenceSession.create(readFileSync(MNIST));
  const r = await s.run({ Input3: new ort.Tensor('float32', input, [1, 1, 28, 28]) });
  expected = r['Plus214_Output_0']!.data as Float32Array;
  await s.release();
}, 600_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships what runs (dist, the wasm, bin, README, LICENSE) and no sources, tests or examples', () => {
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'bin/sparrow.js',
      'build/sparrow.wasm',
      'build/sparrow.relaxed.wasm',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'dist/browser/index.js',
      'dist/browser/index.d.ts',
      'dist/worker/index.js',
      'dist/worker/index.d.ts',
      // the bundled entries package.json "exports" point at (scripts/bundle.mjs)
      'dist/pkg/index.js',
      'dist/pkg/browser.js',
      'dist/pkg/worker.js',
    ])
      expect(packed, f).toContain(f);
    expect(packed.filter((f) => /^(src|test|examples|assembly|scripts|demo|public)\//.test(f))).toEqual([]);
    expect(packed.filter((f) => f.endsWith('.map'))).toEqual([]);
  });
});

describe('the installed package', () => {
  const bin = (): string => join(proj, 'node_modules/.bin/sparrow');

  it('runs the CLI: --version, run (= onnxruntime-node), compress then run the .sparrow', () => {
    expect(ok(sh(bin(), ['--version'], { cwd: proj }), 'sparrow --version').trim()).toBe(PKG.version);
    const outDir = join(tmp, 'run-out');
    const run = JSON.parse(
      ok(sh(bin(), ['run', MNIST, '--input', `Input3=${join(tmp, 'x.npy')}`, '--out', outDir, '--json'], { cwd: proj }), 'sparrow run'),
    ) as { outputs: Record<string, { file: string; dims: number[] }> };
    const o = run.outputs['Plus214_Output_0']!;
    expect(o.dims).toEqual([1, 10]);
    const got = parseNpy(readFileSync(o.file)).data as Float32Array;
    expect(maxDiff(got, expected)).toBeLessThan(1e-4);

    const sp = join(tmp, 'mnist.sparrow');
    ok(sh(bin(), ['compress', MNIST, '-o', sp, '--json'], { cwd: proj }), 'sparrow compress');
    const run2 = JSON.parse(
      ok(
        sh(bin(), ['run', sp, '--input', `Input3=${join(tmp, 'x.npy')}`, '--out', join(tmp, 'run2'), '--json'], { cwd: proj }),
        'run .sparrow',
      ),
    ) as { outputs: Record<string, { file: string }> };
    const got2 = parseNpy(readFileSync(run2.outputs['Plus214_Output_0']!.file)).data as Float32Array;
    // int8 weights: the logits move a little, the class does not
    const top = (a: ArrayLike<number>): number => Array.from(a).indexOf(Math.max(...Array.from(a)));
    expect(top(got2)).toBe(top(expected));
    expect(maxDiff(got2, expected)).toBeLessThan(0.25 * Math.max(...Array.from(expected).map(Math.abs)));
  });

  it('imports as ESM by package name and runs a model (= onnxruntime-node); subpaths resolve', () => {
    const script = `
      import { readFileSync, existsSync } from 'node:fs';
      import { fileURLToPath } from 'node:url';
      import { Session, parseNpy } from '${PKG.name}';
      import * as browser from '${PKG.name}/browser';
      const s = await Session.create(${JSON.stringify(MNIST)}, { engine: 'sparrow-f32' });
      const x = parseNpy(readFileSync(${JSON.stringify(join(tmp, 'x.npy'))}));
      const out = await s.run({ [s.inputNames[0]]: { type: 'float32', dims: x.shape, data: x.data } });
      s.dispose();
      const files = ['${PKG.name}/worker', '${PKG.name}/sparrow.wasm'].map((p) => fileURLToPath(import.meta.resolve(p)));
      console.log(JSON.stringify({
        engine: s.engine,
        inputs: s.inputNames,
        out: Array.from(out[s.outputNames[0]].data),
        browser: typeof browser.loadModel,
        resolved: files.map(existsSync),
      }));
    `;
    writeFileSync(join(proj, 'main.mjs'), script);
    const r = JSON.parse(ok(sh(process.execPath, ['main.mjs'], { cwd: proj }), 'node main.mjs').trim()) as {
      engine: string;
      inputs: string[];
      out: number[];
      browser: string;
      resolved: boolean[];
    };
    expect(r.engine).toBe('sparrow-f32');
    expect(r.inputs).toEqual(['Input3']);
    expect(maxDiff(r.out, expected)).toBeLessThan(1e-4);
    expect(r.browser).toBe('function');
    expect(r.resolved).toEqual([true, true]);
  });

  it('bundles a Worker from the /worker entry (createApp, its wasm import resolves) and serves it in workerd', async () => {
    writeFileSync(
      join(proj, 'worker.ts'),
      `import { createApp } from '${PKG.name}/worker';\nconst app = createApp({ basePath: '/ml' });\nexport default { fetch: app.fetch };\n`,
    );
    const wasmImports: string[] = [];
    const r = await esbuild({
      absWorkingDir: proj,
      entryPoints: ['worker.ts'],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      mainFields: ['module', 'main'],
      conditions: ['workerd', 'worker', 'browser', 'import'],
      // as wrangler's CompiledWasm rule: the module stays a separate file, resolved from the package
      plugins: [
        {
          name: 'wasm-module',
          setup(b) {
            b.onResolve({ filter: /\.wasm$/ }, (a) => {
              const p = join(a.resolveDir, a.path);
              if (!wasmImports.includes(p)) wasmImports.push(p);
              return { path: `./${basename(p)}`, external: true };
            });
          },
        },
      ],
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    // the plain build and the relaxed-SIMD one (picked where workerd validates it: src/worker/admit.ts)
    expect(wasmImports.sort()).toEqual(
      ['sparrow.relaxed.wasm', 'sparrow.wasm'].map((f) => join(proj, 'node_modules', PKG.name, 'build', f)),
    );
    for (const f of wasmImports) expect(existsSync(f), f).toBe(true);
    // the Worker bundle never carries the ONNX importer (protobufjs)
    expect(Object.keys(r.metafile.inputs).filter((f) => /protobufjs|onnx-proto/.test(f))).toEqual([]);
    const { Miniflare } = await import('miniflare');
    const mf = new Miniflare({
      modules: [
        { type: 'ESModule', path: 'index.js', contents: r.outputFiles[0]!.text },
        ...wasmImports.map((f) => ({ type: 'CompiledWasm' as const, path: basename(f), contents: readFileSync(f) })),
      ],
      r2Buckets: ['MODELS'],
      compatibilityDate: '2025-09-01',
      cf: false,
    });
    try {
      const health = await mf.dispatchFetch('http://localhost/ml/healthz');
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ ok: true });
      const models = await mf.dispatchFetch('http://localhost/ml/v1/models');
      expect(models.status).toBe(200);
      expect(await models.json()).toEqual({ models: [] });
      const outside = await mf.dispatchFetch('http://localhost/healthz');
      expect(outside.status).toBe(404);
      await outside.arrayBuffer();
    } finally {
      await mf.dispose();
    }
  });

  it.each(['node16', 'bundler', 'node'])('type-checks a strict consumer (skipLibCheck false, moduleResolution %s)', (mr) => {
    writeFileSync(
      join(proj, 'consumer.ts'),
      `import { Session, SparrowError, isSparrowError, type EngineName, type SessionOptions, type Tensor } from '${PKG.name}';
import { loadModel, type BrowserEngine } from '${PKG.name}/browser';
import { createApp, type CreateAppOptions } from '${PKG.name}/worker';

export async function main(bytes: Uint8Array): Promise<number> {
  const engine: EngineName = 'sparrow-f32';
  const opts: SessionOptions = { engine };
  const s = await Session.create(bytes, opts);
  const x: Tensor = { dtype: 'float32', dims: [1, 1, 28, 28], data: new Float32Array(784) };
  const out = await s.run({ [s.inputNames[0]!]: x }, { outputs: [...s.outputNames] });
  const meta = s.inputMetadata[0];
  s.dispose();
  const be: BrowserEngine = 'sparrow-int8';
  const wo: CreateAppOptions = { basePath: '/ml', env: { ENGINE: 'sparrow-f32' } };
  const app = createApp(wo);
  void loadModel;
  void be;
  void app;
  if (!meta) throw new SparrowError('invalid_argument', 'no input');
  try {
    return Object.keys(out).length;
  } catch (e) {
    if (isSparrowError(e)) return -1;
    throw e;
  }
}
`,
    );
    const module = mr === 'node16' ? 'node16' : 'esnext';
    writeFileSync(
      join(proj, `tsconfig.${mr}.json`),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          target: 'ES2022',
          lib: ['ES2022', 'DOM'],
          module,
          moduleResolution: mr,
          types: [],
        },
        files: ['consumer.ts'],
      }),
    );
    const r = sh(process.execPath, [TSC, '-p', `tsconfig.${mr}.json`], { cwd: proj });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
