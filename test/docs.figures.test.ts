// The measured figures in README.md and docs/ are written by `npm run docs:figures`
// (scripts/docs-figures.mjs) between markers; CI checks that every marked block is well-formed
// (paired markers, non-empty, Markdown tables with a separator and rows of the header's width, no
// empty/undefined/NaN cells), never the numbers, which depend on the machine. The checker is
// itself checked on broken blocks.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error a plain .mjs script module (no types)
import { checkFigureBlocks, replaceBlock } from '../scripts/docs-figures-check.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = checkFigureBlocks as (text: string) => string[];
const replace = replaceBlock as (text: string, name: string, body: string) => string;

const GOOD = ['<!-- figures:t -->', 'Measured today:', '', '| a | b |', '|---|---:|', '| x | 1 |', '| y | 2 |', '<!-- /figures:t -->'].join(
  '\n',
);

describe('the figure blocks of the docs', () => {
  it.each(['README.md', 'docs/development.md', 'docs/compression.md'])('%s: every marked block is well-formed', (f) => {
    expect(check(readFileSync(join(ROOT, f), 'utf8'))).toEqual([]);
  });

  it('README.md has the blocks docs:figures writes', () => {
    const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const name of ['figures:engines', 'figures:codec', 'bundle-size']) expect(text, name).toContain(`<!-- /${name} -->`);
  });
});

describe('checkFigureBlocks', () => {
  it('accepts a good block and rejects broken ones', () => {
    expect(check(GOOD)).toEqual([]);
    expect(check(GOOD.replace('| y | 2 |', '| y | 2 | 3 |')).join()).toMatch(/row 2 has 3 cells, the header 2/);
    expect(check(GOOD.replace('|---|---:|\n', '')).join()).toMatch(/separator/);
    expect(check(GOOD.replace('| x | 1 |', '| x |  |')).join()).toMatch(/empty cell/);
    expect(check(GOOD.replace('| x | 1 |', '| x | NaN |')).join()).toMatch(/NaN/);
    expect(check(GOOD.replace('<!-- /figures:t -->', '')).join()).toMatch(/never closed/);
    expect(check('<!-- figures:t -->\n\n<!-- /figures:t -->').join()).toMatch(/empty/);
    expect(check('<!-- /figures:t -->').join()).toMatch(/closes nothing/);
  });

  it('replaceBlock rewrites only the inside of the markers', () => {
    const text = `before\n${GOOD}\nafter`;
    const out = replace(text, 't', '| c |\n|---|\n| 3 |');
    expect(out).toBe('before\n<!-- figures:t -->\n| c |\n|---|\n| 3 |\n<!-- /figures:t -->\nafter');
    expect(check(out)).toEqual([]);
    expect(() => replace('nothing here', 't', 'x')).toThrow(/no <!-- figures:t -->/);
  });
});
