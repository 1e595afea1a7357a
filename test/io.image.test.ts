// src/io/image.ts: PNG/JPEG decoding (oracles: the pixels encoded by fast-png's / jpeg-js's
// encoders), the declared-size check before decoding (decompression bombs), and torchvision's
// Resize + CenterCrop (oracle: PIL's resampling formula, Imaging/Resample.c precompute_coeffs,
// worked out by hand for small rows; Python's round() for the crop offsets).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import {
  centerCrop,
  checkImageSize,
  decodeImage,
  imagePixels,
  imageSize,
  imageToNchw,
  resizeBilinear,
  resizeShorter,
  type RgbImage,
} from '../src/io/image.js';
import { isSparrowError } from '../src/errors.js';

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return isSparrowError(e) ? e.code : `not a SparrowError: ${String(e)}`;
  }
  return 'no error';
};

/** An RGB image of width×height whose pixel (x, y) channel c is f(x, y, c). */
function rgbImage(width: number, height: number, f: (x: number, y: number, c: number) => number): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) rgb[(y * width + x) * 3 + c] = f(x, y, c);
  return { width, height, rgb };
}

/** A PNG that declares width×height but holds no image data (a decompression-bomb header). */
function pngHeaderOnly(width: number, height: number): Uint8Array {
  const b = new Uint8Array(33);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  new DataView(b.buffer).setUint32(16, width);
  new DataView(b.buffer).setUint32(20, height);
  b.set([8, 2, 0, 0, 0], 24);
  return b;
}

/** SOI, an APP0 segment, then SOF0 declaring width×height, 3 components; no scan. */
function jpegHeaderOnly(width: number, height: number): Uint8Array {
  return Uint8Array.from([
    0xff,
    0xd8,
    0xff,
    0xe0,
    0,
    4,
    0,
    0,
    0xff,
    0xc0,
    0,
    17,
    8,
    height >> 8,
    height & 255,
    width >> 8,
    width & 255,
    3,
    1,
    0x11,
    0,
    2,
    0x11,
    0,
    3,
    0x11,
    0,
  ]);
}

describe('decodeImage', () => {
  it('PNG: 8-bit RGB, RGBA, gray, gray+alpha and 16-bit RGB give the encoded pixels as RGB', () => {
    const w = 5,
      h = 3;
    const img = rgbImage(w, h, (x, y, c) => (x * 50 + y * 17 + c * 80) & 255);
    expect(decodeImage(encodePng({ width: w, height: h, data: img.rgb, channels: 3, depth: 8 }))).toEqual(img);
    const rgba = new Uint8Array(w * h * 4);
    for (let p = 0; p < w * h; p++) rgba.set([...img.rgb.subarray(3 * p, 3 * p + 3), p * 13], 4 * p);
    expect(decodeImage(encodePng({ width: w, height: h, data: rgba, channels: 4, depth: 8 }))).toEqual(img); // alpha dropped
    const gray = Uint8Array.from({ length: w * h }, (_, i) => i * 16);
    const asRgb = { width: w, height: h, rgb: Uint8Array.from({ length: 3 * w * h }, (_, i) => gray[Math.floor(i / 3)]!) };
    expect(decodeImage(encodePng({ width: w, height: h, data: gray, channels: 1, depth: 8 }))).toEqual(asRgb);
    const ga = new Uint8Array(2 * w * h);
    gray.forEach((g, i) => ga.set([g, 255 - g], 2 * i));
    expect(decodeImage(encodePng({ width: w, height: h, data: ga, channels: 2, depth: 8 }))).toEqual(asRgb);
    const d16 = Uint16Array.from(img.rgb, (v) => v * 257);
    expect(decodeImage(encodePng({ width: w, height: h, data: d16, channels: 3, depth: 16 }))).toEqual(img);
  });

  it('PNG round trip (property): any small RGB image', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer(), (w, h, seed) => {
        const img = rgbImage(w, h, (x, y, c) => (seed * 7 + x * 31 + y * 57 + c * 101 + x * y) & 255);
        expect(decodeImage(encodePng({ width: w, height: h, data: img.rgb, channels: 3, depth: 8 }))).toEqual(img);
      }),
      { numRuns: 30 },
    );
  });

  it('JPEG: a flat colour decodes to that colour (within the codec loss), grayscale too', () => {
    const w = 16,
      h = 8;
    const rgba = new Uint8Array(w * h * 4);
    for (let p = 0; p < w * h; p++) rgba.set([200, 40, 90, 255], 4 * p);
    const j = jpeg.encode({ width: w, height: h, data: rgba }, 100).data;
    const img = decodeImage(new Uint8Array(j));
    expect([img.width, img.height]).toEqual([w, h]);
    for (let p = 0; p < w * h; p++) {
      expect(Math.abs(img.rgb[3 * p]! - 200)).toBeLessThanOrEqual(3);
      expect(Math.abs(img.rgb[3 * p + 1]! - 40)).toBeLessThanOrEqual(3);
      expect(Math.abs(img.rgb[3 * p + 2]! - 90)).toBeLessThanOrEqual(3);
    }
    expect(imageSize(new Uint8Array(j))).toEqual({ kind: 'jpeg', width: w, height: h });
  });

  it('refuses images that declare more pixels than the limit before decoding them (too_large)', () => {
    expect(code(() => decodeImage(pngHeaderOnly(100_000, 100_000)))).toBe('too_large');
    expect(code(() => decodeImage(pngHeaderOnly(20_000, 1)))).toBe('too_large'); // one side over 16384
    expect(code(() => decodeImage(jpegHeaderOnly(60_000, 60_000)))).toBe('too_large');
    expect(imageSize(jpegHeaderOnly(60_000, 50_000))).toEqual({ kind: 'jpeg', width: 60_000, height: 50_000 });
    const small = encodePng({ width: 40, height: 30, data: new Uint8Array(40 * 30 * 3), channels: 3, depth: 8 });
    expect(code(() => checkImageSize(small, 1199))).toBe('too_large');
    expect(checkImageSize(small, 1200)).toEqual({ kind: 'png', width: 40, height: 30 });
  });

  it('refuses what is not a PNG or JPEG, and broken ones, with invalid_argument', () => {
    expect(code(() => decodeImage(new TextEncoder().encode('GIF89a......')))).toBe('invalid_argument');
    expect(code(() => decodeImage(new Uint8Array(0)))).toBe('invalid_argument');
    expect(code(() => decodeImage(pngHeaderOnly(0, 5)))).toBe('invalid_argument');
    expect(code(() => decodeImage(pngHeaderOnly(4, 4)))).toBe('invalid_argument'); // no IDAT
    expect(code(() => decodeImage(jpegHeaderOnly(8, 8)))).toBe('invalid_argument'); // no scan
  });
});

describe('torchvision Resize + CenterCrop', () => {
  const row = (vals: number[]): RgbImage => rgbImage(vals.length, 1, (x) => vals[x]!);
  const red = (img: RgbImage): number[] => Array.from({ length: img.width * img.height }, (_, p) => img.rgb[3 * p]!);

  it("shrinking is PIL's antialiased bilinear: 4 → 2 weights (3, 3, 1)/7 and (1, 3, 3)/7", () => {
    // scale 2: support 2; output 0 centred at 1 reads x = 0..2 with triangle weights .75 .75 .25
    expect(red(resizeBilinear(row([0, 70, 140, 210]), 2, 1))).toEqual([50, 160]);
  });

  it("enlarging is PIL's bilinear: 2 → 4 gives a0, .75a0+.25a1, .25a0+.75a1, a1", () => {
    expect(red(resizeBilinear(row([0, 100]), 4, 1))).toEqual([0, 25, 75, 100]);
  });

  it('a constant image stays constant at any size (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 255 }),
        (w, h, ow, oh, v) => {
          const out = resizeBilinear(
            rgbImage(w, h, () => v),
            ow,
            oh,
          );
          expect([out.width, out.height]).toEqual([ow, oh]);
          expect(out.rgb.every((x) => x === v)).toBe(true);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('Resize(size): the shorter side becomes size, the longer one int(size·long/short); equal size passes through', () => {
    const img = rgbImage(64, 48, (x, y) => x + y);
    const r = resizeShorter(img, 32);
    expect([r.width, r.height]).toEqual([42, 32]); // int(32·64/48) = 42
    expect(resizeShorter(img, 48)).toBe(img);
    const tall = resizeShorter(
      rgbImage(10, 30, () => 1),
      5,
    );
    expect([tall.width, tall.height]).toEqual([5, 15]);
  });

  it("CenterCrop: offsets are Python's round((size − crop) / 2), half to even", () => {
    const img = rgbImage(35, 33, (x, y, c) => (c === 0 ? x : c === 1 ? y : 0));
    const c = centerCrop(img, 32, 32);
    // left = round(1.5) = 2, top = round(0.5) = 0
    expect([c.rgb[0], c.rgb[1]]).toEqual([2, 0]);
    const c2 = centerCrop(
      rgbImage(37, 32, (x) => x),
      32,
      32,
    );
    expect(c2.rgb[0]).toBe(2); // round(2.5) = 2
  });

  it('CenterCrop pads a smaller image with zeros, centred', () => {
    const c = centerCrop(
      rgbImage(2, 2, () => 9),
      4,
      4,
    );
    expect(red(c)).toEqual([0, 0, 0, 0, 0, 9, 9, 0, 0, 9, 9, 0, 0, 0, 0, 0]);
  });

  it("imageToNchw: RGB planes; one channel is PIL's luminance", () => {
    const img = rgbImage(2, 1, (x, _, c) => (x === 0 ? [255, 0, 0][c]! : [10, 20, 30][c]!));
    expect(Array.from(imageToNchw(img, 3).data as Uint8Array)).toEqual([255, 10, 0, 20, 0, 30]);
    // (19595·255 + 32768) >> 16 = 76; (19595·10 + 38470·20 + 7471·30 + 32768) >> 16 = 18
    expect(Array.from(imageToNchw(img, 1).data as Uint8Array)).toEqual([76, 18]);
  });

  it("imagePixels: an image of the model's size passes through unchanged; others are resized and cropped", () => {
    const img = rgbImage(32, 32, (x, y, c) => (x * 8 + y * 3 + c * 50) & 255);
    const png = encodePng({ width: 32, height: 32, data: img.rgb, channels: 3, depth: 8 });
    const t = imagePixels(png, [-1, 3, 32, 32]);
    expect(t.dims).toEqual([1, 3, 32, 32]);
    expect(t.data).toEqual(imageToNchw(img, 3).data);
    const big = rgbImage(64, 80, (x) => x * 4);
    const t2 = imagePixels(encodePng({ width: 64, height: 80, data: big.rgb, channels: 3, depth: 8 }), [1, 3, 32, 32]);
    expect(t2.data).toEqual(imageToNchw(centerCrop(resizeBilinear(big, 32, 40), 32, 32), 3).data);
    expect(code(() => imagePixels(png, [1, 3, -1, -1]))).toBe('invalid_argument');
  });
});
