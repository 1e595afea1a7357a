// Waiting without awaiting another request's promise. workerd cancels the continuations of a
// request whose awaited promise came from a request that ended or was cancelled, and reports a
// request that waits on nothing of its own as hung ("The Workers runtime canceled this request
// because it detected that your Worker's code had hung"; seen under the soak). So whoever waits
// for shared state (the cache's load slot, a model's run, room in the budget, a write lock on an
// id) polls it on its own timers.
import { HttpError } from './errors.js';

/** How long a request waits for the load slot, a model's run or room before answering 503 `busy`. */
export const WAIT_LIMIT_MS = 30_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits on this request's own timers (1, 2, 4 … 16 ms apart) until `ready()`; 503 `busy` after WAIT_LIMIT_MS. */
export async function until(ready: () => boolean, what: string): Promise<void> {
  if (ready()) return;
  const t0 = Date.now();
  for (let d = 1; !ready(); d = Math.min(d * 2, 16)) {
    if (Date.now() - t0 > WAIT_LIMIT_MS) {
      throw new HttpError('busy', `the isolate is busy (${what} for more than ${WAIT_LIMIT_MS / 1000} s); retry`, { 'retry-after': '2' });
    }
    await sleep(d);
  }
}
