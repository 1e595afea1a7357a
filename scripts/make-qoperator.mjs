#!/usr/bin/env node
// Turns a QDQ model (scripts/make-qdq.mjs, onnxruntime's static quantizer in QDQ form) into
// onnxruntime's "QOperator" form, and a float model into its dynamic form (quantize_dynamic), in
// Node with onnx-proto, no Python:
//
//   node scripts/make-qoperator.mjs <qdq.onnx> <out.onnx> [--json]
//   node scripts/make-qoperator.mjs <model.onnx> <out.onnx> --calib cifar10:<file>[:from:count] [make-qdq's flags]
//        (the QDQ model is made first, by make-qdq, then turned)
//   node scripts/make-qoperator.mjs <model.onnx> <out.onnx> --dynamic
//
// QOperator (onnxruntime's QLinearConv / QLinearMatMul operator classes):
//   Conv(DQ(x_q), DQ(w), DQ(b)) → Q(y)        → QLinearConv(x_q, xs, xz, w, ws, wz, ys, yz, b) → y_q
//   MatMul(DQ(a_q), DQ(w)) → Q(y)             → QLinearMatMul(a_q, as, az, w, ws, wz, ys, yz) → y_q
//   Gemm(DQ(a_q), DQ(w), DQ(b), transB, alpha = beta = 1) → Q(y), w [N, K]
//                                             → QLinearMatMul(a_q, …, wᵀ [K, N] per column, …) → m_q
//                                               → DQ → Add(b as float32) → Q(y) → …
//     (onnxruntime's QOperator form of a Gemm is com.microsoft.QGemm, which Sparrow does not
//     import; a QLinearMatMul whose bias is added in float after it is the standard-ops form.
//     m's parameters: y's range widened by the bias (m = y − b), uint8/int8 as y.)
//   The activation QuantizeLinear / DequantizeLinear nodes the QLinear operators no longer need
//   go; those other nodes read (Add, Relu, AveragePool... left in float) stay.
// Dynamic (onnxruntime's ConvInteger / MatMulInteger operator classes, quantize_dynamic):
//   Conv(x, w, b)  → DynamicQuantizeLinear(x) → ConvInteger(x_q, w_q, x_zp, 0) → Cast(float)
//                    → Mul(·, Mul(x_scale, w_scale)) → Add(·, Reshape(b, [1, −1, 1, 1]))
//   MatMul(x, w)   → … MatMulInteger(x_q, w_q, x_zp, 0) → Cast → Mul(·, Mul(x_scale, w_scale))
//   weights int8 symmetric per tensor ([-127, 127], make-qdq's quantizeWeight); Gemm stays float.
import { readFileSync, writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { computeScaleZp, makeQdq, quantizeWeight, cifar10Feeds } from './make-qdq.mjs';

const onnx = onnxProto.onnx;
const FLOAT = 1,
  INT8 = 3,
  INT32 = 6,
  INT64 = 7;
const fr = Math.fround;
const num = (v) => (typeof v === 'number' ? v : Number(v));

function tensorProto(name, dataType, dims, typed) {
  return onnx.TensorProto.create({
    name,
    dataType,
    dims: dims.map(Number),
    rawData: new Uint8Array(typed.buffer.slice(typed.byteOffset, typed.byteOffset + typed.byteLength)),
  });
}

/** An initializer's values as a typed array of its type (float32, int8, uint8, int32). */
function valuesOf(t) {
  const type = num(t.dataType);
  const C = { 1: Float32Array, 2: Uint8Array, 3: Int8Array, 6: Int32Array }[type];
  if (!C) throw new Error(`initializer '${t.name}' has type ${type}`);
  if (t.rawData && t.rawData.length) {
    const b = t.rawData;
    return new C(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
  return C.from(type === 1 ? (t.floatData ?? []) : (t.int32Data ?? []));
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
const mk = (opType, name, input, output, attribute = []) => onnx.NodeProto.create({ opType, name, input, output, attribute });

/** The QOperator model of a QDQ model (bytes). Returns { bytes, report }. */
export function makeQOperator(qdqBytes) {
  const model = onnx.ModelProto.decode(qdqBytes);
  const g = model.graph;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const producer = new Map();
  for (const n of g.node) for (const o of n.output) producer.set(o, n);
  const consumers = new Map();
  for (const n of g.node) for (const i of n.input) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const graphOutputs = new Set(g.output.map((v) => v.name));
  const isOp = (n, op) => !!n && n.opType === op && (!n.domain || n.domain === 'ai.onnx');
  /** DequantizeLinear of an activation: its quantized input and parameters */
  const dqAct = (t) => {
    const dq = producer.get(t);
    if (!isOp(dq, 'DequantizeLinear') || inits.has(dq.input[0])) return undefined;
    return { node: dq, q: dq.input[0], s: dq.input[1], z: dq.input[2] };
  };
  const dqConst = (t) => {
    const dq = producer.get(t);
    if (!isOp(dq, 'DequantizeLinear') || !inits.has(dq.input[0])) return undefined;
    return { node: dq, q: dq.input[0], s: dq.input[1], z: dq.input[2], axis: intAttr(dq, 'axis', 1) };
  };
  const newInits = [];
  const replace = new Map(); // node → replacement nodes
  const drop = new Set();
  const report = { qlinearConv: 0, qlinearMatMul: 0, gemmAsMatMul: 0, left: [] };
  for (const n of g.node) {
    if (!['Conv', 'MatMul', 'Gemm'].includes(n.opType)) continue;
    const x = dqAct(n.input[0]),
      w = dqConst(n.input[1]),
      b = n.input[2] ? dqConst(n.input[2]) : undefined;
    const users = consumers.get(n.output[0]) ?? [];
    const q = users.length === 1 && isOp(users[0], 'QuantizeLinear') && !graphOutputs.has(n.output[0]) ? users[0] : undefined;
    if (!x || !w || (n.input[2] && !b) || !q) {
      report.left.push(`${n.opType} ${n.name}`);
      continue;
    }
    const [ys, yz] = [q.input[1], q.input[2]];
    if (n.opType === 'Conv') {
      const ins = [x.q, x.s, x.z, w.q, w.s, w.z, ys, yz, ...(b ? [b.q] : [])];
      replace.set(n, [mk('QLinearConv', `${n.name}_quant`, ins, [q.output[0]], n.attribute)]);
      report.qlinearConv++;
    } else if (n.opType === 'MatMul') {
      replace.set(n, [mk('QLinearMatMul', `${n.name}_quant`, [x.q, x.s, x.z, w.q, w.s, w.z, ys, yz], [q.output[0]])]);
      report.qlinearMatMul++;
    } else {
      if (intAttr(n, 'transA', 0) !== 0 || floatAttr(n, 'alpha', 1) !== 1 || floatAttr(n, 'beta', 1) !== 1) {
        report.left.push(`${n.opType} ${n.name}`);
        continue;
      }
      // the weight as [K, N] with per-column parameters
      const W = inits.get(w.q);
      const [d0, d1] = W.dims.map(Number);
      const transB = intAttr(n, 'transB', 0) === 1;
      const wq = valuesOf(W);
      let wT = wq,
        K = d0,
        N = d1;
      if (transB) {
        [N, K] = [d0, d1];
        wT = new Int8Array(K * N);
        for (let r = 0; r < N; r++) for (let c = 0; c < K; c++) wT[c * N + r] = wq[r * K + c];
      }
      const wName = `${w.q}_T`;
      newInits.push(tensorProto(wName, INT8, [K, N], wT));
      // the bias as float32 (its DequantizeLinear), and m = y − b's parameters
      const bq = valuesOf(inits.get(b.q)),
        bs = valuesOf(inits.get(b.s));
      const bf = Float32Array.from(bq, (v, c) => fr(fr(v) * bs[bs.length === 1 ? 0 : c]));
      const ysv = valuesOf(inits.get(ys))[0],
        yzT = inits.get(yz),
        yzv = valuesOf(yzT)[0];
      const u8 = num(yzT.dataType) === 2;
      const [qmin, qmax] = u8 ? [0, 255] : [-128, 127];
      const [ymin, ymax] = [(qmin - yzv) * ysv, (qmax - yzv) * ysv];
      const bmin = Math.min(...bf),
        bmax = Math.max(...bf);
      const p = computeScaleZp(ymin - bmax, ymax - bmin, qmin, qmax, false);
      const m = `${n.output[0]}_MatMul`;
      newInits.push(tensorProto(`${m}_scale`, FLOAT, [], Float32Array.of(p.scale)));
      newInits.push(tensorProto(`${m}_zero_point`, num(yzT.dataType), [], u8 ? Uint8Array.of(p.zeroPoint) : Int8Array.of(p.zeroPoint)));
      newInits.push(tensorProto(`${n.name}_bias`, FLOAT, [N], bf));
      replace.set(n, [
        mk('QLinearMatMul', `${n.name}_quant`, [x.q, x.s, x.z, wName, w.s, w.z, `${m}_scale`, `${m}_zero_point`], [`${m}_quantized`]),
        mk('DequantizeLinear', `${m}_DequantizeLinear`, [`${m}_quantized`, `${m}_scale`, `${m}_zero_point`], [m]),
        mk('Add', `${n.name}_bias_add`, [m, `${n.name}_bias`], [n.output[0]]),
        q,
      ]);
      report.gemmAsMatMul++;
      continue; // its QuantizeLinear stays (it quantizes the Add)
    }
    drop.add(q);
  }
  // new node list; then the DequantizeLinear nodes (and initializers) nobody reads go
  let nodes = [];
  for (const n of g.node) {
    if (drop.has(n)) continue;
    const r = replace.get(n);
    if (r) nodes.push(...r.filter((x) => x !== n));
    else nodes.push(n);
  }
  // a Gemm's QuantizeLinear was listed as its last replacement node: keep one copy, in order
  nodes = nodes.filter((n, i) => nodes.indexOf(n) === i);
  for (;;) {
    const read = new Set([...g.output.map((v) => v.name)]);
    for (const n of nodes) for (const i of n.input) if (i) read.add(i);
    const dead = nodes.filter((n) => (isOp(n, 'DequantizeLinear') || isOp(n, 'QuantizeLinear')) && !n.output.some((o) => read.has(o)));
    if (dead.length === 0) break;
    nodes = nodes.filter((n) => !dead.includes(n));
  }
  g.node = nodes;
  const read = new Set(g.output.map((v) => v.name));
  for (const n of nodes) for (const i of n.input) if (i) read.add(i);
  g.initializer = [...g.initializer, ...newInits].filter((t) => read.has(t.name));
  g.valueInfo = [];
  model.producerName = 'sparrow make-qoperator';
  return { bytes: onnx.ModelProto.encode(model).finish(), report };
}

/** The dynamic (quantize_dynamic) model of a float model (bytes). Returns { bytes, report }. */
export function makeDynamic(modelBytes) {
  const model = onnx.ModelProto.decode(modelBytes);
  const g = model.graph;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const op = model.opsetImport.find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  if (num(op.version) < 11) throw new Error('DynamicQuantizeLinear needs opset 11');
  const nodes = [];
  const newInits = [];
  const dql = new Map(); // x → [q, s, z]
  const report = { convInteger: 0, matMulInteger: 0, left: [] };
  for (const n of g.node) {
    const W = inits.get(n.input[1]);
    const isConv = n.opType === 'Conv',
      isMatMul = n.opType === 'MatMul';
    if ((!isConv && !isMatMul) || !W || num(W.dataType) !== FLOAT || inits.has(n.input[0]) || (isMatMul && W.dims.length !== 2)) {
      if (isConv || isMatMul) report.left.push(`${n.opType} ${n.name}`);
      nodes.push(n);
      continue;
    }
    const x = n.input[0];
    if (!dql.has(x)) {
      const names = [`${x}_quantized`, `${x}_scale`, `${x}_zero_point`];
      nodes.push(mk('DynamicQuantizeLinear', `${x}_QuantizeLinear`, [x], names));
      dql.set(x, names);
    }
    const [xq, xs, xz] = dql.get(x);
    const w = W.name;
    const { q, scales } = quantizeWeight(valuesOf(W), W.dims.map(Number), null);
    newInits.push(tensorProto(`${w}_quantized`, INT8, W.dims.map(Number), q));
    newInits.push(tensorProto(`${w}_scale`, FLOAT, [], scales));
    newInits.push(tensorProto(`${w}_zero_point`, INT8, [], new Int8Array(1)));
    const base = `${n.output[0]}`;
    const hasBias = isConv && n.input[2];
    const scaled = hasBias ? `${base}_quant_scaled_output` : n.output[0];
    const integer = isConv ? 'ConvInteger' : 'MatMulInteger';
    nodes.push(
      mk(
        integer,
        `${n.name}_quant`,
        [xq, `${w}_quantized`, xz, `${w}_zero_point`],
        [`${base}_output_quantized`],
        isConv ? n.attribute : [],
      ),
      mk(
        'Cast',
        `${base}_output_quantized_cast`,
        [`${base}_output_quantized`],
        [`${base}_output_quantized_cast_output`],
        [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
      ),
      mk('Mul', `${n.name}_quant_scales_mul`, [xs, `${w}_scale`], [`${n.name}_quant_scales_mul:0`]),
      mk('Mul', `${n.name}_quant_output_scale_mul`, [`${base}_output_quantized_cast_output`, `${n.name}_quant_scales_mul:0`], [scaled]),
    );
    if (hasBias) {
      const shape = `${base}_bias_reshape_shape`;
      newInits.push(tensorProto(shape, INT64, [4], BigInt64Array.of(1n, -1n, 1n, 1n)));
      nodes.push(
        mk('Reshape', `${base}_bias_reshape`, [n.input[2], shape], [`${base}_bias_reshape_output`]),
        mk('Add', `${base}_bias_add`, [scaled, `${base}_bias_reshape_output`], [n.output[0]]),
      );
    }
    if (isConv) report.convInteger++;
    else report.matMulInteger++;
  }
  g.node = nodes;
  const read = new Set(g.output.map((v) => v.name));
  for (const n of nodes) for (const i of n.input) if (i) read.add(i);
  g.initializer = [...g.initializer, ...newInits].filter((t) => read.has(t.name));
  g.input = g.input.filter((v) => !inits.has(v.name) || read.has(v.name));
  g.valueInfo = [];
  model.producerName = 'sparrow make-qoperator --dynamic';
  return { bytes: onnx.ModelProto.encode(model).finish(), report };
}

async function main(argv) {
  const args = argv.slice(2);
  const bool = (name) => {
    const i = args.indexOf(name);
    if (i >= 0) args.splice(i, 1);
    return i >= 0;
  };
  const flag = (name) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const json = bool('--json');
  const dynamic = bool('--dynamic');
  const calibSpec = flag('--calib');
  const mean = flag('--mean')?.split(',').map(Number);
  const std = flag('--std')?.split(',').map(Number);
  const activations = flag('--activations') ?? 'uint8';
  const perTensor = bool('--per-tensor');
  const [inPath, outPath] = args;
  if (!inPath || !outPath) {
    process.stderr.write(
      'usage: node scripts/make-qoperator.mjs <qdq.onnx> <out.onnx> [--json]\n' +
        '       node scripts/make-qoperator.mjs <model.onnx> <out.onnx> --calib cifar10:<file>[:from:count] [--mean … --std … --activations uint8|int8 --per-tensor]\n' +
        '       node scripts/make-qoperator.mjs <model.onnx> <out.onnx> --dynamic\n',
    );
    process.exit(2);
  }
  let bytes = new Uint8Array(readFileSync(inPath));
  let result;
  if (dynamic) result = makeDynamic(bytes);
  else {
    if (calibSpec) {
      const [kind, path, from, count] = calibSpec.split(':');
      if (kind !== 'cifar10') throw new Error(`--calib ${calibSpec}: expected cifar10:<file>[:from:count]`);
      const m = onnx.ModelProto.decode(bytes);
      const initNames = new Set(m.graph.initializer.map((t) => t.name));
      const inputName = m.graph.input.find((v) => !initNames.has(v.name)).name;
      const calib = cifar10Feeds(new Uint8Array(readFileSync(path)), inputName, Number(from ?? 0), Number(count ?? 32), mean, std);
      bytes = (await makeQdq(bytes, calib, { activations, perChannel: !perTensor })).bytes;
    }
    result = makeQOperator(bytes);
  }
  writeFileSync(outPath, result.bytes);
  process.stdout.write(json ? `${JSON.stringify(result.report, null, 2)}\n` : `${outPath}: ${JSON.stringify(result.report)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv).catch((e) => {
    process.stderr.write(`make-qoperator: ${e.message}\n`);
    process.exit(1);
  });
}
