// Answers instead of files (issue 16, part 4): what `sparrow run` prints for a classifier (top-k
// with the class names a `.sparrow` file stores), `run --image` (a photo → the model's input),
// `compress --labels`, and what `inspect` adds (inputs, outputs, preprocessing, labels,
// activation ranges). main.ts registers these with a few lines.
import { readFile } from 'node:fs/promises';
import { SparrowError } from '../errors.js';
import type { Tensor, ValueInfo } from '../ops/types.js';
import { MAGIC, readContainer } from '../format/container.js';
import { labelsOf, parseLabelsFile } from '../format/labels.js';
import { imagePixels } from '../io/image.js';
import { loadSparrowModel, preprocessPixels, type Preprocessing } from '../runtime/sparrow_model.js';
import { topK, type TopEntry } from '../runtime/classify.js';
import { importOnnx } from '../onnx/import.js';

export { topK, type TopEntry };

const isSparrow = (b: Uint8Array): boolean => b.length >= MAGIC.length && MAGIC.every((x, i) => b[i] === x);

async function read(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new SparrowError('io_error', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The class names a `.sparrow` file stores (metadata.labels); null for ONNX files and files without. */
export async function modelLabels(path: string): Promise<string[] | null> {
  const b = await read(path);
  return isSparrow(b) ? labelsOf(readContainer(b).header) : null;
}

/** dtype and dims of the model's input `name` (.sparrow: its graph metadata; ONNX: the imported graph). */
export async function modelInputInfo(path: string, name: string): Promise<ValueInfo> {
  const b = await read(path);
  if (isSparrow(b)) {
    const g = readContainer(b).header.meta.graph as { inputs?: Array<{ name: string; dtype: string; dims: number[] | null }> } | null;
    const v = g?.inputs?.find((i) => i.name === name);
    if (!v) throw new SparrowError('invalid_argument', `${path}: no input '${name}' in the stored graph`);
    return { dtype: v.dtype as ValueInfo['dtype'], dims: v.dims };
  }
  const g = importOnnx(b);
  const v = g.values.get(name);
  if (!v) throw new SparrowError('invalid_argument', `${path}: no input '${name}'`);
  return v.info;
}

/** `compress --labels <file>`: the names, checked against the classifier's class count when the graph states it. */
export async function labelsForCompress(file: string, output: ValueInfo | undefined): Promise<string[]> {
  const names = parseLabelsFile(new TextDecoder('utf-8').decode(await read(file)), file);
  const classes = output?.dims && output.dims.length === 2 ? output.dims[1]! : -1;
  if (classes > 0 && names.length !== classes)
    throw new SparrowError('invalid_argument', `${file} has ${names.length} class names; the model's output has ${classes} classes`);
  return names;
}

/**
 * `run --image <file>`: the feed of the model's image input (its first input): decoded, resized
 * and cropped as torchvision does, then the preprocessing (`pre`: the flags or the file's).
 */
export async function imageFeed(
  file: string,
  input: string,
  info: ValueInfo,
  pre: Pick<Preprocessing, 'scale' | 'mean' | 'std'> | null,
  resize?: number,
): Promise<Record<string, Tensor>> {
  if (info.dtype !== 'float32' && info.dtype !== 'uint8')
    throw new SparrowError('invalid_argument', `--image feeds an image input; the model's input '${input}' is ${info.dtype}`);
  const pixels = imagePixels(await read(file), info.dims, resize !== undefined ? { resize } : {});
  if (info.dtype === 'uint8') return { [input]: pixels };
  return { [input]: preprocessPixels(pixels, pre ?? { scale: 1 / 255 }) };
}

/** The outputs that are a classifier's answer: exactly one output, [N, C] float32 with C > 1. */
export function classifierOutput(outs: Record<string, Tensor>): string | null {
  const names = Object.keys(outs);
  if (names.length !== 1) return null;
  const t = outs[names[0]!]!;
  return t.dtype === 'float32' && t.dims.length === 2 && t.dims[1]! > 1 ? names[0]! : null;
}

/** run --json's fields for a classifier: `top` (the first image's classes, as /classify answers) and `topAll` (one list per image) when the batch has several. */
export function topFields(rows: TopEntry[][] | undefined): { top?: TopEntry[]; topAll?: TopEntry[][] } {
  if (!rows || rows.length === 0) return {};
  return { top: rows[0]!, ...(rows.length > 1 ? { topAll: rows } : {}) };
}

/** Top-k rows of a classifier's output as text lines: `  1. 0.8123  cat (3)`. */
export function formatTop(rows: TopEntry[][]): string[] {
  const lines: string[] = [];
  rows.forEach((row, n) => {
    if (rows.length > 1) lines.push(`image ${n}:`);
    row.forEach((e, i) => lines.push(`  ${i + 1}. ${e.p.toFixed(4)}  ${e.label ?? `class ${e.index}`}${e.label ? ` (${e.index})` : ''}`));
  });
  return lines;
}

export interface InspectDetails {
  inputs: Array<{ name: string; dtype: string; dims: number[] | null }>;
  outputs: Array<{ name: string; dtype: string; dims: number[] | null }>;
  preprocessing: Preprocessing | null;
  labels: string[] | null;
  activationRanges: { present: boolean; count: number };
}

/** What `inspect` adds to the tensor report: the graph's inputs and outputs, preprocessing, labels, activation ranges. */
export function inspectDetails(bytes: Uint8Array): InspectDetails | null {
  const { header } = readContainer(bytes);
  const labels = labelsOf(header);
  if (header.meta.graph === null || header.meta.graph === undefined) return null; // weights only
  const m = loadSparrowModel(bytes);
  const io = (names: readonly string[]) =>
    names.map((name) => {
      const i = m.graph.values.get(name)!.info;
      return { name, dtype: i.dtype, dims: i.dims ? [...i.dims] : null };
    });
  return {
    inputs: io(m.graph.inputs),
    outputs: io(m.graph.outputs),
    preprocessing: m.preprocessing,
    labels,
    activationRanges: { present: !!m.activationRanges, count: m.activationRanges?.size ?? 0 },
  };
}

const dimsText = (d: number[] | null): string => (d ? `[${d.map((x) => (x < 0 ? '?' : x)).join(',')}]` : '[?]');

export function formatInspectDetails(d: InspectDetails | null): string {
  if (!d) return 'weights only (no graph): it can be inspected, not run';
  const p = d.preprocessing;
  const lines = [
    ...d.inputs.map((v) => `input   ${v.name}: ${v.dtype} ${dimsText(v.dims)}`),
    ...d.outputs.map((v) => `output  ${v.name}: ${v.dtype} ${dimsText(v.dims)}`),
    p
      ? `preprocessing: ${p.input} ${p.layout}, pixel × ${p.scale === 1 / 255 ? '1/255' : p.scale}` +
        (p.mean ? `, mean ${p.mean.join(',')}` : '') +
        (p.std ? `, std ${p.std.join(',')}` : '')
      : 'preprocessing: none',
    d.labels
      ? `labels: ${d.labels.length} (${d.labels.slice(0, 10).join(', ')}${d.labels.length > 10 ? ', …' : ''})`
      : 'labels: none (sparrow compress --labels <file>)',
    d.activationRanges.present
      ? `activation ranges: ${d.activationRanges.count} (static int8 activations)`
      : 'activation ranges: none (sparrow-int8 quantizes activations at run time)',
  ];
  return lines.join('\n');
}
