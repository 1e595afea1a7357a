// The Chromium half of `npm run bench` (scripts/bench-matrix.mjs bundles this with esbuild and
// serves it): in the page, one model at a time, the engines sparrow-f32, sparrow-int8 (the
// .sparrow file where the bench has one, else the ONNX model) and onnxruntime-web (its WASM
// build, one thread), timed interleaved on the same seeded inputs, exactly as the Node half.
import { Session } from '../src/runtime/session.js';
import type { Tensor } from '../src/ops/types.js';
import { mulberry32 } from '../src/util/rng.js';
import { registerOnnxImporter } from '../src/runtime/onnx_import.js';
import { importOnnx } from '../src/onnx/import.js';
import '../src/ops/ref/index.js';

// the bench page runs the ONNX files too (the demo bundle leaves the importer out)
registerOnnxImporter(importOnnx);

interface InputSpec {
  name: string;
  dtype: 'float32' | 'int64' | 'int32';
  dims: number[];
}
interface PageModel {
  id: string;
  onnxUrl: string;
  sparrowUrl?: string;
  inputs: InputSpec[];
}
type Runner = (feeds: Record<string, Tensor>) => Promise<unknown>;

/** The feeds of bench.ts randomFeeds: float32 uniform [0, 1), integers in [0, 10). */
function feedsOf(inputs: InputSpec[], seed: number): Record<string, Tensor> {
  const r = mulberry32(seed);
  const out: Record<string, Tensor> = {};
  for (const i of inputs) {
    const n = i.dims.reduce((a, b) => a * b, 1);
    if (i.dtype === 'float32') out[i.name] = { dtype: 'float32', dims: i.dims, data: Float32Array.from({ length: n }, () => r()) };
    else if (i.dtype === 'int64')
      out[i.name] = { dtype: 'int64', dims: i.dims, data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(r() * 10))) };
    else out[i.name] = { dtype: 'int32', dims: i.dims, data: Int32Array.from({ length: n }, () => Math.floor(r() * 10)) };
  }
  return out;
}

let wasmModule: WebAssembly.Module | undefined;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let ort: any;

async function bytesOf(url: string): Promise<Uint8Array<ArrayBuffer>> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function open(engine: string, m: PageModel): Promise<Runner> {
  wasmModule ??= await WebAssembly.compile(await bytesOf('/sparrow.wasm'));
  if (engine === 'ort-web') {
    if (!ort) {
      const url = '/ort/ort.wasm.min.mjs';
      ort = await import(/* @vite-ignore */ url);
      ort.env.wasm.wasmPaths = '/ort/';
      ort.env.wasm.numThreads = 1;
      ort.env.wasm.proxy = false;
    }
    const s = await ort.InferenceSession.create(await bytesOf(m.onnxUrl), { executionProviders: ['wasm'] });
    return async (feeds) => {
      const f: Record<string, unknown> = {};
      for (const [k, t] of Object.entries(feeds)) f[k] = new ort.Tensor(t.dtype, t.data, t.dims);
      return s.run(f);
    };
  }
  const s =
    engine === 'sparrow-int8' && m.sparrowUrl
      ? await Session.fromSparrow(await bytesOf(m.sparrowUrl), { engine: 'sparrow-int8', wasmModule })
      : await Session.fromOnnx(await bytesOf(m.onnxUrl), { engine: engine as 'sparrow-f32' | 'sparrow-int8', wasmModule });
  return (feeds) => s.run(feeds);
}

/** p50 (ms) per engine over `runs` interleaved runs after `warmup`; an engine that fails to load is reported as its error. */
async function benchModel(m: PageModel, engines: string[], runs: number, warmup: number): Promise<Record<string, number | string>> {
  const runners = new Map<string, Runner>();
  const res: Record<string, number | string> = {};
  for (const e of engines) {
    try {
      runners.set(e, await open(e, m));
    } catch (err) {
      res[e] = `load failed: ${String((err as Error).message ?? err).slice(0, 200)}`;
    }
  }
  const feeds = feedsOf(m.inputs, 1);
  const times = new Map<string, number[]>([...runners.keys()].map((e) => [e, []]));
  for (let r = 0; r < warmup + runs; r++) {
    for (const [e, run] of runners) {
      const t0 = performance.now();
      await run(feeds);
      const t = performance.now() - t0;
      if (r >= warmup) times.get(e)!.push(t);
    }
  }
  for (const [e, ts] of times) {
    const s = ts.sort((a, b) => a - b);
    res[e] = s.length % 2 ? s[s.length >> 1]! : (s[(s.length >> 1) - 1]! + s[s.length >> 1]!) / 2;
  }
  return res;
}

(window as unknown as { sparrowBench: unknown }).sparrowBench = { benchModel };
