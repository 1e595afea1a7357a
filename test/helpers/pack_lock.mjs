// A package-lock.json for a project that depends only on a packed sparrow-edge tarball, with the
// runtime dependency tree copied from the repository's own lockfile (same versions, resolved URLs
// and integrity). With it, `npm ci --offline` installs from the npm cache alone: it needs no
// registry metadata, only the tarballs that the repository's own `npm install` cached.
import { readFileSync } from 'node:fs';

/**
 * @param {string} root the repository (package.json, package-lock.json)
 * @param {string} spec how the consumer names the tarball, e.g. "file:../sparrow-edge-0.1.0.tgz"
 * @param {string} consumer the consumer's package name
 * @returns {{ lock: object, missing: string[] }}
 */
export function consumerLock(root, spec, consumer = 'consumer') {
  const repoLock = JSON.parse(readFileSync(`${root}/package-lock.json`, 'utf8'));
  const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
  const P = repoLock.packages;
  const name = pkg.name;
  const out = {
    '': { name: consumer, version: '1.0.0', dependencies: { [name]: spec } },
    [`node_modules/${name}`]: {
      version: pkg.version,
      resolved: spec,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  const missing = [];
  // node's lookup: <from>/node_modules/<dep>, then each parent folder's node_modules
  const find = (from, dep) => {
    let base = from;
    for (;;) {
      const key = base === '' ? `node_modules/${dep}` : `${base}/node_modules/${dep}`;
      if (P[key]) return key;
      if (base === '') return null;
      const i = base.lastIndexOf('/node_modules/');
      base = i < 0 ? '' : base.slice(0, i);
    }
  };
  const add = (from, dep, optional) => {
    const key = find(from, dep);
    if (!key) {
      if (!optional) missing.push(`${from || '(root)'} -> ${dep}`);
      return;
    }
    if (out[key]) return;
    const { dev: _d, devOptional: _o, peer: _p, ...entry } = P[key];
    out[key] = entry;
    for (const d of Object.keys(entry.dependencies ?? {})) add(key, d, false);
    for (const d of Object.keys(entry.optionalDependencies ?? {})) add(key, d, true);
  };
  for (const d of Object.keys(pkg.dependencies ?? {})) add('', d, false);
  return { lock: { name: consumer, version: '1.0.0', lockfileVersion: 3, requires: true, packages: out }, missing };
}
