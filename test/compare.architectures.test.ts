// Architectures beyond the zoo, built here with seeded random weights (a 1-D conv audio
// classifier with Softmax, a ShuffleNet-like net: grouped convs, Split, channel shuffle, Concat; a
// ConvNeXt-like net: 7x7 depthwise, LayerNormalization, GELU through Erf, MatMul, layer scale; a
// U-Net-like segmenter: MaxPool, AveragePool without pad counting, ConvTranspose, nearest Resize,
// Concat skips; a super-resolution net: PRelu, DepthToSpace, Tanh; a VGG-like net: InstanceNorm,
// ceil-mode MaxPool, a HardSigmoid squeeze-excitation, large FCs), through src/bench/compare.ts
// against onnxruntime-node on 20 seeded inputs uniform [-1, 1):
//   sparrow-f32 within 1e-4 (|d| <= 1e-4·|ort| + 1e-5·max|ort|) on every output element;
//   sparrow-int8 (dynamic) argmax agreement >= 95 % over the class axis, or, for an output without
//   one (the super-resolution image), max|d| / max|ort| <= 2e-2.
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, f32, type BuildNode } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { runCompare } from '../src/bench/compare.js';
import { openEngine } from '../src/runtime/ort.js';
import type { Tensor } from '../src/ops/types.js';
import { mulberry32 } from '../src/util/rng.js';

type Inits = Record<string, Tensor>;
type A = Record<string, number | number[] | string>;
const rnd = mulberry32(5);
const W = (dims: number[], s: number): Tensor =>
  f32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rnd() * 2 - 1) * s),
  );
let k = 0;
const nm = (p: string): string => `${p}${k++}`;
function conv(
  nodes: BuildNode[],
  inits: Inits,
  x: string,
  cin: number,
  cout: number,
  ks: number,
  attrs: A = {},
  group = 1,
  dims = 2,
): string {
  const w = nm('w'),
    b = nm('b'),
    y = nm('c');
  inits[w] = W([cout, cin / group, ...Array(dims).fill(ks)], 1.5 / Math.sqrt((cin / group) * ks ** dims));
  inits[b] = W([cout], 0.1);
  nodes.push({ op: 'Conv', inputs: [x, w, b], outputs: [y], attrs: { group, ...attrs } });
  return y;
}
function bn(nodes: BuildNode[], inits: Inits, x: string, c: number): string {
  const s = nm('s'),
    b = nm('b'),
    m = nm('m'),
    v = nm('v'),
    y = nm('bn');
  inits[s] = W([c], 1);
  inits[b] = W([c], 0.2);
  inits[m] = W([c], 0.1);
  inits[v] = f32(
    [c],
    Array.from({ length: c }, () => 0.5 + rnd()),
  );
  nodes.push({ op: 'BatchNormalization', inputs: [x, s, b, m, v], outputs: [y] });
  return y;
}
function un(nodes: BuildNode[], op: string, x: string, attrs?: A): string {
  const y = nm(op);
  nodes.push({ op, inputs: [x], outputs: [y], ...(attrs ? { attrs } : {}) });
  return y;
}
function bin(nodes: BuildNode[], op: string, a: string, b: string): string {
  const y = nm(op);
  nodes.push({ op, inputs: [a, b], outputs: [y] });
  return y;
}
function head(nodes: BuildNode[], inits: Inits, x: string, c: number, classes: number): void {
  const p = un(nodes, 'GlobalAveragePool', x);
  const f = un(nodes, 'Flatten', p);
  const w = nm('fw'),
    b = nm('fb');
  inits[w] = W([classes, c], 1 / Math.sqrt(c));
  inits[b] = W([classes], 0.1);
  nodes.push({ op: 'Gemm', inputs: [f, w, b], outputs: ['logits'], attrs: { transB: 1 } });
}
const models: Record<string, { n: BuildNode[]; i: Inits; input: number[] }> = {};
{
  // 1-D conv audio model
  const n: BuildNode[] = [],
    i: Inits = {};
  let x = 'x';
  x = conv(n, i, x, 1, 16, 9, { strides: [4], pads: [4, 4] }, 1, 1);
  x = bn(n, i, x, 16);
  x = un(n, 'Relu', x);
  x = un(n, 'MaxPool', x, { kernel_shape: [4], strides: [4] });
  x = conv(n, i, x, 16, 32, 3, { pads: [1, 1], dilations: [1] }, 1, 1);
  x = bn(n, i, x, 32);
  x = un(n, 'Relu', x);
  x = conv(n, i, x, 32, 32, 3, { pads: [2, 2], dilations: [2] }, 1, 1);
  x = un(n, 'LeakyRelu', x, { alpha: 0.1 });
  const p = un(n, 'GlobalAveragePool', x);
  const f = un(n, 'Flatten', p);
  i.fw = W([10, 32], 0.3);
  i.fb = W([10], 0.1);
  n.push({ op: 'Gemm', inputs: [f, 'fw', 'fb'], outputs: ['z'], attrs: { transB: 1 } });
  n.push({ op: 'Softmax', inputs: ['z'], outputs: ['logits'], attrs: { axis: 1 } });
  models['conv1d-audio'] = { n, i, input: [1, 1, 4000] };
}
{
  // shufflenet-like: grouped conv, channel shuffle, concat, split
  const n: BuildNode[] = [],
    i: Inits = {};
  let x = 'x';
  x = conv(n, i, x, 3, 24, 3, { strides: [2, 2], pads: [1, 1, 1, 1] });
  x = un(n, 'Relu', x);
  x = un(n, 'MaxPool', x, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  for (let b = 0; b < 3; b++) {
    const s1 = nm('sp'),
      s2 = nm('sp');
    i[s1 + 'split'] = { dtype: 'int64', dims: [2], data: BigInt64Array.from([12n, 12n]) };
    n.push({ op: 'Split', inputs: [x, s1 + 'split'], outputs: [s1, s2], attrs: { axis: 1 } });
    let y = conv(n, i, s2, 12, 12, 1);
    y = un(n, 'Relu', y);
    y = conv(n, i, y, 12, 12, 3, { pads: [1, 1, 1, 1] }, 12);
    y = bn(n, i, y, 12);
    y = conv(n, i, y, 12, 12, 1, {}, 2);
    y = un(n, 'Relu', y);
    const cat = nm('cat');
    n.push({ op: 'Concat', inputs: [s1, y], outputs: [cat], attrs: { axis: 1 } });
    const sh1 = nm('shape');
    i[sh1] = { dtype: 'int64', dims: [5], data: BigInt64Array.from([1n, 2n, 12n, 16n, 16n]) };
    const r1 = bin(n, 'Reshape', cat, sh1);
    const t = un(n, 'Transpose', r1, { perm: [0, 2, 1, 3, 4] });
    const sh2 = nm('shape');
    i[sh2] = { dtype: 'int64', dims: [4], data: BigInt64Array.from([1n, 24n, 16n, 16n]) };
    x = bin(n, 'Reshape', t, sh2);
  }
  head(n, i, x, 24, 100);
  models['shufflenet-like'] = { n, i, input: [1, 3, 64, 64] };
}
{
  // convnext-like: 7x7 depthwise, LayerNorm (channels last via Transpose), GELU (Erf), layer scale, residual
  const n: BuildNode[] = [],
    i: Inits = {};
  let x = 'x';
  x = conv(n, i, x, 3, 32, 4, { strides: [4, 4] });
  for (let b = 0; b < 2; b++) {
    let y = conv(n, i, x, 32, 32, 7, { pads: [3, 3, 3, 3] }, 32);
    y = un(n, 'Transpose', y, { perm: [0, 2, 3, 1] });
    const g = nm('g'),
      be = nm('be');
    i[g] = W([32], 1);
    i[be] = W([32], 0.1);
    const ln = nm('ln');
    n.push({ op: 'LayerNormalization', inputs: [y, g, be], outputs: [ln], attrs: { axis: -1, epsilon: 1e-6 } });
    const w1 = nm('w'),
      b1 = nm('b');
    i[w1] = W([32, 128], 0.2);
    i[b1] = W([128], 0.1);
    let h = bin(n, 'MatMul', ln, w1);
    h = bin(n, 'Add', h, b1);
    // GELU via Erf
    const sq = nm('c');
    i[sq] = f32([], [Math.SQRT1_2]);
    const half = nm('c');
    i[half] = f32([], [0.5]);
    const one = nm('c');
    i[one] = f32([], [1]);
    const e = un(n, 'Erf', bin(n, 'Mul', h, sq));
    h = bin(n, 'Mul', bin(n, 'Mul', h, bin(n, 'Add', e, one)), half);
    const w2 = nm('w'),
      b2 = nm('b');
    i[w2] = W([128, 32], 0.1);
    i[b2] = W([32], 0.1);
    h = bin(n, 'Add', bin(n, 'MatMul', h, w2), b2);
    const ls = nm('ls');
    i[ls] = W([32], 1);
    h = bin(n, 'Mul', h, ls);
    h = un(n, 'Transpose', h, { perm: [0, 3, 1, 2] });
    x = bin(n, 'Add', x, h);
  }
  const rm = nm('rm');
  n.push({ op: 'ReduceMean', inputs: [x], outputs: [rm], attrs: { axes: [2, 3], keepdims: 0 } });
  i.fw = W([32, 50], 0.3);
  i.fb = W([50], 0.1);
  n.push({ op: 'Gemm', inputs: [rm, 'fw', 'fb'], outputs: ['logits'] });
  models['convnext-like'] = { n, i, input: [1, 3, 64, 64] };
}
{
  // unet-like: encoder, ConvTranspose + Resize decoder, concat skips, segmentation output
  const n: BuildNode[] = [],
    i: Inits = {};
  let x = 'x';
  const e1 = un(n, 'Relu', conv(n, i, x, 3, 16, 3, { pads: [1, 1, 1, 1] }));
  const p1 = un(n, 'MaxPool', e1, { kernel_shape: [2, 2], strides: [2, 2] });
  const e2 = un(n, 'Relu', conv(n, i, p1, 16, 32, 3, { pads: [1, 1, 1, 1] }));
  const p2 = un(n, 'AveragePool', e2, { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 0 });
  const e3 = un(n, 'Clip', conv(n, i, p2, 32, 64, 3, { pads: [1, 1, 1, 1] }));
  const tw = nm('tw'),
    tb = nm('tb');
  i[tw] = W([64, 32, 2, 2], 0.2);
  i[tb] = W([32], 0.1);
  const u2 = nm('up');
  n.push({ op: 'ConvTranspose', inputs: [e3, tw, tb], outputs: [u2], attrs: { strides: [2, 2] } });
  const c2 = nm('cat');
  n.push({ op: 'Concat', inputs: [u2, e2], outputs: [c2], attrs: { axis: 1 } });
  const d2 = un(n, 'Relu', conv(n, i, c2, 64, 16, 3, { pads: [1, 1, 1, 1] }));
  const sc = nm('scales');
  i[sc] = f32([4], [1, 1, 2, 2]);
  const u1 = nm('rs');
  n.push({ op: 'Resize', inputs: [d2, '', sc], outputs: [u1], attrs: { mode: 'nearest' } });
  const c1 = nm('cat');
  n.push({ op: 'Concat', inputs: [u1, e1], outputs: [c1], attrs: { axis: 1 } });
  const d1 = un(n, 'Relu', conv(n, i, c1, 32, 16, 3, { pads: [1, 1, 1, 1] }));
  const w = 'ow',
    b = 'ob';
  i[w] = W([5, 16, 1, 1], 0.5);
  i[b] = W([5], 0.1);
  n.push({ op: 'Conv', inputs: [d1, w, b], outputs: ['logits'] });
  models['unet-like'] = { n, i, input: [1, 3, 64, 64] };
}
{
  // super-resolution: DepthToSpace, PRelu, Tanh
  const n: BuildNode[] = [],
    i: Inits = {};
  let x = 'x';
  x = conv(n, i, x, 3, 32, 5, { pads: [2, 2, 2, 2] });
  const sl = nm('slope');
  i[sl] = W([32, 1, 1], 0.3);
  x = bin(n, 'PRelu', x, sl);
  x = conv(n, i, x, 32, 12, 3, { pads: [1, 1, 1, 1] });
  x = un(n, 'DepthToSpace', x, { blocksize: 2, mode: 'CRD' });
  n.push({ op: 'Tanh', inputs: [x], outputs: ['logits'] });
  models['superres-like'] = { n, i, input: [1, 3, 32, 32] };
}
{
  // vgg-ish with InstanceNorm, Dropout, big FC, HardSigmoid SE
  const n: BuildNode[] = [],
    i: Inits = {};
  let x = 'x';
  x = un(n, 'Relu', conv(n, i, x, 3, 32, 3, { pads: [1, 1, 1, 1] }));
  const s = nm('s'),
    b = nm('b');
  i[s] = W([32], 1);
  i[b] = W([32], 0.1);
  const inn = nm('in');
  n.push({ op: 'InstanceNormalization', inputs: [x, s, b], outputs: [inn] });
  x = inn;
  x = un(n, 'MaxPool', x, { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 });
  x = un(n, 'Relu', conv(n, i, x, 32, 64, 3, { pads: [1, 1, 1, 1] }));
  const se = un(n, 'HardSigmoid', conv(n, i, un(n, 'Relu', conv(n, i, un(n, 'GlobalAveragePool', x), 64, 16, 1)), 16, 64, 1));
  x = bin(n, 'Mul', x, se);
  const f = un(n, 'Flatten', un(n, 'AveragePool', x, { kernel_shape: [4, 4], strides: [4, 4] }));
  i.f1 = W([256, 64 * 4 * 4], 1 / 32);
  i.f1b = W([256], 0.1);
  n.push({ op: 'Gemm', inputs: [f, 'f1', 'f1b'], outputs: ['h'], attrs: { transB: 1 } });
  const r = un(n, 'Relu', 'h');
  i.f2 = W([20, 256], 1 / 16);
  i.f2b = W([20], 0.1);
  n.push({ op: 'Gemm', inputs: [r, 'f2', 'f2b'], outputs: ['logits'], attrs: { transB: 1 } });
  models['vgg-like'] = { n, i, input: [1, 3, 32, 32] };
}

describe('architectures beyond the zoo vs onnxruntime-node', () => {
  for (const [name, m] of Object.entries(models)) {
    it(
      name,
      async () => {
        const bytes = buildModel({
          nodes: m.n,
          inputs: [{ name: 'x', dtype: 'float32', dims: m.input }],
          outputs: [{ name: 'logits', dtype: 'float32', dims: null }],
          initializers: m.i,
          opsets: { '': 17 },
        });
        const r = await runCompare({
          model: name,
          graph: importOnnx(bytes),
          engines: ['sparrow-f32', 'sparrow-int8'],
          against: 'ort-node',
          open: (e) => openEngine(e, e as 'sparrow-f32', bytes),
          samples: 20,
          seed: 1,
        });
        const f = r.engines['sparrow-f32']!.outputs['logits']!,
          q = r.engines['sparrow-int8']!.outputs['logits']!;
        console.info(`${name} [${f.dims}]: f32 maxRel ${f.maxRel}, int8 maxRel ${q.maxRel}, argmax ${q.argmaxAgreement}`);
        expect(f.within1e4, JSON.stringify(f.worst)).toBe(true);
        if (q.classAxis === null) expect(q.maxRel!).toBeLessThanOrEqual(2e-2);
        else expect(q.argmaxAgreement!).toBeGreaterThanOrEqual(0.95);
      },
      120_000,
    );
  }
});
