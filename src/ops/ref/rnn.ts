// Recurrent layers: RNN, GRU and LSTM (ONNX 7; 14 adds `layout`; 22 only adds bfloat16), every
// input and attribute: direction (forward, reverse, bidirectional), hidden_size, activations with
// activation_alpha / activation_beta, clip, input_forget (LSTM), linear_before_reset (GRU),
// sequence_lens, initial_h, initial_c and peepholes P (LSTM). Gate order is the spec's: RNN i,
// GRU z r h, LSTM i o f c (P: i o f). Dot products are summed in float64; the hidden and cell
// states are float32 after every step, as in onnxruntime.
//
// Shapes (layout 0; layout 1 swaps the first two axes of X, Y, initial_h/c, Y_h/c: batch major):
//   X [S, B, I]   W [D, G·H, I]   R [D, G·H, H]   B [D, 2·G·H] (Wb then Rb)   sequence_lens [B] int32
//   initial_h, initial_c [D, B, H]   P [D, 3·H]   →   Y [S, D, B, H]   Y_h, Y_c [D, B, H]
// with S sequence length, B batch, I input size, H hidden size, D directions, G gates (1, 3, 4).
//
// sequence_lens (onnxruntime's behaviour; the ONNX reference implementation ignores the input):
// batch entry b runs lens[b] steps (0 ≤ lens[b] ≤ S); the reverse direction runs them from
// lens[b]−1 down to 0; Y is zero at steps ≥ lens[b]; Y_h / Y_c hold the state after the last
// step run (forward: step lens[b]−1, reverse: step 0), and are zero when lens[b] = 0 (LSTM and
// GRU in onnxruntime; its RNN reads out of bounds there, Sparrow gives zero for all three).
//
// Activation parameters follow onnxruntime: alpha/beta are consumed in order by the functions
// that take them; the defaults are LeakyRelu α 0.01, HardSigmoid α 0.2 β 0.5, Elu α 1, and 0 for
// the others (Affine, ThresholdedRelu, ScaledTanh), where the ONNX text would take the defaults
// of the ONNX operators of the same name. Names are case-insensitive.

import type { Attrs, KernelContext, RefKernel, ShapeFn, Tensor, ValueInfo } from '../types.js';
import { AttrReader, infoOf, opError, requireInput } from './util.js';

export type RecurrentKind = 'RNN' | 'GRU' | 'LSTM';

const GATES: Readonly<Record<RecurrentKind, number>> = { RNN: 1, GRU: 3, LSTM: 4 };
/** activation functions per direction, and their defaults */
const DEFAULT_ACTS: Readonly<Record<RecurrentKind, readonly string[]>> = {
  RNN: ['Tanh'],
  GRU: ['Sigmoid', 'Tanh'],
  LSTM: ['Sigmoid', 'Tanh', 'Tanh'],
};

// ---------------------------------------------------------------------------------------------
// Activation functions

type Act = (x: number) => number;

interface ActDef {
  /** takes an alpha / a beta from activation_alpha / activation_beta */
  alpha?: number;
  beta?: number;
  make: (alpha: number, beta: number) => Act;
}

/** lower-case name → definition; `alpha` / `beta` present = the function consumes one, value = its default */
const ACTIVATIONS: Readonly<Record<string, ActDef>> = {
  sigmoid: { make: () => (x) => 1 / (1 + Math.exp(-x)) },
  tanh: { make: () => Math.tanh },
  relu: { make: () => (x) => (x > 0 ? x : 0) },
  affine: { alpha: 0, beta: 0, make: (a, b) => (x) => a * x + b },
  leakyrelu: { alpha: 0.01, make: (a) => (x) => (x >= 0 ? x : a * x) },
  thresholdedrelu: { alpha: 0, make: (a) => (x) => (x > a ? x : 0) },
  scaledtanh: { alpha: 0, beta: 0, make: (a, b) => (x) => a * Math.tanh(b * x) },
  hardsigmoid: { alpha: 0.2, beta: 0.5, make: (a, b) => (x) => Math.min(1, Math.max(0, a * x + b)) },
  elu: { alpha: 1, make: (a) => (x) => (x >= 0 ? x : a * (Math.exp(x) - 1)) },
  softsign: { make: () => (x) => x / (1 + Math.abs(x)) },
  // log(1 + e^x) without overflow
  softplus: { make: () => (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))) },
};

/** The activation functions of each direction: [direction][function]. */
function activations(kind: RecurrentKind, r: AttrReader, numDir: number): Act[][] {
  const per = DEFAULT_ACTS[kind].length;
  let names = r.has('activations') ? readStrings(r, 'activations') : [];
  if (names.length === 0) names = Array.from({ length: numDir }, () => DEFAULT_ACTS[kind]).flat();
  // onnxruntime: RNN's schema default ["Tanh", "Tanh"] on a one-direction RNN means one Tanh
  if (kind === 'RNN' && numDir === 1 && names.length === 2) names = names.slice(0, 1);
  if (names.length !== per * numDir) {
    throw opError(kind, r.ctx, `attribute 'activations' must list ${per * numDir} functions (${per} per direction), got ${names.length}`);
  }
  const alphas = r.floats('activation_alpha', []);
  const betas = r.floats('activation_beta', []);
  let ai = 0,
    bi = 0;
  const fns = names.map((name) => {
    const def = ACTIVATIONS[name.toLowerCase()];
    if (!def) throw opError(kind, r.ctx, `activation function "${name}" is not one of ${Object.keys(ACTIVATIONS).join(', ')}`);
    const alpha = def.alpha === undefined ? 0 : ai < alphas.length ? alphas[ai++]! : def.alpha;
    const beta = def.beta === undefined ? 0 : bi < betas.length ? betas[bi++]! : def.beta;
    return def.make(alpha, beta);
  });
  return Array.from({ length: numDir }, (_, d) => fns.slice(d * per, (d + 1) * per));
}

function readStrings(r: AttrReader, name: string): string[] {
  const v = r.attrs[name];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw opError(r.op, r.ctx, `attribute '${name}' must be a list of strings`);
  }
  return v as string[];
}

// ---------------------------------------------------------------------------------------------
// Attributes and shapes

interface Config {
  numDir: number;
  /** direction 'reverse' (one direction) */
  reverseOnly: boolean;
  /** batch-major tensors (layout 1, opset 14+) */
  batchMajor: boolean;
  /** hidden_size attribute, or undefined */
  hidden: number | undefined;
}

function config(kind: RecurrentKind, attrs: Attrs, ctx: KernelContext): Config {
  const r = new AttrReader(kind, attrs, ctx);
  const direction = r.stringIn('direction', 'forward', ['forward', 'reverse', 'bidirectional']);
  // `layout` exists from opset 14 on; before, batch-major tensors cannot be described
  const layout = ctx.opset >= 14 ? r.intIn('layout', 0, [0, 1]) : 0;
  const hidden = r.has('hidden_size') ? r.int('hidden_size', 0) : undefined;
  if (hidden !== undefined && hidden <= 0) throw opError(kind, ctx, `attribute 'hidden_size' must be positive, got ${hidden}`);
  return { numDir: direction === 'bidirectional' ? 2 : 1, reverseOnly: direction === 'reverse', batchMajor: layout === 1, hidden };
}

const fmt = (d: readonly number[]) => `[${d.join(', ')}]`;
const fround = Math.fround;

/** Static shape function: Y, Y_h (and Y_c for LSTM) from X, W, R and the attributes. */
export function recurrentShape(kind: RecurrentKind): ShapeFn {
  return (inputs, attrs, _consts, ctx) => {
    const cfg = config(kind, attrs, ctx);
    const G = GATES[kind];
    const x = infoOf(inputs, 0, kind, ctx);
    if (x.dtype !== 'float32') throw opError(kind, ctx, `input X has dtype ${x.dtype}; expected float32`);
    for (const [i, what] of [
      [1, 'W'],
      [2, 'R'],
      [3, 'B'],
      [5, 'initial_h'],
      [6, 'initial_c'],
      [7, 'P'],
    ] as const) {
      const v = inputs[i];
      if (v && v.dtype !== 'float32') throw opError(kind, ctx, `input ${what} has dtype ${v.dtype}; expected float32`);
    }
    const lens = inputs[4];
    if (lens && lens.dtype !== 'int32') throw opError(kind, ctx, `input sequence_lens has dtype ${lens.dtype}; expected int32`);
    if (x.dims && x.dims.length !== 3) throw opError(kind, ctx, `input X must be 3-D, got ${fmt(x.dims)}`);
    const w = infoOf(inputs, 1, kind, ctx).dims;
    const rr = infoOf(inputs, 2, kind, ctx).dims;
    let H = cfg.hidden ?? -1;
    if (H < 0 && rr && rr.length === 3 && rr[2]! >= 0) H = rr[2]!;
    if (H < 0 && w && w.length === 3 && w[1]! >= 0) H = w[1]! / G;
    const [S, Bt] = x.dims ? (cfg.batchMajor ? [x.dims[1]!, x.dims[0]!] : [x.dims[0]!, x.dims[1]!]) : [-1, -1];
    const D = cfg.numDir;
    const y: ValueInfo = { dtype: 'float32', dims: cfg.batchMajor ? [Bt, S, D, H] : [S, D, Bt, H] };
    const yh: ValueInfo = { dtype: 'float32', dims: cfg.batchMajor ? [Bt, D, H] : [D, Bt, H] };
    return kind === 'LSTM' ? [y, yh, { dtype: 'float32', dims: [...yh.dims!] }] : [y, yh];
  };
}

/** Checks that a tensor has the given dims; names the input. */
function expectDims(kind: RecurrentKind, ctx: KernelContext, t: Tensor, what: string, dims: number[]): void {
  if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
    throw opError(kind, ctx, `input ${what} has dims ${fmt(t.dims)}, expected ${fmt(dims)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The kernel

/** The reference kernel of RNN, GRU or LSTM (one definition for every opset; `layout` read from 14 on). */
export function recurrent(kind: RecurrentKind): RefKernel {
  return (inputs, attrs, ctx) => {
    const cfg = config(kind, attrs, ctx);
    const r = new AttrReader(kind, attrs, ctx);
    const G = GATES[kind];
    const D = cfg.numDir;
    const X = requireInput(inputs, 0, kind, ctx, 'X');
    const W = requireInput(inputs, 1, kind, ctx, 'W');
    const R = requireInput(inputs, 2, kind, ctx, 'R');
    for (const [t, what] of [
      [X, 'X'],
      [W, 'W'],
      [R, 'R'],
    ] as const) {
      if (t.dtype !== 'float32') throw opError(kind, ctx, `input ${what} has dtype ${t.dtype}; expected float32`);
    }
    if (X.dims.length !== 3) throw opError(kind, ctx, `input X must be 3-D, got ${fmt(X.dims)}`);
    const [S, Bt, I] = cfg.batchMajor ? [X.dims[1]!, X.dims[0]!, X.dims[2]!] : [X.dims[0]!, X.dims[1]!, X.dims[2]!];
    if (R.dims.length !== 3) throw opError(kind, ctx, `input R must be 3-D, got ${fmt(R.dims)}`);
    const H = cfg.hidden ?? R.dims[2]!;
    expectDims(kind, ctx, W, 'W', [D, G * H, I]);
    expectDims(kind, ctx, R, 'R', [D, G * H, H]);
    const optional = (i: number, what: string, dims: number[]): Float32Array | undefined => {
      const t = inputs[i];
      if (!t) return undefined;
      if (t.dtype !== 'float32') throw opError(kind, ctx, `input ${what} has dtype ${t.dtype}; expected float32`);
      expectDims(kind, ctx, t, what, dims);
      return t.data as Float32Array;
    };
    const stateDims = cfg.batchMajor ? [Bt, D, H] : [D, Bt, H];
    const bias = optional(3, 'B', [D, 2 * G * H]);
    const h0 = optional(5, 'initial_h', stateDims);
    const c0 = kind === 'LSTM' ? optional(6, 'initial_c', stateDims) : undefined;
    const peep = kind === 'LSTM' ? optional(7, 'P', [D, 3 * H]) : undefined;
    const lens = sequenceLengths(kind, ctx, inputs[4], Bt, S);
    const acts = activations(kind, r, D);
    const clipAttr = r.has('clip') ? r.float('clip', 0) : undefined;
    if (clipAttr !== undefined && !(clipAttr > 0)) throw opError(kind, ctx, `attribute 'clip' must be positive, got ${clipAttr}`);
    const clip: Act = clipAttr === undefined ? (v) => v : (v) => Math.min(clipAttr, Math.max(-clipAttr, v));
    const inputForget = kind === 'LSTM' && r.intIn('input_forget', 0, [0, 1]) === 1;
    const linearBeforeReset = kind === 'GRU' && r.int('linear_before_reset', 0) !== 0;

    const x = X.data as Float32Array,
      w = W.data as Float32Array,
      rw = R.data as Float32Array;
    // element offsets in the layout's tensors
    const xAt = (t: number, b: number) => (cfg.batchMajor ? (b * S + t) * I : (t * Bt + b) * I);
    const yAt = (t: number, d: number, b: number) => (cfg.batchMajor ? ((b * S + t) * D + d) * H : ((t * D + d) * Bt + b) * H);
    const stateAt = (d: number, b: number) => (cfg.batchMajor ? (b * D + d) * H : (d * Bt + b) * H);

    const Y = new Float32Array(S * D * Bt * H); // zero where t ≥ lens[b]
    const Yh = new Float32Array(D * Bt * H);
    const Yc = new Float32Array(D * Bt * H);
    // float32 like every tensor of the op: sums are float64, each stored value is rounded once
    const pre = new Float32Array(G * H); // gate pre-activations
    const z = new Float32Array(H), // GRU: update and reset gates, the recurrent part of the h gate
      rg = new Float32Array(H),
      rh = new Float32Array(H),
      hr = new Float32Array(H);
    const h = new Float32Array(H);
    const c = new Float32Array(H);

    for (let d = 0; d < D; d++) {
      const reverse = cfg.reverseOnly || d === 1;
      const [f, g, hAct] = acts[d]!;
      const wOff = d * G * H * I,
        rOff = d * G * H * H,
        bOff = d * 2 * G * H,
        pOff = d * 3 * H;
      for (let b = 0; b < Bt; b++) {
        const len = lens[b]!;
        const s0 = stateAt(d, b);
        for (let j = 0; j < H; j++) {
          h[j] = h0 ? h0[s0 + j]! : 0;
          c[j] = c0 ? c0[s0 + j]! : 0;
        }
        for (let k = 0; k < len; k++) {
          const t = reverse ? len - 1 - k : k;
          const xo = xAt(t, b);
          // pre[q] = Σ_i X[t,b,i]·W[d,q,i] + Wb[q], and for every gate but GRU's h: + Rb[q] + Σ_m h[m]·R[d,q,m]
          for (let q = 0; q < G * H; q++) {
            let s = (bias ? bias[bOff + q]! : 0) + dot(x, xo, w, wOff + q * I, I);
            if (!(kind === 'GRU' && q >= 2 * H)) s += (bias ? bias[bOff + G * H + q]! : 0) + dot(h, 0, rw, rOff + q * H, H);
            pre[q] = s;
          }
          if (kind === 'RNN') {
            for (let j = 0; j < H; j++) h[j] = f!(clip(pre[j]!));
          } else if (kind === 'GRU') {
            // z = f(pre_z), r = f(pre_r); h̃ = g(Xt·Whᵀ + Wbh + Rbh + (r ⊙ h)·Rhᵀ), or with
            // linear_before_reset g(Xt·Whᵀ + Wbh + r ⊙ (h·Rhᵀ + Rbh)); h' = (1 − z) ⊙ h̃ + z ⊙ h
            for (let j = 0; j < H; j++) {
              z[j] = f!(clip(pre[j]!));
              rg[j] = f!(clip(pre[H + j]!));
              rh[j] = rg[j]! * h[j]!; // r ⊙ h
            }
            for (let j = 0; j < H; j++) {
              const rr = rOff + (2 * H + j) * H;
              const rbh = bias ? bias[bOff + G * H + 2 * H + j]! : 0;
              hr[j] = linearBeforeReset ? rg[j]! * (rbh + dot(h, 0, rw, rr, H)) : rbh + dot(rh, 0, rw, rr, H);
            }
            for (let j = 0; j < H; j++) {
              const hh = fround(g!(clip(fround(pre[2 * H + j]! + hr[j]!))));
              h[j] = (1 - z[j]!) * hh + z[j]! * h[j]!;
            }
          } else {
            // LSTM, gates i o f c: i = f(pre_i + Pi ⊙ C), f = f(pre_f + Pf ⊙ C) (or 1 − i), c̃ = g(pre_c),
            // C' = f ⊙ C + i ⊙ c̃, o = f(pre_o + Po ⊙ C'), h = o ⊙ h(C')
            for (let j = 0; j < H; j++) {
              const cPrev = c[j]!;
              const ig = fround(f!(clip(fround(pre[j]! + (peep ? peep[pOff + j]! * cPrev : 0)))));
              const fg = fround(inputForget ? 1 - ig : f!(clip(fround(pre[2 * H + j]! + (peep ? peep[pOff + 2 * H + j]! * cPrev : 0)))));
              const cc = fround(g!(clip(pre[3 * H + j]!)));
              c[j] = fg * cPrev + ig * cc;
              const og = fround(f!(clip(fround(pre[H + j]! + (peep ? peep[pOff + H + j]! * c[j]! : 0)))));
              h[j] = og * fround(hAct!(c[j]!));
            }
          }
          Y.set(h, yAt(t, d, b));
        }
        if (len > 0) {
          Yh.set(h, s0);
          Yc.set(c, s0);
        } // else: zero (onnxruntime)
      }
    }
    const yDims = cfg.batchMajor ? [Bt, S, D, H] : [S, D, Bt, H];
    const outs: Tensor[] = [
      { dtype: 'float32', dims: yDims, data: Y },
      { dtype: 'float32', dims: [...stateDims], data: Yh },
    ];
    if (kind === 'LSTM') outs.push({ dtype: 'float32', dims: [...stateDims], data: Yc });
    return outs;
  };
}

/** Σ_k a[ao + k]·b[bo + k], k < n, in float64. */
function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) s += a[ao + k]! * b[bo + k]!;
  return s;
}

/** sequence_lens as numbers (all S when absent); each must lie in [0, S]. */
function sequenceLengths(kind: RecurrentKind, ctx: KernelContext, t: Tensor | undefined, batch: number, S: number): Int32Array {
  if (!t) return new Int32Array(batch).fill(S);
  if (t.dtype !== 'int32') throw opError(kind, ctx, `input sequence_lens has dtype ${t.dtype}; expected int32`);
  expectDims(kind, ctx, t, 'sequence_lens', [batch]);
  const lens = t.data as Int32Array;
  lens.forEach((n, b) => {
    if (n < 0 || n > S) throw opError(kind, ctx, `sequence_lens[${b}] is ${n}, outside [0, ${S}] (the sequence length)`);
  });
  return lens;
}
