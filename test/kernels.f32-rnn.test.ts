// The float32 recurrent kernels (assembly/f32/rnn.ts; src/kernels/f32.ts F32_RECURRENT_KERNELS)
// against their plain TS reference recurrentSeqRef (src/kernels/f32_ref.ts), release and debug
// builds, over edge shapes: hidden sizes below, at and above the 4-lane vector and the 8-column
// panel (1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 33), T = 1, batch 1..3, forward and reverse,
// sequence_lens with zeros and full lengths, initial states, peepholes, input_forget, GRU
// linear_before_reset both ways, clip, every activation function; XW, Y and the states laid out
// (t, b) and (b, t) (ONNX layout 0 / 1) and as the second of two directions, with a sentinel in
// every slot of Y, Y_h, Y_c the call must not write.
//
// Tolerance: the kernel sums each pre-activation in float32 from XW (no FMA), the reference in
// float64, so a pre-activation is off by at most ~(H + 2)·2⁻²⁴·Σ|terms|; the vector sigmoid /
// tanh add ≤ 1.5e-7 relative, the gate arithmetic a few roundings, and the state carries it to
// the next step. With weights in [-1, 1], hidden sizes ≤ 33 and ≤ 6 steps we allow
// 2e-6·(1 + |ref|) plus (H + 8)·2⁻²⁴ per step of accumulated magnitude (measured: see the log);
// a missing or doubled term (a peephole, a bias, one product) is ~1e-2 off and fails.
import { describe, it, expect, beforeAll } from 'vitest';
import { loadWasmNode } from '../src/wasm/node.js';
import type { SparrowWasm } from '../src/wasm/gateway.js';
import { F32_RECURRENT_KERNELS, RECURRENT_GATES, recurrentSeqF32, type RecurrentPlacement } from '../src/kernels/f32.js';
import {
  RECURRENT_ACTIVATIONS,
  recurrentSeqRef,
  type RecurrentAct,
  type RecurrentKind,
  type RecurrentSeqArgs,
  type RecurrentSeqResult,
} from '../src/kernels/f32_ref.js';
import { lcg } from './helpers/tensors.js';

const HIDDEN = [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 33];
const PER_DIR: Record<RecurrentKind, number> = { RNN: 1, GRU: 2, LSTM: 3 };
const SIG = 0,
  TANH = 1;
const DEFAULT_ACTS: Record<RecurrentKind, number[]> = { RNN: [TANH], GRU: [SIG, TANH], LSTM: [SIG, TANH, TANH] };

interface Case {
  args: RecurrentSeqArgs;
  place: RecurrentPlacement;
  label: string;
}

function rand(rnd: () => number, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * scale);
}

/** The sweep of one kind: every hidden size × steps × batch, options varied by case index. */
function cases(kind: RecurrentKind): Case[] {
  const out: Case[] = [];
  const rnd = lcg(kind.length * 101 + 7);
  let i = 0;
  for (const H of HIDDEN)
    for (const S of [1, 3, 6])
      for (const B of [1, 2, 3]) {
        const GH = RECURRENT_GATES[kind] * H;
        const v = i++;
        const reverse = v % 2 === 1;
        // sequence_lens: absent, or mixed with zeros and full lengths
        const lens =
          v % 3 === 0 ? undefined : Int32Array.from({ length: B }, (_, b) => (b === 0 ? S : b === 1 ? 0 : Math.floor(rnd() * (S + 1))));
        // activations: the defaults on most cases, others (with alpha/beta) on every fourth
        const acts: RecurrentAct[] = (
          v % 4 === 3 ? Array.from({ length: PER_DIR[kind] }, (_, k) => (v + 3 * k) % RECURRENT_ACTIVATIONS.length) : DEFAULT_ACTS[kind]
        ).map((code) => ({ code, alpha: 0.2 + rnd(), beta: rnd() - 0.5 }));
        const args: RecurrentSeqArgs = {
          kind,
          S,
          B,
          H,
          reverse,
          xw: rand(rnd, S * B * GH, 1.5),
          r: rand(rnd, GH * H, 1 / Math.sqrt(H)),
          lens,
          h0: v % 5 < 3 ? rand(rnd, B * H) : undefined,
          c0: kind === 'LSTM' && v % 5 !== 1 ? rand(rnd, B * H) : undefined,
          peep: kind === 'LSTM' && v % 3 !== 1 ? rand(rnd, 3 * H, 0.5) : undefined,
          rbh: kind === 'GRU' && v % 2 === 0 ? rand(rnd, H, 0.5) : undefined,
          inputForget: kind === 'LSTM' && v % 7 === 2,
          linearBeforeReset: kind === 'GRU' && v % 2 === 0,
          clip: v % 6 === 4 ? 0.75 : undefined,
          acts,
        };
        const place: RecurrentPlacement = { batchMajor: v % 4 >= 2, dirs: v % 3 === 2 ? 2 : 1, dir: v % 3 === 2 ? 1 : 0 };
        const label = `${kind} H=${H} S=${S} B=${B}${reverse ? ' reverse' : ''}${lens ? ` lens=[${Array.from(lens)}]` : ''} ${JSON.stringify(place)} acts=${acts.map((a) => RECURRENT_ACTIVATIONS[a.code]).join(',')}${args.peep ? ' peep' : ''}${args.inputForget ? ' input_forget' : ''}${args.linearBeforeReset ? ' lbr' : ''}${args.clip ? ' clip' : ''}`;
        out.push({ args, place, label });
      }
  return out;
}

/** The first few elements where got and want differ by more than the tolerance; `worst` error / allowed. */
function compare(got: RecurrentSeqResult, want: RecurrentSeqResult, a: RecurrentSeqArgs): { bad: string[]; worst: number } {
  const bad: string[] = [];
  let worst = 0;
  const perStep = (a.H + 8) * 2 ** -24;
  for (const key of ['y', 'yh', 'yc'] as const) {
    if (key === 'yc' && a.kind !== 'LSTM') continue;
    const g = got[key],
      w = want[key];
    for (let i = 0; i < w.length; i++) {
      const tol = (2e-6 + perStep * a.S * 4) * (1 + Math.abs(w[i]!));
      const err = Math.abs(g[i]! - w[i]!);
      if (!(err <= tol)) {
        if (bad.length < 3) bad.push(`${key}[${i}] got ${g[i]} want ${w[i]}`);
        worst = Infinity;
      } else worst = Math.max(worst, err / tol);
    }
  }
  return { bad, worst };
}

for (const variant of ['release', 'debug'] as const) {
  describe(`f32 recurrent kernels (${variant})`, () => {
    let w: SparrowWasm;
    beforeAll(async () => {
      w = await loadWasmNode(variant);
    });

    for (const kernel of F32_RECURRENT_KERNELS) {
      const all = cases(kernel.kind);
      it(`${kernel.name} matches recurrentSeqRef on ${all.length} cases (edge hidden sizes, T = 1, batch, reverse, lens with zeros, layouts, options)`, () => {
        const failures: string[] = [];
        let worst = 0,
          worstLabel = '';
        for (const c of all) {
          const got = recurrentSeqF32(w, c.args, c.place, kernel);
          const want = recurrentSeqRef(c.args);
          const r = compare(got, want, c.args);
          if (r.worst > worst) [worst, worstLabel] = [r.worst, c.label];
          if (r.bad.length || !got.untouched) failures.push(`${c.label}: ${got.untouched ? r.bad.join('; ') : 'wrote outside its slots'}`);
        }
        if (variant === 'release')
          console.log(`${kernel.name}: worst error ${worst.toFixed(3)} of the tolerance over ${all.length} cases (${worstLabel})`);
        expect(failures.slice(0, 8)).toEqual([]);
      });
    }

    it('every activation function on each kernel (one sweep of codes, with alpha and beta)', () => {
      const failures: string[] = [];
      const rnd = lcg(99);
      for (const kernel of F32_RECURRENT_KERNELS) {
        const kind = kernel.kind;
        for (let code = 0; code < RECURRENT_ACTIVATIONS.length; code++) {
          for (const slot of Array.from({ length: PER_DIR[kind] }, (_, k) => k)) {
            const acts = DEFAULT_ACTS[kind].map((c, k) => ({ code: k === slot ? code : c, alpha: 0.3 + rnd(), beta: rnd() - 0.5 }));
            const H = 6,
              S = 4,
              B = 2,
              GH = RECURRENT_GATES[kind] * H;
            const args: RecurrentSeqArgs = {
              kind,
              S,
              B,
              H,
              reverse: false,
              xw: rand(rnd, S * B * GH, 2),
              r: rand(rnd, GH * H, 0.5),
              h0: rand(rnd, B * H),
              c0: rand(rnd, B * H),
              acts,
            };
            const got = recurrentSeqF32(w, args, {}, kernel);
            const r = compare(got, recurrentSeqRef(args), args);
            if (r.bad.length) failures.push(`${kind} ${RECURRENT_ACTIVATIONS[code]} as function ${slot}: ${r.bad.join('; ')}`);
          }
        }
      }
      expect(failures).toEqual([]);
    });

    it('NaN and ±Infinity in XW propagate as in the reference', () => {
      for (const kernel of F32_RECURRENT_KERNELS) {
        const kind = kernel.kind,
          H = 5,
          S = 3,
          B = 1,
          GH = RECURRENT_GATES[kind] * H;
        const rnd = lcg(3);
        const xw = rand(rnd, S * B * GH);
        xw[1] = NaN;
        xw[GH + 2] = Infinity;
        xw[2 * GH + 3] = -Infinity;
        for (const clip of [undefined, 1]) {
          const args: RecurrentSeqArgs = {
            kind,
            S,
            B,
            H,
            reverse: false,
            xw,
            r: rand(rnd, GH * H, 0.5),
            acts: DEFAULT_ACTS[kind].map((code) => ({ code, alpha: 0, beta: 0 })),
            clip,
          };
          const got = recurrentSeqF32(w, args, {}, kernel);
          const want = recurrentSeqRef(args);
          for (const key of ['y', 'yh'] as const) {
            const g = Array.from(got[key]),
              wv = Array.from(want[key]);
            const same = g.every((x, i) =>
              Number.isNaN(wv[i]!) ? Number.isNaN(x) : Math.abs(x - wv[i]!) <= 1e-5 * (1 + Math.abs(wv[i]!)),
            );
            expect(same, `${kind} clip=${clip} ${key}: ${g} vs ${wv}`).toBe(true);
          }
        }
      }
    });

    it('work bytes grow with batch and hidden size; a bad kind is -1', () => {
      for (const kernel of F32_RECURRENT_KERNELS) {
        expect(kernel.workBytes(w, 2, 8)).toBeGreaterThan(kernel.workBytes(w, 1, 8));
        expect(kernel.workBytes(w, 1, 9)).toBeGreaterThan(kernel.workBytes(w, 1, 8));
      }
      expect(w.exports.f32_recurrent_work_bytes(3, 1, 1)).toBe(-1);
    });
  });
}
