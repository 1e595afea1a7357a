// How Session.fromOnnx reaches the ONNX importer (src/onnx/import.ts) without importing it.
// The importer brings onnx-proto and protobufjs (~130 KB minified), which the Worker
// (src/worker) and the browser entry (src/browser) never use: they only load `.sparrow` files.
// A static import in session.ts put them in both bundles, and so would a literal
// `import('../onnx/import.js')`, because esbuild (demo/build.mjs, and wrangler for the Worker)
// inlines dynamic imports of local files when it does not split chunks. So the importer comes
// from one of two places:
//  - the package entry (src/index.ts) exports importOnnx anyway and registers it here, so a
//    bundle of that entry (dist/pkg, or a user's own) needs no module at run time; the CLI
//    (src/cli/main.ts) does the same, so its bundle does not load a second importer, with an
//    op registry of its own, from dist/;
//  - otherwise (tests, scripts, anything importing session.ts directly in Node) it is loaded on
//    first use through a specifier that is not a literal, which bundlers leave alone and
//    Node (dist/) and vitest resolve relative to this file.
import { SparrowError } from '../errors.js';

export type OnnxImporter = typeof import('../onnx/import.js').importOnnx;

let registered: OnnxImporter | undefined;
let loading: Promise<OnnxImporter> | undefined;

/** Hands the importer over to Session.fromOnnx (called by the package entry and the CLI). */
export function registerOnnxImporter(importer: OnnxImporter): void {
  registered = importer;
}

/**
 * The ONNX importer: the registered one, else src/onnx/import.ts loaded once. Throws
 * SparrowError('invalid_argument') where it cannot be loaded: the Worker and browser bundles
 * leave it out on purpose, and there models come as `.sparrow` files (Session.fromSparrow).
 */
export async function onnxImporter(): Promise<OnnxImporter> {
  if (registered) return registered;
  const spec = '../onnx/import.js';
  loading ??= (import(/* @vite-ignore */ spec) as Promise<typeof import('../onnx/import.js')>).then(
    (m) => m.importOnnx,
    (e: unknown) => {
      loading = undefined; // not cached: a later call may try again
      throw new SparrowError(
        'invalid_argument',
        'ONNX import is not part of this build (the Worker and browser bundles load .sparrow files only: ' +
          `convert with \`sparrow compress\` and use Session.fromSparrow): ${e instanceof Error ? e.message : String(e)}`,
      );
    },
  );
  return loading;
}
