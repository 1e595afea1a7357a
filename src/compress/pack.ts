// `sparrow pack --onnx`: the weights of an ONNX model (magnitude-pruned, int8 per channel) in a
// weights-only .sparrow container (`sparrow compress` writes whole models), and (re-exported)
// packTensors, which builds .sparrow containers from tensors.
import { packTensors, type PackTensor } from '../format/pack.js';
import { decodeModel } from '../onnx/proto.js';
import { weightTensors } from '../onnx/initializers.js';
import { magnitudePrune } from './prune.js';
import { channelAxisFor, quantizePerChannelInt8 } from '../quant/int8.js';

// packTensors lives in src/format/pack.ts so that readers of .sparrow files (src/format/graph.ts)
// do not pull in the ONNX decoder that packOnnxWeights needs.
export { packTensors, PRODUCER, type PackData, type PackTensor } from '../format/pack.js';

/**
 * The Conv/Gemm/MatMul weights of an ONNX model, magnitude-pruned per layer to `sparsity`
 * and quantized to int8 per output channel, each followed by its float32 scales. No graph:
 * a weights-only container.
 */
export function packOnnxWeights(onnxBytes: Uint8Array, sparsity: number): Uint8Array {
  const model = decodeModel(onnxBytes);
  const tensors: PackTensor[] = [];
  for (const w of weightTensors(model)) {
    const pruned = sparsity > 0 ? magnitudePrune(w.data, sparsity) : w.data;
    const axis = channelAxisFor(w.op, w.dims, w.transB);
    const { q, scales } = quantizePerChannelInt8(pruned, w.dims, axis);
    tensors.push({ name: w.name, shape: w.dims, data: q, extra: { quant: { scheme: 'symmetric', axis, scale: `${w.name}.scale` } } });
    tensors.push({ name: `${w.name}.scale`, shape: [scales.length], data: scales });
  }
  return packTensors(tensors).bytes;
}
