// Builds .sparrow containers from tensors: int8 tensors go through the int8 codecs (smallest
// of raw / huffman / rle-huffman), everything else is stored raw. No ONNX here (see pack.ts).
import { SparrowError } from '../errors.js';
import { VERSION } from '../util/version.js';
import { encodeInt8, type EncodedInt8, type Int8CodecId } from '../codec/int8.js';
import { Codec, DTYPE_BY_NAME, writeContainer, type DTypeName, type SectionInput, type SparrowMeta, type TensorMeta } from './container.js';

export type PackData = Int8Array | Uint8Array | Int32Array | Float32Array | BigInt64Array | Uint16Array;

export interface PackTensor {
  name: string;
  shape: number[];
  data: PackData;
  /** extra metadata fields for this tensor (e.g. `quant`) */
  extra?: Record<string, unknown>;
}

export const PRODUCER = `sparrow ${VERSION}`;

function dtypeOf(d: PackData): DTypeName {
  if (d instanceof Int8Array) return 'int8';
  if (d instanceof Uint8Array) return 'uint8';
  if (d instanceof Int32Array) return 'int32';
  if (d instanceof Float32Array) return 'float32';
  if (d instanceof BigInt64Array) return 'int64';
  if (d instanceof Uint16Array) return 'uint16';
  throw new SparrowError('invalid_argument', 'unsupported tensor data type');
}

/** Writes tensors (in execution order) into a container; returns the bytes and each int8 tensor's coding. */
export function packTensors(
  tensors: PackTensor[],
  metaExtra: Partial<SparrowMeta> = {},
  opts: { int8Codecs?: readonly Int8CodecId[] } = {},
): { bytes: Uint8Array; coded: Map<string, EncodedInt8> } {
  const sections: SectionInput[] = [];
  const metaTensors: TensorMeta[] = [];
  const coded = new Map<string, EncodedInt8>();
  tensors.forEach((t, i) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length)
      throw new SparrowError('invalid_argument', `tensor ${t.name}: shape [${t.shape}] has ${n} elements, data has ${t.data.length}`);
    const dtype = dtypeOf(t.data);
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (dtype === 'int8') {
      // rows = the first dimension (output channels of Conv/Gemm weights) for codec 3's row bases
      // int8Codecs: the codecs allowed (default: encodeInt8's, the Huffman family; rANS only when listed)
      const e = encodeInt8(t.data as Int8Array, {
        cols: t.shape.length >= 2 && t.shape[0]! > 0 ? n / t.shape[0]! : n,
        dims: t.shape,
        ...(opts.int8Codecs ? { codecs: opts.int8Codecs } : {}),
      });
      coded.set(t.name, e);
      sections.push({ codec: e.codec as Codec, dtype: DTYPE_BY_NAME.int8, payload: e.payload, decodedBytes: n });
    } else {
      sections.push({ codec: Codec.Raw, dtype: DTYPE_BY_NAME[dtype], payload: raw.slice(), decodedBytes: raw.length });
    }
    metaTensors.push({ ...(t.extra ?? {}), name: t.name, shape: t.shape, dtype, section: i });
  });
  const meta: SparrowMeta = { producer: PRODUCER, graph: null, preprocessing: null, ...metaExtra, tensors: metaTensors };
  return { bytes: writeContainer(meta, sections), coded };
}
