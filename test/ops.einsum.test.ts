// Einsum-12 against onnxruntime-node over a list of equations (matmul, batched matmul,
// attention, transposes, traces and diagonals, sums, outer products, Hadamard, 3-operand
// chains, implicit outputs, ellipses with broadcast 1s) with random label sizes and dtypes
// (int8/uint8 through int32: integer einsum is ring arithmetic, the wrap commutes); the ONNX
// node tests (DOUBLE) with their data as float32; numpy's rules ORT does not share (a label
// of size 1 broadcasts); shape functions with unknown dims; malformed equations as invalid_model.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveOp } from '../src/ops/registry.js';
import type { Tensor, TensorDType } from '../src/ops/types.js';
import {
  assertAgainstOrt,
  expectInvalidModel,
  expectSameAsOrt,
  expectSameAsOrtVia,
  expectTensor,
  lcg,
  randomTensor,
  readNodeFixture,
  runKernel,
  runOrt,
  runSparrow,
  values,
  type OneNode,
} from './helpers/op_oracle.js';

const f32 = (dims: number[], v: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });

/** equation, and the letters whose sizes must agree (all labels share one size table). */
const EQUATIONS = [
  'ij,jk->ik',
  'bij,bjk->bik',
  'bhqd,bhkd->bhqk',
  'bhqk,bhkd->bhqd',
  'ij->ji',
  'ijk->kji',
  'ii->i',
  'ii->',
  'ii',
  'ij->',
  'ij->i',
  'ij->j',
  'i,i',
  'i,i->i',
  'i,j->ij',
  'ij,ij->ij',
  'ij,jk',
  'ba',
  'abc,cd->abd',
  'a,b,c->abc',
  'ij,jk,kl->il',
  'i->',
  ' ij , jk -> ik ',
  'iji->j',
  'ij,kj->ik',
  '...ij,...jk->...ik',
  '...ii->...i',
  '...i,...i->...',
  'i...->...',
  '...ij->...ji',
  'ij...,jk...->ik...',
  '...ij,...jk',
];

/** The operand dims of an equation for random label sizes and ellipsis dims. */
function operandDims(equation: string, seed: number, broadcastEllipsis: boolean): number[][] {
  const r = lcg(seed);
  const size = new Map<string, number>();
  const sizeOf = (l: string) => {
    if (!size.has(l)) size.set(l, 1 + Math.floor(r() * 4));
    return size.get(l)!;
  };
  const ellRank = Math.floor(r() * 3); // 0..2
  const ell = Array.from({ length: ellRank }, () => 1 + Math.floor(r() * 3));
  const lhs = equation.replace(/ /g, '').split('->')[0]!.split(',');
  return lhs.map((term) => {
    const [pre, post] = term.includes('...') ? term.split('...') : [term, undefined];
    const dims = [...pre!].map(sizeOf);
    if (post === undefined) return dims;
    // every ellipsis covers the same number of dims (spec); a dim of 1 there broadcasts
    const mine = broadcastEllipsis ? ell.map((d) => (r() < 0.3 ? 1 : d)) : ell;
    return [...dims, ...mine, ...[...post].map(sizeOf)];
  });
}

const ORT_DTYPES: TensorDType[] = ['float32', 'int32', 'int64'];

describe('Einsum against onnxruntime', () => {
  it('every equation of the list, random sizes and dtypes (property)', async () => {
    await assertAgainstOrt(
      fc.record({
        equation: fc.constantFrom(...EQUATIONS),
        dtype: fc.constantFrom<TensorDType>('float32', 'float32', 'int32', 'int64', 'int8', 'uint8'),
        broadcast: fc.boolean(),
        seed: fc.nat(),
      }),
      (c) => {
        const dims = operandDims(c.equation, c.seed, c.broadcast);
        // a wide value range so integer products overflow and wrap
        const inputs = dims.map((d, i) => randomTensor(c.dtype, d, c.seed + 17 * i, c.dtype === 'float32' ? 17 : 255));
        const m: OneNode = { op: 'Einsum', opset: 12, attrs: { equation: c.equation }, inputs, outputs: [c.dtype] };
        return ORT_DTYPES.includes(c.dtype)
          ? expectSameAsOrt(m, 1e-5, 1e-5, ['reference', 'sparrow-f32'])
          : expectSameAsOrtVia(m, c.dtype, 'int32');
      },
      150,
    );
  });
});

describe('Einsum details', () => {
  it.each([
    'test_einsum_batch_diagonal',
    'test_einsum_batch_matmul',
    'test_einsum_inner_prod',
    'test_einsum_scalar',
    'test_einsum_sum',
    'test_einsum_transpose',
  ])('%s (DOUBLE data as float32) gives the expected output', (name) => {
    const fx = readNodeFixture(name);
    const [y] = runKernel('Einsum', fx.opset, fx.inputs, fx.attrs);
    expectTensor(y!, fx.outputs[0]!, name, 1e-5, 1e-5);
  });

  it("numpy's rules: implicit output sorted by character code, a label of size 1 broadcasts", () => {
    const a = f32([2, 3], [1, 2, 3, 4, 5, 6]);
    // 'ba' is implicit 'ba->ab', a transpose
    expectTensor(runKernel('Einsum', 12, [a], { equation: 'ba' })[0]!, f32([3, 2], [1, 4, 2, 5, 3, 6]), 'ba');
    // 'Ba' sorts B (66) before a (97): no transpose
    expectTensor(runKernel('Einsum', 12, [a], { equation: 'Ba' })[0]!, a, 'Ba');
    // j has size 1 in the first operand and 3 in the second: numpy broadcasts (sum over j of a[i,0]*b[j,k])
    const [y] = runKernel('Einsum', 12, [f32([2, 1], [1, 2]), f32([3, 2], [1, 2, 3, 4, 5, 6])], { equation: 'ij,jk->ik' });
    expectTensor(y!, f32([2, 2], [9, 12, 18, 24]), 'broadcast j');
    // an empty sum is 0
    expectTensor(runKernel('Einsum', 12, [f32([2, 0], [])], { equation: 'ij->i' })[0]!, f32([2], [0, 0]), 'empty sum');
  });

  it('int64 sums wrap at 64 bits', () => {
    const big: Tensor = { dtype: 'int64', dims: [2], data: BigInt64Array.of(2n ** 62n, 2n ** 62n) };
    const [y] = runKernel('Einsum', 12, [big, { dtype: 'int64', dims: [2], data: BigInt64Array.of(2n, 1n) }], { equation: 'i,i' });
    expect((y!.data as BigInt64Array)[0]).toBe(BigInt.asIntN(64, 3n * 2n ** 62n));
  });

  it('shape function: output dims from the equation, -1 where a label is unknown', () => {
    const shape = (eq: string, dims: number[][]) =>
      resolveOp('Einsum', '', 12, 'n').shape(
        dims.map((d) => ({ dtype: 'float32' as const, dims: d })),
        { equation: eq },
        [],
        { opset: 12, node: 'n' },
      )[0]!.dims;
    expect(
      shape('bij,bjk->bik', [
        [-1, 4, 5],
        [-1, 5, 6],
      ]),
    ).toEqual([-1, 4, 6]);
    expect(
      shape('...ij,...jk', [
        [7, 1, 4, 5],
        [1, 3, 5, 6],
      ]),
    ).toEqual([7, 3, 4, 6]);
    expect(
      shape('ij,jk->ik', [
        [2, -1],
        [3, 4],
      ]),
    ).toEqual([2, 4]);
  });

  it('rejects malformed equations and operands (invalid_model), as ORT does', async () => {
    const a = f32([2, 3], [1, 2, 3, 4, 5, 6]),
      b = f32([3, 2], [1, 2, 3, 4, 5, 6]);
    const bad: Array<[string, Tensor[]]> = [
      ['ij,jk->il', [a, b]], // l is not an input label
      ['ij,jk,kl->il', [a, b]], // three terms, two inputs
      ['ij->ii', [a]], // output label twice
      ['ijk->i', [a]], // rank 2 operand, 3 labels
      ['ij,jk->ik', [a, a]], // j: 3 vs 2
      ['i.j->ij', [a]], // a lone dot
      ['ii->i', [a]], // diagonal of a 2x3 matrix
    ];
    for (const [equation, inputs] of bad) {
      const m: OneNode = { op: 'Einsum', opset: 12, attrs: { equation }, inputs, outputs: ['float32'] };
      expect((await runOrt(m)).ok, equation).toBe(false);
      expectInvalidModel(await runSparrow(m));
    }
    expectInvalidModel(() => runKernel('Einsum', 12, [f32([2, 3, 4], new Array(24).fill(1))], { equation: '...ij->ij' }));
    // ellipses of different ranks (numpy would broadcast them; the spec forbids it). Not run in
    // ORT: onnxruntime-node 1.30 crashes the process (SIGSEGV) on '...ij,...jk' with [1,4], [1,4,1]
    expectInvalidModel(() =>
      runKernel('Einsum', 12, [f32([1, 4], [1, 2, 3, 4]), f32([1, 4, 1], [1, 2, 3, 4])], { equation: '...ij,...jk' }),
    );
    expectInvalidModel(() => runKernel('Einsum', 12, [f32([5, 2, 3], new Array(30).fill(1)), b], { equation: '...ij,...jk->...ik' }));
    expectInvalidModel(() =>
      runKernel('Einsum', 12, [a, { dtype: 'int32', dims: [3, 2], data: new Int32Array(6) }], { equation: 'ij,jk' }),
    );
    expectInvalidModel(() => runKernel('Einsum', 12, [{ dtype: 'bool', dims: [2], data: Uint8Array.of(1, 0) }], { equation: 'i->' }));
    expectInvalidModel(() => runKernel('Einsum', 12, [a], {}));
    expectInvalidModel(() => runKernel('Einsum', 12, [a], { equation: 'i...j...->ij' }));
    expect(values(runKernel('Einsum', 12, [a], { equation: 'ij->' })[0]!)).toEqual([21]);
  });
});
