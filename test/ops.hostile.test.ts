// Hostile inputs for the indexing / selection / sorting / contraction kernels and the older
// Gather, Flatten, Expand, Where: random ranks (0-4), dims (0-3), dtypes (wrong ones too), index
// values far out of range (±size, ±2^31, ±2^53, ±2^62...), bogus attributes and equations.
// Property: every kernel call either returns well-formed tensors or throws
// SparrowError('invalid_model') naming the node: never another error, and never a read outside
// an input (input arrays are wrapped in a Proxy that throws on such a read). When the kernel
// succeeds, its shape function, given the same inputs as constants, must agree with it.
// A second property plants one out-of-range index in otherwise valid inputs: always refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SparrowError } from '../src/errors.js';
import { resolveOp } from '../src/ops/registry.js';
import { MAX_OUTPUT_ELEMENTS } from '../src/ops/ref/elements.js';
import type { AttrValue, Tensor, TensorData, TensorDType } from '../src/ops/types.js';
import { indexTensor, lcg, randomTensor } from './helpers/op_oracle.js';

const DTYPES: TensorDType[] = ['float32', 'int64', 'int32', 'int8', 'uint8', 'bool'];
const HUGE = [2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 53, -(2 ** 53), 2 ** 62, -(2 ** 62)];

/** A typed array view that throws on any element read outside [0, length). */
function guarded(data: TensorData): TensorData {
  return new Proxy(data, {
    get(target, key, receiver) {
      if (typeof key === 'string') {
        const n = Number(key);
        if (key !== '' && String(n) === key && !(Number.isInteger(n) && n >= 0 && n < target.length)) {
          throw new Error(`out-of-bounds read of element ${key} of a ${target.length}-element input`);
        }
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v === target ? receiver : v;
    },
  });
}

type Rng = () => number;
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

function randomDims(r: Rng, maxRank = 4): number[] {
  return Array.from({ length: int(r, 0, maxRank) }, () => int(r, 0, 3));
}

/** Index values: mostly near the dims, some far out of range. */
function hostileIndex(r: Rng, dims: number[], dtype: 'int64' | 'int32' = r() < 0.7 ? 'int64' : 'int32'): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const v = Array.from({ length: n }, () => {
    const x = r() < 0.15 ? pick(r, HUGE) : int(r, -5, 5);
    return dtype === 'int32' ? Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, x)) : x;
  });
  return indexTensor(dtype, dims, v);
}

function anyTensor(r: Rng, dims = randomDims(r)): Tensor {
  const dtype = pick(r, DTYPES);
  return randomTensor(dtype, dims, Math.floor(r() * 2 ** 31));
}

/** A tensor that is usually an index tensor, sometimes of another dtype. */
function indexLike(r: Rng, dims = randomDims(r)): Tensor {
  return r() < 0.85 ? hostileIndex(r, dims) : anyTensor(r, dims);
}

interface Case {
  op: string;
  opset: number;
  inputs: Array<Tensor | undefined>;
  attrs: Record<string, AttrValue>;
}

type AttrMap = Record<string, AttrValue>;

/** Random in-range index values for an axis of `size` (negative ones too). */
function validIndex(r: Rng, dims: number[], size: (pos: number) => number, dtype: 'int64' | 'int32' = 'int64'): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return indexTensor(
    dtype,
    dims,
    Array.from({ length: n }, (_, i) => int(r, -size(i), size(i) - 1)),
  );
}

const dimsOf = (r: Rng, minRank: number, maxRank: number, minDim = 1): number[] =>
  Array.from({ length: int(r, minRank, maxRank) }, () => int(r, minDim, 3));
const dataOf = (r: Rng, dims: number[]): Tensor => randomTensor(pick(r, DTYPES), dims, int(r, 0, 1e6));
const f32Of = (r: Rng, dims: number[]): Tensor => randomTensor('float32', dims, int(r, 0, 1e6));

/** Valid index/update inputs for GatherElements / ScatterElements. */
function elementsArgs(r: Rng) {
  const dims = dimsOf(r, 1, 3);
  const axis = int(r, 0, dims.length - 1);
  const idxDims = dims.map((d, i) => (i === axis ? int(r, 0, 3) : int(r, 0, d)));
  const data = dataOf(r, dims);
  return {
    data,
    idx: validIndex(r, idxDims, () => dims[axis]!, r() < 0.5 ? 'int64' : 'int32'),
    upd: randomTensor(data.dtype, idxDims, int(r, 0, 1e6)),
    axis: axis - (r() < 0.5 ? dims.length : 0),
  };
}

/** Valid data / indices for GatherND / ScatterND (b batch dims, tuples of k). */
function ndArgs(r: Rng, withBatch: boolean) {
  const dims = dimsOf(r, 1, 3);
  const b = withBatch ? int(r, 0, dims.length - 1) : 0;
  const k = int(r, 1, dims.length - b);
  const idxDims = [...dims.slice(0, b), ...dimsOf(r, 0, 2), k];
  const data = dataOf(r, dims);
  const idx = validIndex(r, idxDims, (pos) => dims[b + (pos % k)]!);
  return { data, idx, b, upd: randomTensor(data.dtype, [...idxDims.slice(0, -1), ...dims.slice(k)], int(r, 0, 1e6)) };
}

const EINSUMS = [
  'ij,jk->ik',
  'bij,bjk->bik',
  'ii->i',
  'ii',
  'ij->',
  'i,i',
  'i,j->ij',
  'ba',
  'a,b,c->abc',
  '...ij,...jk->...ik',
  '...ii->...i',
  'i...->...',
];

/** Operand dims that fit an einsum equation (labels 1..3, ellipsis 0..2 dims). */
function einsumDims(r: Rng, equation: string): number[][] {
  const size = new Map<string, number>();
  const ell = dimsOf(r, 0, 2);
  return equation
    .split('->')[0]!
    .split(',')
    .map((term) => {
      const [pre, post] = term.includes('...') ? term.split('...') : [term, undefined];
      const lab = (l: string) => size.get(l) ?? (size.set(l, int(r, 1, 3)), size.get(l)!);
      return post === undefined ? [...pre!].map(lab) : [...[...pre!].map(lab), ...ell, ...[...post].map(lab)];
    });
}

/** One valid call per op (mutate() then breaks about half of them). */
const VALID: Record<string, (r: Rng) => Case> = {
  GatherElements: (r): Case => {
    const a = elementsArgs(r);
    return { op: 'GatherElements', opset: 13, inputs: [a.data, a.idx], attrs: { axis: a.axis } };
  },
  GatherND: (r): Case => {
    const opset = pick(r, [11, 13]);
    const a = ndArgs(r, opset >= 12);
    return { op: 'GatherND', opset, inputs: [a.data, a.idx], attrs: opset >= 12 ? { batch_dims: a.b } : ({} as AttrMap) };
  },
  ScatterElements: (r): Case => {
    const a = elementsArgs(r);
    const opset = pick(r, [11, 16, 18]);
    const reduction = pick(r, opset >= 18 ? ['none', 'add', 'mul', 'max', 'min'] : opset >= 16 ? ['none', 'add', 'mul'] : ['none']);
    return { op: 'ScatterElements', opset, inputs: [a.data, a.idx, a.upd], attrs: { axis: a.axis, reduction } };
  },
  Scatter: (r): Case => {
    const a = elementsArgs(r);
    return { op: 'Scatter', opset: 9, inputs: [a.data, a.idx, a.upd], attrs: { axis: a.axis } };
  },
  ScatterND: (r): Case => {
    const a = ndArgs(r, false);
    const opset = pick(r, [11, 16, 18]);
    const reduction = pick(r, opset >= 18 ? ['none', 'add', 'mul', 'max', 'min'] : opset >= 16 ? ['none', 'add', 'mul'] : ['none']);
    return { op: 'ScatterND', opset, inputs: [a.data, a.idx, a.upd], attrs: opset >= 16 ? { reduction } : ({} as AttrMap) };
  },
  NonZero: (r): Case => ({ op: 'NonZero', opset: 13, inputs: [dataOf(r, dimsOf(r, 0, 3, 0))], attrs: {} }),
  Compress: (r): Case => {
    const x = dataOf(r, dimsOf(r, 1, 3, 0));
    const axis = r() < 0.7 ? int(r, -x.dims.length, x.dims.length - 1) : undefined;
    const len = axis === undefined ? x.data.length : x.dims[(axis + x.dims.length) % x.dims.length]!;
    return {
      op: 'Compress',
      opset: 11,
      inputs: [x, randomTensor('bool', [int(r, 0, len + 1)], int(r, 0, 1e6))],
      attrs: axis === undefined ? {} : { axis },
    };
  },
  Unique: (r): Case => {
    const x = dataOf(r, dimsOf(r, 1, 3, 0));
    return {
      op: 'Unique',
      opset: 11,
      inputs: [x],
      attrs: { sorted: int(r, 0, 1), ...(r() < 0.5 ? { axis: int(r, -x.dims.length, x.dims.length - 1) } : {}) },
    };
  },
  ReverseSequence: (r): Case => {
    const x = dataOf(r, dimsOf(r, 2, 4));
    const [ba, ta] = pick(r, [
      [1, 0],
      [0, 1],
    ]);
    const lens = indexTensor(
      'int64',
      [x.dims[ba!]!],
      Array.from({ length: x.dims[ba!]! }, () => int(r, 0, x.dims[ta!]!)),
    );
    return { op: 'ReverseSequence', opset: 10, inputs: [x, lens], attrs: { batch_axis: ba!, time_axis: ta! } };
  },
  TopK: (r): Case => {
    const opset = pick(r, [9, 10, 11]);
    const x =
      opset === 11
        ? randomTensor(pick(r, ['float32', 'int64', 'int32', 'int8', 'uint8']), dimsOf(r, 1, 3, 0), int(r, 0, 1e6))
        : f32Of(r, dimsOf(r, 1, 3, 0));
    const axis = int(r, -x.dims.length, x.dims.length - 1);
    const n = x.dims[(axis + x.dims.length) % x.dims.length]!;
    const k = int(r, opset === 9 ? Math.min(1, n) : 0, n);
    if (opset === 9) return { op: 'TopK', opset, inputs: [x], attrs: { axis, k: Math.max(1, k) } };
    return {
      op: 'TopK',
      opset,
      inputs: [x, indexTensor('int64', [1], [k])],
      attrs: { axis, ...(opset === 11 ? { largest: int(r, 0, 1), sorted: int(r, 0, 1) } : {}) },
    };
  },
  NonMaxSuppression: (r): Case => {
    const [b, n, c] = [int(r, 0, 2), int(r, 0, 4), int(r, 0, 2)];
    const opt: Array<Tensor | undefined> = [
      r() < 0.8 ? indexTensor('int64', [1], [int(r, -1, 5)]) : undefined,
      r() < 0.7 ? { dtype: 'float32', dims: [1], data: Float32Array.of(r()) } : undefined,
      r() < 0.5 ? f32Of(r, [1]) : undefined,
    ];
    return {
      op: 'NonMaxSuppression',
      opset: 11,
      inputs: [f32Of(r, [b, n, 4]), f32Of(r, [b, c, n]), ...opt],
      attrs: { center_point_box: int(r, 0, 1) },
    };
  },
  Einsum: (r): Case => {
    const equation = pick(r, EINSUMS);
    const dtype = pick(r, ['float32', 'int64', 'int32', 'int8', 'uint8'] as TensorDType[]);
    return {
      op: 'Einsum',
      opset: 12,
      inputs: einsumDims(r, equation).map((d) => randomTensor(dtype, d, int(r, 0, 1e6))),
      attrs: { equation },
    };
  },
  Gather: (r): Case => {
    const x = dataOf(r, dimsOf(r, 1, 3));
    const axis = int(r, 0, x.dims.length - 1);
    return { op: 'Gather', opset: 13, inputs: [x, validIndex(r, dimsOf(r, 0, 2), () => x.dims[axis]!)], attrs: { axis } };
  },
  Flatten: (r): Case => {
    const x = dataOf(r, dimsOf(r, 0, 4, 0));
    return { op: 'Flatten', opset: 13, inputs: [x], attrs: { axis: int(r, -x.dims.length, x.dims.length) } };
  },
  Expand: (r): Case => {
    const x = dataOf(r, dimsOf(r, 0, 3));
    const shape = x.dims.map((d) => (d === 1 ? int(r, 0, 3) : pick(r, [d, 1])));
    return { op: 'Expand', opset: 13, inputs: [x, indexTensor('int64', [shape.length + 1], [int(r, 1, 2), ...shape])], attrs: {} };
  },
  Where: (r): Case => {
    const dims = dimsOf(r, 0, 3);
    const sub = () => dims.slice(int(r, 0, dims.length)).map((d) => (r() < 0.3 ? 1 : d));
    const x = dataOf(r, sub());
    return {
      op: 'Where',
      opset: 16,
      inputs: [randomTensor('bool', sub(), int(r, 0, 1e6)), x, randomTensor(x.dtype, sub(), int(r, 0, 1e6))],
      attrs: {},
    };
  },
};

const BOGUS_ATTRS: Record<string, AttrValue[]> = {
  axis: [-5, -1, 0, 1, 2, 4, 9],
  batch_dims: [-1, 1, 2, 5],
  reduction: ['add', 'max', 'sub', ''],
  k: [-1, 0, 3, 2 ** 40],
  largest: [-1, 2],
  sorted: [2],
  batch_axis: [-1, 2],
  time_axis: [-1, 2],
  center_point_box: [2, -1],
  equation: ['ij,jk->il', 'ij->ii', 'i.j', '->', '', 'a...b...', 'ij,ij,ij', 'ijk', '...ij,...jk'],
};

/** One random corruption of a case: an input replaced or reshaped, an index poked far out of range, an attribute set to a bad value, an input dropped. */
function mutate(r: Rng, c: Case): Case {
  const inputs = [...c.inputs];
  const attrs: AttrMap = { ...c.attrs };
  const i = int(r, 0, Math.max(0, inputs.length - 1));
  const t = inputs[i];
  switch (int(r, 0, 4)) {
    case 0:
      inputs[i] = anyTensor(r);
      break;
    case 1:
      if (t)
        inputs[i] = randomTensor(
          t.dtype,
          t.dims.length && r() < 0.7 ? t.dims.map((d, j) => (j === int(r, 0, t.dims.length - 1) ? int(r, 0, 4) : d)) : randomDims(r),
          int(r, 0, 1e6),
        );
      break;
    case 2:
      if (t && (t.dtype === 'int64' || t.dtype === 'int32') && t.data.length > 0) {
        const v = Array.from(t.data as ArrayLike<number | bigint>, Number);
        v[int(r, 0, v.length - 1)] = r() < 0.5 ? pick(r, HUGE) : int(r, -9, 9);
        inputs[i] = indexTensor(t.dtype, t.dims, t.dtype === 'int32' ? v.map((x) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, x))) : v);
      } else inputs[i] = indexLike(r);
      break;
    case 3: {
      const key = pick(r, Object.keys(BOGUS_ATTRS));
      attrs[key] = pick(r, BOGUS_ATTRS[key]!);
      break;
    }
    case 4:
      inputs[i] = undefined;
      break;
  }
  return { ...c, inputs, attrs };
}

/** About half valid calls, half with one or two corruptions. */
export const GENERATORS: Record<string, (r: Rng) => Case> = Object.fromEntries(
  Object.entries(VALID).map(([op, valid]) => [
    op,
    (r: Rng) => {
      let c = valid(r);
      const n = r() < 0.5 ? 0 : int(r, 1, 2);
      for (let j = 0; j < n; j++) c = mutate(r, c);
      return c;
    },
  ]),
);

const ctxOf = (c: Case) => ({ opset: c.opset, node: `${c.op.toLowerCase()}_node` });

/** Runs the kernel on guarded inputs; returns its outputs or the SparrowError it threw (anything else fails the test). */
function callKernel(c: Case): Tensor[] | SparrowError {
  const def = resolveOp(c.op, '', c.opset, ctxOf(c).node);
  const inputs = c.inputs.map((t) => t && { ...t, data: guarded(t.data) });
  try {
    const outs = def.ref(inputs, c.attrs, ctxOf(c));
    for (const t of outs) {
      expect(
        t.dims.every((d) => Number.isSafeInteger(d) && d >= 0),
        `${c.op} output dims [${t.dims}]`,
      ).toBe(true);
      expect(t.data.length, `${c.op} output of dims [${t.dims}]`).toBe(t.dims.reduce((a, b) => a * b, 1));
    }
    return outs;
  } catch (e) {
    if (!(e instanceof SparrowError)) throw new Error(`${c.op} threw a non-SparrowError: ${(e as Error).message}`, { cause: e });
    // too_large: an output past MAX_OUTPUT_ELEMENTS (Expand to a shape of 2^31...)
    expect(['invalid_model', 'too_large'], e.message).toContain(e.code);
    expect(e.message, e.message).toContain(`node "${ctxOf(c).node}"`);
    return e;
  }
}

/** The shape function with every input known as a constant agrees with the kernel's outputs. */
function checkShapeFn(c: Case, outs: Tensor[]): void {
  const def = resolveOp(c.op, '', c.opset, ctxOf(c).node);
  const infos = c.inputs.map((t) => t && { dtype: t.dtype, dims: [...t.dims] });
  const inferred = def.shape(infos, c.attrs, c.inputs, ctxOf(c));
  outs.forEach((t, j) => {
    const info = inferred[j];
    if (!info) return;
    expect(info.dtype, `${c.op} output ${j} dtype`).toBe(t.dtype);
    if (info.dims) {
      expect(info.dims.length, `${c.op} output ${j} rank`).toBe(t.dims.length);
      info.dims.forEach((d, i) => {
        if (d >= 0) expect(d, `${c.op} output ${j} dim ${i}`).toBe(t.dims[i]);
      });
    }
  });
  // and without constants it does not fail either
  def.shape(infos, c.attrs, [], ctxOf(c));
}

describe('hostile inputs', () => {
  it.each(Object.keys(GENERATORS))(
    '%s: returns well-formed tensors or throws invalid_model, never reads out of bounds (property)',
    (op) => {
      let ok = 0,
        refused = 0;
      fc.assert(
        fc.property(fc.nat(), (seed) => {
          const c = GENERATORS[op]!(lcg(seed));
          const res = callKernel(c);
          if (res instanceof SparrowError) refused++;
          else {
            ok++;
            checkShapeFn(c, res);
          }
        }),
        { numRuns: 400 },
      );
      // both branches are exercised (about 200-350 of 400 calls run, the rest are refused)
      expect(refused, 'refused calls').toBeGreaterThan(20);
      expect(ok, 'successful calls').toBeGreaterThan(100);
    },
  );

  it('an output past MAX_OUTPUT_ELEMENTS is refused (too_large) before anything is allocated', () => {
    const run = (c: Case) => resolveOp(c.op, '', c.opset, 'n').ref(c.inputs, c.attrs, { opset: c.opset, node: 'n' });
    const tooLarge = (c: Case) => {
      let err: unknown;
      try {
        run(c);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SparrowError);
      expect((err as SparrowError).code, (err as Error).message).toBe('too_large');
    };
    tooLarge({ op: 'Expand', opset: 13, inputs: [randomTensor('uint8', [1], 1), indexTensor('int64', [1], [2 ** 31 - 1])], attrs: {} });
    tooLarge({
      op: 'Expand',
      opset: 13,
      inputs: [randomTensor('uint8', [1], 1), indexTensor('int64', [2], [2 ** 20, 2 ** 11])],
      attrs: {},
    });
    const v = randomTensor('float32', [2048], 1);
    tooLarge({ op: 'Einsum', opset: 12, inputs: [v, v, v], attrs: { equation: 'i,j,k->ijk' } });
    tooLarge({ op: 'Einsum', opset: 12, inputs: [v, v, v], attrs: { equation: 'i,j,k->' } });
    tooLarge({
      op: 'Gather',
      opset: 13,
      inputs: [randomTensor('uint8', [2, 2 ** 15], 1), indexTensor('int32', [2 ** 16], new Array(2 ** 16).fill(0))],
      attrs: {},
    });
    expect(MAX_OUTPUT_ELEMENTS).toBe(2 ** 30);
  });

  it('the Proxy guard catches an out-of-bounds read (the property can fail)', () => {
    const g = guarded(Float32Array.of(1, 2));
    expect(g[1]).toBe(2);
    expect(() => g[2]).toThrow(/out-of-bounds/);
    expect(() => g[-1]).toThrow(/out-of-bounds/);
    expect(Array.from(g as Float32Array)).toEqual([1, 2]);
  });
});

describe('one out-of-range index in otherwise valid inputs is always refused', () => {
  const outOfRange = (r: Rng, size: number): number =>
    pick(r, [size, size + 1, -size - 1, -size - 7, ...HUGE.filter((h) => Math.abs(h) > size)]);

  it.each(['Gather', 'GatherElements', 'ScatterElements', 'GatherND', 'ScatterND'])('%s (property)', (op) => {
    fc.assert(
      fc.property(fc.nat(), (seed) => {
        const r = lcg(seed);
        const dims = Array.from({ length: int(r, 1, 3) }, () => int(r, 1, 3));
        const data = randomTensor(pick(r, DTYPES), dims, seed);
        const rank = dims.length;
        const axis = int(r, 0, rank - 1);
        let c: Case;
        if (op === 'GatherND' || op === 'ScatterND') {
          const k = int(r, 1, rank);
          const lead = int(r, 1, 3);
          const v = Array.from({ length: lead * k }, (_, i) => int(r, 0, dims[i % k]! - 1));
          const bad = int(r, 0, v.length - 1);
          v[bad] = outOfRange(r, dims[bad % k]!);
          const idx = indexTensor('int64', [lead, k], v);
          const upd = randomTensor(data.dtype, [lead, ...dims.slice(k)], seed + 1);
          c = { op, opset: 13, inputs: op === 'GatherND' ? [data, idx] : [data, idx, upd], attrs: {} };
        } else {
          const idxDims = op === 'Gather' ? [int(r, 1, 3)] : dims.map((d, i) => (i === axis ? int(r, 1, 3) : int(r, 1, d)));
          const n = idxDims.reduce((a, b) => a * b, 1);
          const v = Array.from({ length: n }, () => int(r, -dims[axis]!, dims[axis]! - 1));
          v[int(r, 0, n - 1)] = outOfRange(r, dims[axis]!);
          const dtype = r() < 0.5 ? 'int64' : 'int32';
          const idx = indexTensor(dtype, idxDims, dtype === 'int32' ? v.map((x) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, x))) : v);
          const upd = randomTensor(data.dtype, idxDims, seed + 1);
          c = {
            op,
            opset: 13,
            inputs: op === 'ScatterElements' ? [data, idx, upd] : [data, idx],
            attrs: { axis: axis - (r() < 0.5 ? rank : 0) },
          };
        }
        const res = callKernel(c);
        expect(res, `${op} accepted an out-of-range index`).toBeInstanceOf(SparrowError);
        expect((res as SparrowError).message).toMatch(/out of range/);
      }),
      { numRuns: 300 },
    );
  });
});
