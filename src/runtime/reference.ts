// The reference executor: checks the feeds against the graph inputs, runs the nodes in order
// with their reference kernels (src/ops/ref), frees each intermediate after its last reader,
// returns the graph outputs. Plain TS, no WASM: the yardstick the fast engines are tested against.
import { SparrowError } from '../errors.js';
import { ARRAY_OF, elementCount, type Tensor, type TensorData, type ValueInfo } from '../ops/types.js';
import { formatInfo, type Graph, type Node } from '../ir/graph.js';

function copyTensor(t: Tensor): Tensor {
  return { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() as TensorData };
}

/** Throws SparrowError('invalid_argument') unless `t` is a well-formed tensor matching `info` (-1 matches any dim). */
export function checkFeed(name: string, t: Tensor | undefined, info: ValueInfo): void {
  const expected = formatInfo(info);
  if (!t || typeof t !== 'object' || !Array.isArray(t.dims) || !t.data) {
    throw new SparrowError('invalid_argument', `input '${name}' is not a tensor { dtype, dims, data } (expected ${expected})`);
  }
  if (t.dtype !== info.dtype) {
    throw new SparrowError('invalid_argument', `input '${name}' has dtype ${t.dtype}, expected ${expected}`);
  }
  if (!(t.data instanceof ARRAY_OF[t.dtype])) {
    throw new SparrowError(
      'invalid_argument',
      `input '${name}' is ${t.dtype} but its data is a ${t.data.constructor?.name ?? typeof t.data}, expected a ${ARRAY_OF[t.dtype].name}`,
    );
  }
  if (t.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new SparrowError('invalid_argument', `input '${name}' has invalid dims [${t.dims.join(',')}]`);
  }
  const dims = info.dims;
  if (dims && (dims.length !== t.dims.length || dims.some((d, i) => d >= 0 && d !== t.dims[i]))) {
    throw new SparrowError('invalid_argument', `input '${name}' has dims [${t.dims.join(',')}], expected ${expected}`);
  }
  const n = elementCount(t.dims);
  if (t.data.length !== n) {
    throw new SparrowError(
      'invalid_argument',
      `input '${name}' has dims [${t.dims.join(',')}] (${n} elements) but ${t.data.length} data elements`,
    );
  }
}

export interface ReferenceOptions {
  /**
   * Check each kernel result against the statically inferred dtype and known dims
   * (default true): a mismatch is a bug in a kernel or shape function → SparrowError('internal').
   */
  checkShapes?: boolean;
  /** called before each node runs, with its input tensors (undefined = omitted input) */
  beforeNode?: (node: Node, inputs: ReadonlyArray<Tensor | undefined>, index: number) => void;
  /** a replacement kernel for a node (e.g. WASM during calibration); it may return null to use the reference */
  kernel?: (node: Node) => ((inputs: ReadonlyArray<Tensor | undefined>) => Tensor[] | null) | undefined;
}

/**
 * Calls a node's kernel (the reference executor, and the fallback steps of the WASM engines): an
 * exception that is not a SparrowError becomes SparrowError('internal') naming the op and node.
 */
export function guardKernel(node: { op: string; name: string }, call: () => Tensor[]): Tensor[] {
  try {
    return call();
  } catch (e) {
    if (e instanceof SparrowError) throw e;
    throw new SparrowError('internal', `kernel of ${node.op} failed at node '${node.name}': ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Throws SparrowError('invalid_argument') unless `feeds` holds exactly the graph's inputs, each
 * a tensor of the input's dtype and dims (checkFeed). Every executor checks its feeds with it.
 */
export function checkFeeds(g: Graph, feeds: Record<string, Tensor>): void {
  if (typeof feeds !== 'object' || feeds === null)
    throw new SparrowError('invalid_argument', 'feeds must be an object { inputName: tensor }');
  const expected = g.inputs.map((i) => `'${i}'`).join(', ') || '(none)';
  for (const name of Object.keys(feeds)) {
    if (!g.inputs.includes(name)) throw new SparrowError('invalid_argument', `unknown input '${name}': the model's inputs are ${expected}`);
  }
  for (const name of g.inputs) {
    const info = g.values.get(name)!.info;
    if (!Object.prototype.hasOwnProperty.call(feeds, name)) {
      throw new SparrowError('invalid_argument', `missing input '${name}' (${formatInfo(info)}): the model's inputs are ${expected}`);
    }
    checkFeed(name, feeds[name], info);
  }
}

/**
 * Runs the graph on `feeds` (one tensor per graph input, by name) and returns its outputs by
 * name. Feeds are not modified; returned tensors are never shared with the graph or the feeds.
 */
export function runReference(graph: Graph, feeds: Record<string, Tensor>, opts: ReferenceOptions = {}): Record<string, Tensor> {
  checkFeeds(graph, feeds);
  const env = new Map<string, Tensor>();
  for (const name of graph.inputs) env.set(name, feeds[name]!);

  // last reader of each non-constant value; graph outputs are never freed
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((n, k) => {
    for (const i of n.inputs) if (i) lastUse.set(i, k);
  });
  const keep = new Set(graph.outputs);
  const check = opts.checkShapes !== false;

  const read = (name: string): Tensor => {
    const t = env.get(name) ?? graph.values.get(name)?.const;
    if (!t) throw new SparrowError('internal', `value '${name}' is read before it is computed`);
    return t;
  };

  graph.nodes.forEach((node, k) => {
    const inputs = node.inputs.map((i) => (i ? read(i) : undefined));
    opts.beforeNode?.(node, inputs, k);
    const outs = guardKernel(
      node,
      () => opts.kernel?.(node)?.(inputs) ?? node.def.ref(inputs, node.attrs, { opset: node.opset, node: node.name }),
    );
    node.outputs.forEach((o, j) => {
      if (!o) return;
      const t = outs[j];
      if (!t)
        throw new SparrowError(
          'internal',
          `kernel of ${node.op} returned ${outs.length} output(s) at node '${node.name}', which has output #${j}`,
        );
      if (check) {
        const info = graph.values.get(o)?.info;
        if (
          info &&
          (t.dtype !== info.dtype ||
            (info.dims && (info.dims.length !== t.dims.length || info.dims.some((d, i) => d >= 0 && d !== t.dims[i]))))
        ) {
          throw new SparrowError(
            'internal',
            `node '${node.name}' (${node.op}) computed ${t.dtype} [${t.dims.join(',')}] for '${o}', shape inference said ${formatInfo(info)}`,
          );
        }
      }
      env.set(o, t);
    });
    for (const i of node.inputs) if (i && lastUse.get(i) === k && !keep.has(i) && !graph.inputs.includes(i)) env.delete(i);
  });

  // Constants and feeds belong to the graph / the caller, and a kernel may return a view of
  // its input (Reshape, Identity): hand out copies of anything sharing their buffers.
  const foreign = new Set<ArrayBufferLike>();
  for (const name of graph.inputs) foreign.add(env.get(name)!.data.buffer);
  for (const v of graph.values.values()) if (v.const) foreign.add(v.const.data.buffer);
  const result: Record<string, Tensor> = {};
  for (const o of graph.outputs) {
    const t = read(o);
    result[o] = foreign.has(t.data.buffer) ? copyTensor(t) : t;
  }
  return result;
}
