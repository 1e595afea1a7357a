// The `sparrow` command line (../shared/CONTRACT.md). One place turns errors into a one-line
// message on stderr and a non-zero exit code; `--json` prints exactly one JSON document.
import { readFile, writeFile } from 'node:fs/promises';
import { Command, CommanderError } from 'commander';
import { SparrowError, isSparrowError } from '../errors.js';
import { inspectSparrow, type InspectReport } from '../format/inspect.js';
import { packOnnxWeights, packTensors, type PackTensor } from '../compress/pack.js';
import { parseNpy } from '../io/npy.js';

export const VERSION = '0.1.0';

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new SparrowError('io_error', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

async function writeOutput(path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFile(path, bytes);
  } catch (e) {
    throw new SparrowError('io_error', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function kb(n: number): string {
  return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`;
}

export function formatInspect(r: InspectReport, file: string): string {
  const rows = r.tensors.map((t) => [t.name, `[${t.shape.join(',')}]`, t.dtype, t.codec, t.density.toFixed(3), String(t.bytes), String(t.entropyBytes)]);
  const head = ['tensor', 'shape', 'dtype', 'codec', 'density', 'bytes', 'entropy'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]) => x.map((c, i) => (i >= 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ');
  return [
    `${file}: sparrow v${r.version}, ${kb(r.bytes)} (${r.bytes} bytes), ${r.tensors.length} tensors`,
    `params ${r.params}, nonzero ${r.nonzero} (density ${(r.params ? r.nonzero / r.params : 1).toFixed(3)}), ` +
      `Shannon bound of the coded streams ${kb(r.entropyBytes)}`,
    '',
    line(head),
    ...rows.map(line),
  ].join('\n');
}

function buildProgram(out: (s: string) => void): Command {
  const program = new Command('sparrow')
    .description('Sparrow: compressed neural networks on WebAssembly, from Node to the edge.')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: () => { /* one line, printed by main */ } });

  program.command('inspect')
    .description('show the tensors, codecs, densities and sizes of a .sparrow file (every CRC and stream is checked)')
    .argument('<file>', 'a .sparrow file')
    .option('--json', 'print one JSON document')
    .action(async (file: string, o: { json?: boolean }) => {
      const report = inspectSparrow(await readInput(file));
      out(o.json ? JSON.stringify(report) : formatInspect(report, file));
    });

  program.command('pack')
    .description('build a .sparrow from .npy tensors (int8 ones are entropy-coded), or from the weights of an ONNX model ' +
      '(magnitude-pruned, int8 per output channel; weights only, no graph)')
    .argument('[tensors...]', 'name=file.npy pairs, in execution order')
    .requiredOption('-o, --output <file>', 'output .sparrow file')
    .option('--onnx <model>', 'take the Conv/Gemm/MatMul weights of this ONNX model')
    .option('--sparsity <s>', 'per-layer magnitude sparsity for --onnx, 0 ≤ s < 1', '0')
    .option('--json', 'print the inspect report of the written file as one JSON document')
    .action(async (pairs: string[], o: { output: string; onnx?: string; sparsity: string; json?: boolean }) => {
      let bytes: Uint8Array;
      if (o.onnx) {
        if (pairs.length) throw new SparrowError('invalid_argument', 'give either --onnx or name=file.npy tensors, not both');
        const s = Number(o.sparsity);
        if (!(s >= 0 && s < 1)) throw new SparrowError('invalid_argument', `--sparsity must be in [0, 1), got ${o.sparsity}`);
        bytes = packOnnxWeights(await readInput(o.onnx), s);
      } else {
        if (!pairs.length) throw new SparrowError('invalid_argument', 'nothing to pack: give name=file.npy tensors or --onnx <model>');
        const tensors: PackTensor[] = [];
        for (const p of pairs) {
          const eq = p.indexOf('=');
          if (eq <= 0) throw new SparrowError('invalid_argument', `expected name=file.npy, got "${p}"`);
          const a = parseNpy(await readInput(p.slice(eq + 1)));
          if (a.data instanceof Float64Array) throw new SparrowError('invalid_argument', `${p.slice(eq + 1)}: float64 is not stored; convert to float32`);
          tensors.push({ name: p.slice(0, eq), shape: a.shape, data: a.data });
        }
        bytes = packTensors(tensors).bytes;
      }
      await writeOutput(o.output, bytes);
      const report = inspectSparrow(bytes);
      out(o.json ? JSON.stringify(report) : formatInspect(report, o.output));
    });

  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram((s) => process.stdout.write(s + '\n'));
  if (argv.length === 0) {
    process.stdout.write(program.helpInformation());
    return 0;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      process.stderr.write(`sparrow: ${e.message.replace(/^error: /, '').split('\n')[0]}\n`);
      return 2;
    }
    if (isSparrowError(e)) {
      process.stderr.write(`sparrow: ${e.code}: ${e.message.split('\n')[0]}\n`);
      return 1;
    }
    process.stderr.write(`sparrow: internal error: ${(e as Error)?.stack?.split('\n').slice(0, 2).join(' ') ?? String(e)}\n`);
    return 70;
  }
}
