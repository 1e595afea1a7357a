// Browser entry (`sparrow-edge/browser`): download a `.sparrow` model with streaming and
// progress, compile the WASM kernels, run the model on-device with 'sparrow-int8' or
// 'sparrow-f32'. No Node APIs: fetch, ReadableStream, WebAssembly and performance only.
//
//   const m = await loadModel('/v1/models/mnist-8', { wasmUrl: '/sparrow.wasm', engine: 'sparrow-int8' });
//   const { outputs, ms } = await m.run({ [m.inputNames[0]]: m.preprocess(pixels, [1, 1, 28, 28]) });
//
// Streaming: the body is pushed chunk by chunk into the container's ContainerStreamReader, so
// header, metadata and each section are validated (CRC) the moment their last byte arrives,
// and for 'sparrow-f32' every weight section is decoded then too, while later sections are
// still downloading. 'sparrow-int8' decodes its coded weights in WASM straight into kernel
// layouts when the session is created (Session.fromSparrow on the downloaded bytes), after
// the download. Either way the result is the same Session as Node's Session.fromSparrow on
// the same bytes, hence bit-identical outputs (test/browser.test.ts checks that).
import { SparrowError } from '../errors.js';
import { ContainerStreamReader, DType, type ParsedHeader, type ReadOptions } from '../format/container.js';
import { graphFromMeta, sectionData, type SectionData } from '../format/graph.js';
import { Session, type EngineName } from '../runtime/session.js';
import { parsePreprocessing, preprocessPixels, type CompressionRecord, type Preprocessing } from '../runtime/sparrow_model.js';
import type { Tensor, ValueInfo } from '../ops/types.js';
import { textModelOf, type TextModel } from '../runtime/text_model.js';
import { relaxedSimdSupported } from '../wasm/features.js';
import { wasmInt8Decoder, type WasmInt8Decoder } from '../wasm/decode.js';
import { HELPER_SOURCE_WEB, instantiateThreaded, threadsAvailable, type HelperPort, type ThreadPool } from '../wasm/threads.js';
import '../ops/ref/index.js';

export { SparrowError, isSparrowError, type SparrowErrorCode } from '../errors.js';
export { generate, detectDecoder, type GenerateOptions, type GenerateStats, type DecoderRunner } from '../runtime/generate.js';
export { loadTokenizer, type TextTokenizer } from '../io/tokenizer.js';
export type { TextModel } from '../runtime/text_model.js';
export {
  Session,
  engineName,
  defaultEngine,
  type EngineName,
  type EngineOption,
  type ModelSource,
  type TensorLike,
  type OutputTensor,
  type ValueMetadata,
  type RunOptions,
} from '../runtime/session.js';
export { relaxedSimdSupported } from '../wasm/features.js';
export type { Tensor, TensorDType, ValueInfo } from '../ops/types.js';
export type { Preprocessing, CompressionRecord } from '../runtime/sparrow_model.js';

/** The engines that run in a browser. */
export type BrowserEngine = 'sparrow-int8' | 'sparrow-f32';

export interface LoadProgress {
  /** 'download': bytes arriving; 'decode': building the session; 'ready': done */
  phase: 'download' | 'decode' | 'ready';
  /** bytes of the .sparrow received so far */
  loaded: number;
  /** the file size once known (Content-Length, then the container header), else null */
  total: number | null;
  /** sections validated (CRC) so far, and how many the file has (null until the header is in) */
  sections: number;
  sectionCount: number | null;
}

export interface FetchOptions {
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** fetch implementation (default globalThis.fetch) */
  fetch?: typeof fetch;
  /** container limits (default 1 GiB file / decoded) */
  read?: ReadOptions;
  /**
   * the compiled kernels (or their promise, as compileWasm gives it): int8 sections that arrive
   * once it is there decode in WASM (src/wasm/decode.ts, ~14x the TS reference decoder's speed),
   * the others with the TS reference; loadModel passes the module it compiles meanwhile
   */
  decodeWith?: WebAssembly.Module | Promise<WebAssembly.Module | undefined>;
}

/** A downloaded, validated `.sparrow` file; create sessions from it with `createModel`. */
export interface SparrowDownload {
  url: string;
  bytes: Uint8Array;
  header: ParsedHeader;
  /** ms from the request to the last byte; ms from the request until the first section was validated */
  downloadMs: number;
  firstSectionMs: number | null;
  /** ms spent validating/decoding sections while the download was running */
  streamDecodeMs: number;
  /** body chunks received, and sections validated + decoded before the last chunk arrived */
  chunks: number;
  sectionsBeforeLastChunk: number;
  /** bytes received before the last chunk (how the transport chunked the body) */
  bytesBeforeLastChunk: number;
  /** int8 sections decoded in WASM (FetchOptions.decodeWith; the others by the TS reference decoder) */
  wasmDecodedSections: number;
  /** sections decoded on arrival (float32 data, int8 weights decoded), by section index */
  readonly decoded: ReadonlyMap<number, SectionData>;
}

/** Which WASM build runs: SIMD128 ('plain') or the relaxed-SIMD one ('relaxed'). */
export type SimdBuild = 'plain' | 'relaxed';

export interface WasmOptions {
  /** URL of build/sparrow.wasm (default: `sparrow.wasm` next to the page) */
  wasmUrl?: string | URL;
  /**
   * URL of build/sparrow.relaxed.wasm (default: `sparrow.relaxed.wasm` beside wasmUrl): the same
   * kernels, with dense convs whose weights fit in [−64, 63] on i32x4.relaxed_dot_i8x16_i7x16_add_s
   * (bit-identical to the plain build: assembly/int8/relaxed.ts)
   */
  relaxedWasmUrl?: string | URL;
  /**
   * 'auto' (default): the relaxed build where `relaxedSimdSupported()` (WebAssembly.validate of a
   * one-instruction module; never in Node), else the plain one; 'plain'; 'relaxed' (throws
   * SparrowError('invalid_argument') where unsupported). Ignored when `wasmModule` is given.
   */
  simd?: 'auto' | SimdBuild;
  /** an already compiled module (wins over wasmUrl) */
  wasmModule?: WebAssembly.Module;
  fetch?: typeof fetch;
}

export interface ModelOptions extends WasmOptions {
  /** default 'sparrow-int8' for a file with static activation ranges, else 'sparrow-f32' (as Session.create); int8 falls back to 'sparrow-f32' where the runtime has no int8 engine */
  engine?: BrowserEngine;
  /**
   * threads for 'sparrow-int8' (default 1): n > 1 runs the threads build
   * (sparrow.threads.wasm / sparrow.relaxed.threads.wasm beside wasmUrl) on a shared memory with
   * n − 1 helper Web Workers; each conv layer is split over them (whole images of a batch, or the
   * output pixels of one image). Needs cross-origin isolation (COOP/COEP: `crossOriginIsolated`);
   * without it, or when the threads build cannot be fetched, the model runs on one thread
   * (`BrowserModel.threads` says which). Same output bits either way. `THREADS_INFO.numThreads`
   * is a good value: hardwareConcurrency capped at 4 where threads can run, else 1.
   */
  numThreads?: number;
  /** URL of build/sparrow.threads.wasm (default: beside wasmUrl) */
  threadsWasmUrl?: string | URL;
  /** URL of build/sparrow.relaxed.threads.wasm (default: beside wasmUrl) */
  relaxedThreadsWasmUrl?: string | URL;
}

export interface LoadOptions extends ModelOptions, FetchOptions {}

export interface CompiledWasm {
  module: WebAssembly.Module;
  /** bytes downloaded (Content-Length when streaming compiled it, else the body size; 0 if passed in) */
  bytes: number;
  /** true when WebAssembly.compileStreaming compiled it */
  streaming: boolean;
  ms: number;
}

export interface ModelBytes {
  /** the .sparrow file */
  model: number;
  /** the WASM kernels' size (downloaded once per page: see `wasm.cached`; 0 when a module was passed in) */
  wasm: number;
  /** bytes of the file's sections once decoded (int8 weights, float32 scales and biases) */
  decodedSections: number;
}

export interface RunResult {
  outputs: Record<string, Tensor>;
  /** wall-clock ms of Session.run */
  ms: number;
}

export interface BrowserModel {
  readonly url: string;
  /** the engine that runs */
  readonly engine: BrowserEngine;
  /** the engine asked for (differs when 'sparrow-int8' was not available) */
  readonly requestedEngine: BrowserEngine;
  /** the WASM build that runs ('relaxed': build/sparrow.relaxed.wasm) */
  readonly simd: SimdBuild;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputInfo: Readonly<Record<string, ValueInfo>>;
  readonly outputInfo: Readonly<Record<string, ValueInfo>>;
  /** how raw pixels become the input (stored in the file), null when the file has none */
  readonly preprocessing: Preprocessing | null;
  readonly compression: CompressionRecord | null;
  readonly bytes: ModelBytes;
  /** ms: download (last byte), session creation, WASM compilation */
  readonly timings: { downloadMs: number; firstSectionMs: number | null; sessionMs: number; wasmMs: number };
  /** how the kernels were obtained: compiled by compileStreaming, or reused from an earlier model of this page */
  readonly wasm: { streaming: boolean; cached: boolean };
  readonly session: Session;
  /** threads that run the model (1 unless numThreads > 1 was asked and threads can run here) */
  readonly threads: number;
  /** the thread pool's counts (jobs, calls, calls run by helpers) when threads > 1, else null */
  readonly threadStats: { jobs: number; calls: number; helperCalls: number } | null;
  /** stops the helper threads (numThreads > 1); the model cannot run afterwards */
  dispose(): void;
  /** runs the model; feeds as Session.run */
  run(feeds: Record<string, Tensor>): Promise<RunResult>;
  /**
   * uint8 pixels (NCHW, e.g. [1,3,32,32]) → the float32 input the file's preprocessing
   * describes (pixel/255 when it stores none)
   */
  preprocess(pixels: Uint8Array | Uint8ClampedArray, dims: readonly number[]): Tensor;
}

// ---------------------------------------------------------------------------------------------

const now = (): number => performance.now();
const wasmCache = new Map<string, Promise<CompiledWasm>>();

function defaultBase(): string | undefined {
  const d = (globalThis as { document?: { baseURI?: string } }).document;
  return d?.baseURI ?? (globalThis as { location?: { href?: string } }).location?.href;
}

function resolveUrl(u: string | URL): string {
  return new URL(String(u), defaultBase()).href;
}

/**
 * Compiles the WASM kernels from a URL: `WebAssembly.compileStreaming` (compiles while the
 * bytes arrive; needs `Content-Type: application/wasm`), else `WebAssembly.compile` of the
 * downloaded bytes. Cached per URL.
 */
export function compileWasm(url: string | URL = 'sparrow.wasm', opts: { fetch?: typeof fetch } = {}): Promise<CompiledWasm> {
  const href = resolveUrl(url);
  let p = wasmCache.get(href);
  if (!p) {
    p = compileUncached(href, opts.fetch ?? globalThis.fetch.bind(globalThis));
    wasmCache.set(href, p);
    p.catch(() => wasmCache.delete(href));
  }
  return p;
}

async function compileUncached(href: string, f: typeof fetch): Promise<CompiledWasm> {
  const t0 = now();
  const get = async (): Promise<Response> => {
    let res: Response;
    try {
      res = await f(href);
    } catch (e) {
      throw new SparrowError('io_error', `cannot fetch ${href}: ${(e as Error).message}`);
    }
    if (!res.ok) throw new SparrowError('io_error', `cannot fetch ${href}: HTTP ${res.status}`);
    return res;
  };
  const res = await get();
  const type = res.headers.get('content-type') ?? '';
  if (typeof WebAssembly.compileStreaming === 'function' && /^application\/wasm\b/i.test(type)) {
    const backup = res.clone();
    try {
      const module = await WebAssembly.compileStreaming(res);
      const len = Number(res.headers.get('content-length'));
      const bytes = Number.isFinite(len) && len > 0 ? len : (await backup.arrayBuffer()).byteLength;
      return { module, bytes, streaming: true, ms: now() - t0 };
    } catch {
      // e.g. a CSP without 'wasm-unsafe-eval' for streaming, or a proxy that mangled the type
      const buf = await backup.arrayBuffer();
      return { module: await compileBytes(buf, href), bytes: buf.byteLength, streaming: false, ms: now() - t0 };
    }
  }
  const buf = await res.arrayBuffer();
  return { module: await compileBytes(buf, href), bytes: buf.byteLength, streaming: false, ms: now() - t0 };
}

async function compileBytes(buf: ArrayBuffer, href: string): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(buf);
  } catch (e) {
    throw new SparrowError('io_error', `cannot compile ${href} as WebAssembly: ${(e as Error).message}`);
  }
}

/**
 * Downloads a `.sparrow` file with streaming: each chunk goes into ContainerStreamReader;
 * sections are CRC-checked and decoded as soon as they are complete. Throws SparrowError
 * ('io_error' for HTTP/network failures, the container's codes for bad bytes) — a corrupt file
 * fails at the first bad section, before the rest has arrived.
 */
export async function fetchSparrow(url: string | URL, opts: FetchOptions = {}): Promise<SparrowDownload> {
  const href = resolveUrl(url);
  const f = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const t0 = now();
  let res: Response;
  try {
    res = await f(href, opts.signal ? { signal: opts.signal } : {});
  } catch (e) {
    throw new SparrowError('io_error', `cannot fetch ${href}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new SparrowError('io_error', `cannot fetch ${href}: HTTP ${res.status}`);
  const lenHeader = Number(res.headers.get('content-length'));
  let total: number | null = Number.isFinite(lenHeader) && lenHeader > 0 ? lenHeader : null;

  const reader = new ContainerStreamReader(opts.read ?? {});
  const decoded = new Map<number, SectionData>();
  let loaded = 0,
    sections = 0,
    decodeMs = 0;
  let firstSectionMs: number | null = null;
  const progress = (phase: LoadProgress['phase']): void => {
    const h = reader.header;
    if (h) total = h.fileBytes;
    opts.onProgress?.({ phase, loaded, total, sections, sectionCount: h ? h.sectionCount : null });
  };
  const chunks: Uint8Array[] = [];
  let before = 0,
    bytesBefore = 0;
  // int8 weights decode in WASM once the module is compiled (a decoder instance dropped after the
  // download), before that with the TS reference decoder: the same bytes either way
  let module = opts.decodeWith instanceof WebAssembly.Module ? opts.decodeWith : undefined;
  let decoder: WasmInt8Decoder | undefined,
    wasmSections = 0;
  if (opts.decodeWith && !module)
    void Promise.resolve(opts.decodeWith).then(
      (m) => (module = m),
      () => undefined,
    );
  const push = (chunk: Uint8Array): void => {
    before = sections;
    bytesBefore = loaded;
    chunks.push(chunk);
    loaded += chunk.length;
    const t = now();
    for (const s of reader.push(chunk)) {
      const decode = module ? (decoder ??= wasmInt8Decoder(module)).decode : undefined;
      decoded.set(s.index, sectionData(s.info.dtype, s.info.codec, s.payload, s.info.decodedBytes, decode));
      if (decode && s.info.dtype === DType.Int8) wasmSections++;
      sections++;
      firstSectionMs ??= now() - t0;
    }
    decodeMs += now() - t;
    progress('download');
  };

  if (res.body) {
    const r = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await r.read();
        if (done) break;
        push(value);
      }
    } catch (e) {
      void r.cancel().catch(() => undefined);
      if (e instanceof SparrowError) throw e;
      throw new SparrowError('io_error', `download of ${href} failed after ${loaded} bytes: ${(e as Error).message}`);
    }
  } else {
    push(new Uint8Array(await res.arrayBuffer()));
  }
  decoder?.release();
  reader.end();
  const header = reader.header!;
  const downloadMs = now() - t0;
  const bytes = concat(chunks, loaded);
  return {
    url: href,
    bytes,
    header,
    downloadMs,
    firstSectionMs,
    streamDecodeMs: decodeMs,
    chunks: chunks.length,
    sectionsBeforeLastChunk: before,
    bytesBeforeLastChunk: bytesBefore,
    wasmDecodedSections: wasmSections,
    decoded,
  };
}

function concat(chunks: Uint8Array[], n: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

let int8Missing = false;

/** The build and URL the options select (WasmOptions.simd). */
export function wasmChoice(opts: WasmOptions = {}): { simd: SimdBuild; href: string } {
  const want = opts.simd ?? 'auto';
  if (want !== 'auto' && want !== 'plain' && want !== 'relaxed')
    throw new SparrowError('invalid_argument', `simd must be 'auto', 'plain' or 'relaxed', got '${String(want)}'`);
  const plain = resolveUrl(opts.wasmUrl ?? 'sparrow.wasm');
  const relaxed = want === 'relaxed' || (want === 'auto' && relaxedSimdSupported());
  if (want === 'relaxed' && !relaxedSimdSupported())
    throw new SparrowError('invalid_argument', 'relaxed SIMD is not available in this runtime (simd: "relaxed")');
  if (!relaxed) return { simd: 'plain', href: plain };
  return { simd: 'relaxed', href: opts.relaxedWasmUrl ? resolveUrl(opts.relaxedWasmUrl) : new URL('sparrow.relaxed.wasm', plain).href };
}

/**
 * A model over a downloaded file (download once, create one model per engine). 'sparrow-f32'
 * builds its graph from the sections decoded during the download; 'sparrow-int8' creates the
 * session from the bytes (its WASM weight decode needs the coded payloads).
 */
export async function createModel(dl: SparrowDownload, opts: ModelOptions = {}): Promise<BrowserModel> {
  // the documented default (Session.create's): int8 for a file with static activation ranges
  const ranges = dl.header.meta['activationRanges'];
  const requested: BrowserEngine =
    opts.engine ?? (ranges && typeof ranges === 'object' && Object.keys(ranges).length > 0 ? 'sparrow-int8' : 'sparrow-f32');
  if (requested !== 'sparrow-int8' && requested !== 'sparrow-f32') {
    throw new SparrowError('invalid_argument', `engine '${String(requested)}' does not run in browsers (sparrow-int8, sparrow-f32)`);
  }
  let wasm: CompiledWasm;
  let cached = false;
  let simd: SimdBuild = 'plain';
  if (opts.wasmModule) {
    wasm = { module: opts.wasmModule, bytes: 0, streaming: false, ms: 0 };
  } else {
    const choice = wasmChoice(opts);
    let href = choice.href;
    simd = choice.simd;
    cached = wasmCache.has(href);
    const f = opts.fetch ? { fetch: opts.fetch } : {};
    try {
      wasm = await compileWasm(href, f);
    } catch (e) {
      // 'auto' and the relaxed build cannot be fetched or compiled: the plain one
      if (simd !== 'relaxed' || opts.simd === 'relaxed') throw e;
      simd = 'plain';
      href = resolveUrl(opts.wasmUrl ?? 'sparrow.wasm');
      cached = wasmCache.has(href);
      wasm = await compileWasm(href, f);
    }
  }
  const t0 = now();
  let engine: BrowserEngine = requested === 'sparrow-int8' && int8Missing ? 'sparrow-f32' : requested;
  let session: Session;
  let preprocessing: Preprocessing | null;
  let compression: CompressionRecord | null;
  const meta = dl.header.meta;
  let poolOf = (): ThreadPool | undefined => undefined;
  if (engine === 'sparrow-int8') {
    try {
      const t = await threadedSession(dl, opts, simd);
      if (t) {
        session = t.session;
        poolOf = t.pool;
      } else session = await Session.fromSparrow(dl.bytes, { engine: 'sparrow-int8' satisfies EngineName, wasmModule: wasm.module });
    } catch (e) {
      if (!(e instanceof SparrowError && e.code === 'invalid_argument' && /engine 'sparrow-int8' is not available/.test(e.message)))
        throw e;
      int8Missing = true;
      engine = 'sparrow-f32';
    }
  }
  if (engine === 'sparrow-f32') {
    // the same graph Session.fromSparrow builds (readGraphContainer → graphFromMeta), from the
    // sections already decoded while downloading
    const section = (i: number): SectionData => {
      const d = dl.decoded.get(i);
      if (!d) throw new SparrowError('internal', `section ${i} was not decoded`);
      return d;
    };
    const { graph } = graphFromMeta(meta, section);
    session = Session.fromGraph(graph, { engine: 'sparrow-f32', wasmModule: wasm.module });
    preprocessing = parsePreprocessing(meta.preprocessing, graph);
  } else {
    preprocessing = session!.preprocessing;
  }
  const c = meta.compression;
  compression = c && typeof c === 'object' && !Array.isArray(c) ? (c as CompressionRecord) : null;
  const s = session!;
  // compile the plan now (static shapes), so that the first run() measures inference only
  await warmUp(s);
  // the engine instantiated its module (and the helpers) by now
  const pool = poolOf();
  const threads = pool?.size ?? 1;
  const sessionMs = now() - t0;
  let decodedSections = 0;
  for (const sec of dl.header.sections) decodedSections += sec.decodedBytes;
  const pre = preprocessing;
  return {
    url: dl.url,
    engine,
    requestedEngine: requested,
    simd,
    inputNames: s.inputNames,
    outputNames: s.outputNames,
    inputInfo: s.inputInfo,
    outputInfo: s.outputInfo,
    preprocessing: pre,
    compression,
    bytes: { model: dl.bytes.length, wasm: wasm.bytes, decodedSections },
    timings: { downloadMs: dl.downloadMs, firstSectionMs: dl.firstSectionMs, sessionMs, wasmMs: cached ? 0 : wasm.ms },
    wasm: { streaming: wasm.streaming, cached },
    session: s,
    threads,
    get threadStats() {
      return pool ? { ...pool.stats } : null;
    },
    dispose(): void {
      pool?.dispose();
    },
    async run(feeds: Record<string, Tensor>): Promise<RunResult> {
      const t = now();
      const outputs = await s.run(feeds);
      return { outputs, ms: now() - t };
    },
    preprocess(pixels: Uint8Array | Uint8ClampedArray, dims: readonly number[]): Tensor {
      let n = 1;
      for (const d of dims) n *= d;
      if (n !== pixels.length) throw new SparrowError('invalid_argument', `${pixels.length} pixels do not fill dims [${dims.join(', ')}]`);
      const t: Tensor = { dtype: 'uint8', dims: [...dims], data: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length) };
      return preprocessPixels(t, pre ?? { scale: 1 / 255 });
    },
  };
}

// ---- threads ---------------------------------------------------------------------------------

/** Threads in this page: `numThreads` a model may use (hardwareConcurrency capped at 4 where threads can run, else 1). */
export const THREADS_INFO: { readonly numThreads: number; readonly crossOriginIsolated: boolean; readonly available: boolean } = {
  get available(): boolean {
    return threadsAvailable() && typeof Worker === 'function';
  },
  get crossOriginIsolated(): boolean {
    return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  },
  get numThreads(): number {
    const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
    return this.available ? Math.max(1, Math.min(4, n)) : 1;
  },
};

let helperUrl: string | undefined;

/** A helper thread: a Web Worker from a Blob of HELPER_SOURCE_WEB (same origin, so COEP lets it run). */
function spawnWebHelper(): HelperPort {
  helperUrl ??= URL.createObjectURL(new Blob([HELPER_SOURCE_WEB], { type: 'text/javascript' }));
  const w = new Worker(helperUrl, { name: 'sparrow-helper' });
  const ready = new Promise<void>((res, rej) => {
    w.onmessage = (e: MessageEvent) =>
      e.data === 'ready' ? res() : rej(new SparrowError('internal', `WASM helper thread: ${String(e.data)}`));
    w.onerror = (e: ErrorEvent) => rej(new SparrowError('internal', `WASM helper thread failed to start: ${e.message}`));
  });
  return { postMessage: (m) => w.postMessage(m), ready, terminate: () => w.terminate() };
}

/**
 * The int8 session on `numThreads` threads, or undefined (one thread): numThreads ≤ 1, no
 * cross-origin isolation, or the threads build cannot be fetched.
 */
async function threadedSession(
  dl: SparrowDownload,
  opts: ModelOptions,
  simd: SimdBuild,
): Promise<{ session: Session; pool: () => ThreadPool | undefined } | undefined> {
  const n = opts.numThreads ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new SparrowError('invalid_argument', `numThreads must be an integer in [1, 64], got ${String(n)}`);
  if (n === 1 || opts.wasmModule || !THREADS_INFO.available) return undefined;
  const plain = resolveUrl(opts.wasmUrl ?? 'sparrow.wasm');
  const href =
    simd === 'relaxed'
      ? resolveUrl(opts.relaxedThreadsWasmUrl ?? new URL('sparrow.relaxed.threads.wasm', plain))
      : resolveUrl(opts.threadsWasmUrl ?? new URL('sparrow.threads.wasm', plain));
  let module: WebAssembly.Module;
  try {
    module = (await compileWasm(href, opts.fetch ? { fetch: opts.fetch } : {})).module;
  } catch {
    return undefined; // no threads build here: one thread
  }
  let pool: ThreadPool | undefined;
  const session = await Session.fromSparrow(dl.bytes, {
    engine: 'sparrow-int8',
    wasmModule: module,
    instantiate: async (m) => {
      const w = await instantiateThreaded(m, n, spawnWebHelper);
      pool = w.pool;
      return w;
    },
  });
  return { session, pool: () => pool };
}

/**
 * The tokenizer and generation facts a downloaded language model stores (`sparrow compress
 * --tokenizer`: src/format/text.ts), or null. Its section was CRC-checked during the download.
 *
 *   const dl = await fetchSparrow('/v1/models/stories260k');
 *   const m = await createModel(dl, { engine: 'sparrow-f32' });
 *   const text = textModel(dl)!;
 *   const ids = text.tokenizer.encode('Once upon a time');
 *   const piece = text.tokenizer.streamDecoder(ids);
 *   for await (const id of generate(m.session, ids, { maxTokens: 200, stop: text.stop })) out += piece(id);
 */
export function textModel(dl: SparrowDownload): TextModel | null {
  return textModelOf({
    header: dl.header,
    payload: (i) => {
      const d = dl.decoded.get(i);
      if (!(d instanceof Uint8Array)) throw new SparrowError('internal', `section ${i} was not decoded as bytes`);
      return d;
    },
  });
}

/** One run on zeros when every input has static dims (instantiates WASM, compiles the plan). */
async function warmUp(s: Session): Promise<void> {
  const feeds: Record<string, Tensor> = {};
  for (const name of s.inputNames) {
    const info = s.inputInfo[name]!;
    if (!info.dims || info.dims.some((d) => d < 0) || info.dtype !== 'float32') {
      const dims = info.dims?.map((d) => (d < 0 ? 1 : d));
      if (!dims || info.dtype !== 'float32') return;
      feeds[name] = { dtype: 'float32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) };
      continue;
    }
    feeds[name] = { dtype: 'float32', dims: [...info.dims], data: new Float32Array(info.dims.reduce((a, b) => a * b, 1)) };
  }
  await s.run(feeds);
}

/** fetchSparrow + createModel: one engine. */
export async function loadModel(url: string | URL, opts: LoadOptions = {}): Promise<BrowserModel> {
  // compile the kernels while the model downloads; the download decodes its int8 sections with
  // them once they are there
  const kernels = opts.wasmModule
    ? Promise.resolve(opts.wasmModule)
    : compileWasm(wasmChoice(opts).href, opts.fetch ? { fetch: opts.fetch } : {}).then(
        (c) => c.module,
        () => undefined, // createModel reports it (or falls back to the plain build)
      );
  const [dl] = await Promise.all([fetchSparrow(url, { ...opts, decodeWith: opts.decodeWith ?? kernels }), kernels]);
  opts.onProgress?.({
    phase: 'decode',
    loaded: dl.bytes.length,
    total: dl.bytes.length,
    sections: dl.header.sectionCount,
    sectionCount: dl.header.sectionCount,
  });
  const m = await createModel(dl, opts);
  opts.onProgress?.({
    phase: 'ready',
    loaded: dl.bytes.length,
    total: dl.bytes.length,
    sections: dl.header.sectionCount,
    sectionCount: dl.header.sectionCount,
  });
  return m;
}

/** Index of the largest value (the predicted class of logits). */
export function argmax(x: ArrayLike<number> | ArrayLike<bigint>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** Softmax of logits (float64). */
export function softmax(x: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]!);
  const e = Array.from({ length: x.length }, (_, i) => Math.exp(x[i]! - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
