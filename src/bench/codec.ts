// `npm run bench:codec`: coded size vs Shannon bound vs gzip-9 / brotli-11, and WASM decode
// throughput vs Node's native zlib inflate, on real ResNet weights (int8 per channel) at
// 0/50/70/90% per-layer magnitude sparsity. `-- --json` prints one JSON document.
// Two coders side by side, each with its size, ratio to the order-0 bound plus tables, ratio to
// brotli-11 and WASM decode speed vs zlib inflate (same run, interleaved): the Huffman codecs
// (codecs 0..3, the smallest per tensor: what `sparrow compress` stores by default), rANS
// (codec 6 "rans-runs" on every tensor, what `codecs: [CODEC_RANS_RUNS]` stores) and codec 5
// "rans-lanes" (ransLanes, the previous rANS column).
import zlib from 'node:zlib';
import { CODEC_NAMES, CODEC_RANS_LANES, CODEC_RANS_RUNS, encodeInt8, type EncodedInt8 } from '../codec/int8.js';
import { SparrowError } from '../errors.js';
import { loadWasmNode } from '../wasm/node.js';
import type { SparrowWasm } from '../wasm/gateway.js';
import { dataFile } from './data.js';
import { interleave } from './timing.js';
import { quantizedWeights } from './weights.js';

/** One coder's figures in a case. */
export interface CoderFigures {
  bytes: number;
  tableBytes: number;
  entropyBytes: number;
  /** bytes / (entropyBytes + tableBytes) */
  boundRatio: number;
  /** bytes / brotli-11 bytes */
  brotliRatio: number;
  decode_MBps: number;
  /** decode_MBps / zlib_inflate_MBps (same run) */
  vsZlib: number;
}

export interface CodecCase {
  model: string;
  sparsity: number;
  params: number;
  nonzero: number;
  bytes: number;
  tableBytes: number;
  entropyBytes: number;
  gzipBytes: number;
  brotliBytes: number;
  decode_MBps: number;
  zlib_inflate_MBps: number;
  codecs: Record<string, number>;
  /** codecs 0..3 (Huffman family, the default): bytes, tables, Σ n·H/8 of their streams, WASM decode in the same run */
  huffman: CoderFigures;
  /** codec 6 (rANS, zero runs + values, 2 states) on every tensor */
  rans: CoderFigures;
  /** codec 5 (rANS, 8 lanes) on every tensor */
  ransLanes: CoderFigures;
}

export async function runCodecBench(opts: { models?: string[]; sparsities?: number[]; rounds?: number } = {}): Promise<CodecCase[]> {
  const models = opts.models ?? ['resnet20-cifar10', 'resnet32-cifar10'];
  const sparsities = opts.sparsities ?? [0, 0.5, 0.7, 0.9];
  const wasm = await loadWasmNode();
  const cases: CodecCase[] = [];
  for (const model of models) {
    const path = dataFile(`models/${model}.onnx`);
    for (const sparsity of sparsities) {
      const weights = quantizedWeights(path, sparsity);
      const coding = (w: { q: Int8Array; dims: number[] }) => ({ cols: w.q.length / w.dims[0]!, dims: w.dims });
      const enc = weights.map((w) => ({ w, e: encodeInt8(w.q, coding(w)) })); // the default coders
      const huf = weights.map((w) => ({ w, e: encodeInt8(w.q, { ...coding(w), codecs: [0, 1, 2, 3] }) }));
      const rns = weights.map((w) => ({ w, e: encodeInt8(w.q, { ...coding(w), codecs: [CODEC_RANS_RUNS] }) }));
      const lanes = weights.map((w) => ({ w, e: encodeInt8(w.q, { ...coding(w), codecs: [CODEC_RANS_LANES] }) }));
      const items = (xs: { w: { name: string; q: Int8Array }; e: EncodedInt8 }[]) =>
        xs.map(({ w, e }) => ({ name: w.name, codec: e.codec, payload: e.payload, expected: w.q }));
      const sum = (xs: { e: EncodedInt8 }[], f: (e: EncodedInt8) => number) => xs.reduce((a, { e }) => a + f(e), 0);
      const figures = (xs: { e: EncodedInt8 }[], mbps: number): CoderFigures => {
        const bytes = sum(xs, (e) => e.payload.length),
          tableBytes = sum(xs, (e) => e.tableBytes),
          entropyBytes = sum(xs, (e) => e.entropyBytes);
        return {
          bytes,
          tableBytes,
          entropyBytes: Math.round(entropyBytes),
          boundRatio: round4(bytes / (entropyBytes + tableBytes)),
          brotliRatio: round4(bytes / br.length),
          decode_MBps: mbps,
          vsZlib: Math.round((mbps / speed.zlib_inflate_MBps) * 100) / 100,
        };
      };
      const params = weights.reduce((a, w) => a + w.q.length, 0);
      const all = concatInt8(weights.map((w) => w.q));
      const gz = zlib.gzipSync(all, { level: 9 });
      const br = zlib.brotliCompressSync(all, {
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: all.length },
      });
      const speed = measureDecodeSpeed(wasm, items(enc), opts.rounds ?? 15, {
        huffman: items(huf),
        rans: items(rns),
        ransLanes: items(lanes),
      });

      const codecs: Record<string, number> = {};
      for (const { e } of enc) codecs[CODEC_NAMES[e.codec]!] = (codecs[CODEC_NAMES[e.codec]!] ?? 0) + 1;
      cases.push({
        model,
        sparsity,
        params,
        nonzero: enc.reduce((a, { e }) => a + e.nonzero, 0),
        bytes: enc.reduce((a, { e }) => a + e.payload.length, 0),
        tableBytes: enc.reduce((a, { e }) => a + e.tableBytes, 0),
        entropyBytes: Math.round(enc.reduce((a, { e }) => a + e.entropyBytes, 0)),
        gzipBytes: gz.length,
        brotliBytes: br.length,
        decode_MBps: speed.decode_MBps,
        zlib_inflate_MBps: speed.zlib_inflate_MBps,
        codecs,
        huffman: figures(huf, speed.others['huffman']!),
        rans: figures(rns, speed.others['rans']!),
        ransLanes: figures(lanes, speed.others['ransLanes']!),
      });
    }
  }
  return cases;
}

/** One int8 tensor for measureDecodeSpeed: its coded payload and the bytes it must decode to. */
export interface DecodeItem {
  name: string;
  codec: number;
  payload: Uint8Array;
  expected: Int8Array;
}

/** The int8 tensors' bytes back to back (what gzip/brotli/deflate are given). */
export function concatInt8(arrays: readonly Int8Array[]): Uint8Array {
  const all = new Uint8Array(arrays.reduce((a, q) => a + q.length, 0));
  let off = 0;
  for (const q of arrays) {
    all.set(new Uint8Array(q.buffer, q.byteOffset, q.length), off);
    off += q.length;
  }
  return all;
}

/**
 * Decoded weight bytes per second of the WASM int8 decoder over `items` vs Node's native zlib
 * inflate of the deflate-9 of the same bytes, interleaved in the same run (`rounds` rounds);
 * `others` are further codings of the same tensors, timed in the same interleaving.
 * The WASM outputs are checked against `expected` first.
 */
export function measureDecodeSpeed(
  wasm: SparrowWasm,
  items: readonly DecodeItem[],
  rounds = 15,
  others: Record<string, readonly DecodeItem[]> = {},
): { decode_MBps: number; zlib_inflate_MBps: number; bytes: number; others: Record<string, number> } {
  const params = items.reduce((a, x) => a + x.expected.length, 0);
  if (!items.length) throw new SparrowError('invalid_argument', 'no int8 tensors to decode');
  const deflated = zlib.deflateSync(concatInt8(items.map((x) => x.expected)), { level: 9 });

  // WASM: the payloads placed in linear memory once (as the runtime does with a loaded
  // container), outputs and one scratch buffer preallocated; the timed loop only decodes
  const mark = wasm.mark();
  try {
    const work = wasm.alloc(Math.max(...items.map((x) => wasm.workBytes(x.expected.length))));
    const decoder = (set: readonly DecodeItem[]) => {
      const srcs = set.map((x) => wasm.put(x.payload));
      const outs = set.map((x) => wasm.alloc(x.expected.length));
      const decodeAll = () =>
        set.forEach((x, i) => wasm.decodeInt8At(x.codec, srcs[i]!, x.payload.length, outs[i]!, x.expected.length, work));
      decodeAll();
      set.forEach((x, i) => {
        const got = wasm.u8(outs[i]!, x.expected.length);
        for (let j = 0; j < got.length; j++)
          if (got[j] !== (x.expected[j]! & 0xff)) throw new Error(`WASM decode mismatch in ${x.name} at ${j}`);
      });
      return decodeAll;
    };
    const decodeAll = decoder(items);
    const extra = Object.entries(others).map(([name, set]) => ({ name, run: decoder(set) }));
    const t = interleave(
      [
        { name: 'wasm', run: decodeAll },
        ...extra,
        {
          name: 'zlib',
          run: () => {
            zlib.inflateSync(deflated);
          },
        },
      ],
      rounds,
    );
    return {
      decode_MBps: round1(params / t.get('wasm')! / 1e6),
      zlib_inflate_MBps: round1(params / t.get('zlib')! / 1e6),
      bytes: params,
      others: Object.fromEntries(extra.map((x) => [x.name, round1(params / t.get(x.name)! / 1e6)])),
    };
  } finally {
    wasm.release(mark);
  }
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function table(cases: CodecCase[]): string {
  const head = [
    'model',
    'sparsity',
    'brotli-11',
    'inflate MB/s',
    'huffman bytes',
    '/(H+tables)',
    'vs brotli',
    'MB/s',
    'x zlib',
    'rans bytes',
    '/(H+tables)',
    'vs brotli',
    'MB/s',
    'x zlib',
    'lanes bytes',
    '/(H+tables)',
    'vs brotli',
    'MB/s',
    'x zlib',
  ];
  const coder = (f: CoderFigures) => [f.bytes, f.boundRatio.toFixed(4), f.brotliRatio.toFixed(4), f.decode_MBps, `${f.vsZlib.toFixed(2)}x`];
  const rows = cases.map((c) =>
    [
      c.model,
      `${Math.round(c.sparsity * 100)}%`,
      c.brotliBytes,
      c.zlib_inflate_MBps,
      ...coder(c.huffman),
      ...coder(c.rans),
      ...coder(c.ransLanes),
    ].map(String),
  );
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => '| ' + r.map((x, i) => x.padStart(w[i]!)).join(' | ') + ' |';
  return [line(head), '|' + w.map((n) => '-'.repeat(n + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const cases = await runCodecBench();
  if (json) process.stdout.write(JSON.stringify({ cases }) + '\n');
  else {
    process.stdout.write(table(cases) + '\n');
    process.stdout.write(
      'bytes: coded int8 payloads; /(H+tables): bytes over Σ n·H/8 of the coded streams plus their tables and headers;\n' +
        'brotli-11: of the same int8 bytes concatenated; MB/s: WASM decoder, decoded bytes/s; inflate: Node zlib of the deflate-9 bytes;\n' +
        'x zlib: MB/s over inflate MB/s, all decoders interleaved in the same run. huffman: the smallest of codecs 0..3 per tensor\n' +
        '(the default); rans: codec 6 (rans-runs) on every tensor (H: order-0 per context: runs, magnitudes by left+up, signs\n' +
        'by neighbours); lanes: codec 5 (rans-lanes) on every tensor (H likewise, zeros as magnitude symbols).\n',
    );
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (c) => {
      process.exitCode = c;
    },
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exitCode = 1;
    },
  );
}
