// Real int8 weight tensors for codec benchmarks: an ONNX model's Conv/Gemm/MatMul weights,
// magnitude-pruned per layer, then quantized symmetric per output channel.
import { readFileSync } from 'node:fs';
import { decodeModel } from '../onnx/proto.js';
import { weightTensors } from '../onnx/initializers.js';
import { magnitudePrune } from '../compress/prune.js';
import { channelAxisFor, quantizePerChannelInt8 } from '../quant/int8.js';

export interface Int8Weight {
  name: string;
  dims: number[];
  q: Int8Array;
}

export function quantizedWeights(onnxPath: string, sparsity: number): Int8Weight[] {
  const model = decodeModel(readFileSync(onnxPath));
  return weightTensors(model).map((w) => {
    const pruned = sparsity > 0 ? magnitudePrune(w.data, sparsity) : w.data;
    const axis = channelAxisFor(w.op, w.dims, w.transB);
    return { name: w.name, dims: w.dims, q: quantizePerChannelInt8(pruned, w.dims, axis).q };
  });
}
