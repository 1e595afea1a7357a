// Einsum-12: Einstein summation over any number of operands, by loops (the reference; no
// contraction ordering). Semantics are numpy.einsum's, which the ONNX reference calls:
//  - terms of letters (a-z, A-Z) and at most one "..." each, separated by ","; spaces ignored;
//  - explicit form "lhs->rhs": the output labels in rhs order, each from the lhs, none twice;
//    "..." must appear in rhs when the lhs ellipses cover any dimension;
//  - implicit form "lhs": the ellipsis dims first, then the letters that occur exactly once
//    in lhs, sorted by character code;
//  - a letter repeated in one term takes that term's diagonal (its dims must be equal);
//  - every "..." stands for the same number of dims (the spec's rule; numpy would broadcast
//    ellipses of different ranks);
//  - dims of one label across terms must be equal or 1 (1 broadcasts, numpy's rule), as must
//    the dims under the ellipses;
//  - labels absent from the output are summed over (an empty sum is 0).
// Numeric dtypes. Floats accumulate in doubles and round once; integers wrap like C++/numpy
// (32-bit products via Math.imul; int64 in bigints).

import type { KernelContext, RefKernel, ShapeFn, Tensor, TensorData, TensorDType } from '../types.js';
import { elementCount } from '../types.js';
import { MAX_OUTPUT_ELEMENTS, allocOutput, elems, isFloatDtype, isNumericDtype, offsetsOf, opTooLarge } from './elements.js';
import { AttrReader, opError, requireInput, stridesOf } from './util.js';

const OP = 'Einsum';

interface Term {
  letters: string[];
  /** position of "..." among the letters, -1 when absent */
  ellipsisAt: number;
}

interface Equation {
  inputs: Term[];
  /** null = implicit form */
  output: Term | null;
}

function parseTerm(text: string, where: string, ctx: KernelContext): Term {
  const letters: string[] = [];
  let ellipsisAt = -1;
  for (let i = 0; i < text.length;) {
    if (text.startsWith('...', i)) {
      if (ellipsisAt >= 0) throw opError(OP, ctx, `${where} "${text}" has more than one ellipsis`);
      ellipsisAt = letters.length;
      i += 3;
      continue;
    }
    const ch = text[i]!;
    if (!/^[a-zA-Z]$/.test(ch)) throw opError(OP, ctx, `${where} "${text}" has the invalid character '${ch}'`);
    letters.push(ch);
    i++;
  }
  return { letters, ellipsisAt };
}

export function parseEquation(equation: string, nInputs: number, ctx: KernelContext): Equation {
  const eq = equation.replace(/ /g, '');
  const parts = eq.split('->');
  if (parts.length > 2) throw opError(OP, ctx, `equation "${equation}" has more than one "->"`);
  const lhs = parts[0]!.split(',');
  if (lhs.length !== nInputs) throw opError(OP, ctx, `equation "${equation}" has ${lhs.length} input term(s) for ${nInputs} input(s)`);
  const inputs = lhs.map((t, i) => parseTerm(t, `input term ${i}`, ctx));
  let output: Term | null = null;
  if (parts.length === 2) {
    output = parseTerm(parts[1]!, 'output term', ctx);
    const seen = new Set<string>();
    const inLhs = new Set(inputs.flatMap((t) => t.letters));
    for (const l of output.letters) {
      if (seen.has(l)) throw opError(OP, ctx, `output label '${l}' appears twice in "${equation}"`);
      if (!inLhs.has(l)) throw opError(OP, ctx, `output label '${l}' does not appear among the inputs of "${equation}"`);
      seen.add(l);
    }
  }
  return { inputs, output };
}

/** Ellipsis dims get the labels "0".."D-1" (right-aligned across operands); letters label themselves. */
function termLabels(t: Term, rank: number, ellRank: number, dEll: number): string[] {
  if (t.ellipsisAt < 0) return [...t.letters];
  const ell = Array.from({ length: ellRank }, (_, j) => String(dEll - ellRank + j));
  return [...t.letters.slice(0, t.ellipsisAt), ...ell, ...t.letters.slice(t.ellipsisAt)];
}

interface Plan {
  /** labels of each operand's dims */
  labels: string[][];
  /** output labels, then summed labels */
  outLabels: string[];
  sumLabels: string[];
  /** size of each label (-1 unknown, in shape inference) */
  size: Map<string, number>;
}

/** Binds the equation to the operand dims (-1 = unknown): labels, label sizes, output labels. */
export function planEinsum(eq: Equation, dims: ReadonlyArray<readonly number[]>, ctx: KernelContext): Plan {
  const ellRanks = eq.inputs.map((t, i) => {
    const rank = dims[i]!.length;
    const e = rank - t.letters.length;
    if (t.ellipsisAt < 0 ? e !== 0 : e < 0) {
      throw opError(
        OP,
        ctx,
        `input ${i} has rank ${rank}, its term has ${t.letters.length} label(s)${t.ellipsisAt >= 0 ? ' and an ellipsis' : ''}`,
      );
    }
    return e;
  });
  // every ellipsis stands for the same number of dims (spec; numpy would right-align and broadcast)
  const withEll = ellRanks.filter((_, i) => eq.inputs[i]!.ellipsisAt >= 0);
  if (withEll.some((e) => e !== withEll[0])) {
    throw opError(OP, ctx, `the ellipses cover different numbers of dims (${withEll.join(', ')}); the spec asks for one number`);
  }
  const dEll = withEll[0] ?? 0;
  const labels = eq.inputs.map((t, i) => termLabels(t, dims[i]!.length, ellRanks[i]!, dEll));
  const size = new Map<string, number>();
  labels.forEach((ls, i) => {
    const own = new Map<string, number>();
    ls.forEach((l, d) => {
      const n = dims[i]![d]!;
      const prevOwn = own.get(l);
      if (prevOwn !== undefined && prevOwn >= 0 && n >= 0 && prevOwn !== n) {
        throw opError(OP, ctx, `label '${l}' repeats in input ${i} over dims of sizes ${prevOwn} and ${n} (a diagonal needs equal sizes)`);
      }
      own.set(l, n);
      const prev = size.get(l);
      if (prev === undefined || prev === 1 || (prev < 0 && n !== 1)) size.set(l, n);
      else if (n !== prev && n !== 1 && n >= 0 && prev >= 0) {
        const what = /^\d+$/.test(l) ? 'ellipsis dims' : `label '${l}'`;
        throw opError(OP, ctx, `${what} of sizes ${prev} and ${n} do not broadcast (input ${i})`);
      }
    });
  });
  const ellLabels = Array.from({ length: dEll }, (_, j) => String(j));
  let outLabels: string[];
  if (eq.output) {
    if (eq.output.ellipsisAt < 0 && dEll > 0) {
      throw opError(OP, ctx, `the inputs' ellipses cover ${dEll} dim(s) but the output term has no ellipsis`);
    }
    outLabels = termLabels(eq.output, eq.output.letters.length + dEll, dEll, dEll);
  } else {
    const count = new Map<string, number>();
    for (const t of eq.inputs) for (const l of t.letters) count.set(l, (count.get(l) ?? 0) + 1);
    const once = [...count].filter(([, c]) => c === 1).map(([l]) => l);
    once.sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));
    outLabels = [...ellLabels, ...once];
  }
  const inOut = new Set(outLabels);
  const sumLabels = [...size.keys()].filter((l) => !inOut.has(l));
  return { labels, outLabels, sumLabels, size };
}

/** Strides of operand i per label of `which` (0 where the operand lacks the label or broadcasts it). */
function labelStrides(plan: Plan, t: Tensor, i: number, which: readonly string[]): number[] {
  const st = stridesOf(t.dims);
  return which.map((l) => {
    let s = 0;
    plan.labels[i]!.forEach((li, d) => {
      // a dim of 1 broadcasts (its index is always 0); a label repeated in the term walks the diagonal
      if (li === l && t.dims[d] !== 1) s += st[d]!;
    });
    return s;
  });
}

type Arith = 'float' | 'int32' | 'bigint';

function arithOf(dtype: TensorDType, data: TensorData): Arith {
  if (isFloatDtype(dtype)) return 'float';
  return data instanceof BigInt64Array || (typeof BigUint64Array !== 'undefined' && data instanceof BigUint64Array) ? 'bigint' : 'int32';
}

export const einsum: RefKernel = (inputs, attrs, ctx) => {
  const ops = inputs.map((t, i) => requireInput(inputs, i, OP, ctx, `input ${i}`));
  if (ops.length === 0) throw opError(OP, ctx, 'needs at least one input');
  const dtype = ops[0]!.dtype;
  for (const t of ops) {
    if (t.dtype !== dtype) throw opError(OP, ctx, `inputs have different dtypes ${dtype} and ${t.dtype}`);
  }
  if (!isNumericDtype(dtype)) throw opError(OP, ctx, `inputs have dtype ${dtype}; Einsum takes numeric tensors`);
  const equation = new AttrReader(OP, attrs, ctx).string('equation', '');
  if (!equation.trim()) throw opError(OP, ctx, "attribute 'equation' is required");
  const plan = planEinsum(
    parseEquation(equation, ops.length, ctx),
    ops.map((t) => t.dims),
    ctx,
  );
  const outDims = plan.outLabels.map((l) => plan.size.get(l)!);
  const sumDims = plan.sumLabels.map((l) => plan.size.get(l)!);
  // the output, and the offset tables of the output and summed positions, are refused past
  // MAX_OUTPUT_ELEMENTS before anything is allocated
  const out = allocOutput(dtype, elementCount(outDims), OP, ctx);
  if (elementCount(sumDims) > MAX_OUTPUT_ELEMENTS) {
    throw opTooLarge(OP, ctx, `the summed labels span ${elementCount(sumDims)} positions`);
  }
  // per operand: offset of each output position and of each summed position
  const outOff = ops.map((t, i) => offsetsOf(outDims, labelStrides(plan, t, i, plan.outLabels)));
  const sumOff = ops.map((t, i) => offsetsOf(sumDims, labelStrides(plan, t, i, plan.sumLabels)));
  const srcs = ops.map((t) => elems(t.data));
  const nOut = outOff[0]!.length,
    nSum = sumOff[0]!.length;
  const dst = elems(out);
  const arith = arithOf(dtype, out);
  const m = ops.length;
  for (let o = 0; o < nOut; o++) {
    if (arith === 'bigint') {
      let acc = 0n;
      for (let s = 0; s < nSum; s++) {
        let p = 1n;
        for (let i = 0; i < m; i++) p *= srcs[i]![outOff[i]![o]! + sumOff[i]![s]!] as bigint;
        acc = BigInt.asIntN(64, acc + p);
      }
      dst[o] = acc;
    } else if (arith === 'int32') {
      let acc = 0;
      for (let s = 0; s < nSum; s++) {
        let p = 1;
        for (let i = 0; i < m; i++) p = Math.imul(p, srcs[i]![outOff[i]![o]! + sumOff[i]![s]!] as number);
        acc = (acc + p) | 0;
      }
      dst[o] = acc; // the store wraps to narrower integer types
    } else {
      let acc = 0;
      for (let s = 0; s < nSum; s++) {
        let p = 1;
        for (let i = 0; i < m; i++) p *= srcs[i]![outOff[i]![o]! + sumOff[i]![s]!] as number;
        acc += p;
      }
      dst[o] = acc;
    }
  }
  return [{ dtype, dims: outDims, data: out }];
};

export const einsumShape: ShapeFn = (inputs, attrs, _c, ctx) => {
  const infos = inputs.map((v, i) => {
    if (!v) throw opError(OP, ctx, `missing required input ${i}`);
    return v;
  });
  if (infos.length === 0) throw opError(OP, ctx, 'needs at least one input');
  const dtype = infos[0]!.dtype;
  if (!isNumericDtype(dtype)) throw opError(OP, ctx, `inputs have dtype ${dtype}; Einsum takes numeric tensors`);
  const equation = new AttrReader(OP, attrs, ctx).string('equation', '');
  if (!equation.trim()) throw opError(OP, ctx, "attribute 'equation' is required");
  const eq = parseEquation(equation, infos.length, ctx);
  if (infos.some((v) => !v.dims)) return [{ dtype, dims: null }];
  const plan = planEinsum(
    eq,
    infos.map((v) => v.dims!),
    ctx,
  );
  return [{ dtype, dims: plan.outLabels.map((l) => plan.size.get(l)!) }];
};
