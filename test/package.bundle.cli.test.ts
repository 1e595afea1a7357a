// The bundled package (scripts/bundle.mjs: dist/pkg, where package.json "exports" and
// bin/sparrow.js point), each check in a fresh Node process, against the unbundled tsc output
// (dist/) as the oracle:
//   - importing the `.` entry loads dist/pkg files and npm packages only: no module of the
//     unbundled dist/ (the runtime's non-literal imports, the Node adapter and the ONNX importer,
//     are registered by the entry: src/runtime/node_wasm.ts, src/runtime/onnx_import.ts);
//   - onnx-proto is not loaded by the import, only by the first ONNX decode (LAZY_CJS);
//   - the CLI runs from dist/pkg/cli.js, again without a module of the unbundled dist/;
//   - an ONNX model (sparrow-f32) and a .sparrow (sparrow-int8) give the bits dist/ gives;
//   - `.`, `/browser` and `/worker` share one copy of every class (SparrowError);
//   - int64 values past 2^53 (INT64_MAX, the usual Slice end) come through exactly, as in
//     unbundled Node: protobufjs there runs with `long`.
// Needs `npm run build` (dist/, dist/pkg, build/sparrow.wasm) like every cli-tier test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildModelProto } from '../src/onnx/build.js';
import { onnxRuntime } from '../src/onnx/proto.js';
import { parseNpy, writeNpy } from '../src/io/npy.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PKG = join(ROOT, 'dist', 'pkg');
const url = (p: string): string => JSON.stringify(pathToFileURL(p).href);
const MNIST = join(ROOT, 'examples/models/mnist-8.onnx');
const S8 = join(ROOT, 'test/fixtures/int8/resnet20.static.sparrow');

let tmp = '';
beforeAll(() => {
  for (const f of ['index.js', 'browser.js', 'worker.js'])
    if (!existsSync(join(PKG, f))) throw new Error(`dist/pkg/${f} is missing: run \`npm run build\` first`);
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-bundle-'));
  // module hooks that print every ESM URL Node loads (stderr, one line each)
  writeFileSync(
    join(tmp, 'hooks.mjs'),
    `export async function load(u, c, next) { process.stderr.write('LOAD ' + u + '\\n'); return next(u, c); }\n`,
  );
  writeFileSync(join(tmp, 'register.mjs'), `import { register } from 'node:module';\nregister(${url(join(tmp, 'hooks.mjs'))});\n`);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const DIST_URL = pathToFileURL(join(ROOT, 'dist')).href + '/';
const PKG_URL = pathToFileURL(PKG).href + '/';
/** The modules of dist/ outside dist/pkg among `loaded` (ESM URLs). */
const unbundled = (loaded: string[]): string[] => loaded.filter((u) => u.startsWith(DIST_URL) && !u.startsWith(PKG_URL));

/** Runs Node on `args` in a fresh process with the module hooks; its stdout, and the ESM URLs it loaded. */
function hooked(what: string, args: string[]): { stdout: string; loaded: string[] } {
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(tmp, 'register.mjs')).href, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 << 20,
  });
  expect(r.status, `${what}: ${r.stderr}`).toBe(0);
  const loaded = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('LOAD '))
    .map((l) => l.slice(5));
  return { stdout: r.stdout, loaded };
}

/** Runs `script` (ESM) in a fresh Node process; its last stdout line as JSON, and the ESM URLs it loaded. */
function child(name: string, script: string): { out: Record<string, unknown>; loaded: string[] } {
  const file = join(tmp, `${name}.mjs`);
  writeFileSync(file, script);
  const { stdout, loaded } = hooked(name, [file]);
  return { out: JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>, loaded };
}

/** A script that imports `entry`, runs MNIST (ONNX, sparrow-f32) and the ResNet-20 fixture (sparrow-int8) on fixed inputs, and prints their output bits. */
const runScript = (entry: string): string => `
  import { createRequire } from 'node:module';
  import { readFileSync } from 'node:fs';
  const { Session, SparrowError } = await import(${url(entry)});
  const cache = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/onnx-proto/'));
  const protoAtImport = cache();
  const bits = (t) => Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length));
  const m = await Session.fromOnnx(new Uint8Array(readFileSync(${JSON.stringify(MNIST)})), { engine: 'sparrow-f32' });
  const x = Float32Array.from({ length: 784 }, (_, i) => ((i * 37) % 101) / 100);
  const y = await m.run({ [m.inputNames[0]]: { dtype: 'float32', dims: [1, 1, 28, 28], data: x } });
  const s = await Session.fromSparrow(new Uint8Array(readFileSync(${JSON.stringify(S8)})), { engine: 'sparrow-int8' });
  const z = Float32Array.from({ length: 2 * 3072 }, (_, i) => ((i * 53) % 97) / 48 - 1);
  const w = await s.run({ [s.inputNames[0]]: { dtype: 'float32', dims: [2, 3, 32, 32], data: z } });
  console.log(JSON.stringify({
    protoAtImport, protoAfter: cache(),
    mnist: bits(y[m.outputNames[0]]), resnet: bits(w[s.outputNames[0]]),
    error: new SparrowError('internal', 'x').code,
  }));
`;

describe('the bundled package (dist/pkg)', () => {
  it('loads only its own files, onnx-proto on first use; outputs = the unbundled dist/, bit for bit', () => {
    const bundled = child('bundled', runScript(join(PKG, 'index.js')));
    const plain = child('plain', runScript(join(ROOT, 'dist', 'index.js')));
    const ours = bundled.loaded.filter((u) => u.startsWith(DIST_URL));
    expect(ours.length).toBeGreaterThan(1);
    expect(unbundled(ours)).toEqual([]);
    // the unbundled tree loads ~140 modules; the bundle a handful
    expect(plain.loaded.filter((u) => u.startsWith(DIST_URL)).length).toBeGreaterThan(5 * ours.length);
    expect(bundled.out['protoAtImport']).toBe(false);
    expect(bundled.out['protoAfter']).toBe(true);
    expect(plain.out['protoAtImport']).toBe(true); // the unbundled entry imports it statically
    expect((bundled.out['mnist'] as number[]).length).toBe(10);
    expect((bundled.out['resnet'] as number[]).length).toBe(20);
    expect(bundled.out['mnist']).toEqual(plain.out['mnist']);
    expect(bundled.out['resnet']).toEqual(plain.out['resnet']);
  }, 120_000);

  it('bin/sparrow.js runs the bundled CLI (dist/pkg/cli.js): no module of the unbundled dist/, outputs = dist/cli/main.js', () => {
    const x = join(tmp, 'x.npy');
    writeFileSync(
      x,
      writeNpy(
        Float32Array.from({ length: 784 }, (_, i) => ((i * 37) % 101) / 100),
        [1, 1, 28, 28],
      ),
    );
    const outs: number[][] = [];
    // MNIST on sparrow-f32 (the ONNX importer, the op registry) and on sparrow-int8 (the Node adapter)
    for (const engine of ['sparrow-f32', 'sparrow-int8']) {
      for (const bundled of [true, false]) {
        const out = join(tmp, `run-${outs.length}`);
        const args = ['run', MNIST, '--input', `Input3=${x}`, '--engine', engine, '--out', out, '--json'];
        // bin/sparrow.js, else the unbundled CLI module run as bin/sparrow.js would run it
        const r = bundled
          ? hooked(`bin/sparrow.js ${engine}`, [join(ROOT, 'bin', 'sparrow.js'), ...args])
          : hooked(`dist/cli/main.js ${engine}`, [
              '--input-type=module',
              '-e',
              `const { main } = await import(${url(join(ROOT, 'dist', 'cli', 'main.js'))}); process.exitCode = await main(${JSON.stringify(args)});`,
            ]);
        if (bundled) {
          expect(r.loaded).toContain(pathToFileURL(join(PKG, 'cli.js')).href);
          expect(unbundled(r.loaded)).toEqual([]);
        }
        const o = (JSON.parse(r.stdout) as { outputs: Record<string, { file: string }> }).outputs['Plus214_Output_0']!;
        outs.push(Array.from(new Uint32Array((parseNpy(readFileSync(o.file)).data as Float32Array).buffer)));
      }
    }
    expect(outs[0]!.length).toBe(10);
    expect(outs[0]).toEqual(outs[1]);
    expect(outs[2]).toEqual(outs[3]);
  }, 120_000);

  it('the three entries share one copy of each class', () => {
    const { out } = child(
      'classes',
      `
      const a = await import(${url(join(PKG, 'index.js'))});
      const b = await import(${url(join(PKG, 'browser.js'))});
      const e = new b.SparrowError('invalid_argument', 'from /browser');
      console.log(JSON.stringify({ same: a.SparrowError === b.SparrowError, is: a.isSparrowError(e), inst: e instanceof a.SparrowError }));
    `,
    );
    expect(out).toEqual({ same: true, is: true, inst: true });
    // the Worker entry imports .wasm modules (wrangler's), so Node cannot load it: its chunks are
    // checked instead: the class is defined in a chunk, not in the entry files
    const files = ['index.js', 'browser.js', 'worker.js'].map((f) => readFileSync(join(PKG, f), 'utf8'));
    for (const f of files) expect(f).not.toMatch(/class SparrowError\b/);
    expect(readFileSync(join(PKG, 'worker.js'), 'utf8')).toMatch(/from "\.\.\/\.\.\/build\/sparrow\.wasm"/);
  }, 60_000);

  it('int64 past 2^53 (INT64_MAX in int64_data) is exact through the bundle', () => {
    const proto = buildModelProto({
      nodes: [{ op: 'Identity', inputs: ['c'], outputs: ['y'] }],
      inputs: [],
      outputs: [{ name: 'y', dtype: 'int64', dims: [2] }],
      initializers: { c: { dtype: 'int64', dims: [2], data: new BigInt64Array([0n, 0n]) } },
      typedFields: true,
    });
    // the typed field written with the values as decimal strings (protobufjs' int64 input form)
    proto.graph!.initializer![0]!.int64Data = ['9223372036854775807', '-9007199254740993'] as unknown as number[];
    const file = join(tmp, 'int64.onnx');
    writeFileSync(file, onnxRuntime.ModelProto.encode(proto).finish());
    const script = (entry: string): string => `
      import { readFileSync } from 'node:fs';
      const { importOnnx } = await import(${url(entry)});
      const g = importOnnx(new Uint8Array(readFileSync(${JSON.stringify(file)})));
      console.log(JSON.stringify({ c: Array.from(g.values.get('c').const.data, String) }));
    `;
    const want = ['9223372036854775807', '-9007199254740993'];
    expect(child('int64-bundled', script(join(PKG, 'index.js'))).out).toEqual({ c: want });
    expect(child('int64-plain', script(join(ROOT, 'dist', 'index.js'))).out).toEqual({ c: want });
  }, 60_000);
});
