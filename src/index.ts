// Package entry (Node): the public API. The browser entry is src/browser/index.ts
// (`sparrow-edge/browser`); the edge Worker is src/worker/index.ts.
export { SparrowError, isSparrowError, type SparrowErrorCode } from './errors.js';
export {
  readContainer,
  writeContainer,
  parseHeaderPrefix,
  ContainerStreamReader,
  Codec,
  DType,
  type SparrowMeta,
  type TensorMeta,
  type SectionInfo,
  type ParsedHeader,
} from './format/container.js';
export { inspectSparrow, type InspectReport, type TensorReport } from './format/inspect.js';
export { encodeInt8, decodeInt8Ref, decodeCsrRef, analyzeInt8Payload, type EncodedInt8, type Csr } from './codec/int8.js';
export { SparrowWasm, type CsrResult } from './wasm/gateway.js';
export { loadWasmNode, compileNodeModule } from './wasm/node.js';
export { packTensors, packOnnxWeights, type PackTensor } from './compress/pack.js';
export { parseNpy, writeNpy } from './io/npy.js';
export {
  Session,
  engineName,
  defaultEngine,
  isSparrowBytes,
  hasActivationRanges,
  readModelSource,
  type SessionOptions,
  type EngineName,
  type EngineOption,
  type ModelSource,
  type TensorLike,
  type OutputTensor,
  type ValueMetadata,
  type RunOptions,
} from './runtime/session.js';
export {
  generate,
  detectDecoder,
  type GenerateOptions,
  type GenerateStats,
  type DecoderRunner,
  type DecoderLayout,
} from './runtime/generate.js';
export { Sampler, tokenDistribution, type SamplingOptions, type TokenDistribution } from './runtime/sampling.js';
export { embed, embedBatch, meanPool, l2Normalize, type EmbedOptions, type EncoderRunner } from './runtime/embed.js';
export { loadTokenizer, HfTextTokenizer, Llama2cTextTokenizer, type TextTokenizer } from './io/tokenizer.js';
export { Llama2cTokenizer } from './io/tokenizer_llama2c.js';
export {
  loadSparrowModel,
  writeSparrowModel,
  parsePreprocessing,
  preprocessPixels,
  type SparrowModel,
  type Preprocessing,
  type CompressionRecord,
  type WriteModelOptions,
} from './runtime/sparrow_model.js';
export {
  GRAPH_SCHEMA,
  graphToJson,
  graphTensors,
  graphFromMeta,
  readGraphContainer,
  writeGraphContainer,
  constantOrder,
  type GraphJson,
  type GraphNodeJson,
  type QuantizedWeight,
  type StoredInt8,
  type DecodedGraph,
} from './format/graph.js';
export {
  compressOnnx,
  compressGraph,
  pruneLayer,
  weightLayers,
  COMPRESS_DEFAULTS,
  type CompressOptions,
  type CompressResult,
  type PruneMethod,
  type PruneContext,
  type LayerReport,
  type WeightLayer,
} from './compress/compress.js';
export { shareInt8Levels, kmeans1dExact } from './compress/kmeans.js';
export { importOnnx } from './onnx/import.js';
// Session.fromOnnx loads the ONNX importer lazily (src/runtime/onnx_import.ts) so that the Worker
// and browser bundles can leave protobufjs out; this entry exports the importer anyway, so it
// hands it over and bundles of this entry (a user's own Worker) need no module at run time.
import { importOnnx } from './onnx/import.js';
import { registerOnnxImporter } from './runtime/onnx_import.js';
registerOnnxImporter(importOnnx);
// the same for the Node adapter's compiled module (src/runtime/node_wasm.ts): the bundled package
// (dist/pkg) then loads no file of dist/ beside its own chunks
import { compileNodeModule } from './wasm/node.js';
import { registerNodeWasm } from './runtime/node_wasm.js';
registerNodeWasm(() => compileNodeModule());
export type { Tensor, TensorDType, ValueInfo } from './ops/types.js';
import './ops/ref/index.js';
