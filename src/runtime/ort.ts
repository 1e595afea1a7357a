// ONNX Runtime as peer engines (Node only): 'ort-node' (onnxruntime-node, native CPU EP) and
// 'ort-web' (onnxruntime-web's WASM build running in Node), both single-threaded, behind the
// small InferenceEngine interface that Session-based engines satisfy too (sessionEngine). The
// ORT packages are devDependencies and are imported lazily: commands that never name an ORT
// engine never load them.
import type * as OrtNode from 'onnxruntime-node';
import { SparrowError } from '../errors.js';
import { ARRAY_OF, type Tensor, type TensorDType } from '../ops/types.js';
import { Session, type EngineName } from './session.js';
import type { IoRunOptions, IoRunResult } from './plan_runner.js';

/** What `run`, `eval` and `bench` need of an engine. */
export interface InferenceEngine {
  /** CLI engine name, e.g. 'ort-node' */
  readonly name: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /** Sparrow's WASM engines: state kept in the arena across runs (Session.pinInputs / runIo; the decoder's zero-copy cache) */
  pinInputs?(names: readonly string[]): void;
  runIo?(feeds: Record<string, Tensor>, o: IoRunOptions): Promise<IoRunResult>;
  /** Bytes of WASM linear memory the engine holds, where it has one and can tell. */
  memoryBytes?(): number | undefined;
  dispose(): Promise<void>;
}

export type OrtEngineName = 'ort-node' | 'ort-web';
export const ORT_ENGINES: readonly OrtEngineName[] = ['ort-node', 'ort-web'];

export function isOrtEngine(name: string): name is OrtEngineName {
  return (ORT_ENGINES as readonly string[]).includes(name);
}

// onnxruntime-node and onnxruntime-web export the same onnxruntime-common API.
type Ort = typeof OrtNode;
type OrtTensor = OrtNode.Tensor;
type OrtSession = OrtNode.InferenceSession;

const PACKAGES: Record<OrtEngineName, string> = { 'ort-node': 'onnxruntime-node', 'ort-web': 'onnxruntime-web' };
const modules = new Map<OrtEngineName, Promise<Ort>>();

/** The ORT module of an engine, imported once and configured for one thread. */
export function ortModule(name: OrtEngineName): Promise<Ort> {
  let p = modules.get(name);
  if (!p) {
    const pkg = PACKAGES[name];
    p = (import(pkg) as Promise<Ort>).then(
      (m) => {
        if (name === 'ort-web') {
          m.env.wasm.numThreads = 1; // no worker threads: one WASM thread, like the other engines
          m.env.wasm.proxy = false;
        }
        m.env.logLevel = 'error';
        return m;
      },
      (e: unknown) => {
        modules.delete(name);
        throw new SparrowError(
          'invalid_argument',
          `engine '${name}' needs the ${pkg} package (a devDependency of sparrow-edge; ` +
            `install the dev dependencies): ${(e as Error).message.split('\n')[0]}`,
        );
      },
    );
    modules.set(name, p);
  }
  return p;
}

/** Sparrow dtype → ORT tensor type (onnxruntime's JS API has no bfloat16 tensors). */
const ORT_TYPES: Readonly<Partial<Record<TensorDType, string>>> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int64: 'int64',
  uint64: 'uint64',
  int32: 'int32',
  uint32: 'uint32',
  int16: 'int16',
  uint16: 'uint16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

function arrayMatches(t: Tensor): boolean {
  return t.data instanceof ARRAY_OF[t.dtype];
}

/** A Sparrow tensor as an ORT tensor of module `ort` (the data is shared, not copied). */
export function toOrtTensor(ort: Ort, t: Tensor, what = 'tensor'): OrtTensor {
  const type = ORT_TYPES[t.dtype];
  if (!type) throw new SparrowError('invalid_argument', `${what}: dtype ${String(t.dtype)} has no ONNX Runtime equivalent`);
  if (!arrayMatches(t)) throw new SparrowError('invalid_argument', `${what}: ${t.dtype} tensor backed by a ${t.data.constructor.name}`);
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (n !== t.data.length)
    throw new SparrowError('invalid_argument', `${what}: dims [${t.dims.join(', ')}] hold ${n} elements, data has ${t.data.length}`);
  // bool tensors are Uint8Array (0/1) on both sides; float16 tensors hold the bits in a Uint16Array on both sides
  return new ort.Tensor(type as 'float32', t.data as Float32Array, [...t.dims]);
}

/** An ORT tensor (CPU data) as a Sparrow tensor; the typed array is shared, not copied. */
export function fromOrtTensor(t: OrtTensor, what = 'tensor'): Tensor {
  const dims = [...t.dims];
  const data = t.data as unknown;
  switch (t.type) {
    case 'float32':
      if (data instanceof Float32Array) return { dtype: 'float32', dims, data };
      break;
    case 'int64':
      if (data instanceof BigInt64Array) return { dtype: 'int64', dims, data };
      break;
    case 'int32':
      if (data instanceof Int32Array) return { dtype: 'int32', dims, data };
      break;
    case 'int8':
      if (data instanceof Int8Array) return { dtype: 'int8', dims, data };
      break;
    case 'uint8':
      if (data instanceof Uint8Array) return { dtype: 'uint8', dims, data };
      break;
    case 'bool':
      if (data instanceof Uint8Array) return { dtype: 'bool', dims, data };
      break;
    case 'float64':
      if (data instanceof Float64Array) return { dtype: 'float64', dims, data };
      break;
    case 'float16':
      if (data instanceof Uint16Array) return { dtype: 'float16', dims, data };
      break;
    case 'uint64':
      if (data instanceof BigUint64Array) return { dtype: 'uint64', dims, data };
      break;
    case 'uint32':
      if (data instanceof Uint32Array) return { dtype: 'uint32', dims, data };
      break;
    case 'int16':
      if (data instanceof Int16Array) return { dtype: 'int16', dims, data };
      break;
    case 'uint16':
      if (data instanceof Uint16Array) return { dtype: 'uint16', dims, data };
      break;
    default:
      throw new SparrowError('unsupported_op', `${what}: ONNX Runtime returned a ${t.type} tensor, which is not a Sparrow dtype`);
  }
  throw new SparrowError(
    'internal',
    `${what}: ONNX Runtime ${t.type} tensor backed by a ${(data as object)?.constructor?.name ?? typeof data}`,
  );
}

function firstLine(e: unknown): string {
  return (
    (e instanceof Error ? e.message : String(e))
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean)[0] ?? 'unknown error'
  );
}

class OrtEngine implements InferenceEngine {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  #session: OrtSession | undefined;

  constructor(
    readonly name: OrtEngineName,
    private readonly ort: Ort,
    session: OrtSession,
  ) {
    this.#session = session;
    this.inputNames = Object.freeze([...session.inputNames]);
    this.outputNames = Object.freeze([...session.outputNames]);
  }

  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const s = this.#session;
    if (!s) throw new SparrowError('invalid_argument', `${this.name}: the engine was disposed`);
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const n of this.inputNames) {
      const t = feeds[n];
      if (!t) throw new SparrowError('invalid_argument', `${this.name}: missing input '${n}' (inputs: ${this.inputNames.join(', ')})`);
      ortFeeds[n] = toOrtTensor(this.ort, t, `input '${n}'`);
    }
    for (const n of Object.keys(feeds)) {
      if (!this.inputNames.includes(n))
        throw new SparrowError('invalid_argument', `${this.name}: unknown input '${n}' (inputs: ${this.inputNames.join(', ')})`);
    }
    let res: OrtNode.InferenceSession.ReturnType;
    try {
      res = await s.run(ortFeeds);
    } catch (e) {
      throw new SparrowError('invalid_argument', `${this.name}: ${firstLine(e)}`);
    }
    const out: Record<string, Tensor> = {};
    for (const n of this.outputNames) out[n] = fromOrtTensor(res[n]!, `output '${n}'`);
    return out;
  }

  async dispose(): Promise<void> {
    const s = this.#session;
    this.#session = undefined;
    if (s) await s.release();
  }
}

/**
 * An ORT engine over ONNX model bytes, single-threaded: ort-node with intra/inter-op threads 1
 * and sequential execution; ort-web with env.wasm.numThreads = 1 on the 'wasm' provider.
 * `graphOptimization` 'disabled' runs the model's operators as they are (no fusions: e.g. a
 * DequantizeLinear → Add → QuantizeLinear stays three operators); default ORT's own ('all').
 */
export async function createOrtEngine(
  name: OrtEngineName,
  bytes: Uint8Array,
  o: { graphOptimization?: 'disabled' | 'all' } = {},
): Promise<InferenceEngine> {
  const ort = await ortModule(name);
  const opts: OrtNode.InferenceSession.SessionOptions = {
    ...(name === 'ort-node'
      ? { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', logSeverityLevel: 3 }
      : { executionProviders: ['wasm'], executionMode: 'sequential', logSeverityLevel: 3 }),
    ...(o.graphOptimization ? { graphOptimizationLevel: o.graphOptimization } : {}),
  };
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(bytes, opts);
  } catch (e) {
    throw new SparrowError('invalid_model', `${name} cannot load the model: ${firstLine(e)}`);
  }
  return new OrtEngine(name, ort, session);
}

/** A Session seen as an InferenceEngine. WASM memory is reported when the session exposes it. */
export function sessionEngine(name: string, session: Session): InferenceEngine {
  return {
    name,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: (feeds) => session.run(feeds),
    pinInputs: (names) => session.pinInputs(names),
    runIo: (feeds, o) => session.runIo(feeds, o),
    memoryBytes(): number | undefined {
      // duck-typed: the WASM engines may expose `memoryBytes` (or a `wasm` with it)
      const s = session as unknown as { memoryBytes?: unknown; wasm?: { memoryBytes?: unknown } };
      const m =
        typeof s.memoryBytes === 'function' ? (s.memoryBytes as () => unknown).call(session) : (s.memoryBytes ?? s.wasm?.memoryBytes);
      return typeof m === 'number' ? m : undefined;
    },
    dispose: async () => {
      const d = (session as unknown as { dispose?: () => unknown }).dispose;
      if (typeof d === 'function') await d.call(session);
    },
  };
}

/** Loads an engine's code ahead of time (the ORT package import), so that timing a load measures session creation only. */
export async function prepareEngine(kind: EngineName | OrtEngineName): Promise<void> {
  if (isOrtEngine(kind)) await ortModule(kind);
}

/**
 * Opens an engine over ONNX bytes: `kind` is an ORT engine name or a Session engine;
 * `label` is the name the engine reports (the CLI name).
 */
export async function openEngine(label: string, kind: EngineName | OrtEngineName, bytes: Uint8Array): Promise<InferenceEngine> {
  if (isOrtEngine(kind)) return createOrtEngine(kind, bytes);
  return sessionEngine(label, await Session.fromOnnx(bytes, { engine: kind }));
}
