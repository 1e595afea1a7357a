// float32 Gemm and MatMul (and their fused forms) on the packed-B GEMM (assembly/f32/gemm.ts).
import { SparrowError } from '../../errors.js';
import { elementCount } from '../../ops/types.js';
import { broadcastIndex } from '../../ops/ref/util.js';
import type { Node } from '../../ir/graph.js';
import { bcastDesc, remapDesc } from './descriptors.js';
import { actKernel, actOf, dtypeReason, F32_BYTES, reader, type F32Lower, type Lowered, type Lowering } from './lower.js';

const BIAS_NONE = 0,
  BIAS_ROW = 1,
  BIAS_COL = 2;

function lowerGemm(n: Node, L: F32Lower): Lowered | string {
  const why = dtypeReason(n, L, [0, 1, 2]);
  if (why) return why;
  const r = reader(n);
  const alpha = r.float('alpha', 1),
    beta = r.float('beta', 1);
  const transA = r.intIn('transA', 0, [0, 1]) === 1,
    transB = r.intIn('transB', 0, [0, 1]) === 1;
  const [a, bName, cName] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2] ?? ''];
  const y = n.outputs[0]!;
  const ad = L.dims(a),
    bd = L.dims(bName);
  if (ad.length !== 2 || bd.length !== 2) return 'A and B must be 2-D';
  const [M, K] = transA ? [ad[1]!, ad[0]!] : [ad[0]!, ad[1]!];
  const N = transB ? bd[0]! : bd[1]!;
  const ex = L.ex,
    E = L;
  const [act, lo, hi] = actOf(n);
  let scratch = 0;
  // B: packed once when constant, else per run into scratch
  // alpha goes into the packed B when B is constant, else into a constant A, else the product is scaled after
  const Bc = L.constOf(bName);
  const Ac = L.constOf(a);
  const alphaA = !Bc && Ac ? alpha : 1;
  const postScale = !Bc && !Ac && alpha !== 1;
  let bPacked = 0,
    bScratchOff = -1;
  if (Bc) bPacked = E.packedB(Bc, 0, K, N, transB, alpha);
  else {
    bScratchOff = scratch;
    scratch += ex.f32_packed_b_size(K, N) * F32_BYTES + 16;
  }
  // A: transposed (and scaled) once when constant, else transposed per run into scratch
  let aConstPtr = 0,
    aScratchOff = -1,
    aTransDesc = 0;
  if (Ac && (transA || alphaA !== 1)) {
    const src = Ac.data as Float32Array,
      t = new Float32Array(M * K);
    for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) t[i * K + k] = alphaA * src[transA ? k * M + i : i * K + k]!;
    aConstPtr = E.putF32(t);
  }
  if (transA) {
    if (Ac) {
      // done above
    } else {
      const d = remapDesc(L, [
        { n: M, dst: K, src: 1, off: 0 },
        { n: K, dst: 1, src: M, off: 0 },
      ]);
      if (typeof d !== 'number') return 'cannot transpose A';
      aTransDesc = d;
      aScratchOff = scratch;
      scratch += M * K * F32_BYTES + 16;
    }
  }
  // C: per-column / per-row bias, or added after the product
  let biasPtr = 0,
    biasMode = BIAS_NONE;
  let post: { desc: number; c: string | number } | undefined;
  let betaC: { desc: number; beta: number; off: number } | undefined;
  const C = L.constOf(cName);
  if (cName && beta !== 0) {
    const cd = L.dims(cName);
    const rank2 = [...new Array(Math.max(0, 2 - cd.length)).fill(1), ...cd];
    if (cd.length > 2) return 'C has rank > 2';
    if (C && rank2[0] === 1) {
      const src = C.data as Float32Array;
      biasPtr = E.putF32(Float32Array.from({ length: N }, (_, j) => beta * src[rank2[1] === 1 ? 0 : j]!));
      biasMode = BIAS_COL;
    } else if (C && rank2[1] === 1 && rank2[0] === M) {
      const src = C.data as Float32Array;
      biasPtr = E.putF32(Float32Array.from({ length: M }, (_, i) => beta * src[i]!));
      biasMode = BIAS_ROW;
    } else {
      const desc = bcastDesc([M, N], [M, N], cd);
      if (!desc) return 'cannot broadcast C';
      if (C) post = { desc: E.putI32(desc), c: E.putF32((C.data as Float32Array).map((v) => v * beta)) };
      else if (beta === 1) post = { desc: E.putI32(desc), c: cName };
      else {
        // beta·C into scratch ([M, N], broadcast), then added like a full C
        betaC = { desc: E.putI32(bcastDesc([M, N], cd, [])!), beta: E.putF32(Float32Array.of(beta)), off: scratch };
        scratch += M * N * F32_BYTES + 16;
        post = { desc: E.putI32(bcastDesc([M, N], [M, N], [M, N])!), c: cName };
      }
    }
  }
  // alpha after the product: y·alpha, then the bias as an add
  let scaleDesc = 0,
    alphaPtr = 0;
  if (postScale) {
    scaleDesc = E.putI32(bcastDesc([M * N], [M * N], [])!);
    alphaPtr = E.putF32(Float32Array.of(alpha));
    if (biasMode !== BIAS_NONE) {
      if (post) throw new SparrowError('internal', 'gemm: both a bias and a post-add');
      post = { desc: E.putI32(bcastDesc([M, N], [M, N], biasMode === BIAS_COL ? [N] : [M, 1])!), c: biasPtr };
      biasMode = BIAS_NONE;
      biasPtr = 0;
    }
  }
  const postOps = !!post || postScale;
  const biasP = biasPtr,
    biasM = biasMode;
  return {
    kind: 'kernel',
    scratch,
    build: (b) => {
      const yp = b.ptr(y);
      const bp = Bc ? bPacked : b.scratch + bScratchOff;
      const bRaw = Bc ? 0 : b.ptr(bName);
      const aRaw = aConstPtr || b.ptr(a);
      const ap = transA && !Ac ? b.scratch + aScratchOff : aRaw;
      const cFed = post && typeof post.c === 'string' ? b.ptr(post.c) : 0;
      const betaOut = betaC ? b.scratch + betaC.off : 0;
      const postC = post ? (typeof post.c === 'number' ? post.c : betaC ? betaOut : cFed) : 0;
      const postDesc = post?.desc ?? 0;
      const gemmAct = postOps ? 0 : act;
      const postAct = postOps && act ? actKernel(ex, act, lo, hi) : undefined;
      return () => {
        if (!Bc) ex.f32_pack_b(K, N, bRaw, transB ? K : N, transB ? 1 : 0, bp);
        if (transA && !Ac) ex.f32_remap__wasm(aTransDesc, aRaw, ap, 0);
        ex.f32_gemm__wasmsimd(M, N, K, ap, K, bp, yp, N, biasP, biasM, gemmAct, lo, hi);
        if (postOps) {
          if (postScale) ex.f32_mul_bcast__wasmsimd(scaleDesc, yp, alphaPtr, yp);
          if (betaC) ex.f32_mul_bcast__wasmsimd(betaC.desc, cFed, betaC.beta, betaOut);
          if (postDesc) ex.f32_add_bcast__wasmsimd(postDesc, yp, postC, yp);
          if (postAct) postAct(yp, M * N);
        }
      };
    },
  };
}

function lowerMatMul(n: Node, L: F32Lower): Lowered | string {
  const why = dtypeReason(n, L, [0, 1, 2]);
  if (why) return why;
  const [a, bName, biasName] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2] ?? ''];
  const y = n.outputs[0]!;
  const ad = L.dims(a),
    bd = L.dims(bName);
  if (ad.length === 0 || bd.length === 0) return 'scalar operand';
  const a2 = ad.length === 1 ? [1, ad[0]!] : ad,
    b2 = bd.length === 1 ? [bd[0]!, 1] : bd;
  const M = a2[a2.length - 2]!,
    K = a2[a2.length - 1]!,
    N = b2[b2.length - 1]!;
  if (b2[b2.length - 2] !== K) return 'inner dimensions differ';
  const aBatch = a2.slice(0, -2),
    bBatch = b2.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const pad = (d: number[]) => [...new Array(rank - d.length).fill(1), ...d];
  const batch = pad(aBatch).map((x, i) => Math.max(x, pad(bBatch)[i]!));
  const nb = elementCount(batch);
  const ia = broadcastIndex(aBatch, batch),
    ib = broadcastIndex(bBatch, batch);
  const ex = L.ex,
    E = L;
  const [act, lo, hi] = actOf(n);
  let biasPtr = 0,
    biasMode = BIAS_NONE;
  if (biasName) {
    const bc = L.constOf(biasName);
    if (!bc || bc.data.length !== N) return 'bias is not a constant of N values';
    biasPtr = E.constPtr(bc);
    biasMode = BIAS_COL;
  }
  const Bc = L.constOf(bName);
  const nbB = elementCount(bBatch);
  let scratch = 0;
  let packed: number[] = [];
  if (Bc) packed = Array.from({ length: nbB }, (_, i) => E.packedB(Bc, i, K, N, false, 1));
  else scratch = ex.f32_packed_b_size(K, N) * F32_BYTES + 16;
  const MK = M * K * F32_BYTES,
    KN = K * N * F32_BYTES,
    MN = M * N * F32_BYTES;
  // one GEMM over all rows of A when B is one constant matrix
  const single = Bc && nbB === 1 && elementCount(aBatch) === nb;
  return {
    kind: 'kernel',
    scratch,
    build: (b) => {
      const ap = b.ptr(a),
        yp = b.ptr(y),
        bRaw = Bc ? 0 : b.ptr(bName),
        s = b.scratch;
      if (single) {
        const rows = nb * M,
          bp = packed[0]!;
        return () => ex.f32_gemm__wasmsimd(rows, N, K, ap, K, bp, yp, N, biasPtr, biasMode, act, lo, hi);
      }
      const aOffs = Array.from({ length: nb }, (_, t) => ap + (ia ? ia[t]! : t) * MK);
      const bIdx = Array.from({ length: nb }, (_, t) => (ib ? ib[t]! : t));
      return () => {
        let packedIdx = -1;
        for (let t = 0; t < nb; t++) {
          let bp: number;
          if (Bc) bp = packed[bIdx[t]!]!;
          else {
            if (bIdx[t] !== packedIdx) {
              ex.f32_pack_b(K, N, bRaw + bIdx[t]! * KN, N, 0, s);
              packedIdx = bIdx[t]!;
            }
            bp = s;
          }
          ex.f32_gemm__wasmsimd(M, N, K, aOffs[t]!, K, bp, yp + t * MN, N, biasPtr, biasMode, act, lo, hi);
        }
      };
    },
  };
}

export const GEMM: Record<string, Lowering> = { Gemm: lowerGemm, FusedGemm: lowerGemm, MatMul: lowerMatMul, FusedMatMul: lowerMatMul };
