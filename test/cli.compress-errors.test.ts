// `sparrow compress` on bad input (bin/sparrow.js → dist/, built by `npm test`): not an ONNX
// file, a truncated ONNX, an unsupported op, a sparsity outside [0, 1), missing / unreadable /
// non-finite calibration data, a failure inside the compression itself (calibration Hessians
// overflow) and an unwritable output. Each exits non-zero with one line `sparrow: <code>: ...`
// on stderr and nothing on stdout, leaves no file at -o (and a file already there unchanged),
// and no temporary file beside it (the output is written to a temporary file, then renamed).
// SIGTERM in the middle of a long synchronous computation ends the process at once (a signal
// handler installed for the whole command used to hold it until the computation yielded).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel, f32 } from '../src/onnx/build.js';
import { writeNpy } from '../src/io/npy.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MNIST = join(ROOT, 'examples/models/mnist-8.onnx');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function sparrow(...args: string[]): Run {
  const r = spawnSync(process.execPath, ['bin/sparrow.js', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let tmp: string;
const files: Record<string, string> = {};
beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'dist/ missing: run `npm run build`').toBe(true);
  tmp = mkdtempSync(join(tmpdir(), 'sparrow-compress-errors-'));
  const put = (name: string, bytes: Uint8Array | string): void => {
    files[name] = join(tmp, name);
    writeFileSync(files[name]!, bytes);
  };
  const onnx = readFileSync(MNIST);
  put('text.onnx', 'this is not a model\n');
  put('truncated.onnx', onnx.subarray(0, Math.floor(onnx.length * 0.6)));
  put(
    'unsupported.onnx',
    buildModel({
      opsets: { '': 13 },
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'], name: 'relu' },
        { op: 'FancyActivation', inputs: ['r'], outputs: ['y'], name: 'fancy' },
      ],
      inputs: [{ name: 'x', dtype: 'float32', dims: [1, 4] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: [1, 4] }],
      initializers: { unused: f32([1], [0]) },
    }),
  );
  put('garbage.npy', 'not an npy file');
  put(
    'nan.npy',
    writeNpy(
      Float32Array.from({ length: 4 * 784 }, (_, i) => (i === 3 * 784 + 5 ? NaN : 0.5)),
      [4, 1, 28, 28],
    ),
  );
  // finite inputs whose calibration Hessians overflow float: compressGraph itself fails, after -o is known
  put('huge.npy', writeNpy(new Float32Array(4 * 784).fill(1e38), [4, 1, 28, 28]));
  put('cifar-short.bin', new Uint8Array(5000));
  mkdirSync(join(tmp, 'out'));
  mkdirSync(join(tmp, 'out', 'a-directory.sparrow'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Every case: [name, args before -o, the expected stderr line]. */
const CASES: Array<[string, () => string[], RegExp]> = [
  ['not an ONNX file', () => [files['text.onnx']!], /^sparrow: invalid_model: not a readable ONNX model/],
  ['a truncated ONNX file', () => [files['truncated.onnx']!], /^sparrow: invalid_model: not a readable ONNX model/],
  ['a missing model file', () => [join(tmp, 'nope.onnx')], /^sparrow: io_error: cannot read .*nope\.onnx: ENOENT/],
  ['an unsupported op', () => [files['unsupported.onnx']!], /^sparrow: unsupported_op: .*FancyActivation.*opset 13.*fancy/],
  ['sparsity 1', () => [MNIST, '--sparsity', '1'], /^sparrow: invalid_argument: sparsity must be in \[0, 1\), got 1$/],
  ['sparsity -0.1', () => [MNIST, '--sparsity', '-0.1'], /^sparrow: invalid_argument: sparsity must be in \[0, 1\)/],
  ['sparsity 1.5', () => [MNIST, '--sparsity', '1.5'], /^sparrow: invalid_argument: sparsity must be in \[0, 1\)/],
  ['sparsity not a number', () => [MNIST, '--sparsity', 'half'], /^sparrow: invalid_argument: --sparsity must be a number, got "half"/],
  [
    '--prune obs without --calib',
    () => [MNIST, '--prune', 'obs'],
    /^sparrow: invalid_argument: obs pruning needs calibration data \(--calib\)/,
  ],
  [
    '--prune channels without --calib',
    () => [MNIST, '--prune', 'channels'],
    /^sparrow: invalid_argument: channels pruning needs calibration data/,
  ],
  [
    '--scope global with hessian',
    () => [MNIST, '--prune', 'hessian', '--scope', 'global'],
    /^sparrow: invalid_argument: --scope global is for --prune magnitude or channels, not hessian/,
  ],
  [
    '--finetune without --calib',
    () => [MNIST, '--prune', 'magnitude', '--finetune', '3'],
    /^sparrow: invalid_argument: --finetune needs calibration images \(--calib\), also with --prune magnitude/,
  ],
  [
    '--finetune 0 epochs',
    () => [MNIST, '--prune', 'channels', '--finetune', '0'],
    /^sparrow: invalid_argument: --finetune needs a positive integer of epochs, got 0/,
  ],
  [
    '--finetune-lr negative',
    () => [MNIST, '--prune', 'channels', '--finetune', '2', '--finetune-lr', '-1'],
    /^sparrow: invalid_argument: the fine-tuning learning rate must be a positive number, got -1/,
  ],
  [
    '--finetune-mix unknown',
    () => [MNIST, '--prune', 'channels', '--finetune', '2', '--finetune-mix', 'blend'],
    /^sparrow: invalid_argument: --finetune-mix must be none, mixup or cutmix, got blend/,
  ],
  [
    '--finetune-warmup over the epochs',
    () => [MNIST, '--prune', 'channels', '--finetune', '2', '--finetune-warmup', '3'],
    /^sparrow: invalid_argument: --finetune-warmup must be in \[0, epochs\], got 3/,
  ],
  [
    '--finetune-ema 1',
    () => [MNIST, '--prune', 'channels', '--finetune', '2', '--finetune-ema', '1'],
    /^sparrow: invalid_argument: --finetune-ema must be in \[0, 1\), got 1/,
  ],
  [
    '--scope unknown',
    () => [MNIST, '--scope', 'model'],
    /^sparrow: invalid_argument: the pruning scope must be layer or global, got model/,
  ],
  [
    '--sparsity-pattern unknown',
    () => [MNIST, '--sparsity-pattern', 'quads'],
    /^sparrow: invalid_argument: the sparsity pattern must be pairs or unstructured, got quads/,
  ],
  [
    '--sparsity-pattern pairs with --scope global',
    () => [MNIST, '--prune', 'magnitude', '--scope', 'global', '--sparsity-pattern', 'pairs'],
    /^sparrow: invalid_argument: --sparsity-pattern pairs is for --prune hessian or magnitude \(per layer\), not magnitude --scope global/,
  ],
  [
    '--target-size with magnitude',
    () => [MNIST, '--prune', 'magnitude', '--target-size', '5000'],
    /^sparrow: invalid_argument: a size target \(--target-size\) needs --prune hessian, obs or channels/,
  ],
  [
    'calibration folder missing',
    () => [MNIST, '--prune', 'hessian', '--calib', `mnist:${join(tmp, 'no-such-folder')}`],
    /^sparrow: io_error: .*no-such-folder/,
  ],
  [
    'calibration .npy missing',
    () => [MNIST, '--activations', 'static', '--calib', `npy:${join(tmp, 'missing.npy')}`],
    /^sparrow: io_error: cannot read .*missing\.npy/,
  ],
  [
    'calibration .npy unreadable',
    () => [MNIST, '--activations', 'static', '--calib', `npy:${files['garbage.npy']}`],
    /^sparrow: invalid_argument: --calib npy:.*garbage\.npy: invalid \.npy/,
  ],
  [
    'calibration data with a NaN',
    () => [MNIST, '--activations', 'static', '--calib', `npy:${files['nan.npy']}`, '--calib-n', '4'],
    /^sparrow: invalid_argument: --calib npy:.*nan\.npy: record 3 holds a non-finite value \(NaN\)/,
  ],
  [
    'calibration CIFAR file cut short',
    () => [MNIST, '--prune', 'hessian', '--calib', `cifar10:${files['cifar-short.bin']}`],
    /^sparrow: invalid_argument: --calib cifar10:.*not a whole number of 3073-byte records/,
  ],
  [
    'calibration dataset unknown',
    () => [MNIST, '--prune', 'hessian', '--calib', 'imagenet:/x'],
    /^sparrow: invalid_argument: --calib imagenet:\/x: unknown dataset/,
  ],
  [
    'compression fails mid-way (Hessians overflow)',
    () => [MNIST, '--prune', 'hessian', '--calib', `npy:${files['huge.npy']}`, '--calib-n', '4'],
    /^sparrow: invalid_argument: .*not finite/,
  ],
];

function expectOneLineFailure(r: Run, pattern: RegExp): void {
  expect(r.status, r.stderr).not.toBe(0);
  expect(r.status, r.stderr).not.toBe(70); // never an internal error
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n'), r.stderr).toBe(true);
  const lines = r.stderr.slice(0, -1).split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

const leftovers = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.tmp'));

describe('sparrow compress: bad input → one line on stderr, non-zero exit, no output', () => {
  it.each(CASES)('%s', (_, args, pattern) => {
    const out = join(tmp, 'out', 'model.sparrow');
    rmSync(out, { force: true });
    expectOneLineFailure(sparrow('compress', ...args(), '-o', out), pattern);
    expect(existsSync(out)).toBe(false);
    expect(leftovers(join(tmp, 'out'))).toEqual([]);
  });

  it.each(CASES)('%s: a file already at -o is left unchanged', (_, args, pattern) => {
    const out = join(tmp, 'out', 'existing.sparrow');
    const before = Buffer.from('previous content, not to be touched');
    writeFileSync(out, before);
    expectOneLineFailure(sparrow('compress', ...args(), '-o', out), pattern);
    expect(readFileSync(out).equals(before)).toBe(true);
    expect(leftovers(join(tmp, 'out'))).toEqual([]);
  });

  it('an -o in a missing folder → io_error', () => {
    const out = join(tmp, 'no-such-dir', 'model.sparrow');
    expectOneLineFailure(sparrow('compress', MNIST, '-o', out), /^sparrow: io_error: cannot write .*model\.sparrow: ENOENT/);
    expect(existsSync(out)).toBe(false);
  });

  it('an -o that is a folder → io_error, the folder unchanged and no temporary file left', () => {
    const out = join(tmp, 'out', 'a-directory.sparrow');
    expectOneLineFailure(
      sparrow('compress', MNIST, '-o', out),
      /^sparrow: io_error: cannot write .*a-directory\.sparrow: E(ISDIR|EXIST|NOTEMPTY|PERM)/,
    );
    expect(readdirSync(out)).toEqual([]);
    expect(leftovers(join(tmp, 'out'))).toEqual([]);
  });

  it('SIGTERM during the computation (exact OBS on ResNet-20) ends the process at once, nothing written', async () => {
    const out = join(tmp, 'out', 'killed.sparrow');
    const cifar = ['--calib', 'npy:examples/calib/cifar10-test-0-63.npy', '--mean', '0.485,0.456,0.406', '--std', '0.229,0.224,0.225'];
    const child = spawn(
      process.execPath,
      [
        'bin/sparrow.js',
        'compress',
        join(ROOT, 'examples/models/resnet20-cifar10.onnx'),
        '-o',
        out,
        '--prune',
        'obs',
        '--sparsity',
        '0.7',
        ...cifar,
      ],
      { cwd: ROOT, stdio: 'ignore' },
    );
    const exited = once(child, 'exit');
    await new Promise((r) => setTimeout(r, 3000));
    // still computing (the whole command takes tens of seconds)
    expect(child.exitCode).toBe(null);
    const t0 = Date.now();
    child.kill('SIGTERM');
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    // before the fix: tens of seconds, until the OBS loop returned to the event loop
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(signal ?? code).toBe('SIGTERM');
    expect(existsSync(out)).toBe(false);
    expect(leftovers(join(tmp, 'out'))).toEqual([]);
  }, 30_000);

  it('success replaces a file at -o whole, without a temporary file left', () => {
    const out = join(tmp, 'out', 'replaced.sparrow');
    writeFileSync(out, 'old');
    const r = sparrow('compress', MNIST, '-o', out, '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).bytes).toBe(readFileSync(out).length);
    expect(readFileSync(out).subarray(1, 5).toString()).toBe('SPRW');
    expect(leftovers(join(tmp, 'out'))).toEqual([]);
  });
});
