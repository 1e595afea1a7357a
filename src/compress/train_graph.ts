// Reverse-mode gradients through a float32 graph, for fine-tuning (finetune.ts): a forward pass
// that keeps every activation, and a backward pass from gradients seeded on any values (the
// logits, block outputs) to the trainable constants (Conv/Gemm/MatMul weights and biases).
//
// Ops with a backward here:
//   Conv (2-D or any rank, group 1, pads / auto_pad / strides / dilations): im2col + GEMM.
//     Patches Xp (R, K), R = N·P rows (image n, output position p), K = C·KK columns in W's
//     flattened order (channel c, tap kp): Yp (R, M) = Xp · Wᵀ; dW (M, K) = dYpᵀ · Xp;
//     dXp (R, K) = dYp · W, scattered back by col2im (convTapOffsets gives every tap's offset).
//   Gemm (transA 0, alpha, beta, B constant or not, C a constant bias) and MatMul (B constant 2-D):
//     Y = α A op(B) + β C; dA = α dY op(B)ᵀ, dB = α Aᵀ dY (transB: α dYᵀ A), dC = β Σ dY.
//   Relu (dX = dY where Y > 0), Add / Sub (same shapes; a constant side gets no gradient),
//   AveragePool (no ceil mode; dX += dY / count per valid tap), GlobalAveragePool, MaxPool (no
//   ceil mode, no Indices output; dY to the window's first maximum).
//   Gathers: Slice, Pad (constant mode), Reshape, Flatten, Squeeze, Unsqueeze, Transpose,
//     Identity, Expand. Each is y[j] = x[map[j]] or a fill value; the map is found once per input
//     shape by running the op's own reference kernel on x = index + 1 and on x = 0, and the
//     backward is the scatter-add dX[map[j]] += dY[j].
// Forward values come from the reference kernels (node.def.ref) except Conv/Gemm/MatMul, which go
// through the same GEMM as their backward (a plain TS reference, or WASM: gemm option).
// Everything is float32; gradients accumulate in float32 (the tests compare against central
// finite differences in float64 on a double-checked small graph).
import { SparrowError } from '../errors.js';
import type { Graph, Node } from '../ir/graph.js';
import { convTapOffsets, readWindowAttrs } from '../ops/ref/conv.js';
import { AttrReader } from '../ops/ref/util.js';
import { elementCount, type Tensor } from '../ops/types.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import { gemmF32 } from '../kernels/f32.js';

/** C (M, N) = A (M, K) · B (K, N), or A · Bᵀ with B stored (N, K) when transB. */
export type GemmFn = (M: number, N: number, K: number, A: Float32Array, B: Float32Array, transB: boolean) => Float32Array;

/** Plain TS GEMM (the reference): i-k-j loops, float32 accumulation in k order. */
export const gemmTs: GemmFn = (M, N, K, A, B, transB) => {
  const C = new Float32Array(M * N);
  if (transB) {
    for (let i = 0; i < M; i++) {
      const a0 = i * K;
      for (let j = 0; j < N; j++) {
        const b0 = j * K;
        let s = 0;
        for (let k = 0; k < K; k++) s += A[a0 + k]! * B[b0 + k]!;
        C[i * N + j] = s;
      }
    }
    return C;
  }
  for (let i = 0; i < M; i++) {
    const c0 = i * N;
    for (let k = 0; k < K; k++) {
      const a = A[i * K + k]!;
      if (a === 0) continue;
      const b0 = k * N;
      for (let j = 0; j < N; j++) C[c0 + j]! += a * B[b0 + j]!;
    }
  }
  return C;
};

/** The WASM SIMD float32 GEMM (src/kernels/f32.ts gemmF32, B packed per call). */
export function gemmWasm(w: SparrowWasm): GemmFn {
  return (M, N, K, A, B, transB) => (M === 0 || N === 0 ? new Float32Array(M * N) : gemmF32(w, M, N, K, A, B, { transB }));
}

/** (rows, cols) → (cols, rows) */
function transpose(A: Float32Array, rows: number, cols: number): Float32Array {
  const T = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) T[j * rows + i] = A[i * cols + j]!;
  return T;
}

const GATHER_OPS = new Set(['Slice', 'Pad', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Identity', 'Expand']);
const SUPPORTED = new Set([...GATHER_OPS, 'Conv', 'Gemm', 'MatMul', 'Relu', 'Add', 'Sub', 'AveragePool', 'GlobalAveragePool', 'MaxPool']);

/** One forward pass: every value computed (by name), for backward. */
export interface Tape {
  values: Map<string, Tensor>;
  /** Conv: the im2col patches of its input, kept for dW */
  patches: Map<string, Float32Array>;
}

interface ConvGeo {
  key: string;
  P: number;
  KK: number;
  offsetOf: Int32Array;
  /** offsetOf transposed: offT[p·KK + kp] (a patch's taps side by side) */
  offT: Int32Array;
  outSp: number[];
}

/**
 * A graph whose float32 constants named in `params` are trained. The graph's constants are read
 * at each pass (setParam replaces one), so the trainer and the graph stay in step.
 */
export class GraphTrainer {
  readonly graph: Graph;
  readonly params: Set<string>;
  readonly gemm: GemmFn;
  #conv = new Map<string, ConvGeo>();
  #maps = new Map<string, { map: Int32Array; fill: Float32Array; dims: number[] }>();

  constructor(graph: Graph, params: Iterable<string>, gemm: GemmFn = gemmTs) {
    this.graph = graph;
    this.params = new Set(params);
    this.gemm = gemm;
    for (const p of this.params) {
      const c = graph.values.get(p)?.const;
      if (!c || c.dtype !== 'float32') throw new SparrowError('invalid_argument', `fine-tuning: '${p}' is not a float32 constant`);
    }
    for (const n of graph.nodes) {
      if (n.domain !== '' || !SUPPORTED.has(n.op))
        throw new SparrowError(
          'unsupported_op',
          `fine-tuning has no gradient for ${n.domain ? n.domain + '.' : ''}${n.op} (node '${n.name}')`,
        );
      if (n.op === 'Conv' && (n.attrs['group'] ?? 1) !== 1)
        throw new SparrowError('unsupported_op', `fine-tuning: grouped Conv '${n.name}' has no gradient here`);
      if (n.op === 'Gemm' && n.attrs['transA'] === 1)
        throw new SparrowError('unsupported_op', `fine-tuning: Gemm '${n.name}' with transA has no gradient here`);
      if (n.op === 'Pad' && (n.attrs['mode'] ?? 'constant') !== 'constant')
        throw new SparrowError('unsupported_op', `fine-tuning: Pad '${n.name}' in mode ${String(n.attrs['mode'])} has no gradient here`);
      if (n.op === 'MaxPool' && n.outputs.length > 1 && n.outputs[1])
        throw new SparrowError('unsupported_op', `fine-tuning: MaxPool '${n.name}' with an Indices output has no gradient here`);
      if ((n.op === 'AveragePool' || n.op === 'MaxPool') && n.attrs['ceil_mode'] === 1)
        throw new SparrowError('unsupported_op', `fine-tuning: AveragePool '${n.name}' with ceil_mode has no gradient here`);
    }
  }

  param(name: string): Float32Array {
    return this.graph.values.get(name)!.const!.data as Float32Array;
  }

  #read(tape: Tape, name: string): Tensor {
    const t = tape.values.get(name) ?? this.graph.values.get(name)?.const;
    if (!t) throw new SparrowError('internal', `fine-tuning: value '${name}' read before it is computed`);
    return t;
  }

  #convGeo(n: Node, X: Tensor, W: Tensor): ConvGeo {
    const key = `${n.name}|${X.dims.slice(2).join(',')}`;
    let g = this.#conv.get(key);
    if (!g) {
      const win = readWindowAttrs(
        'Conv',
        new AttrReader('Conv', n.attrs, { opset: n.opset, node: n.name }),
        X.dims.length - 2,
        W.dims.slice(2),
        false,
      );
      const t = convTapOffsets(X.dims.slice(2), win);
      const offT = new Int32Array(t.P * t.KK);
      for (let kp = 0; kp < t.KK; kp++) for (let p = 0; p < t.P; p++) offT[p * t.KK + kp] = t.offsetOf[kp * t.P + p]!;
      g = { key, P: t.P, KK: t.KK, offsetOf: t.offsetOf, offT, outSp: t.geo.out };
      this.#conv.set(key, g);
    }
    return g;
  }

  /** Runs the graph on `feeds`, keeping every value. */
  forward(feeds: Record<string, Tensor>): Tape {
    const tape: Tape = { values: new Map(), patches: new Map() };
    for (const [k, v] of Object.entries(feeds)) tape.values.set(k, v);
    for (const n of this.graph.nodes) {
      const inputs = n.inputs.map((i) => (i ? this.#read(tape, i) : undefined));
      let outs: Tensor[];
      if (n.op === 'Conv') outs = [this.#convForward(n, inputs, tape)];
      else if (n.op === 'Gemm' || n.op === 'MatMul') outs = [this.#gemmForward(n, inputs)];
      else outs = n.def.ref(inputs, n.attrs, { opset: n.opset, node: n.name });
      n.outputs.forEach((o, j) => {
        if (o) tape.values.set(o, outs[j]!);
      });
    }
    return tape;
  }

  #convForward(n: Node, inputs: ReadonlyArray<Tensor | undefined>, tape: Tape): Tensor {
    const [X, W, B] = inputs as [Tensor, Tensor, Tensor | undefined];
    const geo = this.#convGeo(n, X, W);
    const N = X.dims[0]!,
      C = X.dims[1]!,
      M = W.dims[0]!;
    if (W.dims[1] !== C)
      throw new SparrowError('invalid_argument', `fine-tuning: Conv '${n.name}' has ${C} input channels, W ${W.dims.join('x')}`);
    const { P, KK, offT } = geo;
    const K = C * KK,
      inSize = elementCount(X.dims.slice(2));
    const x = X.data as Float32Array;
    // Xp (R, K), R = N·P: row n·P + p is the patch of output p of image n, written in order
    const Xp = new Float32Array(N * P * K);
    for (let nn = 0; nn < N; nn++)
      for (let p = 0; p < P; p++) {
        const row = (nn * P + p) * K,
          o0 = p * KK;
        for (let c = 0; c < C; c++) {
          const xb = (nn * C + c) * inSize,
            cb = row + c * KK;
          for (let kp = 0; kp < KK; kp++) {
            const off = offT[o0 + kp]!;
            if (off >= 0) Xp[cb + kp] = x[xb + off]!;
          }
        }
      }
    tape.patches.set(n.name, Xp);
    // Yp (R, M) = Xp · Wᵀ
    const Yp = this.gemm(N * P, M, K, Xp, W.data as Float32Array, true);
    const b = B ? (B.data as Float32Array) : undefined;
    const y = new Float32Array(N * M * P);
    for (let nn = 0; nn < N; nn++)
      for (let m = 0; m < M; m++) {
        const bm = b ? b[m]! : 0,
          yb = (nn * M + m) * P;
        for (let p = 0; p < P; p++) y[yb + p] = Yp[(nn * P + p) * M + m]! + bm;
      }
    return { dtype: 'float32', dims: [N, M, ...geo.outSp], data: y };
  }

  /** Gemm / MatMul as (rows, K) · op(B) → (rows, Nout) */
  #gemmShape(n: Node, A: Tensor, B: Tensor): { rows: number; K: number; Nout: number; transB: boolean; alpha: number; beta: number } {
    const transB = n.op === 'Gemm' && n.attrs['transB'] === 1;
    if (B.dims.length !== 2) throw new SparrowError('unsupported_op', `fine-tuning: ${n.op} '${n.name}' needs a 2-D B`);
    const K = transB ? B.dims[1]! : B.dims[0]!,
      Nout = transB ? B.dims[0]! : B.dims[1]!;
    const rows = elementCount(A.dims) / K;
    if (!Number.isInteger(rows) || A.dims[A.dims.length - 1] !== K)
      throw new SparrowError('invalid_argument', `fine-tuning: ${n.op} '${n.name}': A ${A.dims.join('x')} against B ${B.dims.join('x')}`);
    const alpha = n.op === 'Gemm' ? Number(n.attrs['alpha'] ?? 1) : 1,
      beta = n.op === 'Gemm' ? Number(n.attrs['beta'] ?? 1) : 1;
    return { rows, K, Nout, transB, alpha, beta };
  }

  #gemmForward(n: Node, inputs: ReadonlyArray<Tensor | undefined>): Tensor {
    const [A, B, Cb] = inputs as [Tensor, Tensor, Tensor | undefined];
    const { rows, K, Nout, transB, alpha, beta } = this.#gemmShape(n, A, B);
    const Y = this.gemm(rows, Nout, K, A.data as Float32Array, B.data as Float32Array, transB);
    if (alpha !== 1) for (let i = 0; i < Y.length; i++) Y[i]! *= alpha;
    if (Cb) {
      const c = Cb.data as Float32Array;
      if (c.length === Nout) {
        for (let r = 0; r < rows; r++) for (let j = 0; j < Nout; j++) Y[r * Nout + j]! += beta * c[j]!;
      } else if (c.length === 1) {
        for (let i = 0; i < Y.length; i++) Y[i]! += beta * c[0]!;
      } else if (c.length === Y.length) {
        for (let i = 0; i < Y.length; i++) Y[i]! += beta * c[i]!;
      } else throw new SparrowError('unsupported_op', `fine-tuning: Gemm '${n.name}' with C of ${Cb.dims.join('x')}`);
    }
    const dims = n.op === 'Gemm' ? [rows, Nout] : [...A.dims.slice(0, -1), Nout];
    return { dtype: 'float32', dims, data: Y };
  }

  /**
   * Gradients of the trainable constants, given the tape of a forward pass and the gradient of
   * the loss with respect to some of its values (same sizes as the values).
   */
  backward(tape: Tape, seeds: Map<string, Float32Array>): Map<string, Float32Array> {
    const grads = new Map<string, Float32Array>();
    for (const [k, v] of seeds) grads.set(k, Float32Array.from(v));
    const needs = this.#needsGrad();
    const add = (name: string | undefined, g: Float32Array): void => {
      if (!name || !needs.has(name)) return;
      const cur = grads.get(name);
      if (!cur) grads.set(name, g);
      else for (let i = 0; i < g.length; i++) cur[i]! += g[i]!;
    };
    const nodes = this.graph.nodes;
    for (let ni = nodes.length - 1; ni >= 0; ni--) {
      const n = nodes[ni]!;
      const dY = n.outputs[0] ? grads.get(n.outputs[0]) : undefined;
      if (!dY) continue;
      const Y = tape.values.get(n.outputs[0]!)!;
      const inputs = n.inputs.map((i) => (i ? this.#read(tape, i) : undefined));
      switch (n.op) {
        case 'Conv':
          this.#convBackward(n, inputs, dY, tape, add);
          break;
        case 'Gemm':
        case 'MatMul':
          this.#gemmBackward(n, inputs, dY, add);
          break;
        case 'Relu': {
          const y = Y.data as Float32Array;
          const g = new Float32Array(dY.length);
          for (let i = 0; i < g.length; i++) g[i] = y[i]! > 0 ? dY[i]! : 0;
          add(n.inputs[0], g);
          break;
        }
        case 'Add':
        case 'Sub': {
          for (let k = 0; k < 2; k++) {
            const name = n.inputs[k];
            if (!name || !needs.has(name)) continue;
            if (elementCount(inputs[k]!.dims) !== dY.length)
              throw new SparrowError('unsupported_op', `fine-tuning: ${n.op} '${n.name}' broadcasts a trained value`);
            add(name, k === 1 && n.op === 'Sub' ? dY.map((v) => -v) : Float32Array.from(dY));
          }
          break;
        }
        case 'GlobalAveragePool': {
          const X = inputs[0]!;
          const NC = X.dims[0]! * X.dims[1]!,
            S = elementCount(X.dims.slice(2));
          const g = new Float32Array(NC * S);
          for (let i = 0; i < NC; i++) g.fill(dY[i]! / S, i * S, (i + 1) * S);
          add(n.inputs[0], g);
          break;
        }
        case 'AveragePool':
          add(n.inputs[0], this.#avgPoolBackward(n, inputs[0]!, dY));
          break;
        case 'MaxPool':
          add(n.inputs[0], this.#maxPoolBackward(n, inputs[0]!, dY));
          break;
        default: {
          // a gather op (GATHER_OPS)
          const X = inputs[0]!;
          const { map } = this.#gatherMap(n, inputs);
          const g = new Float32Array(elementCount(X.dims));
          for (let j = 0; j < map.length; j++) {
            const s = map[j]!;
            if (s >= 0) g[s]! += dY[j]!;
          }
          add(n.inputs[0], g);
        }
      }
    }
    const out = new Map<string, Float32Array>();
    for (const p of this.params) out.set(p, grads.get(p) ?? new Float32Array(this.param(p).length));
    return out;
  }

  #needsCache?: Set<string>;
  /** Values whose gradient reaches a parameter: the params and everything downstream of them. */
  #needsGrad(): Set<string> {
    if (this.#needsCache) return this.#needsCache;
    const s = new Set(this.params);
    // the data path too: every non-constant value (the backward walks it towards the params)
    for (const n of this.graph.nodes) {
      const live = n.inputs.some((i) => i && (s.has(i) || !this.graph.values.get(i)?.const));
      if (live) for (const o of n.outputs) if (o) s.add(o);
      for (const i of n.inputs) if (i && !this.graph.values.get(i)?.const) s.add(i);
    }
    this.#needsCache = s;
    return s;
  }

  #convBackward(
    n: Node,
    inputs: ReadonlyArray<Tensor | undefined>,
    dy: Float32Array,
    tape: Tape,
    add: (name: string | undefined, g: Float32Array) => void,
  ): void {
    const [X, W] = inputs as [Tensor, Tensor];
    const geo = this.#convGeo(n, X, W);
    const N = X.dims[0]!,
      C = X.dims[1]!,
      M = W.dims[0]!;
    const { P, KK } = geo;
    const K = C * KK,
      R = N * P;
    const wName = n.inputs[1]!,
      bName = n.inputs[2];
    // dYpᵀ (M, R): dy is (N, M, P)
    const dYt = new Float32Array(M * R);
    for (let nn = 0; nn < N; nn++) for (let m = 0; m < M; m++) dYt.set(dy.subarray((nn * M + m) * P, (nn * M + m + 1) * P), m * R + nn * P);
    if (this.params.has(wName)) {
      const Xp = tape.patches.get(n.name)!;
      add(wName, this.gemm(M, K, R, dYt, Xp, false));
    }
    if (bName && this.params.has(bName)) {
      const db = new Float32Array(M);
      for (let m = 0; m < M; m++) {
        let s = 0;
        for (let r = 0; r < R; r++) s += dYt[m * R + r]!;
        db[m] = s;
      }
      add(bName, db);
    }
    const xName = n.inputs[0]!;
    if (this.graph.values.get(xName)?.const || this.graph.inputs.includes(xName)) return;
    // dXp (R, K) = dYp (R, M) · W (M, K)
    const dYp = transpose(dYt, M, R);
    const dXp = this.gemm(R, K, M, dYp, W.data as Float32Array, false);
    const inSize = elementCount(X.dims.slice(2));
    const dx = new Float32Array(N * C * inSize);
    const { offT } = geo;
    for (let nn = 0; nn < N; nn++)
      for (let p = 0; p < P; p++) {
        const row = (nn * P + p) * K,
          o0 = p * KK;
        for (let c = 0; c < C; c++) {
          const xb = (nn * C + c) * inSize,
            cb = row + c * KK;
          for (let kp = 0; kp < KK; kp++) {
            const off = offT[o0 + kp]!;
            if (off >= 0) dx[xb + off]! += dXp[cb + kp]!;
          }
        }
      }
    add(xName, dx);
  }

  #gemmBackward(
    n: Node,
    inputs: ReadonlyArray<Tensor | undefined>,
    dY: Float32Array,
    add: (name: string | undefined, g: Float32Array) => void,
  ): void {
    const [A, B] = inputs as [Tensor, Tensor];
    const { rows, K, Nout, transB, alpha, beta } = this.#gemmShape(n, A, B);
    const a = A.data as Float32Array,
      b = B.data as Float32Array;
    const scale = (g: Float32Array, s: number): Float32Array => {
      if (s !== 1) for (let i = 0; i < g.length; i++) g[i]! *= s;
      return g;
    };
    const bName = n.inputs[1]!;
    if (this.params.has(bName) || !this.graph.values.get(bName)?.const) {
      // transB: B (Nout, K): dB = α dYᵀ A; else B (K, Nout): dB = α Aᵀ dY
      const dB = transB
        ? this.gemm(Nout, K, rows, transpose(dY, rows, Nout), a, false)
        : this.gemm(K, Nout, rows, transpose(a, rows, K), dY, false);
      add(bName, scale(dB, alpha));
    }
    const cName = n.op === 'Gemm' ? n.inputs[2] : undefined;
    if (cName && this.params.has(cName)) {
      const c = inputs[2]!;
      const len = elementCount(c.dims);
      const dC = new Float32Array(len);
      if (len === Nout) for (let r = 0; r < rows; r++) for (let j = 0; j < Nout; j++) dC[j]! += dY[r * Nout + j]!;
      else if (len === 1) for (let i = 0; i < dY.length; i++) dC[0]! += dY[i]!;
      else dC.set(dY);
      add(cName, scale(dC, beta));
    }
    const aName = n.inputs[0]!;
    if (this.graph.inputs.includes(aName) || this.graph.values.get(aName)?.const) return;
    // dA (rows, K) = α dY · op(B)ᵀ: transB → dY · B (Nout, K); else dY · Bᵀ with B (K, Nout)
    const dA = transB ? this.gemm(rows, K, Nout, dY, b, false) : this.gemm(rows, K, Nout, dY, b, true);
    add(aName, scale(dA, alpha));
  }

  #avgPoolBackward(n: Node, X: Tensor, dy: Float32Array): Float32Array {
    const r = new AttrReader('AveragePool', n.attrs, { opset: n.opset, node: n.name });
    const win = readWindowAttrs('AveragePool', r, X.dims.length - 2, undefined, true);
    const includePad = r.int('count_include_pad', 0) === 1;
    const { P, KK, offsetOf } = convTapOffsets(X.dims.slice(2), win);
    const NC = X.dims[0]! * X.dims[1]!,
      S = elementCount(X.dims.slice(2));
    const cnt = new Float32Array(P);
    for (let p = 0; p < P; p++) {
      let c = 0;
      for (let kp = 0; kp < KK; kp++) if (offsetOf[kp * P + p]! >= 0) c++;
      cnt[p] = includePad ? KK : c;
    }
    const dx = new Float32Array(NC * S);
    for (let i = 0; i < NC; i++)
      for (let kp = 0; kp < KK; kp++)
        for (let p = 0; p < P; p++) {
          const off = offsetOf[kp * P + p]!;
          if (off >= 0) dx[i * S + off]! += dy[i * P + p]! / cnt[p]!;
        }
    return dx;
  }

  /** dY of each output goes to the first tap holding the window's maximum (padding never wins). */
  #maxPoolBackward(n: Node, X: Tensor, dy: Float32Array): Float32Array {
    const r = new AttrReader('MaxPool', n.attrs, { opset: n.opset, node: n.name });
    const win = readWindowAttrs('MaxPool', r, X.dims.length - 2, undefined, true);
    const { P, KK, offsetOf } = convTapOffsets(X.dims.slice(2), win);
    const NC = X.dims[0]! * X.dims[1]!,
      S = elementCount(X.dims.slice(2));
    const x = X.data as Float32Array;
    const dx = new Float32Array(NC * S);
    for (let i = 0; i < NC; i++)
      for (let p = 0; p < P; p++) {
        let best = -1,
          bv = -Infinity;
        for (let kp = 0; kp < KK; kp++) {
          const off = offsetOf[kp * P + p]!;
          if (off >= 0 && (best < 0 || x[i * S + off]! > bv)) {
            best = off;
            bv = x[i * S + off]!;
          }
        }
        if (best >= 0) dx[i * S + best]! += dy[i * P + p]!;
      }
    return dx;
  }

  /** y[j] = x[map[j]] (map −1: fill[j]) of a gather op at this input shape, from its reference kernel. */
  #gatherMap(n: Node, inputs: ReadonlyArray<Tensor | undefined>): { map: Int32Array; fill: Float32Array } {
    const X = inputs[0]!;
    const key = `${n.name}|${X.dims.join(',')}`;
    const hit = this.#maps.get(key);
    if (hit) return hit;
    const size = elementCount(X.dims);
    if (size >= 2 ** 24) throw new SparrowError('too_large', `fine-tuning: ${n.op} '${n.name}' input too large for its index map`);
    const run = (data: Float32Array): Float32Array => {
      const ins = [{ dtype: 'float32' as const, dims: [...X.dims], data }, ...inputs.slice(1)];
      return n.def.ref(ins, n.attrs, { opset: n.opset, node: n.name })[0]!.data as Float32Array;
    };
    const yi = run(Float32Array.from({ length: size }, (_, i) => i + 1));
    const yz = run(new Float32Array(size));
    const map = new Int32Array(yi.length);
    for (let j = 0; j < yi.length; j++) map[j] = yi[j] !== yz[j] ? Math.round(yi[j]! - yz[j]!) - 1 : -1;
    const r = { map, fill: yz, dims: [...X.dims] };
    this.#maps.set(key, r);
    return r;
  }
}

/** The trainable constants of a graph: weights (input 1) and biases (input 2) of Conv, Gemm and MatMul nodes, float32, read once. */
export function trainableParams(graph: Graph): string[] {
  const count = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) count.set(i, (count.get(i) ?? 0) + 1);
  const out: string[] = [];
  for (const n of graph.nodes) {
    if (n.domain !== '' || (n.op !== 'Conv' && n.op !== 'Gemm' && n.op !== 'MatMul')) continue;
    for (const i of [n.inputs[1], n.inputs[2]]) {
      const c = i ? graph.values.get(i)?.const : undefined;
      if (i && c && c.dtype === 'float32' && count.get(i) === 1 && !graph.outputs.includes(i)) out.push(i);
    }
  }
  return out;
}
