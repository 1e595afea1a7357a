// Photos → model inputs: PNG/JPEG decoding (pure JS: fast-png, jpeg-js; runs in Node, browsers
// and Workers), torchvision's Resize + CenterCrop, and the NCHW uint8 batch that the model's
// stored preprocessing (src/runtime/sparrow_model.ts preprocessPixels) turns into its input.
//
//   decodeImage(bytes, { maxPixels })        → { width, height, rgb }   (HWC, 3 × uint8 per pixel)
//   imageSize(bytes)                         → the declared { kind, width, height } (no decoding)
//   resizeShorter(img, size)                 torchvision Resize(size): shorter side → size, bilinear
//   centerCrop(img, h, w)                    torchvision CenterCrop((h, w))
//   imageToNchw(img, channels)               [1, C, H, W] uint8 (C = 3: RGB; C = 1: luminance)
//
// The declared dimensions (PNG IHDR, JPEG SOF) are checked against `maxPixels` BEFORE anything is
// decoded: a small file that declares a huge image (a decompression bomb) is refused with
// SparrowError('too_large') without allocating for it.
import { decode as decodePng, convertIndexedToRgb } from 'fast-png';
import jpeg from 'jpeg-js';
import { SparrowError } from '../errors.js';
import type { Tensor } from '../ops/types.js';

export type ImageKind = 'png' | 'jpeg';

/** An 8-bit RGB image, row-major HWC. */
export interface RgbImage {
  width: number;
  height: number;
  /** width·height·3 bytes, R G B per pixel */
  rgb: Uint8Array;
}

/** Default bound on width·height (16.7 MP: 4096×4096). */
export const MAX_IMAGE_PIXELS = 4096 * 4096;
/** Bound on either side. */
export const MAX_IMAGE_SIDE = 16384;

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** 'png' | 'jpeg' by magic bytes, else null. */
export function sniffImage(b: Uint8Array): ImageKind | null {
  if (b.length >= 8 && PNG_MAGIC.every((x, i) => b[i] === x)) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  return null;
}

const bad = (m: string): SparrowError => new SparrowError('invalid_argument', m);

/** The dimensions an image declares (PNG IHDR; JPEG's first SOF marker), without decoding it. */
export function imageSize(b: Uint8Array): { kind: ImageKind; width: number; height: number } {
  const kind = sniffImage(b);
  if (kind === 'png') {
    // signature, then the IHDR chunk: length(4) "IHDR" width(4) height(4)
    if (b.length < 24 || String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!) !== 'IHDR') throw bad('PNG without an IHDR chunk');
    const u32 = (o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
    return { kind, width: u32(16), height: u32(20) };
  }
  if (kind === 'jpeg') {
    let o = 2;
    while (o + 4 <= b.length) {
      if (b[o] !== 0xff) throw bad(`JPEG: no marker at byte ${o}`);
      const m = b[o + 1]!;
      if (m === 0xff) {
        o++; // fill byte
        continue;
      }
      if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
        o += 2; // markers without a length
        continue;
      }
      if (m === 0xd9 || m === 0xda) break; // EOI / start of scan before any SOF
      const len = (b[o + 2]! << 8) | b[o + 3]!;
      if (len < 2) throw bad('JPEG: bad segment length');
      // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC): [len][precision][height][width]...
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        if (o + 9 > b.length) break;
        return { kind, height: (b[o + 5]! << 8) | b[o + 6]!, width: (b[o + 7]! << 8) | b[o + 8]! };
      }
      o += 2 + len;
    }
    throw bad('JPEG without a frame header (SOF)');
  }
  throw bad('not a PNG or JPEG image (unknown magic bytes)');
}

/** Refuses (too_large) an image whose declared size exceeds the bounds, before decoding. */
export function checkImageSize(b: Uint8Array, maxPixels = MAX_IMAGE_PIXELS): { kind: ImageKind; width: number; height: number } {
  const s = imageSize(b);
  if (s.width < 1 || s.height < 1) throw bad(`${s.kind.toUpperCase()} declares an empty image (${s.width}×${s.height})`);
  if (s.width > MAX_IMAGE_SIDE || s.height > MAX_IMAGE_SIDE || s.width * s.height > maxPixels)
    throw new SparrowError(
      'too_large',
      `the ${s.kind.toUpperCase()} declares ${s.width}×${s.height} pixels; the limit is ${maxPixels} pixels (and ${MAX_IMAGE_SIDE} per side)`,
    );
  return s;
}

/** Unpacks 1/2/4-bit samples (rows byte-aligned) to one byte per sample, scaled to 0..255 unless `raw` (palette indices). */
function unpackBits(data: Uint8Array, width: number, height: number, channels: number, depth: number, raw: boolean): Uint8Array {
  const perRow = width * channels;
  const rowBytes = Math.ceil((perRow * depth) / 8);
  const out = new Uint8Array(perRow * height);
  const mask = (1 << depth) - 1;
  const mul = raw ? 1 : 255 / mask;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < perRow; x++) {
      const bit = x * depth;
      const v = (data[y * rowBytes + (bit >> 3)]! >> (8 - depth - (bit & 7))) & mask;
      out[y * perRow + x] = Math.round(v * mul);
    }
  return out;
}

function fromPng(b: Uint8Array): RgbImage {
  let png;
  try {
    png = decodePng(b);
  } catch (e) {
    throw bad(`PNG could not be decoded: ${(e as Error).message}`);
  }
  const { width, height } = png;
  let channels = png.channels;
  let data: Uint8Array;
  if (png.palette) {
    const idx = png.depth < 8 ? unpackBits(png.data as Uint8Array, width, height, 1, png.depth, true) : (png.data as Uint8Array);
    data = convertIndexedToRgb({ ...png, data: idx, depth: 8 }) as Uint8Array;
    channels = data.length / (width * height);
  } else if (png.depth === 16) {
    const d16 = png.data as Uint16Array;
    data = new Uint8Array(d16.length);
    for (let i = 0; i < d16.length; i++) data[i] = d16[i]! >> 8;
  } else if (png.depth < 8) {
    data = unpackBits(png.data as Uint8Array, width, height, channels, png.depth, false);
  } else data = png.data as Uint8Array;
  return toRgb(width, height, channels, data);
}

function fromJpeg(b: Uint8Array, maxPixels: number): RgbImage {
  let img;
  try {
    img = jpeg.decode(b, {
      useTArray: true,
      formatAsRGBA: false,
      maxResolutionInMP: maxPixels / 1e6,
      maxMemoryUsageInMB: Math.max(64, Math.ceil((maxPixels * 12) / 1048576)),
    });
  } catch (e) {
    throw bad(`JPEG could not be decoded: ${(e as Error).message}`);
  }
  return toRgb(img.width, img.height, img.data.length / (img.width * img.height), img.data);
}

/** Gray, gray+alpha, RGB or RGBA samples → RGB (alpha dropped, as PIL's convert('RGB')). */
function toRgb(width: number, height: number, channels: number, data: Uint8Array): RgbImage {
  const n = width * height;
  if (channels === 3) return { width, height, rgb: data.length === 3 * n ? data : data.slice(0, 3 * n) };
  if (![1, 2, 4].includes(channels)) throw bad(`image with ${channels} channels`);
  const rgb = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    if (channels <= 2) {
      const g = data[i * channels]!;
      rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g;
    } else {
      rgb[3 * i] = data[4 * i]!;
      rgb[3 * i + 1] = data[4 * i + 1]!;
      rgb[3 * i + 2] = data[4 * i + 2]!;
    }
  }
  return { width, height, rgb };
}

/** Decodes a PNG or JPEG (sniffed) to RGB; refuses images declaring more than `maxPixels` before decoding. */
export function decodeImage(bytes: Uint8Array, opts: { maxPixels?: number } = {}): RgbImage {
  const maxPixels = opts.maxPixels ?? MAX_IMAGE_PIXELS;
  const { kind, width, height } = checkImageSize(bytes, maxPixels);
  const img = kind === 'png' ? fromPng(bytes) : fromJpeg(bytes, maxPixels);
  if (img.width !== width || img.height !== height)
    throw bad(`${kind.toUpperCase()} declares ${width}×${height} but decodes to ${img.width}×${img.height}`);
  return img;
}

// ---------------------------------------------------------------------------------------------
// torchvision's transforms on PIL images: Resize (PIL bilinear, antialiased when shrinking) and
// CenterCrop

/**
 * PIL's resampling coefficients (Imaging precompute_coeffs) for the bilinear (triangle) filter:
 * when shrinking, the filter support grows with the scale (antialiasing).
 */
function coeffs(inSize: number, outSize: number): { lo: Int32Array; n: Int32Array; w: Float64Array; k: number } {
  const scale = inSize / outSize;
  const fs = Math.max(scale, 1);
  const support = 1 * fs;
  const k = Math.ceil(support) * 2 + 1;
  const lo = new Int32Array(outSize),
    n = new Int32Array(outSize),
    w = new Float64Array(outSize * k);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) / fs);
      const v = t < 1 ? 1 - t : 0;
      w[xx * k + x] = v;
      total += v;
    }
    if (total !== 0) for (let x = 0; x < xmax; x++) w[xx * k + x]! /= total;
    lo[xx] = xmin;
    n[xx] = xmax;
  }
  return { lo, n, w, k };
}

const clip8 = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : Math.floor(v + 0.5));

/** RGB image resized to outW×outH: PIL's two passes (horizontal, then vertical), each rounded to 8 bits. */
export function resizeBilinear(img: RgbImage, outW: number, outH: number): RgbImage {
  if (outW === img.width && outH === img.height) return { width: outW, height: outH, rgb: img.rgb.slice() };
  let src = img.rgb,
    w = img.width;
  const h = img.height;
  if (outW !== w) {
    const c = coeffs(w, outW);
    const dst = new Uint8Array(outW * h * 3);
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < outW; xx++)
        for (let ch = 0; ch < 3; ch++) {
          let s = 0;
          for (let x = 0; x < c.n[xx]!; x++) s += src[(y * w + c.lo[xx]! + x) * 3 + ch]! * c.w[xx * c.k + x]!;
          dst[(y * outW + xx) * 3 + ch] = clip8(s);
        }
    src = dst;
    w = outW;
  }
  if (outH !== h) {
    const c = coeffs(h, outH);
    const dst = new Uint8Array(w * outH * 3);
    for (let yy = 0; yy < outH; yy++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < 3; ch++) {
          let s = 0;
          for (let y = 0; y < c.n[yy]!; y++) s += src[((c.lo[yy]! + y) * w + x) * 3 + ch]! * c.w[yy * c.k + y]!;
          dst[(yy * w + x) * 3 + ch] = clip8(s);
        }
    src = dst;
  }
  return { width: w, height: outH, rgb: src };
}

/** torchvision Resize(size) with an int: the shorter side becomes `size`, the longer keeps the aspect (truncated). */
export function resizeShorter(img: RgbImage, size: number): RgbImage {
  if (!Number.isInteger(size) || size < 1) throw bad(`resize size must be a positive integer, got ${size}`);
  const { width: w, height: h } = img;
  const [outW, outH] = w <= h ? [size, Math.trunc((size * h) / w)] : [Math.trunc((size * w) / h), size];
  if ((w <= h && w === size) || (h <= w && h === size)) return img; // torchvision returns the image as it is
  return resizeBilinear(img, outW, outH);
}

/** Python's round(): half to even. */
const roundHalfEven = (x: number): number => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** torchvision CenterCrop((h, w)); an image smaller than the crop is padded with zeros first (as torchvision does). */
export function centerCrop(img: RgbImage, h: number, w: number): RgbImage {
  let src = img;
  if (img.width < w || img.height < h) {
    const pl = Math.trunc((w - Math.min(w, img.width)) / 2),
      pt = Math.trunc((h - Math.min(h, img.height)) / 2);
    const W = Math.max(w, img.width),
      H = Math.max(h, img.height);
    const rgb = new Uint8Array(W * H * 3);
    for (let y = 0; y < img.height; y++) rgb.set(img.rgb.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y + pt) * W + pl) * 3);
    src = { width: W, height: H, rgb };
  }
  if (src.width === w && src.height === h) return src;
  const top = roundHalfEven((src.height - h) / 2),
    left = roundHalfEven((src.width - w) / 2);
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    rgb.set(src.rgb.subarray(((top + y) * src.width + left) * 3, ((top + y) * src.width + left + w) * 3), y * w * 3);
  return { width: w, height: h, rgb };
}

/** [1, C, H, W] uint8: C = 3 the RGB planes; C = 1 PIL's luminance (L = (19595 R + 38470 G + 7471 B + 2^15) >> 16). */
export function imageToNchw(img: RgbImage, channels: number): Tensor {
  const { width: w, height: h, rgb } = img;
  const hw = w * h;
  if (channels !== 1 && channels !== 3) throw bad(`image inputs have 1 or 3 channels, the model's has ${channels}`);
  const out = new Uint8Array(channels * hw);
  for (let p = 0; p < hw; p++) {
    const r = rgb[3 * p]!,
      g = rgb[3 * p + 1]!,
      b = rgb[3 * p + 2]!;
    if (channels === 1) out[p] = (19595 * r + 38470 * g + 7471 * b + 0x8000) >>> 16;
    else {
      out[p] = r;
      out[hw + p] = g;
      out[2 * hw + p] = b;
    }
  }
  return { dtype: 'uint8', dims: [1, channels, h, w], data: out };
}

/**
 * The [1, C, H, W] uint8 pixels for an NCHW image input of dims `dims` (C, H, W fixed): decoded,
 * Resize(`resize`, default the smaller of H and W) then CenterCrop((H, W)), as torchvision's
 * usual evaluation transform; an image already H×W passes through unchanged.
 */
export function imagePixels(bytes: Uint8Array, dims: readonly number[] | null, opts: { resize?: number; maxPixels?: number } = {}): Tensor {
  if (!dims || dims.length !== 4 || dims.slice(1).some((d) => !(d > 0)))
    throw bad(`--image needs an NCHW input with fixed C, H, W; the model's is [${dims ?? '?'}]`);
  const [, C, H, W] = dims as [number, number, number, number];
  let img = decodeImage(bytes, opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {});
  if (!(img.width === W && img.height === H)) img = centerCrop(resizeShorter(img, opts.resize ?? Math.min(H, W)), H, W);
  return imageToNchw(img, C);
}
