// Graph passes: static shape inference, input shape fixing, constant folding (Shape of a
// statically shaped tensor included), Identity/Dropout removal, BatchNormalization folding
// into the preceding Conv/Gemm, and the `optimize` pipeline. Every pass works in place and
// returns what it changed; `cloneGraph` first to keep the original.
import { SparrowError } from '../errors.js';
import { elementCount, isGraphAttr, type Attrs, type KernelContext, type Tensor, type ValueInfo } from '../ops/types.js';
import { onnxDtypeCode } from '../ops/dtypes.js';
import { allocData } from '../ops/ref/util.js';
import { consumers, eliminateDeadNodes, formatInfo, freshName, opCounts, valueOf, type Graph, type Node } from './graph.js';
import { inlineBranch, pruneOuterValues, subgraphsOf } from './subgraph.js';

export { eliminateDeadNodes };

const ctxOf = (n: Node): KernelContext => ({ opset: n.opset, node: n.name });
const isStatic = (dims: number[] | null): dims is number[] => dims !== null && dims.every((d) => d >= 0);

function infoOfTensor(t: Tensor): ValueInfo {
  return { dtype: t.dtype, dims: [...t.dims] };
}

/** Runs the node's shape function on the current infos/constants of its inputs. */
function inferNode(graph: Graph, node: Node): ValueInfo[] {
  const infos = node.inputs.map((i) => (i ? valueOf(graph, i).info : undefined));
  const consts = node.inputs.map((i) => (i ? graph.values.get(i)?.const : undefined));
  let out: ValueInfo[];
  try {
    out = node.def.shape(infos, node.attrs, consts, ctxOf(node));
  } catch (e) {
    if (e instanceof SparrowError) throw e;
    throw new SparrowError(
      'internal',
      `shape function of ${node.op} failed at node '${node.name}': ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  node.outputs.forEach((o, j) => {
    if (o && !out[j]) {
      throw new SparrowError(
        'internal',
        `shape function of ${node.op} returned ${out.length} output(s), node '${node.name}' has output #${j} '${o}'`,
      );
    }
  });
  return out;
}

function setOutputInfos(graph: Graph, node: Node, infos: ValueInfo[]): void {
  node.outputs.forEach((o, j) => {
    if (!o) return;
    const info = infos[j]!;
    valueOf(graph, o).info = { dtype: info.dtype, dims: info.dims ? [...info.dims] : null };
  });
}

/**
 * Static shape inference: runs every node's shape function in order with its input infos
 * and the known constant inputs; sets the infos of all node outputs. Symbolic dims stay -1.
 */
export function inferShapes(graph: Graph): Graph {
  for (const v of graph.values.values()) if (v.const) v.info = infoOfTensor(v.const);
  for (const n of graph.nodes) setOutputInfos(graph, n, inferNode(graph, n));
  return graph;
}

/**
 * Gives graph inputs static (or more static) dims, e.g. { tokens: [1, 8] }, then re-runs shape
 * inference. Each given shape must have the declared rank and agree with the declared
 * non-symbolic dims (SparrowError('invalid_argument') otherwise).
 */
export function setInputShapes(graph: Graph, shapes: Record<string, readonly number[]>): Graph {
  for (const [name, dims] of Object.entries(shapes)) {
    if (!graph.inputs.includes(name)) {
      throw new SparrowError(
        'invalid_argument',
        `cannot set the shape of '${name}': the model's inputs are ${graph.inputs.map((i) => `'${i}'`).join(', ')}`,
      );
    }
    const v = valueOf(graph, name);
    const declared = v.info.dims;
    const bad =
      dims.some((d) => !Number.isSafeInteger(d) || d < -1) ||
      (declared !== null && (declared.length !== dims.length || declared.some((d, i) => d >= 0 && dims[i] !== -1 && dims[i] !== d)));
    if (bad) {
      throw new SparrowError(
        'invalid_argument',
        `shape [${dims.join(',')}] for input '${name}' does not match its declared ${formatInfo(v.info)}`,
      );
    }
    v.info = { dtype: v.info.dtype, dims: dims.map((d, i) => (d === -1 && declared ? declared[i]! : d)) };
  }
  return inferShapes(graph);
}

/** Ops never folded: random generators (their output must differ from run to run). */
const NONDETERMINISTIC = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);

export interface FoldOptions {
  /**
   * A folded output may hold at most max(total elements of the node's inputs, maxNewElements)
   * elements (default 1<<20), so ConstantOfShape/Expand/Tile of constants cannot blow up memory.
   */
  maxNewElements?: number;
  /** op types never folded (ai.onnx domain), e.g. ['DequantizeLinear'] to keep int8 weights */
  skipOps?: readonly string[];
}

/** The int64 tensor Shape would return for static `dims` (start/end attributes from opset 15). */
function shapeTensor(dims: number[], attrs: Attrs): Tensor {
  const r = dims.length;
  const clamp = (x: number) => Math.min(r, Math.max(0, x < 0 ? x + r : x));
  const start = clamp(typeof attrs['start'] === 'number' ? attrs['start'] : 0);
  const end = clamp(typeof attrs['end'] === 'number' ? attrs['end'] : r);
  const sel = dims.slice(start, Math.max(start, end));
  return { dtype: 'int64', dims: [sel.length], data: BigInt64Array.from(sel, (d) => BigInt(d)) };
}

/**
 * Constant folding, in one forward sweep that also re-infers shapes: a node whose inputs are
 * all constants runs its reference kernel now and its outputs become constants; Shape (and
 * Size) of a tensor with static dims becomes a constant even when the tensor is not, and so
 * does CastLike of a constant (it reads only the dtype of its target_type); an If whose
 * condition is constant is replaced by the nodes of the branch it takes (inlined, then folded in
 * turn). A node with subgraphs is folded only when its outputs have static shapes (the size
 * limit must be known). Folded nodes are removed; constants nothing reads any more are left for
 * `eliminateDeadNodes`. Returns the number of nodes folded (an inlined If counts one).
 */
export function foldConstants(graph: Graph, opts: FoldOptions = {}): number {
  const maxNew = opts.maxNewElements ?? 1 << 20;
  const skip = new Set(opts.skipOps ?? []);
  for (const v of graph.values.values()) if (v.const) v.info = infoOfTensor(v.const);
  const kept: Node[] = [];
  let folded = 0;
  let nodeNames: Set<string> | undefined; // built when an If is inlined
  const queue = [...graph.nodes];
  for (let qi = 0; qi < queue.length; qi++) {
    const node = queue[qi]!;
    const std = node.domain === '';
    if (std && node.op === 'If' && !skip.has('If')) {
      const cond = graph.values.get(node.inputs[0] ?? '')?.const;
      const branch = node.attrs[cond?.data[0] ? 'then_branch' : 'else_branch'];
      if (cond && cond.data.length === 1 && isGraphAttr(branch)) {
        nodeNames ??= new Set(graph.nodes.map((n) => n.name));
        queue.splice(qi + 1, 0, ...inlineBranch(graph, node, branch, nodeNames));
        folded++;
        continue;
      }
    }
    const infos = inferNode(graph, node);
    setOutputInfos(graph, node, infos);
    if (std && (node.op === 'Shape' || node.op === 'Size') && node.outputs[0]) {
      const dims = valueOf(graph, node.inputs[0] ?? '').info.dims;
      if (isStatic(dims)) {
        const t: Tensor =
          node.op === 'Shape'
            ? shapeTensor(dims, node.attrs)
            : { dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(elementCount(dims))) };
        const out = valueOf(graph, node.outputs[0]);
        out.const = t;
        out.info = infoOfTensor(t);
        folded++;
        continue;
      }
    }
    const inputs = node.inputs.map((i) => (i ? graph.values.get(i)?.const : undefined));
    if (std && node.op === 'CastLike' && node.inputs[1] && !inputs[1]) {
      // CastLike reads only the dtype of target_type: an empty tensor of that dtype stands in
      const dtype = valueOf(graph, node.inputs[1]).info.dtype;
      inputs[1] = { dtype, dims: [0], data: allocData(dtype, 0) };
    }
    const foldable =
      !(std && (NONDETERMINISTIC.has(node.op) || skip.has(node.op))) &&
      node.inputs.every((i, k) => !i || inputs[k] !== undefined) &&
      (subgraphsOf(node).length === 0 || infos.every((info, j) => !node.outputs[j] || isStatic(info.dims)));
    if (!foldable) {
      kept.push(node);
      continue;
    }
    const inElems = inputs.reduce((a, t) => a + (t ? t.data.length : 0), 0);
    const outElems = infos.reduce((a, info, j) => a + (node.outputs[j] && isStatic(info.dims) ? elementCount(info.dims) : 0), 0);
    if (outElems > Math.max(inElems, maxNew)) {
      kept.push(node);
      continue;
    }
    let outs: Tensor[];
    try {
      outs = node.def.ref(inputs, node.attrs, ctxOf(node));
    } catch (e) {
      if (e instanceof SparrowError) throw e;
      throw new SparrowError(
        'internal',
        `kernel of ${node.op} failed while folding node '${node.name}': ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    node.outputs.forEach((o, j) => {
      if (!o) return;
      const t = outs[j];
      if (!t)
        throw new SparrowError(
          'internal',
          `kernel of ${node.op} returned ${outs.length} output(s) at node '${node.name}', which has output #${j}`,
        );
      const v = valueOf(graph, o);
      v.const = t;
      v.info = infoOfTensor(t);
    });
    folded++;
  }
  graph.nodes = kept;
  return folded;
}

/** Replaces every read of value `from` by `to` (node inputs and graph outputs). */
function replaceUses(graph: Graph, from: string, to: string): void {
  for (const n of graph.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
  graph.outputs = graph.outputs.map((o) => (o === from ? to : o));
}

function isUsed(graph: Graph, name: string): boolean {
  return graph.outputs.includes(name) || graph.nodes.some((n) => n.inputs.includes(name));
}

/**
 * Removes Identity nodes, inference-mode Dropout nodes (mask output unused, training_mode
 * absent or constant false) and Casts to the dtype their input already has, by rewiring their
 * readers to their input. An Identity from a graph input (or a subgraph's outer value) straight
 * to a graph output stays (two names for one tensor). Returns the number removed.
 */
export function removeIdentities(graph: Graph): number {
  let removed = 0;
  for (const node of [...graph.nodes]) {
    if (node.domain !== '' || (node.op !== 'Identity' && node.op !== 'Dropout' && node.op !== 'Cast')) continue;
    const x = node.inputs[0] ?? '';
    const y = node.outputs[0] ?? '';
    if (!x || !y) continue;
    if (node.op === 'Cast' && node.attrs['to'] !== onnxDtypeCode(valueOf(graph, x).info.dtype)) continue;
    if (node.op === 'Dropout') {
      const mask = node.outputs[1];
      if (mask && isUsed(graph, mask)) continue;
      const tm = node.inputs[2] ? graph.values.get(node.inputs[2])?.const : undefined;
      if (node.inputs[2] && (!tm || tm.data[0])) continue; // training mode or unknown
    }
    const xv = valueOf(graph, x);
    const drop = () => {
      graph.nodes = graph.nodes.filter((n) => n !== node);
      for (const o of node.outputs.slice(1)) if (o) graph.values.delete(o);
      removed++;
    };
    if (graph.outputs.includes(y)) {
      if (xv.const) {
        // y stays a (graph output) value, now a constant
        const yv = valueOf(graph, y);
        yv.const = xv.const;
        yv.info = infoOfTensor(xv.const);
        drop();
      } else if (!graph.inputs.includes(x) && !graph.outer?.includes(x) && !graph.outputs.includes(x)) {
        // x is a node output read by nobody outside: the producer writes y directly
        const yv = valueOf(graph, y);
        yv.info = { dtype: xv.info.dtype, dims: xv.info.dims ? [...xv.info.dims] : null };
        drop();
        for (const n of graph.nodes) n.outputs = n.outputs.map((o) => (o === x ? y : o));
        replaceUses(graph, x, y);
        graph.values.delete(x);
      }
      continue;
    }
    drop();
    replaceUses(graph, y, x);
    graph.values.delete(y);
  }
  return removed;
}

/**
 * Folds BatchNormalization (inference) into the Conv or Gemm producing its input when that
 * output has no other reader and the weights, bias and BN parameters are float32 constants:
 * W'[m] = W[m]·s[m], b'[m] = (b[m] − mean[m])·s[m] + β[m] with s = γ / sqrt(var + ε), in
 * float64 then rounded to float32. The weights become new constants (the old ones may be
 * shared). Returns the number of BN nodes folded.
 */
export function foldBatchNorm(graph: Graph): number {
  let folded = 0;
  let users: Map<string, Node[]> | undefined; // value → readers, built when a BatchNormalization needs it (most graphs have none)
  for (const bn of [...graph.nodes]) {
    if (bn.domain !== '' || bn.op !== 'BatchNormalization') continue;
    if (bn.attrs['training_mode'] === 1 || bn.attrs['spatial'] === 0) continue;
    const readers = (users ??= consumers(graph));
    if (bn.outputs.slice(1).some((o) => o && (readers.get(o)?.length || graph.outputs.includes(o)))) continue;
    const x = bn.inputs[0] ?? '';
    const prod = graph.nodes.find((n) => n.outputs[0] === x);
    if (!prod || prod.domain !== '' || (prod.op !== 'Conv' && prod.op !== 'Gemm')) continue;
    if ((readers.get(x)?.length ?? 0) !== 1 || graph.outputs.includes(x)) continue;
    const params = bn.inputs.slice(1, 5).map((i) => (i ? graph.values.get(i)?.const : undefined));
    if (params.length !== 4 || params.some((t) => !t || t.dtype !== 'float32')) continue;
    const [gamma, beta, mean, variance] = params as Tensor[];
    const eps = typeof bn.attrs['epsilon'] === 'number' ? bn.attrs['epsilon'] : 1e-5;
    const C = gamma!.data.length;
    if ([beta, mean, variance].some((t) => t!.data.length !== C)) continue;
    const scale = new Float64Array(C);
    const shift = new Float64Array(C); // β − mean·s
    for (let c = 0; c < C; c++) {
      scale[c] = Number(gamma!.data[c]) / Math.sqrt(Number(variance!.data[c]) + eps);
      shift[c] = Number(beta!.data[c]) - Number(mean!.data[c]) * scale[c]!;
    }
    const ok = prod.op === 'Conv' ? foldIntoConv(graph, prod, scale, shift) : foldIntoGemm(graph, prod, scale, shift);
    if (!ok) continue;
    // the producer now writes the BN output
    const y = bn.outputs[0]!;
    prod.outputs[0] = y;
    graph.values.delete(x);
    for (const o of bn.outputs.slice(1)) if (o) graph.values.delete(o);
    graph.nodes = graph.nodes.filter((n) => n !== bn);
    users = undefined; // the graph changed: rebuilt at the next BatchNormalization
    folded++;
  }
  return folded;
}

function addConst(graph: Graph, base: string, t: Tensor): string {
  const name = freshName(graph, base);
  graph.values.set(name, { name, info: infoOfTensor(t), const: t });
  return name;
}

function foldIntoConv(graph: Graph, conv: Node, scale: Float64Array, shift: Float64Array): boolean {
  const w = graph.values.get(conv.inputs[1] ?? '')?.const;
  const bName = conv.inputs[2] ?? '';
  const b = bName ? graph.values.get(bName)?.const : undefined;
  const M = scale.length;
  if (!w || w.dtype !== 'float32' || w.dims.length < 3 || w.dims[0] !== M) return false;
  if (bName && (!b || b.dtype !== 'float32' || b.data.length !== M)) return false;
  const wd = w.data as Float32Array;
  const per = wd.length / M;
  const nw = new Float32Array(wd.length);
  for (let m = 0; m < M; m++) {
    const s = scale[m]!;
    for (let k = m * per; k < (m + 1) * per; k++) nw[k] = wd[k]! * s;
  }
  const nb = new Float32Array(M);
  for (let m = 0; m < M; m++) nb[m] = (b ? (b.data as Float32Array)[m]! : 0) * scale[m]! + shift[m]!;
  conv.inputs[1] = addConst(graph, `${conv.inputs[1]}_bnfold`, { dtype: 'float32', dims: [...w.dims], data: nw });
  const nbName = addConst(graph, `${bName || `${conv.name}_bias`}_bnfold`, { dtype: 'float32', dims: [M], data: nb });
  if (conv.inputs.length < 3) conv.inputs.push(nbName);
  else conv.inputs[2] = nbName;
  return true;
}

function foldIntoGemm(graph: Graph, gemm: Node, scale: Float64Array, shift: Float64Array): boolean {
  const N = scale.length;
  const bw = graph.values.get(gemm.inputs[1] ?? '')?.const;
  const cName = gemm.inputs[2] ?? '';
  const c = cName ? graph.values.get(cName)?.const : undefined;
  const transB = gemm.attrs['transB'] === 1;
  if (!bw || bw.dtype !== 'float32' || bw.dims.length !== 2 || bw.dims[transB ? 0 : 1] !== N) return false;
  // C must broadcast along N only: scalar, [1], [N] or [1, N]
  if (cName && (!c || c.dtype !== 'float32' || !(c.data.length === 1 || (c.data.length === N && c.dims[c.dims.length - 1] === N))))
    return false;
  const beta = typeof gemm.attrs['beta'] === 'number' ? gemm.attrs['beta'] : 1;
  const wd = bw.data as Float32Array;
  const K = bw.dims[transB ? 1 : 0]!;
  const nw = new Float32Array(wd.length);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      const i = transB ? n * K + k : k * N + n;
      nw[i] = wd[i]! * scale[n]!;
    }
  }
  const nc = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    const cv = c ? (c.data as Float32Array)[c.data.length === 1 ? 0 : n]! : 0;
    nc[n] = beta * cv * scale[n]! + shift[n]!;
  }
  gemm.inputs[1] = addConst(graph, `${gemm.inputs[1]}_bnfold`, { dtype: 'float32', dims: [...bw.dims], data: nw });
  const ncName = addConst(graph, `${cName || `${gemm.name}_bias`}_bnfold`, { dtype: 'float32', dims: [N], data: nc });
  if (gemm.inputs.length < 3) gemm.inputs.push(ncName);
  else gemm.inputs[2] = ncName;
  gemm.attrs = { ...gemm.attrs, beta: 1 };
  return true;
}

export interface OptimizeOptions extends FoldOptions {
  /** static shapes for graph inputs (e.g. { tokens: [1, 8] }) before folding */
  inputShapes?: Record<string, readonly number[]>;
  /** individual passes can be switched off (all default true) */
  removeIdentities?: boolean;
  foldConstants?: boolean;
  foldBatchNorm?: boolean;
}

export interface OptimizeReport {
  nodesBefore: number;
  nodesAfter: number;
  opsBefore: Record<string, number>;
  opsAfter: Record<string, number>;
  identitiesRemoved: number;
  constantsFolded: number;
  batchNormsFolded: number;
  deadNodesRemoved: number;
}

/**
 * The passes inside the subgraphs of the graph's nodes (recursively): Identity removal, constant
 * folding (with If inlining), dead-node elimination; then each node drops the outer values its
 * subgraphs no longer read (and the matching implicit inputs). A subgraph's inputs, outputs and
 * the shapes inferred for it by its node's shape function stay as they are.
 */
export function optimizeSubgraphs(graph: Graph, opts: Omit<OptimizeOptions, 'inputShapes'> = {}): void {
  for (const node of graph.nodes) {
    const subs = subgraphsOf(node);
    if (subs.length === 0) continue;
    for (const [, g] of subs) {
      if (opts.removeIdentities !== false) removeIdentities(g);
      if (opts.foldConstants !== false) foldConstants(g, opts);
      eliminateDeadNodes(g);
      optimizeSubgraphs(g, opts);
    }
    pruneOuterValues(node);
  }
}

/**
 * The standard pipeline, in place: input shapes → Identity/Dropout removal → constant folding
 * (with shape re-inference; an If with a constant condition inlined) → BatchNormalization
 * folding → dead-node elimination → the same inside subgraphs (optimizeSubgraphs).
 */
export function optimize(graph: Graph, opts: OptimizeOptions = {}): OptimizeReport {
  const nodesBefore = graph.nodes.length;
  const opsBefore = opCounts(graph);
  if (opts.inputShapes) setInputShapes(graph, opts.inputShapes);
  const identitiesRemoved = opts.removeIdentities === false ? 0 : removeIdentities(graph);
  const constantsFolded = opts.foldConstants === false ? 0 : foldConstants(graph, opts);
  const batchNormsFolded = opts.foldBatchNorm === false ? 0 : foldBatchNorm(graph);
  const deadNodesRemoved = eliminateDeadNodes(graph);
  optimizeSubgraphs(graph, opts);
  return {
    nodesBefore,
    nodesAfter: graph.nodes.length,
    opsBefore,
    opsAfter: opCounts(graph),
    identitiesRemoved,
    constantsFolded,
    batchNormsFolded,
    deadNodesRemoved,
  };
}
