// The one op registry: (domain, op type, opset range) → definition (reference kernel + shape
// function). An op the registry cannot resolve fails with its type, its opset and the node
// (ORT-web's resolve rules; tract's register_all_ops). Definitions register themselves from
// src/ops/ref/index.ts.
import { SparrowError } from '../errors.js';
import type { OpDef } from './types.js';

const defs = new Map<string, OpDef[]>();
const key = (domain: string, op: string) => `${domain === 'ai.onnx' ? '' : domain}::${op}`;

export function registerOp(def: OpDef): void {
  const k = key(def.domain, def.op);
  const list = defs.get(k) ?? [];
  for (const d of list) {
    if (def.sinceVersion <= d.untilVersion && d.sinceVersion <= def.untilVersion) {
      throw new SparrowError(
        'internal',
        `op ${def.op}: opset ranges ${d.sinceVersion}-${d.untilVersion} and ${def.sinceVersion}-${def.untilVersion} overlap`,
      );
    }
  }
  list.push(def);
  defs.set(k, list);
}

/** The definition of `op` at `opset`, or SparrowError('unsupported_op') naming op, opset and node. */
export function resolveOp(op: string, domain: string, opset: number, node: string): OpDef {
  const list = defs.get(key(domain, op));
  const d = list?.find((x) => opset >= x.sinceVersion && opset <= x.untilVersion);
  if (d) return d;
  const dom = domain && domain !== 'ai.onnx' ? `${domain}.` : '';
  const have = list?.length ? ` (supported opsets: ${list.map((x) => `${x.sinceVersion}-${x.untilVersion}`).join(', ')})` : '';
  throw new SparrowError('unsupported_op', `unsupported op ${dom}${op} at opset ${opset}, node "${node}"${have}`, {
    op,
    domain,
    opset,
    node,
  });
}

/** The opset ranges an op has definitions for ('7-12', '13-25'), [] when none. */
export function supportedOpsets(op: string, domain: string): string[] {
  return (defs.get(key(domain, op)) ?? []).map((x) => `${x.sinceVersion}-${x.untilVersion}`);
}

export function hasOp(op: string, domain: string, opset: number): boolean {
  return defs.get(key(domain, op))?.some((x) => opset >= x.sinceVersion && opset <= x.untilVersion) ?? false;
}

export function registeredOps(): OpDef[] {
  return [...defs.values()].flat();
}
