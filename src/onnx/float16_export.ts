// A float32 ONNX model rewritten as a float16 one, as float16 exporters write them
// (onnxconverter-common's convert_float_to_float16 with keep_io_types=False): every FLOAT
// initializer and Constant tensor becomes FLOAT16 (rounded to nearest even, overflow to ±Inf),
// the FLOAT graph inputs, outputs and value_info become FLOAT16, Cast(to=FLOAT) becomes
// Cast(to=FLOAT16), ConstantOfShape's float value too. Ops whose ONNX type lists tie an input to
// float32 (Resize's scales, ...) are not special-cased: the tool is for CNN / MLP-shaped models
// (`node scripts/to-float16.mjs in.onnx out.onnx`; test/dtypes.resnet.data.test.ts).
import { SparrowError } from '../errors.js';
import { toFloat16Array } from '../ops/float16.js';
import { tensorFromProto } from './initializers.js';
import { decodeModel, onnxRuntime, type onnx } from './proto.js';

const FLOAT = 1;
const FLOAT16 = 10;

/** A FLOAT TensorProto as a FLOAT16 one (raw_data, little-endian bits); other tensors unchanged. */
function tensorToFloat16(t: onnx.ITensorProto): onnx.ITensorProto {
  if ((t.dataType ?? 0) !== FLOAT) return t;
  const decoded = tensorFromProto(t);
  const bits = toFloat16Array(decoded.data as Float32Array);
  const raw = new Uint8Array(bits.length * 2);
  for (let i = 0; i < bits.length; i++) {
    raw[2 * i] = bits[i]! & 0xff;
    raw[2 * i + 1] = bits[i]! >> 8;
  }
  return { name: t.name ?? '', dims: [...(t.dims ?? [])], dataType: FLOAT16, rawData: raw };
}

function retypeValue(v: onnx.IValueInfoProto): void {
  const tt = v.type?.tensorType;
  if (tt && tt.elemType === FLOAT) tt.elemType = FLOAT16;
}

function retypeAttribute(a: onnx.IAttributeProto): onnx.IAttributeProto {
  if (a.t) return { ...a, t: tensorToFloat16(a.t) };
  if (a.name === 'value_float' || a.name === 'value_floats') {
    const vals = a.name === 'value_float' ? [a.f ?? 0] : [...(a.floats ?? [])];
    const t = tensorToFloat16({ dataType: FLOAT, dims: a.name === 'value_float' ? [] : [vals.length], floatData: vals });
    return { name: 'value', type: onnxRuntime.AttributeProto.AttributeType.TENSOR, t };
  }
  return a;
}

/** The float16 version of a model (header). Subgraphs (If/Loop bodies) are not rewritten: SparrowError('unsupported_op'). */
export function toFloat16Model(model: onnx.IModelProto): onnx.ModelProto {
  const m = onnxRuntime.ModelProto.decode(onnxRuntime.ModelProto.encode(model).finish()); // a copy to edit
  const g = m.graph;
  if (!g) throw new SparrowError('invalid_model', 'ONNX model has no graph');
  g.initializer = (g.initializer ?? []).map((t) => onnxRuntime.TensorProto.create(tensorToFloat16(t)));
  for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])]) retypeValue(v);
  for (const n of g.node ?? []) {
    const attrs = n.attribute ?? [];
    if (attrs.some((a) => a.g || (a.graphs?.length ?? 0) > 0)) {
      throw new SparrowError('unsupported_op', `node '${n.name}' (${n.opType}) has a subgraph, which the float16 export does not rewrite`);
    }
    const std = !n.domain || n.domain === 'ai.onnx';
    if (std && n.opType === 'Cast') {
      for (const a of attrs) if (a.name === 'to' && Number(a.i) === FLOAT) a.i = FLOAT16;
    }
    if (std && (n.opType === 'Constant' || n.opType === 'ConstantOfShape')) {
      n.attribute = attrs.map((a) => onnxRuntime.AttributeProto.create(retypeAttribute(a)));
    }
  }
  return m;
}

/** toFloat16Model on model bytes. */
export function toFloat16ModelBytes(bytes: Uint8Array): Uint8Array {
  return onnxRuntime.ModelProto.encode(toFloat16Model(decodeModel(bytes))).finish();
}
