// Issue 16's answers on real data (bin/sparrow.js → dist/; ../shared/data through
// test/helpers/data.ts), with the size-targeted ResNet-20 of test/fixtures/answers/:
//  - `sparrow run --image` on the 20 CIFAR-10 PNGs prints, with class names, the top-1 that
//    `sparrow eval` gives on the same pixels (the PNGs as CIFAR binary records: test_q75.bin
//    holds a JPEG-q75 copy of the test set in another order, so its records are not these bytes);
//  - `sparrow export` runs in onnxruntime-node with top-1 within 0.2 points of sparrow-int8 on
//    CIFAR-10 records 1000.. (calibration used the first 256).
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { dataPath, haveData } from './helpers/data.js';
import { imagePixels } from '../src/io/image.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = 'test/fixtures/answers/resnet20.target90k.sparrow';
const NAMES = readFileSync(join(ROOT, 'test/fixtures/answers/cifar10.labels'), 'utf8').trim().split('\n');
const HAVE = haveData('run --image / export on CIFAR-10', 'cifar10/first20-png', 'cifar10/test_q75.bin');

function sparrow(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 280_000 });
  if (r.error) throw r.error;
  return r;
}

describe.runIf(HAVE)('sparrow run --image on the 20 CIFAR-10 PNGs', () => {
  let dir: string;
  let pngs: string[];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sparrow-answers-'));
    const folder = dataPath('cifar10', 'first20-png');
    pngs = readdirSync(folder)
      .filter((f) => f.endsWith('.png'))
      .sort()
      .map((f) => join(folder, f));
    // the PNGs' pixels as CIFAR-10 binary records (label byte, then the R, G, B planes)
    const bin = new Uint8Array(pngs.length * 3073);
    pngs.forEach((p, i) => {
      bin[i * 3073] = Number(/_(\d)\.png$/.exec(p)![1]);
      bin.set(imagePixels(new Uint8Array(readFileSync(p)), [1, 3, 32, 32]).data as Uint8Array, i * 3073 + 1);
    });
    writeFileSync(join(dir, 'first20.bin'), bin);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the top-5 with class names; its top-1 is what sparrow eval gives on each record', () => {
    let correct = 0;
    pngs.forEach((png, i) => {
      const label = Number(/_(\d)\.png$/.exec(png)![1]);
      const r = sparrow('run', MODEL, '--image', png, '--engine', 'sparrow-int8', '--out', dir, '--json');
      expect(r.status, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.outputs.logits.dims).toEqual([1, 10]);
      expect(doc.top).toHaveLength(5);
      for (const e of doc.top) expect(e.label).toBe(NAMES[e.index]);
      const hit = doc.top[0].index === label ? 1 : 0;
      correct += hit;
      const e = sparrow(
        'eval',
        MODEL,
        '--dataset',
        'cifar10',
        '--data',
        join(dir, 'first20.bin'),
        '--offset',
        String(i),
        '--limit',
        '1',
        '--engine',
        'sparrow-int8',
        '--json',
      );
      expect(e.status, e.stderr).toBe(0);
      expect(JSON.parse(e.stdout).top1, `${png}: run --image says ${doc.top[0].label}`).toBe(hit);
    });
    const all = JSON.parse(
      sparrow('eval', MODEL, '--dataset', 'cifar10', '--data', join(dir, 'first20.bin'), '--engine', 'sparrow-int8', '--json').stdout,
    );
    expect(all.top1).toBe(correct / 20);
    expect(correct).toBeGreaterThanOrEqual(17);
  }, 900_000); // 41 CLI processes: ~1 min on a quiet machine, 5.5 min at load 20

  it('text output: shape, then the ranked classes by name', () => {
    const r = sparrow('run', MODEL, '--image', pngs[0]!, '--out', dir);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^logits: float32 \[1,10\] -> /);
    expect(lines[1]).toMatch(/^ {2}1\. [01]\.\d{4} {2}cat \(3\)$/);
    expect(lines.filter((l) => /^ {2}\d\. /.test(l))).toHaveLength(5);
  });
});

describe.runIf(HAVE)('sparrow export of the size-targeted ResNet-20', () => {
  it('onnxruntime-node: top-1 within 0.2 points of sparrow-int8 on records 1000..9999', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparrow-export-'));
    try {
      const onnx = join(dir, 'r20.qdq.onnx');
      const x = sparrow('export', MODEL, '-o', onnx, '--json');
      expect(x.status, x.stderr).toBe(0);
      expect(JSON.parse(x.stdout)).toMatchObject({ weights: 20, opset: 13 });
      const data = dataPath('cifar10', 'test_q75.bin');
      const common = ['--dataset', 'cifar10', '--data', data, '--offset', '1000', '--batch', '100', '--json'];
      const ort = sparrow('eval', onnx, '--engine', 'ort-node', '--mean', '0.485,0.456,0.406', '--std', '0.229,0.224,0.225', ...common);
      expect(ort.status, ort.stderr).toBe(0);
      const int8 = sparrow('eval', MODEL, '--engine', 'sparrow-int8', ...common);
      expect(int8.status, int8.stderr).toBe(0);
      const a = JSON.parse(ort.stdout),
        b = JSON.parse(int8.stdout);
      expect(a.n).toBe(9000);
      expect(Math.abs(a.top1 - b.top1)).toBeLessThanOrEqual(0.002);
      expect(b.top1).toBeGreaterThan(0.79);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
