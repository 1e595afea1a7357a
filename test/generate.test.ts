// src/runtime/generate.ts on examples/models/stories260K-kv.onnx (in the repository; the
// 200-token comparison with the TS forward pass over the llama2.c checkpoint is in
// generate.data.test.ts). Oracles: a plain greedy loop over onnxruntime-node that feeds present
// back as past (the form test/llama.data.test.ts checks against run.c); the 'concat' cache (the
// model's own Concat) for the 'fixed' cache's logits, bit for bit in the reference engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from '../src/runtime/session.js';
import { createOrtEngine, type InferenceEngine } from '../src/runtime/ort.js';
import { detectDecoder, generate, type DecoderRunner, type GenerateOptions, type GenerateStats } from '../src/runtime/generate.js';
import { argmaxLogits } from '../src/runtime/sampling.js';
import { buildModel } from '../src/onnx/build.js';
import { SparrowError } from '../src/errors.js';
import type { Tensor } from '../src/ops/types.js';
import '../src/ops/ref/index.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const KV = new Uint8Array(readFileSync(join(ROOT, 'examples/models/stories260K-kv.onnx')));
// "Once upon a time" in tok512.bin, BOS first
const PROMPT = [1, 403, 407, 261, 378];

async function collect(model: DecoderRunner, prompt: number[], o: GenerateOptions): Promise<GenerateStats> {
  const it = generate(model, prompt, o);
  const got: number[] = [];
  let r = await it.next();
  while (!r.done) {
    got.push(r.value);
    r = await it.next();
  }
  expect(r.value.tokens).toEqual(got);
  return r.value;
}

/** A Session seen through run alone (no runIo: the cache is fed whole every step). */
function runOnly(s: Session): DecoderRunner {
  return { inputNames: s.inputNames, outputNames: s.outputNames, inputInfo: s.inputInfo, run: (f) => s.run(f) };
}

/** A Session with runIo (the zero-copy cache), keeping the last-row logits of every run. */
function recordingIo(s: Session): DecoderRunner & { rows: Float32Array[] } {
  const rows: Float32Array[] = [];
  const keep = (l: Tensor): void => void rows.push((l.data as Float32Array).slice(l.data.length - 512));
  return {
    inputNames: s.inputNames,
    outputNames: s.outputNames,
    inputInfo: s.inputInfo,
    rows,
    async run(feeds) {
      const out = await s.run(feeds);
      keep(out['logits']!);
      return out;
    },
    pinInputs: (names) => s.pinInputs(names),
    async runIo(feeds, o) {
      const r = await s.runIo(feeds, o);
      keep(r.outputs['logits']!);
      return r;
    },
  };
}

/** A runner that keeps the last-row logits of every run. */
function recording(model: DecoderRunner): DecoderRunner & { rows: Float32Array[] } {
  const rows: Float32Array[] = [];
  return {
    inputNames: model.inputNames,
    outputNames: model.outputNames,
    ...(model.inputInfo ? { inputInfo: model.inputInfo } : {}),
    rows,
    async run(feeds) {
      const out = await model.run(feeds);
      const l = out['logits']!;
      rows.push((l.data as Float32Array).slice(l.data.length - 512));
      return out;
    },
  };
}

const i64 = (dims: number[], v: number[]): Tensor => ({ dtype: 'int64', dims, data: BigInt64Array.from(v, BigInt) });

/** Greedy decoding with the cache fed back as is, written out plainly (the oracle loop). */
async function plainGreedy(engine: InferenceEngine, prompt: number[], n: number): Promise<number[]> {
  const empty = (): Tensor => ({ dtype: 'float32', dims: [1, 4, 0, 8], data: new Float32Array(0) });
  let past: Record<string, Tensor> = {};
  for (let i = 0; i < 5; i++) for (const kv of ['key', 'value']) past[`past_key_values.${i}.${kv}`] = empty();
  let ids = prompt;
  let pos = 0;
  const out: number[] = [];
  while (out.length < n) {
    const r = await engine.run({
      input_ids: i64([1, ids.length], ids),
      attention_mask: i64([1, pos + ids.length], Array(pos + ids.length).fill(1)),
      position_ids: i64(
        [1, ids.length],
        ids.map((_, k) => pos + k),
      ),
      ...past,
    });
    const l = r['logits']!.data as Float32Array;
    const t = argmaxLogits(l, l.length - 512, 512);
    out.push(t);
    pos += ids.length;
    ids = [t];
    past = {};
    for (let i = 0; i < 5; i++) for (const kv of ['key', 'value']) past[`past_key_values.${i}.${kv}`] = r[`present.${i}.${kv}`]!;
  }
  return out;
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(SparrowError);
    expect((e as SparrowError).code, (e as Error).message).toBe(code);
    return;
  }
  throw new Error(`expected a ${code} error`);
}

describe('generate on stories260K-kv', () => {
  let ref: Session;
  let f32: Session;
  let ort: InferenceEngine;
  beforeAll(async () => {
    ref = await Session.fromOnnx(KV, { engine: 'reference' });
    f32 = await Session.fromOnnx(KV, { engine: 'sparrow-f32' });
    ort = await createOrtEngine('ort-node', KV);
  });
  afterAll(async () => {
    await ort.dispose();
  });

  it('finds the Optimum names, the heads and the head size', () => {
    const l = detectDecoder(ref);
    expect(l.inputIds).toBe('input_ids');
    expect(l.attentionMask).toBe('attention_mask');
    expect(l.positionIds).toBe('position_ids');
    expect(l.logits).toBe('logits');
    expect(l.layers).toHaveLength(5);
    expect(l.layers[3]).toEqual({
      pastKey: 'past_key_values.3.key',
      pastValue: 'past_key_values.3.value',
      presentKey: 'present.3.key',
      presentValue: 'present.3.value',
    });
    expect([l.heads, l.headDim, l.kvDtype]).toEqual([4, 8, 'float32']);
    // an ORT engine states no dims: they are passed
    expect(() => detectDecoder(ort)).toThrow(/heads/);
    expect(detectDecoder(ort, { heads: 4, headDim: 8 }).heads).toBe(4);
  });

  it('refuses a model that is not a decoder with past', async () => {
    const enc = buildModel({
      nodes: [{ op: 'Cast', inputs: ['input_ids'], outputs: ['h'], attrs: { to: 1 } }],
      inputs: [
        { name: 'input_ids', dtype: 'int64', dims: [1, 'S'] },
        { name: 'attention_mask', dtype: 'int64', dims: [1, 'S'] },
      ],
      outputs: [{ name: 'h', dtype: 'float32', dims: [1, 'S'] }],
    });
    const s = await Session.fromOnnx(enc);
    await expectCode(() => detectDecoder(s), 'invalid_model');
    await expectCode(collect(s, [1], { maxTokens: 2 }), 'invalid_model');
  });

  it('greedy tokens = a plain greedy loop over onnxruntime-node (reference, sparrow-f32; fixed and concat caches)', async () => {
    const want = await plainGreedy(ort, PROMPT, 60);
    for (const [name, s] of [
      ['reference', ref],
      ['sparrow-f32', f32],
    ] as const) {
      for (const cache of ['fixed', 'concat'] as const) {
        // sparrow-f32 compiles a plan per step with the concat cache: fewer steps there
        const n = name === 'sparrow-f32' && cache === 'concat' ? 20 : 60;
        const st = await collect(s, PROMPT, { temperature: 0, maxTokens: n, cache, minCapacity: 16 });
        expect(st.tokens, `${name} ${cache}`).toEqual(want.slice(0, n));
        expect(st.stopReason).toBe('max_tokens');
        expect(st.cache).toBe(cache);
        expect(st.decodeSteps).toBe(n - 1);
        // 5 + 59 - 1 rows at most: capacities 16, 32, 63
        expect(st.capacities).toEqual(cache === 'fixed' ? [16, 32, 63] : []);
      }
    }
    // and through the same loop on ORT, fixed cache
    const withInfo: DecoderRunner = {
      inputNames: ort.inputNames,
      outputNames: ort.outputNames,
      inputInfo: ref.inputInfo,
      run: (f) => ort.run(f),
    };
    const o = await collect(withInfo, PROMPT, {
      temperature: 0,
      maxTokens: 60,
    });
    expect(o.tokens).toEqual(want);
  });

  it("the fixed cache's logits = the concat cache's, bit for bit, in the reference engine", async () => {
    const a = recording(ref);
    const b = recording(ref);
    const ta = await collect(a, PROMPT, { temperature: 0, maxTokens: 40, cache: 'fixed', minCapacity: 8 });
    const tb = await collect(b, PROMPT, { temperature: 0, maxTokens: 40, cache: 'concat' });
    expect(ta.tokens).toEqual(tb.tokens);
    expect(ta.capacities).toEqual([8, 16, 32, 43]);
    expect(a.rows).toHaveLength(40);
    a.rows.forEach((r, i) => expect(Array.from(r), `step ${i}`).toEqual(Array.from(b.rows[i]!)));
  });

  // the zero-copy cache (src/runtime/generate.ts header): the past inputs pinned in the arena,
  // the new rows copied from present to past in linear memory; oracle: the same engine with the
  // cache fed whole every step (runOnly), logits bit for bit, sparrow-f32 and sparrow-int8
  it('zero-copy cache: the logits of the cache fed whole, bit for bit (sparrow-f32, sparrow-int8); steps reuse the arena', async () => {
    const i8 = await Session.fromOnnx(KV, { engine: 'sparrow-int8' });
    for (const [name, s] of [
      ['sparrow-f32', f32],
      ['sparrow-int8', i8],
    ] as const) {
      const whole = recording(runOnly(s));
      const zc = recordingIo(s);
      const o = { temperature: 0, maxTokens: 70, minCapacity: 16 };
      const a = await collect(whole, PROMPT, o);
      const b = await collect(zc, PROMPT, o);
      expect(b.tokens, name).toEqual(a.tokens);
      expect(b.capacities).toEqual([16, 32, 64, 73]);
      expect(a.reusedSteps).toBe(0);
      // every decode step but the first at each capacity (its plan is new: the cache is fed whole)
      expect(b.reusedSteps, name).toBe(b.decodeSteps - 4);
      expect(zc.rows).toHaveLength(70);
      zc.rows.forEach((r, i) => expect(Array.from(r), `${name} step ${i}`).toEqual(Array.from(whole.rows[i]!)));
      // zeroCopy: false is the cache fed whole
      expect((await collect(s, PROMPT, { ...o, zeroCopy: false })).reusedSteps).toBe(0);
    }
    i8.dispose();
  });

  it('zero-copy cache: two generations interleaved on one session each give their own tokens', async () => {
    // as long as PROMPT: both at the same capacity at every step, one plan shared by the two
    const other = [1, 261, 378, 403, 407];
    const o = { temperature: 0, maxTokens: 40, minCapacity: 16 };
    const soloA = (await collect(f32, PROMPT, o)).tokens;
    const soloB = (await collect(f32, other, o)).tokens;
    const a = generate(f32, PROMPT, o);
    const b = generate(f32, other, o);
    const ga: number[] = [],
      gb: number[] = [];
    let ra = await a.next(),
      rb = await b.next();
    while (!ra.done || !rb.done) {
      if (!ra.done) {
        ga.push(ra.value);
        ra = await a.next();
      }
      if (!rb.done) {
        gb.push(rb.value);
        rb = await b.next();
      }
    }
    expect(ga).toEqual(soloA);
    expect(gb).toEqual(soloB);
    expect(gb).not.toEqual(ga);
    // each run of the shared plan came after the other generation's: nothing could be reused
    expect([ra.value.reusedSteps, rb.value.reusedSteps]).toEqual([0, 0]);
  });

  it('sampling is reproducible with a seed', async () => {
    const o = { temperature: 0.8, topK: 40, topP: 0.95, maxTokens: 40 };
    const a = await collect(f32, PROMPT, { ...o, seed: 5 });
    const b = await collect(f32, PROMPT, { ...o, seed: 5 });
    const c = await collect(f32, PROMPT, { ...o, seed: 6 });
    expect(a.tokens).toEqual(b.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
    // top-k 1 is greedy whatever the seed
    const g = await collect(f32, PROMPT, { temperature: 0, maxTokens: 40 });
    expect((await collect(f32, PROMPT, { temperature: 1.5, topK: 1, maxTokens: 40, seed: 9 })).tokens).toEqual(g.tokens);
  });

  it('stops on a stop token (not yielded), at max length, and on max tokens', async () => {
    const g = (await collect(f32, PROMPT, { temperature: 0, maxTokens: 30 })).tokens;
    const k = g.findIndex((t, i) => i >= 3 && g.indexOf(t) === i);
    const s = await collect(f32, PROMPT, { temperature: 0, maxTokens: 30, stop: [g[k]!] });
    expect(s.tokens).toEqual(g.slice(0, k));
    expect(s.stopReason).toBe('stop_token');
    // prompt + generated <= maxLength
    const m = await collect(f32, PROMPT, { temperature: 0, maxTokens: 30, maxLength: 12 });
    expect(m.tokens).toEqual(g.slice(0, 12 - PROMPT.length));
    expect(m.stopReason).toBe('length');
    const z = await collect(f32, PROMPT, { maxTokens: 0 });
    expect(z.tokens).toEqual([]);
    expect(z.prefillMs).toBe(0);
  });

  it('an AbortSignal stops it: aborted in the loop, before the start, and from a timer', async () => {
    const ac = new AbortController();
    const got: number[] = [];
    const it = generate(f32, PROMPT, { temperature: 0, maxTokens: 100, signal: ac.signal });
    let r = await it.next();
    while (!r.done) {
      got.push(r.value);
      if (got.length === 5) ac.abort();
      r = await it.next();
    }
    expect(got).toHaveLength(5);
    expect(r.value.stopReason).toBe('aborted');

    const pre = new AbortController();
    pre.abort();
    const p = await collect(f32, PROMPT, { maxTokens: 10, signal: pre.signal });
    expect([p.tokens.length, p.stopReason, p.prefillMs]).toEqual([0, 'aborted', 0]);

    // a timer fires while steps run back to back: the loop hands control to the event loop
    const t = new AbortController();
    setTimeout(() => t.abort(), 50);
    const long = await collect(ref, PROMPT, { temperature: 0, maxTokens: 100_000, signal: t.signal, cache: 'concat' });
    expect(long.stopReason).toBe('aborted');
    expect(long.tokens.length).toBeLessThan(100_000);

    // breaking out of a for-await loop ends the generator
    const seen: number[] = [];
    for await (const tok of generate(f32, PROMPT, { temperature: 0, maxTokens: 50 })) {
      seen.push(tok);
      if (seen.length === 3) break;
    }
    expect(seen).toHaveLength(3);
  });

  it('refuses bad arguments', async () => {
    await expectCode(collect(f32, [], {}), 'invalid_argument');
    await expectCode(collect(f32, [1, -2], {}), 'invalid_argument');
    await expectCode(collect(f32, PROMPT, { maxTokens: -1 }), 'invalid_argument');
    await expectCode(collect(f32, PROMPT, { maxTokens: 1.5 }), 'invalid_argument');
    await expectCode(collect(f32, PROMPT, { maxLength: 3 }), 'invalid_argument');
    await expectCode(collect(f32, PROMPT, { temperature: -1 }), 'invalid_argument');
    await expectCode(collect(f32, PROMPT, { topP: 0 }), 'invalid_argument');
    await expectCode(collect(f32, PROMPT, { minCapacity: 0 }), 'invalid_argument');
  });
});
