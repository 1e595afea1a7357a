// Bindings and vars of the Sparrow Worker (wrangler.toml), with the few R2 types the Worker
// uses. Declared here (structurally compatible with @cloudflare/workers-types) so the project
// keeps type-checking with its DOM lib and needs no Workers type package.

export interface R2Range {
  offset?: number;
  length?: number;
  suffix?: number;
}
export interface R2Conditional {
  etagMatches?: string;
  etagDoesNotMatch?: string;
  uploadedBefore?: Date;
  uploadedAfter?: Date;
}
export interface R2HTTPMetadata {
  contentType?: string;
  cacheControl?: string;
}

export interface R2Object {
  readonly key: string;
  readonly version: string;
  readonly size: number;
  readonly etag: string;
  readonly httpEtag: string;
  readonly uploaded: Date;
  readonly customMetadata?: Record<string, string>;
  readonly range?: R2Range;
}
export interface R2ObjectBody extends R2Object {
  readonly body: ReadableStream<Uint8Array>;
  readonly bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>;
  text(): Promise<string>;
}
export interface R2Objects {
  objects: R2Object[];
  truncated: boolean;
  cursor?: string;
  delimitedPrefixes: string[];
}
export interface R2GetOptions {
  onlyIf?: R2Conditional;
  range?: R2Range;
}
export interface R2PutOptions {
  onlyIf?: R2Conditional;
  httpMetadata?: R2HTTPMetadata;
  customMetadata?: Record<string, string>;
  sha256?: ArrayBuffer | string;
}
export interface R2ListOptions {
  limit?: number;
  prefix?: string;
  cursor?: string;
  delimiter?: string;
  include?: Array<'httpMetadata' | 'customMetadata'>;
}
export interface R2Bucket {
  head(key: string): Promise<R2Object | null>;
  get(key: string, options?: R2GetOptions): Promise<R2ObjectBody | R2Object | null>;
  put(key: string, value: ArrayBuffer | ArrayBufferView | string | ReadableStream | null, options?: R2PutOptions): Promise<R2Object | null>;
  delete(keys: string | string[]): Promise<void>;
  list(options?: R2ListOptions): Promise<R2Objects>;
}

export interface Env {
  /** R2 bucket holding the models (see src/worker/store.ts for the key layout) */
  MODELS: R2Bucket;
  /** secret: bearer token for PUT/DELETE; writes are refused when unset */
  ADMIN_TOKEN?: string;
  /** inference engine: 'sparrow-int8' or 'sparrow-f32' */
  ENGINE?: string;
  /** largest accepted model upload, bytes (default 16 MiB) */
  MAX_MODEL_BYTES?: string;
  /** largest accepted inference request body, bytes (default 4 MiB) */
  MAX_INFER_BYTES?: string;
  /**
   * the isolate's memory budget for models, bytes (default 96 MiB): what the cached models hold
   * (their WASM memory limits and JS-side bytes) and the loads in flight never exceed it
   * (src/worker/cache.ts); a model that cannot run within it is refused at PUT (413 too_large)
   */
  MODEL_CACHE_BYTES?: string;
  /** each R2 call (and body read) fails as 503 storage_unavailable after this many ms (default 10000) */
  R2_TIMEOUT_MS?: string;
  /** static assets (the demo page), when configured */
  ASSETS?: { fetch(request: Request): Promise<Response> };
}

export function hasBody(o: R2Object | R2ObjectBody | null): o is R2ObjectBody {
  return o !== null && 'body' in o;
}
