// The test tiers (test/helpers/tiers.ts, vitest.config.ts): every test file belongs to exactly
// one, only the data tier names the shared data, and test/helpers/data.ts keeps the CI rule
// (missing data fails under CI, skips loudly elsewhere; other tiers may not read it at all).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TIER_FILES, tierOf } from './helpers/tiers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = 'test/tiers.test.ts';

function testFiles(dir = join(ROOT, 'test'), out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'fixtures' || name === 'helpers') continue;
    if (statSync(p).isDirectory()) testFiles(p, out);
    else if (name.endsWith('.ts')) out.push(relative(ROOT, p).split('\\').join('/'));
  }
  return out.sort();
}

/** A vitest include glob (`**` and `*` only) as a RegExp. */
function globRe(glob: string): RegExp {
  const re = glob
    .split('**/')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'))
    .join('(?:.*/)?');
  return new RegExp(`^${re}$`);
}

const stripComments = (src: string): string => src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
/** What reading the shared data looks like in a test file (comments aside). */
const READS_SHARED_DATA = /shared\/data|SPARROW_DATA|helpers\/data\.js|bench\/data\.js|['"]shared['"]\s*,\s*['"]data['"]/;

describe('test tiers', () => {
  const files = testFiles().filter((f) => f.endsWith('.test.ts'));

  it('finds the test files; vitest.config.ts tells this (unit) project its tier', () => {
    expect(files.length).toBeGreaterThan(40);
    expect(files).toContain(SELF);
    expect(process.env.SPARROW_TEST_TIER).toBe('unit');
  });

  it('every test file has exactly one tier, and the tier globs of vitest.config.ts agree', () => {
    const problems: string[] = [];
    for (const f of files) {
      const tier = tierOf(f);
      if (!tier) {
        problems.push(`${f}: no tier (under test/workers/ a file must be *.workers.test.ts)`);
        continue;
      }
      const matching = Object.entries(TIER_FILES)
        .filter(([t, globs]) => globs.some((g) => globRe(g).test(f)) && !(t !== 'data' && f.endsWith('.data.test.ts')))
        .map(([t]) => t);
      const want = tier === 'unit' ? [] : [tier];
      if (matching.join() !== want.join()) problems.push(`${f}: tierOf says ${tier}, the globs say ${matching.join() || 'unit'}`);
    }
    expect(problems).toEqual([]);
    expect(tierOf('test/x.data.test.ts')).toBe('data');
    expect(tierOf('test/worker.x.data.test.ts')).toBe('data');
    expect(tierOf('test/workers/x.workers.test.ts')).toBe('workers');
    expect(tierOf('test/workers/x.test.ts')).toBeUndefined();
    expect(tierOf('test/worker.x.test.ts')).toBe('workers-node');
    expect(tierOf('test/browser.test.ts')).toBe('browser');
    expect(tierOf('test/x.test.ts')).toBe('unit');
    expect(tierOf('test/cli.test.ts')).toBe('cli');
    expect(tierOf('test/cli.x.test.ts')).toBe('cli');
    expect(tierOf('test/x.cli.test.ts')).toBe('cli');
    expect(tierOf('test/x.cli.data.test.ts')).toBe('data');
    expect(tierOf('test/client.test.ts')).toBe('unit');
  });

  it('only *.data.test.ts files name the shared data (../shared/data, $SPARROW_DATA, test/helpers/data.ts)', () => {
    const offenders = testFiles()
      .filter((f) => f !== SELF && !f.endsWith('.data.test.ts'))
      .filter((f) => READS_SHARED_DATA.test(stripComments(readFileSync(join(ROOT, f), 'utf8'))));
    expect(offenders).toEqual([]);
    // and the check does see a read
    expect(READS_SHARED_DATA.test(stripComments("const d = process.env.SPARROW_DATA ?? '../shared/data'; // x"))).toBe(true);
    expect(READS_SHARED_DATA.test(stripComments("import { dataPath } from './helpers/data.js';"))).toBe(true);
    expect(READS_SHARED_DATA.test(stripComments('// reads ../shared/data/mnist\nconst x = 1;'))).toBe(false);
  });

  it('unit tests do not run the built CLI (bin/sparrow.js → dist/): that is the cli tier', () => {
    const offenders = files
      .filter((f) => f !== SELF && tierOf(f) === 'unit')
      .filter((f) =>
        /bin\/sparrow\.js|['"]bin['"]\s*,\s*['"]sparrow\.js['"]|dist\/cli/.test(stripComments(readFileSync(join(ROOT, f), 'utf8'))),
      );
    expect(offenders).toEqual([]);
  });
});

describe('test/helpers/data.ts', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });
  const load = async (env: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
    vi.resetModules();
    return import('./helpers/data.js');
  };

  it('defaults to ../shared/data beside the repository; $SPARROW_DATA overrides it', async () => {
    expect((await load({ SPARROW_DATA: undefined })).DATA_DIR).toBe(join(ROOT, '..', 'shared', 'data'));
    expect((await load({ SPARROW_DATA: '/nonexistent/data' })).DATA_DIR).toBe('/nonexistent/data');
  });

  it('a unit test that reads the shared data fails, naming the data tier', async () => {
    const d = await load({ SPARROW_TEST_TIER: 'unit' });
    expect(() => d.dataPath('mnist')).toThrow(/\*\.data\.test\.ts/);
    expect(() => d.haveData('x', 'mnist')).toThrow(/\*\.data\.test\.ts/);
  });

  it('missing data: a failure under CI, a loud skip elsewhere', async () => {
    const env = { SPARROW_TEST_TIER: 'data', SPARROW_DATA: '/nonexistent/sparrow-data' };
    const ci = await load({ ...env, CI: 'true' });
    expect(ci.IN_CI).toBe(true);
    expect(() => ci.haveData('the MNIST tests', 'mnist/t10k-images-idx3-ubyte.gz')).toThrow(
      /the MNIST tests: shared data missing: \/nonexistent\/sparrow-data\/mnist\/t10k-images-idx3-ubyte\.gz.*Under CI/,
    );
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      for (const CI of [undefined, '', 'false', '0']) {
        const local = await load({ ...env, CI });
        expect(local.IN_CI, `CI=${CI}`).toBe(false);
        expect(local.haveData('the MNIST tests', 'mnist/t10k-images-idx3-ubyte.gz')).toBe(false);
      }
      expect(stderr).toHaveBeenCalledTimes(4);
      expect(String(stderr.mock.calls[0]![0])).toMatch(/SKIPPED the MNIST tests: shared data missing/);
    } finally {
      stderr.mockRestore();
    }
    const here = await load({ SPARROW_TEST_TIER: 'data', SPARROW_DATA: ROOT, CI: 'true' });
    expect(here.haveData('files that exist', 'package.json', 'test')).toBe(true);
  });
});
