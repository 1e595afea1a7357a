// The WASM gateway's instantiation (src/wasm/gateway.ts): abort messages of debug builds are
// decoded from the module's strings by asString (oracle: the JS strings written in
// AssemblyScript's layout by hand), and instantiating never touches `Response` — in Node that
// first touch loads undici, ~35 ms of a cold load (oracle: Node's own list of the internal
// modules it loaded, in a fresh process running the built dist/ as users do).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { asString } from '../src/wasm/gateway.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A memory holding `s` as an AssemblyScript string at `ptr` (byte length at ptr − 4, UTF-16LE); `len` overrides the header. */
function asMemory(s: string, ptr: number, len = s.length * 2): WebAssembly.Memory {
  const m = new WebAssembly.Memory({ initial: 1 });
  const v = new DataView(m.buffer);
  v.setUint32(ptr - 4, len, true);
  for (let i = 0; i < s.length && ptr + 2 * i + 1 < m.buffer.byteLength; i++) v.setUint16(ptr + 2 * i, s.charCodeAt(i), true);
  return m;
}

describe('asString: the strings of an AssemblyScript module', () => {
  it('decodes ASCII, non-BMP (surrogate pairs) and long strings; empty; cut at the end of memory', () => {
    for (const s of ['', 'index out of range', '~lib/rt/itcms.ts', 'é€𝄞 mixed ✓', 'x'.repeat(9000)])
      expect(asString(asMemory(s, 256), 256)).toBe(s);
    // a length past the end of memory: the string up to the end
    const end = 65536;
    const m = asMemory('abcdef', end - 6, 1 << 20);
    expect(asString(m, end - 6)).toBe('abc');
  });

  it('a pointer outside memory (or not one) is "?", never a throw', () => {
    const m = asMemory('abc', 64);
    for (const p of [0, 2, 65537, 1 << 30, -8, 1.5, Number.NaN]) expect(asString(m, p)).toBe('?');
  });
});

describe('instantiation in Node', () => {
  it('a fresh process loads a session and runs it without loading undici (Response is never touched)', () => {
    expect(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/ missing: run `npm run build`').toBe(true);
    const script = `
      const { Session } = await import(${JSON.stringify(join(ROOT, 'dist', 'index.js'))});
      const { readFileSync } = await import('node:fs');
      const undici = () => process.moduleLoadList.some((m) => m.includes('undici'));
      const before = undici();
      const s = await Session.fromSparrow(new Uint8Array(readFileSync(${JSON.stringify(join(ROOT, 'test', 'fixtures', 'int8', 'resnet20.static7.sparrow'))})), { engine: 'sparrow-int8' });
      const feeds = { [s.inputNames[0]]: { dtype: 'float32', dims: [1, 3, 32, 32], data: new Float32Array(3072).fill(0.5) } };
      const y = (await s.run(feeds))[s.outputNames[0]];
      const after = undici();
      void globalThis.Response; // the check itself: touching Response does load it
      console.log(JSON.stringify({ before, after, touched: undici(), outputs: y.data.length }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ before: false, after: false, touched: true, outputs: 10 });
  });
});
