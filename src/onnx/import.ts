// ONNX ModelProto bytes → the graph IR (src/ir/graph.ts). Initializers and Constant nodes
// become constant values, graph inputs that are also initializers (IR v3/v4 exporters) are
// constants, every other node is resolved through the op registry (so an unsupported op
// fails here with its type, opset and node name), the nodes are sorted topologically and
// static shapes are inferred (symbolic dims stay -1). Plain TS (browser / Worker safe).
import { SparrowError } from '../errors.js';
import { hasOp, resolveOp, supportedOpsets } from '../ops/registry.js';
import { graphAttrs, implicitInputCount, type AttrValue, type Attrs, type Tensor, type TensorDType } from '../ops/types.js';
import { topoSort, type Graph, type Node, type Value } from '../ir/graph.js';
import { inferShapes } from '../ir/passes.js';
import { lowerFloatEdges, roundCastLikes } from '../ir/float_edges.js';
import { attrsFromOnnx, dtypeFromCode, tensorFromOnnx, valueInfoFromOnnx } from './attributes.js';
import { decodeModel, int64ToNumber, type onnx } from './proto.js';

const normDomain = (d: string | null | undefined): string => (!d || d === 'ai.onnx' ? '' : d);

export interface ImportOptions {
  /**
   * Run static shape inference after import (default true). Without it, node outputs carry a
   * placeholder info (float32, unknown rank) until `inferShapes` runs.
   */
  inferShapes?: boolean;
}

/**
 * Decodes an ONNX model into a Graph (subgraphs of If/Loop/Scan included, see buildGraph).
 * Throws SparrowError('invalid_model') for malformed or inconsistent models (a subgraph reading a
 * name no scope defines, cycles through subgraphs), SparrowError('unsupported_op') for
 * ops/opsets the registry lacks (naming op, opset and node), non-tensor values (sequences,
 * optionals) and unsupported dtypes.
 */
export function importOnnx(bytes: Uint8Array, opts: ImportOptions = {}): Graph {
  return importModel(decodeModel(bytes), opts);
}

/** importOnnx for an already decoded ModelProto. @internal (onnx-proto types stay out of the published .d.ts) */
export function importModel(model: onnx.IModelProto, opts: ImportOptions = {}): Graph {
  const g = model.graph;
  if (!g) throw new SparrowError('invalid_model', 'ONNX model has no graph');

  const opsets: Record<string, number> = {};
  for (const o of model.opsetImport ?? []) {
    const domain = normDomain(o.domain);
    const v = int64ToNumber(o.version ?? 0, `opset version of domain '${domain || 'ai.onnx'}'`);
    if (v < 1) throw new SparrowError('invalid_model', `opset_import gives domain '${domain || 'ai.onnx'}' version ${v}`);
    opsets[domain] = Math.max(opsets[domain] ?? 0, v);
  }

  const missing = new UnsupportedOps();
  const graph = buildGraph(g, opsets, null, missing);
  if (graph.outputs.length === 0) throw new SparrowError('invalid_model', 'the graph has no outputs');
  // float64/float16/bfloat16 → float32 inside the graph, Casts at the edges (src/ir/float_edges.ts)
  const declared = new Map<string, TensorDType>();
  for (const vi of g.output ?? []) {
    const code = vi.type?.tensorType?.elemType;
    if (code) declared.set(vi.name ?? '', dtypeFromCode(code, `graph output '${vi.name ?? ''}'`));
  }
  const edges = lowerFloatEdges(graph, declared);
  const castLikes = edges.origin.size > 0 && graph.nodes.some((n) => n.op === 'CastLike');
  if (opts.inferShapes !== false || castLikes) {
    inferShapes(graph);
    if (castLikes) roundCastLikes(graph, edges);
    // The exporter's declared output dtypes must agree with what the ops compute.
    for (const vi of g.output ?? []) {
      const code = vi.type?.tensorType?.elemType;
      if (!code) continue;
      const declared = dtypeFromCode(code, `graph output '${vi.name ?? ''}'`);
      const got = graph.values.get(vi.name ?? '')!.info.dtype;
      if (declared !== got) {
        throw new SparrowError('invalid_model', `graph output '${vi.name ?? ''}' is declared ${declared} but its producer computes ${got}`);
      }
    }
  }
  return graph;
}

/** Where a subgraph sits, for messages: `node 'loop' (Loop) attribute 'body'` chains. */
interface SubgraphSite {
  path: string;
  /** 1 for a subgraph of the model's graph, 2 for one inside it... */
  depth: number;
}

/** How deep subgraphs may nest (If inside Loop inside ...): a bound against hostile models. */
export const MAX_SUBGRAPH_DEPTH = 32;

/**
 * A GraphProto as a Graph: the model's graph (`site` null) or a subgraph of a node attribute.
 * Subgraphs follow ONNX's lexical scoping: a name a subgraph reads that none of its inputs,
 * initializers or nodes defines is a value of an enclosing scope; it becomes one of the
 * subgraph's `outer` values, and the node holding the subgraph reads it as an implicit input
 * (after its ONNX inputs), resolved in turn in the node's graph. Formal inputs of a subgraph may
 * lack a type (shape inference gives them the types the node passes in).
 */
function buildGraph(g: onnx.IGraphProto, opsets: Record<string, number>, site: SubgraphSite | null, missing: UnsupportedOps): Graph {
  const sub = site !== null;
  const inWhere = sub ? ` in subgraph ${site.path}` : '';
  if (site && site.depth > MAX_SUBGRAPH_DEPTH) {
    throw new SparrowError('invalid_model', `subgraphs nest deeper than ${MAX_SUBGRAPH_DEPTH} levels (at ${site.path})`);
  }
  const values = new Map<string, Value>();
  const addConst = (name: string, t: Tensor, what: string): void => {
    if (!name) throw new SparrowError('invalid_model', `${what}${inWhere} has no name`);
    if (values.has(name)) throw new SparrowError('invalid_model', `${what} '${name}'${inWhere} is defined twice`);
    values.set(name, { name, info: { dtype: t.dtype, dims: [...t.dims] }, const: t });
  };

  for (const t of g.initializer ?? []) addConst(t.name ?? '', tensorFromOnnx(t, `initializer '${t.name ?? ''}'`), 'initializer');
  if ((g.sparseInitializer?.length ?? 0) > 0) {
    throw new SparrowError(
      'unsupported_op',
      `the model has ${g.sparseInitializer!.length} sparse initializer(s)${inWhere}, which Sparrow does not read`,
    );
  }

  const inputs: string[] = [];
  for (const vi of g.input ?? []) {
    const name = vi.name ?? '';
    if (!name) throw new SparrowError('invalid_model', `a graph input${inWhere} has no name`);
    const existing = values.get(name);
    if (existing?.const) continue; // an initializer listed as input (IR v3/v4): a constant
    if (existing) throw new SparrowError('invalid_model', `graph input '${name}'${inWhere} is listed twice`);
    // a subgraph input without a type takes the one the node gives it (shape inference)
    const info = sub && !vi.type ? { dtype: 'float32' as const, dims: null } : valueInfoFromOnnx(vi, `graph input${inWhere}`);
    values.set(name, { name, info });
    inputs.push(name);
  }

  const nodes: Node[] = [];
  const nodeNames = new Set<string>();
  (g.node ?? []).forEach((np, index) => {
    const op = np.opType ?? '';
    if (!op) throw new SparrowError('invalid_model', `node #${index} ('${np.name ?? ''}')${inWhere} has no op_type`);
    let name = np.name || `${op}#${index}`;
    if (nodeNames.has(name)) name = `${name}#${index}`;
    nodeNames.add(name);
    const domain = normDomain(np.domain);
    const opset = opsets[domain];
    if (opset === undefined) {
      throw new SparrowError(
        'invalid_model',
        `node '${name}' (${op})${inWhere} uses domain '${domain || 'ai.onnx'}', which the model's opset_import does not list`,
      );
    }
    const path = `${site ? `${site.path} → ` : ''}node '${name}' (${op})`;
    const attrs: Attrs = attrsFromOnnx(np, name, (sg, attr) =>
      buildGraph(sg, opsets, { path: `${path} attribute '${attr}'`, depth: (site?.depth ?? 0) + 1 }, missing),
    );
    const outputs = [...(np.output ?? [])];
    if (op === 'Split' && domain === '' && !('split' in attrs) && !('num_outputs' in attrs)) {
      // before opset 18 an equal Split makes as many parts as the node has outputs, which a
      // kernel cannot see: say it with the opset-18 attribute (src/ops/ref's convention)
      (attrs as Record<string, AttrValue>)['num_outputs'] = outputs.length;
    }
    if (op === 'Constant' && domain === '') {
      if (outputs.length !== 1 || !outputs[0])
        throw new SparrowError('invalid_model', `Constant node '${name}'${inWhere} must have exactly one output`);
      addConst(outputs[0], constantTensor(attrs, name), `Constant node '${name}' output`);
      return;
    }
    for (const o of outputs) {
      if (!o) continue;
      if (values.has(o)) throw new SparrowError('invalid_model', `value '${o}' (an output of node '${name}')${inWhere} is defined twice`);
      values.set(o, { name: o, info: { dtype: 'float32', dims: null } });
    }
    if (!hasOp(op, domain, opset)) {
      missing.add(op, domain, opset, name); // reported with the others once the whole model is read
      return;
    }
    const def = resolveOp(op, domain, opset, name);
    // the outer values of its subgraphs follow the node's ONNX inputs (implicit inputs)
    const implicit = graphAttrs(attrs).flatMap(([, sg]) => sg.outer ?? []);
    nodes.push({ name, op, domain, opset, inputs: [...(np.input ?? []), ...implicit], outputs, attrs, def });
  });

  const outputs: string[] = [];
  for (const vi of g.output ?? []) {
    const name = vi.name ?? '';
    if (!name) throw new SparrowError('invalid_model', `a graph output${inWhere} has no name`);
    if (!sub && !values.has(name))
      throw new SparrowError('invalid_model', `graph output '${name}' is not produced by any node, input or initializer`);
    outputs.push(name);
  }

  const graph: Graph = { name: g.name ?? '', opsets: { ...opsets }, inputs, outputs, nodes, values };
  // every op the model uses that the registry lacks, in one error (nodes are missing from here on)
  if (!sub) missing.throwIfAny();
  else if (missing.list.length > 0) return graph;
  if (sub) {
    // every name read here that this graph does not define comes from an enclosing scope
    const outer: string[] = [];
    const capture = (name: string): void => {
      if (!name || values.has(name)) return;
      values.set(name, { name, info: { dtype: 'float32', dims: null } });
      outer.push(name);
    };
    for (const n of nodes) n.inputs.forEach(capture);
    outputs.forEach(capture);
    graph.outer = outer;
  } else {
    for (const n of nodes) {
      const k = n.inputs.length - implicitInputCount(n.attrs);
      for (const name of n.inputs.slice(k)) {
        if (!values.has(name)) {
          throw new SparrowError(
            'invalid_model',
            `a subgraph of node '${n.name}' (${n.op}) reads '${name}', which neither the subgraph nor any enclosing graph defines`,
            { node: n.name, op: n.op, value: name },
          );
        }
      }
    }
  }
  topoSort(graph);
  return graph;
}

/** The tensor of a Constant node from its (already converted) attributes. */
function constantTensor(attrs: Readonly<Record<string, unknown>>, node: string): Tensor {
  const keys = Object.keys(attrs);
  if (keys.length !== 1) {
    throw new SparrowError(
      'invalid_model',
      `Constant node '${node}' must have exactly one attribute, has ${keys.length} (${keys.join(', ')})`,
    );
  }
  const k = keys[0]!;
  const v = attrs[k];
  const num = (x: unknown): number => {
    if (typeof x !== 'number') throw new SparrowError('invalid_model', `Constant node '${node}': attribute '${k}' has the wrong type`);
    return x;
  };
  const nums = (x: unknown): number[] => {
    if (!Array.isArray(x) || x.some((e) => typeof e !== 'number')) {
      throw new SparrowError('invalid_model', `Constant node '${node}': attribute '${k}' has the wrong type`);
    }
    return x as number[];
  };
  switch (k) {
    case 'value':
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        throw new SparrowError('invalid_model', `Constant node '${node}': 'value' is not a tensor`);
      }
      return v as Tensor;
    case 'value_float':
      return { dtype: 'float32', dims: [], data: Float32Array.of(num(v)) };
    case 'value_floats': {
      const a = nums(v);
      return { dtype: 'float32', dims: [a.length], data: Float32Array.from(a) };
    }
    case 'value_int':
      return { dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(num(v))) };
    case 'value_ints': {
      const a = nums(v);
      return { dtype: 'int64', dims: [a.length], data: BigInt64Array.from(a, (x) => BigInt(x)) };
    }
    default:
      throw new SparrowError(
        'unsupported_op',
        `Constant node '${node}' uses attribute '${k}' (string or sparse constants), which Sparrow does not support`,
        { op: 'Constant', node },
      );
  }
}

/** One op the registry lacks, as the importer reports it. */
export interface UnsupportedOp {
  op: string;
  domain: string;
  opset: number;
  /** nodes using it, and the first of them */
  count: number;
  node: string;
}

/**
 * The ops of a model the registry lacks, gathered over all nodes so that one error names them
 * all (op, opset, how many nodes, the first node) instead of only the first one met.
 */
export class UnsupportedOps {
  readonly list: UnsupportedOp[] = [];

  add(op: string, domain: string, opset: number, node: string): void {
    const e = this.list.find((x) => x.op === op && x.domain === domain && x.opset === opset);
    if (e) e.count++;
    else this.list.push({ op, domain, opset, count: 1, node });
  }

  throwIfAny(): void {
    if (this.list.length === 0) return;
    const one = (u: UnsupportedOp): string => {
      const have = supportedOpsets(u.op, u.domain);
      return (
        `${u.domain ? `${u.domain}.` : ''}${u.op} at opset ${u.opset} (${u.count} node${u.count > 1 ? 's' : ''}, first "${u.node}")` +
        (have.length ? ` [supported opsets: ${have.join(', ')}]` : '')
      );
    };
    const first = this.list[0]!;
    const msg =
      this.list.length === 1 ? `unsupported op ${one(first)}` : `${this.list.length} unsupported ops: ${this.list.map(one).join('; ')}`;
    throw new SparrowError('unsupported_op', msg, {
      op: first.op,
      domain: first.domain,
      opset: first.opset,
      node: first.node,
      unsupported: this.list,
    });
  }
}
