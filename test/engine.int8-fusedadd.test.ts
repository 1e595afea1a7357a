// sparrow-int8 with the residual Add fused into the conv's output stage (Int8EngineOptions.fuseAdd,
// default on): ResNet-20 static int8 (test/fixtures/int8/resnet20.static.sparrow, dense convs on
// Winograd / 4x8c2; resnet20.static7.sparrow, relaxed sessions on the k-quad kernel). All 9
// blocks' Add + Relu run in their second conv (the 2 downsampling blocks' shortcut, Slice and
// Pad of the block input, comes after that conv in the graph: hoistAddPartners moves it before);
// outputs equal those of `fuseAdd: false` (the Add a step of its own) and of the scalar TS
// references, bit for bit, at batch 1 and 3.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import '../src/ops/ref/index.js';
import { Session, type SessionOptions } from '../src/runtime/session.js';
import { compileNodeModule } from '../src/wasm/node.js';
import type { Tensor } from '../src/ops/types.js';
import { cifarImages } from './helpers/tensors.js';
import { outputBits } from './helpers/relaxed_fixture.js';

const S8 = new Uint8Array(readFileSync(new URL('./fixtures/int8/resnet20.static.sparrow', import.meta.url)));
const S7 = new Uint8Array(readFileSync(new URL('./fixtures/int8/resnet20.static7.sparrow', import.meta.url)));

let wasmModule: WebAssembly.Module;
beforeAll(async () => {
  wasmModule = await compileNodeModule();
});
const I8 = (o: SessionOptions = {}): SessionOptions => ({ ...o, engine: 'sparrow-int8', wasmModule });

const images = cifarImages;

const bits = (t: Tensor): number[] => outputBits(t.data as Float32Array);

describe('sparrow-int8: residual Adds in the conv output stage', () => {
  for (const [file, bytes, extra] of [
    ['resnet20.static', S8, {}],
    ['resnet20.static7 (relaxed: k-quad kernel)', S7, { relaxed: true }],
  ] as const)
    it(`${file}: every block's Add + Relu runs in its second conv; bits = fuseAdd: false = scalar`, async () => {
      const on = await Session.fromSparrow(bytes, I8(extra));
      const off = await Session.fromSparrow(bytes, I8({ ...extra, fuseAdd: false }));
      const scalar = await Session.fromSparrow(bytes, I8({ kernels: 'scalar' }));
      const fused = on.report!.int8!.layers.filter((l) => l.add);
      // the Add and the Relu after it, by node name ('#5+#6')
      expect(fused.length).toBe(9);
      expect(fused.every((l) => /^#\d+\+#\d+$/.test(l.add!))).toBe(true);
      expect(off.report!.int8!.layers.some((l) => l.add)).toBe(false);
      const name = on.inputNames[0]!,
        out = on.outputNames[0]!;
      for (const b of [1, 3]) {
        const x = images(b, 10 + b);
        const want = bits((await scalar.run({ [name]: x }))[out]!);
        expect(bits((await off.run({ [name]: x }))[out]!), `fuseAdd false, batch ${b}`).toEqual(want);
        expect(bits((await on.run({ [name]: x }))[out]!), `fused, batch ${b}`).toEqual(want);
      }
      // the fused plan has no Add step of its own: its steps are labelled conv+Add(+Relu)
      const labels = (await on.profile({ [name]: images(1, 3) }, 1)).map((s) => s.node);
      for (const l of fused) expect(labels.some((s) => s.startsWith(`${l.node}+`))).toBe(true);
      expect(labels.length).toBeLessThan((await off.profile({ [name]: images(1, 3) }, 1)).length);
    });
});
