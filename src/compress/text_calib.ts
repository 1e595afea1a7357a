// `sparrow compress --calib text:<file>`: calibration data for a text model. The file's token ids
// (the model's tokenizer, src/cli/textgen.ts tokenizeText: one encode per paragraph, BOS first
// where the tokenizer adds it) are cut into consecutive windows of `window` tokens; each window is
// one calibration batch, fed as the float model is fed for one prompt:
//   input_ids       [1, T]  the window                      (or tokens / input)
//   attention_mask  [1, T]  ones
//   position_ids    [1, T]  0 .. T − 1
//   token_type_ids  [1, T]  zeros (encoders)
//   past_*          [1, H, 0, D] empty (decoders with a KV cache: detectDecoder's layout)
// The calibration paths (src/compress/calib.ts pruneSequentially / collectLayerInputs,
// activations.ts calibrateActivations) run the float graph on these feeds as they do on images:
// every MatMul row of a window is a patch of its layer's Hessian (T rows per window).
import { SparrowError } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import type { Tensor, TensorDType, ValueInfo } from '../ops/types.js';
import { detectDecoder } from '../runtime/generate.js';

export interface TextCalibOptions {
  /** tokens per window (T) */
  window: number;
  /** windows at most (the first ones) */
  windows: number;
}

const IDS = ['input_ids', 'tokens', 'input'];

function ints(dtype: TensorDType, dims: number[], values: ArrayLike<number>): Tensor {
  if (dtype === 'int64') return { dtype, dims, data: BigInt64Array.from(Array.from(values), (v) => BigInt(v)) };
  if (dtype === 'int32') return { dtype, dims, data: Int32Array.from(values) };
  throw new SparrowError('invalid_argument', `--calib text: an integer input of dtype ${dtype} (int64 or int32 expected)`);
}

/**
 * The calibration batches (feeds by input name) of a text model `graph` for the token ids `ids`:
 * consecutive windows of `o.window` tokens, at most `o.windows`. Throws
 * SparrowError('invalid_argument') for a model input it cannot feed, a window longer than a
 * fixed sequence dimension, or fewer tokens than one window.
 */
export function textCalibBatches(graph: Graph, ids: readonly number[], o: TextCalibOptions): Array<Record<string, Tensor>> {
  const T = o.window;
  if (!(Number.isInteger(T) && T >= 1)) throw new SparrowError('invalid_argument', `--calib-window must be a positive integer, got ${T}`);
  if (!(Number.isInteger(o.windows) && o.windows >= 1))
    throw new SparrowError('invalid_argument', `--calib-n must be a positive integer, got ${o.windows}`);
  const info = (n: string): ValueInfo => graph.values.get(n)!.info;
  const idsName = IDS.find((n) => graph.inputs.includes(n));
  if (!idsName) throw new SparrowError('invalid_argument', `--calib text: the model has no token input (${IDS.join(' / ')})`);
  const idsInfo = info(idsName);
  const seq = idsInfo.dims?.[1];
  if (idsInfo.dims && (idsInfo.dims.length !== 2 || (idsInfo.dims[0]! > 0 && idsInfo.dims[0] !== 1)))
    throw new SparrowError('invalid_argument', `--calib text: '${idsName}' is [${idsInfo.dims}], expected [1, sequence]`);
  if (seq !== undefined && seq > 0 && seq !== T)
    throw new SparrowError('invalid_argument', `--calib text: '${idsName}' has a fixed length ${seq}; give --calib-window ${seq}`);
  const n = Math.min(o.windows, Math.floor(ids.length / T));
  if (n < 1) throw new SparrowError('invalid_argument', `--calib text: the text gives ${ids.length} tokens, fewer than one window of ${T}`);

  // the empty past of a decoder with a KV cache
  const past = new Map<string, Tensor>();
  if (graph.inputs.some((i) => /past/.test(i))) {
    const layout = detectDecoder({
      inputNames: graph.inputs,
      outputNames: graph.outputs,
      inputInfo: Object.fromEntries(graph.inputs.map((i) => [i, info(i)])),
      run: () => Promise.reject(new SparrowError('internal', 'not run')),
    });
    const empty: Tensor = { dtype: 'float32', dims: [1, layout.heads, 0, layout.headDim], data: new Float32Array(0) };
    if (layout.kvDtype !== 'float32')
      throw new SparrowError('invalid_argument', `--calib text: a ${layout.kvDtype} KV cache (float32 expected)`);
    for (const l of layout.layers) {
      past.set(l.pastKey, empty);
      past.set(l.pastValue, empty);
    }
  }
  const constant = (name: string): ((w: number[]) => Tensor) => {
    const dt = info(name).dtype;
    if (past.has(name)) return () => past.get(name)!;
    if (/attention_mask|^mask$/.test(name)) return () => ints(dt, [1, T], new Array<number>(T).fill(1));
    if (/position_ids|^positions$/.test(name))
      return () =>
        ints(
          dt,
          [1, T],
          Array.from({ length: T }, (_, i) => i),
        );
    if (/token_type_ids/.test(name)) return () => ints(dt, [1, T], new Array<number>(T).fill(0));
    if (name === idsName) return (w) => ints(dt, [1, T], w);
    throw new SparrowError(
      'invalid_argument',
      `--calib text: no rule to feed input '${name}' (token ids, mask, positions, token types, past)`,
    );
  };
  const makers = graph.inputs.map((name) => [name, constant(name)] as const);
  const out: Array<Record<string, Tensor>> = [];
  for (let k = 0; k < n; k++) {
    const w = ids.slice(k * T, (k + 1) * T);
    out.push(Object.fromEntries(makers.map(([name, make]) => [name, make(w)])));
  }
  return out;
}
