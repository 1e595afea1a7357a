import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { parseNpy, writeNpy, type NpyDtype, type NpyTypedArray } from '../src/io/npy.js';
import { SparrowError } from '../src/errors.js';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

function expectInvalid(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a SparrowError').toBeInstanceOf(SparrowError);
  expect((thrown as SparrowError).code).toBe('invalid_argument');
}

// Bytes written by NumPy 2.4.6 `np.save` (format 1.0), base64. Regenerate with e.g.
//   python3 -c "import numpy as np,io,base64;b=io.BytesIO();np.save(b,np.array(3.5,dtype='<f4'));print(base64.b64encode(b.getvalue()).decode())"
const NUMPY_FILES: Record<string, { b64: string; data: NpyTypedArray; shape: number[]; dtype?: NpyDtype }> = {
  // np.array([0, -0, 1, 65504, -inf, 2**-24, 0.33325195, -2], dtype='<f2').reshape(2, 4): float16 bits
  f2_2x4: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDQpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAACAADz/ewD8AQBVNQDA',
    data: Uint16Array.of(0, 32768, 15360, 31743, 64512, 1, 13653, 49152),
    shape: [2, 4],
    dtype: 'float16',
  },
  i2_4: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGkyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAgP//AAD/fw==',
    data: Int16Array.of(-32768, -1, 0, 32767),
    shape: [4],
  },
  u2_3: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPHUyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAEA//8=',
    data: Uint16Array.of(0, 1, 65535),
    shape: [3],
  },
  u4_3: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPHU0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAA/////wAAAIA=',
    data: Uint32Array.of(0, 4294967295, 2147483648),
    shape: [3],
  },
  u8_3: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPHU4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAP//////////AQAAAAAAIAA=',
    data: BigUint64Array.of(0n, 2n ** 64n - 1n, 2n ** 53n + 1n),
    shape: [3],
  },
  f4_2x3: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMC/AAAAAAAAgD5Z2QAzyvJJcQAA4MA=',
    data: Float32Array.of(-1.5, 0.0, 0.25, 3.0e-8, 1.0e30, -7.0),
    shape: [2, 3],
  },
  f8_3: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIApVVVVVVVXVPwAAAAAAAATAnHUAiDzkN34=',
    data: Float64Array.of(1 / 3, -2.5, 1e300),
    shape: [3],
  },
  i8_4: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr//////////wAAAAAAAQAAAAAAAAAAAID/////////fw==',
    data: BigInt64Array.of(-1n, 2n ** 40n, -(2n ** 63n), 2n ** 63n - 1n),
    shape: [4],
  },
  i4_2x2: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAACABwAAAAAAAAD///9/',
    data: Int32Array.of(-2147483648, 7, 0, 2147483647),
    shape: [2, 2],
  },
  i1_4: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfGkxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDQsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqA/wB/',
    data: Int8Array.of(-128, -1, 0, 127),
    shape: [4],
  },
  u1_1x1x2x2: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEsIDEsIDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAf7/',
    data: Uint8Array.of(0, 1, 254, 255),
    shape: [1, 1, 2, 2],
  },
  f4_scalar: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAGBA',
    data: Float32Array.of(3.5),
    shape: [],
  },
  i8_empty: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDAsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo=',
    data: new BigInt64Array(0),
    shape: [0],
  },
  f4_12345x0: {
    b64: 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDEyMzQ1LCAwKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo=',
    data: new Float32Array(0),
    shape: [12345, 0],
  },
};
// Same array [1, 2, 3] int32 written with np.lib.format.write_array(..., version=(2, 0)) / (3, 0).
const NUMPY_V2 =
  'k05VTVBZAgB0AAAAeydkZXNjcic6ICc8aTQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAAAgAAAAMAAAA=';
const NUMPY_V3 =
  'k05VTVBZAwB0AAAAeydkZXNjcic6ICc8aTQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAAAAgAAAAMAAAA=';
// np.save(np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3))) and np.save(np.array([1, 2], dtype='>f4')).
const NUMPY_FORTRAN =
  'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAABAQAAAgD8AAIBAAAAAQAAAoEA=';
const NUMPY_BIG_ENDIAN =
  'k05VTVBZAQB2AHsnZGVzY3InOiAnPmY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAo/gAAAQAAAAA==';

/** A hand-built .npy file (format 1.0) with an arbitrary header text and payload. */
function npyWithHeader(header: string, payload: Uint8Array = new Uint8Array(0), major = 1): Uint8Array {
  const h = ascii(header);
  const pre = major === 1 ? 10 : 12;
  const out = new Uint8Array(pre + h.length + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0], 0);
  new DataView(out.buffer).setUint16(8, h.length, true);
  if (major !== 1) new DataView(out.buffer).setUint32(8, h.length, true);
  out.set(h, pre);
  out.set(payload, pre + h.length);
  return out;
}

describe('writeNpy / parseNpy round trip', () => {
  const cases: Array<[string, NpyTypedArray, number[]]> = [
    ['float32 2x3', Float32Array.of(1, -2.5, 3e-40, -0, Infinity, NaN), [2, 3]],
    ['float64 3', Float64Array.of(Math.PI, -1e-310, 1e308), [3]],
    ['int64 4', BigInt64Array.of(0n, -1n, 2n ** 63n - 1n, -(2n ** 63n)), [4]],
    ['int32 2x1x2', Int32Array.of(1, -2, 2147483647, -2147483648), [2, 1, 2]],
    ['int8 5', Int8Array.of(-128, -1, 0, 1, 127), [5]],
    ['uint64 3', BigUint64Array.of(0n, 2n ** 64n - 1n, 2n ** 53n + 1n), [3]],
    ['uint32 2', Uint32Array.of(4294967295, 7), [2]],
    ['int16 2', Int16Array.of(-32768, 32767), [2]],
    ['uint16 2', Uint16Array.of(65535, 0), [2]],
    ['uint8 1x1x28x28', Uint8Array.from({ length: 784 }, (_, i) => i % 256), [1, 1, 28, 28]],
    ['scalar ()', Float32Array.of(42), []],
    ['0-size (0,)', new Float32Array(0), [0]],
    ['0-size (3, 0, 2)', new Int8Array(0), [3, 0, 2]],
    ['long first dim', new Uint8Array(100000), [100000]],
  ];
  for (const [label, data, shape] of cases) {
    it(label, () => {
      const bytes = writeNpy(data, shape);
      const headerLen = bytes[8]! | (bytes[9]! << 8);
      expect(bytes[6]).toBe(1);
      expect((10 + headerLen) % 64).toBe(0);
      expect(bytes[10 + headerLen - 1]).toBe(0x0a); // header ends with '\n'
      const back = parseNpy(bytes);
      expect(back.shape).toEqual(shape);
      expect(back.data.constructor).toBe(data.constructor);
      expect(back.data.byteOffset % 8).toBe(0);
      // Byte comparison keeps NaN and -0 exact.
      expect(
        Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength).equals(
          Buffer.from(data.buffer, data.byteOffset, data.byteLength),
        ),
      ).toBe(true);
    });
  }

  it('writes from a typed-array view with an odd byteOffset', () => {
    const buf = new Uint8Array(1 + 4 * 3);
    const view = new Uint8Array(buf.buffer, 1, 12);
    view.set([0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64]); // 1, 2, 3 as f32
    const f = new Float32Array(view.slice().buffer);
    expect(Array.from(parseNpy(writeNpy(f, [3])).data as Float32Array)).toEqual([1, 2, 3]);
  });

  it('parses from a Uint8Array at an unaligned byteOffset', () => {
    const file = writeNpy(Float64Array.of(1.5, -2), [2]);
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    const back = parseNpy(shifted.subarray(3));
    expect(back.data).toBeInstanceOf(Float64Array);
    expect(Array.from(back.data as Float64Array)).toEqual([1.5, -2]);
  });

  it('float16 bits: a Uint16Array written as float16 is <f2 and reads back as float16, else <u2', () => {
    const bits = Uint16Array.of(0x3c00, 0x7e00, 0x8001);
    const f = parseNpy(writeNpy(bits, [3], 'float16'));
    expect(f.dtype).toBe('float16');
    expect(Array.from(f.data as Uint16Array)).toEqual([0x3c00, 0x7e00, 0x8001]);
    expect(parseNpy(writeNpy(bits, [3])).dtype).toBe('uint16');
    expect(() => writeNpy(bits, [3], 'int16')).toThrowError(/does not match a Uint16Array/);
    expect(() => writeNpy(Float32Array.of(1), [1], 'float16')).toThrowError(/does not match/);
  });

  it('rejects bad writer arguments', () => {
    expectInvalid(() => writeNpy(new Float32Array(5), [2, 3]));
    expectInvalid(() => writeNpy(new Float32Array(0), [-1]));
    expectInvalid(() => writeNpy(new Float32Array(2), [2.5]));
    expectInvalid(() => writeNpy(new Float64Array(2) as unknown as Uint8Array, [2], 'int8'));
    expectInvalid(() => writeNpy(new Uint8ClampedArray(2) as unknown as Uint8Array, [2]));
  });
});

describe('byte-exact against NumPy', () => {
  for (const [label, c] of Object.entries(NUMPY_FILES)) {
    it(`writeNpy reproduces np.save bytes: ${label}`, () => {
      expect(writeNpy(c.data, c.shape, c.dtype)).toEqual(b64(c.b64));
    });
    it(`parseNpy reads np.save bytes: ${label}`, () => {
      const r = parseNpy(b64(c.b64));
      expect(r.shape).toEqual(c.shape);
      expect(r.data).toEqual(c.data);
      if (c.dtype) expect(r.dtype).toBe(c.dtype);
    });
  }

  it('reads format 2.0 and 3.0 files', () => {
    for (const f of [NUMPY_V2, NUMPY_V3]) {
      const r = parseNpy(b64(f));
      expect(r.dtype).toBe('int32');
      expect(r.shape).toEqual([3]);
      expect(Array.from(r.data as Int32Array)).toEqual([1, 2, 3]);
    }
  });

  it('rejects fortran_order True with a clear message', () => {
    expect(() => parseNpy(b64(NUMPY_FORTRAN))).toThrowError(/fortran_order is True/);
    expectInvalid(() => parseNpy(b64(NUMPY_FORTRAN)));
  });

  it('rejects big-endian data', () => {
    expect(() => parseNpy(b64(NUMPY_BIG_ENDIAN))).toThrowError(/unsupported dtype descr '>f4'/);
  });

  // Live cross-check when this machine has NumPy: same bytes both ways, on random shapes.
  const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!hasNumpy)('live: parseNpy reads np.save output and writeNpy reproduces it byte for byte', () => {
    const specs: Array<{ dtype: string; shape: number[] }> = [
      { dtype: '<f4', shape: [7, 1, 3] },
      { dtype: '<f8', shape: [5] },
      { dtype: '<i8', shape: [2, 2] },
      { dtype: '<i4', shape: [1234567, 0] },
      { dtype: 'i1', shape: [300] },
      { dtype: 'u1', shape: [3, 4, 5, 2] },
      { dtype: '<f4', shape: [] },
      { dtype: '<i8', shape: [0] },
      { dtype: 'u1', shape: [70000] },
      { dtype: '<f2', shape: [3, 5] },
      { dtype: '<i2', shape: [9] },
      { dtype: '<u2', shape: [2, 2] },
      { dtype: '<u4', shape: [6] },
      { dtype: '<u8', shape: [4, 1] },
    ];
    const script = `
import sys, json, io, base64, numpy as np
out = []
for i, s in enumerate(json.loads(sys.stdin.read())):
    n = int(np.prod(s['shape'])) if s['shape'] else 1
    a = ((np.arange(n) * 7919 + i) % 251 - 100).astype(s['dtype']).reshape(s['shape'])
    b = io.BytesIO(); np.save(b, a)
    out.append(base64.b64encode(b.getvalue()).decode())
print(json.dumps(out))`;
    const r = spawnSync('python3', ['-c', script], { input: JSON.stringify(specs), encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as string[]).map(b64);
    files.forEach((file, i) => {
      const parsed = parseNpy(file);
      expect(parsed.shape).toEqual(specs[i]!.shape);
      expect(Buffer.from(writeNpy(parsed.data, parsed.shape, parsed.dtype)).equals(Buffer.from(file)), `spec ${i}`).toBe(true);
    });
  });
});

describe('hostile inputs -> SparrowError invalid_argument', () => {
  const good = writeNpy(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3]);

  it('every truncation of a valid file', () => {
    for (let n = 0; n < good.length; n++) expectInvalid(() => parseNpy(good.subarray(0, n)));
  });

  it('trailing bytes after the data', () => {
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expectInvalid(() => parseNpy(longer));
  });

  it('bad magic and unknown versions', () => {
    for (const i of [0, 1, 5]) {
      const bad = good.slice();
      bad[i] ^= 0xff;
      expectInvalid(() => parseNpy(bad));
    }
    for (const [major, minor] of [
      [0, 0],
      [4, 0],
      [1, 1],
    ] as const) {
      const bad = good.slice();
      bad[6] = major;
      bad[7] = minor;
      expectInvalid(() => parseNpy(bad));
    }
  });

  it('header length past the end of the file (u16 and u32 forms)', () => {
    const bad = good.slice();
    bad[8] = 0xff;
    bad[9] = 0xff;
    expectInvalid(() => parseNpy(bad));
    const v2 = b64(NUMPY_V2);
    v2[11] = 0xff; // header_len ~ 4 GiB
    expectInvalid(() => parseNpy(v2));
  });

  it('huge, negative, non-integer and overflowing shapes', () => {
    const h = (shape: string) => `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }\n`;
    for (const shape of [
      '(1000000000, 1000000000, 1000000000)',
      '(9007199254740993,)',
      '(99999999999999999999999999,)',
      '(-1,)',
      '(2.5,)',
      '(True,)',
      "('3',)",
      '[2, 3]',
      '((2,),)',
      '2',
      '(1, 1, 1, 1, 7)',
    ]) {
      expectInvalid(() => parseNpy(npyWithHeader(h(shape), new Uint8Array(24))));
    }
    // a 0-size shape with one enormous dimension is fine (no data) as NumPy accepts it
    expect(parseNpy(npyWithHeader(h('(0, 9007199254740991)'))).shape).toEqual([0, 9007199254740991]);
  });

  it('wrong or unsupported descr', () => {
    const h = (descr: string) => `{'descr': ${descr}, 'fortran_order': False, 'shape': (2,), }\n`;
    for (const d of ["'>f2'", "'>i8'", "'>u8'", "'<c8'", "'|b1'", "'<U3'", "'f4'", "[('a', '<f4')]", '42', "''"]) {
      expectInvalid(() => parseNpy(npyWithHeader(h(d), new Uint8Array(16))));
    }
  });

  it('malformed header dicts', () => {
    const payload = new Uint8Array(8);
    for (const header of [
      '',
      '\n',
      '{',
      '}',
      '{}',
      "{'descr': '<f4'}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
      "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk",
      "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '<\\x66\\x34', 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,}",
      "{'descr': '<f4', 'fortran_order': Fals, 'shape': (2,)}",
      "{descr: '<f4', 'fortran_order': False, 'shape': (2,)}",
      '('.repeat(5000) + ')'.repeat(5000),
      "{'descr': '<f4', 'fortran_order': False, 'shape': " + '('.repeat(100) + ')'.repeat(100) + '}',
    ]) {
      expectInvalid(() => parseNpy(npyWithHeader(header, payload)));
    }
  });

  it('accepts header variants NumPy can produce or older versions wrote', () => {
    const payload = new Uint8Array(new Float32Array([1, 2]).buffer);
    for (const header of [
      '{"descr": "<f4", "fortran_order": False, "shape": (2,)}\n',
      "{'descr':'<f4','fortran_order':False,'shape':(2L,)}    \n", // Python 2 longs
      "{'fortran_order': False, 'shape': (2, ), 'descr': '<f4', }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}\t\r\n",
    ]) {
      const r = parseNpy(npyWithHeader(header, payload));
      expect(r.shape.reduce((a, b) => a * b, 1)).toBe(2);
      expect(Array.from(r.data as Float32Array)).toEqual([1, 2]);
    }
  });

  it('invalid UTF-8 in a 3.0 header', () => {
    const bytes = npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (0,)}\n", new Uint8Array(0), 3);
    bytes[14] = 0xff; // inside 'descr'
    expectInvalid(() => parseNpy(bytes));
  });

  it('random byte corruption never escapes as a non-SparrowError', () => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 3000; trial++) {
      const bad = good.slice();
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) bad[Math.floor(rnd() * bad.length)] = Math.floor(rnd() * 256);
      try {
        parseNpy(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(SparrowError);
        expect((e as SparrowError).code).toBe('invalid_argument');
      }
    }
  });

  it('non-Uint8Array input', () => {
    expectInvalid(() => parseNpy('hello' as unknown as Uint8Array));
    expectInvalid(() => parseNpy(new Uint8Array(0)));
  });
});
