#!/usr/bin/env node
// The layer rule of src/ (docs/development.md, "Layers"): a module imports only from its own
// folder, from folders of a lower layer, or from a peer folder of its own layer as long as the
// peers do not import each other both ways. Type-only imports count: a type that runs up a layer
// is a dependency that runs up a layer.
//
//   faces      cli, worker, browser, bench, src/index.ts (the package entry)       7
//   compress   sparrow compress: pruning, quantization choices, calibration          6
//   runtime    sessions, engines, plans                                              5
//   format, onnx, io    the .sparrow container, ONNX import/export, data files       4
//   ir         the graph and its passes                                               3
//   ops, kernels, codec, quant   op registry + reference kernels, kernel drivers,
//                                 int8 codecs, the quantization scheme                 2
//   wasm       the one gateway to assembly/ (build/sparrow.wasm)                     1
//   errors     src/errors.ts, src/util/                                              0
//
// Only faces may import the compiled module itself (../build/*.wasm: Workers import it as a
// module and hand it to the gateway). `node scripts/check-layers.mjs` exits 1 and lists every
// violation (file:line, the import, the two layers); CI runs it (npm run lint).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAYERS = [
  ['errors', 'util'],
  ['wasm'],
  ['ops', 'kernels', 'codec', 'quant'],
  ['ir'],
  ['format', 'onnx', 'io'],
  ['runtime'],
  ['compress'],
  ['cli', 'worker', 'browser', 'bench', 'index'],
];

/** The layer unit of a path under src/: its first folder, or the file's stem at the top level. */
export function unitOf(relPath) {
  const parts = relPath.split(/[\\/]/);
  if (parts.length === 1) return parts[0].replace(/\.(ts|js|mjs|d\.ts)$/, '').replace(/\.d$/, '');
  return parts[0];
}

export function rankOf(unit) {
  const r = LAYERS.findIndex((l) => l.includes(unit));
  return r < 0 ? undefined : r;
}

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|import\s*\(\s*(?:\/\*[^*]*\*\/\s*)?['"]([^'"]+)['"]\s*\)/g;

/** The relative imports of a source text: [{ spec, line }]. Comments are skipped. */
export function importsOf(text) {
  const out = [];
  // blank out comments, keeping line breaks (so line numbers hold)
  const code = text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/[^\n]*/g, (m, p) => p);
  for (const m of code.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2];
    if (!spec || !spec.startsWith('.')) continue;
    const line = code.slice(0, m.index).split('\n').length + (m[0].startsWith('\n') ? 1 : 0);
    out.push({ spec, line });
  }
  return out;
}

/**
 * Violations of the layer rule in `files` (path relative to src/ → source text):
 * [{ file, line, spec, message }].
 */
export function checkLayers(files) {
  const problems = [];
  const edges = new Map(); // unit → Set(unit) for peer imports
  for (const [file, text] of files) {
    const from = unitOf(file);
    const rf = rankOf(from);
    if (rf === undefined) {
      problems.push({
        file,
        line: 1,
        spec: '',
        message: `folder '${from}' has no layer (add it to LAYERS in scripts/check-layers.mjs and the diagram in docs/development.md)`,
      });
      continue;
    }
    for (const { spec, line } of importsOf(text)) {
      const target = join(dirname(file), spec);
      if (target.startsWith('..')) {
        const outside = target.split(sep).join('/');
        if (/^\.\.\/build\/[\w.-]+\.wasm$/.test(outside) && rf === LAYERS.length - 1) continue;
        problems.push({ file, line, spec, message: `imports ${outside} outside src/ (only faces may import ../build/*.wasm)` });
        continue;
      }
      const to = unitOf(target);
      if (to === from) continue;
      const rt = rankOf(to);
      if (rt === undefined) {
        problems.push({ file, line, spec, message: `imports '${to}', which has no layer` });
        continue;
      }
      if (rt > rf) {
        problems.push({
          file,
          line,
          spec,
          message: `'${from}' (layer ${rf}) imports '${to}' (layer ${rt}): imports run down the layers only`,
        });
      } else if (rt === rf) {
        if (!edges.has(from)) edges.set(from, new Map());
        if (!edges.get(from).has(to)) edges.get(from).set(to, { file, line, spec });
      }
    }
  }
  for (const [a, outs] of edges) {
    for (const [b, at] of outs) {
      if (a < b && edges.get(b)?.has(a)) {
        const back = edges.get(b).get(a);
        problems.push({
          file: at.file,
          line: at.line,
          spec: at.spec,
          message: `peers '${a}' and '${b}' import each other (also ${back.file}:${back.line}): one of them must not`,
        });
      }
    }
  }
  return problems;
}

function listSources(dir, base = dir, out = new Map()) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) listSources(p, base, out);
    else if (/\.(ts|mjs|js)$/.test(name)) out.set(relative(base, p), readFileSync(p, 'utf8'));
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const src = fileURLToPath(new URL('../src', import.meta.url));
  const files = listSources(src);
  const problems = checkLayers(files);
  for (const p of problems) console.error(`src/${p.file}:${p.line}: ${p.spec ? `'${p.spec}': ` : ''}${p.message}`);
  if (problems.length) {
    console.error(`check-layers: ${problems.length} violation(s) of the layer order (docs/development.md, "Layers")`);
    process.exit(1);
  }
  console.log(`check-layers: ${files.size} modules, imports follow the layer order`);
}
