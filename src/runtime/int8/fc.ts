// int8 Gemm / MatMul with a constant 2-D weight (and their fused forms; MatMul's A of any rank ≥ 2,
// its leading dims as rows): dense FC
// (qs8_fc_1x4c8) or sparse FC from the CSR (qs8_spfc_1x1), static or dynamic.
import { SparrowError } from '../../errors.js';
import type { Node } from '../../ir/graph.js';
import { putChannelParams, QUANT_BLOCK_BYTES, writeQuantBlock, type Qs8Out } from '../../kernels/int8.js';
import { qs8FcRef } from '../../kernels/int8_ref.js';
import type { Int8Layer, QWeight } from '../engine_int8.js';
import { align16, layerIo, reader, round3, type Int8Lower } from './lower.js';
import { splitRange } from './parallel.js';
import type { ThreadCall } from '../../wasm/threads.js';

/** qs8_dynfc_f32_finite__wasmsimd: X holds a NaN or ±Inf, nothing written (assembly/int8/gemm.ts). */
const E_NONFINITE = -7;

/** Multiply-adds from which an FC's rows split over the threads of a pool (a job's join costs microseconds). */
const FC_PARALLEL_MACS = 1 << 18;

/** The output stage of channels [n0, n1) of `out` (its per-channel arrays sliced; the rest as is). */
function sliceOut(out: Qs8Out, n0: number, n1: number): Qs8Out {
  const o: Record<string, unknown> = { ...out };
  for (const k of ['bias', 'multiplier', 'shift', 'scale'])
    if (ArrayBuffer.isView(o[k])) o[k] = (o[k] as Int32Array | Float32Array).subarray(n0, n1);
  return o as unknown as Qs8Out;
}

export function lowerFc(n: Node, L: Int8Lower): string | true {
  const io = layerIo(n, L);
  if (typeof io === 'string') return io;
  const { x: a, wName: bName, bName: cName, y } = io;
  const ad = L.dims(a),
    bd = L.dims(bName);
  if (bd.length !== 2) return 'B must be 2-D';
  // MatMul with A of rank ≥ 3 ([..., M', K] × [K, N]): the leading dims flattened into the rows
  // of the 2-D FC (the same bytes: row-major [M, K] in, [M, N] out)
  const isMatMul = n.op === 'MatMul' || n.op === 'FusedMatMul';
  if (ad.length !== 2 && !(isMatMul && ad.length > 2)) return 'A must be 2-D';
  let transB = false,
    beta = 1;
  if (n.op === 'Gemm' || n.op === 'FusedGemm') {
    const r = reader(n);
    if (r.int('transA', 0) !== 0) return 'transA';
    if (r.float('alpha', 1) !== 1) return 'alpha ≠ 1';
    transB = r.int('transB', 0) === 1;
    beta = r.float('beta', 1);
  } else if (cName) {
    // FusedMatMul bias
  }
  const K = ad[ad.length - 1]!;
  const M = ad.slice(0, -1).reduce((a, b) => a * b, 1);
  const w = L.E.weight(L, bName, transB ? 0 : 1);
  if (w.K !== K) return 'inner dimensions differ';
  const N = w.N;
  if (cName && L.dims(cName).length === 2 && L.dims(cName)[0] !== 1) return 'C is not a per-column bias';
  const bias = L.biasOf(cName, N, beta);
  if (typeof bias === 'string') return bias;
  const E = L.E;
  const density = w.nnz / (N * K);
  const sparse = density <= E.sparseFcDensity;
  const post = L.postActivation(n);
  const st = L.outputStage(n, a, y, w, bias);
  const { xin, dynamic, out } = st;
  if (post && out.mode !== 'f32') return 'an activation other than a clamp on an int8 output';
  const WM = L.w,
    ex = L.ex;
  if (dynFcFits(L, M, K, dynamic, out, sparse)) return dynFcStep(n, L, { xin, y, M, K, w, out, post, io: st.io, density });
  const q = L.mem.alloc(QUANT_BLOCK_BYTES);
  writeQuantBlock(WM, out, q);
  const qp = putChannelParams(WM, out, L.alloc);
  const wpl = L.scalar ? undefined : E.placed(w, sparse ? 'csr' : 'raw');
  const workB = ex.qs8_fc_work_bytes(K);
  // a threads build: the rows of X (tokens, samples) in ranges over the pool, each thread with
  // its own workspace (argument 8: thread t adds t·wb); dense only, all M rows in one call. One
  // row with fixed parameters (not dynamic: those are rewritten per run): ranges of columns, 4 at
  // a time, each part with its own channel parameters
  const pool = L.scalar || sparse ? undefined : WM.pool;
  const colsF = !dynamic && M === 1 && N >= 8;
  const T = pool && pool.size > 1 && (M >= 2 || colsF) && M * N * K >= FC_PARALLEL_MACS ? Math.min(pool.size, M >= 2 ? M : N >> 2) : 1;
  const wbF = align16(workB);
  const colParts =
    T > 1 && colsF ? splitRange(N, T, 4).map(([n0, n1]) => ({ n0, n1, qp: putChannelParams(WM, sliceOut(out, n0, n1), L.alloc) })) : [];
  L.layer(
    {
      node: n.name,
      op: n.op,
      kernel: L.scalar ? 'qs8FcRef' : sparse ? 'qs8_spfc_1x1__scalar' : 'qs8_fc_1x4c8__wasmsimd',
      density: round3(density),
      io: st.io,
    },
    wpl,
  );
  L.layerStep(n, xin, y, {
    workBytes: T > 1 ? pool!.size * wbF + pool!.jobBytes(T) : workB,
    zx: out.zx,
    // dynamic: each row (a sample, a token) quantized with its own range
    ...(dynamic ? { dynamic: { ...L.dynamicItems(M, K), sw: w.scales, q, qp } } : {}),
    make: (yp, work) => {
      const dense = L.scalar ? w.dense() : undefined;
      const wt = !wpl ? 0 : (wpl.csr ?? wpl.ptr);
      const yb = out.mode === 'f32' ? 4 : 1;
      const rows = T > 1 && !colParts.length ? splitRange(M, T, 1) : [];
      let calls: ThreadCall[] = [],
        last = -1;
      return (src, zx, dyn, item) => {
        if (T > 1 && item === undefined && typeof wt === 'number') {
          if (src !== last) {
            calls = colParts.length
              ? colParts.map(({ n0, n1, qp: c }) => ({
                  fn: 'qs8_fc_1x4c8__wasmsimd' as const,
                  args: [1, n1 - n0, K, src, wt + n0 * K, q, c, yp + n0 * yb, work],
                }))
              : rows.map(([m0, m1]) => ({
                  fn: 'qs8_fc_1x4c8__wasmsimd' as const,
                  args: [m1 - m0, N, K, src + m0 * K, wt, q, qp, yp + m0 * N * yb, work],
                }));
            last = src;
          }
          pool!.run(calls, work + pool!.size * wbF, { arg: 8, stride: wbF });
          post?.(yp, M * N);
          return;
        }
        // one row (dynamic) or all M
        const m = item === undefined ? M : 1,
          y = yp + (item ?? 0) * N * yb;
        if (dense) {
          const o: Qs8Out = out.mode === 'f32' && dyn ? { ...out, zx, scale: WM.f32(qp, N).slice() } : out;
          const r = qs8FcRef(m, N, K, WM.i8(src, m * K), dense, o);
          if (out.mode !== 'f32') WM.i8(y, m * N).set(r as Int8Array);
          else WM.f32(y, m * N).set(r as Float32Array);
        } else {
          const s =
            typeof wt === 'number'
              ? ex.qs8_fc_1x4c8__wasmsimd(m, N, K, src, wt, q, qp, y, work)
              : ex.qs8_spfc_1x1__scalar(m, N, K, src, wt.rowPtr, wt.col, wt.val, wt.nnz, q, qp, y, work);
          if (s < 0) throw new SparrowError('internal', `int8 FC rejected node '${n.name}' (status ${s})`);
        }
        post?.(y, m * N);
      };
    },
  });
  return true;
}

/** The fused dynamic FC kernel applies: float32 input quantized per row, dense, SIMD, Sparrow's requantization. */
export function dynFcFits(L: Int8Lower, M: number, K: number, dynamic: boolean, out: Qs8Out, sparse: boolean): boolean {
  return dynamic && out.mode === 'f32' && !sparse && !L.scalar && L.E.requant !== 'onnx' && L.dynamicItems(M, K).items === M;
}

/**
 * The step of a dynamic FC on the fused kernel (dynFcFits): per-row quantization, int8 GEMM,
 * float32 output stage in one WASM call (no JS per run): qs8_dynfc_f32__wasmsimd, the arithmetic
 * of the unfused steps (dynamicQuantizer, then qs8_fc_1x4c8 in MODE_F32). X (M, K) float32 at
 * `xin`, W (N, K) as `w` holds it, Y (M, N) at `y`; `post`: an activation after it.
 * Gemm / MatMul, and Conv of a 1x1 kernel over a 1x1 image (a squeeze-excite FC: lowerConv).
 */
export function dynFcStep(
  n: Node,
  L: Int8Lower,
  p: {
    xin: string;
    y: string;
    M: number;
    K: number;
    w: QWeight;
    out: Qs8Out;
    post: ((yp: number, n: number) => void) | undefined;
    io: Int8Layer['io'];
    density: number;
  },
): true {
  const { xin, y, M, K, w, out, post, density } = p;
  if (out.mode !== 'f32') throw new SparrowError('internal', `dynFcStep: node '${n.name}' has a ${out.mode} output`);
  const N = w.N,
    E = L.E,
    WM = L.w,
    ex = L.ex;
  const wpl = E.placed(w, 'raw'); // placed after lowering: its ptr is read at bind time
  const sb = L.alloc(8 * N + 16);
  WM.f32(sb, N).set(w.scales);
  WM.f32(sb + 4 * N, N).set(out.bias);
  const work = ex.qs8_fc_work_bytes(K) + 16;
  const nx = M * K;
  // a threads build: the rows in ranges over the pool (each thread its own workspace, argument
  // 9), when X is finite (checked per run; else the one-thread path below, which handles NaN / ±Inf)
  const pool = WM.pool;
  // M ≥ 2: ranges of rows; M = 1 (a decoder's token): ranges of columns, 4 at a time, each part
  // with its own copy of its columns' scales and biases (the kernel reads sw then bias, N apart)
  // and the row quantized again (K floats: the same values)
  const cols = M === 1 && N >= 8;
  const T = pool && pool.size > 1 && (M >= 2 || cols) && M * N * K >= FC_PARALLEL_MACS ? Math.min(pool.size, M >= 2 ? M : N >> 2) : 1;
  const colParts =
    T > 1 && cols
      ? splitRange(N, T, 4).map(([n0, n1]) => {
          const c = L.alloc(8 * (n1 - n0) + 16);
          WM.f32(c, n1 - n0).set(w.scales.subarray(n0, n1));
          WM.f32(c + 4 * (n1 - n0), n1 - n0).set(out.bias.subarray(n0, n1));
          return { n0, n1, sb: c };
        })
      : [];
  const wbD = align16(work);
  const workA = T > 1 ? pool!.size * wbD + align16(pool!.jobBytes(T)) : (work + 31) & ~15;
  L.layer({ node: n.name, op: n.op, kernel: 'qs8_dynfc_f32__wasmsimd', density: round3(density), io: p.io }, wpl);
  L.step(n, {
    reads: [xin],
    writes: [y],
    // kernel work | 16 B (unused) | a copy of X (rows with NaN or ±Inf only; docs/engine.md "NaN and Inf")
    scratch: workA + 16 + 4 * nx,
    build: (b) => {
      const xp = b.ptr(xin),
        yp = b.ptr(y),
        wk = b.scratch,
        mm = wk + workA,
        cp = mm + 16,
        wp = wpl.ptr;
      const lo = out.lo,
        hi = out.hi;
      const calls: ThreadCall[] =
        T <= 1
          ? []
          : cols
            ? colParts.map(({ n0, n1, sb: c }) => ({
                fn: 'qs8_dynfc_f32__wasmsimd' as const,
                args: [1, n1 - n0, K, xp, wp + n0 * K, c, lo, hi, yp + n0 * 4, wk],
              }))
            : splitRange(M, T, 1).map(([m0, m1]) => ({
                fn: 'qs8_dynfc_f32__wasmsimd' as const,
                args: [m1 - m0, N, K, xp + m0 * K * 4, wp, sb, lo, hi, yp + m0 * N * 4, wk],
              }));
      const job = wk + (T > 1 ? pool!.size * wbD : 0);
      return () => {
        if (T > 1) {
          ex.qs8_minmax_f32__wasmsimd(nx, xp, mm);
          const r = WM.f32(mm, 2);
          if (Number.isFinite(r[0]!) && Number.isFinite(r[1]!) && WM.i32(mm + 8, 1)[0] === 0) {
            pool!.run(calls, job, { arg: 9, stride: wbD });
            post?.(yp, M * N);
            return;
          }
        }
        // the common case in one call: qs8_dynfc_f32_finite__wasmsimd scans X for NaN / ±Inf
        // first and runs the fused kernel when it holds none (no JS check, no view per run);
        // else (E_NONFINITE, nothing written) as the unfused path does: a row's range is that
        // of its finite values (±Inf saturate) and a row holding a NaN gives a NaN output row
        let s = ex.qs8_dynfc_f32_finite__wasmsimd(M, N, K, xp, wp, sb, lo, hi, yp, wk);
        let nanRows: number[] | undefined;
        if (s === E_NONFINITE) {
          const v = WM.f32(xp, nx),
            c = WM.f32(cp, nx);
          nanRows = [];
          for (let i = 0; i < M; i++) {
            let rlo = 0,
              rhi = 0,
              nan = false;
            for (let k = i * K; k < (i + 1) * K; k++) {
              const a = v[k]!;
              if (a < rlo) {
                if (a !== -Infinity) rlo = a;
              } else if (a > rhi) {
                if (a !== Infinity) rhi = a;
              } else if (a !== a) nan = true;
            }
            for (let k = i * K; k < (i + 1) * K; k++) {
              const a = v[k]!;
              c[k] = a !== a ? 0 : a === Infinity ? rhi : a === -Infinity ? rlo : a;
            }
            if (nan) nanRows.push(i);
          }
          s = ex.qs8_dynfc_f32__wasmsimd(M, N, K, cp, wp, sb, lo, hi, yp, wk);
        }
        if (s < 0)
          throw s === -6
            ? new SparrowError(
                'invalid_argument',
                `node '${n.name}': an input row holds ±Infinity; int8 dynamic quantization needs a finite range`,
              )
            : new SparrowError('internal', `int8 FC rejected node '${n.name}' (status ${s})`);
        post?.(yp, M * N);
        if (nanRows) for (const i of nanRows) WM.f32(yp + 4 * i * N, N).fill(NaN);
      };
    },
  });
  return true;
}
