// The demo page (built by demo/build.mjs into the Worker's assets directory, served at `/`).
// Lists the Worker's models, downloads a model once with the browser runtime, runs it
// on-device with sparrow-int8 and sparrow-f32 and at the edge (POST /v1/models/:id/infer),
// side by side; a language model (inputs with past_key_values) gets the text panel of text.ts
// instead. Plain TS + DOM. `window.sparrowDemo` is the hook test/browser*.test.ts drive.
import {
  argmax,
  compileWasm,
  createModel,
  fetchSparrow,
  softmax,
  THREADS_INFO,
  wasmChoice,
  type BrowserModel,
  type SparrowDownload,
} from '../src/browser/index.js';
import { atEdge, initText, onDevice, showText, writeBoth, type TextOptions } from './text.js';
import { imagePixels } from '../src/io/image.js';
import { topK, type TopEntry } from '../src/runtime/classify.js';
import { labelsOf } from '../src/format/labels.js';
import { DType } from '../src/format/container.js';

interface ModelEntry {
  id: string;
  version?: string;
  bytes: number;
  inputs?: unknown;
  outputs?: unknown;
}
interface Manifest {
  onnxBytes: Record<string, number>;
  samples: Record<string, string[]>;
}
interface Loaded {
  id: string;
  dl: SparrowDownload;
  int8: BrowserModel;
  f32: BrowserModel;
  kind: 'mnist' | 'cifar' | 'other';
  dims: number[];
  wasmBytes: number;
  summary: string;
  /** class names: the file's metadata.labels, else CIFAR-10's / the digits for those models */
  labels: string[] | null;
}
interface EngineResult {
  ms: number;
  pred: number;
  p: number;
  bits: number[];
  /** the five best classes (one [1, C] output), best first */
  top: TopEntry[];
}
interface EdgeResult {
  ms: number;
  serverMs: number | null;
  pred: number;
  p: number;
  bits: number[];
}
export interface RunReport {
  id: string;
  engines: { int8: string; f32: string };
  int8: EngineResult;
  f32: EngineResult;
  edge: EdgeResult | { error: string };
}

const CIFAR = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const COLORS = { int8: '#2f6fde', f32: '#8a5cd6', edge: '#e07b24', onnx: '#9aa3b2' };

const $ = <T extends HTMLElement>(sel: string): T => document.querySelector(sel) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
const kib = (n: number): string => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);
const fmtMs = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
const bitsOf = (x: Float32Array): number[] => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

let models: ModelEntry[] = [];
let manifest: Manifest = { onnxBytes: {}, samples: {} };
const loaded = new Map<string, Promise<Loaded>>();
let current: Loaded | null = null;
let lastReport: RunReport | null = null;

/** A language model with a KV cache (past_key_values.* inputs): the text panel, not the image workbench. */
function isTextModel(m: ModelEntry | undefined): boolean {
  return Array.isArray(m?.inputs) && m.inputs.some((i) => /^past/.test(String((i as { name?: unknown }).name)));
}

async function selectText(id: string): Promise<void> {
  for (const c of document.querySelectorAll('.card')) c.classList.toggle('selected', (c as HTMLElement).dataset['id'] === id);
  $('#workbench').hidden = true;
  await showText(id);
}

function status(msg: string, error = false): void {
  const s = $('#load-status');
  s.textContent = msg;
  s.classList.toggle('error', error);
}

// ---------------------------------------------------------------------------------------------
// models

async function listModels(): Promise<void> {
  const [res, man] = await Promise.all([
    fetch('/v1/models'),
    fetch('demo-manifest.json')
      .then((r) => (r.ok ? (r.json() as Promise<Manifest>) : null))
      .catch(() => null),
  ]);
  if (man) manifest = man;
  if (!res.ok) throw new Error(`GET /v1/models: HTTP ${res.status}`);
  models = ((await res.json()) as { models: ModelEntry[] }).models;
  const list = $('#model-list');
  list.textContent = '';
  if (models.length === 0) list.textContent = 'The Worker serves no models yet.';
  for (const m of models) {
    const b = el('button', { class: 'card', 'data-id': m.id });
    b.append(el('b', {}, m.id));
    const onnx = manifest.onnxBytes[m.id];
    b.append(el('small', {}, `${kib(m.bytes)} .sparrow${onnx ? ` · ONNX ${kib(onnx)} (${(onnx / m.bytes).toFixed(1)}x)` : ''}`));
    const text = isTextModel(m);
    b.append(el('small', {}, text ? 'language model: write a story on-device and at the edge' : `inputs ${describeIo(m.inputs)}`));
    b.addEventListener('click', () => void (text ? selectText(m.id) : select(m.id)).catch(text ? showTextError : showError));
    list.append(b);
  }
}

function describeIo(x: unknown): string {
  if (Array.isArray(x))
    return x
      .map((i) =>
        typeof i === 'object' && i
          ? `${(i as { name?: string }).name ?? ''}${(i as { dims?: unknown }).dims ? ` [${String((i as { dims: unknown[] }).dims)}]` : ''}`
          : String(i),
      )
      .join(', ');
  if (x && typeof x === 'object')
    return Object.entries(x)
      .map(([k, v]) => `${k} [${String((v as { dims?: unknown[] }).dims ?? '')}]`)
      .join(', ');
  return '—';
}

function load(id: string): Promise<Loaded> {
  let p = loaded.get(id);
  if (!p) {
    p = loadUncached(id);
    loaded.set(id, p);
    p.catch(() => loaded.delete(id));
  }
  return p;
}

/** The module of the build createModel picks for 'sparrow.wasm' (compileWasm caches it per URL). */
function kernels(): Promise<WebAssembly.Module | undefined> {
  return compileWasm(wasmChoice({ wasmUrl: 'sparrow.wasm' }).href).then(
    (c) => c.module,
    () => undefined,
  );
}

async function loadUncached(id: string): Promise<Loaded> {
  const url = `/v1/models/${encodeURIComponent(id)}`;
  const bar = el('progress', { max: '1', value: '0' });
  const s = $('#load-status');
  s.textContent = '';
  s.append(bar, el('span', {}, `downloading ${id}…`));
  const dl = await fetchSparrow(url, {
    // the kernels createModel runs (cached per URL) compile meanwhile; int8 sections arriving
    // after that decode in WASM
    decodeWith: kernels(),
    onProgress: (p) => {
      if (p.total) bar.value = p.loaded / p.total;
      (s.lastChild as HTMLElement).textContent =
        `downloading ${id}: ${kib(p.loaded)}${p.total ? ` of ${kib(p.total)}` : ''}, ` +
        `${p.sections}${p.sectionCount !== null ? `/${p.sectionCount}` : ''} sections checked`;
    },
  });
  // WASM threads where the page is cross-origin isolated (the Worker serves it with COOP/COEP):
  // hardwareConcurrency capped at 4, else one thread
  const int8 = await createModel(dl, { engine: 'sparrow-int8', wasmUrl: 'sparrow.wasm', numThreads: THREADS_INFO.numThreads });
  const f32 = await createModel(dl, { engine: 'sparrow-f32', wasmUrl: 'sparrow.wasm' });
  const name = int8.inputNames[0]!;
  const dims = (int8.inputInfo[name]!.dims ?? []).map((d) => (d < 0 ? 1 : d));
  const kind =
    dims.length === 4 && dims[1] === 1 && dims[2] === 28 && dims[3] === 28
      ? 'mnist'
      : dims.length === 4 && dims[1] === 3 && dims[2] === 32 && dims[3] === 32
        ? 'cifar'
        : 'other';
  const summary =
    `${id}: ${kib(dl.bytes.length)} in ${fmtMs(dl.downloadMs)} ms (first section checked at ${fmtMs(dl.firstSectionMs ?? 0)} ms), ` +
    `int8 session ${fmtMs(int8.timings.sessionMs)} ms (${int8.threads} thread${int8.threads > 1 ? 's' : ''}), float ${fmtMs(f32.timings.sessionMs)} ms` +
    (int8.engine !== 'sparrow-int8' ? ' — this runtime has no sparrow-int8 engine yet: both columns run sparrow-f32' : '');
  let labels: string[] | null = null;
  try {
    labels = labelsOf(dl.header);
  } catch {
    /* malformed labels: show class numbers */
  }
  if (!labels && kind === 'cifar') labels = CIFAR;
  if (!labels && kind === 'mnist') labels = Array.from({ length: 10 }, (_, i) => String(i));
  return { id, dl, int8, f32, kind, dims, wasmBytes: int8.bytes.wasm, summary, labels };
}

async function select(id: string): Promise<Loaded> {
  for (const c of document.querySelectorAll('.card')) c.classList.toggle('selected', (c as HTMLElement).dataset['id'] === id);
  $('#workbench').hidden = false;
  $('#textbench').hidden = true;
  if (current?.id !== id) {
    $('#input-area').textContent = '';
    $<HTMLTableElement>('#results').tBodies[0]!.textContent = '';
    $('#latency-chart').textContent = '';
    $('#top-chart').textContent = '';
    $('#bytes-chart').textContent = '';
    $('#agree').textContent = '';
  }
  const m = await load(id);
  if (current?.id !== id) {
    current = m;
    $('#input-title').textContent =
      m.kind === 'mnist' ? 'Draw a digit (or pick an MNIST test digit)' : m.kind === 'cifar' ? 'Pick a CIFAR-10 test image' : 'Input';
    buildInput(m);
    renderBytes(m);
    status(m.summary);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// inputs

/** Decodes an image URL to RGBA with no colour management (PNG bytes as stored). */
async function imageRgba(url: string): Promise<{ width: number; height: number; rgba: Uint8ClampedArray }> {
  const blob = await (await fetch(url)).blob();
  const bmp = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const c = el('canvas');
  c.width = bmp.width;
  c.height = bmp.height;
  const g = c.getContext('2d', { willReadFrequently: true })!;
  g.drawImage(bmp, 0, 0);
  return { width: bmp.width, height: bmp.height, rgba: g.getImageData(0, 0, bmp.width, bmp.height).data };
}

/** RGBA → uint8 NCHW planes (channels 1: red channel = gray; 3: R, G, B). */
function planes(rgba: Uint8ClampedArray, n: number, channels: number): Uint8Array {
  const out = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) out[c * n + i] = rgba[i * 4 + c]!;
  return out;
}

function sampleLabel(file: string): number {
  return Number(/_(\d+)\.png$/.exec(file)?.[1] ?? -1);
}

async function samplePixels(m: Loaded, file: string): Promise<Uint8Array> {
  const { width, height, rgba } = await imageRgba(file);
  return planes(rgba, width * height, m.kind === 'cifar' ? 3 : 1);
}

function sampleFiles(m: Loaded): string[] {
  return manifest.samples[m.kind] ?? [];
}

/** A drop zone (and file picker) for the user's own PNG/JPEG: decoded, resized and center-cropped as the CLI and the Worker do. */
function buildDrop(m: Loaded, area: HTMLElement): void {
  const zone = el('label', { class: 'drop', id: 'drop' });
  const file = el('input', { type: 'file', accept: 'image/png,image/jpeg' });
  const preview = el('canvas', { class: 'drop-preview', width: String(m.dims[3] ?? 1), height: String(m.dims[2] ?? 1) });
  zone.append(el('span', {}, 'Drop your own PNG or JPEG here, or click to choose one'), file, preview);
  const use = (f: File | undefined): void => {
    if (!f) return;
    void (async () => {
      const px = await imagePixels(new Uint8Array(await f.arrayBuffer()), m.dims);
      showPreview(preview, px.data as Uint8Array, m.dims);
      for (const i of document.querySelectorAll('.samples img')) i.classList.remove('selected');
      await runPixels(m.id, px.data as Uint8Array);
    })().catch(showError);
  };
  file.addEventListener('change', () => use(file.files?.[0]));
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    use(e.dataTransfer?.files[0]);
  });
  area.append(zone);
}

/** NCHW uint8 pixels (1 or 3 channels) on a canvas. */
function showPreview(c: HTMLCanvasElement, px: Uint8Array, dims: number[]): void {
  const [, C = 1, H = 1, W = 1] = dims;
  const img = new ImageData(W, H);
  for (let p = 0; p < W * H; p++) {
    for (let k = 0; k < 3; k++) img.data[p * 4 + k] = px[(C === 3 ? k : 0) * W * H + p]!;
    img.data[p * 4 + 3] = 255;
  }
  c.getContext('2d')!.putImageData(img, 0, 0);
}

function buildInput(m: Loaded): void {
  const area = $('#input-area');
  area.textContent = '';
  if (m.dims.length === 4 && (m.dims[1] === 1 || m.dims[1] === 3)) buildDrop(m, area);
  if (m.kind === 'mnist') buildPad(m, area);
  if (m.kind === 'other') {
    area.append(el('p', {}, `No input widget for dims [${m.dims.join(', ')}]; zeros are used.`));
    const b = el('button', { class: 'small' }, 'Run on zeros');
    b.addEventListener('click', () => void runPixels(m.id, new Uint8Array(m.dims.reduce((a, c) => a * c, 1))).catch(showError));
    area.append(b);
  }
  const files = sampleFiles(m);
  if (m.kind !== 'other' && files.length) {
    const grid = el('div', { class: `samples ${m.kind}` });
    for (const f of files) {
      const img = el('img', { src: f, alt: f, title: m.kind === 'cifar' ? (CIFAR[sampleLabel(f)] ?? f) : `digit ${sampleLabel(f)}` });
      img.addEventListener(
        'click',
        () =>
          void (async () => {
            for (const i of grid.querySelectorAll('img')) i.classList.toggle('selected', i === img);
            const px = await samplePixels(m, f);
            if (m.kind === 'mnist') showOnPad(px);
            await runPixels(m.id, px);
          })().catch(showError),
      );
      grid.append(img);
    }
    area.append(grid);
  }
}

// --- the drawing pad: 280×280 strokes → a 28×28 MNIST-style image (as the MNIST set was
// made: the digit's bounding box scaled to fit 20×20, then placed so that its centre of mass
// is at the centre of the 28×28 field; white on black)

let pad: { canvas: HTMLCanvasElement; preview: HTMLCanvasElement } | null = null;

function buildPad(m: Loaded, area: HTMLElement): void {
  const wrap = el('div', { class: 'draw-wrap' });
  const canvas = el('canvas', { class: 'pad', width: '280', height: '280', 'aria-label': 'drawing pad' });
  const side = el('div', { class: 'pad-side' });
  const preview = el('canvas', { class: 'preview', width: '28', height: '28' });
  const clear = el('button', { class: 'small' }, 'Clear');
  side.append(el('small', {}, 'model input (28×28)'), preview, el('br'), clear);
  wrap.append(canvas, side);
  area.append(wrap);
  pad = { canvas, preview };
  const g = canvas.getContext('2d', { willReadFrequently: true })!;
  const reset = (): void => {
    g.fillStyle = '#000';
    g.fillRect(0, 0, 280, 280);
    preview.getContext('2d')!.clearRect(0, 0, 28, 28);
  };
  reset();
  clear.addEventListener('click', reset);
  let drawing = false;
  let last: [number, number] | null = null;
  const pos = (e: PointerEvent): [number, number] => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * 280, ((e.clientY - r.top) / r.height) * 280];
  };
  canvas.addEventListener('pointerdown', (e) => {
    drawing = true;
    last = pos(e);
    canvas.setPointerCapture(e.pointerId);
    stroke(g, last, last);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const p = pos(e);
    stroke(g, last ?? p, p);
    last = p;
  });
  const up = (): void => {
    if (!drawing) return;
    drawing = false;
    last = null;
    const px = padToMnist(canvas);
    if (px) void runPixels(m.id, px).catch(showError);
  };
  canvas.addEventListener('pointerup', up);
  canvas.addEventListener('pointercancel', up);
}

function stroke(g: CanvasRenderingContext2D, a: [number, number], b: [number, number]): void {
  g.strokeStyle = '#fff';
  g.lineWidth = 20;
  g.lineCap = 'round';
  g.lineJoin = 'round';
  g.beginPath();
  g.moveTo(a[0], a[1]);
  g.lineTo(b[0], b[1]);
  g.stroke();
}

/** Shows 28×28 pixels on the pad (scaled up) and the preview. */
function showOnPad(px: Uint8Array): void {
  if (!pad) return;
  const small = el('canvas');
  small.width = 28;
  small.height = 28;
  const img = new ImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = px[i]!;
    img.data[i * 4 + 3] = 255;
  }
  small.getContext('2d')!.putImageData(img, 0, 0);
  const g = pad.canvas.getContext('2d')!;
  g.imageSmoothingEnabled = false;
  g.drawImage(small, 0, 0, 280, 280);
  pad.preview.getContext('2d')!.putImageData(img, 0, 0);
}

/** The pad's strokes as MNIST would have them, or null when nothing is drawn. */
export function padToMnist(canvas: HTMLCanvasElement): Uint8Array | null {
  const W = canvas.width,
    H = canvas.height;
  const src = canvas.getContext('2d', { willReadFrequently: true })!.getImageData(0, 0, W, H).data;
  let x0 = W,
    y0 = H,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      if (src[(y * W + x) * 4]! > 32) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1,
    bh = y1 - y0 + 1;
  const s = 20 / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * s)),
    th = Math.max(1, Math.round(bh * s));
  // downsample the bounding box to fit 20×20 (smoothing = area-like filtering)
  const fit = el('canvas');
  fit.width = tw;
  fit.height = th;
  const fg = fit.getContext('2d', { willReadFrequently: true })!;
  fg.imageSmoothingEnabled = true;
  fg.imageSmoothingQuality = 'high';
  fg.drawImage(canvas, x0, y0, bw, bh, 0, 0, tw, th);
  const f = fg.getImageData(0, 0, tw, th).data;
  // centre of mass of the fitted digit
  let m = 0,
    mx = 0,
    my = 0;
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const v = f[(y * tw + x) * 4]!;
      m += v;
      mx += v * x;
      my += v * y;
    }
  const cx = m ? mx / m : tw / 2,
    cy = m ? my / m : th / 2;
  const ox = Math.round(13.5 - cx),
    oy = Math.round(13.5 - cy);
  const out = new Uint8Array(784);
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const X = x + ox,
        Y = y + oy;
      if (X >= 0 && X < 28 && Y >= 0 && Y < 28) out[Y * 28 + X] = f[(y * tw + x) * 4]!;
    }
  if (pad) {
    const img = new ImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = out[i]!;
      img.data[i * 4 + 3] = 255;
    }
    pad.preview.getContext('2d')!.putImageData(img, 0, 0);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// inference

async function runEngine(m: BrowserModel, pixels: Uint8Array, dims: number[]): Promise<EngineResult> {
  const input = m.preprocess(pixels, dims);
  const { outputs, ms } = await m.run({ [m.inputNames[0]!]: input });
  const y = outputs[m.outputNames[0]!]!.data as Float32Array;
  const pred = argmax(y);
  const top = topK({ dtype: 'float32', dims: [1, y.length], data: y }, 5, null)[0]!;
  return { ms, pred, p: softmax(y)[pred]!, bits: bitsOf(y), top };
}

async function runEdge(l: Loaded, pixels: Uint8Array): Promise<EdgeResult> {
  const name = l.f32.inputNames[0]!;
  const input = l.f32.preprocess(pixels, l.dims);
  const body = JSON.stringify({ inputs: { [name]: { dims: input.dims, data: Array.from(input.data as Float32Array) } } });
  const t0 = performance.now();
  const res = await fetch(`/v1/models/${encodeURIComponent(l.id)}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const json = (await res.json()) as {
    outputs?: Record<string, { dims: number[]; data: number[] }>;
    ms?: number;
    error?: { code: string; message: string };
  };
  const ms = performance.now() - t0;
  if (!res.ok || !json.outputs) throw new Error(json.error ? `${json.error.code}: ${json.error.message}` : `HTTP ${res.status}`);
  const out = json.outputs[l.f32.outputNames[0]!] ?? Object.values(json.outputs)[0]!;
  const y = Float32Array.from(out.data);
  const pred = argmax(y);
  return { ms, serverMs: typeof json.ms === 'number' ? json.ms : null, pred, p: softmax(y)[pred]!, bits: bitsOf(y) };
}

/** Runs raw pixels (uint8, NCHW order of the model's input) on-device (int8, float) and at the edge. */
async function runPixels(id: string, pixels: Uint8Array | number[], opts: { edge?: boolean } = {}): Promise<RunReport> {
  const l = await select(id);
  const px = pixels instanceof Uint8Array ? pixels : Uint8Array.from(pixels);
  const int8 = await runEngine(l.int8, px, l.dims);
  const f32 = await runEngine(l.f32, px, l.dims);
  let edge: RunReport['edge'];
  if (opts.edge === false) edge = { error: 'skipped' };
  else {
    try {
      edge = await runEdge(l, px);
    } catch (e) {
      edge = { error: (e as Error).message };
    }
  }
  const report: RunReport = { id, engines: { int8: l.int8.engine, f32: l.f32.engine }, int8, f32, edge };
  lastReport = report;
  renderResults(l, report);
  return report;
}

// ---------------------------------------------------------------------------------------------
// rendering

function label(l: Loaded, k: number): string {
  return l.labels?.[k] ?? String(k);
}

/** The top-5 classes (on-device, sparrow-int8) as bars of their probabilities. */
function renderTop(l: Loaded, r: RunReport): void {
  const bars: Bar[] = r.int8.top.map((e) => ({ label: label(l, e.index), value: e.p, color: COLORS.int8 }));
  $('#top-chart').replaceChildren(barChart(bars, (v) => `${(100 * v).toFixed(1)} %`));
}

function renderResults(l: Loaded, r: RunReport): void {
  const tb = $<HTMLTableElement>('#results').tBodies[0]!;
  tb.textContent = '';
  const row = (
    where: string,
    engine: string,
    color: string,
    x: { pred: number; p: number; ms: number } | { error: string },
    extra = '',
  ): void => {
    const tr = el('tr');
    const w = el('td');
    w.append(el('span', { class: 'dot', style: `background:${color}` }), document.createTextNode(where));
    tr.append(w, el('td', {}, engine));
    if ('error' in x) {
      tr.append(el('td', { colspan: '3', class: 'error' }, `unavailable (${x.error})`));
    } else {
      tr.append(
        el('td', {}, label(l, x.pred)),
        el('td', { class: 'num' }, x.p.toFixed(3)),
        el('td', { class: 'num' }, fmtMs(x.ms) + extra),
      );
    }
    tb.append(tr);
  };
  row('on-device', r.engines.int8, COLORS.int8, r.int8);
  row('on-device', r.engines.f32, COLORS.f32, r.f32);
  const e = r.edge;
  row('edge', 'Worker', COLORS.edge, e, 'error' in e || e.serverMs === null ? '' : ` (${fmtMs(e.serverMs)} in the Worker)`);
  const same = r.int8.pred === r.f32.pred && ('error' in e || e.pred === r.f32.pred);
  $('#agree').textContent = same ? 'All runs agree.' : 'The runs disagree on this input.';
  const bars: Bar[] = [
    { label: `on-device ${r.engines.int8.replace('sparrow-', '')}`, value: r.int8.ms, color: COLORS.int8 },
    { label: `on-device ${r.engines.f32.replace('sparrow-', '')}`, value: r.f32.ms, color: COLORS.f32 },
  ];
  if (!('error' in e)) {
    bars.push({ label: 'edge (round trip)', value: e.ms, color: COLORS.edge });
    if (e.serverMs !== null) bars.push({ label: 'edge (in the Worker)', value: e.serverMs, color: COLORS.edge, light: true });
  }
  $('#latency-chart').replaceChildren(barChart(bars, (v) => `${fmtMs(v)} ms`));
  renderTop(l, r);
}

function renderBytes(l: Loaded): void {
  const onnx = manifest.onnxBytes[l.id];
  const bars: Bar[] = [];
  if (onnx) bars.push({ label: 'ONNX model', value: onnx, color: COLORS.onnx });
  bars.push({ label: '.sparrow model', value: l.dl.bytes.length, color: COLORS.int8 });
  if (l.wasmBytes) bars.push({ label: 'WASM kernels (once)', value: l.wasmBytes, color: COLORS.f32, light: true });
  $('#bytes-chart').replaceChildren(
    barChart(bars, (v) => kib(v) + (onnx && v !== onnx ? ` (${((100 * v) / onnx).toFixed(1)} % of ONNX)` : '')),
  );
}

interface Bar {
  label: string;
  value: number;
  color: string;
  light?: boolean;
}

/** A horizontal bar chart as inline SVG. */
function barChart(bars: Bar[], fmt: (v: number) => string): SVGSVGElement {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 560,
    rowH = 26,
    left = 150,
    right = 190;
  const H = bars.length * rowH + 6;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  const max = Math.max(...bars.map((b) => b.value), 1e-9);
  const mk = (tag: string, a: Record<string, string | number>, text?: string): SVGElement => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(a)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  bars.forEach((b, i) => {
    const y = 4 + i * rowH;
    const w = Math.max(1, ((W - left - right) * b.value) / max);
    mk('text', { x: left - 8, y: y + 15, 'text-anchor': 'end' }, b.label);
    mk('rect', { x: left, y: y + 3, width: w.toFixed(1), height: rowH - 8, rx: 3, fill: b.color, 'fill-opacity': b.light ? 0.45 : 1 });
    mk('text', { x: left + w + 6, y: y + 15, class: 'muted' }, fmt(b.value));
  });
  return svg;
}

function showTextError(e: unknown): void {
  console.error(e);
  const s = $('#text-status');
  s.textContent = e instanceof Error ? e.message : String(e);
  s.classList.add('error');
}

function showError(e: unknown): void {
  console.error(e);
  status(e instanceof Error ? `${(e as { code?: string }).code ? `${(e as { code?: string }).code}: ` : ''}${e.message}` : String(e), true);
}

// ---------------------------------------------------------------------------------------------
// the test hook

declare global {
  interface Window {
    sparrowDemo: unknown;
  }
}

initText();
const ready = listModels().catch((e) => {
  $('#model-list').textContent = `cannot list models: ${(e as Error).message}`;
  throw e;
});
// the first model is selected on load (a test driving the page may select another meanwhile)
void ready.then(() => {
  const first = models[0];
  if (!first || current || !$('#textbench').hidden) return;
  void (isTextModel(first) ? selectText(first.id).catch(showTextError) : select(first.id).catch(showError));
});

window.sparrowDemo = {
  ready,
  models: () => models,
  select: async (id: string) => {
    const l = await select(id);
    return {
      kind: l.kind,
      dims: l.dims,
      bytes: l.dl.bytes.length,
      wasmBytes: l.wasmBytes,
      wasmStreaming: l.int8.wasm.streaming,
      engines: { int8: l.int8.engine, f32: l.f32.engine },
      preprocessing: l.f32.preprocessing,
      firstSectionMs: l.dl.firstSectionMs,
      downloadMs: l.dl.downloadMs,
      chunks: l.dl.chunks,
      sectionsBeforeLastChunk: l.dl.sectionsBeforeLastChunk,
      bytesBeforeLastChunk: l.dl.bytesBeforeLastChunk,
      sectionCount: l.dl.header.sectionCount,
      wasmDecodedSections: l.dl.wasmDecodedSections,
    };
  },
  /** the shipped sample images of the selected model's kind, decoded in the page */
  samples: async (id: string) => {
    const l = await select(id);
    return Promise.all(sampleFiles(l).map(async (f) => ({ file: f, label: sampleLabel(f), pixels: Array.from(await samplePixels(l, f)) })));
  },
  runPixels,
  /**
   * Downloads a model twice, its int8 sections decoded by the WASM decoder (a compiled module
   * given) and by the TS reference (none): the sections compared byte for byte.
   */
  decodeCheck: async (id: string) => {
    const url = `/v1/models/${encodeURIComponent(id)}`;
    const module = await kernels();
    const [a, b] = [await fetchSparrow(url, { decodeWith: module }), await fetchSparrow(url)];
    let int8 = 0,
      same = 0;
    a.header.sections.forEach((sec, i) => {
      if (sec.dtype !== DType.Int8) return;
      int8++;
      const x = a.decoded.get(i)!,
        y = b.decoded.get(i)!;
      if (x.length === y.length && x.every((v, k) => v === y[k])) same++;
    });
    return { int8, same, wasm: a.wasmDecodedSections, ref: b.wasmDecodedSections };
  },
  /** a sample as the user would pick it (also drawn on the pad for MNIST) */
  pickSample: async (id: string, index: number) => {
    const l = await select(id);
    const img = document.querySelectorAll('.samples img')[index] as HTMLImageElement | undefined;
    if (!img) throw new Error(`no sample ${index}`);
    for (const i of document.querySelectorAll('.samples img')) i.classList.toggle('selected', i === img);
    const px = await samplePixels(l, sampleFiles(l)[index]!);
    if (l.kind === 'mnist') showOnPad(px);
    return runPixels(id, px);
  },
  /** the pad's current drawing as the 28×28 model input (null if empty) */
  padPixels: () => (pad ? Array.from(padToMnist(pad.canvas) ?? []) : null),
  lastReport: () => lastReport,
  /** the text panel: write with a language model on-device, at the edge, or both (as the Write button) */
  generate: async (id: string, o: TextOptions, where: 'device' | 'edge' | 'both' = 'both') => {
    await selectText(id);
    if (where === 'device') return { device: await onDevice(id, o) };
    if (where === 'edge') return { edge: await atEdge(id, o) };
    return writeBoth(id, o);
  },
};
