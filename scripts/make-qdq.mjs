#!/usr/bin/env node
// Turns a float ONNX model into a QDQ model the way onnxruntime's static quantizer does
// (onnxruntime.quantization.quantize_static, QuantFormat.QDQ, MinMax calibration), in Node with
// onnx-proto, no Python:
//
//   node scripts/make-qdq.mjs <model.onnx> <out.onnx> --calib cifar10:<test_q75.bin>[:from:count]
//        [--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225] [--activations uint8|int8]
//        [--per-tensor] [--ops Conv,MatMul,Gemm,Relu,Clip[,Add,Mul]] [--json]
//   --calib npy:<file.npy> takes a float32 batch (or uint8 pixels: /255, then --mean/--std).
//
// What it writes (tensor names as onnxruntime names them; t is an activation, w a weight, b a bias):
//   activations  t → QuantizeLinear(t, t_scale, t_zero_point) → t_QuantizeLinear_Output
//                  → DequantizeLinear(…, t_scale, t_zero_point) → t_DequantizeLinear_Output, and every
//                  consumer of t reads that; uint8 (or int8) asymmetric per tensor: the calibrated range
//                  widened to contain 0, scale = fround((max − min) / 255) (float64 quotient), zero point
//                  = round(qmin − min / scale). A graph output keeps its name on the DequantizeLinear.
//   weights      int8 symmetric per output channel: w_quantized (int8, [-127, 127]), w_scale [C] =
//                fround(max|w_c| · 2 / 254), w_zero_point [C] = 0, DequantizeLinear(axis) →
//                w_DequantizeLinear_Output (no QuantizeLinear). Conv axis 0, Gemm 0 (transB) or 1,
//                MatMul the last axis. --per-tensor: one scale.
//   biases       int32 b_quantized = round(b / (s_x · s_w[c])) (float64 quotient), b_quantized_scale
//                [C] = fround(s_x · s_w[c]), b_quantized_zero_point [C] = 0, DequantizeLinear(axis 0)
//                whose output keeps the name b.
//   quantized    Conv, Gemm, MatMul: the activation inputs, the weights (initializers), the bias, and
//                the output. Relu/Clip right after one of them (its only consumer) is removed and the
//                producer writes the activation's output, quantized with the activation's range
//                (onnxruntime's "removable activation"); otherwise a Relu/Clip is left as it is. Add/Mul
//                (with --ops): activation inputs and output.
// Calibration (onnxruntime's MinMax): the float model, optimizations off, every tensor to quantize
// added as a graph output, run once per calibration sample (onnxruntime-node); min/max over all.
import { readFileSync, writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';

const onnx = onnxProto.onnx;
const FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  INT32 = 6;
const fr = Math.fround;

export const DEFAULT_OPS = ['Conv', 'MatMul', 'Gemm', 'Relu', 'Clip'];
const WEIGHTED = new Set(['Conv', 'MatMul', 'Gemm']);
const REMOVABLE = new Set(['Relu', 'Clip']);
const BINARY = new Set(['Add', 'Mul']);

/** Round half to even (numpy.round / rint). */
function rne(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const num = (v) => (typeof v === 'number' ? v : Number(v)); // protobufjs Long → number

/** A float32 initializer's values. */
function floatsOf(t) {
  if (num(t.dataType) !== FLOAT) throw new Error(`initializer '${t.name}' is not float32 (type ${t.dataType})`);
  if (t.rawData && t.rawData.length) {
    const b = t.rawData;
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
  return Float32Array.from(t.floatData ?? []);
}

function tensorProto(name, dataType, dims, typed) {
  return onnx.TensorProto.create({
    name,
    dataType,
    dims: dims.map(Number),
    rawData: new Uint8Array(typed.buffer.slice(typed.byteOffset, typed.byteOffset + typed.byteLength)),
  });
}

const attr = (node, name) => (node.attribute ?? []).find((a) => a.name === name);
const intAttr = (node, name, dflt) => {
  const a = attr(node, name);
  return a ? num(a.i) : dflt;
};
const floatAttr = (node, name, dflt) => {
  const a = attr(node, name);
  return a ? a.f : dflt;
};

/**
 * onnxruntime's compute_scale_zp: the range widened to contain 0; scale = (max − min) / (qmax − qmin)
 * in float64 (the difference taken in float32), stored as float32; zero point round(qmin − min /
 * scale) in float64; symmetric: ±max|·|, zero point (qmin + qmax) / 2. A range below float32's
 * smallest normal gives scale 1, zero point 0.
 */
export function computeScaleZp(rmin, rmax, qmin, qmax, symmetric) {
  rmin = Math.min(rmin, 0);
  rmax = Math.max(rmax, 0);
  if (symmetric) {
    const a = Math.max(Math.abs(rmin), Math.abs(rmax));
    rmin = -a;
    rmax = a;
  }
  const scale64 = fr(rmax - rmin) / (qmax - qmin);
  if (!(scale64 >= 1.1754943508222875e-38)) return { scale: 1, zeroPoint: 0 };
  const zeroPoint = symmetric ? rne((qmin + qmax) / 2) : rne(qmin - rmin / scale64);
  return { scale: fr(scale64), zeroPoint: zeroPoint + 0 };
}

/** Symmetric int8 quantization of a weight along `axis` (null = per tensor): q in [-127, 127], float32 division. */
export function quantizeWeight(w, dims, axis) {
  const C = axis === null ? 1 : dims[axis];
  const inner = axis === null ? w.length : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = axis === null ? 1 : dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const lo = new Float32Array(C).fill(Infinity),
    hi = new Float32Array(C).fill(-Infinity);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < inner; i++) {
        const v = w[(o * C + c) * inner + i];
        if (v < lo[c]) lo[c] = v;
        if (v > hi[c]) hi[c] = v;
      }
  const scales = new Float32Array(C);
  for (let c = 0; c < C; c++) scales[c] = computeScaleZp(Math.min(lo[c], 0), Math.max(hi[c], 0), -127, 127, true).scale;
  const q = new Int8Array(w.length);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < inner; i++) {
        const k = (o * C + c) * inner + i;
        q[k] = Math.max(-127, Math.min(127, rne(fr(w[k] / scales[c]))));
      }
  return { q, scales };
}

/**
 * The QDQ model of `modelBytes`. `calib`: calibration feeds, each { [inputName]: { dims, data:
 * Float32Array } } (one run each). Options: activations 'uint8' | 'int8', perChannel (default
 * true), ops (default DEFAULT_OPS). Returns { bytes, report }.
 */
export async function makeQdq(modelBytes, calib, opts = {}) {
  const actType = opts.activations ?? 'uint8';
  const [qmin, qmax, actCode] = actType === 'int8' ? [-128, 127, INT8] : [0, 255, UINT8];
  const perChannel = opts.perChannel ?? true;
  const ops = new Set(opts.ops ?? DEFAULT_OPS);
  const model = onnx.ModelProto.decode(modelBytes);
  const g = model.graph;
  const opset = num(model.opsetImport.find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx')?.version ?? 0);
  if (opset < (perChannel ? 13 : 10)) {
    throw new Error(
      `opset ${opset}: QuantizeLinear/DequantizeLinear ${perChannel ? 'per channel (axis) need opset 13' : 'need opset 10'}; convert the model first`,
    );
  }
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const graphInputs = new Set(g.input.map((v) => v.name).filter((n) => !inits.has(n)));
  const graphOutputs = new Set(g.output.map((v) => v.name));
  const floatInputs = new Set(g.input.filter((v) => num(v.type?.tensorType?.elemType ?? 0) === FLOAT).map((v) => v.name));
  const consumers = new Map();
  for (const n of g.node) for (const i of n.input) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const isActivation = (t) => !!t && !inits.has(t) && (!graphInputs.has(t) || floatInputs.has(t));

  // 1. mark tensors (onnxruntime's op quantizers, in node order)
  const toQuantize = new Map(); // activation name → true, in marking order
  const weights = new Map(); // weight name → axis | null
  const biases = new Map(); // bias name → { input, weight, beta }
  const removed = new Set(); // removed activation nodes
  const renamed = new Map(); // producer output → activation output it now writes
  const markAct = (t) => {
    if (isActivation(t) && !toQuantize.has(t)) toQuantize.set(t, true);
  };
  const markWeight = (t, axis) => {
    if (inits.has(t) && num(inits.get(t).dataType) === FLOAT && !weights.has(t)) weights.set(t, perChannel ? axis : null);
  };
  const candidates = new Set(); // tensors whose range may be needed
  for (const n of g.node) {
    if (!ops.has(n.opType) || (n.domain && n.domain !== 'ai.onnx')) continue;
    for (const t of [...n.input, ...n.output]) if (isActivation(t)) candidates.add(t);
  }
  const ranges = await calibrate(model, [...candidates], calib);
  for (const n of g.node) {
    if (!ops.has(n.opType) || (n.domain && n.domain !== 'ai.onnx')) continue;
    const out = renamed.get(n.output[0]) ?? n.output[0];
    if (n.opType === 'Conv') {
      markAct(n.input[0]);
      markAct(out);
      markWeight(n.input[1], 0);
      if (n.input[2] && inits.has(n.input[2])) biases.set(n.input[2], { input: n.input[0], weight: n.input[1], beta: 1 });
    } else if (n.opType === 'Gemm') {
      markAct(n.input[0]);
      markAct(out);
      if (inits.has(n.input[1])) markWeight(n.input[1], intAttr(n, 'transB', 0) ? 0 : 1);
      else markAct(n.input[1]);
      if (n.input[2] && inits.has(n.input[2]) && inits.has(n.input[1])) {
        biases.set(n.input[2], { input: n.input[0], weight: n.input[1], beta: floatAttr(n, 'beta', 1) });
      }
    } else if (n.opType === 'MatMul') {
      for (const t of n.input) {
        if (inits.has(t)) markWeight(t, inits.get(t).dims.length - 1);
        else markAct(t);
      }
      markAct(out);
    } else if (REMOVABLE.has(n.opType)) {
      const up = n.input[0];
      if (!toQuantize.has(up)) continue; // input not quantized: the node stays as it is
      // onnxruntime's try_replacing_upstream_output (activations are asymmetric here)
      const upConsumers = consumers.get(up) ?? [];
      if (ranges.has(n.output[0]) && upConsumers.length === 1 && !graphOutputs.has(up) && !graphInputs.has(up)) {
        renamed.set(up, n.output[0]);
        toQuantize.delete(up);
        removed.add(n);
      }
      markAct(n.output[0]);
    } else if (BINARY.has(n.opType)) {
      for (const t of n.input) markAct(t);
      markAct(out);
    }
  }
  for (const t of toQuantize.keys()) if (!ranges.has(t)) toQuantize.delete(t); // no float values seen

  // 2. parameters
  const actParams = new Map();
  for (const t of toQuantize.keys()) {
    const r = ranges.get(t);
    actParams.set(t, { ...computeScaleZp(r.min, r.max, qmin, qmax, false), min: r.min, max: r.max });
  }
  const newInits = [];
  const weightParams = new Map();
  for (const [w, axis] of weights) {
    const t = inits.get(w);
    const dims = t.dims.map(Number);
    const { q, scales } = quantizeWeight(floatsOf(t), dims, axis);
    weightParams.set(w, { scales, axis });
    const pd = axis === null ? [] : [dims[axis]];
    newInits.push(tensorProto(`${w}_quantized`, INT8, dims, q));
    newInits.push(tensorProto(`${w}_scale`, FLOAT, pd, scales));
    newInits.push(tensorProto(`${w}_zero_point`, INT8, pd, new Int8Array(scales.length)));
  }
  const biasParams = new Map();
  for (const [b, info] of biases) {
    const ap = actParams.get(info.input),
      wp = weightParams.get(info.weight);
    if (!ap || !wp) continue; // input or weight not quantized: the bias stays float
    const data = floatsOf(inits.get(b));
    const perC = wp.scales.length > 1;
    if (perC && data.length !== wp.scales.length) continue; // a bias that is not one value per channel stays float
    const scale = new Float32Array(perC ? data.length : 1);
    for (let c = 0; c < scale.length; c++) scale[c] = fr(fr(ap.scale * wp.scales[c]) * info.beta);
    const q = new Int32Array(data.length);
    for (let c = 0; c < data.length; c++) q[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, rne(data[c] / scale[perC ? c : 0])));
    const pd = perC ? [data.length] : [];
    newInits.push(tensorProto(`${b}_quantized`, INT32, inits.get(b).dims.map(Number), q));
    newInits.push(tensorProto(`${b}_quantized_scale`, FLOAT, pd, scale));
    newInits.push(tensorProto(`${b}_quantized_zero_point`, INT32, pd, new Int32Array(scale.length)));
    biasParams.set(b, { axis: perC ? 0 : null });
  }
  for (const [t, p] of actParams) {
    newInits.push(tensorProto(`${t}_scale`, FLOAT, [], Float32Array.of(p.scale)));
    newInits.push(tensorProto(`${t}_zero_point`, actCode, [], actCode === INT8 ? Int8Array.of(p.zeroPoint) : Uint8Array.of(p.zeroPoint)));
  }

  // 3. the new node list: DequantizeLinear of weights/biases before their first consumer, the
  //    QuantizeLinear → DequantizeLinear pair of an activation right after its producer
  const dqName = (t) => `${t}_DequantizeLinear_Output`;
  const mk = (opType, name, input, output, attrs = {}) =>
    onnx.NodeProto.create({
      opType,
      name,
      input,
      output,
      attribute: Object.entries(attrs).map(([k, v]) => ({ name: k, type: onnx.AttributeProto.AttributeType.INT, i: v })),
    });
  // what each original tensor name is read as
  const readAs = new Map();
  for (const t of actParams.keys()) if (!graphOutputs.has(t)) readAs.set(t, dqName(t));
  for (const w of weightParams.keys()) readAs.set(w, dqName(w));
  const qdqPair = (t) => {
    const src = graphOutputs.has(t) ? `${t}_QuantizeLinear_Input` : t;
    return [
      mk('QuantizeLinear', `${t}_QuantizeLinear`, [src, `${t}_scale`, `${t}_zero_point`], [`${t}_QuantizeLinear_Output`]),
      mk(
        'DequantizeLinear',
        `${t}_DequantizeLinear`,
        [`${t}_QuantizeLinear_Output`, `${t}_scale`, `${t}_zero_point`],
        [graphOutputs.has(t) ? t : dqName(t)],
      ),
    ];
  };
  const nodes = [];
  const emitted = new Set();
  for (const t of actParams.keys()) if (graphInputs.has(t)) nodes.push(...qdqPair(t));
  for (const n of g.node) {
    if (removed.has(n)) continue;
    for (const i of n.input) {
      if (emitted.has(i)) continue;
      const wp = weightParams.get(i);
      if (wp) {
        nodes.push(
          mk(
            'DequantizeLinear',
            `${i}_DequantizeLinear`,
            [`${i}_quantized`, `${i}_scale`, `${i}_zero_point`],
            [dqName(i)],
            wp.axis === null ? {} : { axis: wp.axis },
          ),
        );
        emitted.add(i);
      }
      const bp = biasParams.get(i);
      if (bp) {
        nodes.push(
          mk(
            'DequantizeLinear',
            `${i}_DequantizeLinear`,
            [`${i}_quantized`, `${i}_quantized_scale`, `${i}_quantized_zero_point`],
            [i],
            bp.axis === null ? {} : { axis: bp.axis },
          ),
        );
        emitted.add(i);
      }
    }
    const outputs = n.output.map((o) => renamed.get(o) ?? o);
    const copy = onnx.NodeProto.create({
      ...n,
      input: n.input.map((i) => readAs.get(i) ?? i),
      output: outputs.map((o) => (actParams.has(o) && graphOutputs.has(o) ? `${o}_QuantizeLinear_Input` : o)),
    });
    nodes.push(copy);
    for (const o of outputs) if (actParams.has(o)) nodes.push(...qdqPair(o));
  }
  const dropped = new Set([...weightParams.keys(), ...biasParams.keys()]);
  g.initializer = [...g.initializer.filter((t) => !dropped.has(t.name)), ...newInits];
  g.input = g.input.filter((v) => !dropped.has(v.name));
  g.node = nodes;
  g.valueInfo = [];
  model.producerName = 'sparrow make-qdq';
  const bytes = onnx.ModelProto.encode(model).finish();
  const report = {
    activations: actType,
    perChannel,
    ops: [...ops],
    quantizedActivations: Object.fromEntries([...actParams].map(([t, p]) => [t, p])),
    weights: [...weightParams].map(([w, p]) => ({ name: w, axis: p.axis, channels: p.scales.length })),
    biases: [...biasParams.keys()],
    removedActivations: [...removed].map((n) => `${n.opType} ${n.name || n.output[0]}`),
  };
  return { bytes, report };
}

/** min/max of each tensor over the calibration feeds (onnxruntime's MinMaxCalibrater, optimizations off). */
async function calibrate(model, tensors, calib) {
  const ort = await import('onnxruntime-node');
  const aug = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  const have = new Set(aug.graph.output.map((v) => v.name));
  const inputs = new Set(aug.graph.input.map((v) => v.name));
  for (const t of tensors)
    if (!have.has(t) && !inputs.has(t)) aug.graph.output.push({ name: t, type: { tensorType: { elemType: FLOAT } } });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(aug).finish(), {
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  const ranges = new Map();
  const widen = (t, data) => {
    let lo = Infinity,
      hi = -Infinity;
    for (const x of data) {
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    const r = ranges.get(t);
    ranges.set(t, { min: r ? Math.min(r.min, lo) : lo, max: r ? Math.max(r.max, hi) : hi });
  };
  for (const feeds of calib) {
    for (const t of tensors) if (feeds[t]) widen(t, feeds[t].data); // graph inputs
    const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor('float32', t.data, t.dims)]));
    const out = await session.run(ortFeeds);
    for (const t of tensors) {
      const v = out[t];
      if (v && v.type === 'float32') widen(t, v.data);
    }
  }
  await session.release();
  return ranges;
}

// ---------------------------------------------------------------------------------------------
// calibration data

/** CIFAR-10 binary records [from, from+count) as NCHW float32 batches of one: pixel/255, then (x − mean) / std. */
export function cifar10Feeds(bytes, inputName, from, count, mean, std) {
  const feeds = [];
  for (let i = from; i < from + count; i++) {
    const data = new Float32Array(3072);
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) {
        data[c * 1024 + p] = (bytes[i * 3073 + 1 + c * 1024 + p] / 255 - (mean?.[c] ?? 0)) / (std?.[c] ?? 1);
      }
    }
    feeds.push({ [inputName]: { dims: [1, 3, 32, 32], data } });
  }
  return feeds;
}

async function main(argv) {
  const args = argv.slice(2);
  const flag = (name) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const bool = (name) => {
    const i = args.indexOf(name);
    if (i >= 0) args.splice(i, 1);
    return i >= 0;
  };
  const calibSpec = flag('--calib');
  const mean = flag('--mean')?.split(',').map(Number);
  const std = flag('--std')?.split(',').map(Number);
  const activations = flag('--activations') ?? 'uint8';
  const ops = flag('--ops')?.split(',');
  const perTensor = bool('--per-tensor');
  const json = bool('--json');
  const [inPath, outPath] = args;
  if (!inPath || !outPath || !calibSpec || !['uint8', 'int8'].includes(activations)) {
    process.stderr.write(
      'usage: node scripts/make-qdq.mjs <model.onnx> <out.onnx> --calib cifar10:<file>[:from:count] | npy:<file>\n' +
        '         [--mean m0,m1,m2 --std s0,s1,s2] [--activations uint8|int8] [--per-tensor] [--ops Conv,MatMul,Gemm,Relu,Clip] [--json]\n',
    );
    process.exit(2);
  }
  const modelBytes = new Uint8Array(readFileSync(inPath));
  const m = onnx.ModelProto.decode(modelBytes);
  const initNames = new Set(m.graph.initializer.map((t) => t.name));
  const inputName = m.graph.input.find((v) => !initNames.has(v.name)).name;
  const [kind, path, from, count] = calibSpec.split(':');
  let calib;
  if (kind === 'cifar10')
    calib = cifar10Feeds(new Uint8Array(readFileSync(path)), inputName, Number(from ?? 0), Number(count ?? 32), mean, std);
  else if (kind === 'npy') {
    const { parseNpy } = await import(new URL('../dist/io/npy.js', import.meta.url).href); // npm run build:ts
    const a = parseNpy(new Uint8Array(readFileSync(path)));
    const per = a.dims.slice(1).reduce((x, y) => x * y, 1),
      hw = a.dims.slice(2).reduce((x, y) => x * y, 1);
    calib = [];
    for (let i = 0; i < a.dims[0]; i++) {
      const data = new Float32Array(per);
      for (let k = 0; k < per; k++) {
        const v = a.data[i * per + k];
        const c = Math.floor(k / hw);
        data[k] = a.dtype === 'uint8' ? (v / 255 - (mean?.[c] ?? 0)) / (std?.[c] ?? 1) : v;
      }
      calib.push({ [inputName]: { dims: [1, ...a.dims.slice(1)], data } });
    }
  } else throw new Error(`--calib ${calibSpec}: expected cifar10:<file>[:from:count] or npy:<file>`);
  const { bytes, report } = await makeQdq(modelBytes, calib, { activations, perChannel: !perTensor, ops });
  writeFileSync(outPath, bytes);
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    process.stdout.write(
      `${outPath}: ${Object.keys(report.quantizedActivations).length} activations (${activations}), ${report.weights.length} weights ` +
        `(int8 ${perTensor ? 'per tensor' : 'per channel'}), ${report.biases.length} biases (int32), ` +
        `${report.removedActivations.length} Relu/Clip folded, calibrated on ${calib.length} samples\n`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv).catch((e) => {
    process.stderr.write(`make-qdq: ${e.message}\n`);
    process.exit(1);
  });
}
