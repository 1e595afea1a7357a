// What the Worker's memory bound (issue 15) rests on, in the runtime: SparrowWasm.maxBytes refuses
// to grow linear memory past a limit (and takes nothing); a Session created with maxMemoryBytes
// fails to load or run with too_large instead of growing, and setMemoryLimits / dropPlans fit it
// later; Session.jsBytes counts the buffers its constants and coded weights keep (each once, lazy
// weights once read); a load decodes no section that no node reads; maxBatch is stored by compress
// (default 32) and read back. Oracles: the memory the engine reports, the file's own sizes, an
// unlimited session's answers, the container's metadata.
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/ops/ref/index.js';
import { buildModel } from '../src/onnx/build.js';
import { importOnnx } from '../src/onnx/import.js';
import { optimize } from '../src/ir/passes.js';
import { compressGraph } from '../src/compress/compress.js';
import { readContainer } from '../src/format/container.js';
import { encodeInt8 } from '../src/codec/int8.js';
import { isPendingData } from '../src/format/graph.js';
import { loadSparrowModel, parseMaxBatch } from '../src/runtime/sparrow_model.js';
import { Session } from '../src/runtime/session.js';
import { PlanCache } from '../src/runtime/plan_cache.js';
import { loadWasmNode, compileNodeModule } from '../src/wasm/node.js';
import { SparrowError } from '../src/errors.js';
import type { Tensor } from '../src/ops/types.js';
import { addUnusedConstant, syntheticConvNet } from './helpers/worker_models.js';
import { lcg } from './helpers/tensors.js';

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});

const feed = (b: number, hw = 32, seed = 1): Record<string, Tensor> => {
  const rnd = lcg(seed);
  return { x: { dtype: 'float32', dims: [b, 3, hw, hw], data: Float32Array.from({ length: b * 3 * hw * hw }, () => rnd() * 2 - 1) } };
};

describe('SparrowWasm.maxBytes', () => {
  it('a grow past the limit throws too_large and takes nothing; below it, memory grows as before', async () => {
    const w = await loadWasmNode();
    const have = w.memoryBytes;
    w.maxBytes = have + 4 * 65536;
    const top = w.mark();
    expect(() => w.alloc(8 * 65536)).toThrow(expect.objectContaining({ code: 'too_large' }));
    expect(() => w.malloc(8 * 65536)).toThrow(/needs at least \d+ bytes, over this instance's limit of \d+ bytes/);
    expect(w.memoryBytes).toBe(have);
    expect(w.mark()).toBe(top);
    const p = w.alloc(2 * 65536);
    expect(w.memoryBytes).toBeLessThanOrEqual(w.maxBytes);
    w.release(p);
  });
});

describe('Session memory limits (sparrow-int8, a conv net with a symbolic batch)', () => {
  const bytes = syntheticConvNet(11, [-1, 3, 32, 32]);

  it('maxMemoryBytes below what the load plan needs: too_large at load, not a bigger memory', async () => {
    const free = await Session.fromSparrow(bytes, { engine: 'sparrow-int8', wasmModule });
    const need = free.memoryBytes()!;
    await expect(Session.fromSparrow(bytes, { engine: 'sparrow-int8', wasmModule, maxMemoryBytes: need - 65536 })).rejects.toMatchObject({
      code: 'too_large',
    });
    const fits = await Session.fromSparrow(bytes, { engine: 'sparrow-int8', wasmModule, maxMemoryBytes: need });
    expect(fits.memoryBytes()).toBe(need);
  });

  it('setMemoryLimits: a run needing more throws too_large; dropPlans makes room; answers equal an unlimited session', async () => {
    const ref = await Session.fromSparrow(bytes, { engine: 'sparrow-int8', wasmModule });
    const s = await Session.fromSparrow(bytes, { engine: 'sparrow-int8', wasmModule });
    await s.run(feed(1));
    await s.run(feed(16));
    const two = s.memoryStats()!;
    expect(two.plans).toBe(2);
    // room for exactly what is there: a third plan cannot be placed while the two live
    s.setMemoryLimits({ maxMemoryBytes: two.wasmBytes });
    await expect(s.run(feed(12))).rejects.toBeInstanceOf(SparrowError);
    await expect(s.run(feed(12))).rejects.toMatchObject({ code: 'too_large' });
    expect(s.memoryBytes()).toBe(two.wasmBytes);
    s.dropPlans();
    const got = await s.run(feed(12, 32, 5));
    const want = await ref.run(feed(12, 32, 5));
    expect(got['y']!.data).toEqual(want['y']!.data);
    expect(s.memoryBytes()).toBe(two.wasmBytes);
    // the plan-cache bound applies at once
    s.setMemoryLimits({ planCache: { maxBytes: 0 } });
    expect(s.memoryStats()!.plans).toBe(0);
  });

  it('PlanCache.setLimits evicts down to the new bounds and disposes what it drops', () => {
    const disposed: string[] = [];
    const c = new PlanCache<{ bytes: number; dispose(): void }>({ maxPlans: 8, maxBytes: 1000 });
    for (const k of ['a', 'b', 'c', 'd']) c.set(k, { bytes: 100, dispose: () => disposed.push(k) });
    c.setLimits({ maxPlans: 2 });
    expect(disposed).toEqual(['a', 'b']);
    c.setLimits({ maxBytes: 150 });
    expect(disposed).toEqual(['a', 'b', 'c']);
    expect(c.size).toBe(1);
    expect(c.bytes).toBe(100);
    expect(() => c.setLimits({ maxPlans: 0 })).toThrow(RangeError);
  });
});

describe('Session.jsBytes', () => {
  it('sparrow-int8: the file once (coded weights are views of it) plus the constants that exist; a lazy weight once read', async () => {
    const bytes = syntheticConvNet(12, [-1, 3, 16, 16]);
    const s = await Session.fromSparrow(bytes, { engine: 'sparrow-int8', wasmModule });
    const { header } = readContainer(bytes);
    // float32 sections (biases, scales) are decoded to their own buffers; int8 weights stay coded
    const floats = header.sections.filter((x) => x.dtype === 3).reduce((a, x) => a + x.decodedBytes, 0);
    const js = s.jsBytes();
    expect(js).toBeGreaterThanOrEqual(bytes.buffer.byteLength);
    expect(js).toBeLessThanOrEqual(bytes.buffer.byteLength + floats + 4096);
    expect(s.heldBytes()).toBe(s.memoryBytes()! + js);
    const w = s.graph.values.get('wc')!.const!;
    expect(isPendingData(w)).toBe(true);
    expect((w.data as Float32Array).length).toBe(16 * 3 * 3 * 3); // read: decoded and dequantized now
    expect(isPendingData(w)).toBe(false);
    expect(s.jsBytes()).toBe(js + 16 * 27 * 4);
  });

  it('sparrow-f32 and reference: every float constant (dequantized), each buffer once', async () => {
    const bytes = syntheticConvNet(13, [-1, 3, 16, 16]);
    for (const engine of ['sparrow-f32', 'reference'] as const) {
      const s = await Session.fromSparrow(bytes, { engine, wasmModule });
      let want = 0;
      for (const v of s.graph.values.values()) if (v.const) want += v.const.data.buffer.byteLength;
      expect(s.jsBytes()).toBe(want);
    }
  });
});

describe('a load decodes no section that no node reads', () => {
  it('an unused 64 MiB constant (5 coded bytes) is not in the graph and not decoded; the model answers as before', async () => {
    const base = syntheticConvNet(14, [-1, 3, 16, 16]);
    const zeros = encodeInt8(new Int8Array(16), { codecs: [2] }).payload;
    const padded = addUnusedConstant(base, 64 * 1024 * 1024, zeros);
    const m = loadSparrowModel(padded, { codedInt8: true });
    expect(m.graph.values.has('unused_bomb')).toBe(false);
    const a = await Session.fromSparrow(base, { engine: 'sparrow-int8', wasmModule });
    const b = await Session.fromSparrow(padded, { engine: 'sparrow-int8', wasmModule, read: { maxDecodedBytes: 128 * 1024 * 1024 } });
    expect(b.jsBytes()).toBeLessThan(1024 * 1024);
    expect((await b.run(feed(3, 16)))['y']!.data).toEqual((await a.run(feed(3, 16)))['y']!.data);
  });
});

describe('maxBatch', () => {
  const onnx = buildModel({
    nodes: [
      { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'GlobalAveragePool', inputs: ['c'], outputs: ['g'] },
      { op: 'Flatten', inputs: ['g'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 4] }],
    initializers: { w: { dtype: 'float32', dims: [4, 3, 3, 3], data: Float32Array.from({ length: 108 }, (_, i) => Math.sin(i)) } },
  });
  const compress = async (maxBatch?: number): Promise<Uint8Array> => {
    const g = importOnnx(onnx);
    optimize(g);
    return (await compressGraph(g, { sparsity: 0, ...(maxBatch !== undefined ? { maxBatch } : {}) })).bytes;
  };

  it('compress stores metadata.maxBatch (default 32, or the option); Session.maxBatch reads it', async () => {
    for (const [opt, want] of [
      [undefined, 32],
      [4, 4],
      [1000, 1000],
    ] as const) {
      const bytes = await compress(opt);
      expect(readContainer(bytes).header.meta['maxBatch']).toBe(want);
      expect((await Session.fromSparrow(bytes, { engine: 'sparrow-f32', wasmModule })).maxBatch).toBe(want);
    }
    await expect(compress(0)).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(compress(2.5)).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('parseMaxBatch: absent → null; not a positive integer ≤ 65536 → corrupt_metadata', () => {
    expect(parseMaxBatch(undefined)).toBe(null);
    expect(parseMaxBatch(7)).toBe(7);
    for (const bad of [0, -1, 1.5, '8', 65537, [8]]) {
      expect(() => parseMaxBatch(bad)).toThrow(expect.objectContaining({ code: 'corrupt_metadata' }));
    }
  });
});
