// ONNX ModelProto bytes → the graph IR (src/ir/graph.ts). Initializers and Constant nodes
// become constant values, graph inputs that are also initializers (IR v3/v4 exporters) are
// constants, every other node is resolved through the op registry (so an unsupported op
// fails here with its type, opset and node name), the nodes are sorted topologically and
// static shapes are inferred (symbolic dims stay -1). Plain TS (browser / Worker safe).
import { SparrowError } from '../errors.js';
import { hasOp, resolveOp, supportedOpsets } from '../ops/registry.js';
import type { AttrValue, Attrs, Tensor } from '../ops/types.js';
import { topoSort, type Graph, type Node, type Value } from '../ir/graph.js';
import { inferShapes } from '../ir/passes.js';
import { attrsFromOnnx, dtypeFromCode, isGraphAttribute, tensorFromOnnx, valueInfoFromOnnx } from './attributes.js';
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
 * Decodes an ONNX model into a Graph. Throws SparrowError('invalid_model') for malformed or
 * inconsistent models, SparrowError('unsupported_op') for ops/opsets the registry lacks
 * (naming op, opset and node), subgraph attributes (If/Loop/Scan) and unsupported dtypes.
 */
export function importOnnx(bytes: Uint8Array, opts: ImportOptions = {}): Graph {
  return importModel(decodeModel(bytes), opts);
}

/** importOnnx for an already decoded ModelProto. */
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

  const values = new Map<string, Value>();
  const addConst = (name: string, t: Tensor, what: string): void => {
    if (!name) throw new SparrowError('invalid_model', `${what} has no name`);
    if (values.has(name)) throw new SparrowError('invalid_model', `${what} '${name}' is defined twice`);
    values.set(name, { name, info: { dtype: t.dtype, dims: [...t.dims] }, const: t });
  };

  for (const t of g.initializer ?? []) addConst(t.name ?? '', tensorFromOnnx(t, `initializer '${t.name ?? ''}'`), 'initializer');
  if ((g.sparseInitializer?.length ?? 0) > 0) {
    throw new SparrowError(
      'unsupported_op',
      `the model has ${g.sparseInitializer!.length} sparse initializer(s), which Sparrow does not read`,
    );
  }

  const inputs: string[] = [];
  for (const vi of g.input ?? []) {
    const name = vi.name ?? '';
    if (!name) throw new SparrowError('invalid_model', 'a graph input has no name');
    const existing = values.get(name);
    if (existing?.const) continue; // an initializer listed as input (IR v3/v4): a constant
    if (existing) throw new SparrowError('invalid_model', `graph input '${name}' is listed twice`);
    values.set(name, { name, info: valueInfoFromOnnx(vi, 'graph input') });
    inputs.push(name);
  }

  const nodes: Node[] = [];
  const nodeNames = new Set<string>();
  const missing = new UnsupportedOps();
  (g.node ?? []).forEach((np, index) => {
    const op = np.opType ?? '';
    if (!op) throw new SparrowError('invalid_model', `node #${index} ('${np.name ?? ''}') has no op_type`);
    let name = np.name || `${op}#${index}`;
    if (nodeNames.has(name)) name = `${name}#${index}`;
    nodeNames.add(name);
    const domain = normDomain(np.domain);
    const opset = opsets[domain];
    if (opset === undefined) {
      throw new SparrowError(
        'invalid_model',
        `node '${name}' (${op}) uses domain '${domain || 'ai.onnx'}', which the model's opset_import does not list`,
      );
    }
    for (const a of np.attribute ?? []) {
      if (isGraphAttribute(a)) {
        throw new SparrowError(
          'unsupported_op',
          `unsupported op ${domain ? `${domain}.` : ''}${op} at opset ${opset}, node "${name}": its attribute '${a.name ?? ''}' is a subgraph, and nested graphs (If/Loop/Scan control flow) are not supported`,
          { op, domain, opset, node: name, attribute: a.name ?? '' },
        );
      }
    }
    const attrs: Attrs = attrsFromOnnx(np, name);
    const outputs = [...(np.output ?? [])];
    if (op === 'Split' && domain === '' && !('split' in attrs) && !('num_outputs' in attrs)) {
      // before opset 18 an equal Split makes as many parts as the node has outputs, which a
      // kernel cannot see: say it with the opset-18 attribute (src/ops/ref's convention)
      (attrs as Record<string, AttrValue>)['num_outputs'] = outputs.length;
    }
    if (op === 'Constant' && domain === '') {
      if (outputs.length !== 1 || !outputs[0])
        throw new SparrowError('invalid_model', `Constant node '${name}' must have exactly one output`);
      addConst(outputs[0], constantTensor(attrs, name), `Constant node '${name}' output`);
      return;
    }
    if (!hasOp(op, domain, opset)) {
      missing.add(op, domain, opset, name);
      return;
    }
    const def = resolveOp(op, domain, opset, name);
    for (const o of outputs) {
      if (!o) continue;
      if (values.has(o)) throw new SparrowError('invalid_model', `value '${o}' (an output of node '${name}') is defined twice`);
      values.set(o, { name: o, info: { dtype: 'float32', dims: null } });
    }
    nodes.push({ name, op, domain, opset, inputs: [...(np.input ?? [])], outputs, attrs, def });
  });

  missing.throwIfAny();

  const outputs: string[] = [];
  for (const vi of g.output ?? []) {
    const name = vi.name ?? '';
    if (!values.has(name))
      throw new SparrowError('invalid_model', `graph output '${name}' is not produced by any node, input or initializer`);
    outputs.push(name);
  }
  if (outputs.length === 0) throw new SparrowError('invalid_model', 'the graph has no outputs');

  const graph: Graph = { name: g.name ?? '', opsets, inputs, outputs, nodes, values };
  topoSort(graph);
  if (opts.inferShapes !== false) {
    inferShapes(graph);
    // The exporter's declared output dtypes must agree with what the ops compute.
    for (const vi of g.output ?? []) {
      const code = vi.type?.tensorType?.elemType;
      if (!code) continue;
      const declared = dtypeFromCode(code, `graph output '${vi.name ?? ''}'`);
      const got = values.get(vi.name ?? '')!.info.dtype;
      if (declared !== got) {
        throw new SparrowError('invalid_model', `graph output '${vi.name ?? ''}' is declared ${declared} but its producer computes ${got}`);
      }
    }
  }
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
