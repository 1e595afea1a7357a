// Labels in the container (src/format/labels.ts), top-k (src/runtime/classify.ts) and what
// `inspect` adds (src/cli/answers.ts inspectDetails). Oracles: the container's own bytes and
// metadata JSON, argmax and a softmax written out here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readContainer } from '../src/format/container.js';
import { labelsOf, parseLabelsFile, readLabels, withLabels } from '../src/format/labels.js';
import { topK, probabilities } from '../src/runtime/classify.js';
import { argmaxRow } from '../src/io/datasets.js';
import { loadSparrowModel } from '../src/runtime/sparrow_model.js';
import { inspectDetails, formatInspectDetails, classifierOutput, topFields } from '../src/cli/answers.js';
import { isSparrowError } from '../src/errors.js';
import { withMeta } from './helpers/worker_models.js';

const RESNET = new Uint8Array(readFileSync(new URL('./fixtures/int8/resnet20.static.sparrow', import.meta.url)));
const CIFAR = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return isSparrowError(e) ? e.code : `not a SparrowError: ${String(e)}`;
  }
  return 'no error';
};

describe('labels in the container', () => {
  it('withLabels stores metadata.labels and keeps every section byte for byte', () => {
    const out = withLabels(RESNET, CIFAR);
    expect(readLabels(out)).toEqual(CIFAR);
    expect(readLabels(RESNET)).toBeNull();
    const a = readContainer(RESNET),
      b = readContainer(out);
    expect(b.header.sections.length).toBe(a.header.sections.length);
    a.header.sections.forEach((s, i) => {
      expect(b.header.sections[i]!.codec).toBe(s.codec);
      expect(b.payload(i)).toEqual(a.payload(i));
    });
    const { labels, ...rest } = b.header.meta;
    expect(labels).toEqual(CIFAR);
    expect(rest).toEqual(a.header.meta);
    // replacing, not appending
    expect(
      readLabels(
        withLabels(
          out,
          CIFAR.map((s) => s.toUpperCase()),
        ),
      ),
    ).toEqual(CIFAR.map((s) => s.toUpperCase()));
    expect(loadSparrowModel(out).graph.outputs).toEqual(['logits']);
  });

  it('a labels file: one name per line, CRLF, BOM and final newlines accepted; empty lines refused', () => {
    expect(parseLabelsFile('\uFEFFcat\r\ndog\n  bird  \n\n')).toEqual(['cat', 'dog', 'bird']);
    expect(code(() => parseLabelsFile('cat\n\ndog\n'))).toBe('invalid_argument');
    expect(code(() => parseLabelsFile('\n\n'))).toBe('invalid_argument');
    expect(code(() => parseLabelsFile('x'.repeat(300)))).toBe('invalid_argument');
  });

  it('malformed metadata.labels is corrupt_metadata', () => {
    for (const bad of [7, 'cat', [1, 2], [], ['ok', null]]) {
      const b = withMeta(RESNET, { labels: bad });
      expect(code(() => labelsOf(readContainer(b).header))).toBe('corrupt_metadata');
    }
  });
});

describe('topK', () => {
  it('orders by score (argmax first, ties to the lower index), names the classes, softmax probabilities', () => {
    const t = { dtype: 'float32' as const, dims: [2, 4], data: Float32Array.from([1, 3, 2, 3, 0, 0, 5, -1]) };
    const rows = topK(t, 3, ['a', 'b', 'c', 'd']);
    expect(rows[0]!.map((e) => e.index)).toEqual([1, 3, 2]);
    expect(rows[0]!.map((e) => e.label)).toEqual(['b', 'd', 'c']);
    const z = Math.exp(1) + 2 * Math.exp(3) + Math.exp(2);
    expect(rows[0]![0]!.p).toBeCloseTo(Math.exp(3) / z, 6);
    expect(rows[1]![0]).toEqual({ label: 'c', index: 2, p: expect.closeTo(Math.exp(5) / (2 + Math.exp(5) + Math.exp(-1)), 6) });
    expect(topK(t, 10, null)[0]!.length).toBe(4);
    expect(topK(t, 1, null)[1]![0]!.label).toBeNull();
    expect(code(() => topK(t, 1, ['a']))).toBe('invalid_argument');
  });

  it('top-1 is argmaxRow (property), probabilities sum to 1', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -50, max: 50, noNaN: true }), { minLength: 2, maxLength: 20 }), (v) => {
        const t = { dtype: 'float32' as const, dims: [1, v.length], data: Float32Array.from(v) };
        expect(topK(t, 1, null)[0]![0]!.index).toBe(argmaxRow(t, 0));
        expect(probabilities(t.data).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      }),
    );
  });

  it('a row that already is a distribution is kept as it is', () => {
    expect(Array.from(probabilities([0.25, 0.75]))).toEqual([0.25, 0.75]);
  });

  it('classifierOutput: exactly one [N, C] float32 output; topFields: the first image, and all when several', () => {
    const y = { dtype: 'float32' as const, dims: [1, 10], data: new Float32Array(10) };
    expect(classifierOutput({ logits: y })).toBe('logits');
    expect(classifierOutput({ a: y, b: y })).toBeNull();
    expect(classifierOutput({ a: { ...y, dims: [1, 10, 1] } })).toBeNull();
    const rows = topK({ ...y, dims: [2, 5] }, 2, null);
    expect(topFields(rows)).toEqual({ top: rows[0], topAll: rows });
    expect(topFields(rows.slice(0, 1))).toEqual({ top: rows[0] });
  });
});

describe('inspect details', () => {
  it("inputs, outputs, preprocessing, labels and ranges as the file's metadata states them", () => {
    const meta = readContainer(RESNET).header.meta;
    const d = inspectDetails(withLabels(RESNET, CIFAR))!;
    const g = meta.graph as { inputs: Array<{ name: string; dtype: string; dims: number[] }> };
    expect(d.inputs).toEqual(g.inputs.map((i) => ({ name: i.name, dtype: i.dtype, dims: i.dims })));
    expect(d.outputs).toEqual([{ name: 'logits', dtype: 'float32', dims: [-1, 10] }]);
    expect(d.preprocessing).toEqual(meta.preprocessing);
    expect(d.labels).toEqual(CIFAR);
    expect(d.activationRanges).toEqual({ present: true, count: Object.keys(meta['activationRanges'] as object).length });
    const text = formatInspectDetails(d);
    expect(text).toContain('input   input: float32 [?,3,32,32]');
    expect(text).toContain('labels: 10 (airplane, automobile');
    expect(text).toContain('mean 0.485,0.456,0.406');
    const none = inspectDetails(withMeta(RESNET, { activationRanges: undefined }))!;
    expect(none.activationRanges).toEqual({ present: false, count: 0 });
    expect(none.labels).toBeNull();
    expect(formatInspectDetails(none)).toContain('activation ranges: none');
  });
});
