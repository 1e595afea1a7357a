// POST /v1/models/:id[@:version]/classify: a photo in, the classifier's top-k out.
//
//   body  image/png or image/jpeg (415 otherwise), at most MAX_INFER_BYTES (413)
//   query ?k=<1..C> (default 5)
//   200   {"top":[{"label","index","p"}], "ms", "model":{"id","version"}, "engine", "dims":[H,W]}
//
// The image's declared size (PNG IHDR / JPEG SOF) is checked against MAX_IMAGE_PIXELS (default
// 4 MP) before it is decoded: a small file declaring a huge image (a decompression bomb) is a 413
// too_large and allocates nothing. Decoding (pure JS), Resize + CenterCrop as torchvision, the
// model's stored preprocessing: src/io/image.ts, src/runtime/sparrow_model.ts. Labels: the file's
// metadata.labels (`sparrow compress --labels`), else null. The model must be a classifier: an
// NCHW image input and one [N, C] float32 output (422 not_a_classifier otherwise).
import type { Hono } from 'hono';
import type { EngineName } from '../runtime/session.js';
import { preprocessPixels } from '../runtime/sparrow_model.js';
import { topK } from '../runtime/classify.js';
import { checkImageSize, imagePixels } from '../io/image.js';
import { readContainer } from '../format/container.js';
import { labelsOf } from '../format/labels.js';
import type { Env } from './env.js';
import { HttpError } from './errors.js';
import { readBody } from './infer.js';
import type { ModelCache } from './cache.js';
import { modelKey, storedLoader } from './admit.js';
import { guardBucket, parseRef, readBlob, resolve } from './store.js';

type ClassifyEnv = Env & { MAX_IMAGE_PIXELS?: string };

const MiB = 1024 * 1024;
const DEFAULTS = { maxBody: 4 * MiB, maxModelBytes: 16 * MiB, cacheBytes: 96 * MiB, r2TimeoutMs: 10_000, maxPixels: 4_000_000 };
const ENGINES: readonly EngineName[] = ['sparrow-int8', 'sparrow-f32', 'reference'];
const IMAGE_TYPES: Record<string, true> = { 'image/png': true, 'image/jpeg': true, 'image/jpg': true };

function intVar(v: string | undefined, dflt: number): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : dflt;
}

// labels per content hash (a hash names exact bytes: an entry never goes stale); values, not
// promises: no request awaits a promise another request created (workerd cancels such requests)
const LABEL_ENTRIES = 64;
const labelCache = new Map<string, string[] | null>();
function remember(sha: string, labels: string[] | null): string[] | null {
  labelCache.delete(sha);
  labelCache.set(sha, labels);
  while (labelCache.size > LABEL_ENTRIES) labelCache.delete(labelCache.keys().next().value!);
  return labels;
}

export async function handleClassify(req: Request, env: ClassifyEnv, ref: string, cache: ModelCache, k?: string): Promise<Response> {
  const { id, version } = parseRef(ref);
  const ct = (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (!IMAGE_TYPES[ct])
    throw new HttpError('unsupported_media_type', `classify takes an image body (image/png or image/jpeg), not ${ct || 'no content-type'}`);
  let topN = 5;
  if (k !== undefined) {
    topN = Number(k);
    if (!Number.isSafeInteger(topN) || topN < 1)
      throw new HttpError('invalid_request', `k must be a positive integer, got ${JSON.stringify(k)}`);
  }
  const engine = (env.ENGINE === 'sparrow-ref' ? 'reference' : (env.ENGINE ?? 'sparrow-int8')) as EngineName;
  if (!ENGINES.includes(engine)) throw new HttpError('internal', `ENGINE '${engine}' is not one of ${ENGINES.join(', ')}`);
  const maxModelBytes = intVar(env.MAX_MODEL_BYTES, DEFAULTS.maxModelBytes);
  const maxPixels = intVar(env.MAX_IMAGE_PIXELS, DEFAULTS.maxPixels);
  const budget = (cache.limit = intVar(env.MODEL_CACHE_BYTES, DEFAULTS.cacheBytes));
  const bucket = guardBucket(env.MODELS, intVar(env.R2_TIMEOUT_MS, DEFAULTS.r2TimeoutMs));
  const { entry } = await resolve(bucket, id, version);
  const image = await readBody(req, intVar(env.MAX_INFER_BYTES, DEFAULTS.maxBody), 'the image');
  if (image.length === 0) throw new HttpError('invalid_request', 'empty body: POST a PNG or JPEG image');
  checkImageSize(image, maxPixels); // 413 too_large before decoding anything
  const labelsFrom = (bytes: Uint8Array): string[] | null => labelsOf(readContainer(bytes, { maxBytes: maxModelBytes }).header);
  const loader = storedLoader({
    bucket,
    id,
    entry,
    engine,
    maxModelBytes,
    budget,
    onBytes: (bytes) => {
      if (!labelCache.has(entry.sha256)) remember(entry.sha256, labelsFrom(bytes));
    },
  });
  const { top, ms, dims } = await cache.use(modelKey(entry.sha256, engine, entry.maxBatch), loader, async (m) => {
    const s = m.session;
    const input = s.inputNames[0]!;
    const info = s.inputInfo[input]!;
    const out = s.outputNames.length === 1 ? s.outputInfo[s.outputNames[0]!]! : undefined;
    const isImage = s.inputNames.length === 1 && info.dims?.length === 4 && (info.dtype === 'float32' || info.dtype === 'uint8');
    if (!isImage || !out || out.dtype !== 'float32' || out.dims?.length !== 2)
      throw new HttpError(
        'not_a_classifier',
        `model '${id}' is not an image classifier (one NCHW image input and one [N, C] float32 output); use /infer`,
      );
    const pixels = imagePixels(image, info.dims, { maxPixels });
    const feed = info.dtype === 'uint8' ? pixels : preprocessPixels(pixels, s.preprocessing ?? { scale: 1 / 255 });
    const t0 = performance.now();
    const y = (await s.run({ [input]: feed }))[s.outputNames[0]!]!;
    const ms = performance.now() - t0;
    let labels = labelCache.get(entry.sha256);
    if (labels === undefined) {
      const b = await readBlob(bucket, id, entry.sha256);
      labels = b ? remember(entry.sha256, labelsFrom(b)) : null;
    }
    if (labels && labels.length !== y.dims[1])
      throw new HttpError('not_a_classifier', `model '${id}' stores ${labels.length} labels for ${y.dims[1]} classes`);
    return { top: topK(y, topN, labels)[0]!, ms, dims: [feed.dims[2]!, feed.dims[3]!] };
  });
  return new Response(JSON.stringify({ top, ms: Math.round(ms * 1000) / 1000, model: { id, version: entry.version }, engine, dims }), {
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'x-sparrow-engine': engine,
      'x-sparrow-version': String(entry.version),
    },
  });
}

export function registerClassifyRoute(app: Hono<{ Bindings: Env }>, cache: ModelCache): void {
  app.post('/v1/models/:ref/classify', (c) => handleClassify(c.req.raw, c.env, c.req.param('ref'), cache, c.req.query('k')));
  app.all('/v1/models/:ref/classify', (c) => {
    throw new HttpError('method_not_allowed', `${c.req.method} is not allowed here (allowed: POST)`, { allow: 'POST' });
  });
}
