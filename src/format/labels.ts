// Class names of a classifier, stored in its `.sparrow` file (docs/format.md, "Labels"):
//
//   metadata.labels = ["airplane", "automobile", ...]     // one per class, index = class id
//
// Written by `sparrow compress --labels <file>` (one name per line); read by `sparrow run`
// (top-5 with names), `inspect`, the Worker's /classify and the demo. A metadata field only: no
// section, no structural change (readers that do not know it ignore it). Plain TS.
import { SparrowError } from '../errors.js';
import { readContainer, writeContainer, type ParsedHeader, type ReadOptions, type SectionInput } from './container.js';

/** At most this many labels, each at most MAX_LABEL_CHARS characters. */
export const MAX_LABELS = 100_000;
export const MAX_LABEL_CHARS = 256;

function check(x: unknown, fail: (m: string) => SparrowError): string[] {
  if (!Array.isArray(x)) throw fail(`must be an array of strings, got ${JSON.stringify(x)?.slice(0, 60)}`);
  if (x.length === 0) throw fail('is empty');
  if (x.length > MAX_LABELS) throw fail(`has ${x.length} entries; at most ${MAX_LABELS}`);
  x.forEach((s, i) => {
    if (typeof s !== 'string') throw fail(`entry ${i} must be a string, got ${JSON.stringify(s)?.slice(0, 40)}`);
    if (s.length > MAX_LABEL_CHARS) throw fail(`entry ${i} has ${s.length} characters; at most ${MAX_LABEL_CHARS}`);
  });
  return [...(x as string[])];
}

/** metadata.labels of a container header (validated); null when absent. */
export function labelsOf(header: Pick<ParsedHeader, 'meta'>): string[] | null {
  const x = header.meta['labels'];
  if (x === undefined || x === null) return null;
  return check(x, (m) => new SparrowError('corrupt_metadata', `labels metadata ${m}`));
}

/** labelsOf a whole `.sparrow` file (every CRC checked). */
export function readLabels(bytes: Uint8Array, opts: ReadOptions = {}): string[] | null {
  return labelsOf(readContainer(bytes, opts).header);
}

/**
 * A labels file: one class name per line (UTF-8; `\n` or `\r\n`; a BOM and one final newline are
 * ignored; surrounding spaces trimmed). Empty lines inside the list are refused (a class without
 * a name is more likely a mistake). Throws SparrowError('invalid_argument').
 */
export function parseLabelsFile(text: string, what = 'labels file'): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  const names = lines.map((l) => l.trim());
  const empty = names.findIndex((l) => l === '');
  if (empty >= 0) throw new SparrowError('invalid_argument', `${what}: line ${empty + 1} is empty (one class name per line)`);
  return check(names, (m) => new SparrowError('invalid_argument', `${what} ${m}`));
}

/** The container `bytes` with metadata.labels set (replaced if present); every section kept byte for byte. */
export function withLabels(bytes: Uint8Array, labels: readonly string[]): Uint8Array {
  const list = check(labels, (m) => new SparrowError('invalid_argument', `labels ${m}`));
  const { header, payload } = readContainer(bytes);
  const sections: SectionInput[] = header.sections.map((s, i) => ({
    codec: s.codec,
    dtype: s.dtype,
    payload: payload(i),
    decodedBytes: s.decodedBytes,
  }));
  return writeContainer({ ...header.meta, labels: list }, sections);
}
