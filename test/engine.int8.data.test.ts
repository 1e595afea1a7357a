// sparrow-int8 accuracy on real data (../shared/data or $SPARROW_DATA): on the static-range
// fixtures of test/fixtures/int8/ (mnist-8 and ResNet-20, calibrated on test records 0..127;
// `npm run fixtures:int8`), top-1 on 500 test records (1000..1499) within 0.3 points of
// sparrow-f32 on the same .sparrow file. Bit-identity of the kernels: test/engine.int8.test.ts.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import '../src/ops/ref/index.js';
import { Session } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import { loadDataset, type DatasetName } from '../src/io/datasets_node.js';
import { argmaxRow, imageBatch } from '../src/io/datasets.js';
import { dataPath, haveData } from './helpers/data.js';

const MODELS: Array<{ name: string; file: string; dataset: DatasetName; data: string; files: string[] }> = [
  {
    name: 'mnist-8',
    file: 'test/fixtures/int8/mnist-8.static.sparrow',
    dataset: 'mnist',
    data: 'mnist',
    files: ['mnist/t10k-images-idx3-ubyte.gz', 'mnist/t10k-labels-idx1-ubyte.gz'],
  },
  {
    name: 'ResNet-20',
    file: 'test/fixtures/int8/resnet20.static.sparrow',
    dataset: 'cifar10',
    data: 'cifar10/test_q75.bin',
    files: ['cifar10/test_q75.bin'],
  },
];

for (const m of MODELS) {
  describe.runIf(haveData(`sparrow-int8 accuracy on ${m.name}`, ...m.files))(`sparrow-int8 on ${m.name} (static ranges)`, () => {
    it('(c) top-1 on 500 images within 0.3 points of sparrow-f32 on the same file', async () => {
      const wasmModule = await compileNodeModule();
      const file = new Uint8Array(readFileSync(m.file));
      const i8 = await Session.fromSparrow(file, { engine: 'sparrow-int8', wasmModule });
      const fl = await Session.fromSparrow(file, { engine: 'sparrow-f32', wasmModule });
      const { mean, std } = i8.preprocessing!;
      const set = loadDataset(m.dataset, dataPath(m.data));
      const input = i8.inputNames[0]!,
        output = i8.outputNames[0]!;
      let c8 = 0,
        cf = 0;
      const N = 500;
      for (let i = 0; i < N; i++) {
        const x = imageBatch(set, 1000 + i, 1, { ...(mean ? { mean } : {}), ...(std ? { std } : {}) });
        const lab = set.labels[1000 + i];
        if (argmaxRow((await i8.run({ [input]: x }))[output]!, 0) === lab) c8++;
        if (argmaxRow((await fl.run({ [input]: x }))[output]!, 0) === lab) cf++;
      }
      console.log(`${m.name} top-1 on records 1000..1499: sparrow-int8 ${c8}/${N}, sparrow-f32 ${cf}/${N}`);
      expect((Math.abs(c8 - cf) / N) * 100, `int8 ${c8}/${N}, f32 ${cf}/${N}`).toBeLessThanOrEqual(0.3);
    }, 300_000);
  });
}
