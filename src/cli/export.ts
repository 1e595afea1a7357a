// `sparrow export <model.sparrow> -o <model.onnx>`: back to ONNX (issue 16, part 6). The stored
// graph with its int8 weights behind DequantizeLinear (per output channel) and a
// QuantizeLinear/DequantizeLinear pair on every stored activation range (src/onnx/export.ts): a
// standard QDQ model that onnxruntime (and other runtimes) run.
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { SparrowError } from '../errors.js';
import { MAGIC } from '../format/container.js';
import { loadSparrowModel } from '../runtime/sparrow_model.js';
import { exportQdqOnnx, type QdqExportReport } from '../onnx/export.js';
import { VERSION } from '../util/version.js';

/** The QDQ ONNX bytes of a `.sparrow` file. */
export function sparrowToQdqOnnx(bytes: Uint8Array): QdqExportReport {
  if (!(bytes.length >= MAGIC.length && MAGIC.every((b, i) => bytes[i] === b)))
    throw new SparrowError('invalid_argument', 'export takes a .sparrow file');
  const m = loadSparrowModel(bytes);
  return exportQdqOnnx({ graph: m.graph, weights: m.int8, ranges: m.activationRanges, producer: `sparrow ${VERSION}` });
}

export function registerExport(program: Command, out: (s: string) => void): void {
  program
    .command('export')
    .description(
      'write a .sparrow model back as a standard QDQ ONNX model: int8 weights with DequantizeLinear (per output channel), ' +
        'QuantizeLinear/DequantizeLinear on the stored activation ranges, the rest of the graph as stored',
    )
    .argument('<model>', 'a .sparrow file')
    .requiredOption('-o, --output <file>', 'output .onnx file')
    .option('--json', 'print one JSON document')
    .action(async (model: string, o: { output: string; json?: boolean }) => {
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await readFile(model));
      } catch (e) {
        throw new SparrowError('io_error', `cannot read ${model}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const r = sparrowToQdqOnnx(bytes);
      const tmp = join(dirname(o.output), `.${basename(o.output)}.${process.pid}.tmp`);
      try {
        await writeFile(tmp, r.bytes);
        await rename(tmp, o.output);
      } catch (e) {
        await unlink(tmp).catch(() => undefined);
        throw new SparrowError('io_error', `cannot write ${o.output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const doc = { model, output: o.output, bytes: r.bytes.length, weights: r.weights, activations: r.activations, opset: r.opset };
      out(
        o.json
          ? JSON.stringify(doc)
          : `${o.output}: ${r.bytes.length} bytes, QDQ ONNX (opset ${r.opset}): ${r.weights} int8 weights with DequantizeLinear, ` +
              `${r.activations} activations with QuantizeLinear/DequantizeLinear` +
              (r.activations === 0 ? ' (the file stores no activation ranges: compress with --calib and --activations static)' : ''),
      );
    });
}
