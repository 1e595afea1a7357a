// Control flow: If, Loop, Scan. Their subgraphs are node attributes (IrGraph); the values of
// enclosing scopes a subgraph reads arrive as the node's implicit inputs (subgraph.ts
// splitInputs). The kernels run the subgraphs with subgraph.ts runGraph; the shape functions
// infer them in place with inferGraph. Only tensors: sequence- and optional-typed values (If-13+,
// Loop-13+ with sequences) do not exist in the IR and are refused by the importer.
//
//   If     cond (1 element, bool) → the outputs of then_branch or else_branch; the two may differ
//          in shape (If-11+), their dtypes must agree.
//   Loop   M (int64, optional), cond (bool, optional), v_initial[N] → v_final[N], scan_outputs[K].
//          body: (iteration_num int64 [], cond bool [], v[N]) → (cond, v[N], scan[K]). The loop
//          runs while iteration_num < M and cond; the body's cond output is the next condition
//          even when the cond input is omitted (onnxruntime; ONNX's text calls it ignored, its
//          reference implementation runs no iteration at all). Loop-carried values may change
//          shape between iterations; scan outputs are stacked along a new first axis (shape
//          [iterations, ...]: onnxruntime; numpy.vstack in ONNX's reference implementation would
//          merge the first axes). With zero iterations a scan output is [0, ...static dims of the
//          body output, unknown ones 0] (onnxruntime). A loop stops with SparrowError('too_large')
//          after loopLimits.maxIterations iterations or when its scan outputs outgrow
//          loopLimits.maxScanElements (no model runs forever), and a Loop that can never end (no
//          M; a condition that starts true and that the body passes through or sets constant
//          true) is refused by its shape function. With a constant M and such a condition the
//          trip count, hence the scan outputs' shapes, are static.
//   Scan   9+: initial states[N], scan inputs[M] → final states[N], scan outputs[K]; attributes
//          num_scan_inputs, scan_input_axes / scan_input_directions, scan_output_axes /
//          scan_output_directions (negative axes from opset 11). Scan-8: an optional int64
//          sequence_lens input first, every input and output batch-major ([batch, seq, ...]),
//          `directions`; a batch entry shorter than the sequence leaves zeros in the scan outputs.
//
// Versions: If 1, 11, 13 (sequences), 16 (optionals), 19, 21, 23, 24, 25 (more dtypes); Loop 1,
// 11 (2 inputs suffice), 13, 16, 19, ...; Scan 8, 9, 11 (negative axes), 16, 19, .... Tensor
// semantics are the same across each group, so one definition per op (Scan: 8, then 9+).

import { SparrowError } from '../../errors.js';
import {
  elementCount,
  type Attrs,
  type IrGraph,
  type KernelContext,
  type RefKernel,
  type ShapeFn,
  type Tensor,
  type ValueInfo,
} from '../types.js';
import { graphRunner, inferGraph, runGraph, splitInputs } from './subgraph.js';
import { AttrReader, allocData, opError, stridesOf } from './util.js';

/**
 * Bounds of one run of a Loop node, beyond which it stops with SparrowError('too_large'): the
 * iterations (default 1,000,000) and the elements its scan outputs accumulate (default 2^28, 1 GiB
 * of float32). Settings of the process; tests lower them.
 */
export const loopLimits = { maxIterations: 1_000_000, maxScanElements: 2 ** 28 };

const fmt = (d: readonly number[] | null): string => (d ? `[${d.join(', ')}]` : '[unknown rank]');
const copyInfo = (i: ValueInfo): ValueInfo => ({ dtype: i.dtype, dims: i.dims ? [...i.dims] : null });
const where = (ctx: KernelContext, attr: string): string => `${ctx.node}/${attr}`;

/** The value of a 1-element bool tensor. */
function boolOf(op: string, ctx: KernelContext, t: Tensor, what: string): boolean {
  if (t.dtype !== 'bool') throw opError(op, ctx, `${what} must be bool, got ${t.dtype}`);
  if (t.data.length !== 1) throw opError(op, ctx, `${what} must hold one element, has ${t.data.length} (${fmt(t.dims)})`);
  return t.data[0] !== 0;
}

/** The common info of two values that may be either: same dtype, dims merged (differing → -1, other rank → unknown). */
function unionInfo(op: string, ctx: KernelContext, a: ValueInfo, b: ValueInfo, what: string): ValueInfo {
  if (a.dtype !== b.dtype) throw opError(op, ctx, `${what} is ${a.dtype} in one case and ${b.dtype} in the other`);
  if (!a.dims || !b.dims || a.dims.length !== b.dims.length) return { dtype: a.dtype, dims: null };
  return { dtype: a.dtype, dims: a.dims.map((d, i) => (d === b.dims![i] ? d : -1)) };
}

const sameInfo = (a: ValueInfo, b: ValueInfo): boolean =>
  a.dtype === b.dtype &&
  (a.dims === null ? b.dims === null : b.dims !== null && a.dims.length === b.dims.length && a.dims.every((d, i) => d === b.dims![i]));

// ---------------------------------------------------------------------------------------------
// If

export const ifKernel: RefKernel = (inputs, attrs, ctx) => {
  const r = new AttrReader('If', attrs, ctx);
  const thenG = r.graph('then_branch'),
    elseG = r.graph('else_branch');
  const { formal, outer } = splitInputs(inputs, attrs, 'If', ctx);
  const cond = formal[0];
  if (!cond) throw opError('If', ctx, 'missing required input cond');
  const taken = boolOf('If', ctx, cond, 'input cond') ? thenG : elseG;
  return runGraph(taken, [], outer.get(taken)!, where(ctx, taken === thenG ? 'then_branch' : 'else_branch'));
};

export const ifShape: ShapeFn = (inputs, attrs, consts, ctx) => {
  const r = new AttrReader('If', attrs, ctx);
  const thenG = r.graph('then_branch'),
    elseG = r.graph('else_branch');
  const { formal, outer } = splitInputs(inputs, attrs, 'If', ctx);
  const { outer: outerConsts } = splitInputs(consts, attrs, 'If', ctx);
  const cond = formal[0];
  if (!cond) throw opError('If', ctx, 'missing required input cond');
  if (cond.dtype !== 'bool') throw opError('If', ctx, `input cond must be bool, got ${cond.dtype}`);
  if (formal.length !== 1) throw opError('If', ctx, `If has one input (cond), the node has ${formal.length}`);
  if (thenG.inputs.length || elseG.inputs.length) throw opError('If', ctx, 'the branches of If take no inputs');
  if (thenG.outputs.length !== elseG.outputs.length) {
    throw opError('If', ctx, `then_branch has ${thenG.outputs.length} outputs, else_branch ${elseG.outputs.length}`);
  }
  const infer = (g: IrGraph, attr: string) => inferGraph(g, [], outer.get(g)!, outerConsts.get(g)!, where(ctx, attr));
  // a constant condition: only the branch taken counts (the other may not even be valid for these shapes)
  const c = consts[0];
  if (c && c.data.length === 1) return c.data[0] ? infer(thenG, 'then_branch') : infer(elseG, 'else_branch');
  // A branch whose shapes do not work out for these inputs fails if it is ever taken; the If's
  // outputs are then those of the other one. (Passes infer shapes before they fold conditions
  // such as `Shape(x)[0] == 1`: the branch the condition rules out may not fit the static shapes.)
  const tryInfer = (g: IrGraph, attr: string): ValueInfo[] | SparrowError => {
    try {
      return infer(g, attr);
    } catch (e) {
      if (e instanceof SparrowError && e.code === 'invalid_model') return e;
      throw e;
    }
  };
  const a = tryInfer(thenG, 'then_branch'),
    b = tryInfer(elseG, 'else_branch');
  if (a instanceof SparrowError) {
    if (b instanceof SparrowError) throw a;
    return b;
  }
  if (b instanceof SparrowError) return a;
  return a.map((x, k) => unionInfo('If', ctx, x, b[k]!, `output ${k}`));
};

// ---------------------------------------------------------------------------------------------
// Loop

const scalarTensor = (dtype: 'int64' | 'bool', v: number): Tensor =>
  dtype === 'int64' ? { dtype, dims: [], data: BigInt64Array.of(BigInt(v)) } : { dtype, dims: [], data: Uint8Array.of(v ? 1 : 0) };

/** Stacks equally shaped tensors along a new axis `axis` (in [0, rank]); `shape` is the element shape when `parts` is empty. */
function stack(
  op: string,
  ctx: KernelContext,
  parts: Tensor[],
  axis: number,
  dtype: Tensor['dtype'],
  shape: number[],
  what: string,
): Tensor {
  const elem = parts[0]?.dims ?? shape;
  for (const p of parts) {
    if (p.dtype !== dtype) throw opError(op, ctx, `${what} is ${p.dtype} in one iteration and ${dtype} in another`);
    if (p.dims.length !== elem.length || p.dims.some((d, i) => d !== elem[i])) {
      throw opError(op, ctx, `${what} has shape ${fmt(p.dims)} in one iteration and ${fmt(elem)} in another`);
    }
  }
  const n = parts.length;
  const dims = [...elem.slice(0, axis), n, ...elem.slice(axis)];
  const data = allocData(dtype, elementCount(dims));
  // [outer, n, inner] with outer = Π elem[..axis), inner = Π elem[axis..)
  const outerN = elementCount(elem.slice(0, axis)),
    inner = elementCount(elem.slice(axis));
  parts.forEach((p, k) => {
    for (let o = 0; o < outerN; o++) {
      const src = p.data.subarray(o * inner, (o + 1) * inner);
      (data as Float32Array).set(src as Float32Array, (o * n + k) * inner);
    }
  });
  return { dtype, dims, data };
}

/** Loop's ONNX inputs: M, cond, v_initial. */
function loopParts<T>(formal: T[], ctx: KernelContext): { M: T | undefined; cond: T | undefined; carried: T[] } {
  if (formal.length < 2) throw opError('Loop', ctx, `Loop has inputs M, cond and the loop-carried values, the node has ${formal.length}`);
  return { M: formal[0], cond: formal[1], carried: formal.slice(2) };
}

export const loopKernel: RefKernel = (inputs, attrs, ctx) => {
  const body = new AttrReader('Loop', attrs, ctx).graph('body');
  const { formal, outer } = splitInputs(inputs, attrs, 'Loop', ctx);
  const { M, cond, carried } = loopParts(formal, ctx);
  const N = carried.length;
  const K = body.outputs.length - 1 - N;
  checkLoopBody(body, N, ctx);
  let trips = Number.MAX_SAFE_INTEGER;
  if (M) {
    if (M.dtype !== 'int64' || M.data.length !== 1) throw opError('Loop', ctx, `input M must be one int64, got ${M.dtype} ${fmt(M.dims)}`);
    const m = (M.data as BigInt64Array)[0]!;
    trips = m > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(m);
  }
  let go = cond ? boolOf('Loop', ctx, cond, 'input cond') : true;
  let v = carried.map((t, k) => {
    if (!t) throw opError('Loop', ctx, `loop-carried input ${k} is omitted`);
    return t;
  });
  const scans: Tensor[][] = Array.from({ length: K }, () => []);
  const outerTs = outer.get(body)!;
  const run = graphRunner(body, where(ctx, 'body'));
  const max = loopLimits.maxIterations;
  let scanElements = 0;
  for (let i = 0; i < trips && go; i++) {
    if (i >= max) {
      throw new SparrowError(
        'too_large',
        `Loop node "${ctx.node}": still running after ${max} iterations (M ${M ? trips : 'omitted'}); Sparrow stops loops there`,
        { op: 'Loop', node: ctx.node, iterations: max },
      );
    }
    const outs = run([scalarTensor('int64', i), scalarTensor('bool', go ? 1 : 0), ...v], outerTs);
    go = boolOf('Loop', ctx, outs[0]!, 'the body output cond');
    outs.slice(1, 1 + N).forEach((t, k) => {
      if (t.dtype !== v[k]!.dtype) throw opError('Loop', ctx, `loop-carried value ${k} changes dtype from ${v[k]!.dtype} to ${t.dtype}`);
    });
    v = outs.slice(1, 1 + N);
    outs.slice(1 + N).forEach((t, k) => {
      scans[k]!.push(t);
      scanElements += t.data.length;
    });
    if (scanElements > loopLimits.maxScanElements) {
      throw new SparrowError(
        'too_large',
        `Loop node "${ctx.node}": its scan outputs hold more than ${loopLimits.maxScanElements} elements after ${i + 1} iterations; Sparrow stops loops there`,
        { op: 'Loop', node: ctx.node },
      );
    }
  }
  const finals = v.map((t) => (carried.includes(t) ? { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() as Tensor['data'] } : t));
  const scanOuts = scans.map((parts, k) => {
    const info = body.values.get(body.outputs[1 + N + k]!)!.info;
    const elem = info.dims ? info.dims.map((d) => Math.max(d, 0)) : [];
    return stack('Loop', ctx, parts, 0, parts[0]?.dtype ?? info.dtype, elem, `scan output ${k}`);
  });
  return [...finals, ...scanOuts];
};

function checkLoopBody(body: IrGraph, N: number, ctx: KernelContext): void {
  if (body.inputs.length !== 2 + N) {
    throw opError(
      'Loop',
      ctx,
      `the body must have ${2 + N} inputs (iteration_num, cond and ${N} loop-carried values), has ${body.inputs.length}`,
    );
  }
  if (body.outputs.length < 1 + N) {
    throw opError(
      'Loop',
      ctx,
      `the body must have at least ${1 + N} outputs (cond and ${N} loop-carried values), has ${body.outputs.length}`,
    );
  }
}

/**
 * Whether the body's cond output is certainly the same as its cond input, or constant true:
 * through Identity nodes back to the cond input, or to a constant true.
 */
function condAlwaysTrueOrPassed(body: IrGraph): boolean {
  let name = body.outputs[0]!;
  for (let hops = 0; hops <= body.nodes.length; hops++) {
    const c = body.values.get(name)?.const;
    if (c) return c.data.length === 1 && c.data[0] !== 0;
    if (name === body.inputs[1]) return true;
    const p = body.nodes.find((n) => n.outputs.includes(name));
    if (!p || p.op !== 'Identity' || p.domain !== '') return false;
    name = p.inputs[0] ?? '';
  }
  return false;
}

export const loopShape: ShapeFn = (inputs, attrs, consts, ctx) => {
  const body = new AttrReader('Loop', attrs, ctx).graph('body');
  const { formal, outer } = splitInputs(inputs, attrs, 'Loop', ctx);
  const { formal: formalConsts, outer: outerConsts } = splitInputs(consts, attrs, 'Loop', ctx);
  const { M, cond, carried } = loopParts(formal, ctx);
  if (ctx.opset < 11 && carried.length === 0) throw opError('Loop', ctx, `before opset 11 Loop needs at least one loop-carried value`);
  const N = carried.length;
  checkLoopBody(body, N, ctx);
  if (M && (M.dtype !== 'int64' || (M.dims && M.dims.length > 1)))
    throw opError('Loop', ctx, `input M must be an int64 scalar, got ${M.dtype} ${fmt(M.dims)}`);
  if (cond && cond.dtype !== 'bool') throw opError('Loop', ctx, `input cond must be bool, got ${cond.dtype}`);
  // a loop that can never end: no trip count, and a condition that starts true and stays true
  const condConst = formalConsts[1];
  const startsTrue = !cond || (condConst !== undefined && condConst.data.length === 1 && condConst.data[0] !== 0);
  if (!M && startsTrue && condAlwaysTrueOrPassed(body)) {
    throw opError('Loop', ctx, 'the loop never ends: it has no trip count M and its condition stays true');
  }
  const carriedInfo = carried.map((c, k) => {
    if (!c) throw opError('Loop', ctx, `loop-carried input ${k} is omitted`);
    return copyInfo(c);
  });
  const w = where(ctx, 'body');
  // Loop-carried values may change shape from one iteration to the next: infer the body with the
  // initial shapes, widen every dim the body changes (to -1, or an unknown rank), until stable.
  let outs: ValueInfo[] = [];
  for (let round = 0; ; round++) {
    outs = inferGraph(
      body,
      [{ dtype: 'int64', dims: [] }, { dtype: 'bool', dims: [] }, ...carriedInfo],
      outer.get(body)!,
      outerConsts.get(body)!,
      w,
    );
    if (outs[0]!.dtype !== 'bool') throw opError('Loop', ctx, `the body's cond output is ${outs[0]!.dtype}, must be bool`);
    let changed = false;
    for (let k = 0; k < N; k++) {
      const got = outs[1 + k]!;
      if (got.dtype !== carriedInfo[k]!.dtype) {
        throw opError('Loop', ctx, `loop-carried value ${k} enters the body as ${carriedInfo[k]!.dtype} and leaves it as ${got.dtype}`);
      }
      const merged = round < 8 ? unionInfo('Loop', ctx, carriedInfo[k]!, got, `loop-carried value ${k}`) : { dtype: got.dtype, dims: null };
      if (!sameInfo(merged, carriedInfo[k]!)) {
        carriedInfo[k] = merged;
        changed = true;
      }
    }
    if (!changed) break;
  }
  // the trip count is known when M is a constant and the condition stays true
  const m = formalConsts[0];
  const trips = m && m.data.length === 1 && startsTrue && condAlwaysTrueOrPassed(body) ? Math.max(0, Number(m.data[0])) : -1;
  const scans = outs.slice(1 + N).map((s): ValueInfo => ({ dtype: s.dtype, dims: s.dims ? [trips, ...s.dims] : null }));
  return [...carriedInfo, ...scans];
};

// ---------------------------------------------------------------------------------------------
// Scan

interface ScanAttrs {
  M: number;
  inAxes: number[];
  inDirs: number[];
  outAxes: number[];
  outDirs: number[];
}

function scanAttrs(r: AttrReader, body: IrGraph, nInputs: number, ctx: KernelContext): { N: number; K: number; a: ScanAttrs } {
  const M = r.requiredInt('num_scan_inputs');
  if (M < 1 || M > nInputs) throw opError('Scan', ctx, `num_scan_inputs ${M} must be in [1, ${nInputs}] (the node's inputs)`);
  const N = nInputs - M;
  if (body.inputs.length !== N + M)
    throw opError('Scan', ctx, `the body must have ${N + M} inputs (${N} states, ${M} scan inputs), has ${body.inputs.length}`);
  const K = body.outputs.length - N;
  if (K < 0) throw opError('Scan', ctx, `the body must have at least ${N} outputs (the states), has ${body.outputs.length}`);
  const list = (name: string, n: number, allowed?: number[]): number[] => {
    const v = r.ints(name, new Array<number>(n).fill(0));
    if (v.length !== n) throw opError('Scan', ctx, `attribute '${name}' must have ${n} entries, has ${v.length}`);
    if (allowed && v.some((x) => !allowed.includes(x)))
      throw opError('Scan', ctx, `attribute '${name}' entries must be 0 or 1, got [${v.join(', ')}]`);
    return v;
  };
  return {
    N,
    K,
    a: {
      M,
      inAxes: list('scan_input_axes', M),
      inDirs: list('scan_input_directions', M, [0, 1]),
      outAxes: list('scan_output_axes', K),
      outDirs: list('scan_output_directions', K, [0, 1]),
    },
  };
}

function normAxisFor(ctx: KernelContext, axis: number, rank: number, what: string): number {
  const min = ctx.opset >= 11 ? -rank : 0;
  if (axis < min || axis >= rank) throw opError('Scan', ctx, `${what} ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** Slice `t` at index `i` of axis `axis` (the axis removed). */
function sliceAt(t: Tensor, axis: number, i: number): Tensor {
  const dims = t.dims.filter((_, k) => k !== axis);
  const st = stridesOf(t.dims);
  const outerN = elementCount(t.dims.slice(0, axis));
  const inner = st[axis]!;
  const len = t.dims[axis]!;
  const data = allocData(t.dtype, elementCount(dims));
  for (let o = 0; o < outerN; o++) {
    const src = t.data.subarray((o * len + i) * inner, (o * len + i + 1) * inner);
    (data as Float32Array).set(src as Float32Array, o * inner);
  }
  return { dtype: t.dtype, dims, data };
}

export const scanKernel: RefKernel = (inputs, attrs, ctx) => {
  const r = new AttrReader('Scan', attrs, ctx);
  const body = r.graph('body');
  const { formal, outer } = splitInputs(inputs, attrs, 'Scan', ctx);
  const { N, K, a } = scanAttrs(r, body, formal.length, ctx);
  const ts = formal.map((t, k) => {
    if (!t) throw opError('Scan', ctx, `input ${k} is omitted`);
    return t;
  });
  const states0 = ts.slice(0, N),
    xs = ts.slice(N);
  const inAxes = xs.map((x, j) => normAxisFor(ctx, a.inAxes[j]!, x.dims.length, `scan_input_axes[${j}]`));
  const L = xs[0]!.dims[inAxes[0]!]!;
  xs.forEach((x, j) => {
    if (x.dims[inAxes[j]!] !== L)
      throw opError('Scan', ctx, `scan input ${j} has length ${x.dims[inAxes[j]!]} along its axis, scan input 0 has ${L}`);
  });
  let states = states0;
  const outs: Tensor[][] = Array.from({ length: K }, () => []);
  const run = graphRunner(body, where(ctx, 'body'));
  for (let i = 0; i < L; i++) {
    const slices = xs.map((x, j) => sliceAt(x, inAxes[j]!, a.inDirs[j] ? L - 1 - i : i));
    const res = run([...states, ...slices], outer.get(body)!);
    states = res.slice(0, N);
    res.slice(N).forEach((t, k) => outs[k]!.push(t));
  }
  const finals = states.map((t) =>
    states0.includes(t) ? { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() as Tensor['data'] } : t,
  );
  const scanOuts = outs.map((parts, k) => {
    const info = body.values.get(body.outputs[N + k]!)!.info;
    const elem = parts[0]?.dims ?? (info.dims ? info.dims.map((d) => Math.max(d, 0)) : []);
    const axis = normAxisFor(ctx, a.outAxes[k]!, elem.length + 1, `scan_output_axes[${k}]`);
    const ordered = a.outDirs[k] ? [...parts].reverse() : parts;
    return stack('Scan', ctx, ordered, axis, parts[0]?.dtype ?? info.dtype, elem, `scan output ${k}`);
  });
  return [...finals, ...scanOuts];
};

export const scanShape: ShapeFn = (inputs, attrs, consts, ctx) => {
  const r = new AttrReader('Scan', attrs, ctx);
  const body = r.graph('body');
  const { formal, outer } = splitInputs(inputs, attrs, 'Scan', ctx);
  const { outer: outerConsts } = splitInputs(consts, attrs, 'Scan', ctx);
  const { N, a } = scanAttrs(r, body, formal.length, ctx);
  const infos = formal.map((t, k) => {
    if (!t) throw opError('Scan', ctx, `input ${k} is omitted`);
    return t;
  });
  let L = -1;
  const sliceInfos = infos.slice(N).map((x, j): ValueInfo => {
    if (!x.dims) return { dtype: x.dtype, dims: null };
    const ax = normAxisFor(ctx, a.inAxes[j]!, x.dims.length, `scan_input_axes[${j}]`);
    if (x.dims[ax]! >= 0) L = x.dims[ax]!;
    return { dtype: x.dtype, dims: x.dims.filter((_, k) => k !== ax) };
  });
  const outs = inferGraph(body, [...infos.slice(0, N), ...sliceInfos], outer.get(body)!, outerConsts.get(body)!, where(ctx, 'body'));
  const states = infos.slice(0, N).map((s, k) => {
    const got = outs[k]!;
    if (got.dtype !== s.dtype) throw opError('Scan', ctx, `state ${k} enters the body as ${s.dtype} and leaves it as ${got.dtype}`);
    return unionInfo('Scan', ctx, s, got, `state ${k}`);
  });
  const scans = outs.slice(N).map((s, k): ValueInfo => {
    if (!s.dims) return { dtype: s.dtype, dims: null };
    const ax = normAxisFor(ctx, a.outAxes[k]!, s.dims.length + 1, `scan_output_axes[${k}]`);
    return { dtype: s.dtype, dims: [...s.dims.slice(0, ax), L, ...s.dims.slice(ax)] };
  });
  return [...states, ...scans];
};

// Scan-8: batch-major, optional sequence_lens first.

function scan8Attrs(r: AttrReader, body: IrGraph, nInputs: number, ctx: KernelContext): { N: number; K: number; dirs: number[] } {
  const M = r.requiredInt('num_scan_inputs');
  if (M < 1 || M > nInputs) throw opError('Scan', ctx, `num_scan_inputs ${M} must be in [1, ${nInputs}]`);
  const N = nInputs - M;
  if (body.inputs.length !== N + M) throw opError('Scan', ctx, `the body must have ${N + M} inputs, has ${body.inputs.length}`);
  const K = body.outputs.length - N;
  if (K < 0) throw opError('Scan', ctx, `the body must have at least ${N} outputs, has ${body.outputs.length}`);
  const dirs = r.ints('directions', new Array<number>(M).fill(0));
  if (dirs.length !== M || dirs.some((d) => d !== 0 && d !== 1))
    throw opError('Scan', ctx, `attribute 'directions' must be ${M} entries of 0 or 1`);
  return { N, K, dirs };
}

export const scan8Kernel: RefKernel = (inputs, attrs, ctx) => {
  const r = new AttrReader('Scan', attrs, ctx);
  const body = r.graph('body');
  const { formal, outer } = splitInputs(inputs, attrs, 'Scan', ctx);
  const lensT = formal[0];
  const rest = formal.slice(1).map((t, k) => {
    if (!t) throw opError('Scan', ctx, `input ${k + 1} is omitted`);
    return t;
  });
  const { N, K, dirs } = scan8Attrs(r, body, rest.length, ctx);
  const states0 = rest.slice(0, N),
    xs = rest.slice(N);
  const B = xs[0]!.dims[0]!;
  const S = xs[0]!.dims[1] ?? -1;
  for (const [k, t] of rest.entries()) {
    const need = k < N ? 1 : 2;
    if (t.dims.length < need || t.dims[0] !== B || (k >= N && t.dims[1] !== S)) {
      throw opError(
        'Scan',
        ctx,
        `input ${k + 1} has shape ${fmt(t.dims)}; every input needs batch ${B}${k >= N ? ` and sequence length ${S}` : ''}`,
      );
    }
  }
  let lens: number[] = new Array<number>(B).fill(S);
  if (lensT) {
    if (lensT.dtype !== 'int64' || lensT.data.length !== B) throw opError('Scan', ctx, `sequence_lens must be ${B} int64 values`);
    lens = Array.from(lensT.data as BigInt64Array, Number);
    lens.forEach((n, b) => {
      if (!(n > 0 && n <= S)) throw opError('Scan', ctx, `sequence_lens[${b}] is ${n}, outside [1, ${S}]`);
    });
  }
  const run = graphRunner(body, where(ctx, 'body'));
  const finals: Tensor[][] = Array.from({ length: N }, () => []);
  const scans: Tensor[][] = Array.from({ length: K }, () => []); // [k][b]: [S, ...]
  for (let b = 0; b < B; b++) {
    let states = states0.map((s) => sliceAt(s, 0, b));
    const rows = xs.map((x) => sliceAt(x, 0, b));
    const per: Tensor[][] = Array.from({ length: K }, () => []);
    for (let i = 0; i < lens[b]!; i++) {
      const slices = rows.map((x, j) => sliceAt(x, 0, dirs[j] ? lens[b]! - 1 - i : i));
      const res = run([...states, ...slices], outer.get(body)!);
      states = res.slice(0, N);
      res.slice(N).forEach((t, k) => per[k]!.push(t));
    }
    states.forEach((s, k) => finals[k]!.push(s));
    per.forEach((parts, k) => {
      // pad with zeros up to the sequence length
      const p0 = parts[0]!;
      while (parts.length < S) parts.push({ dtype: p0.dtype, dims: [...p0.dims], data: allocData(p0.dtype, p0.data.length) });
      scans[k]!.push(stack('Scan', ctx, parts, 0, p0.dtype, p0.dims, `scan output ${k}`));
    });
  }
  const outS = finals.map((parts, k) =>
    stack('Scan', ctx, parts, 0, parts[0]?.dtype ?? states0[k]!.dtype, states0[k]!.dims.slice(1), `state ${k}`),
  );
  const outK = scans.map((parts, k) => stack('Scan', ctx, parts, 0, parts[0]!.dtype, parts[0]!.dims, `scan output ${k}`));
  return [...outS, ...outK];
};

export const scan8Shape: ShapeFn = (inputs, attrs, consts, ctx) => {
  const r = new AttrReader('Scan', attrs, ctx);
  const body = r.graph('body');
  const { formal, outer } = splitInputs(inputs, attrs, 'Scan', ctx);
  const { outer: outerConsts } = splitInputs(consts, attrs, 'Scan', ctx);
  const lens = formal[0];
  if (lens && lens.dtype !== 'int64') throw opError('Scan', ctx, `sequence_lens must be int64, got ${lens.dtype}`);
  const rest = formal.slice(1).map((t, k) => {
    if (!t) throw opError('Scan', ctx, `input ${k + 1} is omitted`);
    return t;
  });
  const { N } = scan8Attrs(r, body, rest.length, ctx);
  const drop = (x: ValueInfo, n: number): ValueInfo => ({ dtype: x.dtype, dims: x.dims ? x.dims.slice(n) : null });
  const B = rest[0]?.dims?.[0] ?? -1;
  const S = rest[N]?.dims?.[1] ?? -1;
  const outs = inferGraph(
    body,
    [...rest.slice(0, N).map((s) => drop(s, 1)), ...rest.slice(N).map((x) => drop(x, 2))],
    outer.get(body)!,
    outerConsts.get(body)!,
    where(ctx, 'body'),
  );
  return outs.map((o, k): ValueInfo => ({ dtype: o.dtype, dims: o.dims ? (k < N ? [B, ...o.dims] : [B, S, ...o.dims]) : null }));
};
