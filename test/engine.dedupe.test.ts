// The run/profile path the sparrow-f32 and sparrow-int8 engines share (src/runtime/plan_runner.ts):
//   - feeds of both kinds reach the plan: float32 into the arena, int64 into the JS steps, for
//     `run` and for `profile` alike (sparrow-int8's profile used not to hand over the int64 feeds);
//   - outputs (arena float32, JS-computed int64, constant) are copies, equal to the reference engine;
//   - profile lists the plan's steps (f32: op with its domain; int8: op '') and leaves the next run intact;
//   - a small integer feed a shape depends on joins the signature (both engines compile);
//   - a signature without static shapes runs on the reference executor (profile: []);
//   - bad feeds get the reference executor's messages from every engine.
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel } from '../src/onnx/build.js';
import { Session, type EngineName } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const f32 = (dims: number[], v: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(v) });
const i64 = (v: number[]): Tensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v, BigInt) });

// y = Relu(Gather(x, idx)) reads a fed int64 tensor (a fallback / float op in both engines),
// k = idx + idx is an int64 output computed in JS, c a constant output.
const MIXED = buildModel({
  nodes: [
    { op: 'Gather', inputs: ['x', 'idx'], outputs: ['g'], attrs: { axis: 1 } },
    { op: 'Relu', inputs: ['g'], outputs: ['y'] },
    { op: 'Add', inputs: ['idx', 'idx'], outputs: ['k'] },
    { op: 'Constant', inputs: [], outputs: ['c'], attrs: { value: f32([2], [0.5, -1.5]) } },
  ],
  inputs: [
    { name: 'x', dtype: 'float32', dims: [1, 4] },
    { name: 'idx', dtype: 'int64', dims: [2] },
  ],
  outputs: [
    { name: 'y', dtype: 'float32', dims: [1, 2] },
    { name: 'k', dtype: 'int64', dims: [2] },
    { name: 'c', dtype: 'float32', dims: [2] },
  ],
});
const FEEDS = { x: f32([1, 4], [1, -2, 3, -4]), idx: i64([2, 0]) };
const WANT = { y: [3, 1], k: [4n, 0n], c: [0.5, -1.5] };

const ENGINES: EngineName[] = ['sparrow-f32', 'sparrow-int8'];
const open = (bytes: Uint8Array, engine: EngineName) =>
  Session.fromOnnx(bytes, { engine, ...(engine === 'reference' ? {} : { wasmModule }) });

function expectWant(out: Record<string, Tensor>): void {
  expect(Array.from(out.y!.data as Float32Array)).toEqual(WANT.y);
  expect(out.y!.dims).toEqual([1, 2]);
  expect(Array.from(out.k!.data as BigInt64Array)).toEqual(WANT.k);
  expect(out.k!.dtype).toBe('int64');
  expect(Array.from(out.c!.data as Float32Array)).toEqual(WANT.c);
}

describe.each(ENGINES)('%s: shared plan runner', (engine) => {
  it('runs float32 and int64 feeds; outputs are copies', async () => {
    const s = await open(MIXED, engine);
    const a = await s.run(FEEDS);
    expectWant(a);
    (a.y!.data as Float32Array).fill(99);
    (a.k!.data as BigInt64Array).fill(99n);
    (a.c!.data as Float32Array).fill(99);
    expectWant(await s.run(FEEDS));
  });

  it('profile runs with the int64 feeds, names every step, and leaves the next run intact', async () => {
    const s = await open(MIXED, engine);
    const p = await s.profile(FEEDS, 3);
    expect(p.length).toBeGreaterThan(0);
    for (const e of p) expect(Number.isFinite(e.ms) && e.ms >= 0).toBe(true);
    const nodes = p.map((e) => e.node);
    expect(nodes.some((n) => n.startsWith('Gather'))).toBe(true);
    expect(p.find((e) => e.node.startsWith('Gather'))!.op).toBe('Gather');
    expectWant(await s.run(FEEDS));
  });

  it("bad feeds: the reference executor's messages", async () => {
    const s = await open(MIXED, engine),
      r = await open(MIXED, 'reference');
    const bad: unknown[] = [
      null,
      {},
      { ...FEEDS, z: FEEDS.x },
      { ...FEEDS, x: f32([1, 3], [1, 2, 3]) },
      { ...FEEDS, idx: f32([2], [0, 1]) },
    ];
    for (const f of bad) {
      const msg = (p: Promise<unknown>) =>
        p.then(
          () => 'ok',
          (e: Error) => e.message,
        );
      const want = await msg(r.run(f as Record<string, Tensor>));
      expect(want).not.toBe('ok');
      expect(await msg(s.run(f as Record<string, Tensor>))).toBe(want);
    }
  });
});

describe('a signature without static shapes', () => {
  // y = Reshape(x, s) with s fed: sparrow-int8 plans it on the reference executor,
  // sparrow-f32 folds the (small, integer) shape feed into the signature and compiles
  const bytes = buildModel({
    nodes: [
      { op: 'Reshape', inputs: ['x', 's'], outputs: ['y'] },
      { op: 'Relu', inputs: ['y'], outputs: ['z'] },
    ],
    inputs: [
      { name: 'x', dtype: 'float32', dims: [4] },
      { name: 's', dtype: 'int64', dims: [2] },
    ],
    outputs: [{ name: 'z', dtype: 'float32', dims: null }],
  });
  const feeds = { x: f32([4], [1, -2, 3, -4]), s: i64([2, 2]) };

  it.each(ENGINES)('%s folds the small shape feed into the signature and compiles it', async (engine) => {
    const s = await open(bytes, engine);
    const out = await s.run(feeds);
    expect(out.z!.dims).toEqual([2, 2]);
    expect(Array.from(out.z!.data as Float32Array)).toEqual([1, 0, 3, 0]);
    const p = await s.profile(feeds, 2);
    expect(p.map((e) => e.op)).toContain('Relu');
    expect(s.report!.fallbackOps.some((f) => f.node === '*')).toBe(false);
    expect(Array.from((await s.run(feeds)).z!.data as Float32Array)).toEqual([1, 0, 3, 0]);
  });

  // the target shape is read out of an int64 feed too large to join the signature
  const big = buildModel({
    nodes: [
      { op: 'Gather', inputs: ['v', 'i'], outputs: ['s'], attrs: { axis: 0 } },
      { op: 'Reshape', inputs: ['x', 's'], outputs: ['y'] },
      { op: 'Relu', inputs: ['y'], outputs: ['z'] },
    ],
    inputs: [
      { name: 'x', dtype: 'float32', dims: [4] },
      { name: 'v', dtype: 'int64', dims: [100] },
    ],
    initializers: { i: i64([0, 1]) },
    outputs: [{ name: 'z', dtype: 'float32', dims: null }],
  });
  const v = i64([2, 2, ...new Array<number>(98).fill(7)]);

  it.each(ENGINES)('%s runs a signature without static shapes on the reference executor (profile: [])', async (engine) => {
    const s = await open(big, engine);
    const f = { x: feeds.x, v };
    expect(Array.from((await s.run(f)).z!.data as Float32Array)).toEqual([1, 0, 3, 0]);
    expect(await s.profile(f, 2)).toEqual([]);
    expect(s.report!.fallbackOps.some((x) => x.node === '*')).toBe(true);
  });
});
