// Operator fusion for the float32 engine (src/runtime/engine_f32.ts), in place on a graph whose
// shapes are static:
//   1. bias: Add(x, c) where x = Conv/Gemm/MatMul(...) is read by nobody else and the constant c
//      broadcasts per output channel (Conv: [M], [M,1,1], [1,M,1,1], scalar) or per output column
//      (Gemm/MatMul: [N], [1,N], scalar) without enlarging x:
//        Conv   → its bias input B becomes B + c                       (plain ONNX Conv)
//        Gemm   → its C input becomes beta·C + c, beta = 1             (plain ONNX Gemm)
//        MatMul → Gemm(A, B, c) when A and B are 2-D, else sparrow.FusedMatMul(A, B, bias)
//   2. activation: Relu / Clip (constant bounds) whose input is the only use of a Conv,
//      ConvTranspose, Gemm, MatMul or FusedMatMul output → sparrow.FusedConv /
//      FusedConvTranspose / FusedGemm / FusedMatMul with attributes activation ('Relu' | 'Clip'),
//      activation_min, activation_max; with `activations: 'all'` (the float32 engine) also
//      Sigmoid, Tanh, HardSwish, HardSigmoid (activation_alpha, activation_beta), Gelu
//      (activation_approximate), and the two-node forms exporters emit for SiLU, x·Sigmoid(x), and
//      for HardSwish, x·HardSigmoid(x) with alpha 1/6, beta 1/2 (opsets before 14): activation
//      'SiLU' / 'HardSwish' (not after a ConvTranspose, whose kernel clamps only).
//   0. (float32 engine, activations 'all') before those: the transformer patterns of
//      fuse_patterns.ts (decomposed LayerNorm / RMSNorm → one node each, the erf and tanh Gelu
//      chains → Gelu, which step 2 then folds into the MatMul before it) and fuse_attention.ts
//      (MatMul → scale → mask → Softmax → MatMul → sparrow.Attention, reading its operands
//      through the movement around it); the movement nodes left without readers are removed.
// The fused nodes keep their original attributes and carry an OpDef (domain 'sparrow', not
// registered) whose reference kernel is the original one followed by bias and activation, so the
// reference executor still runs a fused graph (ONNX semantics: NaN stays NaN through the clamp).
import type { AttrValue, Attrs, OpDef, RefKernel, Tensor } from '../ops/types.js';
import type { Act } from '../kernels/f32_ref.js';
import { resolveOp } from '../ops/registry.js';
import { eliminateDeadNodes, freshName, type Graph, type Node } from './graph.js';
import { fusePatterns } from './fuse_patterns.js';
import { fuseAttention } from './fuse_attention.js';
import { indexOf } from './fuse_util.js';

export const FUSED_DOMAIN = 'sparrow';

const F32_MAX = 3.4028234663852886e38;

export interface FuseOptions {
  /** which activations fold into the producing node: clamps only (int8 kernels) or all (default) */
  activations?: 'clamp' | 'all';
  /** the transformer patterns (step 0; default: with activations 'all'); false leaves them unfused (tests) */
  patterns?: boolean;
  /** values that must stay values: nothing fuses across them (the int8 engine's quantized values in 'onnx' mode) */
  keep?: ReadonlySet<string>;
}

export interface FuseReport {
  /** Add-of-constant folded into a Conv / Gemm / MatMul */
  biases: number;
  /** Relu / Clip folded into the producing node */
  activations: number;
  /** decomposed LayerNorm / RMSNorm chains, Gelu chains, attention blocks fused (float32 engine; present when > 0) */
  layerNorms?: number;
  rmsNorms?: number;
  gelus?: number;
  attention?: number;
}

/** The activation of a fused node: clamp bounds, or undefined when it has none. */
export function fusedActivation(node: Node): { min: number; max: number } | undefined {
  if (node.domain !== FUSED_DOMAIN) return undefined;
  const a = node.attrs['activation'];
  if (a !== 'Relu' && a !== 'Clip') return undefined;
  const min = node.attrs['activation_min'],
    max = node.attrs['activation_max'];
  return { min: typeof min === 'number' ? min : -Infinity, max: typeof max === 'number' ? max : Infinity };
}

/** The kernels' form of a fused node's activation (any kind), or undefined when it has none. */
export function fusedAct(node: Node): Act | undefined {
  if (node.domain !== FUSED_DOMAIN) return undefined;
  const a = node.attrs['activation'];
  const num = (k: string, d: number): number => (typeof node.attrs[k] === 'number' ? (node.attrs[k] as number) : d);
  switch (a) {
    case 'Relu':
    case 'Clip':
      return { min: num('activation_min', -Infinity), max: num('activation_max', Infinity) };
    case 'Sigmoid':
      return { fn: 'sigmoid' };
    case 'SiLU':
      return { fn: 'silu' };
    case 'HardSwish':
      return { fn: 'hardswish' };
    case 'Tanh':
      return { fn: 'tanh' };
    case 'HardSigmoid':
      return { fn: 'hardsigmoid', alpha: num('activation_alpha', 0.2), beta: num('activation_beta', 0.5) };
    case 'Gelu':
      return { fn: node.attrs['activation_approximate'] === 'tanh' ? 'gelu_tanh' : 'gelu' };
    default:
      return undefined;
  }
}

const POST_ACTIVATIONS = new Set(['Sigmoid', 'Tanh', 'HardSwish', 'HardSigmoid', 'Gelu']);

/** Fuses in place (see the file header). */
export function fuseGraph(graph: Graph, opts: FuseOptions = {}): FuseReport {
  const report: FuseReport = { biases: 0, activations: 0 };
  if ((opts.patterns ?? opts.activations !== 'clamp') && !opts.keep?.size) {
    const gx = indexOf(graph);
    const p = fusePatterns(graph, gx);
    const attention = fuseAttention(graph, gx);
    if (attention) eliminateDeadNodes(graph);
    for (const [k, v] of Object.entries({ ...p, attention })) if (v) (report as unknown as Record<string, number>)[k] = v;
  }
  const ix = indexGraph(graph, opts.keep);
  for (const add of [...graph.nodes]) {
    if (add.domain === '' && add.op === 'Add' && fuseBias(graph, ix, add)) report.biases++;
  }
  const all = opts.activations !== 'clamp';
  for (const act of [...graph.nodes]) {
    if (!graph.nodes.includes(act) || act.domain !== '') continue;
    if ((act.op === 'Relu' || act.op === 'Clip') && fuseActivation(graph, ix, act)) report.activations++;
    else if (all && POST_ACTIVATIONS.has(act.op) && (fuseGated(graph, ix, act) || fusePost(graph, ix, act))) report.activations++;
  }
  return report;
}

// ---------------------------------------------------------------------------------------------

/**
 * Who reads and who writes each value, built once per fuseGraph and kept up to date by every
 * rewrite (a fusion only rewires inputs, renames a producer's first output and removes the folded
 * node; it never adds or reorders nodes), so that a candidate costs a few lookups instead of
 * scans of all nodes.
 */
interface FuseIndex {
  /** value → the nodes reading it (each node once, as `consumers` lists them) */
  readers: Map<string, Node[]>;
  /** value → the nodes whose first output it is and that have no other (non-omitted) output */
  writers: Map<string, Node[]>;
  /** FuseOptions.keep */
  keep: ReadonlySet<string> | undefined;
}

function addTo(m: Map<string, Node[]>, k: string, n: Node): void {
  const list = m.get(k);
  if (!list) m.set(k, [n]);
  else if (!list.includes(n)) list.push(n);
}

function removeFrom(m: Map<string, Node[]>, k: string, n: Node): void {
  const list = m.get(k);
  const at = list ? list.indexOf(n) : -1;
  if (at >= 0) list!.splice(at, 1);
}

const singleOutput = (n: Node): boolean => n.outputs.every((o, j) => j === 0 || !o);

function indexGraph(graph: Graph, keep?: ReadonlySet<string>): FuseIndex {
  const ix: FuseIndex = { readers: new Map(), writers: new Map(), keep };
  for (const n of graph.nodes) {
    for (const i of n.inputs) {
      if (!i) continue;
      const list = ix.readers.get(i);
      if (!list) ix.readers.set(i, [n]);
      else if (list[list.length - 1] !== n) list.push(n); // in node order: a repeat is the last entry
    }
    if (n.outputs[0] && singleOutput(n)) addTo(ix.writers, n.outputs[0], n);
  }
  return ix;
}

/** `node` no longer reads anything (it is being replaced or removed). */
function unread(ix: FuseIndex, node: Node): void {
  for (const i of node.inputs) if (i) removeFrom(ix.readers, i, node);
}

/** Gives `node` a new input list, keeping `ix.readers` right. */
function setInputs(ix: FuseIndex, node: Node, inputs: string[]): void {
  unread(ix, node);
  node.inputs = inputs;
  for (const i of inputs) if (i) addTo(ix.readers, i, node);
}

/** Sets input k of `node` in place (padding with omitted inputs '' up to k), keeping `ix.readers` right. */
function setInput(ix: FuseIndex, node: Node, k: number, name: string): void {
  while (node.inputs.length <= k) node.inputs.push('');
  const old = node.inputs[k]!;
  node.inputs[k] = name;
  if (old && !node.inputs.includes(old)) removeFrom(ix.readers, old, node);
  if (name) addTo(ix.readers, name, node);
}

// ---------------------------------------------------------------------------------------------

const constF32 = (graph: Graph, name: string | undefined): Tensor | undefined => {
  const t = name ? graph.values.get(name)?.const : undefined;
  return t && t.dtype === 'float32' ? t : undefined;
};

const staticDims = (graph: Graph, name: string): number[] | undefined => {
  const d = graph.values.get(name)?.info.dims;
  return d && d.every((x) => x >= 0) ? d : undefined;
};

/**
 * The node producing `x` (as its only output) when x is no graph input or output and `reader`
 * is its only reader, reading it once; the first such node in graph order.
 */
function soleProducer(graph: Graph, ix: FuseIndex, x: string, reader: Node): Node | undefined {
  if (graph.outputs.includes(x) || graph.inputs.includes(x) || ix.keep?.has(x)) return undefined;
  const users = ix.readers.get(x);
  if (!users || users.length !== 1 || users[0] !== reader || reader.inputs.filter((i) => i === x).length !== 1) return undefined;
  const writers = ix.writers.get(x);
  if (!writers || writers.length <= 1) return writers?.[0];
  // x written by several nodes (not a valid SSA graph): the first in graph order, as a scan finds it
  return graph.nodes.find((n) => n.outputs[0] === x && singleOutput(n));
}

/**
 * The values of constant c broadcast along axis `axis` of a rank-`rank` output of size `len`
 * there, when c is 1 along every other axis (and has rank ≤ rank); undefined otherwise.
 */
function alongAxis(c: Tensor, rank: number, axis: number, len: number): Float32Array | undefined {
  if (c.dims.length > rank) return undefined;
  const off = rank - c.dims.length;
  let n = 1;
  for (let i = 0; i < c.dims.length; i++) {
    const d = c.dims[i]!;
    if (i + off === axis) {
      if (d !== 1 && d !== len) return undefined;
      n = d;
    } else if (d !== 1) return undefined;
  }
  const src = c.data as Float32Array;
  return Float32Array.from({ length: len }, (_, k) => src[n === 1 ? 0 : k]!);
}

function addConst(graph: Graph, base: string, t: Tensor): string {
  const name = freshName(graph, base);
  graph.values.set(name, { name, info: { dtype: t.dtype, dims: [...t.dims] }, const: t });
  return name;
}

/** The producer now writes `y` (the output of the node being folded into it), which is removed. */
function absorb(graph: Graph, ix: FuseIndex, prod: Node, folded: Node): void {
  const x = prod.outputs[0]!;
  const y = folded.outputs[0]!;
  prod.outputs[0] = y;
  graph.values.delete(x);
  graph.nodes = graph.nodes.filter((n) => n !== folded);
  // index: prod moves from x's writers to y's, folded leaves the graph
  removeFrom(ix.writers, x, prod);
  removeFrom(ix.writers, y, folded);
  if (y) addTo(ix.writers, y, prod);
  unread(ix, folded);
}

function fuseBias(graph: Graph, ix: FuseIndex, add: Node): boolean {
  const [p, q] = add.inputs;
  if (!p || !q || add.outputs.length !== 1) return false;
  const y = add.outputs[0]!;
  for (const [x, cName] of [
    [p, q],
    [q, p],
  ] as const) {
    const c = constF32(graph, cName);
    if (!c || graph.values.get(x)?.const) continue;
    const xd = staticDims(graph, x),
      yd = staticDims(graph, y);
    if (!xd || !yd || xd.length !== yd.length || xd.some((d, i) => d !== yd[i])) continue;
    const prod = soleProducer(graph, ix, x, add);
    if (!prod || prod.domain !== '' || graph.values.get(x)?.info.dtype !== 'float32') continue;
    if (prod.op === 'Conv') {
      if (xd.length < 3) continue;
      const M = xd[1]!;
      const v = alongAxis(c, xd.length, 1, M);
      const wName = prod.inputs[1] ?? '';
      if (!v || !constF32(graph, wName)) continue;
      const bName = prod.inputs[2] ?? '';
      const b = bName ? constF32(graph, bName) : undefined;
      if (bName && (!b || b.data.length !== M)) continue;
      const nb = Float32Array.from(v, (cv, m) => (b ? (b.data as Float32Array)[m]! : 0) + cv);
      const nbName = addConst(graph, `${bName || `${prod.name}_bias`}_fused`, { dtype: 'float32', dims: [M], data: nb });
      setInput(ix, prod, 2, nbName);
      absorb(graph, ix, prod, add);
      return true;
    }
    if (prod.op === 'Gemm' || prod.op === 'MatMul') {
      if (xd.length < 1) continue;
      const N = xd[xd.length - 1]!;
      const v = alongAxis(c, xd.length, xd.length - 1, N);
      if (!v) continue;
      if (prod.op === 'Gemm') {
        const cIn = prod.inputs[2] ?? '';
        const old = cIn ? constF32(graph, cIn) : undefined;
        const beta = typeof prod.attrs['beta'] === 'number' ? prod.attrs['beta'] : 1;
        let oldV: Float32Array | undefined;
        if (cIn) {
          oldV = old ? alongAxis(old, 2, 1, N) : undefined;
          if (!oldV) continue;
        }
        const nc = Float32Array.from(v, (cv, n) => (oldV ? beta * oldV[n]! : 0) + cv);
        const ncName = addConst(graph, `${cIn || `${prod.name}_C`}_fused`, { dtype: 'float32', dims: [N], data: nc });
        setInput(ix, prod, 2, ncName);
        prod.attrs = { ...prod.attrs, beta: 1 };
        absorb(graph, ix, prod, add);
        return true;
      }
      // MatMul
      const ad = staticDims(graph, prod.inputs[0] ?? ''),
        bd = staticDims(graph, prod.inputs[1] ?? '');
      if (!ad || !bd || ad.length < 2 || bd.length < 2) continue;
      const biasName = addConst(graph, `${prod.name}_bias_fused`, { dtype: 'float32', dims: [N], data: v });
      if (ad.length === 2 && bd.length === 2 && prod.opset >= 7) {
        prod.op = 'Gemm';
        prod.def = resolveOp('Gemm', '', prod.opset, prod.name);
        prod.attrs = {};
        setInputs(ix, prod, [prod.inputs[0]!, prod.inputs[1]!, biasName]);
      } else {
        toFused(prod);
        setInputs(ix, prod, [prod.inputs[0]!, prod.inputs[1]!, biasName]);
      }
      absorb(graph, ix, prod, add);
      return true;
    }
  }
  return false;
}

function fuseActivation(graph: Graph, ix: FuseIndex, act: Node): boolean {
  const x = act.inputs[0] ?? '';
  if (!x || act.outputs.length !== 1 || graph.values.get(x)?.info.dtype !== 'float32') return false;
  let min: number, max: number;
  if (act.op === 'Relu') {
    min = 0;
    max = Infinity;
  } else if (act.opset < 11) {
    min = typeof act.attrs['min'] === 'number' ? act.attrs['min'] : -F32_MAX;
    max = typeof act.attrs['max'] === 'number' ? act.attrs['max'] : F32_MAX;
  } else {
    const bound = (i: number, dflt: number): number | undefined => {
      const name = act.inputs[i];
      if (!name) return dflt;
      const t = constF32(graph, name);
      return t && t.data.length === 1 ? (t.data as Float32Array)[0]! : undefined;
    };
    const lo = bound(1, -F32_MAX),
      hi = bound(2, F32_MAX);
    if (lo === undefined || hi === undefined) return false;
    min = lo;
    max = hi;
  }
  const prod = soleProducer(graph, ix, x, act);
  if (!prod) return false;
  const plain = prod.domain === '' && (prod.op === 'Conv' || prod.op === 'ConvTranspose' || prod.op === 'Gemm' || prod.op === 'MatMul');
  const fusedNoAct = isFusedProducer(prod) && !fusedActivation(prod);
  if (!plain && !fusedNoAct) return false;
  if (plain) toFused(prod);
  prod.attrs = { ...prod.attrs, activation: act.op, activation_min: min, activation_max: max };
  absorb(graph, ix, prod, act);
  return true;
}

/** The Conv / Gemm / MatMul (plain, or fused without an activation) producing x for `reader` alone. */
function activationTarget(graph: Graph, ix: FuseIndex, x: string, reader: Node): Node | undefined {
  if (!x || graph.values.get(x)?.info.dtype !== 'float32') return undefined;
  const prod = soleProducer(graph, ix, x, reader);
  if (!prod) return undefined;
  const plain = prod.domain === '' && (prod.op === 'Conv' || prod.op === 'Gemm' || prod.op === 'MatMul');
  const fusedNoAct = isFusedProducer(prod) && prod.op !== 'FusedConvTranspose' && !prod.attrs['activation'];
  return plain || fusedNoAct ? prod : undefined;
}

/** The attributes a post activation node carries into the fused node. */
function postAttrs(act: Node): Record<string, AttrValue> | undefined {
  if (act.op === 'HardSigmoid') {
    const alpha = typeof act.attrs['alpha'] === 'number' ? act.attrs['alpha'] : 0.2;
    const beta = typeof act.attrs['beta'] === 'number' ? act.attrs['beta'] : 0.5;
    return { activation: 'HardSigmoid', activation_alpha: alpha, activation_beta: beta };
  }
  if (act.op === 'Gelu') return { activation: 'Gelu', activation_approximate: act.attrs['approximate'] === 'tanh' ? 'tanh' : 'none' };
  return { activation: act.op };
}

/** Sigmoid / Tanh / HardSwish / HardSigmoid / Gelu reading a Conv / Gemm / MatMul output. */
function fusePost(graph: Graph, ix: FuseIndex, act: Node): boolean {
  if (act.outputs.length !== 1) return false;
  const prod = activationTarget(graph, ix, act.inputs[0] ?? '', act);
  const attrs = postAttrs(act);
  if (!prod || !attrs) return false;
  if (prod.domain === '') toFused(prod);
  prod.attrs = { ...prod.attrs, ...attrs };
  absorb(graph, ix, prod, act);
  return true;
}

/**
 * y = Mul(x, g(x)) with g = Sigmoid (SiLU) or HardSigmoid(alpha 1/6, beta 1/2) (HardSwish), x the
 * output of a Conv / Gemm / MatMul read only by g and the Mul, g(x) read only by the Mul.
 */
function fuseGated(graph: Graph, ix: FuseIndex, gate: Node): boolean {
  let kind: string;
  if (gate.op === 'Sigmoid') kind = 'SiLU';
  else if (gate.op === 'HardSigmoid') {
    const alpha = typeof gate.attrs['alpha'] === 'number' ? gate.attrs['alpha'] : 0.2;
    const beta = typeof gate.attrs['beta'] === 'number' ? gate.attrs['beta'] : 0.5;
    if (alpha !== Math.fround(1 / 6) || beta !== 0.5) return false;
    kind = 'HardSwish';
  } else return false;
  const x = gate.inputs[0] ?? '',
    s = gate.outputs[0] ?? '';
  if (
    !x ||
    !s ||
    ix.keep?.has(x) ||
    ix.keep?.has(s) ||
    graph.outputs.includes(x) ||
    graph.outputs.includes(s) ||
    graph.values.get(x)?.info.dtype !== 'float32'
  )
    return false;
  const sReaders = ix.readers.get(s) ?? [];
  if (sReaders.length !== 1) return false;
  const mul = sReaders[0]!;
  if (mul.domain !== '' || mul.op !== 'Mul' || mul.outputs.length !== 1) return false;
  const [m0, m1] = mul.inputs;
  if (!((m0 === x && m1 === s) || (m0 === s && m1 === x))) return false;
  const xReaders = ix.readers.get(x) ?? [];
  if (xReaders.length !== 2 || !xReaders.includes(gate) || !xReaders.includes(mul)) return false;
  const xd = staticDims(graph, x),
    yd = staticDims(graph, mul.outputs[0]!);
  if (!xd || !yd || xd.length !== yd.length || xd.some((d, i) => d !== yd[i])) return false;
  const writers = ix.writers.get(x);
  const prod = writers?.length === 1 ? writers[0]! : undefined;
  if (!prod || graph.inputs.includes(x)) return false;
  const plain = prod.domain === '' && (prod.op === 'Conv' || prod.op === 'Gemm' || prod.op === 'MatMul');
  if (!plain && !(isFusedProducer(prod) && prod.op !== 'FusedConvTranspose' && !prod.attrs['activation'])) return false;
  if (plain) toFused(prod);
  prod.attrs = { ...prod.attrs, activation: kind, activation_gated: 1 };
  // the gate goes; the producer then writes the Mul's output
  graph.nodes = graph.nodes.filter((n) => n !== gate);
  unread(ix, gate);
  removeFrom(ix.writers, s, gate);
  graph.values.delete(s);
  absorb(graph, ix, prod, mul);
  return true;
}

/** A sparrow.FusedConv / FusedConvTranspose / FusedGemm / FusedMatMul (the nodes an activation folds into; not the transformer fusions). */
function isFusedProducer(n: Node): boolean {
  return (
    n.domain === FUSED_DOMAIN && (n.op === 'FusedConv' || n.op === 'FusedConvTranspose' || n.op === 'FusedGemm' || n.op === 'FusedMatMul')
  );
}

/** Conv/ConvTranspose/Gemm/MatMul → sparrow.Fused* (no bias, no activation yet). */
function toFused(node: Node): void {
  const base = node.def;
  const nBase = node.op === 'MatMul' ? 2 : 3;
  node.op = `Fused${node.op}`;
  node.domain = FUSED_DOMAIN;
  node.def = fusedDef(base, node.op, nBase);
}

function fusedDef(base: OpDef, op: string, nBase: number): OpDef {
  const ref: RefKernel = (inputs, attrs, ctx) => {
    const y = base.ref(inputs.slice(0, nBase), attrs, ctx)[0]!;
    const data = y.data as Float32Array;
    const bias = nBase === 2 ? inputs[2] : undefined; // FusedMatMul: per-column bias [N]
    if (bias) {
      const b = bias.data as Float32Array;
      const N = b.length;
      for (let i = 0; i < data.length; i++) data[i] = data[i]! + b[i % N]!;
    }
    const a = attrs['activation'];
    if (a === 'Relu' || a === 'Clip') {
      const lo = attrs['activation_min'] as number,
        hi = attrs['activation_max'] as number;
      for (let i = 0; i < data.length; i++) {
        const v = data[i]!;
        if (!Number.isNaN(v)) data[i] = Math.min(Math.max(v, lo), hi);
      }
    } else if (typeof a === 'string') {
      // the activation's own reference kernel(s), so that a fused graph computes what the unfused one does
      const run = (op: string, x: Tensor, at: Attrs): Tensor => resolveOp(op, '', Math.max(ctx.opset, 14), ctx.node).ref([x], at, ctx)[0]!;
      const run2 = (op: string, p: Tensor, q: Tensor): Tensor =>
        resolveOp(op, '', Math.max(ctx.opset, 14), ctx.node).ref([p, q], {}, ctx)[0]!;
      if (a === 'SiLU') return [run2('Mul', y, run('Sigmoid', y, {}))];
      if (a === 'HardSwish' && attrs['activation_gated'] === 1)
        return [run2('Mul', y, run('HardSigmoid', y, { alpha: Math.fround(1 / 6), beta: 0.5 }))];
      if (a === 'HardSigmoid')
        return [run('HardSigmoid', y, { alpha: attrs['activation_alpha'] as number, beta: attrs['activation_beta'] as number })];
      if (a === 'Gelu')
        return [
          resolveOp('Gelu', '', Math.max(ctx.opset, 20), ctx.node).ref(
            [y],
            { approximate: attrs['activation_approximate'] as string },
            ctx,
          )[0]!,
        ];
      return [run(a, y, {})];
    }
    return [y];
  };
  return {
    op,
    domain: FUSED_DOMAIN,
    sinceVersion: base.sinceVersion,
    untilVersion: base.untilVersion,
    ref,
    shape: (inputs, attrs, consts, ctx) => base.shape(inputs.slice(0, nBase), attrs, consts.slice(0, nBase), ctx),
  };
}
