// Where evals and benchmarks find the big shared data (../shared/data, or $SPARROW_DATA).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { SparrowError } from '../errors.js';

export function dataDir(): string {
  return resolve(process.env.SPARROW_DATA ?? resolve(process.cwd(), '../shared/data'));
}

/** Absolute path of a file under the data folder; a clear error when it is absent. */
export function dataFile(rel: string): string {
  const p = resolve(dataDir(), rel);
  if (!existsSync(p)) {
    throw new SparrowError(
      'io_error',
      `shared data file not found: ${p}. Benchmarks and evals read ../shared/data ` +
        `(relative to the project root) or the folder in $SPARROW_DATA.`,
    );
  }
  return p;
}
