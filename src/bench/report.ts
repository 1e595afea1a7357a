// `sparrow bench --report <dir>`: bench.md (Markdown tables) and bench.svg (two hand-drawn
// horizontal bar charts: p50 latency per engine, and the model's sizes). No charting library.
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SparrowError } from '../errors.js';
import { weightsCell, type BenchReport } from './bench.js';

function kib(n: number): string {
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** Escapes text for XML content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

function mdTable(head: string[], rows: string[][], right: (i: number) => boolean): string {
  return [
    `| ${head.map(mdCell).join(' | ')} |`,
    `|${head.map((_, i) => (right(i) ? '---:' : ':---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
  ].join('\n');
}

export function benchMarkdown(r: BenchReport): string {
  const ins = Object.entries(r.inputs)
    .map(([k, v]) => `\`${k}\` ${v.dtype}[${v.dims.join(', ')}]`)
    .join(', ');
  const engines = mdTable(
    [
      'engine',
      'p50 ms',
      'p90 ms',
      'load ms',
      'load (warm) ms',
      'decode+pack ms (cold / warm)',
      'peak RSS MB¹',
      'WASM memory',
      'max abs diff',
    ],
    Object.entries(r.engines).map(([n, e]) => [
      `\`${n}\``,
      e.p50_ms.toFixed(3),
      e.p90_ms.toFixed(3),
      e.load_ms.toFixed(1),
      e.load_warm_ms.toFixed(1),
      weightsCell(e),
      e.peak_rss_mb.toFixed(1),
      e.wasm_memory_bytes === undefined ? '–' : kib(e.wasm_memory_bytes),
      e.max_abs_diff === undefined ? 'reference' : e.max_abs_diff === null ? 'n/a' : e.max_abs_diff.toExponential(2),
    ]),
    (i) => i > 0,
  );
  const s = r.sizes;
  const sizes = mdTable(
    ['file', 'bytes', 'size', 'vs onnx'],
    [
      ['onnx', String(s.onnx), kib(s.onnx), '1.00x'],
      ['onnx gzip-9', String(s.onnx_gzip), kib(s.onnx_gzip), `${(s.onnx / s.onnx_gzip).toFixed(2)}x smaller`],
      ['onnx brotli-11', String(s.onnx_brotli), kib(s.onnx_brotli), `${(s.onnx / s.onnx_brotli).toFixed(2)}x smaller`],
      [s.sparrow_note ? 'sparrow (see note)' : 'sparrow', String(s.sparrow), kib(s.sparrow), `${(s.onnx / s.sparrow).toFixed(2)}x smaller`],
    ],
    (i) => i > 0,
  );
  const d = r.decode;
  const decode =
    d.sparrow_MBps === null
      ? `n/a (${d.note ?? 'no int8 weights'})`
      : mdTable(
          ['decoder', 'MB/s (decoded bytes)'],
          [
            ['sparrow WASM int8 decoder', String(d.sparrow_MBps)],
            ['Node zlib inflate (deflate-9 of the same bytes)', String(d.zlib_inflate_MBps)],
          ],
          (i) => i > 0,
        ) + `\n\n${kib(d.int8_bytes)} of int8 weights, same run, interleaved.`;
  const parts = [
    `# sparrow bench: \`${r.model}\``,
    '',
    `${r.runs} timed runs per engine after ${r.warmup} warm-up run(s); ${r.threads} thread; batch ${r.batch}; inputs ${ins}. ` +
      'All engines in one process, interleaved round-robin on the same seeded random inputs.',
    '',
    '## Latency',
    '',
    engines,
    '',
    `¹ ${r.notes.peak_rss_mb}.`,
    '',
    '## Sizes',
    '',
    sizes,
  ];
  if (s.sparrow_note) parts.push('', `Note: ${s.sparrow_note}.`);
  parts.push('', '## Weight decoding', '', decode);
  if (r.skipped) parts.push('', '## Skipped engines', '', ...Object.entries(r.skipped).map(([k, v]) => `- \`${k}\`: ${v}`));
  parts.push('', '![latency and sizes](bench.svg)', '');
  return parts.join('\n');
}

interface Bar {
  label: string;
  value: number;
  text: string;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7'];

/** One horizontal bar chart as SVG elements, starting at y; returns the elements and its height. */
function barChart(title: string, bars: Bar[], y0: number, width: number): { svg: string[]; height: number } {
  const labelW = 150,
    valueW = 110,
    barH = 22,
    gap = 8,
    top = 28;
  const plotW = width - labelW - valueW - 20;
  const max = Math.max(...bars.map((b) => b.value), 0) || 1;
  const svg = [`<text x="10" y="${y0 + 18}" font-size="15" font-weight="bold">${xmlEscape(title)}</text>`];
  bars.forEach((b, i) => {
    const y = y0 + top + i * (barH + gap);
    const w = Math.max(1, (b.value / max) * plotW);
    svg.push(
      `<text x="${labelW}" y="${y + barH / 2 + 5}" font-size="13" text-anchor="end" dx="-8">${xmlEscape(b.label)}</text>`,
      `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${PALETTE[i % PALETTE.length]}"><title>${xmlEscape(`${b.label}: ${b.text}`)}</title></rect>`,
      `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + barH / 2 + 5}" font-size="12">${xmlEscape(b.text)}</text>`,
    );
  });
  return { svg, height: top + bars.length * (barH + gap) + 10 };
}

export function benchSvg(r: BenchReport): string {
  const width = 720;
  const lat = barChart(
    `p50 latency per engine (ms, lower is better) — ${basename(r.model)}, batch ${r.batch}`,
    Object.entries(r.engines).map(([n, e]) => ({ label: n, value: e.p50_ms, text: `${e.p50_ms.toFixed(2)} ms` })),
    10,
    width,
  );
  const s = r.sizes;
  const sz = barChart(
    'model size (bytes, lower is better)',
    [
      { label: 'onnx', value: s.onnx, text: kib(s.onnx) },
      { label: 'onnx gzip-9', value: s.onnx_gzip, text: kib(s.onnx_gzip) },
      { label: 'onnx brotli-11', value: s.onnx_brotli, text: kib(s.onnx_brotli) },
      {
        label: s.sparrow_note ? 'sparrow*' : 'sparrow',
        value: s.sparrow,
        text: kib(s.sparrow) + (s.sparrow_note ? ' (* weights only, packed in memory)' : ''),
      },
    ],
    10 + lat.height + 10,
    width,
  );
  const height = 10 + lat.height + 10 + sz.height + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...lat.svg,
    ...sz.svg,
    '</svg>',
  ].join('\n');
}

/** Writes <dir>/bench.md and <dir>/bench.svg; returns their paths. */
export async function writeBenchReport(dir: string, r: BenchReport): Promise<{ md: string; svg: string }> {
  const md = join(dir, 'bench.md'),
    svg = join(dir, 'bench.svg');
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(md, benchMarkdown(r));
    await writeFile(svg, benchSvg(r) + '\n');
  } catch (e) {
    throw new SparrowError('io_error', `cannot write the report to ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { md, svg };
}
