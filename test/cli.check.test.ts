// `sparrow check`: every op of a model with its opset, count and first node, whether the registry
// has it, and how each WASM engine runs it; a model with unsupported ops names all of them.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/ops/ref/index.js';
import { buildModel } from '../src/onnx/build.js';
import { checkModel } from '../src/cli/check.js';

const f32 = (dims: number[], n = dims.reduce((a, b) => a * b, 1)) => ({
  dtype: 'float32' as const,
  dims,
  data: new Float32Array(n).fill(0.1),
});

const GOOD = buildModel({
  nodes: [
    { op: 'Conv', inputs: ['x', 'w'], outputs: ['c'], name: 'conv' },
    { op: 'Relu', inputs: ['c'], outputs: ['r'], name: 'relu' },
    { op: 'Gather', inputs: ['r', 'i'], outputs: ['g'], attrs: { axis: 1 }, name: 'gather' },
    { op: 'Shape', inputs: ['g'], outputs: ['s'], name: 'shape' },
    { op: 'Cast', inputs: ['s'], outputs: ['y'], attrs: { to: 1 }, name: 'cast' },
  ],
  inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3, 8, 8] }],
  outputs: [
    { name: 'g', dtype: 'float32', dims: null },
    { name: 'y', dtype: 'float32', dims: null },
  ],
  initializers: { w: f32([4, 3, 3, 3]), i: { dtype: 'int64', dims: [2], data: BigInt64Array.from([0n, 2n]) } },
});

const BAD = buildModel({
  nodes: [
    { op: 'Fancy', inputs: ['x'], outputs: ['a'], name: 'f1' },
    { op: 'Relu', inputs: ['a'], outputs: ['b'], name: 'r' },
    { op: 'Fancy', inputs: ['b'], outputs: ['y'], name: 'f2' },
  ],
  inputs: [{ name: 'x', dtype: 'float32', dims: [2] }],
  outputs: [{ name: 'y', dtype: 'float32', dims: [2] }],
});

describe('sparrow check', () => {
  it('lists the ops and how each engine runs them', async () => {
    const r = await checkModel('good.onnx', GOOD);
    expect(r.format).toBe('onnx');
    expect(r.unsupported).toBe(0);
    expect(r.error).toBeUndefined();
    expect(r.inputs).toEqual([{ name: 'x', dtype: 'float32', dims: [-1, 3, 8, 8] }]);
    const by = Object.fromEntries(r.ops.map((o) => [o.op, o]));
    expect(by['Conv']).toMatchObject({
      opset: 13,
      count: 1,
      node: 'conv',
      supported: true,
      engines: { 'sparrow-f32': 'wasm', 'sparrow-int8': 'wasm' },
    });
    // Relu is fused into the conv by both engines; Shape → Cast fold to a constant at load
    expect(by['Relu']!.engines).toEqual({ 'sparrow-f32': 'folded', 'sparrow-int8': 'folded' });
    expect(by['Cast']!.engines!['sparrow-f32']).toBe('folded');
    // dynamic int8: the Gather between layers runs in float
    expect(by['Gather']!.engines).toEqual({ 'sparrow-f32': 'wasm', 'sparrow-int8': 'float' });
  });

  it('a model with unsupported ops: each named once with its count, the engines not run', async () => {
    const r = await checkModel('bad.onnx', BAD);
    expect(r.unsupported).toBe(1);
    expect(r.ops.find((o) => o.op === 'Fancy')).toMatchObject({ count: 2, node: 'f1', supported: false });
    expect(r.ops.find((o) => o.op === 'Relu')!.supported).toBe(true);
    expect(r.error?.code).toBe('unsupported_op');
    expect(r.error?.message).toMatch(/Fancy at opset 13 \(2 nodes, first "f1"\)/);
    expect(r.fallbacks).toEqual({});
  });

  it('CLI: --json prints the report; unsupported ops exit 1 with one line on stderr', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparrow-check-'));
    writeFileSync(join(dir, 'good.onnx'), GOOD);
    writeFileSync(join(dir, 'bad.onnx'), BAD);
    const good = JSON.parse(
      execFileSync('node', ['bin/sparrow.js', 'check', join(dir, 'good.onnx'), '--json', '--shape', 'x=2,3,8,8'], { encoding: 'utf8' }),
    );
    expect(good.ops.map((o: { op: string }) => o.op)).toEqual(['Conv', 'Relu', 'Gather', 'Shape', 'Cast']);
    const bad = spawnSync('node', ['bin/sparrow.js', 'check', join(dir, 'bad.onnx')], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/Fancy\s+13\s+2\s+f1\s+NO/);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^sparrow: unsupported_op: unsupported op Fancy at opset 13/)]);
  });
});
