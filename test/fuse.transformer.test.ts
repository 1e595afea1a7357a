// The transformer fusions (src/ir/fuse_patterns.ts, fuse_attention.ts) on small built models, in
// every form the patterns accept and in near misses they must refuse. Each model runs on:
//   - the reference engine (the unfused graph: the oracle), within 1e-5 relative (Gelu: the fused
//     kernel computes x·(1/√2) where a chain may divide by √2, and its own erf: ≤ 2e-6 + 2e-6·|y|);
//   - sparrow-f32 fused and sparrow-f32 with `fuse: { patterns: false }`: the norms and the
//     attention give the same bits (their kernels compute the unfused kernels' operations);
// and the fused plan's report must count exactly the expected fusions (near misses: none).
import { describe, expect, it, beforeAll } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel, type BuildModel, type BuildNode } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { Session } from '../src/runtime/session.js';
import { F32Engine } from '../src/runtime/engine_f32.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import { lcg } from './helpers/tensors.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const numel = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);
const f32 = (v: number[] | Float32Array, dims: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
const sc = (v: number): Tensor => f32([v], []);
const i64 = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v, BigInt) });
const rnd = (dims: number[], seed: number, lo = -1, hi = 1): Tensor => {
  const r = lcg(seed);
  return f32(
    Array.from({ length: numel(dims) }, () => lo + (hi - lo) * r()),
    dims,
  );
};

interface Net {
  nodes: BuildNode[];
  feeds: Record<string, Tensor>;
  inits?: Record<string, Tensor>;
  outputs?: string[];
  opset?: number;
}

function build(n: Net): Uint8Array {
  const m: BuildModel = {
    nodes: n.nodes,
    inputs: Object.entries(n.feeds).map(([name, t]) => ({ name, dtype: t.dtype, dims: t.dims })),
    outputs: (n.outputs ?? ['y']).map((name) => ({ name, dtype: 'float32' as TensorDType, dims: null })),
    initializers: n.inits ?? {},
    opsets: { '': n.opset ?? 17 },
  };
  return buildModel(m);
}

type Counts = Partial<Record<'layerNorms' | 'rmsNorms' | 'gelus' | 'attention' | 'activations', number>>;

/** Runs n three ways (header); `exact`: fused = unfused bit for bit. Returns the fused report. */
async function check(n: Net, want: Counts, opts: { exact?: boolean; atol?: number; rtol?: number } = {}): Promise<void> {
  const bytes = build(n);
  const ref = await (await Session.fromOnnx(bytes)).run(n.feeds);
  const fused = new F32Engine(importOnnx(bytes), { wasmModule });
  const unfused = new F32Engine(importOnnx(bytes), { wasmModule, fuse: { patterns: false } });
  const a = await fused.run(n.feeds),
    b = await unfused.run(n.feeds);
  const rep = fused.fuse as unknown as Record<string, number>;
  for (const k of ['layerNorms', 'rmsNorms', 'gelus', 'attention'] as const) expect(rep[k] ?? 0, k).toBe(want[k] ?? 0);
  if (want.activations !== undefined) expect(rep['activations']).toBe(want.activations);
  expect(fused.fallbackOps).toEqual([]);
  const atol = opts.atol ?? 1e-6,
    rtol = opts.rtol ?? 1e-5;
  for (const [k, r] of Object.entries(ref)) {
    const x = a[k]!.data as Float32Array,
      y = b[k]!.data as Float32Array,
      z = r.data as Float32Array;
    expect(a[k]!.dims).toEqual(r.dims);
    for (let i = 0; i < z.length; i++) {
      if (opts.exact)
        expect(Object.is(x[i], y[i]) || (Number.isNaN(x[i]!) && Number.isNaN(y[i]!)), `${k}[${i}] fused ${x[i]} unfused ${y[i]}`).toBe(
          true,
        );
      expect(
        Math.abs(x[i]! - z[i]!) <= atol + rtol * Math.abs(z[i]!) || (Number.isNaN(x[i]!) && Number.isNaN(z[i]!)),
        `${k}[${i}] fused ${x[i]} ref ${z[i]}`,
      ).toBe(true);
    }
  }
}

// ---- LayerNorm -------------------------------------------------------------------------------

function layerNorm(o: {
  pow?: number;
  axes?: number[];
  eps?: Tensor;
  w?: Tensor | null;
  b?: Tensor | null;
  dOut?: boolean;
  opset?: number;
}): Net {
  const C = 16;
  const axesAttr: Record<string, number[]> = o.opset && o.opset >= 18 ? {} : { axes: o.axes ?? [-1] };
  const axesIn = o.opset && o.opset >= 18 ? ['ax'] : [];
  const nodes: BuildNode[] = [
    { op: 'ReduceMean', inputs: ['x', ...axesIn], outputs: ['m'], attrs: axesAttr },
    { op: 'Sub', inputs: ['x', 'm'], outputs: ['d'] },
    { op: 'Pow', inputs: ['d', 'two'], outputs: ['d2'] },
    { op: 'ReduceMean', inputs: ['d2', ...axesIn], outputs: ['v'], attrs: axesAttr },
    { op: 'Add', inputs: ['v', 'eps'], outputs: ['ve'] },
    { op: 'Sqrt', inputs: ['ve'], outputs: ['s'] },
    { op: 'Div', inputs: ['d', 's'], outputs: ['n'] },
  ];
  let last = 'n';
  const inits: Record<string, Tensor> = { two: sc(o.pow ?? 2), eps: o.eps ?? sc(1e-5), ax: i64(o.axes ?? [-1]) };
  if (o.w !== null) {
    nodes.push({ op: 'Mul', inputs: [last, 'w'], outputs: ['nw'] });
    inits['w'] = o.w ?? rnd([C], 2, 0.5, 1.5);
    last = 'nw';
  }
  if (o.b !== null) {
    nodes.push({ op: 'Add', inputs: [last, 'b'], outputs: ['nb'] });
    inits['b'] = o.b ?? rnd([C], 3);
    last = 'nb';
  }
  nodes.push({ op: 'Relu', inputs: [last], outputs: ['y'] });
  return { nodes, feeds: { x: rnd([2, 5, C], 1, -3, 5) }, inits, outputs: o.dOut ? ['y', 'd'] : ['y'], opset: o.opset ?? 17 };
}

// ---- RMSNorm ---------------------------------------------------------------------------------

function rmsNorm(o: { square?: 'pow' | 'mul'; inv?: 'div1' | 'recip' | 'divx' | 'div2'; w?: boolean; axes?: number[] }): Net {
  const nodes: BuildNode[] = [
    o.square === 'mul' ? { op: 'Mul', inputs: ['x', 'x'], outputs: ['x2'] } : { op: 'Pow', inputs: ['x', 'two'], outputs: ['x2'] },
    {
      op: 'ReduceMean',
      inputs: ['x2'],
      outputs: ['q'],
      attrs: { axes: o.axes ?? [-1] },
    },
    { op: 'Add', inputs: ['eps', 'q'], outputs: ['qe'] },
    { op: 'Sqrt', inputs: ['qe'], outputs: ['s'] },
  ];
  const inv = o.inv ?? 'div1';
  if (inv === 'divx') nodes.push({ op: 'Div', inputs: ['x', 's'], outputs: ['n'] });
  else {
    if (inv === 'recip') nodes.push({ op: 'Reciprocal', inputs: ['s'], outputs: ['r'] });
    else nodes.push({ op: 'Div', inputs: [inv === 'div2' ? 'two' : 'one', 's'], outputs: ['r'] });
    nodes.push({ op: 'Mul', inputs: ['x', 'r'], outputs: ['n'] });
  }
  if (o.w !== false) nodes.push({ op: 'Mul', inputs: ['w', 'n'], outputs: ['y'] });
  else nodes.push({ op: 'Identity', inputs: ['n'], outputs: ['y'] });
  return {
    nodes,
    feeds: { x: rnd([3, 4, 24], 4, -2, 2) },
    inits: { two: sc(2), one: sc(1), eps: sc(1e-5), w: rnd([24], 5, 0.5, 1.5) },
  };
}

// ---- Gelu ------------------------------------------------------------------------------------

function gelu(o: {
  form: 'erf' | 'tanh';
  order?: 0 | 1 | 2;
  arg?: 'div' | 'mul';
  k?: number;
  cube?: 'pow' | 'mul';
  one?: number;
  matmul?: boolean;
}): Net {
  const nodes: BuildNode[] = [];
  const inits: Record<string, Tensor> = { half: sc(0.5), one: sc(o.one ?? 1) };
  let x = 'x';
  if (o.matmul) {
    nodes.push({ op: 'MatMul', inputs: ['x', 'W'], outputs: ['h'] });
    inits['W'] = rnd([12, 10], 9);
    x = 'h';
  }
  if (o.form === 'erf') {
    if (o.arg === 'mul') nodes.push({ op: 'Mul', inputs: [x, 'k'], outputs: ['u'] });
    else nodes.push({ op: 'Div', inputs: [x, 'k'], outputs: ['u'] });
    inits['k'] = sc(o.k ?? (o.arg === 'mul' ? Math.SQRT1_2 : Math.SQRT2));
    nodes.push({ op: 'Erf', inputs: ['u'], outputs: ['e'] });
  } else {
    if (o.cube === 'mul') {
      nodes.push({ op: 'Mul', inputs: [x, x], outputs: ['x2'] });
      nodes.push({ op: 'Mul', inputs: [x, 'x2'], outputs: ['x3'] });
    } else nodes.push({ op: 'Pow', inputs: [x, 'three'], outputs: ['x3'] });
    nodes.push({ op: 'Mul', inputs: ['c1', 'x3'], outputs: ['cx3'] });
    nodes.push({ op: 'Add', inputs: [x, 'cx3'], outputs: ['inner'] });
    nodes.push({ op: 'Mul', inputs: ['inner', 'c2'], outputs: ['u'] });
    nodes.push({ op: 'Tanh', inputs: ['u'], outputs: ['e'] });
    Object.assign(inits, { three: sc(3), c1: sc(0.044715), c2: sc(o.k ?? Math.sqrt(2 / Math.PI)) });
  }
  nodes.push({ op: 'Add', inputs: ['one', 'e'], outputs: ['a'] });
  const order = o.order ?? 0;
  if (order === 0) nodes.push({ op: 'Mul', inputs: [x, 'a'], outputs: ['xa'] }, { op: 'Mul', inputs: ['xa', 'half'], outputs: ['y'] });
  else if (order === 1) nodes.push({ op: 'Mul', inputs: ['half', x], outputs: ['hx'] }, { op: 'Mul', inputs: ['a', 'hx'], outputs: ['y'] });
  else nodes.push({ op: 'Mul', inputs: ['a', 'half'], outputs: ['ah'] }, { op: 'Mul', inputs: [x, 'ah'], outputs: ['y'] });
  return { nodes, feeds: { x: rnd(o.matmul ? [7, 12] : [4, 33], 8, -5, 5) }, inits, opset: 14 };
}

// ---- attention -------------------------------------------------------------------------------

/** [B, H, T, d] Q, K, V fed; MatMul(Q, Kᵀ) → scale → mask → Softmax → MatMul(·, V). */
function attention(o: {
  scale?: 'div' | 'mul' | 'none' | 'vector';
  mask?: 'add' | 'addFirst' | 'where' | 'whereFalse' | 'none';
  axis?: number;
  sOut?: boolean;
  outT?: boolean;
  Tq?: number;
  /** V's head size (default d) */
  dv?: number;
}): Net {
  const [B, H, Tq, Tk, d] = [2, 3, o.Tq ?? 5, 6, 8];
  const dv = o.dv ?? d;
  const nodes: BuildNode[] = [
    { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attrs: { perm: [0, 1, 3, 2] } },
    { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
  ];
  const inits: Record<string, Tensor> = { c: sc(Math.sqrt(d)), cv: rnd([Tk], 3, 0.5, 1), fill: sc(-1e9) };
  const feeds: Record<string, Tensor> = { q: rnd([B, H, Tq, d], 11), k: rnd([B, H, Tk, d], 12), v: rnd([B, H, Tk, dv], 13) };
  let cur = 's';
  const scale = o.scale ?? 'div';
  if (scale === 'div') nodes.push({ op: 'Div', inputs: [cur, 'c'], outputs: ['ss'] });
  else if (scale === 'mul') nodes.push({ op: 'Mul', inputs: ['c', cur], outputs: ['ss'] });
  else if (scale === 'vector') nodes.push({ op: 'Mul', inputs: [cur, 'cv'], outputs: ['ss'] });
  if (scale !== 'none') cur = 'ss';
  const mask = o.mask ?? 'add';
  if (mask === 'add' || mask === 'addFirst') {
    feeds['m'] = rnd([B, 1, 1, Tk], 14, -3, 0);
    nodes.push({ op: 'Add', inputs: mask === 'add' ? [cur, 'm'] : ['m', cur], outputs: ['sm'] });
    cur = 'sm';
  } else if (mask === 'where' || mask === 'whereFalse') {
    const r = lcg(15);
    feeds['mb'] = {
      dtype: 'bool',
      dims: [1, 1, Tq, Tk],
      data: Uint8Array.from({ length: Tq * Tk }, (_, i) => (i % Tk === 0 || r() < 0.6 ? 1 : 0)),
    };
    nodes.push({ op: 'Where', inputs: mask === 'where' ? ['mb', cur, 'fill'] : ['mb', 'fill', cur], outputs: ['sm'] });
    cur = 'sm';
  }
  nodes.push({ op: 'Softmax', inputs: [cur], outputs: ['p'], attrs: { axis: o.axis ?? -1 } });
  nodes.push({ op: 'MatMul', inputs: ['p', 'v'], outputs: [o.outT ? 'o' : 'y'] });
  if (o.outT) {
    nodes.push({ op: 'Transpose', inputs: ['o'], outputs: ['ot'], attrs: { perm: [0, 2, 1, 3] } });
    nodes.push({ op: 'Reshape', inputs: ['ot', 'shape'], outputs: ['y'] });
    inits['shape'] = i64([B, Tq, H * dv]);
  }
  return { nodes, feeds, inits, outputs: o.sOut ? ['y', 's'] : ['y'] };
}

/** bert-tiny's self-attention: QKV [T, 1, 3E] sliced, heads in [T, BH, hd], Q / √hd, output back to [T, E]. */
function bertAttention(): Net {
  const [T, H, hd] = [7, 2, 4];
  const E = H * hd;
  const nodes: BuildNode[] = [
    { op: 'MatMul', inputs: ['x', 'Wqkv'], outputs: ['qkv'] },
    { op: 'Slice', inputs: ['qkv', 's0', 's1', 'ax2'], outputs: ['q0'] },
    { op: 'Slice', inputs: ['qkv', 's1', 's2', 'ax2'], outputs: ['k0'] },
    { op: 'Slice', inputs: ['qkv', 's2', 's3', 'ax2'], outputs: ['v0'] },
    { op: 'Reshape', inputs: ['q0', 'hs'], outputs: ['q1'] },
    { op: 'Transpose', inputs: ['q1'], outputs: ['q2'], attrs: { perm: [1, 0, 2] } },
    { op: 'Reshape', inputs: ['k0', 'hs'], outputs: ['k1'] },
    { op: 'Reshape', inputs: ['v0', 'hs'], outputs: ['v1'] },
    { op: 'Transpose', inputs: ['v1'], outputs: ['v2'], attrs: { perm: [1, 0, 2] } },
    { op: 'Div', inputs: ['q2', 'c'], outputs: ['q3'] },
    { op: 'Transpose', inputs: ['k1'], outputs: ['kt'], attrs: { perm: [1, 2, 0] } },
    { op: 'MatMul', inputs: ['q3', 'kt'], outputs: ['s'] },
    { op: 'Mul', inputs: ['s', 'one'], outputs: ['s1x'] },
    { op: 'Add', inputs: ['s1x', 'm'], outputs: ['sm'] },
    { op: 'Softmax', inputs: ['sm'], outputs: ['p'], attrs: { axis: -1 } },
    { op: 'MatMul', inputs: ['p', 'v2'], outputs: ['o'] },
    { op: 'Transpose', inputs: ['o'], outputs: ['ot'], attrs: { perm: [1, 0, 2] } },
    { op: 'Reshape', inputs: ['ot', 'es'], outputs: ['oe'] },
    { op: 'MatMul', inputs: ['oe', 'Wo'], outputs: ['y'] },
  ];
  return {
    nodes,
    feeds: { x: rnd([T, 1, E], 21), m: f32([0, 0, -1e4, 0, 0, 0, -1e4, 0, 0, 0, 0, 0, -1e4, 0], [H, 1, T]) },
    inits: {
      Wqkv: rnd([E, 3 * E], 22),
      Wo: rnd([E, E], 23),
      s0: i64([0]),
      s1: i64([E]),
      s2: i64([2 * E]),
      s3: i64([3 * E]),
      ax2: i64([2]),
      hs: i64([T, H, hd]),
      es: i64([T, E]),
      c: sc(Math.sqrt(hd)),
      one: sc(1),
    },
  };
}

/** Llama's grouped-query attention: K / V heads repeated by Unsqueeze → Expand → Reshape, a bool causal mask through Where. */
function gqaAttention(Tq: number, P: number): Net {
  const [KVH, rep, d] = [2, 2, 8];
  const Tk = P + Tq,
    H = KVH * rep;
  const nodes: BuildNode[] = [
    { op: 'Concat', inputs: ['pk', 'k'], outputs: ['kc'], attrs: { axis: 2 } },
    { op: 'Concat', inputs: ['pv', 'v'], outputs: ['vc'], attrs: { axis: 2 } },
    { op: 'Unsqueeze', inputs: ['kc', 'a2'], outputs: ['ku'] },
    { op: 'Expand', inputs: ['ku', 'es'], outputs: ['ke'] },
    { op: 'Reshape', inputs: ['ke', 'rs'], outputs: ['kr'] },
    { op: 'Unsqueeze', inputs: ['vc', 'a2'], outputs: ['vu'] },
    { op: 'Expand', inputs: ['vu', 'es'], outputs: ['ve'] },
    { op: 'Reshape', inputs: ['ve', 'rs'], outputs: ['vr'] },
    { op: 'Transpose', inputs: ['kr'], outputs: ['kt'], attrs: { perm: [0, 1, 3, 2] } },
    { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
    { op: 'Div', inputs: ['s', 'c'], outputs: ['ss'] },
    { op: 'Where', inputs: ['causal', 'ss', 'fill'], outputs: ['sm'] },
    { op: 'Softmax', inputs: ['sm'], outputs: ['p'], attrs: { axis: -1 } },
    { op: 'MatMul', inputs: ['p', 'vr'], outputs: ['o'] },
    { op: 'Transpose', inputs: ['o'], outputs: ['ot'], attrs: { perm: [0, 2, 1, 3] } },
    { op: 'Reshape', inputs: ['ot', 'os'], outputs: ['y'] },
  ];
  const causal = Uint8Array.from({ length: Tq * Tk }, (_, i) => (i % Tk <= P + Math.floor(i / Tk) ? 1 : 0));
  return {
    nodes,
    feeds: {
      q: rnd([1, H, Tq, d], 31),
      k: rnd([1, KVH, Tq, d], 32),
      v: rnd([1, KVH, Tq, d], 33),
      pk: rnd([1, KVH, P, d], 34),
      pv: rnd([1, KVH, P, d], 35),
    },
    inits: {
      a2: i64([2]),
      es: i64([1, KVH, rep, Tk, d]),
      rs: i64([1, H, Tk, d]),
      os: i64([1, Tq, H * d]),
      c: sc(Math.sqrt(d)),
      fill: sc(-3.4028234663852886e38),
      causal: { dtype: 'bool', dims: [1, 1, Tq, Tk], data: causal },
    },
    outputs: ['y', 'kc', 'vc'],
  };
}

describe('transformer fusions: built models vs the unfused engine and the reference', () => {
  it('LayerNorm chains fuse (weights, bias, either, none; axes attribute and input), bit for bit with the unfused engine', async () => {
    await check(layerNorm({}), { layerNorms: 1 }, { exact: true });
    await check(layerNorm({ w: null }), { layerNorms: 1 }, { exact: true });
    await check(layerNorm({ b: null, w: rnd([1, 1, 16], 6, 0.5, 1.5) }), { layerNorms: 1 }, { exact: true });
    await check(layerNorm({ w: null, b: null }), { layerNorms: 1 }, { exact: true });
    await check(layerNorm({ opset: 18 }), { layerNorms: 1 }, { exact: true });
    await check(layerNorm({ axes: [2] }), { layerNorms: 1 }, { exact: true });
  });

  it('LayerNorm near misses stay unfused: Pow 3, a mean over another axis, ε not a scalar, the difference read elsewhere', async () => {
    await check(layerNorm({ pow: 3 }), {});
    await check(layerNorm({ axes: [1] }), {});
    await check(layerNorm({ eps: rnd([16], 7, 1e-6, 1e-5) }), {});
    // the difference d also an output: no LayerNorm, but its tail d / √(mean(d²) + ε) is an RMSNorm of d
    await check(layerNorm({ dOut: true }), { rmsNorms: 1 }, { exact: true });
    // a weight varying along another axis: the chain fuses up to the Div, the Mul stays
    await check(layerNorm({ w: rnd([5, 1], 8, 0.5, 1.5), b: null }), { layerNorms: 1 }, { exact: true });
  });

  it('RMSNorm chains fuse (Pow or x·x; 1/s then ·x, Reciprocal, x/s; with and without a weight), bit for bit', async () => {
    await check(rmsNorm({}), { rmsNorms: 1 }, { exact: true });
    await check(rmsNorm({ square: 'mul' }), { rmsNorms: 1 }, { exact: true });
    await check(rmsNorm({ inv: 'recip' }), { rmsNorms: 1 }, { exact: true });
    await check(rmsNorm({ inv: 'divx' }), { rmsNorms: 1 }, { exact: true });
    await check(rmsNorm({ w: false }), { rmsNorms: 1 }, { exact: true });
  });

  it('RMSNorm near misses stay unfused: 2/s, the mean over another axis or over two', async () => {
    await check(rmsNorm({ inv: 'div2' }), {});
    await check(rmsNorm({ axes: [1] }), {});
    await check(rmsNorm({ axes: [1, 2] }), {});
  });

  it('Gelu chains fuse (erf: x/√2 or x·(1/√2), the three orders of 0.5·x·(1+erf); tanh: Pow or x·x·x) and fold into the MatMul before them', async () => {
    const tol = { atol: 2e-6, rtol: 2e-6 };
    for (const order of [0, 1, 2] as const) {
      await check(gelu({ form: 'erf', order }), { gelus: 1 }, tol);
      await check(gelu({ form: 'erf', order, arg: 'mul' }), { gelus: 1 }, tol);
      await check(gelu({ form: 'tanh', order }), { gelus: 1 }, tol);
    }
    await check(gelu({ form: 'tanh', cube: 'mul' }), { gelus: 1 }, tol);
    await check(gelu({ form: 'erf', matmul: true }), { gelus: 1, activations: 1 }, tol);
    await check(gelu({ form: 'tanh', matmul: true, order: 2 }), { gelus: 1, activations: 1 }, tol);
  });

  it('Gelu near misses stay unfused: x/1.5, 2 + erf, a tanh constant off by one float32 ulp', async () => {
    await check(gelu({ form: 'erf', k: 1.5 }), {});
    await check(gelu({ form: 'erf', one: 2 }), {});
    const next = new Float32Array([Math.sqrt(2 / Math.PI)]);
    new Int32Array(next.buffer)[0]! += 1;
    await check(gelu({ form: 'tanh', k: next[0]! }), {});
  });

  it('attention fuses with every scale and mask form, its output through Transpose + Reshape, bit for bit with the unfused engine', async () => {
    for (const scale of ['div', 'mul', 'none'] as const)
      for (const mask of ['add', 'addFirst', 'where', 'whereFalse', 'none'] as const) {
        await check(attention({ scale, mask }), { attention: 1 }, { exact: true });
      }
    await check(attention({ outT: true }), { attention: 1 }, { exact: true });
    await check(attention({ outT: true, dv: 5 }), { attention: 1 }, { exact: true }); // V's head size ≠ Q's and K's
    await check(attention({ dv: 11, mask: 'where' }), { attention: 1 }, { exact: true });
    await check(attention({ Tq: 1, outT: true, mask: 'where' }), { attention: 1 }, { exact: true });
    await check(attention({ Tq: 70 }), { attention: 1 }, { exact: true }); // several tiles of query rows
  });

  it('attention as bert-tiny exports it (QKV sliced, heads transposed, Q / √d, mask [BH, 1, T]) and as Llama does (GQA through Expand, bool causal mask, KV cache)', async () => {
    await check(bertAttention(), { attention: 1 }, { exact: true });
    for (const [Tq, P] of [
      [5, 0],
      [1, 7],
      [3, 4],
    ] as const)
      await check(gqaAttention(Tq, P), { attention: 1 }, { exact: true });
  });

  it('attention near misses stay unfused: Softmax over another axis, a vector scale, the scores read elsewhere', async () => {
    await check(attention({ axis: 2 }), {});
    await check(attention({ scale: 'vector' }), {});
    await check(attention({ sOut: true }), {});
  });
});
