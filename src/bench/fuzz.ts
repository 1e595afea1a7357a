// `npm run fuzz`: mutated, truncated and random inputs through the container reader, the
// streaming reader, every WASM decoder (dense and CSR, in paranoid layout: input flush
// against the end of memory, guard bytes around outputs), the TS reference decoders and
// the npy parser. Each input must be rejected with a SparrowError, or decode to exactly
// what the TS reference decodes; a trap, another exception, a guard overwrite, an
// accept/reject disagreement or a slow input (> 1 s) is a failure.
import { SparrowError } from '../errors.js';
import {
  CODEC_HUFFMAN,
  CODEC_RANS,
  CODEC_RANS_LANES,
  CODEC_RANS_RUNS,
  CODEC_RAW,
  CODEC_RLE_HUFFMAN,
  CODEC_RLE_ROWS,
  decodeCsrRef,
  decodeInt8Ref,
  encodeInt8,
} from '../codec/int8.js';
import { encodeBlock } from '../codec/huffman.js';
import { encodeRansRows } from '../codec/rans_int8.js';
import { ContainerStreamReader, readContainer } from '../format/container.js';
import { crc32 } from '../format/crc32.js';
import { inspectSparrow } from '../format/inspect.js';
import { packTensors } from '../compress/pack.js';
import { parseNpy, writeNpy } from '../io/npy.js';
import { statusError, type SparrowWasm } from '../wasm/gateway.js';
import { decodeChecked } from '../wasm/checked.js';
import { loadWasmNode } from '../wasm/node.js';

export interface FuzzReport {
  inputs: number;
  rejected: number;
  accepted: number;
  failures: Array<{ target: string; input: string; problem: string }>;
  targets: Record<string, { inputs: number; rejected: number; accepted: number }>;
  seconds: number;
}

type Rand = () => number; // uniform u32
function xorshift(seed: number): Rand {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}
const below = (r: Rand, n: number): number => (n <= 0 ? 0 : r() % n);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A random int8 tensor: random length, sparsity and spread (edge cases included). */
function randomTensor(r: Rand): Int8Array {
  const sizes = [0, 1, 2, 3, 7, 16, 31, 100, 255, 256, 257, 1023, 1024, 1025, 3000, 5000];
  const n = below(r, 4) === 0 ? below(r, 6000) : sizes[below(r, sizes.length)]!;
  const sparsity = [0, 0.5, 0.7, 0.9, 0.99, 1][below(r, 6)]!;
  const spread = 1 + below(r, 127);
  const d = new Int8Array(n);
  for (let i = 0; i < n; i++) d[i] = below(r, 1000) < sparsity * 1000 ? 0 : below(r, 2 * spread + 1) - spread;
  return d;
}

/** Neighbour-correlated values (a clamped random walk), so codec 4's magnitude context pays. */
function smoothTensor(r: Rand): Int8Array {
  const n = 600 + below(r, 4400);
  const sparsity = [0, 0, 0.3, 0.6][below(r, 4)]!;
  const d = new Int8Array(n);
  let v = below(r, 255) - 127;
  for (let i = 0; i < n; i++) {
    v = Math.max(-127, Math.min(127, v + below(r, 9) - 4));
    if (below(r, 20) === 0) v = below(r, 255) - 127;
    d[i] = below(r, 1000) < sparsity * 1000 ? 0 : v;
  }
  return d;
}

/** 1..6 random edits: bit flips, byte sets, inserts, deletes, truncation, slice copies. */
export function mutate(r: Rand, src: Uint8Array): Uint8Array {
  let b = Array.from(src);
  const k = 1 + below(r, 6);
  for (let i = 0; i < k; i++) {
    const op = below(r, 8);
    const at = below(r, b.length + 1);
    if (op === 0 && b.length) b[at % b.length]! ^= 1 << below(r, 8);
    else if (op === 1 && b.length) b[at % b.length] = r() & 0xff;
    else if (op === 2 && b.length) b[at % b.length] = [0, 0xff, 0x7f, 0x80, 1][below(r, 5)]!;
    else if (op === 3) b.splice(at, 0, r() & 0xff);
    else if (op === 4 && b.length) b.splice(at % b.length, 1 + below(r, 4));
    else if (op === 5) b = b.slice(0, at);
    else if (op === 6 && b.length > 2) {
      const from = below(r, b.length),
        len = 1 + below(r, 16);
      b.splice(at, 0, ...b.slice(from, from + len));
    } else if (op === 7 && b.length) b[at % b.length] = (b[at % b.length]! + (below(r, 2) ? 1 : 255)) & 0xff;
  }
  return Uint8Array.from(b);
}

/** Recomputes the container's header, table and metadata CRCs (so mutations reach deeper checks). */
function resign(b: Uint8Array): Uint8Array {
  if (b.length < 64) return b;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const count = v.getUint32(20, true),
    metaOff = v.getUint32(28, true),
    metaBytes = v.getUint32(32, true);
  const tableEnd = 64 + 32 * count;
  if (count <= 65536 && tableEnd <= b.length) v.setUint32(48, crc32(b.subarray(64, tableEnd)), true);
  if (metaOff + metaBytes <= b.length) v.setUint32(36, crc32(b.subarray(metaOff, metaOff + metaBytes)), true);
  v.setUint32(60, crc32(b.subarray(0, 60)), true);
  return b;
}

interface Outcome {
  ok: boolean;
  value?: string;
  error?: unknown;
}
function attempt(fn: () => string): Outcome {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

export async function runFuzz(opts: {
  iterations: number;
  seed?: number;
  wasm?: SparrowWasm;
  log?: (s: string) => void;
}): Promise<FuzzReport> {
  const r = xorshift(opts.seed ?? 0x5eed);
  const w = opts.wasm ?? (await loadWasmNode());
  const report: FuzzReport = { inputs: 0, rejected: 0, accepted: 0, failures: [], targets: {}, seconds: 0 };
  const t0 = performance.now();
  const tally = (target: string, accepted: boolean) => {
    const t = (report.targets[target] ??= { inputs: 0, rejected: 0, accepted: 0 });
    t.inputs++;
    report.inputs++;
    if (accepted) {
      t.accepted++;
      report.accepted++;
    } else {
      t.rejected++;
      report.rejected++;
    }
  };
  const fail = (target: string, input: Uint8Array, problem: string) => {
    if (report.failures.length < 50) report.failures.push({ target, input: hex(input.subarray(0, 4096)), problem });
  };
  const nonSparrow = (o: Outcome) => !o.ok && !(o.error instanceof SparrowError);

  // --- decoders: WASM (paranoid) vs TS reference on one payload
  const checkDecoder = (target: string, codec: number, payload: Uint8Array, n: number, csr?: [number, number]) => {
    const start = performance.now();
    let wasmOut: CheckedOrTrap;
    try {
      wasmOut = decodeChecked(w, codec, payload, n, csr, csr && payload.length % 2 ? 2 : 1);
    } catch (e) {
      wasmOut = { trap: String(e) };
    }
    const ref = attempt(() => {
      if (csr) {
        const c = decodeCsrRef(codec, payload, csr[0], csr[1]);
        return hex(new Uint8Array([...new Uint8Array(c.rowPtr.buffer), ...new Uint8Array(c.col.buffer), ...new Uint8Array(c.val.buffer)]));
      }
      return hex(new Uint8Array(decodeInt8Ref(codec, payload, n).buffer));
    });
    const ms = performance.now() - start;
    if ('trap' in wasmOut) return fail(target, payload, `WASM trapped (codec ${codec}, n ${n}): ${wasmOut.trap}`);
    if (!wasmOut.guardsIntact) return fail(target, payload, `WASM wrote outside its output buffers (codec ${codec}, n ${n})`);
    if (nonSparrow(ref)) return fail(target, payload, `reference threw a non-SparrowError: ${String(ref.error)}`);
    if (ms > 1000) fail(target, payload, `slow input: ${ms.toFixed(0)} ms`);
    const wasmOk = wasmOut.status >= 0;
    if (!wasmOk && !(statusError(wasmOut.status, 'x') instanceof SparrowError))
      return fail(target, payload, `unknown status ${wasmOut.status}`);
    if (wasmOk !== ref.ok)
      return fail(
        target,
        payload,
        `WASM ${wasmOk ? 'accepted' : `rejected (${wasmOut.status})`} but the reference ${ref.ok ? 'accepted' : `rejected (${(ref.error as Error).message})`} (codec ${codec}, n ${n}${csr ? `, csr ${csr}` : ''})`,
      );
    if (wasmOk && hex(wasmOut.out) !== ref.value)
      return fail(target, payload, `WASM and reference outputs differ (codec ${codec}, n ${n})`);
    tally(target, wasmOk);
  };
  type CheckedOrTrap = ReturnType<typeof decodeChecked> | { trap: string };

  // --- containers: readContainer, inspect (decodes every stream), streaming reader agree
  const checkContainer = (target: string, bytes: Uint8Array) => {
    const whole = attempt(() => JSON.stringify(inspectSparrow(bytes)));
    if (nonSparrow(whole)) return fail(target, bytes, `inspect threw a non-SparrowError: ${String(whole.error)}`);
    const streamed = attempt(() => {
      const rd = new ContainerStreamReader();
      let got = 0,
        pos = 0;
      while (pos < bytes.length) {
        const k = 1 + below(r, 200);
        got += rd.push(bytes.subarray(pos, pos + k)).length;
        pos += k;
      }
      rd.end();
      return String(got);
    });
    if (nonSparrow(streamed)) return fail(target, bytes, `stream reader threw a non-SparrowError: ${String(streamed.error)}`);
    const plain = attempt(() => String(readContainer(bytes).header.sectionCount));
    if (plain.ok !== streamed.ok)
      return fail(
        target,
        bytes,
        `readContainer ${plain.ok ? 'accepted' : 'rejected'} but the stream reader ${streamed.ok ? 'accepted' : 'rejected'}`,
      );
    tally(target, whole.ok);
  };

  // corpus of valid containers
  const containers: Uint8Array[] = [];
  for (let i = 0; i < 12; i++) {
    const tensors = Array.from({ length: 1 + below(r, 4) }, (_, k) => {
      const d = randomTensor(r);
      return { name: `t${k}`, shape: [d.length], data: d };
    });
    tensors.push({ name: 'scale', shape: [3], data: Float32Array.from([0.5, 1, 2]) as unknown as Int8Array });
    containers.push(packTensors(tensors).bytes);
  }
  const npys = [
    writeNpy(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
    writeNpy(Int8Array.from([1, -2, 3]), [3]),
    writeNpy(new BigInt64Array([1n, 2n]), [2]),
  ];

  for (let it = 0; report.inputs < opts.iterations; it++) {
    const kind = it % 10;
    if (kind <= 4) {
      // a valid payload of a random tensor, mutated (or not), decoded with a random codec claim
      const codec = (
        [
          CODEC_RAW,
          CODEC_HUFFMAN,
          CODEC_RLE_HUFFMAN,
          CODEC_RLE_ROWS,
          CODEC_RANS,
          CODEC_RANS,
          CODEC_RANS_LANES,
          CODEC_RANS_LANES,
          CODEC_RANS_RUNS,
          CODEC_RANS_RUNS,
        ] as const
      )[below(r, 10)]!;
      // codecs 4, 5 and 6 also on smooth tensors (magnitude contexts); codec 4 with any state count 1, 2, 4, 8
      const smooth = (codec === CODEC_RANS || codec === CODEC_RANS_LANES || codec === CODEC_RANS_RUNS) && below(r, 2) === 0;
      const d = smooth ? smoothTensor(r) : randomTensor(r);
      const divisors = [1, 2, 3, 4, 5, 7, 8, 16].filter((k) => d.length % k === 0);
      const cols = d.length / divisors[below(r, divisors.length)]!;
      const dims = cols % 9 === 0 ? [d.length / cols, cols / 9, 3, 3] : undefined;
      let payload: Uint8Array =
        d.length && below(r, 3) === 0 && codec === CODEC_HUFFMAN
          ? encodeBlock(
              Uint8Array.from(d, (v) => ((v << 1) ^ (v >> 7)) & 0xff),
              { streams: below(r, 2) ? 4 : 1 },
            ).bytes
          : smooth && codec === CODEC_RANS
            ? encodeRansRows(d, cols, dims ? { kw: 3, karea: 9 } : { kw: cols, karea: cols }, {
                states: ([1, 2, 4, 8] as const)[below(r, 4)]!,
              }).payload
            : encodeInt8(d, { codecs: [codec], cols, dims }).payload;
      if (below(r, 8) !== 0) payload = mutate(r, payload);
      let n = d.length;
      if (below(r, 10) === 0) n = Math.max(0, n + below(r, 5) - 2);
      const claimed: number = below(r, 10) === 0 ? below(r, 7) : codec;
      if (kind === 4 && n > 0) {
        const rows = [1, 2, 3, 4, 5, 7, 8].filter((k) => n % k === 0);
        const rr = below(r, 2) && n === d.length ? d.length / cols : rows[below(r, rows.length)]!;
        checkDecoder('decode-csr', claimed, payload, n, [rr, n / rr]);
      } else {
        checkDecoder('decode-dense', claimed, payload, n);
      }
    } else if (kind === 5) {
      const payload = Uint8Array.from({ length: below(r, 300) }, () => r() & 0xff);
      checkDecoder('decode-random', below(r, 6), payload, below(r, 2000));
    } else if (kind <= 7) {
      checkContainer('container', mutate(r, containers[below(r, containers.length)]!));
    } else if (kind === 8) {
      // mutate the header/table/metadata region, then re-sign so the deeper checks run
      const c = containers[below(r, containers.length)]!;
      const m = c.slice();
      const metaEnd = new DataView(m.buffer).getUint32(40, true);
      for (let k = 0; k < 1 + below(r, 3); k++) {
        const at = below(r, Math.min(metaEnd, m.length));
        m[at] = below(r, 2) ? m[at]! ^ (1 << below(r, 8)) : r() & 0xff;
      }
      checkContainer('container-resigned', resign(m));
    } else {
      const b = mutate(r, npys[below(r, npys.length)]!);
      const o = attempt(() => String(parseNpy(b).shape));
      if (nonSparrow(o)) fail('npy', b, `parseNpy threw a non-SparrowError: ${String(o.error)}`);
      else tally('npy', o.ok);
    }
    if (opts.log && report.inputs % 20000 === 0 && report.inputs > 0)
      opts.log(`${report.inputs} inputs, ${report.failures.length} failures`);
  }
  report.seconds = Math.round((performance.now() - t0) / 100) / 10;
  return report;
}

export async function main(argv: string[]): Promise<number> {
  const arg = (name: string, dflt: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const report = await runFuzz({
    iterations: arg('--iterations', 120_000),
    seed: arg('--seed', Date.now() & 0xffff),
    log: (s) => process.stderr.write(s + '\n'),
  });
  if (argv.includes('--json')) process.stdout.write(JSON.stringify(report) + '\n');
  else {
    process.stdout.write(
      `fuzz: ${report.inputs} inputs in ${report.seconds} s: ${report.rejected} rejected with SparrowError, ${report.accepted} accepted (decoded identically by WASM and the TS reference), ${report.failures.length} failures\n`,
    );
    for (const [k, t] of Object.entries(report.targets))
      process.stdout.write(`  ${k.padEnd(20)} ${String(t.inputs).padStart(7)} inputs, ${t.rejected} rejected, ${t.accepted} accepted\n`);
    for (const f of report.failures.slice(0, 10))
      process.stdout.write(`FAIL ${f.target}: ${f.problem}\n  input ${f.input.slice(0, 200)}\n`);
  }
  return report.failures.length ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (c) => {
      process.exitCode = c;
    },
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
