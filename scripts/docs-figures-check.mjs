// The marked blocks of measured figures in README.md and docs/*.md (scripts/docs-figures.mjs
// writes them): <!-- figures:NAME --> … <!-- /figures:NAME -->, and the markers of the scripts
// it reuses (bundle-size, eval:compression). checkFigureBlocks says what is malformed — never the
// numbers themselves, which depend on the machine: test/docs.figures.test.ts runs it in CI.

const MARKER = /<!-- (\/?)((?:figures:)?[a-z][a-z0-9:-]*) -->/g;
const KNOWN = /^(figures:[a-z][a-z0-9-]*|bundle-size|eval:compression)$/;

/** The text between the markers of `name` (a figures:NAME block) replaced by `body`. */
export function replaceBlock(text, name, body) {
  const open = `<!-- figures:${name} -->`,
    close = `<!-- /figures:${name} -->`;
  const i = text.indexOf(open),
    j = text.indexOf(close);
  if (i < 0 || j < i) throw new Error(`no ${open} … ${close} block`);
  return `${text.slice(0, i + open.length)}\n${body.trim()}\n${text.slice(j)}`;
}

/** Cells of a Markdown table row ('| a | b |' → ['a', 'b']). */
function cells(line) {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());
}

/** Problems of the Markdown tables in one block (consecutive lines starting with '|'). */
function tableProblems(body, where) {
  const problems = [];
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trim().startsWith('|')) continue;
    let j = i;
    while (j < lines.length && lines[j].trim().startsWith('|')) j++;
    const rows = lines.slice(i, j);
    const head = cells(rows[0]);
    const at = `${where}, table at block line ${i + 1}`;
    if (rows.length < 3) problems.push(`${at}: a header, a separator and at least one row are needed`);
    else {
      const sep = cells(rows[1]);
      if (sep.length !== head.length || !sep.every((c) => /^:?-{3,}:?$/.test(c)))
        problems.push(`${at}: the separator row does not match the ${head.length} header columns`);
      rows.slice(2).forEach((r, k) => {
        const c = cells(r);
        if (c.length !== head.length) problems.push(`${at}: row ${k + 1} has ${c.length} cells, the header ${head.length}`);
        else if (c.some((x) => x === '')) problems.push(`${at}: row ${k + 1} has an empty cell`);
        else if (c.some((x) => /undefined|NaN|null|\[object/.test(x))) problems.push(`${at}: row ${k + 1} holds ${r.trim()}`);
      });
    }
    if (head.some((h) => h === '')) problems.push(`${at}: an empty header cell`);
    i = j;
  }
  return problems;
}

/** Every problem of the marked blocks of `text` (empty: well-formed). */
export function checkFigureBlocks(text) {
  const problems = [];
  const open = new Map();
  for (const m of text.matchAll(MARKER)) {
    const [, slash, name] = m;
    if (!KNOWN.test(name)) continue;
    if (!slash) {
      if (open.has(name)) problems.push(`<!-- ${name} --> opened twice`);
      open.set(name, m.index + m[0].length);
      continue;
    }
    if (!open.has(name)) {
      problems.push(`<!-- /${name} --> closes nothing`);
      continue;
    }
    const body = text.slice(open.get(name), m.index);
    open.delete(name);
    if (body.trim() === '') problems.push(`<!-- ${name} --> is empty`);
    if (/undefined|NaN|\[object Object\]/.test(body)) problems.push(`<!-- ${name} --> holds undefined/NaN`);
    problems.push(...tableProblems(body, `<!-- ${name} -->`));
  }
  for (const name of open.keys()) problems.push(`<!-- ${name} --> is never closed`);
  return problems;
}
