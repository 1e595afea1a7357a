// Slice and Pad reference kernels (src/ops/ref/shape_ops.ts), which the int8 engine runs at load
// time on index tables (engine_int8 lowerMove): they copy one output row at a time, and must
// give exactly what an element-by-element walk gives, for every mode, dtype, rank and step.
import { describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { resolveOp } from '../src/ops/registry.js';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import { lcg } from './helpers/tensors.js';

type Elems = { [i: number]: number | bigint; length: number };

const i64 = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v, (x) => BigInt(x)) });
const count = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);
const strides = (dims: number[]): number[] => dims.map((_, i) => count(dims.slice(i + 1)));

function tensor(r: () => number, dtype: TensorDType, dims: number[]): Tensor {
  const n = count(dims);
  const pick = (): number => Math.floor(r() * 200) - 100;
  switch (dtype) {
    case 'float32':
      return { dtype, dims, data: Float32Array.from({ length: n }, () => pick() / 8) };
    case 'int64':
      return { dtype, dims, data: BigInt64Array.from({ length: n }, () => BigInt(pick())) };
    case 'int32':
      return { dtype, dims, data: Int32Array.from({ length: n }, pick) };
    case 'int8':
      return { dtype, dims, data: Int8Array.from({ length: n }, pick) };
    case 'uint8':
      return { dtype, dims, data: Uint8Array.from({ length: n }, () => pick() + 100) };
    case 'bool':
      return { dtype, dims, data: Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)) };
    case 'uint64':
      return { dtype, dims, data: BigUint64Array.from({ length: n }, () => BigInt(pick() + 100) * 2n ** 57n + 3n) };
    case 'uint32':
      return { dtype, dims, data: Uint32Array.from({ length: n }, () => (pick() + 100) * 2 ** 24 + 5) };
    case 'int16':
      return { dtype, dims, data: Int16Array.from({ length: n }, () => pick() * 300) };
    case 'uint16':
      return { dtype, dims, data: Uint16Array.from({ length: n }, () => (pick() + 100) * 300) };
    default:
      throw new Error(`no ${dtype} tensors here`); // float16/bfloat16/float64 never reach kernels but Cast
  }
}

/** Coordinates of flat index i in `dims` (row-major). */
const coords = (i: number, dims: number[]): number[] => dims.map((_, d) => Math.floor(i / strides(dims)[d]!) % dims[d]!);

/** Slice with per-axis start/step/count (already normalized), element by element. */
function sliceOracle(x: Tensor, start: number[], step: number[], outDims: number[]): Elems {
  const src = x.data as unknown as Elems,
    s = strides(x.dims);
  return Array.from(
    { length: count(outDims) },
    (_, i) => src[coords(i, outDims).reduce((a, c, d) => a + (start[d]! + c * step[d]!) * s[d]!, 0)]!,
  );
}

function padOracle(x: Tensor, pads: number[], mode: string, fill: number | bigint): Elems {
  const rank = x.dims.length,
    src = x.data as unknown as Elems,
    s = strides(x.dims);
  const outDims = x.dims.map((d, i) => d + pads[i]! + pads[i + rank]!);
  return Array.from({ length: count(outDims) }, (_, i) => {
    let idx = 0;
    const c = coords(i, outDims);
    for (let d = 0; d < rank; d++) {
      const size = x.dims[d]!;
      let p = c[d]! - pads[d]!;
      if (p < 0 || p >= size) {
        if (mode === 'constant') return fill;
        if (mode === 'edge') p = p < 0 ? 0 : size - 1;
        else if (mode === 'wrap') p = ((p % size) + size) % size;
        else if (size === 1) p = 0;
        else {
          const period = 2 * (size - 1);
          p = ((p % period) + period) % period;
          if (p >= size) p = period - p;
        }
      }
      idx += p * s[d]!;
    }
    return src[idx]!;
  });
}

const DTYPES: TensorDType[] = ['float32', 'int64', 'int32', 'int8', 'uint8', 'bool', 'uint64', 'uint32', 'int16', 'uint16'];

describe('Slice / Pad reference kernels, row at a time', () => {
  it('Slice equals the element-by-element walk (ranks 0..4, negative steps, empty results)', () => {
    const r = lcg(11);
    const slice = resolveOp('Slice', '', 13, 's');
    for (let t = 0; t < 400; t++) {
      const rank = Math.floor(r() * 5);
      const dims = Array.from({ length: rank }, () => Math.floor(r() * 6));
      const x = tensor(r, DTYPES[t % DTYPES.length]!, dims);
      const start = dims.map(() => 0),
        step = dims.map(() => 1),
        out = [...dims];
      const starts: number[] = [],
        ends: number[] = [],
        axes: number[] = [],
        steps: number[] = [];
      dims.forEach((d, a) => {
        if (d === 0 || r() < 0.3) return;
        const st = [1, 2, 3, -1, -2][Math.floor(r() * 5)]!;
        const s0 = Math.floor(r() * d);
        // count of st-steps from s0 that stay in [0, d)
        const n = 1 + Math.floor(r() * (st > 0 ? Math.ceil((d - s0) / st) : Math.ceil((s0 + 1) / -st)));
        starts.push(s0);
        ends.push(s0 + n * st);
        axes.push(a);
        steps.push(st);
        start[a] = s0;
        step[a] = st;
        out[a] = n;
        if (st < 0 && s0 + n * st < 0) ends[ends.length - 1] = -d - 1; // ONNX: a negative end counts from the back
      });
      const y = slice.ref([x, i64(starts), i64(ends), i64(axes), i64(steps)], {}, { opset: 13, node: 's' })[0]!;
      expect(y.dims).toEqual(out);
      expect(Array.from(y.data as unknown as ArrayLike<number>)).toEqual(Array.from(sliceOracle(x, start, step, out) as ArrayLike<number>));
    }
  });

  it('Pad equals the element-by-element walk (all modes, crops, every dtype)', () => {
    const r = lcg(12);
    const pad = resolveOp('Pad', '', 19, 'p');
    for (let t = 0; t < 400; t++) {
      const rank = Math.floor(r() * 5);
      const dims = Array.from({ length: rank }, () => 1 + Math.floor(r() * 4));
      const dtype = DTYPES[t % DTYPES.length]!;
      const x = tensor(r, dtype, dims);
      const mode = ['constant', 'reflect', 'edge', 'wrap'][Math.floor(r() * 4)]!;
      const pads = Array.from({ length: 2 * rank }, (_, i) => Math.max(-dims[i % rank]! + 1, Math.floor(r() * 5) - 1));
      const value: Tensor = dtype === 'int64' ? i64([7]) : { ...tensor(r, dtype, [1]), dims: [] };
      const y = pad.ref([x, i64(pads), value], { mode }, { opset: 19, node: 'p' })[0]!;
      const fill = (value.data as unknown as Elems)[0]!;
      expect(y.dims).toEqual(dims.map((d, i) => d + pads[i]! + pads[i + rank]!));
      expect(Array.from(y.data as unknown as ArrayLike<number>)).toEqual(Array.from(padOracle(x, pads, mode, fill) as ArrayLike<number>));
    }
  });
});
