// What `sparrow inspect` reports about a .sparrow file (../shared/CONTRACT.md "JSON outputs"):
// every figure is measured from the file's bytes (all CRCs checked, every stream decoded),
// not copied from its metadata.
import { analyzeInt8Payload, CODEC_NAMES } from '../codec/int8.js';
import { histogram, shannonBytes } from '../codec/huffman.js';
import { DType, readContainer, type ReadOptions } from './container.js';

export interface TensorReport {
  name: string;
  shape: number[];
  dtype: string;
  codec: string;
  /** nonzero elements / elements (1 for an empty tensor). */
  density: number;
  /** stored (coded) payload bytes */
  bytes: number;
  /** Σ over the coded streams of n·H/8 (for raw sections: of the bytes). */
  entropyBytes: number;
  nonzero: number;
  params: number;
}

export interface InspectReport {
  format: 'sparrow';
  version: number;
  bytes: number;
  /** weight elements: every tensor except quantization parameters (a tensor's quant.scale) and entries outside the graph (`"value": null`: a tokenizer) */
  params: number;
  nonzero: number;
  /** Σ of the tensors' entropyBytes (quantization parameters included) */
  entropyBytes: number;
  tensors: TensorReport[];
  [extra: string]: unknown;
}

export function inspectSparrow(bytes: Uint8Array, opts: ReadOptions = {}): InspectReport {
  const { header, payload } = readContainer(bytes, opts);
  const tensors: TensorReport[] = header.meta.tensors.map((t, i) => {
    const info = header.sections[i]!;
    const p = payload(i);
    const params = t.shape.reduce((a, b) => a * b, 1);
    let nonzero: number, entropyBytes: number;
    if (info.dtype === DType.Int8) {
      const a = analyzeInt8Payload(info.codec, p, params);
      nonzero = a.nonzero;
      entropyBytes = a.entropyBytes;
    } else {
      nonzero = countNonzeroElements(p, info.decodedBytes / Math.max(1, params));
      entropyBytes = shannonBytes(histogram(p));
    }
    return {
      name: t.name,
      shape: t.shape,
      dtype: t.dtype,
      codec: CODEC_NAMES[info.codec] ?? String(info.codec),
      density: params === 0 ? 1 : round6(nonzero / params),
      bytes: info.storedBytes,
      entropyBytes: Math.round(entropyBytes),
      nonzero,
      params,
    };
  });
  // weights are all tensors but the quantization parameters other tensors point to and the
  // entries outside the graph (a stored tokenizer: src/format/text.ts)
  const notWeights = new Set<string>();
  for (const t of header.meta.tensors) {
    if (t['value'] === null) notWeights.add(t.name);
    const q = t.quant as { scale?: unknown; zeroPoint?: unknown } | undefined;
    if (q && typeof q.scale === 'string') notWeights.add(q.scale);
    if (q && typeof q.zeroPoint === 'string') notWeights.add(q.zeroPoint);
  }
  const weights = tensors.filter((t) => !notWeights.has(t.name));
  return {
    format: 'sparrow',
    version: header.versionMajor,
    bytes: header.fileBytes,
    params: weights.reduce((a, t) => a + t.params, 0),
    nonzero: weights.reduce((a, t) => a + t.nonzero, 0),
    entropyBytes: tensors.reduce((a, t) => a + t.entropyBytes, 0),
    tensors,
  };
}

/** Nonzero elements of raw little-endian data with `size`-byte elements (an element is zero iff all its bytes are). */
function countNonzeroElements(p: Uint8Array, size: number): number {
  let n = 0;
  for (let i = 0; i + size <= p.length; i += size) {
    let nz = 0;
    for (let j = 0; j < size; j++) nz |= p[i + j]!;
    if (nz) n++;
  }
  return n;
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
