// float32 RNN, GRU and LSTM (ONNX 7+, `layout` from 14) on the recurrent kernels of
// assembly/f32/rnn.ts. One step per node:
//   1. the input projection of every time step and direction at once: XW = X·Wᵀ + bias, one
//      packed-B GEMM (assembly/f32/gemm.ts) over the S·B rows of X in their stored order, N = D·G·H
//      (W [D, GH, I] is Bᵀ as it stands: packed once per engine when constant, per run otherwise);
//      the bias column is Wb + Rb (rounded once), but only Wb for the h gate of a GRU with
//      linear_before_reset, whose Rb_h the kernel applies inside r ⊙ (H·R_hᵀ + Rb_h);
//   2. per direction, one kernel call over the whole sequence and batch (R of the direction packed
//      as the GEMM B operand: once per engine when constant).
// XW rows are padded to a multiple of 8 floats + 8 (the kernels read whole panels from them).
// Layout 0 and 1 differ only in strides: X and XW rows (t, b) or (b, t); Y [S, D, B, H] or
// [B, S, D, H]; initial_h / initial_c / Y_h / Y_c [D, B, H] or [B, D, H].
// Every input and attribute is covered (non-constant W, R, B, initial states, peepholes and
// sequence_lens included); the node falls back to its reference kernel, which reports the error,
// when shapes or attributes are invalid (wrong dims, unknown activation, clip ≤ 0, sequence_lens
// that is not int32), and sequence_lens outside [0, S] throws the reference's invalid_model error.
import { SparrowError } from '../../errors.js';
import type { Tensor } from '../../ops/types.js';
import { opError } from '../../ops/ref/util.js';
import type { Node } from '../../ir/graph.js';
import {
  F32_RECURRENT_KERNELS,
  RECURRENT_DESC_BYTES,
  RECURRENT_GATES,
  writeRecurrentDesc,
  type RecurrentKernel,
} from '../../kernels/f32.js';
import { RECURRENT_ACTIVATIONS, type RecurrentAct, type RecurrentKind } from '../../kernels/f32_ref.js';
import { ctxOf, dtypeReason, F32_BYTES, reader, type F32Lower, type Lowered, type Lowering } from './lower.js';

const DEFAULT_ACTS: Readonly<Record<RecurrentKind, readonly string[]>> = {
  RNN: ['Tanh'],
  GRU: ['Sigmoid', 'Tanh'],
  LSTM: ['Sigmoid', 'Tanh', 'Tanh'],
};

/** activation parameters (onnxruntime's, as src/ops/ref/rnn.ts): present = the function takes one, value = its default */
const ACT_PARAMS: Readonly<Record<string, { alpha?: number; beta?: number }>> = {
  affine: { alpha: 0, beta: 0 },
  leakyrelu: { alpha: 0.01 },
  thresholdedrelu: { alpha: 0 },
  scaledtanh: { alpha: 0, beta: 0 },
  hardsigmoid: { alpha: 0.2, beta: 0.5 },
  elu: { alpha: 1 },
};

const CODES = new Map(RECURRENT_ACTIVATIONS.map((name, code) => [name.toLowerCase(), code]));

/** The activation functions per direction, or the reason they cannot be read (the reference reports it). */
function activations(n: Node, kind: RecurrentKind, D: number): RecurrentAct[][] | string {
  const r = reader(n);
  const per = DEFAULT_ACTS[kind].length;
  const raw = n.attrs['activations'];
  if (raw !== undefined && (!Array.isArray(raw) || raw.some((x) => typeof x !== 'string'))) return "'activations' is not a list of strings";
  let names = (raw as string[] | undefined) ?? [];
  if (names.length === 0) names = Array.from({ length: D }, () => DEFAULT_ACTS[kind]).flat();
  if (kind === 'RNN' && D === 1 && names.length === 2) names = names.slice(0, 1);
  if (names.length !== per * D) return `'activations' lists ${names.length} functions, not ${per * D}`;
  const alphas = r.floats('activation_alpha', []);
  const betas = r.floats('activation_beta', []);
  let ai = 0,
    bi = 0;
  const acts: RecurrentAct[] = [];
  for (const name of names) {
    const key = name.toLowerCase();
    const code = CODES.get(key);
    if (code === undefined) return `unknown activation function "${name}"`;
    const p = ACT_PARAMS[key] ?? {};
    const alpha = p.alpha === undefined ? 0 : ai < alphas.length ? alphas[ai++]! : p.alpha;
    const beta = p.beta === undefined ? 0 : bi < betas.length ? betas[bi++]! : p.beta;
    acts.push({ code, alpha, beta });
  }
  return Array.from({ length: D }, (_, d) => acts.slice(d * per, (d + 1) * per));
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

function lowerRecurrent(n: Node, L: F32Lower): Lowered | string {
  const kind = n.op as RecurrentKind;
  const G = RECURRENT_GATES[kind];
  const nOut = kind === 'LSTM' ? 3 : 2;
  const why = dtypeReason(n, L, kind === 'LSTM' ? [0, 1, 2, 3, 5, 6, 7] : [0, 1, 2, 3, 5], nOut);
  if (why) return why;
  const lensName = n.inputs[4] || undefined;
  if (lensName && L.info(lensName).dtype !== 'int32') return 'sequence_lens is not int32';
  const r = reader(n);
  const direction = r.stringIn('direction', 'forward', ['forward', 'reverse', 'bidirectional']);
  const bm = n.opset >= 14 && r.intIn('layout', 0, [0, 1]) === 1;
  const D = direction === 'bidirectional' ? 2 : 1;
  const [xName, wName, rName] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2]!];
  const xd = L.dims(xName),
    rd = L.dims(rName);
  if (xd.length !== 3 || rd.length !== 3) return 'X and R must be 3-D';
  const [S, B, I] = bm ? [xd[1]!, xd[0]!, xd[2]!] : [xd[0]!, xd[1]!, xd[2]!];
  const H = r.has('hidden_size') ? r.int('hidden_size', 0) : rd[2]!;
  if (!(H > 0)) return 'hidden_size is not positive';
  const GH = G * H;
  const stateDims = bm ? [B, D, H] : [D, B, H];
  const want: Array<[number, number[]]> = [
    [1, [D, GH, I]],
    [2, [D, GH, H]],
    [3, [D, 2 * GH]],
    [4, [B]],
    [5, stateDims],
    [6, stateDims],
    [7, [D, 3 * H]],
  ];
  for (const [i, dims] of want) {
    if (i >= 6 && kind !== 'LSTM') break;
    const name = n.inputs[i];
    if (name && !same(L.dims(name), dims)) return `input ${i} has dims [${L.dims(name)}], expected [${dims}]`;
  }
  const acts = activations(n, kind, D);
  if (typeof acts === 'string') return acts;
  let clip = 0;
  if (r.has('clip')) {
    clip = r.float('clip', 0);
    if (!(clip > 0)) return 'clip is not positive';
  }
  const inputForget = kind === 'LSTM' && r.intIn('input_forget', 0, [0, 1]) === 1;
  const lbr = kind === 'GRU' && r.int('linear_before_reset', 0) !== 0;
  const kernel: RecurrentKernel = F32_RECURRENT_KERNELS.find((k) => k.kind === kind)!;
  const ex = L.ex,
    w = L.w,
    ctx = ctxOf(n);
  const names = {
    b: n.inputs[3] || undefined,
    h0: n.inputs[5] || undefined,
    c0: kind === 'LSTM' ? n.inputs[6] || undefined : undefined,
    p: kind === 'LSTM' ? n.inputs[7] || undefined : undefined,
  };
  const [yName, yhName, ycName] = [
    n.outputs[0] || undefined,
    n.outputs[1] || undefined,
    kind === 'LSTM' ? n.outputs[2] || undefined : undefined,
  ];

  // ---- constants and scratch --------------------------------------------------------------------
  const N = D * GH;
  const ldx = Math.ceil(N / 8) * 8 + 8;
  let scratch = 0;
  const take = (bytes: number): number => {
    const off = scratch;
    scratch += align16(bytes);
    return off;
  };
  const xwOff = take((S * B * ldx + 16) * F32_BYTES);
  const Wc = L.constOf(wName),
    Rc = L.constOf(rName),
    Bc = L.constOf(names.b);
  const wPacked = Wc ? L.packedB(Wc, 0, I, N, true, 1) : 0;
  const wOff = Wc ? -1 : take(ex.f32_packed_b_size(I, N) * F32_BYTES + 16);
  const rPacked = Rc ? Array.from({ length: D }, (_, d) => L.packedB(Rc, d, H, GH, true, 1)) : [];
  const rOffs = Rc ? [] : Array.from({ length: D }, () => take(ex.f32_packed_b_size(H, GH) * F32_BYTES + 16));
  const work = kernel.workBytes(w, B, H);
  if (work < 0) return 'no work size';
  const workOff = take(work);
  // the projection's bias column: Wb + Rb (only Wb for a linear_before_reset GRU's h gate)
  const combine = (bias: Float32Array, out: Float32Array): void => {
    for (let d = 0; d < D; d++)
      for (let q = 0; q < GH; q++) {
        const wb = bias[d * 2 * GH + q]!,
          rb = bias[d * 2 * GH + GH + q]!;
        out[d * GH + q] = lbr && q >= 2 * H ? wb : wb + rb;
      }
  };
  let biasPtr = 0;
  if (Bc) {
    const biasBuf = new Float32Array(N);
    combine(Bc.data as Float32Array, biasBuf);
    biasPtr = L.putF32(biasBuf);
  } else if (names.b) {
    biasPtr = L.putF32(new Float32Array(N)); // filled per run
  }
  // sequence_lens: constant (checked here), or an int32 value of the run (checked per run)
  const lensCheck = (lens: Int32Array): void => {
    lens.forEach((v, b) => {
      if (v < 0 || v > S) throw opError(kind, ctx, `sequence_lens[${b}] is ${v}, outside [0, ${S}] (the sequence length)`);
    });
  };
  const lensC = L.constOf(lensName);
  let lensPtr = 0;
  if (lensC) {
    const lens = lensC.data as Int32Array;
    if (lens.some((v) => v < 0 || v > S)) return 'sequence_lens outside [0, S]';
    lensPtr = L.putI32(lens);
  } else if (lensName) {
    lensPtr = L.putI32(new Int32Array(B)); // the arena's int32 values, checked and copied per run
  }
  const descs = Array.from({ length: D }, () => L.P.mem.alloc(RECURRENT_DESC_BYTES));
  const reverseOnly = direction === 'reverse';

  return {
    kind: 'kernel',
    scratch,
    build: (b) => {
      const ptrOf = (name: string | undefined): number => (name ? b.ptr(name) : 0);
      const xp = b.ptr(xName),
        xw = b.scratch + xwOff;
      const wp = Wc ? wPacked : b.scratch + wOff;
      const wRaw = Wc ? 0 : b.ptr(wName);
      const rps = Rc ? rPacked : rOffs.map((o) => b.scratch + o);
      const rRaw = Rc ? 0 : b.ptr(rName);
      const bRaw = names.b && (!Bc || lbr) ? b.ptr(names.b) : 0; // a constant B: placed only for Rb_h
      const h0 = ptrOf(names.h0),
        c0 = ptrOf(names.c0),
        pp = ptrOf(names.p);
      const y = ptrOf(yName),
        yh = ptrOf(yhName),
        yc = ptrOf(ycName);
      // strides (elements): XW rows (t, b) or (b, t); Y [S, D, B, H] or [B, S, D, H]; states [D, B, H] or [B, D, H]
      const [xwT, xwB] = bm ? [ldx, S * ldx] : [B * ldx, ldx];
      const [yT, yB, yD] = bm ? [D * H, S * D * H, H] : [D * B * H, H, B * H];
      const [stB, stD] = bm ? [D * H, H] : [H, B * H];
      const at = (p: number, off: number) => (p ? p + off * F32_BYTES : 0);
      for (let d = 0; d < D; d++) {
        writeRecurrentDesc(w, descs[d]!, {
          S,
          B,
          H,
          reverse: reverseOnly || d === 1,
          xw: xw + d * GH * F32_BYTES,
          xwT,
          xwB,
          rp: rps[d]!,
          lens: lensPtr,
          h0: at(h0, d * stD),
          c0: at(c0, d * stD),
          stB,
          y: at(y, d * yD),
          yT,
          yB,
          yh: at(yh, d * stD),
          yc: at(yc, d * stD),
          p: at(pp, d * 3 * H),
          rbh: lbr ? at(bRaw, d * 2 * GH + GH + 2 * H) : 0,
          inputForget,
          linearBeforeReset: lbr,
          clip,
          acts: acts[d]!,
          work: b.scratch + workOff,
        });
      }
      const biasMode = biasPtr ? 2 : 0;
      const rows = S * B;
      const stepFn = kernel.run;
      const lensArena = lensName && !lensC ? b.ptr(lensName) : 0;
      return () => {
        if (!Wc) ex.f32_pack_b(I, N, wRaw, I, 1, wp);
        if (!Rc) for (let d = 0; d < D; d++) ex.f32_pack_b(H, GH, rRaw + d * GH * H * F32_BYTES, H, 1, rps[d]!);
        if (names.b && !Bc) combine(w.f32(bRaw, 2 * N), w.f32(biasPtr, N));
        if (lensArena) {
          const lens = w.i32(lensArena, B);
          lensCheck(lens);
          w.i32(lensPtr, B).set(lens);
        }
        ex.f32_gemm__wasmsimd(rows, N, I, xp, I, wp, xw, ldx, biasPtr, biasMode, 0, -Infinity, Infinity);
        for (let d = 0; d < D; d++) stepFn(w, descs[d]!);
      };
    },
  };
}

export const RECURRENT: Record<string, Lowering> = { RNN: lowerRecurrent, GRU: lowerRecurrent, LSTM: lowerRecurrent };
