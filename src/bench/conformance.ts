// `sparrow conformance <dir>`: runs the official ONNX backend tests (test_*/model.onnx with
// test_data_set_*/input_*.pb → output_*.pb) through a Session and compares the outputs at
// rtol 1e-4 / atol 1e-5 (integers and bools exactly, shapes exactly). A model with an op we
// do not support is reported `unsupported` with the op, opset and node; anything else that
// goes wrong is `failed` with a reason. Never throws for one bad test.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isSparrowError } from '../errors.js';
import { onnxRuntime } from '../onnx/proto.js';
import { tensorFromOnnx } from '../onnx/attributes.js';
import { Session, type EngineName } from '../runtime/session.js';
import type { Tensor } from '../ops/types.js';
import { castTensor } from '../ops/ref/cast.js';
import '../ops/ref/index.js';

export interface ConformanceReport {
  passed: string[];
  failed: Array<{ name: string; reason: string }>;
  unsupported: Array<{ name: string; reason: string }>;
}

export const RTOL = 1e-4;
export const ATOL = 1e-5;

function readTensor(path: string): { name: string; tensor: Tensor } {
  const proto = onnxRuntime.TensorProto.decode(readFileSync(path));
  return { name: proto.name ?? '', tensor: tensorFromOnnx(proto, path) };
}

/**
 * Relative tolerance per float dtype: float32 and float64 (computed in float32, src/ops/types.ts)
 * RTOL; float16 and bfloat16, computed in float32 and rounded once where a 16-bit runtime rounds
 * after every op, about one ulp of the type (2^-10, 2^-7).
 */
const FLOAT_RTOL: Readonly<Partial<Record<Tensor['dtype'], number>>> = { float32: RTOL, float64: RTOL, float16: 1e-3, bfloat16: 8e-3 };

/** First mismatch between `got` and `want`, or null when they agree within the tolerances. */
export function compareTensors(got: Tensor, want: Tensor): string | null {
  if (got.dtype !== want.dtype) return `dtype ${got.dtype}, expected ${want.dtype}`;
  if (got.dims.length !== want.dims.length || got.dims.some((d, i) => d !== want.dims[i]))
    return `dims [${got.dims}], expected [${want.dims}]`;
  const rtol = FLOAT_RTOL[got.dtype];
  // float16/bfloat16 bits compare as their values
  const a = rtol === undefined || got.dtype === 'float32' || got.dtype === 'float64' ? got.data : castTensor(got, 'float32').data,
    b = rtol === undefined || want.dtype === 'float32' || want.dtype === 'float64' ? want.data : castTensor(want, 'float32').data;
  if (a.length !== b.length) return `${a.length} elements, expected ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (rtol !== undefined) {
      const x = a[i] as number,
        y = b[i] as number;
      if (Number.isNaN(y) ? !Number.isNaN(x) : !(Math.abs(x - y) <= ATOL + rtol * Math.abs(y)) && x !== y) {
        return `element ${i}: ${x}, expected ${y} (|diff| ${Math.abs(x - y).toExponential(2)})`;
      }
    } else if (a[i] !== b[i]) {
      return `element ${i}: ${a[i]}, expected ${b[i]}`;
    }
  }
  return null;
}

function numbered(dir: string, prefix: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((x, y) => Number(x.slice(prefix.length, -3)) - Number(y.slice(prefix.length, -3)));
}

export async function runConformanceTest(
  dir: string,
  engine: EngineName = 'reference',
): Promise<{ status: 'passed' | 'failed' | 'unsupported'; reason: string }> {
  let session: Session;
  try {
    session = await Session.fromOnnx(new Uint8Array(readFileSync(join(dir, 'model.onnx'))), { engine });
  } catch (e) {
    if (isSparrowError(e) && e.code === 'unsupported_op') return { status: 'unsupported', reason: e.message };
    return { status: 'failed', reason: `load: ${(e as Error).message}` };
  }
  const sets = readdirSync(dir)
    .filter((f) => f.startsWith('test_data_set_') && statSync(join(dir, f)).isDirectory())
    .sort();
  if (sets.length === 0) return { status: 'failed', reason: 'no test_data_set_* folder' };
  for (const set of sets) {
    const sd = join(dir, set);
    try {
      const inputs = numbered(sd, 'input_').map((f) => readTensor(join(sd, f)));
      const feeds: Record<string, Tensor> = {};
      inputs.forEach((t, i) => {
        const name = session.inputNames.includes(t.name) ? t.name : session.inputNames[i];
        if (name !== undefined) feeds[name] = t.tensor;
      });
      const outs = await session.run(feeds);
      const wants = numbered(sd, 'output_').map((f) => readTensor(join(sd, f)));
      for (let i = 0; i < wants.length; i++) {
        const name = session.outputNames.includes(wants[i]!.name) ? wants[i]!.name : session.outputNames[i]!;
        const got = outs[name];
        if (!got) return { status: 'failed', reason: `${set}: output ${name} missing` };
        const diff = compareTensors(got, wants[i]!.tensor);
        if (diff) return { status: 'failed', reason: `${set}: output ${name}: ${diff}` };
      }
    } catch (e) {
      if (isSparrowError(e) && e.code === 'unsupported_op') return { status: 'unsupported', reason: e.message };
      return { status: 'failed', reason: `${set}: ${(e as Error).message}` };
    }
  }
  return { status: 'passed', reason: '' };
}

export async function runConformance(
  root: string,
  opts: { filter?: (name: string) => boolean; engine?: EngineName } = {},
): Promise<ConformanceReport> {
  if (!existsSync(root)) throw new Error(`no such folder: ${root}`);
  const report: ConformanceReport = { passed: [], failed: [], unsupported: [] };
  const tests = readdirSync(root)
    .filter((f) => f.startsWith('test_') && existsSync(join(root, f, 'model.onnx')))
    .sort();
  for (const name of tests) {
    if (opts.filter && !opts.filter(name)) continue;
    const r = await runConformanceTest(join(root, name), opts.engine);
    if (r.status === 'passed') report.passed.push(name);
    else report[r.status].push({ name, reason: r.reason });
  }
  return report;
}
