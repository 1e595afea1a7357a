// Short value names for small files. A `.sparrow` file spells every value name in its metadata:
// node outputs in the graph JSON, section tensors (and their `<name>.scale`) in the tensor table,
// the static activation ranges by value. Exporters' names are long ("/layer1/layer1.0/conv1/
// Conv_output_0", "onnx::Conv_257"): on ResNet-20 they are about a third of a 15 KB metadata
// block, in a 68 KB file. compactValueNames renames every value except the graph's inputs and
// outputs (which callers feed and read by name) to a short base-36 name; node names (not
// stored) and the computation are unchanged. shortFloat32 prints a float32 with the fewest
// digits that read back as the same float32.
import { cloneGraph, type Graph } from '../ir/graph.js';
import { isGraphAttr } from '../ops/types.js';
import { SparrowError } from '../errors.js';

/**
 * A copy of `graph` whose values other than the graph inputs and outputs are named "0", "1", …
 * "a", … "10", … (base 36, in graph order: constants, then node outputs; a name equal to an
 * input or output is skipped). Returns the copy and the map old name → new name. Graphs with
 * subgraph attributes (If/Loop/Scan, which read outer values by name) are refused with
 * SparrowError('invalid_argument'): callers keep their names.
 */
export function compactValueNames(graph: Graph): { graph: Graph; renamed: Map<string, string> } {
  if (graph.nodes.some((n) => Object.values(n.attrs).some(isGraphAttr)))
    throw new SparrowError('invalid_argument', 'compactValueNames: the graph has subgraphs');
  const keep = new Set([...graph.inputs, ...graph.outputs]);
  const renamed = new Map<string, string>();
  let counter = 0;
  const next = (): string => {
    for (;;) {
      const s = (counter++).toString(36);
      if (!keep.has(s)) return s;
    }
  };
  for (const [name] of graph.values) if (!keep.has(name)) renamed.set(name, next());
  const g = cloneGraph(graph);
  const ren = (s: string): string => (s ? (renamed.get(s) ?? s) : s);
  const values = new Map<string, typeof g.values extends Map<string, infer V> ? V : never>();
  for (const [name, v] of g.values) {
    const n = ren(name);
    values.set(n, { ...v, name: n });
  }
  g.values = values;
  for (const n of g.nodes) {
    n.inputs = n.inputs.map(ren);
    n.outputs = n.outputs.map(ren);
  }
  return { graph: g, renamed };
}

/** The shortest decimal (1–9 significant digits) that reads back as the float32 nearest to x; x itself when not finite. */
export function shortFloat32(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.fround(x);
  if (f === 0) return f; // ±0 kept
  for (let p = 1; p <= 9; p++) {
    const v = Number(f.toPrecision(p));
    if (Math.fround(v) === f) return v;
  }
  return f;
}
